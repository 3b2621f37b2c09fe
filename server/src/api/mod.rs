//! The HTTP API, in the axum-example shape: [`app`] builds the whole `Router` from
//! one route table ([`routes`]), which is also the source of the access matrix and
//! of the OpenAPI document (`/openapi.json`). Errors of every kind — bad JSON, unknown
//! fields, out-of-range values, missing or wrong tokens, engine refusals — are one
//! [`ApiError`] with one JSON shape:
//!
//! ```json
//! {"error": {"code": "bad_request", "message": "…", "details": […]}}
//! ```
//!
//! Access (DESIGN §9): in the paper profile bound to loopback, read-only routes are
//! open; audit routes need an auditor or operator token; every route that changes
//! state needs an operator token. In testnet and live, and whenever the listen
//! address is not loopback, every route needs a token — except `/healthz` (liveness
//! probes carry no token; it says only `{"ok": true}`) and the dashboard page itself
//! (static HTML with no data; its scripts ask for a token).

mod error;
mod extract;
mod handlers;
pub mod openapi;
mod stream;
pub mod telemetry;

pub use error::ApiError;
pub use extract::{JsonBody, QueryArgs};

use crate::driver::Control;
use crate::journal::Reader;
use crate::secrets::{Identity, Role, Secrets};
use crate::view::{Snapshot, StreamEvent};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get, patch, post};
use propbot_engine::config::{Profile, StatusThresholds};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// Largest request body accepted.
pub const BODY_MAX_BYTES: usize = 1024 * 1024;
/// How long a handler waits for the engine to answer a command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Anyone, in every mode.
    Open,
    /// Viewer, auditor or operator (anyone in the open paper mode).
    Read,
    /// Auditor or operator.
    Audit,
    /// Operator only.
    Operate,
}

impl Access {
    /// The role needed, or `None` when no token is needed in this mode.
    pub fn needs(self, mode: AccessMode) -> Option<Role> {
        match (self, mode) {
            (Access::Open, _) | (Access::Read, AccessMode::OpenRead) => None,
            (Access::Read, AccessMode::Token) => Some(Role::Viewer),
            (Access::Audit, _) => Some(Role::Auditor),
            (Access::Operate, _) => Some(Role::Operator),
        }
    }

    /// Name for the OpenAPI document.
    pub const fn name(self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::Read => "viewer",
            Access::Audit => "auditor",
            Access::Operate => "operator",
        }
    }
}

/// Whether read-only routes are open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessMode {
    /// Paper profile on a loopback address: reads need no token.
    OpenRead,
    /// Every route needs a token.
    Token,
}

impl AccessMode {
    /// DESIGN §9: open reads only for paper on loopback.
    pub fn for_deployment(profile: Profile, listen: std::net::SocketAddr) -> AccessMode {
        if profile == Profile::Paper && listen.ip().is_loopback() {
            AccessMode::OpenRead
        } else {
            AccessMode::Token
        }
    }

    /// Name shown in status.
    pub const fn name(self) -> &'static str {
        match self {
            AccessMode::OpenRead => "open-read",
            AccessMode::Token => "token",
        }
    }
}

/// An instrument as the control patch names it.
#[derive(Clone, Debug)]
pub struct InstrumentInfo {
    /// Canonical name.
    pub name: String,
    /// Venue symbols.
    pub symbols: Vec<String>,
}

/// What handlers share.
pub struct Shared {
    /// Latest status snapshot.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The engine's control channel (read before market data).
    pub control: mpsc::Sender<Control>,
    /// Live events.
    pub stream: broadcast::Sender<StreamEvent>,
    /// Tokens.
    pub secrets: Secrets,
    /// Access mode.
    pub access: AccessMode,
    /// Journal reader.
    pub reader: Reader,
    /// Request latencies.
    pub telemetry: telemetry::Telemetry,
    /// Status thresholds configs are validated with.
    pub thresholds: StatusThresholds,
    /// Profile (configs of another profile are refused).
    pub profile: Profile,
    /// Instruments.
    pub instruments: Vec<InstrumentInfo>,
    /// WebSocket stream clients connected (bounded by `stream::STREAM_CLIENTS_MAX`).
    pub stream_clients: std::sync::atomic::AtomicUsize,
}

