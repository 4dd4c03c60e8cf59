//! Software fingerprints, advisories and their matches (migration 0002).
//!
//! The store only keeps what `core::fingerprint` and `core::advisory` computed; matching runs
//! in the caller, so new advisories can be matched against stored scans without the network.

use crate::{ScanId, Store, StoreError, now, severity_from, severity_num};
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
            sqlx::query("INSERT INTO software (scan_id, ip, port, source, product, name, version, build, os_hint, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                          ON CONFLICT (scan_id, ip, port, product) DO UPDATE SET source = excluded.source, name = excluded.name, version = excluded.version, build = excluded.build, os_hint = excluded.os_hint, evidence = excluded.evidence")
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
                .execute(&mut **tx)
                .await?;
        }
        if let Some(os) = &fp.os {
            sqlx::query("INSERT INTO host_os (scan_id, ip, os, confidence, basis) VALUES ($1, $2, $3, $4, $5) \
                          ON CONFLICT (scan_id, ip) DO UPDATE SET os = excluded.os, confidence = excluded.confidence, basis = excluded.basis")
                .bind(scan)
                .bind(&ip)
                .bind(&os.name)
                .bind(os.confidence)
                .bind(serde_json::to_string(&os.basis).unwrap_or_else(|_| "[]".into()))
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

    /// Stores advisories (replacing same id and product); returns how many were new.
    pub async fn import_advisories(
        &self,
        advisories: &[Advisory],
        origin: &str,
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let mut new = 0;
        for a in advisories {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM advisories WHERE id = $1 AND product = $2")
                    .bind(&a.id)
                    .bind(&a.product)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
            new += usize::from(exists.is_none());
            // The shipped set never overwrites an advisory imported by the operator.
            if origin == "builtin" && exists.is_some() {
                continue;
            }
            sqlx::query("INSERT INTO advisories (id, product, severity, summary, data, origin, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                          ON CONFLICT (id, product) DO UPDATE SET severity = excluded.severity, summary = excluded.summary, data = excluded.data, origin = excluded.origin, imported_at = excluded.imported_at")
                .bind(&a.id)
                .bind(&a.product)
                .bind(severity_num(a.severity))
                .bind(&a.summary)
                .bind(serde_json::to_string(a).map_err(|e| StoreError::Backend(e.to_string()))?)
                .bind(origin)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(new)
    }

    /// Every stored advisory.
    pub async fn advisories(&self) -> Result<Vec<Advisory>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT data FROM advisories ORDER BY id")
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
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        for (ip, matches) in hosts {
            insert_matches(&mut tx, scan, &ip.to_string(), matches)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
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
        // The advisory's id, or any advisory listing it as an alias (resolved here rather
        // than with a backend's JSON functions, so the query is the same on both).
        let mut ids: Vec<String> = self
            .advisories()
            .await?
            .into_iter()
            .filter(|a| a.id == advisory || a.aliases.iter().any(|x| x == advisory))
            .map(|a| a.id)
            .collect();
        ids.push(advisory.to_owned());
        ids.sort();
        ids.dedup();
        let mut rows = Vec::new();
        for id in &ids {
            rows.extend(
                sqlx::query(
                    "SELECT m.advisory_id, m.scan_id, m.ip, m.port, m.product, m.version, m.build, m.status, m.severity \
                     FROM advisory_matches m WHERE m.scan_id = $1 AND m.advisory_id = $2",
                )
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
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let rows = sqlx::query(
            "SELECT m.advisory_id, m.scan_id, m.ip, m.port, m.product, m.version, m.build, m.status, m.severity \
             FROM advisory_matches m WHERE m.alerted = 0 AND NOT EXISTS (SELECT 1 FROM advisory_matches o \
               WHERE o.alerted = 1 AND o.advisory_id = m.advisory_id AND o.ip = m.ip AND o.port = m.port \
               AND o.product = m.product AND o.version = m.version AND o.build IS NOT DISTINCT FROM m.build) \
             ORDER BY m.severity DESC, m.advisory_id, m.ip, m.port, m.scan_id",
        )
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
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
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
            let ptr: Vec<String> = obs
                .and_then(|j: String| {
                    serde_json::from_str::<mxray_core::model::HostObservation>(&j).ok()
                })
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
        let rows = self.scan_rows("SELECT ip, advisory_id, severity, product, version, build, port, status \
             FROM advisory_matches WHERE scan_id = $1 ORDER BY ip, severity DESC, advisory_id, port", scan).await?;
        for r in &rows {
            let (Ok(ip), Ok(port)) = (
                r.get::<String, _>(0).parse::<IpAddr>(),
                u16::try_from(r.get::<i64, _>(6)),
            ) else {
                continue;
            };
            let status = match r.get::<&str, _>(7) {
                "affected" => MatchStatus::Affected,
                _ => MatchStatus::PossiblyAffected,
            };
            hosts.entry(ip).or_default().1.push(Match {
                advisory: r.get(1),
                severity: severity_from(r.get(2)),
                product: r.get(3),
                version: r.get(4),
                build: r.get(5),
                port,
                status,
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
        sqlx::query("INSERT INTO advisory_matches (advisory_id, scan_id, ip, port, product, version, build, status, severity, found_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING")
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
            affected: vec![],
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
