//! MTA-STS policies (RFC 8461 §3.2): what the fetch of
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt` returned, a strict parser naming the
//! offending line, and MX pattern matching (§4.1).
//!
//! ```text
//! sts-policy-record = *WSP sts-policy-field *WSP *(sts-policy-term-delim *WSP sts-policy-field *WSP) [sts-policy-term-delim]
//! sts-policy-field  = "version: STSv1" / "mode: " ("enforce" / "testing" / "none")
//!                   / "max_age: " 1*10DIGIT / "mx: " sts-policy-mx-value / extension
//! ```

use crate::model::{Lookup, TlsInfo};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Largest policy body read (RFC 8461 §3.3 lets senders cap it; 64 KiB is generous).
pub const MAX_POLICY: usize = 64 * 1024;
/// Largest `max_age` (RFC 8461 §3.2: about a year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;
/// At most this many `mx:` patterns are kept.
const MAX_PATTERNS: usize = 50;

/// How far the policy fetch got. Stable kebab-case strings.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FetchStatus {
    /// An HTTP response was read (its status code may still be an error).
    Fetched,
    /// `mta-sts.<domain>` has no address (or the lookup failed).
    NoAddress,
    /// The address is excluded, or private/loopback without permission: never contacted.
    NotAdmitted,
    /// TCP connection failed or timed out.
    ConnectFailed,
    /// The TLS handshake failed.
    TlsFailed,
    /// The HTTP exchange broke off (not HTTP, timeout, closed early).
    HttpError,
}

/// The policy fetch, verbatim.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct PolicyFetch {
    /// The URL asked.
    pub url: String,
    /// The `A`/`AAAA` answer for `mta-sts.<domain>`.
    pub addresses: Lookup<Vec<IpAddr>>,
    /// The address contacted.
    #[serde(default)]
    pub address: Option<IpAddr>,
    /// How far it got.
    pub status: FetchStatus,
    /// Why it stopped, in words.
    #[serde(default)]
    pub detail: Option<String>,
    /// The TLS session, with strict verification's verdict (Mozilla roots plus `--ca-file`).
    #[serde(default)]
    pub tls: Option<TlsInfo>,
    /// The HTTP status code.
    #[serde(default)]
    pub http_status: Option<u16>,
    /// `Content-Type`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// `Location`, when the server redirected (never followed: RFC 8461 §3.3).
    #[serde(default)]
    pub location: Option<String>,
    /// The body, lossy UTF-8, at most [`MAX_POLICY`] bytes.
    #[serde(default)]
    pub body: Option<String>,
    /// The body was longer than [`MAX_POLICY`].
    #[serde(default)]
    pub truncated: bool,
}

/// A policy's mode (RFC 8461 §5).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Mode {
    /// Senders refuse to deliver without valid TLS to a listed MX.
    Enforce,
    /// Senders report failures but deliver anyway.
    Testing,
    /// The policy is withdrawn.
    None,
}

impl Mode {
    /// As written in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Testing => "testing",
            Self::None => "none",
        }
    }
}

/// A parsed policy.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// Seconds a sender caches the policy.
    pub max_age: u64,
    /// `mx:` patterns, lowercase, verbatim otherwise.
    pub mx: Vec<String>,
}

/// What is wrong with a policy.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PolicyErrorKind {
    /// A line that is not `key: value`.
    NotKeyValue,
    /// A key given twice.
    Duplicate,
    /// `version` is not `STSv1`.
    BadVersion,
    /// `mode` is not `enforce`, `testing` or `none`.
    BadMode,
    /// `max_age` is not a number of seconds up to [`MAX_AGE_LIMIT`].
    BadMaxAge,
    /// An `mx` value that is not a host name pattern.
    BadMx,
    /// No `version: STSv1` line.
    NoVersion,
    /// No `mode:` line.
    NoMode,
    /// No `max_age:` line.
    NoMaxAge,
    /// `enforce` or `testing` without any `mx:` line.
    NoMx,
    /// The body is longer than [`MAX_POLICY`] (set by the caller: the fetch was cut).
    TooLong,
}

/// A policy error: what is wrong, the line (1-based; 0 when about the whole policy) and the
/// key or value it is about, as written (capped at 80 characters).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PolicyError {
    /// What is wrong.
    pub kind: PolicyErrorKind,
    /// The line number, 0 for the whole policy.
    pub line: usize,
    /// The offending key, value or line.
    pub text: String,
}

impl PolicyError {
    fn at(kind: PolicyErrorKind, line: usize, text: &str) -> Self {
        Self {
            kind,
            line,
            text: text.to_owned(),
        }
    }

