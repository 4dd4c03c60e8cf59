//! Emulated SMTP servers: the behaviours real servers cannot easily be made to show
//! (tarpits, garbage, accept-then-bounce, greylisting) next to plain closed and open relays.

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::ReadBuf;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How an emulated server behaves.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Behaviour {
    /// Relays only for its own domains; STARTTLS with the lab's self-signed certificate.
    Closed,
    /// Relays only for its own domains; no STARTTLS.
    ClosedPlain,
    /// Accepts any outside recipient; refuses unknown local users. VRFY confirms users.
    OpenRelay,
    /// Accepts every recipient, the nonexistent ones at its own domains too: an open relay
    /// whose own domain is not local to it (it relays that too).
    RelayEverything,
    /// Refuses recipients at outside domains but reads the percent hack
    /// (`user%outside@itself`) as an outside recipient; refuses unknown local users.
    PercentHackRelay,
    /// Refuses recipients at outside domains but relays a quoted local part holding an outside
    /// address (`"user@outside"`, `"user@outside"@itself`); refuses unknown local users.
    QuotedRelay,
    /// Accepts any local part at its own domains and name (no recipient validation: it would
    /// bounce unknown users after DATA) and refuses outside domains: not a relay, a
    /// backscatter source.
    AcceptAll,
    /// Defers every recipient with 450 (greylisting).
    Greylist,
    /// Sends its greeting only after this delay.
    Tarpit(Duration),
    /// Answers with something that is not SMTP.
    Garbage,
    /// Sends one line that never ends.
    EndlessLine,
    /// Never says anything.
    Silent,
    /// 421 at connect.
    Refuse,
    /// Offers AUTH PLAIN LOGIN without TLS and no STARTTLS.
    AuthBeforeTls,
    /// A closed server whose banner carries terminal escapes and HTML.
    HostileBanner,
    /// A closed server without STARTTLS whose greeting is `220 <name> <this text>`: a real
    /// product's banner (e.g. `ESMTP Exim 4.96 …`) for fingerprint and advisory tests.
    Product(String),
}

impl Behaviour {
    /// A short name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::ClosedPlain => "closed-plain",
            Self::OpenRelay => "open-relay",
            Self::RelayEverything => "relay-everything",
            Self::PercentHackRelay => "percent-hack-relay",
            Self::QuotedRelay => "quoted-relay",
            Self::AcceptAll => "accept-all",
            Self::Greylist => "greylist",
            Self::Tarpit(_) => "tarpit",
            Self::Garbage => "garbage",
            Self::EndlessLine => "endless",
            Self::Silent => "silent",
            Self::Refuse => "refuse",
            Self::AuthBeforeTls => "auth-before-tls",
            Self::HostileBanner => "hostile",
            Self::Product(_) => "product",
        }
    }
}

/// Counters a test can read.
#[derive(Debug)]
pub struct Stats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections open right now.
    pub open: AtomicUsize,
    /// Most connections open at once.
    pub max_open: AtomicUsize,
    /// `DATA` commands received (must stay 0: the scanner never sends DATA).
    pub data_commands: AtomicU64,
    /// Shortest interval between two accepted connections, microseconds (`u64::MAX`: fewer
    /// than two). Only meaningful for one server's own counters, not a group's.
    pub min_interval_us: AtomicU64,
    last_accept: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            connections: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            max_open: AtomicUsize::new(0),
            data_commands: AtomicU64::new(0),
            min_interval_us: AtomicU64::new(u64::MAX),
            last_accept: std::sync::Mutex::new(None),
        }
    }
}

impl Stats {
    /// Notes an accepted connection's time (for [`Stats::min_interval_us`]).
    fn accepted(&self) {
        let now = std::time::Instant::now();
        if let Ok(mut last) = self.last_accept.lock() {
            if let Some(prev) = *last {
                let us = now.duration_since(prev).as_micros() as u64;
                self.min_interval_us.fetch_min(us, Ordering::Relaxed);
            }
            *last = Some(now);
        }
    }
}

