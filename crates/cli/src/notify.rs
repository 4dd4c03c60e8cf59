//! Where `mxray watch` sends alerts besides standard output: a webhook (HTTP POST of each
//! alert's JSON) and a mail to the administrator (SMTP through `lettre`).
//!
//! The webhook client is hand-written over tokio: one POST with a fixed-length body and the
//! status line read back (parsed by `mxray_core::http::status_code`) is all it needs, and an
//! HTTP client crate (reqwest: hyper, h2, tower…) would add dozens of crates to the tree for
//! that. HTTPS uses the rustls/ring stack the scanner already links.

use anyhow::{Context, bail};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed webhook URL.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct WebhookUrl {
    /// TLS or not.
    pub https: bool,
    /// Host name or address (no brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query, starting with '/'.
    pub path: String,
}

impl std::str::FromStr for WebhookUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err("the webhook URL must start with http:// or https://".into());
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(
                "user names in webhook URLs are not supported; put a token in the path or query"
                    .into(),
            );
        }
        let default = if https { 443 } else { 80 };
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or("unclosed '[' in the webhook URL")?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
                None if after.is_empty() => default,
                None => return Err("junk after ']' in the webhook URL".into()),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse().map_err(|_| format!("bad port {p:?}"))?,
                ),
                None => (authority.to_owned(), default),
            }
        };
        if host.is_empty() || path.chars().any(|c| c.is_control() || c == ' ') {
            return Err("the webhook URL has no host, or a space or control character".into());
        }
        Ok(Self {
            https,
            host,
            port,
            path,
        })
    }
}

/// How one POST ended.
#[derive(Debug, Eq, PartialEq)]
pub enum Posted {
    /// A 2xx status.
    Accepted(u16),
    /// Another status: worth retrying only for 408, 429 and 5xx.
    Refused(u16),
    /// No HTTP answer (connect, TLS, timeout, not HTTP).
    Failed(String),
}

impl Posted {
    fn retry(&self) -> bool {
        match self {
            Self::Accepted(_) => false,
            Self::Refused(c) => *c == 408 || *c == 429 || *c >= 500,
            Self::Failed(_) => true,
        }
    }
}

/// Longest response head read back (only the status line matters).
const MAX_RESPONSE: u64 = 16 * 1024;

/// The webhook sender.
#[derive(Clone, Debug)]
pub struct Webhook {
    url: WebhookUrl,
    /// Each attempt ends by this deadline (connect, send, answer).
    timeout: Duration,
    /// Attempts per alert (the first and the retries), at 1 s, 2 s, 4 s… intervals.
    attempts: u32,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Webhook {
    /// A sender for `url`.
    pub fn new(url: WebhookUrl, timeout: Duration, attempts: u32) -> anyhow::Result<Self> {
        let tls = if url.https {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            Some(Arc::new(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .context("TLS set-up")?
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            ))
        } else {
            None
        };
        Ok(Self {
            url,
            timeout,
            attempts: attempts.max(1),
            tls,
        })
    }

    /// POSTs one JSON body, retrying (bounded) on failures worth retrying.
    pub async fn post(&self, body: &str) -> Posted {
        let mut wait = Duration::from_secs(1);
        let mut last = Posted::Failed("not tried".into());
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            last = match tokio::time::timeout(self.timeout, self.once(body)).await {
                Ok(p) => p,
                Err(_) => Posted::Failed(format!("no answer within {:?}", self.timeout)),
            };
            if !last.retry() {
                break;
            }
        }
        last
    }

