//! NVD CVE API 2.0 JSON (<https://nvd.nist.gov/developers/vulnerabilities>): the responses of
//! `/rest/json/cves/2.0` and the feeds NVD publishes in the same schema
//! (`nvd-json-2.0-feed` `nvdcve-2.0-2024.json.gz`, `…-modified.json.gz`):
//!
//! ```json
//! {"resultsPerPage": 1, "format": "NVD_CVE", "version": "2.0", "vulnerabilities": [
//!   {"cve": {"id": "CVE-…", "published": "…", "lastModified": "…", "vulnStatus": "Analyzed",
//!            "descriptions": [{"lang": "en", "value": "…"}],
//!            "metrics": {"cvssMetricV31": [{"type": "Primary", "cvssData": {"vectorString": "…",
//!                        "baseScore": 9.8}}], "cvssMetricV40": […], "cvssMetricV2": […]},
//!            "configurations": [{"nodes": [{"operator": "OR", "cpeMatch": [{"vulnerable": true,
//!                        "criteria": "cpe:2.3:a:isc:bind:*:*:*:*:*:*:*:*",
//!                        "versionStartIncluding": "9.18.0", "versionEndExcluding": "9.18.24"}]}]}],
//!            "references": [{"url": "…"}]}}]}
//! ```
//!
//! The file is read as a stream: one CVE at a time is deserialised and handed on, so a whole
//! year's feed (hundreds of megabytes) needs the memory of one record, not of the file.
//!
//! Each CVE becomes one [`Advisory`] per mxray product its vulnerable CPE match criteria name
//! (`crates/core/data/packages.toml` maps `vendor:product`); CVEs about nothing mxray fingerprints are
//! skipped, as are `Rejected` ones. Criteria with `"vulnerable": false` (the platform a
//! product runs on, in `AND` configurations) are ignored: a banner tells the product, and a
//! configuration's platform condition cannot be checked from it. Severity: the primary CVSS
//! v3.1 metric (else v3.0, v4.0, v2), scored from its vector ([`crate::cvss`]).

use super::{Advisory, AdvisoryError, packages};
use crate::Severity;
use crate::cvss::Cvss;
use crate::version::Range;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// One CVE record (`vulnerabilities[].cve`), the fields mxray reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cve {
    /// `CVE-2003-0694`.
    pub id: String,
    /// RFC 3339 without zone.
    #[serde(default)]
    pub published: Option<String>,
    /// RFC 3339 without zone.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// `Analyzed`, `Modified`, `Rejected`, …
    #[serde(default)]
    pub vuln_status: Option<String>,
    #[serde(default)]
    descriptions: Vec<Description>,
    #[serde(default)]
    metrics: Metrics,
    #[serde(default)]
    configurations: Vec<Configuration>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Debug, Deserialize)]
struct Description {
    lang: String,
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    #[serde(default)]
    cvss_metric_v40: Vec<Metric>,
    #[serde(default)]
    cvss_metric_v31: Vec<Metric>,
    #[serde(default)]
    cvss_metric_v30: Vec<Metric>,
    #[serde(default)]
    cvss_metric_v2: Vec<Metric>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    cvss_data: CvssData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CvssData {
    vector_string: String,
    #[serde(default)]
    base_score: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Configuration {
    #[serde(default)]
    nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    #[serde(default)]
    cpe_match: Vec<CpeMatch>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CpeMatch {
    vulnerable: bool,
    criteria: String,
    #[serde(default)]
    version_start_including: Option<String>,
    #[serde(default)]
    version_start_excluding: Option<String>,
    #[serde(default)]
    version_end_including: Option<String>,
    #[serde(default)]
    version_end_excluding: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    url: String,
}

#[derive(Deserialize)]
struct Item {
    cve: Cve,
}

/// Splits a CPE 2.3 formatted string into its 13 fields, honouring `\` quoting (a quoted
/// `:` does not split; the quotes are removed).
fn cpe_fields(cpe: &str) -> Option<Vec<String>> {
    let mut out = vec![String::new()];
    let mut chars = cpe.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.last_mut()?.push(chars.next()?),
            ':' => out.push(String::new()),
            c => out.last_mut()?.push(c),
        }
    }
    (out.len() == 13 && out[0] == "cpe" && out[1] == "2.3").then_some(out)
}

/// The primary metric of a list (NVD's own), else the first.
fn primary(list: &[Metric]) -> Option<&Metric> {
    list.iter()
        .find(|m| m.kind.as_deref() == Some("Primary"))
        .or_else(|| list.first())
}

impl Cve {
    /// The CVSS assessment severity is taken from: v3.1, v3.0, v4.0, v2, in that order.
    fn cvss(&self) -> Option<Cvss> {
        [
            &self.metrics.cvss_metric_v31,
            &self.metrics.cvss_metric_v30,
            &self.metrics.cvss_metric_v40,
            &self.metrics.cvss_metric_v2,
        ]
        .into_iter()
        .filter_map(|l| primary(l))
        .find_map(|m| Cvss::from_vector(&m.cvss_data.vector_string, m.cvss_data.base_score))
    }

