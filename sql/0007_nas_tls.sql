-- 0007: NAS devices over RadSec (RADIUS/TLS, RFC 6614).
--
-- A RadSec connection is matched to a NAS by the identity its client certificate carries
-- (tls_identity: a DNS, URI or IP subjectAltName, or the subject's common name) or, where
-- no NAS names that identity, by its source address. Packets inside TLS are signed with
-- the customary shared secret "radsec" (RFC 6614 §2.3) unless tls_own_secret says to use
-- the NAS's own secret. tls_coa: CoA and Disconnect-Requests to the NAS go over its
-- RadSec connection while it has one (a NAS behind NAT or HAProxy has no address radiusd
-- can reach by UDP), by UDP to coa_port otherwise.
ALTER TABLE nas
    ADD COLUMN tls_identity   text CHECK (tls_identity <> ''),
    ADD COLUMN tls_own_secret boolean NOT NULL DEFAULT false,
    ADD COLUMN tls_coa        boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT nas_tls_identity_key UNIQUE (tls_identity);
