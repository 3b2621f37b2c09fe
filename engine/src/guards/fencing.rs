//! Leader fencing. Venues do not check fencing tokens, so fencing is built from what
//! they do offer (SIMULATION.md, "Leader and fencing"):
//! - the epoch comes from the lease service, only grows, and is part of every client
//!   order id;
//! - no new order once the lease is half-way to expiry without a renewal;
//! - cancel everything and HOLD at three quarters of the way, before it can expire;
//! - every order's venue-side expiry is no later than the lease expiry;
//! - a new leader waits one request-expiry window plus the clock-skew bound before its
//!   first order (and starts in HOLD, like every start).

use super::{GuardLevel, Verdict};
use crate::time::UnixNanos;
use serde::Serialize;

/// What this instance knows about its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LeaseState {
    /// Never held one: a standby.
    Standby,
    /// Holds the lease.
    Held {
        /// Epoch.
        epoch: u32,
        /// Last grant or renewal.
        renewed_at: UnixNanos,
        /// Expiry.
        expires_at: UnixNanos,
    },
    /// Gave it up (lost, or self-fenced before expiry).
    Fenced {
        /// Epoch it held.
        epoch: u32,
    },
}

/// What the engine must do after a lease event or tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FenceAction {
    /// A new epoch began (journal it).
    pub new_epoch: bool,
    /// Cancel every order and HOLD.
    pub fence: bool,
    /// A grant was ignored (older epoch than one already seen).
    pub stale_grant: bool,
}

/// The guard.
#[derive(Clone, Debug)]
pub struct FencingGuard {
    lease: LeaseState,
    highest_epoch: u32,
    quiet_ns: u64,
    first_order_at: UnixNanos,
    verdict: Verdict,
    /// The latest clock step back the driver reported (engine time it was noticed) and
    /// the sum of all steps: a lease request stamped at or before it may carry them.
    stepped_back: Option<(UnixNanos, u64)>,
    /// Times this instance fenced itself or lost the lease.
    pub fences: u64,
}

impl FencingGuard {
    /// A standby that has seen `highest_epoch` (from the journal). `quiet_ns` is the
    /// longest request expiry plus the clock-skew bound.
    pub fn new(highest_epoch: u32, quiet_ns: u64, now: UnixNanos) -> FencingGuard {
        FencingGuard {
            lease: LeaseState::Standby,
            highest_epoch,
            quiet_ns,
            first_order_at: UnixNanos::NEVER,
            verdict: Verdict {
                level: GuardLevel::Ok,
                reason: "standby: no lease",
                since: now,
            },
            stepped_back: None,
            fences: 0,
        }
    }

    /// Applies a config change.
    pub fn set_quiet(&mut self, quiet_ns: u64) {
        self.quiet_ns = quiet_ns;
    }

    /// Current lease state.
    pub fn lease(&self) -> LeaseState {
        self.lease
    }

    /// Epoch for new client order ids (0 when no lease is held).
    pub fn epoch(&self) -> u32 {
        match self.lease {
            LeaseState::Held { epoch, .. } => epoch,
            _ => 0,
        }
    }

    /// Highest epoch seen.
    pub fn highest_epoch(&self) -> u32 {
        self.highest_epoch
    }

    /// Whether this instance is the active leader by its own reckoning.
    pub fn is_leader(&self, now: UnixNanos) -> bool {
        matches!(self.lease, LeaseState::Held { expires_at, .. } if now < expires_at)
    }

    /// Verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Earliest time of the first order of this epoch.
    pub fn first_order_at(&self) -> UnixNanos {
        self.first_order_at
    }

    /// Lease expiry; orders must expire no later.
    pub fn lease_expiry(&self) -> UnixNanos {
        match self.lease {
            LeaseState::Held { expires_at, .. } => expires_at,
            _ => UnixNanos::ZERO,
        }
    }

    /// Whether a new order may leave now.
    pub fn may_place(&self, now: UnixNanos) -> bool {
        match self.lease {
            LeaseState::Held {
                renewed_at,
                expires_at,
                ..
            } => now >= self.first_order_at && now < half_way(renewed_at, expires_at),
            _ => false,
        }
    }

    /// The expiry of a lease granted for `ttl_ns` from `requested_at`, on the engine's
    /// clock.
    ///
    /// A driver's clock never goes back: after a step back it holds its last reading
    /// until true time catches up (or it slews). A request stamped before a step, or
    /// while the clock was held, carries a time up to the step ahead of the truth, and
    /// a lease reckoned from it would outlive the lease service's (at-p0-chaos seed
    /// 21651: a renewal sent 180 ms after a 400 ms step, then a pause past the lease).
    /// Such a request is reckoned from `requested_at - step`; a request stamped after
    /// the step was noticed and the clock moved on is exact.
    pub fn expiry_of(&self, requested_at: UnixNanos, ttl_ns: u64) -> UnixNanos {
        let expires_at = requested_at.plus_nanos(ttl_ns);
        match self.stepped_back {
            Some((noticed_at, by_ns)) if requested_at <= noticed_at => {
                expires_at.minus_nanos(by_ns)
            }
            _ => expires_at,
        }
    }

