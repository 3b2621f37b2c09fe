//! Decisions: the per-instrument phase machine, risk checks on every order, sending,
//! kill-cap flattening.

use super::{Engine, FLATTEN_RETRY_NS, LOOKUP_RETRY_NS, book_slot};
use crate::book::TopOfBook;
use crate::config::Config;
use crate::config::ExecutionStyle;
use crate::guards::RiskFigures;
use crate::guards::{GuardId, GuardLevel, RequestKind, RunawayCheck};
use crate::model::{
    CentiBps, ClientOrderId, InstrumentId, Notional, Price, Qty, Side, TimeInForce, Venue,
    notional_of,
};
use crate::output::{JournalEvent, Mode, OrderPurpose, OrderRequest, Output, Severity};
use crate::strategy::{
    Blocked, EvalContext, Phase, Unwind, UnwindBlocked, buy_limit, evaluate, maker_candidate,
    sell_limit, unwind_choice,
};
use crate::time::{NANOS_PER_SECOND, UnixNanos};

/// Unwind attempts [`unwind_deadline_ns`] allows for before the engine escalates.
pub const UNWIND_ATTEMPTS: u64 = 5;
/// An unwind attempt that made no progress (an IOC that missed, a refusal) is repeated
/// after this long; one that reduced the excess is followed at once.
pub const UNWIND_RETRY_NS: u64 = NANOS_PER_SECOND;
/// Slippage allowed to a hedge, in multiples of `max_slippage` (it completes a trade).
pub const HEDGE_SLIPPAGE_MULTIPLE: i64 = 2;
/// Slippage allowed to an unwind or flatten, in multiples of `max_slippage` (it takes
/// risk off, whatever it costs within reason).
pub const UNWIND_SLIPPAGE_MULTIPLE: i64 = 4;

/// How long an unwind may take before the engine escalates (Critical alert, status
/// ERROR with the naked position and its age): [`UNWIND_ATTEMPTS`] attempts, each
/// allowed the slowest venue's acknowledgement timeout, one lookup of an unknown
/// outcome and the retry wait. The simulator's unwind checker uses the same bound.
pub fn unwind_deadline_ns(config: &Config) -> u64 {
    let ack_ns = config
        .venues
        .iter()
        .map(|v| v.ack_timeout_ns)
        .max()
        .unwrap_or(0);
    UNWIND_ATTEMPTS * (ack_ns + LOOKUP_RETRY_NS + UNWIND_RETRY_NS)
}

/// An order the engine wants to send.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewOrder {
    pub venue: Venue,
    pub instrument: InstrumentId,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
    pub time_in_force: TimeInForce,
    pub reduce_only: bool,
    pub purpose: OrderPurpose,
    /// Touch price at decision.
    pub arrival: Price,
}

impl Engine {
    /// Mid price of a valid two-sided book (`None` when the book is not usable).
    pub fn mark(&self, venue: Venue, instrument: InstrumentId) -> Option<Price> {
        mark_of(&self.books[book_slot(venue, instrument)])
    }

    /// PnL and exposure totals at current marks (average price where no mark exists).
    pub fn pnl(&self) -> crate::ledger::PnlTotals {
        self.ledger
            .totals(|v, i| mark_of(&self.books[book_slot(v, i)]))
    }

    /// Gross notional of one instrument (both venues) and of everything.
    pub fn exposures(&self, instrument: InstrumentId) -> (Notional, Notional) {
        let mut symbol = 0i64;
        let mut total = 0i64;
        for i in 0..self.config.instruments.len() {
            let inst = InstrumentId(i as u16);
            let scales = self.config.instruments[i].scales;
            for venue in Venue::ALL {
                let qty = self.ledger.position(venue, inst).qty;
                if qty.is_zero() {
                    continue;
                }
                let mark = self
                    .mark(venue, inst)
                    .unwrap_or_else(|| self.ledger.average_price(venue, inst));
                let value = notional_of(
                    mark,
                    Qty::from_raw(qty.raw().abs()),
                    scales.price,
                    scales.qty,
                )
                .map_or(i64::MAX, |n| n.raw());
                total = total.saturating_add(value);
                if inst == instrument {
                    symbol = symbol.saturating_add(value);
                }
            }
        }
        (Notional::from_raw(symbol), Notional::from_raw(total))
    }

