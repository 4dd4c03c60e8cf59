//! `mxray export`: JSON Lines (docs/schema.md) or spreadsheet-safe CSV.

use crate::args::ExportFormat;
use anyhow::Context;
use mxray_core::sanitize::for_csv_cell;
use mxray_store::Store;
use std::io::Write;
use std::path::PathBuf;

pub async fn run(
    format: ExportFormat,
    scan: Option<i64>,
    db: PathBuf,
    output: Option<PathBuf>,
    bom: bool,
) -> anyhow::Result<u8> {
    if !db.exists() {
        anyhow::bail!(
            "database {} does not exist; run `mxray scan` first or pass --db",
            db.display()
        );
    }
    let store = Store::open(&db).await?;
    let info = store.scan(scan).await.map_err(|e| match scan {
        None => anyhow::anyhow!("database {} holds no scan yet", db.display()),
        Some(_) => e.into(),
    })?;
    let mut out: Box<dyn Write> = match &output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match format {
        ExportFormat::Jsonl => jsonl(&store, &info, &mut out).await?,
        ExportFormat::Csv => csv_rows(&store, &info, &mut out, bom).await?,
    }
    out.flush()?;
    store.close().await;
    Ok(0)
}

async fn jsonl(
    store: &Store,
    info: &mxray_store::ScanInfo,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (domains, excluded, hosts) = store.counts(info.id).await?;
    let line = serde_json::json!({
        "type": "scan",
        "schema": mxray_core::model::SCHEMA_VERSION,
        "scan": info.id,
        "started_at": info.started_at,
        "finished_at": info.finished_at,
        "status": info.status,
        "params": info.params,
        "domains": domains,
        "excluded": excluded,
        "hosts": hosts,
    });
    writeln!(out, "{line}")?;
    for (domain, status) in store.domains(info.id).await? {
        let report = store.domain_report(info.id, &domain).await?;
        let ips = store.domain_ips(info.id, &domain).await?;
        let (obs, findings) = match report {
            Some(r) => (
                r.obs,
                store
                    .findings_for_domain(info.id, &domain)
                    .await?
                    .into_iter()
                    .filter(|f| f.domain.is_some())
                    .map(|f| f.finding)
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        let line = serde_json::json!({
            "type": "domain", "scan": info.id, "domain": domain, "status": status,
            "ips": ips, "observation": obs, "findings": findings,
        });
        writeln!(out, "{line}")?;
    }
    let all = store.findings(info.id).await?;
    for host in store.hosts(info.id).await? {
        let ip = host.ip.to_string();
        let findings: Vec<_> = all
            .iter()
            .filter(|f| f.ip.as_deref() == Some(ip.as_str()))
            .map(|f| &f.finding)
            .collect();
        let line = serde_json::json!({ "type": "host", "scan": info.id, "ip": ip, "observation": host, "findings": findings });
        writeln!(out, "{line}")?;
    }
    for (line_no, text, reason) in store.input_errors(info.id).await? {
        let line = serde_json::json!({ "type": "input_error", "scan": info.id, "line": line_no, "text": text, "reason": reason });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

async fn csv_rows(
    store: &Store,
    info: &mxray_store::ScanInfo,
    out: &mut dyn Write,
    bom: bool,
) -> anyhow::Result<()> {
    if bom {
        out.write_all("\u{feff}".as_bytes())?;
    }
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "scan", "domain", "ip", "subject", "check", "severity", "title", "evidence", "fix",
    ])?;
    for (domain, _) in store.domains(info.id).await? {
        for f in store.findings_for_domain(info.id, &domain).await? {
            let cells = [
                info.id.to_string(),
                domain.clone(),
                f.ip.clone().unwrap_or_default(),
                f.finding.subject.name().to_owned(),
                f.finding.id.clone(),
                f.finding.severity.to_string(),
                f.finding.title.clone(),
                f.finding.evidence.join("\n"),
                f.finding.fix.clone(),
            ];
            w.write_record(cells.iter().map(|c| for_csv_cell_keep_newlines(c)))?;
        }
    }
    w.flush()?;
    Ok(())
}

/// Evidence keeps its line breaks inside the quoted cell; everything else is neutralised.
fn for_csv_cell_keep_newlines(s: &str) -> String {
    s.split('\n')
        .map(for_csv_cell)
        .collect::<Vec<_>>()
        .join("\n")
}
