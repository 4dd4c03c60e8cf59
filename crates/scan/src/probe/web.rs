//! The web probe: a handful of GET requests to one HTTP or HTTPS port, never a crawl.
//!
//! Sends: `GET /`, `GET <path>` for each configured path (mail stores, backups, webmail),
//! `GET /.git/HEAD`, `GET /server-status`, `GET /server-info`; HTTP/1.1 with `Connection:
//! close`, one connection per request, one after another, an identifying `User-Agent`.
//! Redirects are followed only for `/`, only to the same host and scheme, at most
//! [`MAX_REDIRECTS`] times. At most [`MAX_REQUESTS`] requests per port.
//! Records: status line, `Server`, `X-Powered-By`, `Location`, `Content-Type`, the first
//! 2 KiB of each body and the directory listing recognised in it (`core::http`).
//! Statuses (of the first request): `success`; `connect-refused`/`connect-timeout`;
//! `io-timeout`/`deadline`; `closed-early`; `protocol-mismatch`; `tls-failed`.
//!
//! Why a small HTTP/1.1 client over `net::LineConn` rather than reqwest: every byte then goes
//! through the same address policy, connect timeout, per-step timeout, host deadline and
//! session cap as the mail probes (a 50 MB body stops at the cap, by construction); the
//! probe connects to exactly the IP being scanned with the `Host` it chooses, with no proxy
//! environment, connection pool or redirect logic of its own to audit; TLS goes through the
//! same certificate-recording `TlsClient`; and it adds no dependency to a build shared by
//! two cores. We need GET with `Connection: close`, `Content-Length` and chunked bodies —
//! about a hundred lines.

use super::{Probe, ProbeContext, ProbeFuture, ProbeKind, ProbeOutput};
use crate::net::{Limits, LineConn, NetError};
use mxray_core::http;
use mxray_core::listing::{self, Descent};
use mxray_core::model::{
    DirListing, HostObservation, HttpExchange, ProbeStatus, TlsInfo, WebObservation,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The probe's fixed requests per port, redirects included.
pub const MAX_REQUESTS: usize = 10;
/// Web requests per host, all ports together, listing descent included.
pub const MAX_HOST_REQUESTS: usize = 30;
/// Redirects followed for `/`.
pub const MAX_REDIRECTS: usize = 2;
/// Body bytes read per response.
pub const MAX_BODY: usize = 256 * 1024;
/// Body bytes kept as an excerpt.
const EXCERPT: usize = 2048;

/// Paths probed besides `/` when none are configured.
pub fn default_paths() -> Vec<String> {
    ["/mail/", "/Maildir/", "/backup/", "/webmail/"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// The web requests one host may still receive, shared by its web probes: each port's fixed
/// requests are reserved up front, the listing descent only spends what no probe reserved.
#[derive(Clone, Debug)]
pub struct HostBudget {
    left: Arc<AtomicUsize>,
    reserved: Arc<AtomicUsize>,
}

impl HostBudget {
    /// `total` requests, `reserved` of them kept for the probes' fixed requests.
    pub fn new(total: usize, reserved: usize) -> Self {
        Self {
            left: Arc::new(AtomicUsize::new(total)),
            reserved: Arc::new(AtomicUsize::new(reserved.min(total))),
        }
    }
    /// Takes one request if more than `keep` are left.
    fn take_above(&self, keep: usize) -> bool {
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                (l > keep).then(|| l - 1)
            })
            .is_ok()
    }
    /// One of the probe's fixed requests.
    fn take(&self) -> bool {
        self.take_above(0)
    }
    /// One descent request: only from what is not reserved.
    fn take_spare(&self) -> bool {
        self.take_above(self.reserved.load(Ordering::SeqCst))
    }
    /// A probe starts: its reservation becomes ordinary budget.
    fn release(&self, n: usize) {
        let _ = self
            .reserved
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                Some(r.saturating_sub(n))
            });
    }
}

impl Default for HostBudget {
    fn default() -> Self {
        Self::new(MAX_HOST_REQUESTS, 0)
    }
}

/// Probes one HTTP or HTTPS port.
#[derive(Clone, Debug)]
pub struct WebProbe {
    /// Port.
    pub port: u16,
    /// HTTPS.
    pub https: bool,
    /// Paths where mail stores, backups and webmail live.
    pub paths: Vec<String>,
}

