//! Binance USDⓈ-M book sync: "How to manage a local order book correctly"
//! (`../shared/VENUES.md` §1.2), as a state machine per instrument.
//!
//! 1. Until a REST snapshot arrives, diffs are buffered (it may arrive after them).
//! 2. On the snapshot, buffered diffs with `u < lastUpdateId` are dropped; the first
//!    one left must bracket the snapshot (`U <= lastUpdateId <= u`), otherwise the
//!    snapshot is too old and a new one is needed.
//! 3. After that every diff's `pu` must equal the previous diff's `u`; anything else is
//!    a gap: emit a resync and buffer again from the diff that broke the chain.
//!
//! The machine does not keep the book itself: the engine's `Book` does, from the
//! snapshot and deltas emitted here. Deleting an absent level is therefore the book's
//! business, and it is normal there.

use crate::event::{Events, ResyncReason, SyncEvent};
use propbot_engine::book::Sequence;
use propbot_engine::model::{InstrumentId, Level, Venue};
use propbot_engine::time::UnixNanos;
use std::collections::VecDeque;

/// Diffs kept while waiting for a snapshot, at most. When full the oldest is dropped
/// (and counted): a snapshot older than it then fails the bracket rule and is refused
/// as too old, so dropping can cost a retry but never a wrong book. At 10 diffs/s this
/// is over six minutes of `@depth@100ms`.
pub const BUFFERED_DIFFS_MAX: usize = 4096;

/// A diff converted to fixed point, ready to buffer or emit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
    /// `U`, `u`, `pu`.
    pub sequence: Sequence,
    /// Changed bids.
    pub bids: Vec<Level>,
    /// Changed asks.
    pub asks: Vec<Level>,
    /// Venue timestamp.
    pub ts_exchange: UnixNanos,
}

/// Counters for status and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncCounters {
    /// Snapshots accepted.
    pub snapshots: u64,
    /// Snapshots refused as too old.
    pub snapshots_refused: u64,
    /// Deltas emitted.
    pub deltas: u64,
    /// Diffs dropped because the snapshot already contained them.
    pub stale: u64,
    /// Diffs dropped from a full buffer.
    pub overflowed: u64,
    /// Resyncs emitted.
    pub resyncs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Buffering diffs until a snapshot arrives.
    AwaitingSnapshot,
    /// Snapshot applied at `last`; `fresh` until the first diff is applied (the bracket
    /// rule applies instead of the `pu` chain).
    Synced { last: u64, fresh: bool },
}

/// The sync machine for one Binance instrument.
#[derive(Clone, Debug)]
pub struct DepthSync {
    venue: Venue,
    instrument: InstrumentId,
    state: State,
    buffer: VecDeque<Diff>,
    /// Counters.
    pub counters: SyncCounters,
}

impl DepthSync {
    /// A machine awaiting its first snapshot.
    pub fn new(instrument: InstrumentId) -> DepthSync {
        DepthSync {
            venue: Venue::Binance,
            instrument,
            state: State::AwaitingSnapshot,
            buffer: VecDeque::new(),
            counters: SyncCounters::default(),
        }
    }

    /// Whether a REST snapshot is needed (at start and after every resync).
    pub fn needs_snapshot(&self) -> bool {
        self.state == State::AwaitingSnapshot
    }

    /// The last update id applied, once synced.
    pub fn last_update_id(&self) -> Option<u64> {
        match self.state {
            State::AwaitingSnapshot => None,
            State::Synced { last, .. } => Some(last),
        }
    }

    /// Diffs currently buffered.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Handles a diff in arrival order.
    pub fn on_diff(&mut self, diff: Diff, out: &mut Events) {
        match self.state {
            State::AwaitingSnapshot => self.buffer_diff(diff, out),
            State::Synced { last, fresh: true } => {
                let s = diff.sequence;
                if s.last < last {
                    self.counters.stale += 1;
                    recycle(diff, out);
                } else if s.first.is_some_and(|first| first <= last) {
                    self.emit(diff, out);
                } else {
                    self.resync(ResyncReason::SnapshotTooOld, out);
                    self.buffer_diff(diff, out);
                }
            }
            State::Synced { last, fresh: false } => {
                if diff.sequence.previous == Some(last) {
                    self.emit(diff, out);
                } else {
                    self.resync(ResyncReason::Gap, out);
                    self.buffer_diff(diff, out);
                }
            }
        }
    }

