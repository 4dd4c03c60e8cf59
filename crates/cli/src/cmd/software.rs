//! `mxray advisories`, `mxray affected`, `mxray alerts` and `mxray stats --unknown-banners`:
//! answers from stored fingerprints, without scanning again.

use crate::args::CheckFormat;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use mxray_core::advisory;
use mxray_core::sanitize::for_terminal;
use mxray_store::{Store, StoredMatch};
use std::path::{Path, PathBuf};

/// Appends a line to the output buffer (written at the end with [`emit`]).
macro_rules! say {
    ($out:ident, $($t:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($t)*);
    }};
}

/// Writes the output; a closed pipe (`| head`) is not an error.
fn emit(out: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::from(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

#[derive(Debug, Subcommand)]
pub enum AdvisoriesAction {
    /// Import advisories from a file or a directory of files — NVD CVE API 2.0 JSON (streamed),
    /// OSV JSON, CISA's KEV catalogue, or mxray's TOML format; `.gz` accepted — then match them
    /// against every stored scan.
    Import {
        /// A .json / .json.gz / .toml file, or a directory holding such files.
        path: PathBuf,
        #[command(flatten)]
        db: crate::args::Db,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// List stored advisories.
    List {
        /// Only this product (e.g. bind, exim, openssh).
        #[arg(long)]
        product: Option<String>,
        #[command(flatten)]
        db: crate::args::Db,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
}

#[derive(Debug, Args)]
pub struct AffectedArgs {
    /// Advisory id or alias (e.g. CVE-2023-50387).
    pub id: String,
    /// Scan id (default: the newest).
    #[arg(long)]
    pub scan: Option<i64>,
    #[command(flatten)]
    pub db: crate::args::Db,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub db: crate::args::Db,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
    /// Exit 1 when a new match is at least this severe (for cron: mail on a non-zero exit).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<mxray_core::Severity>,
}

#[derive(Debug, Args)]
pub struct SoftwareArgs {
    /// Scan id (default: the newest).
    #[arg(long)]
    pub scan: Option<i64>,
    #[command(flatten)]
    pub db: crate::args::Db,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Banners no signature recognised, verbatim, with how many hosts sent each.
    #[arg(long)]
    pub unknown_banners: bool,
    /// Scan id (default: every scan).
    #[arg(long)]
    pub scan: Option<i64>,
    #[command(flatten)]
    pub db: crate::args::Db,
}

/// Files to import: the path itself, or the .json/.json.gz/.toml files of a directory (sorted).
fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read directory {}", path.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy().to_ascii_lowercase();
                    n.ends_with(".json") || n.ends_with(".toml") || n.ends_with(".json.gz")
                })
        })
        .collect();
    out.sort();
    if out.is_empty() {
        bail!("{} holds no .json, .json.gz or .toml files", path.display());
    }
    Ok(out)
}

