//! A batch applied together (sql/0014) ends where the same requests applied one at a time
//! end: the common requests of a batch go set-wise, the rest one by one, and a batch of
//! one request takes the set-wise path whenever its request is a common one.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// A NAS's life over a few hundred requests: sessions started, updated and stopped,
/// Starts lost, Stops for sessions never started, ids reused, and retransmissions (the
/// same request again, as a NAS resends it).
fn traffic(f: &Fixture, seed: u64, n: usize) -> Vec<AcctRecord> {
    let mut rng = StdRng::seed_from_u64(seed);
    let users = ["u1", "u2", "ux"];
    // Per (user, slot): the session id's generation, and its open session's start (ms)
    // and counters, if one is open.
    let mut generation = [[0u32; 3]; 3];
    let mut open: [[Option<(i64, u64)>; 3]; 3] = Default::default();
    let base = now_ms() - 3_600_000;
    let mut sent: Vec<AcctRecord> = Vec::new();
    for step in 0..n {
        let at = base + step as i64 * 1_000;
        if !sent.is_empty() && rng.random_ratio(1, 10) {
            let again = sent[rng.random_range(0..sent.len())].clone();
            sent.push(again);
            continue;
        }
        let (u, slot) = (rng.random_range(0..3), rng.random_range(0..3));
        // Now and then the NAS reuses a session id for a new session.
        if open[u][slot].is_none() && !rng.random_ratio(1, 5) {
            generation[u][slot] += 1;
        }
        let sid = format!("{}-{slot}-{}", users[u], generation[u][slot]);
        let roll = rng.random_range(0..10);
        let (status, octets, started) = match open[u][slot] {
            None if roll < 8 => (AcctStatus::Start, 0, at),
            None if roll < 9 => (AcctStatus::InterimUpdate, GIB / 3, at - 60_000),
            None => (AcctStatus::Stop, GIB / 2, at - 120_000),
            Some((started, octets)) if roll < 7 => {
                (AcctStatus::InterimUpdate, octets + GIB / 4, started)
            }
            Some((started, octets)) => (AcctStatus::Stop, octets + GIB / 8, started),
        };
        open[u][slot] = match status {
            AcctStatus::Stop => None,
            _ => Some((started, octets)),
        };
        let mut r = record(f, status, users[u], &sid, octets, 2 * octets + 1);
        r.received_at_ms = at;
        r.session_time_secs = u32::try_from((at - started) / 1_000).unwrap();
        sent.push(r);
    }
    sent
}

/// Every open session, closed session and usage row, in one comparable shape.
async fn state(f: &Fixture) -> Vec<String> {
    let sql = f.env.sql().await;
    let mut rows = Vec::new();
    for query in [
        "SELECT format('open %s %s %s %s %s %s %s %s', username, acct_session_id, started_at, \
           updated_at, upload_octets, download_octets, session_time_secs, framed_ip) \
         FROM sessions",
        "SELECT format('closed %s %s %s %s %s %s %s %s %s', username, acct_session_id, \
           started_at, stopped_at, upload_octets, download_octets, session_time_secs, \
           terminate_cause, closed_by) \
         FROM session_history",
        "SELECT format('usage %s %s %s %s', s.username, u.period_start, u.upload_octets, \
           u.download_octets) \
         FROM usage u JOIN subscribers s ON s.id = u.subscriber_id",
        "SELECT format('fup %s %s', username, fup_until) FROM subscribers",
    ] {
        for row in sql.query(query, &[]).await.unwrap() {
            rows.push(row.get(0));
        }
    }
    rows.sort();
    rows
}

#[tokio::test]
async fn a_batch_applied_together_ends_where_one_at_a_time_ends() {
    let (alone, together) = tokio::join!(fixture(), fixture());
    let records = traffic(&alone, 17, 600);
    let mut crossed_alone = Vec::new();
    for r in &records {
        crossed_alone.extend(
            alone
                .store
                .apply_accounting(std::slice::from_ref(r), 3)
                .await
                .unwrap(),
        );
    }
    // Batches of every size, so each kind of request meets the others in one batch.
    let mut crossed_together = Vec::new();
    let mut rest = &records[..];
    for size in [1, 7, 64, 2, 150, 3, 33].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, after) = rest.split_at((*size).min(rest.len()));
        crossed_together.extend(together.store.apply_accounting(batch, 3).await.unwrap());
        rest = after;
    }

    let expected = state(&alone).await;
    assert!(
        expected.iter().any(|r| r.starts_with("open "))
            && expected.iter().any(|r| r.starts_with("closed "))
            && expected.iter().any(|r| r.starts_with("usage ")),
        "the traffic left open and closed sessions and usage: {expected:#?}"
    );
    assert_eq!(state(&together).await, expected);
    // Each quota crossing is reported once, by whichever batch crossed it.
    assert_eq!(crossed_alone, ["u1", "u2"]);
    crossed_together.sort();
    assert_eq!(crossed_together, ["u1", "u2"]);
}
