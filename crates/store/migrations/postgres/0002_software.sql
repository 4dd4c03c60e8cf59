-- PostgreSQL twin of sqlite/0002_software.sql (BIGINT and DOUBLE PRECISION for SQLite's INTEGER and REAL).

-- One row per product found on a host's port in a scan.
CREATE TABLE software (
    scan_id  BIGINT NOT NULL REFERENCES scans(id),
    ip       TEXT    NOT NULL,
    port     BIGINT NOT NULL,
    source   TEXT    NOT NULL,                 -- smtp-greeting, http-server, dns-version, ...
    product  TEXT    NOT NULL,                 -- key: postfix, bind, openssh, ...
    name     TEXT    NOT NULL,                 -- display name
    version  TEXT,                             -- upstream version, when disclosed
    build    TEXT,                             -- distribution revision (fix may be backported)
    os_hint  TEXT,
    evidence TEXT    NOT NULL,                 -- the banner, verbatim
    PRIMARY KEY (scan_id, ip, port, product)
);
CREATE INDEX software_product ON software (product, version);

CREATE TABLE host_os (
    scan_id    BIGINT NOT NULL REFERENCES scans(id),
    ip         TEXT    NOT NULL,
    os         TEXT    NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,               -- 0..1
    basis      TEXT    NOT NULL,               -- JSON array of banners
    PRIMARY KEY (scan_id, ip)
);

-- Texts no signature matched, verbatim, to write new signatures from real data.
CREATE TABLE unknown_banners (
    scan_id BIGINT NOT NULL REFERENCES scans(id),
    ip      TEXT    NOT NULL,
    port    BIGINT NOT NULL,
    source  TEXT    NOT NULL,
    text    TEXT    NOT NULL
);
CREATE INDEX unknown_banners_scan ON unknown_banners (scan_id);

-- Advisories: shipped (origin 'builtin') and imported (origin = file name).
CREATE TABLE advisories (
    id          TEXT    NOT NULL,
    product     TEXT    NOT NULL,
    severity    BIGINT NOT NULL,               -- 0 info .. 4 critical
    summary     TEXT    NOT NULL,
    data        TEXT    NOT NULL,               -- JSON Advisory (ranges, references, aliases)
    origin      TEXT    NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (id, product)
);

-- An advisory applying to software stored in a scan. `alerted` is set once `mxray alerts`
-- has shown it.
CREATE TABLE advisory_matches (
    advisory_id TEXT    NOT NULL,
    scan_id     BIGINT NOT NULL REFERENCES scans(id),
    ip          TEXT    NOT NULL,
    port        BIGINT NOT NULL,
    product     TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    build       TEXT,
    status      TEXT    NOT NULL,               -- affected | possibly-affected
    severity    BIGINT NOT NULL,
    found_at    BIGINT NOT NULL,
    alerted     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (advisory_id, scan_id, ip, port, product)
);
CREATE INDEX advisory_matches_alerted ON advisory_matches (alerted);
