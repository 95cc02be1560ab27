//! Fault requests: parsing, validation and target selection.
//!
//! A fault is requested as JSON (admin API) or as `key=value,...` (start-up flag); both go
//! through the same validation so they accept and reject exactly the same things, each
//! rejection being one line that names the offending field.
//!
//! What differs between kinds (name, fields, their validation, the [`Effect`] they make and how
//! it is described back) is one entry of [`KINDS`]; the rest of this module is common to all.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::prom_duration::{format_millis, parse_millis};
use crate::rng::derive_seed;

/// What a fault does to the instances it targets.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A share of requests is answered with `code` instead of the normal mix.
    ErrorBurst {
        /// Probability that a request is turned into an error, in [0, 1].
        share_of_requests: f64,
        /// The status code of those requests.
        code: u16,
    },
    /// Request durations become `duration * factor + shift`.
    Latency {
        /// Multiplier of every request's duration.
        factor: f64,
        /// Added to every request's duration, in milliseconds.
        shift_ms: u64,
    },
    /// The request rate is multiplied by `factor` (drop below 1, surge above).
    Traffic {
        /// Multiplier of the rate.
        factor: f64,
    },
    /// `/stats` answers after `delay_ms`.
    SlowStats {
        /// Delay before answering, in milliseconds.
        delay_ms: u64,
    },
    /// Connections are accepted and requests never answered while the fault lasts.
    Hang,
    /// The listener is closed (connections refused) while the fault lasts.
    Down,
    /// The process restarts: counters start again from zero, once or every `every_ms`.
    Restart {
        /// Interval between restarts; `None` restarts once.
        every_ms: Option<u64>,
    },
    /// `/stats` answers something an exporter must reject.
    BrokenOutput {
        /// Which kind of wrong answer.
        mode: BrokenMode,
    },
}

/// The wrong answers `broken_output` can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenMode {
    /// A truncated JSON document.
    Malformed,
    /// Valid JSON that is not the `/stats` shape.
    WrongShape,
    /// HTTP 500 with a text body.
    Http500,
}

impl BrokenMode {
    const NAMES: [(&str, BrokenMode); 3] = [
        ("malformed", BrokenMode::Malformed),
        ("wrong_shape", BrokenMode::WrongShape),
        ("http_500", BrokenMode::Http500),
    ];

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("malformed", |(n, _)| n)
    }
}

/// One fault kind: everything that differs between kinds, so that adding a kind is one entry
/// of [`KINDS`] (and one row of the table in docs/simulator.md, which a test checks).
pub struct Kind {
    /// The `kind` of requests and listings.
    pub name: &'static str,
    /// The kind-specific fields it accepts; any other field is rejected.
    pub fields: &'static [&'static str],
    /// A valid request of this kind, without `kind` and `targets` (tested to round-trip).
    pub example: &'static str,
    /// Validates the fields (all optional, each rejection naming its field) into an effect.
    build: fn(&Fields) -> Result<Effect, String>,
    /// The fields of `effect`, as accepted in requests, if it is of this kind.
    describe: fn(&Effect) -> Option<Map<String, Value>>,
}

