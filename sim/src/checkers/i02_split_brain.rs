//! Invariant 2, split-brain = 0: no venue accepts an order of epoch e after it
//! accepted an order of a newer epoch.

use super::{AcceptView, Checker};
use propbot_engine::model::Venue;

#[derive(Default)]
pub struct SplitBrain {
    highest: [u32; Venue::COUNT],
}

impl Checker for SplitBrain {
    fn name(&self) -> &'static str {
        "2 split-brain = 0"
    }

    fn on_accept(&mut self, v: &AcceptView<'_>) -> Result<(), String> {
        let epoch = v.acceptance.client_order_id.epoch;
        let highest = &mut self.highest[v.venue.index()];
        if epoch < *highest {
            return Err(format!(
                "{} accepted order {} of epoch {epoch} from #{} after accepting epoch {}",
                v.venue, v.acceptance.client_order_id, v.acceptance.owner.0, highest
            ));
        }
        *highest = epoch;
        Ok(())
    }
}