    async fn once(&self, body: &str) -> Posted {
        let u = &self.url;
        let tcp = match TcpStream::connect((u.host.as_str(), u.port)).await {
            Ok(s) => s,
            Err(e) => return Posted::Failed(format!("connect to {}:{}: {e}", u.host, u.port)),
        };
        let host = if u.host.contains(':') {
            format!("[{}]", u.host)
        } else {
            u.host.clone()
        };
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: mxray/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            u.path,
            u.port,
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        match &self.tls {
            None => exchange(tcp, &request).await,
            Some(cfg) => {
                let Ok(name) = rustls::pki_types::ServerName::try_from(u.host.clone()) else {
                    return Posted::Failed(format!("{} is not a TLS server name", u.host));
                };
                match tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                {
                    Ok(s) => exchange(s, &request).await,
                    Err(e) => Posted::Failed(format!("TLS: {e}")),
                }
            }
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, request: &str) -> Posted {
    if let Err(e) = s.write_all(request.as_bytes()).await {
        return Posted::Failed(format!("send: {e}"));
    }
    let _ = s.flush().await;
    let mut head = Vec::new();
    let mut limited = (&mut s).take(MAX_RESPONSE);
    let mut buf = [0u8; 1024];
    // Only the status line is needed: read until its end (or the cap).
    loop {
        match limited.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                head.extend_from_slice(&buf[..n]);
                if head.contains(&b'\n') {
                    break;
                }
            }
            Err(e) => return Posted::Failed(format!("read: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    match mxray_core::http::status_code(line) {
        Some(c) if (200..300).contains(&c) => Posted::Accepted(c),
        Some(c) => Posted::Refused(c),
        None => Posted::Failed("the answer is not HTTP".into()),
    }
}

/// How mail leaves: the server and how to talk to it.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// Submission or relay server host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// TLS mode.
    pub tls: MailTls,
    /// SMTP AUTH user (the password comes from `MXRAY_SMTP_PASSWORD`).
    pub user: Option<String>,
    /// Envelope and header sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Each step's timeout.
    pub timeout: Duration,
}

/// TLS towards the mail server.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
pub enum MailTls {
    /// STARTTLS, required (port 587 or 25).
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
    /// No TLS at all (a relay on the same machine or loopback only).
    None,
}

/// Sends one plain-text mail.
pub async fn send_mail(m: &MailSettings, subject: &str, body: String) -> anyhow::Result<()> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let mut msg = Message::builder()
        .from(
            m.from
                .parse()
                .with_context(|| format!("--mail-from {:?} is not an address", m.from))?,
        )
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &m.to {
        msg = msg.to(to
            .parse()
            .with_context(|| format!("--mail-to {to:?} is not an address"))?);
    }
    let msg = msg.body(body).context("building the alert mail")?;
    let mut t = match m.tls {
        MailTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&m.host)?,
        MailTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&m.host)?,
        MailTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&m.host),
    }
    .port(m.port)
    .timeout(Some(m.timeout));
    if let Some(user) = &m.user {
        let Ok(pass) = std::env::var("MXRAY_SMTP_PASSWORD") else {
            bail!("--smtp-user needs the password in the MXRAY_SMTP_PASSWORD environment variable");
        };
        t = t.credentials(Credentials::new(user.clone(), pass));
    }
    t.build()
        .send(msg)
        .await
        .with_context(|| format!("sending the alert mail through {}:{}", m.host, m.port))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u: WebhookUrl = "http://127.0.0.1:8080/hook?x=1".parse().unwrap();
        assert_eq!(
            u,
            WebhookUrl {
                https: false,
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/hook?x=1".into()
            }
        );
        let u: WebhookUrl = "https://[::1]/".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port, u.https), ("::1", 443, true));
        let u: WebhookUrl = "https://hooks.example?t=1".parse().unwrap();
        assert_eq!(u.path, "/?t=1");
        for bad in [
            "ftp://x/",
            "http:///",
            "http://a:b/",
            "http://u:p@h/",
            "http://h/a b",
        ] {
            assert!(bad.parse::<WebhookUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn retries_only_what_may_pass_later() {
        assert!(!Posted::Accepted(204).retry());
        assert!(!Posted::Refused(404).retry());
        assert!(Posted::Refused(503).retry());
        assert!(Posted::Refused(429).retry());
        assert!(Posted::Failed("x".into()).retry());
    }
}
