//! Findings about web services on mail hosts and web hosts: directory listings (and those
//! that expose mailboxes), an exposed `.git`, status pages, and what the headers disclose.

use super::service;
use crate::finding::{Finding, Severity};
use crate::http::{is_git_head, mailbox_entries, status_page};
use crate::model::{HttpExchange, WebObservation};
use std::net::IpAddr;

fn url(w: &WebObservation, ip: IpAddr, path: &str) -> String {
    let scheme = if w.https { "https" } else { "http" };
    let host = w
        .host
        .clone()
        .unwrap_or_else(|| std::net::SocketAddr::new(ip, w.port).to_string());
    format!(
        "{scheme}://{host}{path} (at {})",
        std::net::SocketAddr::new(ip, w.port)
    )
}

fn exchange_evidence(e: &HttpExchange) -> Vec<String> {
    let mut v = vec![format!("C: GET {}", e.path)];
    if let Some(s) = &e.status_line {
        v.push(format!("S: {s}"));
    }
    if let Some(s) = &e.server {
        v.push(format!("S: Server: {s}"));
    }
    v
}

pub(super) fn check(ip: IpAddr, w: &WebObservation) -> Vec<Finding> {
    let subject = || service(ip, w.port);
    let mut out = Vec::new();
    if w.status != crate::model::ProbeStatus::Success
        && w.exchanges.iter().all(|e| e.status_code.is_none())
    {
        return out;
    }
    let ok = |e: &&HttpExchange| e.status_code == Some(200);
    for e in w.exchanges.iter().filter(ok) {
        if let Some(l) = &e.listing {
            let mailboxes = mailbox_entries(l);
            let mut ev = exchange_evidence(e);
            ev.push(format!(
                "listing ({}): {}",
                l.flavour,
                l.entries
                    .iter()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            if mailboxes.is_empty() {
                out.push(
                    Finding::new(
                        "web.dir_listing",
                        Severity::Medium,
                        subject(),
                        format!("Directory listing at {}", url(w, ip, &e.path)),
                        "Turn directory listings off (nginx: autoindex off; Apache: Options -Indexes; IIS: directoryBrowse enabled=\"false\") and check what the directory should serve at all.",
                    )
                    .with_evidence(ev),
                );
            } else {
                ev.push(format!(
                    "mailbox-like entries: {}",
                    mailboxes
                        .iter()
                        .take(20)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
                out.push(
                    Finding::new(
                        "web.mailbox_listing",
                        Severity::Critical,
                        subject(),
                        format!("Directory listing exposing mailboxes at {}: anyone can read this mail", url(w, ip, &e.path)),
                        "Block this path now (deny all), turn listings off, move mail stores outside every document root, and find out who has already fetched them from the access logs.",
                    )
                    .with_evidence(ev),
                );
            }
        }
        if e.path.ends_with("/.git/HEAD") && is_git_head(&e.excerpt) {
            let mut ev = exchange_evidence(e);
            ev.push(format!("S: {}", e.excerpt.lines().next().unwrap_or("")));
            out.push(
                Finding::new(
                    "web.git_exposed",
                    Severity::High,
                    subject(),
                    format!("Git repository exposed at {}", url(w, ip, &e.path)),
                    "Deny access to /.git (nginx: location ~ /\\.git { deny all; }) or deploy without the repository; treat any secrets in its history as leaked.",
                )
                .with_evidence(ev),
            );
        }
        if (e.path.ends_with("/server-status") || e.path.ends_with("/server-info"))
            && let Some(kind) = status_page(&e.excerpt)
        {
            let mut ev = exchange_evidence(e);
            ev.extend(e.excerpt.lines().take(4).map(|l| format!("S: {l}")));
            out.push(
                Finding::new(
                    "web.server_status",
                    Severity::Medium,
                    subject(),
                    format!("Server status page ({kind}) open at {}", url(w, ip, &e.path)),
                    "Restrict status pages to localhost or the monitoring host (Apache: Require local; nginx: allow 127.0.0.1; deny all;).",
                )
                .with_evidence(ev),
            );
        }
    }
    let first = w.exchanges.iter().find(|e| e.status_code.is_some());
    if let Some(e) = first {
        let mut disclosed = Vec::new();
        if let Some(s) = e
            .server
            .as_ref()
            .filter(|s| s.bytes().any(|b| b.is_ascii_digit()))
        {
            disclosed.push(format!("S: Server: {s}"));
        }
        if let Some(p) = &e.powered_by {
            disclosed.push(format!("S: X-Powered-By: {p}"));
        }
        if !disclosed.is_empty() {
            out.push(
                Finding::new(
                    "web.version_disclosed",
                    Severity::Low,
                    subject(),
                    format!("Web server on port {} discloses its software version", w.port),
                    "Hide version details (nginx: server_tokens off; Apache: ServerTokens Prod; PHP: expose_php = Off) and keep the software patched.",
                )
                .with_evidence(disclosed),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DirListing, ProbeStatus};

    fn ex(path: &str, code: u16, excerpt: &str, listing: Option<Vec<&str>>) -> HttpExchange {
        HttpExchange {
            path: path.into(),
            status_code: Some(code),
            status_line: Some(format!("HTTP/1.1 {code} X")),
            server: Some("nginx".into()),
            powered_by: None,
            location: None,
            content_type: None,
            body_bytes: excerpt.len() as u64,
            truncated: false,
            excerpt: excerpt.into(),
            listing: listing.map(|e| DirListing {
                flavour: "nginx".into(),
                entries: e.into_iter().map(String::from).collect(),
            }),
            error: None,
        }
    }
    fn web(exchanges: Vec<HttpExchange>) -> WebObservation {
        WebObservation {
            port: 80,
            https: false,
            host: Some("www.example.jp".into()),
            status: ProbeStatus::Success,
            detail: None,
            tls: None,
            exchanges,
            elapsed_ms: 1,
        }
    }
    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn web_findings() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(check(ip, &web(vec![ex("/", 200, "<h1>hi</h1>", None)])).is_empty());
        let f = check(
            ip,
            &web(vec![
                ex("/", 200, "", Some(vec!["a.txt"])),
                ex("/mail/", 200, "", Some(vec!["bob@example.jp/", "cur/"])),
            ]),
        );
        assert_eq!(ids(&f), ["web.dir_listing", "web.mailbox_listing"]);
        assert_eq!(f[1].severity, Severity::Critical);
        assert!(
            f[1].title.contains("http://www.example.jp/mail/"),
            "{}",
            f[1].title
        );
        assert!(
            check(
                ip,
                &web(vec![ex("/mail/", 404, "", Some(vec!["bob@example.jp/"]))])
            )
            .is_empty()
        );
        assert_eq!(
            ids(&check(
                ip,
                &web(vec![ex("/.git/HEAD", 200, "ref: refs/heads/main\n", None)])
            )),
            ["web.git_exposed"]
        );
        assert!(
            check(
                ip,
                &web(vec![ex("/.git/HEAD", 200, "<html>soft 404</html>", None)])
            )
            .is_empty()
        );
        assert_eq!(
            ids(&check(
                ip,
                &web(vec![ex(
                    "/server-status",
                    200,
                    "<h1>Apache Server Status for x</h1>",
                    None
                )])
            )),
            ["web.server_status"]
        );
        let mut v = ex("/", 200, "", None);
        v.server = Some("nginx/1.22.1".into());
        assert_eq!(
            ids(&check(ip, &web(vec![v.clone()]))),
            ["web.version_disclosed"]
        );
        v.server = Some("nginx".into());
        v.powered_by = Some("PHP/8.2.1".into());
        assert_eq!(ids(&check(ip, &web(vec![v]))), ["web.version_disclosed"]);
    }
}
