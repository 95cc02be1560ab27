//! Fetching a target's `/stats`: keep-alive connections, deadline, body limit, and the reason
//! a scrape failed.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use socket2::{SockRef, TcpKeepalive};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;

use crate::http1::{self, ChunkError, ChunkedDecoder, Decoded, Framing};
use crate::modules::Module;
use crate::pool::ConnectionPool;
use crate::stats::{DecodeError, StatsDocument, decode_stats};

/// Largest `/stats` body accepted. The real document is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a scrape failed. Each variant's [`reason`](ScrapeError::reason) is a label value of
/// `syseng_exporter_scrape_errors_total`; the set is fixed and documented in docs/metrics.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrapeError {
    /// No connection, or it broke before a whole response arrived.
    Connection(String),
    /// The TLS handshake failed: an unknown CA, a wrong name, a refused client certificate.
    Tls(String),
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
    pub const REASONS: [&'static str; 7] = [
        "connection",
        "tls",
        "timeout",
        "http_status",
        "body_too_large",
        "invalid_json",
        "invalid_document",
    ];

    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Connection(_) => "connection",
            ScrapeError::Tls(_) => "tls",
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
            ScrapeError::Tls(detail) => write!(f, "TLS failed: {detail}"),
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

type HttpsClient = Client<TlsConnector, Empty<Bytes>>;

/// TCP keepalive on upstream connections: a target that vanished without a FIN or RST (a
/// node gone, a partition) is noticed within about a minute instead of never.
const TCP_KEEPALIVE_TIME: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// Fetches `/stats` documents with a module's settings: `http` over the shared
/// [`ConnectionPool`] with the exchange done inline by the calling future, `https` with a
/// hyper client per module built on first use (the TLS stack and its roots cost about a
/// megabyte that sidecars reading `http` never need).
///
/// One `StatsClient` serves one worker thread: the https clients' connections run as tasks
/// on the runtime that made them, so they must not be shared across runtimes.
pub struct StatsClient {
    pool: Arc<StatsPool>,
    /// Per module (name and generation of the file it came from).
    https: Mutex<HashMap<(String, u64), HttpsClient>>,
    user_agent: String,
}

impl std::fmt::Debug for StatsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsClient")
            .field("pool", &self.pool)
            .field("https_clients", &lock(&self.https).len())
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How one exchange on one connection ended, when it did not produce a body.
enum ExchangeError {
    /// A reused connection the server had closed while it idled: nothing was answered, so
    /// the request may be sent again on another connection.
    Stale,
    Failed(ScrapeError),
}

impl From<ScrapeError> for ExchangeError {
    fn from(error: ScrapeError) -> Self {
        ExchangeError::Failed(error)
    }
}

