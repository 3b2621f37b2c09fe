//! The table of System Status components. Each row names a component (stable id,
//! English title, group) and the function that reads it from the engine's state;
//! adding a component is one function (in `p0`, `p1` or `p2_p3`) and one row here.
//! The order of the rows is the order operators see, and tests and the dashboard
//! read components by id.

use super::Group::{P0, P1, P2, P3};
use super::{Group, p0, p1, p2_p3};
use crate::engine::Engine;
use crate::guards::{GuardLevel, Verdict};
use crate::time::UnixNanos;
use std::collections::BTreeMap;

/// What one component sees at a time: its level, one line, and the figures behind it.
pub(super) struct Reading {
    /// OK / WARN / ERROR / HOLD.
    pub status: GuardLevel,
    /// One line on what it sees.
    pub summary: String,
    /// Figures behind the status (a repeated name keeps its last value).
    pub metrics: BTreeMap<&'static str, f64>,
}

impl Reading {
    /// A reading with its own level and summary.
    pub fn new(
        status: GuardLevel,
        summary: impl Into<String>,
        metrics: &[(&'static str, f64)],
    ) -> Reading {
        Reading {
            status,
            summary: summary.into(),
            metrics: metrics.iter().copied().collect(),
        }
    }

    /// A reading that shows a guard's verdict: its level, and its reason as summary.
    pub fn of(verdict: Verdict, metrics: &[(&'static str, f64)]) -> Reading {
        Reading::new(verdict.level, verdict.reason, metrics)
    }
}

/// Reads one component from the engine's state at `now`.
pub(super) type Read = fn(&Engine, UnixNanos) -> Reading;

/// Every component, in display order: id, English title, group, how it is read.
#[rustfmt::skip]
pub(super) const COMPONENTS: &[(&str, &str, Group, Read)] = &[
    ("unhedged_exposure", "Unhedged Exposure", P0, p0::unhedged_exposure),
    ("journal", "Journal/Outbox", P0, p0::journal),
    ("guarded_startup", "Guarded Startup", P0, p0::guarded_startup),
    ("leader_fencing", "Leader/Fencing", P0, p0::leader_fencing),
    ("conformance", "Conformance (per venue)", P0, p0::conformance),
    ("recon", "Reconciliation", P0, p0::recon),
    ("keys_security", "Keys/Security", P0, p0::keys_security),
    ("compliance_worm", "Compliance/WORM", P0, p0::compliance_worm),
    ("cancel_on_disconnect", "Cancel-on-Disconnect / Dead-man", P0, p0::cancel_on_disconnect),
    ("rate_limit", "Rate-limit Governor", P0, p0::rate_limit),
    ("clock_skew", "Clock-skew Guard", P0, p0::clock_skew),
    ("snapshot_diff", "Snapshot+Diff Continuity", P0, p0::snapshot_diff),
    ("kill_caps", "Hard Risk Kill-caps", P0, p0::kill_caps),
    ("runaway_breaker", "Runaway-loop Breaker", P0, p0::runaway_breaker),
    ("maintenance", "Maintenance Calendar", P0, p0::maintenance),
    ("live_readiness", "Live Readiness", P1, p1::live_readiness),
    ("config_pipeline", "Config validate/apply/rollback", P1, p1::config_pipeline),
    ("stream", "Market Stream", P1, p1::stream),
    ("tca_gate", "TCA Gate", P1, p1::tca_gate),
    ("regime", "Regime Engine", P1, p1::regime),
    ("policy_matrix", "Policy Matrix", P1, p1::policy_matrix),
    ("sizing_derisk", "Sizing/De-risk", P1, p1::sizing_derisk),
    ("fee_planner", "Fee Planner", P1, p1::fee_planner),
    ("book_latency", "Book Latency", P1, p1::book_latency),
    ("multi_venue_md", "Multi-venue Market Data", P1, p1::multi_venue_md),
    ("hedge", "Hedging / Unhedged Exposure", P1, p1::hedge),
    ("zero_copy_l2", "Zero-copy L2", P2, p2_p3::zero_copy_l2),
    ("lock_free_queues", "Bounded Queues", P2, p2_p3::lock_free_queues),
    ("order_lifecycle", "Order Lifecycle", P2, p2_p3::order_lifecycle),
    ("reports_replay", "Reports/Replay", P3, p2_p3::reports_replay),
];
