//! What the mailing-list canary reads back from a subscriber's mailbox (attacker-influenced
//! text: the list manager and anyone posting to the list shape it): received messages
//! (header fields, unfolded, and the start of the body), and the few IMAP and POP3 answers the
//! mailbox reader needs (`UIDNEXT`, `SEARCH`, a `FETCH` literal's size, `STAT`). Every
//! function is bounded and total; the fuzz target `list_message` runs them on any input.

/// Most header fields kept from one message.
pub const MAX_FIELDS: usize = 200;
/// Most bytes of body kept.
pub const MAX_BODY: usize = 64 * 1024;
/// Most bytes of one unfolded header field kept.
const MAX_FIELD: usize = 4096;

/// One received message, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Header fields in order: name (as sent), value (unfolded, trimmed).
    pub fields: Vec<(String, String)>,
    /// The body's first [`MAX_BODY`] bytes (lossy UTF-8).
    pub body: String,
}

impl Message {
    /// Parses an RFC 5322 message (CRLF or LF line ends).
    pub fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut rest = "";
        let mut lines = text.split_inclusive('\n');
        let mut consumed = 0usize;
        for line in lines.by_ref() {
            consumed += line.len();
            let l = line.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                rest = &text[consumed..];
                break;
            }
            if l.starts_with([' ', '\t']) {
                if let Some((_, v)) = fields.last_mut()
                    && v.len() < MAX_FIELD
                {
                    v.push(' ');
                    v.push_str(l.trim());
                    truncate(v, MAX_FIELD);
                }
                continue;
            }
            match l.split_once(':') {
                Some((name, value))
                    if !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':') =>
                {
                    if fields.len() < MAX_FIELDS {
                        let mut v = value.trim().to_owned();
                        truncate(&mut v, MAX_FIELD);
                        fields.push((name.to_owned(), v));
                    }
                }
                // Not a header line: the header ended without a blank line.
                _ => {
                    rest = &text[consumed - line.len()..];
                    break;
                }
            }
        }
        let mut body = rest.to_owned();
        truncate(&mut body, MAX_BODY);
        Self { fields, body }
    }

    /// The first field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The Subject, RFC 2047 words decoded.
    pub fn subject(&self) -> String {
        self.header("Subject").map(decode_words).unwrap_or_default()
    }

    /// Whether the message carries `marker` in its `X-Mxray-Canary` field or its Subject.
    pub fn carries(&self, marker: &str) -> bool {
        !marker.is_empty()
            && (self
                .header("X-Mxray-Canary")
                .is_some_and(|v| v.contains(marker))
                || self.header("Subject").is_some_and(|v| v.contains(marker)))
    }

    /// The addresses of the `Reply-To` field (lower case).
    pub fn reply_to(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Reply-To"))
            .flat_map(|(_, v)| addresses(v))
            .collect()
    }

    /// Whether `Reply-To` sends replies to `list` (the list's posting address).
    pub fn reply_to_list(&self, list: &str) -> bool {
        let list = list.to_ascii_lowercase();
        self.reply_to().contains(&list)
    }

    /// Whether the message reads as a subscriber roster sent by the list manager of
    /// `list_domain`: its From: is at that domain and its body names `subscriber`.
    pub fn is_roster(&self, list_domain: &str, subscriber: &str) -> bool {
        let from_list = self.header("From").is_some_and(|f| {
            addresses(f).iter().any(|a| {
                a.rsplit_once('@')
                    .is_some_and(|(_, d)| d.eq_ignore_ascii_case(list_domain))
            })
        });
        from_list
            && !subscriber.is_empty()
            && self
                .body
                .to_ascii_lowercase()
                .contains(&subscriber.to_ascii_lowercase())
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// A header value with its RFC 2047 encoded words (`=?charset?Q?…?=`, `=?charset?B?…?=`)
/// decoded (as UTF-8, lossily; other charsets' bytes stay as they decode), at most
/// [`MAX_FIELD`] bytes out. Words that do not parse stay as they are.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        let after = &rest[start + 2..];
        let decoded = (|| {
            let (_charset, tail) = after.split_once('?')?;
            let (enc, tail) = tail.split_once('?')?;
            let end = tail.find("?=")?;
            let text = &tail[..end];
            let bytes = match enc {
                "Q" | "q" => q_decode(text),
                "B" | "b" => crate::base64_decode(text)?,
                _ => return None,
            };
            Some((
                String::from_utf8_lossy(&bytes).into_owned(),
                &tail[end + 2..],
            ))
        })();
        match decoded {
            Some((text, tail)) => {
                // Whitespace between two encoded words is dropped (RFC 2047 §6.2).
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = tail;
                last_was_word = true;
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = after;
                last_was_word = false;
            }
        }
        if out.len() > MAX_FIELD {
            break;
        }
    }
    out.push_str(rest);
    truncate(&mut out, MAX_FIELD);
    out
}

