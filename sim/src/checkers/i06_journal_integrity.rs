//! Invariant 6, journal integrity: contiguous sequence, valid hash chain, non-decreasing
//! epochs. Checked incrementally as records become durable.

use super::Checker;
use crate::disk::chain;
use crate::world::World;

#[derive(Default)]
pub struct JournalIntegrity {
    /// Per instance: records verified, last hash, last epoch.
    state: Vec<(usize, [u8; 32], u32)>,
}

impl Checker for JournalIntegrity {
    fn name(&self) -> &'static str {
        "6 journal integrity"
    }

    fn after_step(&mut self, w: &World) -> Result<(), String> {
        self.state.resize(w.instances.len(), (0, [0; 32], 0));
        for inst in &w.instances {
            let durable = inst.disk.durable();
            let st = &mut self.state[inst.id as usize];
            if durable.len() < st.0 {
                *st = (0, [0; 32], 0);
            }
            for (k, s) in durable.iter().enumerate().skip(st.0) {
                if s.torn {
                    // A torn tail exists only between a crash and the recovery that
                    // truncates it; it must never be followed by a good record.
                    if k + 1 != durable.len() {
                        return Err(format!(
                            "#{}: torn record at position {k} followed by more records",
                            inst.id
                        ));
                    }
                    continue;
                }
                if s.record.sequence != k as u64 + 1 {
                    return Err(format!(
                        "#{}: sequence {} at position {k}",
                        inst.id, s.record.sequence
                    ));
                }
                if chain(&st.1, &s.record) != s.hash {
                    return Err(format!(
                        "#{}: hash chain broken at sequence {}",
                        inst.id, s.record.sequence
                    ));
                }
                if s.record.epoch < st.2 {
                    return Err(format!(
                        "#{}: epoch went back to {} at sequence {}",
                        inst.id, s.record.epoch, s.record.sequence
                    ));
                }
                st.1 = s.hash;
                st.2 = s.record.epoch;
                st.0 = k + 1;
            }
        }
        Ok(())
    }
}
