//! Every drop reason, each counted once under its own label.

use super::*;

#[test]
fn a_packet_from_no_known_nas_is_dropped() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.remember("alice", alice());
    let request = Login::new(1, "alice", "pw-alice").encode();
    assert_silent(&pipe.receive(ms(0), &[(&request, STRANGER)]));
    assert_eq!(pipe.fake.drops(), [(DropReason::UnknownNas, 1)]);
}

#[test]
fn a_datagram_that_is_no_radius_packet_is_dropped() {
    let mut pipe = Pipe::new(Port::Auth);
    let mut truncated = Login::new(1, "alice", "pw-alice").encode();
    truncated.truncate(19);
    assert_silent(&pipe.receive(
        ms(0),
        &[(b"GET / HTTP/1.1\r\n\r\n", NAS), (&truncated, NAS)],
    ));
    assert_eq!(pipe.fake.drops(), [(DropReason::Malformed, 2)]);
}

#[test]
fn a_code_the_port_does_not_serve_is_dropped() {
    let mut auth = Pipe::new(Port::Auth);
    assert_silent(&auth.receive(ms(0), &[(&accounting(1, Some(1), SECRET), NAS)]));
    assert_eq!(auth.fake.drops(), [(DropReason::UnexpectedCode, 1)]);
    let mut acct = Pipe::new(Port::Acct);
    acct.fake.remember("alice", alice());
    let login = Login::new(1, "alice", "pw-alice").encode();
    assert_silent(&acct.receive(ms(0), &[(&login, NAS)]));
    assert_eq!(acct.fake.drops(), [(DropReason::UnexpectedCode, 1)]);
}

#[test]
fn a_missing_message_authenticator_is_dropped_where_it_is_required() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.remember("alice", alice());
    let bare = Login {
        message_authenticator: false,
        ..Login::new(1, "alice", "pw-alice")
    }
    .encode();
    // Required by this NAS (BlastRADIUS), and in every Status-Server (RFC 5997 §3).
    let batch = pipe.receive(ms(0), &[(&bare, NAS), (&status_server(2, false), OLD_NAS)]);
    assert_silent(&batch);
    assert_eq!(
        pipe.fake.drops(),
        [(DropReason::MissingMessageAuthenticator, 2)]
    );
    // A NAS marked as too old to send one is answered without.
    let batch = pipe.receive(ms(1), &[(&bare, OLD_NAS)]);
    assert_answers(&one_reply(&batch, OLD_NAS), &bare, Code::AccessAccept, true);
}

#[test]
fn a_wrong_message_authenticator_is_dropped() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.remember("alice", alice());
    let forged = Login {
        secret: b"not the secret",
        ..Login::new(1, "alice", "pw-alice")
    }
    .encode();
    // Present but wrong: dropped even from a NAS that need not send one.
    assert_silent(&pipe.receive(ms(0), &[(&forged, NAS), (&forged, OLD_NAS)]));
    assert_eq!(
        pipe.fake.drops(),
        [(DropReason::BadMessageAuthenticator, 2)]
    );
    assert_eq!(pipe.fake.accepts() + pipe.fake.rejects(), 0);
}

#[test]
fn a_retransmission_while_the_first_copy_waits_is_dropped() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.store("alice", alice());
    let request = Login::new(1, "alice", "pw-alice").encode();
    // In the same batch as the first copy, and in a later one.
    let first = pipe.receive(ms(0), &[(&request, NAS), (&request, NAS)]);
    deferred(first);
    assert_silent(&pipe.receive(ms(500), &[(&request, NAS)]));
    assert_eq!(pipe.fake.drops(), [(DropReason::DuplicateInProgress, 2)]);
}

#[tokio::test(start_paused = true)]
async fn a_backend_that_cannot_answer_leaves_the_request_to_the_nas_retry() {
    let mut pipe = Pipe::new(Port::Auth);
    pipe.fake.store("alice", alice());
    pipe.fake.available.store(false, Ordering::Relaxed);
    let request = Login::new(1, "alice", "pw-alice").encode();
    let waiting = deferred(pipe.receive(ms(0), &[(&request, NAS)]));
    assert_eq!(pipe.finish(ms(0), waiting).await, None);
    assert_eq!(pipe.fake.drops(), [(DropReason::BackendUnavailable, 1)]);
    // The retry is evaluated again, and answered once the backend is back.
    pipe.fake.available.store(true, Ordering::Relaxed);
    let waiting = deferred(pipe.receive(Duration::from_secs(3), &[(&request, NAS)]));
    let reply = pipe.finish(Duration::from_secs(3), waiting).await.unwrap();
    assert_answers(&reply, &request, Code::AccessAccept, true);
}

