//! Command-line flags, validated into a [`Config`] before anything starts.
//!
//! Flag names follow the Prometheus exporters' convention (`--web.listen-address`). The original
//! Go exporter's names stay as aliases, including Go's single-dash spelling (`-addr=:8081`), so
//! its deployments keep working unchanged.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use hyper::Uri;

use crate::modules::ModuleConfig;
use crate::targets::TargetPolicy;

/// Command-line flags as typed.
#[derive(Debug, Parser)]
#[command(
    name = "syseng_exporter",
    // --version prints Prometheus's block (telemetry::BUILD), which clap's "NAME VERSION" cannot.
    disable_version_flag = true,
    about = "Prometheus exporter for the syseng-challenge service's /stats endpoint",
    long_about = "Prometheus exporter for the syseng-challenge service's /stats endpoint.\n\n\
        Serves the service's metrics at the telemetry path (sidecar mode) and any instance's \
        metrics at /probe?target=host:port (multi-target mode)."
)]
pub struct Flags {
    /// Address to listen on: host:port, or :port for every interface (IPv6 and IPv4).
    /// Repeat the flag to listen on several.
    #[arg(
        long = "web.listen-address",
        visible_alias = "addr",
        default_value = ":8081"
    )]
    pub listen_addresses: Vec<String>,

    /// Listen on the sockets systemd passes (socket activation, LISTEN_FDS) instead of
    /// --web.listen-address.
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        visible_alias = "metrics-path",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// URI of the service's /stats scraped on the telemetry path; empty to serve only the
    /// exporter's own metrics there.
    #[arg(
        long = "syseng.stats-uri",
        default_value = "http://localhost:8080/stats"
    )]
    pub stats_uri: String,

    /// Longest time a scrape of /stats may take (Prometheus duration: 500ms, 5s, 1m). A shorter
    /// X-Prometheus-Scrape-Timeout-Seconds from the scraper wins.
    #[arg(long = "syseng.timeout", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// How long an unused keep-alive connection to a target stays open (Prometheus duration).
    /// Longer than the scrape interval keeps one connection per target; each costs a file
    /// descriptor and a few hundred bytes.
    #[arg(long = "syseng.idle-connection-timeout", default_value = "90s", value_parser = parse_duration)]
    pub idle_connection_timeout: Duration,

    /// Most scrapes served at once; more get HTTP 503.
    #[arg(long = "web.max-requests", default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests: u32,

    /// Hosts /probe may fetch, comma-separated or repeated: names, *.domain, addresses or
    /// CIDR networks, each with an optional :port. Empty allows any host; the path must be
    /// /stats either way.
    #[arg(long = "probe.allowed-targets", value_name = "PATTERNS")]
    pub allowed_targets: Vec<String>,

    /// Most probes of one target running at once; more get HTTP 429.
    #[arg(long = "probe.max-concurrent-per-target", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_probes_per_target: u32,

    /// Path to a web configuration file (exporter-toolkit format) that enables TLS, basic
    /// authentication and response headers.
    #[arg(long = "web.config.file", default_value = "")]
    pub web_config_file: String,

    /// Path to a configuration file of modules: how to reach targets (authentication, TLS,
    /// proxies, headers), chosen with /probe?module=NAME; `default` applies otherwise.
    #[arg(long = "config.file", default_value = "")]
    pub config_file: String,

    /// Enable POST (or PUT) /-/reload, which reloads the configuration files as SIGHUP does.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Only log messages of this level or above.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,

    /// Print version
    #[arg(short = 'V', long = "version")]
    pub version: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Validated settings the exporter runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Per `--web.listen-address`, the addresses to try, in order, until one binds.
    pub listen_addresses: Vec<Vec<SocketAddr>>,
    pub systemd_socket: bool,
    pub telemetry_path: String,
    pub stats_uri: Option<Uri>,
    pub timeout: Duration,
    pub idle_connection_timeout: Duration,
    pub max_requests: usize,
    pub target_policy: TargetPolicy,
    pub max_probes_per_target: usize,
    pub enable_lifecycle: bool,
    /// The modules of `--config.file`, if given.
    pub modules: Option<Arc<ModuleConfig>>,
}

/// Paths the exporter serves itself, which the telemetry path must not shadow.
const RESERVED_PATHS: [&str; 4] = ["/probe", "/-/healthy", "/-/ready", "/-/reload"];

