//! `mxray report`: the HTML report of a stored scan.

use crate::args::ReportLang;
use anyhow::Context;
use mxray_core::finding::Finding;
use mxray_core::model::Lookup;
use mxray_report::{DomainEntry, HostEntry, Lang, OsEntry, ReportInput, SoftwareEntry};
use mxray_store::{ScanId, Store};
use std::collections::HashMap;
use std::path::PathBuf;

/// Transcript lines shown per host.
const TRANSCRIPT_LINES: usize = 60;

/// Opens a database that must already hold scans (a SQLite file that exists, or a
/// PostgreSQL URL), read-only: a survey another user owns, in a directory this user cannot
/// write, is still read.
pub async fn open(db: &std::path::Path) -> anyhow::Result<Store> {
    must_exist(db)?;
    Ok(Store::open_read_only(db).await?)
}

/// Like [`open`], for the commands that change what a scan derived (`recheck`).
pub async fn open_for_writing(db: &std::path::Path) -> anyhow::Result<Store> {
    must_exist(db)?;
    Ok(Store::open(db).await?)
}

fn must_exist(db: &std::path::Path) -> anyhow::Result<()> {
    let spec = db.to_string_lossy();
    if mxray_store::Backend::of(&spec) == mxray_store::Backend::Sqlite && !db.exists() {
        anyhow::bail!(
            "database {} does not exist; run `mxray scan` first or pass --db",
            db.display()
        );
    }
    Ok(())
}

/// Whether a host finding with this id counts for a domain linked to the host with these
/// roles (`role_mask` bits; 0: a link written before roles existed counts for everything).
pub fn links_through(check_id: &str, roles: u8) -> bool {
    roles == 0 || mxray_core::checks::link_roles(check_id) & roles != 0
}

/// Domain → its findings (domain findings and those of every host it uses), worst first.
pub async fn domain_findings(
    store: &Store,
    scan: ScanId,
) -> anyhow::Result<(HashMap<String, Vec<Finding>>, HashMap<String, Vec<Finding>>)> {
    let (mut by_domain, by_ip) = store.findings_by_subject(scan).await?;
    // A host finding counts for a domain through the roles that concern it (an SMTP finding
    // through a mail link, a DNS-server finding through a name-server link).
    for (domain, ip, roles) in store.role_links(scan).await? {
        if let Some(fs) = by_ip.get(&ip) {
            by_domain
                .entry(domain)
                .or_default()
                .extend(fs.iter().filter(|f| links_through(&f.id, roles)).cloned());
        }
    }
    for fs in by_domain.values_mut() {
        fs.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    }
    Ok((by_domain, by_ip))
}

/// Control characters in server text are shown as `\xNN` in the report too: escaping makes
/// them harmless, this makes them visible (an ESC in a banner is itself evidence).
fn visible_controls(mut input: ReportInput) -> ReportInput {
    use mxray_core::sanitize::for_terminal as v;
    let fix = |fs: &mut Vec<Finding>| {
        for f in fs {
            f.title = v(&f.title);
            f.evidence = f.evidence.iter().map(|e| v(e)).collect();
        }
    };
    for d in &mut input.domains {
        fix(&mut d.findings);
        d.mail_hosts = d.mail_hosts.iter().map(|m| v(m)).collect();
    }
    for h in &mut input.hosts {
        fix(&mut h.findings);
        h.greeting = h.greeting.as_deref().map(v);
        h.relay = h.relay.as_deref().map(v);
        h.ptr = h.ptr.as_deref().map(v);
        h.transcript = h.transcript.iter().map(|l| v(l)).collect();
        for s in &mut h.software {
            s.name = v(&s.name);
            s.version = s.version.as_deref().map(v);
            s.build = s.build.as_deref().map(v);
        }
        if let Some(o) = &mut h.os {
            o.name = v(&o.name);
        }
    }
    input
}

