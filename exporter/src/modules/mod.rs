//! Modules (`--config.file`): how to reach targets behind authentication, TLS and proxies.
//!
//! A module is chosen per request (`/probe?module=`; the `default` module for the sidecar
//! target and for `/probe` without one). The file loads at start-up and again on SIGHUP and
//! `/-/reload`; a file that does not load keeps the previous modules in force. Secret files
//! (passwords, tokens, client keys and certificates) are checked for changes at most once a
//! second and re-read when they change, so credentials rotate without a reload. Secret values
//! are never logged, shown or written in an error.

pub mod config;
pub mod proxy;
pub mod tls;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use hyper::Uri;
use rustls::ClientConfig;

use self::config::{HttpClientConfig, ModuleSpec, TlsClientSpec, parse_modules};
use self::proxy::ProxySettings;
use crate::targets::TargetPolicy;
use crate::web::ReloadOutcome;
use crate::web::config::WebConfigError;

/// How often a secret or certificate file is checked for a change.
const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What the landing page shows instead of a secret, as Prometheus does.
pub const REDACTED: &str = "<secret>";

/// The name of the module used when a request names none.
pub const DEFAULT_MODULE: &str = "default";

/// Modification time and length of a file, to notice a change.
type Fingerprint = Option<(SystemTime, u64)>;

fn fingerprint(path: &Path) -> Fingerprint {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A secret given inline or in a file. The file's content, trimmed of surrounding white
/// space as Prometheus does, is re-read when the file changes; a changed file that cannot be
/// read keeps the last value (a Kubernetes Secret update swaps files under a running pod).
pub struct Secret {
    file: Option<PathBuf>,
    state: Mutex<SecretState>,
}

struct SecretState {
    value: String,
    fingerprint: Fingerprint,
    checked: Instant,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.file {
            Some(file) => write!(f, "Secret(file {})", file.display()),
            None => write!(f, "Secret({REDACTED})"),
        }
    }
}

impl Secret {
    fn inline(value: &str) -> Result<Secret, String> {
        let value = checked_secret(value.trim())?;
        Ok(Secret {
            file: None,
            state: Mutex::new(SecretState {
                value,
                fingerprint: None,
                checked: Instant::now(),
            }),
        })
    }

    fn empty() -> Secret {
        Secret {
            file: None,
            state: Mutex::new(SecretState {
                value: String::new(),
                fingerprint: None,
                checked: Instant::now(),
            }),
        }
    }

    fn from_file(path: PathBuf) -> Result<Secret, String> {
        let value = read_secret(&path)?;
        Ok(Secret {
            state: Mutex::new(SecretState {
                value,
                fingerprint: fingerprint(&path),
                checked: Instant::now(),
            }),
            file: Some(path),
        })
    }

    /// The value now.
    pub fn value(&self) -> String {
        let mut state = lock(&self.state);
        if let Some(path) = &self.file
            && state.checked.elapsed() >= FILE_CHECK_INTERVAL
        {
            state.checked = Instant::now();
            let now = fingerprint(path);
            if now != state.fingerprint {
                match read_secret(path) {
                    Ok(value) => {
                        state.value = value;
                        state.fingerprint = now;
                        tracing::info!(file = %path.display(), "secret file changed; using its new content");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "secret file changed but cannot be used; keeping its previous content");
                    }
                }
            }
        }
        state.value.clone()
    }
}

fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("{}: cannot read: {error}", path.display()))?;
    checked_secret(text.trim()).map_err(|problem| format!("{}: {problem}", path.display()))
}

/// A secret goes into a header: no line breaks or other control characters.
fn checked_secret(value: &str) -> Result<String, String> {
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err("contains control characters, which a header cannot carry".into());
    }
    Ok(value.to_string())
}

/// The credentials a module sends in `Authorization`.
#[derive(Debug)]
enum Credentials {
    Basic { username: Secret, password: Secret },
    Scheme { scheme: String, credentials: Secret },
}

