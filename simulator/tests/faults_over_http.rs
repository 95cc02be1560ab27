//! Every fault kind, set and cleared through the admin API, observed over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{Sim, eventually, get_stats, get_stats_raw, http};
use syseng_sim::stats::StatsDocument;

const SETTLE: Duration = Duration::from_secs(5);

fn rate_of(doc: &StatsDocument, code: u16) -> u64 {
    doc.request_rates.get(&code).copied().unwrap_or(0)
}

#[test]
fn error_burst_answers_a_share_with_the_chosen_code_until_cleared() {
    let sim = Sim::start(&["--instances", "3"]);
    let targets = sim.targets();
    let id = sim.add_fault(
        r#"{"kind":"error_burst","targets":{"index":1},"share_of_requests":0.5,"code":503}"#,
    );
    assert!(eventually(SETTLE, || {
        let doc = get_stats(targets[1]);
        rate_of(&doc, 503) * 3 > doc.request_rates.values().sum::<u64>()
    }));
    assert_eq!(
        rate_of(&get_stats(targets[0]), 503),
        0,
        "other instances are untouched"
    );
    let (status, cleared) = sim.admin("DELETE", &format!("/faults/{id}"), "");
    assert_eq!(status, 200, "{cleared}");
    assert!(eventually(SETTLE, || rate_of(&get_stats(targets[1]), 503) == 0));
    assert!(
        get_stats(targets[1]).request_counters[&503] > 0,
        "lifetime counters keep the burst"
    );
}

