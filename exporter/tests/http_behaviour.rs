//! HTTP behaviour: the exporter library served in-process on port 0 against fake upstreams on
//! loopback, every exposition checked with promtool. What only a process has (flags as the
//! binary reads them, signals, exit codes, logs) is tested in `exporter.rs`.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use common::client::{Endpoint, http_get};
use common::exposition::{
    assert_openmetrics_parses, assert_promtool_accepts, target_series, value_of,
};
use common::in_process::InProcess;
use common::upstream::{Behaviour, SAMPLE, SAMPLE_SERIES, Upstream, rejected_documents};

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn probe(exporter: &Endpoint, target: &str) -> String {
    let response = exporter.get(&format!("/probe?target={target}"));
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    assert_promtool_accepts(&text);
    text
}

#[test]
fn sidecar_metrics_show_the_sample_with_types_and_the_exporters_own_metrics() {
    let upstream = Upstream::sample();
    let exporter = InProcess::start(&[&format!("--syseng.stats-uri={}", upstream.stats_uri())]);
    let response = exporter.get("/metrics");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.text();
    assert_promtool_accepts(&text);
    assert_eq!(target_series(&text), SAMPLE_SERIES);
    for type_line in [
        "# TYPE syseng_up gauge",
        "# TYPE syseng_http_requests_total counter",
        "# TYPE syseng_http_request_duration_seconds summary",
        "# TYPE syseng_scrape_duration_seconds gauge",
        "# TYPE syseng_exporter_build_info gauge",
        "# TYPE syseng_exporter_scrapes_total counter",
        "# TYPE syseng_exporter_scrape_errors_total counter",
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_open_fds gauge",
        "# TYPE process_start_time_seconds gauge",
    ] {
        assert!(text.contains(type_line), "missing {type_line:?} in\n{text}");
    }
    assert!(value_of(&text, "syseng_scrape_duration_seconds").unwrap() > 0.0);
    assert_eq!(
        value_of(&text, "syseng_exporter_scrapes_total{result=\"success\"}"),
        Some(1.0)
    );
    for absent in ["requestRates", "average", "quantile"] {
        assert!(!text.contains(absent), "{absent} must not be exported");
    }
}

