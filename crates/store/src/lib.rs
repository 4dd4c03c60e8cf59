//! mxray's storage: scans, observations, findings, in SQLite (WAL mode) or PostgreSQL.
//!
//! One store, two backends (see `backend.rs`): every query is written once in SQL both accept.
//! Writes come from one writer per process (the caller batches them), so SQLite never sees
//! competing writers within one scan; several workers share a PostgreSQL survey (`survey.rs`). Observations are JSON documents (a domain's deflated against a fixed
//! dictionary, `codec.rs`); finding texts are stored once as templates (`texts.rs`); the
//! columns reports filter on (scan, domain, ip, check, severity) are real columns with indexes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod codec;
pub mod lock;
mod rows;
mod software;
mod stats;
mod survey;
mod texts;
mod watch;

pub use backend::{Backend, OpenMode, redact};
pub use report::{DomainRow, MatchRow, SoftwareRow};
use survey::Claim;
pub use survey::{Claimed, SurveyStatus, WorkerStatus};

pub use software::{StoredMatch, UnknownBanner};
pub use watch::{Channel, StoredAlert};

use futures::TryStreamExt;
use mxray_core::finding::{Finding, Severity, Subject};
use mxray_core::model::{DomainObservation, HostObservation, SCHEMA_VERSION};
use mxray_core::target::InputError;
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The finding columns, as a literal so queries stay `&'static str` (sqlx audits dynamic SQL).
/// Titles, evidence and fixes come from `texts` by id, as templates of the subject (rows
/// written before the texts table existed carry them inline, and ids are NULL there).
macro_rules! finding_select {
    ($rest:literal) => {
        concat!("SELECT f.domain, f.ip, f.subject_kind, f.subject, f.check_id, f.severity, \
                 tt.body, f.title, te.body, f.evidence, tf.body, f.fix \
                 FROM findings f LEFT JOIN texts tt ON tt.id = f.title_id \
                 LEFT JOIN texts te ON te.id = f.evidence_id LEFT JOIN texts tf ON tf.id = f.fix_id ", $rest)
    };
}

// After the macro: its queries use `finding_select!`.
mod report;

/// The SQL condition under which the host finding `finding` (a table alias or name) counts
/// for the domain of the link `link` (a `domain_hosts` alias): the link reaches the host
/// through a role the finding concerns (`mxray_core::checks::link_roles`), or either was
/// written before roles existed.
pub fn link_condition(finding: &str, link: &str) -> String {
    format!(
        "({link}.roles = 0 OR ({link}.roles & {}) <> 0)",
        mxray_core::checks::link_roles_sql(&format!("{finding}.check_id"))
    )
}

/// A scan's id.
pub type ScanId = i64;

/// Storage failures, each with what the operator can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the write lock.
    #[error(
        "database {path} is locked by another process; wait for it to finish or use another --db"
    )]
    Locked {
        /// The file.
        path: String,
    },
    /// The file exists but is not a SQLite database (corrupted, or another kind of file).
    #[error(
        "{path} is not a database (the file is corrupted or of another kind); pass another --db"
    )]
    NotADatabase {
        /// The file.
        path: String,
    },
    /// The operating system refused to let this user read the file.
    #[error("cannot read database {path}: permission denied")]
    ReadDenied {
        /// The file.
        path: String,
    },
    /// The operating system refused to let this user write the file or its directory.
    #[error(
        "cannot write database {path}: permission denied (the file or its directory is not writable by this user); commands that only read it (report, export, stats, diff) still work"
    )]
    WriteDenied {
        /// The file.
        path: String,
    },
    /// The PostgreSQL server did not accept a connection.
    #[error(
        "cannot reach PostgreSQL at {server}: {reason}; check the URL and that the server runs"
    )]
    Unreachable {
        /// `host:port`.
        server: String,
        /// Why.
        reason: String,
    },
    /// Another process runs this scan (`--resume` beside a live scan).
    #[error(
        "scan {scan} is being run by process {pid} on {host} (alive, last heartbeat {age} s ago); wait for it to finish or stop it, then --resume"
    )]
    ScanRunning {
        /// The scan.
        scan: ScanId,
        /// The owner's process id.
        pid: i64,
        /// The owner's host name.
        host: String,
        /// Seconds since its last heartbeat.
        age: i64,
    },
    /// The file cannot be opened or created.
    #[error("cannot open database {path}: {reason}; check the path and its permissions")]
    Open {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The disk is full (or a file-size limit was reached, or the write failed).
    #[error(
        "cannot write the database (disk full, file-size limit or I/O error: {0}); free space, then continue with `mxray scan --resume`"
    )]
    WriteFailed(String),
    /// Schema migration failed.
    #[error("cannot prepare the database schema: {0}")]
    Migration(String),
    /// The requested scan does not exist.
    #[error("no scan {0} in this database")]
    NoSuchScan(ScanId),
    /// A stored value cannot be read back.
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Backend(String),
}

