//! Rate-limit governor, per venue. It keeps our own rolling counts of places, cancels,
//! the venue's 10-second order count and request weight, and decides before each
//! request whether it may leave:
//! - cancel beats place: places may use only `100 - cancel_reserve_pct` % of the shared
//!   order and weight budgets; cancels may use all of them;
//! - after a 429 the venue gets no places until the backoff ends (`Retry-After` when
//!   sent, else an exponential backoff); cancels still go;
//! - a 418 ban trips HOLD and blocks every request until it ends.

use super::{GuardLevel, Verdict};
use crate::config::{GuardsConfig, VenueConfig};
use crate::metrics::RollingCounter;
use crate::model::Venue;
use crate::time::{NANOS_PER_MINUTE, NANOS_PER_SECOND, UnixNanos};
use serde::Serialize;
use std::collections::VecDeque;

/// Kinds of request the governor meters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RequestKind {
    /// A new order (including reduce-only flatten).
    Place,
    /// A cancel or cancel-all.
    Cancel,
    /// An order lookup or reconciliation query.
    Query,
    /// A dead-man refresh.
    Deadman,
    /// A book snapshot.
    Snapshot,
}

/// Request weight by venue and kind (Binance weights; OKX meters requests, counted 1).
fn weight(venue: Venue, kind: RequestKind) -> u32 {
    match (venue, kind) {
        (Venue::Binance, RequestKind::Deadman) => 10,
        (Venue::Binance, RequestKind::Snapshot) => 20,
        (Venue::Binance, RequestKind::Query) => 5,
        _ => 1,
    }
}

/// Budget state of one venue.
#[derive(Clone, Debug)]
pub struct VenueBudget {
    places: RollingCounter,
    cancels: RollingCounter,
    orders_10s: RollingCounter,
    weight: VecDeque<(UnixNanos, u32)>,
    weight_sum: u32,
    weight_limit: u32,
    reserve_pct: u32,
    reported_weight: (u32, UnixNanos),
    backoff_until: UnixNanos,
    consecutive_429: u32,
    last_429: UnixNanos,
    banned_until: UnixNanos,
    verdict: Verdict,
    /// Requests refused by the governor.
    pub refused: u64,
    /// 429s received.
    pub rate_limited: u64,
    /// 418 bans received.
    pub bans: u64,
}

/// The governor.
#[derive(Clone, Debug)]
pub struct RateLimitGuard {
    backoff_initial_ns: u64,
    backoff_max_ns: u64,
    venues: [VenueBudget; Venue::COUNT],
}

/// What the engine must do after a venue signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateAction {
    /// Banned: HOLD.
    pub trip: bool,
    /// A ban ended.
    pub cleared: bool,
}

impl VenueBudget {
    fn new(g: &GuardsConfig, v: &VenueConfig, now: UnixNanos) -> VenueBudget {
        VenueBudget {
            places: RollingCounter::new(
                NANOS_PER_MINUTE,
                g.rate_place_per_min.min(v.orders_per_min),
            ),
            cancels: RollingCounter::new(NANOS_PER_MINUTE, g.rate_cancel_per_min),
            orders_10s: RollingCounter::new(10 * NANOS_PER_SECOND, v.orders_per_10s),
            weight: VecDeque::with_capacity(256),
            weight_sum: 0,
            weight_limit: v.weight_per_min,
            reserve_pct: v.cancel_reserve_pct,
            reported_weight: (0, UnixNanos::ZERO),
            backoff_until: UnixNanos::ZERO,
            consecutive_429: 0,
            last_429: UnixNanos::ZERO,
            banned_until: UnixNanos::ZERO,
            verdict: Verdict::ok(now),
            refused: 0,
            rate_limited: 0,
            bans: 0,
        }
    }

    fn expire_weight(&mut self, now: UnixNanos) {
        while let Some(&(t, w)) = self.weight.front() {
            if now.nanos_since(t) >= NANOS_PER_MINUTE {
                self.weight.pop_front();
                self.weight_sum -= w;
            } else {
                break;
            }
        }
    }

    fn weight_used(&mut self, now: UnixNanos) -> u32 {
        self.expire_weight(now);
        let (reported, at) = self.reported_weight;
        if now.nanos_since(at) < NANOS_PER_MINUTE {
            self.weight_sum.max(reported)
        } else {
            self.weight_sum
        }
    }

