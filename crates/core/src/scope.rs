//! The scope of `mxray audit`: what the operator has authority over, and the accounts and
//! mailboxes the intrusive checks may use.
//!
//! The intrusive checks (failed logins, weak passwords, a posted canary, a relayed message)
//! are things an attacker does. They run only against servers named in the scope file, whose
//! addresses lie inside the scope's networks, and only when authority is shown:
//! - a loopback or private address (a lab, an own network) needs `--allow-private`;
//! - any other address needs the domain it serves to publish
//!   `_mxray.<domain> TXT "mxray-authorize=<token>"` with the scope file's token, the way
//!   certificate authorities and site-verification services check control of a domain:
//!   whoever can change the domain's DNS runs its mail.
//!
//! The file holds credentials (the canary mailbox's password), so the command refuses it when
//! it is readable by everyone ([`mode_is_private`]), and nothing here implements `Serialize`:
//! the scope is never stored, printed or exported, only the names in [`Scope::record`].
//!
//! ```toml
//! token = "a-random-string-of-16-or-more-characters"
//! domains = ["audit.example"]
//! networks = ["192.0.2.0/28"]
//!
//! [[server]]
//! address = "192.0.2.1"
//! domain = "audit.example"
//! imap = 143
//! pop3 = 110
//! submission = 587
//!
//! [login]              # login protection: only wrong passwords are sent for this account
//! user = "probe@audit.example"
//! attempts = 10        # at most 30
//!
//! [weak]               # weak-password test: user names only, the candidates are generated
//! accounts = ["alice@audit.example"]
//!
//! [[list]]             # mailing-list posting canary: one marked post as a non-member
//! address = "news@lists.audit.example"   # its domain must be one of `domains`
//! server = "192.0.2.2" # the list's MX (default: the domain's MX through --resolver)
//! sender = "outsider@elsewhere.example"  # the non-member (default below)
//! manager = "mlmmj"    # also ask the list manager for the subscriber list (optional)
//! wait = 60            # seconds, at most 300
//! subscriber = { server = "192.0.2.3", protocol = "imap", user = "sub@audit.example", password = "…" }
//! ```

use crate::addr::{self, AddressClass};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;

/// Failed logins per service when the scope does not say.
pub const DEFAULT_ATTEMPTS: u32 = 10;
/// Most failed logins per service the scope may ask for.
pub const MAX_ATTEMPTS: u32 = 30;
/// Shortest authorisation token accepted (guessable tokens prove nothing).
pub const MIN_TOKEN: usize = 16;
/// The TXT record's prefix.
pub const TXT_PREFIX: &str = "mxray-authorize=";

/// A parsed and validated scope file.
#[derive(Clone, PartialEq, Eq)]
pub struct Scope {
    /// The token published in `_mxray.<domain>` TXT records.
    pub token: String,
    /// Domains under the operator's authority (ASCII, lower case).
    pub domains: Vec<String>,
    /// Networks under the operator's authority.
    pub networks: Vec<IpNet>,
    /// Servers audited.
    pub servers: Vec<Server>,
    /// The login-protection test, if asked for.
    pub login: Option<LoginTest>,
    /// Accounts of the weak-password test.
    pub weak_accounts: Vec<String>,
    /// The canary mailbox of the relay confirmation.
    pub canary: Option<Canary>,
    /// Mailing lists of the posting canary.
    pub lists: Vec<ListEntry>,
}

// Debug never shows the token (a scope could end up in a panic message or a log line).
impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("domains", &self.domains)
            .field("networks", &self.networks)
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

/// One audited server.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Its address.
    pub address: IpAddr,
    /// The scope domain it serves (whose TXT record authorises it).
    pub domain: String,
    /// IMAP port (plain text or STARTTLS-less login), if tested.
    #[serde(default)]
    pub imap: Option<u16>,
    /// POP3 port, if tested.
    #[serde(default)]
    pub pop3: Option<u16>,
    /// SMTP submission port (AUTH), if tested.
    #[serde(default)]
    pub submission: Option<u16>,
    /// SMTP port of the relay confirmation (one marked message to the canary mailbox).
    #[serde(default)]
    pub smtp: Option<u16>,
}

