//! Surveys shared by several workers (migration 0003): targets loaded once, claimed in
//! batches under a lease, committed together with their results; one claim per address so
//! each host is probed once and by one worker at a time, whichever worker's domains use it.
//!
//! On PostgreSQL the claiming sub-select takes `FOR UPDATE SKIP LOCKED`, so workers never
//! wait for each other's batches; on SQLite (one writer at a time) the same statement is
//! exclusive by itself, which lets several local processes share one file.

use crate::{ScanId, Store, StoreError};
use mxray_core::target::Domain;
use sqlx::Row;
use std::net::IpAddr;

/// Now, Unix seconds: the unit of every stored instant (migration 10 converted the survey
/// tables, which kept milliseconds before).
fn now_s() -> i64 {
    crate::now()
}

/// A lease in whole seconds, rounded up so a lease is never shorter than asked.
fn lease_secs(lease_ms: i64) -> i64 {
    (lease_ms.max(0) + 999) / 1000
}

/// What a committed item held: a target domain or an address.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Claim<'a> {
    /// A target domain.
    Target(&'a str),
    /// An address.
    Host(IpAddr),
}

/// A target a worker has claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// Input order.
    pub seq: i64,
    /// The domain.
    pub domain: String,
}

/// One worker's share of a survey.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkerStatus {
    /// Its name (host name and process id unless given).
    pub worker: String,
    /// running | finished.
    pub state: String,
    /// Domains it committed.
    pub domains: i64,
    /// Hosts it committed.
    pub hosts: i64,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds of its last heartbeat or commit.
    pub last_seen: i64,
    /// Targets it holds now.
    pub holding: i64,
}

/// Where a survey stands.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SurveyStatus {
    /// The survey's scan id.
    pub scan: ScanId,
    /// Targets loaded.
    pub total: i64,
    /// Not claimed yet.
    pub pending: i64,
    /// Claimed, not committed.
    pub claimed: i64,
    /// Of those, claims whose lease ran out (a worker died or stalled).
    pub expired: i64,
    /// Committed.
    pub done: i64,
    /// Targets claimed more than once (taken over after a lease ran out).
    pub reclaimed: i64,
    /// Targets committed more than once: must be 0.
    pub double_commits: i64,
    /// Hosts committed.
    pub hosts_done: i64,
    /// Addresses linked to committed domains and not probed yet.
    pub hosts_pending: i64,
    /// Domains committed in the last 60 seconds.
    pub done_last_minute: i64,
    /// Unix seconds of the first and the latest commit.
    pub first_done: Option<i64>,
    /// Unix seconds.
    pub last_done: Option<i64>,
    /// Per worker.
    pub workers: Vec<WorkerStatus>,
}

impl SurveyStatus {
    /// Domains per second over the whole survey so far.
    pub fn rate(&self) -> Option<f64> {
        let (a, b) = (self.first_done?, self.last_done?);
        (b > a).then(|| self.done as f64 / (b - a) as f64)
    }

    /// Seconds left at the recent rate (last minute), or the overall rate.
    pub fn eta_secs(&self) -> Option<f64> {
        let left = (self.total - self.done) as f64;
        if left <= 0.0 {
            return Some(0.0);
        }
        let recent = self.done_last_minute as f64 / 60.0;
        let rate = if recent > 0.0 {
            Some(recent)
        } else {
            self.rate()
        }?;
        (rate > 0.0).then(|| left / rate)
    }

    /// Every target committed and every linked host probed.
    pub fn complete(&self) -> bool {
        self.total == self.done && self.hosts_pending == 0
    }
}

impl Store {
    /// Starts a survey: a scan row marked as one, to which targets are then added.
    pub async fn create_survey(&self, params: &serde_json::Value) -> Result<ScanId, StoreError> {
        let mut p = params.clone();
        p["mode"] = "survey".into();
        self.begin_scan(&p).await
    }

