-- 0016: session and fair-usage events into the outbox (issue 22), written by the
-- statements that change the sessions, so an event exists if and only if its change
-- committed, whichever path made it: a batch's set-wise statement, the one-by-one loop,
-- an Accounting-On, the stale-session sweep, a late Stop of a closed session.
--
-- session.start  a row entered `sessions` (a Start, a lost Start's first update, or a
--                session closed for silence that proved alive: opened again);
-- session.stop   a row entered `session_history` (a Stop, an Accounting-On/Off, silence,
--                a new session reusing the key), or a closed row took larger counters or
--                its real Stop late (the latest stop of a session is its final word);
-- session.interim a row of `sessions` changed (an Interim-Update): off by default;
-- fup.applied    a subscriber's usage reached the plan's quota (fup_until set).
--
-- Which session events are written is a setting of the connection,
-- `proisp.session_events`: a comma-separated list of start, interim, stop, or `off`;
-- unset means `start,stop`. radiusd sets it on its connections from its configuration
-- (`[accounting] session_events`). Start and stop are statement triggers over the
-- statement's rows (one INSERT into the outbox per statement, however many sessions);
-- interim is a row trigger whose condition is the setting, so it costs nothing while off.

-- A UUIDv7 (RFC 9562): the millisecond clock, then random bits; CloudEvents ids and
-- `Nats-Msg-Id`s that sort by time, as the Rust writers' (uuid::Uuid::now_v7) do.
CREATE FUNCTION proisp_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

