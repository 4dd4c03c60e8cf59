//! The exposure probes against real servers from Debian's packages on loopback (started by
//! `.ci/dovecot.sh`, `.ci/nginx.sh`, `.ci/bind.sh`; CI sets MXRAY_TEST_DOVECOT, _NGINX, _BIND)
//! and against in-test servers for what needs no real one. Each finding is asserted against
//! the server that shows it, and its absence against the one that does not.

use crate::harness::*;
use crate::harness::{finding_ids as ids, real_server as available};
use mxray_lab::{Lab, LabOptions};
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) async fn lab_with(
    net: [u8; 3],
    extra: Vec<(&str, &str, &str)>,
    extra_ns: Vec<(&str, &str, &str)>,
    extra_addr: Vec<(&str, &str)>,
) -> Lab {
    let own = |v: Vec<(&str, &str, &str)>| {
        v.into_iter()
            .map(|(a, b, c)| (a.to_owned(), b.to_owned(), ip(c)))
            .collect()
    };
    Lab::start(LabOptions {
        net,
        tarpit_delay: Duration::from_secs(6),
        extra: own(extra),
        extra_ns: own(extra_ns),
        extra_addr: extra_addr
            .into_iter()
            .map(|(n, a)| (n.to_owned(), ip(a)))
            .collect(),
        ..LabOptions::default()
    })
    .await
    .expect("lab starts on loopback")
}

/// Scans `domains` with every port moved to where the test servers listen (or where nothing
/// does) and returns the export.
async fn scan(lab: &Lab, domains: &[&str], ports: &[&str], extra: &[&str]) -> Export {
    scan_keep(lab, domains, ports, extra).await.2
}

/// [`scan`], keeping the database (and the folder holding it) for more commands.
pub(crate) async fn scan_keep(
    lab: &Lab,
    domains: &[&str],
    ports: &[&str],
    extra: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf, Export) {
    let dir = temp();
    let db = dir.path().join("x.db");
    let list = write(dir.path(), "d.txt", &domains.join("\n"));
    let mut args = vec![
        "scan".to_owned(),
        list.display().to_string(),
        "--resolver".into(),
        lab.dns.addr.to_string(),
        "--allow-loopback".into(),
        "--no-relay-test".into(),
        "--host-deadline".into(),
        "60".into(),
        "--db".into(),
        db.display().to_string(),
    ];
    if !extra.contains(&"--timeout") {
        args.extend(["--timeout".to_owned(), "5".to_owned()]);
    }
    // Defaults point at ports nothing listens on in the tests (refused at once).
    let defaults = [
        "smtp=2599",
        "pop3=2110",
        "imap=2143",
        "pop3s=2995",
        "imaps=2993",
        "http=2080",
        "https=2443",
        "dns=2053",
        "ssh=2022",
    ];
    for p in defaults.iter().chain(ports) {
        args.push("--port".into());
        args.push((*p).to_owned());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ex = Export::read(&db);
    (dir, db, ex)
}

fn findings_on<'a>(line: &'a Value, id: &str, subject: &str) -> Vec<&'a Value> {
    line["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["id"] == id && f["subject"]["name"] == subject)
                .collect()
        })
        .unwrap_or_default()
}

