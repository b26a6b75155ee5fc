-- 0002: accounting — open sessions, monthly-partitioned session history, usage per billing
-- period, and the fair-usage state the auth path reads.
--
-- Directions: RFC 2866 §5.3–5.4 counts from the NAS port's side, so Acct-Input-Octets is
-- what the subscriber sent (upload) and Acct-Output-Octets what they received
-- (download). MikroTik RouterOS (PPPoE and Hotspot), Cisco, Juniper and accel-ppp all
-- follow it; the columns here are named by the subscriber's direction.
--
-- Idempotency: every counter in an Accounting-Request is the session's running total, so
-- a write keeps the larger of the stored and the reported value and adds only the
-- difference to usage. A retransmission, a spool replay or the same packet through the
-- other radiusd of a pair therefore never counts twice.
--
-- Times: `*_received_at` and `updated_at` are radiusd's clock when the packet arrived
-- (kept across a spool replay), `started_at` is that minus the session time and
-- Acct-Delay-Time. Billing periods are cut in UTC.

-- The billing period a plan's quota applies to.
ALTER TABLE plans ADD COLUMN quota_period text NOT NULL DEFAULT 'month'
    CHECK (quota_period IN ('day', 'week', 'month'));

-- Quota spent: until this instant (the end of the billing period) auth answers with the
-- plan's fair-usage speed. Set by accounting when usage crosses the quota, cleared by the
-- period-boundary job, which restores the full speed on open sessions.
ALTER TABLE subscribers ADD COLUMN fup_until timestamptz;
CREATE INDEX subscribers_fup_until_idx ON subscribers (fup_until) WHERE fup_until IS NOT NULL;

-- Open sessions: what "who is online" and the simultaneous-use check read. Bounded by the
-- number of subscribers online; closed sessions move to session_history.
CREATE TABLE sessions (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    nas_id                 bigint NOT NULL CONSTRAINT sessions_nas_id_fkey REFERENCES nas (id) ON DELETE CASCADE,
    acct_session_id        text NOT NULL,
    username               text NOT NULL,
    subscriber_id          bigint,
    started_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    -- No update by then: closed as stale (the NAS lost it without a Stop).
    stale_at               timestamptz NOT NULL,
    interim_interval_secs  integer NOT NULL CHECK (interim_interval_secs > 0),
    framed_ip              inet,
    calling_station_id     text,
    nas_port_id            text,
    upload_octets          bigint NOT NULL DEFAULT 0 CHECK (upload_octets >= 0),
    download_octets        bigint NOT NULL DEFAULT 0 CHECK (download_octets >= 0),
    session_time_secs      bigint NOT NULL DEFAULT 0 CHECK (session_time_secs >= 0),
    CONSTRAINT sessions_key UNIQUE (nas_id, acct_session_id, username)
)
-- Interim-Updates rewrite a row every few minutes per session and touch no indexed
-- column, so with room left on each page PostgreSQL updates in place (HOT) without new
-- index entries. For the same reason stale_at has no index: the sweep scans this table,
-- which holds only the sessions online now.
WITH (fillfactor = 70);
CREATE INDEX sessions_username_idx ON sessions (username);

-- Closed sessions, one partition per month of stopped_at; the retention job drops whole
-- partitions (proisp_drop_history_before) instead of deleting rows.
CREATE TABLE session_history (
    nas_id                 bigint NOT NULL,
    acct_session_id        text NOT NULL,
    username               text NOT NULL,
    subscriber_id          bigint,
    started_at             timestamptz NOT NULL,
    stopped_at             timestamptz NOT NULL,
    interim_interval_secs  integer NOT NULL,
    framed_ip              inet,
    calling_station_id     text,
    nas_port_id            text,
    upload_octets          bigint NOT NULL CHECK (upload_octets >= 0),
    download_octets        bigint NOT NULL CHECK (download_octets >= 0),
    session_time_secs      bigint NOT NULL CHECK (session_time_secs >= 0),
    -- Acct-Terminate-Cause as the dictionary names it, when the NAS said.
    terminate_cause        text,
    -- stop: the NAS's Stop; stale: no update in time; nas-reboot: Accounting-On/Off;
    -- replaced: a new Start with the same key.
    closed_by              text NOT NULL CHECK (closed_by IN ('stop', 'stale', 'nas-reboot', 'replaced'))
) PARTITION BY RANGE (stopped_at);
CREATE INDEX session_history_key_idx ON session_history (nas_id, acct_session_id, username);
CREATE INDEX session_history_subscriber_idx ON session_history (subscriber_id, stopped_at);
-- Rows outside every monthly partition land here instead of failing; the partition job
-- keeps months ahead so it stays empty.
CREATE TABLE session_history_default PARTITION OF session_history DEFAULT;

