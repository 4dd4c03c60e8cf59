//! `mxray watch`, without I/O: what one cycle saw, reduced to *conditions* (a listing, an open
//! relay, a certificate near its end, a service answering…), compared with the conditions the
//! previous cycle left in the database, gives the alerts — only what changed.
//!
//! A condition is either *bad* (alert when it appears: a new listing, a relay opened) or
//! *good* (alert when it disappears: a mail host that answered and now does not). Its key is
//! stable across cycles, so an unchanged state gives no alert however often it is seen, and a
//! problem that goes away and comes back alerts again.

use crate::finding::{Finding, Severity, Subject};
use crate::model::{HostObservation, TlsInfo};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What changed. Stable kebab-case strings in the alert schema (docs/schema.md).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Serialize, Deserialize)]
pub enum AlertKind {
    /// A host or domain newly listed on a DNS block list.
    #[serde(rename = "dnsbl.listed")]
    DnsblListed,
    /// A mail server newly relays for outsiders.
    #[serde(rename = "relay.opened")]
    RelayOpened,
    /// A certificate now expires within the warning period.
    #[serde(rename = "cert.expiring")]
    CertExpiring,
    /// A certificate has expired.
    #[serde(rename = "cert.expired")]
    CertExpired,
    /// SPF or DMARC removed or weakened (a new SPF/DMARC finding on the domain).
    #[serde(rename = "mail-auth.weakened")]
    MailAuthWeakened,
    /// A service answers that did not before.
    #[serde(rename = "service.exposed")]
    ServiceExposed,
    /// A host's software newly matches an advisory (new advisory, or new version).
    #[serde(rename = "advisory.matched")]
    AdvisoryMatched,
    /// A mail host that answered SMTP no longer does (or no longer resolves).
    #[serde(rename = "host.gone")]
    HostGone,
    /// A cycle could not reach the resolver, or reached none of the hosts the previous cycle
    /// reached: its results are not compared (no loss alerts), once per outage.
    #[serde(rename = "watch.degraded")]
    CycleDegraded,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [Self; 9] = [
        Self::DnsblListed,
        Self::RelayOpened,
        Self::CertExpiring,
        Self::CertExpired,
        Self::MailAuthWeakened,
        Self::ServiceExposed,
        Self::AdvisoryMatched,
        Self::HostGone,
        Self::CycleDegraded,
    ];

    /// The schema name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DnsblListed => "dnsbl.listed",
            Self::RelayOpened => "relay.opened",
            Self::CertExpiring => "cert.expiring",
            Self::CertExpired => "cert.expired",
            Self::MailAuthWeakened => "mail-auth.weakened",
            Self::ServiceExposed => "service.exposed",
            Self::AdvisoryMatched => "advisory.matched",
            Self::HostGone => "host.gone",
            Self::CycleDegraded => "watch.degraded",
        }
    }

    /// Parses [`AlertKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A short heading, English.
    pub fn title_en(self) -> &'static str {
        match self {
            Self::DnsblListed => "Newly listed on a DNS block list",
            Self::RelayOpened => "Mail server became an open relay",
            Self::CertExpiring => "Certificate expires soon",
            Self::CertExpired => "Certificate expired",
            Self::MailAuthWeakened => "SPF or DMARC removed or weakened",
            Self::ServiceExposed => "New service exposed",
            Self::AdvisoryMatched => "Software newly matches an advisory",
            Self::HostGone => "Mail host no longer answers",
            Self::CycleDegraded => "Cycle could not reach the resolver or hosts",
        }
    }

    /// A short heading, Japanese.
    pub fn title_ja(self) -> &'static str {
        match self {
            Self::DnsblListed => "DNS ブロックリストに新たに掲載",
            Self::RelayOpened => "メールサーバが第三者中継を許すようになった",
            Self::CertExpiring => "証明書の有効期限が近い",
            Self::CertExpired => "証明書の有効期限切れ",
            Self::MailAuthWeakened => "SPF または DMARC が削除・弱体化",
            Self::ServiceExposed => "新たなサービスの公開",
            Self::AdvisoryMatched => "ソフトウェアが脆弱性情報に新たに該当",
            Self::HostGone => "メールホストが応答しなくなった",
            Self::CycleDegraded => "リゾルバまたはホストに到達できなかった巡回",
        }
    }

    /// Whether the condition alerts when it disappears (a host that answered) rather than
    /// when it appears.
    pub fn alerts_on_loss(self) -> bool {
        self == Self::HostGone
    }
}