fn caps(m: &Value, field: &str) -> Vec<String> {
    m[field]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dovecot_plaintext_login_is_found_only_where_allowed() {
    if !available("MXRAY_TEST_DOVECOT", ".ci/dovecot.sh") {
        return;
    }
    let lab = lab_with(
        [127, 77, 10],
        vec![
            (
                "mxray-dovecot-plain.lab",
                "imap-plain.mxray-dovecot.lab",
                "127.0.110.1",
            ),
            (
                "mxray-dovecot-tls.lab",
                "imap-tls.mxray-dovecot.lab",
                "127.0.110.2",
            ),
        ],
        vec![],
        vec![],
    )
    .await;
    let ex = scan(
        &lab,
        &["mxray-dovecot-plain.lab", "mxray-dovecot-tls.lab"],
        &["pop3=1110", "imap=1143", "pop3s=1995", "imaps=1993"],
        &[],
    )
    .await;

    let plain = ex.host("127.0.110.1").expect("plain Dovecot probed");
    let mb = plain["observation"]["mailbox"]
        .as_array()
        .expect("mailbox observations");
    assert_eq!(mb.len(), 4, "{mb:?}");
    let imap = mb.iter().find(|m| m["port"] == 1143).unwrap();
    assert_eq!(imap["status"], "success", "{imap}");
    assert!(
        imap["greeting"].as_str().unwrap().contains("Dovecot"),
        "{imap}"
    );
    assert_eq!(imap["starttls"]["result"], "established", "{imap}");
    assert!(
        !caps(imap, "capabilities")
            .iter()
            .any(|c| c == "LOGINDISABLED"),
        "{imap}"
    );
    for port in ["1143", "1110"] {
        let f = findings_on(
            plain,
            "mailbox.plaintext_login",
            &format!("127.0.110.1:{port}"),
        );
        assert_eq!(f.len(), 1, "plaintext login on {port}: {:?}", ids(plain));
        assert_eq!(f[0]["severity"], "high");
    }
    let ev = evidence(findings_on(plain, "mailbox.plaintext_login", "127.0.110.1:1110")[0]);
    assert!(ev.iter().any(|l| l == "S: USER"), "{ev:?}");
    // Implicit TLS: the self-signed test certificate, no plaintext finding.
    assert!(!findings_on(plain, "tls.self_signed", "127.0.110.1:1993").is_empty());
    assert!(findings_on(plain, "mailbox.plaintext_login", "127.0.110.1:1993").is_empty());

    let tls = ex.host("127.0.110.2").expect("TLS-only Dovecot probed");
    assert!(
        !ids(tls).iter().any(|i| i == "mailbox.plaintext_login"),
        "{:?}",
        ids(tls)
    );
    let mb = tls["observation"]["mailbox"].as_array().unwrap();
    let imap = mb.iter().find(|m| m["port"] == 1143).unwrap();
    assert!(
        caps(imap, "capabilities")
            .iter()
            .any(|c| c == "LOGINDISABLED"),
        "{imap}"
    );
    assert!(
        caps(imap, "capabilities_tls")
            .iter()
            .any(|c| c == "AUTH=PLAIN"),
        "{imap}"
    );
    let pop3 = mb.iter().find(|m| m["port"] == 1110).unwrap();
    assert!(
        !caps(pop3, "capabilities").iter().any(|c| c == "USER"),
        "{pop3}"
    );
    assert_eq!(pop3["starttls"]["result"], "established", "{pop3}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nginx_listing_of_a_mail_store_is_critical() {
    if !available("MXRAY_TEST_NGINX", ".ci/nginx.sh") {
        return;
    }
    let lab = lab_with(
        [127, 77, 11],
        vec![],
        vec![],
        vec![
            ("www.mxray-nginx-open.lab", "127.0.80.1"),
            ("www.mxray-nginx-clean.lab", "127.0.80.2"),
        ],
    )
    .await;
    let ex = scan(
        &lab,
        &["mxray-nginx-open.lab", "mxray-nginx-clean.lab"],
        &["http=8080", "https=8443"],
        &[],
    )
    .await;

    let open = ex.host("127.0.80.1").expect("open nginx probed");
    assert_eq!(open["observation"]["roles"][0], "web");
    let web = &open["observation"]["web"][0];
    assert_eq!(web["host"], "www.mxray-nginx-open.lab");
    assert!(web["exchanges"].as_array().unwrap().len() <= 10);
    let s = "127.0.80.1:8080";
    let crit = findings_on(open, "web.mailbox_listing", s);
    assert_eq!(crit.len(), 1, "{:?}", ids(open));
    assert_eq!(crit[0]["severity"], "critical");
    // One listing tree from / (with /mail/ and /backup/ below it): one finding at its root,
    // the proving paths with the addresses masked.
    assert!(
        crit[0]["title"]
            .as_str()
            .unwrap()
            .contains("http://www.mxray-nginx-open.lab/ "),
        "{}",
        crit[0]
    );
    let ev = evidence(crit[0]);
    assert!(
        ev.iter()
            .any(|l| l.starts_with("mail: /mail/a***@mxray-nginx.lab/ (address-named)")),
        "{ev:?}"
    );
    assert!(!ev.iter().any(|l| l.contains("alice@")), "{ev:?}");
    assert!(
        ev.iter()
            .any(|l| l.starts_with("listing (nginx): ") && l.contains("backup/")),
        "{ev:?}"
    );
    assert!(
        findings_on(open, "web.dir_listing", s).is_empty(),
        "{:?}",
        ids(open)
    );
    assert_eq!(
        findings_on(open, "web.git_exposed", s).len(),
        1,
        "{:?}",
        ids(open)
    );
    assert_eq!(
        findings_on(open, "web.server_status", s).len(),
        1,
        "{:?}",
        ids(open)
    );
    let v = findings_on(open, "web.version_disclosed", s);
    assert!(
        evidence(v[0])
            .iter()
            .any(|l| l.starts_with("S: Server: nginx/1.")),
        "{v:?}"
    );
    // The same over TLS, with the self-signed certificate.
    assert_eq!(
        findings_on(open, "web.mailbox_listing", "127.0.80.1:8443").len(),
        1
    );
    assert!(!findings_on(open, "tls.self_signed", "127.0.80.1:8443").is_empty());
    // Self-signed AND for another name (CN=mxray-test.lab): both are reported.
    let other = findings_on(open, "tls.name_mismatch", "127.0.80.1:8443");
    assert_eq!(other.len(), 1, "{:?}", ids(open));
    assert!(
        other[0]["title"]
            .as_str()
            .unwrap()
            .contains("www.mxray-nginx-open.lab"),
        "{}",
        other[0]
    );

    let clean = ex.host("127.0.80.2").expect("clean nginx probed");
    let web = &clean["observation"]["web"][0];
    assert_eq!(web["exchanges"][0]["status_code"], 200, "{web}");
    assert_eq!(web["exchanges"][0]["server"], "nginx", "{web}");
    for id in [
        "web.mailbox_listing",
        "web.dir_listing",
        "web.git_exposed",
        "web.server_status",
        "web.version_disclosed",
    ] {
        assert!(
            !ids(clean).iter().any(|i| i == id),
            "{id} on the clean site: {:?}",
            ids(clean)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_bind_disclosure_recursion_axfr_and_lame_delegation() {
    if !available("MXRAY_TEST_BIND", ".ci/bind.sh") {
        return;
    }
    let lab = lab_with(
        [127, 77, 12],
        vec![],
        vec![
            (
                "mxray-bind-open.lab",
                "ns.mxray-bind-open.lab",
                "127.0.53.1",
            ),
            (
                "mxray-bind-closed.lab",
                "ns.mxray-bind-closed.lab",
                "127.0.53.2",
            ),
            (
                "mxray-bind-lame.lab",
                "ns.mxray-bind-lame.lab",
                "127.0.53.2",
            ),
        ],
        vec![],
    )
    .await;
    let ex = scan(
        &lab,
        &[
            "mxray-bind-open.lab",
            "mxray-bind-closed.lab",
            "mxray-bind-lame.lab",
        ],
        &["dns=5300"],
        &["--recursion-name", "probe.recursion.lab"],
    )
    .await;

    let open = ex.host("127.0.53.1").expect("open BIND probed");
    let s = "127.0.53.1:5300";
    let v = findings_on(open, "dns.version_disclosed", s);
    assert_eq!(v.len(), 1, "{:?}", ids(open));
    assert!(evidence(v[0])[0].contains("9.18"), "{:?}", evidence(v[0]));
    let r = findings_on(open, "dns.open_recursion", s);
    assert_eq!(r.len(), 1, "{}", open["observation"]["dns_server"]);
    assert!(
        evidence(r[0]).iter().any(|l| l.contains("127.0.53.99")),
        "{:?}",
        evidence(r[0])
    );
    // Authoritative for the zone that led to it, and recursing for anyone.
    assert!(
        r[0]["title"]
            .as_str()
            .unwrap()
            .contains("authoritative for mxray-bind-open.lab"),
        "{}",
        r[0]
    );
    // Zone transfers are the name server's (tried on the zones that led to it).
    let axfr = findings_on(open, "dns.axfr_allowed", s);
    assert_eq!(axfr.len(), 1, "{:?}", ids(open));
    assert!(
        evidence(axfr[0])
            .iter()
            .any(|l| l.contains("secret-intranet")),
        "{}",
        axfr[0]
    );
    assert!(
        axfr[0]["title"]
            .as_str()
            .unwrap()
            .contains("1 of 1 zones tried"),
        "{}",
        axfr[0]
    );
    let d = ex.domain("mxray-bind-open.lab");
    assert!(finding(d, "dns.lame_delegation").is_none(), "{d}");

    let closed = ex.host("127.0.53.2").expect("closed BIND probed");
    for id in [
        "dns.version_disclosed",
        "dns.hostname_disclosed",
        "dns.open_recursion",
        "dns.axfr_allowed",
    ] {
        assert!(
            !ids(closed).iter().any(|i| i == id),
            "{id}: {:?}",
            ids(closed)
        );
    }
    // It answers the test name from its own zone, authoritatively, but never with RA.
    let rec = &closed["observation"]["dns_server"]["recursion"];
    assert_eq!(rec["recursion_available"], false, "{rec}");
    assert_eq!(rec["answers"], 1, "{rec}");
    let d = ex.domain("mxray-bind-closed.lab");
    assert!(finding(d, "dns.axfr_allowed").is_none(), "{d}");
    assert!(finding(d, "dns.lame_delegation").is_none(), "{d}");
    let lame = ex.domain("mxray-bind-lame.lab");
    let f = finding(lame, "dns.lame_delegation").expect("lame delegation");
    assert!(evidence(f)[0].contains("REFUSED"), "{f}");
}

/// SSH: the identification line, stored verbatim (escapes included) and neutralised on the
/// terminal; an HTTP server with a 50 MB body is read up to the cap only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_banner_and_huge_http_body_against_in_test_servers() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = "127.77.13.22";
    let ssh = tokio::net::TcpListener::bind((ip(host), 0)).await.unwrap();
    let ssh_port = ssh.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = ssh.accept().await {
            let _ = s
                .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\x1b[31m\r\n")
                .await;
        }
    });
    let http = tokio::net::TcpListener::bind((ip(host), 0)).await.unwrap();
    let http_port = http.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = http.accept().await {
            tokio::spawn(async move {
                let mut req = [0u8; 2048];
                let _ = s.read(&mut req).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n")
                    .await;
                let block = vec![b'<'; 64 * 1024];
                for _ in 0..800 {
                    if s.write_all(&block).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let lab = lab_with(
        [127, 77, 13],
        vec![("mxray-ssh.lab", "mx.mxray-ssh.lab", host)],
        vec![],
        vec![],
    )
    .await;
    let ex = scan(
        &lab,
        &["mxray-ssh.lab"],
        &[&format!("ssh={ssh_port}"), &format!("http={http_port}")],
        &[],
    )
    .await;
    let h = ex.host(host).expect("host probed");
    assert_eq!(
        h["observation"]["ssh"]["identification"],
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\u{1b}[31m"
    );
    assert_eq!(
        findings_on(h, "ssh.banner", &format!("{host}:{ssh_port}")).len(),
        1
    );
    let web = h["observation"]["web"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["port"] == http_port)
        .unwrap();
    for e in web["exchanges"].as_array().unwrap() {
        assert_eq!(e["status_code"], 200, "{e}");
        assert_eq!(e["truncated"], true, "{e}");
        assert_eq!(e["body_bytes"], 256 * 1024, "{e}");
    }
    // The terminal verdict shows the escape neutralised.
    let dir = temp();
    let r = mxray_async(vec![
        "check".into(),
        "mxray-ssh.lab".into(),
        "--resolver".into(),
        lab.dns.addr.to_string(),
        "--allow-loopback".into(),
        "--no-relay-test".into(),
        "--timeout".into(),
        "5".into(),
        "--port".into(),
        format!("ssh={ssh_port}"),
        "--port".into(),
        "smtp=2599".into(),
        "--db".into(),
        dir.path().join("c.db").display().to_string(),
    ])
    .await;
    assert!(
        !r.stdout.contains('\u{1b}'),
        "raw escape printed: {}",
        r.stdout
    );
}

/// A name server that answers every question with garbage (and a truncated header): each
/// question costs one step timeout, nothing is concluded from it but "no answer", and the
/// scan goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_dns_answers_cost_bounded_time() {
    let ns = "127.77.14.53";
    let sock = tokio::net::UdpSocket::bind((ip(ns), 0)).await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // The query id, then a header cut short; then 3000 bytes of junk.
            let _ = sock.send_to(&[buf[0], buf[1], 0x81], peer).await;
            let _ = sock
                .send_to(&vec![0xffu8; 3000.min(4096 - n.min(4096))], peer)
                .await;
        }
    });
    let lab = lab_with(
        [127, 77, 14],
        vec![],
        vec![("mxray-junk-ns.lab", "ns.mxray-junk-ns.lab", ns)],
        vec![],
    )
    .await;
    let ex = scan(
        &lab,
        &["mxray-junk-ns.lab"],
        &[&format!("dns={port}")],
        &["--timeout", "1"],
    )
    .await;
    let h = ex.host(ns).expect("name server probed");
    let d = &h["observation"]["dns_server"];
    assert_eq!(d["status"], "io-timeout", "{d}");
    assert_eq!(d["version_bind"]["result"], "no-answer", "{d}");
    assert!(
        d["version_bind"]["value"]
            .as_str()
            .unwrap()
            .contains("malformed"),
        "{d}"
    );
    assert!(
        ids(h).iter().all(|i| !i.starts_with("dns.")),
        "{:?}",
        ids(h)
    );
    let dom = ex.domain("mxray-junk-ns.lab");
    let check = &dom["observation"]["nameservers"]["checks"][0];
    assert!(check["soa_error"] == "malformed", "{check}");
    assert_eq!(check["axfr_records"], 0, "{check}");
    assert!(finding(dom, "dns.lame_delegation").is_some(), "{dom}");
    // The zone's SOA (per-zone stage), then version.bind, hostname.bind, recursion and the
    // zone's SOA once more without recursion (the DNS-server probe): one datagram each, no
    // retries.
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 5);
}

/// An address first seen as one domain's web host and then as another's MX gets its mail
/// probes too: roles accumulate, and one record per address holds them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_host_that_is_also_an_mx_gets_its_smtp_probes() {
    let lab = lab_with(
        [127, 77, 15],
        vec![],
        vec![],
        vec![("www.web-first.lab", "127.77.15.10")],
    )
    .await;
    let ex = scan(
        &lab,
        &["web-first.lab", "closed.mxray.test"],
        &[&format!("smtp={}", lab.smtp_port)],
        &["--dns-concurrency", "1"],
    )
    .await;
    let h = ex.host("127.77.15.10").expect("host probed once");
    assert_eq!(
        ex.hosts()
            .iter()
            .filter(|x| x["ip"] == "127.77.15.10")
            .count(),
        1
    );
    assert_eq!(
        h["observation"]["roles"],
        serde_json::json!(["mx", "web"]),
        "{h}"
    );
    assert_eq!(h["observation"]["smtp"][0]["status"], "success", "{h}");
    assert!(finding(h, "tls.self_signed").is_some(), "{:?}", ids(h));
    let d = ex.domain("closed.mxray.test");
    assert!(
        d["ips"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "127.77.15.10"),
        "{d}"
    );
}
