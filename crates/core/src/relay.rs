//! The open-relay battery and its classification, without I/O.
//!
//! The forms are those classic relay testers used (ORBS/ORDB era, nmap's smtp-open-relay):
//! address tricks that old MTAs parsed into an outside destination. Every attempt is
//! `MAIL FROM` + `RCPT TO` + `RSET`; the probe never sends `DATA`, so nothing is ever relayed.

use crate::model::{ProbeStatus, TranscriptLine};
use crate::smtp::Reply;
use serde::{Deserialize, Serialize};

/// Addresses used by the battery.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct RelayParams {
    /// The outside sender, `local@domain`.
    pub sender: String,
    /// The outside recipient, `local@domain`.
    pub recipient: String,
}

impl Default for RelayParams {
    /// Both under RFC 2606 reserved domains: no real mailbox can receive anything.
    fn default() -> Self {
        Self {
            sender: "mxray-probe@example.org".into(),
            recipient: "mxray-relay-test@example.net".into(),
        }
    }
}

/// One MAIL/RCPT pair to try.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct RelayForm {
    /// Short name of the trick, e.g. `percent-hack`.
    pub name: String,
    /// The `MAIL FROM:` argument, with angle brackets.
    pub mail_from: String,
    /// The `RCPT TO:` argument, with angle brackets.
    pub rcpt_to: String,
}

/// Builds the battery for one server. `relay_name` is the name in its banner (or the address
/// literal when it gave none), `literal` its address literal (`[192.0.2.1]`).
pub fn battery(p: &RelayParams, relay_name: &str, literal: &str) -> Vec<RelayForm> {
    let (user, dest) = p
        .recipient
        .split_once('@')
        .unwrap_or((p.recipient.as_str(), "example.net"));
    let sender_local = p
        .sender
        .split_once('@')
        .map_or(p.sender.as_str(), |(l, _)| l);
    let f = |name: &str, from: String, to: String| RelayForm {
        name: name.into(),
        mail_from: from,
        rcpt_to: to,
    };
    let outside = format!("<{}>", p.sender);
    let plain = format!("<{user}@{dest}>");
    vec![
        f("plain", outside.clone(), plain.clone()),
        f("null-sender", "<>".into(), plain.clone()),
        f(
            "local-sender",
            format!("<{sender_local}@{relay_name}>"),
            plain.clone(),
        ),
        f(
            "literal-sender",
            format!("<{sender_local}@{literal}>"),
            plain,
        ),
        f(
            "percent-hack",
            outside.clone(),
            format!("<{user}%{dest}@{relay_name}>"),
        ),
        f(
            "percent-hack-literal",
            outside.clone(),
            format!("<{user}%{dest}@{literal}>"),
        ),
        f("quoted", outside.clone(), format!("<\"{user}@{dest}\">")),
        f(
            "quoted-at-relay",
            outside.clone(),
            format!("<\"{user}@{dest}\"@{relay_name}>"),
        ),
        f(
            "double-at",
            outside.clone(),
            format!("<{user}@{dest}@{relay_name}>"),
        ),
        f(
            "source-route",
            outside.clone(),
            format!("<@{relay_name}:{user}@{dest}>"),
        ),
        f("bang-path", outside.clone(), format!("<{dest}!{user}>")),
        f(
            "bang-path-at-relay",
            outside.clone(),
            format!("<{dest}!{user}@{relay_name}>"),
        ),
        f(
            "bang-path-literal",
            outside,
            format!("<{dest}!{user}@{literal}>"),
        ),
    ]
}

/// The control recipient: a local part that cannot exist, at a domain the server is
/// responsible for. A server that accepts it accepts everything at RCPT time and can only
/// bounce later, so accepting an outside recipient proves nothing about relaying.
pub fn control_recipient(local_domain: &str) -> String {
    format!("<mxray-no-such-user-7f3a9c@{local_domain}>")
}

/// What one attempt got.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptResult {
    /// RCPT answered 2xx.
    Accepted,
    /// MAIL or RCPT answered 5xx.
    Rejected,
    /// MAIL or RCPT answered 4xx (greylisting, rate limits).
    Deferred,
    /// No usable answer (timeout, disconnect, garbage).
    NoAnswer,
}

/// One attempt and its replies.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct RelayAttempt {
    /// The form tried.
    pub form: RelayForm,
    /// Reply to MAIL FROM.
    pub mail_reply: Option<Reply>,
    /// Reply to RCPT TO (absent when MAIL was refused).
    pub rcpt_reply: Option<Reply>,
    /// Summary.
    pub result: AttemptResult,
}