impl Credentials {
    fn header_value(&self) -> String {
        match self {
            Credentials::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    username.value(),
                    password.value()
                ))
            ),
            Credentials::Scheme {
                scheme,
                credentials,
            } => format!("{scheme} {}", credentials.value()),
        }
    }
}

/// A module's TLS client configuration, rebuilt when one of its files changes.
struct TlsSource {
    spec: TlsClientSpec,
    files: Vec<PathBuf>,
    state: Mutex<TlsState>,
}

struct TlsState {
    config: Arc<ClientConfig>,
    fingerprints: Vec<Fingerprint>,
    checked: Instant,
}

impl TlsSource {
    fn load(spec: TlsClientSpec) -> Result<TlsSource, (&'static str, String)> {
        let config = tls::client_config(&spec)?;
        let files: Vec<PathBuf> = [&spec.ca_file, &spec.cert_file, &spec.key_file]
            .into_iter()
            .flatten()
            .map(PathBuf::from)
            .collect();
        Ok(TlsSource {
            state: Mutex::new(TlsState {
                config,
                fingerprints: files.iter().map(|file| fingerprint(file)).collect(),
                checked: Instant::now(),
            }),
            files,
            spec,
        })
    }

    fn config(&self) -> Arc<ClientConfig> {
        let mut state = lock(&self.state);
        if !self.files.is_empty() && state.checked.elapsed() >= FILE_CHECK_INTERVAL {
            state.checked = Instant::now();
            let now: Vec<Fingerprint> = self.files.iter().map(|file| fingerprint(file)).collect();
            if now != state.fingerprints {
                match tls::client_config(&self.spec) {
                    Ok(config) => {
                        state.config = config;
                        state.fingerprints = now;
                        tracing::info!("TLS files of a module changed; using them");
                    }
                    Err((field, message)) => tracing::warn!(
                        field,
                        error = %message,
                        "TLS files of a module changed but do not load; keeping the previous ones"
                    ),
                }
            }
        }
        Arc::clone(&state.config)
    }
}

/// The system's roots, for https targets of modules without a CA of their own. Built on
/// first use: the roots cost about a megabyte that sidecars reading http never need.
fn system_tls_config() -> Result<Arc<ClientConfig>, String> {
    static SYSTEM: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            tls::client_config(&TlsClientSpec::default())
                .map_err(|(_, message)| format!("no TLS root certificates: {message}"))
        })
        .clone()
}

/// One module, ready to use.
pub struct Module {
    pub name: String,
    /// Prefix of this module's connection pool keys: connections are kept per (module,
    /// target), and a reload starts new pools so no connection outlives the settings it was
    /// made with.
    pool_prefix: String,
    /// `Name: value\r\n` for each of the module's headers.
    headers: String,
    header_pairs: Vec<(String, String)>,
    generation: u64,
    credentials: Option<Credentials>,
    tls: Option<TlsSource>,
    pub proxy: ProxySettings,
    allowed_targets: TargetPolicy,
    /// What the landing page shows, secrets redacted.
    pub summary: Vec<(String, String)>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("summary", &self.summary)
            .finish()
    }
}

impl Module {
    /// The module of an exporter without `--config.file`, or of a file without `default`:
    /// plain requests, system roots, no proxy.
    pub fn builtin() -> Module {
        Module::builtin_of(0)
    }

    /// The built-in module as part of a file's `generation` (see [`Module::generation`]).
    fn builtin_of(generation: u64) -> Module {
        Module {
            name: String::new(),
            pool_prefix: String::new(),
            headers: String::new(),
            header_pairs: Vec::new(),
            generation,
            credentials: None,
            tls: None,
            proxy: ProxySettings::default(),
            allowed_targets: TargetPolicy::default(),
            summary: Vec::new(),
        }
    }

