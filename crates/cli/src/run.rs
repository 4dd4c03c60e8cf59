//! The scan pipeline as the CLI drives it: input lines → engine → checks → store, with a
//! progress display. Shared by `scan`, `check` and `demo`.

use crate::progress::Reporter;
use anyhow::Context;
use futures::StreamExt;
use mxray_core::checks::{self, Clock};
use mxray_core::target::{Domain, DomainList, InputError, Line, Shard};
use mxray_scan::resolve::Dns;
use mxray_scan::{Engine, Event, PendingHost, Progress, ScanConfig, Seed};
use mxray_store::{Item, ScanId, Store};
use std::collections::HashSet;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Where domains come from.
#[derive(Debug)]
pub enum Source {
    /// A file path, or "-" for stdin.
    Lines(String),
    /// One domain (`check`).
    One(Domain),
}

/// What a finished scan left behind.
#[derive(Debug)]
pub struct Outcome {
    pub store: Store,
    pub scan: ScanId,
    pub input_errors: u64,
    pub duplicates: u64,
    /// Stage timings, milliseconds: discovery, host probes (from the start), whole run.
    pub timings: (u64, u64, u64),
}

/// Longest input line read; longer lines are reported as invalid, not buffered.
const MAX_INPUT_LINE: u64 = 4096;

/// Reads lines on a blocking thread: domains go to the engine (bounded channel, so a huge
/// list is never held in memory), bad lines to the writer.
pub(crate) fn spawn_reader(
    path: String,
    skip: Arc<HashSet<String>>,
    shard: Option<Shard>,
    domains: mpsc::Sender<Domain>,
    errors: mpsc::UnboundedSender<InputError>,
    duplicates: Arc<AtomicU64>,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    let reader: Box<dyn BufRead + Send> = if path == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(&path)
            .with_context(|| format!("cannot read domain list {path}"))?;
        Box::new(std::io::BufReader::with_capacity(64 * 1024, f))
    };
    Ok(std::thread::spawn(move || {
        let mut reader = reader;
        let mut list = DomainList::new();
        let mut raw = Vec::new();
        loop {
            raw.clear();
            let n = std::io::Read::take(&mut reader, MAX_INPUT_LINE)
                .read_until(b'\n', &mut raw)
                .with_context(|| format!("reading {path}"))?;
            if n == 0 {
                return Ok(());
            }
            if !raw.ends_with(b"\n") && n as u64 == MAX_INPUT_LINE {
                // Skip the rest of an over-long line.
                let mut sink = Vec::new();
                loop {
                    sink.clear();
                    let m = std::io::Read::take(&mut reader, MAX_INPUT_LINE)
                        .read_until(b'\n', &mut sink)?;
                    if m == 0 || sink.ends_with(b"\n") {
                        break;
                    }
                }
            }
            let text = String::from_utf8_lossy(&raw);
            match list.push(text.trim_end_matches(['\n', '\r'])) {
                Line::Nothing => {}
                Line::Duplicate(_) => {
                    duplicates.fetch_add(1, Ordering::Relaxed);
                }
                Line::Domain(d) if skip.contains(d.as_str()) => {}
                Line::Domain(d) if shard.is_some_and(|s| !s.contains(&d)) => {}
                Line::Domain(d) => {
                    if domains.blocking_send(d).is_err() {
                        return Ok(());
                    }
                }
                Line::Invalid(e) => {
                    let _ = errors.send(e);
                }
            }
        }
    }))
}

