//! `syseng_scraper`: requests URLs the way Prometheus scrapes a fleet, for benchmarks. Every
//! URL in turn, at a fixed total rate spread evenly over a number of keep-alive connections,
//! each request on its own schedule (not as fast as possible, as wrk does): at the rate a
//! fleet is really scraped, a server is woken for each request, and that is what costs.
//!
//! usage: syseng_scraper --rate PER_SECOND --seconds N --connections C URL_FILE
//! Prints one JSON object: requests sent, answered 200, other statuses, errors, connections
//! opened, the rate reached and latency percentiles.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

struct Options {
    rate: f64,
    seconds: f64,
    connections: usize,
    urls: Vec<(SocketAddr, String)>,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    ok: u64,
    other_status: u64,
    errors: u64,
    connections_opened: u64,
    latencies_us: Vec<u64>,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1).collect()) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("syseng_scraper: {error}");
            eprintln!(
                "usage: syseng_scraper --rate PER_SECOND --seconds N --connections C URL_FILE"
            );
            return ExitCode::from(2);
        }
    };
    let options = Arc::new(options);
    let started = Instant::now() + Duration::from_millis(100);
    let workers: Vec<_> = (0..options.connections)
        .map(|index| {
            let options = Arc::clone(&options);
            thread::spawn(move || scrape_loop(&options, index, started))
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.join().expect("a connection thread panicked");
        total.sent += tally.sent;
        total.ok += tally.ok;
        total.other_status += tally.other_status;
        total.errors += tally.errors;
        total.connections_opened += tally.connections_opened;
        total.latencies_us.extend(tally.latencies_us);
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.latencies_us.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if total.latencies_us.is_empty() {
            return 0.0;
        }
        let index = ((total.latencies_us.len() - 1) as f64 * p).round() as usize;
        total.latencies_us[index] as f64 / 1000.0
    };
    println!(
        "{{\"sent\": {}, \"ok\": {}, \"other_status\": {}, \"errors\": {}, \
         \"connections_opened\": {}, \"rate\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \
         \"max_ms\": {:.3}}}",
        total.sent,
        total.ok,
        total.other_status,
        total.errors,
        total.connections_opened,
        total.sent as f64 / elapsed,
        percentile(0.5),
        percentile(0.99),
        percentile(1.0),
    );
    if total.errors > 0 || total.other_status > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Connection `index` sends requests number index, index + C, index + 2C, ... each at its
/// slot in the even schedule of the total rate, URL number n mod the URL count.
fn scrape_loop(options: &Options, index: usize, started: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut connection: Option<BufReader<TcpStream>> = None;
    let interval = 1.0 / options.rate;
    let total = (options.rate * options.seconds).round() as usize;
    let mut number = index;
    while number < total {
        let slot = started + Duration::from_secs_f64(number as f64 * interval);
        let now = Instant::now();
        if slot > now {
            thread::sleep(slot - now);
        }
        let (address, request) = &options.urls[number % options.urls.len()];
        tally.sent += 1;
        let sent_at = Instant::now();
        match exchange(&mut connection, *address, request, &mut tally) {
            Ok(200) => tally.ok += 1,
            Ok(_) => tally.other_status += 1,
            Err(_) => {
                tally.errors += 1;
                connection = None;
            }
        }
        tally
            .latencies_us
            .push(sent_at.elapsed().as_micros() as u64);
        number += options.connections;
    }
    tally
}

fn exchange(
    connection: &mut Option<BufReader<TcpStream>>,
    address: SocketAddr,
    request: &str,
    tally: &mut Tally,
) -> std::io::Result<u16> {
    if connection.is_none() {
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        tally.connections_opened += 1;
        *connection = Some(BufReader::new(stream));
    }
    let reader = connection.as_mut().expect("connected above");
    reader.get_mut().write_all(request.as_bytes())?;
    let mut status = 0;
    let mut length = 0usize;
    let mut close = false;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if status == 0 {
            status = trimmed
                .split_whitespace()
                .nth(1)
                .and_then(|code| code.parse().ok())
                .ok_or(std::io::ErrorKind::InvalidData)?;
        } else if let Some((name, value)) = trimmed.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value
                    .trim()
                    .parse()
                    .map_err(|_| std::io::ErrorKind::InvalidData)?;
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.trim().eq_ignore_ascii_case("close");
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    if close {
        *connection = None;
    }
    Ok(status)
}

fn parse_args(args: Vec<String>) -> Result<Options, String> {
    let mut rate = None;
    let mut seconds = None;
    let mut connections = 50;
    let mut file = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--rate" => rate = Some(value("--rate")?),
            "--seconds" => seconds = Some(value("--seconds")?),
            "--connections" => {
                connections = value("--connections")?
                    .parse()
                    .map_err(|_| "--connections: not a number".to_string())?
            }
            _ if arg.starts_with("--") => return Err(format!("unknown flag {arg}")),
            _ => file = Some(arg),
        }
    }
    let number = |text: Option<String>, name: &str| -> Result<f64, String> {
        text.ok_or(format!("{name} is required"))?
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n > 0.0)
            .ok_or(format!("{name}: not a positive number"))
    };
    let rate = number(rate, "--rate")?;
    let seconds = number(seconds, "--seconds")?;
    if connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let file = file.ok_or("a URL file is required")?;
    let text = std::fs::read_to_string(&file).map_err(|error| format!("{file}: {error}"))?;
    let urls = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(request_for)
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(format!("{file}: no URLs"));
    }
    Ok(Options {
        rate,
        seconds,
        connections,
        urls,
    })
}

/// `http://host:port/path?query` into its address and the request that fetches it.
fn request_for(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or(format!("{url}: only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let address = authority
        .to_socket_addrs()
        .map_err(|error| format!("{url}: {error}"))?
        .next()
        .ok_or(format!("{url}: no address"))?;
    Ok((
        address,
        format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: syseng_scraper\r\n\
             Accept: text/plain;version=0.0.4\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n"
        ),
    ))
}
