//! The SMB probe: which dialect the server negotiates, and whether it still speaks SMB1. No
//! session setup, no authentication, no share listing.
//!
//! Sends, on two connections one after the other (port 139 first opens a NetBIOS session
//! with the called name `*SMBSERVER`): an SMB2 NEGOTIATE offering 2.0.2 to 3.1.1, then an
//! SMB1 NEGOTIATE offering only `NT LM 0.12` (`core::smb`).
//! Records: the NetBIOS answer (139), the chosen dialect, whether signing is required, the
//! SMB1 answer, frames noted by length and meaning in the transcript.
//! Statuses: `success` (an SMB2 negotiate response, or SMB1 accepted); `connect-refused`/
//! `connect-timeout`; `io-timeout`/`deadline`/`closed-early`; `rejected` (NetBIOS session
//! refused, an SMB2 error status); `protocol-mismatch` (not SMB, frames over [`smb::MAX_FRAME`]).

use super::ProbeContext;
use crate::net::NetError;
use mxray_core::model::{ProbeStatus, SmbObservation};
use mxray_core::smb::{self, NetbiosAnswer, Smb1Answer};

/// Negotiates SMB on one port.
#[derive(Clone, Debug)]
pub struct SmbProbe {
    /// Port: 445 (direct) or 139 (NetBIOS session service).
    pub port: u16,
}

super::port_probe!(SmbProbe, Smb, probe);

/// Why one exchange stopped.
enum Stop {
    Net(NetError),
    Netbios(NetbiosAnswer),
    Smb(smb::SmbError),
    /// An SMB2 answer with an error status.
    Status(u32),
}

impl Stop {
    fn status(&self) -> ProbeStatus {
        match self {
            Self::Net(e) => e.status(),
            Self::Netbios(_) => ProbeStatus::Rejected,
            Self::Smb(_) => ProbeStatus::ProtocolMismatch,
            Self::Status(_) => ProbeStatus::Rejected,
        }
    }
    fn detail(&self) -> String {
        match self {
            Self::Net(e) => e.to_string(),
            Self::Netbios(a) => format!("NetBIOS session not accepted: {a:?}"),
            Self::Smb(e) => e.to_string(),
            Self::Status(s) => format!("SMB2 negotiate answered with NT status {s:#010x}"),
        }
    }
}

/// Connects (with the NetBIOS session on 139), sends `request`, returns the answer frame.
async fn exchange(
    cx: &ProbeContext,
    port: u16,
    request: &[u8],
    what: &str,
    netbios: &mut Option<NetbiosAnswer>,
    transcript: &mut Vec<mxray_core::model::TranscriptLine>,
) -> Result<Vec<u8>, Stop> {
    let mut conn = cx.open(port).await.map_err(Stop::Net)?;
    let result = async {
        if port == 139 {
            conn.note("NetBIOS session request (*SMBSERVER)");
            conn.send_raw(&smb::session_request())
                .await
                .map_err(Stop::Net)?;
            let mut head = conn.read_exact_raw(4).await.map_err(Stop::Net)?;
            if head[0] == 0x83 {
                head.extend(conn.read_exact_raw(1).await.map_err(Stop::Net)?);
            }
            let a = smb::parse_session_answer(&head).map_err(Stop::Smb)?;
            conn.heard(format!("[netbios] {a:?}"));
            *netbios = Some(a);
            if a != NetbiosAnswer::Accepted {
                return Err(Stop::Netbios(a));
            }
        }
        conn.note(what.to_owned());
        conn.send_raw(request).await.map_err(Stop::Net)?;
        let h = conn.read_exact_raw(4).await.map_err(Stop::Net)?;
        let len = smb::frame_len([h[0], h[1], h[2], h[3]]).map_err(Stop::Smb)?;
        if len > smb::MAX_FRAME {
            return Err(Stop::Net(NetError::SessionTooLong(smb::MAX_FRAME)));
        }
        let frame = conn.read_exact_raw(len).await.map_err(Stop::Net)?;
        conn.heard(format!("[smb] {len}-byte frame"));
        Ok(frame)
    }
    .await;
    transcript.extend(conn.close().await);
    result
}

async fn probe(cx: &ProbeContext, port: u16) -> SmbObservation {
    let mut obs = SmbObservation {
        port,
        status: ProbeStatus::Success,
        detail: None,
        netbios: None,
        dialect: None,
        signing_required: None,
        smb1: None,
        transcript: Vec::new(),
    };
    let mut t = Vec::new();
    let first = exchange(
        cx,
        port,
        &smb::smb2_negotiate(),
        "SMB2 NEGOTIATE (2.0.2 to 3.1.1)",
        &mut obs.netbios,
        &mut t,
    )
    .await;
    let smb2_stop = match first.map(|f| smb::parse_smb2_negotiate(&f)) {
        Ok(Ok(n)) if n.status == 0 => {
            obs.dialect = Some(smb::dialect_name(n.dialect));
            obs.signing_required = Some(n.signing_required);
            None
        }
        Ok(Ok(n)) => Some(Stop::Status(n.status)),
        Ok(Err(e)) => Some(Stop::Smb(e)),
        Err(e) => Some(e),
    };
    // Nothing listening, or a refused NetBIOS session: no second connection.
    let reached = match &smb2_stop {
        Some(Stop::Net(e)) => e.status().reached(),
        Some(Stop::Netbios(_)) => false,
        _ => true,
    };
    if reached {
        let second = exchange(
            cx,
            port,
            &smb::smb1_negotiate(),
            "SMB1 NEGOTIATE (NT LM 0.12 only)",
            &mut obs.netbios,
            &mut t,
        )
        .await;
        obs.smb1 = match second {
            Ok(f) => smb::parse_smb1_negotiate(&f).ok(),
            // A server without SMB1 may simply hang up on an SMB1 negotiate.
            Err(Stop::Net(NetError::Closed)) => Some(Smb1Answer::Closed),
            Err(_) => None,
        };
    }
    if let Some(stop) = smb2_stop {
        if obs.smb1 != Some(Smb1Answer::Accepted) {
            obs.status = stop.status();
            obs.detail = Some(stop.detail());
        } else {
            obs.detail = Some(format!("SMB2: {}", stop.detail()));
        }
    }
    obs.transcript = t;
    obs
}
