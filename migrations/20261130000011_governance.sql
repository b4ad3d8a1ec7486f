-- Governed exceptions, attestations of manual checks, and the hash-chained audit trail.
--
-- Exceptions and attestations are never deleted: their rows keep who did what and when, and the pages read
-- past dates from those times. "Expired" is not a stored state: an approved exception is in force while
-- decided_at <= t < expires_at and it was not revoked before t.

CREATE TABLE exceptions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    check_id         TEXT NOT NULL CHECK (length(check_id) BETWEEN 1 AND 32),
    -- The scope: a cluster (or every cluster) and a node-name pattern (or every node).
    cluster_id       BIGINT REFERENCES clusters (id) ON DELETE CASCADE,
    node_pattern     TEXT CHECK (length(node_pattern) BETWEEN 1 AND 253),
    -- node_pattern as a LIKE pattern (backslash escapes), kept beside it so matching is plain SQL.
    node_like        TEXT,
    justification    TEXT NOT NULL CHECK (length(justification) BETWEEN 1 AND 4000),
    expires_at       TIMESTAMPTZ NOT NULL,
    state            TEXT NOT NULL DEFAULT 'requested'
                     CHECK (state IN ('requested', 'approved', 'rejected', 'revoked')),
    requested_by_id  TEXT NOT NULL,
    requested_by     TEXT NOT NULL,
    requested_at     TIMESTAMPTZ NOT NULL,
    decided_by_id    TEXT,
    decided_by       TEXT,
    decided_at       TIMESTAMPTZ,
    decision_note    TEXT CHECK (length(decision_note) <= 4000),
    revoked_by_id    TEXT,
    revoked_by       TEXT,
    revoked_at       TIMESTAMPTZ,
    revoke_reason    TEXT CHECK (length(revoke_reason) <= 4000),
    -- When the expiry was announced on the feed (once, by one server).
    expiry_noted_at  TIMESTAMPTZ,
    CONSTRAINT exceptions_pattern_has_like CHECK ((node_pattern IS NULL) = (node_like IS NULL)),
    CONSTRAINT exceptions_decided CHECK ((state IN ('approved', 'rejected')) <= (decided_at IS NOT NULL)),
    CONSTRAINT exceptions_revoked CHECK ((state = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX exceptions_by_check ON exceptions (check_id) WHERE state IN ('approved', 'revoked');
CREATE INDEX exceptions_expiry_due ON exceptions (expires_at) WHERE state = 'approved' AND expiry_noted_at IS NULL;

CREATE TABLE attestations (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    check_id         TEXT NOT NULL CHECK (length(check_id) BETWEEN 1 AND 32),
    cluster_id       BIGINT REFERENCES clusters (id) ON DELETE CASCADE,
    node_pattern     TEXT CHECK (length(node_pattern) BETWEEN 1 AND 253),
    node_like        TEXT,
    verdict          TEXT NOT NULL CHECK (verdict IN ('pass', 'fail')),
    statement        TEXT NOT NULL CHECK (length(statement) BETWEEN 1 AND 4000),
    evidence_url     TEXT CHECK (length(evidence_url) BETWEEN 8 AND 2048),
    valid_from       TIMESTAMPTZ NOT NULL,
    valid_until      TIMESTAMPTZ NOT NULL,
    attested_by_id   TEXT NOT NULL,
    attested_by      TEXT NOT NULL,
    attested_at      TIMESTAMPTZ NOT NULL,
    revoked_by_id    TEXT,
    revoked_by       TEXT,
    revoked_at       TIMESTAMPTZ,
    revoke_reason    TEXT CHECK (length(revoke_reason) <= 4000),
    CONSTRAINT attestations_pattern_has_like CHECK ((node_pattern IS NULL) = (node_like IS NULL)),
    CONSTRAINT attestations_period CHECK (valid_from < valid_until)
);
CREATE INDEX attestations_by_check ON attestations (check_id);

-- The rules of time and place, written once for every query that asks "did this apply to that node then?".
-- They mirror `domain::exception::Facts::in_force_at` and `domain::scope::NodePattern::matches`.
CREATE FUNCTION scope_covers(scope_cluster BIGINT, scope_like TEXT, cluster BIGINT, node TEXT)
    RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT (scope_cluster IS NULL OR scope_cluster = cluster) AND (scope_like IS NULL OR node LIKE scope_like)
$$;
CREATE FUNCTION exception_in_force(state TEXT, decided_at TIMESTAMPTZ, revoked_at TIMESTAMPTZ,
                                   expires_at TIMESTAMPTZ, t TIMESTAMPTZ)
    RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT state IN ('approved', 'revoked') AND decided_at IS NOT NULL AND decided_at <= t AND t < expires_at
           AND (revoked_at IS NULL OR t < revoked_at)
$$;
-- Mirrors `domain::exception::Facts::shown_at`: what people saw at t (NULL before the request).
CREATE FUNCTION exception_state_at(state TEXT, requested_at TIMESTAMPTZ, decided_at TIMESTAMPTZ,
                                   revoked_at TIMESTAMPTZ, expires_at TIMESTAMPTZ, t TIMESTAMPTZ)
    RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN t < requested_at THEN NULL
        WHEN revoked_at IS NOT NULL AND revoked_at <= t THEN 'revoked'
        WHEN decided_at IS NOT NULL AND decided_at <= t AND state = 'rejected' THEN 'rejected'
        WHEN decided_at IS NOT NULL AND decided_at <= t AND state IN ('approved', 'revoked') THEN
            CASE WHEN t < expires_at THEN 'in_force' ELSE 'expired' END
        WHEN t < expires_at THEN 'requested'
        ELSE 'lapsed'
    END
$$;
CREATE FUNCTION attestation_valid(valid_from TIMESTAMPTZ, valid_until TIMESTAMPTZ, revoked_at TIMESTAMPTZ,
                                  t TIMESTAMPTZ)
    RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT valid_from <= t AND t < valid_until AND (revoked_at IS NULL OR t < revoked_at)
$$;

-- Waiver events share the feed (and its ids) with the transitions; they carry the exception and no scan.
ALTER TABLE finding_events
    ALTER COLUMN scan_id DROP NOT NULL,
    ADD COLUMN exception_id BIGINT REFERENCES exceptions (id),
    DROP CONSTRAINT finding_events_kind_check,
    ADD CONSTRAINT finding_events_kind_check
        CHECK (kind IN ('opened', 'resolved', 'reopened', 'waived', 'waiver_expired', 'waiver_revoked')),
    ADD CONSTRAINT finding_events_cause CHECK (
        (kind IN ('opened', 'resolved', 'reopened') AND scan_id IS NOT NULL AND exception_id IS NULL)
        OR (kind IN ('waived', 'waiver_expired', 'waiver_revoked') AND scan_id IS NULL AND exception_id IS NOT NULL)
    );

-- The audit trail. Ids have no gaps (the appender takes head + 1 under the head's row lock), and each record's
-- hash covers the previous record's hash, so an edited, removed or inserted record breaks the chain at that
-- point. The triggers below stop ordinary edits; the chain catches the rest (a superuser, a restored dump).
CREATE TABLE audit_log (
    id         BIGINT PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    actor_id   TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    source     TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    detail     TEXT NOT NULL,
    prev_hash  BYTEA NOT NULL,
    hash       BYTEA NOT NULL
);
CREATE INDEX audit_log_by_action ON audit_log (action, id);

CREATE TABLE audit_head (
    only_row  BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id   BIGINT NOT NULL,
    last_hash BYTEA NOT NULL
);
INSERT INTO audit_head (last_id, last_hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is refused', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
