-- Prototype (bench/events/cost/run.sh): a session.start as typed columns of a table of
-- its own, for the relay to build the CloudEvent from; never a migration.
CREATE TABLE event_outbox2 (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    subject text NOT NULL,
    username text,
    created_at timestamptz NOT NULL DEFAULT now(),
    nas_address inet, nas_name text, acct_session_id text, started_at timestamptz,
    at timestamptz, framed_ip inet, calling_station_id text, nas_port_id text,
    upload_octets bigint, download_octets bigint, session_time_secs bigint,
    terminate_cause text, closed_by text
);
CREATE OR REPLACE FUNCTION proisp_session_started() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF proisp_session_events_on('start') THEN
        INSERT INTO event_outbox2 (id, subject, username, nas_address, nas_name,
            acct_session_id, started_at, at, framed_ip, calling_station_id, nas_port_id)
        SELECT gen_random_uuid()::text, 'proisp.v1.session.start', o.username, n.address, n.name,
            o.acct_session_id, o.started_at, o.started_at, o.framed_ip, o.calling_station_id, o.nas_port_id
        FROM opened o LEFT JOIN nas n ON n.id = o.nas_id;
    END IF;
    RETURN NULL;
END
$$;
