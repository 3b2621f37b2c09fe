//! The recording format: one explicit Arrow schema, the codes stored in its small
//! integer columns, and the Parquet encodings each column is written with.
//!
//! One row is one *book level change* (or one trade, one side of a best bid/offer, one
//! book invalidation). The rows of one venue message share their header columns
//! (times, venue, instrument, kind, sequence fields, `message`) and the last of them
//! carries [`flags::END_OF_MESSAGE`], so a reader regroups them into exactly the engine
//! input the venue sent. `docs/RECORDINGS.md` is the user-facing description; the file
//! itself repeats the code tables in its key-value metadata (`propbot.codes`).

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;
use propbot_engine::book::InvalidReason;
use propbot_engine::model::{Side, Venue};
use std::sync::{Arc, OnceLock};

/// Version of the schema and its metadata. Readers refuse any other.
pub const SCHEMA_VERSION: u32 = 1;

/// Time zone of the two timestamp columns.
pub const TIME_ZONE: &str = "UTC";

/// Column names, in schema order.
pub mod col {
    /// Local receive time, ns since the Unix epoch (the replay clock).
    pub const TS_RECV_NS: &str = "ts_recv_ns";
    /// Venue timestamp of the message, ns since the Unix epoch.
    pub const TS_EXCHANGE_NS: &str = "ts_exchange_ns";
    /// Venue code ([`super::venue_code`]).
    pub const VENUE: &str = "venue";
    /// Index into the file's instrument table (`propbot.instruments`).
    pub const INSTRUMENT: &str = "instrument";
    /// Row kind ([`super::Kind`]).
    pub const KIND: &str = "kind";
    /// Side of a level / aggressor of a trade; the reason of a book invalidation.
    pub const SIDE: &str = "side";
    /// Price in raw units of the instrument's price scale.
    pub const PRICE: &str = "price";
    /// Quantity in raw units of the instrument's quantity scale.
    pub const QTY: &str = "qty";
    /// First update id of the message (Binance `U`).
    pub const SEQ_FIRST: &str = "seq_first";
    /// Last update id (Binance `u`/`lastUpdateId`, OKX `seqId`), bbo update id, trade id.
    pub const SEQ_LAST: &str = "seq_last";
    /// Last update id of the previous message (Binance `pu`, OKX `prevSeqId`).
    pub const SEQ_PREVIOUS: &str = "seq_previous";
    /// Message number within the stream; the rows of one message share it.
    pub const MESSAGE: &str = "message";
    /// Bit flags ([`super::flags`]).
    pub const FLAGS: &str = "flags";
}

/// Number of columns.
pub const COLUMNS: usize = 13;

/// The Arrow schema of every recording (schema version [`SCHEMA_VERSION`]).
pub fn arrow_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some(TIME_ZONE.into()));
            Arc::new(Schema::new(vec![
                Field::new(col::TS_RECV_NS, ts.clone(), false),
                Field::new(col::TS_EXCHANGE_NS, ts, false),
                Field::new(col::VENUE, DataType::UInt8, false),
                Field::new(col::INSTRUMENT, DataType::UInt16, false),
                Field::new(col::KIND, DataType::UInt8, false),
                Field::new(col::SIDE, DataType::UInt8, false),
                Field::new(col::PRICE, DataType::Int64, false),
                Field::new(col::QTY, DataType::Int64, false),
                Field::new(col::SEQ_FIRST, DataType::UInt64, true),
                Field::new(col::SEQ_LAST, DataType::UInt64, true),
                Field::new(col::SEQ_PREVIOUS, DataType::UInt64, true),
                Field::new(col::MESSAGE, DataType::UInt64, false),
                Field::new(col::FLAGS, DataType::UInt8, false),
            ]))
        })
        .clone()
}

/// What a row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A level of a full book (the message replaces the book).
    Snapshot = 0,
    /// A changed level; quantity 0 deletes the level.
    Delta = 1,
    /// A public trade (`side` is the aggressor).
    Trade = 2,
    /// One side of a venue best bid/offer (two rows per quote).
    Bbo = 3,
    /// The venue-side sync machine lost the book (`side` holds the [`InvalidCode`]).
    BookInvalid = 4,
}

