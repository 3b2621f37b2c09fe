//! Views: the JSON documents the API serves, built from the engine by the engine task
//! and published as an immutable [`Snapshot`] (every `SNAPSHOT_EVERY`, and at once
//! after an operator command). Handlers only clone pre-rendered bytes, so serving
//! status never locks or slows the engine.
//!
//! Shapes follow the operator documents: the System Status contract of SUPER_SPEC
//! §10.1 (`ts`, `overall`, `scores`, `slo`, `components[{id,title,group,status,
//! summary,metrics,links}]`, `alerts[{severity,title,msg,since,component_id}]`), plus
//! `hold_active`, `flags` and the last resume request (README v0.1.2). Money is shown
//! in USD as JSON numbers (floats for display only; decisions stay fixed-point).

use crate::driver::Counters;
use crate::journal::{Head, iso};
use crate::links::LinkRow;
use propbot_engine::config::{Config, Profile};
use propbot_engine::engine::{ActiveAlert, Component, StatusReport};
use propbot_engine::model::{CentiBps, InstrumentId, Notional, Price, Qty, Venue, pow10};
use propbot_engine::output::{Alert, ApprovalStep, JournalEvent, Mode};
use propbot_engine::strategy::PairState;
use propbot_engine::{Engine, UnixNanos};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;

mod metrics;
pub use metrics::LatencyFamily;
use metrics::prometheus;

/// Facts about the deployment that the views show.
#[derive(Clone)]
pub struct ViewContext {
    /// Profile.
    pub profile: Profile,
    /// Market source, e.g. `sim (seed 1)`.
    pub source: String,
    /// Data directory.
    pub data_dir: String,
    /// Process start.
    pub started_at: UnixNanos,
    /// `open-read` (paper on loopback) or `token`.
    pub access: &'static str,
    /// The approval token, for configs applied at run time (never shown).
    pub approve_token: Option<String>,
    /// The live connections (empty without live market data).
    pub links: crate::links::LinkBoard,
}

impl std::fmt::Debug for ViewContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewContext")
            .field("profile", &self.profile)
            .field("source", &self.source)
            .field("data_dir", &self.data_dir)
            .field("access", &self.access)
            .field(
                "approve_token",
                &self.approve_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What the driver adds to the engine's own figures.
pub struct DriverFacts<'a> {
    /// Journal head.
    pub head: Head,
    /// Lease epoch.
    pub epoch: u32,
    /// Counters.
    pub counters: &'a Counters,
    /// Engine step (one loop turn) latency, µs.
    pub step_us: &'a hdrhistogram::Histogram<u64>,
    /// Journal commit latency, µs.
    pub commit_us: &'a hdrhistogram::Histogram<u64>,
    /// Recent alerts, oldest first.
    pub alerts: &'a VecDeque<Value>,
    /// Input channel depth.
    pub inputs_depth: usize,
}

/// A document: its value (for composed reports) and its rendered bytes.
#[derive(Clone, Debug)]
pub struct Doc {
    /// The value.
    pub value: Value,
    /// `value` as JSON bytes.
    pub bytes: axum::body::Bytes,
}

impl Doc {
    fn new(value: Value) -> Doc {
        let bytes = serde_json::to_vec(&value).expect("views serialise").into();
        Doc { value, bytes }
    }
}

/// Every view at one instant.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Engine time of the snapshot.
    pub ts: UnixNanos,
    /// Documents by name (`overview`, `components`, `slo`, `state`, …).
    pub docs: BTreeMap<&'static str, Doc>,
    /// Prometheus text for the engine's figures, written by the `prometheus` crate's
    /// text encoder (the API appends its own request-latency family).
    pub metrics_text: String,
    /// Engine-side latency histograms (`/metrics/latency`).
    pub latency: Value,
    /// Journal head at the snapshot.
    pub head: Head,
    /// RUN or HOLD.
    pub mode: Mode,
}

