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
    advisories: Vec<Advisory>,
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

/// Adds the shipped advisories to the database (never overwriting imported ones) and returns
/// every stored advisory.
pub async fn advisories(store: &Store) -> anyhow::Result<Vec<Advisory>> {
    store
        .import_advisories(&advisory::builtin(), "builtin")
        .await?;
    Ok(store.advisories().await?)
}

impl SoftwareCx {
    /// Loads signatures and advisories. `params` are the scan's recorded options (the
    /// signature file is one of them).
    pub async fn load(store: &Store, params: &serde_json::Value) -> anyhow::Result<Self> {
        let path = params
            .get("signatures")
            .and_then(|v| v.as_str())
            .map(Path::new);
        Ok(Self {
            sigs: signatures(path)?,
            advisories: advisories(store).await?,
        })
    }

    /// The host's fingerprint as a store item, and its software findings.
    pub fn host(&self, obs: &HostObservation) -> (Item, Vec<Finding>) {
        let fp = self.sigs.fingerprint(&fingerprint::evidence(obs));
        let findings = software::check(obs.ip, &fp, &self.advisories);
        let matches = advisory::matches(&self.advisories, &fp.software);
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
