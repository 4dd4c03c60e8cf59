//! Command-line arguments (clap derive): the raw form, validated into a `ScanConfig` by
//! `ScanArgs::config`.

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mxray_core::Severity;
use mxray_core::addr::AddressClass;
use mxray_core::relay::RelayParams;
use mxray_core::target::Exclusions;
use mxray_scan::net::{Limits, Policy};
use mxray_scan::pace::Pacer;
use mxray_scan::{MailboxPort, ScanConfig, SmtpPort, WebPort};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Exit status: 0 ran, 1 findings at or above --fail-on, 2 operator error.
pub const EXIT_HELP: &str = "Exit status: 0 the run completed (findings below --fail-on); 1 findings at or above --fail-on; 2 operator error (bad arguments, unreadable input, resolver not answering, database locked); 130 or 143 stopped by Ctrl-C or SIGTERM (what was stored stays; continue with --resume).";

/// Exit status of `worker`, which has no --fail-on.
pub const WORKER_EXIT_HELP: &str = "Exit status: 0 the survey has no work left; 2 operator error (bad arguments, resolver not answering, database unreachable); 130 or 143 stopped by Ctrl-C or SIGTERM (claims released, everything committed stays).";

#[derive(Debug, Parser)]
#[command(
    name = "mxray",
    version,
    about = "Finds the mail-server mistakes that get organisations abused, blacklisted and exposed.",
    after_help = EXIT_HELP
)]
pub struct Cli {
    /// Configuration file (TOML; default: $XDG_CONFIG_HOME/mxray/config.toml, else
    /// ~/.config/mxray/config.toml, when it exists). Flags given on the command line win.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only errors on standard error: no progress lines, no warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More log lines on standard error: -v what each stage does, -vv every host's probes
    /// (started, finished, why skipped). RUST_LOG (or MXRAY_LOG) filters override both.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log filter: RUST_LOG, else MXRAY_LOG (kept for earlier scripts), else from
    /// --quiet / -v / -vv.
    pub fn log_filter(&self) -> String {
        for var in ["RUST_LOG", "MXRAY_LOG"] {
            if let Ok(v) = std::env::var(var)
                && !v.trim().is_empty()
            {
                return v;
            }
        }
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn,sqlx=error",
            (false, 1) => "info,sqlx=warn,hickory_proto=warn,hickory_resolver=warn",
            (false, _) => "debug,sqlx=warn,hickory_proto=info,hickory_resolver=info,rustls=info",
        }
        .to_owned()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan a list of domains (one per line; '-' for stdin) and store the results.
    #[command(after_help = EXIT_HELP)]
    Scan {
        /// Domain list file, or '-' for standard input: one domain per line, a ranked list
        /// (Tranco, Majestic), a CSV file (--column), a zone file, or with --hosts addresses
        /// and CIDR blocks.
        file: String,
        #[command(flatten)]
        scan: ScanArgs,
        #[command(flatten)]
        input: InputArgs,
        /// Exit 1 when any finding is at least this severe.
        #[arg(long, value_name = "SEVERITY")]
        fail_on: Option<Severity>,
        /// Continue the newest unfinished scan in --db (after a crash, kill or Ctrl-C): domains
        /// and hosts already stored are not scanned again.
        #[arg(long)]
        resume: bool,
        /// Scan only shard K of N of the list (by a fixed hash of each name): N machines
        /// each run `--shard 1/N` … `--shard N/N` over the same list, with no shared
        /// database. The simpler option; `survey` + `worker` balance load and survive a
        /// machine dying.
        #[arg(long, value_name = "K/N")]
        shard: Option<mxray_core::target::Shard>,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// Check one domain and print a verdict with evidence and fixes.
    #[command(after_help = EXIT_HELP)]
    Check {
        /// The domain (Unicode names are converted to punycode).
        domain: String,
        #[command(flatten)]
        scan: ScanArgs,
        /// Exit 1 when any finding is at least this severe.
        #[arg(long, value_name = "SEVERITY", default_value = "high")]
        fail_on: Severity,
        /// Output format (SARIF 2.1.0: one result per finding, rule ids from the catalogue).
        #[arg(long, value_enum, default_value = "text")]
        format: VerdictFormat,
        /// Language of the text verdict (finding names and fixes from the catalogue).
        #[arg(long, value_enum, default_value = "en")]
        lang: ReportLang,
    },
    /// Audit your own servers (scope-authorised, intrusive): failed-login protection and
    /// weak passwords of the accounts named in the scope file.
    #[command(after_help = EXIT_HELP)]
    Audit(crate::cmd::audit::AuditArgs),
    /// Export stored results.
    Export {
        /// Output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Scan id (default: the newest).
        #[arg(long)]
        scan: Option<i64>,
        #[command(flatten)]
        db: Db,
        /// Output file (default, or '-': standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// CSV: start with a UTF-8 byte-order mark so Excel reads UTF-8.
        #[arg(long)]
        bom: bool,
        /// CSV: which table (JSON Lines always carries both, on the domain and host lines).
        #[arg(long, value_enum, default_value = "findings")]
        table: ExportTable,
    },
    /// Write a self-contained offline HTML report (charts, domains, hosts, evidence, fixes).
    Report {
        /// Scan id (default: the newest).
        #[arg(long)]
        scan: Option<i64>,
        /// Language.
        #[arg(long, value_enum, default_value = "en")]
        lang: ReportLang,
        #[command(flatten)]
        db: Db,
        /// Output file ('-': standard output).
        #[arg(short, long, default_value = "report.html")]
        output: PathBuf,
    },
    /// Compare two scans: findings new, resolved and unchanged, per domain.
    Diff {
        /// The older scan id.
        old: i64,
        /// The newer scan id.
        new: i64,
        #[command(flatten)]
        db: Db,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
        /// Also list unchanged findings (text format).
        #[arg(long)]
        all: bool,
    },
    /// List the scans in a database: ids, times, status, counts and options.
    Scans {
        #[command(flatten)]
        db: Db,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// Re-run every check over a stored scan's observations (no packet sent) with this
    /// version's checks, signatures and advisories, replacing that scan's findings.
    Recheck {
        /// Scan id (default: the newest).
        #[arg(long)]
        scan: Option<i64>,
        #[command(flatten)]
        db: Db,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// Start the built-in lab on loopback, scan it, and print the summary.
    Demo {
        /// SQLite file for the demo scan; replaced only when an earlier demo wrote it.
        #[arg(long, default_value = "mxray-demo.db")]
        db: PathBuf,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// Run a simulated network of N domains over M loopback mail servers (benchmarks; see
    /// docs/BENCHMARKS.md) until interrupted.
    Simulate {
        /// Domains.
        #[arg(long, default_value_t = 200_000)]
        domains: usize,
        /// Mail-server addresses (127.80.0.0/16).
        #[arg(long, default_value_t = 2_000)]
        ips: usize,
        /// Write the domain list here.
        #[arg(long)]
        list: std::path::PathBuf,
        /// DNS port.
        #[arg(long, default_value_t = 5354)]
        dns_port: u16,
        /// SMTP port of every server.
        #[arg(long, default_value_t = 2526)]
        smtp_port: u16,
        /// Median round-trip latency, milliseconds.
        #[arg(long, default_value_t = 60)]
        latency_ms: u64,
        /// Share of the open relays that relay every recipient, nonexistent users at their own
        /// domains too (the others refuse unknown local users), 0 to 1.
        #[arg(long, default_value_t = 0.5)]
        relay_everything: f64,
        /// Hosting providers' name-server addresses shared by the domains' NS records
        /// (Zipf-like; 127.80.240.0/22, DNS only, on --dns-port; 0: no NS records).
        #[arg(long, default_value_t = 50)]
        ns_ips: usize,
        /// Web-only addresses (the `www.` hosts of a third of the domains; 127.80.248.0/22).
        #[arg(long, default_value_t = 20)]
        web_ips: usize,
    },
    /// Survey tables: counts, shares and the top-ten share by provider, software, OS, finding
    /// or block list.
    Stats(crate::cmd::stats::StatsArgs),
    /// Write one self-contained notice per provider (or per domain) with its affected hosts
    /// and domains, the evidence and the fix (HTML, CSV and a plain-text cover note).
    Notify(crate::cmd::notify::NotifyArgs),
    /// Run the built-in lab on loopback until interrupted (for trying mxray by hand).
    Lab {
        /// DNS port.
        #[arg(long, default_value_t = 5353)]
        dns_port: u16,
        /// SMTP port of every emulated server.
        #[arg(long, default_value_t = 2525)]
        smtp_port: u16,
        /// HTTPS port of the MTA-STS policy hosts.
        #[arg(long, default_value_t = 8443)]
        https_port: u16,
    },
    /// Advisories: import OSV JSON or native TOML files, list what is stored.
    Advisories {
        #[command(subcommand)]
        action: crate::cmd::software::AdvisoriesAction,
    },
    /// Hosts, domains and providers affected by an advisory, from stored data (no scanning).
    Affected(crate::cmd::software::AffectedArgs),
    /// Advisory matches that are new since the last time this was asked.
    #[command(
        after_help = "Exit status: 0 no new match at or above --fail-on; 1 at least one; 2 operator error."
    )]
    Alerts(crate::cmd::software::AlertsArgs),
    /// Re-check a domain list every --interval and alert only on change (new block-list
    /// listing, relay opened, certificate expiring, SPF/DMARC weakened, new service, new
    /// advisory, host gone): JSON lines on standard output, a webhook, mail.
    Watch(Box<crate::cmd::watch::WatchArgs>),
    /// Software, versions and OS guesses per host, with the banners they came from.
    Software(crate::cmd::software::SoftwareArgs),
    /// Surveys shared by several workers through one database (PostgreSQL for several
    /// machines): create one from a domain list, see where it stands.
    Survey {
        #[command(subcommand)]
        action: SurveyAction,
    },
    /// Work on a survey: claim batches of its targets, scan them, commit the results with the
    /// claims. Start any number, on any machines, against the same --db.
    #[command(after_help = WORKER_EXIT_HELP)]
    Worker {
        #[command(flatten)]
        scan: ScanArgs,
        /// Survey (scan) id (default: the newest survey in --db).
        #[arg(long)]
        survey: Option<i64>,
        /// This worker's name in `survey status` (default: host name and process id).
        #[arg(long)]
        name: Option<String>,
        /// Targets claimed at a time.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
        /// Seconds a claim lasts without this worker's heartbeat; after that (the worker
        /// died), other workers take its targets over.
        #[arg(long, default_value_t = 120.0)]
        lease: f64,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// Print a shell completion script (bash: save as
    /// ~/.local/share/bash-completion/completions/mxray; zsh: as _mxray in a directory of
    /// $fpath; fish: as ~/.config/fish/completions/mxray.fish).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `mxray man | man -l -`).
    Man,
    /// The configuration file (TOML; see --config).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the configuration file read and each option's effective value for `scan` (from
    /// the file, or built in), as TOML that can start a configuration file.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum SurveyAction {
    /// Load a domain list (one per line) as a new survey's targets.
    Create {
        /// Domain list file, or '-' for standard input.
        file: String,
        #[command(flatten)]
        db: Db,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// Progress, rate, ETA and per-worker counts.
    Status {
        #[command(flatten)]
        db: Db,
        /// Survey id (default: the newest).
        #[arg(long)]
        survey: Option<i64>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// JSON Lines (schema: docs/schema.md).
    Jsonl,
    /// One row per finding per domain, safe for spreadsheets.
    Csv,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq, ValueEnum)]
pub enum ExportTable {
    /// One row per finding per domain.
    Findings,
    /// One row per product per host per domain: version, build, OS guess, advisories.
    Software,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReportLang {
    /// English.
    En,
    /// Japanese (日本語).
    Ja,
}

impl From<ReportLang> for mxray_report::Lang {
    fn from(l: ReportLang) -> Self {
        match l {
            ReportLang::En => Self::En,
            ReportLang::Ja => Self::Ja,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CheckFormat {
    /// A readable verdict.
    Text,
    /// JSON, for scripts (one document; docs/schema.md).
    Json,
}

/// `check`'s output formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum VerdictFormat {
    /// A readable verdict.
    Text,
    /// JSON, for scripts (the domain report; docs/schema.md).
    Json,
    /// SARIF 2.1.0, for CI pipelines and code-scanning tools.
    Sarif,
}

/// The `--db` option, one definition for every command that stores or reads results.
#[derive(Clone, Debug, Args)]
pub struct Db {
    /// Database: a SQLite file (created when a command stores results), or a
    /// postgres://user@host/db URL.
    #[arg(
        id = "db",
        long = "db",
        value_name = "FILE|URL",
        default_value = "mxray.db"
    )]
    pub path: PathBuf,
}

impl std::ops::Deref for Db {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::path::Path> for Db {
    fn as_ref(&self) -> &std::path::Path {
        &self.path
    }
}

/// How `scan` reads its input file.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, clap::ValueEnum)]
pub enum InputFormat {
    /// A zone file when it starts with $ORIGIN, $TTL or an SOA record; CSV with --column;
    /// else one domain per line (ranked lists included).
    #[default]
    Auto,
    /// One domain per line, or a ranked list (`1,example.jp`).
    Lines,
    /// CSV with a header row; the domain in --column.
    Csv,
    /// A DNS zone file: the owner names of its NS records (delegations, the apex).
    Zone,
    /// IP addresses and CIDR blocks, probed directly as mail hosts (same as --hosts).
    Hosts,
}

/// The input options of `scan`.
#[derive(Clone, Debug, Args)]
pub struct InputArgs {
    /// What the input file holds.
    #[arg(long, value_enum, default_value = "auto")]
    pub input_format: InputFormat,
    /// CSV input: the column holding the domain, by header name or 1-based number.
    #[arg(long, value_name = "NAME|N")]
    pub column: Option<mxray_core::inputs::Column>,
    /// The file lists IP addresses and CIDR blocks of one's own networks (`192.0.2.0/28`):
    /// each address is probed directly as a mail host (SMTP on the configured ports, the
    /// relay battery, exposure), with no MX discovery. Excluded addresses are never
    /// contacted; IPv4 network and broadcast addresses are skipped.
    #[arg(long)]
    pub hosts: bool,
    /// Most addresses a --hosts file may expand to (a /16 by default); larger blocks are
    /// refused before anything is contacted.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub max_hosts: u64,
}

impl InputArgs {
    /// The reading the options ask for; `Err` for contradictory options.
    pub fn source(&self, file: String) -> anyhow::Result<crate::run::Source> {
        use crate::run::{Source, TextFormat};
        let format = if self.hosts {
            InputFormat::Hosts
        } else {
            self.input_format
        };
        if self.column.is_some() && !matches!(format, InputFormat::Auto | InputFormat::Csv) {
            anyhow::bail!(
                "--column reads CSV input; it cannot be used with --input-format {format:?} or --hosts"
            );
        }
        Ok(match format {
            InputFormat::Hosts => Source::Hosts(file, self.max_hosts),
            InputFormat::Csv => match &self.column {
                Some(c) => Source::Text(file, TextFormat::Csv(c.clone())),
                None => anyhow::bail!("--input-format csv needs --column NAME|N"),
            },
            InputFormat::Auto => match &self.column {
                Some(c) => Source::Text(file, TextFormat::Csv(c.clone())),
                None => Source::Text(file, TextFormat::Auto),
            },
            InputFormat::Lines => Source::Text(file, TextFormat::Lines),
            InputFormat::Zone => Source::Text(file, TextFormat::Zone),
        })
    }
}

/// Options shared by `scan` and `check`.
#[derive(Clone, Debug, Args)]
pub struct ScanArgs {
    /// DNS resolver to ask, IP or IP:PORT (a bare IP means port 53; IPv6 with a port as
    /// [::1]:53). Repeat it to spread the questions over several resolvers (one that times
    /// out is avoided for a while). Default: the system's resolvers. A survey should ask a
    /// recursive resolver of its own (README: "Resolvers").
    #[arg(long, value_name = "IP[:PORT]", value_parser = resolver_addr)]
    pub resolver: Vec<SocketAddr>,
    #[command(flatten)]
    pub db: Db,
    /// Hosts probed at once (each still at most one connection at a time, at least
    /// --per-ip-interval apart, at most --per-net hosts of one /24 or /48 at once).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Domains resolved at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub dns_concurrency: u32,
    /// Timeout for each step (connect, each reply, DNS), seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Everything done to one host ends by this deadline, seconds.
    #[arg(long, default_value_t = 120.0)]
    pub host_deadline: f64,
    /// File of domains, IPs and CIDRs never to contact or look up.
    #[arg(long, value_name = "FILE")]
    pub exclude: Option<PathBuf>,
    /// Name sent in EHLO; make it identify you (a host name whose web page explains the scan).
    #[arg(long, default_value = "mxray-scanner.invalid")]
    pub ehlo_name: String,
    /// Port overrides, SERVICE=PORT (services: smtp, submission, smtps, pop3, pop3s, imap,
    /// imaps, http, https, dns, ssh; with --exposure-extra: telnet, smb, netbios, http-proxy,
    /// http-proxy-alt, socks, ftp). Repeatable.
    #[arg(long = "port", value_name = "SERVICE=PORT")]
    pub ports: Vec<String>,
    /// Also probe submission (587, STARTTLS).
    #[arg(long)]
    pub submission: bool,
    /// Also probe SMTPS (465, implicit TLS).
    #[arg(long)]
    pub smtps: bool,
    /// Skip the open-relay battery (it never sends DATA, but some operators prefer none).
    #[arg(long)]
    pub no_relay_test: bool,
    /// Outside sender used by the relay battery.
    #[arg(long, default_value = "mxray-probe@example.org")]
    pub relay_sender: String,
    /// Outside recipient used by the relay battery.
    #[arg(long, default_value = "mxray-relay-test@example.net")]
    pub relay_recipient: String,
    /// Skip the exposure probes (POP3/IMAP, web, DNS servers, SSH).
    #[arg(long)]
    pub no_exposure: bool,
    /// Also probe mail hosts for telnet, SMB (SMB1), open HTTP/SOCKS proxies and anonymous
    /// FTP (always on in `check`). The proxies are asked only to connect to the host's own
    /// SMTP port; nothing is sent through them.
    #[arg(long)]
    pub exposure_extra: bool,
    /// Skip the TLS version and cipher audit of the mail ports where TLS was found (`check`
    /// runs it unless told not to).
    #[arg(long)]
    pub no_tls_audit: bool,
    /// Run the TLS version and cipher audit in surveys too (`scan`, `survey`, `worker`: off
    /// by default; it costs up to seven connections per TLS port).
    #[arg(long, conflicts_with = "no_tls_audit")]
    pub tls_audit: bool,
    /// Paths requested on web servers besides /, /.git/HEAD and the status pages
    /// (default: /mail/ /Maildir/ /backup/ /webmail/). Repeatable.
    #[arg(long = "web-path", value_name = "PATH")]
    pub web_paths: Vec<String>,
    /// Name asked recursively of each name server to test for open recursion.
    #[arg(long, default_value = "example.com")]
    pub recursion_name: String,
    /// Zone-transfer policy: try AXFR on at most N of the zones that lead to each name-server
    /// address (default: 3 in `scan` and `worker`, every zone in `check`; 0: none). A server
    /// that hands one out is reported as "allows zone transfer (k of n zones tried)"; zones
    /// not tried are not tested, never reported as safe.
    #[arg(long, value_name = "N")]
    pub axfr_per_server: Option<u32>,
    /// Allow contacting loopback addresses (the lab, tests).
    #[arg(long)]
    pub allow_loopback: bool,
    /// Allow contacting private, loopback and link-local addresses (scanning your own network).
    #[arg(long)]
    pub allow_private: bool,
    /// New connections per second for the whole scan (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
    /// Minimum seconds between two connections to the same address (a host gets up to ten:
    /// SMTP, the relay test, POP3/IMAP, HTTP/HTTPS, SSH).
    #[arg(long, default_value_t = 0.25)]
    pub per_ip_interval: f64,
    /// At most this many hosts of one /24 (IPv6 /48) probed at once (0: no cap).
    #[arg(long, default_value_t = 16)]
    pub per_net: u32,
    /// DNS block lists to ask, replacing the built-in set (crates/core/data/dnsbl.toml) for this run:
    /// ZONE[=ID],… where ID names a built-in list whose return codes ZONE uses.
    #[arg(long, value_name = "ZONE[=ID],...")]
    pub dnsbl: Option<String>,
    /// Ask no DNS block list.
    #[arg(long, conflicts_with = "dnsbl")]
    pub no_dnsbl: bool,
    /// Queries per second to each block list, replacing the lists' own free-use rates
    /// (crates/core/data/dnsbl.toml). 0: unlimited — only for your own mirror or a licensed feed.
    #[arg(long, value_name = "N")]
    pub dnsbl_rate: Option<u32>,
    /// IP-to-AS database (MaxMind GeoLite2-ASN or DB-IP ASN mmdb) for provider attribution;
    /// without it providers are guessed from PTR and MX host names.
    #[arg(long, value_name = "FILE")]
    pub asn_db: Option<PathBuf>,
    /// Software signature file replacing the built-in one (format: crates/core/data/fingerprints.toml).
    #[arg(long, value_name = "FILE")]
    pub signatures: Option<PathBuf>,
    /// DKIM selectors asked, replacing the built-in list (crates/core/data/dkim-selectors.txt): A,B,…
    #[arg(long, value_name = "A,B,...")]
    pub dkim_selectors: Option<String>,
    /// File of DKIM selectors (one per line, '#' comments), replacing the built-in list.
    #[arg(long, value_name = "FILE", conflicts_with = "dkim_selectors")]
    pub dkim_selectors_file: Option<PathBuf>,
    /// Extra trust anchors (PEM) besides Mozilla's roots, for certificate verification of
    /// every TLS service and of MTA-STS policy hosts (your private CA; the lab's CA).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// DNSSEC trust anchors for mxray's own validation: DS or DNSKEY records in zone-file
    /// format (default: the IANA root keys, KSK-2017 20326 and KSK-2024 38696).
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
}

/// A resolver address: `IP:PORT`, or a bare IP on port 53.
fn resolver_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("{s:?} is not an IP address or IP:PORT"))
}

/// Zones tried for AXFR per name-server address in a survey, unless `--axfr-per-server`.
pub const SURVEY_AXFR_PER_SERVER: u32 = 3;

/// At most this many DKIM selectors are asked per domain.
const MAX_SELECTORS: usize = 100;

/// Validates a DKIM selector list (a selector is one or more DNS labels).
fn dkim_selectors(list: &[&str], from: &str) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for sel in list {
        let sel = sel.trim().to_ascii_lowercase();
        if sel.is_empty() {
            continue;
        }
        let ok = sel.len() <= 200
            && sel.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !ok {
            bail!("{from}: {sel:?} is not a DKIM selector (letters, digits, '-', '_', dots)");
        }
        if !out.contains(&sel) {
            out.push(sel);
        }
    }
    if out.is_empty() {
        bail!("{from}: no selector given");
    }
    if out.len() > MAX_SELECTORS {
        bail!("{from}: {} selectors, at most {MAX_SELECTORS}", out.len());
    }
    Ok(out)
}

fn secs(v: f64, what: &str) -> anyhow::Result<Duration> {
    if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
        bail!("--{what} must be a number of seconds between 0 and 86400, not {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

impl ScanArgs {
    /// Validates into a scan configuration.
    pub fn config(&self) -> anyhow::Result<ScanConfig> {
        let step = secs(self.timeout, "timeout")?;
        if !(self.per_ip_interval.is_finite() && (0.0..=3600.0).contains(&self.per_ip_interval)) {
            bail!("--per-ip-interval must be between 0 and 3600 seconds");
        }
        let deadline = secs(self.host_deadline, "host-deadline")?;
        crate::software::signatures(self.signatures.as_deref())?;
        let exclusions = match &self.exclude {
            None => Exclusions::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read exclusion file {}", p.display()))?;
                Exclusions::parse(&text)
                    .map_err(|e| anyhow::anyhow!("exclusion file {}: {e}", p.display()))?
            }
        };
        let mut allowed = Vec::new();
        if self.allow_loopback || self.allow_private {
            allowed.push(AddressClass::Loopback);
        }
        if self.allow_private {
            allowed.extend([AddressClass::Private, AddressClass::LinkLocal]);
        }
        let (mut smtp, mut submission, mut smtps) = (25u16, 587u16, 465u16);
        let (mut pop3, mut pop3s, mut imap, mut imaps) = (110u16, 995u16, 143u16, 993u16);
        let (mut http, mut https, mut dns, mut ssh) = (80u16, 443u16, 53u16, 22u16);
        let (mut telnet, mut smb, mut netbios, mut ftp) = (23u16, 445u16, 139u16, 21u16);
        let (mut http_proxy, mut http_proxy_alt, mut socks) = (3128u16, 8080u16, 1080u16);
        for spec in &self.ports {
            let (svc, port) = spec.split_once('=').with_context(|| {
                format!("--port {spec:?}: expected SERVICE=PORT, e.g. smtp=2525")
            })?;
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .with_context(|| format!("--port {spec:?}: invalid port"))?;
            match svc {
                "smtp" => smtp = port,
                "submission" => submission = port,
                "smtps" => smtps = port,
                "pop3" => pop3 = port,
                "pop3s" => pop3s = port,
                "imap" => imap = port,
                "imaps" => imaps = port,
                "http" => http = port,
                "https" => https = port,
                "dns" => dns = port,
                "ssh" => ssh = port,
                "telnet" => telnet = port,
                "smb" => smb = port,
                "netbios" => netbios = port,
                "ftp" => ftp = port,
                "http-proxy" => http_proxy = port,
                "http-proxy-alt" => http_proxy_alt = port,
                "socks" => socks = port,
                other => {
                    bail!(
                        "--port {spec:?}: unknown service {other:?} (smtp, submission, smtps, pop3, pop3s, imap, imaps, http, https, dns, ssh, telnet, smb, netbios, http-proxy, http-proxy-alt, socks, ftp)"
                    )
                }
            }
        }
        let mut smtp_ports = vec![SmtpPort {
            port: smtp,
            implicit_tls: false,
        }];
        if self.submission {
            smtp_ports.push(SmtpPort {
                port: submission,
                implicit_tls: false,
            });
        }
        if self.smtps {
            smtp_ports.push(SmtpPort {
                port: smtps,
                implicit_tls: true,
            });
        }
        for (flag, addr) in [
            ("relay-sender", &self.relay_sender),
            ("relay-recipient", &self.relay_recipient),
        ] {
            let ok = addr.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty()
                    && mxray_core::target::Domain::parse(d).is_ok()
                    && !addr.contains(['<', '>', ' ', '\r', '\n'])
            });
            if !ok {
                bail!("--{flag} {addr:?}: expected local@domain");
            }
        }
        if self.ehlo_name.is_empty()
            || !self
                .ehlo_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            bail!("--ehlo-name {:?}: expected a host name", self.ehlo_name);
        }
        for p in &self.web_paths {
            if !p.starts_with('/') || p.len() > 200 || p.bytes().any(|b| b <= b' ' || b == 0x7f) {
                bail!("--web-path {p:?}: expected an absolute path such as /mail/");
            }
        }
        if self.recursion_name.is_empty()
            || self.recursion_name.len() > 253
            || !self
                .recursion_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            bail!(
                "--recursion-name {:?}: expected a host name",
                self.recursion_name
            );
        }
        let dkim = match (&self.dkim_selectors, &self.dkim_selectors_file) {
            (Some(list), _) => {
                dkim_selectors(&list.split(',').collect::<Vec<_>>(), "--dkim-selectors")?
            }
            (None, Some(p)) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read DKIM selector file {}", p.display()))?;
                let from = format!("--dkim-selectors-file {}", p.display());
                dkim_selectors(&mxray_core::dkim::selectors(&text), &from)?
            }
            (None, None) => Vec::new(),
        };
        let tls = match &self.ca_file {
            None => mxray_scan::tls::TlsClient::new(),
            Some(p) => {
                let pem = std::fs::read(p)
                    .with_context(|| format!("cannot read CA file {}", p.display()))?;
                mxray_scan::tls::TlsClient::with_pem_roots(&pem)
                    .map_err(|e| anyhow::anyhow!("--ca-file {}: {e}", p.display()))?
            }
        };
        let trust_anchors = match &self.trust_anchor {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read trust anchor file {}", p.display()))?;
                Some(
                    mxray_scan::dnssec::TrustAnchors::parse(&text)
                        .map_err(|e| anyhow::anyhow!("--trust-anchor {}: {e}", p.display()))?,
                )
            }
        };
        let exposure = !self.no_exposure;
        use mxray_core::model::MailboxProtocol::{Imap, Pop3};
        let mailbox = |protocol, port, implicit_tls| MailboxPort {
            protocol,
            port,
            implicit_tls,
        };
        Ok(ScanConfig {
            mailbox_ports: if exposure {
                vec![
                    mailbox(Pop3, pop3, false),
                    mailbox(Imap, imap, false),
                    mailbox(Pop3, pop3s, true),
                    mailbox(Imap, imaps, true),
                ]
            } else {
                Vec::new()
            },
            web_ports: if exposure {
                vec![
                    WebPort {
                        port: http,
                        https: false,
                    },
                    WebPort {
                        port: https,
                        https: true,
                    },
                ]
            } else {
                Vec::new()
            },
            web_paths: if self.web_paths.is_empty() {
                mxray_scan::probe::web::default_paths()
            } else {
                self.web_paths.clone()
            },
            dns_port: exposure.then_some(dns),
            recursion_name: self.recursion_name.clone(),
            axfr_per_server: self.axfr_per_server,
            ns_queries_per_server: ScanConfig::default().ns_queries_per_server,
            mail_first: ScanConfig::default().mail_first,
            ssh_port: exposure.then_some(ssh),
            extra: exposure && self.exposure_extra,
            extra_ports: mxray_scan::engine::ExtraPorts {
                telnet: vec![telnet],
                smb: vec![smb, netbios],
                http_proxy: vec![http_proxy, http_proxy_alt],
                socks: vec![socks],
                ftp: vec![ftp],
            },
            tls_audit: !self.no_tls_audit,
            tls,
            dkim_selectors: dkim,
            // The policy host is a web server: `--port https=` moves it too.
            mta_sts_port: https,
            dane: true,
            trust_anchors,
            concurrency: self.concurrency as usize,
            dns_concurrency: self.dns_concurrency as usize,
            limits: Limits {
                connect_timeout: step.min(Duration::from_secs(10)),
                step_timeout: step,
                ..Limits::default()
            },
            host_deadline: deadline,
            ehlo_name: self.ehlo_name.clone(),
            smtp_ports,
            relay: (!self.no_relay_test).then(|| RelayParams {
                sender: self.relay_sender.clone(),
                recipient: self.relay_recipient.clone(),
            }),
            policy: Policy {
                exclusions: Arc::new(exclusions),
                allowed_classes: allowed,
                pace: Arc::new(Pacer::new(
                    std::num::NonZeroU32::new(self.rate),
                    Duration::from_secs_f64(self.per_ip_interval),
                )),
            },
            per_net_cap: self.per_net as usize,
            reputation: crate::reputation::from_args(self)?,
        })
    }

    /// The configuration for a survey (`scan`, `worker`): as [`ScanArgs::config`], but without
    /// a DKIM selector option the short survey list (`crates/core/data/dkim-selectors-survey.txt`) is
    /// asked instead of the full one that `check` asks.
    pub fn survey_config(&self) -> anyhow::Result<ScanConfig> {
        let mut cfg = self.config()?;
        cfg.axfr_per_server = Some(self.axfr_per_server.unwrap_or(SURVEY_AXFR_PER_SERVER));
        cfg.tls_audit = self.tls_audit;
        if self.dkim_selectors.is_none() && self.dkim_selectors_file.is_none() {
            cfg.dkim_selectors = dkim_selectors(
                &mxray_core::dkim::selectors(mxray_core::dkim::SURVEY_SELECTORS),
                "crates/core/data/dkim-selectors-survey.txt",
            )?;
        }
        Ok(cfg)
    }

    /// The parameters recorded with the scan.
    pub fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "resolver": self.resolver.first().map(|r| r.to_string()),
            "resolvers": self.resolver.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            "concurrency": self.concurrency,
            "dns_concurrency": self.dns_concurrency,
            "timeout": self.timeout,
            "host_deadline": self.host_deadline,
            "exclude": self.exclude.as_ref().map(|p| p.display().to_string()),
            "ehlo_name": self.ehlo_name,
            "ports": self.ports,
            "submission": self.submission,
            "smtps": self.smtps,
            "relay_test": !self.no_relay_test,
            "exposure": !self.no_exposure,
            "exposure_extra": self.exposure_extra,
            "tls_audit": self.tls_audit,
            "no_tls_audit": self.no_tls_audit,
            "web_paths": self.web_paths,
            "recursion_name": self.recursion_name,
            "axfr_per_server": self.axfr_per_server,
            "allow_loopback": self.allow_loopback,
            "allow_private": self.allow_private,
            "rate": self.rate,
            "per_ip_interval": self.per_ip_interval,
            "per_net": self.per_net,
            "dnsbl_rate": self.dnsbl_rate,
            "dnsbl": crate::reputation::record(self),
            "asn_db": self.asn_db.as_ref().map(|p| p.display().to_string()),
            "signatures": self.signatures.as_ref().map(|p| p.display().to_string()),
            "dkim_selectors": self.dkim_selectors,
            "dkim_selectors_file": self.dkim_selectors_file.as_ref().map(|p| p.display().to_string()),
            "ca_file": self.ca_file.as_ref().map(|p| p.display().to_string()),
            "trust_anchor": self.trust_anchor.as_ref().map(|p| p.display().to_string()),
            "version": env!("CARGO_PKG_VERSION"),
        })
    }
}
