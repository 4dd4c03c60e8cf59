//! Reputation: DNS block lists (DNSBL) and who runs an address (provider attribution).
//!
//! DNSBL conventions (RFC 5782): an IPv4 address `a.b.c.d` is listed on zone `Z` when
//! `d.c.b.a.Z` has an A record, normally in 127.0.0.0/8, whose value says why (the "return
//! code"); a TXT record at the same name gives a reason or a URL. IPv6 addresses are asked
//! as 32 reversed nibbles. Domain lists are asked `domain.Z`.
//!
//! Some answers are not listings at all: Spamhaus answers 127.255.255.252–255 to queries
//! through public resolvers, with typos or over quota; SURBL and URIBL answer 127.0.0.1. These
//! decode to [`Decoded::Refused`] and are never read as "listed".
//!
//! The list set lives in `crates/core/data/dnsbl.toml` (compiled in). Nothing here does I/O: the scanner
//! asks the questions and stores the raw answers ([`DnsblQuery`]); checks decode them.

use crate::finding::Severity;
use crate::model::Lookup;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

/// The built-in list set, as shipped.
pub const BUILTIN_DNSBL: &str = include_str!("../data/dnsbl.toml");

/// What a list is about.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListKind {
    /// Addresses (`reversed-ip.zone`).
    Ip,
    /// Domain names (`name.zone`).
    Domain,
}

/// A listing code: one answer, a range of answers, or a bit of the last octet.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Code {
    /// The answer (first of a range).
    #[serde(default)]
    pub answer: Option<Ipv4Addr>,
    /// Last answer of a range.
    #[serde(default)]
    pub to: Option<Ipv4Addr>,
    /// For bitmask lists (SURBL, URIBL): the bit of the last octet (answers 127.0.0.x).
    #[serde(default)]
    pub bit: Option<u8>,
    /// What the answer means.
    pub meaning: String,
    /// How bad a listing with this code is (refusals carry none).
    #[serde(default)]
    pub severity: Option<Severity>,
}

impl Code {
    fn matches(&self, a: Ipv4Addr) -> bool {
        if let Some(bit) = self.bit {
            let [x, y, z, last] = a.octets();
            return [x, y, z] == [127, 0, 0] && last & bit != 0;
        }
        match (self.answer, self.to) {
            (Some(lo), Some(hi)) => (u32::from(lo)..=u32::from(hi)).contains(&u32::from(a)),
            (Some(one), None) => one == a,
            _ => false,
        }
    }
}

/// One block list.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsblList {
    /// Stable identifier (findings, stats, `--dnsbl ZONE=ID`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The DNS zone asked.
    pub zone: String,
    /// Addresses or domains.
    pub kind: ListKind,
    /// Answers nibble-reversed IPv6 queries.
    #[serde(default)]
    pub ipv6: bool,
    /// Queries per second to this list.
    #[serde(default = "default_rate")]
    pub rate: u32,
    /// Where a listed operator looks up and requests removal.
    #[serde(default)]
    pub url: Option<String>,
    /// Listing codes.
    #[serde(default)]
    pub code: Vec<Code>,
    /// Error answers: the query was refused, nothing is known about the subject.
    #[serde(default)]
    pub refused: Vec<Code>,
}

fn default_rate() -> u32 {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListFile {
    list: Vec<DnsblList>,
}

/// The meaning of one answer.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Decoded {
    /// Listed, for this reason.
    Listed {
        /// The answer.
        code: Ipv4Addr,
        /// Its meaning.
        meaning: String,
        /// How bad.
        severity: Severity,
    },
    /// The list refused to answer (public resolver, quota, typo): nothing is known.
    Refused {
        /// The answer.
        code: Ipv4Addr,
        /// Its meaning.
        meaning: String,
    },
}

