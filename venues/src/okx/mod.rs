//! OKX v5 market data: wire DTOs ([`wire`]), the `books` sync machine ([`sync`]), the
//! checksum ([`checksum`]) and [`OkxFeed`], which routes frames of several instruments.

pub mod checksum;
pub mod sync;
pub mod wire;

use crate::error::{Error, clip};
use crate::event::{Events, ResyncReason, SyncEvent};
use crate::instrument::InstrumentSpec;
use crate::raw::parse_u64_text;
use propbot_engine::book::TopOfBook;
use propbot_engine::model::{InstrumentId, Price, Qty, Side, Venue};
use propbot_engine::time::UnixNanos;
use sync::BookSync;
use wire::{BookData, Message, TickerData, TradeData};

/// Instruments one feed serves, at most (lookups are a linear scan).
pub const FEED_INSTRUMENTS_MAX: usize = 64;

#[derive(Clone, Debug)]
struct Entry {
    spec: InstrumentSpec,
    sync: BookSync,
}

/// What a frame was, when it was not an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Market data: events were pushed (possibly a resync).
    Market,
    /// A control frame: subscribe acknowledgement, notice, `pong`. Nothing pushed.
    Control,
}

/// Market data of several OKX instruments: frames in, [`SyncEvent`]s out.
#[derive(Clone, Debug)]
pub struct OkxFeed {
    entries: Vec<Entry>,
}

impl OkxFeed {
    /// A feed for `specs` (all OKX, at most [`FEED_INSTRUMENTS_MAX`], distinct ids).
    pub fn new(specs: Vec<InstrumentSpec>) -> OkxFeed {
        assert!(
            specs.len() <= FEED_INSTRUMENTS_MAX,
            "at most {FEED_INSTRUMENTS_MAX} instruments per feed"
        );
        assert!(
            specs.iter().all(|s| s.venue == Venue::Okx),
            "an OKX feed takes OKX instruments"
        );
        OkxFeed {
            entries: specs
                .into_iter()
                .map(|spec| Entry {
                    spec,
                    sync: BookSync::new(),
                })
                .collect(),
        }
    }

    /// Handles one public WebSocket frame, pushing what it yields to `out`.
    pub fn on_frame(&mut self, text: &str, out: &mut Events) -> Result<Handled, Error> {
        match wire::parse_message(text)? {
            Message::Books {
                inst_id,
                action,
                data,
            } => {
                let entry = self.entry(inst_id)?;
                for element in &data {
                    entry.sync.on_book(&entry.spec, action, element, out)?;
                }
            }
            Message::Trades { data } => {
                for element in &data {
                    let entry = self.entry(element.inst_id)?;
                    out.push(trade(&entry.spec, element)?);
                }
            }
            Message::Tickers { data } => {
                for element in &data {
                    let entry = self.entry(element.inst_id)?;
                    out.push(ticker(&entry.spec, element)?);
                }
            }
            Message::Bbo { inst_id, data } => {
                let entry = self.entry(inst_id)?;
                for element in &data {
                    out.push(bbo(&entry.spec, element)?);
                }
            }
            Message::Event { .. } | Message::Pong => return Ok(Handled::Control),
        }
        Ok(Handled::Market)
    }

    /// Forgets every book (the connection dropped): each synced book emits a resync.
    pub fn reset(&mut self, out: &mut Events) {
        for entry in &mut self.entries {
            entry.sync.reset(&entry.spec, ResyncReason::Reset, out);
        }
    }

    /// Forgets one book (the driver wants a fresh snapshot of it): emits a resync if
    /// it was synced, after which [`OkxFeed::needing_snapshot`] lists it. `false` if the
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
        entry.sync.reset(&entry.spec, reason, out);
        true
    }

    /// The sync machine of `instrument`.
    pub fn sync(&self, instrument: InstrumentId) -> Option<&BookSync> {
        self.entries
            .iter()
            .find(|e| e.spec.instrument == instrument)
            .map(|e| &e.sync)
    }

    /// Instruments whose `books` channel must be resubscribed.
    pub fn needing_snapshot(&self) -> impl Iterator<Item = &InstrumentSpec> + '_ {
        self.entries
            .iter()
            .filter(|e| e.sync.needs_snapshot())
            .map(|e| &e.spec)
    }

    fn entry(&mut self, inst_id: &str) -> Result<&mut Entry, Error> {
        self.entries
            .iter_mut()
            .find(|e| e.spec.symbol == inst_id)
            .ok_or_else(|| Error::UnknownSymbol {
                venue: Venue::Okx,
                symbol: clip(inst_id),
            })
    }
}

