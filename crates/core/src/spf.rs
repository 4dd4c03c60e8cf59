//! SPF (RFC 7208): a strict parser whose errors name the offending term and its byte offset,
//! and a `check_host()` evaluator that follows RFC 7208 §4–§7 step by step over a small DNS
//! trait ([`SpfDns`]), so this crate stays free of any runtime.
//!
//! The evaluator enforces the limits the RFC makes mandatory: 10 DNS-querying terms
//! (§4.6.4), 2 void lookups, 10 MX and 10 PTR names per term. It is checked against the
//! OpenSPF RFC 7208 suite (`tests/integration/spf_suite.rs`).

use crate::model::Lookup;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;

/// The DNS questions `check_host()` asks. Names are given without a trailing dot.
pub trait SpfDns: Sync {
    /// TXT records of `name`, each the concatenation of its character-strings.
    fn txt(&self, name: &str) -> impl Future<Output = Lookup<Vec<Vec<u8>>>> + Send;
    /// A records of `name`.
    fn a(&self, name: &str) -> impl Future<Output = Lookup<Vec<Ipv4Addr>>> + Send;
    /// AAAA records of `name`.
    fn aaaa(&self, name: &str) -> impl Future<Output = Lookup<Vec<Ipv6Addr>>> + Send;
    /// MX exchanges of `name` (preference order does not matter to SPF).
    fn mx(&self, name: &str) -> impl Future<Output = Lookup<Vec<String>>> + Send;
    /// PTR names of `ip`.
    fn ptr(&self, ip: IpAddr) -> impl Future<Output = Lookup<Vec<String>>> + Send;
}

/// A `check_host()` result (RFC 7208 §2.6).
#[derive(Clone, Copy, Debug, Eq, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpfResult {
    /// No SPF record (or no valid domain).
    None,
    /// `?` matched, or nothing matched.
    Neutral,
    /// The client is authorised.
    Pass,
    /// The client is not authorised.
    Fail,
    /// `~`: probably not authorised.
    SoftFail,
    /// A transient DNS error.
    TempError,
    /// The record(s) could not be interpreted.
    PermError,
}

impl SpfResult {
    /// The RFC's name for the result.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Neutral => "neutral",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::SoftFail => "softfail",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A directive's qualifier.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Qualifier {
    /// `+` (the default).
    Pass,
    /// `-`.
    Fail,
    /// `~`.
    SoftFail,
    /// `?`.
    Neutral,
}

impl Qualifier {
    fn result(self) -> SpfResult {
        match self {
            Self::Pass => SpfResult::Pass,
            Self::Fail => SpfResult::Fail,
            Self::SoftFail => SpfResult::SoftFail,
            Self::Neutral => SpfResult::Neutral,
        }
    }
    /// The qualifier character.
    pub fn as_char(self) -> char {
        match self {
            Self::Pass => '+',
            Self::Fail => '-',
            Self::SoftFail => '~',
            Self::Neutral => '?',
        }
    }
}

/// One element of a macro-string (RFC 7208 §7.1).
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum MacroPart {
    /// Literal text (`%%`, `%_`, `%-` already decoded).
    Literal(String),
    /// `%{letter digits r delimiters}`.
    Expand {
        /// The macro letter, lowercased.
        letter: char,
        /// Uppercase letter: URL-escape the result.
        escape: bool,
        /// Keep this many right-hand parts (`None`: all).
        digits: Option<usize>,
        /// Reverse the parts.
        reverse: bool,
        /// Split on these (default `.`).
        delimiters: String,
    },
}

/// A parsed macro-string.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct MacroString {
    /// The source text.
    pub raw: String,
    /// Its elements.
    pub parts: Vec<MacroPart>,
}

/// A mechanism (RFC 7208 §5).
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Mechanism {
    /// `all`.
    All,
    /// `include:domain-spec`.
    Include(MacroString),
    /// `a[:domain-spec][dual-cidr]`.
    A(Option<MacroString>, u8, u8),
    /// `mx[:domain-spec][dual-cidr]`.
    Mx(Option<MacroString>, u8, u8),
    /// `ptr[:domain-spec]`.
    Ptr(Option<MacroString>),
    /// `ip4:network[/len]`.
    Ip4(Ipv4Addr, u8),
    /// `ip6:network[/len]`.
    Ip6(Ipv6Addr, u8),
    /// `exists:domain-spec`.
    Exists(MacroString),
}

impl Mechanism {
    /// Whether evaluating it costs a DNS query (RFC 7208 §4.6.4).
    pub fn queries_dns(&self) -> bool {
        matches!(
            self,
            Self::Include(_) | Self::A(..) | Self::Mx(..) | Self::Ptr(_) | Self::Exists(_)
        )
    }
}

/// A qualifier and a mechanism, with where it was in the record.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Directive {
    /// The qualifier.
    pub qualifier: Qualifier,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The term as written.
    pub term: String,
    /// Its byte offset in the record.
    pub offset: usize,
}

/// A parsed SPF record.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SpfRecord {
    /// The directives, in order.
    pub directives: Vec<Directive>,
    /// `redirect=`.
    pub redirect: Option<MacroString>,
    /// `exp=`.
    pub exp: Option<MacroString>,
    /// Unknown modifiers (`name`, `value`), kept for lint.
    pub unknown_modifiers: Vec<(String, String)>,
}

