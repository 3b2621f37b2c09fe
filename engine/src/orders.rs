//! Order bookkeeping: every order the engine sent, its state, and what execution
//! reports did to it. Bounded by `limits.orders_tracked_max`: terminal orders are kept
//! for late reports and evicted oldest first; when only live orders remain and the
//! table is full, a new order is refused (it is never silently dropped).
//!
//! # The order state machine
//!
//! An order is inserted `NewInFlight`; after that its state changes only through
//! [`Orders::transition`], which checks the move against [`is_legal_move`], restarts
//! `state_since`, and returns the [`OrderUpdate`] the journal records. An illegal move
//! is a broken invariant of the engine (the callers filter what venues say before they
//! move an order) and panics, in release builds too.
//!
//! ```text
//!                 ┌──────────── ack / fill / lookup ────────────┐
//!  NewInFlight ───┤                                             ▼
//!      │  │       └─► CancelInFlight ◄── cancel sent ──────── Open
//!      │  │              │     ▲ └── lookup: still open ──────► ▲
//!      │  └─► Unknown ◄──┴─────┼──── timeout, 503, cancel refused ┘
//!      │        │  └── lookup ─┘
//!      ▼        ▼
//!   Filled · Cancelled · Rejected   (terminal: never change again)
//! ```
//!
//! Most moves are journaled as `OrderUpdate` records. Three are not, each because
//! another record or the restart itself covers it: a cancel sent (journaled as
//! `CancelRequested`), a cancel-all sent (an `Output::CancelAll`, re-sent on every
//! reconnect), and a restart's "in flight at the crash → Unknown" (derived again from
//! the journal on every restart).

use crate::input::{ExecutionKind, ExecutionReport};
use crate::model::{ClientOrderId, OrderState, Price, Qty, Venue, VenueOrderId};
use crate::output::{JournalEvent, OrderRequest};
use crate::time::UnixNanos;
use serde::Serialize;
use std::collections::BTreeMap;

/// Whether an order may move from `from` to `to`: the table of the state machine.
///
/// Terminal states never change and nothing goes back to `NewInFlight`. A move to
/// the same state is a no-op callers skip, except `CancelInFlight` again: a cancel-all
/// sent once more restarts the ack clock of the orders it covers.
pub const fn is_legal_move(from: OrderState, to: OrderState) -> bool {
    use OrderState::{CancelInFlight, Cancelled, Filled, NewInFlight, Open, Rejected, Unknown};
    matches!(
        (from, to),
        // The first answer: acknowledged (or filled first), cancelled or refused; a
        // cancel sent before the ack; no answer in time.
        (
            NewInFlight,
            Open | CancelInFlight | Filled | Cancelled | Rejected | Unknown
        )
        // A resting order: cancel sent, filled, cancelled, refused, or a request about
        // it went unanswered.
        | (
            Open,
            CancelInFlight | Filled | Cancelled | Rejected | Unknown
        )
        // A cancel on its way: confirmed, overtaken by fills, refused (unknown until
        // looked up), found still open by a lookup, or sent again by a cancel-all.
        | (
            CancelInFlight,
            Open | CancelInFlight | Filled | Cancelled | Rejected | Unknown
        )
        // An unknown outcome resolved by a lookup, a report or a reconciliation.
        | (
            Unknown,
            Open | CancelInFlight | Filled | Cancelled | Rejected
        )
    )
}

/// One order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    /// What was asked.
    pub request: OrderRequest,
    /// What is known.
    pub state: OrderState,
    /// Venue id once acknowledged.
    pub venue_order_id: Option<VenueOrderId>,
    /// Filled so far.
    pub filled: Qty,
    /// When it was sent.
    pub sent_at: UnixNanos,
    /// First venue answer (ack, fill or reject); zero until then.
    pub answered_at: UnixNanos,
    /// When the state last changed.
    pub state_since: UnixNanos,
    /// A cancel is wanted but has not left yet (governor or maintenance).
    pub cancel_wanted: bool,
    /// Lookups sent for an unknown outcome.
    pub lookups: u32,
    /// Next lookup due.
    pub lookup_at: UnixNanos,
    /// The touch price when the order was decided (for slippage measurement).
    pub arrival: Price,
}

impl Order {
    /// An order just sent at `at`, not yet answered.
    pub fn sent(request: OrderRequest, at: UnixNanos, arrival: Price) -> Order {
        Order {
            request,
            state: OrderState::NewInFlight,
            venue_order_id: None,
            filled: Qty::ZERO,
            sent_at: at,
            answered_at: UnixNanos::ZERO,
            state_since: at,
            cancel_wanted: false,
            lookups: 0,
            lookup_at: UnixNanos::NEVER,
            arrival,
        }
    }

