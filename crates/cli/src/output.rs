//! Human output: verdicts and summaries. Every piece of server-supplied text passes through
//! `sanitize::for_terminal` before it reaches the terminal.

use mxray_core::advisory::Match;
use mxray_core::finding::{Finding, Severity};
use mxray_core::fingerprint::HostFingerprint;
use mxray_core::model::{Lookup, MxMode};
use mxray_core::sanitize::for_terminal as clean;
use mxray_report::Lang;
use mxray_store::{DomainReport, StoredFinding};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

/// Whether an output path is `-`, standard output (as every Unix tool reads it).
pub fn is_stdout(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
        Severity::Info => "INFO",
    }
}

/// Counts per severity, worst first: "1 critical, 2 medium", or "緊急 1 件、中 2 件".
fn severity_counts_in(findings: &[Finding], lang: Lang) -> String {
    let parts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|s| {
            let n = findings.iter().filter(|f| f.severity == *s).count();
            (n > 0).then(|| match lang {
                Lang::En => format!("{n} {s}"),
                Lang::Ja => format!("{} {n} 件", lang.severity(*s)),
            })
        })
        .collect();
    match (parts.is_empty(), lang) {
        (true, Lang::En) => "no findings".into(),
        (true, Lang::Ja) => "検出事項なし".into(),
        (false, Lang::En) => parts.join(", "),
        (false, Lang::Ja) => parts.join("、"),
    }
}

/// The words of the text verdict.
struct Words {
    excluded: &'static str,
    verdict: &'static str,
    ok: &'static str,
    routing: &'static str,
    modes: [&'static str; 5],
    not_confirmed: &'static str,
    ptr_unknown: &'static str,
    no_ptr: &'static str,
    not_contacted: &'static str,
    excluded_host: &'static str,
    relay_test: &'static str,
    software: &'static str,
    on: &'static str,
    evidence: &'static str,
    more_lines: &'static str,
    fix: &'static str,
    detail: &'static str,
    internal_error: &'static str,
}

const EN: Words = Words {
    excluded: "Excluded by the operator's exclusion list: nothing was sent.",
    verdict: "Verdict",
    ok: "OK",
    routing: "Mail routing",
    modes: [
        "MX",
        "implicit MX (A/AAAA)",
        "null MX",
        "no mail host",
        "unknown (DNS failed)",
    ],
    not_confirmed: "not forward-confirmed",
    ptr_unknown: "PTR unknown",
    no_ptr: "no PTR",
    not_contacted: "not contacted",
    excluded_host: "excluded",
    relay_test: "relay test",
    software: "Software",
    on: "on",
    evidence: "evidence",
    more_lines: "more lines (mxray export)",
    fix: "fix",
    detail: "detail",
    internal_error: "internal error in the scanner (a bug): this part was not checked",
};

const JA: Words = Words {
    excluded: "除外リストに含まれるため、何も送信していません。",
    verdict: "判定",
    ok: "問題なし",
    routing: "メールの配送先",
    modes: [
        "MX",
        "MX なし(A/AAAA に配送)",
        "null MX(受信しない)",
        "メールサーバなし",
        "不明(DNS の応答なし)",
    ],
    not_confirmed: "正引きと一致しない",
    ptr_unknown: "PTR 不明",
    no_ptr: "PTR なし",
    not_contacted: "接続せず",
    excluded_host: "除外",
    relay_test: "第三者中継テスト",
    software: "ソフトウェア",
    on: "対象",
    evidence: "根拠",
    more_lines: "行は省略(mxray export で出力できます)",
    fix: "対処",
    detail: "詳細(英語)",
    internal_error: "スキャナ内部のエラー(不具合): この部分は検査されていません",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Ja => &JA,
    }
}

