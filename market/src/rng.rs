//! One master seed, many independent ChaCha streams.
//!
//! Every component that needs randomness (market, each venue's latency and fills, the
//! fault schedule, the disk's crash model) gets its own stream derived from the master
//! seed and the component's name, so adding draws in one component never shifts
//! another's. Only integer arithmetic is used on draws, so a seed replays identically
//! on every platform.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Derives named streams from a master seed.
#[derive(Clone, Copy, Debug)]
pub struct Seeds {
    master: u64,
}

impl Seeds {
    /// Streams for `master`.
    pub fn new(master: u64) -> Seeds {
        Seeds { master }
    }

    /// The master seed.
    pub fn master(&self) -> u64 {
        self.master
    }

    /// The stream named `name` (with an index for per-instance streams).
    pub fn stream(&self, name: &str, index: u64) -> SimRng {
        let mut h = blake3::Hasher::new();
        h.update(&self.master.to_le_bytes());
        h.update(name.as_bytes());
        h.update(&index.to_le_bytes());
        SimRng(ChaCha8Rng::from_seed(*h.finalize().as_bytes()))
    }
}

/// A seeded random stream.
#[derive(Clone, Debug)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias worth caring about for n ≪ 2^64.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// Uniform signed in `-m..=m`.
    pub fn symmetric(&mut self, m: i64) -> i64 {
        if m <= 0 {
            return 0;
        }
        self.range(0, 2 * m as u64) as i64 - m
    }

    /// True with probability `ppm` parts per million.
    pub fn chance_ppm(&mut self, ppm: u64) -> bool {
        self.below(1_000_000) < ppm
    }

    /// An approximately normal draw with mean 0 and standard deviation `sd`, from the
    /// sum of twelve uniforms (Irwin–Hall), in integers.
    pub fn normal(&mut self, sd: i64) -> i64 {
        let mut sum: i64 = 0;
        for _ in 0..12 {
            sum += self.below(1 << 20) as i64;
        }
        // Sum has mean 6·2^20 and standard deviation 2^20.
        let z = sum - 6 * (1 << 20);
        ((i128::from(z) * i128::from(sd)) >> 20) as i64
    }

    /// An exponential-ish waiting time with mean `mean` (geometric steps of mean/16).
    pub fn exponential(&mut self, mean: u64) -> u64 {
        if mean == 0 {
            return 0;
        }
        // Inverse transform on a discretised survival curve: each step of mean/16
        // survives with probability 15/16 (exp(-1/16) ≈ 0.9394; 15/16 = 0.9375).
        let step = (mean / 16).max(1);
        let mut t = 0;
        while self.below(16) != 0 && t < mean * 20 {
            t += step;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let s = Seeds::new(42);
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = s.stream("market", 0);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = s.stream("market", 0);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = s.stream("venue", 0);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            s.stream("venue", 0).next_u64(),
            s.stream("venue", 1).next_u64()
        );
    }

    #[test]
    fn draws_have_the_shape_they_claim() {
        let mut r = Seeds::new(1).stream("t", 0);
        let n = 20_000;
        let mean: i64 = (0..n).map(|_| r.normal(1000)).sum::<i64>() / n;
        assert!(mean.abs() < 50, "{mean}");
        let var: i64 = (0..n)
            .map(|_| {
                let x = r.normal(1000);
                x * x
            })
            .sum::<i64>()
            / n;
        assert!((800_000..1_200_000).contains(&var), "{var}");
        assert!((0..1000).all(|_| r.below(7) < 7));
        let hits = (0..100_000).filter(|_| r.chance_ppm(10_000)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        let e: u64 = (0..n).map(|_| r.exponential(1600)).sum::<u64>() / n as u64;
        assert!((1300..1900).contains(&e), "{e}");
    }
}
