//! Helpers: run the binary, start a lab, read the JSON export.

use mxray_lab::{Lab, LabOptions};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::time::Duration;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn mxray(args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_mxray"))
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

/// Runs the binary off the async runtime (the lab lives on the runtime).
pub async fn mxray_async(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        mxray(&refs)
    })
    .await
    .expect("join")
}

pub async fn lab(net: [u8; 3], extra: Vec<(String, String, std::net::IpAddr)>) -> Lab {
    Lab::start(LabOptions {
        net,
        tarpit_delay: Duration::from_secs(6),
        extra,
        ..LabOptions::default()
    })
    .await
    .expect("lab starts on loopback")
}

/// Scan options: a resolver, an SMTP port, step timeout and host deadline (seconds), a db.
pub fn scan_args(
    dns: SocketAddr,
    smtp_port: u16,
    timeout: &str,
    deadline: &str,
    db: &Path,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "--resolver",
        &dns.to_string(),
        "--port",
        &format!("smtp={smtp_port}"),
        "--allow-loopback",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    a.extend(
        [
            "--timeout",
            timeout,
            "--host-deadline",
            deadline,
            "--db",
            &db.display().to_string(),
        ]
        .map(str::to_owned),
    );
    a
}

/// The usual scan options against a lab (block lists answered by the lab DNS, so unthrottled;
/// the MTA-STS policy hosts on the lab's HTTPS port, trusted through the lab CA).
pub fn lab_args(lab: &Lab, db: &Path) -> Vec<String> {
    let mut a = scan_args(lab.dns.addr, lab.smtp_port, "2", "10", db);
    let ca = db.with_extension("lab-ca.pem");
    std::fs::write(&ca, mxray_lab::LAB_CA_PEM).expect("write the lab CA");
    a.extend([
        "--dnsbl-rate".to_owned(),
        "0".to_owned(),
        "--port".to_owned(),
        format!("https={}", lab.https_port),
        "--ca-file".to_owned(),
        ca.display().to_string(),
    ]);
    a
}

/// Whether a real part started by .ci/run is there (its variable set). Elsewhere a test
/// says it was skipped; under CI a missing part fails the test rather than pass silently.
pub fn real_part(var: &str, what: &str) -> bool {
    if std::env::var_os(var).is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide {what} and set {var}"
    );
    eprintln!("SKIPPED: {what} tests (see .ci/run; set {var}=1)");
    false
}

/// One number from the scan database.
pub async fn count(db: &Path, sql: &str) -> i64 {
    use sqlx::{Connection, Row};
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .map(|r| r.get(0))
        .unwrap_or(-1)
}

/// Findings stored twice for the same domain or host, check and subject.
pub const DUPLICATE_FINDINGS: &str = "SELECT COUNT(*) FROM (SELECT COALESCE(domain, ''), COALESCE(ip, ''), check_id, subject, COUNT(*) AS n FROM findings GROUP BY 1, 2, 3, 4 HAVING n > 1)";

pub struct Export {
    pub lines: Vec<Value>,
}

impl Export {
    pub fn read(db: &Path) -> Self {
        let r = mxray(&[
            "export",
            "--format",
            "jsonl",
            "--db",
            &db.display().to_string(),
        ]);
        assert_eq!(r.code, 0, "export failed: {}", r.stderr);
        Self {
            lines: r
                .stdout
                .lines()
                .map(|l| serde_json::from_str(l).expect("valid JSON line"))
                .collect(),
        }
    }
    pub fn domain(&self, d: &str) -> &Value {
        self.lines
            .iter()
            .find(|l| l["type"] == "domain" && l["domain"] == d)
            .unwrap_or_else(|| panic!("no domain line for {d}"))
    }
    pub fn host(&self, ip: &str) -> Option<&Value> {
        self.lines
            .iter()
            .find(|l| l["type"] == "host" && l["ip"] == ip)
    }
    pub fn hosts(&self) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["type"] == "host").collect()
    }
}

pub fn finding<'a>(line: &'a Value, id: &str) -> Option<&'a Value> {
    line["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == id))
}

pub fn evidence(f: &Value) -> Vec<String> {
    f["evidence"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// A scan of the lab's `bulk` domains, slowed down (15 ms per DNS answer, two domains and two
/// hosts at a time) and run as a child process, so that a test can act on it mid-run (kill -9,
/// a second `--resume`). Returns the lab, the temp dir, the database, the scan's arguments and
/// the child.
pub struct SlowBulkScan {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub args: Vec<String>,
    pub child: std::process::Child,
}

pub async fn slow_bulk_scan(net: [u8; 3], bulk: usize, db_name: &str) -> SlowBulkScan {
    let lab = Lab::start(LabOptions {
        net,
        bulk,
        dns_delay: Duration::from_millis(15),
        ..LabOptions::default()
    })
    .await
    .expect("lab starts on loopback");
    let dir = temp();
    let db = dir.path().join(db_name);
    let list: String = lab
        .domains
        .iter()
        .filter(|d| d.domain.starts_with("bulk-"))
        .map(|d| format!("{}\n", d.domain))
        .collect();
    let file = write(dir.path(), "bulk.txt", &list);
    let mut args = vec![
        "scan".to_owned(),
        file.display().to_string(),
        "--dns-concurrency".into(),
        "2".into(),
        "--concurrency".into(),
        "2".into(),
    ];
    args.extend(lab_args(&lab, &db));
    let child = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn mxray");
    SlowBulkScan {
        lab,
        dir,
        db,
        args,
        child,
    }
}

/// Waits (at most 30 s) until `db` holds at least `n` domains; returns how many it holds.
pub async fn wait_for_domains(db: &Path, n: i64) -> i64 {
    let mut stored = 0;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if db.exists() {
            stored = count(db, "SELECT COUNT(*) FROM domains").await;
            if stored >= n {
                break;
            }
        }
    }
    stored
}
