//! The service's `/stats` document: decoding and validation, with no I/O.
//!
//! Only the lifetime totals are read. `requestRates` and `duration.average` are windowed values
//! that Prometheus derives better itself with `rate()`, so they are ignored like any unknown
//! field, whatever they contain.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::error::Category;

/// A validated `/stats` document: the lifetime totals the exporter turns into metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsDocument {
    /// Requests answered per HTTP status code (100–599), ascending by code.
    pub request_counters: Vec<(u16, f64)>,
    /// Keys of `requestCounters` that are not three-digit status codes; skipped to bound the
    /// number of series a misbehaving upstream can create.
    pub skipped_keys: usize,
    /// `duration.count`: requests served during the process's lifetime.
    pub duration_count: f64,
    /// `duration.sum`: seconds spent serving them.
    pub duration_sum: f64,
}

/// Why a body could not be turned into a [`StatsDocument`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not JSON at all (syntax error, truncated body).
    InvalidJson(String),
    /// JSON, but not the document the service sends.
    InvalidDocument(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::InvalidJson(detail) => write!(f, "invalid JSON: {detail}"),
            DecodeError::InvalidDocument(detail) => write!(f, "invalid document: {detail}"),
        }
    }
}

/// The fields read from the top-level object. Deserialized by hand from a JSON object only:
/// serde's derived structs also accept an array (`[{...}, {...}]`), a shape the service never
/// sends. Unknown fields are skipped without being stored, so a large body costs no memory.
#[derive(Default)]
struct RawStats<'de> {
    request_counters: Option<BTreeMap<Key<'de>, f64>>,
    duration: Option<RawDuration>,
}

/// An object key, borrowed from the body unless it holds an escape (serde's own `Cow<str>`
/// always copies): decoding a document allocates no string per key.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string key")
            }

            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[derive(Default)]
struct RawDuration {
    count: Option<f64>,
    sum: Option<f64>,
}

impl<'de> Deserialize<'de> for RawStats<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor::<RawStats<'de>>::new("the /stats object"))
    }
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor::<RawDuration>::new("the duration object"))
    }
}

/// Reads one known field of an object from the map, or reports it as unknown.
trait ObjectFields<'de>: Default {
    fn read_field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
}

impl<'de> ObjectFields<'de> for RawStats<'de> {
    fn read_field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "requestCounters" => set_once(&mut self.request_counters, key, map)?,
            "duration" => set_once(&mut self.duration, key, map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl<'de> ObjectFields<'de> for RawDuration {
    fn read_field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "count" => set_once(&mut self.count, key, map)?,
            "sum" => set_once(&mut self.sum, key, map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn set_once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    key: &str,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::custom(format!("duplicate field {key:?}")));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

struct ObjectVisitor<T> {
    expecting: &'static str,
    object: PhantomData<T>,
}

impl<T> ObjectVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        Self {
            expecting,
            object: PhantomData,
        }
    }
}

impl<'de, T: ObjectFields<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "{}", self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut object = T::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if !object.read_field(&key, &mut map)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(object)
    }
}

/// Decodes and validates a `/stats` body.
pub fn decode_stats(body: &[u8]) -> Result<StatsDocument, DecodeError> {
    let raw: RawStats = serde_json::from_slice(body).map_err(classify_json_error)?;
    let counters = raw
        .request_counters
        .ok_or_else(|| invalid("requestCounters is missing"))?;
    let duration = raw.duration.ok_or_else(|| invalid("duration is missing"))?;
    let duration_count = duration
        .count
        .ok_or_else(|| invalid("duration.count is missing"))?;
    let duration_sum = duration
        .sum
        .ok_or_else(|| invalid("duration.sum is missing"))?;

    check_total("duration.count", duration_count)?;
    if duration_count.fract() != 0.0 {
        return Err(invalid(format!(
            "duration.count is not a whole number ({duration_count})"
        )));
    }
    check_total("duration.sum", duration_sum)?;

    let mut request_counters = Vec::with_capacity(counters.len());
    let mut skipped_keys = 0;
    for (key, value) in &counters {
        check_total(format_args!("requestCounters[{:?}]", key.0), *value)?;
        match parse_status_code(&key.0) {
            Some(code) => request_counters.push((code, *value)),
            None => skipped_keys += 1,
        }
    }
    // The map is ordered by key text, and every kept key has three digits, so codes ascend.
    Ok(StatsDocument {
        request_counters,
        skipped_keys,
        duration_count,
        duration_sum,
    })
}

/// A status code as the service writes it: exactly three ASCII digits, 100 to 599.
pub fn parse_status_code(key: &str) -> Option<u16> {
    if key.len() != 3 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = key.parse().ok()?;
    (100..=599).contains(&code).then_some(code)
}

fn check_total(field: impl fmt::Display, value: f64) -> Result<(), DecodeError> {
    if !value.is_finite() || value < 0.0 {
        return Err(invalid(format!(
            "{field} must be a finite, non-negative number, got {value}"
        )));
    }
    Ok(())
}

fn invalid(detail: impl Into<String>) -> DecodeError {
    DecodeError::InvalidDocument(detail.into())
}

