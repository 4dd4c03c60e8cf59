//! FTP replies (RFC 959 §4.2) and what `USER anonymous` reveals, without I/O.
//!
//! The probe reads the greeting, sends `USER anonymous`, then `USER` with a random name as a
//! control, then `QUIT`; no password is ever sent. Anonymous login is offered when the server
//! logs `anonymous` in without a password (230), or asks it for a password (331/332) while
//! answering the control name differently (vsftpd with only anonymous access refuses other
//! names with 530), or says so in the 331 text (`Anonymous login ok`, `Guest login ok`). A
//! server that asks every name for a password the same way cannot be judged without sending
//! one, which the probe never does: `indistinguishable`.
//!
//! Hand-written: FTP client crates log in; the probe must stop before any password.

use serde::{Deserialize, Serialize};

/// Most lines kept from one reply.
pub const MAX_REPLY_LINES: usize = 50;

/// One complete (possibly multi-line) reply.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct FtpReply {
    /// The three-digit code.
    pub code: u16,
    /// Each line's text (the first and last without their code), capped.
    pub lines: Vec<String>,
}

impl FtpReply {
    /// The lines joined with a space.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

/// A line that cannot start or end an FTP reply.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("not an FTP reply line: {0:?}")]
pub struct FtpReplyError(pub String);

/// Collects reply lines into an [`FtpReply`] (RFC 959 §4.2: `NNN-` opens a multi-line reply,
/// `NNN ` with the same code ends it; lines between may be anything).
#[derive(Debug, Default)]
pub struct FtpReplyParser {
    open: Option<FtpReply>,
}

fn code_of(line: &str) -> Option<(u16, Option<u8>)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || !(b'1'..=b'5').contains(&b[0]) {
        return None;
    }
    let code = line[..3].parse().ok()?;
    Some((code, b.get(3).copied()))
}

impl FtpReplyParser {
    /// A parser at the start of a reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one line (without CR LF); returns the reply when it is complete.
    pub fn push(&mut self, line: &str) -> Result<Option<FtpReply>, FtpReplyError> {
        let bad = || FtpReplyError(line.chars().take(200).collect());
        let text = |l: &str| l.get(4..).unwrap_or("").to_owned();
        match self.open.as_mut() {
            None => match code_of(line) {
                Some((code, None | Some(b' '))) => Ok(Some(FtpReply {
                    code,
                    lines: vec![text(line)],
                })),
                Some((code, Some(b'-'))) => {
                    self.open = Some(FtpReply {
                        code,
                        lines: vec![text(line)],
                    });
                    Ok(None)
                }
                _ => Err(bad()),
            },
            Some(r) => {
                let end = matches!(code_of(line), Some((c, None | Some(b' '))) if c == r.code);
                if r.lines.len() < MAX_REPLY_LINES {
                    r.lines.push(if end { text(line) } else { line.to_owned() });
                }
                if end { Ok(self.open.take()) } else { Ok(None) }
            }
        }
    }
}

/// Whether anonymous login is offered.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anonymous {
    /// Not asked (no greeting).
    #[default]
    NotAsked,
    /// `USER anonymous` logged in without a password (230).
    NoPassword,
    /// A password is asked of `anonymous` only, or the reply says anonymous login is ok.
    Offered,
    /// `anonymous` refused (530 and the like).
    Refused,
    /// Every name is asked for a password the same way: undecidable without one.
    Indistinguishable,
}

impl Anonymous {
    /// Whether this is an offer of anonymous access.
    pub fn is_offered(self) -> bool {
        matches!(self, Self::NoPassword | Self::Offered)
    }
}

/// What the replies to `USER anonymous` and to the control `USER <random>` mean.
pub fn judge(anonymous: &FtpReply, control: Option<&FtpReply>) -> Anonymous {
    match anonymous.code {
        230 => Anonymous::NoPassword,
        331 | 332 => {
            let t = anonymous.text().to_ascii_lowercase();
            if ["anonymous", "guest", "e-mail", "email"]
                .iter()
                .any(|w| t.contains(w))
            {
                return Anonymous::Offered;
            }
            match control {
                Some(c) if c.code == anonymous.code => Anonymous::Indistinguishable,
                Some(_) => Anonymous::Offered,
                None => Anonymous::Indistinguishable,
            }
        }
        _ => Anonymous::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Result<Vec<FtpReply>, FtpReplyError> {
        let mut p = FtpReplyParser::new();
        let mut out = Vec::new();
        for l in lines {
            if let Some(r) = p.push(l)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    fn r(code: u16, text: &str) -> FtpReply {
        FtpReply {
            code,
            lines: vec![text.into()],
        }
    }

    #[test]
    fn replies() {
        let got = parse(&["220 (vsFTPd 3.0.3)", "331 Please specify the password."]).unwrap();
        assert_eq!(
            got,
            [
                r(220, "(vsFTPd 3.0.3)"),
                r(331, "Please specify the password.")
            ]
        );
        let got = parse(&["220-Welcome", "  anything here", "220-more", "220 ready"]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].lines,
            ["Welcome", "  anything here", "220-more", "ready"]
        );
        assert!(parse(&["SSH-2.0-OpenSSH"]).is_err());
        assert!(parse(&["HTTP/1.1 400"]).is_err());
        assert_eq!(parse(&["220"]).unwrap(), [r(220, "")]);
    }

    #[test]
    fn judging() {
        let pw = r(331, "Please specify the password.");
        let only_anon = r(530, "This FTP server is anonymous only.");
        assert_eq!(
            judge(&r(230, "Login successful."), None),
            Anonymous::NoPassword
        );
        assert_eq!(judge(&pw, Some(&only_anon)), Anonymous::Offered);
        assert_eq!(judge(&pw, Some(&pw)), Anonymous::Indistinguishable);
        assert_eq!(judge(&pw, None), Anonymous::Indistinguishable);
        assert_eq!(
            judge(
                &r(
                    331,
                    "Anonymous login ok, send your complete email address as your password"
                ),
                Some(&pw)
            ),
            Anonymous::Offered
        );
        assert_eq!(
            judge(&r(530, "Permission denied."), Some(&pw)),
            Anonymous::Refused
        );
        assert!(Anonymous::Offered.is_offered() && !Anonymous::Indistinguishable.is_offered());
    }
}