/// Every fault kind, in the order documented.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "error_burst",
        fields: &["share_of_requests", "code"],
        example: r#"{"share_of_requests":0.2,"code":503}"#,
        build: |f| {
            let share_of_requests = f.number("share_of_requests")?.unwrap_or(1.0);
            if !(0.0..=1.0).contains(&share_of_requests) {
                return Err(format!(
                    "share_of_requests must be within [0, 1], got {share_of_requests}"
                ));
            }
            let code = match f.get("code") {
                None => 500,
                Some(v) => v
                    .as_u64()
                    .and_then(|code| u16::try_from(code).ok())
                    .filter(|code| (100..=599).contains(code))
                    .ok_or_else(|| {
                        format!("code must be an HTTP status within 100..=599, got {v}")
                    })?,
            };
            Ok(Effect::ErrorBurst {
                share_of_requests,
                code,
            })
        },
        describe: |effect| match *effect {
            Effect::ErrorBurst {
                share_of_requests,
                code,
            } => Some(fields([
                ("share_of_requests", json!(share_of_requests)),
                ("code", json!(code)),
            ])),
            _ => None,
        },
    },
    Kind {
        name: "latency",
        fields: &["factor", "shift"],
        example: r#"{"factor":3,"shift":"250ms"}"#,
        build: |f| {
            let (factor, shift_ms) = (f.factor("factor")?, f.duration_ms("shift")?);
            if factor.is_none() && shift_ms.is_none() {
                return Err("latency needs factor and/or shift".to_owned());
            }
            Ok(Effect::Latency {
                factor: factor.unwrap_or(1.0),
                shift_ms: shift_ms.unwrap_or(0),
            })
        },
        describe: |effect| match *effect {
            Effect::Latency { factor, shift_ms } => Some(fields([
                ("factor", json!(factor)),
                ("shift", json!(format_millis(shift_ms))),
            ])),
            _ => None,
        },
    },
    Kind {
        name: "traffic",
        fields: &["factor"],
        example: r#"{"factor":0.1}"#,
        build: |f| {
            Ok(Effect::Traffic {
                factor: f
                    .factor("factor")?
                    .ok_or("traffic needs factor (e.g. 0.1 for a drop, 5 for a surge)")?,
            })
        },
        describe: |effect| match *effect {
            Effect::Traffic { factor } => Some(fields([("factor", json!(factor))])),
            _ => None,
        },
    },
    Kind {
        name: "slow_stats",
        fields: &["delay"],
        example: r#"{"delay":"15s"}"#,
        build: |f| {
            Ok(Effect::SlowStats {
                delay_ms: f
                    .duration_ms("delay")?
                    .ok_or("slow_stats needs delay (e.g. \"15s\")")?,
            })
        },
        describe: |effect| match *effect {
            Effect::SlowStats { delay_ms } => {
                Some(fields([("delay", json!(format_millis(delay_ms)))]))
            }
            _ => None,
        },
    },
    Kind {
        name: "hang",
        fields: &[],
        example: "{}",
        build: |_| Ok(Effect::Hang),
        describe: |effect| (*effect == Effect::Hang).then(Map::new),
    },
    Kind {
        name: "down",
        fields: &[],
        example: "{}",
        build: |_| Ok(Effect::Down),
        describe: |effect| (*effect == Effect::Down).then(Map::new),
    },
    Kind {
        name: "restart",
        fields: &["every"],
        example: r#"{"every":"30s"}"#,
        build: |f| {
            let every_ms = f.duration_ms("every")?;
            if every_ms.is_some_and(|ms| ms < 1_000) {
                return Err("every must be at least 1s".to_owned());
            }
            Ok(Effect::Restart { every_ms })
        },
        describe: |effect| match *effect {
            Effect::Restart { every_ms } => Some(fields(
                every_ms.map(|every| ("every", json!(format_millis(every)))),
            )),
            _ => None,
        },
    },
    Kind {
        name: "broken_output",
        fields: &["mode"],
        example: r#"{"mode":"wrong_shape"}"#,
        build: |f| {
            let mode = match f.get("mode") {
                None => BrokenMode::Malformed,
                Some(given) => BrokenMode::NAMES
                    .iter()
                    .find(|(name, _)| given.as_str() == Some(name))
                    .map(|(_, mode)| *mode)
                    .ok_or_else(|| {
                        format!("mode {given} is not one of malformed, wrong_shape, http_500")
                    })?,
            };
            Ok(Effect::BrokenOutput { mode })
        },
        describe: |effect| match *effect {
            Effect::BrokenOutput { mode } => Some(fields([("mode", json!(mode.name()))])),
            _ => None,
        },
    },
];

fn fields<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// The kind-specific fields of one request, read by a kind's `build`; a present field of the
/// wrong type is rejected by name, an absent one is `None`.
struct Fields(Map<String, Value>);

