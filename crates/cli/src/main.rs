//! The `mxray` command: wiring only. Operator errors exit 2 with one line saying what to do;
//! findings at or above `--fail-on` exit 1; anything else exits 0.
#![forbid(unsafe_code)]

mod aggregate;
mod args;
mod cmd;
mod output;
mod progress;
mod reputation;
mod run;
mod software;
mod survey;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MXRAY_LOG")
                .unwrap_or_else(|_| "warn,sqlx=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // ring is the only crypto provider compiled in (no aws-lc); install it for rustls users.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mxray: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(cmd::dispatch(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!(
                "mxray: error: {}",
                mxray_core::sanitize::for_terminal(&format!("{e:#}"))
            );
            ExitCode::from(2)
        }
    }
}
