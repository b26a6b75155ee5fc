-- 0023: a Start applied by both radiusd of a pair opens one session, not two.
--
-- A NAS that fails over mid-retransmission sends the same Start to both radiusd. When one
-- of them applies it together with the session's Stop in one transaction (a short
-- session, or a spooled batch replayed), the other's INSERT of the Start waits on the
-- sessions key for that transaction; when it commits, the row it waited for is gone (the
-- Stop moved it to history), the INSERT goes ahead, and the session is open again: a
-- phantom that counts against the subscriber's simultaneous use until the stale sweep
-- closes it into history a second time. The Start's lookup of history could not see the
-- Stop: it read before the other transaction committed.
--
-- So after the batch, one more statement — with a snapshot of its own, which sees what
-- committed while the batch waited — looks at the sessions the batch's Starts opened
-- (inserted by this transaction) and removes those whose closed copy another transaction
-- put into history meanwhile: the same key, started within 2 s of it or stopped after
-- it started. With them go their session.start events (written by this transaction) and
-- any octets their Start carried into usage. It reads history once per Start the batch
-- opened, in the partitions of its last day (sql/0012's bound).
--
-- The batch itself is sql/0014's function, renamed.

ALTER FUNCTION proisp_apply_accounting(smallint[], bigint[], text[], text[], bigint[],
    bigint[], bigint[], timestamptz[], integer[], timestamptz[], inet[], text[], text[],
    text[], integer)
    RENAME TO proisp_apply_accounting_batch;

CREATE FUNCTION proisp_apply_accounting(
    status smallint[], nas bigint[], sid text[], uname text[], up bigint[], down bigint[],
    stime bigint[], received timestamptz[], delay integer[], event timestamptz[],
    fip inet[], calling text[], port text[], cause text[], stale_after integer)
RETURNS TABLE (crossed_username text) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT * FROM proisp_apply_accounting_batch(status, nas, sid, uname, up,
        down, stime, received, delay, event, fip, calling, port, cause, stale_after);
    IF 1 = ANY (status) THEN
        PERFORM proisp_drop_raced_starts(status, nas, sid, uname);
    END IF;
END
$$;

-- The sessions this transaction's Starts opened that another transaction closed
-- meanwhile, removed with their start events and usage. Returns how many. The other
-- transaction's Stop is recent (it committed while this batch waited), so history is read
-- from a day back only; the common case, nothing raced, is one index probe into
-- `sessions` per Start and one into the recent history partitions per session opened.
CREATE FUNCTION proisp_drop_raced_starts(status smallint[], nas bigint[], sid text[],
                                         uname text[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    raced bigint[];
BEGIN
    SELECT array_agg(DISTINCT s.id) INTO raced
    FROM unnest(status, nas, sid, uname) AS r(st, nas_id, sid, uname)
    JOIN sessions s ON s.nas_id = r.nas_id AND s.acct_session_id = r.sid
        AND s.username = r.uname
    WHERE r.st = 1 AND s.xmin = pg_current_xact_id()::xid
      AND EXISTS (SELECT 1 FROM session_history h
                  WHERE h.nas_id = s.nas_id AND h.acct_session_id = s.acct_session_id
                    AND h.username = s.username
                    AND h.stopped_at >= now() - interval '1 day'
                    AND h.xmin <> pg_current_xact_id()::xid
                    AND (abs(extract(epoch FROM h.started_at - s.started_at)) <= 2
                         OR h.stopped_at > s.started_at));
    IF raced IS NULL THEN
        RETURN 0;
    END IF;
    WITH gone AS (
        DELETE FROM sessions s WHERE s.id = ANY (raced) RETURNING s.*
    ), unevented AS (
        DELETE FROM event_outbox e USING gone g
        WHERE e.event IS NULL AND e.subject = 'proisp.v1.session.start'
          AND e.nas_id = g.nas_id AND e.acct_session_id = g.acct_session_id
          AND e.username = g.username AND e.started_at = g.started_at
          AND e.xmin = pg_current_xact_id()::xid
    )
    UPDATE usage u SET
        upload_octets = greatest(u.upload_octets - g.upload_octets, 0),
        download_octets = greatest(u.download_octets - g.download_octets, 0)
    FROM gone g
    JOIN subscribers sb ON sb.id = g.subscriber_id
    JOIN plans p ON p.id = sb.plan_id
    WHERE u.subscriber_id = g.subscriber_id
      AND u.period_start = proisp_period_start(p.quota_period, g.updated_at)
      AND (g.upload_octets > 0 OR g.download_octets > 0);
    RAISE LOG 'proisp: % session(s) opened by a Start that another transaction closed meanwhile, removed',
        cardinality(raced);
    RETURN cardinality(raced);
END
$$;
