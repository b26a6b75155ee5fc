-- 0011: retention that never stalls accounting, and a retention for usage.
--
-- Dropping a partition of session_history (and creating one) takes an ACCESS EXCLUSIVE
-- lock on session_history itself. When a report or any open transaction reads history,
-- the DROP queues behind it, and every accounting writer then queues behind the DROP:
-- acknowledgements waited seconds, past a NAS's retransmission timer. Here each attempt
-- waits for its locks at most `lock_wait` (lock_timeout) and then gives up without
-- having changed anything; radiusd tries again later (radiusd/src/housekeeping.rs). So a
-- writer waits for retention at most `lock_wait` per attempt, never for a reader.
--
-- DETACH PARTITION … CONCURRENTLY would avoid even that short wait, but PostgreSQL
-- refuses it while the table has a default partition, and session_history_default is
-- what keeps a record outside every monthly partition (a spool replayed months late)
-- from failing.

-- The monthly partitions of session_history that end at or before `cutoff`, oldest first.
CREATE FUNCTION proisp_history_partitions_before(cutoff timestamptz)
RETURNS SETOF text LANGUAGE sql STABLE SET timezone = 'UTC' AS $$
    SELECT c.relname::text
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'session_history'::regclass
      AND c.relname ~ '^session_history_[0-9]{4}_[0-9]{2}$'
      AND to_timestamp(substr(c.relname, 17), 'YYYY_MM') + interval '1 month' <= cutoff
    ORDER BY c.relname
$$;

-- Drops monthly partition `part` of session_history if its locks come within
-- `lock_wait`. True: dropped (or already gone); false: a reader held it, nothing changed.
-- lock_timeout stays at `lock_wait` for the rest of the caller's transaction: call it as
-- a statement of its own. (proisp_drop_history_before of 0002, which waits as long as any
-- reader, stays for a radiusd not yet upgraded.)
CREATE FUNCTION proisp_drop_history_partition(part text, lock_wait interval)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF part !~ '^session_history_[0-9]{4}_[0-9]{2}$' THEN
        RAISE EXCEPTION 'not a monthly partition of session_history: %', part
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(part) IS NULL THEN
        RETURN true;
    END IF;
    PERFORM set_config('lock_timeout', (extract(epoch FROM lock_wait) * 1000)::bigint::text, true);
    BEGIN
        EXECUTE format('DROP TABLE %I', part);
    EXCEPTION WHEN lock_not_available THEN
        RETURN false;
    END;
    RETURN true;
END
$$;

-- Creates the monthly partitions of session_history from `from_month` for `months`
-- months, as proisp_ensure_history_partitions does, waiting for locks at most
-- `lock_wait`. Returns how many it created, or NULL when a reader held the table (what
-- was created before stays; the rest is for the next call).
CREATE FUNCTION proisp_ensure_history_partitions(from_month timestamptz, months integer,
    lock_wait interval)
RETURNS integer LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    made integer := 0;
    lo timestamptz;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        lo := date_trunc('month', from_month) + make_interval(months => i);
        IF to_regclass('session_history_' || to_char(lo, 'YYYY_MM')) IS NULL THEN
            PERFORM set_config('lock_timeout',
                (extract(epoch FROM lock_wait) * 1000)::bigint::text, true);
            BEGIN
                made := made + proisp_ensure_history_partitions(lo, 1);
            EXCEPTION WHEN lock_not_available THEN
                RETURN NULL;
            END;
        END IF;
    END LOOP;
    RETURN made;
END
$$;

-- Deletes at most `max_rows` usage rows of periods that started before `cutoff`,
-- skipping rows a writer holds (a late record of an old period). Row locks only:
-- accounting, which writes the current periods, never waits for it. Returns how many
-- it deleted.
CREATE FUNCTION proisp_trim_usage(cutoff timestamptz, max_rows integer)
RETURNS integer LANGUAGE sql AS $$
    WITH picked AS (
        SELECT ctid FROM usage WHERE period_start < cutoff
        LIMIT max_rows FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM usage u USING picked p WHERE u.ctid = p.ctid RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;
