//! Advisories and matching them against fingerprinted software.
//!
//! Four input formats: OSV JSON (<https://ossf.github.io/osv-schema/>, `ECOSYSTEM` and `SEMVER`
//! ranges; `GIT` ranges are skipped because a banner carries no commit), NVD's CVE API 2.0 JSON
//! ([`nvd`]: CPE match criteria), CISA's Known Exploited Vulnerabilities catalogue ([`kev`],
//! flags rather than advisories) and a small native TOML format for products neither covers:
//!
//! ```toml
//! [[advisory]]
//! id = "CVE-2023-50387"
//! product = "bind"              # a product key of crates/core/data/fingerprints.toml
//! severity = "high"
//! summary = "KeyTrap: ..."
//! url = "https://kb.isc.org/docs/cve-2023-50387"
//! affected = [{ introduced = "9.0.0", fixed = "9.16.48" }]
//! ```
//!
//! Distribution records (OSV ecosystems `Debian:12`, `Ubuntu:22.04:LTS`, …) are matched
//! exactly: a banner's distribution build becomes the package version
//! ([`packages::package_version`]: `9.18.19-1~deb12u1-Debian` → `bind9 1:9.18.19-1~deb12u1`),
//! compared with dpkg's ordering ([`crate::version::compare_dpkg`]): **affected** or
//! **fixed**. A version with a distribution build that cannot be mapped, or for which the
//! distribution published nothing about that CVE, inside an upstream affected range is only
//! *possibly* affected: distributions backport fixes without changing the upstream version.

use crate::Severity;
use crate::cvss::Cvss;
use crate::fingerprint::Software;
use crate::version::{Range, Scheme};
use packages::EcosystemKind;
use serde::{Deserialize, Serialize};

pub mod kev;
pub mod nvd;
pub mod packages;

/// The starter set shipped with mxray (`crates/core/data/advisories/*.toml`).
pub const BUILTIN: &[(&str, &str)] = &[
    ("bind.toml", include_str!("../data/advisories/bind.toml")),
    ("exim.toml", include_str!("../data/advisories/exim.toml")),
    (
        "sendmail.toml",
        include_str!("../data/advisories/sendmail.toml"),
    ),
    (
        "postfix.toml",
        include_str!("../data/advisories/postfix.toml"),
    ),
    (
        "dovecot.toml",
        include_str!("../data/advisories/dovecot.toml"),
    ),
    ("nginx.toml", include_str!("../data/advisories/nginx.toml")),
    (
        "apache.toml",
        include_str!("../data/advisories/apache.toml"),
    ),
    (
        "openssh.toml",
        include_str!("../data/advisories/openssh.toml"),
    ),
];

/// One advisory about one product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// `CVE-…`, `GHSA-…`, or the OSV id.
    pub id: String,
    /// Other ids for the same issue.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Product key.
    pub product: String,
    /// How bad.
    pub severity: Severity,
    /// One line.
    pub summary: String,
    /// Source URLs.
    #[serde(default)]
    pub references: Vec<String>,
    /// Affected version ranges (package versions when `ecosystem` is a distribution's).
    pub affected: Vec<Range>,
    /// OSV ecosystem of a distribution record (`Debian:12`, `Ubuntu:22.04:LTS`); `None` for
    /// upstream versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
    /// The distribution's source package (`bind9`), with `ecosystem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The CVSS assessment the severity comes from, when the source gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
    /// Publication date (RFC 3339 or `YYYY-MM-DD…` as the source wrote it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Last modification date, as the source wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

impl Default for Advisory {
    fn default() -> Self {
        Self {
            id: String::new(),
            aliases: Vec::new(),
            product: String::new(),
            severity: Severity::Medium,
            summary: String::new(),
            references: Vec::new(),
            affected: Vec::new(),
            ecosystem: None,
            package: None,
            cvss: None,
            published: None,
            modified: None,
        }
    }
}

impl Advisory {
    /// Whether the upstream `version` is in an affected range (an upstream record).
    pub fn affects(&self, version: &str) -> bool {
        self.affected.iter().any(|r| r.contains(version))
    }

    /// Whether a package version is in an affected range (a distribution record).
    pub fn affects_package(&self, version: &str) -> bool {
        self.affected
            .iter()
            .any(|r| r.contains_in(Scheme::Dpkg, version))
    }

