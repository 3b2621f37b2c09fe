//! Invariant 11: while an instance is active with resting orders, a dead-man switch is
//! armed and refreshed faster than it expires.

use super::Checker;
use crate::world::World;
use propbot_engine::model::TimeInForce;
use propbot_engine::time::NANOS_PER_MILLI;

#[derive(Default)]
pub struct Deadman;

impl Checker for Deadman {
    fn name(&self) -> &'static str {
        "11 dead-man armed while orders rest"
    }

    fn after_step(&mut self, w: &World) -> Result<(), String> {
        let Some(leader) = w.leader() else {
            return Ok(());
        };
        // An order and the arm request leave together; allow both to arrive.
        let grace = 3 * w.scenario.world.latency_ms.1 * NANOS_PER_MILLI + 1;
        for v in w.venues() {
            let resting = v.open_orders().filter(|o| {
                o.owner.0 == leader
                    && o.request.time_in_force != TimeInForce::Ioc
                    && w.venues().iter().any(|_| true)
                    && v.accepted.iter().any(|a| {
                        a.client_order_id == o.request.client_order_id
                            && w.now.nanos_since(a.at) > grace
                    })
            });
            if resting.count() > 0 && v.deadman_until().is_none_or(|t| t <= w.now) {
                return Err(format!(
                    "leader #{leader} has resting orders on {} with no armed dead-man switch",
                    v.venue()
                ));
            }
        }
        Ok(())
    }
}
