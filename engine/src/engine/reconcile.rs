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
use crate::model::{ClientOrderId, InstrumentId, OrderState, Qty};
use crate::output::{JournalEvent, Output, Severity};
use crate::time::UnixNanos;

impl Engine {
    pub(super) fn on_reconciliation(&mut self, now: UnixNanos, snap: &ReconSnapshot) {
        let venue = snap.venue;
        let mut mismatches = 0u32;
        let mut fills_recovered = 0u32;
        let mut resolved = 0u32;
        for f in &snap.fills {
            if f.instrument.index() >= self.config.instruments.len()
                || !f.qty.is_positive()
                || !f.price.is_positive()
            {
                mismatches += 1;
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
            self.book_fill(now, f.client_order_id, fill);
            fills_recovered += 1;
            if let Some(id) = f.client_order_id
                && let Some(o) = self.orders.get_mut(&id)
            {
                o.filled = Qty(o.filled.raw() + f.qty.raw());
            }
        }
        let epoch = self.fencing.epoch();
        let listed: Vec<Option<ClientOrderId>> =
            snap.open_orders.iter().map(|o| o.client_order_id).collect();
        for o in &snap.open_orders {
            match o.client_order_id {
                Some(id) if self.orders.get(&id).is_some() => {
                    let ours = self.orders.get_mut(&id).expect("checked");
                    ours.venue_order_id = Some(o.venue_order_id);
                    if matches!(ours.state, OrderState::Unknown | OrderState::NewInFlight) {
                        ours.state = OrderState::Open;
                        ours.state_since = now;
                        resolved += 1;
                        self.journal_order_update(&id, OrderState::Open);
                    }
                }
                Some(id) if id.epoch < epoch && self.fencing.is_leader(now) => {
                    // Ours, from an older epoch: the new leader cancels it.
                    self.emit_cancel_foreign(now, venue, o.instrument, id);
                }
                Some(id) if epoch == 0 && id.epoch <= self.fencing.highest_epoch() => {
                    // A standby sees the leader's orders: not ours to judge.
                }
                _ => {
                    mismatches += 1;
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
        let ours: Vec<ClientOrderId> = self
            .orders
            .iter()
            .filter(|o| o.request.venue == venue && o.is_live())
            .map(|o| o.request.client_order_id)
            .collect();
        for id in ours {
            if listed.contains(&Some(id)) {
                continue;
            }
            let o = *self.orders.get(&id).expect("listed above");
            let state = match o.state {
                OrderState::Open | OrderState::CancelInFlight => {
                    Some(if o.filled >= o.request.qty {
                        OrderState::Filled
                    } else {
                        OrderState::Cancelled
                    })
                }
                OrderState::Unknown | OrderState::NewInFlight if now >= o.request.expires_at => {
                    Some(if o.filled.is_positive() {
                        OrderState::Cancelled
                    } else {
                        OrderState::Rejected
                    })
                }
                _ => None,
            };
            if let Some(state) = state {
                let entry = self.orders.get_mut(&id).expect("listed above");
                entry.state = state;
                entry.state_since = now;
                resolved += 1;
                self.journal_order_update(&id, state);
            }
        }
        for i in 0..self.config.instruments.len() {
            let instrument = InstrumentId(i as u16);
            if self.config.listing(venue, instrument).is_none() {
                continue;
            }
            let theirs = snap
                .positions
                .iter()
                .filter(|(inst, _)| *inst == instrument)
                .map(|(_, q)| q.raw())
                .sum::<i64>();
            // Fills we booked that the venue reports as later than its snapshot (and that
            // the snapshot does not list) are a race, not a mismatch.
            let after: i64 = self
                .recent_fills
                .iter()
                .filter(|(v, i, t, _, ts)| {
                    *v == venue
                        && *i == instrument
                        && *ts > snap.as_of
                        && !snap
                            .fills
                            .iter()
                            .any(|f| f.instrument == *i && f.trade_id == *t)
                })
                .map(|(.., q, _)| *q)
                .sum();
            let theirs = theirs + after;
            let mine = self.ledger.position(venue, instrument).qty.raw();
            if theirs != mine {
                mismatches += 1;
                self.alert(
                    Severity::Critical,
                    "recon_mismatch",
                    "recon",
                    format!(
                        "{venue} {}: venue position {theirs} ≠ journal {mine} (raw units)",
                        self.instrument_name(instrument)
                    ),
                );
            }
        }
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
