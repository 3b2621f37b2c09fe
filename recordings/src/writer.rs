//! The streaming, crash-safe recording writer.
//!
//! Messages go in one at a time; rows collect in column buffers and go to the Parquet
//! encoder in batches; row groups end on message boundaries once they hold
//! [`Layout::row_group_rows`]; files roll by rows, bytes or receive-time span, also on
//! message boundaries, so every file holds whole messages.
//!
//! **Crash safety.** A file is written as `NAME.parquet.partial` and renamed to
//! `NAME.parquet` only after its footer is written and the file and directory are
//! synced: a `*.parquet` file is always complete. After every row group the writer
//! syncs the data and stores a *checkpoint* next to it (`NAME.parquet.partial.checkpoint`,
//! itself written to a temporary name, synced and renamed): the byte offset where the
//! row groups end and the footer that describes them. After a crash (`kill -9`, power
//! loss) [`recover_partial`] rebuilds `NAME.recovered.parquet` from the `.partial`
//! file's bytes up to that offset plus the stored footer, so at most the row group in
//! progress is lost. [`scan`] finds what a crash left behind; [`RecordingWriter::create`]
//! recovers its own stream's leftovers before writing.
//!
//! **Commit modes.** A live recorder or the synthetic generator makes each file final
//! as it rolls ([`Commit::EachFile`]). An import ([`Commit::AtEnd`]) writes its files as
//! `NAME.parquet.pending` (no checkpoints: an import is never kept in part) and renames
//! them all only when the whole import succeeded; if it fails, is dropped unfinished
//! or is killed, everything it wrote is deleted (at once, or by the next writer of the
//! stream or `recover`), so no half-written import poses as a valid recording.

use crate::error::{Error, Result, io};
use crate::message::{Body, Message};
use crate::meta::{FileStats, RecordingMeta};
use crate::schema::{self, Kind, Layout, flags, side_code, venue_code};
use arrow_array::{
    ArrayRef, Int64Array, RecordBatch, TimestampNanosecondArray, UInt8Array, UInt16Array,
    UInt64Array,
};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::file::metadata::{FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataWriter};
use parquet::file::properties::WriterProperties;
use propbot_engine::model::Level;
use propbot_engine::time::UnixNanos;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Suffix of a file being written.
pub const PARTIAL_SUFFIX: &str = ".partial";
/// Suffix of the checkpoint beside a `.partial` file.
pub const CHECKPOINT_SUFFIX: &str = ".checkpoint";
/// Suffix of a closed file of an import that has not committed yet.
pub const PENDING_SUFFIX: &str = ".pending";
/// Magic bytes opening a checkpoint file.
const CHECKPOINT_MAGIC: &[u8; 8] = b"PBCKPT01";

/// When to start a new file. Zero means "no limit" for each field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roll {
    /// Rows per file, at most (approximately: files end on message boundaries).
    pub max_rows: u64,
    /// Receive-time span of a file, ns.
    pub max_span_ns: u64,
    /// Bytes per file (encoded size, approximately).
    pub max_bytes: u64,
}

/// When closed files become final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Each file is final as soon as it is closed (live recording, synthetic data).
    EachFile,
    /// Closed files wait as `.pending` until [`RecordingWriter::finish`] (imports).
    AtEnd,
}

/// Writer settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Row groups and batches.
    pub layout: Layout,
    /// File rolling.
    pub roll: Roll,
    /// Commit mode.
    pub commit: Commit,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            layout: Layout::default(),
            roll: Roll {
                max_rows: 0,
                max_span_ns: 3_600 * 1_000_000_000,
                max_bytes: 1 << 30,
            },
            commit: Commit::EachFile,
        }
    }
}

/// What a finished writer produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Final files, in order.
    pub files: Vec<PathBuf>,
    /// Rows written.
    pub rows: u64,
    /// Messages written.
    pub messages: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// A writer of one stream: rolling files `DIR/STREAM-NNNNN.parquet`.
pub struct RecordingWriter {
    dir: PathBuf,
    meta: RecordingMeta,
    options: WriterOptions,
    current: Option<FileWriter>,
    next_index: u32,
    next_message: u64,
    last_recv: u64,
    closed: Vec<PathBuf>,
    summary: WriteSummary,
    finished: bool,
}

