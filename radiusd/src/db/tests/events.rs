//! Session and fair-usage events (sql/0016): written by the statements that change the
//! sessions, once per change, as the connection's `proisp.session_events` says. Session
//! events are stored as columns (sql/0022); they are read here as the relay reads them.

use proisp_store::outbox::{EVENT_COLUMNS, cloud_event};
use serde_json::Value;

use super::*;

/// The outbox's events in seq order: (subject, data).
async fn events(f: &Fixture) -> Vec<(String, Value)> {
    f.env
        .sql()
        .await
        .query(
            &format!("SELECT subject, {EVENT_COLUMNS} FROM event_outbox ORDER BY seq"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let event: Value = serde_json::from_str(&cloud_event(r, 1).unwrap()).unwrap();
            (r.get(0), event)
        })
        .collect()
}

/// The subjects of the outbox's events, shortened (`session.start`), in seq order.
async fn kinds(f: &Fixture) -> Vec<String> {
    events(f)
        .await
        .into_iter()
        .map(|(s, _)| s.trim_start_matches("proisp.v1.").to_owned())
        .collect()
}

/// A store on the fixture's database whose connections write `setting`.
async fn store_with(f: &Fixture, setting: &str) -> Store {
    let mut config = StoreConfig::new(f.env.database_url.clone());
    config.settings = vec![("proisp.session_events".into(), setting.into())];
    Store::connect(&config, f.env.keys.clone()).await.unwrap()
}

#[tokio::test]
async fn start_and_stop_are_events_once_each_with_freeradius_names() {
    let f = fixture().await;
    let s = &f.store;
    let start = record(&f, AcctStatus::Start, "u1", "e1", 0, 0);
    let interim = record(&f, AcctStatus::InterimUpdate, "u1", "e1", 100, 200);
    let mut stop = record(&f, AcctStatus::Stop, "u1", "e1", (1 << 32) + 5, 300);
    stop.session_time_secs = 900;
    // Each sent twice, as a NAS resends: one change each, so one event each.
    for r in [&start, &start, &interim, &stop, &stop] {
        s.apply_accounting(std::slice::from_ref(r), 3)
            .await
            .unwrap();
    }
    assert_eq!(kinds(&f).await, ["session.start", "session.stop"]);
    let all = events(&f).await;
    let (_, started) = &all[0];
    let (_, stopped) = &all[1];
    assert_eq!(started["type"], "net.proisp.session.start");
    assert_eq!(started["source"], "/proisp/radiusd");
    assert_eq!(started["subject"], "u1");
    assert_eq!(started["specversion"], "1.0");
    let d = &stopped["data"];
    assert_eq!(d["User-Name"], "u1");
    assert_eq!(d["Acct-Session-Id"], "e1");
    assert_eq!(d["NAS-IP-Address"], "127.0.0.1");
    assert_eq!(d["NAS-Identifier"], "bras");
    assert_eq!(d["Framed-IP-Address"], "100.64.0.7");
    assert_eq!(
        d["Acct-Input-Octets"],
        (1u64 << 32) + 5,
        "64-bit, Gigawords folded in"
    );
    assert_eq!(d["Acct-Output-Octets"], 300);
    assert_eq!(d["Acct-Session-Time"], 900);
    assert_eq!(d["Acct-Terminate-Cause"], "User-Request");
    assert_eq!(
        d["Acct-Unique-Session-Id"], started["data"]["Acct-Unique-Session-Id"],
        "start and stop of one session share their key"
    );
    assert_ne!(started["id"], stopped["id"]);
    assert!(started["data"].get("Acct-Input-Octets").is_none());
}

#[tokio::test]
async fn the_setting_adds_interims_or_turns_session_events_off() {
    let f = fixture().await;
    let interims = store_with(&f, "start,interim,stop").await;
    for r in [
        record(&f, AcctStatus::Start, "u1", "i1", 0, 0),
        record(&f, AcctStatus::InterimUpdate, "u1", "i1", 10, 20),
        record(&f, AcctStatus::Stop, "u1", "i1", 30, 40),
    ] {
        interims.apply_accounting(&[r], 3).await.unwrap();
    }
    assert_eq!(
        kinds(&f).await,
        ["session.start", "session.interim", "session.stop"]
    );
    let (_, interim) = &events(&f).await[1];
    assert_eq!(interim["data"]["Acct-Output-Octets"], 20);

    let off = store_with(&f, "off").await;
    let batch = [
        record(&f, AcctStatus::Start, "u2", "o1", 0, 0),
        record(&f, AcctStatus::InterimUpdate, "u2", "o1", 10, 20),
        record(&f, AcctStatus::Stop, "u2", "o1", 30, 40),
    ];
    off.apply_accounting(&batch, 3).await.unwrap();
    assert_eq!(events(&f).await.len(), 3, "nothing more with events off");
    assert_eq!(history(&f, "o1").await, [(30, 40, "stop".to_owned())]);
}

