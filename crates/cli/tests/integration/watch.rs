//! `mxray watch` against the lab: a first cycle records the state silently, an unchanged cycle
//! alerts nothing, a relay opened and a block-list listing added between cycles alert exactly
//! once each (stdout JSON lines, a loopback webhook receiver, a loopback SMTP sink), and a
//! restarted watch (a new process on the same database) does not repeat them.
//!
//! The webhook receiver and the SMTP sink are minimal in-test servers on 127.0.63.x: they
//! only receive, and record what arrived.

use crate::harness::*;
use mxray_lab::Behaviour;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

type Inbox = Arc<Mutex<Vec<String>>>;

/// Accepts HTTP POSTs, records each body, answers 204.
async fn webhook_receiver() -> (String, Inbox) {
    let l = TcpListener::bind("127.0.63.2:0").await.expect("bind");
    let url = format!("http://{}/hooks/mxray?token=t", l.local_addr().unwrap());
    let inbox: Inbox = Arc::default();
    let got = inbox.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let got = got.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(s);
                let mut len = 0usize;
                let mut first = String::new();
                r.read_line(&mut first).await.ok();
                assert!(
                    first.starts_with("POST /hooks/mxray?token=t HTTP/1.1"),
                    "{first}"
                );
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len.min(1 << 20)];
                r.read_exact(&mut body).await.ok();
                got.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                let _ = r
                    .get_mut()
                    .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    (url, inbox)
}

/// A receiving-only SMTP server: records each message (headers and body as sent).
async fn smtp_sink() -> (String, Inbox) {
    let l = TcpListener::bind("127.0.63.3:0").await.expect("bind");
    let addr = l.local_addr().unwrap().to_string();
    let inbox: Inbox = Arc::default();
    let got = inbox.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let got = got.clone();
            tokio::spawn(async move {
                let (r, mut w) = tokio::io::split(s);
                let mut r = BufReader::new(r);
                w.write_all(b"220 sink.test ESMTP\r\n").await.ok();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-sink.test\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("DATA") {
                        w.write_all(b"354 go ahead\r\n").await.ok();
                        let mut msg = String::new();
                        loop {
                            let mut l = String::new();
                            if r.read_line(&mut l).await.unwrap_or(0) == 0 || l == ".\r\n" {
                                break;
                            }
                            msg.push_str(&l);
                        }
                        got.lock().unwrap().push(msg);
                        b"250 queued\r\n"
                    } else if cmd.starts_with("QUIT") {
                        w.write_all(b"221 bye\r\n").await.ok();
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.ok();
                }
            });
        }
    });
    (addr, inbox)
}

