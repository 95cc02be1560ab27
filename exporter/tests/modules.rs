//! `--config.file` modules: every file in testdata/modules loads or fails with its exact
//! error; real upstreams on loopback behind basic auth and a required header, behind TLS
//! with a client certificate and a bearer token, and behind Debian's tinyproxy are reached
//! with a module's settings; tokens rotate without a restart; the file reloads with SIGHUP
//! and `/-/reload`; secrets stay out of logs and pages.

mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::client::Client;
use common::config_files::{check_bad_files, check_good_files, copy_of_testdata};
use common::forward_proxy::ForwardProxy;
use common::in_process::InProcess;
use common::process::Exporter;
use common::tls::{curl, write_certificates};
use common::tls_upstream::TlsUpstream;
use common::upstream::{Behaviour, SAMPLE_SERIES, Upstream};
use common::{STEP_TIMEOUT, TempDir};
use syseng_exporter::modules::ModuleConfig;

const PASSWORD: &str = "pw-s3cret-7f3a";
const TOKEN: &str = "tok-first-91c2";

/// A directory with copies of testdata/modules, fresh certificates and the secret files.
fn fixture() -> TempDir {
    let dir = copy_of_testdata("modules");
    write_certificates(dir.path(), "");
    write_certificates(dir.path(), "other-");
    std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    dir
}

fn write_config(dir: &TempDir, text: &str) -> String {
    let path = dir.path().join("modules.yml");
    std::fs::write(&path, text).unwrap();
    format!("--config.file={}", path.display())
}

fn load(path: &Path) -> Result<(), String> {
    ModuleConfig::load(path)
        .map(drop)
        .map_err(|error| error.to_string())
}

#[test]
fn every_good_file_loads() {
    check_good_files(fixture().path(), 3, load);
}

#[test]
fn every_bad_file_fails_with_its_exact_error() {
    for error in check_bad_files(fixture().path(), "modules", 20, load) {
        assert!(!error.contains("hunter2"), "a secret in an error: {error}");
    }
}

/// The value of an unlabelled sample (or one whose labels are given in `series`).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

fn scrape_error_count(text: &str, reason: &str) -> f64 {
    sample(
        text,
        &format!("syseng_exporter_scrape_errors_total{{reason=\"{reason}\"}}"),
    )
    .unwrap_or_else(|| panic!("no {reason} counter in {text}"))
}

#[test]
fn basic_auth_and_headers_of_the_default_module_reach_the_sidecar_target() {
    let dir = fixture();
    let expected_auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("stats:{PASSWORD}"))
    };
    let upstream = Upstream::start(Behaviour::Require(vec![
        format!("Authorization: Basic {expected_auth}"),
        "X-Tenant: blue".into(),
    ]));
    let config = write_config(
        &dir,
        "modules:\n  default:\n    headers:\n      X-Tenant: blue\n    http_client_config:\n\
         \x20     basic_auth: {username: stats, password_file: password}\n  bare: {}\n",
    );
    let exporter = InProcess::start(&[
        &config,
        &format!("--syseng.stats-uri={}", upstream.stats_uri()),
    ]);
    let metrics = exporter.get("/metrics").text();
    for series in SAMPLE_SERIES {
        assert!(metrics.contains(series), "{series} missing in {metrics}");
    }
    // /probe without a module uses the default one too; a module without them sends none.
    let probe = exporter.get(&format!("/probe?target={}", upstream.target()));
    assert!(probe.text().contains("syseng_up 1"), "{}", probe.text());
    let bare = exporter.get(&format!("/probe?module=bare&target={}", upstream.target()));
    assert!(bare.text().contains("syseng_up 0"), "{}", bare.text());
    let heads = upstream.heads.lock().unwrap().clone();
    assert!(!heads.last().unwrap().contains("X-Tenant"), "{heads:?}");
}

