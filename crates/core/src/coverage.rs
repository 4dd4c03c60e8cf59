//! Whether a scan's observations could have produced a finding: the difference between
//! "fixed" and "not looked at".
//!
//! A finding present in one scan and absent from another means something changed only when
//! the other scan ran the check that produces it on the same subject. A second scan with
//! `--no-relay-test`, a host that did not answer the second time, a block list that was not
//! asked: none of these fixes anything, and `mxray diff` must say "not compared" instead of
//! "resolved" (seed 000's lesson: a migration silently lost a setting, and a diff that invents
//! fixes would hide exactly that).
//!
//! The rule is read from the observation the finding's id needs (the catalogue's `needs`; an id
//! this version does not know is judged by its area) and its subject, and from what the other
//! scan observed about that subject.

use crate::catalogue::{self, Needs};
use crate::finding::Subject;
use crate::model::{DomainObservation, HostObservation, ProbeStatus};
use crate::relay::RelayVerdict;
use std::net::IpAddr;

/// What the other scan shows about a finding's check.
#[derive(Clone, Copy, Debug, Eq, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// The check ran on the same subject: presence or absence of the finding is a result.
    Ran,
    /// The subject was not observed at all (domain not scanned, host not probed).
    NotObserved,
    /// The subject was observed but the probe or question behind this check did not run or
    /// got no usable answer (disabled, refused, timed out, inconclusive).
    NotRun,
}

/// Whether a finding with `id` about `subject` could have been produced from these
/// observations: `domain` is the scan's observation of the domain the finding is read for,
/// `host` the scan's observation of the subject's address (host and service findings).
///
/// A host the scan never probed is "not observed" — unless the domain's observation shows the
/// domain did not use that address in this scan: then the domain's mail (or web, or DNS) did
/// not go through it, and a finding about it is really absent for this domain (an MX moved
/// from an open relay to a closed server has fixed the domain's relay).
pub fn coverage(
    id: &str,
    subject: &Subject,
    domain: Option<&DomainObservation>,
    host: Option<&HostObservation>,
) -> Coverage {
    let needs = catalogue::get(id).map_or_else(|| guess(id), |e| e.needs);
    match subject {
        Subject::Domain(_) => {
            let Some(d) = domain else {
                return Coverage::NotObserved;
            };
            ran_if(match needs {
                Needs::MailAuth => d.mail_auth.is_some(),
                Needs::DomainDnsbl | Needs::Dnsbl => !d.dnsbl.is_empty(),
                Needs::Nameservers => d.nameservers.as_ref().is_some_and(|n| !n.checks.is_empty()),
                _ => true,
            })
        }
        Subject::Host(name) => {
            let Some(h) = host else {
                return unprobed(name.parse().ok(), domain);
            };
            ran_if(match needs {
                Needs::HostDnsbl | Needs::Dnsbl => !h.reputation.dnsbl.is_empty(),
                _ => true,
            })
        }
        Subject::Service(name) => {
            let Some(h) = host else {
                let ip = name.parse::<std::net::SocketAddr>().ok().map(|s| s.ip());
                return unprobed(ip, domain);
            };
            let Some(port) = name
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
            else {
                return Coverage::NotRun;
            };
            ran_if(service_ran(needs, port, h))
        }
    }
}

/// The observation an id missing from the catalogue (a stored scan made by a newer version)
/// most likely needs, from its area.
fn guess(id: &str) -> Needs {
    match id.split('.').next().unwrap_or(id) {
        "spf" | "dmarc" | "dkim" | "mta_sts" | "tlsrpt" | "caa" | "dnssec" => Needs::MailAuth,
        "smtp" => Needs::Smtp,
        "mailbox" | "pop3" | "imap" => Needs::Mailbox,
        "web" => Needs::Web,
        "ssh" => Needs::Ssh,
        "telnet" | "smb" | "proxy" | "ftp" => Needs::ExposureExtra,
        "reputation" => Needs::Dnsbl,
        _ => Needs::Service,
    }
}

