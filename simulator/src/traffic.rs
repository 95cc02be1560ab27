//! The traffic model: what one instance would have counted, as a pure function of time.
//!
//! Time is cut into one-second buckets. The requests of bucket `k` (their number, status codes
//! and total duration) are drawn from a generator seeded by `(instance seed, k)` and shaped by
//! the faults active at the start of that second, so a bucket can be regenerated at will and
//! never changes once observed. The lifetime counters at `t` are the sum of the buckets before
//! `t` plus a pro-rata share of the current one; `requestRates` and `duration.average` are the
//! difference between that and the same value one second earlier. Nothing runs between reads:
//! reading `/stats` advances the sums lazily, which is why an idle fleet costs no CPU.

use std::collections::BTreeMap;

use crate::fault::Effect;
use crate::rng::{SplitMix64, derive_seed};
use crate::stats::{DurationStats, StatsDocument};

const BUCKET_MS: u64 = 1_000;
/// Above this many requests in a second, the duration sum uses the central limit theorem
/// instead of one draw per request, so that a surge or a long catch-up stays cheap.
const EXACT_DURATION_LIMIT: u64 = 32;

/// The default status code mix: the SLO of the monitoring kit (99.5 % non-5xx) holds easily.
pub const DEFAULT_CODE_MIX: &str = "200=97.9,404=2,500=0.1";

/// Parses `CODE=WEIGHT,...` (weights are normalised later, by [`TrafficModel::validated`]).
pub fn parse_code_mix(text: &str) -> Result<Vec<(u16, f64)>, String> {
    text.split(',')
        .map(|pair| {
            let invalid = || format!("{pair:?} is not CODE=WEIGHT");
            let (code, weight) = pair.trim().split_once('=').ok_or_else(invalid)?;
            Ok((
                code.parse().map_err(|_| invalid())?,
                weight.parse().map_err(|_| invalid())?,
            ))
        })
        .collect()
}

/// How the simulated clients behave when no fault is active.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficModel {
    /// Mean requests per second.
    pub rate: f64,
    /// Relative amplitude of the slow sinusoidal drift of the rate (0.2 = ±20 %).
    pub drift_amplitude: f64,
    /// Period of that drift, in milliseconds.
    pub drift_period_ms: u64,
    /// Log-normal sigma of the independent second-to-second noise on the rate.
    pub noise: f64,
    /// Status codes with their probabilities (normalised to sum to 1).
    pub code_mix: Vec<(u16, f64)>,
    /// Median request duration, in seconds.
    pub duration_median: f64,
    /// Log-normal sigma of request durations: the heaviness of the tail.
    pub duration_sigma: f64,
}

impl Default for TrafficModel {
    fn default() -> Self {
        Self {
            rate: 100.0,
            drift_amplitude: 0.2,
            drift_period_ms: 3_600_000,
            noise: 0.05,
            code_mix: parse_code_mix(DEFAULT_CODE_MIX).unwrap_or_default(),
            duration_median: 0.025,
            duration_sigma: 0.8,
        }
    }
}

impl TrafficModel {
    /// Checks the parameters and normalises the code mix; the error is one line.
    pub fn validated(mut self) -> Result<Self, String> {
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return Err(format!(
                "rate must be a non-negative number, got {}",
                self.rate
            ));
        }
        if !(0.0..=1.0).contains(&self.drift_amplitude) {
            return Err(format!(
                "drift amplitude must be within [0, 1], got {}",
                self.drift_amplitude
            ));
        }
        if self.drift_period_ms == 0 {
            return Err("drift period must be positive".to_owned());
        }
        if !(0.0..=2.0).contains(&self.noise) {
            return Err(format!("noise must be within [0, 2], got {}", self.noise));
        }
        if !(self.duration_median.is_finite() && self.duration_median > 0.0) {
            return Err(format!(
                "duration median must be positive, got {}",
                self.duration_median
            ));
        }
        if !(0.0..=4.0).contains(&self.duration_sigma) {
            return Err(format!(
                "duration sigma must be within [0, 4], got {}",
                self.duration_sigma
            ));
        }
        if self.code_mix.is_empty() {
            return Err("the code mix needs at least one status code".to_owned());
        }
        let mut seen = BTreeMap::new();
        for &(code, weight) in &self.code_mix {
            if !(100..=599).contains(&code) {
                return Err(format!("status code {code} is outside 100..=599"));
            }
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(format!(
                    "weight of code {code} must be a non-negative number"
                ));
            }
            if seen.insert(code, ()).is_some() {
                return Err(format!("status code {code} appears twice in the code mix"));
            }
        }
        let total: f64 = self.code_mix.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            return Err("the code mix weights sum to zero".to_owned());
        }
        for entry in &mut self.code_mix {
            entry.1 /= total;
        }
        Ok(self)
    }

    /// Mean request duration in seconds (of the log-normal distribution).
    pub fn duration_mean(&self) -> f64 {
        self.duration_median * (self.duration_sigma * self.duration_sigma / 2.0).exp()
    }

    fn duration_sd(&self) -> f64 {
        self.duration_mean() * ((self.duration_sigma * self.duration_sigma).exp() - 1.0).sqrt()
    }

    /// The mean rate (before noise and faults) at `t_ms` for an instance with drift `phase`.
    pub fn mean_rate_at(&self, t_ms: u64, phase: f64) -> f64 {
        let cycle = (t_ms % self.drift_period_ms) as f64 / self.drift_period_ms as f64;
        self.rate * (1.0 + self.drift_amplitude * (std::f64::consts::TAU * cycle + phase).sin())
    }
}

