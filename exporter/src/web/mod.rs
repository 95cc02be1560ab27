//! TLS, basic authentication and response headers from `--web.config.file`.
//!
//! The file and the certificates it names are watched: each new connection takes the current
//! TLS settings and each request the current users and headers, and the files are checked for
//! changes at most once a second, so certificates can be rotated and users changed without a
//! restart. A change that does not load is logged and
//! the previous settings stay in force: a typo must not take the exporter down.

pub mod auth;
pub mod config;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use hyper::header::{HeaderName, HeaderValue};
use tokio_rustls::TlsAcceptor;

use self::auth::BasicAuth;
pub use self::config::IpSocketConfig;
use self::config::{WebConfigError, WebConfigFile, parse_web_config};

/// How often the files are checked for changes.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The settings a connection is served with.
#[derive(Default)]
pub struct WebSettings {
    pub tls: Option<TlsAcceptor>,
    pub auth: Option<Arc<BasicAuth>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub rate_limit: Option<Arc<RateLimiter>>,
    /// Applied to the listening sockets at start-up, and DSCP to each accepted connection.
    pub ip_socket: Option<IpSocketConfig>,
    /// Modification time and length of every file the settings came from.
    sources: Vec<(PathBuf, Option<(SystemTime, u64)>)>,
}

impl std::fmt::Debug for WebSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSettings")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.is_some())
            .field("headers", &self.headers)
            .finish()
    }
}

/// The web configuration file and the settings last loaded from it.
#[derive(Debug)]
pub struct WebConfig {
    path: PathBuf,
    current: RwLock<Arc<WebSettings>>,
    last_check: Mutex<Instant>,
    last_reload: Mutex<ReloadOutcome>,
}

/// Whether the last attempt to load the files succeeded, and when one last did.
#[derive(Debug, Clone, Copy)]
pub struct ReloadOutcome {
    pub successful: bool,
    pub last_success: SystemTime,
}

