//! The other forms a survey's targets come in, besides one domain per line (and the ranked
//! lists [`crate::target::DomainList`] reads): a CSV file's domain column, a DNS zone file's
//! delegated names, and the addresses and CIDR blocks of one's own networks.
//!
//! Every reader here takes one physical line at a time (the CLI reads lines of at most
//! 4 KiB), so a file of any size streams through, and every refused line is reported with its
//! number and skipped: one bad line never aborts a survey.
//!
//! The CSV and zone readers are hand-written, not the `csv` crate or hickory's zone parser:
//! the `csv` crate's records may span lines (a quoted newline), which breaks both the bounded
//! line reader and the line numbers in reports; hickory's zone parser reads a whole zone into
//! memory as records (a ccTLD zone is gigabytes) and core has no DNS dependency. Only what a
//! target list needs is read here: CSV fields of one line, and the owner names and types of
//! zone records.

use crate::target::{DomainError, DomainList, Line};
use ipnet::IpNet;
use std::net::IpAddr;

/// Which column of a CSV file holds the domain: a header name (case-insensitive) or a
/// 1-based index.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Column {
    /// The header row's name for the column.
    Name(String),
    /// 1-based position.
    Index(usize),
}

impl std::str::FromStr for Column {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty column name".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return match s.parse::<usize>() {
                Ok(0) | Err(_) => Err("column numbers start at 1".into()),
                Ok(n) => Ok(Self::Index(n)),
            };
        }
        Ok(Self::Name(s.to_owned()))
    }
}

/// The CSV file's first row lacks the named column: the wrong file or the wrong name.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("the header row has no column {wanted:?} (it has: {found})")]
pub struct NoSuchColumn {
    /// The name asked for.
    pub wanted: String,
    /// The header's names, sanitized and joined.
    pub found: String,
}

/// Reads a CSV file's domain column, one line (one record) at a time.
///
/// RFC 4180 fields: comma-separated, a field in double quotes may hold commas and doubled
/// quotes (`""`); a record must end on its line (a quoted field left open is a bad line).
/// With [`Column::Name`] the first non-blank line is the header; with [`Column::Index`] a
/// first line whose field is not a domain name is taken as a header and skipped.
#[derive(Debug)]
pub struct CsvList {
    column: Column,
    index: Option<usize>,
    line: u64,
    list: DomainList,
}

impl CsvList {
    /// A reader of `column`.
    pub fn new(column: Column) -> Self {
        let index = match column {
            Column::Index(n) => Some(n - 1),
            Column::Name(_) => None,
        };
        Self {
            column,
            index,
            line: 0,
            list: DomainList::new(),
        }
    }

