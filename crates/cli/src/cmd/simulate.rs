//! `mxray simulate`: the benchmark network, in its own process so its cost is measured apart
//! from the scanner's. Prints its own load so a reader can tell it was not the bottleneck.

use mxray_lab::sim::{SimOptions, Simulation};
use std::time::Duration;

/// CPU seconds used by this process so far (utime + stime from /proc/self/stat).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields after the command name start at state (3rd field): utime is the 14th, stime 15th.
    (ticks(11) + ticks(12)) / 100.0
}

/// Appends the name servers' ground truth (open resolvers, zone transfers) to
/// `<list>.truth.jsonl`, one JSON object per line.
fn write_dns_truth(list: &std::path::Path, sim: &Simulation) -> anyhow::Result<()> {
    use std::io::Write;
    let path = format!("{}.truth.jsonl", list.display());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    for line in sim.dns_truth() {
        writeln!(f, "{line}")?;
    }
    Ok(())
}

/// What the simulated network holds.
pub struct Population {
    /// Domains.
    pub domains: usize,
    /// Mail-server addresses.
    pub ips: usize,
    /// Share of the open relays that relay every recipient.
    pub relay_everything: f64,
    /// Provider name-server addresses.
    pub ns_ips: usize,
    /// Web-only addresses.
    pub web_ips: usize,
}

pub async fn run(
    population: Population,
    list: std::path::PathBuf,
    dns_port: u16,
    smtp_port: u16,
    latency_ms: u64,
) -> anyhow::Result<u8> {
    let Population {
        domains,
        ips,
        relay_everything,
        ns_ips,
        web_ips,
    } = population;
    if ips == 0 || ips > 60_000 || domains == 0 {
        anyhow::bail!("--ips must be 1..60000 and --domains at least 1");
    }
    if !(0.0..=1.0).contains(&relay_everything) {
        anyhow::bail!("--relay-everything must be between 0 and 1");
    }
    if ns_ips > 1000 || web_ips > 1000 {
        anyhow::bail!("--ns-ips and --web-ips must be at most 1000");
    }
    let started = std::time::Instant::now();
    let sim = Simulation::start(SimOptions {
        domains,
        ips,
        dns_port,
        smtp_port,
        latency_median: Duration::from_millis(latency_ms),
        relay_everything,
        ns_ips,
        web_ips,
        ..SimOptions::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("cannot start the simulation (ports in use? file descriptors: try `ulimit -n 65536`): {e}"))?;
    std::fs::write(&list, &sim.list)?;
    let truth = mxray_lab::truth::path_for(&list);
    mxray_lab::truth::write(&truth, &sim.truth)?;
    write_dns_truth(&list, &sim)?;
    println!(
        "simulation ready in {:.1}s: resolver {} smtp port {}; {} domains over {} addresses ({} listening, busiest serves {}); list {}; ground truth {}; block lists --dnsbl {}",
        started.elapsed().as_secs_f64(),
        sim.dns.addr,
        sim.smtp_port,
        domains,
        ips,
        sim.servers.len(),
        sim.busiest,
        list.display(),
        truth.display(),
        mxray_lab::sim::dnsbl_arg()
    );
    let base_cpu = cpu_seconds();
    let t0 = std::time::Instant::now();
    let mut last = (0u64, 0u64, base_cpu, t0);
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let q = sim.dns.served();
                let s: u64 = sim.servers.iter().map(|s| s.stats.connections.load(std::sync::atomic::Ordering::Relaxed)).sum();
                let cpu = cpu_seconds();
                let dt = last.3.elapsed().as_secs_f64();
                if q != last.0 || s != last.1 {
                    println!(
                        "sim: {:.0} DNS queries/s, {:.1} SMTP connections/s, simulator CPU {:.0}% of one core",
                        (q - last.0) as f64 / dt,
                        (s - last.1) as f64 / dt,
                        100.0 * (cpu - last.2) / dt
                    );
                }
                last = (q, s, cpu, std::time::Instant::now());
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    let s: u64 = sim
        .servers
        .iter()
        .map(|s| {
            s.stats
                .connections
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    let data: u64 = sim
        .servers
        .iter()
        .map(|s| {
            s.stats
                .data_commands
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    let max_open = sim
        .servers
        .iter()
        .map(|s| s.stats.max_open.load(std::sync::atomic::Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    // The shortest interval between two connections to one mail address, as its server's
    // accept times show it (the scanner's --per-ip-interval, seen from the other side).
    let min_interval_ms = sim
        .servers
        .iter()
        .map(|s| {
            s.stats
                .min_interval_us
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .min()
        .filter(|us| *us != u64::MAX)
        .map_or_else(
            || "-".to_owned(),
            |us| format!("{:.0} ms", us as f64 / 1000.0),
        );
    let ns = sim.name_server_load();
    println!(
        "sim name servers: {} addresses (busiest serves {} zones), {} UDP questions, most in flight at one address {}, {} TCP connections, most open at once at one address {}, shortest interval between two to one address {}, AXFR questions {} (most at one address {})",
        sim.name_servers.len(),
        ns.busiest_zones,
        ns.udp_queries,
        ns.max_udp_in_flight,
        ns.tcp_connections,
        ns.max_tcp_open,
        ns.min_tcp_interval_ms
            .map_or_else(|| "-".to_owned(), |m| format!("{m:.0} ms")),
        ns.axfr,
        ns.max_axfr
    );
    println!(
        "sim total: {} DNS queries, {} SMTP connections, most concurrent connections on one address {}, shortest interval between two connections to one address {}, DATA commands {}, simulator CPU {:.1}s over {:.1}s",
        sim.dns.served(),
        s,
        max_open,
        min_interval_ms,
        data,
        cpu_seconds() - base_cpu,
        t0.elapsed().as_secs_f64()
    );
    Ok(0)
}
