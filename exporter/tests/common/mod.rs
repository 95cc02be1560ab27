//! Test harness: the real exporter binary, fake upstreams and a raw HTTP client, all on
//! 127.0.0.1. Every process and thread started here ends when its guard is dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const SAMPLE: &str = include_str!("../../testdata/sample.json");

/// Longest any single step of a test may wait before it counts as a failure.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `syseng_exporter`, killed on drop if still running. Its requests go over one
/// keep-alive connection, as Prometheus's do.
pub struct Exporter {
    child: Child,
    pub address: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    client: Mutex<Client>,
}

impl Exporter {
    /// Starts the binary on an ephemeral port and waits until it listens.
    pub fn start(args: &[&str]) -> Exporter {
        let mut child = Command::new(env!("CARGO_BIN_EXE_syseng_exporter"))
            .arg("--web.listen-address=127.0.0.1:0")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start syseng_exporter");
        let stderr = child.stderr.take().expect("stderr is piped");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address_receiver) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("message=listening") {
                    let address = line
                        .split_whitespace()
                        .find_map(|field| field.strip_prefix("address="))
                        .and_then(|address| address.parse::<SocketAddr>().ok());
                    let _ = address_sender.send(address);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let address = match address_receiver.recv_timeout(STEP_TIMEOUT) {
            Ok(Some(address)) => address,
            other => {
                let _ = child.kill();
                panic!(
                    "exporter did not report its address ({other:?}); logs: {:?}",
                    logs.lock().unwrap()
                );
            }
        };
        Exporter {
            child,
            address,
            logs,
            client: Mutex::new(Client::new(address)),
        }
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.client.lock().unwrap().get(path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.client.lock().unwrap().get(path, headers)
    }

    /// Connections the exporter's own client has opened so far.
    pub fn connections_opened(&self) -> usize {
        self.client.lock().unwrap().connections_opened
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until a log line containing `text` has been read, and returns all lines so far.
    /// Logs arrive through a pipe, a little after the request that caused them.
    pub fn wait_for_log(&self, text: &str) -> Vec<String> {
        let started = Instant::now();
        loop {
            let logs = self.logs();
            if logs.iter().any(|line| line.contains(text)) {
                return logs;
            }
            assert!(
                started.elapsed() < STEP_TIMEOUT,
                "no log line with {text:?} in {logs:#?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
            stopped: Arc::new(AtomicBool::new(false)),
        };
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
                thread::spawn(move || {
                    serve_connection(stream, &behaviour, &requests, &stopped);
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
    stopped: &AtomicBool,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    loop {
        // Read one request head.
        let mut head_lines = 0;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" && head_lines > 0 => break,
                Ok(_) => head_lines += 1,
            }
        }
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
        };
        if written.is_err() {
            return;
        }
    }
}

fn sleep_unless_stopped(total: Duration, stopped: &AtomicBool) {
    let started = Instant::now();
    while started.elapsed() < total && !stopped.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(20));
    }
}

fn respond(
    stream: &mut TcpStream,
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

/// A response as received: status, lower-cased headers, raw body bytes.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// An HTTP/1.1 client that keeps its connection alive between requests, as a scraper does,
/// and opens a new one only when the server has closed the old one.
pub struct Client {
    address: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    pub connections_opened: usize,
}

impl Client {
    pub fn new(address: SocketAddr) -> Client {
        Client {
            address,
            stream: None,
            connections_opened: 0,
        }
    }

    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.address);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        // A reused connection the server closed while it idled fails before any answer: try
        // once more on a new one, as HTTP clients do for GET.
        if self.stream.is_some() {
            match self.exchange(request.as_bytes()) {
                Ok(response) => return response,
                Err(_) => self.stream = None,
            }
        }
        self.exchange(request.as_bytes())
            .unwrap_or_else(|error| panic!("GET {path} on a new connection: {error}"))
    }

