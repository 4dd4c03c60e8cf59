//! Software fingerprints, advisories and their matches (migration 0002).
//!
//! The store only keeps what `core::fingerprint` and `core::advisory` computed; matching runs
//! in the caller, so new advisories can be matched against stored scans without the network.

use crate::{ScanId, Store, StoreError, now, severity_from, severity_num};
use mxray_core::advisory::kev;
use mxray_core::advisory::packages;
use mxray_core::advisory::{Advisory, Match, MatchStatus};
use mxray_core::fingerprint::{Evidence, HostFingerprint, OsGuess, Software, Source};
use sqlx::Row;
use std::net::IpAddr;

/// One match of an advisory, as stored, with the domains that use the host.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredMatch {
    /// Advisory id.
    pub advisory: String,
    /// Scan it was found in.
    pub scan: ScanId,
    /// Host.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Product key.
    pub product: String,
    /// Version seen.
    pub version: String,
    /// Distribution build seen.
    pub build: Option<String>,
    /// `affected` or `possibly-affected`.
    pub status: String,
    /// The advisory's severity.
    pub severity: mxray_core::Severity,
    /// Domains whose mail hosts include this host, in that scan.
    pub domains: Vec<String>,
    /// The host's PTR names, in that scan.
    pub ptr: Vec<String>,
    /// The distribution package the verdict comes from (`Debian:12 bind9 1:9.18.19-1~deb12u1`).
    pub package: Option<String>,
    /// The advisory's CVE is in CISA's Known Exploited Vulnerabilities catalogue.
    pub known_exploited: bool,
    /// Who runs the host (`AS64500 Example`; `example.net` when guessed from PTR or MX
    /// names), as the scan attributed it.
    pub provider: Option<String>,
}

/// The columns every match query reads, `m` being `advisory_matches`: the last one says
/// whether the advisory answers to a CVE id of the KEV catalogue.
macro_rules! match_columns {
    () => {
        "m.advisory_id, m.scan_id, m.ip, m.port, m.product, m.version, m.build, m.status, m.severity, m.package, \
         CASE WHEN EXISTS (SELECT 1 FROM advisory_ids i JOIN known_exploited k ON k.cve_id = i.alias WHERE i.advisory_id = m.advisory_id) THEN 1 ELSE 0 END"
    };
}

/// An unknown banner and how often it was seen.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UnknownBanner {
    /// Evidence kind.
    pub source: String,
    /// The text, verbatim.
    pub text: String,
    /// Hosts (per port) that sent it.
    pub count: i64,
}

