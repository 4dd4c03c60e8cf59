//! Databases made before finding texts were stored once and observations compressed
//! (migrations 1–3, rows as that version wrote them) open, migrate and read back exactly as
//! before; the same data written now reads back identically, on both backends; their survey
//! times (milliseconds then) read back as Unix seconds (migration 10).

use crate::{domain_obs, finding, host_obs};
use mxray_core::finding::{Severity, Subject};
use mxray_store::{Backend, Item, Store, StoredFinding};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlSafeStr};
use std::net::IpAddr;

/// The schema as the previous version created it: its migrations, same versions and SQL
/// (so the same checksums), nothing newer.
fn old_migrator(backend: Backend) -> Migrator {
    let m = |v: i64, name: &'static str, sql: &'static str| {
        Migration::new(
            v,
            name.into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        )
    };
    Migrator::with_migrations(match backend {
        Backend::Sqlite => vec![
            m(
                1,
                "init",
                include_str!("../../migrations/sqlite/0001_init.sql"),
            ),
            m(
                2,
                "software",
                include_str!("../../migrations/sqlite/0002_software.sql"),
            ),
            m(
                3,
                "survey",
                include_str!("../../migrations/common/0003_survey.sql"),
            ),
        ],
        Backend::Postgres => vec![
            m(
                1,
                "init",
                include_str!("../../migrations/postgres/0001_init.sql"),
            ),
            m(
                2,
                "software",
                include_str!("../../migrations/postgres/0002_software.sql"),
            ),
            m(
                3,
                "survey",
                include_str!("../../migrations/common/0003_survey.sql"),
            ),
        ],
    })
}

