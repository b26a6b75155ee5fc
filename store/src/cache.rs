//! The Redis cache contract between adminapi (writer) and radiusd (reader).
//!
//! Kept behind the [`Cache`] trait so the client library can be replaced; [`RedisCache`]
//! implements it with fred. PostgreSQL stays the source of truth: the cache only ever
//! holds copies, and every reader falls back to PostgreSQL on a miss or a Redis error.
//!
//! # Keys
//!
//! | key | value | TTL | written by |
//! | --- | --- | --- | --- |
//! | `<prefix>sub:<username>` | subscriber entry, below | [`RedisConfig::ttl`] (1 h) | adminapi after each commit; radiusd after a PostgreSQL lookup |
//! | `<prefix>sub:<username>` | negative marker `00` | [`RedisConfig::negative_ttl`] (60 s) | radiusd when PostgreSQL has no such live subscriber |
//! | `<prefix>sub:<username>` | tombstone `00` + version | negative TTL | adminapi after a delete or rename |
//! | `<prefix>stats:auth:<instance>` | `"<accepts> <rejects>"` of the last minute | 30 s | each radiusd every 10 s |
//! | `<prefix>stats:auth` | set of the instances above | none (expired members are removed when read) | each radiusd |
//! | `<prefix>rejects:<id>`, `<prefix>stats:minute:<m>` | recent Access-Rejects, counts per minute | see [`crate::activity`] | each radiusd |
//!
//! `<prefix>` is [`RedisConfig::key_prefix`] (`proisp:`); the username is used verbatim
//! (case-sensitive, like the database).
//!
//! # Entry encoding
//!
//! Compact binary, big-endian, not JSON. Octet 0 is the format; every value except the
//! bare negative marker carries the entry's version in octets 1..9, where the Lua script
//! below reads it without knowing the rest of the format:
//!
//! ```text
//! format 2 (subscriber; format 1 was the same without flag bit 5):
//!   0   u8   format = 2
//!   1   i64  version           (subscribers.version)
//!   9   i64  id
//!  17   u8   status            0 active, 1 suspended, 2 disabled
//!  18   i64  plan_id
//!  26   u32  simultaneous_use
//!  30   u8   flags             which optional fields follow, in this order:
//!            bit 0  i64  expires_at (epoch seconds)
//!            bit 1  [6]  mac
//!            bit 2  [4]  ipv4
//!            bit 3  u8 + [16]  ipv6_prefix (length, address)
//!            bit 4  u8 + [16]  delegated_ipv6_prefix
//!            bit 5  i64  fup_until (epoch seconds)
//!   ..  u16  n, then n octets: the password, AES-256-GCM (nonce || ciphertext || tag)
//!            under the same key and associated data as subscribers.password_enc
//!
//! format 0 (no such subscriber):
//!   0   u8   0                 negative marker (1 octet), or
//!   1   i64  version           tombstone: deleted or renamed away at this version
//! ```
//!
//! Redis never holds a clear-text password. A reader that meets an unknown format octet
//! treats the entry as a miss (a newer writer during a rolling upgrade), never as an error
//! that could refuse a login.
//!
//! # Versions and who may overwrite what
//!
//! Positive entries and tombstones are written by one Lua script that compares versions:
//! a write is refused when the stored entry has a higher version, or the same version and
//! is a tombstone. So radiusd putting what it read from PostgreSQL just before an admin
//! change never overwrites the newer entry adminapi put after its commit, and a lookup
//! racing a delete cannot resurrect the deleted subscriber. Versions grow across rows
//! (one PostgreSQL sequence), so a name created again after a delete beats its tombstone.
//! Negative markers are written with `SET NX`: they never replace an entry, and any put
//! replaces them.
//!
//! # Invalidation
//!
//! After every committed write adminapi publishes on `<prefix>invalidate`:
//!
//! | message | meaning |
//! | --- | --- |
//! | `sub:<username>` | that subscriber changed (created, updated, deleted, renamed from or to) |
//! | `plan:<id>` | that plan changed: reload plans |
//! | `nas` | the NAS table changed: reload it |
//! | `all` | anything may have changed (bulk import, seed): drop everything |
//! | `sessions:<JSON array of usernames>` | these users' open sessions changed (radiusd committed a Start or Stop): recount |
//! | `sessions` | any user's open sessions may have changed (Accounting-On/Off, stale sessions closed): recount all |
//!
//! radiusd drops its in-process copy on each message: the fast path. Pub/sub is
//! fire-and-forget — a message published while Redis hangs, or by a writer whose
//! connection fails after its commit, is gone — so it is not what the contract rests on.
//! PostgreSQL's change feed is (`cache_changes`, sql/0005, [`super::Change`]): written by
//! triggers in the change's own transaction, read by every radiusd every
//! `cache.feed_interval` from where it left off, it bounds how stale any answer can be
//! while PostgreSQL answers. It also carries each change's version, so radiusd passes
//! over a Redis entry older than a change it knows of (the put after the commit failed).
//! [`Cache::subscribe`] emits [`CacheEvent::Connected`] after every (re)connect and pings
//! the subscription, so a hung Redis is reported as [`CacheEvent::Disconnected`] rather
//! than taken for a quiet one. Unknown messages are delivered as [`Invalidation::All`].
//!
//! [`RedisCache`]: super::RedisCache
//! [`RedisConfig::ttl`]: super::RedisConfig::ttl
//! [`RedisConfig::negative_ttl`]: super::RedisConfig::negative_ttl
//! [`RedisConfig::key_prefix`]: super::RedisConfig::key_prefix

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::activity::RejectRecord;
use super::crypto::{Keyring, Purpose};
use proisp_model::{MacAddr, Password, Status, Subscriber};
use proisp_radius::attr::Ipv6Prefix;

