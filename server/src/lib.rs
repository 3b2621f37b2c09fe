//! `propbot-server`: the composition root and driver of the engine — the `propbot`
//! binary. It owns every piece of IO the engine must not do: the wall clock, the
//! SQLite journal, the lease (an OS file lock), the market source, the HTTP API and
//! dashboard, the operator CLI.
//!
//! Map of the crate:
//! - [`service`]: start-up (lease, journal, config, recovery, secrets) and shutdown;
//! - [`driver`]: the engine task — batches, write-ahead commit, then send;
//! - [`journal`]: SQLite event journal with a hash chain, outbox, audit log, config
//!   versions, lease epochs;
//! - [`paper`]: the simulator's synthetic market and simulated venues in real time;
//! - [`view`]: JSON documents built from the engine, published as snapshots;
//! - [`live`]: live public market data (shadow trading, recording); [`record`]:
//!   `propbot record`;
//! - [`links`]: the live connections' board (System Status, `/metrics`, dashboard);
//! - [`api`]: axum routes, access control, OpenAPI, WebSocket stream, telemetry;
//! - [`secrets`] (operator tokens), [`keys`] (venue API keys), [`lease`], [`clock`];
//! - [`ctl`]: `propbot ctl …`; [`bench`]: the loopback load benchmark.
//!
//! Dependencies point one way: this crate uses `propbot-engine` and `propbot-sim`;
//! nothing but `propbot-tests` depends on it.

pub mod api;
pub mod bench;
pub mod clock;
pub mod ctl;
pub mod driver;
pub mod journal;
pub mod keys;
pub mod lease;
pub mod links;
pub mod live;
pub mod paper;
pub mod record;
pub mod secrets;
pub mod service;
pub mod view;

pub use api::app;
pub use service::{ServeOptions, Service, Source};