-- Usage per subscriber and billing period, summed over all of their sessions.
CREATE TABLE usage (
    subscriber_id    bigint NOT NULL CONSTRAINT usage_subscriber_id_fkey REFERENCES subscribers (id) ON DELETE CASCADE,
    period_start     timestamptz NOT NULL,
    upload_octets    bigint NOT NULL DEFAULT 0 CHECK (upload_octets >= 0),
    download_octets  bigint NOT NULL DEFAULT 0 CHECK (download_octets >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber_id, period_start)
);
-- Top users of a period (the admin dashboard reads the first rows of it, not the
-- million); it also serves every lookup by period.
CREATE INDEX usage_period_total_idx ON usage (period_start, (download_octets + upload_octets) DESC);

-- Creates the monthly partitions of session_history from `from_month` for `months`
-- months; existing ones are kept. Returns how many it created.
CREATE FUNCTION proisp_ensure_history_partitions(from_month timestamptz, months integer)
RETURNS integer LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    lo timestamptz;
    made integer := 0;
    name text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        lo := date_trunc('month', from_month) + make_interval(months => i);
        name := 'session_history_' || to_char(lo, 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF session_history FOR VALUES FROM (%L) TO (%L)',
                           name, lo, lo + interval '1 month');
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END
$$;

-- Drops the monthly partitions that end at or before `cutoff` (retention). Returns their
-- names.
CREATE FUNCTION proisp_drop_history_before(cutoff timestamptz)
RETURNS SETOF text LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    part record;
    hi timestamptz;
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'session_history'::regclass
          AND c.relname ~ '^session_history_[0-9]{4}_[0-9]{2}$'
    LOOP
        hi := to_timestamp(substr(part.relname, 17), 'YYYY_MM') + interval '1 month';
        IF hi <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            RETURN NEXT part.relname;
        END IF;
    END LOOP;
END
$$;

SELECT proisp_ensure_history_partitions(now() - interval '1 month', 4);

