//! OKX v5 JSON, as the venue spells it (`../shared/VENUES.md` §2.1, §2.3, §2.7, §2.8):
//! pushes `{"arg":{..},"action":..,"data":[..]}`, levels `[px, sz, "0", orders]` with
//! sizes in contracts, the CRC32 checksum of the top 25 levels as a signed integer,
//! event acknowledgements and errors, REST bodies `{"code":"0","msg":"","data":[..]}`.
//! Numbers are printed without trailing zeros, as OKX does.

use super::market::{Event, InstrumentSpecOkx};
use crate::book::BookImage;
use crate::text::fixed;
use propbot_engine::model::{Level, Price, Qty, Side};
use propbot_engine::time::UnixNanos;
use serde::Serialize;
use serde_json::{Value, json};

/// Levels per side the `books` checksum covers.
pub const CHECKSUM_DEPTH: usize = 25;

/// Levels per side a `books` snapshot sends.
pub const SNAPSHOT_DEPTH: usize = 400;

/// A public channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    /// `books`: 400 levels, snapshot then 100 ms updates.
    Books,
    /// `bbo-tbt`: the top, on every change.
    BboTbt,
    /// `trades`.
    Trades,
}

impl Channel {
    /// Every channel, in key order.
    pub const ALL: [Channel; 3] = [Channel::Books, Channel::BboTbt, Channel::Trades];

    /// The channel name.
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Books => "books",
            Channel::BboTbt => "bbo-tbt",
            Channel::Trades => "trades",
        }
    }

    /// The channel called `name`.
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Index in [`Channel::ALL`].
    pub const fn index(self) -> u32 {
        match self {
            Channel::Books => 0,
            Channel::BboTbt => 1,
            Channel::Trades => 2,
        }
    }
}

/// The instrument and channel of an event.
pub fn channel_of(event: &Event) -> (usize, Channel) {
    match event {
        Event::Books { index, .. } => (*index, Channel::Books),
        Event::Bbo { index, .. } => (*index, Channel::BboTbt),
        Event::Trade { index, .. } => (*index, Channel::Trades),
    }
}

fn price(spec: &InstrumentSpecOkx, price: Price) -> String {
    fixed(price.raw(), spec.scales.price, 0)
}

fn size(spec: &InstrumentSpecOkx, qty: Qty) -> String {
    let (contracts, decimals) = spec.contracts_exact(qty);
    fixed(contracts, decimals, 0)
}

/// `[px, sz, "0", orders]`; the order count is a function of the size (one to eight
/// orders), zero for a deleted level.
fn level(spec: &InstrumentSpecOkx, level: &Level) -> [String; 4] {
    let lots = level.qty.raw() / spec.lot.raw().max(1);
    let orders = if lots == 0 { 0 } else { 1 + lots % 8 };
    [
        price(spec, level.price),
        size(spec, level.qty),
        "0".to_owned(),
        orders.to_string(),
    ]
}

fn levels(spec: &InstrumentSpecOkx, levels: &[Level]) -> Vec<[String; 4]> {
    levels.iter().map(|l| level(spec, l)).collect()
}

/// The checksum of a book as OKX computes it: CRC32 of
/// `bid1.px:bid1.sz:ask1.px:ask1.sz:...` over the top 25 of each side (a shorter
/// side's missing entries skipped), from the texts as sent, as a signed 32-bit integer.
pub fn checksum(spec: &InstrumentSpecOkx, book: &BookImage) -> i32 {
    let mut text = String::with_capacity(CHECKSUM_DEPTH * 64);
    let mut push = |l: &Level| {
        if !text.is_empty() {
            text.push(':');
        }
        text.push_str(&price(spec, l.price));
        text.push(':');
        text.push_str(&size(spec, l.qty));
    };
    for k in 0..CHECKSUM_DEPTH {
        let (bid, ask) = (book.bids.get(k), book.asks.get(k));
        if bid.is_none() && ask.is_none() {
            break;
        }
        bid.into_iter().chain(ask).for_each(&mut push);
    }
    // The venue compares the CRC as a signed integer: the bits, reinterpreted.
    crc32fast::hash(text.as_bytes()) as i32
}