impl Snapshot {
    /// A placeholder before the engine publishes (never served: the engine publishes
    /// before the API starts).
    pub fn empty() -> Snapshot {
        Snapshot {
            ts: UnixNanos::ZERO,
            docs: BTreeMap::new(),
            metrics_text: String::new(),
            latency: Value::Null,
            head: Head::default(),
            mode: Mode::Hold,
        }
    }

    /// A document by name.
    pub fn doc(&self, name: &str) -> Option<&Doc> {
        self.docs.get(name)
    }
}

/// A live event for the WebSocket stream.
#[derive(Clone, Debug, Serialize)]
pub struct StreamEvent {
    /// `status`, `hold`, `resume`, `alert`, `fill`, `approval`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Payload.
    pub data: Value,
}

impl StreamEvent {
    /// An event.
    pub fn new(kind: &'static str, data: Value) -> StreamEvent {
        StreamEvent { kind, data }
    }
}

/// An alert as the API shows it.
pub fn alert_json(a: &Alert) -> Value {
    json!({
        "severity": a.severity,
        "code": a.code,
        "title": a.code,
        "msg": a.message,
        "since": iso(a.since.0),
        "component_id": a.component,
    })
}

/// The stream event a journal record makes, if any.
pub fn stream_of_record(
    event: &JournalEvent,
    ts: UnixNanos,
    config: &Config,
) -> Option<(&'static str, Value)> {
    match event {
        JournalEvent::Control {
            to,
            safe_mode,
            actor,
            reason,
            ..
        } => {
            let kind = if *to == Mode::Hold { "hold" } else { "resume" };
            Some((
                kind,
                json!({"ts": iso(ts.0), "mode": to.name(), "safe_mode": safe_mode,
                       "actor": actor, "reason": reason}),
            ))
        }
        JournalEvent::Fill {
            client_order_id,
            fill,
            fee,
        } => {
            let scales = config.instruments.get(fill.instrument.index())?.scales;
            Some((
                "fill",
                json!({"ts": iso(ts.0), "venue": fill.venue.name(),
                       "instrument": instrument_name(config, fill.instrument),
                       "side": fill.side.name(), "price": px(fill.price, scales.price),
                       "qty": qty(fill.qty, scales.qty), "fee_usd": usd(*fee),
                       "client_order_id": client_order_id.map(|c| c.to_string())}),
            ))
        }
        JournalEvent::Approval {
            kind,
            request_id,
            actor,
            step,
        } => Some((
            "approval",
            json!({"ts": iso(ts.0), "kind": kind, "request_id": request_id, "actor": actor,
                   "step": step_name(step)}),
        )),
        _ => None,
    }
}

fn step_name(step: &ApprovalStep) -> &'static str {
    match step {
        ApprovalStep::Requested { .. } => "requested",
        ApprovalStep::Confirmed => "confirmed",
        ApprovalStep::Refused { .. } => "refused",
        ApprovalStep::Executed => "executed",
    }
}

/// Price as a display number.
pub fn px(p: Price, scale: u8) -> f64 {
    p.raw() as f64 / pow10(scale) as f64
}

/// Quantity as a display number.
pub fn qty(q: Qty, scale: u8) -> f64 {
    q.raw() as f64 / pow10(scale) as f64
}

/// Notional in USD as a display number.
pub fn usd(n: Notional) -> f64 {
    n.to_f64()
}

/// Basis points as a display number.
pub fn bps(c: CentiBps) -> f64 {
    c.to_bps_f64()
}

fn instrument_name(config: &Config, i: InstrumentId) -> String {
    config
        .instruments
        .get(i.index())
        .map_or_else(|| format!("#{}", i.0), |c| c.name.clone())
}

