//! `mxray audit`: scope-authorised checks of the operator's own servers (login protection,
//! weak passwords, the relay canary, the mailing-list posting canary of `mxray_scan::lists`).
//! Every server (and every list's server and subscriber mailbox) is authorised before
//! anything is sent to any of them; one refusal stops the whole run. The scope's credentials and token are never stored, printed
//! or logged: the scan records only [`Scope::record`].

use crate::args::{CheckFormat, ReportLang};
use anyhow::{Context, bail};
use clap::Args;
use mxray_core::checks::audit::{self as checks, ListPost, ListRoster, RelayCanary};
use mxray_core::login::{LoginService, WeakOutcome, protection};
use mxray_core::model::{DomainObservation, Lookup, MxMode};
use mxray_core::scope::{self, Scope};
use mxray_core::{Finding, Severity};
use mxray_scan::login::{self, LoginTarget};
use mxray_scan::net::{Limits, Policy};
use mxray_store::{Item, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Scope file (TOML; see README "Auditing your own servers"): the domains, networks and
    /// servers you have authority over, the accounts to test. Must not be readable by others.
    #[arg(long, value_name = "FILE")]
    pub scope: PathBuf,
    /// DNS resolver, IP:PORT, asked for the `_mxray.<domain>` TXT authorisation.
    #[arg(long, value_name = "IP:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Loopback and private addresses in scope need no TXT authorisation (a lab, an own
    /// network).
    #[arg(long)]
    pub allow_private: bool,
    /// Database: a SQLite file, or a postgres:// URL.
    #[arg(long, default_value = "mxray.db")]
    pub db: PathBuf,
    /// Timeout for each step (connect, each reply), seconds.
    #[arg(long, default_value_t = 15.0)]
    pub timeout: f64,
    /// Name sent in EHLO.
    #[arg(long, default_value = "mxray-audit.invalid")]
    pub ehlo_name: String,
    /// Exit 1 when any finding is at least this severe.
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub fail_on: Severity,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
    /// Language of the text output.
    #[arg(long, value_enum, default_value = "en")]
    pub lang: ReportLang,
}

