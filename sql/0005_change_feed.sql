-- 0005: the change feed — every change to what radiusd caches, written in the same
-- transaction as the change itself.
--
-- The Redis invalidation channel is fire-and-forget: a message published while Redis
-- hangs, or while a radiusd is not subscribed, is gone, and a cached copy could outlive
-- the change by a whole TTL (a suspended subscriber let in for minutes). The feed cannot
-- lose a change: its rows are written by triggers, so they exist if and only if the
-- change committed, whoever made it (the admin API, radiusd's fair-usage updates, an
-- operator's psql). Every radiusd polls it (`cache.feed_interval`) from the last `seq` it
-- has seen and catches up after any gap; Redis stays the fast path.
--
--   kind   name       version
--   sub    username   the version a cached entry of that name needs to be current: the
--                     new row's for an insert or update (also under the old name after a
--                     rename), the deleted row's + 1 for a delete
--   plan   -          -          reload the plans
--   nas    -          -          reload the NAS table
--   all    -          the largest version written: one statement changed more than
--                     10,000 subscribers (a seed, a bulk import): drop every cached copy
--
-- `seq` is handed out when a row is inserted, not when its transaction commits, so a
-- reader can see 12 before 11 commits: readers keep the numbers they skipped and look
-- for them again for a while (radiusd/src/feed.rs). Rows older than
-- `cache.feed_retention` are deleted by radiusd's housekeeping.
--
-- Cost: one row per changed subscriber; accounting's statements that change no
-- subscriber write nothing (the UPDATE trigger is per row and filtered on `version`).

CREATE TABLE cache_changes (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    kind     text NOT NULL CHECK (kind IN ('sub', 'plan', 'nas', 'all')),
    name     text,
    version  bigint,
    CHECK ((kind = 'sub') = (name IS NOT NULL))
);

-- Retention deletes by age.
CREATE INDEX cache_changes_at_idx ON cache_changes (at);

-- Most subscriber rows one statement may report one by one; past it, one `all` row.
CREATE FUNCTION proisp_feed_subscribers_set() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO n FROM new_rows;
        IF n > 10000 THEN
            INSERT INTO cache_changes (kind, version) SELECT 'all', max(version) FROM new_rows;
        ELSIF n > 0 THEN
            INSERT INTO cache_changes (kind, name, version)
            SELECT 'sub', username, version FROM new_rows ORDER BY id;
        END IF;
    ELSE
        SELECT count(*) INTO n FROM old_rows;
        IF n > 10000 THEN
            INSERT INTO cache_changes (kind, version) SELECT 'all', max(version) + 1 FROM old_rows;
        ELSIF n > 0 THEN
            INSERT INTO cache_changes (kind, name, version)
            SELECT 'sub', username, version + 1 FROM old_rows ORDER BY id;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION proisp_feed_subscriber_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_changes (kind, name, version) VALUES ('sub', NEW.username, NEW.version);
    IF OLD.username IS DISTINCT FROM NEW.username THEN
        INSERT INTO cache_changes (kind, name, version) VALUES ('sub', OLD.username, NEW.version);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER subscribers_feed_ins AFTER INSERT ON subscribers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_feed_subscribers_set();
CREATE TRIGGER subscribers_feed_del AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_feed_subscribers_set();
CREATE TRIGGER subscribers_feed_upd AFTER UPDATE ON subscribers
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version
                       OR OLD.username IS DISTINCT FROM NEW.username)
    EXECUTE FUNCTION proisp_feed_subscriber_update();

-- Plans and NAS devices are reloaded whole, so one row per statement that changed any.
CREATE FUNCTION proisp_feed_table() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_changes (kind) VALUES (TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER plans_feed AFTER INSERT OR UPDATE OR DELETE ON plans
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_feed_table('plan');
CREATE TRIGGER nas_feed AFTER INSERT OR UPDATE OR DELETE ON nas
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_feed_table('nas');
