//! `mxray stats`: survey tables from a stored scan — domains grouped by provider, SMTP
//! software, OS, finding or block list, with counts, shares and the top-ten share ("open
//! relays by provider", as the 2002 co.jp survey printed them).
//!
//! Every table is one key function over the scan's domains ([`group`]); a domain counts once
//! per key it has. The provider of a domain is that of its primary mail host (the first
//! probed address of its most preferred MX). Software (product and version) and OS come from
//! the fingerprint tables (`software`, `host_os`) of every host the domain uses — mail, web
//! and name-server addresses alike — and those rows also count hosts.

use anyhow::Context;
use clap::ValueEnum;
use mxray_core::model::{DomainObservation, HostObservation};
use mxray_core::sanitize::{for_csv_cell, for_terminal};
use mxray_store::Store;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;

#[derive(Clone, Debug, clap::Args)]
pub struct StatsArgs {
    /// What to group domains by.
    #[arg(long, value_enum, required_unless_present = "unknown_banners")]
    pub by: Option<By>,
    /// Banners no software signature recognised, verbatim, with how many hosts sent each
    /// (material for new signatures; every scan unless --scan).
    #[arg(long, conflicts_with = "by")]
    pub unknown_banners: bool,
    /// Only domains with this finding (on the domain or one of its hosts), e.g.
    /// smtp.open_relay.
    #[arg(long, value_name = "ID")]
    pub finding: Option<String>,
    /// Scan id (default: the newest).
    #[arg(long)]
    pub scan: Option<i64>,
    #[command(flatten)]
    pub db: crate::args::Db,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatsFormat,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// Who runs the primary mail host (AS from --asn-db, else PTR / MX-name domain, marked
    /// heuristic).
    Provider,
    /// Products and versions on the domain's hosts (fingerprints: SMTP, POP3/IMAP, web,
    /// DNS, SSH).
    Software,
    /// OS guesses of the domain's hosts (fingerprints).
    Os,
    /// Finding ids.
    Finding,
    /// Block lists the domain, its MX names or its hosts are listed on.
    Dnsbl,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StatsFormat {
    /// A terminal table.
    Text,
    /// One JSON document.
    Json,
    /// One row per group, safe for spreadsheets.
    Csv,
}

/// One row of a table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub rank: usize,
    pub key: String,
    /// Domains in the group (among the selected ones).
    pub domains: u64,
    /// `domains` over the selected domains.
    pub share: f64,
    /// Running sum of `share` (single-key groupings only).
    pub cumulative: Option<f64>,
    /// All the scan's domains with this key (with --finding: how many of the group's
    /// domains have the finding).
    pub group_domains: Option<u64>,
    /// Hosts with this key among the selected domains' hosts (software and OS only).
    pub hosts: Option<u64>,
}

/// A whole table.
#[derive(Debug, Serialize)]
pub struct Table {
    pub scan: i64,
    pub by: By,
    pub finding: Option<String>,
    /// Scanned domains in the scan.
    pub scan_domains: u64,
    /// Domains selected (all scanned ones, or those with --finding).
    pub selected: u64,
    /// Domains in the ten largest groups, and their share of the selected domains.
    pub top10_domains: u64,
    pub top10_share: f64,
    pub rows: Vec<Row>,
    /// Where the keys come from, or why the table is empty.
    pub note: Option<String>,
}

/// Groups `items` (each with its keys) into rows, largest first. `multi` when an item can
/// have several keys (no cumulative share then).
pub fn group<I, K>(items: I, multi: bool) -> (u64, Vec<Row>)
where
    I: IntoIterator<Item = K>,
    K: IntoIterator<Item = String>,
{
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut total = 0u64;
    for keys in items {
        total += 1;
        let keys: BTreeSet<String> = keys.into_iter().collect();
        for k in keys {
            *counts.entry(k).or_default() += 1;
        }
    }
    let mut rows: Vec<(String, u64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut cum = 0.0;
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, (key, n))| {
            let share = if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            };
            cum += share;
            Row {
                rank: i + 1,
                key,
                domains: n,
                share,
                cumulative: (!multi).then_some(cum.min(1.0)),
                group_domains: None,
                hosts: None,
            }
        })
        .collect();
    (total, rows)
}

