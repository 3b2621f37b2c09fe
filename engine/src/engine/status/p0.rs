//! P0 components: the safety-critical ones. A P0 component degraded for
//! `degraded_for_minutes` raises a Critical alert and, with `p0_alert_holds`, HOLD.

use super::components::Reading;
use crate::engine::{Engine, book_slot};
use crate::guards::{GuardLevel, Verdict};
use crate::model::{NOTIONAL_ONE, Venue};
use crate::strategy::{PairState, Phase};
use crate::time::{NANOS_PER_SECOND, UnixNanos};

/// Naked (unhedged) exposure: the worst instrument's net position, its notional and
/// age, and what its unwind is doing. ERROR once an unwind is overdue or the naked
/// notional stayed above `risk.unhedged_alert_usd` past its grace time.
pub(super) fn unhedged_exposure(engine: &Engine, now: UnixNanos) -> Reading {
    let naked = engine.pairs.iter().filter(|p| !p.naked_since.is_zero());
    let worst = naked.max_by_key(|p| p.naked_notional.raw().unsigned_abs());
    let total: i64 = engine
        .pairs
        .iter()
        .map(|p| p.naked_notional.raw().abs())
        .sum();
    let Some(p) = worst else {
        return Reading::new(
            GuardLevel::Ok,
            "hedged: no naked position",
            &[("naked_notional_usd", 0.0), ("naked_age_s", 0.0)],
        );
    };
    let age_s = now.nanos_since(p.naked_since) / NANOS_PER_SECOND;
    let summary = format!(
        "{}: {} unhedged (≈ {} USD) for {age_s} s; {}",
        engine.instrument_name(p.spec.instrument),
        p.naked_qty.display(p.spec.scales.qty),
        p.naked_notional.display(),
        unwind_doing(p),
    );
    let level = if p.unwind.is_some_and(|u| u.escalated) || p.naked_alerted {
        GuardLevel::Error
    } else {
        GuardLevel::Warn
    };
    Reading::new(
        level,
        summary,
        &[
            ("naked_notional_usd", total as f64 / NOTIONAL_ONE as f64),
            ("naked_age_s", age_s as f64),
        ],
    )
}

/// What the engine is doing about a naked position, in a few words.
fn unwind_doing(p: &PairState) -> String {
    match p.unwind {
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
    }
}

/// How long the oldest journal record not yet durable has waited, ms (zero if none).
fn journal_lag_ms(engine: &Engine, now: UnixNanos) -> u64 {
    let j = &engine.journal;
    if j.uncommitted_since.is_zero() {
        0
    } else {
        now.millis_since(j.uncommitted_since)
    }
}

/// Whether every traded venue has been reconciled since the start.
fn reconciled_everywhere(engine: &Engine) -> bool {
    engine
        .traded_venues()
        .iter()
        .all(|v| engine.recon[v.index()].done)
}

pub(super) fn journal(engine: &Engine, now: UnixNanos) -> Reading {
    let j = &engine.journal;
    let lag = j.emitted - j.committed;
    let lag_ms = journal_lag_ms(engine, now);
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
    Reading::new(
        level,
        summary,
        &[
            ("emitted", j.emitted as f64),
            ("committed", j.committed as f64),
            ("lag_records", lag as f64),
            ("commit_ms_p95", j.commit_ms.quantile(now, 950) as f64),
        ],
    )
}

pub(super) fn guarded_startup(engine: &Engine, now: UnixNanos) -> Reading {
    let venues = engine.traded_venues();
    let (level, summary) = if engine.recon.iter().any(|r| r.mismatches > 0) {
        (GuardLevel::Error, "reconciliation mismatch: stays in HOLD")
    } else if !reconciled_everywhere(engine) {
        (GuardLevel::Warn, "awaiting reconciliation with every venue")
    } else if !engine.fencing.is_leader(now) {
        (GuardLevel::Warn, "reconciled; not the leader")
    } else {
        (
            GuardLevel::Ok,
            "reconciled and leading; resume needs two operators",
        )
    };
    let reconciled = venues
        .iter()
        .filter(|v| engine.recon[v.index()].done)
        .count();
    Reading::new(
        level,
        summary,
        &[
            ("reconciled_venues", reconciled as f64),
            ("venues", venues.len() as f64),
            ("uptime_s", now.nanos_since(engine.started_at) as f64 / 1e9),
        ],
    )
}

