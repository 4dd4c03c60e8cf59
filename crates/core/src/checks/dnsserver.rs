//! Findings about DNS servers: version and host-name disclosure over CHAOS TXT, open
//! recursion (per server), zone transfer allowed and lame delegation (per domain).

use super::service;
use crate::finding::{Finding, Severity, Subject};
use crate::model::{
    AuthoritySection, AxfrOutcome, ChaosAnswer, DnsServerObservation, DomainObservation,
    QueryFailure, Rcode, RecursionTest,
};
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
        && let RecursionVerdict::Open(how) = recursion_verdict(r)
    {
        let mut ev = vec![match &r.response {
            Some(resp) => format!("query {} A (RD=1): {}", r.name, resp.summary()),
            None => format!(
                "query {} A (RD=1): {} with RA={}, {} answer(s)",
                r.name,
                r.rcode.map(Rcode::mnemonic).unwrap_or_default(),
                u8::from(r.recursion_available),
                r.answers
            ),
        }];
        ev.push(
            match how {
                OpenHow::Answered => "it answered a name outside its zones without authority: it resolved it",
                OpenHow::Negative => "a negative answer with RA=1 and the SOA of the name's own zone: it asked that zone's servers for us (recursion), even though the name does not exist",
            }
            .to_owned(),
        );
        ev.extend(r.answer_text.iter().take(4).cloned());
        if let Some(resp) = &r.response {
            ev.extend(resp.authority_text.iter().take(2).cloned());
        }
        let own = d.own_zone.as_ref().and_then(|o| {
            o.response
                .as_ref()
                .filter(|a| a.aa && a.rcode == Rcode::NoError && a.answers > 0)
                .map(|_| o.zone.clone())
        });
        let title = match &own {
            Some(zone) => {
                ev.push(format!("SOA {zone} (RD=0): authoritative answer"));
                format!(
                    "DNS server {ip} is authoritative for {zone} and also resolves names for anyone (authoritative server that recurses: amplification attacks, cache poisoning)"
                )
            }
            None => format!(
                "DNS server {ip} resolves names for anyone (open resolver: amplification attacks, cache poisoning)"
            ),
        };
        out.push(
            Finding::new(
                "dns.open_recursion",
                Severity::High,
                subject(),
                title,
                "Allow recursion only for your own networks (BIND: allow-recursion { localnets; }; Unbound: access-control; dnsmasq: --local-service), or turn it off on authoritative servers (BIND: recursion no;).",
            )
            .with_evidence(ev),
        );
    }
    let tried = d.zone_transfers.len();
    let allowed: Vec<_> = d
        .zone_transfers
        .iter()
        .filter(|z| z.outcome.allowed())
        .collect();
    if !allowed.is_empty() {
        let policy = match d.axfr_cap {
            Some(n) => format!(
                "zone-transfer policy: at most {n} zone(s) tried per name server; {} zone(s) that led here were not tried (not tested)",
                d.axfr_untried
            ),
            None => "zone-transfer policy: every zone that led here was tried".to_owned(),
        };
        let mut ev = vec![policy];
        for z in &d.zone_transfers {
            ev.push(format!(
                "AXFR {} from {ip}: {} ({} records)",
                z.zone,
                axfr_words(z.outcome),
                z.records
            ));
        }
        for z in &allowed {
            ev.extend(z.sample.iter().take(8).cloned());
        }
        let zones: Vec<&str> = allowed.iter().map(|z| z.zone.as_str()).collect();
        out.push(
            Finding::new(
                "dns.axfr_allowed",
                Severity::High,
                subject(),
                format!(
                    "DNS server {ip} allows zone transfer to anyone ({} of {tried} zones tried: {})",
                    allowed.len(),
                    zones.join(", ")
                ),
                "Allow zone transfers only to your secondaries (BIND: allow-transfer { <secondary IPs>; }; or use TSIG keys).",
            )
            .with_evidence(ev),
        );
    }
    out
}

/// How a server that recursed showed it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum OpenHow {
    /// Answer records without authority.
    Answered,
    /// NXDOMAIN or NODATA without authority, RA=1, an SOA (not a referral) in authority.
    Negative,
}

