-- Summaries for the fleet page, so that it reads a few thousand rows instead of a node_days row per node and day.

-- Each node's newest result set, kept at ingest beside last_seen: where the fleet stands now.
ALTER TABLE nodes ADD COLUMN last_result_set_id BIGINT REFERENCES result_sets (id);
UPDATE nodes n SET last_result_set_id = (
    SELECT s.result_set_id FROM scans s WHERE s.node_id = n.id ORDER BY s.finished_at DESC, s.scan_id DESC LIMIT 1
);

-- Per cluster and UTC day, the sums over the last scan of that day of each node that reported that day (the
-- node_days rows of the cluster), kept at ingest by adding the new row's counts and taking away the old ones.
CREATE TABLE cluster_days (
    cluster_id      BIGINT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    day             DATE NOT NULL,
    nodes           INT NOT NULL,
    pass            BIGINT NOT NULL,
    fail            BIGINT NOT NULL,
    warn            BIGINT NOT NULL,
    manual          BIGINT NOT NULL,
    not_applicable  BIGINT NOT NULL,
    error           BIGINT NOT NULL,
    automated_pass  BIGINT NOT NULL,
    PRIMARY KEY (cluster_id, day)
);
INSERT INTO cluster_days
SELECT n.cluster_id, d.day, count(*), sum(rs.pass_count), sum(rs.fail_count), sum(rs.warn_count),
       sum(rs.manual_count), sum(rs.not_applicable_count), sum(rs.error_count),
       coalesce(sum(rs.automated_pass_count), 0)
FROM node_days d JOIN nodes n ON n.id = d.node_id JOIN result_sets rs ON rs.id = d.result_set_id
GROUP BY n.cluster_id, d.day;