/// Requests counted per status code and their total duration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// `(code, count)`, sorted by code. A handful of entries: a map would cost more memory.
    pub codes: Vec<(u16, u64)>,
    /// Total duration in seconds.
    pub duration_sum: f64,
}

impl Tally {
    /// Total number of requests.
    pub fn count(&self) -> u64 {
        self.codes.iter().map(|(_, n)| n).sum()
    }

    fn add_code(&mut self, code: u16, n: u64) {
        if n == 0 {
            return;
        }
        match self.codes.binary_search_by_key(&code, |(c, _)| *c) {
            Ok(i) => self.codes[i].1 += n,
            Err(i) => self.codes.insert(i, (code, n)),
        }
    }

    fn add(&mut self, other: &Tally) {
        for &(code, n) in &other.codes {
            self.add_code(code, n);
        }
        self.duration_sum += other.duration_sum;
    }

    /// `self - earlier` per code, for `earlier` taken at an earlier time on the same series.
    fn since(&self, earlier: &Tally) -> Tally {
        let mut codes = Vec::with_capacity(self.codes.len());
        for &(code, n) in &self.codes {
            let before = earlier
                .codes
                .binary_search_by_key(&code, |(c, _)| *c)
                .map_or(0, |i| earlier.codes[i].1);
            if n > before {
                codes.push((code, n - before));
            }
        }
        let duration_sum = if codes.is_empty() {
            0.0
        } else {
            (self.duration_sum - earlier.duration_sum).max(0.0)
        };
        Tally {
            codes,
            duration_sum,
        }
    }

    /// The share of this bucket's requests that arrived in its first `elapsed_ms`.
    ///
    /// Each code is pro-rated and rounded down, so the result grows monotonically with
    /// `elapsed_ms` and reaches the whole bucket at the next boundary.
    fn prorated(&self, elapsed_ms: u64) -> Tally {
        let total = self.count();
        let mut part = Tally::default();
        for &(code, n) in &self.codes {
            part.add_code(code, n * elapsed_ms / BUCKET_MS);
        }
        if total > 0 {
            part.duration_sum = self.duration_sum * part.count() as f64 / total as f64;
        }
        part
    }
}

/// A fault as one instance sees it: an effect over `[start_ms, end_ms)` of fleet time.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveFault {
    /// The fault's id in the fleet's registry.
    pub id: u64,
    /// What it does.
    pub effect: Effect,
    /// Fleet time at which it took effect.
    pub start_ms: u64,
    /// Fleet time at which it ends (`u64::MAX`: until cleared).
    pub end_ms: u64,
}

impl ActiveFault {
    /// Whether the fault is in force at `t_ms`.
    pub fn active_at(&self, t_ms: u64) -> bool {
        self.start_ms <= t_ms && t_ms < self.end_ms
    }

    /// The latest restart this fault causes at or before `t_ms`, if it is a restart fault.
    fn latest_restart(&self, t_ms: u64) -> Option<u64> {
        let Effect::Restart { every_ms } = self.effect else {
            return None;
        };
        let last = t_ms.min(self.end_ms.checked_sub(1)?);
        if last < self.start_ms {
            return None;
        }
        Some(match every_ms {
            Some(every) if every > 0 => self.start_ms + (last - self.start_ms) / every * every,
            _ => self.start_ms,
        })
    }
}

/// The lazily advanced state of one instance: a few hundred bytes.
#[derive(Debug, Clone)]
pub struct InstanceTraffic {
    seed: u64,
    phase: f64,
    /// `summed` holds the buckets before this one.
    summed_buckets: u64,
    summed: Tally,
    /// The counters as they stood at the last (re)start, subtracted from every reading.
    restart_ms: u64,
    restart_base: Tally,
    last_read_ms: u64,
    /// Faults that touch this instance, kept until no bucket still to be read can see them.
    pub faults: Vec<ActiveFault>,
}

