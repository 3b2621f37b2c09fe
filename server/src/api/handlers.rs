//! Route handlers. Reads clone pre-rendered snapshot documents; commands go to the
//! engine task through its bounded channel and are answered after their journal
//! records are durable.

use super::{ApiError, AppState, COMMAND_TIMEOUT, JsonBody, QueryArgs};
use crate::driver::{Command, CommandKind, Control, Outcome};
use crate::journal::EXPORT_ROWS_MAX;
use crate::secrets::Identity;
use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use propbot_engine::config::Config;
use propbot_engine::input::{ControlPatch, OperatorAction};
use propbot_engine::model::{
    CentiBps, Decimal, InstrumentId, NOTIONAL_SCALE, Notional, parse_decimal,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The dashboard page (HTML, CSS and script in one file, embedded in the binary).
pub const DASHBOARD_HTML: &str = include_str!("../../assets/dashboard.html");
/// Longest free-text reason accepted.
const REASON_MAX_CHARS: usize = 500;

fn json_bytes(bytes: axum::body::Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A pre-rendered snapshot document.
pub async fn doc(State(s): State<AppState>, name: &'static str) -> Response {
    match s.snapshot().doc(name) {
        Some(d) => json_bytes(d.bytes.clone()),
        None => ApiError::unavailable("the engine has not published status yet").into_response(),
    }
}

pub async fn root() -> Redirect {
    Redirect::temporary("/ui")
}

pub async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD_HTML)
}

pub async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({"ok": true}))
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /openapi.json",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see /openapi.json",
    )
}

