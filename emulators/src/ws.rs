//! The WebSocket connection loop every emulator uses: market frames from the hub's
//! bounded fan-out to the client, client messages to a venue [`Session`], faults and
//! limits applied on the way.
//!
//! Bounds: a client that falls [`Limits::frames_queued_max`] frames behind, or whose
//! socket does not take a frame within [`Limits::send_timeout`], is disconnected; so is
//! one that sends more messages in a second than its venue allows
//! ([`Session::incoming_per_second_max`]). Nothing is ever buffered without limit.
//!
//! [`Limits::frames_queued_max`]: crate::Limits::frames_queued_max
//! [`Limits::send_timeout`]: crate::Limits::send_timeout

use crate::hub::{Frame, Hub, Slot, bump};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};

/// Messages a client may send in one second before it is disconnected (Binance's
/// rule, and the default of [`Session::incoming_per_second_max`]).
pub const INCOMING_PER_SECOND_MAX: u32 = 10;

/// Replies a client message may produce, at most (a subscription to many streams
/// sends one acknowledgement per stream on OKX).
pub const REPLIES_MAX: usize = 256;

/// Bytes buffered before a connection flushes to its socket.
const WRITE_BUFFER_FLUSH_BYTES: usize = 128 << 10;

/// What a session wants after a client message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep the connection.
    Continue,
    /// Close it (after sending the replies).
    Close,
}

/// A venue's side of one connection: which frames it takes, what it answers.
pub trait Session: Send + 'static {
    /// Handles a text message from the client, pushing replies (at most
    /// [`REPLIES_MAX`]) to `replies`. Never panics on what the client sent.
    fn on_text(&mut self, text: &str, replies: &mut Vec<Utf8Bytes>) -> Flow;

    /// Whether `frame` goes to this client.
    fn admit(&mut self, frame: &Frame) -> bool;

    /// Messages the client may send in one second before it is disconnected.
    fn incoming_per_second_max(&self) -> u32 {
        INCOMING_PER_SECOND_MAX
    }
}

/// Upgrades to a WebSocket served by `session`, or refuses with 503 when every
/// connection slot is taken.
pub(crate) fn upgrade<S: Session>(hub: &Arc<Hub>, ws: WebSocketUpgrade, session: S) -> Response {
    let Some(slot) = hub.connect() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections to this emulator",
        )
            .into_response();
    };
    let limits = hub.limits;
    let hub = hub.clone();
    // Tungstenite wants the flush threshold below the hard bound.
    let write_buffer_max = limits.write_buffer_max.max(2);
    ws.max_message_size(limits.message_bytes_max)
        .max_frame_size(limits.message_bytes_max)
        .write_buffer_size((write_buffer_max / 2).min(WRITE_BUFFER_FLUSH_BYTES))
        .max_write_buffer_size(write_buffer_max)
        .on_upgrade(move |socket| run(hub, socket, session, slot))
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The client left, or the server shut down.
    Closed,
    /// The drop fault.
    Dropped,
    /// The client fell behind.
    Slow,
    /// The client broke a limit.
    Abuse,
    /// The client did not answer a ping in time.
    Unresponsive,
    /// The connection reached its lifetime (Binance: 24 hours).
    Expired,
}

async fn run<S: Session>(hub: Arc<Hub>, mut socket: WebSocket, mut session: S, slot: Slot) {
    let end = serve(&hub, &mut socket, &mut session).await;
    let counters = &hub.counters;
    match end {
        End::Closed => {}
        End::Dropped => bump(&counters.connections_dropped),
        End::Slow => bump(&counters.slow_clients_disconnected),
        End::Abuse => bump(&counters.clients_disconnected_for_abuse),
        End::Unresponsive => bump(&counters.unresponsive_clients_disconnected),
        End::Expired => bump(&counters.connections_expired),
    }
    // Dropping the socket closes the TCP connection without a close frame, as after a
    // network cut.
    drop(socket);
    drop(slot);
}

