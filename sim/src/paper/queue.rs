//! The latency queue: what is in flight between the venues and their clients, ordered
//! by `(due time, sequence)` and bounded.

use propbot_engine::time::UnixNanos;
use std::collections::BTreeMap;

/// Items in flight at most. When the queue is full a new item skips its latency: it is
/// due at once, so nothing is lost and the next steps drain the queue; the overflow is
/// counted ([`LatencyQueue::overflows`]). A world that ever reaches the limit is
/// modelling a network far slower than any scenario asks for.
pub const IN_FLIGHT_MAX: usize = 65_536;

/// A bounded queue of items due at given times; ties keep the order of scheduling.
#[derive(Clone, Debug)]
pub struct LatencyQueue<T> {
    items: BTreeMap<(UnixNanos, u64), T>,
    next_sequence: u64,
    overflows: u64,
}

impl<T> Default for LatencyQueue<T> {
    fn default() -> Self {
        LatencyQueue {
            items: BTreeMap::new(),
            next_sequence: 0,
            overflows: 0,
        }
    }
}

impl<T> LatencyQueue<T> {
    /// The next tie-break number (also handed to drivers that keep a schedule of their
    /// own, so that one order holds across both).
    pub fn next_sequence(&mut self) -> u64 {
        self.next_sequence += 1;
        self.next_sequence
    }

    /// Schedules `item` at `at` (never before `now`; at `now` when the queue is full).
    pub fn push(&mut self, now: UnixNanos, at: UnixNanos, item: T) {
        let at = if self.items.len() >= IN_FLIGHT_MAX {
            self.overflows += 1;
            now
        } else {
            at.max(now)
        };
        let sequence = self.next_sequence();
        self.items.insert((at, sequence), item);
    }

    /// The key of the earliest item.
    pub fn peek(&self) -> Option<(UnixNanos, u64)> {
        self.items.first_key_value().map(|(k, _)| *k)
    }

    /// The earliest item if it is due at or before `now`.
    pub fn pop_due(&mut self, now: UnixNanos) -> Option<((UnixNanos, u64), T)> {
        if self.peek()?.0 > now {
            return None;
        }
        self.items.pop_first()
    }

    /// Keeps only the items `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.items.retain(|_, item| keep(item));
    }

    /// Items in flight.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items that skipped their latency because the queue was full.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Every item in flight, in due order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_leave_in_time_then_scheduling_order() {
        let mut q = LatencyQueue::default();
        let now = UnixNanos(100);
        q.push(now, UnixNanos(300), "c");
        q.push(now, UnixNanos(200), "a");
        q.push(now, UnixNanos(200), "b");
        q.push(now, UnixNanos(50), "now");
        assert_eq!(q.pop_due(now).map(|(_, x)| x), Some("now"));
        assert_eq!(q.pop_due(now), None);
        let order: Vec<_> =
            std::iter::from_fn(|| q.pop_due(UnixNanos(1_000)).map(|(_, x)| x)).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn a_full_queue_makes_new_items_due_at_once() {
        let mut q = LatencyQueue::default();
        let now = UnixNanos(10);
        for _ in 0..IN_FLIGHT_MAX {
            q.push(now, UnixNanos(1_000_000), 0u8);
        }
        q.push(now, UnixNanos(1_000_000), 1u8);
        assert_eq!(q.overflows(), 1);
        assert_eq!(q.pop_due(now).map(|(k, x)| (k.0, x)), Some((now, 1)));
    }
}
