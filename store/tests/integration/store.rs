//! The data layer against real PostgreSQL and Redis (proisp_testing::TestEnv).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::{
    Builder, ClientLike as _, Config, KeysInterface as _, SetsInterface as _, Value,
};
use proisp_model::{Burst, FupAction, MacAddr, NasVendor, RateLimit, Status, Subscriber};
use proisp_radius::attr::Ipv6Prefix;
use proisp_radius::secret::{Secret, SharedSecret as _};
use proisp_store::{
    Cache as _, CacheError, CacheEvent, CacheLookup, Entity, Invalidation, Keyring, NewNas,
    NewPlan, NewSubscriber, RedisCache, RedisConfig, Store, StoreError,
};
use proisp_testing::{PrivateRedis, TestEnv, cached, wait_until};
use tokio::sync::mpsc;

pub(crate) async fn plan(store: &Store) -> i64 {
    store
        .create_plan(&NewPlan::new("p-10", 10_000, 5_000))
        .await
        .unwrap()
        .id
}

fn full_subscriber(plan_id: i64) -> NewSubscriber {
    NewSubscriber {
        status: Status::Suspended,
        expires_at: Some(1_900_000_000),
        mac: Some("4C:5E:0C:12:34:56".parse().unwrap()),
        ipv4: Some(Ipv4Addr::new(100, 64, 1, 2)),
        ipv6_prefix: Ipv6Prefix::new("2001:db8:1:2::".parse().unwrap(), 64),
        delegated_ipv6_prefix: Ipv6Prefix::new("2001:db8:100::".parse().unwrap(), 56),
        simultaneous_use: 3,
        name: Some("Ada Lovelace".into()),
        phone: Some("+44 20 7946 0000".into()),
        email: Some("ada@example.net".into()),
        address: Some("12 St James's Square".into()),
        ..NewSubscriber::new("alice", "s3cret-pass", plan_id)
    }
}

/// Waits for the next event that is not `Connected`/`Disconnected` noise, up to `within`.
pub(crate) async fn next_event(
    rx: &mut mpsc::Receiver<CacheEvent>,
    within: Duration,
) -> Option<CacheEvent> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

async fn raw_redis(url: &str) -> fred::prelude::Client {
    let client = Builder::from_config(Config::from_url(url).unwrap())
        .build()
        .unwrap();
    client.init().await.unwrap();
    client
}

#[tokio::test]
async fn migrations_apply_once_and_old_schemas_are_refused() {
    let env = TestEnv::start_unmigrated().await;
    let store = env.store().await;
    assert_eq!(store.schema_version().await.unwrap(), 0);
    let err = store.check_schema().await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooOld { found: 0, expected } if expected == Store::SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("proisp-adminapi migrate"), "{err}");

    // Two runners at once: the advisory lock lets one apply, the other finds nothing.
    let other = env.store().await;
    let (a, b) = tokio::join!(store.migrate(), other.migrate());
    let mut applied = [a.unwrap(), b.unwrap()];
    applied.sort();
    let all: Vec<i32> = Store::migrations().iter().map(|m| m.version).collect();
    assert_eq!(applied, [vec![], all]);
    assert_eq!(store.schema_version().await.unwrap(), Store::SCHEMA_VERSION);
    assert_eq!(store.check_schema().await.unwrap(), Store::SCHEMA_VERSION);
    assert!(store.migrate().await.unwrap().is_empty());

    // Every lookup path has its index.
    let sql = env.sql().await;
    let names: Vec<String> = sql
        .query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for want in [
        "subscribers_username_key",
        "subscribers_ipv4_key",
        "subscribers_plan_id_idx",
        "subscribers_expires_at_idx",
        "subscribers_status_idx",
        "subscribers_mac_idx",
        "nas_address_key",
        "plans_name_key",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "missing index {want}: {names:?}"
        );
    }
    let rows = sql
        .query("SELECT version, name FROM schema_migrations", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), Store::migrations().len());
}

