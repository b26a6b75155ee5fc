//! [`Cache`] on Redis, with fred.
//!
//! Two kinds of connection: one command client, which reconnects by itself with
//! exponential backoff, and per subscription a subscriber client that the subscription
//! task rebuilds after every disconnect (so it knows exactly when it is subscribed again
//! and can report [`CacheEvent::Connected`]). Commands carry fred's `fail_fast` option and
//! the configured timeout: while Redis is down they fail at once instead of queueing for
//! the reconnect, and a login falls through to PostgreSQL.
//!
//! # Redis Cluster
//!
//! A `redis-cluster://host:port?node=host:port&node=…` URL (`rediss-cluster://` for TLS)
//! speaks to a Redis Cluster; fred follows the slot map, its MOVED and ASK redirections,
//! and a master's failover (the map is fetched again when a connection fails). Every
//! command here names one key, so each goes to its slot's master, except the batch lookup,
//! which becomes one GET per name sent together (see `get_subscribers`). Invalidations
//! use classic pub/sub, which a cluster broadcasts to every node: a subscriber connected
//! to any node hears every PUBLISH, and when that node dies the subscription task
//! reconnects (to whichever node fred routes it to) and reports the gap, after which
//! radiusd catches up from PostgreSQL's change feed. Sharded pub/sub would gain nothing
//! for one low-volume channel: it lives in one slot, on one shard, all the same.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fred::prelude::{
    Builder, Client, ClientLike as _, Config, Error as FredError, ErrorKind, EventInterface as _,
    Expiration, HashesInterface as _, KeysInterface as _, ListInterface as _, LuaInterface as _,
    Options, PubsubInterface as _, ReconnectPolicy, SetOptions, SetsInterface as _, TcpConfig,
    Value,
};
use fred::types::config::TlsConnector;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, join_all, try_join_all};
use sha1::{Digest as _, Sha1};
use tokio::sync::{broadcast, mpsc};

use super::activity::RejectRecord;
use super::cache::{
    AuthStats, Cache, CacheError, CacheEvent, CacheLookup, FORMAT_NEGATIVE, Invalidation, decode,
    encode_subscriber, encode_tombstone,
};
use super::config::RedisConfig;
use super::crypto::{Keyring, Purpose};
use proisp_model::Subscriber;

/// The versioned write (see the module docs of `cache`): refuses a value whose version is
/// below the stored one's, or equal to a stored tombstone's. Versions are below 2^53, so
/// Lua's doubles hold them exactly.
const PUT_SCRIPT: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and #cur >= 9 then
  local v = 0
  for i = 2, 9 do v = v * 256 + string.byte(cur, i) end
  local new = tonumber(ARGV[2])
  if v > new or (v == new and string.byte(cur, 1) == 0) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
";

/// Subscription reconnect backoff: first retry, cap.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How often the invalidation subscription is pinged.
const PING_INTERVAL: Duration = Duration::from_millis(500);

/// Depth of the event channel handed to the subscriber.
const EVENT_QUEUE: usize = 1024;

/// The Redis implementation of [`Cache`].
pub struct RedisCache {
    client: Client,
    options: Options,
    subscriber: Builder,
    keys: Arc<Keyring>,
    key_prefix: String,
    channel: String,
    ttl_ms: i64,
    negative_ttl_ms: i64,
    connect_timeout: Duration,
    script_sha: String,
}