/// Builds every view.
pub fn build(
    engine: &Engine,
    now: UnixNanos,
    facts: &DriverFacts<'_>,
    context: &ViewContext,
) -> Snapshot {
    let status = engine.status(now);
    let links = context.links.rows();
    let mut docs = BTreeMap::new();
    let mut overview = overview(engine, &status, facts, context);
    let connections: Vec<Value> = links.iter().map(LinkRow::json).collect();
    overview["connections"] = Value::Array(connections.clone());
    let readiness = json!({
        "ts": iso(now.0),
        "status": status.readiness.status,
        "ready": status.readiness.status == "GREEN",
        "reasons": status.readiness.reasons,
    });
    docs.insert("readiness", Doc::new(readiness));
    docs.insert(
        "components",
        Doc::new(json!({
            "ts": iso(now.0),
            "overall": status.overall,
            "components": status.components.iter().map(component).collect::<Vec<_>>(),
            "incidents": facts.alerts.iter().rev().take(50).collect::<Vec<_>>(),
            "connections": connections,
        })),
    );
    docs.insert("slo", Doc::new(slo(&status)));
    docs.insert("state", Doc::new(state(engine, &status, facts, context)));
    docs.insert("execution", Doc::new(execution(engine, now)));
    docs.insert("pnl", Doc::new(pnl(engine, now)));
    docs.insert("exposure", Doc::new(exposure(engine, now)));
    docs.insert("control_state", Doc::new(control_state(engine, &status)));
    docs.insert("limits", Doc::new(limits(engine.config())));
    docs.insert("universe", Doc::new(universe(engine.config())));
    docs.insert("approvals", Doc::new(approvals(engine, now)));
    docs.insert("positions", Doc::new(positions(engine, now)));
    docs.insert(
        "alerts",
        Doc::new(json!({
            "ts": iso(now.0),
            "active": status.alerts.iter().map(active_alert).collect::<Vec<_>>(),
            "history": facts.alerts.iter().rev().collect::<Vec<_>>(),
        })),
    );
    docs.insert("recon", Doc::new(recon(engine, now)));
    docs.insert("opportunities", Doc::new(opportunities(engine, now)));
    docs.insert(
        "health",
        Doc::new(json!({
            "ok": true,
            "status": "ok",
            "ts": iso(now.0),
            "profile": context.profile.name(),
            "mode": status.hold.mode.name(),
            "uptime_s": now.nanos_since(context.started_at) / 1_000_000_000,
            "journal": {"committed_seq": facts.head.seq,
                        "head_hash": crate::secrets::hex(&facts.head.hash)},
            "epoch": facts.epoch,
            "engine": {"events": facts.counters.events.load(Ordering::Relaxed),
                       "inputs_waiting": facts.inputs_depth},
        })),
    );
    let metrics_text = prometheus(engine, &status, facts, &links, now);
    let latency = json!({
        "engine_step_us": buckets(facts.step_us),
        "journal_commit_us": buckets(facts.commit_us),
    });
    docs.insert("overview", Doc::new(overview));
    Snapshot {
        ts: now,
        docs,
        metrics_text,
        latency,
        head: facts.head,
        mode: status.hold.mode,
    }
}

/// Upper bounds of the latency buckets, µs.
pub const BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000,
];

/// Cumulative buckets of a µs histogram, Prometheus style.
pub fn buckets(h: &hdrhistogram::Histogram<u64>) -> Value {
    let mut b: Vec<Value> = BUCKETS_US
        .iter()
        .map(|&le| json!({"le_us": le, "count": h.count_between(0, le)}))
        .collect();
    b.push(json!({"le_us": "+Inf", "count": h.len()}));
    json!({
        "count": h.len(),
        "p50_us": h.value_at_quantile(0.5),
        "p99_us": h.value_at_quantile(0.99),
        "max_us": h.max(),
        "buckets": b,
    })
}

fn component(c: &Component) -> Value {
    json!({
        "id": c.id,
        "title": c.title,
        "group": c.group,
        "status": c.status,
        "summary": c.summary,
        "metrics": c.metrics,
        "since": iso(c.since.0),
        "links": [
            {"title": "components", "href": format!("/api/ui/status/components#{}", c.id)},
            {"title": "dashboard", "href": format!("/ui#{}", c.id)},
        ],
    })
}

