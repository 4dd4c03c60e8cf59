//! `mxray watch`: re-checks a domain list every `--interval`, keeps each cycle's conditions in
//! the database (per `--name`), and alerts only on change — as JSON lines on standard output
//! (schema: docs/schema.md, "Watch alerts"), to a webhook, and by mail.

use crate::args::{ReportLang, ScanArgs};
use crate::notify::{MailSettings, MailTls, Posted, Webhook, WebhookUrl};
use crate::run::{self, Source};
use anyhow::{Context, bail};
use clap::Args;
use mxray_core::sanitize::for_terminal;
use mxray_core::watch::{self, Alert, Condition};
use mxray_store::{Channel, Store};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Domain list file (one per line), read again at every cycle.
    pub file: String,
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Time between the starts of two cycles: seconds, or with a unit (90s, 30m, 6h, 1d).
    #[arg(long, default_value = "1h", value_parser = interval)]
    pub interval: Duration,
    /// Run one cycle and exit (for cron or a systemd timer; the state stays in --db).
    #[arg(long, conflicts_with = "cycles")]
    pub once: bool,
    /// Run this many cycles and exit (default: until interrupted).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: Option<u64>,
    /// This watch's name: several watches (lists) may share one database.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Alert when a certificate expires within this many days.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(i64).range(0..=3650))]
    pub expiry_days: i64,
    /// POST each alert as JSON to this URL (http:// or https://).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<WebhookUrl>,
    /// Seconds each webhook attempt may take.
    #[arg(long, default_value_t = 10.0)]
    pub webhook_timeout: f64,
    /// Attempts per alert and cycle (1, 2, 4… s apart); what still fails is retried next cycle.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub webhook_attempts: u32,
    /// Mail the alerts of each cycle to this address (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    pub mail_to: Vec<String>,
    /// Sender of the alert mail.
    #[arg(long, value_name = "ADDRESS", default_value = "mxray@localhost")]
    pub mail_from: String,
    /// Mail server for the alert mail, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:25")]
    pub smtp: String,
    /// TLS towards the mail server.
    #[arg(long, value_enum, default_value = "starttls")]
    pub smtp_tls: MailTls,
    /// SMTP AUTH user; the password is read from MXRAY_SMTP_PASSWORD.
    #[arg(long)]
    pub smtp_user: Option<String>,
    /// Language of the alert mail.
    #[arg(long, value_enum, default_value = "en")]
    pub lang: ReportLang,
}

/// `90`, `90s`, `30m`, `6h`, `1d` → a duration (at least one second).
fn interval(s: &str) -> Result<Duration, String> {
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: a number with an optional unit s, m, h or d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}

/// The alert as one JSON object (a stdout line, a webhook body).
fn alert_json(a: &Alert, watch: &str, scan: i64, at: i64) -> serde_json::Value {
    serde_json::json!({
        "type": "alert",
        "watch": watch,
        "scan": scan,
        "at": at,
        "kind": a.kind.as_str(),
        "severity": a.severity,
        "subject": a.subject,
        "domains": a.domains,
        "finding": a.finding,
        "title": a.kind.title_en(),
        "detail": a.detail,
        "key": a.key,
    })
}

/// One alert for the mail body, in the chosen language.
fn mail_entry(v: &serde_json::Value, lang: ReportLang) -> String {
    let kind = v["kind"].as_str().and_then(watch::AlertKind::parse);
    let s = |k: &str| for_terminal(v[k].as_str().unwrap_or(""));
    let entry = v["finding"].as_str().and_then(mxray_core::catalogue::get);
    let domains: Vec<String> = v["domains"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str())
                .map(for_terminal)
                .collect()
        })
        .unwrap_or_default();
    let (title, labels, fix) = match lang {
        ReportLang::En => (
            kind.map_or("", |k| k.title_en()),
            ["Severity", "Target", "Domains", "What", "Fix"],
            entry.map(|e| e.fix_en.as_str()),
        ),
        ReportLang::Ja => (
            kind.map_or("", |k| k.title_ja()),
            ["深刻度", "対象", "ドメイン", "内容", "対処"],
            entry.map(|e| e.fix_ja.as_str()),
        ),
    };
    // A plain ASCII bullet in English keeps the whole mail 7-bit (no quoted-printable).
    let bullet = match lang {
        ReportLang::En => "*",
        ReportLang::Ja => "■",
    };
    let mut out = format!(
        "{bullet} {title}\n  {}: {}\n  {}: {}\n  {}: {}\n  {}: {}",
        labels[0],
        s("severity"),
        labels[1],
        s("subject"),
        labels[2],
        if domains.is_empty() {
            "-".to_owned()
        } else {
            domains.join(", ")
        },
        labels[3],
        match (lang, entry) {
            (ReportLang::Ja, Some(e)) => format!("{} — {}", e.ja, s("detail")),
            _ => s("detail"),
        },
    );
    if let Some(fix) = fix {
        out.push_str(&format!("\n  {}: {fix}", labels[4]));
    }
    out
}

