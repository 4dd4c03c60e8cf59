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
    ("spf-none", "mta_sts.missing", "info"),
    ("spf-none", "tlsrpt.missing", "info"),
    ("spf-softfail", "mta_sts.invalid", "low"),
    ("spf-good", "dkim.short_key", "low"),
    ("spf-none", "dkim.none_found", "info"),
    ("spf-none", "caa.missing", "info"),
];

fn spf_ids(line: &serde_json::Value) -> Vec<String> {
    line["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str())
        .filter(|id| {
            ["spf.", "dmarc.", "mta_sts.", "tlsrpt."]
                .iter()
                .any(|p| id.starts_with(p))
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_lint_findings_in_the_export() {
    let lab = lab([127, 77, 8], vec![]).await;
    let dir = temp();
    let db = dir.path().join("spf.db");
    let list: String = lab
        .domains
        .iter()
        .filter(|d| d.domain.starts_with("spf-"))
        .map(|d| format!("{}\n", d.domain))
        .collect();
    let file = write(dir.path(), "domains.txt", &list);
    let mut args = vec!["scan".to_owned(), file.display().to_string()];
    args.extend(lab_args(&lab, &db));
    args.push("--no-relay-test".into());
    let r = mxray_async(args).await;
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
