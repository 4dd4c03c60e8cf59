//! Watch mode's state (migration 9): per watch name, the conditions of its last cycle, the
//! cycles run and the alerts raised with their delivery state, so `mxray watch` survives a
//! restart without repeating an alert or losing an undelivered one.

use crate::{ScanId, Store, StoreError, now, severity_num};
use mxray_core::watch::Condition;
use sqlx::Row;

/// A way alerts leave the machine besides standard output.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Channel {
    /// HTTP POST to a webhook.
    Webhook,
    /// Mail to the administrator.
    Mail,
}

/// An alert waiting for (or past) delivery.
#[derive(Clone, Debug)]
pub struct StoredAlert {
    /// Row id.
    pub id: i64,
    /// The scan of the cycle that raised it.
    pub scan: ScanId,
    /// Unix seconds.
    pub at: i64,
    /// The alert as emitted (one JSON object, the stdout line).
    pub body: String,
}

impl Store {
    /// The conditions the last cycle of `watch` saw, or `None` before its first cycle.
    pub async fn watch_state(&self, watch: &str) -> Result<Option<Vec<Condition>>, StoreError> {
        let cycles: i64 = sqlx::query("SELECT COUNT(*) FROM watch_cycles WHERE watch = $1")
            .bind(watch)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            .get(0);
        if cycles == 0 {
            return Ok(None);
        }
        let rows =
            sqlx::query("SELECT body FROM watch_conditions WHERE watch = $1 ORDER BY cond_key")
                .bind(watch)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let body: String = r.get(0);
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Records a cycle in one transaction: its conditions replace the previous ones (keeping
    /// when each was first seen), its alerts (`(kind, severity, JSON body)`) are stored, pending
    /// on each channel that is wanted.
    pub async fn record_watch_cycle(
        &self,
        watch: &str,
        scan: ScanId,
        conditions: &[Condition],
        alerts: &[(Condition, String)],
        webhook: bool,
        mail: bool,
    ) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.begin_write().await?;
        for c in conditions {
            let body = serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO watch_conditions (watch, cond_key, body, since, seen) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (watch, cond_key) DO UPDATE SET body = excluded.body, seen = excluded.seen",
            )
            .bind(watch)
            .bind(&c.key)
            .bind(body)
            .bind(at)
            .bind(scan)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        sqlx::query("DELETE FROM watch_conditions WHERE watch = $1 AND seen <> $2")
            .bind(watch)
            .bind(scan)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        let pending = |wanted: bool| wanted.then_some(0i64);
        for (a, body) in alerts {
            sqlx::query(
                "INSERT INTO watch_alerts (watch, scan_id, at, kind, severity, body, webhook, mail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(watch)
            .bind(scan)
            .bind(at)
            .bind(a.kind.as_str())
            .bind(severity_num(a.severity))
            .bind(body)
            .bind(pending(webhook))
            .bind(pending(mail))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        sqlx::query(
            "INSERT INTO watch_cycles (watch, scan_id, at, alerts) VALUES ($1, $2, $3, $4)",
        )
        .bind(watch)
        .bind(scan)
        .bind(at)
        .bind(alerts.len() as i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Alerts of `watch` not yet delivered on `channel`, oldest first.
    pub async fn pending_alerts(
        &self,
        watch: &str,
        channel: Channel,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let sql = match channel {
            Channel::Webhook => {
                "SELECT id, scan_id, at, body FROM watch_alerts WHERE watch = $1 AND webhook = 0 ORDER BY id"
            }
            Channel::Mail => {
                "SELECT id, scan_id, at, body FROM watch_alerts WHERE watch = $1 AND mail = 0 ORDER BY id"
            }
        };
        let rows = sqlx::query(sql)
            .bind(watch)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| StoredAlert {
                id: r.get(0),
                scan: r.get(1),
                at: r.get(2),
                body: r.get(3),
            })
            .collect())
    }

    /// Marks alerts delivered on `channel`.
    pub async fn mark_delivered(&self, ids: &[i64], channel: Channel) -> Result<(), StoreError> {
        let sql = match channel {
            Channel::Webhook => "UPDATE watch_alerts SET webhook = 1 WHERE id = $1",
            Channel::Mail => "UPDATE watch_alerts SET mail = 1 WHERE id = $1",
        };
        let mut tx = self.begin_write().await?;
        for id in ids {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// How many alerts `watch` has raised in all.
    pub async fn watch_alert_count(&self, watch: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM watch_alerts WHERE watch = $1")
                .bind(watch)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.err(e))?
                .get(0),
        )
    }
}