impl Flags {
    /// Parses the process's arguments, accepting the Go exporter's single-dash flags.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Flags, clap::Error> {
        Flags::try_parse_from(args.into_iter().map(|arg| accept_go_spelling(&arg)))
    }

    pub fn validate(&self) -> Result<Config, String> {
        let listen_addresses = self
            .listen_addresses
            .iter()
            .map(|address| {
                parse_listen_address(address)
                    .map_err(|error| format!("--web.listen-address={address:?}: {error}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !self.telemetry_path.starts_with('/') {
            return Err(format!(
                "--web.telemetry-path={:?}: must start with /",
                self.telemetry_path
            ));
        }
        if RESERVED_PATHS.contains(&self.telemetry_path.as_str()) {
            return Err(format!(
                "--web.telemetry-path={:?}: already serves another purpose",
                self.telemetry_path
            ));
        }
        let stats_uri = if self.stats_uri.is_empty() {
            None
        } else {
            Some(
                parse_http_uri(&self.stats_uri)
                    .map_err(|error| format!("--syseng.stats-uri={:?}: {error}", self.stats_uri))?,
            )
        };
        Ok(Config {
            listen_addresses,
            systemd_socket: self.systemd_socket,
            telemetry_path: self.telemetry_path.clone(),
            stats_uri,
            timeout: self.timeout,
            idle_connection_timeout: self.idle_connection_timeout,
            max_requests: self.max_requests as usize,
            target_policy: TargetPolicy::parse(&self.allowed_targets)
                .map_err(|error| format!("--probe.allowed-targets: {error}"))?,
            max_probes_per_target: self.max_probes_per_target as usize,
            enable_lifecycle: self.enable_lifecycle,
            modules: match self.config_file.as_str() {
                "" => None,
                path => Some(Arc::new(
                    ModuleConfig::load(std::path::Path::new(path))
                        .map_err(|error| format!("--config.file: {error}"))?,
                )),
            },
        })
    }
}

/// Go's flag package takes `-addr=:8081` as well as `--addr`; clap only the latter.
fn accept_go_spelling(arg: &str) -> String {
    const GO_FLAGS: [&str; 2] = ["addr", "metrics-path"];
    if let Some(rest) = arg.strip_prefix('-').filter(|rest| !rest.starts_with('-')) {
        let name = rest.split('=').next().unwrap_or(rest);
        if GO_FLAGS.contains(&name) {
            return format!("-{arg}");
        }
    }
    arg.to_string()
}

/// Parses a Prometheus duration (`500ms`, `5s`, `1m30s`). Zero is refused: nothing could
/// succeed in it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match prom_duration::parse_millis(text)? {
        0 => Err(format!("{text:?} must be longer than zero")),
        millis => Ok(Duration::from_millis(millis)),
    }
}

/// `:8081` means every interface, IPv6 and IPv4; `host:port` resolves the host.
pub fn parse_listen_address(text: &str) -> Result<Vec<SocketAddr>, String> {
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{port:?} is not a port number"))?;
        return Ok(vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0u8; 4], port)),
        ]);
    }
    let addresses: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|error| format!("expected host:port or :port ({error})"))?
        .collect();
    if addresses.is_empty() {
        return Err("resolves to no address".into());
    }
    Ok(addresses)
}

/// An absolute `http` or `https` URI with a host, in canonical form: scheme and host in lower
/// case, IP addresses as `IpAddr` writes them, the port as a number of 1 to 65535 (left out
/// when it is the scheme's default), so one target has one spelling wherever it is remembered.
pub fn parse_http_uri(text: &str) -> Result<Uri, String> {
    if text.len() > MAX_TARGET_LENGTH {
        return Err(format!("longer than {MAX_TARGET_LENGTH} bytes"));
    }
    let uri: Uri = text
        .parse()
        .map_err(|error| format!("not a URI ({error})"))?;
    let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http") => "http",
        Some("https") => "https",
        _ => return Err("scheme must be http or https".into()),
    };
    let authority = uri.authority().ok_or("the URI has no host")?.as_str();
    if authority.contains('@') {
        return Err("credentials in the URI are not supported".into());
    }
    let (host, port) = split_authority(authority)?;
    let default_port = if scheme == "https" { 443 } else { 80 };
    let authority = match port {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host,
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let canonical = format!("{scheme}://{authority}{path}");
    if canonical == text {
        return Ok(uri);
    }
    canonical
        .parse()
        .map_err(|error| format!("not a URI ({error})"))
}

