//! Targets: the domain list a survey starts from, and the exclusion list it must honour.
//!
//! Input lines are untrusted text from files that have passed through spreadsheets, mail
//! clients and editors. One bad line is reported with its number and skipped; it never aborts
//! a survey.

use ipnet::IpNet;
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;

/// A normalised domain name: lowercase ASCII (IDN converted to punycode), no trailing dot.
#[derive(Clone, Debug, Eq, PartialEq, Hash, Ord, PartialOrd)]
pub struct Domain(String);

impl Domain {
    /// Parses and normalises one domain name.
    ///
    /// Accepts Unicode (IDNA/UTS #46, converted to `xn--` labels), a trailing dot, any case.
    /// Rejects what cannot be a registrable mail domain: single labels, IP literals, labels
    /// outside letters/digits/hyphens (RFC 1123 §2.1), labels over 63 or names over 253 octets.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(DomainError::Empty);
        }
        if raw.parse::<IpAddr>().is_ok() {
            return Err(DomainError::IpAddress);
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DomainError::BadCharacter);
        }
        let raw = raw.strip_suffix('.').unwrap_or(raw);
        if raw.split('.').any(str::is_empty) {
            return Err(DomainError::EmptyLabel);
        }
        if raw.is_ascii()
            && (!raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                || raw
                    .split('.')
                    .any(|l| l.starts_with('-') || l.ends_with('-')))
        {
            return Err(DomainError::BadCharacter);
        }
        let ascii = idna::domain_to_ascii(raw).map_err(|_| DomainError::Idna)?;
        if ascii.len() > 253 {
            return Err(DomainError::TooLong);
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(DomainError::SingleLabel);
        }
        for label in &labels {
            if label.is_empty() {
                return Err(DomainError::EmptyLabel);
            }
            if label.len() > 63 {
                return Err(DomainError::LabelTooLong);
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err(DomainError::BadCharacter);
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(DomainError::NumericTld);
        }
        Ok(Self(ascii))
    }

    /// The ASCII name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `other` or a name below it.
    pub fn is_within(&self, other: &Self) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.ends_with(&other.0)
                && self.0.as_bytes()[self.0.len() - other.0.len() - 1] == b'.')
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a line is not a domain name.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// Nothing there.
    #[error("empty name")]
    Empty,
    /// An IP address where a domain was expected.
    #[error("an IP address, not a domain name")]
    IpAddress,
    /// A character that cannot appear in a host name.
    #[error("characters that cannot appear in a domain name (letters, digits, '-' and '.' only)")]
    BadCharacter,
    /// The internationalised name is not valid IDNA.
    #[error("not a valid internationalised domain name")]
    Idna,
    /// Longer than 253 octets.
    #[error("longer than 253 characters")]
    TooLong,
    /// A label longer than 63 octets.
    #[error("a label longer than 63 characters")]
    LabelTooLong,
    /// `a..b`.
    #[error("an empty label ('..')")]
    EmptyLabel,
    /// `localhost`, `com`.
    #[error("a single label, not a domain under a suffix")]
    SingleLabel,
    /// `1.2.3.4` style names that are not IPs.
    #[error("an all-numeric top-level label")]
    NumericTld,
    /// A CSV row without the domain column (`--column`).
    #[error("no such column in this row")]
    MissingColumn,
    /// A CSV row whose quoted field is not closed on its line.
    #[error("a quoted field not closed on its line")]
    UnclosedQuote,
    /// A zone-file record or directive that cannot be read (`--input-format zone`).
    #[error("not a zone-file record mxray can read")]
    ZoneSyntax,
    /// A relative owner name in a zone file before any `$ORIGIN` or SOA.
    #[error("a relative name with no $ORIGIN")]
    NoOrigin,
    /// A hosts-file line that is not an IP address or CIDR block (`--hosts`).
    #[error("not an IP address or a CIDR block")]
    NotAnAddress,
}

/// A line of a domain list that could not be used.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct InputError {
    /// 1-based line number.
    pub line: u64,
    /// The line as read (trimmed).
    pub text: String,
    /// Why.
    pub reason: DomainError,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {:?} skipped: {}",
            self.line,
            crate::sanitize::for_terminal(&self.text),
            self.reason
        )
    }
}

/// What one input line gave.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Line {
    /// Blank, or a comment.
    Nothing,
    /// A domain seen for the first time.
    Domain(Domain),
    /// A domain already listed earlier.
    Duplicate(Domain),
    /// A line that is not a domain.
    Invalid(InputError),
}

