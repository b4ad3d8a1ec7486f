-- Governance over Kubernetes objects: exceptions that name a cluster-scope check or a named group of checks
-- and scope objects by namespace, kind and name; attestations of the Manual section-5 checks that keep the
-- evidence the auditor looked at; and the platform-owned bucket, which an admin may turn off per cluster.

-- An exception names one check (check_id) or a group (check_group, a catalog section such as
-- `cis-1.12/5.2`); check_ids holds the checks it covers, a group's as they were when it was requested, so the
-- record says exactly what was waived even after the catalog changes.
ALTER TABLE exceptions
    DROP CONSTRAINT exceptions_check_id_check,
    ALTER COLUMN check_id DROP NOT NULL,
    ADD CONSTRAINT exceptions_check_id_length CHECK (length(check_id) BETWEEN 1 AND 64),
    ADD COLUMN check_group TEXT CHECK (length(check_group) BETWEEN 3 AND 100),
    ADD COLUMN check_ids TEXT[],
    -- The object scope: a namespace ('' for cluster-scoped objects), a kind, and an object-name glob kept
    -- beside its LIKE form. NULL means any. A node pattern and an object scope never meet in one exception.
    ADD COLUMN namespace TEXT CHECK (length(namespace) <= 63),
    ADD COLUMN object_kind TEXT CHECK (length(object_kind) BETWEEN 1 AND 63),
    ADD COLUMN object_pattern TEXT CHECK (length(object_pattern) BETWEEN 1 AND 253),
    ADD COLUMN object_like TEXT;
UPDATE exceptions SET check_ids = ARRAY[check_id];
ALTER TABLE exceptions
    ALTER COLUMN check_ids SET NOT NULL,
    ADD CONSTRAINT exceptions_names_checks
        CHECK ((check_id IS NULL) <> (check_group IS NULL) AND cardinality(check_ids) >= 1),
    ADD CONSTRAINT exceptions_object_pattern_has_like CHECK ((object_pattern IS NULL) = (object_like IS NULL)),
    ADD CONSTRAINT exceptions_one_subject
        CHECK (node_pattern IS NULL OR (namespace IS NULL AND object_kind IS NULL AND object_pattern IS NULL));
DROP INDEX exceptions_by_check;
CREATE INDEX exceptions_by_checks ON exceptions USING gin (check_ids) WHERE state IN ('approved', 'revoked');

-- Mirrors `domain::scope::ObjectScope::covers`: does an exception's scope take in this object?
CREATE FUNCTION object_scope_covers(scope_cluster BIGINT, scope_namespace TEXT, scope_kind TEXT, scope_like TEXT,
                                    cluster BIGINT, namespace TEXT, kind TEXT, name TEXT)
    RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT (scope_cluster IS NULL OR scope_cluster = cluster)
       AND (scope_namespace IS NULL OR scope_namespace = namespace)
       AND (scope_kind IS NULL OR scope_kind = kind)
       AND (scope_like IS NULL OR name LIKE scope_like)
$$;

-- Whether an exception's scope (its cluster, node pattern, namespace, kind and name pattern) takes in a
-- finding's subject: a node (by name) or an object (namespace, kind, name). A node scope never takes in an
-- object, nor an object scope a node. Scalar arguments, not the exceptions row, so that PostgreSQL inlines it:
-- it runs once per exception and finding a page walks.
CREATE FUNCTION exception_covers(scope_cluster BIGINT, node_like TEXT, scope_namespace TEXT, scope_kind TEXT,
                                 scope_like TEXT, cluster BIGINT, node_name TEXT, object_namespace TEXT,
                                 object_kind TEXT, object_name TEXT)
    RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN node_name IS NOT NULL THEN
                scope_namespace IS NULL AND scope_kind IS NULL AND scope_like IS NULL
                AND scope_covers(scope_cluster, node_like, cluster, node_name)
           ELSE
                node_like IS NULL
                AND object_scope_covers(scope_cluster, scope_namespace, scope_kind, scope_like,
                                        cluster, object_namespace, object_kind, object_name)
           END
$$;

-- An attestation of a cluster-scope check answers for one cluster, and keeps what the auditor was shown: the
-- cluster scan it was recorded against and that check's result in it (status and listed objects).
ALTER TABLE attestations
    DROP CONSTRAINT attestations_check_id_check,
    ADD CONSTRAINT attestations_check_id_length CHECK (length(check_id) BETWEEN 1 AND 64),
    ADD COLUMN evidence_scan_id UUID,
    ADD COLUMN evidence JSONB,
    ADD CONSTRAINT attestations_evidence_whole CHECK ((evidence_scan_id IS NULL) = (evidence IS NULL));

-- Checks whose own status is `pass` although a platform-owned object in their list fails: with the platform
-- bucket turned off such a check counts as failed, and the fleet page reads that from here.
ALTER TABLE cluster_result_sets ADD COLUMN passes_over_platform_failures INT NOT NULL DEFAULT 0;
UPDATE cluster_result_sets rs SET passes_over_platform_failures = (
    SELECT count(*) FROM jsonb_each_text(rs.result_map) m
    JOIN cluster_check_results c ON c.id = m.value::bigint
    WHERE c.status = 'pass'
      AND EXISTS (SELECT 1 FROM unnest(c.object_result_ids) u(id) JOIN object_results r ON r.id = u.id
                  WHERE r.platform IS NOT NULL AND r.status IN ('fail', 'warn')));

-- Whether a cluster's platform-owned objects are set apart (the default) or counted like any other. Every
-- change is a row, never an update, so a past day reads the setting of that day.
CREATE TABLE platform_bucket_changes (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster_id    BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    enabled       BOOLEAN NOT NULL,
    reason        TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 4000),
    changed_by_id TEXT NOT NULL,
    changed_by    TEXT NOT NULL,
    changed_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX platform_bucket_changes_timeline ON platform_bucket_changes (cluster_id, changed_at DESC, id DESC);

-- Whether a cluster's platform bucket was on at t (on unless an admin turned it off by then).
CREATE FUNCTION platform_bucket_on(cluster BIGINT, t TIMESTAMPTZ) RETURNS BOOLEAN LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT p.enabled FROM platform_bucket_changes p
                     WHERE p.cluster_id = cluster AND p.changed_at <= t
                     ORDER BY p.changed_at DESC, p.id DESC LIMIT 1), true)
$$;
