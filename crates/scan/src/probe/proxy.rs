//! The open-proxy probe: HTTP CONNECT, SOCKS5 and SOCKS4.
//!
//! Method (`core::proxy` explains it and its limits): the proxy is asked to connect to the
//! scanned host's **own address** on the SMTP port the SMTP probe found greeting there, so no
//! third party is ever contacted through it. A grant followed by a `220` line read through
//! the tunnel proves forwarding; nothing at all is sent through the tunnel.
//! Sends: `CONNECT ip:port HTTP/1.1` with a `Host` header; or the SOCKS5 greeting offering
//! only "no authentication" and a CONNECT request; or a SOCKS4 CONNECT (user id `mxray`,
//! tried when the port did not answer SOCKS5).
//! Records: the target, the proxy's answer (status line or SOCKS reply code), the first line
//! read through the tunnel, the verdict, the transcript.
//! Statuses: `success` (the port answered in the protocol asked, whatever it answered);
//! `connect-refused`/`connect-timeout`; `io-timeout`/`deadline`/`closed-early`;
//! `protocol-mismatch` (not this proxy protocol).

use super::{Probe, ProbeContext, ProbeFuture, ProbeKind, ProbeOutput, Stop};
use crate::net::{LineConn, NetError};
use mxray_core::model::{HostObservation, ProbeStatus, ProxyObservation};
use mxray_core::proxy::{self, ProxyKind, ProxyVerdict};
use std::net::SocketAddr;

/// Tests one port for one proxy protocol (SOCKS5 falls back to SOCKS4 by itself).
#[derive(Clone, Debug)]
pub struct ProxyProbe {
    /// The proxy port.
    pub port: u16,
    /// HTTP CONNECT or SOCKS (5, then 4).
    pub kind: ProxyKind,
    /// The host's plain SMTP ports, in order: the first that greeted with 220 (SMTP probe,
    /// earlier in the plan) is the only destination asked. None greeted: not run.
    pub smtp_ports: Vec<u16>,
}

impl ProxyProbe {
    fn target(&self, so_far: &HostObservation) -> Option<u16> {
        self.smtp_ports.iter().copied().find(|&port| {
            so_far
                .smtp
                .iter()
                .any(|o| o.port == port && o.greeting.as_ref().is_some_and(|g| g.code == 220))
        })
    }
}

impl Probe for ProxyProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Proxy
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn ready(&self, so_far: &HostObservation) -> bool {
        self.target(so_far).is_some()
    }
    fn run<'a>(&'a self, cx: &'a ProbeContext, so_far: &'a HostObservation) -> ProbeFuture<'a> {
        Box::pin(async move {
            // `ready` said a port greeted; were it not so, nothing is recorded.
            let Some(target_port) = self.target(so_far) else {
                return ProbeOutput::Proxy(Vec::new());
            };
            let mut out = vec![probe(cx, self.port, self.kind, target_port).await];
            let fallback = self.kind == ProxyKind::Socks5
                && matches!(
                    out[0].status,
                    ProbeStatus::ProtocolMismatch | ProbeStatus::ClosedEarly
                );
            if fallback {
                out.push(probe(cx, self.port, ProxyKind::Socks4, target_port).await);
            }
            ProbeOutput::Proxy(out)
        })
    }
}

async fn probe(
    cx: &ProbeContext,
    port: u16,
    kind: ProxyKind,
    target_port: u16,
) -> ProxyObservation {
    let target = SocketAddr::new(cx.ip, target_port);
    let mut obs = ProxyObservation {
        port,
        kind,
        status: ProbeStatus::Success,
        detail: None,
        target: Some(target.to_string()),
        verdict: ProxyVerdict::NotProxy,
        reply: None,
        tunnelled_greeting: None,
        transcript: Vec::new(),
    };
    let mut conn = match cx.open(port).await {
        Ok(c) => c,
        Err(e) => {
            (obs.status, obs.detail) = e.outcome();
            return obs;
        }
    };
    let result = match kind {
        ProxyKind::HttpConnect => http(&mut conn, target, &mut obs).await,
        ProxyKind::Socks5 => socks5(&mut conn, target, &mut obs).await,
        ProxyKind::Socks4 => socks4(&mut conn, target, &mut obs).await,
    };
    match result {
        Ok(()) if obs.verdict == ProxyVerdict::Granted => {
            // Read only the target's greeting through the tunnel; send nothing.
            match conn.read_line().await {
                Ok(line) => {
                    if proxy::is_smtp_greeting(&line) {
                        obs.verdict = ProxyVerdict::Tunnelled;
                    }
                    obs.tunnelled_greeting = Some(line);
                }
                Err(e) => obs.detail = Some(format!("nothing through the tunnel: {e}")),
            }
        }
        Ok(()) => {}
        Err(stop) => (obs.status, obs.detail) = stop.outcome(),
    }
    obs.transcript = conn.close().await;
    obs
}