impl Kind {
    /// Every kind, by code.
    pub const ALL: [Kind; 5] = [
        Kind::Snapshot,
        Kind::Delta,
        Kind::Trade,
        Kind::Bbo,
        Kind::BookInvalid,
    ];

    /// The stored code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind of a stored code.
    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(code)).copied()
    }

    /// Lower-case name, as in `propbot.codes`.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Snapshot => "snapshot",
            Kind::Delta => "delta",
            Kind::Trade => "trade",
            Kind::Bbo => "bbo",
            Kind::BookInvalid => "book_invalid",
        }
    }
}

/// Bits of the `flags` column.
pub mod flags {
    /// The last row of its message.
    pub const END_OF_MESSAGE: u8 = 1;
    /// A header-only row: the message has no level here (an empty snapshot, an OKX
    /// heartbeat, a book invalidation); `price`, `qty` and `side` carry no level.
    pub const NO_LEVEL: u8 = 2;
    /// Generated from another venue's recording by the seeded basis model.
    pub const DERIVED: u8 = 4;
    /// Generated by the seeded synthetic market model.
    pub const SYNTHETIC: u8 = 8;
    /// Every defined bit.
    pub const ALL: u8 = END_OF_MESSAGE | NO_LEVEL | DERIVED | SYNTHETIC;
}

/// Side codes: `0` bid / buy, `1` ask / sell.
pub const fn side_code(side: Side) -> u8 {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

/// The side of a stored code.
pub fn side_from_code(code: u8) -> Option<Side> {
    match code {
        0 => Some(Side::Buy),
        1 => Some(Side::Sell),
        _ => None,
    }
}

/// Venue codes: `0` binance-um, `1` okx-swap (the engine's venue index).
pub const fn venue_code(venue: Venue) -> u8 {
    venue.index() as u8
}

/// The venue of a stored code.
pub fn venue_from_code(code: u8) -> Option<Venue> {
    Venue::ALL.get(usize::from(code)).copied()
}

/// Why a book was invalidated, as stored in `side` on [`Kind::BookInvalid`] rows. The
/// codes are the engine's [`InvalidReason`]s a venue sync machine can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum InvalidCode {
    /// The update-id chain broke (a gap, a snapshot too old, a buffer overflow).
    Gap = 0,
    /// The venue checksum disagreed with the rebuilt book.
    ChecksumMismatch = 1,
    /// The feed broke its protocol.
    Protocol = 2,
    /// The feed was reset (reconnect).
    FeedLost = 3,
}

impl InvalidCode {
    const ALL: [InvalidCode; 4] = [
        InvalidCode::Gap,
        InvalidCode::ChecksumMismatch,
        InvalidCode::Protocol,
        InvalidCode::FeedLost,
    ];

    /// The code for an engine reason (reasons a venue never reports map to protocol).
    pub fn from_reason(reason: InvalidReason) -> InvalidCode {
        match reason {
            InvalidReason::Gap => InvalidCode::Gap,
            InvalidReason::ChecksumMismatch => InvalidCode::ChecksumMismatch,
            InvalidReason::FeedLost => InvalidCode::FeedLost,
            _ => InvalidCode::Protocol,
        }
    }

    /// The engine reason.
    pub const fn reason(self) -> InvalidReason {
        match self {
            InvalidCode::Gap => InvalidReason::Gap,
            InvalidCode::ChecksumMismatch => InvalidReason::ChecksumMismatch,
            InvalidCode::Protocol => InvalidReason::Protocol,
            InvalidCode::FeedLost => InvalidReason::FeedLost,
        }
    }

    /// The stored code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The reason of a stored code.
    pub fn from_code(code: u8) -> Option<InvalidCode> {
        InvalidCode::ALL.get(usize::from(code)).copied()
    }

