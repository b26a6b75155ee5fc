-- Signed webhooks (issue 22): endpoints admins register, and the deliveries of events to
-- them.
--
-- webhooks.events: the event kinds the endpoint wants ('session.stop', 'subscriber.created'
--   …; the admin API checks them against the kinds the outbox carries).
-- webhooks.secret_enc: the signing secret (the random octets behind the `whsec_` text the
--   API shows once), AES-256-GCM under the deployment key as NAS secrets are
--   (label proisp/webhook-secret/v1).
--
-- webhook_deliveries: one row per (event, webhook), inserted by proisp-events' relay in the
--   same statement that deletes the event's acknowledged outbox row, so an event published
--   is an event queued for every webhook that wants it, exactly once: an outbox row is
--   deleted by one statement only, and its deliveries are that statement's. (No UNIQUE
--   (webhook_id, event_id) on top: its index cost a third of the fan-out's throughput,
--   bench/RESULTS.md.) Delivery workers claim due rows with FOR UPDATE SKIP LOCKED and push
--   next_attempt_at forward as a lease while they send.
-- first_attempt_at: when the first attempt started; retries go on until
--   first_attempt_at + the configured retry period, then the row is 'dead'. A redelivery
--   clears it (and attempts), so a redelivered row gets a full period again.
CREATE TABLE webhooks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    events text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 64),
    enabled boolean NOT NULL DEFAULT true,
    secret_enc bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 128),
    kind text NOT NULL,
    event json NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    first_attempt_at timestamptz,
    last_status integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The claim: each webhook's due rows, oldest first (a LATERAL scan per webhook).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, next_attempt_at)
    WHERE state = 'pending';
-- The API's lists: a webhook's deliveries in a state, newest first.
CREATE INDEX webhook_deliveries_by_state ON webhook_deliveries (webhook_id, state, id);
-- Counting the dead letters (the metrics), which are few.
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (webhook_id)
    WHERE state = 'dead';
-- Removing delivered rows past their retention.
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (delivered_at)
    WHERE state = 'delivered';
