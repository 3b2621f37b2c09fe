//! Reconciliation: compare what a venue says (open orders, positions, fills since the
//! last journaled fill) with the engine's state, repair what can be repaired, and keep
//! HOLD on any mismatch.
//!
//! - Fills the ledger has not booked are booked (they happened while we were down).
//! - A venue order of ours from an older epoch is cancelled (SIMULATION.md: a new
//!   leader cancels or adopts older epochs' orders; PropBot cancels).
//! - A venue order that is not ours is a mismatch (someone else trades the account).
//! - Our live order the venue does not list is finished: filled or cancelled if it
//!   was acknowledged; if its outcome was unknown it stays unknown until its request
//!   expiry has passed, then it is known never to have existed (never re-sent).
//! - A position that differs from the sum of journaled and recovered fills is a
//!   mismatch.

use super::Engine;
use crate::input::ReconSnapshot;
use crate::ledger::Fill;
use crate::model::{ClientOrderId, InstrumentId, MoneyOverflow, OrderState, Qty};
use crate::orders::Order;
use crate::output::{JournalEvent, Output, Severity};
use crate::time::UnixNanos;

impl Engine {
    pub(super) fn on_reconciliation(&mut self, now: UnixNanos, snap: &ReconSnapshot) {
        let venue = snap.venue;
        let (fills_recovered, mut mismatches) = self.recover_fills(now, snap);
        let (resolved_listed, foreign) = self.adopt_listed_orders(now, snap);
        let resolved = resolved_listed + self.finish_unlisted_orders(now, snap);
        mismatches += foreign + self.compare_positions(snap);
        let r = &mut self.recon[venue.index()];
        r.done = true;
        r.requested = false;
        r.mismatches = mismatches;
        r.at = now;
        r.runs += 1;
        r.fills_recovered += u64::from(fills_recovered);
        self.journal_event(JournalEvent::Reconciled {
            venue,
            mismatches,
            fills_recovered,
            orders_resolved: resolved,
        });
        let total: u32 = self.recon.iter().map(|r| r.mismatches).sum();
        self.set_recon_verdict(now, total);
        if self.control.mode == crate::output::Mode::Hold && self.fencing.is_leader(now) {
            // Nothing may rest while held: orders adopted from before a restart go.
            self.cancel_resting(now);
        }
    }

    /// Books the venue's fills the ledger has not seen. Returns (fills recovered,
    /// fills refused as malformed).
    fn recover_fills(&mut self, now: UnixNanos, snap: &ReconSnapshot) -> (u32, u32) {
        let venue = snap.venue;
        let mut recovered = 0u32;
        let mut malformed = 0u32;
        for f in &snap.fills {
            if f.instrument.index() >= self.config.instruments.len()
                || !f.qty.is_positive()
                || !f.price.is_positive()
            {
                malformed += 1;
                continue;
            }
            if self.ledger.has_trade(venue, f.instrument, f.trade_id) {
                continue;
            }
            let fill = Fill {
                venue,
                instrument: f.instrument,
                trade_id: f.trade_id,
                side: f.side,
                price: f.price,
                qty: f.qty,
                liquidity: f.liquidity,
                fee: f.fee,
            };
            if self.book_fill(now, f.client_order_id, fill).is_err() {
                // Refused by the ledger (alerted): as malformed, it keeps HOLD.
                malformed += 1;
                continue;
            }
            recovered += 1;
            if let Some(id) = f.client_order_id
                && self.orders.add_fill(&id, f.qty)
            {
                self.overfilled(venue, id);
            }
        }
        (recovered, malformed)
    }

    /// Goes through the venue's open orders: ours are adopted (an unknown outcome
    /// resolves to open), an older epoch's are cancelled, anyone else's are a
    /// mismatch. Returns (orders resolved, foreign orders).
    fn adopt_listed_orders(&mut self, now: UnixNanos, snap: &ReconSnapshot) -> (u32, u32) {
        let venue = snap.venue;
        let epoch = self.fencing.epoch();
        let mut resolved = 0u32;
        let mut foreign = 0u32;
        for o in &snap.open_orders {
            if let Some(ours) = o.client_order_id.and_then(|id| self.orders.get(&id)) {
                let (id, state) = (ours.request.client_order_id, ours.state);
                self.orders.set_venue_order_id(&id, o.venue_order_id);
                if matches!(state, OrderState::Unknown | OrderState::NewInFlight) {
                    let update = self.orders.transition(now, &id, OrderState::Open);
                    self.journal_order_update(update);
                    resolved += 1;
                }
                continue;
            }
            match o.client_order_id {
                Some(id) if id.epoch < epoch && self.fencing.is_leader(now) => {
                    // Ours, from an older epoch: the new leader cancels it.
                    self.emit_cancel_foreign(now, venue, o.instrument, id);
                }
                Some(id) if epoch == 0 && id.epoch <= self.fencing.highest_epoch() => {
                    // A standby sees the leader's orders: not ours to judge.
                }
                _ => {
                    foreign += 1;
                    self.alert(
                        Severity::Error,
                        "recon_foreign_order",
                        "recon",
                        format!(
                            "{venue} holds an open order {:?} that PropBot did not send",
                            o.venue_order_id
                        ),
                    );
                }
            }
        }
        (resolved, foreign)
    }

