//! Prometheus exporter for the `syseng-challenge` service.
//!
//! The core is pure: [`stats::decode_stats`] turns a `/stats` body into a
//! [`stats::StatsDocument`], [`convert::target_families`] turns a scrape into metric families,
//! and [`exposition::encode`] writes them as text or OpenMetrics. Around it, thin edges:
//! [`upstream`] fetches, [`server`] answers HTTP, and [`run`] drives the worker threads.
// One `unsafe` block, reviewed: registering a socket with the reactor for reading only
// (upstream::Connection). Everything else is safe code.
#![deny(unsafe_code)]

pub mod config;
pub mod convert;
pub mod exposition;
pub mod gzip;
pub mod http1;
pub mod journal;
pub mod keepalive;
pub mod landing;
pub mod modules;
pub mod pool;
pub mod process;
pub mod server;
pub mod stats;
pub mod targets;
pub mod telemetry;
pub mod upstream;
pub mod web;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::sync::watch;

use crate::config::Config;
use crate::keepalive::{Activity, HEADER_READ_TIMEOUT, IDLE_TIMEOUT, Tracked};
use crate::server::{Shared, Worker};
use crate::web::{IpSocketConfig, WebConfig, WebSettings};

/// A client that does not finish the TLS handshake in this time is disconnected.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The sockets to serve on: systemd's (`--web.systemd-socket`), or one per
/// `--web.listen-address`.
pub fn listeners(
    config: &Config,
    socket_options: Option<&IpSocketConfig>,
) -> io::Result<Vec<TcpListener>> {
    let listeners = open_listeners(config)?;
    if let Some(options) = socket_options {
        for listener in &listeners {
            set_listener_options(listener, options)?;
        }
    }
    Ok(listeners)
}

/// `ip_socket_config`'s TTL and hop limit, which accepted connections inherit; DSCP is set on
/// each accepted connection ([`set_dscp`]), as exporter-toolkit does.
fn set_listener_options(listener: &TcpListener, options: &IpSocketConfig) -> io::Result<()> {
    use rustix::net::sockopt;
    let ipv6 = listener.local_addr()?.is_ipv6();
    if let Some(ttl) = options.ipv4_ttl {
        // On the IPv6 socket of `:port`, for its IPv4 clients.
        sockopt::set_ip_ttl(listener, u32::from(ttl))
            .or_else(|e| if ipv6 { Ok(()) } else { Err(e) })?;
    }
    if let Some(hops) = options.ipv6_hop_limit
        && ipv6
    {
        sockopt::set_ipv6_unicast_hops(listener, Some(hops))?;
    }
    Ok(())
}

/// `ip_socket_config.dscp` on an accepted connection: the upper six bits of the IPv4 TOS or
/// IPv6 traffic class byte. A failure is logged and the connection served all the same.
fn set_dscp(stream: &tokio::net::TcpStream, dscp: i64) {
    use rustix::net::sockopt;
    let class = (dscp.clamp(0, 63) as u8) << 2;
    let result = match stream.local_addr() {
        Ok(address) if address.is_ipv6() => sockopt::set_ipv6_tclass(stream, u32::from(class))
            .and_then(|()| sockopt::set_ip_tos(stream, class).or(Ok(()))),
        _ => sockopt::set_ip_tos(stream, class),
    };
    if let Err(error) = result {
        tracing::warn!(%error, dscp, "cannot set DSCP on a connection");
    }
}

fn open_listeners(config: &Config) -> io::Result<Vec<TcpListener>> {
    if config.systemd_socket {
        let mut passed = listenfd::ListenFd::from_env();
        let mut listeners = Vec::with_capacity(passed.len());
        for index in 0..passed.len() {
            match passed.take_tcp_listener(index)? {
                Some(listener) => listeners.push(listener),
                None => {
                    return Err(io::Error::other(format!(
                        "--web.systemd-socket: socket {index} from systemd is not a TCP listener"
                    )));
                }
            }
        }
        if listeners.is_empty() {
            return Err(io::Error::other(
                "--web.systemd-socket: systemd passed no socket (LISTEN_FDS, LISTEN_PID)",
            ));
        }
        return Ok(listeners);
    }
    config
        .listen_addresses
        .iter()
        .map(|candidates| bind(candidates))
        .collect()
}