    /// Whether the server has closed this client's connection (checked without sending).
    pub fn is_closed_by_server(&mut self) -> bool {
        let Some(reader) = self.stream.as_mut() else {
            return true;
        };
        let stream = reader.get_ref();
        stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let closed = match stream.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
        };
        stream.set_nonblocking(false).unwrap();
        closed
    }

    fn exchange(&mut self, request: &[u8]) -> std::io::Result<HttpResponse> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.address, STEP_TIMEOUT)?;
            stream.set_read_timeout(Some(STEP_TIMEOUT))?;
            self.connections_opened += 1;
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self.stream.as_mut().unwrap();
        reader.get_mut().write_all(request)?;
        let response = read_response(reader)?;
        if response
            .header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
        {
            self.stream = None;
        }
        Ok(response)
    }
}

/// Reads one response framed by Content-Length (the exporter always sends one).
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<HttpResponse> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let before = head.len();
        reader.read_until(b'\n', &mut head)?;
        if head.len() == before {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
    }
    let mut response = parse_response(&head);
    let length: usize = response
        .header("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("response without Content-Length: {:?}", response.headers));
    response.body = vec![0; length];
    reader.read_exact(&mut response.body)?;
    Ok(response)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// One GET on a connection of its own, as one more concurrent scraper would send it.
pub fn http_get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    Client::new(address).get(path, headers)
}

/// Runs `promtool check metrics` on an exposition and panics with its findings if it objects.
pub fn assert_promtool_accepts(exposition: &str) {
    assert_checker_accepts(
        Command::new("promtool").args(["check", "metrics"]),
        "promtool (Debian package prometheus; scripts/install-deps.sh)",
        exposition,
    );
}

/// Parses an OpenMetrics exposition with the reference parser (Debian's
/// python3-prometheus-client) and panics with its message if it objects.
pub fn assert_openmetrics_parses(exposition: &str) {
    assert_checker_accepts(
        Command::new("/usr/bin/python3").arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/openmetrics_check.py"
        )),
        "/usr/bin/python3 with prometheus_client (scripts/install-deps.sh)",
        exposition,
    );
}

/// Feeds an exposition to a checking command on stdin; it must exit 0.
fn assert_checker_accepts(checker: &mut Command, needs: &str, exposition: &str) {
    let mut child = checker
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{needs} is needed: {error}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{checker:?} rejected the exposition:\n{}{}\n--- exposition ---\n{exposition}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The samples of an exposition as `name{labels} value` lines (comments dropped).
pub fn samples(exposition: &str) -> Vec<&str> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .collect()
}

/// The value of the one sample whose `name{labels}` part equals `series`.
pub fn value_of(exposition: &str, series: &str) -> Option<f64> {
    samples(exposition).into_iter().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "syseng-test-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a CA (`{prefix}ca.crt`), a server certificate for localhost and 127.0.0.1 signed by
/// it (`{prefix}server.crt`, `{prefix}server.key`) and a client certificate
/// (`{prefix}client.crt`, `{prefix}client.key`) into `dir`.
pub fn write_certificates(dir: &std::path::Path, prefix: &str) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("syseng test CA {prefix}"),
    );
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(format!("{prefix}{name}")), text).expect("write certificate")
    };
    write("ca.crt", ca.pem());
    for (name, names) in [
        (
            "server",
            vec!["localhost".to_string(), "127.0.0.1".to_string()],
        ),
        ("client", vec!["prometheus".to_string()]),
    ] {
        let key = KeyPair::generate().unwrap();
        let certificate = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        write(&format!("{name}.crt"), certificate.pem());
        write(&format!("{name}.key"), key.serialize_pem());
    }
}

/// Runs curl (HTTPS requests in tests) and returns (HTTP status, headers and body) or the
/// exit code when no response arrived.
pub fn curl(args: &[&str]) -> Result<(u16, String), i32> {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10", "--include"])
        .args(["--write-out", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is needed (scripts/install-deps.sh)");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let (response, status) = text.rsplit_once('\n').unwrap_or(("", "000"));
    match status.trim().parse::<u16>() {
        Ok(status) if status > 0 => Ok((status, response.to_string())),
        _ => Err(output.status.code().unwrap_or(-1)),
    }
}
