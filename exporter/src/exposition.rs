//! Metric families and their two wire formats: the Prometheus text format 0.0.4 and
//! OpenMetrics 1.0, chosen from the scraper's `Accept` header.
//!
//! The encoder is ours because the crates at hand either lack a summary without quantiles or
//! write non-finite values differently from the OpenMetrics spec; the families here are few and
//! the formats small, and the tests check the output with promtool and a parser.
//!
//! # Example
//!
//! A gauge and a labelled counter, written in both formats. The counter family is named
//! without `_total`; the text format's metadata adds it, OpenMetrics' does not, and the
//! samples always carry it. Label values are escaped, and OpenMetrics ends with `# EOF`.
//!
//! ```
//! use syseng_exporter::exposition::{Format, MetricFamily, MetricType, encode, finish};
//!
//! let families = [
//!     MetricFamily::gauge("syseng_up", "Whether the last read of /stats succeeded.", 1.0),
//!     MetricFamily::new("syseng_requests", "Requests served, by code.", MetricType::Counter)
//!         .with_sample("_total", vec![("code", "200".into())], 65221.0)
//!         .with_sample("_total", vec![("code", "5\"xx\"".into())], f64::INFINITY),
//! ];
//!
//! let mut text = String::new();
//! encode(&families, Format::Text, &mut text);
//! finish(Format::Text, &mut text);
//! assert_eq!(
//!     text,
//!     concat!(
//!         "# HELP syseng_up Whether the last read of /stats succeeded.\n",
//!         "# TYPE syseng_up gauge\n",
//!         "syseng_up 1\n",
//!         "# HELP syseng_requests_total Requests served, by code.\n",
//!         "# TYPE syseng_requests_total counter\n",
//!         "syseng_requests_total{code=\"200\"} 65221\n",
//!         "syseng_requests_total{code=\"5\\\"xx\\\"\"} +Inf\n",
//!     )
//! );
//!
//! let mut openmetrics = String::new();
//! encode(&families, Format::OpenMetrics, &mut openmetrics);
//! finish(Format::OpenMetrics, &mut openmetrics);
//! assert_eq!(
//!     openmetrics,
//!     concat!(
//!         "# HELP syseng_up Whether the last read of /stats succeeded.\n",
//!         "# TYPE syseng_up gauge\n",
//!         "syseng_up 1\n",
//!         "# HELP syseng_requests Requests served, by code.\n",
//!         "# TYPE syseng_requests counter\n",
//!         "syseng_requests_total{code=\"200\"} 65221\n",
//!         "syseng_requests_total{code=\"5\\\"xx\\\"\"} +Inf\n",
//!         "# EOF\n",
//!     )
//! );
//! ```
//!
//! Which format a scrape gets depends on its `Accept` header:
//!
//! ```
//! use syseng_exporter::exposition::Format;
//!
//! let prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
//! assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
//! assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
//! assert_eq!(Format::negotiate(None), Format::Text);
//! assert_eq!(
//!     Format::OpenMetrics.content_type(),
//!     "application/openmetrics-text; version=1.0.0; charset=utf-8"
//! );
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// How a family's samples are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    Counter,
    /// `_sum` and `_count` only: the service has no quantiles to give.
    Summary,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
            MetricType::Summary => "summary",
        }
    }
}

/// A label's value: most are fixed strings (a reason, a result, a status code), which need no
/// copy per scrape.
pub type LabelValue = Cow<'static, str>;

/// One sample of a family: the family name plus `suffix`, with labels and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Appended to the family name: `""`, `"_total"`, `"_sum"`, `"_count"`.
    pub suffix: &'static str,
    pub labels: Vec<(&'static str, LabelValue)>,
    pub value: f64,
}

/// A metric family. For counters `name` has no `_total`: OpenMetrics names the family without
/// it, the text format with it, and the samples always carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub metric_type: MetricType,
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// A family holding one unlabelled gauge sample.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Self {
        Self::new(name, help, MetricType::Gauge).with_sample("", vec![], value)
    }

    pub fn new(name: &'static str, help: &'static str, metric_type: MetricType) -> Self {
        Self {
            name,
            help,
            metric_type,
            samples: Vec::new(),
        }
    }

    pub fn with_sample(
        mut self,
        suffix: &'static str,
        labels: Vec<(&'static str, LabelValue)>,
        value: f64,
    ) -> Self {
        self.samples.push(Sample {
            suffix,
            labels,
            value,
        });
        self
    }
}

