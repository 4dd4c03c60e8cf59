//! Reputation against the lab: DNSBL answers decoded per list (listings, the "refused" codes,
//! TXT reasons), one question per name, nothing asked about excluded targets; provider
//! tables with a test ASN database and without one. Every DNSBL question goes to the lab DNS.

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
    let r = scan_lab(
        &lab,
        &list,
        &db,
        &[
            "--no-relay-test",
            "--dnsbl",
            &lab.dnsbl_arg(),
            "--exclude",
            &excl.display().to_string(),
        ],
    )
    .await;
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

fn stats(db: &std::path::Path, extra: &[&str]) -> Run {
    let mut args = vec!["stats", "--db"];
    let db = db.display().to_string();
    args.push(&db);
    args.extend_from_slice(extra);
    mxray(&args)
}

fn json_rows(r: &Run) -> (Value, Vec<(String, u64)>) {
    assert_eq!(r.code, 0, "stats failed: {}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("JSON table");
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["domains"].as_u64().unwrap(),
            )
        })
        .collect();
    (v, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_by_provider_with_and_without_an_asn_database() {
    let lab = lab([127, 77, 9], vec![]).await;
    let dir = temp();
    let mmdb = dir.path().join("asn.mmdb");
    // .8-.15 (closed .10, open-relay .11, accept-all .12, greylist .13) and .16-.31.
    std::fs::write(
        &mmdb,
        crate::mmdb::asn_db(&[
            (
                "127.77.9.8".parse().unwrap(),
                29,
                64500,
                "Example Hosting KK",
            ),
            ("127.77.9.16".parse().unwrap(), 28, 64501, "Other Net"),
        ]),
    )
    .unwrap();
    let list = write(
        dir.path(),
        "d.txt",
        "closed.mxray.test\nopen-relay.mxray.test\naccept-all.mxray.test\ngreylist.mxray.test\nauth-before-tls.mxray.test\nshared-1.mxray.test\nshared-2.mxray.test\nimplicit.mxray.test\n",
    );
    let scan = |db: std::path::PathBuf, asn: bool| {
        let mut args = vec![
            "scan".to_owned(),
            list.display().to_string(),
            "--dnsbl".into(),
            lab.dnsbl_arg(),
        ];
        if asn {
            args.extend(["--asn-db".to_owned(), mmdb.display().to_string()]);
        }
        args.extend(lab_args(&lab, &db));
        args
    };
    let with = dir.path().join("with.db");
    let without = dir.path().join("without.db");
    let r = mxray_async(scan(with.clone(), true)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = mxray_async(scan(without.clone(), false)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // With the database: AS numbers and organisations, not heuristic.
    let (v, rows) = json_rows(&stats(&with, &["--by", "provider", "--format", "json"]));
    assert_eq!(
        rows,
        [
            ("AS64500 Example Hosting KK".to_owned(), 7),
            ("AS64501 Other Net".to_owned(), 1)
        ]
    );
    assert_eq!(v["selected"], 8);
    assert_eq!(v["top10_domains"], 8);
    assert_eq!(v["rows"][0]["share"], 0.875);
    assert_eq!(v["rows"][1]["cumulative"], 1.0);
    assert!(v["note"].is_null(), "{v}");
    let ex = Export::read(&with);
    let p = &ex
        .host(&lab.server("closed").unwrap().addr.ip().to_string())
        .unwrap()["observation"]["reputation"]["provider"];
    assert_eq!(
        (
            p["asn"].as_u64(),
            p["source"].as_str(),
            p["heuristic"].as_bool()
        ),
        (Some(64500), Some("asn-db"), Some(false))
    );

    // "Open relays by provider", and how much of the provider's own domains that is.
    let (v, rows) = json_rows(&stats(
        &with,
        &[
            "--by",
            "provider",
            "--finding",
            "smtp.open_relay",
            "--format",
            "json",
        ],
    ));
    assert_eq!(rows, [("AS64500 Example Hosting KK".to_owned(), 1)]);
    assert_eq!(v["rows"][0]["group_domains"], 7);
    assert_eq!(v["selected"], 1);
    assert_eq!(v["scan_domains"], 8);
    let text = stats(&with, &["--by", "provider", "--finding", "smtp.open_relay"]);
    assert!(text.stdout.contains("1/7 14.3%"), "{}", text.stdout);
    assert!(
        text.stdout.contains("top 10: 1 domains, 100.0% of 1"),
        "{}",
        text.stdout
    );

    // Without: registrable domain of the PTR name, else of the MX name, marked heuristic.
    let (v, rows) = json_rows(&stats(&without, &["--by", "provider", "--format", "json"]));
    assert_eq!(
        rows,
        [
            ("mxray.test (heuristic: PTR)".to_owned(), 7),
            ("mxray.test (heuristic: MX name)".to_owned(), 1)
        ]
    );
    assert!(v["note"].as_str().unwrap().contains("heuristic"), "{v}");

    // CSV: one row per group.
    let r = stats(&without, &["--by", "provider", "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut rd = csv::Reader::from_reader(r.stdout.as_bytes());
    let recs: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(&recs[1][4], "mxray.test (heuristic: MX name)");
    assert_eq!(&recs[0][5], "7");

    // Findings and block lists; software from the greeting; no OS data yet.
    let (_, rows) = json_rows(&stats(&with, &["--by", "finding", "--format", "json"]));
    assert!(
        rows.contains(&("smtp.open_relay".to_owned(), 1)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("reputation.ip_listed".to_owned(), 3)),
        "{rows:?}"
    );
    let (_, rows) = json_rows(&stats(&with, &["--by", "dnsbl", "--format", "json"]));
    assert!(
        rows.contains(&("spamhaus-zen (zen.dnsbl.mxray.test)".to_owned(), 3)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("spamhaus-dbl (dbl.dnsbl.mxray.test)".to_owned(), 2)),
        "{rows:?}"
    );
    // The lab's own banners match no signature: software and OS come from fingerprints only.
    let (_, rows) = json_rows(&stats(&with, &["--by", "software", "--format", "json"]));
    assert_eq!(rows, [("(none identified)".to_owned(), 8)], "{rows:?}");
    let os = stats(&with, &["--by", "os"]);
    assert_eq!(os.code, 0);
    assert!(
        os.stdout.contains("no host of this scan was fingerprinted"),
        "{}",
        os.stdout
    );
    // Operator errors: exit 2 with a message.
    let bad = stats(&dir.path().join("missing.db"), &["--by", "provider"]);
    assert_eq!(bad.code, 2);
    let mut args = scan(dir.path().join("x.db"), false);
    let i = args.iter().position(|a| a == "--dnsbl").unwrap();
    args[i + 1] = "zone.test=no-such-list".into();
    let r = mxray_async(args).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("unknown list id"), "{}", r.stderr);
}
