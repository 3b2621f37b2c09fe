//! System Status: components in groups P0–P3, each computed from a real signal of the
//! engine; group scores; the SLO panel against `status_thresholds.yaml`; alerts with
//! `since`; "degraded for 5 minutes → alert" and "P0 alert → HOLD".
//!
//! Payload shapes follow the operator spec (SUPER_SPEC §10.1): `overall`, `scores`,
//! `slo`, `components[{id,title,group,status,summary,metrics}]`, `alerts[{severity,
//! title,msg,since,component_id}]`. Titles are English; the dashboard keys Russian
//! text off `id` (operators read Russian, with English as the fallback).
//!
//! Layout: this module holds the report, the tracker and the SLO panel;
//! `components` holds the table of components (id, title, group, reader), and `p0`,
//! `p1` and `p2_p3` one small reader function per component.

mod components;
mod p0;
mod p1;
mod p2_p3;

use super::{Engine, STATUS_EVERY_TICKS, TICK_NS};
use crate::guards::{GuardId, GuardLevel};
use crate::model::Venue;
use crate::output::{Alert, Mode, Severity};
use crate::time::{NANOS_PER_MINUTE, UnixNanos};
use components::{COMPONENTS, Reading};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Component group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Group {
    /// Safety-critical.
    P0,
    /// Trading quality.
    P1,
    /// Performance.
    P2,
    /// Research and reporting.
    P3,
}

impl Group {
    /// All groups.
    pub const ALL: [Group; 4] = [Group::P0, Group::P1, Group::P2, Group::P3];
}

/// One status component.
#[derive(Clone, Debug, Serialize)]
pub struct Component {
    /// Stable id.
    pub id: &'static str,
    /// English title.
    pub title: &'static str,
    /// Group.
    pub group: Group,
    /// OK / WARN / ERROR / HOLD.
    pub status: GuardLevel,
    /// One line on what it sees.
    pub summary: String,
    /// Figures behind the status.
    pub metrics: BTreeMap<&'static str, f64>,
    /// Since when the status has been what it is (as tracked by the engine).
    pub since: UnixNanos,
}

/// An active alert.
#[derive(Clone, Debug, Serialize)]
pub struct ActiveAlert {
    /// info / warn / error / critical.
    pub severity: Severity,
    /// Stable code.
    pub code: String,
    /// Short title.
    pub title: String,
    /// English message.
    pub msg: String,
    /// When it began.
    pub since: UnixNanos,
    /// Component id.
    pub component_id: String,
}

/// The SLO panel figures.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct SloValues {
    /// p95 of market-data gaps over the window, worst traded venue, ms.
    pub ws_gap_ms_p95: u64,
    /// p95 of order send → first answer, ms.
    pub order_cycle_ms_p95: u64,
    /// Rejected / sent (0..1).
    pub reject_rate: f64,
    /// Failed / sent cancels (0..1).
    pub cancel_fail_rate: f64,
    /// Differences found by the last reconciliations.
    pub recon_mismatch: u64,
    /// Today's largest drawdown in bps of capital.
    pub max_day_drawdown_bps: f64,
    /// Share of today's exception budget left (0..1).
    pub budget_remaining: f64,
}

/// Score of one group.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct GroupScore {
    /// Group.
    pub group: Group,
    /// 0..1: OK = 1, WARN = 0.5, ERROR/HOLD = 0, averaged.
    pub score: f64,
    /// The score read against the group thresholds.
    pub status: GuardLevel,
}

/// HOLD and flags.
#[derive(Clone, Debug, Serialize)]
pub struct HoldInfo {
    /// RUN or HOLD.
    pub mode: Mode,
    /// In HOLD.
    pub hold_active: bool,
    /// Who held.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// Since.
    pub since: UnixNanos,
    /// Safe mode.
    pub safe_mode: bool,
    /// Dry run.
    pub dry_run: bool,
    /// Two-man rule on.
    pub two_man_rule: bool,
}

/// The live-readiness gate.
#[derive(Clone, Debug, Serialize)]
pub struct Readiness {
    /// GREEN, YELLOW or RED.
    pub status: &'static str,
    /// Why not GREEN.
    pub reasons: Vec<String>,
}

/// Everything System Status shows.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// Engine time.
    pub ts: UnixNanos,
    /// OK / WARN / ERROR / HOLD.
    pub overall: GuardLevel,
    /// Deployment profile.
    pub profile: &'static str,
    /// HOLD and flags.
    pub hold: HoldInfo,
    /// Group scores, P0..P3.
    pub scores: Vec<GroupScore>,
    /// SLO figures.
    pub slo: SloValues,
    /// SLO targets in force.
    pub slo_targets: crate::config::SloTargets,
    /// SLO figures currently beyond target.
    pub slo_breaches: Vec<&'static str>,
    /// Components.
    pub components: Vec<Component>,
    /// Active alerts, newest first.
    pub alerts: Vec<ActiveAlert>,
    /// What blocks a resume right now.
    pub resume_blockers: Vec<String>,
    /// Live readiness.
    pub readiness: Readiness,
}

