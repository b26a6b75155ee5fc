//! Demo data for `proisp-adminapi seed` and benchmarks: plans, NAS devices and subscribers
//! `user%06d` / `pw%06d` (the pattern proisp-loadtest logs in with).
//!
//! Idempotent: what exists is left alone, so a second run changes nothing. Fast: the
//! subscribers go in with binary COPY into a temporary table and one
//! `INSERT … ON CONFLICT DO NOTHING`, and their passwords are encrypted (and the COPY
//! stream encoded) on every core while PostgreSQL works, so a million rows take seconds.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::{BufMut as _, Bytes, BytesMut};
use futures_util::SinkExt as _;
use tokio::sync::mpsc;

use proisp_model::{Burst, FupAction, NasTls, RateLimit};
use proisp_radius::secret::{Secret, SharedSecret as _};
use proisp_store::{Keyring, NewNas, NewPlan, Purpose, Store, StoreError};

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Subscribers `user000001` … `user{N:06}`.
    pub subscribers: u64,
    /// The demo plan they are on (one of [`demo_plans`]).
    pub plan: String,
    /// NAS addresses to register (each one host).
    pub nas: Vec<IpAddr>,
    /// Their shared secret.
    pub secret: Vec<u8>,
    /// The RadSec certificate identity of the first NAS (`make run` names the client
    /// certificate of var/pki/nas.pem), if it is to have one.
    pub tls_identity: Option<String>,
}

impl Default for SeedOptions {
    fn default() -> SeedOptions {
        SeedOptions {
            subscribers: 1000,
            plan: DEFAULT_PLAN.to_owned(),
            nas: vec![IpAddr::from([127, 0, 0, 1])],
            secret: b"testing123".to_vec(),
            tls_identity: None,
        }
    }
}

/// What a seed run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Plans created (names); existing ones are left alone.
    pub plans_created: Vec<String>,
    /// NAS devices created.
    pub nas_created: Vec<IpAddr>,
    /// NAS devices whose secret was changed to the one given.
    pub nas_updated: Vec<IpAddr>,
    /// Subscribers inserted.
    pub subscribers_created: u64,
    /// Subscribers of the range that already existed.
    pub subscribers_present: u64,
}

/// The plan subscribers go on unless told otherwise.
pub const DEFAULT_PLAN: &str = "home-50";

/// Rows per COPY chunk handed from the encrypting threads to the connection.
const CHUNK_ROWS: u64 = 8192;

/// Imports at least this large into a smaller table rebuild the indexes afterwards.
const BULK_ROWS: u64 = 100_000;

/// The demo plans: a plain one, one with burst (and priority), one with a quota and a
/// fair-usage speed.
pub fn demo_plans() -> Vec<NewPlan> {
    let basic = NewPlan {
        price_cents: 1500,
        ..NewPlan::new("basic-10", 10_000, 5_000)
    };
    let mut home = NewPlan {
        price_cents: 3000,
        idle_timeout_secs: Some(3600),
        ..NewPlan::new(DEFAULT_PLAN, 50_000, 20_000)
    };
    home.rate.burst = Some(Burst {
        download_kbps: 100_000,
        upload_kbps: 40_000,
        threshold_download_kbps: 40_000,
        threshold_upload_kbps: 16_000,
        time_secs: 16,
    });
    home.rate.priority = Some(8);
    let fup = NewPlan {
        quota_bytes: Some(100 * 1_000_000_000),
        fup_rate: Some(RateLimit {
            download_kbps: 5_000,
            upload_kbps: 2_000,
            ..RateLimit::default()
        }),
        fup_action: FupAction::Throttle,
        session_timeout_secs: Some(86_400),
        pool: Some("pppoe-pool".to_owned()),
        price_cents: 4500,
        ..NewPlan::new("fup-100", 100_000, 50_000)
    };
    vec![basic, home, fup]
}

/// The seed pattern's name for number `n`.
pub fn seed_username(n: u64) -> String {
    format!("user{n:06}")
}

/// The seed pattern's password for number `n`.
pub fn seed_password(n: u64) -> String {
    format!("pw{n:06}")
}