fn mail_text(bodies: &[serde_json::Value], watch: &str, lang: ReportLang) -> (String, String) {
    let n = bodies.len();
    let (subject, intro, outro) = match lang {
        ReportLang::En => (
            format!("[mxray watch {watch}] {n} alert(s)"),
            format!("mxray watch \"{watch}\" saw {n} change(s) since its previous check:"),
            "Each alert is sent once; the state is kept in mxray's database.".to_owned(),
        ),
        ReportLang::Ja => (
            format!("[mxray watch {watch}] 警告 {n} 件"),
            format!("mxray watch「{watch}」が前回の検査から {n} 件の変化を検出しました。"),
            "各警告は一度だけ送信されます(状態は mxray のデータベースに保存されています)。"
                .to_owned(),
        ),
    };
    let entries: Vec<String> = bodies.iter().map(|b| mail_entry(b, lang)).collect();
    (
        subject,
        format!("{intro}\n\n{}\n\n{outro}\n", entries.join("\n\n")),
    )
}

/// What a cycle did.
struct CycleResult {
    scan: i64,
    alerts: usize,
    baseline: bool,
}

async fn cycle(a: &WatchArgs, webhook: bool, mail: bool) -> anyhow::Result<CycleResult> {
    let cfg = a.scan.survey_config()?;
    let mut params = a.scan.record();
    params["input"] = a.file.clone().into();
    params["watch"] = a.name.clone().into();
    // The resolver not answering is this machine's outage, not the domains': a degraded
    // cycle (once a state exists to keep), not a failed one nor a loss of every host.
    if let Err(e) = run::resolver(&cfg, &a.scan.resolver).await {
        return degraded_cycle(a, params, webhook, mail, e).await;
    }
    let out = run::scan(
        cfg,
        a.scan.resolver.clone(),
        &a.scan.db,
        params,
        Source::Text(a.file.clone(), run::TextFormat::Lines),
        true,
        false,
        None,
    )
    .await?;
    let store = out.store;
    let scan = out.scan;
    let stored = store.findings(scan).await?;
    let hosts = store.hosts(scan).await?;
    let links = store.links(scan).await?;
    let observed = store.domain_observations(scan).await?;
    // Every domain's MX lookup failed: the resolver, not the domains, is what changed.
    let resolver_failed = !observed.is_empty()
        && observed.iter().all(|(_, _, o)| {
            o.as_ref()
                .is_none_or(|o| matches!(o.mx, mxray_core::model::Lookup::Unknown(_)))
        });
    let levels: Vec<watch::MailLevel> = observed
        .iter()
        .filter_map(|(_, _, o)| o.as_ref())
        .flat_map(watch::mail_levels)
        .collect();
    let now = mxray_store::now();
    let current = watch::conditions(&watch::Cycle {
        findings: stored
            .iter()
            .map(|f| (f.domain.as_deref(), f.ip.as_deref(), &f.finding))
            .collect(),
        hosts: &hosts,
        links: &links,
        now,
        expiry_days: a.expiry_days,
        levels,
    });
    let previous = store.watch_state(&a.name).await?;
    let baseline = previous.is_none();
    // A cycle that reached neither the resolver nor any host the last one reached keeps the
    // last good state (and says so once per outage) instead of alerting every host gone.
    let current = match &previous {
        Some(p) if watch::degraded(p, &current, resolver_failed) => {
            let why = if resolver_failed { "resolver" } else { "hosts" };
            watch::degraded_state(p, why)
        }
        _ => current,
    };
    let alerts: Vec<Condition> = match &previous {
        // The first cycle only records the state: alerts are about change.
        None => Vec::new(),
        Some(p) => watch::changes(p, &current),
    };
    let bodies: Vec<(Condition, String)> = alerts
        .iter()
        .map(|al| (al.clone(), alert_json(al, &a.name, scan, now).to_string()))
        .collect();
    store
        .record_watch_cycle(&a.name, scan, &current, &bodies, webhook, mail)
        .await?;
    {
        use std::io::Write as _;
        let mut so = std::io::stdout().lock();
        for (_, b) in &bodies {
            // JSON escapes control characters, so server text cannot drive the terminal.
            let _ = writeln!(so, "{b}");
        }
        let _ = so.flush();
    }
    store.close().await;
    Ok(CycleResult {
        scan,
        alerts: bodies.len(),
        baseline,
    })
}

