-- Surveys shared by several workers (`mxray survey create`, `mxray worker`). One file for both
-- backends: the SQL is the same on SQLite and PostgreSQL. Times are Unix milliseconds.

-- The targets of a survey, loaded once. A worker claims a batch (state 'claimed', its name,
-- a lease); committing a domain's results sets 'done' in the same transaction. A claim whose
-- lease ran out (the worker died) may be taken by another worker.
CREATE TABLE survey_targets (
    scan_id     BIGINT NOT NULL REFERENCES scans(id),
    seq         BIGINT NOT NULL,                 -- input order
    domain      TEXT   NOT NULL,
    state       TEXT   NOT NULL,                 -- pending | claimed | done
    worker      TEXT,
    lease_until BIGINT,
    claims      BIGINT NOT NULL DEFAULT 0,       -- times claimed (more than 1: reclaimed)
    commits     BIGINT NOT NULL DEFAULT 0,       -- times committed (must stay 0 or 1)
    done_at     BIGINT,
    PRIMARY KEY (scan_id, domain)
);
CREATE INDEX survey_targets_next ON survey_targets (scan_id, state, seq);

-- One row per address: the worker that may probe it. One worker per address makes the
-- per-IP connection cap hold across all workers together, and probes each address once.
CREATE TABLE survey_hosts (
    scan_id     BIGINT NOT NULL REFERENCES scans(id),
    ip          TEXT   NOT NULL,
    state       TEXT   NOT NULL,                 -- claimed | done
    worker      TEXT   NOT NULL,
    lease_until BIGINT NOT NULL,
    claims      BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (scan_id, ip)
);

-- Workers that took part, with their counts (for `mxray survey status`).
CREATE TABLE survey_workers (
    scan_id    BIGINT NOT NULL REFERENCES scans(id),
    worker     TEXT   NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    domains    BIGINT NOT NULL DEFAULT 0,
    hosts      BIGINT NOT NULL DEFAULT 0,
    state      TEXT   NOT NULL,                  -- running | finished
    PRIMARY KEY (scan_id, worker)
);