pub(super) fn leader_fencing(engine: &Engine, now: UnixNanos) -> Reading {
    let f = &engine.fencing;
    let old_epoch_live = engine
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
    Reading::of(
        v,
        &[
            ("epoch", f64::from(f.epoch())),
            ("highest_epoch", f64::from(f.highest_epoch())),
            ("lease_remaining_ms", remaining_ms),
            ("fences", f.fences as f64),
            ("older_epoch_live_orders", old_epoch_live as f64),
        ],
    )
}

pub(super) fn conformance(engine: &Engine, now: UnixNanos) -> Reading {
    let oc = &engine.orders.counters;
    let m = &engine.metrics;
    let malformed: u64 = engine
        .traded_venues()
        .iter()
        .map(|v| m.malformed[v.index()].sums(now).0)
        .sum();
    let (level, summary) = if oc.overfills > 0 {
        (
            GuardLevel::Error,
            format!("{} overfill(s) reported by a venue", oc.overfills),
        )
    } else if malformed > 0 || m.bbo_mismatches > 0 {
        (
            GuardLevel::Warn,
            format!(
                "{malformed} malformed message(s) in 5 min; {} bbo mismatch(es)",
                m.bbo_mismatches
            ),
        )
    } else {
        (GuardLevel::Ok, "venues behave as specified".to_owned())
    };
    Reading::new(
        level,
        summary,
        &[
            ("malformed_5m", malformed as f64),
            ("unknown_order_reports", oc.unknown_order_reports as f64),
            ("redundant_reports", oc.redundant_reports as f64),
            ("overfills", oc.overfills as f64),
            ("bbo_checks", m.bbo_checks as f64),
            ("bbo_mismatches", m.bbo_mismatches as f64),
        ],
    )
}

pub(super) fn recon(engine: &Engine, now: UnixNanos) -> Reading {
    let mismatches: u32 = engine.recon.iter().map(|r| r.mismatches).sum();
    let runs: u64 = engine.recon.iter().map(|r| r.runs).sum();
    let (level, summary) = if mismatches > 0 {
        (GuardLevel::Error, format!("{mismatches} mismatch(es)"))
    } else if !reconciled_everywhere(engine) {
        (GuardLevel::Warn, "not yet reconciled".to_owned())
    } else {
        (GuardLevel::Ok, "mismatch 0".to_owned())
    };
    let last = engine
        .recon
        .iter()
        .map(|r| r.at)
        .max()
        .unwrap_or(UnixNanos::ZERO);
    let last_age_s = if last.is_zero() {
        -1.0
    } else {
        now.nanos_since(last) as f64 / 1e9
    };
    let recovered: u64 = engine.recon.iter().map(|r| r.fills_recovered).sum();
    Reading::new(
        level,
        summary,
        &[
            ("mismatch", f64::from(mismatches)),
            ("runs", runs as f64),
            ("fills_recovered", recovered as f64),
            ("last_age_s", last_age_s),
        ],
    )
}

pub(super) fn keys_security(engine: &Engine, now: UnixNanos) -> Reading {
    let auth: u64 = engine
        .traded_venues()
        .iter()
        .map(|v| engine.metrics.auth_failures[v.index()].sums(now).0)
        .sum();
    let token = engine.config.control.approval_token_digest.is_some();
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
    Reading::new(
        level,
        summary,
        &[
            ("auth_failures_5m", auth as f64),
            ("approval_token", if token { 1.0 } else { 0.0 }),
            ("operator_actions", engine.journal.operator_actions as f64),
        ],
    )
}

pub(super) fn compliance_worm(engine: &Engine, now: UnixNanos) -> Reading {
    let j = &engine.journal;
    let (level, summary) = if j.failed {
        (GuardLevel::Error, "audit trail broken: journal failed")
    } else if journal_lag_ms(engine, now) > 5_000 {
        (GuardLevel::Warn, "operator actions not yet durable")
    } else {
        (GuardLevel::Ok, "append-only journal, every action recorded")
    };
    Reading::new(
        level,
        summary,
        &[
            ("records", j.emitted as f64),
            ("operator_actions", j.operator_actions as f64),
            ("decision_digest_items", engine.digest.count() as f64),
        ],
    )
}

pub(super) fn cancel_on_disconnect(engine: &Engine, now: UnixNanos) -> Reading {
    let mut verdict = engine.disconnect.worst();
    let unarmed = Venue::ALL
        .iter()
        .any(|v| engine.orders.live_on(*v) > 0 && engine.deadman[v.index()].armed_until <= now);
    if unarmed && verdict.level < GuardLevel::Error {
        verdict = Verdict {
            level: GuardLevel::Error,
            reason: "orders rest without an armed dead-man switch",
            since: now,
        };
    }
    let disconnects: u64 = Venue::ALL
        .iter()
        .map(|v| engine.disconnect.link(*v).disconnects)
        .sum();
    let arms: u64 = engine.deadman.iter().map(|d| d.arms).sum();
    let lapses: u64 = engine.deadman.iter().map(|d| d.lapses).sum();
    Reading::of(
        verdict,
        &[
            ("disconnects", disconnects as f64),
            ("deadman_arms", arms as f64),
            ("deadman_lapses", lapses as f64),
        ],
    )
}