/// What is wrong with a term.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum SpfErrorKind {
    /// The record does not start with `v=spf1`.
    NotSpf,
    /// A character outside printable ASCII.
    NonAscii,
    /// A mechanism name this version does not know.
    UnknownMechanism,
    /// A mechanism that takes no argument was given one, or one is missing.
    BadArgument,
    /// A CIDR length out of range or malformed.
    BadCidr,
    /// An IP address that does not parse.
    BadAddress,
    /// A malformed macro.
    BadMacro,
    /// A domain-spec that does not end in a valid top label.
    BadDomain,
    /// `redirect` or `exp` given twice.
    DuplicateModifier,
    /// A malformed modifier.
    BadModifier,
}

/// A syntax error: the term, where it starts, and what is wrong.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SpfError {
    /// The offending term as written.
    pub term: String,
    /// Its byte offset in the record.
    pub offset: usize,
    /// What is wrong.
    pub kind: SpfErrorKind,
}

impl fmt::Display for SpfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            SpfErrorKind::NotSpf => "the record does not start with v=spf1",
            SpfErrorKind::NonAscii => "a character outside printable ASCII",
            SpfErrorKind::UnknownMechanism => "unknown mechanism",
            SpfErrorKind::BadArgument => "missing or unexpected argument",
            SpfErrorKind::BadCidr => "invalid CIDR length",
            SpfErrorKind::BadAddress => "invalid IP address",
            SpfErrorKind::BadMacro => "invalid macro",
            SpfErrorKind::BadDomain => "invalid domain",
            SpfErrorKind::DuplicateModifier => "modifier given more than once",
            SpfErrorKind::BadModifier => "invalid modifier",
        };
        write!(f, "{what} in term {:?} at byte {}", self.term, self.offset)
    }
}

impl std::error::Error for SpfError {}

/// Whether a TXT string is an SPF record (`v=spf1` alone or followed by a space).
pub fn is_spf_record(txt: &[u8]) -> bool {
    txt.len() >= 6 && txt[..6].eq_ignore_ascii_case(b"v=spf1") && (txt.len() == 6 || txt[6] == b' ')
}

/// Parses an SPF record (RFC 7208 §4.6, §12).
pub fn parse(record: &str) -> Result<SpfRecord, SpfError> {
    let err = |term: &str, offset: usize, kind| SpfError {
        term: term.to_owned(),
        offset,
        kind,
    };
    if !is_spf_record(record.as_bytes()) {
        return Err(err(record, 0, SpfErrorKind::NotSpf));
    }
    let mut rec = SpfRecord {
        directives: Vec::new(),
        redirect: None,
        exp: None,
        unknown_modifiers: Vec::new(),
    };
    let mut offset = 6;
    for term in record[6..].split(' ') {
        let at = offset;
        offset += term.len() + 1;
        if term.is_empty() {
            continue;
        }
        if let Some(b) = term.bytes().find(|b| !(0x21..=0x7e).contains(b)) {
            let _ = b;
            return Err(err(term, at, SpfErrorKind::NonAscii));
        }
        let e = |kind| err(term, at, kind);
        // A modifier is `name=value` where name is ALPHA *(ALPHA / DIGIT / "-" / "_" / ".").
        let name_end = term
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(term.len());
        if term[name_end..].starts_with('=') {
            let name = &term[..name_end];
            let value = &term[name_end + 1..];
            if name.is_empty() || !name.as_bytes()[0].is_ascii_alphabetic() {
                return Err(e(SpfErrorKind::BadModifier));
            }
            match name.to_ascii_lowercase().as_str() {
                "redirect" => {
                    if rec.redirect.is_some() {
                        return Err(e(SpfErrorKind::DuplicateModifier));
                    }
                    rec.redirect = Some(domain_spec(value, false).map_err(e)?);
                }
                "exp" => {
                    if rec.exp.is_some() {
                        return Err(e(SpfErrorKind::DuplicateModifier));
                    }
                    rec.exp = Some(domain_spec(value, false).map_err(e)?);
                }
                _ => {
                    macro_string(value, false).map_err(e)?;
                    rec.unknown_modifiers
                        .push((name.to_owned(), value.to_owned()));
                }
            }
            continue;
        }
        let (qualifier, body) = match term.as_bytes()[0] {
            b'+' => (Qualifier::Pass, &term[1..]),
            b'-' => (Qualifier::Fail, &term[1..]),
            b'~' => (Qualifier::SoftFail, &term[1..]),
            b'?' => (Qualifier::Neutral, &term[1..]),
            _ => (Qualifier::Pass, term),
        };
        let name_end = body.find([':', '/']).unwrap_or(body.len());
        let name = body[..name_end].to_ascii_lowercase();
        let rest = &body[name_end..];
        let arg = rest.strip_prefix(':');
        let mechanism = match name.as_str() {
            "all" => {
                if !rest.is_empty() {
                    return Err(e(SpfErrorKind::BadArgument));
                }
                Mechanism::All
            }
            "include" | "exists" => {
                let Some(arg) = arg else {
                    return Err(e(SpfErrorKind::BadArgument));
                };
                let spec = domain_spec(arg, false).map_err(e)?;
                if name == "include" {
                    Mechanism::Include(spec)
                } else {
                    Mechanism::Exists(spec)
                }
            }
            "ptr" => match arg {
                None if rest.is_empty() => Mechanism::Ptr(None),
                None => return Err(e(SpfErrorKind::BadArgument)),
                Some(a) => Mechanism::Ptr(Some(domain_spec(a, false).map_err(e)?)),
            },
            "a" | "mx" => {
                let (spec, cidr) = match arg {
                    Some(a) => {
                        let split = dual_cidr_start(a).ok_or_else(|| e(SpfErrorKind::BadCidr))?;
                        (
                            Some(domain_spec(&a[..split], false).map_err(e)?),
                            &a[split..],
                        )
                    }
                    None => (None, rest),
                };
                let (v4, v6) = dual_cidr(cidr).map_err(e)?;
                if name == "a" {
                    Mechanism::A(spec, v4, v6)
                } else {
                    Mechanism::Mx(spec, v4, v6)
                }
            }
            "ip4" => {
                let (ip, len) = ip_arg(arg, 32).map_err(e)?;
                Mechanism::Ip4(ip, len)
            }
            "ip6" => {
                let (ip, len) = ip_arg(arg, 128).map_err(e)?;
                Mechanism::Ip6(ip, len)
            }
            _ => return Err(e(SpfErrorKind::UnknownMechanism)),
        };
        rec.directives.push(Directive {
            qualifier,
            mechanism,
            term: term.to_owned(),
            offset: at,
        });
    }
    Ok(rec)
}