#[tokio::test]
async fn plans_round_trip() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let mut p = NewPlan::new("custom-50", 50_000, 20_000);
    p.rate.burst = Some(Burst {
        download_kbps: 100_000,
        upload_kbps: 40_000,
        threshold_download_kbps: 40_000,
        threshold_upload_kbps: 16_000,
        time_secs: 16,
    });
    p.rate.priority = Some(5);
    p.rate.min = Some((4_000, 2_000));
    p.quota_bytes = Some(50_000_000_000);
    p.fup_rate = Some(RateLimit {
        download_kbps: 2_000,
        upload_kbps: 1_000,
        ..RateLimit::default()
    });
    p.fup_action = FupAction::Disconnect;
    p.session_timeout_secs = Some(86_400);
    p.idle_timeout_secs = Some(600);
    p.interim_interval_secs = 120;
    p.pool = Some("pool-a".into());
    p.validity_days = 31;
    p.price_cents = 2999;
    let created = store.create_plan(&p).await.unwrap();
    assert_eq!(created.rate, p.rate);
    assert_eq!(created.fup_rate, p.fup_rate);
    assert_eq!(created.quota_bytes, p.quota_bytes);
    assert_eq!(created.pool.as_deref(), Some("pool-a"));
    assert_eq!(store.all_plans().await.unwrap(), vec![created.clone()]);

    let plain = store
        .create_plan(&NewPlan::new("basic", 10_000, 5_000))
        .await
        .unwrap();
    assert_eq!(plain.rate.to_mikrotik(), "5M/10M");
    assert_eq!(plain.interim_interval_secs, 300);

    let mut changed = p.clone();
    changed.rate.download_kbps = 60_000;
    let updated = store.update_plan(created.id, &changed).await.unwrap();
    assert!(updated.version > created.version);
    assert_eq!(updated.rate.download_kbps, 60_000);

    let dup = store
        .create_plan(&NewPlan::new("basic", 1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&dup, StoreError::Conflict { what } if what == "plan.name"),
        "{dup}"
    );
    assert!(matches!(
        store.update_plan(999_999, &changed).await,
        Err(StoreError::NotFound {
            entity: Entity::Plan
        })
    ));
    let mut bad = NewPlan::new("bad", 1, 1);
    bad.rate.priority = Some(9);
    assert!(matches!(
        store.create_plan(&bad).await,
        Err(StoreError::Invalid { field, .. }) if field == "rate.priority"
    ));
    let mut too_fast = NewPlan::new("fast", u32::MAX, 1);
    too_fast.rate.download_kbps = u32::MAX;
    assert!(matches!(
        store.create_plan(&too_fast).await,
        Err(StoreError::Invalid { .. })
    ));
}

#[tokio::test]
async fn nas_round_trip_with_encrypted_secrets() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let mut n = NewNas::new("bras-1", "10.0.0.1".parse().unwrap(), b"testing123");
    let created = store.create_nas(&n).await.unwrap();
    assert_eq!(created.secret.as_bytes(), b"testing123");
    assert_eq!(created.prefix_len, 32);
    assert_eq!(created.coa_port, 3799);
    assert!(created.require_message_authenticator);

    let range = NewNas {
        network: "192.0.2.0".parse().unwrap(),
        prefix_len: 24,
        vendor: NasVendor::Cisco,
        coa_port: 1700,
        require_message_authenticator: false,
        ..NewNas::new("pool", IpAddr::from([0, 0, 0, 0]), b"another secret")
    };
    let range = store.create_nas(&range).await.unwrap();
    assert!(range.contains("192.0.2.77".parse().unwrap()));
    assert_eq!(range.vendor, NasVendor::Cisco);

    let all = store.all_nas().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].secret.as_bytes(), b"testing123");
    assert_eq!(all[1].secret.as_bytes(), b"another secret");

    let raw: Vec<u8> = env
        .sql()
        .await
        .query_one("SELECT secret_enc FROM nas WHERE id = $1", &[&created.id])
        .await
        .unwrap()
        .get(0);
    assert!(!raw.windows(10).any(|w| w == b"testing123"));

    n.secret = Secret::new(b"rotated");
    let updated = store.update_nas(created.id, &n).await.unwrap();
    assert_eq!(updated.secret.as_bytes(), b"rotated");
    assert!(updated.version > created.version);

    let dup = store
        .create_nas(&NewNas::new("again", "10.0.0.1".parse().unwrap(), b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&dup, StoreError::Conflict { what } if what == "nas.network"),
        "{dup}"
    );
    let host_bits = NewNas {
        prefix_len: 24,
        ..NewNas::new("bad", "10.9.9.9".parse().unwrap(), b"x")
    };
    assert!(matches!(
        store.create_nas(&host_bits).await,
        Err(StoreError::Invalid { field, .. }) if field == "network"
    ));

    store.delete_nas(created.id).await.unwrap();
    assert!(matches!(
        store.delete_nas(created.id).await,
        Err(StoreError::NotFound {
            entity: Entity::Nas
        })
    ));
    assert_eq!(store.all_nas().await.unwrap().len(), 1);

    // A NAS secret copied into a password column does not decrypt as a password.
    let plan_id = plan(&store).await;
    store
        .create_subscriber(&NewSubscriber::new("swapped", "pw", plan_id))
        .await
        .unwrap();
    let sql = env.sql().await;
    sql.execute(
        "UPDATE subscribers SET password_enc = (SELECT secret_enc FROM nas LIMIT 1) \
         WHERE username = 'swapped'",
        &[],
    )
    .await
    .unwrap();
    assert!(matches!(
        store.subscriber("swapped").await,
        Err(StoreError::Crypto)
    ));
}

