//! Invariant checkers: one module per invariant of SIMULATION.md. Each observes the
//! world through hooks (every send, every venue acceptance, every recovery, every
//! step, the end) with an omniscient view, and names what broke.
//!
//! Invariant 13 (same seed, same trace digest) is checked by the runner, which runs a
//! scenario twice.

mod i01_single_leader;
mod i02_split_brain;
mod i03_exactly_once;
mod i04_write_ahead;
mod i05_rpo;
mod i06_journal_integrity;
mod i07_hold_on_start;
mod i08_unknown_not_resent;
mod i09_positions_and_rates;
mod i10_valid_books;
mod i11_deadman;
mod i12_no_order_in_hold;
mod liveness;
mod unwind;

use crate::disk::SimDisk;
use crate::venue::Acceptance;
use crate::world::World;
use propbot_engine::Engine;
use propbot_engine::config::Config;
use propbot_engine::model::{ClientOrderId, Venue};
use propbot_engine::output::{JournalEvent, Mode, OrderRequest};
use propbot_engine::time::UnixNanos;
use std::collections::BTreeSet;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// Step at which it broke.
    pub step: u64,
    /// Simulated time, ms.
    pub at_ms: u64,
    /// The state that broke it.
    pub detail: String,
}

/// An order leaving an instance.
pub struct SendView<'a> {
    /// Sender.
    pub instance: u8,
    /// The order.
    pub request: &'a OrderRequest,
    /// A `Place` (not a reduce-only `Flatten`).
    pub place: bool,
    /// The sender's mode at this point of its output stream.
    pub mode: Mode,
    /// The sender's engine.
    pub engine: &'a Engine,
    /// The sender's journal.
    pub disk: &'a SimDisk,
    /// This client order id left this instance before.
    pub sent_before: bool,
    /// True time.
    pub now: UnixNanos,
}

/// An order a venue accepted.
pub struct AcceptView<'a> {
    /// Venue.
    pub venue: Venue,
    /// What was accepted.
    pub acceptance: Acceptance,
    /// The sender's journal.
    pub owner_disk: &'a SimDisk,
    /// True time.
    pub now: UnixNanos,
}

/// One invariant.
pub trait Checker {
    /// Invariant name, e.g. `2 split-brain = 0`.
    fn name(&self) -> &'static str;
    /// An order leaves an instance.
    fn on_send(&mut self, _v: &SendView<'_>) -> Result<(), String> {
        Ok(())
    }
    /// A venue accepts an order.
    fn on_accept(&mut self, _v: &AcceptView<'_>) -> Result<(), String> {
        Ok(())
    }
    /// An instance recovered its journal up to `through`.
    fn on_recover(&mut self, _instance: u8, _through: u64, _disk: &SimDisk) -> Result<(), String> {
        Ok(())
    }
    /// After every step.
    fn after_step(&mut self, _w: &World) -> Result<(), String> {
        Ok(())
    }
    /// At the end of the run (after faults healed).
    fn at_end(&mut self, _w: &World) -> Result<(), String> {
        Ok(())
    }
}

/// Every checker, configured for `config`.
pub fn all(config: &Config) -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(i01_single_leader::SingleLeader),
        Box::new(i02_split_brain::SplitBrain::default()),
        Box::new(i03_exactly_once::ExactlyOnce::default()),
        Box::new(i04_write_ahead::WriteAhead::default()),
        Box::new(i05_rpo::Rpo::default()),
        Box::new(i06_journal_integrity::JournalIntegrity::default()),
        Box::new(i07_hold_on_start::HoldOnStart),
        Box::new(i08_unknown_not_resent::NotResent),
        Box::new(i09_positions_and_rates::PositionsAndRates::new(config)),
        Box::new(i10_valid_books::ValidBooks),
        Box::new(i11_deadman::Deadman),
        Box::new(i12_no_order_in_hold::NoOrderInHold),
        Box::new(liveness::Liveness),
        Box::new(unwind::UnwindBound::new(config)),
    ]
}

/// Client order ids whose intent is in a disk's durable image, indexed incrementally.
#[derive(Clone, Debug, Default)]
pub(crate) struct IntentIndex {
    per_instance: Vec<(usize, BTreeSet<ClientOrderId>)>,
}

impl IntentIndex {
    /// Whether `id`'s intent is durable on `disk` (instance `i`).
    pub fn durable(&mut self, i: u8, disk: &SimDisk, id: ClientOrderId) -> bool {
        let i = i as usize;
        if self.per_instance.len() <= i {
            self.per_instance.resize_with(i + 1, Default::default);
        }
        let (seen, ids) = &mut self.per_instance[i];
        let durable = disk.durable();
        if durable.len() < *seen {
            *seen = 0;
            ids.clear();
        }
        for s in &durable[*seen..] {
            if let JournalEvent::OrderIntent(r) = &s.record.event {
                ids.insert(r.client_order_id);
            }
        }
        *seen = durable.len();
        ids.contains(&id)
    }
}

#[cfg(test)]
mod tests;
