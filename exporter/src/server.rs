//! The HTTP surface: `/metrics`, `/probe`, `/`, `/-/healthy`, `/-/ready`.
//!
//! A failed target is data, not an HTTP error: it is answered 200 with `syseng_up 0`. Only a
//! wrong request gets a 4xx, and only an overloaded exporter a 503.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue,
    VARY, WWW_AUTHENTICATE,
};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode, Uri};

use crate::config::{Config, probe_target_uri};
use crate::convert::{ScrapeOutcome, target_families};
use crate::exposition::{MetricFamily, MetricType, Negotiated, encode, finish};
use crate::gzip;
use crate::journal::ScrapeJournal;
use crate::landing;
use crate::modules::{Module, ModuleSet};
use crate::process::ProcessInfo;
use crate::targets::ProbesPerTarget;
use crate::telemetry::ExporterMetrics;
use crate::upstream::{StatsClient, StatsPool};
use crate::web::{WebConfig, WebSettings};

/// Subtracted from the scraper's own timeout so a slow target turns into `syseng_up 0` before
/// Prometheus gives up on the whole scrape (blackbox_exporter uses the same margin).
pub const SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// State every worker thread shares.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// TLS, authentication and headers; `None` without `--web.config.file`.
    pub web: Option<WebConfig>,
    pub metrics: ExporterMetrics,
    pub journal: ScrapeJournal,
    process: ProcessInfo,
    scrapes_in_flight: AtomicUsize,
    probes_per_target: ProbesPerTarget,
    /// Idle connections to /probe targets, for all worker threads: a fleet has thousands of
    /// targets, each probed now and then, so one connection per target, not per thread.
    probe_pool: Arc<StatsPool>,
    /// Idle connections to the default target, which may be scraped by many at once.
    default_pool: Arc<StatsPool>,
    default_target: Option<String>,
    started: std::time::SystemTime,
    no_modules: Arc<ModuleSet>,
}

impl Shared {
    pub fn new(config: Config, web: Option<WebConfig>) -> Self {
        let idle_timeout = config.idle_connection_timeout;
        Self {
            probes_per_target: ProbesPerTarget::new(config.max_probes_per_target),
            probe_pool: Arc::new(StatsPool::new(
                idle_timeout,
                config.max_probes_per_target,
                max_idle_probe_connections(),
            )),
            default_pool: Arc::new(StatsPool::new(
                idle_timeout,
                config.max_requests,
                config.max_requests,
            )),
            web,
            default_target: config.stats_uri.as_ref().map(Uri::to_string),
            config,
            metrics: ExporterMetrics::default(),
            journal: ScrapeJournal::default(),
            process: ProcessInfo::read(),
            scrapes_in_flight: AtomicUsize::new(0),
            started: std::time::SystemTime::now(),
            no_modules: Arc::new(ModuleSet::default()),
        }
    }

    /// Loads every configuration file again (SIGHUP, `/-/reload`) and logs the outcome; on an
    /// error the previous settings of that file stay in force.
    pub fn reload(&self, trigger: &'static str) -> Result<(), String> {
        let mut errors = Vec::new();
        let mut reloaded = 0;
        if let Some(web) = &self.web {
            match web.reload() {
                Ok(()) => {
                    reloaded += 1;
                    tracing::info!(trigger, file = %web.path().display(), "configuration reloaded");
                }
                Err(error) => errors.push(error.to_string()),
            }
        }
        if let Some(modules) = &self.config.modules {
            match modules.reload() {
                Ok(()) => {
                    reloaded += 1;
                    tracing::info!(trigger, file = %modules.path().display(), "configuration reloaded");
                }
                Err(error) => errors.push(error.to_string()),
            }
        }
        if errors.is_empty() {
            if reloaded == 0 {
                tracing::info!(trigger, "reload asked: no configuration file to reload");
            }
            return Ok(());
        }
        let error = errors.join("; ");
        tracing::error!(trigger, %error, "reload failed; keeping the previous configuration");
        Err(error)
    }