    /// Classifies the next line; `Err` when the header row lacks the named column.
    pub fn push(&mut self, raw: &str) -> Result<Line, NoSuchColumn> {
        self.line += 1;
        let raw = raw.trim_end_matches(['\r', '\n']);
        if raw.trim().is_empty() {
            return Ok(Line::Nothing);
        }
        let Some(fields) = split_csv(raw) else {
            return Ok(DomainList::invalid(
                self.line,
                raw,
                DomainError::UnclosedQuote,
            ));
        };
        let Some(index) = self.index else {
            let Column::Name(wanted) = &self.column else {
                unreachable!("an index column always has an index")
            };
            return match fields
                .iter()
                .position(|f| f.trim().eq_ignore_ascii_case(wanted))
            {
                Some(i) => {
                    self.index = Some(i);
                    Ok(Line::Nothing)
                }
                None => Err(NoSuchColumn {
                    wanted: crate::sanitize::for_terminal(wanted),
                    found: fields
                        .iter()
                        .take(20)
                        .map(|f| format!("{:?}", crate::sanitize::for_terminal(f.trim())))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            };
        };
        let Some(field) = fields.get(index).map(|f| f.trim()) else {
            return Ok(DomainList::invalid(
                self.line,
                raw,
                DomainError::MissingColumn,
            ));
        };
        let line = self.list.push_name(self.line, raw, field);
        if self.line == 1
            && matches!(self.column, Column::Index(_))
            && matches!(line, Line::Invalid(_))
        {
            // A header row over a numbered column.
            return Ok(Line::Nothing);
        }
        Ok(line)
    }
}

/// The fields of one CSV record; `None` when a quoted field is not closed on the line.
pub fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    // Only blanks so far in this field: a quote here opens a quoted field.
    let mut at_start = true;
    loop {
        match chars.next() {
            None => {
                fields.push(field);
                return Some(fields);
            }
            Some(',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
            }
            Some('"') if at_start => {
                field.clear();
                loop {
                    match chars.next() {
                        None => return None,
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => field.push(c),
                    }
                }
                at_start = false;
            }
            Some(c) => {
                at_start &= c == ' ' || c == '\t';
                field.push(c);
            }
        }
    }
}

/// Longest zone-file record read (a record in parentheses over many lines): a longer one is
/// a bad line and reading goes on after it.
const MAX_RECORD: usize = 16 * 1024;

/// Reads a DNS master file (RFC 1035 §5) for the names a survey of its zone scans: the owner
/// names of NS records below the apex (a ccTLD's or a registry's delegations,
/// `example.jp. NS ns1.example.jp.`), and the apex itself when it is a registrable name
/// (an organisation's own zone). Each name is given once.
///
/// Understood: `$ORIGIN` (and the SOA owner as origin when there is none), `$TTL`, `@`,
/// relative names, a blank owner (the previous record's), TTL and class in either order,
/// `;` comments, quoted strings, records in parentheses over several lines. `$INCLUDE` and
/// `$GENERATE` are reported as bad lines (nothing else is read from disk).
#[derive(Debug, Default)]
pub struct ZoneList {
    origin: Option<String>,
    owner: Option<String>,
    last_given: Option<String>,
    record: String,
    start: u64,
    depth: u32,
    overlong: bool,
    line: u64,
    list: DomainList,
}

/// The class mnemonics of RFC 1035 (and the meta class `ANY` zone files never hold).
const CLASSES: &[&str] = &["IN", "CH", "CS", "HS"];

impl ZoneList {
    /// A fresh reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Classifies the next physical line.
    pub fn push(&mut self, raw: &str) -> Line {
        self.line += 1;
        let (text, opens, closes, open_quote) = strip_zone_line(raw);
        if self.depth == 0 {
            self.record.clear();
            self.start = self.line;
            self.overlong = false;
        } else {
            self.record.push(' ');
        }
        if self.record.len() + text.len() > MAX_RECORD {
            self.overlong = true;
        } else {
            self.record.push_str(&text);
        }
        if closes > self.depth + opens || open_quote {
            self.depth = 0;
            return self.bad(DomainError::ZoneSyntax);
        }
        self.depth = self.depth + opens - closes;
        if self.depth > 0 {
            return Line::Nothing;
        }
        if self.overlong {
            return self.bad(DomainError::ZoneSyntax);
        }
        let record = std::mem::take(&mut self.record);
        let out = self.record_line(&record);
        self.record = record;
        out
    }

    fn bad(&self, reason: DomainError) -> Line {
        DomainList::invalid(self.start, self.record.trim(), reason)
    }

    fn absolute(&self, name: &str) -> Result<String, DomainError> {
        let name = name.to_ascii_lowercase();
        if name == "@" {
            return self.origin.clone().ok_or(DomainError::NoOrigin);
        }
        if name == "." {
            return Ok(String::new());
        }
        if let Some(abs) = name.strip_suffix('.') {
            return Ok(abs.to_owned());
        }
        match self.origin.as_deref() {
            None => Err(DomainError::NoOrigin),
            Some("") => Ok(name),
            Some(o) => Ok(format!("{name}.{o}")),
        }
    }

