//! Idle keep-alive connections to `/stats` targets, shared by every worker thread.
//!
//! A connection in use belongs to the one request future that checked it out, on whichever
//! runtime serves that request; an idle one belongs to no task and no runtime's work: it is a
//! socket and the time it went idle (see [`upstream::IdleSocket`](crate::upstream::IdleSocket)
//! for what the socket keeps). So a worker that stops (on SIGTERM) takes nothing with it that
//! another worker's probe still needs, no probe waits on another thread's event loop, and an
//! idle connection costs a file descriptor and a few bytes, not a task with its buffers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Idle connections, most recently used last per target.
#[derive(Debug)]
pub struct ConnectionPool<C> {
    idle: Mutex<Idle<C>>,
    idle_timeout: Duration,
    max_idle_per_target: usize,
    max_idle_total: usize,
}

#[derive(Debug)]
struct Idle<C> {
    by_target: HashMap<String, Vec<IdleConnection<C>>>,
    total: usize,
}

#[derive(Debug)]
struct IdleConnection<C> {
    stream: C,
    since: Instant,
}

impl<C> ConnectionPool<C> {
    /// `max_idle_per_target` should be the most requests to one target that can run at once;
    /// `max_idle_total` bounds the file descriptors the pool may hold.
    pub fn new(idle_timeout: Duration, max_idle_per_target: usize, max_idle_total: usize) -> Self {
        Self {
            idle: Mutex::new(Idle {
                by_target: HashMap::new(),
                total: 0,
            }),
            idle_timeout,
            max_idle_per_target: max_idle_per_target.max(1),
            max_idle_total,
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The most recently returned connection to `target` that has not idled too long.
    pub fn checkout(&self, target: &str) -> Option<C> {
        let now = Instant::now();
        let mut idle = self.lock();
        let Idle { by_target, total } = &mut *idle;
        let connections = by_target.get_mut(target)?;
        let mut found = None;
        while let Some(connection) = connections.pop() {
            *total -= 1;
            if now.duration_since(connection.since) < self.idle_timeout {
                found = Some(connection.stream);
                break;
            }
        }
        // An emptied entry stays until the next sweep of expired connections: the connection
        // checked out now is usually checked in again in a few milliseconds.
        found
    }

    /// Keeps `stream` for the next request to `target`, unless the pool is full (then it is
    /// closed: one more connect later costs less than an unbounded pool).
    pub fn checkin(&self, target: &str, stream: C) {
        let mut idle = self.lock();
        if idle.total >= self.max_idle_total {
            return;
        }
        let Idle { by_target, total } = &mut *idle;
        if let Some(connections) = by_target.get_mut(target) {
            if connections.len() >= self.max_idle_per_target {
                return;
            }
            connections.push(IdleConnection {
                stream,
                since: Instant::now(),
            });
        } else {
            by_target.insert(
                target.to_string(),
                vec![IdleConnection {
                    stream,
                    since: Instant::now(),
                }],
            );
        }
        *total += 1;
    }

    /// Closes every connection idle for longer than the idle timeout; returns how many.
    pub fn close_expired(&self) -> usize {
        let now = Instant::now();
        let mut idle = self.lock();
        let Idle { by_target, total } = &mut *idle;
        let before = *total;
        by_target.retain(|_, connections| {
            // Oldest first: the expired ones form a prefix.
            let expired = connections
                .iter()
                .take_while(|c| now.duration_since(c.since) >= self.idle_timeout)
                .count();
            connections.drain(..expired);
            *total -= expired;
            !connections.is_empty()
        });
        if by_target.capacity() > 2 * by_target.len() + 64 {
            by_target.shrink_to_fit();
        }
        before - *total
    }

    /// Idle connections held now.
    pub fn idle_connections(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle<C>> {
        // Every update keeps `total` consistent before it can panic, so a poisoned pool is
        // still a valid pool.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    fn connection(listener: &TcpListener) -> TcpStream {
        TcpStream::connect(listener.local_addr().unwrap()).unwrap()
    }

    #[test]
    fn newest_connection_first_and_bounded_per_target_and_in_total() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let pool = ConnectionPool::new(Duration::from_secs(60), 2, 3);
        let streams: Vec<TcpStream> = (0..4).map(|_| connection(&listener)).collect();
        let ports: Vec<u16> = streams
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        let mut streams = streams.into_iter();
        for _ in 0..3 {
            pool.checkin("a:1", streams.next().unwrap());
        }
        assert_eq!(pool.idle_connections(), 2, "two per target");
        pool.checkin("b:1", streams.next().unwrap());
        assert_eq!(pool.idle_connections(), 3);
        pool.checkin("c:1", connection(&listener));
        assert_eq!(pool.idle_connections(), 3, "three in total");
        let newest = pool.checkout("a:1").unwrap();
        assert_eq!(newest.local_addr().unwrap().port(), ports[1]);
        assert!(pool.checkout("a:1").is_some());
        assert!(pool.checkout("a:1").is_none());
        assert!(pool.checkout("c:1").is_none());
        assert_eq!(pool.idle_connections(), 1);
    }

    #[test]
    fn expired_connections_are_neither_handed_out_nor_kept() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let pool = ConnectionPool::new(Duration::from_millis(50), 4, 100);
        pool.checkin("a:1", connection(&listener));
        pool.checkin("b:1", connection(&listener));
        std::thread::sleep(Duration::from_millis(80));
        pool.checkin("b:1", connection(&listener));
        assert!(pool.checkout("a:1").is_none());
        assert_eq!(pool.idle_connections(), 2);
        assert_eq!(pool.close_expired(), 1);
        assert_eq!(pool.idle_connections(), 1);
        assert!(pool.checkout("b:1").is_some());
    }
}
