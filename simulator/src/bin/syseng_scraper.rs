//! `syseng_scraper`: requests URLs the way Prometheus scrapes a fleet, for benchmarks, soaks
//! and fault tests. Every URL in turn, at a fixed total rate spread evenly over a number of
//! keep-alive connections, each request on its own schedule (not as fast as possible, as wrk
//! does): at the rate a fleet is really scraped, a server is woken for each request, and that
//! is what costs.
//!
//! As in Prometheus, where one scrape loop owns a target, each URL belongs to one connection
//! (URL number u to connection u mod C), so no URL is ever requested twice at once: a
//! connection that falls behind sends its requests late, one after the other.
//!
//! usage: syseng_scraper --rate PER_SECOND --seconds N [--connections C]
//!        [--scrape-timeout SECONDS] [--report-every SECONDS] URL_FILE
//! Prints one JSON object: requests sent, answered 200, other statuses, errors, connections
//! opened, the rate reached, latency percentiles, the answers by status code, the errors by
//! reason, and the 200 answers that said `syseng_up 0` (a /probe of a target that failed).
//! With --report-every, one such line per interval first (with `elapsed`), then the total
//! (with `"total": true`). Exits 1 when any request failed or answered other than 200.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: syseng_scraper --rate PER_SECOND --seconds N [--connections C] \
                     [--scrape-timeout SECONDS] [--report-every SECONDS] URL_FILE";

struct Options {
    rate: f64,
    seconds: f64,
    connections: usize,
    scrape_timeout: Duration,
    report_every: Option<Duration>,
    urls: Vec<(SocketAddr, String)>,
}

/// Latencies in microseconds, log-linear: exact below 1,024 µs, then 128 buckets per power of
/// two (under 1% apart), so an hour of requests takes a few kilobytes and intervals add up.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
}

const EXACT: u64 = 1024;
const SUB_BUCKETS: u64 = 128;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; (EXACT + 54 * SUB_BUCKETS) as usize],
        }
    }
}

impl Histogram {
    fn index(micros: u64) -> usize {
        if micros < EXACT {
            return micros as usize;
        }
        let exponent = 63 - u64::from(micros.leading_zeros()); // 10 and up
        let mantissa = (micros >> (exponent - 7)) & (SUB_BUCKETS - 1);
        (EXACT + (exponent - 10) * SUB_BUCKETS + mantissa) as usize
    }

    /// The lowest value of bucket `index`.
    fn value(index: usize) -> u64 {
        let index = index as u64;
        if index < EXACT {
            return index;
        }
        let exponent = (index - EXACT) / SUB_BUCKETS + 10;
        let mantissa = (index - EXACT) % SUB_BUCKETS;
        (SUB_BUCKETS + mantissa) << (exponent - 7)
    }

    fn record(&mut self, micros: u64) {
        let index = Self::index(micros).min(self.counts.len() - 1);
        self.counts[index] += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// The `p` quantile (0 to 1) in milliseconds, as the nearest rank; 0 when empty.
    fn quantile_ms(&self, p: f64) -> f64 {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = ((total - 1) as f64 * p).round() as u64;
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen > rank {
                return Self::value(index) as f64 / 1000.0;
            }
        }
        unreachable!("the rank is below the total")
    }
}

#[derive(Default, Clone)]
struct Tally {
    sent: u64,
    ok: u64,
    other_status: u64,
    errors: u64,
    connections_opened: u64,
    /// 200 answers whose body has `syseng_up 0`: a probe of a target that could not be read.
    syseng_up_0: u64,
    statuses: BTreeMap<u16, u64>,
    error_reasons: BTreeMap<&'static str, u64>,
    latencies: Histogram,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.other_status += other.other_status;
        self.errors += other.errors;
        self.connections_opened += other.connections_opened;
        self.syseng_up_0 += other.syseng_up_0;
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_default() += count;
        }
        for (reason, count) in &other.error_reasons {
            *self.error_reasons.entry(reason).or_default() += count;
        }
        self.latencies.merge(&other.latencies);
    }

    fn json(&self, seconds: f64) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| format!("\"{status}\": {count}"))
            .collect();
        let reasons: Vec<String> = self
            .error_reasons
            .iter()
            .map(|(reason, count)| format!("\"{reason}\": {count}"))
            .collect();
        format!(
            "\"sent\": {}, \"ok\": {}, \"other_status\": {}, \"errors\": {}, \
             \"connections_opened\": {}, \"rate\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \
             \"max_ms\": {:.3}, \"syseng_up_0\": {}, \"statuses\": {{{}}}, \
             \"error_reasons\": {{{}}}",
            self.sent,
            self.ok,
            self.other_status,
            self.errors,
            self.connections_opened,
            if seconds > 0.0 {
                self.sent as f64 / seconds
            } else {
                0.0
            },
            self.latencies.quantile_ms(0.5),
            self.latencies.quantile_ms(0.99),
            self.latencies.quantile_ms(1.0),
            self.syseng_up_0,
            statuses.join(", "),
            reasons.join(", "),
        )
    }
}

