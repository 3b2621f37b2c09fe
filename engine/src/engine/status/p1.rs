//! P1 components: trading quality. A P1 warning keeps live readiness YELLOW.

use super::components::Reading;
use crate::config::ExecutionStyle;
use crate::engine::{Engine, book_slot};
use crate::guards::{GuardLevel, MaintenancePhase, Verdict};
use crate::model::NOTIONAL_ONE;
use crate::output::Mode;
use crate::strategy::Phase;
use crate::time::UnixNanos;

pub(super) fn live_readiness(engine: &Engine, now: UnixNanos) -> Reading {
    let blockers = engine.resume_blockers(now);
    let (level, summary) = if !blockers.is_empty() {
        (GuardLevel::Error, format!("RED: {}", blockers[0]))
    } else if engine.control.mode == Mode::Hold {
        (
            GuardLevel::Warn,
            "YELLOW: ready, waiting for a two-man resume".to_owned(),
        )
    } else {
        (GuardLevel::Ok, "GREEN".to_owned())
    };
    Reading::new(level, summary, &[("blockers", blockers.len() as f64)])
}

pub(super) fn config_pipeline(engine: &Engine, _now: UnixNanos) -> Reading {
    let m = &engine.metrics;
    let (level, summary) = if m.config_refusals > 0 && m.config_applies == 0 {
        (
            GuardLevel::Warn,
            format!("{} apply refusal(s), none applied", m.config_refusals),
        )
    } else {
        (GuardLevel::Ok, format!("version {}", engine.config_version))
    };
    Reading::new(
        level,
        summary,
        &[
            ("version", engine.config_version as f64),
            ("applies", m.config_applies as f64),
            ("refusals", m.config_refusals as f64),
        ],
    )
}

pub(super) fn stream(engine: &Engine, now: UnixNanos) -> Reading {
    let m = &engine.metrics;
    let target = engine.config.status.slo.ws_gap_ms_p95;
    let venues = engine.traded_venues();
    let gap = venues
        .iter()
        .map(|v| m.ws_gap_ms[v.index()].quantile(now, 950))
        .max()
        .unwrap_or(0);
    // The longest silence of a traded venue; `u64::MAX` until every one has spoken.
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
    } else if gap > target * engine.config.status.ws_gap_hold_multiplier
        || silent_ms > engine.config.guards.market_data_stale_ns / 1_000_000
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
    let silent = if silent_ms == u64::MAX {
        -1.0
    } else {
        silent_ms as f64
    };
    Reading::new(
        level,
        summary,
        &[
            ("ws_gap_ms_p95", gap as f64),
            ("silent_ms", silent),
            ("market_events", m.market_events as f64),
        ],
    )
}

/// The TCA gate warns when the p95 adverse slippage of the last five minutes' fills
/// exceeds this multiple of `max_slippage`: entries are priced within one multiple,
/// hedges within `HEDGE_SLIPPAGE_MULTIPLE` (two), so a p95 beyond that means execution
/// is worse than even a hedge is allowed.
pub const TCA_SLIPPAGE_WARN_MULTIPLE: u64 = 2;

pub(super) fn tca_gate(engine: &Engine, now: UnixNanos) -> Reading {
    let m = &engine.metrics;
    let slip95 = m.slippage_centibps.quantile(now, 950);
    let fills_5m = m.slippage_centibps.count(now);
    let limit =
        engine.config.strategy.max_slippage.raw().max(0) as u64 * TCA_SLIPPAGE_WARN_MULTIPLE;
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
    Reading::new(
        level,
        summary,
        &[
            ("slippage_bps_p95", slip95 as f64 / 100.0),
            ("fills_5m", fills_5m as f64),
            ("fills", m.fills as f64),
        ],
    )
}

pub(super) fn regime(engine: &Engine, _now: UnixNanos) -> Reading {
    let vol = engine
        .pairs
        .iter()
        .map(|p| engine.metrics.volatility_centibps[p.spec.instrument.index()])
        .max()
        .unwrap_or(0);
    let entry = engine.config.strategy.entry_edge.raw().max(1);
    let bps = vol as f64 / 100.0;
    let (level, summary) = if vol > entry * 4 {
        (
            GuardLevel::Warn,
            format!("volatile: mid moves {bps:.2} bps per update"),
        )
    } else {
        (
            GuardLevel::Ok,
            format!("calm: mid moves {bps:.2} bps per update"),
        )
    };
    Reading::new(level, summary, &[("mid_move_bps_ewma", bps)])
}

