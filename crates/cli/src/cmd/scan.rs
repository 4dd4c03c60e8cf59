use crate::args::ScanArgs;
use crate::output;
use crate::run::{self, Source};
use mxray_core::Severity;

pub async fn run(
    file: String,
    args: ScanArgs,
    fail_on: Option<Severity>,
    resume: bool,
) -> anyhow::Result<u8> {
    let cfg = args.config()?;
    let mut params = args.record();
    params["input"] = serde_json::Value::String(file.clone());
    let out = run::scan(
        cfg,
        args.resolver,
        &args.db,
        params,
        Source::Lines(file),
        false,
        resume,
    )
    .await?;
    let findings = out.store.findings(out.scan).await?;
    let (domains, excluded, hosts) = out.store.counts(out.scan).await?;
    let worst = findings.iter().map(|f| f.finding.severity).max();
    let fs: Vec<_> = findings.iter().map(|f| f.finding.clone()).collect();
    println!(
        "scan {}: {domains} domains, {excluded} excluded, {hosts} hosts probed, {} bad input lines, {} duplicates; {}",
        out.scan,
        out.input_errors,
        out.duplicates,
        output::severity_counts(&fs)
    );
    println!(
        "stored in {}; see `mxray export --db {} --format jsonl`",
        args.db.display(),
        args.db.display()
    );
    out.store.close().await;
    Ok(match (fail_on, worst) {
        (Some(t), Some(w)) if w >= t => 1,
        _ => 0,
    })
}
