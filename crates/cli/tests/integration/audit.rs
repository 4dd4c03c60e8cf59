//! `mxray audit`: scope and authority (against the built-in lab's DNS and SMTP servers, whose
//! counters prove what was sent), then login protection and weak passwords against real
//! Dovecot and Postfix SASL on 127.0.62.1-2 (`.ci/audit.sh`; CI sets MXRAY_TEST_AUDIT to the
//! folder it started them in). Lab nets 127.77.130-131.x.

use crate::harness::{mxray_async, real_part};
use mxray_lab::{Behaviour, DnsServer, SmtpServer, Zone};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;

const TOKEN: &str = "lab-token-0123456789abcdef";

/// A password the lab script wrote to `DIR/passwords.env` (`KEY=value` lines, mode 600).
pub(crate) fn lab_secret(dir: &Path, key: &str) -> String {
    let env = std::fs::read_to_string(dir.join("passwords.env")).unwrap();
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing from {}", dir.display()))
        .to_owned()
}

/// Files under `dir` whose text contains `needle`.
pub(crate) fn files_with(dir: &Path, needle: &str) -> usize {
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            n += files_with(&p, needle);
        } else if std::fs::read(&p)
            .map(|b| String::from_utf8_lossy(&b).contains(needle))
            .unwrap_or(false)
        {
            n += 1;
        }
    }
    n
}

/// Messages in a Dovecot maildir (new/ and cur/, not Dovecot's header cache) containing
/// `needle`.
pub(crate) fn maildir_with(lab: &Path, user: &str, needle: &str) -> usize {
    let m = lab.join("mail").join(user);
    files_with(&m.join("new"), needle) + files_with(&m.join("cur"), needle)
}

/// `mxray audit --allow-private --format json` on a lab with critical findings (exit 1): the
/// run and its JSON.
pub(crate) async fn audit_json(
    scope: &Path,
    dns: SocketAddr,
    db: &Path,
) -> (crate::harness::Run, Value) {
    let r = mxray_async(args(
        scope,
        dns,
        db,
        &["--allow-private", "--format", "json"],
    ))
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = serde_json::from_str(&r.stdout).unwrap();
    (r, v)
}

/// Writes a scope file with the given permission bits.
pub(crate) fn write_scope(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A scope naming one server at `addr` (its SMTP port as submission) under `domain`.
fn scope_text(addr: SocketAddr, domain: &str, networks: &str) -> String {
    format!(
        r#"token = "{TOKEN}"
domains = ["{domain}"]
networks = ["{networks}"]
[[server]]
address = "{ip}"
domain = "{domain}"
submission = {port}
[login]
user = "probe@{domain}"
attempts = 3
"#,
        ip = addr.ip(),
        port = addr.port()
    )
}

/// `mxray audit --scope SCOPE --resolver DNS --db DB EXTRA…`.
pub(crate) fn args(scope: &Path, dns: SocketAddr, db: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "audit",
        "--scope",
        &scope.display().to_string(),
        "--resolver",
        &dns.to_string(),
        "--db",
        &db.display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_out_of_scope_unauthorised_and_readable_scopes_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let mut zone = Zone::default();
    zone.txt("_mxray.authorised.lab", &format!("mxray-authorize={TOKEN}"))
        .txt(
            "_mxray.wrong.lab",
            "mxray-authorize=someone-elses-token-000",
        );
    let dns = DnsServer::start("127.77.130.53:0".parse().unwrap(), zone)
        .await
        .unwrap();
    let inside = SmtpServer::start(
        "127.77.130.10:0".parse().unwrap(),
        Behaviour::AuthBeforeTls,
        "inside.lab",
        vec![],
    )
    .await
    .unwrap();
    let outside = SmtpServer::start(
        "127.77.131.10:0".parse().unwrap(),
        Behaviour::AuthBeforeTls,
        "outside.lab",
        vec![],
    )
    .await
    .unwrap();
    let conns = |s: &SmtpServer| s.stats.connections.load(Ordering::SeqCst);
    let scope = dir.path().join("scope.toml");

    // A server outside the scope's networks: refused even with --allow-private.
    write_scope(
        &scope,
        &scope_text(outside.addr, "authorised.lab", "127.77.130.0/24"),
        0o600,
    );
    let r = mxray_async(args(&scope, dns.addr, &db, &["--allow-private"])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("outside the scope"), "{}", r.stderr);
    assert_eq!(conns(&outside), 0, "nothing sent out of scope");

    // In scope, loopback, but neither --allow-private nor the TXT record (none, or someone
    // else's token): refused after asking the resolver, nothing sent.
    for domain in ["noauth.lab", "wrong.lab"] {
        write_scope(
            &scope,
            &scope_text(inside.addr, domain, "127.77.130.0/24"),
            0o600,
        );
        let r = mxray_async(args(&scope, dns.addr, &db, &[])).await;
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("mxray-authorize"), "{}", r.stderr);
        assert!(dns.was_asked_about(&format!("_mxray.{domain}")));
    }
    assert_eq!(conns(&inside), 0, "nothing sent without authority");

    // A scope file others can read is refused before anything else.
    write_scope(
        &scope,
        &scope_text(inside.addr, "authorised.lab", "127.77.130.0/24"),
        0o644,
    );
    let r = mxray_async(args(&scope, dns.addr, &db, &["--allow-private"])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
    assert_eq!(conns(&inside), 0);

    // The TXT record with the scope's token authorises it (no --allow-private needed).
    write_scope(
        &scope,
        &scope_text(inside.addr, "authorised.lab", "127.77.130.0/24"),
        0o600,
    );
    let r = mxray_async(args(&scope, dns.addr, &db, &["--format", "json"])).await;
    assert_ne!(r.code, 2, "{}", r.stderr);
    assert!(conns(&inside) > 0, "authorised: the logins were tried");
    assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN));
}