#[test]
fn an_unknown_module_is_a_400_naming_the_known_ones() {
    let dir = fixture();
    let config = write_config(&dir, "modules:\n  a: {}\n  b: {}\n");
    let exporter = InProcess::start(&[&config, "--syseng.stats-uri="]);
    let response = exporter.get("/probe?module=c&target=127.0.0.1:1");
    assert_eq!(response.status, 400);
    assert_eq!(
        response.text(),
        "unknown module \"c\"; known modules: a, b\n"
    );
    let twice = exporter.get("/probe?module=a&module=b&target=127.0.0.1:1");
    assert_eq!(twice.status, 400);
    // Empty is no module: the default (here the built-in one) applies.
    let empty = exporter.get("/probe?module=&target=127.0.0.1:1");
    assert_eq!(empty.status, 200);
    assert!(empty.text().contains("syseng_up 0"));
    let without_file = InProcess::start(&["--syseng.stats-uri="]);
    let response = without_file.get("/probe?module=a&target=127.0.0.1:1");
    assert_eq!(response.status, 400);
    assert!(response.text().contains("no modules are configured"));
}

fn mesh_config(dir: &TempDir, ca: &str) -> String {
    write_config(
        dir,
        &format!(
            "modules:\n  mesh:\n    http_client_config:\n\
             \x20     authorization: {{type: Bearer, credentials_file: token}}\n\
             \x20     tls_config:\n        ca_file: {ca}\n        cert_file: client.crt\n\
             \x20       key_file: client.key\n        server_name: localhost\n\
             \x20       min_version: TLS12\n  wrong-ca:\n    http_client_config:\n\
             \x20     bearer_token_file: token\n      tls_config:\n        ca_file: other-ca.crt\n\
             \x20       cert_file: client.crt\n        key_file: client.key\n\
             \x20 no-client-cert:\n    http_client_config:\n      bearer_token_file: token\n\
             \x20     tls_config: {{ca_file: ca.crt}}\n"
        ),
    )
}