impl Store {
    pub(crate) async fn write_software(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        scan: ScanId,
        ip: &IpAddr,
        fp: &HostFingerprint,
        matches: &[Match],
    ) -> Result<(), sqlx::Error> {
        let ip = ip.to_string();
        for s in &fp.software {
            sqlx::query("INSERT INTO software (scan_id, ip, port, source, product, name, version, build, os_hint, evidence, cpe) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                          ON CONFLICT (scan_id, ip, port, product) DO UPDATE SET source = excluded.source, name = excluded.name, version = excluded.version, build = excluded.build, os_hint = excluded.os_hint, evidence = excluded.evidence, cpe = excluded.cpe")
                .bind(scan)
                .bind(&ip)
                .bind(i64::from(s.port))
                .bind(s.source.as_str())
                .bind(&s.product)
                .bind(&s.name)
                .bind(&s.version)
                .bind(&s.build)
                .bind(&s.os_hint)
                .bind(&s.evidence)
                .bind(packages::software_cpe(s))
                .execute(&mut **tx)
                .await?;
        }
        if let Some(os) = &fp.os {
            sqlx::query("INSERT INTO host_os (scan_id, ip, os, confidence, basis, cpe) VALUES ($1, $2, $3, $4, $5, $6) \
                          ON CONFLICT (scan_id, ip) DO UPDATE SET os = excluded.os, confidence = excluded.confidence, basis = excluded.basis, cpe = excluded.cpe")
                .bind(scan)
                .bind(&ip)
                .bind(&os.name)
                .bind(os.confidence)
                .bind(serde_json::to_string(&os.basis).unwrap_or_else(|_| "[]".into()))
                .bind(packages::os_cpe(&os.name))
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query("DELETE FROM unknown_banners WHERE scan_id = $1 AND ip = $2")
            .bind(scan)
            .bind(&ip)
            .execute(&mut **tx)
            .await?;
        for u in &fp.unknown {
            sqlx::query("INSERT INTO unknown_banners (scan_id, ip, port, source, text) VALUES ($1, $2, $3, $4, $5)")
                .bind(scan)
                .bind(&ip)
                .bind(i64::from(u.port))
                .bind(u.source.as_str())
                .bind(&u.text)
                .execute(&mut **tx)
                .await?;
        }
        insert_matches(tx, scan, &ip, matches).await
    }

    /// Stores advisories (replacing same id, product and ecosystem); returns how many were new.
    pub async fn import_advisories(
        &self,
        advisories: &[Advisory],
        origin: &str,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut new = 0;
        for a in advisories {
            let ecosystem = a.ecosystem.clone().unwrap_or_default();
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM advisories WHERE id = $1 AND product = $2 AND ecosystem = $3",
            )
            .bind(&a.id)
            .bind(&a.product)
            .bind(&ecosystem)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            new += usize::from(exists.is_none());
            // The shipped set never overwrites an advisory imported by the operator.
            if origin == "builtin" && exists.is_some() {
                continue;
            }
            sqlx::query("INSERT INTO advisories (id, product, ecosystem, severity, summary, data, origin, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                          ON CONFLICT (id, product, ecosystem) DO UPDATE SET severity = excluded.severity, summary = excluded.summary, data = excluded.data, origin = excluded.origin, imported_at = excluded.imported_at")
                .bind(&a.id)
                .bind(&a.product)
                .bind(&ecosystem)
                .bind(severity_num(a.severity))
                .bind(&a.summary)
                .bind(serde_json::to_string(a).map_err(|e| StoreError::Backend(e.to_string()))?)
                .bind(origin)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            insert_ids(&mut tx, a).await.map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(new)
    }

    /// Fills `advisory_ids` for advisories stored before it existed (migration 0004 cannot
    /// read their JSON aliases). Cheap when there is nothing to do.
    pub async fn index_advisory_ids(&self) -> Result<(), StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM advisories a WHERE NOT EXISTS (SELECT 1 FROM advisory_ids i WHERE i.advisory_id = a.id)",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for a in rows
            .iter()
            .filter_map(|j| serde_json::from_str::<Advisory>(j).ok())
        {
            insert_ids(&mut tx, &a).await.map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// The advisory ids answering to `id` (its own, or as an alias), through the index.
    pub async fn advisory_ids_for(&self, id: &str) -> Result<Vec<String>, StoreError> {
        self.index_advisory_ids().await?;
        sqlx::query_scalar(
            "SELECT DISTINCT advisory_id FROM advisory_ids WHERE alias = $1 ORDER BY advisory_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    /// Replaces the stored KEV catalogue; returns how many stored advisories it flags.
    pub async fn import_known_exploited(
        &self,
        entries: &[kev::Entry],
    ) -> Result<usize, StoreError> {
        self.index_advisory_ids().await?;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM known_exploited")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        for e in entries {
            sqlx::query("INSERT INTO known_exploited (cve_id, vendor_project, product, name, date_added, due_date, ransomware, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (cve_id) DO NOTHING")
                .bind(&e.cve_id)
                .bind(&e.vendor_project)
                .bind(&e.product)
                .bind(&e.vulnerability_name)
                .bind(&e.date_added)
                .bind(&e.due_date)
                .bind(&e.known_ransomware_campaign_use)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT i.advisory_id) FROM advisory_ids i JOIN known_exploited k ON k.cve_id = i.alias",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// The CVE ids of the stored KEV catalogue.
    pub async fn known_exploited(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT cve_id FROM known_exploited")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(ids.into_iter().collect())
    }

    /// Every stored advisory.
    pub async fn advisories(&self) -> Result<Vec<Advisory>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT data FROM advisories ORDER BY id, product, ecosystem")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect())
    }

    /// Software stored for a scan, per host.
    pub async fn software(&self, scan: ScanId) -> Result<Vec<(IpAddr, Software)>, StoreError> {
        let rows = self.scan_rows("SELECT ip, port, source, product, name, version, build, os_hint, evidence FROM software WHERE scan_id = $1 ORDER BY ip, port, product", scan).await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let ip: IpAddr = r.get::<String, _>(0).parse().ok()?;
                Some((
                    ip,
                    Software {
                        port: u16::try_from(r.get::<i64, _>(1)).ok()?,
                        source: Source::parse(r.get::<&str, _>(2))?,
                        product: r.get(3),
                        name: r.get(4),
                        version: r.get(5),
                        build: r.get(6),
                        os_hint: r.get(7),
                        evidence: r.get(8),
                    },
                ))
            })
            .collect())
    }

