//! The store's story, told to both backends: SQLite always, PostgreSQL when .ci/run provides
//! one (`MXRAY_TEST_POSTGRES`, a server URL; under CI its absence fails the test). The same
//! writes must read back the same, and the survey claims must behave the same.

use mxray_core::finding::{Finding, Severity, Subject};
use mxray_core::model::{DomainObservation, HostObservation};
use mxray_core::target::Domain;
use mxray_store::{Backend, Item, Store};

mod compat;
use std::net::IpAddr;
use std::time::Duration;

/// A fresh store of each backend available here.
async fn stores(tag: &str) -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![(
        Store::open(dir.path().join("story.db")).await.unwrap(),
        Some(dir),
    )];
    match std::env::var("MXRAY_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Some(server) => {
            use sqlx::Connection;
            let name = format!("mxray_store_{tag}_{}", std::process::id());
            let mut c = sqlx::PgConnection::connect(&server).await.unwrap();
            for sql in [
                format!("DROP DATABASE IF EXISTS {name}"),
                format!("CREATE DATABASE {name}"),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
            let store = Store::open(format!("{base}/{name}")).await.unwrap();
            assert_eq!(store.backend(), Backend::Postgres);
            out.push((store, None));
        }
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must provide PostgreSQL and set MXRAY_TEST_POSTGRES"
            );
            eprintln!("SKIPPED: the PostgreSQL half of the store story (see .ci/run)");
        }
    }
    out
}

fn domain_obs(d: &str) -> DomainObservation {
    serde_json::from_value(serde_json::json!({
        "domain": d,
        "mx": {"status": "found", "value": [{"preference": 10, "exchange": format!("mx.{d}")}]},
        "mx_mode": "explicit",
        "hosts": [],
        "skipped": [],
    }))
    .expect("domain observation")
}

fn host_obs(ip: &str, status: &str) -> HostObservation {
    serde_json::from_value(serde_json::json!({
        "ip": ip,
        "class": "public",
        "ptr": {"status": "found", "value": ["mx.example.", "mail.example."]},
        "fcrdns": true,
        "smtp": [{
            "port": 25, "implicit_tls": false, "status": status, "detail": null,
            "greeting": null, "helo_fallback": false, "capabilities": null,
            "starttls": {"result": "not-tried"}, "tls": null, "capabilities_tls": null,
            "vrfy": null, "expn": null, "transcript": [], "elapsed_ms": 5
        }],
        "relay": null,
        "elapsed_ms": 7,
    }))
    .expect("host observation")
}

fn finding(id: &str, sev: Severity, subject: Subject) -> Finding {
    Finding {
        id: id.into(),
        severity: sev,
        subject,
        title: format!("{id} title, with 'quotes' and ünïcode"),
        evidence: vec!["line one".into(), "=HYPERLINK(\"x\")".into()],
        fix: "do the right thing".into(),
    }
}

