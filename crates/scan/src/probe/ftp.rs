//! The FTP probe: the greeting and whether anonymous login is offered. Never sends a
//! password (no `PASS`), never lists or transfers anything.
//!
//! Sends: `USER anonymous`; when a password is asked, `USER` with a random name as the
//! control (`core::ftp::judge` explains why); `QUIT`.
//! Records: the greeting, both replies, the verdict, the transcript.
//! Statuses: `success`; `connect-refused`/`connect-timeout`; `io-timeout`/`deadline`/
//! `closed-early`; `rejected` (a greeting other than 220, e.g. 421); `protocol-mismatch` (not
//! FTP replies).

use super::{ProbeContext, Stop};
use crate::net::LineConn;
use mxray_core::ftp::{self, Anonymous, FtpReply, FtpReplyParser};
use mxray_core::model::{FtpObservation, ProbeStatus};

/// Reads an FTP greeting and asks about anonymous login.
#[derive(Clone, Debug)]
pub struct FtpProbe {
    /// Port (21 unless overridden).
    pub port: u16,
}

super::port_probe!(FtpProbe, Ftp, probe);

async fn reply(conn: &mut LineConn) -> Result<FtpReply, Stop> {
    let mut p = FtpReplyParser::new();
    // Bounded: the parser keeps at most MAX_REPLY_LINES, the connection caps the bytes.
    for _ in 0..ftp::MAX_REPLY_LINES * 4 {
        let line = conn.read_line().await?;
        match p.push(&line) {
            Ok(Some(r)) => return Ok(r),
            Ok(None) => {}
            Err(e) => return Err(Stop::Mismatch(e.to_string())),
        }
    }
    Err(Stop::Mismatch("reply longer than the line cap".into()))
}

/// A user name no server has: `mxray` and 8 hex digits from the clock.
fn control_name() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
    format!("mxray{n:08x}")
}

async fn probe(cx: &ProbeContext, port: u16) -> FtpObservation {
    let mut obs = FtpObservation {
        port,
        status: ProbeStatus::Success,
        detail: None,
        greeting: None,
        anonymous_reply: None,
        control_reply: None,
        anonymous: Anonymous::NotAsked,
        transcript: Vec::new(),
    };
    let mut conn = match cx.open(port).await {
        Ok(c) => c,
        Err(e) => {
            (obs.status, obs.detail) = e.outcome();
            return obs;
        }
    };
    let result: Result<(), Stop> = async {
        let g = reply(&mut conn).await?;
        let greeted = g.code == 220;
        obs.greeting = Some(g);
        if !greeted {
            obs.status = ProbeStatus::Rejected;
            return Ok(());
        }
        conn.send("USER anonymous").await?;
        let a = reply(&mut conn).await?;
        let control = if matches!(a.code, 331 | 332) {
            conn.send(&format!("USER {}", control_name())).await?;
            Some(reply(&mut conn).await?)
        } else {
            None
        };
        obs.anonymous = ftp::judge(&a, control.as_ref());
        obs.anonymous_reply = Some(a);
        obs.control_reply = control;
        if conn.send("QUIT").await.is_ok() {
            let _ = reply(&mut conn).await;
        }
        Ok(())
    }
    .await;
    if let Err(stop) = result {
        (obs.status, obs.detail) = stop.outcome();
    }
    obs.transcript = conn.close().await;
    obs
}