/// A cycle that could not resolve anything: with a recorded state, the state is kept (the
/// next good cycle is compared with the last good one) and one `watch.degraded` notice per
/// outage is stored and printed; the cycle's scan is recorded as `failed`. Without a state
/// (no first cycle yet) the error stands.
async fn degraded_cycle(
    a: &WatchArgs,
    params: serde_json::Value,
    webhook: bool,
    mail: bool,
    e: anyhow::Error,
) -> anyhow::Result<CycleResult> {
    let store = Store::open(&a.scan.db).await?;
    let Some(previous) = store.watch_state(&a.name).await? else {
        store.close().await;
        return Err(e);
    };
    let scan = store.begin_scan(&params).await?;
    store.finish_scan(scan, "failed").await?;
    let now = mxray_store::now();
    let state = watch::degraded_state(&previous, "resolver");
    let bodies: Vec<(Condition, String)> = watch::changes(&previous, &state)
        .into_iter()
        .map(|al| {
            let b = alert_json(&al, &a.name, scan, now).to_string();
            (al, b)
        })
        .collect();
    store
        .record_watch_cycle(&a.name, scan, &state, &bodies, webhook, mail)
        .await?;
    {
        use std::io::Write as _;
        let mut so = std::io::stdout().lock();
        for (_, b) in &bodies {
            let _ = writeln!(so, "{b}");
        }
        let _ = so.flush();
    }
    eprintln!("mxray watch {}: {e:#}", a.name);
    store.close().await;
    Ok(CycleResult {
        scan,
        alerts: bodies.len(),
        baseline: false,
    })
}

/// Sends what is pending on each channel (this cycle's alerts and any earlier undelivered).
async fn deliver(
    a: &WatchArgs,
    webhook: Option<&Webhook>,
    mail: Option<&MailSettings>,
) -> anyhow::Result<()> {
    let store = Store::open(&a.scan.db).await?;
    if let Some(w) = webhook {
        let mut done = Vec::new();
        for p in store.pending_alerts(&a.name, Channel::Webhook).await? {
            match w.post(&p.body).await {
                Posted::Accepted(_) => done.push(p.id),
                other => {
                    eprintln!(
                        "mxray watch: webhook delivery failed ({other:?}); kept for the next cycle"
                    );
                    break;
                }
            }
        }
        store.mark_delivered(&done, Channel::Webhook).await?;
    }
    if let Some(m) = mail {
        let pending = store.pending_alerts(&a.name, Channel::Mail).await?;
        if !pending.is_empty() {
            let bodies: Vec<serde_json::Value> = pending
                .iter()
                .filter_map(|p| serde_json::from_str(&p.body).ok())
                .collect();
            let (subject, text) = mail_text(&bodies, &a.name, a.lang);
            match crate::notify::send_mail(m, &subject, text).await {
                Ok(()) => {
                    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
                    store.mark_delivered(&ids, Channel::Mail).await?;
                }
                Err(e) => eprintln!("mxray watch: {e:#}; kept for the next cycle"),
            }
        }
    }
    store.close().await;
    Ok(())
}

