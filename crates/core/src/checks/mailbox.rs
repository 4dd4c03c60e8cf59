//! Findings about POP3 and IMAP services: passwords accepted in clear text, STLS/STARTTLS
//! missing or broken. A service that could not be tested yields `mailbox.not_testable` only.

use super::service;
use crate::finding::{Finding, Severity};
use crate::mailbox::{offers_tls, plaintext_login_methods};
use crate::model::{MailboxObservation, ProbeStatus, StartTls};
use std::net::IpAddr;

fn transcript(m: &MailboxObservation, n: usize) -> Vec<String> {
    m.transcript.iter().take(n).map(|l| l.render()).collect()
}

pub(super) fn check(ip: IpAddr, m: &MailboxObservation) -> Vec<Finding> {
    let proto = m.protocol.as_str().to_ascii_uppercase();
    let subject = || service(ip, m.port);
    let mut out = Vec::new();
    match m.status {
        ProbeStatus::Success => {}
        ProbeStatus::ConnectRefused | ProbeStatus::ConnectTimeout => return out,
        other => {
            if m.capabilities.is_none() {
                out.push(
                    Finding::new(
                        "mailbox.not_testable",
                        Severity::Info,
                        subject(),
                        format!(
                            "{proto} on port {} could not be tested: {}",
                            m.port,
                            m.detail
                                .clone()
                                .unwrap_or_else(|| other.as_str().to_owned())
                        ),
                        "Nothing to fix on this evidence alone; check what listens on this port.",
                    )
                    .with_evidence(transcript(m, 8)),
                );
                return out;
            }
        }
    }
    let Some(caps) = &m.capabilities else {
        return out;
    };
    if m.implicit_tls {
        return out;
    }
    let methods = plaintext_login_methods(m.protocol, caps);
    if !methods.is_empty() {
        let caps_line: Vec<String> = m
            .transcript
            .iter()
            .filter(|l| {
                let u = l.text.to_ascii_uppercase();
                u.contains("CAPA")
                    || u.contains("USER")
                    || u.contains("SASL")
                    || u.contains("AUTH")
                    || u.contains("LOGIN")
            })
            .take(12)
            .map(|l| l.render())
            .collect();
        out.push(
            Finding::new(
                "mailbox.plaintext_login",
                Severity::High,
                subject(),
                format!(
                    "{proto} on port {} accepts a password before TLS ({}): credentials can be read on the wire",
                    m.port,
                    methods.join(", ")
                ),
                "Refuse authentication on unencrypted connections (Dovecot: ssl = required, auth_allow_cleartext = no / disable_plaintext_auth = yes) and prefer the implicit-TLS ports 993/995.",
            )
            .with_evidence(if caps_line.is_empty() { transcript(m, 8) } else { caps_line }),
        );
    }
    match &m.starttls {
        StartTls::NotOffered if !offers_tls(m.protocol, caps) => out.push(
            Finding::new(
                "mailbox.no_starttls",
                Severity::Medium,
                subject(),
                format!("{proto} on port {} offers no {}: mail is read in clear text", m.port, if m.protocol == crate::model::MailboxProtocol::Pop3 { "STLS" } else { "STARTTLS" }),
                "Enable TLS with a certificate for the host name, or close the clear-text port and serve 993/995 only.",
            )
            .with_evidence(transcript(m, 8)),
        ),
        StartTls::Refused(why) | StartTls::HandshakeFailed(why) => out.push(
            Finding::new(
                "mailbox.starttls_failed",
                Severity::Medium,
                subject(),
                format!("{proto} on port {} advertises TLS but it cannot be started", m.port),
                "Fix the TLS configuration (certificate and key readable, TLS 1.2/1.3 enabled) or stop advertising it.",
            )
            .with_evidence([format!("STARTTLS: {why}")]),
        ),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dir, MailboxProtocol, TranscriptLine};

    fn obs(protocol: MailboxProtocol, caps: &[&str], starttls: StartTls) -> MailboxObservation {
        MailboxObservation {
            protocol,
            port: if protocol == MailboxProtocol::Imap {
                143
            } else {
                110
            },
            implicit_tls: false,
            status: ProbeStatus::Success,
            detail: None,
            greeting: Some("+OK ready".into()),
            capabilities: Some(caps.iter().map(|s| (*s).to_owned()).collect()),
            starttls,
            tls: None,
            capabilities_tls: None,
            imap_id: None,
            transcript: vec![TranscriptLine {
                ms: 0,
                dir: Dir::Server,
                text: "USER".into(),
            }],
            elapsed_ms: 1,
        }
    }
    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn mailbox_findings() {
        use MailboxProtocol::*;
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let f = check(
            ip,
            &obs(
                Imap,
                &["IMAP4rev1", "STARTTLS", "AUTH=PLAIN"],
                StartTls::Established,
            ),
        );
        assert_eq!(ids(&f), ["mailbox.plaintext_login"]);
        assert!(f[0].title.contains("LOGIN, AUTH PLAIN"), "{}", f[0].title);
        assert!(
            check(
                ip,
                &obs(Imap, &["STARTTLS", "LOGINDISABLED"], StartTls::Established)
            )
            .is_empty()
        );
        assert_eq!(
            ids(&check(
                ip,
                &obs(Pop3, &["TOP", "SASL"], StartTls::NotOffered)
            )),
            ["mailbox.no_starttls"]
        );
        assert_eq!(
            ids(&check(
                ip,
                &obs(
                    Pop3,
                    &["USER", "STLS"],
                    StartTls::HandshakeFailed("alert".into())
                )
            )),
            ["mailbox.plaintext_login", "mailbox.starttls_failed"]
        );
        let mut tls = obs(Imap, &["AUTH=PLAIN"], StartTls::Established);
        tls.implicit_tls = true;
        assert!(check(ip, &tls).is_empty());
        let mut t = obs(Imap, &[], StartTls::NotTried);
        t.status = ProbeStatus::IoTimeout;
        t.capabilities = None;
        assert_eq!(ids(&check(ip, &t)), ["mailbox.not_testable"]);
        t.status = ProbeStatus::ConnectRefused;
        assert!(check(ip, &t).is_empty());
    }
}
