//! CISA's Known Exploited Vulnerabilities catalogue
//! (<https://www.cisa.gov/known-exploited-vulnerabilities-catalog>), the JSON file
//! `known_exploited_vulnerabilities.json`:
//!
//! ```json
//! {"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2026.12.01",
//!  "dateReleased": "…", "count": 1, "vulnerabilities": [{"cveID": "CVE-…",
//!  "vendorProject": "…", "product": "…", "vulnerabilityName": "…", "dateAdded": "2024-07-01",
//!  "shortDescription": "…", "requiredAction": "…", "dueDate": "…",
//!  "knownRansomwareCampaignUse": "Unknown", "notes": "…", "cwes": []}]}
//! ```
//!
//! Entries are flags on CVE ids, not advisories: a match of an advisory whose id or alias is
//! listed is *known exploited* and shown first.

use super::AdvisoryError;
use serde::{Deserialize, Serialize};

/// One catalogue entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `CVE-2023-42793`.
    #[serde(rename = "cveID")]
    pub cve_id: String,
    /// Vendor as CISA names it.
    #[serde(default)]
    pub vendor_project: String,
    /// Product as CISA names it.
    #[serde(default)]
    pub product: String,
    /// Short title.
    #[serde(default)]
    pub vulnerability_name: String,
    /// `YYYY-MM-DD` the entry was added.
    #[serde(default)]
    pub date_added: String,
    /// `YYYY-MM-DD` by which US federal agencies must act.
    #[serde(default)]
    pub due_date: Option<String>,
    /// `Known` or `Unknown`.
    #[serde(default)]
    pub known_ransomware_campaign_use: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Catalogue {
    #[serde(default)]
    catalog_version: Option<String>,
    vulnerabilities: Vec<Entry>,
}

/// Whether a JSON text looks like the KEV catalogue, from its first bytes.
pub fn looks_like(head: &str) -> bool {
    head.contains("\"catalogVersion\"") || head.contains("\"cveID\"")
}

/// Parses the catalogue: its version and entries (entries without a CVE id are dropped).
pub fn parse(text: &str) -> Result<(Option<String>, Vec<Entry>), AdvisoryError> {
    let c: Catalogue = serde_json::from_str(text)
        .map_err(|e| AdvisoryError::Syntax(format!("not a KEV catalogue: {e}")))?;
    Ok((
        c.catalog_version,
        c.vulnerabilities
            .into_iter()
            .filter(|e| e.cve_id.starts_with("CVE-"))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue() {
        let text = r#"{"title":"CISA Catalog of Known Exploited Vulnerabilities","catalogVersion":"2026.12.01","dateReleased":"2026-12-01T15:00:00.000Z","count":2,
          "vulnerabilities":[{"cveID":"CVE-2019-10149","vendorProject":"Exim","product":"Mail Transfer Agent (MTA)","vulnerabilityName":"Exim Mail Transfer Agent (MTA) Improper Input Validation","dateAdded":"2021-11-03","shortDescription":"x","requiredAction":"y","dueDate":"2022-05-03","knownRansomwareCampaignUse":"Unknown","notes":"","cwes":["CWE-20"]},
                             {"cveID":"","vendorProject":"","product":"","vulnerabilityName":"","dateAdded":""}]}"#;
        let (version, entries) = parse(text).expect("kev");
        assert_eq!(version.as_deref(), Some("2026.12.01"));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].cve_id, "CVE-2019-10149");
        assert_eq!(entries[0].date_added, "2021-11-03");
        assert!(looks_like(text));
        assert!(parse("{\"vulnerabilities\": 3}").is_err());
    }
}