struct Domain {
    name: String,
    obs: Option<DomainObservation>,
    ips: Vec<String>,
    checks: BTreeSet<String>,
}

impl Domain {
    /// The first probed address of the most preferred mail host.
    fn primary<'a>(
        &self,
        hosts: &'a HashMap<String, HostObservation>,
    ) -> Option<&'a HostObservation> {
        primary_ip(self.obs.as_ref(), &self.ips).and_then(|ip| hosts.get(ip))
    }
}

/// The address a domain's provider is read from: its first linked address in the order of
/// its observation (most preferred mail host first), else its first link. The survey report
/// uses it too, so its provider tables equal `stats --by provider`.
pub fn primary_ip<'a>(obs: Option<&DomainObservation>, ips: &'a [String]) -> Option<&'a String> {
    let ordered: Vec<String> = obs
        .map(|o| o.addresses().iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    ordered
        .iter()
        .find_map(|ip| ips.iter().find(|i| *i == ip))
        .or_else(|| ips.first())
}

/// A provider label, or what stands in for one (`stats --by provider`'s keys).
pub fn provider_label(host: Option<&HostObservation>) -> String {
    match host {
        None => "(no mail host probed)".into(),
        Some(h) => h
            .reputation
            .provider
            .as_ref()
            .map_or_else(|| "(unknown)".into(), |p| p.label()),
    }
}

fn provider_key(d: &Domain, hosts: &HashMap<String, HostObservation>) -> String {
    provider_label(d.primary(hosts))
}

/// What a domain has no fingerprint key for: none of its hosts was identified.
const NONE_IDENTIFIED: &str = "(none identified)";

/// `Postfix 3.7.11`, or `Postfix (version not disclosed)`: the software key.
fn software_label(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name} {v}"),
        None => format!("{name} (version not disclosed)"),
    }
}

/// Fingerprint keys per domain and the hosts behind each key, from `(key, ip, domain)` rows.
#[derive(Default)]
struct Fingerprints {
    of_domain: HashMap<String, BTreeSet<String>>,
    hosts_of_key: HashMap<String, Vec<(String, Option<String>)>>,
    identified_hosts: BTreeSet<String>,
}

impl Fingerprints {
    fn from_rows(rows: impl IntoIterator<Item = (String, String, Option<String>)>) -> Self {
        let mut f = Self::default();
        for (key, ip, domain) in rows {
            if let Some(d) = &domain {
                f.of_domain
                    .entry(d.clone())
                    .or_default()
                    .insert(key.clone());
            }
            f.identified_hosts.insert(ip.clone());
            f.hosts_of_key.entry(key).or_default().push((ip, domain));
        }
        f
    }

    fn keys(&self, d: &Domain) -> Vec<String> {
        match self.of_domain.get(&d.name) {
            Some(k) if !k.is_empty() => k.iter().cloned().collect(),
            _ => vec![NONE_IDENTIFIED.to_owned()],
        }
    }

    /// Distinct hosts with `key` used by one of `selected` (for the none-identified row: the
    /// selected domains' hosts without any fingerprint).
    fn hosts(&self, key: &str, selected: &BTreeSet<&str>, domains: &[&Domain]) -> u64 {
        if key == NONE_IDENTIFIED {
            let ips: BTreeSet<&str> = domains
                .iter()
                .filter(|d| !self.of_domain.contains_key(&d.name))
                .flat_map(|d| d.ips.iter().map(String::as_str))
                .filter(|ip| !self.identified_hosts.contains(*ip))
                .collect();
            return ips.len() as u64;
        }
        let ips: BTreeSet<&str> = self
            .hosts_of_key
            .get(key)
            .into_iter()
            .flatten()
            .filter(|(_, d)| d.as_deref().is_some_and(|d| selected.contains(d)))
            .map(|(ip, _)| ip.as_str())
            .collect();
        ips.len() as u64
    }
}

fn dnsbl_keys(d: &Domain, hosts: &HashMap<String, HostObservation>) -> Vec<String> {
    let domain_qs = d.obs.iter().flat_map(|o| o.dnsbl.iter());
    let host_qs = d
        .ips
        .iter()
        .filter_map(|ip| hosts.get(ip))
        .flat_map(|h| h.reputation.dnsbl.iter());
    domain_qs
        .chain(host_qs)
        .filter(|q| q.listed())
        .map(|q| {
            if q.list == q.zone {
                q.zone.clone()
            } else {
                format!("{} ({})", q.list, q.zone)
            }
        })
        .collect()
}