    /// How the advisory is matched.
    pub fn kind(&self) -> EcosystemKind {
        packages::ecosystem_kind(self.ecosystem.as_deref())
    }

    /// The CVE ids it is about: its id and aliases that are CVE ids.
    pub fn cves(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str())
            .chain(self.aliases.iter().map(String::as_str))
            .filter(|x| x.starts_with("CVE-"))
    }

    /// Whether the two are about the same issue (same id, or an id or alias in common).
    fn same_issue(&self, other: &Advisory) -> bool {
        let mine: Vec<&str> = std::iter::once(self.id.as_str())
            .chain(self.aliases.iter().map(String::as_str))
            .collect();
        std::iter::once(other.id.as_str())
            .chain(other.aliases.iter().map(String::as_str))
            .any(|x| mine.contains(&x))
    }
}

/// Errors reading advisory files.
#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    /// Not valid TOML / JSON of the expected shape.
    #[error("{0}")]
    Syntax(String),
    /// An entry is unusable.
    #[error("advisory {id:?}: {reason}")]
    Entry {
        /// The id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeFile {
    advisory: Vec<NativeEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeEntry {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    product: String,
    severity: String,
    summary: String,
    url: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    affected: Vec<Range>,
}

/// Parses the native TOML format.
pub fn parse_native(text: &str) -> Result<Vec<Advisory>, AdvisoryError> {
    let f: NativeFile = toml::from_str(text).map_err(|e| AdvisoryError::Syntax(e.to_string()))?;
    let mut out = Vec::new();
    for e in f.advisory {
        let severity = e.severity.parse().map_err(|r| AdvisoryError::Entry {
            id: e.id.clone(),
            reason: r,
        })?;
        if e.affected.is_empty() {
            return Err(AdvisoryError::Entry {
                id: e.id,
                reason: "no affected ranges".into(),
            });
        }
        let mut references: Vec<String> = e.url.into_iter().collect();
        references.extend(e.urls);
        if references.is_empty() {
            return Err(AdvisoryError::Entry {
                id: e.id,
                reason: "no source url".into(),
            });
        }
        out.push(Advisory {
            id: e.id,
            aliases: e.aliases,
            product: e.product.to_ascii_lowercase(),
            severity,
            summary: e.summary,
            references,
            affected: e.affected,
            ..Advisory::default()
        });
    }
    Ok(out)
}

/// OSV package names → mxray product keys (`crates/core/data/packages.toml`'s Debian and Ubuntu names
/// first).
fn product_for_package(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    if let Some(p) = packages::product_for_package(&n) {
        return p.to_owned();
    }
    let n = n.rsplit('/').next().unwrap_or(&n).to_owned();
    match n.as_str() {
        "bind9" | "isc-bind" | "bind" => "bind".into(),
        "httpd" | "apache2" | "apache-httpd" | "apache http server" => "apache".into(),
        "openssh" | "openssh-server" | "openssh-portable" => "openssh".into(),
        "exim4" | "exim" => "exim".into(),
        "dovecot" | "dovecot-core" => "dovecot".into(),
        _ => n,
    }
}

#[derive(Deserialize)]
struct OsvDoc {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    affected: Vec<OsvAffected>,
    #[serde(default)]
    references: Vec<OsvRef>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
    /// Ids of the upstream issue (Debian's and Ubuntu's records name the CVE here).
    #[serde(default)]
    upstream: Vec<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    modified: Option<String>,
}

#[derive(Deserialize)]
struct OsvSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct OsvAffected {
    package: Option<OsvPackage>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
    #[serde(default)]
    ranges: Vec<OsvRange>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OsvPackage {
    name: String,
    #[serde(default)]
    ecosystem: Option<String>,
}

#[derive(Deserialize)]
struct OsvRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct OsvRef {
    url: String,
}

/// The best CVSS assessment of an OSV `severity` list (v3.1 > v3.0 > v4.0 > v2).
fn osv_cvss(list: &[OsvSeverity]) -> Option<Cvss> {
    list.iter()
        .filter(|s| s.kind.starts_with("CVSS_V"))
        .filter_map(|s| Cvss::from_vector(&s.score, None))
        .max_by_key(Cvss::rank)
}

/// A word severity of an OSV `severity` list (Ubuntu's records: `{"type": "Ubuntu", "score":
/// "medium"}`).
fn osv_word_severity(list: &[OsvSeverity]) -> Option<Severity> {
    list.iter()
        .filter(|s| !s.kind.starts_with("CVSS_V"))
        .find_map(|s| word_severity(&s.score))
}

fn word_severity(s: &str) -> Option<Severity> {
    match s.to_ascii_lowercase().as_str() {
        "moderate" => Some(Severity::Medium),
        "negligible" | "unimportant" => Some(Severity::Info),
        "important" => Some(Severity::High),
        other => other.parse().ok(),
    }
}

fn osv_severity(v: Option<&serde_json::Value>) -> Option<Severity> {
    let s = v?.get("severity")?.as_str()?;
    match s.to_ascii_lowercase().as_str() {
        "moderate" => Some(Severity::Medium),
        other => other.parse().ok(),
    }
}

/// Parses one OSV JSON document (or an array of them). One advisory per affected package.
pub fn parse_osv(text: &str) -> Result<Vec<Advisory>, AdvisoryError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| AdvisoryError::Syntax(e.to_string()))?;
    let docs: Vec<OsvDoc> = match v {
        serde_json::Value::Array(a) => a
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>(),
        other => serde_json::from_value(other).map(|d| vec![d]),
    }
    .map_err(|e| AdvisoryError::Syntax(format!("not an OSV document: {e}")))?;
    let mut out = Vec::new();
    for d in docs {
        let summary = d
            .summary
            .clone()
            .or_else(|| {
                d.details
                    .as_ref()
                    .map(|t| t.lines().next().unwrap_or("").to_owned())
            })
            .unwrap_or_default();
        let mut aliases = d.aliases.clone();
        for u in &d.upstream {
            if *u != d.id && !aliases.contains(u) {
                aliases.push(u.clone());
            }
        }
        for a in &d.affected {
            let Some(pkg) = &a.package else { continue };
            let mut ranges = Vec::new();
            for r in a.ranges.iter().filter(|r| r.kind != "GIT") {
                // Events in order: introduced opens a range, fixed / last_affected closes it.
                let mut cur: Option<Range> = None;
                for e in &r.events {
                    let val = |k: &str| e.get(k).and_then(|x| x.as_str()).map(str::to_owned);
                    if let Some(i) = val("introduced") {
                        if let Some(open) = cur.take() {
                            ranges.push(open);
                        }
                        cur = Some(Range {
                            introduced: Some(i),
                            ..Range::default()
                        });
                    } else if let Some(f) = val("fixed") {
                        let mut r = cur.take().unwrap_or_default();
                        r.fixed = Some(f);
                        ranges.push(r);
                    } else if let Some(l) = val("last_affected") {
                        let mut r = cur.take().unwrap_or_default();
                        r.last_affected = Some(l);
                        ranges.push(r);
                    }
                }
                if let Some(open) = cur {
                    ranges.push(open);
                }
            }
            for v in &a.versions {
                ranges.push(Range {
                    introduced: Some(v.clone()),
                    last_affected: Some(v.clone()),
                    ..Range::default()
                });
            }
            if ranges.is_empty() {
                continue;
            }
            // Severity: the CVSS vector (scored here), else the words the record uses.
            let cvss = osv_cvss(&a.severity).or_else(|| osv_cvss(&d.severity));
            let severity = cvss
                .as_ref()
                .map(Cvss::severity)
                .or_else(|| osv_word_severity(&a.severity))
                .or_else(|| osv_word_severity(&d.severity))
                .or_else(|| osv_severity(a.database_specific.as_ref()))
                .or_else(|| osv_severity(d.database_specific.as_ref()))
                .unwrap_or(Severity::Medium);
            let ecosystem = pkg.ecosystem.clone().filter(|e| !e.is_empty());
            let distribution = !matches!(
                packages::ecosystem_kind(ecosystem.as_deref()),
                EcosystemKind::Upstream
            );
            out.push(Advisory {
                id: d.id.clone(),
                aliases: aliases.clone(),
                product: product_for_package(&pkg.name),
                severity,
                summary: summary.clone(),
                references: d.references.iter().map(|r| r.url.clone()).collect(),
                affected: ranges,
                package: distribution.then(|| pkg.name.clone()),
                ecosystem: if distribution { ecosystem } else { None },
                cvss,
                published: d.published.clone(),
                modified: d.modified.clone(),
            });
        }
    }
    Ok(out)
}

