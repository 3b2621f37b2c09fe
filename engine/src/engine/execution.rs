//! Execution reports, order timeouts and lookups, cancels.

use super::{Engine, LOOKUP_RETRY_NS, RECON_RETRY_NS};
use crate::input::{ExecutionKind, ExecutionReport, RejectReason};
use crate::ledger::{Booked, Fill};
use crate::model::{ClientOrderId, Liquidity, MoneyOverflow, OrderState, Side, notional_of};
use crate::orders::{Due, OrderUpdate};
use crate::output::{JournalEvent, Output, Severity};
use crate::time::{NANOS_PER_MILLI, UnixNanos};

impl Engine {
    pub(super) fn on_execution(&mut self, now: UnixNanos, report: ExecutionReport) {
        if report.instrument.index() >= self.config.instruments.len() {
            self.metrics.malformed[report.venue.index()].add(now, 1, 1);
            return;
        }
        match report.kind {
            ExecutionKind::Fill {
                trade_id,
                price,
                qty,
                liquidity,
                fee,
            } => {
                if !qty.is_positive() || !price.is_positive() {
                    self.metrics.malformed[report.venue.index()].add(now, 1, 1);
                    return;
                }
                if self
                    .ledger
                    .has_trade(report.venue, report.instrument, trade_id)
                {
                    self.orders.counters.redundant_reports += 1;
                    return;
                }
                let fill = Fill {
                    venue: report.venue,
                    instrument: report.instrument,
                    trade_id,
                    side: report.side,
                    price,
                    qty,
                    liquidity,
                    fee,
                };
                if self
                    .book_fill(now, Some(report.client_order_id), fill)
                    .is_err()
                {
                    // Refused by the ledger: the order table must not count it either.
                    self.metrics.malformed[report.venue.index()].add(now, 1, 1);
                    return;
                }
                if self.recent_fills.len() == super::RECENT_FILLS_MAX {
                    self.recent_fills.pop_front();
                }
                let signed = report.side.sign() * qty.raw();
                self.recent_fills.push_back((
                    report.venue,
                    report.instrument,
                    trade_id,
                    signed,
                    report.ts_exchange,
                ));
                let effect = self.orders.apply(now, &report);
                self.after_report(now, &report, effect);
            }
            _ => {
                let effect = self.orders.apply(now, &report);
                self.after_report(now, &report, effect);
            }
        }
        if let Some(p) = self
            .pairs
            .iter()
            .position(|p| p.spec.instrument == report.instrument)
        {
            self.drive_pair(now, p);
        }
    }

    /// Books a fill in the ledger and journals it (the order table is updated by the
    /// caller). A duplicate is ignored. A fill the ledger cannot hold (its position,
    /// fees or PnL would overflow) is refused with a Critical alert and a
    /// reconciliation request: the venue then disagrees with the journal, which keeps
    /// the engine in HOLD until an operator has looked.
    pub(crate) fn book_fill(
        &mut self,
        now: UnixNanos,
        order: Option<ClientOrderId>,
        fill: Fill,
    ) -> Result<(), MoneyOverflow> {
        let fee = match self.ledger.book(&fill) {
            Ok(Booked::Booked { fee }) => fee,
            Ok(Booked::Duplicate) => return Ok(()),
            Err(overflow) => {
                self.alert(
                    Severity::Critical,
                    "fill_overflow",
                    "conformance",
                    format!(
                        "{} fill {} of {} refused: its {overflow}",
                        fill.venue,
                        fill.trade_id.0,
                        self.instrument_name(fill.instrument)
                    ),
                );
                self.request_reconciliation(fill.venue);
                return Err(overflow);
            }
        };
        self.metrics.fills += 1;
        if fill.liquidity == Liquidity::Maker {
            self.metrics.maker_fills += 1;
        }
        let scales = self.config.instruments[fill.instrument.index()].scales;
        let value = notional_of(fill.price, fill.qty, scales.price, scales.qty).unwrap_or_default();
        self.metrics.traded_notional = self.metrics.traded_notional.saturating_add(value.raw());
        self.metrics.fees_paid = self.metrics.fees_paid.saturating_add(fee.raw());
        if let Some(o) = order.and_then(|id| self.orders.get(&id))
            && o.arrival.is_positive()
        {
            // Adverse slippage against the touch at decision time, in 1/100 bp.
            let adverse = match fill.side {
                Side::Buy => crate::strategy::edge(o.arrival, fill.price).raw(),
                Side::Sell => crate::strategy::edge(fill.price, o.arrival).raw(),
            };
            self.metrics
                .slippage_centibps
                .record(now, adverse.max(0) as u64);
        }
        self.journal_event(JournalEvent::Fill {
            client_order_id: order,
            fill,
            fee,
        });
        self.evaluate_caps(now);
        Ok(())
    }