/// Where a trailing dual-cidr (`/n`, `//n`, `/n//m`) starts in `a:domain/n`. The
/// domain-spec itself may contain `/` and `:` (RFC 7208 allows any macro-literal), so the
/// CIDR is only the trailing `/digits` parts. `None` for a CIDR-like tail that is malformed
/// (`/`, `//` with nothing after).
fn dual_cidr_start(a: &str) -> Option<usize> {
    fn digits_tail(s: &str, sep: &str) -> Option<usize> {
        let i = s.rfind(sep)?;
        let tail = &s[i + sep.len()..];
        (!tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())).then_some(i)
    }
    if a.ends_with('/') {
        return None;
    }
    let mut end = a.len();
    if let Some(i) = digits_tail(a, "//") {
        end = i;
    }
    if let Some(i) = digits_tail(&a[..end], "/")
        && !a[..i].ends_with('/')
    {
        end = i;
    }
    Some(end)
}

fn dual_cidr(s: &str) -> Result<(u8, u8), SpfErrorKind> {
    if s.is_empty() {
        return Ok((32, 128));
    }
    let Some(s) = s.strip_prefix('/') else {
        return Err(SpfErrorKind::BadArgument);
    };
    if let Some(v6) = s.strip_prefix('/') {
        return Ok((32, cidr(v6, 128)?));
    }
    match s.split_once("//") {
        Some((v4, v6)) => Ok((cidr(v4, 32)?, cidr(v6, 128)?)),
        None => Ok((cidr(s, 32)?, 128)),
    }
}

/// `"0" / %x31-39 0*2DIGIT`, at most `max`.
/// The argument of `ip4:`/`ip6:`: `address[/length]`, the length `max` when not given.
fn ip_arg<A: std::str::FromStr>(arg: Option<&str>, max: u8) -> Result<(A, u8), SpfErrorKind> {
    let a = arg.ok_or(SpfErrorKind::BadArgument)?;
    let (addr, len) = a.split_once('/').map_or((a, None), |(x, l)| (x, Some(l)));
    let ip = addr.parse().map_err(|_| SpfErrorKind::BadAddress)?;
    let len = match len {
        Some(l) => cidr(l, max)?,
        None => max,
    };
    Ok((ip, len))
}

fn cidr(s: &str, max: u8) -> Result<u8, SpfErrorKind> {
    if s.is_empty()
        || s.len() > 3
        || !s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(SpfErrorKind::BadCidr);
    }
    let n: u16 = s.parse().map_err(|_| SpfErrorKind::BadCidr)?;
    if n > u16::from(max) {
        return Err(SpfErrorKind::BadCidr);
    }
    Ok(n as u8)
}

/// `domain-spec = macro-string domain-end`; `domain-end = ( "." toplabel [ "." ] ) / macro-expand`.
fn domain_spec(s: &str, exp: bool) -> Result<MacroString, SpfErrorKind> {
    let m = macro_string(s, exp)?;
    if s.is_empty() {
        return Err(SpfErrorKind::BadDomain);
    }
    match m.parts.last() {
        Some(MacroPart::Expand { .. }) => Ok(m),
        _ => {
            // The literal text must end in "." toplabel ["."].
            let t = s.strip_suffix('.').unwrap_or(s);
            let Some(dot) = t.rfind('.') else {
                return Err(SpfErrorKind::BadDomain);
            };
            if t[dot..].contains('}') || !toplabel(&t[dot + 1..]) {
                return Err(SpfErrorKind::BadDomain);
            }
            Ok(m)
        }
    }
}

/// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`.
fn toplabel(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.iter().any(|c| !c.is_ascii_digit())
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && (b.iter().any(|c| c.is_ascii_alphabetic()) || b.contains(&b'-'))
}

