use crate::args::{CheckFormat, InputArgs, ScanArgs};
use crate::run::{self, Source};
use mxray_core::Severity;

pub async fn run(
    file: String,
    args: ScanArgs,
    input: InputArgs,
    fail_on: Option<Severity>,
    resume: bool,
    shard: Option<mxray_core::target::Shard>,
    format: CheckFormat,
) -> anyhow::Result<u8> {
    let source = input.source(file.clone())?;
    let hosts_mode = matches!(source, Source::Hosts(..));
    if hosts_mode && shard.is_some() {
        anyhow::bail!(
            "--shard splits a domain list; a --hosts file is not sharded (split the blocks between machines instead)"
        );
    }
    let cfg = args.survey_config()?;
    let mut params = args.record();
    params["input"] = serde_json::Value::String(file.clone());
    let file_shown = file.clone();
    if let Some(s) = shard {
        params["shard"] = format!("{}/{}", s.k, s.n).into();
    }
    params["input_format"] = match &source {
        Source::Hosts(..) => "hosts",
        Source::Text(_, run::TextFormat::Csv(_)) => "csv",
        Source::Text(_, run::TextFormat::Zone) => "zone",
        Source::Text(_, run::TextFormat::Auto) => "auto",
        _ => "lines",
    }
    .into();
    let out = run::scan(
        cfg,
        args.resolver.clone(),
        &args.db,
        params,
        source,
        false,
        resume,
        shard,
    )
    .await?;
    let (domains, excluded, hosts) = out.store.counts(out.scan).await?;
    if domains + excluded + hosts == 0 && out.input_errors > 0 && out.duplicates == 0 {
        // Every line rejected: the wrong file or format, not a survey of nothing.
        let bad = out.store.input_errors(out.scan).await?;
        out.store.close().await;
        let shown: Vec<String> = bad
            .iter()
            .take(3)
            .map(|(line, text, reason)| {
                format!(
                    "line {line}: {:?} ({reason})",
                    mxray_core::sanitize::for_terminal(text)
                )
            })
            .collect();
        anyhow::bail!(
            "no line of {file_shown} is a domain ({} rejected; first: {}); expected one domain per line, a ranked list (RANK,DOMAIN as Tranco, Majestic), CSV with --column, a zone file, or addresses with --hosts",
            out.input_errors,
            shown.join("; ")
        );
    }
    let counts = out.store.finding_counts(out.scan).await?;
    let outcomes = out.store.host_outcomes(out.scan).await?;
    let worst = counts.iter().map(|c| c.1).max();
    let (disc, probes, total) = out.timings;
    let fail = match (fail_on, worst) {
        (Some(t), Some(w)) if w >= t => 1,
        _ => 0,
    };
    if let CheckFormat::Json = format {
        let v = serde_json::json!({
            "scan": out.scan,
            "status": "finished",
            "domains": domains,
            "excluded": excluded,
            "hosts": hosts,
            "bad_input_lines": out.input_errors,
            "duplicates": out.duplicates,
            "hosts_listed": out.hosts_listed,
            "hosts_excluded": out.hosts_excluded,
            "resolvers": out.resolvers,
            "seconds": {
                "discovery": disc as f64 / 1000.0,
                "probes": probes as f64 / 1000.0,
                "total": total as f64 / 1000.0,
            },
            "smtp_outcomes": outcomes
                .iter()
                .map(|(s, n)| (s.clone(), serde_json::Value::from(*n)))
                .collect::<serde_json::Map<_, _>>(),
            "findings": counts
                .iter()
                .map(|(id, sev, n, d)| serde_json::json!({
                    "id": id, "severity": sev.as_str(), "count": n, "domains": d,
                }))
                .collect::<Vec<_>>(),
            "db": mxray_store::redact(&args.db.to_string_lossy()),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        out.store.close().await;
        return Ok(fail);
    }
    println!(
        "scan {} finished in {:.1} s: {domains} domains (discovery {:.1} s), {hosts} hosts (probes done at {:.1} s); {excluded} excluded, {} bad input lines, {} duplicates",
        out.scan,
        total as f64 / 1000.0,
        disc as f64 / 1000.0,
        probes as f64 / 1000.0,
        out.input_errors,
        out.duplicates,
    );
    if hosts_mode {
        println!(
            "hosts file: {} addresses probed directly (no MX discovery), {} excluded (never contacted)",
            out.hosts_listed, out.hosts_excluded
        );
    }
    if out.resolvers.len() > 1 {
        let each: Vec<String> = out
            .resolvers
            .iter()
            .map(|r| {
                format!(
                    "{} {} questions ({} timeouts)",
                    r.addr, r.questions, r.timeouts
                )
            })
            .collect();
        println!("resolvers: {}", each.join(", "));
    }
    let outcome_line: Vec<String> = outcomes.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!("SMTP outcomes: {}", outcome_line.join(", "));
    println!(
        "{:<9} {:<30} {:>8} {:>8}",
        "severity", "finding", "count", "domains"
    );
    for (id, sev, n, d) in &counts {
        println!("{:<9} {:<30} {n:>8} {d:>8}", sev.to_string(), id);
    }
    let db = mxray_store::redact(&args.db.to_string_lossy());
    println!("stored in {db}; see `mxray export --db {db} --format jsonl`");
    out.store.close().await;
    Ok(fail)
}
