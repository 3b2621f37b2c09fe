//! The one error type of the market-data modules. A bad frame is a typed value, never a
//! panic: drivers count it (`VenueEventKind::MalformedMessage`) and carry on.

use propbot_engine::model::{DecimalError, InstrumentId, Venue};

/// Why a frame, a capture line or an instrument description could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The frame is not JSON of the expected shape: truncated, a wrong type, a missing
    /// field. `source` says where.
    #[error("malformed {venue} frame: {source}")]
    Json {
        /// Venue whose parser rejected the frame.
        venue: Venue,
        /// The JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// Well-formed JSON of a kind this crate does not handle (an unknown event type or
    /// channel). Drivers may count and ignore it.
    #[error("unsupported {venue} message: {kind}")]
    Unsupported {
        /// Venue.
        venue: Venue,
        /// The event type or channel as received (at most 64 bytes of it).
        kind: String,
    },
    /// The frame names a symbol for which no instrument is configured.
    #[error("no {venue} instrument is configured for symbol {symbol:?}")]
    UnknownSymbol {
        /// Venue.
        venue: Venue,
        /// The symbol as received (at most 64 bytes of it).
        symbol: String,
    },
    /// A price or size is not a plain non-negative decimal at the instrument's scale
    /// (this rejects `NaN`, negatives, exponents, overflow and excess precision).
    #[error("bad {field} for {symbol}: {source}")]
    Decimal {
        /// Which field (`price`, `size`, ...).
        field: &'static str,
        /// Venue symbol of the instrument.
        symbol: String,
        /// What was wrong with the text.
        #[source]
        source: DecimalError,
    },
    /// A contract count whose base quantity (`contracts × contract value`) is not a
    /// whole number of quantity units, or does not fit in 64 bits.
    #[error("{contracts:?} contracts of {symbol} do not convert exactly to the quantity scale")]
    ContractsNotRepresentable {
        /// Venue symbol.
        symbol: String,
        /// The contract count as received.
        contracts: String,
    },
    /// A field the protocol requires in this context is absent or out of range (for
    /// example an OKX update without `seqId` on a sequenced book).
    #[error("{venue} protocol violation: {what}")]
    Protocol {
        /// Venue.
        venue: Venue,
        /// What was wrong.
        what: &'static str,
    },
    /// The venue answered with an error event (OKX `"event":"error"`).
    #[error("{venue} error event {code}: {message}")]
    VenueError {
        /// Venue.
        venue: Venue,
        /// Venue error code.
        code: String,
        /// Venue message.
        message: String,
    },
    /// An OKX level string is too long to keep for checksum verification.
    #[error("OKX level text {0:?} is longer than {max} bytes", max = crate::okx::checksum::LEVEL_TEXT_LEN_MAX)]
    LevelTextTooLong(String),
    /// The engine configuration has no listing of this instrument on this venue.
    #[error("instrument {instrument:?} has no {venue} listing in the configuration")]
    NoListing {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
    },
    /// An instrument description (exchangeInfo, OKX instruments) lacks a usable value.
    #[error("instrument {symbol}: {what}")]
    InstrumentSpec {
        /// Venue symbol.
        symbol: String,
        /// What is missing or invalid.
        what: String,
    },
    /// A capture line that is not in the file's format. `line` is 1-based.
    #[error("capture line {line}: {reason}")]
    CaptureLine {
        /// 1-based line number.
        line: u64,
        /// What was wrong with it.
        reason: String,
    },
    /// Reading a capture failed (I/O or invalid UTF-8). `line` is 1-based.
    #[error("capture line {line}: {source}")]
    CaptureIo {
        /// 1-based line number.
        line: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Cuts untrusted text to at most 64 bytes (on a char boundary) for error messages.
pub(crate) fn clip(text: &str) -> String {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