pub(super) fn policy_matrix(engine: &Engine, _now: UnixNanos) -> Reading {
    let style = engine.config.strategy.execution;
    let pre_open = engine
        .traded_venues()
        .iter()
        .any(|v| engine.maintenance.phase(*v) == MaintenancePhase::PreOpen);
    let (level, summary) = match (style, pre_open) {
        (ExecutionStyle::Taker, true) => (
            GuardLevel::Warn,
            "taker policy while a venue allows only post-only",
        ),
        (ExecutionStyle::Taker, false) => (GuardLevel::Ok, "taker IOC on both legs"),
        (ExecutionStyle::MakerFirst, _) => (GuardLevel::Ok, "maker first, taker hedge"),
    };
    let maker_first = if style == ExecutionStyle::MakerFirst {
        1.0
    } else {
        0.0
    };
    Reading::new(level, summary, &[("maker_first", maker_first)])
}

pub(super) fn sizing_derisk(engine: &Engine, _now: UnixNanos) -> Reading {
    let caps = engine.caps.caps();
    let last = engine.caps.last;
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
    Reading::new(
        level,
        summary,
        &[
            ("cap_used", used),
            (
                "order_notional_usd",
                engine.config.strategy.order_notional.to_f64(),
            ),
        ],
    )
}

pub(super) fn fee_planner(engine: &Engine, _now: UnixNanos) -> Reading {
    let m = &engine.metrics;
    let effective_bps = if m.traded_notional > 0 {
        m.fees_paid as f64 * 10_000.0 / m.traded_notional as f64
    } else {
        0.0
    };
    let taker = engine
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
    Reading::new(
        level,
        summary,
        &[
            ("effective_fee_bps", effective_bps),
            ("maker_share", maker_share),
            ("fees_usd", m.fees_paid as f64 / NOTIONAL_ONE as f64),
        ],
    )
}

pub(super) fn book_latency(engine: &Engine, now: UnixNanos) -> Reading {
    let m = &engine.metrics;
    let target = engine.config.status.slo.ws_gap_ms_p95;
    let lat = engine
        .traded_venues()
        .iter()
        .map(|v| m.book_latency_ms[v.index()].quantile(now, 950))
        .max()
        .unwrap_or(0);
    let level = if lat > target {
        GuardLevel::Warn
    } else {
        GuardLevel::Ok
    };
    Reading::new(
        level,
        format!("book latency p95 {lat} ms"),
        &[
            (
                "binance_ms_p95",
                m.book_latency_ms[0].quantile(now, 950) as f64,
            ),
            ("okx_ms_p95", m.book_latency_ms[1].quantile(now, 950) as f64),
        ],
    )
}

pub(super) fn multi_venue_md(engine: &Engine, _now: UnixNanos) -> Reading {
    let mut valid = 0;
    let mut total = 0;
    for pair in &engine.pairs {
        for venue in pair.spec.venues {
            total += 1;
            if engine.books[book_slot(venue, pair.spec.instrument)].is_valid() {
                valid += 1;
            }
        }
    }
    // How far apart the traded venues' latest market data are.
    let last: Vec<UnixNanos> = engine
        .traded_venues()
        .iter()
        .map(|v| engine.metrics.last_market_at[v.index()])
        .collect();
    let lo = last.iter().min().copied().unwrap_or_default();
    let hi = last.iter().max().copied().unwrap_or_default();
    let skew_ms = hi.millis_since(lo);
    let level = if valid == total && total > 0 {
        GuardLevel::Ok
    } else if valid == 0 {
        GuardLevel::Error
    } else {
        GuardLevel::Warn
    };
    Reading::new(
        level,
        format!("{valid}/{total} books valid"),
        &[
            ("valid_books", f64::from(valid)),
            ("books", f64::from(total)),
            ("cross_venue_skew_ms", skew_ms as f64),
        ],
    )
}

pub(super) fn hedge(engine: &Engine, now: UnixNanos) -> Reading {
    let pairs = &engine.pairs;
    let unhedged: f64 = pairs.iter().map(|p| p.unhedged_usd_seconds()).sum();
    let repairing = pairs
        .iter()
        .filter(|p| matches!(p.phase, Phase::Hedging | Phase::Unwinding))
        .count();
    let mut verdict = engine.other.hedge;
    if verdict.level == GuardLevel::Ok && repairing > 0 {
        verdict = Verdict {
            level: GuardLevel::Warn,
            reason: "hedging a partial fill",
            since: now,
        };
    }
    Reading::of(
        verdict,
        &[
            ("unhedged_usd_s", unhedged),
            ("hedges", pairs.iter().map(|p| p.hedges).sum::<u64>() as f64),
            (
                "unwinds",
                pairs.iter().map(|p| p.unwinds).sum::<u64>() as f64,
            ),
        ],
    )
}