fn active_alert(a: &ActiveAlert) -> Value {
    json!({
        "severity": a.severity,
        "code": a.code,
        "title": a.title,
        "msg": a.msg,
        "since": iso(a.since.0),
        "component_id": a.component_id,
    })
}

fn scores(status: &StatusReport) -> (Value, Value) {
    let mut scores = serde_json::Map::new();
    let mut levels = serde_json::Map::new();
    for g in &status.scores {
        let name = format!("{:?}", g.group);
        scores.insert(name.clone(), json!(g.score));
        levels.insert(name, json!(g.status));
    }
    (Value::Object(scores), Value::Object(levels))
}

fn slo_values(status: &StatusReport) -> Value {
    let s = &status.slo;
    json!({
        "ws_gap_ms_p95": s.ws_gap_ms_p95,
        "order_cycle_ms_p95": s.order_cycle_ms_p95,
        "reject_rate": s.reject_rate,
        "cancel_fail_rate": s.cancel_fail_rate,
        "recon_mismatch": s.recon_mismatch,
        "max_day_drawdown_bps": s.max_day_drawdown_bps,
        "budget_remaining": s.budget_remaining,
    })
}

fn slo(status: &StatusReport) -> Value {
    json!({
        "ts": iso(status.ts.0),
        "slo": slo_values(status),
        "targets": status.slo_targets,
        "breaches": status.slo_breaches,
    })
}

fn last_resume_request(engine: &Engine) -> Value {
    engine
        .control()
        .approvals()
        .iter()
        .filter(|a| a.kind == propbot_engine::output::ApprovalKind::Resume)
        .max_by_key(|a| a.id)
        .map_or(Value::Null, |a| {
            json!({
                "request_id": a.id,
                "requested_by": a.requested_by,
                "reason": a.reason,
                "requested_at": iso(a.requested_at.0),
                "confirmed_by": a.confirmed_by,
            })
        })
}

fn flags(status: &StatusReport) -> Value {
    json!({
        "hold_active": status.hold.hold_active,
        "safe_mode": status.hold.safe_mode,
        "dry_run_mode": status.hold.dry_run,
        "two_man_rule": status.hold.two_man_rule,
    })
}

fn overview(
    engine: &Engine,
    status: &StatusReport,
    facts: &DriverFacts<'_>,
    context: &ViewContext,
) -> Value {
    let (scores, group_status) = scores(status);
    json!({
        "ts": iso(status.ts.0),
        "overall": status.overall,
        "profile": status.profile,
        "mode": status.hold.mode.name(),
        "hold_active": status.hold.hold_active,
        "flags": flags(status),
        "hold": {
            "actor": status.hold.actor,
            "reason": status.hold.reason,
            // The boot HOLD of a fresh journal is stamped 0 by the engine: show the start.
            "since": iso(status.hold.since.max(context.started_at).0),
        },
        "last_resume_request": last_resume_request(engine),
        "resume_blockers": status.resume_blockers,
        "scores": scores,
        "group_status": group_status,
        "slo": slo_values(status),
        "slo_breaches": status.slo_breaches,
        "components": status.components.iter().map(component).collect::<Vec<_>>(),
        "alerts": status.alerts.iter().map(active_alert).collect::<Vec<_>>(),
        "readiness": {"status": status.readiness.status, "reasons": status.readiness.reasons},
        "epoch": facts.epoch,
        "journal": {"committed_seq": facts.head.seq},
        "source": context.source,
        "access": context.access,
    })
}

