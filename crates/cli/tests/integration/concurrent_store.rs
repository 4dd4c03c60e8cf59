//! Several processes on one SQLite file at once (issue 19): two scans started together on a
//! new (and on an existing) file both finish with every row stored, and readers (`export`,
//! `scans`) running beside a scan neither fail nor make it fail.

use crate::harness::*;
use mxray_lab::{Lab, LabOptions};
use std::path::Path;
use std::process::{Command, Stdio};

const BULK: usize = 24;

/// The lab's bulk domains in a list file.
fn bulk_list(lab: &Lab, dir: &Path) -> String {
    let list: String = lab
        .domains
        .iter()
        .filter(|d| d.domain.starts_with("bulk-"))
        .map(|d| format!("{}\n", d.domain))
        .collect();
    write(dir, "bulk.txt", &list).display().to_string()
}

fn spawn_scan(lab: &Lab, list: &str, db: &Path) -> std::process::Child {
    let mut args = vec![
        "scan".to_owned(),
        list.to_owned(),
        // Many small commits: the two writers interleave as often as they can.
        "--dns-concurrency".into(),
        "8".into(),
        "--concurrency".into(),
        "8".into(),
    ];
    args.extend(lab_args(lab, db));
    Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(&args)
        .env("MXRAY_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mxray scan")
}

/// Both scans exit 0, both are `finished`, and each holds every domain of the list.
fn assert_complete(db: &Path, round: &str, outputs: Vec<std::process::Output>, scans: usize) {
    for o in outputs {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{round}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let d = db.display().to_string();
    let r = mxray(&["scans", "--db", &d, "--format", "json"]);
    assert_eq!(r.code, 0, "{round}: scans: {}", r.stderr);
    let listed: serde_json::Value = serde_json::from_str(&r.stdout).expect("scans JSON");
    let listed = listed
        .as_array()
        .or_else(|| listed["scans"].as_array())
        .expect("a list of scans")
        .clone();
    assert_eq!(listed.len(), scans, "{round}: {listed:?}");
    for s in &listed {
        assert_eq!(s["status"], "finished", "{round}: {s}");
        let id = s["id"].as_i64().expect("scan id").to_string();
        let r = mxray(&["export", "--format", "jsonl", "--scan", &id, "--db", &d]);
        assert_eq!(r.code, 0, "{round}: export: {}", r.stderr);
        let domains = r
            .stdout
            .lines()
            .filter(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
                v["type"] == "domain"
            })
            .count();
        assert_eq!(domains, BULK, "{round}: scan {id} is incomplete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scans_at_once_on_one_sqlite_file_both_complete() {
    let lab = Lab::start(LabOptions {
        net: [127, 77, 210],
        bulk: BULK,
        ..LabOptions::default()
    })
    .await
    .expect("lab starts on loopback");
    let dir = temp();
    let list = bulk_list(&lab, dir.path());
    for round in 0..6 {
        let db = dir.path().join(format!("new-{round}.db"));
        let (a, b) = (spawn_scan(&lab, &list, &db), spawn_scan(&lab, &list, &db));
        let outs = tokio::task::spawn_blocking(move || {
            vec![a.wait_with_output().unwrap(), b.wait_with_output().unwrap()]
        })
        .await
        .unwrap();
        assert_complete(&db, &format!("new file, round {round}"), outs, 2);
    }
    // An existing file (two scans already in it): two more at once, with readers beside them.
    let db = dir.path().join("new-0.db");
    let d = db.display().to_string();
    let (a, b) = (spawn_scan(&lab, &list, &db), spawn_scan(&lab, &list, &db));
    let readers = tokio::task::spawn_blocking(move || {
        let mut failures = Vec::new();
        for _ in 0..5 {
            for args in [
                vec!["export", "--format", "jsonl", "--db", &d],
                vec!["scans", "--db", &d],
            ] {
                let r = mxray(&args);
                if r.code != 0 {
                    failures.push(r.stderr);
                }
            }
        }
        failures
    });
    let outs = tokio::task::spawn_blocking(move || {
        vec![a.wait_with_output().unwrap(), b.wait_with_output().unwrap()]
    })
    .await
    .unwrap();
    let failures = readers.await.unwrap();
    assert!(failures.is_empty(), "readers failed: {failures:?}");
    assert_complete(&db, "existing file", outs, 4);
}
