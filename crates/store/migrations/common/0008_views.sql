-- Views for analysts (issue 19): the common questions answered in plain SQL, so that sqlite3
-- and Datasette users need no JSON functions. One file for both backends. Finding titles and
-- fixes are not here (they are templates in `texts`, filled by mxray; names and fixes in
-- English and Japanese are in docs/schema.md's catalogue).

-- Severity as the word the rest of mxray uses.
-- Every finding once per domain it concerns: a domain's own findings, and a host's or
-- service's findings under every domain linked to that address in the same scan.
CREATE VIEW findings_by_domain AS
SELECT f.scan_id, f.domain, f.check_id,
       CASE f.severity WHEN 0 THEN 'info' WHEN 1 THEN 'low' WHEN 2 THEN 'medium'
            WHEN 3 THEN 'high' ELSE 'critical' END AS severity,
       f.subject_kind, f.subject, f.ip
FROM findings f
WHERE f.domain IS NOT NULL
UNION ALL
SELECT f.scan_id, dh.domain, f.check_id,
       CASE f.severity WHEN 0 THEN 'info' WHEN 1 THEN 'low' WHEN 2 THEN 'medium'
            WHEN 3 THEN 'high' ELSE 'critical' END AS severity,
       f.subject_kind, f.subject, f.ip
FROM findings f
JOIN domain_hosts dh ON dh.scan_id = f.scan_id AND dh.ip = f.ip
WHERE f.domain IS NULL;

-- Open relays: one row per relaying address (the SMTP service `ip:port` as `subject`) and
-- domain that uses it (NULL when no stored domain links to it).
CREATE VIEW open_relays AS
SELECT f.scan_id, f.ip, f.subject, dh.domain
FROM findings f
LEFT JOIN domain_hosts dh ON dh.scan_id = f.scan_id AND dh.ip = f.ip
WHERE f.check_id = 'smtp.open_relay';

-- Software per host: each product found on each port, with the host's OS guess.
CREATE VIEW software_by_host AS
SELECT s.scan_id, s.ip, s.port, s.source, s.product, s.name, s.version, s.build,
       o.os, o.confidence AS os_confidence
FROM software s
LEFT JOIN host_os o ON o.scan_id = s.scan_id AND o.ip = s.ip;
