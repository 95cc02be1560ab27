//! What recent scrapes did: a short history for the landing page, and logging each target's
//! failure once (when it starts or its reason changes) instead of at every scrape.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::stats::StatsDocument;
use crate::upstream::ScrapeError;

/// Scrapes kept for the landing page.
pub const HISTORY_LENGTH: usize = 100;
/// Failing targets remembered for log de-duplication; past this, failures are logged every
/// time rather than letting a flood of bad targets grow memory.
pub const MAX_TRACKED_FAILURES: usize = 10_000;

/// One scrape, as shown on the landing page.
#[derive(Debug, Clone)]
pub struct ScrapeRecord {
    pub target: String,
    pub finished_at: SystemTime,
    pub duration: Duration,
    /// `None` on success, else the reason label and the detail.
    pub failure: Option<(&'static str, String)>,
}

#[derive(Debug, Default)]
pub struct ScrapeJournal {
    recent: Mutex<VecDeque<ScrapeRecord>>,
    failing_targets: Mutex<HashMap<String, &'static str>>,
}

/// How a target's state changed with its latest scrape, which decides what gets logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Failing now, for this reason, and was not (or for another reason) before.
    StartedFailing,
    StillFailing,
    Recovered,
    StillHealthy,
}

impl ScrapeJournal {
    pub fn record(
        &self,
        target: &str,
        result: &Result<StatsDocument, ScrapeError>,
        duration: Duration,
    ) {
        let failure = result
            .as_ref()
            .err()
            .map(|error| (error.reason(), error.to_string()));
        match self.transition(target, failure.as_ref().map(|(reason, _)| *reason)) {
            Transition::StartedFailing => {
                if let Some((reason, detail)) = &failure {
                    tracing::warn!(target_uri = target, reason, error = %detail, "scrape failed");
                }
            }
            Transition::StillFailing => {
                if let Some((reason, detail)) = &failure {
                    tracing::debug!(target_uri = target, reason, error = %detail, "scrape failed again");
                }
            }
            Transition::Recovered => tracing::info!(target_uri = target, "scrape succeeded again"),
            Transition::StillHealthy => {}
        }
        let finished_at = SystemTime::now();
        let mut recent = lock(&self.recent);
        // Once the history is full, the oldest record's buffer takes the new target: no
        // allocation per scrape.
        let oldest = (recent.len() == HISTORY_LENGTH).then(|| recent.pop_front());
        let mut text = oldest
            .flatten()
            .map(|record| record.target)
            .unwrap_or_default();
        text.clear();
        text.push_str(target);
        recent.push_back(ScrapeRecord {
            target: text,
            finished_at,
            duration,
            failure,
        });
    }

    /// Most recent first.
    pub fn recent(&self) -> Vec<ScrapeRecord> {
        lock(&self.recent).iter().rev().cloned().collect()
    }

    fn transition(&self, target: &str, failure: Option<&'static str>) -> Transition {
        let mut failing = lock(&self.failing_targets);
        match failure {
            None => match failing.remove(target) {
                Some(_) => Transition::Recovered,
                None => Transition::StillHealthy,
            },
            Some(reason) => match failing.get_mut(target) {
                Some(previous) if *previous == reason => Transition::StillFailing,
                Some(previous) => {
                    *previous = reason;
                    Transition::StartedFailing
                }
                None => {
                    if failing.len() < MAX_TRACKED_FAILURES {
                        failing.insert(target.to_string(), reason);
                    }
                    Transition::StartedFailing
                }
            },
        }
    }
}

/// A panic while holding these locks cannot leave the data half-written (each update is one
/// push or insert), so a poisoned lock is still safe to use.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_reported_once_until_its_reason_changes_or_it_recovers() {
        let journal = ScrapeJournal::default();
        let steps = [
            (None, Transition::StillHealthy),
            (Some("timeout"), Transition::StartedFailing),
            (Some("timeout"), Transition::StillFailing),
            (Some("connection"), Transition::StartedFailing),
            (Some("connection"), Transition::StillFailing),
            (None, Transition::Recovered),
            (None, Transition::StillHealthy),
        ];
        for (failure, expected) in steps {
            assert_eq!(journal.transition("t:1", failure), expected, "{failure:?}");
        }
        assert_eq!(
            journal.transition("other:1", Some("timeout")),
            Transition::StartedFailing
        );
    }

    #[test]
    fn tracked_failures_and_history_are_bounded() {
        let journal = ScrapeJournal::default();
        let failure = Err(ScrapeError::BodyTooLarge);
        for index in 0..MAX_TRACKED_FAILURES + 50 {
            journal.record(&format!("host:{index}"), &failure, Duration::ZERO);
        }
        assert_eq!(lock(&journal.failing_targets).len(), MAX_TRACKED_FAILURES);
        let recent = journal.recent();
        assert_eq!(recent.len(), HISTORY_LENGTH);
        assert_eq!(
            recent[0].target,
            format!("host:{}", MAX_TRACKED_FAILURES + 49)
        );
    }
}
