//! Invariant 7, HOLD on start: from start until reconciliation and leadership are done,
//! zero order submissions (cancels and queries are allowed); a reconciliation mismatch
//! keeps HOLD.

use super::{Checker, SendView};
use crate::world::World;
use propbot_engine::output::Mode;

pub struct HoldOnStart;

impl Checker for HoldOnStart {
    fn name(&self) -> &'static str {
        "7 HOLD on start"
    }

    fn on_send(&mut self, v: &SendView<'_>) -> Result<(), String> {
        let recon = v.engine.reconciliation()[v.request.venue.index()];
        if !recon.done {
            return Err(format!(
                "#{} sent {} to {} before reconciling with it",
                v.instance, v.request.client_order_id, v.request.venue
            ));
        }
        Ok(())
    }

    fn after_step(&mut self, w: &World) -> Result<(), String> {
        for inst in &w.instances {
            let Some(e) = &inst.engine else { continue };
            let mismatch: u32 = e.reconciliation().iter().map(|r| r.mismatches).sum();
            if mismatch > 0 && e.control().mode == Mode::Run {
                return Err(format!(
                    "#{} is in RUN with {mismatch} reconciliation mismatch(es)",
                    inst.id
                ));
            }
        }
        Ok(())
    }
}
