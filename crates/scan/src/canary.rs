//! The relay confirmation of `mxray audit` (never used by a scan): one uniquely marked
//! message sent with DATA through a server in scope to the operator's canary mailbox, then
//! that mailbox watched over IMAP (`SEARCH HEADER`) for a bounded time.
//!
//! A hand-written SMTP dialogue in the probes' style rather than `lettre` (the brief's crate
//! for alert mail): the evidence is the server's own replies at each step, every read is
//! capped and timed by [`LineConn`], and a refusal at RCPT must stop before DATA.

use crate::net::{self, Limits, LineConn, NetError, Policy};
use mxray_core::checks::audit::RelayCanary;
use mxray_core::mailbox::{ImapLine, imap_line};
use mxray_core::smtp::Reply;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

const MAX_LINES: usize = 200;

/// A fresh marker: `mxray-canary-` and 24 random hex digits.
pub fn marker() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 12];
    // A failing system RNG leaves zeros: the marker is then merely not unique.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    format!("mxray-canary-{}", crate::tls::hex(&b))
}

async fn reply(c: &mut LineConn) -> Result<Reply, NetError> {
    crate::probe::smtp::reply_of_lines(c, MAX_LINES).await
}

/// Sends the marked message; `Ok(acceptance)` when the server took it after DATA.
pub async fn send(
    policy: &Policy,
    limits: Limits,
    relay: SocketAddr,
    ehlo: &str,
    canary: &str,
    marker: &str,
) -> Result<String, RelayCanary> {
    let failed = |e: NetError| RelayCanary::Failed { why: e.to_string() };
    let deadline = Instant::now() + limits.step_timeout * 8;
    let stream = net::connect(policy, relay, &limits, deadline)
        .await
        .map_err(failed)?;
    let mut c = LineConn::new(Box::new(stream), limits, deadline);
    let out = dialogue(&mut c, ehlo, canary, marker, relay).await;
    let _ = c.send("QUIT").await;
    let _ = c.close().await;
    out
}

async fn dialogue(
    c: &mut LineConn,
    ehlo: &str,
    canary: &str,
    marker: &str,
    relay: SocketAddr,
) -> Result<String, RelayCanary> {
    let failed = |e: NetError| RelayCanary::Failed { why: e.to_string() };
    let refused = |r: &Reply| RelayCanary::Refused {
        reply: r.to_wire_text(),
    };
    let g = reply(c).await.map_err(failed)?;
    if g.code != 220 {
        return Err(refused(&g));
    }
    for cmd in [
        format!("EHLO {ehlo}"),
        format!("MAIL FROM:<{canary}>"),
        format!("RCPT TO:<{canary}>"),
        "DATA".to_owned(),
    ] {
        c.send(&cmd).await.map_err(failed)?;
        let r = reply(c).await.map_err(failed)?;
        let ok = if cmd == "DATA" {
            r.code == 354
        } else {
            r.is_positive()
        };
        if !ok {
            return Err(refused(&r));
        }
    }
    let body = format!(
        "From: <{canary}>\r\nTo: <{canary}>\r\nSubject: mxray relay canary {marker}\r\n\
         Message-ID: <{marker}@mxray.invalid>\r\nX-Mxray-Canary: {marker}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This message was sent by mxray audit through {relay} to confirm whether that server\r\n\
         relays mail for outside recipients. It can be deleted.\r\n.\r\n"
    );
    c.send_raw(body.as_bytes()).await.map_err(failed)?;
    let r = reply(c).await.map_err(failed)?;
    if r.is_positive() {
        Ok(r.to_wire_text())
    } else {
        Err(refused(&r))
    }
}

/// Whether one IMAP session finds `marker` in INBOX (`Ok(false)`: not yet).
async fn look(
    policy: &Policy,
    limits: Limits,
    imap: SocketAddr,
    user: &str,
    password: &str,
    marker: &str,
) -> Result<bool, String> {
    let deadline = Instant::now() + limits.step_timeout * 4;
    let stream = net::connect(policy, imap, &limits, deadline)
        .await
        .map_err(|e| e.to_string())?;
    let mut c = LineConn::new(Box::new(stream), limits, deadline);
    let quote = |s: &str| -> Option<String> {
        (!s.bytes().any(|b| b < b' ' || !b.is_ascii()))
            .then(|| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
    };
    let (Some(u), Some(p)) = (quote(user), quote(password)) else {
        return Err("canary credentials cannot be sent as IMAP quoted strings".into());
    };
    let greeting = c.read_line().await.map_err(|e| e.to_string())?;
    if mxray_core::mailbox::imap_greeting_ok(&greeting) != Some(true) {
        return Err(format!("IMAP greeting: {greeting}"));
    }
    c.note("a1 LOGIN <user> <password withheld>");
    c.send_raw(format!("a1 LOGIN {u} {p}\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut found = false;
    for (tag, cmd) in [
        ("a1", None),
        ("a2", Some("a2 SELECT INBOX".to_owned())),
        (
            "a3",
            Some(format!("a3 SEARCH HEADER X-Mxray-Canary \"{marker}\"")),
        ),
    ] {
        if let Some(cmd) = cmd {
            c.send(&cmd).await.map_err(|e| e.to_string())?;
        }
        let mut done = false;
        for _ in 0..MAX_LINES {
            let line = c.read_line().await.map_err(|e| e.to_string())?;
            match imap_line(&line, tag) {
                ImapLine::Untagged(rest) if tag == "a3" => {
                    if let Some(ids) = rest.strip_prefix("SEARCH") {
                        found |= !ids.trim().is_empty();
                    }
                }
                ImapLine::Tagged(status, text) => {
                    if status != "OK" {
                        return Err(format!("canary mailbox: {tag} {status} {text}"));
                    }
                    done = true;
                    break;
                }
                _ => {}
            }
        }
        if !done {
            return Err("canary mailbox: no tagged answer".into());
        }
    }
    let _ = c.send("a4 LOGOUT").await;
    let _ = c.close().await;
    Ok(found)
}

/// Watches the canary mailbox for `marker` for up to `wait` (one look per second or so);
/// `Ok(Some(seconds))` when it arrived.
pub async fn watch(
    policy: &Policy,
    limits: Limits,
    imap: SocketAddr,
    user: &str,
    password: &str,
    marker: &str,
    wait: Duration,
) -> Result<Option<u64>, String> {
    let started = Instant::now();
    loop {
        if look(policy, limits, imap, user, password, marker).await? {
            return Ok(Some(started.elapsed().as_secs() + 1));
        }
        if started.elapsed() >= wait {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn markers_are_unique() {
        let (a, b) = (super::marker(), super::marker());
        assert!(a.starts_with("mxray-canary-") && a.len() == 37);
        assert_ne!(a, b);
    }
}
