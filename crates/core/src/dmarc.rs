//! DMARC records (RFC 7489 §6.3): a strict tag parser for lint, and the organisational
//! domain from the Public Suffix List (`psl`, compiled in).

use std::collections::BTreeMap;

/// A parsed DMARC record: tags in order of appearance, names lowercased.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DmarcRecord {
    /// `tag -> value` (values verbatim, trimmed).
    pub tags: BTreeMap<String, String>,
}

impl DmarcRecord {
    /// A tag's value.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).map(String::as_str)
    }
    /// `p=`.
    pub fn policy(&self) -> &str {
        self.tag("p").unwrap_or("")
    }
    /// `sp=`, defaulting to `p=`.
    pub fn subdomain_policy(&self) -> &str {
        self.tag("sp").unwrap_or_else(|| self.policy())
    }
    /// `pct=` (default 100).
    pub fn pct(&self) -> Option<u32> {
        self.tag("pct").map_or(Some(100), |v| v.parse().ok())
    }
}

/// Whether a TXT string is a DMARC record (`v=DMARC1` first).
pub fn is_dmarc_record(txt: &str) -> bool {
    let first = txt.split(';').next().unwrap_or("");
    let mut kv = first.splitn(2, '=');
    // ABNF literals are case-insensitive ("v"); the version is %x-coded: exactly DMARC1.
    kv.next()
        .map(str::trim)
        .is_some_and(|k| k.eq_ignore_ascii_case("v"))
        && kv.next().map(str::trim) == Some("DMARC1")
}

/// Whether a TXT string at `_dmarc` was meant as a DMARC record although it is not one
/// (receivers ignore it): `v=DMARC1` not first, `V=dmarc1` and similar typos, a tag list
/// with a DMARC policy but no version.
pub fn looks_like_dmarc(txt: &str) -> bool {
    let flat: String = txt
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    flat.contains("v=dmarc")
        || flat.contains("dmarc1")
        || flat.split(';').any(|t| {
            matches!(
                t,
                "p=none" | "p=quarantine" | "p=reject" | "sp=none" | "sp=quarantine" | "sp=reject"
            ) || t.starts_with("rua=mailto:")
        })
}

/// What is wrong with a DMARC record.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum DmarcErrorKind {
    /// It does not start with `v=DMARC1`.
    NotDmarc,
    /// A tag without `=`.
    NoEquals,
    /// A tag given twice.
    DuplicateTag,
    /// The required `p=` is missing.
    MissingPolicy,
    /// `p=` is not `none`, `quarantine` or `reject`.
    BadPolicy,
    /// `sp=` is not `none`, `quarantine` or `reject`.
    BadSubdomainPolicy,
    /// `pct=` is not 0..100.
    BadPct,
}

/// A DMARC syntax error: what is wrong and the tag (or value) it is about, as written.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DmarcError {
    /// What is wrong.
    pub kind: DmarcErrorKind,
    /// The offending tag or value (empty when the error is about the whole record).
    pub text: String,
}

impl DmarcError {
    fn new(kind: DmarcErrorKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for DmarcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.text;
        match self.kind {
            DmarcErrorKind::NotDmarc => f.write_str("the record must start with v=DMARC1"),
            DmarcErrorKind::NoEquals => write!(f, "tag {t:?} has no '='"),
            DmarcErrorKind::DuplicateTag => write!(f, "tag {t:?} given twice"),
            DmarcErrorKind::MissingPolicy => f.write_str("required tag p= is missing"),
            DmarcErrorKind::BadPolicy => write!(f, "p={t:?} is not none, quarantine or reject"),
            DmarcErrorKind::BadSubdomainPolicy => {
                write!(f, "sp={t:?} is not none, quarantine or reject")
            }
            DmarcErrorKind::BadPct => write!(f, "pct={t:?} is not 0..100"),
        }
    }
}

impl std::error::Error for DmarcError {}

/// Parses a DMARC record; the error says which tag is wrong.
pub fn parse(record: &str) -> Result<DmarcRecord, DmarcError> {
    use DmarcErrorKind as K;
    if !is_dmarc_record(record) {
        return Err(DmarcError::new(K::NotDmarc, ""));
    }
    let mut tags = BTreeMap::new();
    for part in record.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(DmarcError::new(K::NoEquals, part));
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim().to_owned();
        if tags.insert(k.clone(), v).is_some() {
            return Err(DmarcError::new(K::DuplicateTag, k));
        }
    }
    let rec = DmarcRecord { tags };
    match rec.tag("p") {
        None => return Err(DmarcError::new(K::MissingPolicy, "")),
        Some(p) if !matches!(p, "none" | "quarantine" | "reject") => {
            return Err(DmarcError::new(K::BadPolicy, p));
        }
        _ => {}
    }
    if let Some(sp) = rec.tag("sp")
        && !matches!(sp, "none" | "quarantine" | "reject")
    {
        return Err(DmarcError::new(K::BadSubdomainPolicy, sp));
    }
    if rec.tag("pct").is_some() && rec.pct().is_none_or(|p| p > 100) {
        return Err(DmarcError::new(K::BadPct, rec.tag("pct").unwrap_or("")));
    }
    Ok(rec)
}

