//! Test support for the exporter's integration tests, one module per concern, all on
//! 127.0.0.1. Every process, thread and in-process exporter started here ends when its guard
//! is dropped.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod client;
pub mod config_files;
pub mod exposition;
pub mod forward_proxy;
pub mod in_process;
pub mod process;
pub mod tls;
pub mod tls_upstream;
pub mod upstream;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Longest any single step of a test may wait before it counts as a failure.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

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

/// A loopback port free at the time of asking (for a listener the test does not open itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
