-- 0024: the CSV import as a job (DESIGN.md, "Changes to live sessions" has the lease).
-- POST /subscribers/imports keeps the file here and answers 202 at once; a runner on an
-- adminapi reads it in parts and writes each part's subscribers, refused rows and
-- progress in one transaction, so a runner that dies (kill -9, a restart) leaves a job
-- that another takes over where the last committed part ended, and no row is created
-- twice or reported twice. With all_or_nothing the check runs part by part and the
-- write is one transaction at the end; a runner that dies then starts over.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('plan.apply', 'subscriber.import'));
-- An import has no subject.
ALTER TABLE jobs ALTER COLUMN subject_id DROP NOT NULL;

CREATE TABLE import_jobs (
    job_id         bigint PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    -- The CSV as uploaded, sealed under the deployment key (it holds passwords) with the
    -- label proisp/import-file/v1; NULL once the job has ended.
    body           bytea,
    all_or_nothing boolean NOT NULL,
    -- Data rows in the file.
    rows           integer NOT NULL CHECK (rows >= 0),
    -- Data rows done: checked (all_or_nothing) or written with their part.
    processed      integer NOT NULL DEFAULT 0 CHECK (processed BETWEEN 0 AND rows),
    created        integer NOT NULL DEFAULT 0,
    refused        integer NOT NULL DEFAULT 0,
    -- Whether anything was written.
    committed      boolean NOT NULL DEFAULT false,
    -- Who started it, for the audit rows its parts write (jobs.created_by is the name).
    admin_id       bigint,
    client_ip      inet
);

-- The refused rows, numbered as in the file (the header is row 1).
CREATE TABLE import_job_errors (
    job_id  bigint NOT NULL REFERENCES import_jobs (job_id) ON DELETE CASCADE,
    row     integer NOT NULL,
    field   text NOT NULL,
    message text NOT NULL
);
CREATE INDEX import_job_errors_by_row ON import_job_errors (job_id, row);
