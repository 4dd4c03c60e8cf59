//! Telnet (RFC 854, RFC 855) without I/O: separating the server's option negotiation from its
//! text, and the refusals the probe answers with so the server goes on to its login prompt.
//!
//! Hand-written: the telnet crates on crates.io are client sessions that answer negotiation
//! on their own terms; the probe needs every byte accounted for and must agree to nothing.

/// IAC: "interpret as command".
pub const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;

/// Most negotiation entries and text bytes kept from one server.
pub const MAX_NEGOTIATION: usize = 64;

/// One option request from the server.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Negotiation {
    /// `WILL opt`: the server offers to do it.
    Will(u8),
    /// `WONT opt`.
    Wont(u8),
    /// `DO opt`: the server asks us to do it.
    Do(u8),
    /// `DONT opt`.
    Dont(u8),
    /// `SB opt … SE`: a subnegotiation (its data is not kept).
    Sub(u8),
    /// Any other two-byte command (`IAC NOP`, `IAC GA`, …).
    Command(u8),
}

impl Negotiation {
    /// `DO TERMINAL-TYPE`, `WILL ECHO`, `SB 24`, …
    pub fn render(self) -> String {
        let (verb, opt) = match self {
            Self::Will(o) => ("WILL", o),
            Self::Wont(o) => ("WONT", o),
            Self::Do(o) => ("DO", o),
            Self::Dont(o) => ("DONT", o),
            Self::Sub(o) => ("SB", o),
            Self::Command(c) => return format!("IAC {c}"),
        };
        format!("{verb} {}", option_name(opt))
    }
}

/// The name of a telnet option (the common ones), else its number.
pub fn option_name(opt: u8) -> String {
    match opt {
        0 => "BINARY".into(),
        1 => "ECHO".into(),
        3 => "SUPPRESS-GO-AHEAD".into(),
        5 => "STATUS".into(),
        6 => "TIMING-MARK".into(),
        24 => "TERMINAL-TYPE".into(),
        31 => "NAWS".into(),
        32 => "TERMINAL-SPEED".into(),
        33 => "TOGGLE-FLOW-CONTROL".into(),
        34 => "LINEMODE".into(),
        35 => "X-DISPLAY-LOCATION".into(),
        36 => "OLD-ENVIRON".into(),
        37 => "AUTHENTICATION".into(),
        38 => "ENCRYPT".into(),
        39 => "NEW-ENVIRON".into(),
        o => o.to_string(),
    }
}

/// A chunk of server bytes split into text and negotiation.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Split {
    /// The text (IAC IAC unescaped to one 255 byte), in order.
    pub text: Vec<u8>,
    /// The negotiation, in order (at most [`MAX_NEGOTIATION`]; the rest is dropped).
    pub negotiation: Vec<Negotiation>,
    /// Bytes at the end that start an unfinished sequence: feed them again with the next read.
    pub rest: Vec<u8>,
}

/// Splits server bytes into text and negotiation. An unfinished IAC sequence at the end is
/// returned in `rest`. Never allocates more than the input's size plus the capped list.
pub fn split(data: &[u8]) -> Split {
    let mut out = Split::default();
    let push = |out: &mut Split, n: Negotiation| {
        if out.negotiation.len() < MAX_NEGOTIATION {
            out.negotiation.push(n);
        }
    };
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b != IAC {
            out.text.push(b);
            i += 1;
            continue;
        }
        let Some(&cmd) = data.get(i + 1) else {
            out.rest = data[i..].to_vec();
            return out;
        };
        match cmd {
            IAC => {
                out.text.push(IAC);
                i += 2;
            }
            WILL | WONT | DO | DONT => {
                let Some(&opt) = data.get(i + 2) else {
                    out.rest = data[i..].to_vec();
                    return out;
                };
                let n = match cmd {
                    WILL => Negotiation::Will(opt),
                    WONT => Negotiation::Wont(opt),
                    DO => Negotiation::Do(opt),
                    _ => Negotiation::Dont(opt),
                };
                push(&mut out, n);
                i += 3;
            }
            SB => {
                // Up to IAC SE; an IAC IAC inside is data.
                let mut j = i + 2;
                let mut end = None;
                while j + 1 < data.len() {
                    if data[j] == IAC && data[j + 1] == SE {
                        end = Some(j + 2);
                        break;
                    }
                    j += if data[j] == IAC { 2 } else { 1 };
                }
                let Some(end) = end else {
                    out.rest = data[i..].to_vec();
                    return out;
                };
                push(
                    &mut out,
                    Negotiation::Sub(data.get(i + 2).copied().unwrap_or(0)),
                );
                i = end;
            }
            c => {
                push(&mut out, Negotiation::Command(c));
                i += 2;
            }
        }
    }
    out
}

