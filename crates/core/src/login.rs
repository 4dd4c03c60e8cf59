//! Login attempts of `mxray audit`, without I/O: what a server's answer to a login means
//! (SMTP AUTH, RFC 4954; IMAP LOGIN, RFC 9051 with the RFC 5530 response codes; POP3
//! USER/PASS, RFC 1939 with the RFC 3206 codes), the record of one attempt, and whether a
//! series of failed logins met any protection (delay, refusal, lockout).

use crate::model::MailboxProtocol;
use serde::{Deserialize, Serialize};

/// A failed login that took at least this long was delayed on purpose (Dovecot's
/// `auth_failure_delay` is 2 s by default; a loopback login without delay takes a few ms,
/// a fraction of a second on a busy machine).
pub const DELAYED_MS: u64 = 1_000;

/// The service a login went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginService {
    /// SMTP AUTH on the submission port.
    Submission,
    /// IMAP LOGIN.
    Imap,
    /// POP3 USER/PASS.
    Pop3,
}

impl LoginService {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submission => "submission",
            Self::Imap => "imap",
            Self::Pop3 => "pop3",
        }
    }
}

impl From<MailboxProtocol> for LoginService {
    fn from(p: MailboxProtocol) -> Self {
        match p {
            MailboxProtocol::Imap => Self::Imap,
            MailboxProtocol::Pop3 => Self::Pop3,
        }
    }
}

/// What the server answered to one login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginReply {
    /// Logged in.
    Accepted,
    /// Wrong credentials (SMTP 535, IMAP `NO`, POP3 `-ERR`).
    Rejected,
    /// Refused because of too many attempts or a temporary limit (SMTP 421/454/450/452 other
    /// than a plain failure, IMAP `[UNAVAILABLE]`/`[LIMIT]`, POP3 `[IN-USE]`/`[SYS/TEMP]`).
    Limited,
    /// The server closed the connection, refused it, or did not answer in time.
    Gone,
    /// Anything else (`BAD`, an unexpected code): not a login answer.
    Other,
}

impl LoginReply {
    /// Whether the reply shows a protection against repeated failures.
    pub fn is_protection(self) -> bool {
        matches!(self, Self::Limited | Self::Gone)
    }
}

/// Classifies an SMTP reply to `AUTH`.
pub fn smtp_auth(code: u16, text: &str) -> LoginReply {
    match code {
        235 => LoginReply::Accepted,
        // 535 5.7.8 authentication failed; 534/538 mechanism problems count as rejections.
        535 | 534 | 538 | 501 => LoginReply::Rejected,
        // 454 4.7.0 "Temporary authentication failure" can be a back-end hiccup, but Postfix
        // says "Too many AUTH commands" with it when anvil's limit is hit: both stop logins.
        421 | 450 | 451 | 452 | 454 => LoginReply::Limited,
        // 550/554 with "too many": a permanent block (some servers, fail2ban-like filters).
        550 | 554 if text.to_ascii_lowercase().contains("too many") => LoginReply::Limited,
        _ => LoginReply::Other,
    }
}

/// Classifies an IMAP tagged completion of `LOGIN` (status upper case, the rest of the line).
pub fn imap_login(status: &str, text: &str) -> LoginReply {
    let up = text.to_ascii_uppercase();
    match status {
        "OK" => LoginReply::Accepted,
        "NO" if up.starts_with("[UNAVAILABLE]")
            || up.starts_with("[LIMIT]")
            || up.starts_with("[INUSE]") =>
        {
            LoginReply::Limited
        }
        "NO" => LoginReply::Rejected,
        _ => LoginReply::Other,
    }
}

/// Classifies a POP3 reply to `PASS`.
pub fn pop3_pass(line: &str) -> LoginReply {
    match crate::mailbox::pop3_ok(line) {
        Some(true) => LoginReply::Accepted,
        Some(false) => {
            let up = line.to_ascii_uppercase();
            if up.contains("[IN-USE]") || up.contains("[SYS/TEMP]") || up.contains("[LIMIT]") {
                LoginReply::Limited
            } else {
                LoginReply::Rejected
            }
        }
        None => LoginReply::Other,
    }
}