/// Turns the lines of a domain list into targets, one line at a time, so that a list of any
/// length streams through with memory bounded by the number of distinct domains' hashes.
///
/// Lines may carry `#` comments, surrounding blanks, and CRLF endings.
#[derive(Debug, Default)]
pub struct DomainList {
    line: u64,
    seen: HashSet<u64>,
}

impl DomainList {
    /// A fresh reader state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Classifies the next line.
    pub fn push(&mut self, raw: &str) -> Line {
        self.line += 1;
        let text = raw.split('#').next().unwrap_or("").trim();
        if text.is_empty() || (self.line == 1 && ranked_header(text)) {
            return Line::Nothing;
        }
        self.classify(self.line, text, ranked_domain(text).unwrap_or(text))
    }

    /// Classifies a name taken from line `line` of another format (a CSV field, a zone
    /// file's owner name), with the same duplicate tracking; `shown` is the text reported
    /// when the name is refused. Does not advance the line count.
    pub fn push_name(&mut self, line: u64, shown: &str, name: &str) -> Line {
        self.classify(line, shown, name)
    }

    /// A refused line of another format, numbered `line`.
    pub fn invalid(line: u64, shown: &str, reason: DomainError) -> Line {
        Line::Invalid(InputError {
            line,
            text: truncate(shown, 200),
            reason,
        })
    }

    fn classify(&mut self, line: u64, text: &str, name: &str) -> Line {
        match Domain::parse(name) {
            Ok(d) => {
                if self.seen.insert(hash64(d.as_str())) {
                    Line::Domain(d)
                } else {
                    Line::Duplicate(d)
                }
            }
            Err(reason) => Line::Invalid(InputError {
                line,
                text: truncate(text, 200),
                reason,
            }),
        }
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }
}

/// The domain of a ranked list's line: the first field after the leading rank numbers
/// (Tranco `RANK,DOMAIN`; Majestic `GLOBALRANK,TLDRANK,DOMAIN,TLD,…`). `None` when the line
/// does not start with a number and a comma. Hand-written rather than through the `csv`
/// crate: core has no CSV dependency, and these lists never quote their fields.
fn ranked_domain(text: &str) -> Option<&str> {
    let (first, rest) = text.split_once(',')?;
    let number = |f: &str| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit());
    if !number(first.trim()) {
        return None;
    }
    rest.split(',').map(str::trim).find(|f| !number(f))
}

/// Whether a first line is a ranked list's header (Majestic's `GlobalRank,TldRank,Domain,…`).
fn ranked_header(text: &str) -> bool {
    text.contains(',')
        && text
            .split(',')
            .any(|f| f.trim().eq_ignore_ascii_case("domain"))
}

/// Counts the lines of a domain list that hold something besides blanks and a `#` comment
/// (what [`DomainList::push`] would not call [`Line::Nothing`]), fed in chunks of any size:
/// memory does not depend on line length, so a 1 GB file with no newline costs nothing but
/// the reading. For the progress bar's ETA.
#[derive(Clone, Copy, Debug, Default)]
pub struct LineCounter {
    lines: u64,
    content: bool,
    comment: bool,
}

impl LineCounter {
    /// Counts the lines in `bytes` (a line may continue in the next chunk).
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' => {
                    self.lines += u64::from(self.content);
                    self.content = false;
                    self.comment = false;
                }
                _ if self.comment => {}
                b'#' => self.comment = true,
                b if !b.is_ascii_whitespace() => self.content = true,
                _ => {}
            }
        }
    }

    /// The count, the last line included even without a final newline.
    pub fn finish(self) -> u64 {
        self.lines + u64::from(self.content)
    }
}

/// FNV-1a: duplicates are tracked by a 64-bit hash so that 200,000 names cost 1.6 MB, not the
/// names themselves. A collision (≈1e-9 at that size) would skip one domain; acceptable.
fn hash64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The operator's exclusion list: domains (and everything below them, top-level domains
/// included), IP addresses and CIDR blocks that must never receive a packet from mxray, not
/// even a DNS query about them.
///
/// Names are matched label by label on their DNS form (lowercase, `xn--` for Unicode, no
/// trailing dot), whatever characters the labels hold: `_spf.example.jp` and
/// `_mta-sts.example.jp` are inside `example.jp` although they are not host names. A name
/// that cannot be put in that form at all is treated as excluded when the list names any
/// domain (fail closed).
#[derive(Clone, Debug, Default)]
pub struct Exclusions {
    /// Normalised names (see [`dns_name`]).
    domains: Vec<String>,
    nets: Vec<IpNet>,
}

