//! `--dnsbl`, `--no-dnsbl` and `--asn-db`, validated into the engine's reputation settings.

use crate::args::ScanArgs;
use anyhow::Context;
use mxray_core::reputation::DnsblSet;
use mxray_scan::reputation::{AsnDb, Reputation};

/// The lists to ask (built-in, replaced by `--dnsbl`, none with `--no-dnsbl`) and the ASN
/// database.
pub fn from_args(args: &ScanArgs) -> anyhow::Result<Reputation> {
    let set = lists(args)?;
    let asn = match &args.asn_db {
        None => None,
        Some(p) => Some(AsnDb::open(p).map_err(|e| {
            anyhow::anyhow!(
                "--asn-db {}: not a readable MaxMind DB file ({e})",
                p.display()
            )
        })?),
    };
    Ok(Reputation::new(set, asn))
}

fn lists(args: &ScanArgs) -> anyhow::Result<Option<DnsblSet>> {
    if args.no_dnsbl {
        return Ok(None);
    }
    let mut set = match &args.dnsbl {
        Some(v) => {
            DnsblSet::from_arg(v).context("see crates/core/data/dnsbl.toml for the list ids")?
        }
        None => DnsblSet::builtin().clone(),
    };
    if let Some(rate) = args.dnsbl_rate {
        for l in &mut set.lists {
            l.rate = rate;
        }
    }
    Ok(Some(set))
}

/// The zones asked, as recorded with the scan.
pub fn record(args: &ScanArgs) -> serde_json::Value {
    match lists(args) {
        Ok(Some(set)) => set
            .lists
            .iter()
            .map(|l| format!("{}={}", l.zone, l.id))
            .collect::<Vec<_>>()
            .into(),
        _ => serde_json::Value::Array(Vec::new()),
    }
}
