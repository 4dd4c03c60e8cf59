//! The TLS protocol-version and cipher-suite audit of one TLS-capable mail port.
//!
//! Runs after the service probes, on the ports where they found TLS (established, or a
//! handshake that failed, which is where a TLS 1.0-only server lands since rustls speaks only
//! TLS 1.2/1.3). One connection per offer, one after another: TLS 1.3 only, up to TLS 1.2, up
//! to TLS 1.1, up to TLS 1.0, then up to three offers of weak suites only (each time without
//! the class of weak suite accepted before), so at most [`MAX_CONNECTIONS`] per port.
//!
//! Sends: on STARTTLS ports the plaintext step first (SMTP greeting, `EHLO`, `STARTTLS`;
//! IMAP greeting, `a1 STARTTLS`; POP3 greeting, `STLS`), then one crafted ClientHello
//! (`core::tlsprobe`), reads the ServerHello or alert, and closes: no handshake is finished,
//! nothing else is sent. Never `AUTH`, `MAIL`, `LOGIN`, `USER`.
//! Records: each offer and its answer (version and suite picked, or the alert), the
//! transcript of every connection.
//! Statuses: `success` when every offer was answered (accepted or refused); otherwise the
//! status of the first offer that got no answer (`connect-refused`, `io-timeout`, `deadline`,
//! `rejected` for a refused STARTTLS), and the audit stops at the first connection failure.

use super::{Probe, ProbeContext, ProbeFuture, ProbeKind, ProbeOutput};
use crate::engine::ScanConfig;
use crate::net::{LineConn, NetError};
use mxray_core::mailbox::{self, ImapLine};
use mxray_core::model::{
    HostObservation, MailboxProtocol, ProbeStatus, StartTls, TlsAttempt, TlsAttemptResult,
    TlsAuditObservation, TlsAuditService, TranscriptLine,
};
use mxray_core::tlsprobe::{self, Answer, HelloRandom, Offer, Parsed, SuiteClass, TlsVersion};
use std::net::SocketAddr;

/// Offers of weak suites at most (each removes the class accepted before).
pub const MAX_WEAK_ROUNDS: usize = 3;
/// Connections per port at most: four version offers and the weak rounds.
pub const MAX_CONNECTIONS: usize = 4 + MAX_WEAK_ROUNDS;
/// Lines of an IMAP reply to `STARTTLS` read at most.
const MAX_REPLY_LINES: usize = 20;

/// Audits one port.
#[derive(Clone, Debug)]
pub struct TlsAuditProbe {
    /// The service on the port (what is spoken before `STARTTLS`).
    pub service: TlsAuditService,
    /// The port.
    pub port: u16,
    /// TLS from the first byte.
    pub implicit_tls: bool,
}

impl Probe for TlsAuditProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::TlsAudit
    }
    fn port(&self) -> u16 {
        self.port
    }
    /// Depends on the service probe of the same port: runs only where it found TLS.
    fn ready(&self, so_far: &HostObservation) -> bool {
        self.found_tls(so_far)
    }
    fn run<'a>(&'a self, cx: &'a ProbeContext, _: &'a HostObservation) -> ProbeFuture<'a> {
        Box::pin(async move { ProbeOutput::TlsAudit(audit(cx, self).await) })
    }
}

impl TlsAuditProbe {
    /// One audit per SMTP, POP3 and IMAP port the configuration probes (each waits for its
    /// port's result: [`Probe::ready`]).
    pub fn planned(cfg: &ScanConfig) -> Vec<Box<dyn Probe>> {
        let mut out: Vec<Box<dyn Probe>> = Vec::new();
        for p in &cfg.smtp_ports {
            out.push(Box::new(Self {
                service: TlsAuditService::Smtp,
                port: p.port,
                implicit_tls: p.implicit_tls,
            }));
        }
        for p in &cfg.mailbox_ports {
            out.push(Box::new(Self {
                service: match p.protocol {
                    MailboxProtocol::Imap => TlsAuditService::Imap,
                    MailboxProtocol::Pop3 => TlsAuditService::Pop3,
                },
                port: p.port,
                implicit_tls: p.implicit_tls,
            }));
        }
        out
    }

