-- The fleet as of a past day reads every node's row of that day at once, rather than looking up 10,000 nodes
-- one by one.
CREATE INDEX node_days_by_day ON node_days (day) INCLUDE (node_id, result_set_id, finished_at);
