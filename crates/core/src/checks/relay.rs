//! Findings from the open-relay battery.
//!
//! `smtp.open_relay` is what classic relay testers report: a recipient at an outside domain
//! accepted at RCPT (or an address trick accepted by a server that refuses unknown local users).
//! The control recipient (one that cannot exist at the scanned domain) makes its own finding,
//! `smtp.accepts_nonexistent_recipients`, whether or not the server relays.

use super::service;
use crate::finding::{Finding, Severity};
use crate::relay::{FormKind, NOT_DELIVERED, RelayObservation, RelayVerdict};
use std::net::IpAddr;

pub(super) fn check(ip: IpAddr, r: &RelayObservation) -> Vec<Finding> {
    let subject = || service(ip, r.port);
    let control: Vec<String> = r
        .control
        .as_ref()
        .map(|c| {
            let mut ev = vec!["control (a recipient that cannot exist):".to_owned()];
            ev.extend(c.evidence());
            ev
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    match r.current_verdict() {
        RelayVerdict::Open => {
            let proof = r.proof();
            let mut evidence: Vec<String> = proof.map(|a| a.evidence()).unwrap_or_default();
            evidence.push(format!("{NOT_DELIVERED}."));
            evidence.push(
                "To confirm, send a canary message through it to a mailbox you control — only on a server you own or may test."
                    .into(),
            );
            let trick = proof.is_some_and(|a| a.form.kind() == FormKind::LocalPartTrick);
            if trick {
                // The control's refusal is part of the proof.
                evidence.extend(control.iter().cloned());
            }
            let how = match proof {
                Some(a) if trick => format!(" through the {} address trick", a.form.name),
                _ => String::new(),
            };
            out.push(
                Finding::new(
                    "smtp.open_relay",
                    Severity::Critical,
                    subject(),
                    format!("Open relay: {ip} accepted a recipient at an outside domain from an outside sender{how} (accepted at RCPT; delivery not confirmed)"),
                    "Accept mail only for your own domains and relay only for authenticated users or your own networks (Postfix: smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, with mynetworks limited to your hosts; Exim: relay_from_hosts limited to your hosts; OpenSMTPD: `match from any for domain <yours>` only).",
                )
                .with_evidence(evidence),
            );
        }
        RelayVerdict::Inconclusive => {
            let ev = match r.proof() {
                Some(a) => a.evidence(),
                None => r.attempts.last().map(|a| a.evidence()).unwrap_or_else(|| {
                    r.transcript
                        .iter()
                        .rev()
                        .take(4)
                        .rev()
                        .map(|l| l.render())
                        .collect()
                }),
            };
            out.push(
                Finding::new(
                    "smtp.relay_inconclusive",
                    Severity::Info,
                    subject(),
                    format!("Open-relay test on {ip} inconclusive: {}", r.reason),
                    "Nothing to fix on this evidence; rerun later (greylisting) or test from an address the server does not throttle.",
                )
                .with_evidence(ev),
            );
        }
        RelayVerdict::Closed | RelayVerdict::AcceptsAll => {}
    }
    if r.accepts_nonexistent() {
        let rcpt = r.control.as_ref().map_or("", |c| c.form.rcpt_to.as_str());
        out.push(
            Finding::new(
                "smtp.accepts_nonexistent_recipients",
                Severity::Medium,
                subject(),
                format!("{ip} accepts recipients that cannot exist ({rcpt}) and must bounce them later: a backscatter source"),
                "Reject unknown recipients during the SMTP dialogue instead of accepting and bouncing (Postfix: local_recipient_maps, relay_recipient_maps for relay_domains; Exim: `require verify = recipient`; OpenSMTPD: a virtual table without a catch-all); a backup MX needs the primary's list of valid recipients. Bounces to forged senders are backscatter spam.",
            )
            .with_evidence(control),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProbeStatus;
    use crate::relay::{AttemptResult, RelayAttempt, RelayParams, battery, classify};
    use crate::smtp::Reply;

    fn tried(form: &str, rcpt: u16) -> RelayAttempt {
        let m = Reply {
            code: 250,
            lines: vec!["ok".into()],
        };
        let r = Reply {
            code: rcpt,
            lines: vec!["x".into()],
        };
        RelayAttempt {
            form: battery(&RelayParams::default(), "mx.example.jp", "[192.0.2.1]")
                .into_iter()
                .find(|f| f.name == form)
                .expect("form"),
            result: RelayAttempt::classify(Some(&m), Some(&r)),
            mail_reply: Some(m),
            rcpt_reply: Some(r),
        }
    }

    fn observed(accepted: &[&str], control: Option<u16>) -> RelayObservation {
        let attempts: Vec<_> = battery(&RelayParams::default(), "x", "[x]")
            .iter()
            .map(|f| {
                tried(
                    &f.name,
                    if accepted.contains(&f.name.as_str()) {
                        250
                    } else {
                        554
                    },
                )
            })
            .collect();
        let control = control.map(|c| tried("plain", c));
        let (verdict, reason) = classify(ProbeStatus::Success, &attempts, control.as_ref());
        RelayObservation {
            port: 25,
            status: ProbeStatus::Success,
            attempts,
            control,
            verdict,
            reason,
            transcript: Vec::new(),
        }
    }

    fn ids(r: &RelayObservation) -> Vec<String> {
        let mut v: Vec<String> = check("192.0.2.1".parse().unwrap(), r)
            .into_iter()
            .map(|f| f.id)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn findings_per_configuration() {
        let open = "smtp.open_relay";
        let back = "smtp.accepts_nonexistent_recipients";
        for (name, r, want) in [
            (
                "relays everything",
                observed(&["plain"], Some(250)),
                vec![back, open],
            ),
            (
                "relays, validates local users",
                observed(&["plain"], Some(550)),
                vec![open],
            ),
            (
                "percent hack only",
                observed(&["percent-hack"], Some(550)),
                vec![open],
            ),
            (
                "accepts any local part",
                observed(&["percent-hack"], Some(250)),
                vec![back],
            ),
            ("backup MX", observed(&[], Some(250)), vec![back]),
            ("closed", observed(&[], Some(550)), vec![]),
            (
                "greylisted control",
                observed(&["percent-hack"], Some(451)),
                vec!["smtp.relay_inconclusive"],
            ),
        ] {
            assert_eq!(ids(&r), want, "{name}: {}", r.reason);
        }
    }

    #[test]
    fn open_relay_says_what_was_proven() {
        let r = observed(&["plain"], Some(550));
        let f = check("192.0.2.1".parse().unwrap(), &r);
        assert!(
            f[0].title
                .contains("accepted at RCPT; delivery not confirmed"),
            "{}",
            f[0].title
        );
        assert!(f[0].evidence.iter().any(|l| l.contains(NOT_DELIVERED)));
        assert!(
            f[0].evidence
                .iter()
                .any(|l| l.contains("on a server you own"))
        );
        assert!(f[0].evidence.iter().any(|l| l == "S: 250 x"));
        // The trick form's proof shows the refused control.
        let t = check(
            "192.0.2.1".parse().unwrap(),
            &observed(&["quoted"], Some(550)),
        );
        assert!(
            t[0].title.contains("quoted address trick"),
            "{}",
            t[0].title
        );
        assert!(
            t[0].evidence.iter().any(|l| l == "S: 550 x"),
            "{:?}",
            t[0].evidence
        );
        assert_eq!(
            observed(&["quoted"], Some(550)).control.map(|c| c.result),
            Some(AttemptResult::Rejected)
        );
    }
}