    fn record_line(&mut self, record: &str) -> Line {
        let blank_owner = record.starts_with([' ', '\t']);
        let mut tokens = record.split_ascii_whitespace();
        let Some(first) = tokens.next() else {
            return Line::Nothing;
        };
        if let Some(directive) = first.strip_prefix('$') {
            return match directive.to_ascii_uppercase().as_str() {
                "ORIGIN" => match tokens.next().map(|o| self.absolute(o)) {
                    Some(Ok(o)) => {
                        self.origin = Some(o);
                        Line::Nothing
                    }
                    Some(Err(e)) => self.bad(e),
                    None => self.bad(DomainError::ZoneSyntax),
                },
                "TTL" => Line::Nothing,
                _ => self.bad(DomainError::ZoneSyntax),
            };
        }
        let owner = if blank_owner {
            match &self.owner {
                Some(o) => o.clone(),
                None => return self.bad(DomainError::ZoneSyntax),
            }
        } else {
            match self.absolute(first) {
                Ok(o) => o,
                Err(e) => return self.bad(e),
            }
        };
        let mut rest: Vec<&str> = if blank_owner {
            std::iter::once(first).chain(tokens.take(3)).collect()
        } else {
            tokens.take(3).collect()
        };
        rest.reverse();
        let mut rtype = None;
        while let Some(t) = rest.pop() {
            let is_class = CLASSES.iter().any(|c| t.eq_ignore_ascii_case(c));
            let is_ttl = t.starts_with(|c: char| c.is_ascii_digit());
            if !is_class && !is_ttl {
                rtype = Some(t.to_ascii_uppercase());
                break;
            }
        }
        let Some(rtype) = rtype else {
            return self.bad(DomainError::ZoneSyntax);
        };
        self.owner = Some(owner.clone());
        match rtype.as_str() {
            "SOA" => {
                if self.origin.is_none() {
                    self.origin = Some(owner);
                }
                Line::Nothing
            }
            "NS" => {
                if self.last_given.as_deref() == Some(owner.as_str()) {
                    return Line::Nothing;
                }
                self.last_given = Some(owner.clone());
                // The apex of a top-level zone (`jp.`) is not a survey target.
                if !owner.contains('.') {
                    return Line::Nothing;
                }
                match self.list.push_name(self.start, record.trim(), &owner) {
                    Line::Duplicate(_) => Line::Nothing,
                    other => other,
                }
            }
            _ => Line::Nothing,
        }
    }
}

/// One physical zone-file line without its comment, parentheses as blanks; with the counts
/// of parentheses outside quotes, and whether a quote was left open.
fn strip_zone_line(raw: &str) -> (String, u32, u32, bool) {
    let mut out = String::with_capacity(raw.len());
    let (mut opens, mut closes) = (0u32, 0u32);
    let mut quoted = false;
    let mut escaped = false;
    for c in raw.trim_end_matches(['\r', '\n']).chars() {
        if escaped {
            escaped = false;
            out.push(c);
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                out.push(c);
            }
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            ';' if !quoted => break,
            '(' if !quoted => {
                opens += 1;
                out.push(' ');
            }
            ')' if !quoted => {
                closes += 1;
                out.push(' ');
            }
            c => out.push(c),
        }
    }
    (out, opens, closes, quoted)
}

/// Whether the start of a file looks like a zone file: its first line with content (after
/// blanks and `;` comments) is a `$ORIGIN` or `$TTL` directive or an SOA record.
pub fn looks_like_zone(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    for line in text.lines() {
        let (content, ..) = strip_zone_line(line);
        let mut tokens = content.split_ascii_whitespace();
        let Some(first) = tokens.next() else {
            continue;
        };
        return first.eq_ignore_ascii_case("$ORIGIN")
            || first.eq_ignore_ascii_case("$TTL")
            || std::iter::once(first)
                .chain(tokens.take(4))
                .any(|t| t.eq_ignore_ascii_case("SOA"));
    }
    false
}

/// What one line of a hosts file (`--hosts`) gave.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum HostLine {
    /// Blank, or a comment.
    Nothing,
    /// An address (as a /32 or /128) or a block.
    Net(IpNet),
    /// Neither.
    Invalid(crate::target::InputError),
}

/// Reads one line of a hosts file: an IP address or a CIDR block, `#` comments.
pub fn host_line(line: u64, raw: &str) -> HostLine {
    let text = raw.split('#').next().unwrap_or("").trim();
    if text.is_empty() {
        return HostLine::Nothing;
    }
    if let Ok(net) = text.parse::<IpNet>() {
        return HostLine::Net(net.trunc());
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return HostLine::Net(IpNet::from(ip));
    }
    match DomainList::invalid(line, text, DomainError::NotAnAddress) {
        Line::Invalid(e) => HostLine::Invalid(e),
        _ => HostLine::Nothing,
    }
}