#[test]
fn probe_serves_one_targets_metrics_only() {
    let sidecar_upstream = Upstream::start(Behaviour::Status(500));
    let probed = Upstream::sample();
    let exporter = InProcess::start(&[&format!(
        "--syseng.stats-uri={}",
        sidecar_upstream.stats_uri()
    )]);
    let text = probe(&exporter, &probed.target());
    assert_eq!(target_series(&text), SAMPLE_SERIES);
    assert!(!text.contains("syseng_exporter_"), "{text}");
    assert!(!text.contains("process_"), "{text}");
    // A full URL works as well.
    let text = probe(&exporter, &probed.stats_uri());
    assert_eq!(target_series(&text), SAMPLE_SERIES);
    assert_eq!(
        sidecar_upstream
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[test]
fn empty_stats_uri_serves_only_the_exporters_own_metrics() {
    let exporter = InProcess::start(&["--syseng.stats-uri="]);
    let text = exporter.get("/metrics").text();
    assert_promtool_accepts(&text);
    assert!(!text.contains("syseng_up"), "{text}");
    assert!(text.contains("syseng_exporter_build_info{version=\""));
}

/// Each bad upstream, the reason it must be reported under, and what it sends.
fn failure_cases() -> Vec<(String, &'static str, Behaviour)> {
    let mut cases: Vec<_> = [
        (
            "upstream closes without answering",
            "connection",
            Behaviour::Close,
        ),
        ("HTTP 500", "http_status", Behaviour::Status(500)),
        ("HTTP 404", "http_status", Behaviour::Status(404)),
        (
            "slow upstream past the timeout",
            "timeout",
            Behaviour::Slow(Duration::from_secs(5), SAMPLE.into()),
        ),
        ("hanging upstream", "timeout", Behaviour::Hang),
        (
            "declared body over 1 MiB",
            "body_too_large",
            Behaviour::Large {
                bytes: 2 << 20,
                chunked: false,
            },
        ),
        (
            "chunked body over 1 MiB",
            "body_too_large",
            Behaviour::Large {
                bytes: 2 << 20,
                chunked: true,
            },
        ),
        (
            "response cut short",
            "connection",
            Behaviour::Raw(
                b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"requestCounters\"".to_vec(),
            ),
        ),
        (
            "not HTTP",
            "connection",
            Behaviour::Raw(b"SSH-2.0-OpenSSH\r\n".to_vec()),
        ),
    ]
    .into_iter()
    .map(|(what, reason, behaviour)| (what.to_owned(), reason, behaviour))
    .collect();
    // Every document of testdata/rejected, under the reason its expected error names.
    for (path, document) in rejected_documents() {
        let error = std::fs::read_to_string(path.with_extension("error")).unwrap();
        let reason = if error.starts_with("invalid JSON: ") {
            "invalid_json"
        } else if error.starts_with("invalid document: ") {
            "invalid_document"
        } else {
            panic!("{}: unexpected error {error:?}", path.display())
        };
        let document = String::from_utf8(document).unwrap();
        cases.push((
            path.display().to_string(),
            reason,
            Behaviour::Json(document),
        ));
    }
    cases
}

#[test]
fn every_bad_upstream_reports_down_with_its_reason_and_the_exporter_keeps_serving() {
    let exporter = InProcess::start(&["--syseng.stats-uri=", "--syseng.timeout=1s"]);
    let healthy = Upstream::sample();
    let mut expected_errors = std::collections::BTreeMap::new();
    for (what, reason, behaviour) in failure_cases() {
        let upstream = Upstream::start(behaviour);
        let text = probe(&exporter, &upstream.target());
        assert_eq!(target_series(&text), ["syseng_up 0"], "{what}: {text}");
        *expected_errors.entry(reason).or_insert(0.0) += 1.0;
        // Still serving, and a good target still works.
        assert_eq!(
            target_series(&probe(&exporter, &healthy.target())),
            SAMPLE_SERIES,
            "after {what}"
        );
    }
    // Nothing listens on a port whose listener was just closed.
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = probe(&exporter, &refused.to_string());
    assert_eq!(target_series(&text), ["syseng_up 0"]);
    *expected_errors.entry("connection").or_insert(0.0) += 1.0;

    let own = exporter.get("/metrics").text();
    assert_promtool_accepts(&own);
    for (reason, count) in &expected_errors {
        assert_eq!(
            value_of(
                &own,
                &format!("syseng_exporter_scrape_errors_total{{reason=\"{reason}\"}}")
            ),
            Some(*count),
            "reason {reason}\n{own}"
        );
    }
    let failures: f64 = expected_errors.values().sum();
    assert_eq!(
        value_of(&own, "syseng_exporter_scrapes_total{result=\"failure\"}"),
        Some(failures)
    );
}

#[test]
fn status_code_keys_that_are_not_codes_are_skipped_counted_and_cannot_inject_series() {
    let upstream = Upstream::start(Behaviour::Json(
        r#"{"requestCounters":{"200":5,"2000":1,"abc":1,"099":1,"200\"} 1\nfake_series 1\n#":1,"503":2},
            "duration":{"count":12,"sum":0.5}}"#
            .into(),
    ));
    let exporter = InProcess::start(&[&format!("--syseng.stats-uri={}", upstream.stats_uri())]);
    let text = exporter.get("/metrics").text();
    assert_promtool_accepts(&text);
    assert_eq!(
        target_series(&text),
        [
            "syseng_up 1",
            "syseng_http_requests_total{code=\"200\"} 5",
            "syseng_http_requests_total{code=\"503\"} 2",
            "syseng_http_request_duration_seconds_sum 0.5",
            "syseng_http_request_duration_seconds_count 12",
        ]
    );
    assert!(!text.contains("fake_series"));
    assert_eq!(
        value_of(&text, "syseng_exporter_skipped_status_codes_total"),
        Some(4.0)
    );
}

#[test]
fn probe_rejects_bad_targets_with_400_and_a_reason() {
    let exporter = InProcess::start(&["--syseng.stats-uri="]);
    for (query, reason) in [
        ("", "missing parameter"),
        ("?target=", "target is empty"),
        ("?target=localhost", "needs a port"),
        ("?target=ftp://h:21/stats", "scheme must be http or https"),
        ("?target=a:1&target=b:2", "more than once"),
        ("?target=h%0A%22:1", "neither host:port nor"),
        ("?target=user@h:1", "neither host:port nor"),
        ("?target=127.0.0.1:-1", "not a number from 1 to 65535"),
        ("?target=127.0.0.1:%2B80", "not a number from 1 to 65535"),
        ("?target=127.0.0.1:0080", "without leading zeros"),
        ("?target=127.0.0.1:65536", "not a number from 1 to 65535"),
        ("?target=127.0.0.1:0", "not a number from 1 to 65535"),
        (
            "?target=http://127.0.0.1:-1/stats",
            "not a number from 1 to 65535",
        ),
        (
            "?target=http%3A%2F%2F127.0.0.1%3A000001%2Fstats",
            "without leading zeros",
        ),
    ] {
        let response = exporter.get(&format!("/probe{query}"));
        assert_eq!(response.status, 400, "{query}");
        let body = response.text();
        assert!(body.contains(reason), "{query}: {body}");
        assert_eq!(body.lines().count(), 1, "one-line reason: {body:?}");
    }
    assert_eq!(exporter.get("/-/healthy").status, 200);
}

#[test]
fn scrapes_beyond_max_requests_get_503_and_are_counted() {
    let hanging = Upstream::start(Behaviour::Hang);
    let exporter = InProcess::start(&[
        "--syseng.stats-uri=",
        "--web.max-requests=2",
        "--syseng.timeout=2s",
    ]);
    let address = exporter.address;
    let path = format!("/probe?target={}", hanging.target());
    let running: Vec<_> = (0..2)
        .map(|_| {
            let path = path.clone();
            thread::spawn(move || http_get(address, &path, &[]))
        })
        .collect();
    hanging.wait_for_requests(2);
    let rejected = exporter.get(&path);
    assert_eq!(rejected.status, 503);
    assert!(rejected.text().contains("--web.max-requests=2"));
    assert_eq!(exporter.get("/metrics").status, 503, "/metrics counts too");
    assert_eq!(
        exporter.get("/-/healthy").status,
        200,
        "health is never limited"
    );
    for handle in running {
        let response = handle.join().unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(target_series(&response.text()), ["syseng_up 0"]);
    }
    let own = exporter.get("/metrics").text();
    assert_eq!(
        value_of(&own, "syseng_exporter_rejected_requests_total"),
        Some(2.0)
    );
    assert_eq!(
        value_of(
            &own,
            "syseng_exporter_scrape_errors_total{reason=\"timeout\"}"
        ),
        Some(2.0)
    );
}

#[test]
fn prometheus_gets_openmetrics_and_plain_clients_get_text() {
    let upstream = Upstream::sample();
    let exporter = InProcess::start(&[&format!("--syseng.stats-uri={}", upstream.stats_uri())]);
    let response = exporter.get_with("/metrics", &[("Accept", PROMETHEUS_ACCEPT)]);
    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = response.text();
    assert_openmetrics_parses(&text);
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE syseng_http_requests counter\n"));
    assert!(text.contains("# TYPE syseng_exporter_scrapes counter\n"));
    assert_eq!(target_series(&text), SAMPLE_SERIES);

    let plain = exporter.get_with("/metrics", &[("Accept", "text/plain")]);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!plain.text().contains("# EOF"));
}