    /// Handles a REST snapshot: emits it and the buffered diffs that follow it, or a
    /// resync when it is older than the buffered diffs.
    pub fn on_snapshot(
        &mut self,
        last_update_id: u64,
        bids: Vec<Level>,
        asks: Vec<Level>,
        ts_exchange: UnixNanos,
        out: &mut Events,
    ) {
        while self
            .buffer
            .front()
            .is_some_and(|d| d.sequence.last < last_update_id)
        {
            self.counters.stale += 1;
            let diff = self.buffer.pop_front().expect("front exists");
            recycle(diff, out);
        }
        let too_old = self
            .buffer
            .front()
            .is_some_and(|d| d.sequence.first.is_none_or(|first| first > last_update_id));
        if too_old {
            self.counters.snapshots_refused += 1;
            out.recycle(bids);
            out.recycle(asks);
            self.state = State::AwaitingSnapshot;
            self.emit_resync(ResyncReason::SnapshotTooOld, out);
            return;
        }
        self.counters.snapshots += 1;
        out.push(SyncEvent::Snapshot {
            venue: self.venue,
            instrument: self.instrument,
            last: last_update_id,
            bids,
            asks,
            ts_exchange,
        });
        self.state = State::Synced {
            last: last_update_id,
            fresh: true,
        };
        let mut pending = std::mem::take(&mut self.buffer);
        for diff in pending.drain(..) {
            self.on_diff(diff, out);
        }
        if self.buffer.is_empty() {
            // Keep the allocation for the next time diffs must wait.
            self.buffer = pending;
        }
    }

    /// Forgets the book (reconnect, 24-hour cut, a diff that could not be parsed):
    /// emits a resync if the book was synced and starts buffering afresh.
    pub fn reset(&mut self, reason: ResyncReason, out: &mut Events) {
        for diff in self.buffer.drain(..) {
            out.recycle(diff.bids);
            out.recycle(diff.asks);
        }
        if self.state != State::AwaitingSnapshot {
            self.resync(reason, out);
        }
    }

    fn emit(&mut self, diff: Diff, out: &mut Events) {
        self.state = State::Synced {
            last: diff.sequence.last,
            fresh: false,
        };
        self.counters.deltas += 1;
        out.push(SyncEvent::Delta {
            venue: self.venue,
            instrument: self.instrument,
            sequence: diff.sequence,
            bids: diff.bids,
            asks: diff.asks,
            ts_exchange: diff.ts_exchange,
        });
    }

    fn resync(&mut self, reason: ResyncReason, out: &mut Events) {
        self.state = State::AwaitingSnapshot;
        self.emit_resync(reason, out);
    }

    fn emit_resync(&mut self, reason: ResyncReason, out: &mut Events) {
        self.counters.resyncs += 1;
        out.push(SyncEvent::Resync {
            venue: self.venue,
            instrument: self.instrument,
            reason,
        });
    }

    fn buffer_diff(&mut self, diff: Diff, out: &mut Events) {
        if self.buffer.len() == BUFFERED_DIFFS_MAX {
            self.counters.overflowed += 1;
            let oldest = self.buffer.pop_front().expect("buffer is full");
            recycle(oldest, out);
        }
        self.buffer.push_back(diff);
    }
}