/// The text of a mail: its body, decoded when base64 (lettre picks it for Japanese text).
fn mail_body(raw: &str) -> String {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    if !head
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: base64")
    {
        return body.to_owned();
    }
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in body.bytes() {
        let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
            continue;
        };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is JSON"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_once_per_change_and_survives_restarts() {
    let lab = lab([127, 77, 140], vec![]).await;
    let (hook, posts) = webhook_receiver().await;
    let (sink, mails) = smtp_sink().await;
    let dir = temp();
    let db = dir.path().join("watch.db");
    let list = write(
        dir.path(),
        "watched.txt",
        "closed.mxray.test\nshared-1.mxray.test\n",
    );
    let closed = lab.server("closed").expect("closed server");
    let ip = closed.addr.ip().to_string();
    let watch = |extra: &[&str]| {
        let mut a = vec![
            "watch".to_owned(),
            list.display().to_string(),
            "--name".into(),
            "lab".into(),
            "--dnsbl".into(),
            lab.dnsbl_arg(),
            "--webhook".into(),
            hook.clone(),
            "--webhook-timeout".into(),
            "5".into(),
            "--mail-to".into(),
            "postmaster@example.test".into(),
            "--mail-from".into(),
            "mxray@example.test".into(),
            "--smtp".into(),
            sink.clone(),
            "--smtp-tls".into(),
            "none".into(),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a.extend(lab_args(&lab, &db));
        a
    };

    // First cycle: the state is recorded, nothing is alerted.
    let r = mxray_async(watch(&["--once"])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "", "no alert on the first cycle");
    assert!(r.stderr.contains("first cycle"), "{}", r.stderr);

    // A restart with nothing changed: no alert.
    let r = mxray_async(watch(&["--once"])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "", "unchanged cycle: no alert");
    assert!(posts.lock().unwrap().is_empty());
    assert!(mails.lock().unwrap().is_empty());

    // Between two checks the relay is opened and the host listed.
    closed.switch(Behaviour::OpenRelay);
    lab.list_on_dnsbl(closed.addr.ip());
    let r = mxray_async(watch(&["--cycles", "2", "--interval", "0", "--lang", "ja"])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let alerts = lines(&r.stdout);
    let kinds: Vec<&str> = alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "relay.opened").count(),
        1,
        "{alerts:#?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "dnsbl.listed").count(),
        1,
        "{alerts:#?}"
    );
    assert_eq!(alerts.len(), 2, "nothing else changed: {alerts:#?}");
    let relay = alerts.iter().find(|a| a["kind"] == "relay.opened").unwrap();
    assert_eq!(relay["severity"], "critical");
    assert_eq!(relay["finding"], "smtp.open_relay");
    assert_eq!(relay["subject"], format!("{ip}:{}", lab.smtp_port));
    assert_eq!(
        relay["domains"],
        serde_json::json!(["closed.mxray.test", "shared-1.mxray.test"])
    );
    let listed = alerts.iter().find(|a| a["kind"] == "dnsbl.listed").unwrap();
    assert_eq!(listed["subject"], ip);
    assert!(
        listed["key"]
            .as_str()
            .unwrap()
            .contains("zen.dnsbl.mxray.test"),
        "{listed}"
    );
    // The second cycle of that run saw the same state: both alerts came from the first.
    assert_eq!(alerts[0]["scan"], alerts[1]["scan"]);
    assert!(
        r.stderr.contains("cycle 2 ") && r.stderr.contains("0 alert(s)"),
        "{}",
        r.stderr
    );

    // The webhook got each alert once, as the same JSON.
    let got: Vec<Value> = posts
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).expect("JSON body"))
        .collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    for a in &alerts {
        assert_eq!(got.iter().filter(|g| *g == a).count(), 1, "{a}");
    }
    // One mail for the cycle, in Japanese, naming both changes and the host.
    let sent = mails.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].contains("To: postmaster@example.test"),
        "{}",
        sent[0]
    );
    let text = mail_body(&sent[0]);
    assert!(text.contains("第三者中継を許すようになった"), "{text}");
    assert!(text.contains("DNS ブロックリストに新たに掲載"), "{text}");
    assert!(
        text.contains(&ip) && text.contains("closed.mxray.test"),
        "{text}"
    );

    // Restarted again, same state: nothing repeated anywhere.
    let r = mxray_async(watch(&["--once"])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "", "restart: no duplicate alert");
    assert_eq!(posts.lock().unwrap().len(), 2);
    assert_eq!(mails.lock().unwrap().len(), 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM watch_alerts WHERE watch = 'lab'").await,
        2
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM watch_alerts WHERE webhook = 1 AND mail = 1"
        )
        .await,
        2,
        "both delivered on both channels"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_alerts_wait_for_the_next_cycle() {
    let lab = lab([127, 77, 141], vec![]).await;
    let dir = temp();
    let db = dir.path().join("watch.db");
    let list = write(dir.path(), "w.txt", "closed.mxray.test\n");
    // Nothing listens on this port: every attempt fails.
    let dead = std::net::TcpListener::bind("127.0.63.4:0").unwrap();
    let dead_url = format!("http://{}/h", dead.local_addr().unwrap());
    drop(dead);
    let closed = lab.server("closed").expect("closed server");
    let run = |hook: String| {
        let mut a = vec![
            "watch".to_owned(),
            list.display().to_string(),
            "--once".into(),
            "--no-relay-test".into(),
            "--dnsbl".into(),
            lab.dnsbl_arg(),
            "--webhook".into(),
            hook,
            "--webhook-attempts".into(),
            "1".into(),
        ];
        a.extend(lab_args(&lab, &db));
        a
    };
    let r = mxray_async(run(dead_url.clone())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    lab.list_on_dnsbl(closed.addr.ip());
    let r = mxray_async(run(dead_url)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lines(&r.stdout).len(), 1, "{}", r.stdout);
    assert!(r.stderr.contains("kept for the next cycle"), "{}", r.stderr);
    // The receiver is back: the pending alert goes out, once, though nothing new happened.
    let (hook, posts) = webhook_receiver().await;
    let r = mxray_async(run(hook)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    let got = posts.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let v: Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(v["kind"], "dnsbl.listed");
}

/// The alert mail through a real MTA: a Postfix on 127.0.63.1:2525 (.ci/watchsink.sh) that
/// delivers everything for sink.test to one mbox file, `$MXRAY_TEST_WATCHSINK/mail/inbox`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_mail_through_postfix() {
    if !real_part("MXRAY_TEST_WATCHSINK", "the Postfix mail sink") {
        return;
    }
    let inbox =
        std::path::PathBuf::from(std::env::var("MXRAY_TEST_WATCHSINK").unwrap()).join("mail/inbox");
    let lab = lab([127, 77, 142], vec![]).await;
    let dir = temp();
    let db = dir.path().join("watch.db");
    let list = write(dir.path(), "w.txt", "closed.mxray.test\n");
    // The inbox is shared by every run against this sink: this run's subject is unique.
    let name = format!("sink-{}", std::process::id());
    let run = || {
        let mut a = vec![
            "watch".to_owned(),
            list.display().to_string(),
            "--once".into(),
            "--name".into(),
            name.clone(),
            "--no-relay-test".into(),
            "--dnsbl".into(),
            lab.dnsbl_arg(),
            "--mail-to".into(),
            "admin@sink.test".into(),
            "--mail-from".into(),
            "mxray@example.test".into(),
            "--smtp".into(),
            "127.0.63.1:2525".into(),
            "--smtp-tls".into(),
            "none".into(),
        ];
        a.extend(lab_args(&lab, &db));
        a
    };
    let r = mxray_async(run()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    lab.list_on_dnsbl(lab.server("closed").unwrap().addr.ip());
    let r = mxray_async(run()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lines(&r.stdout).len(), 1, "{}", r.stdout);
    assert!(
        !r.stderr.contains("kept for the next cycle"),
        "{}",
        r.stderr
    );
    // Postfix delivers after accepting: wait (bounded) for this run's message in the mbox.
    let subject = format!("Subject: [mxray watch {name}] 1 alert(s)");
    let mut mbox = String::new();
    for _ in 0..200 {
        mbox = std::fs::read_to_string(&inbox).unwrap_or_default();
        if mbox.contains(&subject) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let msg = mbox
        .split("\nFrom ")
        .find(|m| m.contains(&subject))
        .unwrap_or_else(|| panic!("no mail with {subject:?} in {}", inbox.display()));
    assert!(
        msg.contains("\n* Newly listed on a DNS block list\n"),
        "{msg}"
    );
    assert!(msg.contains("closed.mxray.test"), "{msg}");
    assert!(msg.contains("To: admin@sink.test"), "{msg}");
}

/// A cycle whose resolver does not answer (a dead port on loopback) is degraded: one
/// `watch.degraded` notice for the outage, no `host.gone`, and the next good cycle, compared
/// with the last good one, alerts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_without_resolver_is_degraded_not_every_host_gone() {
    let lab = lab([127, 77, 211], vec![]).await;
    let dir = temp();
    let db = dir.path().join("watch.db");
    let list = write(
        dir.path(),
        "watched.txt",
        "closed.mxray.test\nshared-1.mxray.test\n",
    );
    let watch = |resolver: Option<&str>| {
        let mut a = vec![
            "watch".to_owned(),
            list.display().to_string(),
            "--name".into(),
            "net".into(),
            "--once".into(),
        ];
        let mut rest = lab_args(&lab, &db);
        if let Some(dead) = resolver {
            let at = rest
                .iter()
                .position(|x| x == "--resolver")
                .expect("resolver");
            rest[at + 1] = dead.to_owned();
        }
        a.extend(rest);
        a
    };
    let kinds = |stdout: &str| -> Vec<String> {
        lines(stdout)
            .iter()
            .map(|a| a["kind"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let r = mxray_async(watch(None)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "", "first cycle records only");

    // Nothing listens on this port: every lookup fails.
    let dead = "127.77.211.250:9";
    let r = mxray_async(watch(Some(dead))).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(kinds(&r.stdout), ["watch.degraded"], "{}", r.stdout);
    assert!(
        r.stdout.contains("could not reach the resolver"),
        "{}",
        r.stdout
    );

    // Still down: no second notice, no host.gone.
    let r = mxray_async(watch(Some(dead))).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "", "one notice per outage");

    // Back: compared with the last good cycle, nothing changed.
    let r = mxray_async(watch(None)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "", "no spurious alert after the outage");
}

/// DMARC weakened from `p=reject` to `p=quarantine` (no finding for quarantine) alerts once,
/// an unchanged cycle after it nothing, and SPF `-all` turned into `~all` once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weakened_dmarc_policy_or_spf_all_alerts_once() {
    let lab = lab([127, 77, 212], vec![]).await;
    let dir = temp();
    let db = dir.path().join("watch.db");
    let list = write(dir.path(), "watched.txt", "spf-good.mxray.test\n");
    let mut args = vec![
        "watch".to_owned(),
        list.display().to_string(),
        "--name".into(),
        "auth".into(),
        "--once".into(),
    ];
    args.extend(lab_args(&lab, &db));
    let run = || mxray_async(args.clone());
    let r = run().await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");

    lab.set_txt("_dmarc.spf-good.mxray.test", "v=DMARC1; p=quarantine");
    let r = run().await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let alerts = lines(&r.stdout);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["kind"], "mail-auth.weakened");
    assert_eq!(alerts[0]["subject"], "spf-good.mxray.test");
    let detail = alerts[0]["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("p=reject") && detail.contains("p=quarantine"),
        "{detail}"
    );

    let r = run().await;
    assert_eq!(r.stdout, "", "unchanged cycle: no alert");

    let spf = r#"v=spf1 ip4:127.77.212.0/24 ~all"#;
    lab.set_txt("spf-good.mxray.test", spf);
    let r = run().await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let alerts = lines(&r.stdout);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["kind"], "mail-auth.weakened");
}
