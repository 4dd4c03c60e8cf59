//! Safety: excluded targets see no packet; hostile servers cost at most the deadline.

use crate::harness::*;
use std::sync::atomic::Ordering;

/// `mxray scan LIST --exclude EXCL` with the usual lab options.
async fn scan_excluding(
    lab: &mxray_lab::Lab,
    list: &std::path::Path,
    db: &std::path::Path,
    excl: &std::path::Path,
) -> Run {
    scan_lab(lab, list, db, &["--exclude", &excl.display().to_string()]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_domains_get_no_dns_query_and_excluded_ips_no_connection() {
    let lab = lab([127, 77, 3], vec![]).await;
    let dir = temp();
    let db = dir.path().join("x.db");
    let closed_ip = lab.server("closed").unwrap().addr.ip();
    let relay_ip = lab.server("open-relay").unwrap().addr.ip();
    let excl = write(
        dir.path(),
        "exclude.txt",
        &format!(
            "# never touch\nopen-relay.mxray.test\n{closed_ip}\n{}/32\ntarpit-mx.mxray.test\n",
            lab.server("auth-before-tls").unwrap().addr.ip()
        ),
    );
    let list = write(
        dir.path(),
        "d.txt",
        "open-relay.mxray.test\nclosed.mxray.test\nshared-1.mxray.test\nauth-before-tls.mxray.test\ntarpit.mxray.test\ngreylist.mxray.test\n",
    );
    let r = scan_excluding(&lab, &list, &db, &excl).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The excluded domain: not one DNS question mentions it, its server saw nothing.
    assert!(
        !lab.dns.was_asked_about("open-relay"),
        "queries: {:?}",
        lab.dns.queries()
    );
    assert_eq!(
        lab.server("open-relay")
            .unwrap()
            .stats
            .connections
            .load(Ordering::SeqCst),
        0
    );
    // An excluded MX host name is not resolved either.
    assert!(
        !lab.dns.was_asked_about("tarpit-mx"),
        "queries: {:?}",
        lab.dns.queries()
    );
    assert!(lab.dns.was_asked_about("tarpit.mxray.test"));
    // Excluded IPs and CIDRs: looked-up domains pointing at them, no connection.
    for name in ["closed", "auth-before-tls", "tarpit"] {
        assert_eq!(
            lab.server(name)
                .unwrap()
                .stats
                .connections
                .load(Ordering::SeqCst),
            0,
            "{name} was contacted"
        );
    }
    // No reverse lookup about an excluded address either.
    let rev = closed_ip
        .to_string()
        .split('.')
        .rev()
        .collect::<Vec<_>>()
        .join(".");
    assert!(
        !lab.dns.was_asked_about(&rev),
        "PTR asked for excluded {closed_ip}"
    );
    // Not excluded: probed as usual.
    assert!(
        lab.server("greylist")
            .unwrap()
            .stats
            .connections
            .load(Ordering::SeqCst)
            > 0
    );

    let ex = Export::read(&db);
    assert_eq!(ex.domain("open-relay.mxray.test")["status"], "excluded");
    let skipped = &ex.domain("closed.mxray.test")["observation"]["skipped"][0];
    assert_eq!(skipped["reason"], "excluded");
    assert!(ex.host(&closed_ip.to_string()).is_none());
    assert!(ex.host(&relay_ip.to_string()).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_endless_servers_cost_at_most_the_host_deadline() {
    let lab = lab([127, 77, 4], vec![]).await;
    let dir = temp();
    let db = dir.path().join("d.db");
    let list = write(
        dir.path(),
        "d.txt",
        "silent.mxray.test\nendless.mxray.test\n",
    );
    // Step timeout far beyond the host deadline: only the deadline can end the silent probe.
    let mut args = vec!["scan".to_owned(), list.display().to_string()];
    args.extend(scan_args(lab.dns.addr, lab.smtp_port, "600", "3", &db));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ex = Export::read(&db);
    let silent = ex
        .host(&lab.server("silent").unwrap().addr.ip().to_string())
        .unwrap();
    let s = &silent["observation"]["smtp"][0];
    assert_eq!(
        s["status"], "deadline",
        "the host deadline, not the 600 s step timeout, ended it: {s}"
    );
    assert!(
        s["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"] == "host deadline reached")
    );
    let endless = ex
        .host(&lab.server("endless").unwrap().addr.ip().to_string())
        .unwrap();
    let e = &endless["observation"]["smtp"][0];
    assert_eq!(e["status"], "protocol-mismatch", "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .starts_with("line longer than 4096 bytes"),
        "{e}"
    );
    // The endless server kept writing; the scanner stopped reading at the cap and hung up.
    assert_eq!(
        lab.server("endless")
            .unwrap()
            .stats
            .open
            .load(Ordering::SeqCst),
        0,
        "connection closed"
    );
}

/// Issue 15 (1): CNAMEs (MX host, `www.`, MTA-STS policy host, `_mta-sts`) and SPF includes
/// that lead into an excluded domain: no DNS question about any name inside it, no connection
/// to anything it points at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cname_spf_and_mta_sts_paths_into_an_excluded_domain_get_nothing() {
    let lab = lab([127, 77, 150], vec![]).await;
    let dir = temp();
    let db = dir.path().join("c.db");
    let excl = write(dir.path(), "exclude.txt", "banned.mxray.test\n");
    let list = write(
        dir.path(),
        "d.txt",
        "cname-mx.mxray.test\ncname-sts.mxray.test\n",
    );
    let r = scan_excluding(&lab, &list, &db, &excl).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The names were reached (their CNAMEs were read) …
    for asked in [
        "mx.cname-mx.mxray.test",
        "www.cname-mx.mxray.test",
        "_mta-sts.cname-sts.mxray.test",
        "cname-mx.mxray.test",
    ] {
        assert!(
            lab.dns.queries().iter().any(|(n, _)| n == asked),
            "{asked} not asked: {:?}",
            lab.dns.queries()
        );
    }
    // … but nothing inside the excluded domain was asked: not the CNAME targets, not the
    // SPF include, not the `_mta-sts` target.
    let inside: Vec<_> = lab
        .dns
        .queries()
        .into_iter()
        .filter(|(n, _)| n.contains("banned"))
        .collect();
    assert!(
        inside.is_empty(),
        "asked inside the excluded domain: {inside:?}"
    );
    // No connection to what the excluded names point at: the open relay (MX) and the HTTPS
    // policy host (`www.` and MTA-STS).
    assert_eq!(
        lab.server("open-relay")
            .unwrap()
            .stats
            .connections
            .load(Ordering::SeqCst),
        0
    );
    assert_eq!(lab.policy_hosts[0].connections(), 0);

    let ex = Export::read(&db);
    let d = ex.domain("cname-mx.mxray.test");
    let host = &d["observation"]["hosts"][0];
    assert_eq!(host["name"], "mx.cname-mx.mxray.test");
    assert_eq!(host["excluded"], true, "{host}");
    assert!(d["observation"]["web_host"].is_null(), "{d}");
    let relay_ip = lab.server("open-relay").unwrap().addr.ip().to_string();
    let policy_ip = lab.policy_hosts[0].addr.ip().to_string();
    assert!(ex.host(&relay_ip).is_none());
    assert!(ex.host(&policy_ip).is_none());
    // The mail host not excluded (cname-sts's MX) was probed as usual.
    let closed_ip = lab.server("closed").unwrap().addr.ip().to_string();
    assert!(ex.host(&closed_ip).is_some());
}

/// Issue 15 (7): a whole top-level domain on the exclusion list is honoured, not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excluded_top_level_domain_excludes_every_name_under_it() {
    let lab = lab([127, 77, 151], vec![]).await;
    let dir = temp();
    let db = dir.path().join("t.db");
    let excl = write(dir.path(), "exclude.txt", "# the whole lab TLD\ntest\n");
    let list = write(dir.path(), "d.txt", "closed.mxray.test\n");
    let r = scan_excluding(&lab, &list, &db, &excl).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Only the resolver check (the root) was asked: nothing under `test`, not even the lab's
    // block lists, which live under it too.
    let asked: Vec<_> = lab
        .dns
        .queries()
        .into_iter()
        .filter(|(n, _)| !n.is_empty())
        .collect();
    assert!(asked.is_empty(), "{asked:?}");
    assert_eq!(lab.network.connections.load(Ordering::SeqCst), 0);
    assert_eq!(
        Export::read(&db).domain("closed.mxray.test")["status"],
        "excluded"
    );
}

/// Issue 15 (2): an MX host with 4,000 addresses costs at most the per-name cap of
/// addresses, and the cut is a finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mx_with_four_thousand_addresses_costs_at_most_the_cap() {
    let lab = mxray_lab::Lab::start(mxray_lab::LabOptions {
        net: [127, 77, 152],
        many_addresses: Some(([127, 93], 4000)),
        ..mxray_lab::LabOptions::default()
    })
    .await
    .expect("lab");
    let dir = temp();
    let db = dir.path().join("m.db");
    let list = write(dir.path(), "d.txt", "many-a.mxray.test\n");
    let r = scan_lab(&lab, &list, &db, &["--no-exposure"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let contacted = lab
        .many
        .iter()
        .filter(|s| s.stats.connections.load(Ordering::SeqCst) > 0)
        .count();
    // The cap is 8 per name (docs/schema.md): some were probed, never more than the cap.
    assert!(contacted > 0, "no address probed at all");
    assert!(
        contacted <= 8,
        "{contacted} of the 4000 addresses contacted"
    );
    let ex = Export::read(&db);
    assert!(ex.hosts().len() <= 8, "{} hosts stored", ex.hosts().len());
    let d = ex.domain("many-a.mxray.test");
    let f = finding(d, "dns.too_many_addresses").expect("finding for the cut");
    // One DNS message (64 KiB over TCP) holds about 1,900 of the 4,000 records.
    let ev = evidence(f);
    assert_eq!(ev.len(), 1, "{ev:?}");
    let found: usize = ev[0]
        .strip_prefix("many-a-mx.mxray.test: ")
        .and_then(|r| r.strip_suffix(" addresses, 8 kept"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{ev:?}"));
    assert!(found > 1000, "{ev:?}");
    assert_eq!(
        d["observation"]["hosts"][0]["addresses"]["value"]
            .as_array()
            .map(Vec::len),
        Some(8)
    );
}
