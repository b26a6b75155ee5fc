-- 0025: the lookups of live subscribers by a list of names — radiusd's batch of names
-- neither cache knew (`subscribers_with_open_sessions`) and an import's check of taken
-- names — never read the username's trigram index.
--
-- pg_trgm's GIN operator class supports `=`, and the planner prices it at next to nothing
-- for `username = ANY (names)` when the index's statistics are stale and its pending list
-- long, as right after a bulk import into a young table: it then chose the trigram index
-- over the unique btree, and a lookup of three names among 24,000 just imported took
-- 36-85 ms instead of 0.03 ms (2,000 names: 14.7 s). A GIN index is only ever read by a
-- bitmap scan; without them the lookup goes by `subscribers_username_key`.
CREATE FUNCTION proisp_live_subscribers(names text[]) RETURNS SETOF subscribers
    LANGUAGE sql STABLE
    SET enable_bitmapscan = off
AS $$
    SELECT * FROM subscribers WHERE username = ANY (names) AND deleted_at IS NULL
$$;
