//! The module file (`--config.file`): named modules, each with request headers, an optional
//! narrower `/probe` allowlist and Prometheus's `http_client_config`, spelled as in a
//! Prometheus `scrape_config` so that a user can paste theirs.
//!
//! Parsing and validation are pure (text in, [`ModulesFile`] or an error naming the file, line
//! and field out); secret and certificate files are read in [`super`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::web::config::{TlsVersion, WebConfigError, syntax_error};

/// A value that must never be printed (a password, a token, a key, a URL with credentials):
/// its `Debug` form is `<secret>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl SecretText {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for SecretText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(super::REDACTED)
    }
}

/// The file as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModulesFile {
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSpec {
    /// Sent with every request to the target, as blackbox_exporter's `headers`.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretText>,
    /// Narrows `--probe.allowed-targets` for this module (same patterns); empty narrows
    /// nothing.
    #[serde(default)]
    pub allowed_targets: Vec<String>,
    #[serde(default)]
    pub http_client_config: HttpClientConfig,
}

/// Prometheus's common HTTP client settings. The fields of Prometheus's that are not
/// implemented are read only to be refused by name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    #[serde(default)]
    pub basic_auth: Option<BasicAuthSpec>,
    #[serde(default)]
    pub authorization: Option<AuthorizationSpec>,
    /// The legacy spellings of `authorization` with type Bearer.
    #[serde(default)]
    pub bearer_token: Option<SecretText>,
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    #[serde(default)]
    pub tls_config: Option<TlsClientSpec>,
    #[serde(default)]
    pub proxy_url: Option<SecretText>,
    #[serde(default)]
    pub no_proxy: Option<String>,
    #[serde(default)]
    pub proxy_from_environment: bool,
    /// Sent to the proxy with `CONNECT`; each value is a secret (it usually holds
    /// credentials), as in Prometheus.
    #[serde(default)]
    pub proxy_connect_header: BTreeMap<String, Vec<SecretText>>,
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    #[serde(default)]
    pub enable_http2: Option<bool>,
    #[serde(default)]
    pub oauth2: Option<IgnoredAny>,
    #[serde(default)]
    pub http_headers: Option<IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthSpec {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub username_file: Option<String>,
    #[serde(default)]
    pub password: Option<SecretText>,
    #[serde(default)]
    pub password_file: Option<String>,
    #[serde(default)]
    pub username_ref: Option<IgnoredAny>,
    #[serde(default)]
    pub password_ref: Option<IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationSpec {
    /// `Bearer` when absent, as in Prometheus.
    #[serde(default, rename = "type")]
    pub scheme: Option<String>,
    #[serde(default)]
    pub credentials: Option<SecretText>,
    #[serde(default)]
    pub credentials_file: Option<String>,
    #[serde(default)]
    pub credentials_ref: Option<IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientSpec {
    /// CA certificates inline, as PEM; instead of `ca_file`.
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key: Option<SecretText>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
    #[serde(default)]
    pub ca_ref: Option<IgnoredAny>,
    #[serde(default)]
    pub cert_ref: Option<IgnoredAny>,
    #[serde(default)]
    pub key_ref: Option<IgnoredAny>,
}

/// Headers a module may not set: the exporter writes them itself, or they belong to
/// `basic_auth` / `authorization`.
pub const RESERVED_HEADERS: [&str; 12] = [
    "Accept",
    "Authorization",
    "Connection",
    "Content-Length",
    "Host",
    "Keep-Alive",
    "Proxy-Authorization",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
    "User-Agent",
];

/// Parses and validates the text of a module file. Paths stay as written.
pub fn parse_modules(file: &Path, text: &str) -> Result<ModulesFile, WebConfigError> {
    if text.trim().is_empty() {
        return Ok(ModulesFile::default());
    }
    let config: ModulesFile =
        serde_saphyr::from_str(text).map_err(|error| syntax_error(file, text, &error))?;
    for (name, module) in &config.modules {
        validate_module(name, module).map_err(|(field, message)| WebConfigError {
            file: file.to_path_buf(),
            line: line_of_path(text, &field),
            field: Some(field),
            message,
        })?;
    }
    Ok(config)
}

type Invalid = (String, String);

fn validate_module(name: &str, module: &ModuleSpec) -> Result<(), Invalid> {
    let at = |field: &str| format!("modules.{name}.{field}");
    let module_field = format!("modules.{name}");
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err((
            module_field,
            "a module name is letters, digits, '_', '-' and '.'".into(),
        ));
    }
    for (header, value) in &module.headers {
        let field = at(&format!("headers.{header}"));
        if let Some(reserved) = RESERVED_HEADERS
            .iter()
            .find(|reserved| reserved.eq_ignore_ascii_case(header))
        {
            let hint = match *reserved {
                "Authorization" => "; use http_client_config.authorization or basic_auth",
                "Proxy-Authorization" => "; put the credentials in proxy_url",
                _ => "",
            };
            return Err((
                field,
                format!("{reserved} is set by the exporter and cannot be a module header{hint}"),
            ));
        }
        if hyper::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err((field, "not a valid header name".into()));
        }
        if hyper::header::HeaderValue::from_str(value.expose()).is_err() {
            return Err((
                field,
                "the value has characters a header cannot carry".into(),
            ));
        }
    }
    crate::targets::TargetPolicy::parse(&module.allowed_targets)
        .map_err(|error| (at("allowed_targets"), error))?;
    validate_http_client(&module.http_client_config)
        .map_err(|(field, message)| (at(&format!("http_client_config.{field}")), message))
}

