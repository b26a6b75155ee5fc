//! Every kind of reply: from memory, after a backend wait, after the reject delay,
//! Status-Server on both ports, and the duplicate cache's replays.

use super::*;

#[test]
fn a_subscriber_in_memory_is_accepted_at_once() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.remember("alice", alice());
    let request = Login::new(1, "alice", "pw-alice").encode();
    let batch = pipe.receive(ms(0), &[(&request, NAS)]);
    assert!(batch.deferred.is_empty());
    assert_eq!(batch.answered, 1);
    assert_answers(&one_reply(&batch, NAS), &request, Code::AccessAccept, true);
    assert_eq!((pipe.fake.accepts(), pipe.fake.rejects()), (1, 0));
    assert_eq!(pipe.fake.drops(), []);
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_the_caches_miss_is_accepted_once_the_backend_answers() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.store("alice", alice());
    pipe.fake.answer(false);
    let request = Login::new(1, "alice", "pw-alice").encode();
    let Deferred {
        ticket, dst, work, ..
    } = deferred(pipe.receive(ms(0), &[(&request, NAS)]));
    assert_eq!(dst, addr(NAS));
    let fake = pipe.fake.clone();
    let mut run = pin!(work.run(&*fake, Instant::now(), None));
    assert!(poll_once(run.as_mut()).is_pending());
    // However long the backend takes, a retransmission meanwhile is not evaluated again.
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(poll_once(run.as_mut()).is_pending());
    assert_silent(&pipe.receive(Duration::from_secs(30), &[(&request, NAS)]));
    assert_eq!(pipe.fake.drops(), [(DropReason::DuplicateInProgress, 1)]);
    pipe.fake.answer(true);
    let Poll::Ready(Some(reply)) = poll_once(run.as_mut()) else {
        panic!("the backend answered: the reply is ready");
    };
    assert_answers(&reply, &request, Code::AccessAccept, true);
    assert_eq!(pipe.fake.accepts(), 1);
    // Once reported, a retransmission gets the same reply.
    pipe.complete(Duration::from_secs(31), ticket, Some(&reply));
    let again = pipe.receive(Duration::from_secs(32), &[(&request, NAS)]);
    assert_eq!(one_reply(&again, NAS), &reply[..]);
    assert_eq!((pipe.fake.accepts(), pipe.fake.duplicates()), (1, 1));
}

#[test]
fn a_reject_without_a_delay_is_sent_at_once() {
    let mut pipe = Pipe::with(Port::Auth, Duration::ZERO, 1 << 12);
    pipe.fake.remember("alice", alice());
    pipe.fake.remember("mallory", Found::Unknown);
    let wrong = Login::new(1, "alice", "guess").encode();
    let unknown = Login::new(2, "mallory", "guess").encode();
    let batch = pipe.receive(ms(0), &[(&wrong, NAS), (&unknown, NAS)]);
    assert!(batch.deferred.is_empty());
    assert_eq!(batch.answered, 2);
    assert_eq!(batch.sent.len(), 2);
    assert_answers(&batch.sent[0].0, &wrong, Code::AccessReject, true);
    assert_answers(&batch.sent[1].0, &unknown, Code::AccessReject, true);
    assert_eq!((pipe.fake.accepts(), pipe.fake.rejects()), (0, 2));
    assert_eq!(
        pipe.fake
            .counter("radius_auth_rejects_total{reason=\"wrong_password\"}"),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_reject_decided_from_memory_is_held_for_the_reject_delay() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.remember("mallory", Found::Unknown);
    let request = Login::new(2, "mallory", "guess").encode();
    // A copy in the same batch is not answered before the delay either.
    let batch = pipe.receive(ms(0), &[(&request, NAS), (&request, NAS)]);
    assert_eq!(batch.answered, 0);
    let Deferred { ticket, work, .. } = deferred(batch);
    assert_eq!(pipe.fake.drops(), [(DropReason::DuplicateInProgress, 1)]);
    assert_eq!(pipe.fake.rejects(), 1);
    let fake = pipe.fake.clone();
    let mut run = pin!(work.run(&*fake, Instant::now(), None));
    assert!(poll_once(run.as_mut()).is_pending());
    tokio::time::advance(REJECT_DELAY - ms(1)).await;
    assert!(poll_once(run.as_mut()).is_pending());
    tokio::time::advance(ms(1)).await;
    let Poll::Ready(Some(reply)) = poll_once(run.as_mut()) else {
        panic!("the reject leaves when the delay is over");
    };
    assert_answers(&reply, &request, Code::AccessReject, true);
    pipe.complete(REJECT_DELAY, ticket, Some(&reply));
    let again = pipe.receive(REJECT_DELAY + ms(1), &[(&request, NAS)]);
    assert_eq!(one_reply(&again, NAS), &reply[..]);
    assert_eq!(pipe.fake.rejects(), 1, "evaluated once");
}

#[tokio::test(start_paused = true)]
async fn a_reject_after_a_backend_wait_is_held_for_the_reject_delay_too() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.store("alice", alice());
    let request = Login::new(3, "alice", "guess").encode();
    let Deferred { work, stats, .. } = deferred(pipe.receive(ms(0), &[(&request, NAS)]));
    let fake = pipe.fake.clone();
    let mut run = pin!(work.run(&*fake, Instant::now(), stats.as_deref()));
    assert!(poll_once(run.as_mut()).is_pending());
    assert_eq!(pipe.fake.rejects(), 1, "decided before the delay");
    // Its latency is taken when it is decided: the reject delay is not in the histogram,
    // overall or in its NAS's rejects.
    assert_eq!(pipe.fake.metrics.duration.count(), 1);
    let mut per_nas = String::new();
    pipe.fake.metrics.per_nas.render(&mut per_nas);
    assert!(
        per_nas.contains(
            "radius_nas_request_duration_seconds_count{nas=\"bras-1\",result=\"reject\"} 1"
        ),
        "{per_nas}"
    );
    tokio::time::advance(REJECT_DELAY - ms(1)).await;
    assert!(poll_once(run.as_mut()).is_pending());
    tokio::time::advance(ms(1)).await;
    let Poll::Ready(Some(reply)) = poll_once(run.as_mut()) else {
        panic!("the reject leaves when the delay is over");
    };
    assert_answers(&reply, &request, Code::AccessReject, true);
}