/// A change that makes cached copies stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// One subscriber, by username.
    Subscriber(String),
    /// One plan, by id.
    Plan(i64),
    /// The NAS table.
    Nas,
    /// Everything.
    All,
    /// The open sessions of these users (a Start or Stop was committed).
    Sessions(Vec<String>),
    /// The open sessions of anybody (a NAS rebooted, stale sessions were closed).
    AllSessions,
}

impl Invalidation {
    /// The message published on the invalidation channel.
    pub fn encode(&self) -> String {
        match self {
            Invalidation::Subscriber(u) => format!("sub:{u}"),
            Invalidation::Plan(id) => format!("plan:{id}"),
            Invalidation::Nas => "nas".to_owned(),
            Invalidation::All => "all".to_owned(),
            Invalidation::Sessions(users) => {
                // JSON, because a user name from a NAS may hold any character.
                let list = serde_json::to_string(users).unwrap_or_else(|_| "[]".to_owned());
                format!("sessions:{list}")
            }
            Invalidation::AllSessions => "sessions".to_owned(),
        }
    }

    /// Parses a message; `None` for anything this build does not know.
    pub fn parse(msg: &str) -> Option<Invalidation> {
        if let Some(u) = msg.strip_prefix("sub:") {
            return Some(Invalidation::Subscriber(u.to_owned()));
        }
        if let Some(id) = msg.strip_prefix("plan:") {
            return id.parse().ok().map(Invalidation::Plan);
        }
        if let Some(list) = msg.strip_prefix("sessions:") {
            return serde_json::from_str(list).ok().map(Invalidation::Sessions);
        }
        match msg {
            "nas" => Some(Invalidation::Nas),
            "all" => Some(Invalidation::All),
            "sessions" => Some(Invalidation::AllSessions),
            _ => None,
        }
    }
}

/// What the cache knows about a username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLookup {
    /// A live subscriber, password decrypted.
    Hit(Subscriber),
    /// Known not to exist (recently looked up, or deleted): answer "unknown user"
    /// without asking PostgreSQL.
    Negative,
    /// Not cached: ask PostgreSQL.
    Miss,
}

/// What the invalidation subscription reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheEvent {
    /// Subscribed, after the first connect and after every reconnect. Messages may have
    /// been missed while disconnected: flush in-process caches.
    Connected,
    /// The subscription's connection was lost; it reconnects on its own.
    Disconnected,
    /// A change was published.
    Invalidate(Invalidation),
}

/// Errors of the cache. None of them should fail a login: fall back to PostgreSQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// Redis is down, unreachable or slower than the command timeout.
    #[error("Redis is unavailable: {0}")]
    Unavailable(String),
    /// Redis answered with an error.
    #[error("Redis error: {0}")]
    Redis(String),
    /// An entry that does not decode.
    #[error("corrupt cache entry for {username:?}: {reason}")]
    Corrupt {
        /// Whose entry.
        username: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A cached password does not decrypt (another key, or altered data).
    #[error("cannot decrypt a cached password: wrong key, or the entry was altered")]
    Crypto,
    /// The cache configuration is unusable (e.g. a malformed URL).
    #[error("invalid cache configuration: {0}")]
    Config(String),
}

impl CacheError {
    /// Whether Redis itself is down or slow.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CacheError::Unavailable(_))
    }
}

