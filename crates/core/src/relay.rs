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
/// responsible for. A server that accepts it accepts recipients it cannot deliver to and must
/// bounce them later (a backscatter source); it also tells whether an address trick at the
/// server's own name was read as a local user or as the outside recipient.
pub fn control_recipient(local_domain: &str) -> String {
    format!("<mxray-no-such-user-7f3a9c@{local_domain}>")
}

/// What accepting a form at RCPT proves.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum FormKind {
    /// The recipient's domain is the outside domain itself (`plain`, the sender variants and
    /// the source route, whose final mailbox is outside): accepting it at RCPT is what every
    /// classic relay tester calls an open relay.
    Outside,
    /// The outside address hides in the local part of an address at the server's own name or
    /// address literal, or has no domain at all (percent hack, quoted, double `@`, bang
    /// paths): a server that accepts any local part at its own names accepts these as local
    /// users, so they prove relaying only when the same server refuses the control recipient.
    LocalPartTrick,
}

impl RelayForm {
    /// What accepting this form proves (by the form's name, the battery's fixed table).
    pub fn kind(&self) -> FormKind {
        match self.name.as_str() {
            "plain" | "null-sender" | "local-sender" | "literal-sender" | "source-route" => {
                FormKind::Outside
            }
            _ => FormKind::LocalPartTrick,
        }
    }
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
    /// A recipient at an outside domain was accepted at RCPT from an outside sender (whatever
    /// the control recipient got), or an address trick at the server's own name was accepted
    /// while the control recipient was refused. Proven at RCPT only: mxray never sends DATA.
    Open,
    /// Every outside recipient was refused permanently (a trick form accepted only because
    /// the server accepts any local part at its own names does not count).
    Closed,
    /// Written by mxray before issue 13: an outside recipient and the control recipient were
    /// both accepted. Never produced now; kept so stored scans stay readable. The checks
    /// classify such a record again from its attempts ([`RelayObservation::current_verdict`]).
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
    /// Attempts in order (the battery stops at the first accepted recipient at an outside
    /// domain; an accepted address trick does not stop it).
    pub attempts: Vec<RelayAttempt>,
    /// The control attempt (a recipient that cannot exist at the scanned domain), run after
    /// every battery that ended normally (before issue 13: only when something was accepted).
    pub control: Option<RelayAttempt>,
    /// The verdict.
    pub verdict: RelayVerdict,
    /// Why, in words.
    pub reason: String,
    /// The dialogue.
    pub transcript: Vec<TranscriptLine>,
}

impl RelayObservation {
    /// The verdict by today's rules: the stored one, except for records of the retired
    /// `accepts-all` verdict, which are classified again from their attempts.
    pub fn current_verdict(&self) -> RelayVerdict {
        match self.verdict {
            RelayVerdict::AcceptsAll => {
                classify(self.status, &self.attempts, self.control.as_ref()).0
            }
            v => v,
        }
    }

    /// Whether the control recipient (one that cannot exist) was accepted.
    pub fn accepts_nonexistent(&self) -> bool {
        self.control
            .as_ref()
            .is_some_and(|c| c.result == AttemptResult::Accepted)
    }

    /// The attempt that proves the verdict `open`: the first accepted recipient at an outside
    /// domain, else the first accepted address trick.
    pub fn proof(&self) -> Option<&RelayAttempt> {
        let accepted = || {
            self.attempts
                .iter()
                .filter(|a| a.result == AttemptResult::Accepted)
        };
        accepted()
            .find(|a| a.form.kind() == FormKind::Outside)
            .or_else(|| accepted().next())
    }
}

/// What mxray proves and does not prove about an open relay, for reasons and evidence.
pub const NOT_DELIVERED: &str =
    "accepted at RCPT; mxray stops before DATA, so delivery was not confirmed";