/// Longest target accepted, as given: DNS names end at 253 bytes, and a bound keeps every
/// structure that remembers targets bounded in bytes.
pub const MAX_TARGET_LENGTH: usize = 512;

/// `host[:port]` into the canonical host and the port, refusing ports that are not plain
/// decimal numbers of 1 to 65535 (no sign, no leading zero).
fn split_authority(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (address, after) = rest.split_once(']').ok_or("unclosed [ in the host")?;
        let address: std::net::Ipv6Addr = address
            .parse()
            .map_err(|_| format!("[{address}] is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("junk after the IPv6 address")?,
            ),
        };
        (format!("[{address}]"), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err("the URI has no host".into());
        }
        let host = match host.parse::<std::net::Ipv4Addr>() {
            Ok(address) => address.to_string(),
            Err(_) => {
                // A trailing dot (a fully qualified name) is the only empty label allowed.
                let labels = host.strip_suffix('.').unwrap_or(host);
                let valid = labels.len() <= 253
                    && labels.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    });
                if !valid {
                    return Err(format!("{host:?} is not a host name or IP address"));
                }
                host.to_ascii_lowercase()
            }
        };
        (host, port)
    };
    let port = match port {
        None => None,
        Some(port) => Some(parse_port(port).ok_or_else(|| {
            format!("port {port:?} is not a number from 1 to 65535 without leading zeros")
        })?),
    };
    Ok((host, port))
}

fn parse_port(text: &str) -> Option<u16> {
    let digits_only =
        !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || text.starts_with('0') {
        return None;
    }
    text.parse::<u16>().ok()
}

