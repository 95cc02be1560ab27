//! One scrape of a target, as metric families. Pure: the fetch happens elsewhere.

use std::time::Duration;

use crate::exposition::{MetricFamily, MetricType};
use crate::stats::StatsDocument;
use crate::upstream::ScrapeError;

/// What one scrape of a target's `/stats` produced.
#[derive(Debug)]
pub struct ScrapeOutcome {
    pub result: Result<StatsDocument, ScrapeError>,
    /// Time spent fetching and decoding.
    pub duration: Duration,
}

/// The families one target contributes. A failed scrape yields `syseng_up 0` and no
/// `syseng_http_*` series: a zero would read as a counter reset, an absence reads as a gap.
pub fn target_families(outcome: &ScrapeOutcome) -> Vec<MetricFamily> {
    let mut families = Vec::with_capacity(4);
    families.push(MetricFamily::gauge(
        "syseng_up",
        "Whether the last scrape of the service's /stats succeeded (1) or not (0).",
        if outcome.result.is_ok() { 1.0 } else { 0.0 },
    ));
    if let Ok(document) = &outcome.result {
        let mut requests = MetricFamily::new(
            "syseng_http_requests",
            "Requests answered by the service during its lifetime, by HTTP status code (requestCounters).",
            MetricType::Counter,
        );
        for &(code, count) in &document.request_counters {
            requests = requests.with_sample("_total", vec![("code", code.to_string())], count);
        }
        families.push(requests);
        families.push(
            MetricFamily::new(
                "syseng_http_request_duration_seconds",
                "Time the service spent serving requests during its lifetime (duration.sum, duration.count).",
                MetricType::Summary,
            )
            .with_sample("_sum", vec![], document.duration_sum)
            .with_sample("_count", vec![], document.duration_count),
        );
    }
    families.push(MetricFamily::gauge(
        "syseng_scrape_duration_seconds",
        "Seconds spent fetching and decoding the service's /stats.",
        outcome.duration.as_secs_f64(),
    ));
    families
}
