//! Invariant 9: engine position = sum of journaled fills = venue position after
//! reconciliation; order rates and the kill switch hold at every instant. (Positions
//! equal the sum of fills inside the ledger by assertion; this checker compares with
//! the venues at the end, after the final reconciliation, and watches per-route order
//! rates at the venue against the runaway limit.)

use super::{AcceptView, Checker};
use crate::world::World;
use propbot_engine::config::Config;
use propbot_engine::metrics::RollingCounter;
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::output::OrderPurpose;
use propbot_engine::time::NANOS_PER_MINUTE;
use std::collections::BTreeMap;

pub struct PositionsAndRates {
    limit: u32,
    routes: BTreeMap<(Venue, InstrumentId), RollingCounter>,
}

impl PositionsAndRates {
    pub fn new(config: &Config) -> PositionsAndRates {
        PositionsAndRates {
            limit: config.guards.runaway_place_per_min,
            routes: BTreeMap::new(),
        }
    }
}

impl Checker for PositionsAndRates {
    fn name(&self) -> &'static str {
        "9 positions and rates"
    }

    fn on_accept(&mut self, v: &AcceptView<'_>) -> Result<(), String> {
        let r = &v.acceptance.request;
        if matches!(r.purpose, OrderPurpose::Flatten | OrderPurpose::Unwind) {
            return Ok(());
        }
        let limit = self.limit;
        let counter = self
            .routes
            .entry((v.venue, r.instrument))
            .or_insert_with(|| RollingCounter::new(NANOS_PER_MINUTE, limit));
        if !counter.try_record(v.now) {
            return Err(format!(
                "{} accepted more than {limit} orders in a minute on one route",
                v.venue
            ));
        }
        Ok(())
    }

    fn at_end(&mut self, w: &World) -> Result<(), String> {
        let Some(leader) = w.leader() else {
            return Ok(());
        };
        let e = w.instances[leader as usize]
            .engine
            .as_ref()
            .expect("leader is up");
        let recon: u32 = e.reconciliation().iter().map(|r| r.mismatches).sum();
        for v in &w.venues {
            for i in 0..w.config.instruments.len() {
                let instrument = InstrumentId(i as u16);
                let mine = e.ledger().position(v.venue(), instrument).qty;
                let theirs = v.position(instrument);
                if mine != theirs {
                    return Err(format!(
                        "leader #{leader}: {} position {} ≠ venue {} (recon mismatches {recon})",
                        v.venue(),
                        mine.raw(),
                        theirs.raw()
                    ));
                }
            }
        }
        Ok(())
    }
}