    fn gate(
        &self,
        now: UnixNanos,
        instrument: InstrumentId,
        venues: [Venue; 2],
    ) -> Option<Blocked> {
        if !self.config.strategy.enabled {
            return Some(Blocked::Disabled);
        }
        if self.control.mode == Mode::Hold {
            return Some(Blocked::Hold);
        }
        if self.control.safe_mode {
            return Some(Blocked::SafeMode);
        }
        if !self.fencing.may_place(now) {
            return Some(Blocked::NotLeader);
        }
        for v in venues {
            if self.runaway.is_quarantined(v, instrument) {
                return Some(Blocked::Quarantined);
            }
            if self.maintenance.phase(v) != crate::guards::MaintenancePhase::Normal {
                return Some(Blocked::Maintenance);
            }
            if !self.disconnect.is_connected(v) {
                return Some(Blocked::Disconnected);
            }
            if self.rate.backing_off(now, v) {
                return Some(Blocked::RateLimited);
            }
        }
        None
    }

    /// Re-evaluates one instrument and advances its phase machine.
    pub(crate) fn drive_pair(&mut self, now: UnixNanos, p: usize) {
        // Borrow the spec rather than copy it: this runs on every top-of-book change.
        let spec = &self.pairs[p].spec;
        let (venues, instrument, scales) = (spec.venues, spec.instrument, spec.scales);
        let mut tops = [TopOfBook::default(); 2];
        let mut problems = [None; 2];
        for s in 0..2 {
            let book = &self.books[book_slot(venues[s], instrument)];
            tops[s] = book.top();
            problems[s] = if !book.is_valid() {
                Some(Blocked::BookInvalid)
            } else if now.nanos_since(book.updated_at) > self.config.strategy.max_book_age_ns {
                Some(Blocked::BookStale)
            } else {
                None
            };
        }
        let positions = [
            self.ledger.position(venues[0], instrument).qty,
            self.ledger.position(venues[1], instrument).qty,
        ];
        let gate = self.gate(now, instrument, venues);
        let ctx = EvalContext {
            positions,
            gate,
            book_problem: problems,
        };
        let headroom = || {
            let (symbol, total) = self.exposures(instrument);
            self.caps.headroom(symbol, total)
        };
        let opportunities = evaluate(now, spec, &self.config.strategy, tops, &ctx, headroom);
        self.pairs[p].opportunities = opportunities;
        // The ledger keeps positions within ±POSITION_ABS_MAX, so the net and |net| fit.
        let net = positions[0]
            .checked_add(positions[1])
            .expect("positions within POSITION_ABS_MAX: their sum fits")
            .raw();
        let net_notional = if net == 0 {
            Notional::ZERO
        } else {
            let mark = self.mark(venues[0], instrument).unwrap_or(tops[0].bid);
            notional_of(mark, Qty::from_raw(net.abs()), scales.price, scales.qty)
                .unwrap_or_default()
        };
        self.pairs[p].meter_unhedged(now, net_notional);
        self.track_naked(now, p, net, net_notional);
        let books_ok = [problems[0].is_none(), problems[1].is_none()];
        match self.pairs[p].phase {
            Phase::Idle => self.pair_idle(now, p, tops, net, gate),
            Phase::Legs => self.pair_legs(now, p, tops, net, gate, books_ok),
            Phase::Maker => self.pair_maker(now, p, tops, net, gate, books_ok),
            Phase::Hedging => self.pair_hedging(now, p, tops, net, gate, books_ok),
            Phase::Unwinding => self.pair_unwinding(now, p, tops, net, books_ok),
        }
    }

    fn pair_idle(
        &mut self,
        now: UnixNanos,
        p: usize,
        tops: [TopOfBook; 2],
        net: i64,
        gate: Option<Blocked>,
    ) {
        let spec = self.pairs[p].spec;
        if net.abs() >= spec.dust().raw() && gate.is_none() {
            // An imbalance with nothing working (a late fill, a recovered position).
            self.start_hedging(now, p, None);
            let books_ok = [true, true];
            return self.pair_hedging(now, p, tops, net, gate, books_ok);
        }
        if gate.is_some() {
            return;
        }
        if now < self.pairs[p].cooldown_until {
            for o in &mut self.pairs[p].opportunities {
                if o.blocked.is_none() {
                    o.blocked = Some(Blocked::Cooldown);
                }
            }
            return;
        }
        let best = self.pairs[p].best().map(|(d, o)| (d, *o));
        match self.pairs[p].style {
            ExecutionStyle::Taker => {
                if let Some((d, _)) = best {
                    self.enter_taker(now, p, d);
                }
            }
            ExecutionStyle::MakerFirst => match best {
                Some((d, o)) if o.reducing => self.enter_taker(now, p, d),
                _ => self.enter_maker(now, p, tops),
            },
        }
    }

