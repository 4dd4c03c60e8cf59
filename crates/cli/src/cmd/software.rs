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
    /// Import advisories from a file or a directory of files (OSV JSON, or mxray's TOML format),
    /// then match them against every stored scan.
    Import {
        /// A .json / .toml file, or a directory holding such files.
        path: PathBuf,
        /// Database file.
        #[arg(long, default_value = "mxray.db")]
        db: PathBuf,
    },
    /// List stored advisories.
    List {
        /// Only this product (e.g. bind, exim, openssh).
        #[arg(long)]
        product: Option<String>,
        /// Database file.
        #[arg(long, default_value = "mxray.db")]
        db: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct AffectedArgs {
    /// Advisory id or alias (e.g. CVE-2023-50387).
    pub id: String,
    /// Scan id (default: the newest).
    #[arg(long)]
    pub scan: Option<i64>,
    /// Database file.
    #[arg(long, default_value = "mxray.db")]
    pub db: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Database file.
    #[arg(long, default_value = "mxray.db")]
    pub db: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
}

#[derive(Debug, Args)]
pub struct SoftwareArgs {
    /// Scan id (default: the newest).
    #[arg(long)]
    pub scan: Option<i64>,
    /// Database file.
    #[arg(long, default_value = "mxray.db")]
    pub db: PathBuf,
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
    /// Database file.
    #[arg(long, default_value = "mxray.db")]
    pub db: PathBuf,
}

/// Files to import: the path itself, or the .json/.toml files of a directory (sorted).
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
                && p.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("toml")
                })
        })
        .collect();
    out.sort();
    if out.is_empty() {
        bail!("{} holds no .json or .toml files", path.display());
    }
    Ok(out)
}

pub async fn advisories(action: AdvisoriesAction) -> anyhow::Result<u8> {
    let mut out = String::new();
    match action {
        AdvisoriesAction::Import { path, db } => {
            let mut parsed = Vec::new();
            for f in files(&path)? {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                let list = advisory::parse_any(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                parsed.push((f, list));
            }
            let store = Store::open(&db).await?;
            crate::software::advisories(&store).await?;
            let (mut total, mut new) = (0, 0);
            for (f, list) in &parsed {
                total += list.len();
                new += store
                    .import_advisories(list, &f.display().to_string())
                    .await?;
            }
            let all = store.advisories().await?;
            let matches = crate::software::rematch(&store, &all).await?;
            say!(
                out,
                "imported {total} advisories ({new} new) from {} file(s); {matches} new match(es) with stored scans{}",
                parsed.len(),
                if matches > 0 {
                    " (see `mxray alerts`)"
                } else {
                    ""
                }
            );
            emit(&out)?;
            store.close().await;
            Ok(0)
        }
        AdvisoriesAction::List { product, db } => {
            let store = Store::open(&db).await?;
            let all = crate::software::advisories(&store).await?;
            for a in all.iter().filter(|a| {
                product
                    .as_ref()
                    .is_none_or(|p| a.product.eq_ignore_ascii_case(p))
            }) {
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
                say!(
                    out,
                    "{:<16} {:<8} {:<9} {}  [{}]  {}",
                    for_terminal(&a.id),
                    for_terminal(&a.product),
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

/// A provider name until AS data exists: the registrable part (last two labels) of the
/// host's PTR name, or of the domains' names when there is no PTR.
fn provider(m: &StoredMatch) -> Option<String> {
    let name = m.ptr.first().or_else(|| m.domains.first())?;
    let labels: Vec<&str> = name.trim_end_matches('.').rsplit('.').take(2).collect();
    (labels.len() == 2).then(|| format!("{}.{}", labels[1], labels[0]).to_ascii_lowercase())
}

fn json(m: &StoredMatch) -> serde_json::Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    v["provider"] = provider(m).into();
    v
}

fn line(m: &StoredMatch) -> String {
    let what = match m.status.as_str() {
        "affected" => "affected",
        _ => "possibly affected (distribution build)",
    };
    let mut version = m.version.clone();
    if let Some(b) = &m.build {
        version.push_str(&format!(" ({b})"));
    }
    let host = std::net::SocketAddr::new(
        m.ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        m.port,
    );
    for_terminal(&format!(
        "{:<8} {:<16} {} {} on {host}: {what}; scan {}; domains: {}; provider: {}",
        m.severity.as_str(),
        m.advisory,
        m.product,
        version,
        m.scan,
        if m.domains.is_empty() {
            "-".to_owned()
        } else {
            m.domains.join(", ")
        },
        provider(m).unwrap_or_else(|| "-".into()),
    ))
}

pub async fn affected(a: AffectedArgs) -> anyhow::Result<u8> {
    let mut out = String::new();
    let store = Store::open(&a.db).await?;
    let scan = store.scan(a.scan).await?;
    let known = crate::software::advisories(&store).await?;
    if !known
        .iter()
        .any(|x| x.id == a.id || x.aliases.contains(&a.id))
    {
        bail!(
            "no advisory {} in {}; import it with `mxray advisories import`",
            for_terminal(&a.id),
            a.db.display()
        );
    }
    let rows = store.affected(scan.id, &a.id).await?;
    match a.format {
        CheckFormat::Json => {
            let mut domains: Vec<&str> = rows
                .iter()
                .flat_map(|m| m.domains.iter().map(String::as_str))
                .collect();
            domains.sort_unstable();
            domains.dedup();
            let mut providers: Vec<String> = rows.iter().filter_map(provider).collect();
            providers.sort();
            providers.dedup();
            let v = serde_json::json!({
                "advisory": a.id,
                "scan": scan.id,
                "hosts": rows.iter().map(json).collect::<Vec<_>>(),
                "domains": domains,
                "providers": providers,
            });
            say!(out, "{}", serde_json::to_string_pretty(&v)?);
        }
        CheckFormat::Text => {
            let hosts: std::collections::BTreeSet<&str> =
                rows.iter().map(|m| m.ip.as_str()).collect();
            let domains: std::collections::BTreeSet<&str> = rows
                .iter()
                .flat_map(|m| m.domains.iter().map(String::as_str))
                .collect();
            say!(
                out,
                "{}: {} host(s), {} domain(s) in scan {}",
                for_terminal(&a.id),
                hosts.len(),
                domains.len(),
                scan.id
            );
            for m in &rows {
                say!(out, "  {}", line(m));
            }
        }
    }
    emit(&out)?;
    store.close().await;
    Ok(0)
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
    Ok(0)
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
            let sw: Vec<_> = software
                .iter()
                .filter(|(i, _)| i.to_string() == *ip)
                .map(|(_, s)| s)
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
