-- Watch mode (issue 18), per watch name (`mxray watch --name`): the conditions its last cycle
-- saw (keys stable across cycles; the JSON of mxray_core::watch::Condition), the cycles run,
-- and every alert raised with its delivery state per channel, so that a restart neither
-- repeats an alert nor loses one not yet delivered. Delivery columns: NULL not wanted,
-- 0 pending (retried next cycle), 1 delivered.
CREATE TABLE watch_cycles (
    watch    TEXT   NOT NULL,
    scan_id  BIGINT NOT NULL REFERENCES scans(id),
    at       BIGINT NOT NULL,
    alerts   BIGINT NOT NULL,
    PRIMARY KEY (watch, scan_id)
);
CREATE TABLE watch_conditions (
    watch    TEXT   NOT NULL,
    cond_key TEXT   NOT NULL,
    body     TEXT   NOT NULL,
    since    BIGINT NOT NULL, -- Unix seconds, first seen
    seen     BIGINT NOT NULL, -- the last cycle's scan id
    PRIMARY KEY (watch, cond_key)
);
CREATE TABLE watch_alerts (
    id       INTEGER PRIMARY KEY,
    watch    TEXT   NOT NULL,
    scan_id  BIGINT NOT NULL REFERENCES scans(id),
    at       BIGINT NOT NULL,
    kind     TEXT   NOT NULL,
    severity BIGINT NOT NULL,
    body     TEXT   NOT NULL,
    webhook  BIGINT,
    mail     BIGINT
);
CREATE INDEX watch_alerts_pending ON watch_alerts (watch, webhook, mail);
