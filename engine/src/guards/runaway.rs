//! Runaway breaker: places and cancels per rolling minute, per route (venue ×
//! instrument). The order that would exceed the limit is not sent: the route is
//! quarantined and the engine HOLDs, so the venue never sees more than the limit.
//! Quarantines are lifted only by an operator resume.

use super::{GuardLevel, Verdict};
use crate::metrics::RollingCounter;
use crate::model::{InstrumentId, Venue};
use crate::time::{NANOS_PER_MINUTE, UnixNanos};
use serde::Serialize;

/// State of one route.
#[derive(Clone, Debug)]
pub struct RouteCounters {
    places: RollingCounter,
    cancels: RollingCounter,
    /// Quarantined by the breaker.
    pub quarantined: bool,
    verdict: Verdict,
}

/// Result of asking to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RunawayCheck {
    /// May send; counted.
    Allowed,
    /// The route is quarantined.
    Quarantined,
    /// This request would exceed the limit: the route is now quarantined (trip).
    Tripped,
}

/// The breaker.
#[derive(Clone, Debug)]
pub struct RunawayGuard {
    routes: Vec<RouteCounters>,
    /// Trips so far.
    pub trips: u64,
}

impl RunawayGuard {
    /// A breaker for `instruments` instruments on every venue.
    pub fn new(
        instruments: usize,
        place_per_min: u32,
        cancel_per_min: u32,
        now: UnixNanos,
    ) -> RunawayGuard {
        let route = RouteCounters {
            places: RollingCounter::new(NANOS_PER_MINUTE, place_per_min),
            cancels: RollingCounter::new(NANOS_PER_MINUTE, cancel_per_min),
            quarantined: false,
            verdict: Verdict::ok(now),
        };
        RunawayGuard {
            routes: vec![route; instruments * Venue::COUNT],
            trips: 0,
        }
    }

    /// Applies a config change.
    pub fn set_limits(&mut self, place_per_min: u32, cancel_per_min: u32) {
        for r in &mut self.routes {
            r.places.set_limit(place_per_min);
            r.cancels.set_limit(cancel_per_min);
        }
    }

    fn route_mut(&mut self, venue: Venue, instrument: InstrumentId) -> &mut RouteCounters {
        &mut self.routes[instrument.index() * Venue::COUNT + venue.index()]
    }

    /// Asks to send a place (`cancel == false`) or a cancel on a route.
    pub fn check(
        &mut self,
        now: UnixNanos,
        venue: Venue,
        instrument: InstrumentId,
        cancel: bool,
    ) -> RunawayCheck {
        let r = self.route_mut(venue, instrument);
        if r.quarantined && !cancel {
            return RunawayCheck::Quarantined;
        }
        let counter = if cancel {
            &mut r.cancels
        } else {
            &mut r.places
        };
        if counter.try_record(now) {
            let warn = counter.count(now) * 10 > counter.limit() * 8;
            if !r.quarantined {
                if warn {
                    r.verdict.set(
                        now,
                        GuardLevel::Warn,
                        "order rate above 80 % of the breaker",
                    );
                } else {
                    r.verdict.set(now, GuardLevel::Ok, "within limits");
                }
            }
            return RunawayCheck::Allowed;
        }
        if r.quarantined {
            return RunawayCheck::Quarantined;
        }
        r.quarantined = true;
        r.verdict.set(
            now,
            GuardLevel::Hold,
            "runaway order loop: route quarantined",
        );
        self.trips += 1;
        RunawayCheck::Tripped
    }

    /// Whether one more place (or cancel) fits on the route without tripping.
    pub fn has_room(
        &mut self,
        now: UnixNanos,
        venue: Venue,
        instrument: InstrumentId,
        cancel: bool,
    ) -> bool {
        let r = self.route_mut(venue, instrument);
        let counter = if cancel {
            &mut r.cancels
        } else {
            &mut r.places
        };
        counter.count(now) < counter.limit()
    }

    /// Marks a route quarantined without a count (recovery from the journal).
    pub fn quarantine(&mut self, now: UnixNanos, venue: Venue, instrument: InstrumentId) {
        let r = self.route_mut(venue, instrument);
        r.quarantined = true;
        r.verdict.set(
            now,
            GuardLevel::Hold,
            "runaway order loop: route quarantined",
        );
    }

    /// Records a past request (recovery: orders sent in the last minute before a crash
    /// still count).
    pub fn replay(&mut self, at: UnixNanos, venue: Venue, instrument: InstrumentId, cancel: bool) {
        let r = self.route_mut(venue, instrument);
        let counter = if cancel {
            &mut r.cancels
        } else {
            &mut r.places
        };
        counter.try_record(at);
    }

    /// Lifts every quarantine (operator resume); returns how many were lifted.
    pub fn lift_all(&mut self, now: UnixNanos) -> u32 {
        let mut n = 0;
        for r in &mut self.routes {
            if r.quarantined {
                r.quarantined = false;
                r.verdict.set(now, GuardLevel::Ok, "within limits");
                n += 1;
            }
        }
        n
    }

    /// Whether a route is quarantined.
    pub fn is_quarantined(&self, venue: Venue, instrument: InstrumentId) -> bool {
        self.routes[instrument.index() * Venue::COUNT + venue.index()].quarantined
    }

    /// Places and cancels in the last minute on a route.
    pub fn counts(&self, now: UnixNanos, venue: Venue, instrument: InstrumentId) -> (u32, u32) {
        let r = &self.routes[instrument.index() * Venue::COUNT + venue.index()];
        (r.places.count_at(now), r.cancels.count_at(now))
    }

    /// The per-minute limits (places, cancels).
    pub fn limits(&self) -> (u32, u32) {
        self.routes
            .first()
            .map_or((0, 0), |r| (r.places.limit(), r.cancels.limit()))
    }

    /// Worst verdict across routes.
    pub fn worst(&self) -> Verdict {
        super::disconnect::worst(self.routes.iter().map(|r| r.verdict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_before_the_limit_is_exceeded_and_quarantines_the_route() {
        let mut g = RunawayGuard::new(1, 3, 5, UnixNanos(0));
        let (v, i) = (Venue::Binance, InstrumentId(0));
        for t in 0..3 {
            assert_eq!(g.check(UnixNanos(t), v, i, false), RunawayCheck::Allowed);
        }
        assert_eq!(g.check(UnixNanos(3), v, i, false), RunawayCheck::Tripped);
        assert_eq!(
            g.counts(UnixNanos(3), v, i).0,
            3,
            "the fourth place never left"
        );
        assert_eq!(
            g.check(UnixNanos(NANOS_PER_MINUTE * 2), v, i, false),
            RunawayCheck::Quarantined
        );
        assert_eq!(
            g.check(UnixNanos(4), v, i, true),
            RunawayCheck::Allowed,
            "cancels still go"
        );
        assert!(!g.is_quarantined(Venue::Okx, i));
        assert_eq!(g.worst().level, GuardLevel::Hold);
        assert_eq!(g.lift_all(UnixNanos(10)), 1);
        assert_eq!(g.worst().level, GuardLevel::Ok);
    }
}