/// Counts the domain lines of a file for the progress bar's ETA (cheap next to scanning).
fn count_lines(path: &str) -> Option<u64> {
    // Only regular files can be read twice; a pipe (stdin, /dev/stdin, <(…)) is read once.
    if path == "-" || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let mut f = std::fs::File::open(path).ok()?;
    // Fixed-size chunks, never whole lines: a file that is one 1 GB line costs 64 KiB.
    let mut counter = mxray_core::target::LineCounter::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match std::io::Read::read(&mut f, &mut buf) {
            Ok(0) => return Some(counter.finish()),
            Ok(n) => counter.feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// The resolver, checked to answer before anything is stored.
pub(crate) async fn resolver(
    cfg: &ScanConfig,
    resolver: Option<std::net::SocketAddr>,
) -> anyhow::Result<Dns> {
    let mut dns = Dns::new(
        resolver,
        cfg.limits.step_timeout.min(Duration::from_secs(5)),
    )?
    .with_exclusions(cfg.policy.exclusions.clone());
    if let Some(anchors) = &cfg.trust_anchors {
        dns = dns.with_trust_anchors(anchors.clone());
    }

    if let Err(e) = dns.preflight().await {
        let who = resolver.map_or_else(|| "the system resolver".to_owned(), |r| r.to_string());
        anyhow::bail!("DNS resolver {who} does not answer ({e}); check --resolver");
    }
    Ok(dns)
}

/// Runs a whole scan and stores it. With `shard`, only the domains of that shard.
#[allow(clippy::too_many_arguments)]
pub async fn scan(
    cfg: ScanConfig,
    resolver_addr: Option<std::net::SocketAddr>,
    db: &std::path::Path,
    params: serde_json::Value,
    source: Source,
    quiet: bool,
    resume: bool,
    shard: Option<Shard>,
) -> anyhow::Result<Outcome> {
    let quiet = quiet || crate::quiet();
    let run_started = std::time::Instant::now();
    // The input must open before a scan row exists: a typo in the file name must not leave
    // a `running` scan behind for a later --resume to pick up.
    if let Source::Lines(p) = &source
        && p != "-"
    {
        std::fs::File::open(p).with_context(|| format!("cannot read domain list {p}"))?;
    }
    let dns = resolver(&cfg, resolver_addr).await?;
    let store = Store::open(db).await?;
    let software = crate::software::SoftwareCx::load(&store, &params).await?;
    let (scan, skip, seed) = if resume {
        let Some(info) = store.unfinished_scan().await? else {
            anyhow::bail!(
                "{} holds no unfinished scan to resume; run without --resume",
                mxray_store::redact(&db.to_string_lossy())
            );
        };
        if info.params.get("input") != params.get("input") {
            eprintln!(
                "mxray: warning: resuming scan {} whose input was {}, with {}",
                info.id,
                info.params.get("input").cloned().unwrap_or_default(),
                params.get("input").cloned().unwrap_or_default()
            );
        }
        // One process per running scan: a scan another live process runs is refused, the
        // lock of a dead one (kill -9, crash) is taken over.
        if let mxray_store::lock::Locked::TookOver(old) = store.lock_scan(info.id).await?
            && !quiet
        {
            eprintln!(
                "mxray: scan {} was locked by process {} on {}, which is gone; taking it over",
                info.id, old.pid, old.host
            );
        }
        store.reopen_scan(info.id).await?;
        let skip = store.done_domains(info.id).await?;
        let seed = Seed {
            probed: store.done_hosts(info.id).await?,
            pending: store
                .pending_hosts(info.id)
                .await?
                .into_iter()
                .map(|(ip, roles, domain, name)| PendingHost {
                    ip,
                    names: vec![name],
                    domain,
                    roles,
                })
                .collect(),
            gate: None,
        };
        if !quiet {
            eprintln!(
                "mxray: resuming scan {}: {} domains and {} hosts already stored, {} hosts pending",
                info.id,
                skip.len(),
                seed.probed.len(),
                seed.pending.len()
            );
        }
        (info.id, skip, seed)
    } else {
        let scan = store.begin_scan(&params).await?;
        store.lock_scan(scan).await?;
        (scan, HashSet::new(), Seed::default())
    };
    let heartbeat = tokio::spawn({
        let store = store.clone();
        async move {
            let mut tick = tokio::time::interval(mxray_store::lock::HEARTBEAT);
            loop {
                tick.tick().await;
                // A failed renewal is retried at the next tick; the writer reports store
                // errors that matter.
                let _ = store.heartbeat_scan(scan).await;
            }
        }
    });
    let result = scan_locked(
        cfg,
        dns,
        &store,
        &software,
        scan,
        skip,
        seed,
        source,
        quiet,
        shard,
        run_started,
    )
    .await;
    heartbeat.abort();
    let _ = store.unlock_scan(scan).await;
    let (input_errors, duplicates, timings) = result?;
    Ok(Outcome {
        store,
        scan,
        input_errors,
        duplicates,
        timings,
    })
}

/// The scan proper, once its row exists and this process holds its lock.
#[allow(clippy::too_many_arguments)]
async fn scan_locked(
    cfg: ScanConfig,
    dns: Dns,
    store: &Store,
    software: &crate::software::SoftwareCx,
    scan: ScanId,
    skip: HashSet<String>,
    seed: Seed,
    source: Source,
    quiet: bool,
    shard: Option<Shard>,
    run_started: std::time::Instant,
) -> anyhow::Result<(u64, u64, (u64, u64, u64))> {
    let skip = Arc::new(skip);
    let (dom_tx, dom_rx) = mpsc::channel::<Domain>(1024);
    let (err_tx, err_rx) = mpsc::unbounded_channel::<InputError>();
    let duplicates = Arc::new(AtomicU64::new(0));
    let total = match &source {
        Source::Lines(p) => count_lines(p).map(|n| shard.map_or(n, |s| n.div_ceil(s.n))),
        Source::One(_) => Some(1),
    };
    let reader = match source {
        Source::Lines(path) => match spawn_reader(
            path,
            skip.clone(),
            shard,
            dom_tx,
            err_tx,
            duplicates.clone(),
        ) {
            Ok(r) => Some(r),
            Err(e) => {
                // Opened a moment ago, gone now: this scan never started.
                let _ = store.finish_scan(scan, "failed").await;
                return Err(e);
            }
        },
        Source::One(d) => {
            dom_tx.send(d).await.ok();
            drop(dom_tx);
            drop(err_tx);
            None
        }
    };
    let progress = Arc::new(Progress::default());
    let reporter = Reporter::start(progress.clone(), total, quiet);
    let engine = Engine::new(cfg, dns);
    let (ev_tx, ev_rx) = mpsc::channel::<Event>(1024);
    let domains =
        futures::stream::unfold(
            dom_rx,
            |mut rx| async move { rx.recv().await.map(|d| (d, rx)) },
        );
    let run = tokio::spawn({
        let progress = progress.clone();
        async move { engine.resume(domains.boxed(), ev_tx, progress, seed).await }
    });

    let mut input_errors = 0u64;
    let ended = commit_events(
        store,
        scan,
        None,
        software,
        ev_rx,
        Some(err_rx),
        &reporter,
        &mut input_errors,
    )
    .await;
    reporter.finish();
    match ended {
        Ended::Finished => {}
        Ended::Interrupted(signal) => {
            run.abort();
            store.finish_scan(scan, "interrupted").await?;
            return Err(Interrupted {
                signal,
                message: format!("scan {scan} keeps what was stored; continue it with --resume"),
            }
            .into());
        }
        Ended::Failed(e) => {
            run.abort();
            let _ = store.finish_scan(scan, "interrupted").await;
            return Err(e.context(format!(
                "scan {scan} stopped; everything written before this point is kept"
            )));
        }
    }
    run.await.context("scan engine failed")?;
    if let Some(r) = reader {
        r.join()
            .map_err(|_| anyhow::anyhow!("input reader crashed"))??;
    }
    store.finish_scan(scan, "finished").await?;
    let timings = (
        progress.discovery_ms.load(Ordering::Relaxed),
        progress.hosts_ms.load(Ordering::Relaxed),
        run_started.elapsed().as_millis() as u64,
    );
    Ok((input_errors, duplicates.load(Ordering::Relaxed), timings))
}

/// The signal that stopped a scan.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`kill`, service managers, container stops).
    Terminate,
}

impl Signal {
    /// 128 + the signal number, what shells report for a process the signal killed.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

/// A scan or worker stopped by a signal after committing what it had: `main` exits with
/// the signal's status.
#[derive(Debug)]
pub(crate) struct Interrupted {
    /// Which signal.
    pub signal: Signal,
    /// What was kept and how to continue.
    pub message: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.signal {
            Signal::Interrupt => "interrupted",
            Signal::Terminate => "terminated (SIGTERM)",
        };
        write!(f, "{name}; {}", self.message)
    }
}

impl std::error::Error for Interrupted {}

/// Resolves at the first SIGINT or SIGTERM: both stop a scan the same way.
pub(crate) async fn stop_signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => Signal::Interrupt,
            _ = term.recv() => Signal::Terminate,
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}

