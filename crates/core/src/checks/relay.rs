//! Findings from the open-relay battery.

use super::service;
use crate::finding::{Finding, Severity};
use crate::relay::{AttemptResult, RelayObservation, RelayVerdict};
use std::net::IpAddr;

pub(super) fn check(ip: IpAddr, r: &RelayObservation) -> Vec<Finding> {
    let subject = || service(ip, r.port);
    let accepted = r
        .attempts
        .iter()
        .find(|a| a.result == AttemptResult::Accepted);
    let mut evidence: Vec<String> = accepted.map(|a| a.evidence()).unwrap_or_default();
    if let Some(c) = &r.control {
        evidence.push("control (a recipient that cannot exist):".into());
        evidence.extend(c.evidence());
    }
    match r.verdict {
        RelayVerdict::Open => vec![
            Finding::new(
                "smtp.open_relay",
                Severity::Critical,
                subject(),
                format!("Open relay: {ip} accepts mail from outside senders for outside recipients"),
                "Accept mail only for your own domains and relay only for authenticated users or your own networks (Postfix: smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, with mynetworks limited to your hosts).",
            )
            .with_evidence(evidence),
        ],
        RelayVerdict::AcceptsAll => vec![
            Finding::new(
                "smtp.accepts_all_recipients",
                Severity::Medium,
                subject(),
                format!("{ip} accepts every recipient at RCPT time, including ones that cannot exist (relay unconfirmed)"),
                "Reject unknown recipients during the SMTP dialogue (recipient validation) instead of accepting and bouncing: bounces to forged senders are backscatter spam. Confirm relaying with an authorised canary test.",
            )
            .with_evidence(evidence),
        ],
        RelayVerdict::Inconclusive => {
            let ev = if evidence.is_empty() {
                r.attempts.last().map(|a| a.evidence()).unwrap_or_else(|| r.transcript.iter().rev().take(4).rev().map(|l| l.render()).collect())
            } else {
                evidence
            };
            vec![
                Finding::new(
                    "smtp.relay_inconclusive",
                    Severity::Info,
                    subject(),
                    format!("Open-relay test on {ip} inconclusive: {}", r.reason),
                    "Nothing to fix on this evidence; rerun later (greylisting) or test from an address the server does not throttle.",
                )
                .with_evidence(ev),
            ]
        }
        RelayVerdict::Closed => Vec::new(),
    }
}
