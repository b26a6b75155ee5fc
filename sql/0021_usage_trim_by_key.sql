-- 0021: usage retention walks the table by its key instead of starting over each batch.
--
-- sql/0011's proisp_trim_usage picked each batch as "any rows older than the cutoff".
-- Each batch began again at the first old row, so it stepped over the index entries of
-- every row the batches before it had deleted: until vacuum (or a scan that finds them
-- dead to every snapshot) removes them, the n-th batch reads n batches of them. With a
-- million subscribers, a month's usage is a million rows; measured on this machine
-- (bench/history.sh), a round deleted 140,000 of 3,000,000 old rows in a minute, and
-- slower the longer it ran, with a report open.
--
-- Now each call goes on from where the previous one stopped, in the primary key's order
-- (subscriber, period), and returns where that is. A round's batches therefore read each
-- index entry once. Rows a writer holds (a late record of an old period) are still
-- skipped, and are deleted by a later round.

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
        DELETE FROM usage u USING chosen c WHERE u.ctid = c.ctid
    )
    SELECT (SELECT count(*)::integer FROM chosen), l.subscriber_id, l.period_start
    FROM (SELECT 1) one
    LEFT JOIN (SELECT subscriber_id, period_start FROM chosen
               ORDER BY subscriber_id DESC, period_start DESC LIMIT 1) l ON true
$$;
