//! The SMTP probe.
//!
//! Sends: `EHLO <name>` (or `HELO` when EHLO is refused), `STARTTLS` when offered, `EHLO`
//! again inside TLS, `VRFY postmaster`, `EXPN postmaster`, `QUIT`. Never `AUTH`, never `MAIL`.
//! Records: greeting, capabilities before and after TLS, the TLS session and certificate
//! chain, the VRFY/EXPN replies, the transcript.
//! Statuses: `success`; `connect-refused`/`connect-timeout` (nothing listening);
//! `io-timeout`/`deadline` (e.g. a tarpitting greeting); `rejected` (421/554 greeting);
//! `closed-early`; `protocol-mismatch` (not SMTP, or over the caps); `tls-failed` (port 465).

use super::{Probe, ProbeContext, ProbeFuture, ProbeKind, ProbeOutput};
use crate::net::{LineConn, NetError};
use mxray_core::model::{ProbeStatus, SmtpObservation, StartTls};
use mxray_core::smtp::{Capabilities, Reply, ReplyParser};
use std::net::SocketAddr;

/// Probes one SMTP port.
#[derive(Clone, Debug)]
pub struct SmtpProbe {
    /// Port to connect to.
    pub port: u16,
    /// TLS from the first byte (port 465, RFC 8314).
    pub implicit_tls: bool,
}

impl Probe for SmtpProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Smtp
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn run<'a>(
        &'a self,
        cx: &'a ProbeContext,
        _: &'a mxray_core::model::HostObservation,
    ) -> ProbeFuture<'a> {
        Box::pin(async move { ProbeOutput::Smtp(probe(cx, self.port, self.implicit_tls).await) })
    }
}

/// A dialogue failure: a transport error, or a reply that is not SMTP.
#[derive(Debug)]
pub(crate) enum Fail {
    Net(NetError),
    NotSmtp(String),
}

impl Fail {
    pub(crate) fn status(&self) -> ProbeStatus {
        match self {
            Self::Net(e) => e.status(),
            Self::NotSmtp(_) => ProbeStatus::ProtocolMismatch,
        }
    }
    pub(crate) fn detail(&self) -> String {
        match self {
            Self::Net(e) => e.to_string(),
            Self::NotSmtp(l) => format!("not an SMTP reply: {l:?}"),
        }
    }
}

impl From<NetError> for Fail {
    fn from(e: NetError) -> Self {
        Self::Net(e)
    }
}

/// Reads one complete reply.
pub(crate) async fn read_reply(conn: &mut LineConn) -> Result<Reply, Fail> {
    let mut p = ReplyParser::new();
    loop {
        let line = conn.read_line().await?;
        match p.push(&line) {
            Ok(Some(r)) => return Ok(r),
            Ok(None) => {}
            Err(e) => return Err(Fail::NotSmtp(e.line)),
        }
    }
}

/// Reads one reply of at most `max_lines` lines, for the own-server dialogues (relay canary,
/// list canary, SMTP AUTH logins) that report failures as a [`NetError`].
pub(crate) async fn reply_of_lines(
    conn: &mut LineConn,
    max_lines: usize,
) -> Result<Reply, NetError> {
    let mut p = ReplyParser::new();
    for _ in 0..max_lines {
        let line = conn.read_line().await?;
        match p.push(&line) {
            Ok(Some(r)) => return Ok(r),
            Ok(None) => {}
            Err(_) => return Err(NetError::Io(format!("not an SMTP reply: {line:?}"))),
        }
    }
    Err(NetError::Io("reply too long".into()))
}

/// Sends a command and reads its reply.
pub(crate) async fn command(conn: &mut LineConn, line: &str) -> Result<Reply, Fail> {
    conn.send(line).await?;
    read_reply(conn).await
}

