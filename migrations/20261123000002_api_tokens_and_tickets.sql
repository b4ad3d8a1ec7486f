-- API tokens for people and integrations, and the ticket a finding is linked to.

-- Admin-issued bearer tokens with a role; stored only as SHA-256 hashes, revocable, expiring.
CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'auditor', 'admin')),
    token_hash   BYTEA NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

-- A ticketing integration records the ticket it opened for a finding.
ALTER TABLE findings
    ADD COLUMN ticket_key TEXT CHECK (length(ticket_key) BETWEEN 1 AND 200),
    ADD COLUMN ticket_url TEXT CHECK (length(ticket_url) BETWEEN 1 AND 2048),
    ADD COLUMN ticket_linked_at TIMESTAMPTZ;

-- Findings are listed by id (the pagination cursor) within filters.
CREATE INDEX findings_by_state_id ON findings (state, id);
