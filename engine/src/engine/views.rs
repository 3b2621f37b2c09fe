//! Read-only views for drivers (the service's API and dashboard). Additive: nothing
//! here changes state or is used by a decision.

use super::{Deadman, Engine, JournalState};
use crate::guards::MaintenancePhase;
use crate::model::{InstrumentId, Venue};

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

    /// Whether the engine considers a venue connected.
    pub fn venue_connected(&self, venue: Venue) -> bool {
        self.disconnect.is_connected(venue)
    }

    /// Whether a venue is in or near maintenance by the engine's calendar.
    pub fn venue_in_maintenance(&self, venue: Venue) -> bool {
        self.maintenance.phase(venue) != MaintenancePhase::Normal
    }

    /// Whether the runaway breaker quarantined a route.
    pub fn route_quarantined(&self, venue: Venue, instrument: InstrumentId) -> bool {
        self.runaway.is_quarantined(venue, instrument)
    }
}
