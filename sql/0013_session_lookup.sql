-- 0013: "who had this address?" — sessions by IP, MAC or user name at a time or over a
-- period, live and closed together (GET /api/v1/sessions/history).
--
-- Abuse desks and lawful requests name an address (or a MAC) and an instant. In history
-- a session overlaps instant T when started_at <= T <= stopped_at: stopped_at >= T prunes
-- the monthly partitions before T's month, and an index led by the address and ordered
-- by started_at reads, newest first, only the sessions of that address that started by
-- T. Open sessions get the same indexes; sessions.framed_ip changes only when a NAS
-- reports a new address, so Interim-Updates stay HOT updates.
--
-- CREATE INDEX on a partitioned table builds every partition's index in this
-- migration's transaction, with writes to session_history waiting for it: on a large
-- history run the migration in a quiet hour.

-- A Calling-Station-Id as a MAC is looked up by: its hex digits, lower case, whatever
-- separators the NAS wrote (MikroTik 4C:5E:0C:12:34:56, RFC 3580 4c-5e-…, Cisco
-- 4c5e.0c12.3456).
CREATE FUNCTION proisp_mac_key(calling text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT lower(regexp_replace(calling, '[^0-9A-Fa-f]', '', 'g'))
$$;

CREATE INDEX session_history_framed_ip_idx ON session_history (framed_ip, started_at)
    WHERE framed_ip IS NOT NULL;
CREATE INDEX session_history_mac_idx ON session_history (proisp_mac_key(calling_station_id), started_at)
    WHERE calling_station_id IS NOT NULL;
CREATE INDEX session_history_username_idx ON session_history (username, started_at);

CREATE INDEX sessions_framed_ip_idx ON sessions (framed_ip) WHERE framed_ip IS NOT NULL;
CREATE INDEX sessions_mac_idx ON sessions (proisp_mac_key(calling_station_id))
    WHERE calling_station_id IS NOT NULL;
