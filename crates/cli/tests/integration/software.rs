//! Fingerprints and advisories on a stored scan: `affected` and `alerts` answer from the
//! database, including for an advisory imported after the scan; unknown banners are counted.

use crate::harness::*;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const NET: [u8; 3] = [127, 77, 50];

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(NET[0], NET[1], NET[2], last))
}

fn json(r: &Run) -> Value {
    assert_eq!(r.code, 0, "failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

fn ids(alerts: &Value) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = alerts["alerts"]
        .as_array()
        .expect("alerts array")
        .iter()
        .map(|a| {
            (
                a["advisory"].as_str().unwrap_or("").to_owned(),
                a["ip"].as_str().unwrap_or("").to_owned(),
                a["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

const ADVISORY: &str = r#"
[[advisory]]
id = "MXRAY-TEST-0001"
aliases = ["CVE-2099-0001"]
product = "exim"
severity = "high"
summary = "a test advisory imported after the scan"
url = "https://example.org/mxray-test-0001"
affected = [{ introduced = "4.90", fixed = "4.97" }]
"#;

const OSV: &str = r#"{"id": "OSV-MXRAY-0002", "summary": "an OSV test advisory",
  "affected": [{"package": {"ecosystem": "OSS-Fuzz", "name": "sendmail"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "8.18.0"}]}]}],
  "references": [{"type": "WEB", "url": "https://example.org/osv-mxray-0002"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affected_and_alerts_from_stored_data() {
    let (exim, sendmail) = (ip(30), ip(31));
    let lab = lab(
        NET,
        vec![
            ("exim.mxray.test".into(), "exim-mx.mxray.test".into(), exim),
            (
                "sendmail.mxray.test".into(),
                "sendmail-mx.mxray.test".into(),
                sendmail,
            ),
        ],
    )
    .await;
    let _exim = product_smtp(
        &lab,
        exim,
        "ESMTP Exim 4.96 Tue, 24 Nov 2026 10:00:00 +0000",
        "exim-mx.mxray.test",
        "mxray.test",
    )
    .await;
    let _sendmail = product_smtp(
        &lab,
        sendmail,
        "ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; Tue, 24 Nov 2026 10:00:00 +0900",
        "sendmail-mx.mxray.test",
        "mxray.test",
    )
    .await;

    let dir = temp();
    let db = dir.path().join("sw.db");
    let dbs = db.display().to_string();
    let list = write(
        dir.path(),
        "domains.txt",
        "exim.mxray.test\nsendmail.mxray.test\nclosed.mxray.test\n",
    );
    let mut args = vec![
        "scan".to_owned(),
        list.display().to_string(),
        "--no-relay-test".into(),
    ];
    args.extend(lab_args(&lab, &db));
    let r = mxray_async(args.clone()).await;
    assert_eq!(r.code, 0, "scan failed: {}", r.stderr);

    // The scan's findings: a vulnerable Exim, a possibly vulnerable Debian Sendmail, and the
    // lab's own banner stays unidentified.
    let ex = Export::read(&db);
    let host = |ip: IpAddr| ex.host(&ip.to_string()).expect("host line").clone();
    let (exim_line, sendmail_line) = (host(exim), host(sendmail));
    let f = finding(&exim_line, "software.vulnerable").expect("exim vulnerable");
    assert_eq!(f["severity"], "critical");
    assert!(
        f["title"].as_str().unwrap().contains("CVE-2023-42115"),
        "{f}"
    );
    assert!(evidence(f)[0].contains("Exim 4.96"), "{f}");
    assert!(finding(&host(exim), "software.version_disclosed").is_some());
    let s = finding(&sendmail_line, "software.possibly_vulnerable").expect("sendmail");
    assert!(
        s["title"].as_str().unwrap().contains("CVE-2023-51765"),
        "{s}"
    );
    assert!(finding(&host(sendmail), "software.vulnerable").is_none());
    let closed = lab.server("closed").expect("closed").addr.ip();
    assert!(
        host(closed)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["id"].as_str().unwrap().starts_with("software."))
    );

    // Per-host software and OS guesses, with their evidence.
    let sw = json(&mxray(&["software", "--db", &dbs, "--format", "json"]));
    let h = |ip: IpAddr| {
        sw["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["ip"] == ip.to_string())
            .unwrap_or_else(|| panic!("{ip} not in {sw}"))
            .clone()
    };
    assert_eq!(h(exim)["software"][0]["product"], "exim");
    assert_eq!(h(exim)["software"][0]["version"], "4.96");
    assert_eq!(
        h(exim)["software"][0]["evidence"],
        "220 exim-mx.mxray.test ESMTP Exim 4.96 Tue, 24 Nov 2026 10:00:00 +0000"
    );
    assert!(h(exim)["os"].is_null());
    assert_eq!(h(sendmail)["os"]["name"], "Debian");
    assert!(h(sendmail)["os"]["confidence"].as_f64().unwrap() > 0.0);
    assert!(
        sw["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["ip"] != closed.to_string())
    );
    let text = mxray(&["software", "--db", &dbs]);
    assert!(
        text.stdout.contains("Sendmail 8.17.1.9 (Debian-2)"),
        "{}",
        text.stdout
    );

    // First `alerts`: everything the scan matched with the shipped advisories; with
    // --fail-on, a critical match (Exim's CVE-2023-42115) makes the exit status 1 for cron.
    let r = mxray(&[
        "alerts",
        "--db",
        &dbs,
        "--format",
        "json",
        "--fail-on",
        "critical",
    ]);
    assert_eq!(
        r.code, 1,
        "a critical match fails --fail-on critical: {}",
        r.stderr
    );
    let first: Value = serde_json::from_str(&r.stdout).expect("alerts JSON");
    let got = ids(&first);
    assert!(
        got.contains(&("CVE-2023-42115".into(), exim.to_string(), "affected".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "CVE-2023-51765".into(),
            sendmail.to_string(),
            "possibly-affected".into()
        )),
        "{got:?}"
    );
    assert!(got.iter().all(|(id, _, _)| id != "MXRAY-TEST-0001"));
    let exim_alert = first["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["advisory"] == "CVE-2023-42115")
        .expect("exim alert");
    assert_eq!(
        exim_alert["domains"],
        serde_json::json!(["exim.mxray.test"])
    );
    assert_eq!(exim_alert["provider"], "mxray.test");
    // Asked again: nothing new, so even the lowest threshold passes.
    assert!(ids(&json(&mxray(&["alerts", "--db", &dbs, "--format", "json"]))).is_empty());
    assert_eq!(
        mxray(&["alerts", "--db", &dbs, "--fail-on", "info"]).code,
        0
    );
    let text = mxray(&["alerts", "--db", &dbs]);
    assert!(
        text.stdout.contains("no new advisory matches"),
        "{}",
        text.stdout
    );

    // An advisory unknown to the database is an operator error.
    let unknown = mxray(&["affected", "MXRAY-TEST-0001", "--db", &dbs]);
    assert_eq!(unknown.code, 2, "{}", unknown.stdout);
    assert!(
        unknown.stderr.contains("advisories import"),
        "{}",
        unknown.stderr
    );

    // Import after the scan: matched against stored software, no rescan.
    let adv_dir = dir.path().join("advisories");
    std::fs::create_dir(&adv_dir).expect("mkdir");
    write(&adv_dir, "test.toml", ADVISORY);
    write(&adv_dir, "ignored.txt", "not an advisory");
    write(&adv_dir, "osv.json", OSV);
    let conns_before = lab
        .server("closed")
        .unwrap()
        .stats
        .connections
        .load(std::sync::atomic::Ordering::SeqCst);
    let imp = mxray(&[
        "advisories",
        "import",
        &adv_dir.display().to_string(),
        "--db",
        &dbs,
    ]);
    assert_eq!(imp.code, 0, "{}", imp.stderr);
    assert!(
        imp.stdout
            .contains("imported 2 advisories (2 new) from 2 file(s); 2 new match(es)"),
        "{}",
        imp.stdout
    );

    let aff = json(&mxray(&[
        "affected",
        "MXRAY-TEST-0001",
        "--db",
        &dbs,
        "--format",
        "json",
    ]));
    let hosts = aff["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1, "{aff}");
    assert_eq!(hosts[0]["ip"], exim.to_string());
    assert_eq!(hosts[0]["version"], "4.96");
    assert_eq!(hosts[0]["status"], "affected");
    assert_eq!(aff["domains"], serde_json::json!(["exim.mxray.test"]));
    assert_eq!(aff["providers"], serde_json::json!(["mxray.test"]));
    // By alias, in text.
    let by_alias = mxray(&["affected", "CVE-2099-0001", "--db", &dbs]);
    assert_eq!(by_alias.code, 0, "{}", by_alias.stderr);
    assert!(
        by_alias.stdout.contains("1 host(s), 1 domain(s)"),
        "{}",
        by_alias.stdout
    );
    assert!(
        by_alias.stdout.contains("exim.mxray.test"),
        "{}",
        by_alias.stdout
    );
    // A distribution build is only possibly affected.
    let sm = json(&mxray(&[
        "affected",
        "CVE-2023-51765",
        "--db",
        &dbs,
        "--format",
        "json",
    ]));
    assert_eq!(sm["hosts"][0]["ip"], sendmail.to_string());
    assert_eq!(sm["hosts"][0]["status"], "possibly-affected");
    assert_eq!(sm["hosts"][0]["build"], "Debian-2");

    // Alerts now show exactly the new matches (sorted by id), once.
    assert_eq!(
        ids(&json(&mxray(&["alerts", "--db", &dbs, "--format", "json"]))),
        [
            (
                "MXRAY-TEST-0001".to_owned(),
                exim.to_string(),
                "affected".to_owned()
            ),
            (
                "OSV-MXRAY-0002".to_owned(),
                sendmail.to_string(),
                "possibly-affected".to_owned()
            )
        ]
    );
    assert!(ids(&json(&mxray(&["alerts", "--db", &dbs, "--format", "json"]))).is_empty());
    // None of this touched the network.
    assert_eq!(
        lab.server("closed")
            .unwrap()
            .stats
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        conns_before
    );

    // Unknown banners, verbatim and counted.
    let st = mxray(&["stats", "--unknown-banners", "--db", &dbs]);
    assert_eq!(st.code, 0, "{}", st.stderr);
    assert!(
        st.stdout
            .contains("smtp-greeting  220 closed-mx.mxray.test ESMTP mxray-lab"),
        "{}",
        st.stdout
    );
    assert!(!st.stdout.contains("Exim"), "{}", st.stdout);

    // A second scan of the same hosts: the known matches are not alerted again.
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "second scan failed: {}", r.stderr);
    assert!(ids(&json(&mxray(&["alerts", "--db", &dbs, "--format", "json"]))).is_empty());

    // --signatures replaces the built-in file: with one that knows the lab, nothing is unknown.
    let sigs = write(
        dir.path(),
        "sigs.toml",
        "[[signature]]\nproduct = 'mxray-lab'\nname = 'mxray lab'\nsources = ['smtp-greeting']\npattern = 'ESMTP mxray-lab$'\n",
    );
    let list = write(dir.path(), "closed.txt", "closed.mxray.test\n");
    let r = scan_lab(
        &lab,
        &list,
        &db,
        &[
            "--no-relay-test",
            "--signatures",
            &sigs.display().to_string(),
        ],
    )
    .await;
    assert_eq!(r.code, 0, "third scan failed: {}", r.stderr);
    let st = mxray(&["stats", "--unknown-banners", "--scan", "3", "--db", &dbs]);
    assert!(
        st.stdout.starts_with("0 unknown banner(s)"),
        "{}",
        st.stdout
    );
    let bad = write(dir.path(), "bad.toml", "[[signature]]\nproduct = 'x'\n");
    let r = mxray(&[
        "check",
        "closed.mxray.test",
        "--signatures",
        &bad.display().to_string(),
        "--db",
        &dbs,
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("signature file"), "{}", r.stderr);
}

// ------------------------------------------------------------------ software where users look

/// `mxray check` prints each host's software, versions, OS guess and advisories (escaped);
/// the JSON Lines export carries them on host lines, `export --format csv --table software`
/// one row per product per host per domain (formula-safe), and `stats --by software|os`
/// counts domains and hosts from the fingerprint tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn software_in_check_export_and_stats() {
    const N: [u8; 3] = [127, 77, 51];
    let at = |last: u8| IpAddr::V4(Ipv4Addr::new(N[0], N[1], N[2], last));
    let (a, b) = (at(40), at(41));
    let lab = lab(
        N,
        vec![
            ("fp-a.mxray.test".into(), "mx-a.mxray.test".into(), a),
            ("fp-a2.mxray.test".into(), "mx-a2.mxray.test".into(), a),
            ("fp-b.mxray.test".into(), "mx-b.mxray.test".into(), b),
        ],
    )
    .await;
    let _exim = product_smtp(
        &lab,
        a,
        "ESMTP Exim 4.96 Tue, 24 Nov 2026 10:00:00 +0000",
        "mx-a.mxray.test",
        "mxray.test",
    )
    .await;
    let _postfix = product_smtp(
        &lab,
        b,
        "ESMTP Postfix (Debian/GNU)",
        "mx-b.mxray.test",
        "mxray.test",
    )
    .await;
    let ssh = serve(
        SocketAddr::new(a, 0),
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
        false,
    )
    .await;
    let http = serve(
        SocketAddr::new(a, 0),
        http_reply("Server: nginx/1.22.1\r\nX-Powered-By: PHP/8.2.1-+1+2\r\n"),
        true,
    )
    .await;
    // The same port on b: a hostile, unknown Server header.
    serve(
        SocketAddr::new(b, http),
        http_reply("Server: evil\x1b[2Jbox\r\n"),
        true,
    )
    .await;

    let dir = temp();
    let db = dir.path().join("fp.db");
    let dbs = db.display().to_string();
    let ports: Vec<String> = [
        format!("smtp={}", lab.smtp_port),
        format!("ssh={ssh}"),
        format!("http={http}"),
        "https=2443".into(),
        "pop3=2110".into(),
        "imap=2143".into(),
        "pop3s=2995".into(),
        "imaps=2993".into(),
        "dns=2053".into(),
    ]
    .into_iter()
    .flat_map(|p| ["--port".to_owned(), p])
    .collect();
    let common = |mut v: Vec<String>| {
        v.extend([
            "--resolver".to_owned(),
            lab.dns.addr.to_string(),
            "--allow-loopback".into(),
            "--no-relay-test".into(),
            "--no-dnsbl".into(),
            "--timeout".into(),
            "5".into(),
            "--db".into(),
            dbs.clone(),
        ]);
        v.extend(ports.iter().cloned());
        v
    };

    // check, text: the software block, escaped.
    let r = mxray_async(common(vec!["check".into(), "fp-a.mxray.test".into()])).await;
    assert!(r.code <= 1, "{}", r.stderr);
    let out = &r.stdout;
    let block = out
        .split("Software:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no software block: {out}"));
    for want in [
        &format!("{a}  OS guess: Debian 12 (confidence "),
        &format!("{}  Exim 4.96  [smtp-greeting]", lab.smtp_port),
        "advisory CVE-2023-42115 (critical): affected",
        &format!("{ssh}  OpenSSH 9.2p1 (Debian-2+deb12u3)  [ssh-ident]"),
        &format!("{http}  nginx 1.22.1  [http-server]"),
        &format!("{http}  PHP 8.2.1 (+1+2)  [http-powered-by]"),
    ] {
        assert!(block.contains(want), "{want:?} not in:\n{out}");
    }
    // check, JSON: the same per host.
    let r = mxray_async(common(vec![
        "check".into(),
        "fp-b.mxray.test".into(),
        "--format".into(),
        "json".into(),
    ]))
    .await;
    let v: Value = serde_json::from_str(&r.stdout).expect("check JSON");
    let sw = &v["software"][0];
    assert_eq!(sw["ip"], b.to_string(), "{v}");
    assert_eq!(sw["software"][0]["product"], "postfix");
    assert!(sw["software"][0]["version"].is_null());
    assert_eq!(sw["os"]["name"], "Debian");
    assert_eq!(sw["unknown_banners"][0]["text"], "evil\u{1b}[2Jbox");
    // check, text: the hostile header shown neutralised.
    let r = mxray_async(common(vec!["check".into(), "fp-b.mxray.test".into()])).await;
    assert!(
        r.stdout
            .contains("Postfix (version not disclosed)  [smtp-greeting]"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("unidentified [http-server]: evil"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains('\u{1b}'), "raw escape: {}", r.stdout);

    // A survey of the three domains.
    let list = write(
        dir.path(),
        "d.txt",
        "fp-a.mxray.test\nfp-a2.mxray.test\nfp-b.mxray.test\n",
    );
    let r = mxray_async(common(vec!["scan".into(), list.display().to_string()])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ex = Export::read(&db);
    let ha = ex.host(&a.to_string()).expect("host a");
    let products: Vec<&str> = ha["software"]["software"]
        .as_array()
        .expect("software on the host line")
        .iter()
        .map(|s| s["product"].as_str().unwrap())
        .collect();
    let mut sorted = products.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["exim", "nginx", "openssh", "php"]);
    assert_eq!(ha["software"]["os"]["name"], "Debian 12");
    assert!(
        ha["software"]["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["advisory"] == "CVE-2023-42115" && m["status"] == "affected"),
        "{}",
        ha["software"]
    );

    // CSV, software table.
    let csv_path = dir.path().join("sw.csv");
    let r = mxray(&[
        "export",
        "--format",
        "csv",
        "--table",
        "software",
        "--db",
        &dbs,
        "-o",
        &csv_path.display().to_string(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let headers = rd.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).expect(n);
    let recs: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    for rec in &recs {
        for cell in rec.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "formula-like {cell:?}"
            );
            assert!(!cell.contains('\u{1b}'), "control character in {cell:?}");
        }
    }
    let exim_domains: Vec<&str> = recs
        .iter()
        .filter(|r| &r[col("product")] == "exim")
        .map(|r| &r[col("domain")])
        .collect();
    assert_eq!(
        exim_domains,
        ["fp-a.mxray.test", "fp-a2.mxray.test"],
        "{text}"
    );
    let php = recs
        .iter()
        .find(|r| &r[col("product")] == "php")
        .expect("php row");
    assert_eq!(&php[col("version")], "8.2.1");
    assert_eq!(&php[col("build")], "'+1+2", "neutralised build cell");
    assert_eq!(&php[col("os")], "Debian 12");
    let exim = recs.iter().find(|r| &r[col("product")] == "exim").unwrap();
    assert!(
        exim[col("advisories")].contains("CVE-2023-42115 (critical, affected)"),
        "{text}"
    );
    // JSON Lines cannot take a CSV table.
    let r = mxray(&[
        "export", "--format", "jsonl", "--table", "software", "--db", &dbs,
    ]);
    assert_eq!(r.code, 2, "{}", r.stdout);

    // stats --by software / os, from the fingerprint tables.
    let stats = |by: &str| {
        let r = mxray(&["stats", "--by", by, "--db", &dbs, "--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).expect("stats JSON");
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["key"].as_str().unwrap().to_owned(),
                    r["domains"].as_u64().unwrap(),
                    r["hosts"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let sw = stats("software");
    for want in [
        ("Exim 4.96", 2, 1),
        ("OpenSSH 9.2p1", 2, 1),
        ("nginx 1.22.1", 2, 1),
        ("PHP 8.2.1", 2, 1),
        ("Postfix (version not disclosed)", 1, 1),
    ] {
        assert!(
            sw.contains(&(want.0.to_owned(), want.1, want.2)),
            "{want:?} not in {sw:?}"
        );
    }
    assert_eq!(sw.len(), 5, "{sw:?}");
    assert_eq!(
        stats("os"),
        [("Debian 12".to_owned(), 2, 1), ("Debian".to_owned(), 1, 1)]
    );
    let r = mxray(&["stats", "--by", "software", "--db", &dbs]);
    assert!(r.stdout.contains("hosts"), "{}", r.stdout);
    assert!(r.stdout.contains("Exim 4.96"), "{}", r.stdout);
}

// ------------------------------------------------------------------ real servers from Debian

/// A scripted IMAP server on `addr` for every connection: `greeting`, `caps` after
/// CAPABILITY, `id` (raw bytes) after `ID NIL`; returns the port.
async fn serve_imap(
    addr: SocketAddr,
    greeting: &'static str,
    caps: &'static str,
    id: Vec<u8>,
) -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let id = id.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut lines = BufReader::new(r).lines();
                if w.write_all(format!("{greeting}\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                while let Ok(Some(l)) = lines.next_line().await {
                    let (tag, cmd) = l.split_once(' ').unwrap_or((&l, ""));
                    let reply: Vec<u8> = match cmd.to_ascii_uppercase().as_str() {
                        "CAPABILITY" => format!("* CAPABILITY {caps}\r\n{tag} OK\r\n").into(),
                        "ID NIL" => {
                            let mut r = id.clone();
                            r.extend_from_slice(format!("{tag} OK\r\n").as_bytes());
                            r
                        }
                        "LOGOUT" => format!("* BYE\r\n{tag} OK\r\n").into(),
                        _ => format!("{tag} BAD\r\n").into(),
                    };
                    if w.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// IMAP ID end to end, without a real server: a Cyrus-like ID gives product, version and
/// Debian build in the stored software; a hostile ID (60 pairs, a 2 KiB value, terminal
/// escapes) is stored bounded and verbatim, and printed neutralised. See: issue 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_id_fingerprints_and_hostile_id_stays_bounded() {
    const N: [u8; 3] = [127, 77, 57];
    let at = |last: u8| IpAddr::V4(Ipv4Addr::new(N[0], N[1], N[2], last));
    let (cyrus, hostile) = (at(40), at(41));
    let lab = lab(
        N,
        vec![
            (
                "id-cyrus.mxray.test".into(),
                "mx-c.mxray.test".into(),
                cyrus,
            ),
            (
                "id-hostile.mxray.test".into(),
                "mx-h.mxray.test".into(),
                hostile,
            ),
        ],
    )
    .await;
    let port = serve_imap(
        SocketAddr::new(cyrus, 0),
        "* OK [CAPABILITY IMAP4rev1 ID] imap.example.org server ready",
        "IMAP4rev1 ID AUTH=PLAIN",
        b"* ID (\"name\" \"Cyrus IMAPD\" \"version\" \"3.6.1-Debian-3.6.1-4\" \"vendor\" \"Project Cyrus\" \"os\" \"Linux\")\r\n".to_vec(),
    )
    .await;
    let mut id = format!("* ID (\"big\" \"{}\"", "A".repeat(2048)).into_bytes();
    for i in 0..60 {
        id.extend_from_slice(format!(" \"k{i}\" \"\x1b[2Jv{i}\"").as_bytes());
    }
    id.extend_from_slice(b")\r\n");
    serve_imap(
        SocketAddr::new(hostile, port),
        "* OK hostile ready",
        "IMAP4rev1 ID",
        id,
    )
    .await;
    let dir = temp();
    let db = dir.path().join("id.db");
    let dbs = db.display().to_string();
    let common = |mut v: Vec<String>| {
        v.extend(
            [
                "--resolver",
                &lab.dns.addr.to_string(),
                "--allow-loopback",
                "--no-relay-test",
                "--no-dnsbl",
                "--timeout",
                "5",
                "--db",
                &dbs,
                "--port",
                &format!("smtp={}", lab.smtp_port),
                "--port",
                &format!("imap={port}"),
            ]
            .map(str::to_owned),
        );
        v
    };
    let list = write(
        dir.path(),
        "d.txt",
        "id-cyrus.mxray.test\nid-hostile.mxray.test\n",
    );
    let r = mxray_async(common(vec!["scan".into(), list.display().to_string()])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sw = stored_software(&db);
    assert_eq!(
        products(&sw, &cyrus.to_string()),
        [(
            u64::from(port),
            "cyrus".to_owned(),
            Some("3.6.1".to_owned()),
            Some("Debian-3.6.1-4".to_owned()),
            Some("Debian".to_owned())
        )],
        "{sw}"
    );
    assert_eq!(
        host_of(&sw, &cyrus.to_string()).unwrap()["software"][0]["source"],
        "imap-id"
    );
    let ex = Export::read(&db);
    let m = &ex.host(&hostile.to_string()).expect("hostile host")["observation"]["mailbox"];
    let imap = m
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["protocol"] == "imap")
        .expect("imap observation");
    assert_eq!(imap["status"], "success", "{imap}");
    let fields = imap["imap_id"]["fields"].as_array().expect("ID fields");
    assert_eq!(fields.len(), 30, "at most 30 pairs");
    assert_eq!(imap["imap_id"]["truncated"], true);
    assert_eq!(
        fields[0]["value"].as_str().map(str::len),
        Some(1024),
        "value cut"
    );
    assert_eq!(fields[1]["value"], "\u{1b}[2Jv0", "stored verbatim");
    assert!(host_of(&sw, &hostile.to_string()).is_none(), "{sw}");
    // Printed neutralised: no raw escape reaches the terminal.
    let r = mxray_async(common(vec!["check".into(), "id-hostile.mxray.test".into()])).await;
    assert!(r.code <= 1, "{}", r.stderr);
    assert!(!r.stdout.contains('\u{1b}'), "raw escape: {}", r.stdout);
}

/// What a command prints (stdout and stderr together: `nginx -v` and `ssh -V` use stderr).
fn installed(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?} failed");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s.trim().to_owned()
}

/// The Debian release this machine (and so every server from its packages) runs: `12` from
/// `/etc/debian_version` (`12.13`).
fn debian_release() -> String {
    let v = std::fs::read_to_string("/etc/debian_version").expect("a Debian machine");
    v.trim().split('.').next().unwrap_or("").to_owned()
}

/// `mxray software --format json` for the newest scan, per host.
fn stored_software(db: &std::path::Path) -> Value {
    json(&mxray(&[
        "software",
        "--db",
        &db.display().to_string(),
        "--format",
        "json",
    ]))
}

fn host_of<'a>(sw: &'a Value, ip: &str) -> Option<&'a Value> {
    sw["hosts"].as_array()?.iter().find(|h| h["ip"] == ip)
}

/// `(port, product, version, build, os_hint)` of one product found on a host.
type Product = (u64, String, Option<String>, Option<String>, Option<String>);

/// Each product found on a host, sorted.
fn products(sw: &Value, ip: &str) -> Vec<Product> {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let mut out: Vec<_> = host_of(sw, ip)
        .and_then(|h| h["software"].as_array())
        .into_iter()
        .flatten()
        .map(|x| {
            (
                x["port"].as_u64().unwrap_or(0),
                s(&x["product"]).unwrap_or_default(),
                s(&x["version"]),
                s(&x["build"]),
                s(&x["os_hint"]),
            )
        })
        .collect();
    out.sort();
    out
}

fn real(var: &str, script: &str) -> bool {
    real_part(var, &format!("a real server ({script})"))
}

/// Debian's Postfix: the stock banner (`$myhostname ESMTP $mail_name (Debian/GNU)`) names the
/// product and Debian but no version; the open-relay listener of `.ci/postfix.sh` adds
/// `$mail_version`, as some operators do, and then the installed version is found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_postfix_fingerprints_to_the_installed_version() {
    if !real("MXRAY_TEST_POSTFIX", ".ci/postfix.sh") {
        return;
    }
    let version = installed("postconf", &["-d", "-h", "mail_version"]);
    assert!(version.starts_with('3'), "postconf said {version:?}");
    let lab = crate::exposure::lab_with(
        [127, 77, 52],
        vec![
            ("mxray-closed.lab", "mxray-closed.lab", "127.0.25.1"),
            ("mxray-open.lab", "mxray-open.lab", "127.0.25.2"),
        ],
        vec![],
        vec![],
    )
    .await;
    let (_dir, db, ex) = crate::exposure::scan_keep(
        &lab,
        &["mxray-closed.lab", "mxray-open.lab"],
        &["smtp=2525"],
        &[],
    )
    .await;
    let sw = stored_software(&db);
    let debian = Some("Debian".to_owned());
    assert_eq!(
        products(&sw, "127.0.25.1"),
        [(2525, "postfix".to_owned(), None, None, debian.clone())],
        "{sw}"
    );
    let greeting = ex.host("127.0.25.1").unwrap()["observation"]["smtp"][0]["greeting"]["lines"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !greeting.contains(&version),
        "stock banner hides the version: {greeting}"
    );
    assert_eq!(
        products(&sw, "127.0.25.2"),
        [(2525, "postfix".to_owned(), Some(version), None, debian)],
        "{sw}"
    );
    assert_eq!(host_of(&sw, "127.0.25.2").unwrap()["os"]["name"], "Debian");
    // The stock banner names the product: a product disclosure (version unknown); the
    // listener that adds the version is a version disclosure instead.
    assert_eq!(
        ids_on(&ex, "127.0.25.1", "127.0.25.1:2525", "software."),
        ["software.product_disclosed"]
    );
    assert_eq!(
        ids_on(&ex, "127.0.25.2", "127.0.25.2:2525", "software."),
        ["software.version_disclosed"]
    );
}

/// The ids of a host's findings on one service, with a prefix.
fn ids_on(ex: &Export, ip: &str, subject: &str, prefix: &str) -> Vec<String> {
    ex.host(ip).unwrap_or_else(|| panic!("{ip} not probed"))["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["subject"]["name"] == subject)
        .filter_map(|f| f["id"].as_str())
        .filter(|id| id.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Debian's Dovecot: every POP3/IMAP port (clear and implicit TLS) fingerprints as Dovecot on
/// Debian. Its shipped `login_greeting` (`Dovecot (Debian) ready.`) carries no version, but
/// `.ci/dovecot.sh` sets `imap_id_send = name * version *`, so the IMAP ports (clear and
/// implicit TLS) answer `ID NIL` with the version `dovecot --version` reports; POP3 has no ID
/// and stays without one. See: issue 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dovecot_fingerprints_to_the_installed_version_through_imap_id() {
    if !real("MXRAY_TEST_DOVECOT", ".ci/dovecot.sh") {
        return;
    }
    // `2.3.19.1 (9b53102964)`
    let version = installed("dovecot", &["--version"]);
    let upstream = version.split_whitespace().next().unwrap_or("").to_owned();
    assert!(upstream.starts_with("2."), "dovecot said {version:?}");
    let lab = crate::exposure::lab_with(
        [127, 77, 53],
        vec![(
            "mxray-dovecot-fp.lab",
            "imap.mxray-dovecot-fp.lab",
            "127.0.110.1",
        )],
        vec![],
        vec![],
    )
    .await;
    let (_dir, db, ex) = crate::exposure::scan_keep(
        &lab,
        &["mxray-dovecot-fp.lab"],
        &["pop3=1110", "imap=1143", "pop3s=1995", "imaps=1993"],
        &[],
    )
    .await;
    let sw = stored_software(&db);
    let debian = Some("Debian".to_owned());
    let want: Vec<_> = [
        (1110, None),
        (1143, Some(upstream.clone())),
        (1993, Some(upstream.clone())),
        (1995, None),
    ]
    .into_iter()
    .map(|(p, v)| (p, "dovecot".to_owned(), v, None, debian.clone()))
    .collect();
    assert_eq!(products(&sw, "127.0.110.1"), want, "{sw}");
    let imap_sources: Vec<&str> = host_of(&sw, "127.0.110.1").unwrap()["software"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["port"] == 1143 || x["port"] == 1993)
        .map(|x| x["source"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(imap_sources, ["imap-id", "imap-id"], "{sw}");
    // `Dovecot (Debian) ready.` on POP3: the product without a version.
    for port in [1110, 1995] {
        assert_eq!(
            ids_on(
                &ex,
                "127.0.110.1",
                &format!("127.0.110.1:{port}"),
                "software."
            ),
            ["software.product_disclosed"],
            "POP3 {port}"
        );
    }
    for m in ex.host("127.0.110.1").unwrap()["observation"]["mailbox"]
        .as_array()
        .unwrap()
    {
        let g = m["greeting"].as_str().unwrap_or("");
        assert!(g.contains("Dovecot (Debian) ready"), "{m}");
        assert!(!g.contains(&upstream), "greeting discloses {upstream}: {g}");
        if m["protocol"] == "imap" {
            assert_eq!(
                m["imap_id"]["fields"],
                serde_json::json!([{"key": "name", "value": "Dovecot"},
                                   {"key": "version", "value": upstream}]),
                "{m}"
            );
        } else {
            assert!(m["imap_id"].is_null(), "{m}");
        }
    }
    assert_eq!(host_of(&sw, "127.0.110.1").unwrap()["os"]["name"], "Debian");
}

/// Debian's nginx with `server_tokens on` (its default) discloses the installed version on
/// HTTP and HTTPS; with `server_tokens off` only the product.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nginx_fingerprints_to_the_installed_version() {
    if !real("MXRAY_TEST_NGINX", ".ci/nginx.sh") {
        return;
    }
    let v = installed("nginx", &["-v"]);
    let version = v
        .rsplit("nginx/")
        .next()
        .and_then(|x| x.split_whitespace().next())
        .unwrap_or("")
        .to_owned();
    assert!(version.starts_with("1."), "nginx -v said {v:?}");
    let lab = crate::exposure::lab_with(
        [127, 77, 54],
        vec![],
        vec![],
        vec![
            ("www.mxray-nginx-fp-open.lab", "127.0.80.1"),
            ("www.mxray-nginx-fp-clean.lab", "127.0.80.2"),
        ],
    )
    .await;
    let (_dir, db, _) = crate::exposure::scan_keep(
        &lab,
        &["mxray-nginx-fp-open.lab", "mxray-nginx-fp-clean.lab"],
        &["http=8080", "https=8443"],
        &[],
    )
    .await;
    let sw = stored_software(&db);
    let at = |v: Option<String>| {
        [8080, 8443]
            .into_iter()
            .map(|p| (p, "nginx".to_owned(), v.clone(), None, None))
            .collect::<Vec<_>>()
    };
    assert_eq!(products(&sw, "127.0.80.1"), at(Some(version)), "{sw}");
    assert_eq!(products(&sw, "127.0.80.2"), at(None), "{sw}");
}

/// Debian's BIND answers `version.bind` with its full package version unless told
/// `version none;`: product, upstream version and Debian build as `named -v` reports them,
/// and the Debian release from the build. The hidden instance yields no software at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_bind_fingerprints_to_the_installed_version() {
    if !real("MXRAY_TEST_BIND", ".ci/bind.sh") {
        return;
    }
    // `BIND 9.18.41-1~deb12u1-Debian (Extended Support Version) <id:…>`
    let v = installed("named", &["-v"]);
    let full = v.split_whitespace().nth(1).unwrap_or("").to_owned();
    let (version, build) = full.split_once('-').expect("a Debian build");
    assert!(version.starts_with("9."), "named -v said {v:?}");
    let lab = crate::exposure::lab_with(
        [127, 77, 55],
        vec![],
        vec![
            (
                "mxray-bind-fp-open.lab",
                "ns.mxray-bind-open.lab",
                "127.0.53.1",
            ),
            (
                "mxray-bind-fp-closed.lab",
                "ns.mxray-bind-closed.lab",
                "127.0.53.2",
            ),
        ],
        vec![],
    )
    .await;
    let (_dir, db, _) = crate::exposure::scan_keep(
        &lab,
        &["mxray-bind-fp-open.lab", "mxray-bind-fp-closed.lab"],
        &["dns=5300"],
        &[],
    )
    .await;
    let sw = stored_software(&db);
    assert_eq!(
        products(&sw, "127.0.53.1"),
        [(
            5300,
            "bind".to_owned(),
            Some(version.to_owned()),
            Some(build.to_owned()),
            Some("Debian".to_owned())
        )],
        "{sw}"
    );
    let release = debian_release();
    if build.contains(&format!("deb{release}u")) {
        assert_eq!(
            host_of(&sw, "127.0.53.1").unwrap()["os"]["name"],
            format!("Debian {release}"),
            "{sw}"
        );
    }
    assert!(host_of(&sw, "127.0.53.2").is_none(), "{sw}");
}

/// Debian's OpenSSH (`.ci/sshd.sh`): the identification string gives product, version and
/// Debian build exactly as `ssh -V` reports them, and the OS guess the Debian release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_openssh_fingerprints_to_the_installed_version_and_debian() {
    if !real("MXRAY_TEST_SSHD", ".ci/sshd.sh") {
        return;
    }
    // `OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.x …`
    let v = installed("ssh", &["-V"]);
    let first = v.split(',').next().unwrap_or("");
    let (version, build) = first
        .trim_start_matches("OpenSSH_")
        .split_once(' ')
        .expect("a Debian build");
    assert!(!version.is_empty(), "ssh -V said {v:?}");
    let lab = crate::exposure::lab_with(
        [127, 77, 56],
        vec![("mxray-sshd.lab", "mx.mxray-sshd.lab", "127.0.22.1")],
        vec![],
        vec![],
    )
    .await;
    let (_dir, db, ex) =
        crate::exposure::scan_keep(&lab, &["mxray-sshd.lab"], &["ssh=2222"], &[]).await;
    let ident = ex.host("127.0.22.1").unwrap()["observation"]["ssh"]["identification"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(ident, format!("SSH-2.0-{first}"));
    let sw = stored_software(&db);
    assert_eq!(
        products(&sw, "127.0.22.1"),
        [(
            2222,
            "openssh".to_owned(),
            Some(version.to_owned()),
            Some(build.to_owned()),
            Some("Debian".to_owned())
        )],
        "{sw}"
    );
    let os = &host_of(&sw, "127.0.22.1").unwrap()["os"];
    assert_eq!(os["name"], format!("Debian {}", debian_release()), "{sw}");
    assert!(os["confidence"].as_f64().unwrap() > 0.5, "{os}");
}