fn classify_json_error(error: serde_json::Error) -> DecodeError {
    match error.classify() {
        // Well-formed JSON of the wrong shape: a string where a number belongs, an array at the
        // top, a null counter.
        Category::Data => DecodeError::InvalidDocument(error.to_string()),
        // serde_json reports a number too large for an f64 as a syntax error, but the text is
        // valid JSON: what is wrong is the value, as with any other non-finite number.
        Category::Syntax if error.to_string().starts_with("number out of range") => {
            DecodeError::InvalidDocument(error.to_string())
        }
        Category::Syntax | Category::Eof | Category::Io => {
            DecodeError::InvalidJson(error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../testdata/sample.json");

    fn reason_of(body: &str) -> DecodeError {
        decode_stats(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn sample_document_decodes_to_its_totals() {
        let doc = decode_stats(SAMPLE.as_bytes()).unwrap();
        assert_eq!(
            doc.request_counters,
            vec![(200, 65221.0), (404, 14066.0), (500, 12618.0)]
        );
        assert_eq!(doc.duration_count, 91905.0);
        assert_eq!(doc.duration_sum, 4484.3037570333245);
        assert_eq!(doc.skipped_keys, 0);
    }

    #[test]
    fn windowed_and_unknown_fields_are_ignored_whatever_their_type() {
        let body = r#"{"requestCounters":{"200":1},"requestRates":"nonsense",
            "duration":{"count":1,"sum":0.5,"average":[1,2]},"extra":{"deep":[null]}}"#;
        let doc = decode_stats(body.as_bytes()).unwrap();
        assert_eq!(doc.request_counters, vec![(200, 1.0)]);
    }

    #[test]
    fn keys_that_are_not_status_codes_are_skipped_and_counted() {
        let body = r#"{"requestCounters":{"200":1,"099":2,"600":3,"2000":4,"abc":5,"":6,"20":7,"٢٠٠":8,"404":9},
            "duration":{"count":35,"sum":1}}"#;
        let doc = decode_stats(body.as_bytes()).unwrap();
        assert_eq!(doc.request_counters, vec![(200, 1.0), (404, 9.0)]);
        assert_eq!(doc.skipped_keys, 7);
    }

    #[test]
    fn empty_counters_are_a_valid_document() {
        let doc =
            decode_stats(br#"{"requestCounters":{},"duration":{"count":0,"sum":0}}"#).unwrap();
        assert!(doc.request_counters.is_empty());
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        for body in [
            "",
            "{",
            "not json",
            r#"{"requestCounters":{"200":1}"#,
            "{}}",
        ] {
            assert!(
                matches!(reason_of(body), DecodeError::InvalidJson(_)),
                "{body:?}"
            );
        }
    }

    #[test]
    fn wrong_shapes_are_invalid_documents() {
        let cases = [
            ("[]", "invalid type: sequence, expected the /stats object"),
            (
                "[{\"200\":1},{\"count\":1,\"sum\":1}]",
                "invalid type: sequence",
            ),
            (
                r#"{"requestCounters":{},"duration":[1,1]}"#,
                "expected the duration object",
            ),
            (
                r#"{"requestCounters":{"200":1},"requestCounters":{},"duration":{"count":1,"sum":1}}"#,
                "duplicate field \"requestCounters\"",
            ),
            ("null", "invalid type"),
            (
                r#"{"duration":{"count":1,"sum":1}}"#,
                "requestCounters is missing",
            ),
            (r#"{"requestCounters":{}}"#, "duration is missing"),
            (
                r#"{"requestCounters":{},"duration":{"sum":1}}"#,
                "duration.count is missing",
            ),
            (
                r#"{"requestCounters":{},"duration":{"count":1}}"#,
                "duration.sum is missing",
            ),
            (
                r#"{"requestCounters":{"200":"7"},"duration":{"count":1,"sum":1}}"#,
                "invalid type: string",
            ),
            (
                r#"{"requestCounters":{"200":null},"duration":{"count":1,"sum":1}}"#,
                "invalid type: null",
            ),
            (
                r#"{"requestCounters":[1],"duration":{"count":1,"sum":1}}"#,
                "invalid type: sequence",
            ),
            (
                r#"{"requestCounters":{"200":-1},"duration":{"count":1,"sum":1}}"#,
                "requestCounters[\"200\"] must be a finite, non-negative number, got -1",
            ),
            (
                r#"{"requestCounters":{"foo":-1},"duration":{"count":1,"sum":1}}"#,
                "requestCounters[\"foo\"] must be",
            ),
            (
                r#"{"requestCounters":{},"duration":{"count":1.5,"sum":1}}"#,
                "duration.count is not a whole number (1.5)",
            ),
            (
                r#"{"requestCounters":{},"duration":{"count":-3,"sum":1}}"#,
                "duration.count must be",
            ),
            (
                r#"{"requestCounters":{},"duration":{"count":3,"sum":-0.1}}"#,
                "duration.sum must be",
            ),
            (
                r#"{"requestCounters":{"200":1e999},"duration":{"count":1,"sum":1}}"#,
                "number out of range",
            ),
            (
                r#"{"requestCounters":{},"duration":"fast"}"#,
                "invalid type: string",
            ),
        ];
        for (body, expected) in cases {
            match reason_of(body) {
                DecodeError::InvalidDocument(detail) => {
                    assert!(detail.contains(expected), "{body}: {detail}")
                }
                other => panic!("{body}: expected an invalid document, got {other:?}"),
            }
        }
    }

    #[test]
    fn status_codes_are_exactly_three_digits_from_100_to_599() {
        assert_eq!(parse_status_code("100"), Some(100));
        assert_eq!(parse_status_code("599"), Some(599));
        for key in ["099", "600", "+20", "20 ", "1e2", "2.0", "-200"] {
            assert_eq!(parse_status_code(key), None, "{key}");
        }
    }
}