pub async fn metrics(State(s): State<AppState>) -> Response {
    let mut text = s.snapshot().metrics_text.clone();
    // The family's name and label are constants, so this fails only on a programming
    // error; the scraper then gets the API's error shape rather than half a page.
    if let Err(e) = s.0.telemetry.prometheus(&mut text) {
        return ApiError::internal(format!("rendering the request-latency metrics: {e}"))
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

pub async fn metrics_latency(State(s): State<AppState>) -> axum::Json<Value> {
    let snap = s.snapshot();
    axum::Json(json!({
        "ts": crate::journal::iso(snap.ts.0),
        "unit": "microseconds",
        "endpoints": s.0.telemetry.buckets(),
        "engine": snap.latency,
    }))
}

pub async fn openapi() -> axum::Json<Value> {
    axum::Json(super::openapi::document())
}

fn doc_value(s: &AppState, name: &str) -> Value {
    s.snapshot()
        .doc(name)
        .map_or(Value::Null, |d| d.value.clone())
}

async fn audit_rows(
    s: &AppState,
    limit: u32,
) -> Result<Vec<crate::journal::StoredAudit>, ApiError> {
    let reader = s.0.reader.clone();
    tokio::task::spawn_blocking(move || reader.audit(limit))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn ops_report_value(s: &AppState) -> Result<Value, ApiError> {
    let audit = audit_rows(s, 50).await?;
    let overview = doc_value(s, "overview");
    let control = doc_value(s, "control_state");
    Ok(json!({
        "ts": overview["ts"],
        "build_version": env!("CARGO_PKG_VERSION"),
        "runtime": {
            "profile": overview["profile"],
            "mode": overview["mode"],
            "overall": overview["overall"],
            "flags": overview["flags"],
            "hold": overview["hold"],
            "autopilot": false,
            "epoch": overview["epoch"],
        },
        "two_man": {
            "required": control["two_man_rule"],
            "last_resume_request": overview["last_resume_request"],
            "approvals": doc_value(s, "approvals")["items"],
            "resume_blockers": overview["resume_blockers"],
        },
        "exposure": doc_value(s, "exposure"),
        "pnl": doc_value(s, "pnl")["totals"],
        "positions": doc_value(s, "positions")["positions"],
        "readiness": doc_value(s, "readiness"),
        "recon": doc_value(s, "recon"),
        "alerts": overview["alerts"],
        "operator_actions": audit,
    }))
}

pub async fn ops_report(State(s): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    ops_report_value(&s).await.map(axum::Json)
}

pub async fn ops_report_csv(State(s): State<AppState>) -> Result<Response, ApiError> {
    let report = ops_report_value(&s).await?;
    let mut out = String::from("section,key,value\n");
    let mut row = |section: &str, key: &str, value: &Value| {
        let v = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        out.push_str(&format!("{},{},{}\n", csv(section), csv(key), csv(&v)));
    };
    for section in [
        "runtime",
        "two_man",
        "exposure",
        "pnl",
        "readiness",
        "recon",
    ] {
        if let Some(map) = report[section].as_object() {
            for (k, v) in map {
                row(section, k, v);
            }
        }
    }
    for (i, p) in report["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        row("positions", &i.to_string(), p);
    }
    for a in report["operator_actions"].as_array().into_iter().flatten() {
        let key = format!(
            "{} {}",
            a["ts"].as_str().unwrap_or(""),
            a["actor"].as_str().unwrap_or("")
        );
        let value = format!(
            "{} {}: {}",
            a["action"].as_str().unwrap_or(""),
            a["status"].as_str().unwrap_or(""),
            a["detail"].as_str().unwrap_or("")
        );
        row("audit", &key, &Value::String(value));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"ops_report.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// CSV field quoting (RFC 4180).
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

pub async fn audit_snapshot(State(s): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    let audit = audit_rows(&s, 100).await?;
    let snap = s.snapshot();
    let overview = doc_value(&s, "overview");
    Ok(axum::Json(json!({
        "ts": overview["ts"],
        "build_version": env!("CARGO_PKG_VERSION"),
        "mode": overview["mode"],
        "flags": overview["flags"],
        "hold": overview["hold"],
        "exposure": doc_value(&s, "exposure"),
        "positions": doc_value(&s, "positions")["positions"],
        "approvals": doc_value(&s, "approvals")["items"],
        "universe": doc_value(&s, "universe"),
        "journal": {"committed_seq": snap.head.seq,
                    "head_hash": crate::secrets::hex(&snap.head.hash)},
        "audit": audit,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    format: Option<String>,
    limit: Option<i64>,
}

pub async fn events_export(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    QueryArgs(q): QueryArgs<ExportQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(500);
    if !(1..=i64::from(EXPORT_ROWS_MAX)).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {EXPORT_ROWS_MAX}, got {limit}"
        )));
    }
    let csv_format = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "format must be csv or json, got {other:?}"
            )));
        }
    };
    let reader = s.0.reader.clone();
    let events = tokio::task::spawn_blocking(move || reader.events(limit as u32))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let _ =
        s.0.control
            .try_send(Control::Audit(crate::journal::AuditEntry {
                ts: crate::clock::wall_clock().0,
                actor: who.name.clone(),
                role: who.role.name().into(),
                action: "events-export".into(),
                status: "executed".into(),
                detail: format!(
                    "{} event(s) as {}",
                    events.len(),
                    if csv_format { "csv" } else { "json" }
                ),
            }));
    if csv_format {
        let mut out = String::from("seq,ts,epoch,kind,hash,body\n");
        for e in &events {
            out.push_str(&format!(
                "{},{},{},{},{},{}\n",
                e.seq,
                e.ts,
                e.epoch,
                e.kind,
                e.hash,
                csv(&e.body.to_string())
            ));
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"propbot-events.csv\"",
                ),
            ],
            out,
        )
            .into_response());
    }
    Ok(axum::Json(json!({"count": events.len(), "events": events})).into_response())
}

/// Sends a command to the engine and waits for its durable answer.
async fn command(s: &AppState, identity: Identity, kind: CommandKind) -> Result<Outcome, ApiError> {
    let (reply, answer) = oneshot::channel();
    let event = Control::Command(Command {
        identity,
        kind,
        reply,
    });
    tokio::time::timeout(COMMAND_TIMEOUT, s.0.control.send(event))
        .await
        .map_err(|_| ApiError::unavailable("the engine is busy; try again"))?
        .map_err(|_| ApiError::unavailable("the engine has stopped"))?;
    tokio::time::timeout(COMMAND_TIMEOUT, answer)
        .await
        .map_err(|_| ApiError::unavailable("the engine did not answer in time"))?
        .map_err(|_| ApiError::unavailable("the engine has stopped"))
}

