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
