//! Surveys shared by several workers through one database (PostgreSQL across machines, or a
//! SQLite file between processes of one machine): `survey create` loads the targets once,
//! each `worker` claims batches, scans them and commits results with the claims.
//!
//! A worker's life: claim a batch → discover its domains → probe the addresses it wins
//! (one claim per address across all workers) → commit each result with its claim. Leases
//! are renewed by a heartbeat; a worker that dies stops renewing, and its claims are taken
//! over once their lease runs out. Addresses linked by committed domains but never probed
//! (their worker died after committing the domain) are swept up at the end.

use crate::progress::Reporter;
use crate::run::{self, Ended};
use futures::StreamExt;
use mxray_core::target::{Domain, InputError};
use mxray_scan::{Engine, Event, HostGate, PendingHost, Progress, ScanConfig, Seed};
use mxray_store::{ScanId, Store};
use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// What `survey create` loaded.
#[derive(Debug)]
pub struct Created {
    pub scan: ScanId,
    pub targets: u64,
    pub input_errors: u64,
    pub duplicates: u64,
}

/// Loads a domain list as a new survey's targets (bad lines are stored as input errors).
pub async fn create(db: &std::path::Path, file: String) -> anyhow::Result<Created> {
    let store = Store::open(db).await?;
    let scan = store
        .create_survey(&serde_json::json!({ "input": file }))
        .await?;
    let (dom_tx, mut dom_rx) = mpsc::channel::<Domain>(4096);
    let (err_tx, mut err_rx) = mpsc::unbounded_channel::<InputError>();
    let duplicates = Arc::new(AtomicU64::new(0));
    let reader = run::spawn_reader(
        file,
        Arc::new(HashSet::new()),
        None,
        dom_tx,
        err_tx,
        duplicates.clone(),
    )?;
    let mut seq = 0i64;
    let mut targets = 0u64;
    let mut batch = Vec::with_capacity(1000);
    loop {
        let next = dom_rx.recv().await;
        let done = next.is_none();
        if let Some(d) = next {
            seq += 1;
            batch.push((seq, d));
        }
        if batch.len() >= 1000 || (done && !batch.is_empty()) {
            targets += store.add_targets(scan, &batch).await?;
            batch.clear();
        }
        if done {
            break;
        }
    }
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("input reader crashed"))??;
    let mut errors = Vec::new();
    while let Ok(e) = err_rx.try_recv() {
        errors.push(mxray_store::Item::InputError(e));
    }
    store.write(scan, &errors).await?;
    store.close().await;
    Ok(Created {
        scan,
        targets,
        input_errors: errors.len() as u64,
        duplicates: duplicates.load(Ordering::Relaxed),
    })
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOpts {
    /// The survey (default: the newest in the database).
    pub survey: Option<ScanId>,
    /// This worker's name (default: host name and process id).
    pub name: Option<String>,
    /// Targets claimed at a time.
    pub batch: u32,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    pub quiet: bool,
}

/// What one worker did.
#[derive(Debug)]
pub struct WorkerOutcome {
    pub scan: ScanId,
    pub worker: String,
    pub status: mxray_store::SurveyStatus,
}

/// The address claims of one worker, asked by the engine before it queues an address.
#[derive(Debug)]
struct Gate {
    store: Store,
    scan: ScanId,
    worker: String,
    lease_ms: i64,
}

impl HostGate for Gate {
    fn claim(&self, ip: IpAddr) -> futures::future::BoxFuture<'_, bool> {
        Box::pin(async move {
            match self
                .store
                .claim_host(self.scan, &self.worker, ip, self.lease_ms)
                .await
            {
                Ok(ours) => ours,
                Err(e) => {
                    // Not probing is the safe side: the address stays linked and unprobed,
                    // and the end-of-survey sweep takes it.
                    tracing::warn!("cannot claim {ip}: {e}");
                    false
                }
            }
        })
    }
}

/// Claims batches of targets as the engine asks for more domains; ends when nothing is left
/// to claim and no other worker holds targets (theirs may still come free if they die).
fn claimed_domains(
    store: Store,
    scan: ScanId,
    worker: String,
    batch: i64,
    lease_ms: i64,
) -> impl futures::Stream<Item = Domain> + Send {
    let poll = Duration::from_millis((lease_ms / 4).clamp(200, 5_000) as u64);
    futures::stream::unfold(VecDeque::<Domain>::new(), move |mut buf| {
        let (store, worker) = (store.clone(), worker.clone());
        async move {
            loop {
                if let Some(d) = buf.pop_front() {
                    return Some((d, buf));
                }
                match store.claim_targets(scan, &worker, batch, lease_ms).await {
                    Ok(claimed) if !claimed.is_empty() => {
                        // Stored names were parsed at `survey create`: parsing is the identity.
                        buf.extend(claimed.iter().filter_map(|c| Domain::parse(&c.domain).ok()));
                    }
                    Ok(_) => match store.targets_held_by_others(scan, &worker).await {
                        Ok(0) => return None,
                        Ok(_) => tokio::time::sleep(poll).await,
                        Err(e) => {
                            tracing::warn!("survey {scan}: {e}");
                            return None;
                        }
                    },
                    Err(e) => {
                        tracing::warn!("survey {scan}: cannot claim targets: {e}");
                        return None;
                    }
                }
            }
        }
    })
}

