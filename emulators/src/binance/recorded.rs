//! The Binance USDⓈ-M side of a recording, published as recorded
//! ([`crate::playback`]):
//!
//! - one recorded delta is one `depthUpdate`, with the recorded `U`/`u`/`pu` and
//!   levels (the recording's own 100 ms grouping, never re-windowed); a delta recorded
//!   without `pu` chains to the last one published, one without `U` starts after it;
//! - `bookTicker` from the recorded best bid/offers of a symbol once it has any, and
//!   until then from the book's top after each diff (sent when the top changed, with
//!   the diff's `u`);
//! - `aggTrade` per recorded trade (its trade id, when recorded, is `a`, `f` and `l`);
//! - the REST snapshot is the book after the last message played: its `lastUpdateId`
//!   is the `u` of the last diff, so the next diff chains to it (`pu`) and the diff
//!   that ended at it, buffered by any client connected before, brackets it
//!   (`U <= lastUpdateId <= u`). A client that takes its snapshot before any diff has
//!   reached it is told the snapshot is too old by the next diff (as a venue snapshot
//!   taken right at a diff boundary would), and its next snapshot is bracketed by
//!   that diff, which it has buffered.
//!
//! Pure, like [`super::market`]: the same recording gives the same events.

use super::market::{AGGREGATE_ID_BASE, Event, SymbolSpec};
use crate::book::{BookImage, Window};
use crate::playback::{Body, Messages, Playback, Recorded};
use propbot_engine::book::{Sequence, TopOfBook};
use propbot_engine::model::Side;
use propbot_engine::time::UnixNanos;

#[derive(Clone, Debug)]
struct Symbol {
    spec: SymbolSpec,
    /// Top last sent in a `bookTicker`.
    top: TopOfBook,
    /// Whether the recording has best bid/offers of this symbol (seen one so far).
    bbo_recorded: bool,
    aggregate_id: u64,
    /// `u` of the last diff published (or of the snapshot that started the book).
    published: u64,
}

/// Every listed symbol's recorded market, in market time.
#[derive(Debug)]
pub struct RecordedBinance {
    symbols: Vec<Symbol>,
    playback: Playback,
}

impl RecordedBinance {
    /// Plays `messages` of `specs` (index order, at least one).
    pub fn new(specs: Vec<SymbolSpec>, messages: Box<dyn Messages>) -> RecordedBinance {
        assert!(!specs.is_empty(), "a market lists at least one symbol");
        let playback = Playback::new(messages, specs.len());
        let symbols = specs
            .into_iter()
            .map(|spec| Symbol {
                spec,
                top: TopOfBook::default(),
                bbo_recorded: false,
                aggregate_id: AGGREGATE_ID_BASE,
                published: 0,
            })
            .collect();
        RecordedBinance { symbols, playback }
    }

    /// Market time of the next message; [`UnixNanos::NEVER`] once finished.
    pub fn next_time(&self) -> UnixNanos {
        self.playback.next_time()
    }

    /// Plays the next message, pushing what it publishes to `out`.
    pub fn step(&mut self, out: &mut Vec<Event>) -> UnixNanos {
        let Some(Recorded {
            at,
            ts_exchange,
            index,
            body,
        }) = self.playback.step()
        else {
            return UnixNanos::NEVER;
        };
        match body {
            Body::Snapshot { last, .. } => {
                self.symbols[index].published = last;
                self.derived_ticker(index, last, ts_exchange, out);
            }
            Body::Delta {
                sequence,
                bids,
                asks,
            } => {
                let window = self.window(index, sequence, bids, asks, ts_exchange);
                out.push(Event::Depth {
                    symbol: index,
                    window,
                    at: ts_exchange,
                });
                self.derived_ticker(index, sequence.last, ts_exchange, out);
            }
            Body::Trade {
                trade_id,
                price,
                qty,
                aggressor,
            } => {
                let symbol = &mut self.symbols[index];
                symbol.aggregate_id = trade_id.unwrap_or(symbol.aggregate_id + 1);
                out.push(Event::AggTrade {
                    symbol: index,
                    aggregate_id: symbol.aggregate_id,
                    first_trade_id: symbol.aggregate_id,
                    last_trade_id: symbol.aggregate_id,
                    price,
                    qty,
                    buyer_is_maker: aggressor == Side::Sell,
                    at: ts_exchange,
                });
            }
            Body::Bbo { update_id, top } => {
                let symbol = &mut self.symbols[index];
                symbol.bbo_recorded = true;
                symbol.top = top;
                out.push(Event::BookTicker {
                    symbol: index,
                    update_id: update_id.unwrap_or(self.playback.book(index).last_update_id),
                    top,
                    at: ts_exchange,
                });
            }
        }
        at
    }

    /// The `depthUpdate` fields of a recorded delta, completed where the recording
    /// lacks them, and the symbol's last published `u` moved on.
    fn window(
        &mut self,
        index: usize,
        sequence: Sequence,
        bids: Vec<propbot_engine::model::Level>,
        asks: Vec<propbot_engine::model::Level>,
        at: UnixNanos,
    ) -> Window {
        let symbol = &mut self.symbols[index];
        let previous = sequence.previous.unwrap_or(symbol.published);
        let first = sequence
            .first
            .unwrap_or(previous.saturating_add(1))
            .min(sequence.last);
        symbol.published = sequence.last;
        Window {
            first,
            last: sequence.last,
            previous,
            changed_at: at,
            bids,
            asks,
        }
    }

