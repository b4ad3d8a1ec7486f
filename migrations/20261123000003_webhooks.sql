-- Webhooks: admins subscribe a URL to kinds of finding events; deliveries wait in a durable queue.

CREATE TABLE webhooks (
    id          UUID PRIMARY KEY,
    url         TEXT NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    -- The shared secret deliveries are signed with; the server must read it back to sign, so it is kept
    -- as given (like any credential in this database, protect the database).
    secret      TEXT NOT NULL CHECK (length(secret) BETWEEN 16 AND 256),
    events      TEXT[] NOT NULL CHECK (cardinality(events) > 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at  TIMESTAMPTZ
);

-- One row per event and subscriber, written in the same transaction as the event: none is lost.
CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        BIGINT NOT NULL REFERENCES finding_events (id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_status     INT,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