    /// Whether the order may still rest or fill at the venue.
    pub fn is_live(&self) -> bool {
        !self.state.is_terminal()
    }

    /// Quantity not yet filled (negative after an overfill).
    pub fn remaining(&self) -> Qty {
        self.request
            .qty
            .checked_sub(self.filled)
            .expect("order and filled quantities are never negative: their difference fits")
    }

    /// Adds a fill. Returns whether the order is now filled beyond its quantity: a
    /// venue anomaly the caller flags (`overfill`), never a panic.
    pub fn add_fill(&mut self, qty: Qty) -> bool {
        // Saturating: the venue's fills can sum past `i64`, and a filled quantity
        // pinned at the maximum is beyond any order's, so it is flagged as an overfill.
        self.filled = self.filled.saturating_add(qty);
        self.filled > self.request.qty
    }

    /// Restores what a journaled `OrderUpdate` says (recovery). The journal records
    /// states, not moves: the unjournaled moves (see the module docs) mean that two
    /// records in a row may name the same state, so a record is restored as it is
    /// rather than checked against [`is_legal_move`]. Only live orders are restored;
    /// a terminal record removes the order instead.
    pub fn restore_update(
        &mut self,
        ts: UnixNanos,
        state: OrderState,
        venue_order_id: Option<VenueOrderId>,
        filled: Qty,
    ) {
        assert!(
            self.is_live() && !state.is_terminal(),
            "recovery restores live orders only"
        );
        self.state = state;
        self.venue_order_id = venue_order_id.or(self.venue_order_id);
        self.filled = filled;
        self.state_since = ts;
    }
}

/// A move of an order's state, with what the journal records about it. Only
/// [`Orders::transition`] makes one.
#[must_use = "journal it (`Engine::journal_order_update`): the journal must see every move"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderUpdate {
    client_order_id: ClientOrderId,
    state: OrderState,
    venue_order_id: Option<VenueOrderId>,
    filled: Qty,
}

impl OrderUpdate {
    /// The order's new state.
    pub fn state(&self) -> OrderState {
        self.state
    }

    /// The journal record.
    pub fn into_event(self) -> JournalEvent {
        JournalEvent::OrderUpdate {
            client_order_id: self.client_order_id,
            state: self.state,
            venue_order_id: self.venue_order_id,
            filled: self.filled,
        }
    }
}

/// What a report did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportEffect {
    /// The report was for an order we do not know.
    pub unknown_order: bool,
    /// The move it made, for the journal (none if the state did not change).
    pub update: Option<OrderUpdate>,
    /// Quantity filled by this report (zero if none).
    pub filled: Qty,
    /// The fill made the order exceed its quantity (a venue anomaly).
    pub overfill: bool,
    /// The report repeated what was already known.
    pub redundant: bool,
    /// The order needs a lookup at the venue.
    pub lookup: bool,
    /// The venue's filled quantity exceeds ours: fills are missing (reconcile).
    pub missing_fills: bool,
    /// First answer from the venue: send→answer latency, ns.
    pub cycle_ns: Option<u64>,
}

impl ReportEffect {
    /// The order's new state, if the report changed it.
    pub fn new_state(&self) -> Option<OrderState> {
        self.update.map(|u| u.state())
    }
}

/// Counters for status.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct OrderCounters {
    /// Orders sent.
    pub sent: u64,
    /// Acknowledged.
    pub acked: u64,
    /// Rejected by a venue.
    pub rejected: u64,
    /// Cancels sent.
    pub cancels_sent: u64,
    /// Cancels the venue refused.
    pub cancels_failed: u64,
    /// Outcomes that became unknown.
    pub unknown: u64,
    /// Reports that repeated known facts.
    pub redundant_reports: u64,
    /// Reports for orders we do not know.
    pub unknown_order_reports: u64,
    /// Fills beyond an order's quantity.
    pub overfills: u64,
    /// Orders refused because the table was full.
    pub table_full: u64,
}

/// The order table.
#[derive(Clone, Debug)]
pub struct Orders {
    orders: BTreeMap<ClientOrderId, Order>,
    max: usize,
    sequence: u64,
    /// Counters.
    pub counters: OrderCounters,
}

/// The table is full of live orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

impl Orders {
    /// An empty table holding at most `max` orders; ids continue after `last_sequence`.
    pub fn new(max: usize, last_sequence: u64) -> Orders {
        Orders {
            orders: BTreeMap::new(),
            max,
            sequence: last_sequence,
            counters: OrderCounters::default(),
        }
    }

    /// The next client order id for `epoch`.
    pub fn next_id(&mut self, epoch: u32) -> ClientOrderId {
        self.sequence += 1;
        ClientOrderId {
            epoch,
            sequence: self.sequence,
        }
    }

