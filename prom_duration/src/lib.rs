//! Durations in Prometheus syntax (`500ms`, `30s`, `5m`, `1h30m`), as milliseconds.
//!
//! The exporter's and the simulator's flags, and the simulator's admin API, speak the same syntax
//! as Prometheus configs, so a value can be copied between a scrape config, an alert rule, a
//! flag and a fault without translation.

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses `1h30m`, `500ms`, `0s`. Units must appear from largest to smallest, once each.
pub fn parse_millis(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "invalid duration {text:?} (expected Prometheus syntax such as 500ms, 30s, 5m, 1h30m)"
        )
    };
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_unit = None::<usize>;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        // `ms` before `m`, so that `5ms` is not read as five minutes followed by `s`.
        let unit = [6, 0, 1, 2, 3, 4, 5]
            .into_iter()
            .find(|&i| rest.starts_with(UNITS[i].0))
            .ok_or_else(invalid)?;
        if last_unit.is_some_and(|last| unit <= last) {
            return Err(invalid());
        }
        last_unit = Some(unit);
        rest = &rest[UNITS[unit].0.len()..];
        total = number
            .checked_mul(UNITS[unit].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(invalid)?;
    }
    Ok(total)
}

/// Formats like Prometheus does: `1h30m`, `500ms`, `0s`.
pub fn format_millis(mut millis: u64) -> String {
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (name, size) in UNITS {
        if millis >= size {
            out.push_str(&format!("{}{name}", millis / size));
            millis %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse_millis("500ms"), Ok(500));
        assert_eq!(parse_millis("30s"), Ok(30_000));
        assert_eq!(parse_millis("5m"), Ok(300_000));
        assert_eq!(parse_millis("1h30m"), Ok(5_400_000));
        assert_eq!(parse_millis("1m5ms"), Ok(60_005));
        assert_eq!(parse_millis("0s"), Ok(0));
        assert_eq!(parse_millis("2d"), Ok(172_800_000));
    }

    #[test]
    fn rejects_malformed_durations_with_a_reason() {
        for bad in [
            "",
            "5",
            "m",
            "5x",
            "1.5s",
            "-1s",
            "30s5m",
            "5m5m",
            "99999999999999999999y",
        ] {
            let err = parse_millis(bad).unwrap_err();
            assert!(err.contains("invalid duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1, 500, 1_000, 61_000, 5_400_000, 90_061_001] {
            assert_eq!(parse_millis(&format_millis(ms)), Ok(ms), "{ms}");
        }
        assert_eq!(format_millis(5_400_000), "1h30m");
        assert_eq!(format_millis(1_500), "1s500ms");
    }
}
