//! Maintenance calendar: windows from the config and from venue notices. HOLD starts
//! `maintenance_lead_ms` ahead of a window; during the outage only cancels may leave,
//! and during pre-open only cancels and post-only orders (OKX semantics).

use super::{GuardLevel, Verdict};
use crate::config::MaintenanceWindow;
use crate::model::{TimeInForce, Venue};
use crate::time::UnixNanos;
use serde::Serialize;

/// Most windows kept (configured and announced); older ended ones go first.
pub const WINDOWS_MAX: usize = 64;

/// Where a venue stands relative to its windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MaintenancePhase {
    /// No window near.
    Normal,
    /// Within the lead time before a window.
    Ahead,
    /// In the outage.
    Down,
    /// Pre-open: cancels and post-only only.
    PreOpen,
}

/// What the engine must do after a tick or notice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceAction {
    /// Venues that entered a window's lead time (HOLD).
    pub trip: [bool; Venue::COUNT],
    /// Venues whose windows are over.
    pub cleared: [bool; Venue::COUNT],
}

/// The guard.
#[derive(Clone, Debug)]
pub struct MaintenanceGuard {
    lead_ns: u64,
    windows: Vec<MaintenanceWindow>,
    phases: [MaintenancePhase; Venue::COUNT],
    verdicts: [Verdict; Venue::COUNT],
    /// Times a window put the engine in HOLD.
    pub trips: u64,
}

impl MaintenanceGuard {
    /// A guard with the configured windows.
    pub fn new(lead_ns: u64, windows: &[MaintenanceWindow], now: UnixNanos) -> MaintenanceGuard {
        let mut g = MaintenanceGuard {
            lead_ns,
            windows: Vec::with_capacity(WINDOWS_MAX),
            phases: [MaintenancePhase::Normal; Venue::COUNT],
            verdicts: [Verdict::ok(now); Venue::COUNT],
            trips: 0,
        };
        for w in windows.iter().take(WINDOWS_MAX) {
            g.windows.push(w.clone());
        }
        g
    }

    /// Applies a config change: replaces configured windows, keeps announced ones.
    pub fn configure(
        &mut self,
        lead_ns: u64,
        windows: &[MaintenanceWindow],
        announced: &[MaintenanceWindow],
    ) {
        self.lead_ns = lead_ns;
        self.windows.clear();
        for w in windows.iter().chain(announced).take(WINDOWS_MAX) {
            if !self.windows.contains(w) {
                self.windows.push(w.clone());
            }
        }
    }

    /// Windows known.
    pub fn windows(&self) -> &[MaintenanceWindow] {
        &self.windows
    }

    /// Phase of a venue (as of the last tick).
    pub fn phase(&self, venue: Venue) -> MaintenancePhase {
        self.phases[venue.index()]
    }

    /// Verdict of a venue.
    pub fn verdict(&self, venue: Venue) -> Verdict {
        self.verdicts[venue.index()]
    }

    /// Records a venue notice; returns `false` if it was already known or no room is
    /// left (the caller alerts).
    pub fn on_notice(&mut self, now: UnixNanos, window: MaintenanceWindow) -> bool {
        if self.windows.contains(&window) {
            return false;
        }
        if self.windows.len() >= WINDOWS_MAX {
            let ended = self.windows.iter().position(|w| w.end <= now);
            match ended {
                Some(i) => {
                    self.windows.remove(i);
                }
                None => return false,
            }
        }
        self.windows.push(window);
        true
    }

    fn phase_at(&self, now: UnixNanos, venue: Venue) -> MaintenancePhase {
        let mut phase = MaintenancePhase::Normal;
        for w in self
            .windows
            .iter()
            .filter(|w| w.venue.is_none_or(|v| v == venue))
        {
            let p = if now >= w.end {
                MaintenancePhase::Normal
            } else if now >= w.start {
                match w.pre_open_start {
                    Some(p) if now >= p => MaintenancePhase::PreOpen,
                    _ => MaintenancePhase::Down,
                }
            } else if now.plus_nanos(self.lead_ns) >= w.start {
                MaintenancePhase::Ahead
            } else {
                MaintenancePhase::Normal
            };
            phase = worse(phase, p);
        }
        phase
    }

