//! The exporter as a fleet uses it: scrapers that keep their connections alive, targets probed
//! over reused upstream connections, signals while probes are in flight, idle connections on
//! both sides, and callers that send long or hostile targets.

mod common;

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::STEP_TIMEOUT;
use common::client::Client;
use common::exposition::value_of;
use common::process::Exporter;
use common::upstream::{Behaviour, SAMPLE, Upstream};

fn probe_path(upstream: &Upstream) -> String {
    format!("/probe?target={}", upstream.target())
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < STEP_TIMEOUT,
            "timed out waiting: {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM while slow probes run on reused upstream connections, from scrapers whose
/// connections are kept alive and spread over the worker threads: every probe is answered
/// with the target's metrics, then the exporter exits 0.
#[test]
fn sigterm_finishes_every_probe_on_reused_connections_then_exits_zero() {
    const SCRAPERS: usize = 8;
    for trial in 0..3 {
        let upstreams: Vec<Upstream> = (0..2).map(|_| Upstream::sample()).collect();
        let mut exporter =
            Exporter::start(&["--syseng.stats-uri=", "--probe.max-concurrent-per-target=8"]);
        let mut clients: Vec<Client> = (0..SCRAPERS)
            .map(|_| Client::new(exporter.address))
            .collect();
        // Warm up: every scraper probes both targets at once, so several upstream
        // connections per target enter the pool, opened by whichever worker served them; the
        // slow probes below then run on those.
        let warm: Vec<_> = clients
            .drain(..)
            .map(|mut client| {
                let paths: Vec<String> = upstreams.iter().map(probe_path).collect();
                thread::spawn(move || {
                    for path in &paths {
                        assert_eq!(client.get(path, &[]).status, 200);
                    }
                    client
                })
            })
            .collect();
        clients = warm.into_iter().map(|h| h.join().unwrap()).collect();
        let opened: usize = upstreams
            .iter()
            .map(|u| u.connections.load(Ordering::SeqCst))
            .sum();

        for upstream in &upstreams {
            upstream.set(Behaviour::Slow(Duration::from_millis(1200), SAMPLE.into()));
        }
        let seen_before: usize = upstreams
            .iter()
            .map(|u| u.requests.load(Ordering::SeqCst))
            .sum();
        let in_flight: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(index, mut client)| {
                let path = probe_path(&upstreams[index % 2]);
                thread::spawn(move || client.get(&path, &[]))
            })
            .collect();
        wait_until("every probe reached its target", || {
            upstreams
                .iter()
                .map(|u| u.requests.load(Ordering::SeqCst))
                .sum::<usize>()
                >= seen_before + SCRAPERS
        });
        let total_opened: usize = upstreams
            .iter()
            .map(|u| u.connections.load(Ordering::SeqCst))
            .sum();
        assert!(
            total_opened - opened < SCRAPERS,
            "trial {trial}: the slow probes should run on pooled connections \
             ({} new connections for {SCRAPERS} probes)",
            total_opened - opened
        );
        exporter.signal("TERM");
        for (index, handle) in in_flight.into_iter().enumerate() {
            let response = handle.join().unwrap();
            assert_eq!(response.status, 200, "trial {trial}, probe {index}");
            assert_eq!(
                value_of(&response.text(), "syseng_up"),
                Some(1.0),
                "trial {trial}, probe {index}: {}",
                response.text()
            );
        }
        assert_eq!(exporter.wait_exit(Duration::from_secs(10)), Some(0));
        let logs = exporter.logs();
        assert!(
            !logs.iter().any(|line| line.contains("level=warn")),
            "trial {trial}: {logs:#?}"
        );
    }
}

#[test]
fn an_idle_upstream_connection_is_closed_after_the_idle_timeout() {
    let upstream = Upstream::sample();
    let exporter = Exporter::start(&[
        "--syseng.stats-uri=",
        "--syseng.idle-connection-timeout=1500ms",
    ]);
    assert_eq!(exporter.get(&probe_path(&upstream)).status, 200);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(
        upstream.open_connections.load(Ordering::SeqCst),
        1,
        "kept while younger than the timeout"
    );
    assert_eq!(exporter.get(&probe_path(&upstream)).status, 200);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1, "reused");
    let idle_from = Instant::now();
    wait_until("the idle connection is closed", || {
        upstream.open_connections.load(Ordering::SeqCst) == 0
    });
    let idled = idle_from.elapsed();
    assert!(
        idled >= Duration::from_millis(1200),
        "closed after {idled:?}, before the timeout"
    );
    // The next probe simply connects again.
    assert_eq!(exporter.get(&probe_path(&upstream)).status, 200);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2);
}

/// Prometheus scrapes every 15 s or more and keeps its connection open in between (for up to
/// 5 minutes): that connection must still be there for the next scrape.
#[test]
fn a_scraper_connection_idle_for_longer_than_15_seconds_is_reused() {
    let upstream = Upstream::sample();
    let exporter = Exporter::start(&["--syseng.stats-uri="]);
    let mut client = Client::new(exporter.address);
    assert_eq!(client.get(&probe_path(&upstream), &[]).status, 200);
    thread::sleep(Duration::from_secs(16));
    assert!(!client.is_closed_by_server(), "closed while idle");
    assert_eq!(client.get(&probe_path(&upstream), &[]).status, 200);
    assert_eq!(client.connections_opened, 1);
}

/// A request head that has started must still finish in bounded time: a client that sends
/// half a head and stops is disconnected.
#[test]
fn a_request_head_that_stalls_is_cut_off() {
    use std::io::{Read, Write};
    let exporter = Exporter::start(&["--syseng.stats-uri="]);
    let mut stream = std::net::TcpStream::connect(exporter.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    stream
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(30),
        "cut after {waited:?}"
    );
}

/// Long and distinct targets cannot grow the exporter: over-long and malformed ones are
/// refused before anything is remembered, and what is remembered of the rest is bounded.
#[test]
fn a_flood_of_long_distinct_targets_leaves_memory_and_the_landing_page_bounded() {
    let exporter = Exporter::start(&["--syseng.stats-uri=", "--probe.allowed-targets=127.0.0.0/8"]);
    let warm = exporter.get("/probe?target=127.0.0.1:9");
    assert_eq!(warm.status, 200);
    let before = rss_kib(exporter.pid());
    let mut client = Client::new(exporter.address);
    for index in 0..3_000u32 {
        let padded = format!(
            "/probe?target=127.0.0.1:{}{}",
            "0".repeat(10_000),
            index + 1
        );
        assert_eq!(client.get(&padded, &[]).status, 400, "zero-padded port");
        let long_name = format!(
            "/probe?target={}{index}.example:80",
            ("a".repeat(63) + ".").repeat(3)
        );
        assert_eq!(
            client.get(&long_name, &[]).status,
            403,
            "a name, not in the allowlist"
        );
        // Distinct targets that are probed (and fail: nothing listens on port 9).
        let distinct = format!(
            "/probe?target=127.{}.{}.{}:9",
            index >> 16,
            (index >> 8) & 255,
            index & 255
        );
        assert_eq!(client.get(&distinct, &[]).status, 200);
    }
    let after = rss_kib(exporter.pid());
    let page = exporter.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.body.len() < 64 * 1024,
        "landing page {} bytes",
        page.body.len()
    );
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}
