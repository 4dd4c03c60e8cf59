//! One function per subcommand.

pub(crate) mod audit;
mod check;
mod demo;
mod diff;
mod export;
mod lab;
mod meta;
pub(crate) mod notify;
mod recheck;
pub(crate) mod report;
mod scan;
mod scans;
mod simulate;
pub mod software;
pub(crate) mod stats;
mod survey;
pub mod watch;

use crate::args::Command;

/// Runs a command; returns the exit status (0 or 1), or an operator error (exit 2).
pub async fn dispatch(cmd: Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Scan {
            file,
            scan,
            input,
            fail_on,
            resume,
            shard,
            format,
        } => scan::run(file, scan, input, fail_on, resume, shard, format).await,
        Command::Check {
            domain,
            scan,
            fail_on,
            format,
            lang,
        } => check::run(domain, scan, fail_on, format, lang.into()).await,
        Command::Audit(a) => audit::run(a).await,
        Command::Export {
            format,
            scan,
            db,
            output,
            bom,
            table,
        } => export::run(format, scan, db.path, output, bom, table).await,
        Command::Demo { db, format } => demo::run(db, format).await,
        Command::Report {
            scan,
            lang,
            db,
            output,
        } => report::run(scan, lang, db.path, output).await,
        Command::Scans { db, format } => scans::run(db.path, format).await,
        Command::Recheck { scan, db, format } => recheck::run(scan, db.path, format).await,
        Command::Diff {
            old,
            new,
            db,
            format,
            all,
        } => diff::run(old, new, db.path, format, all).await,
        Command::Simulate {
            domains,
            ips,
            list,
            dns_port,
            smtp_port,
            latency_ms,
            relay_everything,
            ns_ips,
            web_ips,
        } => {
            let population = simulate::Population {
                domains,
                ips,
                relay_everything,
                ns_ips,
                web_ips,
            };
            simulate::run(population, list, dns_port, smtp_port, latency_ms).await
        }
        Command::Stats(args) => stats::run(args).await,
        Command::Notify(args) => notify::run(args).await,
        Command::Lab {
            dns_port,
            smtp_port,
            https_port,
        } => lab::run(dns_port, smtp_port, https_port).await,
        Command::Advisories { action } => software::advisories(action).await,
        Command::Affected(a) => software::affected(a).await,
        Command::Alerts(a) => software::alerts(a).await,
        Command::Watch(a) => watch::run(*a).await,
        Command::Software(a) => software::software(a).await,
        Command::Survey { action } => survey::run(action).await,
        Command::Worker {
            scan,
            survey,
            name,
            batch,
            lease,
            format,
        } => survey::worker(scan, survey, name, batch, lease, format).await,
        Command::Completions { shell } => meta::completions(shell),
        Command::Man => meta::man(),
        Command::Config {
            action: crate::args::ConfigAction::Show,
        } => meta::config_show(),
    }
}