    /// Adds targets (input order `seq`) in one transaction; a domain already present is kept
    /// as it is. Returns how many were new.
    pub async fn add_targets(
        &self,
        scan: ScanId,
        targets: &[(i64, Domain)],
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut new = 0;
        for (seq, d) in targets {
            new += sqlx::query(
                "INSERT INTO survey_targets (scan_id, seq, domain, state) VALUES ($1, $2, $3, 'pending') \
                 ON CONFLICT DO NOTHING",
            )
            .bind(scan)
            .bind(seq)
            .bind(d.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(new)
    }

    /// The newest survey (a scan created by `survey create`).
    pub async fn latest_survey(&self) -> Result<Option<ScanId>, StoreError> {
        Ok(self
            .scans()
            .await?
            .into_iter()
            .find(|s| s.params.get("mode").and_then(|m| m.as_str()) == Some("survey"))
            .map(|s| s.id))
    }

    /// Records a worker joining a survey (or coming back under the same name).
    pub async fn register_worker(&self, scan: ScanId, worker: &str) -> Result<(), StoreError> {
        let now = now_s();
        sqlx::query(
            "INSERT INTO survey_workers (scan_id, worker, started_at, last_seen, state) VALUES ($1, $2, $3, $3, 'running') \
             ON CONFLICT (scan_id, worker) DO UPDATE SET last_seen = excluded.last_seen, state = 'running'",
        )
        .bind(scan)
        .bind(worker)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Marks a worker finished.
    pub async fn finish_worker(&self, scan: ScanId, worker: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE survey_workers SET state = 'finished', last_seen = $3 WHERE scan_id = $1 AND worker = $2",
        )
        .bind(scan)
        .bind(worker)
        .bind(now_s())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Claims up to `n` targets: pending ones first in input order, then ones whose lease
    /// ran out. One statement, so a claim is all or nothing.
    pub async fn claim_targets(
        &self,
        scan: ScanId,
        worker: &str,
        n: i64,
        lease_ms: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = now_s();
        let sql = format!(
            "UPDATE survey_targets SET state = 'claimed', worker = $2, lease_until = $3, claims = claims + 1 \
             WHERE scan_id = $1 AND domain IN (\
               SELECT domain FROM survey_targets WHERE scan_id = $1 \
                 AND (state = 'pending' OR (state = 'claimed' AND lease_until < $4)) \
               ORDER BY seq LIMIT $5{}) \
             RETURNING seq, domain",
            self.backend.skip_locked()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scan)
            .bind(worker)
            .bind(now + lease_secs(lease_ms))
            .bind(now)
            .bind(n)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let mut out: Vec<Claimed> = rows
            .iter()
            .map(|r| Claimed {
                seq: r.get(0),
                domain: r.get(1),
            })
            .collect();
        out.sort_by_key(|c| c.seq);
        Ok(out)
    }

    /// Targets claimed by other workers and not committed yet (live or expired leases).
    pub async fn targets_held_by_others(
        &self,
        scan: ScanId,
        worker: &str,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM survey_targets WHERE scan_id = $1 AND state = 'claimed' AND worker <> $2",
        )
        .bind(scan)
        .bind(worker)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    /// Claims an address for probing. True if this worker may probe it: nobody held it, or
    /// the holder's lease ran out before it committed the host.
    pub async fn claim_host(
        &self,
        scan: ScanId,
        worker: &str,
        ip: IpAddr,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_s();
        let n = sqlx::query(
            "INSERT INTO survey_hosts (scan_id, ip, state, worker, lease_until) VALUES ($1, $2, 'claimed', $3, $4) \
             ON CONFLICT (scan_id, ip) DO UPDATE SET worker = excluded.worker, lease_until = excluded.lease_until, \
               claims = survey_hosts.claims + 1 \
             WHERE survey_hosts.state = 'claimed' AND (survey_hosts.lease_until < $5 OR survey_hosts.worker = $3)",
        )
        .bind(scan)
        .bind(ip.to_string())
        .bind(worker)
        .bind(now + lease_secs(lease_ms))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        Ok(n == 1)
    }

    /// Extends the leases of everything this worker holds (its heartbeat). Rows this
    /// worker's own writer has locked (it is committing them, so they are about to be done)
    /// are skipped rather than waited for: waiting would deadlock against that writer.
    pub async fn renew_leases(
        &self,
        scan: ScanId,
        worker: &str,
        lease_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_s();
        let skip = self.backend.skip_locked();
        for sql in [
            format!(
                "UPDATE survey_targets SET lease_until = $3 WHERE scan_id = $1 AND domain IN \
                 (SELECT domain FROM survey_targets WHERE scan_id = $1 AND worker = $2 AND state = 'claimed'{skip})"
            ),
            format!(
                "UPDATE survey_hosts SET lease_until = $3 WHERE scan_id = $1 AND ip IN \
                 (SELECT ip FROM survey_hosts WHERE scan_id = $1 AND worker = $2 AND state = 'claimed'{skip})"
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(scan)
                .bind(worker)
                .bind(now + lease_secs(lease_ms))
                .execute(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        }
        sqlx::query("UPDATE survey_workers SET last_seen = $3 WHERE scan_id = $1 AND worker = $2")
            .bind(scan)
            .bind(worker)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Gives back what this worker holds and has not committed (on Ctrl-C), so other
    /// workers take it at once instead of after the lease.
    pub async fn release_claims(&self, scan: ScanId, worker: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "UPDATE survey_targets SET state = 'pending', worker = NULL, lease_until = NULL \
             WHERE scan_id = $1 AND worker = $2 AND state = 'claimed'",
            "DELETE FROM survey_hosts WHERE scan_id = $1 AND worker = $2 AND state = 'claimed'",
        ] {
            sqlx::query(sql)
                .bind(scan)
                .bind(worker)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Marks a claim done inside a write; false if this worker no longer holds it (then the
    /// item's results are dropped). Plain scans (`worker` None) always write.
    pub(crate) async fn commit_claim(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        scan: ScanId,
        worker: Option<&str>,
        claim: Claim<'_>,
    ) -> Result<bool, StoreError> {
        let Some(worker) = worker else {
            return Ok(true);
        };
        let query = match claim {
            Claim::Target(domain) => sqlx::query(
                "UPDATE survey_targets SET state = 'done', commits = commits + 1, done_at = $4 \
                 WHERE scan_id = $1 AND domain = $2 AND worker = $3 AND state = 'claimed'",
            )
            .bind(scan)
            .bind(domain)
            .bind(worker)
            .bind(now_s()),
            Claim::Host(ip) => sqlx::query(
                "UPDATE survey_hosts SET state = 'done' \
                 WHERE scan_id = $1 AND ip = $2 AND worker = $3 AND state = 'claimed'",
            )
            .bind(scan)
            .bind(ip.to_string())
            .bind(worker),
        };
        let n = query
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
        Ok(n == 1)
    }

    pub(crate) async fn count_worker(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        scan: ScanId,
        worker: &str,
        domains: u64,
        hosts: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE survey_workers SET domains = domains + $3, hosts = hosts + $4, last_seen = $5 \
             WHERE scan_id = $1 AND worker = $2",
        )
        .bind(scan)
        .bind(worker)
        .bind(domains as i64)
        .bind(hosts as i64)
        .bind(now_s())
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Progress of a survey, per worker.
    pub async fn survey_status(&self, scan: ScanId) -> Result<SurveyStatus, StoreError> {
        let now = now_s();
        let r = sqlx::query(
            "SELECT COUNT(*), \
               COALESCE(CAST(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS BIGINT), 0), \
               COALESCE(CAST(SUM(CASE WHEN state = 'claimed' THEN 1 ELSE 0 END) AS BIGINT), 0), \
               COALESCE(CAST(SUM(CASE WHEN state = 'claimed' AND lease_until < $2 THEN 1 ELSE 0 END) AS BIGINT), 0), \
               COALESCE(CAST(SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END) AS BIGINT), 0), \
               COALESCE(CAST(SUM(CASE WHEN claims > 1 THEN 1 ELSE 0 END) AS BIGINT), 0), \
               COALESCE(CAST(SUM(CASE WHEN commits > 1 THEN 1 ELSE 0 END) AS BIGINT), 0), \
               COALESCE(CAST(SUM(CASE WHEN done_at >= $3 THEN 1 ELSE 0 END) AS BIGINT), 0), \
               MIN(done_at), MAX(done_at) \
             FROM survey_targets WHERE scan_id = $1",
        )
        .bind(scan)
        .bind(now)
        .bind(now - 60)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let hosts_done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosts WHERE scan_id = $1")
            .bind(scan)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let hosts_pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT ip) FROM domain_hosts WHERE scan_id = $1 \
             AND ip NOT IN (SELECT ip FROM hosts WHERE scan_id = $1)",
        )
        .bind(scan)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let workers = sqlx::query(
            "SELECT w.worker, w.state, w.domains, w.hosts, w.started_at, w.last_seen, \
               (SELECT COUNT(*) FROM survey_targets t WHERE t.scan_id = w.scan_id AND t.worker = w.worker AND t.state = 'claimed') \
             FROM survey_workers w WHERE w.scan_id = $1 ORDER BY w.started_at, w.worker",
        )
        .bind(scan)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .iter()
        .map(|w| WorkerStatus {
            worker: w.get(0),
            state: w.get(1),
            domains: w.get(2),
            hosts: w.get(3),
            started_at: w.get(4),
            last_seen: w.get(5),
            holding: w.get(6),
        })
        .collect();
        Ok(SurveyStatus {
            scan,
            total: r.get(0),
            pending: r.get(1),
            claimed: r.get(2),
            expired: r.get(3),
            done: r.get(4),
            reclaimed: r.get(5),
            double_commits: r.get(6),
            done_last_minute: r.get(7),
            first_done: r.get(8),
            last_done: r.get(9),
            hosts_done,
            hosts_pending,
            workers,
        })
    }
}
