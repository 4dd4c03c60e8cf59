//! Open-proxy tests without I/O: the HTTP CONNECT, SOCKS5 and SOCKS4 requests and the
//! meaning of the proxy's answer.
//!
//! Method (issue 16): the proxy is asked to connect to **the scanned host's own address**, on
//! the SMTP port the scanner already found greeting there; no third party is ever named. A
//! grant followed by an SMTP greeting read through the tunnel proves the proxy forwards for
//! anyone; nothing is sent through the tunnel. Limits: a proxy that forwards only to other
//! destinations, or that cannot reach its own public address (hairpin), answers with a 5xx or
//! a SOCKS failure code after trying — still an open proxy, shown as `forward-failed`; a
//! proxy that refuses its own address but forwards elsewhere looks closed here.
//!
//! Hand-written: the SOCKS and HTTP-proxy client crates connect to a destination and hand
//! back a stream; the probe needs the proxy's exact answer as evidence and must classify
//! every refusal.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// The proxy protocol asked.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyKind {
    /// HTTP `CONNECT host:port` (RFC 9110 §9.3.6).
    HttpConnect,
    /// SOCKS version 5 (RFC 1928), no authentication offered.
    Socks5,
    /// SOCKS version 4 (no authentication exists).
    Socks4,
}

impl ProxyKind {
    /// `http-connect`, `socks5`, `socks4`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpConnect => "http-connect",
            Self::Socks5 => "socks5",
            Self::Socks4 => "socks4",
        }
    }
}

/// What the proxy's answer means.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyVerdict {
    /// Not asked or no answer in this protocol (nothing listening, another protocol).
    #[default]
    NotProxy,
    /// No SMTP port greeted on the host, so there was nothing of its own to aim at: not asked.
    NoTarget,
    /// The proxy wants credentials (HTTP 407, SOCKS5 without an acceptable method).
    AuthRequired,
    /// The proxy refused the destination (HTTP 403/4xx, SOCKS "not allowed").
    Refused,
    /// The proxy granted the connection and the target's greeting came through: open, proven.
    Tunnelled,
    /// The proxy granted the connection but no greeting came through (unverified, still a
    /// grant to an arbitrary client).
    Granted,
    /// The proxy tried and could not reach the target (HTTP 5xx, SOCKS network errors): it
    /// forwards for anyone.
    ForwardFailed,
}

impl ProxyVerdict {
    /// Whether this answer shows a proxy forwarding for an arbitrary client.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Tunnelled | Self::Granted | Self::ForwardFailed)
    }
}

/// `host:port` as written in a CONNECT line (`[v6]:port` for IPv6).
pub fn authority(target: SocketAddr) -> String {
    target.to_string()
}

/// The HTTP CONNECT request head for `target`.
pub fn http_connect(target: SocketAddr) -> String {
    let a = authority(target);
    format!("CONNECT {a} HTTP/1.1\r\nHost: {a}\r\n\r\n")
}

/// What an HTTP CONNECT status code means (the status line parsed by `http::status_code`).
/// A 2xx is a grant (the tunnel is then read for the greeting).
pub fn http_verdict(code: u16) -> ProxyVerdict {
    match code {
        200..=299 => ProxyVerdict::Granted,
        407 => ProxyVerdict::AuthRequired,
        // 502 Bad Gateway, 503, 504 Gateway Timeout: the proxy tried to connect.
        502..=504 => ProxyVerdict::ForwardFailed,
        _ => ProxyVerdict::Refused,
    }
}

/// The SOCKS5 greeting: version 5, one method, "no authentication".
pub const SOCKS5_GREETING: [u8; 3] = [5, 1, 0];

/// Why a SOCKS answer is not one.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum SocksError {
    /// Wrong version byte: not this SOCKS version.
    #[error("not a SOCKS{0} answer")]
    NotSocks(u8),
    /// Shorter than the answer's fixed size.
    #[error("truncated SOCKS answer")]
    Truncated,
}

/// Parses the method selection (2 bytes): `Ok(true)` when "no authentication" was chosen,
/// `Ok(false)` for any other method or 0xFF (none acceptable).
pub fn socks5_method(data: &[u8]) -> Result<bool, SocksError> {
    match data {
        [5, m, ..] => Ok(*m == 0),
        [_, _, ..] => Err(SocksError::NotSocks(5)),
        _ => Err(SocksError::Truncated),
    }
}

/// The SOCKS5 CONNECT request for `target`.
pub fn socks5_connect(target: SocketAddr) -> Vec<u8> {
    let mut out = vec![5, 1, 0];
    match target.ip() {
        IpAddr::V4(a) => {
            out.push(1);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
    }
    out.extend_from_slice(&target.port().to_be_bytes());
    out
}

/// The length of a SOCKS5 reply from its first 5 bytes (the address type fixes the rest).
pub fn socks5_reply_len(head: &[u8]) -> Result<usize, SocksError> {
    if head.len() < 5 {
        return Err(SocksError::Truncated);
    }
    if head[0] != 5 {
        return Err(SocksError::NotSocks(5));
    }
    Ok(match head[3] {
        1 => 4 + 4 + 2,
        4 => 4 + 16 + 2,
        3 => 4 + 1 + head[4] as usize + 2,
        _ => 4 + 4 + 2,
    })
}

/// The reply code of a SOCKS5 reply (RFC 1928 §6) and what it means.
pub fn socks5_verdict(head: &[u8]) -> Result<(u8, ProxyVerdict), SocksError> {
    if head.len() < 2 {
        return Err(SocksError::Truncated);
    }
    if head[0] != 5 {
        return Err(SocksError::NotSocks(5));
    }
    let v = match head[1] {
        0 => ProxyVerdict::Granted,
        // Network unreachable, host unreachable, connection refused, TTL expired: it tried.
        3..=6 => ProxyVerdict::ForwardFailed,
        // General failure, not allowed by ruleset, unsupported command or address type.
        _ => ProxyVerdict::Refused,
    };
    Ok((head[1], v))
}

/// RFC 1928's name of a SOCKS5 reply code.
pub fn socks5_reply_name(code: u8) -> &'static str {
    match code {
        0 => "succeeded",
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned",
    }
}

