//! Sans-I/O pieces of POP3 (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS) and IMAP (RFC 9051
//! CAPABILITY, STARTTLS, LOGINDISABLED; RFC 2971 ID): reply classification, capability lists,
//! the ID response, and whether a client could send a password in clear text.

use crate::model::{ImapId, ImapIdField, MailboxProtocol};
use std::fmt;

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

/// Most ID pairs kept (RFC 2971 §3.3 allows a server at most 30).
pub const MAX_ID_FIELDS: usize = 30;
/// Longest ID field name kept, in bytes (RFC 2971: at most 30 octets; we allow some slack).
pub const MAX_ID_KEY: usize = 64;
/// Longest ID value kept, in bytes (RFC 2971: at most 1024 octets).
pub const MAX_ID_VALUE: usize = 1024;

/// Why an ID response could not be parsed to its end.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ImapIdError {
    /// Byte offset in the untagged text (after `* `).
    pub offset: usize,
    /// What was wrong there.
    pub kind: ImapIdErrorKind,
}

/// The kinds of [`ImapIdError`].
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ImapIdErrorKind {
    /// A `{n}` literal: its bytes follow on the next lines, which the probe does not read.
    Literal,
    /// Neither `NIL` nor a parenthesised list after `ID`.
    NotAList,
    /// A field name was not a quoted string.
    ExpectedKey,
    /// A value was neither a quoted string nor `NIL`.
    ExpectedValue,
    /// A quoted string without its closing quote.
    Unterminated,
    /// The list ended without `)`.
    Unclosed,
}

impl fmt::Display for ImapIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ImapIdErrorKind::Literal => "literal strings are not read",
            ImapIdErrorKind::NotAList => "expected NIL or (",
            ImapIdErrorKind::ExpectedKey => "expected a quoted field name",
            ImapIdErrorKind::ExpectedValue => "expected a quoted value or NIL",
            ImapIdErrorKind::Unterminated => "unterminated quoted string",
            ImapIdErrorKind::Unclosed => "expected )",
        };
        write!(f, "ID response at byte {}: {what}", self.offset)
    }
}

/// Parses an untagged IMAP ID response (the text after `* `), RFC 2971 §4:
///
/// ```text
/// id_response    ::= "ID" SPACE id_params_list
/// id_params_list ::= "(" #(string SPACE nstring) ")" / nil
/// ```
///
/// `None` when the line is not an ID response. Quoted strings are unescaped (`\"`, `\\`) and
/// kept verbatim otherwise, control characters included; literals (`{n}`) stop the parse with
/// an error, keeping the pairs before them. At most [`MAX_ID_FIELDS`] pairs are kept, keys
/// and values are cut to [`MAX_ID_KEY`] / [`MAX_ID_VALUE`] bytes (`truncated` says so).
pub fn imap_id(untagged: &str) -> Option<ImapId> {
    let head = untagged.get(..3)?;
    if !head.eq_ignore_ascii_case("ID ") {
        return None;
    }
    let mut id = ImapId::default();
    if let Err(e) = parse_id_list(untagged, 3, &mut id) {
        id.error = Some(e.to_string());
    }
    Some(id)
}

fn parse_id_list(s: &str, start: usize, id: &mut ImapId) -> Result<(), ImapIdError> {
    let b = s.as_bytes();
    let err = |offset, kind| ImapIdError { offset, kind };
    let skip_sp = |mut i: usize| {
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        i
    };
    let mut i = skip_sp(start);
    if is_nil(b, i) {
        return Ok(());
    }
    if b.get(i) != Some(&b'(') {
        return Err(err(i, ImapIdErrorKind::NotAList));
    }
    i += 1;
    loop {
        i = skip_sp(i);
        match b.get(i) {
            Some(b')') => return Ok(()),
            None => return Err(err(i, ImapIdErrorKind::Unclosed)),
            Some(b'{') => return Err(err(i, ImapIdErrorKind::Literal)),
            Some(b'"') => {}
            Some(_) => return Err(err(i, ImapIdErrorKind::ExpectedKey)),
        }
        let (key, next) = quoted(s, i)?;
        i = skip_sp(next);
        let value = match b.get(i) {
            Some(b'"') => {
                let (v, next) = quoted(s, i)?;
                i = next;
                Some(v)
            }
            Some(b'{') => return Err(err(i, ImapIdErrorKind::Literal)),
            _ if is_nil(b, i) => {
                i += 3;
                None
            }
            _ => return Err(err(i, ImapIdErrorKind::ExpectedValue)),
        };
        if id.fields.len() == MAX_ID_FIELDS {
            id.truncated = true;
            continue;
        }
        let (key, cut_key) = capped(key, MAX_ID_KEY);
        let (value, cut_value) = match value {
            Some(v) => {
                let (v, cut) = capped(v, MAX_ID_VALUE);
                (Some(v), cut)
            }
            None => (None, false),
        };
        id.truncated |= cut_key || cut_value;
        id.fields.push(ImapIdField { key, value });
    }
}

fn is_nil(b: &[u8], i: usize) -> bool {
    b.get(i..i + 3)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"NIL"))
        && !b.get(i + 3).is_some_and(|c| c.is_ascii_alphanumeric())
}

