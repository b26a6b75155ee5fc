-- The outbox's wake-up without a NOTIFY in the accounting transaction (issue 22's
-- throughput goal).
--
-- A transaction that NOTIFYs takes a database-wide lock at COMMIT and keeps it until the
-- commit is flushed, so notifying transactions commit one after another, each with its
-- own WAL flush, instead of sharing flushes (group commit). With radiusd's accounting
-- writers all notifying, that halved their throughput; pgbench on this machine, 16 clients
-- inserting 20 outbox rows a transaction: 360 transactions/s with the NOTIFY, 1,610 without
-- (bench/RESULTS.md).
--
-- A connection that sets proisp.outbox_notify = 'deferred' (radiusd's, through
-- [database] settings) inserts without notifying; after its commits it wakes the relay
-- itself, at most once per few milliseconds, with a NOTIFY of its own in a separate
-- transaction (proisp_store::outbox::Waker). Every other writer (adminapi, the stale
-- sweep of a connection without the setting) notifies as before. The relay's poll
-- interval remains the safety net for a wake-up that was lost.
CREATE OR REPLACE FUNCTION proisp_event_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('proisp.outbox_notify', true) IS DISTINCT FROM 'deferred' THEN
        PERFORM pg_notify('proisp_event_outbox', '');
    END IF;
    RETURN NULL;
END
$$;