#[tokio::test]
async fn subscribers_round_trip_encrypted_and_soft_deleted() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let plan_id = plan(&store).await;
    let new = full_subscriber(plan_id);
    let created = store.create_subscriber(&new).await.unwrap();
    let found = store.subscriber("alice").await.unwrap().unwrap();
    assert_eq!(found, created);
    assert_eq!(found.password.as_bytes(), b"s3cret-pass");
    assert_eq!(found.status, Status::Suspended);
    assert_eq!(found.expires_at, Some(1_900_000_000));
    assert_eq!(
        found.mac,
        Some(MacAddr([0x4c, 0x5e, 0x0c, 0x12, 0x34, 0x56]))
    );
    assert_eq!(found.ipv4, Some(Ipv4Addr::new(100, 64, 1, 2)));
    assert_eq!(found.ipv6_prefix.unwrap().to_string(), "2001:db8:1:2::/64");
    assert_eq!(
        found.delegated_ipv6_prefix.unwrap().to_string(),
        "2001:db8:100::/56"
    );
    assert_eq!(found.simultaneous_use, 3);
    // Case-sensitive, like FreeRADIUS.
    assert!(store.subscriber("Alice").await.unwrap().is_none());

    // The database holds a ciphertext, not the password.
    let sql = env.sql().await;
    let raw: Vec<u8> = sql
        .query_one(
            "SELECT password_enc FROM subscribers WHERE username = 'alice'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(raw.len() >= 28 + 11);
    assert!(!raw.windows(11).any(|w| w == b"s3cret-pass"));

    // Another key cannot read it.
    let wrong = Store::connect(&env.store_config(), Arc::new(Keyring::from_key(&[9; 32])))
        .await
        .unwrap();
    assert!(matches!(
        wrong.subscriber("alice").await,
        Err(StoreError::Crypto)
    ));

    // Unique name and static address.
    let dup = store.create_subscriber(&new).await.unwrap_err();
    assert!(
        matches!(&dup, StoreError::Conflict { what } if what == "subscriber.username"),
        "{dup}"
    );
    let same_ip = NewSubscriber {
        ipv4: new.ipv4,
        ..NewSubscriber::new("bob", "pw", plan_id)
    };
    let dup = store.create_subscriber(&same_ip).await.unwrap_err();
    assert!(
        matches!(&dup, StoreError::Conflict { what } if what == "subscriber.ipv4"),
        "{dup}"
    );
    let no_plan = store
        .create_subscriber(&NewSubscriber::new("carol", "pw", 999_999))
        .await
        .unwrap_err();
    assert!(
        matches!(&no_plan, StoreError::Invalid { field, .. } if field == "plan_id"),
        "{no_plan}"
    );
    assert!(matches!(
        store.create_subscriber(&NewSubscriber::new("", "pw", plan_id)).await,
        Err(StoreError::Invalid { field, .. }) if field == "username"
    ));

    // Status and full updates bump the version.
    let active = store.set_status("alice", Status::Active).await.unwrap();
    assert_eq!(active.status, Status::Active);
    assert!(active.version > created.version);
    let mut changed = new.clone();
    changed.password = proisp_model::Password::new("n3w");
    changed.mac = None;
    changed.ipv4 = None;
    let updated = store.update_subscriber("alice", &changed).await.unwrap();
    assert_eq!(updated.password.as_bytes(), b"n3w");
    assert_eq!(updated.mac, None);
    assert!(updated.version > active.version);
    assert!(matches!(
        store.set_status("nobody", Status::Active).await,
        Err(StoreError::NotFound {
            entity: Entity::Subscriber
        })
    ));

    // Rename.
    let renamed = NewSubscriber {
        username: "alice2".into(),
        ..changed.clone()
    };
    store.update_subscriber("alice", &renamed).await.unwrap();
    assert!(store.subscriber("alice").await.unwrap().is_none());
    assert!(store.subscriber("alice2").await.unwrap().is_some());

    // Soft delete: invisible to auth, the row stays, the name is free again.
    store.delete_subscriber("alice2").await.unwrap();
    assert!(store.subscriber("alice2").await.unwrap().is_none());
    assert!(matches!(
        store.delete_subscriber("alice2").await,
        Err(StoreError::NotFound {
            entity: Entity::Subscriber
        })
    ));
    let kept: i64 = sql
        .query_one(
            "SELECT count(*) FROM subscribers WHERE username = 'alice2' AND deleted_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
    let again = store
        .create_subscriber(&NewSubscriber::new("alice2", "pw", plan_id))
        .await
        .unwrap();
    assert!(again.version > updated.version);
}

pub(crate) fn sample(version: i64) -> Subscriber {
    Subscriber {
        id: 1,
        username: "u1".into(),
        password: proisp_model::Password::new("pw-in-cache"),
        status: Status::Active,
        plan_id: 2,
        expires_at: None,
        mac: None,
        ipv4: Some(Ipv4Addr::new(10, 1, 2, 3)),
        ipv6_prefix: None,
        delegated_ipv6_prefix: None,
        simultaneous_use: 1,
        fup_until: None,
        version,
    }
}

#[tokio::test]
async fn cache_entries_are_versioned_and_hold_no_clear_text() {
    let env = TestEnv::start().await;
    let cache = env.cache().await;
    cache.ping().await.unwrap();
    assert_eq!(cached(&cache, "u1").await.unwrap(), CacheLookup::Miss);

    // Negative entries: written only where nothing is.
    cache.put_negatives(&["u1"]).await.unwrap();
    assert_eq!(cached(&cache, "u1").await.unwrap(), CacheLookup::Negative);

    // A put replaces a negative entry.
    cache.put_subscriber(&sample(5)).await.unwrap();
    assert_eq!(
        cached(&cache, "u1").await.unwrap(),
        CacheLookup::Hit(sample(5))
    );
    cache.put_negatives(&["u1"]).await.unwrap();
    assert_eq!(
        cached(&cache, "u1").await.unwrap(),
        CacheLookup::Hit(sample(5))
    );

    // A stale put never overwrites a newer entry; a newer one does.
    let mut stale = sample(3);
    stale.status = Status::Disabled;
    cache.put_subscriber(&stale).await.unwrap();
    assert_eq!(
        cached(&cache, "u1").await.unwrap(),
        CacheLookup::Hit(sample(5))
    );
    cache.put_subscriber(&sample(8)).await.unwrap();
    assert_eq!(
        cached(&cache, "u1").await.unwrap(),
        CacheLookup::Hit(sample(8))
    );

    // Redis holds the ciphertext only, and the documented layout.
    let raw = raw_redis(&env.redis_url).await;
    let key = format!("{}sub:u1", env.key_prefix);
    let value: Value = raw.get(&key).await.unwrap();
    let bytes = value.as_bytes().unwrap().to_vec();
    assert_eq!(bytes[0], 2, "format 2");
    assert_eq!(bytes[1..9], 8i64.to_be_bytes());
    assert!(!bytes.windows(11).any(|w| w == b"pw-in-cache"));
    // The one-hour TTL, less up to a quarter so entries filled together expire apart.
    let ttl: i64 = raw.pttl(&key).await.unwrap();
    assert!(ttl > 2_690_000 && ttl <= 3_600_000, "{ttl}");
    let mut ttls = Vec::new();
    for i in 0..20 {
        let mut s = sample(1);
        s.username = format!("spread{i}");
        cache.put_subscriber(&s).await.unwrap();
        let key = format!("{}sub:spread{i}", env.key_prefix);
        let ttl: i64 = raw.pttl(&key).await.unwrap();
        ttls.push(ttl);
    }
    let spread = ttls.iter().max().unwrap() - ttls.iter().min().unwrap();
    assert!(
        spread > 60_000,
        "entries put together expire together: {ttls:?}"
    );

    // A tombstone reads as negative and refuses older puts, not newer ones.
    cache.put_deleted("u1", 9).await.unwrap();
    assert_eq!(cached(&cache, "u1").await.unwrap(), CacheLookup::Negative);
    cache.put_subscriber(&sample(8)).await.unwrap();
    cache.put_subscriber(&sample(9)).await.unwrap();
    assert_eq!(cached(&cache, "u1").await.unwrap(), CacheLookup::Negative);
    cache.put_subscriber(&sample(10)).await.unwrap();
    assert_eq!(
        cached(&cache, "u1").await.unwrap(),
        CacheLookup::Hit(sample(10))
    );
    // A tombstone older than the entry is refused.
    cache.put_deleted("u1", 4).await.unwrap();
    assert_eq!(
        cached(&cache, "u1").await.unwrap(),
        CacheLookup::Hit(sample(10))
    );

    cache.remove_subscriber("u1").await.unwrap();
    assert_eq!(cached(&cache, "u1").await.unwrap(), CacheLookup::Miss);

    // The script survives SCRIPT FLUSH (EVALSHA falls back to EVAL).
    let _: Value = raw
        .custom(fred::cmd!("SCRIPT"), vec!["FLUSH"])
        .await
        .unwrap();
    cache.put_subscriber(&sample(11)).await.unwrap();
    assert_eq!(
        cached(&cache, "u1").await.unwrap(),
        CacheLookup::Hit(sample(11))
    );

    // Another key cannot read the entry: a miss, so PostgreSQL answers instead.
    let other = RedisCache::connect(&env.cache_config(), Arc::new(Keyring::from_key(&[3; 32])))
        .await
        .unwrap();
    assert_eq!(cached(&other, "u1").await.unwrap(), CacheLookup::Miss);
    let _: i64 = raw.del(&key).await.unwrap();
}

#[tokio::test]
async fn batched_reads_answer_each_name_and_skip_only_the_unusable_entries() {
    let env = TestEnv::start().await;
    let cache = env.cache().await;
    let raw = raw_redis(&env.redis_url).await;
    let named = |name: &str, version| Subscriber {
        username: name.into(),
        ..sample(version)
    };
    let (hit, newer) = (named("hit", 4), named("newer", 6));
    cache.put_subscribers(&[&hit, &newer]).await.unwrap();
    cache.put_negatives(&["negative", "hit"]).await.unwrap();
    // A stale batch put keeps the newer entry, and a negative marker never replaces one.
    cache
        .put_subscribers(&[&named("newer", 5), &named("fresh", 1)])
        .await
        .unwrap();
    let key = |name: &str| format!("{}sub:{name}", env.key_prefix);
    let truncated = Value::Bytes(vec![2, 0, 0].into());
    let _: Value = raw
        .set(key("truncated"), truncated, None, None, false)
        .await
        .unwrap();
    let _: i64 = raw.sadd(key("a-set"), "x").await.unwrap();

    let names = [
        "hit",
        "missing",
        "truncated",
        "negative",
        "a-set",
        "newer",
        "hit",
        "fresh",
    ];
    assert_eq!(
        cache.get_subscribers(&names).await.unwrap(),
        vec![
            CacheLookup::Hit(hit.clone()),
            CacheLookup::Miss,
            CacheLookup::Miss,
            CacheLookup::Negative,
            CacheLookup::Miss,
            CacheLookup::Hit(newer),
            CacheLookup::Hit(hit),
            CacheLookup::Hit(named("fresh", 1)),
        ]
    );
    assert!(cache.get_subscribers(&[]).await.unwrap().is_empty());
    // Negative markers carry the negative TTL.
    let ttl: i64 = raw.pttl(key("negative")).await.unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
}

#[tokio::test]
async fn store_writes_update_redis_and_reach_subscribers_within_a_second() {
    let env = TestEnv::start().await;
    let (store, cache) = env.store_with_cache().await;
    let mut events = cache.subscribe();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(5)).await,
        Some(CacheEvent::Connected)
    );
    let plan_id = plan(&store).await;
    assert_eq!(
        next_event(&mut events, Duration::from_secs(1)).await,
        Some(CacheEvent::Invalidate(Invalidation::Plan(plan_id)))
    );

    // radiusd looked "dave" up before he existed.
    cache.put_negatives(&["dave"]).await.unwrap();
    let created = store
        .create_subscriber(&NewSubscriber::new("dave", "pw-dave", plan_id))
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(1)).await,
        Some(CacheEvent::Invalidate(Invalidation::Subscriber(
            "dave".into()
        )))
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        cached(&*cache, "dave").await.unwrap(),
        CacheLookup::Hit(created.clone())
    );

    // A lookup that read PostgreSQL before the change cannot overwrite it afterwards.
    let suspended = store.set_status("dave", Status::Suspended).await.unwrap();
    cache.put_subscriber(&created).await.unwrap();
    assert_eq!(
        cached(&*cache, "dave").await.unwrap(),
        CacheLookup::Hit(suspended.clone())
    );

    // Nor bring back a deleted subscriber.
    store.delete_subscriber("dave").await.unwrap();
    cache.put_subscriber(&suspended).await.unwrap();
    assert_eq!(
        cached(&*cache, "dave").await.unwrap(),
        CacheLookup::Negative
    );
    let recreated = store
        .create_subscriber(&NewSubscriber::new("dave", "pw-2", plan_id))
        .await
        .unwrap();
    assert_eq!(
        cached(&*cache, "dave").await.unwrap(),
        CacheLookup::Hit(recreated)
    );

    let mut seen = Vec::new();
    while let Some(e) = next_event(&mut events, Duration::from_millis(300)).await {
        seen.push(e);
    }
    let dave = CacheEvent::Invalidate(Invalidation::Subscriber("dave".into()));
    assert_eq!(seen, vec![dave.clone(), dave.clone(), dave]);

    store
        .create_nas(&NewNas::new("n", "10.0.0.1".parse().unwrap(), b"s"))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(1)).await,
        Some(CacheEvent::Invalidate(Invalidation::Nas))
    );
    cache.publish(&Invalidation::All).await.unwrap();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(1)).await,
        Some(CacheEvent::Invalidate(Invalidation::All))
    );
}

