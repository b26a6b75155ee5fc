-- 0014: the common requests of a batch applied set-wise.
--
-- proisp_apply_accounting took a batch in one call but applied it one request at a time:
-- a Start cost four statements (the open session looked up, its closed copy looked up,
-- the subscriber looked up, the row inserted), a Stop four (update, re-read, insert into
-- history, delete), an Interim-Update one. On a mix of short sessions (Start, Interim,
-- Stop) PostgreSQL spent its CPU on executing some nine statements per session, and that
-- was the bottleneck (issue 17).
--
-- Now the requests of a batch whose session appears once in it go first, together, three
-- statements for the whole batch: the Interim-Updates of open sessions (one UPDATE), the
-- Stops of open sessions (one DELETE … RETURNING whose rows are inserted into history in
-- the same statement, at their final counters), and the Starts of sessions neither open
-- nor closed recently (one INSERT … SELECT, the subscriber joined in). What any of them
-- does not match — a session named twice in the batch, a Start that finds its session
-- open or closed already, an update or Stop of a session that is not open, and every
-- request of a batch holding an Accounting-On/Off — is applied one by one afterwards,
-- in arrival order, by the rules before (0012's loop, unchanged). The two groups share no
-- session, so the order between them changes nothing but the sum of usage, which is
-- written once at the end as before.

-- Applies a batch of Accounting-Requests, in the caller's transaction. Arrays
-- are parallel, one element per request; `status` is Acct-Status-Type (1 Start, 2 Stop,
-- 3 Interim-Update, 7 Accounting-On, 8 Accounting-Off); `event` is Event-Timestamp, NULL
-- where the request had none; `stale_after` is how many interim intervals without an
-- update close a session. Returns the subscribers whose
-- usage crossed their plan's quota in this batch (their fup_until is now set).
CREATE OR REPLACE FUNCTION proisp_apply_accounting(
    status smallint[], nas bigint[], sid text[], uname text[], up bigint[], down bigint[],
    stime bigint[], received timestamptz[], delay integer[], event timestamptz[],
    fip inet[], calling text[], port text[], cause text[], stale_after integer)
RETURNS TABLE (crossed_username text) LANGUAGE plpgsql AS $$
DECLARE
    s sessions;
    h record;
    sub record;
    started timestamptz;
    since timestamptz;
    old_up bigint;
    old_down bigint;
    sub_id bigint;
    -- Usage growth, one element per counted request.
    g_sub bigint[] := '{}';
    g_up bigint[] := '{}';
    g_down bigint[] := '{}';
    g_at timestamptz[] := '{}';
    -- The requests applied together, in the first statement.
    together bigint[] := '{}';
    -- The earliest start a Start of the batch names: a constant bound on the history its
    -- Starts look in, so the partitions before it are pruned when the plan starts.
    earliest timestamptz;
    i integer;
BEGIN
    -- The common case, together: the requests whose session appears once in a batch
    -- without an Accounting-On/Off, where they find what they expect (an update or Stop
    -- its open session, a Start no session at all).
    IF NOT (7 = ANY (status) OR 8 = ANY (status)) THEN
        SELECT min(CASE WHEN r.event IS NOT NULL THEN r.event - make_interval(secs => r.stime)
                        ELSE r.received - make_interval(secs => r.stime + r.delay) END)
        INTO earliest
        FROM unnest(status, received, delay, event, stime) AS r(st, received, delay, event, stime)
        WHERE r.st = 1;
        WITH req AS (
            SELECT r.*,
                count(*) OVER (PARTITION BY r.nas_id, r.sid, r.uname) AS copies,
                CASE WHEN r.event IS NOT NULL THEN r.event - make_interval(secs => r.stime)
                     ELSE r.received - make_interval(secs => r.stime + r.delay) END AS started
            FROM unnest(status, nas, sid, uname, up, down, stime, received, delay, event,
                        fip, calling, port, cause)
                WITH ORDINALITY AS r(st, nas_id, sid, uname, up, down, stime, received,
                                     delay, event, fip, calling, port, cause, idx)
        ), once AS (
            SELECT * FROM req WHERE copies = 1
        ), held AS (
            -- The open sessions updated or stopped, with their totals before, locked in
            -- one order.
            SELECT ss.id, ss.upload_octets AS old_up, ss.download_octets AS old_down, o.*
            FROM once o
            JOIN sessions ss ON ss.nas_id = o.nas_id AND ss.acct_session_id = o.sid
                AND ss.username = o.uname
            WHERE o.st IN (2, 3)
            ORDER BY ss.id
            FOR UPDATE OF ss
        ), updated AS (
            UPDATE sessions n SET
                upload_octets = greatest(n.upload_octets, hd.up),
                download_octets = greatest(n.download_octets, hd.down),
                session_time_secs = greatest(n.session_time_secs, hd.stime),
                updated_at = greatest(n.updated_at, hd.received),
                stale_at = greatest(n.stale_at, hd.received
                    + make_interval(secs => n.interim_interval_secs * stale_after)),
                framed_ip = coalesce(hd.fip, n.framed_ip)
            FROM held hd
            WHERE n.id = hd.id AND hd.st = 3
            RETURNING hd.idx, n.subscriber_id, hd.old_up, hd.old_down, n.upload_octets AS new_up,
                n.download_octets AS new_down, hd.received
        ), stopped AS (
            -- A Stop moves its session to history at the final counters.
            DELETE FROM sessions n USING held hd
            WHERE n.id = hd.id AND hd.st = 2
            RETURNING n.*, hd.idx, greatest(n.upload_octets, hd.up) AS new_up,
                greatest(n.download_octets, hd.down) AS new_down,
                greatest(n.session_time_secs, hd.stime) AS new_time, hd.received AS stopped_at,
                coalesce(hd.fip, n.framed_ip) AS new_ip, hd.cause
        ), moved AS (
            INSERT INTO session_history (nas_id, acct_session_id, username, subscriber_id,
                started_at, stopped_at, interim_interval_secs, framed_ip, calling_station_id,
                nas_port_id, upload_octets, download_octets, session_time_secs,
                terminate_cause, closed_by)
            SELECT c.nas_id, c.acct_session_id, c.username, c.subscriber_id, c.started_at,
                c.stopped_at, c.interim_interval_secs, c.new_ip, c.calling_station_id,
                c.nas_port_id, c.new_up, c.new_down, c.new_time, c.cause, 'stop'
            FROM stopped c
        ), fresh AS (
            -- Starts of sessions neither open nor closed recently (0012's bound).
            SELECT o.*, sj.id AS sub_id, coalesce(sj.interim_interval_secs, 300) AS interval_secs
            FROM once o
            LEFT JOIN LATERAL (
                SELECT sb.id, p.interim_interval_secs
                FROM subscribers sb JOIN plans p ON p.id = sb.plan_id
                WHERE sb.username = o.uname AND sb.deleted_at IS NULL
            ) sj ON true
            WHERE o.st = 1
              AND NOT EXISTS (SELECT 1 FROM sessions ss
                              WHERE ss.nas_id = o.nas_id AND ss.acct_session_id = o.sid
                                AND ss.username = o.uname)
              AND NOT EXISTS (SELECT 1 FROM session_history hs
                              WHERE hs.nas_id = o.nas_id AND hs.acct_session_id = o.sid
                                AND hs.username = o.uname
                                AND hs.stopped_at >= o.started - interval '1 day'
                                AND hs.stopped_at >= earliest - interval '1 day')
        ), opened AS (
            INSERT INTO sessions (nas_id, acct_session_id, username, subscriber_id,
                started_at, updated_at, stale_at, interim_interval_secs, framed_ip,
                calling_station_id, nas_port_id, upload_octets, download_octets,
                session_time_secs)
            SELECT f.nas_id, f.sid, f.uname, f.sub_id, f.started, f.received,
                f.received + make_interval(secs => f.interval_secs * stale_after),
                f.interval_secs, f.fip, f.calling, f.port, greatest(f.up, 0),
                greatest(f.down, 0), greatest(f.stime, 0)
            FROM fresh f
            ORDER BY f.nas_id, f.sid, f.uname
        ), done AS (
            SELECT u.idx, u.subscriber_id AS sub_id, u.old_up, u.old_down, u.new_up,
                u.new_down, u.received
            FROM updated u
            UNION ALL
            SELECT c.idx, c.subscriber_id, c.upload_octets, c.download_octets, c.new_up,
                c.new_down, c.stopped_at
            FROM stopped c
            UNION ALL
            SELECT f.idx, f.sub_id, 0, 0, greatest(f.up, 0), greatest(f.down, 0), f.received
            FROM fresh f
        )
        SELECT coalesce(array_agg(d.idx), '{}'),
            coalesce(array_agg(d.sub_id) FILTER (WHERE d.grew), '{}'),
            coalesce(array_agg(d.new_up - d.old_up) FILTER (WHERE d.grew), '{}'),
            coalesce(array_agg(d.new_down - d.old_down) FILTER (WHERE d.grew), '{}'),
            coalesce(array_agg(d.received) FILTER (WHERE d.grew), '{}')
        INTO together, g_sub, g_up, g_down, g_at
        FROM (SELECT dn.*, dn.sub_id IS NOT NULL
                  AND (dn.new_up > dn.old_up OR dn.new_down > dn.old_down) AS grew
              FROM done dn) d;
    END IF;

    -- The rest one by one, in arrival order.
    FOR i IN SELECT k FROM generate_subscripts(status, 1) AS k
             EXCEPT SELECT unnest(together)
             ORDER BY 1 LOOP
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

        started := CASE WHEN event[i] IS NOT NULL
                        THEN event[i] - make_interval(secs => stime[i])
                        ELSE received[i] - make_interval(secs => stime[i] + delay[i]) END;
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
                -- A Start for an open session: the same Start again (the same Event-Timestamp,
                -- or resent with a larger Acct-Delay-Time, or replayed) when it names the
                -- same start time; otherwise the NAS reused the id for a new session and the
                -- old one is over.
                IF abs(extract(epoch FROM s.started_at - started)) <= 2 THEN
                    CONTINUE;
                END IF;
                PERFORM proisp_close_session(s, received[i], NULL, 'replaced');
            END IF;
        END IF;

        IF old_up IS NULL THEN
            -- A Start finds its own closed copy only: one that started within 2 s of it,
            -- so stopped then or later (a day of margin for a NAS clock ahead of
            -- radiusd's). Bounded so, the lookup reads the recent partitions, not a year
            -- of them. An update or Stop of a closed session (rare: it arrives after its
            -- session was closed) searches all of history.
            since := CASE WHEN status[i] = 1 THEN started - interval '1 day'
                          ELSE '-infinity' END;
            SELECT ctid, tableoid, closed_by, upload_octets, download_octets, started_at,
                subscriber_id
            INTO h FROM session_history
            WHERE nas_id = nas[i] AND acct_session_id = sid[i] AND username = uname[i]
              AND stopped_at >= since
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