/// Parses a macro-string (RFC 7208 §7.1). `exp`: the explanation letters `c r t` are allowed.
fn macro_string(s: &str, exp: bool) -> Result<MacroString, SpfErrorKind> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            match b.get(i + 1) {
                Some(b'%') => lit.push('%'),
                Some(b'_') => lit.push(' '),
                Some(b'-') => lit.push_str("%20"),
                Some(b'{') => {
                    let end = s[i..].find('}').ok_or(SpfErrorKind::BadMacro)? + i;
                    let body = &s[i + 2..end];
                    let mut chars = body.chars();
                    let letter = chars.next().ok_or(SpfErrorKind::BadMacro)?;
                    let lower = letter.to_ascii_lowercase();
                    let ok = matches!(lower, 's' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'v')
                        || (exp && matches!(lower, 'c' | 'r' | 't'));
                    if !ok {
                        return Err(SpfErrorKind::BadMacro);
                    }
                    let rest = chars.as_str();
                    let dig_end = rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(rest.len());
                    let digits = if dig_end == 0 {
                        None
                    } else {
                        let n: usize = rest[..dig_end].parse().unwrap_or(usize::MAX);
                        if n == 0 {
                            return Err(SpfErrorKind::BadMacro);
                        }
                        Some(n)
                    };
                    let mut rest = &rest[dig_end..];
                    let reverse = if let Some(r) = rest.strip_prefix(['r', 'R']) {
                        rest = r;
                        true
                    } else {
                        false
                    };
                    if !rest.chars().all(|c| ".-+,/_=".contains(c)) {
                        return Err(SpfErrorKind::BadMacro);
                    }
                    if !lit.is_empty() {
                        parts.push(MacroPart::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(MacroPart::Expand {
                        letter: lower,
                        escape: letter.is_ascii_uppercase(),
                        digits,
                        reverse,
                        delimiters: if rest.is_empty() {
                            ".".into()
                        } else {
                            rest.into()
                        },
                    });
                    i = end + 1;
                    continue;
                }
                _ => return Err(SpfErrorKind::BadMacro),
            }
            i += 2;
            continue;
        }
        if !((0x21..=0x7e).contains(&c) || (exp && c == b' ')) {
            return Err(SpfErrorKind::NonAscii);
        }
        lit.push(c as char);
        i += 1;
    }
    if !lit.is_empty() {
        parts.push(MacroPart::Literal(lit));
    }
    Ok(MacroString {
        raw: s.to_owned(),
        parts,
    })
}

/// The identity being checked and the connection it came from.
#[derive(Clone, Debug)]
pub struct SpfQuery {
    /// The client's address (an IPv4-mapped IPv6 address is checked as IPv4, as pyspf and
    /// the suite do).
    pub ip: IpAddr,
    /// The HELO/EHLO name.
    pub helo: String,
    /// `local-part@domain`; for a HELO check `postmaster@helo`.
    pub sender: String,
    /// The domain to check (the sender's domain, or the HELO name).
    pub domain: String,
}

impl SpfQuery {
    /// A MAIL FROM check; an empty local part becomes `postmaster` (RFC 7208 §4.3).
    pub fn mail_from(ip: IpAddr, helo: &str, mail_from: &str) -> Self {
        let ip = ip.to_canonical();
        let (local, domain) = match mail_from.rsplit_once('@') {
            Some((l, d)) => (if l.is_empty() { "postmaster" } else { l }, d),
            None => ("postmaster", mail_from),
        };
        Self {
            ip,
            helo: helo.to_owned(),
            sender: format!("{local}@{domain}"),
            domain: domain.to_owned(),
        }
    }
    /// A HELO check (`postmaster@helo`).
    pub fn helo(ip: IpAddr, helo: &str) -> Self {
        Self {
            ip: ip.to_canonical(),
            helo: helo.to_owned(),
            sender: format!("postmaster@{helo}"),
            domain: helo.to_owned(),
        }
    }
}

/// The outcome of `check_host()` with what evaluation counted.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SpfOutcome {
    /// The result.
    pub result: SpfResult,
    /// The expanded `exp=` text on `fail`, if any.
    pub explanation: Option<String>,
    /// Why (the matching term, or the error).
    pub reason: String,
    /// DNS-querying terms evaluated (limit 10).
    pub dns_terms: u32,
    /// Void lookups seen (limit 2).
    pub void_lookups: u32,
}

/// Upper bound on DNS-querying terms (RFC 7208 §4.6.4).
pub const MAX_DNS_TERMS: u32 = 10;
/// Upper bound on void lookups (RFC 7208 §4.6.4).
pub const MAX_VOID_LOOKUPS: u32 = 2;

struct State<'q> {
    q: &'q SpfQuery,
    dns_terms: u32,
    void: u32,
}

/// Why evaluation stopped early.
enum Stop {
    Temp(String),
    Perm(String),
}

type Eval<'a> = Pin<Box<dyn Future<Output = (SpfResult, Option<String>, String)> + Send + 'a>>;

/// Runs `check_host()` (RFC 7208 §4) for `q`.
pub async fn check_host<D: SpfDns>(dns: &D, q: &SpfQuery) -> SpfOutcome {
    let mut st = State {
        q,
        dns_terms: 0,
        void: 0,
    };
    let domain = normalise(&q.domain);
    let (result, explanation, reason) = eval(dns, &mut st, domain, 0).await;
    SpfOutcome {
        result,
        explanation,
        reason,
        dns_terms: st.dns_terms,
        void_lookups: st.void,
    }
}

fn normalise(d: &str) -> String {
    d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase()
}

/// RFC 7208 §4.3: a domain check_host() can work on (multi-label, labels 1..=63).
fn valid_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// Fetches and selects the SPF record of `domain` (RFC 7208 §4.4, §4.5).
async fn fetch<D: SpfDns>(dns: &D, domain: &str) -> Result<Option<String>, Stop> {
    let txt = match dns.txt(domain).await {
        Lookup::Found(v) => v,
        Lookup::NxDomain | Lookup::NoData => return Ok(None),
        Lookup::Unknown(r) => return Err(Stop::Temp(format!("TXT {domain}: {r}"))),
    };
    let spf: Vec<&Vec<u8>> = txt.iter().filter(|t| is_spf_record(t)).collect();
    match spf.as_slice() {
        [] => Ok(None),
        [one] => match std::str::from_utf8(one) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(Stop::Perm(format!("{domain}: SPF record is not ASCII"))),
        },
        _ => Err(Stop::Perm(format!("{domain}: {} SPF records", spf.len()))),
    }
}