/// What kind of advisory data a text holds, from its first bytes.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Format {
    /// mxray's TOML.
    Native,
    /// OSV JSON (one document or an array).
    Osv,
    /// NVD CVE API 2.0 JSON.
    Nvd,
    /// CISA's KEV catalogue.
    Kev,
}

/// Tells the format from the first few kilobytes of a file.
pub fn sniff(head: &str) -> Format {
    let t = head.trim_start();
    if !t.starts_with(['{', '[']) || t.starts_with("[[") {
        Format::Native
    } else if kev::looks_like(head) {
        Format::Kev
    } else if nvd::looks_like(head) {
        Format::Nvd
    } else {
        Format::Osv
    }
}

/// Parses a file by its content: TOML, OSV or NVD (the whole text in memory; the CLI streams
/// NVD files with [`nvd::stream`] instead). A KEV catalogue holds no advisories: an error.
pub fn parse_any(text: &str) -> Result<Vec<Advisory>, AdvisoryError> {
    let mut end = text.len().min(4096);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match sniff(&text[..end]) {
        Format::Native => parse_native(text),
        Format::Osv => parse_osv(text),
        Format::Nvd => {
            let mut out = Vec::new();
            nvd::stream(text.as_bytes(), 1000, &mut |list| {
                out.extend(list);
                Ok(())
            })?;
            Ok(out)
        }
        Format::Kev => Err(AdvisoryError::Syntax(
            "a Known Exploited Vulnerabilities catalogue holds flags, not advisories".into(),
        )),
    }
}