/// What the connections share with the reporting thread: a tally each, taken at every report.
struct Shared {
    tallies: Vec<Mutex<Tally>>,
    finished: AtomicUsize,
}

impl Shared {
    fn take(&self) -> Tally {
        let mut total = Tally::default();
        for tally in &self.tallies {
            let taken = std::mem::take(&mut *tally.lock().expect("a connection thread panicked"));
            total.merge(&taken);
        }
        total
    }
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1).collect()) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("syseng_scraper: {error}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let options = Arc::new(options);
    let shared = Arc::new(Shared {
        tallies: (0..options.connections).map(|_| Mutex::default()).collect(),
        finished: AtomicUsize::new(0),
    });
    let started = Instant::now() + Duration::from_millis(100);
    let workers: Vec<_> = (0..options.connections)
        .map(|index| {
            let options = Arc::clone(&options);
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                scrape_loop(&options, index, started, &shared.tallies[index]);
                shared.finished.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let mut total = Tally::default();
    if let Some(every) = options.report_every {
        let mut last = started;
        let mut next = started + every;
        loop {
            let done = shared.finished.load(Ordering::SeqCst) == options.connections;
            let now = Instant::now();
            if now < next && !done {
                thread::sleep((next - now).min(Duration::from_millis(100)));
                continue;
            }
            let interval = shared.take();
            // What ends after the last tick (the requests in flight at the end of the run) is
            // too short an interval for a rate: it counts in the total only.
            let leftover = done && now.duration_since(last) < every / 10;
            if interval.sent > 0 && !leftover {
                println!(
                    "{{\"elapsed\": {:.1}, {}}}",
                    now.duration_since(started).as_secs_f64(),
                    interval.json(now.duration_since(last).as_secs_f64())
                );
            }
            total.merge(&interval);
            if done {
                break;
            }
            last = now;
            next += every;
        }
    }
    for worker in workers {
        worker.join().expect("a connection thread panicked");
    }
    total.merge(&shared.take());
    let elapsed = started.elapsed().as_secs_f64();
    let total_key = if options.report_every.is_some() {
        "\"total\": true, "
    } else {
        ""
    };
    println!("{{{total_key}{}}}", total.json(elapsed));
    if total.errors > 0 || total.other_status > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The request numbers connection `index` of `connections` sends, in order, out of `total`:
/// request n asks for URL n mod `urls`, and URL u belongs to connection u mod `connections`.
fn own_requests(
    index: usize,
    connections: usize,
    urls: usize,
    total: usize,
) -> impl Iterator<Item = usize> {
    (0..total.div_ceil(urls)).flat_map(move |cycle| {
        (index..urls)
            .step_by(connections)
            .map(move |url| cycle * urls + url)
            .filter(move |&number| number < total)
    })
}

/// Sends this connection's requests, each at its slot in the even schedule of the total rate,
/// until the last one or the end of the run, whichever comes first.
fn scrape_loop(options: &Options, index: usize, started: Instant, tally: &Mutex<Tally>) {
    let mut connection: Option<BufReader<TcpStream>> = None;
    let interval = 1.0 / options.rate;
    let total = (options.rate * options.seconds).round() as usize;
    let end = started + Duration::from_secs_f64(options.seconds);
    for number in own_requests(index, options.connections, options.urls.len(), total) {
        let slot = started + Duration::from_secs_f64(number as f64 * interval);
        let now = Instant::now();
        if now >= end {
            break;
        }
        if slot > now {
            thread::sleep(slot - now);
        }
        let (address, request) = &options.urls[number % options.urls.len()];
        let sent_at = Instant::now();
        let mut opened = false;
        let outcome = exchange(
            &mut connection,
            *address,
            request,
            options.scrape_timeout,
            &mut opened,
        );
        let micros = sent_at.elapsed().as_micros() as u64;
        let mut tally = tally.lock().expect("the reporting thread panicked");
        tally.sent += 1;
        tally.connections_opened += u64::from(opened);
        match outcome {
            Ok((status, target_down)) => {
                *tally.statuses.entry(status).or_default() += 1;
                if status == 200 {
                    tally.ok += 1;
                    tally.syseng_up_0 += u64::from(target_down);
                } else {
                    tally.other_status += 1;
                }
            }
            Err(error) => {
                tally.errors += 1;
                *tally.error_reasons.entry(error_reason(&error)).or_default() += 1;
                connection = None;
            }
        }
        tally.latencies.record(micros);
    }
}

/// A short, fixed name for why a request failed (a label, not a message).
fn error_reason(error: &std::io::Error) -> &'static str {
    match error.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "timeout",
        ErrorKind::ConnectionRefused => "connection_refused",
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            "connection_reset"
        }
        ErrorKind::UnexpectedEof => "closed",
        ErrorKind::InvalidData => "invalid_response",
        _ => "other",
    }
}