fn eval<'a, D: SpfDns>(dns: &'a D, st: &'a mut State<'_>, domain: String, depth: u32) -> Eval<'a> {
    Box::pin(async move {
        if !valid_domain(&domain) {
            return (
                SpfResult::None,
                None,
                format!("{domain:?} is not a valid domain"),
            );
        }
        let record = match fetch(dns, &domain).await {
            Ok(Some(r)) => r,
            Ok(None) => return (SpfResult::None, None, format!("{domain}: no SPF record")),
            Err(Stop::Temp(r)) => return (SpfResult::TempError, None, r),
            Err(Stop::Perm(r)) => return (SpfResult::PermError, None, r),
        };
        let rec = match parse(&record) {
            Ok(r) => r,
            Err(e) => return (SpfResult::PermError, None, format!("{domain}: {e}")),
        };
        match run(dns, st, &domain, &rec, depth).await {
            Ok(Some((res, term))) => {
                let exp = if res == SpfResult::Fail {
                    explain(dns, st, &domain, &rec).await
                } else {
                    None
                };
                (res, exp, format!("{domain}: {term}"))
            }
            Ok(None) => {
                let has_all = rec.directives.iter().any(|d| d.mechanism == Mechanism::All);
                match (&rec.redirect, has_all) {
                    (Some(r), false) => {
                        if let Err(s) = count_term(st) {
                            return stop(s);
                        }
                        let target = match expand_domain(dns, st, r, &domain).await {
                            Ok(t) => t,
                            Err(s) => return stop(s),
                        };
                        if !valid_domain(&target) {
                            return (
                                SpfResult::PermError,
                                None,
                                format!("{domain}: redirect to invalid domain {target:?}"),
                            );
                        }
                        let (res, exp, why) = eval(dns, st, target, depth + 1).await;
                        if res == SpfResult::None {
                            return (SpfResult::PermError, None, format!("redirect: {why}"));
                        }
                        (res, exp, why)
                    }
                    _ => (
                        SpfResult::Neutral,
                        None,
                        format!("{domain}: no term matched"),
                    ),
                }
            }
            Err(s) => stop(s),
        }
    })
}

fn stop(s: Stop) -> (SpfResult, Option<String>, String) {
    match s {
        Stop::Temp(r) => (SpfResult::TempError, None, r),
        Stop::Perm(r) => (SpfResult::PermError, None, r),
    }
}

fn count_term(st: &mut State<'_>) -> Result<(), Stop> {
    st.dns_terms += 1;
    if st.dns_terms > MAX_DNS_TERMS {
        return Err(Stop::Perm(format!(
            "more than {MAX_DNS_TERMS} DNS-querying terms"
        )));
    }
    Ok(())
}

fn void(st: &mut State<'_>) -> Result<(), Stop> {
    st.void += 1;
    if st.void > MAX_VOID_LOOKUPS {
        return Err(Stop::Perm(format!(
            "more than {MAX_VOID_LOOKUPS} void lookups"
        )));
    }
    Ok(())
}

/// Evaluates the directives; `Some((result, term))` on a match.
async fn run<D: SpfDns>(
    dns: &D,
    st: &mut State<'_>,
    domain: &str,
    rec: &SpfRecord,
    depth: u32,
) -> Result<Option<(SpfResult, String)>, Stop> {
    let ip = st.q.ip;
    for d in &rec.directives {
        if d.mechanism.queries_dns() {
            count_term(st)?;
        }
        let matched = match &d.mechanism {
            Mechanism::All => true,
            Mechanism::Ip4(net, len) => match ip {
                IpAddr::V4(v4) => in_v4(v4, *net, *len),
                IpAddr::V6(_) => false,
            },
            Mechanism::Ip6(net, len) => match ip {
                IpAddr::V6(v6) => in_v6(v6, *net, *len),
                IpAddr::V4(_) => false,
            },
            Mechanism::A(spec, l4, l6) => {
                let target = target_name(dns, st, spec.as_ref(), domain).await?;
                match_a(dns, st, &target, *l4, *l6, true).await?
            }
            Mechanism::Mx(spec, l4, l6) => {
                let target = target_name(dns, st, spec.as_ref(), domain).await?;
                match records(st, dns.mx(&target).await, true, || format!("MX {target}"))? {
                    Some(mxs) => {
                        if mxs.len() > 10 {
                            return Err(Stop::Perm(format!("{target}: more than 10 MX")));
                        }
                        let mut hit = false;
                        for mx in &mxs {
                            if match_a(dns, st, &normalise(mx), *l4, *l6, false).await? {
                                hit = true;
                                break;
                            }
                        }
                        hit
                    }
                    None => false,
                }
            }
            Mechanism::Ptr(spec) => {
                let target = target_name(dns, st, spec.as_ref(), domain).await?;
                match validated_names(dns, st, ip).await? {
                    Some(names) => names
                        .iter()
                        .any(|n| n == &target || n.ends_with(&format!(".{target}"))),
                    None => false,
                }
            }
            Mechanism::Exists(spec) => {
                let target = expand_domain(dns, st, spec, domain).await?;
                records(st, dns.a(&target).await, true, || format!("A {target}"))?
                    .is_some_and(|v| !v.is_empty())
            }
            Mechanism::Include(spec) => {
                let target = expand_domain(dns, st, spec, domain).await?;
                let (res, _, why) = eval(dns, st, target, depth + 1).await;
                match res {
                    SpfResult::Pass => true,
                    SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => false,
                    SpfResult::TempError => return Err(Stop::Temp(why)),
                    SpfResult::PermError | SpfResult::None => {
                        return Err(Stop::Perm(format!("include: {why}")));
                    }
                }
            }
        };
        if matched {
            return Ok(Some((d.qualifier.result(), d.term.clone())));
        }
    }
    Ok(None)
}

