//! Every byte mxray exchanges with a scanned server passes through here: the address policy,
//! connect timeouts, per-step timeouts, the per-host deadline, line and session byte caps, and
//! the transcript kept as evidence.

use mxray_core::addr::{self, AddressClass};
use mxray_core::model::{Dir, ProbeStatus, TranscriptLine};
use mxray_core::sanitize;
use mxray_core::target::Exclusions;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Anything a probe can talk over: TCP, TLS over TCP, or an in-memory pipe in tests.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Who may be contacted, and how fast.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Never contacted, never looked up.
    pub exclusions: Arc<Exclusions>,
    /// Address classes contacted besides public ones (the lab and tests allow loopback).
    pub allowed_classes: Vec<AddressClass>,
    /// Global connection rate and per-address interval, applied to every connect.
    pub pace: Arc<crate::pace::Pacer>,
}

impl Policy {
    /// Whether `ip` may be contacted; `Err` says why not.
    pub fn admit(&self, ip: IpAddr) -> Result<(), mxray_core::model::SkipReason> {
        use mxray_core::model::SkipReason;
        if self.exclusions.excludes_ip(ip) {
            return Err(SkipReason::Excluded);
        }
        let class = addr::classify(ip);
        if class == AddressClass::Public || self.allowed_classes.contains(&class) {
            Ok(())
        } else {
            Err(SkipReason::NotPublic)
        }
    }
}

/// Bounds for one conversation.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// TCP connect.
    pub connect_timeout: Duration,
    /// Each read or write step (a greeting, a reply).
    pub step_timeout: Duration,
    /// Longest line accepted (RFC 5321 allows 512 octets for reply lines; we allow more).
    pub max_line: usize,
    /// Total bytes read on one connection.
    pub max_session: usize,
    /// Transcript lines kept per connection.
    pub max_transcript: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            step_timeout: Duration::from_secs(30),
            max_line: 4096,
            max_session: 256 * 1024,
            max_transcript: 400,
        }
    }
}

/// Why a conversation stopped early.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum NetError {
    /// Connection refused (RST).
    #[error("connection refused")]
    Refused,
    /// Connect did not finish in time.
    #[error("connect timed out")]
    ConnectTimeout,
    /// A step did not finish in time.
    #[error("no answer within {0:?}")]
    StepTimeout(Duration),
    /// The per-host deadline passed.
    #[error("host deadline reached")]
    Deadline,
    /// The peer closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// A line longer than the cap.
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    /// More bytes than the session cap.
    #[error("server sent more than {0} bytes")]
    SessionTooLong(usize),
    /// The address policy refused it.
    #[error("address not allowed by policy")]
    Blocked,
    /// Other socket errors.
    #[error("I/O error: {0}")]
    Io(String),
    /// Bytes came back, but not in the protocol spoken (not an HTTP status line, a
    /// malformed DNS answer).
    #[error("protocol mismatch: {0}")]
    Protocol(String),
    /// TLS handshake failure.
    #[error("TLS: {0}")]
    Tls(String),
}

impl NetError {
    /// The probe status this error means. The only place errors are classified.
    pub fn status(&self) -> ProbeStatus {
        match self {
            Self::Refused => ProbeStatus::ConnectRefused,
            Self::ConnectTimeout => ProbeStatus::ConnectTimeout,
            Self::StepTimeout(_) => ProbeStatus::IoTimeout,
            Self::Deadline => ProbeStatus::Deadline,
            Self::Closed | Self::Io(_) => ProbeStatus::ClosedEarly,
            Self::LineTooLong(_) | Self::SessionTooLong(_) | Self::Protocol(_) => {
                ProbeStatus::ProtocolMismatch
            }
            Self::Blocked => ProbeStatus::InternalError,
            Self::Tls(_) => ProbeStatus::TlsFailed,
        }
    }

    /// The status and the detail an observation records for this error.
    pub fn outcome(&self) -> (ProbeStatus, Option<String>) {
        (self.status(), Some(self.to_string()))
    }