impl RecordingWriter {
    /// A writer for stream `meta.stream` in `dir` (created if missing). Leftovers of
    /// an earlier crash of the same stream are recovered or removed first, and
    /// reported in the returned list. With [`Commit::AtEnd`] the directory must not
    /// already hold files of the stream.
    pub fn create(
        dir: &Path,
        meta: RecordingMeta,
        options: WriterOptions,
    ) -> Result<(RecordingWriter, Vec<Leftover>)> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let stream = sanitize(&meta.stream);
        let leftovers = clean_up_stream(dir, &stream)?;
        let existing = stream_files(dir, &stream)?;
        if options.commit == Commit::AtEnd && !existing.is_empty() {
            return Err(Error::Exists {
                dir: dir.to_owned(),
                stream,
            });
        }
        let next_index = existing.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
        // A stream carried on after a restart keeps numbering its messages and keeps
        // its receive times in order.
        let (mut next_message, mut last_recv) = (0, 0);
        for (_, path) in &existing {
            let stats = crate::reader::FileInfo::open(path)?.meta.stats;
            next_message += stats.messages;
            last_recv = last_recv.max(stats.last_recv_ns);
        }
        let mut meta = meta;
        meta.stream = stream;
        Ok((
            RecordingWriter {
                dir: dir.to_owned(),
                meta,
                options,
                current: None,
                next_index,
                next_message,
                last_recv,
                closed: Vec::new(),
                summary: WriteSummary::default(),
                finished: false,
            },
            leftovers,
        ))
    }

    /// The stream's metadata template.
    pub fn meta(&self) -> &RecordingMeta {
        &self.meta
    }

    /// Rows written so far (closed and open files).
    pub fn rows(&self) -> u64 {
        self.summary.rows + self.current.as_ref().map_or(0, |f| f.stats.rows)
    }

    /// Messages written so far.
    pub fn messages(&self) -> u64 {
        self.next_message
    }

    /// Appends one message. Its receive time must not be before the previous one's.
    pub fn write(&mut self, message: &Message<'_>) -> Result<()> {
        let recv = message.ts_recv.0;
        let path = || {
            self.dir.join(file_name(
                &self.meta.stream,
                self.next_index.saturating_sub(1),
            ))
        };
        if recv < self.last_recv {
            return Err(Error::Record {
                path: path(),
                message: self.next_message,
                what: format!(
                    "receive time {recv} is before the previous message's {}",
                    self.last_recv
                ),
            });
        }
        if recv > i64::MAX as u64 || message.ts_exchange.0 > i64::MAX as u64 {
            return Err(Error::Record {
                path: path(),
                message: self.next_message,
                what: "timestamp beyond year 2262".into(),
            });
        }
        let instrument = self.meta.instruments.get(usize::from(message.instrument));
        if instrument.and_then(|i| i.listing(message.venue)).is_none() {
            return Err(Error::Record {
                path: path(),
                message: self.next_message,
                what: format!(
                    "instrument {} on {} is not in the instrument table",
                    message.instrument, message.venue
                ),
            });
        }
        if self.should_roll(recv) {
            self.close_current()?;
        }
        if self.current.is_none() {
            let mut meta = self.meta.clone();
            meta.file_index = self.next_index;
            let name = file_name(&meta.stream, self.next_index);
            self.next_index += 1;
            // An import's files are never recovered on their own (the import is all or
            // nothing), so they are written as `.pending` without checkpoints.
            let (suffix, checkpoints) = match self.options.commit {
                Commit::EachFile => (PARTIAL_SUFFIX, true),
                Commit::AtEnd => (PENDING_SUFFIX, false),
            };
            self.current = Some(FileWriter::create(
                &self.dir.join(name),
                suffix,
                checkpoints,
                meta,
                &self.options.layout,
            )?);
        }
        let file = self.current.as_mut().expect("opened above");
        file.write(message, self.next_message)?;
        self.next_message += 1;
        self.last_recv = recv;
        Ok(())
    }

    /// Whether the next message, received at `recv`, will open a new file (the open
    /// one is full by rows, span or size). A live recorder writes the books it carries
    /// first, so that every rolled file starts with a snapshot and replays on its own.
    pub fn rolls_before(&self, recv: UnixNanos) -> bool {
        self.should_roll(recv.0)
    }

    fn should_roll(&self, recv: u64) -> bool {
        let Some(f) = &self.current else {
            return false;
        };
        let roll = self.options.roll;
        (roll.max_rows > 0 && f.stats.rows >= roll.max_rows)
            || (roll.max_span_ns > 0
                && f.stats.rows > 0
                && recv.saturating_sub(f.stats.first_recv_ns) >= roll.max_span_ns)
            || (roll.max_bytes > 0 && f.approximate_bytes() >= roll.max_bytes)
    }

    fn close_current(&mut self) -> Result<()> {
        let Some(f) = self.current.take() else {
            return Ok(());
        };
        let target = match self.options.commit {
            Commit::EachFile => f.final_path.clone(),
            Commit::AtEnd => with_suffix(&f.final_path, PENDING_SUFFIX),
        };
        let (stats, bytes) = f.close(&target)?;
        self.summary.rows += stats.rows;
        self.summary.messages += stats.messages;
        self.summary.bytes += bytes;
        self.closed.push(target);
        Ok(())
    }

    /// Closes the open file and commits every file (renaming `.pending` ones).
    pub fn finish(mut self) -> Result<WriteSummary> {
        self.close_current()?;
        let mut files = Vec::new();
        for path in std::mem::take(&mut self.closed) {
            let final_path = match self.options.commit {
                Commit::EachFile => path,
                Commit::AtEnd => {
                    let final_path = strip_suffix(&path, PENDING_SUFFIX);
                    std::fs::rename(&path, &final_path).map_err(io(&path))?;
                    final_path
                }
            };
            files.push(final_path);
        }
        sync_dir(&self.dir)?;
        self.finished = true;
        let mut summary = std::mem::take(&mut self.summary);
        summary.files = files;
        Ok(summary)
    }

    /// Gives up: deletes the open file and, with [`Commit::AtEnd`], every closed one.
    pub fn abort(mut self) {
        self.discard();
    }

    fn discard(&mut self) {
        self.finished = true;
        if let Some(f) = self.current.take() {
            f.discard();
        }
        if self.options.commit == Commit::AtEnd {
            for path in self.closed.drain(..) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl Drop for RecordingWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        match self.options.commit {
            // A live recorder keeps what it has: close the open file properly.
            Commit::EachFile => {
                let _ = self.close_current();
                let _ = sync_dir(&self.dir);
            }
            // An unfinished import leaves nothing behind.
            Commit::AtEnd => self.discard(),
        }
    }
}

