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
    /// One domain (`check`).
    One(Domain),
    /// A file path (or "-") read as `TextFormat` says.
    Text(String, TextFormat),
    /// A file of IP addresses and CIDR blocks probed directly as mail hosts, expanding to at
    /// most this many addresses.
    Hosts(String, u64),
}

/// How a domain list's text is read.
#[derive(Clone, Debug)]
pub enum TextFormat {
    /// A zone file if it starts like one, else [`TextFormat::Lines`].
    Auto,
    /// One domain per line, or a ranked list.
    Lines,
    /// A CSV file's domain column.
    Csv(mxray_core::inputs::Column),
    /// A zone file's delegated names.
    Zone,
}

/// The reader state of one text format.
enum Reader {
    Lines(DomainList),
    Csv(mxray_core::inputs::CsvList),
    Zone(mxray_core::inputs::ZoneList),
}

impl Source {
    /// The file read, if any.
    fn path(&self) -> Option<&str> {
        match self {
            Self::Text(p, _) | Self::Hosts(p, _) => Some(p),
            Self::One(_) => None,
        }
    }
}

/// What a finished scan left behind.
#[derive(Debug)]
pub struct Outcome {
    pub store: Store,
    pub scan: ScanId,
    pub input_errors: u64,
    pub duplicates: u64,
    /// Addresses of a `--hosts` file: probed, and excluded (never contacted).
    pub hosts_listed: u64,
    pub hosts_excluded: u64,
    /// The questions each resolver got.
    pub resolvers: Vec<mxray_scan::resolve::ResolverCount>,
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
    spawn_reader_as(
        path,
        TextFormat::Lines,
        skip,
        shard,
        domains,
        errors,
        duplicates,
    )
}

