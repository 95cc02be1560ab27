//! HTTP basic authentication against bcrypt hashes.
//!
//! bcrypt is slow on purpose (tens of milliseconds), so it runs on the blocking pool, never on
//! the threads that serve scrapes, and its verdicts are cached: a scraper sends the same
//! credentials every time. A name that is not configured is checked against a configured hash
//! all the same, so the time taken does not tell which users exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::header::HeaderValue;

/// Verdicts kept; a flood of wrong passwords empties the cache rather than growing it.
const CACHE_CAPACITY: usize = 1024;

#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// SHA-256 of (user, password, hash) to the verdict. Passwords are never kept.
    verdicts: Mutex<HashMap<[u8; 32], bool>>,
}

impl BasicAuth {
    /// `users` maps names to bcrypt hashes, already validated; it must not be empty.
    pub fn new(users: BTreeMap<String, String>) -> Self {
        Self {
            users,
            verdicts: Mutex::new(HashMap::new()),
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
        if let Some(verdict) = lock(&self.verdicts).get(&key) {
            return *verdict && known;
        }
        let matches = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let verdict = matches && known;
        let mut verdicts = lock(&self.verdicts);
        if verdicts.len() >= CACHE_CAPACITY {
            verdicts.clear();
        }
        verdicts.insert(key, verdict);
        verdict
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
