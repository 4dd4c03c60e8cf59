//! Commands about mxray itself: shell completions, the man page, the configuration.

use crate::args::Cli;
use clap::CommandFactory;
use std::io::Write;

/// The clap definition as this run sees it (configured defaults applied).
fn command() -> clap::Command {
    crate::config::apply(Cli::command(), crate::configuration())
}

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    // Generated from the bare definitions: a completion script must not carry one user's
    // configured defaults.
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "mxray", &mut buf);
    std::io::stdout().lock().write_all(&buf)?;
    Ok(0)
}

pub fn man() -> anyhow::Result<u8> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
    std::io::stdout().lock().write_all(&buf)?;
    Ok(0)
}

pub fn config_show() -> anyhow::Result<u8> {
    print!(
        "{}",
        crate::config::show(crate::configuration(), &command())
    );
    Ok(0)
}
