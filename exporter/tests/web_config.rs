//! `--web.config.file`: every file in testdata/web loads or fails with its exact error, and the
//! exporter serves TLS, client certificates, basic authentication and headers (in-process),
//! reloads rotated certificates and refuses a bad file at start-up (the binary), and is scraped
//! over TLS with basic auth by a real Prometheus.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::client::{Client, Endpoint, http_get};
use common::config_files::{check_bad_files, check_good_files, copy_of_testdata};
use common::in_process::InProcess;
use common::process::Exporter;
use common::tls::{curl, write_certificates};
use common::upstream::Upstream;
use common::{STEP_TIMEOUT, TempDir, free_port};
use syseng_exporter::web::WebConfig;

/// A directory with copies of testdata/web and freshly generated certificates.
fn fixture() -> TempDir {
    let dir = copy_of_testdata("web");
    write_certificates(dir.path(), "");
    write_certificates(dir.path(), "other-");
    dir
}

#[test]
fn every_good_file_loads() {
    let dir = fixture();
    check_good_files(dir.path(), 6, |path| {
        WebConfig::load(path)
            .map(drop)
            .map_err(|error| error.to_string())
    });
}

#[test]
fn every_bad_file_fails_with_its_exact_error() {
    let dir = fixture();
    check_bad_files(dir.path(), "web", 15, |path| {
        WebConfig::load(path)
            .map(drop)
            .map_err(|error| error.to_string())
    });
}

/// Flags for an exporter whose sidecar upstream serves the sample, with `file` in `dir` as its
/// web configuration.
fn web_flags(dir: &TempDir, file: &str) -> [String; 2] {
    let upstream = Box::leak(Box::new(Upstream::sample()));
    [
        format!("--syseng.stats-uri={}", upstream.stats_uri()),
        format!("--web.config.file={}", dir.path().join(file).display()),
    ]
}

fn serve_with_web_config(dir: &TempDir, file: &str) -> InProcess {
    InProcess::start(&web_flags(dir, file).each_ref().map(String::as_str))
}

/// GET `url` over TLS, trusting the test CA and presenting `{prefix}client.crt`.
fn curl_as_client(
    dir: &TempDir,
    exporter: &Endpoint,
    url: &str,
    prefix: &str,
) -> Result<(u16, String), i32> {
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let resolve = format!("localhost:{}:127.0.0.1", exporter.address.port());
    curl(&[
        "--cacert",
        &path("ca.crt"),
        "--resolve",
        &resolve,
        "--cert",
        &path(&format!("{prefix}client.crt")),
        "--key",
        &path(&format!("{prefix}client.key")),
        url,
    ])
}

fn https_url(exporter: &Endpoint, path: &str) -> String {
    format!("https://localhost:{}{path}", exporter.address.port())
}

#[test]
fn tls_with_basic_auth_refuses_missing_or_wrong_credentials() {
    let dir = fixture();
    let exporter = serve_with_web_config(&dir, "all.good.yml");
    let ca = dir.path().join("ca.crt");
    let ca = ca.to_str().unwrap();
    let url = https_url(&exporter, "/metrics");
    let resolve = format!("localhost:{}:127.0.0.1", exporter.address.port());

    let (status, response) = curl(&["--cacert", ca, "--resolve", &resolve, &url]).unwrap();
    assert_eq!(status, 401);
    assert!(
        response
            .to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{response}"
    );

    let (status, _) = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-u",
        "prometheus:wrong",
        &url,
    ])
    .unwrap();
    assert_eq!(status, 401);
    let (status, _) = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-u",
        "nobody:s3cret",
        &url,
    ])
    .unwrap();
    assert_eq!(status, 401);

    let (status, response) = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-u",
        "prometheus:s3cret",
        &url,
    ])
    .unwrap();
    assert_eq!(status, 200);
    assert!(response.contains("syseng_up 1"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff")
    );

    // Plain HTTP to the TLS port gets no metrics.
    let plain = format!("http://127.0.0.1:{}/metrics", exporter.address.port());
    assert!(!matches!(
        curl(&["-u", "prometheus:s3cret", &plain]),
        Ok((200, _))
    ));
    // A certificate from another CA is not trusted.
    let other_ca = dir.path().join("other-ca.crt");
    assert!(
        curl(&[
            "--cacert",
            other_ca.to_str().unwrap(),
            "--resolve",
            &resolve,
            &url
        ])
        .is_err()
    );
}

