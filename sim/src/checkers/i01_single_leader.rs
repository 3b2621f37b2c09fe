//! Invariant 1: at most one instance is active (holds a valid lease by its own
//! reckoning).

use super::Checker;
use crate::world::World;

pub struct SingleLeader;

impl Checker for SingleLeader {
    fn name(&self) -> &'static str {
        "1 at most one active instance"
    }

    fn after_step(&mut self, w: &World) -> Result<(), String> {
        let active: Vec<String> = w
            .instances
            .iter()
            .filter_map(|i| {
                let e = i.engine.as_ref()?;
                let local =
                    propbot_engine::UnixNanos((w.now.0 as i64 + i.clock_offset_ns).max(0) as u64);
                e.fencing()
                    .is_leader(local)
                    .then(|| format!("#{} (epoch {})", i.id, e.fencing().epoch()))
            })
            .collect();
        if active.len() > 1 {
            return Err(format!(
                "{} instances consider themselves leader: {}",
                active.len(),
                active.join(", ")
            ));
        }
        Ok(())
    }
}
