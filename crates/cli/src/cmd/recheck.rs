//! `mxray recheck`: re-runs every check over a stored scan's observations, with this version
//! of mxray's checks, signatures and advisories, and replaces that scan's findings.
//!
//! No packet is sent: checks are pure functions of the stored observations. Time-dependent
//! checks (certificate expiry) are judged as of the scan's own start, so a recheck a year
//! later does not call every certificate expired. The scan's findings, software rows, OS
//! guesses and advisory matches not yet alerted on are replaced in one transaction — the
//! scan keeps its id, so `diff`, `report --scan` and `export --scan` read the new verdicts;
//! an interrupted recheck changes nothing. The observations themselves are never touched.

use crate::args::CheckFormat;
use crate::cmd::report::open_for_writing;
use crate::software::SoftwareCx;
use mxray_core::checks::{self, Clock};
use mxray_store::Item;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Observations read per page: bounded memory on a survey-sized scan.
const PAGE: i64 = 500;

pub async fn run(scan: Option<i64>, db: PathBuf, format: CheckFormat) -> anyhow::Result<u8> {
    let store = open_for_writing(&db).await?;
    let info = store.scan(scan).await?;
    if info.status == "running" {
        anyhow::bail!(
            "scan {} is still running (or was killed); finish it with `mxray scan --resume` before rechecking",
            info.id
        );
    }
    let before = count_by_id(&store, info.id).await?;
    let software = SoftwareCx::load(&store, &info.params).await?;
    let clock = Clock {
        now: info.started_at,
    };
    let mut rw = store.begin_rewrite(info.id).await?;
    let (mut domains, mut hosts) = (0u64, 0u64);
    let mut after = String::new();
    loop {
        let page = store
            .domain_observations_after(info.id, &after, PAGE)
            .await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (domain, obs) in &page {
            // Excluded domains have no observation and never had findings.
            if let Some(obs) = obs {
                rw.findings(Some(domain), None, &checks::domain(obs))
                    .await?;
                domains += 1;
            }
        }
    }
    let mut after = String::new();
    loop {
        let page = store.hosts_after(info.id, &after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (ip, obs) in &page {
            let Some(obs) = obs else {
                anyhow::bail!(
                    "host {ip} of scan {} has an observation this version cannot read; nothing was changed",
                    info.id
                );
            };
            let mut findings = checks::host(obs, clock);
            let (item, more) = software.host(obs);
            findings.extend(more);
            rw.findings(None, Some(ip), &findings).await?;
            if let Item::Software { ip, fp, matches } = item {
                rw.software(&ip, &fp, &matches).await?;
            }
            hosts += 1;
        }
    }
    rw.commit().await?;
    let now = count_by_id(&store, info.id).await?;
    let changes: Vec<(String, i64, i64)> = before
        .keys()
        .chain(now.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|id| {
            (
                id.clone(),
                before.get(id).copied().unwrap_or(0),
                now.get(id).copied().unwrap_or(0),
            )
        })
        .filter(|(_, a, b)| a != b)
        .collect();
    match format {
        CheckFormat::Json => {
            let v = serde_json::json!({
                "scan": info.id, "domains": domains, "hosts": hosts,
                "findings_before": before.values().sum::<i64>(),
                "findings_after": now.values().sum::<i64>(),
                "changed": changes.iter().map(|(id, a, b)| serde_json::json!({"id": id, "before": a, "after": b})).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        CheckFormat::Text => {
            println!(
                "scan {}: rechecked {domains} domains and {hosts} hosts from stored observations (no packet sent); {} findings before, {} now",
                info.id,
                before.values().sum::<i64>(),
                now.values().sum::<i64>()
            );
            for (id, a, b) in &changes {
                println!("  {id:<36} {a:>7} → {b}");
            }
        }
    }
    store.close().await;
    Ok(0)
}

/// Findings of a scan counted by id.
async fn count_by_id(
    store: &mxray_store::Store,
    scan: i64,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for f in store.findings(scan).await? {
        *out.entry(f.finding.id).or_insert(0) += 1;
    }
    Ok(out)
}