impl StoreError {
    fn from_sqlx(e: sqlx::Error, path: &str) -> Self {
        // SQLITE_READONLY (8) and its extended codes: the file was opened read-only.
        let readonly = e
            .as_database_error()
            .and_then(|d| d.code())
            .and_then(|c| c.parse::<i64>().ok())
            .is_some_and(|c| c & 0xff == 8);
        if readonly {
            return Self::WriteDenied {
                path: path.to_owned(),
            };
        }
        let msg = e.to_string();
        let lower = msg.to_ascii_lowercase();
        if lower.contains("database is locked")
            || lower.contains("database is busy")
            || lower.contains("lock timeout")
        {
            Self::Locked {
                path: path.to_owned(),
            }
        } else if lower.contains("database or disk is full") || lower.contains("disk i/o error") {
            Self::WriteFailed(msg)
        } else {
            Self::Backend(msg)
        }
    }
}

/// A scan's row.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScanInfo {
    /// Id.
    pub id: ScanId,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds, when finished.
    pub finished_at: Option<i64>,
    /// running | finished | interrupted | failed.
    pub status: String,
    /// The options, as JSON.
    pub params: serde_json::Value,
}

/// A finding as stored, with what it is attached to.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredFinding {
    /// Set for domain findings.
    pub domain: Option<String>,
    /// Set for host and service findings.
    pub ip: Option<String>,
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
}

/// One item of a write batch.
// Items are moved once into a batch; boxing the host record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Item {
    /// A discovered domain, the addresses it uses, its findings.
    Domain {
        /// Observation.
        obs: DomainObservation,
        /// Addresses whose host records apply to it.
        ips: Vec<IpAddr>,
        /// Findings about the domain itself.
        findings: Vec<Finding>,
    },
    /// A domain on the exclusion list.
    Excluded(String),
    /// A probed host and its findings.
    Host {
        /// Observation.
        obs: HostObservation,
        /// Findings about the host and its services.
        findings: Vec<Finding>,
    },
    /// A bad input line.
    InputError(InputError),
    /// A host's software fingerprint and the advisories matching it.
    Software {
        /// The host.
        ip: IpAddr,
        /// What fingerprinting found.
        fp: mxray_core::fingerprint::HostFingerprint,
        /// Advisories that apply.
        matches: Vec<mxray_core::advisory::Match>,
    },
}

/// Everything stored about one domain, for a verdict.
#[derive(Clone, Debug)]
pub struct DomainReport {
    /// The domain.
    pub domain: String,
    /// Whether it was on the exclusion list.
    pub excluded: bool,
    /// Discovery's observation.
    pub obs: Option<DomainObservation>,
    /// The hosts it uses.
    pub hosts: Vec<HostObservation>,
    /// Domain and host findings together, worst first.
    pub findings: Vec<Finding>,
}

/// The store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// The `--db` value as it may be shown (no password).
    path: String,
    backend: Backend,
    /// Finding texts known to be stored, with their ids.
    texts: texts::SharedCache,
}

/// Now, Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn severity_num(s: Severity) -> i64 {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(0) as i64
}

fn severity_from(n: i64) -> Severity {
    Severity::ALL
        .get(n as usize)
        .copied()
        .unwrap_or(Severity::Info)
}

impl Store {
    /// Opens a store: a SQLite file (created if needed) or a `postgres://` URL; brings its
    /// schema up to date.
    pub async fn open(db: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(db, OpenMode::ReadWrite).await
    }

    /// Opens a store that is only read (`report`, `export`, `stats`, `diff`): nothing is
    /// created or migrated, SQLite files are opened read-only.
    /// A database an older mxray wrote is brought up to date once (which needs write
    /// access) before it is read.
    pub async fn open_read_only(db: impl AsRef<Path>) -> Result<Self, StoreError> {
        let s = Self::open_with(db.as_ref(), OpenMode::ReadOnly).await?;
        let version: Option<i64> =
            sqlx::query_scalar("SELECT CAST(MAX(version) AS BIGINT) FROM _sqlx_migrations")
                .fetch_one(&s.pool)
                .await
                .ok()
                .flatten();
        if version.unwrap_or(0) >= backend::latest_version(s.backend) {
            return Ok(s);
        }
        s.close().await;
        Self::open(db).await
    }

    async fn open_with(db: impl AsRef<Path>, mode: OpenMode) -> Result<Self, StoreError> {
        let spec = db.as_ref().to_string_lossy().into_owned();
        let (pool, backend) = backend::connect(&spec, mode).await?;
        Ok(Self {
            pool,
            path: redact(&spec),
            backend,
            texts: Default::default(),
        })
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        StoreError::from_sqlx(e, &self.path)
    }

