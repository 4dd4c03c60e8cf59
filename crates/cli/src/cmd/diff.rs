//! `mxray diff OLD NEW`: what regressed, what was fixed.

use crate::args::CheckFormat;
use crate::cmd::report::{domain_findings, open};
use mxray_core::sanitize::for_terminal as clean;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub async fn run(
    old: i64,
    new: i64,
    db: PathBuf,
    format: CheckFormat,
    all: bool,
) -> anyhow::Result<u8> {
    let store = open(&db).await?;
    store.scan(Some(old)).await?;
    store.scan(Some(new)).await?;
    let a: BTreeMap<_, _> = domain_findings(&store, old).await?.0.into_iter().collect();
    let b: BTreeMap<_, _> = domain_findings(&store, new).await?.0.into_iter().collect();
    let diffs = mxray_report::diff::diff(&a, &b);
    let (n, r, u) = diffs.iter().fold((0, 0, 0), |acc, d| {
        (
            acc.0 + d.new.len(),
            acc.1 + d.resolved.len(),
            acc.2 + d.unchanged.len(),
        )
    });
    match format {
        CheckFormat::Json => {
            let v = serde_json::json!({ "old": old, "new": new, "new_findings": n, "resolved": r, "unchanged": u, "domains": diffs });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        CheckFormat::Text => {
            println!("scan {old} → scan {new}: {n} new, {r} resolved, {u} unchanged");
            for d in &diffs {
                let changed = !d.new.is_empty() || !d.resolved.is_empty();
                if !changed && (!all || d.unchanged.is_empty()) {
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
