//! The `*_journaled` writes: the journal runs inside the write's transaction, sees the row
//! as written, commits with it, and a journal that fails rolls the write back before
//! anything reaches the cache.

use std::time::Duration;

use deadpool_postgres::Transaction;
use proisp_model::{Password, Status};
use proisp_store::{
    Cache as _, CacheEvent, CacheLookup, ImportMode, ImportRow, Invalidation, NewNas, NewPlan,
    NewSubscriber, StoreError,
};
use proisp_testing::{TestEnv, cached};
use tokio::sync::mpsc;

/// The journal the tests write: one row per write, with what the transaction saw.
const JOURNAL_TABLE: &str = "CREATE TABLE test_journal (seq serial PRIMARY KEY, \
    what text NOT NULL, id int8 NOT NULL, version int8 NOT NULL, visible bool NOT NULL)";

/// Notes a write of `table` row `id` at `version`, and whether the transaction already
/// sees that row at that version (it must: the journal runs after the change's SQL).
async fn note(
    tx: &Transaction<'_>,
    what: &str,
    table: &str,
    id: i64,
    version: i64,
) -> Result<(), StoreError> {
    let visible: bool = tx
        .query_one(
            &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1 AND version = $2)"),
            &[&id, &version],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO test_journal (what, id, version, visible) VALUES ($1, $2, $3, $4)",
        &[&what, &id, &version, &visible],
    )
    .await?;
    Ok(())
}

fn refused() -> StoreError {
    StoreError::invalid("journal", "refused")
}

fn is_refusal(r: Result<impl std::fmt::Debug, StoreError>) {
    match r {
        Err(StoreError::Invalid { field, .. }) if field == "journal" => {}
        other => panic!("expected the journal's error, got {other:?}"),
    }
}

/// Publishes a marker invalidation and drops every event up to it: what follows was
/// published after this call.
async fn settle(cache: &dyn proisp_store::Cache, events: &mut mpsc::Receiver<CacheEvent>, id: i64) {
    cache.publish(&Invalidation::Plan(id)).await.unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("the marker invalidation arrives")
            .expect("subscription open");
        if event == CacheEvent::Invalidate(Invalidation::Plan(id)) {
            return;
        }
    }
}

