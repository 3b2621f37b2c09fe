//! The ledger: fills, fees, positions per venue and instrument, realised, unrealised
//! and daily PnL.
//!
//! Sign conventions:
//! - A position is a signed base quantity: long > 0, short < 0.
//! - A fee is positive when we pay it and negative when it is a rebate (Binance's `n`
//!   is already a positive cost; OKX reports the opposite sign, and the venue layer
//!   negates it before it reaches the engine). When a fill carries no fee, the ledger
//!   charges the venue's configured maker or taker rate, rounded against us.
//! - Realised PnL excludes fees; `net` figures subtract them.
//!
//! Cost basis is average cost, kept exactly as an `i128` in price×quantity units, so
//! the realised PnL of a position that returns to zero carries no rounding residue.
//! The position always equals the sum of its fills; this is asserted on every fill.
//!
//! Booking is checked arithmetic: a fill whose fee, position, volume or PnL would not
//! fit its integer type is refused with [`MoneyOverflow`] and changes nothing, so the
//! caller can report it (the venue sent something absurd, or the journal is corrupt).
//! Positions are bounded by [`POSITION_ABS_MAX`], so the sum of a pair's two venue
//! positions and its absolute value always fit an `i64`. Totals across positions
//! (PnL, exposure) saturate instead: see [`Ledger::totals`].

use crate::model::{
    CentiBps, InstrumentId, Liquidity, MoneyOverflow, NOTIONAL_SCALE, Notional, Price, Qty, Scales,
    Side, TradeId, Venue, pow10,
};
use crate::time::UnixNanos;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

/// Largest absolute position (raw units) the ledger books: a quarter of the `i64`
/// range, so a pair's net position (the sum of two) and its absolute value always fit.
/// No real position comes near it (2.3e15 BTC at a scale of 3 decimals).
pub const POSITION_ABS_MAX: i64 = i64::MAX / 4;

/// One execution as the ledger books it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fill {
    /// Venue of the fill.
    pub venue: Venue,
    /// Instrument filled.
    pub instrument: InstrumentId,
    /// Venue trade id (dedupe key with venue and instrument).
    pub trade_id: TradeId,
    /// Our side.
    pub side: Side,
    /// Fill price.
    pub price: Price,
    /// Filled base quantity (positive).
    pub qty: Qty,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// Fee as charged, positive = paid; `None` to charge the configured rate.
    pub fee: Option<Notional>,
}

/// Maker and taker fee rates of one venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeRates {
    /// Rate for maker fills (negative for a rebate).
    pub maker: CentiBps,
    /// Rate for taker fills.
    pub taker: CentiBps,
}

/// Position and PnL of one venue and instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Position {
    /// Signed base quantity.
    pub qty: Qty,
    /// Cost of the open position in price×qty units (same sign as `qty`).
    cost: i128,
    /// Realised PnL in price×qty units, before fees.
    realized: i128,
    /// Fees paid (positive) or received (negative).
    pub fees: Notional,
    /// Sum of bought quantity.
    pub bought: Qty,
    /// Sum of sold quantity.
    pub sold: Qty,
    /// Number of fills booked.
    pub fills: u64,
}

/// Outcome of booking a fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Booked {
    /// New fill, booked with this fee.
    Booked {
        /// Fee charged.
        fee: Notional,
    },
    /// The trade id was already booked: a duplicate report, ignored.
    Duplicate,
}

/// Totals across all positions, in notional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PnlTotals {
    /// Realised PnL before fees.
    pub realized: Notional,
    /// Unrealised PnL at the marks given.
    pub unrealized: Notional,
    /// Fees paid.
    pub fees: Notional,
    /// `realized + unrealized - fees`.
    pub net: Notional,
    /// Gross exposure: Σ |position| × mark.
    pub gross_exposure: Notional,
    /// The largest gross exposure of one instrument (both venues), and which.
    pub max_symbol_exposure: (Notional, Option<InstrumentId>),
}

/// Daily PnL tracking with a configurable day boundary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DailyPnl {
    /// Index of the current trading day.
    pub day: i64,
    /// Net PnL at the start of the day.
    pub start_net: Notional,
    /// Net PnL change since the start of the day.
    pub pnl: Notional,
    /// Highest `pnl` seen today.
    pub peak: Notional,
    /// Largest drop from `peak` today (non-negative).
    pub max_drawdown: Notional,
}

