//! Binance USDⓈ-M combined market streams: `/stream?streams=a/b/c` (also under the
//! `/public` and `/market` routes of the 2026 URL split), frames wrapped as
//! `{"stream":..,"data":..}`, and the live `SUBSCRIBE` / `UNSUBSCRIBE` /
//! `LIST_SUBSCRIPTIONS` / `GET_PROPERTY` / `SET_PROPERTY` requests.
//!
//! Emulator choices where the venue's behaviour is not documented (unverified): an
//! unknown stream name in the URL is refused with HTTP 400 and a Binance error body; an
//! unknown stream in `SUBSCRIBE` gets an error reply with code 2; both routes accept
//! every stream kind.

use super::Shared;
use super::frames::{Channel, error_body};
use crate::hub::{Frame, StreamKey};
use crate::ws::{self, Flow, Session};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Utf8Bytes, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Streams one connection may listen to (the venue's limit).
pub const STREAMS_PER_CONNECTION_MAX: usize = 1024;

/// The combined-stream query.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamQuery {
    streams: Option<String>,
}

/// `GET /stream?streams=...` (WebSocket upgrade).
pub(crate) async fn stream(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<StreamQuery>, QueryRejection>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let names = query
        .ok()
        .and_then(|Query(q)| q.streams)
        .unwrap_or_default();
    let mut streams = BTreeSet::new();
    for name in names.split('/').filter(|n| !n.is_empty()) {
        match key_of(&shared, name) {
            Some(key) if streams.len() < STREAMS_PER_CONNECTION_MAX => {
                streams.insert(key);
            }
            Some(_) => return bad_request(-1100, "Too many streams requested."),
            None => return bad_request(-1121, "Invalid symbol."),
        }
    }
    let session = BinanceSession {
        shared: shared.clone(),
        streams,
    };
    ws::upgrade(&shared.hub, upgrade, session)
}

fn bad_request(code: i32, msg: &str) -> Response {
    let mut response = (StatusCode::BAD_REQUEST, error_body(code, msg)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The key of a stream name (`btcusdt@depth@100ms`), if the emulator serves it.
pub(crate) fn key_of(shared: &Shared, name: &str) -> Option<StreamKey> {
    let (symbol, suffix) = name.split_once('@')?;
    let channel = Channel::from_suffix(suffix)?;
    let index = super::lock(&shared.market).index_of_stream(symbol)?;
    key(index, channel)
}

/// The key of `channel` of symbol `index`.
pub(crate) fn key(index: usize, channel: Channel) -> Option<StreamKey> {
    let index = u32::try_from(index).ok()?;
    let channels = Channel::ALL.len() as u32;
    Some(StreamKey(index * channels + channel.index()))
}

/// The stream name of a key.
fn name_of(shared: &Shared, key: StreamKey) -> String {
    let channels = Channel::ALL.len() as u32;
    let channel = Channel::ALL[(key.0 % channels) as usize];
    let market = super::lock(&shared.market);
    format!(
        "{}@{}",
        market.spec((key.0 / channels) as usize).stream_symbol,
        channel.suffix()
    )
}

/// One connection's subscriptions.
pub(crate) struct BinanceSession {
    shared: Arc<Shared>,
    streams: BTreeSet<StreamKey>,
}

impl Session for BinanceSession {
    fn on_text(&mut self, text: &str, replies: &mut Vec<Utf8Bytes>) -> Flow {
        let reply = match serde_json::from_str::<Value>(text) {
            Ok(request) => self.request(&request),
            Err(e) => error_reply(3, &format!("Invalid JSON: {e}"), &Value::Null),
        };
        replies.push(Utf8Bytes::from(reply.to_string()));
        Flow::Continue
    }

    fn admit(&mut self, frame: &Frame) -> bool {
        self.streams.contains(&frame.key)
    }
}

impl BinanceSession {
    fn request(&mut self, request: &Value) -> Value {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        if !(id.is_null() || id.is_u64()) {
            return error_reply(
                2,
                "Invalid request: request ID must be an unsigned integer",
                &Value::Null,
            );
        }
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return error_reply(2, "Invalid request: missing field `method`", &id);
        };
        let params = request.get("params").and_then(Value::as_array);
        match method {
            "SUBSCRIBE" | "UNSUBSCRIBE" => {
                let names: Vec<&str> = params
                    .map(|p| p.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                self.change(method == "SUBSCRIBE", &names, &id)
            }
            "LIST_SUBSCRIPTIONS" => {
                let names: Vec<String> = self
                    .streams
                    .iter()
                    .map(|&k| name_of(&self.shared, k))
                    .collect();
                json!({"result": names, "id": id})
            }
            // Frames are always combined on `/stream`; the property reads true and
            // setting it is acknowledged.
            "GET_PROPERTY" => json!({"result": true, "id": id}),
            "SET_PROPERTY" => json!({"result": null, "id": id}),
            other => {
                let shown: String = other.chars().take(32).collect();
                error_reply(
                    2,
                    &format!(
                        "Invalid request: unknown variant `{shown}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
                    ),
                    &id,
                )
            }
        }
    }

    fn change(&mut self, subscribe: bool, names: &[&str], id: &Value) -> Value {
        let mut keys = Vec::with_capacity(names.len());
        for name in names {
            match key_of(&self.shared, name) {
                Some(key) => keys.push(key),
                None => {
                    let shown: String = name.chars().take(64).collect();
                    return error_reply(
                        2,
                        &format!("Invalid request: unknown stream `{shown}`"),
                        id,
                    );
                }
            }
        }
        if subscribe {
            let total: BTreeSet<StreamKey> = self.streams.iter().chain(&keys).copied().collect();
            if total.len() > STREAMS_PER_CONNECTION_MAX {
                return error_reply(2, "Invalid request: too many streams", id);
            }
            self.streams = total;
        } else {
            for key in keys {
                self.streams.remove(&key);
            }
        }
        json!({"result": null, "id": id})
    }
}

fn error_reply(code: i32, msg: &str, id: &Value) -> Value {
    json!({"error": {"code": code, "msg": msg}, "id": id})
}
