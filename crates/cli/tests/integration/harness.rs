//! Helpers: run the binary, start a lab, read the JSON export.

use mxray_lab::{Behaviour, Lab, LabOptions, SmtpServer};
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

/// [`real_part`] for a real server started by a `.ci/` script.
pub fn real_server(var: &str, script: &str) -> bool {
    real_part(var, &format!("a real server ({script})"))
}

/// `mxray ARGS --db DB`, which must exit 0; its standard output.
pub fn mxray_db(db: &Path, args: &[&str]) -> String {
    let dbs = db.display().to_string();
    let mut all = args.to_vec();
    all.extend(["--db", &dbs]);
    let r = mxray(&all);
    assert_eq!(r.code, 0, "mxray {args:?}: {}", r.stderr);
    r.stdout
}

/// `mxray report` of `db` in `lang` written to `out`, which must exit 0; the HTML.
pub fn report_html(db: &Path, lang: &str, out: &Path) -> String {
    mxray_db(
        db,
        &["report", "--lang", lang, "-o", &out.display().to_string()],
    );
    std::fs::read_to_string(out).expect("report written")
}

/// `mxray scan LIST` with the usual lab options ([`lab_args`]) into `db`, then `extra`.
pub async fn scan_lab(lab: &Lab, list: &Path, db: &Path, extra: &[&str]) -> Run {
    let mut a = vec!["scan".to_owned(), list.display().to_string()];
    a.extend(lab_args(lab, db));
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    mxray_async(a).await
}

/// The lab's domains starting with one of `prefixes`, one a line (a domain list file's text).
pub fn lab_domains(lab: &Lab, prefixes: &[&str]) -> String {
    lab.domains
        .iter()
        .filter(|d| prefixes.iter().any(|p| d.domain.starts_with(p)))
        .map(|d| format!("{}\n", d.domain))
        .collect()
}

/// An SMTP server on `ip` at the lab's SMTP port greeting with a product's `banner`
/// (`ESMTP Exim 4.96 …`) as `name`, receiving mail for `local`.
pub async fn product_smtp(
    lab: &Lab,
    ip: std::net::IpAddr,
    banner: &str,
    name: &str,
    local: &str,
) -> SmtpServer {
    SmtpServer::start(
        SocketAddr::new(ip, lab.smtp_port),
        Behaviour::Product(banner.into()),
        name,
        vec![local.to_owned()],
    )
    .await
    .expect("product-like SMTP server")
}

/// Serves `reply` (raw bytes) to every connection on `addr`, after reading one request head
/// when `read_first` (HTTP); returns the port.
pub async fn serve(addr: SocketAddr, reply: Vec<u8>, read_first: bool) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                if read_first {
                    // The whole request head: closing with unread bytes would reset the
                    // connection and could discard the reply.
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                }
                let _ = s.write_all(&reply).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

/// A `200 OK` HTTP answer with `headers` (each ending in CRLF) and a two-byte body.
pub fn http_reply(headers: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\n{headers}Content-Length: 2\r\nConnection: close\r\n\r\nok")
        .into_bytes()
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
        Self {
            lines: mxray_db(db, &["export", "--format", "jsonl"])
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

/// The ids of the findings on an export line, in order.
pub fn finding_ids(line: &Value) -> Vec<String> {
    line["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str())
        .map(str::to_owned)
        .collect()
}

/// Those of [`finding_ids`] that start with one of `prefixes`.
pub fn finding_ids_with(line: &Value, prefixes: &[&str]) -> Vec<String> {
    finding_ids(line)
        .into_iter()
        .filter(|id| prefixes.iter().any(|p| id.starts_with(p)))
        .collect()
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
    let file = write(dir.path(), "bulk.txt", &lab_domains(&lab, &["bulk-"]));
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