#[test]
fn required_client_certificates_are_verified() {
    let dir = fixture();
    let exporter = serve_with_web_config(&dir, "tls-client-auth.good.yml");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let url = https_url(&exporter, "/-/healthy");
    let resolve = format!("localhost:{}:127.0.0.1", exporter.address.port());
    let ca = path("ca.crt");

    assert!(
        curl(&["--cacert", &ca, "--resolve", &resolve, &url]).is_err(),
        "no client certificate"
    );
    let stranger = curl_as_client(&dir, &exporter, &url, "other-");
    assert!(
        stranger.is_err(),
        "client certificate from another CA: {stranger:?}"
    );
    let (status, _) = curl_as_client(&dir, &exporter, &url, "").unwrap();
    assert_eq!(status, 200);
}

#[test]
fn client_allowed_sans_admits_only_certificates_that_carry_one() {
    let dir = fixture();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // The test client certificate's one SAN is the DNS name "prometheus".
    let refusing = dir.path().join("refusing.yml");
    let text = std::fs::read_to_string(dir.path().join("allowed-sans.good.yml")).unwrap();
    std::fs::write(
        &refusing,
        text.replace("    - prometheus\n", "    - prometheus.example\n"),
    )
    .unwrap();
    for (file, admitted) in [("allowed-sans.good.yml", true), ("refusing.yml", false)] {
        let exporter = serve_with_web_config(&dir, file);
        let url = https_url(&exporter, "/-/healthy");
        let resolve = format!("localhost:{}:127.0.0.1", exporter.address.port());
        let ca = path("ca.crt");
        let with_certificate = curl_as_client(&dir, &exporter, &url, "");
        if admitted {
            assert_eq!(
                with_certificate.map(|(status, _)| status),
                Ok(200),
                "{file}"
            );
        } else {
            assert!(with_certificate.is_err(), "{file}: {with_certificate:?}");
        }
        assert!(
            curl(&["--cacert", &ca, "--resolve", &resolve, &url]).is_err(),
            "{file}: no client certificate"
        );
    }
}

#[test]
fn inline_certificate_key_and_client_ca_serve_as_files_do() {
    let dir = fixture();
    let indent = |name: &str| {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap()
            .lines()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    };
    std::fs::write(
        dir.path().join("inline.yml"),
        format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}  client_ca: |\n{}  client_auth_type: RequireAndVerifyClientCert\n",
            indent("server.crt"),
            indent("server.key"),
            indent("ca.crt")
        ),
    )
    .unwrap();
    let exporter = serve_with_web_config(&dir, "inline.yml");
    let url = https_url(&exporter, "/-/healthy");
    let (status, _) = curl_as_client(&dir, &exporter, &url, "").unwrap();
    assert_eq!(status, 200);
    let stranger = curl_as_client(&dir, &exporter, &url, "other-");
    assert!(stranger.is_err(), "{stranger:?}");
}

#[test]
fn rate_limit_answers_429_past_the_burst_then_recovers() {
    let dir = fixture();
    let exporter = serve_with_web_config(&dir, "rate-limit.good.yml");
    let mut client = Client::new(exporter.address);
    // A burst of 10, then one request per 100ms: 30 at once cannot all pass.
    let statuses: Vec<u16> = (0..30)
        .map(|_| client.get("/-/healthy", &[]).status)
        .collect();
    let limited = statuses.iter().filter(|status| **status == 429).count();
    assert!(limited >= 10, "{statuses:?}");
    assert!(
        statuses[..10].iter().all(|status| *status == 200),
        "{statuses:?}"
    );
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(client.get("/-/healthy", &[]).status, 200);
    assert_eq!(client.connections_opened, 1);
}