fn q_decode(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'_' { b' ' } else { b[i] });
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The addresses in an address-list field value (`<a@b>` forms, else bare `a@b` words),
/// lower case, at most 50.
pub fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        let a = after[..close].trim();
        if a.contains('@') {
            out.push(a.to_ascii_lowercase());
        }
        rest = &after[close + 1..];
        if out.len() >= 50 {
            return out;
        }
    }
    if out.is_empty() {
        out.extend(
            value
                .split([',', ' ', '\t', ';'])
                .map(|w| w.trim_matches(['"', '(', ')']))
                .filter(|w| w.contains('@') && !w.starts_with('@'))
                .take(50)
                .map(str::to_ascii_lowercase),
        );
    }
    out
}

/// `UIDNEXT` from an untagged `OK [UIDNEXT n]` line of SELECT (the text after `* `).
pub fn imap_uidnext(untagged: &str) -> Option<u32> {
    let at = untagged.find("[UIDNEXT ")?;
    let digits: String = untagged[at + 9..]
        .chars()
        .take_while(char::is_ascii_digit)
        .take(10)
        .collect();
    digits.parse().ok()
}

/// The numbers of an untagged `SEARCH` answer (the text after `* `), at most 1000.
pub fn imap_search(untagged: &str) -> Option<Vec<u32>> {
    let rest = untagged.strip_prefix("SEARCH")?;
    Some(
        rest.split_ascii_whitespace()
            .filter_map(|n| n.parse().ok())
            .take(1000)
            .collect(),
    )
}

/// The size of the literal that ends an untagged `FETCH` line (`… {123}`).
pub fn imap_literal(line: &str) -> Option<usize> {
    let open = line.rfind('{')?;
    let inner = line[open + 1..].strip_suffix('}')?;
    if inner.is_empty() || inner.len() > 9 {
        return None;
    }
    inner.parse().ok()
}

/// The UID in an untagged `FETCH` line (`n FETCH (UID 7 …`).
pub fn imap_fetch_uid(line: &str) -> Option<u32> {
    let at = line.find("UID ")?;
    let digits: String = line[at + 4..]
        .chars()
        .take_while(char::is_ascii_digit)
        .take(10)
        .collect();
    digits.parse().ok()
}

