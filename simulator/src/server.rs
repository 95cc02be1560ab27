//! The network edge: one accept task per instance, and the `/stats` handler.
//!
//! An idle instance is one parked accept future: no timer, no periodic wake-up. Faults that
//! change how an instance listens or answers wake it through `Instance::faults_changed`; a
//! `down` fault with a duration is the only case that arms a timer (to reopen the listener).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinSet;

use crate::fault::BrokenMode;
use crate::fleet::{Fleet, Instance};

/// Binds a listener that can be reopened on the same port right after it was closed.
pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Without it, connections in TIME_WAIT would stop a `down` instance from coming back.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

/// Waits until `deadline_ms` of fleet time, or forever for `u64::MAX`.
async fn sleep_until_fleet_time(fleet: &Fleet, deadline_ms: u64) {
    if deadline_ms == u64::MAX {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_millis(
        deadline_ms.saturating_sub(fleet.now_ms()),
    ))
    .await;
}

/// Serves one instance until the task is aborted: closes the listener while it is `down`,
/// reopens it on the same port afterwards.
pub async fn serve_instance(
    fleet: Arc<Fleet>,
    instance: Arc<Instance>,
    mut listener: Option<TcpListener>,
) {
    let mut connections = JoinSet::new();
    loop {
        let changed = instance.faults_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if let Some(until_ms) = instance.down_until(fleet.now_ms()) {
            if listener.take().is_some() {
                tracing::info!(index = instance.index, "instance down: listener closed");
            }
            // A process that goes down takes its open connections with it.
            connections.abort_all();
            tokio::select! {
                _ = &mut changed => {}
                _ = sleep_until_fleet_time(&fleet, until_ms) => {}
            }
            continue;
        }
        let active = match listener.take() {
            Some(active) => active,
            None => {
                let address = SocketAddr::new(
                    fleet.configured_address(instance.index).ip(),
                    instance.port(),
                );
                match bind(address) {
                    Ok(reopened) => {
                        tracing::info!(index = instance.index, %address, "instance up: listener reopened");
                        reopened
                    }
                    Err(error) => {
                        tracing::warn!(index = instance.index, %address, %error, "cannot reopen listener; retrying in 1s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
        };
        loop {
            tokio::select! {
                accepted = active.accept() => match accepted {
                    Ok((stream, _)) => {
                        while connections.try_join_next().is_some() {}
                        let _ = stream.set_nodelay(true);
                        connections.spawn(serve_connection(fleet.clone(), instance.clone(), stream));
                    }
                    Err(error) => {
                        // Usually EMFILE: back off instead of spinning.
                        tracing::warn!(index = instance.index, %error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                _ = &mut changed => break,
            }
        }
        listener = Some(active);
    }
}

async fn serve_connection(
    fleet: Arc<Fleet>,
    instance: Arc<Instance>,
    stream: tokio::net::TcpStream,
) {
    let service = service_fn(move |request| answer(fleet.clone(), instance.clone(), request));
    if let Err(error) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "connection ended with an error");
    }
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn answer(
    fleet: Arc<Fleet>,
    instance: Arc<Instance>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/stats" {
        return Ok(response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "404 page not found\n",
        ));
    }
    let plan = loop {
        let changed = instance.faults_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let plan = instance.serving_plan(fleet.now_ms());
        match plan.hang_until_ms {
            // Held until the hang ends; the client has usually given up long before.
            Some(until_ms) => tokio::select! {
                _ = &mut changed => {}
                _ = sleep_until_fleet_time(&fleet, until_ms) => {}
            },
            None => break plan,
        }
    };
    if plan.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(plan.delay_ms)).await;
    }
    const JSON: &str = "application/json";
    Ok(match plan.broken {
        None => response(
            StatusCode::OK,
            JSON,
            fleet.instance_stats(&instance, fleet.now_ms()).to_json(),
        ),
        Some(BrokenMode::Malformed) => {
            let mut text = fleet.instance_stats(&instance, fleet.now_ms()).to_json();
            text.truncate(text.len() / 2);
            response(StatusCode::OK, JSON, text)
        }
        Some(BrokenMode::WrongShape) => response(
            StatusCode::OK,
            JSON,
            r#"{"requestCounters":[200,404],"requestRates":"n/a","duration":{"count":"many"}}"#,
        ),
        Some(BrokenMode::Http500) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "internal server error\n",
        ),
    })
}
