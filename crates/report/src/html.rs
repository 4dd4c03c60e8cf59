//! The HTML report: the model the CLI fills from the store, and its rendering.

use crate::charts::Chart;
use crate::i18n::{Lang, Text};
use askama::Template;
use mxray_core::Severity;
use mxray_core::finding::Finding;
use std::collections::BTreeMap;

/// Everything the report shows, read from the store by the caller.
#[derive(Clone, Debug, Default)]
pub struct ReportInput {
    /// Scan id.
    pub scan_id: i64,
    /// Unix seconds.
    pub started_at: i64,
    /// `finished`, `running`, `interrupted`.
    pub status: String,
    /// Domains (the caller may cap the list; `domains_total` says how many there were).
    pub domains: Vec<DomainEntry>,
    /// Hosts.
    pub hosts: Vec<HostEntry>,
    /// Domains in the scan.
    pub domains_total: usize,
    /// Hosts in the scan.
    pub hosts_total: usize,
    /// The survey's own tables, aggregated over the whole scan (then `domains` and `hosts`
    /// hold only the worst entries, and the charts come from these numbers).
    pub survey: Option<crate::survey::Survey>,
}

/// One domain.
#[derive(Clone, Debug, Default)]
pub struct DomainEntry {
    /// Name.
    pub domain: String,
    /// On the exclusion list.
    pub excluded: bool,
    /// `10 mx.example.jp → 192.0.2.1` lines.
    pub mail_hosts: Vec<String>,
    /// The MX host names (provider attribution).
    pub mx_names: Vec<String>,
    /// Domain findings and the findings of its hosts, worst first.
    pub findings: Vec<Finding>,
}

/// One host.
#[derive(Clone, Debug, Default)]
pub struct HostEntry {
    /// Address.
    pub ip: String,
    /// Reverse DNS.
    pub ptr: Option<String>,
    /// The SMTP greeting (first line), as received.
    pub greeting: Option<String>,
    /// Relay verdict and reason.
    pub relay: Option<String>,
    /// Transcript lines (`C: …`, `S: …`), capped by the caller.
    pub transcript: Vec<String>,
    /// Host and service findings.
    pub findings: Vec<Finding>,
    /// Domains using it.
    pub domains: usize,
    /// Software fingerprinted on its ports (`Store::fingerprints`), one per product and port.
    pub software: Vec<SoftwareEntry>,
    /// The OS guess combining its banners.
    pub os: Option<OsEntry>,
    /// Advisories applying to it that are in CISA's Known Exploited Vulnerabilities
    /// catalogue: the host gets a badge and is listed first.
    pub known_exploited: Vec<String>,
}

/// One product found on a host's port. Version and build come from server text.
#[derive(Clone, Debug, Default)]
pub struct SoftwareEntry {
    /// Port.
    pub port: u16,
    /// Product key (`dovecot`), groups the summary.
    pub product: String,
    /// Display name (`Dovecot`).
    pub name: String,
    /// Upstream version, when disclosed.
    pub version: Option<String>,
    /// Distribution build (`Debian-2+deb12u3`).
    pub build: Option<String>,
    /// Which text told (`imap-id`, `smtp-greeting`, …).
    pub source: String,
}

/// A host's OS guess.
#[derive(Clone, Debug, Default)]
pub struct OsEntry {
    /// `Debian 12`, `Windows`, …
    pub name: String,
    /// 0.0 ..= 1.0.
    pub confidence: f64,
}

impl OsEntry {
    /// Confidence in whole percent, for display.
    fn percent(&self) -> u32 {
        (self.confidence.clamp(0.0, 1.0) * 100.0).round() as u32
    }
}

/// One row of the summary's software table: a product and version, and how many hosts run it.
struct SoftwareRow {
    name: String,
    version: Option<String>,
    hosts: u64,
}

/// Most rows of the summary's software table.
const MAX_SOFTWARE_ROWS: usize = 20;

