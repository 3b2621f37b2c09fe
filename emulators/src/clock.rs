//! The emulated venue clock: wall time × speed from a start instant, which a test can
//! pause (the market freezes, server time included) and resume.
//!
//! The market model is a stream of timestamped updates; the clock says when, in wall
//! time, an update at market time `t` is due. At speed 10, ten seconds of market pass
//! in one second of wall time. What the emulator publishes depends only on market time
//! (the seed decides it); only when it is published depends on the wall.

use propbot_engine::time::UnixNanos;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Market speed: emulated seconds per wall second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Speed(f64);

/// The slowest and fastest speeds accepted.
pub const SPEED_RANGE: (f64, f64) = (0.01, 1_000.0);

impl Speed {
    /// Real time.
    pub const REAL_TIME: Speed = Speed(1.0);

    /// A speed inside [`SPEED_RANGE`], or `None`.
    pub fn new(factor: f64) -> Option<Speed> {
        (factor.is_finite() && (SPEED_RANGE.0..=SPEED_RANGE.1).contains(&factor))
            .then_some(Speed(factor))
    }

    /// The factor.
    pub fn factor(self) -> f64 {
        self.0
    }
}

#[derive(Clone, Copy, Debug)]
struct State {
    /// Wall instant at which the emulated clock read `anchor`.
    anchor_wall: Instant,
    anchor: UnixNanos,
    speed: f64,
    paused: bool,
}

impl State {
    fn now(&self) -> UnixNanos {
        if self.paused {
            return self.anchor;
        }
        let elapsed = self.anchor_wall.elapsed().as_nanos() as f64 * self.speed;
        self.anchor.plus_nanos(elapsed as u64)
    }

    fn wall_at(&self, t: UnixNanos) -> Instant {
        let ahead = t.0.saturating_sub(self.anchor.0) as f64 / self.speed;
        self.anchor_wall + Duration::from_nanos(ahead as u64)
    }
}

/// The emulated clock, shared by the market task and the request handlers.
#[derive(Debug)]
pub struct Clock {
    state: watch::Sender<State>,
}

impl Clock {
    /// A clock that reads `start` now, running or `paused`.
    pub fn new(start: UnixNanos, speed: Speed, paused: bool) -> Clock {
        let state = State {
            anchor_wall: Instant::now(),
            anchor: start,
            speed: speed.0,
            paused,
        };
        Clock {
            state: watch::Sender::new(state),
        }
    }

    /// Emulated time now (without any fault offset).
    pub fn now(&self) -> UnixNanos {
        self.state.borrow().now()
    }

    /// Freezes the clock: no market update is due until [`Clock::resume`].
    pub fn pause(&self) {
        self.state.send_modify(|s| {
            if !s.paused {
                s.anchor = s.now();
                s.paused = true;
            }
        });
    }

    /// Restarts a paused clock from where it stopped.
    pub fn resume(&self) {
        self.state.send_modify(|s| {
            if s.paused {
                s.anchor_wall = Instant::now();
                s.paused = false;
            }
        });
    }

    /// Whether the clock is paused.
    pub fn is_paused(&self) -> bool {
        self.state.borrow().paused
    }

    /// Waits until the clock reads at least `t`. Returns `false` when `shutdown` fires
    /// (or its sender is gone) first.
    pub async fn wait_until(&self, t: UnixNanos, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut changes = self.state.subscribe();
        loop {
            if *shutdown.borrow() {
                return false;
            }
            let state = *changes.borrow_and_update();
            let due = (!state.paused).then(|| state.wall_at(t));
            if due.is_some_and(|d| d <= Instant::now()) {
                return true;
            }
            let sleep = async {
                match due {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => return true,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_outside_the_range_are_refused() {
        assert!(Speed::new(0.0).is_none());
        assert!(Speed::new(f64::NAN).is_none());
        assert!(Speed::new(1e9).is_none());
        assert_eq!(Speed::new(10.0).map(Speed::factor), Some(10.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_stands_still_and_resumes_where_it_stopped() {
        let clock = Clock::new(UnixNanos::from_secs(100), Speed::new(10.0).unwrap(), false);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(clock.now(), UnixNanos::from_secs(101));
        clock.pause();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(clock.now(), UnixNanos::from_secs(101));
        clock.resume();
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(clock.now(), UnixNanos::from_secs(103));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_market_time_at_speed() {
        let clock = Clock::new(UnixNanos::from_secs(100), Speed::new(10.0).unwrap(), false);
        let (_tx, mut shutdown) = watch::channel(false);
        let begun = Instant::now();
        assert!(
            clock
                .wait_until(UnixNanos::from_secs(110), &mut shutdown)
                .await
        );
        assert_eq!(begun.elapsed(), Duration::from_secs(1));
    }
}