/// The exposition formats the exporter speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4, the default for clients that do not ask.
    Text,
    /// OpenMetrics 1.0.0, which Prometheus asks for first.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Picks the format from an `Accept` header by quality, preferring OpenMetrics on a tie.
    /// OpenMetrics is only chosen when the client accepts version 1.0.0 (or names no
    /// version); anything else, including no header, gets the text format every scraper reads.
    pub fn negotiate(accept: Option<&str>) -> Format {
        Negotiated::from_accept(accept).format
    }
}

/// The UTF-8 name escaping schemes a scraper may ask for (Prometheus 3 sends `escaping=` with
/// each media range). The exporter's names are all legacy names, which every scheme leaves
/// unchanged, so the answer is the same bytes whichever is asked; the scheme is only echoed in
/// the `Content-Type`, as client_golang does, to say how the names were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaping {
    AllowUtf8,
    Underscores,
    Dots,
    Values,
}

impl Escaping {
    fn parse(value: &str) -> Option<Escaping> {
        match value {
            "allow-utf-8" => Some(Escaping::AllowUtf8),
            "underscores" => Some(Escaping::Underscores),
            "dots" => Some(Escaping::Dots),
            "values" => Some(Escaping::Values),
            _ => None,
        }
    }
}

/// The format chosen from an `Accept` header, and the escaping asked with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub format: Format,
    pub escaping: Option<Escaping>,
}

impl Negotiated {
    pub fn from_accept(accept: Option<&str>) -> Negotiated {
        let text = Negotiated {
            format: Format::Text,
            escaping: None,
        };
        let Some(accept) = accept else {
            return text;
        };
        // Per format: the best quality seen, and the escaping of that media range.
        let mut best_openmetrics = (0.0_f32, None);
        let mut best_text = (0.0_f32, None);
        for media_range in accept.split(',') {
            let mut parts = media_range.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or("");
            let mut quality = 1.0_f32;
            let mut version = None;
            let mut escaping = None;
            for parameter in parts {
                let (key, value) = parameter.split_once('=').unwrap_or((parameter, ""));
                // RFC 9110: a parameter value may be a quoted string.
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|rest| rest.strip_suffix('"'))
                    .unwrap_or(value);
                let key = key.trim();
                if key.eq_ignore_ascii_case("q") {
                    quality = value.parse().unwrap_or(0.0);
                } else if key.eq_ignore_ascii_case("version") {
                    version = Some(value);
                } else if key.eq_ignore_ascii_case("escaping") {
                    escaping = Escaping::parse(value);
                }
            }
            if quality.is_nan() || quality <= 0.0 {
                continue;
            }
            let is = |name: &str| media_type.eq_ignore_ascii_case(name);
            let best = if is("application/openmetrics-text") {
                if !matches!(version, None | Some("1.0.0")) {
                    continue;
                }
                &mut best_openmetrics
            } else if is("text/plain") || is("text/*") || is("*/*") {
                &mut best_text
            } else {
                continue;
            };
            if quality > best.0 {
                *best = (quality, escaping);
            }
        }
        if best_openmetrics.0 > 0.0 && best_openmetrics.0 >= best_text.0 {
            Negotiated {
                format: Format::OpenMetrics,
                escaping: best_openmetrics.1,
            }
        } else {
            Negotiated {
                format: Format::Text,
                escaping: best_text.1,
            }
        }
    }

    pub fn content_type(self) -> &'static str {
        use Escaping::*;
        match (self.format, self.escaping) {
            (format, None) => format.content_type(),
            (Format::Text, Some(AllowUtf8)) => {
                "text/plain; version=0.0.4; charset=utf-8; escaping=allow-utf-8"
            }
            (Format::Text, Some(Underscores)) => {
                "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
            }
            (Format::Text, Some(Dots)) => "text/plain; version=0.0.4; charset=utf-8; escaping=dots",
            (Format::Text, Some(Values)) => {
                "text/plain; version=0.0.4; charset=utf-8; escaping=values"
            }
            (Format::OpenMetrics, Some(AllowUtf8)) => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
            }
            (Format::OpenMetrics, Some(Underscores)) => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
            }
            (Format::OpenMetrics, Some(Dots)) => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=dots"
            }
            (Format::OpenMetrics, Some(Values)) => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=values"
            }
        }
    }
}

