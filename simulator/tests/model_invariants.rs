//! The traffic model's invariants over time, checked without a clock or a socket.

use syseng_sim::fault::{Effect, parse_flag};
use syseng_sim::fleet::{Fleet, FleetConfig};
use syseng_sim::rng::SplitMix64;
use syseng_sim::stats::StatsDocument;
use syseng_sim::traffic::{ActiveFault, InstanceTraffic, TrafficModel};

fn model() -> TrafficModel {
    TrafficModel::default().validated().unwrap()
}

fn fault(id: u64, effect: Effect, start_ms: u64, end_ms: u64) -> ActiveFault {
    ActiveFault {
        id,
        effect,
        start_ms,
        end_ms,
    }
}

/// An instance with every traffic-shaping fault switching on and off during the first minutes.
fn busy_instance(seed: u64) -> InstanceTraffic {
    let mut state = InstanceTraffic::new(&model(), seed, 0);
    state.faults = vec![
        fault(
            1,
            Effect::ErrorBurst {
                share_of_requests: 0.3,
                code: 503,
            },
            20_000,
            80_000,
        ),
        fault(
            2,
            Effect::Latency {
                factor: 4.0,
                shift_ms: 100,
            },
            50_000,
            120_000,
        ),
        fault(3, Effect::Traffic { factor: 5.0 }, 100_000, 140_000),
        fault(4, Effect::Down, 150_000, 160_000),
        fault(5, Effect::Traffic { factor: 0.0 }, 170_000, 175_000),
    ];
    state
}

fn check_document(doc: &StatsDocument) {
    assert_eq!(
        doc.duration.count,
        doc.request_counters.values().sum::<u64>(),
        "count is the sum of counters: {doc:?}"
    );
    assert!(doc.duration.sum >= 0.0 && doc.duration.sum.is_finite());
    assert!(doc.duration.average >= 0.0 && doc.duration.average.is_finite());
    assert!(
        doc.request_rates.values().all(|&n| n > 0),
        "codes without traffic are absent: {doc:?}"
    );
    for (code, rate) in &doc.request_rates {
        assert!(
            doc.request_counters[code] >= *rate,
            "a rate never exceeds its lifetime counter: {doc:?}"
        );
    }
}

#[test]
fn counters_are_monotonic_and_count_equals_their_sum_under_any_read_schedule() {
    let m = model();
    for seed in 0..8 {
        let mut state = busy_instance(seed);
        let mut schedule = SplitMix64::new(seed);
        let mut previous: Option<StatsDocument> = None;
        let mut t = 0;
        while t < 200_000 {
            t += schedule.next_u64() % 3_000;
            let doc = state.stats_at(&m, t);
            check_document(&doc);
            if let Some(before) = &previous {
                assert!(doc.duration.count >= before.duration.count);
                assert!(
                    doc.duration.sum >= before.duration.sum,
                    "sum is monotonic: {before:?} then {doc:?}"
                );
                for (code, n) in &before.request_counters {
                    assert!(
                        doc.request_counters[code] >= *n,
                        "counter {code} went backwards"
                    );
                }
            }
            previous = Some(doc);
        }
    }
}

