//! The survey report a CSIRT would publish and `mxray notify` (issue 21): the report's
//! provider tables equal `stats --by provider --finding`, its adoption figures equal counts
//! of the checks' own findings in the store, and each provider's notice holds only that
//! provider's hosts.

use crate::harness::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rows `(first cell, second cell)` of the data table with this id in a report page.
fn table(html: &str, id: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("<div class=\"datatable\" id=\"{id}\">"))
        .unwrap_or_else(|| panic!("table {id} in the page"));
    let body = &html[start..];
    let body = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("<td>")
                .skip(1)
                .map(|c| c.split("</td>").next().unwrap_or(""))
                .collect();
            (cells[0].to_owned(), cells[1].to_owned())
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

fn stats_rows(db: &Path, finding: &str) -> Vec<(String, u64)> {
    let r = mxray(&[
        "stats",
        "--db",
        &db.display().to_string(),
        "--by",
        "provider",
        "--finding",
        finding,
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .take(10)
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["domains"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Domains with a finding, counted in the store by SQL (domain findings only: the adoption
/// checks are about the domain's own DNS).
async fn with_finding(db: &Path, id: &str) -> u64 {
    count(
        db,
        &format!("SELECT COUNT(DISTINCT domain) FROM findings WHERE check_id = '{id}' AND domain IS NOT NULL"),
    )
    .await as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_pages_match_the_store_and_notices_stay_per_provider() {
    let lab = lab([127, 77, 170], vec![]).await;
    let dir = temp();
    let mmdb = dir.path().join("asn.mmdb");
    std::fs::write(
        &mmdb,
        crate::mmdb::asn_db(&[
            (
                "127.77.170.8".parse().unwrap(),
                29,
                64500,
                "Example Hosting KK",
            ),
            ("127.77.170.16".parse().unwrap(), 28, 64501, "Other Net"),
        ]),
    )
    .unwrap();
    let list = write(
        dir.path(),
        "d.txt",
        "closed.mxray.test\nopen-relay.mxray.test\naccept-all.mxray.test\ngreylist.mxray.test\nauth-before-tls.mxray.test\nshared-1.mxray.test\nshared-2.mxray.test\nimplicit.mxray.test\n",
    );
    let db = dir.path().join("s.db");
    let r = scan_lab(
        &lab,
        &list,
        &db,
        &[
            "--dnsbl",
            &lab.dnsbl_arg(),
            "--asn-db",
            &mmdb.display().to_string(),
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    for lang in ["en", "ja"] {
        let html = report_html(&db, lang, &dir.path().join(format!("report-{lang}.html")));
        assert!(
            !html.contains("not measured in this scan")
                && !html.contains("このスキャンでは調べていません")
        );
        // The full tables beside the page: one row per domain and per host.
        let csv =
            std::fs::read_to_string(dir.path().join(format!("report-{lang}-domains.csv"))).unwrap();
        assert_eq!(csv.lines().count(), 1 + 8, "{csv}");
        assert!(html.contains(&format!("report-{lang}-domains.csv")));

        // Provider tables: the same rows as `stats --by provider --finding`, for every finding
        // that has one (and the open relay must have one).
        let mut seen = 0;
        for id in ["smtp.open_relay", "smtp.auth_before_tls"] {
            let want = stats_rows(&db, id);
            if want.is_empty() {
                continue;
            }
            let got: Vec<(String, u64)> = table(&html, &format!("prov-{id}"))
                .into_iter()
                .filter(|(p, _)| !p.starts_with("Top ten") && !p.starts_with("上位"))
                .map(|(p, n)| (unescape(&p), n.parse().unwrap()))
                .collect();
            assert_eq!(got, want, "{lang} {id}");
            seen += 1;
        }
        assert!(seen >= 1, "no provider table compared");
    }

    // Adoption: the report's figures equal the domains the checks flagged, counted in the store.
    let html = std::fs::read_to_string(dir.path().join("report-en.html")).unwrap();
    let rows = |id: &str| -> BTreeMap<String, u64> {
        table(&html, id)
            .into_iter()
            .map(|(k, n)| (unescape(&k), n.parse().unwrap()))
            .collect()
    };
    let spf = rows("adoption-spf");
    let dmarc = rows("adoption-dmarc");
    let sts = rows("adoption-mta-sts");
    let rpt = rows("adoption-tls-rpt");
    let pairs = [
        (spf.get("no SPF record"), "spf.missing"),
        (spf.get("+all (anyone may send)"), "spf.pass_all"),
        (spf.get("~all (softfail)"), "spf.softfail_all"),
        (spf.get("?all (neutral)"), "spf.neutral_all"),
        (dmarc.get("no DMARC record"), "dmarc.missing"),
        (dmarc.get("p=none"), "dmarc.policy_none"),
        (sts.get("not published"), "mta_sts.missing"),
        (rpt.get("not published"), "tlsrpt.missing"),
    ];
    let mut nonzero = 0;
    for (got, id) in pairs {
        let want = with_finding(&db, id).await;
        assert_eq!(got.copied().unwrap_or(0), want, "adoption row for {id}");
        nonzero += u64::from(want > 0);
    }
    assert!(
        nonzero >= 2,
        "the lab has domains without SPF/DMARC/MTA-STS"
    );
    // Every surveyed domain is in each adoption table exactly once.
    for t in [&spf, &dmarc, &sts, &rpt] {
        assert_eq!(t.values().sum::<u64>(), 8, "{t:?}");
    }

    // Notices: one per provider, each naming only its own hosts.
    let owner = |ip: &str| -> &str {
        let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
        match last {
            8..=15 => "as64500",
            16..=31 => "as64501",
            _ => "other",
        }
    };
    let notices = dir.path().join("notices");
    let r = mxray(&[
        "notify",
        "--db",
        &db.display().to_string(),
        "--by",
        "provider",
        "--min-severity",
        "low",
        "-o",
        &notices.display().to_string(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names: BTreeSet<String> = std::fs::read_dir(&notices)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let htmls: Vec<&String> = names.iter().filter(|n| n.ends_with(".html")).collect();
    assert!(htmls.len() >= 2, "{names:?}");
    let relay_ip = lab.server("open-relay").unwrap().addr.ip().to_string();
    let mut relay_in = Vec::new();
    for h in &htmls {
        let stem = h.trim_end_matches(".html");
        assert!(names.contains(&format!("{stem}.csv")) && names.contains(&format!("{stem}.txt")));
        let me = stem.split('_').next().unwrap();
        for ext in ["html", "csv", "txt"] {
            let text = std::fs::read_to_string(notices.join(format!("{stem}.{ext}"))).unwrap();
            for ip in text
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .filter(|w| w.starts_with("127.77.170."))
            {
                assert_eq!(owner(ip.trim_end_matches('.')), me, "{ip} in {stem}.{ext}");
            }
            if ext == "html" && text.contains(&relay_ip) {
                relay_in.push(stem.to_owned());
            }
        }
    }
    assert_eq!(
        relay_in,
        [owner(&relay_ip).to_owned() + "_example_hosting_kk"]
    );
    let note = std::fs::read_to_string(notices.join(format!("{}.txt", relay_in[0]))).unwrap();
    assert!(note.contains("smtp.open_relay"), "{note}");

    // --by domain, in Japanese: the open relay's domain gets its notice with the relay.
    let by_domain = dir.path().join("by-domain");
    let r = mxray(&[
        "notify",
        "--db",
        &db.display().to_string(),
        "--by",
        "domain",
        "--lang",
        "ja",
        "-o",
        &by_domain.display().to_string(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(by_domain.join("open-relay.mxray.test.html")).unwrap();
    assert!(page.contains("第三者中継") && page.contains(&relay_ip));
    assert!(!page.contains("closed.mxray.test"));
}

/// A survey-sized report (3,000 simulated domains here; 200,000 in docs/BENCHMARKS.md) loads
/// in Chromium without a console error, with the survey sections and at most the page's
/// share of domain rows in the DOM (the rest are in the CSV beside it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_report_loads_in_chromium() {
    if !real_part("MXRAY_TEST_CHROMIUM", "Debian's Chromium") {
        return;
    }
    use mxray_lab::sim::{SimOptions, Simulation};
    let sim = Simulation::start(SimOptions {
        domains: 3_000,
        ips: 60,
        net: [127, 77],
        first_block: 171,
        zipf: 0.0,
        latency_median: std::time::Duration::from_millis(1),
        seed: 21,
        ..SimOptions::default()
    })
    .await
    .expect("simulation on loopback");
    let dir = temp();
    let list = write(dir.path(), "sim.txt", &sim.list);
    let db = dir.path().join("sim.db");
    let mut args = vec!["scan".to_owned(), list.display().to_string()];
    args.extend(scan_args(sim.dns.addr, sim.smtp_port, "3", "8", &db));
    args.extend(["--no-dnsbl", "--concurrency", "64", "--per-net", "0"].map(str::to_owned));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.path().join("big.html");
    let r = mxray(&[
        "report",
        "--db",
        &db.display().to_string(),
        "-o",
        &out.display().to_string(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let csv = std::fs::read_to_string(dir.path().join("big-domains.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3_000);
    let (dom, console) = crate::report::open_in_chromium(&out);
    assert!(console.is_empty(), "console: {console:?}");
    for id in [
        "survey-summary",
        "survey-providers",
        "survey-census",
        "survey-adoption",
        "survey-dnsbl",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "{id} missing");
    }
    let table = &dom[dom.find("<table id=\"domains\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let rows = table.matches("<tr>").count();
    assert!(
        (2..=1_001).contains(&rows),
        "{rows} rows in the domain table"
    );
}

/// The same scan stored in SQLite and in PostgreSQL gives the same report, the same CSV
/// tables and the same notices (the survey pass pages both stores in their own name order;
/// the test server uses the C collation, as SQLite sorts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_give_the_same_report() {
    let Some(server) = crate::survey::pg_server() else {
        return;
    };
    let lab = lab([127, 77, 172], vec![]).await;
    let dir = temp();
    // Every address here is reached through one MX name only: two scans may probe a host
    // that several names lead to before or after the second name is known (its TLSA
    // questions, and so its findings, differ), which is the scan's timing, not the store's.
    // (`implicit.mxray.test` reaches closed-mx's address under its own name.)
    let list = write(
        dir.path(),
        "d.txt",
        "closed.mxray.test\nopen-relay.mxray.test\naccept-all.mxray.test\nauth-before-tls.mxray.test\nshared-1.mxray.test\nshared-2.mxray.test\n",
    );
    let lite = dir.path().join("s.db").display().to_string();
    let pg = crate::survey::fresh_db(&server, "report").await;
    for db in [&lite, &pg] {
        let mut args = vec![
            "scan".to_owned(),
            list.display().to_string(),
            "--dnsbl".into(),
            lab.dnsbl_arg(),
        ];
        // The lab CA is written beside the database path: a file path for both, then the
        // database itself swapped in.
        let mut more = lab_args(&lab, &dir.path().join("ca-for.db"));
        let at = more.iter().position(|a| a == "--db").unwrap();
        more[at + 1] = db.clone();
        args.extend(more);
        let r = mxray_async(args).await;
        assert_eq!(r.code, 0, "{db}: {}", r.stderr);
    }
    let outputs = |db: &str, tag: &str| -> (String, String, String, BTreeMap<String, String>) {
        let out = dir.path().join(format!("{tag}.html"));
        let r = mxray(&["report", "--db", db, "-o", &out.display().to_string()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let html = std::fs::read_to_string(&out).unwrap();
        // The header names the scan and its start time: everything after it must agree.
        // (The CSV files beside it are named after the page.)
        let body = html[html.find("<main>").unwrap()..].replace(&format!("{tag}-"), "T-");
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        let notices = dir.path().join(format!("{tag}-notices"));
        let r = mxray(&[
            "notify",
            "--db",
            db,
            "--min-severity",
            "low",
            "-o",
            &notices.display().to_string(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let files = std::fs::read_dir(&notices)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let text = std::fs::read_to_string(e.path()).unwrap();
                let text = match text.find("<main>") {
                    Some(i) => text[i..].to_owned(),
                    None => text.lines().skip(3).collect::<Vec<_>>().join("\n"),
                };
                (e.file_name().to_string_lossy().into_owned(), text)
            })
            .collect();
        (
            body,
            read(&format!("{tag}-domains.csv")),
            read(&format!("{tag}-hosts.csv")),
            files,
        )
    };
    let a = outputs(&lite, "lite");
    let b = outputs(&pg, "pg");
    assert_eq!(a.1, b.1, "domain tables differ");
    assert_eq!(a.2, b.2, "host tables differ");
    assert!(a.1.lines().count() == 7 && a.0.contains("survey-adoption"));
    let first_diff =
        a.0.lines()
            .zip(b.0.lines())
            .find(|(x, y)| x != y)
            .map(|(x, y)| format!("sqlite: {x}\npostgres: {y}"));
    assert!(first_diff.is_none(), "report pages differ:\n{first_diff:?}");
    assert!(!a.3.is_empty());
    assert_eq!(a.3, b.3, "notices differ");
}
