//! `mxray diff OLD NEW`: what regressed, what was fixed, and what could not be compared.
//!
//! A finding in one scan only is "new" or "resolved" only when the other scan ran the check
//! behind it on the same subject (`mxray_core::coverage`); otherwise it is "not compared" —
//! a scan with `--no-relay-test` fixes no open relay. The two ids are put in time order (and
//! the swap is said), and the options that differ between the scans are shown first.

use crate::args::CheckFormat;
use crate::cmd::report::{domain_findings, open};
use mxray_core::coverage::{Coverage, coverage};
use mxray_core::finding::{Finding, Subject};
use mxray_core::model::{DomainObservation, HostObservation};
use mxray_core::sanitize::for_terminal as clean;
use mxray_store::{ScanId, ScanInfo, Store};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// What one scan observed, to decide whether a finding's check ran there.
struct Observed {
    domains: HashMap<String, DomainObservation>,
    hosts: HashMap<IpAddr, HostObservation>,
}

impl Observed {
    async fn load(store: &Store, scan: ScanId) -> anyhow::Result<Self> {
        let domains = store
            .domain_observations(scan)
            .await?
            .into_iter()
            .filter_map(|(d, _, obs)| obs.map(|o| (d, o)))
            .collect();
        let hosts = store
            .hosts(scan)
            .await?
            .into_iter()
            .map(|h| (h.ip, h))
            .collect();
        Ok(Self { domains, hosts })
    }

    fn ran(&self, domain: &str, f: &Finding) -> Coverage {
        let ip = match &f.subject {
            Subject::Domain(_) => None,
            Subject::Host(name) => name.parse::<IpAddr>().ok(),
            Subject::Service(name) => name.parse::<SocketAddr>().ok().map(|s| s.ip()),
        };
        // Host findings are read per domain too: whether the domain still used the host.
        coverage(
            &f.id,
            &f.subject,
            self.domains.get(domain),
            ip.and_then(|ip| self.hosts.get(&ip)),
        )
    }
}

/// Options that differ between two scans' stored parameters: `(option, old, new)`.
fn differing_options(
    a: &serde_json::Value,
    b: &serde_json::Value,
) -> Vec<(String, String, String)> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let show =
        |v: Option<&serde_json::Value>| v.map_or_else(|| "(unset)".to_owned(), |v| v.to_string());
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k.clone(), show(a.get(k)), show(b.get(k))))
        .collect()
}

/// Puts two scans in time order; `true` when the ids were given the other way round.
fn in_time_order(a: ScanInfo, b: ScanInfo) -> (ScanInfo, ScanInfo, bool) {
    if (a.started_at, a.id) > (b.started_at, b.id) {
        (b, a, true)
    } else {
        (a, b, false)
    }
}

pub async fn run(
    old: i64,
    new: i64,
    db: PathBuf,
    format: CheckFormat,
    all: bool,
) -> anyhow::Result<u8> {
    let store = open(&db).await?;
    let (a_info, b_info, swapped) =
        in_time_order(store.scan(Some(old)).await?, store.scan(Some(new)).await?);
    let (old, new) = (a_info.id, b_info.id);
    let options = differing_options(&a_info.params, &b_info.params);
    let a: BTreeMap<_, _> = domain_findings(&store, old).await?.0.into_iter().collect();
    let b: BTreeMap<_, _> = domain_findings(&store, new).await?.0.into_iter().collect();
    let (seen_a, seen_b) = (
        Observed::load(&store, old).await?,
        Observed::load(&store, new).await?,
    );
    let diffs = mxray_report::diff::diff(&a, &b, |d, f| seen_a.ran(d, f), |d, f| seen_b.ran(d, f));
    let (n, r, u, c) = diffs.iter().fold((0, 0, 0, 0), |acc, d| {
        (
            acc.0 + d.new.len(),
            acc.1 + d.resolved.len(),
            acc.2 + d.unchanged.len(),
            acc.3 + d.not_compared.len(),
        )
    });
    match format {
        CheckFormat::Json => {
            let opts: Vec<_> = options
                .iter()
                .map(|(k, a, b)| serde_json::json!({ "option": k, "old": a, "new": b }))
                .collect();
            let v = serde_json::json!({
                "old": old, "new": new, "swapped": swapped, "options_differ": opts,
                "new_findings": n, "resolved": r, "unchanged": u, "not_compared": c,
                "domains": diffs,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        CheckFormat::Text => {
            if swapped {
                println!(
                    "note: scan {new} was given first but started after scan {old}: compared in time order"
                );
            }
            println!(
                "scan {old} → scan {new}: {n} new, {r} resolved, {u} unchanged, {c} not compared"
            );
            for (k, a, b) in &options {
                println!("  option {}: {} → {}", clean(k), clean(a), clean(b));
            }
            if c > 0 {
                println!(
                    "  ({c} finding(s) in one scan only whose check did not run in the other: not counted as new or resolved)"
                );
            }
            for d in &diffs {
                let changed = !d.new.is_empty() || !d.resolved.is_empty();
                if !changed && (!all || (d.unchanged.is_empty() && d.not_compared.is_empty())) {
                    continue;
                }
                println!("\n{}", clean(&d.domain));
                for f in &d.new {
                    println!(
                        "  + NEW      {:<8} {:<28} {} ({})",
                        f.severity,
                        f.id,
                        clean(&f.title),
                        clean(f.subject.name())
                    );
                }
                for f in &d.resolved {
                    println!(
                        "  - RESOLVED {:<8} {:<28} {} ({})",
                        f.severity,
                        f.id,
                        clean(&f.title),
                        clean(f.subject.name())
                    );
                }
                if all {
                    for x in &d.not_compared {
                        let why = match x.other {
                            Coverage::NotObserved => "not observed",
                            Coverage::NotRun => "check not run",
                            Coverage::Ran => "ran",
                        };
                        println!(
                            "  ? NOT COMPARED {:<8} {:<28} {} (only in the {} scan; other: {why})",
                            x.finding.severity,
                            x.finding.id,
                            clean(x.finding.subject.name()),
                            x.in_scan
                        );
                    }
                    for f in &d.unchanged {
                        println!(
                            "  = same     {:<8} {:<28} {}",
                            f.severity,
                            f.id,
                            clean(&f.title)
                        );
                    }
                }
            }
        }
    }
    store.close().await;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: i64, started_at: i64) -> ScanInfo {
        ScanInfo {
            id,
            started_at,
            finished_at: None,
            status: "finished".into(),
            params: serde_json::json!({}),
        }
    }

    #[test]
    fn reversed_ids_are_put_in_time_order() {
        let (a, b, swapped) = in_time_order(info(2, 200), info(1, 100));
        assert_eq!((a.id, b.id, swapped), (1, 2, true));
        let (a, b, swapped) = in_time_order(info(1, 100), info(2, 200));
        assert_eq!((a.id, b.id, swapped), (1, 2, false));
    }

    #[test]
    fn only_differing_options_are_shown() {
        let a = serde_json::json!({"relay_test": true, "dnsbl": true, "timeout": 30});
        let b = serde_json::json!({"relay_test": false, "dnsbl": true});
        assert_eq!(
            differing_options(&a, &b),
            [
                ("relay_test".into(), "true".into(), "false".into()),
                ("timeout".into(), "30".into(), "(unset)".into())
            ]
        );
    }
}
