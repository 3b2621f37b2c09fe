//! PropBot's seeded discrete-event simulator: it wraps the production
//! [`propbot_engine::Engine`] (never a copy) in a world of simulated venues, disks and
//! a cluster with a lease service, injects faults, and checks invariants after every
//! step. Like the engine it reads no clock and draws no randomness it was not given:
//! every stream derives from one master seed ([`rng::Seeds`]). It must not depend on
//! tokio or any IO crate (`tests/tidy.rs`).
//!
//! The market model (`propbot_market::synth::SyntheticMarket`, re-exported as
//! [`market`]), the venue model ([`venue::SimVenue`]) and the paper exchange that
//! joins them to a latency model ([`paper::PaperExchange`]) are sans-IO too: the world,
//! `propbot replay` and the live service's paper mode all drive the very same exchange.

/// The synthetic market model (it lives in `propbot-market`, with the recorded market
/// and the generated recordings).
pub mod market {
    pub use propbot_market::synth::*;
}
/// Seeded random streams (`propbot_market::rng`).
pub use propbot_market::rng;

pub mod checkers;
pub mod cli;
pub mod disk;
pub mod lease;
pub mod paper;
pub mod replay;
pub mod runner;
pub mod scenario;
pub mod venue;
pub mod world;