/// A name in the form exclusions compare: ASCII lowercase, IDNA `xn--` labels for Unicode,
/// no trailing dot, no empty label, at most 253 octets. `None` when it cannot be put in that
/// form. Unlike [`Domain::parse`], any printable ASCII other than whitespace is kept in a
/// label (`_dmarc`, `_25._tcp`): DNS names are not only host names.
pub fn dns_name(input: &str) -> Option<String> {
    let raw = input.trim();
    let raw = raw.strip_suffix('.').unwrap_or(raw);
    if raw.is_empty() {
        return None;
    }
    let ascii = if raw.is_ascii() {
        raw.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(raw).ok()?
    };
    let ok_label =
        |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_graphic());
    (ascii.len() <= 253 && ascii.split('.').all(ok_label)).then_some(ascii)
}

/// Whether `name` is `suffix` or below it (both in [`dns_name`] form).
fn name_within(name: &str, suffix: &str) -> bool {
    name == suffix
        || name
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.'))
}

/// Why an exclusion entry is refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum ExclusionError {
    /// Neither an address, a CIDR block nor a DNS name.
    #[error("not a domain name, an IP address or a CIDR block")]
    NotAName,
}

/// A line of an exclusion file that could not be used (the whole file is refused: a list
/// meant to protect someone must not be half-applied).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ExclusionLineError {
    /// 1-based line number.
    pub line: u64,
    /// The entry as read (trimmed, truncated).
    pub text: String,
    /// Why.
    pub reason: ExclusionError,
}

impl fmt::Display for ExclusionLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {:?} is {}; fix or remove the line (nothing was scanned)",
            self.line,
            crate::sanitize::for_terminal(&self.text),
            self.reason
        )
    }
}

impl std::error::Error for ExclusionLineError {}

impl Exclusions {
    /// Parses an exclusion file: one domain (a top-level domain such as `mil` excludes every
    /// name under it), IP or CIDR per line, `#` comments. Returns the list, or the first bad
    /// line.
    pub fn parse(text: &str) -> Result<Self, ExclusionLineError> {
        let mut out = Self::default();
        for (i, raw) in text.lines().enumerate() {
            let entry = raw.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            if let Ok(net) = entry.parse::<IpNet>() {
                out.nets.push(net.trunc());
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                out.nets.push(IpNet::from(ip));
            } else if let Some(name) = dns_name(entry).filter(|n| {
                n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            }) {
                out.domains.push(name);
            } else {
                return Err(ExclusionLineError {
                    line: i as u64 + 1,
                    text: truncate(entry, 200),
                    reason: ExclusionError::NotAName,
                });
            }
        }
        Ok(out)
    }

    /// Whether a domain (or a parent of it) is excluded.
    pub fn excludes_domain(&self, d: &Domain) -> bool {
        self.domains.iter().any(|e| name_within(d.as_str(), e))
    }

    /// Whether a DNS name given as text (a host name, an `_spf.` or `_mta-sts.` name, a CNAME
    /// target) is excluded. A name that cannot be normalised is excluded whenever the list
    /// names any domain: fail closed. An IP address literal is checked against the address
    /// entries.
    pub fn excludes_name(&self, name: &str) -> bool {
        if let Ok(ip) = name.trim().parse::<IpAddr>() {
            return self.excludes_ip(ip);
        }
        if self.domains.is_empty() {
            return false;
        }
        match dns_name(name) {
            Some(n) => self.domains.iter().any(|e| name_within(&n, e)),
            None => true,
        }
    }

