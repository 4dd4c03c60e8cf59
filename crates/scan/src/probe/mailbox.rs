//! The POP3 and IMAP probe. Never sends credentials (no `USER`, `PASS`, `LOGIN`,
//! `AUTHENTICATE`).
//!
//! Sends: POP3 `CAPA`, `STLS` when offered, `CAPA` inside TLS, `QUIT`; IMAP `a1 CAPABILITY`,
//! `a2 STARTTLS` when offered, `a3 CAPABILITY` inside TLS, `a4 LOGOUT`.
//! Records: greeting, capabilities before and after TLS, the TLS session and certificate
//! chain, the transcript. Whether a password could travel in clear text is decided by a check
//! from the capabilities (`core::mailbox`).
//! Statuses: `success`; `connect-refused`/`connect-timeout`; `io-timeout`/`deadline`;
//! `rejected` (`-ERR` / `* BYE` greeting); `closed-early`; `protocol-mismatch`; `tls-failed`
//! (implicit TLS ports).

use super::{Probe, ProbeContext, ProbeFuture, ProbeOutput};
use crate::net::{self, LineConn, NetError};
use mxray_core::mailbox::{self, ImapLine};
use mxray_core::model::{
    Dir, MailboxObservation, MailboxProtocol, ProbeStatus, StartTls, TranscriptLine,
};
use std::net::SocketAddr;

/// Most lines accepted in one multi-line reply.
const MAX_REPLY_LINES: usize = 100;

/// Probes one POP3 or IMAP port.
#[derive(Clone, Debug)]
pub struct MailboxProbe {
    /// POP3 or IMAP.
    pub protocol: MailboxProtocol,
    /// Port to connect to.
    pub port: u16,
    /// TLS from the first byte (995, 993).
    pub implicit_tls: bool,
}

impl Probe for MailboxProbe {
    fn name(&self) -> &'static str {
        self.protocol.as_str()
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn run<'a>(&'a self, cx: &'a ProbeContext) -> ProbeFuture<'a> {
        Box::pin(async move { ProbeOutput::Mailbox(probe(cx, self).await) })
    }
}

type Fail = (ProbeStatus, String);

fn net_fail(e: NetError) -> Fail {
    (e.status(), e.to_string())
}

fn mismatch(line: &str) -> Fail {
    (
        ProbeStatus::ProtocolMismatch,
        format!("unexpected reply: {line:?}"),
    )
}

async fn probe(cx: &ProbeContext, p: &MailboxProbe) -> MailboxObservation {
    let mut obs = MailboxObservation {
        protocol: p.protocol,
        port: p.port,
        implicit_tls: p.implicit_tls,
        status: ProbeStatus::Success,
        detail: None,
        greeting: None,
        capabilities: None,
        starttls: StartTls::NotTried,
        tls: None,
        capabilities_tls: None,
        transcript: Vec::new(),
        elapsed_ms: 0,
    };
    let started = tokio::time::Instant::now();
    let addr = SocketAddr::new(cx.ip, p.port);
    let tcp = match net::connect(&cx.policy, addr, &cx.limits, cx.deadline).await {
        Ok(s) => s,
        Err(e) => {
            obs.status = e.status();
            obs.detail = Some(e.to_string());
            obs.transcript.push(TranscriptLine {
                ms: 0,
                dir: Dir::Note,
                text: format!("connect {addr}: {e}"),
            });
            obs.elapsed_ms = started.elapsed().as_millis() as u64;
            return obs;
        }
    };
    let mut conn = LineConn::new(Box::new(tcp), cx.limits, cx.deadline);
    conn.note(format!(
        "connected to {addr} ({}; never sends credentials)",
        p.protocol.as_str()
    ));
    let name = cx.names.first().map(String::as_str);
    if p.implicit_tls {
        match cx.tls.upgrade(&mut conn, name).await {
            Ok(info) => {
                obs.tls = Some(info);
                obs.starttls = StartTls::Established;
            }
            Err(e) => {
                obs.status = ProbeStatus::TlsFailed;
                obs.detail = Some(e.to_string());
                obs.transcript = conn.into_transcript();
                obs.elapsed_ms = started.elapsed().as_millis() as u64;
                return obs;
            }
        }
    }
    let r = match p.protocol {
        MailboxProtocol::Pop3 => pop3(cx, &mut conn, &mut obs, name).await,
        MailboxProtocol::Imap => imap(cx, &mut conn, &mut obs, name).await,
    };
    if let Err((status, detail)) = r {
        obs.status = status;
        obs.detail = Some(detail);
    }
    obs.transcript = conn.close().await;
    obs.elapsed_ms = started.elapsed().as_millis() as u64;
    obs
}

async fn upgrade(
    cx: &ProbeContext,
    conn: &mut LineConn,
    obs: &mut MailboxObservation,
    name: Option<&str>,
) -> Result<bool, Fail> {
    match cx.tls.upgrade(conn, name).await {
        Ok(info) => {
            obs.tls = Some(info);
            obs.starttls = StartTls::Established;
            Ok(true)
        }
        Err(e) => {
            obs.starttls = StartTls::HandshakeFailed(e.to_string());
            Ok(false)
        }
    }
}

