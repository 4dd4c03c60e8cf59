//! Multi-worker surveys on a real PostgreSQL (started by .ci/run): three workers share one
//! survey of a simulated population, one is killed with SIGKILL mid-run, and every target is
//! still committed exactly once, every address probed by one worker at a time. Also: the
//! same lab scan stored in PostgreSQL and in SQLite reads back the same; `--shard` splits a
//! list exactly; SQLite serves a survey too (several processes on one machine).

use crate::harness::*;
use mxray_lab::sim::{SimOptions, Simulation};
use sqlx::{Connection, PgConnection, Row};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The PostgreSQL server URL from .ci/run (`MXRAY_TEST_POSTGRES`), or None outside CI.
pub(crate) fn pg_server() -> Option<String> {
    if !real_part("MXRAY_TEST_POSTGRES", "PostgreSQL") {
        return None;
    }
    std::env::var("MXRAY_TEST_POSTGRES").ok()
}

/// A new, empty database on the test server; its URL.
pub(crate) async fn fresh_db(server: &str, tag: &str) -> String {
    let name = format!("mxray_{tag}_{}", std::process::id());
    let mut c = PgConnection::connect(server)
        .await
        .expect("connect to test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut c)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .unwrap();
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    format!("{base}/{name}")
}

async fn pg_count(url: &str, sql: &str) -> i64 {
    let mut c = PgConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn sim_args(sim: &Simulation, db: &str) -> Vec<String> {
    [
        "--db",
        db,
        "--resolver",
        &sim.dns.addr.to_string(),
        "--port",
        &format!("smtp={}", sim.smtp_port),
        "--allow-loopback",
        "--timeout",
        "2",
        "--host-deadline",
        "6",
        "--no-dnsbl",
        "--no-exposure",
        "--dns-concurrency",
        "4",
        "--concurrency",
        "4",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn spawn_worker(args: &[String], name: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mxray"))
        .arg("worker")
        .args(args)
        .args(["--name", name])
        .args(extra)
        .env("MXRAY_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start worker")
}

/// Waits for a child without blocking the runtime; its exit code and output.
async fn finish(child: Child) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let out = child.wait_with_output().expect("wait");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_one_killed_every_target_exactly_once() {
    let Some(server) = pg_server() else { return };
    const DOMAINS: usize = 450;
    let sim = Simulation::start(SimOptions {
        domains: DOMAINS,
        ips: 30,
        net: [127, 82],
        latency_median: Duration::from_millis(5),
        seed: 9,
        ..SimOptions::default()
    })
    .await
    .expect("simulation on loopback");
    let dir = temp();
    let list = write(dir.path(), "survey.txt", &sim.list);
    let db = fresh_db(&server, "survey3").await;
    let r = mxray(&["survey", "create", "--db", &db, &list.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("{DOMAINS} targets")),
        "{}",
        r.stdout
    );

    let args = sim_args(&sim, &db);
    let small = ["--batch", "8", "--lease", "3"];
    let w1 = spawn_worker(&args, "w1", &small);
    let mut w2 = spawn_worker(&args, "w2", &small);
    let w3 = spawn_worker(&args, "w3", &small);

    // Kill w2 once it has committed some work and holds a claimed batch.
    let mut held = 0;
    for _ in 0..1200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let done = pg_count(
            &db,
            "SELECT COUNT(*) FROM survey_targets WHERE worker = 'w2' AND state = 'done'",
        )
        .await;
        held = pg_count(
            &db,
            "SELECT COUNT(*) FROM survey_targets WHERE worker = 'w2' AND state = 'claimed'",
        )
        .await;
        if done >= 16 && held > 0 {
            break;
        }
    }
    w2.kill().expect("SIGKILL w2");
    let _ = w2.wait();
    assert!(held > 0, "w2 never held a batch to lose");
    let left = pg_count(
        &db,
        "SELECT COUNT(*) FROM survey_targets WHERE state <> 'done'",
    )
    .await;
    assert!(left > 0, "killed mid-run, not after the end");

    let (c1, o1) = finish(w1).await;
    let (c3, o3) = finish(w3).await;
    assert_eq!(c1, 0, "w1: {o1}");
    assert_eq!(c3, 0, "w3: {o3}");

    // Every target committed, each exactly once; w2's claimed batch was taken over.
    let n = DOMAINS as i64;
    assert_eq!(
        pg_count(
            &db,
            "SELECT COUNT(*) FROM survey_targets WHERE state = 'done'"
        )
        .await,
        n
    );
    assert_eq!(
        pg_count(&db, "SELECT COALESCE(MAX(commits), 0) FROM survey_targets").await,
        1,
        "no target committed twice"
    );
    assert_eq!(
        pg_count(
            &db,
            "SELECT CAST(SUM(commits) AS BIGINT) FROM survey_targets"
        )
        .await,
        n
    );
    assert!(
        pg_count(&db, "SELECT COUNT(*) FROM survey_targets WHERE claims > 1").await >= held,
        "the {held} targets w2 held were claimed again"
    );
    assert_eq!(pg_count(&db, "SELECT COUNT(*) FROM domains").await, n);
    assert_eq!(
        pg_count(&db, "SELECT COUNT(DISTINCT domain) FROM domains").await,
        n
    );
    // Every linked address probed and stored once; no claim left open.
    let linked = pg_count(&db, "SELECT COUNT(DISTINCT ip) FROM domain_hosts").await;
    assert!(
        linked > 20,
        "the population's servers were linked ({linked})"
    );
    assert_eq!(pg_count(&db, "SELECT COUNT(*) FROM hosts").await, linked);
    assert_eq!(
        pg_count(
            &db,
            "SELECT COUNT(*) FROM survey_hosts WHERE state <> 'done'"
        )
        .await,
        0
    );
    assert_eq!(
        pg_count(
            &db,
            "SELECT COUNT(*) FROM (SELECT domain, check_id, subject FROM findings WHERE domain IS NOT NULL \
             GROUP BY 1, 2, 3 HAVING COUNT(*) > 1) AS d"
        )
        .await,
        0,
        "no duplicated domain finding"
    );
    // One worker per address: no emulated server ever saw two connections at once, from all
    // workers together.
    for s in &sim.servers {
        assert!(
            s.stats.max_open.load(Ordering::SeqCst) <= 1,
            "{} saw {} connections at once",
            s.addr,
            s.stats.max_open.load(Ordering::SeqCst)
        );
        assert_eq!(s.stats.data_commands.load(Ordering::SeqCst), 0);
    }

    // The status command agrees, with the three workers' shares adding up.
    let r = mxray(&["survey", "status", "--db", &db, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let st: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(st["complete"], true, "{st}");
    assert_eq!(st["double_commits"], 0);
    let workers = st["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 3, "{st}");
    let sum: i64 = workers.iter().map(|w| w["domains"].as_i64().unwrap()).sum();
    assert_eq!(sum, n, "per-worker counts add up: {st}");
    let state = |name: &str| {
        workers
            .iter()
            .find(|w| w["worker"] == name)
            .map(|w| w["state"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(state("w1").as_deref(), Some("finished"));
    assert_eq!(
        state("w2").as_deref(),
        Some("running"),
        "killed, never finished"
    );
    let text = mxray(&["survey", "status", "--db", &db]);
    assert!(
        text.stdout
            .contains(&format!("{DOMAINS}/{DOMAINS} domains done")),
        "{}",
        text.stdout
    );

    // The export reads from PostgreSQL like from SQLite.
    let r = mxray(&["export", "--db", &db, "--format", "jsonl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let domains = r
        .stdout
        .lines()
        .filter(|l| l.contains("\"type\":\"domain\""))
        .count();
    assert_eq!(domains, DOMAINS);
}

/// `("domain D" or "host IP", sorted finding ids)` for every line of a JSONL export.
fn findings_by_domain(db: &str) -> BTreeMap<String, BTreeSet<String>> {
    let r = mxray(&["export", "--db", db, "--format", "jsonl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "domain" || v["type"] == "host")
        .map(|v| {
            let ids = v["findings"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|f| f["id"].as_str().unwrap_or("").to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let key = match v["type"].as_str() {
                Some("host") => format!("host {}", v["ip"].as_str().unwrap_or("")),
                _ => format!("domain {}", v["domain"].as_str().unwrap_or("")),
            };
            (key, ids)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_scan_stored_in_postgres_reads_back_like_sqlite() {
    let Some(server) = pg_server() else { return };
    let lab = lab([127, 77, 44], Vec::new()).await;
    let dir = temp();
    let list = write(dir.path(), "lab.txt", &lab.domain_list());
    let pg = fresh_db(&server, "labscan").await;
    let sqlite = dir.path().join("lab.db");
    let mut results = Vec::new();
    for db in [pg.clone(), sqlite.display().to_string()] {
        let mut args = vec!["scan".to_owned(), list.display().to_string()];
        // The lab's options (its CA file goes beside the SQLite file), then this --db.
        args.extend(lab_args(&lab, &sqlite));
        let at = args.iter().position(|a| a == "--db").expect("--db") + 1;
        args[at] = db.clone();
        let r = mxray_async(args).await;
        assert_eq!(r.code, 0, "{db}: {}", r.stderr);
        let stats = mxray(&["stats", "--db", &db, "--by", "finding"]);
        assert_eq!(stats.code, 0, "{db}: {}", stats.stderr);
        results.push((findings_by_domain(&db), stats.stdout));
    }
    let (pg_findings, pg_stats) = &results[0];
    let (lite_findings, lite_stats) = &results[1];
    assert!(pg_findings.len() > 10, "{pg_findings:?}");
    assert!(
        pg_findings
            .values()
            .any(|ids| ids.contains("smtp.open_relay")),
        "the lab's open relay is found through PostgreSQL"
    );
    assert_eq!(pg_findings, lite_findings, "same findings on both backends");
    assert_eq!(pg_stats, lite_stats, "same statistics on both backends");
}

async fn small_sim(net: [u8; 2]) -> Simulation {
    Simulation::start(SimOptions {
        domains: 90,
        ips: 12,
        net,
        latency_median: Duration::from_millis(2),
        seed: 3,
        ..SimOptions::default()
    })
    .await
    .expect("simulation on loopback")
}

async fn domains_of(db: &std::path::Path) -> Vec<String> {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    sqlx::query_scalar("SELECT domain FROM domains ORDER BY domain")
        .fetch_all(&mut c)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_a_list_exactly_once_without_a_shared_database() {
    let sim = small_sim([127, 83]).await;
    let dir = temp();
    let list = write(dir.path(), "list.txt", &sim.list);
    let mut all: BTreeMap<String, usize> = BTreeMap::new();
    for k in 1..=3 {
        let db = dir.path().join(format!("shard{k}.db"));
        let mut args = vec![
            "scan".to_owned(),
            list.display().to_string(),
            "--shard".into(),
            format!("{k}/3"),
        ];
        args.extend(sim_args(&sim, &db.display().to_string()));
        let r = mxray_async(args).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let mine = domains_of(&db).await;
        assert!(
            (15..=45).contains(&mine.len()),
            "shard {k} holds about a third: {}",
            mine.len()
        );
        for d in mine {
            *all.entry(d).or_insert(0) += 1;
        }
    }
    assert_eq!(all.len(), 90, "together the shards cover the list");
    assert!(all.values().all(|&n| n == 1), "no domain in two shards");
    let r = mxray(&["scan", "x.txt", "--shard", "4/3"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("K/N"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_sqlite_survey_on_one_machine() {
    let sim = small_sim([127, 84]).await;
    let dir = temp();
    let list = write(
        dir.path(),
        "list.txt",
        &format!("{}not a domain!\n", sim.list),
    );
    let db = dir.path().join("survey.db").display().to_string();
    let r = mxray(&["survey", "create", "--db", &db, &list.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("90 targets, 1 bad input lines"),
        "{}",
        r.stdout
    );
    let args = sim_args(&sim, &db);
    let a = spawn_worker(&args, "a", &["--batch", "5"]);
    let b = spawn_worker(&args, "b", &["--batch", "5"]);
    let ((ca, oa), (cb, ob)) = tokio::join!(finish(a), finish(b));
    assert_eq!(ca, 0, "{oa}");
    assert_eq!(cb, 0, "{ob}");
    let path = std::path::Path::new(&db);
    assert_eq!(
        count(
            path,
            "SELECT COUNT(*) FROM survey_targets WHERE state = 'done' AND commits = 1"
        )
        .await,
        90
    );
    assert_eq!(count(path, "SELECT COUNT(*) FROM domains").await, 90);
    assert_eq!(count(path, "SELECT COUNT(*) FROM input_errors").await, 1);
    assert_eq!(
        count(path, "SELECT COUNT(*) FROM hosts").await,
        count(path, "SELECT COUNT(DISTINCT ip) FROM domain_hosts").await
    );
    let r = mxray(&["survey", "status", "--db", &db]);
    assert!(r.stdout.contains("90/90 domains done"), "{}", r.stdout);
    assert!(r.stdout.contains("complete"), "{}", r.stdout);
}
