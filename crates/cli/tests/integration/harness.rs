//! Helpers: run the binary, start a lab, read the JSON export.

use mxray_lab::{Lab, LabOptions};
use serde_json::Value;
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

/// The usual scan options against a lab.
pub fn lab_args(lab: &Lab, db: &Path) -> Vec<String> {
    vec![
        "--resolver".into(),
        lab.dns.addr.to_string(),
        "--port".into(),
        format!("smtp={}", lab.smtp_port),
        "--allow-loopback".into(),
        "--timeout".into(),
        "2".into(),
        "--host-deadline".into(),
        "10".into(),
        "--db".into(),
        db.display().to_string(),
    ]
}

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