    /// A `bookTicker` from the book's top when the symbol has no recorded ones and the
    /// top changed.
    fn derived_ticker(
        &mut self,
        index: usize,
        update_id: u64,
        at: UnixNanos,
        out: &mut Vec<Event>,
    ) {
        let top = self.playback.book(index).top();
        let symbol = &mut self.symbols[index];
        if symbol.bbo_recorded || top == symbol.top {
            return;
        }
        symbol.top = top;
        out.push(Event::BookTicker {
            symbol: index,
            update_id,
            top,
            at,
        });
    }

    /// Whether the recording has been played to its end.
    pub fn finished(&self) -> bool {
        self.playback.finished()
    }

    /// Why playback stopped before the end, if it did.
    pub fn error(&self) -> Option<&str> {
        self.playback.error()
    }

    /// The listed symbols, in index order.
    pub fn specs(&self) -> impl Iterator<Item = &SymbolSpec> + '_ {
        self.symbols.iter().map(|s| &s.spec)
    }

    /// The spec of symbol `index`.
    pub fn spec(&self, index: usize) -> &SymbolSpec {
        &self.symbols[index].spec
    }

    /// Sets the contract status of symbol `index`.
    pub fn set_status(&mut self, index: usize, status: &str) {
        status.clone_into(&mut self.symbols[index].spec.status);
    }

    /// The book of symbol `index` now, `depth` levels a side (a REST snapshot): every
    /// played diff is published, so this is also the book as published.
    pub fn snapshot(&self, index: usize, depth: usize) -> BookImage {
        self.playback.book(index).image(depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playback::tests::{at, delta, level, snapshot};
    use propbot_engine::model::{InstrumentId, Notional, Price, Qty};
    use propbot_engine::{Config, Profile};

    fn market(messages: Vec<Recorded>) -> RecordedBinance {
        let config = Config::embedded(Profile::Paper);
        let spec = SymbolSpec::from_config(&config, InstrumentId(0), Notional::from_usd(5));
        RecordedBinance::new(vec![spec.unwrap()], Box::new(messages.into_iter()))
    }

    fn run(m: &mut RecordedBinance) -> Vec<Event> {
        let mut out = Vec::new();
        while !m.finished() {
            m.step(&mut out);
        }
        out
    }

    #[test]
    fn one_recorded_delta_is_one_diff_with_its_ids_and_levels() {
        let mut m = market(vec![
            at(0, 0, snapshot(100)),
            at(50, 0, delta(Some(103), 107, 100, &[level(99, 9)])),
            at(60, 0, delta(Some(110), 111, 107, &[level(98, 0)])),
        ]);
        let depth: Vec<Window> = run(&mut m)
            .into_iter()
            .filter_map(|e| match e {
                Event::Depth { window, .. } => Some(window),
                _ => None,
            })
            .collect();
        assert_eq!(depth.len(), 2, "no re-windowing");
        assert_eq!(
            (depth[0].first, depth[0].last, depth[0].previous),
            (103, 107, 100)
        );
        assert_eq!(depth[0].bids, [level(99, 9)]);
        assert_eq!(
            (depth[1].first, depth[1].last, depth[1].previous),
            (110, 111, 107)
        );
        let image = m.snapshot(0, 1000);
        assert_eq!(image.last_update_id, 111, "the last diff's u");
        assert_eq!(image.bids, [level(99, 9)]);
        assert!(m.finished());
    }

    #[test]
    fn book_tickers_follow_the_top_until_recorded_ones_appear() {
        let recorded_top = TopOfBook {
            bid: Price::from_raw(99),
            bid_qty: Qty::from_raw(1),
            ask: Price::from_raw(101),
            ask_qty: Qty::from_raw(1),
        };
        let mut m = market(vec![
            at(0, 0, snapshot(100)),
            at(50, 0, delta(Some(101), 101, 100, &[level(99, 9)])),
            at(
                60,
                0,
                Body::Bbo {
                    update_id: Some(101),
                    top: recorded_top,
                },
            ),
            at(70, 0, delta(Some(102), 102, 101, &[level(99, 8)])),
        ]);
        let tickers: Vec<(u64, TopOfBook)> = run(&mut m)
            .into_iter()
            .filter_map(|e| match e {
                Event::BookTicker { update_id, top, .. } => Some((update_id, top)),
                _ => None,
            })
            .collect();
        assert_eq!(tickers.len(), 3, "{tickers:?}");
        assert_eq!(tickers[0].0, 100, "the snapshot's top");
        assert_eq!(
            (tickers[1].0, tickers[1].1.bid_qty),
            (101, Qty::from_raw(9))
        );
        assert_eq!(tickers[2], (101, recorded_top), "then only recorded ones");
    }

    #[test]
    fn missing_sequence_fields_chain_to_the_last_diff() {
        let bare = Body::Delta {
            sequence: Sequence {
                first: None,
                last: 120,
                previous: None,
            },
            bids: vec![level(97, 1)],
            asks: Vec::new(),
        };
        let mut m = market(vec![at(0, 0, snapshot(100)), at(10, 0, bare)]);
        let window = run(&mut m)
            .into_iter()
            .find_map(|e| match e {
                Event::Depth { window, .. } => Some(window),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            (window.first, window.last, window.previous),
            (101, 120, 100)
        );
    }
}