impl StatsClient {
    pub fn new(pool: Arc<StatsPool>) -> Self {
        Self {
            pool,
            https: Mutex::new(HashMap::new()),
            user_agent: format!("syseng_exporter/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    fn https_client(&self, module: &Arc<Module>) -> HttpsClient {
        let key = (module.name.clone(), module.generation());
        let mut clients = lock(&self.https);
        if let Some(client) = clients.get(&key) {
            return client.clone();
        }
        // Clients of modules a reload replaced are dropped with their connections (every
        // module of one load shares its generation, so the modules in force never evict
        // each other).
        clients.retain(|(_, generation), _| *generation == module.generation());
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool.idle_timeout())
            .pool_max_idle_per_host(4);
        let client = builder.build(TlsConnector {
            module: Arc::clone(module),
        });
        clients.insert(key, client.clone());
        client
    }

    /// Fetches and decodes one `/stats` document with `module`'s settings, all within
    /// `deadline`.
    pub async fn fetch_stats(
        &self,
        uri: &Uri,
        module: &Arc<Module>,
        deadline: Duration,
    ) -> Result<StatsDocument, ScrapeError> {
        let body = if uri.scheme_str() == Some("https") {
            tokio::time::timeout(deadline, self.fetch_https(uri, module)).await
        } else {
            tokio::time::timeout(deadline, self.fetch_http(uri, module)).await
        };
        match body {
            Ok(body) => Ok(decode_stats(&body?)?),
            Err(_) => Err(ScrapeError::Timeout(deadline)),
        }
    }

    async fn fetch_http(&self, uri: &Uri, module: &Module) -> Result<Vec<u8>, ScrapeError> {
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let (host, port) = host_and_port(uri, 80);
        let proxy = module.proxy.for_target(false, host, port);
        let request = match proxy {
            None if !module.has_request_headers() => {
                http1::request(authority, path, &self.user_agent, "")
            }
            None => http1::request(authority, path, &self.user_agent, &module.request_headers()),
            // A proxy takes the absolute form, and its own credentials.
            Some(proxy) => {
                let mut headers = module.request_headers();
                if let Some(authorization) = &proxy.authorization {
                    headers.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
                }
                http1::request(authority, &uri.to_string(), &self.user_agent, &headers)
            }
        };
        let pool_key = module.pool_key(authority);
        // Idle connections first, newest first; one the server closed meanwhile answers
        // nothing (only a reused connection can be stale), and the next is tried.
        loop {
            let (sent, reused) = match self.pool.checkout(&pool_key) {
                Some(idle) => (Connection::resume(idle, &request), true),
                None => {
                    let socket = match proxy {
                        None => connect(host, port).await?,
                        Some(proxy) => connect(&proxy.host, proxy.port)
                            .await
                            .map_err(through_proxy)?,
                    };
                    (Connection::open(socket, &request), false)
                }
            };
            let connection = match sent {
                Ok(connection) => connection,
                Err(_) if reused => continue,
                Err(error) => {
                    return Err(ScrapeError::Connection(format!(
                        "sending the request: {error}"
                    )));
                }
            };
            match exchange(&connection, reused).await {
                Ok((body, reusable)) => {
                    if reusable {
                        self.pool.checkin(&pool_key, connection.into_idle());
                    }
                    return Ok(body);
                }
                Err(ExchangeError::Stale) => continue,
                Err(ExchangeError::Failed(error)) => return Err(error),
            }
        }
    }

    async fn fetch_https(&self, uri: &Uri, module: &Arc<Module>) -> Result<Vec<u8>, ScrapeError> {
        let mut request = Request::get(uri.clone())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, &self.user_agent);
        for (name, value) in module.headers() {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(authorization) = module.authorization() {
            request = request.header(AUTHORIZATION, authorization);
        }
        let request = request
            .body(Empty::new())
            .map_err(|error| ScrapeError::Connection(error.to_string()))?;
        let response = self
            .https_client(module)
            .request(request)
            .await
            .map_err(|error| classify(&error))?;

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
            Ok(collected) => Ok(collected.to_bytes().to_vec()),
            Err(error) if error.is::<LengthLimitError>() => Err(ScrapeError::BodyTooLarge),
            Err(error) => Err(classify(error.as_ref())),
        }
    }
}

/// The host (as the URI writes it) and port of a target.
fn host_and_port(uri: &Uri, default_port: u16) -> (&str, u16) {
    (
        uri.host().unwrap_or(""),
        uri.port_u16().unwrap_or(default_port),
    )
}

fn through_proxy(error: ScrapeError) -> ScrapeError {
    match error {
        ScrapeError::Connection(detail) => ScrapeError::Connection(format!("proxy: {detail}")),
        other => other,
    }
}

