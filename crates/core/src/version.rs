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

/// Compares two Debian package versions (`[epoch:]upstream[-revision]`) as dpkg does
/// (Debian Policy §5.6.12): the epoch numerically (absent = 0), then the upstream version,
/// then the revision (absent = `0`). Each of the two is compared in alternating runs of
/// non-digits and digits: non-digit runs character by character, where `~` sorts before
/// everything (even the end of the run), then the end of the run, then letters, then every
/// other character (in ASCII order); digit runs numerically. Ubuntu uses the same rules.
pub fn compare_dpkg(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_dpkg(a.trim());
    let (eb, ub, rb) = split_dpkg(b.trim());
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// `(epoch, upstream, revision)`: the epoch before the first `:` (when numeric), the revision
/// after the last `-`.
fn split_dpkg(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up, rev),
        None => (epoch, rest, ""),
    }
}

/// The weight of one character of a non-digit run (`None`: the run has ended).
fn dpkg_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit run.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ca = dpkg_order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let cb = dpkg_order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ca != cb {
                return ca.cmp(&cb);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        // Digit run: leading zeros do not count, then the longer number is larger.
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let si = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let sj = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (da, db) = (&a[si..i], &b[sj..j]);
        let o = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// How the versions of an advisory's ranges are ordered.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Upstream versions ([`compare`]).
    #[default]
    Upstream,
    /// Debian / Ubuntu package versions ([`compare_dpkg`]).
    Dpkg,
}

impl Scheme {
    /// Compares two versions under this scheme.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Self::Upstream => compare(a, b),
            Self::Dpkg => compare_dpkg(a, b),
        }
    }
}

/// A range of affected versions: `introduced <= v < fixed`, or `<= last_affected`. A missing
/// bound is open.
#[derive(Clone, Debug, Default, Eq, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    /// First affected version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// Versions after this one are affected (NVD's `versionStartExcluding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// First fixed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// Last affected version (when no fix exists on that branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
}

impl Range {
    /// Whether `v` is inside (upstream version ordering).
    pub fn contains(&self, v: &str) -> bool {
        self.contains_in(Scheme::Upstream, v)
    }

    /// Whether `v` is inside, versions ordered by `scheme`.
    pub fn contains_in(&self, scheme: Scheme, v: &str) -> bool {
        let cmp = |x: &str| scheme.compare(v, x);
        let lo = self
            .introduced
            .as_deref()
            .filter(|s| *s != "0")
            .is_none_or(|i| cmp(i) != Ordering::Less);
        let after = self
            .after
            .as_deref()
            .is_none_or(|a| cmp(a) == Ordering::Greater);
        let hi_fixed = self
            .fixed
            .as_deref()
            .is_none_or(|f| cmp(f) == Ordering::Less);
        let hi_last = self
            .last_affected
            .as_deref()
            .is_none_or(|l| cmp(l) != Ordering::Greater);
        lo && after && hi_fixed && hi_last
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
            ..Range::default()
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
            ..Range::default()
        };
        assert!(open_low.contains("4.4p1") && !open_low.contains("9.8p1"));
        let last = Range {
            last_affected: Some("4.96".into()),
            ..Range::default()
        };
        assert!(last.contains("4.96") && !last.contains("4.96.1"));
        let after = Range {
            after: Some("8.12.0".into()),
            fixed: Some("8.12.10".into()),
            ..Range::default()
        };
        assert!(
            !after.contains("8.12.0") && after.contains("8.12.9") && !after.contains("8.12.10")
        );
    }

    /// dpkg's own ordering rules and test vectors (lib/dpkg/t/t-version.c, Debian Policy
    /// §5.6.12), and the package versions mxray derives from banners.
    #[test]
    fn dpkg_ordering() {
        let table = [
            // Epochs.
            ("0:1.0", "1.0", Equal),
            ("1:0.1", "2.0", Greater),
            ("1:9.18.19-1~deb12u1", "9.18.24-1", Greater),
            ("2:1.0", "1:9.9", Greater),
            // Upstream.
            ("1.0", "1.0", Equal),
            ("1.0", "1.0.0", Less),
            ("1.2.3", "1.2.10", Less),
            ("1.001", "1.1", Equal),
            ("2.0.7pre1", "2.0.7r", Less),
            ("1.0a", "1.0+", Less),
            ("1.0a", "1.0", Greater),
            ("1.0", "1.0.a", Less),
            // Tilde sorts before everything, even the end.
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~~a", Less),
            ("1.0~~a", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0~beta", "1.0~alpha", Greater),
            // Revisions.
            ("1.0", "1.0-0", Equal),
            ("1.0", "1.0-1", Less),
            ("1.0-1", "1.0-1+b1", Less),
            ("1.0-1", "1.0-1.1", Less),
            ("1.0-1~bpo12+1", "1.0-1", Less),
            ("1.0-2", "1.0-10", Less),
            ("1.0-1-1", "1.0-1", Greater),
            ("2.30-1", "2.30-1ubuntu1", Less),
            // Distribution builds.
            ("1:9.18.19-1~deb12u1", "1:9.18.24-1", Less),
            ("1:9.18.19-1~deb12u1", "1:9.18.19-1", Less),
            ("1:9.18.19-1~deb12u1", "1:9.18.19-1~deb12u2", Less),
            ("1:9.18.28-1~deb12u2", "1:9.18.24-1", Greater),
            ("1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u10", Less),
            ("1:9.2p1-2+deb12u3", "1:9.2p1-2", Greater),
            ("1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u3", Equal),
            ("1:8.9p1-3ubuntu0.6", "1:8.9p1-3ubuntu0.10", Less),
            (
                "1:9.18.18-0ubuntu0.22.04.2",
                "1:9.18.28-0ubuntu0.22.04.1",
                Less,
            ),
            ("8.17.1.9-2", "8.17.1.9-2+deb12u1", Less),
        ];
        for (a, b, want) in table {
            assert_eq!(compare_dpkg(a, b), want, "{a} vs {b}");
            assert_eq!(compare_dpkg(b, a), want.reverse(), "{b} vs {a}");
        }
        let r = Range {
            introduced: Some("0".into()),
            fixed: Some("1:9.18.24-1".into()),
            ..Range::default()
        };
        assert!(r.contains_in(Scheme::Dpkg, "1:9.18.19-1~deb12u1"));
        assert!(!r.contains_in(Scheme::Dpkg, "1:9.18.24-1"));
        assert!(!r.contains_in(Scheme::Dpkg, "1:9.18.28-1~deb12u2"));
    }

    #[test]
    fn dpkg_odd_input_does_not_panic() {
        assert_eq!(compare_dpkg("", ""), Equal);
        assert_eq!(compare_dpkg(":", "-"), compare_dpkg("-", ":").reverse());
        assert_eq!(compare_dpkg("99999999999999999999999:1", "1:1"), Greater);
        assert_eq!(compare_dpkg("1.0\u{e9}", "1.0"), Greater);
    }
}
