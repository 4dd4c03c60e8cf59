//! Human output: verdicts and summaries. Every piece of server-supplied text passes through
//! `sanitize::for_terminal` before it reaches the terminal.

use mxray_core::advisory::Match;
use mxray_core::finding::{Finding, Severity};
use mxray_core::fingerprint::HostFingerprint;
use mxray_core::model::{Lookup, MxMode};
use mxray_core::sanitize::for_terminal as clean;
use mxray_store::{DomainReport, StoredFinding};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
        Severity::Info => "INFO",
    }
}

/// Counts per severity, worst first: "1 critical, 2 medium".
pub fn severity_counts(findings: &[Finding]) -> String {
    let parts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|s| {
            let n = findings.iter().filter(|f| f.severity == *s).count();
            (n > 0).then(|| format!("{n} {s}"))
        })
        .collect();
    if parts.is_empty() {
        "no findings".into()
    } else {
        parts.join(", ")
    }
}

/// A host's software for the verdict: the OS guess, each product and version with the port
/// and evidence kind it came from, and the advisories matching it. Every piece of text is
/// neutralised (versions and builds are cut out of banners).
pub fn software(ip: IpAddr, fp: &HostFingerprint, matches: &[Match]) -> Vec<String> {
    let mut out = Vec::new();
    let os = match &fp.os {
        Some(o) => format!("{} (confidence {:.2})", clean(&o.name), o.confidence),
        None => "unknown".to_owned(),
    };
    out.push(format!("  {ip}  OS guess: {os}"));
    for s in &fp.software {
        out.push(format!(
            "    {:>5}  {}  [{}]",
            s.port,
            clean(&crate::software::shown(s)),
            s.source
        ));
        for m in matches
            .iter()
            .filter(|m| m.port == s.port && m.product == s.product)
        {
            out.push(format!(
                "           advisory {} ({}): {}",
                clean(&m.advisory),
                m.severity,
                m.status.describe()
            ));
        }
    }
    for u in &fp.unknown {
        let text: String = u.text.chars().take(120).collect();
        out.push(format!(
            "    {:>5}  unidentified [{}]: {}",
            u.port,
            u.source,
            clean(&text)
        ));
    }
    out
}

/// The readable verdict for one domain, with the software found on its hosts.
pub fn verdict(r: &DomainReport, fingerprints: &[(IpAddr, HostFingerprint, Vec<Match>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mxray check {}", clean(&r.domain));
    if r.excluded {
        let _ = writeln!(
            out,
            "Excluded by the operator's exclusion list: nothing was sent."
        );
        return out;
    }
    let worst = r.findings.iter().map(|f| f.severity).max();
    let _ = writeln!(
        out,
        "Verdict: {} ({})",
        worst.map_or("OK", label),
        severity_counts(&r.findings)
    );
    if let Some(obs) = &r.obs {
        let mode = match obs.mx_mode {
            MxMode::Explicit => "MX",
            MxMode::Implicit => "implicit MX (A/AAAA)",
            MxMode::NullMx => "null MX",
            MxMode::None => "no mail host",
            MxMode::Unknown => "unknown (DNS failed)",
        };
        let _ = writeln!(out, "Mail routing: {mode}");
        for h in &obs.hosts {
            let addrs = match &h.addresses {
                Lookup::Found(ips) => ips
                    .iter()
                    .map(|ip| {
                        let host = r.hosts.iter().find(|x| x.ip == *ip);
                        let ptr = host
                            .map(|x| match (&x.ptr, x.fcrdns) {
                                (Lookup::Found(n), Some(true)) => {
                                    format!(" [PTR {} ✓]", n.join(","))
                                }
                                (Lookup::Found(n), _) => {
                                    format!(" [PTR {} ✗ not forward-confirmed]", n.join(","))
                                }
                                (Lookup::Unknown(_), _) => " [PTR unknown]".to_owned(),
                                _ => " [no PTR]".to_owned(),
                            })
                            .unwrap_or_default();
                        let skipped = obs
                            .skipped
                            .iter()
                            .find(|s| s.ip == *ip)
                            .map(|s| {
                                format!(
                                    " (not contacted: {})",
                                    serde_json::to_value(s.reason)
                                        .ok()
                                        .and_then(|v| v.as_str().map(str::to_owned))
                                        .unwrap_or_default()
                                )
                            })
                            .unwrap_or_default();
                        format!("{ip}{ptr}{skipped}")
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other if h.excluded => format!("excluded ({})", other.describe()),
                other => other.describe(),
            };
            let _ = writeln!(
                out,
                "  {:>3} {} → {}",
                h.preference,
                clean(&h.name),
                clean(&addrs)
            );
        }
        for host in &r.hosts {
            for s in &host.smtp {
                let banner = s
                    .greeting
                    .as_ref()
                    .map(|g| g.to_wire_text().lines().next().unwrap_or("").to_owned())
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {}:{} {} {}",
                    host.ip,
                    s.port,
                    s.status.as_str(),
                    clean(&banner)
                );
            }
            if let Some(rel) = &host.relay {
                let _ = writeln!(
                    out,
                    "  {}:{} relay test: {} — {}",
                    host.ip,
                    rel.port,
                    rel.current_verdict().as_str(),
                    clean(&rel.reason)
                );
            }
        }
        let shown: Vec<_> = fingerprints
            .iter()
            .filter(|(ip, fp, _)| {
                r.hosts.iter().any(|h| h.ip == *ip)
                    && (fp.os.is_some() || !fp.software.is_empty() || !fp.unknown.is_empty())
            })
            .collect();
        if !shown.is_empty() {
            let _ = writeln!(out, "Software:");
            for (ip, fp, m) in shown {
                for l in software(*ip, fp, m) {
                    let _ = writeln!(out, "{l}");
                }
            }
        }
    }
    for f in &r.findings {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<8} {}  {}",
            label(f.severity),
            f.id,
            clean(&f.title)
        );
        let _ = writeln!(out, "         on {}", clean(f.subject.name()));
        if !f.evidence.is_empty() {
            let _ = writeln!(out, "         evidence:");
            for e in f.evidence.iter().take(12) {
                let _ = writeln!(out, "           {}", clean(e));
            }
            if f.evidence.len() > 12 {
                let _ = writeln!(
                    out,
                    "           … {} more lines (mxray export)",
                    f.evidence.len() - 12
                );
            }
        }
        let _ = writeln!(out, "         fix: {}", clean(&f.fix));
    }
    out
}

/// A survey summary: findings by check, and the worst domains.
pub fn summary(findings: &[StoredFinding], per_domain: &[(String, Vec<Finding>)]) -> String {
    let mut out = String::new();
    let mut by_check: BTreeMap<(std::cmp::Reverse<Severity>, String), usize> = BTreeMap::new();
    for f in findings {
        *by_check
            .entry((std::cmp::Reverse(f.finding.severity), f.finding.id.clone()))
            .or_default() += 1;
    }
    let _ = writeln!(
        out,
        "Findings by check (hosts are counted once, however many domains share them):"
    );
    for ((sev, id), n) in &by_check {
        let _ = writeln!(out, "  {:<8} {:<28} {n}", label(sev.0), id);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<28} {:<9} findings", "domain", "verdict");
    for (domain, fs) in per_domain {
        let worst = fs.iter().map(|f| f.severity).max();
        let mut ids: Vec<&str> = fs.iter().map(|f| f.id.as_str()).collect();
        ids.dedup();
        let _ = writeln!(
            out,
            "{:<28} {:<9} {}",
            clean(domain),
            worst.map_or("OK", label),
            ids.join(" ")
        );
    }
    out
}