/// Opens a connection to `host` (IPv6 in brackets or not), trying each address it resolves
/// to. The socket is handed back unregistered, for [`Connection::open`].
async fn connect(host: &str, port: u16) -> Result<std::net::TcpStream, ScrapeError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(address) => vec![SocketAddr::new(address, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|error| ScrapeError::Connection(format!("resolving {host}: {error}")))?
            .collect(),
    };
    let mut last_error = None;
    for address in &addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                let keepalive = TcpKeepalive::new()
                    .with_time(TCP_KEEPALIVE_TIME)
                    .with_interval(TCP_KEEPALIVE_INTERVAL)
                    .with_retries(TCP_KEEPALIVE_RETRIES);
                let _ = SockRef::from(&stream).set_tcp_keepalive(&keepalive);
                return stream.into_std().map_err(|error| {
                    ScrapeError::Connection(format!("connecting to {address}: {error}"))
                });
            }
            Err(error) => last_error = Some((address, error)),
        }
    }
    Err(ScrapeError::Connection(match last_error {
        Some((address, error)) => format!("connecting to {address}: {error}"),
        None => format!("{host} resolves to no address"),
    }))
}

/// hyper's connector for a module's https targets: TCP, a `CONNECT` tunnel when the module
/// has a proxy for the target, then TLS with the module's configuration.
#[derive(Clone)]
pub struct TlsConnector {
    module: Arc<Module>,
}

/// A TLS connection to a target, for hyper.
pub struct TlsUpstream(tokio_rustls::client::TlsStream<TcpStream>);

impl hyper_util::client::legacy::connect::Connection for TlsUpstream {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

impl tokio::io::AsyncRead for TlsUpstream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffer: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(context, buffer)
    }
}

impl tokio::io::AsyncWrite for TlsUpstream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffer: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(context, buffer)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(context)
    }
}

/// A connection failure with its reason, carried through hyper's error to [`classify`].
#[derive(Debug)]
pub struct ConnectFailure(ScrapeError);

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ConnectFailure {}

type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<TlsUpstream>, ConnectFailure>> + Send>>;

impl tower_service::Service<Uri> for TlsConnector {
    type Response = TokioIo<TlsUpstream>;
    type Error = ConnectFailure;
    type Future = ConnectFuture;

    fn poll_ready(
        &mut self,
        _context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let module = Arc::clone(&self.module);
        Box::pin(async move {
            connect_tls(&module, &uri)
                .await
                .map(|stream| TokioIo::new(TlsUpstream(stream)))
                .map_err(ConnectFailure)
        })
    }
}

async fn connect_tls(
    module: &Module,
    uri: &Uri,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ScrapeError> {
    let (host, port) = host_and_port(uri, 443);
    let proxy = module.proxy.for_target(true, host, port);
    let socket = match proxy {
        None => connect(host, port).await?,
        Some(proxy) => connect(&proxy.host, proxy.port)
            .await
            .map_err(through_proxy)?,
    };
    let mut stream =
        TcpStream::from_std(socket).map_err(|error| ScrapeError::Connection(error.to_string()))?;
    if let Some(proxy) = proxy {
        let authority = format!("{host}:{port}");
        tunnel(
            &mut stream,
            &module.proxy.connect_request(proxy, &authority),
        )
        .await?;
    }
    let config = module.tls_config().map_err(ScrapeError::Tls)?;
    let name =
        crate::modules::tls::server_name(module.server_name(), host).map_err(ScrapeError::Tls)?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|error| match error.get_ref() {
            Some(inner) if inner.is::<rustls::Error>() => ScrapeError::Tls(error.to_string()),
            _ => ScrapeError::Connection(format!("during the TLS handshake: {error}")),
        })
}

/// Asks the proxy for a tunnel and reads its answer, which must be 2xx.
async fn tunnel(stream: &mut TcpStream, request: &[u8]) -> Result<(), ScrapeError> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let failed = |error: std::io::Error| ScrapeError::Connection(format!("proxy CONNECT: {error}"));
    stream.write_all(request).await.map_err(failed)?;
    let mut head = Vec::with_capacity(256);
    // Byte by byte: nothing after the proxy's head may be read here, it is the TLS server's.
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= http1::MAX_HEAD_BYTES {
            return Err(ScrapeError::Connection(
                "proxy CONNECT: the answer's head is too long".into(),
            ));
        }
        if stream.read(&mut byte).await.map_err(failed)? == 0 {
            return Err(ScrapeError::Connection(
                "proxy CONNECT: the proxy closed the connection".into(),
            ));
        }
        head.push(byte[0]);
    }
    let status_line =
        String::from_utf8_lossy(head.split(|b| *b == b'\r').next().unwrap_or(&[])).into_owned();
    let status = status_line.split(' ').nth(1).unwrap_or("");
    if status.starts_with('2') && status.len() == 3 {
        Ok(())
    } else {
        Err(ScrapeError::Connection(format!(
            "proxy CONNECT answered {:?}",
            status_line.chars().take(100).collect::<String>()
        )))
    }
}