/// How a run of the commit loop ended.
pub(crate) enum Ended {
    /// The engine and the input are done; everything is stored.
    Finished,
    /// SIGINT or SIGTERM: what was committed stays.
    Interrupted(Signal),
    /// The store refused a write (disk full, locked): what was committed before stays.
    Failed(anyhow::Error),
}

/// Turns engine events into findings and stores them in batches (one transaction each, at
/// most 256 items or 250 ms apart). With `worker`, each batch also commits the survey
/// claims of what it holds.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn commit_events(
    store: &Store,
    scan: ScanId,
    worker: Option<&str>,
    software: &crate::software::SoftwareCx,
    mut ev_rx: mpsc::Receiver<Event>,
    err_rx: Option<mpsc::UnboundedReceiver<InputError>>,
    reporter: &Reporter,
    input_errors: &mut u64,
) -> Ended {
    let clock = Clock {
        now: mxray_store::now(),
    };
    let mut batch: Vec<Item> = Vec::with_capacity(256);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut events_open = true;
    let mut errors_open = err_rx.is_some();
    let (_keep, mut err_rx) = match err_rx {
        Some(rx) => (None, rx),
        None => {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), rx)
        }
    };
    let mut last_flush = tokio::time::Instant::now();
    let mut interrupted = None;
    let stop = stop_signal();
    tokio::pin!(stop);
    while events_open || errors_open {
        tokio::select! {
            ev = ev_rx.recv(), if events_open => match ev {
                Some(Event::Domain { obs, probed }) => {
                    let findings = checks::domain(&obs);
                    batch.push(Item::Domain { obs, ips: probed, findings });
                }
                Some(Event::Excluded(d)) => batch.push(Item::Excluded(d.to_string())),
                Some(Event::Host(obs)) => {
                    let mut findings = checks::host(&obs, clock);
                    let (fingerprint, more) = software.host(&obs);
                    findings.extend(more);
                    batch.push(Item::Host { obs, findings });
                    batch.push(fingerprint);
                }
                None => events_open = false,
            },
            e = err_rx.recv(), if errors_open => match e {
                Some(e) => {
                    *input_errors += 1;
                    reporter.warn(&e.to_string());
                    batch.push(Item::InputError(e));
                }
                None => errors_open = false,
            },
            _ = tick.tick() => {}
            signal = &mut stop, if interrupted.is_none() => {
                // Stop taking events; the batch in hand is still committed below.
                interrupted = Some(signal);
                events_open = false;
                errors_open = false;
            }
        }
        let due = last_flush.elapsed() >= Duration::from_millis(250);
        if batch.len() >= 256 || (!batch.is_empty() && due) || (!events_open && !errors_open) {
            last_flush = tokio::time::Instant::now();
            let written = match worker {
                None => store.write(scan, &batch).await,
                Some(w) => store.write_claimed(scan, w, &batch).await.map(|_| ()),
            };
            if let Err(e) = written {
                return Ended::Failed(e.into());
            }
            batch.clear();
        }
    }
    match interrupted {
        Some(signal) => Ended::Interrupted(signal),
        None => Ended::Finished,
    }
}
