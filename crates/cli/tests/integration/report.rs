//! The HTML report as a person sees it: opened in headless Chromium (Debian's package, started
//! by .ci/run; MXRAY_TEST_CHROMIUM=1), with a hostile banner in the scan. And `mxray diff`.

use crate::harness::*;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

/// `--dump-dom` of a local file with the network-free flags from shared/NOTES.md; returns the
/// DOM after scripts ran and the console lines Chromium logged.
pub(crate) fn open_in_chromium(file: &std::path::Path) -> (String, Vec<String>) {
    let profile = temp();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            &format!("file://{}", file.display()),
        ])
        .output()
        .expect("run chromium");
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_owned)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_opens_in_chromium_and_hostile_banners_stay_text() {
    if !real_part("MXRAY_TEST_CHROMIUM", "Debian's Chromium") {
        return;
    }
    let lab = lab([127, 77, 13], vec![]).await;
    let dir = temp();
    // Control: a page that errors must show up in the console capture, or the check below
    // could never fail.
    let bad = write(
        dir.path(),
        "bad.html",
        "<html><body><script>undefined_fn();</script></body></html>",
    );
    let (_, console) = open_in_chromium(&bad);
    assert!(
        console.iter().any(|l| l.contains("undefined_fn")),
        "console capture works: {console:?}"
    );
    let db = dir.path().join("r.db");
    let list = write(
        dir.path(),
        "d.txt",
        "hostile.mxray.test\nopen-relay.mxray.test\nclosed.mxray.test\nprivate-mx.mxray.test\n",
    );
    let mut args = vec!["scan".to_owned(), list.display().to_string()];
    args.extend(lab_args(&lab, &db));
    assert_eq!(mxray_async(args).await.code, 0);
    for (lang, heading) in [
        ("en", "Domains by their worst finding"),
        ("ja", "最も深刻な検出別のドメイン数"),
    ] {
        let html = dir.path().join(format!("report-{lang}.html"));
        report_html(&db, lang, &html);
        let (dom, console) = open_in_chromium(&html);
        assert!(console.is_empty(), "console messages: {console:?}");
        assert!(
            dom.contains(&format!("<html lang=\"{lang}\" data-ready=\"1\">")),
            "the report's own script ran: {}",
            &dom[..200.min(dom.len())]
        );
        let title = dom
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or("");
        assert!(
            title.starts_with("mxray") && !title.contains("pwned"),
            "title changed: {title}"
        );
        assert!(dom.contains(heading), "{lang} heading");
        // The four overview charts, then the survey pages' own.
        for id in [
            "chart-severity",
            "chart-findings",
            "chart-providers",
            "chart-software",
        ] {
            assert_eq!(dom.matches(&format!("id=\"{id}\"")).count(), 1, "{id}");
        }
        assert!(dom.matches("<svg").count() > 4, "survey charts");
        assert!(dom.contains("smtp.open_relay"));
        // The hostile banner is visible as text, never as markup.
        assert!(
            dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
            "hostile text shown"
        );
        assert!(!dom.contains("<img src=\"x\""), "injected element created");
        assert!(
            dom.contains("\\x1b[2J"),
            "control characters shown as escapes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_what_regressed_and_what_was_fixed() {
    let lab = lab([127, 77, 14], vec![]).await;
    let dir = temp();
    let db = dir.path().join("d.db");
    let list = write(
        dir.path(),
        "d.txt",
        "open-relay.mxray.test\nclosed.mxray.test\n",
    );
    let base = |extra: &[&str]| {
        let mut a = vec!["scan".to_owned(), list.display().to_string()];
        a.extend(lab_args(&lab, &db));
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    assert_eq!(mxray_async(base(&["--no-relay-test"])).await.code, 0); // scan 1: relay not tested
    assert_eq!(mxray_async(base(&[])).await.code, 0); // scan 2: the open relay shows up
    let r = mxray(&[
        "diff",
        "1",
        "2",
        "--db",
        &db.display().to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // Scan 1 did not run the relay test: the relay found by scan 2 is not a regression it can
    // prove, so it is "not compared", and the option that differs is shown.
    assert_eq!(v["new_findings"], 0, "{v}");
    assert_eq!(v["not_compared"], 1, "{v}");
    assert_eq!(v["resolved"], 0);
    assert_eq!(v["options_differ"][0]["option"], "relay_test", "{v}");
    let d = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "open-relay.mxray.test")
        .unwrap();
    assert_eq!(d["not_compared"][0]["id"], "smtp.open_relay");
    assert_eq!(d["not_compared"][0]["in_scan"], "new");
    assert!(
        d["unchanged"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "smtp.vrfy_enabled")
    );
    // Reversed ids are put in time order (and said so): a relay test that was dropped never
    // reads as a fix.
    let r = mxray(&["diff", "2", "1", "--db", &db.display().to_string()]);
    assert!(!r.stdout.contains("RESOLVED"), "{}", r.stdout);
    assert!(r.stdout.contains("compared in time order"), "{}", r.stdout);
    assert!(
        r.stdout.contains("scan 1 → scan 2: 0 new, 0 resolved"),
        "{}",
        r.stdout
    );
    let r = mxray(&["diff", "1", "9", "--db", &db.display().to_string()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no scan 9"), "{}", r.stderr);
}

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start}"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// The report shows each host's fingerprinted software, version and OS guess, and counts
/// products on the summary, from the stored fingerprint tables; an unknown banner gives no
/// software line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_shows_software_per_host_and_by_product() {
    let exim = IpAddr::V4(Ipv4Addr::new(127, 77, 16, 30));
    let lab = lab(
        [127, 77, 16],
        vec![("exim.mxray.test".into(), "exim-mx.mxray.test".into(), exim)],
    )
    .await;
    let _exim = product_smtp(
        &lab,
        exim,
        "ESMTP Exim 4.96 Ubuntu Tue, 24 Nov 2026 10:00:00 +0000",
        "exim-mx.mxray.test",
        "mxray.test",
    )
    .await;
    let dir = temp();
    let db = dir.path().join("sw.db");
    let list = write(dir.path(), "d.txt", "exim.mxray.test\nclosed.mxray.test\n");
    let r = scan_lab(&lab, &list, &db, &["--no-relay-test"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (lang, chart_title, os_label) in [
        ("en", "Software by product", "OS guess"),
        ("ja", "製品別のソフトウェア", "OS の推定"),
    ] {
        let html = report_html(&db, lang, &dir.path().join(format!("report-{lang}.html")));
        let host = between(&html, &format!("id=\"h-{exim}\""), "</section>");
        assert!(host.contains("<code>Exim 4.96</code>"), "{host}");
        assert!(host.contains("smtp-greeting"), "{host}");
        assert!(
            host.contains(&format!("<b>{os_label}:</b> Ubuntu")),
            "{host}"
        );
        let table = between(&html, "<table id=\"software-table\"", "</table>");
        assert!(
            table.contains("<tr><td>Exim</td><td><code>4.96</code></td><td>1</td></tr>"),
            "{table}"
        );
        let chart = between(&html, "id=\"chart-software\"", "</svg>");
        assert!(
            chart.contains(chart_title) && chart.contains(">Exim</text>"),
            "{chart}"
        );
        // The lab's closed server says only `mxray-lab`: no software line for it.
        let closed = Ipv4Addr::new(127, 77, 16, 10); // the lab's `closed` server
        let other = between(&html, &format!("id=\"h-{closed}\""), "</section>");
        assert!(!other.contains("sw-line"), "{other}");
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the report's own script"
        );
    }
}
