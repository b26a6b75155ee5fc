-- A command's effects on the subscriber's live sessions (issue 22): a suspend's
-- Disconnect-Requests, a set_plan's or reset_quota's new rate. They are sent after the
-- command's transaction commits, so a process that dies between the commit and the last
-- of them would leave them unsent while the command counts as done.
--
-- effects_pending is set in the applying transaction for a command that has effects and
-- cleared once they were sent (whatever the NAS answered). A command found with it set is
-- finished by whoever sees it next: the redelivery of its NATS message (unacknowledged,
-- since the process died before acknowledging), a REST retry with the same
-- Idempotency-Key, or adminapi's housekeeping, which looks for rows pending longer than a
-- minute. Finishing sends to the sessions open then (a suspend only while the subscriber
-- is still suspended), so it is safe to do twice: a NAS answers a second
-- Disconnect-Request for a session it already ended with a NAK.
ALTER TABLE commands ADD COLUMN effects_pending boolean NOT NULL DEFAULT false;

CREATE INDEX commands_effects_pending_idx ON commands (created_at) WHERE effects_pending;
