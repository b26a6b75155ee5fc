-- bench/events.sh ab: the session events' triggers (sql/0016) switched on, as shipped
-- (radiusd's NOTIFY deferred: sql/0020's function).
ALTER TABLE sessions ENABLE TRIGGER sessions_start_event;
ALTER TABLE session_history ENABLE TRIGGER session_history_stop_event;
\ir ../../sql/0020_outbox_deferred_notify.sql