impl Fields {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        self.get(name)
            .map(|v| {
                v.as_f64()
                    .ok_or(format!("{name} must be a number, got {v}"))
            })
            .transpose()
    }

    /// A multiplier within [0, 1000].
    fn factor(&self, name: &str) -> Result<Option<f64>, String> {
        match self.get(name) {
            Some(v) => match v.as_f64() {
                Some(x) if (0.0..=1000.0).contains(&x) => Ok(Some(x)),
                _ => Err(format!("{name} must be within [0, 1000], got {v}")),
            },
            None => Ok(None),
        }
    }

    /// A Prometheus duration (`"500ms"`, `"1h30m"`), in milliseconds.
    fn duration_ms(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name)
            .map(|v| {
                let text = v.as_str().ok_or(format!(
                    "{name} must be a duration such as \"30s\", got {v}"
                ))?;
                parse_millis(text).map_err(|e| format!("{name}: {e}"))
            })
            .transpose()
    }
}

/// "a, b or c".
fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Which instances a fault applies to; resolved once, when the fault is created.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Every instance.
    All,
    /// One instance by index.
    Index(u32),
    /// Indices `first..=last`.
    Range(u32, u32),
    /// Every instance of a zone.
    Zone(String),
    /// A pseudo-random share of the fleet (fixed by the seed and the fault id).
    Share(f64),
}

impl Targets {
    /// The JSON form, as accepted in requests.
    pub fn to_json(&self) -> Value {
        match self {
            Targets::All => json!({"all": true}),
            Targets::Index(i) => json!({"index": i}),
            Targets::Range(a, b) => json!({"range": [a, b]}),
            Targets::Zone(z) => json!({"zone": z}),
            Targets::Share(s) => json!({"share": s}),
        }
    }

    /// The indices selected in a fleet of `fleet_size` instances spread over `zones` zones.
    pub fn resolve(
        &self,
        fleet_size: u32,
        zones: u32,
        seed: u64,
        fault_id: u64,
    ) -> Result<Vec<u32>, String> {
        let selected: Vec<u32> = match self {
            Targets::All => (0..fleet_size).collect(),
            Targets::Index(i) if *i < fleet_size => vec![*i],
            Targets::Index(i) => {
                return Err(format!(
                    "targets.index {i} is outside the fleet (0..{fleet_size})"
                ));
            }
            Targets::Range(a, b) if a <= b && *b < fleet_size => (*a..=*b).collect(),
            Targets::Range(a, b) => {
                return Err(format!(
                    "targets.range [{a}, {b}] must satisfy first <= last < {fleet_size}"
                ));
            }
            Targets::Zone(name) => {
                let zone = (0..zones).find(|&z| zone_name(z) == *name).ok_or_else(|| {
                    format!(
                        "targets.zone {name:?} is not one of zone-a..{}",
                        zone_name(zones - 1)
                    )
                })?;
                (0..fleet_size).filter(|i| i % zones == zone).collect()
            }
            Targets::Share(share) => {
                let wanted = ((share * fleet_size as f64).round() as u32).clamp(1, fleet_size);
                let mut order: Vec<u32> = (0..fleet_size).collect();
                order.sort_by_key(|&i| derive_seed(&[seed, fault_id, i as u64]));
                let mut chosen = order[..wanted as usize].to_vec();
                chosen.sort_unstable();
                chosen
            }
        };
        if selected.is_empty() {
            return Err("targets select no instance".to_owned());
        }
        Ok(selected)
    }
}

/// The name of zone `z`: `zone-a`, `zone-b`, ..., `zone-z`, `zone-aa`, ...
pub fn zone_name(z: u32) -> String {
    let mut suffix = Vec::new();
    let mut n = z as u64 + 1;
    while n > 0 {
        n -= 1;
        suffix.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    suffix.reverse();
    format!("zone-{}", String::from_utf8_lossy(&suffix))
}

/// A validated fault request.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// What the fault does.
    pub effect: Effect,
    /// Where it applies.
    pub targets: Targets,
    /// How long it lasts; `None` until cleared.
    pub duration_ms: Option<u64>,
}

