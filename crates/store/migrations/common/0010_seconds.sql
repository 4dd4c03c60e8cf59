-- One time unit in every table: Unix seconds, as scans, software, advisories and watch already
-- stored them. The survey tables (0003) kept Unix milliseconds; convert them. Instants are
-- rounded down, except lease ends, rounded up so that no lease in flight becomes shorter.
-- Same SQL on SQLite and PostgreSQL (BIGINT / integer is integer division on both).
UPDATE survey_targets SET
    lease_until = (lease_until + 999) / 1000,
    done_at = done_at / 1000;
UPDATE survey_hosts SET lease_until = (lease_until + 999) / 1000;
UPDATE survey_workers SET
    started_at = started_at / 1000,
    last_seen = last_seen / 1000;
