//! Importers: real captures in, recordings out, through the venue crate's own readers,
//! parsers and book-sync machines (`propbot_venues`); nothing here parses a frame.
//!
//! | format | files | receive time |
//! |---|---|---|
//! | `hftbacktest` | Binance USDⓈ-M `.gz`, one frame per line, the REST snapshot inline | the line's local ns stamp |
//! | `cryptofeed-binance` | `BINANCE_FUTURES.ws.*` + REST snapshots `BINANCE_FUTURES.http.*` + `exchangeInfo` `BINANCE_FUTURES.0` | the line's Unix time |
//! | `cryptofeed-okx` | `OKX.ws.*` + REST instruments `OKX.0` | the line's Unix time |
//! | `tickvault` | one raw OKX frame per line, instruments from `--instruments` | none recorded: the venue timestamp stands in |
//!
//! **Instruments.** A symbol the engine configuration lists keeps the configuration's
//! instrument (name, scales, tick), so replay maps it to the engine's own instrument.
//! Any other symbol (the third-party captures hold spot, inverse and long-delisted
//! symbols) gets its spec from the capture's own instrument data, like the venue tests
//! build theirs: OKX `tickSz`/`lotSz`/`ctVal × ctMult`; Binance `exchangeInfo`
//! `tickSize`/`stepSize`, with two more price decimals than the tick because Binance
//! REST books hold deep levels off the tick grid (CTKUSDT `0.50579` with tick `0.001`).
//!
//! **Counting.** An import reports frames read, events (messages) and rows written,
//! book snapshots, gaps found (resyncs for a broken update-id chain) and all resyncs;
//! a resync is recorded as a `book_invalid` row so a replay sees what a live engine saw.
//!
//! **Failure.** An unreadable line or a frame the parsers refuse stops the import with
//! the file and line; the writer is in [`Commit::AtEnd`] mode, so nothing it wrote
//! survives as a valid recording.

use crate::error::{Error, Result, io};
use crate::message::Message;
use crate::meta::{InstrumentMeta, ListingMeta, Origin, RecordingMeta};
use crate::progress::Progress;
use crate::writer::{Commit, RecordingWriter, WriterOptions};
use propbot_engine::Config;
use propbot_engine::model::{InstrumentId, SCALE_MAX, Scales, Venue};
use propbot_engine::time::UnixNanos;
use propbot_venues::binance::{BinanceFeed, wire as binance_wire};
use propbot_venues::capture::{CryptofeedReader, CryptofeedRecord, HftbacktestReader, JsonlReader};
use propbot_venues::okx::{Handled, OkxFeed, wire as okx_wire};
use propbot_venues::{Events, InstrumentSpec, ResyncReason, SyncEvent};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Capture formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// hftbacktest Binance `.gz`.
    Hftbacktest,
    /// cryptofeed Binance USDⓈ-M.
    CryptofeedBinance,
    /// cryptofeed OKX.
    CryptofeedOkx,
    /// tickvault OKX JSONL.
    Tickvault,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [
        Format::Hftbacktest,
        Format::CryptofeedBinance,
        Format::CryptofeedOkx,
        Format::Tickvault,
    ];

    /// Command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Hftbacktest => "hftbacktest",
            Format::CryptofeedBinance => "cryptofeed-binance",
            Format::CryptofeedOkx => "cryptofeed-okx",
            Format::Tickvault => "tickvault",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Guesses the format from the file name.
    pub fn detect(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        if name.ends_with(".gz") {
            Some(Format::Hftbacktest)
        } else if name.ends_with(".jsonl") {
            Some(Format::Tickvault)
        } else if name.contains(".ws.") && name.starts_with("BINANCE") {
            Some(Format::CryptofeedBinance)
        } else if name.contains(".ws.") && name.starts_with("OKX") {
            Some(Format::CryptofeedOkx)
        } else {
            None
        }
    }
}

