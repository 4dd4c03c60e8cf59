//! The configuration file: TOML, one key per long option a surveyor repeats (`resolver`,
//! `ehlo-name`, `rate`, `dnsbl`, `exclude`, `db`, …). Its values become the options'
//! defaults, so a flag given on the command line always wins, and `--help` shows the
//! effective default.
//!
//! Found at `--config FILE`, else `$XDG_CONFIG_HOME/mxray/config.toml`, else
//! `~/.config/mxray/config.toml`; a file named explicitly must exist, the default ones are
//! optional.

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The keys a configuration file may set: long option names of `scan`, `check` and `worker`
/// (and `db`, which every command takes). Anything else is a typo and refused.
pub const KEYS: &[&str] = &[
    "db",
    "resolver",
    "ehlo-name",
    "relay-sender",
    "relay-recipient",
    "rate",
    "per-ip-interval",
    "per-net",
    "concurrency",
    "dns-concurrency",
    "timeout",
    "host-deadline",
    "exclude",
    "dnsbl",
    "no-dnsbl",
    "dnsbl-rate",
    "asn-db",
    "ca-file",
    "signatures",
    "dkim-selectors",
    "dkim-selectors-file",
    "trust-anchor",
    "port",
    "web-path",
    "submission",
    "smtps",
    "no-relay-test",
    "no-exposure",
    "allow-private",
];

/// Largest configuration file read.
const MAX_CONFIG: u64 = 256 * 1024;

/// A loaded configuration: where from, and each key's values (several for `port` and
/// `web-path`, which repeat).
#[derive(Debug, Default)]
pub struct Config {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    /// The places looked at when no file was found.
    pub looked_at: Vec<PathBuf>,
    /// Key → values, in key order.
    pub values: BTreeMap<String, Vec<String>>,
}

/// `--config FILE` or `--config=FILE` from the raw arguments (read before clap parses them,
/// since the file supplies clap's defaults).
pub fn explicit_path(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// The default places, in order.
fn default_paths() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        out.push(PathBuf::from(x).join("mxray/config.toml"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        out.push(PathBuf::from(h).join(".config/mxray/config.toml"));
    }
    out
}

/// Loads the configuration: the explicit file (which must exist), or the first default
/// file that exists, or nothing.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => {
            let looked_at = default_paths();
            match looked_at.iter().find(|p| p.is_file()) {
                Some(p) => p.clone(),
                None => {
                    return Ok(Config {
                        looked_at,
                        ..Config::default()
                    });
                }
            }
        }
    };
    let text = read_capped(&path)
        .with_context(|| format!("cannot read configuration file {}", path.display()))?;
    let values = parse(&text).with_context(|| format!("configuration file {}", path.display()))?;
    Ok(Config {
        path: Some(path),
        looked_at: Vec::new(),
        values,
    })
}

fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_CONFIG + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            MAX_CONFIG / 1024
        )));
    }
    Ok(text)
}

/// Parses the file's text into key → values. Keys may be written with `-` or `_`.
pub fn parse(text: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let table: toml::Table = toml::from_str(text)?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let name = key.replace('_', "-");
        if !KEYS.contains(&name.as_str()) {
            bail!("unknown key {key:?} (known: {})", KEYS.join(", "));
        }
        let scalar = |v: &toml::Value| -> anyhow::Result<String> {
            Ok(match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => bail!("{key}: expected a string, number or true/false"),
            })
        };
        let values = match &value {
            toml::Value::Array(a) if matches!(name.as_str(), "port" | "web-path" | "resolver") => {
                a.iter().map(scalar).collect::<anyhow::Result<Vec<_>>>()?
            }
            v => vec![scalar(v)?],
        };
        out.insert(name, values);
    }
    Ok(out)
}