async fn operator(
    s: &AppState,
    who: Identity,
    action: OperatorAction,
) -> Result<axum::Json<Value>, ApiError> {
    let outcome = command(s, who, CommandKind::Operator(action)).await?;
    let accepted = outcome.result.map_err(ApiError::refusal)?;
    let control = doc_value(s, "control_state");
    Ok(axum::Json(json!({
        "ok": true,
        "message": accepted.message,
        "request_id": accepted.request_id,
        "mode": control["mode"],
        "safe_mode": control["safe_mode"],
    })))
}

fn reason(text: Option<String>, default: &str) -> Result<String, ApiError> {
    let text = text.unwrap_or_default();
    if text.chars().count() > REASON_MAX_CHARS {
        return Err(ApiError::invalid(format!(
            "reason is longer than {REASON_MAX_CHARS} characters"
        )));
    }
    Ok(if text.trim().is_empty() {
        default.to_owned()
    } else {
        text
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    reason: Option<String>,
}

pub async fn hold(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    JsonBody(b): JsonBody<ReasonBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let reason = reason(b.reason, "operator hold")?;
    operator(&s, who, OperatorAction::Hold { reason }).await
}

pub async fn resume_request(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    JsonBody(b): JsonBody<ReasonBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let reason = reason(b.reason, "")?;
    if reason.is_empty() {
        return Err(ApiError::invalid("a resume request needs a reason"));
    }
    operator(&s, who, OperatorAction::ResumeRequest { reason }).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    request_id: Option<u64>,
    token: Option<String>,
    /// Accepted for compatibility with the operator docs; must name the caller.
    actor: Option<String>,
}

fn check_actor(who: &Identity, actor: Option<&str>) -> Result<(), ApiError> {
    match actor {
        Some(a) if a != who.name => Err(ApiError::forbidden(&format!(
            "actor {a:?} is not the authenticated operator ({}); the actor is always the token's name",
            who.name
        ))),
        _ => Ok(()),
    }
}

/// The newest pending request of a kind, when the caller did not name one.
fn pending_request(s: &AppState, kind: &str) -> Option<u64> {
    doc_value(s, "approvals")["items"]
        .as_array()?
        .iter()
        .filter(|a| a["kind"] == kind && a["status"] == "pending")
        .filter_map(|a| a["request_id"].as_u64())
        .max()
}

pub async fn resume_confirm(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    JsonBody(b): JsonBody<ConfirmBody>,
) -> Result<axum::Json<Value>, ApiError> {
    check_actor(&who, b.actor.as_deref())?;
    let token = b
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid("token (the approval token) is required"))?;
    let request_id = b
        .request_id
        .or_else(|| pending_request(&s, "Resume"))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_such_request",
                "no pending resume request",
            )
        })?;
    operator(&s, who, OperatorAction::ResumeConfirm { request_id, token }).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

pub async fn resume(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    JsonBody(_): JsonBody<EmptyBody>,
) -> Result<axum::Json<Value>, ApiError> {
    operator(&s, who, OperatorAction::Resume).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillBody {
    reason: Option<String>,
    request_id: Option<u64>,
    token: Option<String>,
    actor: Option<String>,
}

pub async fn kill(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    JsonBody(b): JsonBody<KillBody>,
) -> Result<axum::Json<Value>, ApiError> {
    check_actor(&who, b.actor.as_deref())?;
    match b.token {
        Some(token) => {
            if b.reason.is_some() {
                return Err(ApiError::invalid(
                    "send either {reason} (request) or {request_id, token} (confirm), not both",
                ));
            }
            let request_id = b
                .request_id
                .or_else(|| pending_request(&s, "Kill"))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "no_such_request",
                        "no pending kill request",
                    )
                })?;
            operator(&s, who, OperatorAction::KillConfirm { request_id, token }).await
        }
        None => {
            if b.request_id.is_some() {
                return Err(ApiError::invalid(
                    "confirming a kill needs the approval token",
                ));
            }
            let reason = reason(b.reason, "")?;
            if reason.is_empty() {
                return Err(ApiError::invalid("a kill request needs a reason"));
            }
            operator(&s, who, OperatorAction::KillRequest { reason }).await
        }
    }
}