/// Import settings.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Format (guessed from the file name when `None`).
    pub format: Option<Format>,
    /// Instrument data: Binance `exchangeInfo` or OKX instruments, as a cryptofeed REST
    /// file. Defaults to the capture's companion file where the format has one.
    pub instruments: Option<PathBuf>,
    /// cryptofeed Binance REST depth snapshots (default: the companion `.http.*` file).
    pub snapshots: Option<PathBuf>,
    /// Stream name (default: from the capture's file name).
    pub stream: Option<String>,
    /// Writer layout and rolling (the commit mode is always [`Commit::AtEnd`]).
    pub writer: WriterOptions,
    /// Engine configuration whose listings name known symbols.
    pub config: Config,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Format used.
    pub format: &'static str,
    /// Frames (capture lines with a frame or REST body) read.
    pub frames: u64,
    /// Frames without market data (subscribe acknowledgements, pongs) or of a kind not
    /// imported (klines), by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Events (messages) written.
    pub messages: u64,
    /// Rows written.
    pub rows: u64,
    /// Book snapshots among the messages.
    pub snapshots: u64,
    /// Resyncs because the update-id chain broke (gap, snapshot too old, overflow).
    pub gaps: u64,
    /// Resyncs of any reason (gaps included).
    pub resyncs: u64,
    /// Receive times that went backwards in the capture and were held at the previous.
    pub clamped: u64,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Bytes written.
    pub bytes: u64,
    /// Size of the capture file read.
    pub capture_bytes: u64,
    /// What an earlier crash left for this stream, recovered or removed first.
    pub leftovers: Vec<crate::writer::Leftover>,
}

/// Imports `capture` into `out`.
pub fn import(
    capture: &Path,
    out: &Path,
    options: &ImportOptions,
    progress: &Progress,
) -> Result<ImportSummary> {
    let format = match options.format {
        Some(f) => f,
        None => Format::detect(capture).ok_or_else(|| Error::Import {
            path: capture.to_owned(),
            what: "cannot tell the capture format from the file name; pass --format \
                   hftbacktest|cryptofeed-binance|cryptofeed-okx|tickvault"
                .into(),
        })?,
    };
    let capture_bytes = std::fs::metadata(capture).map_err(io(capture))?.len();
    let (mut summary, files) = match format {
        Format::Hftbacktest => hftbacktest(capture, out, options, progress)?,
        Format::CryptofeedBinance => cryptofeed_binance(capture, out, options, progress)?,
        Format::CryptofeedOkx => okx_frames(capture, out, options, progress, false)?,
        Format::Tickvault => okx_frames(capture, out, options, progress, true)?,
    };
    summary.format = format.name();
    summary.capture_bytes = capture_bytes;
    summary.files = files.files;
    summary.bytes = files.bytes;
    summary.rows = files.rows;
    Ok(summary)
}

/// The default stream name: the capture's file name up to its first dot.
fn stream_name(capture: &Path, options: &ImportOptions) -> String {
    options.stream.clone().unwrap_or_else(|| {
        capture
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').next())
            .unwrap_or("import")
            .to_owned()
    })
}

fn source(format: Format, capture: &Path) -> String {
    let name = capture
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{}:{name}", format.name())
}

/// Counts bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

fn open_counted(path: &Path) -> Result<(Counting<File>, Rc<Cell<u64>>)> {
    let file = File::open(path).map_err(io(path))?;
    let count = Rc::new(Cell::new(0));
    Ok((
        Counting {
            inner: file,
            count: count.clone(),
        },
        count,
    ))
}

/// Writes sync events as messages and keeps the counts.
struct Sink<'a> {
    capture: &'a Path,
    writer: RecordingWriter,
    summary: ImportSummary,
    last_recv: UnixNanos,
}