#[test]
fn latency_multiplies_durations_until_cleared() {
    let sim = Sim::start(&["--instances", "2"]);
    let target = sim.targets()[0];
    let id =
        sim.add_fault(r#"{"kind":"latency","targets":{"index":0},"factor":10,"shift":"50ms"}"#);
    assert!(eventually(SETTLE, || get_stats(target).duration.average > 0.3));
    sim.admin("DELETE", &format!("/faults/{id}"), "");
    assert!(eventually(SETTLE, || get_stats(target).duration.average < 0.1));
}

#[test]
fn traffic_drop_and_surge_change_the_rate_until_cleared() {
    let sim = Sim::start(&["--instances", "2"]);
    let targets = sim.targets();
    sim.add_fault(r#"{"kind":"traffic","targets":{"index":0},"factor":0}"#);
    sim.add_fault(r#"{"kind":"traffic","targets":{"index":1},"factor":5}"#);
    assert!(eventually(SETTLE, || get_stats(targets[0])
        .request_rates
        .is_empty()));
    assert!(eventually(SETTLE, || get_stats(targets[1])
        .request_rates
        .values()
        .sum::<u64>()
        > 300));
    let (status, cleared) = sim.admin("DELETE", "/faults", "");
    assert_eq!(status, 200);
    assert_eq!(cleared["cleared"].as_array().unwrap().len(), 2);
    assert!(eventually(SETTLE, || (30..250).contains(
        &get_stats(targets[0]).request_rates.values().sum::<u64>()
    )));
    assert!(eventually(SETTLE, || get_stats(targets[1])
        .request_rates
        .values()
        .sum::<u64>()
        < 250));
}

#[test]
fn slow_stats_delays_the_answer_until_cleared() {
    let sim = Sim::start(&[]);
    let target = sim.targets()[0];
    let id = sim.add_fault(r#"{"kind":"slow_stats","targets":{"all":true},"delay":"1500ms"}"#);
    let started = Instant::now();
    get_stats(target);
    assert!(
        started.elapsed() >= Duration::from_millis(1_400),
        "answered after {:?}",
        started.elapsed()
    );
    sim.admin("DELETE", &format!("/faults/{id}"), "");
    let started = Instant::now();
    get_stats(target);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn hang_accepts_and_never_answers_until_cleared() {
    let sim = Sim::start(&["--instances", "2"]);
    let target = sim.targets()[1];
    let id = sim.add_fault(r#"{"kind":"hang","targets":{"index":1}}"#);
    let error = http(target, "GET", "/stats", "", Duration::from_millis(800)).unwrap_err();
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{error}"
    );
    let waiting =
        std::thread::spawn(move || http(target, "GET", "/stats", "", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    sim.admin("DELETE", &format!("/faults/{id}"), "");
    let (status, _) = waiting
        .join()
        .unwrap()
        .expect("a held request is answered once the hang ends");
    assert_eq!(status, 200);
    get_stats(target);
}

#[test]
fn down_refuses_connections_and_reopens_the_same_port_when_cleared_or_expired() {
    let sim = Sim::start(&["--instances", "2"]);
    let targets = sim.targets();
    let id = sim.add_fault(r#"{"kind":"down","targets":{"index":0}}"#);
    assert!(eventually(SETTLE, || get_stats_raw(targets[0]).is_err_and(
        |e| e.kind() == std::io::ErrorKind::ConnectionRefused
    )));
    get_stats(targets[1]);
    let (_, instances) = sim.admin("GET", "/instances", "");
    assert_eq!(instances["instances"][0]["up"], false);
    sim.admin("DELETE", &format!("/faults/{id}"), "");
    assert!(eventually(SETTLE, || get_stats_raw(targets[0]).is_ok()));
    let resumed = get_stats(targets[0]).duration.count;
    assert!(
        eventually(SETTLE, || get_stats(targets[0]).duration.count > resumed),
        "traffic resumes"
    );

    sim.add_fault(r#"{"kind":"down","targets":{"index":1},"duration":"1s"}"#);
    assert!(eventually(SETTLE, || get_stats_raw(targets[1]).is_err()));
    assert!(
        eventually(SETTLE, || get_stats_raw(targets[1]).is_ok()),
        "a timed down ends by itself"
    );
}

#[test]
fn restart_resets_counters_once_or_repeatedly() {
    let sim = Sim::start(&["--instances", "2"]);
    let targets = sim.targets();
    std::thread::sleep(Duration::from_millis(1_500));
    let before = get_stats(targets[0]).duration.count;
    assert!(before > 50);
    sim.add_fault(r#"{"kind":"restart","targets":{"index":0}}"#);
    assert!(get_stats(targets[0]).duration.count < before);

    let id = sim.add_fault(r#"{"kind":"restart","targets":{"index":1},"every":"1s"}"#);
    let (mut resets, mut previous) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(3_500) {
        let count = get_stats(targets[1]).duration.count;
        resets += usize::from(count < previous);
        previous = count;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(resets >= 2, "{resets} resets in 3.5s");
    sim.admin("DELETE", &format!("/faults/{id}"), "");
    let count = get_stats(targets[1]).duration.count;
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(
        get_stats(targets[1]).duration.count > count,
        "no restart after clearing"
    );
}

#[test]
fn broken_output_answers_malformed_json_a_wrong_shape_or_a_500_until_cleared() {
    let sim = Sim::start(&["--instances", "3"]);
    let targets = sim.targets();
    sim.add_fault(r#"{"kind":"broken_output","targets":{"index":0},"mode":"malformed"}"#);
    sim.add_fault(r#"{"kind":"broken_output","targets":{"index":1},"mode":"wrong_shape"}"#);
    sim.add_fault(r#"{"kind":"broken_output","targets":{"index":2},"mode":"http_500"}"#);
    let (status, body) = get_stats_raw(targets[0]).unwrap();
    assert_eq!(status, 200);
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_err(),
        "{body}"
    );
    let (status, body) = get_stats_raw(targets[1]).unwrap();
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
    assert!(
        serde_json::from_str::<StatsDocument>(&body).is_err(),
        "{body}"
    );
    assert_eq!(get_stats_raw(targets[2]).unwrap().0, 500);
    sim.admin("DELETE", "/faults", "");
    for target in targets {
        get_stats(target);
    }
}

#[test]
fn faults_given_at_start_up_are_active_and_listed() {
    let sim = Sim::start(&[
        "--instances",
        "3",
        "--fault",
        "kind=down,index=1",
        "--fault",
        "kind=error_burst,zone=zone-c,code=502",
    ]);
    let targets = sim.targets();
    assert!(get_stats_raw(targets[1]).is_err());
    assert!(eventually(SETTLE, || rate_of(&get_stats(targets[2]), 502) > 0));
    let (_, listed) = sim.admin("GET", "/faults", "");
    let kinds: Vec<&str> = listed["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["down", "error_burst"]);
}
