//! The web configuration file (`--web.config.file`), in the format of Prometheus's
//! exporter-toolkit so that existing files work unchanged: `tls_server_config`,
//! `http_server_config`, `basic_auth_users`, `rate_limit` and `ip_socket_config`.
//!
//! Parsing and validation are pure (text in, [`WebConfigFile`] or an error naming the file,
//! line and field out); reading certificates and keys happens in [`super::tls`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file as written, after validation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    /// User name to bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub ip_socket_config: Option<IpSocketConfig>,
}

/// exporter-toolkit's `rate_limit`: one request per `interval`, with bursts of `burst`, for the
/// whole server (a token bucket); an interval of 0 turns it off.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// A Prometheus duration (`100ms`, `1s`); `0` or absent turns the limit off.
    #[serde(default)]
    pub interval: String,
    #[serde(default)]
    pub burst: u32,
}

/// exporter-toolkit's `ip_socket_config`: IP options of the listening sockets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpSocketConfig {
    #[serde(default)]
    pub ipv4_ttl: Option<u8>,
    #[serde(default)]
    pub ipv6_hop_limit: Option<u8>,
    #[serde(default)]
    pub dscp: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// The certificate chain inline, as PEM; instead of `cert_file`.
    #[serde(default)]
    pub cert: String,
    /// The key inline, as PEM; instead of `key_file`.
    #[serde(default)]
    pub key: String,
    /// The client CA inline, as PEM; instead of `client_ca_file`.
    #[serde(default)]
    pub client_ca: String,
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
    #[serde(default)]
    pub client_auth_type: ClientAuthType,
    #[serde(default)]
    pub client_ca_file: String,
    /// A client certificate must carry one of these as a DNS, IP, e-mail or URI SAN.
    #[serde(default)]
    pub client_allowed_sans: Vec<String>,
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
    /// IANA names of TLS 1.2 suites; TLS 1.3 suites are always enabled, as in Go.
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    /// Accepted for compatibility; the server's order always wins here.
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
}

