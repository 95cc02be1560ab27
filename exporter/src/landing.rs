//! The HTML landing page: what this exporter is, where its endpoints are, recent scrapes.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::journal::ScrapeRecord;
use crate::modules::ModuleSet;
use crate::telemetry::{REVISION, VERSION};

pub fn render(
    telemetry_path: &str,
    default_target: Option<&str>,
    recent: &[ScrapeRecord],
    modules: &ModuleSet,
) -> String {
    let mut page = String::with_capacity(4096 + recent.len() * 256);
    let path = escape_html(telemetry_path);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>syseng_exporter</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}\
         .failure{{color:#b00}}</style></head>\n<body>\n\
         <h1>syseng_exporter</h1>\n<p>Prometheus exporter for the syseng-challenge service. \
         Version {version}, revision {revision}.</p>\n<ul>\n\
         <li><a href=\"{path}\">{path}</a>: {what}</li>\n\
         <li><a href=\"probe?target=127.0.0.1:8080\">/probe?target=host:port</a>: one instance's metrics</li>\n\
         <li><a href=\"-/healthy\">/-/healthy</a>, <a href=\"-/ready\">/-/ready</a></li>\n</ul>\n",
        version = escape_html(VERSION),
        revision = escape_html(REVISION),
        what = match default_target {
            Some(target) => format!("metrics of {} and of the exporter", escape_html(target)),
            None => "the exporter's own metrics".to_string(),
        },
    );
    write_modules(&mut page, modules);
    page.push_str("<h2>Recent scrapes</h2>\n");
    if recent.is_empty() {
        page.push_str("<p>None yet.</p>\n");
    } else {
        page.push_str(
            "<table>\n<tr><th>Target</th><th>Finished (UTC)</th><th>Result</th><th>Duration</th><th>Reason</th></tr>\n",
        );
        for record in recent {
            let (class, result, reason) = match &record.failure {
                None => ("success", "success", String::new()),
                Some((reason, detail)) => (
                    "failure",
                    "failure",
                    format!("{}: {}", reason, escape_html(detail)),
                ),
            };
            let _ = writeln!(
                page,
                "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{result}</td><td>{:.3} s</td><td>{reason}</td></tr>",
                escape_html(&record.target),
                format_utc(record.finished_at),
                record.duration.as_secs_f64(),
            );
        }
        page.push_str("</table>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// The modules of `--config.file` with their settings, secrets shown as `<secret>` (each
/// module's summary never holds a secret value).
fn write_modules(page: &mut String, modules: &ModuleSet) {
    let mut modules = modules.modules().peekable();
    if modules.peek().is_none() {
        return;
    }
    page.push_str(
        "<h2>Modules</h2>\n<p>Chosen with <code>/probe?module=NAME&amp;target=...</code>; \
         <code>default</code> applies otherwise.</p>\n<table>\n<tr><th>Module</th><th>Settings</th></tr>\n",
    );
    for module in modules {
        let settings: Vec<String> = module
            .summary
            .iter()
            .map(|(key, value)| format!("{}: {}", escape_html(key), escape_html(value)))
            .collect();
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape_html(&module.name),
            if settings.is_empty() {
                "(none)".to_string()
            } else {
                settings.join("<br>")
            }
        );
    }
    page.push_str("</table>\n");
}

/// Targets and error details come from clients and upstreams: nothing of theirs may become
/// markup.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(character),
        }
    }
    escaped
}

/// `2026-11-27 14:03:09`.
fn format_utc(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let at = syseng_build::UtcTime::from_epoch(i64::try_from(seconds).unwrap_or(i64::MAX));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year, at.month, at.day, at.hour, at.minute, at.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_civil_utc() {
        let at = |seconds| format_utc(UNIX_EPOCH + Duration::from_secs(seconds));
        assert_eq!(at(0), "1970-01-01 00:00:00");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(at(1_795_000_000), "2026-11-18 11:06:40");
    }

    #[test]
    fn targets_and_errors_cannot_inject_markup() {
        let record = ScrapeRecord {
            target: "<script>alert(1)</script>:80".into(),
            finished_at: UNIX_EPOCH,
            duration: Duration::from_millis(12),
            failure: Some(("invalid_json", "expected `\"` at <b>".into())),
        };
        let page = render(
            "/metrics",
            Some("http://x/stats"),
            &[record],
            &crate::modules::ModuleSet::default(),
        );
        assert!(!page.contains("<script>"));
        assert!(!page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;:80"));
        assert!(page.contains("invalid_json: expected `&quot;` at &lt;b&gt;"));
        assert!(page.contains("0.012 s"));
    }
}