    fn enter_taker(&mut self, now: UnixNanos, p: usize, d: usize) {
        let spec = self.pairs[p].spec;
        let opp = self.pairs[p].opportunities[d];
        let slip = self.config.strategy.max_slippage;
        let buy_slot = spec.slot(opp.buy_venue).expect("pair venue");
        let sell_slot = 1 - buy_slot;
        let purpose = if opp.reducing {
            OrderPurpose::Exit
        } else {
            OrderPurpose::Entry
        };
        let buy = NewOrder {
            venue: opp.buy_venue,
            instrument: spec.instrument,
            side: Side::Buy,
            price: buy_limit(opp.buy_price, slip, spec.ticks[buy_slot]),
            qty: opp.qty_after_risk,
            time_in_force: TimeInForce::Ioc,
            reduce_only: opp.reducing,
            purpose,
            arrival: opp.buy_price,
        };
        let sell = NewOrder {
            venue: opp.sell_venue,
            side: Side::Sell,
            price: sell_limit(opp.sell_price, slip, spec.ticks[sell_slot]),
            arrival: opp.sell_price,
            ..buy
        };
        if let Err(blocked) = self
            .admissible(now, &buy)
            .and_then(|()| self.admissible(now, &sell))
        {
            self.pairs[p].opportunities[d].blocked = Some(blocked);
            self.metrics.orders_blocked += 1;
            return;
        }
        let a = self.send(now, buy).ok();
        let b = self.send(now, sell).ok();
        let pair = &mut self.pairs[p];
        pair.legs[buy_slot] = a;
        pair.legs[sell_slot] = b;
        pair.phase = Phase::Legs;
        pair.decisions += 1;
        pair.cooldown_until = now.plus_nanos(self.config.strategy.cooldown_ns);
    }

    fn enter_maker(&mut self, now: UnixNanos, p: usize, tops: [TopOfBook; 2]) {
        let spec = self.pairs[p].spec;
        let entry = self.config.strategy.entry_edge;
        let mut best: Option<(usize, crate::strategy::MakerCandidate)> = None;
        for d in 0..2 {
            let opp = self.pairs[p].opportunities[d];
            let sized = !opp.reducing
                && opp.qty_after_risk >= spec.common_min
                && matches!(opp.blocked, None | Some(Blocked::BelowThreshold));
            let Some(c) = maker_candidate(&spec, &self.config.strategy, tops, d) else {
                continue;
            };
            if sized && c.net_edge >= entry && best.is_none_or(|(_, b)| c.net_edge > b.net_edge) {
                best = Some((d, c));
            }
        }
        let Some((d, c)) = best else { return };
        let opp = self.pairs[p].opportunities[d];
        let order = NewOrder {
            venue: spec.venues[c.maker_slot],
            instrument: spec.instrument,
            side: if c.buy { Side::Buy } else { Side::Sell },
            price: c.price,
            qty: opp.qty_after_risk,
            time_in_force: TimeInForce::PostOnly,
            reduce_only: false,
            purpose: OrderPurpose::Maker,
            arrival: c.price,
        };
        if let Ok(id) = self.send(now, order) {
            let pair = &mut self.pairs[p];
            pair.legs = [None, None];
            pair.legs[c.maker_slot] = Some(id);
            pair.lagging = Some(1 - c.maker_slot);
            pair.phase = Phase::Maker;
            pair.maker_deadline = now.plus_nanos(self.config.strategy.maker_timeout_ns);
            pair.decisions += 1;
            pair.cooldown_until = now.plus_nanos(self.config.strategy.cooldown_ns);
        }
    }

    fn is_live(&self, id: Option<ClientOrderId>) -> bool {
        id.and_then(|id| self.orders.get(&id))
            .is_some_and(|o| o.is_live())
    }

    fn pair_legs(
        &mut self,
        now: UnixNanos,
        p: usize,
        tops: [TopOfBook; 2],
        net: i64,
        gate: Option<Blocked>,
        books_ok: [bool; 2],
    ) {
        let legs = self.pairs[p].legs;
        if legs.iter().any(|l| self.is_live(*l)) {
            return;
        }
        let filled = legs.map(|l| {
            l.and_then(|id| self.orders.get(&id))
                .map_or(0, |o| o.filled.raw())
        });
        self.pairs[p].legs = [None, None];
        if net.abs() < self.pairs[p].spec.dust().raw() {
            self.pairs[p].phase = Phase::Idle;
            return;
        }
        let lagging = if filled[0] < filled[1] { 0 } else { 1 };
        self.start_hedging(now, p, Some(lagging));
        self.pair_hedging(now, p, tops, net, gate, books_ok);
    }

