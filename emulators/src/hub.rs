//! What every emulator shares between its market task, its HTTP handlers and its
//! WebSocket connections: the clock, the frame fan-out, the connection-level faults,
//! the counters, and the public [`Emulator`] handle that controls them.

use crate::clock::Clock;
use crate::config::Limits;
use axum::extract::ws::Utf8Bytes;
use propbot_engine::time::UnixNanos;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// Identifies one stream of one instrument (`btcusdt@depth@100ms`, OKX `books` of
/// `BTC-USDT-SWAP`): `instrument index × channels + channel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamKey(pub u32);

/// One rendered frame, shared by every client that receives it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The stream it belongs to.
    pub key: StreamKey,
    /// Publication number within its stream, for streams a client joins with a
    /// snapshot (OKX `books`: frames published at or before the snapshot are skipped);
    /// 0 otherwise.
    pub serial: u64,
    /// The text sent.
    pub text: Utf8Bytes,
}

/// Counters an emulator keeps; read with [`Emulator::counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// WebSocket connections accepted.
    pub connections_accepted: u64,
    /// WebSocket connections refused because [`Limits::connections_max`] were open.
    pub connections_refused: u64,
    /// Connections dropped by [`Emulator::drop_connections`].
    pub connections_dropped: u64,
    /// Clients disconnected for falling behind or not reading.
    pub slow_clients_disconnected: u64,
    /// Clients disconnected for breaking the protocol (too many messages a second).
    pub clients_disconnected_for_abuse: u64,
    /// Clients disconnected for leaving a ping unanswered.
    pub unresponsive_clients_disconnected: u64,
    /// Connections cut at the end of their lifetime.
    pub connections_expired: u64,
    /// Market frames written to clients.
    pub frames_sent: u64,
    /// Diffs withheld by the skip fault.
    pub diffs_skipped: u64,
    /// REST requests answered.
    pub rest_requests: u64,
    /// REST requests answered with an error status by a fault or a limit.
    pub rest_rejected: u64,
}

#[derive(Debug, Default)]
pub(crate) struct AtomicCounters {
    pub connections_accepted: AtomicU64,
    pub connections_refused: AtomicU64,
    pub connections_dropped: AtomicU64,
    pub slow_clients_disconnected: AtomicU64,
    pub clients_disconnected_for_abuse: AtomicU64,
    pub unresponsive_clients_disconnected: AtomicU64,
    pub connections_expired: AtomicU64,
    pub frames_sent: AtomicU64,
    pub diffs_skipped: AtomicU64,
    pub rest_requests: AtomicU64,
    pub rest_rejected: AtomicU64,
}

/// Locks a mutex; a panic elsewhere while it was held leaves plain data behind, so
/// poisoning is ignored.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The wall clock, to the millisecond (the default market start).
pub(crate) fn wall_clock() -> UnixNanos {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    UnixNanos::from_millis(ms)
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// State shared by an emulator's tasks.
#[derive(Debug)]
pub(crate) struct Hub {
    pub clock: Clock,
    pub limits: Limits,
    pub frames: broadcast::Sender<Frame>,
    /// Bumped to make every connection drop its socket.
    pub drops: watch::Sender<u64>,
    pub shutdown: watch::Sender<bool>,
    pub stalled: AtomicBool,
    pub time_offset_ms: AtomicI64,
    pub connections: AtomicUsize,
    pub counters: AtomicCounters,
}

impl Hub {
    pub fn new(clock: Clock, limits: Limits) -> Hub {
        Hub {
            clock,
            limits,
            frames: broadcast::Sender::new(limits.frames_queued_max.max(1)),
            drops: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
            stalled: AtomicBool::new(false),
            time_offset_ms: AtomicI64::new(0),
            connections: AtomicUsize::new(0),
            counters: AtomicCounters::default(),
        }
    }

    /// A market time as the venue's clock shows it (with the offset fault), ms.
    pub fn venue_ms(&self, t: UnixNanos) -> u64 {
        let offset = self.time_offset_ms.load(Ordering::Relaxed);
        t.as_millis().saturating_add_signed(offset)
    }

    /// The venue's clock now, ms.
    pub fn venue_now_ms(&self) -> u64 {
        self.venue_ms(self.clock.now())
    }

    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed)
    }

    /// Publishes a frame to every connection (none connected is fine).
    pub fn publish(&self, frame: Frame) {
        let _ = self.frames.send(frame);
    }

    /// Takes a connection slot, or `None` when all are in use.
    pub fn connect(self: &Arc<Hub>) -> Option<Slot> {
        let open = self.connections.fetch_add(1, Ordering::Relaxed);
        if open >= self.limits.connections_max {
            self.connections.fetch_sub(1, Ordering::Relaxed);
            bump(&self.counters.connections_refused);
            return None;
        }
        bump(&self.counters.connections_accepted);
        Some(Slot(self.clone()))
    }
}

