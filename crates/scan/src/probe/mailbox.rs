//! The POP3 and IMAP probe. Never sends credentials (no `USER`, `PASS`, `LOGIN`,
//! `AUTHENTICATE`).
//!
//! Sends: POP3 `CAPA`, `STLS` when offered, `CAPA` inside TLS, `QUIT`; IMAP `a1 CAPABILITY`,
//! `a2 STARTTLS` when offered, `a3 CAPABILITY` inside TLS, `a4 ID NIL` (RFC 2971) when the
//! last capability list read advertises `ID`, `a5 LOGOUT`.
//! Records: greeting, capabilities before and after TLS, the TLS session and certificate
//! chain, the parsed `* ID` response (bounded by `core::mailbox::imap_id`), the transcript.
//! Whether a password could travel in clear text is decided by a check from the
//! capabilities (`core::mailbox`). The ID step is optional evidence: when it fails (no
//! answer in time, an over-long line, a literal) the failure is noted in `imap_id.error` and
//! the transcript, the status stays what the earlier steps earned, and `LOGOUT` is skipped.
//! Statuses: `success`; `connect-refused`/`connect-timeout`; `io-timeout`/`deadline`;
//! `rejected` (`-ERR` / `* BYE` greeting); `closed-early`; `protocol-mismatch`; `tls-failed`
//! (implicit TLS ports).

use super::{Probe, ProbeContext, ProbeFuture, ProbeKind, ProbeOutput};
use crate::net::{LineConn, NetError};
use mxray_core::mailbox::{self, ImapLine};
use mxray_core::model::{ImapId, MailboxObservation, MailboxProtocol, ProbeStatus, StartTls};
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
    fn kind(&self) -> ProbeKind {
        ProbeKind::Mailbox
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn run<'a>(
        &'a self,
        cx: &'a ProbeContext,
        _: &'a mxray_core::model::HostObservation,
    ) -> ProbeFuture<'a> {
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
        imap_id: None,
        transcript: Vec::new(),
        elapsed_ms: 0,
    };
    let started = tokio::time::Instant::now();
    let addr = SocketAddr::new(cx.ip, p.port);
    let mut conn = match cx.open(p.port).await {
        Ok(c) => c,
        Err(e) => {
            (obs.status, obs.detail) = e.outcome();
            obs.transcript.push(super::connect_failed(addr, &e));
            obs.elapsed_ms = started.elapsed().as_millis() as u64;
            return obs;
        }
    };
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

/// Reads the greeting into `obs`; `accepts` tells whether it lets the client go on
/// (`None`: not this protocol).
async fn greeting(
    conn: &mut LineConn,
    obs: &mut MailboxObservation,
    accepts: fn(&str) -> Option<bool>,
) -> Result<(), Fail> {
    let greeting = conn.read_line().await.map_err(net_fail)?;
    obs.greeting = Some(greeting.clone());
    match accepts(&greeting) {
        Some(true) => Ok(()),
        Some(false) => Err((
            ProbeStatus::Rejected,
            format!("greeting refused: {greeting}"),
        )),
        None => Err(mismatch(&greeting)),
    }
}