    /// Restarts sequences for a new epoch (ids are unique per epoch, and epochs only
    /// grow, so sequences may restart).
    pub fn new_epoch(&mut self) {
        self.sequence = 0;
    }

    /// Orders tracked (live and terminal).
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Whether no order is tracked.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// The most orders tracked at once (`limits.orders_tracked_max`).
    pub fn capacity(&self) -> usize {
        self.max
    }

    /// Last sequence handed out.
    pub fn last_sequence(&self) -> u64 {
        self.sequence
    }

    /// Whether one more order fits (evicting the oldest terminal order if needed).
    pub fn has_room(&self) -> bool {
        self.orders.len() < self.max || self.orders.values().any(|o| !o.is_live())
    }

    /// Adds a sent order.
    pub fn insert(
        &mut self,
        now: UnixNanos,
        request: OrderRequest,
        arrival: Price,
    ) -> Result<(), TableFull> {
        let id = request.client_order_id;
        assert!(
            !self.orders.contains_key(&id),
            "client order id {id} used twice"
        );
        if self.orders.len() >= self.max && !self.evict_one() {
            self.counters.table_full += 1;
            return Err(TableFull);
        }
        self.counters.sent += 1;
        self.orders.insert(id, Order::sent(request, now, arrival));
        assert!(
            self.orders.len() <= self.max,
            "order table beyond its bound"
        );
        Ok(())
    }

    /// Restores a live order from the journal when the engine boots at `now`. What was
    /// in flight at the crash has an unknown outcome until the venue says otherwise: it
    /// is looked up at once, never re-sent.
    pub fn restore(&mut self, now: UnixNanos, mut order: Order) {
        assert!(order.is_live(), "only live orders are restored");
        let id = order.request.client_order_id;
        order.lookup_at = if order.state == OrderState::Unknown {
            now
        } else {
            UnixNanos::NEVER
        };
        let in_flight = matches!(
            order.state,
            OrderState::NewInFlight | OrderState::CancelInFlight
        );
        if self.orders.len() >= self.max {
            self.evict_one();
        }
        self.orders.insert(id, order);
        if in_flight {
            // Not journaled: every restart derives it again from the same records.
            let _derived_on_restart = self.transition(now, &id, OrderState::Unknown);
        }
    }

    fn evict_one(&mut self) -> bool {
        let oldest = self
            .orders
            .values()
            .filter(|o| !o.is_live())
            .min_by_key(|o| (o.state_since, o.request.client_order_id))
            .map(|o| o.request.client_order_id);
        match oldest {
            Some(id) => {
                self.orders.remove(&id);
                true
            }
            None => false,
        }
    }

    /// Moves order `id` to `to` at `now`: the one place an order's state changes.
    /// Restarts `state_since`; an order whose outcome becomes unknown is due for a
    /// lookup at once. Returns what the journal records.
    ///
    /// # Panics
    ///
    /// If the order is not tracked or the move is not in [`is_legal_move`]: callers
    /// decide moves from what they know of the order, so either is an engine bug.
    pub fn transition(
        &mut self,
        now: UnixNanos,
        id: &ClientOrderId,
        to: OrderState,
    ) -> OrderUpdate {
        let Some(o) = self.orders.get_mut(id) else {
            panic!("order {id} moved to {} but is not tracked", to.name());
        };
        assert!(
            is_legal_move(o.state, to),
            "order {id}: illegal move {} → {}",
            o.state.name(),
            to.name()
        );
        assert!(
            now >= o.state_since,
            "order {id}: state time went backwards"
        );
        o.state = to;
        o.state_since = now;
        if to == OrderState::Unknown {
            o.lookup_at = now;
        }
        OrderUpdate {
            client_order_id: *id,
            state: to,
            venue_order_id: o.venue_order_id,
            filled: o.filled,
        }
    }

    /// An order by id.
    pub fn get(&self, id: &ClientOrderId) -> Option<&Order> {
        self.orders.get(id)
    }

    /// All orders, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Live orders on a venue.
    pub fn live_on(&self, venue: Venue) -> usize {
        self.orders
            .values()
            .filter(|o| o.is_live() && o.request.venue == venue)
            .count()
    }

    /// Live orders in total.
    pub fn live(&self) -> usize {
        self.orders.values().filter(|o| o.is_live()).count()
    }

    /// Records the venue's id for an order (reconciliation lists it).
    pub fn set_venue_order_id(&mut self, id: &ClientOrderId, venue_order_id: VenueOrderId) {
        if let Some(o) = self.orders.get_mut(id) {
            o.venue_order_id = Some(venue_order_id);
        }
    }