impl RedisCache {
    /// The connection, for a binary's own keys (adminapi's login counters and token
    /// blacklist) on the one Redis client of the process.
    pub fn client(&self) -> Client {
        self.client.clone()
    }
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("key_prefix", &self.key_prefix)
            .field("connected", &self.client.is_connected())
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

fn cache_error(e: &FredError) -> CacheError {
    match e.kind() {
        ErrorKind::IO | ErrorKind::Canceled | ErrorKind::Timeout | ErrorKind::Backpressure => {
            CacheError::Unavailable(e.to_string())
        }
        _ => CacheError::Redis(e.to_string()),
    }
}

impl From<FredError> for CacheError {
    fn from(e: FredError) -> CacheError {
        cache_error(&e)
    }
}

/// fred's configuration of `cfg`: its URL, with our TLS configuration for `rediss://`
/// (fred's own would trust the system's store alone and read no files).
fn client_config(cfg: &RedisConfig) -> Result<Config, CacheError> {
    let tls = cfg
        .client_config()
        .map_err(|e| CacheError::Config(e.to_string()))?;
    let url = match (&tls, cfg.url.strip_prefix("rediss")) {
        (Some(_), Some(rest)) => format!("redis{rest}"),
        _ => cfg.url.clone(),
    };
    let mut config = Config::from_url(&url).map_err(|e| CacheError::Config(e.to_string()))?;
    config.tls = tls.map(|c| TlsConnector::from(c).into());
    Ok(config)
}

impl RedisCache {
    /// Starts the command client and waits up to `cfg.connect_timeout` for it to connect.
    ///
    /// Redis being down is not an error here — the client keeps reconnecting in the
    /// background and commands fail fast meanwhile — so radiusd starts and serves from
    /// PostgreSQL. Only an unusable configuration (a malformed URL) is an error.
    pub async fn connect(cfg: &RedisConfig, keys: Arc<Keyring>) -> Result<RedisCache, CacheError> {
        let config = client_config(cfg)?;
        let tcp = TcpConfig {
            nodelay: Some(true),
            ..TcpConfig::default()
        };
        let mut builder = Builder::from_config(config.clone());
        builder
            .with_config(|c| {
                // Redis down at start-up: keep trying in the background rather than fail.
                c.fail_fast = false;
            })
            .with_connection_config(|c| {
                c.connection_timeout = cfg.connect_timeout;
                c.internal_command_timeout = cfg.connect_timeout;
                c.max_command_attempts = 1;
                c.tcp = tcp.clone();
                // A connection that stops answering is dropped and redialled.
                c.unresponsive.max_timeout = Some(cfg.connect_timeout.max(cfg.command_timeout));
                c.unresponsive.interval = Duration::from_millis(500);
            })
            .with_performance_config(|p| p.default_command_timeout = cfg.command_timeout)
            .set_policy(ReconnectPolicy::new_exponential(
                0,
                millis(BACKOFF_MIN) as u32,
                millis(BACKOFF_MAX) as u32,
                2,
            ));
        let client = builder
            .build()
            .map_err(|e| CacheError::Config(e.to_string()))?;
        // Subscribed before connecting, so the first failure's reason (a refused
        // connection, a certificate that does not verify) can be told.
        let mut errors = client.error_rx();
        let _connection_task = client.connect();
        // Resolves on the first successful connection: with `fail_fast` off, failed
        // attempts are retried under the reconnect policy and announce nothing here.
        let _ = tokio::time::timeout(cfg.connect_timeout, client.wait_for_connect()).await;
        if !client.is_connected() {
            let error = errors
                .try_recv()
                .map(|(e, _server)| e.to_string())
                .unwrap_or_else(|_| "no answer".to_owned());
            tracing::warn!(
                url = %redacted(&cfg.url),
                %error,
                "Redis does not answer yet; reconnecting in the background"
            );
        }

        let mut subscriber = Builder::from_config(config);
        subscriber
            .with_config(|c| c.fail_fast = true)
            .with_connection_config(|c| {
                c.connection_timeout = cfg.connect_timeout;
                c.internal_command_timeout = cfg.connect_timeout;
                c.tcp = tcp;
            });

        let sha = Sha1::digest(PUT_SCRIPT.as_bytes());
        Ok(RedisCache {
            client,
            options: Options {
                fail_fast: true,
                timeout: Some(cfg.command_timeout),
                max_attempts: Some(1),
                ..Options::default()
            },
            subscriber,
            keys,
            key_prefix: cfg.key_prefix.clone(),
            channel: format!("{}invalidate", cfg.key_prefix),
            ttl_ms: millis(cfg.ttl),
            negative_ttl_ms: millis(cfg.negative_ttl),
            connect_timeout: cfg.connect_timeout,
            script_sha: sha.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    /// Whether the command connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// The Redis key of a subscriber entry.
    pub fn subscriber_key(&self, username: &str) -> String {
        format!("{}sub:{username}", self.key_prefix)
    }

    /// One radiusd instance's authentication counts.
    fn stats_key(&self, instance: &str) -> String {
        format!("{}stats:auth:{instance}", self.key_prefix)
    }

    /// The set of instances that published counts.
    fn stats_index(&self) -> String {
        format!("{}stats:auth", self.key_prefix)
    }

    /// A subscriber's recent Access-Rejects.
    fn rejects_key(&self, subscriber_id: i64) -> String {
        format!("{}rejects:{subscriber_id}", self.key_prefix)
    }

    /// The Access-Accepts and -Rejects of one minute, over every radiusd.
    fn minute_key(&self, minute: i64) -> String {
        format!("{}stats:minute:{minute}", self.key_prefix)
    }

    /// Sends a pipeline's commands, bounded by the command timeout: fred applies the
    /// per-command options to what is queued, and this bounds the whole batch too.
    async fn send_pipeline(
        &self,
        pipeline: &fred::clients::Pipeline<Client>,
    ) -> Result<Vec<Value>, CacheError> {
        let deadline = self.options.timeout.unwrap_or(self.connect_timeout);
        match tokio::time::timeout(deadline, pipeline.try_all::<Value>()).await {
            Ok(results) => results
                .into_iter()
                .map(|r| r.map_err(CacheError::from))
                .collect(),
            Err(_) => Err(CacheError::Unavailable(format!(
                "no answer within {deadline:?}"
            ))),
        }
    }

    /// The invalidation channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// What one stored value says about `username`. A value that does not decode is a
    /// miss, so PostgreSQL answers for that name and the others in its batch still count.
    fn entry(&self, username: &str, value: Value) -> CacheLookup {
        let decoded = match value {
            Value::Null => return CacheLookup::Miss,
            Value::Bytes(b) => decode(username, &b, &self.keys),
            Value::String(s) => decode(username, s.as_bytes(), &self.keys),
            _ => Err(CacheError::Corrupt {
                username: username.to_owned(),
                reason: "not a string value",
            }),
        };
        decoded.unwrap_or_else(|e| {
            // The error names the user and what is wrong, never the entry's content.
            tracing::debug!(user = username, error = %e, "unusable Redis entry; asking PostgreSQL instead");
            CacheLookup::Miss
        })
    }

    /// Runs the versioned write; `Ok(false)` when a newer entry was kept.
    async fn put_versioned(
        &self,
        key: String,
        value: Vec<u8>,
        version: i64,
        ttl_ms: i64,
    ) -> Result<bool, CacheError> {
        let client = self.client.with_options(&self.options);
        let args = vec![
            Value::Bytes(Bytes::from(value)),
            Value::Integer(version),
            Value::Integer(ttl_ms),
        ];
        let written: i64 = match client
            .evalsha(self.script_sha.as_str(), key.as_str(), args.clone())
            .await
        {
            Err(e) if e.details().starts_with("NOSCRIPT") => {
                // First use on this server (or after a restart / SCRIPT FLUSH): EVAL
                // also caches the script for the next EVALSHA.
                client.eval(PUT_SCRIPT, key.as_str(), args).await?
            }
            other => other?,
        };
        Ok(written == 1)
    }
}

/// `Ok` when every write succeeded, else the first error.
fn first_error(
    results: impl IntoIterator<Item = Result<(), CacheError>>,
) -> Result<(), CacheError> {
    results.into_iter().collect()
}

/// The URL without its password, for logs.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Cache for RedisCache {
    fn get_subscribers<'a>(
        &'a self,
        usernames: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<CacheLookup>, CacheError>> {
        async move {
            if usernames.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = usernames.iter().map(|u| self.subscriber_key(u)).collect();
            let client = self.client.with_options(&self.options);
            let values = if self.client.is_clustered() {
                // One MGET may not span hash slots under Redis Cluster (CROSSSLOT), and a
                // batch's names fall in as many slots as it has names. The GETs go out
                // together instead: fred writes them back to back on each shard's
                // connection, so the batch waits one round trip per shard, the shards in
                // parallel.
                try_join_all(keys.iter().map(|k| client.get::<Value, _>(k.as_str()))).await?
            } else {
                // Standalone: one MGET for the batch.
                let reply: Value = client.mget(keys).await?;
                let Value::Array(values) = reply else {
                    return Err(CacheError::Redis("MGET did not answer an array".to_owned()));
                };
                values
            };
            if values.len() != usernames.len() {
                return Err(CacheError::Redis(format!(
                    "MGET answered {} values for {} keys",
                    values.len(),
                    usernames.len()
                )));
            }
            Ok(usernames
                .iter()
                .zip(values)
                .map(|(username, value)| self.entry(username, value))
                .collect())
        }
        .boxed()
    }

    fn put_subscriber<'a>(&'a self, s: &'a Subscriber) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let sealed = self
                .keys
                .encrypt(Purpose::SubscriberPassword, s.password.as_bytes());
            let value = encode_subscriber(s, &sealed);
            // Between 75 and 100 % of the TTL: entries filled together (a login storm
            // after a restart) must not expire together and send the whole working set
            // to PostgreSQL in the same second an hour later.
            let ttl_ms = self.ttl_ms - rand::random_range(0..=self.ttl_ms / 4);
            self.put_versioned(
                self.subscriber_key(&s.username),
                value,
                s.version,
                ttl_ms.max(1),
            )
            .await?;
            Ok(())
        }
        .boxed()
    }