    /// The error for a policy body cut at [`MAX_POLICY`].
    pub fn too_long() -> Self {
        Self::at(PolicyErrorKind::TooLong, 0, "")
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use PolicyErrorKind as K;
        let (n, t) = (self.line, &self.text);
        match self.kind {
            K::NotKeyValue => write!(f, "line {n}: {t:?} is not \"key: value\""),
            K::Duplicate => write!(f, "line {n}: {t} given twice"),
            K::BadVersion => write!(f, "line {n}: version {t:?} is not STSv1"),
            K::BadMode => write!(f, "line {n}: mode {t:?} is not enforce, testing or none"),
            K::BadMaxAge => write!(
                f,
                "line {n}: max_age {t:?} is not a number of seconds up to {MAX_AGE_LIMIT}"
            ),
            K::BadMx => write!(f, "line {n}: mx {t:?} is not a host name pattern"),
            K::NoVersion => f.write_str("no \"version: STSv1\" line"),
            K::NoMode => f.write_str("no \"mode:\" line"),
            K::NoMaxAge => f.write_str("no \"max_age:\" line"),
            K::NoMx => write!(f, "mode {t} but no \"mx:\" line"),
            K::TooLong => write!(f, "the policy is longer than {MAX_POLICY} bytes"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Parses a policy body; the error names the offending line.
pub fn parse(body: &str) -> Result<Policy, PolicyError> {
    use PolicyErrorKind as K;
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for (n, raw) in body.split('\n').enumerate() {
        let n = n + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            let show: String = line.chars().take(80).collect();
            return Err(PolicyError::at(K::NotKeyValue, n, &show));
        };
        let (k, v) = (k.trim(), v.trim());
        let twice = || PolicyError::at(K::Duplicate, n, k);
        match k {
            "version" => {
                if version.replace(v).is_some() {
                    return Err(twice());
                }
                if v != "STSv1" {
                    return Err(PolicyError::at(K::BadVersion, n, v));
                }
            }
            "mode" => {
                let m = match v {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    _ => return Err(PolicyError::at(K::BadMode, n, v)),
                };
                if mode.replace(m).is_some() {
                    return Err(twice());
                }
            }
            "max_age" => {
                let ok = v.len() <= 10 && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
                let age = v.parse::<u64>().ok().filter(|a| ok && *a <= MAX_AGE_LIMIT);
                let Some(age) = age else {
                    return Err(PolicyError::at(K::BadMaxAge, n, v));
                };
                if max_age.replace(age).is_some() {
                    return Err(twice());
                }
            }
            "mx" => {
                if !valid_pattern(v) {
                    return Err(PolicyError::at(K::BadMx, n, v));
                }
                if mx.len() < MAX_PATTERNS {
                    mx.push(v.trim_end_matches('.').to_ascii_lowercase());
                }
            }
            _ => {} // extensions are ignored (§3.2)
        }
    }
    if version.is_none() {
        return Err(PolicyError::at(K::NoVersion, 0, ""));
    }
    let Some(mode) = mode else {
        return Err(PolicyError::at(K::NoMode, 0, ""));
    };
    let Some(max_age) = max_age else {
        return Err(PolicyError::at(K::NoMaxAge, 0, ""));
    };
    if mx.is_empty() && mode != Mode::None {
        return Err(PolicyError::at(K::NoMx, 0, mode.as_str()));
    }
    Ok(Policy { mode, max_age, mx })
}

fn valid_pattern(p: &str) -> bool {
    let host = p.strip_prefix("*.").unwrap_or(p).trim_end_matches('.');
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether an MX host matches a policy pattern (§4.1): exactly, or `*.` standing for one
/// leftmost label. Case-insensitive, trailing dots ignored.
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_end_matches('.').to_ascii_lowercase();
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match p.strip_prefix("*.") {
        Some(suffix) => h
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
        None => p == h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n").unwrap();
        assert_eq!(ok.mode, Mode::Enforce);
        assert_eq!(ok.max_age, 604_800);
        assert_eq!(ok.mx, ["mail.example.com", "*.example.net"]);
        assert!(parse("version: STSv1\nmode: none\nmax_age: 86400\n").is_ok());
        assert!(parse("version: STSv1\nmode: testing\nmax_age: 1\nmx: a.b\nfuture: x\n").is_ok());
        use PolicyErrorKind as K;
        for (body, kind, line) in [
            ("mode: enforce\nmax_age: 86400\nmx: a.b", K::NoVersion, 0),
            (
                "version: STSv2\nmode: enforce\nmax_age: 86400\nmx: a.b",
                K::BadVersion,
                1,
            ),
            (
                "version: STSv1\nmode: strict\nmax_age: 86400\nmx: a.b",
                K::BadMode,
                2,
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: soon\nmx: a.b",
                K::BadMaxAge,
                3,
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 99999999999\nmx: a.b",
                K::BadMaxAge,
                3,
            ),
            ("version: STSv1\nmode: enforce\nmax_age: 86400", K::NoMx, 0),
            ("version: STSv1\nmode: enforce\nmx: a.b", K::NoMaxAge, 0),
            (
                "version: STSv1\nmode: enforce\nmode: none\nmax_age: 1\nmx: a.b",
                K::Duplicate,
                3,
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 1\nmx: bad host",
                K::BadMx,
                4,
            ),
            ("<html>not a policy</html>", K::NotKeyValue, 1),
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!((e.kind, e.line), (kind, line), "{body:?}: {e}");
        }
        let e = parse("version: STSv1\nmode: strict\nmax_age: 1\nmx: a.b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: mode \"strict\" is not enforce, testing or none"
        );
    }

    #[test]
    fn patterns() {
        for (p, h, want) in [
            ("mail.example.com", "mail.example.com", true),
            ("mail.example.com", "MAIL.example.com.", true),
            ("*.example.com", "mx1.example.com", true),
            ("*.example.com", "example.com", false),
            ("*.example.com", "a.b.example.com", false),
            ("mail.example.com", "mx.example.com", false),
            ("*.example.com", ".example.com", false),
        ] {
            assert_eq!(mx_matches(p, h), want, "{p} {h}");
        }
    }

    #[test]
    fn never_panics_on_arbitrary_text() {
        let mut x: u32 = 7;
        for _ in 0..2000 {
            let s: String = (0..(x % 97))
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    ['v', ':', '\n', '\r', ' ', 'm', 'x', '*', '.', 'é', '9', 'e']
                        [(x >> 16) as usize % 12]
                })
                .collect();
            let _ = parse(&s);
        }
    }
}