async fn pop3(
    cx: &ProbeContext,
    conn: &mut LineConn,
    obs: &mut MailboxObservation,
    name: Option<&str>,
) -> Result<(), Fail> {
    greeting(conn, obs, mailbox::pop3_ok).await?;
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
    greeting(conn, obs, mailbox::imap_greeting_ok).await?;
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
    let last_caps = obs
        .capabilities_tls
        .as_deref()
        .or(obs.capabilities.as_deref())
        .unwrap_or_default();
    if last_caps.iter().any(|c| c.eq_ignore_ascii_case("ID")) {
        match imap_command(conn, "a4", "ID NIL").await {
            Ok((untagged, _, _)) => {
                obs.imap_id = untagged.iter().find_map(|u| mailbox::imap_id(u));
            }
            Err((_, detail)) => {
                conn.note(format!("ID not answered ({detail}); earlier results stand"));
                obs.imap_id = Some(ImapId {
                    error: Some(format!("no ID response: {detail}")),
                    ..ImapId::default()
                });
                return Ok(());
            }
        }
    }
    let _ = imap_command(conn, "a5", "LOGOUT").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Limits;
    use mxray_core::mailbox::{MAX_ID_FIELDS, MAX_ID_VALUE};
    use std::sync::{Arc, Mutex};

    fn cx(ip: std::net::IpAddr) -> ProbeContext {
        super::super::test_context(ip, "imap.example.test")
    }

    /// A scripted IMAP server on 127.0.0.1:0 for one connection: `caps` after CAPABILITY,
    /// `id` (raw bytes, sent as they are) after ID; records the commands it received.
    async fn imap_server(caps: &'static str, id: Vec<u8>) -> (u16, Arc<Mutex<Vec<String>>>) {
        let (addr, got) =
            super::super::scripted_server("* OK IMAP4rev1 test server ready", move |l| {
                let (tag, cmd) = l.split_once(' ').unwrap_or((l, ""));
                match cmd.to_ascii_uppercase().as_str() {
                    "CAPABILITY" => format!("* CAPABILITY {caps}\r\n{tag} OK done\r\n").into(),
                    "ID NIL" => {
                        let mut r = id.clone();
                        r.extend_from_slice(format!("{tag} OK ID done\r\n").as_bytes());
                        r
                    }
                    "LOGOUT" => format!("* BYE\r\n{tag} OK bye\r\n").into(),
                    _ => format!("{tag} BAD what\r\n").into(),
                }
            })
            .await;
        (addr.port(), got)
    }

    async fn run(port: u16) -> MailboxObservation {
        let p = MailboxProbe {
            protocol: MailboxProtocol::Imap,
            port,
            implicit_tls: false,
        };
        probe(&cx("127.0.0.1".parse().unwrap()), &p).await
    }

    #[tokio::test]
    async fn id_is_asked_when_advertised_and_parsed() {
        let (port, got) = imap_server(
            "IMAP4rev1 ID LITERAL+",
            b"* ID (\"name\" \"Dovecot\" \"version\" \"2.3.19.1\")\r\n".to_vec(),
        )
        .await;
        let obs = run(port).await;
        assert_eq!(obs.status, ProbeStatus::Success, "{obs:?}");
        let id = obs.imap_id.expect("an ID response");
        let pairs: Vec<(&str, Option<&str>)> = id
            .fields
            .iter()
            .map(|f| (f.key.as_str(), f.value.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [("name", Some("Dovecot")), ("version", Some("2.3.19.1"))]
        );
        assert_eq!(
            *got.lock().unwrap(),
            ["a1 CAPABILITY", "a4 ID NIL", "a5 LOGOUT"]
        );
    }

    #[tokio::test]
    async fn id_is_not_sent_unless_advertised() {
        let (port, got) =
            imap_server("IMAP4rev1 IDLE", b"* ID (\"name\" \"x\")\r\n".to_vec()).await;
        let obs = run(port).await;
        assert_eq!(obs.status, ProbeStatus::Success, "{obs:?}");
        assert_eq!(obs.imap_id, None);
        assert_eq!(*got.lock().unwrap(), ["a1 CAPABILITY", "a5 LOGOUT"]);
    }

    /// A hostile ID response under the line cap: many pairs, a huge value, control
    /// characters, a NUL. Kept bounded and verbatim; the dialogue goes on to LOGOUT.
    #[tokio::test]
    async fn hostile_id_response_stays_bounded() {
        let mut line = b"* ID (".to_vec();
        for i in 0..60 {
            line.extend_from_slice(format!("\"k{i}\" \"\x1b[2J\x07v{i}\" ").as_bytes());
        }
        line.extend_from_slice(b"\"big\" \"");
        line.extend_from_slice(&[b'A'; 1500]);
        line.extend_from_slice(b"\x00\")\r\n");
        assert!(line.len() < Limits::default().max_line, "{}", line.len());
        let (port, got) = imap_server("IMAP4rev1 ID", line).await;
        let obs = run(port).await;
        assert_eq!(obs.status, ProbeStatus::Success, "{obs:?}");
        let id = obs.imap_id.expect("an ID response");
        assert_eq!(id.fields.len(), MAX_ID_FIELDS);
        assert!(id.truncated, "{id:?}");
        assert_eq!(id.fields[0].key, "k0");
        assert_eq!(
            id.fields[0].value.as_deref(),
            Some("\x1b[2J\x07v0"),
            "verbatim"
        );
        assert!(
            id.fields
                .iter()
                .all(|f| f.value.as_deref().is_some_and(|v| v.len() <= MAX_ID_VALUE))
        );
        assert!(got.lock().unwrap().iter().any(|c| c == "a5 LOGOUT"));
    }

    /// An ID line far over the line cap (and a literal): the read stops at the cap, nothing
    /// of it is stored as pairs, the failure is said, and the earlier results stand.
    #[tokio::test]
    async fn oversized_or_literal_id_response_is_refused() {
        let mut huge = b"* ID (\"name\" \"".to_vec();
        huge.extend_from_slice(&vec![b'x'; 64 * 1024]);
        huge.extend_from_slice(b"\")\r\n");
        let (port, got) = imap_server("IMAP4rev1 ID", huge).await;
        let obs = run(port).await;
        assert_eq!(obs.status, ProbeStatus::Success, "{obs:?}");
        assert_eq!(
            obs.capabilities.as_deref(),
            Some(&["IMAP4rev1".to_owned(), "ID".to_owned()][..])
        );
        let id = obs.imap_id.expect("the failed ID step");
        assert!(id.fields.is_empty());
        let e = id.error.expect("an error");
        assert!(e.contains("line longer than 4096 bytes"), "{e}");
        assert!(
            obs.transcript.iter().all(|t| t.text.len() < 1024),
            "transcript lines stay cut"
        );
        assert!(!got.lock().unwrap().iter().any(|c| c.ends_with("LOGOUT")));

        let literal = b"* ID (\"name\" {7}\r\nDovecot \"version\" \"9\")\r\n".to_vec();
        let (port, _) = imap_server("IMAP4rev1 ID", literal).await;
        let obs = run(port).await;
        assert_eq!(obs.status, ProbeStatus::Success, "{obs:?}");
        let id = obs.imap_id.expect("the failed ID step");
        assert!(id.fields.is_empty(), "{id:?}");
        assert!(id.error.is_some(), "{id:?}");
    }
}