    /// Whether the service probe of this port found TLS: established, or a handshake tried
    /// that failed (after STARTTLS, or on an implicit-TLS port).
    pub fn found_tls(&self, obs: &HostObservation) -> bool {
        fn capable(implicit: bool, status: ProbeStatus, tls: bool, st: &StartTls) -> bool {
            tls || matches!(st, StartTls::HandshakeFailed(_))
                || (implicit && status == ProbeStatus::TlsFailed)
        }
        match self.service {
            TlsAuditService::Smtp => obs.smtp.iter().any(|s| {
                s.port == self.port
                    && s.implicit_tls == self.implicit_tls
                    && capable(s.implicit_tls, s.status, s.tls.is_some(), &s.starttls)
            }),
            TlsAuditService::Imap | TlsAuditService::Pop3 => obs.mailbox.iter().any(|m| {
                m.port == self.port
                    && m.implicit_tls == self.implicit_tls
                    && capable(m.implicit_tls, m.status, m.tls.is_some(), &m.starttls)
            }),
        }
    }
}

fn random() -> HelloRandom {
    use ring::rand::SecureRandom;
    let rng = ring::rand::SystemRandom::new();
    let mut r = HelloRandom {
        random: [0; 32],
        key_share: [0; 32],
    };
    // A failed fill leaves zeros: still a valid hello (nothing secret depends on it).
    let _ = rng.fill(&mut r.random);
    let _ = rng.fill(&mut r.key_share);
    r
}

async fn audit(cx: &ProbeContext, p: &TlsAuditProbe) -> TlsAuditObservation {
    let started = tokio::time::Instant::now();
    let mut obs = TlsAuditObservation {
        service: p.service,
        port: p.port,
        implicit_tls: p.implicit_tls,
        status: ProbeStatus::Success,
        detail: None,
        attempts: Vec::new(),
        transcript: Vec::new(),
        elapsed_ms: 0,
    };
    let name = cx.names.first().map(String::as_str);
    let mut go_on = true;
    for offer in [Offer::Tls13, Offer::Tls12, Offer::Tls11, Offer::Tls10] {
        let (result, t) = attempt(cx, p, offer, &offer.suites(), name).await;
        go_on = record(&mut obs, offer, result, t, cx.limits.max_transcript);
        if !go_on {
            break;
        }
    }
    let mut weak: Vec<u16> = Offer::Weak.suites();
    for _ in 0..MAX_WEAK_ROUNDS {
        if !go_on || weak.is_empty() {
            break;
        }
        let (result, t) = attempt(cx, p, Offer::Weak, &weak, name).await;
        let class = match &result {
            TlsAttemptResult::Accepted { class, .. } => Some(*class),
            _ => None,
        };
        go_on = record(&mut obs, Offer::Weak, result, t, cx.limits.max_transcript);
        match class {
            Some(c) if c != SuiteClass::Unknown => weak.retain(|s| tlsprobe::classify(*s) != c),
            _ => break,
        }
    }
    obs.elapsed_ms = started.elapsed().as_millis() as u64;
    obs
}

/// Adds an offer's result and transcript; false when the offer got no answer (the audit
/// stops: the status says why).
fn record(
    obs: &mut TlsAuditObservation,
    offer: Offer,
    result: TlsAttemptResult,
    transcript: Vec<TranscriptLine>,
    max_transcript: usize,
) -> bool {
    let room = max_transcript.saturating_sub(obs.transcript.len());
    obs.transcript.extend(transcript.into_iter().take(room));
    let failed = match &result {
        TlsAttemptResult::NoAnswer { status, detail } => Some((*status, detail.clone())),
        TlsAttemptResult::StartTlsFailed { detail } => {
            Some((ProbeStatus::Rejected, detail.clone()))
        }
        _ => None,
    };
    obs.attempts.push(TlsAttempt { offer, result });
    let Some((status, detail)) = failed else {
        return true;
    };
    if obs.status == ProbeStatus::Success {
        obs.status = status;
        obs.detail = Some(format!("offer {}: {detail}", offer.as_str()));
    }
    false
}

/// One connection: the plaintext step, one ClientHello, the answer.
async fn attempt(
    cx: &ProbeContext,
    p: &TlsAuditProbe,
    offer: Offer,
    suites: &[u16],
    name: Option<&str>,
) -> (TlsAttemptResult, Vec<TranscriptLine>) {
    let addr = SocketAddr::new(cx.ip, p.port);
    let no_answer = |e: &NetError| TlsAttemptResult::NoAnswer {
        status: e.status(),
        detail: e.to_string(),
    };
    let mut conn = match cx.open(p.port).await {
        Ok(c) => c,
        Err(e) => return (no_answer(&e), vec![super::connect_failed(addr, &e)]),
    };
    conn.note(format!(
        "connected to {addr} (TLS audit, offer {})",
        offer.as_str()
    ));
    if !p.implicit_tls {
        let step = match p.service {
            TlsAuditService::Smtp => smtp_starttls(cx, &mut conn).await,
            TlsAuditService::Imap => imap_starttls(&mut conn).await,
            TlsAuditService::Pop3 => pop3_stls(&mut conn).await,
        };
        if let Err(detail) = step {
            return (
                TlsAttemptResult::StartTlsFailed { detail },
                conn.close().await,
            );
        }
        // Bytes sent before our hello would be read as the server's answer (and could be an
        // injection attempt): refuse to go on.
        if conn.pending() > 0 {
            let detail = format!("{} bytes sent before the TLS handshake", conn.pending());
            return (
                TlsAttemptResult::StartTlsFailed { detail },
                conn.close().await,
            );
        }
    }
    let hello = tlsprobe::client_hello_with(offer, suites, name, &random());
    if let Err(e) = conn.send_raw(&hello).await {
        let r = match e {
            NetError::Closed => TlsAttemptResult::Closed,
            e => no_answer(&e),
        };
        return (r, conn.close().await);
    }
    let result = read_answer(&mut conn).await;
    conn.note(describe(&result));
    (result, conn.close().await)
}

