use crate::args::{ScanArgs, VerdictFormat};
use crate::output;
use crate::run::{self, Source};
use anyhow::Context;
use mxray_core::Severity;
use mxray_core::target::Domain;

pub async fn run(
    domain: String,
    args: ScanArgs,
    fail_on: Severity,
    format: VerdictFormat,
    lang: mxray_report::Lang,
) -> anyhow::Result<u8> {
    let d = Domain::parse(&domain)
        .map_err(|e| anyhow::anyhow!("{domain:?} is not a domain name: {e}"))?;
    let mut cfg = args.config()?;
    // One domain on request: the extra exposure probes are always part of it (issue 16).
    cfg.extra = !args.no_exposure;
    let out = run::scan(
        cfg,
        args.resolver.clone(),
        &args.db,
        args.record(),
        Source::One(d.clone()),
        true,
        false,
        None,
    )
    .await?;
    let report = out
        .store
        .domain_report(out.scan, d.as_str())
        .await?
        .context("the scan stored nothing for this domain")?;
    let fingerprints: Vec<_> = out
        .store
        .fingerprints(out.scan)
        .await?
        .into_iter()
        .filter(|(ip, _, _)| report.hosts.iter().any(|h| h.ip == *ip))
        .collect();
    match format {
        VerdictFormat::Text => print!("{}", output::verdict(&report, &fingerprints, lang)),
        VerdictFormat::Sarif => {
            println!(
                "{}",
                serde_json::to_string_pretty(&output::sarif(&report.findings))?
            );
        }
        VerdictFormat::Json => {
            let v = serde_json::json!({
                "schema": mxray_core::model::SCHEMA_VERSION,
                "scan": out.scan,
                "domain": report.domain,
                "excluded": report.excluded,
                "worst": report.findings.iter().map(|f| f.severity).max(),
                "observation": report.obs,
                "hosts": report.hosts,
                "findings": report.findings,
                "software": fingerprints
                    .iter()
                    .map(|(ip, fp, m)| {
                        let mut v = crate::software::host_json(fp, m);
                        v["ip"] = ip.to_string().into();
                        v
                    })
                    .collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    out.store.close().await;
    Ok(u8::from(
        report.findings.iter().any(|f| f.severity >= fail_on),
    ))
}
