-- bench/events.sh ab: the session events' triggers (sql/0016) switched on, with the
-- outbox's NOTIFY in every inserting transaction whatever the connection says (sql/0015's
-- function, as before sql/0020).
ALTER TABLE sessions ENABLE TRIGGER sessions_start_event;
ALTER TABLE session_history ENABLE TRIGGER session_history_stop_event;
CREATE OR REPLACE FUNCTION proisp_event_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('proisp_event_outbox', '');
    RETURN NULL;
END
$$;
