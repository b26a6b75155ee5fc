-- 0004: subscriber counts by status, kept by triggers, for the admin API's dashboard.
--
-- Counting 1,000,000 subscribers by status takes tens of milliseconds however it is
-- indexed (the partial status index covers only the non-active minority, and the live
-- rows must still be told from soft-deleted ones), and pg_class.reltuples is an estimate
-- that lags. The dashboard needs exact figures in well under 50 ms, so the counts are
-- kept as they change: the dashboard sums at most 16 × (number of statuses) rows.
--
-- Contention: a counter row is locked until its transaction ends, so one row per status
-- would serialise every subscriber write (a CSV import would block support agents until
-- it commits). Each backend writes the slot pg_backend_pid() % 16 instead; two writers
-- meet only when their backends share a slot, and then only one waits.
--
-- Cost on the hot paths: none. Bulk INSERTs and DELETEs fire one statement-level trigger
-- with a transition table. UPDATEs fire a row-level trigger only when `status` or
-- `deleted_at` is in the SET list and actually changes (the WHEN clause), so radiusd's
-- accounting updates of subscribers (fup_until) never reach it.

LOCK TABLE subscribers IN SHARE MODE;

CREATE TABLE subscriber_counts (
    slot    smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    status  text NOT NULL,
    n       bigint NOT NULL,
    PRIMARY KEY (slot, status)
);

INSERT INTO subscriber_counts (slot, status, n)
SELECT 0, status, count(*) FROM subscribers WHERE deleted_at IS NULL GROUP BY status;

-- Adds `n` to `status` in this backend's slot.
CREATE FUNCTION proisp_count_subscribers(st text, n bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO subscriber_counts AS c (slot, status, n)
    VALUES ((pg_backend_pid() % 16)::smallint, st, n)
    ON CONFLICT (slot, status) DO UPDATE SET n = c.n + excluded.n
$$;

CREATE FUNCTION proisp_subscriber_counts_ins() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM proisp_count_subscribers(status, count(*))
    FROM new_rows WHERE deleted_at IS NULL GROUP BY status;
    RETURN NULL;
END
$$;

CREATE FUNCTION proisp_subscriber_counts_del() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM proisp_count_subscribers(status, -count(*))
    FROM old_rows WHERE deleted_at IS NULL GROUP BY status;
    RETURN NULL;
END
$$;

CREATE FUNCTION proisp_subscriber_counts_upd() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.deleted_at IS NULL THEN
        PERFORM proisp_count_subscribers(OLD.status, -1);
    END IF;
    IF NEW.deleted_at IS NULL THEN
        PERFORM proisp_count_subscribers(NEW.status, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER subscriber_counts_ins AFTER INSERT ON subscribers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_subscriber_counts_ins();
CREATE TRIGGER subscriber_counts_del AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_subscriber_counts_del();
CREATE TRIGGER subscriber_counts_upd AFTER UPDATE OF status, deleted_at ON subscribers
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION proisp_subscriber_counts_upd();
-- TRUNCATE (tests, maintenance) empties the counts too.
CREATE FUNCTION proisp_subscriber_counts_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM subscriber_counts;
    RETURN NULL;
END
$$;
CREATE TRIGGER subscriber_counts_truncate AFTER TRUNCATE ON subscribers
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_subscriber_counts_truncate();
