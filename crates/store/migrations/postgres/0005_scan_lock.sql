-- One process per running scan (`mxray scan`, `--resume`): the owner's process id and host
-- name and a heartbeat (Unix seconds) it renews while it runs. A second process refuses to
-- run the scan while the owner is alive; the lock of a dead owner (its PID gone on this host,
-- or no heartbeat for a minute from another host) is taken over. Survey workers have their
-- own claims and take no lock.
CREATE TABLE scan_locks (
    scan_id   BIGINT PRIMARY KEY REFERENCES scans(id),
    pid       BIGINT NOT NULL,
    host      TEXT   NOT NULL,
    heartbeat BIGINT NOT NULL
);