/// The body of `PATCH /api/ui/control`. Money fields are decimal text parsed straight
/// into fixed point, never through `f64`: a JSON string (`"1234.5678"`, the documented
/// form) or, for compatibility, a JSON number taken from its literal text, which is why
/// they are kept raw here and parsed by [`decimal_field`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlBody {
    mode: Option<String>,
    safe_mode: Option<bool>,
    dry_run_only: Option<bool>,
    order_notional_usdt: Option<Box<RawValue>>,
    min_spread_bps: Option<Box<RawValue>>,
    loop_pair: Option<String>,
    loop_venues: Option<Vec<String>>,
}

/// Largest order notional a patch may ask for (the engine also caps it at the
/// per-symbol risk cap).
const PATCH_NOTIONAL_MAX: Notional = Notional::from_usd(1_000_000);
/// Widest entry threshold a patch may set, either sign.
const PATCH_SPREAD_MAX: CentiBps = CentiBps::from_bps(1_000);
/// Decimals of a `*_bps` field: hundredths of a basis point ([`CentiBps`]).
const BPS_SCALE: u8 = 2;

fn patch_of(s: &AppState, b: &ControlBody) -> Result<Option<ControlPatch>, ApiError> {
    let mut p = ControlPatch {
        dry_run: b.dry_run_only,
        safe_mode: b.safe_mode,
        ..ControlPatch::default()
    };
    if let Some(raw) = &b.order_notional_usdt {
        let n = Notional::from_raw(decimal_field("order_notional_usdt", raw, NOTIONAL_SCALE)?);
        if !n.is_positive() || n > PATCH_NOTIONAL_MAX {
            return Err(ApiError::invalid(format!(
                "order_notional_usdt must be in (0, {}], got {}",
                PATCH_NOTIONAL_MAX.display(),
                n.display()
            )));
        }
        p.order_notional = Some(n);
    }
    if let Some(raw) = &b.min_spread_bps {
        let x = CentiBps::from_raw(decimal_field("min_spread_bps", raw, BPS_SCALE)?);
        if x.checked_abs().is_none_or(|abs| abs > PATCH_SPREAD_MAX) {
            let bps = |c: CentiBps| Decimal {
                raw: c.raw(),
                scale: BPS_SCALE,
            };
            return Err(ApiError::invalid(format!(
                "min_spread_bps must be within ±{}, got {}",
                bps(PATCH_SPREAD_MAX),
                bps(x)
            )));
        }
        p.min_spread = Some(x);
    }
    if let Some(pair) = &b.loop_pair {
        let found =
            s.0.instruments
                .iter()
                .position(|i| i.name == *pair || i.symbols.iter().any(|sym| sym == pair))
                .ok_or_else(|| {
                    ApiError::invalid(format!("loop_pair {pair:?} is not a configured instrument"))
                })?;
        p.loop_pair = Some(InstrumentId(found as u16));
    }
    if let Some(venues) = &b.loop_venues {
        let current = doc_value(s, "control_state")["loop_venues"].clone();
        let mut want: Vec<&str> = venues.iter().map(String::as_str).collect();
        let mut have: Vec<&str> = current
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            return Err(ApiError::invalid(
                "loop_venues cannot change at run time (apply a config with strategy.loop_venues)",
            ));
        }
    }
    let empty = p == ControlPatch::default();
    Ok((!empty).then_some(p))
}

/// Parses the money field `field` of a request body into an integer count of
/// `10^-scale` units: a JSON string of decimal text, or a JSON number read from its
/// literal text (so `100.1` is 100.1 exactly, and `1e400` is refused rather than
/// rounded). Anything else, and text that is not a plain decimal with at most `scale`
/// decimals, is a 422 naming the field.
fn decimal_field(field: &str, raw: &RawValue, scale: u8) -> Result<i64, ApiError> {
    let literal = raw.get();
    let text = if literal.starts_with('"') {
        // A string: its JSON escapes undone (the body already parsed, so this cannot fail).
        serde_json::from_str::<String>(literal)
            .map_err(|e| ApiError::bad_request(format!("{field}: {e}")))?
    } else if literal.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        literal.to_owned()
    } else {
        return Err(ApiError::invalid(format!(
            "{field} must be a decimal string such as \"100.5\", got {literal}"
        )));
    };
    parse_decimal(&text, scale).map_err(|e| {
        ApiError::invalid(format!(
            "{field}: {e}; send a plain decimal string such as \"100.5\" with at most {scale} decimals"
        ))
    })
}

