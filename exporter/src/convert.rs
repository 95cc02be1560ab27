//! One scrape of a target, as metric families. Pure: the fetch happens elsewhere.

use std::borrow::Cow;
use std::time::Duration;

use crate::exposition::{LabelValue, MetricFamily, MetricType};
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
            requests =
                requests.with_sample("_total", vec![("code", status_code_label(code))], count);
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

/// "100" to "599" back to back: a counter's `code` label is a slice of this, not a string
/// formatted at every scrape.
static STATUS_CODE_DIGITS: [u8; 1500] = {
    let mut digits = [0u8; 1500];
    let mut index = 0;
    while index < 500 {
        let code = 100 + index;
        digits[3 * index] = b'0' + (code / 100) as u8;
        digits[3 * index + 1] = b'0' + (code / 10 % 10) as u8;
        digits[3 * index + 2] = b'0' + (code % 10) as u8;
        index += 1;
    }
    digits
};

fn status_code_label(code: u16) -> LabelValue {
    if (100..600).contains(&code) {
        let start = 3 * usize::from(code - 100);
        if let Ok(text) = std::str::from_utf8(&STATUS_CODE_DIGITS[start..start + 3]) {
            return Cow::Borrowed(text);
        }
    }
    Cow::Owned(code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_code_labels_are_the_codes_written_out() {
        for code in [0, 99, 100, 101, 199, 200, 404, 599, 600, u16::MAX] {
            let label = status_code_label(code);
            assert_eq!(label, code.to_string());
            assert_eq!(
                matches!(label, Cow::Borrowed(_)),
                (100..600).contains(&code),
                "{code}"
            );
        }
        assert!((100..600).all(|code| status_code_label(code) == code.to_string()));
    }
}