    /// Adds a fill the venue reported outside an execution report (reconciliation).
    /// Returns whether it took the order beyond its quantity (counted as an overfill).
    pub fn add_fill(&mut self, id: &ClientOrderId, qty: Qty) -> bool {
        let overfill = self.orders.get_mut(id).is_some_and(|o| o.add_fill(qty));
        if overfill {
            self.counters.overfills += 1;
        }
        overfill
    }

    /// When the next lookup of an order is due.
    pub fn set_lookup_at(&mut self, id: &ClientOrderId, at: UnixNanos) {
        if let Some(o) = self.orders.get_mut(id) {
            o.lookup_at = at;
        }
    }

    /// A cancel is wanted but could not leave yet; `due` returns it until it does.
    pub fn want_cancel(&mut self, id: &ClientOrderId) {
        if let Some(o) = self.orders.get_mut(id) {
            o.cancel_wanted = true;
        }
    }

    /// Marks a cancel as sent. The move to `CancelInFlight` is journaled by the
    /// caller's `CancelRequested` record, not as an update. An order of unknown
    /// outcome stays unknown: its lookup decides.
    pub fn cancel_sent(&mut self, now: UnixNanos, id: &ClientOrderId) {
        let Some(o) = self.orders.get_mut(id) else {
            return;
        };
        o.cancel_wanted = false;
        self.counters.cancels_sent += 1;
        if o.is_live() && o.state != OrderState::Unknown {
            let _journaled_as_cancel_requested =
                self.transition(now, id, OrderState::CancelInFlight);
        }
    }

    /// Marks every live order on `venue` as cancelling: a cancel-all left. Not
    /// journaled (the cancel-all is re-sent on every reconnect until confirmed); orders
    /// of unknown outcome stay unknown.
    pub fn cancel_all_sent(&mut self, now: UnixNanos, venue: Venue) {
        let covered: Vec<ClientOrderId> = self
            .orders
            .values()
            .filter(|o| o.request.venue == venue && o.is_live())
            .filter(|o| o.state != OrderState::Unknown)
            .map(|o| o.request.client_order_id)
            .collect();
        for id in covered {
            let _covered_by_cancel_all = self.transition(now, &id, OrderState::CancelInFlight);
        }
    }

    /// Marks an order unknown (ack timeout) and due for a lookup.
    pub fn mark_unknown(&mut self, now: UnixNanos, id: &ClientOrderId) -> Option<OrderUpdate> {
        let o = self.orders.get(id)?;
        if !o.is_live() || o.state == OrderState::Unknown {
            return None;
        }
        self.counters.unknown += 1;
        Some(self.transition(now, id, OrderState::Unknown))
    }

    /// Applies an execution report. Fill deduplication by trade id is the ledger's;
    /// the caller only passes fills the ledger has not seen.
    #[must_use = "the effect carries the journal update and what to do next"]
    pub fn apply(&mut self, now: UnixNanos, report: &ExecutionReport) -> ReportEffect {
        let mut effect = ReportEffect::default();
        let id = report.client_order_id;
        let Some(o) = self.orders.get_mut(&id) else {
            self.counters.unknown_order_reports += 1;
            effect.unknown_order = true;
            return effect;
        };
        let is_answer = !matches!(
            report.kind,
            ExecutionKind::Unknown | ExecutionKind::Lookup { .. } | ExecutionKind::CancelRejected
        );
        if is_answer && o.answered_at.is_zero() {
            o.answered_at = now;
            effect.cycle_ns = Some(now.nanos_since(o.sent_at));
        }
        let to = report_target(o, now, report.kind, &mut effect).filter(|to| *to != o.state);
        let beyond = o.filled > o.request.qty;
        self.count_report(report.kind, to, &effect);
        assert!(
            !beyond || self.counters.overfills > 0,
            "order {id} filled beyond its quantity without an overfill flagged"
        );
        if let Some(to) = to {
            effect.update = Some(self.transition(now, &id, to));
        }
        effect
    }

    fn count_report(&mut self, kind: ExecutionKind, to: Option<OrderState>, effect: &ReportEffect) {
        let c = &mut self.counters;
        match kind {
            ExecutionKind::Ack { .. } if to.is_some() => c.acked += 1,
            ExecutionKind::Rejected { .. } if to.is_some() => c.rejected += 1,
            ExecutionKind::Unknown if to.is_some() => c.unknown += 1,
            ExecutionKind::CancelRejected => c.cancels_failed += 1,
            _ => {}
        }
        if effect.overfill {
            c.overfills += 1;
        }
        if effect.redundant {
            c.redundant_reports += 1;
        }
    }