/// A running emulated server.
#[derive(Debug, Clone)]
pub struct SmtpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its behaviour.
    pub behaviour: Behaviour,
    /// Its host name (banner).
    pub hostname: String,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Delay before each line the server sends.
    pub latency: Duration,
    /// Counters shared with the other servers of its group.
    pub group: Arc<Stats>,
    /// A behaviour that replaces `behaviour` for connections accepted from now on
    /// ([`SmtpServer::switch`]).
    switched: Arc<std::sync::Mutex<Option<Behaviour>>>,
}

const CERT: &[u8] = include_bytes!("../certs/lab-cert.pem");
const KEY: &[u8] = include_bytes!("../certs/lab-key.pem");

fn tls_config() -> Arc<ServerConfig> {
    static CONFIG: std::sync::OnceLock<Arc<ServerConfig>> = std::sync::OnceLock::new();
    CONFIG.get_or_init(build_tls_config).clone()
}

fn build_tls_config() -> Arc<ServerConfig> {
    // Invariant: CERT and KEY are the lab's compiled-in PEM pair (the lab's own tests load them).
    let certs = vec![CertificateDer::from_pem_slice(CERT).expect("lab certificate")];
    let key = PrivateKeyDer::from_pem_slice(KEY).expect("lab key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            // Invariant: ring supports the default protocol versions; the key matches its certificate.
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("lab certificate and key match"),
    )
}

impl SmtpServer {
    /// Behaves as `b` for every connection accepted from now on (a relay opened by a
    /// configuration change between two checks of `mxray watch`).
    pub fn switch(&self, b: Behaviour) {
        if let Ok(mut s) = self.switched.lock() {
            *s = Some(b);
        }
    }

    /// Starts a server on `addr`. `local_domains` are the domains it accepts mail for.
    pub async fn start(
        addr: SocketAddr,
        behaviour: Behaviour,
        hostname: &str,
        local_domains: Vec<String>,
    ) -> std::io::Result<Self> {
        Self::start_with_latency(addr, behaviour, hostname, local_domains, Duration::ZERO).await
    }

    /// Like [`SmtpServer::start`], with `latency` added before the greeting and every reply
    /// (a network round trip).
    pub async fn start_with_latency(
        addr: SocketAddr,
        behaviour: Behaviour,
        hostname: &str,
        local_domains: Vec<String>,
        latency: Duration,
    ) -> std::io::Result<Self> {
        Self::start_in_group(
            addr,
            behaviour,
            hostname,
            local_domains,
            latency,
            Arc::default(),
        )
        .await
    }