/// One fact of one cycle.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// Stable across cycles: the kind, the subject and what distinguishes two conditions of
    /// the same kind on one subject (the block list, the advisory, the finding id).
    pub key: String,
    /// What it is.
    pub kind: AlertKind,
    /// The host, service (`IP:port`) or domain it is about.
    pub subject: String,
    /// The domains concerned (for a host, the domains whose hosts include it), sorted.
    pub domains: Vec<String>,
    /// How bad the alert is.
    pub severity: Severity,
    /// The finding id behind it, if any (its catalogue entry names it in both languages).
    pub finding: Option<String>,
    /// One line for humans (English; server text as observed, neutralised by each output).
    pub detail: String,
}

/// An alert: a condition that changed, as emitted.
pub type Alert = Condition;

/// SPF and DMARC findings whose appearance means a record was removed or weakened.
pub const MAIL_AUTH_WEAKENED: &[&str] = &[
    "spf.missing",
    "spf.multiple_records",
    "spf.syntax_error",
    "spf.pass_all",
    "spf.neutral_all",
    "spf.softfail_all",
    "spf.no_all",
    "spf.too_many_lookups",
    "dmarc.missing",
    "dmarc.invalid_record",
    "dmarc.multiple_records",
    "dmarc.syntax_error",
    "dmarc.policy_none",
    "dmarc.subdomain_weaker",
    "dmarc.pct_partial",
];

/// What one cycle saw, as the store returns it.
#[derive(Debug, Default)]
pub struct Cycle<'a> {
    /// Findings with the domain (domain findings) or IP (host findings) they are stored with.
    pub findings: Vec<(Option<&'a str>, Option<&'a str>, &'a Finding)>,
    /// The probed hosts.
    pub hosts: &'a [HostObservation],
    /// (domain, IP) links: which domains use which hosts.
    pub links: &'a [(String, String)],
    /// Now, Unix seconds.
    pub now: i64,
    /// Alert on a certificate expiring within this many days.
    pub expiry_days: i64,
    /// How strong each domain's SPF and DMARC are ([`mail_levels`]): a drop from one cycle
    /// to the next (`p=reject` to `quarantine`, a lower `pct`, `-all` to `~all`) alerts even
    /// when no finding appears.
    pub levels: Vec<MailLevel>,
}

/// The strength of one domain's SPF or DMARC, comparable across cycles.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct MailLevel {
    /// The domain.
    pub domain: String,
    /// `"spf"` or `"dmarc"`.
    pub family: &'static str,
    /// Higher is stronger. DMARC: 1000 × policy (none 0, quarantine 1, reject 2) + `pct`
    /// (0 for `p=none`); SPF: `-all` 3, `~all` 2, `?all` 1, `+all`/no `all` 0.
    pub rank: u32,
    /// As published, for the alert (`p=reject pct=100`, `-all`).
    pub shown: String,
}