    /// Orders that need attention at `now`: ack timeouts and lookups due.
    pub fn due<'a>(
        &'a self,
        now: UnixNanos,
        ack_timeout_ns: impl Fn(Venue) -> u64 + 'a,
    ) -> impl Iterator<Item = (ClientOrderId, Due)> + 'a {
        self.orders.values().filter_map(move |o| {
            let id = o.request.client_order_id;
            match o.state {
                OrderState::NewInFlight | OrderState::CancelInFlight
                    if now.nanos_since(o.state_since) >= ack_timeout_ns(o.request.venue) =>
                {
                    Some((id, Due::AckTimeout))
                }
                OrderState::Unknown if now >= o.lookup_at => Some((id, Due::Lookup)),
                _ if o.cancel_wanted && o.is_live() => Some((id, Due::Cancel)),
                _ => None,
            }
        })
    }

    /// Earliest time `due` will return something.
    pub fn next_deadline(&self, ack_timeout_ns: impl Fn(Venue) -> u64) -> UnixNanos {
        self.orders
            .values()
            .filter_map(|o| match o.state {
                OrderState::NewInFlight | OrderState::CancelInFlight => {
                    Some(o.state_since.plus_nanos(ack_timeout_ns(o.request.venue)))
                }
                OrderState::Unknown => Some(o.lookup_at),
                _ => None,
            })
            .min()
            .unwrap_or(UnixNanos::NEVER)
    }
}

/// Why an order needs attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// No answer within the ack timeout: the outcome is unknown.
    AckTimeout,
    /// A lookup is due.
    Lookup,
    /// A wanted cancel has not left yet.
    Cancel,
}

/// Where a report takes an order (`None`: nowhere new), updating what else it says
/// (venue id, fills, lookups) and the effect's flags on the way. A fill after the
/// order ended is booked in the ledger by the caller but moves nothing: terminal
/// states never change (a reconciliation that presumed the order cancelled cannot
/// know about a fill the venue reported later).
fn report_target(
    o: &mut Order,
    now: UnixNanos,
    kind: ExecutionKind,
    effect: &mut ReportEffect,
) -> Option<OrderState> {
    let live = o.is_live();
    let to = match kind {
        ExecutionKind::Ack { venue_order_id } => {
            o.venue_order_id = Some(venue_order_id);
            matches!(o.state, OrderState::NewInFlight | OrderState::Unknown)
                .then_some(OrderState::Open)
        }
        ExecutionKind::Fill { qty, .. } => {
            effect.filled = qty;
            effect.overfill = o.add_fill(qty);
            if !live {
                None
            } else if o.filled >= o.request.qty {
                Some(OrderState::Filled)
            } else {
                matches!(o.state, OrderState::NewInFlight | OrderState::Unknown)
                    .then_some(OrderState::Open)
            }
        }
        ExecutionKind::Cancelled { .. } => live.then_some(OrderState::Cancelled),
        ExecutionKind::Rejected { .. } => live.then_some(OrderState::Rejected),
        ExecutionKind::CancelRejected => {
            // The venue says it is not open: filled or gone. Find out which.
            if live {
                o.lookup_at = now;
                effect.lookup = true;
            }
            live.then_some(OrderState::Unknown)
        }
        ExecutionKind::Unknown => {
            let moves = live && o.state != OrderState::Unknown;
            effect.lookup = moves;
            moves.then_some(OrderState::Unknown)
        }
        ExecutionKind::Lookup { state, filled } => {
            return lookup_target(o, now, state, filled, effect);
        }
    };
    let repeats = matches!(
        kind,
        ExecutionKind::Ack { .. }
            | ExecutionKind::Cancelled { .. }
            | ExecutionKind::Rejected { .. }
    );
    if repeats && to.is_none() {
        effect.redundant = true;
    }
    to
}

