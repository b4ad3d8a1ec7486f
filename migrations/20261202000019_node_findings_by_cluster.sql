-- A cluster's node findings without its object findings: the cluster page's change list starts from them.
-- A cluster of 50 nodes and 2,000 workloads has a few hundred node findings among tens of thousands of object
-- findings; from the cluster index alone the page fetched every one of them to keep the few.
CREATE INDEX node_findings_by_cluster ON findings (cluster_id, id) WHERE node_id IS NOT NULL;