/// `{"channel":..,"instId":..}`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Arg<'a> {
    /// The channel name.
    pub channel: &'a str,
    /// The instrument.
    #[serde(rename = "instId")]
    pub inst_id: &'a str,
}

/// A push, fields in the venue's order.
#[derive(Serialize)]
struct Push<'a, D> {
    arg: Arg<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    data: [D; 1],
}

#[derive(Serialize)]
struct BookData {
    asks: Vec<[String; 4]>,
    bids: Vec<[String; 4]>,
    ts: String,
    checksum: i32,
    #[serde(rename = "prevSeqId")]
    prev_seq_id: i64,
    #[serde(rename = "seqId")]
    seq_id: u64,
}

#[derive(Serialize)]
struct BboData {
    asks: [[String; 4]; 1],
    bids: [[String; 4]; 1],
    ts: String,
    #[serde(rename = "seqId")]
    seq_id: u64,
}

#[derive(Serialize)]
struct TradeData<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    #[serde(rename = "tradeId")]
    trade_id: String,
    px: String,
    sz: String,
    side: &'static str,
    ts: String,
    count: &'static str,
}

fn arg(spec: &InstrumentSpecOkx, channel: Channel) -> Arg<'_> {
    Arg {
        channel: channel.name(),
        inst_id: &spec.inst_id,
    }
}

/// Serializing these types cannot fail (string keys only).
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A `books` push: `action` snapshot (`prevSeqId` -1) or update.
pub fn books(
    spec: &InstrumentSpecOkx,
    snapshot: bool,
    bids: &[Level],
    asks: &[Level],
    sequence: (i64, u64),
    checksum: i32,
    ts_ms: u64,
) -> String {
    let (prev_seq_id, seq_id) = sequence;
    to_json(&Push {
        arg: arg(spec, Channel::Books),
        action: Some(if snapshot { "snapshot" } else { "update" }),
        data: [BookData {
            asks: levels(spec, asks),
            bids: levels(spec, bids),
            ts: ts_ms.to_string(),
            checksum,
            prev_seq_id,
            seq_id,
        }],
    })
}

/// Renders a `bbo-tbt` or `trades` event (`books` updates need the checksum: see
/// [`books`]).
pub fn render(event: &Event, spec: &InstrumentSpecOkx, ms: impl Fn(UnixNanos) -> u64) -> String {
    match event {
        Event::Bbo {
            seq_id, top, at, ..
        } => {
            let bid = Level {
                price: top.bid,
                qty: top.bid_qty,
            };
            let ask = Level {
                price: top.ask,
                qty: top.ask_qty,
            };
            to_json(&Push {
                arg: arg(spec, Channel::BboTbt),
                action: None,
                data: [BboData {
                    asks: [level(spec, &ask)],
                    bids: [level(spec, &bid)],
                    ts: ms(*at).to_string(),
                    seq_id: *seq_id,
                }],
            })
        }
        Event::Trade {
            trade_id,
            price: p,
            qty,
            side,
            at,
            ..
        } => to_json(&Push {
            arg: arg(spec, Channel::Trades),
            action: None,
            data: [TradeData {
                inst_id: &spec.inst_id,
                trade_id: trade_id.to_string(),
                px: price(spec, *p),
                sz: size(spec, *qty),
                side: if *side == Side::Buy { "buy" } else { "sell" },
                ts: ms(*at).to_string(),
                count: "1",
            }],
        }),
        Event::Books { .. } => String::new(),
    }
}

