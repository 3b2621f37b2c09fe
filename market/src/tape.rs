//! A recorded two-venue market held in memory, so the simulator and the paper service
//! can trade against real books instead of the synthetic model.
//!
//! [`Tape::load`] reads a recording once (snapshots, deltas and trades of the
//! configured instrument on the strategy's two venues; best bid/offers and book
//! invalidations are left out, as a venue would never send them to its own matching
//! engine) into a flat arena. A [`RecordedMarket`] then plays the tape from a chosen
//! point with the same interface as [`SyntheticMarket`](crate::synth::SyntheticMarket):
//!
//! - **Time** is the recording's receive time moved so that the chosen point falls just
//!   after the world's start; exchange timestamps are restamped to that same time, so a
//!   capture's own clock offsets (hftbacktest stamps run behind the venue) never look
//!   like a clock fault to the engine. Faults are the simulator's job.
//! - **Books** are rebuilt from the tape and every update is renumbered into one
//!   unbroken chain per venue. A snapshot in the middle of the tape (the recorder
//!   resynced) becomes the delta that turns the current book into the snapshot's. The
//!   recorded market is therefore continuous; gaps come only from injected faults.
//! - **The end** of the tape loops back to the first point where both venues have a
//!   book: the jump between the last and the first book is one delta per venue at the
//!   loop. [`RecordedMarket::loops`] counts them so a report can say so.

use propbot_engine::Config;
use propbot_engine::book::Sequence;
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::model::{InstrumentId, Level, Price, Qty, Side, Venue};
use propbot_engine::time::UnixNanos;
use propbot_recordings::Error;
use propbot_recordings::meta::Origin;
use propbot_recordings::{MergedReader, Recording};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// Largest number of book levels a tape holds in memory (16 bytes each: 1.6 GB).
pub const MAX_LEVELS: usize = 100_000_000;

/// Why a recording cannot be mapped onto the engine's configured instruments.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// A recorded instrument is configured with other scales than it was recorded with.
    #[error(
        "stream {stream}: {symbol} on {venue} is recorded with scales {recorded:?} but the \
         configuration has {configured:?}"
    )]
    Scales {
        /// Stream.
        stream: String,
        /// Symbol.
        symbol: String,
        /// Venue.
        venue: Venue,
        /// Price/qty decimals in the file.
        recorded: (u8, u8),
        /// Price/qty decimals in the configuration.
        configured: (u8, u8),
    },
    /// No recorded instrument is in the configuration: nothing would reach the engine.
    #[error("none of the recorded instruments ({0}) is in the engine configuration")]
    NothingToReplay(String),
}

/// For every stream of `recording`, the configured instrument of each entry of its
/// instrument table (`None` for instruments the configuration does not trade).
pub fn instrument_maps(
    recording: &Recording,
    config: &Config,
) -> Result<Vec<Vec<Option<InstrumentId>>>, MapError> {
    let mut maps = Vec::new();
    let mut any = false;
    let mut names = Vec::new();
    for stream in &recording.streams {
        let mut map = Vec::new();
        for inst in stream.instruments() {
            names.push(inst.name.clone());
            let mut found = None;
            for l in &inst.listings {
                if let Some(id) = config.instrument_by_symbol(l.venue, &l.symbol) {
                    let scales = config.instruments[id.index()].scales;
                    if scales != inst.scales() {
                        return Err(MapError::Scales {
                            stream: stream.name.clone(),
                            symbol: l.symbol.clone(),
                            venue: l.venue,
                            recorded: (inst.price_scale, inst.qty_scale),
                            configured: (scales.price, scales.qty),
                        });
                    }
                    found = Some(id);
                }
            }
            any |= found.is_some();
            map.push(found);
        }
        maps.push(map);
    }
    if !any {
        names.dedup();
        return Err(MapError::NothingToReplay(names.join(", ")));
    }
    Ok(maps)
}

/// Why a recording cannot drive a simulated market.
#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    /// A recording file is missing, foreign, truncated or inconsistent.
    #[error(transparent)]
    Recording(#[from] Error),
    /// The recording does not fit the configuration.
    #[error(transparent)]
    Map(#[from] MapError),
    /// The recording has no book of one of the strategy's venues.
    #[error(
        "the recording has no {venue} book of {instrument}; a market needs both venues of \
         the strategy (derive the missing one with `propbot recordings synth --from DIR`)"
    )]
    MissingVenue {
        /// The venue.
        venue: Venue,
        /// The configured instrument's name.
        instrument: String,
    },
    /// The recording is too large to hold in memory.
    #[error(
        "the recording holds more than {limit} book levels of {instrument}; pass a shorter \
         span of files"
    )]
    TooLarge {
        /// The configured instrument's name.
        instrument: String,
        /// The limit.
        limit: usize,
    },
}

