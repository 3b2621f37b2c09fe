//! Binance USDⓈ-M JSON, exactly as the venue spells it (`../shared/VENUES.md` §1.2–1.4,
//! §1.9): combined-stream envelopes `{"stream":..,"data":..}`, event payloads with
//! their one-letter fields, REST bodies, error bodies. Prices and quantities are
//! decimal strings with the symbol's decimals, written from fixed point.

use super::market::{Event, SymbolSpec};
use crate::book::BookImage;
use crate::text::{fixed, write_fixed};
use propbot_engine::model::{Level, NOTIONAL_SCALE, Price, Qty};
use propbot_engine::time::UnixNanos;
use serde::Serialize;
use serde::ser::SerializeSeq;

/// A stream of one symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    /// `<symbol>@depth@100ms`.
    Depth,
    /// `<symbol>@bookTicker`.
    BookTicker,
    /// `<symbol>@aggTrade`.
    AggTrade,
}

impl Channel {
    /// Every channel, in key order.
    pub const ALL: [Channel; 3] = [Channel::Depth, Channel::BookTicker, Channel::AggTrade];

    /// The stream name suffix after `<symbol>@`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Channel::Depth => "depth@100ms",
            Channel::BookTicker => "bookTicker",
            Channel::AggTrade => "aggTrade",
        }
    }

    /// The channel a stream suffix names.
    pub fn from_suffix(suffix: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.suffix() == suffix)
    }

    /// Index in [`Channel::ALL`].
    pub const fn index(self) -> u32 {
        match self {
            Channel::Depth => 0,
            Channel::BookTicker => 1,
            Channel::AggTrade => 2,
        }
    }
}

/// The channel of an event.
pub fn channel_of(event: &Event) -> (usize, Channel) {
    match event {
        Event::Depth { symbol, .. } => (*symbol, Channel::Depth),
        Event::BookTicker { symbol, .. } => (*symbol, Channel::BookTicker),
        Event::AggTrade { symbol, .. } => (*symbol, Channel::AggTrade),
    }
}

/// Levels as `[["price","qty"],...]`.
struct Levels<'a> {
    levels: &'a [Level],
    spec: &'a SymbolSpec,
}

impl Serialize for Levels<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.levels.len()))?;
        for level in self.levels {
            seq.serialize_element(&[price(self.spec, level.price), qty(self.spec, level.qty)])?;
        }
        seq.end()
    }
}

fn price(spec: &SymbolSpec, price: Price) -> String {
    fixed(price.raw(), spec.scales.price, spec.price_decimals)
}

fn qty(spec: &SymbolSpec, qty: Qty) -> String {
    fixed(qty.raw(), spec.scales.qty, spec.qty_decimals)
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    stream: &'a str,
    data: T,
}

#[derive(Serialize)]
struct DepthUpdate<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
    #[serde(rename = "T")]
    transaction_time: u64,
    s: &'a str,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    pu: u64,
    b: Levels<'a>,
    a: Levels<'a>,
}

#[derive(Serialize)]
struct BookTicker<'a> {
    e: &'static str,
    u: u64,
    s: &'a str,
    b: String,
    #[serde(rename = "B")]
    bid_qty: String,
    a: String,
    #[serde(rename = "A")]
    ask_qty: String,
    #[serde(rename = "T")]
    transaction_time: u64,
    #[serde(rename = "E")]
    event_time: u64,
}

#[derive(Serialize)]
struct AggTrade<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    a: u64,
    p: String,
    q: String,
    f: u64,
    l: u64,
    #[serde(rename = "T")]
    trade_time: u64,
    m: bool,
}