async fn target_name<D: SpfDns>(
    dns: &D,
    st: &mut State<'_>,
    spec: Option<&MacroString>,
    domain: &str,
) -> Result<String, Stop> {
    match spec {
        Some(s) => expand_domain(dns, st, s, domain).await,
        None => Ok(domain.to_owned()),
    }
}

/// Whether `ip` is among the addresses of `name` (within the CIDR lengths).
async fn match_a<D: SpfDns>(
    dns: &D,
    st: &mut State<'_>,
    name: &str,
    l4: u8,
    l6: u8,
    count_void: bool,
) -> Result<bool, Stop> {
    Ok(match st.q.ip {
        IpAddr::V4(ip) => {
            let a = records(st, dns.a(name).await, count_void, || format!("A {name}"))?;
            a.is_some_and(|v| v.iter().any(|n| in_v4(ip, *n, l4)))
        }
        IpAddr::V6(ip) => {
            let aaaa = records(st, dns.aaaa(name).await, count_void, || {
                format!("AAAA {name}")
            })?;
            aaaa.is_some_and(|v| v.iter().any(|n| in_v6(ip, *n, l6)))
        }
    })
}

/// A lookup's records; `None` for a void answer (NXDOMAIN or no records, counted against the
/// void lookup limit when `count_void`); no reliable answer to the question `what` is a
/// temporary error.
fn records<T>(
    st: &mut State<'_>,
    answer: Lookup<Vec<T>>,
    count_void: bool,
    what: impl FnOnce() -> String,
) -> Result<Option<Vec<T>>, Stop> {
    match answer {
        Lookup::Found(v) => Ok(Some(v)),
        Lookup::NxDomain | Lookup::NoData => {
            if count_void {
                void(st)?;
            }
            Ok(None)
        }
        Lookup::Unknown(r) => Err(Stop::Temp(format!("{}: {r}", what()))),
    }
}

/// The client's PTR names whose forward lookup contains the client IP (RFC 7208 §5.5).
/// `None` when the PTR lookup failed.
async fn validated_names<D: SpfDns>(
    dns: &D,
    st: &mut State<'_>,
    ip: IpAddr,
) -> Result<Option<Vec<String>>, Stop> {
    let names = match dns.ptr(ip).await {
        Lookup::Found(v) => v,
        Lookup::NxDomain | Lookup::NoData => {
            void(st)?;
            return Ok(None);
        }
        Lookup::Unknown(_) => return Ok(None),
    };
    let mut out = Vec::new();
    for n in names.iter().take(10) {
        let n = normalise(n);
        let ok = match ip {
            IpAddr::V4(v4) => matches!(dns.a(&n).await, Lookup::Found(v) if v.contains(&v4)),
            IpAddr::V6(v6) => matches!(dns.aaaa(&n).await, Lookup::Found(v) if v.contains(&v6)),
        };
        if ok {
            out.push(n);
        }
    }
    Ok(Some(out))
}

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

/// Expands a domain-spec and applies §4.8's length rule (drop labels from the left).
async fn expand_domain<D: SpfDns>(
    dns: &D,
    st: &mut State<'_>,
    m: &MacroString,
    domain: &str,
) -> Result<String, Stop> {
    let mut s = expand(dns, st, m, domain, false).await?;
    if s.ends_with('.') {
        s.pop();
    }
    while s.len() > 253 {
        match s.find('.') {
            Some(i) => s = s[i + 1..].to_owned(),
            None => break,
        }
    }
    let s = s.to_ascii_lowercase();
    if s.is_empty() || s.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(Stop::Perm(format!(
            "{:?} expands to invalid domain {s:?}",
            m.raw
        )));
    }
    Ok(s)
}

async fn expand<D: SpfDns>(
    dns: &D,
    st: &mut State<'_>,
    m: &MacroString,
    domain: &str,
    exp: bool,
) -> Result<String, Stop> {
    let mut out = String::new();
    for p in &m.parts {
        match p {
            MacroPart::Literal(l) => out.push_str(l),
            MacroPart::Expand {
                letter,
                escape,
                digits,
                reverse,
                delimiters,
            } => {
                let q = st.q;
                let value = match letter {
                    's' => q.sender.clone(),
                    'l' => q
                        .sender
                        .rsplit_once('@')
                        .map_or("postmaster", |x| x.0)
                        .into(),
                    'o' => q
                        .sender
                        .rsplit_once('@')
                        .map_or(q.domain.as_str(), |x| x.1)
                        .into(),
                    'd' => domain.to_owned(),
                    'i' => dotted(q.ip),
                    'v' => match q.ip {
                        IpAddr::V4(_) => "in-addr".into(),
                        IpAddr::V6(_) => "ip6".into(),
                    },
                    'h' => q.helo.clone(),
                    'p' => ptr_name(dns, st, domain).await?,
                    'c' if exp => q.ip.to_string(),
                    'r' if exp => "unknown".into(),
                    't' if exp => "0".into(),
                    _ => return Err(Stop::Perm(format!("macro %{{{letter}}} not allowed"))),
                };
                let mut parts: Vec<&str> = value.split(|c| delimiters.contains(c)).collect();
                if *reverse {
                    parts.reverse();
                }
                if let Some(n) = digits
                    && *n < parts.len()
                {
                    parts.drain(..parts.len() - n);
                }
                let joined = parts.join(".");
                if *escape {
                    for b in joined.bytes() {
                        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                            out.push(b as char);
                        } else {
                            out.push_str(&format!("%{b:02X}"));
                        }
                    }
                } else {
                    out.push_str(&joined);
                }
            }
        }
    }
    Ok(out)
}