/// The reason behind a hyper client error: a connect failure carries its own, a rustls
/// error anywhere in the chain (a client certificate refused after the handshake, in TLS
/// 1.3) is `tls`, anything else `connection`.
fn classify(error: &(dyn std::error::Error + 'static)) -> ScrapeError {
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(ConnectFailure(reason)) = cause.downcast_ref::<ConnectFailure>() {
            return reason.clone();
        }
        let io_inner = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if cause.is::<rustls::Error>() || io_inner.is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return ScrapeError::Tls(error_chain(error));
        }
        source = cause.source();
    }
    ScrapeError::Connection(error_chain(error))
}

/// The idle `http` connections of every worker thread.
pub type StatsPool = ConnectionPool<IdleSocket>;

/// An idle connection in the [`StatsPool`]. Its socket stays registered with the event loop
/// of the thread that used it last: the next probe of its target on that thread (the usual
/// case, as a scraper's connection stays with one thread) takes it up without a system call,
/// where registering and deregistering cost two `epoll_ctl` per probe. A probe on another
/// thread moves it to its own event loop. No task waits on an idle socket, so the thread it is
/// registered with can stop (on SIGTERM) without harm to it: the registration outlives the
/// runtime and is dropped with the socket.
pub struct IdleSocket {
    socket: AsyncFd<std::net::TcpStream>,
    thread: std::thread::ThreadId,
}

impl fmt::Debug for IdleSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleSocket")
            .field("socket", self.socket.get_ref())
            .field("thread", &self.thread)
            .finish()
    }
}

/// An upstream connection for the length of one exchange, registered with the calling
/// runtime's reactor.
///
/// The request is written on the socket first, whole: a request is a few hundred bytes and
/// the socket's send buffer is empty between exchanges, so it never has to wait. A socket
/// just registered has no known readiness, and an async write would wait a round of the event
/// loop to learn that it is writable. The reactor then watches for reading only, so the
/// writable event that every new registration reports wakes nothing.
struct Connection {
    socket: AsyncFd<std::net::TcpStream>,
}

impl Connection {
    /// Sends `request` on a new connection and registers it with this thread's reactor.
    fn open(socket: std::net::TcpStream, request: &[u8]) -> std::io::Result<Self> {
        write_whole(&socket, request)?;
        Ok(Self {
            socket: register(socket)?,
        })
    }

    /// Sends `request` on an idle connection, registered with this thread's reactor if it is
    /// not already.
    fn resume(idle: IdleSocket, request: &[u8]) -> std::io::Result<Self> {
        write_whole(idle.socket.get_ref(), request)?;
        let socket = if idle.thread == std::thread::current().id() {
            idle.socket
        } else {
            register(idle.socket.into_inner())?
        };
        Ok(Self { socket })
    }

    /// Reads once into `buffer`, never growing it past `limit` bytes.
    async fn read_more(&self, buffer: &mut Vec<u8>, limit: usize) -> std::io::Result<usize> {
        let room = limit.saturating_sub(buffer.len()).clamp(1, READ_CHUNK);
        let before = buffer.len();
        buffer.resize(before + room, 0);
        let result = loop {
            let mut ready = match self.socket.readable().await {
                Ok(ready) => ready,
                Err(error) => break Err(error),
            };
            if let Ok(result) = ready.try_io(|socket| socket.get_ref().read(&mut buffer[before..]))
            {
                // A read that did not fill the room took all the socket had (as tokio's own
                // streams assume on Linux): forget the readiness, or the next exchange on this
                // registration would begin with a read that finds nothing.
                if result.as_ref().is_ok_and(|&read| read > 0 && read < room) {
                    ready.clear_ready();
                }
                break result;
            }
        };
        buffer.truncate(before + *result.as_ref().unwrap_or(&0));
        result
    }

