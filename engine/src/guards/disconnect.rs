//! Cancel-on-disconnect: when a venue link drops, cancel everything there and HOLD.
//! What cannot be cancelled while the link is down is covered by the venue's dead-man
//! switch, which the engine keeps armed while orders rest (see `Engine`). On reconnect
//! the cancel-all is sent again until the venue confirms it.

use super::{GuardLevel, Verdict};
use crate::model::Venue;
use crate::time::UnixNanos;
use serde::Serialize;

/// Link state of one venue.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Link {
    /// Streams up.
    pub connected: bool,
    /// A cancel-all was requested and not yet confirmed.
    pub cancel_all_pending: bool,
    /// Disconnects seen.
    pub disconnects: u64,
    /// Current verdict.
    pub verdict: Verdict,
    /// Tripped and not yet cleared (a first connection at start clears nothing).
    pub tripped: bool,
}

/// What the engine must do after a link event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkAction {
    /// Send `CancelAll` to the venue.
    pub cancel_all: bool,
    /// Enter HOLD.
    pub trip: bool,
    /// The condition cleared (journal it).
    pub cleared: bool,
}

/// The guard, one link per venue.
#[derive(Clone, Debug)]
pub struct DisconnectGuard {
    enabled: bool,
    links: [Link; Venue::COUNT],
}

impl DisconnectGuard {
    /// A guard with every venue not yet connected.
    pub fn new(enabled: bool, now: UnixNanos) -> DisconnectGuard {
        let link = Link {
            connected: false,
            cancel_all_pending: false,
            disconnects: 0,
            tripped: false,
            verdict: Verdict {
                level: GuardLevel::Warn,
                reason: "not connected yet",
                since: now,
            },
        };
        DisconnectGuard {
            enabled,
            links: [link; Venue::COUNT],
        }
    }

    /// Applies a config change.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// The link of one venue.
    pub fn link(&self, venue: Venue) -> &Link {
        &self.links[venue.index()]
    }

    /// Whether the venue's streams are up.
    pub fn is_connected(&self, venue: Venue) -> bool {
        self.links[venue.index()].connected
    }

    /// A link dropped.
    pub fn on_disconnected(&mut self, now: UnixNanos, venue: Venue, clean: bool) -> LinkAction {
        let link = &mut self.links[venue.index()];
        let was_connected = link.connected;
        link.connected = false;
        if was_connected {
            link.disconnects += 1;
        }
        if !self.enabled {
            link.verdict.set(
                now,
                GuardLevel::Warn,
                "disconnected (cancel-on-disconnect off)",
            );
            return LinkAction {
                cancel_all: false,
                trip: false,
                cleared: false,
            };
        }
        link.cancel_all_pending = true;
        link.tripped = true;
        let reason = if clean {
            "disconnected"
        } else {
            "stream stalled"
        };
        let trip = link.verdict.level != GuardLevel::Hold;
        link.verdict.set(now, GuardLevel::Hold, reason);
        LinkAction {
            cancel_all: true,
            trip,
            cleared: false,
        }
    }

    /// A link came up. Re-sends the cancel-all if the venue never confirmed it.
    pub fn on_connected(&mut self, now: UnixNanos, venue: Venue) -> LinkAction {
        let link = &mut self.links[venue.index()];
        link.connected = true;
        if link.cancel_all_pending {
            link.verdict.set(
                now,
                GuardLevel::Warn,
                "reconnected; cancel-all not yet confirmed",
            );
            return LinkAction {
                cancel_all: true,
                trip: false,
                cleared: false,
            };
        }
        let cleared = std::mem::take(&mut link.tripped);
        link.verdict.set(now, GuardLevel::Ok, "connected");
        LinkAction {
            cancel_all: false,
            trip: false,
            cleared,
        }
    }

    /// The venue answered a cancel-all.
    pub fn on_cancel_all_done(&mut self, now: UnixNanos, venue: Venue, ok: bool) -> LinkAction {
        let link = &mut self.links[venue.index()];
        if !ok {
            link.verdict.set(
                now,
                GuardLevel::Error,
                "cancel-all failed; dead-man switch covers",
            );
            return LinkAction {
                cancel_all: false,
                trip: false,
                cleared: false,
            };
        }
        link.cancel_all_pending = false;
        if link.connected {
            let cleared = std::mem::take(&mut link.tripped);
            link.verdict.set(now, GuardLevel::Ok, "connected");
            return LinkAction {
                cancel_all: false,
                trip: false,
                cleared,
            };
        }
        LinkAction {
            cancel_all: false,
            trip: false,
            cleared: false,
        }
    }

    /// Worst verdict across venues.
    pub fn worst(&self) -> Verdict {
        worst(self.links.iter().map(|l| l.verdict))
    }
}

/// The worst of several verdicts (the earliest `since` among equals).
pub(crate) fn worst(verdicts: impl Iterator<Item = Verdict>) -> Verdict {
    let mut out: Option<Verdict> = None;
    for v in verdicts {
        out = match out {
            None => Some(v),
            Some(o) if v.level > o.level || (v.level == o.level && v.since < o.since) => Some(v),
            keep => keep,
        };
    }
    out.unwrap_or(Verdict::ok(UnixNanos::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_on_disconnect_and_clears_after_confirmed_cancel_all() {
        let mut g = DisconnectGuard::new(true, UnixNanos(0));
        assert_eq!(g.worst().level, GuardLevel::Warn, "not connected yet");
        assert!(
            !g.on_connected(UnixNanos(1), Venue::Binance).cleared,
            "a first connection clears nothing"
        );
        g.on_connected(UnixNanos(1), Venue::Okx);
        assert_eq!(g.worst().level, GuardLevel::Ok);
        let a = g.on_disconnected(UnixNanos(5), Venue::Okx, true);
        assert_eq!(
            a,
            LinkAction {
                cancel_all: true,
                trip: true,
                cleared: false
            }
        );
        assert_eq!(g.worst().level, GuardLevel::Hold);
        // Reconnecting re-sends the cancel-all; only its confirmation clears.
        let a = g.on_connected(UnixNanos(9), Venue::Okx);
        assert!(a.cancel_all && !a.cleared);
        assert_eq!(g.worst().level, GuardLevel::Warn);
        let a = g.on_cancel_all_done(UnixNanos(10), Venue::Okx, true);
        assert!(a.cleared);
        assert_eq!(g.worst().level, GuardLevel::Ok);
        assert_eq!(g.link(Venue::Okx).disconnects, 1);
    }

    #[test]
    fn disabled_guard_only_warns() {
        let mut g = DisconnectGuard::new(false, UnixNanos(0));
        g.on_connected(UnixNanos(1), Venue::Binance);
        let a = g.on_disconnected(UnixNanos(2), Venue::Binance, false);
        assert!(!a.cancel_all && !a.trip);
        assert_eq!(g.link(Venue::Binance).verdict.level, GuardLevel::Warn);
    }
}
