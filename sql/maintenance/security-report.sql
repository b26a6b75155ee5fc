-- The weekly security report from ProISP's audit log, run by
-- proisp-security-report.service (output in its journal:
-- `journalctl -u proisp-security-report`), or by hand:
--
--   psql -d proisp -v days=7 -f /usr/share/proisp/sql/maintenance/security-report.sql
--
-- Four sections over the last :days days: failed admin logins by name and address,
-- refresh-token reuse (a stolen token, or a client replaying one), admins created or
-- deleted or whose role, TOTP requirement or state changed, and changes to an admin's
-- allowed networks. Reads audit_log only; no secret is in it.

\set QUIET on
\if :{?days}
\else
\set days 7
\endif
\pset footer off
\pset null '-'

\echo ProISP security report, the last :days days
\echo

\echo 'Failed admin logins (auth.login_failed), by name and address'
SELECT entity_id AS username, client_ip, count(*) AS failures,
       min(at) AS first, max(at) AS last,
       string_agg(DISTINCT after->>'reason', ', ') AS reasons
FROM audit_log
WHERE action = 'auth.login_failed' AND at > now() - make_interval(days => :days)
GROUP BY entity_id, client_ip
ORDER BY failures DESC, last DESC;

\echo 'Refresh tokens used twice (auth.refresh_reuse): the family was revoked'
SELECT at, admin_username, client_ip
FROM audit_log
WHERE action = 'auth.refresh_reuse' AND at > now() - make_interval(days => :days)
ORDER BY at;

\echo 'Admins created, deleted, or changed in role, TOTP requirement or state'
SELECT at, admin_username AS by, client_ip, action,
       coalesce(after->>'username', before->>'username') AS admin,
       before->>'role' AS role_before, after->>'role' AS role_after,
       after->>'totp_required' AS totp_required, after->>'disabled' AS disabled
FROM audit_log
WHERE at > now() - make_interval(days => :days)
  AND (action IN ('admin.create', 'admin.delete', 'admin.reset_totp')
       OR (action = 'admin.update'
           AND (before->'role' IS DISTINCT FROM after->'role'
                OR before->'totp_required' IS DISTINCT FROM after->'totp_required'
                OR before->'disabled' IS DISTINCT FROM after->'disabled')))
ORDER BY at;

\echo 'Allowed networks changed (admin.update)'
SELECT at, admin_username AS by, client_ip, after->>'username' AS admin,
       before->'allowed_networks' AS before, after->'allowed_networks' AS after
FROM audit_log
WHERE action = 'admin.update' AND at > now() - make_interval(days => :days)
  AND before->'allowed_networks' IS DISTINCT FROM after->'allowed_networks'
ORDER BY at;
