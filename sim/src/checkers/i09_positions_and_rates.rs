//! Invariant 9: engine position = sum of journaled fills = venue position after
//! reconciliation; order rates and the kill switch hold at every instant. Positions
//! equal the sum of fills inside the ledger by assertion; the world compares them with
//! the venues right after the final reconciliation (`World::check_final_recon`); this
//! checker watches per-route order rates at the venue against the runaway limit (the
//! kill switch is HOLD, checked by invariant 12).

use super::{AcceptView, Checker};
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
}
