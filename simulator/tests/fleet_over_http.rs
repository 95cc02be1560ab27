//! A fleet served over real HTTP: the `/stats` contract, file_sd, resizing and scale.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Sim, eventually, get_stats, get_stats_raw, http};
use serde_json::{Value, json};

#[test]
fn three_instances_serve_stats_that_follow_the_service_contract() {
    let sim = Sim::start(&["--instances", "3"]);
    let targets = sim.targets();
    assert_eq!(targets.len(), 3);
    std::thread::sleep(Duration::from_millis(1_200));
    let read = |target| (get_stats(target), Instant::now());
    let mut previous: Vec<_> = targets.iter().map(|&t| read(t)).collect();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1_000));
        for (target, (before, read_at)) in targets.iter().zip(&mut previous) {
            let (now, now_at) = read(*target);
            assert_eq!(
                now.duration.count,
                now.request_counters.values().sum::<u64>()
            );
            assert!(now.duration.sum >= before.duration.sum);
            for (code, n) in &before.request_counters {
                assert!(now.request_counters[code] >= *n, "monotonic");
            }
            // The rates cover the last second: compare them with the increments per second
            // between the two reads, whose spacing a busy machine can stretch.
            let seconds = now_at.duration_since(*read_at).as_secs_f64();
            let per_second = (now.duration.count - before.duration.count) as f64 / seconds;
            let rates = now.request_rates.values().sum::<u64>() as f64;
            assert!(
                (rates - per_second).abs() <= 0.25 * per_second + 10.0,
                "rates {rates}, increments/s {per_second}"
            );
            assert!(
                now.duration.average > 0.005 && now.duration.average < 0.2,
                "{now:?}"
            );
            (*before, *read_at) = (now, now_at);
        }
    }
}

#[test]
fn stats_is_json_and_other_paths_are_not_found() {
    let sim = Sim::start(&[]);
    let target = sim.targets()[0];
    let mut stream = std::net::TcpStream::connect(target).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{response}"
    );
    assert_eq!(
        http(target, "GET", "/metrics", "", Duration::from_secs(5))
            .unwrap()
            .0,
        404
    );
    assert_eq!(
        http(target, "GET", "/", "", Duration::from_secs(5))
            .unwrap()
            .0,
        404
    );
}

fn file_sd(sim: &Sim) -> Value {
    serde_json::from_slice(&std::fs::read(&sim.file_sd).unwrap()).unwrap()
}

#[test]
fn file_sd_lists_every_instance_with_its_zone_and_follows_resizes() {
    let sim = Sim::start(&["--instances", "4", "--zones", "3"]);
    let groups = file_sd(&sim);
    let zones: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["labels"]["zone"].as_str().unwrap())
        .collect();
    assert_eq!(zones, ["zone-a", "zone-b", "zone-c", "zone-a"]);
    assert_eq!(groups[1]["labels"], json!({"zone": "zone-b", "index": "1"}));
    let (_, instances) = sim.admin("GET", "/instances", "");
    for (group, instance) in groups
        .as_array()
        .unwrap()
        .iter()
        .zip(instances["instances"].as_array().unwrap())
    {
        assert_eq!(group["targets"][0], instance["address"]);
    }

    let (status, reply) = sim.admin("PUT", "/instances", r#"{"count":6}"#);
    assert_eq!((status, reply), (200, json!({"count": 6})));
    let grown = sim.targets();
    assert_eq!(grown.len(), 6);
    assert_eq!(
        &grown[..4],
        &sim.targets()[..4],
        "existing targets keep their address"
    );
    get_stats(grown[5]);

    sim.admin("PUT", "/instances", r#"{"count":2}"#);
    assert_eq!(sim.targets().len(), 2);
    assert!(
        eventually(Duration::from_secs(5), || get_stats_raw(grown[4]).is_err()),
        "removed instances stop answering"
    );
    get_stats(grown[1]);
    let leftovers: Vec<_> = std::fs::read_dir(sim.file_sd.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn a_fleet_of_500_instances_starts_and_every_instance_answers() {
    let sim = Sim::start(&["--instances", "500"]);
    let targets: Vec<SocketAddr> = sim.targets();
    assert_eq!(targets.len(), 500);
    let mut ports: Vec<u16> = targets.iter().map(SocketAddr::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 500);
    for target in targets {
        let doc = get_stats(target);
        assert_eq!(
            doc.duration.count,
            doc.request_counters.values().sum::<u64>()
        );
    }
    let (_, instances) = sim.admin("GET", "/instances", "");
    assert_eq!(instances["instances"].as_array().unwrap().len(), 500);
    assert_eq!(instances["instances"][499]["zone"], "zone-b");
}

#[test]
fn consecutive_ports_from_the_listen_address() {
    // A random high base, retried on conflict, keeps parallel test runs apart.
    for attempt in 0..10u16 {
        let base = 20_000 + (std::process::id() as u16 % 2_000) * 10 + attempt * 3;
        let listen = format!("127.0.0.1:{base}");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_syseng_sim"))
            .args([
                "--instances",
                "3",
                "--listen-address",
                &listen,
                "--admin.listen-address",
                "127.0.0.1:0",
            ])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let answered = eventually(Duration::from_secs(5), || {
            (0..3)
                .all(|i| get_stats_raw(format!("127.0.0.1:{}", base + i).parse().unwrap()).is_ok())
                || child.try_wait().ok().flatten().is_some()
        });
        let exited = child.try_wait().unwrap().is_some();
        let _guard = Kill(child);
        if answered && !exited {
            return;
        }
    }
    panic!("no free range of three ports found");
}
