//! Golden tests of the pure core: each `testdata/NAME.json` is decoded, converted and encoded
//! in both formats, and compared with `testdata/golden/NAME.prom` and `NAME.om`; each
//! `testdata/rejected/NAME.json` fails to decode with the error in `NAME.error`.
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites them; review the diff by eye.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use syseng_exporter::convert::{ScrapeOutcome, target_families};
use syseng_exporter::exposition::{Format, encode, finish};
use syseng_exporter::stats::decode_stats;

/// A fixed scrape duration so the output is reproducible.
const SCRAPE_DURATION: Duration = Duration::from_micros(12_500);

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn render(document: &[u8], format: Format) -> String {
    let outcome = ScrapeOutcome {
        result: decode_stats(document).map_err(Into::into),
        duration: SCRAPE_DURATION,
    };
    let mut out = String::new();
    encode(&target_families(&outcome), format, &mut out);
    finish(format, &mut out);
    out
}

fn check_golden(name: &str, extension: &str, actual: &str) {
    check_file(
        &testdata()
            .join("golden")
            .join(format!("{name}.{extension}")),
        actual,
    );
}

fn check_file(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{}: {error} (UPDATE_GOLDEN=1 creates it)", path.display()));
    assert_eq!(actual, expected, "{} differs", path.display());
}

#[test]
fn every_document_matches_its_golden_expositions() {
    let mut documents: Vec<_> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    documents.sort();
    assert!(
        documents.len() >= 3,
        "testdata has the sample and its variants"
    );
    for path in documents {
        let name = path.file_stem().unwrap().to_str().unwrap();
        let document = std::fs::read(&path).unwrap();
        let text = render(&document, Format::Text);
        common::exposition::assert_promtool_accepts(&text);
        check_golden(name, "prom", &text);
        let openmetrics = render(&document, Format::OpenMetrics);
        common::exposition::assert_openmetrics_parses(&openmetrics);
        check_golden(name, "om", &openmetrics);
    }
}

#[test]
fn every_rejected_document_fails_with_its_exact_error() {
    let documents = common::upstream::rejected_documents();
    assert!(
        documents.len() >= 10,
        "testdata/rejected has the bad documents"
    );
    for (path, document) in documents {
        let error = match decode_stats(&document) {
            Ok(decoded) => panic!("{} decodes: {decoded:?}", path.display()),
            Err(error) => error.to_string(),
        };
        check_file(&path.with_extension("error"), &format!("{error}\n"));
    }
}
