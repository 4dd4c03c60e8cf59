//! Survey inputs besides a domain list (a CSV column, a zone file's delegations, addresses
//! and CIDR blocks probed directly) and several resolvers sharing the questions.

use crate::harness::*;
use mxray_lab::{DnsServer, Zone};
use std::sync::atomic::Ordering;

/// A CSV file read by header name: the good rows scanned, the bad ones reported with their
/// line numbers; a zone file recognised by its `$ORIGIN` and read for its delegations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_csv_column_and_zone_file() {
    let lab = lab([127, 77, 200], vec![]).await;
    let dir = temp();
    let csv = write(
        dir.path(),
        "customers.csv",
        "Company,Domain,Country\n\"Open, Inc.\",open-relay.mxray.test,JP\nBad,\"not a domain!\",JP\nShort\n\"Closed \"\"KK\"\"\",CLOSED.mxray.test.,JP\n",
    );
    let db = dir.path().join("csv.db");
    let mut args = vec![
        "scan".to_owned(),
        csv.display().to_string(),
        "--column".to_owned(),
        "domain".to_owned(),
    ];
    args.extend(lab_args(&lab, &db));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("line 3:"), "{}", r.stderr);
    assert!(r.stderr.contains("line 4:"), "{}", r.stderr);
    assert!(r.stdout.contains("2 domains"), "{}", r.stdout);
    let ex = Export::read(&db);
    let open = ex
        .host(&lab.server("open-relay").unwrap().addr.ip().to_string())
        .expect("open relay probed");
    assert!(finding(open, "smtp.open_relay").is_some());
    let _ = ex.domain("closed.mxray.test");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM input_errors").await,
        2,
        "bad rows stored"
    );

    // A header without the column: refused before anything is stored.
    let db2 = dir.path().join("nocol.db");
    let mut args = vec![
        "scan".to_owned(),
        csv.display().to_string(),
        "--column".to_owned(),
        "host".to_owned(),
    ];
    args.extend(lab_args(&lab, &db2));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no column \"host\""), "{}", r.stderr);

    let zone = write(
        dir.path(),
        "mxray.zone",
        "$ORIGIN mxray.test.\n$TTL 300\n@ IN SOA ns.mxray.test. hostmaster.mxray.test. (\n 1 3600 900 604800 300 )\n@ NS ns.mxray.test.\nopen-relay NS ns1.open-relay ; a delegation\n  NS ns2.open-relay\nns1.open-relay A 192.0.2.1\nclosed.mxray.test. 300 IN NS ns.closed\nwww A 192.0.2.2\n",
    );
    let db3 = dir.path().join("zone.db");
    let mut args = vec!["scan".to_owned(), zone.display().to_string()];
    args.extend(lab_args(&lab, &db3));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The apex, and the two delegations; not www, not the glue.
    assert!(r.stdout.contains("3 domains"), "{}", r.stdout);
    let ex = Export::read(&db3);
    for d in ["mxray.test", "open-relay.mxray.test", "closed.mxray.test"] {
        let _ = ex.domain(d);
    }
}