#[tokio::test]
async fn redis_outage_fails_fast_and_the_subscription_comes_back() {
    let env = TestEnv::start().await;
    let mut redis = PrivateRedis::start().await.unwrap();
    let cfg = RedisConfig {
        url: redis.url(),
        ..env.cache_config()
    };
    let cache = Arc::new(RedisCache::connect(&cfg, env.keys.clone()).await.unwrap());
    let store = env.store().await.with_cache(cache.clone());
    let mut events = cache.subscribe();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(5)).await,
        Some(CacheEvent::Connected)
    );
    let plan_id = plan(&store).await;
    assert_eq!(
        next_event(&mut events, Duration::from_secs(1)).await,
        Some(CacheEvent::Invalidate(Invalidation::Plan(plan_id)))
    );
    cache.put_subscriber(&sample(1)).await.unwrap();

    redis.stop().await;
    assert_eq!(
        next_event(&mut events, Duration::from_secs(5)).await,
        Some(CacheEvent::Disconnected)
    );
    // Commands fail within their command timeout (250 ms) instead of waiting for Redis to
    // come back, which it will not: the bound below only tells "fails" from "hangs".
    let fail_fast = async {
        for _ in 0..3 {
            let err = cached(&*cache, "u1").await.unwrap_err();
            assert!(err.is_unavailable(), "{err}");
        }
        assert!(cache.put_subscriber(&sample(2)).await.is_err());
        assert!(cache.ping().await.is_err());
    };
    tokio::time::timeout(Duration::from_secs(20), fail_fast)
        .await
        .expect("commands waited for Redis to come back");
    // PostgreSQL is the truth: writes succeed with Redis down.
    store
        .create_subscriber(&NewSubscriber::new("erin", "pw", plan_id))
        .await
        .unwrap();

    redis.restart().await.unwrap();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(10)).await,
        Some(CacheEvent::Connected)
    );
    // The command client reconnects by itself too.
    assert!(
        wait_until(Duration::from_secs(10), async || cache.ping().await.is_ok()).await,
        "command client did not reconnect"
    );
    assert_eq!(cached(&*cache, "u1").await.unwrap(), CacheLookup::Miss);
    store.set_status("erin", Status::Disabled).await.unwrap();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(1)).await,
        Some(CacheEvent::Invalidate(Invalidation::Subscriber(
            "erin".into()
        )))
    );
}

