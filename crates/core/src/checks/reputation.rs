//! Reputation findings: block-list listings decoded with each list's return codes, refusals
//! told apart from listings, and lists that gave no answer.

use crate::finding::{Finding, Severity, Subject};
use crate::model::{DomainObservation, HostObservation, Lookup};
use crate::reputation::{Decoded, DnsblQuery, DnsblSet, ListKind};

pub(super) fn check_host(obs: &HostObservation) -> Vec<Finding> {
    let subject = || Subject::Host(obs.ip.to_string());
    obs.reputation
        .dnsbl
        .iter()
        .filter_map(|q| finding(q, subject()))
        .collect()
}

pub(super) fn check_domain(obs: &DomainObservation) -> Vec<Finding> {
    obs.dnsbl
        .iter()
        .filter_map(|q| finding(q, Subject::Domain(obs.domain.clone())))
        .collect()
}

fn finding(q: &DnsblQuery, subject: Subject) -> Option<Finding> {
    let def = DnsblSet::definition(q);
    let answers = match &q.answer {
        Lookup::Found(a) => a,
        Lookup::NxDomain | Lookup::NoData => return None,
        Lookup::Unknown(why) => {
            return Some(
                Finding::new(
                    "reputation.query_failed",
                    Severity::Info,
                    subject,
                    format!("{} gave no answer about {}", def.name, q.subject),
                    "Nothing to fix on the scanned side; check that your resolver reaches the list, and rerun.",
                )
                .with_evidence([format!("{} A: unknown ({why})", q.query)]),
            );
        }
    };
    let decoded: Vec<Decoded> = answers.iter().map(|a| def.decode(*a)).collect();
    let mut evidence: Vec<String> = decoded
        .iter()
        .map(|d| match d {
            Decoded::Listed { code, meaning, .. } => format!("{} A {code}: {meaning}", q.query),
            Decoded::Refused { code, meaning } => {
                format!("{} A {code}: refused ({meaning})", q.query)
            }
        })
        .collect();
    evidence.extend(q.txt.iter().map(|t| format!("{} TXT \"{t}\"", q.query)));
    let listed: Vec<(&str, Severity)> = decoded
        .iter()
        .filter_map(|d| match d {
            Decoded::Listed {
                meaning, severity, ..
            } => Some((meaning.as_str(), *severity)),
            Decoded::Refused { .. } => None,
        })
        .collect();
    let removal = def
        .url
        .as_deref()
        .map(|u| format!(" Look the listing up and request removal at {u}."))
        .unwrap_or_default();
    if listed.is_empty() {
        return Some(
            Finding::new(
                "reputation.query_refused",
                Severity::Low,
                subject,
                format!(
                    "{} refused the query about {}: listing status unknown",
                    def.name, q.subject
                ),
                "Nothing is known about the subject: query the list through your own recursive resolver (not a public one) and within its free-use volume, or drop it with --dnsbl.",
            )
            .with_evidence(evidence),
        );
    }
    let severity = listed
        .iter()
        .map(|(_, s)| *s)
        .max()
        .unwrap_or(Severity::Medium);
    let reasons: Vec<&str> = listed.iter().map(|(m, _)| *m).collect();
    let (id, what, fix) = match q.kind {
        ListKind::Ip => (
            "reputation.ip_listed",
            "address",
            "Find out why (an open relay, a compromised account or host, a spam-sending customer), stop it, then request removal.",
        ),
        ListKind::Domain => (
            "reputation.domain_listed",
            "domain",
            "Find what got the domain listed (spam sent as it, hacked web pages, a taken-over mailbox), clean it up, then request removal.",
        ),
    };
    Some(
        Finding::new(
            id,
            severity,
            subject,
            format!(
                "The {what} {} is listed on {}: {}",
                q.subject,
                def.name,
                reasons.join("; ")
            ),
            format!("{fix}{removal}"),
        )
        .with_evidence(evidence),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reputation::HostReputation;

    fn q(list: &str, zone: &str, kind: ListKind, answer: Lookup<Vec<&str>>) -> DnsblQuery {
        let answer = answer.map(|v| v.iter().map(|a| a.parse().unwrap()).collect());
        DnsblQuery {
            list: list.into(),
            zone: zone.into(),
            kind,
            subject: "192.0.2.7".into(),
            query: format!("7.2.0.192.{zone}"),
            answer,
            txt: vec!["https://check.example/ip/192.0.2.7".into()],
        }
    }

    fn host(queries: Vec<DnsblQuery>) -> HostObservation {
        HostObservation {
            ip: "192.0.2.7".parse().unwrap(),
            class: crate::addr::AddressClass::Public,
            ptr: Lookup::NxDomain,
            fcrdns: None,
            smtp: Vec::new(),
            relay: None,
            elapsed_ms: 0,
            roles: Vec::new(),
            mailbox: Vec::new(),
            web: Vec::new(),
            dns_server: None,
            ssh: None,
            tlsa: Vec::new(),
            status: Default::default(),
            extra: Default::default(),
            tls_audit: Vec::new(),
            reputation: Box::new(HostReputation {
                dnsbl: queries,
                provider: None,
            }),
        }
    }

    #[test]
    fn table() {
        let zen = |a| q("spamhaus-zen", "zen.spamhaus.org", ListKind::Ip, a);
        type Want = Option<(&'static str, Severity, &'static str)>;
        let cases: Vec<(DnsblQuery, Want)> = vec![
            (zen(Lookup::NxDomain), None),
            (zen(Lookup::NoData), None),
            (
                zen(Lookup::Found(vec!["127.0.0.2", "127.0.0.4"])),
                Some(("reputation.ip_listed", Severity::High, "SBL")),
            ),
            (
                zen(Lookup::Found(vec!["127.0.0.10"])),
                Some(("reputation.ip_listed", Severity::Low, "PBL")),
            ),
            (
                zen(Lookup::Found(vec!["127.255.255.254"])),
                Some(("reputation.query_refused", Severity::Low, "refused")),
            ),
            (
                zen(Lookup::Unknown("timeout".into())),
                Some(("reputation.query_failed", Severity::Info, "no answer")),
            ),
            (
                q(
                    "bl.example.test",
                    "bl.example.test",
                    ListKind::Ip,
                    Lookup::Found(vec!["127.0.0.5"]),
                ),
                Some(("reputation.ip_listed", Severity::Medium, "code 127.0.0.5")),
            ),
            (
                q(
                    "spamhaus-dbl",
                    "dbl.spamhaus.org",
                    ListKind::Domain,
                    Lookup::Found(vec!["127.0.1.4"]),
                ),
                Some(("reputation.domain_listed", Severity::Critical, "phishing")),
            ),
        ];
        for (query, want) in cases {
            let got = check_host(&host(vec![query.clone()]));
            match want {
                None => assert!(got.is_empty(), "{query:?}: {got:?}"),
                Some((id, sev, words)) => {
                    assert_eq!(got.len(), 1, "{query:?}");
                    let f = &got[0];
                    assert_eq!((f.id.as_str(), f.severity), (id, sev), "{query:?}");
                    assert!(f.title.contains(words), "{}", f.title);
                    assert!(
                        f.evidence.iter().any(|e| e.starts_with(&query.query)),
                        "{:?}",
                        f.evidence
                    );
                }
            }
        }
    }

    #[test]
    fn scans_stored_before_reputation_still_load() {
        let obs = host(vec![q(
            "spamhaus-zen",
            "zen.spamhaus.org",
            ListKind::Ip,
            Lookup::Found(vec!["127.0.0.2"]),
        )]);
        let mut json = serde_json::to_value(&obs).unwrap();
        assert!(json["reputation"]["dnsbl"][0]["answer"]["value"][0] == "127.0.0.2");
        json.as_object_mut().unwrap().remove("reputation");
        let old: HostObservation = serde_json::from_value(json).unwrap();
        assert_eq!(*old.reputation, HostReputation::default());
        assert!(check_host(&old).is_empty());
    }

    #[test]
    fn a_refusal_next_to_a_listing_is_a_listing_with_the_refusal_shown() {
        let query = q(
            "spamhaus-zen",
            "zen.spamhaus.org",
            ListKind::Ip,
            Lookup::Found(vec!["127.0.0.3", "127.255.255.255"]),
        );
        let got = check_host(&host(vec![query]));
        assert_eq!(got[0].id, "reputation.ip_listed");
        assert!(got[0].evidence.iter().any(|e| e.contains("refused")));
        assert!(got[0].evidence.iter().any(|e| e.contains("TXT")));
        assert!(got[0].fix.contains("https://check.spamhaus.org/"));
    }
}