/// Why a server is judged not to recurse for us.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ClosedWhy {
    /// REFUSED (or another error code).
    Refused,
    /// SERVFAIL with RA=0.
    ServFailNoRecursion,
    /// A referral (upward, to the root, or downward).
    Referral,
    /// An authoritative answer: the name is in its own zones, nothing recursed.
    Authoritative,
    /// RA=0 and nothing answered.
    NoRecursion,
}

/// The open-recursion verdict on one test.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum RecursionVerdict {
    /// It recursed for a name outside its authority.
    Open(OpenHow),
    /// It did not.
    Closed(ClosedWhy),
    /// No answer, or SERVFAIL with RA=1 (it may have tried and failed).
    Unknown,
}

/// Judges open recursion by behaviour: the server recursed for a name outside its authority
/// (NOERROR with answers, or NXDOMAIN/NODATA with RA=1 and an SOA in the authority section
/// rather than a referral) = open; REFUSED, SERVFAIL with RA=0, a referral or an
/// authoritative answer without RA (the name is in its own zones) = closed. Older scans without the typed answer: RA=1, NOERROR
/// and answers, as before.
pub fn recursion_verdict(r: &RecursionTest) -> RecursionVerdict {
    let Some(a) = &r.response else {
        return match (r.rcode, r.recursion_available, r.answers) {
            (Some(Rcode::NoError), true, n) if n > 0 => RecursionVerdict::Open(OpenHow::Answered),
            (Some(_), _, _) => RecursionVerdict::Closed(ClosedWhy::NoRecursion),
            (None, _, _) => RecursionVerdict::Unknown,
        };
    };
    let referral = matches!(a.authority, AuthoritySection::Referral { .. });
    let soa = matches!(a.authority, AuthoritySection::Soa { .. });
    match a.rcode {
        // An authoritative server without recursion answering from its own zone.
        Rcode::NoError | Rcode::NxDomain if a.aa && !a.ra => {
            RecursionVerdict::Closed(ClosedWhy::Authoritative)
        }
        Rcode::NoError if a.answers > 0 => RecursionVerdict::Open(OpenHow::Answered),
        Rcode::NoError | Rcode::NxDomain if referral => {
            RecursionVerdict::Closed(ClosedWhy::Referral)
        }
        // RA=1 and a negative answer carrying the name's zone SOA: it asked (AA=1 too: dnsmasq
        // passes the authority's AA bit on the first time it forwards a name).
        Rcode::NoError | Rcode::NxDomain if a.ra && soa => {
            RecursionVerdict::Open(OpenHow::Negative)
        }
        Rcode::ServFail if a.ra => RecursionVerdict::Unknown,
        Rcode::ServFail => RecursionVerdict::Closed(ClosedWhy::ServFailNoRecursion),
        Rcode::NoError | Rcode::NxDomain if a.aa => {
            RecursionVerdict::Closed(ClosedWhy::Authoritative)
        }
        Rcode::NoError | Rcode::NxDomain => RecursionVerdict::Closed(ClosedWhy::NoRecursion),
        _ => RecursionVerdict::Closed(ClosedWhy::Refused),
    }
}