/// Writes families in the given format. OpenMetrics output ends with `# EOF`; call
/// [`finish`] once after the last batch. Families without samples are left out: their
/// metadata alone says nothing, and some OpenMetrics parsers refuse it.
///
/// ```
/// use syseng_exporter::exposition::{Format, MetricFamily, MetricType, encode, finish};
///
/// let mut out = String::new();
/// let empty = MetricFamily::new("syseng_errors", "Errors.", MetricType::Counter);
/// encode(&[empty], Format::OpenMetrics, &mut out);
/// assert_eq!(out, "");
///
/// // Batches are concatenated; `finish` is called once, after the last.
/// encode(&[MetricFamily::gauge("a", "A.", 0.5)], Format::OpenMetrics, &mut out);
/// encode(&[MetricFamily::gauge("b", "B.", f64::NAN)], Format::OpenMetrics, &mut out);
/// finish(Format::OpenMetrics, &mut out);
/// assert_eq!(
///     out,
///     "# HELP a A.\n# TYPE a gauge\na 0.5\n# HELP b B.\n# TYPE b gauge\nb NaN\n# EOF\n"
/// );
/// ```
pub fn encode(families: &[MetricFamily], format: Format, out: &mut String) {
    for family in families.iter().filter(|family| !family.samples.is_empty()) {
        encode_family(family, format, out);
    }
}

