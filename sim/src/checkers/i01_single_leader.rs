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
                e.fencing()
                    .is_leader(i.reckoning(w.now))
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
