//! Sans-I/O pieces of POP3 (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS) and IMAP (RFC 9051
//! CAPABILITY, STARTTLS, LOGINDISABLED): reply classification, capability lists, and whether
//! a client could send a password in clear text.

use crate::model::MailboxProtocol;

/// A POP3 status line: `+OK …` or `-ERR …`.
pub fn pop3_ok(line: &str) -> Option<bool> {
    let l = line.trim_start();
    if l.starts_with("+OK") {
        Some(true)
    } else if l.starts_with("-ERR") {
        Some(false)
    } else {
        None
    }
}

/// An IMAP line's kind.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ImapLine<'a> {
    /// `* …` untagged data.
    Untagged(&'a str),
    /// `TAG OK|NO|BAD …` completion of our command; the status in upper case.
    Tagged(String, &'a str),
    /// `+ …` continuation.
    Continuation,
    /// Anything else.
    Other,
}

/// Classifies one IMAP line against our tag.
pub fn imap_line<'a>(line: &'a str, tag: &str) -> ImapLine<'a> {
    if let Some(rest) = line.strip_prefix("* ") {
        return ImapLine::Untagged(rest);
    }
    if line.starts_with('+') {
        return ImapLine::Continuation;
    }
    if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
        let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
        return ImapLine::Tagged(status.to_ascii_uppercase(), text);
    }
    ImapLine::Other
}

/// Whether an IMAP greeting or untagged line is plausible (`* OK`, `* PREAUTH`, `* BYE`).
pub fn imap_greeting_ok(line: &str) -> Option<bool> {
    let up = line.to_ascii_uppercase();
    if up.starts_with("* OK") || up.starts_with("* PREAUTH") {
        Some(true)
    } else if up.starts_with("* BYE") {
        Some(false)
    } else {
        None
    }
}

/// Capability atoms from an untagged `CAPABILITY …` line, or from a `[CAPABILITY …]` response
/// code in a greeting or completion.
pub fn imap_capabilities(line: &str) -> Option<Vec<String>> {
    let up = line.to_ascii_uppercase();
    let start = if let Some(rest) = up.strip_prefix("CAPABILITY ") {
        line.len() - rest.len()
    } else if let Some(i) = up.find("[CAPABILITY ") {
        i + "[CAPABILITY ".len()
    } else {
        return None;
    };
    let rest = &line[start..];
    let rest = rest.split(']').next().unwrap_or(rest);
    Some(
        rest.split_whitespace()
            .take(200)
            .map(str::to_owned)
            .collect(),
    )
}

fn has(caps: &[String], atom: &str) -> bool {
    caps.iter().any(|c| c.eq_ignore_ascii_case(atom))
}

/// SASL mechanisms offered: IMAP `AUTH=X` atoms, POP3 `SASL X Y` line.
pub fn sasl_mechanisms(protocol: MailboxProtocol, caps: &[String]) -> Vec<String> {
    match protocol {
        MailboxProtocol::Imap => caps
            .iter()
            .filter_map(|c| {
                c.get(..5)
                    .filter(|p| p.eq_ignore_ascii_case("AUTH="))
                    .map(|_| c[5..].to_ascii_uppercase())
            })
            .collect(),
        MailboxProtocol::Pop3 => caps
            .iter()
            .filter_map(|c| {
                let mut w = c.split_whitespace();
                w.next()
                    .filter(|k| k.eq_ignore_ascii_case("SASL"))
                    .map(|_| w.map(str::to_ascii_uppercase).collect::<Vec<_>>())
            })
            .flatten()
            .collect(),
    }
}

/// Whether STLS / STARTTLS is advertised.
pub fn offers_tls(protocol: MailboxProtocol, caps: &[String]) -> bool {
    match protocol {
        MailboxProtocol::Imap => has(caps, "STARTTLS"),
        MailboxProtocol::Pop3 => has(caps, "STLS"),
    }
}

/// How a password could be sent over a clear connection, from the capabilities the server
/// advertised there; empty when it could not.
///
/// IMAP: `LOGIN` is allowed unless `LOGINDISABLED` is advertised (RFC 9051 §6.2.3), and
/// `AUTH=PLAIN` / `AUTH=LOGIN` carry the password in base64. POP3: `USER` (then `PASS`), or
/// `SASL PLAIN` / `LOGIN`.
pub fn plaintext_login_methods(protocol: MailboxProtocol, caps: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    match protocol {
        MailboxProtocol::Imap => {
            if !has(caps, "LOGINDISABLED") {
                out.push("LOGIN".to_owned());
            }
        }
        MailboxProtocol::Pop3 => {
            if has(caps, "USER") {
                out.push("USER/PASS".to_owned());
            }
        }
    }
    for m in sasl_mechanisms(protocol, caps) {
        if m == "PLAIN" || m == "LOGIN" {
            out.push(format!("AUTH {m}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn imap_parsing() {
        assert_eq!(
            imap_capabilities("CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED"),
            Some(v(&["IMAP4rev1", "STARTTLS", "LOGINDISABLED"]))
        );
        assert_eq!(
            imap_capabilities("OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready."),
            Some(v(&["IMAP4rev1", "AUTH=PLAIN"]))
        );
        assert_eq!(imap_capabilities("OK Dovecot ready."), None);
        assert_eq!(
            imap_line("a1 OK done", "a1"),
            ImapLine::Tagged("OK".into(), "done")
        );
        assert_eq!(imap_line("* OK hi", "a1"), ImapLine::Untagged("OK hi"));
        assert_eq!(imap_line("a10 OK", "a1"), ImapLine::Other);
        assert_eq!(imap_greeting_ok("* OK ready"), Some(true));
        assert_eq!(imap_greeting_ok("* BYE go away"), Some(false));
        assert_eq!(imap_greeting_ok("220 smtp"), None);
    }

    #[test]
    fn plaintext_login() {
        use MailboxProtocol::*;
        assert_eq!(
            plaintext_login_methods(Imap, &v(&["IMAP4rev1", "STARTTLS", "AUTH=PLAIN"])),
            ["LOGIN", "AUTH PLAIN"]
        );
        assert!(
            plaintext_login_methods(Imap, &v(&["IMAP4rev1", "STARTTLS", "LOGINDISABLED"]))
                .is_empty()
        );
        assert_eq!(
            plaintext_login_methods(Imap, &v(&["LOGINDISABLED", "AUTH=CRAM-MD5"])),
            Vec::<String>::new()
        );
        assert_eq!(
            plaintext_login_methods(Pop3, &v(&["TOP", "USER", "SASL PLAIN LOGIN"])),
            ["USER/PASS", "AUTH PLAIN", "AUTH LOGIN"]
        );
        assert!(plaintext_login_methods(Pop3, &v(&["TOP", "STLS", "SASL"])).is_empty());
        assert!(offers_tls(Pop3, &v(&["STLS"])) && !offers_tls(Imap, &v(&["STLS"])));
        assert_eq!(pop3_ok("+OK Dovecot ready."), Some(true));
        assert_eq!(pop3_ok("-ERR no"), Some(false));
        assert_eq!(pop3_ok("* OK imap"), None);
    }
}
