//! The SSH identification probe (RFC 4253 §4.2).
//!
//! Sends: nothing (reads the server's identification line and closes; no key exchange).
//! Records: the `SSH-` line and up to 5 lines before it.
//! Statuses: `success`; `connect-refused`/`connect-timeout`; `io-timeout`/`deadline`;
//! `closed-early`; `protocol-mismatch` (no `SSH-` line among the first lines, or over caps).

use super::ProbeContext;
use mxray_core::model::{ProbeStatus, SshObservation};

/// Reads the SSH identification string.
#[derive(Clone, Debug)]
pub struct SshProbe {
    /// Port (22 unless overridden).
    pub port: u16,
}

super::port_probe!(SshProbe, Ssh, probe);

async fn probe(cx: &ProbeContext, port: u16) -> SshObservation {
    let mut obs = SshObservation {
        port,
        status: ProbeStatus::Success,
        detail: None,
        identification: None,
        pre_banner: Vec::new(),
    };
    let mut conn = match cx.open(port).await {
        Ok(c) => c,
        Err(e) => {
            (obs.status, obs.detail) = e.outcome();
            return obs;
        }
    };
    for _ in 0..6 {
        match conn.read_line().await {
            Ok(l) if l.starts_with("SSH-") => {
                obs.identification = Some(l);
                break;
            }
            Ok(l) => obs.pre_banner.push(l),
            Err(e) => {
                (obs.status, obs.detail) = e.outcome();
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
