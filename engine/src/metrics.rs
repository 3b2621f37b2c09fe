//! Allocation-free measurement primitives: a log-linear histogram, a two-window
//! rolling histogram for p95s "over the last few minutes", and a bounded rolling
//! event counter for per-minute limits.

use crate::time::UnixNanos;
use std::collections::VecDeque;

/// Sub-buckets per power of two: values are kept to within 1/8 (12.5 %).
const SUB_BUCKETS: usize = 8;
const SUB_BITS: u32 = 3;
/// Covers values up to 2^48 (≈ 3 days in ns, 8.9 years in ms).
const BUCKETS: usize = 48 * SUB_BUCKETS;

/// A fixed-size log-linear histogram of `u64` values.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u32; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS as u64 {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros(); // >= SUB_BITS
    let shift = exp - SUB_BITS;
    let sub = ((value >> shift) as usize) & (SUB_BUCKETS - 1);
    let idx = (exp - SUB_BITS + 1) as usize * SUB_BUCKETS + sub;
    idx.min(BUCKETS - 1)
}

/// Upper bound of the values a bucket holds.
fn bucket_upper(idx: usize) -> u64 {
    if idx < SUB_BUCKETS {
        return idx as u64;
    }
    let group = idx / SUB_BUCKETS; // >= 1
    let sub = (idx % SUB_BUCKETS) as u64;
    let shift = group as u32 - 1;
    ((SUB_BUCKETS as u64 + sub + 1) << shift) - 1
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, value: u64) {
        let b = bucket_of(value);
        self.counts[b] = self.counts[b].saturating_add(1);
        self.total += 1;
        if value > self.max {
            self.max = value;
        }
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest value recorded.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        if self.total > 0 {
            self.counts.fill(0);
        }
        self.total = 0;
        self.max = 0;
    }

    /// The value at quantile `per_mille`/1000 (upper bound of its bucket, capped at the
    /// maximum seen); zero when empty.
    pub fn quantile(&self, per_mille: u32) -> u64 {
        quantile_of(&[self], per_mille)
    }

    /// Bucket upper bounds and counts of the non-empty buckets, for exposition.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (bucket_upper(i), *c))
    }
}

fn quantile_of(parts: &[&Histogram], per_mille: u32) -> u64 {
    let total: u64 = parts.iter().map(|h| h.total).sum();
    if total == 0 {
        return 0;
    }
    let max = parts.iter().map(|h| h.max).max().unwrap_or(0);
    let rank = (total * u64::from(per_mille)).div_ceil(1000).max(1);
    let mut seen = 0u64;
    for idx in 0..BUCKETS {
        seen += parts.iter().map(|h| u64::from(h.counts[idx])).sum::<u64>();
        if seen >= rank {
            return bucket_upper(idx).min(max);
        }
    }
    max
}

/// A histogram over a sliding pair of windows: quantiles cover the current window and
/// the previous one, so they reflect the last one to two window lengths.
#[derive(Clone, Debug)]
pub struct WindowedHistogram {
    window_ns: u64,
    current_start: UnixNanos,
    current: Histogram,
    previous: Histogram,
}

/// Which of the two windows still count at `now`.
fn live_windows(start: UnixNanos, window_ns: u64, now: UnixNanos) -> (bool, bool) {
    let elapsed = now.nanos_since(start);
    if elapsed < window_ns {
        (true, true)
    } else if elapsed < 2 * window_ns {
        // `current` has become the previous window; the old previous is gone.
        (false, true)
    } else {
        (false, false)
    }
}

impl WindowedHistogram {
    /// A histogram rotating every `window_ns`.
    pub fn new(window_ns: u64) -> WindowedHistogram {
        WindowedHistogram {
            window_ns,
            current_start: UnixNanos::ZERO,
            current: Histogram::default(),
            previous: Histogram::default(),
        }
    }

    fn rotate(&mut self, now: UnixNanos) {
        let elapsed = now.nanos_since(self.current_start);
        if elapsed < self.window_ns {
            return;
        }
        if elapsed < 2 * self.window_ns {
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.clear();
            self.current_start = self.current_start.plus_nanos(self.window_ns);
        } else {
            self.previous.clear();
            self.current.clear();
            self.current_start = now;
        }
    }