/// Prometheus 3's request headers, as it sends them by default and with native histograms on
/// (protobuf first); Prometheus 3 itself cannot be installed here, so they are replayed.
const PROMETHEUS_3_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const PROMETHEUS_3_PROTOBUF_FIRST: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

#[test]
fn prometheus_3_requests_get_openmetrics_labelled_with_their_escaping() {
    let upstream = Upstream::sample();
    let exporter = InProcess::start(&[&format!("--syseng.stats-uri={}", upstream.stats_uri())]);
    for accept in [PROMETHEUS_3_ACCEPT, PROMETHEUS_3_PROTOBUF_FIRST] {
        let response = exporter.get_with(
            "/metrics",
            &[
                ("Accept", accept),
                ("Accept-Encoding", "gzip"),
                ("User-Agent", "Prometheus/3.5.0"),
                ("X-Prometheus-Scrape-Timeout-Seconds", "10"),
            ],
        );
        assert_eq!(response.status, 200);
        // OpenMetrics 1.0.0; the names are legacy names, unchanged by any escaping scheme,
        // and the scheme asked for is named as client_golang names it.
        assert_eq!(
            response.header("content-type"),
            Some(
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
            ),
            "{accept}"
        );
        assert_eq!(response.header("content-encoding"), Some("gzip"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(&response.body[..])
            .read_to_string(&mut text)
            .expect("valid gzip");
        assert_openmetrics_parses(&text);
        assert_eq!(target_series(&text), SAMPLE_SERIES);
    }
    // Text format 1.0.0 asked alone: the text format, which 1.0.0 readers read.
    let text = exporter.get_with(
        "/metrics",
        &[("Accept", "text/plain;version=1.0.0;escaping=underscores")],
    );
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8; escaping=underscores")
    );
    assert_promtool_accepts(&text.text());
    // A quoted version is read as the bare one.
    let quoted = exporter.get_with(
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=\"1.0.0\"")],
    );
    assert_eq!(
        quoted.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    // gzip refused by name is not taken back by a wildcard.
    let refused = exporter.get_with("/metrics", &[("Accept-Encoding", "gzip;q=0, *")]);
    assert_eq!(refused.header("content-encoding"), None);
    assert!(refused.text().contains("syseng_up 1"));
}

