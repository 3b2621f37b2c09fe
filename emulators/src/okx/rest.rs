//! OKX v5 public REST: `GET /api/v5/public/time` and
//! `GET /api/v5/public/instruments?instType=SWAP[&instId=..]`, with the 429 fault
//! (`50011`, `../shared/VENUES.md` §2.8).

use super::Shared;
use super::frames::{instrument, rest};
use crate::hub::{bump, lock};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Counts a request and applies the 429 fault: the answer to send instead, if any.
fn refusal(shared: &Shared) -> Option<Response> {
    bump(&shared.hub.counters.rest_requests);
    let limited = shared
        .rate_limited
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if !limited {
        return None;
    }
    bump(&shared.hub.counters.rest_rejected);
    Some(json_response(
        StatusCode::TOO_MANY_REQUESTS,
        rest("50011", "Too Many Requests", json!([])),
    ))
}

/// `GET /api/v5/public/time`.
pub(crate) async fn time(State(shared): State<Arc<Shared>>) -> Response {
    if let Some(refused) = refusal(&shared) {
        return refused;
    }
    let ts = shared.hub.venue_now_ms().to_string();
    json_response(StatusCode::OK, rest("0", "", json!([{"ts": ts}])))
}

/// `GET /api/v5/public/instruments` parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct InstrumentsQuery {
    #[serde(rename = "instType")]
    inst_type: Option<String>,
    #[serde(rename = "instId")]
    inst_id: Option<String>,
}

/// `GET /api/v5/public/instruments?instType=SWAP`: the listed swaps (other types are
/// not emulated and list nothing).
pub(crate) async fn instruments(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<InstrumentsQuery>, QueryRejection>,
) -> Response {
    if let Some(refused) = refusal(&shared) {
        return refused;
    }
    let query = query.ok().map(|Query(q)| q);
    let Some(inst_type) = query
        .as_ref()
        .and_then(|q| q.inst_type.as_deref())
        .filter(|t| !t.is_empty())
    else {
        return json_response(
            StatusCode::BAD_REQUEST,
            rest("50014", "Parameter instType can not be empty.", json!([])),
        );
    };
    let inst_id = query.as_ref().and_then(|q| q.inst_id.as_deref());
    let data: Vec<Value> = if inst_type == "SWAP" {
        lock(&shared.state)
            .market
            .specs()
            .filter(|s| inst_id.is_none_or(|id| id == s.inst_id))
            .map(instrument)
            .collect()
    } else {
        Vec::new()
    };
    json_response(StatusCode::OK, rest("0", "", Value::Array(data)))
}