    fn start_hedging(&mut self, now: UnixNanos, p: usize, lagging: Option<usize>) {
        let pair = &mut self.pairs[p];
        pair.phase = Phase::Hedging;
        if lagging.is_some() {
            pair.lagging = lagging;
        }
        if pair.unhedged_since.is_zero() {
            pair.unhedged_since = now;
        }
    }

    fn settle(&mut self, p: usize) {
        let pair = &mut self.pairs[p];
        pair.phase = Phase::Idle;
        pair.repair = None;
        pair.lagging = None;
        pair.unhedged_since = UnixNanos::ZERO;
        pair.legs = [None, None];
        if let Some(u) = pair.unwind.take()
            && u.escalated
        {
            let name = self
                .instrument_name(self.pairs[p].spec.instrument)
                .to_owned();
            self.alert(
                Severity::Info,
                "unwound",
                "unhedged_exposure",
                format!("{name}: the naked position is unwound"),
            );
        }
    }

    fn hedge_timed_out(&self, now: UnixNanos, p: usize) -> bool {
        let since = self.pairs[p].unhedged_since;
        !since.is_zero() && now.nanos_since(since) >= self.config.strategy.hedge_timeout_ns
    }

    /// Enters the unwinding phase (the unwind clock starts once per episode).
    fn start_unwinding(&mut self, now: UnixNanos, p: usize) {
        let pair = &mut self.pairs[p];
        pair.phase = Phase::Unwinding;
        if pair.unwind.is_none() {
            pair.unwind = Some(Unwind {
                since: now,
                attempts: 0,
                next_attempt_at: now,
                net_at_attempt: i64::MAX,
                blocked: None,
                escalated: false,
            });
        }
    }

    fn begin_unwind(&mut self, now: UnixNanos, p: usize) {
        self.start_unwinding(now, p);
        self.pairs[p].unwinds += 1;
        self.other
            .hedge
            .set(now, GuardLevel::Hold, "hedge timed out: unwinding");
        let name = self
            .instrument_name(self.pairs[p].spec.instrument)
            .to_owned();
        self.alert(
            Severity::Critical,
            "hedge_timeout",
            "hedge",
            format!("{name}: partial fill not hedged in time; unwinding"),
        );
        self.trip(
            GuardId::HedgeTimeout,
            None,
            "hedge timed out: unwinding the excess",
            None,
        );
    }

    fn pair_hedging(
        &mut self,
        now: UnixNanos,
        p: usize,
        tops: [TopOfBook; 2],
        net: i64,
        gate: Option<Blocked>,
        books_ok: [bool; 2],
    ) {
        let spec = self.pairs[p].spec;
        if net.abs() < spec.dust().raw() {
            return self.settle(p);
        }
        if self.is_live(self.pairs[p].repair) {
            return;
        }
        if self.hedge_timed_out(now, p) {
            self.begin_unwind(now, p);
            return self.pair_unwinding(now, p, tops, net, books_ok);
        }
        match gate {
            Some(Blocked::Hold | Blocked::SafeMode | Blocked::NotLeader | Blocked::Disabled) => {
                // No new risk may be taken: take the excess back instead.
                self.start_unwinding(now, p);
                return self.pair_unwinding(now, p, tops, net, books_ok);
            }
            Some(_) => return,
            None => {}
        }
        let side = if net > 0 { Side::Sell } else { Side::Buy };
        let lagging = self.pairs[p].lagging;
        let order = [lagging.unwrap_or(0), 1 - lagging.unwrap_or(0)];
        for slot in order {
            if !books_ok[slot] {
                continue;
            }
            let mut qty = Qty::from_raw(net.abs());
            if Some(slot) != lagging {
                // Reduce-only there: only what the venue position can give back (the
                // venue rejects the rest; resending it would be a reject loop).
                let pos = self
                    .ledger
                    .position(spec.venues[slot], spec.instrument)
                    .qty
                    .raw();
                let reducible = match side {
                    Side::Sell if pos > 0 => pos,
                    Side::Buy if pos < 0 => -pos,
                    _ => 0,
                };
                qty = Qty::from_raw(qty.raw().min(reducible));
            }
            let qty = qty.round_down_to(spec.lots[slot]);
            if qty < spec.min_qtys[slot] {
                continue;
            }
            let slip = CentiBps::from_raw(
                self.config.strategy.max_slippage.raw() * HEDGE_SLIPPAGE_MULTIPLE,
            );
            let (price, arrival) = match side {
                Side::Sell => (
                    sell_limit(tops[slot].bid, slip, spec.ticks[slot]),
                    tops[slot].bid,
                ),
                Side::Buy => (
                    buy_limit(tops[slot].ask, slip, spec.ticks[slot]),
                    tops[slot].ask,
                ),
            };
            if !arrival.is_positive() {
                continue;
            }
            let order = NewOrder {
                venue: spec.venues[slot],
                instrument: spec.instrument,
                side,
                price,
                qty,
                time_in_force: TimeInForce::Ioc,
                reduce_only: Some(slot) != lagging,
                purpose: OrderPurpose::Hedge,
                arrival,
            };
            if let Ok(id) = self.send(now, order) {
                self.pairs[p].repair = Some(id);
                self.pairs[p].hedges += 1;
                return;
            }
        }
    }