    /// Extra request header lines (the module's headers and `Authorization`), each ending in
    /// CRLF; empty for a module without any.
    pub fn request_headers(&self) -> String {
        match self.authorization() {
            None => self.headers.clone(),
            Some(value) => format!("{}Authorization: {value}\r\n", self.headers),
        }
    }

    /// Whether the module adds headers to requests.
    pub fn has_request_headers(&self) -> bool {
        self.credentials.is_some() || !self.headers.is_empty()
    }

    /// The module's headers, as names and values.
    pub fn headers(&self) -> &[(String, String)] {
        &self.header_pairs
    }

    /// The `Authorization` value now (secret files re-read when they changed).
    pub fn authorization(&self) -> Option<String> {
        self.credentials.as_ref().map(Credentials::header_value)
    }

    /// Which load of the file the module comes from (0: the first, or no file); every module
    /// of one load, the built-in default included, has the same.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The key of the pool of idle connections to `authority` for this module.
    pub fn pool_key<'a>(&self, authority: &'a str) -> Cow<'a, str> {
        if self.pool_prefix.is_empty() {
            Cow::Borrowed(authority)
        } else {
            Cow::Owned(format!("{}{authority}", self.pool_prefix))
        }
    }

    /// The TLS configuration for this module's https targets.
    pub fn tls_config(&self) -> Result<Arc<ClientConfig>, String> {
        match &self.tls {
            Some(source) => Ok(source.config()),
            None => system_tls_config(),
        }
    }

    /// `tls_config.server_name`, if set.
    pub fn server_name(&self) -> Option<&str> {
        self.tls
            .as_ref()
            .and_then(|source| source.spec.server_name.as_deref())
    }

    /// The module's own narrowing of `--probe.allowed-targets`.
    pub fn check_target(&self, uri: &Uri) -> Result<(), String> {
        self.allowed_targets
            .check(uri)
            .map_err(|reason| format!("module {:?}: {reason}", self.name))
    }

    fn build(
        name: &str,
        generation: u64,
        spec: ModuleSpec,
        base: &Path,
    ) -> Result<Module, (String, String)> {
        let at = |field: &str| format!("modules.{name}.http_client_config.{field}");
        let resolve = |path: &str| resolve_path(base, path);
        let http = spec.http_client_config;
        let mut summary = Vec::new();
        let mut headers = String::new();
        for (header, value) in &spec.headers {
            headers.push_str(&format!("{header}: {}\r\n", value.expose()));
            // A header may well carry a key: only its name is shown.
            summary.push((format!("headers.{header}"), REDACTED.to_string()));
        }
        let secret = |inline: Option<&str>,
                      file: &Option<String>,
                      file_field: &str|
         -> Result<Option<Secret>, (String, String)> {
            match (inline, file) {
                (Some(value), _) => Secret::inline(value)
                    .map(Some)
                    .map_err(|message| (at(file_field.trim_end_matches("_file")), message)),
                (None, Some(path)) => Secret::from_file(resolve(path))
                    .map(Some)
                    .map_err(|message| (at(file_field), message)),
                (None, None) => Ok(None),
            }
        };
        let credentials = credentials(&http, &secret, &mut summary)?;
        let tls =
            match http.tls_config.clone() {
                Some(mut spec) => {
                    for path in [&mut spec.ca_file, &mut spec.cert_file, &mut spec.key_file]
                        .into_iter()
                        .flatten()
                    {
                        *path = resolve(path).to_string_lossy().into_owned();
                    }
                    describe_tls(&spec, &mut summary);
                    Some(TlsSource::load(spec).map_err(|(field, message)| {
                        (at(&format!("tls_config.{field}")), message)
                    })?)
                }
                None => None,
            };
        let proxy = ProxySettings::resolve(
            http.proxy_url.as_deref(),
            http.no_proxy.as_deref(),
            http.proxy_from_environment,
            &http.proxy_connect_header,
        )
        .map_err(|(field, message)| (at(field), message))?;
        if let Some(proxy_url) = &proxy.http
            && !http.proxy_from_environment
        {
            let credentials = if proxy_url.authorization.is_some() {
                format!("{REDACTED}@")
            } else {
                String::new()
            };
            summary.push((
                "proxy_url".into(),
                format!("http://{credentials}{}", proxy_url.address()),
            ));
        }
        if let Some(no_proxy) = &http.no_proxy {
            summary.push(("no_proxy".into(), no_proxy.clone()));
        }
        if http.proxy_from_environment {
            summary.push(("proxy_from_environment".into(), "true".into()));
        }
        for header in http.proxy_connect_header.keys() {
            summary.push((format!("proxy_connect_header.{header}"), REDACTED.into()));
        }
        if !spec.allowed_targets.is_empty() {
            summary.push(("allowed_targets".into(), spec.allowed_targets.join(", ")));
        }
        Ok(Module {
            name: name.to_string(),
            pool_prefix: format!("{name}#{generation} "),
            headers,
            header_pairs: spec
                .headers
                .into_iter()
                .map(|(name, value)| (name, value.0))
                .collect(),
            generation,
            credentials,
            tls,
            proxy,
            // Validated with the file.
            allowed_targets: TargetPolicy::parse(&spec.allowed_targets).unwrap_or_default(),
            summary,
        })
    }
}