/// The canary mailbox: an address outside the audited servers' domains that the operator
/// reads, and where to read it (IMAP or POP3, on a server of the scope).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// The mailbox's address (the relayed message's recipient and sender).
    pub address: String,
    /// Its mailbox server: one of the scope's servers.
    pub server: IpAddr,
    /// IMAP or POP3.
    #[serde(default = "default_kind")]
    pub protocol: MailboxKind,
    /// Port (default: the protocol's). `imap =` is the spelling of scope files written when
    /// the canary mailbox could only be IMAP.
    #[serde(default, alias = "imap")]
    pub port: Option<u16>,
    /// Login name.
    pub user: String,
    /// Password (never stored, printed or logged).
    pub password: String,
    /// Seconds to watch for the message (at most [`MAX_WAIT`]).
    #[serde(default = "default_wait")]
    pub wait: u32,
}

impl std::fmt::Debug for Canary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canary")
            .field("address", &self.address)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Canary {
    /// The mailbox port.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.protocol.default_port())
    }
}

/// Longest watch for a canary message, seconds.
pub const MAX_WAIT: u32 = 300;

fn default_wait() -> u32 {
    30
}

/// Default non-member sender of the list canary (outside any list domain; a reserved name,
/// so no real mailbox receives a list's refusal).
pub const DEFAULT_LIST_SENDER: &str = "mxray-list-canary@mxray-audit.invalid";

/// A mailing list of the posting canary: one uniquely marked post from a non-member, then a
/// subscriber's mailbox watched for it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEntry {
    /// The list's posting address; its domain must be one of the scope's domains.
    pub address: String,
    /// The SMTP server to post to (default: the domain's MX, resolved through --resolver).
    #[serde(default)]
    pub server: Option<IpAddr>,
    /// Its SMTP port.
    #[serde(default = "default_smtp")]
    pub port: u16,
    /// The non-member posting (envelope sender and From:), outside the list's domain.
    #[serde(default = "default_list_sender")]
    pub sender: String,
    /// The list manager, when the subscriber list should be asked for (mlmmj: `LIST+list@`).
    #[serde(default)]
    pub manager: Option<ListManager>,
    /// Seconds to watch the subscriber's mailbox (at most [`MAX_WAIT`]).
    #[serde(default = "default_list_wait")]
    pub wait: u32,
    /// A subscriber's mailbox.
    pub subscriber: Subscriber,
}

impl std::fmt::Debug for ListEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListEntry")
            .field("address", &self.address)
            .field("server", &self.server)
            .field("subscriber", &self.subscriber)
            .finish_non_exhaustive()
    }
}

impl ListEntry {
    /// The list's domain (lower case).
    pub fn domain(&self) -> String {
        self.address
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// List managers whose subscriber-list command the canary knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListManager {
    /// mlmmj: a mail to `LIST+list@DOMAIN` (answered only to an owner's From: by default).
    Mlmmj,
}

/// Protocol of a subscriber's mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailboxKind {
    /// IMAP (plain text login; port 143 by default).
    Imap,
    /// POP3 (USER/PASS; port 110 by default).
    Pop3,
}

impl MailboxKind {
    /// The protocol's plain-text port.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Imap => 143,
            Self::Pop3 => 110,
        }
    }
}

/// Where to read a subscriber's mail.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriber {
    /// The subscribed address (default: `user`); the subscriber-list request is sent from it.
    #[serde(default)]
    pub address: Option<String>,
    /// The mailbox server (inside the scope's networks).
    pub server: IpAddr,
    /// IMAP or POP3.
    #[serde(default = "default_kind")]
    pub protocol: MailboxKind,
    /// Port (default 143 for IMAP, 110 for POP3).
    #[serde(default)]
    pub port: Option<u16>,
    /// Login name.
    pub user: String,
    /// Password (never stored, printed or logged).
    pub password: String,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("server", &self.server)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// The mailbox port.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.protocol.default_port())
    }
    /// The subscribed address.
    pub fn mail_address(&self) -> &str {
        self.address.as_deref().unwrap_or(&self.user)
    }
}

