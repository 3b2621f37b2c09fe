//! The domain vocabulary: venues, instruments, sides, order identities and states.

mod fixed;

pub use fixed::{
    CENTIBPS_PER_UNIT, CentiBps, Decimal, DecimalError, MoneyOverflow, NOTIONAL_ONE,
    NOTIONAL_SCALE, Notional, Price, Qty, SCALE_MAX, notional_of, parse_decimal,
    parse_unsigned_decimal, pow10, qty_for_notional,
};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A trading venue PropBot connects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Venue {
    /// Binance USDⓈ-M futures.
    #[serde(rename = "binance-um")]
    Binance,
    /// OKX v5 perpetual swaps.
    #[serde(rename = "okx-swap")]
    Okx,
}

impl Venue {
    /// Every venue, in index order.
    pub const ALL: [Venue; 2] = [Venue::Binance, Venue::Okx];
    /// Number of venues.
    pub const COUNT: usize = 2;

    /// Dense index for arrays.
    pub const fn index(self) -> usize {
        match self {
            Venue::Binance => 0,
            Venue::Okx => 1,
        }
    }

    /// The name operators use (`binance-um`, `okx-swap`).
    pub const fn name(self) -> &'static str {
        match self {
            Venue::Binance => "binance-um",
            Venue::Okx => "okx-swap",
        }
    }

    /// Parses an operator-facing venue name.
    pub fn from_name(name: &str) -> Option<Venue> {
        match name {
            "binance-um" | "binance" => Some(Venue::Binance),
            "okx-swap" | "okx" => Some(Venue::Okx),
            _ => None,
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An economic instrument, e.g. the BTC/USDT linear perpetual, as an index into the
/// configured instrument list. BTCUSDT on Binance and BTC-USDT-SWAP on OKX are the same
/// `InstrumentId` with different venue listings (symbol, tick, lot, contract value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstrumentId(pub u16);

impl InstrumentId {
    /// Dense index for arrays.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Decimals of an instrument's prices and base quantities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scales {
    /// Decimals of [`Price`].
    pub price: u8,
    /// Decimals of [`Qty`].
    pub qty: u8,
}

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    /// Buy: increases a position.
    Buy,
    /// Sell: decreases a position.
    Sell,
}

impl Side {
    /// The other side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// `+1` for buy, `-1` for sell.
    pub const fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    /// Upper-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// Whether a fill added liquidity (maker) or took it (taker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Liquidity {
    /// Rested on the book and was hit.
    Maker,
    /// Crossed the spread.
    Taker,
}

/// How long an order may rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeInForce {
    /// Immediate or cancel: fill what crosses now, cancel the rest.
    Ioc,
    /// Good till cancelled.
    Gtc,
    /// Post-only (Binance `GTX`, OKX `post_only`): rejected if it would take.
    PostOnly,
}

/// A client order id: the leader epoch plus a sequence number within it.
///
/// Rendered as `P<epoch hex>S<sequence hex>`: at most 26 characters of `[A-Za-z0-9]`,
/// which is valid on both Binance (`^[\.A-Z\:/a-z0-9_-]{1,36}$`) and OKX (≤ 32
/// alphanumerics). Because the epoch grows at every start and at every leadership
/// change, ids never repeat across restarts or leaders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientOrderId {
    /// Leader epoch that created the order.
    pub epoch: u32,
    /// Sequence number within the epoch, from 1.
    pub sequence: u64,
}

/// Longest rendered client order id.
pub const CLIENT_ORDER_ID_LEN_MAX: usize = 26;

