//! Wiring for fingerprints and advisories during a scan: the signatures (built in, or
//! `--signatures FILE`) and the advisories in the database (the shipped starter set is added
//! on first use).

use anyhow::Context;
use mxray_core::advisory::{self, Advisory};
use mxray_core::checks::software;
use mxray_core::finding::Finding;
use mxray_core::fingerprint::{self, Signatures};
use mxray_core::model::HostObservation;
use mxray_store::{Item, Store};
use std::path::Path;

/// What a scan needs to fingerprint hosts and match advisories.
#[derive(Debug)]
pub struct SoftwareCx {
    sigs: Signatures,
    grouped: advisory::ByProduct,
    known_exploited: std::collections::HashSet<String>,
}

/// Loads a signature file, or the built-in one.
pub fn signatures(path: Option<&Path>) -> anyhow::Result<Signatures> {
    match path {
        None => Ok(Signatures::builtin()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read signature file {}", p.display()))?;
            Signatures::parse(&text).with_context(|| format!("signature file {}", p.display()))
        }
    }
}

/// Matches every stored advisory against every stored scan's software (with each host's
/// stored OS guess, which tells a distribution build's release); returns the number of
/// matches stored for the first time. Matches that no longer hold (a distribution's record
/// now settles an upstream one) are removed; the others keep their `alerts` state.
pub async fn rematch(store: &Store, advisories: &[Advisory]) -> anyhow::Result<usize> {
    let grouped = advisory::ByProduct::new(advisories);
    let mut added = 0;
    for scan in store.scans().await? {
        let mut hosts: Vec<(std::net::IpAddr, Vec<mxray_core::fingerprint::Software>)> = Vec::new();
        for (ip, sw) in store.software(scan.id).await? {
            match hosts.last_mut() {
                Some((last, list)) if *last == ip => list.push(sw),
                _ => hosts.push((ip, vec![sw])),
            }
        }
        let os: std::collections::HashMap<String, String> = store
            .host_os(scan.id)
            .await?
            .into_iter()
            .map(|(ip, name, _, _)| (ip, name))
            .collect();
        let found: Vec<_> = hosts
            .into_iter()
            .map(|(ip, sw)| {
                let guess = os.get(&ip.to_string()).map(String::as_str);
                (ip, grouped.matches_on(&sw, guess))
            })
            .collect();
        added += store.replace_matches(scan.id, &found).await?;
    }
    Ok(added)
}

/// Stored advisories; when this version of mxray ships advisories the database did not
/// have yet, they are added and matched against the stored scans first.
pub async fn advisories(store: &Store) -> anyhow::Result<Vec<Advisory>> {
    ensure_builtin(store).await?;
    Ok(store.advisories().await?)
}

/// Adds the shipped advisories the database does not have yet, and matches them against the
/// stored scans.
pub async fn ensure_builtin(store: &Store) -> anyhow::Result<()> {
    let new = store
        .import_advisories(&advisory::builtin(), "builtin")
        .await?;
    if new > 0 {
        let all = store.advisories().await?;
        rematch(store, &all).await?;
    }
    Ok(())
}

impl SoftwareCx {
    /// Loads signatures and advisories. `params` are the scan's recorded options (the
    /// signature file is one of them).
    pub async fn load(store: &Store, params: &serde_json::Value) -> anyhow::Result<Self> {
        let path = params
            .get("signatures")
            .and_then(|v| v.as_str())
            .map(Path::new);
        let advisories = advisories(store).await?;
        Ok(Self {
            sigs: signatures(path)?,
            grouped: advisory::ByProduct::new(&advisories),
            known_exploited: store.known_exploited().await?,
        })
    }

    /// The host's fingerprint as a store item, and its software findings.
    pub fn host(&self, obs: &HostObservation) -> (Item, Vec<Finding>) {
        let fp = self.sigs.fingerprint(&fingerprint::evidence(obs));
        // Only the advisories of the host's products (a full feed import holds thousands).
        let mine: Vec<Advisory> = {
            let mut products: Vec<&str> = fp.software.iter().map(|s| s.product.as_str()).collect();
            products.sort_unstable();
            products.dedup();
            products
                .iter()
                .flat_map(|p| self.grouped.of(p).iter().cloned())
                .collect()
        };
        let findings = software::check_with(obs.ip, &fp, &mine, &self.known_exploited);
        let mut matches = self
            .grouped
            .matches_on(&fp.software, fp.os.as_ref().map(|o| o.name.as_str()));
        advisory::flag_known_exploited(&mut matches, &mine, &self.known_exploited);
        (
            Item::Software {
                ip: obs.ip,
                fp,
                matches,
            },
            findings,
        )
    }
}

/// A host's fingerprint as it appears in `check --format json` and on the export's host
/// lines: `{os, software, unknown_banners, advisories}` (server text verbatim: JSON escapes
/// it; terminals and CSV neutralise it where they print it).
pub fn host_json(
    fp: &fingerprint::HostFingerprint,
    matches: &[advisory::Match],
) -> serde_json::Value {
    use mxray_core::advisory::packages;
    let software: Vec<serde_json::Value> = fp
        .software
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["cpe"] = packages::software_cpe(s).into();
            v
        })
        .collect();
    let os = fp.os.as_ref().map(|o| {
        let mut v = serde_json::to_value(o).unwrap_or_default();
        v["cpe"] = packages::os_cpe(&o.name).into();
        v
    });
    serde_json::json!({
        "os": os,
        "software": software,
        "unknown_banners": fp.unknown,
        "advisories": matches,
    })
}

/// `Postfix 3.7.11 (Debian-1)`: display name, version and build of one product.
pub fn shown(s: &fingerprint::Software) -> String {
    let mut out = s.name.clone();
    match &s.version {
        Some(v) => {
            out.push(' ');
            out.push_str(v);
        }
        None => out.push_str(" (version not disclosed)"),
    }
    if let Some(b) = &s.build {
        out.push_str(&format!(" ({b})"));
    }
    out
}
