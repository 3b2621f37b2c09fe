//! The one error type of the recordings crate. Every variant names the file it is about
//! and, where there is one, the position in it (row, line, byte); none of them is ever
//! a panic.

use std::path::PathBuf;

/// What went wrong with a recording, a capture or an output directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be opened, read, written, synced or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a (complete) Parquet file: truncated, still being written, or
    /// something else entirely. `size` is its length in bytes.
    #[error(
        "{}: not a readable Parquet file ({size} bytes): {source}. A file cut short by a \
         crash has no footer; `propbot recordings recover DIR` restores `.partial` files \
         up to their last complete row group",
        path.display()
    )]
    NotParquet {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// What the Parquet reader said.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A valid Parquet file that is not a PropBot recording (no `propbot.schema_version`
    /// in its key-value metadata).
    #[error("{}: not a PropBot recording: {reason}", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A recording written with a schema version this build does not know.
    #[error(
        "{}: recording schema version {found} is not supported (this build reads version \
         {supported}); use the PropBot release that wrote it",
        path.display()
    )]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: String,
        /// Version this build reads.
        supported: u32,
    },
    /// The file claims the supported version but its columns differ.
    #[error("{}: schema mismatch: {detail}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// The first difference.
        detail: String,
    },
    /// A `propbot.*` metadata value that cannot be read.
    #[error("{}: metadata key {key}: {detail}", path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Decoding a row group failed (corrupt pages). `row` is the first row of the batch
    /// being decoded, 0-based within the file.
    #[error("{}: cannot decode rows from {row}: {source}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// First row of the failing batch.
        row: u64,
        /// What the Parquet reader said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A row group's bytes differ from the CRC32 recorded when the file was written:
    /// the file was damaged after it was written (disk, copy, edit).
    #[error(
        "{}: damaged: bytes {start}..{end} (row group {row_group}) do not match the CRC32 \
         recorded when the file was written",
        path.display()
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Index of the checksummed range (one per row group).
        row_group: usize,
        /// First byte of the range.
        start: u64,
        /// End of the range (exclusive).
        end: u64,
    },
    /// A row breaks the format's rules (unknown code, a message without its end,
    /// receive time going backwards). `row` is 0-based within the file.
    #[error("{}: row {row}: {what}", path.display())]
    BadRow {
        /// The file.
        path: PathBuf,
        /// The row.
        row: u64,
        /// What is wrong.
        what: String,
    },
    /// Two files given as one recording disagree (instrument tables of one stream).
    #[error("{}: {what}", path.display())]
    Inconsistent {
        /// The later file.
        path: PathBuf,
        /// What differs.
        what: String,
    },
    /// A capture line or frame the venue parsers refused. `line` is 1-based.
    #[error("{}:{line}: {source}", path.display())]
    Capture {
        /// The capture file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The venue parser's error.
        #[source]
        source: propbot_venues::Error,
    },
    /// A capture that cannot be imported as a whole (unknown format, no instruments,
    /// a symbol without a spec).
    #[error("{}: {what}", path.display())]
    Import {
        /// The capture file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Encoding or finishing a Parquet file failed.
    #[error("{}: cannot write Parquet: {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What the Parquet writer said.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The output directory already holds a recording of that name.
    #[error(
        "{}: a recording named {stream:?} is already there; choose another output \
         directory or remove its files",
        dir.display()
    )]
    Exists {
        /// Output directory.
        dir: PathBuf,
        /// Stream (file prefix).
        stream: String,
    },
    /// A message handed to the writer is not valid for the format (an instrument
    /// outside the table, a receive time before the previous message's).
    #[error("{}: cannot record message {message}: {what}", path.display())]
    Record {
        /// The file being written.
        path: PathBuf,
        /// Message number within the stream.
        message: u64,
        /// What is wrong.
        what: String,
    },
    /// No recording files were found where they were looked for.
    #[error("{}: no recording files (*.parquet) found", path.display())]
    Empty {
        /// The path given.
        path: PathBuf,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;

/// An I/O error with its path.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