/// The SPF and DMARC levels of a domain, from its stored observation; nothing for what was
/// not measured, missing or invalid (their own findings alert on those).
pub fn mail_levels(obs: &crate::model::DomainObservation) -> Vec<MailLevel> {
    use crate::adoption::{QualifierKind, SpfState};
    let mut out = Vec::new();
    let domain = obs.domain.trim_end_matches('.').to_ascii_lowercase();
    let a = crate::adoption::of(obs);
    let spf = match a.spf {
        SpfState::All(QualifierKind::Fail) => Some((3, "-all")),
        SpfState::All(QualifierKind::SoftFail) => Some((2, "~all")),
        SpfState::All(QualifierKind::Neutral) => Some((1, "?all")),
        SpfState::All(QualifierKind::Pass) => Some((0, "+all")),
        SpfState::NoAll => Some((0, "no all term")),
        _ => None,
    };
    if let Some((rank, shown)) = spf {
        out.push(MailLevel {
            domain: domain.clone(),
            family: "spf",
            rank,
            shown: shown.to_owned(),
        });
    }
    let Some(ma) = &obs.mail_auth else {
        return out;
    };
    let records = |name: &str| -> Vec<String> {
        ma.answer(name, "TXT")
            .found()
            .into_iter()
            .flatten()
            .filter(|t| crate::dmarc::is_dmarc_record(t))
            .cloned()
            .collect()
    };
    let mut recs = records(&format!("_dmarc.{domain}"));
    let org = crate::dmarc::org_domain(&domain);
    if recs.is_empty() && org != domain {
        recs = records(&format!("_dmarc.{org}"));
    }
    if let [one] = recs.as_slice()
        && let Ok(r) = crate::dmarc::parse(one)
    {
        let strength = u32::from(crate::dmarc::strength(r.policy()));
        let pct = r.pct().unwrap_or(100).min(100);
        out.push(MailLevel {
            domain,
            family: "dmarc",
            rank: if strength == 0 {
                0
            } else {
                strength * 1000 + pct
            },
            shown: format!("p={} pct={pct}", r.policy()),
        });
    }
    out
}

/// The key prefix of a level condition (never alerted on its own appearance).
const LEVEL: &str = "level:";

/// A level condition's domain, family and rank.
fn level_of(c: &Condition) -> Option<(&str, &str, u32)> {
    let rest = c.key.strip_prefix(AlertKind::MailAuthWeakened.as_str())?;
    let mut parts = rest.trim_start_matches('|').splitn(2, '|');
    let domain = parts.next()?;
    let mut l = parts.next()?.strip_prefix(LEVEL)?.splitn(2, ':');
    let family = l.next()?;
    let rank = l.next()?.parse().ok()?;
    Some((domain, family, rank))
}

fn subject_ip(s: &Subject) -> &str {
    match s {
        Subject::Service(x) => x.rsplit_once(':').map_or(x.as_str(), |(ip, _)| ip),
        Subject::Host(x) | Subject::Domain(x) => x,
    }
}