    /// Stores matches found for a scan's hosts in one transaction (already known ones are
    /// kept as they are).
    pub async fn put_matches(
        &self,
        scan: ScanId,
        hosts: &[(IpAddr, Vec<Match>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (ip, matches) in hosts {
            insert_matches(&mut tx, scan, &ip.to_string(), matches)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Makes the stored matches of each given host of a scan exactly `matches`: new ones are
    /// added, changed ones updated (status, severity, package; `alerts` state kept), ones no
    /// longer found removed. Returns how many were added. One transaction.
    pub async fn replace_matches(
        &self,
        scan: ScanId,
        hosts: &[(IpAddr, Vec<Match>)],
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut added = 0;
        for (ip, matches) in hosts {
            let ip = ip.to_string();
            let rows = sqlx::query(
                "SELECT advisory_id, port, product FROM advisory_matches WHERE scan_id = $1 AND ip = $2",
            )
            .bind(scan)
            .bind(&ip)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            let stored: Vec<(String, i64, String)> = rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            for (advisory, port, product) in &stored {
                let keep = matches.iter().any(|m| {
                    m.advisory == *advisory && i64::from(m.port) == *port && m.product == *product
                });
                if !keep {
                    sqlx::query("DELETE FROM advisory_matches WHERE scan_id = $1 AND ip = $2 AND advisory_id = $3 AND port = $4 AND product = $5")
                        .bind(scan)
                        .bind(&ip)
                        .bind(advisory)
                        .bind(port)
                        .bind(product)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.err(e))?;
                }
            }
            added += matches
                .iter()
                .filter(|m| {
                    !stored.iter().any(|(a, p, pr)| {
                        *a == m.advisory && *p == i64::from(m.port) && *pr == m.product
                    })
                })
                .count();
            insert_matches(&mut tx, scan, &ip, matches)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(added)
    }

    /// How many matches are stored (all scans).
    pub async fn match_count(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM advisory_matches")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Hosts of a scan affected by an advisory (by id or alias), worst first.
    pub async fn affected(
        &self,
        scan: ScanId,
        advisory: &str,
    ) -> Result<Vec<StoredMatch>, StoreError> {
        // The advisory's id, or any advisory listing it as an alias: through `advisory_ids`,
        // then the `(scan_id, advisory_id)` index — never a pass over every match.
        let mut ids = self.advisory_ids_for(advisory).await?;
        ids.push(advisory.to_owned());
        ids.sort();
        ids.dedup();
        let mut rows = Vec::new();
        for id in &ids {
            rows.extend(
                sqlx::query(concat!(
                    "SELECT ",
                    match_columns!(),
                    " FROM advisory_matches m WHERE m.scan_id = $1 AND m.advisory_id = $2"
                ))
                .bind(scan)
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?,
            );
        }
        let mut out = self.with_context(rows).await?;
        out.sort_by(|a, b| {
            (a.status.as_str(), a.ip.as_str(), a.port).cmp(&(
                b.status.as_str(),
                b.ip.as_str(),
                b.port,
            ))
        });
        Ok(out)
    }

    /// Matches not shown by `mxray alerts` before (a host, port, product and version already
    /// alerted for the same advisory in an earlier scan is not new); marks them shown.
    pub async fn take_alerts(&self) -> Result<Vec<StoredMatch>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            match_columns!(),
            " FROM advisory_matches m WHERE m.alerted = 0 AND m.status <> 'fixed' AND NOT EXISTS (SELECT 1 FROM advisory_matches o \
               WHERE o.alerted = 1 AND o.advisory_id = m.advisory_id AND o.ip = m.ip AND o.port = m.port \
               AND o.product = m.product AND o.version = m.version AND o.build IS NOT DISTINCT FROM m.build) \
             ORDER BY m.severity DESC, m.advisory_id, m.ip, m.port, m.scan_id",
        ))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        sqlx::query("UPDATE advisory_matches SET alerted = 1 WHERE alerted = 0")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        // Several scans may hold the same new match: show it once (the newest scan).
        let mut out: Vec<StoredMatch> = self.with_context(rows).await?;
        out.sort_by_key(|m| std::cmp::Reverse(m.scan));
        let mut seen = std::collections::HashSet::new();
        out.retain(|m| {
            seen.insert((
                m.advisory.clone(),
                m.ip.clone(),
                m.port,
                m.product.clone(),
                m.version.clone(),
                m.build.clone(),
            ))
        });
        // Known exploited first, then the worst.
        out.sort_by(|a, b| {
            b.known_exploited
                .cmp(&a.known_exploited)
                .then_with(|| b.severity.cmp(&a.severity))
                .then_with(|| a.advisory.cmp(&b.advisory))
                .then_with(|| a.ip.cmp(&b.ip))
        });
        Ok(out)
    }

    async fn with_context(
        &self,
        rows: Vec<sqlx::any::AnyRow>,
    ) -> Result<Vec<StoredMatch>, StoreError> {
        let mut out = Vec::new();
        for r in rows {
            let scan: ScanId = r.get(1);
            let ip: String = r.get(2);
            let domains: Vec<String> = sqlx::query_scalar(
                "SELECT domain FROM domain_hosts WHERE scan_id = $1 AND ip = $2 ORDER BY domain",
            )
            .bind(scan)
            .bind(&ip)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
            let obs: Option<String> =
                sqlx::query_scalar("SELECT observation FROM hosts WHERE scan_id = $1 AND ip = $2")
                    .bind(scan)
                    .bind(&ip)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| self.err(e))?;
            let host = obs.and_then(|j: String| {
                serde_json::from_str::<mxray_core::model::HostObservation>(&j).ok()
            });
            // AS data: `AS64500 Example`; a guess from names: its registrable domain.
            let provider = host
                .as_ref()
                .and_then(|h| h.reputation.provider.as_ref())
                .map(|p| {
                    if p.heuristic {
                        p.key.clone()
                    } else {
                        p.label()
                    }
                });
            let ptr: Vec<String> = host
                .and_then(|h| match h.ptr {
                    mxray_core::model::Lookup::Found(names) => Some(names),
                    _ => None,
                })
                .unwrap_or_default();
            out.push(StoredMatch {
                advisory: r.get(0),
                scan,
                ip,
                port: u16::try_from(r.get::<i64, _>(3)).unwrap_or(0),
                product: r.get(4),
                version: r.get(5),
                build: r.get(6),
                status: r.get(7),
                severity: severity_from(r.get(8)),
                domains,
                ptr,
                package: r.get(9),
                known_exploited: r.get::<i64, _>(10) != 0,
                provider,
            });
        }
        Ok(out)
    }

    /// OS guesses of a scan: `(ip, os, confidence, basis)`.
    pub async fn host_os(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(String, String, f64, Vec<String>)>, StoreError> {
        let rows = self
            .scan_rows(
                "SELECT ip, os, confidence, basis FROM host_os WHERE scan_id = $1 ORDER BY ip",
                scan,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    serde_json::from_str(r.get::<&str, _>(3)).unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Every host's fingerprint in a scan (software, OS guess, and the texts no signature
    /// knew) with the advisory matches stored for it, ordered by address. Three whole-scan
    /// queries, whatever the number of hosts (exports of 200,000 domains use it).
    pub async fn fingerprints(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(IpAddr, HostFingerprint, Vec<Match>)>, StoreError> {
        use std::collections::BTreeMap;
        let mut hosts: BTreeMap<IpAddr, (HostFingerprint, Vec<Match>)> = BTreeMap::new();
        for (ip, sw) in self.software(scan).await? {
            hosts.entry(ip).or_default().0.software.push(sw);
        }
        for (ip, os, confidence, basis) in self.host_os(scan).await? {
            let Ok(ip) = ip.parse::<IpAddr>() else {
                continue;
            };
            hosts.entry(ip).or_default().0.os = Some(OsGuess {
                name: os,
                confidence,
                basis,
            });
        }
        let rows = self
            .scan_rows(
                "SELECT ip, port, source, text FROM unknown_banners WHERE scan_id = $1 \
             ORDER BY ip, port, source",
                scan,
            )
            .await?;
        for r in &rows {
            let (Ok(ip), Some(source), Ok(port)) = (
                r.get::<String, _>(0).parse::<IpAddr>(),
                Source::parse(r.get::<&str, _>(2)),
                u16::try_from(r.get::<i64, _>(1)),
            ) else {
                continue;
            };
            hosts.entry(ip).or_default().0.unknown.push(Evidence {
                source,
                port,
                text: r.get(3),
            });
        }
        let rows = self.scan_rows("SELECT m.ip, m.advisory_id, m.severity, m.product, m.version, m.build, m.port, m.status, m.package, \
             CASE WHEN EXISTS (SELECT 1 FROM advisory_ids i JOIN known_exploited k ON k.cve_id = i.alias WHERE i.advisory_id = m.advisory_id) THEN 1 ELSE 0 END \
             FROM advisory_matches m WHERE m.scan_id = $1 ORDER BY m.ip, m.severity DESC, m.advisory_id, m.port", scan).await?;
        for r in &rows {
            let (Ok(ip), Ok(port)) = (
                r.get::<String, _>(0).parse::<IpAddr>(),
                u16::try_from(r.get::<i64, _>(6)),
            ) else {
                continue;
            };
            let status =
                MatchStatus::parse(r.get::<&str, _>(7)).unwrap_or(MatchStatus::PossiblyAffected);
            hosts.entry(ip).or_default().1.push(Match {
                advisory: r.get(1),
                severity: severity_from(r.get(2)),
                product: r.get(3),
                version: r.get(4),
                build: r.get(5),
                port,
                status,
                package: r.get(8),
                known_exploited: r.get::<i64, _>(9) != 0,
            });
        }
        Ok(hosts.into_iter().map(|(ip, (fp, m))| (ip, fp, m)).collect())
    }

    /// Unknown banners, most frequent first (one scan, or all).
    pub async fn unknown_banners(
        &self,
        scan: Option<ScanId>,
    ) -> Result<Vec<UnknownBanner>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, text, COUNT(*) AS n FROM unknown_banners WHERE $1 IS NULL OR scan_id = $1 \
             GROUP BY source, text ORDER BY n DESC, source, text",
        )
        .bind(scan)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| UnknownBanner {
                source: r.get(0),
                text: r.get(1),
                count: r.get(2),
            })
            .collect())
    }
}

async fn insert_matches(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    scan: ScanId,
    ip: &str,
    matches: &[Match],
) -> Result<(), sqlx::Error> {
    for m in matches {
        sqlx::query("INSERT INTO advisory_matches (advisory_id, scan_id, ip, port, product, version, build, status, severity, found_at, package) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (advisory_id, scan_id, ip, port, product) DO UPDATE SET status = excluded.status, severity = excluded.severity, package = excluded.package, version = excluded.version, build = excluded.build")
            .bind(&m.advisory)
            .bind(scan)
            .bind(ip)
            .bind(i64::from(m.port))
            .bind(&m.product)
            .bind(&m.version)
            .bind(&m.build)
            .bind(m.status.as_str())
            .bind(severity_num(m.severity))
            .bind(now())
            .bind(&m.package)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Indexes every id an advisory answers to: its own and its aliases.
async fn insert_ids(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    a: &Advisory,
) -> Result<(), sqlx::Error> {
    for alias in std::iter::once(&a.id).chain(a.aliases.iter()) {
        sqlx::query(
            "INSERT INTO advisory_ids (alias, advisory_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(alias)
        .bind(&a.id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Item;
    use mxray_core::Severity;

    fn m(id: &str, version: &str, build: Option<&str>) -> Match {
        Match {
            advisory: id.into(),
            severity: Severity::High,
            product: "exim".into(),
            version: version.into(),
            build: build.map(Into::into),
            port: 25,
            status: if build.is_some() {
                MatchStatus::PossiblyAffected
            } else {
                MatchStatus::Affected
            },
            package: None,
            known_exploited: false,
        }
    }

    fn adv(id: &str, summary: &str) -> Advisory {
        Advisory {
            id: id.into(),
            aliases: vec![],
            product: "exim".into(),
            severity: Severity::High,
            summary: summary.into(),
            references: vec!["https://example.org".into()],
            ..Advisory::default()
        }
    }

    #[tokio::test]
    async fn alerts_are_shown_once_per_host_version_and_build() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).await.expect("open");
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let put = |scan, matches: Vec<Match>| {
            let store = store.clone();
            async move {
                store
                    .write(
                        scan,
                        &[Item::Software {
                            ip,
                            fp: HostFingerprint::default(),
                            matches,
                        }],
                    )
                    .await
                    .expect("write")
            }
        };
        let s1 = store.begin_scan(&serde_json::json!({})).await.unwrap();
        put(
            s1,
            vec![m("A-1", "4.96", None), m("A-2", "4.96", Some("deb"))],
        )
        .await;
        let first: Vec<String> = store
            .take_alerts()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.advisory)
            .collect();
        assert_eq!(first, ["A-1", "A-2"]);
        assert!(store.take_alerts().await.unwrap().is_empty());
        // The same facts in a later scan are not news; another build is (here: the
        // distribution package replaced by an upstream build).
        let s2 = store.begin_scan(&serde_json::json!({})).await.unwrap();
        put(s2, vec![m("A-1", "4.96", None), m("A-2", "4.96", None)]).await;
        let second = store.take_alerts().await.unwrap();
        assert_eq!(second.len(), 1, "{second:?}");
        assert_eq!(
            (
                second[0].advisory.as_str(),
                second[0].build.as_deref(),
                second[0].scan
            ),
            ("A-2", None, s2)
        );
        assert_eq!(store.match_count().await.unwrap(), 4);
    }

    fn sw(product: &str, version: Option<&str>, port: u16) -> Software {
        Software {
            product: product.into(),
            name: product.to_uppercase(),
            version: version.map(Into::into),
            build: None,
            os_hint: None,
            source: Source::SmtpGreeting,
            port,
            evidence: format!("220 x ESMTP {product}"),
        }
    }

    /// The whole-scan fingerprint and survey queries read back what was written, with the
    /// domains linked to each host (portable SQL: `$n` placeholders, no JSON functions).
    #[tokio::test]
    async fn fingerprints_and_links_read_back_per_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).await.expect("open");
        let scan = store.begin_scan(&serde_json::json!({})).await.unwrap();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let domain = |name: &str, ips: Vec<IpAddr>| Item::Domain {
            obs: serde_json::from_value(serde_json::json!({
                "domain": name, "mx": {"status": "no-data"}, "mx_mode": "none",
                "hosts": [], "skipped": []}))
            .expect("domain observation"),
            ips,
            findings: vec![],
        };
        let fp_a = HostFingerprint {
            software: vec![sw("exim", Some("4.96"), 25), sw("openssh", None, 22)],
            os: Some(OsGuess {
                name: "Debian 12".into(),
                confidence: 0.9,
                basis: vec!["SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".into()],
            }),
            unknown: vec![Evidence {
                source: Source::HttpServer,
                port: 80,
                text: "secret-server".into(),
            }],
        };
        let fp_b = HostFingerprint {
            software: vec![sw("exim", Some("4.96"), 25)],
            ..HostFingerprint::default()
        };
        store
            .write(
                scan,
                &[
                    domain("one.example", vec![a]),
                    domain("two.example", vec![a, b]),
                    Item::Software {
                        ip: a,
                        fp: fp_a.clone(),
                        matches: vec![m("A-1", "4.96", None)],
                    },
                    Item::Software {
                        ip: b,
                        fp: fp_b.clone(),
                        matches: vec![],
                    },
                ],
            )
            .await
            .expect("write");
        let got = store.fingerprints(scan).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, a);
        let mut want_a = fp_a.software.clone();
        want_a.sort_by_key(|s| s.port);
        assert_eq!(got[0].1.software, want_a);
        assert_eq!(got[0].1.os, fp_a.os);
        assert_eq!(got[0].1.unknown, fp_a.unknown);
        assert_eq!(got[0].2, [m("A-1", "4.96", None)]);
        assert_eq!((got[1].0, &got[1].1, got[1].2.len()), (b, &fp_b, 0));

        let links = store.software_links(scan).await.unwrap();
        let exim: Vec<(&str, Option<&str>)> = links
            .iter()
            .filter(|l| l.0 == "exim")
            .map(|l| (l.3.as_str(), l.4.as_deref()))
            .collect();
        assert_eq!(
            exim,
            [
                ("192.0.2.1", Some("one.example")),
                ("192.0.2.1", Some("two.example")),
                ("192.0.2.2", Some("two.example"))
            ]
        );
        assert!(links.iter().any(|l| l.0 == "openssh" && l.2.is_none()));
        let os = store.os_links(scan).await.unwrap();
        assert_eq!(
            os,
            [
                (
                    "Debian 12".to_owned(),
                    "192.0.2.1".to_owned(),
                    Some("one.example".to_owned())
                ),
                (
                    "Debian 12".to_owned(),
                    "192.0.2.1".to_owned(),
                    Some("two.example".to_owned())
                ),
            ]
        );
        // Another scan sees none of it.
        let other = store.begin_scan(&serde_json::json!({})).await.unwrap();
        assert!(store.fingerprints(other).await.unwrap().is_empty());
        assert!(store.software_links(other).await.unwrap().is_empty());
    }