-- Whether this connection writes session events of `kind` (start, interim, stop).
CREATE FUNCTION proisp_session_events_on(kind text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT kind = ANY (string_to_array(replace(
        coalesce(nullif(current_setting('proisp.session_events', true), ''), 'start,stop'),
        ' ', ''), ','))
$$;

-- A CloudEvent (structured mode) from radiusd, as store/src/outbox.rs builds them.
CREATE FUNCTION proisp_event_envelope(id text, kind text, subject text, data json)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'specversion', '1.0', 'id', id, 'source', '/proisp/radiusd',
        'type', 'net.proisp.' || kind,
        'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'subject', subject, 'datacontenttype', 'application/json', 'data', data)
$$;

CREATE FUNCTION proisp_rfc3339(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- The data of a session event, by FreeRADIUS's attribute names. Acct-Unique-Session-Id
-- names one session across NAS devices and Acct-Session-Id reuse: its NAS, id, user and
-- start time, hashed. Octets are totals since the session started (64-bit, the
-- Gigawords folded in by radiusd).
CREATE FUNCTION proisp_session_event_data(
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

CREATE FUNCTION proisp_session_started() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF proisp_session_events_on('start') THEN
        INSERT INTO event_outbox (id, subject, username, event)
        SELECT e.event_id, 'proisp.v1.session.start', e.username,
            proisp_event_envelope(e.event_id, 'session.start', e.username,
                proisp_session_event_data(e.nas_id, e.acct_session_id, e.username,
                    e.started_at, e.started_at, e.framed_ip, e.calling_station_id,
                    e.nas_port_id, e.upload_octets, e.download_octets,
                    e.session_time_secs, false, NULL, NULL)::json)
        FROM (SELECT proisp_uuid_v7()::text AS event_id, o.* FROM opened o) e;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_start_event AFTER INSERT ON sessions
    REFERENCING NEW TABLE AS opened
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_session_started();

-- One row's event of kind TG_ARGV[0] (session.interim from `sessions`, session.stop from
-- `session_history`): the row trigger of the rare paths and the opt-in one. The two
-- tables' columns are read through to_jsonb(NEW), so one function serves both.
CREATE FUNCTION proisp_session_row_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    id text := proisp_uuid_v7()::text;
    kind text := TG_ARGV[0];
    r jsonb := to_jsonb(NEW);
BEGIN
    INSERT INTO event_outbox (id, subject, username, event)
    VALUES (id, 'proisp.v1.' || kind, NEW.username,
        proisp_event_envelope(id, kind, NEW.username,
            proisp_session_event_data(NEW.nas_id, NEW.acct_session_id, NEW.username,
                NEW.started_at,
                coalesce((r->>'stopped_at')::timestamptz, (r->>'updated_at')::timestamptz),
                NEW.framed_ip, NEW.calling_station_id, NEW.nas_port_id, NEW.upload_octets,
                NEW.download_octets, NEW.session_time_secs, true, r->>'terminate_cause',
                r->>'closed_by')::json));
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_interim_event AFTER UPDATE ON sessions
    FOR EACH ROW WHEN (proisp_session_events_on('interim'))
    EXECUTE FUNCTION proisp_session_row_event('session.interim');

CREATE FUNCTION proisp_session_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF proisp_session_events_on('stop') THEN
        INSERT INTO event_outbox (id, subject, username, event)
        SELECT e.event_id, 'proisp.v1.session.stop', e.username,
            proisp_event_envelope(e.event_id, 'session.stop', e.username,
                proisp_session_event_data(e.nas_id, e.acct_session_id, e.username,
                    e.started_at, e.stopped_at, e.framed_ip, e.calling_station_id,
                    e.nas_port_id, e.upload_octets, e.download_octets,
                    e.session_time_secs, true, e.terminate_cause, e.closed_by)::json)
        FROM (SELECT proisp_uuid_v7()::text AS event_id, c.* FROM closed c) e;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER session_history_stop_event AFTER INSERT ON session_history
    REFERENCING NEW TABLE AS closed
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_session_closed();

-- A closed session whose counters grew or whose real Stop came late: stopped again, with
-- its final counters.
CREATE TRIGGER session_history_restop_event AFTER UPDATE ON session_history
    FOR EACH ROW WHEN ((NEW.closed_by IS DISTINCT FROM OLD.closed_by
                        OR NEW.terminate_cause IS DISTINCT FROM OLD.terminate_cause
                        OR NEW.upload_octets > OLD.upload_octets
                        OR NEW.download_octets > OLD.download_octets
                        OR NEW.session_time_secs > OLD.session_time_secs)
                       AND proisp_session_events_on('stop'))
    EXECUTE FUNCTION proisp_session_row_event('session.stop');

-- fup.applied: the accounting batch that carried a subscriber's usage to the quota sets
-- fup_until (sql/0014); radiusd then lowers the rate of their sessions by CoA (whose
-- outcome is a coa.result event). One event per crossing: fup_until is set once per
-- period.
CREATE FUNCTION proisp_fup_applied() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    id text := proisp_uuid_v7()::text;
    data json;
BEGIN
    SELECT json_build_object(
        'username', NEW.username,
        'plan', p.name,
        'action', p.fup_action,
        'quota_bytes', p.quota_bytes,
        'used_bytes', (SELECT u.upload_octets + u.download_octets FROM usage u
                       WHERE u.subscriber_id = NEW.id
                       ORDER BY u.period_start DESC LIMIT 1),
        'download_kbps', p.fup_download_kbps,
        'upload_kbps', p.fup_upload_kbps,
        'until', proisp_rfc3339(NEW.fup_until))
    INTO data
    FROM plans p WHERE p.id = NEW.plan_id;
    INSERT INTO event_outbox (id, subject, username, event)
    VALUES (id, 'proisp.v1.fup.applied', NEW.username,
        proisp_event_envelope(id, 'fup.applied', NEW.username, data));
    RETURN NULL;
END
$$;

CREATE TRIGGER subscribers_fup_event AFTER UPDATE OF fup_until ON subscribers
    FOR EACH ROW WHEN (NEW.fup_until IS NOT NULL
                       AND NEW.fup_until IS DISTINCT FROM OLD.fup_until)
    EXECUTE FUNCTION proisp_fup_applied();

-- nas.accounting_on: a NAS said it (re)booted or is going down (Accounting-On or -Off),
-- and its sessions were closed (each with its session.stop). radiusd calls this in the
-- transaction that applied the batch, for the batch's arrays; rows of other types are
-- skipped. Not about one subscriber: ordered with the other events of its subject.
CREATE FUNCTION proisp_nas_accounting_events(nas_ids bigint[], status smallint[],
                                             received timestamptz[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO event_outbox (id, subject, username, event)
    SELECT e.event_id, 'proisp.v1.nas.accounting_on', NULL,
        proisp_event_envelope(e.event_id, 'nas.accounting_on', e.name, json_build_object(
            'NAS-IP-Address', host(e.address),
            'NAS-Identifier', e.name,
            'Acct-Status-Type', CASE WHEN e.st = 7 THEN 'Accounting-On' ELSE 'Accounting-Off' END,
            'Event-Timestamp', proisp_rfc3339(e.at)))
    FROM (SELECT proisp_uuid_v7()::text AS event_id, n.name, n.address, r.st, r.at, r.k
          FROM unnest(nas_ids, status, received) WITH ORDINALITY AS r(nas_id, st, at, k)
          JOIN nas n ON n.id = r.nas_id
          WHERE r.st IN (7, 8)) e
    ORDER BY e.k
$$;