/// `STREAM-NNNNN.parquet`.
pub fn file_name(stream: &str, index: u32) -> String {
    format!("{stream}-{index:05}.parquet")
}

/// Keeps `[A-Za-z0-9._-]`, replacing anything else with `_`.
pub fn sanitize(stream: &str) -> String {
    let s: String = stream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "recording".into() } else { s }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn strip_suffix(path: &Path, suffix: &str) -> PathBuf {
    let s = path.to_string_lossy();
    PathBuf::from(s.strip_suffix(suffix).unwrap_or(&s).to_owned())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Complete files of `stream` in `dir`: `(index, path)`.
fn stream_files(dir: &Path, stream: &str) -> Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(rest) = name.strip_prefix(stream).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let tail = &rest[digits.len()..];
        if digits.len() == 5 && (tail == ".parquet" || tail == ".recovered.parquet") {
            out.push((digits.parse().unwrap_or(0), path));
        }
    }
    out.sort();
    Ok(out)
}

/// Something a crash or an interrupted import left in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leftover {
    /// A `.partial` file rebuilt up to its last complete row group.
    Recovered {
        /// The crashed file.
        partial: PathBuf,
        /// The rebuilt file.
        recovered: PathBuf,
        /// Rows kept.
        rows: u64,
        /// Bytes after the last checkpoint that were lost.
        lost_bytes: u64,
    },
    /// A `.partial` file that holds no complete row group (or could not be rebuilt):
    /// left in place.
    Unrecoverable {
        /// The file.
        partial: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file of an import that did not finish (closed or not), deleted: an import is
    /// all or nothing.
    RemovedPending {
        /// The file.
        path: PathBuf,
    },
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leftover::Recovered {
                partial,
                recovered,
                rows,
                lost_bytes,
            } => write!(
                f,
                "{}: interrupted while being written; recovered {rows} rows (every complete \
                 row group) into {}; {lost_bytes} bytes after the last row group were lost",
                partial.display(),
                recovered.display()
            ),
            Leftover::Unrecoverable { partial, reason } => write!(
                f,
                "{}: interrupted while being written and not recoverable ({reason}); left in \
                 place, it is not part of any recording",
                partial.display()
            ),
            Leftover::RemovedPending { path } => write!(
                f,
                "{}: uncommitted output of an interrupted import, removed",
                path.display()
            ),
        }
    }
}

