//! The simulator's ground truth against a scan: every open relay of every kind found, nothing
//! else called one. The population (in-process, 127.0.27.0/24 on a random SMTP port) has both
//! kinds of open relay (relays the control too / refuses unknown local users), relays reachable
//! only through the percent hack or a quoted local part, and servers that accept any user at
//! their own domains but relay nothing (the backscatter finding only). The domains' SPF and
//! DMARC verdicts are scored against the same ground truth.

use crate::harness::*;
use mxray_lab::Behaviour;
use mxray_lab::sim::{SimOptions, Simulation};
use mxray_lab::truth::{self, Subject};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_relays_found_equal_present_and_no_false_alarms() {
    let sim = Simulation::start(SimOptions {
        domains: 900,
        ips: 240,
        net: [127, 0],
        first_block: 27,
        zipf: 0.0,
        latency_median: Duration::from_millis(2),
        seed: 4,
        ..SimOptions::default()
    })
    .await
    .expect("simulation on loopback");
    let dir = temp();
    let list = write(dir.path(), "sim.txt", &sim.list);
    let truth_file = truth::path_for(&list);
    truth::write(&truth_file, &sim.truth).expect("write the truth");

    // The population has every kind this test is about, at addresses some domain uses.
    let expected: BTreeSet<IpAddr> = sim
        .truth
        .iter()
        .filter_map(|t| match t.subject {
            Subject::Ip(ip) => Some(ip),
            Subject::Domain(_) => None,
        })
        .collect();
    for kind in [
        Behaviour::RelayEverything,
        Behaviour::OpenRelay,
        Behaviour::PercentHackRelay,
        Behaviour::QuotedRelay,
        Behaviour::AcceptAll,
    ] {
        assert!(
            sim.servers
                .iter()
                .any(|s| s.behaviour == kind && expected.contains(&s.addr.ip())),
            "no {} server in the population",
            kind.name()
        );
    }

    let db = dir.path().join("sim.db");
    let mut args = vec!["scan".to_owned(), list.display().to_string()];
    args.extend(scan_args(sim.dns.addr, sim.smtp_port, "3", "8", &db));
    args.extend(
        [
            "--no-dnsbl",
            "--no-exposure",
            "--concurrency",
            "32",
            "--per-net",
            "0",
        ]
        .map(str::to_owned),
    );
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ex = Export::read(&db);

    // Read back the file the simulator wrote, as bench/score.py does: host findings by
    // address, the SPF and DMARC verdicts by domain.
    let text = std::fs::read_to_string(&truth_file).expect("truth file");
    let mut present: BTreeMap<(&str, String), BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON object per line");
        let id = v["finding"].as_str().expect("finding").to_owned();
        let (kind, subject) = match (v["ip"].as_str(), v["domain"].as_str()) {
            (Some(ip), None) => ("ip", ip),
            (None, Some(d)) => ("domain", d),
            _ => panic!("neither ip nor domain: {line}"),
        };
        present
            .entry((kind, id))
            .or_default()
            .insert(subject.to_owned());
    }
    for class in [
        ("ip", "smtp.open_relay"),
        ("ip", "smtp.accepts_nonexistent_recipients"),
        ("domain", "spf.missing"),
        ("domain", "spf.pass_all"),
        ("domain", "dmarc.missing"),
        ("domain", "dmarc.policy_none"),
    ] {
        assert!(
            present.contains_key(&(class.0, class.1.to_owned())),
            "{class:?} missing from {:?}",
            present.keys()
        );
    }
    for ((kind, id), want) in &present {
        let (rows, key) = if *kind == "ip" {
            (ex.hosts(), "ip")
        } else {
            (
                ex.lines.iter().filter(|l| l["type"] == "domain").collect(),
                "domain",
            )
        };
        let found: BTreeSet<String> = rows
            .into_iter()
            .filter(|h| finding(h, id).is_some())
            .map(|h| h[key].as_str().unwrap().to_owned())
            .collect();
        let missed: Vec<_> = want.difference(&found).collect();
        let false_alarms: Vec<_> = found.difference(want).collect();
        assert!(
            missed.is_empty() && false_alarms.is_empty(),
            "{id}: found {}/{}, missed {missed:?}, false alarms {false_alarms:?}",
            found.intersection(want).count(),
            want.len()
        );
    }
    let data: u64 = sim
        .servers
        .iter()
        .map(|s| {
            s.stats
                .data_commands
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    assert_eq!(data, 0, "the scanner never sends DATA");
}