/// Reads the scope file, refusing one that others can read.
fn read_scope(path: &std::path::Path) -> anyhow::Result<Scope> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read scope file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if !scope::mode_is_private(mode) {
            bail!(
                "scope file {} is readable or writable by every user (mode {:o}); it holds credentials: chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
    }
    if meta.len() > 1024 * 1024 {
        bail!("scope file {} is larger than 1 MiB", path.display());
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read scope file {}", path.display()))?;
    Scope::parse(&text).map_err(|e| anyhow::anyhow!("scope file {}: {e}", path.display()))
}

/// One service's results, for the JSON output.
#[derive(serde::Serialize)]
struct ServiceReport {
    server: String,
    service: &'static str,
    port: u16,
    login_protection: Option<mxray_core::login::Protection>,
    attempts: Vec<mxray_core::login::Attempt>,
    weak_passwords: Vec<(String, WeakOutcome)>,
}

/// One list's results, for the outputs.
#[derive(serde::Serialize)]
struct ListReport {
    list: String,
    server: String,
    verdict: String,
    post: ListPost,
    roster: ListRoster,
}

/// The first address of the domain's most preferred MX.
async fn list_mx(dns: &mxray_scan::resolve::Dns, domain: &str) -> Option<std::net::IpAddr> {
    let Lookup::Found(mx) = dns.mx(domain).await else {
        return None;
    };
    for m in mx.iter().filter(|m| !m.exchange.is_empty()) {
        if let Lookup::Found(ips) = dns.addresses(&m.exchange).await
            && let Some(ip) = ips.first()
        {
            return Some(*ip);
        }
    }
    None
}

fn list_verdict(p: &ListPost, ja: bool) -> String {
    let clean = |s: &str| mxray_core::sanitize::for_terminal(s);
    if !ja {
        return clean(&p.verdict());
    }
    match p {
        ListPost::Refused { reply } => format!("公開ではない: SMTP で拒否 ({})", clean(reply)),
        ListPost::Arrived { after_s, .. } => {
            format!("公開: 非購読者の投稿が {after_s} 秒で購読者に届いた")
        }
        ListPost::NotArrived { waited_s, reply } => format!(
            "公開ではない: 受理 ({}) されたが {waited_s} 秒以内に購読者へ届かなかった(モデレート保留・拒否・フィルタ)",
            clean(reply)
        ),
        ListPost::Failed { why } => format!("判定できず: {}", clean(why)),
    }
}

fn roster_verdict(r: &ListRoster, ja: bool) -> Option<String> {
    let clean = |s: &str| mxray_core::sanitize::for_terminal(s);
    Some(match (r, ja) {
        (ListRoster::NotAsked, _) => return None,
        (
            ListRoster::Exposed {
                request, after_s, ..
            },
            false,
        ) => format!(
            "subscriber list EXPOSED: {} answered a non-owner within {after_s} s",
            clean(request)
        ),
        (
            ListRoster::Exposed {
                request, after_s, ..
            },
            true,
        ) => format!(
            "購読者一覧が漏えい: {} が管理者以外に {after_s} 秒で一覧を送った",
            clean(request)
        ),
        (ListRoster::NotExposed { request, waited_s }, false) => format!(
            "subscriber list not sent to a non-owner ({} , {waited_s} s)",
            clean(request)
        ),
        (ListRoster::NotExposed { request, waited_s }, true) => format!(
            "購読者一覧は管理者以外に送られなかった({}、{waited_s} 秒)",
            clean(request)
        ),
        (ListRoster::Failed { why }, false) => {
            format!("subscriber list request failed: {}", clean(why))
        }
        (ListRoster::Failed { why }, true) => format!("購読者一覧の要求に失敗: {}", clean(why)),
    })
}

pub async fn run(a: AuditArgs) -> anyhow::Result<u8> {
    if !(a.timeout.is_finite() && a.timeout > 0.0 && a.timeout <= 600.0) {
        bail!("--timeout must be between 0 and 600 seconds");
    }
    let scope = read_scope(&a.scope)?;
    let step = Duration::from_secs_f64(a.timeout);

    // Authority first, for every server, before a single packet goes to any of them.
    let dns = mxray_scan::resolve::Dns::new(a.resolver, step.min(Duration::from_secs(5)))
        .map_err(|e| anyhow::anyhow!("DNS resolver: {e}"))?;
    let mut refusals = Vec::new();
    // The lists' servers (named in scope, or the domain's MX) and the subscribers' mailbox
    // servers are authorised like the [[server]] entries, under the list's domain.
    let mut list_servers: Vec<SocketAddr> = Vec::new();
    let mut to_authorise: Vec<scope::Server> = scope.servers.clone();
    for l in &scope.lists {
        let domain = l.domain();
        let ip = match l.server {
            Some(ip) => Some(ip),
            None => list_mx(&dns, &domain).await,
        };
        let Some(ip) = ip else {
            refusals.push(format!(
                "list {}: no server given and no MX address found for {domain}",
                l.address
            ));
            continue;
        };
        list_servers.push(SocketAddr::new(ip, l.port));
        for address in [ip, l.subscriber.server] {
            to_authorise.push(scope::Server {
                address,
                domain: domain.clone(),
                imap: None,
                pop3: None,
                submission: None,
                smtp: None,
            });
        }
    }
    for s in &to_authorise {
        let private_ok = a.allow_private && scope.authorise(s, true, None).is_ok();
        let txt = if private_ok || !scope.contains(s.address) {
            None
        } else {
            let name = scope::txt_name(&s.domain);
            match dns.txt(&name).await {
                Lookup::Found(v) => Some(
                    v.into_iter()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            }
        };
        if let Err(why) = scope.authorise(s, a.allow_private, txt.as_deref()) {
            refusals.push(format!("{} ({}): {why}", s.address, s.domain));
        }
    }
    refusals.dedup();
    if !refusals.is_empty() {
        bail!(
            "refusing to audit (nothing was sent): {}",
            refusals.join("; ")
        );
    }

    // Every authorised address, and nothing else, may be contacted.
    let policy = Policy {
        allowed_classes: vec![
            mxray_core::addr::AddressClass::Loopback,
            mxray_core::addr::AddressClass::Private,
            mxray_core::addr::AddressClass::LinkLocal,
        ],
        ..Policy::default()
    };
    let limits = Limits {
        connect_timeout: step.min(Duration::from_secs(10)),
        step_timeout: step,
        ..Limits::default()
    };
    let candidates_list = scope::weak_list();
    let mut reports = Vec::new();
    let mut relays: Vec<(String, RelayCanary)> = Vec::new();
    let mut by_domain: Vec<(String, Vec<Finding>)> = scope
        .domains
        .iter()
        .map(|d| (d.clone(), Vec::new()))
        .collect();
    for s in &scope.servers {
        let mut services = Vec::new();
        if let Some(p) = s.submission {
            services.push((LoginService::Submission, p));
        }
        if let Some(p) = s.imap {
            services.push((LoginService::Imap, p));
        }
        if let Some(p) = s.pop3 {
            services.push((LoginService::Pop3, p));
        }
        let mut findings = Vec::new();
        for (i, (svc, port)) in services.iter().enumerate() {
            let target = LoginTarget {
                addr: SocketAddr::new(s.address, *port),
                service: *svc,
            };
            let mut rep = ServiceReport {
                server: s.address.to_string(),
                service: svc.as_str(),
                port: *port,
                login_protection: None,
                attempts: Vec::new(),
                weak_passwords: Vec::new(),
            };
            if let Some(l) = &scope.login {
                let attempts = login::failed_logins(
                    &policy,
                    limits,
                    target,
                    &a.ehlo_name,
                    &l.user,
                    l.attempts,
                )
                .await;
                findings.extend(checks::login_protection(
                    s.address, *port, *svc, &l.user, &attempts,
                ));
                rep.login_protection = Some(protection(&attempts));
                rep.attempts = attempts;
            }
            // Weak passwords on the server's first login service only: one account, one
            // verdict (the same password database serves the others).
            if i == 0 {
                for user in &scope.weak_accounts {
                    let cands = scope::weak_candidates(user, &candidates_list);
                    let outcome =
                        login::weak_passwords(&policy, limits, target, &a.ehlo_name, user, &cands)
                            .await;
                    findings.extend(checks::weak_password(
                        s.address, *port, *svc, user, &outcome,
                    ));
                    rep.weak_passwords.push((user.clone(), outcome));
                }
            }
            reports.push(rep);
        }
        if let (Some(port), Some(c)) = (s.smtp, &scope.canary) {
            let relay = SocketAddr::new(s.address, port);
            let marker = mxray_scan::canary::marker();
            let outcome =
                mxray_scan::canary::run(&policy, limits, relay, &a.ehlo_name, c, &marker).await;
            findings.extend(checks::relay_confirmed(
                s.address, port, &c.address, &outcome,
            ));
            relays.push((relay.to_string(), outcome));
        }
        if let Some((_, f)) = by_domain.iter_mut().find(|(d, _)| *d == s.domain) {
            f.extend(findings);
        }
    }

    // The mailing-list posting canary, one list after the other.
    let mut lists: Vec<ListReport> = Vec::new();
    for (l, server) in scope.lists.iter().zip(&list_servers) {
        let marker = mxray_scan::canary::marker();
        let o = mxray_scan::lists::run(&policy, limits, *server, &a.ehlo_name, l, &marker).await;
        let mut findings =
            checks::list_posting(server.ip(), server.port(), &l.address, &l.sender, &o.post);
        findings.extend(checks::list_roster(
            server.ip(),
            server.port(),
            &l.address,
            l.subscriber.mail_address(),
            &o.roster,
        ));
        let domain = l.domain();
        if let Some((_, f)) = by_domain.iter_mut().find(|(d, _)| *d == domain) {
            f.extend(findings);
        }
        lists.push(ListReport {
            list: l.address.clone(),
            server: server.to_string(),
            verdict: o.post.verdict(),
            post: o.post,
            roster: o.roster,
        });
    }

    // Stored as a scan of the scope's domains, so export, report and diff read it.
    let store = Store::open(&a.db).await?;
    let params = serde_json::json!({
        "command": "audit",
        "scope": scope.record(),
        "allow_private": a.allow_private,
        "resolver": a.resolver.map(|r| r.to_string()),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let scan = store.begin_scan(&params).await?;
    let items: Vec<Item> = by_domain
        .iter()
        .map(|(d, f)| Item::Domain {
            obs: DomainObservation::bare(
                d.clone(),
                Lookup::Unknown("not looked up by mxray audit".into()),
                MxMode::Unknown,
            ),
            ips: Vec::new(),
            findings: f.clone(),
        })
        .collect();
    store.write(scan, &items).await?;
    store.finish_scan(scan, "finished").await?;
    store.close().await;

    let all: Vec<&Finding> = by_domain.iter().flat_map(|(_, f)| f).collect();
    match a.format {
        CheckFormat::Json => {
            let v = serde_json::json!({
                "schema": mxray_core::model::SCHEMA_VERSION,
                "scan": scan,
                "services": reports,
                "relays": relays,
                "lists": lists,
                "findings": all,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        CheckFormat::Text => {
            print!("{}", text(&reports, &all, a.lang.into(), scan));
            for (relay, r) in &relays {
                println!("  relay {relay}: {}", serde_json::to_string(r)?);
            }
            let ja = matches!(mxray_report::Lang::from(a.lang), mxray_report::Lang::Ja);
            for l in &lists {
                println!(
                    "  {} {} ({}): {}",
                    if ja {
                        "メーリングリスト"
                    } else {
                        "list"
                    },
                    mxray_core::sanitize::for_terminal(&l.list),
                    l.server,
                    list_verdict(&l.post, ja)
                );
                if let Some(r) = roster_verdict(&l.roster, ja) {
                    println!("    {r}");
                }
            }
        }
    }
    Ok(u8::from(all.iter().any(|f| f.severity >= a.fail_on)))
}

fn text(
    reports: &[ServiceReport],
    findings: &[&Finding],
    lang: mxray_report::Lang,
    scan: i64,
) -> String {
    use mxray_core::login::Protection;
    use mxray_report::Lang;
    let ja = matches!(lang, Lang::Ja);
    let clean = |s: &str| mxray_core::sanitize::for_terminal(s);
    let mut out = String::new();
    out.push_str(if ja {
        "mxray audit: 自組織サーバの検査\n"
    } else {
        "mxray audit: own servers\n"
    });
    for r in reports {
        let verdict = match (&r.login_protection, ja) {
            (None, _) => String::new(),
            (Some(Protection::None), false) => "failed logins NOT throttled".into(),
            (Some(Protection::None), true) => "ログイン失敗を制限していない".into(),
            (Some(Protection::Delayed { max_ms }), false) => {
                format!("failed logins delayed (up to {max_ms} ms)")
            }
            (Some(Protection::Delayed { max_ms }), true) => {
                format!("ログイン失敗に遅延あり(最大 {max_ms} ms)")
            }
            (Some(Protection::Refused { after }), false) => {
                format!("further logins refused after attempt {after}")
            }
            (Some(Protection::Refused { after }), true) => {
                format!("{after} 回目以降のログインを拒否")
            }
            (Some(Protection::AcceptedWrongPassword), false) => {
                "a wrong password was accepted".into()
            }
            (Some(Protection::AcceptedWrongPassword), true) => {
                "誤ったパスワードでログインできた".into()
            }
            (Some(Protection::Unknown), false) => "login protection not determined".into(),
            (Some(Protection::Unknown), true) => "ログイン保護を判定できず".into(),
        };
        out.push_str(&format!(
            "  {}:{} {}: {verdict}\n",
            r.server, r.port, r.service
        ));
        if !r.attempts.is_empty() {
            out.push_str(&format!(
                "    {} {}\n",
                if ja { "応答時間:" } else { "answer times:" },
                mxray_core::login::curve(&r.attempts)
            ));
        }
        for (user, o) in &r.weak_passwords {
            let what = match (o, ja) {
                (WeakOutcome::Fell { how }, false) => format!("WEAK ({})", how.describe()),
                (WeakOutcome::Fell { .. }, true) => "弱いパスワード".into(),
                (WeakOutcome::Resisted { tried }, false) => {
                    format!("resisted {tried} guesses")
                }
                (WeakOutcome::Resisted { tried }, true) => format!("{tried} 個の候補すべて失敗"),
                (WeakOutcome::Stopped { tried }, false) => {
                    format!("stopped after {tried} guesses (throttling or lockout)")
                }
                (WeakOutcome::Stopped { tried }, true) => {
                    format!("{tried} 個で中止(制限またはロックの兆候)")
                }
            };
            out.push_str(&format!("    {}: {what}\n", clean(user)));
        }
    }
    out.push_str(&format!(
        "{} ({scan})\n",
        if ja { "検出事項" } else { "findings, scan" }
    ));
    for f in findings {
        let name = lang.finding_name(&f.id).unwrap_or(&f.title);
        out.push_str(&format!(
            "  [{}] {} {}: {}\n",
            f.severity.as_str(),
            f.id,
            f.subject.name(),
            clean(name)
        ));
        for e in &f.evidence {
            out.push_str(&format!("      {}\n", clean(e)));
        }
        let fix = lang.finding_fix(&f.id).unwrap_or(&f.fix);
        out.push_str(&format!("      fix: {}\n", clean(fix)));
    }
    if findings.is_empty() {
        out.push_str(if ja { "  なし\n" } else { "  none\n" });
    }
    out
}