    fn put_subscribers<'a>(
        &'a self,
        subscribers: &'a [&'a Subscriber],
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            // Each put stays the versioned script on its own key, not one script over
            // many keys: that would tie the batch to one hash slot under Redis Cluster.
            // Sent together, the commands share the connection's writes and reads.
            first_error(join_all(subscribers.iter().map(|s| self.put_subscriber(s))).await)
        }
        .boxed()
    }

    fn put_negatives<'a>(
        &'a self,
        usernames: &'a [&'a str],
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let client = self.client.with_options(&self.options);
            let puts = usernames.iter().map(|username| {
                client.set::<Value, _, _>(
                    self.subscriber_key(username),
                    Value::Bytes(Bytes::from_static(&[FORMAT_NEGATIVE])),
                    Some(Expiration::PX(self.negative_ttl_ms)),
                    Some(SetOptions::NX),
                    false,
                )
            });
            first_error(
                join_all(puts)
                    .await
                    .into_iter()
                    .map(|r| r.map(drop).map_err(CacheError::from)),
            )
        }
        .boxed()
    }

    fn put_deleted<'a>(
        &'a self,
        username: &'a str,
        version: i64,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            self.put_versioned(
                self.subscriber_key(username),
                encode_tombstone(version),
                version,
                self.negative_ttl_ms,
            )
            .await?;
            Ok(())
        }
        .boxed()
    }

    fn remove_subscriber<'a>(&'a self, username: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let _: i64 = self
                .client
                .with_options(&self.options)
                .del(self.subscriber_key(username))
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn publish<'a>(&'a self, inv: &'a Invalidation) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let _: i64 = self
                .client
                .with_options(&self.options)
                .publish(self.channel.as_str(), inv.encode())
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn subscribe(&self) -> mpsc::Receiver<CacheEvent> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(subscription(
            self.subscriber.clone(),
            self.channel.clone(),
            self.connect_timeout,
            self.options.timeout.unwrap_or(self.connect_timeout),
            tx,
        ));
        rx
    }

    fn put_auth_stats<'a>(
        &'a self,
        instance: &'a str,
        stats: AuthStats,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let client = self.client.with_options(&self.options);
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
            let _: Value = client
                .set(
                    self.stats_key(instance),
                    stats.encode(),
                    Some(Expiration::PX(ttl_ms)),
                    None,
                    false,
                )
                .await?;
            let _: i64 = client.sadd(self.stats_index(), instance).await?;
            Ok(())
        }
        .boxed()
    }

    fn auth_stats<'a>(&'a self) -> BoxFuture<'a, Result<Vec<AuthStats>, CacheError>> {
        async move {
            let client = self.client.with_options(&self.options);
            let instances: Vec<String> = client.smembers(self.stats_index()).await?;
            let mut all = Vec::with_capacity(instances.len());
            for instance in instances {
                let value: Option<String> = client.get(self.stats_key(&instance)).await?;
                match value.as_deref().and_then(AuthStats::decode) {
                    Some(stats) => all.push(stats),
                    // Expired: the instance stopped publishing.
                    None => {
                        let _: i64 = client.srem(self.stats_index(), instance).await?;
                    }
                }
            }
            Ok(all)
        }
        .boxed()
    }

    fn push_rejects<'a>(
        &'a self,
        rejects: &'a [RejectRecord],
        keep: usize,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            if rejects.is_empty() {
                return Ok(());
            }
            let pipeline = self.client.pipeline();
            let queue = pipeline.with_options(&self.options);
            let last = i64::try_from(keep).unwrap_or(i64::MAX).max(1) - 1;
            let mut ids: Vec<i64> = rejects.iter().map(|r| r.subscriber_id).collect();
            ids.sort_unstable();
            ids.dedup();
            for r in rejects {
                let _: () = queue
                    .lpush(self.rejects_key(r.subscriber_id), r.encode())
                    .await?;
            }
            for id in ids {
                let key = self.rejects_key(id);
                let _: () = queue.ltrim(key.as_str(), 0, last).await?;
                let _: () = queue.pexpire(key.as_str(), millis(ttl), None).await?;
            }
            self.send_pipeline(&pipeline).await.map(|_| ())
        }
        .boxed()
    }

    fn rejects<'a>(
        &'a self,
        subscriber_id: i64,
    ) -> BoxFuture<'a, Result<Vec<RejectRecord>, CacheError>> {
        async move {
            let values: Vec<String> = self
                .client
                .with_options(&self.options)
                .lrange(self.rejects_key(subscriber_id), 0, -1)
                .await?;
            Ok(values
                .iter()
                .filter_map(|v| RejectRecord::decode(v))
                .collect())
        }
        .boxed()
    }

    fn add_auth_minutes<'a>(
        &'a self,
        minutes: &'a [(i64, AuthStats)],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            if minutes.is_empty() {
                return Ok(());
            }
            let pipeline = self.client.pipeline();
            let queue = pipeline.with_options(&self.options);
            let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            for (minute, stats) in minutes {
                let key = self.minute_key(*minute);
                let _: () = queue
                    .hincrby(key.as_str(), "accepts", count(stats.accepts))
                    .await?;
                let _: () = queue
                    .hincrby(key.as_str(), "rejects", count(stats.rejects))
                    .await?;
                let _: () = queue.pexpire(key.as_str(), millis(ttl), None).await?;
            }
            self.send_pipeline(&pipeline).await.map(|_| ())
        }
        .boxed()
    }

    fn auth_minutes<'a>(
        &'a self,
        minutes: &'a [i64],
    ) -> BoxFuture<'a, Result<Vec<AuthStats>, CacheError>> {
        async move {
            if minutes.is_empty() {
                return Ok(Vec::new());
            }
            let pipeline = self.client.pipeline();
            let queue = pipeline.with_options(&self.options);
            for minute in minutes {
                let _: () = queue
                    .hmget(self.minute_key(*minute), vec!["accepts", "rejects"])
                    .await?;
            }
            let values = self.send_pipeline(&pipeline).await?;
            Ok(values
                .into_iter()
                .map(|v| {
                    let counts: Vec<Option<u64>> = v.convert().unwrap_or_default();
                    let at = |i: usize| counts.get(i).copied().flatten().unwrap_or(0);
                    AuthStats {
                        accepts: at(0),
                        rejects: at(1),
                    }
                })
                .collect())
        }
        .boxed()
    }

    fn ping<'a>(&'a self) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let _: Value = self.client.with_options(&self.options).ping(None).await?;
            Ok(())
        }
        .boxed()
    }
}