/// Finds crash leftovers in `dir` without changing anything: `.partial` files and
/// uncommitted `.pending` ones.
pub fn scan(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path.to_string_lossy();
        if name.ends_with(&format!(".parquet{PARTIAL_SUFFIX}"))
            || name.ends_with(&format!(".parquet{PENDING_SUFFIX}"))
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Recovers every `.partial` file in `dir` and removes `.pending` ones.
pub fn recover_dir(dir: &Path) -> Result<Vec<Leftover>> {
    let mut out = Vec::new();
    for path in scan(dir)? {
        out.push(recover_or_remove(&path)?);
    }
    remove_orphan_checkpoints(dir)?;
    Ok(out)
}

/// Checkpoints (and their staging copies) whose `.partial` file is gone: a crash right
/// after a file was renamed complete leaves one behind. They describe nothing.
fn remove_orphan_checkpoints(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path.to_string_lossy().into_owned();
        let partial = name
            .strip_suffix(CHECKPOINT_SUFFIX)
            .or_else(|| name.strip_suffix(&format!("{CHECKPOINT_SUFFIX}.tmp")));
        if let Some(partial) = partial
            && partial.ends_with(PARTIAL_SUFFIX)
            && !Path::new(partial).exists()
        {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

fn clean_up_stream(dir: &Path, stream: &str) -> Result<Vec<Leftover>> {
    let mut out = Vec::new();
    for path in scan(dir)? {
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(stream))
            .is_some_and(|r| r.starts_with('-'));
        if ours {
            out.push(recover_or_remove(&path)?);
        }
    }
    remove_orphan_checkpoints(dir)?;
    Ok(out)
}

fn recover_or_remove(path: &Path) -> Result<Leftover> {
    if path.to_string_lossy().ends_with(PENDING_SUFFIX) {
        std::fs::remove_file(path).map_err(io(path))?;
        return Ok(Leftover::RemovedPending {
            path: path.to_owned(),
        });
    }
    recover_partial(path)
}

/// Rebuilds `NAME.recovered.parquet` from `NAME.parquet.partial` and its checkpoint,
/// then removes both. Without a usable checkpoint the file is left in place and
/// reported.
pub fn recover_partial(partial: &Path) -> Result<Leftover> {
    let checkpoint = with_suffix(partial, CHECKPOINT_SUFFIX);
    let unrecoverable = |reason: String| Leftover::Unrecoverable {
        partial: partial.to_owned(),
        reason,
    };
    // A crash between writing the footer and the rename leaves a complete file.
    if let Ok(info) = crate::reader::FileInfo::open(partial)
        && crate::reader::verify_checksums(&info).is_ok()
    {
        let name = partial.to_string_lossy();
        let complete = PathBuf::from(name.strip_suffix(PARTIAL_SUFFIX).unwrap_or(&name));
        std::fs::rename(partial, &complete).map_err(io(partial))?;
        let _ = std::fs::remove_file(&checkpoint);
        if let Some(dir) = partial.parent() {
            sync_dir(dir)?;
        }
        return Ok(Leftover::Recovered {
            partial: partial.to_owned(),
            recovered: complete,
            rows: info.rows,
            lost_bytes: 0,
        });
    }
    let mut bytes = Vec::new();
    match File::open(&checkpoint) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(io(&checkpoint))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(unrecoverable(
                "no checkpoint: it holds no complete row group".into(),
            ));
        }
        Err(e) => return Err(io(&checkpoint)(e)),
    }
    if bytes.len() < 24 || &bytes[..8] != CHECKPOINT_MAGIC {
        return Ok(unrecoverable(format!(
            "checkpoint {} is damaged",
            checkpoint.display()
        )));
    }
    let data_end = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let rows = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let footer = &bytes[24..];
    let mut source = File::open(partial).map_err(io(partial))?;
    let size = source.metadata().map_err(io(partial))?.len();
    if size < data_end {
        return Ok(unrecoverable(format!(
            "it is {size} bytes but its checkpoint covers {data_end}"
        )));
    }
    let name = partial.to_string_lossy();
    let base = name
        .strip_suffix(&format!(".parquet{PARTIAL_SUFFIX}"))
        .unwrap_or(&name);
    let recovered = PathBuf::from(format!("{base}.recovered.parquet"));
    let staging = with_suffix(&recovered, PARTIAL_SUFFIX);
    {
        let mut out = File::create(&staging).map_err(io(&staging))?;
        source.seek(SeekFrom::Start(0)).map_err(io(partial))?;
        std::io::copy(&mut (&mut source).take(data_end), &mut out).map_err(io(&staging))?;
        out.write_all(footer).map_err(io(&staging))?;
        out.sync_all().map_err(io(&staging))?;
    }
    // The rebuilt file must open as a recording, with intact bytes, before it replaces
    // anything.
    if let Err(e) =
        crate::reader::FileInfo::open(&staging).and_then(|i| crate::reader::verify_checksums(&i))
    {
        let _ = std::fs::remove_file(&staging);
        return Ok(unrecoverable(format!(
            "the rebuilt file does not open: {e}"
        )));
    }
    std::fs::rename(&staging, &recovered).map_err(io(&staging))?;
    std::fs::remove_file(partial).map_err(io(partial))?;
    std::fs::remove_file(&checkpoint).map_err(io(&checkpoint))?;
    if let Some(dir) = partial.parent() {
        sync_dir(dir)?;
    }
    Ok(Leftover::Recovered {
        partial: partial.to_owned(),
        recovered,
        rows,
        lost_bytes: size - data_end,
    })
}

