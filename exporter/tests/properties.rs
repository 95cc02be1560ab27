//! Property tests of the pure core: for generated documents, what the encoders write parses
//! back (with an independent parser, openmetrics-parser) to exactly the values and labels that
//! went in, in both formats; and no input makes decoding panic.

use std::collections::BTreeMap;
use std::time::Duration;

use openmetrics_parser::{MetricNumber, OpenMetricsValue, PrometheusValue};
use proptest::prelude::*;
use syseng_exporter::convert::{ScrapeOutcome, target_families};
use syseng_exporter::exposition::{Format, MetricFamily, MetricType, encode, finish};
use syseng_exporter::stats::{decode_stats, parse_status_code};

/// A sample as read back: family, labels, value.
type Parsed = Vec<(String, Vec<(String, String)>, f64)>;

fn number(value: &MetricNumber) -> f64 {
    value.as_f64()
}

fn parse_text(text: &str) -> Parsed {
    let exposition = openmetrics_parser::prometheus::parse_prometheus(text)
        .unwrap_or_else(|error| panic!("text format does not parse: {error}\n{text}"));
    let mut samples = Parsed::new();
    for (name, family) in &exposition.families {
        for sample in family.iter_samples() {
            let labels = labels_of(sample.get_labelset().unwrap().iter());
            match &sample.value {
                PrometheusValue::Gauge(value) | PrometheusValue::Unknown(value) => {
                    samples.push((name.clone(), labels, number(value)))
                }
                PrometheusValue::Counter(counter) => {
                    samples.push((name.clone(), labels, number(&counter.value)))
                }
                PrometheusValue::Summary(summary) => {
                    let sum = summary.sum.as_ref().map(number).unwrap_or(f64::NAN);
                    let count = summary.count.map(|count| count as f64).unwrap_or(f64::NAN);
                    samples.push((format!("{name}_sum"), labels.clone(), sum));
                    samples.push((format!("{name}_count"), labels, count));
                }
                other => panic!("unexpected value {other:?}"),
            }
        }
    }
    samples.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    samples
}

fn parse_openmetrics(text: &str) -> Parsed {
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(text)
        .unwrap_or_else(|error| panic!("OpenMetrics does not parse: {error}\n{text}"));
    let mut samples = Parsed::new();
    for (name, family) in &exposition.families {
        for sample in family.iter_samples() {
            let labels = labels_of(sample.get_labelset().unwrap().iter());
            match &sample.value {
                OpenMetricsValue::Gauge(value) | OpenMetricsValue::Unknown(value) => {
                    samples.push((name.clone(), labels, number(value)))
                }
                // OpenMetrics names the family without `_total`; name it as the text format does.
                OpenMetricsValue::Counter(counter) => {
                    samples.push((format!("{name}_total"), labels, number(&counter.value)))
                }
                OpenMetricsValue::Summary(summary) => {
                    let sum = summary.sum.as_ref().map(number).unwrap_or(f64::NAN);
                    let count = summary.count.map(|count| count as f64).unwrap_or(f64::NAN);
                    samples.push((format!("{name}_sum"), labels.clone(), sum));
                    samples.push((format!("{name}_count"), labels, count));
                }
                other => panic!("unexpected value {other:?}"),
            }
        }
    }
    samples.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    samples
}

fn labels_of<'a>(labels: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<(String, String)> {
    labels
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

fn render(families: &[MetricFamily], format: Format) -> String {
    let mut out = String::new();
    encode(families, format, &mut out);
    finish(format, &mut out);
    out
}

/// Keys as an upstream might send them: mostly status codes, some junk that must be skipped,
/// some that try to forge series.
fn counter_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (100u16..600).prop_map(|code| code.to_string()),
        1 => any::<String>(),
        1 => Just("200\"} 1\nforged 1\n#".to_string()),
        1 => "[0-9]{1,4}",
    ]
}

/// Lifetime totals: whole numbers up to 2^53 (exact in an f64) and fractions.
fn total() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u64..(1 << 53)).prop_map(|value| value as f64),
        0.0f64..1e12,
        Just(0.0),
        Just(f64::MIN_POSITIVE),
    ]
}

#[derive(Debug, Clone)]
struct Document {
    counters: BTreeMap<String, f64>,
    count: f64,
    sum: f64,
}

fn document() -> impl Strategy<Value = Document> {
    (
        prop::collection::btree_map(counter_key(), total(), 0..10),
        (0u64..(1 << 53)).prop_map(|count| count as f64),
        total(),
    )
        .prop_map(|(counters, count, sum)| Document {
            counters,
            count,
            sum,
        })
}

impl Document {
    fn json(&self) -> String {
        serde_json::json!({
            "requestCounters": self.counters,
            "requestRates": {"200": 1},
            "duration": {"count": self.count, "sum": self.sum, "average": 0.1},
        })
        .to_string()
    }

    /// What a correct exporter must expose for this document, as read back.
    fn expected(&self, scrape_seconds: f64) -> Parsed {
        let mut expected: Parsed = self
            .counters
            .iter()
            .filter_map(|(key, value)| {
                let code = parse_status_code(key)?;
                Some((
                    "syseng_http_requests_total".to_string(),
                    vec![("code".to_string(), code.to_string())],
                    *value,
                ))
            })
            .collect();
        expected.push(("syseng_up".into(), vec![], 1.0));
        expected.push((
            "syseng_http_request_duration_seconds_sum".into(),
            vec![],
            self.sum,
        ));
        expected.push((
            "syseng_http_request_duration_seconds_count".into(),
            vec![],
            self.count,
        ));
        expected.push((
            "syseng_scrape_duration_seconds".into(),
            vec![],
            scrape_seconds,
        ));
        expected.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        expected
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[0-9a-z\"]{0,5}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("requestCounters".to_string()),
                    Just("duration".to_string()),
                    Just("count".to_string()),
                    Just("sum".to_string()),
                    "[0-9]{3}",
                    "[a-z]{1,4}",
                ],
                inner,
                0..6
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_document_reads_back_to_its_values_in_both_formats(document in document()) {
        let decoded = decode_stats(document.json().as_bytes()).expect("a valid document");
        let scrape = Duration::from_micros(12_345);
        let families = target_families(&ScrapeOutcome { result: Ok(decoded), duration: scrape });
        let expected = document.expected(scrape.as_secs_f64());
        prop_assert_eq!(parse_text(&render(&families, Format::Text)), expected.clone());
        prop_assert_eq!(parse_openmetrics(&render(&families, Format::OpenMetrics)), expected);
    }

    #[test]
    fn any_label_value_survives_escaping_in_both_formats(value in any::<String>(), number in total()) {
        let families = vec![MetricFamily::new("probe_label", "Help with \\ and \n.", MetricType::Gauge)
            .with_sample("", vec![("value", value.clone().into())], number)];
        let expected = vec![("probe_label".to_string(), vec![("value".to_string(), value)], number)];
        prop_assert_eq!(parse_text(&render(&families, Format::Text)), expected.clone());
        prop_assert_eq!(parse_openmetrics(&render(&families, Format::OpenMetrics)), expected);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_stats(&bytes);
    }

    #[test]
    fn decoding_arbitrary_json_never_panics_and_valid_results_encode(value in json_value()) {
        if let Ok(document) = decode_stats(value.to_string().as_bytes()) {
            let families = target_families(&ScrapeOutcome { result: Ok(document), duration: Duration::ZERO });
            parse_text(&render(&families, Format::Text));
            parse_openmetrics(&render(&families, Format::OpenMetrics));
        }
    }
}