async fn read_answer(conn: &mut LineConn) -> TlsAttemptResult {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match tlsprobe::parse_answer(&buf) {
            Parsed::Done(Answer::Alert { description, .. }) => {
                return TlsAttemptResult::Alert { description };
            }
            Parsed::Done(Answer::Hello(h)) => {
                return match TlsVersion::from_wire(h.version) {
                    Some(version) => TlsAttemptResult::Accepted {
                        version,
                        suite: h.suite,
                        suite_name: tlsprobe::suite_name(h.suite),
                        class: tlsprobe::classify(h.suite),
                    },
                    None => TlsAttemptResult::OddVersion { version: h.version },
                };
            }
            Parsed::Invalid(why) => return TlsAttemptResult::Malformed { why },
            Parsed::Incomplete(need) => {
                if buf.len() >= tlsprobe::MAX_RESPONSE {
                    return TlsAttemptResult::Malformed {
                        why: tlsprobe::Malformed::HelloTooLong,
                    };
                }
                match conn.read_raw(need.clamp(5, 16 * 1024)).await {
                    Ok(chunk) if chunk.is_empty() => {
                        return if buf.is_empty() {
                            TlsAttemptResult::Closed
                        } else {
                            TlsAttemptResult::Malformed {
                                why: tlsprobe::Malformed::Truncated,
                            }
                        };
                    }
                    Ok(chunk) => buf.extend_from_slice(&chunk),
                    Err(NetError::Closed) if buf.is_empty() => return TlsAttemptResult::Closed,
                    Err(e) => {
                        return TlsAttemptResult::NoAnswer {
                            status: e.status(),
                            detail: e.to_string(),
                        };
                    }
                }
            }
        }
    }
}

fn describe(r: &TlsAttemptResult) -> String {
    match r {
        TlsAttemptResult::Accepted {
            version,
            suite_name,
            ..
        } => format!("ServerHello: {} {suite_name}", version.as_str()),
        TlsAttemptResult::OddVersion { version } => {
            format!("ServerHello with version 0x{version:04x}")
        }
        TlsAttemptResult::Alert { description } => format!(
            "alert {description} ({})",
            tlsprobe::alert_name(*description)
        ),
        TlsAttemptResult::Closed => "closed without answering the ClientHello".into(),
        TlsAttemptResult::Malformed { why } => format!("not a TLS answer: {}", why.as_str()),
        TlsAttemptResult::StartTlsFailed { detail } => format!("STARTTLS failed: {detail}"),
        TlsAttemptResult::NoAnswer { detail, .. } => format!("no answer: {detail}"),
    }
}

async fn smtp_starttls(cx: &ProbeContext, conn: &mut LineConn) -> Result<(), String> {
    use super::smtp::{command, read_reply};
    let greeting = read_reply(conn).await.map_err(|f| f.detail())?;
    if greeting.code != 220 {
        return Err(format!("greeting {}", greeting.code));
    }
    let ehlo = command(conn, &format!("EHLO {}", cx.ehlo_name))
        .await
        .map_err(|f| f.detail())?;
    if !ehlo.is_positive() {
        return Err(format!("EHLO answered {}", ehlo.code));
    }
    let r = command(conn, "STARTTLS").await.map_err(|f| f.detail())?;
    if r.code != 220 {
        return Err(format!("STARTTLS answered {}", r.code));
    }
    Ok(())
}

