//! SPF lint and the MX cross-check, each asserted through the JSON export of a scan of the
//! lab's SPF domains and through `mxray check` (finding, evidence and one-line fix).

use crate::harness::*;

/// (lab domain, finding that must be there, severity).
const EXPECTED: &[(&str, &str, &str)] = &[
    ("spf-none", "spf.missing", "medium"),
    ("spf-multi", "spf.multiple_records", "high"),
    ("spf-syntax", "spf.syntax_error", "high"),
    ("spf-pass-all", "spf.pass_all", "critical"),
    ("spf-neutral-all", "spf.neutral_all", "medium"),
    ("spf-softfail", "spf.softfail_all", "low"),
    ("spf-lookups", "spf.too_many_lookups", "high"),
    ("spf-void", "spf.too_many_void_lookups", "medium"),
    ("spf-ptr", "spf.ptr", "low"),
    ("spf-include-gone", "spf.include_unresolvable", "high"),
    ("spf-long", "spf.record_too_long", "low"),
    ("spf-mx-fail", "spf.mx_not_authorised", "medium"),
    ("spf-none", "dmarc.missing", "medium"),
    ("spf-softfail", "dmarc.policy_none", "medium"),
    ("spf-pass-all", "dmarc.subdomain_weaker", "low"),
    ("spf-pass-all", "dmarc.pct_partial", "low"),
    ("spf-ptr", "dmarc.syntax_error", "high"),
    ("spf-neutral-all", "dmarc.invalid_record", "high"),
    ("spf-none", "mta_sts.missing", "info"),
    ("spf-none", "tlsrpt.missing", "info"),
    ("spf-softfail", "mta_sts.invalid", "low"),
    ("spf-good", "dkim.short_key", "low"),
    ("spf-none", "dkim.none_found", "info"),
    ("spf-none", "caa.missing", "info"),
];