impl InstanceTraffic {
    /// An instance whose process starts at fleet time `start_ms`.
    pub fn new(model: &TrafficModel, seed: u64, start_ms: u64) -> Self {
        let mut phase_rng = SplitMix64::new(derive_seed(&[seed, u64::MAX]));
        let mut state = Self {
            seed,
            phase: phase_rng.next_f64() * std::f64::consts::TAU,
            summed_buckets: start_ms / BUCKET_MS,
            summed: Tally::default(),
            restart_ms: start_ms,
            restart_base: Tally::default(),
            last_read_ms: start_ms,
            faults: Vec::new(),
        };
        state.restart_base = state.cumulative_at(model, start_ms);
        state
    }

    /// The requests of second `bucket`: a pure function of the seed, the bucket and the faults.
    pub fn bucket(&self, model: &TrafficModel, bucket: u64) -> Tally {
        let t_ms = bucket * BUCKET_MS;
        let mut rng = SplitMix64::new(derive_seed(&[self.seed, bucket]));
        let mut rate = model.mean_rate_at(t_ms, self.phase);
        if model.noise > 0.0 {
            rate *= (model.noise * rng.normal() - model.noise * model.noise / 2.0).exp();
        }
        let (mut latency_factor, mut latency_shift) = (1.0, 0.0);
        for fault in self.faults.iter().filter(|f| f.active_at(t_ms)) {
            match fault.effect {
                Effect::Traffic { factor } => rate *= factor,
                // Clients cannot reach a closed listener, so a down instance counts nothing.
                Effect::Down => rate = 0.0,
                Effect::Latency { factor, shift_ms } => {
                    latency_factor *= factor;
                    latency_shift += shift_ms as f64 / 1_000.0;
                }
                _ => {}
            }
        }
        let requests = rng.poisson(rate);
        let mut tally = Tally::default();
        let mut remaining = requests;
        for fault in self.faults.iter().filter(|f| f.active_at(t_ms)) {
            if let Effect::ErrorBurst {
                share_of_requests,
                code,
            } = fault.effect
            {
                let errors = rng.binomial(remaining, share_of_requests);
                tally.add_code(code, errors);
                remaining -= errors;
            }
        }
        // Multinomial split of the rest, as a chain of conditional binomials.
        let mut mass_left = 1.0;
        for (i, &(code, p)) in model.code_mix.iter().enumerate() {
            let n = if i + 1 == model.code_mix.len() {
                remaining
            } else {
                rng.binomial(remaining, if mass_left > 0.0 { p / mass_left } else { 0.0 })
            };
            tally.add_code(code, n);
            remaining -= n;
            mass_left -= p;
        }
        let base = if requests <= EXACT_DURATION_LIMIT {
            let mu = model.duration_median.ln();
            (0..requests)
                .map(|_| (mu + model.duration_sigma * rng.normal()).exp())
                .sum()
        } else {
            let n = requests as f64;
            let floor = n * model.duration_median * 0.2;
            (n * model.duration_mean() + n.sqrt() * model.duration_sd() * rng.normal()).max(floor)
        };
        tally.duration_sum = base * latency_factor + latency_shift * requests as f64;
        tally
    }

    fn advance_to_bucket(&mut self, model: &TrafficModel, bucket: u64) {
        while self.summed_buckets < bucket {
            let tally = self.bucket(model, self.summed_buckets);
            self.summed.add(&tally);
            self.summed_buckets += 1;
        }
        // A fault that ended before the previous bucket can no longer shape a reading.
        let horizon = self.summed_buckets.saturating_sub(1) * BUCKET_MS;
        self.faults.retain(|f| f.end_ms > horizon);
    }

    /// Lifetime totals since the first bucket (not since the last restart) at `t_ms`.
    fn cumulative_at(&mut self, model: &TrafficModel, t_ms: u64) -> Tally {
        let bucket = t_ms / BUCKET_MS;
        self.advance_to_bucket(model, bucket);
        let mut total = self.summed.clone();
        total.add(&self.bucket(model, bucket).prorated(t_ms % BUCKET_MS));
        total
    }

