-- The platform fingerprint of each node's newest scan: the distribution its agent recognised, the signals
-- for and against it, the config files it followed, and why the choice is uncertain. Pages show it beside the
-- benchmark that judged the node; each scan's benchmark is kept with its result set.
ALTER TABLE nodes
    ADD COLUMN platform JSONB CHECK (octet_length(platform::text) <= 65536);