fn mail_settings(a: &WatchArgs) -> anyhow::Result<Option<MailSettings>> {
    if a.mail_to.is_empty() {
        return Ok(None);
    }
    let (host, port) = a
        .smtp
        .rsplit_once(':')
        .context("--smtp must be HOST:PORT")?;
    let port: u16 = port.parse().context("--smtp must be HOST:PORT")?;
    Ok(Some(MailSettings {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
        tls: a.smtp_tls,
        user: a.smtp_user.clone(),
        from: a.mail_from.clone(),
        to: a.mail_to.clone(),
        timeout: Duration::from_secs_f64(a.webhook_timeout.clamp(1.0, 300.0)),
    }))
}

pub async fn run(a: WatchArgs) -> anyhow::Result<u8> {
    if a.file == "-" {
        bail!("mxray watch reads its list again at every cycle: give a file, not '-'");
    }
    if !(a.webhook_timeout.is_finite() && (0.1..=300.0).contains(&a.webhook_timeout)) {
        bail!("--webhook-timeout must be between 0.1 and 300 seconds");
    }
    let webhook = a
        .webhook
        .clone()
        .map(|u| {
            Webhook::new(
                u,
                Duration::from_secs_f64(a.webhook_timeout),
                a.webhook_attempts,
            )
        })
        .transpose()?;
    let mail = mail_settings(&a)?;
    let cycles = if a.once { Some(1) } else { a.cycles };
    let mut n = 0u64;
    loop {
        let started = Instant::now();
        n += 1;
        let r = match cycle(&a, webhook.is_some(), mail.is_some()).await {
            Ok(r) => r,
            // A long-running watch outlives a resolver or database hiccup: the cycle is
            // skipped (the state is untouched, so nothing is lost or repeated) and the next
            // one runs on time. `--once` and `--cycles` report it (exit 2) for their caller.
            Err(e) if cycles.is_none() => {
                eprintln!(
                    "mxray watch {}: cycle {n} failed: {e:#}; trying again next cycle",
                    a.name
                );
                if wait_or_stop(&a, started).await? {
                    return Ok(0);
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        deliver(&a, webhook.as_ref(), mail.as_ref()).await?;
        eprintln!(
            "mxray watch {}: cycle {n} (scan {}): {}",
            a.name,
            r.scan,
            if r.baseline {
                "first cycle, state recorded (alerts start with the next cycle)".to_owned()
            } else {
                format!("{} alert(s)", r.alerts)
            }
        );
        if cycles.is_some_and(|c| n >= c) {
            return Ok(0);
        }
        if wait_or_stop(&a, started).await? {
            return Ok(0);
        }
    }
}

/// Sleeps until the next cycle is due; `true` when interrupted (Ctrl-C, SIGINT).
async fn wait_or_stop(a: &WatchArgs, started: Instant) -> anyhow::Result<bool> {
    let wait = a.interval.saturating_sub(started.elapsed());
    tokio::select! {
        _ = tokio::time::sleep(wait) => Ok(false),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("mxray watch {}: interrupted; the state is kept", a.name);
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(interval("90"), Ok(Duration::from_secs(90)));
        assert_eq!(interval("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(interval("1d"), Ok(Duration::from_secs(86_400)));
        assert!(interval("5w").is_err());
        assert!(interval("m").is_err());
    }

    #[test]
    fn mail_in_both_languages() {
        let a = Condition {
            key: "relay.opened|192.0.2.1:25|".into(),
            kind: watch::AlertKind::RelayOpened,
            subject: "192.0.2.1:25".into(),
            domains: vec!["a.test".into()],
            severity: mxray_core::Severity::Critical,
            finding: Some("smtp.open_relay".into()),
            detail: "relays \u{1b}[2J for outsiders".into(),
        };
        let v = alert_json(&a, "w", 3, 0);
        let (s, en) = mail_text(std::slice::from_ref(&v), "w", ReportLang::En);
        assert_eq!(s, "[mxray watch w] 1 alert(s)");
        assert!(en.contains("Mail server became an open relay"), "{en}");
        assert!(
            en.contains("a.test") && en.contains("Accept mail only"),
            "{en}"
        );
        assert!(!en.contains('\u{1b}'), "escape neutralised: {en:?}");
        let (s, ja) = mail_text(&[v], "w", ReportLang::Ja);
        assert!(s.contains("警告 1 件"));
        assert!(ja.contains("第三者中継") && ja.contains("対処"), "{ja}");
    }
}
