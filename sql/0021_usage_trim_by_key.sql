-- 0021: usage retention at a million subscribers: each batch deletes its rows by their
-- addresses and goes on from where the previous one stopped.
--
-- sql/0011's proisp_trim_usage had two costs that grow with the table, found with
-- bench/history.sh (1,000,000 subscribers, 13 months of usage: 13 M rows, 3 M of them
-- past retention), where a round deleted 140,000 old rows in a minute:
-- - The DELETE joined the picked rows to `usage` on ctid. A function's statements run
--   with a generic plan, which cannot know that LIMIT picks 10,000 rows; it guessed
--   142,800 and hashed them against a sequential scan of all 13 M rows, each batch.
--   `ctid = ANY (ARRAY(…))` is a TID scan whatever the estimate.
-- - Each batch began again at the first old row, so it stepped over the index entries of
--   every row the batches before it had deleted, which stay until vacuum removes them
--   (or, once no snapshot can see the rows, a scan marks them dead): the n-th batch read
--   n batches of them. Now each call goes on from the last row of the previous one, in
--   the primary key's order (subscriber, period), and returns where that is.
--
-- Rows a writer holds (a late record of an old period) are still skipped, and are deleted
-- by a later round.

DROP FUNCTION proisp_trim_usage(timestamptz, integer);

-- Deletes at most `max_rows` usage rows of periods that started before `cutoff`, among
-- those whose key (subscriber_id, period_start) comes after (`after_subscriber`,
-- `after_period`), in key order, skipping rows a writer holds. Returns how many it picked
-- and the key of the last one: the next call's starting point. Fewer than `max_rows`
-- picked means the walk reached the end of the table.
CREATE FUNCTION proisp_trim_usage(cutoff timestamptz, max_rows integer,
    after_subscriber bigint, after_period timestamptz,
    OUT picked integer, OUT last_subscriber bigint, OUT last_period timestamptz)
LANGUAGE sql AS $$
    WITH chosen AS MATERIALIZED (
        SELECT ctid, subscriber_id, period_start FROM usage
        WHERE (subscriber_id, period_start) > (after_subscriber, after_period)
          AND period_start < cutoff
        ORDER BY subscriber_id, period_start
        LIMIT max_rows FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM usage WHERE ctid = ANY (ARRAY(SELECT ctid FROM chosen))
    )
    SELECT (SELECT count(*)::integer FROM chosen), l.subscriber_id, l.period_start
    FROM (SELECT 1) one
    LEFT JOIN (SELECT subscriber_id, period_start FROM chosen
               ORDER BY subscriber_id DESC, period_start DESC LIMIT 1) l ON true
$$;
