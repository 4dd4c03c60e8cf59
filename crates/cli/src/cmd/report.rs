//! `mxray report`: the HTML report of a stored scan.

use crate::args::ReportLang;
use anyhow::Context;
use mxray_core::Severity;
use mxray_core::finding::Finding;
use mxray_core::model::Lookup;
use mxray_report::{DomainEntry, HostEntry, Lang, OsEntry, ReportInput, SoftwareEntry};
use mxray_store::Store;
use std::collections::{HashMap, HashSet};
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
/// Whole-scan maps: for `diff`; the report itself streams (`crate::aggregate`).
pub async fn domain_findings(
    store: &Store,
    scan: mxray_store::ScanId,
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

/// Domains and hosts shown in full on the page; every one is in the CSV files beside it.
const SHOWN: usize = 1_000;

/// A page candidate: worst severity, name, mail-host lines, MX names.
type Candidate = (Option<Severity>, String, Vec<String>, Vec<String>);

/// The page's candidates: worst first, then by name.
struct Worst {
    keep: usize,
    items: Vec<Candidate>,
}

impl Worst {
    fn push(&mut self, item: Candidate) {
        self.items.push(item);
        if self.items.len() >= self.keep * 2 {
            self.trim();
        }
    }
    fn trim(&mut self) {
        self.items
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        self.items.truncate(self.keep);
    }
}

/// `report.html` → `report-domains.csv` next to it.
fn companion(output: &std::path::Path, what: &str) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}-{what}.csv"))
}

fn mail_host_lines(o: &mxray_core::model::DomainObservation) -> (Vec<String>, Vec<String>) {
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
}

