//! Clock-skew guard: |venue time − local time| above `clock_skew_guard_ms` trips HOLD.
//! A venue without a recent sample is WARN (the skew is unknown).

use super::{GuardLevel, Verdict};
use crate::model::Venue;
use crate::time::UnixNanos;
use serde::Serialize;

/// Latest sample of one venue.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ClockState {
    /// Offset of the last sample, ns (venue − local).
    pub offset_ns: i64,
    /// Round trip of the probe, ns.
    pub rtt_ns: u64,
    /// When it was taken.
    pub sampled_at: UnixNanos,
    /// Verdict.
    pub verdict: Verdict,
    /// Trips so far.
    pub trips: u64,
}

/// What the engine must do after a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockAction {
    /// Nothing changed.
    None,
    /// Skew beyond the limit: HOLD.
    Trip,
    /// Back within the limit.
    Cleared,
}

/// The guard.
#[derive(Clone, Debug)]
pub struct ClockSkewGuard {
    limit_ns: u64,
    max_age_ns: u64,
    venues: [ClockState; Venue::COUNT],
}

impl ClockSkewGuard {
    /// A guard with no samples yet.
    pub fn new(limit_ns: u64, max_age_ns: u64, now: UnixNanos) -> ClockSkewGuard {
        let state = ClockState {
            offset_ns: 0,
            rtt_ns: 0,
            sampled_at: UnixNanos::ZERO,
            verdict: Verdict {
                level: GuardLevel::Warn,
                reason: "no clock sample yet",
                since: now,
            },
            trips: 0,
        };
        ClockSkewGuard {
            limit_ns,
            max_age_ns,
            venues: [state; Venue::COUNT],
        }
    }

    /// Applies a config change.
    pub fn set_limits(&mut self, limit_ns: u64, max_age_ns: u64) {
        self.limit_ns = limit_ns;
        self.max_age_ns = max_age_ns;
    }

    /// The limit, ns.
    pub fn limit_ns(&self) -> u64 {
        self.limit_ns
    }

    /// State of one venue.
    pub fn state(&self, venue: Venue) -> &ClockState {
        &self.venues[venue.index()]
    }

    /// A new sample.
    pub fn on_sample(
        &mut self,
        now: UnixNanos,
        venue: Venue,
        offset_ns: i64,
        rtt_ns: u64,
    ) -> ClockAction {
        let limit = self.limit_ns;
        let s = &mut self.venues[venue.index()];
        s.offset_ns = offset_ns;
        s.rtt_ns = rtt_ns;
        s.sampled_at = now;
        if offset_ns.unsigned_abs() > limit {
            let trip = s.verdict.level != GuardLevel::Hold;
            if trip {
                s.trips += 1;
            }
            s.verdict
                .set(now, GuardLevel::Hold, "clock skew beyond limit");
            return if trip {
                ClockAction::Trip
            } else {
                ClockAction::None
            };
        }
        let was_bad = s.verdict.level >= GuardLevel::Error;
        s.verdict.set(now, GuardLevel::Ok, "within limit");
        if was_bad {
            ClockAction::Cleared
        } else {
            ClockAction::None
        }
    }

    /// Ages samples: a venue without a fresh sample is WARN (unless already worse).
    pub fn on_tick(&mut self, now: UnixNanos) {
        for s in &mut self.venues {
            if s.verdict.level == GuardLevel::Ok && now.nanos_since(s.sampled_at) > self.max_age_ns
            {
                s.verdict.set(now, GuardLevel::Warn, "clock sample stale");
            }
        }
    }

    /// Worst verdict across venues.
    pub fn worst(&self) -> Verdict {
        super::disconnect::worst(self.venues.iter().map(|s| s.verdict))
    }

    /// When the next sample goes stale.
    pub fn next_deadline(&self) -> UnixNanos {
        self.venues
            .iter()
            .filter(|s| s.verdict.level == GuardLevel::Ok)
            .map(|s| s.sampled_at.plus_nanos(self.max_age_ns + 1))
            .min()
            .unwrap_or(UnixNanos::NEVER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn skew_beyond_the_limit_trips_and_clears() {
        let mut g = ClockSkewGuard::new(200 * MS, 60_000 * MS, UnixNanos(0));
        assert_eq!(
            g.on_sample(UnixNanos(1), Venue::Binance, 150 * MS as i64, MS),
            ClockAction::None
        );
        assert_eq!(g.state(Venue::Binance).verdict.level, GuardLevel::Ok);
        assert_eq!(
            g.on_sample(UnixNanos(2), Venue::Binance, -(201 * MS as i64), MS),
            ClockAction::Trip
        );
        assert_eq!(g.worst().level, GuardLevel::Hold);
        assert_eq!(
            g.on_sample(UnixNanos(3), Venue::Binance, -(300 * MS as i64), MS),
            ClockAction::None,
            "already tripped"
        );
        assert_eq!(
            g.on_sample(UnixNanos(4), Venue::Binance, 10 * MS as i64, MS),
            ClockAction::Cleared
        );
        assert_eq!(g.state(Venue::Binance).trips, 1);
    }

    #[test]
    fn stale_samples_warn() {
        let mut g = ClockSkewGuard::new(200 * MS, 1_000 * MS, UnixNanos(0));
        g.on_sample(UnixNanos(0), Venue::Okx, 0, MS);
        g.on_tick(UnixNanos(500 * MS));
        assert_eq!(g.state(Venue::Okx).verdict.level, GuardLevel::Ok);
        g.on_tick(UnixNanos(1_001 * MS));
        assert_eq!(g.state(Venue::Okx).verdict.level, GuardLevel::Warn);
    }
}