    /// Like [`SmtpServer::start_with_latency`], also counting into `group`, shared by several
    /// servers (all of one network: the per-/24 cap is asserted on it).
    pub async fn start_in_group(
        addr: SocketAddr,
        behaviour: Behaviour,
        hostname: &str,
        local_domains: Vec<String>,
        latency: Duration,
        group: Arc<Stats>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let server = Self {
            addr,
            behaviour,
            hostname: hostname.to_owned(),
            stats: Arc::default(),
            latency,
            group,
            switched: Arc::default(),
        };
        let s = server.clone();
        let tls = tls_config();
        let local = Arc::new(local_domains);
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let mut s = s.clone();
                if let Some(b) = s.switched.lock().ok().and_then(|b| b.clone()) {
                    s.behaviour = b;
                }
                let (tls, local) = (tls.clone(), local.clone());
                s.stats.accepted();
                tokio::spawn(async move {
                    for st in [&s.stats, &s.group] {
                        st.connections.fetch_add(1, Ordering::Relaxed);
                        let now = st.open.fetch_add(1, Ordering::SeqCst) + 1;
                        st.max_open.fetch_max(now, Ordering::SeqCst);
                    }
                    let sock = Counted {
                        inner: sock,
                        counters: [s.stats.clone(), s.group.clone()],
                    };
                    let _ =
                        tokio::time::timeout(Duration::from_secs(300), s.serve(sock, tls, &local))
                            .await;
                });
            }
        });
        Ok(server)
    }

    async fn serve(
        &self,
        mut sock: Counted,
        tls: Arc<ServerConfig>,
        local: &[String],
    ) -> std::io::Result<()> {
        let host = &self.hostname;
        match &self.behaviour {
            Behaviour::Silent => {
                // Say nothing; notice when the client gives up (so connection counts stay true).
                let mut buf = [0u8; 512];
                while sock.read(&mut buf).await? > 0 {}
                return Ok(());
            }
            Behaviour::Refuse => {
                sock.write_all(
                    format!("421 4.3.2 {host} Service not available, closing channel\r\n")
                        .as_bytes(),
                )
                .await?;
                return Ok(());
            }
            Behaviour::Garbage => {
                sock.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nServer: not-smtp\r\n\r\n\x00\xff\xfe garbage",
                )
                .await?;
                return Ok(());
            }
            Behaviour::EndlessLine => {
                let chunk = vec![b'A'; 8192];
                sock.write_all(b"220 ").await?;
                // Stops when the client hangs up (or after the connection timeout above).
                loop {
                    sock.write_all(&chunk).await?;
                }
            }
            Behaviour::Tarpit(delay) => {
                let mut buf = [0u8; 512];
                tokio::select! {
                    _ = tokio::time::sleep(*delay) => {}
                    _ = async { while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {} } => return Ok(()),
                }
            }
            _ => {}
        }
        let banner = if self.behaviour == Behaviour::HostileBanner {
            format!(
                "220 {host} ESMTP \x1b[2J\x1b]0;pwned\x07<script>document.title='pwned'</script>\"><img src=x onerror=alert(1)>"
            )
        } else if let Behaviour::Product(text) = &self.behaviour {
            format!("220 {host} {text}")
        } else {
            format!("220 {host} ESMTP mxray-lab")
        };
        tokio::time::sleep(self.latency).await;
        sock.write_all(format!("{banner}\r\n").as_bytes()).await?;
        let (r, w) = tokio::io::split(sock);
        match self.dialogue(BufReader::new(r), w, local).await? {
            Some((r, w))
                if matches!(self.behaviour, Behaviour::Closed | Behaviour::HostileBanner) =>
            {
                let sock = r.into_inner().unsplit(w);
                let tls = tokio_rustls::TlsAcceptor::from(tls).accept(sock).await?;
                let (r, w) = tokio::io::split(tls);
                self.dialogue(BufReader::new(r), w, local).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Runs commands until QUIT or disconnect. Returns the halves when STARTTLS was accepted.
    async fn dialogue<R, W>(
        &self,
        mut r: BufReader<R>,
        mut w: W,
        local: &[String],
    ) -> std::io::Result<Option<(BufReader<R>, W)>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let host = &self.hostname;
        let b = &self.behaviour;
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 || line.len() > 1000 {
                return Ok(None);
            }
            let cmd = line.trim_end().to_owned();
            let upper = cmd.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") {
                let mut caps = vec![
                    format!("250-{host} hello"),
                    "250-PIPELINING".into(),
                    "250-SIZE 10240000".into(),
                ];
                match b {
                    Behaviour::Closed | Behaviour::HostileBanner => {
                        caps.push("250-STARTTLS".into())
                    }
                    Behaviour::AuthBeforeTls => caps.push("250-AUTH PLAIN LOGIN".into()),
                    _ => {}
                }
                caps.push("250 8BITMIME".into());
                caps.join("\r\n")
            } else if upper.starts_with("HELO") {
                format!("250 {host}")
            } else if upper == "STARTTLS"
                && matches!(b, Behaviour::Closed | Behaviour::HostileBanner)
            {
                w.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                w.flush().await?;
                return Ok(Some((r, w)));
            } else if upper.starts_with("MAIL FROM:") {
                "250 2.1.0 Ok".into()
            } else if let Some(arg) = upper.strip_prefix("RCPT TO:") {
                self.rcpt(arg.trim(), local)
            } else if upper.starts_with("VRFY") {
                if *b == Behaviour::OpenRelay {
                    format!("250 2.0.0 <postmaster@{host}>")
                } else {
                    "252 2.0.0 Cannot VRFY user".into()
                }
            } else if upper.starts_with("EXPN") {
                "502 5.5.1 EXPN not available".into()
            } else if upper == "RSET" || upper == "NOOP" {
                "250 2.0.0 Ok".into()
            } else if upper == "DATA" {
                self.stats.data_commands.fetch_add(1, Ordering::SeqCst);
                "554 5.5.1 lab refuses DATA".into()
            } else if upper == "QUIT" {
                w.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(None);
            } else {
                "502 5.5.2 Error: command not recognized".into()
            };
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            w.write_all(format!("{reply}\r\n").as_bytes()).await?;
            w.flush().await?;
        }
    }

    fn rcpt(&self, arg: &str, local: &[String]) -> String {
        let addr = arg
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_ascii_lowercase();
        let to = Recipient::parse(&addr, local, &self.hostname);
        let known_user = addr.starts_with("postmaster@");
        const OK: &str = "250 2.1.5 Ok";
        const DENIED: &str = "554 5.7.1 Relay access denied";
        const UNKNOWN: &str =
            "550 5.1.1 Recipient address rejected: User unknown in local recipient table";
        match (&self.behaviour, to) {
            (Behaviour::RelayEverything, _) => OK.into(),
            (Behaviour::Greylist, _) => {
                "450 4.2.0 Recipient address rejected: Greylisted, try again later".into()
            }
            (Behaviour::AcceptAll, Recipient::Outside) => DENIED.into(),
            (Behaviour::AcceptAll, _) => OK.into(),
            (_, Recipient::Local) if known_user => OK.into(),
            (_, Recipient::Local) => UNKNOWN.into(),
            (Behaviour::OpenRelay, _) => OK.into(),
            (Behaviour::PercentHackRelay, Recipient::Trick) if addr.contains('%') => OK.into(),
            (Behaviour::QuotedRelay, Recipient::Trick) if addr.contains('"') => OK.into(),
            _ => DENIED.into(),
        }
    }
}