fn position_rows(engine: &Engine) -> Vec<Value> {
    let config = engine.config();
    let mut rows = Vec::new();
    for (i, inst) in config.instruments.iter().enumerate() {
        let id = InstrumentId(i as u16);
        for venue in Venue::ALL {
            let p = engine.ledger().position(venue, id);
            if p.qty.is_zero() && p.fills == 0 {
                continue;
            }
            let mark = engine.mark(venue, id);
            let unrealized =
                mark.map_or(Notional::ZERO, |m| engine.ledger().unrealized(venue, id, m));
            rows.push(json!({
                "venue": venue.name(),
                "instrument": inst.name,
                "symbol": config.listing(venue, id).map(|l| l.symbol.clone()),
                "qty": qty(p.qty, inst.scales.qty),
                "avg_price": px(engine.ledger().average_price(venue, id), inst.scales.price),
                "mark": mark.map(|m| px(m, inst.scales.price)),
                "unrealized_usd": usd(unrealized),
                "realized_usd": usd(engine.ledger().realized(venue, id)),
                "fees_usd": usd(p.fees),
                "fills": p.fills,
            }));
        }
    }
    rows
}

fn pnl_totals(engine: &Engine) -> Value {
    let t = engine.pnl();
    json!({
        "realized_usd": usd(t.realized),
        "unrealized_usd": usd(t.unrealized),
        "fees_usd": usd(t.fees),
        "net_usd": usd(t.net),
        "gross_exposure_usd": usd(t.gross_exposure),
    })
}

fn positions(engine: &Engine, now: UnixNanos) -> Value {
    json!({"ts": iso(now.0), "positions": position_rows(engine), "pnl": pnl_totals(engine)})
}

fn pnl(engine: &Engine, now: UnixNanos) -> Value {
    let m = engine.metrics();
    json!({
        "ts": iso(now.0),
        "totals": pnl_totals(engine),
        "fills": m.fills,
        "maker_fills": m.maker_fills,
        "traded_notional_usd": usd(Notional::from_raw(m.traded_notional)),
        "per_position": position_rows(engine),
    })
}

fn exposure(engine: &Engine, now: UnixNanos) -> Value {
    let config = engine.config();
    let mut per = Vec::new();
    let mut total = Notional::ZERO;
    for (i, inst) in config.instruments.iter().enumerate() {
        let (symbol, all) = engine.exposures(InstrumentId(i as u16));
        total = all;
        per.push(json!({"instrument": inst.name, "gross_usd": usd(symbol),
                        "cap_usd": usd(config.risk.per_symbol_notional)}));
    }
    let unhedged: f64 = engine
        .pairs()
        .iter()
        .map(|p| p.unhedged_usd_seconds())
        .sum();
    json!({
        "ts": iso(now.0),
        "per_symbol": per,
        "total_usd": usd(total),
        "total_cap_usd": usd(config.risk.total_notional),
        "unhedged_usd_seconds": unhedged,
    })
}

fn execution(engine: &Engine, now: UnixNanos) -> Value {
    let config = engine.config();
    let orders: Vec<Value> = engine
        .orders()
        .map(|o| {
            let scales = config.instruments[o.request.instrument.index()].scales;
            json!({
                "client_order_id": o.request.client_order_id.to_string(),
                "venue": o.request.venue.name(),
                "instrument": instrument_name(config, o.request.instrument),
                "side": o.request.side.name(),
                "price": px(o.request.price, scales.price),
                "qty": qty(o.request.qty, scales.qty),
                "filled": qty(o.filled, scales.qty),
                "state": o.state.name(),
                "purpose": o.request.purpose,
                "time_in_force": o.request.time_in_force,
                "reduce_only": o.request.reduce_only,
                "sent_at": iso(o.sent_at.0),
                "live": o.is_live(),
            })
        })
        .collect();
    let m = engine.metrics();
    json!({
        "ts": iso(now.0),
        "orders": orders,
        "open_orders": engine.orders().filter(|o| o.is_live()).count(),
        "order_cycle_ms_p95": m.order_cycle_ms.quantile(now, 950),
        "reject_ppm": m.rejects.ppm(now),
        "cancel_fail_ppm": m.cancel_failures.ppm(now),
        "fills": m.fills,
        "decisions": engine.pairs().iter().map(|p| p.decisions).sum::<u64>(),
        "hedges": engine.pairs().iter().map(|p| p.hedges).sum::<u64>(),
        "deadman": engine.deadman().iter().zip(Venue::ALL).map(|(d, v)| json!({
            "venue": v.name(), "armed_until": iso(d.armed_until.0), "arms": d.arms,
            "lapses": d.lapses})).collect::<Vec<_>>(),
    })
}