    fn after_report(
        &mut self,
        now: UnixNanos,
        report: &ExecutionReport,
        effect: crate::orders::ReportEffect,
    ) {
        let id = report.client_order_id;
        if effect.unknown_order {
            self.alert(
                Severity::Warn,
                "unknown_order",
                "conformance",
                format!(
                    "{} reported on order {id} which this engine does not track",
                    report.venue
                ),
            );
            self.request_reconciliation(report.venue);
            return;
        }
        if let Some(cycle) = effect.cycle_ns {
            self.metrics
                .order_cycle_ms
                .record(now, cycle / NANOS_PER_MILLI);
        }
        if effect.overfill {
            self.overfilled(report.venue, id);
        }
        match report.kind {
            ExecutionKind::Rejected { reason } => {
                self.metrics.rejects.add(now, 1, 0);
                match reason {
                    RejectReason::RateLimited => self.rate.on_rate_limited(now, report.venue, None),
                    RejectReason::DuplicateClientOrderId => self.alert(
                        Severity::Critical,
                        "duplicate_client_order_id",
                        "journal",
                        format!(
                            "{} saw client order id {id} twice: exactly-once violated",
                            report.venue
                        ),
                    ),
                    RejectReason::ReduceOnly => self.position_disputed(report.venue),
                    _ => {}
                }
            }
            ExecutionKind::CancelRejected => self.metrics.cancel_failures.add(now, 1, 0),
            _ => {}
        }
        if let Some(update) = effect.update {
            self.journal_order_update(update);
        }
        if effect.lookup {
            self.send_lookup(now, id);
        }
        if effect.missing_fills {
            self.request_reconciliation(report.venue);
        }
    }

    /// A venue filled an order beyond its quantity (counted by `Orders`): a venue
    /// anomaly, alerted, never a panic.
    pub(crate) fn overfilled(&mut self, venue: crate::model::Venue, id: ClientOrderId) {
        self.alert(
            Severity::Error,
            "overfill",
            "conformance",
            format!("{venue} filled order {id} beyond its quantity"),
        );
    }

    /// Journals a move of an order's state: every `Orders::transition` the journal
    /// records comes through here.
    pub(crate) fn journal_order_update(&mut self, update: OrderUpdate) {
        self.journal_event(update.into_event());
    }

    /// Ack timeouts, lookups due, and cancels the governor held back.
    pub(super) fn orders_tick(&mut self, now: UnixNanos) {
        let venues = self.config.venues;
        let due: Vec<(ClientOrderId, Due)> = self
            .orders
            .due(now, |v| venues[v.index()].ack_timeout_ns)
            .collect();
        for (id, why) in due {
            match why {
                Due::AckTimeout => {
                    if let Some(update) = self.orders.mark_unknown(now, &id) {
                        self.journal_order_update(update);
                    }
                    self.send_lookup(now, id);
                }
                Due::Lookup => self.send_lookup(now, id),
                Due::Cancel => self.cancel_order(now, id),
            }
        }
    }

