//! Invariant 10: a book is contiguous or marked invalid; no decision reads an invalid or
//! crossed book.

use super::{Checker, SendView};
use propbot_engine::output::OrderPurpose;

pub struct ValidBooks;

impl Checker for ValidBooks {
    fn name(&self) -> &'static str {
        "10 no decision on an invalid book"
    }

    fn on_send(&mut self, v: &SendView<'_>) -> Result<(), String> {
        if !matches!(
            v.request.purpose,
            OrderPurpose::Entry | OrderPurpose::Exit | OrderPurpose::Maker
        ) {
            return Ok(());
        }
        let venues = &v.engine.config().strategy.venues;
        for venue in venues {
            let book = v.engine.book(*venue, v.request.instrument);
            if !book.is_valid() {
                return Err(format!(
                    "#{} decided order {} while the {venue} book was invalid ({:?})",
                    v.instance,
                    v.request.client_order_id,
                    book.invalid_reason()
                ));
            }
            let top = book.top();
            if top.is_two_sided() && top.bid >= top.ask {
                return Err(format!("#{} decided on a crossed {venue} book", v.instance));
            }
        }
        Ok(())
    }
}
