//! OKX v5 public wire DTOs (`../shared/VENUES.md` §2.3, §2.7). Strings are borrowed
//! from the frame, unknown fields are ignored, and prices and sizes stay text until the
//! sync layer converts them (sizes are contracts for derivatives).

use crate::error::{Error, clip};
use crate::raw::RawLevel;
use propbot_engine::model::{InstrumentId, Scales, Venue};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

use crate::instrument::InstrumentSpec;

/// The `arg` of a push or an event: channel and instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Arg<'a> {
    /// Channel (`books`, `trades`, `tickers`, ...).
    #[serde(borrow)]
    pub channel: &'a str,
    /// Instrument id (`BTC-USDT-SWAP`).
    #[serde(rename = "instId", default, borrow)]
    pub inst_id: Option<&'a str>,
}

/// One element of a `books` push.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BookData<'a> {
    /// Ask levels `[price, size, "0", orders]`.
    #[serde(borrow, default)]
    pub asks: Vec<RawLevel<'a>>,
    /// Bid levels.
    #[serde(borrow, default)]
    pub bids: Vec<RawLevel<'a>>,
    /// Venue time, ms, as a string.
    #[serde(borrow)]
    pub ts: &'a str,
    /// CRC32 of the top 25 levels as a signed integer; `0` or absent: not provided.
    #[serde(default)]
    pub checksum: Option<i64>,
    /// Sequence id of this message (absent in captures before 2022-H2).
    #[serde(rename = "seqId", default)]
    pub seq_id: Option<i64>,
    /// Sequence id of the previous message; `-1` in snapshots.
    #[serde(rename = "prevSeqId", default)]
    pub prev_seq_id: Option<i64>,
}

/// One element of a `trades` push.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TradeData<'a> {
    /// Instrument id.
    #[serde(rename = "instId", borrow)]
    pub inst_id: &'a str,
    /// Trade id.
    #[serde(rename = "tradeId", borrow)]
    pub trade_id: &'a str,
    /// Price.
    #[serde(rename = "px", borrow)]
    pub price: &'a str,
    /// Size (contracts for derivatives).
    #[serde(rename = "sz", borrow)]
    pub size: &'a str,
    /// Taker side, `buy` or `sell`.
    #[serde(borrow)]
    pub side: &'a str,
    /// Trade time, ms.
    #[serde(borrow)]
    pub ts: &'a str,
}

/// One element of a `tickers` push.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TickerData<'a> {
    /// Instrument id.
    #[serde(rename = "instId", borrow)]
    pub inst_id: &'a str,
    /// Last traded price.
    #[serde(default, borrow)]
    pub last: Option<&'a str>,
    /// Best ask price (empty when there is none).
    #[serde(rename = "askPx", borrow)]
    pub ask_price: &'a str,
    /// Best ask size.
    #[serde(rename = "askSz", borrow)]
    pub ask_size: &'a str,
    /// Best bid price.
    #[serde(rename = "bidPx", borrow)]
    pub bid_price: &'a str,
    /// Best bid size.
    #[serde(rename = "bidSz", borrow)]
    pub bid_size: &'a str,
    /// Venue time, ms.
    #[serde(borrow)]
    pub ts: &'a str,
}

/// Whether a book push replaces the book or changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Full book.
    Snapshot,
    /// Incremental levels.
    Update,
}

/// One public message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// `books`, `books50-l2-tbt` or `books-l2-tbt`.
    Books {
        /// Instrument id.
        inst_id: &'a str,
        /// Snapshot or update.
        action: Action,
        /// Usually one element.
        data: Vec<BookData<'a>>,
    },
    /// `trades`.
    Trades {
        /// The trades.
        data: Vec<TradeData<'a>>,
    },
    /// `tickers`.
    Tickers {
        /// The tickers.
        data: Vec<TickerData<'a>>,
    },
    /// `bbo-tbt`: the best level of each side, as a one-level book snapshot (no
    /// `action`, no `prevSeqId`; `seqId` is the `books` sequence it reflects).
    Bbo {
        /// Instrument id.
        inst_id: &'a str,
        /// Usually one element.
        data: Vec<BookData<'a>>,
    },
    /// A non-error event: `subscribe`, `unsubscribe`, `notice` (64008: reconnect soon),
    /// `channel-conn-count`, ...
    Event {
        /// The event name.
        event: &'a str,
        /// Its code, when it has one.
        code: Option<&'a str>,
    },
    /// The text `pong` answering our `ping`.
    Pong,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    event: Option<&'a str>,
    #[serde(default, borrow)]
    arg: Option<Arg<'a>>,
    #[serde(default, borrow)]
    action: Option<&'a str>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    code: Option<&'a str>,
    #[serde(default, borrow)]
    msg: Option<Cow<'a, str>>,
}