pub async fn control_patch(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    JsonBody(b): JsonBody<ControlBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let mode = match b.mode.as_deref() {
        None => None,
        Some(m) if m.eq_ignore_ascii_case("hold") => Some(true),
        Some(m) if m.eq_ignore_ascii_case("run") => Some(false),
        Some(m) => {
            return Err(ApiError::invalid(format!(
                "mode must be HOLD or RUN, got {m:?}"
            )));
        }
    };
    let patch = patch_of(&s, &b)?;
    if patch.is_none() && mode.is_none() {
        return Err(ApiError::invalid(
            "nothing to change: send mode and/or control fields",
        ));
    }
    let mut last = None;
    if let Some(p) = patch {
        last = Some(operator(&s, who.clone(), OperatorAction::ControlPatch(p)).await?);
    }
    match mode {
        Some(true) => {
            let reason = "PATCH /api/ui/control mode=HOLD".to_owned();
            last = Some(operator(&s, who, OperatorAction::Hold { reason }).await?);
        }
        Some(false) => last = Some(operator(&s, who, OperatorAction::Resume).await?),
        None => {}
    }
    Ok(last.expect("a patch or a mode was sent"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    yaml: Option<String>,
}

fn validate(s: &AppState, yaml: Option<String>) -> Result<(String, Config), ApiError> {
    let yaml = yaml
        .filter(|y| !y.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("yaml (the config document) is required"))?;
    let config = Config::from_yaml(&yaml, s.0.thresholds.clone()).map_err(|errors| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            format!("{} invalid value(s); nothing was applied", errors.0.len()),
        )
        .with_details(serde_json::to_value(&errors.0).unwrap_or_default())
    })?;
    if config.profile != s.0.profile {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            format!(
                "the config is for profile {} but this service runs {}; the profile changes only with a restart",
                config.profile.name(),
                s.0.profile.name()
            ),
        ));
    }
    Ok((yaml, config))
}

pub async fn config_validate(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<ConfigBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let (_, config) = validate(&s, b.yaml)?;
    Ok(axum::Json(
        json!({"ok": true, "profile": config.profile.name()}),
    ))
}

async fn apply(
    s: &AppState,
    who: Identity,
    yaml: String,
    config: Config,
    kind: &'static str,
) -> Result<axum::Json<Value>, ApiError> {
    let kind = CommandKind::Config {
        yaml,
        config: Box::new(config),
        kind,
    };
    let outcome = command(s, who, kind).await?;
    let accepted = outcome.result.map_err(ApiError::refusal)?;
    let (version, token) = outcome
        .config
        .ok_or_else(|| ApiError::internal("config applied without a version"))?;
    Ok(axum::Json(json!({
        "ok": true,
        "message": accepted.message,
        "version": version,
        "rollback_token": token,
    })))
}

pub async fn config_apply(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    JsonBody(b): JsonBody<ConfigBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let (yaml, config) = validate(&s, b.yaml)?;
    apply(&s, who, yaml, config, "apply").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    rollback_token: Option<String>,
}

pub async fn config_rollback(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    JsonBody(b): JsonBody<RollbackBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let reader = s.0.reader.clone();
    let token = b.rollback_token.clone();
    let stored = tokio::task::spawn_blocking(move || reader.config_to_roll_back(token.as_deref()))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let stored = stored.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_version",
            match b.rollback_token {
                Some(_) => "no applied config has that rollback_token",
                None => "no config has been applied: nothing to roll back",
            },
        )
    })?;
    let backup = stored
        .backup_yaml
        .ok_or_else(|| ApiError::internal("the stored version has no backup"))?;
    let (yaml, config) = validate(&s, Some(backup))?;
    let mut out = apply(&s, who, yaml, config, "rollback").await?;
    out.0["rolled_back_version"] = json!(stored.version);
    Ok(out)
}
