//! Progress: a bar with counts and ETA when stderr is a terminal, periodic plain lines
//! otherwise (CI logs, cron mail).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mxray_scan::Progress;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub struct Reporter {
    bar: Option<ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
    quiet: bool,
}

impl Reporter {
    pub fn start(p: Arc<Progress>, total: Option<u64>, quiet: bool) -> Self {
        if quiet {
            return Self {
                bar: None,
                task: None,
                quiet,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = match total {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} domains  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            let b = bar.clone();
            let task = tokio::spawn(async move {
                loop {
                    b.set_position(p.domains_done.load(Ordering::Relaxed));
                    b.set_message(format!(
                        "hosts {}/{}",
                        p.hosts_done.load(Ordering::Relaxed),
                        p.hosts_queued.load(Ordering::Relaxed)
                    ));
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
            Self {
                bar: Some(bar),
                task: Some(task),
                quiet,
            }
        } else {
            let task = tokio::spawn(async move {
                let start = tokio::time::Instant::now();
                let mut iv = tokio::time::interval(Duration::from_secs(10));
                iv.tick().await;
                loop {
                    iv.tick().await;
                    let d = p.domains_done.load(Ordering::Relaxed);
                    let rate = d as f64 / start.elapsed().as_secs_f64().max(0.001);
                    let of = total.map(|t| format!("/{t}")).unwrap_or_default();
                    eprintln!(
                        "mxray: {d}{of} domains, hosts {}/{}, {rate:.1} domains/s",
                        p.hosts_done.load(Ordering::Relaxed),
                        p.hosts_queued.load(Ordering::Relaxed)
                    );
                }
            });
            Self {
                bar: None,
                task: Some(task),
                quiet,
            }
        }
    }

    /// A warning line that does not tear the bar.
    pub fn warn(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("mxray: {msg}")),
            None => eprintln!("mxray: {msg}"),
        }
    }

    pub fn finish(self) {
        if let Some(t) = self.task {
            t.abort();
        }
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
