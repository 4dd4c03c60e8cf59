//! Safety: excluded targets see no packet; hostile servers cost at most the deadline.

use crate::harness::*;
use std::sync::atomic::Ordering;

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
    let mut args = vec![
        "scan".to_owned(),
        list.display().to_string(),
        "--exclude".into(),
        excl.display().to_string(),
    ];
    args.extend(lab_args(&lab, &db));
    let r = mxray_async(args).await;
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