/// A severity as the verdict shows it: `CRITICAL`, or `緊急` in Japanese.
fn shown_severity(s: Severity, lang: Lang) -> &'static str {
    match lang {
        Lang::En => label(s),
        Lang::Ja => lang.severity(s),
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
pub fn verdict(
    r: &DomainReport,
    fingerprints: &[(IpAddr, HostFingerprint, Vec<Match>)],
    lang: Lang,
) -> String {
    let w = words(lang);
    let mut out = String::new();
    let _ = writeln!(out, "mxray check {}", clean(&r.domain));
    if r.excluded {
        let _ = writeln!(out, "{}", w.excluded);
        return out;
    }
    let worst = r.findings.iter().map(|f| f.severity).max();
    let _ = writeln!(
        out,
        "{}: {} ({})",
        w.verdict,
        worst.map_or(w.ok, |s| shown_severity(s, lang)),
        severity_counts_in(&r.findings, lang)
    );
    if let Some(obs) = &r.obs {
        let mode = match obs.mx_mode {
            MxMode::Explicit => w.modes[0],
            MxMode::Implicit => w.modes[1],
            MxMode::NullMx => w.modes[2],
            MxMode::None => w.modes[3],
            MxMode::Unknown => w.modes[4],
        };
        let _ = writeln!(out, "{}: {mode}", w.routing);
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
                                    format!(" [PTR {} ✗ {}]", n.join(","), w.not_confirmed)
                                }
                                (Lookup::Unknown(_), _) => format!(" [{}]", w.ptr_unknown),
                                _ => format!(" [{}]", w.no_ptr),
                            })
                            .unwrap_or_default();
                        let skipped = obs
                            .skipped
                            .iter()
                            .find(|s| s.ip == *ip)
                            .map(|s| {
                                format!(
                                    " ({}: {})",
                                    w.not_contacted,
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
                other if h.excluded => format!("{} ({})", w.excluded_host, other.describe()),
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
            if let mxray_core::model::HostStatus::InternalError {
                probe,
                port,
                detail,
            } = &host.status
            {
                let at = match (probe, port) {
                    (Some(p), Some(n)) => format!(" [{p}:{n}]"),
                    (Some(p), None) => format!(" [{p}]"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "  {}{at}: {} — {}",
                    host.ip,
                    w.internal_error,
                    clean(detail)
                );
            }
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
                    "  {}:{} {}: {} — {}",
                    host.ip,
                    rel.port,
                    w.relay_test,
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
            let _ = writeln!(out, "{}:", w.software);
            for (ip, fp, m) in shown {
                for l in software(*ip, fp, m) {
                    let _ = writeln!(out, "{l}");
                }
            }
        }
    }
    for f in &r.findings {
        let _ = writeln!(out);
        let sev = shown_severity(f.severity, lang);
        match lang.finding_name(&f.id) {
            Some(name) => {
                let _ = writeln!(out, "{sev:<8} {}  {name}", f.id);
                let _ = writeln!(out, "         {}: {}", w.detail, clean(&f.title));
            }
            None => {
                let _ = writeln!(out, "{sev:<8} {}  {}", f.id, clean(&f.title));
            }
        }
        let _ = writeln!(out, "         {} {}", w.on, clean(f.subject.name()));
        if !f.evidence.is_empty() {
            let _ = writeln!(out, "         {}:", w.evidence);
            for e in f.evidence.iter().take(12) {
                let _ = writeln!(out, "           {}", clean(e));
            }
            if f.evidence.len() > 12 {
                let _ = writeln!(
                    out,
                    "           … {} {}",
                    f.evidence.len() - 12,
                    w.more_lines
                );
            }
        }
        match lang.finding_fix(&f.id) {
            Some(fix) => {
                let _ = writeln!(out, "         {}: {fix}", w.fix);
                let _ = writeln!(out, "         ({}: {})", w.detail, clean(&f.fix));
            }
            None => {
                let _ = writeln!(out, "         {}: {}", w.fix, clean(&f.fix));
            }
        }
    }
    out
}

/// A survey summary: findings by check, and the worst domains.
pub fn summary(findings: &[StoredFinding], per_domain: &[(String, Vec<Finding>)]) -> String {
    let mut out = String::new();
    // One line per finding id, at its worst severity, as `scan`'s summary and `stats` count
    // them; an id whose findings have several severities (a block-list listing is high for a
    // spam source, low for a policy list) says how many of each.
    let mut by_check: BTreeMap<String, BTreeMap<std::cmp::Reverse<Severity>, usize>> =
        BTreeMap::new();
    for f in findings {
        *by_check
            .entry(f.finding.id.clone())
            .or_default()
            .entry(std::cmp::Reverse(f.finding.severity))
            .or_default() += 1;
    }
    let mut rows: Vec<(Severity, usize, &String, String)> = by_check
        .iter()
        .map(|(id, sevs)| {
            let worst = sevs.keys().next().map_or(Severity::Info, |r| r.0);
            let n: usize = sevs.values().sum();
            let split = if sevs.len() > 1 {
                let parts: Vec<String> = sevs.iter().map(|(s, n)| format!("{n} {}", s.0)).collect();
                format!(" ({})", parts.join(", "))
            } else {
                String::new()
            };
            (worst, n, id, split)
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
    let _ = writeln!(
        out,
        "Findings by check, at their worst severity (hosts are counted once, however many domains share them):"
    );
    for (worst, n, id, split) in &rows {
        let _ = writeln!(out, "  {:<8} {:<28} {n}{split}", label(*worst), id);
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

/// SARIF 2.1.0 (<https://docs.oasis-open.org/sarif/sarif/v2.1.0/>): one result per finding,
/// each rule (a finding id) described from the catalogue. Hand-built with `serde_json`: the
/// few fields used do not justify a SARIF crate.
pub fn sarif(findings: &[Finding]) -> serde_json::Value {
    use serde_json::json;
    let level = |s: Severity| match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    };
    let mut rules: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let rule_json: Vec<serde_json::Value> = rules
        .iter()
        .map(|id| {
            let entry = mxray_core::catalogue::get(id);
            let mut r = json!({ "id": id });
            if let Some(e) = entry {
                r["shortDescription"] = json!({ "text": e.en });
                r["help"] = json!({ "text": e.fix_en });
                r["defaultConfiguration"] = json!({ "level": level(e.worst()) });
                r["properties"] = json!({ "name_ja": e.ja, "fix_ja": e.fix_ja });
                if e.reference.starts_with("https://") {
                    r["helpUri"] = json!(e.reference);
                } else {
                    r["properties"]["reference"] = json!(e.reference);
                }
            }
            r
        })
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let index = rules.binary_search(&f.id.as_str()).unwrap_or(0);
            let kind = match f.subject {
                mxray_core::finding::Subject::Domain(_) => "domain",
                mxray_core::finding::Subject::Host(_) => "host",
                mxray_core::finding::Subject::Service(_) => "service",
            };
            json!({
                "ruleId": f.id,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": format!("{} ({})", f.title, f.subject.name()) },
                "locations": [{
                    "logicalLocations": [{ "name": f.subject.name(), "kind": kind }]
                }],
                "properties": {
                    "severity": f.severity.as_str(),
                    "evidence": f.evidence,
                    "fix": f.fix,
                },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "mxray",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rule_json,
            }},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxray_core::finding::Subject;

    fn stored(id: &str, sev: Severity, ip: &str) -> StoredFinding {
        StoredFinding {
            domain: None,
            ip: Some(ip.into()),
            finding: Finding::new(id, sev, Subject::Host(ip.into()), "t", "f"),
        }
    }

    /// A host whose probe panicked shows the scanner's internal error, in both languages,
    /// and no made-up service line.
    #[test]
    fn an_internal_error_is_shown_as_the_scanners_own() {
        let host: mxray_core::model::HostObservation = serde_json::from_value(serde_json::json!({
            "ip": "192.0.2.25", "class": "public", "ptr": {"status": "no-data"},
            "fcrdns": null, "smtp": [], "relay": null, "elapsed_ms": 0,
            "status": {"result": "internal-error", "probe": "smtp", "port": 25, "detail": "probe bug"}
        }))
        .unwrap();
        let obs: mxray_core::model::DomainObservation = serde_json::from_value(serde_json::json!({
            "domain": "example.jp", "mx": {"status": "no-data"}, "mx_mode": "none",
            "hosts": [], "skipped": []
        }))
        .unwrap();
        let r = DomainReport {
            domain: "example.jp".into(),
            excluded: false,
            obs: Some(obs),
            hosts: vec![host],
            findings: vec![],
        };
        let en = verdict(&r, &[], Lang::En);
        assert!(
            en.contains("192.0.2.25 [smtp:25]: internal error in the scanner (a bug): this part was not checked — probe bug"),
            "{en}"
        );
        let ja = verdict(&r, &[], Lang::Ja);
        assert!(
            ja.contains("192.0.2.25 [smtp:25]: スキャナ内部のエラー"),
            "{ja}"
        );
        assert!(!en.contains(":0 "), "no port-0 record: {en}");
    }

    #[test]
    fn one_line_per_id_at_its_worst_severity() {
        let fs = vec![
            stored("reputation.ip_listed", Severity::Low, "192.0.2.1"),
            stored("reputation.ip_listed", Severity::High, "192.0.2.2"),
            stored("reputation.ip_listed", Severity::Low, "192.0.2.3"),
            stored("smtp.open_relay", Severity::Critical, "192.0.2.2"),
        ];
        let s = summary(&fs, &[]);
        let lines: Vec<&str> = s.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(lines.len(), 2, "{s}");
        assert!(lines[0].contains("CRITICAL") && lines[0].contains("smtp.open_relay"));
        assert!(
            lines[1].contains("HIGH")
                && lines[1].contains("reputation.ip_listed")
                && lines[1].ends_with("3 (1 high, 2 low)"),
            "{s}"
        );
    }
}