    fn fits(&mut self, now: UnixNanos, venue: Venue, kind: RequestKind) -> bool {
        if now < self.banned_until {
            return false;
        }
        let is_place = kind == RequestKind::Place;
        if is_place && now < self.backoff_until {
            return false;
        }
        let w = weight(venue, kind);
        if self.weight_used(now) + w > self.share(self.weight_limit, is_place) {
            return false;
        }
        if matches!(kind, RequestKind::Place | RequestKind::Cancel) {
            let cap_10s = self.share(self.orders_10s.limit(), is_place);
            if !self.orders_10s.has_room(now, cap_10s) {
                return false;
            }
            let own = if is_place {
                &mut self.places
            } else {
                &mut self.cancels
            };
            let cap = own.limit();
            if !own.has_room(now, cap) {
                return false;
            }
        }
        true
    }

    fn share(&self, limit: u32, for_place: bool) -> u32 {
        if for_place {
            limit * (100 - self.reserve_pct) / 100
        } else {
            limit
        }
    }
}

impl RateLimitGuard {
    /// A governor with full budgets.
    pub fn new(
        g: &GuardsConfig,
        venues: &[VenueConfig; Venue::COUNT],
        now: UnixNanos,
    ) -> RateLimitGuard {
        RateLimitGuard {
            backoff_initial_ns: g.backoff_initial_ns,
            backoff_max_ns: g.backoff_max_ns,
            venues: [
                VenueBudget::new(g, &venues[0], now),
                VenueBudget::new(g, &venues[1], now),
            ],
        }
    }

    /// Applies a config change (counts survive).
    pub fn configure(&mut self, g: &GuardsConfig, venues: &[VenueConfig; Venue::COUNT]) {
        self.backoff_initial_ns = g.backoff_initial_ns;
        self.backoff_max_ns = g.backoff_max_ns;
        for venue in Venue::ALL {
            let v = &venues[venue.index()];
            let b = &mut self.venues[venue.index()];
            b.places
                .set_limit(g.rate_place_per_min.min(v.orders_per_min));
            b.cancels.set_limit(g.rate_cancel_per_min);
            b.orders_10s.set_limit(v.orders_per_10s);
            b.weight_limit = v.weight_per_min;
            b.reserve_pct = v.cancel_reserve_pct;
        }
    }

    /// Budget of one venue.
    pub fn budget(&self, venue: Venue) -> &VenueBudget {
        &self.venues[venue.index()]
    }

    /// Whether a request may leave now; records it if so.
    pub fn try_take(&mut self, now: UnixNanos, venue: Venue, kind: RequestKind) -> bool {
        self.admit(now, venue, kind, true)
    }

    /// Whether a request could leave now, without recording it.
    pub fn would_allow(&mut self, now: UnixNanos, venue: Venue, kind: RequestKind) -> bool {
        self.admit(now, venue, kind, false)
    }

    fn admit(&mut self, now: UnixNanos, venue: Venue, kind: RequestKind, record: bool) -> bool {
        let b = &mut self.venues[venue.index()];
        let allowed = b.fits(now, venue, kind);
        if !record {
            return allowed;
        }
        if !allowed {
            b.refused += 1;
            return false;
        }
        match kind {
            RequestKind::Place => {
                b.places.try_record(now);
                b.orders_10s.try_record(now);
            }
            RequestKind::Cancel => {
                b.cancels.try_record(now);
                b.orders_10s.try_record(now);
            }
            _ => {}
        }
        let w = weight(venue, kind);
        b.weight.push_back((now, w));
        b.weight_sum += w;
        true
    }

    /// Usage reported by the venue's headers.
    pub fn on_usage(&mut self, now: UnixNanos, venue: Venue, weight_used: u32) {
        self.venues[venue.index()].reported_weight = (weight_used, now);
    }

