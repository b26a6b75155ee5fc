-- A year of accounting history for bench/history.sh, in SQL on a migrated ProISP
-- database (`proisp-adminapi migrate`, then `proisp-adminapi seed --subscribers N` for
-- the subscribers user000001 … and their plan). psql variables, with the issue's scale as
-- defaults:
--   subscribers  1000000   (must match the seed)
--   sessions     50800000  closed sessions, spread evenly over the last `days`
--   days         365
--   pool         500000    addresses in the dynamic pool 100.64.0.0/10 they come from
-- Deterministic (every value comes from the row number), so two runs make the same
-- history. Partitions are made first, indexes exist already (the migrations'), and the
-- rows go in one month at a time so each partition's indexes grow in order.
--
--   psql -v subscribers=1000000 -v sessions=50800000 -f bench/history/generate.sql

\set ON_ERROR_STOP on
-- Generated history is not news: no session.stop events into the outbox (sql/0016).
SET proisp.session_events = 'off';
\if :{?subscribers} \else \set subscribers 1000000 \endif
\if :{?sessions} \else \set sessions 50800000 \endif
\if :{?days} \else \set days 365 \endif
\if :{?pool} \else \set pool 500000 \endif

SET statement_timeout = 0;
SET synchronous_commit = off;
-- For the DO block below, which psql variables do not reach.
SET bench.sessions = :'sessions';
SET bench.subscribers = :'subscribers';
SET bench.days = :'days';
SET bench.pool = :'pool';
SELECT proisp_ensure_history_partitions(now() - make_interval(days => :days), :days / 28 + 4);

-- Sessions numbered 0 … sessions-1 stop at evenly spaced instants from `days` ago to now;
-- each lasts 5 minutes to a day, belongs to subscriber (n * 7919) % subscribers + 1, has
-- an address of the pool and the subscriber's own MAC.
CREATE TEMPORARY TABLE bench_months AS
SELECT g AS month_start, least(g + interval '1 month', now()) AS month_end
FROM generate_series(date_trunc('month', now() - make_interval(days => :days)), now(),
                     interval '1 month') g;

DO $$
DECLARE
    m record;
    total bigint := current_setting('bench.sessions')::bigint;
    subs bigint := current_setting('bench.subscribers')::bigint;
    pool bigint := current_setting('bench.pool')::bigint;
    span interval := make_interval(days => current_setting('bench.days')::int);
    first_stop timestamptz := now() - span;
    step double precision;
    lo bigint;
    hi bigint;
BEGIN
    step := extract(epoch FROM span) / total;
    FOR m IN SELECT * FROM bench_months ORDER BY month_start LOOP
        lo := greatest(ceil(extract(epoch FROM m.month_start - first_stop) / step)::bigint, 0);
        hi := least(ceil(extract(epoch FROM m.month_end - first_stop) / step)::bigint, total) - 1;
        CONTINUE WHEN hi < lo;
        INSERT INTO session_history (nas_id, acct_session_id, username, subscriber_id,
            started_at, stopped_at, interim_interval_secs, framed_ip, calling_station_id,
            nas_port_id, upload_octets, download_octets, session_time_secs,
            terminate_cause, closed_by)
        SELECT 1 + n % 4, 'bench-' || n, 'user' || lpad(s::text, 6, '0'), s,
            stop - make_interval(secs => dur), stop, 300,
            '100.64.0.0'::inet + (n * 104729) % pool,
            upper(regexp_replace(lpad(to_hex(s), 12, '0'), '(..)(?!$)', '\1:', 'g')),
            'pppoe-' || s, dur * 1000, dur * 9000, dur, 'User-Request', 'stop'
        FROM (SELECT n, (n * 7919) % subs + 1 AS s,
                     first_stop + make_interval(secs => n * step) AS stop,
                     300 + (n * 31) % 86100 AS dur
              FROM generate_series(lo, hi) n) x;
        RAISE NOTICE 'history up to %: % sessions', m.month_end, hi + 1;
        COMMIT;
    END LOOP;
END
$$;

-- Usage: one row per subscriber and month.
INSERT INTO usage (subscriber_id, period_start, upload_octets, download_octets, updated_at)
SELECT s.id, m.month_start, s.id * 1000, s.id * 9000, m.month_end
FROM bench_months m CROSS JOIN subscribers s
WHERE s.deleted_at IS NULL
ON CONFLICT DO NOTHING;

ANALYZE session_history;
ANALYZE usage;
SELECT count(*) AS sessions, pg_size_pretty(pg_total_relation_size('session_history_default')
    + (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
       WHERE inhparent = 'session_history'::regclass)::bigint) AS size
FROM session_history;