/// Event alerts stay listed this long.
const EVENT_ALERT_TTL_NS: u64 = 15 * NANOS_PER_MINUTE;

/// What the engine remembers between status ticks.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    since: BTreeMap<&'static str, (GuardLevel, UnixNanos, bool)>,
    events: VecDeque<Alert>,
    restored: BTreeMap<(GuardId, Option<Venue>), (String, UnixNanos)>,
    slo_since: BTreeMap<&'static str, (UnixNanos, bool)>,
    degraded_ns_today: u64,
    day: i64,
}

impl Tracker {
    pub(crate) fn push_event_alert(&mut self, alert: Alert, max: usize) {
        while self.events.len() >= max {
            // Drop the oldest, preferring info alerts.
            match self
                .events
                .iter()
                .position(|a| a.severity == Severity::Info)
            {
                Some(i) => {
                    self.events.remove(i);
                }
                None => {
                    self.events.pop_front();
                }
            }
        }
        self.events.push_back(alert);
    }

    pub(crate) fn restored(
        &mut self,
        guard: GuardId,
        venue: Option<Venue>,
        reason: String,
        now: UnixNanos,
    ) {
        self.restored.insert((guard, venue), (reason, now));
    }

    pub(crate) fn clear_restored(&mut self, guard: GuardId, venue: Option<Venue>) {
        self.restored.remove(&(guard, venue));
    }
}

fn score_of(level: GuardLevel) -> f64 {
    match level {
        GuardLevel::Ok => 1.0,
        GuardLevel::Warn => 0.5,
        GuardLevel::Error | GuardLevel::Hold => 0.0,
    }
}

impl Engine {
    /// System Status at `now`.
    pub fn status(&self, now: UnixNanos) -> StatusReport {
        let mut components = self.components(now);
        for c in &mut components {
            c.since = match self.tracker.since.get(c.id) {
                Some((level, since, _)) if *level == c.status => *since,
                _ => now,
            };
        }
        let scores = self.group_scores(&components);
        let overall = self.overall(&components);
        let (slo, breaches) = self.slo(now);
        let blockers = self.resume_blockers(now);
        let readiness = self.readiness(now, &components, &blockers);
        StatusReport {
            ts: now,
            overall,
            profile: self.config.profile.name(),
            hold: self.hold_info(),
            scores,
            slo,
            slo_targets: self.config.status.slo,
            slo_breaches: breaches,
            alerts: self.active_alerts(now, &components),
            components,
            resume_blockers: blockers,
            readiness,
        }
    }

    /// Builds every component from the engine's state, in the order of `COMPONENTS`.
    pub fn components(&self, now: UnixNanos) -> Vec<Component> {
        COMPONENTS
            .iter()
            .map(|&(id, title, group, read)| {
                let Reading {
                    status,
                    summary,
                    metrics,
                } = read(self, now);
                Component {
                    id,
                    title,
                    group,
                    status,
                    summary,
                    metrics,
                    since: UnixNanos::ZERO,
                }
            })
            .collect()
    }

