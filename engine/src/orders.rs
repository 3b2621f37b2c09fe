//! Order bookkeeping: every order the engine sent, its state, and what execution
//! reports did to it. Bounded by `limits.orders_tracked_max`: terminal orders are kept
//! for late reports and evicted oldest first; when only live orders remain and the
//! table is full, a new order is refused (it is never silently dropped).

use crate::input::{ExecutionKind, ExecutionReport};
use crate::model::{ClientOrderId, OrderState, Qty, Venue, VenueOrderId};
use crate::output::OrderRequest;
use crate::time::UnixNanos;
use serde::Serialize;
use std::collections::BTreeMap;

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
    pub arrival: crate::model::Price,
}

impl Order {
    /// Whether the order may still rest or fill at the venue.
    pub fn is_live(&self) -> bool {
        !self.state.is_terminal()
    }

    /// Quantity not yet filled.
    pub fn remaining(&self) -> Qty {
        Qty(self.request.qty.raw() - self.filled.raw())
    }
}

/// What a report did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportEffect {
    /// The report was for an order we do not know.
    pub unknown_order: bool,
    /// New state, if it changed.
    pub new_state: Option<OrderState>,
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
        arrival: crate::model::Price,
    ) -> Result<(), TableFull> {
        if self.orders.len() >= self.max && !self.evict_one() {
            self.counters.table_full += 1;
            return Err(TableFull);
        }
        self.counters.sent += 1;
        self.orders.insert(
            request.client_order_id,
            Order {
                request,
                state: OrderState::NewInFlight,
                venue_order_id: None,
                filled: Qty::ZERO,
                sent_at: now,
                answered_at: UnixNanos::ZERO,
                state_since: now,
                cancel_wanted: false,
                lookups: 0,
                lookup_at: UnixNanos::NEVER,
                arrival,
            },
        );
        Ok(())
    }

    /// Restores an order from the journal (recovery).
    pub fn restore(&mut self, order: Order) {
        if self.orders.len() >= self.max {
            self.evict_one();
        }
        self.orders.insert(order.request.client_order_id, order);
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

    /// An order by id.
    pub fn get(&self, id: &ClientOrderId) -> Option<&Order> {
        self.orders.get(id)
    }

    /// An order by id, mutable.
    pub fn get_mut(&mut self, id: &ClientOrderId) -> Option<&mut Order> {
        self.orders.get_mut(id)
    }

    /// All orders, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// All orders, mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Order> {
        self.orders.values_mut()
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

    /// Marks a cancel as sent.
    pub fn cancel_sent(&mut self, now: UnixNanos, id: &ClientOrderId) {
        if let Some(o) = self.orders.get_mut(id) {
            if o.is_live() && o.state != OrderState::Unknown {
                o.state = OrderState::CancelInFlight;
                o.state_since = now;
            }
            o.cancel_wanted = false;
            self.counters.cancels_sent += 1;
        }
    }

    /// Marks an order unknown (ack timeout) and due for a lookup.
    pub fn mark_unknown(&mut self, now: UnixNanos, id: &ClientOrderId) {
        if let Some(o) = self.orders.get_mut(id)
            && o.is_live()
            && o.state != OrderState::Unknown
        {
            o.state = OrderState::Unknown;
            o.state_since = now;
            o.lookup_at = now;
            self.counters.unknown += 1;
        }
    }

    /// Applies an execution report. Fill deduplication by trade id is the ledger's;
    /// the caller only passes fills the ledger has not seen.
    pub fn apply(&mut self, now: UnixNanos, report: &ExecutionReport) -> ReportEffect {
        let mut effect = ReportEffect::default();
        let Some(o) = self.orders.get_mut(&report.client_order_id) else {
            self.counters.unknown_order_reports += 1;
            effect.unknown_order = true;
            return effect;
        };
        let first_answer = o.answered_at.is_zero()
            && !matches!(
                report.kind,
                ExecutionKind::Unknown
                    | ExecutionKind::Lookup { .. }
                    | ExecutionKind::CancelRejected
            );
        if first_answer {
            o.answered_at = now;
            effect.cycle_ns = Some(now.nanos_since(o.sent_at));
        }
        let before = o.state;
        match report.kind {
            ExecutionKind::Ack { venue_order_id } => {
                o.venue_order_id = Some(venue_order_id);
                match o.state {
                    OrderState::NewInFlight | OrderState::Unknown => {
                        o.state = OrderState::Open;
                        self.counters.acked += 1;
                    }
                    _ => effect.redundant = true,
                }
            }
            ExecutionKind::Fill { qty, .. } => {
                effect.filled = qty;
                let total = o.filled.raw() + qty.raw();
                if total > o.request.qty.raw() {
                    effect.overfill = true;
                    self.counters.overfills += 1;
                }
                o.filled = Qty(total);
                if total >= o.request.qty.raw() {
                    o.state = OrderState::Filled;
                } else if matches!(o.state, OrderState::NewInFlight | OrderState::Unknown) {
                    o.state = OrderState::Open;
                }
            }
            ExecutionKind::Cancelled { .. } => {
                if o.is_live() {
                    o.state = OrderState::Cancelled;
                } else {
                    effect.redundant = true;
                }
            }
            ExecutionKind::Rejected { .. } => {
                if o.is_live() {
                    o.state = OrderState::Rejected;
                    self.counters.rejected += 1;
                } else {
                    effect.redundant = true;
                }
            }
            ExecutionKind::CancelRejected => {
                self.counters.cancels_failed += 1;
                if o.is_live() {
                    // The venue says it is not open: filled or gone. Find out which.
                    o.state = OrderState::Unknown;
                    o.lookup_at = now;
                    effect.lookup = true;
                }
            }
            ExecutionKind::Unknown => {
                if o.is_live() && o.state != OrderState::Unknown {
                    o.state = OrderState::Unknown;
                    o.lookup_at = now;
                    self.counters.unknown += 1;
                    effect.lookup = true;
                }
            }
            ExecutionKind::Lookup { state, filled } => {
                if filled > o.filled {
                    effect.missing_fills = true;
                }
                match state {
                    // The venue has no such order. It may still arrive until its request
                    // expiry has passed; only then is it known never to have existed.
                    None if o.state == OrderState::Unknown => {
                        if now >= o.request.expires_at {
                            o.state = if o.filled.is_positive() {
                                OrderState::Cancelled
                            } else {
                                OrderState::Rejected
                            };
                        } else {
                            o.lookup_at = o.request.expires_at;
                        }
                    }
                    None => effect.redundant = true,
                    Some(s) if o.is_live() => {
                        o.state = match s {
                            OrderState::NewInFlight | OrderState::Unknown => OrderState::Open,
                            other => other,
                        };
                        if o.state == OrderState::Filled && filled > o.filled {
                            // Keep our filled count: the missing fills come through
                            // reconciliation with their trade ids.
                            o.state = OrderState::Open;
                            effect.missing_fills = true;
                        }
                    }
                    Some(_) => effect.redundant = true,
                }
                o.lookups += 1;
            }
        }
        if o.state != before {
            o.state_since = now;
            effect.new_state = Some(o.state);
        }
        if effect.redundant {
            self.counters.redundant_reports += 1;
        }
        effect
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
            price: Price(100),
            qty: Qty(qty),
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
            price: Price(100),
            qty: Qty(qty),
            liquidity: Liquidity::Taker,
            fee: None,
        }
    }

    #[test]
    fn ack_fill_and_fill_before_ack() {
        let mut t = Orders::new(8, 0);
        t.insert(UnixNanos(0), request(1, 10), Price(100)).unwrap();
        let e = t.apply(UnixNanos(5), &report(1, fill(4)));
        assert_eq!(
            e.new_state,
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
        assert_eq!(e.new_state, Some(OrderState::Filled));
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
        t.insert(UnixNanos(0), request(1, 10), Price(100)).unwrap();
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
                    filled: Qty(0),
                },
            ),
        );
        assert_eq!(e.new_state, None);
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
                    filled: Qty(0),
                },
            ),
        );
        assert_eq!(e.new_state, Some(OrderState::Rejected));
    }

    #[test]
    fn a_full_table_evicts_terminal_orders_and_refuses_otherwise() {
        let mut t = Orders::new(2, 0);
        t.insert(UnixNanos(0), request(1, 1), Price(100)).unwrap();
        t.insert(UnixNanos(0), request(2, 1), Price(100)).unwrap();
        assert_eq!(
            t.insert(UnixNanos(0), request(3, 1), Price(100)),
            Err(TableFull)
        );
        t.apply(
            UnixNanos(1),
            &report(
                1,
                ExecutionKind::Rejected {
                    reason: RejectReason::Other,
                },
            ),
        );
        assert!(t.has_room());
        t.insert(UnixNanos(2), request(3, 1), Price(100)).unwrap();
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
        t.insert(UnixNanos(0), request(1, 1), Price(100)).unwrap();
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
}
