//! Against a real Postfix (Debian's package) on loopback, started by `.ci/postfix.sh`:
//! 127.0.25.1:2525 is a closed relay, 127.0.25.2:2525 an open one (mynetworks = 0.0.0.0/0).
//! CI sets MXRAY_TEST_POSTFIX=1 after starting it; elsewhere the test says it was skipped,
//! and under CI without Postfix it fails rather than pass silently.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_postfix_open_and_closed_relays_are_classified() {
    if !real_part("MXRAY_TEST_POSTFIX", "a real Postfix (.ci/postfix.sh)") {
        return;
    }
    let extra = vec![
        (
            "mxray-closed.lab".to_owned(),
            "mxray-closed.lab".to_owned(),
            "127.0.25.1".parse().unwrap(),
        ),
        (
            "mxray-open.lab".to_owned(),
            "mxray-open.lab".to_owned(),
            "127.0.25.2".parse().unwrap(),
        ),
    ];
    let lab = lab([127, 77, 7], extra).await;
    let dir = temp();
    let db = dir.path().join("p.db");
    let list = write(dir.path(), "d.txt", "mxray-closed.lab\nmxray-open.lab\n");
    let mut args = vec!["scan".to_owned(), list.display().to_string()];
    args.extend(scan_args(lab.dns.addr, 2525, "10", "60", &db));
    let r = mxray_async(args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ex = Export::read(&db);

    let closed = ex.host("127.0.25.1").expect("closed Postfix probed");
    let smtp = &closed["observation"]["smtp"][0];
    assert_eq!(smtp["status"], "success", "{smtp}");
    assert!(
        smtp["greeting"]["lines"][0]
            .as_str()
            .unwrap()
            .contains("Postfix"),
        "{smtp}"
    );
    let relay = &closed["observation"]["relay"];
    assert_eq!(relay["verdict"], "closed", "{relay}");
    let first = &relay["attempts"][0];
    assert_eq!(first["rcpt_reply"]["code"], 554, "{first}");
    assert!(
        first["rcpt_reply"]["lines"][0]
            .as_str()
            .unwrap()
            .contains("Relay access denied"),
        "{first}"
    );
    assert!(finding(closed, "smtp.open_relay").is_none());

    let open = ex.host("127.0.25.2").expect("open Postfix probed");
    assert_eq!(
        open["observation"]["relay"]["verdict"], "open",
        "{}",
        open["observation"]["relay"]
    );
    let f = finding(open, "smtp.open_relay").expect("open relay finding");
    let ev = evidence(f);
    assert!(ev.iter().any(|l| l.starts_with("S: 250 2.1.5")), "{ev:?}");
    let control = &open["observation"]["relay"]["control"];
    assert_eq!(
        control["rcpt_reply"]["code"], 550,
        "control refused: {control}"
    );
    assert!(finding(open, "smtp.accepts_nonexistent_recipients").is_none());
    // Postfix does not offer STARTTLS in this configuration.
    assert!(finding(open, "smtp.no_starttls").is_some());
    assert!(finding(ex.domain("mxray-open.lab"), "dns.implicit_mx").is_none());

    // Debian's Postfix fingerprints as Postfix from its greeting.
    let sw = mxray(&[
        "software",
        "--db",
        &db.display().to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(sw.code, 0, "{}", sw.stderr);
    let sw: serde_json::Value = serde_json::from_str(&sw.stdout).expect("JSON");
    let host = sw["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["ip"] == "127.0.25.1")
        .unwrap_or_else(|| panic!("closed Postfix not fingerprinted: {sw}"));
    assert_eq!(host["software"][0]["product"], "postfix", "{host}");
}