fn default_smtp() -> u16 {
    25
}

fn default_list_sender() -> String {
    DEFAULT_LIST_SENDER.to_owned()
}

fn default_list_wait() -> u32 {
    60
}

fn default_kind() -> MailboxKind {
    MailboxKind::Imap
}

/// Whether a mailbox password can be sent in a login line (POP3 `PASS` sends it as it is: a
/// line break in it would start another command).
fn password_ok(p: &str) -> bool {
    !p.is_empty() && !p.bytes().any(|b| b < b' ' || b == 0x7f)
}

fn mail_address_ok(a: &str) -> bool {
    a.split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && crate::target::Domain::parse(d).is_ok())
        && account_ok(a)
}

/// The login-protection test.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginTest {
    /// The test account (only wrong passwords are sent for it).
    pub user: String,
    /// Failed logins per service.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

fn default_attempts() -> u32 {
    DEFAULT_ATTEMPTS
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    token: String,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    networks: Vec<String>,
    #[serde(default)]
    server: Vec<Server>,
    #[serde(default)]
    login: Option<LoginTest>,
    #[serde(default)]
    weak: Option<RawWeak>,
    #[serde(default)]
    canary: Option<Canary>,
    #[serde(default)]
    list: Vec<ListEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeak {
    accounts: Vec<String>,
}

/// Why a scope file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Not TOML of the expected shape.
    #[error("{0}")]
    Syntax(String),
    /// The token is too short.
    #[error("token must be at least {MIN_TOKEN} characters of letters, digits, '-' or '_'")]
    WeakToken,
    /// A domain that is not a domain name.
    #[error("domains: {0:?} is not a domain name")]
    BadDomain(String),
    /// A network that is not a CIDR or address.
    #[error("networks: {0:?} is not an address or CIDR")]
    BadNetwork(String),
    /// A server whose domain is not one of the scope's domains.
    #[error("server {address}: domain {domain:?} is not among the scope's domains")]
    ServerDomain {
        /// The server.
        address: IpAddr,
        /// Its domain.
        domain: String,
    },
    /// An attempt count out of range.
    #[error("login.attempts must be between 1 and {MAX_ATTEMPTS}, not {0}")]
    Attempts(u32),
    /// An account name that cannot be sent in a login command.
    #[error("account {0:?}: user names must be printable, without spaces or quotes")]
    BadAccount(String),
    /// Nothing to audit.
    #[error("no [[server]] in the scope")]
    NoServer,
    /// A canary that cannot be used.
    #[error("canary: {0}")]
    Canary(&'static str),
    /// A list entry that cannot be used.
    #[error("list {0:?}: {1}")]
    List(String, &'static str),
}

fn account_ok(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 128
        && user
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

impl Scope {
    /// Parses and validates a scope file.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ScopeError::Syntax(e.to_string()))?;
        if raw.token.len() < MIN_TOKEN
            || !raw
                .token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ScopeError::WeakToken);
        }
        let mut domains = Vec::new();
        for d in &raw.domains {
            let parsed =
                crate::target::Domain::parse(d).map_err(|_| ScopeError::BadDomain(d.clone()))?;
            domains.push(parsed.as_str().to_owned());
        }
        let mut networks = Vec::new();
        for n in &raw.networks {
            let net = n
                .parse::<IpNet>()
                .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| ScopeError::BadNetwork(n.clone()))?;
            networks.push(net.trunc());
        }
        let mut servers = raw.server;
        if servers.is_empty() && raw.list.is_empty() {
            return Err(ScopeError::NoServer);
        }
        for s in &mut servers {
            s.domain = s.domain.trim_end_matches('.').to_ascii_lowercase();
            if !domains.contains(&s.domain) {
                return Err(ScopeError::ServerDomain {
                    address: s.address,
                    domain: s.domain.clone(),
                });
            }
        }
        if let Some(l) = &raw.login {
            if !(1..=MAX_ATTEMPTS).contains(&l.attempts) {
                return Err(ScopeError::Attempts(l.attempts));
            }
            if !account_ok(&l.user) {
                return Err(ScopeError::BadAccount(l.user.clone()));
            }
        }
        let weak_accounts = raw.weak.map(|w| w.accounts).unwrap_or_default();
        if let Some(bad) = weak_accounts.iter().find(|a| !account_ok(a)) {
            return Err(ScopeError::BadAccount(bad.clone()));
        }
        if let Some(c) = &raw.canary {
            let addr_ok = c
                .address
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && crate::target::Domain::parse(d).is_ok())
                && account_ok(&c.address);
            if !addr_ok {
                return Err(ScopeError::Canary("address must be local@domain"));
            }
            if !servers.iter().any(|s| s.address == c.server) {
                return Err(ScopeError::Canary(
                    "server must be one of the [[server]] addresses",
                ));
            }
            if !account_ok(&c.user) {
                return Err(ScopeError::Canary(
                    "user must be printable, without spaces or quotes",
                ));
            }
            if !password_ok(&c.password) {
                return Err(ScopeError::Canary(
                    "password must be non-empty, without control characters",
                ));
            }
            if !(1..=MAX_WAIT).contains(&c.wait) {
                return Err(ScopeError::Canary("wait must be between 1 and 300 seconds"));
            }
        }
        let mut lists = raw.list;
        for l in &mut lists {
            let bad = |why| Err(ScopeError::List(l.address.clone(), why));
            if !mail_address_ok(&l.address) {
                return bad("address must be local@domain");
            }
            if !domains.contains(&l.domain()) {
                return bad("its domain is not among the scope's domains");
            }
            if !mail_address_ok(&l.sender) {
                return bad("sender must be local@domain");
            }
            if l.sender
                .rsplit_once('@')
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(&l.domain()))
            {
                return bad("sender must be outside the list's domain (a non-member)");
            }
            if !(1..=MAX_WAIT).contains(&l.wait) {
                return bad("wait must be between 1 and 300 seconds");
            }
            if !account_ok(&l.subscriber.user) || !mail_address_ok(l.subscriber.mail_address()) {
                return bad(
                    "subscriber user/address must be printable, without spaces or quotes (address: local@domain)",
                );
            }
            if !password_ok(&l.subscriber.password) {
                return bad("subscriber password must be non-empty, without control characters");
            }
        }
        Ok(Self {
            token: raw.token,
            lists,
            domains,
            networks,
            servers,
            login: raw.login,
            weak_accounts,
            canary: raw.canary,
        })
    }

    /// Whether `ip` lies inside the scope's networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = addr::canonical(ip);
        self.networks.iter().any(|n| n.contains(&ip))
    }

    /// Decides whether `server` may be audited. `txt` is the `_mxray.<domain>` TXT answer
    /// (`None` when it was not asked: a private address authorised by `--allow-private`).
    pub fn authorise(
        &self,
        server: &Server,
        allow_private: bool,
        txt: Option<&[String]>,
    ) -> Result<Authority, Refusal> {
        if !self.contains(server.address) {
            return Err(Refusal::OutOfScope);
        }
        let class = addr::classify(server.address);
        if allow_private
            && matches!(
                class,
                AddressClass::Loopback | AddressClass::Private | AddressClass::LinkLocal
            )
        {
            return Ok(Authority::PrivateNetwork);
        }
        if class == AddressClass::Reserved {
            return Err(Refusal::Reserved);
        }
        let want = format!("{TXT_PREFIX}{}", self.token);
        match txt {
            Some(records) if records.iter().any(|r| r.trim() == want) => Ok(Authority::TxtRecord),
            _ => Err(Refusal::NoTxtAuthorisation),
        }
    }

    /// The names worth recording with a scan (no token, no credential).
    pub fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "domains": self.domains,
            "networks": self.networks.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "servers": self.servers.iter().map(|s| s.address.to_string()).collect::<Vec<_>>(),
            "login_test": self.login.as_ref().map(|l| l.attempts),
            "weak_accounts": self.weak_accounts.len(),
            "canary": self.canary.as_ref().map(|c| c.address.clone()),
            "lists": self.lists.iter().map(|l| l.address.clone()).collect::<Vec<_>>(),
        })
    }
}

