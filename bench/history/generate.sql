-- A year of accounting history for bench/history.sh, first part: the plan. Run on a
-- migrated and seeded ProISP database (`proisp-adminapi migrate`, then `proisp-adminapi
-- seed --subscribers N`, which makes the subscribers user000001 … and their plan) with no
-- history yet; bench/history/generate.sh runs the three parts in order. psql variables,
-- with the issue's scale as defaults:
--   subscribers  1000000   (must match the seed)
--   sessions     50800000  closed sessions, spread evenly over the last `days`
--   days         365
--   pool         500000    addresses in the dynamic pool 100.64.0.0/10 they come from
-- Deterministic (every value comes from the row number), so two runs make the same
-- history.
--
-- Why in parts: inserting 50 M rows under five indexes each costs an index descent per
-- row and index (some 6,500 rows/s here). Instead every month is filled into a table of
-- its own without indexes, its indexes are built afterwards by sorting, and it is then
-- attached as the month's partition, which adopts those indexes and, thanks to a CHECK
-- constraint matching its bounds, skips the scan of its rows. Months are independent, so
-- bench_history_fill(job) runs on several connections at once: one job per month, and
-- job 0 fills `usage`.

\set ON_ERROR_STOP on
\if :{?subscribers} \else \set subscribers 1000000 \endif
\if :{?sessions} \else \set sessions 50800000 \endif
\if :{?days} \else \set days 365 \endif
\if :{?pool} \else \set pool 500000 \endif

SET timezone = 'UTC';
SET client_min_messages = warning;
SELECT proisp_ensure_history_partitions(now() - make_interval(days => :days), :days / 28 + 4);

-- Sessions numbered 0 … sessions-1 stop at evenly spaced instants from `days` ago to now;
-- each lasts 5 minutes to a day, belongs to subscriber (n * 7919) % subscribers + 1, has
-- an address of the pool and the subscriber's own MAC.
DROP TABLE IF EXISTS bench_history_plan, bench_history_months;
CREATE TABLE bench_history_plan AS
SELECT now() - make_interval(days => :days) AS first_stop,
       extract(epoch FROM make_interval(days => :days)) / :sessions AS step,
       :sessions::bigint AS total, :subscribers::bigint AS subs, :pool::bigint AS pool;

-- One row per month: which sessions stop in it, and the partition that will hold them.
CREATE TABLE bench_history_months AS
SELECT row_number() OVER (ORDER BY g)::integer AS job, g AS month_start,
       g + interval '1 month' AS month_next,
       'session_history_' || to_char(g, 'YYYY_MM') AS part,
       greatest(ceil(extract(epoch FROM g - p.first_stop) / p.step)::bigint, 0) AS lo,
       least(ceil(extract(epoch FROM least(g + interval '1 month', now()) - p.first_stop)
                  / p.step)::bigint, p.total) - 1 AS hi
FROM bench_history_plan p,
     generate_series(date_trunc('month', now() - make_interval(days => :days)), now(),
                     interval '1 month') g;
DELETE FROM bench_history_months WHERE hi < lo;

-- Each month's empty partition gives way to a plain table of the same shape, whose CHECK
-- constraint will let ATTACH PARTITION skip scanning it.
DO $$
DECLARE
    m record;
    rows_there boolean;
BEGIN
    FOR m IN SELECT * FROM bench_history_months ORDER BY job LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', m.part) INTO rows_there;
        IF rows_there THEN
            RAISE EXCEPTION '% holds history already: the generator needs a database without any', m.part;
        END IF;
        EXECUTE format('DROP TABLE %I', m.part);
        EXECUTE format('CREATE TABLE %I (LIKE session_history INCLUDING DEFAULTS INCLUDING CONSTRAINTS,'
                       ' CONSTRAINT bench_bounds CHECK (stopped_at >= %L AND stopped_at < %L))',
                       m.part, m.month_start, m.month_next);
    END LOOP;
END
$$;
SELECT EXISTS (SELECT 1 FROM usage) AS usage_there \gset
\if :usage_there
\warn 'usage holds rows already: the generator needs a database without any'
\quit 3
\endif