/// The conditions of one cycle, sorted by key, one per key.
pub fn conditions(c: &Cycle<'_>) -> Vec<Condition> {
    let mut by_ip: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (d, ip) in c.links {
        by_ip.entry(ip.as_str()).or_default().insert(d.as_str());
    }
    let domains_of = |domain: Option<&str>, ip: &str| -> Vec<String> {
        match domain {
            Some(d) => vec![d.to_owned()],
            None => by_ip
                .get(ip)
                .map(|s| s.iter().map(|d| (*d).to_owned()).collect())
                .unwrap_or_default(),
        }
    };
    let mut out: BTreeMap<String, Condition> = BTreeMap::new();
    let mut add = |c: Condition| {
        out.entry(c.key.clone()).or_insert(c);
    };
    for (domain, ip, f) in &c.findings {
        let subject = f.subject.name().to_owned();
        let ip = ip.unwrap_or_else(|| subject_ip(&f.subject));
        let base = |kind: AlertKind, extra: &str| Condition {
            key: format!("{}|{subject}|{extra}", kind.as_str()),
            kind,
            subject: subject.clone(),
            domains: domains_of(*domain, ip),
            severity: f.severity,
            finding: Some(f.id.clone()),
            detail: f.title.clone(),
        };
        match f.id.as_str() {
            // The first evidence line is the question asked (the reversed name under the
            // list's zone): one condition per list.
            "reputation.ip_listed" | "reputation.domain_listed" => add(base(
                AlertKind::DnsblListed,
                f.evidence.first().map_or("", String::as_str),
            )),
            "smtp.open_relay" => add(base(AlertKind::RelayOpened, "")),
            id if MAIL_AUTH_WEAKENED.contains(&id) => add(base(AlertKind::MailAuthWeakened, id)),
            // Evidence: the banner, then one line per advisory starting with its id (written
            // by checks::software): one condition per advisory, so a new advisory for an
            // already vulnerable host alerts too.
            "software.vulnerable" | "software.known_exploited" => {
                for line in f.evidence.iter().skip(1) {
                    if let Some(id) = line.split_whitespace().next() {
                        let mut cond = base(AlertKind::AdvisoryMatched, id);
                        cond.detail = format!("{}: {line}", f.title);
                        add(cond);
                    }
                }
            }
            _ => {}
        }
    }
    for h in c.hosts {
        let ip = h.ip.to_string();
        let domains = domains_of(None, &ip);
        let mut service = |port: u16, what: &str, tls: Option<&TlsInfo>| {
            let subject = format!("{ip}:{port}");
            add(Condition {
                key: format!("{}|{subject}", AlertKind::ServiceExposed.as_str()),
                kind: AlertKind::ServiceExposed,
                subject: subject.clone(),
                domains: domains.clone(),
                severity: Severity::Medium,
                finding: None,
                detail: format!("{what} answers on {subject}"),
            });
            let Some(cert) = tls.and_then(|t| t.chain.first()) else {
                return;
            };
            let left = cert.not_after - c.now;
            let kind = if left <= 0 {
                AlertKind::CertExpired
            } else if left <= c.expiry_days * 86_400 {
                AlertKind::CertExpiring
            } else {
                return;
            };
            let when = crate::date::unix_date(cert.not_after);
            add(Condition {
                key: format!("{}|{subject}|{}", kind.as_str(), cert.not_after),
                kind,
                subject: subject.clone(),
                domains: domains.clone(),
                severity: if kind == AlertKind::CertExpired {
                    Severity::High
                } else {
                    Severity::Medium
                },
                finding: None,
                detail: format!(
                    "the certificate of {what} on {subject} ({}) {} {when}",
                    cert.subject,
                    if kind == AlertKind::CertExpired {
                        "expired"
                    } else {
                        "expires"
                    }
                ),
            });
        };
        let mut smtp_up = false;
        for s in &h.smtp {
            if s.status.reached() {
                smtp_up |= true;
                service(s.port, "SMTP", s.tls.as_ref());
            }
        }
        for m in &h.mailbox {
            if m.status.reached() {
                service(m.port, m.protocol.as_str(), m.tls.as_ref());
            }
        }
        for w in &h.web {
            if w.status.reached() {
                service(
                    w.port,
                    if w.https { "HTTPS" } else { "HTTP" },
                    w.tls.as_ref(),
                );
            }
        }
        if let Some(d) = &h.dns_server
            && d.status.reached()
        {
            service(d.port, "DNS", None);
        }
        if let Some(s) = &h.ssh
            && s.status.reached()
        {
            service(s.port, "SSH", None);
        }
        if smtp_up && h.is_mail_host() {
            add(Condition {
                key: format!("{}|{ip}", AlertKind::HostGone.as_str()),
                kind: AlertKind::HostGone,
                subject: ip.clone(),
                domains: domains.clone(),
                severity: Severity::High,
                finding: None,
                detail: format!(
                    "mail host {ip} answered SMTP in the previous cycle; it no longer does (or no longer resolves)"
                ),
            });
        }
    }
    for l in &c.levels {
        add(Condition {
            key: format!(
                "{}|{}|{LEVEL}{}:{}",
                AlertKind::MailAuthWeakened.as_str(),
                l.domain,
                l.family,
                l.rank
            ),
            kind: AlertKind::MailAuthWeakened,
            subject: l.domain.clone(),
            domains: vec![l.domain.clone()],
            severity: Severity::High,
            finding: None,
            detail: format!("{} {}", l.family.to_ascii_uppercase(), l.shown),
        });
    }
    out.into_values().collect()
}

/// Whether this cycle is degraded rather than a picture of the targets: the resolver
/// answered nothing (`resolver_failed`: every domain's MX lookup failed), or no mail host
/// answered SMTP while the previous cycle reached some. The network, not the targets, is
/// then what changed; a real loss of every host at once is reported by the next good cycle
/// failing the same way, as a lasting degraded notice.
pub fn degraded(previous: &[Condition], current: &[Condition], resolver_failed: bool) -> bool {
    let reached = |s: &[Condition]| s.iter().any(|c| c.kind == AlertKind::HostGone);
    resolver_failed || (reached(previous) && !reached(current))
}

