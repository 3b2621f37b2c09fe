//! `WS /api/ui/stream`: a status tick every second plus live events (hold, resume,
//! alert, fill, approval). A slow client misses events (the broadcast channel is
//! bounded) and is told how many; the tick always carries the full status.

use super::{ApiError, AppState};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Period of the status tick.
pub const TICK: Duration = Duration::from_secs(1);
/// A send to a client that takes longer than this closes the connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Stream clients at once; one more is refused with 503.
pub const STREAM_CLIENTS_MAX: usize = 64;

/// Counts a stream client for as long as it is connected.
struct Slot(AppState);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.0.stream_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

pub async fn stream(State(s): State<AppState>, ws: WebSocketUpgrade) -> Result<Response, ApiError> {
    if s.0.stream_clients.fetch_add(1, Ordering::Relaxed) >= STREAM_CLIENTS_MAX {
        s.0.stream_clients.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::unavailable(&format!(
            "{STREAM_CLIENTS_MAX} stream clients are connected; try again later"
        )));
    }
    let slot = Slot(s.clone());
    Ok(ws.on_upgrade(move |socket| async move {
        run(s, socket).await;
        drop(slot);
    }))
}

async fn run(s: AppState, mut socket: WebSocket) {
    let mut events = s.0.stream.subscribe();
    // The first message is always the current status; ticks follow every second.
    let mut tick = tokio::time::interval(TICK);
    loop {
        let message = tokio::select! {
            biased;
            _ = tick.tick() => status(&s),
            event = events.recv() => match event {
                Ok(e) => serde_json::to_value(&e).unwrap_or_default(),
                Err(RecvError::Lagged(n)) => json!({"type": "lagged", "data": {"missed": n}}),
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        };
        let text = message.to_string();
        match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

fn status(s: &AppState) -> serde_json::Value {
    let snap = s.snapshot();
    let overview = snap
        .doc("overview")
        .map(|d| d.value.clone())
        .unwrap_or_default();
    json!({"type": "status", "data": overview})
}