fn recycle(diff: Diff, out: &mut Events) {
    out.recycle(diff.bids);
    out.recycle(diff.asks);
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::model::{Price, Qty};

    fn diff(first: u64, last: u64, previous: u64) -> Diff {
        Diff {
            sequence: Sequence {
                first: Some(first),
                last,
                previous: Some(previous),
            },
            bids: vec![Level {
                price: Price::from_raw(100),
                qty: Qty::from_raw(last as i64),
            }],
            asks: Vec::new(),
            ts_exchange: UnixNanos(last),
        }
    }

    /// Feeds `steps` and returns a compact trace of what came out.
    fn run(sync: &mut DepthSync, steps: &[Step]) -> Vec<String> {
        let mut out = Events::new();
        for step in steps {
            match *step {
                Step::Diff(f, l, p) => sync.on_diff(diff(f, l, p), &mut out),
                Step::Snapshot(id) => {
                    sync.on_snapshot(id, Vec::new(), Vec::new(), UnixNanos(id), &mut out)
                }
            }
        }
        out.iter()
            .map(|e| match e {
                SyncEvent::Snapshot { last, .. } => format!("S{last}"),
                SyncEvent::Delta { sequence, .. } => format!("D{}", sequence.last),
                SyncEvent::Resync { reason, .. } => format!("R:{}", reason.name()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[derive(Clone, Copy)]
    enum Step {
        Diff(u64, u64, u64),
        Snapshot(u64),
    }
    use Step::{Diff as D, Snapshot as S};

    fn check(steps: &[Step], expect: &[&str]) {
        let mut sync = DepthSync::new(InstrumentId(0));
        assert_eq!(run(&mut sync, steps), expect);
    }

    #[test]
    fn diffs_before_the_snapshot_are_buffered_then_filtered() {
        check(
            &[D(1, 5, 0), D(6, 9, 5), D(10, 14, 9), S(8), D(15, 20, 14)],
            &["S8", "D9", "D14", "D20"],
        );
    }

    #[test]
    fn a_snapshot_older_than_the_buffer_is_refused() {
        let mut sync = DepthSync::new(InstrumentId(0));
        assert_eq!(
            run(&mut sync, &[D(10, 14, 9), S(8)]),
            ["R:snapshot too old"]
        );
        assert!(sync.needs_snapshot());
        assert_eq!(
            run(&mut sync, &[S(12), D(15, 16, 14)]),
            ["S12", "D14", "D16"]
        );
    }

    #[test]
    fn the_first_live_diff_must_bracket_the_snapshot() {
        check(&[S(8), D(1, 5, 0), D(6, 9, 5)], &["S8", "D9"]);
        check(&[S(8), D(9, 12, 8)], &["S8", "R:snapshot too old"]);
        // lastUpdateId == u is inside the bracket.
        check(&[S(9), D(6, 9, 5), D(10, 11, 9)], &["S9", "D9", "D11"]);
    }

    #[test]
    fn a_broken_pu_chain_is_a_gap_and_rebuffers() {
        let mut sync = DepthSync::new(InstrumentId(0));
        assert_eq!(
            run(&mut sync, &[S(8), D(6, 9, 5), D(12, 14, 11), D(15, 16, 14)]),
            ["S8", "D9", "R:sequence gap"]
        );
        assert_eq!(sync.buffered(), 2);
        assert_eq!(run(&mut sync, &[S(13)]), ["S13", "D14", "D16"]);
    }

    #[test]
    fn out_of_order_and_duplicate_diffs_are_gaps() {
        check(
            &[S(8), D(6, 9, 5), D(10, 12, 9), D(10, 12, 9)],
            &["S8", "D9", "D12", "R:sequence gap"],
        );
        check(
            &[S(8), D(6, 9, 5), D(13, 15, 12), D(10, 12, 9)],
            &["S8", "D9", "R:sequence gap"],
        );
    }

    #[test]
    fn a_gap_inside_the_buffer_is_found_on_replay() {
        check(
            &[D(6, 9, 5), D(13, 15, 12), S(8)],
            &["S8", "D9", "R:sequence gap"],
        );
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_diff() {
        let mut sync = DepthSync::new(InstrumentId(0));
        let mut out = Events::new();
        for i in 0..(BUFFERED_DIFFS_MAX as u64 + 10) {
            sync.on_diff(diff(i * 10 + 1, i * 10 + 10, i * 10), &mut out);
        }
        assert_eq!(sync.buffered(), BUFFERED_DIFFS_MAX);
        assert_eq!(sync.counters.overflowed, 10);
        // A snapshot inside the dropped range is too old; a later one syncs.
        sync.on_snapshot(50, Vec::new(), Vec::new(), UnixNanos(1), &mut out);
        assert!(matches!(
            out.as_slice(),
            [SyncEvent::Resync {
                reason: ResyncReason::SnapshotTooOld,
                ..
            }]
        ));
        out.clear();
        sync.on_snapshot(205, Vec::new(), Vec::new(), UnixNanos(1), &mut out);
        assert!(matches!(
            out.as_slice()[0],
            SyncEvent::Snapshot { last: 205, .. }
        ));
        assert_eq!(out.len(), 1 + BUFFERED_DIFFS_MAX - 10);
    }

    #[test]
    fn reset_forgets_the_book() {
        let mut sync = DepthSync::new(InstrumentId(0));
        run(&mut sync, &[S(8), D(6, 9, 5)]);
        let mut out = Events::new();
        sync.reset(ResyncReason::Reset, &mut out);
        assert!(sync.needs_snapshot());
        assert_eq!(out.len(), 1);
        out.clear();
        sync.reset(ResyncReason::Reset, &mut out);
        assert!(out.is_empty(), "no second resync while already awaiting");
    }
}