    /// The modules in force: those of `--config.file`, or only the built-in default.
    pub fn modules(&self) -> Arc<ModuleSet> {
        match &self.config.modules {
            Some(modules) => modules.current(),
            None => Arc::clone(&self.no_modules),
        }
    }

    /// The outcome of the last reload, as exporters that reload report it.
    fn reload_families(&self) -> [MetricFamily; 2] {
        // All files loaded, and the last time each of them did.
        let outcomes = [
            self.web.as_ref().map(WebConfig::last_reload),
            self.config
                .modules
                .as_ref()
                .map(|modules| modules.last_reload()),
        ];
        let successful = outcomes.iter().flatten().all(|outcome| outcome.successful);
        let last_success = outcomes
            .iter()
            .flatten()
            .map(|outcome| outcome.last_success)
            .min()
            .unwrap_or(self.started);
        let seconds = last_success
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        [
            MetricFamily::new(
                "syseng_exporter_config_last_reload_successful",
                "Whether the last load of the configuration files succeeded (1) or failed and left the previous settings in force (0).",
                MetricType::Gauge,
            )
            .with_sample("", vec![], if successful { 1.0 } else { 0.0 }),
            MetricFamily::new(
                "syseng_exporter_config_last_reload_success_timestamp_seconds",
                "When the configuration files were last loaded successfully, in seconds since the epoch.",
                MetricType::Gauge,
            )
            .with_sample("", vec![], seconds),
        ]
    }

    /// Every pool of idle upstream connections.
    pub fn pools(&self) -> [&StatsPool; 2] {
        [&self.probe_pool, &self.default_pool]
    }

    fn try_start_scrape(&self) -> Option<ScrapeSlot<'_>> {
        let running = self.scrapes_in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = ScrapeSlot(&self.scrapes_in_flight);
        (running < self.config.max_requests).then_some(slot)
    }
}

/// Holds one of the `--web.max-requests` places until dropped.
struct ScrapeSlot<'a>(&'a AtomicUsize);

impl Drop for ScrapeSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Idle /probe connections kept at most: half the file descriptors the process may open, so
/// the pool can never starve the listener of descriptors for new scrapes.
fn max_idle_probe_connections() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(65_536);
    (limit / 2).clamp(16, 1 << 20) as usize
}

/// One worker thread's view: the shared state plus its own clients. Plain-http connections
/// come from the shared pools; the TLS client of each `StatsClient` runs its connections as
/// tasks on this thread's runtime, so it is this thread's alone.
pub struct Worker {
    pub shared: Arc<Shared>,
    default_client: StatsClient,
    probe_client: StatsClient,
}

impl Worker {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            default_client: StatsClient::new(Arc::clone(&shared.default_pool)),
            probe_client: StatsClient::new(Arc::clone(&shared.probe_pool)),
            shared,
        }
    }
}

pub type Body = Full<Bytes>;

/// Answers one request with the current web settings (authentication, extra headers).
/// Only the head of the request matters: no endpoint reads a body.
pub async fn handle(
    worker: &Worker,
    request: &Parts,
    web: &WebSettings,
) -> Result<Response<Body>, Infallible> {
    let limited = web.rate_limit.as_ref().is_some_and(|limit| !limit.allow());
    let mut response = match &web.auth {
        _ if limited => plain(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n"),
        Some(auth) if !auth.allows(request.headers.get(AUTHORIZATION)).await => {
            let mut response = plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"syseng_exporter\""),
            );
            response
        }
        _ => route(worker, request).await,
    };
    for (name, value) in &web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(response)
}

async fn route(worker: &Worker, request: &Parts) -> Response<Body> {
    if request.uri.path() == "/-/reload" {
        return lifecycle_reload(&worker.shared, request);
    }
    if request.method != Method::GET && request.method != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let shared = &worker.shared;
    let path = request.uri.path();
    if path == shared.config.telemetry_path {
        serve_metrics(worker, request).await
    } else {
        match path {
            "/probe" => serve_probe(worker, request).await,
            "/" => html(landing::render(
                &shared.config.telemetry_path,
                shared.default_target.as_deref(),
                &shared.journal.recent(),
                &shared.modules(),
            )),
            "/-/healthy" => plain(StatusCode::OK, "Healthy\n"),
            "/-/ready" => plain(StatusCode::OK, "Ready\n"),
            _ => plain(StatusCode::NOT_FOUND, "not found\n"),
        }
    }
}