#[test]
fn rates_equal_the_increments_of_the_last_second() {
    let m = model();
    for seed in 0..4 {
        let reader = busy_instance(seed);
        for t in [1_000, 1_500, 25_250, 60_999, 101_001, 155_000, 199_999] {
            let earlier = reader.clone().stats_at(&m, t - 1_000);
            let now = reader.clone().stats_at(&m, t);
            for (code, rate) in &now.request_rates {
                let increment = now.request_counters[code]
                    - earlier.request_counters.get(code).copied().unwrap_or(0);
                assert_eq!(*rate, increment, "seed {seed}, t {t}, code {code}");
            }
            let increments: u64 = now.duration.count - earlier.duration.count;
            assert_eq!(now.request_rates.values().sum::<u64>(), increments);
            if increments > 0 {
                let average = (now.duration.sum - earlier.duration.sum) / increments as f64;
                assert!(
                    (average - now.duration.average).abs() < 1e-9,
                    "average covers the last second"
                );
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_traffic_and_another_seed_does_not() {
    let m = model();
    let read = |seed| InstanceTraffic::new(&m, seed, 0).stats_at(&m, 90_500);
    assert_eq!(read(42), read(42));
    assert_ne!(read(42), read(43));
}

#[test]
fn default_traffic_is_about_100_per_second_with_few_errors_and_a_short_mean_duration() {
    let m = model();
    let mut total = StatsDocument {
        request_counters: Default::default(),
        request_rates: Default::default(),
        duration: syseng_sim::stats::DurationStats {
            count: 0,
            sum: 0.0,
            average: 0.0,
        },
    };
    let instances = 20;
    for seed in 0..instances {
        let doc = InstanceTraffic::new(&m, seed, 0).stats_at(&m, 3_600_000);
        for (code, n) in doc.request_counters {
            *total.request_counters.entry(code).or_default() += n;
        }
        total.duration.count += doc.duration.count;
        total.duration.sum += doc.duration.sum;
    }
    let count = total.duration.count as f64;
    let per_second = count / instances as f64 / 3_600.0;
    assert!((90.0..110.0).contains(&per_second), "rate {per_second}");
    let share = |code| total.request_counters.get(&code).copied().unwrap_or(0) as f64 / count;
    assert!(
        (0.0005..0.002).contains(&share(500)),
        "500 share {}",
        share(500)
    );
    assert!(
        (0.015..0.025).contains(&share(404)),
        "404 share {}",
        share(404)
    );
    let mean = total.duration.sum / count;
    assert!((0.025..0.06).contains(&mean), "mean duration {mean}");
}

#[test]
fn the_rate_drifts_slowly_and_stays_positive() {
    let m = model();
    let rates: Vec<f64> = (0..60)
        .map(|minute| m.mean_rate_at(minute * 60_000, 0.0))
        .collect();
    let (low, high) = rates
        .iter()
        .fold((f64::MAX, 0.0_f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    assert!(
        low > 70.0 && high < 130.0 && high - low > 30.0,
        "drift between {low} and {high}"
    );
    let steepest = rates
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f64::max);
    assert!(steepest < 5.0, "drift per minute {steepest}");
}

#[test]
fn a_day_of_idle_time_is_caught_up_in_well_under_a_second() {
    let m = model();
    let mut state = InstanceTraffic::new(&m, 7, 0);
    let started = std::time::Instant::now();
    let doc = state.stats_at(&m, 86_400_000);
    assert!(
        started.elapsed().as_millis() < 1_000,
        "catch-up took {:?}",
        started.elapsed()
    );
    assert!(doc.duration.count > 7_000_000, "{doc:?}");
}

#[test]
fn a_repeating_restart_resets_counters_each_interval_and_rates_never_exceed_them() {
    let m = model();
    let mut state = InstanceTraffic::new(&m, 3, 0);
    state.faults.push(fault(
        1,
        Effect::Restart {
            every_ms: Some(30_000),
        },
        10_000,
        100_000,
    ));
    let mut previous_count = 0;
    let mut resets = 0;
    for t in (0..130_000).step_by(250) {
        let doc = state.stats_at(&m, t);
        check_document(&doc);
        if doc.duration.count < previous_count {
            resets += 1;
        }
        previous_count = doc.duration.count;
    }
    // Restarts at 10 s, 40 s and 70 s; the fault ends before the one at 100 s.
    assert_eq!(resets, 3);
}

fn fleet(instances: u32) -> Fleet {
    Fleet::new(FleetConfig {
        instances,
        listen: "127.0.0.1:8080".parse().unwrap(),
        zones: 3,
        seed: 11,
        model: model(),
        file_sd: None,
        faults: vec![],
    })
    .unwrap()
}

fn five_xx_share(doc: &StatsDocument) -> f64 {
    let errors: u64 = doc
        .request_counters
        .iter()
        .filter(|(c, _)| **c >= 500)
        .map(|(_, n)| n)
        .sum();
    errors as f64 / doc.duration.count.max(1) as f64
}

#[test]
fn a_healthy_fleet_stays_well_inside_the_slo_and_an_error_burst_breaks_it_on_its_share() {
    let fleet = fleet(30);
    for index in 0..30 {
        assert!(five_xx_share(&fleet.stats(index, 600_000).unwrap()) < 0.003);
    }
    let spec = parse_flag("kind=error_burst,share=0.3,share_of_requests=0.2").unwrap();
    let created = fleet.add_fault(spec, 600_000).unwrap();
    let hit: Vec<u32> = serde_json::from_value(created["instances"].clone()).unwrap();
    assert_eq!(hit.len(), 9);
    for index in 0..30 {
        let before = fleet.stats(index, 600_000).unwrap();
        let after = fleet.stats(index, 900_000).unwrap();
        let errors = |d: &StatsDocument| d.request_counters.get(&500).copied().unwrap_or(0);
        let share = (errors(&after) - errors(&before)) as f64
            / (after.duration.count - before.duration.count) as f64;
        if hit.contains(&index) {
            assert!(share > 0.15, "instance {index}: {share}");
        } else {
            assert!(share < 0.005, "instance {index}: {share}");
        }
    }
}