impl ClientOrderId {
    /// Writes the rendered id into `buf` and returns it as text, without allocating.
    pub fn render<'b>(&self, buf: &'b mut [u8; 32]) -> &'b str {
        let mut len = 0;
        buf[len] = b'P';
        len += 1;
        len += write_hex(u64::from(self.epoch), &mut buf[len..]);
        buf[len] = b'S';
        len += 1;
        len += write_hex(self.sequence, &mut buf[len..]);
        std::str::from_utf8(&buf[..len]).expect("hex digits are ASCII")
    }

    /// Parses a rendered id; `None` for ids PropBot did not create.
    pub fn parse(text: &str) -> Option<ClientOrderId> {
        let rest = text.strip_prefix('P')?;
        let (epoch, sequence) = rest.split_once('S')?;
        if epoch.is_empty() || sequence.is_empty() || epoch.len() > 8 || sequence.len() > 16 {
            return None;
        }
        let lower_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower_hex(epoch) || !lower_hex(sequence) {
            return None;
        }
        Some(ClientOrderId {
            epoch: u32::from_str_radix(epoch, 16).ok()?,
            sequence: u64::from_str_radix(sequence, 16).ok()?,
        })
    }
}

fn write_hex(mut value: u64, out: &mut [u8]) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    let mut n = 0;
    loop {
        tmp[n] = DIGITS[(value & 0xf) as usize];
        n += 1;
        value >>= 4;
        if value == 0 {
            break;
        }
    }
    for i in 0..n {
        out[i] = tmp[n - 1 - i];
    }
    n
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        f.write_str(self.render(&mut buf))
    }
}

/// The venue's own order id (numeric on both venues).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VenueOrderId(pub u64);

/// The venue's id of one fill (Binance `t`, OKX `tradeId`), unique per venue and symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TradeId(pub u64);

/// What the engine knows about an order. Each state says exactly what is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderState {
    /// Sent (or about to be); the venue has not acknowledged it yet.
    NewInFlight,
    /// Acknowledged and resting (possibly partly filled).
    Open,
    /// A cancel was sent; the venue has not confirmed it yet.
    CancelInFlight,
    /// Completely filled. Terminal.
    Filled,
    /// Cancelled or expired with the rest unfilled. Terminal.
    Cancelled,
    /// Refused by the venue. Terminal.
    Rejected,
    /// The outcome of a request is unknown (timeout, 503): it must be looked up, never
    /// re-sent blind.
    Unknown,
}

impl OrderState {
    /// Whether no further report can change the order.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Filled | OrderState::Cancelled | OrderState::Rejected
        )
    }

    /// Name used in exports and status.
    pub const fn name(self) -> &'static str {
        match self {
            OrderState::NewInFlight => "NewInFlight",
            OrderState::Open => "Open",
            OrderState::CancelInFlight => "CancelInFlight",
            OrderState::Filled => "Filled",
            OrderState::Cancelled => "Cancelled",
            OrderState::Rejected => "Rejected",
            OrderState::Unknown => "Unknown",
        }
    }
}

/// One price level of a book update: an absolute quantity at a price; zero deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Level {
    /// Level price.
    pub price: Price,
    /// Absolute resting quantity at that price (base units); `Qty::ZERO` removes it.
    pub qty: Qty,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn client_order_id_is_valid_on_both_venues() {
        let id = ClientOrderId {
            epoch: u32::MAX,
            sequence: u64::MAX,
        };
        let text = id.to_string();
        assert_eq!(text.len(), CLIENT_ORDER_ID_LEN_MAX);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(ClientOrderId::parse(&text), Some(id));
        assert_eq!(
            ClientOrderId {
                epoch: 3,
                sequence: 26
            }
            .to_string(),
            "P3S1a"
        );
    }

    #[test]
    fn foreign_client_ids_do_not_parse() {
        for text in [
            "",
            "P",
            "PS1",
            "P1S",
            "x1S2",
            "P1S2-",
            "P1SZZ",
            "web_order_1",
        ] {
            assert_eq!(ClientOrderId::parse(text), None, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn client_order_id_round_trips(epoch: u32, sequence: u64) {
            let id = ClientOrderId { epoch, sequence };
            let text = id.to_string();
            prop_assert!(text.len() <= 32);
            prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric()));
            prop_assert_eq!(ClientOrderId::parse(&text), Some(id));
        }
    }
}