/// Greeting and EHLO/HELO. Returns the greeting, the EHLO capabilities and whether HELO was
/// used. A 4xx/5xx greeting, or EHLO and HELO both refused, is `Rejected` with the reply.
pub(crate) async fn open_session(
    conn: &mut LineConn,
    ehlo_name: &str,
) -> Result<(Reply, Capabilities, bool), (Option<Reply>, Fail, Option<String>)> {
    let greeting = read_reply(conn).await.map_err(|f| (None, f, None))?;
    if greeting.code != 220 {
        let why = format!(
            "greeting refused: {}",
            greeting.to_wire_text().replace('\n', " / ")
        );
        let _ = command(conn, "QUIT").await;
        return Err((Some(greeting), Fail::Net(NetError::Closed), Some(why)));
    }
    let ehlo = command(conn, &format!("EHLO {ehlo_name}"))
        .await
        .map_err(|f| (Some(greeting.clone()), f, None))?;
    if ehlo.is_positive() {
        return Ok((greeting, Capabilities::from_ehlo(&ehlo), false));
    }
    if ehlo.code == 421 {
        let why = format!("EHLO answered {}", ehlo.to_wire_text().replace('\n', " / "));
        return Err((Some(greeting), Fail::Net(NetError::Closed), Some(why)));
    }
    let helo = command(conn, &format!("HELO {ehlo_name}"))
        .await
        .map_err(|f| (Some(greeting.clone()), f, None))?;
    if helo.is_positive() {
        let caps = Capabilities {
            server_name: helo
                .first_text()
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned(),
            extensions: vec![],
        };
        return Ok((greeting, caps, true));
    }
    let why = format!(
        "EHLO and HELO refused: {}",
        helo.to_wire_text().replace('\n', " / ")
    );
    let _ = command(conn, "QUIT").await;
    Err((Some(greeting), Fail::Net(NetError::Closed), Some(why)))
}

async fn probe(cx: &ProbeContext, port: u16, implicit_tls: bool) -> SmtpObservation {
    let mut obs = SmtpObservation {
        port,
        implicit_tls,
        status: ProbeStatus::Success,
        detail: None,
        greeting: None,
        helo_fallback: false,
        capabilities: None,
        starttls: StartTls::NotTried,
        tls: None,
        capabilities_tls: None,
        vrfy: None,
        expn: None,
        transcript: Vec::new(),
        elapsed_ms: 0,
    };
    let started = tokio::time::Instant::now();
    let addr = SocketAddr::new(cx.ip, port);
    let mut conn = match cx.open(port).await {
        Ok(c) => c,
        Err(e) => {
            (obs.status, obs.detail) = e.outcome();
            obs.transcript.push(super::connect_failed(addr, &e));
            obs.elapsed_ms = started.elapsed().as_millis() as u64;
            return obs;
        }
    };
    conn.note(format!("connected to {addr}"));
    let name = cx.names.first().map(String::as_str);
    if implicit_tls {
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
    if let Err(f) = dialogue(cx, &mut conn, &mut obs, name).await {
        obs.status = f.0;
        obs.detail = Some(f.1);
    }
    obs.transcript = conn.close().await;
    obs.elapsed_ms = started.elapsed().as_millis() as u64;
    obs
}

async fn dialogue(
    cx: &ProbeContext,
    conn: &mut LineConn,
    obs: &mut SmtpObservation,
    name: Option<&str>,
) -> Result<(), (ProbeStatus, String)> {
    let fail = |f: Fail| (f.status(), f.detail());
    let (greeting, caps, helo) = match open_session(conn, &cx.ehlo_name).await {
        Ok(v) => v,
        Err((greeting, f, why)) => {
            obs.greeting = greeting;
            return Err(match why {
                Some(w) => (ProbeStatus::Rejected, w),
                None => fail(f),
            });
        }
    };
    obs.greeting = Some(greeting);
    obs.helo_fallback = helo;
    let offers_starttls = caps.has("STARTTLS");
    obs.capabilities = Some(caps);
    if !obs.implicit_tls {
        obs.starttls = StartTls::NotOffered;
        if offers_starttls {
            let r = command(conn, "STARTTLS").await.map_err(fail)?;
            if r.code == 220 {
                match cx.tls.upgrade(conn, name).await {
                    Ok(info) => {
                        obs.tls = Some(info);
                        obs.starttls = StartTls::Established;
                        let again = command(conn, &format!("EHLO {}", cx.ehlo_name))
                            .await
                            .map_err(fail)?;
                        if again.is_positive() {
                            obs.capabilities_tls = Some(Capabilities::from_ehlo(&again));
                        }
                    }
                    Err(e) => {
                        obs.starttls = StartTls::HandshakeFailed(e.to_string());
                        // The connection is unusable after a failed handshake; the probe
                        // itself succeeded in learning that.
                        return Ok(());
                    }
                }
            } else {
                obs.starttls = StartTls::Refused(r.to_wire_text());
            }
        }
    }
    obs.vrfy = Some(command(conn, "VRFY postmaster").await.map_err(fail)?);
    obs.expn = Some(command(conn, "EXPN postmaster").await.map_err(fail)?);
    let _ = command(conn, "QUIT").await;
    Ok(())
}