#[tokio::test(start_paused = true)]
async fn a_request_without_its_essentials_is_dropped() {
    let mut auth = Pipe::new(Port::Auth);
    let nameless = Login {
        user: None,
        ..Login::new(1, "alice", "pw-alice")
    }
    .encode();
    assert_silent(&auth.receive(ms(0), &[(&nameless, NAS)]));
    assert_eq!(auth.fake.drops(), [(DropReason::BadRequest, 1)]);
    let mut acct = Pipe::new(Port::Acct);
    let statusless = accounting(1, None, SECRET);
    let waiting = deferred(acct.receive(ms(0), &[(&statusless, NAS)]));
    assert_eq!(acct.finish(ms(0), waiting).await, None);
    assert_eq!(acct.fake.drops(), [(DropReason::BadRequest, 1)]);
    assert!(acct.fake.records.lock().unwrap().is_empty());
}

#[test]
fn an_accounting_request_with_a_wrong_authenticator_is_dropped() {
    let mut pipe = Pipe::new(Port::Acct);
    let forged = accounting(1, Some(1), b"not the secret");
    assert_silent(&pipe.receive(ms(0), &[(&forged, NAS)]));
    assert_eq!(
        pipe.fake.drops(),
        [(DropReason::BadRequestAuthenticator, 1)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_accounting_request_nothing_could_make_durable_is_left_unanswered() {
    let mut pipe = Pipe::new(Port::Acct);
    *pipe.fake.durability.lock().unwrap() = Err(NotDurable);
    let start = accounting(1, Some(1), SECRET);
    let waiting = deferred(pipe.receive(ms(0), &[(&start, NAS)]));
    assert_eq!(pipe.finish(ms(5), waiting).await, None);
    assert_eq!(pipe.fake.drops(), [(DropReason::NotDurable, 1)]);
    // The NAS's retry is recorded once the spool takes it.
    *pipe.fake.durability.lock().unwrap() = Ok(Durable::Spooled);
    let waiting = deferred(pipe.receive(Duration::from_secs(1), &[(&start, NAS)]));
    let reply = pipe.finish(Duration::from_secs(1), waiting).await.unwrap();
    assert_answers(&reply, &start, Code::AccountingResponse, false);
    assert_eq!(pipe.fake.records.lock().unwrap().len(), 1);
}

#[test]
fn deferred_work_is_bounded_by_the_duplicate_cache() {
    // One bucket: WAYS entries.
    let mut pipe = Pipe::with(Port::Auth, REJECT_DELAY, WAYS);
    pipe.fake.store("alice", alice());
    let logins: Vec<Vec<u8>> = (0..3 * WAYS as u8)
        .map(|id| Login::new(id, "alice", "pw-alice").encode())
        .collect();
    let batch: Vec<(&[u8], &str)> = logins.iter().map(|l| (&l[..], NAS)).collect();
    let mut waiting = pipe.receive(ms(0), &batch[..2 * WAYS]).deferred;
    assert_eq!(waiting.len(), WAYS);
    assert_eq!(
        pipe.fake.drops(),
        [(DropReason::TooManyInFlight, WAYS as u64)]
    );
    // Nothing more while every entry is in flight, however many arrive.
    assert_silent(&pipe.receive(ms(1), &batch[2 * WAYS..]));
    assert_eq!(
        pipe.fake.drops(),
        [(DropReason::TooManyInFlight, 2 * WAYS as u64)]
    );
    // One reported done frees its entry for the next request.
    let done = waiting.remove(0);
    pipe.complete(ms(2), done.ticket, None);
    let next = pipe.receive(ms(3), &batch[2 * WAYS..]);
    assert_eq!(next.deferred.len(), 1);
}
