//! Findings about a TLS session's certificate.

use super::{Clock, service};
use crate::date::unix_date;
use crate::finding::{Finding, Severity};
use crate::model::{CertProblem, TlsInfo};
use std::net::IpAddr;

/// Certificates expiring within this many days get a warning.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// The port a TLS session was seen on (any service: SMTP, POP3, IMAP, HTTPS).
struct Port {
    port: u16,
}

pub(super) fn check(ip: IpAddr, port: u16, tls: Option<&TlsInfo>, clock: Clock) -> Vec<Finding> {
    let s = Port { port };
    let Some(tls) = tls else { return Vec::new() };
    let Some(leaf) = tls.chain.first() else {
        return Vec::new();
    };
    let subject = || service(ip, s.port);
    let cert_line = format!(
        "certificate: subject {:?}, issuer {:?}, SAN [{}], valid {} to {}",
        leaf.subject,
        leaf.issuer,
        leaf.sans.join(", "),
        unix_date(leaf.not_before),
        unix_date(leaf.not_after)
    );
    let mut evidence = vec![format!("TLS {} {}", tls.version, tls.cipher), cert_line];
    if let Some(d) = &tls.problem_detail {
        evidence.push(format!("verification: {d}"));
    }
    let mut out = Vec::new();
    let mut add = |id: &str, sev, title: String, fix: &str| {
        out.push(Finding::new(id, sev, subject(), title, fix).with_evidence(evidence.clone()));
    };
    if leaf.self_signed {
        add(
            "tls.self_signed",
            Severity::Medium,
            format!("Port {} presents a self-signed certificate", s.port),
            "Install a certificate from a public CA (e.g. Let's Encrypt) for the MX host name; senders that verify (MTA-STS, DANE-less policies) will refuse this one.",
        );
    }
    // rustls reports one problem per chain; a self-signed (or otherwise untrusted)
    // certificate for another name has both, and both need fixing.
    let other_name = tls.problem != Some(CertProblem::NameMismatch)
        && tls
            .verified_name
            .as_deref()
            .is_some_and(|n| covers(leaf, n) == Some(false));
    match tls.problem {
        Some(CertProblem::Expired) => add(
            "tls.cert_expired",
            Severity::High,
            format!(
                "Port {} presents an expired certificate (expired {})",
                s.port,
                unix_date(leaf.not_after)
            ),
            "Renew the certificate and reload the mail server; automate renewal.",
        ),
        Some(CertProblem::NotYetValid) => add(
            "tls.cert_not_yet_valid",
            Severity::Medium,
            format!(
                "Port {} presents a certificate that is not valid yet",
                s.port
            ),
            "Check the server clock and the certificate's notBefore date.",
        ),
        Some(CertProblem::NameMismatch) => add(
            "tls.name_mismatch",
            Severity::Medium,
            format!(
                "Port {}'s certificate does not cover {}",
                s.port,
                tls.verified_name.as_deref().unwrap_or("the host name")
            ),
            "Issue the certificate for the MX host name (as published in DNS), or list it as a subject alternative name.",
        ),
        Some(CertProblem::UnknownIssuer) if !leaf.self_signed => add(
            "tls.untrusted_issuer",
            Severity::Medium,
            format!(
                "Port {}'s certificate is not issued by a publicly trusted CA (or the chain is incomplete)",
                s.port
            ),
            "Serve the full chain (leaf and intermediates) from a publicly trusted CA.",
        ),
        Some(CertProblem::Other) if !leaf.self_signed => add(
            "tls.cert_invalid",
            Severity::Medium,
            format!("Port {}'s certificate fails verification", s.port),
            "Replace the certificate with a valid one from a public CA.",
        ),
        _ => {}
    }
    if other_name {
        add(
            "tls.name_mismatch",
            Severity::Medium,
            format!(
                "Port {}'s certificate does not cover {}",
                s.port,
                tls.verified_name.as_deref().unwrap_or("the host name")
            ),
            "Issue the certificate for the MX host name (as published in DNS), or list it as a subject alternative name.",
        );
    }
    let days_left = (leaf.not_after - clock.now) / 86_400;
    if tls.problem != Some(CertProblem::Expired) && (0..EXPIRY_WARNING_DAYS).contains(&days_left) {
        add(
            "tls.cert_expiring",
            Severity::Low,
            format!(
                "Port {}'s certificate expires in {days_left} day(s)",
                s.port
            ),
            "Renew the certificate now and automate renewal.",
        );
    }
    out
}

