//! Findings of `mxray audit` (scope-authorised checks of the operator's own servers): login
//! protection and weak passwords. Their observations are login attempts
//! ([`crate::login`]), made only by `mxray audit`, never by a scan.

use super::service;
use crate::finding::{Finding, Severity};
use crate::login::{Attempt, LoginService, Protection, WeakOutcome, curve, protection};
use std::net::IpAddr;

/// `auth.no_throttling` when a series of failed logins met no delay, refusal or lockout.
pub fn login_protection(
    ip: IpAddr,
    port: u16,
    svc: LoginService,
    user: &str,
    attempts: &[Attempt],
) -> Vec<Finding> {
    let verdict = protection(attempts);
    if verdict != Protection::None {
        return Vec::new();
    }
    let n = attempts.len();
    let total: u64 = attempts.iter().map(|a| a.ms).sum();
    let mut evidence = vec![
        format!(
            "{} failed logins for {user} on {} (port {port}) in {total} ms, none delayed or refused",
            n,
            svc.as_str()
        ),
        format!("answer times: {}", curve(attempts)),
    ];
    if let Some(last) = attempts.last() {
        evidence.push(format!("last answer: {}", last.text));
    }
    vec![
        Finding::new(
            "auth.no_throttling",
            Severity::High,
            service(ip, port),
            format!(
                "{n} failed {} logins cost nothing: password guessing is not slowed down",
                svc.as_str()
            ),
            "Delay or refuse repeated failed logins: Dovecot auth_failure_delay and its auth \
             penalty (login_trusted_networks only for your own proxies), Postfix \
             smtpd_client_auth_rate_limit, or fail2ban on the authentication log.",
        )
        .with_evidence(evidence),
    ]
}

/// `auth.weak_password` when an account listed in scope fell to a weak candidate. The
/// password itself is never part of the finding, only which kind of guess worked.
pub fn weak_password(
    ip: IpAddr,
    port: u16,
    svc: LoginService,
    user: &str,
    outcome: &WeakOutcome,
) -> Vec<Finding> {
    let WeakOutcome::Fell { how } = outcome else {
        return Vec::new();
    };
    vec![
        Finding::new(
            "auth.weak_password",
            Severity::Critical,
            service(ip, port),
            format!("Account {user} has a weak password ({})", how.describe()),
            "Change this account's password to a long random one now, check its sent mail and \
             forwarding rules for abuse, and enforce a password policy.",
        )
        .with_evidence([format!(
            "{} login as {user} succeeded: {}",
            svc.as_str(),
            how.describe()
        )]),
    ]
}

/// What the relay confirmation saw.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RelayCanary {
    /// The server refused the message (at RCPT, DATA or the end of data): not relayed.
    Refused {
        /// The refusing reply.
        reply: String,
    },
    /// Accepted, and the marked message arrived in the canary mailbox.
    Arrived {
        /// Seconds from acceptance to arrival (rounded up).
        after_s: u64,
        /// The server's acceptance after the message's data.
        reply: String,
        /// Whether the canary was deleted from the mailbox afterwards (absent in reports
        /// written before it was).
        #[serde(default)]
        deleted: bool,
    },
    /// Accepted, but not seen within the wait (queued, filtered, or bounced later).
    NotArrived {
        /// Seconds watched.
        waited_s: u64,
        /// The acceptance.
        reply: String,
    },
    /// The test did not complete (connection, canary mailbox).
    Failed {
        /// Why.
        why: String,
    },
}

/// `smtp.open_relay`, confirmed, when a message for an outside mailbox was delivered.
pub fn relay_confirmed(ip: IpAddr, port: u16, canary: &str, r: &RelayCanary) -> Vec<Finding> {
    let RelayCanary::Arrived { after_s, reply, .. } = r else {
        return Vec::new();
    };
    vec![
        Finding::new(
            "smtp.open_relay",
            Severity::Critical,
            service(ip, port),
            "Open relay confirmed: a message for an outside mailbox was delivered",
            "Accept mail only for your own domains and relay only for authenticated users or \
             your own networks.",
        )
        .with_evidence([
            format!("accepted a marked message for {canary}: {reply}"),
            format!("the message arrived in the canary mailbox within {after_s} s"),
        ]),
    ]
}

