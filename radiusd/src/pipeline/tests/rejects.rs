//! The reject log's side of the auth path: what a known subscriber's Access-Reject
//! offers, that unknown names and accepts offer nothing, and that a full queue drops
//! (counted) without touching the answer.

use super::*;

/// Everything offered to the fake's reject queue so far.
fn offered(pipe: &Pipe) -> Vec<proisp_store::RejectRecord> {
    let mut rx = pipe.fake.rejected.lock().unwrap();
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

/// alice's login with a wrong password, from her MAC.
fn wrong_from_mac(id: u8) -> Vec<u8> {
    let authenticator = [id ^ 0x5a; 16];
    let hidden = password::hide(b"guess", SECRET, &authenticator).unwrap();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccessRequest, id, &authenticator);
    enc.message_authenticator();
    enc.attr(attr::USER_NAME, b"alice")
        .attr(attr::USER_PASSWORD, hidden.as_bytes())
        .attr(attr::CALLING_STATION_ID, b"AA-BB-CC-00-11-22");
    enc.finish(SECRET).unwrap().to_vec()
}

#[test]
fn a_known_subscribers_reject_is_offered_with_its_nas_mac_and_reply_message() {
    let mut pipe = Pipe::with(Port::Auth, Duration::ZERO, 1 << 12);
    pipe.fake.remember("alice", alice());
    pipe.fake.remember("mallory", Found::Unknown);
    let wrong = wrong_from_mac(1);
    let unknown = Login::new(2, "mallory", "guess").encode();
    let right = Login::new(3, "alice", "pw-alice").encode();
    let batch = pipe.receive(ms(0), &[(&wrong, NAS), (&unknown, NAS), (&right, NAS)]);
    assert_eq!(batch.sent.len(), 3);
    assert_eq!((pipe.fake.accepts(), pipe.fake.rejects()), (1, 2));
    let got = offered(&pipe);
    assert_eq!(
        got,
        vec![proisp_store::RejectRecord {
            subscriber_id: 1,
            at: NOW as i64,
            username: "alice".into(),
            nas: "bras-1".into(),
            calling_station_id: Some("AA-BB-CC-00-11-22".into()),
            reason: "wrong_password".into(),
            reply_message: "Wrong password".into(),
        }]
    );
}

#[test]
fn a_full_queue_drops_the_record_counted_and_the_reject_is_still_sent() {
    let mut pipe = Pipe::with(Port::Auth, Duration::ZERO, 1 << 12);
    pipe.fake.remember("alice", alice());
    let requests: Vec<Vec<u8>> = (1..=5).map(wrong_from_mac).collect();
    let batch = pipe.receive(
        ms(0),
        &requests.iter().map(|r| (&r[..], NAS)).collect::<Vec<_>>(),
    );
    assert_eq!(batch.sent.len(), 5);
    for (reply, request) in batch.sent.iter().zip(&requests) {
        assert_answers(&reply.0, request, Code::AccessReject, true);
    }
    assert_eq!(offered(&pipe).len(), REJECT_QUEUE);
    assert_eq!(
        pipe.fake
            .counter("radius_reject_log_dropped_total{reason=\"full\"}"),
        (5 - REJECT_QUEUE) as u64
    );
}
