-- Cluster reports (kubeward/cluster-report/v1) and findings on Kubernetes objects.
--
-- Storage grows with changes, as for node scans: an object's result is stored once per distinct content, a
-- check's list of them once per distinct list, a scan's set of checks once per distinct set; an unchanged
-- cluster scan is one cluster_scans row.

-- Every object a cluster report has named (listed as failing, unknown or platform-owned). Cluster-scoped kinds
-- have the empty namespace. first_seen is the earliest scan that named it (late scans move it earlier);
-- last_seen is the newest scan that stored a change and named it: an unchanged scan is one cluster_scans row
-- and touches no object, so how long an object has kept failing is read from its findings and the timeline.
CREATE TABLE objects (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster_id BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL,
    UNIQUE (cluster_id, kind, namespace, name)
);

-- One object's result for one check, once per distinct content.
CREATE TABLE object_results (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest    BYTEA NOT NULL UNIQUE,
    object_id BIGINT NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    check_id  TEXT NOT NULL,
    status    TEXT NOT NULL
              CHECK (status IN ('pass', 'fail', 'warn', 'manual', 'not_applicable', 'error')),
    evidence  JSONB NOT NULL,
    detail    TEXT,
    -- {"list", "version", "reason"} when a platform-owned list named the object.
    platform  JSONB
);
-- A finding's evidence is found from its object and check, then matched against a scan's list.
CREATE INDEX object_results_by_object ON object_results (object_id, check_id);

-- One check's result in a cluster scan: its status and the objects it listed, once per distinct content.
-- `evaluated` is not here but in the set, so that a new workload that passes does not copy the list.
CREATE TABLE cluster_check_results (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest            BYTEA NOT NULL UNIQUE,
    check_id          TEXT NOT NULL,
    status            TEXT NOT NULL
                      CHECK (status IN ('pass', 'fail', 'warn', 'manual', 'not_applicable', 'error')),
    detail            TEXT,
    object_result_ids BIGINT[] NOT NULL
);

-- One distinct set of check results with what pages and trends need, written once.
CREATE TABLE cluster_result_sets (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest               BYTEA NOT NULL UNIQUE,
    benchmark_id         TEXT NOT NULL,
    benchmark_version    TEXT NOT NULL,
    -- {"5.2.2": <cluster_check_results.id>, ...}
    result_map           JSONB NOT NULL,
    -- {"5.2.2": 214, ...}: how many objects each check looked at.
    evaluated            JSONB NOT NULL,
    -- Checks by status.
    pass_count           INT NOT NULL,
    fail_count           INT NOT NULL,
    warn_count           INT NOT NULL,
    manual_count         INT NOT NULL,
    not_applicable_count INT NOT NULL,
    error_count          INT NOT NULL,
    -- Objects listed as failing (fail or warn) and not platform-owned, summed over the checks.
    failing_objects      INT NOT NULL,
    platform_objects     INT NOT NULL
);

-- An accepted cluster report. A cluster's scans against one benchmark form one timeline, ordered by
-- finished_at then scan_id, as a node's scans do.
CREATE TABLE cluster_scans (
    scan_id            UUID PRIMARY KEY,
    cluster_id         BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    benchmark_id       TEXT NOT NULL,
    result_set_id      BIGINT NOT NULL REFERENCES cluster_result_sets (id),
    kubernetes_version TEXT,
    distribution       TEXT,
    started_at         TIMESTAMPTZ NOT NULL,
    finished_at        TIMESTAMPTZ NOT NULL,
    received_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    content_hash       BYTEA NOT NULL,
    agent_version      TEXT NOT NULL
);
CREATE INDEX cluster_scans_by_timeline ON cluster_scans (cluster_id, benchmark_id, finished_at, scan_id);
CREATE INDEX cluster_scans_by_time ON cluster_scans (cluster_id, finished_at);

-- A finding's subject is a node or an object, never both: node and object findings share the table, its ids,
-- the event feed and the webhooks.
ALTER TABLE findings ALTER COLUMN node_id DROP NOT NULL;
ALTER TABLE findings ADD COLUMN object_id BIGINT REFERENCES objects (id) ON DELETE CASCADE;
ALTER TABLE findings ADD CONSTRAINT finding_has_one_subject CHECK ((node_id IS NULL) <> (object_id IS NULL));
CREATE UNIQUE INDEX findings_by_object_check ON findings (object_id, check_id) WHERE object_id IS NOT NULL;