impl DnsblList {
    /// A list known only by its zone (`--dnsbl ZONE` not in the built-in set): any 127.0.0.0/8
    /// answer is a listing, 127.255.255.0/24 a refusal.
    pub fn generic(zone: &str, kind: ListKind) -> Self {
        Self {
            id: zone.to_owned(),
            name: zone.to_owned(),
            zone: zone.to_owned(),
            kind,
            ipv6: false,
            rate: default_rate(),
            url: None,
            code: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// What one A answer means on this list.
    pub fn decode(&self, a: Ipv4Addr) -> Decoded {
        if let Some(c) = self.refused.iter().find(|c| c.matches(a)) {
            return Decoded::Refused {
                code: a,
                meaning: c.meaning.clone(),
            };
        }
        let [x, y, z, _] = a.octets();
        if x != 127 {
            return Decoded::Refused {
                code: a,
                meaning: "answer outside 127.0.0.0/8: not a DNSBL code (a resolver rewriting NXDOMAIN, or a wildcarded or retired zone)".into(),
            };
        }
        if [y, z] == [255, 255] {
            return Decoded::Refused {
                code: a,
                meaning: "error code (127.255.255.x): query refused".into(),
            };
        }
        let hits: Vec<&Code> = self.code.iter().filter(|c| c.matches(a)).collect();
        if hits.is_empty() {
            return Decoded::Listed {
                code: a,
                meaning: format!("listed (code {a})"),
                severity: Severity::Medium,
            };
        }
        Decoded::Listed {
            code: a,
            meaning: hits
                .iter()
                .map(|c| c.meaning.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            severity: hits
                .iter()
                .filter_map(|c| c.severity)
                .max()
                .unwrap_or(Severity::Medium),
        }
    }

    /// The DNS name to ask about an address, or `None` when the list cannot answer for it
    /// (IPv6 on an IPv4-only list).
    pub fn ip_query(&self, ip: IpAddr) -> Option<String> {
        match crate::addr::canonical(ip) {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                Some(format!("{d}.{c}.{b}.{a}.{}", self.zone))
            }
            IpAddr::V6(v6) if self.ipv6 => {
                let mut s = String::with_capacity(64 + self.zone.len() + 1);
                for byte in v6.octets().iter().rev() {
                    s.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
                    s.push('.');
                    s.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
                    s.push('.');
                }
                s.push_str(&self.zone);
                Some(s)
            }
            IpAddr::V6(_) => None,
        }
    }

    /// The DNS name to ask about a domain name.
    pub fn name_query(&self, name: &str) -> String {
        format!(
            "{}.{}",
            name.trim_end_matches('.').to_ascii_lowercase(),
            self.zone
        )
    }
}

/// A set of lists.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct DnsblSet {
    /// The lists, in the order asked.
    pub lists: Vec<DnsblList>,
}

/// The list file or a `--dnsbl` value is wrong.
#[derive(Debug, thiserror::Error)]
pub enum DnsblError {
    /// The TOML does not parse or has unknown fields.
    #[error("DNSBL list file: {0}")]
    File(String),
    /// A bad `--dnsbl` entry.
    #[error("--dnsbl {entry:?}: {why}")]
    Entry {
        /// The entry.
        entry: String,
        /// What is wrong.
        why: String,
    },
}

impl DnsblSet {
    /// Parses a list file (the format of `crates/core/data/dnsbl.toml`).
    pub fn parse(text: &str) -> Result<Self, DnsblError> {
        let f: ListFile = toml::from_str(text).map_err(|e| DnsblError::File(e.to_string()))?;
        for l in &f.list {
            if crate::target::Domain::parse(&l.zone).is_err() || l.rate == 0 {
                return Err(DnsblError::File(format!(
                    "list {:?}: invalid zone or zero rate",
                    l.id
                )));
            }
        }
        Ok(Self { lists: f.list })
    }

    /// The built-in set (`crates/core/data/dnsbl.toml`).
    pub fn builtin() -> &'static Self {
        static SET: OnceLock<DnsblSet> = OnceLock::new();
        // Invariant: the compiled-in list file parses; `builtin_set_parses_with_the_big_three` tests it.
        SET.get_or_init(|| {
            Self::parse(BUILTIN_DNSBL).expect("crates/core/data/dnsbl.toml parses (tested)")
        })
    }

