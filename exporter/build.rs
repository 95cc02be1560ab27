//! Records what `syseng_exporter_build_info` reports: the git revision and the compiler.
use std::process::Command;

fn main() {
    let revision = std::env::var("SYSENG_REVISION")
        .ok()
        .or_else(|| run("git", &["rev-parse", "--short=12", "HEAD"]));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // "rustc 1.95.0 (59807616e 2026-04-14)" -> "1.95.0"
    let rust_version = run(&rustc, &["--version"])
        .and_then(|line| line.split_whitespace().nth(1).map(str::to_string));
    println!(
        "cargo:rustc-env=SYSENG_REVISION={}",
        revision.unwrap_or_else(|| "unknown".into())
    );
    println!(
        "cargo:rustc-env=SYSENG_RUST_VERSION={}",
        rust_version.unwrap_or_else(|| "unknown".into())
    );
    println!("cargo:rerun-if-env-changed=SYSENG_REVISION");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|text| !text.is_empty())
}
