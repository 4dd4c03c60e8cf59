//! DNSSEC verdicts on zones really signed by BIND, behind a validating Unbound and a
//! non-validating one (`.ci/dnssec.sh`, which CI starts and names in MXRAY_TEST_DNSSEC=DIR;
//! DIR/root.ds is the test root's DS, given to mxray as `--trust-anchor`):
//! signed.test (dnssec-policy, DS at the root matches), broken.test (the root's DS is of
//! another key), unsigned.test, tampered.test (the TLSA's RRSIG altered). Each zone
//! publishes a TLSA record for its MX, the shared Postfix at 127.0.25.1:2525. Through the validating resolver mxray trusts the AD bit (it is
//! on loopback) and validates what fails; through the other it validates everything itself:
//! the verdicts must be the same.

use crate::harness::*;
use serde_json::Value;

const VALIDATING: &str = "127.0.58.2:5300";
const NOT_VALIDATING: &str = "127.0.58.3:5300";
const MX: &str = "127.0.25.1";

struct Scanned {
    domain: Value,
    mx: Option<Value>,
}

/// Scans `zone` through `resolver` with the test root as trust anchor; `None`: skipped.
async fn scan_zone(zone: &str, resolver: &str) -> Option<Scanned> {
    if !real_part(
        "MXRAY_TEST_DNSSEC",
        "signed zones behind Unbound (.ci/dnssec.sh)",
    ) {
        return None;
    }
    let dir = std::path::PathBuf::from(std::env::var("MXRAY_TEST_DNSSEC").expect("set"));
    let anchor = dir.join("root.ds");
    assert!(anchor.exists(), "{} missing", anchor.display());
    let tmp = temp();
    let db = tmp.path().join("d.db");
    let list = write(tmp.path(), "d.txt", &format!("{zone}\n"));
    let mut args = vec!["scan".to_owned(), list.display().to_string()];
    args.extend(scan_args(resolver.parse().unwrap(), 2525, "5", "30", &db));
    args.extend([
        "--trust-anchor".to_owned(),
        anchor.display().to_string(),
        "--no-relay-test".to_owned(),
    ]);
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ex = Export::read(&db);
    Some(Scanned {
        domain: ex.domain(zone).clone(),
        mx: ex.host(MX).cloned(),
    })
}

fn validation(s: &Scanned) -> &Value {
    &s.domain["observation"]["mail_auth"]["dnssec"]["validation"]
}

fn ids(line: &Value, prefix: &str) -> Vec<String> {
    finding_ids_with(line, &[prefix])
}

/// The TLSA lookups recorded on the MX host and their DNSSEC verdicts.
fn tlsa_status(s: &Scanned) -> Vec<String> {
    let mx = s.mx.as_ref().expect("the MX host was probed");
    mx["observation"]["tlsa"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            t["validation"]["status"]
                .as_str()
                .unwrap_or("none")
                .to_owned()
        })
        .collect()
}

