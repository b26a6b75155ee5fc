-- proisp_readonly: the role of adminapi's `database.replica_url`, allowed to read and
-- nothing else, so a read sent to the wrong server fails instead of writing.
--
-- Roles belong to the cluster, not to a database, so this is no numbered migration: run
-- it once, on the primary (the replicas receive the role and the grants by replication),
-- as a superuser connected to ProISP's database, after `proisp-adminapi migrate`:
--
--   psql -v ON_ERROR_STOP=1 -d proisp -f sql/roles/readonly.sql
--
-- then give the role a password (`\password proisp_readonly` in psql) or a client
-- certificate, and point replica_url at the replica with it:
--   replica_url = "postgres://proisp_readonly:PASSWORD@replica:5432/proisp"
-- Running it again is harmless.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'proisp_readonly') THEN
        CREATE ROLE proisp_readonly LOGIN;
    END IF;
END
$$;

-- Even where a grant is wider than meant (a table made public by hand), the role's
-- sessions refuse to write.
ALTER ROLE proisp_readonly SET default_transaction_read_only = on;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO proisp_readonly', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO proisp_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO proisp_readonly;

-- Tables that later migrations create are readable too: default privileges of the role
-- that owns the schema (the one `proisp-adminapi migrate` runs as).
DO $$
DECLARE
    owner name;
BEGIN
    SELECT tableowner INTO owner
      FROM pg_tables
     WHERE schemaname = 'public' AND tablename = 'schema_migrations';
    IF owner IS NULL THEN
        RAISE EXCEPTION 'no schema_migrations table here: connect to ProISP''s database, '
                        'after proisp-adminapi migrate';
    END IF;
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                   'GRANT SELECT ON TABLES TO proisp_readonly', owner);
END
$$;
