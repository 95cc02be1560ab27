//! Any `target` a client puts in /probe: parsing and the allowlist must not panic, and what
//! they accept is always an http(s) URL of a /stats path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syseng_exporter::config::probe_target_uri;
use syseng_exporter::targets::TargetPolicy;

fuzz_target!(|input: (&str, &str)| {
    let (target, patterns) = input;
    let Ok(uri) = probe_target_uri(target) else {
        return;
    };
    assert!(matches!(uri.scheme_str(), Some("http" | "https")));
    for policy in [
        TargetPolicy::default(),
        TargetPolicy::parse(&[patterns.to_string()]).unwrap_or_default(),
    ] {
        if policy.check(&uri).is_ok() {
            assert_eq!(uri.path(), "/stats");
        }
    }
});