/// The state to keep after a degraded cycle: the last good cycle's conditions (so the next
/// good cycle is compared with it) and one notice, which alerts once per outage (its key is
/// the same on every degraded cycle of the outage; the next good cycle drops it silently).
pub fn degraded_state(previous: &[Condition], why: &str) -> Vec<Condition> {
    let mut out: Vec<Condition> = previous
        .iter()
        .filter(|c| c.kind != AlertKind::CycleDegraded)
        .cloned()
        .collect();
    out.push(Condition {
        key: AlertKind::CycleDegraded.as_str().to_owned(),
        kind: AlertKind::CycleDegraded,
        subject: String::new(),
        domains: Vec::new(),
        severity: Severity::Medium,
        finding: None,
        detail: format!("cycle could not reach the {why}; its results were not compared"),
    });
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The alerts between the previous cycle's conditions and this one's: bad conditions that
/// appeared, good ones that disappeared. Sorted worst first, then by key.
///
/// SPF and DMARC levels alert when one drops for a domain that still publishes it, once,
/// and not when a finding about the same record (`spf.softfail_all`, `dmarc.policy_none`…)
/// already alerts in this cycle.
pub fn changes(previous: &[Condition], current: &[Condition]) -> Vec<Alert> {
    let before: HashSet<&str> = previous.iter().map(|c| c.key.as_str()).collect();
    let now: HashSet<&str> = current.iter().map(|c| c.key.as_str()).collect();
    let was: BTreeMap<(&str, &str), (u32, &Condition)> = previous
        .iter()
        .filter_map(|c| level_of(c).map(|(d, f, r)| ((d, f), (r, c))))
        .collect();
    let appeared: Vec<&Condition> = current
        .iter()
        .filter(|c| {
            !c.kind.alerts_on_loss() && level_of(c).is_none() && !before.contains(c.key.as_str())
        })
        .collect();
    let weakened = current.iter().filter_map(|c| {
        let (domain, family, rank) = level_of(c)?;
        let &(old, old_c) = was.get(&(domain, family))?;
        let already = appeared.iter().any(|a| {
            a.kind == AlertKind::MailAuthWeakened
                && a.subject == domain
                && a.finding
                    .as_deref()
                    .is_some_and(|f| f.starts_with(&format!("{family}.")))
        });
        (rank < old && !already).then(|| {
            let mut a = c.clone();
            a.detail = format!(
                "{} weakened from {} to {}",
                family.to_ascii_uppercase(),
                old_c.detail.split_once(' ').map_or("", |x| x.1),
                c.detail.split_once(' ').map_or("", |x| x.1)
            );
            a
        })
    });
    let weakened: Vec<Alert> = weakened.collect();
    let mut out: Vec<Alert> = appeared
        .into_iter()
        .cloned()
        .chain(weakened)
        .chain(
            previous
                .iter()
                .filter(|c| c.kind.alerts_on_loss() && !now.contains(c.key.as_str()))
                .cloned(),
        )
        .collect();
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.key.cmp(&b.key)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, sev: Severity, subject: Subject, ev: &[&str]) -> Finding {
        Finding::new(id, sev, subject, format!("{id} title"), "fix").with_evidence(ev.to_vec())
    }

    fn of(findings: &[(Option<&str>, Option<&str>, Finding)]) -> Vec<Condition> {
        let links = vec![
            ("a.test".to_owned(), "192.0.2.1".to_owned()),
            ("b.test".to_owned(), "192.0.2.1".to_owned()),
        ];
        conditions(&Cycle {
            findings: findings.iter().map(|(d, i, f)| (*d, *i, f)).collect(),
            hosts: &[],
            links: &links,
            now: 1_000_000,
            expiry_days: 14,
            levels: Vec::new(),
        })
    }

    #[test]
    fn only_changes_alert() {
        let relay = (
            None,
            Some("192.0.2.1"),
            finding(
                "smtp.open_relay",
                Severity::Critical,
                Subject::Service("192.0.2.1:25".into()),
                &[],
            ),
        );
        let zen = (
            None,
            Some("192.0.2.1"),
            finding(
                "reputation.ip_listed",
                Severity::High,
                Subject::Host("192.0.2.1".into()),
                &["1.2.0.192.zen.example → 127.0.0.2"],
            ),
        );
        let other = (
            None,
            Some("192.0.2.1"),
            finding(
                "reputation.ip_listed",
                Severity::High,
                Subject::Host("192.0.2.1".into()),
                &["1.2.0.192.bl.example → 127.0.0.2"],
            ),
        );
        let quiet = (
            Some("a.test"),
            None,
            finding(
                "smtp.vrfy_enabled",
                Severity::Low,
                Subject::Domain("a.test".into()),
                &[],
            ),
        );
        let first = of(&[zen.clone(), quiet.clone()]);
        assert!(changes(&first, &first).is_empty(), "unchanged: no alert");
        let second = of(&[zen.clone(), other.clone(), relay.clone(), quiet]);
        let alerts = changes(&first, &second);
        let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [AlertKind::RelayOpened, AlertKind::DnsblListed]);
        assert_eq!(alerts[0].subject, "192.0.2.1:25");
        assert_eq!(alerts[0].domains, ["a.test", "b.test"]);
        assert!(alerts[1].key.contains("bl.example"), "{}", alerts[1].key);
        // Fixed, then broken again: alerts again.
        let third = of(&[zen]);
        assert!(changes(&second, &third).is_empty());
        assert_eq!(changes(&third, &second).len(), 2);
    }

    #[test]
    fn advisories_and_mail_auth_per_id() {
        let vuln = |ids: &[&str]| {
            let mut ev = vec!["220 mx ESMTP Exim 4.96".to_owned()];
            ev.extend(ids.iter().map(|i| format!("{i} (critical): summary")));
            (
                None,
                Some("192.0.2.1"),
                Finding::new(
                    "software.vulnerable",
                    Severity::Critical,
                    Subject::Service("192.0.2.1:25".into()),
                    "Exim 4.96 is affected",
                    "fix",
                )
                .with_evidence(ev),
            )
        };
        let a = of(&[vuln(&["CVE-1"])]);
        let b = of(&[
            vuln(&["CVE-1", "CVE-2"]),
            (
                Some("a.test"),
                None,
                finding(
                    "dmarc.policy_none",
                    Severity::Medium,
                    Subject::Domain("a.test".into()),
                    &[],
                ),
            ),
        ]);
        let alerts = changes(&a, &b);
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert_eq!(alerts[0].kind, AlertKind::AdvisoryMatched);
        assert!(alerts[0].key.ends_with("|CVE-2"), "{}", alerts[0].key);
        assert_eq!(alerts[1].kind, AlertKind::MailAuthWeakened);
        assert_eq!(alerts[1].domains, ["a.test"]);
    }

    #[test]
    fn lost_host_alerts_once() {
        let up = Condition {
            key: "host.gone|192.0.2.1".into(),
            kind: AlertKind::HostGone,
            subject: "192.0.2.1".into(),
            domains: vec!["a.test".into()],
            severity: Severity::High,
            finding: None,
            detail: String::new(),
        };
        assert!(changes(&[], std::slice::from_ref(&up)).is_empty());
        let gone = changes(std::slice::from_ref(&up), &[]);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].kind, AlertKind::HostGone);
        assert!(changes(&[], &[]).is_empty(), "gone stays gone: once");
    }

    /// A mail host answering SMTP on 25 with a certificate ending at `not_after`, and SSH
    /// when `ssh`.
    fn host(not_after: i64, ssh: bool) -> HostObservation {
        let mut v = serde_json::json!({
            "ip": "192.0.2.1", "class": "public",
            "ptr": {"status": "found", "value": ["mx.a.test."]}, "fcrdns": true,
            "smtp": [{
                "port": 25, "implicit_tls": false, "status": "success", "detail": null,
                "greeting": null, "helo_fallback": false, "capabilities": null,
                "starttls": {"result": "not-tried"}, "capabilities_tls": null,
                "vrfy": null, "expn": null, "transcript": [], "elapsed_ms": 5,
                "tls": {"version": "TLSv1_3", "cipher": "x", "verified_name": null,
                        "problem": null, "problem_detail": null,
                        "chain": [{"subject": "CN=mx.a.test", "issuer": "CN=ca", "sans": [],
                                   "not_before": 0, "not_after": not_after,
                                   "self_signed": false, "serial": "01", "key": "rsa",
                                   "sha256": ""}]}
            }],
            "relay": null, "elapsed_ms": 7,
        });
        if ssh {
            v["ssh"] = serde_json::json!({"port": 22, "status": "success"});
        }
        serde_json::from_value(v).expect("host observation")
    }

    fn of_hosts(hosts: &[HostObservation]) -> Vec<Condition> {
        let links = vec![("a.test".to_owned(), "192.0.2.1".to_owned())];
        conditions(&Cycle {
            findings: Vec::new(),
            hosts,
            links: &links,
            now: 100 * 86_400,
            expiry_days: 14,
            levels: Vec::new(),
        })
    }

    #[test]
    fn certificates_services_and_hosts_from_observations() {
        let day = 86_400;
        let fine = of_hosts(&[host(200 * day, false)]);
        let kinds = |c: &[Condition]| c.iter().map(|c| c.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds(&fine),
            [AlertKind::HostGone, AlertKind::ServiceExposed],
            "an up host and its service; no certificate condition 100 days ahead"
        );
        let soon = of_hosts(&[host(110 * day, true)]);
        let alerts = changes(&fine, &soon);
        assert_eq!(
            kinds(&alerts),
            [AlertKind::CertExpiring, AlertKind::ServiceExposed]
        );
        assert_eq!(alerts[0].subject, "192.0.2.1:25");
        assert_eq!(alerts[1].subject, "192.0.2.1:22");
        assert_eq!(alerts[0].domains, ["a.test"]);
        let expired = of_hosts(&[host(99 * day, true)]);
        assert_eq!(kinds(&changes(&soon, &expired)), [AlertKind::CertExpired]);
        assert!(changes(&expired, &expired).is_empty());
        // The host stops answering: one host.gone, nothing for the services that went with it.
        let gone = changes(&expired, &of_hosts(&[]));
        assert_eq!(kinds(&gone), [AlertKind::HostGone]);
        assert_eq!(gone[0].subject, "192.0.2.1");
    }

    #[test]
    fn kinds_round_trip() {
        for k in AlertKind::ALL {
            assert_eq!(AlertKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().into())
            );
            assert!(!k.title_en().is_empty() && !k.title_ja().is_empty());
        }
    }

    fn levels(list: &[(&str, &'static str, u32, &str)]) -> Vec<Condition> {
        conditions(&Cycle {
            levels: list
                .iter()
                .map(|&(d, family, rank, shown)| MailLevel {
                    domain: d.to_owned(),
                    family,
                    rank,
                    shown: shown.to_owned(),
                })
                .collect(),
            ..Cycle::default()
        })
    }

    #[test]
    fn weakened_spf_and_dmarc_alert_once() {
        let strong = levels(&[
            ("a.test", "dmarc", 2100, "p=reject pct=100"),
            ("a.test", "spf", 3, "-all"),
        ]);
        // Unchanged: nothing.
        assert!(changes(&strong, &strong).is_empty());
        // reject → quarantine: one alert, naming both policies.
        let q = levels(&[
            ("a.test", "dmarc", 1100, "p=quarantine pct=100"),
            ("a.test", "spf", 3, "-all"),
        ]);
        let a = changes(&strong, &q);
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].kind, AlertKind::MailAuthWeakened);
        assert_eq!(a[0].subject, "a.test");
        assert!(
            a[0].detail.contains("p=reject") && a[0].detail.contains("p=quarantine"),
            "{}",
            a[0].detail
        );
        // The next cycle, unchanged at the weaker level: nothing; strengthened: nothing.
        assert!(changes(&q, &q).is_empty());
        assert!(changes(&q, &strong).is_empty());
        // pct lowered, and p=none.
        let pct = levels(&[("a.test", "dmarc", 2050, "p=reject pct=50")]);
        assert_eq!(changes(&strong, &pct).len(), 1);
        let none = levels(&[("a.test", "dmarc", 0, "p=none pct=100")]);
        assert_eq!(changes(&strong, &none).len(), 1);
        // SPF -all → ~all without its finding in the state: one alert.
        let soft = levels(&[
            ("a.test", "dmarc", 2100, "p=reject pct=100"),
            ("a.test", "spf", 2, "~all"),
        ]);
        let a = changes(&strong, &soft);
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(a[0].detail.contains("-all") && a[0].detail.contains("~all"));
        // With the finding `spf.softfail_all` appearing too: still one alert (the finding's).
        let mut with_finding = soft;
        with_finding.extend(of(&[(
            Some("a.test"),
            None,
            finding(
                "spf.softfail_all",
                Severity::Medium,
                Subject::Domain("a.test".into()),
                &[],
            ),
        )]));
        let a = changes(&strong, &with_finding);
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].finding.as_deref(), Some("spf.softfail_all"));
        // Another domain's level does not count.
        let b = levels(&[("b.test", "dmarc", 0, "p=none pct=100")]);
        assert!(changes(&strong, &b).is_empty());
    }

    #[test]
    fn mail_levels_read_the_records() {
        use crate::mailauth::{DnsAnswer, MailAuthObservation};
        use crate::model::{DomainObservation, Lookup, MxMode};
        let obs = |spf: &str, dmarc: &str| DomainObservation {
            domain: "a.test".into(),
            mx: Lookup::NoData,
            mx_mode: MxMode::Explicit,
            hosts: vec![],
            skipped: vec![],
            dnsbl: vec![],
            web_host: None,
            nameservers: None,
            capped: vec![],
            mail_auth: Some(MailAuthObservation {
                dns: [("a.test", spf), ("_dmarc.a.test", dmarc)]
                    .iter()
                    .map(|(n, t)| DnsAnswer {
                        name: (*n).to_owned(),
                        rtype: "TXT".into(),
                        answer: Lookup::Found(vec![(*t).to_owned()]),
                    })
                    .collect(),
                ..Default::default()
            }),
        };
        let rank = |o: &DomainObservation, f: &str| {
            mail_levels(o)
                .into_iter()
                .find(|l| l.family == f)
                .map(|l| l.rank)
        };
        let strong = obs("v=spf1 mx -all", "v=DMARC1; p=reject");
        let weak = obs("v=spf1 mx ~all", "v=DMARC1; p=quarantine");
        let partial = obs("v=spf1 mx ?all", "v=DMARC1; p=reject; pct=40");
        assert_eq!(rank(&strong, "spf"), Some(3));
        assert_eq!(rank(&strong, "dmarc"), Some(2100));
        assert_eq!(rank(&weak, "spf"), Some(2));
        assert_eq!(rank(&weak, "dmarc"), Some(1100));
        assert_eq!(rank(&partial, "spf"), Some(1));
        assert_eq!(rank(&partial, "dmarc"), Some(2040));
        let none = obs("not spf", "v=DMARC1; p=none; pct=100");
        assert_eq!(rank(&none, "spf"), None, "no SPF record: no level");
        assert_eq!(rank(&none, "dmarc"), Some(0));
    }

    #[test]
    fn a_degraded_cycle_alerts_once_and_keeps_the_last_good_state() {
        let good = of_hosts(&[host(2_000_000_000, false)]);
        assert!(good.iter().any(|c| c.kind == AlertKind::HostGone));
        // Resolver down: no host reached, nothing found.
        let down: Vec<Condition> = Vec::new();
        assert!(degraded(&good, &down, false), "every host lost at once");
        assert!(degraded(&good, &good, true), "resolver failed");
        assert!(!degraded(&good, &good, false));
        assert!(!degraded(&[], &down, false), "nothing reached before");
        let s1 = degraded_state(&good, "resolver");
        let a = changes(&good, &s1);
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].kind, AlertKind::CycleDegraded);
        assert!(a[0].detail.contains("could not reach the resolver"));
        // Still down: no second notice, still no host.gone.
        let s2 = degraded_state(&s1, "resolver");
        assert!(changes(&s1, &s2).is_empty());
        // Back: the good cycle compared with the last good one, no spurious alert.
        assert!(changes(&s2, &good).is_empty());
        // A second outage notifies again.
        assert_eq!(changes(&good, &degraded_state(&good, "hosts")).len(), 1);
    }
}
