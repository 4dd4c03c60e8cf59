//! DANE for SMTP (RFC 7672): do the TLSA records at `_25._tcp.<MX host>` match the
//! certificate chain the SMTP probe saw on this address, and are they DNSSEC-validated?

use crate::dane::{TlsaLookup, matches_chain};
use crate::dnssec::DnssecStatus;
use crate::finding::{Finding, Severity};
use crate::model::{HostObservation, Lookup, SmtpObservation, StartTls};

/// DANE findings for one host: one per MX name asked.
pub fn check(obs: &HostObservation) -> Vec<Finding> {
    // The MX port: the first SMTP port without implicit TLS (25, or the operator's override).
    let Some(smtp) = obs.smtp.iter().find(|s| !s.implicit_tls) else {
        return Vec::new();
    };
    obs.tlsa.iter().filter_map(|l| one(obs, smtp, l)).collect()
}

fn one(obs: &HostObservation, smtp: &SmtpObservation, l: &TlsaLookup) -> Option<Finding> {
    let subject = || super::service(obs.ip, smtp.port);
    let host = &l.host;
    let name = &l.name;
    let records = match &l.answer {
        Lookup::Found(r) if !r.is_empty() => r,
        Lookup::Unknown(_) => return None,
        other => {
            return Some(
                Finding::new(
                    "dane.missing",
                    Severity::Info,
                    subject(),
                    format!("No TLSA record for MX {host}: DANE senders fall back to unauthenticated TLS"),
                    format!("Sign the zone with DNSSEC and publish \"{name} TLSA 3 1 1 <SHA-256 of the server's public key>\" (RFC 7672)."),
                )
                .with_evidence([format!("TLSA {name}: {}", other.describe())]),
            );
        }
    };
    let mut ev: Vec<String> = records
        .iter()
        .take(8)
        .map(|t| format!("TLSA {name}: {}", t.render()))
        .collect();
    ev.push(format!(
        "AD bit: {}",
        if l.authenticated {
            "set (DNSSEC-validated)"
        } else {
            "not set"
        }
    ));
    if let Some(v) = &l.validation {
        ev.push(format!("DNSSEC: {}", v.describe()));
        ev.extend(v.evidence.iter().cloned());
    }
    // RFC 7672 §2.2: only a secure TLSA RRset is usable; a bogus one makes DANE senders
    // defer mail, an insecure one is ignored. Certificates are not checked against either.
    if l.validation.as_ref().map(|v| v.status) == Some(DnssecStatus::Bogus) {
        return Some(
            Finding::new(
                "dane.bogus",
                Severity::High,
                subject(),
                format!("TLSA for MX {host} fails DNSSEC validation: DANE senders cannot use it and defer mail to this host (RFC 7672 §2.2)"),
                format!("Fix the DNSSEC chain of trust of the zone holding {name} (DS at the parent matching the zone's key, current signatures), or remove the TLSA records and their DS."),
            )
            .with_evidence(ev),
        );
    }
    if !l.trusted() {
        return Some(
            Finding::new(
                "dane.unsigned",
                Severity::Low,
                subject(),
                format!("TLSA for MX {host} is not DNSSEC-validated (insecure or unverifiable answer): DANE is not usable, senders ignore it (RFC 7672 §2.2)"),
                format!("Sign the zone holding {name} with DNSSEC and publish its DS at the parent, or remove the TLSA records."),
            )
            .with_evidence(ev),
        );
    }
    let tls = match (&smtp.starttls, &smtp.tls) {
        (StartTls::Established, Some(t)) => t,
        (StartTls::NotTried, _) => return None,
        (other, _) => {
            ev.push(format!("STARTTLS: {}", starttls_word(other)));
            return Some(
                Finding::new(
                    "dane.mismatch",
                    Severity::High,
                    subject(),
                    format!("MX {host} publishes validated TLSA but offers no working STARTTLS: DANE senders will not deliver to it"),
                    "Enable STARTTLS with the certificate the TLSA records describe, or remove the TLSA records first.",
                )
                .with_evidence(ev),
            );
        }
    };
    for (i, c) in tls.chain.iter().enumerate().take(4) {
        ev.push(format!(
            "certificate {i}: {} SHA-256 {} SPKI SHA-256 {}",
            c.subject, c.sha256, c.spki_sha256
        ));
    }
    if records.iter().any(|t| matches_chain(t, &tls.chain)) {
        return Some(
            Finding::new(
                "dane.ok",
                Severity::Info,
                subject(),
                format!("TLSA for MX {host} is DNSSEC-validated and matches the certificate presented"),
                "Nothing to fix; before rotating the certificate or key, publish the new TLSA record next to the old one.",
            )
            .with_evidence(ev),
        );
    }
    if records.iter().all(|t| !t.usable()) {
        return Some(
            Finding::new(
                "dane.unusable",
                Severity::Low,
                subject(),
                format!("TLSA for MX {host} has only records SMTP cannot use (PKIX-TA/PKIX-EE or unknown types)"),
                format!("Publish DANE-EE records, \"{name} TLSA 3 1 1 <SHA-256 of the server's public key>\" (RFC 7672 §3.1)."),
            )
            .with_evidence(ev),
        );
    }
    Some(
        Finding::new(
            "dane.mismatch",
            Severity::High,
            subject(),
            format!("TLSA for MX {host} matches no certificate the server presented: mail from DANE senders will fail"),
            format!("Publish TLSA for the certificate now in use at {name} (\"3 1 1\" + the SPKI SHA-256 above); publish the new TLSA before rotating certificates."),
        )
        .with_evidence(ev),
    )
}

