//! PropBot recordings: the Arrow/Parquet schema of market events ([`schema`], [`meta`]),
//! the crash-safe rolling writer ([`writer`]), streaming readers with a k-way merge by
//! receive time ([`reader`]), importers of real captures ([`import`]), what a file holds
//! ([`inspect`]), and the `propbot recordings import|inspect|recover` command line
//! ([`cli`]).
//!
//! The markets made from recordings or written to them (the synthetic model, the tape,
//! the generated recordings and `propbot recordings synth`) are `propbot-market`, which
//! builds on this crate. No tokio and no engine decisions: everything here is
//! synchronous so the market, the simulator's replay driver (`propbot_sim::replay`),
//! the live service and tests reuse it. It may depend on `propbot-engine` and
//! `propbot-venues` only (`tests/tidy.rs` checks).

pub mod cli;
pub mod error;
pub mod import;
pub mod inspect;
pub mod message;
pub mod meta;
pub mod progress;
pub mod reader;
pub mod schema;
pub mod session;
pub mod writer;

pub use error::{Error, Result};
pub use message::{Body, Message, OwnedMessage};
pub use meta::{InstrumentMeta, ListingMeta, Origin, RecordingMeta};
pub use reader::{FileInfo, MergedReader, Recording};
pub use session::{SessionCounts, SessionRecorder};
pub use writer::{Commit, RecordingWriter, Roll, WriterOptions};