-- Start of the billing period (day, week or month, cut in UTC) containing `at`.
CREATE FUNCTION proisp_period_start(period text, at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT date_trunc(period, at, 'UTC')
$$;

-- Moves an open session to history.
CREATE FUNCTION proisp_close_session(s sessions, stopped timestamptz, cause text, how text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO session_history (nas_id, acct_session_id, username, subscriber_id, started_at,
        stopped_at, interim_interval_secs, framed_ip, calling_station_id, nas_port_id,
        upload_octets, download_octets, session_time_secs, terminate_cause, closed_by)
    VALUES (s.nas_id, s.acct_session_id, s.username, s.subscriber_id, s.started_at, stopped,
        s.interim_interval_secs, s.framed_ip, s.calling_station_id, s.nas_port_id,
        s.upload_octets, s.download_octets, s.session_time_secs, cause, how);
    DELETE FROM sessions WHERE id = s.id;
$$;

-- Applies a batch of Accounting-Requests in order, in the caller's transaction. Arrays
-- are parallel, one element per request; `status` is Acct-Status-Type (1 Start, 2 Stop,
-- 3 Interim-Update, 7 Accounting-On, 8 Accounting-Off); `stale_after` is how many
-- interim intervals without an update close a session. Returns the subscribers whose
-- usage crossed their plan's quota in this batch (their fup_until is now set).
--
-- Usage growth is summed per subscriber over the batch and written once at the end, so
-- the common case — an Interim-Update of an open session — costs one UPDATE.
CREATE FUNCTION proisp_apply_accounting(
    status smallint[], nas bigint[], sid text[], uname text[], up bigint[], down bigint[],
    stime bigint[], received timestamptz[], delay integer[], fip inet[], calling text[],
    port text[], cause text[], stale_after integer)
RETURNS TABLE (crossed_username text) LANGUAGE plpgsql AS $$
DECLARE
    s sessions;
    h record;
    sub record;
    started timestamptz;
    old_up bigint;
    old_down bigint;
    sub_id bigint;
    -- Usage growth, one element per counted request.
    g_sub bigint[] := '{}';
    g_up bigint[] := '{}';
    g_down bigint[] := '{}';
    g_at timestamptz[] := '{}';
BEGIN
    FOR i IN 1 .. coalesce(array_length(status, 1), 0) LOOP
        IF status[i] IN (7, 8) THEN
            -- The NAS (re)booted or is going down: its sessions are gone. Sessions updated
            -- after this packet arrived are newer than the reboot and stay.
            -- One statement however many there are (a big NAS holds tens of thousands).
            WITH closed AS (
                DELETE FROM sessions
                WHERE nas_id = nas[i] AND updated_at < received[i]
                RETURNING *
            )
            INSERT INTO session_history (nas_id, acct_session_id, username, subscriber_id,
                started_at, stopped_at, interim_interval_secs, framed_ip, calling_station_id,
                nas_port_id, upload_octets, download_octets, session_time_secs,
                terminate_cause, closed_by)
            SELECT c.nas_id, c.acct_session_id, c.username, c.subscriber_id, c.started_at,
                received[i], c.interim_interval_secs, c.framed_ip, c.calling_station_id,
                c.nas_port_id, c.upload_octets, c.download_octets, c.session_time_secs,
                'NAS-Reboot', 'nas-reboot'
            FROM closed c;
            CONTINUE;
        END IF;

        started := received[i] - make_interval(secs => stime[i] + delay[i]);
        sub_id := NULL;
        old_up := NULL;

        IF status[i] <> 1 THEN
            -- An update or Stop of an open session: one statement, the old totals from
            -- the locked row.
            UPDATE sessions n SET
                upload_octets = greatest(n.upload_octets, up[i]),
                download_octets = greatest(n.download_octets, down[i]),
                session_time_secs = greatest(n.session_time_secs, stime[i]),
                updated_at = greatest(n.updated_at, received[i]),
                stale_at = greatest(n.stale_at, received[i]
                    + make_interval(secs => n.interim_interval_secs * stale_after)),
                framed_ip = coalesce(fip[i], n.framed_ip)
            FROM (SELECT id, upload_octets, download_octets FROM sessions
                  WHERE nas_id = nas[i] AND acct_session_id = sid[i] AND username = uname[i]
                  FOR UPDATE) o
            WHERE n.id = o.id
            RETURNING o.upload_octets, o.download_octets, n.subscriber_id, n.id
            INTO old_up, old_down, sub_id, s.id;
            IF FOUND AND status[i] = 2 THEN
                SELECT * INTO s FROM sessions WHERE id = s.id;
                PERFORM proisp_close_session(s, received[i], cause[i], 'stop');
            END IF;
        ELSE
            SELECT * INTO s FROM sessions
            WHERE nas_id = nas[i] AND acct_session_id = sid[i] AND username = uname[i]
            FOR UPDATE;
            IF FOUND THEN
                -- A Start for an open session: the same Start again (retransmitted with a
                -- larger Acct-Delay-Time, or replayed) when it names the same start time;
                -- otherwise the NAS reused the id for a new session and the old one is over.
                IF abs(extract(epoch FROM s.started_at - started)) <= 2 THEN
                    CONTINUE;
                END IF;
                PERFORM proisp_close_session(s, received[i], NULL, 'replaced');
            END IF;
        END IF;

        IF old_up IS NULL THEN
            SELECT ctid, tableoid, closed_by, upload_octets, download_octets, started_at,
                subscriber_id
            INTO h FROM session_history
            WHERE nas_id = nas[i] AND acct_session_id = sid[i] AND username = uname[i]
            ORDER BY stopped_at DESC LIMIT 1;
            IF FOUND AND status[i] = 1 AND abs(extract(epoch FROM h.started_at - started)) <= 2 THEN
                -- This session's Start, again, after it was closed.
                CONTINUE;
            END IF;
            IF FOUND AND status[i] <> 1 THEN
                old_up := h.upload_octets;
                old_down := h.download_octets;
                sub_id := h.subscriber_id;
                IF status[i] = 3 AND h.closed_by = 'stale' THEN
                    -- Closed for silence, but alive after all: open it again.
                    DELETE FROM session_history
                    WHERE ctid = h.ctid AND tableoid = h.tableoid
                    RETURNING nas_id, acct_session_id, username, subscriber_id, started_at,
                        interim_interval_secs, framed_ip, calling_station_id, nas_port_id,
                        upload_octets, download_octets, session_time_secs
                    INTO s.nas_id, s.acct_session_id, s.username, s.subscriber_id,
                        s.started_at, s.interim_interval_secs, s.framed_ip,
                        s.calling_station_id, s.nas_port_id, s.upload_octets,
                        s.download_octets, s.session_time_secs;
                    INSERT INTO sessions (nas_id, acct_session_id, username, subscriber_id,
                        started_at, updated_at, stale_at,
                        interim_interval_secs, framed_ip, calling_station_id, nas_port_id,
                        upload_octets, download_octets, session_time_secs)
                    VALUES (s.nas_id, s.acct_session_id, s.username, s.subscriber_id,
                        s.started_at, received[i],
                        received[i] + make_interval(secs => s.interim_interval_secs * stale_after),
                        s.interim_interval_secs, coalesce(fip[i], s.framed_ip),
                        s.calling_station_id, s.nas_port_id,
                        greatest(s.upload_octets, up[i]), greatest(s.download_octets, down[i]),
                        greatest(s.session_time_secs, stime[i]));
                ELSE
                    -- A late update or the Stop of a closed session: keep the final
                    -- counters; a real Stop names the cause.
                    UPDATE session_history SET
                        upload_octets = greatest(upload_octets, up[i]),
                        download_octets = greatest(download_octets, down[i]),
                        session_time_secs = greatest(session_time_secs, stime[i]),
                        terminate_cause = CASE WHEN status[i] = 2 THEN coalesce(cause[i], terminate_cause)
                                               ELSE terminate_cause END,
                        closed_by = CASE WHEN status[i] = 2 THEN 'stop' ELSE closed_by END
                    WHERE ctid = h.ctid AND tableoid = h.tableoid;
                END IF;
            ELSE
                -- A new session (or one whose Start was lost).
                SELECT sb.id, p.interim_interval_secs INTO sub
                FROM subscribers sb JOIN plans p ON p.id = sb.plan_id
                WHERE sb.username = uname[i] AND sb.deleted_at IS NULL;
                sub_id := sub.id;
                old_up := 0;
                old_down := 0;
                IF status[i] = 2 THEN
                    INSERT INTO session_history (nas_id, acct_session_id, username,
                        subscriber_id, started_at, stopped_at, interim_interval_secs,
                        framed_ip, calling_station_id, nas_port_id, upload_octets,
                        download_octets, session_time_secs, terminate_cause, closed_by)
                    VALUES (nas[i], sid[i], uname[i], sub.id, started, received[i],
                        coalesce(sub.interim_interval_secs, 300), fip[i], calling[i], port[i],
                        greatest(up[i], 0), greatest(down[i], 0), greatest(stime[i], 0),
                        cause[i], 'stop');
                ELSE
                    INSERT INTO sessions (nas_id, acct_session_id, username, subscriber_id,
                        started_at, updated_at, stale_at,
                        interim_interval_secs, framed_ip, calling_station_id, nas_port_id,
                        upload_octets, download_octets, session_time_secs)
                    VALUES (nas[i], sid[i], uname[i], sub.id, started, received[i],
                        received[i] + make_interval(secs => coalesce(sub.interim_interval_secs, 300) * stale_after),
                        coalesce(sub.interim_interval_secs, 300), fip[i], calling[i], port[i],
                        greatest(up[i], 0), greatest(down[i], 0), greatest(stime[i], 0));
                END IF;
            END IF;
        END IF;

        IF sub_id IS NOT NULL AND (up[i] > old_up OR down[i] > old_down) THEN
            g_sub := g_sub || sub_id;
            g_up := g_up || greatest(up[i] - old_up, 0);
            g_down := g_down || greatest(down[i] - old_down, 0);
            g_at := g_at || received[i];
        END IF;
    END LOOP;

    -- The batch's growth per subscriber into their period's usage; a total that reaches
    -- the quota starts fair usage until the period ends, and is reported once.
    RETURN QUERY
    WITH growth AS (
        SELECT g.sub_id, sum(g.up)::bigint AS up, sum(g.down)::bigint AS down, max(g.at) AS at
        FROM unnest(g_sub, g_up, g_down, g_at) AS g(sub_id, up, down, at)
        GROUP BY g.sub_id
    ), periods AS (
        SELECT gr.*, p.quota_bytes, p.quota_period,
            proisp_period_start(p.quota_period, gr.at) AS period
        FROM growth gr
        JOIN subscribers sb ON sb.id = gr.sub_id
        JOIN plans p ON p.id = sb.plan_id
    ), totals AS (
        INSERT INTO usage AS u (subscriber_id, period_start, upload_octets, download_octets, updated_at)
        SELECT pe.sub_id, pe.period, pe.up, pe.down, pe.at FROM periods pe ORDER BY pe.sub_id
        ON CONFLICT (subscriber_id, period_start) DO UPDATE
            SET upload_octets = u.upload_octets + excluded.upload_octets,
                download_octets = u.download_octets + excluded.download_octets,
                updated_at = greatest(u.updated_at, excluded.updated_at)
        RETURNING u.subscriber_id, u.upload_octets + u.download_octets AS total
    )
    UPDATE subscribers sb
    SET fup_until = pe.period + ('1 ' || pe.quota_period)::interval,
        version = nextval('entry_version'),
        updated_at = now()
    FROM periods pe JOIN totals t ON t.subscriber_id = pe.sub_id
    WHERE sb.id = pe.sub_id AND pe.quota_bytes IS NOT NULL AND t.total >= pe.quota_bytes
      AND (sb.fup_until IS NULL OR sb.fup_until <= pe.at)
    RETURNING sb.username;
END
$$;

-- Closes sessions not updated in time (stale_at passed), at most `max_rows` per call,
-- skipping rows another writer holds. Returns how many it closed.
CREATE FUNCTION proisp_close_stale_sessions(max_rows integer)
RETURNS integer LANGUAGE sql AS $$
    WITH picked AS (
        SELECT id FROM sessions WHERE stale_at < now()
        ORDER BY stale_at LIMIT max_rows FOR UPDATE SKIP LOCKED
    ), closed AS (
        DELETE FROM sessions s USING picked p WHERE s.id = p.id RETURNING s.*
    ), moved AS (
        INSERT INTO session_history (nas_id, acct_session_id, username, subscriber_id,
            started_at, stopped_at, interim_interval_secs, framed_ip, calling_station_id,
            nas_port_id, upload_octets, download_octets, session_time_secs,
            terminate_cause, closed_by)
        SELECT c.nas_id, c.acct_session_id, c.username, c.subscriber_id, c.started_at,
            c.stale_at, c.interim_interval_secs, c.framed_ip, c.calling_station_id,
            c.nas_port_id, c.upload_octets, c.download_octets, c.session_time_secs,
            'Lost-Service', 'stale'
        FROM closed c
        RETURNING 1
    )
    SELECT count(*)::integer FROM moved
$$;
