-- What each node's newest scan said of how it was judged: the platform fingerprint (the distribution its
-- agent recognised, the signals for and against it, the config files it followed, why the choice is
-- uncertain) and the benchmark it chose. Pages show them beside the score; the fleet page counts the
-- benchmarks in use. Each scan's own benchmark stays with its result set.
ALTER TABLE nodes
    ADD COLUMN platform JSONB CHECK (octet_length(platform::text) <= 65536),
    ADD COLUMN benchmark_id TEXT CHECK (length(benchmark_id) <= 4096),
    ADD COLUMN benchmark_version TEXT CHECK (length(benchmark_version) <= 4096);

-- Nodes that reported before: their newest scan's benchmark.
UPDATE nodes n
SET benchmark_id = rs.benchmark_id, benchmark_version = rs.benchmark_version
FROM (
    SELECT DISTINCT ON (s.node_id) s.node_id, r.benchmark_id, r.benchmark_version
    FROM scans s JOIN result_sets r ON r.id = s.result_set_id
    ORDER BY s.node_id, s.finished_at DESC, s.scan_id DESC
) rs
WHERE rs.node_id = n.id;

-- How many nodes the cluster had when its cluster agent scanned it (absent when the agent may not list
-- nodes, and for manifest scans): pages set the nodes reporting against it, the coverage beside the score.
ALTER TABLE cluster_scans
    ADD COLUMN node_count BIGINT CHECK (node_count BETWEEN 0 AND 1000000);