    /// The requests counted in `(t_ms - 1s, t_ms]`, given the lifetime totals at `t_ms`.
    fn last_second(&mut self, model: &TrafficModel, t_ms: u64, now_total: &Tally) -> Tally {
        if t_ms < self.restart_ms + BUCKET_MS {
            return now_total.since(&self.restart_base);
        }
        let bucket = t_ms / BUCKET_MS;
        let elapsed = t_ms % BUCKET_MS;
        let previous = self.bucket(model, bucket - 1);
        // total(t - 1s) = summed(bucket) - previous + previous.prorated(elapsed)
        let mut earlier = self.summed.clone();
        let remainder = previous.since(&previous.prorated(elapsed));
        let mut earlier_codes = Tally::default();
        for &(code, n) in &earlier.codes {
            let minus = remainder
                .codes
                .binary_search_by_key(&code, |(c, _)| *c)
                .map_or(0, |i| remainder.codes[i].1);
            // Saturating: a fault cleared "in the past" by a racing reader must not panic.
            earlier_codes.add_code(code, n.saturating_sub(minus));
        }
        earlier_codes.duration_sum = earlier.duration_sum - remainder.duration_sum;
        earlier = earlier_codes;
        now_total.since(&earlier)
    }

    /// The `/stats` document as the instance would answer it at fleet time `now_ms`.
    pub fn stats_at(&mut self, model: &TrafficModel, now_ms: u64) -> StatsDocument {
        let now_ms = now_ms.max(self.last_read_ms);
        self.last_read_ms = now_ms;
        let latest_restart = self
            .faults
            .iter()
            .filter_map(|f| f.latest_restart(now_ms))
            .max();
        if let Some(restart_ms) = latest_restart.filter(|&r| r > self.restart_ms) {
            self.restart_base = self.cumulative_at(model, restart_ms);
            self.restart_ms = restart_ms;
        }
        let total = self.cumulative_at(model, now_ms);
        let lifetime = total.since(&self.restart_base);
        let recent = self.last_second(model, now_ms, &total);
        let recent_count = recent.count();
        StatsDocument {
            request_counters: lifetime.codes.iter().copied().collect(),
            request_rates: recent.codes.iter().copied().collect(),
            duration: DurationStats {
                count: lifetime.count(),
                sum: lifetime.duration_sum,
                average: if recent_count > 0 {
                    recent.duration_sum / recent_count as f64
                } else {
                    0.0
                },
            },
        }
    }

    /// Fleet time of the last process (re)start.
    pub fn restarted_at_ms(&self) -> u64 {
        self.restart_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> TrafficModel {
        TrafficModel::default().validated().unwrap()
    }

    #[test]
    fn default_model_matches_the_documented_shape() {
        let m = model();
        assert!(
            (m.duration_mean() - 0.0344).abs() < 0.001,
            "mean {}",
            m.duration_mean()
        );
        assert!((m.code_mix.iter().map(|c| c.1).sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_bucket_is_the_same_whenever_it_is_generated() {
        let m = model();
        let a = InstanceTraffic::new(&m, 9, 0);
        let b = InstanceTraffic::new(&m, 9, 0);
        assert_eq!(a.bucket(&m, 1234), b.bucket(&m, 1234));
        assert_ne!(a.bucket(&m, 1234), a.bucket(&m, 1235));
    }

    #[test]
    fn readings_do_not_depend_on_when_earlier_reads_happened() {
        let m = model();
        let mut often = InstanceTraffic::new(&m, 3, 0);
        let mut once = InstanceTraffic::new(&m, 3, 0);
        for t in (0..120_000).step_by(777) {
            often.stats_at(&m, t);
        }
        assert_eq!(often.stats_at(&m, 120_500), once.stats_at(&m, 120_500));
    }

    #[test]
    fn prorating_is_monotonic_and_reaches_the_whole_bucket() {
        let m = model();
        let state = InstanceTraffic::new(&m, 5, 0);
        let bucket = state.bucket(&m, 10);
        let mut previous = 0;
        for ms in (0..1000).step_by(10) {
            let count = bucket.prorated(ms).count();
            assert!(count >= previous);
            previous = count;
        }
        assert!(previous <= bucket.count());
    }

    #[test]
    fn a_restart_resets_counters_and_repeats() {
        let m = model();
        let mut state = InstanceTraffic::new(&m, 1, 0);
        state.faults.push(ActiveFault {
            id: 1,
            effect: Effect::Restart {
                every_ms: Some(30_000),
            },
            start_ms: 60_000,
            end_ms: u64::MAX,
        });
        let before = state.stats_at(&m, 59_999).duration.count;
        assert!(before > 4_000, "{before}");
        let after = state.stats_at(&m, 60_500).duration.count;
        assert!(after < 100, "{after}");
        assert!(state.stats_at(&m, 89_000).duration.count > 2_000);
        assert!(state.stats_at(&m, 90_200).duration.count < 100);
        assert_eq!(state.restarted_at_ms(), 90_000);
    }
}
