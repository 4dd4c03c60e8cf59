//! Differences between two scans, per domain: findings new, resolved and unchanged.
//!
//! The newsletter incident behind mxray was a setting lost in a software migration; a re-scan
//! compared with the last one shows exactly that kind of regression.

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
}

/// Compares two scans given as domain → findings. Domains present in one scan only are
/// compared against an empty list.
pub fn diff(
    old: &BTreeMap<String, Vec<Finding>>,
    new: &BTreeMap<String, Vec<Finding>>,
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
            DomainDiff {
                domain: d.clone(),
                new: b
                    .iter()
                    .filter(|f| !ka.contains(&key(f)))
                    .cloned()
                    .collect(),
                resolved: a
                    .iter()
                    .filter(|f| !kb.contains(&key(f)))
                    .cloned()
                    .collect(),
                unchanged: b.iter().filter(|f| ka.contains(&key(f))).cloned().collect(),
            }
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
        let d = diff(&old, &new);
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
        );
        assert_eq!((d[0].new.len(), d[0].resolved.len()), (1, 1));
    }
}
