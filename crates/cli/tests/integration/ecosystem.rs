//! Issue 19's defects, one regression test each: what a new user hits with the README and
//! `--help` alone (demo over a precious file, `| head`, `-o -`, two scans on a new file,
//! SIGTERM, an unreachable PostgreSQL, a list whose every line is rejected, help texts, the
//! lab's printed command). Lab nets 127.77.160–169.

use crate::harness::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs the binary with its standard output a pipe whose reading end is already closed (what
/// `| head` leaves once it has its lines), in `dir`.
fn run_into_closed_pipe(dir: &Path, args: &[&str]) -> Run {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(args)
        .current_dir(dir)
        .env("MXRAY_LOG", "error")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run mxray");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the binary in `dir` with extra environment variables.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(args)
        .current_dir(dir)
        .env("MXRAY_LOG", "error")
        .envs(env.iter().copied())
        .output()
        .expect("run mxray");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn demo_refuses_a_file_it_did_not_write() {
    let dir = temp();
    let precious = write(dir.path(), "precious.txt", "my notes\n");
    let r = mxray(&["demo", "--db", &precious.display().to_string()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not a SQLite database"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "my notes\n");

    // A survey database (scans that are not demo scans) is not replaced either.
    let list = write(dir.path(), "d.txt", "example.org\n");
    let survey = dir.path().join("survey.db");
    let s = survey.display().to_string();
    let r = mxray(&["survey", "create", &list.display().to_string(), "--db", &s]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = std::fs::read(&survey).unwrap();
    let r = mxray(&["demo", "--db", &s]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not demo scans"), "{}", r.stderr);
    assert_eq!(std::fs::read(&survey).unwrap(), before);
}

/// Two scans of the lab into `db`, for the commands that read them.
async fn two_scans(net: u8, dir: &Path) -> std::path::PathBuf {
    let lab = lab([127, 77, net], vec![]).await;
    let db = dir.join("two.db");
    let list = write(
        dir,
        "d.txt",
        "closed.mxray.test\nopen-relay.mxray.test\nno-mx.mxray.test\n",
    );
    for _ in 0..2 {
        let r = scan_lab(&lab, &list, &db, &[]).await;
        assert!(r.code <= 1, "{}", r.stderr);
    }
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_quietly_and_dash_is_standard_output() {
    let dir = temp();
    let db = two_scans(160, dir.path()).await;
    let d = db.display().to_string();
    for args in [
        vec!["diff", "1", "2", "--db", &d, "--all"],
        vec!["export", "--format", "jsonl", "--db", &d],
        vec!["export", "--format", "csv", "--db", &d],
        vec!["scans", "--db", &d],
        vec!["report", "-o", "-", "--db", &d],
    ] {
        let r = run_into_closed_pipe(dir.path(), &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stderr.is_empty(), "{args:?}: {}", r.stderr);
    }

    // `-o -` writes to standard output, never to a file named "-".
    let r = run_in(
        dir.path(),
        &["export", "--format", "jsonl", "-o", "-", "--db", &d],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first: serde_json::Value =
        serde_json::from_str(r.stdout.lines().next().expect("a line")).unwrap();
    assert_eq!(first["type"], "scan");
    let r = run_in(dir.path(), &["report", "-o", "-", "--db", &d], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("<html"),
        "{}",
        &r.stdout[..r.stdout.len().min(200)]
    );
    assert!(
        !dir.path().join("-").exists(),
        "a file named '-' was written"
    );

    // The analysts' views (migration 8) answer without JSON functions.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM open_relays WHERE scan_id = 2 AND domain = 'open-relay.mxray.test'").await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM open_relays WHERE domain = 'closed.mxray.test'"
        )
        .await,
        0
    );
    assert!(
        count(&db, "SELECT COUNT(*) FROM findings_by_domain WHERE scan_id = 2 AND domain = 'open-relay.mxray.test' AND check_id = 'smtp.open_relay' AND severity IN ('high', 'critical')").await
            >= 1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM findings_by_domain WHERE domain IS NULL"
        )
        .await,
        0
    );
    // Every exported line validates against the published JSON Schema, and the schema is not
    // a rubber stamp: a finding with an unknown severity fails it.
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../../docs/export.schema.json"))
            .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let export = Export::read(&db);
    assert!(export.lines.len() > 3);
    for line in &export.lines {
        let errors: Vec<String> = validator.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{line}");
    }
    let mut bad = export.domain("open-relay.mxray.test").clone();
    bad["findings"] = serde_json::json!([{"id": "smtp.open_relay", "severity": "severe",
        "subject": {"kind": "domain", "name": "x"}, "title": "t", "evidence": [], "fix": ""}]);
    assert!(!validator.is_valid(&bad));

    // The lab's banners name no product: one software row and an OS guess, by hand.
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::raw_sql(
            "INSERT INTO software (scan_id, ip, port, source, product, name, version, build, os_hint, evidence) \
             VALUES (2, '127.77.160.250', 25, 'smtp-greeting', 'exim', 'Exim', '4.96', NULL, NULL, '220 x ESMTP Exim 4.96'); \
             INSERT INTO host_os (scan_id, ip, os, confidence, basis) VALUES (2, '127.77.160.250', 'Debian', 0.9, '[]');",
        )
        .execute(&mut c)
        .await
        .unwrap();
    }
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM software_by_host WHERE scan_id = 2 AND ip = '127.77.160.250' AND product = 'exim' AND version = '4.96' AND os = 'Debian'").await,
        1
    );
}

/// Two processes opening one new SQLite file at once both create and migrate it (the
/// schema, WAL mode, the built-in advisories), and their logs carry no colour codes when
/// standard error is not a terminal.
#[test]
fn two_processes_on_a_new_file_both_succeed_without_colour() {
    let dir = temp();
    for round in 0..4 {
        let db = dir.path().join(format!("new-{round}.db"));
        let d = db.display().to_string();
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_mxray"))
                .args(["advisories", "list", "--db", &d, "--product", "exim"])
                // Debug logs: every line the subscriber writes is checked for colour codes.
                .env("MXRAY_LOG", "debug")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let (a, b) = (spawn(), spawn());
        for o in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(0), "round {round}: {err}");
            assert!(
                !err.contains('\x1b'),
                "colour codes in redirected stderr: {err}"
            );
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("exim"),
                "round {round}: no advisory listed"
            );
        }
    }
}

