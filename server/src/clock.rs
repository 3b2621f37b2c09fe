//! The wall clock, read by drivers once per loop turn and never by the engine.

use propbot_engine::UnixNanos;
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
pub fn wall_clock() -> UnixNanos {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the system clock is after 1970");
    UnixNanos(d.as_nanos() as u64)
}

/// A clock that never goes backwards (the engine asserts monotonic time; the system
/// clock may step back under NTP).
#[derive(Debug, Default)]
pub struct MonotonicClock {
    last: UnixNanos,
}

impl MonotonicClock {
    /// A clock that will not read earlier than `floor`.
    pub fn starting_at(floor: UnixNanos) -> MonotonicClock {
        MonotonicClock { last: floor }
    }

    /// The wall clock, or the last reading if the wall clock went back.
    pub fn now(&mut self) -> UnixNanos {
        self.last = self.last.max(wall_clock());
        self.last
    }
}
