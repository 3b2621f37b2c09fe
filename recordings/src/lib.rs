//! PropBot recordings: the Arrow/Parquet schema of market events ([`schema`], [`meta`]),
//! the crash-safe rolling writer ([`writer`]), streaming readers with a k-way merge by
//! receive time ([`reader`]), importers of real captures ([`import`]), the synthetic
//! two-venue market ([`synth`]) and the recordings it generates, fully synthetic or
//! derived from a real venue ([`generate`]), and the `propbot recordings` command line
//! ([`cli`]).
//!
//! No tokio and no engine decisions: everything here is synchronous so the simulator's
//! replay driver (`propbot_sim::replay`), the live service and tests reuse it. It may
//! depend on `propbot-engine` and `propbot-venues` only (`tests/tidy.rs` checks).

pub mod cli;
pub mod error;
pub mod generate;
pub mod import;
pub mod inspect;
pub mod message;
pub mod meta;
pub mod progress;
pub mod reader;
pub mod rng;
pub mod schema;
pub mod source;
pub mod synth;
pub mod tape;
pub mod writer;

pub use error::{Error, Result};
pub use message::{Body, Message, OwnedMessage};
pub use meta::{InstrumentMeta, ListingMeta, Origin, RecordingMeta};
pub use reader::{FileInfo, MergedReader, Recording};
pub use writer::{Commit, RecordingWriter, Roll, WriterOptions};
