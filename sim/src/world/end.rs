//! The end of a run: the leader's final reconciliation against both venues (and the
//! check right after it), the checkers' end-of-run checks (liveness among them), and
//! the figures.

use super::{Event, Msg, T0, World};
use propbot_engine::gateway::Response;
use propbot_engine::input::ReconSnapshot;
use propbot_engine::model::{OrderState, Venue};
use propbot_engine::output::JournalEvent;
use propbot_engine::time::NANOS_PER_MILLI;
use std::collections::BTreeMap;

impl World {
    /// The final reconciliation (scheduled at heal): the leader hears both venues'
    /// accounts.
    pub(super) fn final_reconciliation(&mut self) {
        let Some(i) = self.leader() else {
            return;
        };
        for venue in Venue::ALL {
            let snap = self.exchange.venue(venue).reconciliation(self.now);
            let generation = self.instances[i as usize].generation;
            let lat = self.latency();
            self.schedule(
                self.now.plus_nanos(lat),
                Event::Deliver {
                    to: i,
                    generation,
                    msg: Msg::Venue(venue, Response::Reconciliation(snap)),
                },
            );
        }
    }

    /// Right after the leader processed the final reconciliation: its positions equal
    /// the venue's, and its durable journal holds every venue fill exactly once.
    pub(super) fn check_final_recon(&mut self, i: u8, venue: Venue, snap: &ReconSnapshot) {
        let Some(e) = self.instances[i as usize].engine.as_ref() else {
            return;
        };
        for (instrument, theirs) in &snap.positions {
            let mine = e.ledger().position(venue, *instrument).qty;
            if mine != *theirs {
                let detail = format!(
                    "#{i}: {venue} position {} ≠ venue {} after reconciliation",
                    mine.raw(),
                    theirs.raw()
                );
                self.fail("9 positions and rates", detail);
                return;
            }
        }
        let mut journal = BTreeMap::new();
        for s in self.instances[i as usize].disk.durable() {
            if let JournalEvent::Fill { fill, .. } = &s.record.event
                && fill.venue == venue
            {
                *journal.entry(fill.trade_id).or_insert(0u32) += 1;
            }
        }
        let missing = snap
            .fills
            .iter()
            .filter(|f| !journal.contains_key(&f.trade_id))
            .count();
        let duplicated = journal.values().filter(|n| **n > 1).count();
        self.figures.lost_fills += (missing + duplicated) as u64;
        if missing + duplicated > 0 {
            let detail = format!(
                "#{i}: {missing} {venue} fill(s) missing from the journal, {duplicated} duplicated, after reconciliation"
            );
            self.fail("5 RPO = 0", detail);
        }
    }

    /// The end of the run: rare situations the venues saw, the checkers' end-of-run
    /// checks, the venue figures.
    pub(super) fn at_end(&mut self) {
        let venues = self.exchange.venues();
        let hidden: u64 = venues.iter().map(|v| v.counters.hidden_fills).sum();
        let deadman: u64 = venues.iter().map(|v| v.counters.deadman_cancels).sum();
        let fills: u64 = venues.iter().map(|v| v.counters.fills).sum();
        if hidden > 0 {
            self.coverage.add("503_hid_a_fill", hidden);
        }
        if deadman > 0 {
            self.coverage.add("deadman_cancelled_orders", deadman);
        }
        self.observed.deadman_cancels = deadman;
        if self.observed.cancels_during_backoff > 0 {
            let n = self.observed.cancels_during_backoff;
            self.coverage.add("cancel_during_backoff", n);
        }
        let mut cs = std::mem::take(&mut self.checkers);
        for c in &mut cs {
            if let Err(detail) = c.at_end(self) {
                self.fail(c.name(), detail);
            }
        }
        self.checkers = cs;
        self.figures.fills = fills;
    }

    /// The run's figures once it has ended.
    pub(super) fn final_figures(&mut self) {
        self.figures.simulated_ms = self.now.nanos_since(T0) / NANOS_PER_MILLI;
        self.figures.steps = self.steps;
        self.figures.restarts = self.instances.iter().map(|i| u64::from(i.restarts)).sum();
        let alive: f64 = self
            .instances
            .iter()
            .filter_map(|i| i.engine.as_ref())
            .flat_map(|e| e.pairs().iter().map(|p| p.unhedged_usd_seconds()))
            .sum();
        self.figures.unhedged_usd_s = self.unhedged_before_crashes + alive;
    }

    /// Live orders of unknown outcome across instances.
    pub fn unknown_orders(&self) -> usize {
        self.instances
            .iter()
            .filter_map(|i| i.engine.as_ref())
            .flat_map(|e| e.orders())
            .filter(|o| o.state == OrderState::Unknown)
            .count()
    }
}
