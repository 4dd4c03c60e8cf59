//! `mxray audit`'s mailing-list posting canary: the list's authority (against the built-in
//! lab's DNS and SMTP servers, whose counters prove that nothing was sent), then real mlmmj
//! 1.3.0 lists on Postfix with Dovecot subscriber mailboxes on 127.0.64.1-2 (`.ci/lists.sh`;
//! CI sets MXRAY_TEST_LISTS to the folder it started them in). Lab nets 127.77.190-191.x.

use crate::audit::{args, files_with, findings, maildir_with};
use crate::harness::{mxray, mxray_async, real_part};
use mxray_lab::{Behaviour, DnsServer, SmtpServer, Zone};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;

const TOKEN: &str = "list-token-0123456789abcdef";

/// A scope file readable by its owner only (the command refuses any other).
fn write_scope(path: &Path, text: &str) {
    crate::audit::write_scope(path, text, 0o600);
}

/// A scope with one list `address` whose server is `server` (None: the domain's MX) and
/// whose subscriber's mailbox is on `mailbox`.
fn list_scope(
    domains: &str,
    networks: &str,
    address: &str,
    server: Option<SocketAddr>,
    mailbox: SocketAddr,
) -> String {
    let server = server
        .map(|s| format!("server = \"{}\"\nport = {}\n", s.ip(), s.port()))
        .unwrap_or_default();
    format!(
        r#"token = "{TOKEN}"
domains = [{domains}]
networks = ["{networks}"]
[[list]]
address = "{address}"
{server}wait = 2
subscriber = {{ server = "{ip}", port = {port}, protocol = "imap", user = "sub@members.lab", password = "list-secret-pw-42" }}
"#,
        ip = mailbox.ip(),
        port = mailbox.port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_canary_refuses_lists_outside_scope_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lists.db");
    let mut zone = Zone::default();
    // authorised.lab publishes the token; its MX is outside the scope's networks.
    zone.txt("_mxray.authorised.lab", &format!("mxray-authorize={TOKEN}"))
        .mx("far.lab", 10, "mx.far.lab")
        .addr("mx.far.lab", "127.77.191.10".parse().unwrap());
    let dns = DnsServer::start("127.77.190.53:0".parse().unwrap(), zone)
        .await
        .unwrap();
    let start = |ip: &str| {
        let ip = ip.to_owned();
        async move {
            SmtpServer::start(
                format!("{ip}:0").parse().unwrap(),
                Behaviour::OpenRelay,
                "list.lab",
                vec![],
            )
            .await
            .unwrap()
        }
    };
    let inside = start("127.77.190.10").await;
    let mailbox = start("127.77.190.11").await;
    let outside = start("127.77.191.10").await;
    let conns = |s: &SmtpServer| s.stats.connections.load(Ordering::SeqCst);
    let scope = dir.path().join("scope.toml");

    // The list's domain is not among the scope's domains: the file itself is refused.
    write_scope(
        &scope,
        &list_scope(
            "\"other.lab\"",
            "127.77.190.0/24",
            "news@lists.lab",
            Some(inside.addr),
            mailbox.addr,
        ),
    );
    let r = mxray_async(args(&scope, dns.addr, &db, &["--allow-private"])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("not among the scope's domains"),
        "{}",
        r.stderr
    );

    // The list's server outside the scope's networks: refused even with --allow-private.
    write_scope(
        &scope,
        &list_scope(
            "\"lists.lab\"",
            "127.77.190.0/24",
            "news@lists.lab",
            Some(outside.addr),
            mailbox.addr,
        ),
    );
    let r = mxray_async(args(&scope, dns.addr, &db, &["--allow-private"])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("outside the scope"), "{}", r.stderr);

    // The list's MX (found through the resolver) is outside the scope's networks.
    write_scope(
        &scope,
        &list_scope(
            "\"far.lab\"",
            "127.77.190.0/24",
            "news@far.lab",
            None,
            mailbox.addr,
        ),
    );
    let r = mxray_async(args(&scope, dns.addr, &db, &["--allow-private"])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("outside the scope"), "{}", r.stderr);
    assert!(dns.was_asked_about("far.lab"));

    // In scope but no --allow-private and no TXT record for the list's domain.
    write_scope(
        &scope,
        &list_scope(
            "\"lists.lab\"",
            "127.77.190.0/24",
            "news@lists.lab",
            Some(inside.addr),
            mailbox.addr,
        ),
    );
    let r = mxray_async(args(&scope, dns.addr, &db, &[])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("mxray-authorize"), "{}", r.stderr);
    assert!(dns.was_asked_about("_mxray.lists.lab"));

    assert_eq!(conns(&outside), 0, "nothing sent out of scope");
    assert_eq!(conns(&inside), 0, "nothing sent to an unauthorised list");
    assert_eq!(conns(&mailbox), 0, "no mailbox login without authority");
    assert!(!r.stderr.contains("list-secret-pw-42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_canary_on_real_mlmmj_open_members_only_and_moderated() {
    if !real_part(
        "MXRAY_TEST_LISTS",
        "real mlmmj lists on Postfix with Dovecot mailboxes (.ci/lists.sh)",
    ) {
        return;
    }
    let lab = std::path::PathBuf::from(std::env::var("MXRAY_TEST_LISTS").unwrap());
    let secret = |k: &str| crate::audit::lab_secret(&lab, k);
    let (sub1, sub2, owner) = (secret("SUB1"), secret("SUB2"), secret("OWNER"));
    let held_before = files_with(&lab.join("lists/moderated/moderation"), "mxray list canary");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lists.db");
    // The moderated list names no server: its MX is found through the resolver.
    let mut zone = Zone::default();
    zone.mx("lists.lab", 10, "mx.lists.lab")
        .addr("mx.lists.lab", "127.0.64.1".parse().unwrap());
    let dns = DnsServer::start("127.77.192.53:0".parse().unwrap(), zone)
        .await
        .unwrap();
    let scope = dir.path().join("scope.toml");
    write_scope(
        &scope,
        &format!(
            r#"token = "{TOKEN}"
domains = ["lists.lab"]
networks = ["127.0.64.0/29"]
[[list]]
address = "open@lists.lab"
server = "127.0.64.1"
sender = "outsider@elsewhere.lab"
manager = "mlmmj"
wait = 10
subscriber = {{ server = "127.0.64.2", protocol = "imap", user = "sub1@members.lab", password = "{sub1}" }}
[[list]]
address = "members@lists.lab"
server = "127.0.64.1"
sender = "outsider@elsewhere.lab"
manager = "mlmmj"
wait = 8
subscriber = {{ server = "127.0.64.2", protocol = "pop3", user = "owner@members.lab", password = "{owner}" }}
[[list]]
address = "moderated@lists.lab"
sender = "outsider@elsewhere.lab"
wait = 8
subscriber = {{ server = "127.0.64.2", protocol = "pop3", port = 110, user = "sub2@members.lab", password = "{sub2}" }}
"#
        ),
    );
    let (r, v) = crate::audit::audit_json(&scope, dns.addr, &db).await;
    let lists = v["lists"].as_array().unwrap();
    let get = |addr: &str| lists.iter().find(|l| l["list"] == addr).unwrap().clone();

    // Open to anyone: the non-member's post reached sub1 (IMAP), with Reply-To rewritten to
    // the list; the canary's copy was deleted afterwards.
    let open = get("open@lists.lab");
    assert_eq!(open["post"]["kind"], "arrived", "{open}");
    assert_eq!(open["post"]["reply_to_list"], true, "{open}");
    assert_eq!(open["post"]["deleted"], true, "{open}");
    let marker = open["post"]["message_id"]
        .as_str()
        .unwrap()
        .trim_matches(['<', '>'])
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    assert!(marker.starts_with("mxray-canary-"), "{marker}");
    assert_eq!(
        maildir_with(&lab, "sub1@members.lab", &marker),
        0,
        "the canary's copy is gone from sub1's mailbox"
    );
    assert!(
        maildir_with(&lab, "sub2@members.lab", &marker) > 0,
        "the list really distributed it (sub2, not read by the test, has it)"
    );
    // mlmmj 1.3.0 ignores +list from a non-owner (sub1): no roster came back.
    assert_eq!(open["roster"]["kind"], "not-exposed", "{open}");

    // Members only: accepted at SMTP, denied by mlmmj (subonlypost), never distributed.
    let members = get("members@lists.lab");
    assert_eq!(members["post"]["kind"], "not-arrived", "{members}");
    assert!(
        members["verdict"].as_str().unwrap().starts_with("not open"),
        "{members}"
    );
    // The same +list request from the list's owner (subscribed to it) is answered with the
    // roster: the detector reads mlmmj's real answer (an owner may see it; the finding says
    // what a non-owner subscriber in scope would have been told).
    assert_eq!(members["roster"]["kind"], "exposed", "{members}");
    assert!(
        members["roster"]["subject"]
            .as_str()
            .unwrap()
            .contains("Subscribers to members@lists.lab"),
        "{members}"
    );

    // Moderated: held in mlmmj's moderation queue, not distributed.
    let moderated = get("moderated@lists.lab");
    assert_eq!(moderated["post"]["kind"], "not-arrived", "{moderated}");
    assert_eq!(moderated["server"], "127.0.64.1:25", "{moderated}");
    assert!(dns.was_asked_about("lists.lab"));
    assert_eq!(moderated["roster"]["kind"], "not-asked", "{moderated}");
    assert_eq!(
        files_with(&lab.join("lists/moderated/moderation"), "mxray list canary"),
        held_before + 1,
        "the post is held for the moderator"
    );

    assert_eq!(findings(&v, "list.open_posting"), ["127.0.64.1:25"]);
    assert_eq!(findings(&v, "list.reply_to_list"), ["127.0.64.1:25"]);
    assert_eq!(findings(&v, "list.subscribers_exposed"), ["127.0.64.1:25"]);
    let open_finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "list.open_posting")
        .unwrap();
    let evidence = open_finding["evidence"].to_string();
    assert!(
        evidence.contains("open@lists.lab") && evidence.contains("250"),
        "{evidence}"
    );
    assert!(evidence.contains(&marker), "{evidence}");

    // Text output (Japanese), export and report: the findings, never a password.
    // The Japanese text run logs everything (RUST_LOG=trace): the logs are grepped too.
    let text_args = args(&scope, dns.addr, &db, &["--allow-private", "--lang", "ja"]);
    let text = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mxray"))
            .args(&text_args)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        crate::harness::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap();
    assert!(!text.stderr.is_empty(), "the trace log is written");
    assert_eq!(text.code, 1, "{}", text.stderr);
    assert!(
        text.stdout.contains("メーリングリスト open@lists.lab"),
        "{}",
        text.stdout
    );
    let export = mxray(&[
        "export",
        "--db",
        &db.display().to_string(),
        "--format",
        "jsonl",
    ]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    assert!(export.stdout.contains("list.open_posting"));
    let html = dir.path().join("report.html");
    let report = mxray(&[
        "report",
        "--db",
        &db.display().to_string(),
        "-o",
        &html.display().to_string(),
    ]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    let stored = std::fs::read(&db).unwrap();
    let html = std::fs::read(&html).unwrap();
    for pw in [&sub1, &sub2, &owner] {
        for (what, h) in [
            ("stdout", r.stdout.as_bytes()),
            ("stderr", r.stderr.as_bytes()),
            ("text", text.stdout.as_bytes()),
            ("trace log", text.stderr.as_bytes()),
            ("db", stored.as_slice()),
            ("export", export.stdout.as_bytes()),
            ("report", html.as_slice()),
        ] {
            assert!(
                !String::from_utf8_lossy(h).contains(pw.as_str()),
                "a subscriber password leaked into the {what}"
            );
        }
    }
}