async fn http(
    conn: &mut LineConn,
    target: SocketAddr,
    obs: &mut ProxyObservation,
) -> Result<(), Stop> {
    let a = proxy::authority(target);
    let (connect, host) = (format!("CONNECT {a} HTTP/1.1"), format!("Host: {a}"));
    // One write, and its failure tolerated: a proxy that refuses a client by address answers
    // 403 and closes without reading the request (tinyproxy), and its answer is still there
    // to read.
    let sent = conn.send_lines(&[&connect, &host, ""]).await;
    let status = match conn.read_line().await {
        Ok(l) => l,
        Err(e) => return Err(sent.err().unwrap_or(e).into()),
    };
    let Some(code) = mxray_core::http::status_code(&status) else {
        return Err(Stop::Mismatch(format!(
            "not an HTTP status line: {status:?}"
        )));
    };
    for _ in 0..mxray_core::http::MAX_HEADERS {
        if conn.read_line().await?.is_empty() {
            break;
        }
    }
    obs.reply = Some(status);
    obs.verdict = proxy::http_verdict(code);
    Ok(())
}

fn socks_mismatch(e: proxy::SocksError) -> Stop {
    match e {
        proxy::SocksError::Truncated => Stop::Net(NetError::Closed),
        e => Stop::Mismatch(e.to_string()),
    }
}

async fn socks5(
    conn: &mut LineConn,
    target: SocketAddr,
    obs: &mut ProxyObservation,
) -> Result<(), Stop> {
    conn.send_raw(&proxy::SOCKS5_GREETING).await?;
    let m = conn.read_exact_raw(2).await?;
    let no_auth = proxy::socks5_method(&m).map_err(socks_mismatch)?;
    conn.heard(format!("[socks5] method {:#04x}", m[1]));
    if !no_auth {
        obs.reply = Some(format!("method {:#04x}: authentication required", m[1]));
        obs.verdict = ProxyVerdict::AuthRequired;
        return Ok(());
    }
    conn.send_raw(&proxy::socks5_connect(target)).await?;
    let mut head = conn.read_exact_raw(5).await?;
    let len = proxy::socks5_reply_len(&head).map_err(socks_mismatch)?;
    head.extend(conn.read_exact_raw(len - 5).await?);
    let (code, verdict) = proxy::socks5_verdict(&head).map_err(socks_mismatch)?;
    let reply = format!("reply {code}: {}", proxy::socks5_reply_name(code));
    conn.heard(format!("[socks5] {reply}"));
    obs.reply = Some(reply);
    obs.verdict = verdict;
    Ok(())
}

async fn socks4(
    conn: &mut LineConn,
    target: SocketAddr,
    obs: &mut ProxyObservation,
) -> Result<(), Stop> {
    let Some(req) = proxy::socks4_connect(target) else {
        return Err(Stop::Mismatch("SOCKS4 cannot name an IPv6 address".into()));
    };
    conn.send_raw(&req).await?;
    let r = conn.read_exact_raw(8).await?;
    let (code, verdict) = proxy::socks4_verdict(&r).map_err(socks_mismatch)?;
    let reply = format!("reply {code:#04x}");
    conn.heard(format!("[socks4] {reply}"));
    obs.reply = Some(reply);
    obs.verdict = verdict;
    Ok(())
}