    /// Whether an address is excluded.
    pub fn excludes_ip(&self, ip: IpAddr) -> bool {
        let ip = crate::addr::canonical(ip);
        // A 6to4 address reaches the IPv4 address it embeds: excluded with it.
        let embedded = match ip {
            IpAddr::V6(v6) => crate::addr::six_to_four(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.nets
            .iter()
            .any(|n| n.contains(&ip) || embedded.is_some_and(|e| n.contains(&e)))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.domains.len() + self.nets.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stateless split of a domain list between machines that share no database: worker K of
/// N takes the domains whose FNV-1a hash is K-1 modulo N. Every machine reads the same list;
/// together the shards cover it exactly once. The hash is fixed (not Rust's randomised
/// `DefaultHasher`), so the split is the same on every machine and every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based index.
    pub k: u64,
    /// Number of shards.
    pub n: u64,
}

impl Shard {
    /// Whether the domain belongs to this shard.
    pub fn contains(&self, d: &Domain) -> bool {
        hash64(d.as_str()) % self.n == self.k - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard takes K/N with 1 <= K <= N (e.g. 2/3), not {s:?}");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Self { k, n })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranked_lists_give_their_domain_column_and_bad_lines_keep_numbers() {
        let mut list = DomainList::new();
        let got: Vec<Line> = [
            "GlobalRank,TldRank,Domain,TLD,RefSubNets",
            "1,example.jp",
            "2,1,example.org,org,100",
            "3,",
            "example.net",
        ]
        .iter()
        .map(|l| list.push(l))
        .collect();
        assert_eq!(got[0], Line::Nothing);
        assert_eq!(got[1], Line::Domain(Domain::parse("example.jp").unwrap()));
        assert_eq!(got[2], Line::Domain(Domain::parse("example.org").unwrap()));
        assert!(
            matches!(&got[3], Line::Invalid(e) if e.line == 4),
            "{:?}",
            got[3]
        );
        assert_eq!(got[4], Line::Domain(Domain::parse("example.net").unwrap()));
        // A header is only a header on line 1.
        assert!(matches!(list.push("Rank,Domain"), Line::Invalid(e) if e.line == 6));
    }

    use super::*;

    #[test]
    fn domains_normalise() {
        let ok = |s: &str| Domain::parse(s).map(|d| d.0);
        assert_eq!(ok("Example.JP."), Ok("example.jp".into()));
        assert_eq!(ok("  mail.example.co.jp "), Ok("mail.example.co.jp".into()));
        assert_eq!(ok("日本語.jp"), Ok("xn--wgv71a119e.jp".into()));
        assert_eq!(ok("ドメイン.テスト"), Ok("xn--eckwd4c7c.xn--zckzah".into()));
        assert_eq!(ok(""), Err(DomainError::Empty));
        assert_eq!(ok("192.0.2.1"), Err(DomainError::IpAddress));
        assert_eq!(ok("localhost"), Err(DomainError::SingleLabel));
        assert_eq!(ok("a..b"), Err(DomainError::EmptyLabel));
        assert_eq!(ok("bad_name.example"), Err(DomainError::BadCharacter));
        assert_eq!(ok("-x.example"), Err(DomainError::BadCharacter));
        assert_eq!(ok("two words.example"), Err(DomainError::BadCharacter));
        assert_eq!(ok("a.b.c.1"), Err(DomainError::NumericTld));
        assert_eq!(
            ok(&format!("{}.example", "a".repeat(64))),
            Err(DomainError::LabelTooLong)
        );
        assert_eq!(
            ok(&format!("{}example", "abcdefgh.".repeat(30))),
            Err(DomainError::TooLong)
        );
        assert_eq!(ok("x\u{1b}[31m.example"), Err(DomainError::BadCharacter));
    }

    #[test]
    fn list_skips_comments_blank_and_duplicates_and_numbers_bad_lines() {
        let mut l = DomainList::new();
        let lines = [
            "# header",
            "",
            "example.jp # main",
            "EXAMPLE.jp",
            "not a domain",
            "b.example\r",
        ];
        let got: Vec<Line> = lines.iter().map(|s| l.push(s)).collect();
        assert_eq!(got[0], Line::Nothing);
        assert_eq!(got[1], Line::Nothing);
        assert_eq!(got[2], Line::Domain(Domain("example.jp".into())));
        assert_eq!(got[3], Line::Duplicate(Domain("example.jp".into())));
        match &got[4] {
            Line::Invalid(e) => {
                assert_eq!(e.line, 5);
                assert_eq!(e.text, "not a domain");
                assert!(e.to_string().starts_with("line 5:"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(got[5], Line::Domain(Domain("b.example".into())));
        assert_eq!(l.lines_read(), 6);
    }

    /// Issue 15 (4): lines are counted as `DomainList` sees them, across chunk boundaries,
    /// with no buffer: a 64 MiB line fed in 64 KiB chunks is one line.
    #[test]
    fn line_counter_matches_the_list_and_needs_no_line_buffer() {
        let text = "# header\n\n example.jp # c\n  \t\n#x\nb.example\r\nlast.example";
        let mut list = DomainList::new();
        let expected = text
            .split('\n')
            .filter(|l| list.push(l) != Line::Nothing)
            .count() as u64;
        for chunk in [1, 3, 7, text.len()] {
            let mut c = LineCounter::default();
            for part in text.as_bytes().chunks(chunk) {
                c.feed(part);
            }
            assert_eq!(c.finish(), expected, "chunk {chunk}");
        }
        let mut c = LineCounter::default();
        let block = vec![b'a'; 64 * 1024];
        for _ in 0..1024 {
            c.feed(&block);
        }
        c.feed(b"\n# only a comment\nexample.jp\n");
        assert_eq!(c.finish(), 2);
    }

    #[test]
    fn exclusions_cover_subdomains_ips_and_cidrs() {
        let e = Exclusions::parse("# no\nexample.jp\n192.0.2.7\n198.51.100.0/24\n2001:db8::/32\n")
            .unwrap();
        assert_eq!(e.len(), 4);
        assert!(e.excludes_domain(&Domain::parse("example.jp").unwrap()));
        assert!(e.excludes_domain(&Domain::parse("mx.example.jp").unwrap()));
        assert!(!e.excludes_domain(&Domain::parse("notexample.jp").unwrap()));
        assert!(e.excludes_name("MX.Example.JP."));
        assert!(e.excludes_ip("192.0.2.7".parse().unwrap()));
        assert!(!e.excludes_ip("192.0.2.8".parse().unwrap()));
        assert!(e.excludes_ip("198.51.100.200".parse().unwrap()));
        assert!(e.excludes_ip("::ffff:198.51.100.1".parse().unwrap()));
        assert!(e.excludes_ip("2001:db8::25".parse().unwrap()));
        // 6to4 embedding an excluded IPv4 address (issue 15, 8).
        assert!(e.excludes_ip("2002:c000:0207::1".parse().unwrap()));
        assert!(!e.excludes_ip("2002:c000:0208::1".parse().unwrap()));
        let bad = Exclusions::parse("ok.example\nnot valid!\n").unwrap_err();
        assert_eq!(bad.line, 2);
    }

    /// Issue 15 (1): names that are not host names (underscores, CNAME targets with odd
    /// characters) are still inside the excluded domain; what cannot be normalised is
    /// excluded (fail closed).
    #[test]
    fn exclusions_match_non_host_names_and_fail_closed() {
        let e = Exclusions::parse("excluded.example\n").unwrap();
        for inside in [
            "_spf.excluded.example",
            "_mta-sts.Excluded.Example.",
            "_25._tcp.mx.excluded.example",
            "weird*label.excluded.example",
            "excluded.example",
        ] {
            assert!(e.excludes_name(inside), "{inside}");
        }
        for outside in [
            "_spf.notexcluded.example",
            "example",
            "excluded.example.org",
        ] {
            assert!(!e.excludes_name(outside), "{outside}");
        }
        // Not normalisable: excluded when the list names a domain, not otherwise.
        for bad in ["", "a..b.example", "sp ace.example", &"x".repeat(300)] {
            assert!(e.excludes_name(bad), "{bad:?}");
            assert!(!Exclusions::default().excludes_name(bad), "{bad:?}");
        }
        // An address literal is checked as an address.
        let ips = Exclusions::parse("192.0.2.0/24\n").unwrap();
        assert!(ips.excludes_name("192.0.2.9"));
        assert!(!ips.excludes_name("198.51.100.1"));
    }

    /// Issue 15 (7): a whole top-level domain can be excluded.
    #[test]
    fn a_top_level_domain_can_be_excluded() {
        let e = Exclusions::parse("mil\ntest.\n").unwrap();
        assert_eq!(e.len(), 2);
        assert!(e.excludes_domain(&Domain::parse("army.mil").unwrap()));
        assert!(e.excludes_name("mx.lab.test"));
        assert!(!e.excludes_domain(&Domain::parse("mil.example").unwrap()));
        assert!(!e.excludes_name("contest"));
    }

    #[test]
    fn shards_split_a_list_exactly_once() {
        let domains: Vec<Domain> = (0..3000)
            .map(|i| Domain::parse(&format!("d{i}.example")).unwrap())
            .collect();
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        let mut sizes = Vec::new();
        for d in &domains {
            assert_eq!(shards.iter().filter(|s| s.contains(d)).count(), 1, "{d:?}");
        }
        for s in &shards {
            sizes.push(domains.iter().filter(|d| s.contains(d)).count());
        }
        // Roughly even: each shard within 15% of a third.
        assert!(
            sizes.iter().all(|&n| (850..=1150).contains(&n)),
            "{sizes:?}"
        );
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
