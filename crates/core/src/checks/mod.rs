//! Checks: pure functions from observations to findings.
//!
//! Each submodule owns one area. A check never performs I/O, so the same function runs
//! during a scan and later on stored observations (`mxray check --scan`), and is tested with
//! plain values.

pub mod audit;
mod dane;
mod dkim;
mod dmarc;
mod dns;
mod dnssec;
mod dnsserver;
mod extra;
pub use dnsserver::{ClosedWhy, OpenHow, RecursionVerdict, recursion_verdict};
mod mailbox;
mod relay;
mod reputation;
mod smtp;
pub mod software;
mod spf;
mod ssh;
mod tls;
mod tlsaudit;
mod transport;
mod web;

pub use crate::date::{unix_date, unix_datetime};
use crate::finding::Finding;
use crate::model::{DomainObservation, HostObservation, role_mask};

/// Time-dependent checks take the time as a parameter (Unix seconds) to stay pure.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Now, Unix seconds.
    pub now: i64,
}

/// Every finding about a domain's own DNS and mail-host set-up.
pub fn domain(obs: &DomainObservation) -> Vec<Finding> {
    let mut out = dns::check(obs);
    out.extend(reputation::check_domain(obs));
    out.extend(dnsserver::check_domain(obs));
    out.extend(spf::check(obs));
    out.extend(dmarc::check(obs));
    out.extend(transport::check(obs));
    out.extend(dkim::check(obs));
    out.extend(dnssec::check(obs));
    out
}

/// Every finding about one host and its services.
pub fn host(obs: &HostObservation, clock: Clock) -> Vec<Finding> {
    let mut out = dns::check_host(obs);
    out.extend(reputation::check_host(obs));
    for s in &obs.smtp {
        out.extend(smtp::check(obs.ip, s));
        out.extend(tls::check(obs.ip, s.port, s.tls.as_ref(), clock));
    }
    for m in &obs.mailbox {
        out.extend(mailbox::check(obs.ip, m));
        out.extend(tls::check(obs.ip, m.port, m.tls.as_ref(), clock));
    }
    for w in &obs.web {
        out.extend(web::check(obs.ip, w));
        out.extend(tls::check(obs.ip, w.port, w.tls.as_ref(), clock));
    }
    for a in &obs.tls_audit {
        out.extend(tlsaudit::check(obs.ip, a));
    }
    if let Some(d) = &obs.dns_server {
        out.extend(dnsserver::check_server(obs.ip, d));
    }
    if let Some(s) = &obs.ssh {
        out.extend(ssh::check(obs.ip, s));
    }
    if let Some(r) = &obs.relay {
        out.extend(relay::check(obs.ip, r));
    }
    out.extend(extra::check(obs.ip, &obs.extra));
    out.extend(dane::check(obs));
    out
}

/// Which roles link a host finding to the domains that use the host, by finding-id prefix,
/// first match wins: an SMTP finding counts for the domains using the address as a mail host,
/// a DNS-server finding for those using it as a name server. Anything else (block lists,
/// software) counts through every role.
pub const LINK_ROLES: &[(&str, u8)] = &[
    ("dns.ptr_missing", role_mask::MAIL),
    ("dns.fcrdns_mismatch", role_mask::MAIL),
    ("dns.", role_mask::NS),
    ("smtp.", role_mask::MAIL),
    ("mailbox.", role_mask::MAIL),
    ("ssh.", role_mask::MAIL),
    ("telnet.", role_mask::MAIL),
    ("smb.", role_mask::MAIL),
    ("proxy.", role_mask::MAIL),
    ("ftp.", role_mask::MAIL),
    ("dane.", role_mask::MAIL),
    ("auth.", role_mask::MAIL),
    ("web.", role_mask::MAIL | role_mask::WEB),
    ("tls.", role_mask::MAIL | role_mask::WEB),
];

/// The [`role_mask`] bits through which a host finding with this id links to a domain.
pub fn link_roles(check_id: &str) -> u8 {
    LINK_ROLES
        .iter()
        .find(|(p, _)| check_id.starts_with(p))
        .map_or(role_mask::ALL, |(_, m)| *m)
}

/// [`link_roles`] as an SQL expression over the column holding the finding id (portable
/// SQL: `CASE … LIKE …`), for joins between host findings and domain links.
pub fn link_roles_sql(col: &str) -> String {
    let mut s = String::from("(CASE");
    for (p, m) in LINK_ROLES {
        // `_` is a LIKE wildcard; it still matches itself, and no id differs only there.
        s.push_str(&format!(" WHEN {col} LIKE '{p}%' THEN {m}"));
    }
    s.push_str(&format!(" ELSE {} END)", role_mask::ALL));
    s
}

/// `ip:port` in the form used for service subjects (`[v6]:port` for IPv6).
pub(crate) fn service(ip: std::net::IpAddr, port: u16) -> crate::finding::Subject {
    crate::finding::Subject::Service(std::net::SocketAddr::new(ip, port).to_string())
}

/// Observations for the checks' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::mailauth::{DnsAnswer, MailAuthObservation};
    use crate::model::{DomainObservation, Lookup, MailHost, MxMode};

    /// `ex.test` with MX `mx.ex.test` (192.0.2.1) and these recorded answers.
    pub fn domain(answers: Vec<(&str, &str, Lookup<Vec<String>>)>) -> DomainObservation {
        DomainObservation {
            domain: "ex.test".into(),
            mx: Lookup::Found(vec![crate::model::Mx {
                preference: 10,
                exchange: "mx.ex.test".into(),
            }]),
            mx_mode: MxMode::Explicit,
            hosts: vec![MailHost {
                name: "mx.ex.test".into(),
                preference: 10,
                addresses: Lookup::Found(vec!["192.0.2.1".parse().expect("ip")]),
                excluded: false,
            }],
            skipped: vec![],
            dnsbl: vec![],
            web_host: None,
            nameservers: None,
            mail_auth: Some(MailAuthObservation {
                dns: answers
                    .into_iter()
                    .map(|(n, t, a)| DnsAnswer {
                        name: n.into(),
                        rtype: t.into(),
                        answer: a,
                    })
                    .collect(),
                ..Default::default()
            }),
            capped: vec![],
        }
    }
}