    /// The advisories this CVE makes: one per mxray product named by a vulnerable criterion.
    pub fn advisories(&self) -> Vec<Advisory> {
        if self.vuln_status.as_deref() == Some("Rejected") {
            return Vec::new();
        }
        let mut per_product: Vec<(&'static str, Vec<Range>)> = Vec::new();
        for m in self
            .configurations
            .iter()
            .flat_map(|c| &c.nodes)
            .flat_map(|n| &n.cpe_match)
            .filter(|m| m.vulnerable)
        {
            let Some(f) = cpe_fields(&m.criteria) else {
                continue;
            };
            if f[2] != "a" {
                continue;
            }
            let Some(product) = packages::product_for_cpe(&f[3], &f[4]) else {
                continue;
            };
            let range = match f[5].as_str() {
                "*" | "-" | "" => Range {
                    introduced: m.version_start_including.clone(),
                    after: m.version_start_excluding.clone(),
                    fixed: m.version_end_excluding.clone(),
                    last_affected: m.version_end_including.clone(),
                },
                exact => {
                    // `8.12.9`, `9.2` + update `p1` → `9.2p1`.
                    let mut v = exact.to_owned();
                    if !matches!(f[6].as_str(), "*" | "-" | "") {
                        v.push_str(&f[6]);
                    }
                    Range {
                        introduced: Some(v.clone()),
                        last_affected: Some(v),
                        ..Range::default()
                    }
                }
            };
            // (`cpe:…:*` with no bounds at all: every version, an open range.)
            match per_product.iter_mut().find(|(p, _)| *p == product) {
                Some((_, ranges)) => {
                    if !ranges.contains(&range) {
                        ranges.push(range);
                    }
                }
                None => per_product.push((product, vec![range])),
            }
        }
        if per_product.is_empty() {
            return Vec::new();
        }
        let cvss = self.cvss();
        let summary = self
            .descriptions
            .iter()
            .find(|d| d.lang == "en")
            .or_else(|| self.descriptions.first())
            .map(|d| d.value.lines().next().unwrap_or("").to_owned())
            .unwrap_or_default();
        let mut references = vec![format!("https://nvd.nist.gov/vuln/detail/{}", self.id)];
        references.extend(self.references.iter().map(|r| r.url.clone()));
        per_product
            .into_iter()
            .map(|(product, affected)| Advisory {
                id: self.id.clone(),
                product: product.to_owned(),
                severity: cvss.as_ref().map_or(Severity::Medium, Cvss::severity),
                summary: summary.clone(),
                references: references.clone(),
                affected,
                cvss: cvss.clone(),
                published: self.published.clone(),
                modified: self.last_modified.clone(),
                ..Advisory::default()
            })
            .collect()
    }
}

/// What a streamed file held.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct StreamStats {
    /// CVE records read.
    pub cves: usize,
    /// Advisories made from them (CVEs about fingerprinted products).
    pub advisories: usize,
}

/// Reads an NVD CVE API 2.0 document from `reader`, one CVE at a time, calling `sink` with
/// the advisories of each batch of up to `batch` CVEs (and once more with the rest). Only the
/// current batch is held in memory.
pub fn stream<R: std::io::Read>(
    reader: R,
    batch: usize,
    sink: &mut dyn FnMut(Vec<Advisory>) -> Result<(), String>,
) -> Result<StreamStats, AdvisoryError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut state = State {
        sink,
        batch: batch.max(1),
        pending: Vec::new(),
        in_batch: 0,
        stats: StreamStats::default(),
        error: None,
        seen_vulnerabilities: false,
    };
    let res = Document(&mut state)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Some(e) = state.error.take() {
        return Err(AdvisoryError::Syntax(e));
    }
    res.map_err(|e| AdvisoryError::Syntax(format!("not an NVD CVE API 2.0 document: {e}")))?;
    if !state.seen_vulnerabilities {
        return Err(AdvisoryError::Syntax(
            "not an NVD CVE API 2.0 document: no \"vulnerabilities\" array".into(),
        ));
    }
    state.flush();
    if let Some(e) = state.error.take() {
        return Err(AdvisoryError::Syntax(e));
    }
    Ok(state.stats)
}

