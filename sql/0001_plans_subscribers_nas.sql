-- 0001: plans, subscribers and NAS devices: everything the auth path reads.
--
-- Applied by `proisp-adminapi migrate` (shared::store::migrate) in one transaction, with
-- its row in schema_migrations. Plain SQL: it can also be read and run by hand.
--
-- Conventions
--   * `version` is drawn from the entry_version sequence on every insert and update (by
--     the store's SQL, not a trigger), so it grows across rows too: the Redis cache
--     compares versions to refuse stale writes, and a name deleted and created again
--     must not reuse an old number.
--   * Rates are kbit/s, durations seconds, sizes octets; none is negative.
--   * Secrets are AES-256-GCM ciphertexts, nonce || ciphertext || tag (at least 28 octets),
--     never clear text; the key lives in a file outside the database.

CREATE SEQUENCE entry_version AS bigint;

-- Service plans. The columns map onto model::Plan and MikroTik's rate limit
-- (rx/tx burst threshold time priority min, here named by the subscriber's direction).
CREATE TABLE plans (
    id                             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                           text NOT NULL CHECK (name <> ''),
    download_kbps                  integer NOT NULL CHECK (download_kbps >= 0),
    upload_kbps                    integer NOT NULL CHECK (upload_kbps >= 0),
    burst_download_kbps            integer CHECK (burst_download_kbps >= 0),
    burst_upload_kbps              integer CHECK (burst_upload_kbps >= 0),
    burst_threshold_download_kbps  integer CHECK (burst_threshold_download_kbps >= 0),
    burst_threshold_upload_kbps    integer CHECK (burst_threshold_upload_kbps >= 0),
    burst_time_secs                integer CHECK (burst_time_secs >= 0),
    priority                       smallint CHECK (priority BETWEEN 1 AND 8),
    min_download_kbps              integer CHECK (min_download_kbps >= 0),
    min_upload_kbps                integer CHECK (min_upload_kbps >= 0),
    -- Octets per billing period before fair usage applies; NULL is unlimited.
    quota_bytes                    bigint CHECK (quota_bytes >= 0),
    -- The speed once the quota is spent.
    fup_download_kbps              integer CHECK (fup_download_kbps >= 0),
    fup_upload_kbps                integer CHECK (fup_upload_kbps >= 0),
    fup_action                     text NOT NULL DEFAULT 'throttle'
                                   CHECK (fup_action IN ('throttle', 'disconnect')),
    session_timeout_secs           integer CHECK (session_timeout_secs > 0),
    idle_timeout_secs              integer CHECK (idle_timeout_secs > 0),
    interim_interval_secs          integer NOT NULL DEFAULT 300 CHECK (interim_interval_secs > 0),
    -- Framed-Pool for subscribers without a static address.
    pool                           text CHECK (pool <> ''),
    validity_days                  integer NOT NULL DEFAULT 30 CHECK (validity_days >= 0),
    price_cents                    bigint NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    version                        bigint NOT NULL DEFAULT nextval('entry_version'),
    created_at                     timestamptz NOT NULL DEFAULT now(),
    updated_at                     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT plans_name_key UNIQUE (name),
    CONSTRAINT plans_burst_complete CHECK (num_nulls(burst_download_kbps, burst_upload_kbps,
        burst_threshold_download_kbps, burst_threshold_upload_kbps, burst_time_secs) IN (0, 5)),
    CONSTRAINT plans_min_complete CHECK (num_nulls(min_download_kbps, min_upload_kbps) IN (0, 2)),
    CONSTRAINT plans_fup_complete CHECK (num_nulls(fup_download_kbps, fup_upload_kbps) IN (0, 2))
);

-- Subscribers. Soft-deleted rows (deleted_at set) keep their history for accounting and
-- are invisible to auth; the username is unique among live rows only.
CREATE TABLE subscribers (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Case-sensitive, like FreeRADIUS; RFC 2865 §5.1 allows up to 253 octets.
    username               text NOT NULL CHECK (username <> '' AND octet_length(username) <= 253),
    password_enc           bytea NOT NULL CHECK (octet_length(password_enc) >= 28),
    status                 text NOT NULL DEFAULT 'active'
                           CHECK (status IN ('active', 'suspended', 'disabled')),
    plan_id                bigint NOT NULL CONSTRAINT subscribers_plan_id_fkey REFERENCES plans (id),
    expires_at             timestamptz,
    -- The only Calling-Station-Id allowed, when bound.
    mac                    macaddr,
    ipv4                   inet CHECK (family(ipv4) = 4 AND masklen(ipv4) = 32),
    ipv6_prefix            cidr CHECK (family(ipv6_prefix) = 6),
    delegated_ipv6_prefix  cidr CHECK (family(delegated_ipv6_prefix) = 6),
    -- Sessions at once; 0 is unlimited.
    simultaneous_use       integer NOT NULL DEFAULT 1 CHECK (simultaneous_use >= 0),
    -- Contact details, for the admin API.
    name                   text,
    phone                  text,
    email                  text,
    address                text,
    deleted_at             timestamptz,
    version                bigint NOT NULL DEFAULT nextval('entry_version'),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- The auth lookup (and the seed's ON CONFLICT target).
CREATE UNIQUE INDEX subscribers_username_key ON subscribers (username) WHERE deleted_at IS NULL;
-- A static address belongs to one live subscriber.
CREATE UNIQUE INDEX subscribers_ipv4_key ON subscribers (ipv4)
    WHERE ipv4 IS NOT NULL AND deleted_at IS NULL;
-- Subscribers of a plan (and the foreign key's check when a plan is deleted).
CREATE INDEX subscribers_plan_id_idx ON subscribers (plan_id);
-- Expiry sweeps and "expiring soon" lists.
CREATE INDEX subscribers_expires_at_idx ON subscribers (expires_at) WHERE expires_at IS NOT NULL;
-- Suspended and disabled lists; active is the bulk and needs no index.
CREATE INDEX subscribers_status_idx ON subscribers (status) WHERE status <> 'active';
-- "Who is bound to this MAC" (support desk).
CREATE INDEX subscribers_mac_idx ON subscribers (mac) WHERE mac IS NOT NULL;

-- NAS devices (RADIUS clients). `address` is one host (/32, /128) or a range sharing a
-- secret; a packet's source is matched to the longest prefix containing it.
CREATE TABLE nas (
    id                              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                            text NOT NULL CHECK (name <> ''),
    address                         cidr NOT NULL,
    secret_enc                      bytea NOT NULL CHECK (octet_length(secret_enc) >= 28),
    vendor                          text NOT NULL DEFAULT 'mikrotik'
                                    CHECK (vendor IN ('mikrotik', 'cisco', 'juniper', 'accel-ppp', 'other')),
    -- RFC 5176 §3: Dynamic Authorization Server port.
    coa_port                        integer NOT NULL DEFAULT 3799 CHECK (coa_port BETWEEN 1 AND 65535),
    -- BlastRADIUS (CVE-2024-3596): on unless the NAS cannot send one.
    require_message_authenticator   boolean NOT NULL DEFAULT true,
    version                         bigint NOT NULL DEFAULT nextval('entry_version'),
    created_at                      timestamptz NOT NULL DEFAULT now(),
    updated_at                      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT nas_address_key UNIQUE (address)
);

-- Substring search on usernames, names and phone numbers for the admin API, where the
-- pg_trgm extension is available (it ships with PostgreSQL's contrib; creating it needs a
-- superuser or a trusted-extension grant). Without it, search falls back to scans and
-- nothing else changes.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable (%), subscriber search will scan', SQLERRM;
END
$$;

DO $$
DECLARE
    ops text;
BEGIN
    SELECT quote_ident(n.nspname) || '.gin_trgm_ops' INTO ops
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF ops IS NOT NULL THEN
        EXECUTE format('CREATE INDEX subscribers_username_trgm ON subscribers USING gin (username %s)', ops);
        EXECUTE format('CREATE INDEX subscribers_name_trgm ON subscribers USING gin (name %s) WHERE name IS NOT NULL', ops);
        EXECUTE format('CREATE INDEX subscribers_phone_trgm ON subscribers USING gin (phone %s) WHERE phone IS NOT NULL', ops);
    END IF;
END
$$;