    /// A list by id.
    pub fn by_id(&self, id: &str) -> Option<&DnsblList> {
        self.lists.iter().find(|l| l.id == id)
    }

    /// The set a `--dnsbl ZONE[=ID],…` value names. A zone of the built-in set keeps its codes;
    /// `ZONE=ID` asks `ZONE` with the codes of built-in list `ID` (a mirror, a DQS key zone, a
    /// test zone); any other zone is an IP list with generic decoding. `ID` decides the kind.
    pub fn from_arg(value: &str) -> Result<Self, DnsblError> {
        let builtin = Self::builtin();
        let mut lists = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |why: &str| DnsblError::Entry {
                entry: entry.to_owned(),
                why: why.to_owned(),
            };
            let (zone, id) = match entry.split_once('=') {
                Some((z, id)) => (z.trim(), Some(id.trim())),
                None => (entry, None),
            };
            let zone = zone.trim_end_matches('.').to_ascii_lowercase();
            if crate::target::Domain::parse(&zone).is_err() || !zone.contains('.') {
                return Err(bad("not a DNS zone"));
            }
            let list = match id {
                Some(id) => {
                    let Some(base) = builtin.by_id(id) else {
                        let ids: Vec<&str> = builtin.lists.iter().map(|l| l.id.as_str()).collect();
                        return Err(bad(&format!("unknown list id (known: {})", ids.join(", "))));
                    };
                    DnsblList {
                        zone,
                        ..base.clone()
                    }
                }
                None => match builtin.lists.iter().find(|l| l.zone == zone) {
                    Some(l) => l.clone(),
                    None => DnsblList::generic(&zone, ListKind::Ip),
                },
            };
            if !lists.iter().any(|l: &DnsblList| l.zone == list.zone) {
                lists.push(list);
            }
        }
        if lists.is_empty() {
            return Err(DnsblError::Entry {
                entry: value.to_owned(),
                why: "no zone given".into(),
            });
        }
        Ok(Self { lists })
    }

    /// The list definition for a stored query: the built-in one with its id, else generic.
    pub fn definition(q: &DnsblQuery) -> DnsblList {
        match Self::builtin().by_id(&q.list) {
            Some(l) => DnsblList {
                zone: q.zone.clone(),
                ..l.clone()
            },
            None => DnsblList::generic(&q.zone, q.kind),
        }
    }
}

/// One DNSBL question and its raw answer, as stored.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct DnsblQuery {
    /// The list's id (decides how the answer is decoded).
    pub list: String,
    /// The zone asked.
    pub zone: String,
    /// Address or domain list.
    pub kind: ListKind,
    /// What was asked about: the address or the name.
    pub subject: String,
    /// The DNS name asked.
    pub query: String,
    /// The A answer.
    pub answer: Lookup<Vec<Ipv4Addr>>,
    /// The TXT answer (reasons, removal URLs): verbatim list text.
    #[serde(default)]
    pub txt: Vec<String>,
}

impl DnsblQuery {
    /// Every answer decoded with the list's codes (empty when not listed or unknown).
    pub fn decoded(&self) -> Vec<Decoded> {
        let def = DnsblSet::definition(self);
        self.answer
            .found()
            .into_iter()
            .flatten()
            .map(|a| def.decode(*a))
            .collect()
    }

    /// Whether any answer is a listing.
    pub fn listed(&self) -> bool {
        self.decoded()
            .iter()
            .any(|d| matches!(d, Decoded::Listed { .. }))
    }
}

/// Where a provider attribution comes from.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderSource {
    /// An ASN database (`--asn-db`).
    AsnDb,
    /// The registrable domain of the address's PTR name (heuristic).
    Ptr,
    /// The registrable domain of the MX host name that led to the address (heuristic).
    MxName,
}

