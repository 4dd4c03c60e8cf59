//! Findings: what a check concluded, with the evidence behind it and the fix.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to fix.
    Info,
    /// A small weakness or an information leak.
    Low,
    /// A weakness an attacker can use with some effort.
    Medium,
    /// A weakness that is commonly abused.
    High,
    /// Abuse is possible right now (an open relay, anyone may send as the domain).
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Self; 5] = [
        Self::Info,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    /// The lowercase name used in output, the database and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown severity {s:?} (expected info, low, medium, high or critical)")
            })
    }
}

/// What a finding is about.
#[derive(Clone, Debug, Eq, PartialEq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Subject {
    /// A domain (its DNS or its mail set-up as a whole).
    Domain(String),
    /// One host (an IP address), shared by every domain that uses it.
    Host(String),
    /// One service on a host, `IP:port`.
    Service(String),
}

impl Subject {
    /// The name without its kind.
    pub fn name(&self) -> &str {
        match self {
            Self::Domain(n) | Self::Host(n) | Self::Service(n) => n,
        }
    }
}

/// One conclusion of a check.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identifier, `area.what` (e.g. `smtp.open_relay`); never reworded.
    pub id: String,
    /// How bad it is.
    pub severity: Severity,
    /// What it is about.
    pub subject: Subject,
    /// One line for humans.
    pub title: String,
    /// The observed facts that prove it: transcript lines, DNS answers. Verbatim server text;
    /// outputs neutralise it for their medium.
    pub evidence: Vec<String>,
    /// What to change, in one or two sentences.
    pub fix: String,
}

impl Finding {
    /// A finding with no evidence yet.
    pub fn new(
        id: &str,
        severity: Severity,
        subject: Subject,
        title: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            id: id.to_owned(),
            severity,
            subject,
            title: title.into(),
            evidence: Vec::new(),
            fix: fix.into(),
        }
    }

    /// Adds evidence lines.
    pub fn with_evidence<I, S>(mut self, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.evidence.extend(lines.into_iter().map(Into::into));
        self
    }
}

/// The worst severity among findings, if any.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
        let f = |s| Finding::new("x.y", s, Subject::Domain("a.test".into()), "t", "f");
        assert_eq!(
            worst(&[f(Severity::Low), f(Severity::High), f(Severity::Info)]),
            Some(Severity::High)
        );
        assert_eq!(worst(&[]), None);
    }
}
