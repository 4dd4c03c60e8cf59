//! Issue 15: one process per running scan, no scan left `running` by a failed start, clear
//! and quick errors for unusable databases, read-only commands on read-only files.

use crate::harness::*;
use std::process::Command;
use std::sync::atomic::Ordering;

/// (3) A second `--resume` beside a live scan is refused (naming the owner) and changes
/// nothing; once the owner is killed (kill -9), `--resume` takes the stale lock over. The
/// per-IP cap holds over both processes, and no finding is stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_resume_is_refused_while_the_scan_runs_and_takes_over_a_dead_one() {
    const BULK: usize = 160;
    let SlowBulkScan {
        lab,
        dir: _dir,
        db,
        args,
        mut child,
    } = slow_bulk_scan([127, 77, 153], BULK, "lock.db").await;
    let stored = wait_for_domains(&db, 10).await;
    assert!(stored >= 10, "the first scan never got going");
    assert_eq!(
        count(&db, "SELECT pid FROM scan_locks").await,
        i64::from(child.id()),
        "the running scan holds the lock"
    );

    let mut resume = args.clone();
    resume.push("--resume".into());
    let conns_before = lab.network.connections.load(Ordering::SeqCst);
    let r = mxray_async(resume.clone()).await;
    assert_eq!(r.code, 2, "refused: {}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("is being run by process {}", child.id())),
        "{}",
        r.stderr
    );
    // The refused process did not reopen, scan or store anything: the owner still runs it.
    assert_eq!(
        count(&db, "SELECT pid FROM scan_locks").await,
        i64::from(child.id())
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM scans").await, 1);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the owner still runs (its connections: {} before the refusal)",
        conns_before
    );

    // kill -9: the lock stays behind with a dead PID, and is taken over.
    child.kill().unwrap();
    child.wait().unwrap();
    let r = mxray_async(resume).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("which is gone; taking it over"),
        "{}",
        r.stderr
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM scan_locks").await,
        0,
        "released"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM scans WHERE status = 'finished'").await,
        1
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM domains").await,
        BULK as i64
    );
    assert_eq!(count(&db, DUPLICATE_FINDINGS).await, 0);
    for s in &lab.servers {
        let max = s.stats.max_open.load(Ordering::SeqCst);
        assert!(max <= 1, "{} saw {max} connections at once", s.addr);
    }
}

/// (5) A domain list that cannot be read leaves no scan behind for `--resume`.
#[test]
fn a_failed_start_leaves_no_running_scan() {
    let dir = temp();
    let db = dir.path().join("f.db");
    let db_s = db.display().to_string();
    let missing = dir.path().join("no-such-list.txt").display().to_string();
    let r = mxray(&["scan", &missing, "--db", &db_s, "--resolver", "127.0.0.1:9"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read domain list"), "{}", r.stderr);
    let r = mxray(&[
        "scan",
        &missing,
        "--db",
        &db_s,
        "--resume",
        "--resolver",
        "127.0.0.1:9",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    if db.exists() {
        let running = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(count(
                &db,
                "SELECT COUNT(*) FROM scans WHERE status <> 'finished'",
            ));
        assert_eq!(running, 0, "a scan was left unfinished");
    }
}

/// (6) A file that is not a database, a PostgreSQL server that is not there: one line naming
/// the cause.
#[test]
fn unusable_databases_are_named_in_one_line() {
    let dir = temp();
    let junk = write(
        dir.path(),
        "junk.db",
        &"this is not a database\n".repeat(200),
    );
    let junk_s = junk.display().to_string();
    for cmd in [
        vec!["export", "--format", "jsonl", "--db", &junk_s],
        vec!["report", "--db", &junk_s, "-o", "/dev/null"],
    ] {
        let r = mxray(&cmd);
        assert_eq!(r.code, 2, "{cmd:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("is not a database"),
            "{cmd:?}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("check the path and its permissions"),
            "{}",
            r.stderr
        );
    }
    let list = write(dir.path(), "d.txt", "example.jp\n");
    let r = mxray(&[
        "scan",
        &list.display().to_string(),
        "--db",
        &junk_s,
        "--resolver",
        "127.0.0.1:9",
    ]);
    assert_eq!(r.code, 2);
    // Port 1 on loopback: refused at once.
    let r = mxray(&[
        "export",
        "--format",
        "jsonl",
        "--db",
        "postgres://mxray@127.0.0.1:1/survey",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot reach PostgreSQL at 127.0.0.1:1"),
        "{}",
        r.stderr
    );
}

/// Runs the binary as an unprivileged user when the tests run as root (as in CI), so file
/// permissions apply.
fn mxray_as_nobody(args: &[&str]) -> Run {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_mxray"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_mxray"))
    };
    let out = cmd
        .args(args)
        .env("MXRAY_LOG", "error")
        .output()
        .expect("run mxray");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// (6) A survey in a directory this user cannot write: `export` and `report` read it
/// (read-only), `scan` says the database cannot be written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_read_a_database_they_cannot_write() {
    use std::os::unix::fs::PermissionsExt;
    let lab = lab([127, 77, 154], vec![]).await;
    let dir = temp();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let db = shared.join("survey.db");
    let list = write(
        dir.path(),
        "d.txt",
        "null-mx.mxray.test\nclosed.mxray.test\n",
    );
    let r = scan_lab(&lab, &list, &db, &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::remove_file(db.with_extension("lab-ca.pem")).ok();
    // Everyone may read and enter; nobody but the owner may write.
    for p in [dir.path(), shared.as_path(), list.as_path()] {
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let db_s = db.display().to_string();

    let r = mxray_as_nobody(&["export", "--format", "jsonl", "--db", &db_s]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("\"domain\":\"closed.mxray.test\""),
        "{}",
        r.stdout
    );
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    let html = out.join("r.html").display().to_string();
    let r = mxray_as_nobody(&["report", "--db", &db_s, "-o", &html]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::path::Path::new(&html).exists());
    // Nothing was written next to the database.
    let names: Vec<String> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["survey.db".to_owned()], "{names:?}");

    let mut scan = vec!["scan".to_owned(), list.display().to_string()];
    scan.extend(lab_args(&lab, &db));
    scan.retain(|a| !a.ends_with("lab-ca.pem"));
    if let Some(i) = scan.iter().position(|a| a == "--ca-file") {
        scan.remove(i);
    }
    let refs: Vec<&str> = scan.iter().map(String::as_str).collect();
    let r = mxray_as_nobody(&refs);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot write database") && r.stderr.contains("permission denied"),
        "{}",
        r.stderr
    );
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
}
