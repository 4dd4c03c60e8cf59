//! The open-relay battery (opt-out with `--no-relay-test`).
//!
//! Sends: `EHLO`, then for each form `MAIL FROM`, `RCPT TO`, `RSET` (as one pipelined group
//! when the server advertises PIPELINING, RFC 2920); when an outside recipient
//! is accepted, one control attempt with a recipient that cannot exist; `QUIT`.
//! Never `DATA`: nothing is ever relayed. Stops at the first accepted outside recipient, at
//! a 421, or on any transport error.

use super::smtp::{Fail, command, open_session, read_reply};
use super::{Probe, ProbeContext, ProbeFuture, ProbeKind, ProbeOutput};
use crate::net::LineConn;
use mxray_core::model::ProbeStatus;
use mxray_core::relay::{
    self, AttemptResult, FormKind, RelayAttempt, RelayForm, RelayObservation, RelayParams,
};
use mxray_core::smtp::greeting_name;
use std::net::{IpAddr, SocketAddr};

/// Runs the relay battery on one port.
#[derive(Clone, Debug)]
pub struct RelayProbe {
    /// Port (25 unless overridden).
    pub port: u16,
    /// Sender and recipient used.
    pub params: RelayParams,
}

impl Probe for RelayProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Relay
    }
    fn port(&self) -> u16 {
        self.port
    }
    /// Depends on the SMTP probe of the same port: runs only after a 220 greeting there.
    fn ready(&self, so_far: &mxray_core::model::HostObservation) -> bool {
        so_far.smtp.iter().any(|o| {
            o.port == self.port
                && !o.implicit_tls
                && o.greeting.as_ref().is_some_and(|g| g.code == 220)
        })
    }
    fn run<'a>(
        &'a self,
        cx: &'a ProbeContext,
        _: &'a mxray_core::model::HostObservation,
    ) -> ProbeFuture<'a> {
        Box::pin(async move { ProbeOutput::Relay(run(cx, self.port, &self.params).await) })
    }
}

/// Connections the battery may use on one server: some servers close a connection after a
/// number of commands, so the battery continues on a new one (at most this many in all).
const MAX_CONNECTIONS: usize = 3;

fn literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

async fn attempt(conn: &mut LineConn, form: &RelayForm) -> Result<RelayAttempt, Fail> {
    let mail = command(conn, &format!("MAIL FROM:{}", form.mail_from)).await?;
    let rcpt = if mail.is_positive() {
        Some(command(conn, &format!("RCPT TO:{}", form.rcpt_to)).await?)
    } else {
        None
    };
    let result = RelayAttempt::classify(Some(&mail), rcpt.as_ref());
    Ok(RelayAttempt {
        form: form.clone(),
        mail_reply: Some(mail),
        rcpt_reply: rcpt,
        result,
    })
}