    /// HTTP 429.
    pub fn on_rate_limited(&mut self, now: UnixNanos, venue: Venue, retry_after_ns: Option<u64>) {
        let (initial, max) = (self.backoff_initial_ns, self.backoff_max_ns);
        let b = &mut self.venues[venue.index()];
        b.rate_limited += 1;
        if now.nanos_since(b.last_429) > max {
            b.consecutive_429 = 0;
        }
        b.consecutive_429 += 1;
        b.last_429 = now;
        let exponential = initial
            .saturating_mul(1u64 << (b.consecutive_429 - 1).min(30))
            .min(max);
        let backoff = retry_after_ns
            .unwrap_or(exponential)
            .max(initial.min(exponential));
        b.backoff_until = b.backoff_until.max(now.plus_nanos(backoff));
        if b.verdict.level < GuardLevel::Warn {
            b.verdict.set(now, GuardLevel::Warn, "429: backing off");
        }
    }

    /// HTTP 418: banned until `until`.
    pub fn on_banned(&mut self, now: UnixNanos, venue: Venue, until: UnixNanos) -> RateAction {
        let b = &mut self.venues[venue.index()];
        b.bans += 1;
        b.banned_until = b.banned_until.max(until);
        let trip = b.verdict.level != GuardLevel::Hold;
        b.verdict.set(now, GuardLevel::Hold, "418: IP banned");
        RateAction {
            trip,
            cleared: false,
        }
    }

    /// Ends backoffs and bans whose time has come; warns at high utilisation.
    pub fn on_tick(&mut self, now: UnixNanos) -> [RateAction; Venue::COUNT] {
        let mut out = [RateAction::default(); Venue::COUNT];
        for (i, b) in self.venues.iter_mut().enumerate() {
            let used = b.weight_used(now);
            let busy =
                used * 10 > b.weight_limit * 8 || b.places.count(now) * 10 > b.places.limit() * 8;
            if now < b.banned_until {
                continue;
            }
            if b.verdict.level == GuardLevel::Hold {
                out[i].cleared = true;
            }
            if now < b.backoff_until {
                b.verdict.set(now, GuardLevel::Warn, "429: backing off");
            } else if busy {
                b.verdict.set(now, GuardLevel::Warn, "budget above 80 %");
            } else {
                b.verdict.set(now, GuardLevel::Ok, "within budget");
            }
        }
        out
    }

    /// Next backoff or ban end.
    pub fn next_deadline(&self, now: UnixNanos) -> UnixNanos {
        self.venues
            .iter()
            .flat_map(|b| [b.backoff_until, b.banned_until])
            .filter(|t| *t > now)
            .min()
            .unwrap_or(UnixNanos::NEVER)
    }

    /// When a refused place could next fit (for retry timers).
    pub fn next_room(&mut self, now: UnixNanos, venue: Venue) -> UnixNanos {
        let b = &mut self.venues[venue.index()];
        [
            b.backoff_until,
            b.banned_until,
            b.orders_10s.next_room_at(now).unwrap_or(now),
            b.places.next_room_at(now).unwrap_or(now),
            b.cancels.next_room_at(now).unwrap_or(now),
        ]
        .into_iter()
        .max()
        .unwrap_or(now)
        .max(now)
    }

    /// Verdict of one venue.
    pub fn verdict(&self, venue: Venue) -> Verdict {
        self.venues[venue.index()].verdict
    }

    /// Worst verdict across venues.
    pub fn worst(&self) -> Verdict {
        super::disconnect::worst(self.venues.iter().map(|b| b.verdict))
    }

    /// Places, cancels and weight in the last minute on a venue.
    pub fn counts(&self, now: UnixNanos, venue: Venue) -> (u32, u32, u32) {
        let b = &self.venues[venue.index()];
        let own: u32 = b
            .weight
            .iter()
            .filter(|(t, _)| now.nanos_since(*t) < NANOS_PER_MINUTE)
            .map(|(_, w)| *w)
            .sum();
        let (reported, at) = b.reported_weight;
        let weight = if now.nanos_since(at) < NANOS_PER_MINUTE {
            own.max(reported)
        } else {
            own
        };
        (b.places.count_at(now), b.cancels.count_at(now), weight)
    }

    /// The per-minute place limit and weight limit of a venue.
    pub fn limits(&self, venue: Venue) -> (u32, u32, u32) {
        let b = &self.venues[venue.index()];
        (b.places.limit(), b.cancels.limit(), b.weight_limit)
    }