/// The cache contract. Object-safe (`Arc<dyn Cache>`); every method is bounded by the
/// implementation's command timeout, so a dead cache costs a login milliseconds, not
/// seconds.
pub trait Cache: Send + Sync + 'static {
    /// Looks subscribers up, one round trip for all: radiusd asks for every name its
    /// in-process cache missed in a batch. The answers are in the order of `usernames`,
    /// one per name. An entry that does not decode (corrupt, or sealed under another key)
    /// is a [`CacheLookup::Miss`] for its name alone, so PostgreSQL answers for it; an
    /// error is Redis failing the whole command.
    fn get_subscribers<'a>(
        &'a self,
        usernames: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<CacheLookup>, CacheError>>;

    /// Stores a subscriber unless a newer version (or its tombstone) is there.
    fn put_subscriber<'a>(&'a self, s: &'a Subscriber) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Stores subscribers read together, each as [`Cache::put_subscriber`] would: radiusd
    /// fills Redis with what one batch found in PostgreSQL. Every put is tried; the error
    /// is the first that failed.
    fn put_subscribers<'a>(
        &'a self,
        subscribers: &'a [&'a Subscriber],
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Records that no such subscribers exist, for each name unless an entry is there.
    /// Every write is tried; the error is the first that failed.
    fn put_negatives<'a>(
        &'a self,
        usernames: &'a [&'a str],
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Records that the subscriber was deleted (or renamed away) at `version`, so a stale
    /// put of an older version cannot bring it back. Reads as [`CacheLookup::Negative`].
    fn put_deleted<'a>(
        &'a self,
        username: &'a str,
        version: i64,
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Removes whatever is cached for a username.
    fn remove_subscriber<'a>(&'a self, username: &'a str) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Publishes an invalidation to every subscriber.
    fn publish<'a>(&'a self, inv: &'a Invalidation) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Subscribes to invalidations. A background task (on the current tokio runtime)
    /// keeps the subscription up, reconnecting with backoff, until the receiver is
    /// dropped.
    fn subscribe(&self) -> mpsc::Receiver<CacheEvent>;

    /// A round trip to the cache.
    fn ping<'a>(&'a self) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Publishes one radiusd instance's authentication counts of the last minute, for the
    /// admin dashboard. The entry expires after `ttl`, so a stopped instance drops out.
    fn put_auth_stats<'a>(
        &'a self,
        instance: &'a str,
        stats: AuthStats,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// The latest counts of every instance still publishing them.
    fn auth_stats<'a>(&'a self) -> BoxFuture<'a, Result<Vec<AuthStats>, CacheError>>;

    /// Records Access-Rejects, one pipeline for the batch: each is pushed onto its
    /// subscriber's list, which is cut to the newest `keep` and expires `ttl` after its
    /// last reject (see [`crate::activity`]).
    fn push_rejects<'a>(
        &'a self,
        rejects: &'a [RejectRecord],
        keep: usize,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// A subscriber's recorded Access-Rejects, newest first; entries that do not decode
    /// are left out.
    fn rejects<'a>(
        &'a self,
        subscriber_id: i64,
    ) -> BoxFuture<'a, Result<Vec<RejectRecord>, CacheError>>;

    /// Adds Access-Accepts and -Rejects to the counts of their minutes (`(unix minute,
    /// counts)`), one pipeline; each minute's counts expire `ttl` after its last update.
    fn add_auth_minutes<'a>(
        &'a self,
        minutes: &'a [(i64, AuthStats)],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// The counts of each of `minutes` (unix minutes), summed over every radiusd, in the
    /// order asked; zero for a minute nobody counted in.
    fn auth_minutes<'a>(
        &'a self,
        minutes: &'a [i64],
    ) -> BoxFuture<'a, Result<Vec<AuthStats>, CacheError>>;
}

/// One radiusd's Access-Request outcomes over the last minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Access-Accepts sent.
    pub accepts: u64,
    /// Access-Rejects sent.
    pub rejects: u64,
}

impl AuthStats {
    /// The stored form: `"<accepts> <rejects>"`.
    pub(crate) fn encode(self) -> String {
        format!("{} {}", self.accepts, self.rejects)
    }

    /// Parses the stored form; `None` for anything else.
    pub(crate) fn decode(s: &str) -> Option<AuthStats> {
        let (a, r) = s.split_once(' ')?;
        Some(AuthStats {
            accepts: a.parse().ok()?,
            rejects: r.parse().ok()?,
        })
    }
}

/// Format octet of a subscriber entry.
pub(crate) const FORMAT_SUBSCRIBER: u8 = 2;
/// Format octet of a negative marker or tombstone.
pub(crate) const FORMAT_NEGATIVE: u8 = 0;