struct State<'a> {
    sink: &'a mut dyn FnMut(Vec<Advisory>) -> Result<(), String>,
    batch: usize,
    pending: Vec<Advisory>,
    in_batch: usize,
    stats: StreamStats,
    error: Option<String>,
    seen_vulnerabilities: bool,
}

impl State<'_> {
    fn take(&mut self, cve: &Cve) {
        let list = cve.advisories();
        self.stats.cves += 1;
        self.stats.advisories += list.len();
        self.pending.extend(list);
        self.in_batch += 1;
        if self.in_batch >= self.batch {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.in_batch = 0;
        if self.pending.is_empty() || self.error.is_some() {
            return;
        }
        let list = std::mem::take(&mut self.pending);
        if let Err(e) = (self.sink)(list) {
            self.error = Some(e);
        }
    }
}

/// The top-level object: every key skipped but `vulnerabilities`.
struct Document<'s, 'a>(&'s mut State<'a>);

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a \"vulnerabilities\" array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "vulnerabilities" {
                self.0.seen_vulnerabilities = true;
                map.next_value_seed(Vulnerabilities(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Vulnerabilities<'s, 'a>(&'s mut State<'a>);

impl<'de> DeserializeSeed<'de> for Vulnerabilities<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Vulnerabilities<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of {\"cve\": …}")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Item>()? {
            self.0.take(&item.cve);
            if self.0.error.is_some() {
                // The sink failed (a database error): stop reading.
                return Err(serde::de::Error::custom("import stopped"));
            }
        }
        Ok(())
    }
}

