//! Reputation against the lab: DNSBL answers decoded per list (listings, the "refused" codes,
//! TXT reasons), one question per name, nothing asked about excluded targets. Every DNSBL
//! question goes to the lab DNS.

use crate::harness::*;
use serde_json::Value;
use std::collections::HashMap;

fn findings<'a>(line: &'a Value, id: &str) -> Vec<&'a Value> {
    line["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["id"] == id).collect())
        .unwrap_or_default()
}

fn titles(fs: &[&Value]) -> Vec<String> {
    fs.iter()
        .map(|f| f["title"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn reversed(ip: std::net::IpAddr) -> String {
    ip.to_string()
        .split('.')
        .rev()
        .collect::<Vec<_>>()
        .join(".")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsbl_answers_are_decoded_per_list() {
    let lab = lab([127, 77, 8], vec![]).await;
    let dir = temp();
    let db = dir.path().join("rep.db");
    let refuse_ip = lab.server("refuse").unwrap().addr.ip();
    let excl = write(dir.path(), "exclude.txt", &format!("{refuse_ip}\n"));
    let list = write(
        dir.path(),
        "d.txt",
        "open-relay.mxray.test\naccept-all.mxray.test\nauth-before-tls.mxray.test\ngreylist.mxray.test\nclosed.mxray.test\nshared-1.mxray.test\nshared-2.mxray.test\nhostile.mxray.test\nrefuse.mxray.test\n",
    );
    let mut args = vec![
        "scan".to_owned(),
        list.display().to_string(),
        "--no-relay-test".into(),
        "--dnsbl".into(),
        lab.dnsbl_arg(),
        "--exclude".into(),
        excl.display().to_string(),
    ];
    args.extend(lab_args(&lab, &db));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "scan failed: {}", r.stderr);
    let ex = Export::read(&db);
    let ip = |name: &str| lab.server(name).expect("server").addr.ip().to_string();
    let host = |name: &str| {
        ex.host(&ip(name))
            .unwrap_or_else(|| panic!("no host record for {name}"))
            .clone()
    };

    // ZEN 127.0.0.2 = SBL, with the TXT reason; the generic list decodes its code too.
    let open = host("open-relay");
    let listed = findings(&open, "reputation.ip_listed");
    assert_eq!(listed.len(), 2, "{:?}", titles(&listed));
    let zen = listed
        .iter()
        .find(|f| evidence(f)[0].contains("zen.dnsbl.mxray.test"))
        .expect("ZEN listing");
    assert_eq!(zen["severity"], "high");
    assert!(
        zen["title"]
            .as_str()
            .unwrap()
            .contains("SBL: Spamhaus Block List"),
        "{zen}"
    );
    assert!(
        evidence(zen)
            .iter()
            .any(|e| e.contains("TXT") && e.contains("SBL-LAB-11")),
        "{zen}"
    );
    let generic = listed
        .iter()
        .find(|f| {
            evidence(f)[0].contains("bl.dnsbl.mxray.test") && !evidence(f)[0].contains("dbl.")
        })
        .expect("generic listing");
    assert!(
        generic["title"]
            .as_str()
            .unwrap()
            .contains("listed (code 127.0.0.2)")
    );
    assert_eq!(
        open["observation"]["reputation"]["dnsbl"][0]["query"],
        format!(
            "{}.zen.dnsbl.mxray.test",
            reversed(lab.server("open-relay").unwrap().addr.ip())
        )
    );

    // ZEN .4 = XBL, .10 = PBL (low), .3 = SBL CSS.
    let t = titles(&findings(&host("accept-all"), "reputation.ip_listed"));
    assert!(t.len() == 1 && t[0].contains("XBL"), "{t:?}");
    let auth = host("auth-before-tls");
    let pbl = findings(&auth, "reputation.ip_listed");
    assert_eq!(pbl.len(), 1);
    assert_eq!(pbl[0]["severity"], "low");
    assert!(pbl[0]["title"].as_str().unwrap().contains("PBL"));
    let t = titles(&findings(&host("hostile"), "reputation.ip_listed"));
    assert!(t.len() == 1 && t[0].contains("SBL CSS"), "{t:?}");

    // 127.255.255.254: refused, never a listing.
    let grey = host("greylist");
    assert!(findings(&grey, "reputation.ip_listed").is_empty());
    let refused = findings(&grey, "reputation.query_refused");
    assert_eq!(refused.len(), 1);
    assert!(
        evidence(refused[0])
            .iter()
            .any(|e| e.contains("127.255.255.254") && e.contains("public")),
        "{}",
        refused[0]
    );

    // Not listed anywhere.
    let closed = host("closed");
    assert!(findings(&closed, "reputation.ip_listed").is_empty());
    assert!(findings(&closed, "reputation.query_refused").is_empty());

    // Domain lists: the domain itself, and its MX host name.
    let t = titles(&findings(
        ex.domain("open-relay.mxray.test"),
        "reputation.domain_listed",
    ));
    assert!(
        t.len() == 1 && t[0].contains("open-relay.mxray.test") && t[0].contains("spam domain"),
        "{t:?}"
    );
    let mx_listed = findings(
        ex.domain("accept-all.mxray.test"),
        "reputation.domain_listed",
    );
    assert_eq!(mx_listed.len(), 1);
    assert_eq!(mx_listed[0]["severity"], "critical");
    assert!(
        mx_listed[0]["title"]
            .as_str()
            .unwrap()
            .contains("accept-all-mx.mxray.test")
    );
    // Spamhaus's over-quota code on the DBL and SURBL's own refusal code (127.0.0.1).
    let grey_dom = ex.domain("greylist.mxray.test");
    assert!(findings(grey_dom, "reputation.domain_listed").is_empty());
    assert_eq!(findings(grey_dom, "reputation.query_refused").len(), 1);
    let surbl = findings(ex.domain("closed.mxray.test"), "reputation.query_refused");
    assert_eq!(surbl.len(), 1, "{surbl:?}");
    assert!(
        evidence(surbl[0])[0].contains("127.0.0.1")
            && evidence(surbl[0])[0].contains("query blocked")
    );
    assert!(findings(ex.domain("closed.mxray.test"), "reputation.domain_listed").is_empty());

    // One question per name and type for the whole scan (closed-mx is shared by three domains).
    let mut asked: HashMap<(String, String), usize> = HashMap::new();
    for (name, t) in lab.dns.queries() {
        if name.ends_with("dnsbl.mxray.test") {
            *asked.entry((name, t.to_string())).or_default() += 1;
        }
    }
    assert!(asked.contains_key(&(
        "closed-mx.mxray.test.dbl.dnsbl.mxray.test".to_owned(),
        "A".to_owned()
    )));
    let repeated: Vec<_> = asked.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "asked more than once: {repeated:?}");
    // The excluded address is never asked about, on any list.
    assert!(
        !lab.dns.was_asked_about(&reversed(refuse_ip)),
        "DNSBL or PTR question about excluded {refuse_ip}"
    );

    // Attacker text (a TXT reason with terminal escapes) is escaped on the terminal.
    let mut args = vec![
        "check".to_owned(),
        "hostile.mxray.test".into(),
        "--no-relay-test".into(),
        "--dnsbl".into(),
        lab.dnsbl_arg(),
    ];
    args.extend(lab_args(&lab, &dir.path().join("check.db")));
    let r = mxray_async(args).await;
    assert!(r.stdout.contains("SBL CSS"), "{}", r.stdout);
    assert!(r.stdout.contains("pwned"), "{}", r.stdout);
    assert!(
        !r.stdout.contains('\x1b') && !r.stdout.contains('\x07'),
        "raw escapes on stdout"
    );
}
