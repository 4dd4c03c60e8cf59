//! One process per running scan: a lock row (`scan_locks`) with the owner's process id, host
//! name and a heartbeat. `mxray scan` takes it for the scan it creates, `--resume` for the
//! scan it continues; survey workers take none (their claims already split the work).
//!
//! Taking the lock is race-free without a transaction: an `INSERT … ON CONFLICT DO NOTHING`
//! creates it, and a stale lock is taken over by an `UPDATE` that names the exact row read,
//! so of two processes taking over at once one updates a row and the other none.

use crate::{ScanId, Store, StoreError, now};
use sqlx::Row;

/// How often the owner renews its heartbeat.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

/// A lock without a heartbeat for this long is stale even if its process seems alive (a
/// process on another host, or a reused process id).
pub const STALE_AFTER_SECS: i64 = 60;

/// Who holds a scan's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockOwner {
    /// Process id.
    pub pid: i64,
    /// Host name.
    pub host: String,
    /// Unix seconds of the last heartbeat.
    pub heartbeat: i64,
}

/// How the lock was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locked {
    /// Nobody held it.
    Fresh,
    /// A dead process held it (killed, crashed): taken over.
    TookOver(LockOwner),
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `HOSTNAME`, else "unknown").
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether a process of this host is alive: `/proc/PID` exists (Linux). Where there is no
/// `/proc`, liveness is judged by the heartbeat alone.
fn alive_here(pid: i64) -> Option<bool> {
    if !std::path::Path::new("/proc/self").exists() {
        return None;
    }
    Some(std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Whether `owner` still runs the scan, seen from `host` at `now`.
pub fn holds(owner: &LockOwner, host: &str, now: i64) -> bool {
    let fresh = now - owner.heartbeat <= STALE_AFTER_SECS;
    if owner.host == host {
        fresh && alive_here(owner.pid).unwrap_or(true)
    } else {
        fresh
    }
}

impl Store {
    /// Takes the lock of `scan` for this process, or says who runs it
    /// ([`StoreError::ScanRunning`]).
    pub async fn lock_scan(&self, scan: ScanId) -> Result<Locked, StoreError> {
        let (pid, host) = (i64::from(std::process::id()), host_name());
        for _ in 0..3 {
            let t = now();
            let inserted = sqlx::query(
                "INSERT INTO scan_locks (scan_id, pid, host, heartbeat) VALUES ($1, $2, $3, $4) ON CONFLICT (scan_id) DO NOTHING",
            )
            .bind(scan)
            .bind(pid)
            .bind(&host)
            .bind(t)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
            if inserted.rows_affected() == 1 {
                return Ok(Locked::Fresh);
            }
            let Some(owner) = self.lock_owner(scan).await? else {
                continue; // released in between: try again
            };
            if owner.pid == pid && owner.host == host {
                return Ok(Locked::Fresh);
            }
            if holds(&owner, &host, t) {
                return Err(StoreError::ScanRunning {
                    scan,
                    pid: owner.pid,
                    host: owner.host,
                    age: t - owner.heartbeat,
                });
            }
            let taken = sqlx::query(
                "UPDATE scan_locks SET pid = $1, host = $2, heartbeat = $3 WHERE scan_id = $4 AND pid = $5 AND host = $6 AND heartbeat = $7",
            )
            .bind(pid)
            .bind(&host)
            .bind(t)
            .bind(scan)
            .bind(owner.pid)
            .bind(&owner.host)
            .bind(owner.heartbeat)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
            if taken.rows_affected() == 1 {
                return Ok(Locked::TookOver(owner));
            }
        }
        // Three races lost in a row: someone else is taking it right now.
        match self.lock_owner(scan).await? {
            Some(owner) => Err(StoreError::ScanRunning {
                scan,
                pid: owner.pid,
                host: owner.host,
                age: now() - owner.heartbeat,
            }),
            None => Err(StoreError::Locked {
                path: self.path.clone(),
            }),
        }
    }

    /// Who holds the lock of `scan`, if anyone.
    pub async fn lock_owner(&self, scan: ScanId) -> Result<Option<LockOwner>, StoreError> {
        let row = sqlx::query("SELECT pid, host, heartbeat FROM scan_locks WHERE scan_id = $1")
            .bind(scan)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| LockOwner {
            pid: r.get(0),
            host: r.get(1),
            heartbeat: r.get(2),
        }))
    }

    /// Renews this process's heartbeat on `scan`'s lock.
    pub async fn heartbeat_scan(&self, scan: ScanId) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE scan_locks SET heartbeat = $1 WHERE scan_id = $2 AND pid = $3 AND host = $4",
        )
        .bind(now())
        .bind(scan)
        .bind(i64::from(std::process::id()))
        .bind(host_name())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Releases this process's lock on `scan`.
    pub async fn unlock_scan(&self, scan: ScanId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM scan_locks WHERE scan_id = $1 AND pid = $2 AND host = $3")
            .bind(scan)
            .bind(i64::from(std::process::id()))
            .bind(host_name())
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_holds_while_its_owner_lives_and_beats() {
        let me = i64::from(std::process::id());
        let here = host_name();
        let t = 1_000_000;
        let owner = |pid, host: &str, heartbeat| LockOwner {
            pid,
            host: host.into(),
            heartbeat,
        };
        assert!(holds(&owner(me, &here, t - 5), &here, t));
        // Alive but silent for too long: a reused PID or a stopped process.
        assert!(!holds(
            &owner(me, &here, t - STALE_AFTER_SECS - 1),
            &here,
            t
        ));
        // Dead on this host (PIDs stop far below i32::MAX on Linux).
        assert!(!holds(&owner(i64::from(i32::MAX), &here, t), &here, t));
        // Another host: the heartbeat decides.
        assert!(holds(&owner(1, "elsewhere.example", t - 10), &here, t));
        assert!(!holds(&owner(1, "elsewhere.example", t - 600), &here, t));
    }
}