#[tokio::test]
async fn journal_commits_with_the_write_and_sees_the_row() {
    let env = TestEnv::start().await;
    let (store, _cache) = env.store_with_cache().await;
    let sql = env.sql().await;
    sql.batch_execute(JOURNAL_TABLE).await.unwrap();

    let plan = store
        .create_plan_journaled(&NewPlan::new("p", 10_000, 5_000), async |tx, p| {
            note(tx, "plan.create", "plans", p.id, p.version).await
        })
        .await
        .unwrap();
    let plan = store
        .update_plan_journaled(
            plan.id,
            &NewPlan::new("p2", 20_000, 5_000),
            async |tx, p| note(tx, "plan.update", "plans", p.id, p.version).await,
        )
        .await
        .unwrap();
    let spare = store
        .create_plan(&NewPlan::new("spare", 1_000, 1_000))
        .await
        .unwrap();
    store
        .create_subscriber_journaled(&NewSubscriber::new("u1", "pw", plan.id), async |tx, s| {
            note(tx, "subscriber.create", "subscribers", s.id, s.version).await
        })
        .await
        .unwrap();
    let mut renamed = NewSubscriber::new("u1b", "pw", plan.id);
    renamed.name = Some("Ada".into());
    store
        .update_subscriber_journaled("u1", &renamed, async |tx, s| {
            note(tx, "subscriber.update", "subscribers", s.id, s.version).await
        })
        .await
        .unwrap();
    store
        .set_status_journaled("u1b", Status::Suspended, async |tx, s| {
            note(tx, "subscriber.status", "subscribers", s.id, s.version).await
        })
        .await
        .unwrap();
    store
        .renew_subscriber_journaled("u1b", 2, async |tx, s| {
            note(tx, "subscriber.renew", "subscribers", s.id, s.version).await
        })
        .await
        .unwrap();
    let sub = store
        .set_password_journaled("u1b", &Password::new("pw2"), async |tx, s| {
            note(tx, "subscriber.password", "subscribers", s.id, s.version).await
        })
        .await
        .unwrap();
    let mut deleted_version = 0;
    store
        .delete_subscriber_journaled("u1b", async |tx, s| {
            deleted_version = s.version;
            note(tx, "subscriber.delete", "subscribers", s.id, s.version).await
        })
        .await
        .unwrap();
    assert!(deleted_version > sub.version);
    let outcome = store
        .import_subscribers_journaled(
            vec![
                ImportRow {
                    row: 2,
                    subscriber: NewSubscriber::new("i1", "pw", plan.id),
                },
                ImportRow {
                    row: 3,
                    subscriber: NewSubscriber::new("i2", "pw", plan.id),
                },
            ],
            ImportMode::ValidRows,
            async |tx, out| {
                let n = i64::try_from(out.created.len()).unwrap();
                note(tx, "import", "subscribers", out.created[0].1, n).await
            },
        )
        .await
        .unwrap();
    assert_eq!(outcome.created.len(), 2);
    let nas = store
        .create_nas_journaled(
            &NewNas::new("n", "192.0.2.1".parse().unwrap(), b"s"),
            async |tx, n| note(tx, "nas.create", "nas", n.id, n.version).await,
        )
        .await
        .unwrap();
    let nas = store
        .update_nas_journaled(
            nas.id,
            &NewNas::new("n2", "192.0.2.1".parse().unwrap(), b"s"),
            async |tx, n| note(tx, "nas.update", "nas", n.id, n.version).await,
        )
        .await
        .unwrap();
    store
        .delete_nas_journaled(nas.id, async |tx, n| {
            note(tx, "nas.delete", "nas", n.id, n.version).await
        })
        .await
        .unwrap();
    store
        .delete_plan_journaled(spare.id, async |tx, p| {
            note(tx, "plan.delete", "plans", p.id, p.version).await
        })
        .await
        .unwrap();

    let rows = sql
        .query("SELECT what, visible FROM test_journal ORDER BY seq", &[])
        .await
        .unwrap();
    let journal: Vec<(String, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected = [
        ("plan.create", true),
        ("plan.update", true),
        ("subscriber.create", true),
        ("subscriber.update", true),
        ("subscriber.status", true),
        ("subscriber.renew", true),
        ("subscriber.password", true),
        ("subscriber.delete", true),
        // The import notes the count, not a version: not a row at that version.
        ("import", false),
        ("nas.create", true),
        ("nas.update", true),
        // Deleted rows are gone from the transaction's view by the time it is noted.
        ("nas.delete", false),
        ("plan.delete", false),
    ];
    assert_eq!(
        journal,
        expected
            .iter()
            .map(|(w, v)| ((*w).to_owned(), *v))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_failing_journal_rolls_the_write_back_and_nothing_reaches_the_cache() {
    let env = TestEnv::start().await;
    let (store, cache) = env.store_with_cache().await;
    let mut events = cache.subscribe();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Connected)
    );
    let plan = store
        .create_plan(&NewPlan::new("p", 10_000, 5_000))
        .await
        .unwrap();
    let spare = store
        .create_plan(&NewPlan::new("spare", 1_000, 1_000))
        .await
        .unwrap();
    let sub = store
        .create_subscriber(&NewSubscriber::new("u1", "pw", plan.id))
        .await
        .unwrap();
    let nas = store
        .create_nas(&NewNas::new("n", "192.0.2.1".parse().unwrap(), b"s"))
        .await
        .unwrap();
    settle(&*cache, &mut events, -1).await;

    is_refusal(
        store
            .create_plan_journaled(&NewPlan::new("q", 1, 1), async |_, _| Err(refused()))
            .await,
    );
    is_refusal(
        store
            .update_plan_journaled(plan.id, &NewPlan::new("p2", 1, 1), async |_, _| {
                Err(refused())
            })
            .await,
    );
    is_refusal(
        store
            .delete_plan_journaled(spare.id, async |_, _| Err(refused()))
            .await,
    );
    is_refusal(
        store
            .create_subscriber_journaled(
                &NewSubscriber::new("ghost", "pw", plan.id),
                async |_, _| Err(refused()),
            )
            .await,
    );
    is_refusal(
        store
            .update_subscriber_journaled(
                "u1",
                &NewSubscriber::new("u1b", "pw", plan.id),
                async |_, _| Err(refused()),
            )
            .await,
    );
    is_refusal(
        store
            .set_status_journaled("u1", Status::Disabled, async |_, _| Err(refused()))
            .await,
    );
    is_refusal(
        store
            .renew_subscriber_journaled("u1", 1, async |_, _| Err(refused()))
            .await,
    );
    is_refusal(
        store
            .set_password_journaled("u1", &Password::new("other"), async |_, _| Err(refused()))
            .await,
    );
    is_refusal(
        store
            .delete_subscriber_journaled("u1", async |_, _| Err(refused()))
            .await,
    );
    is_refusal(
        store
            .import_subscribers_journaled(
                vec![ImportRow {
                    row: 2,
                    subscriber: NewSubscriber::new("imported", "pw", plan.id),
                }],
                ImportMode::ValidRows,
                async |_, _| Err(refused()),
            )
            .await,
    );
    is_refusal(
        store
            .create_nas_journaled(
                &NewNas::new("m", "192.0.2.2".parse().unwrap(), b"s"),
                async |_, _| Err(refused()),
            )
            .await,
    );
    is_refusal(
        store
            .update_nas_journaled(
                nas.id,
                &NewNas::new("n2", "192.0.2.3".parse().unwrap(), b"t"),
                async |_, _| Err(refused()),
            )
            .await,
    );
    is_refusal(
        store
            .delete_nas_journaled(nas.id, async |_, _| Err(refused()))
            .await,
    );

    // Nothing was written …
    assert_eq!(store.all_plans().await.unwrap(), vec![plan, spare]);
    assert_eq!(store.subscriber("u1").await.unwrap(), Some(sub.clone()));
    assert_eq!(store.subscriber("u1b").await.unwrap(), None);
    assert_eq!(store.subscriber("ghost").await.unwrap(), None);
    assert_eq!(store.subscriber("imported").await.unwrap(), None);
    let all_nas = store.all_nas().await.unwrap();
    assert_eq!(all_nas.len(), 1);
    assert_eq!((all_nas[0].id, all_nas[0].version), (nas.id, nas.version));
    // … nothing reached Redis …
    assert_eq!(cached(&*cache, "ghost").await.unwrap(), CacheLookup::Miss);
    assert_eq!(
        cached(&*cache, "imported").await.unwrap(),
        CacheLookup::Miss
    );
    match cached(&*cache, "u1").await.unwrap() {
        CacheLookup::Hit(s) => assert_eq!(s.version, sub.version),
        other => panic!("u1 should be cached as created: {other:?}"),
    }
    // … and no invalidation was published: the next event is the next marker.
    cache.publish(&Invalidation::Plan(-2)).await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Invalidate(Invalidation::Plan(-2)))
    );
}