/// The subjects of the findings `id` in an audit's JSON, sorted.
pub(crate) fn findings<'a>(v: &'a Value, id: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .map(|f| f["subject"]["name"].as_str().unwrap_or("?"))
        .collect();
    out.sort_unstable();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_protection_and_weak_passwords_on_real_dovecot_and_postfix() {
    if !real_part(
        "MXRAY_TEST_AUDIT",
        "real Dovecot and Postfix SASL (.ci/audit.sh)",
    ) {
        return;
    }
    let lab_dir = std::env::var("MXRAY_TEST_AUDIT").unwrap();
    let secret = |k: &str| lab_secret(Path::new(&lab_dir), k);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let dns = DnsServer::start("127.77.132.53:0".parse().unwrap(), Zone::default())
        .await
        .unwrap();
    let scope = dir.path().join("scope.toml");
    write_scope(
        &scope,
        &format!(
            r#"token = "{TOKEN}"
domains = ["audit.lab"]
networks = ["127.0.62.0/29"]
[[server]]
address = "127.0.62.1"
domain = "audit.lab"
submission = 587
imap = 143
pop3 = 110
[[server]]
address = "127.0.62.2"
domain = "audit.lab"
submission = 587
imap = 143
pop3 = 110
[login]
user = "throttle@audit.lab"
attempts = 10
[weak]
accounts = ["alice@audit.lab", "bob@audit.lab", "carol@audit.lab", "dave@audit.lab"]
"#
        ),
        0o600,
    );
    // Dovecot's auth penalty grows to 15 s: wait longer than that for an answer.
    let r = mxray_async(args(
        &scope,
        dns.addr,
        &db,
        &["--allow-private", "--format", "json", "--timeout", "20"],
    ))
    .await;
    assert_eq!(r.code, 1, "critical findings: {}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();

    // Login protection: none on .1 (every service), some on .2 (every service).
    assert_eq!(
        findings(&v, "auth.no_throttling"),
        ["127.0.62.1:110", "127.0.62.1:143", "127.0.62.1:587"]
    );
    for s in v["services"].as_array().unwrap() {
        let kind = s["login_protection"]["kind"].as_str().unwrap();
        let attempts = s["attempts"].as_array().unwrap().len();
        if s["server"] == "127.0.62.1" {
            assert_eq!(kind, "none", "{s}");
            assert_eq!(attempts, 10, "{s}");
        } else {
            assert!(kind == "delayed" || kind == "refused", "{s}");
            assert!(attempts < 10, "stopped at the first sign: {s}");
        }
    }

    // Weak passwords: the three weak accounts fell on .1 (its first service, submission);
    // the strong one never, anywhere.
    let weak: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "auth.weak_password" && f["subject"]["name"] == "127.0.62.1:587")
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert_eq!(weak.len(), 3, "{weak:?}");
    for (user, how) in [
        ("alice@audit.lab", "equals the user name"),
        ("bob@audit.lab", "local part"),
        ("carol@audit.lab", "short list"),
    ] {
        assert!(
            weak.iter().any(|t| t.contains(user) && t.contains(how)),
            "{user}: {weak:?}"
        );
    }
    assert!(!r.stdout.contains("Account dave@audit.lab"));

    // Credentials nowhere: output, log, database, export, report.
    let exported = mxray_async(vec![
        "export".into(),
        "--format".into(),
        "jsonl".into(),
        "--db".into(),
        db.display().to_string(),
    ])
    .await;
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert!(exported.stdout.contains("auth.weak_password"));
    let html = dir.path().join("report.html");
    let rep = mxray_async(vec![
        "report".into(),
        "--db".into(),
        db.display().to_string(),
        "-o".into(),
        html.display().to_string(),
    ])
    .await;
    assert_eq!(rep.code, 0, "{}", rep.stderr);
    let text = mxray_async(args(
        &scope,
        dns.addr,
        &db,
        &["--allow-private", "--lang", "ja"],
    ))
    .await;
    assert!(
        text.stdout.contains("推測可能なパスワード"),
        "{}",
        text.stdout
    );
    let mut haystacks = vec![
        r.stdout.clone(),
        r.stderr.clone(),
        text.stdout.clone(),
        text.stderr,
        exported.stdout.clone(),
        std::fs::read_to_string(&html).unwrap(),
    ];
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let p = f.unwrap().path();
        if p.to_string_lossy().contains("audit.db") {
            haystacks.push(String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned());
        }
    }
    // carol's password; base64 of the AUTH PLAIN message that carried it; the random
    // passwords of the strong and the test accounts; the scope's token.
    let needles = [
        "letmein".to_owned(),
        "AGNhcm9sQGF1ZGl0LmxhYgBsZXRtZWlu".to_owned(),
        secret("DAVE"),
        secret("THROTTLE"),
        TOKEN.to_owned(),
    ];
    for (i, h) in haystacks.iter().enumerate() {
        for n in &needles {
            assert!(
                !h.contains(n.as_str()),
                "a credential leaked into #{i}: {n}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_confirmed_by_a_canary_message_on_real_postfix() {
    if !real_part(
        "MXRAY_TEST_AUDIT",
        "real Postfix relays and a Dovecot canary mailbox (.ci/audit.sh)",
    ) {
        return;
    }
    let lab_dir = std::env::var("MXRAY_TEST_AUDIT").unwrap();
    let password = lab_secret(Path::new(&lab_dir), "CANARY");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let dns = DnsServer::start("127.77.133.53:0".parse().unwrap(), Zone::default())
        .await
        .unwrap();
    let lab = Path::new(&lab_dir);
    let canaries = || maildir_with(lab, "canary@canary.lab", "mxray relay canary");
    // The canary mailbox read over IMAP (its port in the older `imap =` spelling) and over
    // POP3: the same relays, the same verdicts, and the canary deleted afterwards.
    for (protocol, port) in [("imap", "imap = 143"), ("pop3", "port = 110")] {
        let before = canaries();
        let scope = dir.path().join(format!("{protocol}.toml"));
        write_scope(
            &scope,
            &format!(
                r#"token = "{TOKEN}"
domains = ["audit.lab"]
networks = ["127.0.62.0/29"]
[[server]]
address = "127.0.62.1"
domain = "audit.lab"
[[server]]
address = "127.0.62.3"
domain = "audit.lab"
smtp = 25
[[server]]
address = "127.0.62.4"
domain = "audit.lab"
smtp = 25
[canary]
address = "canary@canary.lab"
server = "127.0.62.1"
protocol = "{protocol}"
{port}
user = "canary@canary.lab"
password = "{password}"
wait = 20
"#
            ),
            0o600,
        );
        let (r, v) = audit_json(&scope, dns.addr, &db).await;
        assert_eq!(
            findings(&v, "smtp.open_relay"),
            ["127.0.62.3:25"],
            "{protocol}"
        );
        let relays = v["relays"].as_array().unwrap();
        let outcome = |addr: &str| {
            relays
                .iter()
                .find(|p| p[0] == addr)
                .map(|p| p[1].clone())
                .unwrap_or_default()
        };
        let open = outcome("127.0.62.3:25");
        assert_eq!(open["kind"], "arrived", "{protocol}: {relays:?}");
        assert_eq!(open["deleted"], true, "{protocol}: {relays:?}");
        assert_eq!(
            outcome("127.0.62.4:25")["kind"],
            "refused",
            "{protocol}: {relays:?}"
        );
        assert_eq!(
            canaries(),
            before,
            "{protocol}: the canary is gone from the mailbox"
        );
        let stored = std::fs::read(&db).unwrap();
        for h in [r.stdout.as_bytes(), r.stderr.as_bytes(), stored.as_slice()] {
            assert!(
                !String::from_utf8_lossy(h).contains(&password),
                "{protocol}: the canary password leaked"
            );
        }
    }
}