/// `/-/reload`, as Prometheus answers it: POST or PUT, only with `--web.enable-lifecycle`.
fn lifecycle_reload(shared: &Shared, request: &Parts) -> Response<Body> {
    if request.method != Method::POST && request.method != Method::PUT {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only POST or PUT requests allowed\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST, PUT"));
        return response;
    }
    if !shared.config.enable_lifecycle {
        return plain(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n");
    }
    match shared.reload("/-/reload") {
        Ok(()) => plain(StatusCode::OK, "reloaded\n"),
        Err(error) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to reload config: {error}\n"),
        ),
    }
}

async fn serve_metrics(worker: &Worker, request: &Parts) -> Response<Body> {
    let shared = &worker.shared;
    let Some(_slot) = shared.try_start_scrape() else {
        return overloaded(shared);
    };
    let mut families = match &shared.config.stats_uri {
        Some(uri) => {
            let modules = shared.modules();
            let module = modules.default_module();
            scrape(shared, &worker.default_client, uri, module, request).await
        }
        None => Vec::new(),
    };
    families.extend(shared.metrics.families());
    families.extend(shared.reload_families());
    families.extend(shared.process.families());
    exposition_response(&families, request)
}

async fn serve_probe(worker: &Worker, request: &Parts) -> Response<Body> {
    let query = request.uri.query().unwrap_or("");
    let target = match probe_target(query) {
        Ok(target) => target,
        Err(reason) => return plain(StatusCode::BAD_REQUEST, &format!("{reason}\n")),
    };
    let shared = &worker.shared;
    let modules = shared.modules();
    let module = match probe_module(query).and_then(|name| modules.select(name.as_deref())) {
        Ok(module) => module,
        Err(reason) => return plain(StatusCode::BAD_REQUEST, &format!("{reason}\n")),
    };
    if let Err(reason) = shared
        .config
        .target_policy
        .check(&target)
        .and_then(|()| module.check_target(&target))
    {
        return plain(StatusCode::FORBIDDEN, &format!("{reason}\n"));
    }
    let authority = target.authority().map(|a| a.as_str()).unwrap_or("");
    let Some(_target_slot) = shared.probes_per_target.try_start(authority) else {
        shared.metrics.record_rejected_request();
        return plain(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "too many probes of {authority} at once (--probe.max-concurrent-per-target={})\n",
                shared.config.max_probes_per_target
            ),
        );
    };
    let Some(_slot) = shared.try_start_scrape() else {
        return overloaded(shared);
    };
    let families = scrape(shared, &worker.probe_client, &target, module, request).await;
    exposition_response(&families, request)
}

/// The `module` parameter of a `/probe` request, if there is one; empty is none, as
/// blackbox_exporter reads it (a relabelling that found no module leaves it empty).
fn probe_module(query: &str) -> Result<Option<String>, String> {
    let mut names = form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "module")
        .map(|(_, value)| value.into_owned());
    let name = names.next();
    if names.next().is_some() {
        return Err("the module parameter is given more than once".into());
    }
    Ok(name.filter(|name| !name.is_empty()))
}

/// The one `target` parameter of a `/probe` request, as a `/stats` URI.
fn probe_target(query: &str) -> Result<Uri, String> {
    let mut targets = form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "target")
        .map(|(_, value)| value);
    let target = targets
        .next()
        .ok_or("missing parameter: /probe needs ?target=host:port")?;
    if targets.next().is_some() {
        return Err("the target parameter is given more than once".into());
    }
    probe_target_uri(&target)
}

