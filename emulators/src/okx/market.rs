//! The OKX v5 SWAP side of the synthetic market, as the venue publishes it
//! (`../shared/VENUES.md` §2.3, §2.7): one [`InstrumentModel`] per instrument, `books`
//! updates gathered over 100 ms windows of market time with `seqId`/`prevSeqId`, a
//! heartbeat (`seqId == prevSeqId`, no levels) after 60 s without a change, `bbo-tbt`
//! on every change of the top, and a `trades` push per model trade. Sizes on the wire
//! are contracts: base quantity ÷ contract value.
//!
//! This module is pure: the same seed and start give the same events.

use crate::book::{BookImage, Window};
use crate::model::{Change, InstrumentModel, Seat};
use crate::text::decimals_of;
use propbot_engine::Config;
use propbot_engine::book::TopOfBook;
use propbot_engine::model::{InstrumentId, Price, Qty, Scales, Side, Venue, pow10};
use propbot_engine::time::UnixNanos;
use propbot_market::synth::MarketParams;

/// Interval of `books` updates, market time.
pub const UPDATE_INTERVAL_MS: u64 = 100;

/// Market time without a change after which `books` sends a heartbeat.
pub const HEARTBEAT_AFTER_MS: u64 = 60_000;

/// `seqId`s start above this.
pub const SEQ_ID_BASE: u64 = 20_000_000_000;

/// Trade ids start above this.
pub const TRADE_ID_BASE: u64 = 400_000_000;

/// An instrument as the emulator lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentSpecOkx {
    /// The engine's instrument.
    pub instrument: InstrumentId,
    /// `BTC-USDT-SWAP`.
    pub inst_id: String,
    /// `BTC-USDT` (`uly`, `instFamily`).
    pub family: String,
    /// `BTC` (`ctValCcy`).
    pub base_ccy: String,
    /// `USDT` (`settleCcy`).
    pub settle_ccy: String,
    /// Fixed-point scales of the instrument.
    pub scales: Scales,
    /// `tickSz`.
    pub tick: Price,
    /// Size step in base units (`lotSz × ctVal`).
    pub lot: Qty,
    /// Smallest size in base units (`minSz × ctVal`).
    pub min_qty: Qty,
    /// Base units per contract (`ctVal`; `ctMult` is 1).
    pub contract_value: Qty,
    /// Decimals of contract counts (those of `lotSz`).
    pub contract_decimals: u8,
    /// `live`, `suspend`, `preopen`.
    pub state: String,
}

impl InstrumentSpecOkx {
    /// The spec of `instrument`'s OKX listing in `config`, if it has one with a contract
    /// value whose lot is a whole number of hundred-millionths of a contract.
    pub fn from_config(config: &Config, instrument: InstrumentId) -> Option<InstrumentSpecOkx> {
        let listing = config.listing(Venue::Okx, instrument)?;
        let scales = config.instruments.get(instrument.index())?.scales;
        let contract_value = listing.contract_value.filter(|v| v.is_positive())?;
        let contract_decimals = (0..=8u8).find(|&d| {
            (i128::from(listing.lot.raw()) * i128::from(pow10(d)))
                % i128::from(contract_value.raw())
                == 0
        })?;
        let inst_id = listing.symbol.clone();
        let family = inst_id.trim_end_matches("-SWAP").to_owned();
        let (base, settle) = family.split_once('-').unwrap_or((family.as_str(), "USDT"));
        Some(InstrumentSpecOkx {
            instrument,
            base_ccy: base.to_owned(),
            settle_ccy: settle.to_owned(),
            family: family.clone(),
            inst_id,
            scales,
            tick: listing.tick,
            lot: listing.lot,
            min_qty: listing.min_qty,
            contract_value,
            contract_decimals,
            state: "live".to_owned(),
        })
    }

    /// A base quantity as contracts at [`InstrumentSpecOkx::contract_decimals`] (raw),
    /// rounded down (quantities on the wire are whole lots, so nothing is lost).
    pub fn contracts(&self, qty: Qty) -> i64 {
        let scaled = i128::from(qty.raw()) * i128::from(pow10(self.contract_decimals));
        i64::try_from(scaled / i128::from(self.contract_value.raw())).unwrap_or(i64::MAX)
    }

    /// A base quantity as contracts, exactly: `(raw, decimals)` with the fewest
    /// decimals from [`InstrumentSpecOkx::contract_decimals`] up to 8 that hold it
    /// without loss (a recorded size need not be a whole lot), rounded down at 8
    /// decimals when none does.
    pub fn contracts_exact(&self, qty: Qty) -> (i64, u8) {
        let value = i128::from(self.contract_value.raw());
        for decimals in self.contract_decimals..=8 {
            let scaled = i128::from(qty.raw()) * i128::from(pow10(decimals));
            if scaled % value == 0 || decimals == 8 {
                return (i64::try_from(scaled / value).unwrap_or(i64::MAX), decimals);
            }
        }
        (self.contracts(qty), self.contract_decimals)
    }

