//! Fake upstreams: minimal HTTP/1.1 servers that answer `/stats` as told, well or badly.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::STEP_TIMEOUT;

/// The service's own `/stats` answer.
pub const SAMPLE: &str = include_str!("../../testdata/sample.json");

/// The sample's series, exactly as the exporter must write them in the text format.
pub const SAMPLE_SERIES: [&str; 6] = [
    "syseng_up 1",
    "syseng_http_requests_total{code=\"200\"} 65221",
    "syseng_http_requests_total{code=\"404\"} 14066",
    "syseng_http_requests_total{code=\"500\"} 12618",
    "syseng_http_request_duration_seconds_sum 4484.3037570333245",
    "syseng_http_request_duration_seconds_count 91905",
];

/// What a fake upstream answers on each request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// 200 with this JSON body.
    Json(String),
    /// This status with a short body.
    Status(u16),
    /// Waits this long, then answers 200 with the body.
    Slow(Duration, String),
    /// Reads the request and never answers.
    Hang,
    /// Closes the connection as soon as the request arrives.
    Close,
    /// Writes these bytes verbatim, then closes.
    Raw(Vec<u8>),
    /// 200 with a body of this many bytes, declared with Content-Length or chunked.
    Large { bytes: usize, chunked: bool },
    /// The sample if the request has every one of these header lines (`name: value`, the
    /// name in any case), else 401.
    Require(Vec<String>),
}

/// A minimal HTTP/1.1 server that answers every request per its current [`Behaviour`] and
/// keeps connections alive, so the exporter's connection reuse is visible.
pub struct Upstream {
    pub address: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
    pub connections: Arc<AtomicUsize>,
    /// Connections open now: accepted and not yet closed by either side.
    pub open_connections: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    /// Every request head received (request line and headers), in order.
    pub heads: Arc<Mutex<Vec<String>>>,
    stopped: Arc<AtomicBool>,
}

impl Upstream {
    pub fn start(behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let address = listener.local_addr().unwrap();
        let upstream = Upstream {
            address,
            behaviour: Arc::new(Mutex::new(behaviour)),
            connections: Arc::new(AtomicUsize::new(0)),
            open_connections: Arc::new(AtomicUsize::new(0)),
            requests: Arc::new(AtomicUsize::new(0)),
            heads: Arc::new(Mutex::new(Vec::new())),
            stopped: Arc::new(AtomicBool::new(false)),
        };
        let heads = Arc::clone(&upstream.heads);
        let behaviour = Arc::clone(&upstream.behaviour);
        let connections = Arc::clone(&upstream.connections);
        let open_connections = Arc::clone(&upstream.open_connections);
        let requests = Arc::clone(&upstream.requests);
        let stopped = Arc::clone(&upstream.stopped);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                open_connections.fetch_add(1, Ordering::SeqCst);
                let behaviour = Arc::clone(&behaviour);
                let requests = Arc::clone(&requests);
                let stopped = Arc::clone(&stopped);
                let open_connections = Arc::clone(&open_connections);
                let heads = Arc::clone(&heads);
                thread::spawn(move || {
                    serve_connection(stream, &behaviour, &requests, &heads, &stopped);
                    open_connections.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        upstream
    }

    pub fn sample() -> Upstream {
        Upstream::start(Behaviour::Json(SAMPLE.to_string()))
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// `host:port`, as a `/probe` target.
    pub fn target(&self) -> String {
        self.address.to_string()
    }

    pub fn stats_uri(&self) -> String {
        format!("http://{}/stats", self.address)
    }

    pub fn wait_for_requests(&self, count: usize) {
        let started = Instant::now();
        while self.requests.load(Ordering::SeqCst) < count {
            assert!(
                started.elapsed() < STEP_TIMEOUT,
                "upstream saw fewer than {count} requests"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_millis(200));
    }
}

fn serve_connection(
    mut stream: TcpStream,
    behaviour: &Mutex<Behaviour>,
    requests: &AtomicUsize,
    heads: &Mutex<Vec<String>>,
    stopped: &AtomicBool,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    loop {
        let Some(head) = read_head(&mut reader) else {
            return;
        };
        heads.lock().unwrap().push(head.clone());
        requests.fetch_add(1, Ordering::SeqCst);
        let current = behaviour.lock().unwrap().clone();
        let written = match current {
            Behaviour::Json(body) => respond(&mut stream, 200, "application/json", body.as_bytes()),
            Behaviour::Status(code) => respond(&mut stream, code, "text/plain", b"failure\n"),
            Behaviour::Slow(delay, body) => {
                sleep_unless_stopped(delay, stopped);
                respond(&mut stream, 200, "application/json", body.as_bytes())
            }
            Behaviour::Hang => {
                sleep_unless_stopped(Duration::from_secs(120), stopped);
                return;
            }
            Behaviour::Close => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Behaviour::Raw(bytes) => {
                let _ = stream.write_all(&bytes);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Behaviour::Large { bytes, chunked } => write_large(&mut stream, bytes, chunked),
            Behaviour::Require(lines) if has_header_lines(&head, &lines) => {
                respond(&mut stream, 200, "application/json", SAMPLE.as_bytes())
            }
            Behaviour::Require(_) => respond(&mut stream, 401, "text/plain", b"unauthorized\n"),
        };
        if written.is_err() {
            return;
        }
    }
}

/// One request head, without its final empty line; `None` when the connection ends first.
pub fn read_head(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line == "\r\n" && !head.is_empty() => return Some(head),
            Ok(_) => head.push_str(&line),
        }
    }
}

/// Whether a request head has each `name: value` line, the name in any case.
pub fn has_header_lines(head: &str, lines: &[String]) -> bool {
    lines.iter().all(|wanted| {
        let (name, value) = wanted.split_once(": ").unwrap_or((wanted, ""));
        head.lines().any(|line| {
            line.split_once(": ")
                .is_some_and(|(n, v)| n.eq_ignore_ascii_case(name) && v == value)
        })
    })
}

fn sleep_unless_stopped(total: Duration, stopped: &AtomicBool) {
    let started = Instant::now();
    while started.elapsed() < total && !stopped.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(20));
    }
}

pub fn respond(
    stream: &mut impl Write,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} Status\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

fn write_large(stream: &mut TcpStream, bytes: usize, chunked: bool) -> std::io::Result<()> {
    // A valid JSON document padded with whitespace, so only its size is wrong.
    let mut body = vec![b' '; bytes];
    let document = br#"{"requestCounters":{},"duration":{"count":0,"sum":0}}"#;
    body[..document.len()].copy_from_slice(document);
    if chunked {
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")?;
        for chunk in body.chunks(64 * 1024) {
            stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            stream.write_all(chunk)?;
            stream.write_all(b"\r\n")?;
        }
        stream.write_all(b"0\r\n\r\n")
    } else {
        respond(stream, 200, "application/json", &body)
    }
}

/// Every `testdata/rejected/NAME.json`, as path and bytes, in name order: `/stats` answers the
/// exporter must reject, each beside its expected error in `NAME.error`.
pub fn rejected_documents() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rejected");
    let mut documents: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let document = std::fs::read(&path).unwrap();
            (path, document)
        })
        .collect();
    documents.sort();
    documents
}
