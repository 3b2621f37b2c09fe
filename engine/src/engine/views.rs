//! Read-only views for drivers (the service's API and dashboard). Additive: nothing
//! here changes state or is used by a decision.

use super::{Deadman, Engine, JournalState};
use crate::model::Venue;

impl Engine {
    /// Journal bookkeeping: last sequence emitted and last the driver reported durable,
    /// commit latency, whether a write failed.
    pub fn journal_state(&self) -> &JournalState {
        &self.journal
    }

    /// The dead-man switch per venue, as the engine keeps it.
    pub fn deadman(&self) -> &[Deadman; Venue::COUNT] {
        &self.deadman
    }

    /// Whether the kill switch was pulled (cleared by the next resume).
    pub fn killed(&self) -> bool {
        self.killed
    }

    /// Whether positions are being flattened (the kill switch, or a kill-cap breach
    /// with `flatten_on_breach`); cleared when flat or by the next resume.
    pub fn flattening(&self) -> bool {
        self.flattening
    }
}
