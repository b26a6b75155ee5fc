//! Short-lived shared state: failed-login counters and the access-token blacklist.
//!
//! Kept in Redis so the two adminapi instances of a pair see the same counters and the
//! same revocations; when Redis is down (or not configured) each process falls back to
//! its own memory, which keeps the limits working per instance instead of not at all.
//! Writes of revocations go to both, so a revocation made while Redis is away still
//! holds on this instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

// tokio's clock, so a test can move it (a paused runtime) instead of waiting.
use tokio::time::Instant;

use fred::prelude::{
    Client, ClientLike as _, Expiration, KeysInterface as _, LuaInterface as _, Options,
};
use futures_util::future::try_join_all;

/// INCR with the window (re)started by every increment; returns the count and the PTTL.
const INCR_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {n, redis.call('PTTL', KEYS[1])}
";

/// The count and PTTL of a counter, 0 when absent.
const PEEK_SCRIPT: &str = r"
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
return {tonumber(n), redis.call('PTTL', KEYS[1])}
";

/// Entries the in-process fallback holds before it drops the expired ones.
const LOCAL_PRUNE_AT: usize = 10_000;

/// Redis (when configured) with an in-process fallback.
pub struct Kv {
    redis: Option<(Client, Options)>,
    prefix: String,
    local: Mutex<HashMap<String, (u64, Instant)>>,
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kv")
            .field("redis", &self.redis.is_some())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

fn duration_ms(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Kv {
    /// Memory only.
    pub fn local() -> Kv {
        Kv {
            redis: None,
            prefix: String::new(),
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Redis via `client` (already connecting), keys under `prefix` + `admin:`.
    pub fn redis(client: Client, prefix: &str, timeout: Duration) -> Kv {
        let options = Options {
            fail_fast: true,
            timeout: Some(timeout),
            max_attempts: Some(1),
            ..Options::default()
        };
        Kv {
            redis: Some((client, options)),
            prefix: format!("{prefix}admin:"),
            local: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    fn with_local<T>(&self, f: impl FnOnce(&mut HashMap<String, (u64, Instant)>) -> T) -> T {
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= LOCAL_PRUNE_AT {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
        }
        f(&mut map)
    }

    fn local_incr(&self, key: &str, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        self.with_local(|map| {
            let e = map.entry(key.to_owned()).or_insert((0, now));
            if e.1 <= now {
                e.0 = 0;
            }
            *e = (e.0 + 1, now + window);
            (e.0, window)
        })
    }

    fn local_peek(&self, key: &str) -> (u64, Duration) {
        let now = Instant::now();
        self.with_local(|map| match map.get(key) {
            Some((n, until)) if *until > now => (*n, *until - now),
            _ => (0, Duration::ZERO),
        })
    }

    fn redis_failed(e: &fred::error::Error) {
        tracing::warn!(error = %e, "Redis unavailable: limits and revocations fall back to this process");
    }

    /// Adds one to counter `key` and (re)starts its window of `window`: the counter
    /// lasts until `window` passes without an increment. Returns the count and the time
    /// left in the window.
    pub async fn incr(&self, key: &str, window: Duration) -> (u64, Duration) {
        if let Some((client, options)) = &self.redis {
            let r: Result<Vec<i64>, _> = client
                .with_options(options)
                .eval(INCR_SCRIPT, self.key(key), vec![millis(window)])
                .await;
            match r {
                Ok(v) if v.len() == 2 => {
                    return (u64::try_from(v[0]).unwrap_or(0), duration_ms(v[1]));
                }
                Ok(_) => {}
                Err(e) => Kv::redis_failed(&e),
            }
        }
        self.local_incr(key, window)
    }

    /// Counter `key` and the time left in its window (0 and zero when absent).
    pub async fn peek(&self, key: &str) -> (u64, Duration) {
        if let Some((client, options)) = &self.redis {
            let r: Result<Vec<i64>, _> = client
                .with_options(options)
                .eval(PEEK_SCRIPT, self.key(key), Vec::<i64>::new())
                .await;
            match r {
                Ok(v) if v.len() == 2 => {
                    // A counter from a Redis outage still counts.
                    let local = self.local_peek(key);
                    let shared = (u64::try_from(v[0]).unwrap_or(0), duration_ms(v[1]));
                    return if local.0 > shared.0 { local } else { shared };
                }
                Ok(_) => {}
                Err(e) => Kv::redis_failed(&e),
            }
        }
        self.local_peek(key)
    }

    /// Removes `key` (a successful login clears its failures from that address).
    pub async fn remove(&self, key: &str) {
        self.with_local(|map| map.remove(key));
        if let Some((client, options)) = &self.redis
            && let Err(e) = client
                .with_options(options)
                .del::<i64, _>(self.key(key))
                .await
        {
            Kv::redis_failed(&e);
        }
    }

    /// Sets flag `key` for `ttl` (in Redis and here).
    pub async fn set_flag(&self, key: &str, ttl: Duration) {
        let until = Instant::now() + ttl;
        self.with_local(|map| map.insert(key.to_owned(), (1, until)));
        if let Some((client, options)) = &self.redis
            && let Err(e) = client
                .with_options(options)
                .set::<(), _, _>(
                    self.key(key),
                    1,
                    Some(Expiration::PX(millis(ttl))),
                    None,
                    false,
                )
                .await
        {
            Kv::redis_failed(&e);
        }
    }

    /// Whether flag `key` is set here or in Redis.
    pub async fn has_flag(&self, key: &str) -> bool {
        self.has_any_flag(&[key]).await
    }

    /// Whether any of the flags is set here or in Redis (one round trip).
    pub async fn has_any_flag(&self, keys: &[&str]) -> bool {
        if keys.iter().any(|k| self.local_peek(k).0 > 0) {
            return true;
        }
        if let Some((client, options)) = &self.redis {
            // One EXISTS per key, sent together: a multi-key EXISTS may not span hash
            // slots under Redis Cluster.
            let client = client.with_options(options);
            let checks = keys.iter().map(|k| {
                let key = self.key(k);
                let client = &client;
                async move { client.exists::<i64, _>(key).await }
            });
            match try_join_all(checks).await {
                Ok(found) => return found.iter().any(|&n| n > 0),
                Err(e) => Kv::redis_failed(&e),
            }
        }
        false
    }

    /// Whether Redis is configured and connected.
    pub fn redis_connected(&self) -> bool {
        self.redis.as_ref().is_some_and(|(c, _)| c.is_connected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn local_counters_and_flags() {
        let kv = Kv::local();
        let w = Duration::from_secs(60);
        assert_eq!(kv.incr("a", w).await.0, 1);
        assert_eq!(kv.incr("a", w).await.0, 2);
        let (n, left) = kv.peek("a").await;
        assert_eq!(n, 2);
        assert!(left > Duration::from_secs(59));
        kv.remove("a").await;
        assert_eq!(kv.peek("a").await.0, 0);
        assert_eq!(kv.incr("b", Duration::from_millis(1)).await.0, 1);
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(kv.incr("b", w).await.0, 1, "window restarted");
        assert!(!kv.has_flag("f").await);
        kv.set_flag("f", w).await;
        assert!(kv.has_flag("f").await);
    }
}