impl Sink<'_> {
    /// Writes and clears `events`, received at `recv` (venue time when `None`).
    fn drain(&mut self, recv: Option<UnixNanos>, line: u64, events: &mut Events) -> Result<()> {
        for event in events.iter() {
            let at = recv.unwrap_or_else(|| venue_time(event).unwrap_or(self.last_recv));
            let at = if at < self.last_recv {
                self.summary.clamped += 1;
                self.last_recv
            } else {
                at
            };
            self.last_recv = at;
            match event {
                SyncEvent::Snapshot { .. } => self.summary.snapshots += 1,
                SyncEvent::Resync { reason, .. } => {
                    self.summary.resyncs += 1;
                    if matches!(
                        reason,
                        ResyncReason::Gap
                            | ResyncReason::SnapshotTooOld
                            | ResyncReason::BufferOverflow
                    ) {
                        self.summary.gaps += 1;
                    }
                }
                _ => {}
            }
            let table_index = event.instrument().0;
            let message = Message::from_sync(at, table_index, event, 0);
            self.writer.write(&message).map_err(|e| match e {
                Error::Record { what, .. } => Error::Import {
                    path: self.capture.to_owned(),
                    what: format!("line {line}: {what}"),
                },
                other => other,
            })?;
            self.summary.messages += 1;
        }
        events.clear();
        Ok(())
    }

    fn skip(&mut self, reason: String) {
        *self.summary.skipped.entry(reason).or_default() += 1;
    }

    fn finish(self) -> Result<(ImportSummary, crate::writer::WriteSummary)> {
        let summary = self.summary;
        Ok((summary, self.writer.finish()?))
    }
}

fn venue_time(event: &SyncEvent) -> Option<UnixNanos> {
    match event {
        SyncEvent::Snapshot { ts_exchange, .. }
        | SyncEvent::Delta { ts_exchange, .. }
        | SyncEvent::Bbo { ts_exchange, .. }
        | SyncEvent::Trade { ts_exchange, .. } => Some(*ts_exchange),
        SyncEvent::Resync { .. } => None,
    }
}

fn sink<'a>(
    capture: &'a Path,
    out: &Path,
    format: Format,
    options: &ImportOptions,
    table: Vec<InstrumentMeta>,
) -> Result<Sink<'a>> {
    let meta = RecordingMeta::new(
        &source(format, capture),
        &stream_name(capture, options),
        table,
    );
    let mut writer_options = options.writer.clone();
    writer_options.commit = Commit::AtEnd;
    let (writer, leftovers) = RecordingWriter::create(out, meta, writer_options)?;
    Ok(Sink {
        capture,
        writer,
        summary: ImportSummary {
            leftovers,
            ..ImportSummary::default()
        },
        last_recv: UnixNanos::ZERO,
    })
}

/// The venue feeds serve at most 64 instruments each.
fn check_instrument_count(capture: &Path, symbols: &[String]) -> Result<()> {
    let max = propbot_venues::binance::FEED_INSTRUMENTS_MAX
        .min(propbot_venues::okx::FEED_INSTRUMENTS_MAX);
    if symbols.len() > max {
        return Err(Error::Import {
            path: capture.to_owned(),
            what: format!(
                "{} instruments in one capture; an import takes at most {max}",
                symbols.len()
            ),
        });
    }
    Ok(())
}

fn capture_error(path: &Path, line: u64) -> impl FnOnce(propbot_venues::Error) -> Error {
    let path = path.to_owned();
    move |source| match source {
        propbot_venues::Error::CaptureLine { line, .. }
        | propbot_venues::Error::CaptureIo { line, .. } => Error::Capture { path, line, source },
        source => Error::Capture { path, line, source },
    }
}

type Imported = (ImportSummary, crate::writer::WriteSummary);

fn hftbacktest(
    capture: &Path,
    out: &Path,
    options: &ImportOptions,
    progress: &Progress,
) -> Result<Imported> {
    let symbols = binance_symbols(capture, 10_000)?;
    let [symbol] = symbols.as_slice() else {
        return Err(Error::Import {
            path: capture.to_owned(),
            what: format!(
                "an hftbacktest capture holds one symbol; found {symbols:?} in its first lines"
            ),
        });
    };
    let exchange_info = match &options.instruments {
        Some(p) => Some(binance_exchange_info(p)?),
        None => None,
    };
    let (spec, meta) = binance_spec(&options.config, symbol, 0, exchange_info.as_ref(), capture)?;
    let mut feed = BinanceFeed::new(vec![spec]);
    let mut sink = sink(capture, out, Format::Hftbacktest, options, vec![meta])?;
    let (file, count) = open_counted(capture)?;
    let reader = HftbacktestReader::new(BufReader::new(flate2::read::GzDecoder::new(
        BufReader::new(file),
    )));
    let mut events = Events::new();
    for record in reader {
        let record = record.map_err(capture_error(capture, 0))?;
        sink.summary.frames += 1;
        let result = if record.json.starts_with("{\"lastUpdateId\"") {
            feed.on_depth_snapshot(InstrumentId(0), &record.json, &mut events)
        } else {
            feed.on_frame(&record.json, &mut events)
        };
        match result {
            Ok(()) => {}
            Err(propbot_venues::Error::Unsupported { kind, .. }) => sink.skip(kind),
            Err(e) => return Err(capture_error(capture, record.line)(e)),
        }
        sink.drain(Some(record.received), record.line, &mut events)?;
        if sink.summary.frames.is_multiple_of(4096) {
            progress.set(count.get());
        }
    }
    sink.finish()
}