impl WebProbe {
    /// The fixed requests this probe makes (`/`, the paths, `.git/HEAD` and the two status
    /// pages), which the host's budget reserves for it.
    pub fn fixed_requests(paths: &[String]) -> usize {
        (paths.len() + 4).min(MAX_REQUESTS)
    }
}

impl Probe for WebProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Web
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn run<'a>(&'a self, cx: &'a ProbeContext, _: &'a HostObservation) -> ProbeFuture<'a> {
        Box::pin(async move { ProbeOutput::Web(probe(cx, self).await) })
    }
}

async fn probe(cx: &ProbeContext, p: &WebProbe) -> WebObservation {
    let started = tokio::time::Instant::now();
    let host = cx.names.first().cloned();
    let mut obs = WebObservation {
        port: p.port,
        https: p.https,
        host: host.clone(),
        status: ProbeStatus::Success,
        detail: None,
        tls: None,
        exchanges: Vec::new(),
        elapsed_ms: 0,
    };
    let mut paths = vec!["/".to_owned()];
    paths.extend(p.paths.iter().cloned());
    paths.extend(["/.git/HEAD", "/server-status", "/server-info"].map(String::from));
    let mut queue: std::collections::VecDeque<(String, usize)> =
        paths.into_iter().map(|p| (p, 0)).collect();
    cx.web_budget.release(WebProbe::fixed_requests(&p.paths));
    while let Some((path, hops)) = queue.pop_front() {
        if obs.exchanges.len() >= MAX_REQUESTS
            || tokio::time::Instant::now() >= cx.deadline
            || !cx.web_budget.take()
        {
            break;
        }
        let (ex, tls, err) = request(cx, p, host.as_deref(), &path).await;
        if obs.tls.is_none() {
            obs.tls = tls;
        }
        if obs.exchanges.is_empty()
            && let Some(e) = &err
            && ex.status_code.is_none()
        {
            obs.status = e.status();
            obs.detail = Some(e.to_string());
            obs.exchanges.push(ex);
            break;
        }
        if matches!(err, Some(NetError::Deadline)) {
            obs.exchanges.push(ex);
            break;
        }
        if path == "/"
            && hops < MAX_REDIRECTS
            && matches!(ex.status_code, Some(301 | 302 | 303 | 307 | 308))
            && let Some(next) = ex
                .location
                .as_deref()
                .and_then(|l| same_host(l, p.https, host.as_deref()))
        {
            queue.push_front((next, hops + 1));
        }
        obs.exchanges.push(ex);
    }
    if obs.exchanges.iter().any(|e| e.status_code.is_some()) {
        descend(cx, p, host.as_deref(), &mut obs).await;
    }
    obs.elapsed_ms = started.elapsed().as_millis() as u64;
    obs
}

/// Listing pages with the paths they were fetched at.
fn listing_pages(obs: &WebObservation) -> impl Iterator<Item = (&str, &DirListing)> {
    obs.exchanges
        .iter()
        .filter(|e| e.status_code == Some(200))
        .filter_map(|e| Some((e.path.as_str(), e.listing.as_ref()?)))
}

/// Descends the directory listings found, listing pages only (`core::listing::Descent`:
/// at most three levels, same host, relative links to directories), until a mail store is
/// proven, nothing is left to read or the host's budget is spent. Files are never
/// requested: their names and sizes come from the listings.
async fn descend(cx: &ProbeContext, p: &WebProbe, host: Option<&str>, obs: &mut WebObservation) {
    let fetched: Vec<String> = obs.exchanges.iter().map(|e| e.path.clone()).collect();
    let mut plan = Descent::new(fetched.iter().map(String::as_str));
    for (path, l) in listing_pages(obs) {
        plan.add_page(path, 0, l);
    }
    while listing::mail_proofs(listing_pages(obs)).is_empty()
        && tokio::time::Instant::now() < cx.deadline
    {
        let Some((path, depth)) = plan.next_page() else {
            break;
        };
        if !cx.web_budget.take_spare() {
            break;
        }
        let (mut ex, tls, err) = request(cx, p, host, &path).await;
        ex.depth = depth;
        if obs.tls.is_none() {
            obs.tls = tls;
        }
        if ex.status_code == Some(200)
            && let Some(l) = &ex.listing
        {
            plan.add_page(&path, depth, l);
        }
        obs.exchanges.push(ex);
        if matches!(err, Some(NetError::Deadline)) {
            break;
        }
    }
}

