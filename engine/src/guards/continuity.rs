//! Snapshot+diff continuity: a book with a gap (or crossed, or off tick) halts its
//! route, asks for a resync, and reports WARN "reinit required". A book still invalid
//! after `resync_deadline_ms` escalates to HOLD. A valid book whose feed has gone quiet
//! for `market_data_stale_ms` is WARN "stale".

use super::{GuardLevel, Verdict};
use crate::book::Book;
use crate::model::{InstrumentId, Venue};
use crate::time::UnixNanos;
use serde::Serialize;

/// State of one route (venue × instrument).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Route {
    /// Verdict.
    pub verdict: Verdict,
    /// Resync requests sent.
    pub resyncs: u64,
    /// When the last resync was requested.
    pub resync_requested_at: UnixNanos,
}

/// What the engine must do for a route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteAction {
    /// Emit `Resync`.
    pub resync: bool,
    /// Enter HOLD.
    pub trip: bool,
    /// Condition cleared.
    pub cleared: bool,
}

/// The guard.
#[derive(Clone, Debug)]
pub struct ContinuityGuard {
    deadline_ns: u64,
    stale_ns: u64,
    routes: Vec<Route>,
}

impl ContinuityGuard {
    /// A guard for `instruments` instruments on every venue.
    pub fn new(
        instruments: usize,
        deadline_ns: u64,
        stale_ns: u64,
        now: UnixNanos,
    ) -> ContinuityGuard {
        let route = Route {
            verdict: Verdict {
                level: GuardLevel::Warn,
                reason: "awaiting snapshot",
                since: now,
            },
            resyncs: 0,
            resync_requested_at: UnixNanos::ZERO,
        };
        ContinuityGuard {
            deadline_ns,
            stale_ns,
            routes: vec![route; instruments * Venue::COUNT],
        }
    }

    /// Applies a config change.
    pub fn set_limits(&mut self, deadline_ns: u64, stale_ns: u64) {
        self.deadline_ns = deadline_ns;
        self.stale_ns = stale_ns;
    }

    fn slot(instrument: InstrumentId, venue: Venue) -> usize {
        instrument.index() * Venue::COUNT + venue.index()
    }

    /// State of a route.
    pub fn route(&self, venue: Venue, instrument: InstrumentId) -> &Route {
        &self.routes[Self::slot(instrument, venue)]
    }

    /// The book just became invalid: halt the route and ask for a resync.
    pub fn on_invalidated(
        &mut self,
        now: UnixNanos,
        venue: Venue,
        instrument: InstrumentId,
    ) -> RouteAction {
        let r = &mut self.routes[Self::slot(instrument, venue)];
        r.verdict.set(now, GuardLevel::Warn, "reinit required");
        r.resyncs += 1;
        r.resync_requested_at = now;
        RouteAction {
            resync: true,
            ..RouteAction::default()
        }
    }

    /// The book is valid again (a snapshot applied).
    pub fn on_valid(
        &mut self,
        now: UnixNanos,
        venue: Venue,
        instrument: InstrumentId,
    ) -> RouteAction {
        let r = &mut self.routes[Self::slot(instrument, venue)];
        if r.verdict.level == GuardLevel::Ok {
            return RouteAction::default();
        }
        let cleared = r.verdict.level >= GuardLevel::Error;
        r.verdict.set(now, GuardLevel::Ok, "contiguous");
        RouteAction {
            cleared,
            ..RouteAction::default()
        }
    }

