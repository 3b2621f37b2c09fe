//! A live session into a recording: what a venue's sync machine emits (snapshots,
//! diffs, best bid/offer, trades, resyncs), written as one stream with the crash-safe
//! rolling writer. Used by `propbot record` and by the service when it records its own
//! market data.
//!
//! The recorder carries each instrument's book (every level, not a window) so that a
//! rolled file starts with a snapshot of every synced book and replays on its own; a
//! resync, a reconnect or messages the driver had to drop are recorded as a
//! `BookInvalid` row, so a replay sees the break where the live engine saw it.
//! Receive times are kept non-decreasing (a wall clock stepped back is held), as the
//! writer requires.

use crate::error::Result;
use crate::message::{Body, Message};
use crate::meta::{InstrumentMeta, Origin, RecordingMeta};
use crate::schema::InvalidCode;
use crate::writer::{Leftover, RecordingWriter, WriteSummary, WriterOptions};
use propbot_engine::book::InvalidReason;
use propbot_engine::config::Config;
use propbot_engine::model::{InstrumentId, Level, Price, Qty, Venue};
use propbot_engine::time::UnixNanos;
use propbot_venues::SyncEvent;
use std::collections::BTreeMap;
use std::path::Path;

/// What a session has written so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounts {
    /// Messages written (carried snapshots included).
    pub messages: u64,
    /// Snapshots received from the venue.
    pub snapshots: u64,
    /// Resyncs and losses recorded as `BookInvalid`.
    pub invalidations: u64,
    /// Snapshots written at the start of a rolled file.
    pub carried: u64,
    /// Events for instruments outside the session's table (not written).
    pub skipped: u64,
}

/// One instrument's book as the recording knows it.
#[derive(Clone, Debug, Default)]
struct CarriedBook {
    synced: bool,
    last: u64,
    ts_exchange: UnixNanos,
    bids: BTreeMap<i64, Qty>,
    asks: BTreeMap<i64, Qty>,
}

impl CarriedBook {
    fn replace(&mut self, last: u64, ts: UnixNanos, bids: &[Level], asks: &[Level]) {
        self.bids.clear();
        self.asks.clear();
        self.apply(bids, asks);
        self.synced = true;
        self.last = last;
        self.ts_exchange = ts;
    }

    fn apply(&mut self, bids: &[Level], asks: &[Level]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for l in levels {
                if l.qty.raw() == 0 {
                    side.remove(&l.price.raw());
                } else {
                    side.insert(l.price.raw(), l.qty);
                }
            }
        }
    }

    fn levels(&self) -> (Vec<Level>, Vec<Level>) {
        let level = |(p, q): (&i64, &Qty)| Level {
            price: Price::from_raw(*p),
            qty: *q,
        };
        (
            self.bids.iter().rev().map(level).collect(),
            self.asks.iter().map(level).collect(),
        )
    }
}

/// A venue's live market data into one recording stream. See the module documentation.
pub struct SessionRecorder {
    writer: RecordingWriter,
    venue: Venue,
    /// Engine instrument index → index in the file's instrument table.
    slots: Vec<Option<u16>>,
    books: Vec<CarriedBook>,
    last_recv: UnixNanos,
    counts: SessionCounts,
}

impl SessionRecorder {
    /// A recorder of `venue`'s `instruments` into `dir` (stream named after the venue).
    /// Leftovers of a crashed earlier session of the stream are recovered first and
    /// returned; a later session carries on the stream's numbering.
    pub fn create(
        dir: &Path,
        config: &Config,
        venue: Venue,
        instruments: &[InstrumentId],
        source: &str,
        options: WriterOptions,
    ) -> Result<(SessionRecorder, Vec<Leftover>)> {
        let mut slots = vec![None; config.instruments.len()];
        let mut table = Vec::new();
        for &id in instruments {
            let Some(entry) = InstrumentMeta::from_config(config, id, &[(venue, Origin::Real)])
            else {
                continue;
            };
            if let Some(slot) = slots.get_mut(id.index()) {
                *slot = Some(table.len() as u16);
                table.push(entry);
            }
        }
        let books = vec![CarriedBook::default(); table.len()];
        let meta = RecordingMeta::new(source, venue.name(), table);
        let (writer, leftovers) = RecordingWriter::create(dir, meta, options)?;
        let recorder = SessionRecorder {
            writer,
            venue,
            slots,
            books,
            last_recv: UnixNanos::ZERO,
            counts: SessionCounts::default(),
        };
        Ok((recorder, leftovers))
    }

