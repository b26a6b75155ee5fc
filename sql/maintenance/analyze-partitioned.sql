-- ANALYZE of every partitioned table of ProISP's schema (session_history), run daily by
-- proisp-analyze.service as PostgreSQL's superuser:
--
--   psql -v ON_ERROR_STOP=1 -d proisp -f /usr/share/proisp/sql/maintenance/analyze-partitioned.sql
--
-- Autovacuum analyzes each partition after enough changes, but never a partitioned parent
-- (PostgreSQL's documentation, "Routine Vacuuming": partitioned tables are not processed
-- by autovacuum), so the planner's statistics for queries over the whole history (the
-- API's usage reports) go stale as months of sessions arrive unless someone runs it.
-- ANALYZE samples; it takes no lock that blocks the accounting writers.

DO $$
DECLARE
    parent regclass;
BEGIN
    FOR parent IN
        SELECT c.oid::regclass
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'p' AND n.nspname = current_schema()
        ORDER BY 1
    LOOP
        RAISE NOTICE 'ANALYZE %', parent;
        EXECUTE format('ANALYZE %s', parent);
    END LOOP;
END
$$;
