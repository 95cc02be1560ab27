//! Exposition checkers: promtool, the reference OpenMetrics parser, and sample lookups.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on an exposition and panics with its findings if it objects.
pub fn assert_promtool_accepts(exposition: &str) {
    assert_checker_accepts(
        Command::new("promtool").args(["check", "metrics"]),
        "promtool (Debian package prometheus; scripts/install-deps.sh)",
        exposition,
    );
}

/// Parses an OpenMetrics exposition with the reference parser (Debian's
/// python3-prometheus-client) and panics with its message if it objects.
pub fn assert_openmetrics_parses(exposition: &str) {
    assert_checker_accepts(
        Command::new("/usr/bin/python3").arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/openmetrics_check.py"
        )),
        "/usr/bin/python3 with prometheus_client (scripts/install-deps.sh)",
        exposition,
    );
}

/// Feeds an exposition to a checking command on stdin; it must exit 0.
fn assert_checker_accepts(checker: &mut Command, needs: &str, exposition: &str) {
    let mut child = checker
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{needs} is needed: {error}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{checker:?} rejected the exposition:\n{}{}\n--- exposition ---\n{exposition}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The samples of an exposition as `name{labels} value` lines (comments dropped).
pub fn samples(exposition: &str) -> Vec<&str> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .collect()
}

/// The samples of one target (`syseng_*` without the exporter's own and the scrape duration,
/// which varies).
pub fn target_series(exposition: &str) -> Vec<&str> {
    samples(exposition)
        .into_iter()
        .filter(|line| line.starts_with("syseng_") && !line.starts_with("syseng_exporter_"))
        .filter(|line| !line.starts_with("syseng_scrape_duration_seconds "))
        .collect()
}

/// The value of the one sample whose `name{labels}` part equals `series`.
pub fn value_of(exposition: &str, series: &str) -> Option<f64> {
    samples(exposition).into_iter().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}