pub async fn run(args: StatsArgs) -> anyhow::Result<u8> {
    if args.unknown_banners {
        return crate::cmd::software::stats(crate::cmd::software::StatsArgs {
            unknown_banners: true,
            scan: args.scan,
            db: args.db,
        })
        .await;
    }
    let Some(by) = args.by else {
        anyhow::bail!("stats needs --by provider|software|os|finding|dnsbl");
    };
    let store = super::report::open(&args.db).await?;
    let info = store.scan(args.scan).await.map_err(|e| match args.scan {
        None => anyhow::anyhow!("database {} holds no scan yet", args.db.display()),
        Some(_) => e.into(),
    })?;
    let table = build(&store, info.id, by, args.finding.as_deref()).await?;
    store.close().await;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        StatsFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&table)?)?,
        StatsFormat::Csv => csv_out(&table, &mut out)?,
        StatsFormat::Text => text_out(&table, &mut out)?,
    }
    out.flush()?;
    Ok(0)
}

async fn build(store: &Store, scan: i64, by: By, finding: Option<&str>) -> anyhow::Result<Table> {
    let hosts: HashMap<String, HostObservation> = store
        .hosts(scan)
        .await?
        .into_iter()
        .map(|h| (h.ip.to_string(), h))
        .collect();
    let mut links: HashMap<String, Vec<String>> = HashMap::new();
    for (d, ip) in store.links(scan).await? {
        links.entry(d).or_default().push(ip);
    }
    let mut checks: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (d, c) in store.domain_checks(scan).await? {
        checks.entry(d).or_default().insert(c);
    }
    let mut domains = Vec::new();
    let mut rows = std::pin::pin!(store.domain_rows(scan));
    while let Some(row) = futures::StreamExt::next(&mut rows).await {
        let (name, status, obs) = row?;
        if status != "scanned" {
            continue;
        }
        let obs = match obs {
            Some(j) => Some(
                serde_json::from_str::<DomainObservation>(&j)
                    .with_context(|| format!("stored observation of {name} does not parse"))?,
            ),
            None => None,
        };
        domains.push(Domain {
            name: name.clone(),
            ips: links.remove(&name).unwrap_or_default(),
            checks: checks.remove(&name).unwrap_or_default(),
            obs,
        });
    }
    let fps = match by {
        By::Software => {
            Fingerprints::from_rows(store.software_links(scan).await?.into_iter().map(
                |(_, name, version, ip, d)| (software_label(&name, version.as_deref()), ip, d),
            ))
        }
        By::Os => Fingerprints::from_rows(store.os_links(scan).await?),
        _ => Fingerprints::default(),
    };
    let scan_domains = domains.len() as u64;
    let selected: Vec<&Domain> = domains
        .iter()
        .filter(|d| finding.is_none_or(|f| d.checks.contains(f)))
        .collect();
    let mut note = None;
    let keys = |d: &Domain| -> Vec<String> {
        match by {
            By::Provider => vec![provider_key(d, &hosts)],
            By::Software | By::Os => fps.keys(d),
            By::Finding => d.checks.iter().cloned().collect(),
            By::Dnsbl => dnsbl_keys(d, &hosts),
        }
    };
    // A domain's hosts can run several products and OSes: multi-key.
    let multi = matches!(by, By::Finding | By::Dnsbl | By::Software | By::Os);
    let (_, mut rows) = group(selected.iter().map(|d| keys(d)), multi);
    let selected_n = selected.len() as u64;
    match by {
        By::Software | By::Os => {
            let names: BTreeSet<&str> = selected.iter().map(|d| d.name.as_str()).collect();
            for r in &mut rows {
                r.hosts = Some(fps.hosts(&r.key, &names, &selected));
            }
            note = Some(if fps.identified_hosts.is_empty() {
                "no host of this scan was fingerprinted (banners in `mxray stats --unknown-banners`)".to_owned()
            } else {
                "from host fingerprints of every host a domain uses (mail, web, name servers); a domain counts once per key, `hosts` counts each host once".to_owned()
            });
        }
        By::Provider => {
            let heuristic = domains
                .iter()
                .filter_map(|d| d.primary(&hosts))
                .any(|h| h.reputation.provider.as_ref().is_some_and(|p| p.heuristic));
            if heuristic {
                note = Some("providers marked heuristic are guessed from PTR or MX host names (registrable domain); scan with --asn-db for AS data".to_owned());
            }
        }
        By::Finding | By::Dnsbl => {}
    }
    if finding.is_some() && !multi {
        // How much of each group has the finding (one provider held 94% of its own domains).
        let mut all: HashMap<String, u64> = HashMap::new();
        for d in &domains {
            for k in keys(d) {
                *all.entry(k).or_default() += 1;
            }
        }
        for r in &mut rows {
            r.group_domains = all.get(&r.key).copied();
        }
    }
    let top10_domains: u64 = if multi {
        // Domains in any of the ten largest groups.
        let top: BTreeSet<&str> = rows.iter().take(10).map(|r| r.key.as_str()).collect();
        selected
            .iter()
            .filter(|d| keys(d).iter().any(|k| top.contains(k.as_str())))
            .count() as u64
    } else {
        rows.iter().take(10).map(|r| r.domains).sum()
    };
    Ok(Table {
        scan,
        by,
        finding: finding.map(str::to_owned),
        scan_domains,
        selected: selected_n,
        top10_domains,
        top10_share: if selected_n == 0 {
            0.0
        } else {
            top10_domains as f64 / selected_n as f64
        },
        rows,
        note,
    })
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn by_name(by: By) -> &'static str {
    match by {
        By::Provider => "provider",
        By::Software => "software",
        By::Os => "os",
        By::Finding => "finding",
        By::Dnsbl => "dnsbl",
    }
}

