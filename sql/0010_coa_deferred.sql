-- 0010: changes waiting for a NAS that does not answer (DESIGN.md, "Changes to live
-- sessions").
--
-- A NAS whose CoA requests time out several times in a row is marked unreachable by the
-- lane sending to it, and its changes wait here instead of in the process's memory, so a
-- restart of radiusd or adminapi loses none. One row per session: a newer change for the
-- same session replaces the older one (made_at decides), so the router never ends with a
-- stale rate. When the NAS shows life (accounting from it, a probe answered), any radiusd
-- or adminapi claims rows (claimed_until: a lease; SKIP LOCKED), sends them and deletes
-- each once answered; rows of a process that died while holding them are claimed again
-- when the lease has run out. A row whose session is no longer open (Stop, stale sweep, the
-- NAS's Accounting-On, all committed in the accounting transaction) is deleted instead of
-- sent: the next login gets the current rate anyway.
CREATE TABLE coa_deferred (
    nas_id          bigint NOT NULL REFERENCES nas (id) ON DELETE CASCADE,
    acct_session_id text NOT NULL,
    username        text NOT NULL,
    -- The request as proisp_radius::dynauth::Request::to_octets keeps it.
    request         bytea NOT NULL CHECK (octet_length(request) >= 20),
    made_at         timestamptz NOT NULL,
    claimed_until   timestamptz,
    PRIMARY KEY (nas_id, acct_session_id, username)
);

-- The oldest unclaimed first, per NAS.
CREATE INDEX coa_deferred_waiting ON coa_deferred (nas_id, made_at);
