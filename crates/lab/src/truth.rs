//! Ground truth of a simulated population: one JSON object per expected finding, written beside
//! the domain list as `<list>.truth.jsonl`, e.g. `{"finding":"smtp.open_relay","ip":"127.80.0.7"}`
//! (a host finding: counted once per address) or `{"finding":"dns.open_recursion","domain":"d1.bench.test"}`
//! (a domain finding). `bench/score.py TRUTH EXPORT.jsonl` compares it with a scan's export.
//! Every simulated class of server writes its entries through [`Truth`] and [`write`].

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// What a truth entry is about.
#[derive(Clone, Debug, Eq, PartialEq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A host finding on this address.
    Ip(IpAddr),
    /// A domain finding on this domain.
    Domain(String),
}

/// One expected finding.
#[derive(Clone, Debug, Eq, PartialEq, Hash, PartialOrd, Ord)]
pub struct Truth {
    /// The finding id (`smtp.open_relay`).
    pub finding: String,
    /// Where it is expected.
    pub subject: Subject,
}

impl Truth {
    /// A host finding expected on `ip`.
    pub fn ip(finding: &str, ip: IpAddr) -> Self {
        Self {
            finding: finding.into(),
            subject: Subject::Ip(ip),
        }
    }

    /// A domain finding expected on `domain`.
    pub fn domain(finding: &str, domain: &str) -> Self {
        Self {
            finding: finding.into(),
            subject: Subject::Domain(domain.into()),
        }
    }

    /// The JSON line (without newline).
    pub fn to_json(&self) -> String {
        let (key, value) = match &self.subject {
            Subject::Ip(ip) => ("ip", ip.to_string()),
            Subject::Domain(d) => ("domain", d.clone()),
        };
        format!(
            "{{\"finding\":\"{}\",\"{key}\":\"{}\"}}",
            escape(&self.finding),
            escape(&value)
        )
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Where the truth of the list at `list` lives: `<list>.truth.jsonl`.
pub fn path_for(list: &Path) -> PathBuf {
    let mut p = list.as_os_str().to_owned();
    p.push(".truth.jsonl");
    PathBuf::from(p)
}

/// Writes `truth` (sorted, one object per line) to `path`.
pub fn write(path: &Path, truth: &[Truth]) -> std::io::Result<()> {
    let mut sorted: Vec<&Truth> = truth.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut text = String::new();
    for t in sorted {
        text.push_str(&t.to_json());
        text.push('\n');
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_path() {
        let t = Truth::ip("smtp.open_relay", "127.80.0.7".parse().unwrap());
        assert_eq!(
            t.to_json(),
            r#"{"finding":"smtp.open_relay","ip":"127.80.0.7"}"#
        );
        let d = Truth::domain("dns.x", "a\"b.test");
        assert_eq!(d.to_json(), r#"{"finding":"dns.x","domain":"a\"b.test"}"#);
        assert_eq!(
            path_for(Path::new("/tmp/l.txt")),
            PathBuf::from("/tmp/l.txt.truth.jsonl")
        );
    }
}
