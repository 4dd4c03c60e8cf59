//! `mxray survey create|status` and `mxray worker`.

use crate::args::{CheckFormat, ScanArgs, SurveyAction};
use crate::survey::{self, WorkerOpts};
use mxray_core::sanitize::for_terminal;
use mxray_store::Store;
use std::time::Duration;

pub async fn run(action: SurveyAction) -> anyhow::Result<u8> {
    match action {
        SurveyAction::Create { file, db, format } => {
            let c = survey::create(&db, file).await?;
            let shown = mxray_store::redact(&db.to_string_lossy());
            if let CheckFormat::Json = format {
                let v = serde_json::json!({
                    "survey": c.scan,
                    "db": shown,
                    "targets": c.targets,
                    "bad_input_lines": c.input_errors,
                    "duplicates": c.duplicates,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            println!(
                "survey {} created in {shown}: {} targets, {} bad input lines, {} duplicates",
                c.scan, c.targets, c.input_errors, c.duplicates
            );
            println!(
                "start workers with `mxray worker --db {shown} --survey {}`",
                c.scan
            );
            Ok(0)
        }
        SurveyAction::Status { db, survey, format } => {
            let store = Store::open(&db).await?;
            let scan = match survey {
                Some(s) => s,
                None => store
                    .latest_survey()
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no survey in this database"))?,
            };
            let st = store.survey_status(scan).await?;
            if st.total == 0 {
                anyhow::bail!("scan {scan} is not a survey (no targets)");
            }
            match format {
                CheckFormat::Json => {
                    let mut v = serde_json::to_value(&st)?;
                    v["rate"] = st.rate().into();
                    v["eta_secs"] = st.eta_secs().into();
                    v["complete"] = st.complete().into();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
                CheckFormat::Text => print_status(&st),
            }
            store.close().await;
            Ok(0)
        }
    }
}

fn print_status(st: &mxray_store::SurveyStatus) {
    let pct = 100.0 * st.done as f64 / st.total.max(1) as f64;
    println!(
        "survey {}: {}/{} domains done ({pct:.1}%), {} pending, {} claimed ({} with an expired lease), {} hosts probed, {} hosts pending",
        st.scan,
        st.done,
        st.total,
        st.pending,
        st.claimed,
        st.expired,
        st.hosts_done,
        st.hosts_pending
    );
    let rate = st
        .rate()
        .map_or_else(|| "-".to_owned(), |r| format!("{r:.1} domains/s"));
    let eta = match st.eta_secs() {
        _ if st.complete() => "complete".to_owned(),
        Some(s) => format!("ETA {}", fmt_secs(s)),
        None => "ETA unknown".to_owned(),
    };
    println!(
        "rate {rate} overall, {} in the last minute; {eta}; {} targets taken over from a stopped worker; {} committed twice",
        st.done_last_minute, st.reclaimed, st.double_commits
    );
    let now = mxray_store::now();
    println!(
        "{:<32} {:<9} {:>9} {:>7} {:>8} {:>10}",
        "worker", "state", "domains", "hosts", "holding", "last seen"
    );
    for w in &st.workers {
        println!(
            "{:<32} {:<9} {:>9} {:>7} {:>8} {:>9}s",
            for_terminal(&w.worker),
            w.state,
            w.domains,
            w.hosts,
            w.holding,
            (now - w.last_seen).max(0)
        );
    }
}

fn fmt_secs(s: f64) -> String {
    let s = s.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

pub async fn worker(
    args: ScanArgs,
    survey: Option<i64>,
    name: Option<String>,
    batch: u32,
    lease: f64,
    format: CheckFormat,
) -> anyhow::Result<u8> {
    if !(lease.is_finite() && (1.0..=86_400.0).contains(&lease)) {
        anyhow::bail!("--lease must be between 1 and 86400 seconds");
    }
    let cfg = args.survey_config()?;
    let out = survey::worker(
        cfg,
        args.resolver.clone(),
        &args.db,
        args.record(),
        WorkerOpts {
            survey,
            name,
            batch,
            lease: Duration::from_secs_f64(lease),
            quiet: crate::quiet(),
        },
    )
    .await?;
    let me = out.status.workers.iter().find(|w| w.worker == out.worker);
    if let CheckFormat::Json = format {
        let v = serde_json::json!({
            "worker": out.worker,
            "survey": out.scan,
            "committed_domains": me.map_or(0, |w| w.domains),
            "committed_hosts": me.map_or(0, |w| w.hosts),
            "survey_domains_done": out.status.done,
            "survey_domains_total": out.status.total,
            "survey_hosts_done": out.status.hosts_done,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!(
        "worker {} finished: committed {} domains and {} hosts; survey {} {}/{} domains done, {} hosts",
        for_terminal(&out.worker),
        me.map_or(0, |w| w.domains),
        me.map_or(0, |w| w.hosts),
        out.scan,
        out.status.done,
        out.status.total,
        out.status.hosts_done,
    );
    Ok(0)
}