    /// Records a value observed at `now`.
    pub fn record(&mut self, now: UnixNanos, value: u64) {
        self.rotate(now);
        self.current.record(value);
    }

    fn parts(&self, now: UnixNanos) -> ([&Histogram; 2], usize) {
        match live_windows(self.current_start, self.window_ns, now) {
            (true, true) => ([&self.current, &self.previous], 2),
            (false, true) => ([&self.current, &self.current], 1),
            _ => ([&self.current, &self.current], 0),
        }
    }

    /// Quantile over the live windows at `now` (zero when empty).
    pub fn quantile(&self, now: UnixNanos, per_mille: u32) -> u64 {
        let (parts, n) = self.parts(now);
        quantile_of(&parts[..n], per_mille)
    }

    /// Values in the live windows.
    pub fn count(&self, now: UnixNanos) -> u64 {
        let (parts, n) = self.parts(now);
        parts[..n].iter().map(|h| h.count()).sum()
    }

    /// Largest value in the live windows.
    pub fn max(&self, now: UnixNanos) -> u64 {
        let (parts, n) = self.parts(now);
        parts[..n].iter().map(|h| h.max()).max().unwrap_or(0)
    }
}

/// A ratio (events of interest / events) over a sliding pair of windows, e.g. rejected
/// orders / orders sent over the last five to ten minutes.
#[derive(Clone, Debug)]
pub struct WindowedRatio {
    window_ns: u64,
    current_start: UnixNanos,
    current: (u64, u64),
    previous: (u64, u64),
}

impl WindowedRatio {
    /// A ratio rotating every `window_ns`.
    pub fn new(window_ns: u64) -> WindowedRatio {
        WindowedRatio {
            window_ns,
            current_start: UnixNanos::ZERO,
            current: (0, 0),
            previous: (0, 0),
        }
    }

    fn rotate(&mut self, now: UnixNanos) {
        let elapsed = now.nanos_since(self.current_start);
        if elapsed < self.window_ns {
            return;
        }
        if elapsed < 2 * self.window_ns {
            self.previous = self.current;
            self.current_start = self.current_start.plus_nanos(self.window_ns);
        } else {
            self.previous = (0, 0);
            self.current_start = now;
        }
        self.current = (0, 0);
    }

    /// Adds `hits` events of interest out of `total` events.
    pub fn add(&mut self, now: UnixNanos, hits: u64, total: u64) {
        self.rotate(now);
        self.current.0 += hits;
        self.current.1 += total;
    }

    /// (hits, total) over the live windows.
    pub fn sums(&self, now: UnixNanos) -> (u64, u64) {
        match live_windows(self.current_start, self.window_ns, now) {
            (true, true) => (
                self.current.0 + self.previous.0,
                self.current.1 + self.previous.1,
            ),
            (false, true) => self.current,
            _ => (0, 0),
        }
    }

    /// hits / total in parts per million (zero with no events).
    pub fn ppm(&self, now: UnixNanos) -> u64 {
        let (h, t) = self.sums(now);
        (h * 1_000_000).checked_div(t).unwrap_or(0)
    }
}

/// Counts events in a rolling window, bounded by `limit`: it remembers at most `limit`
/// timestamps, which is all it needs to decide whether one more would exceed it.
#[derive(Clone, Debug)]
pub struct RollingCounter {
    window_ns: u64,
    limit: u32,
    times: VecDeque<UnixNanos>,
}

impl RollingCounter {
    /// A counter allowing `limit` events per `window_ns`.
    pub fn new(window_ns: u64, limit: u32) -> RollingCounter {
        RollingCounter {
            window_ns,
            limit,
            times: VecDeque::with_capacity(limit as usize),
        }
    }

    fn expire(&mut self, now: UnixNanos) {
        while let Some(&t) = self.times.front() {
            if now.nanos_since(t) >= self.window_ns {
                self.times.pop_front();
            } else {
                break;
            }
        }
    }

