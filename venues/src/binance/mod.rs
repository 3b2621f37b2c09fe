//! Binance USDⓈ-M market data: wire DTOs ([`wire`]), the book sync machine ([`sync`])
//! and [`BinanceFeed`], which routes frames of several instruments to both.

pub mod sync;
pub mod wire;

use crate::error::{Error, clip};
use crate::event::{Events, ResyncReason, SyncEvent};
use crate::instrument::InstrumentSpec;
use crate::raw::{RawLevel, convert_levels};
use propbot_engine::book::{Sequence, TopOfBook};
use propbot_engine::model::{InstrumentId, Level, Side, Venue};
use propbot_engine::time::UnixNanos;
use sync::{DepthSync, Diff};
use wire::Message;

/// Instruments one feed serves, at most (the engine trades a handful; a lookup is a
/// linear scan).
pub const FEED_INSTRUMENTS_MAX: usize = 64;

#[derive(Clone, Debug)]
struct Entry {
    spec: InstrumentSpec,
    sync: DepthSync,
}

/// Market data of several Binance instruments: frames in, [`SyncEvent`]s out.
#[derive(Clone, Debug)]
pub struct BinanceFeed {
    entries: Vec<Entry>,
}

impl BinanceFeed {
    /// A feed for `specs` (all Binance, at most [`FEED_INSTRUMENTS_MAX`], distinct
    /// symbols).
    pub fn new(specs: Vec<InstrumentSpec>) -> BinanceFeed {
        assert!(
            specs.len() <= FEED_INSTRUMENTS_MAX,
            "at most {FEED_INSTRUMENTS_MAX} instruments per feed"
        );
        assert!(
            specs.iter().all(|s| s.venue == Venue::Binance),
            "a Binance feed takes Binance instruments"
        );
        BinanceFeed {
            entries: specs
                .into_iter()
                .map(|spec| Entry {
                    sync: DepthSync::new(spec.instrument),
                    spec,
                })
                .collect(),
        }
    }

    /// Handles one WebSocket frame (combined-stream envelope or bare payload), pushing
    /// what it yields to `out`. A diff whose levels cannot be parsed yields the error
    /// *and* a resync of its book, since the book can no longer be known.
    pub fn on_frame(&mut self, text: &str, out: &mut Events) -> Result<(), Error> {
        let message = wire::parse_message(text)?;
        let index = self.index_of(message.symbol())?;
        let entry = &mut self.entries[index];
        match message {
            Message::DepthUpdate(m) => {
                let ts_exchange = UnixNanos::from_millis(m.event_time_ms);
                let sequence = Sequence {
                    first: Some(m.first_update_id),
                    last: m.final_update_id,
                    previous: Some(m.previous_final_update_id),
                };
                match convert(&entry.spec, &m.bids, &m.asks, out) {
                    Ok((bids, asks)) => {
                        let diff = Diff {
                            sequence,
                            bids,
                            asks,
                            ts_exchange,
                        };
                        entry.sync.on_diff(diff, out);
                    }
                    Err(e) => {
                        entry.sync.reset(ResyncReason::Protocol, out);
                        return Err(e);
                    }
                }
            }
            Message::BookTicker(m) => {
                let spec = &entry.spec;
                let top = TopOfBook {
                    bid: spec.price(m.bid_price)?,
                    bid_qty: spec.base_qty(m.bid_qty)?,
                    ask: spec.price(m.ask_price)?,
                    ask_qty: spec.base_qty(m.ask_qty)?,
                };
                let ts = m.event_time_ms.or(m.transaction_time_ms).unwrap_or(0);
                out.push(SyncEvent::Bbo {
                    venue: Venue::Binance,
                    instrument: spec.instrument,
                    update_id: Some(m.update_id),
                    top,
                    ts_exchange: UnixNanos::from_millis(ts),
                });
            }
            Message::AggTrade(m) => {
                let event = trade(
                    &entry.spec,
                    m.aggregate_id,
                    m.price,
                    m.qty,
                    m.buyer_is_maker,
                    m.event_time_ms,
                )?;
                out.push(event);
            }
            Message::Trade(m) => {
                let event = trade(
                    &entry.spec,
                    m.trade_id,
                    m.price,
                    m.qty,
                    m.buyer_is_maker,
                    m.event_time_ms,
                )?;
                out.push(event);
            }
        }
        Ok(())
    }