/// What the mailing-list posting canary saw for one list.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ListPost {
    /// The list's server refused the post at SMTP: not open.
    Refused {
        /// The refusing reply.
        reply: String,
    },
    /// Accepted, and the marked post reached the subscriber's mailbox: open to anyone.
    Arrived {
        /// Seconds from acceptance to arrival (rounded up).
        after_s: u64,
        /// The server's acceptance after the message's data.
        reply: String,
        /// The canary's Message-ID.
        message_id: String,
        /// The Reply-To addresses of the copy the subscriber received.
        reply_to: Vec<String>,
        /// Whether that Reply-To is the list itself.
        reply_to_list: bool,
        /// Whether the copy was deleted from the mailbox afterwards.
        deleted: bool,
    },
    /// Accepted at SMTP but never delivered to the subscriber within the wait: held for
    /// moderation, denied to non-members, or filtered. Not open.
    NotArrived {
        /// Seconds watched.
        waited_s: u64,
        /// The acceptance.
        reply: String,
    },
    /// The test did not complete (connection, mailbox login, resolution).
    Failed {
        /// Why.
        why: String,
    },
}

impl ListPost {
    /// One line for people: "open", "not open: …", or why the test failed.
    pub fn verdict(&self) -> String {
        match self {
            Self::Refused { reply } => format!("not open: refused at SMTP ({reply})"),
            Self::Arrived { after_s, .. } => {
                format!("OPEN: the non-member's post reached the subscriber in {after_s} s")
            }
            Self::NotArrived { waited_s, reply } => format!(
                "not open: accepted ({reply}) but not delivered to the subscriber within {waited_s} s (held for moderation, rejected or filtered)"
            ),
            Self::Failed { why } => format!("not determined: {why}"),
        }
    }
}

/// What the subscriber-list request saw.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ListRoster {
    /// Not asked (no `manager` in scope).
    NotAsked,
    /// The list manager mailed the subscriber list to a non-owner.
    Exposed {
        /// The command address the request went to.
        request: String,
        /// Seconds until the answer arrived.
        after_s: u64,
        /// The answer's Subject.
        subject: String,
    },
    /// No subscriber list came back within the wait.
    NotExposed {
        /// The command address the request went to.
        request: String,
        /// Seconds watched.
        waited_s: u64,
    },
    /// The request could not be sent.
    Failed {
        /// Why.
        why: String,
    },
}

/// `list.open_posting` (and `list.reply_to_list` from the received copy) for one list whose
/// server is `ip:port`.
pub fn list_posting(
    ip: IpAddr,
    port: u16,
    list: &str,
    sender: &str,
    post: &ListPost,
) -> Vec<Finding> {
    let ListPost::Arrived {
        after_s,
        reply,
        message_id,
        reply_to,
        reply_to_list,
        ..
    } = post
    else {
        return Vec::new();
    };
    let mut out = vec![
        Finding::new(
            "list.open_posting",
            Severity::Critical,
            service(ip, port),
            format!("Mailing list {list} distributes posts from anyone"),
            "Restrict posting to subscribers (mlmmj: control/subonlypost; Mailman: \
             generic_nonmember_action = hold or reject; Sympa: send privateorpublickey) or \
             moderate the list, and check the setting again after every migration.",
        )
        .with_evidence([
            format!("a post from the non-member {sender} to {list} was accepted: {reply}"),
            format!("it reached a subscriber's mailbox within {after_s} s"),
            format!("Message-ID: {message_id}"),
        ]),
    ];
    if *reply_to_list {
        out.push(
            Finding::new(
                "list.reply_to_list",
                Severity::Medium,
                service(ip, port),
                format!(
                    "Mailing list {list} sets Reply-To to the list: replies go to every subscriber"
                ),
                "Leave the poster's Reply-To alone (mlmmj: remove Reply-To from \
                 control/customheaders and control/delheaders; Mailman: reply_goes_to_list = \
                 poster); subscribers who mean to answer one person then do not write to all.",
            )
            .with_evidence([format!(
                "the copy a subscriber received carries Reply-To: {}",
                reply_to.join(", ")
            )]),
        );
    }
    out
}