    /// [`read_more`](Self::read_more) while the response is unfinished: the end of the stream
    /// there is an error.
    async fn read_unfinished(&self, buffer: &mut Vec<u8>, limit: usize) -> Result<(), ScrapeError> {
        match self.read_more(buffer, limit).await {
            Ok(0) => Err(closed_early()),
            Ok(_) => Ok(()),
            Err(error) => Err(read_failed(error)),
        }
    }

    fn into_idle(self) -> IdleSocket {
        IdleSocket {
            socket: self.socket,
            thread: std::thread::current().id(),
        }
    }
}

fn write_whole(mut socket: &std::net::TcpStream, request: &[u8]) -> std::io::Result<()> {
    let written = socket.write(request)?;
    if written < request.len() {
        return Err(std::io::Error::new(
            ErrorKind::WriteZero,
            format!(
                "the socket took {written} of the request's {} bytes",
                request.len()
            ),
        ));
    }
    Ok(())
}

fn register(socket: std::net::TcpStream) -> std::io::Result<AsyncFd<std::net::TcpStream>> {
    // SAFETY: a std TcpStream owns its descriptor: it stays open, and `as_raw_fd` returns
    // the same one, until the stream is handed back by `into_inner` or dropped, which is all
    // `register_with_interest` asks.
    #[allow(unsafe_code)]
    unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(std::io::Error::from)
}