/// The addresses of `net` that are probed: all of them, except the network and broadcast
/// addresses of an IPv4 block longer than two addresses (/30 and shorter prefixes).
pub fn host_count(net: &IpNet) -> u128 {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    let all = 1u128.checked_shl(bits).unwrap_or(u128::MAX);
    match net {
        IpNet::V4(n) if n.prefix_len() < 31 => all - 2,
        _ => all,
    }
}

/// The probed addresses of `net` (see [`host_count`]), in order.
pub fn hosts(net: &IpNet) -> Box<dyn Iterator<Item = IpAddr> + Send> {
    match net {
        IpNet::V4(n) => Box::new(n.hosts().map(IpAddr::V4)),
        IpNet::V6(n) => Box::new(n.hosts().map(IpAddr::V6)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| match l {
                Line::Domain(d) => Some(d.to_string()),
                _ => None,
            })
            .collect()
    }

    fn bad(lines: &[Line]) -> Vec<(u64, DomainError)> {
        lines
            .iter()
            .filter_map(|l| match l {
                Line::Invalid(e) => Some((e.line, e.reason)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn csv_fields_follow_rfc4180() {
        assert_eq!(split_csv("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split_csv(r#"1,"Example, Inc.",example.jp"#).unwrap(),
            ["1", "Example, Inc.", "example.jp"]
        );
        assert_eq!(
            split_csv(r#""say ""hi""",x"#).unwrap(),
            [r#"say "hi""#, "x"]
        );
        assert_eq!(split_csv("a,,").unwrap(), ["a", "", ""]);
        assert_eq!(split_csv(r#"a,"b""#).unwrap(), ["a", "b"]);
        assert_eq!(split_csv(r#""a","#).unwrap(), ["a", ""]);
        assert!(split_csv(r#"a,"open"#).is_none());
    }

    #[test]
    fn csv_column_by_name_and_index() {
        let text = "Company,Domain,Country\n\"Example, Inc.\",example.jp,JP\nNo domain here\nx,\"not a domain!\",y\n\"open,quote\nTwo,EXAMPLE.JP,JP\nThree,example.co.jp,JP\n";
        let mut by_name = CsvList::new("domain".parse().unwrap());
        let lines: Vec<Line> = text.lines().map(|l| by_name.push(l).unwrap()).collect();
        assert_eq!(names(&lines), ["example.jp", "example.co.jp"]);
        assert!(matches!(lines[5], Line::Duplicate(_)));
        assert_eq!(
            bad(&lines),
            [
                (3, DomainError::MissingColumn),
                (4, DomainError::BadCharacter),
                (5, DomainError::UnclosedQuote)
            ]
        );
        let mut by_index = CsvList::new("2".parse().unwrap());
        let lines: Vec<Line> = text.lines().map(|l| by_index.push(l).unwrap()).collect();
        assert_eq!(names(&lines), ["example.jp", "example.co.jp"]);
        assert_eq!(lines[0], Line::Nothing, "header skipped");
        let mut missing = CsvList::new("host".parse().unwrap());
        let e = missing.push("Company,Domain").unwrap_err();
        assert!(e.to_string().contains("\"Domain\""), "{e}");
        assert!("0".parse::<Column>().is_err());
    }

    #[test]
    fn zone_owner_names_of_delegations() {
        let zone = "; a ccTLD-like zone\n$TTL 3600\n$ORIGIN jp.\n@ IN SOA a.dns.jp. root.dns.jp. (\n  1 ; serial\n  3600 900 604800 300 )\n@ NS a.dns.jp.\n@ NS b.dns.jp.\nexample NS ns1.example.jp.\n        NS ns2.example.jp.\nns1.example A 192.0.2.1\nEXAMPLE.CO.jp. 300 IN NS ns.example.co.jp.\nother 600 NS ns.other.jp. ; comment\nexample.co.jp. IN 300 NS ns2.example.co.jp.\n$ORIGIN ne.jp.\nsub IN NS ns.sub.ne.jp.\nsub TXT \"a;b(c\"\nbad_name NS x.\n$INCLUDE other.zone\n";
        let mut z = ZoneList::new();
        let lines: Vec<Line> = zone.lines().map(|l| z.push(l)).collect();
        assert_eq!(
            names(&lines),
            ["example.jp", "example.co.jp", "other.jp", "sub.ne.jp"]
        );
        assert_eq!(
            bad(&lines),
            [
                (18, DomainError::BadCharacter),
                (19, DomainError::ZoneSyntax)
            ]
        );
    }

    #[test]
    fn zone_relative_names_need_an_origin_and_apex_counts() {
        let mut z = ZoneList::new();
        assert_eq!(bad(&[z.push("www NS ns.")]), [(1, DomainError::NoOrigin)]);
        let mut z = ZoneList::new();
        let lines: Vec<Line> = "example.org. 3600 IN SOA ns. host. 1 2 3 4 5\n@ NS ns1.example.org.\nmail A 192.0.2.1\n( \n"
            .lines()
            .map(|l| z.push(l))
            .collect();
        assert_eq!(names(&lines), ["example.org"]);
        // An unbalanced parenthesis is one bad line, reading goes on.
        assert_eq!(bad(&[z.push(") )")]), [(4, DomainError::ZoneSyntax)]);
        assert_eq!(names(&[z.push("x NS ns.")]), ["x.example.org"]);
    }

    #[test]
    fn zone_detection() {
        assert!(looks_like_zone(b"; hi\n\n$ORIGIN example.jp.\n"));
        assert!(looks_like_zone(b"$ttl 300\n"));
        assert!(looks_like_zone(
            b"example.jp. 300 IN SOA ns. h. 1 2 3 4 5\n"
        ));
        assert!(!looks_like_zone(b"example.jp\nexample.com\n"));
        assert!(!looks_like_zone(b"1,example.jp\n"));
        assert!(!looks_like_zone(b"Company,Domain\n"));
    }

    #[test]
    fn hosts_lines_and_counts() {
        let n = |s: &str| match host_line(1, s) {
            HostLine::Net(n) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(host_count(&n("192.0.2.0/28")), 14);
        assert_eq!(hosts(&n("192.0.2.0/28")).count(), 14);
        assert_eq!(
            hosts(&n("192.0.2.7/28")).next(),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(host_count(&n("192.0.2.0/31")), 2);
        assert_eq!(hosts(&n("192.0.2.0/31")).count(), 2);
        assert_eq!(host_count(&n("192.0.2.9")), 1);
        assert_eq!(host_count(&n("10.0.0.0/16")), 65_534);
        assert_eq!(host_count(&n("2001:db8::/112")), 65_536);
        assert_eq!(hosts(&n("2001:db8::/126")).count(), 4);
        assert_eq!(host_count(&n("::/0")), u128::MAX);
        assert_eq!(host_line(1, "  # comment"), HostLine::Nothing);
        assert!(matches!(
            host_line(3, "example.jp"),
            HostLine::Invalid(e) if e.line == 3 && e.reason == DomainError::NotAnAddress
        ));
    }

    proptest::proptest! {
        /// The fuzz target's properties (fuzz/fuzz_targets/inputs.rs) on random text made of
        /// the characters these formats care about: no panic, names valid, line numbers read.
        #[test]
        fn readers_never_panic_and_number_lines(text in "[a-z0-9.@$;()\"\\, \t\n/:-]{0,400}") {
            let mut by_name = CsvList::new(Column::Name("domain".into()));
            let mut by_index = CsvList::new(Column::Index(2));
            let mut zone = ZoneList::new();
            let check = |line: &Line, read: u64| match line {
                Line::Domain(d) | Line::Duplicate(d) => {
                    assert_eq!(crate::target::Domain::parse(d.as_str()).as_ref(), Ok(d));
                }
                Line::Invalid(e) => assert!(e.line >= 1 && e.line <= read),
                Line::Nothing => {}
            };
            let _ = looks_like_zone(text.as_bytes());
            for (i, l) in text.split('\n').enumerate() {
                let n = i as u64 + 1;
                if let Ok(line) = by_name.push(l) {
                    check(&line, n);
                }
                check(&by_index.push(l).unwrap(), n);
                check(&zone.push(l), n);
                if let HostLine::Net(net) = host_line(n, l)
                    && host_count(&net) <= 4096
                {
                    assert_eq!(hosts(&net).count() as u128, host_count(&net));
                }
            }
        }
    }
}