    /// A grant or renewal.
    pub fn on_granted(&mut self, now: UnixNanos, epoch: u32, expires_at: UnixNanos) -> FenceAction {
        if epoch < self.highest_epoch
            || (epoch == self.highest_epoch
                && !matches!(self.lease, LeaseState::Held { epoch: e, .. } if e == epoch))
        {
            // An old epoch, or a re-grant of an epoch we already gave up: never reuse it.
            self.verdict
                .set(now, GuardLevel::Warn, "stale lease grant ignored");
            return FenceAction {
                stale_grant: true,
                ..FenceAction::default()
            };
        }
        if expires_at <= now {
            self.verdict
                .set(now, GuardLevel::Warn, "expired lease grant ignored");
            return FenceAction {
                stale_grant: true,
                ..FenceAction::default()
            };
        }
        let new_epoch = epoch > self.highest_epoch;
        if new_epoch {
            self.highest_epoch = epoch;
            self.first_order_at = now.plus_nanos(self.quiet_ns);
        }
        self.lease = LeaseState::Held {
            epoch,
            renewed_at: now,
            expires_at,
        };
        self.verdict.set(now, GuardLevel::Ok, "leader");
        FenceAction {
            new_epoch,
            ..FenceAction::default()
        }
    }

    /// The lease is gone.
    pub fn on_lost(&mut self, now: UnixNanos) -> FenceAction {
        match self.lease {
            LeaseState::Held { epoch, .. } => {
                self.lease = LeaseState::Fenced { epoch };
                self.fences += 1;
                self.verdict.set(now, GuardLevel::Hold, "lease lost");
                FenceAction {
                    fence: true,
                    ..FenceAction::default()
                }
            }
            _ => FenceAction::default(),
        }
    }

    /// The clock stepped back by `by_ns`: the lease was granted and expires that much
    /// earlier on the clock than recorded. Fences at once when that puts it past the
    /// three-quarter point.
    pub fn on_clock_stepped_back(&mut self, now: UnixNanos, by_ns: u64) -> FenceAction {
        let before = self.stepped_back.map_or(0, |(_, b)| b);
        self.stepped_back = Some((now, before.saturating_add(by_ns)));
        if let LeaseState::Held {
            epoch,
            renewed_at,
            expires_at,
        } = self.lease
        {
            self.lease = LeaseState::Held {
                epoch,
                renewed_at: renewed_at.minus_nanos(by_ns),
                expires_at: expires_at.minus_nanos(by_ns),
            };
            return self.on_tick(now);
        }
        FenceAction::default()
    }

    /// Fences itself at three quarters of the lease without a renewal; warns past half.
    pub fn on_tick(&mut self, now: UnixNanos) -> FenceAction {
        let LeaseState::Held {
            epoch,
            renewed_at,
            expires_at,
        } = self.lease
        else {
            return FenceAction::default();
        };
        if now >= three_quarters(renewed_at, expires_at) {
            self.lease = LeaseState::Fenced { epoch };
            self.fences += 1;
            self.verdict.set(
                now,
                GuardLevel::Hold,
                "lease not renewed; fenced before expiry",
            );
            return FenceAction {
                fence: true,
                ..FenceAction::default()
            };
        }
        if now >= half_way(renewed_at, expires_at) {
            self.verdict
                .set(now, GuardLevel::Warn, "lease renewal late; no new orders");
        }
        FenceAction::default()
    }

    /// Next time `on_tick` has something to do.
    pub fn next_deadline(&self, now: UnixNanos) -> UnixNanos {
        match self.lease {
            LeaseState::Held {
                renewed_at,
                expires_at,
                ..
            } => {
                let half = half_way(renewed_at, expires_at);
                if now < half {
                    half
                } else {
                    three_quarters(renewed_at, expires_at)
                }
            }
            _ => UnixNanos::NEVER,
        }
    }
}

fn half_way(from: UnixNanos, to: UnixNanos) -> UnixNanos {
    from.plus_nanos(to.nanos_since(from) / 2)
}