/// Positions and fills for every venue and instrument.
#[derive(Clone, Debug)]
pub struct Ledger {
    scales: Vec<Scales>,
    fees: [FeeRates; Venue::COUNT],
    positions: Vec<Position>,
    seen: BTreeSet<(Venue, InstrumentId, TradeId)>,
    seen_order: VecDeque<(Venue, InstrumentId, TradeId)>,
    seen_max: usize,
    day_offset_minutes: i32,
    /// Today's PnL.
    pub daily: DailyPnl,
    daily_started: bool,
}

impl Ledger {
    /// An empty ledger. `seen_max` bounds the trade ids remembered for dedupe.
    pub fn new(
        scales: Vec<Scales>,
        fees: [FeeRates; Venue::COUNT],
        day_offset_minutes: i32,
        seen_max: usize,
    ) -> Ledger {
        let positions = vec![Position::default(); scales.len() * Venue::COUNT];
        Ledger {
            scales,
            fees,
            positions,
            seen: BTreeSet::new(),
            seen_order: VecDeque::with_capacity(seen_max.min(4096)),
            seen_max,
            day_offset_minutes,
            daily: DailyPnl::default(),
            daily_started: false,
        }
    }

    /// Replaces fee rates (a config apply).
    pub fn set_fees(&mut self, fees: [FeeRates; Venue::COUNT]) {
        self.fees = fees;
    }

    fn slot(&self, venue: Venue, instrument: InstrumentId) -> usize {
        instrument.index() * Venue::COUNT + venue.index()
    }

    /// Position of one venue and instrument.
    pub fn position(&self, venue: Venue, instrument: InstrumentId) -> &Position {
        &self.positions[self.slot(venue, instrument)]
    }

    /// Whether a trade id has been booked (within the remembered window).
    pub fn has_trade(&self, venue: Venue, instrument: InstrumentId, trade: TradeId) -> bool {
        self.seen.contains(&(venue, instrument, trade))
    }

    /// Number of instruments.
    pub fn instrument_count(&self) -> usize {
        self.scales.len()
    }

    /// Books a fill; duplicates (same venue, instrument and trade id) are ignored. A
    /// fill that would overflow the position, its fees, volumes or PnL is refused
    /// (nothing changes, the trade id is not remembered).
    pub fn book(&mut self, fill: &Fill) -> Result<Booked, MoneyOverflow> {
        assert!(fill.qty.is_positive(), "a fill quantity must be positive");
        assert!(fill.price.is_positive(), "a fill price must be positive");
        let key = (fill.venue, fill.instrument, fill.trade_id);
        if self.seen.contains(&key) {
            return Ok(Booked::Duplicate);
        }
        let fee = match fill.fee {
            Some(fee) => fee,
            None => self.fee_at_rate(fill)?,
        };
        let slot = self.slot(fill.venue, fill.instrument);
        // Booked on a copy and stored only when every figure fits.
        let mut position = self.positions[slot];
        apply_to_position(&mut position, fill.side, fill.qty, fill.price)?;
        position.fees = position.fees.checked_add(fee).ok_or(MoneyOverflow {
            what: "fees of a position",
        })?;
        position.fills += 1;
        match fill.side {
            Side::Buy => {
                position.bought = position.bought.checked_add(fill.qty).ok_or(MoneyOverflow {
                    what: "quantity bought",
                })?;
            }
            Side::Sell => {
                position.sold = position.sold.checked_add(fill.qty).ok_or(MoneyOverflow {
                    what: "quantity sold",
                })?;
            }
        }
        assert_eq!(
            Some(position.qty),
            // Both sums are non-negative, so their difference always fits.
            position.bought.checked_sub(position.sold),
            "position must equal the sum of its fills"
        );
        self.positions[slot] = position;
        self.remember(key);
        Ok(Booked::Booked { fee })
    }

