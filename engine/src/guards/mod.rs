//! The P0 guards. Each is a small state machine that observes inputs, reports a
//! [`GuardLevel`] with a reason, and tells the engine when to HOLD. Thresholds come
//! from the `guards:` section of the config.
//!
//! A guard *trips* when its condition appears (the engine enters HOLD and journals
//! it) and *clears* when the condition is gone (journaled too). Clearing never leaves
//! HOLD by itself: only the two-man resume does, and resume is refused while any guard
//! still blocks.

mod clock;
mod continuity;
mod disconnect;
mod fencing;
mod kill_caps;
mod maintenance;
mod rate_limit;
mod runaway;

pub use clock::{ClockAction, ClockSkewGuard};
pub use continuity::ContinuityGuard;
pub use disconnect::DisconnectGuard;
pub use fencing::{FencingGuard, LeaseState};
pub use kill_caps::{Breach, CapAction, KillCapsGuard, RiskFigures};
pub use maintenance::{MaintenanceGuard, MaintenancePhase, WINDOWS_MAX};
pub use rate_limit::{RateLimitGuard, RequestKind};
pub use runaway::{RunawayCheck, RunawayGuard};

use crate::time::UnixNanos;
use serde::{Deserialize, Serialize};

/// Identity of a guard (also used for other HOLD sources in the journal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardId {
    /// Cancel-on-disconnect and dead-man switch.
    CancelOnDisconnect,
    /// Rate-limit governor.
    RateLimit,
    /// Clock-skew guard.
    ClockSkew,
    /// Snapshot+diff continuity.
    SnapshotDiff,
    /// Kill caps.
    KillCaps,
    /// Runaway breaker.
    RunawayBreaker,
    /// Maintenance calendar.
    Maintenance,
    /// Leader fencing.
    LeaderFencing,
    /// A hedge that timed out (strategy).
    HedgeTimeout,
    /// Journal durability.
    Journal,
    /// Reconciliation mismatch.
    Reconciliation,
    /// An SLO degraded for too long.
    Slo,
}

impl GuardId {
    /// Stable id used in status and alerts.
    pub const fn name(self) -> &'static str {
        match self {
            GuardId::CancelOnDisconnect => "cancel_on_disconnect",
            GuardId::RateLimit => "rate_limit",
            GuardId::ClockSkew => "clock_skew",
            GuardId::SnapshotDiff => "snapshot_diff",
            GuardId::KillCaps => "kill_caps",
            GuardId::RunawayBreaker => "runaway_breaker",
            GuardId::Maintenance => "maintenance",
            GuardId::LeaderFencing => "leader_fencing",
            GuardId::HedgeTimeout => "hedge_timeout",
            GuardId::Journal => "journal",
            GuardId::Reconciliation => "recon",
            GuardId::Slo => "slo",
        }
    }
}

/// A guard's state, worst last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GuardLevel {
    /// Nothing wrong.
    #[serde(rename = "OK")]
    Ok,
    /// Degraded; trading continues.
    #[serde(rename = "WARN")]
    Warn,
    /// Failed; the affected route does not trade.
    #[serde(rename = "ERROR")]
    Error,
    /// Tripped: the engine is held.
    #[serde(rename = "HOLD")]
    Hold,
}

impl GuardLevel {
    /// Upper-case name as in the operator spec.
    pub const fn name(self) -> &'static str {
        match self {
            GuardLevel::Ok => "OK",
            GuardLevel::Warn => "WARN",
            GuardLevel::Error => "ERROR",
            GuardLevel::Hold => "HOLD",
        }
    }

    /// Whether this level blocks a resume.
    pub const fn blocks_resume(self) -> bool {
        matches!(self, GuardLevel::Error | GuardLevel::Hold)
    }
}

/// A guard's current verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Level.
    pub level: GuardLevel,
    /// Short English reason (the UI keys Russian text off the guard id and level).
    pub reason: &'static str,
    /// When this level began.
    pub since: UnixNanos,
}

impl Verdict {
    /// OK since `since`.
    pub const fn ok(since: UnixNanos) -> Verdict {
        Verdict {
            level: GuardLevel::Ok,
            reason: "ok",
            since,
        }
    }

    /// Moves to `level` with `reason`, keeping `since` when the level is unchanged.
    pub fn set(&mut self, now: UnixNanos, level: GuardLevel, reason: &'static str) {
        if self.level != level {
            self.since = now;
        }
        self.level = level;
        self.reason = reason;
    }
}
