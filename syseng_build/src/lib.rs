//! What a binary reports about its build, in the shape Prometheus's own binaries use (promu's
//! `version` package): `--version`'s block and the labels of a `*_build_info` metric.
//!
//! A binary's build script calls [`emit_cargo_env`], which records the revision, branch, build
//! user, build date, compiler and target platform as compile-time variables; the binary then reads
//! them with [`build_info!`], so the values are those of the crate being built. Builds without
//! git (an image's build context) set `SYSENG_REVISION` and `SYSENG_BRANCH`; reproducible builds
//! set `SOURCE_DATE_EPOCH` (<https://reproducible-builds.org/specs/source-date-epoch/>) and, when
//! they want one, `SYSENG_BUILD_USER`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::process::Command;

/// The build of one binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    /// The program's name, as `--version` starts.
    pub program: &'static str,
    /// The package's version (Cargo.toml).
    pub version: &'static str,
    /// The git branch built, or `unknown`.
    pub branch: &'static str,
    /// The git revision built (12 hex digits), or `unknown`.
    pub revision: &'static str,
    /// `user@host` that built it.
    pub build_user: &'static str,
    /// When it was built, UTC, as Go's `20060102-15:04:05` (promu's format).
    pub build_date: &'static str,
    /// The compiler's version, `1.95.0`.
    pub rust_version: &'static str,
    /// The target's operating system, in Go's and OCI's words (`linux`).
    pub os: &'static str,
    /// The target's architecture, in Go's and OCI's words (`amd64`, `arm64`).
    pub arch: &'static str,
}

/// The [`BuildInfo`] of the crate that calls it (its build script must call
/// [`emit_cargo_env`]).
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::BuildInfo {
            program: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            branch: env!("SYSENG_BRANCH"),
            revision: env!("SYSENG_REVISION"),
            build_user: env!("SYSENG_BUILD_USER"),
            build_date: env!("SYSENG_BUILD_DATE"),
            rust_version: env!("SYSENG_RUST_VERSION"),
            os: env!("SYSENG_TARGET_OS"),
            arch: env!("SYSENG_TARGET_ARCH"),
        }
    };
}

impl BuildInfo {
    /// The labels of `*_build_info`, in this order: version, revision, branch, rustversion,
    /// os, arch (Prometheus's `goversion`, `goos`, `goarch`, without the language's prefix
    /// where the label is the target's, not the compiler's).
    pub fn labels(&self) -> [(&'static str, &'static str); 6] {
        [
            ("version", self.version),
            ("revision", self.revision),
            ("branch", self.branch),
            ("rustversion", self.rust_version),
            ("os", self.os),
            ("arch", self.arch),
        ]
    }
}

/// `--version`'s text, as Prometheus prints it.
///
/// ```
/// let info = syseng_build::BuildInfo {
///     program: "syseng_exporter", version: "0.1.0", branch: "main", revision: "0123abcd4567",
///     build_user: "root@builder", build_date: "20261201-18:55:00", rust_version: "1.95.0",
///     os: "linux", arch: "amd64",
/// };
/// assert_eq!(info.to_string(), "\
/// syseng_exporter, version 0.1.0 (branch: main, revision: 0123abcd4567)
///   build user:       root@builder
///   build date:       20261201-18:55:00
///   rust version:     1.95.0
///   platform:         linux/amd64
/// ");
/// ```
impl fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}, version {} (branch: {}, revision: {})",
            self.program, self.version, self.branch, self.revision
        )?;
        writeln!(f, "  build user:       {}", self.build_user)?;
        writeln!(f, "  build date:       {}", self.build_date)?;
        writeln!(f, "  rust version:     {}", self.rust_version)?;
        writeln!(f, "  platform:         {}/{}", self.os, self.arch)
    }
}

