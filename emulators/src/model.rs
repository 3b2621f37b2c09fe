//! One instrument of one venue, driven by the seeded synthetic market
//! (`propbot_market::synth`): the model's book changes become the venue's
//! [`VenueBook`], its trades the venue's public trades.
//!
//! Each instrument has its own model, seeded from the emulator's seed and the
//! instrument id with the stream the simulator uses (`"market"`), so a Binance and an
//! OKX emulator started with the same seed and start time publish the two venues of one
//! coherent market, the same market the simulator's world of that seed trades on.

use crate::book::VenueBook;
use propbot_engine::Config;
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::model::{InstrumentId, Price, Qty, Side, Venue};
use propbot_engine::time::UnixNanos;
use propbot_market::rng::{Seeds, SimRng};
use propbot_market::synth::{MarketParams, SyntheticMarket};

/// What one model step did to the venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The other venue moved, or a change rounded away: nothing to publish.
    None,
    /// The book changed (its top may have).
    Book,
    /// A public trade, quantity in wire units (rounded up to the lot).
    Trade {
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
        /// Aggressor side.
        aggressor: Side,
    },
}

/// Where a model publishes: an instrument on a venue.
#[derive(Clone, Copy, Debug)]
pub struct Seat {
    /// The venue.
    pub venue: Venue,
    /// The instrument.
    pub instrument: InstrumentId,
    /// The venue's quantity step, base units.
    pub lot: Qty,
    /// The venue's update ids start above this.
    pub update_id_base: u64,
}

/// One instrument as one venue publishes it.
#[derive(Clone, Debug)]
pub struct InstrumentModel {
    venue: Venue,
    model: SyntheticMarket,
    /// Draws the update ids the venue uses but does not publish.
    hidden: SimRng,
    /// The venue's book.
    pub book: VenueBook,
}

impl InstrumentModel {
    /// The model of `seat` from `start`.
    pub fn new(
        config: &Config,
        params: &MarketParams,
        seed: u64,
        start: UnixNanos,
        seat: Seat,
    ) -> InstrumentModel {
        let Seat {
            venue,
            instrument,
            lot,
            update_id_base,
        } = seat;
        let seeds = Seeds::new(seed);
        let model = SyntheticMarket::new(
            config,
            instrument,
            params.clone(),
            seeds.stream("market", u64::from(instrument.0)),
            start,
        );
        let book = match model.snapshot(venue, start) {
            MarketUpdate::Snapshot {
                last, bids, asks, ..
            } => VenueBook::new(lot, update_id_base + last, &bids, &asks, start),
            // `snapshot` always returns a snapshot; an empty book is the safe reading.
            _ => VenueBook::new(lot, update_id_base, &[], &[], start),
        };
        InstrumentModel {
            venue,
            model,
            hidden: seeds.stream("emulator.hidden-ids", u64::from(instrument.0)),
            book,
        }
    }

    /// Market time of the next model step.
    pub fn peek_time(&self) -> UnixNanos {
        self.model.peek_time()
    }

    /// Takes one model step (either venue's) and applies it to this venue.
    pub fn step(&mut self) -> (UnixNanos, Change) {
        let (t, update) = self.model.advance();
        if update.venue() != self.venue {
            return (t, Change::None);
        }
        let change = match update {
            MarketUpdate::Delta {
                sequence,
                bids,
                asks,
                ..
            } => {
                let ids = sequence.last.saturating_sub(sequence.previous.unwrap_or(0));
                // One change in four hides a few ids the venue never publishes.
                let hidden = if self.hidden.below(4) == 0 {
                    self.hidden.range(1, 3)
                } else {
                    0
                };
                if self.book.apply(t, &bids, &asks, ids, hidden) {
                    Change::Book
                } else {
                    Change::None
                }
            }
            MarketUpdate::Trade {
                price,
                qty,
                aggressor,
                ..
            } => Change::Trade {
                price,
                qty: Qty::from_raw(self.book.to_lot(qty)),
                aggressor,
            },
            MarketUpdate::Snapshot { .. } => Change::None,
        };
        (t, change)
    }

    /// Draws from the hidden-id stream (trade id counts and the like).
    pub fn draw(&mut self, lo: u64, hi: u64) -> u64 {
        self.hidden.range(lo, hi)
    }
}

/// When a venue's market steps next: the earliest model change, or the end of the
/// current publication window (`flush`), whichever comes first. Both venues' markets
/// schedule this way.
pub fn next_time<'a>(
    models: impl Iterator<Item = &'a InstrumentModel>,
    flush: UnixNanos,
) -> UnixNanos {
    models
        .map(InstrumentModel::peek_time)
        .min()
        .unwrap_or(UnixNanos::NEVER)
        .min(flush)
}

/// The model due first, with its time, when it is due at or before `flush` (a change at
/// a window's end belongs to that window); `None`: the window closes first.
pub fn due_before<'a>(
    models: impl Iterator<Item = &'a InstrumentModel>,
    flush: UnixNanos,
) -> Option<(usize, UnixNanos)> {
    models
        .map(InstrumentModel::peek_time)
        .enumerate()
        .min_by_key(|&(_, t)| t)
        .filter(|&(_, t)| t <= flush)
}