/// One request and its answer: (status, whether the body says `syseng_up 0`).
fn exchange(
    connection: &mut Option<BufReader<TcpStream>>,
    address: SocketAddr,
    request: &str,
    timeout: Duration,
    opened: &mut bool,
) -> std::io::Result<(u16, bool)> {
    if connection.is_none() {
        let stream = TcpStream::connect_timeout(&address, timeout)?;
        stream.set_nodelay(true)?;
        // Prometheus gives up on a scrape at its timeout; so does this client, per read.
        stream.set_read_timeout(Some(timeout))?;
        *opened = true;
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
            return Err(ErrorKind::UnexpectedEof.into());
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
                .ok_or(ErrorKind::InvalidData)?;
        } else if let Some((name, value)) = trimmed.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| ErrorKind::InvalidData)?;
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
    Ok((status, says_target_down(&body)))
}

fn says_target_down(body: &[u8]) -> bool {
    body.split(|&byte| byte == b'\n')
        .any(|line| line == b"syseng_up 0")
}

fn parse_args(args: Vec<String>) -> Result<Options, String> {
    let mut rate = None;
    let mut seconds = None;
    let mut connections = 50;
    let mut scrape_timeout = None;
    let mut report_every = None;
    let mut file = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--rate" => rate = Some(value("--rate")?),
            "--seconds" => seconds = Some(value("--seconds")?),
            "--scrape-timeout" => scrape_timeout = Some(value("--scrape-timeout")?),
            "--report-every" => report_every = Some(value("--report-every")?),
            "--connections" => {
                connections = value("--connections")?
                    .parse()
                    .map_err(|_| "--connections: not a number".to_string())?
            }
            _ if arg.starts_with("--") => return Err(format!("unknown flag {arg}")),
            _ => file = Some(arg),
        }
    }
    let number = |text: String, name: &str| -> Result<f64, String> {
        text.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n > 0.0)
            .ok_or(format!("{name}: not a positive number"))
    };
    let rate = number(rate.ok_or("--rate is required")?, "--rate")?;
    let seconds = number(seconds.ok_or("--seconds is required")?, "--seconds")?;
    let scrape_timeout = match scrape_timeout {
        Some(text) => number(text, "--scrape-timeout")?,
        None => 10.0,
    };
    let report_every = report_every
        .map(|text| number(text, "--report-every"))
        .transpose()?
        .map(Duration::from_secs_f64);
    if connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let file = file.ok_or("a URL file is required")?;
    let text = std::fs::read_to_string(&file).map_err(|error| format!("{file}: {error}"))?;
    let urls = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|url| request_for(url, scrape_timeout))
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(format!("{file}: no URLs"));
    }
    // A connection without a URL of its own would only idle.
    let connections = connections.min(urls.len());
    Ok(Options {
        rate,
        seconds,
        connections,
        scrape_timeout: Duration::from_secs_f64(scrape_timeout),
        report_every,
        urls,
    })
}

/// `http://host:port/path?query` into its address and the request that fetches it.
fn request_for(url: &str, scrape_timeout: f64) -> Result<(SocketAddr, String), String> {
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
             Accept: text/plain;version=0.0.4\r\n\
             X-Prometheus-Scrape-Timeout-Seconds: {scrape_timeout}\r\n\r\n"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_is_sent_once_and_each_url_by_one_connection_only() {
        for (connections, urls, total) in [(3, 10, 95), (50, 2000, 4000), (7, 7, 20), (4, 9, 3)] {
            let mut sent = vec![0; total];
            let mut owner = vec![None; urls];
            for index in 0..connections {
                let mut last = None;
                for number in own_requests(index, connections, urls, total) {
                    sent[number] += 1;
                    assert!(last < Some(number), "connection {index} goes back in time");
                    last = Some(number);
                    let url = number % urls;
                    assert!(owner[url].is_none_or(|o| o == index), "URL {url} shared");
                    owner[url] = Some(index);
                }
            }
            assert!(sent.iter().all(|&n| n == 1), "{connections} {urls} {total}");
        }
    }

    #[test]
    fn histogram_quantiles_are_within_one_percent() {
        let mut histogram = Histogram::default();
        for micros in 1..=100_000u64 {
            histogram.record(micros);
        }
        for (p, want_ms) in [(0.5, 50.0), (0.99, 99.0), (1.0, 100.0)] {
            let got = histogram.quantile_ms(p);
            assert!((got - want_ms).abs() / want_ms < 0.01, "p{p}: {got} ms");
        }
        assert_eq!(Histogram::default().quantile_ms(0.99), 0.0);
        for micros in [0, 1, 1023, 1024, 1025, 5_000_000, 3_600_000_000] {
            let value = Histogram::value(Histogram::index(micros));
            assert!(
                value <= micros && micros - value <= micros / 128,
                "{micros}: {value}"
            );
        }
    }

    #[test]
    fn a_probe_of_a_failed_target_is_told_from_one_that_succeeded() {
        assert!(says_target_down(b"# TYPE syseng_up gauge\nsyseng_up 0\n"));
        assert!(!says_target_down(b"syseng_up 1\nsyseng_up_x 0\n"));
    }
}
