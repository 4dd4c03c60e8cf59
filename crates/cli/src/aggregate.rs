//! One streaming pass over a stored scan for the survey report and `mxray notify`.
//!
//! Memory is bounded by the hosts (one small summary each: provider, finding ids, block
//! lists) and by what the caller keeps; domains are read a page at a time in name order with
//! their links and domain findings, digested, counted and handed to the caller, then dropped.
//! At 200,000 domains over 2,000 hosts this keeps a few tens of MB (docs/BENCHMARKS.md).

use crate::cmd::report::links_through;
use crate::cmd::stats::{primary_ip, provider_label};
use mxray_core::Severity;
use mxray_core::adoption::{
    self, Adoption, DaneState, DmarcState, DnssecState, Published, SpfState,
};
use mxray_core::finding::Finding;
use mxray_core::model::DomainObservation;
use mxray_report::survey::{
    AdoptionCounts, AdvisoryStat, CheckStat, DnsblStat, FindingProviders, ProviderShare,
    ServiceCensus, Survey,
};
use mxray_store::{ScanId, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Domains read per page.
const PAGE: i64 = 2_000;
/// Product/version rows kept per service in the census.
const CENSUS_ROWS: usize = 25;
/// Advisory rows kept.
const ADVISORY_ROWS: usize = 60;

/// Interns the strings repeated over hundreds of thousands of domains (providers, ids).
#[derive(Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }
}

/// What is kept of each host.
#[derive(Default)]
pub struct HostInfo {
    pub provider: Arc<str>,
    pub ptr: Option<String>,
    /// Block lists (`list (zone)` keys as `stats --by dnsbl`) listing it.
    pub listed: Vec<Arc<str>>,
    /// Finding ids and severities.
    pub checks: Vec<(Arc<str>, Severity)>,
    /// Known-exploited advisories matching its software.
    pub kev: Vec<String>,
    /// Domains linked to it.
    pub domains: u64,
}

impl HostInfo {
    pub fn worst(&self) -> Option<Severity> {
        self.checks.iter().map(|c| c.1).max()
    }
}

/// One digested domain, handed to the caller.
pub struct Digest<'a> {
    pub name: &'a str,
    pub obs: Option<&'a DomainObservation>,
    pub provider: Arc<str>,
    /// Finding id → worst severity (its own and its hosts' through concerned roles).
    pub checks: &'a BTreeMap<Arc<str>, Severity>,
    pub worst: Option<Severity>,
    /// Its links `(ip, roles)`.
    pub links: &'a [(String, u8)],
    /// Its domain findings at or above the pass's minimum, with texts.
    pub findings: Vec<Finding>,
    pub adoption: Adoption,
    pub dane: DaneState,
    pub listed: BTreeSet<Arc<str>>,
}

/// The pass: survey numbers plus the host summaries.
pub struct Pass {
    pub survey: Survey,
    pub hosts: BTreeMap<String, HostInfo>,
}

fn dnsbl_key(q: &mxray_core::reputation::DnsblQuery) -> String {
    if q.list == q.zone {
        q.zone.clone()
    } else {
        format!("{} ({})", q.list, q.zone)
    }
}