async fn signed(resolver: &str, by: &str) {
    let Some(s) = scan_zone("signed.test", resolver).await else {
        return;
    };
    let v = validation(&s);
    assert_eq!(v["status"], "secure", "{v:#}");
    assert_eq!(v["by"], by, "{v:#}");
    assert!(
        ids(&s.domain, "dnssec.").is_empty(),
        "{:#}",
        s.domain["findings"]
    );
    assert_eq!(tlsa_status(&s), ["secure"]);
    // The TLSA is trusted, so it is checked against the certificate: its data matches
    // nothing Postfix presents (or Postfix offers no STARTTLS): a mismatch, not "unsigned".
    if std::env::var_os("MXRAY_TEST_POSTFIX").is_some() {
        let mx = s.mx.as_ref().expect("MX probed");
        assert_eq!(ids(mx, "dane."), ["dane.mismatch"], "{:#}", mx["findings"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dnssec_signed_zone_via_validating_unbound_is_secure() {
    signed(VALIDATING, "resolver").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dnssec_signed_zone_via_non_validating_unbound_is_secure_by_mxray() {
    signed(NOT_VALIDATING, "mxray").await;
}

async fn broken(resolver: &str) -> Option<Scanned> {
    let s = scan_zone("broken.test", resolver).await?;
    let v = validation(&s);
    assert_eq!(v["status"], "bogus", "{v:#}");
    assert_eq!(v["by"], "mxray", "{v:#}");
    assert_eq!(v["problem"], "ds-mismatch", "{v:#}");
    assert_eq!(v["at"], "broken.test", "{v:#}");
    assert_eq!(ids(&s.domain, "dnssec."), ["dnssec.bogus"]);
    let f = finding(&s.domain, "dnssec.bogus").expect("bogus finding");
    assert_eq!(f["severity"], "high");
    let ev = evidence(f);
    assert!(
        ev.iter()
            .any(|l| l.starts_with("DNSKEY broken.test:") && l.contains("none matches a DS")),
        "{ev:#?}"
    );
    Some(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dnssec_broken_zone_via_validating_unbound_is_bogus() {
    let Some(s) = broken(VALIDATING).await else {
        return;
    };
    // The validating resolver refuses the whole zone: its MX cannot even be found, so no
    // mail host is probed (and no DANE is checked).
    assert!(s.mx.is_none(), "{:?}", s.mx);
    let mx = &s.domain["observation"]["mx"];
    assert_eq!(mx["status"], "unknown", "{mx}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dnssec_broken_zone_via_non_validating_unbound_is_bogus_and_dane_not_trusted() {
    let Some(s) = broken(NOT_VALIDATING).await else {
        return;
    };
    // The resolver hands out the TLSA record; mxray finds it bogus and does not check
    // certificates against it.
    assert_eq!(tlsa_status(&s), ["bogus"]);
    let mx = s.mx.as_ref().expect("MX probed");
    assert_eq!(ids(mx, "dane."), ["dane.bogus"], "{:#}", mx["findings"]);
}

async fn unsigned(resolver: &str) {
    let Some(s) = scan_zone("unsigned.test", resolver).await else {
        return;
    };
    let v = validation(&s);
    assert_eq!(v["status"], "insecure", "{v:#}");
    assert_eq!(v["by"], "mxray", "{v:#}");
    assert_eq!(v["problem"], "no-ds", "{v:#}");
    assert_eq!(ids(&s.domain, "dnssec."), ["dnssec.unsigned"]);
    // A TLSA record in an insecure zone is not usable (RFC 7672 §2.2).
    assert_eq!(tlsa_status(&s), ["insecure"]);
    let mx = s.mx.as_ref().expect("MX probed");
    assert_eq!(ids(mx, "dane."), ["dane.unsigned"], "{:#}", mx["findings"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dnssec_unsigned_zone_via_validating_unbound_is_insecure() {
    unsigned(VALIDATING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dnssec_unsigned_zone_via_non_validating_unbound_is_insecure() {
    unsigned(NOT_VALIDATING).await;
}

/// tampered.test: the chain of trust holds, but the TLSA record's RRSIG was altered after
/// signing: the zone is secure, its TLSA bogus (validating resolvers answer SERVFAIL for it),
/// and DANE must not be checked against it.
async fn tampered(resolver: &str) {
    let Some(s) = scan_zone("tampered.test", resolver).await else {
        return;
    };
    let v = validation(&s);
    assert_eq!(v["status"], "secure", "{v:#}");
    assert!(
        ids(&s.domain, "dnssec.").is_empty(),
        "{:#}",
        s.domain["findings"]
    );
    let mx = s.mx.as_ref().expect("MX probed");
    let t = &mx["observation"]["tlsa"][0];
    assert_eq!(t["validation"]["status"], "bogus", "{t:#}");
    assert_eq!(t["validation"]["by"], "mxray", "{t:#}");
    assert_eq!(t["validation"]["problem"], "bad-signature", "{t:#}");
    assert_eq!(ids(mx, "dane."), ["dane.bogus"], "{:#}", mx["findings"]);
    let f = finding(mx, "dane.bogus").expect("dane.bogus");
    assert_eq!(f["severity"], "high");
    assert!(
        evidence(f)
            .iter()
            .any(|l| l.contains("signature does not verify")),
        "{:#?}",
        evidence(f)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dnssec_tampered_tlsa_signature_via_validating_unbound_is_bogus_dane() {
    tampered(VALIDATING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dnssec_tampered_tlsa_signature_via_non_validating_unbound_is_bogus_dane() {
    tampered(NOT_VALIDATING).await;
}
