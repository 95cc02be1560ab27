//! A raw HTTP/1.1 client that keeps its connection alive, as Prometheus does, so connection
//! handling is visible to the tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;

use super::STEP_TIMEOUT;

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

/// An exporter's address and one keep-alive connection to it, as a scraper holds: what
/// behaviour tests talk to, whether the exporter runs in this process or as the binary.
pub struct Endpoint {
    pub address: SocketAddr,
    client: Mutex<Client>,
}

impl Endpoint {
    pub fn new(address: SocketAddr) -> Endpoint {
        Endpoint {
            address,
            client: Mutex::new(Client::new(address)),
        }
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.client.lock().unwrap().get(path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.client.lock().unwrap().get(path, headers)
    }

    /// Connections this endpoint's client has opened so far.
    pub fn connections_opened(&self) -> usize {
        self.client.lock().unwrap().connections_opened
    }
}

/// One GET on a connection of its own, as one more concurrent scraper would send it.
pub fn http_get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    Client::new(address).get(path, headers)
}