/// Ends an exposition: OpenMetrics requires a final `# EOF` line.
pub fn finish(format: Format, out: &mut String) {
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

fn encode_family(family: &MetricFamily, format: Format, out: &mut String) {
    // The text format names a counter family after its samples; OpenMetrics without `_total`.
    let type_name_suffix = match (family.metric_type, format) {
        (MetricType::Counter, Format::Text) => "_total",
        _ => "",
    };
    out.push_str("# HELP ");
    out.push_str(family.name);
    out.push_str(type_name_suffix);
    out.push(' ');
    escape_into(family.help, format == Format::OpenMetrics, out);
    out.push_str("\n# TYPE ");
    out.push_str(family.name);
    out.push_str(type_name_suffix);
    out.push(' ');
    out.push_str(family.metric_type.as_str());
    out.push('\n');
    for sample in &family.samples {
        out.push_str(family.name);
        out.push_str(sample.suffix);
        if !sample.labels.is_empty() {
            out.push('{');
            for (index, (name, value)) in sample.labels.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(name);
                out.push_str("=\"");
                escape_into(value, true, out);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        write_value(sample.value, out);
        out.push('\n');
    }
}

/// Escapes `\`, newline and, in label values and OpenMetrics help, `"`: the only characters
/// that could end a value early and so forge another series.
fn escape_into(text: &str, escape_quotes: bool, out: &mut String) {
    // Runs without those characters, nearly every text, are copied whole: all three are ASCII,
    // so a byte position is always a character boundary.
    let mut rest = text;
    while let Some(at) = rest
        .bytes()
        .position(|b| b == b'\\' || b == b'\n' || (escape_quotes && b == b'"'))
    {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => "\\\"",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// Both formats spell non-finite values `NaN`, `+Inf`, `-Inf`; Rust's shortest round-trip
/// formatting of finite values (`65221`, `4484.3037570333245`, `1e-7`) parses in both.
fn write_value(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families() -> Vec<MetricFamily> {
        vec![
            MetricFamily::gauge("demo_up", "Whether it worked.", 1.0),
            MetricFamily::new(
                "demo_requests",
                "Requests \"served\"\\n.",
                MetricType::Counter,
            )
            .with_sample("_total", vec![("code", "200".into())], 3.0)
            .with_sample(
                "_total",
                vec![("code", "a\"b\\c\nd".into()), ("zone", "z".into())],
                f64::INFINITY,
            ),
        ]
    }

    #[test]
    fn text_format_names_counter_families_with_total() {
        let mut out = String::new();
        encode(&families(), Format::Text, &mut out);
        finish(Format::Text, &mut out);
        assert_eq!(
            out,
            "# HELP demo_up Whether it worked.\n\
             # TYPE demo_up gauge\n\
             demo_up 1\n\
             # HELP demo_requests_total Requests \"served\"\\\\n.\n\
             # TYPE demo_requests_total counter\n\
             demo_requests_total{code=\"200\"} 3\n\
             demo_requests_total{code=\"a\\\"b\\\\c\\nd\",zone=\"z\"} +Inf\n"
        );
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let mut out = String::new();
        encode(&families(), Format::OpenMetrics, &mut out);
        finish(Format::OpenMetrics, &mut out);
        assert_eq!(
            out,
            "# HELP demo_up Whether it worked.\n\
             # TYPE demo_up gauge\n\
             demo_up 1\n\
             # HELP demo_requests Requests \\\"served\\\"\\\\n.\n\
             # TYPE demo_requests counter\n\
             demo_requests_total{code=\"200\"} 3\n\
             demo_requests_total{code=\"a\\\"b\\\\c\\nd\",zone=\"z\"} +Inf\n\
             # EOF\n"
        );
    }

    #[test]
    fn families_without_samples_are_left_out() {
        let mut out = String::new();
        encode(
            &[MetricFamily::new(
                "demo_empty",
                "Nothing.",
                MetricType::Counter,
            )],
            Format::OpenMetrics,
            &mut out,
        );
        assert_eq!(out, "");
    }

    #[test]
    fn values_use_shortest_round_trip_spelling() {
        let mut out = String::new();
        for value in [
            0.0,
            65221.0,
            4484.3037570333245,
            1e-7,
            f64::NAN,
            f64::NEG_INFINITY,
        ] {
            write_value(value, &mut out);
            out.push(' ');
        }
        assert_eq!(out, "0 65221 4484.3037570333245 0.0000001 NaN -Inf ");
    }

    #[test]
    fn prometheus_accept_header_gets_openmetrics() {
        let prometheus_2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus_2)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn other_accept_headers_get_text() {
        for accept in [
            None,
            Some(""),
            Some("*/*"),
            Some("text/plain;version=0.0.4"),
            Some("application/openmetrics-text;version=0.0.1"),
            Some("application/openmetrics-text;q=0,text/plain"),
            Some("application/openmetrics-text;q=0.5,text/plain;q=0.9"),
            Some("application/json"),
            Some(";;;,,=q;"),
        ] {
            assert_eq!(Format::negotiate(accept), Format::Text, "{accept:?}");
        }
    }

    #[test]
    fn prometheus_3_headers_get_openmetrics_with_the_escaping_they_asked_for() {
        let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        let protobuf_first = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        for accept in [prometheus_3, protobuf_first] {
            let negotiated = Negotiated::from_accept(Some(accept));
            assert_eq!(negotiated.format, Format::OpenMetrics, "{accept}");
            assert_eq!(
                negotiated.content_type(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
            );
        }
        let text_1 = Negotiated::from_accept(Some("text/plain;version=1.0.0;escaping=underscores"));
        assert_eq!(
            text_1.content_type(),
            "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
        );
        // Prometheus 2 sends no escaping, and gets none back.
        assert_eq!(
            Negotiated::from_accept(Some("application/openmetrics-text;version=1.0.0"))
                .content_type(),
            Format::OpenMetrics.content_type()
        );
    }

    #[test]
    fn quoted_parameter_values_are_read() {
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=\"1.0.0\"")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=\"1.0.0\";q=\"0.5\",text/plain;q=0.4"
            )),
            Format::OpenMetrics
        );
    }

    #[test]
    fn escaping_keeps_every_character_around_the_escaped_ones() {
        let cases = [
            ("", true, ""),
            ("plain", true, "plain"),
            ("a\\b\nc\"d", true, "a\\\\b\\nc\\\"d"),
            ("a\\b\nc\"d", false, "a\\\\b\\nc\"d"),
            ("\n\n", true, "\\n\\n"),
            ("é\"ü\\", true, "é\\\"ü\\\\"),
            ("ends with \\", true, "ends with \\\\"),
        ];
        for (text, escape_quotes, expected) in cases {
            let mut out = String::from(">");
            escape_into(text, escape_quotes, &mut out);
            assert_eq!(out, format!(">{expected}"), "{text:?}");
        }
    }
}
