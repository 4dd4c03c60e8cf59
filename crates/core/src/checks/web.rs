//! Findings about web services on mail hosts and web hosts: directory listings (and those
//! that expose mailboxes), an exposed `.git`, status pages, and what the headers disclose.

use super::service;
use crate::finding::{Finding, Severity};
use crate::http::{is_git_head, status_page};
use crate::listing::{self, mask_addresses};
use crate::model::{DirListing, HttpExchange, WebObservation};
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

/// One finding per listing tree: a listing page not below another one, with every page the
/// descent read below it. Mail anywhere in the tree makes it `web.mailbox_listing`.
fn listings(ip: IpAddr, w: &WebObservation) -> Vec<Finding> {
    let pages: Vec<(String, &HttpExchange, &DirListing)> = w
        .exchanges
        .iter()
        .filter(|e| e.status_code == Some(200))
        .filter_map(|e| Some((listing::dir_path(&e.path), e, e.listing.as_ref()?)))
        .collect();
    let mut out = Vec::new();
    let mut roots: Vec<&str> = Vec::new();
    for (base, e, l) in &pages {
        let below_another = pages
            .iter()
            .any(|(other, _, _)| base.len() > other.len() && base.starts_with(other.as_str()));
        if below_another || roots.contains(&base.as_str()) {
            continue;
        }
        roots.push(base);
        let tree: Vec<(&str, &DirListing)> = pages
            .iter()
            .filter(|(p, _, _)| p.starts_with(base.as_str()))
            .map(|(p, _, l)| (p.as_str(), *l))
            .collect();
        let proofs = listing::mail_proofs(tree.iter().copied());
        let mut ev = exchange_evidence(e);
        ev.push(mask_addresses(&format!(
            "listing ({}): {}",
            l.flavour,
            listing::items(l)
                .iter()
                .take(20)
                .map(|i| if i.dir {
                    format!("{}/", i.name)
                } else {
                    i.name.clone()
                })
                .collect::<Vec<_>>()
                .join(" ")
        )));
        if tree.len() > 1 {
            ev.push(format!(
                "listing pages read below it: {} (at most {} levels down, listing pages only)",
                tree.len() - 1,
                listing::MAX_DEPTH
            ));
        }
        let at = mask_addresses(&url(w, ip, &e.path));
        if proofs.is_empty() {
            out.push(
                Finding::new(
                    "web.dir_listing",
                    Severity::Medium,
                    service(ip, w.port),
                    format!("Directory listing at {at}"),
                    "Turn directory listings off (nginx: autoindex off; Apache: Options -Indexes; lighttpd: dir-listing.activate = \"disable\"; IIS: directoryBrowse enabled=\"false\") and check what the directory should serve at all.",
                )
                .with_evidence(ev),
            );
        } else {
            ev.extend(proofs.iter().take(20).map(|p| {
                let size = tree
                    .iter()
                    .flat_map(|(page, l)| {
                        listing::items(l).into_iter().filter(move |i| {
                            !i.dir
                                && format!(
                                    "{}{}",
                                    listing::dir_path(&listing::percent_decode(page)),
                                    i.name
                                ) == p.path
                        })
                    })
                    .find_map(|i| i.size)
                    .map(|s| format!(", {s} bytes"))
                    .unwrap_or_default();
                mask_addresses(&format!("mail: {} ({}{size})", p.path, p.sign.as_str()))
            }));
            out.push(
                Finding::new(
                    "web.mailbox_listing",
                    Severity::Critical,
                    service(ip, w.port),
                    format!("Directory listing exposing mailboxes at {at}: anyone can read this mail"),
                    "Block this path now (deny all), turn listings off, move mail stores outside every document root, and find out who has already fetched them from the access logs.",
                )
                .with_evidence(ev),
            );
        }
    }
    out
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
    out.extend(listings(ip, w));
    for e in w.exchanges.iter().filter(ok) {
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
    use crate::model::ProbeStatus;

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
                items: Vec::new(),
            }),
            depth: 0,
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
        // A listing at / whose pages lead down to a Maildir: one critical finding for the
        // tree, at its root, with the proving paths masked.
        let mut deep = ex(
            "/home/example.jp/taro@example.jp/",
            200,
            "",
            Some(vec!["cur/", "new/", "tmp/"]),
        );
        deep.depth = 2;
        let f = check(
            ip,
            &web(vec![
                ex("/", 200, "", Some(vec!["a.txt", "home/"])),
                ex("/home/", 200, "", Some(vec!["example.jp/"])),
                ex(
                    "/home/example.jp/",
                    200,
                    "",
                    Some(vec!["taro%40example.jp/"]),
                ),
                deep,
                ex("/backup/", 200, "", Some(vec!["site.tar.gz"])),
            ]),
        );
        assert_eq!(ids(&f), ["web.mailbox_listing"]);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].title.contains("http://www.example.jp/ "),
            "{}",
            f[0].title
        );
        let ev = f[0].evidence.join("\n");
        assert!(
            ev.contains("mail: /home/example.jp/t***@example.jp/ (address-named)"),
            "{ev}"
        );
        assert!(ev.contains("listing pages read below it: 4"), "{ev}");
        assert!(!ev.contains("taro"), "addresses are masked: {ev}");
        // The same tree without the mail: one medium finding.
        let f = check(
            ip,
            &web(vec![
                ex("/", 200, "", Some(vec!["a.txt", "home/"])),
                ex("/home/", 200, "", Some(vec!["example.jp/"])),
            ]),
        );
        assert_eq!(ids(&f), ["web.dir_listing"]);
        assert_eq!(f[0].severity, Severity::Medium);
        // Two separate trees (no listing at /): judged apart.
        let f = check(
            ip,
            &web(vec![
                ex("/", 200, "<h1>hi</h1>", None),
                ex("/backup/", 200, "", Some(vec!["a.txt"])),
                ex("/mail/", 200, "", Some(vec!["bob@example.jp/", "cur/"])),
            ]),
        );
        assert_eq!(ids(&f), ["web.dir_listing", "web.mailbox_listing"]);
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