/// The name whose TXT record authorises a domain.
pub fn txt_name(domain: &str) -> String {
    format!("_mxray.{domain}")
}

/// Why a server may be audited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    /// A loopback or private address, with `--allow-private`.
    PrivateNetwork,
    /// The domain publishes the scope's token.
    TxtRecord,
}

/// Why a server may not be audited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Its address is outside the scope's networks.
    #[error("its address is outside the scope's networks")]
    OutOfScope,
    /// A special-purpose address that cannot be anyone's server.
    #[error("it is a reserved (special-purpose) address")]
    Reserved,
    /// No `_mxray.<domain>` TXT record with the scope's token (and, for a loopback or private
    /// address, no `--allow-private`).
    #[error(
        "its domain publishes no TXT record \"mxray-authorize=<token>\" with the scope's token (private and loopback addresses: --allow-private)"
    )]
    NoTxtAuthorisation,
}

/// Whether a file's Unix mode keeps it from other users (no read or write bit for "other").
pub fn mode_is_private(mode: u32) -> bool {
    mode & 0o006 == 0
}

/// Candidate passwords of the weak-password test for `user`, in order: the user name, its
/// local part, then `list` (crates/core/data/weak-passwords.txt), without duplicates.
pub fn weak_candidates(user: &str, list: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = vec![user.to_owned()];
    if let Some((local, _)) = user.split_once('@') {
        out.push(local.to_owned());
    }
    out.extend(list.iter().map(|s| (*s).to_owned()));
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| !p.is_empty() && seen.insert(p.clone()));
    out
}

