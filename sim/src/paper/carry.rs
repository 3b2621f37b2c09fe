//! The paper account a service run carries over from earlier runs.

use propbot_engine::gateway::Response;
use propbot_engine::input::{ExecutionKind, ReconSnapshot};
use propbot_engine::model::{Qty, TradeId, Venue};

/// What a paper account carries over from earlier runs of the service, whose simulated
/// venues start empty at every start while its journal remembers.
#[derive(Clone, Debug, Default)]
pub struct CarryOver {
    /// Positions the journal held at start, per venue and instrument: added to the
    /// positions of every reconciliation snapshot.
    pub positions: [Vec<Qty>; Venue::COUNT],
    /// The run's lease epoch: venue trade ids are prefixed with it, so that a fresh
    /// venue's ids never collide with ids booked in an earlier run.
    pub epoch: u32,
}

impl CarryOver {
    pub(super) fn trade_id(&self, id: TradeId) -> TradeId {
        TradeId((u64::from(self.epoch) << 40) | id.0)
    }

    pub(super) fn snapshot(&self, snap: &mut ReconSnapshot) {
        for (instrument, qty) in &mut snap.positions {
            let base = self.positions[snap.venue.index()]
                .get(instrument.index())
                .copied()
                .unwrap_or(Qty::ZERO);
            *qty = Qty::from_raw(qty.raw() + base.raw());
        }
        for f in &mut snap.fills {
            f.trade_id = self.trade_id(f.trade_id);
        }
    }

    pub(super) fn response(&self, response: &mut Response) {
        match response {
            Response::Execution(report) => {
                if let ExecutionKind::Fill { trade_id, .. } = &mut report.kind {
                    *trade_id = self.trade_id(*trade_id);
                }
            }
            Response::Reconciliation(snap) => self.snapshot(snap),
            Response::Venue(_) | Response::Market(_) => {}
        }
    }
}
