//! Reading recordings: validated file headers ([`FileInfo`]), streams of rolled files
//! ([`Recording`]), and a k-way merge of every stream by receive time
//! ([`MergedReader`]) that decodes record batches straight into reusable messages.
//!
//! Memory is bounded whatever the size of the files: each stream holds one record batch
//! (and one decoded message) at a time, and files are opened one after the other.
//!
//! **Order.** Rows of one stream are in receive-time order (checked: a file whose
//! receive time goes backwards is refused). Across streams, messages come out ordered
//! by `(receive time, stream rank)`, where streams are ranked by name, so the order —
//! and therefore a replay's digest — does not depend on the order of the paths given.

use crate::error::{Error, Result, io};
use crate::message::{Header, OwnedMessage};
use crate::meta::{InstrumentMeta, Origin, RecordingMeta};
use crate::schema::{self, Kind, flags, venue_from_code};
use arrow_array::{
    Array, Int64Array, RecordBatch, TimestampNanosecondArray, UInt8Array, UInt16Array, UInt64Array,
};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaData;
use propbot_engine::model::{InstrumentId, Level, Price, Qty, Venue};
use propbot_engine::time::UnixNanos;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Rows decoded per record batch. Small enough that a batch's column buffers stay below
/// the allocator's mmap threshold and are reused from batch to batch (64K-row batches
/// were page-faulted in afresh each time and replayed ~30 % slower end to end).
pub const BATCH_ROWS: usize = 1 << 13;

/// A validated recording file: its metadata and shape, read from the footer only.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// The file.
    pub path: PathBuf,
    /// Its metadata.
    pub meta: RecordingMeta,
    /// Rows, from the Parquet footer.
    pub rows: u64,
    /// Row groups.
    pub row_groups: usize,
    /// Size on disk.
    pub bytes: u64,
    /// The Parquet `created_by` string.
    pub created_by: Option<String>,
}

impl FileInfo {
    /// Opens `path` and checks it is a recording this build reads: a complete Parquet
    /// file, `propbot.schema_version` known, the exact column schema.
    pub fn open(path: &Path) -> Result<FileInfo> {
        let (info, _) = open_builder(path)?;
        Ok(info)
    }

    /// Receive-time span `(first, last)` in ns (zero for an empty file).
    pub fn span(&self) -> (u64, u64) {
        (self.meta.stats.first_recv_ns, self.meta.stats.last_recv_ns)
    }
}

fn open_builder(path: &Path) -> Result<(FileInfo, ParquetRecordBatchReaderBuilder<File>)> {
    let file = File::open(path).map_err(io(path))?;
    let bytes = file.metadata().map_err(io(path))?.len();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| Error::NotParquet {
            path: path.to_owned(),
            size: bytes,
            source,
        })?;
    let parquet = builder.metadata().clone();
    let file_meta = parquet.file_metadata();
    let meta = RecordingMeta::from_key_values(path, file_meta.key_value_metadata())?;
    // Column chunks lie before the footer, inside the checksummed bytes when there are.
    let data_end = meta
        .checksums
        .last()
        .map_or(bytes.saturating_sub(8), |c| c[1]);
    check_layout(path, data_end, &parquet)?;
    if !meta.layout.is_empty() && crate::writer::layout_of(parquet.row_groups()) != meta.layout {
        return Err(Error::Schema {
            path: path.to_owned(),
            detail: "damaged footer: its column chunks differ from the layout recorded when \
                     the file was written"
                .into(),
        });
    }
    check_schema(path, builder.schema())?;
    let info = FileInfo {
        path: path.to_owned(),
        meta,
        rows: u64::try_from(file_meta.num_rows()).unwrap_or(0),
        row_groups: parquet.num_row_groups(),
        bytes,
        created_by: file_meta.created_by().map(str::to_owned),
    };
    Ok((info, builder))
}

