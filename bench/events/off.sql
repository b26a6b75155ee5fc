-- bench/events.sh ab: the session events' triggers (sql/0016) switched off.
ALTER TABLE sessions DISABLE TRIGGER sessions_start_event;
ALTER TABLE session_history DISABLE TRIGGER session_history_stop_event;
