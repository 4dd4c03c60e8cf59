-- PostgreSQL twin of sqlite/0004_advisories.sql (BIGINT for SQLite's INTEGER).
-- Issue 20: CPE names with the software rows, distribution packages with the matches, every
-- id an advisory answers to (`affected CVE-…` through an index), and CISA's Known Exploited
-- Vulnerabilities catalogue.

ALTER TABLE software ADD COLUMN cpe TEXT;            -- cpe:2.3:a:isc:bind:9.18.19:*:*:*:*:*:*:*
ALTER TABLE host_os ADD COLUMN cpe TEXT;             -- cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*
ALTER TABLE advisory_matches ADD COLUMN package TEXT; -- Debian:12 bind9 1:9.18.19-1~deb12u1

-- Every id an advisory answers to (its own, its aliases, the upstream CVE of a distribution
-- record) → the advisory's id.
CREATE TABLE advisory_ids (
    alias       TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    PRIMARY KEY (alias, advisory_id)
);
CREATE INDEX advisory_ids_advisory ON advisory_ids (advisory_id);

-- One row per CVE of the KEV catalogue (replaced on each import).
CREATE TABLE known_exploited (
    cve_id         TEXT    NOT NULL PRIMARY KEY,
    vendor_project TEXT    NOT NULL,
    product        TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    date_added     TEXT    NOT NULL,
    due_date       TEXT,
    ransomware     TEXT,
    imported_at    BIGINT  NOT NULL
);

-- `affected ID`: the matches of one advisory in one scan.
CREATE INDEX advisory_matches_scan_advisory ON advisory_matches (scan_id, advisory_id);

-- A distribution publishes one record per CVE for each of its releases (Debian:11, Debian:12,
-- …): the ecosystem is part of an advisory's key.
CREATE TABLE advisories_v4 (
    id          TEXT    NOT NULL,
    product     TEXT    NOT NULL,
    ecosystem   TEXT    NOT NULL DEFAULT '',        -- '' for upstream versions
    severity    BIGINT NOT NULL,
    summary     TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    origin      TEXT    NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (id, product, ecosystem)
);
INSERT INTO advisories_v4 (id, product, ecosystem, severity, summary, data, origin, imported_at)
    SELECT id, product, '', severity, summary, data, origin, imported_at FROM advisories;
DROP TABLE advisories;
ALTER TABLE advisories_v4 RENAME TO advisories;
