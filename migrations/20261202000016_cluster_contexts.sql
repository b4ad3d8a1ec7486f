-- A live cluster's context: its namespaces and their labels, network policies, service accounts, roles,
-- bindings, quotas and admission engines' pod security policies, trimmed to what the manifest checks read. It
-- rides in the first report of each cluster agent run; stored once per distinct content (an unchanged cluster
-- costs one reference per scan), and served to CI as the newest of a cluster.
CREATE TABLE cluster_contexts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest       BYTEA NOT NULL UNIQUE,
    objects      JSONB NOT NULL,
    object_count INT NOT NULL
);

ALTER TABLE cluster_scans ADD COLUMN context_id BIGINT REFERENCES cluster_contexts (id);
CREATE INDEX cluster_scans_with_context ON cluster_scans (cluster_id, finished_at DESC, scan_id DESC)
    WHERE context_id IS NOT NULL;