type SecretLoader<'a> =
    dyn Fn(Option<&str>, &Option<String>, &str) -> Result<Option<Secret>, (String, String)> + 'a;

fn credentials(
    http: &HttpClientConfig,
    secret: &SecretLoader<'_>,
    summary: &mut Vec<(String, String)>,
) -> Result<Option<Credentials>, (String, String)> {
    if let Some(basic) = &http.basic_auth {
        let username = secret(
            basic.username.as_deref(),
            &basic.username_file,
            "basic_auth.username_file",
        )?
        .unwrap_or_else(Secret::empty);
        let password = secret(
            basic.password.as_deref(),
            &basic.password_file,
            "basic_auth.password_file",
        )?
        .unwrap_or_else(Secret::empty);
        summary.push((
            "basic_auth.username".into(),
            match (&basic.username, &basic.username_file) {
                (Some(name), _) => name.clone(),
                (None, Some(file)) => format!("from {file}"),
                (None, None) => String::new(),
            },
        ));
        summary.push(("basic_auth.password".into(), REDACTED.into()));
        return Ok(Some(Credentials::Basic { username, password }));
    }
    let (scheme, inline, file, field) = match (
        &http.authorization,
        &http.bearer_token,
        &http.bearer_token_file,
    ) {
        (Some(authorization), _, _) => (
            authorization
                .scheme
                .clone()
                .unwrap_or_else(|| "Bearer".into()),
            authorization.credentials.as_deref(),
            &authorization.credentials_file,
            "authorization.credentials_file",
        ),
        (None, inline, file) if inline.is_some() || file.is_some() => (
            "Bearer".into(),
            inline.as_deref(),
            file,
            "bearer_token_file",
        ),
        _ => return Ok(None),
    };
    let Some(credentials) = secret(inline, file, field)? else {
        // `authorization: {type: X}` alone: the scheme with empty credentials, as Prometheus.
        summary.push(("authorization.type".into(), scheme.clone()));
        return Ok(Some(Credentials::Scheme {
            scheme,
            credentials: Secret::empty(),
        }));
    };
    summary.push(("authorization.type".into(), scheme.clone()));
    summary.push(("authorization.credentials".into(), REDACTED.into()));
    Ok(Some(Credentials::Scheme {
        scheme,
        credentials,
    }))
}