/// The shipped short list of weak passwords (at most 20; one per line, `#` comments).
pub const WEAK_PASSWORDS: &str = include_str!("../data/weak-passwords.txt");

/// The shipped list's entries.
pub fn weak_list() -> Vec<&'static str> {
    WEAK_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
token = "0123456789abcdef-lab"
domains = ["Audit.Lab"]
networks = ["127.0.62.0/29", "10.1.2.3"]
[[server]]
address = "127.0.62.1"
domain = "audit.lab"
imap = 143
[login]
user = "throttle@audit.lab"
[weak]
accounts = ["alice@audit.lab"]
[canary]
address = "canary@canary.lab"
server = "127.0.62.1"
user = "canary@canary.lab"
password = "canary-secret-99"
"#;

    fn scope() -> Scope {
        Scope::parse(GOOD).unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        let s = scope();
        assert_eq!(s.domains, ["audit.lab"]);
        assert_eq!(s.login.as_ref().unwrap().attempts, DEFAULT_ATTEMPTS);
        assert!(s.contains("127.0.62.7".parse().unwrap()));
        assert!(!s.contains("127.0.62.8".parse().unwrap()));
        assert!(s.contains("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn refuses_bad_files() {
        let cases = [
            (GOOD.replace("0123456789abcdef-lab", "short"), "token"),
            (GOOD.replace("127.0.62.0/29", "not-a-net"), "networks"),
            (
                GOOD.replace("domain = \"audit.lab\"", "domain = \"other.lab\""),
                "not among",
            ),
            (GOOD.replace("[weak]", "attempts = 31\n[weak]"), "attempts"),
            (
                GOOD.replace("alice@audit.lab\"]", "a b\"]"),
                "user names must",
            ),
            (format!("{GOOD}\nsurprise = 1"), "unknown field"),
        ];
        for (text, want) in cases {
            let e = Scope::parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn authority_needs_scope_and_proof() {
        let s = scope();
        let mut srv = s.servers[0].clone();
        let token = format!("{TXT_PREFIX}{}", s.token);
        assert_eq!(s.authorise(&srv, true, None), Ok(Authority::PrivateNetwork));
        assert_eq!(
            s.authorise(&srv, false, None),
            Err(Refusal::NoTxtAuthorisation)
        );
        assert_eq!(
            s.authorise(&srv, false, Some(&["mxray-authorize=wrong".into()])),
            Err(Refusal::NoTxtAuthorisation)
        );
        assert_eq!(
            s.authorise(&srv, false, Some(std::slice::from_ref(&token))),
            Ok(Authority::TxtRecord)
        );
        srv.address = "127.0.63.1".parse().unwrap();
        assert_eq!(
            s.authorise(&srv, true, Some(&[token])),
            Err(Refusal::OutOfScope)
        );
    }

    #[test]
    fn mode_and_candidates() {
        assert!(mode_is_private(0o100600));
        assert!(mode_is_private(0o100640));
        assert!(!mode_is_private(0o100644));
        assert!(!mode_is_private(0o100602));
        let c = weak_candidates("bob@x.lab", &["bob", "letmein"]);
        assert_eq!(c, ["bob@x.lab", "bob", "letmein"]);
        let list = weak_list();
        assert!(!list.is_empty() && list.len() <= 20, "{}", list.len());
    }

    #[test]
    fn debug_hides_the_token() {
        let s = scope();
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
        assert!(!format!("{:?}", s.canary).contains("canary-secret"));
        assert_eq!(s.canary.as_ref().unwrap().wait, 30);
        let bad = GOOD.replace("server = \"127.0.62.1\"", "server = \"127.0.62.5\"");
        assert!(
            Scope::parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("canary")
        );
    }

    #[test]
    fn canary_mailbox_protocol_port_and_password() {
        let c = scope().canary.unwrap();
        assert_eq!((c.protocol, c.port()), (MailboxKind::Imap, 143));
        // The older spelling of the port still parses.
        let older = GOOD.replace("password = \"canary", "imap = 1143\npassword = \"canary");
        assert_eq!(Scope::parse(&older).unwrap().canary.unwrap().port(), 1143);
        let pop3 = GOOD.replace(
            "password = \"canary",
            "protocol = \"pop3\"\npassword = \"canary",
        );
        let c = Scope::parse(&pop3).unwrap().canary.unwrap();
        assert_eq!((c.protocol, c.port()), (MailboxKind::Pop3, 110));
        // POP3 sends the password as it is: a line break would be a second command.
        let injected = GOOD.replace("canary-secret-99", "x\\r\\nDELE 1");
        let e = Scope::parse(&injected).unwrap_err().to_string();
        assert!(e.contains("canary: password"), "{e}");
    }

    const LIST: &str = r#"
[[list]]
address = "Open@lists.lab"
server = "127.0.62.1"
manager = "mlmmj"
subscriber = { server = "127.0.62.2", protocol = "pop3", user = "sub1@audit.lab", password = "list-pass-77" }
"#;

    #[test]
    fn list_entries() {
        let text = GOOD.replace(
            "domains = [\"Audit.Lab\"]",
            "domains = [\"Audit.Lab\", \"lists.lab\"]",
        );
        let s = Scope::parse(&format!("{text}{LIST}")).unwrap();
        let l = &s.lists[0];
        assert_eq!(l.domain(), "lists.lab");
        assert_eq!((l.port, l.wait), (25, 60));
        assert_eq!(l.sender, DEFAULT_LIST_SENDER);
        assert_eq!(l.manager, Some(ListManager::Mlmmj));
        assert_eq!(l.subscriber.port(), 110);
        assert_eq!(l.subscriber.mail_address(), "sub1@audit.lab");
        assert!(!format!("{s:?} {l:?}").contains("list-pass-77"));
        assert!(!s.record().to_string().contains("list-pass-77"));
        // Only lists, no [[server]]: still a scope.
        let only = format!("token = \"0123456789abcdef-lab\"\ndomains = [\"lists.lab\"]\n{LIST}");
        assert_eq!(Scope::parse(&only).unwrap().lists.len(), 1);
        let cases = [
            (GOOD.to_owned() + LIST, "not among the scope's domains"),
            (
                format!(
                    "{text}{}",
                    LIST.replace("manager", "sender = \"x@lists.lab\"\nmanager")
                ),
                "outside the list's domain",
            ),
            (
                format!("{text}{}", LIST.replace("manager", "wait = 301\nmanager")),
                "wait",
            ),
            (
                format!("{text}{}", LIST.replace("Open@lists.lab", "nobody")),
                "local@domain",
            ),
            (
                format!("{text}{}", LIST.replace("pop3", "smtp")),
                "unknown variant",
            ),
        ];
        for (t, want) in cases {
            let e = Scope::parse(&t).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