/// Reads one whole response to the request [`Connection::open`] or [`Connection::resume`] wrote: its body, and whether
/// the connection can carry another request.
async fn exchange(stream: &Connection, reused: bool) -> Result<(Vec<u8>, bool), ExchangeError> {
    let mut buffer = ReadBuffer::take();
    let buffer = &mut buffer.0;
    let head = loop {
        match stream
            .read_more(buffer, http1::MAX_HEAD_BYTES + READ_CHUNK)
            .await
        {
            Ok(0) if buffer.is_empty() && reused => return Err(ExchangeError::Stale),
            Ok(0) => return Err(closed_early().into()),
            Ok(_) => {}
            Err(error)
                if buffer.is_empty()
                    && reused
                    && matches!(
                        error.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
                    ) =>
            {
                return Err(ExchangeError::Stale);
            }
            Err(error) => return Err(read_failed(error).into()),
        }
        match http1::parse_head(buffer) {
            Ok(Some(head)) => break head,
            Ok(None) => continue,
            Err(error) => return Err(ScrapeError::Connection(error.to_string()).into()),
        }
    };
    if head.status != 200 {
        return Err(ScrapeError::HttpStatus(head.status).into());
    }
    let start = head.length;
    match head.framing {
        Framing::Length(length) => {
            if length > MAX_BODY_BYTES as u64 {
                return Err(ScrapeError::BodyTooLarge.into());
            }
            let end = start + length as usize;
            while buffer.len() < end {
                stream.read_unfinished(buffer, end).await?;
            }
            // Bytes past the body were not asked for: do not trust the connection again.
            let reusable = head.reusable && buffer.len() == end;
            Ok((buffer[start..end].to_vec(), reusable))
        }
        Framing::Chunked => {
            let mut decoder = ChunkedDecoder::new(MAX_BODY_BYTES);
            let mut body = Vec::with_capacity(buffer.len() - start);
            let mut pending = buffer.split_off(start);
            loop {
                match decoder.feed(&pending, &mut body) {
                    Ok(Decoded::Complete { consumed }) => {
                        let reusable = head.reusable && consumed == pending.len();
                        return Ok((body, reusable));
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(ChunkError::TooLarge) => return Err(ScrapeError::BodyTooLarge.into()),
                    Err(ChunkError::Malformed(detail)) => {
                        return Err(ScrapeError::Connection(format!(
                            "malformed chunked body: {detail}"
                        ))
                        .into());
                    }
                }
                pending.clear();
                stream.read_unfinished(&mut pending, READ_CHUNK).await?;
            }
        }
        Framing::UntilClose => {
            let limit = start + MAX_BODY_BYTES;
            loop {
                if buffer.len() > limit {
                    return Err(ScrapeError::BodyTooLarge.into());
                }
                if stream
                    .read_more(buffer, limit + 1)
                    .await
                    .map_err(read_failed)?
                    == 0
                {
                    return Ok((buffer[start..].to_vec(), false));
                }
            }
        }
    }
}

/// Bytes asked of the socket per read: a whole `/stats` answer fits.
const READ_CHUNK: usize = 8 * 1024;

/// The buffer an exchange reads into, kept by each thread between exchanges: a `/stats`
/// answer then costs one small allocation (its body), not a fresh 8 KiB buffer. Concurrent
/// exchanges on one thread each get their own; one that grew past a few reads' worth (a
/// large body) is freed rather than kept.
struct ReadBuffer(Vec<u8>);

thread_local! {
    static READ_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl ReadBuffer {
    const KEPT_CAPACITY: usize = 4 * READ_CHUNK;

    fn take() -> Self {
        let mut buffer = READ_BUFFER.try_with(Cell::take).unwrap_or_default();
        buffer.clear();
        buffer.reserve(READ_CHUNK);
        Self(buffer)
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        if self.0.capacity() <= Self::KEPT_CAPACITY {
            let buffer = std::mem::take(&mut self.0);
            // A thread that is exiting has no buffer to keep it in.
            let _ = READ_BUFFER.try_with(|kept| kept.set(buffer));
        }
    }
}

fn closed_early() -> ScrapeError {
    ScrapeError::Connection("the connection closed before the response ended".into())
}

fn read_failed(error: std::io::Error) -> ScrapeError {
    ScrapeError::Connection(format!("reading the response: {error}"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const DOCUMENT: &str = include_str!("../testdata/sample.json");

    /// A keep-alive `/stats` server on loopback; counts the connections it accepted.
    fn stats_server() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|read| read > 0) {
                        if line == "\r\n" {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                                DOCUMENT.len()
                            );
                            let answer = [head.as_bytes(), DOCUMENT.as_bytes()].concat();
                            if stream.write_all(&answer).is_err() {
                                return;
                            }
                        }
                        line.clear();
                    }
                });
            }
        });
        (address, accepted)
    }

    /// Probes `uri` `times` times on a thread of its own with its own runtime, as a worker
    /// does, and returns once that runtime is gone.
    fn probe_on_a_new_thread(pool: &Arc<StatsPool>, uri: &Uri, times: usize) {
        let (pool, uri) = (Arc::clone(pool), uri.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let client = StatsClient::new(pool);
            let module = Arc::new(Module::builtin());
            for probe in 0..times {
                let result =
                    runtime.block_on(client.fetch_stats(&uri, &module, Duration::from_secs(5)));
                assert!(result.is_ok(), "probe {probe}: {result:?}");
            }
        })
        .join()
        .unwrap();
    }

    /// An idle connection stays registered with the thread that used it last; the same
    /// connection then serves that thread again, and other threads after it, including after
    /// the thread it was registered with has stopped with its runtime.
    #[test]
    fn one_connection_serves_every_thread_in_turn_even_after_its_thread_stopped() {
        let (address, accepted) = stats_server();
        let pool = Arc::new(StatsPool::new(Duration::from_secs(60), 1, 10));
        let uri: Uri = format!("http://{address}/stats").parse().unwrap();
        for _ in 0..3 {
            probe_on_a_new_thread(&pool, &uri, 2);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection for all");
        assert_eq!(pool.idle_connections(), 1);
    }
}