/// exporter-toolkit's names for Go's `tls.ClientAuthType` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    #[default]
    #[serde(alias = "")]
    NoClientCert,
    RequestClientCert,
    /// `RequireClientCert` is the older spelling exporter-toolkit still reads.
    #[serde(alias = "RequireClientCert")]
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// Whether client certificates are checked against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert
        )
    }

    /// Whether every client must present a certificate.
    pub fn requires(self) -> bool {
        matches!(
            self,
            ClientAuthType::RequireAnyClientCert | ClientAuthType::RequireAndVerifyClientCert
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted for compatibility; the exporter speaks HTTP/1.1, which every scraper reads.
    #[serde(default)]
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Response headers the file may set, as exporter-toolkit allows them.
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// A web configuration that cannot be used, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfigError {
    pub file: PathBuf,
    /// 1-based line of the offending field, when it can be found.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `tls_server_config.min_version`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for WebConfigError {}

/// Parses and validates the text of a web configuration file. Paths in it stay as written;
/// see [`WebConfigFile::resolve_paths`].
pub fn parse_web_config(file: &Path, text: &str) -> Result<WebConfigFile, WebConfigError> {
    if text.trim().is_empty() {
        // An empty file is a valid configuration that changes nothing, as in exporter-toolkit.
        return Ok(WebConfigFile::default());
    }
    let config: WebConfigFile =
        serde_saphyr::from_str(text).map_err(|error| syntax_error(file, text, &error))?;
    let fail = |field: &str, message: String| WebConfigError {
        file: file.to_path_buf(),
        line: line_of(text, field),
        field: Some(field.to_string()),
        message,
    };

    if let Some(tls) = &config.tls_server_config {
        for (inline, inline_name, file, file_name, what) in [
            (
                &tls.cert,
                "cert",
                &tls.cert_file,
                "cert_file",
                "certificate",
            ),
            (&tls.key, "key", &tls.key_file, "key_file", "key"),
            (
                &tls.client_ca,
                "client_ca",
                &tls.client_ca_file,
                "client_ca_file",
                "client CA",
            ),
        ] {
            if !inline.is_empty() && !file.is_empty() {
                return Err(fail(
                    &format!("tls_server_config.{inline_name}"),
                    format!(
                        "the {what} is given twice; keep {inline_name} (inline PEM) or {file_name}"
                    ),
                ));
            }
            if inline.is_empty() && file.is_empty() && what != "client CA" {
                return Err(fail(
                    &format!("tls_server_config.{file_name}"),
                    format!("missing: TLS needs a {what} ({file_name}, or {inline_name} inline)"),
                ));
            }
        }
        let has_ca = !tls.client_ca_file.is_empty() || !tls.client_ca.is_empty();
        if tls.client_auth_type.verifies() && !has_ca {
            return Err(fail(
                "tls_server_config.client_ca_file",
                format!(
                    "missing: client_auth_type {:?} verifies client certificates against it",
                    tls.client_auth_type
                ),
            ));
        }
        if has_ca && tls.client_auth_type == ClientAuthType::NoClientCert {
            return Err(fail(
                "tls_server_config.client_auth_type",
                "a client CA is configured without a client auth policy; use RequireAndVerifyClientCert or VerifyClientCertIfGiven".into(),
            ));
        }
        if !tls.client_allowed_sans.is_empty() && !tls.client_auth_type.requires() {
            return Err(fail(
                "tls_server_config.client_allowed_sans",
                format!(
                    "needs client_auth_type RequireAndVerifyClientCert or RequireAnyClientCert: with {:?} a client may send no certificate, and no SAN to match",
                    tls.client_auth_type
                ),
            ));
        }
        for (field, version) in [
            ("tls_server_config.min_version", tls.min_version),
            ("tls_server_config.max_version", tls.max_version),
        ] {
            if matches!(version, Some(TlsVersion::TLS10 | TlsVersion::TLS11)) {
                return Err(fail(
                    field,
                    "TLS 1.0 and 1.1 are not supported; use TLS12 or TLS13".into(),
                ));
            }
        }
        if let (Some(min), Some(max)) = (tls.min_version, tls.max_version)
            && min > max
        {
            return Err(fail(
                "tls_server_config.max_version",
                format!("{max:?} is below min_version {min:?}"),
            ));
        }
    }
    if let Some(http) = &config.http_server_config {
        for (name, value) in &http.headers {
            let field = format!("http_server_config.headers.{name}");
            let Some(allowed) = ALLOWED_HEADERS
                .iter()
                .find(|allowed| allowed.eq_ignore_ascii_case(name))
            else {
                return Err(fail(
                    &field,
                    format!(
                        "header not allowed; allowed: {}",
                        ALLOWED_HEADERS.join(", ")
                    ),
                ));
            };
            let value_ok = match *allowed {
                "X-Content-Type-Options" => value.eq_ignore_ascii_case("nosniff"),
                "X-Frame-Options" => {
                    value.eq_ignore_ascii_case("deny") || value.eq_ignore_ascii_case("sameorigin")
                }
                _ => !value.is_empty(),
            };
            if !value_ok || hyper::header::HeaderValue::from_str(value).is_err() {
                return Err(fail(&field, format!("invalid value {value:?}")));
            }
        }
    }
    if let Some(limit) = &config.rate_limit {
        let interval =
            rate_limit_interval(limit).map_err(|message| fail("rate_limit.interval", message))?;
        if !interval.is_zero() && limit.burst == 0 {
            return Err(fail(
                "rate_limit.burst",
                "must be at least 1 when an interval is set: a burst of 0 refuses every request"
                    .into(),
            ));
        }
    }
    if let Some(socket) = &config.ip_socket_config {
        if socket.ipv4_ttl == Some(0) {
            return Err(fail("ip_socket_config.ipv4_ttl", "must be 1 to 255".into()));
        }
        if socket.ipv6_hop_limit == Some(0) {
            return Err(fail(
                "ip_socket_config.ipv6_hop_limit",
                "must be 1 to 255".into(),
            ));
        }
        if socket.dscp.is_some_and(|dscp| !(0..=63).contains(&dscp)) {
            return Err(fail("ip_socket_config.dscp", "must be 0 to 63".into()));
        }
    }
    for (user, hash) in &config.basic_auth_users {
        if bcrypt_cost(hash).is_none() {
            return Err(fail(
                &format!("basic_auth_users.{user}"),
                "not a bcrypt hash (expected $2a$, $2b$ or $2y$ followed by the cost, as htpasswd -nbB makes)".into(),
            ));
        }
    }
    Ok(config)
}

/// `rate_limit.interval` as a duration; zero (or none) turns the limit off.
pub fn rate_limit_interval(limit: &RateLimit) -> Result<std::time::Duration, String> {
    match limit.interval.trim() {
        "" | "0" => Ok(std::time::Duration::ZERO),
        text => prom_duration::parse_millis(text)
            .map(std::time::Duration::from_millis)
            .map_err(|error| format!("{text:?}: {error}")),
    }
}

/// The cost of a bcrypt hash (`$2y$10$` + 53 characters), if it is one.
pub fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = hash
        .strip_prefix("$2a$")
        .or_else(|| hash.strip_prefix("$2b$"))
        .or_else(|| hash.strip_prefix("$2y$"))?;
    let (cost, digest) = rest.split_once('$')?;
    let cost: u32 = cost.parse().ok()?;
    ((4..=31).contains(&cost) && digest.len() == 53).then_some(cost)
}

impl WebConfigFile {
    /// Makes the file paths in the configuration relative to the file's directory, as
    /// exporter-toolkit does.
    pub fn resolve_paths(&mut self, config_file: &Path) {
        let base = config_file.parent().unwrap_or(Path::new(""));
        if let Some(tls) = &mut self.tls_server_config {
            for path in [
                &mut tls.cert_file,
                &mut tls.key_file,
                &mut tls.client_ca_file,
            ] {
                if !path.is_empty() && Path::new(path.as_str()).is_relative() {
                    *path = base.join(path.as_str()).to_string_lossy().into_owned();
                }
            }
        }
    }
}

/// The text of a configuration file, or an error naming it.
pub(crate) fn read_config_file(path: &Path) -> Result<String, WebConfigError> {
    std::fs::read_to_string(path).map_err(|error| WebConfigError {
        file: path.to_path_buf(),
        line: None,
        field: None,
        message: format!("cannot read: {error}"),
    })
}

pub(crate) fn syntax_error(file: &Path, text: &str, error: &serde_saphyr::Error) -> WebConfigError {
    let line = error.location().map(|location| location.line() as usize);
    let rendered = first_line(&error.to_string());
    // "error: line 5 column 21: unknown variant `Sometimes`, ..." -> the part after the place.
    let message = rendered
        .strip_prefix("error: ")
        .and_then(|rest| rest.strip_prefix("line "))
        .and_then(|rest| rest.split_once(": "))
        .map(|(_, message)| message.to_string())
        .unwrap_or(rendered);
    WebConfigError {
        file: file.to_path_buf(),
        line,
        field: line.and_then(|line| field_path_at(text, line)),
        message,
    }
}

/// The dotted path of the key written on a 1-based line of a block-style YAML document,
/// found from the keys of the less indented lines above it.
fn field_path_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let key_of = |line: &str| -> Option<(usize, String)> {
        let indent = line.len() - line.trim_start().len();
        let content = line.trim_start().trim_start_matches("- ");
        if content.starts_with('#') {
            return None;
        }
        let (key, _) = content.split_once(':')?;
        let key = key.trim().trim_matches('"').trim_matches('\'');
        (!key.is_empty() && !key.contains(' ')).then(|| (indent, key.to_string()))
    };
    let here = lines.get(line.checked_sub(1)?)?;
    let (mut indent, mut path) = match key_of(here) {
        Some((indent, key)) => (indent, vec![key]),
        // A value without a key (a list item): name the key it belongs to.
        None => (here.len() - here.trim_start().len(), Vec::new()),
    };
    for above in lines[..line - 1].iter().rev() {
        if let Some((above_indent, key)) = key_of(above)
            && above_indent < indent
        {
            path.push(key);
            indent = above_indent;
        }
    }
    path.reverse();
    (!path.is_empty()).then(|| path.join("."))
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).trim().to_string()
}

/// The line where a dotted field path is written, or failing that the nearest of its parents
/// (a missing field is reported at its section).
pub(crate) fn line_of(text: &str, field: &str) -> Option<usize> {
    let components: Vec<&str> = field.split('.').collect();
    (1..=components.len())
        .rev()
        .find_map(|length| line_of_key(text, components[length - 1]))
}

fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches("- ");
            line.strip_prefix(key)
                .or_else(|| {
                    line.strip_prefix('"')
                        .and_then(|rest| rest.strip_prefix(key))
                        .and_then(|rest| rest.strip_prefix('"'))
                })
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|index| index + 1)
}