fn validate_http_client(http: &HttpClientConfig) -> Result<(), Invalid> {
    let fail = |field: &str, message: &str| Err((field.to_string(), message.to_string()));
    if http.oauth2.is_some() {
        return fail("oauth2", "not supported by syseng_exporter");
    }
    if http.http_headers.is_some() {
        return fail(
            "http_headers",
            "not supported by syseng_exporter; use the module's headers",
        );
    }
    let bearer = http.bearer_token.is_some() || http.bearer_token_file.is_some();
    if http.bearer_token.is_some() && http.bearer_token_file.is_some() {
        return fail(
            "bearer_token_file",
            "at most one of bearer_token and bearer_token_file",
        );
    }
    if let Some(basic) = &http.basic_auth {
        if http.authorization.is_some() || bearer {
            return fail(
                "basic_auth",
                "at most one of basic_auth, authorization, bearer_token and bearer_token_file",
            );
        }
        if basic.username_ref.is_some() || basic.password_ref.is_some() {
            return fail(
                "basic_auth",
                "username_ref and password_ref are not supported by syseng_exporter",
            );
        }
        if basic.username.is_some() && basic.username_file.is_some() {
            return fail(
                "basic_auth.username_file",
                "at most one of username and username_file",
            );
        }
        if basic.password.is_some() && basic.password_file.is_some() {
            return fail(
                "basic_auth.password_file",
                "at most one of password and password_file",
            );
        }
        if basic.username.as_deref().unwrap_or("").contains(':') {
            return fail("basic_auth.username", "a user name cannot contain ':'");
        }
    }
    if let Some(authorization) = &http.authorization {
        if bearer {
            return fail(
                "authorization",
                "at most one of authorization, bearer_token and bearer_token_file",
            );
        }
        if authorization.credentials_ref.is_some() {
            return fail(
                "authorization.credentials_ref",
                "not supported by syseng_exporter",
            );
        }
        if authorization.credentials.is_some() && authorization.credentials_file.is_some() {
            return fail(
                "authorization.credentials_file",
                "at most one of credentials and credentials_file",
            );
        }
        let scheme = authorization.scheme.as_deref().unwrap_or("Bearer");
        if scheme.eq_ignore_ascii_case("basic") {
            return fail(
                "authorization.type",
                "the type cannot be Basic; use basic_auth instead",
            );
        }
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_graphic()) {
            return fail(
                "authorization.type",
                "an authorization scheme is one word, like Bearer",
            );
        }
    }
    if let Some(tls) = &http.tls_config {
        validate_tls(tls).map_err(|(field, message)| (format!("tls_config.{field}"), message))?;
    }
    if http.follow_redirects == Some(true) {
        return fail(
            "follow_redirects",
            "true is not supported: the target is fetched where it is, so that the /probe allowlist holds",
        );
    }
    if let Some(proxy_url) = &http.proxy_url {
        if http.proxy_from_environment {
            return fail(
                "proxy_from_environment",
                "at most one of proxy_url and proxy_from_environment",
            );
        }
        super::proxy::ProxyUrl::parse(proxy_url.expose()).map_err(|message| {
            // The URL may hold a password: the message never repeats it.
            ("proxy_url".to_string(), message)
        })?;
    } else if http.no_proxy.is_some() {
        return fail(
            "no_proxy",
            "needs proxy_url (with proxy_from_environment, NO_PROXY applies)",
        );
    }
    if let Some(no_proxy) = &http.no_proxy {
        super::proxy::NoProxy::parse(no_proxy).map_err(|message| ("no_proxy".into(), message))?;
    }
    if !http.proxy_connect_header.is_empty() {
        if http.proxy_url.is_none() && !http.proxy_from_environment {
            return fail(
                "proxy_connect_header",
                "needs proxy_url or proxy_from_environment",
            );
        }
        for (name, values) in &http.proxy_connect_header {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return fail(
                    &format!("proxy_connect_header.{name}"),
                    "not a valid header name",
                );
            }
            if values
                .iter()
                .any(|value| hyper::header::HeaderValue::from_str(value.expose()).is_err())
            {
                return fail(
                    &format!("proxy_connect_header.{name}"),
                    "a value has characters a header cannot carry",
                );
            }
        }
    }
    Ok(())
}