    /// Recomputes phases; reports venues entering or leaving maintenance.
    pub fn on_tick(&mut self, now: UnixNanos) -> MaintenanceAction {
        let mut action = MaintenanceAction::default();
        for venue in Venue::ALL {
            let i = venue.index();
            let next = self.phase_at(now, venue);
            let prev = self.phases[i];
            self.phases[i] = next;
            match next {
                MaintenancePhase::Normal => {
                    if prev != MaintenancePhase::Normal {
                        action.cleared[i] = true;
                    }
                    self.verdicts[i].set(now, GuardLevel::Ok, "no maintenance scheduled");
                }
                MaintenancePhase::Ahead => {
                    self.verdicts[i].set(now, GuardLevel::Hold, "maintenance window ahead")
                }
                MaintenancePhase::Down => {
                    self.verdicts[i].set(now, GuardLevel::Hold, "venue in maintenance")
                }
                MaintenancePhase::PreOpen => self.verdicts[i].set(
                    now,
                    GuardLevel::Hold,
                    "pre-open: cancels and post-only only",
                ),
            }
            if prev == MaintenancePhase::Normal && next != MaintenancePhase::Normal {
                action.trip[i] = true;
                self.trips += 1;
            }
        }
        action
    }

    /// Whether an order (or cancel) may leave for `venue` now.
    pub fn allows(&self, venue: Venue, time_in_force: Option<TimeInForce>) -> bool {
        match (self.phases[venue.index()], time_in_force) {
            (_, None) => true, // cancels always
            (MaintenancePhase::Normal | MaintenancePhase::Ahead, _) => true,
            (MaintenancePhase::PreOpen, Some(TimeInForce::PostOnly)) => true,
            _ => false,
        }
    }

    /// Next boundary of any window.
    pub fn next_deadline(&self, now: UnixNanos) -> UnixNanos {
        let mut next = UnixNanos::NEVER;
        for w in &self.windows {
            for t in [
                Some(w.start.minus_nanos(self.lead_ns)),
                Some(w.start),
                w.pre_open_start,
                Some(w.end),
            ]
            .into_iter()
            .flatten()
            {
                if t > now && t < next {
                    next = t;
                }
            }
        }
        next
    }

    /// Worst verdict across venues.
    pub fn worst(&self) -> Verdict {
        super::disconnect::worst(self.verdicts.iter().copied())
    }
}

fn rank(p: MaintenancePhase) -> u8 {
    match p {
        MaintenancePhase::Normal => 0,
        MaintenancePhase::Ahead => 1,
        MaintenancePhase::PreOpen => 2,
        MaintenancePhase::Down => 3,
    }
}

fn worse(a: MaintenancePhase, b: MaintenancePhase) -> MaintenancePhase {
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(venue: Option<Venue>) -> MaintenanceWindow {
        MaintenanceWindow {
            venue,
            start: UnixNanos(1_000),
            end: UnixNanos(2_000),
            pre_open_start: Some(UnixNanos(1_800)),
            title: "upgrade".into(),
        }
    }

    #[test]
    fn holds_ahead_of_time_and_gates_orders_by_phase() {
        let mut g = MaintenanceGuard::new(300, &[window(Some(Venue::Okx))], UnixNanos(0));
        assert_eq!(g.on_tick(UnixNanos(600)), MaintenanceAction::default());
        let a = g.on_tick(UnixNanos(700));
        assert!(a.trip[Venue::Okx.index()] && !a.trip[Venue::Binance.index()]);
        assert_eq!(g.phase(Venue::Okx), MaintenancePhase::Ahead);
        g.on_tick(UnixNanos(1_000));
        assert_eq!(g.phase(Venue::Okx), MaintenancePhase::Down);
        assert!(!g.allows(Venue::Okx, Some(TimeInForce::PostOnly)));
        assert!(g.allows(Venue::Okx, None), "cancels may always try");
        assert!(g.allows(Venue::Binance, Some(TimeInForce::Ioc)));
        g.on_tick(UnixNanos(1_800));
        assert_eq!(g.phase(Venue::Okx), MaintenancePhase::PreOpen);
        assert!(g.allows(Venue::Okx, Some(TimeInForce::PostOnly)));
        assert!(!g.allows(Venue::Okx, Some(TimeInForce::Ioc)));
        let a = g.on_tick(UnixNanos(2_000));
        assert!(a.cleared[Venue::Okx.index()]);
        assert_eq!(g.worst().level, GuardLevel::Ok);
    }

    #[test]
    fn notices_are_deduplicated_and_drive_deadlines() {
        let mut g = MaintenanceGuard::new(300, &[], UnixNanos(0));
        assert!(g.on_notice(UnixNanos(0), window(None)));
        assert!(!g.on_notice(UnixNanos(0), window(None)));
        assert_eq!(g.next_deadline(UnixNanos(0)), UnixNanos(700));
        assert_eq!(g.next_deadline(UnixNanos(700)), UnixNanos(1_000));
        let a = g.on_tick(UnixNanos(700));
        assert!(
            a.trip.iter().all(|t| *t),
            "a window for all venues holds both"
        );
    }
}