/// Symbols of the Binance frames among the first `lines` lines of a capture.
fn binance_symbols(capture: &Path, lines: usize) -> Result<Vec<String>> {
    let file = File::open(capture).map_err(io(capture))?;
    let reader: Box<dyn BufRead> = if capture.to_string_lossy().ends_with(".gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(
            BufReader::new(file),
        )))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut symbols = Vec::new();
    let mut add = |json: &str| {
        if let Ok(m) = binance_wire::parse_message(json)
            && !symbols.iter().any(|s| s == m.symbol())
        {
            symbols.push(m.symbol().to_owned());
        }
    };
    if capture.to_string_lossy().ends_with(".gz") {
        for record in HftbacktestReader::new(reader).take(lines) {
            let record = record.map_err(capture_error(capture, 0))?;
            add(&record.json);
        }
    } else {
        for record in CryptofeedReader::new(reader).take(lines) {
            if let CryptofeedRecord::Inbound { json, .. } =
                record.map_err(capture_error(capture, 0))?
            {
                add(&json);
            }
        }
    }
    Ok(symbols)
}

fn binance_exchange_info(path: &Path) -> Result<binance_wire::ExchangeInfo> {
    let file = File::open(path).map_err(io(path))?;
    for record in CryptofeedReader::new(BufReader::new(file)) {
        if let CryptofeedRecord::Rest {
            line, body, url, ..
        } = record.map_err(capture_error(path, 0))?
            && url.ends_with("/exchangeInfo")
        {
            return binance_wire::parse_exchange_info(&body).map_err(capture_error(path, line));
        }
    }
    Err(Error::Import {
        path: path.to_owned(),
        what: "no exchangeInfo response in this file".into(),
    })
}

/// Digits after the decimal point, trailing zeros not counted.
fn decimals(text: &str) -> u8 {
    text.split_once('.')
        .map_or(0, |(_, f)| f.trim_end_matches('0').len())
        .min(usize::from(u8::MAX)) as u8
}

/// A Binance symbol's spec and table entry: from the configuration when it lists the
/// symbol, otherwise from `exchangeInfo`.
fn binance_spec(
    config: &Config,
    symbol: &str,
    table_index: u16,
    info: Option<&binance_wire::ExchangeInfo>,
    capture: &Path,
) -> Result<(InstrumentSpec, InstrumentMeta)> {
    if let Some(id) = config.instrument_by_symbol(Venue::Binance, symbol) {
        return from_config(config, Venue::Binance, id, table_index);
    }
    let missing = |what: String| Error::Import {
        path: capture.to_owned(),
        what,
    };
    let info = info.ok_or_else(|| {
        missing(format!(
            "{symbol} is not in the engine configuration; pass --instruments with the \
             capture's exchangeInfo"
        ))
    })?;
    let s = info
        .symbols
        .iter()
        .find(|s| s.symbol == symbol)
        .ok_or_else(|| missing(format!("{symbol} is not in the exchangeInfo")))?;
    let (Some(tick), Some(step)) = (s.tick_size(), s.step_size()) else {
        return Err(missing(format!("{symbol} has no PRICE_FILTER/LOT_SIZE")));
    };
    let scales = Scales {
        price: (decimals(tick) + 2).min(SCALE_MAX),
        qty: decimals(step).min(SCALE_MAX),
    };
    let spec = InstrumentSpec::new(
        Venue::Binance,
        InstrumentId(table_index),
        symbol,
        scales,
        tick,
        None,
    )
    .map_err(|e| missing(e.to_string()))?;
    let tick = spec.tick.display(scales.price).to_string();
    let entry = table_entry(Venue::Binance, symbol, scales, &tick, None);
    Ok((spec, entry))
}

