//! Differences between two scans, per domain: findings new, resolved and unchanged.
//!
//! The newsletter incident behind mxray was a setting lost in a software migration; a re-scan
//! compared with the last one shows exactly that kind of regression.

use mxray_core::coverage::Coverage;
use mxray_core::finding::Finding;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What identifies "the same finding" across scans: its id and its subject.
pub fn key(f: &Finding) -> (String, String) {
    (f.id.clone(), f.subject.name().to_owned())
}

/// One domain's changes.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DomainDiff {
    /// The domain.
    pub domain: String,
    /// In the newer scan only (regressions).
    pub new: Vec<Finding>,
    /// In the older scan only (fixed).
    pub resolved: Vec<Finding>,
    /// In both.
    pub unchanged: Vec<Finding>,
    /// In one scan only, but the other scan did not run the check behind it on that subject
    /// (probe disabled, host not reached, no conclusion): neither new nor resolved.
    pub not_compared: Vec<NotCompared>,
}

/// A finding that cannot be compared, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NotCompared {
    /// The finding, from the scan that has it.
    #[serde(flatten)]
    pub finding: Finding,
    /// `old` or `new`: the scan that has it.
    pub in_scan: &'static str,
    /// What the other scan shows about the check.
    pub other: Coverage,
}

/// Compares two scans given as domain → findings. Domains present in one scan only are
/// compared against an empty list. A finding in one scan only is new or resolved only when
/// the other scan ran its check on the same subject: `old_ran(domain, finding)` and
/// `new_ran(domain, finding)` tell (see [`mxray_core::coverage`]).
pub fn diff(
    old: &BTreeMap<String, Vec<Finding>>,
    new: &BTreeMap<String, Vec<Finding>>,
    old_ran: impl Fn(&str, &Finding) -> Coverage,
    new_ran: impl Fn(&str, &Finding) -> Coverage,
) -> Vec<DomainDiff> {
    let domains: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let empty = Vec::new();
    domains
        .into_iter()
        .map(|d| {
            let a = old.get(d).unwrap_or(&empty);
            let b = new.get(d).unwrap_or(&empty);
            let ka: BTreeSet<_> = a.iter().map(key).collect();
            let kb: BTreeSet<_> = b.iter().map(key).collect();
            let mut out = DomainDiff {
                domain: d.clone(),
                unchanged: b.iter().filter(|f| ka.contains(&key(f))).cloned().collect(),
                ..DomainDiff::default()
            };
            for f in b.iter().filter(|f| !ka.contains(&key(f))) {
                match old_ran(d, f) {
                    Coverage::Ran => out.new.push(f.clone()),
                    other => out.not_compared.push(NotCompared {
                        finding: f.clone(),
                        in_scan: "new",
                        other,
                    }),
                }
            }
            for f in a.iter().filter(|f| !kb.contains(&key(f))) {
                match new_ran(d, f) {
                    Coverage::Ran => out.resolved.push(f.clone()),
                    other => out.not_compared.push(NotCompared {
                        finding: f.clone(),
                        in_scan: "old",
                        other,
                    }),
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxray_core::Severity;
    use mxray_core::finding::Subject;

    fn f(id: &str, on: &str) -> Finding {
        Finding::new(id, Severity::High, Subject::Service(on.into()), "t", "f")
    }

    #[test]
    fn new_resolved_unchanged() {
        let old = BTreeMap::from([
            (
                "a.jp".to_owned(),
                vec![
                    f("smtp.no_starttls", "192.0.2.1:25"),
                    f("tls.self_signed", "192.0.2.1:25"),
                ],
            ),
            ("gone.jp".to_owned(), vec![f("dns.null_mx", "gone.jp")]),
        ]);
        let new = BTreeMap::from([
            (
                "a.jp".to_owned(),
                vec![
                    f("smtp.no_starttls", "192.0.2.1:25"),
                    f("smtp.open_relay", "192.0.2.1:25"),
                ],
            ),
            ("b.jp".to_owned(), vec![]),
        ]);
        let ran = |_: &str, _: &Finding| Coverage::Ran;
        let d = diff(&old, &new, ran, ran);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].domain, "a.jp");
        assert_eq!(
            d[0].new.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
            ["smtp.open_relay"]
        );
        assert_eq!(
            d[0].resolved
                .iter()
                .map(|x| x.id.as_str())
                .collect::<Vec<_>>(),
            ["tls.self_signed"]
        );
        assert_eq!(d[0].unchanged.len(), 1);
        assert!(d[1].new.is_empty() && d[1].resolved.is_empty());
        assert_eq!(d[2].domain, "gone.jp");
        assert_eq!(d[2].resolved.len(), 1);
        // The same id on another subject is a different finding.
        let d = diff(
            &BTreeMap::from([("x".into(), vec![f("a.b", "1:25")])]),
            &BTreeMap::from([("x".into(), vec![f("a.b", "2:25")])]),
            ran,
            ran,
        );
        assert_eq!((d[0].new.len(), d[0].resolved.len()), (1, 1));
    }

    #[test]
    fn a_check_the_other_scan_did_not_run_is_not_compared() {
        let old = BTreeMap::from([(
            "a.jp".to_owned(),
            vec![
                f("smtp.open_relay", "192.0.2.1:25"),
                f("tls.self_signed", "192.0.2.1:25"),
            ],
        )]);
        let new = BTreeMap::from([(
            "a.jp".to_owned(),
            vec![f("reputation.ip_listed", "192.0.2.1")],
        )]);
        // The new scan ran without the relay battery; the old one without block lists.
        let new_ran = |_: &str, f: &Finding| {
            if f.id == "smtp.open_relay" {
                Coverage::NotRun
            } else {
                Coverage::Ran
            }
        };
        let old_ran = |_: &str, f: &Finding| {
            if f.id.starts_with("reputation.") {
                Coverage::NotRun
            } else {
                Coverage::Ran
            }
        };
        let d = diff(&old, &new, old_ran, new_ran);
        let ids = |v: &[Finding]| v.iter().map(|x| x.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&d[0].resolved), ["tls.self_signed"]);
        assert!(d[0].new.is_empty(), "{:?}", d[0].new);
        let nc: Vec<_> = d[0]
            .not_compared
            .iter()
            .map(|n| (n.finding.id.as_str(), n.in_scan))
            .collect();
        assert_eq!(
            nc,
            [("reputation.ip_listed", "new"), ("smtp.open_relay", "old")]
        );
    }
}