pub async fn advisories(action: AdvisoriesAction) -> anyhow::Result<u8> {
    let mut out = String::new();
    match action {
        AdvisoriesAction::Import { path, db, format } => {
            let files = files(&path)?;
            let store = Store::open(&db).await?;
            crate::software::advisories(&store).await?;
            let (mut total, mut new, mut kev_entries, mut kev_flagged) = (0, 0, None, 0);
            let mut skipped = 0;
            let sigs = mxray_core::fingerprint::Signatures::builtin();
            let known: std::collections::HashSet<&str> =
                sigs.signatures.iter().map(|s| s.product.as_str()).collect();
            for f in &files {
                let origin = f.display().to_string();
                let (format, reader) = open_feed(f)?;
                match format {
                    advisory::Format::Nvd => {
                        let (t, n) = import_nvd(&store, reader, &origin).await?;
                        total += t;
                        new += n;
                    }
                    advisory::Format::Kev => {
                        let text = read_capped(reader, f)?;
                        let (_, entries) = advisory::kev::parse(&text)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                        kev_flagged = store.import_known_exploited(&entries).await?;
                        kev_entries = Some(entries.len());
                    }
                    advisory::Format::Osv | advisory::Format::Native => {
                        let text = read_capped(reader, f)?;
                        let mut list = advisory::parse_any(&text)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                        if format == advisory::Format::Osv {
                            // A distribution's bulk export covers every package: keep the
                            // products mxray can fingerprint.
                            let before = list.len();
                            list.retain(|a| known.contains(a.product.as_str()));
                            skipped += before - list.len();
                        }
                        total += list.len();
                        new += store.import_advisories(&list, &origin).await?;
                    }
                }
            }
            // A KEV catalogue alone changes no match (its flags are read with the matches).
            let matches = if total > 0 {
                let all = store.advisories().await?;
                crate::software::rematch(&store, &all).await?
            } else {
                0
            };
            if let CheckFormat::Json = format {
                let v = serde_json::json!({
                    "imported": total,
                    "new": new,
                    "files": files.len(),
                    "new_matches": matches,
                    "skipped_osv": skipped,
                    "known_exploited": kev_entries.map(|n| serde_json::json!({
                        "catalogue_entries": n,
                        "stored_flagged": kev_flagged,
                    })),
                });
                say!(out, "{}", serde_json::to_string_pretty(&v)?);
                emit(&out)?;
                store.close().await;
                return Ok(0);
            }
            say!(
                out,
                "imported {total} advisories ({new} new) from {} file(s); {matches} new match(es) with stored scans{}",
                files.len(),
                if matches > 0 {
                    " (see `mxray alerts`)"
                } else {
                    ""
                }
            );
            if skipped > 0 {
                say!(
                    out,
                    "skipped {skipped} OSV record(s) about packages mxray does not fingerprint"
                );
            }
            if let Some(n) = kev_entries {
                say!(
                    out,
                    "known exploited: {n} CVE(s) in the catalogue, {kev_flagged} stored advisory(ies) among them"
                );
            }
            emit(&out)?;
            store.close().await;
            Ok(0)
        }
        AdvisoriesAction::List {
            product,
            db,
            format,
        } => {
            let store = Store::open(&db).await?;
            let all = crate::software::advisories(&store).await?;
            let chosen = all.iter().filter(|a| {
                product
                    .as_ref()
                    .is_none_or(|p| a.product.eq_ignore_ascii_case(p))
            });
            if let CheckFormat::Json = format {
                let list: Vec<&advisory::Advisory> = chosen.collect();
                say!(out, "{}", serde_json::to_string_pretty(&list)?);
                emit(&out)?;
                store.close().await;
                return Ok(0);
            }
            for a in chosen {
                let ranges: Vec<String> = a
                    .affected
                    .iter()
                    .map(|r| {
                        format!(
                            "{}..{}",
                            r.introduced.as_deref().unwrap_or("0"),
                            r.fixed
                                .as_deref()
                                .map(|f| format!("<{f}"))
                                .or_else(|| r.last_affected.as_deref().map(|l| format!("={l}")))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                let product = match &a.ecosystem {
                    Some(e) => format!("{} ({e})", a.product),
                    None => a.product.clone(),
                };
                say!(
                    out,
                    "{:<16} {:<8} {:<9} {}  [{}]  {}",
                    for_terminal(&a.id),
                    for_terminal(&product),
                    a.severity.as_str(),
                    for_terminal(&a.summary),
                    for_terminal(&ranges.join(", ")),
                    for_terminal(a.references.first().map_or("", String::as_str)),
                );
            }
            emit(&out)?;
            store.close().await;
            Ok(0)
        }
    }
}

/// Largest OSV / TOML / KEV file read into memory (NVD files are streamed instead).
const MAX_FEED_FILE: u64 = 256 << 20;

/// Opens a feed file (gzip when it starts with gzip's magic bytes) and tells its format from
/// its first bytes; the reader still yields the whole content.
fn open_feed(f: &Path) -> anyhow::Result<(advisory::Format, Box<dyn std::io::Read + Send>)> {
    use std::io::{BufRead, BufReader, Read};
    let file = std::fs::File::open(f).with_context(|| format!("cannot read {}", f.display()))?;
    let mut raw = BufReader::new(file);
    let gz = raw
        .fill_buf()
        .with_context(|| format!("cannot read {}", f.display()))?
        .starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read + Send> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut head = Vec::new();
    (&mut reader)
        .take(4096)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {} (corrupt gzip?)", f.display()))?;
    let text = String::from_utf8_lossy(&head);
    let format = advisory::sniff(&text);
    Ok((
        format,
        Box::new(std::io::Cursor::new(head).chain(BufReader::new(reader))),
    ))
}

fn read_capped(reader: Box<dyn std::io::Read + Send>, f: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    reader
        .take(MAX_FEED_FILE + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} (not UTF-8, or corrupt gzip?)", f.display()))?;
    if text.len() as u64 > MAX_FEED_FILE {
        bail!(
            "{}: larger than {} MiB; split it, or use NVD's format, which is streamed",
            f.display(),
            MAX_FEED_FILE >> 20
        );
    }
    Ok(text)
}

/// Streams an NVD file: a blocking thread parses one CVE at a time and hands batches to the
/// store through a bounded channel, so memory stays that of a few batches whatever the file.
/// Returns `(advisories, new ones)`.
async fn import_nvd(
    store: &Store,
    reader: Box<dyn std::io::Read + Send>,
    origin: &str,
) -> anyhow::Result<(usize, usize)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<advisory::Advisory>>(2);
    let parser = tokio::task::spawn_blocking(move || {
        advisory::nvd::stream(reader, 500, &mut |batch| {
            tx.blocking_send(batch)
                .map_err(|_| "the database side stopped".to_owned())
        })
    });
    let (mut total, mut new) = (0, 0);
    let mut failed = None;
    while let Some(batch) = rx.recv().await {
        total += batch.len();
        match store
            .import_advisories(&batch, &format!("nvd:{origin}"))
            .await
        {
            Ok(n) => new += n,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(rx);
    let parsed = parser.await.context("the NVD reader panicked")?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    parsed.map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    Ok((total, new))
}

/// The host's provider: the scan's attribution (AS data, else its PTR / MX-name guess), else
/// the registrable part (last two labels) of the host's PTR name, or of the domains' names.
fn provider(m: &StoredMatch) -> Option<String> {
    if let Some(p) = &m.provider {
        return Some(p.clone());
    }
    let name = m.ptr.first().or_else(|| m.domains.first())?;
    let labels: Vec<&str> = name.trim_end_matches('.').rsplit('.').take(2).collect();
    (labels.len() == 2).then(|| format!("{}.{}", labels[1], labels[0]).to_ascii_lowercase())
}

fn json(m: &StoredMatch) -> serde_json::Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    v["provider"] = provider(m).into();
    v
}

/// Domains named on one text line (`--format json` lists them all).
const MAX_LINE_DOMAINS: usize = 5;

fn line(m: &StoredMatch) -> String {
    let what = advisory::MatchStatus::parse(&m.status)
        .map_or("possibly affected (distribution build)", |s| s.describe());
    let mut version = m.version.clone();
    if let Some(b) = &m.build {
        version.push_str(&format!(" ({b})"));
    }
    if let Some(p) = &m.package {
        version.push_str(&format!(" [{p}]"));
    }
    let host = std::net::SocketAddr::new(
        m.ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        m.port,
    );
    for_terminal(&format!(
        "{}{:<8} {:<16} {} {} on {host}: {what}; scan {}; domains: {}; provider: {}",
        if m.known_exploited {
            "KNOWN EXPLOITED "
        } else {
            ""
        },
        m.severity.as_str(),
        m.advisory,
        m.product,
        version,
        m.scan,
        match m.domains.len() {
            0 => "-".to_owned(),
            n if n > MAX_LINE_DOMAINS => format!(
                "{} and {} more",
                m.domains[..MAX_LINE_DOMAINS].join(", "),
                n - MAX_LINE_DOMAINS
            ),
            _ => m.domains.join(", "),
        },
        provider(m).unwrap_or_else(|| "-".into()),
    ))
}

pub async fn affected(a: AffectedArgs) -> anyhow::Result<u8> {
    let mut out = String::new();
    let store = Store::open(&a.db).await?;
    let scan = store.scan(a.scan).await?;
    // Through the id index: no pass over every stored advisory or match.
    crate::software::ensure_builtin(&store).await?;
    if store.advisory_ids_for(&a.id).await?.is_empty() {
        bail!(
            "no advisory {} in {}; import it with `mxray advisories import`",
            for_terminal(&a.id),
            a.db.display()
        );
    }
    let rows = store.affected(scan.id, &a.id).await?;
    let (hit, fixed): (Vec<&StoredMatch>, Vec<&StoredMatch>) =
        rows.iter().partition(|m| m.status != "fixed");
    let table = by_provider(&hit);
    match a.format {
        CheckFormat::Json => {
            let mut domains: Vec<&str> = hit
                .iter()
                .flat_map(|m| m.domains.iter().map(String::as_str))
                .collect();
            domains.sort_unstable();
            domains.dedup();
            let mut providers: Vec<String> = hit.iter().filter_map(|m| provider(m)).collect();
            providers.sort();
            providers.dedup();
            let v = serde_json::json!({
                "advisory": a.id,
                "scan": scan.id,
                "hosts": hit.iter().map(|m| json(m)).collect::<Vec<_>>(),
                "domains": domains,
                "providers": providers,
                "by_provider": table.iter().map(|r| serde_json::json!({
                    "provider": r.provider, "hosts": r.hosts, "domains": r.domains,
                    "affected": r.affected, "possibly_affected": r.possibly,
                    "known_exploited": r.known_exploited,
                })).collect::<Vec<_>>(),
                "fixed": fixed.iter().map(|m| json(m)).collect::<Vec<_>>(),
            });
            say!(out, "{}", serde_json::to_string_pretty(&v)?);
        }
        CheckFormat::Text => {
            let hosts: std::collections::BTreeSet<&str> =
                hit.iter().map(|m| m.ip.as_str()).collect();
            let domains: std::collections::BTreeSet<&str> = hit
                .iter()
                .flat_map(|m| m.domains.iter().map(String::as_str))
                .collect();
            say!(
                out,
                "{}: {} host(s), {} domain(s) in scan {}{}",
                for_terminal(&a.id),
                hosts.len(),
                domains.len(),
                scan.id,
                if fixed.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} host(s) fixed by their distribution's backport",
                        fixed
                            .iter()
                            .map(|m| m.ip.as_str())
                            .collect::<std::collections::BTreeSet<_>>()
                            .len()
                    )
                }
            );
            if !table.is_empty() {
                say!(
                    out,
                    "  {:<40} {:>7} {:>8} {:>9} {:>9}",
                    "provider",
                    "hosts",
                    "domains",
                    "affected",
                    "possibly"
                );
                for r in &table {
                    say!(
                        out,
                        "  {:<40} {:>7} {:>8} {:>9} {:>9}",
                        for_terminal(&r.provider),
                        r.hosts,
                        r.domains,
                        r.affected,
                        r.possibly
                    );
                }
            }
            for m in hit.iter().take(MAX_TEXT_HOSTS) {
                say!(out, "  {}", line(m));
            }
            if hit.len() > MAX_TEXT_HOSTS {
                say!(
                    out,
                    "  … and {} more (--format json lists them all)",
                    hit.len() - MAX_TEXT_HOSTS
                );
            }
            for m in fixed.iter().take(MAX_TEXT_HOSTS) {
                say!(out, "  {}", line(m));
            }
        }
    }
    emit(&out)?;
    store.close().await;
    Ok(0)
}