    /// `affected` resolves aliases through the id index; KEV flags matches at read time and
    /// puts them first in alerts; a fixed build is never alerted; re-matching replaces what
    /// no longer holds and keeps the alert state of what does.
    #[tokio::test]
    async fn aliases_known_exploited_and_replaced_matches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).await.expect("open");
        let ip: IpAddr = "192.0.2.8".parse().unwrap();
        let scan = store.begin_scan(&serde_json::json!({})).await.unwrap();
        let mut debian = adv("DEBIAN-CVE-2099-1", "distribution record");
        debian.aliases = vec!["CVE-2099-1".into()];
        store
            .import_advisories(&[debian, adv("CVE-2099-2", "upstream")], "feed")
            .await
            .unwrap();
        assert_eq!(
            store.advisory_ids_for("CVE-2099-1").await.unwrap(),
            ["DEBIAN-CVE-2099-1"]
        );
        let mut fixed = m("CVE-2099-3", "4.96", Some("deb"));
        fixed.status = MatchStatus::Fixed;
        let mut exact = m("DEBIAN-CVE-2099-1", "4.96", Some("deb"));
        exact.package = Some("Debian:12 exim4 4.96-15+deb12u1".into());
        let first = vec![m("CVE-2099-2", "4.96", None), exact.clone(), fixed];
        assert_eq!(
            store.replace_matches(scan, &[(ip, first)]).await.unwrap(),
            3
        );
        let entry = |cve: &str| kev::Entry {
            cve_id: cve.into(),
            vendor_project: "Exim".into(),
            product: "Exim".into(),
            vulnerability_name: "test".into(),
            date_added: "2026-12-01".into(),
            due_date: None,
            known_ransomware_campaign_use: None,
        };
        // The catalogue names the CVE the Debian record is an alias of.
        assert_eq!(
            store
                .import_known_exploited(&[entry("CVE-2099-1")])
                .await
                .unwrap(),
            1
        );
        assert!(
            store
                .known_exploited()
                .await
                .unwrap()
                .contains("CVE-2099-1")
        );
        let aff = store.affected(scan, "CVE-2099-1").await.unwrap();
        assert_eq!(aff.len(), 1);
        assert!(aff[0].known_exploited);
        assert_eq!(
            aff[0].package.as_deref(),
            Some("Debian:12 exim4 4.96-15+deb12u1")
        );
        let alerts = store.take_alerts().await.unwrap();
        let got: Vec<(&str, bool)> = alerts
            .iter()
            .map(|a| (a.advisory.as_str(), a.known_exploited))
            .collect();
        // Known exploited first although both are high; the fixed one not at all.
        assert_eq!(got, [("DEBIAN-CVE-2099-1", true), ("CVE-2099-2", false)]);
        // Re-matching: one match gone, one kept (already alerted), one new.
        let second = vec![exact, m("CVE-2099-4", "4.96", None)];
        assert_eq!(
            store.replace_matches(scan, &[(ip, second)]).await.unwrap(),
            1
        );
        let fp = store.fingerprints(scan).await.unwrap();
        let mut ids: Vec<&str> = fp[0].2.iter().map(|m| m.advisory.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["CVE-2099-4", "DEBIAN-CVE-2099-1"]);
        assert!(fp[0].2.iter().any(|m| m.known_exploited));
        let alerts = store.take_alerts().await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].advisory, "CVE-2099-4");
        // A new catalogue replaces the old one.
        store.import_known_exploited(&[]).await.unwrap();
        assert!(!store.affected(scan, "CVE-2099-1").await.unwrap()[0].known_exploited);
    }

    #[tokio::test]
    async fn shipped_advisories_never_overwrite_imported_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).await.expect("open");
        assert_eq!(
            store
                .import_advisories(&[adv("X-1", "mine")], "mine.toml")
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .import_advisories(&[adv("X-1", "shipped"), adv("X-2", "shipped")], "builtin")
                .await
                .unwrap(),
            1
        );
        let all = store.advisories().await.unwrap();
        assert_eq!(
            all.iter()
                .map(|a| (a.id.as_str(), a.summary.as_str()))
                .collect::<Vec<_>>(),
            [("X-1", "mine"), ("X-2", "shipped")]
        );
        // An operator import replaces.
        assert_eq!(
            store
                .import_advisories(&[adv("X-2", "newer")], "new.toml")
                .await
                .unwrap(),
            0
        );
        assert_eq!(store.advisories().await.unwrap()[1].summary, "newer");
    }
}