fn starttls_word(s: &StartTls) -> String {
    match s {
        StartTls::NotTried => "not tried".into(),
        StartTls::NotOffered => "not offered".into(),
        StartTls::Refused(r) => format!("refused ({r})"),
        StartTls::HandshakeFailed(r) => format!("handshake failed ({r})"),
        StartTls::Established => "established".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dane::Tlsa;
    use crate::model::{CertInfo, ProbeStatus, TlsInfo};

    fn host(starttls: StartTls, tlsa: Vec<TlsaLookup>) -> HostObservation {
        let cert = CertInfo {
            subject: "CN=mx".into(),
            issuer: "CN=mx".into(),
            sans: vec![],
            not_before: 0,
            not_after: 0,
            self_signed: true,
            serial: String::new(),
            key: String::new(),
            sha256: "aa".into(),
            sha512: "bb".into(),
            spki_sha256: "cc".into(),
            spki_sha512: "dd".into(),
        };
        let established = starttls == StartTls::Established;
        let json = serde_json::json!({
            "ip": "192.0.2.25", "class": "public", "ptr": {"status": "no-data"},
            "fcrdns": null, "smtp": [], "relay": null, "elapsed_ms": 0
        });
        let mut h: HostObservation = serde_json::from_value(json).expect("old JSON still reads");
        h.smtp.push(SmtpObservation {
            port: 25,
            implicit_tls: false,
            status: ProbeStatus::Success,
            detail: None,
            greeting: None,
            helo_fallback: false,
            capabilities: None,
            starttls,
            tls: established.then(|| TlsInfo {
                version: "TLSv1_3".into(),
                cipher: String::new(),
                verified_name: None,
                chain: vec![cert],
                problem: None,
                problem_detail: None,
            }),
            capabilities_tls: None,
            vrfy: None,
            expn: None,
            transcript: vec![],
            elapsed_ms: 0,
        });
        h.tlsa = tlsa;
        h
    }

    fn lookup(records: Option<Vec<Tlsa>>, ad: bool) -> TlsaLookup {
        TlsaLookup {
            host: "mx.example".into(),
            name: "_25._tcp.mx.example".into(),
            answer: records.map_or(Lookup::NxDomain, Lookup::Found),
            authenticated: ad,
            validation: None,
        }
    }

    /// A lookup with mxray's own verdict (the AD bit not set).
    fn judged(records: Vec<Tlsa>, status: crate::dnssec::DnssecStatus) -> TlsaLookup {
        use crate::dnssec::{ChainProblem, ValidatedBy, Validation};
        TlsaLookup {
            validation: Some(Validation {
                status,
                by: ValidatedBy::Mxray,
                problem: (status != DnssecStatus::Secure).then_some(ChainProblem::DsMismatch),
                at: "example".into(),
                evidence: vec!["DS example in .: 1 13 2 ab…".into()],
            }),
            ..lookup(Some(records), false)
        }
    }

    fn t(usage: u8, data: &str) -> Tlsa {
        Tlsa {
            usage,
            selector: 1,
            matching: 1,
            data: data.into(),
            data_sha256: String::new(),
        }
    }

    #[test]
    fn dane_table() {
        use StartTls::*;
        for (starttls, l, want) in [
            (Established, lookup(Some(vec![t(3, "cc")]), true), "dane.ok"),
            (
                Established,
                lookup(Some(vec![t(3, "ff"), t(3, "cc")]), true),
                "dane.ok",
            ),
            (
                Established,
                lookup(Some(vec![t(3, "ff")]), true),
                "dane.mismatch",
            ),
            (
                Established,
                lookup(Some(vec![t(1, "cc")]), true),
                "dane.unusable",
            ),
            (
                Established,
                lookup(Some(vec![t(3, "cc")]), false),
                "dane.unsigned",
            ),
            (
                NotOffered,
                lookup(Some(vec![t(3, "cc")]), true),
                "dane.mismatch",
            ),
            (Established, lookup(None, false), "dane.missing"),
            // mxray's own verdict replaces the AD bit: secure is trusted, the rest is not,
            // and a bogus answer is not checked against the certificate at all.
            (
                Established,
                judged(vec![t(3, "cc")], DnssecStatus::Secure),
                "dane.ok",
            ),
            (
                Established,
                judged(vec![t(3, "cc")], DnssecStatus::Bogus),
                "dane.bogus",
            ),
            (
                Established,
                judged(vec![t(3, "ff")], DnssecStatus::Bogus),
                "dane.bogus",
            ),
            (
                Established,
                judged(vec![t(3, "cc")], DnssecStatus::Insecure),
                "dane.unsigned",
            ),
            (
                Established,
                judged(vec![t(3, "cc")], DnssecStatus::Indeterminate),
                "dane.unsigned",
            ),
            (
                NotOffered,
                judged(vec![t(3, "cc")], DnssecStatus::Insecure),
                "dane.unsigned",
            ),
        ] {
            let f = check(&host(starttls, vec![l.clone()]));
            let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
            assert_eq!(ids, [want], "{l:?}");
        }
        // Not reached, or no reliable answer: nothing is concluded.
        assert!(check(&host(NotTried, vec![lookup(Some(vec![t(3, "ff")]), true)])).is_empty());
        let mut unknown = lookup(None, false);
        unknown.answer = Lookup::Unknown("timeout".into());
        assert!(check(&host(Established, vec![unknown])).is_empty());
        assert!(check(&host(Established, vec![])).is_empty());
    }

    #[test]
    fn mismatch_is_high_with_the_fix() {
        let f = check(&host(
            StartTls::Established,
            vec![lookup(Some(vec![t(3, "ff")]), true)],
        ));
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].fix.contains("before rotating"), "{}", f[0].fix);
        assert!(f[0].evidence.iter().any(|e| e.contains("SPKI SHA-256 cc")));
    }
}