    /// Decimals of the tick, for display.
    pub fn price_decimals(&self) -> u8 {
        decimals_of(self.tick.raw(), self.scales.price)
    }
}

/// What the market publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A `books` update (or heartbeat) at the end of a 100 ms window.
    Books {
        /// Instrument index.
        index: usize,
        /// `seqId` = `last`, `prevSeqId` = `previous`, the changed levels.
        window: Window,
        /// `ts`.
        at: UnixNanos,
    },
    /// A `bbo-tbt` push.
    Bbo {
        /// Instrument index.
        index: usize,
        /// `seqId`.
        seq_id: u64,
        /// Best bid and ask.
        top: TopOfBook,
        /// `ts`.
        at: UnixNanos,
    },
    /// A `trades` push.
    Trade {
        /// Instrument index.
        index: usize,
        /// `tradeId`.
        trade_id: u64,
        /// `px`.
        price: Price,
        /// Base quantity (`sz` is contracts).
        qty: Qty,
        /// `side`: the taker's.
        side: Side,
        /// `ts`.
        at: UnixNanos,
    },
}

#[derive(Clone, Debug)]
struct Instrument {
    spec: InstrumentSpecOkx,
    model: InstrumentModel,
    top: TopOfBook,
    trade_id: u64,
    last_window_at: UnixNanos,
}

/// Every listed instrument's market, in market time.
#[derive(Clone, Debug)]
pub struct OkxMarket {
    instruments: Vec<Instrument>,
    next_flush: UnixNanos,
}

impl OkxMarket {
    /// The market of `specs` (at least one) from `start`.
    pub fn new(
        config: &Config,
        specs: Vec<InstrumentSpecOkx>,
        params: &MarketParams,
        seed: u64,
        start: UnixNanos,
    ) -> OkxMarket {
        assert!(!specs.is_empty(), "a market lists at least one instrument");
        let instruments = specs
            .into_iter()
            .map(|spec| {
                let seat = Seat {
                    venue: Venue::Okx,
                    instrument: spec.instrument,
                    lot: spec.lot,
                    update_id_base: SEQ_ID_BASE,
                };
                let model = InstrumentModel::new(config, params, seed, start, seat);
                Instrument {
                    top: model.book.top(),
                    spec,
                    model,
                    trade_id: TRADE_ID_BASE,
                    last_window_at: start,
                }
            })
            .collect();
        OkxMarket {
            instruments,
            next_flush: start.plus_millis(UPDATE_INTERVAL_MS),
        }
    }

    /// Market time of the next step.
    pub fn next_time(&self) -> UnixNanos {
        crate::model::next_time(self.instruments.iter().map(|i| &i.model), self.next_flush)
    }

    /// Takes the next step, pushing what it publishes to `out`.
    pub fn step(&mut self, out: &mut Vec<Event>) -> UnixNanos {
        let due =
            crate::model::due_before(self.instruments.iter().map(|i| &i.model), self.next_flush);
        match due {
            Some((index, t)) => {
                self.step_instrument(index, out);
                t
            }
            _ => {
                let at = self.next_flush;
                self.flush(at, out);
                self.next_flush = at.plus_millis(UPDATE_INTERVAL_MS);
                at
            }
        }
    }

    fn step_instrument(&mut self, index: usize, out: &mut Vec<Event>) {
        let instrument = &mut self.instruments[index];
        let (at, change) = instrument.model.step();
        match change {
            Change::None => {}
            Change::Book => {
                let top = instrument.model.book.top();
                if top != instrument.top {
                    instrument.top = top;
                    out.push(Event::Bbo {
                        index,
                        seq_id: instrument.model.book.book_update_id(),
                        top,
                        at,
                    });
                }
            }
            Change::Trade {
                price,
                qty,
                aggressor,
            } => {
                instrument.trade_id += 1;
                out.push(Event::Trade {
                    index,
                    trade_id: instrument.trade_id,
                    price,
                    qty,
                    side: aggressor,
                    at,
                });
            }
        }
    }

    fn flush(&mut self, at: UnixNanos, out: &mut Vec<Event>) {
        for (index, instrument) in self.instruments.iter_mut().enumerate() {
            let window = instrument.model.book.flush().or_else(|| {
                let quiet = at.millis_since(instrument.last_window_at) >= HEARTBEAT_AFTER_MS;
                quiet.then(|| heartbeat(&instrument.model.book.published()))
            });
            if let Some(window) = window {
                instrument.last_window_at = at;
                out.push(Event::Books { index, window, at });
            }
        }
    }