    fn pair_unwinding(
        &mut self,
        now: UnixNanos,
        p: usize,
        tops: [TopOfBook; 2],
        net: i64,
        books_ok: [bool; 2],
    ) {
        let spec = self.pairs[p].spec;
        if net.abs() < spec.dust().raw() {
            return self.settle(p);
        }
        if self.pairs[p].unwind.is_none() {
            self.start_unwinding(now, p);
        }
        let overdue = self.unwind_overdue(now, p);
        if self.is_live(self.pairs[p].repair) || self.flattening {
            return;
        }
        let u = self.pairs[p].unwind.expect("started above");
        if now < u.next_attempt_at && net.abs() >= u.net_at_attempt && !overdue {
            return;
        }
        let positions = spec
            .venues
            .map(|v| self.ledger.position(v, spec.instrument).qty.raw());
        let result = unwind_choice(&spec, positions, books_ok).and_then(|c| {
            let order = self.unwind_order(&spec, c.slot, c.qty, net, tops[c.slot]);
            let order = order.ok_or(UnwindBlocked::BookInvalid)?;
            self.send(now, order).map_err(UnwindBlocked::Refused)
        });
        let u = self.pairs[p].unwind.as_mut().expect("started above");
        u.next_attempt_at = now.plus_nanos(UNWIND_RETRY_NS);
        u.net_at_attempt = net.abs();
        match result {
            Ok(id) => {
                u.attempts += 1;
                u.blocked = None;
                self.pairs[p].repair = Some(id);
            }
            Err(reason) => self.unwind_blocked(p, net, reason),
        }
    }

    /// The reduce-only IOC that takes `qty` of the excess back on `slot`.
    fn unwind_order(
        &self,
        spec: &crate::strategy::PairSpec,
        slot: usize,
        qty: Qty,
        net: i64,
        top: TopOfBook,
    ) -> Option<NewOrder> {
        let slip =
            CentiBps::from_raw(self.config.strategy.max_slippage.raw() * UNWIND_SLIPPAGE_MULTIPLE);
        let (side, price, arrival) = if net > 0 {
            (
                Side::Sell,
                sell_limit(top.bid, slip, spec.ticks[slot]),
                top.bid,
            )
        } else {
            (
                Side::Buy,
                buy_limit(top.ask, slip, spec.ticks[slot]),
                top.ask,
            )
        };
        arrival.is_positive().then_some(NewOrder {
            venue: spec.venues[slot],
            instrument: spec.instrument,
            side,
            price,
            qty,
            time_in_force: TimeInForce::Ioc,
            reduce_only: true,
            purpose: OrderPurpose::Unwind,
            arrival,
        })
    }

    /// No unwind order could go: say why (once per reason), retry on schedule.
    fn unwind_blocked(&mut self, p: usize, net: i64, reason: UnwindBlocked) {
        let u = self.pairs[p].unwind.as_mut().expect("unwinding");
        if u.blocked == Some(reason) {
            return;
        }
        u.blocked = Some(reason);
        let spec = self.pairs[p].spec;
        let name = self.instrument_name(spec.instrument).to_owned();
        let qty = Qty::from_raw(net.abs()).display(spec.scales.qty);
        self.alert(
            Severity::Error,
            "unwind_blocked",
            "unhedged_exposure",
            format!(
                "{name}: cannot unwind {qty}: {}; retrying every {} s",
                reason.text(),
                UNWIND_RETRY_NS / NANOS_PER_SECOND
            ),
        );
    }

    /// Escalates an unwind past its deadline (once): a Critical alert naming the naked
    /// position and its age; the caller makes an attempt at once, ignoring the retry
    /// wait. Returns whether the unwind is past its deadline.
    fn unwind_overdue(&mut self, now: UnixNanos, p: usize) -> bool {
        let deadline = unwind_deadline_ns(&self.config);
        let u = self.pairs[p].unwind.expect("unwinding");
        if now.nanos_since(u.since) < deadline || u.escalated {
            return false;
        }
        self.pairs[p].unwind.as_mut().expect("unwinding").escalated = true;
        let pair = &self.pairs[p];
        let name = self.instrument_name(pair.spec.instrument).to_owned();
        let why = u
            .blocked
            .map_or("its orders did not fill", UnwindBlocked::text);
        let message = format!(
            "{name}: {} unhedged (≈ {} USD) for {} s; unwind overdue: {why}",
            Qty::from_raw(pair.naked_qty.raw().abs()).display(pair.spec.scales.qty),
            pair.naked_notional.display(),
            now.nanos_since(pair.naked_since.min(u.since)) / NANOS_PER_SECOND,
        );
        self.alert(
            Severity::Critical,
            "unwind_overdue",
            "unhedged_exposure",
            message,
        );
        true
    }