impl FaultSpec {
    /// The JSON description used in listings (same field names as requests).
    pub fn describe(&self) -> Map<String, Value> {
        let (kind, mut out) = KINDS
            .iter()
            .find_map(|kind| (kind.describe)(&self.effect).map(|fields| (kind.name, fields)))
            .expect("every effect is built by one of KINDS");
        out.insert("kind".into(), json!(kind));
        out.insert("targets".into(), self.targets.to_json());
        if let Some(ms) = self.duration_ms {
            out.insert("duration".into(), json!(format_millis(ms)));
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    all: Option<bool>,
    index: Option<u32>,
    range: Option<[u32; 2]>,
    zone: Option<String>,
    share: Option<f64>,
}

/// Parses a fault from its JSON form, e.g.
/// `{"kind":"error_burst","targets":{"zone":"zone-a"},"share_of_requests":0.2,"duration":"5m"}`.
pub fn parse_json(body: &[u8]) -> Result<FaultSpec, String> {
    let Request(request) =
        serde_json::from_slice(body).map_err(|e| format!("invalid fault JSON: {e}"))?;
    validate(request)
}

/// A request's fields, as a JSON object in which no field is given twice (a map would keep the
/// last silently).
struct Request(Map<String, Value>);

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Request;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a fault object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Request, A::Error> {
                let mut fields = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if fields.contains_key(&key) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate field `{key}`"
                        )));
                    }
                    fields.insert(key, value);
                }
                Ok(Request(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// Parses the start-up flag form, e.g. `kind=down,index=2` or `kind=latency,range=0-4,factor=3`;
/// a value starting with `{` is read as JSON instead.
pub fn parse_flag(text: &str) -> Result<FaultSpec, String> {
    if text.trim_start().starts_with('{') {
        return parse_json(text.as_bytes());
    }
    let mut fault = Map::new();
    let mut targets = Map::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
        let parsed = match key {
            "range" => {
                let (a, b) = value
                    .split_once('-')
                    .ok_or_else(|| format!("range {value:?} must look like FIRST-LAST"))?;
                let bound = |s: &str| {
                    s.parse::<u32>()
                        .map_err(|_| format!("range {value:?} must look like FIRST-LAST"))
                };
                json!([bound(a)?, bound(b)?])
            }
            _ => scalar(value),
        };
        let into = if matches!(key, "all" | "index" | "range" | "zone" | "share") {
            &mut targets
        } else {
            &mut fault
        };
        if into.insert(key.to_owned(), parsed).is_some() {
            return Err(format!("{key} is given twice"));
        }
    }
    if !targets.is_empty() {
        fault.insert("targets".into(), Value::Object(targets));
    }
    parse_json(Value::Object(fault).to_string().as_bytes())
}

fn scalar(value: &str) -> Value {
    if let Ok(n) = value.parse::<u64>() {
        json!(n)
    } else if let Ok(x) = value.parse::<f64>() {
        json!(x)
    } else if let Ok(b) = value.parse::<bool>() {
        json!(b)
    } else {
        json!(value)
    }
}

fn validate(request: Map<String, Value>) -> Result<FaultSpec, String> {
    let mut fields = Fields(request);
    let duration_ms = fields.duration_ms("duration")?;
    fields.0.remove("duration");
    if duration_ms == Some(0) {
        return Err(
            "duration must be positive (omit it to keep the fault until cleared)".to_owned(),
        );
    }
    let targets = fields
        .0
        .remove("targets")
        .ok_or("targets is required, e.g. {\"index\":0} or {\"all\":true}")?;
    let targets =
        validate_targets(serde_json::from_value(targets).map_err(|e| format!("targets: {e}"))?)?;
    let names: Vec<&str> = KINDS.iter().map(|kind| kind.name).collect();
    let kind = match fields.0.remove("kind") {
        None => return Err(format!("kind is required, one of {}", one_of(&names))),
        Some(given) => KINDS
            .iter()
            .find(|kind| given.as_str() == Some(kind.name))
            .ok_or_else(|| format!("unknown kind {given} (expected {})", one_of(&names)))?,
    };
    if let Some(field) = fields.0.keys().find(|f| !kind.fields.contains(&f.as_str())) {
        return Err(match kind.fields {
            [] => format!("{field} does not apply to kind {}", kind.name),
            takes => format!(
                "{field} does not apply to kind {} (it takes {})",
                kind.name,
                one_of(takes).replace(" or ", " and ")
            ),
        });
    }
    Ok(FaultSpec {
        effect: (kind.build)(&fields)?,
        targets,
        duration_ms,
    })
}

fn validate_targets(raw: RawTargets) -> Result<Targets, String> {
    let mut chosen = Vec::new();
    if let Some(all) = raw.all {
        if !all {
            return Err("targets.all must be true when given".to_owned());
        }
        chosen.push(Targets::All);
    }
    if let Some(i) = raw.index {
        chosen.push(Targets::Index(i));
    }
    if let Some([a, b]) = raw.range {
        chosen.push(Targets::Range(a, b));
    }
    if let Some(zone) = raw.zone {
        chosen.push(Targets::Zone(zone));
    }
    if let Some(share) = raw.share {
        if !(share > 0.0 && share <= 1.0) {
            return Err(format!("targets.share must be within (0, 1], got {share}"));
        }
        chosen.push(Targets::Share(share));
    }
    match chosen.len() {
        1 => Ok(chosen.remove(0)),
        0 => Err("targets needs one of all, index, range, zone or share".to_owned()),
        _ => Err("targets takes exactly one of all, index, range, zone or share".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_flag_forms_agree() {
        let from_json = parse_json(
            br#"{"kind":"error_burst","targets":{"zone":"zone-a"},"share_of_requests":0.2,"code":503,"duration":"5m"}"#,
        )
        .unwrap();
        let from_flag =
            parse_flag("kind=error_burst,zone=zone-a,share_of_requests=0.2,code=503,duration=5m")
                .unwrap();
        assert_eq!(from_json, from_flag);
        assert_eq!(
            from_json.effect,
            Effect::ErrorBurst {
                share_of_requests: 0.2,
                code: 503
            }
        );
        assert_eq!(from_json.duration_ms, Some(300_000));
        assert_eq!(
            parse_flag("kind=down,range=2-4").unwrap().targets,
            Targets::Range(2, 4)
        );
        assert_eq!(parse_flag("kind=hang,all").unwrap().targets, Targets::All);
        assert_eq!(
            parse_flag("kind=restart,index=1,every=30s").unwrap().effect,
            Effect::Restart {
                every_ms: Some(30_000)
            }
        );
    }

    #[test]
    fn rejections_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"kind":"nope","targets":{"all":true}}"#,
                "unknown kind \"nope\"",
            ),
            (r#"{"kind":"down"}"#, "targets is required"),
            (r#"{"kind":"down","targets":{}}"#, "targets needs one of"),
            (
                r#"{"kind":"down","targets":{"index":1,"zone":"zone-a"}}"#,
                "exactly one",
            ),
            (
                r#"{"kind":"down","targets":{"all":true},"factor":2}"#,
                "factor does not apply to kind down",
            ),
            (
                r#"{"kind":"error_burst","targets":{"all":true},"share_of_requests":1.5}"#,
                "share_of_requests must be within",
            ),
            (
                r#"{"kind":"error_burst","targets":{"all":true},"code":99}"#,
                "code must be an HTTP status",
            ),
            (
                r#"{"kind":"latency","targets":{"all":true}}"#,
                "latency needs factor",
            ),
            (
                r#"{"kind":"traffic","targets":{"all":true},"factor":-1}"#,
                "factor must be within",
            ),
            (
                r#"{"kind":"slow_stats","targets":{"all":true},"delay":"soon"}"#,
                "delay: invalid duration",
            ),
            (
                r#"{"kind":"down","targets":{"all":true},"duration":"0s"}"#,
                "duration must be positive",
            ),
            (
                r#"{"kind":"broken_output","targets":{"all":true},"mode":"x"}"#,
                "mode \"x\" is not one of",
            ),
            (
                r#"{"kind":"restart","targets":{"all":true},"every":"10ms"}"#,
                "every must be at least 1s",
            ),
            (
                r#"{"kind":"down","targets":{"all":true},"colour":"red"}"#,
                "colour does not apply to kind down",
            ),
            (
                r#"{"kind":"error_burst","targets":{"all":true},"shares_of_requests":1}"#,
                "shares_of_requests does not apply to kind error_burst (it takes share_of_requests and code)",
            ),
            (
                r#"{"kind":"error_burst","targets":{"all":true},"code":"503"}"#,
                "code must be an HTTP status within 100..=599, got \"503\"",
            ),
            (
                r#"{"kind":"latency","targets":{"all":true},"shift":5}"#,
                "shift must be a duration such as \"30s\", got 5",
            ),
            (
                r#"{"targets":{"all":true}}"#,
                "kind is required, one of error_burst, latency,",
            ),
            (
                r#"{"kind":"down","targets":{"index":-1}}"#,
                "targets: invalid value",
            ),
            (
                r#"{"kind":"down","targets":{"share":0}}"#,
                "targets.share must be within",
            ),
            (
                r#"{"kind":"down","targets":{"all":true},"kind":"hang"}"#,
                "invalid fault JSON: duplicate field `kind`",
            ),
            (
                "[]",
                "invalid fault JSON: invalid type: sequence, expected a fault object",
            ),
            ("not json", "invalid fault JSON"),
        ];
        for (body, expected) in cases {
            let err = parse_json(body.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
            assert!(!err.contains('\n'), "{body}: multi-line error");
        }
        assert!(
            parse_flag("kind=down,range=3")
                .unwrap_err()
                .contains("FIRST-LAST")
        );
    }

    #[test]
    fn every_kind_round_trips_through_its_description() {
        let mut names = Vec::new();
        for kind in KINDS {
            let mut request: Map<String, Value> = serde_json::from_str(kind.example).unwrap();
            for field in request.keys() {
                assert!(
                    kind.fields.contains(&field.as_str()),
                    "{}: {field}",
                    kind.name
                );
            }
            request.insert("kind".into(), json!(kind.name));
            request.insert("targets".into(), json!({"index": 1}));
            let spec = parse_json(Value::Object(request).to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", kind.name));
            let described = spec.describe();
            assert_eq!(
                described["kind"], kind.name,
                "effect claimed by another kind"
            );
            let again = parse_json(Value::Object(described).to_string().as_bytes()).unwrap();
            assert_eq!(again, spec, "{}", kind.name);
            names.push(kind.name);
        }
        let unknown = parse_json(br#"{"kind":"nope","targets":{"all":true}}"#).unwrap_err();
        assert!(unknown.ends_with(&format!("(expected {})", one_of(&names))));
    }

    /// The kinds' table in docs/simulator.md has one row per kind, naming each of its fields.
    #[test]
    fn every_kind_is_documented_with_its_fields() {
        let docs = include_str!("../../docs/simulator.md");
        let rows: Vec<&str> = docs
            .lines()
            .filter(|line| line.starts_with("| `"))
            .filter(|line| {
                KINDS
                    .iter()
                    .any(|kind| line.starts_with(&format!("| `{}` |", kind.name)))
            })
            .collect();
        assert_eq!(rows.len(), KINDS.len(), "{rows:#?}");
        for (kind, row) in KINDS.iter().zip(&rows) {
            assert!(
                row.starts_with(&format!("| `{}` |", kind.name)),
                "order: {row}"
            );
            let documented = row.split('|').nth(2).unwrap();
            for field in kind.fields {
                assert!(
                    documented.contains(&format!("`{field}`")),
                    "{}: {field}",
                    kind.name
                );
            }
        }
    }

    #[test]
    fn targets_resolve_within_the_fleet() {
        assert_eq!(
            Targets::Zone("zone-b".into()).resolve(7, 3, 1, 1),
            Ok(vec![1, 4])
        );
        assert_eq!(Targets::Range(2, 4).resolve(7, 3, 1, 1), Ok(vec![2, 3, 4]));
        assert!(
            Targets::Index(7)
                .resolve(7, 3, 1, 1)
                .unwrap_err()
                .contains("outside the fleet")
        );
        assert!(
            Targets::Zone("zone-d".into())
                .resolve(7, 3, 1, 1)
                .unwrap_err()
                .contains("zone-a..zone-c")
        );
        let share = Targets::Share(0.3).resolve(100, 3, 1, 1).unwrap();
        assert_eq!(share.len(), 30);
        assert_eq!(share, Targets::Share(0.3).resolve(100, 3, 1, 1).unwrap());
        assert_eq!(Targets::Share(0.01).resolve(10, 3, 1, 1).unwrap().len(), 1);
    }

    #[test]
    fn zones_are_named_by_letters() {
        assert_eq!(zone_name(0), "zone-a");
        assert_eq!(zone_name(2), "zone-c");
        assert_eq!(zone_name(25), "zone-z");
        assert_eq!(zone_name(26), "zone-aa");
    }
}