    /// The listed instruments, in index order.
    pub fn specs(&self) -> impl Iterator<Item = &InstrumentSpecOkx> + '_ {
        self.instruments.iter().map(|i| &i.spec)
    }

    /// The spec of instrument `index`.
    pub fn spec(&self, index: usize) -> &InstrumentSpecOkx {
        &self.instruments[index].spec
    }

    /// The index of `inst_id`, if listed.
    pub fn index_of(&self, inst_id: &str) -> Option<usize> {
        self.instruments
            .iter()
            .position(|i| i.spec.inst_id == inst_id)
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Never true (a market lists at least one instrument).
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// The book of instrument `index` as published so far: what a `books` snapshot
    /// sends (its `seqId` is the last update's).
    pub fn published(&self, index: usize) -> BookImage {
        self.instruments[index].model.book.published()
    }

    /// Fault: the book's sequence restarts at `seq_id` (maintenance): the next update
    /// has `seqId < prevSeqId`.
    pub fn reset_sequence(&mut self, index: usize, seq_id: u64) {
        self.instruments[index].model.book.renumber(seq_id);
    }

    /// Sets the `state` `instruments` shows for instrument `index`.
    pub fn set_state(&mut self, index: usize, state: &str) {
        state.clone_into(&mut self.instruments[index].spec.state);
    }
}

/// A heartbeat: no levels, `seqId == prevSeqId ==` the last published.
fn heartbeat(published: &BookImage) -> Window {
    let last = published.last_update_id;
    Window {
        first: last,
        last,
        previous: last,
        changed_at: published.changed_at,
        bids: Vec::new(),
        asks: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::Profile;

    const START: UnixNanos = UnixNanos::from_secs(1_700_000_000);

    fn market(seed: u64, params: MarketParams) -> OkxMarket {
        let config = Config::embedded(Profile::Paper);
        let specs = [InstrumentId(0), InstrumentId(1)]
            .into_iter()
            .map(|i| InstrumentSpecOkx::from_config(&config, i).unwrap())
            .collect();
        OkxMarket::new(&config, specs, &params, seed, START)
    }

    fn run(m: &mut OkxMarket, steps: usize) -> Vec<Event> {
        let mut out = Vec::new();
        for _ in 0..steps {
            m.step(&mut out);
        }
        out
    }

    #[test]
    fn specs_come_from_the_listing_in_contracts() {
        let m = market(1, MarketParams::default());
        let btc = m.spec(0);
        assert_eq!(
            (
                btc.inst_id.as_str(),
                btc.family.as_str(),
                btc.base_ccy.as_str()
            ),
            ("BTC-USDT-SWAP", "BTC-USDT", "BTC")
        );
        assert_eq!(btc.contract_decimals, 2, "lotSz 0.01 contracts");
        assert_eq!(
            btc.contracts(Qty::from_raw(230)),
            230,
            "0.023 BTC is 2.30 contracts"
        );
    }

    #[test]
    fn the_same_seed_publishes_the_same_events() {
        let a = run(&mut market(5, MarketParams::default()), 5_000);
        assert_eq!(a, run(&mut market(5, MarketParams::default()), 5_000));
        assert!(a.iter().any(|e| matches!(e, Event::Books { .. })));
        assert!(a.iter().any(|e| matches!(e, Event::Bbo { .. })));
        assert!(a.iter().any(|e| matches!(e, Event::Trade { .. })));
    }

    #[test]
    fn updates_chain_by_prev_seq_id() {
        let mut m = market(6, MarketParams::default());
        let mut last = [m.published(0).last_update_id, m.published(1).last_update_id];
        for event in run(&mut m, 10_000) {
            if let Event::Books { index, window, .. } = event {
                assert_eq!(window.previous, last[index]);
                assert!(window.last > window.previous);
                last[index] = window.last;
            }
        }
    }

    #[test]
    fn a_quiet_book_sends_a_heartbeat_every_minute() {
        // Updates once every two minutes: heartbeats fill the minutes between.
        let params = MarketParams {
            update_ms: (120_000, 120_000),
            trade_every_ms: 1_000_000,
            ..MarketParams::default()
        };
        let mut m = market(7, params);
        let events = run(&mut m, 20_000);
        let heartbeats = events
            .iter()
            .filter(|e| matches!(e, Event::Books { window, .. } if window.last == window.previous))
            .count();
        assert!(heartbeats > 0);
    }

    #[test]
    fn a_sequence_reset_publishes_a_lower_seq_id() {
        let mut m = market(8, MarketParams::default());
        let before = m.published(0).last_update_id;
        m.reset_sequence(0, 3);
        let window = run(&mut m, 2_000)
            .into_iter()
            .find_map(|e| match e {
                Event::Books {
                    index: 0, window, ..
                } => Some(window),
                _ => None,
            })
            .unwrap();
        assert_eq!(window.previous, before);
        assert!(window.last < window.previous && window.last > 3);
    }
}