/// Runs the pass; `on_domain` sees every scanned domain once, in name order, with its domain
/// findings at or above `min`.
pub async fn run(
    store: &Store,
    scan: ScanId,
    min: Severity,
    mut on_domain: impl FnMut(&Digest<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Pass> {
    let mut it = Interner::default();
    let mut hosts: BTreeMap<String, HostInfo> = BTreeMap::new();
    // Hosts, one observation at a time.
    let mut probed: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut dnsbl_queried: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    let mut dnsbl_listed: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    store
        .each_host(scan, |h| {
            let mut info = HostInfo {
                provider: it.get(&provider_label(Some(&h))),
                ptr: h.ptr.found().and_then(|n| n.first().cloned()),
                ..HostInfo::default()
            };
            for q in &h.reputation.dnsbl {
                let key = it.get(&dnsbl_key(q));
                *dnsbl_queried.entry(key.clone()).or_default() += 1;
                if q.listed() && !info.listed.contains(&key) {
                    *dnsbl_listed.entry(key.clone()).or_default() += 1;
                    info.listed.push(key);
                }
            }
            let mut served = |svc: &'static str, yes: bool| {
                if yes {
                    *probed.entry(svc).or_default() += 1;
                }
            };
            served("smtp", h.smtp.iter().any(|s| s.status.reached()));
            served(
                "pop3",
                h.mailbox.iter().any(|m| {
                    m.protocol == mxray_core::model::MailboxProtocol::Pop3 && m.status.reached()
                }),
            );
            served(
                "imap",
                h.mailbox.iter().any(|m| {
                    m.protocol == mxray_core::model::MailboxProtocol::Imap && m.status.reached()
                }),
            );
            served("http", h.web.iter().any(|w| w.status.reached()));
            served(
                "dns",
                h.dns_server.as_ref().is_some_and(|d| d.status.reached()),
            );
            served("ssh", h.ssh.as_ref().is_some_and(|s| s.status.reached()));
            hosts.insert(h.ip.to_string(), info);
        })
        .await?;
    let mut check_hosts: HashMap<Arc<str>, u64> = HashMap::new();
    for (ip, id, sev) in store.host_finding_ids(scan).await? {
        let id = it.get(&id);
        if let Some(h) = hosts.get_mut(&ip) {
            if !h.checks.iter().any(|c| c.0 == id) {
                *check_hosts.entry(id.clone()).or_default() += 1;
            }
            h.checks.push((id, sev));
        }
    }

    // Software census and advisories.
    let mut census: BTreeMap<&'static str, CensusAcc> = BTreeMap::new();
    let mut service_of: HashMap<(String, String), Vec<&'static str>> = HashMap::new();
    // Per host, each product name with the versions it disclosed (the summary's software
    // table counts as the single-scan report always did).
    let mut host_products: HashMap<String, BTreeMap<String, BTreeSet<Option<String>>>> =
        HashMap::new();
    for (ip, source, product, name, version) in store.software_rows(scan).await? {
        host_products
            .entry(ip.clone())
            .or_default()
            .entry(name.clone())
            .or_default()
            .insert(version.clone());
        let Some(svc) = mxray_core::fingerprint::Source::parse(&source).map(|s| s.service()) else {
            continue;
        };
        let svc: &'static str = match svc {
            "smtp" => "smtp",
            "pop3" => "pop3",
            "imap" => "imap",
            "http" => "http",
            "dns" => "dns",
            "ssh" => "ssh",
            _ => continue, // X-Powered-By names the runtime, not the server
        };
        let c = census.entry(svc).or_default();
        c.identified.insert(ip.clone());
        if version.is_some() {
            c.versioned.insert(ip.clone());
        }
        c.versions
            .entry((name, version))
            .or_default()
            .insert(ip.clone());
        let e = service_of.entry((ip, product)).or_default();
        if !e.contains(&svc) {
            e.push(svc);
        }
    }
    let mut products: BTreeMap<String, u64> = BTreeMap::new();
    let mut product_versions: BTreeMap<(String, Option<String>), u64> = BTreeMap::new();
    for names in host_products.into_values() {
        for (name, versions) in names {
            *products.entry(name.clone()).or_default() += 1;
            let disclosed: Vec<&Option<String>> = versions.iter().filter(|v| v.is_some()).collect();
            if disclosed.is_empty() {
                *product_versions.entry((name, None)).or_default() += 1;
            } else {
                for v in disclosed {
                    *product_versions
                        .entry((name.clone(), v.clone()))
                        .or_default() += 1;
                }
            }
        }
    }
    let mut products: Vec<(String, u64)> = products.into_iter().collect();
    products.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut product_versions: Vec<(String, Option<String>, u64)> = product_versions
        .into_iter()
        .map(|((n, v), c)| (n, v, c))
        .collect();
    product_versions.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    product_versions.truncate(100);
    let mut advisories: BTreeMap<String, AdvAcc> = BTreeMap::new();
    for (adv, ip, product, version, sev, kev) in store.match_rows(scan).await? {
        for svc in service_of
            .get(&(ip.clone(), product.clone()))
            .into_iter()
            .flatten()
        {
            census.entry(svc).or_default().advisory.insert(ip.clone());
        }
        if kev
            && let Some(h) = hosts.get_mut(&ip)
            && !h.kev.contains(&adv)
        {
            h.kev.push(adv.clone());
        }
        let a = advisories.entry(adv).or_default();
        a.hosts.insert(ip);
        a.software.insert(format!("{product} {version}"));
        a.severity = a.severity.max(Some(sev));
        a.kev |= kev;
    }

    // Domains, a page at a time.
    let mut surveyed = 0u64;
    let mut excluded = 0u64;
    let mut hardening = 0u64;
    let mut worst_counts: BTreeMap<Option<Severity>, u64> = BTreeMap::new();
    let mut check_domains: HashMap<Arc<str>, (u64, Severity)> = HashMap::new();
    let mut provider_domains: HashMap<Arc<str>, u64> = HashMap::new();
    let mut check_provider: HashMap<(Arc<str>, Arc<str>), u64> = HashMap::new();
    let mut domains_listed: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    let mut ad = AdoptionCounts::default();
    let mut problem_providers: HashMap<Arc<str>, u64> = HashMap::new();
    let mut after = String::new();
    loop {
        let page = store.domain_page(scan, &after, PAGE).await?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            break;
        };
        let (first, last) = (first.0.clone(), last.0.clone());
        let mut links: HashMap<String, Vec<(String, u8)>> = HashMap::new();
        for (d, ip, roles) in store.links_in(scan, &first, &last).await? {
            links.entry(d).or_default().push((ip, roles));
        }
        let mut dfs: HashMap<String, Vec<mxray_store::StoredFinding>> = HashMap::new();
        for f in store
            .domain_findings_in(scan, &first, &last, Severity::Info)
            .await?
        {
            if let Some(d) = f.domain.clone() {
                dfs.entry(d).or_default().push(f);
            }
        }
        for (name, status, obs) in &page {
            if status != "scanned" {
                excluded += 1;
                continue;
            }
            surveyed += 1;
            let dl: Vec<(String, u8)> = links.remove(name).unwrap_or_default();
            let ips: Vec<String> = dl.iter().map(|l| l.0.clone()).collect();
            let provider = match primary_ip(obs.as_ref(), &ips).and_then(|ip| hosts.get(ip)) {
                Some(h) => h.provider.clone(),
                None => it.get(&provider_label(None)),
            };
            let own = dfs.remove(name).unwrap_or_default();
            let mut checks: BTreeMap<Arc<str>, Severity> = BTreeMap::new();
            for f in &own {
                let e = checks
                    .entry(it.get(&f.finding.id))
                    .or_insert(f.finding.severity);
                *e = (*e).max(f.finding.severity);
            }
            let mut listed: BTreeSet<Arc<str>> = BTreeSet::new();
            for (ip, roles) in &dl {
                if let Some(h) = hosts.get_mut(ip) {
                    h.domains += 1;
                    for (id, sev) in &h.checks {
                        if links_through(id, *roles) {
                            let e = checks.entry(id.clone()).or_insert(*sev);
                            *e = (*e).max(*sev);
                        }
                    }
                    listed.extend(h.listed.iter().cloned());
                }
            }
            for q in obs.iter().flat_map(|o| o.dnsbl.iter()) {
                if q.listed() {
                    listed.insert(it.get(&dnsbl_key(q)));
                }
            }
            let worst = checks.values().copied().max();
            *worst_counts.entry(worst).or_default() += 1;
            if worst >= Some(Severity::High) {
                *problem_providers.entry(provider.clone()).or_default() += 1;
            }
            if checks.values().any(|s| *s == Severity::Info) {
                hardening += 1;
            }
            *provider_domains.entry(provider.clone()).or_default() += 1;
            for (id, sev) in &checks {
                let e = check_domains.entry(id.clone()).or_insert((0, *sev));
                e.0 += 1;
                e.1 = e.1.max(*sev);
                *check_provider
                    .entry((id.clone(), provider.clone()))
                    .or_default() += 1;
            }
            for l in &listed {
                *domains_listed.entry(l.clone()).or_default() += 1;
            }
            let adoption = obs.as_ref().map_or(
                Adoption {
                    spf: SpfState::NotMeasured,
                    dmarc: DmarcState::NotMeasured,
                    mta_sts: Published::NotMeasured,
                    tls_rpt: Published::NotMeasured,
                    dnssec: DnssecState::NotMeasured,
                },
                adoption::of,
            );
            let dane = adoption::dane_state(checks.keys().map(|k| &**k));
            *ad.spf.entry(adoption.spf).or_default() += 1;
            *ad.dmarc.entry(adoption.dmarc).or_default() += 1;
            *ad.mta_sts.entry(adoption.mta_sts).or_default() += 1;
            *ad.tls_rpt.entry(adoption.tls_rpt).or_default() += 1;
            *ad.dnssec.entry(adoption.dnssec).or_default() += 1;
            *ad.dane.entry(dane).or_default() += 1;
            let digest = Digest {
                name,
                obs: obs.as_ref(),
                provider,
                checks: &checks,
                worst,
                links: &dl,
                findings: own
                    .into_iter()
                    .filter(|f| f.finding.severity >= min)
                    .map(|f| f.finding)
                    .collect(),
                adoption,
                dane,
                listed,
            };
            on_domain(&digest)?;
        }
        after = last;
    }

    let checks: Vec<CheckStat> = check_domains
        .iter()
        .map(|(id, (n, sev))| CheckStat {
            id: id.to_string(),
            severity: *sev,
            domains: *n,
            hosts: check_hosts.get(id).copied().unwrap_or(0),
        })
        .collect();
    let mut by_provider: Vec<FindingProviders> = checks
        .iter()
        .filter(|c| c.severity > Severity::Info)
        .map(|c| {
            let id = it.get(&c.id);
            // Same order as `stats`: most domains first, then the key.
            let mut rows: Vec<(Arc<str>, u64)> = check_provider
                .iter()
                .filter(|((i, _), _)| *i == id)
                .map(|((_, p), n)| (p.clone(), *n))
                .collect();
            rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            rows.truncate(10);
            FindingProviders {
                id: c.id.clone(),
                severity: c.severity,
                affected: c.domains,
                top: rows
                    .into_iter()
                    .map(|(p, n)| ProviderShare {
                        provider_domains: provider_domains.get(&p).copied().unwrap_or(0),
                        provider: p.to_string(),
                        domains: n,
                    })
                    .collect(),
            }
        })
        .collect();
    by_provider.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| b.affected.cmp(&a.affected))
            .then_with(|| a.id.cmp(&b.id))
    });
    let census = ["smtp", "pop3", "imap", "http", "dns", "ssh"]
        .into_iter()
        .map(|svc| {
            let c = census.remove(svc).unwrap_or_default();
            let mut versions: Vec<(String, Option<String>, u64)> = c
                .versions
                .into_iter()
                .map(|((n, v), ips)| (n, v, ips.len() as u64))
                .collect();
            versions.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
            versions.truncate(CENSUS_ROWS);
            ServiceCensus {
                service: svc.to_owned(),
                probed: probed.get(svc).copied().unwrap_or(0),
                identified: c.identified.len() as u64,
                versioned: c.versioned.len() as u64,
                advisory_hosts: c.advisory.len() as u64,
                versions,
            }
        })
        .collect();
    let mut advisories: Vec<AdvisoryStat> = advisories
        .into_iter()
        .map(|(id, a)| AdvisoryStat {
            id,
            software: a
                .software
                .into_iter()
                .take(6)
                .collect::<Vec<_>>()
                .join(", "),
            severity: a.severity.unwrap_or(Severity::Info),
            known_exploited: a.kev,
            hosts: a.hosts.len() as u64,
        })
        .collect();
    advisories.sort_by(|a, b| {
        b.known_exploited
            .cmp(&a.known_exploited)
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| b.hosts.cmp(&a.hosts))
            .then_with(|| a.id.cmp(&b.id))
    });
    advisories.truncate(ADVISORY_ROWS);
    let dnsbl = dnsbl_queried
        .iter()
        .map(|(list, q)| DnsblStat {
            list: list.to_string(),
            hosts_queried: *q,
            hosts_listed: dnsbl_listed.get(list).copied().unwrap_or(0),
            domains_listed: domains_listed.get(list).copied().unwrap_or(0),
        })
        // Domain lists are asked about domains, not hosts.
        .chain(
            domains_listed
                .iter()
                .filter(|(l, _)| !dnsbl_queried.contains_key(*l))
                .map(|(l, n)| DnsblStat {
                    list: l.to_string(),
                    hosts_queried: 0,
                    hosts_listed: 0,
                    domains_listed: *n,
                }),
        )
        .collect();
    let survey = Survey {
        surveyed,
        excluded,
        hosts: hosts.len() as u64,
        providers: provider_domains.len() as u64,
        worst: worst_counts,
        hardening_domains: hardening,
        checks,
        by_provider,
        census,
        advisories,
        adoption: ad,
        dnsbl,
        problem_providers: {
            let mut v: Vec<(String, u64)> = problem_providers
                .into_iter()
                .map(|(p, n)| (p.to_string(), n))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(10);
            v
        },
        products,
        product_versions,
        domains_file: None,
        hosts_file: None,
    };
    Ok(Pass { survey, hosts })
}

#[derive(Default)]
struct CensusAcc {
    identified: HashSet<String>,
    versioned: HashSet<String>,
    advisory: HashSet<String>,
    versions: BTreeMap<(String, Option<String>), HashSet<String>>,
}

#[derive(Default)]
struct AdvAcc {
    hosts: HashSet<String>,
    software: BTreeSet<String>,
    severity: Option<Severity>,
    kev: bool,
}
