//! Relay verdicts on real MTAs from Debian's packages — Postfix, Exim and OpenSMTPD, each in the
//! five configurations admins write (`.ci/mta.sh`: closed; open relay whose own domain is not
//! local; open relay that serves its domain locally; backup MX; accepts any user at its domain).
//! CI sets MXRAY_TEST_MTAS=1 after starting them; elsewhere the tests say they were skipped.
//!
//! One scan of the fifteen domains (the lab's DNS in 127.0.28.0/24 points each at its MTA),
//! shared by the tests; each test asserts one MTA × configuration through the JSONL export.

use crate::harness::*;
use serde_json::Value;
use std::net::IpAddr;
use std::sync::OnceLock;

const CONFIGS: [&str; 5] = ["closed", "relay", "local", "backup", "acceptall"];

/// (MTA, domain prefix, address of the first configuration; the others follow).
const MTAS: [(&str, &str, [u8; 4]); 3] = [
    ("Postfix", "pf", [127, 0, 25, 10]),
    ("Exim", "ex", [127, 0, 26, 1]),
    ("OpenSMTPD", "os", [127, 0, 27, 1]),
];

fn address(mta: usize, config: usize) -> IpAddr {
    let [a, b, c, d] = MTAS[mta].2;
    IpAddr::from([a, b, c, d + config as u8])
}

fn domain(mta: usize, config: usize) -> String {
    format!("{}-{}.lab", MTAS[mta].1, CONFIGS[config])
}

fn scan() -> Option<&'static Export> {
    static SCAN: OnceLock<Option<Export>> = OnceLock::new();
    SCAN.get_or_init(|| {
        if !real_part(
            "MXRAY_TEST_MTAS",
            "real Postfix, Exim and OpenSMTPD (.ci/mta.sh)",
        ) {
            return None;
        }
        let mut extra = Vec::new();
        for m in 0..MTAS.len() {
            for c in 0..CONFIGS.len() {
                extra.push((domain(m, c), domain(m, c), address(m, c)));
            }
        }
        let list: String = extra.iter().map(|(d, _, _)| format!("{d}\n")).collect();
        // The lab lives on a runtime of its own for the rest of the process.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async move {
                let lab = lab([127, 0, 28], extra).await;
                tx.send(lab.dns.addr).expect("send");
                std::future::pending::<()>().await;
            });
        });
        let dns = rx.recv().expect("lab started");
        let dir = temp();
        let db = dir.path().join("mta.db");
        let list = write(dir.path(), "d.txt", &list);
        let mut args = vec!["scan".to_owned(), list.display().to_string()];
        args.extend(scan_args(dns, 2525, "10", "60", &db));
        args.extend(["--no-exposure".to_owned(), "--no-dnsbl".to_owned()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = mxray(&refs);
        assert_eq!(r.code, 0, "{}", r.stderr);
        Some(Export::read(&db))
    })
    .as_ref()
}

