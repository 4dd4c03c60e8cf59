//! `mxray demo`: the lab on loopback, scanned end to end, summarised.

use crate::args::{CheckFormat, ScanArgs};
use crate::output;
use crate::run::{self, Source};
use mxray_lab::{Lab, LabOptions};
use std::path::Path;

/// Marks the demo's scans in their stored parameters, so that a later `demo` knows the
/// database is its own to replace.
const DEMO_MARK: &str = "demo";

/// The EHLO name the demo sends.
const DEMO_EHLO: &str = "mxray-demo.invalid";

/// Removes a database an earlier `mxray demo` wrote (with its WAL files), so that each demo
/// starts clean; refuses any other file (a survey database or a text file passed by mistake
/// is never touched).
async fn replace_demo_db(db: &Path) -> anyhow::Result<()> {
    let shown = db.display();
    if mxray_store::Backend::of(&db.to_string_lossy()) != mxray_store::Backend::Sqlite {
        anyhow::bail!(
            "mxray demo writes a SQLite file of its own; pass a file name to --db, not a server URL"
        );
    }
    let Ok(meta) = std::fs::symlink_metadata(db) else {
        return Ok(());
    };
    let refuse = |why: &str| {
        anyhow::anyhow!(
            "{shown} exists and {why}; mxray demo only replaces a database an earlier demo wrote: pass another --db, or move that file away yourself"
        )
    };
    if !meta.is_file() {
        return Err(refuse("is not a regular file"));
    }
    let mut header = [0u8; 16];
    let is_sqlite = std::fs::File::open(db)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .is_ok()
        && &header == b"SQLite format 3\0";
    if !is_sqlite {
        return Err(refuse("is not a SQLite database"));
    }
    let store = mxray_store::Store::open_read_only(db)
        .await
        .map_err(|e| refuse(&format!("cannot be read as an mxray database ({e})")))?;
    let scans = store.scans().await;
    store.close().await;
    let scans = scans.map_err(|e| refuse(&format!("cannot be read ({e})")))?;
    let all_demo = !scans.is_empty()
        && scans.iter().all(|s| {
            s.params.get(DEMO_MARK) == Some(&serde_json::Value::Bool(true))
                    // Demo databases written before the mark: no survey sends this EHLO name.
                    || s.params.get("ehlo_name").and_then(|v| v.as_str()) == Some(DEMO_EHLO)
        });
    if !all_demo {
        return Err(refuse("holds scans that are not demo scans"));
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow::Error::from(e)
                    .context(format!("cannot remove the earlier demo database {shown}")));
            }
            _ => {}
        }
    }
    Ok(())
}

pub async fn run(db: std::path::PathBuf, format: CheckFormat) -> anyhow::Result<u8> {
    replace_demo_db(&db).await?;
    let lab = Lab::start(LabOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the lab on 127.77.0.0/24: {e}"))?;
    let list = std::env::temp_dir().join(format!("mxray-demo-{}.txt", std::process::id()));
    std::fs::write(&list, lab.domain_list())?;
    eprintln!(
        "mxray demo: lab DNS on {}, {} emulated SMTP servers on port {}; scanning {} domains…",
        lab.dns.addr,
        lab.servers.len(),
        lab.smtp_port,
        lab.domains.len()
    );
    let ca = std::env::temp_dir().join(format!("mxray-demo-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, mxray_lab::LAB_CA_PEM)?;
    let args = ScanArgs {
        resolver: vec![lab.dns.addr],
        db: crate::args::Db { path: db.clone() },
        concurrency: 16,
        dns_concurrency: 32,
        timeout: 2.0,
        host_deadline: 8.0,
        exclude: None,
        ehlo_name: DEMO_EHLO.into(),
        ports: vec![
            format!("smtp={}", lab.smtp_port),
            format!("https={}", lab.https_port),
        ],
        submission: false,
        smtps: false,
        no_relay_test: false,
        relay_sender: "mxray-probe@example.org".into(),
        relay_recipient: "mxray-relay-test@example.net".into(),
        no_exposure: false,
        exposure_extra: false,
        no_tls_audit: false,
        tls_audit: false,
        web_paths: Vec::new(),
        axfr_per_server: None,
        recursion_name: "example.com".into(),
        allow_loopback: true,
        allow_private: false,
        rate: 0,
        per_ip_interval: 0.0,
        per_net: 0,
        dnsbl: Some(lab.dnsbl_arg()),
        no_dnsbl: false,
        dnsbl_rate: Some(0),
        asn_db: None,
        signatures: None,
        dkim_selectors: None,
        dkim_selectors_file: None,
        ca_file: Some(ca.clone()),
        trust_anchor: None,
    };
    let config = args.config();
    let _ = std::fs::remove_file(&ca);
    let mut params = args.record();
    params[DEMO_MARK] = true.into();
    let out = run::scan(
        config?,
        args.resolver.clone(),
        &db,
        params,
        Source::Text(list.display().to_string(), run::TextFormat::Lines),
        false,
        false,
        None,
    )
    .await;
    let _ = std::fs::remove_file(&list);
    let out = out?;
    let findings = out.store.findings(out.scan).await?;
    let mut per_domain = Vec::new();
    for d in &lab.domains {
        let fs = out
            .store
            .findings_for_domain(out.scan, &d.domain)
            .await?
            .into_iter()
            .map(|f| f.finding)
            .collect();
        per_domain.push((d.domain.clone(), fs));
    }
    if let CheckFormat::Json = format {
        let v = serde_json::json!({
            "scan": out.scan,
            "db": db.display().to_string(),
            "findings": findings.len(),
            "domains": lab.domains.iter().zip(&per_domain).map(|(d, (_, fs)): (_, &(String, Vec<mxray_core::finding::Finding>))| serde_json::json!({
                "domain": d.domain,
                "shows": d.shows,
                "findings": fs.iter().map(|f| serde_json::json!({
                    "id": f.id, "severity": f.severity.as_str(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        out.store.close().await;
        return Ok(0);
    }
    print!("{}", output::summary(&findings, &per_domain));
    println!();
    println!("What each lab domain shows:");
    for d in &lab.domains {
        println!("  {:<28} {}", d.domain, d.shows);
    }
    println!();
    println!(
        "Stored as scan {} in {}. Next: `mxray export --db {} --format jsonl`.",
        out.scan,
        db.display(),
        db.display()
    );
    println!("Run `mxray lab` in another terminal to try `mxray check` against the lab by hand.");
    out.store.close().await;
    Ok(0)
}
