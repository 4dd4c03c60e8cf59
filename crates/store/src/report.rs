//! Queries behind the survey report and `mxray notify`: pages of domains in name order with
//! their links and findings, and whole-scan passes over hosts and fingerprints that keep one
//! row at a time. Nothing here holds a whole 200,000-domain scan in memory; the callers
//! aggregate as the rows go by.

use crate::{ScanId, Store, StoreError, StoredFinding, obs_json, row_to_finding, severity_from};
use futures::TryStreamExt;
use mxray_core::finding::Severity;
use mxray_core::model::{DomainObservation, HostObservation};
use sqlx::Row;

/// One domain of a page: name, status (`scanned` | `excluded`), observation.
pub type DomainRow = (String, String, Option<DomainObservation>);

/// A product row of the software census: `(ip, source, product, name, version)`.
pub type SoftwareRow = (String, String, String, String, Option<String>);

/// An advisory match for the census: `(advisory, ip, product, version, severity, known
/// exploited)`; matches a distribution marked fixed are left out.
pub type MatchRow = (String, String, String, String, Severity, bool);

impl Store {
    /// Up to `limit` domains after `after` (`""` first) in name order, with their status.
    pub async fn domain_page(
        &self,
        scan: ScanId,
        after: &str,
        limit: i64,
    ) -> Result<Vec<DomainRow>, StoreError> {
        sqlx::query(
            "SELECT domain, status, observation, observation_z FROM domains WHERE scan_id = $1 AND domain > $2 ORDER BY domain LIMIT $3",
        )
        .bind(scan)
        .bind(after)
        .bind(limit)
        .fetch(&self.pool)
        .map_err(|e| self.err(e))
        .and_then(|r| async move {
            let obs = obs_json(&r, 2)?.and_then(|j| serde_json::from_str(&j).ok());
            Ok((r.get::<String, _>(0), r.get::<String, _>(1), obs))
        })
        .try_collect()
        .await
    }

    /// The links `(domain, ip, roles)` of the domains `first ..= last`, by domain and address.
    pub async fn links_in(
        &self,
        scan: ScanId,
        first: &str,
        last: &str,
    ) -> Result<Vec<(String, String, u8)>, StoreError> {
        sqlx::query(
            "SELECT domain, ip, roles FROM domain_hosts WHERE scan_id = $1 AND domain >= $2 AND domain <= $3 ORDER BY domain, ip",
        )
        .bind(scan)
        .bind(first)
        .bind(last)
        .fetch(&self.pool)
        .map_ok(|r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<i64, _>(2) as u8,
            )
        })
        .try_collect()
        .await
        .map_err(|e| self.err(e))
    }

    /// The domain findings (not host findings) of the domains `first ..= last` at or above
    /// `min`, with their texts.
    pub async fn domain_findings_in(
        &self,
        scan: ScanId,
        first: &str,
        last: &str,
        min: Severity,
    ) -> Result<Vec<StoredFinding>, StoreError> {
        let rows = sqlx::query(finding_select!(
            "WHERE f.scan_id = $1 AND f.domain >= $2 AND f.domain <= $3 AND f.severity >= $4 ORDER BY f.domain, f.severity DESC, f.check_id"
        ))
        .bind(scan)
        .bind(first)
        .bind(last)
        .bind(crate::severity_num(min))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(row_to_finding).collect())
    }

    /// `(ip, check id, severity)` of every host and service finding: one small row each.
    pub async fn host_finding_ids(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(String, String, Severity)>, StoreError> {
        sqlx::query(
            "SELECT ip, check_id, severity FROM findings WHERE scan_id = $1 AND ip IS NOT NULL ORDER BY ip, check_id",
        )
        .bind(scan)
        .fetch(&self.pool)
        .map_ok(|r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                severity_from(r.get(2)),
            )
        })
        .try_collect()
        .await
        .map_err(|e| self.err(e))
    }

    /// Host and service findings at or above `min`, with their texts.
    pub async fn host_findings_at_least(
        &self,
        scan: ScanId,
        min: Severity,
    ) -> Result<Vec<StoredFinding>, StoreError> {
        let rows = sqlx::query(finding_select!(
            "WHERE f.scan_id = $1 AND f.ip IS NOT NULL AND f.severity >= $2 ORDER BY f.ip, f.severity DESC, f.check_id, f.subject"
        ))
        .bind(scan)
        .bind(crate::severity_num(min))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(row_to_finding).collect())
    }

    /// Every host observation of a scan, one at a time (`f` sees each; a row that does not
    /// parse is skipped as in [`Store::hosts`]).
    pub async fn each_host(
        &self,
        scan: ScanId,
        mut f: impl FnMut(HostObservation),
    ) -> Result<(), StoreError> {
        let mut rows = sqlx::query("SELECT observation FROM hosts WHERE scan_id = $1 ORDER BY ip")
            .bind(scan)
            .fetch(&self.pool);
        while let Some(r) = rows.try_next().await.map_err(|e| self.err(e))? {
            if let Ok(h) = serde_json::from_str(r.get::<&str, _>(0)) {
                f(h);
            }
        }
        Ok(())
    }

    /// Every fingerprinted product: `(ip, source, product, name, version)`.
    pub async fn software_rows(&self, scan: ScanId) -> Result<Vec<SoftwareRow>, StoreError> {
        sqlx::query(
            "SELECT ip, source, product, name, version FROM software WHERE scan_id = $1 ORDER BY ip, port, product",
        )
        .bind(scan)
        .fetch(&self.pool)
        .map_ok(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .try_collect()
        .await
        .map_err(|e| self.err(e))
    }

    /// Advisory matches of a scan not marked fixed, with whether CISA lists the advisory
    /// (or one of its aliases) as known exploited.
    pub async fn match_rows(&self, scan: ScanId) -> Result<Vec<MatchRow>, StoreError> {
        sqlx::query(
            "SELECT m.advisory_id, m.ip, m.product, m.version, m.severity, \
             CASE WHEN EXISTS (SELECT 1 FROM advisory_ids i JOIN known_exploited k ON k.cve_id = i.alias WHERE i.advisory_id = m.advisory_id) THEN 1 ELSE 0 END \
             FROM advisory_matches m WHERE m.scan_id = $1 AND m.status <> 'fixed' ORDER BY m.advisory_id, m.ip",
        )
        .bind(scan)
        .fetch(&self.pool)
        .map_ok(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                severity_from(r.get(4)),
                r.get::<i64, _>(5) != 0,
            )
        })
        .try_collect()
        .await
        .map_err(|e| self.err(e))
    }
}