const HAS_EXPIRES: u8 = 1 << 0;
const HAS_MAC: u8 = 1 << 1;
const HAS_IPV4: u8 = 1 << 2;
const HAS_IPV6: u8 = 1 << 3;
const HAS_DELEGATED: u8 = 1 << 4;
const HAS_FUP: u8 = 1 << 5;

/// Encodes a subscriber entry; `password_enc` is the AES-GCM ciphertext.
pub(crate) fn encode_subscriber(s: &Subscriber, password_enc: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + password_enc.len());
    out.push(FORMAT_SUBSCRIBER);
    out.extend_from_slice(&s.version.to_be_bytes());
    out.extend_from_slice(&s.id.to_be_bytes());
    out.push(match s.status {
        Status::Active => 0,
        Status::Suspended => 1,
        Status::Disabled => 2,
    });
    out.extend_from_slice(&s.plan_id.to_be_bytes());
    out.extend_from_slice(&s.simultaneous_use.to_be_bytes());
    let flags = [
        (s.expires_at.is_some(), HAS_EXPIRES),
        (s.mac.is_some(), HAS_MAC),
        (s.ipv4.is_some(), HAS_IPV4),
        (s.ipv6_prefix.is_some(), HAS_IPV6),
        (s.delegated_ipv6_prefix.is_some(), HAS_DELEGATED),
        (s.fup_until.is_some(), HAS_FUP),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .fold(0, |acc, (_, bit)| acc | bit);
    out.push(flags);
    if let Some(t) = s.expires_at {
        out.extend_from_slice(&t.to_be_bytes());
    }
    if let Some(m) = s.mac {
        out.extend_from_slice(&m.0);
    }
    if let Some(a) = s.ipv4 {
        out.extend_from_slice(&a.octets());
    }
    for p in [&s.ipv6_prefix, &s.delegated_ipv6_prefix]
        .into_iter()
        .flatten()
    {
        out.push(p.len());
        out.extend_from_slice(&p.addr().octets());
    }
    if let Some(t) = s.fup_until {
        out.extend_from_slice(&t.to_be_bytes());
    }
    // Passwords are at most 128 octets (RFC 2865 §5.2), far below u16::MAX.
    let len = u16::try_from(password_enc.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&password_enc[..usize::from(len)]);
    out
}

