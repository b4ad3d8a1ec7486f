-- What each node scan said of the node itself (its roles, the runtime its kubelet talks to, its API server's
-- default Pod Security level and where that comes from), kept per scan: a cluster scan that arrives late is
-- decided by the nodes as they were when it finished, not as they are now. Stored once per distinct content,
-- so a scan adds one id (most nodes of a cluster share one set).
CREATE TABLE node_attribute_sets (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- SHA-256 of the JSON array [roles, container_runtime, pod_security_enforce, pod_security_source].
    digest               BYTEA NOT NULL UNIQUE,
    roles                TEXT[] NOT NULL,
    container_runtime    TEXT CHECK (length(container_runtime) <= 200),
    pod_security_enforce TEXT CHECK (pod_security_enforce IN ('privileged', 'baseline', 'restricted')),
    pod_security_source  TEXT CHECK (length(pod_security_source) <= 4096)
);

-- No foreign key: sets are never deleted, and a key check on every node scan would lock the one set that
-- thousands of nodes share. Scans stored before this migration have none; their node's newest values stand in.
ALTER TABLE scans ADD COLUMN attributes_id BIGINT;
