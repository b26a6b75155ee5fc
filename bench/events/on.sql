-- bench/events.sh ab: the session events' triggers switched on, as shipped: columns in
-- the outbox, the CloudEvent built by the relay (sql/0022), radiusd's NOTIFY deferred
-- (sql/0020). Also undoes the on-json side bench/events.sh ab writes.
\ir ../../sql/0020_outbox_deferred_notify.sql
DROP TRIGGER sessions_start_event ON sessions;
CREATE TRIGGER sessions_start_event AFTER INSERT ON sessions
    REFERENCING NEW TABLE AS opened
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_session_started();
DROP TRIGGER session_history_stop_event ON session_history;
CREATE TRIGGER session_history_stop_event AFTER INSERT ON session_history
    REFERENCING NEW TABLE AS closed
    FOR EACH STATEMENT EXECUTE FUNCTION proisp_session_closed();
