//! The Binance USDⓈ-M side of the synthetic market, as the venue publishes it: one
//! [`InstrumentModel`] per symbol, diffs gathered over 100 ms windows of market time
//! (`<symbol>@depth@100ms`), a book ticker on every change of the top
//! (`<symbol>@bookTicker`, real time) and an aggregate trade per model trade
//! (`<symbol>@aggTrade`).
//!
//! Update ids follow the futures rules of `../shared/VENUES.md` §1.2: every diff's `pu`
//! is the previous diff's `u`; `U` need not be the previous `u + 1` (ids the venue does
//! not publish are skipped); a REST snapshot's `lastUpdateId` is the id of the last
//! change in the book, so the first diff after it satisfies `U <= lastUpdateId <= u`
//! (or is the diff that ended at it). Ids start above 2^32, as real ones do.
//!
//! This module is pure: the same seed and start give the same events, whatever the
//! speed and whoever listens.

use crate::book::{BookImage, Window};
use crate::model::{Change, InstrumentModel, Seat};
use crate::text::decimals_of;
use propbot_engine::Config;
use propbot_engine::book::TopOfBook;
use propbot_engine::model::{InstrumentId, Notional, Price, Qty, Scales, Side, Venue};
use propbot_engine::time::UnixNanos;
use propbot_market::synth::MarketParams;

/// Interval of `@depth@100ms` diffs, market time.
pub const DIFF_INTERVAL_MS: u64 = 100;

/// Depth update ids start above this (real USDⓈ-M ids are around 10^13).
pub const UPDATE_ID_BASE: u64 = 8_000_000_000_000;

/// Aggregate trade ids start above this.
pub const AGGREGATE_ID_BASE: u64 = 2_500_000_000;

/// Trade ids start above this.
pub const TRADE_ID_BASE: u64 = 6_000_000_000;

/// A symbol as the emulator lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolSpec {
    /// The engine's instrument.
    pub instrument: InstrumentId,
    /// `BTCUSDT`.
    pub symbol: String,
    /// `btcusdt`, as stream names spell it.
    pub stream_symbol: String,
    /// `BTC`.
    pub base_asset: String,
    /// `USDT`.
    pub quote_asset: String,
    /// Fixed-point scales of the instrument.
    pub scales: Scales,
    /// `PRICE_FILTER.tickSize`.
    pub tick: Price,
    /// `LOT_SIZE.stepSize`.
    pub lot: Qty,
    /// `LOT_SIZE.minQty`.
    pub min_qty: Qty,
    /// `MIN_NOTIONAL.notional`.
    pub min_notional: Notional,
    /// Decimals prices are printed with (those of the tick).
    pub price_decimals: u8,
    /// Decimals quantities are printed with (those of the step).
    pub qty_decimals: u8,
    /// Contract status (`TRADING`, `SETTLING`, ...).
    pub status: String,
}

impl SymbolSpec {
    /// The spec of `instrument`'s Binance listing in `config`, if it has one.
    pub fn from_config(
        config: &Config,
        instrument: InstrumentId,
        min_notional: Notional,
    ) -> Option<SymbolSpec> {
        let listing = config.listing(Venue::Binance, instrument)?;
        let scales = config.instruments.get(instrument.index())?.scales;
        let symbol = listing.symbol.clone();
        let quote = ["USDT", "USDC", "BUSD"]
            .into_iter()
            .find(|q| symbol.len() > q.len() && symbol.ends_with(q))
            .unwrap_or("USDT");
        Some(SymbolSpec {
            instrument,
            stream_symbol: symbol.to_ascii_lowercase(),
            base_asset: symbol.trim_end_matches(quote).to_owned(),
            quote_asset: quote.to_owned(),
            scales,
            tick: listing.tick,
            lot: listing.lot,
            min_qty: listing.min_qty,
            min_notional,
            price_decimals: decimals_of(listing.tick.raw(), scales.price),
            qty_decimals: decimals_of(listing.lot.raw(), scales.qty),
            status: "TRADING".to_owned(),
            symbol,
        })
    }
}