/// Makes the configured values the defaults of every (sub)command option of the same long
/// name, recursively.
pub fn apply(cmd: clap::Command, cfg: &Config) -> clap::Command {
    if cfg.values.is_empty() {
        return cmd;
    }
    let ids: Vec<(clap::Id, String)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            cfg.values
                .contains_key(long)
                .then(|| (a.get_id().clone(), long.to_owned()))
        })
        .collect();
    let mut cmd = cmd;
    for (id, long) in ids {
        let values: Vec<clap::builder::OsStr> = cfg.values[&long]
            .iter()
            .map(|v| clap::builder::OsStr::from(v.clone()))
            .collect();
        cmd = cmd.mut_arg(id, |a| a.default_values(values));
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    // The demo writes a database of its own: a configured survey `db` is not its default.
    for name in names.into_iter().filter(|n| n != "demo") {
        cmd = cmd.mut_subcommand(name, |s| apply(s, cfg));
    }
    cmd
}

/// `mxray config show`: the file read, and each option's effective default for `scan`
/// (the configured value, or the built-in one).
pub fn show(cfg: &Config, cmd: &clap::Command) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match &cfg.path {
        Some(p) => {
            let _ = writeln!(out, "# configuration file: {}", p.display());
        }
        None => {
            let looked: Vec<String> = cfg
                .looked_at
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let _ = writeln!(
                out,
                "# no configuration file (looked at: {})",
                if looked.is_empty() {
                    "nowhere: neither XDG_CONFIG_HOME nor HOME is set".to_owned()
                } else {
                    looked.join(", ")
                }
            );
        }
    }
    let Some(scan) = cmd.find_subcommand("scan") else {
        return out;
    };
    for key in KEYS {
        let Some(arg) = scan.get_arguments().find(|a| a.get_long() == Some(*key)) else {
            continue;
        };
        let from = if cfg.values.contains_key(*key) {
            "configuration file"
        } else {
            "built in"
        };
        let values: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let shown = match (values.as_slice(), *key) {
            ([], _) => "# (unset)".to_owned(),
            (vs, "port" | "web-path") | (vs @ [_, _, ..], "resolver") => format!(
                "[{}]",
                vs.iter()
                    .map(|v| toml_string(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ([v], _) if v.parse::<f64>().is_ok() || v == "true" || v == "false" => v.clone(),
            ([v], _) => toml_string(v),
            (vs, _) => toml_string(&vs.join(",")),
        };
        let _ = writeln!(out, "{key} = {shown}  # {from}");
    }
    out
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_values_kept_as_text() {
        let v = parse("resolver = \"127.0.0.1\"\nper_ip_interval = 1.5\nrate = 20\nno-relay-test = true\nport = [\"smtp=2525\", \"https=8443\"]\n").unwrap();
        assert_eq!(v["resolver"], ["127.0.0.1"]);
        assert_eq!(v["per-ip-interval"], ["1.5"]);
        assert_eq!(v["rate"], ["20"]);
        assert_eq!(v["no-relay-test"], ["true"]);
        assert_eq!(v["port"], ["smtp=2525", "https=8443"]);
        // Several resolvers share a survey's questions.
        let v = parse("resolver = [\"127.0.0.1\", \"127.0.0.2:5353\"]\n").unwrap();
        assert_eq!(v["resolver"], ["127.0.0.1", "127.0.0.2:5353"]);
        let e = parse("resolvr = \"x\"").unwrap_err().to_string();
        assert!(e.contains("resolvr"), "{e}");
        assert!(parse("rate = [1, 2]").is_err());
        assert!(parse("rate = {a = 1}").is_err());
    }

    #[test]
    fn explicit_path_is_found_before_parsing() {
        let a = |v: &[&str]| -> Vec<std::ffi::OsString> { v.iter().map(Into::into).collect() };
        assert_eq!(
            explicit_path(&a(&["mxray", "scan", "--config", "c.toml", "x"])),
            Some(PathBuf::from("c.toml"))
        );
        assert_eq!(
            explicit_path(&a(&["mxray", "--config=c.toml", "scan"])),
            Some(PathBuf::from("c.toml"))
        );
        assert_eq!(
            explicit_path(&a(&["mxray", "scan", "--", "--config"])),
            None
        );
    }
}
