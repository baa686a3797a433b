-- autobot_users 0001: user management schema of the AutoBot application users (spec issue #786).
-- Applied by `slm-wizard migrate` inside one transaction, as the database owner (autobot_app).
-- PostgreSQL idioms: identity keys, JSONB, timestamptz, lower() unique indexes instead of citext.
-- IF NOT EXISTS keeps it safe on a database that already holds these tables (earlier runner).

CREATE TABLE IF NOT EXISTS users (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            TEXT NOT NULL
                        CONSTRAINT users_username_check
                        CHECK (length(username) BETWEEN 1 AND 64 AND username !~ '[[:space:]]'),
    email               TEXT
                        CONSTRAINT users_email_check
                        CHECK (email IS NULL OR (length(email) <= 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$')),
    display_name        TEXT CONSTRAINT users_display_name_check CHECK (length(display_name) <= 200),
    -- NULL: no password login (API keys or external identity only).
    password_hash       TEXT CONSTRAINT users_password_hash_check CHECK (password_hash <> ''),
    is_active           BOOLEAN NOT NULL DEFAULT true,
    mfa_enabled         BOOLEAN NOT NULL DEFAULT false,
    mfa_secret          TEXT,
    failed_login_count  INTEGER NOT NULL DEFAULT 0
                        CONSTRAINT users_failed_login_count_check CHECK (failed_login_count >= 0),
    locked_until        TIMESTAMPTZ,
    last_login_at       TIMESTAMPTZ,
    preferences         JSONB NOT NULL DEFAULT '{}'::jsonb
                        CONSTRAINT users_preferences_check CHECK (jsonb_typeof(preferences) = 'object'),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_mfa_check CHECK (NOT mfa_enabled OR mfa_secret IS NOT NULL)
);
-- Case-insensitive uniqueness without citext.
CREATE UNIQUE INDEX IF NOT EXISTS users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE IF NOT EXISTS roles (
    id           INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT NOT NULL CONSTRAINT roles_name_check CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    description  TEXT NOT NULL DEFAULT '',
    -- Permission names, e.g. ["users:read", "users:write"].
    permissions  JSONB NOT NULL DEFAULT '[]'::jsonb
                 CONSTRAINT roles_permissions_check CHECK (jsonb_typeof(permissions) = 'array'),
    is_system    BOOLEAN NOT NULL DEFAULT false,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS roles_name_lower_key ON roles (lower(name));

CREATE TABLE IF NOT EXISTS user_roles (
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id     INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    granted_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    granted_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX IF NOT EXISTS user_roles_role_id_idx ON user_roles (role_id);

CREATE TABLE IF NOT EXISTS sessions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 (hex) of the session token; the token itself is never stored.
    token_hash    TEXT NOT NULL CONSTRAINT sessions_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    ip_address    INET,
    user_agent    TEXT,
    CONSTRAINT sessions_expiry_check CHECK (expires_at > created_at)
);
CREATE UNIQUE INDEX IF NOT EXISTS sessions_token_hash_key ON sessions (token_hash);
-- Validating a token looks it up by hash (above); purging expired sessions by expiry.
CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);

CREATE TABLE IF NOT EXISTS api_keys (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL CONSTRAINT api_keys_name_check CHECK (length(name) BETWEEN 1 AND 100),
    -- The first characters of the key, shown to users and used to find the key; the rest is
    -- only stored as a SHA-256 (hex) hash.
    key_prefix    TEXT NOT NULL CONSTRAINT api_keys_key_prefix_check CHECK (key_prefix ~ '^[A-Za-z0-9_-]{4,16}$'),
    key_hash      TEXT NOT NULL CONSTRAINT api_keys_key_hash_check CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    scopes        JSONB NOT NULL DEFAULT '[]'::jsonb
                  CONSTRAINT api_keys_scopes_check CHECK (jsonb_typeof(scopes) = 'array'),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at  TIMESTAMPTZ,
    expires_at    TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    CONSTRAINT api_keys_expiry_check CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_key_hash_key ON api_keys (key_hash);
CREATE INDEX IF NOT EXISTS api_keys_key_prefix_idx ON api_keys (key_prefix);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_user_name_key ON api_keys (user_id, lower(name));

CREATE TABLE IF NOT EXISTS audit_log (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The user may be deleted later; the entry stays, with the name it had.
    user_id        BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor          TEXT,
    action         TEXT NOT NULL CONSTRAINT audit_log_action_check CHECK (action <> ''),
    resource_type  TEXT,
    resource_id    TEXT,
    success        BOOLEAN NOT NULL DEFAULT true,
    ip_address     INET,
    details        JSONB NOT NULL DEFAULT '{}'::jsonb
                   CONSTRAINT audit_log_details_check CHECK (jsonb_typeof(details) = 'object')
);
CREATE INDEX IF NOT EXISTS audit_log_occurred_at_idx ON audit_log (occurred_at);
CREATE INDEX IF NOT EXISTS audit_log_user_id_occurred_at_idx ON audit_log (user_id, occurred_at);
CREATE INDEX IF NOT EXISTS audit_log_action_idx ON audit_log (action);

-- updated_at follows every change of a user row.
CREATE OR REPLACE FUNCTION users_set_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER users_set_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_set_updated_at();

-- Built-in roles.
INSERT INTO roles (name, description, permissions, is_system) VALUES
    ('admin', 'Full access to AutoBot', '["*"]', true),
    ('user', 'Uses AutoBot (chat, knowledge base, own API keys)', '["chat:use", "knowledge:read", "api_keys:own"]', true),
    ('readonly', 'Read-only access', '["chat:read", "knowledge:read"]', true)
ON CONFLICT DO NOTHING;
