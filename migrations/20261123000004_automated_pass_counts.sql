-- The compliance score is the passing share of the applicable automated checks: pass / (pass + fail) over
-- Automated checks only. `pass_count` also counts Manual checks whose test passed, so the automated passes
-- are kept apart. Result sets stored before this column existed have no score (NULL).
ALTER TABLE result_sets ADD COLUMN automated_pass_count INT;