#[tokio::test]
async fn cache_starts_while_redis_is_down() {
    let env = TestEnv::start().await;
    let mut redis = PrivateRedis::start().await.unwrap();
    let cfg = RedisConfig {
        url: redis.url(),
        connect_timeout: Duration::from_millis(300),
        ..env.cache_config()
    };
    redis.stop().await;
    let cache = RedisCache::connect(&cfg, env.keys.clone()).await.unwrap();
    assert!(cached(&cache, "x").await.unwrap_err().is_unavailable());
    let mut events = cache.subscribe();
    redis.restart().await.unwrap();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(10)).await,
        Some(CacheEvent::Connected)
    );
    assert!(
        wait_until(Duration::from_secs(10), async || cache.ping().await.is_ok()).await,
        "command client did not connect"
    );
    assert!(matches!(
        RedisCache::connect(
            &RedisConfig {
                url: "not a url".into(),
                ..cfg
            },
            env.keys.clone()
        )
        .await,
        Err(CacheError::Config(_))
    ));
}
#[tokio::test]
async fn unavailable_database_is_reported_as_such() {
    let keys = Arc::new(Keyring::from_key(&[1; 32]));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = proisp_store::StoreConfig {
        connect_timeout: Duration::from_millis(500),
        ..proisp_store::StoreConfig::new(format!("postgres://postgres@127.0.0.1:{port}/x"))
    };
    let err = Store::connect(&cfg, keys.clone()).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let lazy = Store::connect_lazy(&cfg, keys.clone()).unwrap();
    assert!(lazy.subscriber("a").await.unwrap_err().is_unavailable());
    let bad = proisp_store::StoreConfig::new("::not a url::");
    assert!(matches!(
        Store::connect_lazy(&bad, keys).map(|_| ()),
        Err(StoreError::Invalid { .. })
    ));
}