    fn from_io(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Self::Refused,
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => Self::Closed,
            _ => Self::Io(e.to_string()),
        }
    }
}

/// Opens a TCP connection, honouring the policy and the deadline.
pub async fn connect(
    policy: &Policy,
    addr: SocketAddr,
    limits: &Limits,
    deadline: Instant,
) -> Result<TcpStream, NetError> {
    if policy.admit(addr.ip()).is_err() {
        return Err(NetError::Blocked);
    }
    if !policy.pace.wait(addr.ip(), deadline).await {
        return Err(NetError::Deadline);
    }
    let by = (Instant::now() + limits.connect_timeout).min(deadline);
    let attempt = tokio::time::timeout_at(by, TcpStream::connect(addr)).await;
    // The SYN left during the attempt: the next connection's interval counts from here.
    policy.pace.started(addr.ip());
    match attempt {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(NetError::from_io(&e)),
        Err(_) if by == deadline => Err(NetError::Deadline),
        Err(_) => Err(NetError::ConnectTimeout),
    }
}

/// A line-oriented conversation with byte caps, timeouts and a transcript.
pub struct LineConn {
    io: Option<Box<dyn Io>>,
    buf: Vec<u8>,
    read_total: usize,
    limits: Limits,
    deadline: Instant,
    started: Instant,
    transcript: Transcript,
}

impl std::fmt::Debug for LineConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineConn")
            .field("read_total", &self.read_total)
            .finish_non_exhaustive()
    }
}

/// Longest transcript line stored (server text beyond this is cut, with a marker).
const TRANSCRIPT_LINE_CAP: usize = 512;

/// A conversation's transcript: at most `max` lines, each cut at [`TRANSCRIPT_LINE_CAP`],
/// the lines over `max` only counted (a last note says how many).
#[derive(Debug, Default)]
struct Transcript {
    lines: Vec<TranscriptLine>,
    dropped: usize,
}

impl Transcript {
    /// Records `text`, `started` being the conversation's start.
    fn record(&mut self, max: usize, started: Instant, dir: Dir, mut text: String) {
        if self.lines.len() >= max {
            self.dropped += 1;
            return;
        }
        if text.len() > TRANSCRIPT_LINE_CAP {
            let mut cut = TRANSCRIPT_LINE_CAP;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" …[cut]");
        }
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.lines.push(TranscriptLine { ms, dir, text });
    }

    /// The lines, and the note counting those not kept.
    fn finish(self) -> Vec<TranscriptLine> {
        let mut lines = self.lines;
        if self.dropped > 0 {
            lines.push(TranscriptLine {
                ms: 0,
                dir: Dir::Note,
                text: format!("{} more lines not kept", self.dropped),
            });
        }
        lines
    }
}

impl LineConn {
    /// Wraps a connected stream.
    pub fn new(io: Box<dyn Io>, limits: Limits, deadline: Instant) -> Self {
        Self {
            io: Some(io),
            buf: Vec::with_capacity(1024),
            read_total: 0,
            limits,
            deadline,
            started: Instant::now(),
            transcript: Transcript::default(),
        }
    }

    /// Records a note in the transcript.
    pub fn note(&mut self, text: impl Into<String>) {
        self.record(Dir::Note, text.into());
    }

    /// Records a line the server sent that was read raw (a binary or telnet protocol, decoded
    /// by the caller).
    pub fn heard(&mut self, text: impl Into<String>) {
        self.record(Dir::Server, text.into());
    }

    fn record(&mut self, dir: Dir, text: String) {
        self.transcript
            .record(self.limits.max_transcript, self.started, dir, text);
    }

    fn step_deadline(&self) -> (Instant, bool) {
        let step = Instant::now() + self.limits.step_timeout;
        if step >= self.deadline {
            (self.deadline, true)
        } else {
            (step, false)
        }
    }