pub(super) fn rate_limit(engine: &Engine, now: UnixNanos) -> Reading {
    let venues = engine.traded_venues();
    let mut refused = 0u64;
    let mut limited = 0u64;
    let mut bans = 0u64;
    let mut place_max = 0u32;
    let mut cancel_max = 0u32;
    for v in &venues {
        let (p, c, _w) = engine.rate.counts(now, *v);
        place_max = place_max.max(p);
        cancel_max = cancel_max.max(c);
        let budget = engine.rate.budget(*v);
        refused += budget.refused;
        limited += budget.rate_limited;
        bans += budget.bans;
    }
    let (place_limit, cancel_limit, _) = engine.rate.limits(venues[0]);
    Reading::of(
        engine.rate.worst(),
        &[
            ("place_per_min", f64::from(place_max)),
            ("cancel_per_min", f64::from(cancel_max)),
            ("place_limit", f64::from(place_limit)),
            ("cancel_limit", f64::from(cancel_limit)),
            ("refused", refused as f64),
            ("http_429", limited as f64),
            ("http_418", bans as f64),
        ],
    )
}

pub(super) fn clock_skew(engine: &Engine, _now: UnixNanos) -> Reading {
    let clock = &engine.clock;
    Reading::of(
        clock.worst(),
        &[
            (
                "binance_offset_ms",
                clock.state(Venue::Binance).offset_ns as f64 / 1e6,
            ),
            (
                "okx_offset_ms",
                clock.state(Venue::Okx).offset_ns as f64 / 1e6,
            ),
            ("limit_ms", clock.limit_ns() as f64 / 1e6),
        ],
    )
}

pub(super) fn snapshot_diff(engine: &Engine, now: UnixNanos) -> Reading {
    let mut worst = Verdict::ok(now);
    let mut gaps = 0u64;
    let mut resyncs = 0u64;
    for pair in &engine.pairs {
        for venue in pair.spec.venues {
            let route = engine.continuity.route(venue, pair.spec.instrument);
            resyncs += route.resyncs;
            gaps += engine.books[book_slot(venue, pair.spec.instrument)]
                .counters
                .gaps;
            if route.verdict.level > worst.level {
                worst = route.verdict;
            }
        }
    }
    Reading::of(worst, &[("gaps", gaps as f64), ("resyncs", resyncs as f64)])
}

pub(super) fn kill_caps(engine: &Engine, _now: UnixNanos) -> Reading {
    let caps = engine.caps.caps();
    let last = engine.caps.last;
    Reading::of(
        engine.caps.verdict(),
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
            ("trips", engine.caps.trips as f64),
        ],
    )
}

pub(super) fn runaway_breaker(engine: &Engine, now: UnixNanos) -> Reading {
    let (place_limit, cancel_limit) = engine.runaway.limits();
    let mut worst_place = 0;
    let mut worst_cancel = 0;
    for pair in &engine.pairs {
        for venue in pair.spec.venues {
            let (p, c) = engine.runaway.counts(now, venue, pair.spec.instrument);
            worst_place = worst_place.max(p);
            worst_cancel = worst_cancel.max(c);
        }
    }
    Reading::of(
        engine.runaway.worst(),
        &[
            ("place_per_min", f64::from(worst_place)),
            ("cancel_per_min", f64::from(worst_cancel)),
            ("place_limit", f64::from(place_limit)),
            ("cancel_limit", f64::from(cancel_limit)),
            ("trips", engine.runaway.trips as f64),
        ],
    )
}

pub(super) fn maintenance(engine: &Engine, now: UnixNanos) -> Reading {
    let calendar = &engine.maintenance;
    let next = calendar.next_deadline(now);
    let next_boundary_s = if next == UnixNanos::NEVER {
        -1.0
    } else {
        next.nanos_since(now) as f64 / 1e9
    };
    Reading::of(
        calendar.worst(),
        &[
            ("windows", calendar.windows().len() as f64),
            ("next_boundary_s", next_boundary_s),
            ("trips", calendar.trips as f64),
        ],
    )
}
