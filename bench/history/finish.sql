-- A year of accounting history for bench/history.sh, last part (after every
-- bench_history_fill job of generate.sql): checks what was made, then plans for it.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- Every month attached as a partition with each of session_history's indexes, and every
-- planned session there.
DO $$
DECLARE
    m record;
    missing integer;
    expected bigint;
    found bigint;
BEGIN
    FOR m IN SELECT * FROM bench_history_months ORDER BY job LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_inherits
                       WHERE inhparent = 'session_history'::regclass
                         AND inhrelid = m.part::regclass) THEN
            RAISE EXCEPTION '% was not attached', m.part;
        END IF;
        SELECT count(*) INTO missing FROM pg_index parent
        WHERE parent.indrelid = 'session_history'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_inherits ih JOIN pg_index child ON child.indexrelid = ih.inhrelid
                          WHERE ih.inhparent = parent.indexrelid AND child.indrelid = m.part::regclass);
        IF missing > 0 THEN
            RAISE EXCEPTION '% lacks % of session_history''s indexes', m.part, missing;
        END IF;
    END LOOP;
    SELECT total INTO expected FROM bench_history_plan;
    SELECT count(*) INTO found FROM session_history;
    IF found <> expected THEN
        RAISE EXCEPTION 'session_history holds % sessions, not %', found, expected;
    END IF;
END
$$;
DROP PROCEDURE bench_history_fill(integer);
DROP TABLE bench_history_plan, bench_history_months;

ANALYZE session_history;
ANALYZE usage;
SELECT count(*) AS sessions,
    pg_size_pretty((SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
                    WHERE inhparent = 'session_history'::regclass)::bigint) AS size,
    (SELECT count(*) FROM usage) AS usage_rows
FROM session_history;