/// Handler state.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl AppState {
    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.0.snapshots.borrow().clone()
    }
}

/// One route: how it is documented and who may call it.
#[derive(Clone, Debug)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// Request body, described (JSON) — `None` for no body.
    pub body: Option<&'static str>,
    /// Query parameters: (name, description).
    pub query: &'static [(&'static str, &'static str)],
    /// Response content type.
    pub produces: &'static str,
}

const JSON: &str = "application/json";

macro_rules! spec {
    ($m:ident $path:literal $access:ident $summary:literal) => {
        RouteSpec {
            method: Method::$m,
            path: $path,
            access: Access::$access,
            summary: $summary,
            body: None,
            query: &[],
            produces: JSON,
        }
    };
}

/// The route table: every route, its access class, its docs and its handler.
pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use handlers as h;
    let doc = |name: &'static str| get(move |s: State<AppState>| h::doc(s, name));
    let with_body = |s: RouteSpec, b: &'static str| RouteSpec { body: Some(b), ..s };
    vec![
        (
            RouteSpec {
                produces: "text/html",
                ..spec!(GET "/" Open "Redirects to the dashboard.")
            },
            get(h::root),
        ),
        (
            RouteSpec {
                produces: "text/html",
                ..spec!(GET "/ui" Open "The dashboard (HTML; its scripts read the API).")
            },
            get(h::dashboard),
        ),
        (
            spec!(GET "/healthz" Open "Liveness: {\"ok\": true}."),
            get(h::healthz),
        ),
        (
            spec!(GET "/api/health" Read "Health with journal head, epoch and engine counters."),
            doc("health"),
        ),
        (
            spec!(GET "/live-readiness" Read "Live readiness: GREEN/YELLOW/RED with reasons."),
            doc("readiness"),
        ),
        (
            RouteSpec {
                produces: "text/plain; version=0.0.4",
                ..spec!(GET "/metrics" Read "Prometheus text: engine counters, component states, SLO, latency histograms.")
            },
            get(h::metrics),
        ),
        (
            spec!(GET "/metrics/latency" Read "Latency histogram buckets per endpoint and per engine step."),
            get(h::metrics_latency),
        ),
        (
            spec!(GET "/openapi.json" Read "This document."),
            get(h::openapi),
        ),
        (
            spec!(GET "/api/opportunities" Read "Opportunities per instrument and direction, before and after risk."),
            doc("opportunities"),
        ),
        (
            spec!(GET "/api/ui/status/overview" Read "System Status overview (SUPER_SPEC §10.1) with HOLD flags and the last resume request."),
            doc("overview"),
        ),
        (
            spec!(GET "/api/ui/status/components" Read "Status components (≥ 20, groups P0–P3) and recent incidents."),
            doc("components"),
        ),
        (
            spec!(GET "/api/ui/status/slo" Read "SLO figures, targets and breaches."),
            doc("slo"),
        ),
        (
            spec!(GET "/api/ui/state" Read "Runtime state: mode, flags, risk limits, positions, PnL, journal."),
            doc("state"),
        ),
        (
            spec!(GET "/api/ui/execution" Read "Tracked orders and execution figures."),
            doc("execution"),
        ),
        (
            spec!(GET "/api/ui/pnl" Read "PnL totals and per position."),
            doc("pnl"),
        ),
        (
            spec!(GET "/api/ui/exposure" Read "Gross exposure per instrument and in total, against caps."),
            doc("exposure"),
        ),
        (
            spec!(GET "/api/ui/control-state" Read "Mode, safe mode, dry run, two-man rule, loop settings."),
            doc("control_state"),
        ),
        (
            spec!(GET "/api/ui/limits" Read "Risk caps, rate limits, runaway breaker, table bounds."),
            doc("limits"),
        ),
        (
            spec!(GET "/api/ui/universe" Read "Instruments and venue listings."),
            doc("universe"),
        ),
        (
            spec!(GET "/api/ui/approvals" Read "Two-man approvals (pending and confirmed)."),
            doc("approvals"),
        ),
        (
            spec!(GET "/api/ui/positions" Read "Positions and PnL per venue and instrument."),
            doc("positions"),
        ),
        (
            spec!(GET "/api/ui/alerts" Read "Active alerts and alert history."),
            doc("alerts"),
        ),
        (
            spec!(GET "/api/ui/recon/status" Read "Reconciliation status per venue (OK/MISMATCH/PENDING, diff_count)."),
            doc("recon"),
        ),
        (
            RouteSpec {
                produces: "websocket",
                ..spec!(GET "/api/ui/stream" Read "WebSocket: a status tick every second plus events (hold, resume, alert, fill, approval). Browsers pass the token as ?access_token=.")
            },
            get(stream::stream),
        ),
        (
            spec!(GET "/api/ui/ops_report" Read "Operations report: runtime, two-man status, exposure, PnL, recent operator actions."),
            get(h::ops_report),
        ),
        (
            RouteSpec {
                produces: "text/csv",
                ..spec!(GET "/api/ui/ops_report.csv" Read "The operations report as CSV (section,key,value).")
            },
            get(h::ops_report_csv),
        ),
        (
            spec!(GET "/api/ui/audit_snapshot" Audit "Audit snapshot: mode, flags, exposure, approvals, universe and the audit trail."),
            get(h::audit_snapshot),
        ),
        (
            RouteSpec {
                query: &[
                    ("format", "csv or json (default json)"),
                    ("limit", "1..=10000 newest events (default 500)"),
                ],
                produces: "application/json or text/csv",
                ..spec!(GET "/api/ui/events/export" Audit "Export of the newest journal events with their chain hashes.")
            },
            get(h::events_export),
        ),
        (
            with_body(
                spec!(POST "/api/ui/config/validate" Operate "Validate a config; 422 lists every error with its path."),
                "{\"yaml\": \"<config YAML>\"}",
            ),
            post(h::config_validate),
        ),
        (
            with_body(
                spec!(POST "/api/ui/config/apply" Operate "Validate, store a backup and hot-apply a config; returns a rollback_token."),
                "{\"yaml\": \"<config YAML>\"}",
            ),
            post(h::config_apply),
        ),
        (
            with_body(
                spec!(POST "/api/ui/config/rollback" Operate "Restore the config before the apply named by rollback_token, or before the latest apply."),
                "{\"rollback_token\": \"<token>\"} or {}",
            ),
            post(h::config_rollback),
        ),
        (
            with_body(
                spec!(POST "/api/ui/hold" Operate "Enter HOLD (safe mode on, resting orders cancelled)."),
                "{\"reason\": \"…\"} (optional)",
            ),
            post(h::hold),
        ),
        (
            with_body(
                spec!(POST "/api/ui/resume-request" Operate "Two-man step 1: request a resume (the caller is the requester)."),
                "{\"reason\": \"…\"}",
            ),
            post(h::resume_request),
        ),
        (
            with_body(
                spec!(POST "/api/ui/resume-confirm" Operate "Two-man step 2: a different operator confirms with the approval token (401 on a bad token)."),
                "{\"request_id\": 1, \"token\": \"<APPROVE_TOKEN>\"}",
            ),
            post(h::resume_confirm),
        ),
        (
            with_body(
                spec!(POST "/api/ui/resume" Operate "Leave HOLD once a confirmed request exists and nothing blocks."),
                "{} (optional)",
            ),
            post(h::resume),
        ),
        (
            with_body(
                spec!(POST "/api/ui/kill" Operate "Kill switch: {reason} requests; {request_id, token} by another operator confirms (HOLD, cancel all, flatten)."),
                "{\"reason\": \"…\"} or {\"request_id\": 1, \"token\": \"<APPROVE_TOKEN>\"}",
            ),
            post(h::kill),
        ),
        (
            with_body(
                spec!(PATCH "/api/ui/control" Operate "Mode HOLD/RUN and safe runtime fields (paper/testnet with safe mode on only)."),
                "{\"mode\": \"HOLD\"|\"RUN\", \"dry_run_only\": true, \"order_notional_usdt\": \"100\", \"min_spread_bps\": \"1.2\", \"loop_pair\": \"BTCUSDT\", \"loop_venues\": [\"binance-um\", \"okx-swap\"]}. Money fields are decimal strings (at most 8 decimals for USDT, 2 for bps); a JSON number is also accepted and read from its literal text, never through a float. Exponents, NaN and excess decimals are refused with 422.",
            ),
            patch(h::control_patch),
        ),
    ]
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for (spec, method_router) in routes() {
        let path = spec.path;
        let guarded = method_router.layer(middleware::from_fn_with_state(
            (state.clone(), spec),
            authorize,
        ));
        router = router.route(path, guarded);
    }
    router
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_MAX_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            telemetry::record,
        ))
        .with_state(state)
}

