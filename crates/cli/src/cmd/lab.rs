//! `mxray lab`: the lab on fixed ports until Ctrl-C.

use mxray_lab::{Lab, LabOptions};

pub async fn run(dns_port: u16, smtp_port: u16) -> anyhow::Result<u8> {
    let lab = Lab::start(LabOptions {
        dns_port,
        smtp_port,
        ..LabOptions::default()
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!("cannot start the lab (ports {dns_port}/{smtp_port} in use?): {e}")
    })?;
    println!(
        "mxray lab running: DNS {} ; SMTP servers on port {} ; MTA-STS policy hosts on HTTPS port {}",
        lab.dns.addr, lab.smtp_port, lab.https_port
    );
    for d in &lab.domains {
        println!("  {:<28} {}", d.domain, d.shows);
    }
    println!();
    println!(
        "Try: mxray check open-relay.mxray.test --resolver {} --port smtp={} --allow-loopback --timeout 2 --host-deadline 8",
        lab.dns.addr, lab.smtp_port
    );
    println!(
        "MTA-STS domains also need: --port https={} --ca-file FILE (FILE holding the lab CA below)",
        lab.https_port
    );
    print!("{}", mxray_lab::LAB_CA_PEM);
    println!("Ctrl-C stops the lab.");
    tokio::signal::ctrl_c().await?;
    Ok(0)
}