pub async fn run(
    scan: Option<i64>,
    lang: ReportLang,
    db: PathBuf,
    output: PathBuf,
) -> anyhow::Result<u8> {
    use mxray_core::sanitize::for_csv_cell as cell;
    let store = open(&db).await?;
    let info = store.scan(scan).await.map_err(|e| match scan {
        None => anyhow::anyhow!("database {} holds no scan yet", db.display()),
        Some(_) => e.into(),
    })?;
    // The full domain table goes to a CSV file beside the page, a row at a time as the pass
    // reads the domains: the page itself shows the worst ones.
    let domains_path = companion(&output, "domains");
    let mut dcsv = csv::Writer::from_path(&domains_path)
        .with_context(|| format!("cannot write {}", domains_path.display()))?;
    dcsv.write_record([
        "domain", "provider", "worst", "findings", "spf", "dmarc", "mta_sts", "tls_rpt", "dane",
        "dnssec", "dnsbl",
    ])?;
    let mut worst = Worst {
        keep: SHOWN,
        items: Vec::new(),
    };
    let pass = crate::aggregate::run(&store, info.id, Severity::Critical, |d| {
        let ids: Vec<&str> = d.checks.keys().map(|k| &**k).collect();
        dcsv.write_record([
            cell(d.name),
            cell(&d.provider),
            d.worst.map_or("", |s| s.as_str()).to_owned(),
            ids.join(" "),
            format!("{:?}", d.adoption.spf),
            format!("{:?}", d.adoption.dmarc),
            format!("{:?}", d.adoption.mta_sts),
            format!("{:?}", d.adoption.tls_rpt),
            format!("{:?}", d.dane),
            format!("{:?}", d.adoption.dnssec),
            cell(&d.listed.iter().map(|l| &**l).collect::<Vec<_>>().join("; ")),
        ])?;
        let (lines, names) = d.obs.map(mail_host_lines).unwrap_or_default();
        worst.push((d.worst, d.name.to_owned(), lines, names));
        Ok(())
    })
    .await?;
    dcsv.flush()?;
    drop(dcsv);
    worst.trim();
    let mut survey = pass.survey;
    // Excluded domains are listed (never contacted) but not surveyed.
    let mut domains: Vec<DomainEntry> = Vec::with_capacity(worst.items.len());
    for (_, name, mail_hosts, mx_names) in worst.items {
        let mut findings: Vec<Finding> = store
            .findings_for_domain(info.id, &name)
            .await?
            .into_iter()
            .map(|s| s.finding)
            .collect();
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
        domains.push(DomainEntry {
            findings,
            domain: name,
            excluded: false,
            mail_hosts,
            mx_names,
        });
    }
    // Hosts: every one in a CSV, the worst (known exploited first) in full on the page.
    let hosts_path = companion(&output, "hosts");
    let mut hcsv = csv::Writer::from_path(&hosts_path)
        .with_context(|| format!("cannot write {}", hosts_path.display()))?;
    hcsv.write_record([
        "ip",
        "ptr",
        "provider",
        "domains",
        "worst",
        "findings",
        "known_exploited",
        "dnsbl",
    ])?;
    let mut ranked: Vec<(bool, Option<Severity>, &String)> = Vec::new();
    for (ip, h) in &pass.hosts {
        let mut ids: Vec<&str> = h.checks.iter().map(|c| &*c.0).collect();
        ids.dedup();
        hcsv.write_record([
            ip.clone(),
            cell(h.ptr.as_deref().unwrap_or("")),
            cell(&h.provider),
            h.domains.to_string(),
            h.worst().map_or("", |s| s.as_str()).to_owned(),
            ids.join(" "),
            h.kev.join(" "),
            cell(&h.listed.iter().map(|l| &**l).collect::<Vec<_>>().join("; ")),
        ])?;
        ranked.push((!h.kev.is_empty(), h.worst(), ip));
    }
    hcsv.flush()?;
    drop(hcsv);
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| b.1.cmp(&a.1))
            .then_with(|| a.2.cmp(b.2))
    });
    let shown: HashSet<String> = ranked
        .iter()
        .take(SHOWN)
        .map(|(_, _, ip)| (*ip).clone())
        .collect();
    let mut host_findings: HashMap<String, Vec<Finding>> = HashMap::new();
    for f in store
        .host_findings_at_least(info.id, Severity::Info)
        .await?
    {
        if let Some(ip) = f.ip.filter(|ip| shown.contains(ip)) {
            host_findings.entry(ip).or_default().push(f.finding);
        }
    }
    let mut fingerprints: HashMap<String, Fp> = HashMap::new();
    for (ip, fp, matches) in store.fingerprints(info.id).await? {
        let ip = ip.to_string();
        if shown.contains(&ip) {
            fingerprints.insert(ip, fingerprint_entry(fp, &matches));
        }
    }
    let mut hosts: Vec<HostEntry> = Vec::with_capacity(shown.len());
    store
        .each_host(info.id, |h| {
            let ip = h.ip.to_string();
            if !shown.contains(&ip) {
                return;
            }
            let (software, os, known_exploited) = fingerprints.remove(&ip).unwrap_or_default();
            let uses = pass.hosts.get(&ip).map_or(0, |i| i.domains as usize);
            hosts.push(host_entry(
                h,
                software,
                os,
                known_exploited,
                host_findings.remove(&ip).unwrap_or_default(),
                uses,
            ));
        })
        .await?;
    survey.domains_file = domains_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    survey.hosts_file = hosts_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let input = ReportInput {
        scan_id: info.id,
        started_at: info.started_at,
        status: info.status.clone(),
        domains_total: (survey.surveyed + survey.excluded) as usize,
        hosts_total: survey.hosts as usize,
        domains,
        hosts,
        survey: Some(survey),
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
        "report for scan {} written to {} (all domains in {}, all hosts in {})",
        info.id,
        output.display(),
        domains_path.display(),
        hosts_path.display()
    );
    store.close().await;
    Ok(0)
}

/// Software, OS guess and known-exploited advisories of one host.
type Fp = (Vec<SoftwareEntry>, Option<OsEntry>, Vec<String>);

fn fingerprint_entry(
    fp: mxray_core::fingerprint::HostFingerprint,
    matches: &[mxray_core::advisory::Match],
) -> Fp {
    let mut kev: Vec<String> = matches
        .iter()
        .filter(|m| m.known_exploited && m.status != mxray_core::advisory::MatchStatus::Fixed)
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
    (software, os, kev)
}

fn host_entry(
    h: mxray_core::model::HostObservation,
    software: Vec<SoftwareEntry>,
    os: Option<OsEntry>,
    known_exploited: Vec<String>,
    findings: Vec<Finding>,
    domains: usize,
) -> HostEntry {
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
        findings,
        domains,
        ip: h.ip.to_string(),
    }
}