/// One login attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based.
    pub n: u32,
    /// From sending the credentials to the answer (or to the connection's end).
    pub ms: u64,
    /// The answer.
    pub reply: LoginReply,
    /// The server's words (never the credentials).
    pub text: String,
}

/// What a series of failed logins met.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Protection {
    /// Every failure answered at once: no delay, no refusal.
    None,
    /// Failures were delayed (the slowest, milliseconds).
    Delayed {
        /// The slowest failure.
        max_ms: u64,
    },
    /// The server refused further attempts or closed the connection, from attempt `after`.
    Refused {
        /// The attempt that met the refusal.
        after: u32,
    },
    /// A login with a wrong password succeeded: the account takes any password.
    AcceptedWrongPassword,
    /// Not enough answers to judge (the first attempt failed to connect, …).
    Unknown,
}

/// Judges a series of failed logins. Stops being "none" at the first sign of protection,
/// which is also when the caller stops sending ([`should_stop`]).
pub fn protection(attempts: &[Attempt]) -> Protection {
    if attempts.iter().any(|a| a.reply == LoginReply::Accepted) {
        return Protection::AcceptedWrongPassword;
    }
    if let Some(a) = attempts.iter().find(|a| a.reply.is_protection()) {
        if a.n > 1 || a.reply == LoginReply::Limited {
            return Protection::Refused { after: a.n };
        }
        // A first login left unanswered until the step timeout (the greeting came, so the
        // server is alive): failed logins are delayed beyond what a client waits. One
        // refused at once says nothing about protection.
        if a.ms >= DELAYED_MS {
            return Protection::Delayed { max_ms: a.ms };
        }
        return Protection::Unknown;
    }
    let rejected: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.reply == LoginReply::Rejected)
        .collect();
    if rejected.is_empty() {
        return Protection::Unknown;
    }
    // The median, so one slow answer on a busy machine is not taken for a delay.
    let mut times: Vec<u64> = rejected.iter().map(|a| a.ms).collect();
    times.sort_unstable();
    let median = times[times.len() / 2];
    if median >= DELAYED_MS {
        return Protection::Delayed {
            max_ms: times.last().copied().unwrap_or(median),
        };
    }
    Protection::None
}

/// Whether to stop sending failed logins: a sign of protection (refusal, closed connection,
/// two delayed failures in a row) or a success. Keeps a real account from being locked out.
pub fn should_stop(attempts: &[Attempt]) -> bool {
    let Some(last) = attempts.last() else {
        return false;
    };
    if last.reply != LoginReply::Rejected {
        return true;
    }
    let n = attempts.len();
    n >= 2
        && attempts[n - 2..]
            .iter()
            .all(|a| a.reply == LoginReply::Rejected && a.ms >= DELAYED_MS)
}

