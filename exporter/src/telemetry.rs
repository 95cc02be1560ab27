//! The exporter's own metrics: build, scrape results and error reasons, refused requests.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::exposition::{MetricFamily, MetricType};
use crate::stats::StatsDocument;
use crate::upstream::ScrapeError;

/// This binary's build: `--version`, the build_info labels, the landing page and the start-up log.
pub const BUILD: syseng_build::BuildInfo = syseng_build::build_info!();
pub const VERSION: &str = BUILD.version;
pub const REVISION: &str = BUILD.revision;

/// Counters shared by every worker thread. Every label value exists from the start, so a
/// `rate()` over them never misses the first failure.
#[derive(Debug, Default)]
pub struct ExporterMetrics {
    successes: AtomicU64,
    failures: AtomicU64,
    errors_by_reason: [AtomicU64; ScrapeError::REASONS.len()],
    skipped_status_codes: AtomicU64,
    rejected_requests: AtomicU64,
}

impl ExporterMetrics {
    pub fn record_scrape(&self, result: &Result<StatsDocument, ScrapeError>) {
        match result {
            Ok(document) => {
                self.successes.fetch_add(1, Relaxed);
                if document.skipped_keys > 0 {
                    self.skipped_status_codes
                        .fetch_add(document.skipped_keys as u64, Relaxed);
                }
            }
            Err(error) => {
                self.failures.fetch_add(1, Relaxed);
                let index = ScrapeError::REASONS
                    .iter()
                    .position(|reason| *reason == error.reason())
                    .unwrap_or(0);
                self.errors_by_reason[index].fetch_add(1, Relaxed);
            }
        }
    }

    pub fn record_rejected_request(&self) {
        self.rejected_requests.fetch_add(1, Relaxed);
    }

    pub fn families(&self) -> Vec<MetricFamily> {
        let mut errors = MetricFamily::new(
            "syseng_exporter_scrape_errors",
            "Failed scrapes of the service's /stats, by reason.",
            MetricType::Counter,
        );
        for (reason, count) in ScrapeError::REASONS.iter().zip(&self.errors_by_reason) {
            errors = errors.with_sample(
                "_total",
                vec![("reason", (*reason).into())],
                count.load(Relaxed) as f64,
            );
        }
        vec![
            MetricFamily::new(
                "syseng_exporter_build_info",
                "A metric with a constant '1' value labeled by version, revision, branch, rustversion, os and arch from which syseng_exporter was built.",
                MetricType::Gauge,
            )
            .with_sample(
                "",
                BUILD
                    .labels()
                    .iter()
                    .map(|(name, value)| (*name, value.to_string().into()))
                    .collect(),
                1.0,
            ),
            MetricFamily::new(
                "syseng_exporter_scrapes",
                "Scrapes of the service's /stats, by result.",
                MetricType::Counter,
            )
            .with_sample(
                "_total",
                vec![("result", "success".into())],
                self.successes.load(Relaxed) as f64,
            )
            .with_sample(
                "_total",
                vec![("result", "failure".into())],
                self.failures.load(Relaxed) as f64,
            ),
            errors,
            MetricFamily::new(
                "syseng_exporter_skipped_status_codes",
                "Keys of requestCounters skipped because they are not status codes from 100 to 599.",
                MetricType::Counter,
            )
            .with_sample("_total", vec![], self.skipped_status_codes.load(Relaxed) as f64),
            MetricFamily::new(
                "syseng_exporter_rejected_requests",
                "Scrape requests refused: 503 when --web.max-requests scrapes were already running, 429 when --probe.max-concurrent-per-target probes of the target were.",
                MetricType::Counter,
            )
            .with_sample("_total", vec![], self.rejected_requests.load(Relaxed) as f64),
        ]
    }
}