/// Checks the CRC32 recorded for every row group's bytes (`propbot.crc32`) by reading
/// the file once, sequentially, before any page is decoded: a damaged file is an error
/// naming the byte range instead of garbage rows (or a decoder tripping over it).
pub fn verify_checksums(info: &FileInfo) -> Result<()> {
    let path = &info.path;
    let sums = &info.meta.checksums;
    let mut next = 0;
    for (g, [start, end, _]) in sums.iter().enumerate() {
        if *start != next || end <= start || *end > info.bytes {
            return Err(Error::Metadata {
                path: path.clone(),
                key: crate::meta::key::CRC32,
                detail: format!("range {g} ({start}..{end}) does not follow on inside the file"),
            });
        }
        next = *end;
    }
    let mut file = File::open(path).map_err(io(path))?;
    let mut buffer = vec![0u8; 1 << 16];
    for (g, [start, end, crc]) in sums.iter().enumerate() {
        let mut hasher = crc32fast::Hasher::new();
        let mut left = end - start;
        while left > 0 {
            let n = (left as usize).min(buffer.len());
            std::io::Read::read_exact(&mut file, &mut buffer[..n]).map_err(io(path))?;
            hasher.update(&buffer[..n]);
            left -= n as u64;
        }
        if u64::from(hasher.finalize()) != *crc {
            return Err(Error::Checksum {
                path: path.clone(),
                row_group: g,
                start: *start,
                end: *end,
            });
        }
    }
    Ok(())
}

/// The footer's row groups and column chunks must lie inside the file: the Parquet
/// reader trusts them (and asserts on some), so a damaged footer is refused here.
fn check_layout(path: &Path, data_end: u64, parquet: &ParquetMetaData) -> Result<()> {
    let bad = |what: String| Error::Schema {
        path: path.to_owned(),
        detail: format!("damaged footer: {what}"),
    };
    let mut rows = 0i64;
    for (g, rg) in parquet.row_groups().iter().enumerate() {
        if rg.num_rows() < 0 || rg.num_columns() != schema::COLUMNS {
            return Err(bad(format!("row group {g} is malformed")));
        }
        rows = rows.saturating_add(rg.num_rows());
        for (c, column) in rg.columns().iter().enumerate() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            let len = column.compressed_size();
            let inside = start >= 4
                && len >= 0
                && column.data_page_offset() >= start
                && column.num_values() >= 0
                && (start as u64).saturating_add(len as u64) <= data_end;
            if !inside {
                return Err(bad(format!(
                    "column {c} of row group {g} points outside the data ({start}+{len}, data ends at {data_end})"
                )));
            }
        }
    }
    if rows != parquet.file_metadata().num_rows() {
        return Err(bad(format!(
            "row groups hold {rows} rows, the footer says {}",
            parquet.file_metadata().num_rows()
        )));
    }
    Ok(())
}

fn check_schema(path: &Path, found: &arrow_schema::Schema) -> Result<()> {
    let expected = schema::arrow_schema();
    let mismatch = |detail: String| Error::Schema {
        path: path.to_owned(),
        detail,
    };
    if found.fields().len() != expected.fields().len() {
        return Err(mismatch(format!(
            "{} columns, expected {}",
            found.fields().len(),
            expected.fields().len()
        )));
    }
    for (f, e) in found.fields().iter().zip(expected.fields()) {
        if f.name() != e.name() || f.data_type() != e.data_type() {
            return Err(mismatch(format!(
                "column {:?} of type {}, expected {:?} of type {}",
                f.name(),
                f.data_type(),
                e.name(),
                e.data_type()
            )));
        }
    }
    Ok(())
}

/// The files of one stream, in order, with what they share.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    /// Stream name.
    pub name: String,
    /// Files, by file index.
    pub files: Vec<FileInfo>,
}

impl StreamInfo {
    /// The instrument table (the same in every file of the stream).
    pub fn instruments(&self) -> &[InstrumentMeta] {
        &self.files[0].meta.instruments
    }

    /// Origin of each venue.
    pub fn venues(&self) -> BTreeMap<Venue, Origin> {
        self.files[0].meta.venues()
    }

    /// Where the data came from.
    pub fn source(&self) -> &str {
        &self.files[0].meta.source
    }

