//! Binance USDⓈ-M wire DTOs (`../shared/VENUES.md` §1.2–1.4). They borrow their strings
//! from the frame, ignore unknown fields (Binance adds fields such as `ps`, `st`, `nq`
//! without notice) and keep prices and sizes as text: conversion to fixed point happens
//! once, with the instrument's scales, in the sync layer.

use crate::error::{Error, clip};
use crate::raw::RawLevel;
use propbot_engine::model::Venue;
use serde::Deserialize;
use serde_json::value::RawValue;

/// `<symbol>@depth` diff (`e` = `depthUpdate`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DepthUpdate<'a> {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_time_ms: u64,
    /// Transaction time, ms.
    #[serde(rename = "T", default)]
    pub transaction_time_ms: Option<u64>,
    /// Symbol, upper case.
    #[serde(rename = "s", borrow)]
    pub symbol: &'a str,
    /// First update id in the event.
    #[serde(rename = "U")]
    pub first_update_id: u64,
    /// Final update id in the event.
    #[serde(rename = "u")]
    pub final_update_id: u64,
    /// Final update id of the previous event.
    #[serde(rename = "pu")]
    pub previous_final_update_id: u64,
    /// Changed bids (absolute quantities; `"0"` deletes).
    #[serde(rename = "b", borrow)]
    pub bids: Vec<RawLevel<'a>>,
    /// Changed asks.
    #[serde(rename = "a", borrow)]
    pub asks: Vec<RawLevel<'a>>,
}

/// REST `GET /fapi/v1/depth` response.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DepthSnapshot<'a> {
    /// Last update id included.
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    /// Message output time, ms.
    #[serde(rename = "E", default)]
    pub event_time_ms: Option<u64>,
    /// Transaction time, ms.
    #[serde(rename = "T", default)]
    pub transaction_time_ms: Option<u64>,
    /// Bids, best first.
    #[serde(borrow)]
    pub bids: Vec<RawLevel<'a>>,
    /// Asks, best first.
    #[serde(borrow)]
    pub asks: Vec<RawLevel<'a>>,
}

/// `<symbol>@bookTicker` (`e` = `bookTicker`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BookTicker<'a> {
    /// Order book update id the quote reflects.
    #[serde(rename = "u")]
    pub update_id: u64,
    /// Symbol.
    #[serde(rename = "s", borrow)]
    pub symbol: &'a str,
    /// Best bid price.
    #[serde(rename = "b", borrow)]
    pub bid_price: &'a str,
    /// Best bid quantity.
    #[serde(rename = "B", borrow)]
    pub bid_qty: &'a str,
    /// Best ask price.
    #[serde(rename = "a", borrow)]
    pub ask_price: &'a str,
    /// Best ask quantity.
    #[serde(rename = "A", borrow)]
    pub ask_qty: &'a str,
    /// Event time, ms.
    #[serde(rename = "E", default)]
    pub event_time_ms: Option<u64>,
    /// Transaction time, ms.
    #[serde(rename = "T", default)]
    pub transaction_time_ms: Option<u64>,
}