/// `CAPA`: `+OK` then lines until `.`; `-ERR` gives an empty list.
async fn pop3_capa(conn: &mut LineConn) -> Result<Vec<String>, Fail> {
    conn.send("CAPA").await.map_err(net_fail)?;
    let first = conn.read_line().await.map_err(net_fail)?;
    match mailbox::pop3_ok(&first) {
        Some(true) => {}
        Some(false) => return Ok(Vec::new()),
        None => return Err(mismatch(&first)),
    }
    let mut caps = Vec::new();
    for _ in 0..MAX_REPLY_LINES {
        let l = conn.read_line().await.map_err(net_fail)?;
        if l == "." {
            return Ok(caps);
        }
        caps.push(l);
    }
    Err((
        ProbeStatus::ProtocolMismatch,
        format!("CAPA longer than {MAX_REPLY_LINES} lines"),
    ))
}

async fn pop3(
    cx: &ProbeContext,
    conn: &mut LineConn,
    obs: &mut MailboxObservation,
    name: Option<&str>,
) -> Result<(), Fail> {
    let greeting = conn.read_line().await.map_err(net_fail)?;
    obs.greeting = Some(greeting.clone());
    match mailbox::pop3_ok(&greeting) {
        Some(true) => {}
        Some(false) => {
            return Err((
                ProbeStatus::Rejected,
                format!("greeting refused: {greeting}"),
            ));
        }
        None => return Err(mismatch(&greeting)),
    }
    let caps = pop3_capa(conn).await?;
    let stls = mailbox::offers_tls(MailboxProtocol::Pop3, &caps);
    obs.capabilities = Some(caps);
    if !obs.implicit_tls {
        obs.starttls = StartTls::NotOffered;
        if stls {
            conn.send("STLS").await.map_err(net_fail)?;
            let r = conn.read_line().await.map_err(net_fail)?;
            if mailbox::pop3_ok(&r) == Some(true) {
                if !upgrade(cx, conn, obs, name).await? {
                    return Ok(());
                }
                obs.capabilities_tls = Some(pop3_capa(conn).await?);
            } else {
                obs.starttls = StartTls::Refused(r);
            }
        }
    }
    let _ = conn.send("QUIT").await;
    let _ = conn.read_line().await;
    Ok(())
}

/// Sends a tagged command; returns untagged lines and the tagged status.
async fn imap_command(
    conn: &mut LineConn,
    tag: &str,
    cmd: &str,
) -> Result<(Vec<String>, String, String), Fail> {
    conn.send(&format!("{tag} {cmd}")).await.map_err(net_fail)?;
    let mut untagged = Vec::new();
    for _ in 0..MAX_REPLY_LINES {
        let l = conn.read_line().await.map_err(net_fail)?;
        match mailbox::imap_line(&l, tag) {
            ImapLine::Untagged(u) => untagged.push(u.to_owned()),
            ImapLine::Tagged(status, text) => return Ok((untagged, status, text.to_owned())),
            ImapLine::Continuation | ImapLine::Other => return Err(mismatch(&l)),
        }
    }
    Err((
        ProbeStatus::ProtocolMismatch,
        format!("reply longer than {MAX_REPLY_LINES} lines"),
    ))
}

async fn imap_caps(conn: &mut LineConn, tag: &str) -> Result<Vec<String>, Fail> {
    let (untagged, status, text) = imap_command(conn, tag, "CAPABILITY").await?;
    let mut caps: Vec<String> = untagged
        .iter()
        .filter_map(|u| mailbox::imap_capabilities(u))
        .flatten()
        .collect();
    if caps.is_empty()
        && let Some(c) = mailbox::imap_capabilities(&text)
    {
        caps = c;
    }
    if status != "OK" && caps.is_empty() {
        return Ok(Vec::new());
    }
    Ok(caps)
}

async fn imap(
    cx: &ProbeContext,
    conn: &mut LineConn,
    obs: &mut MailboxObservation,
    name: Option<&str>,
) -> Result<(), Fail> {
    let greeting = conn.read_line().await.map_err(net_fail)?;
    obs.greeting = Some(greeting.clone());
    match mailbox::imap_greeting_ok(&greeting) {
        Some(true) => {}
        Some(false) => {
            return Err((
                ProbeStatus::Rejected,
                format!("greeting refused: {greeting}"),
            ));
        }
        None => return Err(mismatch(&greeting)),
    }
    let caps = imap_caps(conn, "a1").await?;
    let starttls = mailbox::offers_tls(MailboxProtocol::Imap, &caps);
    obs.capabilities = Some(caps);
    if !obs.implicit_tls {
        obs.starttls = StartTls::NotOffered;
        if starttls {
            let (_, status, text) = imap_command(conn, "a2", "STARTTLS").await?;
            if status == "OK" {
                if !upgrade(cx, conn, obs, name).await? {
                    return Ok(());
                }
                obs.capabilities_tls = Some(imap_caps(conn, "a3").await?);
            } else {
                obs.starttls = StartTls::Refused(format!("{status} {text}"));
            }
        }
    }
    let _ = imap_command(conn, "a4", "LOGOUT").await;
    Ok(())
}