fn validate_tls(tls: &TlsClientSpec) -> Result<(), Invalid> {
    let fail = |field: &str, message: String| Err((field.to_string(), message));
    if tls.ca_ref.is_some() || tls.cert_ref.is_some() || tls.key_ref.is_some() {
        return fail(
            "tls_config",
            "ca_ref, cert_ref and key_ref are not supported by syseng_exporter".into(),
        );
    }
    for (inline, inline_name, file, file_name) in [
        (tls.ca.is_some(), "ca", &tls.ca_file, "ca_file"),
        (tls.cert.is_some(), "cert", &tls.cert_file, "cert_file"),
        (tls.key.is_some(), "key", &tls.key_file, "key_file"),
    ] {
        if inline && file.is_some() {
            return fail(
                file_name,
                format!("at most one of {inline_name} and {file_name}"),
            );
        }
    }
    let has_cert = tls.cert.is_some() || tls.cert_file.is_some();
    let has_key = tls.key.is_some() || tls.key_file.is_some();
    if has_cert && !has_key {
        return fail(
            "key_file",
            "missing: a client certificate needs its key (key_file, or key inline)".into(),
        );
    }
    if has_key && !has_cert {
        return fail(
            "cert_file",
            "missing: a client key needs its certificate (cert_file, or cert inline)".into(),
        );
    }
    for (field, version) in [
        ("min_version", tls.min_version),
        ("max_version", tls.max_version),
    ] {
        if matches!(version, Some(TlsVersion::TLS10 | TlsVersion::TLS11)) {
            return fail(
                field,
                "TLS 1.0 and 1.1 are not supported; use TLS12 or TLS13".into(),
            );
        }
    }
    if let (Some(min), Some(max)) = (tls.min_version, tls.max_version)
        && min > max
    {
        return fail(
            "max_version",
            format!("{max:?} is below min_version {min:?}"),
        );
    }
    if let Some(name) = &tls.server_name
        && rustls::pki_types::ServerName::try_from(name.as_str()).is_err()
    {
        return fail(
            "server_name",
            format!("{name:?} is not a host name or IP address"),
        );
    }
    Ok(())
}

/// The line where a dotted field path is written: each key is looked for inside the block of
/// the key before it, so that the same key in two modules is told apart. A missing field is
/// reported at the nearest of its parents.
pub fn line_of_path(text: &str, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    for key in field.split('.') {
        let mut hit = None;
        for (index, line) in lines.iter().enumerate().skip(start) {
            let content = line.trim_start();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - content.len();
            if parent_indent.is_some_and(|parent| indent <= parent) {
                break;
            }
            let content = content.trim_start_matches("- ");
            let written = content
                .split_once(':')
                .map(|(written, _)| written.trim().trim_matches('"').trim_matches('\''));
            if written == Some(key) {
                hit = Some((index, indent));
                break;
            }
        }
        let Some((index, indent)) = hit else { break };
        found = Some(index + 1);
        start = index + 1;
        parent_indent = Some(indent);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_of_a_field_is_found_inside_its_module() {
        let text = "modules:\n  a:\n    http_client_config:\n      proxy_url: x\n  b:\n    http_client_config:\n      proxy_url: y\n";
        assert_eq!(
            line_of_path(text, "modules.b.http_client_config.proxy_url"),
            Some(7)
        );
        assert_eq!(
            line_of_path(text, "modules.a.http_client_config.proxy_url"),
            Some(4)
        );
        assert_eq!(
            line_of_path(text, "modules.b.http_client_config.tls_config.ca_file"),
            Some(6)
        );
    }

    #[test]
    fn secrets_in_a_parsed_file_do_not_print() {
        let text = "modules:\n  m:\n    headers: {X-Key: hunter2-a}\n    http_client_config:\n\
                    \x20     basic_auth: {username: u, password: hunter2-b}\n\
                    \x20     proxy_url: http://u:hunter2-c@proxy:3128\n\
                    \x20     proxy_connect_header: {X-P: [hunter2-d]}\n\
                    \x20     tls_config: {key: hunter2-e, cert: c}\n";
        let parsed = parse_modules(Path::new("m.yml"), text).unwrap();
        let printed = format!("{parsed:?}");
        assert!(printed.contains("<secret>"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