-- Fills one month (job ≥ 1) or `usage` (job 0). Nothing else writes these tables while
-- the generator runs.
CREATE OR REPLACE PROCEDURE bench_history_fill(job integer)
LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    p bench_history_plan;
    m bench_history_months;
    def record;
BEGIN
    SELECT * INTO STRICT p FROM bench_history_plan;
    IF job = 0 THEN
        -- One row per subscriber and month, written without usage's indexes and foreign
        -- key, which are made again from their own definitions afterwards.
        CREATE TEMPORARY TABLE usage_defs AS
        SELECT 'ALTER TABLE usage ADD CONSTRAINT ' || quote_ident(conname) || ' '
                   || pg_get_constraintdef(oid) AS def, conname AS name, 1 AS kind
        FROM pg_constraint WHERE conrelid = 'usage'::regclass AND contype IN ('p', 'f', 'u')
        UNION ALL
        SELECT pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text, 0
        FROM pg_index i
        WHERE i.indrelid = 'usage'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
        FOR def IN SELECT * FROM usage_defs ORDER BY kind DESC LOOP
            IF def.kind = 1 THEN
                EXECUTE format('ALTER TABLE usage DROP CONSTRAINT %I', def.name);
            ELSE
                EXECUTE format('DROP INDEX %s', def.name);
            END IF;
        END LOOP;
        INSERT INTO usage (subscriber_id, period_start, upload_octets, download_octets, updated_at)
        SELECT s.id, m2.month_start, s.id * 1000, s.id * 9000, least(m2.month_next, now())
        FROM bench_history_months m2 CROSS JOIN subscribers s
        WHERE s.deleted_at IS NULL;
        FOR def IN SELECT * FROM usage_defs ORDER BY kind DESC, name LOOP
            EXECUTE def.def;
        END LOOP;
        DROP TABLE usage_defs;
        RETURN;
    END IF;

    SELECT * INTO STRICT m FROM bench_history_months WHERE bench_history_months.job = bench_history_fill.job;
    EXECUTE format($f$
        INSERT INTO %I (nas_id, acct_session_id, username, subscriber_id, started_at,
            stopped_at, interim_interval_secs, framed_ip, calling_station_id, nas_port_id,
            upload_octets, download_octets, session_time_secs, terminate_cause, closed_by)
        SELECT 1 + n %% 4, 'bench-' || n, 'user' || lpad(s::text, 6, '0'), s,
            stop - make_interval(secs => dur), stop, 300,
            '100.64.0.0'::inet + (n * 104729) %% $3,
            upper(substr(h, 1, 2) || ':' || substr(h, 3, 2) || ':' || substr(h, 5, 2) || ':'
                  || substr(h, 7, 2) || ':' || substr(h, 9, 2) || ':' || substr(h, 11, 2)),
            'pppoe-' || s, dur * 1000, dur * 9000, dur, 'User-Request', 'stop'
        FROM (SELECT n, s, lpad(to_hex(s), 12, '0') AS h,
                     $4 + make_interval(secs => n * $5) AS stop,
                     300 + (n * 31) %% 86100 AS dur
              FROM (SELECT n, (n * 7919) %% $6 + 1 AS s FROM generate_series($1, $2) n) x) y$f$,
        m.part)
    USING m.lo, m.hi, p.pool, p.first_stop, p.step, p.subs;
    -- The partitioned table's indexes, each made on this month under the name a
    -- partition's index gets here (the month's name, then the parent's suffix).
    FOR def IN
        SELECT regexp_replace(pg_get_indexdef(i.indexrelid), '^CREATE INDEX \S+ ON ONLY \S+ ',
                   format('CREATE INDEX %I ON %I ',
                          m.part || substr(c.relname, length('session_history') + 1), m.part)) AS sql
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'session_history'::regclass
    LOOP
        EXECUTE def.sql;
    END LOOP;
    EXECUTE format('ALTER TABLE session_history ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   m.part, m.month_start, m.month_next);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT bench_bounds', m.part);
END
$$;

-- The jobs, longest first (usage's 13 rows per subscriber ahead of any month).
SELECT string_agg(job::text, ' ' ORDER BY job = 0 DESC, hi - lo DESC) AS jobs FROM
    (SELECT job, lo, hi FROM bench_history_months UNION ALL SELECT 0, 0, 0) j \gset
\echo jobs :jobs