fn describe_tls(spec: &TlsClientSpec, summary: &mut Vec<(String, String)>) {
    let mut add = |field: &str, value: String| summary.push((format!("tls_config.{field}"), value));
    if let Some(file) = &spec.ca_file {
        add("ca_file", file.clone());
    }
    if spec.ca.is_some() {
        add("ca", "(inline)".into());
    }
    if let Some(file) = &spec.cert_file {
        add("cert_file", file.clone());
    }
    if spec.cert.is_some() {
        add("cert", "(inline)".into());
    }
    if spec.key.is_some() || spec.key_file.is_some() {
        add("key", REDACTED.into());
    }
    if let Some(name) = &spec.server_name {
        add("server_name", name.clone());
    }
    if spec.insecure_skip_verify {
        add("insecure_skip_verify", "true".into());
    }
    if let Some(version) = spec.min_version {
        add("min_version", format!("{version:?}"));
    }
    if let Some(version) = spec.max_version {
        add("max_version", format!("{version:?}"));
    }
}

fn resolve_path(base: &Path, path: &str) -> PathBuf {
    if Path::new(path).is_relative() {
        base.join(path)
    } else {
        PathBuf::from(path)
    }
}

/// The modules in force.
#[derive(Debug)]
pub struct ModuleSet {
    modules: BTreeMap<String, Arc<Module>>,
    default: Arc<Module>,
}

impl Default for ModuleSet {
    fn default() -> Self {
        ModuleSet {
            modules: BTreeMap::new(),
            default: Arc::new(Module::builtin()),
        }
    }
}

impl ModuleSet {
    /// The module a request names, or the default one; an unknown name is refused with the
    /// names that are known.
    pub fn select(&self, name: Option<&str>) -> Result<&Arc<Module>, String> {
        match name {
            None => Ok(&self.default),
            Some(name) => self.modules.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.modules.keys().map(String::as_str).collect();
                if known.is_empty() {
                    format!("unknown module {name:?}: no modules are configured (--config.file)")
                } else {
                    format!(
                        "unknown module {name:?}; known modules: {}",
                        known.join(", ")
                    )
                }
            }),
        }
    }

    pub fn default_module(&self) -> &Arc<Module> {
        &self.default
    }

    pub fn modules(&self) -> impl Iterator<Item = &Arc<Module>> {
        self.modules.values()
    }
}

/// The module file and the modules last loaded from it.
#[derive(Debug)]
pub struct ModuleConfig {
    path: PathBuf,
    current: RwLock<Arc<ModuleSet>>,
    generation: AtomicU64,
    last_reload: Mutex<ReloadOutcome>,
}

impl ModuleConfig {
    /// Loads the file and every file it names; any problem stops start-up.
    pub fn load(path: &Path) -> Result<ModuleConfig, WebConfigError> {
        let set = load_modules(path, 0)?;
        Ok(ModuleConfig {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(set)),
            generation: AtomicU64::new(0),
            last_reload: Mutex::new(ReloadOutcome {
                successful: true,
                last_success: SystemTime::now(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn current(&self) -> Arc<ModuleSet> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    pub fn last_reload(&self) -> ReloadOutcome {
        *lock(&self.last_reload)
    }

    /// Loads the file again; on an error the modules in force stay.
    pub fn reload(&self) -> Result<(), WebConfigError> {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let loaded = load_modules(&self.path, generation);
        let mut outcome = lock(&self.last_reload);
        outcome.successful = loaded.is_ok();
        let set = loaded?;
        outcome.last_success = SystemTime::now();
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
        Ok(())
    }
}

fn load_modules(path: &Path, generation: u64) -> Result<ModuleSet, WebConfigError> {
    let text = crate::web::config::read_config_file(path)?;
    let file = parse_modules(path, &text)?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut modules = BTreeMap::new();
    for (name, spec) in file.modules {
        let module = Module::build(&name, generation, spec, base).map_err(|(field, message)| {
            WebConfigError {
                file: path.to_path_buf(),
                line: config::line_of_path(&text, &field),
                field: Some(field),
                message,
            }
        })?;
        modules.insert(name, Arc::new(module));
    }
    let default = modules
        .get(DEFAULT_MODULE)
        .cloned()
        .unwrap_or_else(|| Arc::new(Module::builtin_of(generation)));
    Ok(ModuleSet { modules, default })
}