    fn send_lookup(&mut self, now: UnixNanos, id: ClientOrderId) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        let (venue, instrument) = (o.request.venue, o.request.instrument);
        self.orders
            .set_lookup_at(&id, now.plus_nanos(LOOKUP_RETRY_NS));
        if self
            .rate
            .try_take(now, venue, crate::guards::RequestKind::Query)
        {
            self.emit(Output::QueryOrder {
                venue,
                instrument,
                client_order_id: id,
            });
        }
    }

    /// Cancels one order, now if the governor allows, else as soon as it does.
    pub(crate) fn cancel_order(&mut self, now: UnixNanos, id: ClientOrderId) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        if !o.is_live() || o.state == OrderState::CancelInFlight {
            return;
        }
        let (venue, instrument) = (o.request.venue, o.request.instrument);
        if !self
            .rate
            .try_take(now, venue, crate::guards::RequestKind::Cancel)
        {
            self.orders.want_cancel(&id);
            return;
        }
        if let crate::guards::RunawayCheck::Tripped =
            self.runaway.check(now, venue, instrument, true)
        {
            self.journal_event(JournalEvent::Quarantined { venue, instrument });
            self.trip(
                crate::guards::GuardId::RunawayBreaker,
                Some(venue),
                "runaway cancel loop: route quarantined",
                None,
            );
        }
        self.metrics.cancel_failures.add(now, 0, 1);
        self.journal_event(JournalEvent::CancelRequested {
            client_order_id: id,
        });
        self.orders.cancel_sent(now, &id);
        self.emit(Output::Cancel {
            venue,
            instrument,
            client_order_id: id,
        });
    }

    /// Cancels every live resting (non-IOC) order: on HOLD nothing may rest.
    pub(crate) fn cancel_resting(&mut self, now: UnixNanos) {
        let resting: Vec<ClientOrderId> = self
            .orders
            .iter()
            .filter(|o| o.is_live() && o.request.time_in_force != crate::model::TimeInForce::Ioc)
            .map(|o| o.request.client_order_id)
            .collect();
        for id in resting {
            self.cancel_order(now, id);
        }
    }

    /// Asks the driver to reconcile a venue (once until it answers).
    pub(crate) fn request_reconciliation(&mut self, venue: crate::model::Venue) {
        let now = self.now;
        let r = &mut self.recon[venue.index()];
        if r.requested {
            return;
        }
        r.requested = true;
        r.requested_at = now;
        self.emit(Output::Reconcile { venue });
    }

    /// Forgets a venue's reconciliation and asks for a new one: no order of any kind
    /// goes to it until the answer (a new epoch, where another leader may have traded
    /// the account; a reduce-only order the venue says would not reduce).
    pub(crate) fn reconcile_again(&mut self, venue: crate::model::Venue) {
        let r = &mut self.recon[venue.index()];
        r.done = false;
        r.requested = false;
        self.request_reconciliation(venue);
    }

    /// The venue rejected a reduce-only order as not reducing: the engine's position
    /// there is not the venue's. Reconcile before anything else goes (at-p0-chaos seed
    /// 1519 resent such a hedge about a hundred times a second).
    fn position_disputed(&mut self, venue: crate::model::Venue) {
        if !self.recon[venue.index()].done {
            return;
        }
        self.alert(
            Severity::Error,
            "position_disputed",
            "recon",
            format!("{venue} rejected a reduce-only order: positions differ; reconciling"),
        );
        self.reconcile_again(venue);
    }

    /// Asks again for a reconciliation that went unanswered (a lost request, a 429),
    /// and for the scheduled one once `guards.reconcile_every_ms` has passed since the
    /// last run.
    pub(super) fn recon_tick(&mut self, now: UnixNanos) {
        let every = self.config.guards.reconcile_every_ns;
        for venue in crate::model::Venue::ALL {
            let r = self.recon[venue.index()];
            if r.requested && now.nanos_since(r.requested_at) >= RECON_RETRY_NS {
                self.recon[venue.index()].requested = false;
                self.request_reconciliation(venue);
            } else if !r.requested
                && r.done
                && now.nanos_since(r.at) >= every
                && self.disconnect.is_connected(venue)
            {
                // Never over a dead link: the reconnect asks anyway.
                self.request_reconciliation(venue);
            }
        }
    }
}
