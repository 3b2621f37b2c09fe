//! Invariant 5, RPO = 0: after a crash the recovered journal is a prefix of what was
//! written and holds everything acknowledged (synced); after reconciliation the
//! journal's fills equal the venue's fills (none lost, no duplicate trade id) — that
//! half is checked by the world right after the final reconciliation
//! (`World::check_final_recon`), when the venue's view is known exactly.

use super::Checker;
use crate::disk::SimDisk;
use crate::world::World;

#[derive(Default)]
pub struct Rpo {
    synced: Vec<u64>,
}

impl Checker for Rpo {
    fn name(&self) -> &'static str {
        "5 RPO = 0"
    }

    fn after_step(&mut self, w: &World) -> Result<(), String> {
        self.synced.resize(w.instances.len(), 0);
        for i in &w.instances {
            self.synced[i.id as usize] = i.disk.synced_through;
        }
        Ok(())
    }

    fn on_recover(&mut self, instance: u8, through: u64, disk: &SimDisk) -> Result<(), String> {
        let acknowledged = self.synced.get(instance as usize).copied().unwrap_or(0);
        if through < acknowledged {
            return Err(format!(
                "#{instance} recovered through {through} but {acknowledged} records were synced"
            ));
        }
        if disk.last_sequence() != through {
            return Err(format!(
                "#{instance}: recovered {through} records, disk holds {}",
                disk.last_sequence()
            ));
        }
        Ok(())
    }
}