/// Whether a JSON text looks like an NVD CVE API document (a `vulnerabilities` array of
/// `cve` objects) rather than OSV or KEV, from its first bytes.
pub fn looks_like(head: &str) -> bool {
    head.contains("\"vulnerabilities\"")
        && (head.contains("\"cve\"") || head.contains("NVD_CVE") || head.contains("resultsPerPage"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader producing a large NVD document lazily and counting what was read.
    struct Lazy {
        next: usize,
        total: usize,
        buf: Vec<u8>,
        pos: usize,
        read: std::rc::Rc<std::cell::Cell<usize>>,
    }

    impl std::io::Read for Lazy {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
                if self.next == 0 {
                    self.buf
                        .extend_from_slice(b"{\"format\":\"NVD_CVE\",\"vulnerabilities\":[");
                }
                if self.next < self.total {
                    if self.next > 0 {
                        self.buf.push(b',');
                    }
                    self.buf.extend_from_slice(format!(
                        r#"{{"cve":{{"id":"CVE-2024-{n}","descriptions":[{{"lang":"en","value":"{pad}"}}],"configurations":[{{"nodes":[{{"cpeMatch":[{{"vulnerable":true,"criteria":"cpe:2.3:a:postfix:postfix:3.{n}:*:*:*:*:*:*:*"}}]}}]}}]}}}}"#,
                        n = self.next,
                        pad = "x".repeat(200)
                    ).as_bytes());
                } else if self.next == self.total {
                    self.buf.extend_from_slice(b"]}");
                } else {
                    return Ok(0);
                }
                self.next += 1;
            }
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            self.read.set(self.read.get() + n);
            Ok(n)
        }
    }

    /// The document is consumed as it is parsed: the first batch reaches the sink when only
    /// a small part of a 20,000-CVE file has been read, and every batch is bounded.
    #[test]
    fn a_large_feed_is_streamed_not_loaded() {
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let total = 20_000;
        let reader = Lazy {
            next: 0,
            total,
            buf: Vec::new(),
            pos: 0,
            read: read.clone(),
        };
        let (mut first_at, mut batches, mut largest, mut seen) = (None, 0, 0, 0);
        let stats = stream(reader, 100, &mut |list| {
            first_at.get_or_insert(read.get());
            batches += 1;
            largest = largest.max(list.len());
            seen += list.len();
            Ok(())
        })
        .expect("stream");
        assert_eq!(
            stats,
            StreamStats {
                cves: total,
                advisories: total
            }
        );
        assert_eq!((batches, largest, seen), (200, 100, total));
        let whole = read.get();
        let first = first_at.expect("a batch");
        assert!(whole > 5_000_000, "{whole}");
        assert!(
            first * 50 < whole,
            "first batch after {first} of {whole} bytes"
        );
    }

    #[test]
    fn cpe_fields_honour_quoting() {
        let f = cpe_fields("cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*").unwrap();
        assert_eq!(
            (f[3].as_str(), f[5].as_str(), f[6].as_str()),
            ("openbsd", "9.2", "p1")
        );
        let f = cpe_fields("cpe:2.3:a:x:y:1.0\\:beta:*:*:*:*:*:*:*").unwrap();
        assert_eq!(f[5], "1.0:beta");
        assert!(cpe_fields("cpe:/a:isc:bind:9.18.1").is_none());
        assert!(cpe_fields("cpe:2.3:a:x").is_none());
    }

    #[test]
    fn streaming_calls_the_sink_per_batch_and_stops_on_its_error() {
        let cve = |id: &str, product: &str| {
            format!(
                r#"{{"cve":{{"id":"{id}","configurations":[{{"nodes":[{{"operator":"OR","negate":false,"cpeMatch":[{{"vulnerable":true,"criteria":"cpe:2.3:a:{product}:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0","matchCriteriaId":"X"}}]}}]}}]}}}}"#
            )
        };
        let doc = format!(
            r#"{{"resultsPerPage":3,"startIndex":0,"totalResults":3,"format":"NVD_CVE","version":"2.0","timestamp":"2026-12-01T00:00:00.000","vulnerabilities":[{},{},{}],"extra":{{"nested":[1,2]}}}}"#,
            cve("CVE-1", "exim:exim"),
            cve("CVE-2", "unknown:thing"),
            cve("CVE-3", "postfix:postfix")
        );
        let mut batches: Vec<Vec<String>> = Vec::new();
        let stats = stream(doc.as_bytes(), 2, &mut |list| {
            batches.push(
                list.into_iter()
                    .map(|a| format!("{}/{}", a.id, a.product))
                    .collect(),
            );
            Ok(())
        })
        .expect("stream");
        assert_eq!(
            stats,
            StreamStats {
                cves: 3,
                advisories: 2
            }
        );
        assert_eq!(batches, [vec!["CVE-1/exim"], vec!["CVE-3/postfix"]]);
        let mut calls = 0;
        let err = stream(doc.as_bytes(), 1, &mut |_| {
            calls += 1;
            Err("disk full".into())
        })
        .unwrap_err();
        assert_eq!(calls, 1);
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(stream(&b"{\"id\":\"OSV-1\"}"[..], 1, &mut |_| Ok(())).is_err());
        assert!(stream(&b"{\"vulnerabilities\":[{\"cve\":"[..], 1, &mut |_| Ok(())).is_err());
    }
}