/// Classifies a finished battery. `status` is how the dialogue ended: a battery cut short by a
/// timeout or disconnect with nothing accepted is inconclusive, not closed.
///
/// | accepted                         | control recipient | verdict |
/// |----------------------------------|-------------------|---------|
/// | a recipient at an outside domain | anything          | open    |
/// | only address tricks              | refused (5xx)     | open    |
/// | only address tricks              | accepted          | closed, if every outside-domain form was refused; else inconclusive |
/// | only address tricks              | 4xx / no answer / not asked | inconclusive |
/// | nothing, all 5xx, battery complete | —               | closed  |
/// | nothing, a 4xx or cut short      | —                 | inconclusive |
pub fn classify(
    status: ProbeStatus,
    attempts: &[RelayAttempt],
    control: Option<&RelayAttempt>,
) -> (RelayVerdict, String) {
    let accepted = |k: FormKind| {
        attempts
            .iter()
            .find(|a| a.result == AttemptResult::Accepted && a.form.kind() == k)
    };
    if let Some(open) = accepted(FormKind::Outside) {
        return (
            RelayVerdict::Open,
            format!(
                "outside recipient {} from {} ({} form) {NOT_DELIVERED}",
                open.form.rcpt_to, open.form.mail_from, open.form.name
            ),
        );
    }
    let total = battery(&RelayParams::default(), "x", "[x]").len();
    if let Some(trick) = accepted(FormKind::LocalPartTrick) {
        return match control.map(|c| c.result) {
            Some(AttemptResult::Rejected) => (
                RelayVerdict::Open,
                format!(
                    "address trick {} ({} form) {NOT_DELIVERED}; the server refuses unknown local users, so it read the address as the outside recipient",
                    trick.form.rcpt_to, trick.form.name
                ),
            ),
            Some(AttemptResult::Accepted) => {
                let outside_refused = attempts
                    .iter()
                    .filter(|a| a.form.kind() == FormKind::Outside)
                    .all(|a| a.result == AttemptResult::Rejected);
                let outside_forms = battery(&RelayParams::default(), "x", "[x]")
                    .iter()
                    .filter(|f| f.kind() == FormKind::Outside)
                    .count();
                let outside_tried = attempts
                    .iter()
                    .filter(|a| a.form.kind() == FormKind::Outside)
                    .count();
                if status == ProbeStatus::Success
                    && outside_refused
                    && outside_tried == outside_forms
                {
                    (
                        RelayVerdict::Closed,
                        format!(
                            "every recipient at an outside domain refused; {} ({} form) was accepted only as the server accepts any local part at its own names (the control recipient was accepted too)",
                            trick.form.rcpt_to, trick.form.name
                        ),
                    )
                } else {
                    (
                        RelayVerdict::Inconclusive,
                        format!(
                            "accepted {} ({} form), as it accepts any local part at its own names; the recipients at outside domains got no clear answer",
                            trick.form.rcpt_to, trick.form.name
                        ),
                    )
                }
            }
            _ => (
                RelayVerdict::Inconclusive,
                format!(
                    "accepted address trick {} ({} form), but the control recipient got no clear answer",
                    trick.form.rcpt_to, trick.form.name
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

    /// The battery's attempt `form` with the given replies (`None`: no RCPT reply).
    fn try_form(form: &str, mail: u16, rcpt: Option<u16>) -> RelayAttempt {
        let mut a = attempt(mail, rcpt);
        a.form = battery(&RelayParams::default(), "mx.example.jp", "[192.0.2.1]")
            .into_iter()
            .find(|f| f.name == form)
            .unwrap_or_else(|| panic!("no form {form}"));
        a
    }

    /// The whole battery, every form refused with 554 except those in `accepted` (250).
    fn run_with(accepted: &[&str]) -> Vec<RelayAttempt> {
        battery(&RelayParams::default(), "mx.example.jp", "[192.0.2.1]")
            .iter()
            .map(|f| {
                let code = if accepted.contains(&f.name.as_str()) {
                    250
                } else {
                    554
                };
                try_form(&f.name, 250, Some(code))
            })
            .collect()
    }

    #[test]
    fn form_kinds() {
        let b = battery(&RelayParams::default(), "mx.example.jp", "[192.0.2.1]");
        let outside: Vec<&str> = b
            .iter()
            .filter(|f| f.kind() == FormKind::Outside)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            outside,
            [
                "plain",
                "null-sender",
                "local-sender",
                "literal-sender",
                "source-route"
            ]
        );
        // Every outside form's recipient ends at the outside domain; every trick's does not.
        for f in &b {
            let ends_outside = f.rcpt_to.ends_with("@example.net>");
            assert_eq!(ends_outside, f.kind() == FormKind::Outside, "{f:?}");
        }
    }

    /// The classification table of `classify`, row by row.
    #[test]
    fn classification_table() {
        use AttemptResult as R;
        use RelayVerdict as V;
        let control = |code: Option<u16>| code.map(|c| try_form("plain", 250, Some(c)));
        /// (case, attempts, control reply, how the dialogue ended, verdict)
        type Row = (&'static str, Vec<RelayAttempt>, Option<u16>, ProbeStatus, V);
        let rows: Vec<Row> = vec![
            // An outside-domain recipient accepted: open whatever the control got.
            (
                "plain, control refused",
                run_with(&["plain"]),
                Some(550),
                ProbeStatus::Success,
                V::Open,
            ),
            (
                "plain, control accepted",
                run_with(&["plain"]),
                Some(250),
                ProbeStatus::Success,
                V::Open,
            ),
            (
                "plain, control deferred",
                run_with(&["plain"]),
                Some(451),
                ProbeStatus::Success,
                V::Open,
            ),
            (
                "plain, no control",
                run_with(&["plain"]),
                None,
                ProbeStatus::Success,
                V::Open,
            ),
            (
                "source route",
                run_with(&["source-route"]),
                Some(250),
                ProbeStatus::Success,
                V::Open,
            ),
            (
                "null sender, cut short",
                run_with(&["null-sender"]),
                None,
                ProbeStatus::IoTimeout,
                V::Open,
            ),
            // Only address tricks accepted: the control decides.
            (
                "percent hack, control refused",
                run_with(&["percent-hack"]),
                Some(550),
                ProbeStatus::Success,
                V::Open,
            ),
            (
                "quoted, control refused",
                run_with(&["quoted"]),
                Some(550),
                ProbeStatus::Success,
                V::Open,
            ),
            (
                "percent hack, control accepted",
                run_with(&["percent-hack", "quoted-at-relay"]),
                Some(250),
                ProbeStatus::Success,
                V::Closed,
            ),
            (
                "percent hack, control deferred",
                run_with(&["percent-hack"]),
                Some(451),
                ProbeStatus::Success,
                V::Inconclusive,
            ),
            (
                "percent hack, no control",
                run_with(&["percent-hack"]),
                None,
                ProbeStatus::IoTimeout,
                V::Inconclusive,
            ),
            (
                "percent hack, control accepted, battery cut short",
                run_with(&["percent-hack"])[..6].to_vec(),
                Some(250),
                ProbeStatus::ClosedEarly,
                V::Inconclusive,
            ),
            // Nothing accepted.
            (
                "all refused",
                run_with(&[]),
                Some(550),
                ProbeStatus::Success,
                V::Closed,
            ),
            (
                "all refused, control accepted (backup MX)",
                run_with(&[]),
                Some(250),
                ProbeStatus::Success,
                V::Closed,
            ),
            (
                "cut short",
                run_with(&[])[..3].to_vec(),
                None,
                ProbeStatus::ClosedEarly,
                V::Inconclusive,
            ),
            (
                "nothing tried",
                Vec::new(),
                None,
                ProbeStatus::IoTimeout,
                V::Inconclusive,
            ),
        ];
        for (name, attempts, c, status, want) in rows {
            let c = control(c);
            let (got, why) = classify(status, &attempts, c.as_ref());
            assert_eq!(got, want, "{name}: {why}");
            if got == V::Open {
                assert!(why.contains(NOT_DELIVERED), "{name}: {why}");
            }
        }
        let grey: Vec<_> = battery(&RelayParams::default(), "x", "[x]")
            .iter()
            .map(|f| try_form(&f.name, 250, Some(450)))
            .collect();
        let (v, why) = classify(ProbeStatus::Success, &grey, None);
        assert_eq!(v, V::Inconclusive);
        assert!(why.contains("greylisting"), "{why}");
        assert_eq!(try_form("plain", 250, Some(250)).result, R::Accepted);
    }

    #[test]
    fn retired_accepts_all_is_classified_again() {
        let stored = |attempts: Vec<RelayAttempt>| RelayObservation {
            port: 25,
            status: ProbeStatus::Success,
            attempts,
            control: Some(try_form("plain", 250, Some(250))),
            verdict: RelayVerdict::AcceptsAll,
            reason: String::new(),
            transcript: Vec::new(),
        };
        // The old battery stopped at the first acceptance.
        let plain = stored(vec![try_form("plain", 250, Some(250))]);
        assert_eq!(plain.current_verdict(), RelayVerdict::Open);
        assert!(plain.accepts_nonexistent());
        let mut trick = run_with(&["percent-hack"]);
        trick.truncate(5);
        assert_eq!(stored(trick).current_verdict(), RelayVerdict::Inconclusive);
        let json = r#"{"port":25,"status":"success","attempts":[],"control":null,"verdict":"accepts-all","reason":"","transcript":[]}"#;
        let old: RelayObservation = serde_json::from_str(json).expect("old record reads");
        assert_eq!(old.verdict, RelayVerdict::AcceptsAll);
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
