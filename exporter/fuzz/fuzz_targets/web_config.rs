//! Any text in --web.config.file: parsing and validation must not panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use syseng_exporter::web::config::parse_web_config;

fuzz_target!(|text: &str| {
    let _ = parse_web_config(Path::new("web.yml"), text);
});
