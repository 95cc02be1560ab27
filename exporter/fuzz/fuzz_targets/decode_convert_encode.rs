//! Any body an upstream sends: decoding must not panic, and a document that decodes must
//! encode to output where every sample line is one of the exporter's own series.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use syseng_exporter::convert::{ScrapeOutcome, target_families};
use syseng_exporter::exposition::{Format, encode, finish};
use syseng_exporter::stats::decode_stats;

fuzz_target!(|body: &[u8]| {
    let result = decode_stats(body).map_err(Into::into);
    let outcome = ScrapeOutcome {
        result,
        duration: Duration::from_millis(3),
    };
    let families = target_families(&outcome);
    for format in [Format::Text, Format::OpenMetrics] {
        let mut out = String::new();
        encode(&families, format, &mut out);
        finish(format, &mut out);
        for line in out.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("syseng_"),
                "a line that is not ours: {line:?}"
            );
        }
    }
});