    /// Periodic check of one route against its book.
    pub fn check(&mut self, now: UnixNanos, book: &Book) -> RouteAction {
        let (deadline, stale) = (self.deadline_ns, self.stale_ns);
        let r = &mut self.routes[Self::slot(book.instrument, book.venue)];
        let mut action = RouteAction::default();
        if book.is_valid() {
            if now.nanos_since(book.updated_at) > stale {
                if r.verdict.level == GuardLevel::Ok {
                    r.verdict.set(now, GuardLevel::Warn, "market data stale");
                }
            } else if r.verdict.level == GuardLevel::Warn && r.verdict.reason == "market data stale"
            {
                r.verdict.set(now, GuardLevel::Ok, "contiguous");
            }
            return action;
        }
        // A book that was never valid (awaiting its first snapshot) does not escalate:
        // the engine boots in HOLD anyway, and resyncs keep being requested.
        let invalid_for = now.nanos_since(book.invalid_since);
        if r.verdict.level < GuardLevel::Hold
            && !book.invalid_since.is_zero()
            && invalid_for > deadline
        {
            r.verdict
                .set(now, GuardLevel::Hold, "book invalid past resync deadline");
            action.trip = true;
        }
        // Ask again if the last request went unanswered for a third of the deadline.
        if now.nanos_since(r.resync_requested_at) > deadline / 3 {
            r.resyncs += 1;
            r.resync_requested_at = now;
            action.resync = true;
        }
        action
    }

    /// When `check` next has something to do for a route whose book is in this state.
    pub fn next_deadline(&self, book: &Book) -> UnixNanos {
        let r = &self.routes[Self::slot(book.instrument, book.venue)];
        if book.is_valid() {
            return book.updated_at.plus_nanos(self.stale_ns + 1);
        }
        let resync = r.resync_requested_at.plus_nanos(self.deadline_ns / 3 + 1);
        if r.verdict.level == GuardLevel::Hold || book.invalid_since.is_zero() {
            return resync;
        }
        resync.min(book.invalid_since.plus_nanos(self.deadline_ns + 1))
    }

    /// Worst verdict over the given routes.
    pub fn worst(&self) -> Verdict {
        super::disconnect::worst(self.routes.iter().map(|r| r.verdict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Sequence;
    use crate::model::{Level, Price, Qty};

    #[test]
    fn gap_requests_resync_then_escalates_after_the_deadline() {
        let mut g = ContinuityGuard::new(1, 1_000, 500, UnixNanos(0));
        let mut book = Book::new(Venue::Binance, InstrumentId(0), Price::from_raw(1), 64);
        let lv = |p, q| Level {
            price: Price::from_raw(p),
            qty: Qty::from_raw(q),
        };
        book.apply_snapshot(UnixNanos(10), 5, &[lv(99, 1)], &[lv(101, 1)]);
        assert!(
            !g.on_valid(UnixNanos(10), Venue::Binance, InstrumentId(0))
                .cleared
        );
        book.apply_delta(
            UnixNanos(20),
            Sequence {
                first: Some(9),
                last: 9,
                previous: Some(8),
            },
            &[],
            &[],
        );
        assert!(!book.is_valid());
        assert!(
            g.on_invalidated(UnixNanos(20), Venue::Binance, InstrumentId(0))
                .resync
        );
        assert_eq!(
            g.route(Venue::Binance, InstrumentId(0)).verdict.reason,
            "reinit required"
        );
        let a = g.check(UnixNanos(400), &book);
        assert!(
            a.resync && !a.trip,
            "asks again after a third of the deadline"
        );
        let a = g.check(UnixNanos(1_021), &book);
        assert!(a.trip);
        assert_eq!(g.worst().level, GuardLevel::Hold);
        book.apply_snapshot(UnixNanos(1_100), 20, &[lv(99, 1)], &[lv(101, 1)]);
        assert!(
            g.on_valid(UnixNanos(1_100), Venue::Binance, InstrumentId(0))
                .cleared
        );
        assert_eq!(
            g.worst().level,
            GuardLevel::Warn,
            "the other venue still awaits a snapshot"
        );
    }

    #[test]
    fn quiet_feed_is_stale() {
        let mut g = ContinuityGuard::new(1, 1_000, 500, UnixNanos(0));
        let mut book = Book::new(Venue::Okx, InstrumentId(0), Price::from_raw(1), 64);
        book.apply_snapshot(UnixNanos(10), 5, &[], &[]);
        g.on_valid(UnixNanos(10), Venue::Okx, InstrumentId(0));
        g.check(UnixNanos(600), &book);
        assert_eq!(
            g.route(Venue::Okx, InstrumentId(0)).verdict.reason,
            "market data stale"
        );
    }
}
