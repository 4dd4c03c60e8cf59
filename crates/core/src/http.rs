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
