//! PropBot's decision engine. **This crate is sans-IO**: it touches no file, socket,
//! thread, environment variable or OS clock, and it depends on no crate that does
//! (no tokio, reqwest, tungstenite, axum, arrow, parquet or rusqlite; `tests/tidy.rs`
//! enforces it). Drivers stamp `now`, feed [`Input`]s, drain [`Output`]s and honour
//! [`Engine::poll_timeout`]; the same inputs give the same outputs and the same
//! [`Engine::digest`], bit for bit, in the simulator, on a recording or live.
//!
//! Map of the crate:
//! - [`model`]: venues, instruments, sides, fixed-point money, order ids and states;
//! - [`book`]: L2 books with venue-neutral continuity;
//! - [`ledger`]: fills, fees, positions, realised/unrealised/daily PnL;
//! - [`control`]: RUN/HOLD, safe mode, two-man approvals;
//! - [`guards`]: the P0 guards;
//! - [`strategy`]: cross-venue basis arbitrage pricing, sizing and phases;
//! - [`orders`]: order bookkeeping;
//! - [`engine`]: the state machine wiring it all, and System Status;
//! - [`recovery`]: rebuilding state from the journal;
//! - [`config`]: YAML → validated typed config;
//! - [`metrics`], [`digest`], [`time`]: measurement, the decision digest, time.

pub mod book;
pub mod config;
pub mod control;
pub mod digest;
pub mod engine;
pub mod gateway;
pub mod guards;
pub mod input;
pub mod ledger;
pub mod metrics;
pub mod model;
pub mod orders;
pub mod output;
pub mod recovery;
pub mod strategy;
pub mod time;

pub use config::{Config, Profile};
pub use engine::{Engine, StatusReport};
pub use input::Input;
pub use output::Output;
pub use recovery::RecoveredState;
pub use time::UnixNanos;