/// Binds the first of `addresses` that accepts (for `:port`, the IPv6 socket that also takes
/// IPv4, then IPv4 alone on hosts without IPv6).
pub fn bind(addresses: &[SocketAddr]) -> io::Result<TcpListener> {
    let mut last_error = io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on");
    for address in addresses {
        match bind_one(address) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

fn bind_one(address: &SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(*address), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() && address.ip().is_unspecified() {
        // Whatever net.ipv6.bindv6only says: `:port` is both families, as in Go.
        socket.set_only_v6(false)?;
    }
    socket.bind(&(*address).into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Serves until `shutdown` completes, then stops accepting, lets in-flight scrapes finish
/// (bounded by the scrape timeout) and returns.
///
/// One single-threaded runtime per core, all accepting on the same socket: on small machines
/// this beats a work-stealing runtime. A request is served start to end by the runtime that
/// accepted its connection, upstream exchange included (see [`pool`]), so no runtime depends
/// on another and each drains on its own.
pub fn run(
    listeners: Vec<TcpListener>,
    config: Config,
    web: Option<WebConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    for listener in &listeners {
        listener.set_nonblocking(true)?;
    }
    let worker_count = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(16);
    let drain_timeout = config.timeout + Duration::from_secs(1);
    let shared = Arc::new(Shared::new(config, web));
    let (stop_sender, stop_receiver) = watch::channel(false);

    let mut threads = Vec::with_capacity(worker_count - 1);
    for index in 1..worker_count {
        let listeners = listeners
            .iter()
            .map(TcpListener::try_clone)
            .collect::<io::Result<Vec<_>>>()?;
        let shared = Arc::clone(&shared);
        let stop = stop_receiver.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || run_worker(listeners, shared, stop, drain_timeout))?,
        );
    }
    let main_worker = {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            tokio::spawn(async move {
                shutdown.await;
                let _ = stop_sender.send(true);
            });
            tokio::spawn(close_expired_connections(Arc::clone(&shared)));
            tokio::spawn(reload_on_hangup(Arc::clone(&shared)));
            serve_worker(listeners, shared, stop_receiver, drain_timeout).await
        })
    };
    for thread in threads {
        match thread.join() {
            Ok(result) => result?,
            Err(_) => return Err(io::Error::other("a worker thread panicked")),
        }
    }
    main_worker
}

/// Closes idle upstream connections once they pass the idle timeout, so targets that are no
/// longer probed (a shrunk fleet, a moved pod) do not keep sockets open.
async fn close_expired_connections(shared: Arc<Shared>) {
    let every = (shared.config.idle_connection_timeout / 4)
        .clamp(Duration::from_millis(100), Duration::from_secs(15));
    loop {
        tokio::time::sleep(every).await;
        for pool in shared.pools() {
            let closed = pool.close_expired();
            if closed > 0 {
                tracing::debug!(closed, "closed idle upstream connections");
            }
        }
    }
}

/// SIGHUP reloads the configuration files, as it does for Prometheus and blackbox_exporter;
/// it never stops the exporter.
async fn reload_on_hangup(shared: Arc<Shared>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; reload with /-/reload instead");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let _ = shared.reload("SIGHUP");
    }
}

/// Wakes the runtime once a second so that its timer wheel always expects to wake within a
/// second. tokio writes to the runtime's eventfd whenever a new timer is due before the wheel's
/// next expected wake-up, even when the runtime is busy on this very thread: with no nearer
/// timer, every probe's deadline did so, one needless syscall and epoll event per probe. A
/// deadline under a second away still wakes the runtime as it must.
async fn keep_timer_horizon_near() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

