//! The TLS version and cipher audit against a real Postfix (Debian's package, OpenSSL 3.0)
//! started by `.ci/tlsaudit.sh`: 127.0.43.1 accepts TLS 1.0 and up with NULL and anonymous
//! suites (security level 0 in that listener only), 127.0.43.2 TLS 1.2 and 1.3 with strong
//! suites only; each on 2525 (STARTTLS) and 4465 (TLS from the first byte). CI sets
//! MXRAY_TEST_TLSAUDIT=1 after starting it.

use crate::harness::*;
use serde_json::Value;

/// The audit's finding ids (the certificate findings about the self-signed test certificate
/// are another check's).
const AUDIT_PREFIXES: [&str; 3] = ["tls.legacy_version", "tls.weak_cipher", "tls.no_tls1"];

/// Audit findings of a host line on `port`, as (id, severity).
fn tls_findings(host: &Value, port: u16) -> Vec<(String, String)> {
    let subject = format!(":{port}");
    let mut v: Vec<(String, String)> = host["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            f["id"]
                .as_str()
                .is_some_and(|i| AUDIT_PREFIXES.iter().any(|p| i.starts_with(p)))
                && f["subject"]["kind"] == "service"
                && f["subject"]["name"]
                    .as_str()
                    .is_some_and(|s| s.ends_with(&subject))
        })
        .map(|f| {
            (
                f["id"].as_str().unwrap_or("").to_owned(),
                f["severity"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The audit of `port` in a host line.
fn audit(host: &Value, port: u16) -> &Value {
    host["observation"]["tls_audit"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["port"] == port))
        .unwrap_or_else(|| panic!("no TLS audit of port {port}: {host}"))
}

/// The results of the offers named `offer`, in order.
fn results<'a>(a: &'a Value, offer: &str) -> Vec<&'a Value> {
    a["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["offer"] == offer)
        .map(|t| &t["result"])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_postfix_legacy_tls_and_weak_suites_are_found_modern_only_is_clean() {
    if !real_part(
        "MXRAY_TEST_TLSAUDIT",
        "a real Postfix with legacy TLS (.ci/tlsaudit.sh)",
    ) {
        return;
    }
    let extra = vec![
        (
            "mxray-tlsweak.lab".to_owned(),
            "mxray-tlsweak.lab".to_owned(),
            "127.0.43.1".parse().unwrap(),
        ),
        (
            "mxray-tlsmodern.lab".to_owned(),
            "mxray-tlsmodern.lab".to_owned(),
            "127.0.43.2".parse().unwrap(),
        ),
    ];
    let lab = lab([127, 77, 120], extra).await;
    let dir = temp();
    let db = dir.path().join("t.db");
    let list = write(
        dir.path(),
        "d.txt",
        "mxray-tlsweak.lab\nmxray-tlsmodern.lab\n",
    );
    let mut args = vec!["scan".to_owned(), list.display().to_string()];
    args.extend(scan_args(lab.dns.addr, 2525, "10", "120", &db));
    args.extend(
        [
            "--smtps",
            "--port",
            "smtps=4465",
            "--tls-audit",
            "--no-exposure",
            "--no-relay-test",
            "--dnsbl-rate",
            "0",
        ]
        .map(str::to_owned),
    );
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ex = Export::read(&db);

    let weak = ex.host("127.0.43.1").expect("weak Postfix probed");
    for port in [2525, 4465] {
        let a = audit(weak, port);
        assert_eq!(a["status"], "success", "{a}");
        assert_eq!(a["service"], "smtp", "{a}");
        assert_eq!(a["implicit_tls"], port == 4465, "{a}");
        // TLS 1.3 and 1.2 are accepted too: the legacy versions come on top.
        assert_eq!(results(a, "tls1.3")[0]["version"], "tls1.3", "{a}");
        assert_eq!(results(a, "tls1.2")[0]["version"], "tls1.2", "{a}");
        assert_eq!(results(a, "tls1.1")[0]["version"], "tls1.1", "{a}");
        let tls10 = results(a, "tls1.0")[0];
        assert_eq!(tls10["result"], "accepted", "{a}");
        assert_eq!(tls10["version"], "tls1.0", "{a}");
        assert_eq!(tls10["class"], "cbc", "{a}");
        // Weak rounds: each accepted class is left out of the next offer; OpenSSL 3.0 on
        // Debian 12 has NULL and anonymous suites, no RC4, 3DES or export ones.
        let weak_classes: Vec<&str> = results(a, "weak-suites")
            .iter()
            .filter_map(|r| r["class"].as_str())
            .collect();
        assert!(weak_classes.contains(&"null"), "{a}");
        assert!(weak_classes.contains(&"anonymous"), "{a}");
        let last = results(a, "weak-suites")
            .last()
            .copied()
            .expect("weak rounds");
        assert_eq!(last["result"], "alert", "no third weak class: {a}");
        assert_eq!(
            tls_findings(weak, port),
            [
                ("tls.legacy_version_1_0".to_owned(), "medium".to_owned()),
                ("tls.legacy_version_1_1".to_owned(), "low".to_owned()),
                ("tls.weak_cipher".to_owned(), "high".to_owned()),
            ],
            "{weak}"
        );
    }
    // NULL counts everywhere; anonymous suites only where TLS is not opportunistic SMTP.
    let title = |port: u16| {
        weak["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| {
                f["id"] == "tls.weak_cipher"
                    && f["subject"]["name"]
                        .as_str()
                        .is_some_and(|s| s.ends_with(&format!(":{port}")))
            })
            .map(|f| f["title"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    assert!(title(2525).contains("(null)"), "{}", title(2525));
    assert!(!title(2525).contains("anonymous"), "{}", title(2525));
    assert!(title(4465).contains("(anonymous)"), "{}", title(4465));

    let modern = ex.host("127.0.43.2").expect("modern Postfix probed");
    for port in [2525, 4465] {
        let a = audit(modern, port);
        assert_eq!(a["status"], "success", "{a}");
        assert_eq!(results(a, "tls1.3")[0]["version"], "tls1.3", "{a}");
        assert_eq!(results(a, "tls1.2")[0]["version"], "tls1.2", "{a}");
        for offer in ["tls1.1", "tls1.0", "weak-suites"] {
            let r = results(a, offer);
            assert_eq!(r.len(), 1, "{offer}: {a}");
            assert_eq!(r[0]["result"], "alert", "{offer}: {a}");
        }
        assert_eq!(tls_findings(modern, port), [], "{modern}");
    }
}
