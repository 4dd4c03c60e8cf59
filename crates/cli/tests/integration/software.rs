//! Fingerprints and advisories on a stored scan: `affected` and `alerts` answer from the
//! database, including for an advisory imported after the scan; unknown banners are counted.

use crate::harness::*;
use mxray_lab::{Behaviour, SmtpServer};
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
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "sendmail"},
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
    let local = vec!["mxray.test".to_owned()];
    let _exim = SmtpServer::start(
        SocketAddr::new(exim, lab.smtp_port),
        Behaviour::Product("ESMTP Exim 4.96 Tue, 24 Nov 2026 10:00:00 +0000".into()),
        "exim-mx.mxray.test",
        local.clone(),
    )
    .await
    .expect("exim-like server");
    let _sendmail = SmtpServer::start(
        SocketAddr::new(sendmail, lab.smtp_port),
        Behaviour::Product(
            "ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; Tue, 24 Nov 2026 10:00:00 +0900".into(),
        ),
        "sendmail-mx.mxray.test",
        local,
    )
    .await
    .expect("sendmail-like server");

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

    // First `alerts`: everything the scan matched with the shipped advisories.
    let first = json(&mxray(&["alerts", "--db", &dbs, "--format", "json"]));
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
    // Asked again: nothing new.
    assert!(ids(&json(&mxray(&["alerts", "--db", &dbs, "--format", "json"]))).is_empty());
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
    let mut args = vec![
        "scan".to_owned(),
        list.display().to_string(),
        "--no-relay-test".into(),
        "--signatures".into(),
        sigs.display().to_string(),
    ];
    args.extend(lab_args(&lab, &db));
    let r = mxray_async(args).await;
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
