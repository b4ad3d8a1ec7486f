-- Ingest: clusters and their agent tokens, nodes, scans with their results, per-day summaries for trends,
-- findings and the event feed. Append-only: never edit this file once applied; add a new migration.

CREATE TABLE clusters (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE
               CONSTRAINT cluster_name_is_a_dns_label CHECK (name ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'),
    labels     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Agent tokens are stored only as SHA-256 hashes; a token is bound to one cluster and can be revoked.
CREATE TABLE agent_tokens (
    id           UUID PRIMARY KEY,
    cluster_id   BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX agent_tokens_by_cluster ON agent_tokens (cluster_id);

-- first_seen and last_seen follow the scans' finished_at, so late scans move them correctly.
CREATE TABLE nodes (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster_id       BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    roles            TEXT[] NOT NULL,
    kubelet_version  TEXT,
    first_seen       TIMESTAMPTZ NOT NULL,
    last_seen        TIMESTAMPTZ NOT NULL,
    last_received_at TIMESTAMPTZ NOT NULL,
    UNIQUE (cluster_id, name)
);

-- One row per distinct result (check, status, evidence, detail), shared by every scan and node that reports
-- it: unchanged results cost nothing after their first report.
CREATE TABLE check_results (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest   BYTEA NOT NULL UNIQUE,
    check_id TEXT NOT NULL,
    status   TEXT NOT NULL
             CHECK (status IN ('pass', 'fail', 'warn', 'manual', 'not_applicable', 'error')),
    evidence JSONB NOT NULL,
    detail   TEXT
);

-- One row per distinct set of results, with the counts trends need, written once.
CREATE TABLE result_sets (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest            BYTEA NOT NULL UNIQUE,
    benchmark_id      TEXT NOT NULL,
    benchmark_version TEXT NOT NULL,
    result_ids        BIGINT[] NOT NULL,
    pass_count        INT NOT NULL,
    fail_count        INT NOT NULL,
    warn_count        INT NOT NULL,
    manual_count      INT NOT NULL,
    not_applicable_count INT NOT NULL,
    error_count       INT NOT NULL,
    -- {"1.1": {"pass": 3, "fail": 1, ...}, ...}: per-section counts for section trends.
    section_counts    JSONB NOT NULL
);

-- An accepted report. An unchanged scan is this row alone (plus its index entries).
CREATE TABLE scans (
    scan_id       UUID PRIMARY KEY,
    node_id       BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    result_set_id BIGINT NOT NULL REFERENCES result_sets (id),
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- SHA-256 (first 16 bytes) of the cluster and the canonical report: same id and content is a retry.
    content_hash  BYTEA NOT NULL,
    agent_version TEXT NOT NULL
);
CREATE INDEX scans_by_node_time ON scans (node_id, finished_at, scan_id);

-- The last scan of each node on each UTC day: what trends over days read, kept at ingest.
CREATE TABLE node_days (
    node_id       BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    day           DATE NOT NULL,
    result_set_id BIGINT NOT NULL REFERENCES result_sets (id),
    finished_at   TIMESTAMPTZ NOT NULL,
    scan_id       UUID NOT NULL,
    PRIMARY KEY (node_id, day)
);

-- A finding is (node, check) since it first failed; it stays one row, with a stable id, through every
-- resolution and reopening. Its dates follow the scans' finished_at.
CREATE TABLE findings (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster_id   BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    node_id      BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    check_id     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
    first_seen   TIMESTAMPTZ NOT NULL,
    state_since  TIMESTAMPTZ NOT NULL,
    reopen_count INT NOT NULL DEFAULT 0,
    UNIQUE (node_id, check_id)
);
CREATE INDEX findings_by_cluster_state ON findings (cluster_id, state);

-- Every transition of a finding. Ids only grow, and they are committed in id order (the ingest takes a
-- transaction-level advisory lock before inserting events), so a reader polling `id > cursor` misses none.
CREATE TABLE finding_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finding_id  BIGINT NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('opened', 'resolved', 'reopened')),
    at          TIMESTAMPTZ NOT NULL,
    scan_id     UUID NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX finding_events_by_finding ON finding_events (finding_id, at, scan_id);