/// Column buffers of the batch being built.
#[derive(Default)]
struct Columns {
    ts_recv: Vec<i64>,
    ts_exchange: Vec<i64>,
    venue: Vec<u8>,
    instrument: Vec<u16>,
    kind: Vec<u8>,
    side: Vec<u8>,
    price: Vec<i64>,
    qty: Vec<i64>,
    seq_first: Vec<u64>,
    seq_first_valid: Vec<bool>,
    seq_last: Vec<u64>,
    seq_last_valid: Vec<bool>,
    seq_previous: Vec<u64>,
    seq_previous_valid: Vec<bool>,
    message: Vec<u64>,
    flags: Vec<u8>,
}

/// Header values shared by the rows of one message.
#[derive(Clone, Copy)]
struct RowHeader {
    ts_recv: i64,
    ts_exchange: i64,
    venue: u8,
    instrument: u16,
    kind: u8,
    seq: [Option<u64>; 3],
    message: u64,
    origin: u8,
}

impl Columns {
    fn len(&self) -> usize {
        self.ts_recv.len()
    }

    fn push(&mut self, h: &RowHeader, side: u8, price: i64, qty: i64, flags: u8) {
        self.ts_recv.push(h.ts_recv);
        self.ts_exchange.push(h.ts_exchange);
        self.venue.push(h.venue);
        self.instrument.push(h.instrument);
        self.kind.push(h.kind);
        self.side.push(side);
        self.price.push(price);
        self.qty.push(qty);
        for (k, (values, valid)) in [
            (&mut self.seq_first, &mut self.seq_first_valid),
            (&mut self.seq_last, &mut self.seq_last_valid),
            (&mut self.seq_previous, &mut self.seq_previous_valid),
        ]
        .into_iter()
        .enumerate()
        {
            values.push(h.seq[k].unwrap_or(0));
            valid.push(h.seq[k].is_some());
        }
        self.message.push(h.message);
        self.flags.push(flags | h.origin);
    }

    /// Rows of one message (the last one carries `END_OF_MESSAGE`).
    fn push_message(&mut self, h: &RowHeader, body: &Body<'_>) {
        let end = flags::END_OF_MESSAGE;
        match body {
            Body::Snapshot { bids, asks, .. } | Body::Delta { bids, asks, .. } => {
                let n = bids.len() + asks.len();
                if n == 0 {
                    return self.push(h, 0, 0, 0, end | flags::NO_LEVEL);
                }
                let mut k = 0;
                for (side, levels) in [(0u8, bids), (1u8, asks)] {
                    for Level { price, qty } in levels.iter() {
                        k += 1;
                        let f = if k == n { end } else { 0 };
                        self.push(h, side, price.raw(), qty.raw(), f);
                    }
                }
            }
            Body::Trade {
                price,
                qty,
                aggressor,
                ..
            } => self.push(h, side_code(*aggressor), price.raw(), qty.raw(), end),
            Body::Bbo { top, .. } => {
                self.push(h, 0, top.bid.raw(), top.bid_qty.raw(), 0);
                self.push(h, 1, top.ask.raw(), top.ask_qty.raw(), end);
            }
            Body::BookInvalid { code } => self.push(h, code.code(), 0, 0, end | flags::NO_LEVEL),
        }
    }