    /// The venue's configured maker or taker fee on a fill, rounded against us.
    fn fee_at_rate(&self, fill: &Fill) -> Result<Notional, MoneyOverflow> {
        let scales = self.scales[fill.instrument.index()];
        let rates = self.fees[fill.venue.index()];
        let rate = match fill.liquidity {
            Liquidity::Maker => rates.maker,
            Liquidity::Taker => rates.taker,
        };
        crate::model::notional_of(fill.price, fill.qty, scales.price, scales.qty)
            .and_then(|value| value.times_rate_ceil(rate))
            .ok_or(MoneyOverflow {
                what: "fee of a fill",
            })
    }

    fn remember(&mut self, key: (Venue, InstrumentId, TradeId)) {
        if self.seen_order.len() == self.seen_max
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(key);
        self.seen_order.push_back(key);
    }

    /// Realised PnL (before fees) of one position.
    pub fn realized(&self, venue: Venue, instrument: InstrumentId) -> Notional {
        let s = self.scales[instrument.index()];
        to_notional(self.position(venue, instrument).realized, s)
    }

    /// Unrealised PnL of one position at `mark`.
    pub fn unrealized(&self, venue: Venue, instrument: InstrumentId, mark: Price) -> Notional {
        let s = self.scales[instrument.index()];
        let p = self.position(venue, instrument);
        if p.qty.is_zero() {
            return Notional::ZERO;
        }
        let value = i128::from(p.qty.raw()) * i128::from(mark.raw());
        to_notional(value - p.cost, s)
    }

    /// Average entry price of one position (zero when flat).
    pub fn average_price(&self, venue: Venue, instrument: InstrumentId) -> Price {
        let p = self.position(venue, instrument);
        if p.qty.is_zero() {
            return Price::ZERO;
        }
        Price::from_raw((p.cost / i128::from(p.qty.raw())) as i64)
    }

    /// Totals across positions; `mark(venue, instrument)` gives the mark price (or
    /// `None` when no valid price is known, in which case the average price is used,
    /// so unrealised PnL reads zero rather than inventing a price).
    ///
    /// Every sum here saturates ([`Notional::saturating_add`]): the totals feed the
    /// kill caps and the status pages, and an exposure or a loss pinned at ±92 billion
    /// USDT still breaches its cap, where a refusal would leave the caps blind.
    pub fn totals(&self, mut mark: impl FnMut(Venue, InstrumentId) -> Option<Price>) -> PnlTotals {
        let mut t = PnlTotals::default();
        for i in 0..self.scales.len() {
            let instrument = InstrumentId(i as u16);
            let s = self.scales[i];
            let mut symbol = Notional::ZERO;
            for venue in Venue::ALL {
                let p = self.position(venue, instrument);
                t.realized = t.realized.saturating_add(to_notional(p.realized, s));
                t.fees = t.fees.saturating_add(p.fees);
                if !p.qty.is_zero() {
                    let m = mark(venue, instrument)
                        .unwrap_or_else(|| self.average_price(venue, instrument));
                    t.unrealized = t
                        .unrealized
                        .saturating_add(self.unrealized(venue, instrument, m));
                    // |qty| fits: positions stay within ±POSITION_ABS_MAX.
                    let size = Qty::from_raw(p.qty.raw().abs());
                    let exposure = crate::model::notional_of(m, size, s.price, s.qty)
                        .unwrap_or(Notional::from_raw(i64::MAX));
                    t.gross_exposure = t.gross_exposure.saturating_add(exposure);
                    symbol = symbol.saturating_add(exposure);
                }
            }
            if symbol > t.max_symbol_exposure.0 {
                t.max_symbol_exposure = (symbol, Some(instrument));
            }
        }
        t.net = t
            .realized
            .saturating_add(t.unrealized)
            .saturating_sub(t.fees);
        t
    }

    /// Updates daily PnL with the current net PnL; rolls the day at the boundary.
    pub fn update_daily(&mut self, now: UnixNanos, net: Notional) -> &DailyPnl {
        let day = now.day_index(self.day_offset_minutes);
        if !self.daily_started || day != self.daily.day {
            self.daily_started = true;
            self.daily = DailyPnl {
                day,
                start_net: net,
                ..DailyPnl::default()
            };
        }
        let d = &mut self.daily;
        // Saturating, as in `totals`: a pinned loss or drawdown still breaches its cap.
        d.pnl = net.saturating_sub(d.start_net);
        if d.pnl > d.peak {
            d.peak = d.pnl;
        }
        let drawdown = d.peak.saturating_sub(d.pnl);
        if drawdown > d.max_drawdown {
            d.max_drawdown = drawdown;
        }
        &self.daily
    }

