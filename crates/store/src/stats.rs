//! Queries behind the survey tables (`mxray stats`): whole-scan joins in one round trip each,
//! so a table over 200,000 domains does not cost 200,000 queries.

use crate::{ScanId, Store, StoreError};
use sqlx::Row;

impl Store {
    /// Every scanned domain with its observation JSON (`None` for excluded domains) and
    /// status.
    pub async fn domain_rows(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT domain, status, observation FROM domains WHERE scan_id = ? ORDER BY domain",
        )
        .bind(scan)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Every `(domain, ip)` link of a scan.
    pub async fn domain_host_links(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT domain, ip FROM domain_hosts WHERE scan_id = ? ORDER BY domain, ip",
        )
        .bind(scan)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// `(domain, check id)` for every finding about a domain or about one of its hosts.
    pub async fn domain_checks(&self, scan: ScanId) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT COALESCE(f.domain, dh.domain) AS d, f.check_id \
             FROM findings f LEFT JOIN domain_hosts dh \
               ON f.domain IS NULL AND dh.scan_id = f.scan_id AND dh.ip = f.ip \
             WHERE f.scan_id = ? AND d IS NOT NULL ORDER BY d, f.check_id",
        )
        .bind(scan)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
