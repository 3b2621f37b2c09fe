//! System Status: components in groups P0–P3, each computed from a real signal of the
//! engine; group scores; the SLO panel against `status_thresholds.yaml`; alerts with
//! `since`; "degraded for 5 minutes → alert" and "P0 alert → HOLD".
//!
//! Payload shapes follow the operator spec (SUPER_SPEC §10.1): `overall`, `scores`,
//! `slo`, `components[{id,title,group,status,summary,metrics}]`, `alerts[{severity,
//! title,msg,since,component_id}]`. Titles are English; the dashboard keys Russian
//! text off `id` (operators read Russian, with English as the fallback).

use super::{Engine, STATUS_EVERY_TICKS, TICK_NS, book_slot};
use crate::guards::{GuardId, GuardLevel, MaintenancePhase, Verdict};
use crate::model::{NOTIONAL_ONE, Venue};
use crate::output::{Alert, Mode, Severity};
use crate::strategy::Phase;
use crate::time::{NANOS_PER_MINUTE, NANOS_PER_SECOND, UnixNanos};
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

struct Builder {
    out: Vec<Component>,
}

impl Builder {
    fn add(
        &mut self,
        id: &'static str,
        title: &'static str,
        group: Group,
        status: GuardLevel,
        summary: String,
        metrics: &[(&'static str, f64)],
    ) {
        self.out.push(Component {
            id,
            title,
            group,
            status,
            summary,
            metrics: metrics.iter().copied().collect(),
            since: UnixNanos::ZERO,
        });
    }

    fn verdict(
        &mut self,
        id: &'static str,
        title: &'static str,
        group: Group,
        v: Verdict,
        metrics: &[(&'static str, f64)],
    ) {
        self.add(id, title, group, v.level, v.reason.to_owned(), metrics);
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
        let thresholds = &self.config.status;
        let scores = Group::ALL
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
            .collect::<Vec<_>>();
        let overall = if self.control.mode == Mode::Hold {
            GuardLevel::Hold
        } else {
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
        };
        let (slo, breaches) = self.slo(now);
        let blockers = self.resume_blockers(now);
        let readiness = self.readiness(now, &components, &blockers);
        StatusReport {
            ts: now,
            overall,
            profile: self.config.profile.name(),
            hold: HoldInfo {
                mode: self.control.mode,
                hold_active: self.control.mode == Mode::Hold,
                actor: self.control.hold_actor.clone(),
                reason: self.control.hold_reason.clone(),
                since: self.control.hold_since,
                safe_mode: self.control.safe_mode,
                dry_run: self.control.dry_run,
                two_man_rule: self.control.two_man_rule(),
            },
            scores,
            slo,
            slo_targets: thresholds.slo,
            slo_breaches: breaches,
            alerts: self.active_alerts(now, &components),
            components,
            resume_blockers: blockers,
            readiness,
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

    /// Builds every component from the engine's state.
    pub fn components(&self, now: UnixNanos) -> Vec<Component> {
        let mut b = Builder {
            out: Vec::with_capacity(32),
        };
        self.p0_components(now, &mut b);
        self.p1_components(now, &mut b);
        self.p2_p3_components(now, &mut b);
        b.out
    }

    fn traded_venues(&self) -> Vec<Venue> {
        self.config.strategy.venues.clone()
    }

    /// Naked (unhedged) exposure: the worst instrument's net position, its notional
    /// and age, and what its unwind is doing. ERROR once an unwind is overdue or the
    /// naked notional stayed above `risk.unhedged_alert_usd` past its grace time.
    fn unhedged_component(&self, now: UnixNanos, b: &mut Builder) {
        let naked = self.pairs.iter().filter(|p| !p.naked_since.is_zero());
        let worst = naked.max_by_key(|p| p.naked_notional.raw().unsigned_abs());
        let total: i64 = self
            .pairs
            .iter()
            .map(|p| p.naked_notional.raw().abs())
            .sum();
        let age_s =
            |p: &crate::strategy::PairState| now.nanos_since(p.naked_since) / NANOS_PER_SECOND;
        let Some(p) = worst else {
            return b.add(
                "unhedged_exposure",
                "Unhedged Exposure",
                Group::P0,
                GuardLevel::Ok,
                "hedged: no naked position".to_owned(),
                &[("naked_notional_usd", 0.0), ("naked_age_s", 0.0)],
            );
        };
        let doing = match p.unwind {
            Some(u) if u.escalated => {
                format!(
                    "unwind overdue: {}",
                    u.blocked.map_or("orders did not fill", |r| r.text())
                )
            }
            Some(u) => match u.blocked {
                Some(r) => format!("unwind blocked: {}; retrying", r.text()),
                None => format!("unwinding (attempt {})", u.attempts),
            },
            None if p.phase == Phase::Idle => "not being hedged (HOLD or a guard)".to_owned(),
            None => "hedging".to_owned(),
        };
        let summary = format!(
            "{}: {} unhedged (≈ {} USD) for {} s; {doing}",
            self.instrument_name(p.spec.instrument),
            p.naked_qty.display(p.spec.scales.qty),
            p.naked_notional.display(),
            age_s(p),
        );
        let level = if p.unwind.is_some_and(|u| u.escalated) || p.naked_alerted {
            GuardLevel::Error
        } else {
            GuardLevel::Warn
        };
        b.add(
            "unhedged_exposure",
            "Unhedged Exposure",
            Group::P0,
            level,
            summary,
            &[
                ("naked_notional_usd", total as f64 / NOTIONAL_ONE as f64),
                ("naked_age_s", age_s(p) as f64),
            ],
        );
    }

    fn p0_components(&self, now: UnixNanos, b: &mut Builder) {
        self.unhedged_component(now, b);
        let j = &self.journal;
        let lag = j.emitted - j.committed;
        let lag_ms = if j.uncommitted_since.is_zero() {
            0
        } else {
            now.millis_since(j.uncommitted_since)
        };
        let (level, summary) = if j.failed {
            (GuardLevel::Error, "journal write failed".to_owned())
        } else if lag_ms > 2_000 {
            (
                GuardLevel::Warn,
                format!("{lag} record(s) not durable for {lag_ms} ms"),
            )
        } else {
            (GuardLevel::Ok, format!("gap 0; {} records", j.committed))
        };
        b.add(
            "journal",
            "Journal/Outbox",
            Group::P0,
            level,
            summary,
            &[
                ("emitted", j.emitted as f64),
                ("committed", j.committed as f64),
                ("lag_records", lag as f64),
                ("commit_ms_p95", j.commit_ms.quantile(now, 950) as f64),
            ],
        );

        let venues = self.traded_venues();
        let recon_done = venues.iter().all(|v| self.recon[v.index()].done);
        let leader = self.fencing.is_leader(now);
        let (level, summary) = if self.recon.iter().any(|r| r.mismatches > 0) {
            (
                GuardLevel::Error,
                "reconciliation mismatch: stays in HOLD".to_owned(),
            )
        } else if !recon_done {
            (
                GuardLevel::Warn,
                "awaiting reconciliation with every venue".to_owned(),
            )
        } else if !leader {
            (GuardLevel::Warn, "reconciled; not the leader".to_owned())
        } else {
            (
                GuardLevel::Ok,
                "reconciled and leading; resume needs two operators".to_owned(),
            )
        };
        b.add(
            "guarded_startup",
            "Guarded Startup",
            Group::P0,
            level,
            summary,
            &[
                (
                    "reconciled_venues",
                    venues.iter().filter(|v| self.recon[v.index()].done).count() as f64,
                ),
                ("venues", venues.len() as f64),
                ("uptime_s", now.nanos_since(self.started_at) as f64 / 1e9),
            ],
        );

        let f = &self.fencing;
        let old_epoch_live = self
            .orders
            .iter()
            .filter(|o| o.is_live() && o.request.client_order_id.epoch < f.epoch())
            .count();
        let mut v = f.verdict();
        if old_epoch_live > 0 && v.level == GuardLevel::Ok {
            v = Verdict {
                level: GuardLevel::Warn,
                reason: "orders of an older epoch still live",
                since: v.since,
            };
        }
        let remaining_ms = f.lease_expiry().nanos_since(now) as f64 / 1e6;
        b.verdict(
            "leader_fencing",
            "Leader/Fencing",
            Group::P0,
            v,
            &[
                ("epoch", f64::from(f.epoch())),
                ("highest_epoch", f64::from(f.highest_epoch())),
                ("lease_remaining_ms", remaining_ms),
                ("fences", f.fences as f64),
                ("older_epoch_live_orders", old_epoch_live as f64),
            ],
        );

        let oc = &self.orders.counters;
        let malformed: u64 = venues
            .iter()
            .map(|v| self.metrics.malformed[v.index()].sums(now).0)
            .sum();
        let (level, summary) = if oc.overfills > 0 {
            (
                GuardLevel::Error,
                format!("{} overfill(s) reported by a venue", oc.overfills),
            )
        } else if malformed > 0 || self.metrics.bbo_mismatches > 0 {
            (
                GuardLevel::Warn,
                format!(
                    "{malformed} malformed message(s) in 5 min; {} bbo mismatch(es)",
                    self.metrics.bbo_mismatches
                ),
            )
        } else {
            (GuardLevel::Ok, "venues behave as specified".to_owned())
        };
        b.add(
            "conformance",
            "Conformance (per venue)",
            Group::P0,
            level,
            summary,
            &[
                ("malformed_5m", malformed as f64),
                ("unknown_order_reports", oc.unknown_order_reports as f64),
                ("redundant_reports", oc.redundant_reports as f64),
                ("overfills", oc.overfills as f64),
                ("bbo_checks", self.metrics.bbo_checks as f64),
                ("bbo_mismatches", self.metrics.bbo_mismatches as f64),
            ],
        );

        let mismatches: u32 = self.recon.iter().map(|r| r.mismatches).sum();
        let runs: u64 = self.recon.iter().map(|r| r.runs).sum();
        let (level, summary) = if mismatches > 0 {
            (GuardLevel::Error, format!("{mismatches} mismatch(es)"))
        } else if !recon_done {
            (GuardLevel::Warn, "not yet reconciled".to_owned())
        } else {
            (GuardLevel::Ok, "mismatch 0".to_owned())
        };
        let last = self
            .recon
            .iter()
            .map(|r| r.at)
            .max()
            .unwrap_or(UnixNanos::ZERO);
        b.add(
            "recon",
            "Reconciliation",
            Group::P0,
            level,
            summary,
            &[
                ("mismatch", f64::from(mismatches)),
                ("runs", runs as f64),
                (
                    "fills_recovered",
                    self.recon.iter().map(|r| r.fills_recovered).sum::<u64>() as f64,
                ),
                (
                    "last_age_s",
                    if last.is_zero() {
                        -1.0
                    } else {
                        now.nanos_since(last) as f64 / 1e9
                    },
                ),
            ],
        );

        let auth: u64 = venues
            .iter()
            .map(|v| self.metrics.auth_failures[v.index()].sums(now).0)
            .sum();
        let token = self.config.control.approval_token_digest.is_some();
        let (level, summary) = if auth > 0 {
            (
                GuardLevel::Error,
                format!("{auth} authentication failure(s) in 5 min"),
            )
        } else if !token {
            (
                GuardLevel::Warn,
                "no approval token configured: resume impossible".to_owned(),
            )
        } else {
            (GuardLevel::Ok, "credentials accepted; audit on".to_owned())
        };
        b.add(
            "keys_security",
            "Keys/Security",
            Group::P0,
            level,
            summary,
            &[
                ("auth_failures_5m", auth as f64),
                ("approval_token", if token { 1.0 } else { 0.0 }),
                ("operator_actions", j.operator_actions as f64),
            ],
        );

        let (level, summary) = if j.failed {
            (
                GuardLevel::Error,
                "audit trail broken: journal failed".to_owned(),
            )
        } else if lag_ms > 5_000 {
            (
                GuardLevel::Warn,
                "operator actions not yet durable".to_owned(),
            )
        } else {
            (
                GuardLevel::Ok,
                "append-only journal, every action recorded".to_owned(),
            )
        };
        b.add(
            "compliance_worm",
            "Compliance/WORM",
            Group::P0,
            level,
            summary,
            &[
                ("records", j.emitted as f64),
                ("operator_actions", j.operator_actions as f64),
                ("decision_digest_items", self.digest.count() as f64),
            ],
        );

        let mut cod = self.disconnect.worst();
        let lapses: u64 = self.deadman.iter().map(|d| d.lapses).sum();
        let unarmed = Venue::ALL
            .iter()
            .any(|v| self.orders.live_on(*v) > 0 && self.deadman[v.index()].armed_until <= now);
        if unarmed && cod.level < GuardLevel::Error {
            cod = Verdict {
                level: GuardLevel::Error,
                reason: "orders rest without an armed dead-man switch",
                since: now,
            };
        }
        b.verdict(
            "cancel_on_disconnect",
            "Cancel-on-Disconnect / Dead-man",
            Group::P0,
            cod,
            &[
                (
                    "disconnects",
                    Venue::ALL
                        .iter()
                        .map(|v| self.disconnect.link(*v).disconnects)
                        .sum::<u64>() as f64,
                ),
                (
                    "deadman_arms",
                    self.deadman.iter().map(|d| d.arms).sum::<u64>() as f64,
                ),
                ("deadman_lapses", lapses as f64),
            ],
        );

        let mut rl: Vec<(&'static str, f64)> = Vec::new();
        let mut refused = 0u64;
        let mut limited = 0u64;
        let mut bans = 0u64;
        let mut place_max = 0u32;
        let mut cancel_max = 0u32;
        for v in &venues {
            let (p, c, _w) = self.rate.counts(now, *v);
            place_max = place_max.max(p);
            cancel_max = cancel_max.max(c);
            let budget = self.rate.budget(*v);
            refused += budget.refused;
            limited += budget.rate_limited;
            bans += budget.bans;
        }
        let (pl, cl, _) = self.rate.limits(venues[0]);
        rl.extend([
            ("place_per_min", f64::from(place_max)),
            ("cancel_per_min", f64::from(cancel_max)),
            ("place_limit", f64::from(pl)),
            ("cancel_limit", f64::from(cl)),
            ("refused", refused as f64),
            ("http_429", limited as f64),
            ("http_418", bans as f64),
        ]);
        b.verdict(
            "rate_limit",
            "Rate-limit Governor",
            Group::P0,
            self.rate.worst(),
            &rl,
        );

        let offsets: Vec<(&'static str, f64)> = vec![
            (
                "binance_offset_ms",
                self.clock.state(Venue::Binance).offset_ns as f64 / 1e6,
            ),
            (
                "okx_offset_ms",
                self.clock.state(Venue::Okx).offset_ns as f64 / 1e6,
            ),
            ("limit_ms", self.clock.limit_ns() as f64 / 1e6),
        ];
        b.verdict(
            "clock_skew",
            "Clock-skew Guard",
            Group::P0,
            self.clock.worst(),
            &offsets,
        );

        let mut cont = Verdict::ok(now);
        let mut gaps = 0u64;
        let mut resyncs = 0u64;
        for pair in &self.pairs {
            for venue in pair.spec.venues {
                let r = self.continuity.route(venue, pair.spec.instrument);
                resyncs += r.resyncs;
                gaps += self.books[book_slot(venue, pair.spec.instrument)]
                    .counters
                    .gaps;
                if r.verdict.level > cont.level {
                    cont = r.verdict;
                }
            }
        }
        b.verdict(
            "snapshot_diff",
            "Snapshot+Diff Continuity",
            Group::P0,
            cont,
            &[("gaps", gaps as f64), ("resyncs", resyncs as f64)],
        );

        let caps = self.caps.caps();
        let last = self.caps.last;
        b.verdict(
            "kill_caps",
            "Hard Risk Kill-caps",
            Group::P0,
            self.caps.verdict(),
            &[
                ("total_exposure_usd", last.total_exposure.to_f64()),
                ("total_cap_usd", caps.total_notional.to_f64()),
                (
                    "max_symbol_exposure_usd",
                    last.max_symbol_exposure.0.to_f64(),
                ),
                ("per_symbol_cap_usd", caps.per_symbol_notional.to_f64()),
                ("daily_pnl_usd", last.daily_pnl.to_f64()),
                ("daily_loss_cap_usd", caps.daily_loss.to_f64()),
                ("unrealized_pnl_usd", last.unrealized_pnl.to_f64()),
                ("trips", self.caps.trips as f64),
            ],
        );

        let (rp, rc) = self.runaway.limits();
        let mut worst_p = 0;
        let mut worst_c = 0;
        for pair in &self.pairs {
            for venue in pair.spec.venues {
                let (p, c) = self.runaway.counts(now, venue, pair.spec.instrument);
                worst_p = worst_p.max(p);
                worst_c = worst_c.max(c);
            }
        }
        b.verdict(
            "runaway_breaker",
            "Runaway-loop Breaker",
            Group::P0,
            self.runaway.worst(),
            &[
                ("place_per_min", f64::from(worst_p)),
                ("cancel_per_min", f64::from(worst_c)),
                ("place_limit", f64::from(rp)),
                ("cancel_limit", f64::from(rc)),
                ("trips", self.runaway.trips as f64),
            ],
        );

        let next = self.maintenance.next_deadline(now);
        b.verdict(
            "maintenance",
            "Maintenance Calendar",
            Group::P0,
            self.maintenance.worst(),
            &[
                ("windows", self.maintenance.windows().len() as f64),
                (
                    "next_boundary_s",
                    if next == UnixNanos::NEVER {
                        -1.0
                    } else {
                        next.nanos_since(now) as f64 / 1e9
                    },
                ),
                ("trips", self.maintenance.trips as f64),
            ],
        );
    }

    fn p1_components(&self, now: UnixNanos, b: &mut Builder) {
        let blockers = self.resume_blockers(now);
        let (level, summary) = if !blockers.is_empty() {
            (GuardLevel::Error, format!("RED: {}", blockers[0]))
        } else if self.control.mode == Mode::Hold {
            (
                GuardLevel::Warn,
                "YELLOW: ready, waiting for a two-man resume".to_owned(),
            )
        } else {
            (GuardLevel::Ok, "GREEN".to_owned())
        };
        b.add(
            "live_readiness",
            "Live Readiness",
            Group::P1,
            level,
            summary,
            &[("blockers", blockers.len() as f64)],
        );

        let m = &self.metrics;
        let (level, summary) = if m.config_refusals > 0 && m.config_applies == 0 {
            (
                GuardLevel::Warn,
                format!("{} apply refusal(s), none applied", m.config_refusals),
            )
        } else {
            (GuardLevel::Ok, format!("version {}", self.config_version))
        };
        b.add(
            "config_pipeline",
            "Config validate/apply/rollback",
            Group::P1,
            level,
            summary,
            &[
                ("version", self.config_version as f64),
                ("applies", m.config_applies as f64),
                ("refusals", m.config_refusals as f64),
            ],
        );

        let target = self.config.status.slo.ws_gap_ms_p95;
        let venues = self.traded_venues();
        let gap = venues
            .iter()
            .map(|v| m.ws_gap_ms[v.index()].quantile(now, 950))
            .max()
            .unwrap_or(0);
        let silent_ms = venues
            .iter()
            .map(|v| {
                if m.last_market_at[v.index()].is_zero() {
                    u64::MAX
                } else {
                    now.millis_since(m.last_market_at[v.index()])
                }
            })
            .max()
            .unwrap_or(u64::MAX);
        let (level, summary) = if silent_ms == u64::MAX {
            (GuardLevel::Warn, "no market data yet".to_owned())
        } else if gap > target * self.config.status.ws_gap_hold_multiplier
            || silent_ms > self.config.guards.market_data_stale_ns / 1_000_000
        {
            (
                GuardLevel::Error,
                format!("gaps p95 {gap} ms; silent {silent_ms} ms"),
            )
        } else if gap > target {
            (
                GuardLevel::Warn,
                format!("gaps p95 {gap} ms above {target} ms"),
            )
        } else {
            (GuardLevel::Ok, format!("gaps p95 {gap} ms"))
        };
        b.add(
            "stream",
            "Market Stream",
            Group::P1,
            level,
            summary,
            &[
                ("ws_gap_ms_p95", gap as f64),
                (
                    "silent_ms",
                    if silent_ms == u64::MAX {
                        -1.0
                    } else {
                        silent_ms as f64
                    },
                ),
                ("market_events", m.market_events as f64),
            ],
        );

        let slip95 = m.slippage_centibps.quantile(now, 950);
        let fills_5m = m.slippage_centibps.count(now);
        let limit = self.config.strategy.max_slippage.raw().max(0) as u64 * 2;
        let (level, summary) = if fills_5m == 0 {
            (GuardLevel::Ok, "no fills in the window".to_owned())
        } else if slip95 > limit {
            (
                GuardLevel::Warn,
                format!(
                    "slippage p95 {:.2} bps above {:.2}",
                    slip95 as f64 / 100.0,
                    limit as f64 / 100.0
                ),
            )
        } else {
            (
                GuardLevel::Ok,
                format!("slippage p95 {:.2} bps", slip95 as f64 / 100.0),
            )
        };
        b.add(
            "tca_gate",
            "TCA Gate",
            Group::P1,
            level,
            summary,
            &[
                ("slippage_bps_p95", slip95 as f64 / 100.0),
                ("fills_5m", fills_5m as f64),
                ("fills", m.fills as f64),
            ],
        );

        let vol = self
            .pairs
            .iter()
            .map(|p| m.volatility_centibps[p.spec.instrument.index()])
            .max()
            .unwrap_or(0);
        let entry = self.config.strategy.entry_edge.raw().max(1);
        let (level, summary) = if vol > entry * 4 {
            (
                GuardLevel::Warn,
                format!(
                    "volatile: mid moves {:.2} bps per update",
                    vol as f64 / 100.0
                ),
            )
        } else {
            (
                GuardLevel::Ok,
                format!("calm: mid moves {:.2} bps per update", vol as f64 / 100.0),
            )
        };
        b.add(
            "regime",
            "Regime Engine",
            Group::P1,
            level,
            summary,
            &[("mid_move_bps_ewma", vol as f64 / 100.0)],
        );

        let style = self.config.strategy.execution;
        let pre_open = venues
            .iter()
            .any(|v| self.maintenance.phase(*v) == MaintenancePhase::PreOpen);
        let (level, summary) = match (style, pre_open) {
            (crate::config::ExecutionStyle::Taker, true) => (
                GuardLevel::Warn,
                "taker policy while a venue allows only post-only".to_owned(),
            ),
            (crate::config::ExecutionStyle::Taker, false) => {
                (GuardLevel::Ok, "taker IOC on both legs".to_owned())
            }
            (crate::config::ExecutionStyle::MakerFirst, _) => {
                (GuardLevel::Ok, "maker first, taker hedge".to_owned())
            }
        };
        b.add(
            "policy_matrix",
            "Policy Matrix",
            Group::P1,
            level,
            summary,
            &[(
                "maker_first",
                if style == crate::config::ExecutionStyle::MakerFirst {
                    1.0
                } else {
                    0.0
                },
            )],
        );

        let caps = self.caps.caps();
        let last = self.caps.last;
        let used = if caps.total_notional.raw() > 0 {
            last.total_exposure.raw() as f64 / caps.total_notional.raw() as f64
        } else {
            0.0
        };
        let (level, summary) = if used > 0.8 {
            (
                GuardLevel::Warn,
                format!(
                    "{:.0} % of the total cap used; sizing reduced",
                    used * 100.0
                ),
            )
        } else {
            (
                GuardLevel::Ok,
                format!("{:.0} % of the total cap used", used * 100.0),
            )
        };
        b.add(
            "sizing_derisk",
            "Sizing/De-risk",
            Group::P1,
            level,
            summary,
            &[
                ("cap_used", used),
                (
                    "order_notional_usd",
                    self.config.strategy.order_notional.to_f64(),
                ),
            ],
        );

        let effective_bps = if m.traded_notional > 0 {
            m.fees_paid as f64 * 10_000.0 / m.traded_notional as f64
        } else {
            0.0
        };
        let taker = self
            .config
            .venues
            .iter()
            .map(|v| v.taker_fee.to_bps_f64())
            .fold(0.0, f64::max);
        let maker_share = if m.fills > 0 {
            m.maker_fills as f64 / m.fills as f64
        } else {
            0.0
        };
        let (level, summary) = if effective_bps > taker + 1.0 {
            (
                GuardLevel::Warn,
                format!(
                    "paying {effective_bps:.2} bps, above the configured {taker:.2}: fee config is wrong"
                ),
            )
        } else {
            (
                GuardLevel::Ok,
                format!(
                    "effective fee {effective_bps:.2} bps, maker share {:.0} %",
                    maker_share * 100.0
                ),
            )
        };
        b.add(
            "fee_planner",
            "Fee Planner",
            Group::P1,
            level,
            summary,
            &[
                ("effective_fee_bps", effective_bps),
                ("maker_share", maker_share),
                (
                    "fees_usd",
                    self.metrics.fees_paid as f64 / NOTIONAL_ONE as f64,
                ),
            ],
        );

        let lat = venues
            .iter()
            .map(|v| m.book_latency_ms[v.index()].quantile(now, 950))
            .max()
            .unwrap_or(0);
        let (level, summary) = if lat > target {
            (GuardLevel::Warn, format!("book latency p95 {lat} ms"))
        } else {
            (GuardLevel::Ok, format!("book latency p95 {lat} ms"))
        };
        b.add(
            "book_latency",
            "Book Latency",
            Group::P1,
            level,
            summary,
            &[
                (
                    "binance_ms_p95",
                    m.book_latency_ms[0].quantile(now, 950) as f64,
                ),
                ("okx_ms_p95", m.book_latency_ms[1].quantile(now, 950) as f64),
            ],
        );

        let mut valid = 0;
        let mut total = 0;
        for pair in &self.pairs {
            for venue in pair.spec.venues {
                total += 1;
                if self.books[book_slot(venue, pair.spec.instrument)].is_valid() {
                    valid += 1;
                }
            }
        }
        let skew_ms = {
            let t: Vec<UnixNanos> = venues.iter().map(|v| m.last_market_at[v.index()]).collect();
            let lo = t.iter().min().copied().unwrap_or_default();
            let hi = t.iter().max().copied().unwrap_or_default();
            hi.millis_since(lo)
        };
        let (level, summary) = if valid == total && total > 0 {
            (GuardLevel::Ok, format!("{valid}/{total} books valid"))
        } else if valid == 0 {
            (GuardLevel::Error, format!("{valid}/{total} books valid"))
        } else {
            (GuardLevel::Warn, format!("{valid}/{total} books valid"))
        };
        b.add(
            "multi_venue_md",
            "Multi-venue Market Data",
            Group::P1,
            level,
            summary,
            &[
                ("valid_books", f64::from(valid)),
                ("books", f64::from(total)),
                ("cross_venue_skew_ms", skew_ms as f64),
            ],
        );

        let unhedged: f64 = self.pairs.iter().map(|p| p.unhedged_usd_seconds()).sum();
        let repairing = self
            .pairs
            .iter()
            .filter(|p| matches!(p.phase, Phase::Hedging | Phase::Unwinding))
            .count();
        let mut v = self.other.hedge;
        if v.level == GuardLevel::Ok && repairing > 0 {
            v = Verdict {
                level: GuardLevel::Warn,
                reason: "hedging a partial fill",
                since: now,
            };
        }
        b.verdict(
            "hedge",
            "Hedging / Unhedged Exposure",
            Group::P1,
            v,
            &[
                ("unhedged_usd_s", unhedged),
                (
                    "hedges",
                    self.pairs.iter().map(|p| p.hedges).sum::<u64>() as f64,
                ),
                (
                    "unwinds",
                    self.pairs.iter().map(|p| p.unwinds).sum::<u64>() as f64,
                ),
            ],
        );
    }

    fn p2_p3_components(&self, now: UnixNanos, b: &mut Builder) {
        let dropped: u64 = self.books.iter().map(|b| b.counters.levels_dropped).sum();
        let updates: u64 = self
            .books
            .iter()
            .map(|b| b.counters.deltas + b.counters.snapshots)
            .sum();
        let crossed: u64 = self.books.iter().map(|b| b.counters.crossed).sum();
        let (level, summary) = if crossed > 0 {
            (GuardLevel::Warn, format!("{crossed} crossed book(s) seen"))
        } else {
            (
                GuardLevel::Ok,
                format!(
                    "{} ticks per side; {dropped} level(s) outside the window",
                    self.config.limits.book_ticks_per_side
                ),
            )
        };
        b.add(
            "zero_copy_l2",
            "Zero-copy L2",
            Group::P2,
            level,
            summary,
            &[
                ("book_updates", updates as f64),
                ("levels_dropped", dropped as f64),
                (
                    "levels_per_update_p99",
                    self.metrics.levels_per_update.quantile(990) as f64,
                ),
            ],
        );

        let (depth, cap) = self.metrics.input_backlog;
        let fill = if cap > 0 {
            f64::from(depth) / f64::from(cap)
        } else {
            0.0
        };
        let (level, summary) = if fill > 0.9 {
            (
                GuardLevel::Error,
                format!("input queue {:.0} % full", fill * 100.0),
            )
        } else if fill > 0.5 {
            (
                GuardLevel::Warn,
                format!("input queue {:.0} % full", fill * 100.0),
            )
        } else {
            (GuardLevel::Ok, format!("input queue {depth}/{cap}"))
        };
        b.add(
            "lock_free_queues",
            "Bounded Queues",
            Group::P2,
            level,
            summary,
            &[
                ("input_depth", f64::from(depth)),
                ("input_capacity", f64::from(cap)),
                ("outputs_pending", self.outputs.len() as f64),
            ],
        );

        let lookups: u32 = self.orders.iter().map(|o| o.lookups).sum();
        let unknown = self
            .orders
            .iter()
            .filter(|o| o.state == crate::model::OrderState::Unknown)
            .count();
        let (level, summary) = if unknown > 0 {
            (
                GuardLevel::Warn,
                format!("{unknown} order(s) of unknown outcome being looked up"),
            )
        } else {
            (
                GuardLevel::Ok,
                format!("{} live order(s)", self.orders.live()),
            )
        };
        b.add(
            "order_lifecycle",
            "Order Lifecycle",
            Group::P2,
            level,
            summary,
            &[
                ("live_orders", self.orders.live() as f64),
                ("unknown_orders", unknown as f64),
                ("lookups", f64::from(lookups)),
                ("sent", self.orders.counters.sent as f64),
            ],
        );

        let recent = self
            .metrics
            .last_market_at
            .iter()
            .copied()
            .max()
            .unwrap_or_default();
        let idle = recent.is_zero() || now.nanos_since(recent) > NANOS_PER_MINUTE;
        let (level, summary) = if idle {
            (
                GuardLevel::Warn,
                "no events in the last minute: nothing to replay".to_owned(),
            )
        } else {
            (
                GuardLevel::Ok,
                format!("digest {}…", &self.digest.hex()[..12]),
            )
        };
        b.add(
            "reports_replay",
            "Reports/Replay",
            Group::P3,
            level,
            summary,
            &[
                ("inputs", self.metrics.inputs as f64),
                ("outputs", self.digest.count() as f64),
                (
                    "uptime_s",
                    now.nanos_since(self.started_at) as f64 / NANOS_PER_SECOND as f64,
                ),
            ],
        );
    }
}