/// A connection slot, released on drop.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Hub>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The handle every emulator has: where it listens, the faults common to all venues,
/// the emulated clock, shutdown.
#[derive(Debug)]
pub struct Emulator {
    pub(crate) addr: SocketAddr,
    pub(crate) hub: Arc<Hub>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl Emulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the REST base URL.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://ADDR`, the WebSocket base URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Fault: drops every open WebSocket connection at once, without a close frame
    /// (as a network cut or a venue restart does). New connections are accepted.
    pub fn drop_connections(&self) {
        self.hub.drops.send_modify(|generation| *generation += 1);
    }

    /// Fault: while `on`, connections stay open but nothing is sent on them (no market
    /// frame, no reply, no ping). Frames published meanwhile are lost for good, so a
    /// client sees a sequence gap when the stall ends.
    pub fn stall(&self, on: bool) {
        self.hub.stalled.store(on, Ordering::Relaxed);
    }

    /// Fault: the venue's clock runs `offset_ms` ahead (negative: behind) of market
    /// time, in server time and in every event and transaction time it sends.
    pub fn set_time_offset_ms(&self, offset_ms: i64) {
        self.hub.time_offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// Freezes the market and the venue clock (server time included): nothing is
    /// published until [`Emulator::resume`]. For tests that compare books at rest.
    pub fn pause(&self) {
        self.hub.clock.pause();
    }

    /// Restarts the market from where [`Emulator::pause`] stopped it.
    pub fn resume(&self) {
        self.hub.clock.resume();
    }

    /// Market time now.
    pub fn now(&self) -> UnixNanos {
        self.hub.clock.now()
    }

    /// Waits until market time reaches `t` (a paused market waits for its resume).
    /// Returns `false` when the emulator stops first.
    pub async fn wait_until(&self, t: UnixNanos) -> bool {
        let mut shutdown = self.hub.shutdown.subscribe();
        self.hub.clock.wait_until(t, &mut shutdown).await
    }

    /// WebSocket connections open now.
    pub fn connections(&self) -> usize {
        self.hub.connections.load(Ordering::Relaxed)
    }

    /// A copy of the counters.
    pub fn counters(&self) -> Counters {
        let c = &self.hub.counters;
        let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            connections_accepted: read(&c.connections_accepted),
            connections_refused: read(&c.connections_refused),
            connections_dropped: read(&c.connections_dropped),
            slow_clients_disconnected: read(&c.slow_clients_disconnected),
            clients_disconnected_for_abuse: read(&c.clients_disconnected_for_abuse),
            unresponsive_clients_disconnected: read(&c.unresponsive_clients_disconnected),
            connections_expired: read(&c.connections_expired),
            frames_sent: read(&c.frames_sent),
            diffs_skipped: read(&c.diffs_skipped),
            rest_requests: read(&c.rest_requests),
            rest_rejected: read(&c.rest_rejected),
        }
    }

    /// Stops serving: closes every connection, stops the market and the listener, and
    /// waits for its tasks to end.
    pub async fn shutdown(mut self) {
        self.stop();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    fn stop(&self) {
        self.hub.shutdown.send_replace(true);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // A handle dropped without `shutdown` still stops its tasks.
        self.stop();
    }
}