fn spf_ids(line: &serde_json::Value) -> Vec<String> {
    finding_ids_with(line, &["spf.", "dmarc.", "mta_sts.", "tlsrpt."])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_lint_findings_in_the_export() {
    let lab = lab([127, 77, 8], vec![]).await;
    let dir = temp();
    let db = dir.path().join("spf.db");
    let file = write(dir.path(), "domains.txt", &lab_domains(&lab, &["spf-"]));
    let r = scan_lab(&lab, &file, &db, &["--no-relay-test"]).await;
    assert_eq!(r.code, 0, "scan failed: {}", r.stderr);
    let ex = Export::read(&db);

    // The good domain has no SPF finding at all: the MX passes, -all, nothing else.
    let good = ex.domain("spf-good.mxray.test");
    assert_eq!(spf_ids(good), Vec::<String>::new(), "{good}");
    let answers = good["observation"]["mail_auth"]["dns"]
        .as_array()
        .expect("recorded DNS");
    assert!(
        answers
            .iter()
            .any(|a| a["name"] == "spf-good.mxray.test" && a["rtype"] == "TXT"),
        "the TXT answer is stored: {answers:?}"
    );

    for (label, id, severity) in EXPECTED {
        let line = ex.domain(&format!("{label}.mxray.test"));
        let f =
            finding(line, id).unwrap_or_else(|| panic!("{label}: no {id} in {:?}", spf_ids(line)));
        assert_eq!(f["severity"], *severity, "{label}: {f}");
        assert!(!f["fix"].as_str().unwrap_or("").is_empty(), "{label}: fix");
        assert!(!evidence(f).is_empty(), "{label}: evidence");
    }
    // Evidence names the offending term; the fix is the corrected record.
    let syntax = finding(ex.domain("spf-syntax.mxray.test"), "spf.syntax_error").unwrap();
    assert!(
        evidence(syntax)
            .iter()
            .any(|e| e.contains("\"ip4:192.0.2.1/33\" at byte 10")),
        "{syntax}"
    );
    let pass_all = finding(ex.domain("spf-pass-all.mxray.test"), "spf.pass_all").unwrap();
    assert_eq!(
        pass_all["fix"],
        "Replace the record with: \"v=spf1 mx -all\""
    );
    // Lint cases that should not fire on neighbours: -all domains have no all-finding.
    assert!(finding(ex.domain("spf-ptr.mxray.test"), "spf.softfail_all").is_none());
    assert!(
        finding(
            ex.domain("spf-softfail.mxray.test"),
            "spf.mx_not_authorised"
        )
        .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_spf_findings_with_the_corrected_record() {
    let lab = lab([127, 77, 9], vec![]).await;
    let dir = temp();
    let db = dir.path().join("check.db");
    let run = |domain: &str| {
        let mut a = vec!["check".to_owned(), domain.to_owned()];
        a.extend(lab_args(&lab, &db));
        a.push("--no-relay-test".into());
        mxray_async(a)
    };
    let r = run("spf-pass-all.mxray.test").await;
    assert_eq!(r.code, 1, "critical ≥ high: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Verdict: CRITICAL"), "{}", r.stdout);
    assert!(r.stdout.contains("spf.pass_all"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("TXT spf-pass-all.mxray.test: v=spf1 mx +all"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("fix: Replace the record with: \"v=spf1 mx -all\""),
        "{}",
        r.stdout
    );
    let r = run("spf-softfail.mxray.test").await;
    assert!(
        r.stdout.contains(
            "fix: Once every sending host is listed, replace the record with: \"v=spf1 mx -all\""
        ),
        "{}",
        r.stdout
    );
    let r = run("spf-good.mxray.test").await;
    assert!(!r.stdout.contains("spf."), "{}", r.stdout);
    assert!(!r.stdout.contains("dmarc."), "{}", r.stdout);
}

/// (lab domain, finding that must be there, severity) for DMARC report authorisation,
/// MTA-STS policies and DNSSEC: domain findings.
const TRANSPORT: &[(&str, &str, &str)] = &[
    ("dmarc-rua-ext", "dmarc.report_unauthorised", "low"),
    ("sts-testing", "mta_sts.testing", "low"),
    ("sts-testing", "mta_sts.max_age_short", "low"),
    ("sts-mismatch", "mta_sts.mx_mismatch", "high"),
    ("sts-invalid", "mta_sts.policy_invalid", "medium"),
    ("sts-none", "mta_sts.mode_none", "info"),
    ("sts-unreachable", "mta_sts.policy_unreachable", "medium"),
    ("sts-badcert", "mta_sts.policy_cert_invalid", "medium"),
    ("dnssec-island", "dnssec.no_ds", "medium"),
    ("dnssec-bogus", "dnssec.bogus", "high"),
    ("dane-insecure", "dnssec.not_validated", "info"),
    ("dmarc-rua-ok", "dnssec.unsigned", "info"),
];

/// Lab domains whose absence of a finding is asserted (the control for each case).
const CLEAN: &[(&str, &str)] = &[
    ("dmarc-rua-ok", "dmarc.report_unauthorised"),
    ("spf-good", "mta_sts."),
    ("dane-ok", "dnssec."),
    ("sts-testing", "mta_sts.mx_mismatch"),
    ("sts-mismatch", "mta_sts.testing"),
];

fn ids_with(line: &serde_json::Value, prefix: &str) -> Vec<String> {
    finding_ids_with(line, &[prefix])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_dnssec_and_dane_findings_in_the_export() {
    let lab = lab([127, 77, 16], vec![]).await;
    let dir = temp();
    let db = dir.path().join("transport.db");
    let list = lab_domains(
        &lab,
        &[
            "sts-",
            "dmarc-rua-",
            "dnssec-",
            "dane-",
            "spf-good",
            "closed.",
        ],
    );
    let file = write(dir.path(), "domains.txt", &list);
    let r = scan_lab(&lab, &file, &db, &["--no-relay-test"]).await;
    assert_eq!(r.code, 0, "scan failed: {}", r.stderr);
    let ex = Export::read(&db);

    for (label, id, severity) in TRANSPORT {
        let line = ex.domain(&format!("{label}.mxray.test"));
        let f = finding(line, id)
            .unwrap_or_else(|| panic!("{label}: no {id} in {:?}", ids_with(line, "")));
        assert_eq!(f["severity"], *severity, "{label}: {f}");
        assert!(!f["fix"].as_str().unwrap_or("").is_empty(), "{label}: fix");
        assert!(!evidence(f).is_empty(), "{label}: evidence");
    }
    for (label, prefix) in CLEAN {
        let line = ex.domain(&format!("{label}.mxray.test"));
        assert_eq!(
            ids_with(line, prefix),
            Vec::<String>::new(),
            "{label}: {prefix}"
        );
    }
    // The policy really went through certificate validation: the lab-CA host passed, the
    // self-signed one failed, and the bodies are stored verbatim.
    let policy = |d: &str| ex.domain(d)["observation"]["mail_auth"]["mta_sts_policy"].clone();
    let good = policy("spf-good.mxray.test");
    assert_eq!(good["status"], "fetched", "{good}");
    assert_eq!(good["http_status"], 200);
    assert!(good["tls"]["problem"].is_null(), "{good}");
    assert!(
        good["body"].as_str().unwrap().contains("mode: enforce"),
        "{good}"
    );
    assert!(!policy("sts-badcert.mxray.test")["tls"]["problem"].is_null());
    assert_eq!(policy("sts-unreachable.mxray.test")["status"], "no-address");
    // The island's DNSKEY set does not fit one UDP answer: all five keys came over TCP.
    let island = &ex.domain("dnssec-island.mxray.test")["observation"]["mail_auth"]["dnssec"];
    assert_eq!(
        island["dnskey"]["answer"]["value"].as_array().map(Vec::len),
        Some(5),
        "{island}"
    );
    let mismatch = finding(ex.domain("sts-mismatch.mxray.test"), "mta_sts.mx_mismatch").unwrap();
    assert!(
        evidence(mismatch)
            .iter()
            .any(|e| e == "MX 10 closed-mx.mxray.test"),
        "{mismatch}"
    );
    let unauth = finding(
        ex.domain("dmarc-rua-ext.mxray.test"),
        "dmarc.report_unauthorised",
    )
    .unwrap();
    assert!(
        evidence(unauth).iter().any(|e| e.starts_with(
            "TXT dmarc-rua-ext.mxray.test._report._dmarc.reports.elsewhere.test: NXDOMAIN"
        )),
        "{unauth}"
    );

    // DANE, on each MX host: (last octet, finding, severity).
    for (octet, id, severity) in [
        (60, "dane.ok", "info"),
        (61, "dane.mismatch", "high"),
        (62, "dane.unsigned", "low"),
        (10, "dane.missing", "info"),
    ] {
        let ip = format!("127.77.16.{octet}");
        let host = ex.host(&ip).unwrap_or_else(|| panic!("{ip} probed"));
        let f = finding(host, id)
            .unwrap_or_else(|| panic!("{ip}: no {id} in {:?}", ids_with(host, "dane.")));
        assert_eq!(f["severity"], severity, "{ip}: {f}");
        assert_eq!(ids_with(host, "dane.").len(), 1, "{ip}: one DANE finding");
    }
    let ok = ex.host("127.77.16.60").unwrap();
    let cert = &ok["observation"]["smtp"][0]["tls"]["chain"][0];
    assert_eq!(cert["spki_sha256"], mxray_lab::LAB_CERT_SPKI_SHA256);
    assert_eq!(cert["sha512"].as_str().unwrap().len(), 128);
    assert_eq!(ok["observation"]["tlsa"][0]["authenticated"], true);
    let bad = finding(ex.host("127.77.16.61").unwrap(), "dane.mismatch").unwrap();
    assert!(
        evidence(bad)
            .iter()
            .any(|e| e.contains(&format!("SPKI SHA-256 {}", mxray_lab::LAB_CERT_SPKI_SHA256))),
        "{bad}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_transport_findings_with_fixes() {
    let lab = lab([127, 77, 17], vec![]).await;
    let dir = temp();
    let db = dir.path().join("check.db");
    let run = |domain: &str, extra: &[&str]| {
        let mut a = vec!["check".to_owned(), domain.to_owned()];
        a.extend(lab_args(&lab, &db));
        a.push("--no-relay-test".into());
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        mxray_async(a)
    };
    let r = run("dane-bad.mxray.test", &[]).await;
    assert_eq!(r.code, 1, "high ≥ high: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("dane.mismatch"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("publish the new TLSA before rotating certificates"),
        "{}",
        r.stdout
    );
    let r = run("dane-ok.mxray.test", &[]).await;
    assert!(r.stdout.contains("dane.ok"), "{}", r.stdout);
    assert!(!r.stdout.contains("dane.mismatch"), "{}", r.stdout);

    let r = run("sts-mismatch.mxray.test", &[]).await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("fix: Add \"mx: closed-mx.mxray.test\" to the policy at https://mta-sts.sts-mismatch.mxray.test:"),
        "{}",
        r.stdout
    );
    let r = run("dnssec-bogus.mxray.test", &[]).await;
    assert!(r.stdout.contains("dnssec.bogus"), "{}", r.stdout);
    let r = run("dmarc-rua-ext.mxray.test", &[]).await;
    assert!(
        r.stdout.contains("fix: Ask the operator of reports.elsewhere.test to publish \"v=DMARC1\" at dmarc-rua-ext.mxray.test._report._dmarc.reports.elsewhere.test"),
        "{}",
        r.stdout
    );

    // Without the lab CA the same policy host fails validation: the trust anchor matters.
    let mut a = vec!["check".to_owned(), "spf-good.mxray.test".to_owned()];
    let with_ca = lab_args(&lab, &db);
    let ca_at = with_ca.iter().position(|s| s == "--ca-file").unwrap();
    a.extend(
        with_ca
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != ca_at && *i != ca_at + 1)
            .map(|(_, s)| s.clone()),
    );
    a.push("--no-relay-test".into());
    let r = mxray_async(a).await;
    assert!(
        r.stdout.contains("mta_sts.policy_cert_invalid"),
        "{}",
        r.stdout
    );
    let r = run("spf-good.mxray.test", &[]).await;
    assert!(!r.stdout.contains("mta_sts."), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkim_selectors_replace_the_default_list() {
    let lab = lab([127, 77, 18], vec![]).await;
    let dir = temp();
    let db = dir.path().join("dkim.db");
    let sel_file = write(dir.path(), "selectors.txt", "# ours\nlab2026\n");
    let run = |extra: Vec<String>| {
        let mut a = vec!["check".to_owned(), "spf-good.mxray.test".to_owned()];
        a.extend(lab_args(&lab, &db));
        a.push("--no-relay-test".into());
        a.extend(extra);
        mxray_async(a)
    };
    let r = run(vec![]).await;
    assert!(r.stdout.contains("dkim.short_key"), "{}", r.stdout);
    assert!(!r.stdout.contains("lab2026"), "{}", r.stdout);
    for extra in [
        vec!["--dkim-selectors".to_owned(), "lab2026,other".to_owned()],
        vec![
            "--dkim-selectors-file".to_owned(),
            sel_file.display().to_string(),
        ],
    ] {
        let r = run(extra.clone()).await;
        assert!(
            r.stdout.contains("DKIM key lab2026 is in testing mode"),
            "{extra:?}: {}",
            r.stdout
        );
        assert!(
            r.stdout
                .contains("fix: Remove t=y from lab2026._domainkey.spf-good.mxray.test."),
            "{}",
            r.stdout
        );
        assert!(
            !r.stdout.contains("DKIM key default"),
            "{extra:?}: {}",
            r.stdout
        );
    }
    let r = run(vec![
        "--dkim-selectors".to_owned(),
        "bad selector".to_owned(),
    ])
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not a DKIM selector"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surveys_ask_the_short_selector_list_and_check_the_full_one() {
    let lab = lab([127, 77, 21], vec![]).await;
    let dir = temp();
    let db = dir.path().join("sel.db");
    let list = write(dir.path(), "one.txt", "spf-good.mxray.test\n");
    let dkim_questions = |lab: &mxray_lab::Lab| {
        let mut names: Vec<String> = lab
            .dns
            .queries()
            .into_iter()
            .map(|(n, _)| n.trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| n.ends_with("._domainkey.spf-good.mxray.test"))
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let r = scan_lab(&lab, &list, &db, &["--no-relay-test"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let survey = dkim_questions(&lab);
    let short = mxray_core_selectors(SURVEY);
    assert_eq!(survey.len(), short.len(), "{survey:?}");
    // The lab's key sits at `default`, on the short list: still found by the survey.
    let ex = Export::read(&db);
    assert!(
        finding(ex.domain("spf-good.mxray.test"), "dkim.short_key").is_some(),
        "the survey still finds the key at a common selector"
    );
    let mut a = vec!["check".to_owned(), "spf-good.mxray.test".to_owned()];
    a.extend(lab_args(&lab, &db));
    a.push("--no-relay-test".into());
    let r = mxray_async(a).await;
    assert!(r.code <= 1, "{}", r.stderr);
    let all = dkim_questions(&lab);
    assert_eq!(all.len(), mxray_core_selectors(FULL).len(), "{all:?}");
    assert!(all.len() > survey.len());
}

const SURVEY: &str = include_str!("../../../core/data/dkim-selectors-survey.txt");
const FULL: &str = include_str!("../../../core/data/dkim-selectors.txt");

/// The selectors of a list file (lines, `#` comments).
fn mxray_core_selectors(list: &str) -> Vec<&str> {
    list.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_policy_hosts_and_mx_names_are_never_asked_or_contacted() {
    let lab = lab([127, 77, 19], vec![]).await;
    let dir = temp();
    let db = dir.path().join("excluded.db");
    let exclude = write(
        dir.path(),
        "exclude.txt",
        "mta-sts.spf-good.mxray.test\nmx.dane-ok.mxray.test\n",
    );
    let mut a = vec!["check".to_owned(), "spf-good.mxray.test".to_owned()];
    a.extend(lab_args(&lab, &db));
    a.extend([
        "--no-relay-test".to_owned(),
        "--exclude".to_owned(),
        exclude.display().to_string(),
    ]);
    let r = mxray_async(a).await;
    assert!(
        r.stdout.contains("mta_sts.policy_unreachable"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("excluded"), "{}", r.stdout);
    // (`was_asked_about` matches substrings, and `_mta-sts.spf-good…` TXT is asked.)
    let policy_host_asked = || {
        lab.dns
            .queries()
            .iter()
            .any(|(n, _)| n == "mta-sts.spf-good.mxray.test")
    };
    assert!(!policy_host_asked());
    assert_eq!(lab.policy_hosts[0].requests(), 0, "no policy request");
    // Control: without the exclusion the same host is asked and answers.
    let mut a = vec!["check".to_owned(), "spf-good.mxray.test".to_owned()];
    a.extend(lab_args(&lab, &dir.path().join("control.db")));
    a.push("--no-relay-test".to_owned());
    let r = mxray_async(a).await;
    assert!(!r.stdout.contains("mta_sts."), "{}", r.stdout);
    assert!(policy_host_asked());
    assert_eq!(lab.policy_hosts[0].requests(), 1);
    // An excluded MX name: no TLSA question about it (discovery does not resolve it, so no
    // host is probed; the host stage skips excluded names too). Control: asked without.
    let dane = |db: &str, exclude: Option<&std::path::Path>| {
        let mut a = vec!["check".to_owned(), "dane-ok.mxray.test".to_owned()];
        a.extend(lab_args(&lab, &dir.path().join(db)));
        a.push("--no-relay-test".to_owned());
        if let Some(e) = exclude {
            a.extend(["--exclude".to_owned(), e.display().to_string()]);
        }
        mxray_async(a)
    };
    let _ = dane("dane.db", Some(&exclude)).await;
    assert!(!lab.dns.was_asked_about("_25._tcp.mx.dane-ok"));
    let r = dane("dane-control.db", None).await;
    assert!(r.stdout.contains("dane.ok"), "{}", r.stdout);
    assert!(lab.dns.was_asked_about("_25._tcp.mx.dane-ok"));
}

/// An MX naming an alias (RFC 2181 §10.3, RFC 5321 §5.1): the lab's DNS answers the CNAME
/// and chases it for A, as a resolver does; the domain gets `dns.mx_cname`, the MX host is
/// still found and probed through the alias, and a domain whose MX is canonical does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_pointing_at_a_cname_is_reported() {
    let lab = mxray_lab::Lab::start(mxray_lab::LabOptions {
        net: [127, 77, 182],
        extra_mx_cname: vec![(
            "mx-alias.lab".into(),
            "mail.mx-alias.lab".into(),
            "host.provider-mx.lab".into(),
            "127.77.182.99".parse().unwrap(),
        )],
        extra: vec![(
            "mx-canonical.lab".into(),
            "host.provider-mx.lab".into(),
            "127.77.182.99".parse().unwrap(),
        )],
        ..mxray_lab::LabOptions::default()
    })
    .await
    .expect("lab");
    let (_dir, _db, ex) =
        crate::exposure::scan_keep(&lab, &["mx-alias.lab", "mx-canonical.lab"], &[], &[]).await;
    let alias = ex.domain("mx-alias.lab");
    let f = finding(alias, "dns.mx_cname").unwrap_or_else(|| panic!("{alias}"));
    assert_eq!(f["severity"], "low");
    let ev = evidence(f);
    assert_eq!(ev[0], "MX 10 mail.mx-alias.lab", "{ev:?}");
    assert_eq!(
        ev[1], "mail.mx-alias.lab CNAME host.provider-mx.lab",
        "{ev:?}"
    );
    assert!(
        f["fix"].as_str().unwrap().contains("host.provider-mx.lab"),
        "{f}"
    );
    assert!(finding(alias, "dns.mx_unresolvable").is_none(), "{alias}");
    assert!(
        ex.host("127.77.182.99").is_some(),
        "the MX host is probed through the alias"
    );
    let canonical = ex.domain("mx-canonical.lab");
    assert!(finding(canonical, "dns.mx_cname").is_none(), "{canonical}");
}
