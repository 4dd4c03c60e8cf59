//! Logins for `mxray audit` (never used by a scan): one login per connection on SMTP
//! submission (`AUTH PLAIN`, RFC 4954), IMAP (`LOGIN`, RFC 9051) or POP3 (`USER`/`PASS`,
//! RFC 1939), timed from sending the credentials to the answer.
//!
//! Credentials travel through [`LineConn::send_raw`], which records only their length; the
//! transcript gets a note with the password withheld. The replies are classified by
//! `core::login`. Hand-written rather than through an IMAP/SMTP client crate for the same
//! reasons as the probes: every byte bounded and timed, the server's words kept as evidence,
//! and the login answer classified from its code, not from a client library's error text.

use crate::net::{self, Limits, LineConn, NetError, Policy};
use mxray_core::login::{self, Attempt, LoginReply, LoginService, WeakKind, WeakOutcome};
use mxray_core::mailbox::{ImapLine, imap_line};
use mxray_core::smtp::Capabilities;
use std::net::SocketAddr;
use tokio::time::Instant;

/// Lines read at most while waiting for one answer (untagged IMAP data, a long EHLO).
const MAX_LINES: usize = 100;

/// One login service of an audited server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginTarget {
    /// Where.
    pub addr: SocketAddr,
    /// Which protocol.
    pub service: LoginService,
}

/// What one login attempt got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginResult {
    /// The classified answer.
    pub reply: LoginReply,
    /// Milliseconds from sending the credentials to the answer (0 when never sent).
    pub ms: u64,
    /// The server's answer, or why there was none.
    pub text: String,
}

impl LoginResult {
    fn gone(e: &NetError, ms: u64) -> Self {
        Self {
            reply: LoginReply::Gone,
            ms,
            text: e.to_string(),
        }
    }
}

/// Quotes an IMAP string (RFC 9051 `quoted`); `None` when it cannot be quoted (CR, LF, NUL or
/// non-ASCII would need a literal, which this client does not send).
fn imap_quote(s: &str) -> Option<String> {
    if s.bytes()
        .any(|b| b == b'\r' || b == b'\n' || b == 0 || !b.is_ascii())
    {
        return None;
    }
    Some(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// Base64 (RFC 4648) of the SASL PLAIN message. Hand-written: twelve lines for one use, where
/// a crate would add a dependency to the scanner.
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn ms_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn smtp_reply(c: &mut LineConn) -> Result<mxray_core::smtp::Reply, NetError> {
    crate::probe::smtp::reply_of_lines(c, MAX_LINES).await
}

/// Tries one login. `user` and `password` never reach the transcript.
pub async fn try_login(
    policy: &Policy,
    limits: Limits,
    target: LoginTarget,
    ehlo: &str,
    user: &str,
    password: &str,
) -> LoginResult {
    let deadline = Instant::now() + limits.step_timeout * 4;
    let stream = match net::connect(policy, target.addr, &limits, deadline).await {
        Ok(s) => s,
        Err(e) => return LoginResult::gone(&e, 0),
    };
    let mut c = LineConn::new(Box::new(stream), limits, deadline);
    let out = match target.service {
        LoginService::Imap => imap(&mut c, user, password).await,
        LoginService::Pop3 => pop3(&mut c, user, password).await,
        LoginService::Submission => submission(&mut c, ehlo, user, password).await,
    };
    let _ = c.close().await;
    out
}

async fn imap(c: &mut LineConn, user: &str, password: &str) -> LoginResult {
    let other = |text: String| LoginResult {
        reply: LoginReply::Other,
        ms: 0,
        text,
    };
    match c.read_line().await {
        Ok(g) if mxray_core::mailbox::imap_greeting_ok(&g) == Some(true) => {}
        Ok(g) => return other(format!("greeting: {g}")),
        Err(e) => return LoginResult::gone(&e, 0),
    }
    let (Some(u), Some(p)) = (imap_quote(user), imap_quote(password)) else {
        return other("credentials cannot be sent as IMAP quoted strings".into());
    };
    c.note("a1 LOGIN <user> <password withheld>");
    let started = Instant::now();
    if let Err(e) = c.send_raw(format!("a1 LOGIN {u} {p}\r\n").as_bytes()).await {
        return LoginResult::gone(&e, ms_since(started));
    }
    for _ in 0..MAX_LINES {
        match c.read_line().await {
            Ok(line) => {
                if let ImapLine::Tagged(status, text) = imap_line(&line, "a1") {
                    let ms = ms_since(started);
                    let reply = login::imap_login(&status, text);
                    if reply == LoginReply::Accepted {
                        let _ = c.send("a2 LOGOUT").await;
                    }
                    return LoginResult {
                        reply,
                        ms,
                        text: line,
                    };
                }
                if line.to_ascii_uppercase().starts_with("* BYE") {
                    return LoginResult {
                        reply: LoginReply::Gone,
                        ms: ms_since(started),
                        text: line,
                    };
                }
            }
            Err(e) => return LoginResult::gone(&e, ms_since(started)),
        }
    }
    other("no tagged answer".into())
}

async fn pop3(c: &mut LineConn, user: &str, password: &str) -> LoginResult {
    let other = |text: String| LoginResult {
        reply: LoginReply::Other,
        ms: 0,
        text,
    };
    match c.read_line().await {
        Ok(g) if mxray_core::mailbox::pop3_ok(&g) == Some(true) => {}
        Ok(g) => return other(format!("greeting: {g}")),
        Err(e) => return LoginResult::gone(&e, 0),
    }
    if [user, password]
        .iter()
        .any(|s| s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0))
    {
        return other("credentials cannot be sent in a POP3 command".into());
    }
    c.note("USER <user>");
    let started = Instant::now();
    if let Err(e) = c.send_raw(format!("USER {user}\r\n").as_bytes()).await {
        return LoginResult::gone(&e, 0);
    }
    match c.read_line().await {
        Ok(l) if mxray_core::mailbox::pop3_ok(&l) == Some(true) => {}
        Ok(l) => {
            let reply = login::pop3_pass(&l);
            return LoginResult {
                reply,
                ms: ms_since(started),
                text: l,
            };
        }
        Err(e) => return LoginResult::gone(&e, ms_since(started)),
    }
    c.note("PASS <password withheld>");
    let started = Instant::now();
    if let Err(e) = c.send_raw(format!("PASS {password}\r\n").as_bytes()).await {
        return LoginResult::gone(&e, ms_since(started));
    }
    match c.read_line().await {
        Ok(l) => {
            let ms = ms_since(started);
            let reply = login::pop3_pass(&l);
            let _ = c.send("QUIT").await;
            LoginResult { reply, ms, text: l }
        }
        Err(e) => LoginResult::gone(&e, ms_since(started)),
    }
}

async fn submission(c: &mut LineConn, ehlo: &str, user: &str, password: &str) -> LoginResult {
    let other = |text: String| LoginResult {
        reply: LoginReply::Other,
        ms: 0,
        text,
    };
    match smtp_reply(c).await {
        Ok(r) if r.code == 220 => {}
        // 421 at connect: the server refuses this client (a limit reached earlier).
        Ok(r) if r.code == 421 || r.code == 554 => {
            return LoginResult {
                reply: LoginReply::Limited,
                ms: 0,
                text: r.to_wire_text(),
            };
        }
        Ok(r) => return other(format!("greeting: {}", r.to_wire_text())),
        Err(e) => return LoginResult::gone(&e, 0),
    }
    if let Err(e) = c.send(&format!("EHLO {ehlo}")).await {
        return LoginResult::gone(&e, 0);
    }
    let caps = match smtp_reply(c).await {
        Ok(r) if r.code == 250 => Capabilities::from_ehlo(&r),
        Ok(r) => return other(format!("EHLO: {}", r.to_wire_text())),
        Err(e) => return LoginResult::gone(&e, 0),
    };
    if !caps.auth_mechanisms().iter().any(|m| m == "PLAIN") {
        return other("AUTH PLAIN not offered (before TLS)".into());
    }
    let msg = format!("\0{user}\0{password}");
    c.note("AUTH PLAIN <credentials withheld>");
    let started = Instant::now();
    if let Err(e) = c
        .send_raw(format!("AUTH PLAIN {}\r\n", base64(msg.as_bytes())).as_bytes())
        .await
    {
        return LoginResult::gone(&e, ms_since(started));
    }
    match smtp_reply(c).await {
        Ok(r) => {
            let ms = ms_since(started);
            let _ = c.send("QUIT").await;
            LoginResult {
                reply: login::smtp_auth(r.code, r.first_text()),
                ms,
                text: r.to_wire_text(),
            }
        }
        Err(e) => LoginResult::gone(&e, ms_since(started)),
    }
}

/// A random wrong password (never a real one: 24 random hex digits).
fn wrong_password() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 12];
    // A failing system RNG leaves zeros: still a wrong password, and never logged.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    format!("mxray-{}", crate::tls::hex(&b))
}