#[test]
fn mutual_tls_and_a_bearer_token_reach_a_tls_upstream_and_a_wrong_ca_is_reason_tls() {
    let dir = fixture();
    let upstream = TlsUpstream::start(dir.path(), "", TOKEN);
    let config = mesh_config(&dir, "ca.crt");
    let exporter = InProcess::start(&[&config, "--syseng.stats-uri="]);
    let mut scraper = Client::new(exporter.address);
    let probe = |scraper: &mut Client, module: &str| {
        scraper
            .get(
                &format!("/probe?module={module}&target={}", upstream.target()),
                &[],
            )
            .text()
    };
    let text = probe(&mut scraper, "mesh");
    for series in SAMPLE_SERIES {
        assert!(text.contains(series), "{series} missing in {text}");
    }
    // The connection is kept: a second probe needs no new handshake.
    probe(&mut scraper, "mesh");
    assert_eq!(
        upstream
            .handshakes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    let wrong_ca = probe(&mut scraper, "wrong-ca");
    assert!(wrong_ca.contains("syseng_up 0"), "{wrong_ca}");
    let no_cert = probe(&mut scraper, "no-client-cert");
    assert!(no_cert.contains("syseng_up 0"), "{no_cert}");
    let metrics = scraper.get("/metrics", &[]).text();
    assert_eq!(scrape_error_count(&metrics, "tls"), 2.0, "{metrics}");
    assert_eq!(scrape_error_count(&metrics, "connection"), 0.0);
    let page = scraper.get("/", &[]).text();
    assert!(page.contains("UnknownIssuer"), "{page}");
}

#[test]
fn a_rotated_token_file_is_used_without_a_restart_or_reload() {
    let dir = fixture();
    let upstream = TlsUpstream::start(dir.path(), "", TOKEN);
    let config = mesh_config(&dir, "ca.crt");
    let exporter = InProcess::start(&[&config, "--syseng.stats-uri="]);
    let mut scraper = Client::new(exporter.address);
    let path = format!("/probe?module=mesh&target={}", upstream.target());
    assert!(scraper.get(&path, &[]).text().contains("syseng_up 1"));

    // As a Kubernetes Secret update does: a new file swapped in under the same name.
    let rotated = "tok-second-5d0e";
    let staging = dir.path().join("token.new");
    std::fs::write(&staging, format!("{rotated}\n")).unwrap();
    std::fs::rename(&staging, dir.path().join("token")).unwrap();
    upstream.set_token(rotated);
    let started = Instant::now();
    loop {
        if scraper.get(&path, &[]).text().contains("syseng_up 1") {
            break;
        }
        assert!(
            started.elapsed() < STEP_TIMEOUT,
            "the new token was never sent"
        );
        thread::sleep(Duration::from_millis(200));
    }
    // Within about the file check interval, not eventually.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_changed_ca_file_is_used_without_a_restart_or_reload() {
    let dir = fixture();
    let upstream = TlsUpstream::start(dir.path(), "", TOKEN);
    // At first the module trusts another CA than the upstream's.
    let ca = dir.path().join("rotating-ca.crt");
    std::fs::copy(dir.path().join("other-ca.crt"), &ca).unwrap();
    let config = mesh_config(&dir, "rotating-ca.crt");
    let exporter = InProcess::start(&[&config, "--syseng.stats-uri="]);
    let mut scraper = Client::new(exporter.address);
    let path = format!("/probe?module=mesh&target={}", upstream.target());
    assert!(scraper.get(&path, &[]).text().contains("syseng_up 0"));

    let staging = dir.path().join("rotating-ca.crt.new");
    std::fs::copy(dir.path().join("ca.crt"), &staging).unwrap();
    std::fs::rename(&staging, &ca).unwrap();
    let started = Instant::now();
    while !scraper.get(&path, &[]).text().contains("syseng_up 1") {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the new CA was never used"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn proxy_from_environment_takes_http_proxy_and_no_proxy_from_the_process() {
    let dir = fixture();
    let proxy = ForwardProxy::start("env", "hunter2-env");
    let upstream = Upstream::sample();
    let config = write_config(
        &dir,
        "modules:\n  environment:\n    http_client_config:\n      proxy_from_environment: true\n",
    );
    let proxied = Exporter::start_with_env(
        &[&config, "--syseng.stats-uri="],
        &[
            ("HTTP_PROXY", &proxy.url("env", "hunter2-env")),
            ("NO_PROXY", ""),
        ],
    );
    let path = format!("/probe?module=environment&target={}", upstream.target());
    assert!(proxied.get(&path).text().contains("syseng_up 1"));
    let head = upstream.heads.lock().unwrap().last().unwrap().clone();
    assert!(head.contains("\r\nVia: 1.1 tinyproxy"), "{head}");

    let bypassed = Exporter::start_with_env(
        &[&config, "--syseng.stats-uri="],
        &[
            ("HTTP_PROXY", &proxy.url("env", "wrong")),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    assert!(bypassed.get(&path).text().contains("syseng_up 1"));
    let head = upstream.heads.lock().unwrap().last().unwrap().clone();
    assert!(!head.contains("Via:"), "{head}");
}

#[test]
fn a_module_narrows_the_allowlist_and_the_global_one_still_applies() {
    let dir = fixture();
    let upstream = Upstream::sample();
    let config = write_config(
        &dir,
        "modules:\n  narrow:\n    allowed_targets: [\"10.0.0.0/8\"]\n  open: {}\n",
    );
    let exporter = InProcess::start(&[
        &config,
        "--syseng.stats-uri=",
        "--probe.allowed-targets=127.0.0.1",
    ]);
    let target = upstream.target();
    let narrow = exporter.get(&format!("/probe?module=narrow&target={target}"));
    assert_eq!(narrow.status, 403, "{}", narrow.text());
    assert!(
        narrow.text().starts_with("module \"narrow\": "),
        "{}",
        narrow.text()
    );
    let open = exporter.get(&format!("/probe?module=open&target={target}"));
    assert!(open.text().contains("syseng_up 1"));
    let elsewhere = exporter.get("/probe?module=open&target=10.0.0.1:80");
    assert_eq!(elsewhere.status, 403);
}

#[test]
fn connections_are_pooled_per_module_and_target() {
    let dir = fixture();
    let upstream = Upstream::sample();
    let config = write_config(&dir, "modules:\n  a: {}\n  b: {headers: {X-B: b}}\n");
    let exporter = InProcess::start(&[&config, "--syseng.stats-uri="]);
    let mut scraper = Client::new(exporter.address);
    for module in ["a", "b", "a", "b", "a"] {
        let text = scraper
            .get(
                &format!("/probe?module={module}&target={}", upstream.target()),
                &[],
            )
            .text();
        assert!(text.contains("syseng_up 1"), "{text}");
    }
    assert_eq!(
        upstream
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    let heads = upstream.heads.lock().unwrap().clone();
    let with_header = heads.iter().filter(|head| head.contains("X-B: b")).count();
    assert_eq!(with_header, 2, "{heads:?}");
}

#[test]
fn http_and_https_targets_go_through_tinyproxy_unless_no_proxy_says_otherwise() {
    let dir = fixture();
    let proxy = ForwardProxy::start("egress", "hunter2-proxy");
    let upstream = Upstream::sample();
    let tls_upstream = TlsUpstream::start(dir.path(), "", TOKEN);
    let config = write_config(
        &dir,
        &format!(
            "modules:\n  egress:\n    http_client_config:\n      proxy_url: {url}\n\
             \x20     proxy_connect_header: {{X-Proxy-Token: [hunter2]}}\n\
             \x20     bearer_token_file: token\n\
             \x20     tls_config: {{ca_file: ca.crt, cert_file: client.crt, key_file: client.key}}\n\
             \x20 wrong-password:\n    http_client_config:\n      proxy_url: {wrong}\n\
             \x20 direct:\n    http_client_config:\n      proxy_url: {wrong}\n\
             \x20     no_proxy: 127.0.0.0/8\n",
            url = proxy.url("egress", "hunter2-proxy"),
            wrong = proxy.url("egress", "wrong"),
        ),
    );
    let exporter = InProcess::start(&[&config, "--syseng.stats-uri="]);
    let mut scraper = Client::new(exporter.address);

    let text = scraper
        .get(
            &format!("/probe?module=egress&target={}", upstream.target()),
            &[],
        )
        .text();
    assert!(text.contains("syseng_up 1"), "{text}");
    let head = upstream.heads.lock().unwrap().last().unwrap().clone();
    assert!(head.contains("\r\nVia: 1.1 tinyproxy"), "{head}");
    assert!(
        head.contains(&format!("Authorization: Bearer {TOKEN}")),
        "{head}"
    );
    assert!(
        proxy
            .log()
            .contains(&format!("GET http://{}/stats HTTP/1.1", upstream.target())),
        "{}",
        proxy.log()
    );

    let text = scraper
        .get(
            &format!("/probe?module=egress&target={}", tls_upstream.target()),
            &[],
        )
        .text();
    assert!(text.contains("syseng_up 1"), "{text}");
    let tunnel = format!("CONNECT 127.0.0.1:{} HTTP/1.1", tls_upstream.address.port());
    assert!(proxy.log().contains(&tunnel), "{}", proxy.log());

    // The proxy refuses other credentials: 407, a failed scrape, not a bypass.
    let refused = scraper
        .get(
            &format!("/probe?module=wrong-password&target={}", upstream.target()),
            &[],
        )
        .text();
    assert!(refused.contains("syseng_up 0"), "{refused}");
    let refused = scraper
        .get(
            &format!(
                "/probe?module=wrong-password&target={}",
                tls_upstream.target()
            ),
            &[],
        )
        .text();
    assert!(refused.contains("syseng_up 0"), "{refused}");
    let metrics = scraper.get("/metrics", &[]).text();
    assert_eq!(
        scrape_error_count(&metrics, "http_status"),
        1.0,
        "{metrics}"
    );
    assert_eq!(scrape_error_count(&metrics, "connection"), 1.0, "{metrics}");

    let requests_before = upstream.heads.lock().unwrap().len();
    let text = scraper
        .get(
            &format!("/probe?module=direct&target={}", upstream.target()),
            &[],
        )
        .text();
    assert!(text.contains("syseng_up 1"), "{text}");
    let heads = upstream.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), requests_before + 1);
    assert!(!heads.last().unwrap().contains("Via:"), "{heads:?}");
}

#[test]
fn secrets_stay_out_of_debug_logs_the_landing_page_and_metrics() {
    let dir = fixture();
    let upstream = Upstream::start(Behaviour::Require(vec!["X-Never: sent".into()]));
    let tls_upstream = TlsUpstream::start(dir.path(), "other-", "nothing");
    let config = write_config(
        &dir,
        "modules:\n  default:\n    headers: {X-Api-Key: hunter2-header}\n\
         \x20   http_client_config:\n      basic_auth: {username: stats, password: hunter2-inline}\n\
         \x20 files:\n    http_client_config:\n      authorization: {credentials_file: token}\n\
         \x20     tls_config: {ca_file: ca.crt, cert_file: client.crt, key_file: client.key}\n\
         \x20 egress:\n    http_client_config:\n      proxy_url: http://user:hunter2-proxy@127.0.0.1:1\n\
         \x20     proxy_connect_header: {X-Proxy: [hunter2-connect]}\n",
    );
    let exporter = Exporter::start(&[
        &config,
        "--log.level=debug",
        &format!("--syseng.stats-uri={}", upstream.stats_uri()),
    ]);
    let mut scraper = Client::new(exporter.address);
    for path in [
        "/metrics".to_string(),
        format!("/probe?target={}", upstream.target()),
        format!("/probe?module=files&target={}", tls_upstream.target()),
        format!("/probe?module=egress&target={}", upstream.target()),
        format!("/probe?module=egress&target={}", tls_upstream.target()),
    ] {
        let text = scraper.get(&path, &[]).text();
        assert!(text.contains("syseng_up 0"), "{path}: {text}");
        for secret in ["hunter2", PASSWORD, TOKEN] {
            assert!(!text.contains(secret), "{secret} in {path}");
        }
    }
    let page = scraper.get("/", &[]).text();
    assert!(page.contains("<h2>Modules</h2>"), "{page}");
    assert!(
        page.contains("basic_auth.password: &lt;secret&gt;"),
        "{page}"
    );
    assert!(
        page.contains("proxy_url: http://&lt;secret&gt;@127.0.0.1:1"),
        "{page}"
    );
    exporter.wait_for_log("reason=tls");
    let logs = exporter.logs().join("\n");
    assert!(logs.contains("level=debug"), "no debug lines: {logs}");
    for secret in ["hunter2", PASSWORD, TOKEN, "user:"] {
        assert!(!page.contains(secret), "{secret} on the landing page");
        assert!(!logs.contains(secret), "{secret} in the logs: {logs}");
    }
}

fn reload_successful(scraper: &mut Client) -> f64 {
    let text = scraper.get("/metrics", &[]).text();
    sample(&text, "syseng_exporter_config_last_reload_successful").unwrap()
}

#[test]
fn the_module_file_reloads_with_sighup_and_the_reload_endpoint_keeping_the_last_good_one() {
    let dir = fixture();
    let upstream = Upstream::start(Behaviour::Require(vec!["X-Version: 2".into()]));
    let config = write_config(&dir, "modules:\n  stats: {headers: {X-Version: \"1\"}}\n");
    let file = dir.path().join("modules.yml");
    let exporter = Exporter::start(&[&config, "--syseng.stats-uri=", "--web.enable-lifecycle"]);
    let mut scraper = Client::new(exporter.address);
    let path = format!("/probe?module=stats&target={}", upstream.target());
    assert!(scraper.get(&path, &[]).text().contains("syseng_up 0"));

    std::fs::write(&file, "modules:\n  stats: {headers: {X-Version: \"2\"}}\n").unwrap();
    exporter.signal("HUP");
    exporter.wait_for_log("configuration reloaded");
    assert!(scraper.get(&path, &[]).text().contains("syseng_up 1"));
    assert_eq!(reload_successful(&mut scraper), 1.0);

    // A broken file: refused with its place, the modules in force stay.
    std::fs::write(
        &file,
        "modules:\n  stats:\n    http_client_config: {oauth2: {}}\n",
    )
    .unwrap();
    let url = format!("http://{}/-/reload", exporter.address);
    let (status, body) = curl(&["-X", "POST", &url]).unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("modules.yml:3: modules.stats.http_client_config.oauth2: not supported"),
        "{body}"
    );
    assert!(scraper.get(&path, &[]).text().contains("syseng_up 1"));
    assert_eq!(reload_successful(&mut scraper), 0.0);

    std::fs::write(&file, "modules:\n  renamed: {}\n").unwrap();
    let (status, _) = curl(&["-X", "PUT", &url]).unwrap();
    assert_eq!(status, 200);
    assert_eq!(scraper.get(&path, &[]).status, 400);
    assert_eq!(reload_successful(&mut scraper), 1.0);
    // One keep-alive connection throughout, as Prometheus keeps it.
    assert_eq!(scraper.connections_opened, 1);
}

#[test]
fn a_bad_module_file_stops_startup_naming_file_line_and_field() {
    let dir = fixture();
    let file = dir.path().join("password-file-missing.bad.yml");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_syseng_exporter"))
        .arg(format!("--config.file={}", file.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "--config.file: {}:10: modules.default.http_client_config.basic_auth.password_file",
            file.display()
        )),
        "{stderr}"
    );
}