fn three_quarters(from: UnixNanos, to: UnixNanos) -> UnixNanos {
    from.plus_nanos(to.nanos_since(from) / 4 * 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_leader_waits_the_quiet_period_and_stops_at_half_way() {
        let mut g = FencingGuard::new(3, 100, UnixNanos(0));
        assert!(!g.may_place(UnixNanos(0)));
        let a = g.on_granted(UnixNanos(1_000), 4, UnixNanos(11_000));
        assert!(a.new_epoch);
        assert_eq!(g.epoch(), 4);
        assert!(!g.may_place(UnixNanos(1_050)), "quiet period");
        assert!(g.may_place(UnixNanos(1_100)));
        assert!(!g.may_place(UnixNanos(6_000)), "half-way without renewal");
        // A renewal restores placing.
        assert!(
            !g.on_granted(UnixNanos(6_000), 4, UnixNanos(16_000))
                .new_epoch
        );
        assert!(g.may_place(UnixNanos(6_001)));
    }

    #[test]
    fn fences_itself_before_expiry_and_never_reuses_an_epoch() {
        let mut g = FencingGuard::new(0, 0, UnixNanos(0));
        g.on_granted(UnixNanos(0), 1, UnixNanos(1_000));
        assert_eq!(g.next_deadline(UnixNanos(0)), UnixNanos(500));
        assert!(!g.on_tick(UnixNanos(700)).fence);
        assert_eq!(g.verdict().level, GuardLevel::Warn);
        assert!(g.on_tick(UnixNanos(750)).fence);
        assert_eq!(g.verdict().level, GuardLevel::Hold);
        assert!(!g.may_place(UnixNanos(751)));
        assert!(
            g.on_granted(UnixNanos(800), 1, UnixNanos(2_000))
                .stale_grant,
            "epoch 1 was given up"
        );
        assert!(g.on_granted(UnixNanos(800), 2, UnixNanos(2_000)).new_epoch);
    }

    #[test]
    fn a_clock_step_back_shortens_the_lease_and_can_fence_at_once() {
        let mut g = FencingGuard::new(0, 0, UnixNanos(0));
        g.on_granted(UnixNanos(1_000), 1, UnixNanos(7_000));
        // Stepped back by 400: the lease ends at 6_600 on this clock, not 7_000.
        assert!(!g.on_clock_stepped_back(UnixNanos(2_000), 400).fence);
        assert_eq!(g.lease_expiry(), UnixNanos(6_600));
        assert!(g.is_leader(UnixNanos(6_599)));
        assert!(!g.is_leader(UnixNanos(6_600)));
        // Half-way moves with it: 600 + (6_600 - 600) / 2 = 3_600.
        assert!(g.may_place(UnixNanos(3_599)));
        assert!(!g.may_place(UnixNanos(3_600)));
        // A step that puts the clock past three quarters fences at once.
        assert!(g.on_clock_stepped_back(UnixNanos(4_500), 1_000).fence);
        assert_eq!(g.verdict().level, GuardLevel::Hold);
        assert!(!g.is_leader(UnixNanos(4_500)));
        // Without a lease a step changes nothing.
        let mut standby = FencingGuard::new(0, 0, UnixNanos(0));
        assert_eq!(
            standby.on_clock_stepped_back(UnixNanos(10), 5),
            FenceAction::default()
        );
    }

    /// at-p0-chaos seed 21651, in milliseconds of true time with a 6 s lease: the clock
    /// runs 400 ms fast, is stepped back at 68 820 and held at its last reading (69 200)
    /// until true time catches up; a renewal leaves at true 69 000 stamped 69 200 and is
    /// granted at 69 006, so the service's lease ends at 75 006. Then the process pauses
    /// for 12 s. Reckoned from its stamp, the lease would last until 75 200 on a clock
    /// that reads true time again: a paused leader and the new one would overlap.
    #[test]
    fn regression_a_renewal_stamped_on_a_held_clock_after_a_step_back_is_shortened() {
        let ms = |t: u64| UnixNanos(t * 1_000_000);
        let ttl = 6_000 * 1_000_000;
        let mut g = FencingGuard::new(0, 0, ms(0));
        g.on_granted(ms(67_900), 1, g.expiry_of(ms(67_900), ttl));
        // The driver reports the step with the next input (its clock still held).
        g.on_clock_stepped_back(ms(69_200), 400 * 1_000_000);
        let expires_at = g.expiry_of(ms(69_200), ttl);
        g.on_granted(ms(69_200), 1, expires_at);
        assert!(
            expires_at <= ms(75_006),
            "{expires_at:?} outlives the service's lease"
        );
        assert!(!g.is_leader(ms(75_006)));
        // A request stamped after the clock moved on is reckoned exactly.
        assert_eq!(g.expiry_of(ms(69_300), ttl), ms(75_300));
    }

    #[test]
    fn losing_the_lease_fences() {
        let mut g = FencingGuard::new(0, 0, UnixNanos(0));
        assert!(
            !g.on_lost(UnixNanos(1)).fence,
            "a standby has nothing to fence"
        );
        g.on_granted(UnixNanos(2), 5, UnixNanos(100));
        assert!(g.on_lost(UnixNanos(3)).fence);
        assert!(!g.is_leader(UnixNanos(4)));
        assert_eq!(g.fences, 1);
    }
}