/// `%{i}`: dotted quad, or dot-separated nibbles for IPv6.
fn dotted(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(63);
            for byte in v6.octets() {
                for nib in [byte >> 4, byte & 0xf] {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push(char::from_digit(u32::from(nib), 16).unwrap_or('0'));
                }
            }
            s
        }
    }
}

/// `%{p}`: a validated name of the client, preferring `domain` or a subdomain of it.
async fn ptr_name<D: SpfDns>(dns: &D, st: &mut State<'_>, domain: &str) -> Result<String, Stop> {
    let ip = st.q.ip;
    let Lookup::Found(names) = dns.ptr(ip).await else {
        return Ok("unknown".into());
    };
    let mut valid = Vec::new();
    for n in names.iter().take(10) {
        let n = normalise(n);
        let ok = match ip {
            IpAddr::V4(v4) => matches!(dns.a(&n).await, Lookup::Found(v) if v.contains(&v4)),
            IpAddr::V6(v6) => matches!(dns.aaaa(&n).await, Lookup::Found(v) if v.contains(&v6)),
        };
        if ok {
            valid.push(n);
        }
    }
    let pick = valid
        .iter()
        .find(|n| *n == domain)
        .or_else(|| valid.iter().find(|n| n.ends_with(&format!(".{domain}"))))
        .or_else(|| valid.first());
    Ok(pick.cloned().unwrap_or_else(|| "unknown".into()))
}

/// The `exp=` explanation (RFC 7208 §6.2); any problem means no explanation.
async fn explain<D: SpfDns>(
    dns: &D,
    st: &mut State<'_>,
    domain: &str,
    rec: &SpfRecord,
) -> Option<String> {
    let spec = rec.exp.as_ref()?;
    let target = expand_domain(dns, st, spec, domain).await.ok()?;
    let Lookup::Found(txt) = dns.txt(&target).await else {
        return None;
    };
    let [one] = txt.as_slice() else {
        return None;
    };
    let text = std::str::from_utf8(one).ok()?;
    let m = macro_string(text, true).ok()?;
    expand(dns, st, &m, domain, true).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_term_and_offset() {
        let cases = [
            (
                "v=spf1 ip4:1.2.3.4/33 -all",
                "ip4:1.2.3.4/33",
                7,
                SpfErrorKind::BadCidr,
            ),
            (
                "v=spf1 a -all foo",
                "foo",
                14,
                SpfErrorKind::UnknownMechanism,
            ),
            (
                "v=spf1  include -all",
                "include",
                8,
                SpfErrorKind::BadArgument,
            ),
            ("v=spf1 a:foo.1 -all", "a:foo.1", 7, SpfErrorKind::BadDomain),
            (
                "v=spf1 redirect=a.com redirect=b.com",
                "redirect=b.com",
                22,
                SpfErrorKind::DuplicateModifier,
            ),
            (
                "v=spf1 exists:%{x}.com",
                "exists:%{x}.com",
                7,
                SpfErrorKind::BadMacro,
            ),
        ];
        for (rec, term, offset, kind) in cases {
            let e = parse(rec).unwrap_err();
            assert_eq!(
                (e.term.as_str(), e.offset, e.kind),
                (term, offset, kind),
                "{rec}"
            );
        }
    }

    #[test]
    fn parse_accepts_valid_records() {
        for rec in [
            "v=spf1 -all",
            "v=spf1 a mx/24 a:ex.com/24//64 ip6:2001:db8::/32 include:_spf.ex.com ~all",
            "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} redirect=_spf.ex.com",
            "V=SPF1 ?all moo=bar",
        ] {
            assert!(parse(rec).is_ok(), "{rec}");
        }
        assert!(!is_spf_record(b"v=spf10"));
    }
}

/// What a linter wants to know about a domain's SPF set-up, gathered by walking its record,
/// includes and redirects (RFC 7208 §4.6.4 counts through both).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct SpfLint {
    /// The SPF records among the domain's TXT records, verbatim.
    pub spf_records: Vec<String>,
    /// Why the TXT lookup gave no reliable answer.
    pub lookup_error: Option<String>,
    /// Total size of the domain's TXT RRset on the wire, in bytes (answer section only).
    pub txt_wire_bytes: usize,
    /// The syntax error of the domain's record, if any.
    pub error: Option<SpfError>,
    /// The qualifier of the top record's `all` (following redirects), if any.
    pub all: Option<Qualifier>,
    /// Whether the top record has a `redirect=` (so no `all` is needed).
    pub redirect: bool,
    /// DNS-querying terms counted through includes and redirects.
    pub dns_terms: u32,
    /// Void lookups (NXDOMAIN or no data) seen in the walk.
    pub void_lookups: u32,
    /// Void lookup targets, for evidence.
    pub void_names: Vec<String>,
    /// Records (by domain) that use `ptr`.
    pub ptr_in: Vec<String>,
    /// Includes and redirects that lead nowhere: (target, why).
    pub broken: Vec<(String, String)>,
}

