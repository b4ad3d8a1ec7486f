-- A node that stops reporting raises one `node.stale` event per silence, so webhook subscribers learn of it
-- without polling. The silence is named by the node's last_seen when it was found stale: a later report
-- starts a new silence, and the unique key lets several server replicas race without raising it twice.
CREATE TABLE node_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id     BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('stale')),
    last_seen   TIMESTAMPTZ NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (node_id, kind, last_seen)
);

-- A delivery now carries either a finding event or a node event, never both.
ALTER TABLE webhook_deliveries
    ALTER COLUMN event_id DROP NOT NULL,
    ADD COLUMN node_event_id BIGINT REFERENCES node_events (id) ON DELETE CASCADE,
    ADD CONSTRAINT webhook_deliveries_one_event CHECK ((event_id IS NULL) <> (node_event_id IS NULL));
