-- pgbench: one transaction inserting 20 sessions of NAS 1 (bench/events/cost/run.sh).
\set base random(1, 1000000000)
INSERT INTO sessions (nas_id, acct_session_id, username, subscriber_id, started_at, updated_at, stale_at, interim_interval_secs, framed_ip, calling_station_id, nas_port_id)
SELECT 1, 'x' || :base || '-' || g, 'user' || lpad((g * 37 % 30000 + 1)::text, 6, '0'), NULL, now(), now(), now() + interval '15 min', 300, '100.64.0.1'::inet + g, '4C:5E:0C:12:34:56', 'pppoe-1'
FROM generate_series(1, 20) g;
