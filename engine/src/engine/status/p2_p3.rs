//! P2 components (performance) and P3 components (research and reporting).

use super::components::Reading;
use crate::engine::Engine;
use crate::guards::GuardLevel;
use crate::model::OrderState;
use crate::time::{NANOS_PER_MINUTE, NANOS_PER_SECOND, UnixNanos};

pub(super) fn zero_copy_l2(engine: &Engine, _now: UnixNanos) -> Reading {
    let books = &engine.books;
    let dropped: u64 = books.iter().map(|b| b.counters.levels_dropped).sum();
    let updates: u64 = books
        .iter()
        .map(|b| b.counters.deltas + b.counters.snapshots)
        .sum();
    let crossed: u64 = books.iter().map(|b| b.counters.crossed).sum();
    let (level, summary) = if crossed > 0 {
        (GuardLevel::Warn, format!("{crossed} crossed book(s) seen"))
    } else {
        (
            GuardLevel::Ok,
            format!(
                "{} ticks per side; {dropped} level(s) outside the window",
                engine.config.limits.book_ticks_per_side
            ),
        )
    };
    Reading::new(
        level,
        summary,
        &[
            ("book_updates", updates as f64),
            ("levels_dropped", dropped as f64),
            (
                "levels_per_update_p99",
                engine.metrics.levels_per_update.quantile(990) as f64,
            ),
        ],
    )
}

pub(super) fn lock_free_queues(engine: &Engine, _now: UnixNanos) -> Reading {
    let (depth, capacity) = engine.metrics.input_backlog;
    let fill = if capacity > 0 {
        f64::from(depth) / f64::from(capacity)
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
        (GuardLevel::Ok, format!("input queue {depth}/{capacity}"))
    };
    Reading::new(
        level,
        summary,
        &[
            ("input_depth", f64::from(depth)),
            ("input_capacity", f64::from(capacity)),
            ("outputs_pending", engine.outputs.len() as f64),
        ],
    )
}

pub(super) fn order_lifecycle(engine: &Engine, _now: UnixNanos) -> Reading {
    let orders = &engine.orders;
    let lookups: u32 = orders.iter().map(|o| o.lookups).sum();
    let unknown = orders
        .iter()
        .filter(|o| o.state == OrderState::Unknown)
        .count();
    let (level, summary) = if unknown > 0 {
        (
            GuardLevel::Warn,
            format!("{unknown} order(s) of unknown outcome being looked up"),
        )
    } else {
        (GuardLevel::Ok, format!("{} live order(s)", orders.live()))
    };
    Reading::new(
        level,
        summary,
        &[
            ("live_orders", orders.live() as f64),
            ("unknown_orders", unknown as f64),
            ("lookups", f64::from(lookups)),
            ("sent", orders.counters.sent as f64),
        ],
    )
}

pub(super) fn reports_replay(engine: &Engine, now: UnixNanos) -> Reading {
    let recent = engine
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
            format!("digest {}…", &engine.digest.hex()[..12]),
        )
    };
    let uptime_s = now.nanos_since(engine.started_at) as f64 / NANOS_PER_SECOND as f64;
    Reading::new(
        level,
        summary,
        &[
            ("inputs", engine.metrics.inputs as f64),
            ("outputs", engine.digest.count() as f64),
            ("uptime_s", uptime_s),
        ],
    )
}