/// The message count of a POP3 `+OK n size` answer to STAT.
pub fn pop3_stat(line: &str) -> Option<u32> {
    line.strip_prefix("+OK ")?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COPY: &str = "Return-Path: <open+bounces-1-sub1=members.lab@lists.lab>\r\n\
Received: from mx.lists.lab\r\n\tby vm with LMTP\r\nFrom: <outsider@else.example>\r\n\
To: <open@lists.lab>\r\nSubject: [open] mxray list canary mxray-canary-00ff\r\n\
X-Mxray-Canary: mxray-canary-00ff\r\nReply-To: Open List <Open@Lists.Lab>\r\n\r\nhello\r\n";

    #[test]
    fn reads_a_list_copy() {
        let m = Message::parse(COPY.as_bytes());
        assert!(m.carries("mxray-canary-00ff"));
        assert!(!m.carries("mxray-canary-11"));
        assert_eq!(
            m.header("received"),
            Some("from mx.lists.lab by vm with LMTP")
        );
        assert_eq!(m.reply_to(), ["open@lists.lab"]);
        assert!(m.reply_to_list("open@lists.lab"));
        assert!(!m.reply_to_list("members@lists.lab"));
        assert_eq!(m.body, "hello\r\n");
        assert!(!m.is_roster("lists.lab", "sub1@members.lab"));
    }

    #[test]
    fn roster_and_answers() {
        let m = Message::parse(
            b"From: open+owner@lists.lab\nSubject: Subscribers to open@lists.lab\n\n  - sub1@members.lab\n",
        );
        assert!(m.is_roster("lists.lab", "SUB1@members.lab"));
        assert!(!m.is_roster("other.lab", "sub1@members.lab"));
        assert_eq!(imap_uidnext("OK [UIDNEXT 17] Predicted next UID"), Some(17));
        assert_eq!(imap_search("SEARCH 3 4 x 9"), Some(vec![3, 4, 9]));
        assert_eq!(imap_search("FLAGS ()"), None);
        assert_eq!(imap_literal("1 FETCH (UID 7 BODY[]<0> {1234}"), Some(1234));
        assert_eq!(imap_literal("1 FETCH (UID 7 BODY[] {99999999999}"), None);
        assert_eq!(imap_fetch_uid("1 FETCH (UID 7 BODY[]<0> {12}"), Some(7));
        assert_eq!(pop3_stat("+OK 2 320"), Some(2));
        assert_eq!(
            decode_words("=?utf-8?q?Subscribers_to_members=40lists.lab?="),
            "Subscribers to members@lists.lab"
        );
        assert_eq!(
            decode_words("=?UTF-8?B?5pel5pys?= =?utf-8?q?_x?= y"),
            "日本 x y"
        );
        assert_eq!(
            decode_words("a =?x?z?bad?= =?utf-8?q?=4"),
            "a =?x?z?bad?= =?utf-8?q?=4"
        );
        assert_eq!(pop3_stat("-ERR no"), None);
        assert_eq!(addresses("a@b.c, \"x\" <D@E.F>"), ["d@e.f"]);
        assert_eq!(addresses("a@b.c, x@y.z"), ["a@b.c", "x@y.z"]);
    }

    #[test]
    fn bounded_on_hostile_input() {
        let mut big = String::new();
        for i in 0..1000 {
            big.push_str(&format!(
                "X-{i}: {}\r\n\t{}\r\n",
                "v".repeat(100),
                "w".repeat(5000)
            ));
        }
        big.push_str("\r\n");
        big.push_str(&"b".repeat(200_000));
        let m = Message::parse(big.as_bytes());
        assert_eq!(m.fields.len(), MAX_FIELDS);
        assert!(m.fields.iter().all(|(_, v)| v.len() <= MAX_FIELD));
        assert_eq!(m.body.len(), MAX_BODY);
        let odd = Message::parse(b"no header here\nbody");
        assert!(odd.fields.is_empty());
        assert!(odd.body.starts_with("no header"));
    }

    /// Every function on many mutated messages and answers: no panic, bounds kept (the fuzz
    /// target `list_message` does the same with coverage guidance).
    #[test]
    fn total_on_mutations() {
        let seeds: [&[u8]; 3] = [
            COPY.as_bytes(),
            b"* OK [UIDNEXT 17]\r\n* SEARCH 3 4\r\n* 1 FETCH (UID 7 BODY[]<0> {12}\r\n+OK 2 3",
            b"Subject: =?utf-8?q?a=40b_c?= =?utf-8?B?5pel?=\r\nReply-To: <x@y>, z@w\r\n\r\nb",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..3000 {
            let mut m = seeds[round % seeds.len()].to_vec();
            for _ in 0..(next() % 8) {
                let at = (next() as usize) % (m.len() + 1);
                match next() % 3 {
                    0 if at < m.len() => m[at] = next() as u8,
                    1 => m.insert(at, b"=?:<>{}\r\n\t _"[(next() % 12) as usize]),
                    _ if at < m.len() => {
                        m.remove(at);
                    }
                    _ => {}
                }
            }
            let msg = Message::parse(&m);
            assert!(msg.fields.len() <= MAX_FIELDS && msg.body.len() <= MAX_BODY);
            let _ = (
                msg.subject(),
                msg.reply_to(),
                msg.carries("mxray-canary-00ff"),
            );
            let _ = msg.is_roster("lists.lab", "sub1@members.lab");
            let text = String::from_utf8_lossy(&m);
            assert!(decode_words(&text).len() <= MAX_FIELD);
            for l in text.split('\n') {
                let _ = (imap_uidnext(l), imap_search(l), imap_literal(l));
                let _ = (imap_fetch_uid(l), pop3_stat(l), addresses(l));
            }
        }
    }
}