#[test]
fn ip_socket_config_sets_the_listening_sockets_ttl() {
    use syseng_exporter::config::Flags;
    let dir = fixture();
    let web = WebConfig::load(&dir.path().join("ip-socket.good.yml")).unwrap();
    let options = web.current().ip_socket.clone();
    let config = Flags::from_args(
        [
            "syseng_exporter",
            "--web.listen-address=127.0.0.1:0",
            "--web.listen-address=[::1]:0",
        ]
        .map(String::from),
    )
    .unwrap()
    .validate()
    .unwrap();
    let listeners = syseng_exporter::listeners(&config, options.as_ref()).unwrap();
    assert_eq!(rustix::net::sockopt::ip_ttl(&listeners[0]).unwrap(), 64);
    assert_eq!(
        rustix::net::sockopt::ipv6_unicast_hops(&listeners[1]).unwrap(),
        64
    );
}

#[test]
fn rotated_certificates_are_used_without_a_restart_and_broken_changes_are_ignored() {
    let dir = fixture();
    // A process, for its log of the broken change.
    let exporter = Exporter::start(
        &web_flags(&dir, "tls.good.yml")
            .each_ref()
            .map(String::as_str),
    );
    let url = https_url(&exporter, "/-/healthy");
    let resolve = format!("localhost:{}:127.0.0.1", exporter.address.port());
    let ca = dir.path().join("ca.crt").to_string_lossy().into_owned();
    let other_ca = dir
        .path()
        .join("other-ca.crt")
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        curl(&["--cacert", &ca, "--resolve", &resolve, &url])
            .unwrap()
            .0,
        200
    );

    // Rotate to the other CA's server certificate.
    for name in ["server.crt", "server.key"] {
        std::fs::copy(
            dir.path().join(format!("other-{name}")),
            dir.path().join(name),
        )
        .unwrap();
    }
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Ok((200, _)) = curl(&["--cacert", &other_ca, "--resolve", &resolve, &url]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was never served"
        );
        thread::sleep(Duration::from_millis(200));
    }

    // A broken change keeps the last good settings and is logged.
    std::fs::write(dir.path().join("tls.good.yml"), "tls_server_config: [").unwrap();
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        curl(&["--cacert", &other_ca, "--resolve", &resolve, &url])
            .unwrap()
            .0,
        200
    );
    exporter.wait_for_log("keeping the previous one");
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[test]
fn a_user_removed_from_the_file_is_refused_on_a_connection_already_open() {
    let dir = fixture();
    let file = dir.path().join("basic-auth.good.yml");
    let exporter = Exporter::start(
        &web_flags(&dir, "basic-auth.good.yml")
            .each_ref()
            .map(String::as_str),
    );
    let alice = basic("alice", "s3cret");
    let prometheus = basic("prometheus", "s3cret");
    let mut alices = Client::new(exporter.address);
    let mut scraper = Client::new(exporter.address);
    assert_eq!(
        alices.get("/metrics", &[("Authorization", &alice)]).status,
        200
    );
    assert_eq!(
        scraper
            .get("/metrics", &[("Authorization", &prometheus)])
            .status,
        200
    );

    remove_user(&file, "alice");

    // Changes are looked for at most once a second.
    let deadline = Instant::now() + STEP_TIMEOUT;
    while alices.get("/metrics", &[("Authorization", &alice)]).status != 401 {
        assert!(Instant::now() < deadline, "alice still has access");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        scraper
            .get("/metrics", &[("Authorization", &prometheus)])
            .status,
        200
    );
    assert_eq!(
        (alices.connections_opened, scraper.connections_opened),
        (1, 1),
        "each client kept its one connection"
    );
}

fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
        .unwrap()
}

