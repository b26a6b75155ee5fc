-- prometheus: the role Debian's prometheus-postgres-exporter connects as
-- (monitoring/postgres-exporter.default), over the Unix socket with peer authentication
-- (the exporter runs as the prometheus system user). pg_monitor reads the statistics views
-- (pg_stat_activity, pg_stat_replication, pg_stat_database…) and no table.
--
-- A role belongs to the cluster: run it once, on the primary, as a superuser:
--
--   psql -v ON_ERROR_STOP=1 -d proisp -f sql/roles/monitoring.sql
--
-- Running it again is harmless.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'prometheus') THEN
        CREATE ROLE prometheus LOGIN;
    END IF;
END
$$;

GRANT pg_monitor TO prometheus;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO prometheus', current_database());
END
$$;
