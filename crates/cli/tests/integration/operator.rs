//! Operator errors: one clear line and exit status 2; stored data survives.

use crate::harness::*;

#[test]
fn unreadable_input_is_exit_2_with_a_clear_message() {
    let dir = temp();
    let db = dir.path().join("e.db");
    let r = mxray(&[
        "scan",
        "/nonexistent/domains.txt",
        "--resolver",
        "127.0.0.1:9",
        "--db",
        &db.display().to_string(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("error:"), "{}", r.stderr);
    let r = mxray(&["check", "not a domain", "--resolver", "127.0.0.1:9"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not a domain name"), "{}", r.stderr);
    let r = mxray(&["scan", "x", "--port", "gopher=1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown service"), "{}", r.stderr);
    let r = mxray(&["scan", "x", "--concurrency", "0"]);
    assert_eq!(r.code, 2, "clap usage errors are operator errors too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_that_does_not_answer_is_exit_2() {
    // A UDP socket that reads and never answers.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let dir = temp();
    let list = write(dir.path(), "d.txt", "example.test\n");
    let r = mxray_async(vec![
        "scan".into(),
        list.display().to_string(),
        "--resolver".into(),
        addr.to_string(),
        "--timeout".into(),
        "1".into(),
        "--db".into(),
        dir.path().join("r.db").display().to_string(),
    ])
    .await;
    drop(sock);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not answer") && r.stderr.contains("--resolver"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_exit_2_and_loses_nothing() {
    use sqlx::Connection;
    let lab = lab([127, 77, 5], vec![]).await;
    let dir = temp();
    let db = dir.path().join("locked.db");
    let list = write(dir.path(), "d.txt", "null-mx.mxray.test\n");
    let mut args = vec!["scan".to_owned(), list.display().to_string()];
    args.extend(lab_args(&lab, &db));
    assert_eq!(mxray_async(args.clone()).await.code, 0);

    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE")
        .execute(&mut conn)
        .await
        .unwrap();
    let r = mxray_async(args.clone()).await;
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("is locked by another process"),
        "{}",
        r.stderr
    );
    sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
    drop(conn);

    let ex = Export::read(&db);
    assert_eq!(
        ex.domain("null-mx.mxray.test")["observation"]["mx_mode"],
        "null-mx",
        "the first scan is intact"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_export_neutralises_formulas_and_json_lines_follow_the_schema() {
    let lab = lab([127, 77, 6], vec![]).await;
    let dir = temp();
    let db = dir.path().join("c.db");
    let list = write(
        dir.path(),
        "d.txt",
        "hostile.mxray.test\nopen-relay.mxray.test\n",
    );
    let mut args = vec![
        "scan".to_owned(),
        list.display().to_string(),
        "--ehlo-name".into(),
        "scanner.example.org".into(),
    ];
    args.extend(lab_args(&lab, &db));
    assert_eq!(mxray_async(args).await.code, 0);
    let out = dir.path().join("f.csv");
    let r = mxray(&[
        "export",
        "--format",
        "csv",
        "--bom",
        "--db",
        &db.display().to_string(),
        "-o",
        &out.display().to_string(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "BOM for Excel");
    let text = String::from_utf8(bytes).unwrap();
    let mut rd = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = rd.headers().unwrap().clone();
    assert_eq!(&headers[4], "check");
    let mut rows = 0;
    for rec in rd.records() {
        let rec = rec.unwrap();
        rows += 1;
        for cell in rec.iter() {
            for line in cell.split('\n') {
                assert!(
                    !line.starts_with(['=', '+', '-', '@']),
                    "formula-like cell line {line:?}"
                );
                assert!(!line.contains('\u{1b}'), "control character in {line:?}");
            }
        }
    }
    assert!(rows >= 2, "{text}");
    assert!(text.contains("smtp.open_relay"));

    // JSON Lines: every line has the documented type and keys.
    let ex = Export::read(&db);
    assert_eq!(ex.lines[0]["type"], "scan");
    assert_eq!(ex.lines[0]["schema"], 1);
    assert_eq!(ex.lines[0]["params"]["ehlo_name"], "scanner.example.org");
    for l in &ex.lines {
        match l["type"].as_str().unwrap() {
            "scan" => assert!(l["started_at"].is_i64() && l["status"] == "finished"),
            "domain" => {
                assert!(l["domain"].is_string() && l["ips"].is_array() && l["findings"].is_array())
            }
            "host" => assert!(
                l["ip"].is_string()
                    && l["observation"]["smtp"].is_array()
                    && l["findings"].is_array()
            ),
            "input_error" => assert!(l["line"].is_u64()),
            other => panic!("undocumented line type {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_scan_keeps_what_was_stored_and_resume_finishes_it() {
    use mxray_lab::{Lab, LabOptions};
    let lab = Lab::start(LabOptions {
        net: [127, 77, 12],
        bulk: 400,
        ..LabOptions::default()
    })
    .await
    .unwrap();
    let dir = temp();
    let db = dir.path().join("full.db");
    let file = write(dir.path(), "bulk.txt", &lab_domains(&lab, &["bulk-"]));
    let mut args = vec!["scan".to_owned(), file.display().to_string()];
    args.extend(lab_args(&lab, &db));
    // A file-size limit stands in for a full disk: writes past it fail (SIGXFSZ ignored).
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "trap '' XFSZ; ulimit -f 520; exec '{}' {}",
        env!("CARGO_BIN_EXE_mxray"),
        quoted.join(" ")
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write the database") && stderr.contains("--resume"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let kept = count(&db, "SELECT COUNT(*) FROM domains").await
        + count(&db, "SELECT COUNT(*) FROM hosts").await;
    assert!(
        kept < 404,
        "the limit stopped the scan before everything was stored ({kept} rows)"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM scans WHERE status = 'finished'").await,
        0
    );
    let r = mxray_async({
        let mut a = args.clone();
        a.push("--resume".into());
        a
    })
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM domains").await, 400);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM hosts").await, 4);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM scans WHERE status = 'finished'").await,
        1
    );
    assert_eq!(count(&db, DUPLICATE_FINDINGS).await, 0);
}