/// Keeps one subscription up until `tx`'s receiver is dropped: connect, subscribe, report
/// `Connected`, forward messages; on loss report `Disconnected`, back off, start over.
///
/// A subscription is silent between messages, so silence cannot tell a quiet Redis from
/// a hung one (`kill -STOP`: the TCP connection stays up, and a message published
/// meanwhile is never delivered). The connection is pinged every [`PING_INTERVAL`]; a
/// ping unanswered within `ping_deadline` counts as a lost connection.
async fn subscription(
    builder: Builder,
    channel: String,
    connect_timeout: Duration,
    ping_deadline: Duration,
    tx: mpsc::Sender<CacheEvent>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        if tx.is_closed() {
            return;
        }
        let client = match builder.build_subscriber_client() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the Redis subscriber");
                return;
            }
        };
        let messages = client.message_rx();
        let up = tokio::time::timeout(connect_timeout, async {
            let task = client.init().await?;
            client.subscribe(channel.as_str()).await?;
            Ok::<_, FredError>(task)
        })
        .await;
        match up {
            Ok(Ok(mut task)) => {
                backoff = BACKOFF_MIN;
                let open = tx.send(CacheEvent::Connected).await.is_ok()
                    && forward(&client, messages, &mut task, ping_deadline, &tx).await
                    && tx.send(CacheEvent::Disconnected).await.is_ok();
                close(&client, connect_timeout).await;
                // A connection to a hung server is still waiting for it: end it.
                task.abort();
                if !open {
                    return;
                }
                tracing::warn!("Redis invalidation subscription lost; reconnecting");
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "Redis subscriber cannot connect");
                close(&client, connect_timeout).await;
            }
            Err(_) => {
                tracing::debug!("Redis subscriber connect timed out");
                close(&client, connect_timeout).await;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = tx.closed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Closes a subscription's connection; a hung server's answer to QUIT is not waited for
/// longer than `within`.
async fn close(client: &fred::clients::SubscriberClient, within: Duration) {
    let _ = tokio::time::timeout(within, client.quit()).await;
}

/// Forwards messages until the connection ends or misses a ping deadline (`true`) or the
/// receiver is gone (`false`).
async fn forward(
    client: &fred::clients::SubscriberClient,
    mut messages: broadcast::Receiver<fred::types::Message>,
    task: &mut fred::types::ConnectHandle,
    ping_deadline: Duration,
    tx: &mpsc::Sender<CacheEvent>,
) -> bool {
    let mut pings = tokio::time::interval(PING_INTERVAL);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            _ = pings.tick() => {
                let pong = tokio::time::timeout(ping_deadline, client.ping::<Value>(None)).await;
                if !matches!(pong, Ok(Ok(_))) {
                    tracing::warn!("Redis subscription missed its ping deadline");
                    return true;
                }
                continue;
            }
            msg = messages.recv() => match msg {
                Ok(m) => {
                    let text = m.value.as_str().map(|s| s.into_owned()).unwrap_or_default();
                    CacheEvent::Invalidate(Invalidation::parse(&text).unwrap_or_else(|| {
                        tracing::warn!(message = %text, "unknown invalidation; dropping everything");
                        Invalidation::All
                    }))
                }
                // Too slow to keep up: whatever was skipped, everything may be stale.
                Err(broadcast::error::RecvError::Lagged(_)) => CacheEvent::Invalidate(Invalidation::All),
                Err(broadcast::error::RecvError::Closed) => return true,
            },
            _ = &mut *task => return true,
            () = tx.closed() => return false,
        };
        if tx.send(event).await.is_err() {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_logs() {
        assert_eq!(
            redacted("redis://:hunter2@10.0.0.5:6379/0"),
            "redis://***@10.0.0.5:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