    /// Whether places are blocked by a backoff or ban.
    pub fn backing_off(&self, now: UnixNanos, venue: Venue) -> bool {
        let b = &self.venues[venue.index()];
        now < b.backoff_until || now < b.banned_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Profile};

    fn guard(place: u32, cancel: u32) -> RateLimitGuard {
        let mut c = Config::embedded(Profile::Paper);
        c.guards.rate_place_per_min = place;
        c.guards.rate_cancel_per_min = cancel;
        RateLimitGuard::new(&c.guards, &c.venues, UnixNanos(0))
    }

    const S: u64 = NANOS_PER_SECOND;

    #[test]
    fn cancel_beats_place_when_the_shared_budget_runs_low() {
        let mut g = guard(10_000, 10_000);
        let now = UnixNanos(S);
        // The 10 s order budget is 300 with 20 % reserved for cancels: 240 places.
        let mut placed = 0;
        while g.try_take(now, Venue::Binance, RequestKind::Place) {
            placed += 1;
        }
        assert_eq!(placed, 240);
        let mut cancelled = 0;
        while g.try_take(now, Venue::Binance, RequestKind::Cancel) {
            cancelled += 1;
        }
        assert_eq!(cancelled, 60, "cancels use the reserve");
        assert!(
            g.try_take(UnixNanos(12 * S), Venue::Binance, RequestKind::Place),
            "the window rolled"
        );
    }

    #[test]
    fn places_per_minute_are_capped_by_the_guard_limit() {
        let mut g = guard(5, 600);
        for i in 0..5 {
            assert!(g.try_take(UnixNanos(i * 11 * S), Venue::Okx, RequestKind::Place));
        }
        assert!(!g.try_take(UnixNanos(56 * S), Venue::Okx, RequestKind::Place));
        assert!(g.try_take(UnixNanos(61 * S), Venue::Okx, RequestKind::Place));
    }

    #[test]
    fn a_429_backs_off_places_but_not_cancels_honouring_retry_after() {
        let mut g = guard(300, 600);
        g.on_rate_limited(UnixNanos(S), Venue::Binance, Some(5 * S));
        assert!(!g.try_take(UnixNanos(2 * S), Venue::Binance, RequestKind::Place));
        assert!(g.try_take(UnixNanos(2 * S), Venue::Binance, RequestKind::Cancel));
        assert!(
            g.try_take(UnixNanos(2 * S), Venue::Okx, RequestKind::Place),
            "other venue unaffected"
        );
        assert_eq!(g.verdict(Venue::Binance).level, GuardLevel::Warn);
        assert!(g.try_take(UnixNanos(6 * S), Venue::Binance, RequestKind::Place));
        g.on_tick(UnixNanos(6 * S));
        assert_eq!(g.verdict(Venue::Binance).level, GuardLevel::Ok);
    }

    #[test]
    fn repeated_429s_without_retry_after_back_off_exponentially() {
        let mut g = guard(300, 600);
        g.on_rate_limited(UnixNanos(0), Venue::Okx, None);
        g.on_rate_limited(UnixNanos(S / 2), Venue::Okx, None);
        g.on_rate_limited(UnixNanos(S), Venue::Okx, None);
        // 1 s, 2 s, 4 s: the last ends at 5 s.
        assert!(!g.try_take(UnixNanos(4 * S), Venue::Okx, RequestKind::Place));
        assert!(g.try_take(UnixNanos(5 * S), Venue::Okx, RequestKind::Place));
    }

    #[test]
    fn a_418_ban_trips_and_blocks_everything_until_it_ends() {
        let mut g = guard(300, 600);
        assert!(
            g.on_banned(UnixNanos(0), Venue::Binance, UnixNanos(120 * S))
                .trip
        );
        assert!(!g.try_take(UnixNanos(S), Venue::Binance, RequestKind::Cancel));
        assert_eq!(g.worst().level, GuardLevel::Hold);
        assert!(!g.on_tick(UnixNanos(60 * S))[0].cleared);
        assert!(g.on_tick(UnixNanos(120 * S))[0].cleared);
        assert!(g.try_take(UnixNanos(120 * S), Venue::Binance, RequestKind::Cancel));
    }
}