    /// Our live orders on the venue that it does not list are finished: filled or
    /// cancelled if acknowledged; if never answered, known never to have existed once
    /// their request expiry has passed. Returns the orders resolved.
    fn finish_unlisted_orders(&mut self, now: UnixNanos, snap: &ReconSnapshot) -> u32 {
        let listed = |id: ClientOrderId| {
            snap.open_orders
                .iter()
                .any(|o| o.client_order_id == Some(id))
        };
        let finished: Vec<(ClientOrderId, OrderState)> = self
            .orders
            .iter()
            .filter(|o| o.request.venue == snap.venue && o.is_live())
            .filter(|o| !listed(o.request.client_order_id))
            .filter_map(|o| Some((o.request.client_order_id, unlisted_outcome(o, now)?)))
            .collect();
        for &(id, state) in &finished {
            let update = self.orders.transition(now, &id, state);
            self.journal_order_update(update);
        }
        finished.len() as u32
    }

    /// Compares each listed instrument's position with the venue's. Fills we booked
    /// that the venue reports as later than its snapshot (and that the snapshot does
    /// not list) are a race, not a mismatch. Returns the mismatches.
    fn compare_positions(&mut self, snap: &ReconSnapshot) -> u32 {
        let venue = snap.venue;
        let mut mismatches = 0u32;
        for i in 0..self.config.instruments.len() {
            let instrument = InstrumentId(i as u16);
            if self.config.listing(venue, instrument).is_none() {
                continue;
            }
            let mine = self.ledger.position(venue, instrument).qty;
            let message = match self.venue_position(snap, instrument) {
                Ok(theirs) if theirs == mine => continue,
                Ok(theirs) => format!(
                    "{venue} {}: venue position {} ≠ journal {} (raw units)",
                    self.instrument_name(instrument),
                    theirs.raw(),
                    mine.raw()
                ),
                Err(overflow) => format!(
                    "{venue} {}: the venue's position {overflow} (journal {} raw units)",
                    self.instrument_name(instrument),
                    mine.raw()
                ),
            };
            mismatches += 1;
            self.alert(Severity::Critical, "recon_mismatch", "recon", message);
        }
        mismatches
    }

    /// The venue's position in `instrument` as of now: the snapshot's positions plus
    /// the fills we booked after it. Checked sums: the figures are the venue's, and a
    /// sum that does not fit is reported as a mismatch, never wrapped into agreement.
    fn venue_position(
        &self,
        snap: &ReconSnapshot,
        instrument: InstrumentId,
    ) -> Result<Qty, MoneyOverflow> {
        let listed = snap
            .positions
            .iter()
            .filter(|(inst, _)| *inst == instrument)
            .map(|(_, q)| *q);
        let listed = Qty::checked_sum(listed).ok_or(MoneyOverflow {
            what: "position in the snapshot",
        })?;
        let after = self
            .recent_fills
            .iter()
            .filter(|(v, i, t, _, ts)| {
                *v == snap.venue
                    && *i == instrument
                    && *ts > snap.as_of
                    && !snap
                        .fills
                        .iter()
                        .any(|f| f.instrument == *i && f.trade_id == *t)
            })
            .map(|(.., q, _)| Qty::from_raw(*q));
        Qty::checked_sum(after)
            .and_then(|after| listed.checked_add(after))
            .ok_or(MoneyOverflow {
                what: "position with the fills after the snapshot",
            })
    }

    fn emit_cancel_foreign(
        &mut self,
        now: UnixNanos,
        venue: crate::model::Venue,
        instrument: InstrumentId,
        id: ClientOrderId,
    ) {
        self.alert(
            Severity::Warn,
            "recon_old_epoch",
            "leader_fencing",
            format!("{venue}: cancelling order {id} left by an older epoch"),
        );
        if self
            .rate
            .try_take(now, venue, crate::guards::RequestKind::Cancel)
        {
            self.emit(Output::Cancel {
                venue,
                instrument,
                client_order_id: id,
            });
        } else {
            // Out of cancel budget: the blanket cancel-all covers it once budget returns.
            self.request_cancel_all(venue, "orders of an older epoch");
        }
    }
}

/// What became of a live order the venue does not list, if that is known yet.
fn unlisted_outcome(o: &Order, now: UnixNanos) -> Option<OrderState> {
    match o.state {
        OrderState::Open | OrderState::CancelInFlight => Some(if o.filled >= o.request.qty {
            OrderState::Filled
        } else {
            OrderState::Cancelled
        }),
        OrderState::Unknown | OrderState::NewInFlight if now >= o.request.expires_at => {
            Some(if o.filled.is_positive() {
                OrderState::Cancelled
            } else {
                OrderState::Rejected
            })
        }
        _ => None,
    }
}