/// The delay curve as one evidence line: `1:12ms 2:9ms 3:2004ms(rejected) …`.
pub fn curve(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(|a| {
            let what = match a.reply {
                LoginReply::Rejected => "",
                LoginReply::Accepted => " accepted",
                LoginReply::Limited => " limited",
                LoginReply::Gone => " closed",
                LoginReply::Other => " other",
            };
            format!("#{} {}ms{what}", a.n, a.ms)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The outcome of trying weak passwords for one account on one service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum WeakOutcome {
    /// A candidate logged in (which one is never kept: `kind` says only its class).
    Fell {
        /// How the password was guessed.
        how: WeakKind,
    },
    /// Every candidate was rejected.
    Resisted {
        /// Candidates tried.
        tried: u32,
    },
    /// Stopped at a sign of throttling or lockout before the list ended.
    Stopped {
        /// Candidates tried.
        tried: u32,
    },
}

/// Which kind of candidate succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeakKind {
    /// Password = the user name.
    UserName,
    /// Password = the local part of the user name.
    LocalPart,
    /// A password from the short list.
    Listed,
}

impl WeakKind {
    /// Classifies the candidate at `index` of [`crate::scope::weak_candidates`] for `user`.
    pub fn of(user: &str, candidate: &str) -> Self {
        if candidate == user {
            Self::UserName
        } else if user.split_once('@').is_some_and(|(l, _)| l == candidate) {
            Self::LocalPart
        } else {
            Self::Listed
        }
    }

    /// In words (English).
    pub fn describe(self) -> &'static str {
        match self {
            Self::UserName => "the password equals the user name",
            Self::LocalPart => "the password equals the user name's local part",
            Self::Listed => "the password is on mxray's short list of common passwords",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u32, ms: u64, reply: LoginReply) -> Attempt {
        Attempt {
            n,
            ms,
            reply,
            text: String::new(),
        }
    }

    #[test]
    fn classifies_replies() {
        assert_eq!(smtp_auth(235, "ok"), LoginReply::Accepted);
        assert_eq!(
            smtp_auth(535, "5.7.8 Error: authentication failed"),
            LoginReply::Rejected
        );
        assert_eq!(
            smtp_auth(454, "4.7.0 Too many AUTH commands"),
            LoginReply::Limited
        );
        assert_eq!(smtp_auth(550, "nope"), LoginReply::Other);
        assert_eq!(
            imap_login("NO", "[AUTHENTICATIONFAILED] Authentication failed."),
            LoginReply::Rejected
        );
        assert_eq!(imap_login("NO", "[UNAVAILABLE] later"), LoginReply::Limited);
        assert_eq!(imap_login("OK", "Logged in"), LoginReply::Accepted);
        assert_eq!(imap_login("BAD", "syntax"), LoginReply::Other);
        assert_eq!(
            pop3_pass("-ERR [AUTH] Authentication failed."),
            LoginReply::Rejected
        );
        assert_eq!(pop3_pass("-ERR [SYS/TEMP] later"), LoginReply::Limited);
        assert_eq!(pop3_pass("+OK Logged in."), LoginReply::Accepted);
        assert_eq!(pop3_pass("hello"), LoginReply::Other);
    }

    #[test]
    fn judges_series() {
        use LoginReply::*;
        let fast: Vec<_> = (1..=10)
            .map(|n| a(n, 20 + u64::from(n), Rejected))
            .collect();
        assert_eq!(protection(&fast), Protection::None);
        let mut spike = fast;
        spike[3].ms = 5_000;
        assert_eq!(protection(&spike), Protection::None, "one slow answer");
        let slow = [a(1, 2_001, Rejected), a(2, 1_950, Rejected)];
        assert_eq!(protection(&slow), Protection::Delayed { max_ms: 2_001 });
        let limited = [a(1, 3, Rejected), a(2, 2, Rejected), a(3, 1, Limited)];
        assert_eq!(protection(&limited), Protection::Refused { after: 3 });
        assert_eq!(protection(&[a(1, 1, Gone)]), Protection::Unknown);
        assert_eq!(
            protection(&[a(1, 15_000, Gone)]),
            Protection::Delayed { max_ms: 15_000 }
        );
        assert_eq!(
            protection(&[a(1, 1, Rejected), a(2, 1, Gone)]),
            Protection::Refused { after: 2 }
        );
        assert_eq!(
            protection(&[a(1, 1, Accepted)]),
            Protection::AcceptedWrongPassword
        );
        assert_eq!(protection(&[]), Protection::Unknown);
    }

    #[test]
    fn stops_at_first_sign() {
        use LoginReply::*;
        assert!(!should_stop(&[]));
        assert!(!should_stop(&[a(1, 5, Rejected)]));
        assert!(!should_stop(&[a(1, 2_000, Rejected)]));
        assert!(should_stop(&[a(1, 2_000, Rejected), a(2, 2_000, Rejected)]));
        assert!(should_stop(&[a(1, 5, Rejected), a(2, 5, Limited)]));
        assert!(should_stop(&[a(1, 5, Accepted)]));
        assert_eq!(
            curve(&[a(1, 5, Rejected), a(2, 7, Limited)]),
            "#1 5ms, #2 7ms limited"
        );
    }

    #[test]
    fn weak_kinds() {
        assert_eq!(WeakKind::of("bob@x", "bob@x"), WeakKind::UserName);
        assert_eq!(WeakKind::of("bob@x", "bob"), WeakKind::LocalPart);
        assert_eq!(WeakKind::of("bob@x", "letmein"), WeakKind::Listed);
        assert_eq!(WeakKind::of("bob", "bob"), WeakKind::UserName);
    }
}
