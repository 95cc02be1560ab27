//! The exporter binary as a process: what only a process has, flags as the binary reads them,
//! signals, exit codes and logs. HTTP behaviour is tested in-process in `http_behaviour.rs`.

mod common;

use std::thread;
use std::time::Duration;

use common::client::http_get;
use common::exposition::target_series;
use common::free_port;
use common::process::Exporter;
use common::upstream::{Behaviour, SAMPLE, SAMPLE_SERIES, Upstream};

#[test]
fn a_failing_target_is_logged_once_until_it_recovers() {
    let upstream = Upstream::start(Behaviour::Status(503));
    let exporter = Exporter::start(&[&format!("--syseng.stats-uri={}", upstream.stats_uri())]);
    for _ in 0..4 {
        exporter.get("/metrics");
    }
    upstream.set(Behaviour::Json(SAMPLE.into()));
    exporter.get("/metrics");
    let logs = exporter.wait_for_log("scrape succeeded again");
    let failures: Vec<_> = logs
        .iter()
        .filter(|line| line.contains("scrape failed"))
        .collect();
    assert_eq!(failures.len(), 1, "{logs:#?}");
    assert!(failures[0].contains("level=warn"));
    assert!(failures[0].contains("reason=http_status"));
    assert!(failures[0].contains(&upstream.stats_uri()));
    assert!(failures[0].contains("answered HTTP 503"));
    assert_eq!(
        logs.iter()
            .filter(|line| line.contains("scrape succeeded again"))
            .count(),
        1
    );
}

#[test]
fn telemetry_path_flag_moves_the_metrics() {
    let exporter = Exporter::start(&["--syseng.stats-uri=", "--web.telemetry-path=/custom"]);
    assert!(
        exporter
            .get("/custom")
            .text()
            .contains("syseng_exporter_build_info")
    );
    assert_eq!(exporter.get("/metrics").status, 404);
}

#[test]
fn sigterm_during_a_scrape_finishes_it_then_exits_zero() {
    let slow = Upstream::start(Behaviour::Slow(Duration::from_millis(1500), SAMPLE.into()));
    let mut exporter = Exporter::start(&["--syseng.stats-uri="]);
    let address = exporter.address;
    let path = format!("/probe?target={}", slow.target());
    let in_flight = thread::spawn(move || http_get(address, &path, &[]));
    slow.wait_for_requests(1);
    exporter.signal("TERM");
    let response = in_flight.join().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(target_series(&response.text()), SAMPLE_SERIES);
    assert_eq!(exporter.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "no longer listening"
    );
    exporter.wait_for_log("signal=SIGTERM");
}

