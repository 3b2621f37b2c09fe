//! The OKX v5 public WebSocket, `/ws/v5/public`: `ping` → `pong`, `subscribe` and
//! `unsubscribe` with one acknowledgement per argument, a `books` snapshot after every
//! `books` subscription (then only the updates published after it), and error events.
//!
//! Bounds: 480 `subscribe`/`unsubscribe` operations per connection per hour (the
//! venue's rule; the next is answered `60014` and the connection closed), at most
//! [`SUBSCRIPTIONS_MAX`] subscriptions, at most [`INCOMING_PER_SECOND_MAX`] messages a
//! second (the emulator's bound: OKX documents none for public messages).
//!
//! Emulator choices where the venue's text is not documented here (unverified): an
//! unknown channel or instrument is answered `60018`, a request that is not JSON or
//! has no known `op` `60012`.

use super::frames::{self, Channel};
use super::{NOTICE_KEY, Shared};
use crate::hub::{Frame, StreamKey, lock};
use crate::ws::{self, Flow, Session};
use axum::extract::State;
use axum::extract::ws::{Utf8Bytes, WebSocketUpgrade};
use axum::response::Response;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::time::Instant;

/// Subscriptions one connection may hold.
pub const SUBSCRIPTIONS_MAX: usize = 256;

/// Operations (`subscribe`, `unsubscribe`) per connection per hour.
pub const OPERATIONS_PER_HOUR_MAX: u32 = 480;

/// Messages a client may send in one second (the emulator's bound).
pub const INCOMING_PER_SECOND_MAX: u32 = 50;

/// `GET /ws/v5/public` (WebSocket upgrade).
pub(crate) async fn public(
    State(shared): State<Arc<Shared>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let number = shared.connections.fetch_add(1, Ordering::Relaxed);
    let session = OkxSession {
        conn_id: format!(
            "{:08x}",
            number.wrapping_mul(0x9E37_79B9).wrapping_add(0x5bd1_e995) & 0xffff_ffff
        ),
        shared: shared.clone(),
        subscriptions: BTreeMap::new(),
        operations: 0,
        hour_started: Instant::now(),
    };
    ws::upgrade(&shared.hub, upgrade, session)
}

/// The key of `channel` of instrument `index`.
pub(crate) fn key(index: usize, channel: Channel) -> Option<StreamKey> {
    let index = u32::try_from(index).ok()?;
    let channels = Channel::ALL.len() as u32;
    Some(StreamKey(index.checked_mul(channels)? + channel.index()))
}

/// One connection: its subscriptions, each with the publication number of the `books`
/// snapshot it was sent (0 for other channels).
pub(crate) struct OkxSession {
    shared: Arc<Shared>,
    conn_id: String,
    subscriptions: BTreeMap<StreamKey, u64>,
    operations: u32,
    hour_started: Instant,
}

impl Session for OkxSession {
    fn on_text(&mut self, text: &str, replies: &mut Vec<Utf8Bytes>) -> Flow {
        if text == "ping" {
            replies.push(Utf8Bytes::from_static("pong"));
            return Flow::Continue;
        }
        let request = serde_json::from_str::<Value>(text).ok();
        let id = request
            .as_ref()
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
            .map(|s| s.chars().take(32).collect::<String>());
        let op = request
            .as_ref()
            .and_then(|r| r.get("op"))
            .and_then(Value::as_str);
        let args = request
            .as_ref()
            .and_then(|r| r.get("args"))
            .and_then(Value::as_array);
        let (Some(op @ ("subscribe" | "unsubscribe")), Some(args)) = (op, args) else {
            let shown: String = text.chars().take(128).collect();
            let msg = format!("Invalid request: {shown}");
            replies.push(self.error(id.as_deref(), "60012", &msg));
            return Flow::Continue;
        };
        if !self.count_operation() {
            replies.push(self.error(id.as_deref(), "60014", "Requests too frequent."));
            return Flow::Close;
        }
        for arg in args.iter().take(ws::REPLIES_MAX / 2) {
            self.operate(op == "subscribe", id.as_deref(), arg, replies);
        }
        Flow::Continue
    }

    fn admit(&mut self, frame: &Frame) -> bool {
        if frame.key == NOTICE_KEY {
            return true;
        }
        // A books update is admitted only if published after this client's snapshot.
        self.subscriptions
            .get(&frame.key)
            .is_some_and(|&from| frame.serial == 0 || frame.serial > from)
    }

    fn incoming_per_second_max(&self) -> u32 {
        INCOMING_PER_SECOND_MAX
    }
}

impl OkxSession {
    fn error(&self, id: Option<&str>, code: &str, msg: &str) -> Utf8Bytes {
        Utf8Bytes::from(frames::error(id, code, msg, &self.conn_id))
    }

    /// Counts an operation; `false` past the hourly bound.
    fn count_operation(&mut self) -> bool {
        if self.hour_started.elapsed().as_secs() >= 3_600 {
            self.hour_started = Instant::now();
            self.operations = 0;
        }
        self.operations = self.operations.saturating_add(1);
        self.operations <= OPERATIONS_PER_HOUR_MAX
    }

    /// One argument of a subscribe or unsubscribe: acknowledgement (and, for `books`,
    /// the snapshot) or an error.
    fn operate(
        &mut self,
        subscribe: bool,
        id: Option<&str>,
        arg: &Value,
        replies: &mut Vec<Utf8Bytes>,
    ) {
        let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
        let inst_id = arg.get("instId").and_then(Value::as_str).unwrap_or("");
        let found = Channel::from_name(channel).and_then(|c| {
            let index = lock(&self.shared.state).market.index_of(inst_id)?;
            Some((c, index, key(index, c)?))
        });
        let Some((channel, index, key)) = found else {
            let channel: String = channel.chars().take(32).collect();
            let inst_id: String = inst_id.chars().take(32).collect();
            let msg = format!(
                "Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. Please use the correct URL, channel and parameters referring to API document."
            );
            replies.push(self.error(id, "60018", &msg));
            return;
        };
        let shown = frames::Arg {
            channel: channel.name(),
            inst_id,
        };
        if !subscribe {
            self.subscriptions.remove(&key);
            replies.push(Utf8Bytes::from(frames::ack(
                id,
                "unsubscribe",
                shown,
                &self.conn_id,
            )));
            return;
        }
        if !self.subscriptions.contains_key(&key) && self.subscriptions.len() >= SUBSCRIPTIONS_MAX {
            replies.push(self.error(id, "60012", "Invalid request: too many subscriptions"));
            return;
        }
        replies.push(Utf8Bytes::from(frames::ack(
            id,
            "subscribe",
            shown,
            &self.conn_id,
        )));
        let mut from = 0;
        if channel == Channel::Books {
            let (snapshot, serial) = self.snapshot(index);
            replies.push(Utf8Bytes::from(snapshot));
            from = serial;
        }
        self.subscriptions.insert(key, from);
    }

    /// The `books` snapshot of instrument `index` as published, with its publication
    /// number.
    fn snapshot(&self, index: usize) -> (String, u64) {
        let state = lock(&self.shared.state);
        let spec = state.market.spec(index);
        let mut image = state.market.published(index);
        image.bids.truncate(frames::SNAPSHOT_DEPTH);
        image.asks.truncate(frames::SNAPSHOT_DEPTH);
        let checksum = if self.shared.checksums {
            frames::checksum(spec, &image)
        } else {
            0
        };
        let text = frames::books(
            spec,
            true,
            &image.bids,
            &image.asks,
            (-1, image.last_update_id),
            checksum,
            self.shared.hub.venue_now_ms(),
        );
        (text, state.books[index].serial)
    }
}
