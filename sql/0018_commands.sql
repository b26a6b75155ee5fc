-- Commands from billing (issue 22): one row per command id, holding its first result, so
-- a command delivered twice (a NATS redelivery, a REST retry with the same
-- Idempotency-Key) changes nothing the second time and repeats the first answer.
--
-- The row is written in the transaction that applies the command (with its audit row
-- and its command.result event in event_outbox), or, for a refused command, in the
-- transaction that records the refusal: a command has a row if and only if its outcome
-- committed. The primary key serialises two adminapis handling the same command at once:
-- the second INSERT waits for the first transaction and then conflicts, which rolls its
-- change back.
--
-- credential: who sent it — the NATS credential named in [commands] (`billing`) or, over
--   REST, the admin's name: an Idempotency-Key is scoped to its caller.
-- command_id: the CloudEvent's id (or, for a message without a readable one, its
--   Nats-Msg-Id or `seq-<stream sequence>`), or the Idempotency-Key.
-- fingerprint: SHA-256 of the command, username and data as received: a REST key reused
--   with another body is refused (422).
-- result: {"command_id", "ok", "error": {"code", "message"}} as first answered.
-- Kept for [commands] retention (7 days by default); adminapi's housekeeping deletes
-- older rows.
CREATE TABLE commands (
    credential text NOT NULL CHECK (length(credential) BETWEEN 1 AND 256),
    command_id text NOT NULL CHECK (length(command_id) BETWEEN 1 AND 256),
    source text NOT NULL CHECK (source IN ('nats', 'rest')),
    command text NOT NULL CHECK (length(command) <= 64),
    username text,
    fingerprint text NOT NULL,
    result jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (credential, command_id)
);

CREATE INDEX commands_created_at_idx ON commands (created_at);
