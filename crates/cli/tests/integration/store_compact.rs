//! The compact store (texts by id, compressed observations) still exports full text: every
//! domain's exported findings are exactly what the checks say about its exported observation,
//! and the CSV export carries the same titles, evidence and fixes.

use crate::harness::*;
use mxray_core::model::DomainObservation;
use serde_json::Value;

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|f| f.to_string());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_findings_are_the_checks_over_the_exported_observations() {
    let lab = lab([127, 77, 61], vec![]).await;
    let dir = temp();
    let db = dir.path().join("scan.db");
    let file = write(dir.path(), "domains.txt", &lab.domain_list());
    let r = scan_lab(&lab, &file, &db, &[]).await;
    assert_eq!(r.code, 0, "scan failed: {}", r.stderr);

    let ex = Export::read(&db);
    let mut domains = 0;
    let mut findings = 0;
    for line in ex.lines.iter().filter(|l| l["type"] == "domain") {
        if line["observation"].is_null() {
            continue;
        }
        let obs: DomainObservation =
            serde_json::from_value(line["observation"].clone()).expect("observation parses");
        let expected: Vec<Value> = mxray_core::checks::domain(&obs)
            .iter()
            .map(|f| serde_json::to_value(f).unwrap())
            .collect();
        let exported = line["findings"].as_array().expect("findings").clone();
        findings += exported.len();
        assert_eq!(
            sorted(exported),
            sorted(expected),
            "{}: exported findings differ from the checks",
            line["domain"]
        );
        domains += 1;
    }
    assert!(domains >= 10, "the lab's domains were exported: {domains}");
    assert!(findings >= domains, "findings with full text: {findings}");

    // Every finding text came back whole in the JSONL export (no empty titles or fixes).
    for line in ex.lines.iter().filter(|l| l["findings"].is_array()) {
        for f in line["findings"].as_array().unwrap() {
            assert!(!f["title"].as_str().unwrap_or("").is_empty(), "{f}");
            assert!(!f["fix"].as_str().unwrap_or("").is_empty(), "{f}");
            assert!(f["evidence"].is_array(), "{f}");
        }
    }

    // The CSV export: same titles and fixes as the JSONL one.
    let r = mxray(&[
        "export",
        "--format",
        "csv",
        "--db",
        &db.display().to_string(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let relay = ex
        .hosts()
        .into_iter()
        .find_map(|h| finding(h, "smtp.open_relay").cloned())
        .expect("an open relay in the lab");
    let mut rows = csv::Reader::from_reader(r.stdout.as_bytes());
    let row = rows
        .records()
        .map(|r| r.expect("CSV record"))
        .find(|r| &r[4] == "smtp.open_relay")
        .expect("open relay row");
    assert_eq!(&row[6], relay["title"].as_str().unwrap());
    assert_eq!(&row[8], relay["fix"].as_str().unwrap());
    assert!(!row[7].is_empty(), "evidence in the CSV row");
}
