//! Invariant 12: no order is submitted in HOLD (reduce-only flatten orders excepted:
//! they can only shrink a position).

use super::{Checker, SendView};
use propbot_engine::output::Mode;

pub struct NoOrderInHold;

impl Checker for NoOrderInHold {
    fn name(&self) -> &'static str {
        "12 no order in HOLD"
    }

    fn on_send(&mut self, v: &SendView<'_>) -> Result<(), String> {
        if v.place && v.mode == Mode::Hold {
            return Err(format!(
                "#{} submitted {} while in HOLD",
                v.instance, v.request.client_order_id
            ));
        }
        if !v.place && !v.request.reduce_only {
            return Err(format!(
                "#{} sent a flatten order {} that is not reduce-only",
                v.instance, v.request.client_order_id
            ));
        }
        Ok(())
    }
}