#[tokio::test]
async fn writes_read_back_the_same_on_every_backend() {
    for (store, _dir) in stores("story").await {
        let which = format!("{:?}", store.backend());
        let scan = store
            .begin_scan(&serde_json::json!({"input": "x"}))
            .await
            .unwrap();
        let ip: IpAddr = "192.0.2.25".parse().unwrap();
        let bad = mxray_core::target::DomainList::new().push("not a domain!");
        let mxray_core::target::Line::Invalid(input_error) = bad else {
            panic!("expected an invalid line")
        };
        let items = vec![
            Item::Domain {
                obs: domain_obs("a.example"),
                ips: vec![ip],
                findings: vec![finding(
                    "dmarc.missing",
                    Severity::Medium,
                    Subject::Domain("a.example".into()),
                )],
            },
            Item::Domain {
                obs: domain_obs("b.example"),
                ips: vec![ip],
                findings: vec![],
            },
            Item::Excluded("x.example".into()),
            Item::Host {
                obs: host_obs("192.0.2.25", "success"),
                findings: vec![finding(
                    "smtp.open_relay",
                    Severity::Critical,
                    Subject::Service("192.0.2.25:25".into()),
                )],
            },
            Item::InputError(input_error),
        ];
        store.write(scan, &items).await.unwrap();
        // Writing the same domain again replaces it rather than adding a row.
        store.write(scan, &items[1..2]).await.unwrap();

        assert_eq!(store.counts(scan).await.unwrap(), (2, 1, 1), "{which}");
        let rep = store
            .domain_report(scan, "a.example")
            .await
            .unwrap()
            .unwrap();
        assert!(!rep.excluded);
        assert_eq!(rep.hosts.len(), 1, "{which}");
        assert_eq!(rep.hosts[0], host_obs("192.0.2.25", "success"), "{which}");
        assert_eq!(
            rep.findings
                .iter()
                .map(|f| f.id.as_str())
                .collect::<Vec<_>>(),
            ["smtp.open_relay", "dmarc.missing"],
            "{which}: worst first, host findings included"
        );
        assert_eq!(rep.findings[0].evidence[1], "=HYPERLINK(\"x\")", "{which}");
        assert!(rep.findings[0].title.contains("ünïcode"), "{which}");
        assert!(
            store
                .domain_report(scan, "x.example")
                .await
                .unwrap()
                .unwrap()
                .excluded
        );
        assert_eq!(
            store.finding_counts(scan).await.unwrap(),
            vec![
                ("smtp.open_relay".to_owned(), Severity::Critical, 1, 2),
                ("dmarc.missing".to_owned(), Severity::Medium, 1, 1),
            ],
            "{which}: the relay hurts both domains on that host"
        );
        assert_eq!(
            store.host_outcomes(scan).await.unwrap(),
            vec![("success".to_owned(), 1)],
            "{which}: read inside the JSON"
        );
        assert_eq!(
            store.links(scan).await.unwrap(),
            vec![
                ("a.example".to_owned(), "192.0.2.25".to_owned()),
                ("b.example".to_owned(), "192.0.2.25".to_owned())
            ]
        );
        assert_eq!(store.input_errors(scan).await.unwrap().len(), 1);
        assert_eq!(store.domains(scan).await.unwrap().len(), 3);
        assert!(store.pending_hosts(scan).await.unwrap().is_empty());
        assert_eq!(store.done_hosts(scan).await.unwrap().len(), 1);
        assert_eq!(store.domain_checks(scan).await.unwrap().len(), 3, "{which}");
        let unfinished = store.unfinished_scan().await.unwrap();
        assert_eq!(unfinished.map(|s| s.id), Some(scan));
        store.finish_scan(scan, "finished").await.unwrap();
        assert!(store.unfinished_scan().await.unwrap().is_none());
        assert_eq!(store.scan(None).await.unwrap().status, "finished");
        store.close().await;
    }
}