#[derive(Clone, Copy, Debug)]
enum EntryKind {
    Snapshot,
    Delta,
    Trade {
        price: Price,
        qty: Qty,
        aggressor: Side,
    },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ts: UnixNanos,
    slot: u8,
    kind: EntryKind,
    start: usize,
    bids: u32,
    asks: u32,
}

/// A book: price → quantity per side.
#[derive(Clone, Debug, Default, PartialEq)]
struct Book {
    bids: BTreeMap<Price, Qty>,
    asks: BTreeMap<Price, Qty>,
}

impl Book {
    fn apply(&mut self, bids: &[Level], asks: &[Level]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for l in levels {
                if l.qty.raw() <= 0 {
                    side.remove(&l.price);
                } else {
                    side.insert(l.price, l.qty);
                }
            }
        }
    }

    fn replace(&mut self, bids: &[Level], asks: &[Level]) {
        self.bids.clear();
        self.asks.clear();
        self.apply(bids, asks);
    }

    /// The levels that turn `self` into `target`.
    fn diff(&self, target: &Book) -> (Vec<Level>, Vec<Level>) {
        let side = |from: &BTreeMap<Price, Qty>, to: &BTreeMap<Price, Qty>| {
            let mut out = Vec::new();
            for p in from.keys() {
                if !to.contains_key(p) {
                    out.push(Level {
                        price: *p,
                        qty: Qty::ZERO,
                    });
                }
            }
            for (p, q2) in to {
                if from.get(p) != Some(q2) {
                    out.push(Level {
                        price: *p,
                        qty: *q2,
                    });
                }
            }
            out
        };
        (
            side(&self.bids, &target.bids),
            side(&self.asks, &target.asks),
        )
    }

    fn levels(&self) -> (Vec<Level>, Vec<Level>) {
        let level = |(p, q): (&Price, &Qty)| Level { price: *p, qty: *q };
        (
            self.bids.iter().rev().map(level).collect(),
            self.asks.iter().map(level).collect(),
        )
    }
}

/// A recording loaded for market simulation.
pub struct Tape {
    instrument: InstrumentId,
    venues: [Venue; 2],
    entries: Vec<Entry>,
    levels: Vec<Level>,
    /// First entry after which both venues have a book.
    ready: usize,
    /// Books just before `ready`.
    ready_books: [Book; 2],
    /// Where each venue's data came from (real or derived), from the files' metadata.
    pub origins: BTreeMap<Venue, Origin>,
    /// Files the tape was read from.
    pub paths: Vec<PathBuf>,
}

impl Tape {
    /// Loads the configured strategy instrument of `paths` on the strategy's two venues.
    pub fn load(paths: &[PathBuf], config: &Config) -> Result<Tape, TapeError> {
        let recording = Recording::open(paths)?;
        let maps = instrument_maps(&recording, config)?;
        let instrument = config.strategy.instruments[0];
        let name = &config.instruments[instrument.index()].name;
        let venues = [config.strategy.venues[0], config.strategy.venues[1]];
        let mut origins = BTreeMap::new();
        for s in &recording.streams {
            for (v, o) in s.venues() {
                if venues.contains(&v) {
                    origins.insert(v, o);
                }
            }
        }
        let mut reader = recording.reader(Some(maps));
        let (entries, levels) = read_arena(&mut reader, instrument, &venues, name)?;
        let (ready, ready_books) =
            first_two_venue_point(&entries, &levels).map_err(|slot| TapeError::MissingVenue {
                venue: venues[slot],
                instrument: name.clone(),
            })?;
        Ok(Tape {
            instrument,
            venues,
            entries,
            levels,
            ready,
            ready_books,
            origins,
            paths: paths.to_vec(),
        })
    }

    /// Recorded time both venues have books for, ns.
    pub fn span_ns(&self) -> u64 {
        let first = self.entries[self.ready].ts;
        let last = self.entries.last().map_or(first, |e| e.ts);
        last.0.saturating_sub(first.0)
    }

    /// Entries (snapshots, deltas and trades) held.
    pub fn events(&self) -> usize {
        self.entries.len()
    }

    /// What operators are told of it: its files, entries and span, e.g.
    /// `a.parquet b.parquet (93950 events, 345.0 s with both venues)`.
    pub fn describe(&self) -> String {
        let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        format!(
            "{} ({} events, {:.1} s with both venues)",
            paths.join(" "),
            self.events(),
            self.span_ns() as f64 / 1e9
        )
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentId {
        self.instrument
    }
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tape")
            .field("paths", &self.paths)
            .field("instrument", &self.instrument)
            .field("venues", &self.venues)
            .field("events", &self.entries.len())
            .field("levels", &self.levels.len())
            .field("span_ns", &self.span_ns())
            .finish()
    }
}

