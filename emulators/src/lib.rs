//! PropBot venue emulators: servers on loopback that speak each venue's real public
//! market-data protocol over a seeded synthetic market (`propbot_market::synth`) or a
//! Parquet recording played as recorded ([`playback`]), with fault hooks a test can
//! pull (drop every socket, stall, skip a diff, rate limits and bans, slow snapshots, a
//! skewed venue clock).
//!
//! They are fixtures for the live adapters: an adapter connects to
//! `http://127.0.0.1:PORT` and `ws://127.0.0.1:PORT` exactly as it would to the venue,
//! and nothing reaches the internet. The same seed publishes the same frames whatever
//! the speed ([`clock`]); what a venue does is in its module ([`binance`], [`okx`]),
//! written from `../shared/VENUES.md`.
//!
//! This crate may use tokio and axum; nothing below it (engine, venues, market,
//! simulator) may depend on it (`tests/tests/tidy.rs`).

pub mod binance;
pub mod book;
pub mod cli;
pub mod clock;
mod config;
mod hub;
pub mod model;
pub mod okx;
pub mod playback;
pub mod roundtrip;
pub mod text;
pub mod ws;

pub use clock::Speed;
pub use config::{EmulatorConfig, INSTRUMENTS_MAX, Limits, ServeError, Source};
pub use hub::{Counters, Emulator, Frame, StreamKey};

use axum::Router;
use axum::serve::ListenerExt;
use hub::Hub;
use std::net::SocketAddr;
use std::sync::Arc;

/// Serves `app` on `listener` until the hub's shutdown fires.
async fn serve_http(listener: tokio::net::TcpListener, app: Router, hub: Arc<Hub>) {
    let mut shutdown = hub.shutdown.subscribe();
    let stop = async move {
        // Ends when shutdown is sent or its sender is gone.
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    // Frames and replies leave at once, as from a venue's gateway: without
    // TCP_NODELAY a small write waits for the client's delayed ACK of the one before
    // (about 40 ms: three OKX subscription acknowledgements and the book snapshot
    // took 42 ms to arrive).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // An accept error is retried by axum; serve returns only on shutdown.
    let _ = axum::serve(listener, service)
        .with_graceful_shutdown(stop)
        .await;
}
