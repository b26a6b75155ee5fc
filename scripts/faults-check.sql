-- The fault suite's accounting check (scripts/faults.sh): what the server acknowledged
-- against what PostgreSQL holds. Run in the scenario's own database, after the load has
-- ended and the spool is empty, with proisp-loadtest's acked log on standard input:
--
--   psql -d faults_pg_stopped -qtA -v ON_ERROR_STOP=1 -f scripts/faults-check.sql < acked.tsv
--
-- Prints one line of `name=value` pairs:
--   acked     distinct acknowledged requests
--   missing   acknowledged requests not reflected in sessions / session_history: no row of
--             the session with counters at least those acknowledged, or (for an
--             acknowledged Stop) no closed row of it
--   twice     subscribers whose usage exceeds the sum, over their sessions, of each
--             session's final counters: something was counted twice
--   under     subscribers whose usage falls short of that sum: growth was lost
--   replaced  session_history rows closed as `replaced` (a new Start with the key of an
--             open session); the workload never reuses a session id, so each one is a
--             Start taken for a new session that it was not
--   open      sessions whose Stop was acknowledged that still have an open row (as well as
--             their closed one): a ghost online, counted by the simultaneous-use check
--   rows      rows of sessions and session_history
-- Every session in the database belongs to the run: each scenario has a fresh database.

CREATE TEMP TABLE acked (
    sid text, username text, status text, step bigint, up bigint, down bigint
);
\copy acked FROM pstdin

CREATE TEMP TABLE stored AS
    SELECT acct_session_id AS sid, username, upload_octets AS up, download_octets AS down,
        NULL::text AS closed_by
    FROM sessions
    UNION ALL
    SELECT acct_session_id, username, upload_octets, download_octets, closed_by
    FROM session_history;

WITH a AS (
    SELECT DISTINCT * FROM acked
), missing AS (
    SELECT count(*) AS n FROM a
    WHERE NOT EXISTS (
        SELECT 1 FROM stored s
        WHERE s.sid = a.sid AND s.username = a.username
          AND s.up >= a.up AND s.down >= a.down
          AND (a.status <> 'stop' OR s.closed_by IS NOT NULL))
), per_session AS (
    -- A session's final counters: the largest it reported (running totals), once.
    SELECT username, sid, max(up) AS up, max(down) AS down FROM stored GROUP BY 1, 2
), expected AS (
    SELECT username, sum(up) AS up, sum(down) AS down FROM per_session GROUP BY 1
), counted AS (
    SELECT sb.username, sum(u.upload_octets) AS up, sum(u.download_octets) AS down
    FROM usage u JOIN subscribers sb ON sb.id = u.subscriber_id
    GROUP BY 1
), compared AS (
    SELECT coalesce(e.up, 0) AS eu, coalesce(e.down, 0) AS ed,
        coalesce(c.up, 0) AS cu, coalesce(c.down, 0) AS cd
    FROM expected e FULL JOIN counted c USING (username)
)
SELECT format('acked=%s missing=%s twice=%s under=%s replaced=%s open=%s rows=%s',
    (SELECT count(*) FROM a),
    (SELECT n FROM missing),
    (SELECT count(*) FROM compared WHERE cu > eu OR cd > ed),
    (SELECT count(*) FROM compared WHERE cu < eu OR cd < ed),
    (SELECT count(*) FROM stored WHERE closed_by = 'replaced'),
    (SELECT count(DISTINCT (a.sid, a.username)) FROM a JOIN stored s USING (sid, username)
     WHERE a.status = 'stop' AND s.closed_by IS NULL),
    (SELECT count(*) FROM stored));
