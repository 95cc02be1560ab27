//! The `/stats` document, in the exact shape the real service answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `{"requestCounters":{..},"requestRates":{..},"duration":{"count","sum","average"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatsDocument {
    /// Lifetime requests per status code (codes never seen are absent).
    pub request_counters: BTreeMap<u16, u64>,
    /// Requests per status code over the last second; codes without traffic are absent.
    pub request_rates: BTreeMap<u16, u64>,
    /// Lifetime count and sum of durations, and the average over the last second.
    pub duration: DurationStats,
}

/// The `duration` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationStats {
    /// Lifetime number of requests; always the sum of `requestCounters`.
    pub count: u64,
    /// Lifetime total of request durations, in seconds.
    pub sum: f64,
    /// Mean request duration over the last second, in seconds (0 without traffic).
    pub average: f64,
}

impl StatsDocument {
    /// The JSON body.
    pub fn to_json(&self) -> String {
        // Serialising plain maps of integers and finite floats cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_the_service_shape_with_codes_as_keys() {
        let doc = StatsDocument {
            request_counters: [(200, 65221), (404, 14066)].into_iter().collect(),
            request_rates: [(200, 100)].into_iter().collect(),
            duration: DurationStats {
                count: 79287,
                sum: 4484.25,
                average: 0.0246,
            },
        };
        assert_eq!(
            doc.to_json(),
            r#"{"requestCounters":{"200":65221,"404":14066},"requestRates":{"200":100},"duration":{"count":79287,"sum":4484.25,"average":0.0246}}"#
        );
        let back: StatsDocument = serde_json::from_str(&doc.to_json()).unwrap();
        assert_eq!(back, doc);
    }
}