/// `<symbol>@aggTrade` (`e` = `aggTrade`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AggTrade<'a> {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_time_ms: u64,
    /// Symbol.
    #[serde(rename = "s", borrow)]
    pub symbol: &'a str,
    /// Aggregate trade id.
    #[serde(rename = "a")]
    pub aggregate_id: u64,
    /// Price.
    #[serde(rename = "p", borrow)]
    pub price: &'a str,
    /// Quantity of all market trades aggregated.
    #[serde(rename = "q", borrow)]
    pub qty: &'a str,
    /// Quantity without trades against RPI orders (new, optional).
    #[serde(rename = "nq", default, borrow)]
    pub normal_qty: Option<&'a str>,
    /// First trade id.
    #[serde(rename = "f")]
    pub first_trade_id: u64,
    /// Last trade id.
    #[serde(rename = "l")]
    pub last_trade_id: u64,
    /// Trade time, ms.
    #[serde(rename = "T")]
    pub trade_time_ms: u64,
    /// Whether the buyer was the maker (so the taker sold).
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `<symbol>@trade` (`e` = `trade`), as recorded by hftbacktest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Trade<'a> {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_time_ms: u64,
    /// Trade time, ms.
    #[serde(rename = "T")]
    pub trade_time_ms: u64,
    /// Symbol.
    #[serde(rename = "s", borrow)]
    pub symbol: &'a str,
    /// Trade id.
    #[serde(rename = "t")]
    pub trade_id: u64,
    /// Price.
    #[serde(rename = "p", borrow)]
    pub price: &'a str,
    /// Quantity.
    #[serde(rename = "q", borrow)]
    pub qty: &'a str,
    /// Trade type (`MARKET`, `INSURANCE_FUND`, `ADL`), when sent.
    #[serde(rename = "X", default, borrow)]
    pub kind: Option<&'a str>,
    /// Whether the buyer was the maker.
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// One market-data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Diff depth.
    DepthUpdate(DepthUpdate<'a>),
    /// Best bid/offer.
    BookTicker(BookTicker<'a>),
    /// Aggregate trade.
    AggTrade(AggTrade<'a>),
    /// Single trade.
    Trade(Trade<'a>),
}

impl Message<'_> {
    /// The symbol the message is about.
    pub fn symbol(&self) -> &str {
        match self {
            Message::DepthUpdate(m) => m.symbol,
            Message::BookTicker(m) => m.symbol,
            Message::AggTrade(m) => m.symbol,
            Message::Trade(m) => m.symbol,
        }
    }
}

#[derive(Deserialize)]
struct EventType<'a> {
    #[serde(default, borrow)]
    e: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Depth,
    BookTicker,
    AggTrade,
    Trade,
}

const NOT_AN_EVENT: Error = Error::Protocol {
    venue: Venue::Binance,
    what: "a frame with neither an event type `e` nor a combined-stream `data`",
};

/// Parses a WebSocket frame: a combined-stream envelope `{"stream":..,"data":..}` or a
/// bare event payload. Unknown event types are [`Error::Unsupported`].
///
/// An envelope whose `stream` comes before `data` (as Binance sends it) is parsed in
/// one pass, straight into the DTO the stream name calls for; otherwise `data` is
/// kept raw and parsed once its kind is known.
pub fn parse_message(text: &str) -> Result<Message<'_>, Error> {
    let frame: Frame<'_> = serde_json::from_str(text).map_err(json_error)?;
    match frame {
        Frame::Parsed(message) => Ok(message),
        Frame::Raw { stream, data } => {
            let kind = match stream.and_then(kind_of_stream) {
                Some(kind) => kind,
                None => {
                    let peek: EventType<'_> =
                        serde_json::from_str(data.get()).map_err(json_error)?;
                    kind_of_event(peek.e.ok_or(NOT_AN_EVENT)?)?
                }
            };
            parse_payload(data.get(), kind)
        }
        Frame::Bare { event } => parse_payload(text, kind_of_event(event.ok_or(NOT_AN_EVENT)?)?),
    }
}

fn parse_payload(payload: &str, kind: Kind) -> Result<Message<'_>, Error> {
    Ok(match kind {
        Kind::Depth => Message::DepthUpdate(from_json(payload)?),
        Kind::BookTicker => Message::BookTicker(from_json(payload)?),
        Kind::AggTrade => Message::AggTrade(from_json(payload)?),
        Kind::Trade => Message::Trade(from_json(payload)?),
    })
}

/// The first pass over a frame.
enum Frame<'a> {
    /// An envelope whose payload was parsed on the way.
    Parsed(Message<'a>),
    /// An envelope whose payload is still raw (`data` before `stream`, or a stream
    /// name that does not say the kind).
    Raw {
        stream: Option<&'a str>,
        data: &'a RawValue,
    },
    /// A bare payload and its event type.
    Bare { event: Option<&'a str> },
}

impl<'de> Deserialize<'de> for Frame<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FrameVisitor)
    }
}

struct FrameVisitor;

impl<'de> serde::de::Visitor<'de> for FrameVisitor {
    type Value = Frame<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Binance market-data frame (a JSON object)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut stream: Option<&'de str> = None;
        let mut parsed = None;
        let mut raw = None;
        let mut event = None;
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "stream" => stream = Some(map.next_value()?),
                "data" => match stream.and_then(kind_of_stream) {
                    Some(kind) if parsed.is_none() && raw.is_none() => {
                        parsed = Some(map.next_value_seed(PayloadSeed(kind))?);
                    }
                    _ => raw = Some(map.next_value::<&'de RawValue>()?),
                },
                "e" => event = Some(map.next_value()?),
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(match (parsed, raw) {
            (_, Some(data)) => Frame::Raw { stream, data },
            (Some(message), None) => Frame::Parsed(message),
            (None, None) => Frame::Bare { event },
        })
    }
}

/// Deserializes a payload whose kind is already known.
struct PayloadSeed(Kind);