#[tokio::test]
async fn a_set_wise_batch_writes_one_event_per_change() {
    let f = fixture().await;
    let s = &f.store;
    let starts: Vec<_> = (0..50)
        .map(|i| record(&f, AcctStatus::Start, "u1", &format!("b{i}"), 0, 0))
        .collect();
    s.apply_accounting(&starts, 3).await.unwrap();
    let mut mixed: Vec<_> = (0..25)
        .map(|i| record(&f, AcctStatus::Stop, "u1", &format!("b{i}"), 1, 1))
        .collect();
    mixed.extend(
        (25..50).map(|i| record(&f, AcctStatus::InterimUpdate, "u1", &format!("b{i}"), 1, 1)),
    );
    mixed.extend((50..60).map(|i| record(&f, AcctStatus::Start, "u2", &format!("b{i}"), 0, 0)));
    s.apply_accounting(&mixed, 3).await.unwrap();
    let kinds = kinds(&f).await;
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(count("session.start"), 60);
    assert_eq!(count("session.stop"), 25);
    assert_eq!(kinds.len(), 85);
}

#[tokio::test]
async fn accounting_on_stops_every_open_session_and_says_so_once() {
    let f = fixture().await;
    let s = &f.store;
    let starts = [
        record(&f, AcctStatus::Start, "u1", "r1", 0, 0),
        record(&f, AcctStatus::Start, "u2", "r2", 0, 0),
    ];
    s.apply_accounting(&starts, 3).await.unwrap();
    let mut on = record(&f, AcctStatus::AccountingOn, "", "", 0, 0);
    on.received_at_ms += 1000;
    s.apply_accounting(&[on], 3).await.unwrap();
    let all = events(&f).await;
    let kinds: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "proisp.v1.session.start",
            "proisp.v1.session.start",
            "proisp.v1.session.stop",
            "proisp.v1.session.stop",
            "proisp.v1.nas.accounting_on"
        ]
    );
    assert_eq!(all[2].1["data"]["Acct-Terminate-Cause"], "NAS-Reboot");
    assert_eq!(all[2].1["data"]["ProISP-Closed-By"], "nas-reboot");
    let nas = &all[4].1;
    assert_eq!(nas["data"]["Acct-Status-Type"], "Accounting-On");
    assert_eq!(nas["data"]["NAS-IP-Address"], "127.0.0.1");
    assert_eq!(nas["subject"], "bras");
}

#[tokio::test]
async fn a_late_stop_of_a_session_closed_by_a_reboot_is_its_final_stop() {
    let f = fixture().await;
    let s = &f.store;
    s.apply_accounting(&[record(&f, AcctStatus::Start, "u1", "l1", 0, 0)], 3)
        .await
        .unwrap();
    let mut on = record(&f, AcctStatus::AccountingOn, "", "", 0, 0);
    on.received_at_ms += 1000;
    s.apply_accounting(&[on], 3).await.unwrap();
    let late = record(&f, AcctStatus::Stop, "u1", "l1", 70, 80);
    s.apply_accounting(std::slice::from_ref(&late), 3)
        .await
        .unwrap();
    s.apply_accounting(&[late], 3).await.unwrap();
    let all = events(&f).await;
    let stops: Vec<&Value> = all
        .iter()
        .filter(|(k, _)| k == "proisp.v1.session.stop")
        .map(|(_, e)| &e["data"])
        .collect();
    assert_eq!(stops.len(), 2, "the reboot's stop, then the real one once");
    assert_eq!(stops[1]["ProISP-Closed-By"], "stop");
    assert_eq!(stops[1]["Acct-Output-Octets"], 80);
    assert_eq!(stops[1]["Acct-Terminate-Cause"], "User-Request");
}