/// Hosts per (product name, version or none).
type VersionCounts = BTreeMap<(String, Option<String>), u64>;

/// Per host, each product once with each version it disclosed; a product whose version no
/// port disclosed counts once as version-less. Returns `(hosts per product name, hosts per
/// (name, version))`.
fn software_counts(hosts: &[HostEntry]) -> (BTreeMap<String, u64>, VersionCounts) {
    let mut by_product: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_version: VersionCounts = BTreeMap::new();
    for h in hosts {
        let mut names: Vec<&str> = h.software.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            *by_product.entry(name.to_owned()).or_default() += 1;
            let mut versions: Vec<Option<&String>> = h
                .software
                .iter()
                .filter(|s| s.name == name && s.version.is_some())
                .map(|s| s.version.as_ref())
                .collect();
            versions.sort_unstable();
            versions.dedup();
            if versions.is_empty() {
                versions.push(None);
            }
            for v in versions {
                *by_version.entry((name.to_owned(), v.cloned())).or_default() += 1;
            }
        }
    }
    (by_product, by_version)
}

/// Most domain sections and table rows written; the rest are in the database.
const MAX_ROWS: usize = 5_000;
const MAX_DETAILS: usize = 1_000;
const MAX_HOSTS: usize = 1_000;

const STYLE: &str = include_str!("../templates/report.css");
const SCRIPT: &str = include_str!("../templates/report.js");

fn color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#8b0000",
        Severity::High => "#d9480f",
        Severity::Medium => "#e8a33d",
        Severity::Low => "#3b7dd8",
        Severity::Info => "#8a8f98",
    }
}

struct Row<'a> {
    domain: &'a str,
    anchor: String,
    sev_rank: usize,
    verdict: String,
    verdict_class: &'static str,
    ids: String,
    hosts: String,
}

struct FindingView<'a> {
    id: &'a str,
    name: Option<&'static str>,
    severity: String,
    class: &'static str,
    title: &'a str,
    subject: &'a str,
    evidence: &'a [String],
    fix: &'a str,
    fix_local: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "report.html", escape = "html")]
struct Page<'a> {
    t: &'static Text,
    style: &'static str,
    script: &'static str,
    csp: String,
    scan_id: i64,
    started: String,
    status: &'static str,
    domains_total: usize,
    hosts_total: usize,
    problem_domains: usize,
    charts: Vec<Chart>,
    rows: Vec<Row<'a>>,
    details: Vec<(&'a DomainEntry, String, Vec<FindingView<'a>>)>,
    hosts: Vec<(&'a HostEntry, Vec<FindingView<'a>>)>,
    software_rows: Vec<SoftwareRow>,
    truncated: bool,
    sections: Vec<crate::survey::Section>,
    domains_file: Option<String>,
    hosts_file: Option<String>,
    shown_domains: usize,
    shown_hosts: usize,
}

fn sev_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "sev-critical",
        Severity::High => "sev-high",
        Severity::Medium => "sev-medium",
        Severity::Low => "sev-low",
        Severity::Info => "sev-info",
    }
}

fn views<'a>(fs: &'a [Finding], lang: Lang) -> Vec<FindingView<'a>> {
    fs.iter()
        .map(|f| FindingView {
            id: &f.id,
            name: lang.finding_name(&f.id),
            severity: lang.severity(f.severity).to_owned(),
            class: sev_class(f.severity),
            title: &f.title,
            subject: f.subject.name(),
            evidence: &f.evidence,
            fix: &f.fix,
            fix_local: lang.finding_fix(&f.id),
        })
        .collect()
}