/// What the market publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A `depthUpdate` at the end of a 100 ms window.
    Depth {
        /// Symbol index.
        symbol: usize,
        /// `U`, `u`, `pu` and the changed levels.
        window: Window,
        /// Event time `E` (the window's end).
        at: UnixNanos,
    },
    /// A `bookTicker`.
    BookTicker {
        /// Symbol index.
        symbol: usize,
        /// Book update id `u`.
        update_id: u64,
        /// Best bid and ask.
        top: TopOfBook,
        /// Transaction and event time.
        at: UnixNanos,
    },
    /// An `aggTrade`.
    AggTrade {
        /// Symbol index.
        symbol: usize,
        /// `a`.
        aggregate_id: u64,
        /// `f`.
        first_trade_id: u64,
        /// `l`.
        last_trade_id: u64,
        /// `p`.
        price: Price,
        /// `q`.
        qty: Qty,
        /// `m`: the buyer made the market (the taker sold).
        buyer_is_maker: bool,
        /// `T` and `E`.
        at: UnixNanos,
    },
}

#[derive(Clone, Debug)]
struct Symbol {
    spec: SymbolSpec,
    model: InstrumentModel,
    top: TopOfBook,
    aggregate_id: u64,
    trade_id: u64,
}

/// Every listed symbol's market, in market time.
#[derive(Clone, Debug)]
pub struct BinanceMarket {
    symbols: Vec<Symbol>,
    next_flush: UnixNanos,
}

impl BinanceMarket {
    /// The market of `specs` (at least one) from `start`.
    pub fn new(
        config: &Config,
        specs: Vec<SymbolSpec>,
        params: &MarketParams,
        seed: u64,
        start: UnixNanos,
    ) -> BinanceMarket {
        assert!(!specs.is_empty(), "a market lists at least one symbol");
        let symbols = specs
            .into_iter()
            .map(|spec| {
                let seat = Seat {
                    venue: Venue::Binance,
                    instrument: spec.instrument,
                    lot: spec.lot,
                    update_id_base: UPDATE_ID_BASE,
                };
                let model = InstrumentModel::new(config, params, seed, start, seat);
                Symbol {
                    top: model.book.top(),
                    spec,
                    model,
                    aggregate_id: AGGREGATE_ID_BASE,
                    trade_id: TRADE_ID_BASE,
                }
            })
            .collect();
        BinanceMarket {
            symbols,
            next_flush: start.plus_millis(DIFF_INTERVAL_MS),
        }
    }

    /// Market time of the next step.
    pub fn next_time(&self) -> UnixNanos {
        crate::model::next_time(self.symbols.iter().map(|s| &s.model), self.next_flush)
    }

    /// Takes the next step, pushing what it publishes to `out`. A model change at a
    /// window's end belongs to that window.
    pub fn step(&mut self, out: &mut Vec<Event>) -> UnixNanos {
        let due = crate::model::due_before(self.symbols.iter().map(|s| &s.model), self.next_flush);
        match due {
            Some((index, t)) => {
                self.step_symbol(index, out);
                t
            }
            _ => {
                let at = self.next_flush;
                self.flush(at, out);
                self.next_flush = at.plus_millis(DIFF_INTERVAL_MS);
                at
            }
        }
    }

