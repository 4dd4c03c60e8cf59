//! `mxray notify`: one self-contained notice per provider (or per domain) — HTML, CSV and a
//! plain-text cover note — for its abuse contact.
//!
//! Who gets what, `--by provider`: a provider's notice holds the hosts it runs (AS, or the
//! heuristic PTR / MX-name provider of the host itself) with their findings and the domains
//! using them, and the domain findings of the domains whose primary mail host it runs (the
//! grouping of `stats --by provider`). Nothing of another provider's hosts. `--by domain`: a
//! domain's notice holds its own findings and those of its hosts through the roles that
//! concern it (as `check` and the report count them).

use crate::args::ReportLang;
use anyhow::Context;
use mxray_core::Severity;
use mxray_core::finding::Finding;
use mxray_core::sanitize::{for_csv_cell as cell, for_terminal as v};
use mxray_report::Lang;
use mxray_report::notice::{Notice, NoticeDomain, NoticeHost, cover_note, render_notice};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Domains named per host in a notice.
const DOMAINS_PER_HOST: usize = 200;

#[derive(Clone, Debug, clap::Args)]
pub struct NotifyArgs {
    /// One notice per provider or per domain.
    #[arg(long, value_enum, default_value = "provider")]
    pub by: NotifyBy,
    /// Directory to write the notices into (created if missing; existing notice files of the
    /// same names are replaced).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Only findings at or above this severity.
    #[arg(long, default_value = "high")]
    pub min_severity: Severity,
    /// Language of the notices.
    #[arg(long, value_enum, default_value = "en")]
    pub lang: ReportLang,
    /// Scan id (default: the newest).
    #[arg(long)]
    pub scan: Option<i64>,
    /// Database file.
    #[arg(long, default_value = "mxray.db")]
    pub db: PathBuf,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
pub enum NotifyBy {
    /// Per provider (hosting / AS).
    Provider,
    /// Per domain.
    Domain,
}

/// A file name for a recipient: lowercase letters, digits, `.` and `-`, the rest `_`.
fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// Control characters in server text shown as `\xNN` (as in the report).
fn visible(mut f: Finding) -> Finding {
    f.title = v(&f.title);
    f.evidence = f.evidence.iter().map(|e| v(e)).collect();
    f
}

#[derive(Default)]
struct Recipient {
    /// ip → (domains using it through a role its findings concern, its findings).
    hosts: BTreeMap<String, (Vec<String>, Vec<Finding>)>,
    domains: Vec<NoticeDomain>,
}

pub async fn run(args: NotifyArgs) -> anyhow::Result<u8> {
    let store = super::report::open(&args.db).await?;
    let info = store.scan(args.scan).await.map_err(|e| match args.scan {
        None => anyhow::anyhow!("database {} holds no scan yet", args.db.display()),
        Some(_) => e.into(),
    })?;
    let min = args.min_severity;
    // Host findings at or above the minimum, with their texts: only affected hosts are kept.
    let mut host_findings: HashMap<String, Vec<Finding>> = HashMap::new();
    for f in store.host_findings_at_least(info.id, min).await? {
        if let Some(ip) = f.ip {
            host_findings
                .entry(ip)
                .or_default()
                .push(visible(f.finding));
        }
    }
    let mut recipients: BTreeMap<Arc<str>, Recipient> = BTreeMap::new();
    let by = args.by;
    // --by provider: ip → domains using it, attributed to the host's own provider after the
    // pass (the host summaries come with it).
    let mut host_domains: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let pass = crate::aggregate::run(&store, info.id, min, |d| {
        let key: Arc<str> = match by {
            NotifyBy::Provider => d.provider.clone(),
            NotifyBy::Domain => Arc::from(d.name),
        };
        if !d.findings.is_empty() {
            recipients
                .entry(key.clone())
                .or_default()
                .domains
                .push(NoticeDomain {
                    domain: d.name.to_owned(),
                    findings: d.findings.iter().cloned().map(visible).collect(),
                });
        }
        for (ip, roles) in d.links {
            let Some(fs) = host_findings.get(ip) else {
                continue;
            };
            let concerned: Vec<Finding> = fs
                .iter()
                .filter(|f| super::report::links_through(&f.id, *roles))
                .cloned()
                .collect();
            if concerned.is_empty() {
                continue;
            }
            match by {
                NotifyBy::Provider => host_domains
                    .entry(ip.clone())
                    .or_default()
                    .push(d.name.to_owned()),
                NotifyBy::Domain => {
                    recipients
                        .entry(key.clone())
                        .or_default()
                        .hosts
                        .insert(ip.clone(), (vec![d.name.to_owned()], concerned));
                }
            }
        }
        Ok(())
    })
    .await?;
    if by == NotifyBy::Provider {
        // Every host with findings goes to its own provider, linked or not.
        for (ip, fs) in &host_findings {
            let p = pass
                .hosts
                .get(ip)
                .map_or_else(|| Arc::from("(unknown)"), |h| h.provider.clone());
            let ds = host_domains.remove(ip).unwrap_or_default();
            recipients
                .entry(p)
                .or_default()
                .hosts
                .insert(ip.clone(), (ds, fs.clone()));
        }
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let lang: Lang = args.lang.into();
    let mut used: HashSet<String> = HashSet::new();
    let mut written = 0usize;
    let mut unattributed = 0usize;
    for (who, r) in recipients {
        if r.hosts.is_empty() && r.domains.is_empty() {
            continue;
        }
        // "(no mail host probed)", "(unknown)": nobody to send these to.
        if by == NotifyBy::Provider && who.starts_with('(') {
            unattributed += r.hosts.len() + r.domains.len();
            continue;
        }
        let hosts: Vec<NoticeHost> = r
            .hosts
            .into_iter()
            .map(|(ip, (mut ds, findings))| {
                ds.sort();
                ds.dedup();
                let total = ds.len();
                ds.truncate(DOMAINS_PER_HOST);
                NoticeHost {
                    ptr: pass.hosts.get(&ip).and_then(|h| h.ptr.as_deref().map(v)),
                    findings,
                    ip,
                    domains: ds,
                    domains_total: total,
                }
            })
            .collect();
        let notice = Notice {
            recipient: v(&who),
            scan_id: info.id,
            started_at: info.started_at,
            min_severity: min,
            hosts,
            domains: r.domains,
        };
        let mut base = slug(&who);
        let mut n = 2;
        while !used.insert(base.clone()) {
            base = format!("{}-{n}", slug(&who));
            n += 1;
        }
        write_notice(&args.output, &base, &notice, lang)?;
        written += 1;
    }
    println!(
        "{written} notices for scan {} written to {} (findings at or above {})",
        info.id,
        args.output.display(),
        min.as_str()
    );
    if unattributed > 0 {
        println!(
            "{unattributed} affected hosts and domains have no provider (no mail host probed, or none known): see `mxray notify --by domain`"
        );
    }
    store.close().await;
    Ok(0)
}

fn write_notice(dir: &Path, base: &str, n: &Notice, lang: Lang) -> anyhow::Result<()> {
    let path = |ext: &str| dir.join(format!("{base}.{ext}"));
    std::fs::write(path("html"), render_notice(n, lang))
        .with_context(|| format!("cannot write {}", path("html").display()))?;
    std::fs::write(path("txt"), cover_note(n, lang))
        .with_context(|| format!("cannot write {}", path("txt").display()))?;
    let mut w = csv::Writer::from_path(path("csv"))
        .with_context(|| format!("cannot write {}", path("csv").display()))?;
    w.write_record([
        "recipient",
        "kind",
        "subject",
        "domains",
        "finding",
        "severity",
        "title",
        "evidence",
        "fix",
    ])?;
    for h in &n.hosts {
        for f in &h.findings {
            w.write_record([
                cell(&n.recipient),
                "host".into(),
                cell(f.subject.name()),
                cell(&h.domains.join(" ")),
                f.id.clone(),
                f.severity.as_str().to_owned(),
                cell(&f.title),
                cell(&f.evidence.join(" | ")),
                cell(&f.fix),
            ])?;
        }
    }
    for d in &n.domains {
        for f in &d.findings {
            w.write_record([
                cell(&n.recipient),
                "domain".into(),
                cell(&d.domain),
                cell(&d.domain),
                f.id.clone(),
                f.severity.as_str().to_owned(),
                cell(&f.title),
                cell(&f.evidence.join(" | ")),
                cell(&f.fix),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}