#[test]
fn invalid_flags_stop_startup_naming_the_flag() {
    for (args, expected) in [
        (&["--syseng.timeout=fast"][..], "--syseng.timeout"),
        (
            &["--web.listen-address=nowhere"][..],
            "--web.listen-address",
        ),
        (
            &["--syseng.stats-uri=localhost:8080"][..],
            "--syseng.stats-uri",
        ),
        (&["--log.level=loud"][..], "--log.level"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_syseng_exporter"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

fn listening_addresses(exporter: &Exporter) -> Vec<std::net::SocketAddr> {
    exporter
        .logs()
        .iter()
        .filter(|line| line.contains("message=listening"))
        .filter_map(|line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("address="))
                .and_then(|address| address.parse().ok())
        })
        .collect()
}

#[test]
fn every_listen_address_answers_and_a_bare_port_takes_both_families() {
    let upstream = Upstream::sample();
    let port = free_port();
    // Exporter::start listens on 127.0.0.1:0 first; this adds a second listener.
    let exporter = Exporter::start(&[
        &format!("--syseng.stats-uri={}", upstream.stats_uri()),
        &format!("--web.listen-address=:{port}"),
    ]);
    exporter.wait_for_log(&format!("address=[::]:{port}"));
    let addresses = listening_addresses(&exporter);
    assert_eq!(addresses.len(), 2, "{addresses:?}");
    for address in [
        addresses[0],
        format!("127.0.0.1:{port}").parse().unwrap(),
        format!("[::1]:{port}").parse().unwrap(),
    ] {
        let response = http_get(address, "/metrics", &[]);
        assert_eq!(response.status, 200, "{address}");
        assert!(response.text().contains("syseng_up 1"), "{address}");
    }
}

#[test]
fn systemd_socket_activation_serves_on_the_socket_systemd_passes() {
    let Ok(activate) = which("systemd-socket-activate") else {
        panic!(
            "systemd-socket-activate is needed (Debian package systemd; scripts/install-deps.sh)"
        );
    };
    let upstream = Upstream::sample();
    let port = free_port();
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // It listens, then runs the exporter with the socket as descriptor 3 (LISTEN_FDS=1) when
    // the first connection arrives; the exporter must not bind --web.listen-address's port.
    let mut child = std::process::Command::new(activate)
        .args(["--listen", &address.to_string()])
        .arg(env!("CARGO_BIN_EXE_syseng_exporter"))
        .arg("--web.systemd-socket")
        .arg("--web.listen-address=127.0.0.1:1")
        .arg(format!("--syseng.stats-uri={}", upstream.stats_uri()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start systemd-socket-activate");
    let deadline = std::time::Instant::now() + common::STEP_TIMEOUT;
    while std::net::TcpStream::connect(address).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {address}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let mut client = common::client::Client::new(address);
    let response = client.get("/metrics", &[]);
    let second = client.get("/metrics", &[]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(response.status, 200);
    assert!(response.text().contains("syseng_up 1"));
    assert_eq!(second.status, 200);
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}

#[test]
fn systemd_socket_without_sockets_stops_startup() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_syseng_exporter"))
        .arg("--web.systemd-socket")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("systemd passed no socket"), "{stderr}");
}

#[test]
fn version_prints_prometheus_block_that_build_info_agrees_with() {
    let run = |flag: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_syseng_exporter"))
            .arg(flag)
            .output()
            .unwrap();
        assert!(output.status.success(), "{flag}: {output:?}");
        assert!(output.stderr.is_empty(), "{flag}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let text = run("--version");
    assert_eq!(run("-V"), text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let (version, branch, revision) = lines[0]
        .strip_prefix("syseng_exporter, version ")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|rest| rest.split_once(" (branch: "))
        .and_then(|(version, rest)| {
            let (branch, revision) = rest.split_once(", revision: ")?;
            Some((version, branch, revision))
        })
        .unwrap_or_else(|| panic!("first line: {text}"));
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let field = |line: &str, name: &str| -> String {
        let value = line
            .strip_prefix(&format!("  {name:<18}"))
            .unwrap_or_else(|| panic!("no {name:?} in {line:?}"));
        assert!(!value.is_empty() && !value.contains(' '), "{line:?}");
        value.to_string()
    };
    assert!(field(lines[1], "build user:").contains('@'));
    let date = field(lines[2], "build date:");
    assert!(
        date.len() == 17
            && date.char_indices().all(|(at, c)| match at {
                8 => c == '-',
                11 | 14 => c == ':',
                _ => c.is_ascii_digit(),
            }),
        "build date {date:?} is not YYYYMMDD-HH:MM:SS"
    );
    let rust_version = field(lines[3], "rust version:");
    let endian = if cfg!(target_endian = "little") {
        "little"
    } else {
        "big"
    };
    let platform = format!(
        "{}/{}",
        std::env::consts::OS,
        syseng_build::go_arch(std::env::consts::ARCH, endian)
    );
    assert_eq!(field(lines[4], "platform:"), platform);

    let exporter = Exporter::start(&["--syseng.stats-uri="]);
    let (os, arch) = platform.split_once('/').unwrap();
    let expected = format!(
        "syseng_exporter_build_info{{version=\"{version}\",revision=\"{revision}\",branch=\"{branch}\",\
         rustversion=\"{rust_version}\",os=\"{os}\",arch=\"{arch}\"}} 1"
    );
    let metrics = exporter.get("/metrics").text();
    assert!(
        metrics.lines().any(|line| line == expected),
        "no {expected:?} in\n{metrics}"
    );
}
