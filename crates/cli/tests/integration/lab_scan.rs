//! One scan of every lab behaviour; each classification asserted with its evidence line.

use crate::harness::*;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_scan_classifies_every_behaviour() {
    let lab = lab([127, 77, 1], vec![]).await;
    let dir = temp();
    let db = dir.path().join("scan.db");
    let mut list = lab.domain_list();
    list.push_str("not a domain!\nCLOSED.mxray.test.\n");
    let file = write(dir.path(), "domains.txt", &list);
    let r = scan_lab(&lab, &file, &db, &[]).await;
    assert_eq!(r.code, 0, "scan failed: {}", r.stderr);
    let bad_line = lab.domains.len() + 2; // header comment + domains, then the bad line
    assert!(
        r.stderr.contains(&format!("line {bad_line}:")),
        "bad line reported with its number: {}",
        r.stderr
    );
    assert!(
        r.stdout.contains("1 bad input lines, 1 duplicates"),
        "{}",
        r.stdout
    );

    let ex = Export::read(&db);
    // Every finding of every lab behaviour is in the catalogue, at a severity it allows.
    let mut seen = 0;
    for line in &ex.lines {
        for f in line["findings"].as_array().into_iter().flatten() {
            let id = f["id"].as_str().expect("id");
            let entry = mxray_core::catalogue::get(id)
                .unwrap_or_else(|| panic!("{id} is not in the catalogue"));
            let sev: mxray_core::Severity =
                serde_json::from_value(f["severity"].clone()).expect("severity");
            assert!(
                entry.severity.contains(&sev),
                "{id} at {sev}, the catalogue allows {:?}",
                entry.severity
            );
            seen += 1;
        }
    }
    assert!(seen > 50, "{seen} findings");
    let ip = |name: &str| lab.server(name).expect("server").addr.ip().to_string();
    let host = |name: &str| {
        ex.host(&ip(name))
            .unwrap_or_else(|| panic!("no host record for {name}"))
            .clone()
    };
    let relay = |name: &str| host(name)["observation"]["relay"].clone();
    let smtp = |name: &str| host(name)["observation"]["smtp"][0].clone();

    // Open relay: outside recipient accepted, bogus local recipient refused.
    let open = host("open-relay");
    assert_eq!(relay("open-relay")["verdict"], "open");
    let f = finding(&open, "smtp.open_relay").expect("open relay finding");
    assert_eq!(f["severity"], "critical");
    let ev = evidence(f);
    let rcpt = ev
        .iter()
        .position(|l| l == "C: RCPT TO:<mxray-relay-test@example.net>")
        .expect("RCPT line");
    assert!(ev[rcpt + 1].starts_with("S: 250"), "{ev:?}");
    assert!(
        ev.iter().any(|l| l.contains("delivery was not confirmed")),
        "{ev:?}"
    );
    // The control recipient was refused: no backscatter finding.
    assert_eq!(
        relay("open-relay")["control"]["rcpt_reply"]["code"],
        550,
        "{}",
        relay("open-relay")
    );
    assert!(finding(&open, "smtp.accepts_nonexistent_recipients").is_none());
    assert!(finding(&open, "smtp.vrfy_enabled").is_some());

    // Closed relay: every form refused; STARTTLS with a self-signed certificate.
    let closed = host("closed");
    assert_eq!(relay("closed")["verdict"], "closed");
    let attempts = relay("closed")["attempts"].as_array().unwrap().len();
    assert_eq!(attempts, 13, "the whole battery ran");
    assert!(finding(&closed, "smtp.open_relay").is_none());
    assert_eq!(smtp("closed")["starttls"]["result"], "established");
    let ss = finding(&closed, "tls.self_signed").expect("self-signed finding");
    assert!(
        evidence(ss)
            .iter()
            .any(|l| l.contains("mxray lab self-signed")),
        "{ss}"
    );
    assert!(finding(&closed, "smtp.no_starttls").is_none());
    assert_eq!(closed["observation"]["fcrdns"], true);
    assert_eq!(
        closed["observation"]["ptr"]["value"][0],
        "closed-mx.mxray.test"
    );

    // Accepts any user at its own domains but no outside domain: not a relay, a backscatter
    // source (the address tricks at its own name are accepted as local users).
    let all = host("accept-all");
    assert_eq!(
        relay("accept-all")["verdict"],
        "closed",
        "{}",
        relay("accept-all")
    );
    let f = finding(&all, "smtp.accepts_nonexistent_recipients").expect("backscatter finding");
    assert!(
        evidence(f).iter().any(|l| l.contains("mxray-no-such-user")),
        "{f}"
    );
    assert!(finding(&all, "smtp.open_relay").is_none());
    assert!(
        finding(&all, "dns.fcrdns_mismatch").is_some(),
        "PTR elsewhere.mxray.test does not resolve back"
    );

    // Greylisting: inconclusive, with the 450 as evidence.
    let grey = host("greylist");
    assert_eq!(relay("greylist")["verdict"], "inconclusive");
    let f = finding(&grey, "smtp.relay_inconclusive").expect("inconclusive finding");
    assert!(evidence(f).iter().any(|l| l.starts_with("S: 450")), "{f}");
    assert!(finding(&grey, "dns.ptr_missing").is_some());

    // Not testable is never "no STARTTLS".
    for (name, status, evidence_has) in [
        ("tarpit", "io-timeout", "no answer within"),
        ("refuse", "rejected", "421 4.3.2"),
        ("silent", "io-timeout", "no answer within"),
    ] {
        let h = host(name);
        assert_eq!(smtp(name)["status"], status, "{name}");
        let f = finding(&h, "smtp.not_testable").unwrap_or_else(|| panic!("{name}: not testable"));
        assert!(
            evidence(f).iter().any(|l| l.contains(evidence_has)),
            "{name}: {f}"
        );
        assert!(finding(&h, "smtp.no_starttls").is_none(), "{name}");
        assert!(
            h["observation"]["relay"].is_null(),
            "{name}: no relay test without a greeting"
        );
    }

    // Not SMTP, and an endless line cut at the cap.
    assert_eq!(smtp("garbage")["status"], "protocol-mismatch");
    assert!(
        evidence(finding(&host("garbage"), "smtp.protocol_mismatch").unwrap())
            .iter()
            .any(|l| l.contains("HTTP/1.1 400"))
    );
    let endless = smtp("endless");
    assert_eq!(endless["status"], "protocol-mismatch");
    assert!(
        endless["detail"]
            .as_str()
            .unwrap()
            .contains("line longer than"),
        "{endless}"
    );
    let longest = endless["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().len())
        .max()
        .unwrap();
    assert!(longest <= 600, "transcript lines are capped ({longest})");

    // AUTH in clear text.
    let auth = host("auth-before-tls");
    let f = finding(&auth, "smtp.auth_before_tls").expect("auth before TLS");
    assert_eq!(f["severity"], "high");
    assert!(
        evidence(f).iter().any(|l| l == "S: 250-AUTH PLAIN LOGIN"),
        "{f}"
    );
    assert!(finding(&auth, "smtp.no_starttls").is_some());

    // The hostile banner is stored verbatim (evidence) …
    let hostile = smtp("hostile");
    assert!(
        hostile["greeting"]["lines"][0]
            .as_str()
            .unwrap()
            .contains("\u{1b}[2J")
    );

    // Shared hosting: one host record and one probe + one relay connection for five domains.
    let closed_ip = ip("closed");
    assert_eq!(
        ex.hosts()
            .iter()
            .filter(|h| h["ip"] == closed_ip.as_str())
            .count(),
        1
    );
    for d in [
        "closed.mxray.test",
        "shared-1.mxray.test",
        "shared-2.mxray.test",
        "shared-3.mxray.test",
        "implicit.mxray.test",
    ] {
        assert_eq!(
            ex.domain(d)["ips"][0],
            closed_ip.as_str(),
            "{d} linked to the shared host"
        );
    }
    assert_eq!(
        lab.server("closed")
            .unwrap()
            .stats
            .connections
            .load(Ordering::SeqCst),
        2
    );
    assert_eq!(
        ex.domain("implicit.mxray.test")["observation"]["mx_mode"],
        "implicit"
    );
    assert!(finding(ex.domain("implicit.mxray.test"), "dns.implicit_mx").is_some());

    // DNS outcomes.
    let sf = ex.domain("servfail.mxray.test");
    assert_eq!(
        sf["observation"]["mx"]["status"], "unknown",
        "SERVFAIL is unknown, not 'no record'"
    );
    assert_eq!(sf["observation"]["mx_mode"], "unknown");
    assert!(finding(sf, "dns.lookup_failed").is_some());
    let nx = ex.domain("no-such-domain.mxray.test");
    assert_eq!(nx["observation"]["mx"]["status"], "nx-domain");
    assert!(finding(nx, "dns.no_mail_host").is_some());
    assert_eq!(
        ex.domain("null-mx.mxray.test")["observation"]["mx_mode"],
        "null-mx"
    );
    assert!(finding(ex.domain("dangling-mx.mxray.test"), "dns.mx_unresolvable").is_some());
    let private = ex.domain("private-mx.mxray.test");
    let f = finding(private, "dns.mx_not_public").expect("private MX finding");
    assert!(evidence(f)[0].contains("10.0.0.25"), "{f}");
    assert!(
        ex.host("10.0.0.25").is_none(),
        "a private address is never probed"
    );

    // Bad input line kept.
    let bad: Vec<_> = ex
        .lines
        .iter()
        .filter(|l| l["type"] == "input_error")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["line"], bad_line as u64);

    // Never DATA, anywhere.
    for s in &lab.servers {
        assert_eq!(
            s.stats.data_commands.load(Ordering::SeqCst),
            0,
            "{} received DATA",
            s.behaviour.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_a_verdict_and_sets_the_exit_status() {
    let lab = lab([127, 77, 2], vec![]).await;
    let dir = temp();
    let db = dir.path().join("check.db");
    let run = |domain: &str, extra: &[&str]| {
        let mut a = vec!["check".to_owned(), domain.to_owned()];
        a.extend(lab_args(&lab, &db));
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        mxray_async(a)
    };
    let r = run("open-relay.mxray.test", &[]).await;
    assert_eq!(
        r.code, 1,
        "critical finding ≥ default --fail-on high: {}{}",
        r.stdout, r.stderr
    );
    assert!(r.stdout.contains("Verdict: CRITICAL"), "{}", r.stdout);
    assert!(r.stdout.contains("smtp.open_relay"));
    assert!(
        r.stdout
            .contains("fix: Accept mail only for your own domains"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("C: RCPT TO:<mxray-relay-test@example.net>")
    );

    let r = run("closed.mxray.test", &["--fail-on", "high"]).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("Verdict: MEDIUM"), "{}", r.stdout);
    let r = run("closed.mxray.test", &["--fail-on", "medium"]).await;
    assert_eq!(r.code, 1);

    // Hostile banner: no control character reaches the terminal.
    let r = run("hostile.mxray.test", &["--fail-on", "critical"]).await;
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("\\x1b[2J"),
        "escape shown as text: {}",
        r.stdout
    );
    assert!(
        !r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{7}'),
        "raw control characters printed"
    );

    // In Japanese: the verdict, the finding's name and fix from the catalogue, the check's
    // own English detail beside them, the evidence untouched.
    let r = run("open-relay.mxray.test", &["--lang", "ja"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("判定: 緊急"), "{}", r.stdout);
    let relay = mxray_core::catalogue::get("smtp.open_relay").expect("catalogued");
    assert!(r.stdout.contains(&relay.ja), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("対処: {}", relay.fix_ja)),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("詳細(英語): Accept mail only"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("C: RCPT TO:<mxray-relay-test@example.net>")
    );
    assert!(!r.stdout.contains("Verdict:"), "{}", r.stdout);

    let r = run("closed.mxray.test", &["--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON verdict");
    assert_eq!(v["domain"], "closed.mxray.test");
    assert_eq!(v["worst"], "medium");
}
