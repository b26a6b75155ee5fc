-- 0022: session events are written as columns, and the relay builds their CloudEvents
-- (issue 22's throughput goal: accounting with events on at 90 % of events off).
--
-- 0016 built each session event's CloudEvent in SQL, inside the accounting transaction:
-- json_build_object, jsonb concatenation, to_char and md5 for every Start and Stop. With
-- radiusd's writers sharing PostgreSQL's CPU, that halved the accounting statement's
-- throughput (pgbench, bench/events/cost: 2,376-2,761 transactions/s with events off,
-- 1,007-1,189 with the JSON built in SQL, 1,896-2,067 with a columns-only row).
--
-- Now a session event's row holds the session's columns as they were when it changed,
-- and `event` is NULL. proisp-events reads them and builds the CloudEvent
-- (proisp_store::outbox::EVENT_COLUMNS and cloud_event): the same envelope, the same
-- FreeRADIUS attribute names, the same values, checked against events/asyncapi.json by
-- the tests. Every other event (adminapi's, fup.applied, nas.accounting_on, coa.result,
-- command.result) keeps its JSON in `event`.
--
-- The NAS's address and name are copied at write time, so a NAS deleted before the
-- event is published still has them in its events. created_at (the transaction's
-- now()) is the CloudEvent's `time`, as before.
--
-- Upgrade radiusd and proisp-events together: an older relay cannot read these rows.

ALTER TABLE event_outbox
    ALTER COLUMN event DROP NOT NULL,
    ADD COLUMN nas_id bigint,
    ADD COLUMN nas_address inet,
    ADD COLUMN nas_name text,
    ADD COLUMN acct_session_id text,
    ADD COLUMN started_at timestamptz,
    ADD COLUMN event_at timestamptz,
    ADD COLUMN framed_ip inet,
    ADD COLUMN calling_station_id text,
    ADD COLUMN nas_port_id text,
    ADD COLUMN upload_octets bigint,
    ADD COLUMN download_octets bigint,
    ADD COLUMN session_time_secs bigint,
    ADD COLUMN terminate_cause text,
    ADD COLUMN closed_by text,
    ADD CONSTRAINT event_outbox_event_or_session CHECK (
        event IS NOT NULL
        OR (acct_session_id IS NOT NULL AND username IS NOT NULL
            AND started_at IS NOT NULL AND event_at IS NOT NULL
            AND subject IN ('proisp.v1.session.start', 'proisp.v1.session.interim',
                            'proisp.v1.session.stop')));

CREATE OR REPLACE FUNCTION proisp_session_started() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF proisp_session_events_on('start') THEN
        INSERT INTO event_outbox (id, subject, username, nas_id, nas_address, nas_name,
            acct_session_id, started_at, event_at, framed_ip, calling_station_id,
            nas_port_id)
        SELECT proisp_uuid_v7()::text, 'proisp.v1.session.start', o.username, o.nas_id,
            n.address, n.name, o.acct_session_id, o.started_at, o.started_at, o.framed_ip,
            o.calling_station_id, o.nas_port_id
        FROM opened o LEFT JOIN nas n ON n.id = o.nas_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION proisp_session_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF proisp_session_events_on('stop') THEN
        INSERT INTO event_outbox (id, subject, username, nas_id, nas_address, nas_name,
            acct_session_id, started_at, event_at, framed_ip, calling_station_id,
            nas_port_id, upload_octets, download_octets, session_time_secs,
            terminate_cause, closed_by)
        SELECT proisp_uuid_v7()::text, 'proisp.v1.session.stop', c.username, c.nas_id,
            n.address, n.name, c.acct_session_id, c.started_at, c.stopped_at, c.framed_ip,
            c.calling_station_id, c.nas_port_id, c.upload_octets, c.download_octets,
            c.session_time_secs, c.terminate_cause, c.closed_by
        FROM closed c LEFT JOIN nas n ON n.id = c.nas_id;
    END IF;
    RETURN NULL;
END
$$;

-- The row trigger of the rare paths and the opt-in one: session.interim from `sessions`
-- (updated_at), session.stop from `session_history` (stopped_at, terminate_cause,
-- closed_by), both tables' columns read through to_jsonb(NEW).
CREATE OR REPLACE FUNCTION proisp_session_row_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := to_jsonb(NEW);
BEGIN
    INSERT INTO event_outbox (id, subject, username, nas_id, nas_address, nas_name,
        acct_session_id, started_at, event_at, framed_ip, calling_station_id, nas_port_id,
        upload_octets, download_octets, session_time_secs, terminate_cause, closed_by)
    SELECT proisp_uuid_v7()::text, 'proisp.v1.' || TG_ARGV[0], NEW.username, NEW.nas_id,
        n.address, n.name, NEW.acct_session_id, NEW.started_at,
        coalesce((r->>'stopped_at')::timestamptz, (r->>'updated_at')::timestamptz),
        NEW.framed_ip, NEW.calling_station_id, NEW.nas_port_id, NEW.upload_octets,
        NEW.download_octets, NEW.session_time_secs, r->>'terminate_cause', r->>'closed_by'
    FROM (SELECT 1) one LEFT JOIN nas n ON n.id = NEW.nas_id;
    RETURN NULL;
END
$$;

-- Built by the relay now.
DROP FUNCTION proisp_session_event_data(bigint, text, text, timestamptz, timestamptz, inet,
    text, text, bigint, bigint, bigint, boolean, text, text);