    /// Sends one command line (CRLF appended) and records it.
    pub async fn send(&mut self, line: &str) -> Result<(), NetError> {
        self.send_lines(&[line]).await
    }

    /// Sends several lines (CRLF after each) in one write, recording each: a request head
    /// that must reach a server which may answer and close before reading it all.
    pub async fn send_lines(&mut self, lines: &[&str]) -> Result<(), NetError> {
        let mut data = Vec::new();
        for line in lines {
            self.record(Dir::Client, (*line).to_owned());
            data.extend_from_slice(line.as_bytes());
            data.extend_from_slice(b"\r\n");
        }
        self.write(&data).await
    }

    /// Sends raw bytes (a binary protocol such as DNS over TCP), noting their length.
    pub async fn send_raw(&mut self, data: &[u8]) -> Result<(), NetError> {
        self.note(format!("sent {} bytes", data.len()));
        self.write(data).await
    }

    /// Writes and flushes `data` within the step timeout and the deadline.
    async fn write(&mut self, data: &[u8]) -> Result<(), NetError> {
        let (by, is_deadline) = self.step_deadline();
        let io = self.io.as_mut().ok_or(NetError::Closed)?;
        let fut = async {
            io.write_all(data).await?;
            io.flush().await
        };
        match tokio::time::timeout_at(by, fut).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.fail(NetError::from_io(&e))),
            Err(_) => Err(self.fail(if is_deadline {
                NetError::Deadline
            } else {
                NetError::StepTimeout(self.limits.step_timeout)
            })),
        }
    }

    /// Reads exactly `n` bytes (bounded like [`Self::read_raw`]); `Closed` if the stream ends.
    pub async fn read_exact_raw(&mut self, n: usize) -> Result<Vec<u8>, NetError> {
        let mut out = Vec::with_capacity(n.min(64 * 1024));
        while out.len() < n {
            let chunk = self.read_raw(n - out.len()).await?;
            if chunk.is_empty() {
                return Err(NetError::Closed);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    fn fail(&mut self, e: NetError) -> NetError {
        self.note(e.to_string());
        e
    }

    /// Reads one line (without CR LF). Bounded by the line cap, the session cap, the step
    /// timeout and the deadline.
    pub async fn read_line(&mut self) -> Result<String, NetError> {
        let (by, is_deadline) = self.step_deadline();
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let text = sanitize::lossy(&line);
                self.record(Dir::Server, text.clone());
                return Ok(text);
            }
            if self.buf.len() > self.limits.max_line {
                let head = sanitize::lossy(&self.buf[..self.buf.len().min(200)]);
                self.record(Dir::Server, head);
                return Err(self.fail(NetError::LineTooLong(self.limits.max_line)));
            }
            if self.read_total >= self.limits.max_session {
                return Err(self.fail(NetError::SessionTooLong(self.limits.max_session)));
            }
            let room = (self.limits.max_session - self.read_total).min(4096);
            let mut chunk = [0u8; 4096];
            let io = self.io.as_mut().ok_or(NetError::Closed)?;
            match tokio::time::timeout_at(by, io.read(&mut chunk[..room])).await {
                Ok(Ok(0)) => {
                    if !self.buf.is_empty() {
                        let rest = sanitize::lossy(&std::mem::take(&mut self.buf));
                        self.record(Dir::Server, rest);
                    }
                    return Err(self.fail(NetError::Closed));
                }
                Ok(Ok(n)) => {
                    self.read_total += n;
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Ok(Err(e)) => return Err(self.fail(NetError::from_io(&e))),
                Err(_) => {
                    let e = if is_deadline {
                        NetError::Deadline
                    } else {
                        NetError::StepTimeout(self.limits.step_timeout)
                    };
                    return Err(self.fail(e));
                }
            }
        }
    }

    /// Reads raw bytes (an HTTP body): whatever is buffered, else one read of at most
    /// `max` bytes. `Ok(empty)` at end of stream. Bounded by the session cap, the step
    /// timeout and the deadline; not recorded in the transcript.
    pub async fn read_raw(&mut self, max: usize) -> Result<Vec<u8>, NetError> {
        if !self.buf.is_empty() {
            let n = self.buf.len().min(max);
            return Ok(self.buf.drain(..n).collect());
        }
        if self.read_total >= self.limits.max_session {
            return Err(self.fail(NetError::SessionTooLong(self.limits.max_session)));
        }
        let (by, is_deadline) = self.step_deadline();
        let room = (self.limits.max_session - self.read_total)
            .min(max)
            .min(16 * 1024);
        let mut chunk = vec![0u8; room];
        let io = self.io.as_mut().ok_or(NetError::Closed)?;
        match tokio::time::timeout_at(by, io.read(&mut chunk)).await {
            Ok(Ok(n)) => {
                self.read_total += n;
                chunk.truncate(n);
                Ok(chunk)
            }
            Ok(Err(e)) => Err(self.fail(NetError::from_io(&e))),
            Err(_) => Err(self.fail(if is_deadline {
                NetError::Deadline
            } else {
                NetError::StepTimeout(self.limits.step_timeout)
            })),
        }
    }

    /// Bytes received but not yet consumed. Must be empty before a TLS upgrade: anything
    /// there was sent before the handshake and could be injected (CVE-2011-0411 class).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Takes the stream out for a TLS upgrade, discarding unread plaintext.
    pub fn take_io(&mut self) -> Option<Box<dyn Io>> {
        if !self.buf.is_empty() {
            let n = self.buf.len();
            self.buf.clear();
            self.note(format!(
                "discarded {n} bytes received before the TLS handshake"
            ));
        }
        self.io.take()
    }

    /// Puts a (TLS) stream back.
    pub fn put_io(&mut self, io: Box<dyn Io>) {
        self.io = Some(io);
    }

    /// The host deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Total bytes read.
    pub fn bytes_read(&self) -> usize {
        self.read_total
    }

    /// Ends the conversation politely if possible and returns the transcript: closes our
    /// side, then waits (at most a second, within the host deadline; 4 KiB read and dropped)
    /// for the server to close its side. So the next connection to this address starts only
    /// after the server has seen this one end: one connection per address at a time holds
    /// as the server counts, not only as we do (a server that counts a connection until it
    /// reads the close would otherwise see two for a moment).
    pub async fn close(mut self) -> Vec<TranscriptLine> {
        if let Some(mut io) = self.io.take() {
            let until = (Instant::now() + Duration::from_secs(1)).min(self.deadline);
            let _ = tokio::time::timeout_at(until, async {
                let _ = io.shutdown().await;
                let mut sink = [0u8; 512];
                let mut drained = 0;
                while drained < 4096 {
                    match io.read(&mut sink).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => drained += n,
                    }
                }
            })
            .await;
        }
        self.into_transcript()
    }

    /// The transcript so far.
    pub fn into_transcript(self) -> Vec<TranscriptLine> {
        self.transcript.finish()
    }

    /// Milliseconds since the conversation started.
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Largest datagram read (a DNS answer over UDP without EDNS is at most 512 bytes; EDNS
/// answers to our questions stay well under this).
pub const MAX_DATAGRAM: usize = 4096;
/// Datagrams looked at per exchange at most: a flood of junk cannot keep a probe waiting.
const MAX_DATAGRAMS: usize = 16;

/// What an exchange's parser says about one datagram from the server.
#[derive(Debug)]
pub enum Datagram<T> {
    /// The answer: the exchange ends with it.
    Answer(T),
    /// Not an answer to this question (another ID): ignored, the exchange goes on.
    Ignore(&'static str),
    /// An answer to this question that cannot be used (malformed, truncated): the exchange
    /// ends with [`NetError::Protocol`].
    Unusable(String),
}

/// A datagram conversation with one server (a DNS server's UDP port), bounded like
/// [`LineConn`]: the address policy and the pacing are applied once when it opens (as for a
/// TCP connect: its questions are one "connection" to the address), one socket serves the
/// whole conversation, each exchange sends one datagram and reads at most
/// [`MAX_DATAGRAMS`] of at most [`MAX_DATAGRAM`] bytes, only from the server's address,
/// within the step timeout and the host deadline; a transcript of notes is kept.
pub struct UdpConn {
    sock: tokio::net::UdpSocket,
    server: SocketAddr,
    limits: Limits,
    deadline: Instant,
    started: Instant,
    buf: Vec<u8>,
    transcript: Transcript,
    /// The pacer to tell when the first datagram has left (paced conversations only).
    pace: Option<Arc<crate::pace::Pacer>>,
}

impl std::fmt::Debug for UdpConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpConn")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Whether opening a datagram conversation waits for the per-address pacing.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Pacing {
    /// Paced like a TCP connect (the probes).
    Paced,
    /// Not paced: discovery's per-zone SOA question to a zone's own name server, which is
    /// what every resolver asks of it (capped per server by `--ns-queries-per-server`).
    ZoneQuestion,
}

impl UdpConn {
    /// Opens a conversation with `server`: the policy, then the pacing, then a local socket.
    pub async fn open(
        policy: &Policy,
        server: SocketAddr,
        limits: &Limits,
        deadline: Instant,
        pacing: Pacing,
    ) -> Result<Self, NetError> {
        if policy.admit(server.ip()).is_err() {
            return Err(NetError::Blocked);
        }
        if pacing == Pacing::Paced && !policy.pace.wait(server.ip(), deadline).await {
            return Err(NetError::Deadline);
        }
        let bind: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let sock = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| NetError::from_io(&e))?;
        Ok(Self {
            sock,
            server,
            limits: *limits,
            deadline,
            started: Instant::now(),
            buf: vec![0u8; MAX_DATAGRAM],
            transcript: Transcript::default(),
            pace: (pacing == Pacing::Paced).then(|| policy.pace.clone()),
        })
    }

    /// Records a note in the transcript (what was asked, what came back).
    pub fn note(&mut self, dir: Dir, text: impl Into<String>) {
        self.transcript
            .record(self.limits.max_transcript, self.started, dir, text.into());
    }

    /// Sends `query` and returns what `parse` makes of the first usable datagram from the
    /// server. No retries. Errors: [`NetError::StepTimeout`] / [`NetError::Deadline`] when
    /// nothing usable came in time, [`NetError::Protocol`] for an unusable answer (or when
    /// only junk came), [`NetError::Io`] for local socket errors.
    pub async fn exchange<T>(
        &mut self,
        query: &[u8],
        mut parse: impl FnMut(&[u8]) -> Datagram<T>,
    ) -> Result<T, NetError> {
        let sent = self.sock.send_to(query, self.server).await;
        if let Some(pace) = self.pace.take() {
            pace.started(self.server.ip());
        }
        if let Err(e) = sent {
            return Err(self.fail(NetError::from_io(&e)));
        }
        let step = Instant::now() + self.limits.step_timeout;
        let by = step.min(self.deadline);
        let mut junk: Option<&'static str> = None;
        for _ in 0..MAX_DATAGRAMS {
            let Ok(r) = tokio::time::timeout_at(by, self.sock.recv_from(&mut self.buf)).await
            else {
                let e = match junk {
                    Some(why) => NetError::Protocol(why.to_owned()),
                    None if step > self.deadline => NetError::Deadline,
                    None => NetError::StepTimeout(self.limits.step_timeout),
                };
                return Err(self.fail(e));
            };
            let (n, from) = match r {
                Ok(x) => x,
                Err(e) => return Err(self.fail(NetError::from_io(&e))),
            };
            if from != self.server {
                continue;
            }
            match parse(&self.buf[..n]) {
                Datagram::Answer(t) => return Ok(t),
                Datagram::Ignore(why) => junk = Some(why),
                Datagram::Unusable(why) => return Err(self.fail(NetError::Protocol(why))),
            }
        }
        Err(self.fail(NetError::Protocol(
            junk.unwrap_or("too many datagrams").to_owned(),
        )))
    }

    fn fail(&mut self, e: NetError) -> NetError {
        self.note(Dir::Note, e.to_string());
        e
    }

    /// The transcript.
    pub fn into_transcript(self) -> Vec<TranscriptLine> {
        self.transcript.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn limits() -> Limits {
        Limits {
            step_timeout: Duration::from_secs(5),
            max_line: 64,
            max_session: 1024,
            ..Limits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silent_peer_costs_exactly_the_deadline() {
        let (client, _server) = tokio::io::duplex(64);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(12);
        let mut c = LineConn::new(Box::new(client), limits(), deadline);
        assert_eq!(
            c.read_line().await,
            Err(NetError::StepTimeout(Duration::from_secs(5)))
        );
        assert_eq!(
            c.read_line().await,
            Err(NetError::StepTimeout(Duration::from_secs(5)))
        );
        assert_eq!(c.read_line().await, Err(NetError::Deadline));
        // Virtual time: deterministic, not a timed assertion on a real clock.
        assert_eq!(Instant::now() - start, Duration::from_secs(12));
    }

    #[tokio::test(start_paused = true)]
    async fn endless_line_is_cut_at_the_cap() {
        let (client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let junk = [b'A'; 256];
            while server.write_all(&junk).await.is_ok() {}
        });
        let mut c = LineConn::new(
            Box::new(client),
            limits(),
            Instant::now() + Duration::from_secs(60),
        );
        assert_eq!(c.read_line().await, Err(NetError::LineTooLong(64)));
        assert!(c.bytes_read() <= 64 + 4096, "read {}", c.bytes_read());
        assert!(c.buf.capacity() <= 64 + 4096 + 1024);
    }

    #[tokio::test(start_paused = true)]
    async fn many_short_lines_hit_the_session_cap() {
        let (client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move { while server.write_all(b"250-x\r\n").await.is_ok() {} });
        let mut c = LineConn::new(
            Box::new(client),
            limits(),
            Instant::now() + Duration::from_secs(60),
        );
        let err = loop {
            if let Err(e) = c.read_line().await {
                break e;
            }
        };
        assert_eq!(err, NetError::SessionTooLong(1024));
        let t = c.into_transcript();
        assert!(t.len() <= limits().max_transcript + 1);
    }

    #[tokio::test]
    async fn lines_and_lossy_text() {
        let (client, mut server) = tokio::io::duplex(256);
        server
            .write_all(b"220 hi\r\n250 \xff\x1b[31m\nrest")
            .await
            .unwrap();
        drop(server);
        let mut c = LineConn::new(
            Box::new(client),
            limits(),
            Instant::now() + Duration::from_secs(5),
        );
        assert_eq!(c.read_line().await.unwrap(), "220 hi");
        assert_eq!(c.read_line().await.unwrap(), "250 \u{fffd}\u{1b}[31m");
        assert_eq!(c.read_line().await, Err(NetError::Closed));
        let t = c.into_transcript();
        assert_eq!(t[2].text, "rest");
    }

    #[test]
    fn policy() {
        let p = Policy::default();
        assert!(p.admit("127.0.0.1".parse().unwrap()).is_err());
        assert!(p.admit("8.8.8.8".parse().unwrap()).is_ok());
        let p = Policy {
            exclusions: Arc::new(Exclusions::parse("127.0.0.9\n").unwrap()),
            allowed_classes: vec![AddressClass::Loopback],
            ..Policy::default()
        };
        assert!(p.admit("127.0.0.1".parse().unwrap()).is_ok());
        assert_eq!(
            p.admit("127.0.0.9".parse().unwrap()),
            Err(mxray_core::model::SkipReason::Excluded)
        );
    }
}