fn run_worker(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> io::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve_worker(listeners, shared, stop, drain_timeout))
}

async fn serve_worker(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> io::Result<()> {
    let listeners = listeners
        .into_iter()
        .map(tokio::net::TcpListener::from_std)
        .collect::<io::Result<Vec<_>>>()?;
    let worker = Arc::new(Worker::new(shared));
    tokio::spawn(keep_timer_horizon_near());
    let mut http = hyper::server::conn::http1::Builder::new();
    // Request heads and idle connections are timed by keepalive::Activity instead.
    http.timer(TokioTimer::new()).header_read_timeout(None);
    let graceful = GracefulShutdown::new();
    let no_web_settings = Arc::new(WebSettings::default());
    loop {
        tokio::select! {
            accepted = accept_any(&listeners) => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let web = match &worker.shared.web {
                        Some(web) => web.current(),
                        None => Arc::clone(&no_web_settings),
                    };
                    if let Some(dscp) = web.ip_socket.as_ref().and_then(|options| options.dscp) {
                        set_dscp(&stream, dscp);
                    }
                    tokio::spawn(serve_connection(
                        stream,
                        peer,
                        Arc::clone(&worker),
                        web,
                        http.clone(),
                        graceful.watcher(),
                    ));
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(listeners);
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain_timeout,
            "connections still open after the drain timeout; closing them"
        );
    }
    Ok(())
}

/// The next connection on any of `listeners`.
async fn accept_any(
    listeners: &[tokio::net::TcpListener],
) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
    std::future::poll_fn(|context| {
        for listener in listeners {
            if let std::task::Poll::Ready(accepted) = listener.poll_accept(context) {
                return std::task::Poll::Ready(accepted);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

type ResponseFuture = std::pin::Pin<
    Box<
        dyn Future<Output = Result<hyper::Response<server::Body>, std::convert::Infallible>> + Send,
    >,
>;

/// Serves one accepted connection to its end, over TLS when the web settings say so.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    worker: Arc<Worker>,
    web: Arc<WebSettings>,
    http: hyper::server::conn::http1::Builder,
    watcher: Watcher,
) {
    let activity = Activity::new(HEADER_READ_TIMEOUT, IDLE_TIMEOUT);
    // TLS is settled by the handshake; users and headers are looked up again for every
    // request, so a user removed from the file is refused on connections already open.
    let tls = web.tls.clone();
    let requests = Arc::clone(&activity);
    let answer = move |request: hyper::Request<hyper::body::Incoming>| {
        let worker = Arc::clone(&worker);
        let web = match &worker.shared.web {
            Some(config) => config.current(),
            None => Arc::clone(&web),
        };
        let guard = requests.begin_request();
        Box::pin(async move {
            let _guard = guard;
            let (parts, _body) = request.into_parts();
            server::handle(&worker, &parts, &web).await
        }) as ResponseFuture
    };
    match tls {
        None => serve_stream(stream, peer, &activity, &http, answer, watcher).await,
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    serve_stream(stream, peer, &activity, &http, answer, watcher).await
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

/// Serves HTTP/1.1 on a plain or TLS stream until the client leaves, the drain ends it or its
/// watchdog finds it idle (or stuck in a request head) for too long.
async fn serve_stream<S, F>(
    stream: S,
    peer: SocketAddr,
    activity: &Arc<Activity>,
    http: &hyper::server::conn::http1::Builder,
    answer: F,
    watcher: Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: Fn(hyper::Request<hyper::body::Incoming>) -> ResponseFuture + Send + 'static,
{
    let io = TokioIo::new(Tracked::new(stream, Arc::clone(activity)));
    let served = tokio::select! {
        served = watcher.watch(http.serve_connection(io, service_fn(answer))) => served,
        expired = activity.watchdog() => {
            tracing::debug!(%peer, ?expired, "closing the connection");
            return;
        }
    };
    if let Err(error) = served {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}