    /// Keeps the naked position and its age, and raises the configured alert when it
    /// stays above `risk.unhedged_alert_usd` for `risk.unhedged_alert_after_ms`.
    fn track_naked(&mut self, now: UnixNanos, p: usize, net: i64, notional: Notional) {
        let dust = self.pairs[p].spec.dust().raw();
        let pair = &mut self.pairs[p];
        pair.naked_qty = Qty::from_raw(net);
        pair.naked_notional = notional;
        if net.abs() < dust {
            pair.naked_since = UnixNanos::ZERO;
            pair.naked_alerted = false;
            return;
        }
        if pair.naked_since.is_zero() {
            pair.naked_since = now;
        }
        let risk = &self.config.risk;
        if pair.naked_alerted
            || notional <= risk.unhedged_alert
            || now.nanos_since(pair.naked_since) < risk.unhedged_alert_after_ns
        {
            return;
        }
        pair.naked_alerted = true;
        let instrument = pair.spec.instrument;
        let name = self.instrument_name(instrument).to_owned();
        let pair = &self.pairs[p];
        let risk = &self.config.risk;
        let message = format!(
            "{name}: {} unhedged (≈ {} USD) for {} s, above the {} USD bound",
            Qty::from_raw(net.abs()).display(pair.spec.scales.qty),
            notional.display(),
            now.nanos_since(pair.naked_since) / NANOS_PER_SECOND,
            risk.unhedged_alert.display(),
        );
        self.alert(
            Severity::Critical,
            "unhedged_exposure",
            "unhedged_exposure",
            message,
        );
    }

    fn pair_maker(
        &mut self,
        now: UnixNanos,
        p: usize,
        tops: [TopOfBook; 2],
        net: i64,
        gate: Option<Blocked>,
        books_ok: [bool; 2],
    ) {
        let spec = self.pairs[p].spec;
        let maker_slot = if self.pairs[p].legs[0].is_some() {
            0
        } else {
            1
        };
        let maker = self.pairs[p].legs[maker_slot];
        let maker_live = self.is_live(maker);
        if net.abs() >= spec.dust().raw() {
            if self.pairs[p].unhedged_since.is_zero() {
                self.pairs[p].unhedged_since = now;
            }
            if self.hedge_timed_out(now, p) {
                if let Some(id) = maker.filter(|_| maker_live) {
                    self.cancel_order(now, id);
                }
                self.pairs[p].legs = [None, None];
                self.begin_unwind(now, p);
                return self.pair_unwinding(now, p, tops, net, books_ok);
            }
            if !self.is_live(self.pairs[p].repair) && gate.is_none() {
                self.pairs[p].lagging = Some(1 - maker_slot);
                self.pair_hedging(now, p, tops, net, gate, books_ok);
                self.pairs[p].phase = Phase::Maker;
            }
        } else {
            // Hedged again: a later fill of the maker leg starts a new hedge clock
            // (at-p0-runaway seed 3109 timed out at once on the first fill's clock).
            self.pairs[p].unhedged_since = UnixNanos::ZERO;
        }
        if maker_live {
            let edge_gone = maker_candidate(&spec, &self.config.strategy, tops, maker_slot)
                .is_none_or(|c| c.net_edge < self.config.strategy.entry_edge);
            if (now >= self.pairs[p].maker_deadline
                || gate.is_some()
                || edge_gone
                || !books_ok[maker_slot])
                && let Some(id) = maker
            {
                self.cancel_order(now, id);
            }
            return;
        }
        self.pairs[p].legs = [None, None];
        if net.abs() >= spec.dust().raw() {
            self.start_hedging(now, p, Some(1 - maker_slot));
            if !self.is_live(self.pairs[p].repair) {
                self.pair_hedging(now, p, tops, net, gate, books_ok);
            }
        } else if !self.is_live(self.pairs[p].repair) {
            self.settle(p);
        }
    }