fn trade(spec: &InstrumentSpec, t: &TradeData<'_>) -> Result<SyncEvent, Error> {
    let aggressor = match t.side {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => {
            return Err(Error::Protocol {
                venue: Venue::Okx,
                what: "a trade side other than buy/sell",
            });
        }
    };
    let protocol = |what| Error::Protocol {
        venue: Venue::Okx,
        what,
    };
    Ok(SyncEvent::Trade {
        venue: Venue::Okx,
        instrument: spec.instrument,
        trade_id: parse_u64_text(t.trade_id).ok_or(protocol("`tradeId` is not an integer"))?,
        price: spec.price(t.price)?,
        qty: spec.size(t.size)?,
        aggressor,
        ts_exchange: UnixNanos::from_millis(
            parse_u64_text(t.ts).ok_or(protocol("`ts` is not a millisecond count"))?,
        ),
    })
}

/// A `bbo-tbt` element: the first level of each side (an empty side stays zero, as in
/// `TopOfBook`); `seqId` is the `books` sequence the quote reflects.
fn bbo(spec: &InstrumentSpec, b: &BookData<'_>) -> Result<SyncEvent, Error> {
    let side = |levels: &[crate::raw::RawLevel<'_>]| -> Result<(Price, Qty), Error> {
        match levels.first() {
            None => Ok((Price::ZERO, Qty::ZERO)),
            Some(level) => Ok((spec.price(level.price)?, spec.size(level.size)?)),
        }
    };
    let (bid, bid_qty) = side(&b.bids)?;
    let (ask, ask_qty) = side(&b.asks)?;
    Ok(SyncEvent::Bbo {
        venue: Venue::Okx,
        instrument: spec.instrument,
        update_id: b.seq_id.and_then(|s| u64::try_from(s).ok()),
        top: TopOfBook {
            bid,
            bid_qty,
            ask,
            ask_qty,
        },
        ts_exchange: UnixNanos::from_millis(parse_u64_text(b.ts).ok_or(Error::Protocol {
            venue: Venue::Okx,
            what: "`ts` is not a millisecond count",
        })?),
    })
}

