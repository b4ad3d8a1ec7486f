-- One score rule everywhere: a day on which a node's scan predates the per-set counts (its result set has no
-- automated_pass_count) has no score. The pages' daily series reads cluster_days, which counted such a scan's
-- automated passes as 0 and so showed a score the API did not; they now count those nodes and show none.
ALTER TABLE cluster_days ADD COLUMN unscored_nodes INT NOT NULL DEFAULT 0;
UPDATE cluster_days cd SET unscored_nodes = u.unscored
FROM (
    SELECT n.cluster_id, d.day, count(*) AS unscored
    FROM node_days d
    JOIN nodes n ON n.id = d.node_id
    JOIN result_sets rs ON rs.id = d.result_set_id
    WHERE rs.automated_pass_count IS NULL
    GROUP BY n.cluster_id, d.day
) u
WHERE cd.cluster_id = u.cluster_id AND cd.day = u.day;
