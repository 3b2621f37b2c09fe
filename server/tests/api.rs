//! HTTP API tests at the boundary (`tower::ServiceExt::oneshot` on `app(state)`), on a
//! real in-process service: engine thread, SQLite journal, paper market. Every route
//! of the route table is exercised here or in `access.rs`.

mod common;

use axum::http::StatusCode;
use common::*;
use propbot_engine::config::PAPER_YAML;
use serde_json::{Value, json};
use std::time::Duration;

fn keys(v: &Value, want: &[&str]) {
    for k in want {
        assert!(v.get(*k).is_some(), "missing {k:?} in {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_routes_have_the_operator_spec_shapes() {
    let h = start(Mode::OpenRead).await;
    let o = h.get("/api/ui/status/overview").await;
    keys(
        &o,
        &[
            "ts",
            "overall",
            "scores",
            "slo",
            "components",
            "alerts",
            "hold_active",
            "flags",
            "last_resume_request",
            "resume_blockers",
            "readiness",
        ],
    );
    assert!(o["ts"].as_str().unwrap().ends_with('Z'));
    assert_eq!(o["overall"], "HOLD", "boots in HOLD");
    assert_eq!(o["hold_active"], true);
    assert_eq!(o["flags"]["safe_mode"], true);
    for g in ["P0", "P1", "P2", "P3"] {
        let s = o["scores"][g].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&s));
    }
    keys(
        &o["slo"],
        &[
            "ws_gap_ms_p95",
            "order_cycle_ms_p95",
            "reject_rate",
            "cancel_fail_rate",
            "recon_mismatch",
            "max_day_drawdown_bps",
            "budget_remaining",
        ],
    );
    let components = o["components"].as_array().unwrap();
    assert!(components.len() >= 20, "{}", components.len());
    for c in components {
        keys(
            c,
            &[
                "id", "title", "group", "status", "summary", "metrics", "links",
            ],
        );
        assert!(["OK", "WARN", "ERROR", "HOLD"].contains(&c["status"].as_str().unwrap()));
    }
    let groups: std::collections::BTreeSet<_> = components
        .iter()
        .map(|c| c["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups.len(), 4);
    let c = h.get("/api/ui/status/components").await;
    assert_eq!(c["components"].as_array().unwrap().len(), components.len());
    keys(&c, &["ts", "incidents"]);
    let s = h.get("/api/ui/status/slo").await;
    keys(&s, &["ts", "slo", "targets", "breaches"]);
    // Components update: the snapshot is republished as the engine runs.
    let first = h.get("/api/ui/status/overview").await["ts"].clone();
    h.wait_for("a newer snapshot", Duration::from_secs(5), async |h| {
        h.get("/api/ui/status/overview").await["ts"] != first
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_openapi() {
    let h = start(Mode::OpenRead).await;
    let (s, v) = h.call("GET", "/healthz", None, None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"ok": true})));
    let health = h.get("/api/health").await;
    assert_eq!(health["ok"], true);
    assert!(health["journal"]["committed_seq"].as_u64().unwrap() >= 1);
    let r = h.get("/live-readiness").await;
    assert!(
        ["GREEN", "YELLOW", "RED"].contains(&r["status"].as_str().unwrap()),
        "{r}"
    );
    assert_eq!(r["ready"], r["status"] == "GREEN");
    assert!(r["reasons"].is_array());
    let (s, text) = h.raw("GET", "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    for needle in [
        "# TYPE propbot_component_status gauge",
        // The encoder writes a series' label pairs sorted by label name.
        "propbot_component_status{group=\"P",
        "\",id=\"journal\"}",
        "propbot_engine_events_total",
        "propbot_slo{name=\"ws_gap_ms_p95\"}",
        "readiness_status{status=",
        "propbot_engine_step_seconds_bucket",
        "propbot_http_request_seconds_bucket{route=\"GET /api/health\"",
    ] {
        assert!(
            text.contains(needle),
            "missing {needle} in /metrics:\n{text}"
        );
    }
    unhedged_families_name_every_traded_instrument(&h, &text).await;
    let l = h.get("/metrics/latency").await;
    assert!(
        l["endpoints"]["GET /api/health"]["count"].as_u64().unwrap() >= 1,
        "{l}"
    );
    assert!(
        l["engine"]["engine_step_us"]["buckets"]
            .as_array()
            .unwrap()
            .len()
            >= 10
    );
    let doc = h.get("/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    for (spec, _) in propbot_server::api::routes() {
        let op = &doc["paths"][spec.path][spec.method.as_str().to_lowercase()];
        assert!(
            op["summary"].is_string(),
            "{} {} undocumented",
            spec.method,
            spec.path
        );
        assert_eq!(op["x-access"], spec.access.name());
    }
    let (s, html) = h.raw("GET", "/ui", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("PropBot") && html.contains("/api/ui/stream"));
    let (s, _) = h.raw("GET", "/", None, None).await;
    assert_eq!(s, StatusCode::TEMPORARY_REDIRECT);
    h.stop().await;
}

/// The unhedged-exposure gauges have one series per traded instrument, labelled with
/// its name; a fresh paper service (in HOLD) holds no naked position.
async fn unhedged_families_name_every_traded_instrument(h: &Harness, text: &str) {
    let universe = h.get("/api/ui/universe").await;
    let traded: Vec<&str> = universe["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["traded"] == true)
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(!traded.is_empty(), "{universe}");
    for family in [
        "propbot_unhedged_notional_usd",
        "propbot_unhedged_age_seconds",
        "propbot_unwind_escalated",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} gauge\n")),
            "missing the {family} family in /metrics:\n{text}"
        );
        for name in &traded {
            let series = format!("{family}{{instrument=\"{name}\"}} ");
            let value = text
                .lines()
                .find_map(|line| line.strip_prefix(series.as_str()))
                .unwrap_or_else(|| panic!("missing {series} in /metrics:\n{text}"));
            assert_eq!(value.parse::<f64>(), Ok(0.0), "{series}{value}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_reads_answer_with_their_shapes() {
    let h = start(Mode::OpenRead).await;
    keys(
        &h.get("/api/ui/state").await,
        &[
            "mode", "flags", "risk", "pnl", "control", "journal", "epoch",
        ],
    );
    keys(
        &h.get("/api/ui/execution").await,
        &["orders", "open_orders", "fills", "deadman"],
    );
    keys(
        &h.get("/api/ui/pnl").await["totals"],
        &["realized_usd", "unrealized_usd", "fees_usd", "net_usd"],
    );
    keys(
        &h.get("/api/ui/exposure").await,
        &["per_symbol", "total_usd", "total_cap_usd"],
    );
    let cs = h.get("/api/ui/control-state").await;
    keys(
        &cs,
        &[
            "mode",
            "safe_mode",
            "dry_run",
            "two_man_rule",
            "loop_pair",
            "loop_venues",
            "order_notional_usdt",
            "min_spread_bps",
        ],
    );
    assert_eq!(cs["loop_pair"], "BTCUSDT");
    keys(
        &h.get("/api/ui/limits").await["risk"],
        &["per_symbol_usd", "total_usd", "daily_loss_usd"],
    );
    assert!(
        h.get("/api/ui/universe").await["instruments"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
    let a = h.get("/api/ui/approvals").await;
    assert_eq!(a["two_man_resume_required"], true);
    keys(&h.get("/api/ui/positions").await, &["positions", "pnl"]);
    keys(&h.get("/api/ui/alerts").await, &["active", "history"]);
    h.wait_for("reconciliation", Duration::from_secs(10), async |h| {
        h.get("/api/ui/recon/status").await["status"] == "OK"
    })
    .await;
    let r = h.get("/api/ui/recon/status").await;
    assert_eq!(r["diff_count"], 0);
    assert_eq!(r["venues"].as_array().unwrap().len(), 2);
    let o = h.get("/api/opportunities").await;
    let rows = o["opportunities"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "both directions of the traded pair");
    keys(
        &rows[0],
        &[
            "buy_venue",
            "sell_venue",
            "net_edge_bps",
            "qty_before_risk",
            "qty_after_risk",
            "blocked",
            "blocked_by_risk",
        ],
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_man_resume_then_hold_and_refusals_map_to_statuses() {
    let h = start(Mode::OpenRead).await;
    // Resume without a confirmed request: 409.
    let (s, v) = h.call("POST", "/api/ui/resume", Some(ALICE), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_error(&v, "not_approved");
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/resume-request",
            Some(ALICE),
            Some(json!({"reason": "ready"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["request_id"].as_u64().unwrap();
    assert_eq!(
        h.get("/api/ui/status/overview").await["last_resume_request"]["requested_by"],
        "alice"
    );
    // The requester cannot confirm its own request, whatever actor it claims.
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/resume-confirm",
            Some(ALICE),
            Some(json!({"request_id": id, "token": APPROVE})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_error(&v, "same_actor");
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/resume-confirm",
            Some(ALICE),
            Some(json!({"request_id": id, "token": APPROVE, "actor": "bob"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // A bad approval token is 401 and HOLD stays.
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/resume-confirm",
            Some(BOB),
            Some(json!({"request_id": id, "token": "wrong"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_error(&v, "bad_token");
    assert_eq!(h.get("/api/ui/control-state").await["mode"], "HOLD");
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/resume-confirm",
            Some(BOB),
            Some(json!({"request_id": 999, "token": APPROVE})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // The full flow.
    h.resume().await;
    assert_eq!(h.get("/api/ui/status/overview").await["hold_active"], false);
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/hold",
            Some(BOB),
            Some(json!({"reason": "lunch"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["mode"], "HOLD");
    let o = h.get("/api/ui/status/overview").await;
    assert_eq!(o["hold"]["reason"], "lunch");
    assert_eq!(o["hold"]["actor"], "bob");
    // Every step is in the audit trail, by the authenticated names.
    let audit = h
        .call("GET", "/api/ui/audit_snapshot", Some(AUDIT), None)
        .await
        .1;
    let trail: Vec<(String, String, String)> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["actor"].as_str().unwrap().into(),
                a["action"].as_str().unwrap().into(),
                a["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    for want in [
        ("alice", "resume-request", "requested"),
        ("alice", "resume-confirm", "denied"),
        ("bob", "resume-confirm", "approved"),
        ("bob", "resume", "executed"),
        ("bob", "hold", "executed"),
    ] {
        assert!(
            trail
                .iter()
                .any(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()) == want),
            "{want:?} not in {trail:?}"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_needs_two_operators() {
    let h = start(Mode::OpenRead).await;
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/kill",
            Some(ALICE),
            Some(json!({"reason": "drill"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["request_id"].as_u64().unwrap();
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/kill",
            Some(ALICE),
            Some(json!({"request_id": id, "token": APPROVE})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/kill",
            Some(BOB),
            // No request_id: the newest pending kill request is confirmed.
            Some(json!({"token": APPROVE})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(h.get("/api/ui/control-state").await["killed"], true);
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/kill",
            Some(BOB),
            Some(json!({"reason": "x", "token": APPROVE})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_patch_changes_safe_fields_only() {
    let h = start(Mode::OpenRead).await;
    let (s, v) = h.call("PATCH", "/api/ui/control", Some(ALICE), Some(json!({"order_notional_usdt": 50, "min_spread_bps": 2.5, "dry_run_only": true, "loop_pair": "BTCUSDT", "loop_venues": ["okx-swap", "binance-um"]}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let cs = h.get("/api/ui/control-state").await;
    assert_eq!(cs["order_notional_usdt"], 50.0);
    assert_eq!(cs["min_spread_bps"], 2.5);
    // Out of range, unknown fields (the runbook's retired `pair`), bad types: 4xx, same shape.
    for (body, status, code) in [
        (
            json!({"order_notional_usdt": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            json!({"min_spread_bps": 1e9}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            json!({"loop_pair": "DOGEUSDT"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            json!({"loop_venues": ["binance-um"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            json!({"mode": "FAST"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"),
        (
            json!({"pair": "BTCUSDT"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"order_notional_usdt": "lots"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            json!({"safe_mode": false}),
            StatusCode::FORBIDDEN,
            "not_allowed",
        ),
    ] {
        let (s, v) = h
            .call("PATCH", "/api/ui/control", Some(ALICE), Some(body.clone()))
            .await;
        assert_eq!(s, status, "{body} → {v}");
        assert_error(&v, code);
    }
    let (s, v) = h
        .call(
            "PATCH",
            "/api/ui/control",
            Some(ALICE),
            Some(json!({"mode": "RUN"})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "RUN without a two-man approval: {v}"
    );
    let (s, v) = h
        .call(
            "PATCH",
            "/api/ui/control",
            Some(ALICE),
            Some(json!({"mode": "HOLD"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_validate_apply_rollback() {
    let h = start(Mode::OpenRead).await;
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/config/validate",
            Some(ALICE),
            Some(json!({"yaml": PAPER_YAML})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], true);
    let broken = PAPER_YAML
        .replace("clock_skew_guard_ms: 200", "clock_skew_guard_ms: -5")
        .replace("order_notional_usdt: 100", "order_notional_usdt: lots");
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/config/validate",
            Some(ALICE),
            Some(json!({"yaml": broken})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_error(&v, "invalid_config");
    let paths: Vec<&str> = v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.contains("clock_skew_guard_ms")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.contains("order_notional_usdt")),
        "{paths:?}"
    );
    // A config that fails validation is never applied.
    let version = h.get("/api/ui/control-state").await["config_version"].clone();
    let (s, _) = h
        .call(
            "POST",
            "/api/ui/config/apply",
            Some(ALICE),
            Some(json!({"yaml": broken})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        h.get("/api/ui/control-state").await["config_version"],
        version
    );
    // Nothing applied yet: nothing to roll back.
    let (s, v) = h
        .call("POST", "/api/ui/config/rollback", Some(ALICE), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // Apply: hot, versioned, with a rollback token.
    let v2 = PAPER_YAML.replace("order_notional_usdt: 100", "order_notional_usdt: 80");
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/config/apply",
            Some(ALICE),
            Some(json!({"yaml": v2})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let token1 = v["rollback_token"].as_str().unwrap().to_owned();
    assert_eq!(v["version"], 1);
    assert_eq!(
        h.get("/api/ui/control-state").await["order_notional_usdt"],
        80.0
    );
    let v3 = PAPER_YAML.replace("order_notional_usdt: 100", "order_notional_usdt: 60");
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/config/apply",
            Some(BOB),
            Some(json!({"yaml": v3})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        h.get("/api/ui/control-state").await["order_notional_usdt"],
        60.0
    );
    // Rollback of the latest apply restores 80; rollback by the first token restores 100.
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/config/rollback",
            Some(ALICE),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["rolled_back_version"], 2);
    assert_eq!(
        h.get("/api/ui/control-state").await["order_notional_usdt"],
        80.0
    );
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/config/rollback",
            Some(ALICE),
            Some(json!({"rollback_token": token1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        h.get("/api/ui/control-state").await["order_notional_usdt"],
        100.0
    );
    let (s, _) = h
        .call(
            "POST",
            "/api/ui/config/rollback",
            Some(ALICE),
            Some(json!({"rollback_token": "nope"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Another profile's config is refused.
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/config/apply",
            Some(ALICE),
            Some(json!({"yaml": propbot_engine::config::TESTNET_YAML})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    h.stop().await;
}

/// Sends `body` as it is (not through `serde_json::Value`, whose numbers are `f64`).
async fn patch_control(h: &Harness, body: &str) -> (StatusCode, Value) {
    let req = axum::http::Request::builder()
        .method("PATCH")
        .uri("/api/ui/control")
        .header("authorization", format!("Bearer {ALICE}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    let (s, text) = h.send(req).await;
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (s, v)
}

/// The newest `control_patched` journal record contains `raw` (its JSON text).
async fn assert_last_patch_journals(h: &Harness, raw: &str) {
    let (s, v) = h
        .call(
            "GET",
            "/api/ui/events/export?format=json&limit=20",
            Some(AUDIT),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let patches: Vec<String> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "control_patched")
        .map(|e| e["body"].to_string())
        .collect();
    assert!(
        patches.last().is_some_and(|b| b.contains(raw)),
        "{raw} not in {patches:?}"
    );
}

/// Money in a control patch is decimal text parsed straight into fixed point, never
/// through `f64`: a decimal string, or a JSON number read from its literal text, is
/// taken digit for digit (the journal records the raw integer); an exponent, junk, a
/// negative notional, excess decimals or another JSON type is a 422 naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_patch_money_is_exact_decimal_text_never_a_float() {
    let h = start(Mode::OpenRead).await;
    // Room for a 1234.5678 USDT order under the per-symbol cap.
    let yaml = PAPER_YAML.replace("per_symbol_usd: 1000", "per_symbol_usd: 2000");
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/config/apply",
            Some(ALICE),
            Some(json!({"yaml": yaml})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // (body, raw integer the journal must record, control-state figure)
    for (body, raw, shown) in [
        (
            r#"{"order_notional_usdt": "1234.5678"}"#,
            r#""order_notional":123456780000"#,
            ("order_notional_usdt", 1234.5678),
        ),
        (
            r#"{"order_notional_usdt": 999.12345678000000000000000000}"#,
            r#""order_notional":99912345678"#,
            ("order_notional_usdt", 999.12345678),
        ),
        (
            r#"{"min_spread_bps": "2.25"}"#,
            r#""min_spread":225"#,
            ("min_spread_bps", 2.25),
        ),
        (
            r#"{"min_spread_bps": 1.5}"#,
            r#""min_spread":150"#,
            ("min_spread_bps", 1.5),
        ),
    ] {
        let (s, v) = patch_control(&h, body).await;
        assert_eq!(s, StatusCode::OK, "{body} → {v}");
        assert_last_patch_journals(&h, raw).await;
        let (field, figure) = shown;
        assert_eq!(
            h.get("/api/ui/control-state").await[field],
            figure,
            "{body}"
        );
    }
    // (body, the field and the words the message must name)
    for (body, words) in [
        (r#"{"order_notional_usdt": "1e400"}"#, "not a plain decimal"),
        (r#"{"order_notional_usdt": 1e400}"#, "not a plain decimal"),
        (r#"{"order_notional_usdt": 1E2}"#, "not a plain decimal"),
        (r#"{"order_notional_usdt": "abc"}"#, "not a plain decimal"),
        (r#"{"order_notional_usdt": "NaN"}"#, "not a plain decimal"),
        (r#"{"order_notional_usdt": ""}"#, "empty number"),
        (
            r#"{"order_notional_usdt": "-5"}"#,
            "must be in (0, 1000000], got -5",
        ),
        (
            r#"{"order_notional_usdt": "0"}"#,
            "must be in (0, 1000000], got 0",
        ),
        (
            r#"{"order_notional_usdt": "1.123456789"}"#,
            "more than 8 decimals",
        ),
        (
            r#"{"order_notional_usdt": 100.000000001}"#,
            "more than 8 decimals",
        ),
        (
            r#"{"order_notional_usdt": "99999999999999999999"}"#,
            "out of range",
        ),
        (
            r#"{"order_notional_usdt": true}"#,
            "must be a decimal string",
        ),
        (
            r#"{"order_notional_usdt": [1]}"#,
            "must be a decimal string",
        ),
        (r#"{"min_spread_bps": "1.234"}"#, "more than 2 decimals"),
        (
            r#"{"min_spread_bps": "-1000.01"}"#,
            "within ±1000, got -1000.01",
        ),
    ] {
        let (s, v) = patch_control(&h, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {v}");
        assert_error(&v, "invalid_value");
        let message = v["error"]["message"].as_str().unwrap();
        let field = if body.contains("min_spread_bps") {
            "min_spread_bps"
        } else {
            "order_notional_usdt"
        };
        assert!(
            message.contains(field) && message.contains(words),
            "{body} → {message}"
        );
    }
    // Nothing refused reached the engine: the last good values stand.
    let cs = h.get("/api/ui/control-state").await;
    assert_eq!(cs["order_notional_usdt"], 999.12345678);
    assert_eq!(cs["min_spread_bps"], 1.5);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_reports_and_the_journal_never_show_secrets() {
    let h = start(Mode::OpenRead).await;
    h.resume().await;
    let (s, _) = h
        .call(
            "POST",
            "/api/ui/resume-confirm",
            Some(BOB),
            Some(json!({"token": APPROVE})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no pending request left");
    let (s, v) = h
        .call(
            "GET",
            "/api/ui/events/export?format=json&limit=50",
            Some(AUDIT),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let events = v["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.len() <= 50);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous, oldest first"
    );
    assert!(events.iter().any(|e| e["kind"] == "approval"));
    let (s, csv) = h
        .raw(
            "GET",
            "/api/ui/events/export?format=csv&limit=10",
            Some(AUDIT),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(csv.starts_with("seq,ts,epoch,kind,hash,body\n"));
    for (q, code) in [
        ("limit=0", "invalid_value"),
        ("limit=20000", "invalid_value"),
        ("format=xml", "invalid_value"),
        ("limt=5", "bad_request"),
    ] {
        let (s, v) = h
            .call(
                "GET",
                &format!("/api/ui/events/export?{q}"),
                Some(AUDIT),
                None,
            )
            .await;
        assert!(s.is_client_error(), "{q}: {s}");
        assert_error(&v, code);
    }
    let (s, report) = h.call("GET", "/api/ui/ops_report", Some(VIEW), None).await;
    assert_eq!(s, StatusCode::OK);
    keys(
        &report,
        &["runtime", "two_man", "exposure", "pnl", "operator_actions"],
    );
    assert_eq!(report["runtime"]["mode"], "RUN");
    let (s, csv) = h
        .raw("GET", "/api/ui/ops_report.csv", Some(VIEW), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        csv.starts_with("section,key,value\n") && csv.contains("runtime,mode,RUN"),
        "{csv}"
    );
    let (_, snapshot) = h
        .raw("GET", "/api/ui/audit_snapshot", Some(AUDIT), None)
        .await;
    // No secret in any response, export or the journal file.
    let mut bodies = vec![snapshot, csv, v.to_string(), report.to_string()];
    for (spec, _) in propbot_server::api::routes() {
        if spec.method == axum::http::Method::GET && spec.path != "/api/ui/stream" {
            bodies.push(h.raw("GET", spec.path, Some(ALICE), None).await.1);
        }
    }
    bodies.push(
        String::from_utf8_lossy(&std::fs::read(h.dir.path().join("journal.sqlite")).unwrap())
            .into_owned(),
    );
    for body in &bodies {
        for secret in SECRETS {
            assert!(
                !body.contains(secret),
                "a secret leaked into {}",
                &body[..body.len().min(200)]
            );
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_one_error_shape_never_a_500() {
    let h = start(Mode::OpenRead).await;
    /// (method, path, content type, body, status, error code)
    type Case = (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        StatusCode,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/ui/hold",
            Some("application/json"),
            "{not json",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/ui/hold",
            Some("application/json"),
            "{\"reason\": 5}",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/ui/hold",
            Some("application/json"),
            "{\"reason\": \"x\", \"force\": true}",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/ui/hold",
            Some("text/plain"),
            "reason",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/ui/hold",
            Some("application/json"),
            "[]",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/ui/resume-request",
            Some("application/json"),
            "{}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            "POST",
            "/api/ui/resume-confirm",
            Some("application/json"),
            "{\"request_id\": -1, \"token\": \"x\"}",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/ui/config/validate",
            Some("application/json"),
            "{\"yaml\": \"::: not yaml [\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
        ),
        (
            "GET",
            "/api/ui/nope",
            None,
            "",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "DELETE",
            "/api/ui/hold",
            None,
            "",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (method, path, ct, body, status, code) in cases {
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {ALICE}"));
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let (s, text) = h
            .send(req.body(axum::body::Body::from(body.to_owned())).unwrap())
            .await;
        assert_eq!(s, status, "{method} {path} {body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert_error(&v, code);
    }
    let long = json!({"reason": "x".repeat(501)});
    let (s, v) = h
        .call("POST", "/api/ui/resume-request", Some(ALICE), Some(long))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_error(&v, "invalid_value");
    let big = "x".repeat(propbot_server::api::BODY_MAX_BYTES + 10);
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/ui/hold")
        .header("authorization", format!("Bearer {ALICE}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(big))
        .unwrap();
    let (s, text) = h.send(req).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_status_ticks_and_hold_events() {
    use futures_util::StreamExt;
    let h = start(Mode::OpenRead).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ui/stream"))
        .await
        .unwrap();
    let mut next = async || -> Value {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        serde_json::from_str(m.to_text().unwrap()).unwrap()
    };
    let first = next().await;
    assert_eq!(first["type"], "status");
    assert!(first["data"]["components"].as_array().unwrap().len() >= 20);
    let second = loop {
        let m = next().await;
        if m["type"] == "status" {
            break m;
        }
    };
    assert_ne!(
        first["data"]["ts"], second["data"]["ts"],
        "ticks carry fresh status"
    );
    h.resume().await;
    let (s, _) = h
        .call(
            "POST",
            "/api/ui/hold",
            Some(ALICE),
            Some(json!({"reason": "stream test"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let hold = loop {
        let m = next().await;
        if m["type"] == "hold" {
            break m;
        }
    };
    assert_eq!(hold["data"]["actor"], "alice");
    assert_eq!(hold["data"]["reason"], "stream test");
    server.abort();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_has_a_russian_title_for_every_component() {
    const HTML: &str = include_str!("../assets/dashboard.html");
    let h = start(Mode::OpenRead).await;
    let o = h.get("/api/ui/status/overview").await;
    for c in o["components"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        assert!(
            HTML.contains(&format!("{id}:\"")),
            "no Russian title for component {id}"
        );
    }
    for code in [
        "hold",
        "resume",
        "clock_skew",
        "rate_limit",
        "snapshot_diff",
        "kill_caps",
        "runaway_breaker",
        "recon_mismatch",
        "leader_fencing",
        "journal",
    ] {
        assert!(
            HTML.contains(&format!("{code}:\"")),
            "no Russian text for alert {code}"
        );
    }
    h.stop().await;
}

#[test]
fn docs_openapi_md_lists_every_route() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/OPENAPI.md"))
        .unwrap();
    for (spec, _) in propbot_server::api::routes() {
        let row = format!(
            "| `{}` | `{}` | {} |",
            spec.method,
            spec.path,
            spec.access.name()
        );
        assert!(doc.contains(&row), "docs/OPENAPI.md lacks {row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_drives_the_overview_without_errors() {
    let h = start(Mode::OpenRead).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let report =
        propbot_server::bench::load(addr, "/api/ui/status/overview", 4, Duration::from_secs(1))
            .await;
    assert_eq!(report.errors, 0);
    assert!(report.ok > 50, "{report:?}");
    assert!(report.latency_us.len() == report.ok);
    let bad =
        propbot_server::bench::load(addr, "/api/ui/nope", 1, Duration::from_millis(200)).await;
    assert!(
        bad.errors > 0 && bad.ok == 0,
        "non-200 answers count as errors"
    );
    server.abort();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_write_failure_stops_trading_and_the_engine() {
    let mut h = start(Mode::OpenRead).await;
    h.resume().await;
    // A disk that refuses writes, injected from outside: every insert now fails.
    let conn = rusqlite::Connection::open(h.dir.path().join("journal.sqlite")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse_writes BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk refuses'); END;",
    )
    .unwrap();
    let head = h.get("/api/health").await["journal"]["committed_seq"]
        .as_u64()
        .unwrap();
    // The next record (this HOLD, or any trading record) cannot be written.
    let (s, v) = h
        .call(
            "POST",
            "/api/ui/hold",
            Some(ALICE),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert!(s.is_client_error() || s.is_server_error(), "{s} {v}");
    let service = h.service.take().unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !service.engine_finished() {
        assert!(
            std::time::Instant::now() < until,
            "the engine kept running without a journal"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, v) = h.call("POST", "/api/ui/hold", Some(ALICE), None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_error(&v, "unavailable");
    let err = service.shutdown().await.unwrap_err();
    assert!(err.to_string().contains("journal write failed"), "{err}");
    // Nothing past the failure was written, and what was written still verifies.
    let report = propbot_server::journal::verify(&h.dir.path().join("journal.sqlite")).unwrap();
    assert!(report.head.seq >= head);
}

/// Random bodies from a fixed seed: garbage bytes, wrong types, huge and negative
/// numbers, nesting, unknown fields.
fn garbage(seed: &mut u64) -> String {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    let atoms = [
        "null",
        "true",
        "-1",
        "0",
        "1e309",
        "18446744073709551616",
        "-9223372036854775809",
        "\"\"",
        "\"HOLD\"",
        "\"RUN\"",
        "[]",
        "{}",
        "[[[[[]]]]]",
        "\"\\u0000\"",
        "3.5",
        "NaN",
    ];
    let keys = [
        "reason",
        "token",
        "request_id",
        "actor",
        "mode",
        "yaml",
        "rollback_token",
        "order_notional_usdt",
        "min_spread_bps",
        "loop_pair",
        "loop_venues",
        "dry_run_only",
        "safe_mode",
        "x",
        "__proto__",
    ];
    match next() % 4 {
        0 => (0..(next() % 64))
            .map(|_| (next() % 256) as u8 as char)
            .collect(),
        1 => atoms[(next() % atoms.len() as u64) as usize].to_owned(),
        _ => {
            let n = next() % 4;
            let fields: Vec<String> = (0..n)
                .map(|_| {
                    let k = keys[(next() % keys.len() as u64) as usize];
                    let v = atoms[(next() % atoms.len() as u64) as usize];
                    format!("\"{k}\": {v}")
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_on_every_state_changing_route_never_get_a_500() {
    let h = start(Mode::OpenRead).await;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for (spec, _) in propbot_server::api::routes() {
        if spec.method == axum::http::Method::GET {
            continue;
        }
        for _ in 0..40 {
            let body = garbage(&mut seed);
            let req = axum::http::Request::builder()
                .method(spec.method.clone())
                .uri(spec.path)
                .header("authorization", format!("Bearer {BOB}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.clone()))
                .unwrap();
            let (s, text) = h.send(req).await;
            assert!(
                !s.is_server_error(),
                "{} {} {body:?} → {s} {text}",
                spec.method,
                spec.path
            );
            if !s.is_success() {
                let v: Value =
                    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
                assert!(v["error"]["code"].is_string(), "{text}");
            }
        }
    }
    h.stop().await;
}