    /// Checks one order against mode, leadership, links, maintenance, the runaway
    /// breaker, the governor, the order table and the risk caps. Records nothing,
    /// except that a full runaway window trips the breaker.
    pub(crate) fn admissible(&mut self, now: UnixNanos, o: &NewOrder) -> Result<(), Blocked> {
        let reducing = matches!(o.purpose, OrderPurpose::Unwind | OrderPurpose::Flatten);
        if !reducing {
            if self.control.mode == Mode::Hold {
                return Err(Blocked::Hold);
            }
            if self.control.safe_mode {
                return Err(Blocked::SafeMode);
            }
        }
        if !self.fencing.may_place(now) {
            return Err(Blocked::NotLeader);
        }
        if !self.recon[o.venue.index()].done {
            // Until the venue has been reconciled, positions may be wrong: not even a
            // reduce-only flatten may go (SIMULATION.md invariant 7).
            return Err(Blocked::NotReconciled);
        }
        if !self.disconnect.is_connected(o.venue) {
            return Err(Blocked::Disconnected);
        }
        if !self.maintenance.allows(o.venue, Some(o.time_in_force)) {
            return Err(Blocked::Maintenance);
        }
        if self.runaway.is_quarantined(o.venue, o.instrument) {
            return Err(Blocked::Quarantined);
        }
        if !self.runaway.has_room(now, o.venue, o.instrument, false) {
            // The next place would exceed the per-minute limit: trip before it leaves.
            self.runaway.check(now, o.venue, o.instrument, false);
            self.journal_event(JournalEvent::Quarantined {
                venue: o.venue,
                instrument: o.instrument,
            });
            self.trip(
                GuardId::RunawayBreaker,
                Some(o.venue),
                "runaway order loop: route quarantined",
                None,
            );
            return Err(Blocked::Quarantined);
        }
        if !self.rate.would_allow(now, o.venue, RequestKind::Place) {
            return Err(Blocked::RateLimited);
        }
        if self.orders.live() >= self.config.risk.max_open_orders as usize
            || !self.orders.has_room()
        {
            return Err(Blocked::Busy);
        }
        if matches!(o.purpose, OrderPurpose::Entry | OrderPurpose::Maker) {
            let scales = self.config.instruments[o.instrument.index()].scales;
            let value =
                notional_of(o.price, o.qty, scales.price, scales.qty).ok_or(Blocked::NoHeadroom)?;
            let (symbol, total) = self.exposures(o.instrument);
            if self.caps.headroom(symbol, total) < value || self.caps.breach().is_some() {
                return Err(Blocked::NoHeadroom);
            }
        }
        Ok(())
    }

    /// Sends an order: admissibility, then journal intent, then the order itself.
    pub(crate) fn send(&mut self, now: UnixNanos, o: NewOrder) -> Result<ClientOrderId, Blocked> {
        self.admissible(now, &o)?;
        let counted = self.runaway.check(now, o.venue, o.instrument, false);
        assert_eq!(
            counted,
            RunawayCheck::Allowed,
            "admissible checked the runaway window"
        );
        let taken = self.rate.try_take(now, o.venue, RequestKind::Place);
        assert!(taken, "admissible checked the governor");
        let v = self.config.venues[o.venue.index()];
        if self.deadman[o.venue.index()].armed_until < now.plus_nanos(v.deadman_refresh_ns) {
            self.arm_deadman(now, o.venue);
        }
        let id = self.orders.next_id(self.fencing.epoch());
        let expires_at = now
            .plus_nanos(v.order_expiry_ns)
            .min(self.fencing.lease_expiry());
        let request = OrderRequest {
            client_order_id: id,
            venue: o.venue,
            instrument: o.instrument,
            side: o.side,
            price: o.price,
            qty: o.qty,
            time_in_force: o.time_in_force,
            reduce_only: o.reduce_only,
            expires_at,
            purpose: o.purpose,
            dry_run: self.control.dry_run,
        };
        self.journal_event(JournalEvent::OrderIntent(request));
        self.orders
            .insert(now, request, o.arrival)
            .expect("admissible checked the order table");
        self.metrics.rejects.add(now, 0, 1);
        let reducing = matches!(o.purpose, OrderPurpose::Unwind | OrderPurpose::Flatten);
        self.emit(if reducing {
            Output::Flatten(request)
        } else {
            Output::Place(request)
        });
        Ok(id)
    }