fn control_state(engine: &Engine, status: &StatusReport) -> Value {
    let c = engine.control();
    let config = engine.config();
    let pair = config
        .strategy
        .instruments
        .first()
        .and_then(|&i| config.listing(config.strategy.venues[0], i))
        .map(|l| l.symbol.clone());
    json!({
        "mode": c.mode.name(),
        "hold_active": c.mode == Mode::Hold,
        "safe_mode": c.safe_mode,
        "dry_run": c.dry_run,
        "dry_run_only": c.dry_run,
        "two_man_rule": c.two_man_rule(),
        "hold_actor": c.hold_actor,
        "hold_reason": c.hold_reason,
        "hold_since": iso(c.hold_since.0),
        "profile": config.profile.name(),
        "loop_pair": pair,
        "loop_venues": config.strategy.venues.iter().map(|v| v.name()).collect::<Vec<_>>(),
        "order_notional_usdt": usd(config.strategy.order_notional),
        "min_spread_bps": bps(config.strategy.entry_edge),
        "execution": config.strategy.execution,
        "killed": engine.killed(),
        "flattening": engine.flattening(),
        "config_version": engine.config_version(),
        "resume_blockers": status.resume_blockers,
        "last_resume_request": last_resume_request(engine),
        "leader": engine.fencing().is_leader(engine.now()),
        "epoch": engine.fencing().epoch(),
    })
}

fn limits(config: &Config) -> Value {
    let r = &config.risk;
    let g = &config.guards;
    json!({
        "risk": {
            "per_symbol_usd": usd(r.per_symbol_notional),
            "total_usd": usd(r.total_notional),
            "daily_loss_usd": usd(r.daily_loss),
            "unrealized_loss_usd": usd(r.unrealized_loss),
            "capital_usd": usd(r.capital),
            "max_open_orders": r.max_open_orders,
        },
        "rate_limit": {"place_per_min": g.rate_place_per_min, "cancel_per_min": g.rate_cancel_per_min},
        "runaway_breaker": {"place_per_min": g.runaway_place_per_min,
                            "cancel_per_min": g.runaway_cancel_per_min},
        "clock_skew_guard_ms": g.clock_skew_guard_ns / 1_000_000,
        "order_notional_usdt": usd(config.strategy.order_notional),
        "tables": config.limits,
    })
}

fn universe(config: &Config) -> Value {
    let instruments: Vec<Value> = config
        .instruments
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let listings: BTreeMap<&str, Value> = Venue::ALL
                .iter()
                .filter_map(|&v| {
                    config.listing(v, InstrumentId(i as u16)).map(|l| {
                        (
                            v.name(),
                            json!({"symbol": l.symbol,
                                          "tick_size": px(l.tick, inst.scales.price)}),
                        )
                    })
                })
                .collect();
            json!({
                "name": inst.name,
                "traded": config.strategy.instruments.contains(&InstrumentId(i as u16)),
                "listings": listings,
            })
        })
        .collect();
    json!({
        "instruments": instruments,
        "venues": config.strategy.venues.iter().map(|v| v.name()).collect::<Vec<_>>(),
    })
}

fn approvals(engine: &Engine, now: UnixNanos) -> Value {
    let c = engine.control();
    let items: Vec<Value> = c
        .approvals()
        .iter()
        .map(|a| {
            json!({
                "request_id": a.id,
                "kind": a.kind,
                "requested_by": a.requested_by,
                "reason": a.reason,
                "requested_at": iso(a.requested_at.0),
                "confirmed_by": a.confirmed_by,
                "status": if a.confirmed_by.is_some() { "approved" } else { "pending" },
            })
        })
        .collect();
    json!({
        "ts": iso(now.0),
        "two_man_resume_required": c.two_man_rule(),
        "items": items,
    })
}