    /// Handles a REST depth snapshot body for `instrument`.
    pub fn on_depth_snapshot(
        &mut self,
        instrument: InstrumentId,
        body: &str,
        out: &mut Events,
    ) -> Result<(), Error> {
        let snapshot = wire::parse_depth_snapshot(body)?;
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.spec.instrument == instrument)
            .ok_or_else(|| Error::UnknownSymbol {
                venue: Venue::Binance,
                symbol: format!("instrument {}", instrument.0),
            })?;
        let (bids, asks) = convert(&entry.spec, &snapshot.bids, &snapshot.asks, out)?;
        let ts = snapshot
            .event_time_ms
            .or(snapshot.transaction_time_ms)
            .unwrap_or(0);
        entry.sync.on_snapshot(
            snapshot.last_update_id,
            bids,
            asks,
            UnixNanos::from_millis(ts),
            out,
        );
        Ok(())
    }

    /// Forgets every book (the connection dropped): each synced book emits a resync.
    pub fn reset(&mut self, out: &mut Events) {
        for entry in &mut self.entries {
            entry.sync.reset(ResyncReason::Reset, out);
        }
    }

    /// Forgets one book (the driver wants a fresh snapshot of it, or its buffer grew
    /// past the driver's bound): drops its buffered diffs and emits a resync if it was
    /// synced, after which [`BinanceFeed::needing_snapshot`] lists it. `false` if the
    /// instrument is not served by this feed.
    pub fn reset_instrument(
        &mut self,
        instrument: InstrumentId,
        reason: ResyncReason,
        out: &mut Events,
    ) -> bool {
        let Some(entry) = self
            .entries
            .iter_mut()
            .find(|e| e.spec.instrument == instrument)
        else {
            return false;
        };
        entry.sync.reset(reason, out);
        true
    }

    /// The sync machine of `instrument`.
    pub fn sync(&self, instrument: InstrumentId) -> Option<&DepthSync> {
        self.entries
            .iter()
            .find(|e| e.spec.instrument == instrument)
            .map(|e| &e.sync)
    }

    /// Instruments whose book needs a REST snapshot.
    pub fn needing_snapshot(&self) -> impl Iterator<Item = &InstrumentSpec> + '_ {
        self.entries
            .iter()
            .filter(|e| e.sync.needs_snapshot())
            .map(|e| &e.spec)
    }

    fn index_of(&self, symbol: &str) -> Result<usize, Error> {
        self.entries
            .iter()
            .position(|e| e.spec.symbol == symbol)
            .ok_or_else(|| Error::UnknownSymbol {
                venue: Venue::Binance,
                symbol: clip(symbol),
            })
    }
}

/// Converts both sides into level vectors taken from `out`'s pool (returned to it on
/// failure).
fn convert(
    spec: &InstrumentSpec,
    bids: &[RawLevel<'_>],
    asks: &[RawLevel<'_>],
    out: &mut Events,
) -> Result<(Vec<Level>, Vec<Level>), Error> {
    let mut bid_levels = out.level_buffer();
    let mut ask_levels = out.level_buffer();
    let converted = convert_levels(spec, bids, &mut bid_levels)
        .and_then(|()| convert_levels(spec, asks, &mut ask_levels));
    match converted {
        Ok(()) => Ok((bid_levels, ask_levels)),
        Err(e) => {
            out.recycle(bid_levels);
            out.recycle(ask_levels);
            Err(e)
        }
    }
}

fn trade(
    spec: &InstrumentSpec,
    trade_id: u64,
    price: &str,
    qty: &str,
    buyer_is_maker: bool,
    time_ms: u64,
) -> Result<SyncEvent, Error> {
    Ok(SyncEvent::Trade {
        venue: Venue::Binance,
        instrument: spec.instrument,
        trade_id,
        price: spec.price(price)?,
        qty: spec.base_qty(qty)?,
        // The buyer made the market, so the taker sold.
        aggressor: if buyer_is_maker {
            Side::Sell
        } else {
            Side::Buy
        },
        ts_exchange: UnixNanos::from_millis(time_ms),
    })
}