/// A slowed scan stopped by `signal` exits with `code` and leaves its scan `interrupted`.
async fn stopped_by(net: u8, signal: &str, code: i32) {
    let mut s = slow_bulk_scan([127, 77, net], 60, "sig.db").await;
    assert!(
        wait_for_domains(&s.db, 2).await >= 2,
        "the scan stored nothing"
    );
    let pid = s.child.id().to_string();
    let sent = Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = tokio::task::spawn_blocking(move || s.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(code), "{signal}");
    assert_eq!(
        count(
            &s.db,
            "SELECT COUNT(*) FROM scans WHERE status = 'interrupted'"
        )
        .await,
        1,
        "{signal}: scan not marked interrupted"
    );
    assert!(count(&s.db, "SELECT COUNT(*) FROM domains").await < 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_scan_like_ctrl_c_with_the_shells_exit_codes() {
    stopped_by(162, "-TERM", 143).await;
    stopped_by(163, "-INT", 130).await;
}

#[test]
fn an_unreachable_postgresql_server_is_named_at_once() {
    // Nothing listens on port 1 of this loopback address: the connection is refused.
    let r = mxray(&["scans", "--db", "postgres://mxray@127.0.64.1:1/survey"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot reach PostgreSQL at 127.0.64.1:1"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("permissions"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_with_no_good_line_is_an_error_and_ranked_lists_are_read() {
    let lab = lab([127, 77, 164], vec![]).await;
    let dir = temp();
    let db = dir.path().join("r.db");
    let bad = write(dir.path(), "bad.txt", "not a domain!\n\n-bad-.\n");
    let r = scan_lab(&lab, &bad, &db, &[]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("line 1: \"not a domain!\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);

    // Tranco (`RANK,DOMAIN`) and Majestic (header, `RANK,TLDRANK,DOMAIN,…`) lists.
    for (name, text) in [
        (
            "tranco.csv",
            "1,closed.mxray.test\n2,no-mx.mxray.test\n3,!!\n",
        ),
        (
            "majestic.csv",
            "GlobalRank,TldRank,Domain,TLD\n1,1,closed.mxray.test,test\n2,2,no-mx.mxray.test,test\n3,3,!!,test\n",
        ),
    ] {
        let db = dir.path().join(format!("{name}.db"));
        let list = write(dir.path(), name, text);
        let r = scan_lab(&lab, &list, &db, &[]).await;
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM domains").await,
            2,
            "{name}"
        );
        // The bad line keeps its number in the file.
        let line = if name == "tranco.csv" { 3 } else { 4 };
        assert_eq!(
            count(&db, "SELECT line FROM input_errors").await,
            line,
            "{name}"
        );
    }
}

#[test]
fn help_texts_describe_each_command() {
    let help = |args: &[&str]| {
        let mut a = args.to_vec();
        a.push("--help");
        let r = mxray(&a);
        assert_eq!(r.code, 0, "{a:?}: {}", r.stderr);
        r.stdout
    };
    for args in [
        &["scan"][..],
        &["check"],
        &["export"],
        &["report"],
        &["diff"],
        &["scans"],
        &["recheck"],
        &["stats"],
        &["software"],
        &["alerts"],
        &["affected"],
        &["advisories", "import"],
        &["advisories", "list"],
        &["survey", "create"],
        &["survey", "status"],
        &["worker"],
    ] {
        let h = help(args);
        assert!(h.contains("postgres://"), "{args:?} --db: {h}");
        assert!(!h.contains("Database file"), "{args:?}: {h}");
        assert!(!h.contains("domain report as JSON"), "{args:?}: {h}");
    }
    assert!(!help(&["worker"]).contains("--fail-on"));
    assert!(help(&["scan"]).contains("--fail-on"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_keeps_its_ports_and_its_try_line_shows_what_the_demo_shows() {
    use std::io::BufRead;
    let dir = temp();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args([
            "lab",
            "--dns-port",
            "25353",
            "--smtp-port",
            "25525",
            "--https-port",
            "28443",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the lab");
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for l in std::io::BufReader::new(stdout).lines() {
            let l = l.unwrap();
            let last = l.starts_with("Ctrl-C");
            lines.push(l);
            if last {
                break;
            }
        }
        lines
    })
    .await
    .unwrap();
    let text = lines.join("\n");
    assert!(text.contains("HTTPS port 28443"), "{text}");
    let try_line = lines
        .iter()
        .find_map(|l| l.strip_prefix("Try: mxray "))
        .unwrap_or_else(|| panic!("no Try: line in {text}"));
    assert!(try_line.contains("--port https=28443"), "{try_line}");
    // The printed command, run as printed (in the temp dir: its --db lands there).
    let args: Vec<String> = try_line
        .split_whitespace()
        .map(str::to_owned)
        .chain(["--format".to_owned(), "json".to_owned()])
        .collect();
    let r = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            run_in(&dir, &refs, &[])
        }
    })
    .await
    .unwrap();
    let ca = try_line
        .split_whitespace()
        .skip_while(|a| *a != "--ca-file")
        .nth(1)
        .map(std::path::PathBuf::from)
        .expect("--ca-file in the Try: line");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stopped = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(r.code <= 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("reputation.ip_listed"),
        "no block-list finding from the Try: line: {}",
        r.stdout
    );
    assert_eq!(stopped.code(), Some(0));
    assert!(!ca.exists(), "the lab left its CA file behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_writes_sarif_with_catalogue_rules() {
    let lab = lab([127, 77, 165], vec![]).await;
    let dir = temp();
    let db = dir.path().join("s.db");
    let mut args = vec![
        "check".to_owned(),
        "open-relay.mxray.test".into(),
        "--format".into(),
        "sarif".into(),
    ];
    args.extend(lab_args(&lab, &db));
    let r = mxray_async(args).await;
    assert!(r.code <= 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("SARIF is JSON");
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for res in results {
        let id = res["ruleId"].as_str().unwrap();
        let i = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i], id);
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().unwrap()));
    }
    let relay = results
        .iter()
        .find(|r| r["ruleId"] == "smtp.open_relay")
        .expect("the open relay is a result");
    assert_eq!(relay["level"], "error");
    let rule = &run["tool"]["driver"]["rules"][relay["ruleIndex"].as_u64().unwrap() as usize];
    assert!(
        !rule["shortDescription"]["text"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{rule}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_summaries_config_file_and_bare_resolver_ip() {
    let lab = lab([127, 77, 166], vec![]).await;
    let dir = temp();
    let db = dir.path().join("j.db");
    let list = write(dir.path(), "d.txt", "closed.mxray.test\nbad line!\n");
    let r = scan_lab(&lab, &list, &db, &["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(v["domains"], 1);
    assert_eq!(v["bad_input_lines"], 1);
    assert_eq!(v["status"], "finished");

    let d = db.display().to_string();
    let r = mxray(&[
        "survey",
        "create",
        &list.display().to_string(),
        "--db",
        &dir.path().join("sv.db").display().to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["targets"], 1);
    let r = mxray(&[
        "advisories",
        "list",
        "--db",
        &d,
        "--format",
        "json",
        "--product",
        "exim",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let list = v.as_array().expect("an array");
    assert!(!list.is_empty());
    assert!(list.iter().all(|a| a["product"] == "exim"));

    // A configuration file supplies defaults; a flag wins over it.
    let cfg = write(
        dir.path(),
        "c.toml",
        &format!("db = \"{d}\"\nehlo-name = \"from-config.example\"\nrate = 7\n"),
    );
    let c = cfg.display().to_string();
    let r = mxray(&["config", "show", "--config", &c]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("ehlo-name = \"from-config.example\"  # configuration file"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("rate = 7  # configuration file"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("timeout = 30  # built in"),
        "{}",
        r.stdout
    );
    // `scans` reads the configured database.
    let r = mxray(&["scans", "--config", &c]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("finished"), "{}", r.stdout);
    // The flag wins: this database does not exist.
    let none = dir.path().join("none.db").display().to_string();
    let r = mxray(&["scans", "--config", &c, "--db", &none]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("none.db"), "{}", r.stderr);
    let bad = write(dir.path(), "bad.toml", "resolvr = \"127.0.0.1\"\n");
    let r = mxray(&["scans", "--config", &bad.display().to_string()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("resolvr"), "{}", r.stderr);

    // A bare IP is port 53: nothing answers there, and the message names the port.
    let r = mxray(&[
        "check",
        "closed.mxray.test",
        "--resolver",
        "127.0.64.9",
        "--timeout",
        "1",
        "--db",
        &dir.path().join("x.db").display().to_string(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("127.0.64.9:53"), "{}", r.stderr);
}