/// Who runs an address, as far as the scan can tell.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    /// Grouping key: `AS64500` or a registrable domain.
    pub key: String,
    /// The AS organisation, or the registrable domain.
    pub name: String,
    /// The AS number, from a database.
    #[serde(default)]
    pub asn: Option<u32>,
    /// Where it comes from.
    pub source: ProviderSource,
    /// A guess from names rather than routing data.
    pub heuristic: bool,
}

impl Provider {
    /// From an ASN database record.
    pub fn from_asn(asn: u32, org: Option<&str>) -> Self {
        Self {
            key: format!("AS{asn}"),
            name: org.unwrap_or("").to_owned(),
            asn: Some(asn),
            source: ProviderSource::AsnDb,
            heuristic: false,
        }
    }

    /// A guess from names: the registrable domain (Public Suffix List) of the first PTR name,
    /// else of the first MX host name.
    pub fn from_names(ptr: &[String], mx_names: &[String]) -> Option<Self> {
        let guess = |names: &[String], source| {
            names.iter().find_map(|n| {
                let n = n.trim_end_matches('.').to_ascii_lowercase();
                let d = psl::domain_str(&n)?.to_owned();
                Some(Self {
                    key: d.clone(),
                    name: d,
                    asn: None,
                    source,
                    heuristic: true,
                })
            })
        };
        guess(ptr, ProviderSource::Ptr).or_else(|| guess(mx_names, ProviderSource::MxName))
    }

    /// `AS64500 Example Hosting`, or `example.net (heuristic: PTR)`.
    pub fn label(&self) -> String {
        match (self.source, self.heuristic) {
            (ProviderSource::AsnDb, _) if self.name.is_empty() => self.key.clone(),
            (ProviderSource::AsnDb, _) => format!("{} {}", self.key, self.name),
            (ProviderSource::Ptr, _) => format!("{} (heuristic: PTR)", self.key),
            (ProviderSource::MxName, _) => format!("{} (heuristic: MX name)", self.key),
        }
    }
}