impl RelayAttempt {
    /// Derives the result from the replies.
    pub fn classify(mail: Option<&Reply>, rcpt: Option<&Reply>) -> AttemptResult {
        match (mail, rcpt) {
            (None, _) => AttemptResult::NoAnswer,
            (Some(m), _) if m.is_permanent() => AttemptResult::Rejected,
            (Some(m), _) if m.is_transient() => AttemptResult::Deferred,
            (Some(_), None) => AttemptResult::NoAnswer,
            (Some(_), Some(r)) if r.is_positive() => AttemptResult::Accepted,
            (Some(_), Some(r)) if r.is_permanent() => AttemptResult::Rejected,
            (Some(_), Some(r)) if r.is_transient() => AttemptResult::Deferred,
            _ => AttemptResult::NoAnswer,
        }
    }

    /// Evidence lines: the commands and replies of this attempt.
    pub fn evidence(&self) -> Vec<String> {
        let mut out = vec![format!("C: MAIL FROM:{}", self.form.mail_from)];
        if let Some(r) = &self.mail_reply {
            out.extend(r.to_wire_text().lines().map(|l| format!("S: {l}")));
        }
        if self.mail_reply.as_ref().is_some_and(Reply::is_positive) {
            out.push(format!("C: RCPT TO:{}", self.form.rcpt_to));
            if let Some(r) = &self.rcpt_reply {
                out.extend(r.to_wire_text().lines().map(|l| format!("S: {l}")));
            }
        }
        out
    }
}

/// The verdict on a server.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelayVerdict {
    /// An outside recipient was accepted from an outside sender, while a bogus local recipient
    /// was refused: the server relays.
    Open,
    /// Every attempt was refused permanently.
    Closed,
    /// Outside recipients accepted, but so was a recipient that cannot exist: the server
    /// accepts everything at RCPT time (and bounces later, or relays). Relay unconfirmed.
    AcceptsAll,
    /// No conclusion: deferrals (greylisting), a tarpit, disconnects or timeouts.
    Inconclusive,
}

impl RelayVerdict {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::AcceptsAll => "accepts-all",
            Self::Inconclusive => "inconclusive",
        }
    }
}

/// The battery's record for one server.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct RelayObservation {
    /// The port tested.
    pub port: u16,
    /// How the dialogue ended.
    pub status: ProbeStatus,
    /// Attempts in order (the battery stops at the first accepted outside recipient).
    pub attempts: Vec<RelayAttempt>,
    /// The control attempt, run when an outside recipient was accepted.
    pub control: Option<RelayAttempt>,
    /// The verdict.
    pub verdict: RelayVerdict,
    /// Why, in words.
    pub reason: String,
    /// The dialogue.
    pub transcript: Vec<TranscriptLine>,
}