/// A tombstone for `version`.
pub(crate) fn encode_tombstone(version: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(FORMAT_NEGATIVE);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// A cursor over an entry that fails (instead of panicking) past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

/// Decodes a stored value for `username`, decrypting the password.
pub(crate) fn decode(
    username: &str,
    value: &[u8],
    keys: &Keyring,
) -> Result<CacheLookup, CacheError> {
    let corrupt = |reason| CacheError::Corrupt {
        username: username.to_owned(),
        reason,
    };
    match value.first() {
        None => return Err(corrupt("empty value")),
        Some(&FORMAT_NEGATIVE) => return Ok(CacheLookup::Negative),
        Some(&FORMAT_SUBSCRIBER) => {}
        Some(_) => return Ok(CacheLookup::Miss),
    }
    let short = || corrupt("truncated");
    let mut r = Reader(&value[1..]);
    let version = i64::from_be_bytes(r.take().ok_or_else(short)?);
    let id = i64::from_be_bytes(r.take().ok_or_else(short)?);
    let status = match r.take::<1>().ok_or_else(short)?[0] {
        0 => Status::Active,
        1 => Status::Suspended,
        2 => Status::Disabled,
        _ => return Err(corrupt("unknown status")),
    };
    let plan_id = i64::from_be_bytes(r.take().ok_or_else(short)?);
    let simultaneous_use = u32::from_be_bytes(r.take().ok_or_else(short)?);
    let [flags] = r.take::<1>().ok_or_else(short)?;
    let expires_at = if flags & HAS_EXPIRES != 0 {
        Some(i64::from_be_bytes(r.take().ok_or_else(short)?))
    } else {
        None
    };
    let mac = if flags & HAS_MAC != 0 {
        Some(MacAddr(r.take().ok_or_else(short)?))
    } else {
        None
    };
    let ipv4 = if flags & HAS_IPV4 != 0 {
        Some(Ipv4Addr::from(r.take::<4>().ok_or_else(short)?))
    } else {
        None
    };
    let mut prefix = |bit: u8| -> Result<Option<Ipv6Prefix>, CacheError> {
        if flags & bit == 0 {
            return Ok(None);
        }
        let [len] = r.take::<1>().ok_or_else(short)?;
        let addr = Ipv6Addr::from(r.take::<16>().ok_or_else(short)?);
        Ipv6Prefix::new(addr, len)
            .map(Some)
            .ok_or_else(|| corrupt("prefix length"))
    };
    let ipv6_prefix = prefix(HAS_IPV6)?;
    let delegated_ipv6_prefix = prefix(HAS_DELEGATED)?;
    let fup_until = if flags & HAS_FUP != 0 {
        Some(i64::from_be_bytes(r.take().ok_or_else(short)?))
    } else {
        None
    };
    let len = u16::from_be_bytes(r.take().ok_or_else(short)?);
    let sealed = r.bytes(usize::from(len)).ok_or_else(short)?;
    if !r.0.is_empty() {
        return Err(corrupt("trailing octets"));
    }
    let password = keys
        .decrypt(Purpose::SubscriberPassword, sealed)
        .map_err(|_| CacheError::Crypto)?;
    Ok(CacheLookup::Hit(Subscriber {
        id,
        username: username.to_owned(),
        password: Password::new(password.to_vec()),
        status,
        plan_id,
        expires_at,
        mac,
        ipv4,
        ipv6_prefix,
        delegated_ipv6_prefix,
        simultaneous_use,
        fup_until,
        version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keyring {
        Keyring::from_key(&[7; 32])
    }

    fn full() -> Subscriber {
        Subscriber {
            id: 42,
            username: "user000001".into(),
            password: Password::new("pw000001"),
            status: Status::Suspended,
            plan_id: 3,
            expires_at: Some(1_900_000_000),
            mac: Some(MacAddr([0x4c, 0x5e, 0x0c, 1, 2, 3])),
            ipv4: Some(Ipv4Addr::new(100, 64, 0, 9)),
            ipv6_prefix: Ipv6Prefix::new("2001:db8:1::".parse().unwrap(), 64),
            delegated_ipv6_prefix: Ipv6Prefix::new("2001:db8:2::".parse().unwrap(), 56),
            simultaneous_use: 2,
            fup_until: Some(1_901_000_000),
            version: 77,
        }
    }

    #[test]
    fn entries_round_trip_without_clear_text() {
        let keys = keys();
        for s in [
            full(),
            Subscriber {
                expires_at: None,
                mac: None,
                ipv4: None,
                ipv6_prefix: None,
                delegated_ipv6_prefix: None,
                status: Status::Active,
                ..full()
            },
        ] {
            let sealed = keys.encrypt(Purpose::SubscriberPassword, s.password.as_bytes());
            let value = encode_subscriber(&s, &sealed);
            assert_eq!(value[0], FORMAT_SUBSCRIBER);
            assert_eq!(value[1..9], 77i64.to_be_bytes());
            assert!(!value.windows(8).any(|w| w == b"pw000001"));
            assert_eq!(
                decode(&s.username, &value, &keys).unwrap(),
                CacheLookup::Hit(s.clone())
            );
            // Every truncation is an error, never a panic.
            for cut in 1..value.len() {
                assert!(decode("u", &value[..cut], &keys).is_err(), "cut {cut}");
            }
            let mut long = value.clone();
            long.push(0);
            assert!(decode("u", &long, &keys).is_err());
            let other = Keyring::from_key(&[8; 32]);
            assert!(matches!(
                decode("u", &value, &other),
                Err(CacheError::Crypto)
            ));
        }
        assert_eq!(decode("u", &[0], &keys).unwrap(), CacheLookup::Negative);
        assert_eq!(
            decode("u", &encode_tombstone(9), &keys).unwrap(),
            CacheLookup::Negative
        );
        assert_eq!(decode("u", &[9, 1, 2], &keys).unwrap(), CacheLookup::Miss);
        assert!(decode("u", &[], &keys).is_err());
    }

    #[test]
    fn invalidations_round_trip() {
        for inv in [
            Invalidation::Subscriber("user:with:colons".into()),
            Invalidation::Plan(12),
            Invalidation::Nas,
            Invalidation::All,
            Invalidation::Sessions(vec!["a".into(), "b\n\"c\"".into()]),
            Invalidation::Sessions(Vec::new()),
            Invalidation::AllSessions,
        ] {
            assert_eq!(Invalidation::parse(&inv.encode()), Some(inv));
        }
        assert_eq!(Invalidation::parse("plan:x"), None);
        assert_eq!(Invalidation::parse("bogus"), None);
        assert_eq!(Invalidation::parse("sessions:[1]"), None);
        assert_eq!(Invalidation::parse("sessions:"), None);
        assert_eq!(Invalidation::Subscriber("a".into()).encode(), "sub:a");
    }
}
