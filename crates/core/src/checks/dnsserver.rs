//! Findings about DNS servers: version and host-name disclosure over CHAOS TXT, open
//! recursion (per server), zone transfer allowed and lame delegation (per domain).

use super::service;
use crate::finding::{Finding, Severity, Subject};
use crate::model::{ChaosAnswer, DnsServerObservation, DomainObservation};
use std::net::IpAddr;

pub(super) fn check_server(ip: IpAddr, d: &DnsServerObservation) -> Vec<Finding> {
    let subject = || service(ip, d.port);
    let mut out = Vec::new();
    if let ChaosAnswer::Text(v) = &d.version_bind {
        out.push(
            Finding::new(
                "dns.version_disclosed",
                Severity::Low,
                subject(),
                format!("DNS server {ip} tells anyone its version: {v:?}"),
                "Hide the version (BIND: options { version none; }; Unbound: hide-version: yes; NSD: hide-version: yes) and keep the server patched.",
            )
            .with_evidence([format!("version.bind. CH TXT \"{v}\"")]),
        );
    }
    if let ChaosAnswer::Text(h) = &d.hostname_bind {
        out.push(
            Finding::new(
                "dns.hostname_disclosed",
                Severity::Info,
                subject(),
                format!("DNS server {ip} discloses its host name: {h:?}"),
                "Hide it if internal names are sensitive (BIND: options { hostname none; }; Unbound: hide-identity: yes).",
            )
            .with_evidence([format!("hostname.bind. CH TXT \"{h}\"")]),
        );
    }
    if let Some(r) = &d.recursion
        && r.recursion_available
        && r.rcode.as_deref() == Some("NOERROR")
        && r.answers > 0
    {
        let mut ev = vec![format!(
            "query {} A (RD=1): {} with RA=1, {} answer(s)",
            r.name,
            r.rcode.clone().unwrap_or_default(),
            r.answers
        )];
        ev.extend(r.answer_text.iter().take(4).cloned());
        out.push(
            Finding::new(
                "dns.open_recursion",
                Severity::High,
                subject(),
                format!("DNS server {ip} resolves names for anyone (open resolver: amplification attacks, cache poisoning)"),
                "Allow recursion only for your own networks (BIND: allow-recursion { localnets; }; or recursion no; on authoritative servers).",
            )
            .with_evidence(ev),
        );
    }
    out
}

pub(super) fn check_domain(obs: &DomainObservation) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(ns) = &obs.nameservers else {
        return out;
    };
    for c in &ns.checks {
        let at = format!("{} ({})", c.name, c.ip);
        if c.axfr_records > 0 {
            let mut ev = vec![format!(
                "AXFR {} from {at}: {} records",
                obs.domain, c.axfr_records
            )];
            ev.extend(c.axfr_sample.iter().take(8).cloned());
            out.push(
                Finding::new(
                    "dns.axfr_allowed",
                    Severity::High,
                    Subject::Domain(obs.domain.clone()),
                    format!("Name server {at} hands the whole zone {} to anyone (AXFR)", obs.domain),
                    "Allow zone transfers only to your secondaries (BIND: allow-transfer { <secondary IPs>; }; or use TSIG keys).",
                )
                .with_evidence(ev),
            );
        }
        if c.soa_rcode.is_none() && c.soa_error.as_deref() == Some("host deadline reached") {
            // Our own deadline, not the server's silence: no conclusion.
            continue;
        }
        let answered = c.soa_rcode.is_some();
        let lame = !answered
            || !c.authoritative
            || c.soa_rcode.as_deref() != Some("NOERROR")
            || c.soa_answers == 0;
        if lame {
            let why = match (&c.soa_rcode, &c.soa_error) {
                (None, Some(e)) => format!("no answer ({e})"),
                (None, None) => "no answer".to_owned(),
                (Some(rc), _) => format!(
                    "{rc}, AA={}, {} SOA record(s)",
                    u8::from(c.authoritative),
                    c.soa_answers
                ),
            };
            out.push(
                Finding::new(
                    "dns.lame_delegation",
                    Severity::Medium,
                    Subject::Domain(obs.domain.clone()),
                    format!("Name server {at} is listed for {} but does not answer for it authoritatively", obs.domain),
                    "Serve the zone on every listed name server, or remove the server from the NS set at the parent and in the zone.",
                )
                .with_evidence([format!("SOA {} at {at}: {why}", obs.domain)]),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Lookup, MxMode, NsCheck, NsObservation, RecursionTest};

    #[test]
    fn server_findings() {
        let ip: IpAddr = "192.0.2.53".parse().unwrap();
        let mut d = DnsServerObservation {
            port: 53,
            status: crate::model::ProbeStatus::Success,
            version_bind: ChaosAnswer::Text("9.18.49".into()),
            hostname_bind: ChaosAnswer::Refused("REFUSED".into()),
            recursion: Some(RecursionTest {
                name: "x.example.".into(),
                rcode: Some("NOERROR".into()),
                recursion_available: true,
                answers: 1,
                answer_text: vec![],
                error: None,
            }),
        };
        let ids = |d: &DnsServerObservation| {
            check_server(ip, d)
                .into_iter()
                .map(|f| f.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&d), ["dns.version_disclosed", "dns.open_recursion"]);
        d.version_bind = ChaosAnswer::Refused("no text".into());
        d.hostname_bind = ChaosAnswer::Text("ns1".into());
        d.recursion.as_mut().unwrap().recursion_available = false;
        assert_eq!(ids(&d), ["dns.hostname_disclosed"]);
        d.recursion.as_mut().unwrap().recursion_available = true;
        d.recursion.as_mut().unwrap().rcode = Some("REFUSED".into());
        d.recursion.as_mut().unwrap().answers = 0;
        assert_eq!(ids(&d), ["dns.hostname_disclosed"]);
    }

    #[test]
    fn domain_findings() {
        let check = |authoritative: bool, rcode: Option<&str>, axfr: usize| NsCheck {
            name: "ns1.example.jp".into(),
            ip: "192.0.2.53".parse().unwrap(),
            soa_rcode: rcode.map(String::from),
            authoritative,
            soa_answers: usize::from(rcode == Some("NOERROR")),
            soa_error: rcode.is_none().then(|| "timeout".into()),
            axfr_records: axfr,
            axfr_sample: vec![],
            axfr_result: String::new(),
        };
        let obs = |checks| DomainObservation {
            domain: "example.jp".into(),
            mx: Lookup::NoData,
            mx_mode: MxMode::None,
            hosts: vec![],
            skipped: vec![],
            dnsbl: vec![],
            mail_auth: None,
            web_host: None,
            nameservers: Some(NsObservation {
                ns: Lookup::Found(vec!["ns1.example.jp".into()]),
                checks,
            }),
            capped: vec![],
        };
        let ids = |o: &DomainObservation| {
            check_domain(o)
                .into_iter()
                .map(|f| f.id)
                .collect::<Vec<_>>()
        };
        assert!(ids(&obs(vec![check(true, Some("NOERROR"), 0)])).is_empty());
        assert_eq!(
            ids(&obs(vec![check(true, Some("NOERROR"), 12)])),
            ["dns.axfr_allowed"]
        );
        assert_eq!(
            ids(&obs(vec![check(false, Some("NOERROR"), 0)])),
            ["dns.lame_delegation"]
        );
        assert_eq!(
            ids(&obs(vec![check(false, Some("REFUSED"), 0)])),
            ["dns.lame_delegation"]
        );
        assert_eq!(
            ids(&obs(vec![check(false, None, 0)])),
            ["dns.lame_delegation"]
        );
    }
}
