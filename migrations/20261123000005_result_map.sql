-- Where each check's result is in a result set, so that reading one check's result (a finding's evidence,
-- a check's trend) is one lookup instead of a walk over the set's results.
ALTER TABLE result_sets ADD COLUMN result_map JSONB;

UPDATE result_sets rs
SET result_map = (
    SELECT jsonb_object_agg(r.check_id, r.id)
    FROM unnest(rs.result_ids) AS u(result_id)
    JOIN check_results r ON r.id = u.result_id
);

ALTER TABLE result_sets ALTER COLUMN result_map SET NOT NULL;