/// The quoted string starting at `s[at] == '"'`, unescaped, and the offset after it.
fn quoted(s: &str, at: usize) -> Result<(String, usize), ImapIdError> {
    let mut out = String::new();
    let mut chars = s[at + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return Ok((out, at + 1 + k + 1)),
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(ImapIdError {
        offset: at,
        kind: ImapIdErrorKind::Unterminated,
    })
}

/// `s` cut to at most `max` bytes on a character boundary, and whether it was cut.
fn capped(mut s: String, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    (s, true)
}

/// Renders ID pairs as one evidence text for fingerprinting: `name "Dovecot" version
/// "2.3.19.1" …`. `name` then `version` come first (signatures anchor on them), the others
/// follow in the server's order; values are quoted with `\` and `"` escaped, so a value
/// cannot pass for the next field; `NIL` values are written `NIL`.
pub fn imap_id_text(fields: &[ImapIdField]) -> String {
    let rank = |f: &ImapIdField| {
        if f.key.eq_ignore_ascii_case("name") {
            0
        } else if f.key.eq_ignore_ascii_case("version") {
            1
        } else {
            2
        }
    };
    let mut sorted: Vec<&ImapIdField> = fields.iter().collect();
    sorted.sort_by_key(|f| rank(f));
    let mut out = String::new();
    for f in sorted {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&f.key);
        match &f.value {
            Some(v) => {
                out.push_str(" \"");
                for c in v.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            None => out.push_str(" NIL"),
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

    fn field(k: &str, v: Option<&str>) -> ImapIdField {
        ImapIdField {
            key: k.into(),
            value: v.map(Into::into),
        }
    }

    #[test]
    fn imap_id_responses() {
        let dovecot = imap_id(r#"ID ("name" "Dovecot" "version" "2.3.19.1")"#).expect("an ID");
        assert_eq!(
            dovecot.fields,
            [
                field("name", Some("Dovecot")),
                field("version", Some("2.3.19.1"))
            ]
        );
        assert!(!dovecot.truncated && dovecot.error.is_none());
        assert_eq!(
            imap_id_text(&dovecot.fields),
            r#"name "Dovecot" version "2.3.19.1""#
        );
        let nil = imap_id("ID NIL").expect("an ID");
        assert!(nil.fields.is_empty() && nil.error.is_none());
        // Case-insensitive keyword, NIL values, escapes, name moved first when rendered.
        let odd = imap_id(r#"id ( "vendor" NIL "Name" "a \"q\" \\ b" ) "#).expect("an ID");
        assert_eq!(
            odd.fields,
            [field("vendor", None), field("Name", Some(r#"a "q" \ b"#))]
        );
        assert_eq!(
            imap_id_text(&odd.fields),
            r#"Name "a \"q\" \\ b" vendor NIL"#
        );
        assert_eq!(imap_id("OK done"), None);
        assert_eq!(imap_id("IDLE"), None);
        assert_eq!(imap_id("I"), None);
        // Broken responses keep the pairs before the fault and say where it is.
        for (line, kept, offset) in [
            (r#"ID ("name" "Cyrus" "x" {5}"#, 1, 23),
            (r#"ID ("name" "Cyrus""#, 1, 18),
            (r#"ID ("name" "Cyr"#, 0, 11),
            (r#"ID (name "x")"#, 0, 4),
            (r#"ID ("name" 42)"#, 0, 11),
            ("ID garbage", 0, 3),
            ("ID ", 0, 3),
        ] {
            let id = imap_id(line).expect("an ID");
            assert_eq!(id.fields.len(), kept, "{line}");
            let e = id.error.unwrap_or_else(|| panic!("no error for {line}"));
            assert!(e.contains(&format!("byte {offset}:")), "{line}: {e}");
        }
    }

    #[test]
    fn imap_id_is_bounded_and_verbatim() {
        let mut line = String::from("ID (");
        for i in 0..40 {
            line.push_str(&format!("\"k{i}\" \"v\u{1b}[2J{i}\" "));
        }
        line.push_str(&format!(
            "\"{}\" \"{}\")",
            "K".repeat(500),
            "é".repeat(3000)
        ));
        let id = imap_id(&line).expect("an ID");
        assert_eq!(id.fields.len(), MAX_ID_FIELDS);
        assert!(id.truncated && id.error.is_none());
        assert_eq!(
            id.fields[0],
            field("k0", Some("v\u{1b}[2J0")),
            "kept verbatim"
        );
        let long = format!("ID (\"{}\" \"{}\")", "K".repeat(500), "é".repeat(3000));
        let id = imap_id(&long).expect("an ID");
        assert!(id.truncated);
        assert_eq!(id.fields[0].key.len(), MAX_ID_KEY);
        let v = id.fields[0].value.as_deref().expect("a value");
        assert!(
            v.len() <= MAX_ID_VALUE && v.len() > MAX_ID_VALUE - 2,
            "{}",
            v.len()
        );
        // Every prefix of a response (multi-byte text, escapes, NIL) parses without a panic,
        // to at most the pairs of the whole line and with an error, as none is complete.
        let full = r#"ID ("name" "Dövecot \"ß\"" "os" NIL "version" "2.3")"#;
        let whole = imap_id(full).expect("an ID");
        assert_eq!(whole.fields.len(), 3);
        assert!(whole.error.is_none());
        for (end, _) in full.char_indices() {
            if let Some(id) = imap_id(&full[..end]) {
                assert!(id.fields.len() <= 3, "{:?}", &full[..end]);
                assert!(id.error.is_some(), "{:?} is incomplete", &full[..end]);
            }
        }
    }
}
