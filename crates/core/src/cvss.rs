//! CVSS base scores from vectors, and severities from scores.
//!
//! - **v3.0 / v3.1** (`CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`): the base score is computed
//!   with the formula of the CVSS v3.1 specification (§7.1, with its `Roundup`), which v3.0
//!   vectors are scored with too (the two differ only in rounding corner cases).
//! - **v2** (`AV:N/AC:L/Au:N/C:C/I:C/A:C`): the v2 base equation (CVSS v2 guide §3.2.1).
//! - **v4.0**: the v4 score needs the specification's table of 270 macro-vectors, so mxray
//!   uses the score the source gives; a v4 vector without a score is mapped by
//!   [`v4_severity`]'s rule instead.
//!
//! Severities follow the qualitative scales of the specifications: v3 and v4 — 0.0 none
//! (`info`), 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0 critical; v2 (NVD) — 0.0–3.9
//! low, 4.0–6.9 medium, 7.0–10.0 high.

use crate::Severity;
use serde::{Deserialize, Serialize};

/// A CVSS assessment as an advisory carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: String,
    /// Base score, 0.0–10.0 (computed from the vector for v2 and v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The vector string.
    pub vector: String,
}

impl Cvss {
    /// Reads a vector (any version); `score` is the score the source states, used when the
    /// vector cannot be scored here (v4) and as a fallback for malformed vectors.
    pub fn from_vector(vector: &str, score: Option<f64>) -> Option<Self> {
        let vector = vector.trim();
        let (version, computed) = if let Some(rest) = vector.strip_prefix("CVSS:3.") {
            let minor = rest.chars().next()?;
            (format!("3.{minor}"), v3_base_score(vector))
        } else if vector.starts_with("CVSS:4.0/") {
            ("4.0".to_owned(), None)
        } else if vector.starts_with("AV:") || vector.starts_with("(AV:") {
            ("2.0".to_owned(), v2_base_score(vector))
        } else {
            return None;
        };
        Some(Self {
            version,
            score: computed.or(score).filter(|s| (0.0..=10.0).contains(s)),
            vector: vector.to_owned(),
        })
    }

    /// The severity this assessment gives.
    pub fn severity(&self) -> Severity {
        match (self.version.as_str(), self.score) {
            ("2.0", Some(s)) => v2_severity(s),
            (_, Some(s)) => v3_severity(s),
            ("4.0", None) => v4_severity(&self.vector),
            _ => Severity::Medium,
        }
    }

    /// Preference when a source gives several: v3.1 > v3.0 > v4.0 > v2 — v4.0 scores are rarely
    /// published by NVD yet and v3 is what feeds and tools compare on. Higher is preferred.
    pub fn rank(&self) -> u8 {
        match self.version.as_str() {
            "3.1" => 4,
            "3.0" => 3,
            "4.0" => 2,
            _ => 1,
        }
    }
}

/// v3 and v4 qualitative rating of a base score.
pub fn v3_severity(score: f64) -> Severity {
    if score <= 0.0 {
        Severity::Info
    } else if score < 4.0 {
        Severity::Low
    } else if score < 7.0 {
        Severity::Medium
    } else if score < 9.0 {
        Severity::High
    } else {
        Severity::Critical
    }
}

/// v2 rating of a base score (NVD's scale: no "critical").
pub fn v2_severity(score: f64) -> Severity {
    if score < 4.0 {
        Severity::Low
    } else if score < 7.0 {
        Severity::Medium
    } else {
        Severity::High
    }
}

/// A v4.0 vector without a score, rated by a documented rule rather than the specification's
/// macro-vector table:
///
/// - **critical**: reachable over the network with no attack requirements, privileges or user
///   interaction (`AV:N/AT:N/PR:N/UI:N`) and a high impact on the vulnerable system (`VC`,
///   `VI` or `VA` is `H`);
/// - **high**: any other high impact on the vulnerable system;
/// - **medium**: a low impact on the vulnerable system, or a high one on subsequent systems;
/// - **low**: anything else.
pub fn v4_severity(vector: &str) -> Severity {
    let metrics = metrics(vector);
    let is = |k: &str, v: &str| metrics.iter().any(|(mk, mv)| *mk == k && *mv == v);
    let vuln_high = ["VC", "VI", "VA"].iter().any(|k| is(k, "H"));
    let vuln_low = ["VC", "VI", "VA"].iter().any(|k| is(k, "L"));
    let sub_high = ["SC", "SI", "SA"].iter().any(|k| is(k, "H"));
    let easy = is("AV", "N") && is("AT", "N") && is("PR", "N") && is("UI", "N");
    if vuln_high && easy {
        Severity::Critical
    } else if vuln_high {
        Severity::High
    } else if vuln_low || sub_high {
        Severity::Medium
    } else {
        Severity::Low
    }
}

fn metrics(vector: &str) -> Vec<(&str, &str)> {
    vector
        .trim_matches(|c| c == '(' || c == ')')
        .split('/')
        .filter_map(|p| p.split_once(':'))
        .collect()
}

