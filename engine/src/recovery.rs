//! Rebuilding engine state from the journal after a restart.
//!
//! A driver reads its durable journal in order and folds every record into a
//! [`RecoveredState`], then boots `Engine::new(config, recovered)`. The engine always
//! comes up in HOLD with safe mode on; what the journal restores is what must survive a
//! restart: positions (the sum of journaled fills), live orders (to reconcile by client
//! order id, never to re-send), the highest epoch and order sequence, tripped guards
//! and quarantines, venue maintenance notices, the day's PnL baseline, and the orders
//! sent in the last minute (so the runaway breaker's window continues).

use crate::config::{Config, MaintenanceWindow};
use crate::guards::{GuardId, WINDOWS_MAX};
use crate::ledger::{DailyPnl, FeeRates, Ledger};
use crate::model::{ClientOrderId, InstrumentId, MoneyOverflow, Venue};
use crate::orders::Order;
use crate::output::{JournalEvent, JournalRecord, Mode};
use crate::time::{NANOS_PER_MINUTE, UnixNanos};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Most recent order events kept for the runaway window.
pub const RECENT_ORDERS_MAX: usize = 20_000;

/// Why a journal cannot be recovered from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// A record's sequence does not follow the previous one.
    #[error("journal sequence gap: expected {expected}, found {found}")]
    SequenceGap {
        /// The sequence that should have come.
        expected: u64,
        /// The sequence found.
        found: u64,
    },
    /// A record's epoch is lower than an earlier one.
    #[error("journal epoch went backwards at sequence {sequence}: {epoch} after {highest}")]
    EpochBackwards {
        /// Record sequence.
        sequence: u64,
        /// Its epoch.
        epoch: u32,
        /// Highest epoch before it.
        highest: u32,
    },
    /// A fill names an instrument the config does not have.
    #[error("record {sequence} names instrument {instrument} which the config does not define")]
    UnknownInstrument {
        /// Record sequence.
        sequence: u64,
        /// Instrument index.
        instrument: u16,
    },
    /// A journaled fill does not fit the ledger (its position, fees or PnL would
    /// overflow). The live engine refuses such fills before journaling them, so the
    /// journal is corrupt or was written by something else.
    #[error("record {sequence}: the fill cannot be booked: {overflow}")]
    FillOverflow {
        /// Record sequence.
        sequence: u64,
        /// What did not fit.
        overflow: MoneyOverflow,
    },
}

/// What a restart restores.
#[derive(Clone, Debug)]
pub struct RecoveredState {
    /// Last journal sequence folded in (0 for an empty journal).
    pub through: u64,
    /// Highest leader epoch seen.
    pub highest_epoch: u32,
    /// Highest order sequence used in `highest_epoch`.
    pub last_order_sequence: u64,
    /// Positions and PnL from every journaled fill.
    pub ledger: Ledger,
    /// Orders that were not terminal, by id.
    pub live_orders: BTreeMap<ClientOrderId, Order>,
    /// Guards tripped and not cleared, with their reasons and end times.
    pub tripped: BTreeMap<(GuardId, Option<Venue>), (String, Option<UnixNanos>)>,
    /// Routes quarantined and not lifted by a resume.
    pub quarantined: BTreeSet<(Venue, InstrumentId)>,
    /// Venue maintenance notices.
    pub maintenance: Vec<MaintenanceWindow>,
    /// The day's PnL baseline, if one was journaled.
    pub daily: Option<DailyPnl>,
    /// Places and cancels of the last minute: (time, venue, instrument, is_cancel).
    pub recent_orders: VecDeque<(UnixNanos, Venue, InstrumentId, bool)>,
    /// Config version last applied.
    pub config_version: u64,
    /// Time of the last record.
    pub last_ts: UnixNanos,
    /// Fills folded in.
    pub fills: u64,
}

impl RecoveredState {
    /// Nothing recovered: a fresh journal.
    pub fn empty(config: &Config) -> RecoveredState {
        let scales = config.instruments.iter().map(|i| i.scales).collect();
        let fees = [
            FeeRates {
                maker: config.venues[0].maker_fee,
                taker: config.venues[0].taker_fee,
            },
            FeeRates {
                maker: config.venues[1].maker_fee,
                taker: config.venues[1].taker_fee,
            },
        ];
        RecoveredState {
            through: 0,
            highest_epoch: 0,
            last_order_sequence: 0,
            ledger: Ledger::new(
                scales,
                fees,
                config.day_start_minutes,
                config.limits.trade_ids_remembered_max as usize,
            ),
            live_orders: BTreeMap::new(),
            tripped: BTreeMap::new(),
            quarantined: BTreeSet::new(),
            maintenance: Vec::new(),
            daily: None,
            recent_orders: VecDeque::new(),
            config_version: 0,
            last_ts: UnixNanos::ZERO,
            fills: 0,
        }
    }

    /// Sets the engine's boot time (`Engine::new` starts at `last_ts`): drivers call this
    /// with their clock so the start-up HOLD is stamped now, not at the last record.
    pub fn boot_at(mut self, now: UnixNanos) -> RecoveredState {
        self.last_ts = self.last_ts.max(now);
        self
    }

