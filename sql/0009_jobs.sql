-- 0009: changes that touch many sessions run as jobs (DESIGN.md, "Changes to live
-- sessions"): POST /plans/{id}/apply answers 202 with a job, GET /jobs/{id} shows its
-- progress, DELETE cancels it.
--
-- A job is run by one adminapi at a time: the one whose lease (lease_until) is in force.
-- The runner renews it while it works; a job whose runner died (killed, restarted) is
-- taken over by any adminapi once the lease has run out, and run again from the start —
-- a CoA that sets the rate a session already has changes nothing.
CREATE TABLE jobs (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('plan.apply')),
    subject_id  bigint NOT NULL,
    state       text NOT NULL DEFAULT 'running'
                CHECK (state IN ('running', 'done', 'cancelled')),
    -- {"sessions", "ack", "nak", "timeout", "deferred", "skipped", "error"}
    totals      jsonb NOT NULL DEFAULT '{}',
    -- [{"nas_id", …the same counts}]
    nas         jsonb NOT NULL DEFAULT '[]',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    lease_until timestamptz NOT NULL
);

CREATE INDEX jobs_orphans ON jobs (lease_until) WHERE state = 'running';