/// Host lines `affected` prints in text (the per-provider table counts them all).
const MAX_TEXT_HOSTS: usize = 200;

/// One row of `affected`'s per-provider table.
struct ProviderRow {
    provider: String,
    hosts: usize,
    domains: usize,
    affected: usize,
    possibly: usize,
    known_exploited: bool,
}

/// Hosts and domains per provider, most hosts first (as seed 004's warnings were grouped).
fn by_provider(rows: &[&StoredMatch]) -> Vec<ProviderRow> {
    use std::collections::{BTreeMap, BTreeSet};
    type Sets<'a> = (
        BTreeSet<&'a str>,
        BTreeSet<&'a str>,
        BTreeSet<&'a str>,
        bool,
    );
    let mut groups: BTreeMap<String, Sets<'_>> = BTreeMap::new();
    for m in rows {
        let key = provider(m).unwrap_or_else(|| "(unknown)".into());
        let g = groups.entry(key).or_default();
        g.0.insert(m.ip.as_str());
        if m.status == "affected" {
            g.2.insert(m.ip.as_str());
        }
        g.1.extend(m.domains.iter().map(String::as_str));
        g.3 |= m.known_exploited;
    }
    let mut out: Vec<ProviderRow> = groups
        .into_iter()
        .map(|(provider, (hosts, domains, affected, kev))| ProviderRow {
            provider,
            hosts: hosts.len(),
            domains: domains.len(),
            affected: affected.len(),
            possibly: hosts.len() - affected.len(),
            known_exploited: kev,
        })
        .collect();
    out.sort_by(|a, b| {
        b.hosts
            .cmp(&a.hosts)
            .then_with(|| b.domains.cmp(&a.domains))
            .then_with(|| a.provider.cmp(&b.provider))
    });
    out
}