    fn take_batch(&mut self) -> RecordBatch {
        let rows = self.len();
        let taken = std::mem::take(self);
        self.reserve(rows);
        let ts = |v: Vec<i64>| -> ArrayRef {
            Arc::new(
                TimestampNanosecondArray::new(ScalarBuffer::from(v), None)
                    .with_timezone(schema::TIME_ZONE),
            )
        };
        let optional = |v: Vec<u64>, valid: Vec<bool>| -> ArrayRef {
            let nulls = if valid.iter().all(|b| *b) {
                None
            } else {
                Some(NullBuffer::from(valid))
            };
            Arc::new(UInt64Array::new(ScalarBuffer::from(v), nulls))
        };
        let columns: Vec<ArrayRef> = vec![
            ts(taken.ts_recv),
            ts(taken.ts_exchange),
            Arc::new(UInt8Array::new(ScalarBuffer::from(taken.venue), None)),
            Arc::new(UInt16Array::new(ScalarBuffer::from(taken.instrument), None)),
            Arc::new(UInt8Array::new(ScalarBuffer::from(taken.kind), None)),
            Arc::new(UInt8Array::new(ScalarBuffer::from(taken.side), None)),
            Arc::new(Int64Array::new(ScalarBuffer::from(taken.price), None)),
            Arc::new(Int64Array::new(ScalarBuffer::from(taken.qty), None)),
            optional(taken.seq_first, taken.seq_first_valid),
            optional(taken.seq_last, taken.seq_last_valid),
            optional(taken.seq_previous, taken.seq_previous_valid),
            Arc::new(UInt64Array::new(ScalarBuffer::from(taken.message), None)),
            Arc::new(UInt8Array::new(ScalarBuffer::from(taken.flags), None)),
        ];
        RecordBatch::try_new(schema::arrow_schema(), columns)
            .expect("columns match the schema by construction")
    }

    fn reserve(&mut self, rows: usize) {
        self.ts_recv.reserve(rows);
        self.ts_exchange.reserve(rows);
        self.venue.reserve(rows);
        self.instrument.reserve(rows);
        self.kind.reserve(rows);
        self.side.reserve(rows);
        self.price.reserve(rows);
        self.qty.reserve(rows);
        self.seq_first.reserve(rows);
        self.seq_first_valid.reserve(rows);
        self.seq_last.reserve(rows);
        self.seq_last_valid.reserve(rows);
        self.seq_previous.reserve(rows);
        self.seq_previous_valid.reserve(rows);
        self.message.reserve(rows);
        self.flags.reserve(rows);
    }
}

/// One Parquet file being written (as `.partial`).
struct FileWriter {
    final_path: PathBuf,
    partial_path: PathBuf,
    checkpoint_path: PathBuf,
    writer: Option<ArrowWriter<Crc32Writer>>,
    columns: Columns,
    /// `[start, end, crc32]` of every flushed row group's bytes.
    checksums: Vec<[u64; 3]>,
    /// Where the next row group's bytes start.
    group_start: u64,
    layout: Layout,
    /// Whether row groups are synced and checkpointed for recovery.
    checkpoints: bool,
    /// Writer properties (with the header metadata), for checkpoint footers.
    properties: WriterProperties,
    stats: FileStats,
    /// Stats as of the last flushed row group.
    group_stats: FileStats,
    rows_in_group: usize,
}