    /// Rows in all files.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

/// A set of recording files grouped into streams.
#[derive(Clone, Debug)]
pub struct Recording {
    /// Streams, ranked by name.
    pub streams: Vec<StreamInfo>,
    /// Crash leftovers (`.partial`, `.pending`) found in the directories given; they
    /// are not part of the recording.
    pub leftovers: Vec<PathBuf>,
}

impl Recording {
    /// Opens files and directories (a directory means every `*.parquet` in it). Every
    /// file is validated; the files of a stream must share their instrument table and
    /// must not repeat.
    pub fn open(paths: &[PathBuf]) -> Result<Recording> {
        let mut files = Vec::new();
        let mut leftovers = Vec::new();
        for p in paths {
            if p.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(io(p))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "parquet") && f.is_file())
                    .collect();
                found.sort();
                if found.is_empty() {
                    return Err(Error::Empty { path: p.clone() });
                }
                files.extend(found);
                leftovers.extend(crate::writer::scan(p)?);
            } else {
                files.push(p.clone());
            }
        }
        if files.is_empty() {
            return Err(Error::Empty {
                path: PathBuf::from("."),
            });
        }
        let mut by_stream: BTreeMap<String, Vec<FileInfo>> = BTreeMap::new();
        for f in &files {
            let info = FileInfo::open(f)?;
            by_stream
                .entry(info.meta.stream.clone())
                .or_default()
                .push(info);
        }
        let mut streams = Vec::new();
        for (name, mut files) in by_stream {
            files.sort_by_key(|f| f.meta.file_index);
            for pair in files.windows(2) {
                if pair[0].meta.file_index == pair[1].meta.file_index {
                    return Err(Error::Inconsistent {
                        path: pair[1].path.clone(),
                        what: format!(
                            "file {} of stream {name:?} is also {}",
                            pair[1].meta.file_index,
                            pair[0].path.display()
                        ),
                    });
                }
                if pair[0].meta.instruments != pair[1].meta.instruments {
                    return Err(Error::Inconsistent {
                        path: pair[1].path.clone(),
                        what: format!(
                            "its instrument table differs from {} of the same stream {name:?}",
                            pair[0].path.display()
                        ),
                    });
                }
            }
            streams.push(StreamInfo { name, files });
        }
        Ok(Recording { streams, leftovers })
    }

    /// Rows in every file.
    pub fn rows(&self) -> u64 {
        self.streams.iter().map(StreamInfo::rows).sum()
    }

    /// A merged reader over every stream. `maps[s][i]` is the engine instrument of
    /// stream `s`'s table entry `i`, or `None` to skip its rows; without maps the table
    /// index is the instrument.
    pub fn reader(&self, maps: Option<Vec<Vec<Option<InstrumentId>>>>) -> MergedReader {
        let cursors = self
            .streams
            .iter()
            .enumerate()
            .map(|(s, stream)| {
                let map = match &maps {
                    Some(m) => m[s].clone(),
                    None => (0..stream.instruments().len())
                        .map(|i| Some(InstrumentId(i as u16)))
                        .collect(),
                };
                StreamCursor::new(stream.files.clone(), map)
            })
            .collect();
        MergedReader {
            cursors,
            heap: BinaryHeap::new(),
            started: false,
            current: None,
        }
    }
}

/// Messages of every stream, merged by `(receive time, stream rank)`.
pub struct MergedReader {
    cursors: Vec<StreamCursor>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    started: bool,
    current: Option<usize>,
}

impl MergedReader {
    /// The next message and the rank of its stream; `Ok(None)` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(usize, &OwnedMessage)>> {
        if !self.started {
            self.started = true;
            for s in 0..self.cursors.len() {
                if self.cursors[s].advance()? {
                    self.heap
                        .push(Reverse((self.cursors[s].message.ts_recv.0, s)));
                }
            }
        } else if let Some(s) = self.current.take()
            && self.cursors[s].advance()?
        {
            self.heap
                .push(Reverse((self.cursors[s].message.ts_recv.0, s)));
        }
        let Some(Reverse((_, s))) = self.heap.pop() else {
            return Ok(None);
        };
        self.current = Some(s);
        Ok(Some((s, &self.cursors[s].message)))
    }

    /// Rows decoded so far (including skipped ones).
    pub fn rows_read(&self) -> u64 {
        self.cursors.iter().map(|c| c.rows_read).sum()
    }

    /// Rows skipped because their instrument was not mapped.
    pub fn rows_skipped(&self) -> u64 {
        self.cursors.iter().map(|c| c.rows_skipped).sum()
    }
}

/// Typed views of one record batch.
struct BatchColumns {
    len: usize,
    ts_recv: ScalarBuffer<i64>,
    ts_exchange: ScalarBuffer<i64>,
    venue: ScalarBuffer<u8>,
    instrument: ScalarBuffer<u16>,
    kind: ScalarBuffer<u8>,
    side: ScalarBuffer<u8>,
    price: ScalarBuffer<i64>,
    qty: ScalarBuffer<i64>,
    seq: [(ScalarBuffer<u64>, Option<NullBuffer>); 3],
    message: ScalarBuffer<u64>,
    flags: ScalarBuffer<u8>,
}

