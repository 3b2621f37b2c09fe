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
use wire::{Message, TickerData, TradeData};

/// Instruments one feed serves, at most (lookups are a linear scan).
pub const FEED_INSTRUMENTS_MAX: usize = 64;

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