    /// Folds a whole journal.
    pub fn from_records<'a>(
        config: &Config,
        records: impl IntoIterator<Item = &'a JournalRecord>,
    ) -> Result<RecoveredState, RecoveryError> {
        let mut state = RecoveredState::empty(config);
        for r in records {
            state.apply(r)?;
        }
        Ok(state)
    }

    /// Folds one record (records must come in sequence order).
    pub fn apply(&mut self, record: &JournalRecord) -> Result<(), RecoveryError> {
        if record.sequence != self.through + 1 {
            return Err(RecoveryError::SequenceGap {
                expected: self.through + 1,
                found: record.sequence,
            });
        }
        if record.epoch < self.highest_epoch {
            return Err(RecoveryError::EpochBackwards {
                sequence: record.sequence,
                epoch: record.epoch,
                highest: self.highest_epoch,
            });
        }
        self.through = record.sequence;
        self.last_ts = self.last_ts.max(record.ts);
        if record.epoch > self.highest_epoch {
            self.highest_epoch = record.epoch;
            self.last_order_sequence = 0;
        }
        match &record.event {
            JournalEvent::OrderIntent(_)
            | JournalEvent::OrderUpdate { .. }
            | JournalEvent::CancelRequested { .. }
            | JournalEvent::Fill { .. } => self.fold_order_event(record),
            _ => {
                self.fold_state_event(record);
                Ok(())
            }
        }
    }

    /// Orders and fills: live orders by client id, positions from fills.
    fn fold_order_event(&mut self, record: &JournalRecord) -> Result<(), RecoveryError> {
        let check_instrument = |i: InstrumentId, instruments: usize| {
            if i.index() >= instruments {
                Err(RecoveryError::UnknownInstrument {
                    sequence: record.sequence,
                    instrument: i.0,
                })
            } else {
                Ok(())
            }
        };
        match &record.event {
            JournalEvent::OrderIntent(req) => {
                check_instrument(req.instrument, self.ledger.instrument_count())?;
                if req.client_order_id.epoch == self.highest_epoch {
                    self.last_order_sequence =
                        self.last_order_sequence.max(req.client_order_id.sequence);
                }
                self.live_orders
                    .insert(req.client_order_id, Order::sent(*req, record.ts, req.price));
                self.remember_order(record.ts, req.venue, req.instrument, false);
            }
            JournalEvent::OrderUpdate {
                client_order_id,
                state,
                venue_order_id,
                filled,
            } => {
                if state.is_terminal() {
                    self.live_orders.remove(client_order_id);
                } else if let Some(o) = self.live_orders.get_mut(client_order_id) {
                    o.restore_update(record.ts, *state, *venue_order_id, *filled);
                }
            }
            JournalEvent::CancelRequested { client_order_id } => {
                if let Some(o) = self.live_orders.get(client_order_id) {
                    let (venue, instrument) = (o.request.venue, o.request.instrument);
                    self.remember_order(record.ts, venue, instrument, true);
                }
            }
            JournalEvent::Fill {
                client_order_id,
                fill,
                fee,
            } => {
                check_instrument(fill.instrument, self.ledger.instrument_count())?;
                let mut booked = *fill;
                booked.fee = Some(*fee);
                self.ledger
                    .book(&booked)
                    .map_err(|overflow| RecoveryError::FillOverflow {
                        sequence: record.sequence,
                        overflow,
                    })?;
                self.fills += 1;
                if let Some(o) = client_order_id.and_then(|id| self.live_orders.get_mut(&id)) {
                    // An overfill was flagged when it happened; recovery only restores it.
                    let _overfill = o.add_fill(fill.qty);
                }
            }
            _ => unreachable!("apply passes order events only"),
        }
        Ok(())
    }

    /// Everything else a restart keeps: epochs, tripped guards, quarantines,
    /// maintenance notices, the config version and the day's PnL baseline.
    fn fold_state_event(&mut self, record: &JournalRecord) {
        match &record.event {
            JournalEvent::LeaseAcquired { epoch } => {
                if *epoch > self.highest_epoch {
                    self.highest_epoch = *epoch;
                    self.last_order_sequence = 0;
                }
            }
            JournalEvent::GuardTripped {
                guard,
                venue,
                reason,
                until,
            } => {
                self.tripped
                    .insert((*guard, *venue), (reason.clone(), *until));
            }
            JournalEvent::GuardCleared { guard, venue } => {
                self.tripped.remove(&(*guard, *venue));
            }
            JournalEvent::Quarantined { venue, instrument } => {
                self.quarantined.insert((*venue, *instrument));
            }
            JournalEvent::Control { to: Mode::Run, .. } => {
                // A resume lifts quarantines (the two-man rule was satisfied).
                self.quarantined.clear();
            }
            JournalEvent::MaintenanceNotice(w) => {
                self.maintenance.retain(|m| m.end > record.ts);
                if self.maintenance.len() < WINDOWS_MAX && !self.maintenance.contains(w) {
                    self.maintenance.push(w.clone());
                }
            }
            JournalEvent::ConfigApplied { version, .. } => self.config_version = *version,
            JournalEvent::DayStarted { day, start_net } => {
                self.daily = Some(DailyPnl {
                    day: *day,
                    start_net: *start_net,
                    ..DailyPnl::default()
                });
            }
            // Order events are `fold_order_event`'s; the rest restore nothing.
            JournalEvent::OrderIntent(_)
            | JournalEvent::OrderUpdate { .. }
            | JournalEvent::CancelRequested { .. }
            | JournalEvent::Fill { .. }
            | JournalEvent::Started { .. }
            | JournalEvent::Control { .. }
            | JournalEvent::Approval { .. }
            | JournalEvent::ControlPatched { .. }
            | JournalEvent::Reconciled { .. } => {}
        }
    }

    fn remember_order(
        &mut self,
        ts: UnixNanos,
        venue: Venue,
        instrument: InstrumentId,
        cancel: bool,
    ) {
        while self
            .recent_orders
            .front()
            .is_some_and(|(t, ..)| ts.nanos_since(*t) >= NANOS_PER_MINUTE)
            || self.recent_orders.len() >= RECENT_ORDERS_MAX
        {
            self.recent_orders.pop_front();
        }
        self.recent_orders
            .push_back((ts, venue, instrument, cancel));
    }
}
