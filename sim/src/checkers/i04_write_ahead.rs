//! Invariant 4, write-ahead: when an order leaves the process, its intent is in the
//! durable image of the journal, not just in a buffer.

use super::{Checker, IntentIndex, SendView};

#[derive(Default)]
pub struct WriteAhead {
    intents: IntentIndex,
}

impl Checker for WriteAhead {
    fn name(&self) -> &'static str {
        "4 write-ahead"
    }

    fn on_send(&mut self, v: &SendView<'_>) -> Result<(), String> {
        if !self
            .intents
            .durable(v.instance, v.disk, v.request.client_order_id)
        {
            return Err(format!(
                "#{} sent order {} before its intent was durable (durable through {})",
                v.instance,
                v.request.client_order_id,
                v.disk.last_sequence()
            ));
        }
        Ok(())
    }
}
