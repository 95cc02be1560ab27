//! Fetching a target's `/stats`: keep-alive client, deadline, body limit, and the reason a
//! scrape failed.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::header::{ACCEPT, CONTENT_LENGTH, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::stats::{DecodeError, StatsDocument, decode_stats};

/// Largest `/stats` body accepted. The real document is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a scrape failed. Each variant's [`reason`](ScrapeError::reason) is a label value of
/// `syseng_exporter_scrape_errors_total`; the set is fixed and documented in docs/metrics.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrapeError {
    /// No connection, or it broke before a whole response arrived.
    Connection(String),
    /// The deadline passed before the body was read.
    Timeout(Duration),
    /// The target answered something other than 200.
    HttpStatus(u16),
    /// The body was larger than [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// The body was not JSON.
    InvalidJson(String),
    /// The body was JSON but not a valid `/stats` document.
    InvalidDocument(String),
}

impl ScrapeError {
    /// Every reason, in documentation order, so counters can start at zero.
    pub const REASONS: [&'static str; 6] = [
        "connection",
        "timeout",
        "http_status",
        "body_too_large",
        "invalid_json",
        "invalid_document",
    ];

    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Connection(_) => "connection",
            ScrapeError::Timeout(_) => "timeout",
            ScrapeError::HttpStatus(_) => "http_status",
            ScrapeError::BodyTooLarge => "body_too_large",
            ScrapeError::InvalidJson(_) => "invalid_json",
            ScrapeError::InvalidDocument(_) => "invalid_document",
        }
    }
}

impl fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScrapeError::Connection(detail) => write!(f, "connection failed: {detail}"),
            ScrapeError::Timeout(after) => write!(f, "no complete answer within {after:?}"),
            ScrapeError::HttpStatus(status) => write!(f, "answered HTTP {status}, expected 200"),
            ScrapeError::BodyTooLarge => write!(f, "body larger than {MAX_BODY_BYTES} bytes"),
            ScrapeError::InvalidJson(detail) => write!(f, "invalid JSON: {detail}"),
            ScrapeError::InvalidDocument(detail) => write!(f, "invalid document: {detail}"),
        }
    }
}

impl From<DecodeError> for ScrapeError {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::InvalidJson(detail) => ScrapeError::InvalidJson(detail),
            DecodeError::InvalidDocument(detail) => ScrapeError::InvalidDocument(detail),
        }
    }
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;
type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Keep-alive clients for `http` and, built on first use, `https` targets: the TLS stack and
/// its root store cost about a megabyte that sidecars reading plain `http` never need.
pub struct StatsClient {
    max_idle_per_target: usize,
    http: HttpClient,
    https: OnceLock<Result<HttpsClient, String>>,
    user_agent: String,
}

impl std::fmt::Debug for StatsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsClient")
            .field("max_idle_per_target", &self.max_idle_per_target)
            .field("https_ready", &self.https.get().is_some())
            .finish()
    }
}

impl StatsClient {
    /// `max_idle_per_target` should be the most scrapes that can run at once: fewer idle
    /// places than concurrent scrapes makes the pool close and reopen connections under load.
    pub fn new(max_idle_per_target: usize) -> Self {
        Self {
            max_idle_per_target,
            http: Self::builder(max_idle_per_target).build(Self::connector()),
            https: OnceLock::new(),
            user_agent: format!("syseng_exporter/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    fn builder(max_idle_per_target: usize) -> hyper_util::client::legacy::Builder {
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(max_idle_per_target);
        builder
    }

    fn connector() -> HttpConnector {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(false);
        connector
    }

    fn https_client(&self) -> Result<&HttpsClient, ScrapeError> {
        self.https
            .get_or_init(|| {
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_native_roots()
                    .map_err(|error| format!("no TLS root certificates: {error}"))?
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(Self::connector());
                Ok(Self::builder(self.max_idle_per_target).build(connector))
            })
            .as_ref()
            .map_err(|detail| ScrapeError::Connection(detail.clone()))
    }

    /// Fetches and decodes one `/stats` document, all within `deadline`.
    pub async fn fetch_stats(
        &self,
        uri: &Uri,
        deadline: Duration,
    ) -> Result<StatsDocument, ScrapeError> {
        match tokio::time::timeout(deadline, self.fetch_body(uri)).await {
            Ok(body) => Ok(decode_stats(&body?)?),
            Err(_) => Err(ScrapeError::Timeout(deadline)),
        }
    }

    async fn fetch_body(&self, uri: &Uri) -> Result<Bytes, ScrapeError> {
        let request = Request::get(uri.clone())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, &self.user_agent)
            .body(Empty::new())
            .map_err(|error| ScrapeError::Connection(error.to_string()))?;
        let response = if uri.scheme_str() == Some("https") {
            self.https_client()?.request(request).await
        } else {
            self.http.request(request).await
        }
        .map_err(|error| ScrapeError::Connection(error_chain(&error)))?;

        if response.status() != StatusCode::OK {
            return Err(ScrapeError::HttpStatus(response.status().as_u16()));
        }
        let declared_length = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return Err(ScrapeError::BodyTooLarge);
        }
        match Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<LengthLimitError>() => Err(ScrapeError::BodyTooLarge),
            Err(error) => Err(ScrapeError::Connection(error_chain(error.as_ref()))),
        }
    }
}

/// hyper's client errors say "client error (Connect)" at the top; the cause is underneath.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
