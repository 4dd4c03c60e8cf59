//! `mxray lab`: the lab on fixed ports until Ctrl-C or SIGTERM.

use mxray_lab::{Lab, LabOptions};

pub async fn run(dns_port: u16, smtp_port: u16, https_port: u16) -> anyhow::Result<u8> {
    let lab = Lab::start(LabOptions {
        dns_port,
        smtp_port,
        https_port,
        ..LabOptions::default()
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot start the lab (ports {dns_port}/{smtp_port}/{https_port} in use?): {e}"
        )
    })?;
    // The CA in a file of our own, so that the printed command runs as it is.
    let ca = std::env::temp_dir().join(format!("mxray-lab-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, mxray_lab::LAB_CA_PEM)?;
    println!(
        "mxray lab running: DNS {} ; SMTP servers on port {} ; MTA-STS policy hosts on HTTPS port {}",
        lab.dns.addr, lab.smtp_port, lab.https_port
    );
    for d in &lab.domains {
        println!("  {:<28} {}", d.domain, d.shows);
    }
    println!();
    // The same options as `mxray demo`: the lab's block lists (unthrottled, they are the
    // lab's own), its HTTPS port and CA, so a hand-run check shows what the demo shows.
    println!(
        "Try: mxray check open-relay.mxray.test --resolver {} --port smtp={} --port https={} --allow-loopback --timeout 2 --host-deadline 8 --dnsbl {} --dnsbl-rate 0 --ca-file {} --db mxray-lab.db",
        lab.dns.addr,
        lab.smtp_port,
        lab.https_port,
        lab.dnsbl_arg(),
        ca.display()
    );
    println!("Ctrl-C stops the lab.");
    let _ = crate::run::stop_signal().await;
    let _ = std::fs::remove_file(&ca);
    Ok(0)
}
