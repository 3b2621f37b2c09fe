//! Liveness, checked after faults heal: within a bounded time exactly one instance is
//! active, every unknown order is resolved, books are resynced and positions agree
//! (positions: invariant 9).

use super::Checker;
use crate::world::World;

pub struct Liveness;

impl Checker for Liveness {
    fn name(&self) -> &'static str {
        "liveness after healing"
    }

    fn at_end(&mut self, w: &World) -> Result<(), String> {
        let Some(leader) = w.leader() else {
            return Err("no instance is active after the faults healed".into());
        };
        let unknown = w.unknown_orders();
        if unknown > 0 {
            return Err(format!(
                "{unknown} order(s) still of unknown outcome after healing"
            ));
        }
        let e = w.instances[leader as usize]
            .engine
            .as_ref()
            .expect("leader is up");
        for venue in &e.config().strategy.venues {
            for instrument in &e.config().strategy.instruments {
                if !e.book(*venue, *instrument).is_valid() {
                    return Err(format!(
                        "leader #{leader}: {venue} book not resynced after healing"
                    ));
                }
            }
        }
        Ok(())
    }
}