/// Classifies a finished battery. `status` is how the dialogue ended: a battery cut short by a
/// timeout or disconnect with nothing accepted is inconclusive, not closed.
pub fn classify(
    status: ProbeStatus,
    attempts: &[RelayAttempt],
    control: Option<&RelayAttempt>,
) -> (RelayVerdict, String) {
    if let Some(open) = attempts
        .iter()
        .find(|a| a.result == AttemptResult::Accepted)
    {
        return match control.map(|c| c.result) {
            Some(AttemptResult::Rejected) => (
                RelayVerdict::Open,
                format!(
                    "accepted outside recipient {} from {} ({} form) and refused a non-existent local recipient",
                    open.form.rcpt_to, open.form.mail_from, open.form.name
                ),
            ),
            Some(AttemptResult::Accepted) => (
                RelayVerdict::AcceptsAll,
                format!(
                    "accepted outside recipient {} but also a recipient that cannot exist: accepts everything at RCPT time",
                    open.form.rcpt_to
                ),
            ),
            _ => (
                RelayVerdict::Inconclusive,
                format!(
                    "accepted outside recipient {}, but the control recipient got no clear answer",
                    open.form.rcpt_to
                ),
            ),
        };
    }
    let deferred = attempts
        .iter()
        .filter(|a| a.result == AttemptResult::Deferred)
        .count();
    let rejected = attempts
        .iter()
        .filter(|a| a.result == AttemptResult::Rejected)
        .count();
    let total = battery(&RelayParams::default(), "x", "[x]").len();
    if status == ProbeStatus::Success && rejected == attempts.len() && attempts.len() == total {
        (
            RelayVerdict::Closed,
            format!("all {rejected} relay attempts refused with 5xx"),
        )
    } else if deferred > 0 {
        (
            RelayVerdict::Inconclusive,
            format!(
                "{deferred} attempt(s) deferred with 4xx (greylisting or rate limiting); none accepted"
            ),
        )
    } else if attempts.is_empty() {
        (
            RelayVerdict::Inconclusive,
            format!("no relay attempt could be made ({})", status.as_str()),
        )
    } else {
        (
            RelayVerdict::Inconclusive,
            format!(
                "battery cut short ({}) after {} of {total} attempts; none accepted",
                status.as_str(),
                attempts.len()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16) -> Reply {
        Reply {
            code,
            lines: vec!["x".into()],
        }
    }

    fn attempt(mail: u16, rcpt: Option<u16>) -> RelayAttempt {
        let m = reply(mail);
        let r = rcpt.map(reply);
        RelayAttempt {
            form: battery(&RelayParams::default(), "mx.example.jp", "[192.0.2.1]")[0].clone(),
            result: RelayAttempt::classify(Some(&m), r.as_ref()),
            mail_reply: Some(m),
            rcpt_reply: r,
        }
    }

    #[test]
    fn battery_has_the_classic_forms() {
        let b = battery(&RelayParams::default(), "mx.example.jp", "[192.0.2.1]");
        let to: Vec<&str> = b.iter().map(|f| f.rcpt_to.as_str()).collect();
        for want in [
            "<mxray-relay-test@example.net>",
            "<mxray-relay-test%example.net@mx.example.jp>",
            "<\"mxray-relay-test@example.net\">",
            "<\"mxray-relay-test@example.net\"@mx.example.jp>",
            "<mxray-relay-test@example.net@mx.example.jp>",
            "<@mx.example.jp:mxray-relay-test@example.net>",
            "<example.net!mxray-relay-test>",
            "<example.net!mxray-relay-test@mx.example.jp>",
            "<mxray-relay-test%example.net@[192.0.2.1]>",
        ] {
            assert!(to.contains(&want), "missing {want}");
        }
        let from: Vec<&str> = b.iter().map(|f| f.mail_from.as_str()).collect();
        for want in [
            "<>",
            "<mxray-probe@example.org>",
            "<mxray-probe@mx.example.jp>",
            "<mxray-probe@[192.0.2.1]>",
        ] {
            assert!(from.contains(&want), "missing sender {want}");
        }
    }

    #[test]
    fn attempt_results() {
        assert_eq!(attempt(250, Some(250)).result, AttemptResult::Accepted);
        assert_eq!(attempt(250, Some(554)).result, AttemptResult::Rejected);
        assert_eq!(attempt(250, Some(450)).result, AttemptResult::Deferred);
        assert_eq!(attempt(550, None).result, AttemptResult::Rejected);
        assert_eq!(attempt(250, None).result, AttemptResult::NoAnswer);
        assert_eq!(RelayAttempt::classify(None, None), AttemptResult::NoAnswer);
    }

    #[test]
    fn verdicts() {
        let n = battery(&RelayParams::default(), "x", "[x]").len();
        let all_rejected: Vec<_> = (0..n).map(|_| attempt(250, Some(554))).collect();
        assert_eq!(
            classify(ProbeStatus::Success, &all_rejected, None).0,
            RelayVerdict::Closed
        );
        // Cut short: not closed.
        assert_eq!(
            classify(ProbeStatus::ClosedEarly, &all_rejected[..3], None).0,
            RelayVerdict::Inconclusive
        );
        let open = vec![attempt(250, Some(554)), attempt(250, Some(250))];
        assert_eq!(
            classify(ProbeStatus::Success, &open, Some(&attempt(250, Some(550)))).0,
            RelayVerdict::Open
        );
        assert_eq!(
            classify(ProbeStatus::Success, &open, Some(&attempt(250, Some(250)))).0,
            RelayVerdict::AcceptsAll
        );
        assert_eq!(
            classify(ProbeStatus::Success, &open, Some(&attempt(250, Some(451)))).0,
            RelayVerdict::Inconclusive
        );
        let grey: Vec<_> = (0..n).map(|_| attempt(250, Some(450))).collect();
        let (v, why) = classify(ProbeStatus::Success, &grey, None);
        assert_eq!(v, RelayVerdict::Inconclusive);
        assert!(why.contains("greylisting"), "{why}");
        assert_eq!(
            classify(ProbeStatus::IoTimeout, &[], None).0,
            RelayVerdict::Inconclusive
        );
    }

    #[test]
    fn evidence_shows_commands_and_replies() {
        let a = attempt(250, Some(250));
        let ev = a.evidence();
        assert_eq!(ev[0], "C: MAIL FROM:<mxray-probe@example.org>");
        assert_eq!(ev[2], "C: RCPT TO:<mxray-relay-test@example.net>");
        assert_eq!(ev[3], "S: 250 x");
    }
}