    /// Each group's average score, read against the group thresholds.
    fn group_scores(&self, components: &[Component]) -> Vec<GroupScore> {
        let thresholds = &self.config.status;
        Group::ALL
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let members: Vec<f64> = components
                    .iter()
                    .filter(|c| c.group == *g)
                    .map(|c| score_of(c.status))
                    .collect();
                let score = if members.is_empty() {
                    1.0
                } else {
                    members.iter().sum::<f64>() / members.len() as f64
                };
                let permille = (score * 1000.0).round() as u32;
                let t = thresholds.groups[i];
                let status = if permille >= t.ok_permille {
                    GuardLevel::Ok
                } else if permille >= t.warn_permille {
                    GuardLevel::Warn
                } else {
                    GuardLevel::Error
                };
                GroupScore {
                    group: *g,
                    score,
                    status,
                }
            })
            .collect()
    }

    /// HOLD while held; otherwise ERROR on any P0 error, WARN on anything not OK.
    fn overall(&self, components: &[Component]) -> GuardLevel {
        if self.control.mode == Mode::Hold {
            return GuardLevel::Hold;
        }
        let p0_error = components
            .iter()
            .any(|c| c.group == Group::P0 && c.status >= GuardLevel::Error);
        let any_bad = components.iter().any(|c| c.status != GuardLevel::Ok);
        if p0_error {
            GuardLevel::Error
        } else if any_bad {
            GuardLevel::Warn
        } else {
            GuardLevel::Ok
        }
    }

    fn hold_info(&self) -> HoldInfo {
        HoldInfo {
            mode: self.control.mode,
            hold_active: self.control.mode == Mode::Hold,
            actor: self.control.hold_actor.clone(),
            reason: self.control.hold_reason.clone(),
            since: self.control.hold_since,
            safe_mode: self.control.safe_mode,
            dry_run: self.control.dry_run,
            two_man_rule: self.control.two_man_rule(),
        }
    }

    fn readiness(
        &self,
        now: UnixNanos,
        components: &[Component],
        blockers: &[String],
    ) -> Readiness {
        let mut reasons: Vec<String> = blockers.to_vec();
        let warn: Vec<String> = components
            .iter()
            .filter(|c| {
                c.group <= Group::P1 && c.status == GuardLevel::Warn && c.id != "live_readiness"
            })
            .map(|c| format!("{}: {}", c.id, c.summary))
            .collect();
        let status = if !reasons.is_empty()
            || components
                .iter()
                .any(|c| c.group == Group::P0 && c.status >= GuardLevel::Error)
        {
            "RED"
        } else if !warn.is_empty() {
            "YELLOW"
        } else {
            "GREEN"
        };
        let _ = now;
        reasons.extend(warn);
        Readiness { status, reasons }
    }

    /// SLO values and which are beyond target.
    pub fn slo(&self, now: UnixNanos) -> (SloValues, Vec<&'static str>) {
        let m = &self.metrics;
        let t = self.config.status.slo;
        let ws_gap = self
            .config
            .strategy
            .venues
            .iter()
            .map(|v| m.ws_gap_ms[v.index()].quantile(now, 950))
            .max()
            .unwrap_or(0);
        let cycle = m.order_cycle_ms.quantile(now, 950);
        let reject_ppm = m.rejects.ppm(now);
        let cancel_ppm = m.cancel_failures.ppm(now);
        let recon: u64 = self.recon.iter().map(|r| u64::from(r.mismatches)).sum();
        let capital = self.config.risk.capital.raw().max(1);
        let dd_bps = self.ledger.daily.max_drawdown.raw() as f64 * 10_000.0 / capital as f64;
        let budget = self.config.status.exception_budget_ns_per_day.max(1);
        let remaining = 1.0 - (self.tracker.degraded_ns_today as f64 / budget as f64).min(1.0);
        let values = SloValues {
            ws_gap_ms_p95: ws_gap,
            order_cycle_ms_p95: cycle,
            reject_rate: reject_ppm as f64 / 1e6,
            cancel_fail_rate: cancel_ppm as f64 / 1e6,
            recon_mismatch: recon,
            max_day_drawdown_bps: dd_bps,
            budget_remaining: remaining,
        };
        let mut breaches = Vec::new();
        if ws_gap > t.ws_gap_ms_p95 {
            breaches.push("ws_gap_ms_p95");
        }
        if cycle > t.order_cycle_ms_p95 {
            breaches.push("order_cycle_ms_p95");
        }
        if reject_ppm > t.reject_rate_ppm {
            breaches.push("reject_rate");
        }
        if cancel_ppm > t.cancel_fail_rate_ppm {
            breaches.push("cancel_fail_rate");
        }
        if recon > t.recon_mismatch {
            breaches.push("recon_mismatch");
        }
        if dd_bps > t.max_day_drawdown_bps as f64 {
            breaches.push("max_day_drawdown_bps");
        }
        (values, breaches)
    }

    fn active_alerts(&self, now: UnixNanos, components: &[Component]) -> Vec<ActiveAlert> {
        let mut out: Vec<ActiveAlert> = Vec::new();
        for c in components {
            if let Some((level, since, true)) = self.tracker.since.get(c.id)
                && *level == c.status
                && c.status != GuardLevel::Ok
            {
                out.push(ActiveAlert {
                    severity: if c.status >= GuardLevel::Error {
                        Severity::Error
                    } else {
                        Severity::Warn
                    },
                    code: format!("{}_degraded", c.id),
                    title: format!("{} degraded", c.title),
                    msg: c.summary.clone(),
                    since: *since,
                    component_id: c.id.to_owned(),
                });
            }
        }
        for ((guard, venue), (reason, since)) in &self.tracker.restored {
            out.push(ActiveAlert {
                severity: Severity::Error,
                code: format!("{}_restored", guard.name()),
                title: "tripped before restart".into(),
                msg: format!(
                    "{}{}: {reason}",
                    guard.name(),
                    venue.map(|v| format!(" on {v}")).unwrap_or_default()
                ),
                since: *since,
                component_id: guard.name().to_owned(),
            });
        }
        for a in self.tracker.events.iter().rev() {
            if now.nanos_since(a.since) < EVENT_ALERT_TTL_NS {
                out.push(ActiveAlert {
                    severity: a.severity,
                    code: a.code.clone(),
                    title: a.code.replace('_', " "),
                    msg: a.message.clone(),
                    since: a.since,
                    component_id: a.component.clone(),
                });
            }
        }
        out.sort_by(|a, b| b.since.cmp(&a.since).then(b.severity.cmp(&a.severity)));
        out
    }

    /// Once a second: track how long components and SLOs have been degraded, raise
    /// alerts after `degraded_for_minutes`, HOLD on P0 alerts, spend the budget.
    pub(super) fn status_tick(&mut self, now: UnixNanos) {
        let components = self.components(now);
        let th = self.config.status.clone();
        let mut raise: Vec<(Component, UnixNanos)> = Vec::new();
        let mut seen: Vec<&'static str> = Vec::with_capacity(components.len());
        for c in &components {
            seen.push(c.id);
            if c.status == GuardLevel::Ok {
                self.tracker.since.remove(c.id);
                continue;
            }
            let entry = self
                .tracker
                .since
                .entry(c.id)
                .or_insert((c.status, now, false));
            if entry.0 != c.status {
                *entry = (c.status, now, false);
            }
            if !entry.2 && now.nanos_since(entry.1) >= th.degraded_alert_ns {
                entry.2 = true;
                raise.push((c.clone(), entry.1));
            }
        }
        self.tracker.since.retain(|id, _| seen.contains(id));
        for (c, since) in raise {
            let severity = match (c.group, c.status) {
                (Group::P0, _) => Severity::Critical,
                (_, GuardLevel::Error | GuardLevel::Hold) => Severity::Error,
                _ => Severity::Warn,
            };
            let minutes = now.nanos_since(since) / NANOS_PER_MINUTE;
            self.alert(
                severity,
                &format!("{}_degraded", c.id),
                c.id,
                format!(
                    "{} {} for {minutes} min: {}",
                    c.title,
                    c.status.name(),
                    c.summary
                ),
            );
            if c.group == Group::P0 && th.p0_alert_holds && self.control.mode == Mode::Run {
                self.enter_hold(
                    "status",
                    &format!("P0 alert: {} {} for {minutes} min", c.id, c.status.name()),
                );
            }
        }
        self.slo_tick(now, &th);
    }

    fn slo_tick(&mut self, now: UnixNanos, th: &crate::config::StatusThresholds) {
        let day = now.day_index(self.config.day_start_minutes);
        if day != self.tracker.day {
            self.tracker.day = day;
            self.tracker.degraded_ns_today = 0;
        }
        let (values, breaches) = self.slo(now);
        if !breaches.is_empty() {
            self.tracker.degraded_ns_today += TICK_NS * STATUS_EVERY_TICKS;
        }
        self.tracker.slo_since.retain(|k, _| breaches.contains(k));
        let mut alerts = Vec::new();
        for b in &breaches {
            let entry = self.tracker.slo_since.entry(b).or_insert((now, false));
            if !entry.1 && now.nanos_since(entry.0) >= th.degraded_alert_ns {
                entry.1 = true;
                alerts.push(*b);
            }
        }
        for b in alerts {
            self.alert(
                Severity::Warn,
                &format!("slo_{b}"),
                "slo",
                format!(
                    "SLO {b} beyond target for {} min",
                    th.degraded_alert_ns / NANOS_PER_MINUTE
                ),
            );
        }
        let hard_gap = th
            .slo
            .ws_gap_ms_p95
            .saturating_mul(th.ws_gap_hold_multiplier);
        if values.ws_gap_ms_p95 > hard_gap && self.control.mode == Mode::Run {
            let since = self
                .tracker
                .slo_since
                .get("ws_gap_ms_p95")
                .map_or(now, |s| s.0);
            if now.nanos_since(since) >= th.degraded_alert_ns
                && self.other.slo.level != GuardLevel::Hold
            {
                self.other
                    .slo
                    .set(now, GuardLevel::Hold, "market data gaps beyond 3× target");
                self.trip(
                    GuardId::Slo,
                    None,
                    "ws_gap_ms_p95 above 3× target for 5 min",
                    None,
                );
            }
        }
    }

    /// The venues the strategy trades.
    fn traded_venues(&self) -> Vec<Venue> {
        self.config.strategy.venues.clone()
    }
}