impl WebConfig {
    /// Loads the file and everything it names; any problem stops start-up.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let settings = load_settings(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(settings)),
            last_check: Mutex::new(Instant::now()),
            last_reload: Mutex::new(ReloadOutcome {
                successful: true,
                last_success: SystemTime::now(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn last_reload(&self) -> ReloadOutcome {
        *lock(&self.last_reload)
    }

    /// Loads the files again now, changed or not (SIGHUP, `/-/reload`). On an error the
    /// previous settings stay in force.
    pub fn reload(&self) -> Result<(), WebConfigError> {
        let current = self.read();
        self.apply(&current, load_settings(&self.path)).1
    }

    /// Puts loaded settings in force, or keeps `current` on an error, and records the outcome.
    fn apply(
        &self,
        current: &Arc<WebSettings>,
        loaded: Result<WebSettings, WebConfigError>,
    ) -> (Arc<WebSettings>, Result<(), WebConfigError>) {
        let (settings, result) = match loaded {
            Ok(settings) => (Arc::new(settings), Ok(())),
            // Remember the broken files' state so the error is logged once per change.
            Err(error) => (
                Arc::new(WebSettings {
                    tls: current.tls.clone(),
                    auth: current.auth.clone(),
                    headers: current.headers.clone(),
                    rate_limit: current.rate_limit.clone(),
                    ip_socket: current.ip_socket.clone(),
                    sources: fingerprint(current.sources.iter().map(|(path, _)| path.clone())),
                }),
                Err(error),
            ),
        };
        {
            let mut outcome = lock(&self.last_reload);
            outcome.successful = result.is_ok();
            if result.is_ok() {
                outcome.last_success = SystemTime::now();
            }
        }
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::clone(&settings);
        (settings, result)
    }

    /// The settings now, reloaded first if a file changed (checked at most once a second).
    pub fn current(&self) -> Arc<WebSettings> {
        let due = {
            let mut last_check = self
                .last_check
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let due = last_check.elapsed() >= RELOAD_CHECK_INTERVAL;
            if due {
                *last_check = Instant::now();
            }
            due
        };
        let current = self.read();
        if due && changed(&current.sources) {
            let (settings, result) = self.apply(&current, load_settings(&self.path));
            match result {
                Ok(()) => tracing::info!(file = %self.path.display(), "web configuration reloaded"),
                Err(error) => {
                    tracing::error!(%error, "web configuration changed but does not load; keeping the previous one")
                }
            }
            return settings;
        }
        current
    }

    fn read(&self) -> Arc<WebSettings> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn load_settings(path: &Path) -> Result<WebSettings, WebConfigError> {
    let text = config::read_config_file(path)?;
    let mut file: WebConfigFile = parse_web_config(path, &text)?;
    file.resolve_paths(path);
    let mut sources = vec![path.to_path_buf()];
    let tls = match &file.tls_server_config {
        Some(tls) => {
            let server_config = tls::server_config(tls).map_err(|error| WebConfigError {
                file: path.to_path_buf(),
                line: config::line_of(&text, error.field),
                field: Some(error.field.to_string()),
                message: error.message,
            })?;
            sources.extend(
                [&tls.cert_file, &tls.key_file, &tls.client_ca_file]
                    .into_iter()
                    .filter(|file| !file.is_empty())
                    .map(PathBuf::from),
            );
            Some(TlsAcceptor::from(server_config))
        }
        None => None,
    };
    let headers = file
        .http_server_config
        .as_ref()
        .map(|http| {
            http.headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((
                        HeaderName::from_bytes(name.as_bytes()).ok()?,
                        HeaderValue::from_str(value).ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let auth = (!file.basic_auth_users.is_empty())
        .then(|| Arc::new(BasicAuth::new(file.basic_auth_users)));
    let rate_limit = match &file.rate_limit {
        Some(limit) => {
            // Validated with the file.
            let interval = config::rate_limit_interval(limit).unwrap_or_default();
            (!interval.is_zero()).then(|| Arc::new(RateLimiter::new(interval, limit.burst)))
        }
        None => None,
    };
    Ok(WebSettings {
        tls,
        auth,
        headers,
        rate_limit,
        ip_socket: file.ip_socket_config,
        sources: fingerprint(sources),
    })
}

fn fingerprint(
    paths: impl IntoIterator<Item = PathBuf>,
) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
    paths
        .into_iter()
        .map(|path| {
            let state = std::fs::metadata(&path)
                .ok()
                .and_then(|metadata| Some((metadata.modified().ok()?, metadata.len())));
            (path, state)
        })
        .collect()
}

fn changed(sources: &[(PathBuf, Option<(SystemTime, u64)>)]) -> bool {
    fingerprint(sources.iter().map(|(path, _)| path.clone()))
        .iter()
        .zip(sources)
        .any(|((_, now), (_, before))| now != before)
}

/// `rate_limit`: a token bucket for the whole server, as exporter-toolkit's (Go's
/// `rate.Limiter`): `burst` requests at once, then one more per `interval`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    burst: f64,
    /// Tokens left, and when they were counted.
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(interval: Duration, burst: u32) -> Self {
        Self {
            interval,
            burst: f64::from(burst),
            bucket: Mutex::new((f64::from(burst), Instant::now())),
        }
    }

    /// Takes a token if one is left.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut bucket = lock(&self.bucket);
        let (tokens, counted) = *bucket;
        let earned =
            now.saturating_duration_since(counted).as_secs_f64() / self.interval.as_secs_f64();
        let tokens = (tokens + earned).min(self.burst);
        if tokens >= 1.0 {
            *bucket = (tokens - 1.0, now);
            true
        } else {
            *bucket = (tokens, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_allows_a_burst_then_one_per_interval() {
        let limiter = RateLimiter::new(Duration::from_secs(1), 2);
        let start = Instant::now();
        assert!(limiter.allow_at(start));
        assert!(limiter.allow_at(start));
        assert!(!limiter.allow_at(start), "the burst is spent");
        assert!(!limiter.allow_at(start + Duration::from_millis(500)));
        assert!(limiter.allow_at(start + Duration::from_millis(1000)));
        assert!(!limiter.allow_at(start + Duration::from_millis(1100)));
        // A long pause refills no more than the burst.
        let later = start + Duration::from_secs(60);
        assert!(limiter.allow_at(later));
        assert!(limiter.allow_at(later));
        assert!(!limiter.allow_at(later));
    }
}