/// Seeds demo data (see the module docs).
pub async fn seed(store: &Store, o: &SeedOptions) -> Result<SeedReport, StoreError> {
    let mut report = SeedReport::default();
    for plan in demo_plans() {
        if store.plan_by_name(&plan.name).await?.is_none() {
            match store.create_plan(&plan).await {
                Ok(p) => report.plans_created.push(p.name),
                // Another seed run got there first.
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let plan = store
        .plan_by_name(&o.plan)
        .await?
        .ok_or_else(|| StoreError::invalid("plan", format!("no plan named {:?}", o.plan)))?;

    if !o.nas.is_empty() && o.secret.is_empty() {
        return Err(StoreError::invalid("secret", "must not be empty"));
    }
    for (i, &addr) in o.nas.iter().enumerate() {
        let identity = o.tls_identity.as_ref().filter(|_| i == 0);
        let existing =
            store.all_nas().await?.into_iter().find(|n| {
                n.network == addr && n.prefix_len == if addr.is_ipv4() { 32 } else { 128 }
            });
        match existing {
            None => {
                let mut nas = NewNas::new(format!("nas-{addr}"), addr, &o.secret);
                nas.tls.identity = identity.cloned();
                store.create_nas(&nas).await?;
                report.nas_created.push(addr);
            }
            Some(n)
                if n.secret.as_bytes() != o.secret.as_slice()
                    || identity.is_some_and(|id| n.tls.identity.as_ref() != Some(id)) =>
            {
                let tls = match identity {
                    Some(id) => NasTls {
                        identity: Some(id.clone()),
                        ..n.tls.clone()
                    },
                    None => n.tls.clone(),
                };
                let update = NewNas {
                    name: n.name,
                    network: n.network,
                    prefix_len: n.prefix_len,
                    secret: Secret::new(&o.secret),
                    vendor: n.vendor,
                    coa_port: n.coa_port,
                    require_message_authenticator: n.require_message_authenticator,
                    tls,
                    coa_lane: n.coa_lane,
                };
                store.update_nas(n.id, &update).await?;
                report.nas_updated.push(addr);
            }
            Some(_) => {}
        }
    }

    if o.subscribers > 0 {
        let present = count_seeded(store, o.subscribers).await?;
        report.subscribers_present = present;
        if present < o.subscribers {
            report.subscribers_created =
                import_seeded(store, plan.id, o.subscribers, present).await?;
        }
    }
    Ok(report)
}

/// How many of `user000001` … `user{n}` exist (live).
async fn count_seeded(store: &Store, n: u64) -> Result<u64, StoreError> {
    let n = i64::try_from(n).map_err(|_| StoreError::invalid("subscribers", "too many"))?;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    let row = tx
        .query_one(
            "SELECT count(*) FROM generate_series(1::int8, $1::int8) g \
             JOIN subscribers s ON s.deleted_at IS NULL AND s.username = 'user' || \
             CASE WHEN g < 1000000 THEN lpad(g::text, 6, '0') ELSE g::text END",
            &[&n],
        )
        .await?;
    tx.commit().await?;
    let count: i64 = row.get(0);
    Ok(u64::try_from(count).unwrap_or(0))
}

/// COPYs `user000001` … `user{n}` into a temporary table and inserts the missing ones.
async fn import_seeded(
    store: &Store,
    plan_id: i64,
    n: u64,
    present: u64,
) -> Result<u64, StoreError> {
    let started = std::time::Instant::now();
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    // A million rows outlast the pool's statement_timeout; this transaction only.
    tx.batch_execute(
        "SET LOCAL statement_timeout = 0; CREATE TEMPORARY TABLE seed_subscribers (username text NOT NULL, \
         password_enc bytea NOT NULL) ON COMMIT DROP",
    )
    .await?;
    let sink = tx
        .copy_in::<_, Bytes>(
            "COPY seed_subscribers (username, password_enc) FROM STDIN (FORMAT binary)",
        )
        .await?;
    futures_util::pin_mut!(sink);

    let (chunks_tx, mut chunks_rx) = mpsc::channel::<Bytes>(8);
    let workers = std::thread::available_parallelism().map_or(2, usize::from) as u64;
    for w in 0..workers {
        let keys = Arc::clone(store.keys());
        let chunks_tx = chunks_tx.clone();
        tokio::task::spawn_blocking(move || {
            let chunks = n.div_ceil(CHUNK_ROWS);
            let mut c = w;
            while c < chunks {
                let first = c * CHUNK_ROWS + 1;
                let last = (first + CHUNK_ROWS - 1).min(n);
                if chunks_tx
                    .blocking_send(copy_rows(&keys, first..=last))
                    .is_err()
                {
                    return;
                }
                c += workers;
            }
        });
    }
    drop(chunks_tx);

    // Binary COPY (PostgreSQL docs, "COPY … Binary Format"): signature, flags,
    // header extension length; tuples; a -1 field count as trailer.
    let mut header = BytesMut::with_capacity(19);
    header.put_slice(b"PGCOPY\n\xff\r\n\0");
    header.put_i32(0);
    header.put_i32(0);
    sink.send(header.freeze()).await?;
    while let Some(chunk) = chunks_rx.recv().await {
        sink.send(chunk).await?;
    }
    sink.send(Bytes::from_static(&[0xff, 0xff])).await?;
    sink.as_mut().finish().await?;
    tracing::debug!(elapsed = ?started.elapsed(), rows = n, "seed: COPY done");

    let missing = n.saturating_sub(present);
    // No other writer may slip a seed name in between the anti-join and the insert
    // (readers are not blocked); a second seed run waits here.
    tx.batch_execute("LOCK TABLE subscribers IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    // Into a table that is mostly being created now (make run, benchmarks), loading
    // first and then building the secondary indexes and checking the plan foreign key
    // in one pass each is several times faster than maintaining them row by row. It
    // locks the table against readers until the commit, which is why a populated table
    // keeps them.
    let mut rebuild = Vec::new();
    if missing >= BULK_ROWS {
        let existing: i64 = tx
            .query_one(
                "SELECT count(*) FROM (SELECT 1 FROM subscribers LIMIT $1) s",
                &[&i64::try_from(missing).unwrap_or(i64::MAX)],
            )
            .await?
            .get(0);
        if u64::try_from(existing).unwrap_or(u64::MAX) < missing {
            for row in tx
                .query(
                    "SELECT format('DROP INDEX %I', c.relname), pg_get_indexdef(i.indexrelid) \
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     WHERE i.indrelid = 'subscribers'::regclass AND NOT i.indisprimary \
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
                     UNION ALL \
                     SELECT format('ALTER TABLE subscribers DROP CONSTRAINT %I', conname), \
                     format('ALTER TABLE subscribers ADD CONSTRAINT %I %s', conname, \
                     pg_get_constraintdef(oid)) \
                     FROM pg_constraint WHERE conrelid = 'subscribers'::regclass AND contype = 'f'",
                    &[],
                )
                .await?
            {
                let (drop, create): (String, String) = (row.get(0), row.get(1));
                tx.batch_execute(&drop).await?;
                rebuild.push(create);
            }
        }
    }
    // An anti-join rather than ON CONFLICT: the table lock rules conflicts out, and a
    // plain insert skips the speculative-insertion work per row.
    let inserted = tx
        .execute(
            "INSERT INTO subscribers (username, password_enc, plan_id) \
             SELECT t.username, t.password_enc, $1 FROM seed_subscribers t \
             WHERE NOT EXISTS (SELECT 1 FROM subscribers s \
             WHERE s.username = t.username AND s.deleted_at IS NULL)",
            &[&plan_id],
        )
        .await?;
    tracing::debug!(elapsed = ?started.elapsed(), inserted, "seed: INSERT done");
    if !rebuild.is_empty() {
        tx.batch_execute("SET LOCAL maintenance_work_mem = '256MB'")
            .await?;
        for def in rebuild {
            tx.batch_execute(&def).await?;
        }
    }
    tx.commit().await?;
    tracing::debug!(elapsed = ?started.elapsed(), "seed: committed");
    if inserted >= BULK_ROWS {
        // Fresh statistics for the planner rather than waiting for autovacuum.
        client.batch_execute("ANALYZE subscribers").await?;
    }
    Ok(inserted)
}

/// Binary COPY tuples for seed numbers `range`: (username text, password_enc bytea).
fn copy_rows(keys: &Keyring, range: std::ops::RangeInclusive<u64>) -> Bytes {
    let rows = range.end().saturating_sub(*range.start()) + 1;
    let mut out = BytesMut::with_capacity(rows as usize * 72);
    for i in range {
        let username = seed_username(i);
        let sealed = keys.encrypt(Purpose::SubscriberPassword, seed_password(i).as_bytes());
        out.put_i16(2);
        out.put_i32(username.len() as i32);
        out.put_slice(username.as_bytes());
        out.put_i32(sealed.len() as i32);
        out.put_slice(&sealed);
    }
    out.freeze()
}
