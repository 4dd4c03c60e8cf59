//! Directory listings over nested mail stores on the web servers the world runs them on:
//! nginx autoindex, Apache mod_autoindex (HTMLTable, fancy `<pre>`, plain), lighttpd
//! mod_dirlisting and Python's http.server, plus a software download tree without mail
//! (`.ci/webstores.sh`; CI sets MXRAY_TEST_WEBSTORES to the folder it started them in). The
//! verdicts are asserted through the JSONL export; the requests each server received are
//! counted in its own access log.

use crate::harness::*;
use serde_json::Value;

/// (domain, its web host's address, server and configuration, expected finding, a proving
/// path the evidence must show, masked).
const STORES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "ws-nginx.lab",
        "127.0.81.1",
        "nginx autoindex",
        "web.mailbox_listing",
        "mail: /home/example.jp/hanako/Maildir/ (Maildir)",
    ),
    (
        "ws-apache-table.lab",
        "127.0.81.2",
        "Apache FancyIndexing HTMLTable",
        "web.mailbox_listing",
        "mail: /users/t***@example.jp/ (address-named)",
    ),
    (
        "ws-apache-plain.lab",
        "127.0.81.3",
        "Apache IndexOptions -FancyIndexing",
        "web.mailbox_listing",
        "mail: /vmail/example.jp/jiro/Inbox (mbox file)",
    ),
    (
        "ws-lighttpd.lab",
        "127.0.81.4",
        "lighttpd dir-listing",
        "web.mailbox_listing",
        "mail: /archive/example.jp/2026-11/0001.eml (message file, 102 bytes)",
    ),
    (
        "ws-apache-fancy.lab",
        "127.0.81.5",
        "Apache FancyIndexing <pre>",
        "web.mailbox_listing",
        "mail: /backup/home/hanako/Maildir/ (Maildir)",
    ),
    (
        "ws-software.lab",
        "127.0.81.6",
        "nginx autoindex, software downloads",
        "web.dir_listing",
        "listing pages read below it: 7",
    ),
    (
        "ws-python.lab",
        "127.0.81.7",
        "python3 -m http.server",
        "web.mailbox_listing",
        "mail: /srv/mail/s***@example.jp/ (address-named)",
    ),
];

/// Requests in a server's access log (`GET`/`HEAD` lines).
fn logged(dir: &std::path::Path, ip: &str) -> Vec<String> {
    let file = if ip == "127.0.81.4" {
        dir.join("lig").join(format!("{ip}-access.log"))
    } else {
        dir.join(format!("{ip}-access.log"))
    };
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .lines()
        .filter(|l| l.contains("\"GET ") || l.contains("\"HEAD "))
        .map(str::to_owned)
        .collect()
}

