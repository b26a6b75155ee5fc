-- 0003: the admin API's own tables: staff accounts, their refresh tokens and the audit log.
--
-- radiusd reads none of these. Passwords are argon2id PHC strings; TOTP secrets are
-- AES-256-GCM ciphertexts under the same key file as subscriber passwords; refresh tokens
-- are stored as SHA-256 digests only, so a copy of the database cannot be replayed.

CREATE TABLE admins (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username          text NOT NULL CONSTRAINT admins_username_key UNIQUE
                      CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    -- argon2id, PHC string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
    password_hash     text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role              text NOT NULL CHECK (role IN ('superadmin', 'admin', 'support', 'viewer')),
    -- The confirmed TOTP secret (RFC 6238), encrypted; NULL: not enrolled.
    totp_secret_enc   bytea CHECK (octet_length(totp_secret_enc) >= 28),
    -- A secret handed out by /auth/totp/setup and not yet confirmed with a code.
    totp_pending_enc  bytea CHECK (octet_length(totp_pending_enc) >= 28),
    -- The last accepted TOTP time step: a code is accepted once (RFC 6238 §5.2).
    totp_last_step    bigint NOT NULL DEFAULT 0,
    -- TOTP required for this admin whatever the role's policy says.
    totp_required     boolean NOT NULL DEFAULT false,
    -- Networks this admin may work from; empty: any (the global allow-list still applies).
    allowed_networks  cidr[] NOT NULL DEFAULT '{}',
    disabled          boolean NOT NULL DEFAULT false,
    last_login_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Refresh tokens rotate: each use revokes the token and issues its successor in the same
-- family. Presenting a revoked token means it was copied: the whole family is revoked.
CREATE SEQUENCE admin_refresh_family AS bigint;

CREATE TABLE admin_refresh_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    admin_id     bigint NOT NULL CONSTRAINT admin_refresh_tokens_admin_id_fkey
                 REFERENCES admins (id) ON DELETE CASCADE,
    family       bigint NOT NULL,
    -- SHA-256 of the token.
    token_hash   bytea NOT NULL CONSTRAINT admin_refresh_tokens_hash_key UNIQUE
                 CHECK (octet_length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    client_ip    inet
);
CREATE INDEX admin_refresh_tokens_family ON admin_refresh_tokens (family);
CREATE INDEX admin_refresh_tokens_expires ON admin_refresh_tokens (expires_at);

-- Every change made through the API and every reveal or kick. Rows are never updated.
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    -- Kept when the admin is deleted; the name stays readable.
    admin_id        bigint CONSTRAINT audit_log_admin_id_fkey
                    REFERENCES admins (id) ON DELETE SET NULL,
    admin_username  text NOT NULL,
    client_ip       inet,
    -- `entity.verb`, e.g. plan.create, subscriber.reveal_password, auth.login_failed.
    action          text NOT NULL,
    entity          text NOT NULL,
    entity_id       text,
    -- The entity before and after the change, secrets removed.
    before          jsonb,
    after           jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_admin ON audit_log (admin_id, at DESC);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, at DESC);
CREATE INDEX audit_log_action ON audit_log (action, at DESC);