/// The `/stats` URI for a `/probe` target: `host:port` (http and `/stats` implied) or a
/// full `http(s)://` URL taken as it is, both in canonical form.
pub fn probe_target_uri(target: &str) -> Result<Uri, String> {
    if target.is_empty() {
        return Err("target is empty".into());
    }
    if target.len() > MAX_TARGET_LENGTH {
        return Err(format!(
            "target is {} bytes long; at most {MAX_TARGET_LENGTH} are accepted",
            target.len()
        ));
    }
    let shown = || {
        let mut shown: String = target.chars().take(80).collect();
        if shown.len() < target.len() {
            shown.push_str("...");
        }
        shown
    };
    if target.contains("://") {
        return parse_http_uri(target).map_err(|error| format!("target {:?}: {error}", shown()));
    }
    if target.contains(['/', '?', '#', '@']) || target.chars().any(char::is_whitespace) {
        return Err(format!(
            "target {:?} is neither host:port nor an http(s):// URL",
            shown()
        ));
    }
    let has_port = match target.strip_prefix('[') {
        Some(rest) => rest.contains("]:"),
        None => target.contains(':'),
    };
    if !has_port {
        return Err(format!("target {:?} needs a port, like host:8080", shown()));
    }
    parse_http_uri(&format!("http://{target}/stats"))
        .map_err(|error| format!("target {:?}: {error}", shown()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        let args = std::iter::once("syseng_exporter")
            .chain(args.iter().copied())
            .map(String::from);
        Flags::from_args(args).expect("flags parse")
    }

    #[test]
    fn defaults_match_the_documented_interface() {
        let config = flags(&[]).validate().unwrap();
        assert_eq!(config.telemetry_path, "/metrics");
        assert_eq!(
            config.stats_uri.unwrap().to_string(),
            "http://localhost:8080/stats"
        );
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.max_requests, 40);
        assert_eq!(config.listen_addresses.len(), 1);
        assert!(config.listen_addresses[0].iter().all(|a| a.port() == 8081));
        assert!(!config.systemd_socket);
    }

    #[test]
    fn listen_address_repeats() {
        let config = flags(&[
            "--web.listen-address=127.0.0.1:1",
            "--web.listen-address=[::1]:2",
        ])
        .validate()
        .unwrap();
        assert_eq!(
            config.listen_addresses,
            vec![
                vec!["127.0.0.1:1".parse().unwrap()],
                vec!["[::1]:2".parse().unwrap()]
            ]
        );
    }

    #[test]
    fn original_exporter_flag_names_still_work() {
        for args in [
            ["--addr=127.0.0.1:9999", "--metrics-path=/m"],
            ["-addr=127.0.0.1:9999", "-metrics-path=/m"],
        ] {
            let config = flags(&args).validate().unwrap();
            assert_eq!(
                config.listen_addresses,
                vec![vec!["127.0.0.1:9999".parse().unwrap()]]
            );
            assert_eq!(config.telemetry_path, "/m");
        }
    }

    #[test]
    fn empty_stats_uri_disables_the_default_target() {
        let config = flags(&["--syseng.stats-uri="]).validate().unwrap();
        assert!(config.stats_uri.is_none());
    }

    #[test]
    fn bad_flag_values_name_the_flag() {
        let cases: [(&[&str], &str); 5] = [
            (&["--web.listen-address=nonsense"], "--web.listen-address"),
            (&["--web.telemetry-path=metrics"], "must start with /"),
            (&["--web.telemetry-path=/probe"], "--web.telemetry-path"),
            (&["--syseng.stats-uri=ftp://x/stats"], "--syseng.stats-uri"),
            (&["--syseng.stats-uri=http:///stats"], "--syseng.stats-uri"),
        ];
        for (args, expected) in cases {
            let error = flags(args).validate().unwrap_err();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
        let args = ["x", "--syseng.timeout=5"].map(String::from);
        let error = Flags::from_args(args).unwrap_err().to_string();
        assert!(error.contains("--syseng.timeout"), "{error}");
        let args = ["x", "--web.max-requests=0"].map(String::from);
        assert!(Flags::from_args(args).is_err());
    }

    #[test]
    fn durations_follow_prometheus_syntax() {
        let ms = |text| parse_duration(text).map(|d| d.as_millis());
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("5s"), Ok(5_000));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        for bad in [
            "",
            "5",
            "s",
            "1.5s",
            "5 s",
            "30s1m",
            "1s1s",
            "0s",
            "-1s",
            "99999999999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn probe_targets_are_host_port_or_full_urls() {
        let uri = |t| probe_target_uri(t).map(|u| u.to_string());
        assert_eq!(
            uri("127.0.0.1:8080"),
            Ok("http://127.0.0.1:8080/stats".into())
        );
        assert_eq!(uri("[::1]:8080"), Ok("http://[::1]:8080/stats".into()));
        assert_eq!(uri("svc.example:80"), Ok("http://svc.example/stats".into()));
        assert_eq!(
            uri("https://svc:8443/stats"),
            Ok("https://svc:8443/stats".into())
        );
        // One target, one spelling.
        assert_eq!(
            uri("HTTP://Stats.Example:80/stats"),
            Ok("http://stats.example/stats".into())
        );
        assert_eq!(uri("[0:0::1]:8080"), Ok("http://[::1]:8080/stats".into()));
        assert_eq!(uri("https://svc:443/stats"), Ok("https://svc/stats".into()));
        let long_name = format!("{}:80", "a".repeat(MAX_TARGET_LENGTH));
        let zero_padded = format!("127.0.0.1:{}1", "0".repeat(30_000));
        for bad in [
            "127.0.0.1:-1",
            "127.0.0.1:+80",
            "127.0.0.1:080",
            "127.0.0.1:65536",
            "127.0.0.1:1e3",
            "127.0.0.1: 80",
            "http://127.0.0.1:-1/stats",
            "http://127.0.0.1:00080/stats",
            "http://127.0.0.1:/stats",
            "[::1]",
            "[::1]x:80",
            "[zz]:80",
            "a..b:80",
            long_name.as_str(),
            zero_padded.as_str(),
        ] {
            let error = probe_target_uri(bad).unwrap_err();
            assert!(error.len() < 300, "{error}");
        }
        for bad in [
            "",
            "host",
            "host:",
            "host:0",
            "host:99999",
            "a/b:1",
            "h:1?x",
            "u@h:1",
            "ftp://h/stats",
            "http://",
            "http://u:p@h/stats",
            "h :1",
            "gopher://h:70",
        ] {
            assert!(probe_target_uri(bad).is_err(), "{bad}");
        }
    }
}