/// The data of one small scan: two domains on one host, one more address linked but never
/// probed, findings sharing texts and one with its own.
fn items() -> Vec<Item> {
    let ip: IpAddr = "192.0.2.25".parse().unwrap();
    let unprobed: IpAddr = "192.0.2.26".parse().unwrap();
    let mut a = domain_obs("a.example");
    a.hosts = serde_json::from_value(serde_json::json!([{
        "name": "mx.a.example", "preference": 10,
        "addresses": {"status": "found", "value": ["192.0.2.25", "192.0.2.26"]},
        "excluded": false
    }]))
    .unwrap();
    let mut unique = finding(
        "spf.missing",
        Severity::Low,
        Subject::Domain("a.example".into()),
    );
    unique.evidence = vec!["TXT a.example: \"v=DMARC1; p=none\" 日本".into()];
    vec![
        Item::Domain {
            obs: a,
            ips: vec![ip, unprobed],
            findings: vec![
                finding(
                    "dmarc.missing",
                    Severity::Medium,
                    Subject::Domain("a.example".into()),
                ),
                unique,
            ],
        },
        Item::Domain {
            obs: domain_obs("b.example"),
            ips: vec![ip],
            findings: vec![finding(
                "dmarc.missing",
                Severity::Medium,
                Subject::Domain("b.example".into()),
            )],
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
    ]
}

/// Writes `items` the way the previous version did: observation JSON and finding texts inline.
async fn write_old(pool: &AnyPool, scan: i64, items: &[Item]) {
    for item in items {
        match item {
            Item::Domain { obs, ips, findings } => {
                sqlx::query("INSERT INTO domains (scan_id, domain, status, mx_mode, observation) VALUES ($1, $2, 'scanned', 'explicit', $3)")
                    .bind(scan)
                    .bind(&obs.domain)
                    .bind(serde_json::to_string(obs).unwrap())
                    .execute(pool)
                    .await
                    .unwrap();
                for ip in ips {
                    sqlx::query(
                        "INSERT INTO domain_hosts (scan_id, domain, ip) VALUES ($1, $2, $3)",
                    )
                    .bind(scan)
                    .bind(&obs.domain)
                    .bind(ip.to_string())
                    .execute(pool)
                    .await
                    .unwrap();
                }
                for f in findings {
                    insert_old_finding(pool, scan, Some(&obs.domain), None, f).await;
                }
            }
            Item::Excluded(d) => {
                sqlx::query(
                    "INSERT INTO domains (scan_id, domain, status) VALUES ($1, $2, 'excluded')",
                )
                .bind(scan)
                .bind(d)
                .execute(pool)
                .await
                .unwrap();
            }
            Item::Host { obs, findings } => {
                let ip = obs.ip.to_string();
                sqlx::query("INSERT INTO hosts (scan_id, ip, observation) VALUES ($1, $2, $3)")
                    .bind(scan)
                    .bind(&ip)
                    .bind(serde_json::to_string(obs).unwrap())
                    .execute(pool)
                    .await
                    .unwrap();
                for f in findings {
                    insert_old_finding(pool, scan, None, Some(&ip), f).await;
                }
            }
            _ => unreachable!("not in this data"),
        }
    }
}

async fn insert_old_finding(
    pool: &AnyPool,
    scan: i64,
    domain: Option<&str>,
    ip: Option<&str>,
    f: &mxray_core::finding::Finding,
) {
    let kind = match f.subject {
        Subject::Domain(_) => "domain",
        Subject::Host(_) => "host",
        Subject::Service(_) => "service",
    };
    let sev = Severity::ALL.iter().position(|s| *s == f.severity).unwrap() as i64;
    sqlx::query("INSERT INTO findings (scan_id, domain, ip, subject_kind, subject, check_id, severity, title, evidence, fix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(scan)
        .bind(domain)
        .bind(ip)
        .bind(kind)
        .bind(f.subject.name())
        .bind(&f.id)
        .bind(sev)
        .bind(&f.title)
        .bind(serde_json::to_string(&f.evidence).unwrap())
        .bind(&f.fix)
        .execute(pool)
        .await
        .unwrap();
}

/// Everything the readers give for one scan, as comparable text.
async fn read_all(store: &Store, scan: i64) -> Vec<String> {
    use futures::TryStreamExt;
    let strip = |f: Vec<StoredFinding>| {
        f.into_iter()
            .map(|f| serde_json::to_string(&f).unwrap())
            .collect::<Vec<_>>()
    };
    let mut out = strip(store.findings(scan).await.unwrap());
    out.extend(strip(
        store.findings_for_domain(scan, "a.example").await.unwrap(),
    ));
    let rows: Vec<(String, String, Option<String>)> =
        store.domain_rows(scan).try_collect().await.unwrap();
    out.extend(rows.iter().map(|r| format!("{r:?}")));
    for (d, status, obs) in store.domain_observations(scan).await.unwrap() {
        out.push(format!(
            "{d} {status} {}",
            serde_json::to_string(&obs).unwrap()
        ));
    }
    let rep = store
        .domain_report(scan, "a.example")
        .await
        .unwrap()
        .unwrap();
    out.push(serde_json::to_string(&rep.obs).unwrap());
    out.push(serde_json::to_string(&rep.findings).unwrap());
    // The role bits are left out: rows written before roles existed read as role 0
    // ("any"), which is what they mean; new rows carry the role they were written with.
    let pending: Vec<_> = store
        .pending_hosts(scan)
        .await
        .unwrap()
        .into_iter()
        .map(|(ip, _roles, domain, name)| (ip, domain, name))
        .collect();
    out.push(format!("{pending:?}"));
    out.push(format!("{:?}", store.finding_counts(scan).await.unwrap()));
    out.push(format!("{:?}", store.host_outcomes(scan).await.unwrap()));
    out
}

#[tokio::test]
async fn an_old_database_migrates_and_reads_back_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = vec![dir.path().join("old.db").display().to_string()];
    if let Some(server) = std::env::var("MXRAY_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
    {
        use sqlx::Connection;
        let name = format!("mxray_store_compat_{}", std::process::id());
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
        specs.push(format!("{base}/{name}"));
    } else {
        eprintln!("SKIPPED: the PostgreSQL half of the old-database test (see .ci/run)");
    }
    for spec in specs {
        let backend = Backend::of(&spec);
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{spec}?mode=rwc"),
            Backend::Postgres => spec.clone(),
        };
        // The previous version's database, with one scan in it.
        let pool = AnyPool::connect(&url).await.unwrap();
        old_migrator(backend).run(&pool).await.unwrap();
        let old_scan: i64 = sqlx::query_scalar("INSERT INTO scans (started_at, status, params, schema_version) VALUES (1, 'finished', '{}', 1) RETURNING id")
            .fetch_one(&pool)
            .await
            .unwrap();
        let data = items();
        write_old(&pool, old_scan, &data).await;
        // A survey as the previous version stored it: times in Unix milliseconds.
        for sql in [
            "INSERT INTO survey_targets (scan_id, seq, domain, state, worker, lease_until, done_at) \
             VALUES ($1, 1, 'a.test', 'done', 'w1', 1700000030001, 1700000012345)",
            "INSERT INTO survey_targets (scan_id, seq, domain, state) VALUES ($1, 2, 'b.test', 'pending')",
            "INSERT INTO survey_hosts (scan_id, ip, state, worker, lease_until) \
             VALUES ($1, '192.0.2.1', 'claimed', 'w1', 1700000030001)",
            "INSERT INTO survey_workers (scan_id, worker, started_at, last_seen, state) \
             VALUES ($1, 'w1', 1700000000999, 1700000012345, 'running')",
        ] {
            sqlx::query(sql)
                .bind(old_scan)
                .execute(&pool)
                .await
                .unwrap();
        }
        let old_json = match &data[0] {
            Item::Domain { obs, .. } => serde_json::to_string(obs).unwrap(),
            _ => unreachable!(),
        };
        pool.close().await;

        // This version opens it (migrating), reads the old scan, writes the same data anew.
        let store = Store::open(&spec).await.unwrap();
        let before = read_all(&store, old_scan).await;
        assert!(
            before.iter().any(|l| l.contains("ünïcode")),
            "{backend:?}: inline titles read"
        );
        assert!(
            before.iter().any(|l| l.contains(&format!("{old_json:?}"))),
            "{backend:?}: the old observation JSON comes back verbatim"
        );
        let new_scan = store.begin_scan(&serde_json::json!({})).await.unwrap();
        store.write(new_scan, &data).await.unwrap();
        let after = read_all(&store, new_scan).await;
        assert_eq!(
            before, after,
            "{backend:?}: old rows and new rows read the same"
        );

        // And the new rows are compact: texts by id, each distinct text once, observations
        // compressed.
        let pool = AnyPool::connect(&url).await.unwrap();
        // Migration 10: the survey's times are Unix seconds now (lease ends rounded up).
        let times: (i64, i64, i64, i64, i64) = {
            use sqlx::Row;
            let r = sqlx::query(
                "SELECT t.lease_until, t.done_at, h.lease_until, w.started_at, w.last_seen \
                 FROM survey_targets t, survey_hosts h, survey_workers w \
                 WHERE t.scan_id = $1 AND t.domain = 'a.test' AND h.scan_id = $1 AND w.scan_id = $1",
            )
            .bind(old_scan)
            .fetch_one(&pool)
            .await
            .unwrap();
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
        };
        assert_eq!(
            times,
            (
                1_700_000_031,
                1_700_000_012,
                1_700_000_031,
                1_700_000_000,
                1_700_000_012
            ),
            "{backend:?}"
        );
        let pending_lease: Option<i64> = sqlx::query_scalar(
            "SELECT lease_until FROM survey_targets WHERE scan_id = $1 AND domain = 'b.test'",
        )
        .bind(old_scan)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(pending_lease, None, "{backend:?}: NULL stays NULL");
        let status = store.survey_status(old_scan).await.unwrap();
        assert_eq!(status.workers[0].last_seen, 1_700_000_012, "{backend:?}");
        let n = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .bind(new_scan)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            n("SELECT COUNT(*) FROM findings WHERE scan_id = $1 AND title = '' AND fix = '' AND evidence = '' AND title_id IS NOT NULL AND evidence_id IS NOT NULL AND fix_id IS NOT NULL").await,
            4,
            "{backend:?}"
        );
        assert_eq!(
            n("SELECT COUNT(DISTINCT title_id) FROM findings WHERE scan_id = $1").await,
            3,
            "{backend:?}: the two dmarc.missing findings share a title"
        );
        assert_eq!(
            n("SELECT COUNT(*) FROM domains WHERE scan_id = $1 AND observation IS NULL AND observation_z IS NOT NULL").await,
            2,
            "{backend:?}"
        );
        // Distinct texts: 3 titles, 2 fixes... written once however many scans use them.
        let texts = n("SELECT COUNT(*) + 0 * $1 FROM texts").await;
        let again = store.begin_scan(&serde_json::json!({})).await.unwrap();
        store.write(again, &data).await.unwrap();
        assert_eq!(
            n("SELECT COUNT(*) + 0 * $1 FROM texts").await,
            texts,
            "{backend:?}: a second scan with the same texts adds none"
        );
        // A fresh process (empty cache) finds the stored texts and adds none either.
        store.close().await;
        let store = Store::open(&spec).await.unwrap();
        let third = store.begin_scan(&serde_json::json!({})).await.unwrap();
        store.write(third, &data).await.unwrap();
        assert_eq!(n("SELECT COUNT(*) + 0 * $1 FROM texts").await, texts);
        assert_eq!(read_all(&store, third).await, before, "{backend:?}");
        pool.close().await;
        store.close().await;
    }
}
