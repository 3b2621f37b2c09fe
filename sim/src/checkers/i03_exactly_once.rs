//! Invariant 3, exactly-once: each client order id is accepted at most once, and no
//! venue order exists without a durable journal intent.

use super::{AcceptView, Checker, IntentIndex};
use propbot_engine::model::{ClientOrderId, Venue};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct ExactlyOnce {
    accepted: [BTreeSet<ClientOrderId>; Venue::COUNT],
    intents: IntentIndex,
}

impl Checker for ExactlyOnce {
    fn name(&self) -> &'static str {
        "3 exactly-once"
    }

    fn on_accept(&mut self, v: &AcceptView<'_>) -> Result<(), String> {
        let id = v.acceptance.client_order_id;
        if !self.accepted[v.venue.index()].insert(id) {
            return Err(format!("{} accepted client order id {id} twice", v.venue));
        }
        if !self.intents.durable(v.acceptance.owner.0, v.owner_disk, id) {
            return Err(format!(
                "{} holds order {id} with no durable journal intent on #{}",
                v.venue, v.acceptance.owner.0
            ));
        }
        Ok(())
    }
}