async fn scrape(
    shared: &Shared,
    client: &StatsClient,
    uri: &Uri,
    module: &Arc<Module>,
    request: &Parts,
) -> Vec<MetricFamily> {
    let deadline = scrape_deadline(
        shared.config.timeout,
        request
            .headers
            .get("x-prometheus-scrape-timeout-seconds")
            .and_then(|value| value.to_str().ok()),
    );
    let started = Instant::now();
    let result = client.fetch_stats(uri, module, deadline).await;
    let outcome = ScrapeOutcome {
        result,
        duration: started.elapsed(),
    };
    shared.metrics.record_scrape(&outcome.result);
    shared
        .journal
        .record(&uri.to_string(), &outcome.result, outcome.duration);
    target_families(&outcome)
}

/// The time a scrape of `/stats` may take: `--syseng.timeout`, or less when the scraper says
/// it will wait less.
pub fn scrape_deadline(configured: Duration, scraper_timeout_seconds: Option<&str>) -> Duration {
    let Some(seconds) = scraper_timeout_seconds
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
    else {
        return configured;
    };
    let scraper = Duration::from_secs_f64(seconds.min(1e9));
    let budget = if scraper > SCRAPE_TIMEOUT_OFFSET * 2 {
        scraper - SCRAPE_TIMEOUT_OFFSET
    } else {
        scraper / 2
    };
    configured.min(budget)
}

/// Larger encoding buffers (a scrape with unusually many series) are not kept.
const MAX_KEPT_ENCODE_BUFFER: usize = 64 * 1024;

thread_local! {
    /// The text of the answer being encoded, kept by each thread between answers: the body is
    /// then one allocation of its exact size instead of a buffer grown while encoding.
    static ENCODE_BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn exposition_response(families: &[MetricFamily], request: &Parts) -> Response<Body> {
    let negotiated = Negotiated::from_accept(header(request, &ACCEPT));
    let format = negotiated.format;
    let (body, compress) = ENCODE_BUFFER.with_borrow_mut(|text| {
        text.clear();
        encode(families, format, text);
        finish(format, text);
        let compressed = (text.len() >= gzip::MIN_LENGTH
            && gzip::accepted(header(request, &ACCEPT_ENCODING)))
        .then(|| gzip::compress(text.as_bytes()))
        .flatten();
        let compress = compressed.is_some();
        let body = compressed.map_or_else(|| Bytes::copy_from_slice(text.as_bytes()), Bytes::from);
        if text.capacity() > MAX_KEPT_ENCODE_BUFFER {
            *text = String::new();
        }
        (body, compress)
    });
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(negotiated.content_type()),
    );
    headers.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    if compress {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn header<'a>(request: &'a Parts, name: &hyper::header::HeaderName) -> Option<&'a str> {
    request
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
}

fn overloaded(shared: &Shared) -> Response<Body> {
    shared.metrics.record_rejected_request();
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "too many scrapes at once (--web.max-requests={})\n",
            shared.config.max_requests
        ),
    )
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn html(page: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(page)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_the_smaller_of_the_flag_and_the_scrapers_timeout_less_an_offset() {
        let five = Duration::from_secs(5);
        assert_eq!(scrape_deadline(five, None), five);
        assert_eq!(scrape_deadline(five, Some("10")), five);
        assert_eq!(
            scrape_deadline(five, Some("3")),
            Duration::from_millis(2500)
        );
        assert_eq!(
            scrape_deadline(five, Some("0.8")),
            Duration::from_millis(400)
        );
        for ignored in ["", "abc", "-1", "0", "NaN", "inf"] {
            assert_eq!(scrape_deadline(five, Some(ignored)), five, "{ignored}");
        }
    }

    #[test]
    fn probe_needs_exactly_one_target() {
        assert_eq!(
            probe_target("target=127.0.0.1%3A8080").unwrap().to_string(),
            "http://127.0.0.1:8080/stats"
        );
        assert!(probe_target("").unwrap_err().contains("missing"));
        assert!(probe_target("module=x").unwrap_err().contains("missing"));
        assert!(
            probe_target("target=a:1&target=b:2")
                .unwrap_err()
                .contains("more than once")
        );
        assert!(probe_target("target=%ZZ").is_err());
    }
}
