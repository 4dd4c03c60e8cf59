//! Crash safety: `kill -9` mid-scan, then `--resume` finishes it with every domain stored
//! exactly once, nothing lost, nothing duplicated, no stored domain or host scanned again.

use crate::harness::*;
use mxray_lab::{Lab, LabOptions};
use sqlx::{Connection, SqliteConnection};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_resume_scans_every_domain_exactly_once() {
    const BULK: usize = 240;
    let SlowBulkScan {
        lab,
        dir: _dir,
        db,
        args,
        mut child,
    } = slow_bulk_scan([127, 77, 8], BULK, "resume.db").await;
    // Wait until part of the survey is stored, then kill -9 (no chance to clean up).
    let stored = wait_for_domains(&db, 40).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(stored >= 40, "the scan never got going");
    let before = count(&db, "SELECT COUNT(*) FROM domains").await;
    assert!(
        before < BULK as i64,
        "killed mid-run ({before} of {BULK} stored)"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM scans WHERE status = 'running'").await,
        1,
        "the killed scan is left unfinished"
    );

    // What was stored before the kill must not be asked about or probed again.
    let mut c = SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let done: Vec<String> = sqlx::query_scalar("SELECT domain FROM domains")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let probed: Vec<String> = sqlx::query_scalar("SELECT ip FROM hosts")
        .fetch_all(&mut c)
        .await
        .unwrap();
    drop(c);
    let mx_asked = |lab: &Lab| -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for (name, t) in lab.dns.queries() {
            if t == hickory_proto::rr::RecordType::MX {
                *m.entry(name).or_insert(0) += 1;
            }
        }
        m
    };
    let asked_before = mx_asked(&lab);
    let conns_before: HashMap<String, u64> = lab
        .servers
        .iter()
        .map(|s| {
            (
                s.addr.ip().to_string(),
                s.stats.connections.load(Ordering::SeqCst),
            )
        })
        .collect();

    let mut resume = args.clone();
    resume.push("--resume".into());
    let r = mxray_async(resume).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("resuming scan 1"), "{}", r.stderr);

    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM scans").await,
        1,
        "resumed, not restarted"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM scans WHERE status = 'finished'").await,
        1
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM domains").await,
        BULK as i64,
        "every domain stored"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT domain) FROM domains").await,
        BULK as i64
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM hosts").await,
        4,
        "four shared hosts, each once"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM domain_hosts").await,
        BULK as i64,
        "one link per domain"
    );
    assert_eq!(
        count(&db, DUPLICATE_FINDINGS).await,
        0,
        "no duplicated finding"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM findings WHERE check_id = 'smtp.open_relay'"
        )
        .await,
        1
    );
    let orphans = "SELECT COUNT(*) FROM domain_hosts WHERE ip NOT IN (SELECT ip FROM hosts)";
    assert_eq!(count(&db, orphans).await, 0, "every linked host was probed");

    let asked_after = mx_asked(&lab);
    for d in &done {
        assert_eq!(
            asked_after.get(d),
            asked_before.get(d),
            "{d} was looked up again after resume"
        );
    }
    for ip in &probed {
        let now = lab
            .servers
            .iter()
            .find(|s| s.addr.ip().to_string() == *ip)
            .unwrap()
            .stats
            .connections
            .load(Ordering::SeqCst);
        assert_eq!(now, conns_before[ip], "{ip} was probed again after resume");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_shared_ip_never_sees_more_than_one_connection_at_once() {
    let lab = Lab::start(LabOptions {
        net: [127, 77, 9],
        bulk: 80,
        ..LabOptions::default()
    })
    .await
    .unwrap();
    let dir = temp();
    let db = dir.path().join("p.db");
    let file = write(dir.path(), "all.txt", &lab_domains(&lab, &[""]));
    let r = scan_lab(
        &lab,
        &file,
        &db,
        &[
            "--concurrency",
            "64",
            "--dns-concurrency",
            "64",
            "--per-ip-interval",
            "0.2",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for s in &lab.servers {
        let max = s.stats.max_open.load(Ordering::SeqCst);
        assert!(
            max <= 1,
            "{} saw {max} connections at once",
            s.behaviour.name()
        );
    }
    // The busy shared server got exactly its two connections (probe, relay) for 25+ domains.
    assert_eq!(
        lab.server("closed")
            .unwrap()
            .stats
            .connections
            .load(Ordering::SeqCst),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_network_cap_holds_across_servers_of_one_24() {
    // All lab servers share one /24. With --per-net 1 never more than one of them is probed at
    // once; without a cap the silent and the tarpit server (each holding its connection for
    // the 2 s step timeout, both started at once) overlap, so this counter can fail.
    async fn max_open(per_net: &str, net: [u8; 3]) -> usize {
        let lab = Lab::start(LabOptions {
            net,
            tarpit_delay: Duration::from_secs(2),
            ..LabOptions::default()
        })
        .await
        .unwrap();
        let dir = temp();
        let db = dir.path().join("n.db");
        let file = write(dir.path(), "all.txt", &lab.domain_list());
        let r = scan_lab(
            &lab,
            &file,
            &db,
            &["--per-net", per_net, "--per-ip-interval", "0"],
        )
        .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        lab.network.max_open.load(Ordering::SeqCst)
    }
    let capped = max_open("2", [127, 77, 10]).await;
    assert!(
        (1..=2).contains(&capped),
        "per-/24 cap 2 exceeded: {capped}"
    );
    let uncapped = max_open("0", [127, 77, 11]).await;
    assert!(
        uncapped > 2,
        "without a cap the lab saw only {uncapped} at once"
    );
}