fn web_findings<'a>(host: &'a Value, id: &str) -> Vec<&'a Value> {
    host["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["id"] == id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nested_mail_stores_under_nginx_apache_lighttpd_python_are_critical() {
    let Some(dir) = std::env::var_os("MXRAY_TEST_WEBSTORES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must start .ci/webstores.sh and set MXRAY_TEST_WEBSTORES"
        );
        eprintln!(
            "SKIPPED: real web servers (run .ci/webstores.sh start DIR and set MXRAY_TEST_WEBSTORES=DIR)"
        );
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let before: Vec<usize> = STORES.iter().map(|s| logged(&dir, s.1).len()).collect();
    let names: Vec<String> = STORES.iter().map(|s| format!("www.{}", s.0)).collect();
    let lab = crate::exposure::lab_with(
        [127, 77, 181],
        vec![],
        vec![],
        names
            .iter()
            .zip(STORES)
            .map(|(n, s)| (n.as_str(), s.1))
            .collect(),
    )
    .await;
    let domains: Vec<&str> = STORES.iter().map(|s| s.0).collect();
    let (_dir, _db, ex) =
        crate::exposure::scan_keep(&lab, &domains, &["http=8080", "https=8443"], &[]).await;

    for (i, (domain, ip, server, id, proof)) in STORES.iter().enumerate() {
        let host = ex
            .host(ip)
            .unwrap_or_else(|| panic!("{server}: {ip} not probed"));
        let subject = format!("{ip}:8080");
        let found = web_findings(host, id);
        assert_eq!(found.len(), 1, "{server}: {id} once: {}", host["findings"]);
        let f = found[0];
        assert_eq!(f["subject"]["name"], subject.as_str(), "{server}: {f}");
        assert!(
            f["title"]
                .as_str()
                .unwrap()
                .contains(&format!("http://www.{domain}/ ")),
            "{server}: the finding names the listing at /: {f}"
        );
        let other = if *id == "web.dir_listing" {
            "web.mailbox_listing"
        } else {
            "web.dir_listing"
        };
        assert!(
            web_findings(host, other).is_empty(),
            "{server}: no {other}: {}",
            host["findings"]
        );
        let sev = if *id == "web.dir_listing" {
            "medium"
        } else {
            "critical"
        };
        assert_eq!(f["severity"], sev, "{server}: {f}");
        let ev = evidence(f);
        assert!(
            ev.iter().any(|l| l.starts_with(proof)),
            "{server}: evidence shows {proof:?}: {ev:?}"
        );
        assert!(
            !ev.iter()
                .any(|l| ["taro@", "hanako@", "jiro@", "shiro@", "saburo@"]
                    .iter()
                    .any(|a| l.contains(a))),
            "{server}: addresses masked: {ev:?}"
        );

        // Requests: at most 30 per host, listing pages only (never a mail file), each one
        // in the server's own log.
        let web = host["observation"]["web"]
            .as_array()
            .expect("web observations");
        let exchanges: Vec<&Value> = web
            .iter()
            .flat_map(|w| w["exchanges"].as_array().into_iter().flatten())
            .collect();
        assert!(
            exchanges.len() <= 30,
            "{server}: {} requests",
            exchanges.len()
        );
        let answered: Vec<&Value> = web
            .iter()
            .filter(|w| w["port"] == 8080)
            .flat_map(|w| w["exchanges"].as_array().into_iter().flatten())
            .filter(|e| e["status_code"].is_number())
            .collect();
        // lighttpd buffers its access log for a moment: read until the lines are there (or
        // five seconds passed; the count is asserted either way).
        let mut log = logged(&dir, ip);
        for _ in 0..100 {
            if log.len() >= before[i] + answered.len() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            log = logged(&dir, ip);
        }
        let new = &log[before[i]..];
        assert_eq!(new.len(), answered.len(), "{server}: log {new:?}");
        assert!(new.len() <= 30, "{server}: {} requests logged", new.len());
        let descended: Vec<&Value> = answered
            .iter()
            .copied()
            .filter(|e| e["depth"].as_u64().unwrap_or(0) > 0)
            .collect();
        assert!(!descended.is_empty(), "{server}: the listing was descended");
        for e in &descended {
            let path = e["path"].as_str().unwrap();
            assert!(path.ends_with('/'), "{server}: only listing pages: {path}");
            assert!(e["depth"].as_u64().unwrap() <= 3, "{server}: {e}");
        }
        for l in new {
            assert!(
                ![".eml", "Inbox", "/cur/1", "dovecot.index", ".tar.gz"]
                    .iter()
                    .any(|f| l.contains(f)),
                "{server}: a file was requested: {l}"
            );
        }
    }
    // The listing pages carry parsed entries (name, directory, size).
    let lig = ex.host("127.0.81.4").unwrap();
    let items: Vec<&Value> = lig["observation"]["web"][0]["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["listing"]["items"].as_array())
        .flatten()
        .filter(|i| i["name"] == "0001.eml")
        .collect();
    assert_eq!(items.len(), 1, "{lig}");
    assert_eq!(items[0]["size"], 102);
    assert_eq!(items[0]["dir"], false);
}