/// The shipped starter set.
pub fn builtin() -> Vec<Advisory> {
    BUILTIN
        .iter()
        .flat_map(|(name, text)| {
            // Checked by the tests below; a broken shipped file is a build defect.
            parse_native(text).unwrap_or_else(|e| panic!("crates/core/data/advisories/{name}: {e}"))
        })
        .collect()
}

/// How sure a match is.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchStatus {
    /// In an affected range: the upstream version with no distribution build seen, or the
    /// distribution's package version in the distribution's own record.
    Affected,
    /// In an upstream range, but a distribution build that could not be compared with the
    /// distribution's records: the fix may have been backported.
    PossiblyAffected,
    /// The distribution's record says this package version carries the fix, although the
    /// upstream version alone looks affected (a backport).
    Fixed,
}

impl MatchStatus {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Affected => "affected",
            Self::PossiblyAffected => "possibly-affected",
            Self::Fixed => "fixed",
        }
    }

    /// Reads [`Self::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "affected" => Some(Self::Affected),
            "possibly-affected" => Some(Self::PossiblyAffected),
            "fixed" => Some(Self::Fixed),
            _ => None,
        }
    }

    /// Words for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Affected => "affected",
            Self::PossiblyAffected => "possibly affected (distribution build)",
            Self::Fixed => "fixed (distribution backport)",
        }
    }
}

/// One advisory applying to one piece of software.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// The advisory id.
    pub advisory: String,
    /// Its severity.
    pub severity: Severity,
    /// Product key.
    pub product: String,
    /// The version seen.
    pub version: String,
    /// The build seen.
    pub build: Option<String>,
    /// The port.
    pub port: u16,
    /// How sure.
    pub status: MatchStatus,
    /// The distribution package the build was mapped to, when the status comes from the
    /// distribution's record (`Debian:12 bind9 1:9.18.19-1~deb12u1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The advisory's CVE is in CISA's Known Exploited Vulnerabilities catalogue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub known_exploited: bool,
}

/// Distributions that backport security fixes into their packages without changing the
/// upstream version.
const BACKPORTING: &[&str] = &[
    "Debian",
    "Ubuntu",
    "Red Hat Enterprise Linux",
    "CentOS",
    "Fedora",
];

