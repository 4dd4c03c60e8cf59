//! `--exposure-extra` (issue 16 part 3) against real servers from Debian's packages on
//! loopback, started by `.ci/exposure.sh` (CI sets MXRAY_TEST_EXPOSURE): inetutils telnetd,
//! smbd with SMB1 on and off, tinyproxy open and restricted, dante open and requiring
//! authentication, vsftpd with anonymous login on and off. Each verdict is asserted through
//! the export, the negatives included. The proxies' target (the host's own SMTP port) is an
//! in-test lab SMTP server on the proxy's address: its greeting is what must come through.

use crate::exposure::{lab_with, scan_keep};
use crate::harness::finding_ids as all_ids;
use crate::harness::*;
use mxray_lab::{Behaviour, SmtpServer};
use serde_json::Value;

/// Where the in-test SMTP servers listen on the proxies' addresses.
const SMTP_PORT: u16 = 2526;

fn available() -> bool {
    real_server("MXRAY_TEST_EXPOSURE", ".ci/exposure.sh")
}

fn ids_on(h: &Value, subject: &str) -> Vec<String> {
    h["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["subject"]["name"] == subject)
                .map(|f| f["id"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn extra<'a>(h: &'a Value, kind: &str) -> &'a Vec<Value> {
    h["observation"]["extra"][kind]
        .as_array()
        .unwrap_or_else(|| panic!("no {kind} observations: {h}"))
}

const DOMAINS: [(&str, &str, &str); 9] = [
    ("mxray-telnet.lab", "mx.mxray-telnet.lab", "127.0.23.1"),
    ("mxray-smb1-on.lab", "mx.mxray-smb1-on.lab", "127.0.45.1"),
    ("mxray-smb1-off.lab", "mx.mxray-smb1-off.lab", "127.0.45.2"),
    (
        "mxray-proxy-open.lab",
        "mx.mxray-proxy-open.lab",
        "127.0.31.1",
    ),
    (
        "mxray-proxy-acl.lab",
        "mx.mxray-proxy-acl.lab",
        "127.0.31.2",
    ),
    (
        "mxray-socks-open.lab",
        "mx.mxray-socks-open.lab",
        "127.0.31.3",
    ),
    (
        "mxray-socks-auth.lab",
        "mx.mxray-socks-auth.lab",
        "127.0.31.4",
    ),
    ("mxray-ftp-anon.lab", "mx.mxray-ftp-anon.lab", "127.0.21.1"),
    (
        "mxray-ftp-closed.lab",
        "mx.mxray-ftp-closed.lab",
        "127.0.21.2",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_telnet_smb_proxies_ftp_verdicts() {
    if !available() {
        return;
    }
    let mut smtp = Vec::new();
    for i in 1..=4 {
        let addr = std::net::SocketAddr::from(([127, 0, 31, i], SMTP_PORT));
        let name = format!("proxy-target-{i}.lab");
        smtp.push(
            SmtpServer::start(addr, Behaviour::ClosedPlain, &name, Vec::new())
                .await
                .expect("SMTP target on the proxy's address"),
        );
    }
    let lab = lab_with([127, 77, 110], DOMAINS.to_vec(), vec![], vec![]).await;
    let names: Vec<&str> = DOMAINS.iter().map(|d| d.0).collect();
    let (_dir, _db, ex) = scan_keep(
        &lab,
        &names,
        &[&format!("smtp={SMTP_PORT}")],
        &["--exposure-extra"],
    )
    .await;

    // Telnet: negotiation refused, banner and prompt read, never logged in.
    let t = ex.host("127.0.23.1").expect("telnet host probed");
    let tel = &extra(t, "telnet")[0];
    assert_eq!(tel["status"], "success", "{tel}");
    assert!(
        tel["negotiation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "DO TERMINAL-TYPE"),
        "{tel}"
    );
    let banner: Vec<&str> = tel["banner"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(banner.last(), Some(&"mxray-test login:"), "{tel}");
    assert!(
        !banner.iter().any(|l| l.contains("Login incorrect")),
        "{tel}"
    );
    assert_eq!(ids_on(t, "127.0.23.1:23"), ["telnet.exposed"]);

    // SMB: dialect negotiated on both; SMB1 only where enabled.
    for (ip, smb1) in [("127.0.45.1", true), ("127.0.45.2", false)] {
        let h = ex.host(ip).expect("SMB host probed");
        let obs = extra(h, "smb");
        assert_eq!(obs.len(), 2, "{obs:?}");
        for port in [445, 139] {
            let o = obs.iter().find(|o| o["port"] == port).unwrap();
            assert_eq!(o["status"], "success", "{o}");
            assert!(
                o["dialect"].as_str().unwrap().starts_with(['2', '3']),
                "{o}"
            );
            assert_eq!(o["smb1"] == "accepted", smb1, "{o}");
            let mut want = vec!["smb.exposed"];
            if smb1 {
                want.push("smb.smb1");
            }
            assert_eq!(ids_on(h, &format!("{ip}:{port}")), want, "{o}");
        }
        assert_eq!(
            obs.iter().find(|o| o["port"] == 139).unwrap()["netbios"],
            "accepted"
        );
    }

    // Proxies: the open ones tunnel to the host's own SMTP greeting; the restricted tinyproxy
    // answers 403 and the dante requiring a user name wants authentication.
    let greeting = |i: u8| format!("220 proxy-target-{i}.lab");
    let p = ex.host("127.0.31.1").expect("tinyproxy open probed");
    let http = extra(p, "proxy")
        .iter()
        .find(|o| o["port"] == 3128)
        .unwrap();
    assert_eq!(http["kind"], "http-connect", "{http}");
    assert_eq!(http["verdict"], "tunnelled", "{http}");
    assert_eq!(http["target"], format!("127.0.31.1:{SMTP_PORT}"), "{http}");
    assert!(
        http["tunnelled_greeting"]
            .as_str()
            .unwrap()
            .starts_with(&greeting(1)),
        "{http}"
    );
    assert_eq!(ids_on(p, "127.0.31.1:3128"), ["proxy.open_http"]);

    let p = ex.host("127.0.31.2").expect("tinyproxy restricted probed");
    let http = extra(p, "proxy")
        .iter()
        .find(|o| o["port"] == 3128)
        .unwrap();
    assert_eq!(http["verdict"], "refused", "{http}");
    assert!(http["reply"].as_str().unwrap().contains(" 403 "), "{http}");
    assert!(http["tunnelled_greeting"].is_null(), "{http}");
    assert!(!all_ids(p).iter().any(|i| i.starts_with("proxy.")), "{p}");

    let s = ex.host("127.0.31.3").expect("dante open probed");
    let socks = extra(s, "proxy")
        .iter()
        .find(|o| o["port"] == 1080)
        .unwrap();
    assert_eq!(socks["kind"], "socks5", "{socks}");
    assert_eq!(socks["verdict"], "tunnelled", "{socks}");
    assert!(
        socks["tunnelled_greeting"]
            .as_str()
            .unwrap()
            .starts_with(&greeting(3)),
        "{socks}"
    );
    assert_eq!(ids_on(s, "127.0.31.3:1080"), ["proxy.open_socks"]);

    let s = ex
        .host("127.0.31.4")
        .expect("dante with authentication probed");
    let socks = extra(s, "proxy")
        .iter()
        .find(|o| o["port"] == 1080)
        .unwrap();
    assert_eq!(socks["verdict"], "auth-required", "{socks}");
    assert!(!all_ids(s).iter().any(|i| i.starts_with("proxy.")), "{s}");

    // FTP: anonymous offered where it is on (its control name is refused), not where every
    // name is asked for a password; no password was sent to either.
    let f = ex.host("127.0.21.1").expect("vsftpd anonymous probed");
    let ftp = &extra(f, "ftp")[0];
    assert_eq!(ftp["anonymous"], "offered", "{ftp}");
    assert_eq!(ftp["anonymous_reply"]["code"], 331, "{ftp}");
    assert_eq!(ftp["control_reply"]["code"], 530, "{ftp}");
    assert_eq!(ids_on(f, "127.0.21.1:21"), ["ftp.anonymous"]);
    let f = ex.host("127.0.21.2").expect("vsftpd closed probed");
    let ftp = &extra(f, "ftp")[0];
    assert_eq!(ftp["greeting"]["code"], 220, "{ftp}");
    assert_eq!(ftp["anonymous"], "indistinguishable", "{ftp}");
    assert!(ids_on(f, "127.0.21.2:21").is_empty(), "{f}");
    for h in ["127.0.21.1", "127.0.21.2"] {
        let t = &extra(ex.host(h).unwrap(), "ftp")[0]["transcript"];
        assert!(
            !t.as_array()
                .unwrap()
                .iter()
                .any(|l| l["text"].as_str().unwrap_or("").starts_with("PASS")),
            "{t}"
        );
    }
    drop(smtp);
}

/// Off by default in surveys, on in `check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_probes_off_in_scans_on_in_check() {
    if !available() {
        return;
    }
    let lab = lab_with(
        [127, 77, 111],
        vec![("mxray-telnet2.lab", "mx.mxray-telnet2.lab", "127.0.23.1")],
        vec![],
        vec![],
    )
    .await;
    let (_dir, _db, ex) = scan_keep(&lab, &["mxray-telnet2.lab"], &[], &[]).await;
    let h = ex.host("127.0.23.1").expect("host probed");
    assert!(h["observation"]["extra"].is_null(), "{h}");
    assert!(!all_ids(h).iter().any(|i| i == "telnet.exposed"), "{h}");

    let dir = temp();
    let r = mxray_async(vec![
        "check".into(),
        "mxray-telnet2.lab".into(),
        "--resolver".into(),
        lab.dns.addr.to_string(),
        "--allow-loopback".into(),
        "--no-relay-test".into(),
        "--timeout".into(),
        "5".into(),
        "--port".into(),
        "smtp=2599".into(),
        "--format".into(),
        "json".into(),
        "--db".into(),
        dir.path().join("c.db").display().to_string(),
    ])
    .await;
    assert!(
        r.stdout.contains("telnet.exposed"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
}