/// At most this many report URIs are checked for external authorisation.
pub const MAX_REPORT_URIS: usize = 10;

/// The `mailto:` report destinations (`rua`, `ruf`) in another organisational domain than
/// `policy_domain`, each with the name whose TXT record must authorise it (RFC 7489 §7.1):
/// `(tag, address, <policy_domain>._report._dmarc.<target domain>)`.
pub fn external_report_names(
    policy_domain: &str,
    rec: &DmarcRecord,
) -> Vec<(&'static str, String, String)> {
    let own = org_domain(policy_domain);
    let mut out: Vec<(&'static str, String, String)> = Vec::new();
    for tag in ["rua", "ruf"] {
        for uri in rec.tag(tag).unwrap_or("").split(',') {
            let uri = uri.trim();
            let Some(addr) = uri
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case("mailto:"))
                .map(|_| &uri[7..])
            else {
                continue;
            };
            // A size limit may follow the address: mailto:d@example.com!10m.
            let addr = addr.split('!').next().unwrap_or("");
            let Some((_, host)) = addr.rsplit_once('@') else {
                continue;
            };
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            let valid = !host.is_empty()
                && host.len() <= 200
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !valid || org_domain(&host) == own {
                continue;
            }
            let name = format!("{policy_domain}._report._dmarc.{host}");
            if out.len() < MAX_REPORT_URIS && !out.iter().any(|(_, _, n)| *n == name) {
                out.push((tag, addr.to_owned(), name));
            }
        }
    }
    out
}

/// Policy strength for comparisons: none < quarantine < reject.
pub fn strength(p: &str) -> u8 {
    match p {
        "reject" => 2,
        "quarantine" => 1,
        _ => 0,
    }
}

/// The organisational domain (registrable domain per the Public Suffix List); the domain
/// itself when the list does not know it.
pub fn org_domain(domain: &str) -> String {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&d).map_or_else(|| d.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        assert!(parse("v=DMARC1; p=reject; rua=mailto:d@ex.com").is_ok());
        use DmarcErrorKind as K;
        for (rec, kind, text) in [
            ("v=DMARC1; rua=mailto:d@ex.com", K::MissingPolicy, ""),
            ("v=DMARC1; p=block", K::BadPolicy, "block"),
            ("v=DMARC1; p=none; sp=all", K::BadSubdomainPolicy, "all"),
            ("v=DMARC1; p=none; pct=150", K::BadPct, "150"),
            ("v=DMARC1; p=none; p=reject", K::DuplicateTag, "p"),
            ("v=DMARC1; p=none; adkim", K::NoEquals, "adkim"),
            ("p=none; v=DMARC1", K::NotDmarc, ""),
        ] {
            let e = parse(rec).unwrap_err();
            assert_eq!((e.kind, e.text.as_str()), (kind, text), "{rec}: {e}");
        }
        assert_eq!(
            parse("v=DMARC1; p=block").unwrap_err().to_string(),
            "p=\"block\" is not none, quarantine or reject"
        );
        assert_eq!(org_domain("mail.example.co.uk"), "example.co.uk");
    }

    #[test]
    fn external_report_destinations() {
        let rec = parse("v=DMARC1; p=none; rua=mailto:d@example.com,mailto:x@reports.vendor.net!10m, https://x.test/; ruf=MAILTO:f@sub.example.com,mailto:f@vendor.net").unwrap();
        let names = external_report_names("example.com", &rec);
        assert_eq!(
            names,
            [
                (
                    "rua",
                    "x@reports.vendor.net".to_owned(),
                    "example.com._report._dmarc.reports.vendor.net".to_owned()
                ),
                (
                    "ruf",
                    "f@vendor.net".to_owned(),
                    "example.com._report._dmarc.vendor.net".to_owned()
                ),
            ]
        );
        let own = parse("v=DMARC1; p=none; rua=mailto:d@example.com").unwrap();
        assert!(external_report_names("example.com", &own).is_empty());
    }
}
