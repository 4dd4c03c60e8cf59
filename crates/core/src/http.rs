//! Sans-I/O pieces of the web probe: the status line, header lines, and recognising what a
//! body is (a directory listing and its entries, a Git HEAD file, a server status page).
//!
//! Bodies are attacker-controlled: every function here is bounded by its input (the probe
//! caps bodies) and never allocates more than a capped number of entries.

use crate::model::DirListing;

pub use crate::listing::MAX_ENTRIES;

/// `HTTP/1.x NNN reason` → the status code.
pub fn status_code(line: &str) -> Option<u16> {
    let mut w = line.split_whitespace();
    let v = w.next()?;
    if !v.starts_with("HTTP/") {
        return None;
    }
    let code = w.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..600).contains(c))
}

/// `Name: value` → (lowercase name, trimmed value).
pub fn header(line: &str) -> Option<(String, &str)> {
    let (n, v) = line.split_once(':')?;
    if n.is_empty() || n.contains(' ') {
        return None;
    }
    Some((n.to_ascii_lowercase(), v.trim()))
}

/// Most header lines read in one response head.
pub const MAX_HEADERS: usize = 100;

/// What a response head says: the fields the web probe records and how the body is framed
/// (RFC 9112 §6: chunked wins over `Content-Length`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// `Server`.
    pub server: Option<String>,
    /// `X-Powered-By`.
    pub powered_by: Option<String>,
    /// `Location`.
    pub location: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Length`, when it parses.
    pub length: Option<usize>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

impl Head {
    /// Takes one header line (lines that are not `Name: value` are ignored).
    pub fn line(&mut self, line: &str) {
        let Some((name, value)) = header(line) else {
            return;
        };
        let v = Some(value.to_owned());
        match name.as_str() {
            "server" => self.server = v,
            "x-powered-by" => self.powered_by = v,
            "location" => self.location = v,
            "content-type" => self.content_type = v,
            "content-length" => self.length = value.parse().ok(),
            "transfer-encoding" => self.chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
}

/// The size of a chunk from its size line (`1a`, `1A; name=value`; RFC 9112 §7.1).
pub fn chunk_size(line: &str) -> Option<usize> {
    let hex = line.split(';').next().unwrap_or("").trim();
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    usize::from_str_radix(hex, 16).ok()
}

/// Why a buffered response could not be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The first line is not `HTTP/1.x NNN …`.
    #[error("not an HTTP status line")]
    StatusLine,
    /// More than [`MAX_HEADERS`] header lines.
    #[error("more than {MAX_HEADERS} header lines")]
    TooManyHeaders,
    /// A chunk size line that is not hexadecimal.
    #[error("bad chunk size")]
    ChunkSize,
    /// The head (or a chunk size line) never ended.
    #[error("truncated response")]
    Truncated,
}

/// A response decoded from bytes held in memory, with the framing the web probe applies to
/// a stream (status line, head, then a `Content-Length`, chunked or read-to-close body of at
/// most `max_body` bytes). For tests and fuzzing; the probe reads the same way through
/// `LineConn`.
pub fn parse_response(raw: &[u8], max_body: usize) -> Result<(u16, Head, Vec<u8>), FramingError> {
    let mut rest = raw;
    let status = take_line(&mut rest).ok_or(FramingError::Truncated)?;
    let code = status_code(&status).ok_or(FramingError::StatusLine)?;
    let mut head = Head::default();
    for n in 0.. {
        if n >= MAX_HEADERS {
            return Err(FramingError::TooManyHeaders);
        }
        let l = take_line(&mut rest).ok_or(FramingError::Truncated)?;
        if l.is_empty() {
            break;
        }
        head.line(&l);
    }
    let mut body = Vec::new();
    if head.chunked {
        while body.len() < max_body {
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or(FramingError::Truncated)?;
            let size = chunk_size(&String::from_utf8_lossy(&rest[..end]))
                .ok_or(FramingError::ChunkSize)?;
            rest = &rest[end + 1..];
            if size == 0 {
                break;
            }
            let take = size.min(rest.len()).min(max_body - body.len());
            body.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if take < size {
                break;
            }
            // The CRLF after the chunk data.
            match rest.iter().position(|b| *b == b'\n') {
                Some(e) => rest = &rest[e + 1..],
                None => break,
            }
        }
    } else {
        let want = head.length.unwrap_or(usize::MAX).min(max_body);
        body.extend_from_slice(&rest[..want.min(rest.len())]);
    }
    Ok((code, head, body))
}

/// The next line of `rest` without its CR LF (lossy), advancing past it.
fn take_line(rest: &mut &[u8]) -> Option<String> {
    let end = rest.iter().position(|b| *b == b'\n')?;
    let l = String::from_utf8_lossy(&rest[..end])
        .trim_end_matches('\r')
        .to_owned();
    *rest = &rest[end + 1..];
    Some(l)
}

fn find_ci(hay: &str, needle: &str) -> bool {
    hay.to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// Recognises a directory listing and extracts its entries: see [`crate::listing::parse`].
pub fn detect_listing(body: &str) -> Option<DirListing> {
    crate::listing::parse(body)
}

pub use crate::listing::percent_decode;

/// A Git `HEAD` file: `ref: refs/…` or a bare 40/64-hex commit id.
pub fn is_git_head(body: &str) -> bool {
    let t = body.trim();
    t.starts_with("ref: refs/")
        || ((t.len() == 40 || t.len() == 64) && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A server status or information page: Apache `mod_status` / `mod_info`, nginx
/// `stub_status`, lighttpd `mod_status`.
pub fn status_page(body: &str) -> Option<&'static str> {
    if find_ci(body, "apache server status") || find_ci(body, "<h1>apache status") {
        Some("apache mod_status")
    } else if find_ci(body, "apache server information") {
        Some("apache mod_info")
    } else if body.trim_start().starts_with("Active connections:")
        && find_ci(body, "server accepts handled requests")
    {
        Some("nginx stub_status")
    } else if find_ci(body, "lighttpd") && find_ci(body, "server-status") && find_ci(body, "uptime")
    {
        Some("lighttpd mod_status")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: &str = "<html>\r\n<head><title>Index of /mail/</title></head>\r\n<body>\r\n<h1>Index of /mail/</h1><hr><pre><a href=\"../\">../</a>\r\n<a href=\"alice%40example.jp/\">alice@example.jp/</a>  24-Nov-2026 10:00 -\r\n<a href=\"cur/\">cur/</a>\r\n<a href=\"notes.txt\">notes.txt</a>\r\n</pre><hr></body>\r\n</html>\r\n";
    const APACHE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\"><html><head><title>Index of /backup</title></head><body><h1>Index of /backup</h1><table><tr><th><a href=\"?C=N;O=D\">Name</a></th></tr><tr><td><a href=\"/\">Parent Directory</a></td></tr><tr><td><a href=\"site.tar.gz\">site.tar.gz</a></td></tr></table><address>Apache/2.4.62 (Debian) Server at x Port 80</address></body></html>";
    const IIS: &str = "<html><head><title>mx - /mail/</title></head><body><H1>mx - /mail/</H1><hr><pre><A HREF=\"/\">[To Parent Directory]</A><br><br> 11/24/2026  10:00 AM        &lt;dir&gt; <A HREF=\"/mail/bob@example.jp/\">bob@example.jp</A><br></pre><hr></body></html>";

    #[test]
    fn listings() {
        let proofs = |l: &DirListing| -> Vec<String> {
            crate::listing::mail_proofs([("/mail/", l)])
                .into_iter()
                .map(|p| p.path)
                .collect()
        };
        let n = detect_listing(NGINX).unwrap();
        assert_eq!(n.flavour, "nginx");
        assert_eq!(n.entries, ["alice%40example.jp/", "cur/", "notes.txt"]);
        assert_eq!(proofs(&n), ["/mail/alice@example.jp/"]);
        let a = detect_listing(APACHE).unwrap();
        assert_eq!(a.flavour, "apache-table");
        assert_eq!(a.entries, ["site.tar.gz"]);
        assert!(proofs(&a).is_empty());
        let i = detect_listing(IIS).unwrap();
        assert_eq!(i.flavour, "iis");
        assert_eq!(i.entries, ["/mail/bob@example.jp/"]);
        assert_eq!(proofs(&i), ["/mail/bob@example.jp/"]);
        let g = detect_listing("<title>Index of /</title><a href=x.eml>x</a>").unwrap();
        assert_eq!(g.flavour, "generic");
        assert_eq!(proofs(&g), ["/mail/x.eml"]);
        assert!(detect_listing("<html><title>Welcome to nginx!</title></html>").is_none());
        assert!(detect_listing("").is_none());
    }

    #[test]
    fn hostile_bodies_are_bounded() {
        let many = "<title>Index of /</title>".to_owned() + &"<a href=\"a@b.c/\">".repeat(5000);
        assert_eq!(detect_listing(&many).unwrap().entries.len(), MAX_ENTRIES);
        assert!(detect_listing("<title>index of /</title><a href=\"unterminated").is_some());
        assert!(detect_listing("<title>index of /</title>href=").is_some());
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("a%40b%zz"), "a@b%zz");
    }

    /// Parsers of network input never panic: pseudo-random text built from the tokens they
    /// look for, multi-byte characters and quotes (deterministic, no extra dependency).
    #[test]
    fn never_panics_on_arbitrary_text() {
        let tokens = [
            "href=",
            "\"",
            "'",
            "<title>Index of ",
            "<hr><pre>",
            "%4",
            "%40",
            "@",
            "/",
            "é",
            "日",
            "\u{fffd}",
            ">",
            " ",
            "[CAPABILITY ",
            "AUTH=",
            "CAPABILITY ",
            "HTTP/1.1 ",
            "200",
            ":",
            "[To Parent Directory]",
            "cur/",
            "..",
            "?C=N;O=D",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(tokens[(x % tokens.len() as u64) as usize]);
            }
            if let Some(l) = detect_listing(&s) {
                assert!(l.entries.len() <= MAX_ENTRIES);
                let _ = crate::listing::mail_proofs([("/", &l)]);
                let mut d = crate::listing::Descent::new(["/"]);
                d.add_page(&s, 0, &l);
                while d.next_page().is_some() {}
            }
            let _ = (
                status_code(&s),
                header(&s),
                is_git_head(&s),
                status_page(&s),
            );
            let _ = percent_decode(&s);
            let _ = crate::listing::mask_addresses(&s);
            let _ = crate::listing::child_dir("/", &s);
            let _ = crate::mailbox::imap_capabilities(&s);
            let caps = vec![s.clone()];
            let _ =
                crate::mailbox::plaintext_login_methods(crate::model::MailboxProtocol::Imap, &caps);
            let _ =
                crate::mailbox::plaintext_login_methods(crate::model::MailboxProtocol::Pop3, &caps);
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        }
    }

    #[test]
    fn responses_are_framed_by_length_chunks_or_close() {
        let (code, head, body) = parse_response(
            b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 5\r\n\r\nhello world",
            1024,
        )
        .unwrap();
        assert_eq!(
            (code, head.server.as_deref(), &body[..]),
            (200, Some("nginx/1.22.1"), &b"hello"[..])
        );
        let (_, head, body) = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            1024,
        )
        .unwrap();
        assert!(head.chunked);
        assert_eq!(body, b"hello world");
        // The cap holds for every framing.
        let (_, _, body) = parse_response(b"HTTP/1.0 200 OK\r\n\r\nabcdef", 3).unwrap();
        assert_eq!(body, b"abc");
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                9
            ),
            Err(FramingError::ChunkSize)
        );
        assert_eq!(
            parse_response(b"SSH-2.0-x\r\n", 9),
            Err(FramingError::StatusLine)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nA: b", 9),
            Err(FramingError::Truncated)
        );
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(
            parse_response(many.as_bytes(), 9),
            Err(FramingError::TooManyHeaders)
        );
        assert_eq!(chunk_size("1A ; ext"), Some(26));
        assert_eq!(chunk_size("ffffffffffffffffff"), None);
        assert_eq!(chunk_size(""), None);
    }

    #[test]
    fn status_lines_and_pages() {
        assert_eq!(status_code("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status_code("HTTP/1.0 404"), Some(404));
        assert_eq!(status_code("SSH-2.0-OpenSSH"), None);
        assert_eq!(status_code("HTTP/1.1 99999 x"), None);
        assert_eq!(
            header("Server: nginx/1.22.1"),
            Some(("server".into(), "nginx/1.22.1"))
        );
        assert_eq!(header("bad line"), None);
        assert!(is_git_head("ref: refs/heads/main\n"));
        assert!(is_git_head("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_git_head("<html>ref: refs/heads/main"));
        assert_eq!(
            status_page("Active connections: 1 \nserver accepts handled requests\n 1 1 1\n"),
            Some("nginx stub_status")
        );
        assert_eq!(
            status_page("<title>Apache Status</title><h1>Apache Server Status for x</h1>"),
            Some("apache mod_status")
        );
        assert_eq!(status_page("<h1>Not Found</h1>"), None);
    }
}