fn axfr_words(o: AxfrOutcome) -> &'static str {
    match o {
        AxfrOutcome::Transferred => "transferred",
        AxfrOutcome::StoppedAtCap => "records handed out (stopped at our cap)",
        AxfrOutcome::EndedEarly => "records handed out, then the connection ended",
        AxfrOutcome::Refused => "refused",
        AxfrOutcome::EmptyAnswer => "refused (empty answer)",
        AxfrOutcome::NoTransfer => "no transfer",
        AxfrOutcome::Malformed => "malformed answer",
        AxfrOutcome::NoConnection => "no connection",
    }
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
        if c.soa_rcode.is_none() && c.soa_error == Some(QueryFailure::Deadline) {
            // Our own deadline, not the server's silence: no conclusion.
            continue;
        }
        let answered = c.soa_rcode.is_some();
        let lame = !answered
            || !c.authoritative
            || c.soa_rcode != Some(Rcode::NoError)
            || c.soa_answers == 0;
        if lame {
            let why = match (c.soa_rcode, c.soa_error) {
                (None, Some(e)) => format!("no answer ({e})"),
                (None, None) => "no answer".to_owned(),
                (Some(rc), _) => format!(
                    "{}, AA={}, {} SOA record(s)",
                    rc.mnemonic(),
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
    let mut serials: Vec<(u32, String)> = ns
        .checks
        .iter()
        .filter(|c| c.authoritative)
        .filter_map(|c| c.soa_serial.map(|s| (s, format!("{} ({})", c.name, c.ip))))
        .collect();
    serials.sort();
    if serials.first().map(|s| s.0) != serials.last().map(|s| s.0) {
        out.push(
            Finding::new(
                "dns.soa_serial_mismatch",
                Severity::Low,
                Subject::Domain(obs.domain.clone()),
                format!("The name servers of {} serve different versions of the zone (SOA serials differ)", obs.domain),
                "Check that zone transfers (or your provisioning) reach every secondary; then the serials agree.",
            )
            .with_evidence(serials.iter().map(|(s, at)| format!("SOA {} at {at}: serial {s}", obs.domain))),
        );
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
                rcode: Some(Rcode::NoError),
                recursion_available: true,
                answers: 1,
                answer_text: vec![],
                error: None,
                response: None,
            }),
            own_zone: None,
            zone_transfers: vec![],
            axfr_cap: None,
            axfr_untried: 0,
            transcript: vec![],
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
        d.recursion.as_mut().unwrap().rcode = Some(Rcode::Refused);
        d.recursion.as_mut().unwrap().answers = 0;
        assert_eq!(ids(&d), ["dns.hostname_disclosed"]);
    }

    /// Rows stored before the outcomes were typed (`"NOERROR"`, the error's words) read as
    /// the same typed values, so re-running the checks on an old scan concludes the same.
    #[test]
    fn old_stored_ns_checks_read_typed() {
        let old = |rcode: serde_json::Value, error: serde_json::Value| -> NsCheck {
            serde_json::from_value(serde_json::json!({
                "name": "ns1.example.jp", "ip": "192.0.2.53", "soa_rcode": rcode,
                "authoritative": false, "soa_answers": 0, "soa_error": error,
                "axfr_records": 0, "axfr_sample": [], "axfr_result": ""
            }))
            .unwrap()
        };
        let c = old(serde_json::json!("NOERROR"), serde_json::Value::Null);
        assert_eq!(c.soa_rcode, Some(Rcode::NoError));
        assert_eq!(
            old("RCODE23".into(), serde_json::Value::Null).soa_rcode,
            Some(Rcode::Other(23))
        );
        assert_eq!(
            old("no-error".into(), serde_json::Value::Null).soa_rcode,
            Some(Rcode::NoError)
        );
        let deadline = old(serde_json::Value::Null, "host deadline reached".into());
        assert_eq!(deadline.soa_error, Some(QueryFailure::Deadline));
        let timeout = old(serde_json::Value::Null, "timeout".into());
        assert_eq!(timeout.soa_error, Some(QueryFailure::Timeout));
        assert_eq!(
            old(
                serde_json::Value::Null,
                "malformed answer (bad label)".into()
            )
            .soa_error,
            Some(QueryFailure::Malformed)
        );
        // Round trip of the new form.
        let json = serde_json::to_value(&deadline).unwrap();
        assert_eq!(json["soa_error"], "deadline");
        assert_eq!(serde_json::to_value(&c).unwrap()["soa_rcode"], "no-error");
        // Our own deadline: no conclusion; the server's silence: lame.
        assert!(domain_ids("ns1.example.jp", vec![deadline]).is_empty());
        assert_eq!(
            domain_ids("ns1.example.jp", vec![timeout])[0],
            "dns.lame_delegation"
        );
        // An old recursion test without the typed answer, judged by its stored mnemonic.
        let r: RecursionTest = serde_json::from_value(serde_json::json!({
            "name": "example.com.", "rcode": "NOERROR", "recursion_available": true,
            "answers": 1, "error": null
        }))
        .unwrap();
        assert_eq!(
            recursion_verdict(&r),
            RecursionVerdict::Open(OpenHow::Answered)
        );
    }

    #[test]
    fn domain_findings() {
        let check = |authoritative: bool, rcode: Option<Rcode>, axfr: usize| NsCheck {
            name: "ns1.example.jp".into(),
            ip: "192.0.2.53".parse().unwrap(),
            soa_rcode: rcode,
            authoritative,
            soa_answers: usize::from(rcode == Some(Rcode::NoError)),
            soa_error: rcode.is_none().then_some(QueryFailure::Timeout),
            axfr_records: axfr,
            axfr_sample: vec![],
            axfr_result: String::new(),
            soa_serial: Some(7),
        };
        let ids = |c| domain_ids("ns1.example.jp", vec![c]);
        assert!(ids(check(true, Some(Rcode::NoError), 0)).is_empty());
        assert_eq!(
            ids(check(true, Some(Rcode::NoError), 12)),
            ["dns.axfr_allowed"]
        );
        for lame in [
            check(false, Some(Rcode::NoError), 0),
            check(false, Some(Rcode::Refused), 0),
            check(false, None, 0),
        ] {
            assert_eq!(ids(lame), ["dns.lame_delegation"]);
        }
    }

    /// The ids of the domain findings for `example.jp` delegated to `ns` alone, whose
    /// name-server checks are `checks`.
    fn domain_ids(ns: &str, checks: Vec<NsCheck>) -> Vec<String> {
        let o = DomainObservation {
            domain: "example.jp".into(),
            mx: Lookup::NoData,
            mx_mode: MxMode::None,
            hosts: vec![],
            skipped: vec![],
            dnsbl: vec![],
            mail_auth: None,
            web_host: None,
            nameservers: Some(NsObservation {
                ns: Lookup::Found(vec![ns.into()]),
                checks,
            }),
            capped: vec![],
        };
        check_domain(&o).into_iter().map(|f| f.id).collect()
    }

    fn resp(
        rcode: Rcode,
        aa: bool,
        ra: bool,
        answers: usize,
        authority: AuthoritySection,
    ) -> RecursionTest {
        RecursionTest {
            name: "probe.example.".into(),
            rcode: Some(rcode),
            recursion_available: ra,
            answers,
            answer_text: vec![],
            error: None,
            response: Some(crate::model::DnsResponse {
                rcode,
                aa,
                ra,
                rd: true,
                answers,
                authority,
                authority_text: vec![],
            }),
        }
    }

    #[test]
    fn recursion_judged_by_behaviour() {
        use crate::model::ReferralDirection as D;
        let soa = |z: &str| AuthoritySection::Soa { zone: z.into() };
        let referral = |z: &str, direction| AuthoritySection::Referral {
            zone: z.into(),
            direction,
        };
        use AuthoritySection::Empty;
        use ClosedWhy::{Authoritative, NoRecursion, Referral, ServFailNoRecursion};
        use RecursionVerdict::{Closed, Open, Unknown};
        let (up, down) = (referral(".", D::Upward), referral("example.", D::Downward));
        #[rustfmt::skip]
        let cases = [
            // (rcode, AA, RA, answers, authority, verdict)
            (Rcode::NoError,  false, true,  1, Empty,           Open(OpenHow::Answered)),
            (Rcode::NxDomain, false, true,  0, soa("."),        Open(OpenHow::Negative)),
            (Rcode::NoError,  false, true,  0, soa("example."), Open(OpenHow::Negative)),
            (Rcode::NxDomain, true,  false, 0, soa("example."), Closed(Authoritative)),
            (Rcode::NoError,  true,  false, 1, Empty,           Closed(Authoritative)),
            (Rcode::Refused,  false, false, 0, Empty,           Closed(ClosedWhy::Refused)),
            (Rcode::Refused,  false, true,  0, Empty,           Closed(ClosedWhy::Refused)),
            (Rcode::ServFail, false, false, 0, Empty,           Closed(ServFailNoRecursion)),
            (Rcode::ServFail, false, true,  0, Empty,           Unknown),
            (Rcode::NoError,  false, false, 0, up,              Closed(Referral)),
            (Rcode::NoError,  false, true,  0, down,            Closed(Referral)),
            (Rcode::NxDomain, false, false, 0, soa("."),        Closed(NoRecursion)),
            (Rcode::NxDomain, false, true,  0, Empty,           Closed(NoRecursion)),
            // dnsmasq forwarding for the first time: the authority's AA bit passed on, RA=1.
            (Rcode::NxDomain, true,  true,  0, soa("example."), Open(OpenHow::Negative)),
            (Rcode::NoError,  false, false, 2, Empty,           Open(OpenHow::Answered)),
        ];
        for (rc, aa, ra, n, auth, want) in cases {
            let t = resp(rc, aa, ra, n, auth.clone());
            assert_eq!(
                recursion_verdict(&t),
                want,
                "{rc:?} AA={aa} RA={ra} {n} {auth:?}"
            );
        }
        // Older scans: only RA, the code and the count.
        let mut old = resp(Rcode::NoError, false, true, 1, AuthoritySection::Empty);
        old.response = None;
        assert_eq!(
            recursion_verdict(&old),
            RecursionVerdict::Open(OpenHow::Answered)
        );
        old.answers = 0;
        assert_eq!(
            recursion_verdict(&old),
            RecursionVerdict::Closed(ClosedWhy::NoRecursion)
        );
    }

    fn server(recursion: Option<RecursionTest>) -> DnsServerObservation {
        DnsServerObservation {
            port: 53,
            status: crate::model::ProbeStatus::Success,
            version_bind: ChaosAnswer::Refused("REFUSED".into()),
            hostname_bind: ChaosAnswer::Refused("REFUSED".into()),
            recursion,
            own_zone: None,
            zone_transfers: vec![],
            axfr_cap: Some(3),
            axfr_untried: 0,
            transcript: vec![],
        }
    }

    #[test]
    fn open_resolver_told_from_authoritative_server_that_recurses() {
        let ip: IpAddr = "192.0.2.53".parse().unwrap();
        let nx = resp(
            Rcode::NxDomain,
            false,
            true,
            0,
            AuthoritySection::Soa { zone: ".".into() },
        );
        let mut d = server(Some(nx));
        let f = check_server(ip, &d);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("open resolver"), "{}", f[0].title);
        assert!(
            f[0].evidence[0].contains("NXDOMAIN, AA=0 RA=1"),
            "{:?}",
            f[0].evidence
        );
        d.own_zone = Some(crate::model::OwnZoneAnswer {
            zone: "example.jp".into(),
            response: resp(Rcode::NoError, true, true, 1, AuthoritySection::Empty).response,
        });
        let f = check_server(ip, &d);
        assert!(
            f[0].title.contains("authoritative for example.jp"),
            "{}",
            f[0].title
        );
        let refused = resp(Rcode::Refused, false, false, 0, AuthoritySection::Empty);
        assert!(check_server(ip, &server(Some(refused))).is_empty());
    }

    #[test]
    fn zone_transfer_reported_with_k_of_n_tried() {
        use crate::model::{AxfrOutcome, ZoneTransfer};
        let ip: IpAddr = "192.0.2.53".parse().unwrap();
        let t = |zone: &str, outcome| ZoneTransfer {
            zone: zone.into(),
            outcome,
            rcode: None,
            records: if outcome == AxfrOutcome::Transferred {
                5
            } else {
                0
            },
            sample: vec![],
            detail: None,
        };
        let mut d = server(None);
        d.axfr_untried = 40;
        d.zone_transfers = vec![
            t("a.jp", AxfrOutcome::Refused),
            t("b.jp", AxfrOutcome::Refused),
        ];
        assert!(
            check_server(ip, &d).is_empty(),
            "refused everywhere: no finding"
        );
        d.zone_transfers.push(t("c.jp", AxfrOutcome::Transferred));
        let f = check_server(ip, &d);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "dns.axfr_allowed");
        assert!(
            f[0].title.contains("1 of 3 zones tried: c.jp"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].evidence[0].contains("at most 3") && f[0].evidence[0].contains("40 zone(s)"),
            "{:?}",
            f[0].evidence
        );
    }

    #[test]
    fn soa_serials_that_differ() {
        let c = |ip: &str, serial| NsCheck {
            name: "ns.example.jp".into(),
            ip: ip.parse().unwrap(),
            soa_rcode: Some(Rcode::NoError),
            authoritative: true,
            soa_answers: 1,
            soa_error: None,
            axfr_records: 0,
            axfr_sample: vec![],
            axfr_result: String::new(),
            soa_serial: Some(serial),
        };
        let ids = |checks| domain_ids("ns.example.jp", checks);
        assert!(ids(vec![c("192.0.2.1", 5), c("192.0.2.2", 5)]).is_empty());
        assert_eq!(
            ids(vec![c("192.0.2.1", 5), c("192.0.2.2", 6)]),
            ["dns.soa_serial_mismatch"]
        );
    }
}
