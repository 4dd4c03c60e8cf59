//! The `mxray` command: wiring only. Operator errors exit 2 with one line saying what to do;
//! findings at or above `--fail-on` exit 1; anything else exits 0. A scan stopped by a
//! signal exits 128 + its number (130 for Ctrl-C, 143 for SIGTERM), as shells expect.
#![forbid(unsafe_code)]

/// `println!` that ends the command quietly with success when standard output is a closed
/// pipe (`mxray diff 1 2 | head`), as ripgrep does. Rust ignores SIGPIPE, so std's
/// `println!` panics there (exit 101); restoring SIGPIPE needs `unsafe` (forbidden here),
/// and this keeps every command's printing unchanged. Defined before the modules so that
/// it shadows std's macro in all of them.
macro_rules! println {
    () => {{ $crate::print_or_exit(format_args!("\n")) }};
    ($($t:tt)*) => {{ $crate::print_or_exit(format_args!("{}\n", format_args!($($t)*))) }};
}

/// `print!` with the same closed-pipe rule as [`println!`].
macro_rules! print {
    ($($t:tt)*) => {{ $crate::print_or_exit(format_args!($($t)*)) }};
}

/// mimalloc instead of glibc's malloc: a survey allocates and frees a few small objects per
/// DNS question (hickory's messages, names, records), and glibc's allocator was 17 % of the
/// scanner's CPU at 200,000 domains, `malloc_consolidate` alone 2 % (docs/BENCHMARKS.md,
/// issue 14). A well-kept crate; setting it needs no `unsafe` here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod aggregate;
mod args;
mod cmd;
mod config;
mod notify;
mod output;
mod progress;
mod reputation;
mod run;
mod software;
mod survey;

use clap::{CommandFactory, FromArgMatches};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// `--quiet`, set once at start.
static QUIET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The configuration file's values, loaded once at start.
static CONFIG: std::sync::OnceLock<config::Config> = std::sync::OnceLock::new();

/// The configuration this run read (empty when there is no file).
pub(crate) fn configuration() -> &'static config::Config {
    CONFIG.get_or_init(config::Config::default)
}

/// Whether `--quiet` was given: no progress lines, no warnings on standard error.
pub(crate) fn quiet() -> bool {
    QUIET.get().copied().unwrap_or(false)
}

/// Writes to standard output; a closed pipe ends the process with status 0 (the reader has
/// all it wanted), any other write error with status 2.
pub(crate) fn print_or_exit(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("mxray: error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

/// Whether an error comes from writing to a closed pipe (`mxray export … | head`).
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Colour in log lines only on a terminal, and never with `NO_COLOR` set
/// (<https://no-color.org>: any non-empty value).
fn log_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cfg = match config::load(config::explicit_path(&argv).as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mxray: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let matches = config::apply(args::Cli::command(), &cfg).get_matches_from(argv);
    let cli = match args::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let _ = CONFIG.set(cfg);
    let _ = QUIET.set(cli.quiet);
    let filter = cli.log_filter();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|e| {
                eprintln!("mxray: warning: log filter {filter:?} ignored: {e}");
                "warn,sqlx=error".into()
            }),
        )
        .with_ansi(log_colour())
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
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e
                .downcast_ref::<run::Interrupted>()
                .map_or(2, |i| i.signal.exit_code());
            eprintln!(
                "mxray: error: {}",
                mxray_core::sanitize::for_terminal(&format!("{e:#}"))
            );
            ExitCode::from(code)
        }
    }
}