/// `sha256-…` of the script, for the Content-Security-Policy.
fn script_hash() -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, SCRIPT.as_bytes());
    format!("sha256-{}", base64(d.as_ref()))
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(A[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn top<K: Ord + Clone>(counts: BTreeMap<K, u64>, n: usize) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// The product word in an SMTP greeting: what follows `ESMTP` (`Postfix`, `Exim 4.96`),
/// else the last word. A rough grouping until software fingerprints exist.
fn product(greeting: &str) -> String {
    let words: Vec<&str> = greeting.split_whitespace().collect();
    let after = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("ESMTP"))
        .and_then(|i| words.get(i + 1));
    after
        .or(words.last())
        .map_or_else(|| "?".to_owned(), |w| w.chars().take(40).collect())
}

/// Renders the report.
pub fn render(input: &ReportInput, lang: Lang) -> String {
    let t = lang.text();
    let worst = |d: &DomainEntry| d.findings.iter().map(|f| f.severity).max();
    let mut domains: Vec<&DomainEntry> = input.domains.iter().collect();
    domains.sort_by(|a, b| {
        worst(b)
            .cmp(&worst(a))
            .then_with(|| a.domain.cmp(&b.domain))
    });

    // Charts.
    let mut by_sev: BTreeMap<Severity, u64> = BTreeMap::new();
    for f in input.domains.iter().flat_map(|d| &d.findings) {
        *by_sev.entry(f.severity).or_default() += 1;
    }
    let sev_items = Severity::ALL
        .iter()
        .rev()
        .map(|s| {
            (
                lang.severity(*s).to_owned(),
                by_sev.get(s).copied().unwrap_or(0),
                color(*s),
            )
        })
        .collect();
    let mut by_check: BTreeMap<String, u64> = BTreeMap::new();
    let mut check_sev: BTreeMap<String, Severity> = BTreeMap::new();
    for d in &input.domains {
        let mut seen: Vec<&str> = Vec::new();
        // Info findings (hardening not in place) are on nearly every domain: they would push
        // out what a survey exists to show.
        for f in d.findings.iter().filter(|f| f.severity > Severity::Info) {
            if !seen.contains(&f.id.as_str()) {
                seen.push(&f.id);
                *by_check.entry(f.id.clone()).or_default() += 1;
                check_sev.insert(f.id.clone(), f.severity);
            }
        }
    }
    let check_items = top(by_check, 10)
        .into_iter()
        .map(|(id, n)| {
            let c = color(check_sev.get(&id).copied().unwrap_or(Severity::Info));
            (
                lang.finding_name(&id).map_or(id.clone(), str::to_owned),
                n,
                c,
            )
        })
        .collect();
    let mut by_provider: BTreeMap<String, u64> = BTreeMap::new();
    let problem_domains = input
        .domains
        .iter()
        .filter(|d| worst(d) >= Some(Severity::High))
        .count();
    for d in input
        .domains
        .iter()
        .filter(|d| worst(d) >= Some(Severity::High))
    {
        let p = d
            .mx_names
            .iter()
            .find_map(|n| crate::registrable(n))
            .unwrap_or_else(|| "(unknown)".into());
        *by_provider.entry(p).or_default() += 1;
    }
    let provider_items = top(by_provider, 10)
        .into_iter()
        .map(|(p, n)| (p, n, "#8b0000"))
        .collect();
    // Software by product from the fingerprints; a scan stored before fingerprints existed
    // falls back to the product word of SMTP greetings.
    let (by_product, by_version) = software_counts(&input.hosts);
    let fingerprinted = !by_product.is_empty();
    let (software_title, software_note, by_software) = if fingerprinted {
        (t.software, t.software_note, by_product)
    } else {
        let mut by_word: BTreeMap<String, u64> = BTreeMap::new();
        for h in &input.hosts {
            if let Some(g) = h.greeting.as_ref().filter(|g| g.starts_with("220")) {
                *by_word.entry(product(g)).or_default() += 1;
            }
        }
        (t.software_greeting, t.software_greeting_note, by_word)
    };
    let software_items = top(by_software, 10)
        .into_iter()
        .map(|(p, n)| (p, n, "#3b7dd8"))
        .collect();
    let software_rows = match &input.survey {
        Some(sv) => sv
            .product_versions
            .iter()
            .take(MAX_SOFTWARE_ROWS)
            .map(|(name, version, hosts)| SoftwareRow {
                name: name.clone(),
                version: version.clone(),
                hosts: *hosts,
            })
            .collect(),
        None => top(by_version, MAX_SOFTWARE_ROWS)
            .into_iter()
            .map(|((name, version), hosts)| SoftwareRow {
                name,
                version,
                hosts,
            })
            .collect(),
    };
    let charts = if let Some(sv) = &input.survey {
        // The whole survey's numbers (the page holds only the worst domains and hosts).
        let sev_items = Severity::ALL
            .iter()
            .rev()
            .map(|s| {
                (
                    lang.severity(*s).to_owned(),
                    sv.worst.get(&Some(*s)).copied().unwrap_or(0),
                    color(*s),
                )
            })
            .collect();
        let mut real: Vec<&crate::survey::CheckStat> = sv
            .checks
            .iter()
            .filter(|c| c.severity > Severity::Info)
            .collect();
        real.sort_by(|a, b| b.domains.cmp(&a.domains).then_with(|| a.id.cmp(&b.id)));
        let check_items = real
            .iter()
            .take(10)
            .map(|c| {
                (
                    lang.finding_name(&c.id).map_or(c.id.clone(), str::to_owned),
                    c.domains,
                    color(c.severity),
                )
            })
            .collect();
        vec![
            Chart::new("chart-severity", t.by_severity_domains, "", sev_items),
            Chart::new(
                "chart-findings",
                t.top_findings,
                t.top_findings_note,
                check_items,
            ),
            Chart::new(
                "chart-providers",
                t.providers,
                t.providers_note_survey,
                sv.problem_providers
                    .iter()
                    .map(|(p, n)| (p.clone(), *n, "#8b0000"))
                    .collect(),
            ),
            Chart::new(
                "chart-software",
                t.software,
                t.software_note,
                sv.products
                    .iter()
                    .take(10)
                    .map(|(p, n)| (p.clone(), *n, "#3b7dd8"))
                    .collect(),
            ),
        ]
    } else {
        vec![
            Chart::new("chart-severity", t.by_severity, "", sev_items),
            Chart::new(
                "chart-findings",
                t.top_findings,
                t.top_findings_note,
                check_items,
            ),
            Chart::new(
                "chart-providers",
                t.providers,
                t.providers_note,
                provider_items,
            ),
            Chart::new(
                "chart-software",
                software_title,
                software_note,
                software_items,
            ),
        ]
    };
    let survey_problems = input.survey.as_ref().map(|s| {
        s.worst
            .iter()
            .filter(|(k, _)| k.is_some_and(|x| x >= Severity::High))
            .map(|(_, n)| *n as usize)
            .sum::<usize>()
    });

    let rows = domains
        .iter()
        .take(MAX_ROWS)
        .map(|d| {
            let w = worst(d);
            let mut ids: Vec<&str> = d.findings.iter().map(|f| f.id.as_str()).collect();
            ids.dedup();
            Row {
                domain: &d.domain,
                anchor: format!("d-{}", d.domain),
                sev_rank: w.map_or(0, |s| {
                    Severity::ALL.iter().position(|x| *x == s).unwrap_or(0) + 1
                }),
                verdict: if d.excluded {
                    t.excluded.to_owned()
                } else {
                    w.map_or_else(|| t.ok.to_owned(), |s| lang.severity(s).to_owned())
                },
                verdict_class: w.map_or("sev-ok", sev_class),
                ids: ids.join(" "),
                hosts: d.mail_hosts.join("; "),
            }
        })
        .collect();
    let details = domains
        .iter()
        .filter(|d| !d.findings.is_empty())
        .take(MAX_DETAILS)
        .map(|d| (*d, format!("d-{}", d.domain), views(&d.findings, lang)))
        .collect();
    let mut hosts: Vec<&HostEntry> = input.hosts.iter().collect();
    hosts.sort_by(|a, b| {
        let w = |h: &HostEntry| h.findings.iter().map(|f| f.severity).max();
        let kev = |h: &HostEntry| !h.known_exploited.is_empty();
        kev(b)
            .cmp(&kev(a))
            .then_with(|| w(b).cmp(&w(a)))
            .then_with(|| a.ip.cmp(&b.ip))
    });
    let hosts = hosts
        .into_iter()
        .take(MAX_HOSTS)
        .map(|h| (h, views(&h.findings, lang)))
        .collect();
    let page = Page {
        t,
        style: STYLE,
        script: SCRIPT,
        csp: format!(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src '{}'",
            script_hash()
        ),
        scan_id: input.scan_id,
        started: format!(
            "{} UTC",
            mxray_core::checks::unix_datetime(input.started_at)
        ),
        status: lang.status(&input.status),
        domains_total: input.domains_total,
        hosts_total: input.hosts_total,
        problem_domains: survey_problems.unwrap_or(problem_domains),
        charts,
        rows,
        details,
        hosts,
        software_rows,
        truncated: input.domains.len() > MAX_ROWS
            || input.domains_total > input.domains.len()
            || input.hosts.len() > MAX_HOSTS,
        sections: input
            .survey
            .as_ref()
            .map(|s| crate::survey::sections(s, lang))
            .unwrap_or_default(),
        domains_file: input.survey.as_ref().and_then(|s| s.domains_file.clone()),
        hosts_file: input.survey.as_ref().and_then(|s| s.hosts_file.clone()),
        shown_domains: input.domains.len().min(MAX_ROWS),
        shown_hosts: input.hosts.len().min(MAX_HOSTS),
    };
    page.render().unwrap_or_else(|e| {
        format!("<!doctype html><title>mxray report</title><p>report rendering failed: {e}</p>")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxray_core::finding::Subject;

    fn input() -> ReportInput {
        let hostile =
            "220 evil ESMTP <script>document.title='pwned'</script>\"><img src=x onerror=alert(1)>";
        let f = Finding::new(
            "smtp.open_relay",
            Severity::Critical,
            Subject::Service("192.0.2.1:25".into()),
            "Open relay <b>x</b>",
            "Fix & \"quote\"",
        )
        .with_evidence([format!("S: {hostile}")]);
        ReportInput {
            scan_id: 7,
            started_at: 1_800_000_000,
            status: "finished".into(),
            domains: vec![DomainEntry {
                domain: "example.jp".into(),
                excluded: false,
                mail_hosts: vec!["10 mx.example.jp → 192.0.2.1".into()],
                mx_names: vec!["mx.example.jp".into()],
                findings: vec![f.clone()],
            }],
            hosts: vec![HostEntry {
                ip: "192.0.2.1".into(),
                ptr: Some("mx.example.jp".into()),
                greeting: Some(hostile.into()),
                relay: Some("open".into()),
                transcript: vec![format!("S: {hostile}")],
                findings: vec![f],
                domains: 1,
                software: vec![SoftwareEntry {
                    port: 25,
                    product: "evil".into(),
                    name: "Evil <i>MTA</i>".into(),
                    version: Some("1.0".into()),
                    build: Some("<script>alert(2)</script>".into()),
                    source: "smtp-greeting".into(),
                }],
                os: Some(OsEntry {
                    name: "<b>OS</b>".into(),
                    confidence: 0.5,
                }),
                known_exploited: vec![],
            }],
            domains_total: 1,
            hosts_total: 1,
            survey: None,
        }
    }

    /// A host with a known exploited advisory gets the badge and comes first, whatever the
    /// severity of the others' findings.
    #[test]
    fn known_exploited_hosts_first_with_a_badge() {
        let mut input = input();
        let mut kev = input.hosts[0].clone();
        kev.ip = "192.0.2.99".into();
        kev.findings.clear();
        kev.known_exploited = vec!["CVE-2019-10149".into()];
        input.hosts.push(kev);
        for lang in [Lang::En, Lang::Ja] {
            let html = render(&input, lang);
            let first = html.find("id=\"h-192.0.2.99\"").expect("kev host");
            let other = html.find("id=\"h-192.0.2.1\"").expect("other host");
            assert!(first < other, "{lang:?}: known exploited host not first");
            assert_eq!(html.matches("class=\"kev\"").count(), 1);
            assert!(html.contains("CVE-2019-10149"));
        }
        assert!(render(&input, Lang::Ja).contains("悪用が確認された脆弱性"));
    }

    #[test]
    fn server_text_is_escaped_everywhere() {
        for lang in [Lang::En, Lang::Ja] {
            let html = render(&input(), lang);
            assert!(
                !html.contains("<script>document.title"),
                "raw script in {lang:?}"
            );
            assert!(!html.contains("<img src=x"), "raw img in {lang:?}");
            assert!(!html.contains("<b>x</b>"));
            assert!(
                html.contains("&#60;script&#62;document.title=&#39;pwned&#39;&#60;/script&#62;"),
                "escaped text visible"
            );
            assert!(html.contains("&#34;&#62;&#60;img src=x onerror=alert(1)&#62;"));
            assert!(!html.contains("<i>MTA</i>") && !html.contains("<b>OS</b>"));
            assert!(html.contains("Evil &#60;i&#62;MTA&#60;/i&#62; 1.0 (&#60;script&#62;alert(2)"));
            assert!(html.contains("&#60;b&#62;OS&#60;/b&#62;"));
            assert_eq!(
                html.matches("<script").count(),
                1,
                "only the report's own script"
            );
            assert!(html.contains("Content-Security-Policy"));
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "no external resource"
            );
        }
    }

    #[test]
    fn languages_and_charts() {
        let en = render(&input(), Lang::En);
        assert!(en.contains("<html lang=\"en\">") && en.contains("Findings by severity"));
        assert_eq!(en.matches("<svg").count(), 4);
        let ja = render(&input(), Lang::Ja);
        assert!(
            ja.contains("<html lang=\"ja\">")
                && ja.contains("深刻度別の検出件数")
                && ja.contains("第三者中継")
        );
        assert!(ja.contains("緊急"));
        // Each finding's Japanese fix from the catalogue, with the check's own (English)
        // detail kept beside it; the English report has no Japanese.
        let relay = mxray_core::catalogue::get("smtp.open_relay").expect("catalogued");
        assert!(
            ja.contains(&askama_escape(&relay.fix_ja)),
            "Japanese fix missing"
        );
        assert!(ja.contains("検査結果の詳細(英語)"));
        assert!(!en.contains(&askama_escape(&relay.fix_ja)));
    }

    /// The text as the template escapes it.
    fn askama_escape(s: &str) -> String {
        s.replace('&', "&#38;")
            .replace('<', "&#60;")
            .replace('>', "&#62;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;")
    }

    fn sw(port: u16, name: &str, version: Option<&str>, source: &str) -> SoftwareEntry {
        SoftwareEntry {
            port,
            product: name.to_ascii_lowercase(),
            name: name.into(),
            version: version.map(Into::into),
            build: None,
            source: source.into(),
        }
    }

    /// The text between `start` and the next `end` after it.
    fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
        let from = html.find(start).unwrap_or_else(|| panic!("no {start}"));
        let rest = &html[from..];
        &rest[..rest.find(end).expect("closed")]
    }

    #[test]
    fn software_per_host_and_by_product() {
        let mut input = input();
        let host = |ip: &str, software: Vec<SoftwareEntry>, os: Option<OsEntry>| HostEntry {
            ip: ip.into(),
            software,
            os,
            ..HostEntry::default()
        };
        input.hosts = vec![
            host(
                "192.0.2.10",
                vec![
                    sw(25, "Postfix", None, "smtp-greeting"),
                    sw(110, "Dovecot", None, "pop3-greeting"),
                    sw(143, "Dovecot", Some("2.3.19.1"), "imap-id"),
                ],
                Some(OsEntry {
                    name: "Debian".into(),
                    confidence: 0.834,
                }),
            ),
            host(
                "192.0.2.11",
                vec![sw(110, "Dovecot", None, "pop3-greeting")],
                None,
            ),
            host("192.0.2.12", vec![], None),
        ];
        for (lang, title, hidden, os) in [
            (
                Lang::En,
                "Software by product",
                "version not disclosed",
                "OS guess",
            ),
            (
                Lang::Ja,
                "製品別のソフトウェア",
                "バージョン非公開",
                "OS の推定",
            ),
        ] {
            let html = render(&input, lang);
            let chart = between(
                &html,
                "<div class=\"chart\" id=\"chart-software\">",
                "</svg>",
            );
            assert!(chart.contains(title), "{chart}");
            assert!(chart.contains(">Dovecot</text>"), "{chart}");
            assert!(chart.contains(">Postfix</text>"), "{chart}");
            let table = between(&html, "<table id=\"software-table\"", "</table>");
            let rows: Vec<&str> = table
                .lines()
                .filter(|l| l.starts_with("<tr><td>"))
                .collect();
            assert_eq!(
                rows,
                [
                    format!(
                        "<tr><td>Dovecot</td><td><span class=\"muted\">{hidden}</span></td><td>1</td></tr>"
                    ),
                    "<tr><td>Dovecot</td><td><code>2.3.19.1</code></td><td>1</td></tr>".to_owned(),
                    format!(
                        "<tr><td>Postfix</td><td><span class=\"muted\">{hidden}</span></td><td>1</td></tr>"
                    ),
                ],
                "one host per product and version; a product whose version one port disclosed is not counted again as hidden"
            );
            let h10 = between(&html, "id=\"h-192.0.2.10\"", "</section>");
            assert!(h10.contains("<code>Dovecot 2.3.19.1</code>"), "{h10}");
            assert!(h10.contains("imap-id"), "{h10}");
            assert_eq!(h10.matches("class=\"sw-line\"").count(), 3, "{h10}");
            assert!(h10.contains(&format!("<b>{os}:</b> Debian")), "{h10}");
            assert!(h10.contains(" 83%)"), "{h10}");
            let h12 = between(&html, "id=\"h-192.0.2.12\"", "</section>");
            assert!(
                !h12.contains("sw-line") && !h12.contains("os-line"),
                "{h12}"
            );
        }
        // A scan without fingerprints: the greeting-word chart, no software table.
        let mut old = input;
        for h in &mut old.hosts {
            h.software.clear();
            h.greeting = Some("220 mx ESMTP Exim 4.96".into());
        }
        let html = render(&old, Lang::En);
        let chart = between(
            &html,
            "<div class=\"chart\" id=\"chart-software\">",
            "</svg>",
        );
        assert!(
            chart.contains("Mail software seen in SMTP greetings"),
            "{chart}"
        );
        assert!(chart.contains(">Exim</text>"), "{chart}");
        assert!(!html.contains("software-table"));
    }

    #[test]
    fn csp_hash_matches_the_script() {
        assert_eq!(base64(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
        assert_eq!(base64(b"any carnal pleasu"), "YW55IGNhcm5hbCBwbGVhc3U=");
        assert_eq!(base64(b"any carnal pleasur"), "YW55IGNhcm5hbCBwbGVhc3Vy");
        let html = render(&input(), Lang::En);
        assert!(html.contains(&script_hash()));
    }

    #[test]
    fn products() {
        assert_eq!(
            product("220 mx.example.jp ESMTP Postfix (Debian/GNU)"),
            "Postfix"
        );
        assert_eq!(product("220 mail ESMTP Exim 4.96 Mon"), "Exim");
        assert_eq!(product("220 hello"), "hello");
    }
}