/// Whether the software is (likely) a distribution's package: its text carries a
/// distribution build (`Debian-2+deb12u3`), or names a backporting distribution next to the
/// product (`Dovecot (Debian) ready.` with the version from IMAP ID). Then a version in an
/// affected range may have the fix backported.
fn distribution_package(sw: &Software) -> bool {
    sw.build.is_some()
        || sw
            .os_hint
            .as_deref()
            .and_then(crate::fingerprint::normalise_os)
            .is_some_and(|os| BACKPORTING.contains(&os.as_str()))
}

/// Whether a distribution record applies to a package version: same distribution, same
/// release (a record naming none applies to every release), Ubuntu Pro records only to
/// `+esm` builds, and the same source package.
fn record_applies(a: &Advisory, pv: &packages::PackageVersion) -> bool {
    let EcosystemKind::Dpkg {
        distro,
        release,
        pro,
    } = a.kind()
    else {
        return false;
    };
    distro == pv.distro
        && release.as_ref().is_none_or(|r| *r == pv.release)
        && pro == pv.pro
        && a.package
            .as_deref()
            .map_or(a.product == pv.package, |p| p == pv.package)
}

/// The upstream part of a Debian package version: `1:9.18.19-1~deb12u1` → `9.18.19`.
fn dpkg_upstream(v: &str) -> &str {
    let v = v.split_once(':').map_or(v, |(_, rest)| rest);
    v.rsplit_once('-').map_or(v, |(up, _)| up)
}

/// Every advisory that applies to the software found on a host (no OS guess known).
pub fn matches(advisories: &[Advisory], software: &[Software]) -> Vec<Match> {
    matches_on(advisories, software, None)
}

/// Every advisory that applies to the software found on a host whose OS guess is `os`
/// (`Debian 12`: tells the release when a build does not).
///
/// - A distribution record (`Debian:12`) for the package the build maps to decides alone:
///   **affected** when the package version is in its range; **fixed** when it is not but the
///   upstream version looks affected (an upstream record says so, or the fix was backported
///   into a build of this very upstream version); nothing otherwise.
/// - An upstream record whose issue no such distribution record covers: **affected** without
///   a distribution build, **possibly affected** with one.
/// - Records of other distributions (AlmaLinux, …) are never matched.
pub fn matches_on(advisories: &[Advisory], software: &[Software], os: Option<&str>) -> Vec<Match> {
    let mut out: Vec<Match> = Vec::new();
    for sw in software {
        let Some(v) = &sw.version else { continue };
        let pv = packages::package_version(sw, os);
        let upstream_hits: Vec<&Advisory> = advisories
            .iter()
            .filter(|a| {
                a.product == sw.product && a.kind() == EcosystemKind::Upstream && a.affects(v)
            })
            .collect();
        let records: Vec<&Advisory> = pv.as_ref().map_or_else(Vec::new, |pv| {
            advisories
                .iter()
                .filter(|a| record_applies(a, pv))
                .collect()
        });
        let push = |out: &mut Vec<Match>, a: &Advisory, status, package: Option<String>| {
            if out
                .iter()
                .any(|m| m.advisory == a.id && m.port == sw.port && m.product == sw.product)
            {
                return;
            }
            out.push(Match {
                advisory: a.id.clone(),
                severity: a.severity,
                product: sw.product.clone(),
                version: v.clone(),
                build: sw.build.clone(),
                port: sw.port,
                status,
                package,
                known_exploited: false,
            });
        };
        if let Some(pv) = &pv {
            for a in &records {
                let status = if a.affects_package(&pv.version) {
                    MatchStatus::Affected
                } else {
                    let backported = a.affected.iter().any(|r| {
                        r.fixed
                            .as_deref()
                            .is_some_and(|f| crate::version::compare(dpkg_upstream(f), v).is_eq())
                    });
                    if !backported && !upstream_hits.iter().any(|u| u.same_issue(a)) {
                        continue;
                    }
                    MatchStatus::Fixed
                };
                push(&mut out, a, status, Some(pv.describe()));
            }
        }
        for a in &upstream_hits {
            if records.iter().any(|r| r.same_issue(a)) {
                continue;
            }
            let status = if distribution_package(sw) {
                MatchStatus::PossiblyAffected
            } else {
                MatchStatus::Affected
            };
            push(&mut out, a, status, None);
        }
    }
    out
}

