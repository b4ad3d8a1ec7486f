-- Findings of one cluster in id (cursor) order, for the API's cluster filter on a large fleet.
CREATE INDEX findings_by_cluster_id ON findings (cluster_id, id);
