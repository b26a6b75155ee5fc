-- bench/events.sh ab: the session events built as CloudEvents in SQL, in the accounting
-- transaction, as sql/0016 did before sql/0022 moved the building to the relay (radiusd's
-- NOTIFY deferred as shipped). sql/0016's functions under bench_ names, and the two
-- statement triggers pointed at them; bench/events/on.sql points them back.
\ir ../../sql/0020_outbox_deferred_notify.sql

CREATE OR REPLACE FUNCTION bench_session_event_data(
    nas_id bigint, acct_session_id text, username text, started_at timestamptz,
    at timestamptz, framed_ip inet, calling_station_id text, nas_port_id text,
    upload_octets bigint, download_octets bigint, session_time_secs bigint,
    counters boolean, terminate_cause text, closed_by text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT json_strip_nulls(json_build_object(
        'User-Name', username,
        'Acct-Session-Id', acct_session_id,
        'Acct-Unique-Session-Id', md5(nas_id || '/' || acct_session_id || '/' || username
            || '/' || floor(extract(epoch FROM started_at))::bigint),
        'NAS-IP-Address', host(n.address),
        'NAS-Identifier', n.name,
        'NAS-Port-Id', nas_port_id,
        'Framed-IP-Address', host(framed_ip),
        'Calling-Station-Id', calling_station_id,
        'Event-Timestamp', proisp_rfc3339(at),
        'Acct-Session-Time', CASE WHEN counters THEN session_time_secs END,
        'Acct-Input-Octets', CASE WHEN counters THEN upload_octets END,
        'Acct-Output-Octets', CASE WHEN counters THEN download_octets END,
        'ProISP-Closed-By', closed_by))::jsonb
        -- Acct-Terminate-Cause is part of every stop, null when the NAS named none.
        || CASE WHEN closed_by IS NOT NULL
                THEN jsonb_build_object('Acct-Terminate-Cause', terminate_cause)
                ELSE '{}'::jsonb END
    -- The NAS looked up once for both of its attributes.
    FROM (SELECT 1) one LEFT JOIN nas n ON n.id = nas_id
$$;

CREATE OR REPLACE FUNCTION bench_session_started() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF proisp_session_events_on('start') THEN
        INSERT INTO event_outbox (id, subject, username, event)
        SELECT e.event_id, 'proisp.v1.session.start', e.username,
            proisp_event_envelope(e.event_id, 'session.start', e.username,
                bench_session_event_data(e.nas_id, e.acct_session_id, e.username,
                    e.started_at, e.started_at, e.framed_ip, e.calling_station_id,
                    e.nas_port_id, e.upload_octets, e.download_octets,
                    e.session_time_secs, false, NULL, NULL)::json)
        FROM (SELECT proisp_uuid_v7()::text AS event_id, o.* FROM opened o) e;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION bench_session_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF proisp_session_events_on('stop') THEN
        INSERT INTO event_outbox (id, subject, username, event)
        SELECT e.event_id, 'proisp.v1.session.stop', e.username,
            proisp_event_envelope(e.event_id, 'session.stop', e.username,
                bench_session_event_data(e.nas_id, e.acct_session_id, e.username,
                    e.started_at, e.stopped_at, e.framed_ip, e.calling_station_id,
                    e.nas_port_id, e.upload_octets, e.download_octets,
                    e.session_time_secs, true, e.terminate_cause, e.closed_by)::json)
        FROM (SELECT proisp_uuid_v7()::text AS event_id, c.* FROM closed c) e;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER sessions_start_event ON sessions;
CREATE TRIGGER sessions_start_event AFTER INSERT ON sessions
    REFERENCING NEW TABLE AS opened
    FOR EACH STATEMENT EXECUTE FUNCTION bench_session_started();
DROP TRIGGER session_history_stop_event ON session_history;
CREATE TRIGGER session_history_stop_event AFTER INSERT ON session_history
    REFERENCING NEW TABLE AS closed
    FOR EACH STATEMENT EXECUTE FUNCTION bench_session_closed();
