//! Fault requests: parsing, validation and target selection.
//!
//! A fault is requested as JSON (admin API) or as `key=value,...` (start-up flag); both go
//! through the same validation so they accept and reject exactly the same things, each
//! rejection being one line that names the offending field.

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

impl Effect {
    /// The `kind` name used in requests and listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::ErrorBurst { .. } => "error_burst",
            Effect::Latency { .. } => "latency",
            Effect::Traffic { .. } => "traffic",
            Effect::SlowStats { .. } => "slow_stats",
            Effect::Hang => "hang",
            Effect::Down => "down",
            Effect::Restart { .. } => "restart",
            Effect::BrokenOutput { .. } => "broken_output",
        }
    }

    /// Adds the kind-specific parameters to a JSON description.
    fn describe_into(&self, out: &mut Map<String, Value>) {
        match *self {
            Effect::ErrorBurst {
                share_of_requests,
                code,
            } => {
                out.insert("share_of_requests".into(), json!(share_of_requests));
                out.insert("code".into(), json!(code));
            }
            Effect::Latency { factor, shift_ms } => {
                out.insert("factor".into(), json!(factor));
                out.insert("shift".into(), json!(format_millis(shift_ms)));
            }
            Effect::Traffic { factor } => {
                out.insert("factor".into(), json!(factor));
            }
            Effect::SlowStats { delay_ms } => {
                out.insert("delay".into(), json!(format_millis(delay_ms)));
            }
            Effect::Restart {
                every_ms: Some(every),
            } => {
                out.insert("every".into(), json!(format_millis(every)));
            }
            Effect::BrokenOutput { mode } => {
                out.insert("mode".into(), json!(mode.name()));
            }
            Effect::Hang | Effect::Down | Effect::Restart { every_ms: None } => {}
        }
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
        let mut out = Map::new();
        out.insert("kind".into(), json!(self.effect.kind()));
        out.insert("targets".into(), self.targets.to_json());
        self.effect.describe_into(&mut out);
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: String,
    targets: Option<RawTargets>,
    duration: Option<String>,
    share_of_requests: Option<f64>,
    code: Option<u16>,
    factor: Option<f64>,
    shift: Option<String>,
    delay: Option<String>,
    every: Option<String>,
    mode: Option<String>,
}

/// Parses a fault from its JSON form, e.g.
/// `{"kind":"error_burst","targets":{"zone":"zone-a"},"share_of_requests":0.2,"duration":"5m"}`.
pub fn parse_json(body: &[u8]) -> Result<FaultSpec, String> {
    let raw: RawFault =
        serde_json::from_slice(body).map_err(|e| format!("invalid fault JSON: {e}"))?;
    validate(raw)
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

fn validate(raw: RawFault) -> Result<FaultSpec, String> {
    let RawFault {
        kind,
        targets,
        duration,
        share_of_requests,
        code,
        factor,
        shift,
        delay,
        every,
        mode,
    } = raw;
    let duration_ms = duration
        .as_deref()
        .map(parse_millis)
        .transpose()
        .map_err(|e| format!("duration: {e}"))?;
    if duration_ms == Some(0) {
        return Err(
            "duration must be positive (omit it to keep the fault until cleared)".to_owned(),
        );
    }
    let targets = validate_targets(
        targets.ok_or("targets is required, e.g. {\"index\":0} or {\"all\":true}")?,
    )?;
    let given = [
        ("share_of_requests", share_of_requests.is_some()),
        ("code", code.is_some()),
        ("factor", factor.is_some()),
        ("shift", shift.is_some()),
        ("delay", delay.is_some()),
        ("every", every.is_some()),
        ("mode", mode.is_some()),
    ];
    let allowed: &[&str] = match kind.as_str() {
        "error_burst" => &["share_of_requests", "code"],
        "latency" => &["factor", "shift"],
        "traffic" => &["factor"],
        "slow_stats" => &["delay"],
        "hang" | "down" => &[],
        "restart" => &["every"],
        "broken_output" => &["mode"],
        other => {
            return Err(format!(
                "unknown kind {other:?} (expected error_burst, latency, traffic, slow_stats, hang, down, restart or broken_output)"
            ));
        }
    };
    if let Some((field, _)) = given
        .iter()
        .find(|(name, set)| *set && !allowed.contains(name))
    {
        return Err(format!("{field} does not apply to kind {kind}"));
    }
    let millis = |name: &str, text: Option<String>| -> Result<Option<u64>, String> {
        text.as_deref()
            .map(parse_millis)
            .transpose()
            .map_err(|e| format!("{name}: {e}"))
    };
    let effect = match kind.as_str() {
        "error_burst" => {
            let share_of_requests = share_of_requests.unwrap_or(1.0);
            if !(0.0..=1.0).contains(&share_of_requests) {
                return Err(format!(
                    "share_of_requests must be within [0, 1], got {share_of_requests}"
                ));
            }
            let code = code.unwrap_or(500);
            if !(100..=599).contains(&code) {
                return Err(format!(
                    "code must be an HTTP status within 100..=599, got {code}"
                ));
            }
            Effect::ErrorBurst {
                share_of_requests,
                code,
            }
        }
        "latency" => {
            if factor.is_none() && shift.is_none() {
                return Err("latency needs factor and/or shift".to_owned());
            }
            let factor = checked_factor(factor.unwrap_or(1.0))?;
            Effect::Latency {
                factor,
                shift_ms: millis("shift", shift)?.unwrap_or(0),
            }
        }
        "traffic" => Effect::Traffic {
            factor: checked_factor(
                factor.ok_or("traffic needs factor (e.g. 0.1 for a drop, 5 for a surge)")?,
            )?,
        },
        "slow_stats" => Effect::SlowStats {
            delay_ms: millis("delay", delay)?.ok_or("slow_stats needs delay (e.g. \"15s\")")?,
        },
        "hang" => Effect::Hang,
        "down" => Effect::Down,
        "restart" => {
            let every_ms = millis("every", every)?;
            if every_ms.is_some_and(|ms| ms < 1_000) {
                return Err("every must be at least 1s".to_owned());
            }
            Effect::Restart { every_ms }
        }
        _ => {
            let mode = mode.as_deref().unwrap_or("malformed");
            let mode = BrokenMode::NAMES
                .iter()
                .find(|(name, _)| *name == mode)
                .map(|(_, m)| *m)
                .ok_or_else(|| {
                    format!("mode {mode:?} is not one of malformed, wrong_shape, http_500")
                })?;
            Effect::BrokenOutput { mode }
        }
    };
    Ok(FaultSpec {
        effect,
        targets,
        duration_ms,
    })
}

fn checked_factor(factor: f64) -> Result<f64, String> {
    if factor.is_finite() && (0.0..=1000.0).contains(&factor) {
        Ok(factor)
    } else {
        Err(format!("factor must be within [0, 1000], got {factor}"))
    }
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
                "unknown field `colour`",
            ),
            (
                r#"{"kind":"down","targets":{"share":0}}"#,
                "targets.share must be within",
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
