//! Unwinds finish: after a hedge timeout or any unwind decision, the net position of the
//! instrument returns below dust within [`unwind_deadline_ns`] of the time the engine
//! could act (instance up and leading, venues reachable, books valid, no outcome
//! unknown). Time it could not act is excused, but past the deadline the engine must
//! have escalated (Critical alert, System Status ERROR) rather than wait silently.
//!
//! Found missing by at-p0-runaway seed 3109: the engine announced "unwinding" and sent
//! nothing for 110 s while every other invariant held.

use super::Checker;
use crate::world::World;
use propbot_engine::config::Config;
use propbot_engine::engine::{TICK_NS, unwind_deadline_ns};
use propbot_engine::model::{InstrumentId, OrderState};
use propbot_engine::strategy::PairState;
use propbot_engine::time::{NANOS_PER_MILLI, UnixNanos};
use propbot_engine::{Engine, model::Venue};
use std::collections::BTreeMap;

pub struct UnwindBound {
    deadline_ns: u64,
    tracks: BTreeMap<(u8, u64, InstrumentId), Track>,
}

#[derive(Clone, Copy, Debug)]
struct Track {
    last: UnixNanos,
    unexcused_ns: u64,
}

/// What the checker sees of one pair of one instance at one step.
pub(crate) struct Observation<'a> {
    pub instance: u8,
    pub generation: u64,
    /// True time.
    pub now: UnixNanos,
    /// The latest time the engine has handled (its own clock).
    pub engine_now: UnixNanos,
    pub pair: &'a PairState,
    /// Why the engine cannot act right now, if it cannot.
    pub excuse: Option<&'static str>,
}

impl UnwindBound {
    pub fn new(config: &Config) -> UnwindBound {
        UnwindBound {
            deadline_ns: unwind_deadline_ns(config),
            tracks: BTreeMap::new(),
        }
    }

    /// Checks one observation; the core of the checker, apart from the world.
    pub(crate) fn observe(&mut self, o: &Observation<'_>) -> Result<(), String> {
        let key = (o.instance, o.generation, o.pair.spec.instrument);
        let Some(u) = o.pair.unwind else {
            self.tracks.remove(&key);
            return Ok(());
        };
        if o.pair.naked_qty.raw().abs() < o.pair.spec.dust().raw() {
            return Ok(());
        }
        let t = self.tracks.entry(key).or_insert(Track {
            last: o.now,
            unexcused_ns: 0,
        });
        if o.excuse.is_none() {
            t.unexcused_ns += o.now.nanos_since(t.last);
        }
        t.last = o.now;
        let ms = |ns: u64| ns / NANOS_PER_MILLI;
        if t.unexcused_ns >= self.deadline_ns {
            return Err(format!(
                "#{} instrument {}: net {} stayed naked {} ms while it could be unwound \
                 (deadline {} ms); the engine: {:?}",
                o.instance,
                o.pair.spec.instrument.0,
                o.pair.naked_qty.raw(),
                ms(t.unexcused_ns),
                ms(self.deadline_ns),
                u
            ));
        }
        // The engine escalates on its own clock, on a housekeeping tick: judged by the
        // time it has handled, a paused or just-woken engine is not late.
        let overdue = o.engine_now.nanos_since(u.since) >= self.deadline_ns + 2 * TICK_NS;
        if overdue && !u.escalated {
            return Err(format!(
                "#{} instrument {}: unwind past its {} ms deadline not escalated \
                 (waiting silently); the engine: {:?}",
                o.instance,
                o.pair.spec.instrument.0,
                ms(self.deadline_ns),
                u
            ));
        }
        Ok(())
    }
}

impl Checker for UnwindBound {
    fn name(&self) -> &'static str {
        "unwind within its deadline"
    }

    fn after_step(&mut self, w: &World) -> Result<(), String> {
        for inst in &w.instances {
            let Some(e) = inst.engine.as_ref() else {
                continue;
            };
            for pair in e.pairs() {
                if pair.unwind.is_none() && self.tracks.is_empty() {
                    continue;
                }
                let o = Observation {
                    instance: inst.id,
                    generation: inst.generation,
                    now: w.now,
                    engine_now: e.now(),
                    pair,
                    excuse: excuse(w, inst.id, e, pair),
                };
                self.observe(&o)?;
            }
        }
        Ok(())
    }
}

/// Why the engine cannot unwind right now, by the world's truth or the engine's own
/// guards; `None` when it could.
fn excuse(w: &World, i: u8, e: &Engine, pair: &PairState) -> Option<&'static str> {
    if w.is_paused(i) {
        return Some("paused");
    }
    if !e.fencing().may_place(e.now()) {
        return Some("not leading");
    }
    let instrument = pair.spec.instrument;
    for venue in pair.spec.venues {
        if let Some(why) = venue_excuse(w, i, e, venue, instrument) {
            return Some(why);
        }
    }
    let unknown = pair.repair.is_some_and(|id| {
        e.orders()
            .any(|o| o.request.client_order_id == id && o.state == OrderState::Unknown)
    });
    unknown.then_some("unwind order of unknown outcome")
}

fn venue_excuse(
    w: &World,
    i: u8,
    e: &Engine,
    venue: Venue,
    instrument: InstrumentId,
) -> Option<&'static str> {
    if w.venue_unreachable(i, venue) {
        Some("venue unreachable")
    } else if !e.venue_connected(venue) || !e.reconciliation()[venue.index()].done {
        Some("venue not connected or reconciled")
    } else if !e.book(venue, instrument).is_valid() {
        Some("book invalid")
    } else if e.places_held_back(e.now(), venue) {
        Some("rate limited")
    } else if e.venue_in_maintenance(venue) {
        Some("maintenance")
    } else if e.route_quarantined(venue, instrument) {
        Some("route quarantined")
    } else {
        None
    }
}