#[tokio::test]
async fn postgres_outage_is_unavailable_and_the_pool_recovers() {
    let mut pg = proisp_testing::PrivatePostgres::start().await.unwrap();
    let cfg = proisp_store::StoreConfig {
        connect_timeout: Duration::from_secs(1),
        ..proisp_store::StoreConfig::new(pg.url("postgres"))
    };
    let store = Store::connect(&cfg, Arc::new(Keyring::from_key(&[2; 32])))
        .await
        .unwrap();
    let all: Vec<i32> = Store::migrations().iter().map(|m| m.version).collect();
    assert_eq!(store.migrate().await.unwrap(), all);
    let plan_id = plan(&store).await;
    store
        .create_subscriber(&NewSubscriber::new("frank", "pw", plan_id))
        .await
        .unwrap();

    pg.stop().await;
    let started = Instant::now();
    let err = store.subscriber("frank").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    pg.restart().await.unwrap();
    // Broken pooled connections are replaced; the data survived.
    let mut found = None;
    let recovered = wait_until(Duration::from_secs(10), async || {
        match store.subscriber("frank").await {
            Ok(subscriber) => {
                found = subscriber;
                true
            }
            Err(e) => {
                assert!(e.is_unavailable(), "{e}");
                false
            }
        }
    })
    .await;
    assert!(recovered, "the pool did not recover");
    assert_eq!(found.unwrap().password.as_bytes(), b"pw");
}