#[test]
fn gzip_is_sent_when_accepted_and_decodes_to_the_same_metrics() {
    let upstream = Upstream::sample();
    let exporter = InProcess::start(&[&format!("--syseng.stats-uri={}", upstream.stats_uri())]);
    let compressed = exporter.get_with("/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(compressed.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed.body[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    assert_promtool_accepts(&text);
    assert_eq!(target_series(&text), SAMPLE_SERIES);

    let identity = exporter.get_with("/metrics", &[("Accept-Encoding", "identity")]);
    assert_eq!(identity.header("content-encoding"), None);
    assert!(identity.text().contains("syseng_up 1"));

    // One target's answer fits in a packet: compressing it would save nothing.
    let small = exporter.get_with(
        &format!("/probe?target={}", upstream.target()),
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(small.header("content-encoding"), None);
    assert!(small.body.len() < 1400);
    assert_eq!(target_series(&small.text()), SAMPLE_SERIES);
}

#[test]
fn scrapers_timeout_header_shortens_the_deadline() {
    let slow = Upstream::start(Behaviour::Slow(Duration::from_secs(10), SAMPLE.into()));
    let exporter = InProcess::start(&["--syseng.stats-uri=", "--syseng.timeout=30s"]);
    let started = Instant::now();
    let response = exporter.get_with(
        &format!("/probe?target={}", slow.target()),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    );
    let text = response.text();
    assert_eq!(target_series(&text), ["syseng_up 0"]);
    let measured = value_of(&text, "syseng_scrape_duration_seconds").unwrap();
    assert!((0.9..1.5).contains(&measured), "scrape took {measured} s");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn upstream_connections_are_kept_alive_between_scrapes() {
    let upstream = Upstream::sample();
    let exporter = InProcess::start(&["--syseng.stats-uri="]);
    for _ in 0..12 {
        probe(&exporter, &upstream.target());
    }
    let connections = upstream
        .connections
        .load(std::sync::atomic::Ordering::SeqCst);
    // One pool for every worker thread: one target scraped in turn needs one connection.
    assert_eq!(connections, 1, "{connections} connections for 12 scrapes");
    assert_eq!(
        upstream.requests.load(std::sync::atomic::Ordering::SeqCst),
        12,
        "no caching"
    );
}

#[test]
fn landing_page_lists_recent_scrapes_and_other_paths_answer_as_documented() {
    let upstream = Upstream::sample();
    let failing = Upstream::start(Behaviour::Json("nope".into()));
    let exporter = InProcess::start(&[&format!("--syseng.stats-uri={}", upstream.stats_uri())]);
    exporter.get("/metrics");
    probe(&exporter, &failing.target());
    let page = exporter.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(html.contains(&upstream.stats_uri()));
    assert!(html.contains(&format!("http://{}/stats", failing.target())));
    assert!(html.contains("invalid_json"));
    assert!(html.contains("href=\"/metrics\""));

    assert_eq!(exporter.get("/-/healthy").status, 200);
    assert_eq!(exporter.get("/-/ready").status, 200);
    assert_eq!(exporter.get("/nope").status, 404);
    assert_eq!(exporter.get("/metrics/extra").status, 404);
}

#[test]
fn probe_refuses_targets_outside_the_allowlist_with_403_and_a_reason() {
    let upstream = Upstream::sample();
    let exporter = InProcess::start(&[
        "--syseng.stats-uri=",
        "--probe.allowed-targets=127.0.0.0/8:*,*.internal",
    ]);
    assert_eq!(
        target_series(&probe(&exporter, &upstream.target())),
        SAMPLE_SERIES
    );
    for (target, reason) in [
        ("10.1.2.3:8080", "not in --probe.allowed-targets"),
        ("localhost:8080", "not in --probe.allowed-targets"),
        (
            &format!("http://{}/metrics", upstream.target()),
            "only the service's /stats",
        ),
        (
            &format!("http://{}/", upstream.target()),
            "only the service's /stats",
        ),
    ] {
        let response = exporter.get(&format!("/probe?target={target}"));
        assert_eq!(response.status, 403, "{target}");
        assert!(
            response.text().contains(reason),
            "{target}: {}",
            response.text()
        );
    }
    assert_eq!(
        upstream.requests.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "refused targets are never fetched"
    );
}

#[test]
fn concurrent_probes_of_one_target_are_limited_with_429() {
    let hanging = Upstream::start(Behaviour::Hang);
    let other = Upstream::sample();
    let exporter = InProcess::start(&[
        "--syseng.stats-uri=",
        "--probe.max-concurrent-per-target=1",
        "--syseng.timeout=2s",
    ]);
    let address = exporter.address;
    let path = format!("/probe?target={}", hanging.target());
    let running = thread::spawn(move || http_get(address, &path, &[]));
    hanging.wait_for_requests(1);
    let refused = exporter.get(&format!("/probe?target={}", hanging.target()));
    assert_eq!(refused.status, 429);
    assert!(
        refused
            .text()
            .contains("--probe.max-concurrent-per-target=1")
    );
    // Other targets are not affected.
    assert_eq!(
        target_series(&probe(&exporter, &other.target())),
        SAMPLE_SERIES
    );
    assert_eq!(running.join().unwrap().status, 200);
    assert_eq!(
        hanging.requests.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

/// The shutdown future is to `run` what SIGTERM is to the binary: the in-flight scrape is
/// answered in full, then `run` returns and nothing listens any more.
#[test]
fn completing_the_shutdown_future_finishes_in_flight_scrapes_then_run_returns() {
    let slow = Upstream::start(Behaviour::Slow(Duration::from_millis(1500), SAMPLE.into()));
    let exporter = InProcess::start(&["--syseng.stats-uri="]);
    let address = exporter.address;
    let path = format!("/probe?target={}", slow.target());
    let in_flight = thread::spawn(move || http_get(address, &path, &[]));
    slow.wait_for_requests(1);
    let started = Instant::now();
    exporter.shut_down().expect("run returns Ok");
    assert!(
        started.elapsed() > Duration::from_millis(500),
        "did not wait for the scrape"
    );
    let response = in_flight.join().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(target_series(&response.text()), SAMPLE_SERIES);
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "no longer listening"
    );
}
