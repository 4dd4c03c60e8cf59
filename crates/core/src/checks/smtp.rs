//! Findings about one SMTP service: reachability, STARTTLS, AUTH in the clear, VRFY/EXPN.
//!
//! The order of the questions matters: a service that could not be tested yields
//! `smtp.not_testable` and nothing else, never "no STARTTLS".

use super::service;
use crate::finding::{Finding, Severity};
use crate::model::{ProbeStatus, SmtpObservation, StartTls};
use std::net::IpAddr;

/// Evidence: the first `n` transcript lines.
fn transcript(s: &SmtpObservation, n: usize) -> Vec<String> {
    s.transcript.iter().take(n).map(|l| l.render()).collect()
}

fn transcript_matching(s: &SmtpObservation, needle: &str) -> Vec<String> {
    let lines: Vec<String> = s
        .transcript
        .iter()
        .filter(|l| l.text.to_ascii_uppercase().contains(needle))
        .map(|l| l.render())
        .take(8)
        .collect();
    if lines.is_empty() {
        transcript(s, 6)
    } else {
        lines
    }
}

pub(super) fn check(ip: IpAddr, s: &SmtpObservation) -> Vec<Finding> {
    let subject = || service(ip, s.port);
    let mut out = Vec::new();
    match s.status {
        ProbeStatus::Success => {}
        ProbeStatus::ConnectRefused | ProbeStatus::ConnectTimeout => {
            if s.port == 25 {
                out.push(
                    Finding::new(
                        "smtp.unreachable",
                        Severity::Low,
                        subject(),
                        format!("Mail host {ip} does not accept connections on port 25 ({})", s.status.as_str()),
                        "If this host is listed as an MX, it must accept SMTP on port 25; otherwise remove it from the MX set.",
                    )
                    .with_evidence(transcript(s, 4)),
                );
            }
            return out;
        }
        ProbeStatus::ProtocolMismatch => {
            out.push(
                Finding::new(
                    "smtp.protocol_mismatch",
                    Severity::Info,
                    subject(),
                    format!("Port {} answered, but not with SMTP", s.port),
                    "Check what listens on this port; a mail host's SMTP port should speak SMTP.",
                )
                .with_evidence(transcript(s, 6)),
            );
            return out;
        }
        other => {
            out.push(
                Finding::new(
                    "smtp.not_testable",
                    Severity::Info,
                    subject(),
                    format!(
                        "SMTP on port {} could not be tested: {}",
                        s.port,
                        s.detail.clone().unwrap_or_else(|| other.as_str().to_owned())
                    ),
                    "Nothing to fix on this evidence alone; a server that tarpits or refuses unknown clients cannot be assessed from outside. Rerun from an allowed address.",
                )
                .with_evidence(transcript(s, 8)),
            );
            return out;
        }
    }
    let Some(caps) = &s.capabilities else {
        return out;
    };
    if !s.implicit_tls {
        match &s.starttls {
            StartTls::NotOffered => out.push(
                Finding::new(
                    "smtp.no_starttls",
                    Severity::Medium,
                    subject(),
                    format!("SMTP on port {} does not offer STARTTLS: mail to it travels in clear text", s.port),
                    "Enable STARTTLS with a certificate for the MX host name (Postfix: smtpd_tls_security_level = may, smtpd_tls_chain_files = …).",
                )
                .with_evidence(transcript_matching(s, "250")),
            ),
            StartTls::Refused(why) => out.push(
                Finding::new(
                    "smtp.starttls_refused",
                    Severity::Medium,
                    subject(),
                    format!("STARTTLS is advertised on port {} but the command is refused", s.port),
                    "Fix the TLS configuration (certificate and key readable by the MTA) or stop advertising STARTTLS.",
                )
                .with_evidence([format!("STARTTLS: {why}")]),
            ),
            StartTls::HandshakeFailed(why) => out.push(
                Finding::new(
                    "smtp.starttls_failed",
                    Severity::Medium,
                    subject(),
                    format!("STARTTLS on port {} is accepted but no TLS 1.2/1.3 session can be established", s.port),
                    "Enable TLS 1.2 and 1.3 with modern cipher suites and a valid certificate; senders fall back to clear text or defer.",
                )
                .with_evidence([format!("TLS handshake: {why}")]),
            ),
            StartTls::Established | StartTls::NotTried => {}
        }
        let mechs = caps.auth_mechanisms();
        if !mechs.is_empty() {
            let plain = mechs.iter().any(|m| m == "PLAIN" || m == "LOGIN");
            out.push(
                Finding::new(
                    "smtp.auth_before_tls",
                    if plain { Severity::High } else { Severity::Medium },
                    subject(),
                    format!(
                        "SMTP on port {} offers authentication ({}) before TLS: passwords can be sent in clear text",
                        s.port,
                        mechs.join(" ")
                    ),
                    "Offer AUTH only after STARTTLS (Postfix: smtpd_tls_auth_only = yes; Exim: auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}).",
                )
                .with_evidence(transcript_matching(s, "AUTH")),
            );
        }
    }
    if let Some(v) = &s.vrfy
        && matches!(v.code, 250 | 251)
    {
        out.push(
            Finding::new(
                "smtp.vrfy_enabled",
                Severity::Low,
                subject(),
                format!("VRFY confirms mailboxes on port {} (user enumeration)", s.port),
                "Disable VRFY (Postfix: disable_vrfy_command = yes; Sendmail: PrivacyOptions=novrfy).",
            )
            .with_evidence(transcript_matching(s, "VRFY").into_iter().chain(v.to_wire_text().lines().map(|l| format!("S: {l}")))),
        );
    }
    if let Some(e) = &s.expn
        && matches!(e.code, 250 | 251)
    {
        out.push(
            Finding::new(
                "smtp.expn_enabled",
                Severity::Low,
                subject(),
                format!("EXPN expands addresses on port {} (list members and aliases disclosed)", s.port),
                "Disable EXPN (Sendmail: PrivacyOptions=noexpn; Exim: remove expn from acl_smtp_expn).",
            )
            .with_evidence(e.to_wire_text().lines().map(|l| format!("S: {l}"))),
        );
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::{Dir, TranscriptLine};
    use crate::smtp::{Capabilities, Reply};

    pub(crate) fn base(port: u16) -> SmtpObservation {
        SmtpObservation {
            port,
            implicit_tls: false,
            status: ProbeStatus::Success,
            detail: None,
            greeting: Some(Reply {
                code: 220,
                lines: vec!["mx.example.jp ESMTP".into()],
            }),
            helo_fallback: false,
            capabilities: Some(Capabilities {
                server_name: "mx.example.jp".into(),
                extensions: vec![],
            }),
            starttls: StartTls::NotOffered,
            tls: None,
            capabilities_tls: None,
            vrfy: None,
            expn: None,
            transcript: vec![TranscriptLine {
                ms: 0,
                dir: Dir::Server,
                text: "220 mx.example.jp ESMTP".into(),
            }],
            elapsed_ms: 5,
        }
    }
    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }
    fn ip() -> IpAddr {
        "192.0.2.1".parse().unwrap()
    }

    #[test]
    fn not_testable_is_never_no_starttls() {
        for st in [
            ProbeStatus::IoTimeout,
            ProbeStatus::Rejected,
            ProbeStatus::ClosedEarly,
            ProbeStatus::Deadline,
        ] {
            let mut s = base(25);
            s.status = st;
            s.capabilities = None;
            assert_eq!(ids(&check(ip(), &s)), ["smtp.not_testable"], "{st:?}");
        }
        let mut s = base(25);
        s.status = ProbeStatus::ConnectRefused;
        assert_eq!(ids(&check(ip(), &s)), ["smtp.unreachable"]);
        s.port = 587;
        assert!(check(ip(), &s).is_empty());
    }

    #[test]
    fn starttls_and_auth() {
        let s = base(25);
        let f = check(ip(), &s);
        assert_eq!(ids(&f), ["smtp.no_starttls"]);
        assert_eq!(f[0].subject.name(), "192.0.2.1:25");
        let mut s = base(587);
        s.starttls = StartTls::Established;
        s.capabilities
            .as_mut()
            .unwrap()
            .extensions
            .push(("AUTH".into(), "PLAIN LOGIN".into()));
        let f = check(ip(), &s);
        assert_eq!(ids(&f), ["smtp.auth_before_tls"]);
        assert_eq!(f[0].severity, Severity::High);
        s.capabilities.as_mut().unwrap().extensions[0].1 = "CRAM-MD5".into();
        assert_eq!(check(ip(), &s)[0].severity, Severity::Medium);
        s.implicit_tls = true;
        assert!(check(ip(), &s).is_empty());
        let mut s = base(25);
        s.starttls = StartTls::HandshakeFailed("alert".into());
        assert_eq!(ids(&check(ip(), &s)), ["smtp.starttls_failed"]);
    }

    #[test]
    fn vrfy_expn() {
        let mut s = base(25);
        s.starttls = StartTls::Established;
        s.vrfy = Some(Reply {
            code: 252,
            lines: vec!["2.0.0 postmaster".into()],
        });
        assert!(check(ip(), &s).is_empty());
        s.vrfy = Some(Reply {
            code: 250,
            lines: vec!["<postmaster@mx.example.jp>".into()],
        });
        s.expn = Some(Reply {
            code: 250,
            lines: vec!["<root@mx.example.jp>".into()],
        });
        assert_eq!(
            ids(&check(ip(), &s)),
            ["smtp.vrfy_enabled", "smtp.expn_enabled"]
        );
    }
}