/// `list.subscribers_exposed` when the list manager mailed its subscriber list to a
/// non-owner.
pub fn list_roster(ip: IpAddr, port: u16, list: &str, from: &str, r: &ListRoster) -> Vec<Finding> {
    let ListRoster::Exposed {
        request,
        after_s,
        subject,
    } = r
    else {
        return Vec::new();
    };
    vec![
        Finding::new(
            "list.subscribers_exposed",
            Severity::High,
            service(ip, port),
            format!("Mailing list {list} mails its subscriber list to a non-owner"),
            "Answer subscriber-list requests only to owners (mlmmj: control/owner and, if the \
             command is not needed, control/nolistsubsemail; Mailman: private_roster = 2; \
             Sympa: review owner).",
        )
        .with_evidence([
            format!("a request from the subscriber {from} (not an owner) to {request}"),
            format!("was answered within {after_s} s with the subscriber list: Subject: {subject}"),
        ]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::{LoginReply, WeakKind};

    fn attempts(ms: u64) -> Vec<Attempt> {
        (1..=10)
            .map(|n| Attempt {
                n,
                ms,
                reply: LoginReply::Rejected,
                text: "NO [AUTHENTICATIONFAILED] Authentication failed.".into(),
            })
            .collect()
    }

    #[test]
    fn relay_confirmation() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let arrived = RelayCanary::Arrived {
            after_s: 2,
            reply: "250 2.0.0 Ok".into(),
            deleted: true,
        };
        let f = relay_confirmed(ip, 25, "c@x.example", &arrived);
        assert_eq!(f[0].id, "smtp.open_relay");
        assert!(f[0].evidence[1].contains("arrived"));
        let lost = RelayCanary::NotArrived {
            waited_s: 30,
            reply: "250 ok".into(),
        };
        assert!(relay_confirmed(ip, 25, "c@x.example", &lost).is_empty());
    }

    #[test]
    fn throttling_verdicts() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let f = login_protection(ip, 143, LoginService::Imap, "t@x", &attempts(5));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "auth.no_throttling");
        assert!(f[0].evidence[1].contains("#10 5ms"), "{:?}", f[0].evidence);
        assert!(login_protection(ip, 143, LoginService::Imap, "t@x", &attempts(2_000)).is_empty());
    }

    #[test]
    fn weak_password_never_names_the_password() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let fell = WeakOutcome::Fell {
            how: WeakKind::Listed,
        };
        let f = weak_password(ip, 110, LoginService::Pop3, "carol@x", &fell);
        assert_eq!(f[0].id, "auth.weak_password");
        assert_eq!(f[0].severity, Severity::Critical);
        let text = format!("{f:?}");
        assert!(!text.contains("letmein"));
        assert!(
            weak_password(
                ip,
                110,
                LoginService::Pop3,
                "d@x",
                &WeakOutcome::Resisted { tried: 22 }
            )
            .is_empty()
        );
    }

    #[test]
    fn list_verdicts() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let arrived = ListPost::Arrived {
            after_s: 1,
            reply: "250 2.0.0 Ok".into(),
            message_id: "<m@x>".into(),
            reply_to: vec!["open@lists.example".into()],
            reply_to_list: true,
            deleted: true,
        };
        let f = list_posting(ip, 25, "open@lists.example", "o@else.example", &arrived);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].id, "list.open_posting");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[1].id, "list.reply_to_list");
        let held = ListPost::NotArrived {
            waited_s: 10,
            reply: "250 ok".into(),
        };
        assert!(list_posting(ip, 25, "m@l.example", "o@e.example", &held).is_empty());
        assert!(held.verdict().starts_with("not open"));
        let exposed = ListRoster::Exposed {
            request: "m+list@l.example".into(),
            after_s: 2,
            subject: "Subscribers to m@l.example".into(),
        };
        let f = list_roster(ip, 25, "m@l.example", "s@x.example", &exposed);
        assert_eq!(f[0].id, "list.subscribers_exposed");
        assert!(
            list_roster(ip, 25, "m@l.example", "s@x.example", &ListRoster::NotAsked).is_empty()
        );
    }
}