pub async fn run(
    scan: Option<i64>,
    lang: ReportLang,
    db: PathBuf,
    output: PathBuf,
) -> anyhow::Result<u8> {
    let store = open(&db).await?;
    let info = store.scan(scan).await.map_err(|e| match scan {
        None => anyhow::anyhow!("database {} holds no scan yet", db.display()),
        Some(_) => e.into(),
    })?;
    let (mut by_domain, by_ip) = domain_findings(&store, info.id).await?;
    let mut uses: HashMap<String, usize> = HashMap::new();
    for (_, ip) in store.links(info.id).await? {
        *uses.entry(ip).or_default() += 1;
    }
    let domains: Vec<DomainEntry> = store
        .domain_observations(info.id)
        .await?
        .into_iter()
        .map(|(domain, status, obs)| {
            let (mail_hosts, mx_names) = obs
                .map(|o| {
                    let lines = o
                        .hosts
                        .iter()
                        .map(|h| {
                            let addrs = match &h.addresses {
                                Lookup::Found(ips) => ips
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                other => other.describe(),
                            };
                            format!("{} {} → {}", h.preference, h.name, addrs)
                        })
                        .collect();
                    (lines, o.hosts.iter().map(|h| h.name.clone()).collect())
                })
                .unwrap_or_default();
            DomainEntry {
                findings: by_domain.remove(&domain).unwrap_or_default(),
                domain,
                excluded: status == "excluded",
                mail_hosts,
                mx_names,
            }
        })
        .collect();
    // Software and OS guess per host, from the fingerprint tables (one whole-scan query each).
    type Fp = (Vec<SoftwareEntry>, Option<OsEntry>, Vec<String>);
    let mut fingerprints: HashMap<String, Fp> = store
        .fingerprints(info.id)
        .await?
        .into_iter()
        .map(|(ip, fp, matches)| {
            let mut kev: Vec<String> = matches
                .iter()
                .filter(|m| {
                    m.known_exploited && m.status != mxray_core::advisory::MatchStatus::Fixed
                })
                .map(|m| m.advisory.clone())
                .collect();
            kev.sort();
            kev.dedup();
            let software = fp
                .software
                .into_iter()
                .map(|s| SoftwareEntry {
                    port: s.port,
                    product: s.product,
                    name: s.name,
                    version: s.version,
                    build: s.build,
                    source: s.source.as_str().to_owned(),
                })
                .collect();
            let os = fp.os.map(|o| OsEntry {
                name: o.name,
                confidence: o.confidence,
            });
            (ip.to_string(), (software, os, kev))
        })
        .collect();
    let hosts: Vec<HostEntry> = store
        .hosts(info.id)
        .await?
        .into_iter()
        .map(|h| {
            let ip = h.ip.to_string();
            let first = h.smtp.first();
            let mut transcript: Vec<String> = first
                .map(|s| {
                    s.transcript
                        .iter()
                        .take(TRANSCRIPT_LINES)
                        .map(|l| l.render())
                        .collect()
                })
                .unwrap_or_default();
            if let Some(r) = &h.relay {
                transcript.push("* relay test:".into());
                transcript.extend(
                    r.transcript
                        .iter()
                        .take(TRANSCRIPT_LINES)
                        .map(|l| l.render()),
                );
            }
            let (software, os, known_exploited) = fingerprints.remove(&ip).unwrap_or_default();
            HostEntry {
                software,
                os,
                known_exploited,
                ptr: h.ptr.found().and_then(|n| n.first().cloned()),
                greeting: first
                    .and_then(|s| s.greeting.as_ref())
                    .map(|g| g.to_wire_text().lines().next().unwrap_or("").to_owned()),
                relay: h
                    .relay
                    .as_ref()
                    .map(|r| format!("{} — {}", r.current_verdict().as_str(), r.reason)),
                transcript,
                findings: by_ip.get(&ip).cloned().unwrap_or_default(),
                domains: uses.get(&ip).copied().unwrap_or(0),
                ip,
            }
        })
        .collect();
    let input = ReportInput {
        scan_id: info.id,
        started_at: info.started_at,
        status: info.status.clone(),
        domains_total: domains.len(),
        hosts_total: hosts.len(),
        domains,
        hosts,
    };
    let input = visible_controls(input);
    let lang: Lang = lang.into();
    let html = mxray_report::render(&input, lang);
    if crate::output::is_stdout(&output) {
        print!("{html}");
        store.close().await;
        return Ok(0);
    }
    std::fs::write(&output, html).with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "report for scan {} written to {}",
        info.id,
        output.display()
    );
    store.close().await;
    Ok(0)
}
