//! PropBot venue adapters. This issue builds the market-data part: it turns raw
//! Binance USDⓈ-M and OKX v5 frames into engine inputs, with each venue's own book
//! continuity rules.
//!
//! **The market-data modules are pure and IO-free.** They touch no socket, spawn
//! nothing, read no clock and depend on no async runtime or network crate (no tokio,
//! tungstenite, reqwest, hyper): the recordings importer reuses them on captured frames,
//! and the live adapters (a later issue) will feed them from their connections. The
//! only reading they do is [`capture`]'s line readers over a caller-supplied
//! [`std::io::BufRead`].
//!
//! Map of the crate:
//! - [`binance`]: wire DTOs, the depth sync machine ([`binance::sync::DepthSync`]) and
//!   [`binance::BinanceFeed`];
//! - [`okx`]: wire DTOs, the `books` sync machine ([`okx::sync::BookSync`]), the CRC32
//!   checksum ([`okx::checksum`]) and [`okx::OkxFeed`];
//! - [`event`]: [`SyncEvent`] (snapshot, delta, resync, bbo, trade), viewable as an
//!   engine `Input` without copying, and the reusable [`Events`] list;
//! - [`instrument`]: [`InstrumentSpec`], scales and contract value for parsing;
//! - [`capture`]: readers for the hftbacktest, cryptofeed and JSONL capture formats;
//! - [`error`]: the typed [`Error`].
//!
//! Prices and sizes go from their strings straight into the engine's fixed-point types
//! (`parse_unsigned_decimal`), never through `f64`; OKX contract sizes are converted to
//! base units with `ctVal × ctMult`.

pub mod binance;
pub mod capture;
pub mod error;
pub mod event;
pub mod instrument;
pub mod okx;
mod raw;
pub mod sign;

pub use error::Error;
pub use event::{Events, ResyncReason, SyncEvent};
pub use instrument::InstrumentSpec;
pub use raw::RawLevel;