/// Asserts one MTA × configuration: the real product answered, the relay verdict, and which of
/// `smtp.open_relay` / `smtp.accepts_nonexistent_recipients` it got.
fn expect(mta: usize, config: usize, verdict: &str, open: bool, backscatter: bool) {
    let Some(ex) = scan() else { return };
    let ip = address(mta, config).to_string();
    let what = format!("{} {} ({ip})", MTAS[mta].0, CONFIGS[config]);
    let host = ex.host(&ip).unwrap_or_else(|| panic!("{what}: not probed"));
    let greeting = host["observation"]["smtp"][0]["greeting"]["lines"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        greeting.contains(MTAS[mta].0) && greeting.contains(&domain(mta, config)),
        "{what}: greeting {greeting:?}"
    );
    let relay: &Value = &host["observation"]["relay"];
    assert_eq!(relay["verdict"], verdict, "{what}: {relay}");
    let control = relay["control"]["rcpt_reply"]["code"].as_u64().unwrap_or(0);
    assert!(
        relay["control"]["form"]["rcpt_to"]
            .as_str()
            .is_some_and(|r| r.ends_with(&format!("@{}>", domain(mta, config)))),
        "{what}: control at the scanned domain: {relay}"
    );
    assert_eq!(
        (200..300).contains(&control),
        backscatter,
        "{what}: control answered {control}"
    );
    let f = finding(host, "smtp.open_relay");
    assert_eq!(f.is_some(), open, "{what}: {}", host["findings"]);
    if let Some(f) = f {
        assert_eq!(f["severity"], "critical");
        let ev = evidence(f);
        assert!(ev.iter().any(|l| l.starts_with("S: 250")), "{what}: {ev:?}");
        assert!(
            ev.iter().any(|l| l.contains("delivery was not confirmed")),
            "{what}: {ev:?}"
        );
    }
    let b = finding(host, "smtp.accepts_nonexistent_recipients");
    assert_eq!(b.is_some(), backscatter, "{what}: {}", host["findings"]);
    if let Some(b) = b {
        assert_eq!(b["severity"], "medium");
        assert!(
            evidence(b)
                .iter()
                .any(|l| l.contains("mxray-no-such-user-7f3a9c@")),
            "{what}: {b}"
        );
    }
    assert!(
        finding(host, "smtp.relay_inconclusive").is_none(),
        "{what}: {}",
        host["findings"]
    );
}

const PF: usize = 0;
const EX: usize = 1;
const OS: usize = 2;

#[test]
fn postfix_closed_is_closed() {
    expect(PF, 0, "closed", false, false);
}
#[test]
fn postfix_open_relay_domain_not_local_is_open_relay() {
    expect(PF, 1, "open", true, true);
}
#[test]
fn postfix_open_relay_domain_local_is_open_relay() {
    expect(PF, 2, "open", true, false);
}
#[test]
fn postfix_backup_mx_is_closed_and_accepts_nonexistent_recipients() {
    expect(PF, 3, "closed", false, true);
}
#[test]
fn postfix_accepts_any_user_is_closed_and_accepts_nonexistent_recipients() {
    expect(PF, 4, "closed", false, true);
}
#[test]
fn exim_closed_is_closed() {
    expect(EX, 0, "closed", false, false);
    // Stock Exim hangs up after ten non-mail commands (smtp_accept_max_nonmail): the RSETs
    // between attempts. The battery went on over a second connection and ran to the end.
    let Some(ex) = scan() else { return };
    let relay = &ex.host("127.0.26.1").expect("probed")["observation"]["relay"];
    assert_eq!(
        relay["attempts"].as_array().map(Vec::len),
        Some(13),
        "{relay}"
    );
    assert!(
        relay["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"].as_str().unwrap_or("").contains("again")),
        "{relay}"
    );
}
#[test]
fn exim_open_relay_domain_not_local_is_open_relay() {
    expect(EX, 1, "open", true, true);
}
#[test]
fn exim_open_relay_domain_local_is_open_relay() {
    expect(EX, 2, "open", true, false);
}
#[test]
fn exim_backup_mx_is_closed_and_accepts_nonexistent_recipients() {
    expect(EX, 3, "closed", false, true);
}
#[test]
fn exim_accepts_any_user_is_closed_and_accepts_nonexistent_recipients() {
    expect(EX, 4, "closed", false, true);
}
#[test]
fn opensmtpd_closed_is_closed() {
    expect(OS, 0, "closed", false, false);
}
#[test]
fn opensmtpd_open_relay_domain_not_local_is_open_relay() {
    expect(OS, 1, "open", true, true);
}
#[test]
fn opensmtpd_open_relay_domain_local_is_open_relay() {
    expect(OS, 2, "open", true, false);
}
#[test]
fn opensmtpd_backup_mx_is_closed_and_accepts_nonexistent_recipients() {
    expect(OS, 3, "closed", false, true);
}
#[test]
fn opensmtpd_accepts_any_user_is_closed_and_accepts_nonexistent_recipients() {
    expect(OS, 4, "closed", false, true);
}