impl BatchColumns {
    fn new(batch: &RecordBatch) -> Option<BatchColumns> {
        fn col<A: Array + Clone + 'static>(b: &RecordBatch, i: usize) -> Option<A> {
            b.column(i).as_any().downcast_ref::<A>().cloned()
        }
        let seq = |i: usize| -> Option<(ScalarBuffer<u64>, Option<NullBuffer>)> {
            let a: UInt64Array = col(batch, i)?;
            Some((a.values().clone(), a.nulls().cloned()))
        };
        // Non-nullable columns must hold no nulls (a foreign writer could put some).
        if (0..schema::COLUMNS)
            .filter(|i| ![8, 9, 10].contains(i))
            .any(|i| batch.column(i).null_count() > 0)
        {
            return None;
        }
        Some(BatchColumns {
            len: batch.num_rows(),
            ts_recv: col::<TimestampNanosecondArray>(batch, 0)?.values().clone(),
            ts_exchange: col::<TimestampNanosecondArray>(batch, 1)?.values().clone(),
            venue: col::<UInt8Array>(batch, 2)?.values().clone(),
            instrument: col::<UInt16Array>(batch, 3)?.values().clone(),
            kind: col::<UInt8Array>(batch, 4)?.values().clone(),
            side: col::<UInt8Array>(batch, 5)?.values().clone(),
            price: col::<Int64Array>(batch, 6)?.values().clone(),
            qty: col::<Int64Array>(batch, 7)?.values().clone(),
            seq: [seq(8)?, seq(9)?, seq(10)?],
            message: col::<UInt64Array>(batch, 11)?.values().clone(),
            flags: col::<UInt8Array>(batch, 12)?.values().clone(),
        })
    }

    #[inline]
    fn seq(&self, k: usize, i: usize) -> Option<u64> {
        let (values, nulls) = &self.seq[k];
        match nulls {
            Some(n) if n.is_null(i) => None,
            _ => Some(values[i]),
        }
    }
}

/// One stream: its files in order, one open at a time, one batch in memory.
struct StreamCursor {
    files: Vec<FileInfo>,
    next_file: usize,
    path: PathBuf,
    instruments: usize,
    reader: Option<ParquetRecordBatchReader>,
    columns: Option<BatchColumns>,
    pos: usize,
    /// File row of `columns` row 0.
    batch_start: u64,
    map: Vec<Option<InstrumentId>>,
    last_recv: i64,
    message: OwnedMessage,
    rows_read: u64,
    rows_skipped: u64,
}

impl StreamCursor {
    fn new(files: Vec<FileInfo>, map: Vec<Option<InstrumentId>>) -> StreamCursor {
        StreamCursor {
            instruments: files.first().map_or(0, |f| f.meta.instruments.len()),
            files,
            next_file: 0,
            path: PathBuf::new(),
            reader: None,
            columns: None,
            pos: 0,
            batch_start: 0,
            map,
            last_recv: i64::MIN,
            message: OwnedMessage::default(),
            rows_read: 0,
            rows_skipped: 0,
        }
    }

