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
    kv.next().map(str::trim) == Some("v") && kv.next().map(str::trim) == Some("DMARC1")
}

/// Parses a DMARC record; the error says which tag is wrong.
pub fn parse(record: &str) -> Result<DmarcRecord, String> {
    if !is_dmarc_record(record) {
        return Err("the record must start with v=DMARC1".into());
    }
    let mut tags = BTreeMap::new();
    for part in record.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("tag {part:?} has no '='"));
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim().to_owned();
        if tags.insert(k.clone(), v).is_some() {
            return Err(format!("tag {k:?} given twice"));
        }
    }
    let rec = DmarcRecord { tags };
    match rec.tag("p") {
        None => return Err("required tag p= is missing".into()),
        Some(p) if !matches!(p, "none" | "quarantine" | "reject") => {
            return Err(format!("p={p:?} is not none, quarantine or reject"));
        }
        _ => {}
    }
    if let Some(sp) = rec.tag("sp")
        && !matches!(sp, "none" | "quarantine" | "reject")
    {
        return Err(format!("sp={sp:?} is not none, quarantine or reject"));
    }
    if rec.tag("pct").is_some() && rec.pct().is_none_or(|p| p > 100) {
        return Err(format!(
            "pct={:?} is not 0..100",
            rec.tag("pct").unwrap_or("")
        ));
    }
    Ok(rec)
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
        for (rec, err) in [
            ("v=DMARC1; rua=mailto:d@ex.com", "p= is missing"),
            ("v=DMARC1; p=block", "p=\"block\""),
            ("v=DMARC1; p=none; pct=150", "pct="),
            ("v=DMARC1; p=none; p=reject", "twice"),
            ("p=none; v=DMARC1", "v=DMARC1"),
        ] {
            let e = parse(rec).unwrap_err();
            assert!(e.contains(err), "{rec}: {e}");
        }
        assert_eq!(org_domain("mail.example.co.uk"), "example.co.uk");
    }
}