/// For build scripts: prints the `cargo:rustc-env` lines that [`build_info!`] reads, and when
/// to run again.
pub fn emit_cargo_env() {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let revision = var("SYSENG_REVISION").or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    let branch = var("SYSENG_BRANCH").or_else(|| git(&["rev-parse", "--abbrev-ref", "HEAD"]));
    let build_user = var("SYSENG_BUILD_USER").unwrap_or_else(|| {
        let user = var("USER")
            .or_else(|| var("LOGNAME"))
            .or_else(|| run("id", &["-un"]))
            .unwrap_or_else(|| "unknown".into());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
            .or_else(|| var("HOSTNAME"))
            .unwrap_or_else(|| "unknown".into());
        format!("{user}@{host}")
    });
    let epoch = match var("SOURCE_DATE_EPOCH") {
        Some(text) => text
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("SOURCE_DATE_EPOCH is not a number of seconds: {text:?}")),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs() as i64),
    };
    let rustc = var("RUSTC").unwrap_or_else(|| "rustc".into());
    // "rustc 1.95.0 (59807616e 2026-04-14)" -> "1.95.0"
    let rust_version = run(&rustc, &["--version"])
        .and_then(|line| line.split_whitespace().nth(1).map(str::to_string));
    let target_os = var("CARGO_CFG_TARGET_OS").unwrap_or_else(|| "unknown".into());
    let target_arch = var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|| "unknown".into());
    let target_endian = var("CARGO_CFG_TARGET_ENDIAN").unwrap_or_default();

    let unknown = || "unknown".to_string();
    for (name, value) in [
        ("SYSENG_REVISION", revision.unwrap_or_else(unknown)),
        ("SYSENG_BRANCH", branch.unwrap_or_else(unknown)),
        ("SYSENG_BUILD_USER", build_user),
        ("SYSENG_BUILD_DATE", go_build_date(epoch)),
        ("SYSENG_RUST_VERSION", rust_version.unwrap_or_else(unknown)),
        ("SYSENG_TARGET_OS", target_os),
        (
            "SYSENG_TARGET_ARCH",
            go_arch(&target_arch, &target_endian).to_string(),
        ),
    ] {
        println!("cargo:rustc-env={name}={value}");
    }
    for name in [
        "SYSENG_REVISION",
        "SYSENG_BRANCH",
        "SYSENG_BUILD_USER",
        "SOURCE_DATE_EPOCH",
    ] {
        println!("cargo:rerun-if-env-changed={name}");
    }
    // A commit or a checkout changes these; in a linked worktree they are not under ../.git, so
    // ask git where they are. Without git, only the variables above matter.
    for path in ["HEAD", "packed-refs", "refs/heads"] {
        if let Some(file) = git(&["rev-parse", "--path-format=absolute", "--git-path", path])
            && std::path::Path::new(&file).exists()
        {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    // Otherwise Cargo would run this again whenever any file of the package changes.
    println!("cargo:rerun-if-changed=build.rs");
}

/// Rust's `target_arch` (and endianness) as Go's `GOARCH`, which Prometheus's build_info,
/// release tarballs and OCI platforms use: `x86_64` is `amd64`, `aarch64` is `arm64`.
pub fn go_arch<'a>(arch: &'a str, endian: &str) -> &'a str {
    match (arch, endian) {
        ("x86_64", _) => "amd64",
        ("aarch64", _) => "arm64",
        ("x86", _) => "386",
        ("powerpc64", "little") => "ppc64le",
        ("powerpc64", _) => "ppc64",
        ("mips64", "little") => "mips64le",
        ("mips", "little") => "mipsle",
        ("loongarch64", _) => "loong64",
        (other, _) => other,
    }
}

/// Seconds since the epoch as UTC `YYYYMMDD-HH:MM:SS`.
pub fn go_build_date(epoch: i64) -> String {
    let at = UtcTime::from_epoch(epoch);
    format!(
        "{:04}{:02}{:02}-{:02}:{:02}:{:02}",
        at.year, at.month, at.day, at.hour, at.minute, at.second
    )
}

/// A UTC date (proleptic Gregorian) and time of day: the workspace's one date algorithm, for
/// the build date and the exporter's landing page, which need no date crate for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// The year, `2026`.
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59.
    pub second: u32,
}

impl UtcTime {
    /// Seconds since 1970-01-01 00:00:00 UTC (Howard Hinnant's `civil_from_days`).
    pub fn from_epoch(epoch: i64) -> UtcTime {
        let days = epoch.div_euclid(86_400);
        let second_of_day = epoch.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        } as u32;
        UtcTime {
            year: year_of_era + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    run("git", args)
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_date_is_utc_in_promus_format() {
        assert_eq!(go_build_date(0), "19700101-00:00:00");
        // date -u -d @1796151300 +%Y%m%d-%H:%M:%S
        assert_eq!(go_build_date(1_796_151_300), "20261201-18:55:00");
        // A leap day, and the last second of a century that is not a leap year.
        assert_eq!(go_build_date(951_782_400), "20000229-00:00:00");
        assert_eq!(go_build_date(4_107_542_399), "21000228-23:59:59");
        assert_eq!(go_build_date(-1), "19691231-23:59:59");
    }

    #[test]
    fn architectures_take_gos_names() {
        assert_eq!(go_arch("x86_64", "little"), "amd64");
        assert_eq!(go_arch("aarch64", "little"), "arm64");
        assert_eq!(go_arch("powerpc64", "little"), "ppc64le");
        assert_eq!(go_arch("powerpc64", "big"), "ppc64");
        assert_eq!(go_arch("riscv64", "little"), "riscv64");
    }

    #[test]
    fn labels_follow_the_version_line() {
        let info = BuildInfo {
            program: "p",
            version: "1",
            branch: "b",
            revision: "r",
            build_user: "u@h",
            build_date: "d",
            rust_version: "1.95.0",
            os: "linux",
            arch: "arm64",
        };
        assert_eq!(
            info.labels(),
            [
                ("version", "1"),
                ("revision", "r"),
                ("branch", "b"),
                ("rustversion", "1.95.0"),
                ("os", "linux"),
                ("arch", "arm64"),
            ]
        );
    }
}