/// Walks `domain`'s SPF record and everything it includes (literal domain-specs only; terms
/// with macros depend on the sender and are not followed). At most 40 records are visited.
pub async fn lint<D: SpfDns>(dns: &D, domain: &str) -> SpfLint {
    let domain = normalise(domain);
    let mut out = SpfLint::default();
    match dns.txt(&domain).await {
        Lookup::Found(v) => {
            out.txt_wire_bytes = v
                .iter()
                .map(|t| 12 + t.len() + t.len().div_ceil(255).max(1))
                .sum();
            out.spf_records = v
                .iter()
                .filter(|t| is_spf_record(t))
                .map(|t| crate::sanitize::lossy(t))
                .collect();
        }
        Lookup::NxDomain | Lookup::NoData => {}
        Lookup::Unknown(r) => out.lookup_error = Some(r),
    }
    let [record] = out.spf_records.as_slice() else {
        return out;
    };
    let rec = match parse(record) {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    out.redirect = rec.redirect.is_some();
    let mut queue: Vec<(String, SpfRecord, bool)> = vec![(domain.clone(), rec, true)];
    let mut visited = vec![domain];
    while let Some((name, rec, top)) = queue.pop() {
        if rec
            .directives
            .iter()
            .any(|d| d.mechanism == Mechanism::Ptr(None))
            || rec
                .directives
                .iter()
                .any(|d| matches!(d.mechanism, Mechanism::Ptr(Some(_))))
        {
            out.ptr_in.push(name.clone());
        }
        if top {
            out.all = rec
                .directives
                .iter()
                .find(|d| d.mechanism == Mechanism::All)
                .map(|d| d.qualifier);
        }
        let mut follow: Vec<(String, bool)> = Vec::new();
        for d in &rec.directives {
            if d.mechanism.queries_dns() {
                out.dns_terms += 1;
            }
            let literal = |m: &Option<MacroString>| match m {
                None => Some(name.clone()),
                Some(m) => literal_domain(m),
            };
            match &d.mechanism {
                Mechanism::Include(m) => {
                    if let Some(t) = literal_domain(m) {
                        follow.push((t, false));
                    }
                }
                Mechanism::A(m, ..) => {
                    if let Some(t) = literal(m) {
                        let (a, aaaa) = (dns.a(&t).await, dns.aaaa(&t).await);
                        if is_void(&a) && is_void(&aaaa) {
                            out.void_lookups += 1;
                            out.void_names.push(format!("a:{t}"));
                        }
                    }
                }
                Mechanism::Mx(m, ..) => {
                    if let Some(t) = literal(m)
                        && is_void(&dns.mx(&t).await)
                    {
                        out.void_lookups += 1;
                        out.void_names.push(format!("mx:{t}"));
                    }
                }
                _ => {}
            }
        }
        if let Some(r) = &rec.redirect {
            out.dns_terms += 1;
            if let Some(t) = literal_domain(r) {
                follow.push((
                    t,
                    top && !rec.directives.iter().any(|d| d.mechanism == Mechanism::All),
                ));
            }
        }
        for (target, inherit_all) in follow {
            if visited.contains(&target) || visited.len() >= 40 {
                continue;
            }
            visited.push(target.clone());
            let txt = dns.txt(&target).await;
            let spf: Vec<String> = txt
                .found()
                .into_iter()
                .flatten()
                .filter(|t| is_spf_record(t))
                .map(|t| crate::sanitize::lossy(t))
                .collect();
            let why = match (&txt, spf.as_slice()) {
                (Lookup::Unknown(r), _) => Some(format!("lookup failed ({r})")),
                (Lookup::NxDomain, _) => Some("NXDOMAIN".to_owned()),
                (_, []) => Some("no SPF record".to_owned()),
                (_, [one]) => match parse(one) {
                    Ok(r) => {
                        queue.push((target.clone(), r, inherit_all));
                        None
                    }
                    Err(e) => Some(e.to_string()),
                },
                (_, many) => Some(format!("{} SPF records", many.len())),
            };
            if is_void(&txt) {
                out.void_lookups += 1;
                out.void_names.push(format!("include:{target}"));
            }
            if let Some(why) = why {
                out.broken.push((target, why));
            }
        }
    }
    out
}

fn is_void<T>(l: &Lookup<Vec<T>>) -> bool {
    matches!(l, Lookup::NxDomain | Lookup::NoData)
}

/// The domain a macro-free domain-spec names.
fn literal_domain(m: &MacroString) -> Option<String> {
    match m.parts.as_slice() {
        [MacroPart::Literal(l)] => Some(normalise(l)),
        _ => None,
    }
}

/// `record` with its `all` term set to `-all` (added at the end if it has none and no
/// redirect): the one-line fix for `+all`, `?all`, `~all` and a missing `all`.
pub fn with_fail_all(record: &str) -> String {
    let mut terms: Vec<String> = record
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let mut found = false;
    for t in terms.iter_mut() {
        let body = t.trim_start_matches(['+', '-', '~', '?']);
        if body.eq_ignore_ascii_case("all") {
            *t = "-all".into();
            found = true;
        }
    }
    if !found {
        terms.retain(|t| !t.to_ascii_lowercase().starts_with("redirect="));
        terms.push("-all".into());
    }
    terms.join(" ")
}
