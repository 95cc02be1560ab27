//! The exporter binary as a process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::ops::Deref;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::STEP_TIMEOUT;
use super::client::Endpoint;

/// A running `syseng_exporter` binary, killed on drop if still running: for what only a
/// process has (flags, signals, exit codes, logs). Its requests go through [`Endpoint`].
pub struct Exporter {
    child: Child,
    endpoint: Endpoint,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Deref for Exporter {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Exporter {
    /// Starts the binary on an ephemeral port and waits until it listens, which it reports in
    /// its `listening` log line.
    pub fn start(args: &[&str]) -> Exporter {
        Exporter::start_with_env(args, &[])
    }

    /// [`start`](Exporter::start) with these environment variables set as well.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let mut child = Command::new(env!("CARGO_BIN_EXE_syseng_exporter"))
            .arg("--web.listen-address=127.0.0.1:0")
            .args(args)
            .envs(env.iter().copied())
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
            endpoint: Endpoint::new(address),
            logs,
        }
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
