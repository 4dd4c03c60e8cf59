//! Findings from the TLS version and cipher audit (crafted ClientHellos, `core::tlsprobe`).
//!
//! A version counts as accepted only when a ServerHello negotiated it; "TLS 1.2 and 1.3 both
//! refused" needs a definite refusal (an alert or a close right after the hello) of both
//! offers, so a timeout never becomes a finding.

use super::service;
use crate::finding::{Finding, Severity};
use crate::model::{TlsAttemptResult, TlsAuditObservation, TlsAuditService};
use crate::tlsprobe::{Offer, SuiteClass, TlsVersion, alert_name};
use std::net::IpAddr;

/// One evidence line per offer.
fn evidence(a: &TlsAuditObservation) -> Vec<String> {
    let mut out = vec![format!(
        "{} on port {}{}",
        a.service.as_str(),
        a.port,
        if a.implicit_tls {
            " (implicit TLS)"
        } else {
            " (after STARTTLS)"
        }
    )];
    for t in &a.attempts {
        let r = match &t.result {
            TlsAttemptResult::Accepted {
                version,
                suite_name,
                ..
            } => format!("accepted: {} {suite_name}", version.as_str()),
            TlsAttemptResult::OddVersion { version } => {
                format!("ServerHello with version 0x{version:04x}")
            }
            TlsAttemptResult::Alert { description } => {
                format!(
                    "refused: alert {description} ({})",
                    alert_name(*description)
                )
            }
            TlsAttemptResult::Closed => "refused: connection closed".into(),
            TlsAttemptResult::Malformed { why } => format!("malformed answer: {}", why.as_str()),
            TlsAttemptResult::StartTlsFailed { detail } => format!("STARTTLS failed: {detail}"),
            TlsAttemptResult::NoAnswer { status, detail } => {
                format!("no answer ({}): {detail}", status.as_str())
            }
        };
        out.push(format!("offer {}: {r}", t.offer.as_str()));
    }
    out
}

/// The suite accepted with `version`, if any offer negotiated it.
fn accepted_with(a: &TlsAuditObservation, v: TlsVersion) -> Option<(&str, SuiteClass)> {
    a.attempts.iter().find_map(|t| match &t.result {
        TlsAttemptResult::Accepted {
            version,
            suite_name,
            class,
            ..
        } if *version == v => Some((suite_name.as_str(), *class)),
        _ => None,
    })
}