async fn run(cx: &ProbeContext, port: u16, params: &RelayParams) -> RelayObservation {
    let mut obs = RelayObservation {
        port,
        status: ProbeStatus::Success,
        attempts: Vec::new(),
        control: None,
        verdict: relay::RelayVerdict::Inconclusive,
        reason: String::new(),
        transcript: Vec::new(),
    };
    let addr = SocketAddr::new(cx.ip, port);
    // Built from the first greeting; later connections continue where the last one ended.
    let mut forms: Option<(Vec<RelayForm>, String)> = None;
    let mut battery_done = false;
    for round in 0..MAX_CONNECTIONS {
        let mut conn = match cx.open(port).await {
            Ok(c) => c,
            Err(e) => {
                obs.status = e.status();
                break;
            }
        };
        conn.note(if round == 0 {
            format!("connected to {addr} (relay test: never sends DATA)")
        } else {
            format!(
                "connected to {addr} again: the server closed the last connection after {} attempts (a per-connection command limit); the battery continues",
                obs.attempts.len()
            )
        });
        let before = (obs.attempts.len(), obs.control.is_some());
        match open_session(&mut conn, &cx.ehlo_name).await {
            Ok((greeting, caps, _helo)) => {
                let (forms, relay_name) = forms.get_or_insert_with(|| {
                    let lit = literal(cx.ip);
                    let relay_name = greeting_name(&greeting).unwrap_or_else(|| lit.clone());
                    (relay::battery(params, &relay_name, &lit), relay_name)
                });
                let pipelining = caps.has("PIPELINING");
                obs.status = if battery_done {
                    ProbeStatus::Success
                } else {
                    let rest = &forms[obs.attempts.len().min(forms.len())..];
                    battery(&mut conn, rest, pipelining, &mut obs.attempts).await
                };
                battery_done |= obs.status == ProbeStatus::Success;
                if obs.status == ProbeStatus::Success && obs.control.is_none() {
                    let local = cx.local_domain.clone().unwrap_or(relay_name.clone());
                    let control = RelayForm {
                        name: "control".into(),
                        mail_from: format!("<{}>", params.sender),
                        rcpt_to: relay::control_recipient(&local),
                    };
                    match attempt(&mut conn, &control).await {
                        Ok(a) => {
                            obs.control = Some(a);
                            let _ = command(&mut conn, "RSET").await;
                        }
                        Err(f) => obs.status = f.status(),
                    }
                }
                if obs.status == ProbeStatus::Success {
                    let _ = command(&mut conn, "QUIT").await;
                }
            }
            Err((_, f, why)) => {
                obs.status = if why.is_some() {
                    ProbeStatus::Rejected
                } else {
                    f.status()
                };
            }
        }
        obs.transcript.extend(conn.close().await);
        // Again only when the server hung up on a connection that made progress, without a
        // 421 (which asks us to go away): a limit on commands per connection, as Exim's
        // smtp_accept_max_nonmail (10 by default) puts on the RSETs between attempts.
        let progressed = (obs.attempts.len(), obs.control.is_some()) != before;
        let said_421 = obs
            .attempts
            .iter()
            .flat_map(|a| [a.mail_reply.as_ref(), a.rcpt_reply.as_ref()])
            .flatten()
            .any(|r| r.code == 421);
        if obs.status != ProbeStatus::ClosedEarly || !progressed || said_421 {
            break;
        }
    }
    let (v, why) = relay::classify(obs.status, &obs.attempts, obs.control.as_ref());
    obs.verdict = v;
    obs.reason = why;
    obs
}

/// One attempt as a single pipelined group (RFC 2920): `MAIL`, `RCPT` and `RSET` sent
/// together, the three replies read in order. One round trip instead of three: faster for us
/// and fewer packets for the server. A refused `MAIL` makes the server refuse the `RCPT`
/// (503), which the classification already treats as a rejection of the attempt.
async fn attempt_pipelined(conn: &mut LineConn, form: &RelayForm) -> Result<RelayAttempt, Fail> {
    conn.send(&format!("MAIL FROM:{}", form.mail_from)).await?;
    conn.send(&format!("RCPT TO:{}", form.rcpt_to)).await?;
    conn.send("RSET").await?;
    let mail = read_reply(conn).await?;
    let rcpt = read_reply(conn).await?;
    let _rset = read_reply(conn).await?;
    let result = RelayAttempt::classify(Some(&mail), mail.is_positive().then_some(&rcpt));
    Ok(RelayAttempt {
        form: form.clone(),
        rcpt_reply: mail.is_positive().then_some(rcpt),
        mail_reply: Some(mail),
        result,
    })
}

async fn battery(
    conn: &mut LineConn,
    forms: &[RelayForm],
    pipelining: bool,
    out: &mut Vec<RelayAttempt>,
) -> ProbeStatus {
    for form in forms {
        let a = if pipelining {
            attempt_pipelined(conn, form).await
        } else {
            attempt(conn, form).await
        };
        let a = match a {
            Ok(a) => a,
            Err(f) => return f.status(),
        };
        let proven = a.result == AttemptResult::Accepted && a.form.kind() == FormKind::Outside;
        let closing = [a.mail_reply.as_ref(), a.rcpt_reply.as_ref()]
            .into_iter()
            .flatten()
            .any(|r| r.code == 421);
        out.push(a);
        if closing {
            return ProbeStatus::ClosedEarly;
        }
        if !pipelining && let Err(f) = command(conn, "RSET").await {
            return f.status();
        }
        if proven {
            break;
        }
    }
    ProbeStatus::Success
}