fn recon(engine: &Engine, now: UnixNanos) -> Value {
    let venues: Vec<Value> = engine
        .config()
        .strategy
        .venues
        .iter()
        .map(|&v| {
            let r = &engine.reconciliation()[v.index()];
            json!({
                "venue": v.name(), "done": r.done, "mismatches": r.mismatches,
                "at": if r.at.is_zero() { Value::Null } else { json!(iso(r.at.0)) },
                "runs": r.runs, "fills_recovered": r.fills_recovered, "requested": r.requested,
            })
        })
        .collect();
    let diff: u64 = engine
        .reconciliation()
        .iter()
        .map(|r| u64::from(r.mismatches))
        .sum();
    let done = engine
        .config()
        .strategy
        .venues
        .iter()
        .all(|v| engine.reconciliation()[v.index()].done);
    let status = match (done, diff) {
        (false, _) => "PENDING",
        (true, 0) => "OK",
        (true, _) => "MISMATCH",
    };
    json!({"ts": iso(now.0), "status": status, "diff_count": diff, "venues": venues})
}

fn opportunities(engine: &Engine, now: UnixNanos) -> Value {
    let config = engine.config();
    let rows: Vec<Value> = engine
        .pairs()
        .iter()
        .flat_map(|p| p.opportunities.iter())
        .map(|o| {
            let scales = config.instruments[o.instrument.index()].scales;
            json!({
                "instrument": instrument_name(config, o.instrument),
                "buy_venue": o.buy_venue.name(),
                "sell_venue": o.sell_venue.name(),
                "buy_price": px(o.buy_price, scales.price),
                "sell_price": px(o.sell_price, scales.price),
                "gross_edge_bps": bps(o.gross_edge),
                "net_edge_bps": bps(o.net_edge),
                "threshold_bps": bps(o.threshold),
                "reducing": o.reducing,
                "qty_before_risk": qty(o.qty_before_risk, scales.qty),
                "qty_after_risk": qty(o.qty_after_risk, scales.qty),
                "notional_after_risk_usd": usd(o.notional_after_risk),
                "blocked": o.blocked,
                "blocked_by_risk": o.blocked.is_some_and(|b| b.is_risk()),
                "updated_at": if o.updated_at.is_zero() { Value::Null } else { json!(iso(o.updated_at.0)) },
            })
        })
        .collect();
    json!({"ts": iso(now.0), "opportunities": rows})
}

fn state(
    engine: &Engine,
    status: &StatusReport,
    facts: &DriverFacts<'_>,
    context: &ViewContext,
) -> Value {
    let blocked: Vec<&String> = status
        .resume_blockers
        .iter()
        .filter(|r| r.starts_with("kill caps"))
        .collect();
    json!({
        "ts": iso(status.ts.0),
        "profile": context.profile.name(),
        "mode": status.hold.mode.name(),
        "flags": flags(status),
        "dry_run": status.hold.dry_run,
        "safe_mode": status.hold.safe_mode,
        "overall": status.overall,
        "risk": {
            "limits": limits(engine.config())["risk"].clone(),
            "positions": position_rows(engine),
            "exposure": exposure(engine, status.ts),
            "risk_blocked": !blocked.is_empty(),
            "risk_reasons": blocked,
        },
        "pnl": pnl_totals(engine),
        "control": control_state(engine, status),
        "epoch": facts.epoch,
        "journal": {
            "committed_seq": facts.head.seq,
            "emitted_seq": engine.journal_state().emitted,
            "head_hash": crate::secrets::hex(&facts.head.hash),
        },
        "source": context.source,
        "data_dir": context.data_dir,
        "started_at": iso(context.started_at.0),
    })
}

fn level_value(level: propbot_engine::guards::GuardLevel) -> u8 {
    use propbot_engine::guards::GuardLevel;
    match level {
        GuardLevel::Ok => 0,
        GuardLevel::Warn => 1,
        GuardLevel::Error => 2,
        GuardLevel::Hold => 3,
    }
}