/// Coverage of a finding about an address this scan did not probe.
fn unprobed(ip: Option<IpAddr>, domain: Option<&DomainObservation>) -> Coverage {
    match (ip, domain) {
        (Some(ip), Some(d)) if !uses(d, ip) => Coverage::Ran,
        _ => Coverage::NotObserved,
    }
}

/// Whether a domain's observation names this address as a mail host, web host or name server.
fn uses(d: &DomainObservation, ip: IpAddr) -> bool {
    let has = |l: &crate::model::Lookup<Vec<IpAddr>>| l.found().is_some_and(|v| v.contains(&ip));
    d.hosts.iter().any(|h| has(&h.addresses))
        || d.web_host.as_ref().is_some_and(|w| has(&w.addresses))
        || d.nameservers
            .as_ref()
            .is_some_and(|n| n.checks.iter().any(|c| c.ip == ip))
}

fn ran_if(ran: bool) -> Coverage {
    if ran { Coverage::Ran } else { Coverage::NotRun }
}

/// Whether the probe behind a service finding ran on `port` and got an answer.
fn service_ran(needs: Needs, port: u16, h: &HostObservation) -> bool {
    let ok = |s: ProbeStatus| s == ProbeStatus::Success;
    let smtp = || h.smtp.iter().any(|s| s.port == port && ok(s.status));
    let mailbox = || h.mailbox.iter().any(|m| m.port == port && ok(m.status));
    let web = || h.web.iter().any(|w| w.port == port && ok(w.status));
    let dns = || {
        h.dns_server
            .as_ref()
            .is_some_and(|d| d.port == port && ok(d.status))
    };
    let ssh = || {
        h.ssh
            .as_ref()
            .is_some_and(|s| s.port == port && ok(s.status))
    };
    match needs {
        // The relay verdicts need the battery to have reached a conclusion on this port.
        Needs::Relay => h
            .relay
            .as_ref()
            .is_some_and(|r| r.port == port && r.verdict != RelayVerdict::Inconclusive),
        // Unreachable is itself a result of trying to connect.
        Needs::SmtpConnect => h.smtp.iter().any(|s| s.port == port),
        Needs::Smtp => smtp(),
        Needs::Mailbox => mailbox(),
        Needs::Web => web(),
        Needs::DnsServer => dns(),
        Needs::Ssh => ssh(),
        Needs::ExposureExtra => h.extra.answered(port),
        // TLS, DANE and software findings ride on whichever service answered on the port.
        Needs::Service => smtp() || mailbox() || web() || dns() || ssh() || h.extra.answered(port),
        Needs::TlsAudit => h.tls_audit.iter().any(|a| a.port == port && ok(a.status)),
        // Audit findings are stored with the audited domain, never with a probed host: a scan
        // that probed the host did not repeat the audit.
        Needs::Audit => false,
        Needs::Domain
        | Needs::MailAuth
        | Needs::DomainDnsbl
        | Needs::Nameservers
        | Needs::Host
        | Needs::HostDnsbl
        | Needs::Dnsbl => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Lookup;
    use crate::relay::RelayObservation;
    use crate::reputation::{DnsblQuery, ListKind};

    fn host(relay: Option<RelayVerdict>) -> HostObservation {
        HostObservation {
            ip: "192.0.2.1".parse().expect("ip"),
            class: crate::addr::AddressClass::Public,
            ptr: Lookup::NxDomain,
            fcrdns: None,
            smtp: Vec::new(),
            relay: relay.map(|verdict| RelayObservation {
                port: 25,
                status: ProbeStatus::Success,
                attempts: Vec::new(),
                control: None,
                verdict,
                reason: String::new(),
                transcript: Vec::new(),
            }),
            elapsed_ms: 0,
            roles: Vec::new(),
            mailbox: Vec::new(),
            web: Vec::new(),
            dns_server: None,
            ssh: None,
            tlsa: Vec::new(),
            status: Default::default(),
            tls_audit: Vec::new(),
            reputation: Box::default(),
            extra: Default::default(),
        }
    }

    fn domain(dnsbl: bool) -> DomainObservation {
        let mut d = crate::checks::test_support::domain(Vec::new());
        if dnsbl {
            d.dnsbl.push(DnsblQuery {
                list: "zen".into(),
                zone: "zen.test".into(),
                kind: ListKind::Domain,
                subject: "ex.test".into(),
                query: "ex.test.zen.test".into(),
                answer: Lookup::NxDomain,
                txt: Vec::new(),
            });
        }
        d
    }

    #[test]
    fn relay_findings_need_a_conclusive_battery_on_that_port() {
        let svc = Subject::Service("192.0.2.1:25".into());
        let f = |h: &HostObservation| coverage("smtp.open_relay", &svc, None, Some(h));
        assert_eq!(f(&host(None)), Coverage::NotRun, "--no-relay-test");
        assert_eq!(
            f(&host(Some(RelayVerdict::Inconclusive))),
            Coverage::NotRun,
            "greylisted: no conclusion"
        );
        assert_eq!(f(&host(Some(RelayVerdict::Closed))), Coverage::Ran);
        let other_port = Subject::Service("192.0.2.1:587".into());
        assert_eq!(
            coverage(
                "smtp.open_relay",
                &other_port,
                None,
                Some(&host(Some(RelayVerdict::Closed)))
            ),
            Coverage::NotRun
        );
        assert_eq!(
            coverage("smtp.open_relay", &svc, None, None),
            Coverage::NotObserved
        );
    }

    #[test]
    fn an_address_the_domain_no_longer_uses_counts_as_compared() {
        let d = domain(false); // MX mx.ex.test at 192.0.2.1
        let moved = Subject::Service("198.51.100.7:25".into());
        assert_eq!(
            coverage("smtp.open_relay", &moved, Some(&d), None),
            Coverage::Ran,
            "the domain's mail no longer goes through 198.51.100.7"
        );
        let still_used = Subject::Service("192.0.2.1:25".into());
        assert_eq!(
            coverage("smtp.open_relay", &still_used, Some(&d), None),
            Coverage::NotObserved,
            "used but not probed"
        );
    }

    #[test]
    fn service_findings_need_the_service_to_have_answered() {
        let svc = Subject::Service("192.0.2.1:25".into());
        let h = host(Some(RelayVerdict::Closed));
        // No SMTP observation on port 25 at all: the STARTTLS check did not run.
        assert_eq!(
            coverage("smtp.no_starttls", &svc, None, Some(&h)),
            Coverage::NotRun
        );
        assert_eq!(
            coverage("tls.self_signed", &svc, None, Some(&h)),
            Coverage::NotRun
        );
        assert_eq!(
            coverage(
                "web.dir_listing",
                &Subject::Service("192.0.2.1:80".into()),
                None,
                Some(&h)
            ),
            Coverage::NotRun
        );
    }

    #[test]
    fn block_list_findings_need_the_lists_to_have_been_asked() {
        let s = Subject::Domain("ex.test".into());
        assert_eq!(
            coverage("reputation.domain_listed", &s, Some(&domain(false)), None),
            Coverage::NotRun,
            "--no-dnsbl"
        );
        assert_eq!(
            coverage("reputation.domain_listed", &s, Some(&domain(true)), None),
            Coverage::Ran
        );
        assert_eq!(
            coverage("dns.null_mx", &s, Some(&domain(false)), None),
            Coverage::Ran
        );
        assert_eq!(
            coverage("dns.null_mx", &s, None, None),
            Coverage::NotObserved
        );
        assert_eq!(
            coverage(
                "reputation.ip_listed",
                &Subject::Host("192.0.2.1".into()),
                None,
                Some(&host(None))
            ),
            Coverage::NotRun
        );
    }
}