/// The path of a redirect target on the same scheme and host, if it is one.
fn same_host(location: &str, https: bool, host: Option<&str>) -> Option<String> {
    if location.starts_with('/') && !location.starts_with("//") {
        return Some(location.to_owned());
    }
    let scheme = if https { "https://" } else { "http://" };
    let rest = location.strip_prefix(scheme)?;
    let (h, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    (Some(h) == host).then_some(path)
}

async fn request(
    cx: &ProbeContext,
    p: &WebProbe,
    host: Option<&str>,
    path: &str,
) -> (HttpExchange, Option<TlsInfo>, Option<NetError>) {
    let (ex, tls, err, _) = get(cx, p.port, p.https, host, path, MAX_BODY).await;
    (ex, tls, err)
}

/// One `GET` to `cx.ip`, with the `Host` (and SNI) given, reading at most `max_body` body
/// bytes (`truncated` is set when the body reached the cap). Returns the exchange, the TLS
/// session, the error that ended it early, and the body bytes read. Redirects are recorded
/// (`location`), never followed. Used by the web probe and the MTA-STS policy fetch.
pub async fn get(
    cx: &ProbeContext,
    port: u16,
    https: bool,
    host: Option<&str>,
    path: &str,
    max_body: usize,
) -> (HttpExchange, Option<TlsInfo>, Option<NetError>, Vec<u8>) {
    let mut ex = HttpExchange {
        path: path.to_owned(),
        status_code: None,
        status_line: None,
        server: None,
        powered_by: None,
        location: None,
        content_type: None,
        body_bytes: 0,
        truncated: false,
        excerpt: String::new(),
        listing: None,
        depth: 0,
        error: None,
    };
    let addr = SocketAddr::new(cx.ip, port);
    let limits = Limits {
        max_session: max_body + 64 * 1024,
        ..cx.limits
    };
    let mut conn = match cx.open_with(port, limits).await {
        Ok(c) => c,
        Err(e) => {
            ex.error = Some(e.to_string());
            return (ex, None, Some(e), Vec::new());
        }
    };
    let mut tls = None;
    if https {
        match cx.tls.upgrade(&mut conn, host).await {
            Ok(info) => tls = Some(info),
            Err(e) => {
                ex.error = Some(e.to_string());
                return (ex, None, Some(e), Vec::new());
            }
        }
    }
    let mut body = Vec::new();
    let err = exchange(cx, &mut conn, host, addr, &mut ex, &mut body, max_body)
        .await
        .err();
    if let Some(e) = &err {
        ex.error = Some(e.to_string());
    }
    let _ = conn.close().await;
    (ex, tls, err, body)
}

async fn exchange(
    cx: &ProbeContext,
    conn: &mut LineConn,
    host: Option<&str>,
    addr: SocketAddr,
    ex: &mut HttpExchange,
    body: &mut Vec<u8>,
    max_body: usize,
) -> Result<(), NetError> {
    let host_header = host.map_or_else(|| addr.to_string(), str::to_owned);
    for line in [
        format!("GET {} HTTP/1.1", ex.path),
        format!("Host: {host_header}"),
        format!(
            "User-Agent: mxray/{} (mail-server security scanner; +{})",
            env!("CARGO_PKG_VERSION"),
            cx.ehlo_name
        ),
        "Accept: */*".to_owned(),
        "Connection: close".to_owned(),
        String::new(),
    ] {
        conn.send(&line).await?;
    }
    let status = conn.read_line().await?;
    ex.status_code = http::status_code(&status);
    ex.status_line = Some(status);
    if ex.status_code.is_none() {
        return Err(NetError::Protocol("not an HTTP status line".into()));
    }
    let mut head = http::Head::default();
    for n in 0.. {
        if n >= http::MAX_HEADERS {
            return Err(NetError::Protocol(
                http::FramingError::TooManyHeaders.to_string(),
            ));
        }
        let l = conn.read_line().await?;
        if l.is_empty() {
            break;
        }
        head.line(&l);
    }
    ex.server = head.server;
    ex.powered_by = head.powered_by;
    ex.location = head.location;
    ex.content_type = head.content_type;
    let r = if head.chunked {
        read_chunked(conn, body, max_body).await
    } else {
        read_plain(conn, head.length, body, max_body).await
    };
    ex.body_bytes = body.len() as u64;
    ex.truncated = body.len() >= max_body || matches!(r, Err(NetError::SessionTooLong(_)));
    let text = String::from_utf8_lossy(body);
    let mut cut = EXCERPT.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    ex.excerpt = text[..cut].to_owned();
    ex.listing = http::detect_listing(&text);
    match r {
        Err(NetError::SessionTooLong(_)) => Ok(()),
        other => other,
    }
}

async fn read_plain(
    conn: &mut LineConn,
    length: Option<usize>,
    body: &mut Vec<u8>,
    max_body: usize,
) -> Result<(), NetError> {
    let want = length.unwrap_or(usize::MAX).min(max_body);
    while body.len() < want {
        let chunk = conn.read_raw(want - body.len()).await?;
        if chunk.is_empty() {
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(())
}

async fn read_chunked(
    conn: &mut LineConn,
    body: &mut Vec<u8>,
    max_body: usize,
) -> Result<(), NetError> {
    while body.len() < max_body {
        let size_line = conn.read_line().await?;
        let size = http::chunk_size(&size_line)
            .ok_or_else(|| NetError::Protocol(http::FramingError::ChunkSize.to_string()))?;
        if size == 0 {
            return Ok(());
        }
        let mut left = size;
        while left > 0 && body.len() < max_body {
            let chunk = conn.read_raw(left.min(max_body - body.len())).await?;
            if chunk.is_empty() {
                return Ok(());
            }
            left -= chunk.len();
            body.extend_from_slice(&chunk);
        }
        if left == 0 {
            conn.read_line().await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn cx(ip: std::net::IpAddr) -> ProbeContext {
        super::super::test_context(ip, "www.example.test")
    }

    /// An HTTP server on loopback answering each connection's request (its first 2 KiB, as
    /// text) with `answer(request)`; returns its address.
    async fn http_server(
        answer: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answer = std::sync::Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut req = vec![0u8; 2048];
                    let n = s.read(&mut req).await.unwrap_or(0);
                    let resp = answer(&String::from_utf8_lossy(&req[..n]));
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        addr
    }

    /// A server that answers every request with a 50 MB body (as fast as it can write).
    #[tokio::test]
    async fn fifty_megabyte_body_stops_at_the_cap() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let s2 = served.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let served = s2.clone();
                tokio::spawn(async move {
                    let mut req = [0u8; 1024];
                    let _ = s.read(&mut req).await;
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nServer: big/1.0\r\nContent-Length: 52428800\r\n\r\n").await;
                    let block = vec![b'x'; 64 * 1024];
                    for _ in 0..800 {
                        if s.write_all(&block).await.is_err() {
                            return;
                        }
                        served.fetch_add(block.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        let p = WebProbe {
            port: addr.port(),
            https: false,
            paths: vec![],
        };
        let obs = probe(&cx(addr.ip()), &p).await;
        assert_eq!(obs.status, ProbeStatus::Success);
        assert_eq!(
            obs.exchanges.len(),
            4,
            "/, .git/HEAD, server-status, server-info"
        );
        for e in &obs.exchanges {
            assert_eq!(e.status_code, Some(200));
            assert!(e.truncated, "{e:?}");
            assert_eq!(e.body_bytes, MAX_BODY as u64);
            assert_eq!(e.excerpt.len(), EXCERPT);
        }
        assert_eq!(obs.exchanges[0].server.as_deref(), Some("big/1.0"));
    }

    /// `get` (the MTA-STS policy fetch) stops at its own cap and never follows a redirect.
    #[tokio::test]
    async fn get_caps_the_body_and_records_redirects() {
        let addr = http_server(|req| {
            if req.starts_with("GET /big ") {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n{}",
                    "y".repeat(5000)
                )
            } else {
                "HTTP/1.1 302 Found\r\nLocation: https://evil.test/policy\r\nContent-Length: 0\r\n\r\n".to_owned()
            }
        })
        .await;
        let c = cx(addr.ip());
        let (ex, _, err, body) = get(&c, addr.port(), false, Some("h.test"), "/big", 1001).await;
        assert_eq!(err, None);
        assert_eq!(body.len(), 1001);
        assert!(ex.truncated);
        let (ex, _, _, body) = get(&c, addr.port(), false, Some("h.test"), "/p", 1001).await;
        assert_eq!(ex.status_code, Some(302));
        assert_eq!(ex.location.as_deref(), Some("https://evil.test/policy"));
        assert!(body.is_empty());
    }

    /// A listing that never ends (every directory holds 40 more, plus files): the descent
    /// reads listing pages only, at most three levels down, and the host's budget (30
    /// requests, all ports together, each port's fixed requests reserved) caps it.
    #[tokio::test]
    async fn endless_listing_descent_stays_within_the_host_budget() {
        let served = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let s2 = served.clone();
        let addr = http_server(move |req| {
            let path = req.split(' ').nth(1).unwrap_or("").to_owned();
            s2.lock().unwrap().push(path.clone());
            if path.ends_with('/') {
                let mut body = format!(
                    "<html><head><title>Index of {path}</title></head><body><h1>Index of {path}</h1><hr><pre><a href=\"../\">../</a>\n"
                );
                for i in 0..40 {
                    body.push_str(&format!(
                        "<a href=\"d{i}/\">d{i}/</a>  07-Dec-2026 04:20  -\n"
                    ));
                }
                body.push_str("<a href=\"../x/\">up</a>\n<a href=\"/abs/\">abs</a>\n<a href=\"http://evil.test/\">e</a>\n<a href=\"?C=N;O=D\">s</a>\n<a href=\"notes.txt\">notes.txt</a>  07-Dec-2026 04:20  12\n</pre><hr></body></html>");
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n".to_owned()
            }
        })
        .await;
        let budget = HostBudget::new(MAX_HOST_REQUESTS, 2 * WebProbe::fixed_requests(&[]));
        let probe_on = |https| WebProbe {
            port: addr.port(),
            https,
            paths: vec![],
        };
        let mut c = cx(addr.ip());
        c.web_budget = budget;
        let first = probe(&c, &probe_on(false)).await;
        let second = probe(&c, &probe_on(false)).await;
        assert_eq!(
            second.exchanges.len(),
            WebProbe::fixed_requests(&[]),
            "the second port keeps its fixed requests"
        );
        assert_eq!(
            first.exchanges.len() + second.exchanges.len(),
            MAX_HOST_REQUESTS
        );
        assert_eq!(served.lock().unwrap().len(), MAX_HOST_REQUESTS);
        let descended: Vec<&HttpExchange> =
            first.exchanges.iter().filter(|e| e.depth > 0).collect();
        assert_eq!(descended.len(), MAX_HOST_REQUESTS - 2 * 4);
        for e in &descended {
            assert!(
                e.path.starts_with("/d") && e.path.ends_with('/'),
                "{}",
                e.path
            );
            assert!(!e.path.contains(".."), "{}", e.path);
            assert_eq!(e.path.matches('/').count() as u8, e.depth + 1, "{}", e.path);
            assert!(e.depth <= 3);
        }
        assert!(
            !served
                .lock()
                .unwrap()
                .iter()
                .any(|p| p.contains("notes.txt") || p.contains("abs") || p.contains("x/")),
            "files, parents and absolute links are never requested"
        );
    }

    #[tokio::test]
    async fn chunked_listing_and_same_host_redirects() {
        let addr = http_server(|req| {
            if req.starts_with("GET / ") {
                "HTTP/1.1 301 Moved\r\nLocation: http://elsewhere.test/x\r\nContent-Length: 0\r\n\r\n".to_owned()
            } else if req.starts_with("GET /mail/ ") {
                let body = "<title>Index of /mail/</title><hr><pre><a href=\"bob%40example.test/\">b</a>";
                format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n".to_owned()
            }
        })
        .await;
        let p = WebProbe {
            port: addr.port(),
            https: false,
            paths: vec!["/mail/".into()],
        };
        let obs = probe(&cx(addr.ip()), &p).await;
        let paths: Vec<&str> = obs.exchanges.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/",
                "/mail/",
                "/.git/HEAD",
                "/server-status",
                "/server-info"
            ],
            "no redirect to another host"
        );
        let l = obs.exchanges[1].listing.as_ref().expect("listing");
        assert_eq!(l.entries, ["bob%40example.test/"]);
        assert_eq!(same_host("/next", false, None).as_deref(), Some("/next"));
        assert_eq!(
            same_host("http://www.example.test/a", false, Some("www.example.test")).as_deref(),
            Some("/a")
        );
        assert_eq!(
            same_host(
                "https://www.example.test/a",
                false,
                Some("www.example.test")
            ),
            None
        );
        assert_eq!(same_host("//evil.test/", false, None), None);
    }
}
