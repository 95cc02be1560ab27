//! Starts the real `syseng_sim` binary on loopback and talks HTTP/1.1 to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use syseng_sim::stats::StatsDocument;

/// A running simulator process, killed when dropped.
pub struct Sim {
    child: Child,
    dir: PathBuf,
    pub admin: SocketAddr,
    pub file_sd: PathBuf,
}

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

impl Sim {
    /// Starts `syseng_sim` with every port chosen by the kernel, plus `args`.
    pub fn start(args: &[&str]) -> Sim {
        let dir = std::env::temp_dir().join(format!(
            "syseng_sim-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file_sd = dir.join("targets.json");
        let mut child = Command::new(env!("CARGO_BIN_EXE_syseng_sim"))
            .args([
                "--listen-address",
                "127.0.0.1:0",
                "--admin.listen-address",
                "127.0.0.1:0",
            ])
            .arg("--file-sd")
            .arg(&file_sd)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start syseng_sim");
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        // Keeps draining the log so the process never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let mut sim = Sim {
            child,
            dir,
            admin: "127.0.0.1:1".parse().unwrap(),
            file_sd,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = lines_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("syseng_sim did not report serving in time");
            if let Some(admin) = line
                .split(' ')
                .find_map(|field| field.strip_prefix("admin="))
            {
                sim.admin = admin.parse().unwrap();
                break;
            }
        }
        std::thread::spawn(move || for _ in lines_rx {});
        sim
    }

    /// The instance addresses, from the file_sd file.
    pub fn targets(&self) -> Vec<SocketAddr> {
        let groups: Value = serde_json::from_slice(&std::fs::read(&self.file_sd).unwrap()).unwrap();
        groups
            .as_array()
            .unwrap()
            .iter()
            .map(|group| group["targets"][0].as_str().unwrap().parse().unwrap())
            .collect()
    }

    /// Sends an admin request and returns status and JSON.
    pub fn admin(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let (status, text) = http(self.admin, method, path, body, Duration::from_secs(5))
            .expect("admin API answers");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Starts a fault and returns its id.
    pub fn add_fault(&self, body: &str) -> u64 {
        let (status, created) = self.admin("POST", "/faults", body);
        assert_eq!(status, 201, "{created}");
        created["id"].as_u64().unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One HTTP/1.1 exchange with `Connection: close`; returns status and body.
pub fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    Ok((status, body.to_owned()))
}

/// The response head and body of `GET /stats`.
pub fn get_stats_raw(address: SocketAddr) -> std::io::Result<(u16, String)> {
    http(address, "GET", "/stats", "", Duration::from_secs(5))
}

/// `GET /stats`, decoded (panics if the answer is not a valid document).
pub fn get_stats(address: SocketAddr) -> StatsDocument {
    let (status, body) = get_stats_raw(address).expect("instance answers");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("invalid /stats {body:?}: {e}"))
}

/// Retries `check` every 50 ms until it holds or `within` passes.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