impl FileWriter {
    fn create(
        final_path: &Path,
        suffix: &str,
        checkpoints: bool,
        meta: RecordingMeta,
        layout: &Layout,
    ) -> Result<FileWriter> {
        let partial_path = with_suffix(final_path, suffix);
        let checkpoint_path = with_suffix(&partial_path, CHECKPOINT_SUFFIX);
        let file = File::create(&partial_path).map_err(io(&partial_path))?;
        let properties = schema::writer_properties(layout, &meta.generator)
            .into_builder()
            .set_key_value_metadata(Some(meta.header_key_values()))
            .build();
        // No `ARROW:schema` entry: the Parquet logical types give back the exact Arrow
        // types (timestamp[ns, UTC], uint8, …), and without it pyarrow shows the file's
        // key-value metadata as the table's schema metadata.
        let options = ArrowWriterOptions::new()
            .with_properties(properties.clone())
            .with_skip_arrow_metadata(true);
        let file = Crc32Writer {
            inner: file,
            hasher: crc32fast::Hasher::new(),
        };
        let writer = ArrowWriter::try_new_with_options(file, schema::arrow_schema(), options)
            .map_err(|source| Error::Write {
                path: partial_path.clone(),
                source,
            })?;
        let mut columns = Columns::default();
        columns.reserve(layout.batch_rows.min(1 << 16));
        Ok(FileWriter {
            final_path: final_path.to_owned(),
            partial_path,
            checkpoint_path,
            writer: Some(writer),
            columns,
            checksums: Vec::new(),
            group_start: 0,
            layout: layout.clone(),
            checkpoints,
            properties,
            stats: FileStats::default(),
            group_stats: FileStats::default(),
            rows_in_group: 0,
        })
    }

    fn write(&mut self, message: &Message<'_>, number: u64) -> Result<()> {
        let (seq, kind) = match message.body {
            Body::Snapshot { last, .. } => ([None, Some(last), None], Kind::Snapshot),
            Body::Delta { sequence, .. } => (
                [sequence.first, Some(sequence.last), sequence.previous],
                Kind::Delta,
            ),
            Body::Trade { trade_id, .. } => ([None, trade_id, None], Kind::Trade),
            Body::Bbo { update_id, .. } => ([None, update_id, None], Kind::Bbo),
            Body::BookInvalid { .. } => ([None, None, None], Kind::BookInvalid),
        };
        let header = RowHeader {
            ts_recv: message.ts_recv.0 as i64,
            ts_exchange: message.ts_exchange.0 as i64,
            venue: venue_code(message.venue),
            instrument: message.instrument,
            kind: kind.code(),
            seq,
            message: number,
            origin: message.origin_flags & (flags::DERIVED | flags::SYNTHETIC),
        };
        let before = self.columns.len();
        self.columns.push_message(&header, &message.body);
        let rows = (self.columns.len() - before) as u64;
        if self.stats.rows == 0 {
            self.stats.first_recv_ns = message.ts_recv.0;
        }
        self.stats.rows += rows;
        self.stats.messages += 1;
        self.stats.last_recv_ns = message.ts_recv.0;
        self.rows_in_group += rows as usize;
        if self.columns.len() >= self.layout.batch_rows {
            self.write_batch()?;
        }
        if self.rows_in_group >= self.layout.row_group_rows {
            self.end_row_group()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<()> {
        if self.columns.len() == 0 {
            return Ok(());
        }
        let batch = self.columns.take_batch();
        let path = &self.partial_path;
        self.writer
            .as_mut()
            .expect("open")
            .write(&batch)
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })
    }

    /// Ends the row group and records the CRC32 of its bytes.
    fn flush_row_group(&mut self) -> Result<()> {
        self.write_batch()?;
        let path = self.partial_path.clone();
        let writer = self.writer.as_mut().expect("open");
        writer.flush().map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        // Every byte so far has reached the checksumming writer.
        writer.sync().map_err(io(&path))?;
        self.rows_in_group = 0;
        let end = writer.bytes_written() as u64;
        let crc = writer.inner_mut().take_crc();
        if end > self.group_start {
            self.checksums.push([self.group_start, end, u64::from(crc)]);
            self.group_start = end;
        }
        Ok(())
    }