    /// Loads the next batch, opening the next file when one ends. `false` at the end.
    fn load_batch(&mut self) -> Result<bool> {
        loop {
            if let Some(reader) = &mut self.reader {
                let start = self
                    .batch_start
                    .saturating_add(self.columns.as_ref().map_or(0, |c| c.len as u64));
                match reader.next() {
                    Some(Ok(batch)) => {
                        let columns = BatchColumns::new(&batch).ok_or_else(|| Error::BadRow {
                            path: self.path.clone(),
                            row: start,
                            what: "a batch does not decode to the recording columns \
                                       (nulls in a required column)"
                                .into(),
                        })?;
                        self.batch_start = start;
                        self.columns = Some(columns);
                        self.pos = 0;
                        return Ok(true);
                    }
                    Some(Err(e)) => {
                        return Err(Error::Decode {
                            path: self.path.clone(),
                            row: start,
                            source: Box::new(e),
                        });
                    }
                    None => {
                        self.reader = None;
                        self.columns = None;
                    }
                }
            }
            let Some(info) = self.files.get(self.next_file) else {
                return Ok(false);
            };
            let path = info.path.clone();
            self.next_file += 1;
            let (info, builder) = open_builder(&path)?;
            verify_checksums(&info)?;
            let reader = builder
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|source| Error::Decode {
                    path: path.clone(),
                    row: 0,
                    source: Box::new(source),
                })?;
            self.path = path;
            self.reader = Some(reader);
            self.columns = None;
            self.batch_start = 0;
            self.pos = 0;
        }
    }

    /// Decodes the next message of a mapped instrument into `self.message`.
    fn advance(&mut self) -> Result<bool> {
        loop {
            match self.decode_message()? {
                None => return Ok(false),
                Some(true) => return Ok(true),
                Some(false) => self.rows_skipped += u64::from(self.message.rows),
            }
        }
    }

    /// `None` at the end; `Some(mapped)` after a message.
    fn decode_message(&mut self) -> Result<Option<bool>> {
        let mut started = false;
        let mut message_id = 0;
        let mut mapped = false;
        loop {
            if self.columns.as_ref().is_none_or(|c| self.pos >= c.len) {
                let (before, path) = (self.next_file, self.path.clone());
                let end_row = self.batch_start + self.columns.as_ref().map_or(0, |c| c.len as u64);
                let loaded = self.load_batch()?;
                if started && (!loaded || self.next_file != before) {
                    return Err(Error::BadRow {
                        path,
                        row: end_row,
                        what: "the stream ends inside a message (the last row lacks the end flag)"
                            .into(),
                    });
                }
                if !loaded {
                    return Ok(None);
                }
                continue;
            }
            let c = self.columns.as_ref().expect("loaded");
            let i = self.pos;
            self.pos += 1;
            self.rows_read += 1;
            if !started {
                started = true;
                message_id = c.message[i];
                let header = self.header(i)?;
                mapped = self.map[usize::from(header.table_index)].is_some();
                self.message.begin(header);
            } else if self.columns.as_ref().expect("loaded").message[i] != message_id {
                return Err(self.bad_row(i, "a message ends without its end flag"));
            }
            let c = self.columns.as_ref().expect("loaded");
            let row_flags = c.flags[i];
            if row_flags & !flags::ALL != 0 {
                return Err(self.bad_row(i, &format!("unknown flag bits {row_flags:#04x}")));
            }
            if row_flags & flags::NO_LEVEL != 0 {
                if self.message.kind == Kind::BookInvalid {
                    if crate::schema::InvalidCode::from_code(c.side[i]).is_none() {
                        let what = format!("unknown book_invalid reason code {}", c.side[i]);
                        return Err(self.bad_row(i, &what));
                    }
                    self.message.push_invalid(c.side[i]);
                } else {
                    self.message.push_empty();
                }
            } else {
                let side = c.side[i];
                if side > 1 {
                    return Err(self.bad_row(i, &format!("side code {side} is not 0 or 1")));
                }
                let level = Level {
                    price: Price::from_raw(c.price[i]),
                    qty: Qty::from_raw(c.qty[i]),
                };
                self.message.push_level(side, level);
            }
            if row_flags & flags::END_OF_MESSAGE != 0 {
                self.message.flags = row_flags;
                return Ok(Some(mapped));
            }
        }
    }

    fn header(&mut self, i: usize) -> Result<Header> {
        let c = self.columns.as_ref().expect("loaded");
        let recv = c.ts_recv[i];
        if recv < self.last_recv {
            return Err(self.bad_row(
                i,
                &format!(
                    "receive time {recv} goes back from {} (rows must be in receive-time order)",
                    self.last_recv
                ),
            ));
        }
        if recv < 0 || c.ts_exchange[i] < 0 {
            return Err(self.bad_row(i, "negative timestamp"));
        }
        let Some(kind) = Kind::from_code(c.kind[i]) else {
            return Err(self.bad_row(i, &format!("unknown kind code {}", c.kind[i])));
        };
        let Some(venue) = venue_from_code(c.venue[i]) else {
            return Err(self.bad_row(i, &format!("unknown venue code {}", c.venue[i])));
        };
        let table_index = c.instrument[i];
        if usize::from(table_index) >= self.instruments {
            return Err(self.bad_row(
                i,
                &format!(
                    "instrument {table_index} is outside the file's table of {}",
                    self.instruments
                ),
            ));
        }
        let instrument = self.map[usize::from(table_index)].unwrap_or(InstrumentId(table_index));
        let header = Header {
            ts_recv: UnixNanos(recv as u64),
            ts_exchange: UnixNanos(c.ts_exchange[i] as u64),
            venue,
            instrument,
            table_index,
            number: c.message[i],
            kind,
            seq_first: c.seq(0, i),
            seq_last: c.seq(1, i),
            seq_previous: c.seq(2, i),
        };
        self.last_recv = recv;
        Ok(header)
    }

    fn bad_row(&self, i: usize, what: &str) -> Error {
        Error::BadRow {
            path: self.path.clone(),
            row: self.batch_start + i as u64,
            what: what.to_owned(),
        }
    }
}