fn ticker(spec: &InstrumentSpec, t: &TickerData<'_>) -> Result<SyncEvent, Error> {
    // An empty side arrives as empty strings: it stays zero, as in `TopOfBook`.
    let price = |text: &str| {
        if text.is_empty() {
            Ok(Price::ZERO)
        } else {
            spec.price(text)
        }
    };
    let size = |text: &str| {
        if text.is_empty() {
            Ok(Qty::ZERO)
        } else {
            spec.size(text)
        }
    };
    Ok(SyncEvent::Bbo {
        venue: Venue::Okx,
        instrument: spec.instrument,
        update_id: None,
        top: TopOfBook {
            bid: price(t.bid_price)?,
            bid_qty: size(t.bid_size)?,
            ask: price(t.ask_price)?,
            ask_qty: size(t.ask_size)?,
        },
        ts_exchange: UnixNanos::from_millis(parse_u64_text(t.ts).ok_or(Error::Protocol {
            venue: Venue::Okx,
            what: "`ts` is not a millisecond count",
        })?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::model::{Level, Scales};

    fn feed() -> OkxFeed {
        let spec = InstrumentSpec::new(
            Venue::Okx,
            InstrumentId(3),
            "BTC-USDT-SWAP",
            Scales { price: 1, qty: 4 },
            "0.1",
            Some("0.01"),
        )
        .unwrap();
        OkxFeed::new(vec![spec])
    }

    fn book(action: &str, seq: i64, prev: i64, bids: &str, asks: &str, checksum: i64) -> String {
        format!(
            r#"{{"arg":{{"channel":"books","instId":"BTC-USDT-SWAP"}},"action":"{action}","data":[{{"asks":[{asks}],"bids":[{bids}],"ts":"1700000000000","checksum":{checksum},"seqId":{seq},"prevSeqId":{prev}}}]}}"#
        )
    }

    /// Feeds frames and returns a compact trace of the events.
    fn trace(feed: &mut OkxFeed, frames: &[String]) -> Vec<String> {
        let mut out = Events::new();
        for frame in frames {
            let _ = feed.on_frame(frame, &mut out);
        }
        out.iter()
            .map(|e| match e {
                SyncEvent::Snapshot { last, .. } => format!("S{last}"),
                SyncEvent::Delta { sequence, .. } => {
                    format!("D{}<-{}", sequence.last, sequence.previous.unwrap_or(0))
                }
                SyncEvent::Resync { reason, .. } => format!("R:{}", reason.name()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_official_sequence_example_is_accepted() {
        // VENUES.md §2.3: snapshot (-1, 10) → update (10, 15) → no-update (15, 15) →
        // reset (15, 3) → update (3, 5).
        let lv = r#"["100.1","2","0","1"]"#;
        let frames = [
            book("snapshot", 10, -1, lv, r#"["100.2","1","0","1"]"#, 0),
            book("update", 15, 10, r#"["100.0","3","0","1"]"#, "", 0),
            book("update", 15, 15, "", "", 0),
            book("update", 3, 15, "", r#"["100.3","1","0","1"]"#, 0),
            book("update", 5, 3, r#"["100.0","0","0","0"]"#, "", 0),
        ];
        let mut f = feed();
        assert_eq!(
            trace(&mut f, &frames),
            ["S10", "D15<-10", "D15<-15", "D3<-15", "D5<-3"]
        );
        let counters = f.sync(InstrumentId(3)).unwrap().counters;
        assert_eq!((counters.heartbeats, counters.sequence_resets), (1, 1));
    }

    #[test]
    fn a_gap_resyncs_and_waits_for_a_snapshot() {
        let frames = [
            book("snapshot", 10, -1, "", "", 0),
            book("update", 20, 12, "", "", 0),
            book("update", 25, 20, "", "", 0),
            book("snapshot", 30, -1, "", "", 0),
            book("update", 31, 30, "", "", 0),
        ];
        let mut f = feed();
        assert_eq!(
            trace(&mut f, &frames),
            ["S10", "R:sequence gap", "S30", "D31<-30"]
        );
        assert_eq!(f.sync(InstrumentId(3)).unwrap().counters.ignored, 1);
    }

    #[test]
    fn contracts_become_base_units_in_the_events() {
        let mut f = feed();
        let mut out = Events::new();
        f.on_frame(
            &book(
                "snapshot",
                1,
                -1,
                r#"["60000.1","12.5","0","3"]"#,
                r#"["60000.2","3","0","1"]"#,
                0,
            ),
            &mut out,
        )
        .unwrap();
        let SyncEvent::Snapshot { bids, asks, .. } = &out.as_slice()[0] else {
            panic!("{out:?}");
        };
        // 12.5 contracts × 0.01 BTC = 0.125 BTC = 1250 at qty scale 4.
        assert_eq!(
            bids[0],
            Level {
                price: Price::from_raw(600_001),
                qty: Qty::from_raw(1250)
            }
        );
        assert_eq!(asks[0].qty, Qty::from_raw(300));
    }

    #[test]
    fn a_wrong_checksum_resyncs_and_zero_means_not_provided() {
        let bids = r#"["3366.1","7","0","1"],["3366","6","0","1"]"#;
        let asks = r#"["3366.8","9","0","1"],["3368","8","0","1"]"#;
        let mut f = feed();
        assert_eq!(
            trace(
                &mut f,
                &[
                    book("snapshot", 1, -1, bids, asks, -1_881_014_294),
                    book("update", 2, 1, "", "", 0),
                    book("update", 3, 2, r#"["3366","0","0","0"]"#, "", 12345),
                ]
            ),
            ["S1", "D2<-1", "R:checksum mismatch"]
        );
        assert_eq!(
            f.sync(InstrumentId(3)).unwrap().counters.checksums_verified,
            1
        );
    }

    #[test]
    fn protocol_violations_are_errors_and_resyncs() {
        let mut f = feed();
        let mut out = Events::new();
        f.on_frame(&book("snapshot", 1, -1, "", "", 0), &mut out)
            .unwrap();
        // An update without sequence fields on a sequenced book.
        let unsequenced = r#"{"arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1"}]}"#;
        assert!(matches!(
            f.on_frame(unsequenced, &mut out),
            Err(Error::Protocol { .. })
        ));
        assert!(matches!(
            out.as_slice().last(),
            Some(SyncEvent::Resync {
                reason: ResyncReason::Protocol,
                ..
            })
        ));
        // A NaN price after a fresh snapshot: error and resync.
        f.on_frame(&book("snapshot", 5, -1, "", "", 0), &mut out)
            .unwrap();
        out.clear();
        let nan = book("update", 6, 5, r#"["NaN","1","0","1"]"#, "", 0);
        assert!(matches!(
            f.on_frame(&nan, &mut out),
            Err(Error::Decimal { .. })
        ));
        assert!(matches!(
            out.as_slice(),
            [SyncEvent::Resync {
                reason: ResyncReason::Protocol,
                ..
            }]
        ));
        // A snapshot whose prevSeqId is not -1.
        assert!(
            f.on_frame(&book("snapshot", 9, 3, "", "", 0), &mut out)
                .is_err()
        );
        // Unknown instrument, unknown channel, error event, control frames.
        let other = book("snapshot", 1, -1, "", "", 0).replace("BTC-USDT-SWAP", "ETH-USDT-SWAP");
        assert!(matches!(
            f.on_frame(&other, &mut out),
            Err(Error::UnknownSymbol { .. })
        ));
        assert!(matches!(
            f.on_frame(
                r#"{"arg":{"channel":"candle1m","instId":"BTC-USDT-SWAP"},"data":[]}"#,
                &mut out
            ),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            f.on_frame(
                r#"{"event":"error","code":"60012","msg":"Invalid request"}"#,
                &mut out
            ),
            Err(Error::VenueError { .. })
        ));
        assert_eq!(f.on_frame("pong", &mut out).unwrap(), Handled::Control);
        assert_eq!(
            f.on_frame(
                r#"{"event":"notice","code":"64008","msg":"reconnect"}"#,
                &mut out
            )
            .unwrap(),
            Handled::Control
        );
    }

    #[test]
    fn unsequenced_feeds_get_their_own_numbering() {
        let old = |action: &str, checksum: i64| {
            format!(
                r#"{{"arg":{{"channel":"books","instId":"BTC-USDT-SWAP"}},"action":"{action}","data":[{{"asks":[["3366.8","9","0","1"]],"bids":[["3366.1","7","0","1"]],"ts":"1","checksum":{checksum}}}]}}"#
            )
        };
        let mut f = feed();
        let good = checksum::checksum_of([("3366.1", "7")], [("3366.8", "9")]);
        assert_eq!(
            trace(
                &mut f,
                &[
                    old("snapshot", i64::from(good)),
                    old("update", i64::from(good)),
                    old("update", 1)
                ]
            ),
            ["S0", "D1<-0", "R:checksum mismatch"]
        );
    }

    #[test]
    fn bbo_tbt_is_a_top_of_book_with_the_books_sequence() {
        let mut f = feed();
        let mut out = Events::new();
        let frame = r#"{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},"data":[{"asks":[["60000.2","3","0","1"]],"bids":[["60000.1","12.5","0","3"]],"ts":"1700000000000","seqId":42}]}"#;
        assert_eq!(f.on_frame(frame, &mut out).unwrap(), Handled::Market);
        let SyncEvent::Bbo { update_id, top, .. } = out.as_slice()[0] else {
            panic!("{out:?}")
        };
        assert_eq!(update_id, Some(42));
        assert_eq!(
            (top.bid, top.bid_qty, top.ask, top.ask_qty),
            (
                Price::from_raw(600_001),
                Qty::from_raw(1250),
                Price::from_raw(600_002),
                Qty::from_raw(300)
            )
        );
        let one_sided = r#"{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},"data":[{"asks":[],"bids":[["60000.1","1","0","1"]],"ts":"1"}]}"#;
        f.on_frame(one_sided, &mut out).unwrap();
        let SyncEvent::Bbo { update_id, top, .. } = out.as_slice()[1] else {
            panic!("{out:?}")
        };
        assert_eq!((update_id, top.ask), (None, Price::ZERO));
        let bad = frame.replace("60000.2", "NaN");
        assert!(f.on_frame(&bad, &mut out).is_err());
    }

    #[test]
    fn one_book_can_be_reset_alone() {
        let mut f = feed();
        let mut out = Events::new();
        f.on_frame(&book("snapshot", 1, -1, "", "", 0), &mut out)
            .unwrap();
        out.clear();
        assert!(f.reset_instrument(InstrumentId(3), ResyncReason::Reset, &mut out));
        assert!(matches!(
            out.as_slice(),
            [SyncEvent::Resync {
                reason: ResyncReason::Reset,
                ..
            }]
        ));
        assert_eq!(f.needing_snapshot().count(), 1);
        // Already waiting: nothing more is emitted.
        assert!(f.reset_instrument(InstrumentId(3), ResyncReason::Reset, &mut out));
        assert_eq!(out.len(), 1);
        assert!(!f.reset_instrument(InstrumentId(9), ResyncReason::Reset, &mut out));
    }

    #[test]
    fn trades_and_tickers() {
        let mut f = feed();
        let mut out = Events::new();
        f.on_frame(r#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"42","px":"60000.5","sz":"2","side":"sell","ts":"1700000000123","count":"1"}]}"#, &mut out).unwrap();
        f.on_frame(r#"{"arg":{"channel":"tickers","instId":"BTC-USDT-SWAP"},"data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","last":"1","askPx":"60000.6","askSz":"5","bidPx":"","bidSz":"","ts":"1700000000124"}]}"#, &mut out).unwrap();
        assert_eq!(
            out.as_slice()[0],
            SyncEvent::Trade {
                venue: Venue::Okx,
                instrument: InstrumentId(3),
                trade_id: 42,
                price: Price::from_raw(600_005),
                qty: Qty::from_raw(200),
                aggressor: Side::Sell,
                ts_exchange: UnixNanos::from_millis(1_700_000_000_123),
            }
        );
        let SyncEvent::Bbo { top, .. } = out.as_slice()[1] else {
            panic!()
        };
        assert_eq!(
            (top.bid, top.ask, top.ask_qty),
            (
                Price::from_raw(0),
                Price::from_raw(600_006),
                Qty::from_raw(500)
            )
        );
    }
}