    /// Risk figures, day roll, kill caps; flattening while a breach or kill stands.
    pub(super) fn risk_tick(&mut self, now: UnixNanos) {
        self.evaluate_caps(now);
        if self.flattening {
            if self.all_positions_flat() {
                self.flattening = false;
                self.alert(
                    Severity::Info,
                    "flattened",
                    "kill_caps",
                    "every position is flat".into(),
                );
            } else {
                self.flatten_all(now);
            }
        }
        if self.other.hedge.level == GuardLevel::Hold
            && self.pairs.iter().all(|p| p.phase == Phase::Idle)
        {
            self.other.hedge.set(now, GuardLevel::Ok, "hedged");
            self.cleared(GuardId::HedgeTimeout, None);
        }
    }

    /// Checks the kill caps against current positions and marks.
    pub(crate) fn evaluate_caps(&mut self, now: UnixNanos) {
        let totals = self
            .ledger
            .totals(|v, i| mark_of(&self.books[book_slot(v, i)]));
        let day_before = (self.ledger.daily.day, self.ledger.daily.start_net);
        let daily = *self.ledger.update_daily(now, totals.net);
        if (daily.day, daily.start_net) != day_before || self.day_journaled != Some(daily.day) {
            self.day_journaled = Some(daily.day);
            self.journal_event(JournalEvent::DayStarted {
                day: daily.day,
                start_net: daily.start_net,
            });
        }
        let figures = RiskFigures {
            max_symbol_exposure: totals.max_symbol_exposure,
            total_exposure: totals.gross_exposure,
            daily_pnl: daily.pnl,
            unrealized_pnl: totals.unrealized,
        };
        let action = self.caps.evaluate(now, figures);
        if let Some(breach) = action.trip {
            self.trip(GuardId::KillCaps, None, breach.reason(), None);
        }
        if action.flatten {
            self.flattening = true;
            self.flatten_all(now);
        }
        if action.cleared {
            self.cleared(GuardId::KillCaps, None);
        }
    }

    /// Whether every position of every instrument is below its venue's minimum size.
    pub(crate) fn all_positions_flat(&self) -> bool {
        (0..self.config.instruments.len()).all(|i| {
            let instrument = InstrumentId(i as u16);
            Venue::ALL.iter().all(|v| {
                let q = self.ledger.position(*v, instrument).qty.raw().abs();
                self.config
                    .listing(*v, instrument)
                    .map_or(q == 0, |l| q < l.min_qty.raw())
            })
        })
    }

    /// Sends reduce-only orders closing every position (at most once per second per
    /// position, and never twice while one is working).
    pub(crate) fn flatten_all(&mut self, now: UnixNanos) {
        if now < self.flatten_at {
            return;
        }
        self.flatten_at = now.plus_nanos(FLATTEN_RETRY_NS);
        for i in 0..self.config.instruments.len() {
            let instrument = InstrumentId(i as u16);
            for venue in Venue::ALL {
                self.flatten_one(now, venue, instrument);
            }
        }
    }

    fn flatten_one(&mut self, now: UnixNanos, venue: Venue, instrument: InstrumentId) {
        let pos = self.ledger.position(venue, instrument).qty.raw();
        if pos == 0 {
            return;
        }
        let working = self.orders.iter().any(|o| {
            o.is_live()
                && o.request.venue == venue
                && o.request.instrument == instrument
                && matches!(
                    o.request.purpose,
                    OrderPurpose::Flatten | OrderPurpose::Unwind
                )
        });
        if working {
            return;
        }
        let Some(listing) = self.config.listing(venue, instrument).cloned() else {
            return;
        };
        let qty = Qty::from_raw(pos.abs()).round_down_to(listing.lot);
        if qty < listing.min_qty {
            return;
        }
        let book = &self.books[book_slot(venue, instrument)];
        let top = book.top();
        if !book.is_valid() || !top.is_two_sided() {
            self.alert(
                Severity::Error,
                "flatten_no_price",
                "kill_caps",
                format!(
                    "cannot flatten {venue} {}: no valid book",
                    self.instrument_name(instrument)
                ),
            );
            return;
        }
        let slip =
            CentiBps::from_raw(self.config.strategy.max_slippage.raw() * UNWIND_SLIPPAGE_MULTIPLE);
        let (side, price, arrival) = if pos > 0 {
            (Side::Sell, sell_limit(top.bid, slip, listing.tick), top.bid)
        } else {
            (Side::Buy, buy_limit(top.ask, slip, listing.tick), top.ask)
        };
        let order = NewOrder {
            venue,
            instrument,
            side,
            price,
            qty,
            time_in_force: TimeInForce::Ioc,
            reduce_only: true,
            purpose: OrderPurpose::Flatten,
            arrival,
        };
        let _ = self.send(now, order);
    }
}

pub(crate) fn mark_of(book: &crate::book::Book) -> Option<Price> {
    let top = book.top();
    (book.is_valid() && top.is_two_sided()).then(|| top.bid.midpoint(top.ask))
}