/// Checks the bearer token against the route's access class and puts the
/// [`Identity`] into the request's extensions.
async fn authorize(
    State((state, spec)): State<(AppState, RouteSpec)>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if spec.access == Access::Open {
        // Open routes never look at tokens (a stale token must not fail a probe).
        request.extensions_mut().insert(Identity {
            name: "anonymous".into(),
            role: Role::Viewer,
            anonymous: true,
        });
        return Ok(next.run(request).await);
    }
    let presented = bearer(&request).or_else(|| {
        // Browsers cannot set headers on a WebSocket: the stream takes a query token.
        (spec.path == "/api/ui/stream")
            .then(|| query_token(request.uri().query()))
            .flatten()
    });
    let identity = match presented {
        Some(token) => match state.0.secrets.authenticate(&token) {
            Some(identity) => Some(identity),
            None => {
                deny(&state, &spec, None, "unauthenticated", "invalid token");
                return Err(ApiError::unauthorized("the bearer token is not valid"));
            }
        },
        None => None,
    };
    let needed = spec.access.needs(state.0.access);
    let identity = match (needed, identity) {
        (None, Some(id)) => id,
        (None, None) => Identity {
            name: "anonymous".into(),
            role: Role::Viewer,
            anonymous: true,
        },
        (Some(_), None) => {
            deny(&state, &spec, None, "unauthenticated", "no token");
            return Err(ApiError::unauthorized(
                "this route needs a bearer token: Authorization: Bearer <token>",
            ));
        }
        (Some(role), Some(id)) if id.role < role => {
            deny(&state, &spec, Some(&id), "forbidden", role.name());
            return Err(ApiError::forbidden(&format!(
                "{} has role {}; this route needs {}",
                id.name,
                id.role.name(),
                role.name()
            )));
        }
        (Some(_), Some(id)) => id,
    };
    request.extensions_mut().insert(identity);
    Ok(next.run(request).await)
}

/// Refused attempts at state-changing routes go to the audit log.
fn deny(state: &AppState, spec: &RouteSpec, id: Option<&Identity>, status: &str, why: &str) {
    if spec.access != Access::Operate {
        return;
    }
    let entry = crate::journal::AuditEntry {
        ts: crate::clock::wall_clock().0,
        actor: id.map_or_else(|| "unknown".into(), |i| i.name.clone()),
        role: id.map_or_else(|| "none".into(), |i| i.role.name().into()),
        action: format!("{} {}", spec.method, spec.path),
        status: status.into(),
        detail: format!("refused at the API: {why}"),
    };
    // Best effort: an audit entry never blocks a response.
    let _ = state.0.control.try_send(Control::Audit(entry));
}

fn bearer(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("access_token="))
        .map(str::to_owned)
}
