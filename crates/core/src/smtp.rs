//! SMTP replies and EHLO capabilities (RFC 5321 §4.2, RFC 1869), without I/O.
//!
//! Hand-written because the probe must keep every byte the server sent as evidence and must
//! survive servers that are not SMTP at all; client libraries (lettre) hide both.

use serde::{Deserialize, Serialize};

/// One complete (possibly multi-line) reply.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line, without code and separator.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2yz.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }
    /// 4yz: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    /// 5yz: refused for good.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
    /// The text of the first line.
    pub fn first_text(&self) -> &str {
        self.lines.first().map_or("", String::as_str)
    }
    /// The reply as the server sent it, lines joined with `\n`.
    pub fn to_wire_text(&self) -> String {
        let n = self.lines.len();
        self.lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{}{}{}", self.code, if i + 1 == n { ' ' } else { '-' }, l))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A reply line that is not SMTP.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("not an SMTP reply line: {line:?}")]
pub struct ReplyError {
    /// The offending line (lossy, trimmed to 200 characters by the caller's cap).
    pub line: String,
}

/// Collects reply lines into a [`Reply`]. Feed it lines without the CRLF.
#[derive(Debug, Default)]
pub struct ReplyParser {
    code: Option<u16>,
    lines: Vec<String>,
}

/// Upper bound on lines in one reply: a server that sends `250-` forever is cut off here.
pub const MAX_REPLY_LINES: usize = 200;

impl ReplyParser {
    /// A parser at the start of a reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one line; returns the finished reply once the last line (`NNN SP` or a bare `NNN`)
    /// arrives.
    pub fn push(&mut self, line: &str) -> Result<Option<Reply>, ReplyError> {
        let bad = || ReplyError {
            line: line.chars().take(200).collect(),
        };
        let bytes = line.as_bytes();
        if bytes.len() < 3
            || !bytes[..3].iter().all(u8::is_ascii_digit)
            || !(b'2'..=b'5').contains(&bytes[0])
        {
            return Err(bad());
        }
        let code: u16 = line[..3].parse().map_err(|_| bad())?;
        if self.code.is_some_and(|c| c != code) {
            return Err(bad());
        }
        let (last, text) = match bytes.get(3) {
            None => (true, ""),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(bad()),
        };
        self.code = Some(code);
        self.lines.push(text.to_owned());
        if last {
            let lines = std::mem::take(&mut self.lines);
            self.code = None;
            Ok(Some(Reply { code, lines }))
        } else if self.lines.len() >= MAX_REPLY_LINES {
            Err(bad())
        } else {
            Ok(None)
        }
    }
}

/// What an EHLO reply advertised.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The name the server gave in the first line.
    pub server_name: String,
    /// Extension keywords, upper-case, each with its parameters as sent.
    pub extensions: Vec<(String, String)>,
}

impl Capabilities {
    /// Parses a positive EHLO reply.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut lines = reply.lines.iter();
        let server_name = lines
            .next()
            .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
            .unwrap_or_default();
        let extensions = lines
            .filter_map(|l| {
                let mut parts = l.trim().splitn(2, [' ', '=']);
                let kw = parts.next()?.to_ascii_uppercase();
                (!kw.is_empty()).then(|| (kw, parts.next().unwrap_or("").trim().to_owned()))
            })
            .collect();
        Self {
            server_name,
            extensions,
        }
    }

    /// Whether a keyword was advertised.
    pub fn has(&self, keyword: &str) -> bool {
        self.extensions
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(keyword))
    }

    /// SASL mechanisms from `AUTH` (and the pre-standard `AUTH=` form), upper-case, deduplicated.
    pub fn auth_mechanisms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, v) in &self.extensions {
            if k == "AUTH" {
                for m in v.split_whitespace() {
                    let m = m.to_ascii_uppercase();
                    if !out.contains(&m) {
                        out.push(m);
                    }
                }
            }
        }
        out
    }
}

/// The host name in a greeting: `220 mail.example.jp ESMTP Postfix` → `mail.example.jp`.
/// Returns `None` when the first word is not a plausible host name.
pub fn greeting_name(greeting: &Reply) -> Option<String> {
    let word = greeting.first_text().split_whitespace().next()?;
    let word = word.trim_end_matches('.');
    let plausible = word.contains('.')
        && word.len() <= 253
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && word.parse::<std::net::IpAddr>().is_err();
    plausible.then(|| word.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(lines: &[&str]) -> Result<Vec<Reply>, ReplyError> {
        let mut p = ReplyParser::new();
        let mut out = Vec::new();
        for l in lines {
            if let Some(r) = p.push(l)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    #[test]
    fn replies() {
        let r = parse_all(&[
            "250-mx.example.jp Hello",
            "250-PIPELINING",
            "250-AUTH PLAIN LOGIN",
            "250-AUTH=LOGIN",
            "250 STARTTLS",
        ])
        .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].code, 250);
        let caps = Capabilities::from_ehlo(&r[0]);
        assert_eq!(caps.server_name, "mx.example.jp");
        assert!(caps.has("starttls") && caps.has("PIPELINING") && !caps.has("8BITMIME"));
        assert_eq!(caps.auth_mechanisms(), vec!["PLAIN", "LOGIN"]);
        assert_eq!(r[0].to_wire_text().lines().last(), Some("250 STARTTLS"));
        let r = parse_all(&["554"]).unwrap();
        assert!(r[0].is_permanent() && r[0].lines == vec![String::new()]);
        assert!(parse_all(&["450 4.2.0 try later"]).unwrap()[0].is_transient());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_all(&["HTTP/1.1 400 Bad Request"]).is_err());
        assert!(parse_all(&["SSH-2.0-OpenSSH_9.2"]).is_err());
        assert!(parse_all(&["250-a", "251 b"]).is_err());
        assert!(parse_all(&["2500"]).is_err());
        assert!(parse_all(&["650 x"]).is_err());
        let endless: Vec<String> = (0..MAX_REPLY_LINES + 1)
            .map(|_| "250-x".to_owned())
            .collect();
        let refs: Vec<&str> = endless.iter().map(String::as_str).collect();
        assert!(parse_all(&refs).is_err());
    }

    #[test]
    fn greeting_names() {
        let g = |s: &str| {
            greeting_name(&Reply {
                code: 220,
                lines: vec![s.into()],
            })
        };
        assert_eq!(
            g("Mail.Example.JP ESMTP Postfix"),
            Some("mail.example.jp".into())
        );
        assert_eq!(g("ESMTP ready"), None);
        assert_eq!(g("192.0.2.1 ESMTP"), None);
        assert_eq!(g("<script>.x ESMTP"), None);
    }
}
