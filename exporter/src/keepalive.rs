//! How long a scraper's connection may stay open between requests, and how long a request
//! head may take once its first byte has arrived.
//!
//! hyper's own `header_read_timeout` starts when it waits for a head, idle or not, so it also
//! closes keep-alive connections that idle between scrapes: with a 15 s scrape interval every
//! scrape would open a new connection (and with TLS, do a new handshake). Here the two are
//! apart: a started head must complete within [`HEADER_READ_TIMEOUT`] (a slow client cannot
//! hold a connection by trickling bytes), while an idle connection is kept for
//! [`IDLE_TIMEOUT`], longer than Prometheus keeps its own idle connections (5 minutes), so the
//! scraper is the side that closes them.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A request head must arrive whole this long after its first byte.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// What one connection is doing, written by its reads and its requests and read by its
/// [`watchdog`](Activity::watchdog). Times are milliseconds since the connection opened.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    /// A request is being answered.
    busy: AtomicBool,
    /// When the first byte of the next request head arrived, plus one; zero while none has.
    head_started: AtomicU64,
    /// When the connection last finished a request (or opened).
    idle_since: AtomicU64,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

/// Why the watchdog ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// A request head started but did not complete in time.
    SlowHead,
    /// No request came for the idle timeout.
    Idle,
}

impl Activity {
    pub fn new(header_read_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            busy: AtomicBool::new(false),
            head_started: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            header_read_timeout,
            idle_timeout,
        })
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    /// Marks a request as being answered until the guard drops.
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.busy.store(true, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
        RequestGuard(Arc::clone(self))
    }

    fn bytes_arrived(&self) {
        if !self.busy.load(Ordering::Relaxed) && self.head_started.load(Ordering::Relaxed) == 0 {
            self.head_started.store(self.now() + 1, Ordering::Relaxed);
        }
    }

    /// Whether the connection has outlived a limit at `now`, or when to look again.
    fn check(&self, now: u64) -> Result<Duration, Expired> {
        let header_read_timeout = self.header_read_timeout.as_millis() as u64;
        if self.busy.load(Ordering::Relaxed) {
            return Ok(self.header_read_timeout);
        }
        match self.head_started.load(Ordering::Relaxed) {
            0 => {
                let idle_for = now.saturating_sub(self.idle_since.load(Ordering::Relaxed));
                let idle_timeout = self.idle_timeout.as_millis() as u64;
                if idle_for >= idle_timeout {
                    Err(Expired::Idle)
                } else {
                    // Look again when the idle timeout would pass, but at least every header
                    // read timeout, since a head may start meanwhile.
                    Ok(Duration::from_millis(
                        (idle_timeout - idle_for).min(header_read_timeout),
                    ))
                }
            }
            started => {
                let reading_for = now.saturating_sub(started - 1);
                if reading_for >= header_read_timeout {
                    Err(Expired::SlowHead)
                } else {
                    Ok(Duration::from_millis(header_read_timeout - reading_for))
                }
            }
        }
    }

    /// Completes when the connection should be closed. It wakes at most once per header read
    /// timeout, so thousands of idle connections cost next to nothing; a slow head is thus
    /// cut between one and two header read timeouts after its first byte.
    pub async fn watchdog(&self) -> Expired {
        loop {
            match self.check(self.now()) {
                Ok(wait) => tokio::time::sleep(wait.max(Duration::from_millis(10))).await,
                Err(expired) => return expired,
            }
        }
    }
}

/// Held while a request is answered; dropping it starts the idle time.
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Relaxed);
        activity.busy.store(false, Ordering::Relaxed);
    }
}

/// A connection's stream that tells its [`Activity`] when request bytes arrive.
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_arrived();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity() -> Arc<Activity> {
        Activity::new(Duration::from_secs(10), Duration::from_secs(600))
    }

    #[test]
    fn an_idle_connection_lives_for_the_idle_timeout() {
        let activity = activity();
        assert_eq!(activity.check(0), Ok(Duration::from_secs(10)));
        assert_eq!(activity.check(595_000), Ok(Duration::from_secs(5)));
        assert_eq!(activity.check(600_000), Err(Expired::Idle));
    }

    #[test]
    fn a_started_head_must_finish_within_the_header_timeout() {
        let activity = activity();
        activity.head_started.store(100_001, Ordering::Relaxed);
        assert_eq!(activity.check(104_000), Ok(Duration::from_secs(6)));
        assert_eq!(activity.check(110_000), Err(Expired::SlowHead));
        // Once the head is complete the request runs, and nothing expires meanwhile.
        let guard = activity.begin_request();
        assert_eq!(activity.check(900_000), Ok(Duration::from_secs(10)));
        drop(guard);
        assert!(activity.check(activity.now() + 1_000).is_ok());
    }

    #[test]
    fn only_bytes_outside_a_request_start_a_head() {
        let activity = activity();
        let guard = activity.begin_request();
        activity.bytes_arrived();
        assert_eq!(activity.head_started.load(Ordering::Relaxed), 0);
        drop(guard);
        activity.bytes_arrived();
        assert_ne!(activity.head_started.load(Ordering::Relaxed), 0);
    }
}