    /// Ends the row group, syncs the data and stores a checkpoint for recovery.
    fn end_row_group(&mut self) -> Result<()> {
        self.flush_row_group()?;
        if !self.checkpoints {
            return Ok(());
        }
        let path = self.partial_path.clone();
        let writer = self.writer.as_mut().expect("open");
        writer.inner().inner.sync_data().map_err(io(&path))?;
        self.group_stats = self.stats;
        let data_end = self.group_start;
        let footer = self.checkpoint_footer()?;
        let mut bytes = Vec::with_capacity(24 + footer.len());
        bytes.extend_from_slice(CHECKPOINT_MAGIC);
        bytes.extend_from_slice(&data_end.to_le_bytes());
        bytes.extend_from_slice(&self.group_stats.rows.to_le_bytes());
        bytes.extend_from_slice(&footer);
        let staging = with_suffix(&self.checkpoint_path, ".tmp");
        {
            let mut f = File::create(&staging).map_err(io(&staging))?;
            f.write_all(&bytes).map_err(io(&staging))?;
            f.sync_all().map_err(io(&staging))?;
        }
        std::fs::rename(&staging, &self.checkpoint_path).map_err(io(&staging))?;
        if let Some(dir) = self.partial_path.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// A footer describing the row groups flushed so far, ready to append to the file's
    /// bytes up to the end of the last row group.
    fn checkpoint_footer(&self) -> Result<Vec<u8>> {
        let writer = self.writer.as_ref().expect("open");
        let path = &self.partial_path;
        let write_error = |source| Error::Write {
            path: path.clone(),
            source,
        };
        let schema_descr = ArrowSchemaConverter::new()
            .convert(&schema::arrow_schema())
            .map_err(write_error)?;
        let mut kv: Vec<KeyValue> = self
            .properties
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        kv.extend(RecordingMeta::stats_key_values(
            &self.group_stats,
            true,
            &self.checksums,
            &layout_of(writer.flushed_row_groups()),
        ));
        let file_metadata = FileMetaData::new(
            self.properties.writer_version().as_num(),
            self.group_stats.rows as i64,
            Some(self.properties.created_by().to_owned()),
            Some(kv),
            Arc::new(schema_descr),
            None,
        );
        let metadata = ParquetMetaData::new(file_metadata, writer.flushed_row_groups().to_vec());
        let mut footer = Vec::new();
        ParquetMetaDataWriter::new(&mut footer, &metadata)
            .finish()
            .map_err(write_error)?;
        Ok(footer)
    }

    fn approximate_bytes(&self) -> u64 {
        self.writer
            .as_ref()
            .map_or(0, |w| (w.bytes_written() + w.in_progress_size()) as u64)
    }

    /// Writes the footer, syncs, renames to `target`. Returns the stats and the size.
    fn close(mut self, target: &Path) -> Result<(FileStats, u64)> {
        self.flush_row_group()?;
        let path = self.partial_path.clone();
        let mut writer = self.writer.take().expect("open");
        let layout = layout_of(writer.flushed_row_groups());
        for kv in RecordingMeta::stats_key_values(&self.stats, false, &self.checksums, &layout) {
            writer.append_key_value_metadata(kv);
        }
        // `into_inner` flushes the last row group and writes the footer.
        let file = writer
            .into_inner()
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?
            .inner;
        file.sync_all().map_err(io(&path))?;
        let bytes = file.metadata().map_err(io(&path))?.len();
        drop(file);
        if path != target {
            std::fs::rename(&path, target).map_err(io(&path))?;
        }
        match std::fs::remove_file(&self.checkpoint_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&self.checkpoint_path)(e)),
        }
        if let Some(dir) = target.parent() {
            sync_dir(dir)?;
        }
        Ok((self.stats, bytes))
    }

    /// Deletes the partial file and its checkpoint.
    fn discard(mut self) {
        drop(self.writer.take());
        let _ = std::fs::remove_file(&self.partial_path);
        let _ = std::fs::remove_file(&self.checkpoint_path);
    }
}

/// Where each column chunk of each row group went, for `propbot.layout`.
pub(crate) fn layout_of(
    row_groups: &[parquet::file::metadata::RowGroupMetaData],
) -> Vec<Vec<[i64; 5]>> {
    row_groups
        .iter()
        .map(|rg| {
            rg.columns()
                .iter()
                .map(|c| {
                    [
                        c.dictionary_page_offset().unwrap_or(-1),
                        c.data_page_offset(),
                        c.compressed_size(),
                        c.num_values(),
                        c.uncompressed_size(),
                    ]
                })
                .collect()
        })
        .collect()
}

/// The file under the Parquet writer, checksumming every byte written to it.
struct Crc32Writer {
    inner: File,
    hasher: crc32fast::Hasher,
}

impl Crc32Writer {
    /// The CRC32 of the bytes since the last call.
    fn take_crc(&mut self) -> u32 {
        std::mem::take(&mut self.hasher).finalize()
    }
}

impl Write for Crc32Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