/// The metric's value, when given exactly once.
fn metric<'a>(m: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    let mut found = m.iter().filter(|(k, _)| *k == key).map(|(_, v)| *v);
    let v = found.next()?;
    found.next().is_none().then_some(v)
}

/// CVSS v3.1 `Roundup`: the smallest number with one decimal that is ≥ the input, computed
/// on integers so that 4.000000001 is not rounded to 4.1 by floating-point noise.
fn roundup(x: f64) -> f64 {
    #[allow(clippy::cast_possible_truncation)]
    let int = (x * 100_000.0).round() as i64;
    #[allow(clippy::cast_precision_loss)]
    if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        ((int / 10_000) + 1) as f64 / 10.0
    }
}

/// The v3.0/v3.1 base score of a vector; `None` when a base metric is missing or invalid.
pub fn v3_base_score(vector: &str) -> Option<f64> {
    let m = metrics(vector);
    let changed = match metric(&m, "S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match metric(&m, "AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match metric(&m, "AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (metric(&m, "PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match metric(&m, "UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |k: &str| match metric(&m, k)? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - ((1.0 - c) * (1.0 - i) * (1.0 - a));
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02_f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    Some(if changed {
        roundup(f64::min(1.08 * (impact + exploitability), 10.0))
    } else {
        roundup(f64::min(impact + exploitability, 10.0))
    })
}

/// The v2 base score of a vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`); `None` when a base metric is
/// missing or invalid.
pub fn v2_base_score(vector: &str) -> Option<f64> {
    let m = metrics(vector);
    let av = match metric(&m, "AV")? {
        "L" => 0.395,
        "A" => 0.646,
        "N" => 1.0,
        _ => return None,
    };
    let ac = match metric(&m, "AC")? {
        "H" => 0.35,
        "M" => 0.61,
        "L" => 0.71,
        _ => return None,
    };
    let au = match metric(&m, "Au")? {
        "M" => 0.45,
        "S" => 0.56,
        "N" => 0.704,
        _ => return None,
    };
    let cia = |k: &str| match metric(&m, k)? {
        "N" => Some(0.0),
        "P" => Some(0.275),
        "C" => Some(0.660),
        _ => None,
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let impact: f64 = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let exploitability = 20.0 * av * ac * au;
    let f: f64 = if impact == 0.0 { 0.0 } else { 1.176 };
    let base = ((0.6 * impact) + (0.4 * exploitability) - 1.5) * f;
    Some((base * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_scores_of_known_vectors() {
        for (vector, want) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
            // KeyTrap (CVE-2023-50387).
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            // regreSSHion (CVE-2024-6387).
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N", 5.3),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 6.5),
        ] {
            assert_eq!(v3_base_score(vector), Some(want), "{vector}");
        }
        // Order of metrics does not matter; a missing or repeated metric is no score.
        assert_eq!(
            v3_base_score("CVSS:3.1/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N/S:U"),
            Some(9.8)
        );
        assert_eq!(
            v3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H"),
            None
        );
        assert_eq!(
            v3_base_score("CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            None
        );
        assert_eq!(
            v3_base_score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            None
        );
    }

    #[test]
    fn v2_scores_of_known_vectors() {
        for (vector, want) in [
            // CVE-2003-0694 (Sendmail prescan).
            ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0),
            ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
            ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3),
            ("AV:L/AC:L/Au:N/C:C/I:C/A:C", 7.2),
            ("AV:N/AC:L/Au:N/C:N/I:N/A:N", 0.0),
        ] {
            assert_eq!(v2_base_score(vector), Some(want), "{vector}");
        }
    }

    #[test]
    fn severities() {
        let sev = |v: &str, s: Option<f64>| Cvss::from_vector(v, s).map(|c| c.severity());
        assert_eq!(
            sev("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", None),
            Some(Severity::Critical)
        );
        // The vector wins over a stated score that disagrees with it.
        assert_eq!(
            sev("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", Some(9.9)),
            Some(Severity::High)
        );
        assert_eq!(
            sev("AV:N/AC:L/Au:N/C:C/I:C/A:C", None),
            Some(Severity::High)
        );
        assert_eq!(
            sev("AV:N/AC:M/Au:N/C:N/I:P/A:N", None),
            Some(Severity::Medium)
        );
        // v4: the stated score, else the rule.
        let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        assert_eq!(sev(v4, Some(9.3)), Some(Severity::Critical));
        assert_eq!(sev(v4, Some(6.0)), Some(Severity::Medium));
        assert_eq!(sev(v4, None), Some(Severity::Critical));
        assert_eq!(
            sev(
                "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N",
                None
            ),
            Some(Severity::High)
        );
        assert_eq!(
            sev(
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N",
                None
            ),
            Some(Severity::Medium)
        );
        assert_eq!(
            sev(
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
                None
            ),
            Some(Severity::Low)
        );
        assert_eq!(sev("nonsense", Some(9.0)), None);
        assert_eq!(v3_severity(0.0), Severity::Info);
        assert_eq!(v3_severity(3.9), Severity::Low);
        assert_eq!(v3_severity(4.0), Severity::Medium);
        assert_eq!(v3_severity(8.9), Severity::High);
        assert_eq!(v3_severity(9.0), Severity::Critical);
    }
}