#[test]
fn a_flood_of_wrong_passwords_neither_grows_threads_nor_delays_the_scraper() {
    use std::io::Write as _;
    let dir = fixture();
    let mut exporter = Exporter::start(
        &web_flags(&dir, "basic-auth.good.yml")
            .each_ref()
            .map(String::as_str),
    );
    let prometheus = basic("prometheus", "s3cret");
    let mut scraper = Client::new(exporter.address);
    assert_eq!(
        scraper
            .get("/metrics", &[("Authorization", &prometheus)])
            .status,
        200
    );
    let before = threads_of(exporter.pid());

    let flood: Vec<std::net::TcpStream> = (0..200)
        .map(|n| {
            let mut stream = std::net::TcpStream::connect(exporter.address).unwrap();
            let request = format!(
                "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
                basic("prometheus", &format!("wrong{n}"))
            );
            stream.write_all(request.as_bytes()).unwrap();
            stream
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let response = scraper.get("/metrics", &[("Authorization", &prometheus)]);
    let waited = started.elapsed();
    let during = threads_of(exporter.pid());
    assert_eq!(response.status, 200);
    assert!(
        waited < Duration::from_secs(3),
        "the scraper waited {waited:?}"
    );
    // One thread per core serves; bcrypt runs one at a time, on at most one more per core.
    let cores = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16);
    assert!(
        during <= before + cores,
        "{during} threads during the flood, {before} before, {cores} cores"
    );
    assert!(exporter.is_running());
    drop(flood);
}

fn remove_user(file: &Path, user: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let kept: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with(&format!("{user}:")))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(text, kept, "{user} is not in {}", file.display());
    std::fs::write(file, kept).unwrap();
}

fn metric(client: &mut Client, authorization: &str, name: &str) -> f64 {
    let text = client
        .get("/metrics", &[("Authorization", authorization)])
        .text();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

/// Sends SIGHUP until `text` is logged: one sent while the exporter still starts is dropped
/// (it must not stop it), as the reload starts listening only once the exporter serves.
fn hup_until_logged(exporter: &mut Exporter, text: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        exporter.signal("HUP");
        thread::sleep(Duration::from_millis(200));
        assert!(
            exporter.is_running(),
            "SIGHUP stopped the exporter: {:?}",
            exporter.logs()
        );
        if exporter.logs().iter().any(|line| line.contains(text)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {text:?} in {:?}",
            exporter.logs()
        );
    }
}

#[test]
fn sighup_reloads_the_web_config_and_never_stops_the_exporter() {
    let dir = fixture();
    let file = dir.path().join("basic-auth.good.yml");
    let mut exporter = Exporter::start(
        &web_flags(&dir, "basic-auth.good.yml")
            .each_ref()
            .map(String::as_str),
    );
    let prometheus = basic("prometheus", "s3cret");
    let alice = basic("alice", "s3cret");
    let mut scraper = Client::new(exporter.address);
    assert_eq!(
        scraper.get("/metrics", &[("Authorization", &alice)]).status,
        200
    );

    // Changed, then SIGHUP before any request could notice the change by itself.
    remove_user(&file, "alice");
    hup_until_logged(&mut exporter, "message=\"configuration reloaded\"");
    assert!(exporter.is_running());
    assert_eq!(
        scraper.get("/metrics", &[("Authorization", &alice)]).status,
        401
    );
    let reloaded = metric(
        &mut scraper,
        &prometheus,
        "syseng_exporter_config_last_reload_successful",
    );
    assert_eq!(reloaded, 1.0);

    // A broken file: logged, the previous settings stay, the metric says so.
    std::fs::write(&file, "basic_auth_users: [").unwrap();
    exporter.signal("HUP");
    exporter.wait_for_log("reload failed; keeping the previous configuration");
    assert!(exporter.is_running());
    assert_eq!(
        metric(
            &mut scraper,
            &prometheus,
            "syseng_exporter_config_last_reload_successful"
        ),
        0.0
    );
    assert_eq!(scraper.connections_opened, 1);
}

