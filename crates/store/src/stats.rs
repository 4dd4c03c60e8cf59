//! Queries behind the survey tables (`mxray stats`): whole-scan joins in one round trip each,
//! so a table over 200,000 domains does not cost 200,000 queries.

use crate::{ScanId, Store, StoreError};
use sqlx::Row;

impl Store {
    /// `(domain, check id)` for every finding about a domain or about one of its hosts.
    pub async fn domain_checks(&self, scan: ScanId) -> Result<Vec<(String, String)>, StoreError> {
        // Two plain joins rather than one OR-join: with the OR, SQLite scans all links per
        // finding (measured at 200,000 domains in the summary query; see BENCHMARKS.md). A
        // host finding counts through the roles that concern it (an SMTP finding through mail
        // links only).
        let sql = format!(
            "SELECT domain, check_id FROM findings WHERE scan_id = $1 AND domain IS NOT NULL \
             UNION \
             SELECT dh.domain, f.check_id FROM findings f \
               JOIN domain_hosts dh ON dh.scan_id = f.scan_id AND dh.ip = f.ip AND {} \
             WHERE f.scan_id = $1 AND f.ip IS NOT NULL ORDER BY 1, 2",
            crate::link_condition("f", "dh")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scan)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Every product found in a scan with the host it runs on and each domain using that
    /// host (`None` for a host no domain links to): `(product, name, version, ip, domain)`.
    /// Read from the fingerprint table, one round trip.
    #[allow(clippy::type_complexity)]
    pub async fn software_links(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(String, String, Option<String>, String, Option<String>)>, StoreError> {
        let rows = self
            .scan_rows(
                "SELECT s.product, s.name, s.version, s.ip, dh.domain FROM software s \
             LEFT JOIN domain_hosts dh ON dh.scan_id = s.scan_id AND dh.ip = s.ip \
             WHERE s.scan_id = $1 ORDER BY s.product, s.version, s.ip, dh.domain",
                scan,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect())
    }

    /// Every OS guess of a scan with its host and each domain using that host:
    /// `(os, ip, domain)`. Read from the fingerprint table, one round trip.
    pub async fn os_links(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let rows = self
            .scan_rows(
                "SELECT o.os, o.ip, dh.domain FROM host_os o \
             LEFT JOIN domain_hosts dh ON dh.scan_id = o.scan_id AND dh.ip = o.ip \
             WHERE o.scan_id = $1 ORDER BY o.os, o.ip, dh.domain",
                scan,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
}
