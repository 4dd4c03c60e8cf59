//! Issue 14, "MX first": each domain's mail hosts are queued for probing as soon as its MX
//! and their addresses are answered, ahead of the rest of its discovery (SPF, DMARC, DKIM,
//! MTA-STS, web host, name servers), so the host stage of a survey runs alongside discovery.

use crate::harness::*;
use mxray_lab::{Lab, LabOptions};
use std::time::Duration;

/// Runs a scan of the lab with the engine's debug log; returns (exit code, stderr).
async fn scan_logged(
    lab: &Lab,
    db: &std::path::Path,
    list: &std::path::Path,
    mail_first: bool,
) -> (i32, String) {
    let mut args = vec!["scan".to_owned(), list.display().to_string()];
    args.extend(lab_args(lab, db));
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mxray"))
            .args(&args)
            .env("RUST_LOG", "mxray_scan::engine=debug")
            .env("NO_COLOR", "1")
            .env("MXRAY_MAIL_FIRST", if mail_first { "1" } else { "0" })
            .output()
            .expect("run mxray");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("join")
}

/// For each domain that led to a new host: is its "host first seen" line before the line
/// saying the rest of its discovery is done? Returns (before, after) counts.
fn order(stderr: &str) -> (usize, usize) {
    let field = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(|v| v.trim_matches('"').to_owned())
    };
    let mut discovered: Vec<String> = Vec::new();
    let (mut before, mut after) = (0, 0);
    for line in stderr.lines() {
        if line.contains("domain discovered") {
            if let Some(d) = field(line, "domain=") {
                discovered.push(d);
            }
        } else if line.contains("host first seen")
            && let Some(d) = field(line, "domain=")
        {
            if discovered.contains(&d) {
                after += 1;
            } else {
                before += 1;
            }
        }
    }
    (before, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_hosts_are_queued_before_the_rest_of_discovery() {
    let lab = Lab::start(LabOptions {
        net: [127, 77, 180],
        bulk: 20,
        tarpit_delay: Duration::from_secs(1),
        ..LabOptions::default()
    })
    .await
    .unwrap();
    let dir = temp();
    let list: String = lab
        .domains
        .iter()
        .map(|d| format!("{}\n", d.domain))
        .collect();
    let file = write(dir.path(), "all.txt", &list);

    let (code, stderr) = scan_logged(&lab, &dir.path().join("first.db"), &file, true).await;
    assert_eq!(code, 0, "{stderr}");
    let (before, after) = order(&stderr);
    assert!(before > 0, "no host queued: {stderr}");
    assert_eq!(
        after, 0,
        "every mail host is queued before its domain's other records are asked"
    );

    // Without MX first (the old order) the same hosts are queued only after their domains'
    // discovery: the check above can fail.
    let (code, stderr) = scan_logged(&lab, &dir.path().join("later.db"), &file, false).await;
    assert_eq!(code, 0, "{stderr}");
    let (before, after) = order(&stderr);
    assert_eq!(before, 0);
    assert!(after > 0, "no host queued: {stderr}");

    // The same survey either way: same domains, same hosts, same links, the open relay.
    for sql in [
        "SELECT COUNT(*) FROM domains",
        "SELECT COUNT(*) FROM hosts",
        "SELECT COUNT(*) FROM domain_hosts",
        "SELECT COUNT(*) FROM findings WHERE check_id = 'smtp.open_relay'",
    ] {
        assert_eq!(
            count(&dir.path().join("first.db"), sql).await,
            count(&dir.path().join("later.db"), sql).await,
            "{sql}"
        );
    }
}
