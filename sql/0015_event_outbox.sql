-- The transactional outbox of events (issue 22): every event is a row written in the
-- same transaction as the change it reports, so it exists if and only if the change
-- committed. proisp-events publishes the rows to NATS JetStream in `seq` order and
-- deletes each one only after JetStream acknowledged it.
--
-- seq: the publishing order. Two writers of the same subscriber are serialised by the
--   subscriber row's lock (or write in one transaction), so their events get increasing
--   seqs and commit in that order: order per subscriber is seq order.
-- id: the CloudEvents id and the NATS `Nats-Msg-Id` (JetStream drops a second publish of
--   the same id within the stream's duplicate window: a relay that crashed between the
--   PubAck and the DELETE cannot make a duplicate).
-- subject: the NATS subject, proisp.v1.<kind> (proisp.v1.subscriber.created …).
-- username: the ordering key, the CloudEvents subject of subscriber and session events;
--   NULL for events that are not about one subscriber (plan.changed), which the relay
--   orders by subject instead.
-- event: the CloudEvent, structured mode, as published (json keeps the text as written).
CREATE TABLE event_outbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE CHECK (length(id) BETWEEN 1 AND 128),
    subject text NOT NULL CHECK (subject LIKE 'proisp.v1.%'),
    username text,
    event json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One notification per inserting statement, not per row: a batch of 10,000 events wakes
-- the relay once. NOTIFY is delivered at COMMIT, and not at all on ROLLBACK; the payload
-- is empty (the relay reads the table, which is the truth).
CREATE FUNCTION proisp_event_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('proisp_event_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_event_outbox_notify();
