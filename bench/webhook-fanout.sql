-- The relay's DELETE of acknowledged outbox rows, server side, without and with the webhook
-- fan-out (issue 22): fills event_outbox with session.stop-sized events, then removes them
-- in waves of 1024 as proisp-events does, timing the statements. Run on a database migrated
-- to 0017 (or with sql/0015 and sql/0017 applied), once per mode:
--   PGOPTIONS="-c bench.mode=plain"  psql -d DB -f bench/webhook-fanout.sql  # no webhook
--   PGOPTIONS="-c bench.mode=fanout" psql -d DB -f bench/webhook-fanout.sql
-- With a webhook that wants session.stop, fanout queues one delivery per event:
--   INSERT INTO webhooks (url, events, secret_enc) VALUES ('http://x/', '{session.stop}', '\x00');
-- It empties event_outbox and webhook_deliveries: never on a production database.
TRUNCATE event_outbox;
TRUNCATE webhook_deliveries;
INSERT INTO event_outbox (id, subject, username, event)
SELECT gen_random_uuid()::text, 'proisp.v1.session.stop', 'user' || (i % 10000),
       json_build_object('specversion', '1.0', 'id', i, 'source', '/proisp/radiusd',
         'type', 'net.proisp.session.stop', 'time', now(), 'subject', 'user' || (i % 10000),
         'datacontenttype', 'application/json',
         'data', json_build_object('Acct-Session-Id', '81e00001',
           'Acct-Unique-Session-Id', '0123456789abcdef', 'NAS-IP-Address', '192.0.2.1',
           'Framed-IP-Address', '100.64.0.1', 'Acct-Session-Time', 3600,
           'Acct-Terminate-Cause', 'User-Request', 'Acct-Input-Octets', 123456789,
           'Acct-Output-Octets', 987654321))
FROM generate_series(1, 102400) i;
VACUUM ANALYZE event_outbox;
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
    seqs bigint[];
    waves int := 0;
BEGIN
    LOOP
        SELECT array_agg(seq) INTO seqs
        FROM (SELECT seq FROM event_outbox ORDER BY seq LIMIT 1024) s;
        EXIT WHEN seqs IS NULL;
        IF current_setting('bench.mode') = 'plain' THEN
            DELETE FROM event_outbox WHERE seq = ANY (seqs);
        ELSE
            WITH gone AS (DELETE FROM event_outbox WHERE seq = ANY (seqs)
                          RETURNING seq, id, subject, event)
            INSERT INTO webhook_deliveries (webhook_id, event_id, kind, event)
            SELECT w.id, g.id, k.kind, g.event
            FROM gone g
            CROSS JOIN LATERAL (SELECT substr(g.subject, length('proisp.v1.') + 1) AS kind) k
            JOIN webhooks w ON w.enabled AND k.kind = ANY (w.events)
            ORDER BY g.seq, w.id;
        END IF;
        waves := waves + 1;
    END LOOP;
    RAISE NOTICE '%: % waves of 1024 in % ms: % events/s', current_setting('bench.mode'),
        waves, round(extract(epoch FROM clock_timestamp() - t0) * 1000),
        round(waves * 1024 / extract(epoch FROM clock_timestamp() - t0));
END
$$;