pub(super) fn check(ip: IpAddr, a: &TlsAuditObservation) -> Vec<Finding> {
    let ev = evidence(a);
    let port = a.port;
    let mut out = Vec::new();
    let mut add = |id: &str, sev, title: String, fix: &str| {
        out.push(Finding::new(id, sev, service(ip, port), title, fix).with_evidence(ev.clone()));
    };
    let accepted = a.accepted_versions();
    if accepted.contains(&TlsVersion::Ssl3) {
        add(
            "tls.legacy_version_ssl3",
            Severity::High,
            format!("Port {port} accepts SSL 3.0 (POODLE)"),
            "Disable SSL 3.0 (e.g. Postfix `smtpd_tls_protocols = >=TLSv1.2`, Dovecot `ssl_min_protocol = TLSv1.2`, nginx `ssl_protocols TLSv1.2 TLSv1.3`).",
        );
    }
    if let Some((suite, class)) = accepted_with(a, TlsVersion::Tls10) {
        let beast = if class == SuiteClass::Cbc {
            format!(" with the CBC suite {suite} (BEAST)")
        } else {
            format!(" ({suite})")
        };
        add(
            "tls.legacy_version_1_0",
            Severity::Medium,
            format!("Port {port} accepts TLS 1.0{beast}"),
            "Disable TLS 1.0 and 1.1 (RFC 8996): Postfix `smtpd_tls_protocols = >=TLSv1.2` (and `smtpd_tls_mandatory_protocols`), Dovecot `ssl_min_protocol = TLSv1.2`, nginx `ssl_protocols TLSv1.2 TLSv1.3`.",
        );
    }
    if let Some((suite, _)) = accepted_with(a, TlsVersion::Tls11) {
        add(
            "tls.legacy_version_1_1",
            Severity::Low,
            format!("Port {port} accepts TLS 1.1 ({suite})"),
            "Disable TLS 1.1 (RFC 8996): Postfix `smtpd_tls_protocols = >=TLSv1.2`, Dovecot `ssl_min_protocol = TLSv1.2`, nginx `ssl_protocols TLSv1.2 TLSv1.3`.",
        );
    }
    let refused = |o: Offer| a.result(o).is_some_and(TlsAttemptResult::refused);
    if !accepted.is_empty()
        && !accepted.contains(&TlsVersion::Tls12)
        && !accepted.contains(&TlsVersion::Tls13)
        && refused(Offer::Tls12)
        && refused(Offer::Tls13)
    {
        let best = accepted.last().map_or("", |v| v.as_str());
        add(
            "tls.no_tls1_2_or_1_3",
            Severity::High,
            format!("Port {port} refuses TLS 1.2 and TLS 1.3 (best: {best})"),
            "Upgrade the TLS library or the server and enable TLS 1.2 and TLS 1.3; senders that require TLS 1.2 (most large providers) cannot deliver securely.",
        );
    }
    // Anonymous suites on SMTP with STARTTLS are opportunistic TLS as RFC 7435 means it (and
    // Postfix's default: its server accepts them unless client certificates are asked for):
    // a sender that does not authenticate the server gains nothing from a certificate.
    let opportunistic = a.service == TlsAuditService::Smtp && !a.implicit_tls;
    let mut weak: Vec<(SuiteClass, &str)> = a
        .attempts
        .iter()
        .filter_map(|t| match &t.result {
            TlsAttemptResult::Accepted {
                suite_name, class, ..
            } if class.is_weak() && !(opportunistic && *class == SuiteClass::Anonymous) => {
                Some((*class, suite_name.as_str()))
            }
            _ => None,
        })
        .collect();
    weak.sort_unstable();
    weak.dedup();
    if !weak.is_empty() {
        // 3DES alone is SWEET32 (a lot of traffic needed); the others break confidentiality
        // or authentication outright.
        let sev = if weak.iter().all(|(c, _)| *c == SuiteClass::TripleDes) {
            Severity::Medium
        } else {
            Severity::High
        };
        let list: Vec<String> = weak
            .iter()
            .map(|(c, n)| format!("{n} ({})", c.as_str()))
            .collect();
        add(
            "tls.weak_cipher",
            sev,
            format!(
                "Port {port} accepts weak cipher suites: {}",
                list.join(", ")
            ),
            "Allow only strong suites (ECDHE with AES-GCM or ChaCha20-Poly1305): e.g. Postfix `smtpd_tls_ciphers = high`, `smtpd_tls_exclude_ciphers = aNULL, eNULL, EXPORT, DES, 3DES, RC4, MD5`; nginx/Dovecot `HIGH:!aNULL:!eNULL:!3DES:!RC4:!MD5`; never lower OpenSSL's security level.",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ProbeStatus, TlsAttempt};
    use crate::tlsprobe::{classify, suite_name};

    fn accepted(offer: Offer, v: TlsVersion, suite: u16) -> TlsAttempt {
        TlsAttempt {
            offer,
            result: TlsAttemptResult::Accepted {
                version: v,
                suite,
                suite_name: suite_name(suite),
                class: classify(suite),
            },
        }
    }

    fn alert(offer: Offer) -> TlsAttempt {
        TlsAttempt {
            offer,
            result: TlsAttemptResult::Alert { description: 70 },
        }
    }

    fn audit(attempts: Vec<TlsAttempt>) -> TlsAuditObservation {
        TlsAuditObservation {
            service: TlsAuditService::Smtp,
            port: 25,
            implicit_tls: false,
            status: ProbeStatus::Success,
            detail: None,
            attempts,
            transcript: Vec::new(),
            elapsed_ms: 0,
        }
    }

    fn ids(a: &TlsAuditObservation) -> Vec<(String, Severity)> {
        let mut v: Vec<_> = check("192.0.2.1".parse().unwrap(), a)
            .into_iter()
            .map(|f| (f.id, f.severity))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn modern_only_server_has_no_findings() {
        let a = audit(vec![
            accepted(Offer::Tls13, TlsVersion::Tls13, 0x1302),
            accepted(Offer::Tls12, TlsVersion::Tls12, 0xc030),
            alert(Offer::Tls11),
            alert(Offer::Tls10),
            TlsAttempt {
                offer: Offer::Weak,
                result: TlsAttemptResult::Alert { description: 40 },
            },
        ]);
        assert_eq!(ids(&a), []);
    }

    #[test]
    fn legacy_versions_and_weak_suites() {
        let a = audit(vec![
            alert(Offer::Tls13),
            TlsAttempt {
                offer: Offer::Tls12,
                result: TlsAttemptResult::Closed,
            },
            accepted(Offer::Tls11, TlsVersion::Tls10, 0xc014),
            accepted(Offer::Tls10, TlsVersion::Tls10, 0xc014),
            accepted(Offer::Weak, TlsVersion::Tls10, 0x000a),
        ]);
        assert_eq!(
            ids(&a),
            [
                ("tls.legacy_version_1_0".into(), Severity::Medium),
                ("tls.no_tls1_2_or_1_3".into(), Severity::High),
                ("tls.weak_cipher".into(), Severity::Medium),
            ]
        );
        let f = check("192.0.2.1".parse().unwrap(), &a);
        assert!(f[0].title.contains("BEAST"), "{}", f[0].title);
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e == "offer tls1.2: refused: connection closed")
        );

        let a = audit(vec![
            accepted(Offer::Tls13, TlsVersion::Tls13, 0x1301),
            accepted(Offer::Tls12, TlsVersion::Tls12, 0xc02f),
            accepted(Offer::Tls11, TlsVersion::Tls11, 0xc013),
            alert(Offer::Tls10),
            accepted(Offer::Weak, TlsVersion::Tls12, 0x0005),
            accepted(Offer::Weak, TlsVersion::Tls12, 0x000a),
        ]);
        assert_eq!(
            ids(&a),
            [
                ("tls.legacy_version_1_1".into(), Severity::Low),
                ("tls.weak_cipher".into(), Severity::High),
            ]
        );
    }

    /// Anonymous suites: accepted on SMTP with STARTTLS (opportunistic), weak elsewhere.
    #[test]
    fn anonymous_suites_count_except_for_opportunistic_smtp() {
        let mut a = audit(vec![
            accepted(Offer::Tls13, TlsVersion::Tls13, 0x1301),
            accepted(Offer::Tls12, TlsVersion::Tls12, 0xc02f),
            alert(Offer::Tls11),
            alert(Offer::Tls10),
            accepted(Offer::Weak, TlsVersion::Tls12, 0x00a6),
            alert(Offer::Weak),
        ]);
        assert_eq!(ids(&a), []);
        a.implicit_tls = true;
        a.port = 465;
        assert_eq!(ids(&a), [("tls.weak_cipher".into(), Severity::High)]);
        a.implicit_tls = false;
        a.service = TlsAuditService::Imap;
        assert_eq!(ids(&a), [("tls.weak_cipher".into(), Severity::High)]);
    }

    /// No answer is not a refusal: nothing is claimed about TLS 1.2/1.3.
    #[test]
    fn timeouts_claim_nothing() {
        let a = audit(vec![
            TlsAttempt {
                offer: Offer::Tls13,
                result: TlsAttemptResult::NoAnswer {
                    status: ProbeStatus::IoTimeout,
                    detail: "no answer within 5s".into(),
                },
            },
            alert(Offer::Tls12),
            accepted(Offer::Tls10, TlsVersion::Tls10, 0x002f),
        ]);
        assert_eq!(
            ids(&a),
            [("tls.legacy_version_1_0".into(), Severity::Medium)]
        );
    }
}