#[tokio::test]
async fn the_quota_crossing_is_one_fup_applied_event() {
    let f = fixture().await;
    let s = &f.store;
    s.apply_accounting(&[record(&f, AcctStatus::Start, "u1", "q1", 0, 0)], 3)
        .await
        .unwrap();
    for down in [6 * GIB, 11 * GIB, 12 * GIB] {
        let crossed = s
            .apply_accounting(
                &[record(&f, AcctStatus::InterimUpdate, "u1", "q1", 0, down)],
                3,
            )
            .await
            .unwrap();
        assert_eq!(crossed.len(), usize::from(down == 11 * GIB));
    }
    let all = events(&f).await;
    let fup: Vec<&Value> = all
        .iter()
        .filter(|(k, _)| k == "proisp.v1.fup.applied")
        .map(|(_, e)| &e["data"])
        .collect();
    assert_eq!(fup.len(), 1);
    assert_eq!(fup[0]["username"], "u1");
    assert_eq!(fup[0]["plan"], "fup-10g");
    assert_eq!(fup[0]["quota_bytes"], 10 * GIB);
    assert_eq!(fup[0]["used_bytes"], 11 * GIB);
    assert_eq!(fup[0]["download_kbps"], 1_000);
    assert_eq!(fup[0]["action"], "throttle");
}

/// The channels notified on `url`'s database, in the order a listener hears them (the
/// client returned must be kept for as long as the listening goes on).
async fn listen(
    url: &str,
    channels: &[&str],
) -> (
    tokio_postgres::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use futures_util::future::poll_fn;
    use tokio_postgres::AsyncMessage;
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            if let Ok(AsyncMessage::Notification(n)) = message {
                let _ = tx.send(n.channel().to_owned());
            }
        }
    });
    let listens: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
    client.batch_execute(&listens).await.unwrap();
    (client, rx)
}

/// The next channel heard (a test failure after a minute of silence).
async fn next(heard: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(60), heard.recv())
        .await
        .expect("no notification within a minute")
}

/// radiusd's store (the outbox's NOTIFY deferred): its transactions append events
/// without notifying (commits do not queue on the NOTIFY lock); the store wakes the relay
/// after them. Any other connection still notifies in its transaction.
#[tokio::test]
async fn a_deferred_store_commits_events_without_notify_and_wakes_the_relay_after() {
    let f = fixture().await;
    let (_listener, mut heard) = listen(
        &f.env.database_url,
        &[proisp_store::outbox::CHANNEL, "marker"],
    )
    .await;
    let mut config = StoreConfig::new(f.env.database_url.clone());
    config.defer_outbox_notify = true;
    let deferred = Store::connect(&config, f.env.keys.clone()).await.unwrap();
    let event = |kind| {
        proisp_store::outbox::Event::new(
            proisp_store::outbox::RADIUSD,
            kind,
            "u1",
            &serde_json::json!({}),
        )
    };
    let sql = f.env.sql().await;

    // Appended through the deferred store's connection: no notification before the
    // marker, sent after that commit.
    let client = deferred.client().await.unwrap();
    proisp_store::outbox::append(&client, &[event("session.start")])
        .await
        .unwrap();
    sql.batch_execute("NOTIFY marker").await.unwrap();
    assert_eq!(next(&mut heard).await.as_deref(), Some("marker"));
    // Its waker then notifies.
    deferred.wake_outbox();
    assert_eq!(
        next(&mut heard).await.as_deref(),
        Some(proisp_store::outbox::CHANNEL)
    );
    // An accounting batch: the store wakes the relay after the commit.
    deferred
        .apply_accounting(&[record(&f, AcctStatus::Start, "u1", "d1", 0, 0)], 3)
        .await
        .unwrap();
    assert_eq!(
        next(&mut heard).await.as_deref(),
        Some(proisp_store::outbox::CHANNEL)
    );
    assert_eq!(kinds(&f).await, ["session.start", "session.start"]);

    // Another connection (adminapi's) notifies in its transaction, before the marker.
    let client = f.store.client().await.unwrap();
    proisp_store::outbox::append(&client, &[event("session.stop")])
        .await
        .unwrap();
    sql.batch_execute("NOTIFY marker").await.unwrap();
    assert_eq!(
        next(&mut heard).await.as_deref(),
        Some(proisp_store::outbox::CHANNEL)
    );
    assert_eq!(next(&mut heard).await.as_deref(), Some("marker"));
}