/// [`spawn_reader`] for a text format.
pub(crate) fn spawn_reader_as(
    path: String,
    format: TextFormat,
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
        let mut list = match format {
            TextFormat::Csv(c) => Reader::Csv(mxray_core::inputs::CsvList::new(c)),
            TextFormat::Zone => Reader::Zone(mxray_core::inputs::ZoneList::new()),
            TextFormat::Lines => Reader::Lines(DomainList::new()),
            TextFormat::Auto => {
                // The buffer's first fill, not consumed: works on pipes too.
                let head = reader
                    .fill_buf()
                    .with_context(|| format!("reading {path}"))?;
                if mxray_core::inputs::looks_like_zone(head) {
                    tracing::info!(input = %path, "reading a zone file (it starts with $ORIGIN, $TTL or SOA)");
                    Reader::Zone(mxray_core::inputs::ZoneList::new())
                } else {
                    Reader::Lines(DomainList::new())
                }
            }
        };
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
            let text = text.trim_end_matches(['\n', '\r']);
            let line = match &mut list {
                Reader::Lines(l) => l.push(text),
                Reader::Csv(c) => c
                    .push(text)
                    .map_err(|e| anyhow::anyhow!("{path}: {e}; see --column"))?,
                Reader::Zone(z) => z.push(text),
            };
            match line {
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
    resolver: &[std::net::SocketAddr],
) -> anyhow::Result<Dns> {
    let mut dns = Dns::with_servers(
        resolver,
        cfg.limits.step_timeout.min(Duration::from_secs(5)),
    )?
    .with_exclusions(cfg.policy.exclusions.clone());
    if let Some(anchors) = &cfg.trust_anchors {
        dns = dns.with_trust_anchors(anchors.clone());
    }

    if resolver.len() > 1 {
        // Each resolver on its own: the scan goes on when at least one answers, the others
        // are named (their questions fail over to the ones that answer).
        let mut dead = Vec::new();
        for addr in resolver {
            let one = Dns::new(
                Some(*addr),
                cfg.limits.step_timeout.min(Duration::from_secs(5)),
            )?;
            if let Err(e) = one.preflight().await {
                dead.push(format!("{addr} ({e})"));
            }
        }
        if dead.len() == resolver.len() {
            anyhow::bail!(
                "no DNS resolver answers: {}; check --resolver",
                dead.join(", ")
            );
        }
        for d in &dead {
            eprintln!(
                "mxray: warning: DNS resolver {d} does not answer; its share goes to the others"
            );
        }
        return Ok(dns);
    }
    if let Err(e) = dns.preflight().await {
        let who = if resolver.is_empty() {
            "the system resolver".to_owned()
        } else {
            resolver
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        anyhow::bail!("DNS resolver {who} does not answer ({e}); check --resolver");
    }
    Ok(dns)
}

/// Runs a whole scan and stores it. With `shard`, only the domains of that shard.
#[allow(clippy::too_many_arguments)]
pub async fn scan(
    cfg: ScanConfig,
    resolver_addr: Vec<std::net::SocketAddr>,
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
    if let Some(p) = source.path()
        && p != "-"
    {
        std::fs::File::open(p).with_context(|| format!("cannot read domain list {p}"))?;
    }
    if let Source::Text(p, TextFormat::Csv(c)) = &source
        && p != "-"
    {
        check_csv_header(p, c)?;
    }
    // A hosts file is read whole before anything is stored or contacted: its size cap is
    // checked first.
    let hosts = match &source {
        Source::Hosts(p, max) => Some(read_hosts(p, *max, &cfg.policy.exclusions)?),
        _ => None,
    };
    let dns = resolver(&cfg, &resolver_addr).await?;
    let resolver_pool = dns.clone();
    let store = Store::open(db).await?;
    let software = crate::software::SoftwareCx::load(&store, &params).await?;
    let (scan, skip, mut seed) = if resume {
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
    let (mut hosts_listed, mut hosts_excluded, mut host_errors) = (0, 0, Vec::new());
    if let Some(h) = hosts {
        hosts_listed = h.addresses.len() as u64;
        hosts_excluded = h.excluded;
        host_errors = h.errors;
        for ip in h.addresses {
            if seed.probed.contains_key(&ip) {
                continue;
            }
            seed.pending.push(PendingHost {
                ip,
                names: Vec::new(),
                domain: String::new(),
                roles: mxray_core::model::role_mask::MX,
            });
        }
    }
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
        host_errors,
    )
    .await;
    heartbeat.abort();
    let _ = store.unlock_scan(scan).await;
    let (input_errors, duplicates, timings) = result?;
    let resolvers = resolver_pool.resolver_counts();
    for r in &resolvers {
        tracing::info!(resolver = %r.addr, questions = r.questions, timeouts = r.timeouts, "resolver load");
    }
    Ok(Outcome {
        store,
        scan,
        input_errors,
        duplicates,
        hosts_listed,
        hosts_excluded,
        resolvers,
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
    host_errors: Vec<InputError>,
) -> anyhow::Result<(u64, u64, (u64, u64, u64))> {
    let skip = Arc::new(skip);
    let (dom_tx, dom_rx) = mpsc::channel::<Domain>(1024);
    let (err_tx, err_rx) = mpsc::unbounded_channel::<InputError>();
    let duplicates = Arc::new(AtomicU64::new(0));
    let total = match &source {
        Source::Text(p, _) => count_lines(p).map(|n| shard.map_or(n, |s| n.div_ceil(s.n))),
        Source::One(_) => Some(1),
        Source::Hosts(..) => None,
    };
    let reader = match source {
        Source::Text(path, format) => match spawn_reader_as(
            path,
            format,
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
        Source::Hosts(..) => {
            // No domains: the addresses are the seed's pending hosts.
            drop(dom_tx);
            for e in host_errors {
                let _ = err_tx.send(e);
            }
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
        let read = r
            .join()
            .map_err(|_| anyhow::anyhow!("input reader crashed"))
            .and_then(|r| r);
        if let Err(e) = read {
            let _ = store.finish_scan(scan, "failed").await;
            return Err(e);
        }
    }
    store.finish_scan(scan, "finished").await?;
    let timings = (
        progress.discovery_ms.load(Ordering::Relaxed),
        progress.hosts_ms.load(Ordering::Relaxed),
        run_started.elapsed().as_millis() as u64,
    );
    Ok((input_errors, duplicates.load(Ordering::Relaxed), timings))
}

/// Refuses a CSV file whose header lacks the named column before anything is stored.
fn check_csv_header(path: &str, column: &mxray_core::inputs::Column) -> anyhow::Result<()> {
    if !matches!(column, mxray_core::inputs::Column::Name(_)) {
        return Ok(());
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot read domain list {path}"))?;
    let mut csv = mxray_core::inputs::CsvList::new(column.clone());
    let mut reader = std::io::BufReader::new(std::io::Read::take(f, 64 * 1024));
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        csv.push(&line)
            .map_err(|e| anyhow::anyhow!("{path}: {e}; see --column"))?;
        if !line.trim().is_empty() {
            break;
        }
        line.clear();
    }
    Ok(())
}

/// A `--hosts` file, read.
struct Hosts {
    /// The addresses to probe, each once, in file order.
    addresses: Vec<std::net::IpAddr>,
    /// Addresses on the exclusion list (never contacted).
    excluded: u64,
    /// Lines that are not an address or a block.
    errors: Vec<InputError>,
}

/// Reads a hosts file: addresses and CIDR blocks, at most `max` addresses in all; a larger
/// block or total is an operator error before anything is contacted.
fn read_hosts(
    path: &str,
    max: u64,
    exclusions: &mxray_core::target::Exclusions,
) -> anyhow::Result<Hosts> {
    use mxray_core::inputs::{HostLine, host_count, host_line, hosts};
    let reader: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read hosts file {path}"))?,
        ))
    };
    let mut out = Hosts {
        addresses: Vec::new(),
        excluded: 0,
        errors: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut total: u128 = 0;
    let mut raw = Vec::new();
    let mut reader = reader;
    let mut n = 0u64;
    loop {
        raw.clear();
        let got = std::io::Read::take(&mut reader, MAX_INPUT_LINE)
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("reading {path}"))?;
        if got == 0 {
            break;
        }
        n += 1;
        let text = String::from_utf8_lossy(&raw);
        match host_line(n, text.trim_end_matches(['\n', '\r'])) {
            HostLine::Nothing => {}
            HostLine::Invalid(e) => out.errors.push(e),
            HostLine::Net(net) => {
                let count = host_count(&net);
                total = total.saturating_add(count);
                if count > u128::from(max) || total > u128::from(max) {
                    anyhow::bail!(
                        "{path} line {n}: {net} brings the addresses to probe to {} or more, over --max-hosts {max} (a /16 by default); nothing was contacted. Split the range or raise --max-hosts",
                        total.max(count)
                    );
                }
                for ip in hosts(&net) {
                    if exclusions.excludes_ip(ip) {
                        out.excluded += 1;
                    } else if seen.insert(ip) {
                        out.addresses.push(ip);
                    }
                }
            }
        }
    }
    if out.addresses.is_empty() && out.excluded == 0 {
        let first: Vec<String> = out.errors.iter().take(3).map(ToString::to_string).collect();
        anyhow::bail!(
            "{path} lists no IP address or CIDR block{}",
            if first.is_empty() {
                String::new()
            } else {
                format!(" ({})", first.join("; "))
            }
        );
    }
    Ok(out)
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