    /// Restores the daily PnL baseline from a journal (recovery).
    pub fn restore_daily(&mut self, daily: DailyPnl) {
        self.daily = daily;
        self.daily_started = true;
    }
}

/// Moves `p` by one fill. `cost` and `realized` are `i128`: a product of two `i64`
/// values always fits, and their sums are checked. A position beyond
/// [`POSITION_ABS_MAX`] is refused.
fn apply_to_position(
    p: &mut Position,
    side: Side,
    qty: Qty,
    price: Price,
) -> Result<(), MoneyOverflow> {
    let dq = i128::from(side.sign()) * i128::from(qty.raw());
    let pos = i128::from(p.qty.raw());
    let px = i128::from(price.raw());
    let new_pos = pos + dq;
    if new_pos.abs() > i128::from(POSITION_ABS_MAX) {
        return Err(MoneyOverflow { what: "position" });
    }
    if pos == 0 || (pos > 0) == (dq > 0) {
        p.cost = p.cost.checked_add(dq * px).ok_or(MoneyOverflow {
            what: "cost of a position",
        })?;
    } else {
        let closed = dq.abs().min(pos.abs());
        let closed_cost = share_of(p.cost, closed, pos.abs());
        let realized = (pos.signum() * closed * px)
            .checked_sub(closed_cost)
            .and_then(|r| p.realized.checked_add(r))
            .ok_or(MoneyOverflow {
                what: "realised PnL of a position",
            })?;
        p.realized = realized;
        p.cost -= closed_cost;
        let opened = dq.abs() - closed;
        if opened > 0 {
            assert_eq!(p.cost, 0, "a flat position carries no cost");
            p.cost = dq.signum() * opened * px;
        }
    }
    p.qty = Qty::from_raw(i64::try_from(new_pos).expect("bounded by POSITION_ABS_MAX"));
    if new_pos == 0 {
        assert_eq!(p.cost, 0, "a flat position carries no cost");
    }
    Ok(())
}

/// `cost × part / whole` truncated towards zero, as if computed in unbounded integers,
/// for `0 < part <= whole`: split into the average (`cost / whole`) times `part` plus
/// the remainder's share, so `cost × part` (up to 2^185) is never formed.
fn share_of(cost: i128, part: i128, whole: i128) -> i128 {
    assert!(0 < part && part <= whole, "a share of at most the whole");
    // Quotient and remainder share the sign of `cost`, so both terms truncate the same
    // way and their sum equals the exact truncated quotient.
    cost / whole * part + cost % whole * part / whole
}