/// Where a lookup's answer takes an order: the venue's state (`None` if it has no
/// such order) and its filled quantity.
fn lookup_target(
    o: &mut Order,
    now: UnixNanos,
    state: Option<OrderState>,
    filled: Qty,
    effect: &mut ReportEffect,
) -> Option<OrderState> {
    o.lookups += 1;
    if filled > o.filled {
        effect.missing_fills = true;
    }
    match state {
        // The venue has no such order. It may still arrive until its request expiry
        // has passed; only then is it known never to have existed.
        None if o.state == OrderState::Unknown => {
            if now >= o.request.expires_at {
                Some(if o.filled.is_positive() {
                    OrderState::Cancelled
                } else {
                    OrderState::Rejected
                })
            } else {
                o.lookup_at = o.request.expires_at;
                None
            }
        }
        Some(s) if o.is_live() => Some(match s {
            OrderState::NewInFlight | OrderState::Unknown => OrderState::Open,
            // Keep our filled count: the missing fills come through reconciliation
            // with their trade ids.
            OrderState::Filled if filled > o.filled => OrderState::Open,
            other => other,
        }),
        None | Some(_) => {
            effect.redundant = true;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{CancelReason, RejectReason};
    use crate::model::{InstrumentId, Liquidity, Price, Side, TimeInForce, TradeId};
    use crate::output::OrderPurpose;

    fn request(seq: u64, qty: i64) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId {
                epoch: 1,
                sequence: seq,
            },
            venue: Venue::Binance,
            instrument: InstrumentId(0),
            side: Side::Buy,
            price: Price::from_raw(100),
            qty: Qty::from_raw(qty),
            time_in_force: TimeInForce::Ioc,
            reduce_only: false,
            expires_at: UnixNanos(1_000),
            purpose: OrderPurpose::Entry,
            dry_run: true,
        }
    }

    fn report(seq: u64, kind: ExecutionKind) -> ExecutionReport {
        ExecutionReport {
            venue: Venue::Binance,
            instrument: InstrumentId(0),
            side: Side::Buy,
            client_order_id: ClientOrderId {
                epoch: 1,
                sequence: seq,
            },
            kind,
            ts_exchange: UnixNanos(0),
        }
    }

    fn fill(qty: i64) -> ExecutionKind {
        ExecutionKind::Fill {
            trade_id: TradeId(1),
            price: Price::from_raw(100),
            qty: Qty::from_raw(qty),
            liquidity: Liquidity::Taker,
            fee: None,
        }
    }

    #[test]
    fn ack_fill_and_fill_before_ack() {
        let mut t = Orders::new(8, 0);
        t.insert(UnixNanos(0), request(1, 10), Price::from_raw(100))
            .unwrap();
        let e = t.apply(UnixNanos(5), &report(1, fill(4)));
        assert_eq!(
            e.new_state(),
            Some(OrderState::Open),
            "a fill before the ack opens it"
        );
        assert_eq!(e.cycle_ns, Some(5));
        let e = t.apply(
            UnixNanos(6),
            &report(
                1,
                ExecutionKind::Ack {
                    venue_order_id: VenueOrderId(9),
                },
            ),
        );
        assert!(e.redundant);
        let e = t.apply(UnixNanos(7), &report(1, fill(6)));
        assert_eq!(e.new_state(), Some(OrderState::Filled));
        let e = t.apply(
            UnixNanos(8),
            &report(
                1,
                ExecutionKind::Cancelled {
                    reason: CancelReason::IocExpired,
                },
            ),
        );
        assert!(e.redundant, "a cancel after the fill changes nothing");
    }

    #[test]
    fn unknown_outcome_is_looked_up_and_resolved_only_after_expiry() {
        let mut t = Orders::new(8, 0);
        t.insert(UnixNanos(0), request(1, 10), Price::from_raw(100))
            .unwrap();
        let e = t.apply(UnixNanos(10), &report(1, ExecutionKind::Unknown));
        assert!(e.lookup);
        assert_eq!(
            t.get(&ClientOrderId {
                epoch: 1,
                sequence: 1
            })
            .unwrap()
            .state,
            OrderState::Unknown
        );
        // The venue has not seen it, but the request could still arrive: look again later.
        let e = t.apply(
            UnixNanos(20),
            &report(
                1,
                ExecutionKind::Lookup {
                    state: None,
                    filled: Qty::from_raw(0),
                },
            ),
        );
        assert_eq!(e.new_state(), None);
        let o = t
            .get(&ClientOrderId {
                epoch: 1,
                sequence: 1,
            })
            .unwrap();
        assert_eq!(o.lookup_at, UnixNanos(1_000));
        let e = t.apply(
            UnixNanos(1_000),
            &report(
                1,
                ExecutionKind::Lookup {
                    state: None,
                    filled: Qty::from_raw(0),
                },
            ),
        );
        assert_eq!(e.new_state(), Some(OrderState::Rejected));
    }

    #[test]
    fn a_full_table_evicts_terminal_orders_and_refuses_otherwise() {
        let mut t = Orders::new(2, 0);
        t.insert(UnixNanos(0), request(1, 1), Price::from_raw(100))
            .unwrap();
        t.insert(UnixNanos(0), request(2, 1), Price::from_raw(100))
            .unwrap();
        assert_eq!(
            t.insert(UnixNanos(0), request(3, 1), Price::from_raw(100)),
            Err(TableFull)
        );
        let e = t.apply(
            UnixNanos(1),
            &report(
                1,
                ExecutionKind::Rejected {
                    reason: RejectReason::Other,
                },
            ),
        );
        assert_eq!(e.new_state(), Some(OrderState::Rejected));
        assert!(t.has_room());
        t.insert(UnixNanos(2), request(3, 1), Price::from_raw(100))
            .unwrap();
        assert!(
            t.get(&ClientOrderId {
                epoch: 1,
                sequence: 1
            })
            .is_none()
        );
        assert_eq!(t.counters.table_full, 1);
    }

    #[test]
    fn ack_timeouts_are_due() {
        let mut t = Orders::new(8, 0);
        t.insert(UnixNanos(0), request(1, 1), Price::from_raw(100))
            .unwrap();
        assert_eq!(t.due(UnixNanos(99), |_| 100).count(), 0);
        assert_eq!(t.next_deadline(|_| 100), UnixNanos(100));
        let due: Vec<_> = t.due(UnixNanos(100), |_| 100).collect();
        assert_eq!(
            due,
            vec![(
                ClientOrderId {
                    epoch: 1,
                    sequence: 1
                },
                Due::AckTimeout
            )]
        );
    }

    const ALL_STATES: [OrderState; 7] = [
        OrderState::NewInFlight,
        OrderState::Open,
        OrderState::CancelInFlight,
        OrderState::Filled,
        OrderState::Cancelled,
        OrderState::Rejected,
        OrderState::Unknown,
    ];

    fn id(seq: u64) -> ClientOrderId {
        ClientOrderId {
            epoch: 1,
            sequence: seq,
        }
    }

    /// A table holding order 1 (quantity 10) in `state`, reached by legal moves at t=10.
    fn order_in(state: OrderState) -> Orders {
        let mut t = Orders::new(8, 0);
        t.insert(UnixNanos(0), request(1, 10), Price::from_raw(100))
            .unwrap();
        if state != OrderState::NewInFlight {
            let _ = t.transition(UnixNanos(10), &id(1), state);
        }
        assert_eq!(t.get(&id(1)).unwrap().state, state);
        t
    }

    /// Every pair of states against the table, written out here independently of
    /// `is_legal_move`: a legal move happens, restarts `state_since` and hands the
    /// journal its update; an illegal one panics and the order stays as it was.
    #[test]
    fn transitions_follow_the_table_and_illegal_ones_panic() {
        use OrderState::{CancelInFlight, Cancelled, Filled, NewInFlight, Open, Rejected, Unknown};
        let table: [(OrderState, &[OrderState]); 7] = [
            (
                NewInFlight,
                &[Open, CancelInFlight, Filled, Cancelled, Rejected, Unknown],
            ),
            (
                Open,
                &[CancelInFlight, Filled, Cancelled, Rejected, Unknown],
            ),
            (
                CancelInFlight,
                &[Open, CancelInFlight, Filled, Cancelled, Rejected, Unknown],
            ),
            (
                Unknown,
                &[Open, CancelInFlight, Filled, Cancelled, Rejected],
            ),
            (Filled, &[]),
            (Cancelled, &[]),
            (Rejected, &[]),
        ];
        for (from, legal) in table {
            for to in ALL_STATES {
                let expected = legal.contains(&to);
                assert_eq!(is_legal_move(from, to), expected, "{from:?} → {to:?}");
                let mut t = order_in(from);
                let moved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    t.transition(UnixNanos(50), &id(1), to)
                }));
                let o = *t.get(&id(1)).unwrap();
                match moved {
                    Ok(update) => {
                        assert!(expected, "{from:?} → {to:?} must panic");
                        assert_eq!((o.state, o.state_since), (to, UnixNanos(50)));
                        assert_eq!(update.state(), to);
                        assert_eq!(
                            update.into_event(),
                            JournalEvent::OrderUpdate {
                                client_order_id: id(1),
                                state: to,
                                venue_order_id: None,
                                filled: Qty::ZERO,
                            }
                        );
                        if to == Unknown {
                            assert_eq!(o.lookup_at, UnixNanos(50), "looked up at once");
                        }
                    }
                    Err(_) => {
                        assert!(!expected, "{from:?} → {to:?} is legal");
                        assert_eq!(o.state, from, "an illegal move changes nothing");
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "illegal move Filled → Open")]
    fn a_terminal_order_cannot_be_moved() {
        let mut t = order_in(OrderState::Filled);
        let _ = t.transition(UnixNanos(50), &id(1), OrderState::Open);
    }

    #[test]
    #[should_panic(expected = "is not tracked")]
    fn moving_an_order_the_table_does_not_hold_panics() {
        let mut t = Orders::new(8, 0);
        let _ = t.transition(UnixNanos(50), &id(1), OrderState::Open);
    }

    /// No report, timeout or cancel changes a terminal order's state; fills are still
    /// counted (at-p0-chaos seed 46: a reconciliation presumed an order cancelled, and
    /// its fill arrived afterwards).
    #[test]
    fn terminal_states_never_change() {
        let reports = [
            ExecutionKind::Ack {
                venue_order_id: VenueOrderId(9),
            },
            fill(10),
            ExecutionKind::Cancelled {
                reason: CancelReason::IocExpired,
            },
            ExecutionKind::Rejected {
                reason: RejectReason::Other,
            },
            ExecutionKind::CancelRejected,
            ExecutionKind::Unknown,
            ExecutionKind::Lookup {
                state: Some(OrderState::Open),
                filled: Qty::from_raw(0),
            },
            ExecutionKind::Lookup {
                state: None,
                filled: Qty::from_raw(0),
            },
        ];
        for terminal in ALL_STATES.into_iter().filter(|s| s.is_terminal()) {
            for kind in reports {
                let mut t = order_in(terminal);
                let e = t.apply(UnixNanos(2_000), &report(1, kind));
                assert_eq!(e.update, None, "{terminal:?} after {kind:?}");
                assert!(!e.lookup);
                let o = t.get(&id(1)).unwrap();
                assert_eq!((o.state, o.state_since), (terminal, UnixNanos(10)));
            }
            let mut t = order_in(terminal);
            assert_eq!(t.mark_unknown(UnixNanos(2_000), &id(1)), None);
            t.cancel_sent(UnixNanos(2_000), &id(1));
            t.cancel_all_sent(UnixNanos(2_000), Venue::Binance);
            assert_eq!(t.get(&id(1)).unwrap().state, terminal);
        }
        let mut t = order_in(OrderState::Cancelled);
        let e = t.apply(UnixNanos(2_000), &report(1, fill(10)));
        assert_eq!((e.update, e.filled), (None, Qty::from_raw(10)));
        assert_eq!(t.get(&id(1)).unwrap().filled, Qty::from_raw(10));
    }

    /// A fill beyond the quantity is a venue anomaly: flagged and counted, whether it
    /// comes in an execution report or through reconciliation, never a panic.
    #[test]
    fn fills_beyond_the_quantity_are_flagged() {
        let mut t = Orders::new(8, 0);
        t.insert(UnixNanos(0), request(1, 10), Price::from_raw(100))
            .unwrap();
        let e = t.apply(UnixNanos(1), &report(1, fill(8)));
        assert!(!e.overfill);
        let e = t.apply(UnixNanos(2), &report(1, fill(8)));
        assert!(e.overfill);
        assert_eq!(e.new_state(), Some(OrderState::Filled));
        assert!(
            t.add_fill(&id(1), Qty::from_raw(1)),
            "a reconciled fill beyond it too"
        );
        assert_eq!(t.counters.overfills, 2);
        assert_eq!(t.get(&id(1)).unwrap().filled, Qty::from_raw(17));
    }

    /// Cancels move live orders to `CancelInFlight` (a cancel-all again restarts the
    /// ack clock); an order of unknown outcome stays unknown until looked up.
    #[test]
    fn cancels_leave_unknown_orders_to_their_lookup() {
        let mut t = order_in(OrderState::Open);
        t.cancel_sent(UnixNanos(20), &id(1));
        let o = *t.get(&id(1)).unwrap();
        assert_eq!(
            (o.state, o.state_since),
            (OrderState::CancelInFlight, UnixNanos(20))
        );
        t.cancel_all_sent(UnixNanos(30), Venue::Binance);
        assert_eq!(t.get(&id(1)).unwrap().state_since, UnixNanos(30));
        let mut t = order_in(OrderState::Unknown);
        t.cancel_sent(UnixNanos(20), &id(1));
        t.cancel_all_sent(UnixNanos(30), Venue::Binance);
        let o = *t.get(&id(1)).unwrap();
        assert_eq!(
            (o.state, o.state_since),
            (OrderState::Unknown, UnixNanos(10))
        );
    }

    /// What was in flight at a crash comes back unknown and due for a lookup at boot;
    /// a resting order comes back as it was.
    #[test]
    fn restored_in_flight_orders_are_unknown_and_looked_up() {
        let mut t = Orders::new(8, 0);
        let mut sent = Order::sent(request(1, 10), UnixNanos(5), Price::from_raw(100));
        t.restore(UnixNanos(100), sent);
        let o = *t.get(&id(1)).unwrap();
        assert_eq!(
            (o.state, o.lookup_at, o.state_since),
            (OrderState::Unknown, UnixNanos(100), UnixNanos(100))
        );
        sent.request.client_order_id = id(2);
        sent.restore_update(
            UnixNanos(7),
            OrderState::Open,
            Some(VenueOrderId(3)),
            Qty::from_raw(4),
        );
        t.restore(UnixNanos(100), sent);
        let o = *t.get(&id(2)).unwrap();
        assert_eq!((o.state, o.lookup_at), (OrderState::Open, UnixNanos::NEVER));
        assert_eq!(
            (o.filled, o.venue_order_id),
            (Qty::from_raw(4), Some(VenueOrderId(3)))
        );
    }
}