#[test]
fn sighup_without_a_config_file_is_logged_and_harmless() {
    let upstream = Upstream::sample();
    let mut exporter = Exporter::start(&[&format!("--syseng.stats-uri={}", upstream.stats_uri())]);
    hup_until_logged(&mut exporter, "no configuration file to reload");
    assert!(exporter.is_running());
    assert_eq!(exporter.get("/-/healthy").status, 200);
}

#[test]
fn reload_endpoint_needs_the_lifecycle_flag_and_post_or_put() {
    let dir = fixture();
    let file = dir.path().join("basic-auth.good.yml");
    let flags = web_flags(&dir, "basic-auth.good.yml");
    let prometheus = basic("prometheus", "s3cret");
    let auth = format!("Authorization: {prometheus}");
    let reload = |exporter: &Endpoint, method: &str| {
        let url = format!("http://{}/-/reload", exporter.address);
        curl(&["-X", method, "-H", &auth, &url]).unwrap()
    };

    let closed = Exporter::start(&flags.each_ref().map(String::as_str));
    let (status, body) = reload(&closed, "POST");
    assert_eq!(status, 403);
    assert!(body.contains("Lifecycle API is not enabled."), "{body}");

    let mut args = flags.each_ref().map(String::as_str).to_vec();
    args.push("--web.enable-lifecycle");
    let open = Exporter::start(&args);
    assert_eq!(reload(&open, "GET").0, 405);
    assert_eq!(reload(&open, "POST").0, 200);
    remove_user(&file, "alice");
    assert_eq!(reload(&open, "PUT").0, 200);
    std::fs::write(&file, "basic_auth_users: [").unwrap();
    let (status, body) = reload(&open, "POST");
    assert_eq!(status, 500);
    assert!(body.contains("failed to reload config"), "{body}");
    open.wait_for_log("trigger=/-/reload");
    // Without credentials the endpoint is as closed as every other.
    let url = format!("http://{}/-/reload", open.address);
    assert_eq!(curl(&["-X", "POST", &url]).unwrap().0, 401);
}

#[test]
fn a_bad_web_config_stops_startup_naming_file_line_and_field() {
    let dir = fixture();
    let file = dir.path().join("unknown-client-auth.bad.yml");
    let output = Command::new(env!("CARGO_BIN_EXE_syseng_exporter"))
        .arg(format!("--web.config.file={}", file.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:5", file.display())),
        "{stderr}"
    );
    assert!(stderr.contains("client_auth_type"), "{stderr}");
}

/// A Prometheus server, killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _data: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn real_prometheus_scrapes_over_mutual_tls_with_allowed_sans_and_basic_auth() {
    let dir = fixture();
    let exporter = Exporter::start(
        &web_flags(&dir, "prometheus-mtls.good.yml")
            .each_ref()
            .map(String::as_str),
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: syseng_exporter\n    scheme: https\n\
             \x20   tls_config:\n      ca_file: {ca}\n      server_name: localhost\n\
             \x20     cert_file: {cert}\n      key_file: {key}\n\
             \x20   basic_auth:\n      username: prometheus\n      password: s3cret\n\
             \x20   static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            ca = dir.path().join("ca.crt").display(),
            cert = dir.path().join("client.crt").display(),
            key = dir.path().join("client.key").display(),
            port = exporter.address.port()
        ),
    )
    .unwrap();
    let data = TempDir::new("prometheus");
    let port = free_port();
    let prometheus = Prometheus {
        child: Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.path().display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is needed (Debian package prometheus)"),
        port,
        _data: data,
    };
    let address = format!("127.0.0.1:{}", prometheus.port).parse().unwrap();
    let query = "/api/v1/query?query=syseng_up%20*%20on(instance)%20up";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = std::net::TcpStream::connect(address)
            .ok()
            .map(|_| http_get(address, query, &[]).text());
        if let Some(answer) = &answer
            && answer.contains("\"value\":[")
            && answer.contains(",\"1\"]")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the exporter: {answer:?}"
        );
        thread::sleep(Duration::from_millis(500));
    }
}