/// Converts price×qty units to notional, rounding towards zero and saturating at the
/// `i64` range (the rule of [`Ledger::totals`]: these figures feed caps and status).
fn to_notional(value: i128, s: Scales) -> Notional {
    let shift = i32::from(NOTIONAL_SCALE) - i32::from(s.price) - i32::from(s.qty);
    let v = if shift >= 0 {
        value.checked_mul(i128::from(pow10(shift as u8)))
    } else {
        Some(value / i128::from(pow10((-shift) as u8)))
    };
    let saturated = if value < 0 { i64::MIN } else { i64::MAX };
    Notional::from_raw(v.and_then(|v| i64::try_from(v).ok()).unwrap_or(saturated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Scales = Scales { price: 1, qty: 3 };

    fn ledger() -> Ledger {
        let rates = FeeRates {
            maker: CentiBps::from_bps(2),
            taker: CentiBps::from_bps(5),
        };
        Ledger::new(vec![S], [rates, rates], 0, 1000)
    }

    fn fill(trade: u64, side: Side, price: i64, qty: i64) -> Fill {
        Fill {
            venue: Venue::Binance,
            instrument: InstrumentId(0),
            trade_id: TradeId(trade),
            side,
            price: Price::from_raw(price),
            qty: Qty::from_raw(qty),
            liquidity: Liquidity::Taker,
            fee: None,
        }
    }

    #[test]
    fn round_trip_realises_the_price_difference_and_charges_fees() {
        let mut l = ledger();
        // Buy 0.010 at 60000.0, sell 0.010 at 60010.0 → +0.1 USDT before fees.
        assert!(matches!(
            l.book(&fill(1, Side::Buy, 600_000, 10)),
            Ok(Booked::Booked { .. })
        ));
        l.book(&fill(2, Side::Sell, 600_100, 10)).unwrap();
        let p = l.position(Venue::Binance, InstrumentId(0));
        assert_eq!(p.qty, Qty::ZERO);
        assert_eq!(
            l.realized(Venue::Binance, InstrumentId(0)),
            Notional::from_raw(10_000_000)
        );
        // Fees: 600 USDT × 5 bps = 0.3, 600.1 × 5 bps = 0.30005.
        assert_eq!(p.fees, Notional::from_raw(30_000_000 + 30_005_000));
    }

    #[test]
    fn duplicate_trade_ids_are_booked_once() {
        let mut l = ledger();
        l.book(&fill(7, Side::Buy, 600_000, 10)).unwrap();
        assert_eq!(
            l.book(&fill(7, Side::Buy, 600_000, 10)),
            Ok(Booked::Duplicate)
        );
        assert_eq!(
            l.position(Venue::Binance, InstrumentId(0)).qty,
            Qty::from_raw(10)
        );
    }

    #[test]
    fn flipping_through_zero_opens_at_the_fill_price() {
        let mut l = ledger();
        l.book(&fill(1, Side::Buy, 600_000, 10)).unwrap();
        l.book(&fill(2, Side::Sell, 590_000, 30)).unwrap();
        assert_eq!(
            l.position(Venue::Binance, InstrumentId(0)).qty,
            Qty::from_raw(-20)
        );
        assert_eq!(
            l.average_price(Venue::Binance, InstrumentId(0)),
            Price::from_raw(590_000)
        );
        // Realised: 0.010 × (59000 - 60000) = -10 USDT.
        assert_eq!(
            l.realized(Venue::Binance, InstrumentId(0)),
            Notional::from_usd(-10)
        );
        // Unrealised at 58000: short 0.020 gains 20 USDT.
        assert_eq!(
            l.unrealized(Venue::Binance, InstrumentId(0), Price::from_raw(580_000)),
            Notional::from_usd(20)
        );
    }

    #[test]
    fn daily_pnl_resets_at_the_boundary() {
        let mut l = ledger();
        let day = UnixNanos::from_secs(86_400 * 100);
        l.update_daily(day, Notional::from_usd(5));
        l.update_daily(day.plus_millis(1000), Notional::from_usd(8));
        let d = l.update_daily(day.plus_millis(2000), Notional::from_usd(2));
        assert_eq!(d.pnl, Notional::from_usd(-3));
        assert_eq!(d.max_drawdown, Notional::from_usd(6));
        let d = l.update_daily(day.plus_millis(86_400_000), Notional::from_usd(2));
        assert_eq!(d.pnl, Notional::ZERO);
        assert_eq!(d.max_drawdown, Notional::ZERO);
    }

    /// A fill whose position, volume or fee does not fit is refused whole: the
    /// position, its fees and the remembered trade ids stay as they were, so the same
    /// trade id is refused again rather than taken for a duplicate.
    #[test]
    fn fills_that_overflow_are_refused_and_change_nothing() {
        let mut l = ledger();
        l.book(&fill(1, Side::Buy, 600_000, 10)).unwrap();
        let before = *l.position(Venue::Binance, InstrumentId(0));
        let mut huge = fill(2, Side::Buy, 1, POSITION_ABS_MAX);
        huge.fee = Some(Notional::ZERO);
        assert_eq!(l.book(&huge), Err(MoneyOverflow { what: "position" }));
        let mut fee_overflows = fill(3, Side::Buy, i64::MAX, 1_000);
        assert_eq!(
            l.book(&fee_overflows),
            Err(MoneyOverflow {
                what: "fee of a fill"
            })
        );
        fee_overflows.fee = Some(Notional::from_raw(i64::MAX));
        assert_eq!(
            l.book(&fee_overflows),
            Err(MoneyOverflow {
                what: "fees of a position"
            })
        );
        assert_eq!(*l.position(Venue::Binance, InstrumentId(0)), before);
        assert!(!l.has_trade(Venue::Binance, InstrumentId(0), TradeId(2)));
        assert_eq!(l.book(&huge), Err(MoneyOverflow { what: "position" }));
        // The largest position that fits is booked, and closed exactly.
        let mut l = ledger();
        let mut max = fill(4, Side::Sell, 2, POSITION_ABS_MAX);
        max.fee = Some(Notional::ZERO);
        l.book(&max).unwrap();
        let mut close = fill(5, Side::Buy, 1, POSITION_ABS_MAX);
        close.fee = Some(Notional::ZERO);
        l.book(&close).unwrap();
        let p = l.position(Venue::Binance, InstrumentId(0));
        assert_eq!((p.qty, p.cost), (Qty::ZERO, 0));
        assert_eq!(
            p.realized,
            i128::from(POSITION_ABS_MAX),
            "sold at 2, bought back at 1"
        );
    }

    /// Totals pin at the `i64` range instead of wrapping: an exposure or a loss beyond
    /// ±92 billion USDT still reads as beyond every cap.
    #[test]
    fn totals_saturate() {
        let mut l = ledger();
        let mut long = fill(1, Side::Buy, 1, POSITION_ABS_MAX);
        long.fee = Some(Notional::ZERO);
        l.book(&long).unwrap();
        let t = l.totals(|_, _| Some(Price::from_raw(i64::MAX)));
        assert_eq!(t.gross_exposure, Notional::from_raw(i64::MAX));
        assert_eq!(t.unrealized, Notional::from_raw(i64::MAX));
        let mut short = fill(2, Side::Sell, i64::MAX, POSITION_ABS_MAX);
        short.venue = Venue::Okx;
        short.fee = Some(Notional::ZERO);
        l.book(&short).unwrap();
        let t = l.totals(|_, _| Some(Price::from_raw(1)));
        assert_eq!(t.max_symbol_exposure.0, Notional::from_raw(i64::MAX));
        let d = l.update_daily(UnixNanos::from_secs(1), Notional::from_raw(i64::MIN));
        let d = *d;
        let d2 = l.update_daily(UnixNanos::from_secs(2), Notional::from_raw(i64::MAX));
        assert_eq!(d.pnl, Notional::ZERO);
        assert_eq!(
            d2.pnl,
            Notional::from_raw(i64::MAX),
            "MAX - MIN pins at MAX"
        );
    }

    proptest! {
        /// `share_of` equals the exact truncated `cost × part / whole`.
        #[test]
        fn share_of_is_exact(cost in -(1i128 << 100)..(1i128 << 100), whole in 1i128..(1 << 20), part_pct in 1i128..=100) {
            let part = (whole * part_pct / 100).max(1);
            prop_assert_eq!(share_of(cost, part, whole), cost * part / whole);
        }

        /// Any sequence of fills: the position equals the sum of fills (asserted inside
        /// `book`), and once flat, realised PnL equals sells minus buys exactly.
        #[test]
        fn ledger_matches_cash_flows(fills in prop::collection::vec((any::<bool>(), 1i64..1_000_000, 1i64..100), 1..40)) {
            let mut l = ledger();
            let mut cash: i128 = 0;
            let mut pos: i64 = 0;
            for (i, (buy, price, qty)) in fills.iter().enumerate() {
                let side = if *buy { Side::Buy } else { Side::Sell };
                l.book(&fill(i as u64, side, *price, *qty)).unwrap();
                cash -= i128::from(side.sign()) * i128::from(*price) * i128::from(*qty);
                pos += side.sign() * qty;
            }
            // Close at a final price; realised then equals the total cash flow.
            if pos != 0 {
                let side = if pos > 0 { Side::Sell } else { Side::Buy };
                l.book(&fill(10_000, side, 500_000, pos.abs())).unwrap();
                cash -= i128::from(side.sign()) * 500_000 * i128::from(pos.abs());
            }
            prop_assert_eq!(l.position(Venue::Binance, InstrumentId(0)).qty, Qty::ZERO);
            prop_assert_eq!(l.realized(Venue::Binance, InstrumentId(0)), to_notional(cash, S));
        }
    }
}