    /// Events in the window ending at `now`.
    pub fn count(&mut self, now: UnixNanos) -> u32 {
        self.expire(now);
        self.times.len() as u32
    }

    /// Events in the window ending at `now`, without forgetting old ones.
    pub fn count_at(&self, now: UnixNanos) -> u32 {
        self.times
            .iter()
            .rev()
            .take_while(|t| now.nanos_since(**t) < self.window_ns)
            .count() as u32
    }

    /// The limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Whether `extra` more events fit under `cap` (≤ limit) at `now`.
    pub fn has_room(&mut self, now: UnixNanos, cap: u32) -> bool {
        self.count(now) < cap.min(self.limit)
    }

    /// Records an event if it fits under the limit; returns whether it did.
    pub fn try_record(&mut self, now: UnixNanos) -> bool {
        self.expire(now);
        if self.times.len() as u32 >= self.limit {
            return false;
        }
        self.times.push_back(now);
        true
    }

    /// When the oldest event leaves the window (room opens), if the counter is full.
    pub fn next_room_at(&mut self, now: UnixNanos) -> Option<UnixNanos> {
        self.expire(now);
        if (self.times.len() as u32) < self.limit {
            return None;
        }
        self.times.front().map(|t| t.plus_nanos(self.window_ns))
    }

    /// Changes the limit (config apply); forgets the oldest events beyond it.
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
        while self.times.len() as u32 > limit {
            self.times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_bound_values_within_an_eighth() {
        for v in [0u64, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 123_456, 1 << 40] {
            let upper = bucket_upper(bucket_of(v));
            assert!(upper >= v, "{v} -> {upper}");
            assert!(upper - v <= v / 8 + 1, "{v} -> {upper}");
        }
    }

    #[test]
    fn p95_of_uniform_values() {
        let mut h = Histogram::default();
        for v in 1..=1000 {
            h.record(v);
        }
        let p95 = h.quantile(950);
        assert!((950..=1000).contains(&p95), "{p95}");
        assert_eq!(h.quantile(1000), 1000);
    }

    #[test]
    fn windowed_histogram_forgets_old_windows() {
        let mut w = WindowedHistogram::new(1_000);
        w.record(UnixNanos(10), 500);
        assert_eq!(w.quantile(UnixNanos(1_500), 950), 500);
        w.record(UnixNanos(1_600), 5);
        assert_eq!(w.count(UnixNanos(1_600)), 2);
        assert_eq!(
            w.count(UnixNanos(2_100)),
            1,
            "the first window has rolled out"
        );
        assert_eq!(w.count(UnixNanos(10_000)), 0);
        let mut r = WindowedRatio::new(1_000);
        r.add(UnixNanos(10), 1, 4);
        r.add(UnixNanos(1_100), 0, 4);
        assert_eq!(r.ppm(UnixNanos(1_100)), 125_000);
        assert_eq!(
            r.ppm(UnixNanos(2_500)),
            0,
            "the first window has rolled out"
        );
        assert_eq!(r.sums(UnixNanos(2_500)), (0, 4));
    }

    #[test]
    fn rolling_counter_enforces_its_limit() {
        let mut c = RollingCounter::new(60, 3);
        assert!(c.try_record(UnixNanos(0)));
        assert!(c.try_record(UnixNanos(10)));
        assert!(c.try_record(UnixNanos(20)));
        assert!(!c.try_record(UnixNanos(30)));
        assert_eq!(c.next_room_at(UnixNanos(30)), Some(UnixNanos(60)));
        assert!(c.try_record(UnixNanos(60)));
    }

    proptest! {
        #[test]
        fn quantiles_are_monotonic(values in prop::collection::vec(0u64..1_000_000, 1..200)) {
            let mut h = Histogram::default();
            for v in &values { h.record(*v); }
            let mut last = 0;
            for q in [100, 500, 900, 950, 990, 1000] {
                let x = h.quantile(q);
                prop_assert!(x >= last);
                last = x;
            }
            prop_assert_eq!(h.quantile(1000), *values.iter().max().unwrap());
        }
    }
}