/// Renders `event` as a combined-stream frame; `ms` turns market time into the
/// venue's clock (with its offset).
pub fn render(event: &Event, spec: &SymbolSpec, ms: impl Fn(UnixNanos) -> u64) -> String {
    let (_, channel) = channel_of(event);
    let stream = format!("{}@{}", spec.stream_symbol, channel.suffix());
    let s = spec.symbol.as_str();
    match event {
        Event::Depth { window, at, .. } => to_json(&Envelope {
            stream: &stream,
            data: DepthUpdate {
                e: "depthUpdate",
                event_time: ms(*at),
                transaction_time: ms(window.changed_at),
                s,
                first: window.first,
                u: window.last,
                pu: window.previous,
                b: Levels {
                    levels: &window.bids,
                    spec,
                },
                a: Levels {
                    levels: &window.asks,
                    spec,
                },
            },
        }),
        Event::BookTicker {
            update_id, top, at, ..
        } => to_json(&Envelope {
            stream: &stream,
            data: BookTicker {
                e: "bookTicker",
                u: *update_id,
                s,
                b: price(spec, top.bid),
                bid_qty: qty(spec, top.bid_qty),
                a: price(spec, top.ask),
                ask_qty: qty(spec, top.ask_qty),
                transaction_time: ms(*at),
                event_time: ms(*at),
            },
        }),
        Event::AggTrade {
            aggregate_id,
            first_trade_id,
            last_trade_id,
            price: p,
            qty: q,
            buyer_is_maker,
            at,
            ..
        } => to_json(&Envelope {
            stream: &stream,
            data: AggTrade {
                e: "aggTrade",
                event_time: ms(*at),
                s,
                a: *aggregate_id,
                p: price(spec, *p),
                q: qty(spec, *q),
                f: *first_trade_id,
                l: *last_trade_id,
                trade_time: ms(*at),
                m: *buyer_is_maker,
            },
        }),
    }
}

/// `GET /fapi/v1/depth` body.
pub fn depth_body(
    image: &BookImage,
    spec: &SymbolSpec,
    event_ms: u64,
    transaction_ms: u64,
) -> String {
    #[derive(Serialize)]
    struct Depth<'a> {
        #[serde(rename = "lastUpdateId")]
        last_update_id: u64,
        #[serde(rename = "E")]
        event_time: u64,
        #[serde(rename = "T")]
        transaction_time: u64,
        bids: Levels<'a>,
        asks: Levels<'a>,
    }
    to_json(&Depth {
        last_update_id: image.last_update_id,
        event_time: event_ms,
        transaction_time: transaction_ms,
        bids: Levels {
            levels: &image.bids,
            spec,
        },
        asks: Levels {
            levels: &image.asks,
            spec,
        },
    })
}

/// `GET /fapi/v1/time` body.
pub fn time_body(server_ms: u64) -> String {
    format!("{{\"serverTime\":{server_ms}}}")
}

/// An error body `{"code":-1121,"msg":"Invalid symbol."}`.
pub fn error_body(code: i32, msg: &str) -> String {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        code: i32,
        msg: &'a str,
    }
    to_json(&ErrorBody { code, msg })
}

/// `GET /fapi/v1/exchangeInfo` body: the fields the venue sends that instrument
/// set-up and the adapters read, with the venue's names and shapes.
pub fn exchange_info_body<'a>(
    specs: impl Iterator<Item = &'a SymbolSpec>,
    server_ms: u64,
    weight_per_minute: u32,
) -> String {
    let symbols: Vec<serde_json::Value> = specs.map(symbol_info).collect();
    let body = serde_json::json!({
        "timezone": "UTC",
        "serverTime": server_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_per_minute},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    });
    body.to_string()
}

fn symbol_info(spec: &SymbolSpec) -> serde_json::Value {
    let step = qty(spec, spec.lot);
    let mut notional = String::new();
    write_fixed(&mut notional, spec.min_notional.raw(), NOTIONAL_SCALE, 0);
    serde_json::json!({
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4_133_404_800_000_u64,
        "onboardDate": 1_569_398_400_000_u64,
        "status": spec.status,
        "baseAsset": spec.base_asset,
        "quoteAsset": spec.quote_asset,
        "marginAsset": spec.quote_asset,
        "pricePrecision": spec.price_decimals,
        "quantityPrecision": spec.qty_decimals,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": price(spec, spec.tick), "maxPrice": "4529764", "tickSize": price(spec, spec.tick)},
            {"filterType": "LOT_SIZE", "stepSize": step, "maxQty": "1000", "minQty": qty(spec, spec.min_qty)},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": step, "maxQty": "120", "minQty": qty(spec, spec.min_qty)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": notional},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    })
}

/// Serializing these types cannot fail (string keys, no maps of other keys).
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
