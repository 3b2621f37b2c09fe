//! Invariant 8: an order of unknown outcome is never re-sent (until the venue says it is
//! absent and its expiry has passed — and PropBot never re-sends an id at all: a new
//! decision gets a new client order id).

use super::{Checker, SendView};

pub struct NotResent;

impl Checker for NotResent {
    fn name(&self) -> &'static str {
        "8 unknown orders are never re-sent"
    }

    fn on_send(&mut self, v: &SendView<'_>) -> Result<(), String> {
        if v.sent_before {
            return Err(format!(
                "#{} sent client order id {} a second time",
                v.instance, v.request.client_order_id
            ));
        }
        Ok(())
    }
}
