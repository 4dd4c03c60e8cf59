-- One scan = one row, with its parameters (JSON) and timings (Unix seconds).
CREATE TABLE scans (
    id             INTEGER PRIMARY KEY,
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    status         TEXT    NOT NULL,              -- running | finished | interrupted
    params         TEXT    NOT NULL,              -- JSON: the scan's options
    schema_version INTEGER NOT NULL
);

-- Observations: raw results, kept apart from findings so checks can be re-run.
CREATE TABLE domains (
    scan_id     INTEGER NOT NULL REFERENCES scans(id),
    domain      TEXT    NOT NULL,
    status      TEXT    NOT NULL,                 -- scanned | excluded
    mx_mode     TEXT,
    observation TEXT,                             -- JSON DomainObservation
    PRIMARY KEY (scan_id, domain)
);

CREATE TABLE hosts (
    scan_id     INTEGER NOT NULL REFERENCES scans(id),
    ip          TEXT    NOT NULL,
    observation TEXT    NOT NULL,                 -- JSON HostObservation
    PRIMARY KEY (scan_id, ip)
);

-- Which domains use which host: one host record serves every domain that shares it.
CREATE TABLE domain_hosts (
    scan_id INTEGER NOT NULL,
    domain  TEXT    NOT NULL,
    ip      TEXT    NOT NULL,
    PRIMARY KEY (scan_id, domain, ip)
);
CREATE INDEX domain_hosts_ip ON domain_hosts (scan_id, ip);

CREATE TABLE findings (
    id           INTEGER PRIMARY KEY,
    scan_id      INTEGER NOT NULL REFERENCES scans(id),
    domain       TEXT,                            -- set for domain findings
    ip           TEXT,                            -- set for host and service findings
    subject_kind TEXT    NOT NULL,                -- domain | host | service
    subject      TEXT    NOT NULL,
    check_id     TEXT    NOT NULL,                -- e.g. smtp.open_relay
    severity     INTEGER NOT NULL,                -- 0 info .. 4 critical
    title        TEXT    NOT NULL,
    evidence     TEXT    NOT NULL,                -- JSON array of strings
    fix          TEXT    NOT NULL
);
CREATE INDEX findings_scan_domain ON findings (scan_id, domain);
CREATE INDEX findings_scan_ip ON findings (scan_id, ip);
CREATE INDEX findings_scan_check ON findings (scan_id, check_id);

-- Input lines that were not domains: reported, skipped, kept.
CREATE TABLE input_errors (
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    line    INTEGER NOT NULL,
    text    TEXT    NOT NULL,
    reason  TEXT    NOT NULL
);
