//! Real-world advisory feeds (`tests/feeds/`, excerpts in the published schemas) imported into
//! a stored scan: NVD CVE API 2.0 (plain and gzip, a modified feed re-imported), OSV records of
//! Debian and Ubuntu, CISA's KEV catalogue — then `affected`, `alerts` and the export.

use crate::harness::*;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const NET: [u8; 3] = [127, 77, 60];

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(NET[0], NET[1], NET[2], last))
}

fn feed(name: &str) -> String {
    format!("{}/../../tests/feeds/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn json(r: &Run) -> Value {
    assert_eq!(r.code, 0, "failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

fn ok(r: Run) -> String {
    assert_eq!(r.code, 0, "failed: {}\n{}", r.stderr, r.stdout);
    r.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nvd_osv_and_kev_feeds_on_a_stored_scan() {
    let (sendmail, exim, patched) = (ip(70), ip(71), ip(72));
    let lab = lab(
        NET,
        vec![
            (
                "old.mxray.test".into(),
                "old-mx.mxray.test".into(),
                sendmail,
            ),
            (
                "wizard.mxray.test".into(),
                "wizard-mx.mxray.test".into(),
                exim,
            ),
            (
                "patched.mxray.test".into(),
                "patched-mx.mxray.test".into(),
                patched,
            ),
        ],
    )
    .await;
    let _sendmail = product_smtp(
        &lab,
        sendmail,
        "ESMTP Sendmail 8.12.9/8.12.9; Mon, 1 Sep 2003 10:00:00 +0900",
        "old-mx.mxray.test",
        "mxray.test",
    )
    .await;
    let _exim = product_smtp(
        &lab,
        exim,
        "ESMTP Exim 4.89 Tue, 24 Nov 2026 10:00:00 +0000",
        "wizard-mx.mxray.test",
        "mxray.test",
    )
    .await;
    // Debian 12's OpenSSH one update before the regreSSHion fix, and with it.
    let ssh = serve(
        SocketAddr::new(exim, 0),
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2\r\n".to_vec(),
        false,
    )
    .await;
    serve(
        SocketAddr::new(patched, ssh),
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
        false,
    )
    .await;

    let dir = temp();
    let db = dir.path().join("feeds.db");
    let dbs = db.display().to_string();
    let list = write(
        dir.path(),
        "domains.txt",
        "old.mxray.test\nwizard.mxray.test\npatched.mxray.test\n",
    );
    let r = scan_lab(
        &lab,
        &list,
        &db,
        &["--no-relay-test", "--port", &format!("ssh={ssh}")],
    )
    .await;
    assert_eq!(r.code, 0, "scan failed: {}", r.stderr);
    // NVD: Sendmail 8.12.9 is affected by the 2003 prescan hole, through its CPE. (Three of
    // the six advisories replace starter-set entries of the same CVE and product.)
    let imp = ok(mxray(&[
        "advisories",
        "import",
        &feed("nvd-excerpt.json"),
        "--db",
        &dbs,
    ]));
    assert!(
        imp.contains("imported 6 advisories (3 new) from 1 file(s)"),
        "{imp}"
    );
    let aff = json(&mxray(&[
        "affected",
        "CVE-2003-0694",
        "--db",
        &dbs,
        "--format",
        "json",
    ]));
    let hosts = aff["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1, "{aff}");
    assert_eq!(hosts[0]["ip"], sendmail.to_string());
    assert_eq!(hosts[0]["status"], "affected");
    assert_eq!(hosts[0]["severity"], "high");
    assert_eq!(aff["domains"], serde_json::json!(["old.mxray.test"]));
    assert_eq!(aff["by_provider"][0]["hosts"], 1);
    let text = ok(mxray(&["affected", "CVE-2003-0694", "--db", &dbs]));
    assert!(text.contains("1 host(s), 1 domain(s)"), "{text}");
    assert!(text.contains("provider"), "{text}");
    // Without the distributions' data, both OpenSSH builds are only possibly affected.
    let before = json(&mxray(&[
        "affected",
        "CVE-2024-6387",
        "--db",
        &dbs,
        "--format",
        "json",
    ]));
    let statuses: Vec<&str> = before["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["possibly-affected", "possibly-affected"],
        "{before}"
    );

    // OSV (Debian, Ubuntu, AlmaLinux records): the Debian builds are now exact.
    let imp = ok(mxray(&["advisories", "import", &feed("osv"), "--db", &dbs]));
    assert!(imp.contains("from 5 file(s)"), "{imp}");
    let after = json(&mxray(&[
        "affected",
        "CVE-2024-6387",
        "--db",
        &dbs,
        "--format",
        "json",
    ]));
    let hosts = after["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{after}");
    assert_eq!(hosts[0]["ip"], exim.to_string());
    assert_eq!(hosts[0]["advisory"], "DEBIAN-CVE-2024-6387");
    assert_eq!(hosts[0]["status"], "affected");
    assert_eq!(hosts[0]["package"], "Debian:12 openssh 1:9.2p1-2+deb12u2");
    let fixed = after["fixed"].as_array().unwrap();
    assert_eq!(fixed.len(), 1, "{after}");
    assert_eq!(fixed[0]["ip"], patched.to_string());
    assert_eq!(fixed[0]["status"], "fixed");

    // KEV: Exim 4.89's CVE-2019-10149 is known exploited and alerted first.
    let imp = ok(mxray(&[
        "advisories",
        "import",
        &feed("known_exploited_vulnerabilities.json"),
        "--db",
        &dbs,
    ]));
    assert!(
        imp.contains(
            "known exploited: 2 CVE(s) in the catalogue, 1 stored advisory(ies) among them"
        ),
        "{imp}"
    );
    let alerts = json(&mxray(&["alerts", "--db", &dbs, "--format", "json"]));
    let alerts = alerts["alerts"].as_array().expect("alerts");
    assert!(alerts.len() >= 3, "{alerts:?}");
    assert_eq!(alerts[0]["advisory"], "CVE-2019-10149");
    assert_eq!(alerts[0]["known_exploited"], true);
    assert!(alerts[1..].iter().all(|a| a["known_exploited"] == false));
    // A fixed build is never alerted.
    assert!(alerts.iter().all(|a| a["status"] != "fixed"));
    assert!(alerts.iter().any(|a| a["advisory"] == "CVE-2003-0694"));
    let text = mxray(&["affected", "CVE-2019-10149", "--db", &dbs]);
    assert!(text.stdout.contains("KNOWN EXPLOITED"), "{}", text.stdout);

    // The modified feed (gzip) updates CVE-2003-0694 in place: no duplicate, new CVSS.
    let imp = ok(mxray(&[
        "advisories",
        "import",
        &feed("nvd-modified.json.gz"),
        "--db",
        &dbs,
    ]));
    assert!(
        imp.contains("imported 4 advisories (0 new) from 1 file(s); 0 new match(es)"),
        "{imp}"
    );
    let listed = ok(mxray(&[
        "advisories",
        "list",
        "--product",
        "sendmail",
        "--db",
        &dbs,
    ]));
    let prescan: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains("CVE-2003-0694"))
        .collect();
    assert_eq!(prescan.len(), 1, "{listed}");
    assert!(prescan[0].contains("critical"), "{}", prescan[0]);
    assert!(prescan[0].contains("re-analysed"), "{}", prescan[0]);

    // CPE names with the software, in the export.
    let ex = Export::read(&db);
    let sw = &ex.host(&sendmail.to_string()).expect("host line")["software"]["software"];
    assert_eq!(
        sw[0]["cpe"], "cpe:2.3:a:sendmail:sendmail:8.12.9:*:*:*:*:*:*:*",
        "{sw}"
    );
    let ssh_host = &ex.host(&exim.to_string()).expect("host line")["software"];
    assert!(
        ssh_host["software"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["cpe"] == "cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*"),
        "{ssh_host}"
    );
    assert_eq!(
        ssh_host["os"]["cpe"], "cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*",
        "{ssh_host}"
    );
    // A file that is none of the formats is an operator error naming it.
    let bad = write(
        dir.path(),
        "bad.json",
        "{\"vulnerabilities\": [{\"cve\": 3}]}",
    );
    let r = mxray(&[
        "advisories",
        "import",
        &bad.display().to_string(),
        "--db",
        &dbs,
    ]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("bad.json"), "{}", r.stderr);
}