/// `--hosts`: a /28 of the lab probed as mail hosts without MX discovery; the open relay is
/// found, the excluded address never gets a connection, a too large block is refused before
/// anything is contacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_hosts_probe_addresses_directly() {
    let lab = lab([127, 77, 201], vec![]).await;
    let dir = temp();
    let list = write(
        dir.path(),
        "ours.txt",
        "# our mail network\n127.77.201.0/28\nmail.example.jp\n127.77.201.11\n",
    );
    let excluded = lab.server("accept-all").unwrap().addr.ip();
    let ex_file = write(dir.path(), "exclude.txt", &format!("{excluded}\n"));
    let db = dir.path().join("hosts.db");
    let mut args = vec![
        "scan".to_owned(),
        "--hosts".to_owned(),
        list.display().to_string(),
        "--exclude".to_owned(),
        ex_file.display().to_string(),
    ];
    args.extend(lab_args(&lab, &db));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("line 3:"), "{}", r.stderr);
    // 14 usable addresses of the /28 (not .0, not .15), one excluded, .11 listed twice.
    assert!(
        r.stdout
            .contains("13 addresses probed directly (no MX discovery), 1 excluded"),
        "{}",
        r.stdout
    );
    assert_eq!(
        lab.server("accept-all")
            .unwrap()
            .stats
            .connections
            .load(Ordering::SeqCst),
        0,
        "the excluded address was contacted"
    );
    let ex = Export::read(&db);
    assert_eq!(ex.hosts().len(), 13);
    assert!(ex.host(&excluded.to_string()).is_none());
    assert!(ex.host("127.77.201.0").is_none() && ex.host("127.77.201.15").is_none());
    let ip = |name: &str| lab.server(name).unwrap().addr.ip().to_string();
    let open = ex.host(&ip("open-relay")).expect("open relay probed");
    assert_eq!(open["observation"]["relay"]["verdict"], "open");
    assert!(finding(open, "smtp.open_relay").is_some());
    let closed = ex.host(&ip("closed")).expect("closed probed");
    assert!(finding(closed, "smtp.open_relay").is_none());
    assert_ne!(closed["observation"]["relay"]["verdict"], "open");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM domains").await, 0);

    // Larger than --max-hosts: refused, nothing stored or contacted.
    let before = lab.network.connections.load(Ordering::SeqCst);
    let db2 = dir.path().join("big.db");
    let mut args = vec![
        "scan".to_owned(),
        "--hosts".to_owned(),
        list.display().to_string(),
        "--max-hosts".to_owned(),
        "8".to_owned(),
    ];
    args.extend(lab_args(&lab, &db2));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("over --max-hosts 8"), "{}", r.stderr);
    assert!(!db2.exists());
    assert_eq!(lab.network.connections.load(Ordering::SeqCst), before);
    // A hosts file is not a domain list to shard.
    let r = mxray(&[
        "scan",
        "--hosts",
        &list.display().to_string(),
        "--shard",
        "1/2",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not sharded"), "{}", r.stderr);
}

fn resolver_zone() -> Zone {
    let mut z = Zone::default();
    for n in 0..30 {
        z.mx(
            &format!("d{n}.mxray.test"),
            10,
            &format!("mx.d{n}.mxray.test"),
        );
    }
    z
}

fn resolver_scan(dir: &std::path::Path, db: &std::path::Path, resolvers: &[String]) -> Vec<String> {
    let list: String = (0..30).map(|n| format!("d{n}.mxray.test\n")).collect();
    let file = write(dir, "domains.txt", &list);
    let mut args = vec!["scan".to_owned(), file.display().to_string()];
    for r in resolvers {
        args.extend(["--resolver".to_owned(), r.clone()]);
    }
    args.extend(
        [
            "--allow-loopback",
            "--no-exposure",
            "--no-dnsbl",
            "--timeout",
            "1",
            "--host-deadline",
            "5",
            "--db",
            &db.display().to_string(),
        ]
        .map(str::to_owned),
    );
    args
}

/// Two resolvers share the questions; with one of them dead every domain is still resolved
/// through the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolvers_spread_and_fail_over() {
    let a = DnsServer::start("127.77.202.1:0".parse().unwrap(), resolver_zone())
        .await
        .unwrap();
    let b = DnsServer::start("127.77.202.2:0".parse().unwrap(), resolver_zone())
        .await
        .unwrap();
    let dir = temp();
    let db = dir.path().join("two.db");
    // The pair from the configuration file's list.
    let config = write(
        dir.path(),
        "config.toml",
        &format!("resolver = [\"{}\", \"{}\"]\n", a.addr, b.addr),
    );
    let mut args = resolver_scan(dir.path(), &db, &[]);
    args.extend(["--config".to_owned(), config.display().to_string()]);
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (qa, qb) = (
        a.stats.udp_queries.load(Ordering::SeqCst),
        b.stats.udp_queries.load(Ordering::SeqCst),
    );
    eprintln!("questions: {qa} to the first resolver, {qb} to the second");
    assert!(qa >= 30 && qb >= 30, "both share the load: {qa} and {qb}");
    assert!(r.stdout.contains("resolvers: "), "{}", r.stdout);
    let ex = Export::read(&db);
    for n in 0..30 {
        assert_eq!(
            ex.domain(&format!("d{n}.mxray.test"))["observation"]["mx"]["status"],
            "found"
        );
    }

    // A resolver that never answers (a socket nobody reads) next to a live one.
    let dead = std::net::UdpSocket::bind("127.77.202.3:0").unwrap();
    let db = dir.path().join("dead.db");
    let r = mxray_async(resolver_scan(
        dir.path(),
        &db,
        &[dead.local_addr().unwrap().to_string(), a.addr.to_string()],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("does not answer"), "{}", r.stderr);
    let ex = Export::read(&db);
    for n in 0..30 {
        assert_eq!(
            ex.domain(&format!("d{n}.mxray.test"))["observation"]["mx"]["status"],
            "found",
            "d{n} resolved through the live resolver"
        );
    }
}