/// What one connection keeps between messages.
struct Connection {
    incoming: RateWindow,
    replies: Vec<Utf8Bytes>,
    /// When the answer to the last ping is due, if one is awaited.
    pong_due: Option<Instant>,
}

async fn serve<S: Session>(hub: &Hub, socket: &mut WebSocket, session: &mut S) -> End {
    let limits = hub.limits;
    let mut frames = hub.frames.subscribe();
    let mut drops = hub.drops.subscribe();
    let mut shutdown = hub.shutdown.subscribe();
    // A zero period would make the interval panic.
    let ping_interval = limits.ping_interval.max(Duration::from_millis(1));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let lifetime = tokio::time::sleep(limits.connection_lifetime);
    tokio::pin!(lifetime);
    let mut connection = Connection {
        incoming: RateWindow::default(),
        replies: Vec::new(),
        pong_due: None,
    };
    loop {
        let pong_due = connection.pong_due;
        let unanswered = async move {
            match pong_due {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = drops.changed() => return End::Dropped,
            _ = shutdown.changed() => return End::Closed,
            () = &mut lifetime => return End::Expired,
            () = unanswered => return End::Unresponsive,
            message = socket.recv() => {
                if let Some(end) = connection.on_message(hub, socket, session, message).await {
                    return end;
                }
            }
            frame = frames.recv() => match frame {
                Ok(frame) => {
                    if hub.is_stalled() || !session.admit(&frame) {
                        continue;
                    }
                    if !send(hub, socket, Message::Text(frame.text)).await {
                        return End::Slow;
                    }
                    bump(&hub.counters.frames_sent);
                }
                Err(RecvError::Lagged(_)) => return End::Slow,
                Err(RecvError::Closed) => return End::Closed,
            },
            _ = ping.tick() => {
                if hub.is_stalled() {
                    continue;
                }
                if !send(hub, socket, Message::Ping(Default::default())).await {
                    return End::Slow;
                }
                connection.pong_due.get_or_insert(Instant::now() + limits.pong_timeout);
            }
        }
    }
}

impl Connection {
    /// Handles what the client sent; `Some` ends the connection.
    async fn on_message<S: Session>(
        &mut self,
        hub: &Hub,
        socket: &mut WebSocket,
        session: &mut S,
        message: Option<Result<Message, axum::Error>>,
    ) -> Option<End> {
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => return Some(End::Closed),
            // Any pong answers the ping (unsolicited ones are allowed).
            Some(Ok(Message::Pong(_))) => {
                self.pong_due = None;
                return None;
            }
            // Binary frames are ignored; pings are answered by the WebSocket layer.
            Some(Ok(_)) => return None,
        };
        if !self
            .incoming
            .admit(Instant::now(), session.incoming_per_second_max())
        {
            return Some(End::Abuse);
        }
        self.replies.clear();
        let flow = session.on_text(text.as_str(), &mut self.replies);
        self.replies.truncate(REPLIES_MAX);
        if !hub.is_stalled() {
            for reply in self.replies.drain(..) {
                if !send(hub, socket, Message::Text(reply)).await {
                    return Some(End::Slow);
                }
            }
        }
        (flow == Flow::Close).then_some(End::Closed)
    }
}

/// Sends one message within the send timeout.
async fn send(hub: &Hub, socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(hub.limits.send_timeout, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Client messages counted per one-second window.
#[derive(Debug, Default)]
struct RateWindow {
    started: Option<Instant>,
    count: u32,
}

impl RateWindow {
    /// Counts a message; `false` when it is one more than `max` in its second.
    fn admit(&mut self, now: Instant, max: u32) -> bool {
        let fresh = self
            .started
            .is_none_or(|s| now.duration_since(s).as_secs() >= 1);
        if fresh {
            self.started = Some(now);
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count <= max
    }
}