/// Runs one worker until the survey is complete (or Ctrl-C, or the store fails).
pub async fn worker(
    cfg: ScanConfig,
    resolver: Vec<std::net::SocketAddr>,
    db: &std::path::Path,
    params: serde_json::Value,
    opts: WorkerOpts,
) -> anyhow::Result<WorkerOutcome> {
    let dns = run::resolver(&cfg, &resolver).await?;
    let store = Store::open(db).await?;
    let scan = match opts.survey {
        Some(s) => s,
        None => store.latest_survey().await?.ok_or_else(|| {
            anyhow::anyhow!(
                "{} holds no survey; create one with `mxray survey create --db … FILE`",
                mxray_store::redact(&db.to_string_lossy())
            )
        })?,
    };
    let worker = opts.name.clone().unwrap_or_else(default_name);
    let lease_ms = opts.lease.as_millis().max(1000) as i64;
    store.register_worker(scan, &worker).await?;
    let software = crate::software::SoftwareCx::load(&store, &params).await?;
    let heartbeat = tokio::spawn({
        let (store, worker) = (store.clone(), worker.clone());
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(lease_ms as u64 / 3)).await;
                if let Err(e) = store.renew_leases(scan, &worker, lease_ms).await {
                    tracing::warn!("survey {scan}: cannot renew leases: {e}");
                }
            }
        }
    });
    let start = store.survey_status(scan).await?;
    let progress = Arc::new(Progress::default());
    let reporter = Reporter::start(
        progress.clone(),
        Some((start.total - start.done).max(0) as u64),
        opts.quiet,
    );
    let engine = Engine::new(cfg, dns);
    let gate: Arc<dyn HostGate> = Arc::new(Gate {
        store: store.clone(),
        scan,
        worker: worker.clone(),
        lease_ms,
    });
    let mut pending: Vec<PendingHost> = Vec::new();
    let mut input_errors = 0;
    let ended = loop {
        let seed = Seed {
            probed: store.done_hosts(scan).await?,
            pending: std::mem::take(&mut pending),
            gate: Some(gate.clone()),
        };
        let (ev_tx, ev_rx) = mpsc::channel::<Event>(1024);
        let domains = claimed_domains(
            store.clone(),
            scan,
            worker.clone(),
            i64::from(opts.batch.max(1)),
            lease_ms,
        );
        let run = tokio::spawn({
            let (engine, progress) = (engine.clone(), progress.clone());
            async move { engine.resume(domains.boxed(), ev_tx, progress, seed).await }
        });
        let ended = run::commit_events(
            &store,
            scan,
            Some(&worker),
            &software,
            ev_rx,
            None,
            &reporter,
            &mut input_errors,
        )
        .await;
        if !matches!(ended, Ended::Finished) {
            run.abort();
            break ended;
        }
        let _ = run.await;
        let st = store.survey_status(scan).await?;
        if st.complete() {
            break Ended::Finished;
        }
        // Addresses linked by committed domains and never probed: their worker died after
        // committing the domain, or is probing them now (then its claim is live and ours fails).
        // (An address another worker probed and a later domain linked in a new role keeps
        // the record it has: the claim is that worker's, done.)
        for (ip, roles, domain, name) in store.pending_hosts(scan).await? {
            if store.claim_host(scan, &worker, ip, lease_ms).await? {
                pending.push(PendingHost {
                    ip,
                    names: vec![name],
                    domain,
                    roles,
                });
            }
        }
        if pending.is_empty() && st.pending == 0 && st.expired == 0 {
            // Everything left is held by live workers: wait for them (or their leases).
            tokio::time::sleep(Duration::from_millis(
                (lease_ms / 4).clamp(200, 5_000) as u64
            ))
            .await;
        }
    };
    reporter.finish();
    heartbeat.abort();
    match ended {
        Ended::Finished => {}
        Ended::Interrupted(signal) => {
            let _ = store.release_claims(scan, &worker).await;
            let _ = store.finish_worker(scan, &worker).await;
            return Err(crate::run::Interrupted {
                signal,
                message: format!(
                    "worker {worker} released its claims, survey {scan} keeps everything committed"
                ),
            }
            .into());
        }
        Ended::Failed(e) => {
            return Err(e.context(format!(
                "worker {worker} stopped; survey {scan} keeps everything committed, and its claims pass to other workers when the lease runs out"
            )));
        }
    }
    store.finish_worker(scan, &worker).await?;
    store.finish_scan(scan, "finished").await?;
    let status = store.survey_status(scan).await?;
    Ok(WorkerOutcome {
        scan,
        worker,
        status,
    })
}

/// `host-pid`: unique on one machine and recognisable in `survey status`.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}
