//! Debian's `tinyproxy`, a real forward proxy, on a free loopback port. It adds
//! `Via: 1.1 tinyproxy (...)` to what it forwards and logs every request line.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{STEP_TIMEOUT, TempDir, free_port};

pub struct ForwardProxy {
    pub port: u16,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl ForwardProxy {
    /// A proxy that wants `Proxy-Authorization` for `user` and `password` on every request,
    /// `CONNECT` included.
    pub fn start(user: &str, password: &str) -> ForwardProxy {
        let dir = TempDir::new("tinyproxy");
        let port = free_port();
        let config = dir.path().join("tinyproxy.conf");
        // No ConnectPort line: CONNECT is allowed to any port (the tests' TLS upstreams).
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Connect\nMaxClients 32\n\
                 Allow 127.0.0.1\nViaProxyName \"tinyproxy\"\nBasicAuth {user} {password}\n"
            ),
        )
        .unwrap();
        let log = dir.path().join("tinyproxy.log");
        let sink = std::fs::File::create(&log).unwrap();
        // In the foreground (-d) it logs to standard output.
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(sink.try_clone().unwrap())
            .stderr(sink)
            .spawn()
            .expect("tinyproxy is needed (scripts/install-deps.sh)");
        let proxy = ForwardProxy {
            port,
            child,
            log,
            _dir: dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < STEP_TIMEOUT, "tinyproxy did not listen");
            thread::sleep(Duration::from_millis(20));
        }
        proxy
    }

    /// `http://user:password@127.0.0.1:PORT`, for `proxy_url`.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// What tinyproxy logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