/// Up to `max` failed logins for `user` with random wrong passwords, stopping at the first
/// sign of protection ([`login::should_stop`]).
pub async fn failed_logins(
    policy: &Policy,
    limits: Limits,
    target: LoginTarget,
    ehlo: &str,
    user: &str,
    max: u32,
) -> Vec<Attempt> {
    let mut out: Vec<Attempt> = Vec::new();
    for n in 1..=max {
        let r = try_login(policy, limits, target, ehlo, user, &wrong_password()).await;
        out.push(Attempt {
            n,
            ms: r.ms,
            reply: r.reply,
            text: r.text,
        });
        if login::should_stop(&out) {
            break;
        }
    }
    out
}

/// Tries `candidates` for `user` in order; stops at a success, or at the first sign of
/// throttling or lockout so that no real user is locked out.
pub async fn weak_passwords(
    policy: &Policy,
    limits: Limits,
    target: LoginTarget,
    ehlo: &str,
    user: &str,
    candidates: &[String],
) -> WeakOutcome {
    let mut seen: Vec<Attempt> = Vec::new();
    for (i, pw) in candidates.iter().enumerate() {
        let r = try_login(policy, limits, target, ehlo, user, pw).await;
        let tried = u32::try_from(i + 1).unwrap_or(u32::MAX);
        match r.reply {
            LoginReply::Accepted => {
                return WeakOutcome::Fell {
                    how: WeakKind::of(user, pw),
                };
            }
            LoginReply::Rejected => {}
            _ => return WeakOutcome::Stopped { tried },
        }
        seen.push(Attempt {
            n: tried,
            ms: r.ms,
            reply: r.reply,
            text: String::new(),
        });
        if login::should_stop(&seen) {
            return WeakOutcome::Stopped { tried };
        }
    }
    WeakOutcome::Resisted {
        tried: u32::try_from(candidates.len()).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn quotes_imap_strings() {
        assert_eq!(imap_quote(r#"a"b\c"#).unwrap(), r#""a\"b\\c""#);
        assert_eq!(imap_quote("a\r\nb"), None);
        assert!(wrong_password().starts_with("mxray-"));
        assert_ne!(wrong_password(), wrong_password());
    }
}
