-- 0008: each NAS's CoA lane (DESIGN.md, "Changes to live sessions").
--
-- CoA and Disconnect-Requests go to a NAS through a lane of its own: at most coa_window
-- requests in flight to it at once and, when coa_rate is set, at most that many started a
-- second. NULL: the [coa] section's window, and no rate cap. A router whose CoA server
-- takes only small bursts gets a small window; a slow one answers slower and so gets
-- fewer requests a second anyway.
ALTER TABLE nas
    ADD COLUMN coa_window integer CHECK (coa_window BETWEEN 1 AND 1024),
    ADD COLUMN coa_rate   integer CHECK (coa_rate BETWEEN 1 AND 100000);
