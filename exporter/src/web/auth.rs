//! HTTP basic authentication against bcrypt hashes.
//!
//! bcrypt is slow on purpose (tens of milliseconds), so it runs on the blocking pool, never on
//! the threads that serve scrapes, one verification at a time in the whole process (as
//! exporter-toolkit does): a flood of wrong passwords queues, it does not take a thread each.
//! Verdicts are cached, since a scraper sends the same credentials every time, in two bounded
//! caches that each drop their least recently used entry: the accepted credentials apart from
//! the refused ones, so that no flood of wrong passwords can push the scraper's own out and
//! make it wait behind the flood. A name that is not configured is checked against a configured
//! hash all the same, so the time taken does not tell which users exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::header::HeaderValue;
use tokio::sync::Semaphore;

/// Accepted credentials kept: one per user is the usual case.
const ACCEPTED_CAPACITY: usize = 64;
/// Refused credentials kept, so that a scraper with a wrong password costs one bcrypt run.
const REFUSED_CAPACITY: usize = 1024;

/// bcrypt verifications running at once, in the whole process.
static VERIFICATIONS: Semaphore = Semaphore::const_new(1);

#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// SHA-256 of (user, password, hash) to the verdict. Passwords are never kept.
    verdicts: Mutex<Verdicts>,
}

#[derive(Debug)]
struct Verdicts {
    accepted: Lru,
    refused: Lru,
}

impl BasicAuth {
    /// `users` maps names to bcrypt hashes, already validated; it must not be empty.
    pub fn new(users: BTreeMap<String, String>) -> Self {
        Self {
            users,
            verdicts: Mutex::new(Verdicts {
                accepted: Lru::new(ACCEPTED_CAPACITY),
                refused: Lru::new(REFUSED_CAPACITY),
            }),
        }
    }

    /// Whether an `Authorization` header carries valid credentials.
    pub async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let (known, hash) = match self.users.get(&user) {
            Some(hash) => (true, hash.clone()),
            // Same work for unknown names: check against any configured hash, then refuse.
            None => match self.users.values().next() {
                Some(hash) => (false, hash.clone()),
                None => return false,
            },
        };
        let key = cache_key(&user, &password, &hash);
        if let Some(verdict) = self.cached(&key) {
            return verdict && known;
        }
        let Ok(_permit) = VERIFICATIONS.acquire().await else {
            return false;
        };
        // The same credentials may have been verified while this request waited.
        if let Some(verdict) = self.cached(&key) {
            return verdict && known;
        }
        let matches = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let verdict = matches && known;
        let mut verdicts = lock(&self.verdicts);
        if verdict {
            verdicts.accepted.insert(key);
        } else {
            verdicts.refused.insert(key);
        }
        verdict
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        let mut verdicts = lock(&self.verdicts);
        if verdicts.accepted.touch(key) {
            Some(true)
        } else if verdicts.refused.touch(key) {
            Some(false)
        } else {
            None
        }
    }
}

/// A set of at most `capacity` keys that forgets the least recently used one to make room.
/// Capacities are small and a miss costs a bcrypt run, so eviction is a plain scan.
#[derive(Debug)]
struct Lru {
    last_used: HashMap<[u8; 32], u64>,
    clock: u64,
    capacity: usize,
}

impl Lru {
    fn new(capacity: usize) -> Self {
        Self {
            last_used: HashMap::new(),
            clock: 0,
            capacity,
        }
    }

    /// Whether `key` is in the set; marks it used.
    fn touch(&mut self, key: &[u8; 32]) -> bool {
        self.clock += 1;
        match self.last_used.get_mut(key) {
            Some(used) => {
                *used = self.clock;
                true
            }
            None => false,
        }
    }

    fn insert(&mut self, key: [u8; 32]) {
        self.clock += 1;
        if self.last_used.len() >= self.capacity && !self.last_used.contains_key(&key) {
            let oldest = self
                .last_used
                .iter()
                .min_by_key(|(_, used)| **used)
                .map(|(key, _)| *key);
            if let Some(oldest) = oldest {
                self.last_used.remove(&oldest);
            }
        }
        self.last_used.insert(key, self.clock);
    }
}

fn parse_basic(header: &HeaderValue) -> Option<(String, String)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn cache_key(user: &str, password: &str, hash: &str) -> [u8; 32] {
    let mut context = ::ring::digest::Context::new(&::ring::digest::SHA256);
    for part in [user, password, hash] {
        context.update(&(part.len() as u64).to_le_bytes());
        context.update(part.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded = STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn auth() -> BasicAuth {
        // Cost 4 keeps the test fast; the code does not depend on the cost.
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        BasicAuth::new(BTreeMap::from([("prometheus".to_string(), hash)]))
    }

    #[tokio::test]
    async fn right_credentials_pass_and_everything_else_fails() {
        let auth = auth();
        assert!(auth.allows(Some(&header("prometheus", "s3cret"))).await);
        // Twice: the second answer comes from the cache and must agree.
        assert!(auth.allows(Some(&header("prometheus", "s3cret"))).await);
        assert!(!auth.allows(Some(&header("prometheus", "wrong"))).await);
        assert!(!auth.allows(Some(&header("prometheus", "wrong"))).await);
        assert!(!auth.allows(Some(&header("nobody", "s3cret"))).await);
        assert!(!auth.allows(None).await);
        for bad in ["Bearer abc", "Basic", "Basic !!!", "Basic Zm9v"] {
            assert!(
                !auth.allows(Some(&HeaderValue::from_static(bad))).await,
                "{bad}"
            );
        }
    }

    #[test]
    fn the_cache_forgets_the_least_recently_used_key() {
        let mut lru = Lru::new(2);
        lru.insert([1; 32]);
        lru.insert([2; 32]);
        assert!(lru.touch(&[1; 32]));
        lru.insert([3; 32]);
        assert!(lru.touch(&[1; 32]), "used last, kept");
        assert!(!lru.touch(&[2; 32]), "least recently used, dropped");
        assert!(lru.touch(&[3; 32]));
        assert_eq!(lru.last_used.len(), 2);
    }

    #[tokio::test]
    async fn a_flood_of_wrong_passwords_keeps_the_accepted_verdict() {
        let auth = auth();
        assert!(auth.allows(Some(&header("prometheus", "s3cret"))).await);
        for n in 0..REFUSED_CAPACITY + 10 {
            // Inserted straight into the cache: the bcrypt runs would only slow the test.
            let key = cache_key("prometheus", &format!("wrong{n}"), "");
            lock(&auth.verdicts).refused.insert(key);
        }
        let hash = auth.users["prometheus"].clone();
        let key = cache_key("prometheus", "s3cret", &hash);
        assert_eq!(auth.cached(&key), Some(true));
        assert_eq!(
            lock(&auth.verdicts).refused.last_used.len(),
            REFUSED_CAPACITY
        );
    }

    #[test]
    fn credentials_are_decoded_from_the_header() {
        assert_eq!(
            parse_basic(&header("a", "b:c")),
            Some(("a".into(), "b:c".into()))
        );
        assert_eq!(
            parse_basic(&HeaderValue::from_static("basic YTpi")),
            Some(("a".into(), "b".into()))
        );
    }
}