/// The table entry of an instrument outside the configuration (real data).
fn table_entry(
    venue: Venue,
    symbol: &str,
    scales: Scales,
    tick: &str,
    contract_value: Option<String>,
) -> InstrumentMeta {
    InstrumentMeta {
        name: symbol.to_owned(),
        price_scale: scales.price,
        qty_scale: scales.qty,
        listings: vec![ListingMeta {
            venue,
            symbol: symbol.to_owned(),
            tick: tick.to_owned(),
            contract_value,
            origin: Origin::Real,
        }],
    }
}

fn from_config(
    config: &Config,
    venue: Venue,
    id: InstrumentId,
    table_index: u16,
) -> Result<(InstrumentSpec, InstrumentMeta)> {
    let spec = InstrumentSpec::from_config(config, venue, id).map_err(|e| Error::Import {
        path: PathBuf::from("config"),
        what: e.to_string(),
    })?;
    let meta = InstrumentMeta::from_config(config, id, &[(venue, Origin::Real)])
        .expect("the listing exists");
    Ok((
        InstrumentSpec {
            instrument: InstrumentId(table_index),
            ..spec
        },
        meta,
    ))
}

/// A REST depth snapshot of a cryptofeed `.http.*` file.
struct Snapshot {
    at: UnixNanos,
    symbol: String,
    body: String,
    line: u64,
}

/// REST depth snapshots of a cryptofeed `.http.*` file, by receive time.
fn binance_snapshots(path: &Path) -> Result<Vec<Snapshot>> {
    let file = File::open(path).map_err(io(path))?;
    let mut out = Vec::new();
    for record in CryptofeedReader::new(BufReader::new(file)) {
        if let CryptofeedRecord::Rest {
            url,
            at,
            body,
            line,
        } = record.map_err(capture_error(path, 0))?
            && url.contains("/depth")
        {
            let symbol = url
                .split("symbol=")
                .nth(1)
                .and_then(|s| s.split('&').next())
                .unwrap_or_default()
                .to_owned();
            out.push(Snapshot {
                at,
                symbol,
                body,
                line,
            });
        }
    }
    out.sort_by_key(|s| s.at);
    Ok(out)
}

/// `BASE.ws.1.0` → `BASE` + suffix, in the same directory.
fn companion(capture: &Path, suffix: &str) -> Option<PathBuf> {
    let name = capture.file_name()?.to_str()?;
    let base = name.split(".ws.").next()?;
    let dir = capture.parent().unwrap_or(Path::new("."));
    let path = dir.join(format!("{base}{suffix}"));
    path.is_file().then_some(path)
}

fn required(
    option: &Option<PathBuf>,
    fallback: Option<PathBuf>,
    capture: &Path,
    what: &str,
) -> Result<PathBuf> {
    option.clone().or(fallback).ok_or_else(|| Error::Import {
        path: capture.to_owned(),
        what: format!("no {what} found beside the capture; pass it explicitly"),
    })
}