async fn imap_starttls(conn: &mut LineConn) -> Result<(), String> {
    let greeting = conn.read_line().await.map_err(|e| e.to_string())?;
    if mailbox::imap_greeting_ok(&greeting) != Some(true) {
        return Err(format!("greeting {greeting:?}"));
    }
    conn.send("a1 STARTTLS").await.map_err(|e| e.to_string())?;
    for _ in 0..MAX_REPLY_LINES {
        let l = conn.read_line().await.map_err(|e| e.to_string())?;
        match mailbox::imap_line(&l, "a1") {
            ImapLine::Untagged(_) => {}
            ImapLine::Tagged(status, _) if status == "OK" => return Ok(()),
            _ => return Err(format!("STARTTLS answered {l:?}")),
        }
    }
    Err(format!(
        "STARTTLS reply longer than {MAX_REPLY_LINES} lines"
    ))
}

async fn pop3_stls(conn: &mut LineConn) -> Result<(), String> {
    let greeting = conn.read_line().await.map_err(|e| e.to_string())?;
    if mailbox::pop3_ok(&greeting) != Some(true) {
        return Err(format!("greeting {greeting:?}"));
    }
    conn.send("STLS").await.map_err(|e| e.to_string())?;
    let r = conn.read_line().await.map_err(|e| e.to_string())?;
    if mailbox::pop3_ok(&r) != Some(true) {
        return Err(format!("STLS answered {r:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Postfix's (OpenSSL 3.0) ServerHello for TLS 1.0 with TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
    /// captured on loopback (`.ci/tlsaudit.sh`, the weak listener).
    const TLS10_HELLO: &str = "16030100590200005503019a99c0ea324e4e8af2df8cb8f27f26eec0b4646147\
        98baf2444f574e4752440020b80b959cdb369e7bd10fc88b6b3616c7482ab786\
        d4cc0ef319aecba7c4c66c4fc01300000dff01000100000b0004030001021603";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// A TLS-1.0-only server with implicit TLS: answers a hello whose client_version is
    /// TLS 1.0 with the captured ServerHello, refuses others with alert 70 (or, with `silent`,
    /// by closing), refuses weak-only offers with alert 40. Records the client versions seen.
    async fn tls10_server(silent: bool) -> (u16, Arc<Mutex<Vec<u16>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut head = [0u8; 5];
                if s.read_exact(&mut head).await.is_err() {
                    continue;
                }
                let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
                let mut body = vec![0u8; len];
                if s.read_exact(&mut body).await.is_err() {
                    continue;
                }
                // handshake type (1), length (3), client_version (2), random (32), sid (1).
                let version = u16::from_be_bytes([body[4], body[5]]);
                let first_suite = u16::from_be_bytes([body[41], body[42]]);
                log.lock().unwrap().push(version);
                let weak = tlsprobe::classify(first_suite).is_weak();
                let reply = match (version, weak) {
                    (0x0301, false) => hex(TLS10_HELLO),
                    (_, true) => vec![21, 3, 1, 0, 2, 2, 40],
                    _ if silent => Vec::new(),
                    _ => vec![21, 3, 1, 0, 2, 2, 70],
                };
                let _ = s.write_all(&reply).await;
                let _ = s.shutdown().await;
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn a_tls10_only_server_is_audited() {
        for silent in [false, true] {
            let (port, seen) = tls10_server(silent).await;
            let cx = super::super::test_context("127.0.0.1".parse().unwrap(), "mx.example.test");
            let p = TlsAuditProbe {
                service: TlsAuditService::Smtp,
                port,
                implicit_tls: true,
            };
            let obs = audit(&cx, &p).await;
            assert_eq!(obs.status, ProbeStatus::Success, "{obs:?}");
            let offers: Vec<Offer> = obs.attempts.iter().map(|a| a.offer).collect();
            assert_eq!(
                offers,
                [
                    Offer::Tls13,
                    Offer::Tls12,
                    Offer::Tls11,
                    Offer::Tls10,
                    Offer::Weak
                ]
            );
            assert_eq!(
                *seen.lock().unwrap(),
                [0x0303, 0x0303, 0x0302, 0x0301, 0x0303]
            );
            let refused = if silent {
                TlsAttemptResult::Closed
            } else {
                TlsAttemptResult::Alert { description: 70 }
            };
            assert_eq!(obs.result(Offer::Tls13), Some(&refused));
            assert_eq!(obs.result(Offer::Tls11), Some(&refused));
            assert_eq!(
                obs.result(Offer::Tls10),
                Some(&TlsAttemptResult::Accepted {
                    version: TlsVersion::Tls10,
                    suite: 0xc013,
                    suite_name: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA".into(),
                    class: SuiteClass::Cbc,
                })
            );
            assert_eq!(
                obs.result(Offer::Weak),
                Some(&TlsAttemptResult::Alert { description: 40 })
            );
            assert_eq!(obs.accepted_versions(), [TlsVersion::Tls10]);
            assert!(
                obs.transcript
                    .iter()
                    .any(|t| t.text == "ServerHello: TLS 1.0 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
                "{:?}",
                obs.transcript
            );
        }
    }

    /// The audit of a port waits for that port's service record to show TLS.
    #[test]
    fn ready_only_where_the_service_found_tls() {
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let smtp = |port, implicit_tls, status, starttls| mxray_core::model::SmtpObservation {
            port,
            implicit_tls,
            status,
            detail: None,
            greeting: None,
            helo_fallback: false,
            capabilities: None,
            starttls,
            tls: None,
            capabilities_tls: None,
            vrfy: None,
            expn: None,
            transcript: Vec::new(),
            elapsed_ms: 0,
        };
        let audit = |port, implicit_tls| TlsAuditProbe {
            service: TlsAuditService::Smtp,
            port,
            implicit_tls,
        };
        let mut obs = super::super::empty_host(ip);
        assert!(!audit(25, false).ready(&obs), "no SMTP record");
        obs.smtp
            .push(smtp(25, false, ProbeStatus::Success, StartTls::NotOffered));
        obs.smtp
            .push(smtp(465, true, ProbeStatus::TlsFailed, StartTls::NotTried));
        obs.smtp.push(smtp(
            587,
            false,
            ProbeStatus::Success,
            StartTls::HandshakeFailed("protocol version".into()),
        ));
        assert!(!audit(25, false).ready(&obs), "no STARTTLS offered");
        assert!(audit(465, true).ready(&obs), "implicit TLS failed: audited");
        assert!(audit(587, false).ready(&obs), "handshake failed: audited");
        let imap = TlsAuditProbe {
            service: TlsAuditService::Imap,
            port: 587,
            implicit_tls: false,
        };
        assert!(!imap.ready(&obs), "another service's record");
    }

    /// A scripted IMAP or POP3 server with STARTTLS/STLS: greets, accepts the upgrade
    /// command, then answers every ClientHello with alert 70; records the command lines.
    async fn starttls_server(imap: bool) -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let log = got.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (greeting, ok): (&[u8], &[u8]) = if imap {
                    (b"* OK IMAP4rev1 ready\r\n", b"a1 OK Begin TLS\r\n")
                } else {
                    (b"+OK POP3 ready\r\n", b"+OK Begin TLS\r\n")
                };
                let _ = s.write_all(greeting).await;
                let mut line = Vec::new();
                let mut b = [0u8; 1];
                while s.read_exact(&mut b).await.is_ok() && b[0] != b'\n' {
                    line.push(b[0]);
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&line).trim_end().to_owned());
                let _ = s.write_all(ok).await;
                let mut head = [0u8; 5];
                if s.read_exact(&mut head).await.is_ok() && head[0] == 22 {
                    let _ = s.write_all(&[21, 3, 3, 0, 2, 2, 70]).await;
                }
                let _ = s.shutdown().await;
            }
        });
        (port, got)
    }

    #[tokio::test]
    async fn imap_and_pop3_upgrade_before_the_hello() {
        for (imap, service, command) in [
            (true, TlsAuditService::Imap, "a1 STARTTLS"),
            (false, TlsAuditService::Pop3, "STLS"),
        ] {
            let (port, got) = starttls_server(imap).await;
            let cx = super::super::test_context("127.0.0.1".parse().unwrap(), "mx.example.test");
            let p = TlsAuditProbe {
                service,
                port,
                implicit_tls: false,
            };
            let obs = audit(&cx, &p).await;
            assert_eq!(obs.status, ProbeStatus::Success, "{obs:?}");
            assert_eq!(obs.attempts.len(), 5, "{obs:?}");
            assert!(
                obs.attempts
                    .iter()
                    .all(|a| a.result == TlsAttemptResult::Alert { description: 70 }),
                "{obs:?}"
            );
            assert_eq!(*got.lock().unwrap(), vec![command.to_owned(); 5]);
            assert!(obs.accepted_versions().is_empty());
        }
    }

    /// Nothing listening: one attempt, its status, no more connections.
    #[tokio::test]
    async fn a_refused_connection_stops_the_audit() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let cx = super::super::test_context("127.0.0.1".parse().unwrap(), "mx.example.test");
        let p = TlsAuditProbe {
            service: TlsAuditService::Imap,
            port,
            implicit_tls: false,
        };
        let obs = audit(&cx, &p).await;
        assert_eq!(obs.status, ProbeStatus::ConnectRefused, "{obs:?}");
        assert_eq!(obs.attempts.len(), 1);
    }
}