pub async fn alerts(a: AlertsArgs) -> anyhow::Result<u8> {
    let mut out = String::new();
    let store = Store::open(&a.db).await?;
    crate::software::advisories(&store).await?;
    let rows = store.take_alerts().await?;
    match a.format {
        CheckFormat::Json => {
            let v = serde_json::json!({ "alerts": rows.iter().map(json).collect::<Vec<_>>() });
            say!(out, "{}", serde_json::to_string_pretty(&v)?);
        }
        CheckFormat::Text => {
            if rows.is_empty() {
                say!(out, "no new advisory matches since the last `mxray alerts`");
            } else {
                say!(out, "{} new advisory match(es):", rows.len());
                for m in &rows {
                    say!(out, "  {}", line(m));
                }
            }
        }
    }
    emit(&out)?;
    store.close().await;
    let worst = rows.iter().map(|m| m.severity).max();
    Ok(match (a.fail_on, worst) {
        (Some(t), Some(w)) if w >= t => 1,
        _ => 0,
    })
}

pub async fn stats(a: StatsArgs) -> anyhow::Result<u8> {
    let mut out = String::new();
    if !a.unknown_banners {
        bail!("mxray stats: say what to count (--unknown-banners)");
    }
    let store = Store::open(&a.db).await?;
    if let Some(id) = a.scan {
        store.scan(Some(id)).await?;
    }
    let rows = store.unknown_banners(a.scan).await?;
    let total: i64 = rows.iter().map(|r| r.count).sum();
    say!(
        out,
        "{} unknown banner(s), {} distinct{}",
        total,
        rows.len(),
        a.scan.map(|s| format!(" in scan {s}")).unwrap_or_default()
    );
    for r in &rows {
        say!(
            out,
            "{:>6}  {:<14} {}",
            r.count,
            r.source,
            for_terminal(&r.text)
        );
    }
    emit(&out)?;
    store.close().await;
    Ok(0)
}

