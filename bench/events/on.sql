-- bench/events.sh ab: the session events' triggers (sql/0016) switched on, as shipped.
ALTER TABLE sessions ENABLE TRIGGER sessions_start_event;
ALTER TABLE session_history ENABLE TRIGGER session_history_stop_event;
