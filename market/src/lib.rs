//! PropBot's markets: the seeded synthetic two-venue market ([`synth`]) and the seeded
//! random streams it and the simulator draw from ([`rng`]); a recording held in memory
//! and played as a continuous, looping market ([`tape`]); the choice between the two
//! that a simulated world or the paper service trades against ([`source`]); and the
//! recordings the model writes, fully synthetic or derived from a real venue
//! ([`generate`], `propbot recordings synth` in [`cli`]).
//!
//! The market models read no clock and draw only from the streams they are given, so a
//! world stays as deterministic as the engine. Files are read and written through
//! `propbot-recordings` (the tape loads a recording, the generator writes one); this
//! crate may depend on `propbot-engine` and `propbot-recordings` (and, through it,
//! `propbot-venues`) only, and never on tokio (`tests/tidy.rs` checks).

pub mod cli;
pub mod generate;
pub mod rng;
pub mod source;
pub mod synth;
pub mod tape;