#[tokio::test(start_paused = true)]
async fn an_accounting_request_is_answered_once_its_record_is_durable() {
    let mut pipe = Pipe::new(Port::Acct);
    let start = accounting(1, Some(1), SECRET);
    let arrived = ms(250);
    let waiting = deferred(pipe.receive(arrived, &[(&start, NAS)]));
    let reply = pipe.finish(arrived, waiting).await.unwrap();
    assert_answers(&reply, &start, Code::AccountingResponse, false);
    let records = pipe.fake.records.lock().unwrap().clone();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].record.status, AcctStatus::Start);
    assert_eq!(records[0].record.username, "alice");
    assert_eq!(records[0].record.nas_id, 1);
    // The first copy's arrival, by the wall clock given with the batch.
    assert_eq!(records[0].record.received_at_ms, (NOW * 1000 + 250) as i64);
    assert_eq!(
        pipe.fake
            .counter("radius_acct_requests_total{status=\"start\",durability=\"committed\"}"),
        1
    );
    // Spooled is durable too.
    *pipe.fake.durability.lock().unwrap() = Ok(Durable::Spooled);
    let stop = accounting(2, Some(2), SECRET);
    let waiting = deferred(pipe.receive(ms(300), &[(&stop, NAS)]));
    let reply = pipe.finish(ms(300), waiting).await.unwrap();
    assert_answers(&reply, &stop, Code::AccountingResponse, false);
    assert_eq!(
        pipe.fake
            .counter("radius_acct_requests_total{status=\"stop\",durability=\"spooled\"}"),
        1
    );
    assert_eq!(pipe.fake.drops(), []);
}

#[test]
fn status_server_is_answered_on_both_ports() {
    let request = status_server(9, true);
    let mut auth = Pipe::new(Port::Auth);
    let batch = auth.receive(ms(0), &[(&request, NAS)]);
    assert_eq!(batch.answered, 1);
    assert_answers(&one_reply(&batch, NAS), &request, Code::AccessAccept, true);
    assert_eq!(auth.fake.counter("radius_status_server_total"), 1);
    let mut acct = Pipe::new(Port::Acct);
    let batch = acct.receive(ms(0), &[(&request, NAS)]);
    assert_eq!(batch.answered, 1);
    assert_answers(
        &one_reply(&batch, NAS),
        &request,
        Code::AccountingResponse,
        true,
    );
    assert_eq!(acct.fake.counter("radius_status_server_total"), 1);
}

#[test]
fn a_retransmission_after_the_reply_gets_the_same_octets_without_a_second_evaluation() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.remember("alice", alice());
    let request = Login::new(1, "alice", "pw-alice").encode();
    let first = one_reply(&pipe.receive(ms(0), &[(&request, NAS)]), NAS);
    // Since answered, the subscriber is gone from memory: the cache answers regardless.
    pipe.fake.memory.lock().unwrap().clear();
    let batch = pipe.receive(WINDOW - ms(1), &[(&request, NAS)]);
    assert_eq!(batch.answered, 0, "a replay is no new answer");
    assert_eq!(one_reply(&batch, NAS), first);
    assert_eq!((pipe.fake.accepts(), pipe.fake.duplicates()), (1, 1));
    // The same identifier from another NAS port is another request, evaluated anew (and
    // waiting, the subscriber being gone from memory).
    deferred(pipe.receive(ms(10), &[(&request, "192.0.2.1:40001")]));
    assert_eq!(pipe.fake.duplicates(), 1);
}

#[test]
fn a_copy_in_the_same_batch_gets_the_reply_too() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.remember("alice", alice());
    let request = Login::new(1, "alice", "pw-alice").encode();
    let batch = pipe.receive(ms(0), &[(&request, NAS), (&request, NAS)]);
    assert_eq!(batch.answered, 1);
    assert_eq!(batch.sent.len(), 2);
    assert_eq!(batch.sent[0], batch.sent[1]);
    assert_answers(&batch.sent[0].0, &request, Code::AccessAccept, true);
    assert_eq!((pipe.fake.accepts(), pipe.fake.duplicates()), (1, 1));
}

#[test]
fn past_the_duplicate_window_a_retransmission_is_evaluated_again() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.remember("alice", alice());
    let request = Login::new(1, "alice", "pw-alice").encode();
    let first = one_reply(&pipe.receive(ms(1), &[(&request, NAS)]), NAS);
    let batch = pipe.receive(WINDOW, &[(&request, NAS)]);
    assert_eq!(one_reply(&batch, NAS), first, "within the window: replayed");
    let batch = pipe.receive(ms(1) + WINDOW, &[(&request, NAS)]);
    assert_eq!(batch.answered, 1);
    assert_answers(&one_reply(&batch, NAS), &request, Code::AccessAccept, true);
    assert_eq!((pipe.fake.accepts(), pipe.fake.duplicates()), (2, 1));
}
