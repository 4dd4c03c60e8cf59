//! Version comparison for the schemes mail and DNS software use, which are not semver:
//! `9.18.24`, `9.11.4-P2` (BIND), `4.96.1` (Exim), `8.9p1` (OpenSSH), `8.17.1.9` (Sendmail),
//! `2022.83` (Dropbear), `2.4.52` (Apache), `1.0rc1`.
//!
//! A version is split into runs of digits and runs of letters (separators `.`, `-`, `_` only
//! separate); numbers compare numerically, letters case-insensitively. Where one version ends
//! and the other goes on, the longer is newer (`8.9` < `8.9p1`, `9.11.4` < `9.11.4-P2`) unless
//! it goes on with a pre-release word (`rc`, `beta`, `alpha`, `pre`, `dev`): `1.0rc1` < `1.0`.

use std::cmp::Ordering;

#[derive(Clone, Debug, Eq, PartialEq)]
enum Part {
    Num(u64),
    Word(String),
}

fn parts(v: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<Part>| {
        if cur.is_empty() {
            return;
        }
        if cur.bytes().all(|b| b.is_ascii_digit()) {
            // Longer runs than u64 are clamped: absurd, but must not panic.
            out.push(Part::Num(cur.parse().unwrap_or(u64::MAX)));
        } else {
            out.push(Part::Word(cur.to_ascii_lowercase()));
        }
        cur.clear();
    };
    for c in v.trim().chars() {
        let same_kind = cur
            .chars()
            .last()
            .is_none_or(|l| l.is_ascii_digit() == c.is_ascii_digit());
        if !c.is_ascii_alphanumeric() {
            flush(&mut cur, &mut out);
        } else {
            if !same_kind {
                flush(&mut cur, &mut out);
            }
            cur.push(c);
        }
    }
    flush(&mut cur, &mut out);
    out
}

fn is_pre(p: &Part) -> bool {
    matches!(p, Part::Word(w) if ["rc", "beta", "alpha", "pre", "dev", "b", "a"].contains(&w.as_str()))
}

/// Compares two versions of the same product.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (parts(a), parts(b));
    let mut i = 0;
    loop {
        match (pa.get(i), pb.get(i)) {
            (None, None) => return Ordering::Equal,
            (None, Some(p)) => {
                return if is_pre(p) {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
            }
            (Some(p), None) => {
                return if is_pre(p) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            (Some(x), Some(y)) => {
                let o = match (x, y) {
                    (Part::Num(m), Part::Num(n)) => m.cmp(n),
                    (Part::Word(m), Part::Word(n)) => m.cmp(n),
                    // A number ranks above a word at the same place: 1.0.1 > 1.0rc1.
                    (Part::Num(_), Part::Word(_)) => Ordering::Greater,
                    (Part::Word(_), Part::Num(_)) => Ordering::Less,
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
        i += 1;
    }
}

/// A range of affected versions: `introduced <= v < fixed`, or `<= last_affected`. A missing
/// bound is open.
#[derive(Clone, Debug, Default, Eq, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    /// First affected version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// First fixed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// Last affected version (when no fix exists on that branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
}

impl Range {
    /// Whether `v` is inside.
    pub fn contains(&self, v: &str) -> bool {
        let lo = self
            .introduced
            .as_deref()
            .filter(|s| *s != "0")
            .is_none_or(|i| compare(v, i) != Ordering::Less);
        let hi_fixed = self
            .fixed
            .as_deref()
            .is_none_or(|f| compare(v, f) == Ordering::Less);
        let hi_last = self
            .last_affected
            .as_deref()
            .is_none_or(|l| compare(v, l) != Ordering::Greater);
        lo && hi_fixed && hi_last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn comparison_table() {
        let table = [
            ("9.18.24", "9.18.24", Equal),
            ("9.18.23", "9.18.24", Less),
            ("9.18.100", "9.18.24", Greater),
            ("9.16.48", "9.18.0", Less),
            ("9.11.4", "9.11.4-P2", Less),
            ("9.11.4-P2", "9.11.5", Less),
            ("9.11.37-S1", "9.11.37", Greater),
            ("4.96", "4.96.1", Less),
            ("4.96.1", "4.97", Less),
            ("4.97.1", "4.97", Greater),
            ("8.9p1", "8.9", Greater),
            ("8.9p1", "9.2p1", Less),
            ("9.7p1", "9.8p1", Less),
            ("4.4p1", "4.4", Greater),
            ("8.5p1", "8.10p1", Less),
            ("2.4.52", "2.4.9", Greater),
            ("2.4.52", "2.4.60", Less),
            ("8.17.1.9", "8.17.2", Less),
            ("8.18.1", "8.17.1.9", Greater),
            ("2022.83", "2024.84", Less),
            ("1.0rc1", "1.0", Less),
            ("1.0", "1.0rc1", Greater),
            ("1.0-beta2", "1.0-beta10", Less),
            ("1.0.1", "1.0rc1", Greater),
            ("3.7.11", "3.7.9", Greater),
            ("1.22.1", "1.22.1", Equal),
            ("V1.2", "v1.2", Equal),
        ];
        for (a, b, want) in table {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn odd_input_does_not_panic() {
        assert_eq!(compare("", ""), Equal);
        assert_eq!(compare("", "1"), Less);
        assert_eq!(compare("99999999999999999999999", "1"), Greater);
        assert_eq!(compare("1.2\u{1b}[31m", "1.2"), Greater);
    }

    #[test]
    fn ranges() {
        let r = Range {
            introduced: Some("9.18.0".into()),
            fixed: Some("9.18.24".into()),
            last_affected: None,
        };
        for (v, inside) in [
            ("9.18.0", true),
            ("9.18.23", true),
            ("9.18.24", false),
            ("9.16.47", false),
            ("9.19.1", false),
        ] {
            assert_eq!(r.contains(v), inside, "{v}");
        }
        let open_low = Range {
            introduced: Some("0".into()),
            fixed: Some("9.8p1".into()),
            last_affected: None,
        };
        assert!(open_low.contains("4.4p1") && !open_low.contains("9.8p1"));
        let last = Range {
            introduced: None,
            fixed: None,
            last_affected: Some("4.96".into()),
        };
        assert!(last.contains("4.96") && !last.contains("4.96.1"));
    }
}
