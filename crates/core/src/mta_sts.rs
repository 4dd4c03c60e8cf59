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

/// A parsed policy.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Policy {
    /// `enforce`, `testing` or `none`.
    pub mode: String,
    /// Seconds a sender caches the policy.
    pub max_age: u64,
    /// `mx:` patterns, lowercase, verbatim otherwise.
    pub mx: Vec<String>,
}

/// Parses a policy body; the error names the offending line.
pub fn parse(body: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for (n, raw) in body.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() {
            continue;
        }
        let show: String = line.chars().take(80).collect();
        let Some((k, v)) = line.split_once(':') else {
            return Err(format!("line {}: {show:?} is not \"key: value\"", n + 1));
        };
        let (k, v) = (k.trim(), v.trim());
        let twice = || format!("line {}: {k} given twice", n + 1);
        match k {
            "version" => {
                if version.replace(v).is_some() {
                    return Err(twice());
                }
                if v != "STSv1" {
                    return Err(format!("line {}: version {v:?} is not STSv1", n + 1));
                }
            }
            "mode" => {
                if mode.replace(v).is_some() {
                    return Err(twice());
                }
                if !matches!(v, "enforce" | "testing" | "none") {
                    return Err(format!(
                        "line {}: mode {v:?} is not enforce, testing or none",
                        n + 1
                    ));
                }
            }
            "max_age" => {
                let ok = v.len() <= 10 && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
                let age = v.parse::<u64>().ok().filter(|a| ok && *a <= MAX_AGE_LIMIT);
                let Some(age) = age else {
                    return Err(format!(
                        "line {}: max_age {v:?} is not a number of seconds up to {MAX_AGE_LIMIT}",
                        n + 1
                    ));
                };
                if max_age.replace(age).is_some() {
                    return Err(twice());
                }
            }
            "mx" => {
                if !valid_pattern(v) {
                    return Err(format!(
                        "line {}: mx {v:?} is not a host name pattern",
                        n + 1
                    ));
                }
                if mx.len() < MAX_PATTERNS {
                    mx.push(v.trim_end_matches('.').to_ascii_lowercase());
                }
            }
            _ => {} // extensions are ignored (§3.2)
        }
    }
    if version.is_none() {
        return Err("no \"version: STSv1\" line".into());
    }
    let Some(mode) = mode else {
        return Err("no \"mode:\" line".into());
    };
    let Some(max_age) = max_age else {
        return Err("no \"max_age:\" line".into());
    };
    if mx.is_empty() && mode != "none" {
        return Err(format!("mode {mode} but no \"mx:\" line"));
    }
    Ok(Policy {
        mode: mode.to_owned(),
        max_age,
        mx,
    })
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
        assert_eq!(ok.mode, "enforce");
        assert_eq!(ok.max_age, 604_800);
        assert_eq!(ok.mx, ["mail.example.com", "*.example.net"]);
        assert!(parse("version: STSv1\nmode: none\nmax_age: 86400\n").is_ok());
        assert!(parse("version: STSv1\nmode: testing\nmax_age: 1\nmx: a.b\nfuture: x\n").is_ok());
        for (body, err) in [
            ("mode: enforce\nmax_age: 86400\nmx: a.b", "version"),
            (
                "version: STSv2\nmode: enforce\nmax_age: 86400\nmx: a.b",
                "STSv1",
            ),
            (
                "version: STSv1\nmode: strict\nmax_age: 86400\nmx: a.b",
                "line 2: mode",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: soon\nmx: a.b",
                "line 3: max_age",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 99999999999\nmx: a.b",
                "max_age",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 86400",
                "no \"mx:\"",
            ),
            ("version: STSv1\nmode: enforce\nmx: a.b", "max_age"),
            (
                "version: STSv1\nmode: enforce\nmode: none\nmax_age: 1\nmx: a.b",
                "twice",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 1\nmx: bad host",
                "line 4: mx",
            ),
            ("<html>not a policy</html>", "line 1"),
        ] {
            let e = parse(body).unwrap_err();
            assert!(e.contains(err), "{body:?}: {e}");
        }
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
