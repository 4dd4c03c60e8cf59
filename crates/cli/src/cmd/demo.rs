//! `mxray demo`: the lab on loopback, scanned end to end, summarised.

use crate::args::ScanArgs;
use crate::output;
use crate::run::{self, Source};
use mxray_lab::{Lab, LabOptions};

pub async fn run(db: std::path::PathBuf) -> anyhow::Result<u8> {
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
    let _ = std::fs::remove_file(&db);
    let ca = std::env::temp_dir().join(format!("mxray-demo-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, mxray_lab::LAB_CA_PEM)?;
    let args = ScanArgs {
        resolver: Some(lab.dns.addr),
        db: db.clone(),
        concurrency: 16,
        dns_concurrency: 32,
        timeout: 2.0,
        host_deadline: 8.0,
        exclude: None,
        ehlo_name: "mxray-demo.invalid".into(),
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
    let out = run::scan(
        config?,
        args.resolver,
        &db,
        args.record(),
        Source::Lines(list.display().to_string()),
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
