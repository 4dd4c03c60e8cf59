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
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [Self; 8] = [
        Self::DnsblListed,
        Self::RelayOpened,
        Self::CertExpiring,
        Self::CertExpired,
        Self::MailAuthWeakened,
        Self::ServiceExposed,
        Self::AdvisoryMatched,
        Self::HostGone,
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
    out.into_values().collect()
}

/// The alerts between the previous cycle's conditions and this one's: bad conditions that
/// appeared, good ones that disappeared. Sorted worst first, then by key.
pub fn changes(previous: &[Condition], current: &[Condition]) -> Vec<Alert> {
    let before: HashSet<&str> = previous.iter().map(|c| c.key.as_str()).collect();
    let now: HashSet<&str> = current.iter().map(|c| c.key.as_str()).collect();
    let mut out: Vec<Alert> = current
        .iter()
        .filter(|c| !c.kind.alerts_on_loss() && !before.contains(c.key.as_str()))
        .cloned()
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
}
