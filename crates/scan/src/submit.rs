//! One message sent over SMTP for the audit canaries (the relay canary's marked message, the
//! list canary's post and subscriber-list request): `EHLO`, `MAIL FROM`, `RCPT TO`, `DATA`,
//! the message, `QUIT`.
//!
//! A hand-written SMTP dialogue in the probes' style rather than `lettre` (the brief's crate
//! for alert mail): the evidence is the server's own replies at each step, every read is
//! capped and timed by [`LineConn`], and a refusal at RCPT must stop before DATA.

use crate::net::{self, Limits, LineConn, NetError, Policy};
use std::net::SocketAddr;
use tokio::time::Instant;

const MAX_LINES: usize = 200;

async fn reply(c: &mut LineConn) -> Result<mxray_core::smtp::Reply, NetError> {
    crate::probe::smtp::reply_of_lines(c, MAX_LINES).await
}

/// How one SMTP submission ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Accepted after the data (the reply).
    Accepted(String),
    /// Refused (the reply).
    Refused(String),
    /// Not completed.
    Failed(String),
}

/// Sends one message: envelope `from` → `rcpt`, `message` the full text (CRLF lines, no
/// final dot).
pub async fn submit(
    policy: &Policy,
    limits: Limits,
    server: SocketAddr,
    ehlo: &str,
    from: &str,
    rcpt: &str,
    message: &str,
) -> Sent {
    let deadline = Instant::now() + limits.step_timeout * 8;
    let stream = match net::connect(policy, server, &limits, deadline).await {
        Ok(s) => s,
        Err(e) => return Sent::Failed(e.to_string()),
    };
    let mut c = LineConn::new(Box::new(stream), limits, deadline);
    let out = async {
        let g = reply(&mut c)
            .await
            .map_err(|e| Sent::Failed(e.to_string()))?;
        if g.code != 220 {
            return Err(Sent::Refused(g.to_wire_text()));
        }
        for cmd in [
            format!("EHLO {ehlo}"),
            format!("MAIL FROM:<{from}>"),
            format!("RCPT TO:<{rcpt}>"),
            "DATA".to_owned(),
        ] {
            c.send(&cmd)
                .await
                .map_err(|e| Sent::Failed(e.to_string()))?;
            let r = reply(&mut c)
                .await
                .map_err(|e| Sent::Failed(e.to_string()))?;
            let ok = if cmd == "DATA" {
                r.code == 354
            } else {
                r.is_positive()
            };
            if !ok {
                return Err(Sent::Refused(r.to_wire_text()));
            }
        }
        let mut data = String::with_capacity(message.len() + 8);
        for line in message.split("\r\n") {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        c.send_raw(data.as_bytes())
            .await
            .map_err(|e| Sent::Failed(e.to_string()))?;
        let r = reply(&mut c)
            .await
            .map_err(|e| Sent::Failed(e.to_string()))?;
        if r.is_positive() {
            Ok(r.to_wire_text())
        } else {
            Err(Sent::Refused(r.to_wire_text()))
        }
    }
    .await;
    let _ = c.send("QUIT").await;
    let _ = c.close().await;
    match out {
        Ok(r) => Sent::Accepted(r),
        Err(s) => s,
    }
}