/// The SOCKS4 CONNECT request for an IPv4 `target` (user id `mxray`); `None` for IPv6,
/// which SOCKS4 cannot name.
pub fn socks4_connect(target: SocketAddr) -> Option<Vec<u8>> {
    let IpAddr::V4(a) = target.ip() else {
        return None;
    };
    let mut out = vec![4, 1];
    out.extend_from_slice(&target.port().to_be_bytes());
    out.extend_from_slice(&a.octets());
    out.extend_from_slice(b"mxray\0");
    Some(out)
}

/// The SOCKS4 reply (8 bytes): its code and meaning. 0x5B is "rejected or failed": SOCKS4
/// cannot tell a refusal from a failed attempt, so it counts as refused.
pub fn socks4_verdict(data: &[u8]) -> Result<(u8, ProxyVerdict), SocksError> {
    if data.len() < 8 {
        return Err(SocksError::Truncated);
    }
    if data[0] != 0 {
        return Err(SocksError::NotSocks(4));
    }
    let v = match data[1] {
        0x5A => ProxyVerdict::Granted,
        0x5C | 0x5D => ProxyVerdict::AuthRequired,
        _ => ProxyVerdict::Refused,
    };
    Ok((data[1], v))
}

/// A grant is proven by the target's greeting coming through the tunnel: an SMTP 220 line.
pub fn is_smtp_greeting(line: &str) -> bool {
    line.starts_with("220 ") || line.starts_with("220-") || line == "220"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connect_names_only_the_target() {
        assert_eq!(
            http_connect(t("192.0.2.1:25")),
            "CONNECT 192.0.2.1:25 HTTP/1.1\r\nHost: 192.0.2.1:25\r\n\r\n"
        );
        assert!(http_connect(t("[2001:db8::1]:25")).starts_with("CONNECT [2001:db8::1]:25 "));
        assert_eq!(
            socks5_connect(t("192.0.2.1:2525")),
            [5, 1, 0, 1, 192, 0, 2, 1, 0x09, 0xdd]
        );
        assert_eq!(socks5_connect(t("[::1]:25")).len(), 4 + 16 + 2);
        assert_eq!(
            socks4_connect(t("192.0.2.1:25")).unwrap(),
            b"\x04\x01\x00\x19\xc0\x00\x02\x01mxray\x00"
        );
        assert!(socks4_connect(t("[::1]:25")).is_none());
    }

    #[test]
    fn http_codes() {
        for (code, v) in [
            (200, ProxyVerdict::Granted),
            (407, ProxyVerdict::AuthRequired),
            (403, ProxyVerdict::Refused),
            (400, ProxyVerdict::Refused),
            (502, ProxyVerdict::ForwardFailed),
            (504, ProxyVerdict::ForwardFailed),
            (500, ProxyVerdict::Refused),
        ] {
            assert_eq!(http_verdict(code), v, "{code}");
        }
    }

    #[test]
    fn socks_answers() {
        assert_eq!(socks5_method(&[5, 0]), Ok(true));
        assert_eq!(socks5_method(&[5, 0xff]), Ok(false));
        assert_eq!(socks5_method(&[5, 2]), Ok(false));
        assert_eq!(socks5_method(b"HT"), Err(SocksError::NotSocks(5)));
        assert_eq!(socks5_method(&[5]), Err(SocksError::Truncated));
        assert_eq!(socks5_reply_len(&[5, 0, 0, 1, 127]), Ok(10));
        assert_eq!(socks5_reply_len(&[5, 0, 0, 3, 7]), Ok(14));
        assert_eq!(socks5_reply_len(&[5, 0, 0, 4, 0]), Ok(22));
        assert_eq!(socks5_verdict(&[5, 0]), Ok((0, ProxyVerdict::Granted)));
        assert_eq!(socks5_verdict(&[5, 2]), Ok((2, ProxyVerdict::Refused)));
        assert_eq!(
            socks5_verdict(&[5, 5]),
            Ok((5, ProxyVerdict::ForwardFailed))
        );
        assert_eq!(socks5_verdict(&[4, 0]), Err(SocksError::NotSocks(5)));
        assert_eq!(
            socks4_verdict(&[0, 0x5a, 0, 0, 0, 0, 0, 0]),
            Ok((0x5a, ProxyVerdict::Granted))
        );
        assert_eq!(
            socks4_verdict(&[0, 0x5b, 0, 0, 0, 0, 0, 0]),
            Ok((0x5b, ProxyVerdict::Refused))
        );
        assert_eq!(socks4_verdict(&[0, 0x5a]), Err(SocksError::Truncated));
        assert!(ProxyVerdict::ForwardFailed.is_open() && !ProxyVerdict::AuthRequired.is_open());
    }

    #[test]
    fn greeting() {
        assert!(is_smtp_greeting("220 mx.example ESMTP"));
        assert!(is_smtp_greeting("220-mx.example"));
        assert!(!is_smtp_greeting("2200"));
        assert!(!is_smtp_greeting("HTTP/1.1 200 OK"));
    }
}
