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
    truncated: bool,
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
        for f in &d.findings {
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
    let mut by_software: BTreeMap<String, u64> = BTreeMap::new();
    for h in &input.hosts {
        if let Some(g) = h.greeting.as_ref().filter(|g| g.starts_with("220")) {
            *by_software.entry(product(g)).or_default() += 1;
        }
    }
    let software_items = top(by_software, 10)
        .into_iter()
        .map(|(p, n)| (p, n, "#3b7dd8"))
        .collect();
    let charts = vec![
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
            t.software,
            t.software_note,
            software_items,
        ),
    ];

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
        w(b).cmp(&w(a)).then_with(|| a.ip.cmp(&b.ip))
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
        problem_domains,
        charts,
        rows,
        details,
        hosts,
        truncated: input.domains.len() > MAX_ROWS
            || input.domains_total > input.domains.len()
            || input.hosts.len() > MAX_HOSTS,
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
            }],
            domains_total: 1,
            hosts_total: 1,
        }
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
