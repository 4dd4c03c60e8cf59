//! Queries behind the survey tables (`mxray stats`): whole-scan joins in one round trip each,
//! so a table over 200,000 domains does not cost 200,000 queries.

use crate::{ScanId, Store, StoreError};
use sqlx::Row;

impl Store {
    /// `(domain, check id)` for every finding about a domain or about one of its hosts.
    pub async fn domain_checks(&self, scan: ScanId) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            // Two plain joins rather than one OR-join: with the OR, SQLite scans all links per
            // finding (measured at 200,000 domains in the summary query; see BENCHMARKS.md).
            "SELECT domain, check_id FROM findings WHERE scan_id = $1 AND domain IS NOT NULL \
             UNION \
             SELECT dh.domain, f.check_id FROM findings f \
               JOIN domain_hosts dh ON dh.scan_id = f.scan_id AND dh.ip = f.ip \
             WHERE f.scan_id = $1 AND f.ip IS NOT NULL ORDER BY 1, 2",
        )
        .bind(scan)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