/// An event: acknowledgement (`subscribe`, `unsubscribe`), error or notice, fields in
/// the venue's order.
#[derive(Serialize)]
struct EventReply<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arg: Option<Arg<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg: Option<&'a str>,
    #[serde(rename = "connId", skip_serializing_if = "Option::is_none")]
    conn_id: Option<&'a str>,
}

/// An event acknowledgement (`subscribe`, `unsubscribe`).
pub fn ack(id: Option<&str>, event: &str, arg: Arg<'_>, conn_id: &str) -> String {
    to_json(&EventReply {
        id,
        event,
        arg: Some(arg),
        code: None,
        msg: None,
        conn_id: Some(conn_id),
    })
}

/// An error event.
pub fn error(id: Option<&str>, code: &str, msg: &str, conn_id: &str) -> String {
    to_json(&EventReply {
        id,
        event: "error",
        arg: None,
        code: Some(code),
        msg: Some(msg),
        conn_id: Some(conn_id),
    })
}

/// The 64008 notice sent 60 s before a service upgrade closes the connection.
pub fn upgrade_notice() -> String {
    to_json(&EventReply {
        id: None,
        event: "notice",
        arg: None,
        code: Some("64008"),
        msg: Some("The connection will soon be closed for a service upgrade. Please reconnect."),
        conn_id: None,
    })
}

/// A REST body `{"code":"0","msg":"","data":[..]}` (the elements of `data` are sorted
/// by key, as OKX's are).
pub fn rest(code: &str, msg: &str, data: Value) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        code: &'a str,
        msg: &'a str,
        data: Value,
    }
    to_json(&Body { code, msg, data })
}

/// One `GET /api/v5/public/instruments` element.
pub fn instrument(spec: &InstrumentSpecOkx) -> Value {
    let contracts = |qty: Qty| size(spec, qty);
    json!({
        "instType": "SWAP",
        "instId": spec.inst_id,
        "uly": spec.family,
        "instFamily": spec.family,
        "baseCcy": "",
        "quoteCcy": "",
        "settleCcy": spec.settle_ccy,
        "ctVal": fixed(spec.contract_value.raw(), spec.scales.qty, 0),
        "ctMult": "1",
        "ctValCcy": spec.base_ccy,
        "ctType": "linear",
        "tickSz": price(spec, spec.tick),
        "lotSz": contracts(spec.lot),
        "minSz": contracts(spec.min_qty),
        "maxLmtSz": "100000000",
        "maxMktSz": "12000",
        "lever": "100",
        "listTime": "1611916828000",
        "expTime": "",
        "state": spec.state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::model::{InstrumentId, Scales};

    fn spec() -> InstrumentSpecOkx {
        InstrumentSpecOkx {
            instrument: InstrumentId(0),
            inst_id: "ETH-USDT-SWAP".into(),
            family: "ETH-USDT".into(),
            base_ccy: "ETH".into(),
            settle_ccy: "USDT".into(),
            scales: Scales { price: 1, qty: 0 },
            tick: Price::from_raw(1),
            lot: Qty::from_raw(1),
            min_qty: Qty::from_raw(1),
            contract_value: Qty::from_raw(1),
            contract_decimals: 0,
            state: "live".into(),
        }
    }

    fn level(price: i64, qty: i64) -> Level {
        Level {
            price: Price::from_raw(price),
            qty: Qty::from_raw(qty),
        }
    }

    /// The worked examples of VENUES.md §2.3.
    #[test]
    fn checksums_match_the_documented_examples() {
        let book = BookImage {
            bids: vec![level(33_661, 7), level(33_660, 6)],
            asks: vec![level(33_668, 9), level(33_680, 8)],
            ..BookImage::default()
        };
        assert_eq!(checksum(&spec(), &book), -1_881_014_294);
        let book = BookImage {
            bids: vec![level(33_661, 7)],
            asks: vec![level(33_668, 9), level(33_680, 8), level(33_720, 8)],
            ..BookImage::default()
        };
        assert_eq!(checksum(&spec(), &book), 831_078_360);
    }
}
