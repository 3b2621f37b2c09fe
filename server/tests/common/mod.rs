//! Shared test helpers: an in-process service on a temp data directory with known
//! tokens, and one `call` helper for the HTTP boundary (`tower::ServiceExt::oneshot`).
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use propbot_server::paper::{Pace, PaperOptions};
use propbot_server::{ServeOptions, Service, app};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};
use tower::ServiceExt;

pub const ALICE: &str = "alice-operator-token-0123456789";
pub const BOB: &str = "bob-operator-token-0123456789ab";
pub const AUDIT: &str = "audit-auditor-token-0123456789";
pub const VIEW: &str = "view-viewer-token-0123456789ab";
pub const APPROVE: &str = "approve-token-0123456789abcdef";
pub const SECRETS: [&str; 5] = [ALICE, BOB, AUDIT, VIEW, APPROVE];

/// Writes a secrets file with the known tokens, mode 0600.
pub fn write_secrets(path: &Path) {
    let file = json!({
        "operator_tokens": {
            "alice": {"token": ALICE, "role": "operator"},
            "bob": {"token": BOB, "role": "operator"},
            "audit": {"token": AUDIT, "role": "auditor"},
            "view": {"token": VIEW, "role": "viewer"},
        },
        "approve_token": APPROVE,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub struct Harness {
    pub service: Option<Service>,
    pub app: Router,
    pub dir: tempfile::TempDir,
}

/// Reads open (paper on loopback) or every route behind a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    OpenRead,
    Token,
}

pub async fn start(mode: Mode) -> Harness {
    start_with(mode, |_, _| {}).await
}

/// A harness whose options `adjust` changes (given the data directory) before start.
pub async fn start_with(mode: Mode, adjust: impl FnOnce(&mut ServeOptions, &Path)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    write_secrets(&dir.path().join("secrets.json"));
    let mut options = ServeOptions::new(dir.path().to_path_buf());
    options.listen = match mode {
        Mode::OpenRead => "127.0.0.1:0".parse().unwrap(),
        Mode::Token => "0.0.0.0:0".parse().unwrap(),
    };
    options.paper = PaperOptions {
        pace: Pace::Speed(5.0),
        ..PaperOptions::default()
    };
    adjust(&mut options, dir.path());
    let service = Service::start(&options).await.expect("service starts");
    let app = app(service.state.clone());
    Harness {
        service: Some(service),
        app,
        dir,
    }
}

impl Harness {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, text) = self.raw(method, path, token, body).await;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, String) {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call("GET", path, Some(VIEW), None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {v}");
        v
    }

    /// Polls until `f` holds (or panics after `limit`).
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        mut f: impl AsyncFnMut(&Harness) -> bool,
    ) {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if f(self).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Two-man resume by alice and bob, once nothing blocks.
    pub async fn resume(&self) {
        self.wait_for("no resume blockers", Duration::from_secs(30), async |h| {
            h.get("/api/ui/status/overview").await["resume_blockers"]
                .as_array()
                .is_some_and(|b| b.is_empty())
        })
        .await;
        let (s, v) = self
            .call(
                "POST",
                "/api/ui/resume-request",
                Some(ALICE),
                Some(json!({"reason": "checks done"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let id = v["request_id"].as_u64().unwrap();
        let (s, v) = self
            .call(
                "POST",
                "/api/ui/resume-confirm",
                Some(BOB),
                Some(json!({"request_id": id, "token": APPROVE})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = self.call("POST", "/api/ui/resume", Some(BOB), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["mode"], "RUN");
    }

    pub async fn stop(mut self) {
        let report = self
            .service
            .take()
            .unwrap()
            .shutdown()
            .await
            .expect("clean stop");
        assert_eq!(report.left_open, 0);
    }
}

/// The one JSON error shape.
pub fn assert_error(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}