    /// Writes one event received at `ts_recv`.
    pub fn record(&mut self, ts_recv: UnixNanos, event: &SyncEvent) -> Result<()> {
        let Some(slot) = self.slot(event.instrument()) else {
            self.counts.skipped += 1;
            return Ok(());
        };
        let ts = self.hold(ts_recv);
        self.carry_if_rolling(ts)?;
        let book = &mut self.books[usize::from(slot)];
        match event {
            SyncEvent::Snapshot {
                last,
                bids,
                asks,
                ts_exchange,
                ..
            } => {
                book.replace(*last, *ts_exchange, bids, asks);
                self.counts.snapshots += 1;
            }
            SyncEvent::Delta {
                sequence,
                bids,
                asks,
                ts_exchange,
                ..
            } if book.synced => {
                book.apply(bids, asks);
                book.last = sequence.last;
                book.ts_exchange = *ts_exchange;
            }
            SyncEvent::Resync { .. } => {
                book.synced = false;
                self.counts.invalidations += 1;
            }
            _ => {}
        }
        self.write(&Message::from_sync(ts, slot, event, 0))
    }

    /// The driver lost messages of `instrument` (a full queue): the book is unknown
    /// until the next snapshot, and the recording says so.
    pub fn lost(&mut self, ts_recv: UnixNanos, instrument: InstrumentId) -> Result<()> {
        let Some(slot) = self.slot(instrument) else {
            return Ok(());
        };
        let ts = self.hold(ts_recv);
        self.carry_if_rolling(ts)?;
        self.books[usize::from(slot)].synced = false;
        self.counts.invalidations += 1;
        let code = InvalidCode::from_reason(InvalidReason::Gap);
        self.write(&Message {
            ts_recv: ts,
            ts_exchange: ts,
            venue: self.venue,
            instrument: slot,
            origin_flags: 0,
            body: Body::BookInvalid { code },
        })
    }

    /// What has been written so far.
    pub fn counts(&self) -> SessionCounts {
        self.counts
    }

    /// Rows written to closed and open files.
    pub fn rows(&self) -> u64 {
        self.writer.rows()
    }

    /// Closes the open file and commits it.
    pub fn finish(self) -> Result<WriteSummary> {
        self.writer.finish()
    }

    fn slot(&self, instrument: InstrumentId) -> Option<u16> {
        self.slots.get(instrument.index()).copied().flatten()
    }

    fn hold(&mut self, ts_recv: UnixNanos) -> UnixNanos {
        self.last_recv = self.last_recv.max(ts_recv);
        self.last_recv
    }

    fn write(&mut self, message: &Message<'_>) -> Result<()> {
        self.writer.write(message)?;
        self.counts.messages += 1;
        Ok(())
    }

    /// When the next message opens a new file, every synced book goes first.
    fn carry_if_rolling(&mut self, ts: UnixNanos) -> Result<()> {
        if !self.writer.rolls_before(ts) {
            return Ok(());
        }
        for slot in 0..self.books.len() {
            let book = &self.books[slot];
            if !book.synced {
                continue;
            }
            let (bids, asks) = book.levels();
            let (last, ts_exchange) = (book.last, book.ts_exchange);
            self.write(&Message {
                ts_recv: ts,
                ts_exchange,
                venue: self.venue,
                instrument: slot as u16,
                origin_flags: 0,
                body: Body::Snapshot {
                    last,
                    bids: &bids,
                    asks: &asks,
                },
            })?;
            self.counts.carried += 1;
        }
        Ok(())
    }
}