fn cryptofeed_binance(
    capture: &Path,
    out: &Path,
    options: &ImportOptions,
    progress: &Progress,
) -> Result<Imported> {
    let info_path = required(
        &options.instruments,
        companion(capture, ".0"),
        capture,
        "exchangeInfo file (--instruments)",
    )?;
    let snapshots_path = required(
        &options.snapshots,
        companion(capture, ".http.0.0"),
        capture,
        "REST depth snapshot file (--snapshots)",
    )?;
    let info = binance_exchange_info(&info_path)?;
    let mut snapshots = binance_snapshots(&snapshots_path)?;
    let mut symbols = binance_symbols(capture, usize::MAX)?;
    for s in &snapshots {
        if !symbols.contains(&s.symbol) {
            symbols.push(s.symbol.clone());
        }
    }
    check_instrument_count(capture, &symbols)?;
    let mut specs = Vec::new();
    let mut table = Vec::new();
    for (i, symbol) in symbols.iter().enumerate() {
        let (spec, meta) = binance_spec(&options.config, symbol, i as u16, Some(&info), capture)?;
        specs.push(spec);
        table.push(meta);
    }
    let mut feed = BinanceFeed::new(specs);
    let mut sink = sink(capture, out, Format::CryptofeedBinance, options, table)?;
    let (file, count) = open_counted(capture)?;
    let mut events = Events::new();
    snapshots.reverse();
    for record in CryptofeedReader::new(BufReader::new(file)) {
        let record = record.map_err(capture_error(capture, 0))?;
        let CryptofeedRecord::Inbound { line, at, json } = record else {
            continue;
        };
        // REST snapshots come in at their own receive time, before later frames.
        while snapshots.last().is_some_and(|s| s.at < at) {
            let s = snapshots.pop().expect("checked");
            let index = symbols.iter().position(|x| *x == s.symbol).expect("listed") as u16;
            sink.summary.frames += 1;
            feed.on_depth_snapshot(InstrumentId(index), &s.body, &mut events)
                .map_err(capture_error(&snapshots_path, s.line))?;
            sink.drain(Some(s.at), line, &mut events)?;
        }
        sink.summary.frames += 1;
        match feed.on_frame(&json, &mut events) {
            Ok(()) => {}
            Err(propbot_venues::Error::Unsupported { kind, .. }) => sink.skip(kind),
            Err(e) => return Err(capture_error(capture, line)(e)),
        }
        sink.drain(Some(at), line, &mut events)?;
        if sink.summary.frames.is_multiple_of(1024) {
            progress.set(count.get());
        }
    }
    // Snapshots taken after the last frame still belong to the recording.
    while let Some(s) = snapshots.pop() {
        let index = symbols.iter().position(|x| *x == s.symbol).expect("listed") as u16;
        sink.summary.frames += 1;
        feed.on_depth_snapshot(InstrumentId(index), &s.body, &mut events)
            .map_err(capture_error(&snapshots_path, s.line))?;
        sink.drain(Some(s.at), s.line, &mut events)?;
    }
    sink.finish()
}

/// OKX instruments of a cryptofeed REST file, by instrument id (first one wins).
fn okx_instruments(path: &Path) -> Result<BTreeMap<String, okx_wire::InstrumentInfo>> {
    let file = File::open(path).map_err(io(path))?;
    let mut out = BTreeMap::new();
    for record in CryptofeedReader::new(BufReader::new(file)) {
        if let CryptofeedRecord::Rest {
            line, url, body, ..
        } = record.map_err(capture_error(path, 0))?
            && url.contains("/instruments")
        {
            let parsed = okx_wire::parse_instruments(&body).map_err(capture_error(path, line))?;
            for info in parsed.data {
                out.entry(info.inst_id.clone()).or_insert(info);
            }
        }
    }
    Ok(out)
}

/// One frame of an OKX capture: line, receive time (`None` for tickvault), frame.
type OkxLine = (u64, Option<UnixNanos>, String);

/// The frames of an OKX capture (cryptofeed `.ws.*` or tickvault JSONL), with their
/// line and receive time (`None` for tickvault).
fn okx_lines(
    capture: &Path,
    jsonl: bool,
    reader: impl BufRead + 'static,
) -> Box<dyn Iterator<Item = Result<OkxLine>>> {
    let path = capture.to_owned();
    if jsonl {
        Box::new(JsonlReader::new(reader).map(move |r| {
            r.map(|r| (r.line, None, r.json))
                .map_err(capture_error(&path, 0))
        }))
    } else {
        Box::new(CryptofeedReader::new(reader).filter_map(move |r| match r {
            Ok(CryptofeedRecord::Inbound { line, at, json }) => Some(Ok((line, Some(at), json))),
            Ok(_) => None,
            Err(e) => Some(Err(capture_error(&path, 0)(e))),
        }))
    }
}