/// Whether the certificate is for `name` (RFC 6125: the DNS SANs, else the subject CN;
/// a wildcard stands for exactly one left-most label). `None` when it names nothing.
pub fn covers(cert: &crate::model::CertInfo, name: &str) -> Option<bool> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mut names: Vec<String> = cert.sans.iter().map(|s| s.to_ascii_lowercase()).collect();
    if names.is_empty() {
        names.extend(
            cert.subject
                .split(',')
                .filter_map(|p| p.trim().strip_prefix("CN="))
                .map(|cn| cn.trim().to_ascii_lowercase()),
        );
    }
    if names.is_empty() {
        return None;
    }
    Some(names.iter().any(|n| {
        let n = n.trim_end_matches('.');
        n == name
            || n.strip_prefix("*.").is_some_and(|rest| {
                name.split_once('.')
                    .is_some_and(|(first, tail)| !first.is_empty() && tail == rest)
            })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CertInfo, SmtpObservation, StartTls};

    fn with_cert(
        self_signed: bool,
        problem: Option<CertProblem>,
        not_after: i64,
    ) -> SmtpObservation {
        let mut s = super::super::smtp::tests::base(25);
        s.starttls = StartTls::Established;
        s.tls = Some(TlsInfo {
            version: "TLSv1_3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
            verified_name: Some("mx.example.jp".into()),
            chain: vec![CertInfo {
                subject: "CN=mx.example.jp".into(),
                issuer: "CN=mx.example.jp".into(),
                sans: vec!["mx.example.jp".into()],
                not_before: 0,
                not_after,
                self_signed,
                serial: "01".into(),
                key: "EC P-256".into(),
                sha256: "00".into(),
                sha512: String::new(),
                spki_sha256: String::new(),
                spki_sha512: String::new(),
            }],
            problem,
            problem_detail: problem.map(|p| format!("{p:?}")),
        });
        s
    }
    fn check_smtp(ip: IpAddr, s: &SmtpObservation, clock: Clock) -> Vec<Finding> {
        check(ip, s.port, s.tls.as_ref(), clock)
    }
    fn ids(f: &[Finding]) -> Vec<String> {
        f.iter().map(|f| f.id.clone()).collect()
    }
    const NOW: Clock = Clock { now: 1_800_000_000 };

    #[test]
    fn certificate_findings() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let far = NOW.now + 365 * 86_400;
        assert!(check_smtp(ip, &with_cert(false, None, far), NOW).is_empty());
        assert_eq!(
            ids(&check_smtp(
                ip,
                &with_cert(true, Some(CertProblem::UnknownIssuer), far),
                NOW
            )),
            ["tls.self_signed"]
        );
        assert_eq!(
            ids(&check_smtp(
                ip,
                &with_cert(false, Some(CertProblem::UnknownIssuer), far),
                NOW
            )),
            ["tls.untrusted_issuer"]
        );
        assert_eq!(
            ids(&check_smtp(
                ip,
                &with_cert(false, Some(CertProblem::Expired), NOW.now - 10),
                NOW
            )),
            ["tls.cert_expired"]
        );
        assert_eq!(
            ids(&check_smtp(
                ip,
                &with_cert(false, Some(CertProblem::NameMismatch), far),
                NOW
            )),
            ["tls.name_mismatch"]
        );
        // Self-signed AND for another name: both (rustls only reported the issuer).
        let mut other = with_cert(true, Some(CertProblem::UnknownIssuer), far);
        other.tls.as_mut().unwrap().verified_name = Some("mail.example.com".into());
        let f = check_smtp(ip, &other, NOW);
        assert_eq!(ids(&f), ["tls.self_signed", "tls.name_mismatch"]);
        assert!(f[1].title.contains("mail.example.com"), "{}", f[1].title);
        let mut untrusted = with_cert(false, Some(CertProblem::UnknownIssuer), far);
        untrusted.tls.as_mut().unwrap().verified_name = Some("mail.example.com".into());
        assert_eq!(
            ids(&check_smtp(ip, &untrusted, NOW)),
            ["tls.untrusted_issuer", "tls.name_mismatch"]
        );
        let soon = check_smtp(ip, &with_cert(false, None, NOW.now + 3 * 86_400 + 5), NOW);
        assert_eq!(ids(&soon), ["tls.cert_expiring"]);
        assert!(soon[0].title.contains("3 day"));
    }

    #[test]
    fn name_coverage() {
        let mut c = with_cert(true, None, 0).tls.unwrap().chain.remove(0);
        assert_eq!(covers(&c, "MX.example.jp."), Some(true));
        assert_eq!(covers(&c, "mail.example.jp"), Some(false));
        c.sans = vec!["*.example.jp".into()];
        assert_eq!(covers(&c, "mx.example.jp"), Some(true));
        assert_eq!(covers(&c, "a.mx.example.jp"), Some(false));
        assert_eq!(covers(&c, "example.jp"), Some(false));
        c.sans.clear();
        assert_eq!(covers(&c, "mx.example.jp"), Some(true), "CN when no SAN");
        c.subject = "O=Nobody".into();
        assert_eq!(covers(&c, "mx.example.jp"), None);
    }
}
