-- Browser sessions after an OIDC login. The cookie carries a random id (encrypted); only its hash is kept here,
-- so a copy of this table cannot be replayed as a cookie. Logout ends the row; idle and absolute expiry are
-- checked on every request.
CREATE TABLE web_sessions (
    id_hash      BYTEA PRIMARY KEY,
    subject      TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'auditor', 'admin')),
    -- The form token of this session: every state-changing form must echo it.
    csrf_token   TEXT NOT NULL,
    -- Kept for RP-initiated logout (the provider's end_session_endpoint wants it as id_token_hint).
    id_token     TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
