//! The live connections as operators see them: one row per venue connection (state,
//! age of the last message, reconnects, resyncs, message rate, last error), kept on a
//! board the live feeds' supervisor writes about once a second and the engine thread
//! reads when it publishes a snapshot (System Status, `/metrics`, the dashboard).
//! Worlds without live connections (the synthetic or recorded market) show none.

use propbot_engine::model::Venue;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// One live connection.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkRow {
    /// Venue.
    pub venue: Venue,
    /// Which connection of the venue (`public`, `market`).
    pub connection: String,
    /// `connecting`, `connected`, `synced` or `disconnected`.
    pub state: String,
    /// Milliseconds since the last message, `None` before the first.
    pub last_message_age_ms: Option<u64>,
    /// Reconnects since start.
    pub reconnects: u64,
    /// Book resyncs since start.
    pub resyncs: u64,
    /// Messages since start.
    pub messages: u64,
    /// Messages per second over the last seconds.
    pub rate_per_s: f64,
    /// Malformed, oversized or unexpected frames since start.
    pub bad_frames: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

impl LinkRow {
    /// Whether the connection is usable (connected or synced).
    pub fn is_up(&self) -> bool {
        matches!(self.state.as_str(), "connected" | "synced")
    }

    /// The row as the API shows it.
    pub fn json(&self) -> Value {
        json!({
            "venue": self.venue.name(),
            "connection": self.connection,
            "state": self.state,
            "up": self.is_up(),
            "last_message_age_ms": self.last_message_age_ms,
            "reconnects": self.reconnects,
            "resyncs": self.resyncs,
            "messages": self.messages,
            "rate_per_s": (self.rate_per_s * 10.0).round() / 10.0,
            "bad_frames": self.bad_frames,
            "last_error": self.last_error,
        })
    }
}

/// The board: the supervisor replaces the rows, the engine thread reads a copy.
#[derive(Clone, Debug, Default)]
pub struct LinkBoard(Arc<Mutex<Vec<LinkRow>>>);

impl LinkBoard {
    /// Replaces every row.
    pub fn set(&self, rows: Vec<LinkRow>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = rows;
    }

    /// A copy of the rows.
    pub fn rows(&self) -> Vec<LinkRow> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
