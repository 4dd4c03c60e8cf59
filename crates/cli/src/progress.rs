//! Progress: one bar per stage (discovery, host probes) with rate and ETA when stderr is a
//! terminal; a periodic plain line otherwise (CI logs, cron mail).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mxray_scan::Progress;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub struct Reporter {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    task: Option<tokio::task::JoinHandle<()>>,
    quiet: bool,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Reporter {
    pub fn start(p: Arc<Progress>, total: Option<u64>, quiet: bool) -> Self {
        if quiet {
            return Self {
                bars: None,
                task: None,
                quiet,
            };
        }
        if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            let domains = multi.add(total.map_or_else(ProgressBar::new_spinner, ProgressBar::new));
            domains.set_style(style(
                "discovery  [{elapsed_precise}] {bar:30} {pos}/{len} domains {per_sec} ETA {eta}",
            ));
            let hosts = multi.add(ProgressBar::new(0));
            hosts.set_style(style(
                "host probes [{elapsed_precise}] {bar:30} {pos}/{len} hosts {per_sec} ETA {eta}",
            ));
            let (d, h) = (domains.clone(), hosts.clone());
            let task = tokio::spawn(async move {
                loop {
                    d.set_position(p.domains_done.load(Ordering::Relaxed));
                    h.set_length(p.hosts_queued.load(Ordering::Relaxed));
                    h.set_position(p.hosts_done.load(Ordering::Relaxed));
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
            Self {
                bars: Some((multi, domains, hosts)),
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
                    let secs = start.elapsed().as_secs_f64().max(0.001);
                    let of = total.map(|t| format!("/{t}")).unwrap_or_default();
                    let eta = total
                        .filter(|t| d > 0 && d < *t)
                        .map(|t| {
                            format!(", discovery ETA {:.0}s", (t - d) as f64 * secs / d as f64)
                        })
                        .unwrap_or_default();
                    eprintln!(
                        "mxray: {d}{of} domains ({:.0}/s{eta}), hosts {}/{} probed",
                        d as f64 / secs,
                        p.hosts_done.load(Ordering::Relaxed),
                        p.hosts_queued.load(Ordering::Relaxed)
                    );
                }
            });
            Self {
                bars: None,
                task: Some(task),
                quiet,
            }
        }
    }

    /// A warning line that does not tear the bars.
    pub fn warn(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some((m, _, _)) => m.suspend(|| eprintln!("mxray: {msg}")),
            None => eprintln!("mxray: {msg}"),
        }
    }

    pub fn finish(self) {
        if let Some(t) = self.task {
            t.abort();
        }
        if let Some((_, d, h)) = self.bars {
            d.finish_and_clear();
            h.finish_and_clear();
        }
    }
}
