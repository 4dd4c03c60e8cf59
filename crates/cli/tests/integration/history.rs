//! A scan's history: `scans` lists them, `diff` compares two honestly (a check that did not
//! run is "not compared", never "resolved"), `recheck` re-derives findings from stored
//! observations without a packet.

use crate::harness::*;
use mxray_lab::{Behaviour, SmtpServer};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["id"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every finding id in one bucket (`new`, `resolved`, `not_compared`) of a JSON diff.
fn bucket(diff: &Value, name: &str) -> Vec<String> {
    diff["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .flat_map(|d| ids(&d[name]))
        .collect()
}

fn diff_json(db: &std::path::Path, a: &str, b: &str) -> Value {
    serde_json::from_str(&mxray_db(db, &["diff", a, b, "--format", "json"])).expect("diff JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_without_the_relay_test_or_block_lists_fixes_nothing() {
    let lab = lab([127, 77, 70], vec![]).await;
    let dir = temp();
    let db = dir.path().join("h.db");
    let list = write(
        dir.path(),
        "d.txt",
        "open-relay.mxray.test\nclosed.mxray.test\n",
    );
    let r = scan_lab(&lab, &list, &db, &["--dnsbl", &lab.dnsbl_arg()]).await;
    assert!(r.code <= 1, "{}", r.stderr);
    let r = scan_lab(&lab, &list, &db, &["--no-relay-test", "--no-dnsbl"]).await;
    assert!(r.code <= 1, "{}", r.stderr);

    let d = diff_json(&db, "1", "2");
    let resolved = bucket(&d, "resolved");
    assert!(
        !resolved.iter().any(|id| id == "smtp.open_relay"),
        "a scan without the relay test resolved an open relay: {resolved:?}"
    );
    assert!(
        !resolved.iter().any(|id| id.starts_with("reputation.")),
        "a scan without block lists resolved a listing: {resolved:?}"
    );
    let nc = bucket(&d, "not_compared");
    assert!(nc.iter().any(|id| id == "smtp.open_relay"), "{nc:?}");
    assert!(nc.iter().any(|id| id.starts_with("reputation.")), "{nc:?}");
    // The option that changed is shown.
    let opts: Vec<&str> = d["options_differ"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["option"].as_str())
        .collect();
    assert!(opts.contains(&"relay_test"), "{opts:?}");

    // Reversed ids are put in time order, and said so.
    let r = mxray(&["diff", "2", "1", "--db", &db.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("compared in time order"), "{}", r.stdout);
    assert!(r.stdout.contains("scan 1 → scan 2"), "{}", r.stdout);

    // `scans` lists both, with their options.
    let scans = mxray_db(&db, &["scans", "--format", "json"]);
    let scans: Value = serde_json::from_str(&scans).expect("scans JSON");
    let scans = scans.as_array().expect("array");
    assert_eq!(scans.len(), 2, "{scans:?}");
    assert_eq!(scans[0]["id"], 2);
    assert_eq!(scans[0]["domains"], 2);
    assert_eq!(scans[0]["status"], "finished");
    assert_eq!(scans[0]["options"]["relay_test"], false);
    assert_eq!(scans[1]["options"]["relay_test"], true);
    let r = mxray(&["scans", "--db", &db.display().to_string()]);
    assert!(r.stdout.lines().count() == 3, "{}", r.stdout);
}

/// An emulated server on `addr` for the life of its own runtime (a thread), so that it can be
/// stopped and another started on the same address and port.
fn server_thread(
    addr: SocketAddr,
    b: Behaviour,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            SmtpServer::start(addr, b, "regress-mx.lab", vec!["regress.lab".into()])
                .await
                .expect("server starts");
        });
        ready_tx.send(()).expect("ready");
        let _ = stop_rx.recv();
        rt.shutdown_background();
    });
    ready_rx.recv().expect("server ready");
    (stop_tx, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_opened_on_the_same_address_between_two_scans_is_new() {
    let ip: IpAddr = "127.77.71.200".parse().unwrap();
    let lab = lab(
        [127, 77, 71],
        vec![("regress.lab".into(), "regress-mx.lab".into(), ip)],
    )
    .await;
    let addr = SocketAddr::new(ip, lab.smtp_port);
    let dir = temp();
    let db = dir.path().join("r.db");
    let list = write(dir.path(), "d.txt", "regress.lab\n");
    let scan = || scan_lab(&lab, &list, &db, &[]);
    let (stop, h) = server_thread(addr, Behaviour::Closed);
    let r = scan().await;
    assert!(r.code <= 1, "{}", r.stderr);
    stop.send(()).expect("stop");
    h.join().expect("join");
    // The administrator "migrates" the server: the same address now relays.
    let (stop, h) = server_thread(addr, Behaviour::OpenRelay);
    let r = scan().await;
    assert!(r.code <= 1, "{}", r.stderr);
    stop.send(()).expect("stop");
    h.join().expect("join");

    let d = diff_json(&db, "1", "2");
    assert!(
        bucket(&d, "new").iter().any(|id| id == "smtp.open_relay"),
        "{d:#}"
    );
    assert!(bucket(&d, "not_compared").is_empty(), "{d:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recheck_rederives_findings_from_stored_observations_without_a_packet() {
    let ip: IpAddr = "127.77.72.30".parse().unwrap();
    let lab = lab(
        [127, 77, 72],
        vec![("exim.lab".into(), "exim-mx.lab".into(), ip)],
    )
    .await;
    let _exim = product_smtp(
        &lab,
        ip,
        "ESMTP Exim 4.96 Mon, 07 Dec 2026 10:00:00 +0000",
        "exim-mx.lab",
        "exim.lab",
    )
    .await;
    let dir = temp();
    let db = dir.path().join("x.db");
    // Scanned with a signature file that knows nothing: no software is recognised.
    let sigs = write(dir.path(), "sigs.toml", "");
    let list = write(dir.path(), "d.txt", "exim.lab\nclosed.mxray.test\n");
    let r = scan_lab(
        &lab,
        &list,
        &db,
        &["--signatures", &sigs.display().to_string()],
    )
    .await;
    assert!(r.code <= 1, "{}", r.stderr);
    let before = Export::read(&db);
    let host = before.host("127.77.72.30").expect("host stored");
    assert!(
        finding(host, "software.version_disclosed").is_none(),
        "{host}"
    );
    let findings_before = count(&db, "SELECT COUNT(*) FROM findings").await;

    // The signatures improve; recheck applies them to the stored scan.
    std::fs::write(&sigs, include_str!("../../../core/data/fingerprints.toml")).expect("sigs");
    let (served, connections) = (
        lab.dns.served(),
        lab.network.connections.load(Ordering::SeqCst),
    );
    let recheck = mxray_db(&db, &["recheck", "--format", "json"]);
    assert_eq!(lab.dns.served(), served, "recheck asked the DNS");
    assert_eq!(
        lab.network.connections.load(Ordering::SeqCst),
        connections,
        "recheck connected to a lab server"
    );
    let out: Value = serde_json::from_str(&recheck).expect("recheck JSON");
    assert_eq!(out["scan"], 1);
    assert_eq!(out["findings_before"], findings_before);
    let changed: Vec<&str> = out["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(changed.contains(&"software.version_disclosed"), "{out:#}");

    let after = Export::read(&db);
    let host = after.host("127.77.72.30").expect("host stored");
    let f = finding(host, "software.version_disclosed").expect("version disclosed after recheck");
    assert!(evidence(f).iter().any(|e| e.contains("Exim 4.96")), "{f}");
    // Everything else is as it was: the domain findings of the closed lab server did not move.
    let d0 = ids(&before.domain("closed.mxray.test")["findings"]);
    let d1 = ids(&after.domain("closed.mxray.test")["findings"]);
    assert_eq!(d0, d1);
    // No duplicates, and the software table was rewritten too.
    assert_eq!(count(&db, DUPLICATE_FINDINGS).await, 0);
    assert!(count(&db, "SELECT COUNT(*) FROM software WHERE product = 'exim'").await >= 1);
    // A second recheck changes nothing.
    let r = mxray(&[
        "recheck",
        "--format",
        "json",
        "--db",
        &db.display().to_string(),
    ]);
    let out: Value = serde_json::from_str(&r.stdout).expect("recheck JSON");
    assert_eq!(out["changed"].as_array().map(Vec::len), Some(0), "{out:#}");
}
