//! A tiny deterministic random source and the samplers the traffic model needs.
//!
//! The traffic of second `k` of instance `i` is drawn from a generator seeded by
//! `(fleet seed, i, k)`, so any second can be regenerated on demand: this is what lets the
//! state be a pure function of elapsed time, independent of when `/stats` happens to be read.

/// SplitMix64: small, fast and good enough for simulation (not for cryptography).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

/// Mixes a value through the SplitMix64 finaliser; used to derive independent seeds.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Derives one seed from several parts, order-sensitive.
pub fn derive_seed(parts: &[u64]) -> u64 {
    parts.iter().fold(0x5eed_5eed_5eed_5eed_u64, |acc, part| {
        mix64(acc ^ mix64(part.wrapping_add(0x9e37_79b9_7f4a_7c15)))
    })
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    fn next_f64_open_zero(&mut self) -> f64 {
        1.0 - self.next_f64()
    }

    /// Standard normal (Box–Muller, one value per call: simplicity over speed).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.next_f64_open_zero();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Poisson with mean `lambda`; the normal approximation above 30 keeps the cost constant.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda.is_nan() || lambda <= 0.0 {
            return 0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut product = self.next_f64_open_zero();
            let mut count = 0;
            while product > limit {
                count += 1;
                product *= self.next_f64_open_zero();
            }
            return count;
        }
        (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64
    }

    /// Binomial(`n`, `p`): exact for small `n`, Poisson or normal approximations otherwise.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if n <= 64 {
            return (0..n).filter(|_| self.next_f64() < p).count() as u64;
        }
        let mean = n as f64 * p;
        if mean < 10.0 {
            return self.poisson(mean).min(n);
        }
        if n as f64 * (1.0 - p) < 10.0 {
            return n - self.poisson(n as f64 * (1.0 - p)).min(n);
        }
        let sd = (mean * (1.0 - p)).sqrt();
        (mean + sd * self.normal()).round().clamp(0.0, n as f64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_mean(samples: impl Iterator<Item = f64>) -> f64 {
        let (sum, n) = samples.fold((0.0, 0.0), |(s, n), x| (s + x, n + 1.0));
        sum / n
    }

    #[test]
    fn same_seed_gives_same_sequence() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = SplitMix64::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = SplitMix64::new(7);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(derive_seed(&[1, 2]), derive_seed(&[2, 1]));
    }

    #[test]
    fn samplers_have_the_requested_means() {
        let mut r = SplitMix64::new(42);
        let uniform = sample_mean((0..20_000).map(|_| r.next_f64()));
        assert!((uniform - 0.5).abs() < 0.01, "uniform mean {uniform}");
        let normal = sample_mean((0..20_000).map(|_| r.normal()));
        assert!(normal.abs() < 0.03, "normal mean {normal}");
        for lambda in [0.5, 5.0, 100.0, 5000.0] {
            let mean = sample_mean((0..5_000).map(|_| r.poisson(lambda) as f64));
            assert!(
                (mean - lambda).abs() < 0.05 * lambda + 0.05,
                "poisson {lambda}: {mean}"
            );
        }
        for (n, p) in [(10, 0.3), (100, 0.02), (1000, 0.5), (1000, 0.999)] {
            let mean = sample_mean((0..5_000).map(|_| r.binomial(n, p) as f64));
            let expected = n as f64 * p;
            assert!(
                (mean - expected).abs() < 0.05 * expected + 0.1,
                "binomial {n},{p}: {mean}"
            );
            assert!((0..100).all(|_| r.binomial(n, p) <= n));
        }
    }
}