impl<'de> serde::de::DeserializeSeed<'de> for PayloadSeed {
    type Value = Message<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(match self.0 {
            Kind::Depth => Message::DepthUpdate(DepthUpdate::deserialize(d)?),
            Kind::BookTicker => Message::BookTicker(BookTicker::deserialize(d)?),
            Kind::AggTrade => Message::AggTrade(AggTrade::deserialize(d)?),
            Kind::Trade => Message::Trade(Trade::deserialize(d)?),
        })
    }
}

/// Parses a REST depth snapshot body.
pub fn parse_depth_snapshot(text: &str) -> Result<DepthSnapshot<'_>, Error> {
    from_json(text)
}

fn from_json<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(json_error)
}

fn json_error(source: serde_json::Error) -> Error {
    Error::Json {
        venue: Venue::Binance,
        source,
    }
}

/// The event kind from a combined-stream name (`btcusdt@depth@100ms`).
fn kind_of_stream(stream: &str) -> Option<Kind> {
    let (_, channel) = stream.split_once('@')?;
    let channel = channel.split('@').next().unwrap_or(channel);
    match channel {
        "depth" => Some(Kind::Depth),
        "bookTicker" => Some(Kind::BookTicker),
        "aggTrade" => Some(Kind::AggTrade),
        "trade" => Some(Kind::Trade),
        _ => None,
    }
}

fn kind_of_event(event: &str) -> Result<Kind, Error> {
    match event {
        "depthUpdate" => Ok(Kind::Depth),
        "bookTicker" => Ok(Kind::BookTicker),
        "aggTrade" => Ok(Kind::AggTrade),
        "trade" => Ok(Kind::Trade),
        other => Err(Error::Unsupported {
            venue: Venue::Binance,
            kind: clip(other),
        }),
    }
}

/// REST `GET /fapi/v1/exchangeInfo`, reduced to what instrument setup needs. Owned:
/// it is read once at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ExchangeInfo {
    /// Listed symbols.
    pub symbols: Vec<SymbolInfo>,
}

/// One symbol of `exchangeInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolInfo {
    /// Symbol (`BTCUSDT`).
    pub symbol: String,
    /// Contract status (`TRADING`, `SETTLING`, ...).
    #[serde(default)]
    pub status: String,
    /// `PERPETUAL`, `CURRENT_QUARTER`, ...
    #[serde(default)]
    pub contract_type: String,
    /// Base asset.
    #[serde(default)]
    pub base_asset: String,
    /// Quote asset.
    #[serde(default)]
    pub quote_asset: String,
    /// Filters (`PRICE_FILTER`, `LOT_SIZE`, ...).
    #[serde(default)]
    pub filters: Vec<SymbolFilter>,
}

/// One filter of a symbol; fields that a filter type lacks are `None`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolFilter {
    /// Filter type.
    pub filter_type: String,
    /// `PRICE_FILTER` tick.
    #[serde(default)]
    pub tick_size: Option<String>,
    /// `LOT_SIZE` / `MARKET_LOT_SIZE` step.
    #[serde(default)]
    pub step_size: Option<String>,
    /// `LOT_SIZE` minimum quantity.
    #[serde(default)]
    pub min_qty: Option<String>,
    /// `MIN_NOTIONAL` smallest order value in the quote asset.
    #[serde(default)]
    pub notional: Option<String>,
}

impl SymbolInfo {
    /// The text of a field of the first filter of type `filter_type`.
    fn filter_field(
        &self,
        filter_type: &str,
        field: fn(&SymbolFilter) -> Option<&String>,
    ) -> Option<&str> {
        self.filters
            .iter()
            .find(|f| f.filter_type == filter_type)
            .and_then(field)
            .map(String::as_str)
    }

    /// `PRICE_FILTER.tickSize`.
    pub fn tick_size(&self) -> Option<&str> {
        self.filter_field("PRICE_FILTER", |f| f.tick_size.as_ref())
    }

    /// `LOT_SIZE.stepSize`.
    pub fn step_size(&self) -> Option<&str> {
        self.filter_field("LOT_SIZE", |f| f.step_size.as_ref())
    }

    /// `LOT_SIZE.minQty`.
    pub fn min_qty(&self) -> Option<&str> {
        self.filter_field("LOT_SIZE", |f| f.min_qty.as_ref())
    }

    /// `MIN_NOTIONAL.notional`.
    pub fn min_notional(&self) -> Option<&str> {
        self.filter_field("MIN_NOTIONAL", |f| f.notional.as_ref())
    }
}

/// Parses an `exchangeInfo` body.
pub fn parse_exchange_info(text: &str) -> Result<ExchangeInfo, Error> {
    from_json(text)
}