/// Parses one public WebSocket frame. Error events become [`Error::VenueError`];
/// channels this crate does not handle become [`Error::Unsupported`].
pub fn parse_message(text: &str) -> Result<Message<'_>, Error> {
    if text == "pong" {
        return Ok(Message::Pong);
    }
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(json_error)?;
    if let Some(event) = envelope.event {
        if event == "error" {
            return Err(Error::VenueError {
                venue: Venue::Okx,
                code: clip(envelope.code.unwrap_or("")),
                message: clip(envelope.msg.as_deref().unwrap_or("")),
            });
        }
        return Ok(Message::Event {
            event,
            code: envelope.code,
        });
    }
    let (Some(arg), Some(data)) = (envelope.arg, envelope.data) else {
        return Err(Error::Protocol {
            venue: Venue::Okx,
            what: "a push without `arg` and `data`",
        });
    };
    match arg.channel {
        "books" | "books50-l2-tbt" | "books-l2-tbt" => {
            let action = match envelope.action {
                Some("snapshot") => Action::Snapshot,
                Some("update") => Action::Update,
                _ => {
                    return Err(Error::Protocol {
                        venue: Venue::Okx,
                        what: "a book push whose action is neither snapshot nor update",
                    });
                }
            };
            let inst_id = arg.inst_id.ok_or(Error::Protocol {
                venue: Venue::Okx,
                what: "a book push without `arg.instId`",
            })?;
            Ok(Message::Books {
                inst_id,
                action,
                data: from_json(data.get())?,
            })
        }
        "bbo-tbt" => Ok(Message::Bbo {
            inst_id: arg.inst_id.ok_or(Error::Protocol {
                venue: Venue::Okx,
                what: "a bbo-tbt push without `arg.instId`",
            })?,
            data: from_json(data.get())?,
        }),
        "trades" => Ok(Message::Trades {
            data: from_json(data.get())?,
        }),
        "tickers" => Ok(Message::Tickers {
            data: from_json(data.get())?,
        }),
        other => Err(Error::Unsupported {
            venue: Venue::Okx,
            kind: clip(other),
        }),
    }
}

fn from_json<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(json_error)
}

fn json_error(source: serde_json::Error) -> Error {
    Error::Json {
        venue: Venue::Okx,
        source,
    }
}

/// `GET /api/v5/public/instruments` response. Owned: read once at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Instruments {
    /// `"0"` on success.
    pub code: String,
    /// The instruments.
    #[serde(default)]
    pub data: Vec<InstrumentInfo>,
}

/// One instrument. OKX sends empty strings for fields that do not apply (spot has no
/// `ctVal`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentInfo {
    /// Instrument id.
    pub inst_id: String,
    /// `SPOT`, `SWAP`, `FUTURES`, `OPTION`.
    pub inst_type: String,
    /// Contract value.
    #[serde(default)]
    pub ct_val: String,
    /// Contract multiplier.
    #[serde(default)]
    pub ct_mult: String,
    /// Currency of the contract value.
    #[serde(default)]
    pub ct_val_ccy: String,
    /// `linear` or `inverse`.
    #[serde(default)]
    pub ct_type: String,
    /// Price increment.
    pub tick_sz: String,
    /// Size increment (contracts for derivatives).
    pub lot_sz: String,
    /// Minimum size.
    #[serde(default)]
    pub min_sz: String,
    /// `live`, `suspend`, `preopen`, `test`.
    #[serde(default)]
    pub state: String,
}

impl InstrumentInfo {
    /// A parsing spec for this instrument at the given scales; the contract value is
    /// `ctVal × ctMult`, computed exactly. Spot instruments have none.
    pub fn spec(&self, instrument: InstrumentId, scales: Scales) -> Result<InstrumentSpec, Error> {
        let base = InstrumentSpec::new(
            Venue::Okx,
            instrument,
            &self.inst_id,
            scales,
            &self.tick_sz,
            (!self.ct_val.is_empty()).then_some(self.ct_val.as_str()),
        )?;
        if base.contract_value.is_none() || self.ct_mult.is_empty() {
            return Ok(base);
        }
        // ctVal × ctMult: treat the multiplier as a contract count of ctVal.
        let value = base.size(&self.ct_mult)?;
        if !value.is_positive() {
            return Err(Error::InstrumentSpec {
                symbol: self.inst_id.clone(),
                what: "contract value ctVal × ctMult must be positive".into(),
            });
        }
        Ok(InstrumentSpec {
            contract_value: Some(value),
            ..base
        })
    }
}

/// Parses an instruments response body.
pub fn parse_instruments(text: &str) -> Result<Instruments, Error> {
    from_json(text)
}