    /// How this backend's statements mark parameters (see [`rows::Params`]).
    pub(crate) fn params(&self) -> rows::Params {
        match self.backend {
            Backend::Sqlite => rows::Params::Anonymous,
            Backend::Postgres => rows::Params::Numbered,
        }
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`, waiting out another writer through the busy timeout): a deferred
    /// transaction that reads first and then writes fails at once with "database is locked"
    /// when another process committed in between (two scans on one file).
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .map_err(|e| self.err(e))
    }

    /// The rows of a query whose one parameter (`$1`) is the scan id.
    async fn scan_rows(&self, sql: &'static str, scan: ScanId) -> Result<Vec<AnyRow>, StoreError> {
        sqlx::query(sql)
            .bind(scan)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }

    /// Records the start of a scan.
    pub async fn begin_scan(&self, params: &serde_json::Value) -> Result<ScanId, StoreError> {
        let row = sqlx::query("INSERT INTO scans (started_at, status, params, schema_version) VALUES ($1, 'running', $2, $3) RETURNING id")
            .bind(now())
            .bind(params.to_string())
            .bind(i64::from(SCHEMA_VERSION))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }

    /// Marks a scan finished (or interrupted).
    pub async fn finish_scan(&self, id: ScanId, status: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE scans SET finished_at = $1, status = $2 WHERE id = $3")
            .bind(now())
            .bind(status)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        // Fresh statistics: without them SQLite joins findings to domain_hosts through the
        // primary key instead of the ip index (measured: 31 s instead of 0.45 s for the
        // summary of a 200,000-domain scan). Takes ~50 ms at that size.
        sqlx::query("ANALYZE")
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Writes a batch in one transaction: all of it or nothing.
    pub async fn write(&self, scan: ScanId, items: &[Item]) -> Result<(), StoreError> {
        self.write_as(scan, None, items).await.map(|_| ())
    }

    /// Writes a survey worker's batch: in the same transaction, each domain's claim is
    /// marked done and each host's claim too. An item whose claim this worker no longer holds
    /// (its lease ran out and another worker took it) is dropped, so nothing committed is
    /// ever committed twice. Returns `(domains, hosts)` committed.
    pub async fn write_claimed(
        &self,
        scan: ScanId,
        worker: &str,
        items: &[Item],
    ) -> Result<(u64, u64), StoreError> {
        self.write_as(scan, Some(worker), items).await
    }

    async fn write_as(
        &self,
        scan: ScanId,
        worker: Option<&str>,
        items: &[Item],
    ) -> Result<(u64, u64), StoreError> {
        // The batch's finding texts first, outside the transaction (see `texts.rs`).
        let text_ids = self.batch_text_ids(items).await?;
        let mut tx = self.begin_write().await?;
        let (mut domains, mut hosts) = (0u64, 0u64);
        // Hosts of this batch whose claim was lost: their software rows go with them.
        let mut lost: Vec<IpAddr> = Vec::new();
        // Domains are written together (rows.rs); anything else, and a domain seen twice,
        // first writes the domains before it, so rows land in the batch's order.
        let mut pending = rows::DomainRows::default();
        for (n, item) in items.iter().enumerate() {
            let ids = &text_ids[n];
            let flush = match item {
                Item::Domain { obs, .. } => {
                    pending.holds(&obs.domain) || pending.len() >= rows::CHUNK
                }
                _ => pending.len() > 0,
            };
            if flush {
                pending
                    .flush(&mut tx, self.params(), scan)
                    .await
                    .map_err(|e| self.err(e))?;
            }
            match item {
                Item::Domain { obs, .. }
                    if !self
                        .commit_claim(&mut tx, scan, worker, Claim::Target(&obs.domain))
                        .await? => {}
                Item::Excluded(domain)
                    if !self
                        .commit_claim(&mut tx, scan, worker, Claim::Target(domain))
                        .await? => {}
                Item::Host { obs, .. }
                    if !self
                        .commit_claim(&mut tx, scan, worker, Claim::Host(obs.ip))
                        .await? =>
                {
                    lost.push(obs.ip);
                }
                Item::Software { ip, .. } if lost.contains(ip) => {}
                Item::Domain { obs, ips, findings } => {
                    domains += 1;
                    let json = serde_json::to_string(obs)
                        .map_err(|e| StoreError::Backend(e.to_string()))?;
                    pending.push(obs, codec::encode(&json), ips, findings, ids);
                }
                Item::Excluded(domain) => {
                    domains += 1;
                    sqlx::query("INSERT INTO domains (scan_id, domain, status) VALUES ($1, $2, 'excluded') \
                                  ON CONFLICT (scan_id, domain) DO UPDATE SET status = excluded.status, mx_mode = NULL, observation = NULL, observation_z = NULL")
                        .bind(scan)
                        .bind(domain)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.err(e))?;
                }
                Item::Host { obs, findings } => {
                    hosts += 1;
                    let json = serde_json::to_string(obs)
                        .map_err(|e| StoreError::Backend(e.to_string()))?;
                    let ip = obs.ip.to_string();
                    sqlx::query(
                        "INSERT INTO hosts (scan_id, ip, observation, roles) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (scan_id, ip) DO UPDATE SET observation = excluded.observation, roles = excluded.roles",
                    )
                    .bind(scan)
                    .bind(&ip)
                    .bind(json)
                    .bind(i64::from(mxray_core::model::HostRole::mask(&obs.roles)))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                    // A later record of the same address (probed again for a role it gained)
                    // replaces the earlier one, findings included.
                    sqlx::query(
                        "DELETE FROM findings WHERE scan_id = $1 AND ip = $2 AND domain IS NULL",
                    )
                    .bind(scan)
                    .bind(&ip)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                    let rows: Vec<_> = findings
                        .iter()
                        .zip(ids)
                        .map(|(f, ids)| rows::FindingRow::new(None, Some(&ip), f, *ids))
                        .collect();
                    rows::insert_findings(&mut tx, self.params(), scan, &rows)
                        .await
                        .map_err(|e| self.err(e))?;
                }
                Item::Software { ip, fp, matches } => {
                    Self::write_software(&mut tx, scan, ip, fp, matches)
                        .await
                        .map_err(|e| self.err(e))?;
                }
                Item::InputError(e) => {
                    sqlx::query("INSERT INTO input_errors (scan_id, line, text, reason) VALUES ($1, $2, $3, $4)")
                        .bind(scan)
                        .bind(e.line as i64)
                        .bind(&e.text)
                        .bind(e.reason.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.err(e))?;
                }
            }
        }
        pending
            .flush(&mut tx, self.params(), scan)
            .await
            .map_err(|e| self.err(e))?;
        if let Some(worker) = worker {
            self.count_worker(&mut tx, scan, worker, domains, hosts)
                .await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok((domains, hosts))
    }

    /// For each item, for each of its findings: the ids of its title, evidence and fix.
    async fn batch_text_ids(&self, items: &[Item]) -> Result<Vec<Vec<[i64; 3]>>, StoreError> {
        fn findings_of(item: &Item) -> &[Finding] {
            match item {
                Item::Domain { findings, .. } | Item::Host { findings, .. } => findings,
                _ => &[],
            }
        }
        let ids = self
            .finding_text_ids(items.iter().flat_map(findings_of), None)
            .await?;
        let mut triples = ids.into_iter();
        Ok(items
            .iter()
            .map(|item| triples.by_ref().take(findings_of(item).len()).collect())
            .collect())
    }

    /// The text ids `[title, evidence, fix]` of each finding, in order: each text templated
    /// on the finding's subject and stored once in `texts` (outside any transaction).
    async fn finding_text_ids<'a>(
        &self,
        findings: impl Iterator<Item = &'a Finding>,
        tx: Option<&mut sqlx::AnyConnection>,
    ) -> Result<Vec<[i64; 3]>, StoreError> {
        let mut bodies: Vec<String> = Vec::new();
        for f in findings {
            let subject = f.subject.name();
            let evidence = serde_json::to_string(&f.evidence)
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            bodies.extend([
                texts::template(&f.title, subject),
                texts::template(&evidence, subject),
                texts::template(&f.fix, subject),
            ]);
        }
        let ids = if bodies.is_empty() {
            Vec::new()
        } else {
            let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
            self.text_ids(&refs, tx).await?
        };
        Ok(ids.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
    }

    /// All scans, newest first.
    pub async fn scans(&self) -> Result<Vec<ScanInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, started_at, finished_at, status, params FROM scans ORDER BY id DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|r| ScanInfo {
                id: r.get(0),
                started_at: r.get(1),
                finished_at: r.get(2),
                status: r.get(3),
                params: serde_json::from_str(r.get::<&str, _>(4)).unwrap_or_default(),
            })
            .collect())
    }

    /// The given scan, or the newest one.
    pub async fn scan(&self, id: Option<ScanId>) -> Result<ScanInfo, StoreError> {
        let scans = self.scans().await?;
        match id {
            Some(id) => scans
                .into_iter()
                .find(|s| s.id == id)
                .ok_or(StoreError::NoSuchScan(id)),
            None => scans.into_iter().next().ok_or(StoreError::NoSuchScan(0)),
        }
    }

    /// Everything about one domain in a scan.
    pub async fn domain_report(
        &self,
        scan: ScanId,
        domain: &str,
    ) -> Result<Option<DomainReport>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT status, observation, observation_z FROM domains WHERE scan_id = $1 AND domain = $2",
        )
        .bind(scan)
        .bind(domain)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        let excluded = row.get::<&str, _>(0) == "excluded";
        let obs: Option<DomainObservation> =
            obs_json(&row, 1)?.and_then(|j| serde_json::from_str(&j).ok());
        let hosts: Vec<HostObservation> = sqlx::query(
            "SELECT h.observation FROM hosts h JOIN domain_hosts d ON d.scan_id = h.scan_id AND d.ip = h.ip WHERE d.scan_id = $1 AND d.domain = $2 ORDER BY h.ip",
        )
        .bind(scan)
        .bind(domain)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .into_iter()
        .filter_map(|r| serde_json::from_str(r.get::<&str, _>(0)).ok())
        .collect();
        let mut findings: Vec<Finding> = self
            .findings_for_domain(scan, domain)
            .await?
            .into_iter()
            .map(|s| s.finding)
            .collect();
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
        Ok(Some(DomainReport {
            domain: domain.to_owned(),
            excluded,
            obs,
            hosts,
            findings,
        }))
    }

    /// Domain findings plus the findings of every host the domain uses.
    pub async fn findings_for_domain(
        &self,
        scan: ScanId,
        domain: &str,
    ) -> Result<Vec<StoredFinding>, StoreError> {
        // Two indexed halves, not one `domain = $2 OR EXISTS (…)`: the OR made both backends
        // read every finding of the scan for each domain (a report's 1,000 shown domains of a
        // 200,000-domain survey never finished). The second half skips the first's rows, so
        // each finding still comes once (a link is unique per (scan, domain, ip)).
        let sql = format!(
            "{sel}WHERE f.scan_id = $1 AND f.domain = $2 \
             UNION ALL \
             {sel}JOIN domain_hosts dh ON dh.scan_id = f.scan_id AND dh.ip = f.ip \
             WHERE f.scan_id = $1 AND dh.domain = $2 AND f.domain IS DISTINCT FROM $2 AND {link}",
            sel = finding_select!(""),
            link = link_condition("f", "dh")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scan)
            .bind(domain)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let mut out: Vec<StoredFinding> = rows.iter().map(row_to_finding).collect();
        // Ordered here, to the last tie (the same check on several hosts of one domain has the
        // same severity, id and subject kind), so both backends give one order: SQL's ORDER BY
        // over a UNION leaves ties and NULLs in backend-specific places.
        out.sort_by_cached_key(|f| {
            (
                std::cmp::Reverse(f.finding.severity),
                f.finding.id.clone(),
                f.finding.subject.name().to_owned(),
                f.ip.clone(),
                f.domain.clone(),
                f.finding.title.clone(),
                f.finding.evidence.clone(),
            )
        });
        Ok(out)
    }

    /// Every finding of a scan.
    pub async fn findings(&self, scan: ScanId) -> Result<Vec<StoredFinding>, StoreError> {
        let rows = self
            .scan_rows(
                finding_select!(
                    "WHERE f.scan_id = $1 ORDER BY f.severity DESC, f.check_id, f.subject"
                ),
                scan,
            )
            .await?;
        Ok(rows.iter().map(row_to_finding).collect())
    }

    /// Every finding of a scan, split: domain findings by domain, host and service findings by
    /// address (as text).
    pub async fn findings_by_subject(
        &self,
        scan: ScanId,
    ) -> Result<(HashMap<String, Vec<Finding>>, HashMap<String, Vec<Finding>>), StoreError> {
        let mut by_domain: HashMap<String, Vec<Finding>> = HashMap::new();
        let mut by_ip: HashMap<String, Vec<Finding>> = HashMap::new();
        for f in self.findings(scan).await? {
            match (f.domain, f.ip) {
                (Some(d), _) => by_domain.entry(d).or_default().push(f.finding),
                (None, Some(ip)) => by_ip.entry(ip).or_default().push(f.finding),
                (None, None) => {}
            }
        }
        Ok((by_domain, by_ip))
    }

    /// Domain names of a scan with their status, streaming.
    pub async fn domains(&self, scan: ScanId) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query("SELECT domain, status FROM domains WHERE scan_id = $1 ORDER BY domain")
            .bind(scan)
            .fetch(&self.pool)
            .map_ok(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .try_collect()
            .await
            .map_err(|e| self.err(e))
    }

    /// Host observations of a scan.
    pub async fn hosts(&self, scan: ScanId) -> Result<Vec<HostObservation>, StoreError> {
        let rows = self
            .scan_rows(
                "SELECT observation FROM hosts WHERE scan_id = $1 ORDER BY ip",
                scan,
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str(r.get::<&str, _>(0)).ok())
            .collect())
    }

    /// Addresses used by a domain.
    pub async fn domain_ips(&self, scan: ScanId, domain: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT ip FROM domain_hosts WHERE scan_id = $1 AND domain = $2 ORDER BY ip",
        )
        .bind(scan)
        .bind(domain)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    /// Input lines that were skipped.
    pub async fn input_errors(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows = self
            .scan_rows(
                "SELECT line, text, reason FROM input_errors WHERE scan_id = $1 ORDER BY line",
                scan,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// (domains scanned, domains excluded, hosts probed) of a scan.
    pub async fn counts(&self, scan: ScanId) -> Result<(i64, i64, i64), StoreError> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM domains WHERE scan_id = $1 AND status = 'scanned'), (SELECT COUNT(*) FROM domains WHERE scan_id = $1 AND status = 'excluded'), (SELECT COUNT(*) FROM hosts WHERE scan_id = $1)",
        )
        .bind(scan)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok((r.get(0), r.get(1), r.get(2)))
    }

    /// The newest scan that did not finish (crashed, killed or interrupted), if any. A scan
    /// that `failed` to start (its input could not be read) is never resumed.
    pub async fn unfinished_scan(&self) -> Result<Option<ScanInfo>, StoreError> {
        Ok(self
            .scans()
            .await?
            .into_iter()
            .find(|s| s.status != "finished" && s.status != "failed"))
    }

    /// Marks a scan running again (resume).
    pub async fn reopen_scan(&self, id: ScanId) -> Result<(), StoreError> {
        sqlx::query("UPDATE scans SET status = 'running', finished_at = NULL WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Domains already stored for a scan (scanned or excluded): skipped on resume.
    pub async fn done_domains(
        &self,
        scan: ScanId,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        sqlx::query_scalar("SELECT domain FROM domains WHERE scan_id = $1")
            .bind(scan)
            .fetch(&self.pool)
            .try_collect()
            .await
            .map_err(|e| self.err(e))
    }

    /// Addresses already probed in a scan.
    pub async fn done_hosts(
        &self,
        scan: ScanId,
    ) -> Result<std::collections::HashMap<IpAddr, u8>, StoreError> {
        let rows = self
            .scan_rows("SELECT ip, roles FROM hosts WHERE scan_id = $1", scan)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let ip: IpAddr = r.get::<String, _>(0).parse().ok()?;
                Some((ip, r.get::<i64, _>(1) as u8))
            })
            .collect())
    }

    /// Addresses linked to stored domains through a role their stored record does not cover
    /// (never probed, or probed before it gained the role): `(ip, roles, one domain using it
    /// through those roles, the host name that led there)`. Links and records written before
    /// roles existed (0) cover each other.
    pub async fn pending_hosts(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(IpAddr, u8, String, String)>, StoreError> {
        let rows = self.scan_rows("SELECT d.ip, d.roles, MIN(d.domain) FROM domain_hosts d JOIN domains dom ON dom.scan_id = d.scan_id AND dom.domain = d.domain \
             WHERE d.scan_id = $1 AND NOT EXISTS (SELECT 1 FROM hosts h WHERE h.scan_id = d.scan_id AND h.ip = d.ip \
               AND (h.roles = 0 OR d.roles = 0 OR (d.roles & h.roles) = d.roles)) GROUP BY d.ip, d.roles", scan).await?;
        let mut out = Vec::new();
        for r in &rows {
            let Ok(ip) = r.get::<String, _>(0).parse::<IpAddr>() else {
                continue;
            };
            let domain: String = r.get(2);
            // Observations may be stored compressed (`observation_z`): read through obs_json.
            let obs: Option<DomainObservation> = match sqlx::query(
                "SELECT observation, observation_z FROM domains WHERE scan_id = $1 AND domain = $2",
            )
            .bind(scan)
            .bind(&domain)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            {
                Some(row) => obs_json(&row, 0)?.and_then(|j| serde_json::from_str(&j).ok()),
                None => None,
            };
            let name = obs
                .and_then(|o| {
                    let hosts = o.hosts.into_iter().chain(o.web_host);
                    let by_host = hosts
                        .into_iter()
                        .find(|h| h.addresses.found().is_some_and(|a| a.contains(&ip)))
                        .map(|h| h.name);
                    by_host.or_else(|| {
                        o.nameservers?
                            .checks
                            .into_iter()
                            .find(|c| c.ip == ip)
                            .map(|c| c.name)
                    })
                })
                .unwrap_or_default();
            out.push((ip, r.get::<i64, _>(1) as u8, domain, name));
        }
        Ok(out)
    }

    /// How the first SMTP probe of each host ended: `(status, hosts)`, most common first.
    pub async fn host_outcomes(&self, scan: ScanId) -> Result<Vec<(String, i64)>, StoreError> {
        // The one query that reads inside the JSON, in each backend's own syntax.
        let rows = sqlx::query(match self.backend {
            Backend::Sqlite => {
                "SELECT COALESCE(json_extract(observation, '$.smtp[0].status'), 'not-probed') AS s, COUNT(*) AS n \
                 FROM hosts WHERE scan_id = $1 GROUP BY s ORDER BY n DESC, s"
            }
            Backend::Postgres => {
                "SELECT COALESCE(observation::jsonb #>> '{smtp,0,status}', 'not-probed') AS s, COUNT(*) AS n \
                 FROM hosts WHERE scan_id = $1 GROUP BY s ORDER BY n DESC, s"
            }
        })
        .bind(scan)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Findings per check: `(check id, severity, findings, domains affected)`, worst first.
    pub async fn finding_counts(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(String, Severity, i64, i64)>, StoreError> {
        let sql = format!(
            "SELECT check_id, MAX(sev), CAST(SUM(n) AS BIGINT), CAST(SUM(d) AS BIGINT) FROM ( \
               SELECT check_id, MAX(severity) AS sev, COUNT(*) AS n, COUNT(DISTINCT domain) AS d \
               FROM findings WHERE scan_id = $1 AND domain IS NOT NULL GROUP BY check_id \
             UNION ALL \
               SELECT f.check_id, MAX(f.severity), COUNT(DISTINCT f.id), COUNT(DISTINCT dh.domain) \
               FROM findings f JOIN domain_hosts dh ON dh.scan_id = f.scan_id AND dh.ip = f.ip AND {} \
               WHERE f.scan_id = $1 AND f.ip IS NOT NULL GROUP BY f.check_id \
             ) AS per_check GROUP BY check_id ORDER BY 2 DESC, 3 DESC, 1",
            link_condition("f", "dh")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scan)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), severity_from(r.get(1)), r.get(2), r.get(3)))
            .collect())
    }

    /// Every domain → address link of a scan with its roles (`role_mask` bits; 0: written
    /// before roles existed).
    pub async fn role_links(&self, scan: ScanId) -> Result<Vec<(String, String, u8)>, StoreError> {
        sqlx::query(
            "SELECT domain, ip, roles FROM domain_hosts WHERE scan_id = $1 ORDER BY domain, ip",
        )
        .bind(scan)
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

    /// Every domain → address link of a scan.
    pub async fn links(&self, scan: ScanId) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query("SELECT domain, ip FROM domain_hosts WHERE scan_id = $1 ORDER BY domain, ip")
            .bind(scan)
            .fetch(&self.pool)
            .map_ok(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .try_collect()
            .await
            .map_err(|e| self.err(e))
    }

    /// Every domain of a scan as stored, streaming: name, status, observation JSON (raw).
    pub fn domain_rows(
        &self,
        scan: ScanId,
    ) -> impl futures::Stream<Item = Result<(String, String, Option<String>), StoreError>> + '_
    {
        sqlx::query(
            "SELECT domain, status, observation, observation_z FROM domains WHERE scan_id = $1 ORDER BY domain",
        )
        .bind(scan)
        .fetch(&self.pool)
        .map_err(|e| StoreError::from_sqlx(e, &self.path))
        .and_then(|r| async move {
            Ok((r.get::<String, _>(0), r.get::<String, _>(1), obs_json(&r, 2)?))
        })
    }

    /// Every domain of a scan: name, status, observation.
    pub async fn domain_observations(
        &self,
        scan: ScanId,
    ) -> Result<Vec<(String, String, Option<DomainObservation>)>, StoreError> {
        sqlx::query(
            "SELECT domain, status, observation, observation_z FROM domains WHERE scan_id = $1 ORDER BY domain",
        )
        .bind(scan)
        .fetch(&self.pool)
        .map_err(|e| self.err(e))
        .and_then(|r| async move {
            let obs = obs_json(&r, 2)?.and_then(|j| serde_json::from_str(&j).ok());
            Ok((r.get::<String, _>(0), r.get::<String, _>(1), obs))
        })
        .try_collect()
        .await
    }

    /// One page of a scan's domain observations, in name order after `after` (`""` for the
    /// first page): bounded memory for whole-scan passes such as `recheck`.
    pub async fn domain_observations_after(
        &self,
        scan: ScanId,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, Option<DomainObservation>)>, StoreError> {
        sqlx::query(
            "SELECT domain, observation, observation_z FROM domains WHERE scan_id = $1 AND domain > $2 ORDER BY domain LIMIT $3",
        )
        .bind(scan)
        .bind(after)
        .bind(limit)
        .fetch(&self.pool)
        .map_err(|e| self.err(e))
        .and_then(|r| async move {
            let obs = obs_json(&r, 1)?.and_then(|j| serde_json::from_str(&j).ok());
            Ok((r.get::<String, _>(0), obs))
        })
        .try_collect()
        .await
    }

    /// One page of a scan's host observations, in address-text order after `after`.
    pub async fn hosts_after(
        &self,
        scan: ScanId,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, Option<HostObservation>)>, StoreError> {
        sqlx::query(
            "SELECT ip, observation FROM hosts WHERE scan_id = $1 AND ip > $2 ORDER BY ip LIMIT $3",
        )
        .bind(scan)
        .bind(after)
        .bind(limit)
        .fetch(&self.pool)
        .map_ok(|r| {
            let obs = serde_json::from_str(r.get::<&str, _>(1)).ok();
            (r.get::<String, _>(0), obs)
        })
        .try_collect()
        .await
        .map_err(|e| self.err(e))
    }

    /// Starts replacing everything a scan derived from its observations (findings, software,
    /// OS guesses, unknown banners, advisory matches not yet alerted on) in one transaction:
    /// `mxray recheck`. Nothing changes until [`Rewrite::commit`]; dropping it rolls back.
    /// Observations are never touched.
    pub async fn begin_rewrite(&self, scan: ScanId) -> Result<Rewrite, StoreError> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM findings WHERE scan_id = $1",
            "DELETE FROM software WHERE scan_id = $1",
            "DELETE FROM host_os WHERE scan_id = $1",
            "DELETE FROM unknown_banners WHERE scan_id = $1",
            // Alerted matches stay: `alerts` must not announce them a second time.
            "DELETE FROM advisory_matches WHERE scan_id = $1 AND alerted = 0",
        ] {
            sqlx::query(sql)
                .bind(scan)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(Rewrite {
            tx,
            scan,
            store: self.clone(),
        })
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// A scan's derived results being replaced (see [`Store::begin_rewrite`]).
#[derive(Debug)]
pub struct Rewrite {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    scan: ScanId,
    store: Store,
}

impl Rewrite {
    fn err(&self, e: sqlx::Error) -> StoreError {
        self.store.err(e)
    }

    /// Stores findings about a domain (`domain` set) or a host (`ip` set).
    pub async fn findings(
        &mut self,
        domain: Option<&str>,
        ip: Option<&str>,
        findings: &[Finding],
    ) -> Result<(), StoreError> {
        let ids = self
            .store
            .finding_text_ids(findings.iter(), Some(&mut *self.tx))
            .await?;
        let rows: Vec<_> = findings
            .iter()
            .zip(ids)
            .map(|(f, ids)| rows::FindingRow::new(domain, ip, f, ids))
            .collect();
        rows::insert_findings(&mut self.tx, self.store.params(), self.scan, &rows)
            .await
            .map_err(|e| self.err(e))
    }

    /// Stores a host's fingerprint and the advisories matching it.
    pub async fn software(
        &mut self,
        ip: &IpAddr,
        fp: &mxray_core::fingerprint::HostFingerprint,
        matches: &[mxray_core::advisory::Match],
    ) -> Result<(), StoreError> {
        match Store::write_software(&mut self.tx, self.scan, ip, fp, matches).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Makes the replacement visible, all of it at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        let store = self.store;
        self.tx.commit().await.map_err(|e| store.err(e))
    }
}

/// A domain's observation JSON from the columns `i` (JSON, rows written before compression)
/// and `i + 1` (compressed, see `codec.rs`), whichever is set.
fn obs_json(r: &AnyRow, i: usize) -> Result<Option<String>, StoreError> {
    if let Some(j) = r.get::<Option<String>, _>(i) {
        return Ok(Some(j));
    }
    match r.get::<Option<Vec<u8>>, _>(i + 1) {
        Some(z) => codec::decode(&z)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string())),
        None => Ok(None),
    }
}

/// A finding text: the template in column `i` filled in for `subject`, else (a row written
/// before texts were stored once) the inline text in column `i + 1`.
fn text_at(r: &AnyRow, i: usize, subject: &str) -> String {
    match r.get::<Option<&str>, _>(i) {
        Some(t) => texts::fill(t, subject),
        None => r.get(i + 1),
    }
}

fn row_to_finding(r: &AnyRow) -> StoredFinding {
    let kind: String = r.get(2);
    let name: String = r.get(3);
    let title = text_at(r, 6, &name);
    let evidence = serde_json::from_str(&text_at(r, 8, &name)).unwrap_or_default();
    let fix = text_at(r, 10, &name);
    let subject = match kind.as_str() {
        "domain" => Subject::Domain(name),
        "host" => Subject::Host(name),
        _ => Subject::Service(name),
    };
    StoredFinding {
        domain: r.get(0),
        ip: r.get(1),
        finding: Finding {
            id: r.get(4),
            severity: severity_from(r.get(5)),
            subject,
            title,
            evidence,
            fix,
        },
    }
}