/// Reputation of one host: its DNSBL answers and its provider.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct HostReputation {
    /// One query per IP list.
    #[serde(default)]
    pub dnsbl: Vec<DnsblQuery>,
    /// Who runs the address.
    #[serde(default)]
    pub provider: Option<Provider>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn builtin_set_parses_with_the_big_three() {
        let set = DnsblSet::builtin();
        for id in [
            "spamhaus-zen",
            "barracuda",
            "spamcop",
            "spamhaus-dbl",
            "surbl",
        ] {
            assert!(set.by_id(id).is_some(), "{id}");
        }
        assert_eq!(set.by_id("spamhaus-dbl").unwrap().kind, ListKind::Domain);
    }

    #[test]
    fn zen_codes_decode() {
        let zen = DnsblSet::builtin().by_id("spamhaus-zen").unwrap();
        let cases = [
            ("127.0.0.2", Some("SBL:"), Severity::High),
            ("127.0.0.3", Some("SBL CSS"), Severity::High),
            ("127.0.0.4", Some("XBL"), Severity::High),
            ("127.0.0.7", Some("XBL"), Severity::High),
            ("127.0.0.9", Some("DROP"), Severity::Critical),
            ("127.0.0.10", Some("PBL (ISP"), Severity::Low),
            ("127.0.0.11", Some("PBL (Spamhaus"), Severity::Low),
            ("127.0.0.8", None, Severity::Medium),
        ];
        for (code, meaning, sev) in cases {
            match zen.decode(a(code)) {
                Decoded::Listed {
                    meaning: m,
                    severity,
                    ..
                } => {
                    if let Some(want) = meaning {
                        assert!(m.starts_with(want), "{code}: {m}");
                    } else {
                        assert!(m.contains("127.0.0.8"), "{m}");
                    }
                    assert_eq!(severity, sev, "{code}");
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn refusals_are_never_listings() {
        let set = DnsblSet::builtin();
        let zen = set.by_id("spamhaus-zen").unwrap();
        for code in [
            "127.255.255.252",
            "127.255.255.253",
            "127.255.255.254",
            "127.255.255.255",
        ] {
            assert!(
                matches!(zen.decode(a(code)), Decoded::Refused { .. }),
                "{code}"
            );
        }
        let Decoded::Refused { meaning, .. } = zen.decode(a("127.255.255.254")) else {
            panic!()
        };
        assert!(meaning.contains("public"), "{meaning}");
        // SURBL's own refusal code, and its bitmask listings.
        let surbl = set.by_id("surbl").unwrap();
        assert!(matches!(
            surbl.decode(a("127.0.0.1")),
            Decoded::Refused { .. }
        ));
        let Decoded::Listed { meaning, .. } = surbl.decode(a("127.0.0.24")) else {
            panic!()
        };
        assert_eq!(meaning, "PH: phishing; MW: malware");
        // Outside 127/8: a rewriting resolver, never a listing.
        assert!(matches!(
            DnsblList::generic("bl.test", ListKind::Ip).decode(a("198.51.100.7")),
            Decoded::Refused { .. }
        ));
        assert!(matches!(
            DnsblList::generic("bl.test", ListKind::Ip).decode(a("127.0.0.2")),
            Decoded::Listed { .. }
        ));
    }

    #[test]
    fn query_names() {
        let zen = DnsblSet::builtin().by_id("spamhaus-zen").unwrap();
        assert_eq!(
            zen.ip_query("192.0.2.99".parse().unwrap()).as_deref(),
            Some("99.2.0.192.zen.spamhaus.org")
        );
        assert_eq!(
            zen.ip_query("2001:db8::1:2".parse().unwrap()).as_deref(),
            Some(
                "2.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org"
            )
        );
        // IPv4-mapped IPv6 is asked as IPv4.
        assert_eq!(
            zen.ip_query("::ffff:192.0.2.1".parse().unwrap()).as_deref(),
            Some("1.2.0.192.zen.spamhaus.org")
        );
        let spamcop = DnsblSet::builtin().by_id("spamcop").unwrap();
        assert_eq!(spamcop.ip_query("2001:db8::1".parse().unwrap()), None);
        assert_eq!(
            spamcop.name_query("MX.Example.JP."),
            "mx.example.jp.bl.spamcop.net"
        );
    }

    #[test]
    fn dnsbl_argument() {
        let set =
            DnsblSet::from_arg("zen.spamhaus.org, bl.example.test ,KEY.zen.dq.test=spamhaus-zen,dbl.lab.test=spamhaus-dbl")
                .unwrap();
        let ids: Vec<&str> = set.lists.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "spamhaus-zen",
                "bl.example.test",
                "spamhaus-zen",
                "spamhaus-dbl"
            ]
        );
        assert_eq!(set.lists[2].zone, "key.zen.dq.test");
        assert_eq!(set.lists[3].kind, ListKind::Domain);
        assert!(DnsblSet::from_arg("zone.test=nope").is_err());
        assert!(DnsblSet::from_arg("not a zone").is_err());
        assert!(DnsblSet::from_arg(" , ").is_err());
        assert!(
            DnsblSet::parse("[[list]]\nid='x'\nname='x'\nzone='x.test'\nkind='ip'\nbogus=1\n")
                .is_err()
        );
    }

    #[test]
    fn providers_from_names() {
        let p = Provider::from_names(&["mail1.customer.example.co.jp".into()], &[]).unwrap();
        assert_eq!(p.key, "example.co.jp");
        assert_eq!(p.source, ProviderSource::Ptr);
        assert!(p.heuristic);
        let p = Provider::from_names(&[], &["mx.hoster.example.net".into()]).unwrap();
        assert_eq!(
            (p.key.as_str(), p.source),
            ("example.net", ProviderSource::MxName)
        );
        assert_eq!(Provider::from_names(&[], &[]), None);
        let asn = Provider::from_asn(64500, Some("Example Hosting"));
        assert_eq!(asn.label(), "AS64500 Example Hosting");
        assert!(!asn.heuristic);
    }
}
