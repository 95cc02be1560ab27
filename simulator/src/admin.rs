//! The admin API: JSON over HTTP on its own port, to list instances and set or clear faults.
//!
//! Routing and validation are in [`handle`], a function of the request's method, path and body,
//! so every answer (including every 400) is tested without a socket. A rejected request never
//! changes anything.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::fault::parse_json;
use crate::supervisor::Supervisor;

/// Admin request bodies are small JSON objects; anything bigger is a mistake.
const MAX_BODY_BYTES: usize = 64 * 1024;

const HELP: &str = "syseng_sim admin API (JSON)
GET    /instances         instances with address, zone, state and active fault ids
PUT    /instances         {\"count\": N} grows or shrinks the fleet
GET    /faults            active faults
POST   /faults            start a fault, e.g. {\"kind\":\"down\",\"targets\":{\"index\":2},\"duration\":\"5m\"}
GET    /faults/{id}       one active fault
DELETE /faults/{id}       clear one fault
DELETE /faults            clear all faults
GET    /-/healthy         liveness
See docs/simulator.md for every fault kind and its parameters.
";

/// An admin answer: status and JSON (or, for `/` and `/-/healthy`, text).
#[derive(Debug, Clone, PartialEq)]
pub struct AdminReply {
    /// HTTP status.
    pub status: StatusCode,
    /// Body.
    pub body: AdminBody,
}

/// The body of an admin answer.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminBody {
    /// A JSON document.
    Json(Value),
    /// Plain text.
    Text(&'static str),
}

fn ok(value: Value) -> AdminReply {
    AdminReply {
        status: StatusCode::OK,
        body: AdminBody::Json(value),
    }
}

fn error(status: StatusCode, reason: impl Into<String>) -> AdminReply {
    AdminReply {
        status,
        body: AdminBody::Json(json!({"error": reason.into()})),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resize {
    count: u32,
}

/// Answers one admin request.
pub fn handle(supervisor: &Supervisor, method: &Method, path: &str, body: &[u8]) -> AdminReply {
    let fleet = supervisor.fleet();
    let now_ms = fleet.now_ms();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match (method, segments.as_slice()) {
        (&Method::GET, [] | [""]) => AdminReply {
            status: StatusCode::OK,
            body: AdminBody::Text(HELP),
        },
        (&Method::GET, ["-", "healthy"]) => AdminReply {
            status: StatusCode::OK,
            body: AdminBody::Text("OK\n"),
        },
        (&Method::GET, ["instances"]) => ok(json!({"instances": fleet.list_instances(now_ms)})),
        (&Method::GET, ["instances", index]) => {
            match index.parse::<u32>().ok().and_then(|i| fleet.instance(i)) {
                Some(instance) => ok(fleet.describe_instance(&instance, now_ms)),
                None => error(StatusCode::NOT_FOUND, format!("no instance {index:?}")),
            }
        }
        (&Method::PUT, ["instances"]) => {
            let resize: Resize = match serde_json::from_slice(body) {
                Ok(resize) => resize,
                Err(e) => {
                    return error(StatusCode::BAD_REQUEST, format!("invalid resize JSON: {e}"));
                }
            };
            if let Err(reason) = fleet.check_size(resize.count) {
                return error(StatusCode::BAD_REQUEST, reason);
            }
            match supervisor.resize(resize.count) {
                Ok(()) => ok(json!({"count": fleet.size()})),
                Err(reason) => error(StatusCode::CONFLICT, reason),
            }
        }
        (&Method::GET, ["faults"]) => ok(json!({"faults": fleet.list_faults(now_ms)})),
        (&Method::POST, ["faults"]) => {
            match parse_json(body).and_then(|spec| fleet.add_fault(spec, now_ms)) {
                Ok(created) => AdminReply {
                    status: StatusCode::CREATED,
                    body: AdminBody::Json(created),
                },
                Err(reason) => error(StatusCode::BAD_REQUEST, reason),
            }
        }
        (&Method::DELETE, ["faults"]) => ok(json!({"cleared": fleet.clear_all_faults(now_ms)})),
        (&Method::GET | &Method::DELETE, ["faults", id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("fault id {id:?} is not a number"),
                );
            };
            let found = if method == Method::GET {
                fleet.get_fault(id, now_ms)
            } else {
                fleet.clear_fault(id, now_ms)
            };
            match found {
                Some(fault) => ok(fault),
                None => error(StatusCode::NOT_FOUND, format!("no active fault {id}")),
            }
        }
        (_, ["instances" | "faults", ..] | ["-", "healthy"] | [] | [""]) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} not allowed on {path}"),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no such endpoint {path}; GET / lists them"),
        ),
    }
}

fn into_response(reply: AdminReply) -> Response<Full<Bytes>> {
    let (content_type, body) = match reply.body {
        AdminBody::Json(value) => ("application/json", format!("{value}\n")),
        AdminBody::Text(text) => ("text/plain; charset=utf-8", text.to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = reply.status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn answer(
    supervisor: Arc<Supervisor>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let reply = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => {
            let body = collected.to_bytes();
            let reply = handle(&supervisor, &parts.method, parts.uri.path(), &body);
            if reply.status.is_client_error() {
                tracing::info!(method = %parts.method, path = parts.uri.path(), status = reply.status.as_u16(), "admin request rejected");
            }
            reply
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {e}"),
        ),
    };
    Ok(into_response(reply))
}

/// Serves the admin API on `listener` until the task is aborted.
pub async fn serve_admin(supervisor: Arc<Supervisor>, listener: TcpListener) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let supervisor = supervisor.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| answer(supervisor.clone(), request));
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "admin connection ended with an error");
            }
        });
    }
}