pub async fn software(a: SoftwareArgs) -> anyhow::Result<u8> {
    let mut out = String::new();
    let store = Store::open(&a.db).await?;
    let scan = store.scan(a.scan).await?;
    let software = store.software(scan.id).await?;
    let os = store.host_os(scan.id).await?;
    let mut ips: Vec<String> = software.iter().map(|(ip, _)| ip.to_string()).collect();
    ips.extend(os.iter().map(|o| o.0.clone()));
    ips.sort_by_key(|ip| ip.parse::<std::net::IpAddr>().ok());
    ips.dedup();
    let hosts: Vec<serde_json::Value> = ips
        .iter()
        .map(|ip| {
            let sw: Vec<serde_json::Value> = software
                .iter()
                .filter(|(i, _)| i.to_string() == *ip)
                .map(|(_, s)| {
                    let mut v = serde_json::to_value(s).unwrap_or_default();
                    v["cpe"] = advisory::packages::software_cpe(s).into();
                    v
                })
                .collect();
            let guess = os.iter().find(|o| o.0 == *ip).map(|(_, name, c, basis)| {
                serde_json::json!({"name": name, "confidence": c, "basis": basis})
            });
            serde_json::json!({"ip": ip, "os": guess, "software": sw})
        })
        .collect();
    match a.format {
        CheckFormat::Json => {
            let v = serde_json::json!({"scan": scan.id, "hosts": hosts});
            say!(out, "{}", serde_json::to_string_pretty(&v)?);
        }
        CheckFormat::Text => {
            say!(out, "scan {}: {} host(s) identified", scan.id, hosts.len());
            for h in &hosts {
                let os = match &h["os"] {
                    serde_json::Value::Null => "OS unknown".to_owned(),
                    o => format!(
                        "{} (confidence {:.2})",
                        o["name"].as_str().unwrap_or(""),
                        o["confidence"].as_f64().unwrap_or(0.0)
                    ),
                };
                say!(
                    out,
                    "{}  {}",
                    h["ip"].as_str().unwrap_or(""),
                    for_terminal(&os)
                );
                for s in h["software"].as_array().into_iter().flatten() {
                    let field = |k: &str| s[k].as_str().unwrap_or("").to_owned();
                    say!(
                        out,
                        "  {:>5} {} {}{}  ← {}: {}",
                        s["port"],
                        for_terminal(&field("name")),
                        for_terminal(&field("version")),
                        if field("build").is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", for_terminal(&field("build")))
                        },
                        field("source"),
                        for_terminal(&field("evidence")),
                    );
                }
            }
        }
    }
    emit(&out)?;
    store.close().await;
    Ok(0)
}
