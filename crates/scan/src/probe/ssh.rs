//! The SSH identification probe (RFC 4253 §4.2).
//!
//! Sends: nothing (reads the server's identification line and closes; no key exchange).
//! Records: the `SSH-` line and up to 5 lines before it.
//! Statuses: `success`; `connect-refused`/`connect-timeout`; `io-timeout`/`deadline`;
//! `closed-early`; `protocol-mismatch` (no `SSH-` line among the first lines, or over caps).

use super::{Probe, ProbeContext, ProbeFuture, ProbeKind, ProbeOutput};
use crate::net::{self, LineConn};
use mxray_core::model::{ProbeStatus, SshObservation};
use std::net::SocketAddr;

/// Reads the SSH identification string.
#[derive(Clone, Debug)]
pub struct SshProbe {
    /// Port (22 unless overridden).
    pub port: u16,
}

impl Probe for SshProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Ssh
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn run<'a>(
        &'a self,
        cx: &'a ProbeContext,
        _: &'a mxray_core::model::HostObservation,
    ) -> ProbeFuture<'a> {
        Box::pin(async move { ProbeOutput::Ssh(probe(cx, self.port).await) })
    }
}

async fn probe(cx: &ProbeContext, port: u16) -> SshObservation {
    let mut obs = SshObservation {
        port,
        status: ProbeStatus::Success,
        detail: None,
        identification: None,
        pre_banner: Vec::new(),
    };
    let addr = SocketAddr::new(cx.ip, port);
    let tcp = match net::connect(&cx.policy, addr, &cx.limits, cx.deadline).await {
        Ok(s) => s,
        Err(e) => {
            obs.status = e.status();
            obs.detail = Some(e.to_string());
            return obs;
        }
    };
    let mut conn = LineConn::new(Box::new(tcp), cx.limits, cx.deadline);
    for _ in 0..6 {
        match conn.read_line().await {
            Ok(l) if l.starts_with("SSH-") => {
                obs.identification = Some(l);
                break;
            }
            Ok(l) => obs.pre_banner.push(l),
            Err(e) => {
                obs.status = e.status();
                obs.detail = Some(e.to_string());
                break;
            }
        }
    }
    if obs.identification.is_none() && obs.status == ProbeStatus::Success {
        obs.status = ProbeStatus::ProtocolMismatch;
        obs.detail = Some("no SSH identification line".into());
    }
    let _ = conn.close().await;
    obs
}