fn slice<'a>(levels: &'a [Level], e: &Entry) -> (&'a [Level], &'a [Level]) {
    let mid = e.start + e.bids as usize;
    (&levels[e.start..mid], &levels[mid..mid + e.asks as usize])
}

/// Snapshots, deltas and trades of `instrument` on `venues` in receive-time order, their
/// levels in one flat arena (at most [`MAX_LEVELS`]).
fn read_arena(
    reader: &mut MergedReader,
    instrument: InstrumentId,
    venues: &[Venue; 2],
    name: &str,
) -> Result<(Vec<Entry>, Vec<Level>), TapeError> {
    let mut entries = Vec::new();
    let mut levels: Vec<Level> = Vec::new();
    while let Some((_, m)) = reader.next()? {
        if m.instrument != instrument {
            continue;
        }
        let Some(slot) = venues.iter().position(|v| *v == m.venue) else {
            continue;
        };
        let Some(update) = m.market_update() else {
            continue;
        };
        let entry = Entry {
            ts: m.ts_recv,
            slot: slot as u8,
            kind: EntryKind::Delta,
            start: levels.len(),
            bids: 0,
            asks: 0,
        };
        let (kind, b, a) = match update {
            MarketUpdate::Snapshot { bids, asks, .. } => (EntryKind::Snapshot, bids, asks),
            MarketUpdate::Delta { bids, asks, .. } => (EntryKind::Delta, bids, asks),
            MarketUpdate::Trade {
                price,
                qty,
                aggressor,
                ..
            } => {
                let kind = EntryKind::Trade {
                    price: *price,
                    qty: *qty,
                    aggressor: *aggressor,
                };
                entries.push(Entry { kind, ..entry });
                continue;
            }
        };
        if levels.len() + b.len() + a.len() > MAX_LEVELS {
            return Err(TapeError::TooLarge {
                instrument: name.to_owned(),
                limit: MAX_LEVELS,
            });
        }
        levels.extend_from_slice(b);
        levels.extend_from_slice(a);
        entries.push(Entry {
            kind,
            bids: b.len() as u32,
            asks: a.len() as u32,
            ..entry
        });
    }
    Ok((entries, levels))
}

/// The first entry after which both venues have a book, and the books just before it;
/// `Err(slot)` names a venue that never gets one.
fn first_two_venue_point(entries: &[Entry], levels: &[Level]) -> Result<(usize, [Book; 2]), usize> {
    let mut books = [Book::default(), Book::default()];
    let mut seen = [false; 2];
    for (k, e) in entries.iter().enumerate() {
        if seen == [true, true] {
            return Ok((k, books));
        }
        let s = e.slot as usize;
        let (b, a) = slice(levels, e);
        match e.kind {
            EntryKind::Snapshot => {
                books[s].replace(b, a);
                seen[s] = true;
            }
            EntryKind::Delta if seen[s] => books[s].apply(b, a),
            _ => {}
        }
    }
    Err(if seen[0] { 1 } else { 0 })
}

/// A market played from a [`Tape`]: an endless, continuous stream of updates.
#[derive(Clone, Debug)]
pub struct RecordedMarket {
    tape: Arc<Tape>,
    pos: usize,
    /// Mapped time = tape time + `shift` (signed, as tape times are wall-clock dates).
    shift: i128,
    books: [Book; 2],
    seq: [u64; 2],
    pending: VecDeque<MarketUpdate>,
    last_time: UnixNanos,
    /// Updates played so far.
    pub updates: u64,
    /// Times the tape ran out and started again.
    pub loops: u64,
}

/// Gap between the end of the tape and its restart, ms.
const LOOP_GAP_MS: u64 = 100;

impl RecordedMarket {
    /// Plays `tape` from `skip_ns` after its first two-venue point, the first update
    /// falling 1 ms after `start`.
    pub fn new(tape: Arc<Tape>, start: UnixNanos, skip_ns: u64) -> RecordedMarket {
        let mut books = tape.ready_books.clone();
        let from = tape.entries[tape.ready].ts.0.saturating_add(skip_ns);
        let mut pos = tape.ready;
        while pos < tape.entries.len() && tape.entries[pos].ts.0 < from {
            let e = &tape.entries[pos];
            let (b, a) = slice(&tape.levels, e);
            match e.kind {
                EntryKind::Snapshot => books[e.slot as usize].replace(b, a),
                EntryKind::Delta => books[e.slot as usize].apply(b, a),
                EntryKind::Trade { .. } => {}
            }
            pos += 1;
        }
        if pos == tape.entries.len() {
            pos = tape.ready;
            books = tape.ready_books.clone();
        }
        let first = start.plus_millis(1);
        let shift = i128::from(first.0) - i128::from(tape.entries[pos].ts.0);
        RecordedMarket {
            books,
            pos,
            shift,
            seq: [1_000, 5_000],
            pending: VecDeque::new(),
            last_time: start,
            updates: 0,
            loops: 0,
            tape,
        }
    }