    /// Lower-case name, as in `propbot.codes`.
    pub const fn name(self) -> &'static str {
        match self {
            InvalidCode::Gap => "gap",
            InvalidCode::ChecksumMismatch => "checksum_mismatch",
            InvalidCode::Protocol => "protocol",
            InvalidCode::FeedLost => "feed_lost",
        }
    }
}

/// The code tables as JSON, stored in every file under `propbot.codes` so a user with
/// only pyarrow or DuckDB can decode the integer columns.
pub fn codes_json() -> String {
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("\"{}\":\"{}\"", k.code(), k.name()))
        .collect();
    let venues: Vec<String> = Venue::ALL
        .iter()
        .map(|v| format!("\"{}\":\"{}\"", venue_code(*v), v.name()))
        .collect();
    let reasons: Vec<String> = InvalidCode::ALL
        .iter()
        .map(|r| format!("\"{}\":\"{}\"", r.code(), r.name()))
        .collect();
    format!(
        "{{\"venue\":{{{}}},\"kind\":{{{}}},\"side\":{{\"0\":\"bid/buy\",\"1\":\"ask/sell\"}},\
         \"book_invalid_side\":{{{}}},\"flags\":{{\"1\":\"end_of_message\",\"2\":\"no_level\",\
         \"4\":\"derived\",\"8\":\"synthetic\"}}}}",
        venues.join(","),
        kinds.join(","),
        reasons.join(",")
    )
}

/// Writer tuning: how rows become row groups and files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Rows per row group, at least (row groups end on a message boundary). Large row
    /// groups scan fast; a crash loses at most the row group being written.
    pub row_group_rows: usize,
    /// Rows handed to the Parquet encoder at once.
    pub batch_rows: usize,
    /// zstd level.
    pub zstd_level: i32,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            row_group_rows: 1 << 20,
            batch_rows: 1 << 16,
            zstd_level: 9,
        }
    }
}

/// Parquet writer properties for the schema, using only encodings every Parquet reader
/// knows (pyarrow, DuckDB, polars, Spark): zstd over DELTA_BINARY_PACKED for the
/// timestamps and message numbers (constant within a message, small steps between),
/// PLAIN for prices and sequence fields (zstd finds their repeats; delta encoding pays
/// for every jump between book sides and id domains), dictionaries for quantities
/// and the small code columns. Chunk-level statistics give min/max per row group, so
/// time-range scans skip row groups.
pub fn writer_properties(layout: &Layout, created_by: &str) -> WriterProperties {
    let level = ZstdLevel::try_new(layout.zstd_level).unwrap_or_default();
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(None)
        .set_data_page_size_limit(1 << 20)
        .set_created_by(created_by.to_owned());
    for name in [col::TS_RECV_NS, col::TS_EXCHANGE_NS, col::MESSAGE] {
        let path = ColumnPath::from(name);
        b = b
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
    }
    for name in [col::PRICE, col::SEQ_FIRST, col::SEQ_LAST, col::SEQ_PREVIOUS] {
        let path = ColumnPath::from(name);
        b = b
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, Encoding::PLAIN);
    }
    for name in [
        col::VENUE,
        col::INSTRUMENT,
        col::KIND,
        col::SIDE,
        col::QTY,
        col::FLAGS,
    ] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(name), true);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_the_table_is_json() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code(5), None);
        for v in Venue::ALL {
            assert_eq!(venue_from_code(venue_code(v)), Some(v));
        }
        for s in [Side::Buy, Side::Sell] {
            assert_eq!(side_from_code(side_code(s)), Some(s));
        }
        for r in InvalidCode::ALL {
            assert_eq!(InvalidCode::from_code(r.code()), Some(r));
            assert_eq!(InvalidCode::from_reason(r.reason()), r);
        }
        let v: serde_json::Value = serde_json::from_str(&codes_json()).unwrap();
        assert_eq!(v["kind"]["4"], "book_invalid");
        assert_eq!(v["venue"]["1"], "okx-swap");
        assert_eq!(arrow_schema().fields().len(), COLUMNS);
    }
}