fn text_out(t: &Table, out: &mut dyn Write) -> anyhow::Result<()> {
    let what = match &t.finding {
        Some(f) => format!("domains with {}", for_terminal(f)),
        None => "domains".to_owned(),
    };
    writeln!(
        out,
        "scan {}: {what} by {}: {} of {} scanned domains",
        t.scan,
        by_name(t.by),
        t.selected,
        t.scan_domains
    )?;
    if let Some(n) = &t.note {
        writeln!(out, "note: {n}")?;
    }
    if t.rows.is_empty() {
        writeln!(out, "(no rows)")?;
        return Ok(());
    }
    let width = t
        .rows
        .iter()
        .map(|r| for_terminal(&r.key).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 60);
    let group_col = t.rows.iter().any(|r| r.group_domains.is_some());
    let hosts_col = t.rows.iter().any(|r| r.hosts.is_some());
    write!(
        out,
        "{:>4}  {:<width$}  {:>8}  {:>7}  {:>7}",
        "#",
        by_name(t.by),
        "domains",
        "share",
        "cumul."
    )?;
    if hosts_col {
        write!(out, "  {:>7}", "hosts")?;
    }
    if group_col {
        write!(out, "  {:>18}", "of the group")?;
    }
    writeln!(out)?;
    for r in &t.rows {
        let key: String = for_terminal(&r.key).chars().take(60).collect();
        write!(
            out,
            "{:>4}  {:<width$}  {:>8}  {:>7}  {:>7}",
            r.rank,
            key,
            r.domains,
            pct(r.share),
            r.cumulative.map(pct).unwrap_or_else(|| "-".into())
        )?;
        if hosts_col {
            write!(
                out,
                "  {:>7}",
                r.hosts.map(|h| h.to_string()).unwrap_or_default()
            )?;
        }
        if let Some(g) = r.group_domains {
            let share = if g == 0 {
                0.0
            } else {
                r.domains as f64 / g as f64
            };
            write!(
                out,
                "  {:>18}",
                format!("{}/{} {}", r.domains, g, pct(share))
            )?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "top 10: {} domains, {} of {}",
        t.top10_domains,
        pct(t.top10_share),
        t.selected
    )?;
    Ok(())
}

fn csv_out(t: &Table, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "scan",
        "by",
        "finding",
        "rank",
        "key",
        "domains",
        "share",
        "cumulative",
        "group_domains",
        "selected",
        "scan_domains",
        "hosts",
    ])?;
    for r in &t.rows {
        w.write_record([
            t.scan.to_string(),
            by_name(t.by).to_owned(),
            for_csv_cell(t.finding.as_deref().unwrap_or("")),
            r.rank.to_string(),
            for_csv_cell(&r.key),
            r.domains.to_string(),
            format!("{:.4}", r.share),
            r.cumulative.map(|c| format!("{c:.4}")).unwrap_or_default(),
            r.group_domains.map(|g| g.to_string()).unwrap_or_default(),
            t.selected.to_string(),
            t.scan_domains.to_string(),
            r.hosts.map(|h| h.to_string()).unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_counts_shares_and_cumulates() {
        let items = [
            vec!["a".to_owned()],
            vec!["b".to_owned()],
            vec!["a".to_owned()],
            vec!["c".to_owned()],
        ];
        let (total, rows) = group(items, false);
        assert_eq!(total, 4);
        let got: Vec<(&str, u64)> = rows.iter().map(|r| (r.key.as_str(), r.domains)).collect();
        assert_eq!(got, [("a", 2), ("b", 1), ("c", 1)]);
        assert_eq!(rows[0].share, 0.5);
        assert_eq!(rows[1].cumulative, Some(0.75));
        assert_eq!(rows[2].rank, 3);
        // Multi-key: a domain counts once per distinct key, no cumulative share.
        let (_, rows) = group([vec!["x".to_owned(), "x".to_owned(), "y".to_owned()]], true);
        assert_eq!(rows[0].domains, 1);
        assert_eq!(rows[0].cumulative, None);
    }

    fn domain(name: &str, ips: &[&str]) -> Domain {
        Domain {
            name: name.into(),
            obs: None,
            ips: ips.iter().map(|s| (*s).to_owned()).collect(),
            checks: BTreeSet::new(),
        }
    }

    #[test]
    fn fingerprint_keys_count_domains_and_hosts() {
        let row = |k: &str, ip: &str, d: Option<&str>| {
            (k.to_owned(), ip.to_owned(), d.map(str::to_owned))
        };
        let fps = Fingerprints::from_rows([
            row("Postfix 3.7.11", "192.0.2.1", Some("a.example")),
            row("Postfix 3.7.11", "192.0.2.1", Some("b.example")),
            row("Postfix 3.7.11", "192.0.2.2", Some("c.example")),
            row("OpenSSH 9.2p1", "192.0.2.1", Some("a.example")),
            row("OpenSSH 9.2p1", "192.0.2.1", Some("b.example")),
            row("nginx 1.22.1", "192.0.2.9", None),
        ]);
        let ds = [
            domain("a.example", &["192.0.2.1"]),
            domain("b.example", &["192.0.2.1"]),
            domain("c.example", &["192.0.2.2"]),
            domain("d.example", &["192.0.2.3", "192.0.2.4"]),
        ];
        let (total, rows) = group(ds.iter().map(|d| fps.keys(d)), true);
        assert_eq!(total, 4);
        let got: Vec<(&str, u64)> = rows.iter().map(|r| (r.key.as_str(), r.domains)).collect();
        assert_eq!(
            got,
            [
                ("Postfix 3.7.11", 3),
                ("OpenSSH 9.2p1", 2),
                (NONE_IDENTIFIED, 1)
            ]
        );
        let all: Vec<&Domain> = ds.iter().collect();
        let names: BTreeSet<&str> = all.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(fps.hosts("Postfix 3.7.11", &names, &all), 2);
        assert_eq!(fps.hosts("OpenSSH 9.2p1", &names, &all), 1);
        assert_eq!(fps.hosts(NONE_IDENTIFIED, &names, &all), 2);
        // Only c.example selected (e.g. --finding): one Postfix host, no OpenSSH.
        let only_c: BTreeSet<&str> = ["c.example"].into();
        assert_eq!(fps.hosts("Postfix 3.7.11", &only_c, &all[2..3]), 1);
        assert_eq!(fps.hosts("OpenSSH 9.2p1", &only_c, &all[2..3]), 0);
        assert_eq!(software_label("BIND", None), "BIND (version not disclosed)");
    }
}
