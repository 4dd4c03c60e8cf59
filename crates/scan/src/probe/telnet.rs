//! The telnet probe (RFC 854). Never logs in: no user name, no password, no terminal type.
//!
//! Sends: only refusals of the server's option requests (`WONT` to each `DO`, `DONT` to each
//! `WILL`), which telnet servers wait for before printing their banner and login prompt.
//! Records: the negotiation the server opened, the text it printed (banner, prompt) with IAC
//! sequences removed, the transcript. Stops at a prompt (a last line ending in `:`, `>`, `#`,
//! `$` or `?`), when the server closes, after [`MAX_READS`] reads or [`MAX_TEXT`] bytes.
//! Statuses: `success` (negotiation or text seen); `connect-refused`/`connect-timeout`;
//! `io-timeout`/`deadline`/`closed-early` (nothing at all came); `protocol-mismatch` (never).

use super::ProbeContext;
use crate::net;
use mxray_core::model::{ProbeStatus, TelnetObservation};
use mxray_core::telnet;

/// Reads at most this many times (negotiation rounds plus text).
pub const MAX_READS: usize = 10;
/// Keeps at most this many bytes of text.
pub const MAX_TEXT: usize = 4096;

/// Reads a telnet server's banner and login prompt.
#[derive(Clone, Debug)]
pub struct TelnetProbe {
    /// Port (23 unless overridden).
    pub port: u16,
}

super::port_probe!(TelnetProbe, Telnet, probe);

fn at_prompt(text: &[u8]) -> bool {
    let Some(last) = text.rsplit(|&b| b == b'\n' || b == b'\r').next() else {
        return false;
    };
    let t = last.trim_ascii_end();
    !t.is_empty() && matches!(t.last(), Some(b':' | b'>' | b'#' | b'$' | b'?'))
}

async fn probe(cx: &ProbeContext, port: u16) -> TelnetObservation {
    let mut obs = TelnetObservation {
        port,
        status: ProbeStatus::Success,
        detail: None,
        negotiation: Vec::new(),
        banner: Vec::new(),
        transcript: Vec::new(),
    };
    let mut conn = match cx.open(port).await {
        Ok(c) => c,
        Err(e) => {
            (obs.status, obs.detail) = e.outcome();
            return obs;
        }
    };
    let mut pending = Vec::new();
    let mut text = Vec::new();
    let mut failure = None;
    for _ in 0..MAX_READS {
        let chunk = match conn.read_raw(4096).await {
            Ok(c) if c.is_empty() => {
                failure = Some(net::NetError::Closed);
                break;
            }
            Ok(c) => c,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        pending.extend_from_slice(&chunk);
        let split = telnet::split(&pending);
        pending = split.rest;
        for n in &split.negotiation {
            if obs.negotiation.len() < telnet::MAX_NEGOTIATION {
                obs.negotiation.push(n.render());
            }
        }
        if !split.negotiation.is_empty() {
            let rendered: Vec<String> = split.negotiation.iter().map(|n| n.render()).collect();
            conn.heard(format!("[telnet] {}", rendered.join(", ")));
        }
        let room = MAX_TEXT.saturating_sub(text.len());
        text.extend_from_slice(&split.text[..split.text.len().min(room)]);
        for line in telnet::lines(&split.text) {
            conn.heard(line);
        }
        let answer = telnet::refusals(&split.negotiation);
        if !answer.is_empty()
            && let Err(e) = conn.send_raw(&answer).await
        {
            failure = Some(e);
            break;
        }
        if at_prompt(&text) || text.len() >= MAX_TEXT {
            break;
        }
    }
    obs.banner = telnet::lines(&text);
    if obs.negotiation.is_empty() && obs.banner.is_empty() {
        (obs.status, obs.detail) = failure.unwrap_or(net::NetError::Closed).outcome();
    } else if let Some(e) = failure {
        // Banner read; the server then went quiet or hung up: still a telnet service.
        obs.detail = Some(format!("stopped reading: {e}"));
    }
    obs.transcript = conn.close().await;
    obs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts() {
        assert!(at_prompt(b"Debian\r\nlogin: "));
        assert!(at_prompt(b"Password:"));
        assert!(at_prompt(b"router>"));
        assert!(!at_prompt(b"Welcome\r\n"));
        assert!(!at_prompt(b""));
    }

    #[tokio::test]
    async fn refuses_options_and_reads_the_prompt() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(&[255, 253, 24, 255, 251, 1]).await.unwrap();
            let mut got = [0u8; 6];
            s.read_exact(&mut got).await.unwrap();
            s.write_all(b"lab\r\nlogin: ").await.unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
            (got, rest)
        });
        let cx = super::super::test_context("127.0.0.1".parse().unwrap(), "t");
        let obs = probe(&cx, port).await;
        let (got, rest) = server.await.unwrap();
        assert_eq!(got, [255, 252, 24, 255, 254, 1]);
        assert!(rest.is_empty(), "nothing typed at the prompt: {rest:?}");
        assert_eq!(obs.status, ProbeStatus::Success);
        assert_eq!(obs.negotiation, ["DO TERMINAL-TYPE", "WILL ECHO"]);
        assert_eq!(obs.banner, ["lab", "login:"]);
    }
}