    /// The venues, in slot order.
    pub fn venues(&self) -> [Venue; 2] {
        self.tape.venues
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentId {
        self.tape.instrument
    }

    fn map(&self, ts: UnixNanos) -> UnixNanos {
        let t = i128::from(ts.0) + self.shift;
        UnixNanos(t.max(0) as u64).max(self.last_time)
    }

    /// Time of the next update.
    pub fn peek_time(&self) -> UnixNanos {
        if !self.pending.is_empty() {
            return self.last_time;
        }
        match self.tape.entries.get(self.pos) {
            Some(e) => self.map(e.ts),
            None => self.last_time.plus_millis(LOOP_GAP_MS),
        }
    }

    fn slot(&self, venue: Venue) -> usize {
        if self.tape.venues[0] == venue { 0 } else { 1 }
    }

    /// A full snapshot of a venue's current book.
    pub fn snapshot(&self, venue: Venue, ts: UnixNanos) -> MarketUpdate {
        let s = self.slot(venue);
        let (bids, asks) = self.books[s].levels();
        MarketUpdate::Snapshot {
            venue,
            instrument: self.tape.instrument,
            last: self.seq[s],
            bids,
            asks,
            ts,
        }
    }

    /// Best bid and ask of a venue right now.
    pub fn touch(&self, venue: Venue) -> (Price, Price) {
        let b = &self.books[self.slot(venue)];
        (
            b.bids.keys().next_back().copied().unwrap_or(Price::ZERO),
            b.asks.keys().next().copied().unwrap_or(Price::ZERO),
        )
    }

    fn delta(
        &mut self,
        s: usize,
        bids: Vec<Level>,
        asks: Vec<Level>,
        t: UnixNanos,
    ) -> MarketUpdate {
        let previous = self.seq[s];
        self.seq[s] += 1;
        let venue = self.tape.venues[s];
        MarketUpdate::Delta {
            venue,
            instrument: self.tape.instrument,
            sequence: Sequence {
                first: (venue == Venue::Binance).then_some(previous + 1),
                last: self.seq[s],
                previous: Some(previous),
            },
            bids,
            asks,
            ts: t,
        }
    }

    /// The next update, in time order (an endless stream).
    pub fn advance(&mut self) -> (UnixNanos, MarketUpdate) {
        self.updates += 1;
        if let Some(u) = self.pending.pop_front() {
            return (self.last_time, u);
        }
        if self.pos == self.tape.entries.len() {
            // The tape ran out: start again, one delta per venue to the first books.
            let t = self.last_time.plus_millis(LOOP_GAP_MS);
            self.loops += 1;
            self.pos = self.tape.ready;
            self.shift = i128::from(t.0) - i128::from(self.tape.entries[self.pos].ts.0);
            self.last_time = t;
            let target = self.tape.ready_books.clone();
            for (s, book) in target.into_iter().enumerate() {
                let (b, a) = self.books[s].diff(&book);
                self.books[s] = book;
                let u = self.delta(s, b, a, t);
                self.pending.push_back(u);
            }
            let u = self.pending.pop_front().expect("two loop deltas");
            return (t, u);
        }
        let e = self.tape.entries[self.pos];
        self.pos += 1;
        let t = self.map(e.ts);
        self.last_time = t;
        let s = e.slot as usize;
        let (venue, instrument) = (self.tape.venues[s], self.tape.instrument);
        let (b, a) = slice(&self.tape.levels, &e);
        let update = match e.kind {
            EntryKind::Trade {
                price,
                qty,
                aggressor,
            } => MarketUpdate::Trade {
                venue,
                instrument,
                price,
                qty,
                aggressor,
                ts: t,
            },
            EntryKind::Delta => {
                self.books[s].apply(b, a);
                let (b, a) = (b.to_vec(), a.to_vec());
                self.delta(s, b, a, t)
            }
            EntryKind::Snapshot => {
                let mut target = Book::default();
                target.replace(b, a);
                let (db, da) = self.books[s].diff(&target);
                self.books[s] = target;
                self.delta(s, db, da, t)
            }
        };
        (t, update)
    }
}