/// Advisories grouped by product key, so that matching a host looks only at its products'
/// advisories (a full OSV or NVD import holds tens of thousands).
#[derive(Debug, Default)]
pub struct ByProduct(std::collections::HashMap<String, Vec<Advisory>>);

impl ByProduct {
    /// Groups a list.
    pub fn new(advisories: &[Advisory]) -> Self {
        let mut map: std::collections::HashMap<String, Vec<Advisory>> =
            std::collections::HashMap::new();
        for a in advisories {
            map.entry(a.product.clone()).or_default().push(a.clone());
        }
        Self(map)
    }

    /// [`matches_on`], product by product.
    pub fn matches_on(&self, software: &[Software], os: Option<&str>) -> Vec<Match> {
        software
            .iter()
            .flat_map(|sw| {
                self.0.get(&sw.product).map_or_else(Vec::new, |list| {
                    matches_on(list, std::slice::from_ref(sw), os)
                })
            })
            .collect()
    }

    /// The advisories of one product.
    pub fn of(&self, product: &str) -> &[Advisory] {
        self.0.get(product).map_or(&[], Vec::as_slice)
    }
}

/// Marks the matches whose advisory (by id or CVE alias) is in the set of known exploited
/// CVE ids.
pub fn flag_known_exploited(
    matches: &mut [Match],
    advisories: &[Advisory],
    known: &std::collections::HashSet<String>,
) {
    for m in matches {
        m.known_exploited = known.contains(&m.advisory)
            || advisories
                .iter()
                .filter(|a| a.id == m.advisory)
                .any(|a| a.cves().any(|c| known.contains(c)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Evidence, Signatures, Source};

    fn sw(source: Source, text: &str) -> Software {
        Signatures::builtin()
            .identify(&Evidence {
                source,
                port: 53,
                text: text.into(),
            })
            .expect("identified")
    }

    #[test]
    fn a_product_naming_a_backporting_distribution_is_only_possibly_affected() {
        let adv = builtin();
        let mut dovecot = Software {
            product: "dovecot".into(),
            name: "Dovecot".into(),
            version: Some("2.3.19.1".into()),
            build: None,
            os_hint: None,
            source: Source::ImapGreeting,
            port: 143,
            evidence: "name \"Dovecot\" version \"2.3.19.1\"".into(),
        };
        let status = |sw: &Software| {
            matches(&adv, std::slice::from_ref(sw))
                .first()
                .map(|m| m.status)
        };
        assert_eq!(status(&dovecot), Some(MatchStatus::Affected));
        dovecot.os_hint = Some("Debian".into());
        assert_eq!(status(&dovecot), Some(MatchStatus::PossiblyAffected));
        // An OS that does not backport into its packages leaves it affected.
        dovecot.os_hint = Some("Windows".into());
        assert_eq!(status(&dovecot), Some(MatchStatus::Affected));
    }

    #[test]
    fn starter_set_is_valid_and_covers_the_products() {
        let all = builtin();
        for p in [
            "bind", "exim", "sendmail", "postfix", "dovecot", "nginx", "apache", "openssh",
        ] {
            assert!(all.iter().any(|a| a.product == p), "no advisory for {p}");
        }
        for a in &all {
            assert!(
                a.references.iter().all(|u| u.starts_with("https://")),
                "{}",
                a.id
            );
        }
        for id in [
            "CVE-2023-50387",
            "CVE-2023-50868",
            "CVE-2023-4408",
            "CVE-2023-5517",
            "CVE-2023-5679",
            "CVE-2023-6516",
            "CVE-2024-6387",
        ] {
            assert!(all.iter().any(|a| a.id == id), "{id} missing");
        }
    }

    #[test]
    fn bind_2024_set_matches_by_branch() {
        let all = builtin();
        let ids = |text: &str| -> Vec<String> {
            let mut v: Vec<String> = matches(&all, &[sw(Source::DnsVersion, text)])
                .into_iter()
                .filter(|m| m.advisory == "CVE-2023-50387")
                .map(|m| m.status.as_str().to_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(ids("9.18.23"), ["affected"]);
        assert_eq!(ids("9.18.24"), Vec::<String>::new());
        assert_eq!(ids("9.16.47"), ["affected"]);
        assert_eq!(ids("9.16.48"), Vec::<String>::new());
        assert_eq!(ids("9.18.19-1~deb12u1-Debian"), ["possibly-affected"]);
    }

    #[test]
    fn regresshion_and_backports() {
        let all = builtin();
        let m = |t: &str| {
            matches(&all, &[sw(Source::SshIdent, t)])
                .into_iter()
                .find(|m| m.advisory == "CVE-2024-6387")
                .map(|m| m.status)
        };
        assert_eq!(m("SSH-2.0-OpenSSH_9.7p1"), Some(MatchStatus::Affected));
        assert_eq!(m("SSH-2.0-OpenSSH_8.5p1"), Some(MatchStatus::Affected));
        assert_eq!(m("SSH-2.0-OpenSSH_8.4p1"), None);
        assert_eq!(m("SSH-2.0-OpenSSH_4.3p2"), Some(MatchStatus::Affected));
        assert_eq!(m("SSH-2.0-OpenSSH_9.8p1"), None);
        assert_eq!(
            m("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
            Some(MatchStatus::PossiblyAffected)
        );
        // No version, no match.
        assert!(matches(&all, &[sw(Source::HttpServer, "nginx")]).is_empty());
    }

    /// Issue 19: a 9.8 given only as a CVSS vector became "medium" (the default).
    #[test]
    fn osv_severity_comes_from_cvss_v3_and_v4_vectors() {
        let doc = |severity: &str| {
            format!(
                r#"{{"id":"OSV-TEST-9","summary":"t","severity":[{severity}],
                "affected":[{{"package":{{"ecosystem":"Debian","name":"exim4"}},
                  "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"4.96"}}]}}]}}],
                "references":[{{"type":"ADVISORY","url":"https://example.org/a"}}]}}"#
            )
        };
        for (severity, want) in [
            (
                r#"{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}"#,
                Severity::Critical,
            ),
            (
                r#"{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}"#,
                Severity::Low,
            ),
            (
                r#"{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}"#,
                Severity::Critical,
            ),
        ] {
            let a = parse_any(&doc(severity)).expect("osv");
            assert_eq!(a[0].severity, want, "{severity}");
            assert!(a[0].cvss.is_some(), "{severity}");
        }
    }

    #[test]
    fn osv_documents() {
        let doc = r#"{"id":"OSV-TEST-1","aliases":["CVE-2099-0001"],"summary":"test",
          "affected":[{"package":{"ecosystem":"OSS-Fuzz","name":"exim4"},
             "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"4.90"},{"fixed":"4.96.1"},{"introduced":"4.97"},{"last_affected":"4.97.1"}]},
                       {"type":"GIT","events":[{"introduced":"abc"}]}],
             "database_specific":{"severity":"HIGH"}}],
          "references":[{"type":"ADVISORY","url":"https://example.org/a"}]}"#;
        let a = parse_any(doc).expect("osv");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].product, "exim");
        assert_eq!(a[0].severity, Severity::High);
        assert_eq!(a[0].affected.len(), 2);
        for (v, hit) in [
            ("4.89", false),
            ("4.90", true),
            ("4.96", true),
            ("4.96.1", false),
            ("4.97.1", true),
            ("4.98", false),
        ] {
            assert_eq!(a[0].affects(v), hit, "{v}");
        }
        let arr = format!("[{doc},{doc}]");
        assert_eq!(parse_any(&arr).expect("array").len(), 2);
        assert!(parse_any("{\"no\": 1}").is_err());
    }

    #[test]
    fn native_errors_name_the_entry() {
        let e = parse_native("[[advisory]]\nid='X-1'\nproduct='p'\nseverity='awful'\nsummary='s'\nurl='https://x'\naffected=[{fixed='1'}]\n").unwrap_err();
        assert!(e.to_string().contains("X-1"), "{e}");
        let e = parse_native("[[advisory]]\nid='X-2'\nproduct='p'\nseverity='low'\nsummary='s'\naffected=[{fixed='1'}]\n").unwrap_err();
        assert!(e.to_string().contains("url"), "{e}");
    }
}