fn domains(n: usize) -> Vec<(i64, Domain)> {
    (0..n)
        .map(|i| {
            (
                i as i64 + 1,
                Domain::parse(&format!("t{i}.example")).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn survey_claims_are_exclusive_expire_and_commit_once() {
    for (store, _dir) in stores("claims").await {
        let which = format!("{:?}", store.backend());
        let scan = store.create_survey(&serde_json::json!({})).await.unwrap();
        assert_eq!(store.add_targets(scan, &domains(10)).await.unwrap(), 10);
        assert_eq!(
            store.add_targets(scan, &domains(10)).await.unwrap(),
            0,
            "{which}"
        );
        assert_eq!(store.latest_survey().await.unwrap(), Some(scan));
        for w in ["w1", "w2"] {
            store.register_worker(scan, w).await.unwrap();
        }
        let lease = 60_000;
        let a = store.claim_targets(scan, "w1", 4, lease).await.unwrap();
        let b = store.claim_targets(scan, "w2", 4, lease).await.unwrap();
        assert_eq!(
            a.iter().map(|c| c.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4],
            "{which}"
        );
        assert_eq!(
            b.iter().map(|c| c.seq).collect::<Vec<_>>(),
            [5, 6, 7, 8],
            "{which}"
        );
        assert_eq!(
            store
                .claim_targets(scan, "w1", 10, lease)
                .await
                .unwrap()
                .len(),
            2
        );
        assert!(
            store
                .claim_targets(scan, "w2", 10, lease)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.targets_held_by_others(scan, "w1").await.unwrap(), 4);

        // A worker cannot commit what another holds.
        let item = |d: &str| Item::Domain {
            obs: domain_obs(d),
            ips: vec![],
            findings: vec![],
        };
        assert_eq!(
            store
                .write_claimed(scan, "w2", &[item("t0.example")])
                .await
                .unwrap(),
            (0, 0),
            "{which}"
        );
        assert_eq!(
            store
                .write_claimed(scan, "w1", &[item("t0.example"), item("t1.example")])
                .await
                .unwrap(),
            (2, 0)
        );
        // ...nor commit twice.
        assert_eq!(
            store
                .write_claimed(scan, "w1", &[item("t0.example")])
                .await
                .unwrap(),
            (0, 0),
            "{which}"
        );

        // w2 stops renewing: once its lease runs out, w1 takes its targets; w2's late
        // commit is then dropped.
        store.release_claims(scan, "w1").await.unwrap();
        let short = store.claim_targets(scan, "w1", 2, 1).await.unwrap();
        assert_eq!(
            short.len(),
            2,
            "{which}: released targets are claimable at once"
        );
        // Leases are whole seconds (a 1 ms lease lasts 1 s) and end when a later second starts.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let taken = store.claim_targets(scan, "w2", 10, lease).await.unwrap();
        assert_eq!(taken.len(), 2 + 2, "{which}: two expired, two released");
        assert_eq!(
            store
                .write_claimed(scan, "w1", &[item(&short[0].domain)])
                .await
                .unwrap(),
            (0, 0),
            "{which}"
        );

        // Hosts: one worker per address; the same worker may ask again; done stays done.
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        assert!(store.claim_host(scan, "w1", ip, lease).await.unwrap());
        assert!(
            !store.claim_host(scan, "w2", ip, lease).await.unwrap(),
            "{which}"
        );
        assert!(store.claim_host(scan, "w1", ip, lease).await.unwrap());
        let host = Item::Host {
            obs: host_obs("192.0.2.9", "success"),
            findings: vec![],
        };
        assert_eq!(
            store
                .write_claimed(scan, "w2", std::slice::from_ref(&host))
                .await
                .unwrap(),
            (0, 0)
        );
        assert_eq!(
            store.write_claimed(scan, "w1", &[host]).await.unwrap(),
            (0, 1)
        );
        assert!(!store.claim_host(scan, "w2", ip, 1).await.unwrap());
        let exp: IpAddr = "192.0.2.10".parse().unwrap();
        assert!(store.claim_host(scan, "w1", exp, 1).await.unwrap());
        // Leases are whole seconds (a 1 ms lease lasts 1 s) and end when a later second starts.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert!(
            store.claim_host(scan, "w2", exp, lease).await.unwrap(),
            "{which}: expired"
        );
        store.renew_leases(scan, "w2", lease).await.unwrap();

        let st = store.survey_status(scan).await.unwrap();
        assert_eq!(
            (st.total, st.done, st.double_commits),
            (10, 2, 0),
            "{which}"
        );
        // w2 holds its first four, the two released by w1 and the two whose lease ran out.
        assert_eq!(st.claimed, 8, "{which}: {st:?}");
        let w2 = st.workers.iter().find(|w| w.worker == "w2").unwrap();
        assert_eq!(w2.holding, 8, "{which}");
        assert!(st.reclaimed >= 2, "{which}: {st:?}");
        assert!(!st.complete());
        let w1 = st.workers.iter().find(|w| w.worker == "w1").unwrap();
        assert_eq!((w1.domains, w1.hosts), (2, 1), "{which}");
        store.close().await;
    }
}

/// Watch state (migration 9) on both backends: nothing before the first cycle, conditions
/// replaced per cycle (the first-seen time kept), alerts pending per wanted channel until
/// marked delivered, watches kept apart by name.
#[tokio::test]
async fn watch_state_story() {
    use mxray_core::watch::{AlertKind, Condition};
    use mxray_store::Channel;
    let cond = |key: &str, kind: AlertKind| Condition {
        key: key.into(),
        kind,
        subject: "192.0.2.1:25".into(),
        domains: vec!["a.test".into()],
        severity: Severity::Critical,
        finding: None,
        detail: "d".into(),
    };
    for (store, _dir) in stores("watch").await {
        assert!(store.watch_state("w").await.unwrap().is_none());
        let s1 = store.begin_scan(&serde_json::json!({})).await.unwrap();
        let up = cond("host.gone|192.0.2.1", AlertKind::HostGone);
        store
            .record_watch_cycle("w", s1, std::slice::from_ref(&up), &[], true, false)
            .await
            .unwrap();
        assert_eq!(
            store.watch_state("w").await.unwrap(),
            Some(vec![up.clone()])
        );
        assert!(store.watch_state("other").await.unwrap().is_none());
        let s2 = store.begin_scan(&serde_json::json!({})).await.unwrap();
        let relay = cond("relay.opened|192.0.2.1:25|", AlertKind::RelayOpened);
        store
            .record_watch_cycle(
                "w",
                s2,
                std::slice::from_ref(&relay),
                &[(relay.clone(), "{\"kind\":\"relay.opened\"}".into())],
                true,
                false,
            )
            .await
            .unwrap();
        assert_eq!(store.watch_state("w").await.unwrap(), Some(vec![relay]));
        let pending = store.pending_alerts("w", Channel::Webhook).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].scan, s2);
        assert_eq!(pending[0].body, "{\"kind\":\"relay.opened\"}");
        assert!(
            store
                .pending_alerts("w", Channel::Mail)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .mark_delivered(&[pending[0].id], Channel::Webhook)
            .await
            .unwrap();
        assert!(
            store
                .pending_alerts("w", Channel::Webhook)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.watch_alert_count("w").await.unwrap(), 1);
        store.close().await;
    }
}

fn chunk_domain(name: &str, ips: Vec<IpAddr>, findings: Vec<Finding>) -> Item {
    Item::Domain {
        obs: domain_obs(name),
        ips,
        findings,
    }
}

fn chunk_finding(id: &str, d: &str, n: usize) -> Finding {
    let mut f = Finding::new(
        id,
        Severity::Medium,
        Subject::Domain(d.to_owned()),
        format!("title of {d}"),
        format!("fix {d}"),
    );
    f.evidence = vec![format!("evidence {n} of {d}")];
    f
}

/// A batch larger than a statement's largest piece (256 rows), with a domain written twice and items
/// of other kinds between domains, reads back row for row: every link, every finding with its own
/// subject and texts, the second record of the twice-written domain replacing the first.
#[tokio::test]
async fn a_batch_over_several_chunks_reads_back_row_for_row() {
    for (store, _dir) in stores("chunks").await {
        let scan = store.begin_scan(&serde_json::json!({})).await.unwrap();
        let n = 500 + 37;
        let ip = |k: usize| -> IpAddr { format!("192.0.2.{}", k % 250 + 1).parse().unwrap() };
        let mut items = Vec::new();
        for k in 0..n {
            let d = format!("d{k}.example");
            items.push(chunk_domain(
                &d,
                vec![ip(k), ip(k + 1)],
                vec![
                    chunk_finding("spf.missing", &d, k),
                    chunk_finding("dmarc.missing", &d, k),
                ],
            ));
            if k == 100 {
                items.push(Item::Excluded("x.example".into()));
            }
        }
        // d5 again, with one address and one finding: the later record wins for the row.
        items.push(chunk_domain(
            "d5.example",
            vec![ip(200)],
            vec![chunk_finding("spf.pass_all", "d5.example", 5)],
        ));
        store.write(scan, &items).await.expect("write");
        let domains = store.domains(scan).await.unwrap();
        assert_eq!(domains.len(), n + 1, "every domain and the excluded one");
        let d7 = store.domain_ips(scan, "d7.example").await.unwrap();
        assert_eq!(d7, vec!["192.0.2.8".to_owned(), "192.0.2.9".to_owned()]);
        let last = format!("d{}.example", n - 1);
        assert_eq!(store.domain_ips(scan, &last).await.unwrap().len(), 2);
        let findings = store.findings(scan).await.unwrap();
        // Two per domain, and d5's second record adds its one (findings are not replaced).
        assert_eq!(findings.len(), 2 * n + 1);
        for f in &findings {
            let d = f.domain.as_deref().expect("domain finding");
            assert_eq!(f.finding.subject, Subject::Domain(d.to_owned()));
            assert_eq!(f.finding.title, format!("title of {d}"));
            assert_eq!(f.finding.fix, format!("fix {d}"));
        }
        let f600 = findings
            .iter()
            .find(|f| f.domain.as_deref() == Some("d520.example"))
            .expect("a finding of the second chunk");
        assert_eq!(f600.finding.evidence, vec!["evidence 520 of d520.example"]);
        let d5 = store.domain_ips(scan, "d5.example").await.unwrap();
        assert_eq!(d5.len(), 3, "links are added, not replaced: {d5:?}");
    }
}