/// Our answer to the server's requests: `WONT` to every `DO`, `DONT` to every `WILL` (RFC 854:
/// refusing is always allowed). Agrees to nothing, so no terminal type, window size or
/// environment (user name) is ever sent.
pub fn refusals(negotiation: &[Negotiation]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in negotiation {
        match *n {
            Negotiation::Do(o) => out.extend_from_slice(&[IAC, WONT, o]),
            Negotiation::Will(o) => out.extend_from_slice(&[IAC, DONT, o]),
            _ => {}
        }
    }
    out
}

/// Text lines from the server's text bytes (CR LF, CR NUL or LF ends a line; control
/// characters other than tab dropped; lossy UTF-8). The last element is the unfinished line
/// (a prompt such as `login: `), when non-empty.
pub fn lines(text: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for &b in text {
        match b {
            b'\n' | b'\r' => {
                if !cur.is_empty() {
                    out.push(crate::sanitize::lossy(&cur).trim_end().to_owned());
                    cur.clear();
                }
            }
            b'\t' => cur.push(b' '),
            0..=31 | 127 => {}
            _ => cur.push(b),
        }
    }
    if !cur.is_empty() {
        out.push(crate::sanitize::lossy(&cur).trim_end().to_owned());
    }
    out.retain(|l| !l.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_negotiation_from_text() {
        let data = [
            IAC, DO, 24, IAC, WILL, 1, b'h', b'i', IAC, IAC, b'\r', b'\n', IAC, SB, 24, 1, IAC,
            IAC, IAC, SE, b'l', b'o', b'g', b'i', b'n', b':', b' ',
        ];
        let s = split(&data);
        assert_eq!(
            s.negotiation,
            [
                Negotiation::Do(24),
                Negotiation::Will(1),
                Negotiation::Sub(24)
            ]
        );
        assert_eq!(s.text, b"hi\xff\r\nlogin: ");
        assert!(s.rest.is_empty());
        assert_eq!(lines(&s.text), ["hi\u{fffd}", "login:"]);
        assert_eq!(s.negotiation[0].render(), "DO TERMINAL-TYPE");
    }

    #[test]
    fn unfinished_sequences_are_kept_for_the_next_read() {
        for (data, rest) in [
            (&[b'a', IAC][..], &[IAC][..]),
            (&[b'a', IAC, DO][..], &[IAC, DO][..]),
            (&[IAC, SB, 24, 1][..], &[IAC, SB, 24, 1][..]),
        ] {
            let s = split(data);
            assert_eq!(s.rest, rest, "{data:?}");
        }
    }

    #[test]
    fn refuses_everything() {
        let n = [
            Negotiation::Do(24),
            Negotiation::Will(1),
            Negotiation::Wont(3),
            Negotiation::Sub(24),
        ];
        assert_eq!(refusals(&n), [IAC, WONT, 24, IAC, DONT, 1]);
    }

    #[test]
    fn negotiation_is_capped() {
        let data: Vec<u8> = std::iter::repeat_n([IAC, DO, 1], 1000).flatten().collect();
        assert_eq!(split(&data).negotiation.len(), MAX_NEGOTIATION);
    }
}