    fn step_symbol(&mut self, index: usize, out: &mut Vec<Event>) {
        let symbol = &mut self.symbols[index];
        let (at, change) = symbol.model.step();
        match change {
            Change::None => {}
            Change::Book => {
                let top = symbol.model.book.top();
                if top != symbol.top {
                    symbol.top = top;
                    out.push(Event::BookTicker {
                        symbol: index,
                        update_id: symbol.model.book.book_update_id(),
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
                // An aggregate covers one to three fills at one price.
                let fills = symbol.model.draw(1, 3);
                symbol.aggregate_id += 1;
                let first_trade_id = symbol.trade_id + 1;
                symbol.trade_id += fills;
                out.push(Event::AggTrade {
                    symbol: index,
                    aggregate_id: symbol.aggregate_id,
                    first_trade_id,
                    last_trade_id: symbol.trade_id,
                    price,
                    qty,
                    buyer_is_maker: aggressor == Side::Sell,
                    at,
                });
            }
        }
    }

    fn flush(&mut self, at: UnixNanos, out: &mut Vec<Event>) {
        for (index, symbol) in self.symbols.iter_mut().enumerate() {
            if let Some(window) = symbol.model.book.flush() {
                out.push(Event::Depth {
                    symbol: index,
                    window,
                    at,
                });
            }
        }
    }

    /// The listed symbols, in index order.
    pub fn specs(&self) -> impl Iterator<Item = &SymbolSpec> + '_ {
        self.symbols.iter().map(|s| &s.spec)
    }

    /// The spec of symbol `index`.
    pub fn spec(&self, index: usize) -> &SymbolSpec {
        &self.symbols[index].spec
    }

    /// The index of `symbol` (`BTCUSDT`), if listed.
    pub fn index_of(&self, symbol: &str) -> Option<usize> {
        self.symbols.iter().position(|s| s.spec.symbol == symbol)
    }

    /// The index of a stream symbol (`btcusdt`), if listed.
    pub fn index_of_stream(&self, stream_symbol: &str) -> Option<usize> {
        self.symbols
            .iter()
            .position(|s| s.spec.stream_symbol == stream_symbol)
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Never true (a market lists at least one symbol).
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The current book of symbol `index`, `depth` levels a side (a REST snapshot).
    pub fn snapshot(&self, index: usize, depth: usize) -> BookImage {
        self.symbols[index].model.book.image(depth)
    }

    /// The book of symbol `index` as the diffs published so far leave it.
    pub fn published(&self, index: usize) -> BookImage {
        self.symbols[index].model.book.published()
    }

    /// Sets the contract status of symbol `index`.
    pub fn set_status(&mut self, index: usize, status: &str) {
        status.clone_into(&mut self.symbols[index].spec.status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Side as BookSide;
    use propbot_engine::Profile;
    use propbot_engine::model::Level;

    const START: UnixNanos = UnixNanos::from_secs(1_700_000_000);

    fn market(seed: u64) -> BinanceMarket {
        let config = Config::embedded(Profile::Paper);
        let specs = [InstrumentId(0), InstrumentId(1)]
            .into_iter()
            .map(|i| SymbolSpec::from_config(&config, i, Notional::from_usd(5)).unwrap())
            .collect();
        BinanceMarket::new(&config, specs, &MarketParams::default(), seed, START)
    }

    fn run(m: &mut BinanceMarket, steps: usize) -> Vec<Event> {
        let mut out = Vec::new();
        for _ in 0..steps {
            m.step(&mut out);
        }
        out
    }

    fn apply(side: &mut BookSide, levels: &[Level]) {
        for l in levels {
            if l.qty.raw() == 0 {
                side.remove(&l.price.raw());
            } else {
                side.insert(l.price.raw(), l.qty.raw());
            }
        }
    }

    #[test]
    fn specs_come_from_the_listing() {
        let m = market(1);
        let btc = m.spec(0);
        assert_eq!(btc.symbol, "BTCUSDT");
        assert_eq!(btc.stream_symbol, "btcusdt");
        assert_eq!(
            (btc.base_asset.as_str(), btc.quote_asset.as_str()),
            ("BTC", "USDT")
        );
        assert_eq!((btc.price_decimals, btc.qty_decimals), (1, 3));
        assert_eq!(m.index_of_stream("ethusdt"), Some(1));
    }

    #[test]
    fn the_same_seed_publishes_the_same_events() {
        let a = run(&mut market(5), 5_000);
        assert_eq!(a, run(&mut market(5), 5_000));
        assert_ne!(a, run(&mut market(6), 5_000));
        let kinds = |f: fn(&Event) -> bool| a.iter().filter(|e| f(e)).count();
        assert!(kinds(|e| matches!(e, Event::Depth { .. })) > 100);
        assert!(kinds(|e| matches!(e, Event::BookTicker { .. })) > 100);
        assert!(kinds(|e| matches!(e, Event::AggTrade { .. })) > 100);
    }

    #[test]
    fn diffs_chain_by_pu_and_rebuild_the_published_book() {
        let mut m = market(11);
        let mut books: Vec<(u64, BookSide, BookSide)> = (0..m.len())
            .map(|i| {
                let image = m.published(i);
                let side = |levels: &[Level]| {
                    levels
                        .iter()
                        .map(|l| (l.price.raw(), l.qty.raw()))
                        .collect()
                };
                (image.last_update_id, side(&image.bids), side(&image.asks))
            })
            .collect();
        let mut last_at = START;
        for event in run(&mut m, 20_000) {
            let Event::Depth { symbol, window, at } = event else {
                continue;
            };
            assert!(at >= last_at && window.changed_at <= at, "time order");
            last_at = at;
            assert_eq!(at.0 % (DIFF_INTERVAL_MS * 1_000_000), 0, "100 ms windows");
            let (last, bids, asks) = &mut books[symbol];
            assert_eq!(window.previous, *last, "pu is the previous u");
            assert!(window.first > window.previous && window.last >= window.first);
            assert!(window.first > u64::from(u32::MAX), "ids beyond 32 bits");
            apply(bids, &window.bids);
            apply(asks, &window.asks);
            *last = window.last;
        }
        for (i, (last, bids, asks)) in books.iter().enumerate() {
            let image = m.published(i);
            assert_eq!(image.last_update_id, *last);
            let side = |levels: &[Level]| -> BookSide {
                levels
                    .iter()
                    .map(|l| (l.price.raw(), l.qty.raw()))
                    .collect()
            };
            assert_eq!((&side(&image.bids), &side(&image.asks)), (bids, asks));
        }
    }

    #[test]
    fn not_every_diff_starts_right_after_the_previous_one() {
        let events = run(&mut market(2), 5_000);
        let jumps = events
            .iter()
            .filter(
                |e| matches!(e, Event::Depth { window, .. } if window.first > window.previous + 1),
            )
            .count();
        assert!(jumps > 0, "hidden ids make U skip past pu + 1");
    }

    #[test]
    fn a_snapshot_taken_at_any_step_is_bracketed_by_a_later_diff() {
        let mut m = market(3);
        let mut out = Vec::new();
        for _ in 0..3_000 {
            let snapshot = m.snapshot(0, 1000).last_update_id;
            let published = m.published(0).last_update_id;
            // Either the snapshot is the published book (the last diff ended at it), or
            // the next diff of the symbol brackets it.
            if snapshot != published {
                let window = loop {
                    out.clear();
                    m.step(&mut out);
                    let found = out.iter().find_map(|e| match e {
                        Event::Depth {
                            symbol: 0, window, ..
                        } => Some(window.clone()),
                        _ => None,
                    });
                    if let Some(w) = found {
                        break w;
                    }
                };
                assert!(window.first <= snapshot && snapshot <= window.last);
            }
            m.step(&mut out);
        }
    }

    #[test]
    fn a_book_ticker_shows_the_top_at_its_update_id() {
        let mut m = market(4);
        let mut out = Vec::new();
        let mut seen = 0;
        for _ in 0..5_000 {
            out.clear();
            m.step(&mut out);
            for e in &out {
                if let Event::BookTicker {
                    symbol,
                    update_id,
                    top,
                    ..
                } = e
                {
                    let image = m.snapshot(*symbol, 1);
                    assert_eq!(image.last_update_id, *update_id);
                    assert_eq!(
                        (image.bids[0].price, image.asks[0].price),
                        (top.bid, top.ask)
                    );
                    assert_eq!(
                        (image.bids[0].qty, image.asks[0].qty),
                        (top.bid_qty, top.ask_qty)
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen > 100);
    }
}
