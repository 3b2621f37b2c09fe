//! The access matrix: every route × every role (no token, invalid token, viewer,
//! auditor, operator), in both access modes (DESIGN §9): paper on loopback (reads
//! open) and token mode (here: paper bound to a non-loopback address).

mod common;

use axum::http::StatusCode;
use common::*;
use propbot_server::api::{Access, AccessMode, routes};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    Nobody,
    Invalid,
    Viewer,
    Auditor,
    Operator,
}

impl Caller {
    fn token(self) -> Option<&'static str> {
        match self {
            Caller::Nobody => None,
            Caller::Invalid => Some("not-a-valid-token-at-all-0000"),
            Caller::Viewer => Some(VIEW),
            Caller::Auditor => Some(AUDIT),
            Caller::Operator => Some(ALICE),
        }
    }
}

/// What the matrix expects: `Err(status)` for a refusal at the door, `Ok` for through.
fn expected(access: Access, mode: AccessMode, caller: Caller) -> Result<(), StatusCode> {
    if caller == Caller::Invalid && access != Access::Open {
        // A presented token that is not valid is refused even where none is needed
        // (except on open routes, which never look at tokens)...
        return Err(StatusCode::UNAUTHORIZED);
    }
    let needed = match (access, mode) {
        (Access::Open, _) => return Ok(()),
        (Access::Read, AccessMode::OpenRead) => return Ok(()),
        (Access::Read, AccessMode::Token) => Caller::Viewer,
        (Access::Audit, _) => Caller::Auditor,
        (Access::Operate, _) => Caller::Operator,
    };
    match caller {
        Caller::Nobody => Err(StatusCode::UNAUTHORIZED),
        c if c < needed => Err(StatusCode::FORBIDDEN),
        _ => Ok(()),
    }
}

async fn walk(mode: Mode, access_mode: AccessMode) {
    let h = start(mode).await;
    let mut checked = 0;
    for (spec, _) in routes() {
        for caller in [
            Caller::Nobody,
            Caller::Invalid,
            Caller::Viewer,
            Caller::Auditor,
            Caller::Operator,
        ] {
            let body = (spec.method != axum::http::Method::GET).then(|| json!({}));
            let (status, v) = h
                .call(spec.method.as_str(), spec.path, caller.token(), body)
                .await;
            let want = expected(spec.access, access_mode, caller);
            let code = v["error"]["code"].as_str().unwrap_or("");
            match want {
                Err(s) => {
                    assert_eq!(
                        status, s,
                        "{} {} as {caller:?} in {access_mode:?}: {v}",
                        spec.method, spec.path
                    );
                    assert!(code == "unauthorized" || code == "forbidden", "{v}");
                }
                Ok(()) => {
                    assert!(
                        code != "unauthorized" && code != "forbidden" && !status.is_server_error(),
                        "{} {} as {caller:?} in {access_mode:?} was refused: {status} {v}",
                        spec.method,
                        spec.path
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 5 * 35, "{checked}");
    // Refused attempts at state-changing routes are audited as forbidden/unauthenticated.
    let (_, snapshot) = h
        .call("GET", "/api/ui/audit_snapshot", Some(AUDIT), None)
        .await;
    let audit = snapshot["audit"].as_array().unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a["status"] == "forbidden" && a["actor"] == "view"),
        "{snapshot}"
    );
    assert!(audit.iter().any(|a| a["status"] == "unauthenticated"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_times_every_role_in_open_read_mode() {
    walk(Mode::OpenRead, AccessMode::OpenRead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_times_every_role_in_token_mode() {
    walk(Mode::Token, AccessMode::Token).await;
}

#[test]
fn access_mode_follows_profile_and_address() {
    use propbot_engine::config::Profile;
    let lo = "127.0.0.1:8000".parse().unwrap();
    let any = "0.0.0.0:8000".parse().unwrap();
    assert_eq!(
        AccessMode::for_deployment(Profile::Paper, lo),
        AccessMode::OpenRead
    );
    assert_eq!(
        AccessMode::for_deployment(Profile::Paper, any),
        AccessMode::Token
    );
    assert_eq!(
        AccessMode::for_deployment(Profile::Testnet, lo),
        AccessMode::Token
    );
    assert_eq!(
        AccessMode::for_deployment(Profile::Live, lo),
        AccessMode::Token
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_takes_a_query_token_in_token_mode() {
    let h = start(Mode::Token).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ui/stream")).await;
    assert!(refused.is_err(), "no token, no stream");
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/ui/stream?access_token={VIEW}"))
            .await
            .unwrap();
    use futures_util::StreamExt;
    let m = ws.next().await.unwrap().unwrap();
    let v: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "status");
    server.abort();
    h.stop().await;
}