/// What a recipient address is to an emulated server.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Recipient {
    /// A plain local part at one of its domains or its own name.
    Local,
    /// An address trick (`%`, `!`, `@`, `:`, quotes in the local part) at its own name or
    /// address literal, or an address without a domain.
    Trick,
    /// A domain that is not its own (a source route ends at its final domain).
    Outside,
}

impl Recipient {
    fn parse(addr: &str, local: &[String], hostname: &str) -> Self {
        // The last `@` outside a quoted string separates the domain.
        let mut quoted = false;
        let mut at = None;
        for (i, c) in addr.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '@' if !quoted => at = Some(i),
                _ => {}
            }
        }
        let Some(at) = at.filter(|&i| i > 0) else {
            return Self::Trick;
        };
        let (user, dom) = (&addr[..at], &addr[at + 1..]);
        let own = dom.starts_with('[')
            || dom == hostname
            || local
                .iter()
                .any(|d| d == dom || dom.ends_with(&format!(".{d}")));
        match (own, user.contains(['@', '%', '!', ':', '"'])) {
            (false, _) => Self::Outside,
            (true, false) => Self::Local,
            (true, true) => Self::Trick,
        }
    }
}

/// A server-side connection that leaves the open-connection counts when it is dropped,
/// *before* its socket closes: a client that reacts to the close and connects again is then
/// never counted twice (dropping first and counting after raced with the next accept).
struct Counted {
    inner: TcpStream,
    counters: [Arc<Stats>; 2],
}

impl Drop for Counted {
    fn drop(&mut self) {
        for st in &self.counters {
            st.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