fn okx_symbols(capture: &Path, jsonl: bool) -> Result<Vec<String>> {
    let file = File::open(capture).map_err(io(capture))?;
    let mut symbols: Vec<String> = Vec::new();
    for record in okx_lines(capture, jsonl, BufReader::new(file)) {
        let (_, _, json) = record?;
        let mut add = |s: &str| {
            if !symbols.iter().any(|x| x == s) {
                symbols.push(s.to_owned());
            }
        };
        match okx_wire::parse_message(&json) {
            Ok(okx_wire::Message::Books { inst_id, .. }) => add(inst_id),
            Ok(okx_wire::Message::Trades { data }) => data.iter().for_each(|d| add(d.inst_id)),
            Ok(okx_wire::Message::Tickers { data }) => data.iter().for_each(|d| add(d.inst_id)),
            _ => {}
        }
    }
    Ok(symbols)
}

/// An OKX instrument's spec and table entry: from the configuration when it lists the
/// symbol, otherwise from the instruments data.
fn okx_spec(
    config: &Config,
    symbol: &str,
    table_index: u16,
    instruments: Option<&BTreeMap<String, okx_wire::InstrumentInfo>>,
    capture: &Path,
) -> Result<(InstrumentSpec, InstrumentMeta)> {
    if let Some(id) = config.instrument_by_symbol(Venue::Okx, symbol) {
        return from_config(config, Venue::Okx, id, table_index);
    }
    let missing = |what: String| Error::Import {
        path: capture.to_owned(),
        what,
    };
    let info = instruments.and_then(|m| m.get(symbol)).ok_or_else(|| {
        missing(format!(
            "{symbol} is not in the engine configuration nor in the instruments data; \
                 pass --instruments with an OKX instruments capture (cryptofeed REST file)"
        ))
    })?;
    let qty = if info.ct_val.is_empty() {
        decimals(&info.lot_sz)
    } else {
        decimals(&info.ct_val) + decimals(&info.ct_mult) + decimals(&info.lot_sz)
    };
    let scales = Scales {
        price: decimals(&info.tick_sz).min(SCALE_MAX),
        qty: qty.min(SCALE_MAX),
    };
    let spec = info
        .spec(InstrumentId(table_index), scales)
        .map_err(|e| missing(e.to_string()))?;
    let contract_value = spec
        .contract_value
        .map(|q| q.display(scales.qty).to_string());
    let tick = spec.tick.display(scales.price).to_string();
    let entry = table_entry(Venue::Okx, symbol, scales, &tick, contract_value);
    Ok((spec, entry))
}

fn okx_frames(
    capture: &Path,
    out: &Path,
    options: &ImportOptions,
    progress: &Progress,
    jsonl: bool,
) -> Result<Imported> {
    let instruments_path = options
        .instruments
        .clone()
        .or_else(|| (!jsonl).then(|| companion(capture, ".0")).flatten());
    let instruments = match &instruments_path {
        Some(p) => Some(okx_instruments(p)?),
        None => None,
    };
    let symbols = okx_symbols(capture, jsonl)?;
    check_instrument_count(capture, &symbols)?;
    let mut specs = Vec::new();
    let mut table = Vec::new();
    for (i, symbol) in symbols.iter().enumerate() {
        let (spec, meta) = okx_spec(
            &options.config,
            symbol,
            i as u16,
            instruments.as_ref(),
            capture,
        )?;
        specs.push(spec);
        table.push(meta);
    }
    let format = if jsonl {
        Format::Tickvault
    } else {
        Format::CryptofeedOkx
    };
    let mut feed = OkxFeed::new(specs);
    let mut sink = sink(capture, out, format, options, table)?;
    let (file, count) = open_counted(capture)?;
    let mut events = Events::new();
    for record in okx_lines(capture, jsonl, BufReader::new(file)) {
        let (line, at, json) = record?;
        sink.summary.frames += 1;
        match feed.on_frame(&json, &mut events) {
            Ok(Handled::Market) => {}
            Ok(Handled::Control) => sink.skip("control".into()),
            Err(propbot_venues::Error::Unsupported { kind, .. }) => sink.skip(kind),
            Err(e) => return Err(capture_error(capture, line)(e)),
        }
        sink.drain(at, line, &mut events)?;
        if sink.summary.frames.is_multiple_of(1024) {
            progress.set(count.get());
        }
    }
    sink.finish()
}
