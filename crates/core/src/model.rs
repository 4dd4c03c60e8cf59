//! Observations: what discovery and the probes saw, kept apart from what checks conclude
//! from it, so that checks can be re-run on stored data.
//!
//! Everything here is serialised into the store as JSON; field names are part of the export
//! schema (`docs/schema.md`), so they change only with a schema version bump.

use crate::addr::AddressClass;
use crate::smtp::{Capabilities, Reply};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Version of the observation and export schema.
pub const SCHEMA_VERSION: u32 = 1;

/// The outcome of one DNS question. A timeout or SERVFAIL is `Unknown`, never "no record".
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", content = "value", rename_all = "kebab-case")]
pub enum Lookup<T> {
    /// Records of the asked type exist.
    Found(T),
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The name exists but has no records of this type (NOERROR, empty answer).
    NoData,
    /// No reliable answer: timeout, SERVFAIL, REFUSED, malformed. Carries the reason.
    Unknown(String),
}

impl<T> Lookup<T> {
    /// The records, if found.
    pub fn found(&self) -> Option<&T> {
        match self {
            Self::Found(v) => Some(v),
            _ => None,
        }
    }
    /// The same outcome with the records transformed (the one re-mapping; `Unknown`'s
    /// reason is kept).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Lookup<U> {
        match self {
            Self::Found(v) => Lookup::Found(f(v)),
            Self::NxDomain => Lookup::NxDomain,
            Self::NoData => Lookup::NoData,
            Self::Unknown(r) => Lookup::Unknown(r),
        }
    }
    /// The same outcome, borrowing the records (`Unknown`'s reason is cloned).
    pub fn as_ref(&self) -> Lookup<&T> {
        match self {
            Self::Found(v) => Lookup::Found(v),
            Self::NxDomain => Lookup::NxDomain,
            Self::NoData => Lookup::NoData,
            Self::Unknown(r) => Lookup::Unknown(r.clone()),
        }
    }
    /// Whether the answer was unreliable.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown(_))
    }
    /// A short description for evidence lines.
    pub fn describe(&self) -> String
    where
        T: std::fmt::Debug,
    {
        match self {
            Self::Found(v) => format!("{v:?}"),
            Self::NxDomain => "NXDOMAIN".into(),
            Self::NoData => "no records (NOERROR)".into(),
            Self::Unknown(r) => format!("unknown ({r})"),
        }
    }
}

/// One MX record.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Mx {
    /// Lower is preferred.
    pub preference: u16,
    /// The exchange host name, without trailing dot; `""` for the null MX `.`.
    pub exchange: String,
}

/// How the domain's mail hosts were found.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MxMode {
    /// MX records.
    Explicit,
    /// No MX: the domain's own A/AAAA (RFC 5321 §5.1).
    Implicit,
    /// `MX 0 .`: the domain accepts no mail (RFC 7505).
    NullMx,
    /// No mail host: the domain does not exist, or has neither MX nor address.
    None,
    /// DNS gave no reliable answer.
    Unknown,
}

/// A mail host of a domain and its addresses.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct MailHost {
    /// Host name (the MX exchange, or the domain itself for an implicit MX).
    pub name: String,
    /// MX preference (0 for an implicit MX).
    pub preference: u16,
    /// A and AAAA together.
    pub addresses: Lookup<Vec<IpAddr>>,
    /// On the operator's exclusion list: not looked up, not contacted.
    #[serde(default)]
    pub excluded: bool,
}

/// Why an address was not contacted.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// On the operator's exclusion list.
    Excluded,
    /// Private, loopback, link-local or reserved, and `--allow-private` was not given.
    NotPublic,
}

/// An address discovery found but the scanner did not contact.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct SkippedAddress {
    /// The address.
    pub ip: IpAddr,
    /// The host name that led to it.
    pub via: String,
    /// Its class.
    pub class: AddressClass,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// Everything discovery learned about one domain.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct DomainObservation {
    /// The domain (ASCII).
    pub domain: String,
    /// The MX answer.
    pub mx: Lookup<Vec<Mx>>,
    /// How mail hosts were chosen.
    pub mx_mode: MxMode,
    /// The mail hosts, most preferred first.
    pub hosts: Vec<MailHost>,
    /// Addresses found but not contacted.
    pub skipped: Vec<SkippedAddress>,
    /// Domain block-list answers about the domain and its MX host names.
    #[serde(default)]
    pub dnsbl: Vec<crate::reputation::DnsblQuery>,
    /// The domain's web host (`www.` name, else the domain) and its addresses.
    #[serde(default)]
    pub web_host: Option<MailHost>,
    /// The domain's name servers and the per-domain questions asked of them.
    #[serde(default)]
    pub nameservers: Option<NsObservation>,
    /// SPF and other mail-authentication DNS answers (`None`: not gathered).
    #[serde(default)]
    pub mail_auth: Option<crate::mailauth::MailAuthObservation>,
    /// Host names with more addresses than the scanner contacts (only the first ones were
    /// kept in `hosts` / `web_host`; the rest were never contacted).
    #[serde(default)]
    pub capped: Vec<AddressCap>,
}

/// A host name whose addresses were cut to the per-name or per-domain cap.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct AddressCap {
    /// The host name (an MX host, or the web host).
    pub name: String,
    /// Addresses its A/AAAA answer held.
    pub found: usize,
    /// Addresses kept (contacted, or skipped by the address policy).
    pub kept: usize,
}

impl DomainObservation {
    /// A domain whose MX answer is `mx` and of which nothing else is known yet: no hosts, no
    /// name servers, no mail authentication.
    pub fn bare(domain: impl Into<String>, mx: Lookup<Vec<Mx>>, mx_mode: MxMode) -> Self {
        Self {
            domain: domain.into(),
            mx,
            mx_mode,
            hosts: Vec::new(),
            skipped: Vec::new(),
            dnsbl: Vec::new(),
            web_host: None,
            nameservers: None,
            mail_auth: None,
            capped: Vec::new(),
        }
    }

    /// Every admitted address this domain leads to, with the roles ([`role_mask`] bits) that
    /// link it to the domain: its mail hosts (MX, or the implicit MX), its web host, its name
    /// servers. Skipped addresses are left out.
    pub fn links(&self) -> Vec<(IpAddr, u8)> {
        let mut out: Vec<(IpAddr, u8)> = Vec::new();
        let mut add = |ip: IpAddr, bit: u8| {
            if self.skipped.iter().any(|s| s.ip == ip) {
                return;
            }
            match out.iter_mut().find(|(i, _)| *i == ip) {
                Some((_, m)) => *m |= bit,
                None => out.push((ip, bit)),
            }
        };
        let mail = if self.mx_mode == MxMode::Implicit {
            HostRole::ImplicitMx
        } else {
            HostRole::Mx
        };
        for h in &self.hosts {
            for ip in h.addresses.found().into_iter().flatten() {
                add(*ip, mail.bit());
            }
        }
        if let Some(w) = &self.web_host {
            for ip in w.addresses.found().into_iter().flatten() {
                add(*ip, HostRole::Web.bit());
            }
        }
        if let Some(ns) = &self.nameservers {
            for c in &ns.checks {
                add(c.ip, HostRole::Ns.bit());
            }
        }
        out
    }

    /// Every address of every mail host, deduplicated, in preference order.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for h in &self.hosts {
            for ip in h.addresses.found().into_iter().flatten() {
                if !out.contains(ip) {
                    out.push(*ip);
                }
            }
        }
        out
    }
}

/// Why an address was reached from a domain; each role is judged by its own checks.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostRole {
    /// A target of the domain's MX records: SMTP, relay, POP3/IMAP, web, SSH, DANE.
    #[serde(alias = "mail")]
    Mx,
    /// The domain's own address, used because it has no MX (RFC 5321 §5.1): as [`HostRole::Mx`].
    ImplicitMx,
    /// One of the domain's name servers: the DNS-server probe and its zone transfers.
    #[serde(alias = "dns")]
    Ns,
    /// The domain's web host (`www.`, else the domain): HTTP and HTTPS.
    Web,
}

/// Bits of [`HostRole`] sets as stored (`domain_hosts.roles`, `hosts.roles`); 0 means "made
/// before roles existed", which every role matches.
pub mod role_mask {
    /// MX target.
    pub const MX: u8 = 1;
    /// Implicit-MX target.
    pub const IMPLICIT_MX: u8 = 2;
    /// Name server.
    pub const NS: u8 = 4;
    /// Web host.
    pub const WEB: u8 = 8;
    /// Either mail role.
    pub const MAIL: u8 = MX | IMPLICIT_MX;
    /// Every role.
    pub const ALL: u8 = MAIL | NS | WEB;
}

impl HostRole {
    /// Every role, in a fixed order.
    pub const ALL: [HostRole; 4] = [Self::Mx, Self::ImplicitMx, Self::Ns, Self::Web];

    /// Its [`role_mask`] bit.
    pub const fn bit(self) -> u8 {
        match self {
            Self::Mx => role_mask::MX,
            Self::ImplicitMx => role_mask::IMPLICIT_MX,
            Self::Ns => role_mask::NS,
            Self::Web => role_mask::WEB,
        }
    }

    /// The stable name (`mx`, `implicit-mx`, `ns`, `web`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Mx => "mx",
            Self::ImplicitMx => "implicit-mx",
            Self::Ns => "ns",
            Self::Web => "web",
        }
    }

    /// The bits of a set of roles.
    pub fn mask(roles: &[HostRole]) -> u8 {
        roles.iter().fold(0, |m, r| m | r.bit())
    }

    /// The roles whose bits are in `mask`, in [`HostRole::ALL`] order.
    pub fn from_mask(mask: u8) -> Vec<HostRole> {
        Self::ALL
            .into_iter()
            .filter(|r| mask & r.bit() != 0)
            .collect()
    }
}

impl HostObservation {
    /// The [`role_mask`] bits of this record ([`role_mask::ALL`] for records made before
    /// roles existed).
    pub fn role_mask(&self) -> u8 {
        match HostRole::mask(&self.roles) {
            0 => role_mask::ALL,
            m => m,
        }
    }

    /// Reached as a mail host (MX or implicit MX), or recorded before roles existed.
    pub fn is_mail_host(&self) -> bool {
        self.role_mask() & role_mask::MAIL != 0
    }
}

/// How far a probe got (zgrab2's statuses). Stable kebab-case strings.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeStatus {
    /// The dialogue ran to its end.
    Success,
    /// TCP connection refused (RST).
    ConnectRefused,
    /// No TCP answer before the connect timeout.
    ConnectTimeout,
    /// A step took longer than its timeout (e.g. a tarpitting greeting).
    IoTimeout,
    /// The per-host deadline ran out.
    Deadline,
    /// The server closed the connection early.
    ClosedEarly,
    /// Bytes came back, but not this protocol (or over the length caps).
    ProtocolMismatch,
    /// A valid refusal: 421/554 greeting, or every greeting command refused.
    Rejected,
    /// The TLS handshake failed (implicit TLS ports).
    TlsFailed,
    /// Our own error (a bug, a local resource limit).
    InternalError,
}

impl ProbeStatus {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ConnectRefused => "connect-refused",
            Self::ConnectTimeout => "connect-timeout",
            Self::IoTimeout => "io-timeout",
            Self::Deadline => "deadline",
            Self::ClosedEarly => "closed-early",
            Self::ProtocolMismatch => "protocol-mismatch",
            Self::Rejected => "rejected",
            Self::TlsFailed => "tls-failed",
            Self::InternalError => "internal-error",
        }
    }

    /// Whether a service answered at all (as opposed to nothing listening).
    pub fn reached(self) -> bool {
        !matches!(self, Self::ConnectRefused | Self::ConnectTimeout)
    }
}

/// Who said a transcript line.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub enum Dir {
    /// The scanner sent it.
    #[serde(rename = "C")]
    Client,
    /// The server sent it.
    #[serde(rename = "S")]
    Server,
    /// A note by the scanner (connect, TLS established, timeout).
    #[serde(rename = "*")]
    Note,
}

/// One line of a dialogue, kept as evidence.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct TranscriptLine {
    /// Milliseconds since the connection started.
    pub ms: u64,
    /// Who.
    pub dir: Dir,
    /// What (server text verbatim, lossy UTF-8, capped).
    pub text: String,
}

impl TranscriptLine {
    /// `S: 220 mx ESMTP` style, as used in evidence.
    pub fn render(&self) -> String {
        let d = match self.dir {
            Dir::Client => "C",
            Dir::Server => "S",
            Dir::Note => "*",
        };
        format!("{d}: {}", self.text)
    }
}

/// A certificate, as far as a survey needs it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct CertInfo {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// DNS and IP subject alternative names.
    pub sans: Vec<String>,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// Subject equals issuer and the signature verifies with its own key.
    pub self_signed: bool,
    /// Hex serial.
    pub serial: String,
    /// Public key algorithm and size, e.g. `RSA 2048`, `EC P-256`.
    pub key: String,
    /// SHA-256 of the DER, hex (for DANE and for telling certificates apart).
    pub sha256: String,
    /// SHA-512 of the DER, hex (DANE selector 0, matching type 2); empty in older scans.
    #[serde(default)]
    pub sha512: String,
    /// SHA-256 of the DER SubjectPublicKeyInfo, hex (DANE selector 1, matching type 1).
    #[serde(default)]
    pub spki_sha256: String,
    /// SHA-512 of the DER SubjectPublicKeyInfo, hex (DANE selector 1, matching type 2).
    #[serde(default)]
    pub spki_sha512: String,
}

/// Why the certificate chain failed strict verification (Mozilla roots, the name used).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertProblem {
    /// Past `notAfter`.
    Expired,
    /// Before `notBefore`.
    NotYetValid,
    /// Issued by nobody the roots know, including self-signed.
    UnknownIssuer,
    /// Valid, but not for the name the client asked for.
    NameMismatch,
    /// Revoked, bad signature, bad encoding, unsupported algorithm and other failures.
    Other,
}

/// A negotiated TLS session.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `TLSv1_3` etc.
    pub version: String,
    /// IANA cipher suite name.
    pub cipher: String,
    /// The name verified against (the MX host name), if any.
    pub verified_name: Option<String>,
    /// The chain as sent, leaf first.
    pub chain: Vec<CertInfo>,
    /// Strict verification: `None` when it passed.
    pub problem: Option<CertProblem>,
    /// The verifier's message when it failed.
    pub problem_detail: Option<String>,
}

/// The STARTTLS step.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", content = "detail", rename_all = "kebab-case")]
pub enum StartTls {
    /// Not tried: the dialogue did not get that far.
    NotTried,
    /// Not advertised in EHLO.
    NotOffered,
    /// Advertised, but the `STARTTLS` command was refused.
    Refused(String),
    /// Accepted, but the handshake failed (rustls speaks TLS 1.2/1.3 only: a server limited to
    /// older versions lands here too).
    HandshakeFailed(String),
    /// A TLS session was established.
    Established,
}

/// One SMTP service (IP and port) as the probe saw it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct SmtpObservation {
    /// The port.
    pub port: u16,
    /// Whether TLS started at connect (port 465).
    pub implicit_tls: bool,
    /// How far the dialogue got.
    pub status: ProbeStatus,
    /// Human-readable reason when not `success`.
    pub detail: Option<String>,
    /// The greeting.
    pub greeting: Option<Reply>,
    /// EHLO was refused and HELO used.
    pub helo_fallback: bool,
    /// Capabilities before TLS.
    pub capabilities: Option<Capabilities>,
    /// STARTTLS step.
    pub starttls: StartTls,
    /// Session parameters (after STARTTLS, or at connect for implicit TLS).
    pub tls: Option<TlsInfo>,
    /// Capabilities after STARTTLS.
    pub capabilities_tls: Option<Capabilities>,
    /// Reply to `VRFY postmaster`.
    pub vrfy: Option<Reply>,
    /// Reply to `EXPN postmaster`.
    pub expn: Option<Reply>,
    /// The dialogue, capped.
    pub transcript: Vec<TranscriptLine>,
    /// Time taken, milliseconds.
    pub elapsed_ms: u64,
}

/// Everything probed on one IP address (one record per IP per scan, however many domains use it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostObservation {
    /// The address.
    pub ip: IpAddr,
    /// Its class.
    pub class: AddressClass,
    /// Reverse DNS.
    pub ptr: Lookup<Vec<String>>,
    /// Forward-confirmed reverse DNS: some PTR name resolves back to this address.
    pub fcrdns: Option<bool>,
    /// One observation per SMTP port probed.
    pub smtp: Vec<SmtpObservation>,
    /// The open-relay battery, when run.
    pub relay: Option<crate::relay::RelayObservation>,
    /// Time taken for the whole host, milliseconds.
    pub elapsed_ms: u64,
    /// DNSBL answers about the address and who runs it (boxed: most scans carry little).
    #[serde(default)]
    pub reputation: Box<crate::reputation::HostReputation>,
    /// Why this host was probed: every role that led to it (`mx`, `implicit-mx`, `ns`, `web`;
    /// older scans wrote `mail` and `dns`, read as `mx` and `ns`). Empty in records made
    /// before roles existed: every check applies.
    #[serde(default)]
    pub roles: Vec<HostRole>,
    /// POP3 and IMAP services (mail hosts).
    #[serde(default)]
    pub mailbox: Vec<MailboxObservation>,
    /// HTTP and HTTPS (mail hosts and web hosts).
    #[serde(default)]
    pub web: Vec<WebObservation>,
    /// The DNS server on this address (name servers).
    #[serde(default)]
    pub dns_server: Option<DnsServerObservation>,
    /// SSH identification (mail hosts).
    #[serde(default)]
    pub ssh: Option<SshObservation>,
    /// DANE TLSA answers at `_25._tcp.<MX name>` for the MX names that led here.
    #[serde(default)]
    pub tlsa: Vec<crate::dane::TlsaLookup>,
    /// TLS version and cipher audit of each TLS-capable mail port (empty: not run).
    #[serde(default)]
    pub tls_audit: Vec<TlsAuditObservation>,
    /// Whether every planned probe ran: an internal error (a bug, a panic) is recorded here,
    /// never as a made-up service record. `complete` in older scans.
    #[serde(default, skip_serializing_if = "HostStatus::is_complete")]
    pub status: HostStatus,
    /// Telnet, SMB, open proxies and FTP (`--exposure-extra` in surveys, always in `check`).
    /// Left out of the record when nothing was probed, so older records read the same.
    #[serde(default, skip_serializing_if = "ExtraServices::is_empty")]
    pub extra: ExtraServices,
}

/// Whether the scanner itself failed on a host (what the target did is in the probes'
/// statuses, never here).
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum HostStatus {
    /// Every planned probe ran (whatever the target answered).
    #[default]
    Complete,
    /// A probe, or the host's task, failed inside the scanner: what is recorded is what ran
    /// before it.
    InternalError {
        /// The probe that failed (`smtp`, `dns-server`, …); `None`: the host's task itself.
        #[serde(default)]
        probe: Option<String>,
        /// Its port, when a probe failed.
        #[serde(default)]
        port: Option<u16>,
        /// What failed (the panic message).
        detail: String,
    },
}

impl HostStatus {
    /// Every planned probe ran.
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete)
    }
}

/// A mailbox-access protocol.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailboxProtocol {
    /// POP3 (110; 995 implicit TLS).
    Pop3,
    /// IMAP (143; 993 implicit TLS).
    Imap,
}

impl MailboxProtocol {
    /// `pop3` or `imap`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pop3 => "pop3",
            Self::Imap => "imap",
        }
    }
}

/// One POP3 or IMAP service as the probe saw it. Credentials are never sent.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct MailboxObservation {
    /// Which protocol.
    pub protocol: MailboxProtocol,
    /// The port.
    pub port: u16,
    /// TLS from the first byte (995, 993).
    pub implicit_tls: bool,
    /// How far the dialogue got.
    pub status: ProbeStatus,
    /// Human-readable reason when not `success`.
    #[serde(default)]
    pub detail: Option<String>,
    /// The greeting line, verbatim.
    #[serde(default)]
    pub greeting: Option<String>,
    /// CAPA / CAPABILITY before TLS (or at connect for implicit TLS), one item per entry,
    /// verbatim (`USER`, `SASL PLAIN LOGIN`, `AUTH=PLAIN`, `LOGINDISABLED`, …).
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// STLS / STARTTLS step.
    #[serde(default = "not_tried")]
    pub starttls: StartTls,
    /// Session parameters.
    #[serde(default)]
    pub tls: Option<TlsInfo>,
    /// Capabilities after STLS / STARTTLS.
    #[serde(default)]
    pub capabilities_tls: Option<Vec<String>>,
    /// The answer to IMAP `ID NIL` (RFC 2971), sent only when the last capability list read
    /// advertised `ID`; `None` when not asked or not answered.
    #[serde(default)]
    pub imap_id: Option<ImapId>,
    /// The dialogue, capped.
    #[serde(default)]
    pub transcript: Vec<TranscriptLine>,
    /// Time taken, milliseconds.
    #[serde(default)]
    pub elapsed_ms: u64,
}

fn not_tried() -> StartTls {
    StartTls::NotTried
}

/// A server's `* ID (…)` response (RFC 2971), parsed by `mailbox::imap_id`. Every key and
/// value is attacker text: verbatim (escape on output), cut to
/// [`crate::mailbox::MAX_ID_KEY`] / [`crate::mailbox::MAX_ID_VALUE`] bytes, at most
/// [`crate::mailbox::MAX_ID_FIELDS`] pairs.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct ImapId {
    /// Field-value pairs in the server's order; empty for `ID NIL`.
    #[serde(default)]
    pub fields: Vec<ImapIdField>,
    /// Pairs were dropped or keys / values cut to the caps.
    #[serde(default)]
    pub truncated: bool,
    /// Why parsing stopped early (a literal, bad syntax), with the byte offset; the pairs
    /// before it are kept.
    #[serde(default)]
    pub error: Option<String>,
}

/// One `"field" "value"` pair of an IMAP ID response; `NIL` values are `None`.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct ImapIdField {
    /// The field name, verbatim (RFC 2971 names are case-insensitive: `name`, `version`, …).
    pub key: String,
    /// The value, verbatim; `None` for `NIL`.
    #[serde(default)]
    pub value: Option<String>,
}

/// A directory listing recognised in an HTTP body (`core::listing`).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct DirListing {
    /// `nginx`, `apache-table`, `apache-fancy`, `apache-plain`, `lighttpd`, `python`, `iis`
    /// or `generic` (`apache` in older scans).
    pub flavour: String,
    /// The entries' link targets, verbatim, capped.
    pub entries: Vec<String>,
    /// The entries parsed, in the order of `entries` (empty in older scans).
    #[serde(default)]
    pub items: Vec<ListingEntry>,
}

/// One entry of a directory listing.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct ListingEntry {
    /// The name, percent-decoded from the link target (display names may be cut short).
    pub name: String,
    /// A directory (the link ends with `/`).
    #[serde(default)]
    pub dir: bool,
    /// The size in bytes, when the listing shows one (rounded from `1.2K` and the like).
    #[serde(default)]
    pub size: Option<u64>,
}

/// One HTTP request and what came back.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct HttpExchange {
    /// The path requested.
    pub path: String,
    /// The status code, when a status line came back.
    #[serde(default)]
    pub status_code: Option<u16>,
    /// The status line, verbatim.
    #[serde(default)]
    pub status_line: Option<String>,
    /// `Server` header.
    #[serde(default)]
    pub server: Option<String>,
    /// `X-Powered-By` header.
    #[serde(default)]
    pub powered_by: Option<String>,
    /// `Location` header.
    #[serde(default)]
    pub location: Option<String>,
    /// `Content-Type` header.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Body bytes read (at most the cap).
    #[serde(default)]
    pub body_bytes: u64,
    /// The body was longer than the cap and was not read to its end.
    #[serde(default)]
    pub truncated: bool,
    /// The first bytes of the body (lossy UTF-8, capped at 2 KiB), verbatim.
    #[serde(default)]
    pub excerpt: String,
    /// A directory listing recognised in the body.
    #[serde(default)]
    pub listing: Option<DirListing>,
    /// 0 for the probe's fixed requests; n for a listing page requested n levels below the
    /// listing the descent started from.
    #[serde(default)]
    pub depth: u8,
    /// Why the exchange ended early, if it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// One web service (80 or 443) as the probe saw it: a handful of requests, never a crawl.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct WebObservation {
    /// The port.
    pub port: u16,
    /// HTTPS.
    pub https: bool,
    /// The `Host` header (and SNI) used.
    #[serde(default)]
    pub host: Option<String>,
    /// How far the probe got (the first request decides reachability).
    pub status: ProbeStatus,
    /// Human-readable reason when not `success`.
    #[serde(default)]
    pub detail: Option<String>,
    /// TLS session of the first HTTPS connection.
    #[serde(default)]
    pub tls: Option<TlsInfo>,
    /// The requests made, in order.
    #[serde(default)]
    pub exchanges: Vec<HttpExchange>,
    /// Time taken, milliseconds.
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// A TXT answer in class CHAOS (`version.bind`, `hostname.bind`).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", content = "value", rename_all = "kebab-case")]
pub enum ChaosAnswer {
    /// Text came back (verbatim, joined).
    Text(String),
    /// An answer without text, or an error code (REFUSED, NOTIMP, …).
    Refused(String),
    /// No usable answer: timeout, malformed or truncated packet.
    NoAnswer(String),
}

/// Why a DNS question to a server got no usable answer. Stored as a kebab-case name; scans
/// made before it was typed stored the error's words, read back by [`QueryFailure::from_stored`].
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueryFailure {
    /// The address policy refused the address.
    Blocked,
    /// No usable answer within the step timeout.
    Timeout,
    /// The scanner's per-host deadline passed: says nothing about the server.
    Deadline,
    /// Only malformed packets (or answers to other questions) came back.
    Malformed,
    /// The answer had the TC bit set (not retried over TCP).
    Truncated,
    /// The name asked was not a valid DNS name.
    InvalidName,
    /// A local socket error.
    Io,
}

impl QueryFailure {
    /// Reads a stored value: the kebab-case name, or the words older scans stored (the
    /// display texts of the probe's error type then; read here once, at the storage
    /// boundary, so no check ever looks at error text).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "blocked" | "address not allowed by policy" => Self::Blocked,
            "timeout" => Self::Timeout,
            "deadline" | "host deadline reached" => Self::Deadline,
            "malformed" => Self::Malformed,
            "truncated" | "truncated answer (TC)" => Self::Truncated,
            "invalid-name" | "invalid name" => Self::InvalidName,
            _ if s.starts_with("malformed answer") => Self::Malformed,
            _ => Self::Io,
        }
    }

    /// In words, for evidence.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Blocked => "address not allowed by policy",
            Self::Timeout => "timeout",
            Self::Deadline => "host deadline reached",
            Self::Malformed => "malformed answer",
            Self::Truncated => "truncated answer (TC)",
            Self::InvalidName => "invalid name",
            Self::Io => "local I/O error",
        }
    }
}

impl std::fmt::Display for QueryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl<'de> Deserialize<'de> for QueryFailure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Self::from_stored(&s))
    }
}

/// Reads an optional response code stored typed (`"no-error"`, `{"other": 23}`) or, in scans
/// made before it was typed, as its mnemonic (`"NOERROR"`, `"RCODE23"`).
fn rcode_compat<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Rcode>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Typed(Rcode),
        Mnemonic(String),
    }
    Ok(match Option::<Stored>::deserialize(d)? {
        None => None,
        Some(Stored::Typed(r)) => Some(r),
        Some(Stored::Mnemonic(m)) => Some(Rcode::from_mnemonic(&m)),
    })
}

/// A recursive query for a name outside the server's zones.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct RecursionTest {
    /// The name asked.
    pub name: String,
    /// The response code; `None` when nothing usable came back (`"NOERROR"`-style strings
    /// in older scans).
    #[serde(default, deserialize_with = "rcode_compat")]
    pub rcode: Option<Rcode>,
    /// The RA bit.
    pub recursion_available: bool,
    /// Answer records returned.
    pub answers: usize,
    /// The answers, rendered (capped).
    #[serde(default)]
    pub answer_text: Vec<String>,
    /// Why there was no usable answer.
    #[serde(default)]
    pub error: Option<QueryFailure>,
    /// The answer, typed: response code, header bits and sections (absent in older scans,
    /// which the checks judge by `rcode`, `recursion_available` and `answers`).
    #[serde(default)]
    pub response: Option<DnsResponse>,
}

/// A DNS response code (RFC 1035 §4.1.1).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rcode {
    /// NOERROR.
    NoError,
    /// FORMERR.
    FormErr,
    /// SERVFAIL.
    ServFail,
    /// NXDOMAIN.
    NxDomain,
    /// NOTIMP.
    NotImp,
    /// REFUSED.
    Refused,
    /// Any other code.
    Other(u16),
}

impl Rcode {
    /// The mnemonic as dig prints it (`NOERROR`, `RCODE23`).
    pub fn mnemonic(self) -> String {
        match self {
            Self::NoError => "NOERROR".into(),
            Self::FormErr => "FORMERR".into(),
            Self::ServFail => "SERVFAIL".into(),
            Self::NxDomain => "NXDOMAIN".into(),
            Self::NotImp => "NOTIMP".into(),
            Self::Refused => "REFUSED".into(),
            Self::Other(c) => format!("RCODE{c}"),
        }
    }

    /// The code named by a mnemonic as [`Rcode::mnemonic`] writes it (older scans stored
    /// these); an unreadable one is `Other(u16::MAX)`.
    pub fn from_mnemonic(m: &str) -> Self {
        match m {
            "NOERROR" => Self::NoError,
            "FORMERR" => Self::FormErr,
            "SERVFAIL" => Self::ServFail,
            "NXDOMAIN" => Self::NxDomain,
            "NOTIMP" => Self::NotImp,
            "REFUSED" => Self::Refused,
            other => Self::Other(
                other
                    .strip_prefix("RCODE")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(match other {
                        "YXDOMAIN" => 6,
                        "YXRRSET" => 7,
                        "NXRRSET" => 8,
                        "NOTAUTH" => 9,
                        "NOTZONE" => 10,
                        _ => u16::MAX,
                    }),
            ),
        }
    }
}

/// Where a referral points, seen from the name asked.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferralDirection {
    /// To the root (the "upward referral" of servers that do not recurse).
    Upward,
    /// To a zone on the way down to the name asked (a delegation).
    Downward,
    /// To a zone that is not an ancestor of the name.
    Sideways,
}

/// The authority section of an answer, classified.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AuthoritySection {
    /// Nothing.
    Empty,
    /// An SOA record (a negative answer from the zone it names).
    Soa {
        /// The SOA's owner.
        zone: String,
    },
    /// NS records without an SOA: a referral to `zone`.
    Referral {
        /// The NS records' owner.
        zone: String,
        /// Where it points.
        direction: ReferralDirection,
    },
    /// Anything else (record types listed).
    Other {
        /// The record types present.
        types: Vec<String>,
    },
}

/// One DNS answer as the checks need it: code, header bits, section sizes and contents.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct DnsResponse {
    /// Response code.
    pub rcode: Rcode,
    /// AA: authoritative answer.
    pub aa: bool,
    /// RA: recursion available.
    pub ra: bool,
    /// RD echoed.
    pub rd: bool,
    /// Answer records.
    pub answers: usize,
    /// The authority section, classified.
    pub authority: AuthoritySection,
    /// The authority records, rendered (capped).
    #[serde(default)]
    pub authority_text: Vec<String>,
}

impl DnsResponse {
    /// `NXDOMAIN, AA=0 RA=1, 0 answers, authority: SOA .` — for evidence lines.
    pub fn summary(&self) -> String {
        let auth = match &self.authority {
            AuthoritySection::Empty => "authority: empty".to_owned(),
            AuthoritySection::Soa { zone } => format!("authority: SOA {zone}"),
            AuthoritySection::Referral { zone, direction } => format!(
                "authority: NS {zone} ({} referral)",
                match direction {
                    ReferralDirection::Upward => "upward",
                    ReferralDirection::Downward => "downward",
                    ReferralDirection::Sideways => "sideways",
                }
            ),
            AuthoritySection::Other { types } => format!("authority: {}", types.join(" ")),
        };
        format!(
            "{}, AA={} RA={} RD={}, {} answer(s), {auth}",
            self.rcode.mnemonic(),
            u8::from(self.aa),
            u8::from(self.ra),
            u8::from(self.rd),
            self.answers
        )
    }
}

/// How one zone transfer attempt ended.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AxfrOutcome {
    /// The whole zone came (two SOA records seen).
    Transferred,
    /// Records came and we stopped at the cap: transfer allowed.
    StoppedAtCap,
    /// Records came, then the connection ended: transfer allowed.
    EndedEarly,
    /// An error code.
    Refused,
    /// NOERROR without records.
    EmptyAnswer,
    /// The connection closed or timed out before any record.
    NoTransfer,
    /// Unparseable data.
    Malformed,
    /// No TCP connection (refused, timeout, policy).
    NoConnection,
}

impl AxfrOutcome {
    /// Records were handed out.
    pub fn allowed(self) -> bool {
        matches!(
            self,
            Self::Transferred | Self::StoppedAtCap | Self::EndedEarly
        )
    }
}

/// One AXFR attempt by the DNS-server probe.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct ZoneTransfer {
    /// The zone asked.
    pub zone: String,
    /// How it ended.
    pub outcome: AxfrOutcome,
    /// The response code when one came.
    #[serde(default)]
    pub rcode: Option<Rcode>,
    /// Records received.
    pub records: usize,
    /// The first records, rendered (capped), as evidence.
    #[serde(default)]
    pub sample: Vec<String>,
    /// Details in words (the error).
    #[serde(default)]
    pub detail: Option<String>,
}

/// The server's answer about a zone that led to it, asked without recursion: tells an
/// authoritative server from a resolver.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct OwnZoneAnswer {
    /// The zone (a domain that lists this server as NS).
    pub zone: String,
    /// The answer, when one came.
    pub response: Option<DnsResponse>,
}

/// One DNS server (by IP) as the probe saw it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct DnsServerObservation {
    /// The port (53 unless overridden).
    pub port: u16,
    /// How far the probe got.
    pub status: ProbeStatus,
    /// `version.bind` CH TXT.
    pub version_bind: ChaosAnswer,
    /// `hostname.bind` CH TXT.
    pub hostname_bind: ChaosAnswer,
    /// Open-recursion test.
    pub recursion: Option<RecursionTest>,
    /// SOA (RD=0) of one zone that led here: is this server authoritative for it?
    #[serde(default)]
    pub own_zone: Option<OwnZoneAnswer>,
    /// AXFR attempts, one per zone tried, at most `axfr_cap` of the zones that led here.
    #[serde(default)]
    pub zone_transfers: Vec<ZoneTransfer>,
    /// The zone-transfer policy in force: at most this many zones tried per server (`None`:
    /// every zone that led here, as `check` does).
    #[serde(default)]
    pub axfr_cap: Option<u32>,
    /// Zones that led here but were not tried because of `axfr_cap`: not tested.
    #[serde(default)]
    pub axfr_untried: u32,
    /// The questions asked and the answers' summaries, capped (empty in older scans).
    #[serde(default)]
    pub transcript: Vec<TranscriptLine>,
}

/// The per-domain questions to one of the domain's name servers.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct NsCheck {
    /// The NS host name.
    pub name: String,
    /// Its address.
    pub ip: IpAddr,
    /// The SOA query's response code; `None` when nothing usable came back (`"NOERROR"`-style
    /// strings in older scans).
    #[serde(default, deserialize_with = "rcode_compat")]
    pub soa_rcode: Option<Rcode>,
    /// AA bit on the SOA answer.
    pub authoritative: bool,
    /// SOA records in the answer.
    pub soa_answers: usize,
    /// Why the SOA query got no usable answer.
    #[serde(default)]
    pub soa_error: Option<QueryFailure>,
    /// AXFR: records received (0 when refused or not asked).
    #[serde(default)]
    pub axfr_records: usize,
    /// AXFR: the first records, rendered (capped), as evidence.
    #[serde(default)]
    pub axfr_sample: Vec<String>,
    /// AXFR outcome in words (`refused (REFUSED)`, `transferred`, `connection closed`, …).
    /// Older scans asked AXFR per domain here; scans since zone transfers moved to the
    /// name server's record (`DnsServerObservation::zone_transfers`) leave it empty.
    #[serde(default)]
    pub axfr_result: String,
    /// The SOA serial in the answer, when there was one (SOA agreement between servers).
    #[serde(default)]
    pub soa_serial: Option<u32>,
}

/// A domain's name servers and what each said about the domain.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct NsObservation {
    /// The NS answer.
    pub ns: Lookup<Vec<String>>,
    /// One entry per (NS name, admitted address) asked.
    pub checks: Vec<NsCheck>,
}

/// An SSH service's identification string (RFC 4253 §4.2).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct SshObservation {
    /// The port.
    pub port: u16,
    /// How far the probe got.
    pub status: ProbeStatus,
    /// Human-readable reason when not `success`.
    #[serde(default)]
    pub detail: Option<String>,
    /// The `SSH-2.0-…` line, verbatim.
    #[serde(default)]
    pub identification: Option<String>,
    /// Lines the server sent before it (allowed by RFC 4253), capped.
    #[serde(default)]
    pub pre_banner: Vec<String>,
}

/// The services intruders looked for on mail hosts (issue 16, seed 001): telnet, SMB, open
/// proxies, FTP. Probed only when asked (`--exposure-extra`) in surveys, always by `check`.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct ExtraServices {
    /// Telnet ports (23).
    #[serde(default)]
    pub telnet: Vec<TelnetObservation>,
    /// NetBIOS session service and direct SMB (139, 445).
    #[serde(default)]
    pub smb: Vec<SmbObservation>,
    /// HTTP CONNECT and SOCKS proxy ports (3128, 8080, 1080).
    #[serde(default)]
    pub proxy: Vec<ProxyObservation>,
    /// FTP ports (21).
    #[serde(default)]
    pub ftp: Vec<FtpObservation>,
}

impl ExtraServices {
    /// Nothing probed.
    pub fn is_empty(&self) -> bool {
        self.telnet.is_empty()
            && self.smb.is_empty()
            && self.proxy.is_empty()
            && self.ftp.is_empty()
    }

    /// Whether one of these probes answered (`success`) on `port`.
    pub fn answered(&self, port: u16) -> bool {
        let ok = |p: u16, s: ProbeStatus| p == port && s == ProbeStatus::Success;
        self.telnet.iter().any(|t| ok(t.port, t.status))
            || self.smb.iter().any(|t| ok(t.port, t.status))
            || self.proxy.iter().any(|t| ok(t.port, t.status))
            || self.ftp.iter().any(|t| ok(t.port, t.status))
    }
}

/// A telnet service: what it said before any login (nothing is ever typed at it).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct TelnetObservation {
    /// The port.
    pub port: u16,
    /// How far the probe got (`success`: the server spoke telnet or printed text).
    pub status: ProbeStatus,
    /// Human-readable reason when not `success`.
    #[serde(default)]
    pub detail: Option<String>,
    /// Option negotiation the server opened (`DO TERMINAL-TYPE`, …), capped.
    #[serde(default)]
    pub negotiation: Vec<String>,
    /// Text lines it printed (banner, then the login prompt), IAC sequences removed, capped.
    #[serde(default)]
    pub banner: Vec<String>,
    /// The dialogue (our option refusals are noted by length), capped.
    #[serde(default)]
    pub transcript: Vec<TranscriptLine>,
}

/// An SMB service on one port: what its negotiation offers (no session is set up, no
/// authentication attempted).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct SmbObservation {
    /// The port (445 direct, 139 through a NetBIOS session).
    pub port: u16,
    /// How far the probe got (`success`: an SMB negotiate response arrived).
    pub status: ProbeStatus,
    /// Human-readable reason when not `success`.
    #[serde(default)]
    pub detail: Option<String>,
    /// Port 139: the NetBIOS session request's answer.
    #[serde(default)]
    pub netbios: Option<crate::smb::NetbiosAnswer>,
    /// The SMB2/3 dialect the server chose among those offered (`2.0.2` … `3.1.1`).
    #[serde(default)]
    pub dialect: Option<String>,
    /// Whether the server requires message signing (SMB2 security mode).
    #[serde(default)]
    pub signing_required: Option<bool>,
    /// The answer to an SMB1-only negotiate (`NT LM 0.12`), on its own connection.
    #[serde(default)]
    pub smb1: Option<crate::smb::Smb1Answer>,
    /// The dialogue (binary frames noted by length and meaning), capped.
    #[serde(default)]
    pub transcript: Vec<TranscriptLine>,
}

/// An open-proxy test on one port and protocol.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct ProxyObservation {
    /// The port.
    pub port: u16,
    /// The protocol asked.
    pub kind: crate::proxy::ProxyKind,
    /// How far the probe got (`success`: the port answered in this protocol).
    pub status: ProbeStatus,
    /// Human-readable reason when not `success`.
    #[serde(default)]
    pub detail: Option<String>,
    /// Where the proxy was asked to connect: the target's own address and its SMTP port.
    #[serde(default)]
    pub target: Option<String>,
    /// What the proxy's answer means.
    pub verdict: crate::proxy::ProxyVerdict,
    /// The proxy's answer (HTTP status line, SOCKS reply code), verbatim or rendered.
    #[serde(default)]
    pub reply: Option<String>,
    /// The first line read through the tunnel (the target's SMTP greeting), when any.
    #[serde(default)]
    pub tunnelled_greeting: Option<String>,
    /// The dialogue, capped.
    #[serde(default)]
    pub transcript: Vec<TranscriptLine>,
}

/// An FTP service: its greeting and whether it offers anonymous login (no password is sent).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct FtpObservation {
    /// The port.
    pub port: u16,
    /// How far the probe got.
    pub status: ProbeStatus,
    /// Human-readable reason when not `success`.
    #[serde(default)]
    pub detail: Option<String>,
    /// The 220 greeting.
    #[serde(default)]
    pub greeting: Option<crate::ftp::FtpReply>,
    /// The reply to `USER anonymous`.
    #[serde(default)]
    pub anonymous_reply: Option<crate::ftp::FtpReply>,
    /// The reply to `USER` with a random name (the control: a server that asks every name
    /// for a password offers nothing particular to `anonymous`).
    #[serde(default)]
    pub control_reply: Option<crate::ftp::FtpReply>,
    /// What the two replies mean.
    #[serde(default)]
    pub anonymous: crate::ftp::Anonymous,
    /// The dialogue, capped.
    #[serde(default)]
    pub transcript: Vec<TranscriptLine>,
}

/// The protocol spoken in clear before the ClientHello on an audited port (or the service
/// behind an implicit-TLS port).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsAuditService {
    /// SMTP (`STARTTLS` on 25/587; 465 implicit).
    Smtp,
    /// IMAP (`STARTTLS` on 143; 993 implicit).
    Imap,
    /// POP3 (`STLS` on 110; 995 implicit).
    Pop3,
}

impl TlsAuditService {
    /// `smtp`, `imap` or `pop3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Imap => "imap",
            Self::Pop3 => "pop3",
        }
    }
}

/// What the server answered to one crafted ClientHello.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum TlsAttemptResult {
    /// A ServerHello: this version and suite were accepted.
    Accepted {
        /// The negotiated version.
        version: crate::tlsprobe::TlsVersion,
        /// The suite's code point.
        suite: u16,
        /// Its IANA name (or `0xXXXX`).
        suite_name: String,
        /// The suite's class.
        class: crate::tlsprobe::SuiteClass,
    },
    /// A ServerHello with a version this audit does not know (neither SSL 3.0 nor TLS 1.x).
    OddVersion {
        /// The version on the wire.
        version: u16,
    },
    /// An alert instead of a ServerHello: the offer was refused.
    Alert {
        /// The alert description code (70 protocol_version, 40 handshake_failure, …).
        description: u8,
    },
    /// The server closed the connection without answering the ClientHello: refused.
    Closed,
    /// The answer is not TLS, or malformed.
    Malformed {
        /// What was wrong.
        why: crate::tlsprobe::Malformed,
    },
    /// The plaintext step before the hello failed (`STARTTLS` refused, no greeting).
    StartTlsFailed {
        /// The reply or the error.
        detail: String,
    },
    /// No answer: a timeout, the deadline, a reset before the hello went out.
    NoAnswer {
        /// How far it got.
        status: ProbeStatus,
        /// The error.
        detail: String,
    },
}

impl TlsAttemptResult {
    /// Whether the server clearly refused the offer (an alert, or a close right after it).
    pub fn refused(&self) -> bool {
        matches!(self, Self::Alert { .. } | Self::Closed)
    }
}

/// One crafted ClientHello and its answer.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct TlsAttempt {
    /// What was offered.
    pub offer: crate::tlsprobe::Offer,
    /// What came back.
    pub result: TlsAttemptResult,
}

/// The TLS protocol-version and cipher-suite audit of one TLS-capable mail port: a few
/// connections, each with one crafted ClientHello, never finishing a handshake.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct TlsAuditObservation {
    /// The service on the port.
    pub service: TlsAuditService,
    /// The port.
    pub port: u16,
    /// TLS from the first byte (465, 993, 995); otherwise `STARTTLS`/`STLS` first.
    pub implicit_tls: bool,
    /// `success` when every offer got an answer (accepted or refused).
    pub status: ProbeStatus,
    /// Human-readable reason when not `success`.
    #[serde(default)]
    pub detail: Option<String>,
    /// The offers, in the order made.
    #[serde(default)]
    pub attempts: Vec<TlsAttempt>,
    /// The conversations, one after another.
    #[serde(default)]
    pub transcript: Vec<TranscriptLine>,
    /// Time taken, milliseconds.
    #[serde(default)]
    pub elapsed_ms: u64,
}

impl TlsAuditObservation {
    /// The versions some offer got accepted, lowest first.
    pub fn accepted_versions(&self) -> Vec<crate::tlsprobe::TlsVersion> {
        let mut v: Vec<_> = self
            .attempts
            .iter()
            .filter_map(|a| match &a.result {
                TlsAttemptResult::Accepted { version, .. } => Some(*version),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The result of the offer `offer`, if made.
    pub fn result(&self, offer: crate::tlsprobe::Offer) -> Option<&TlsAttemptResult> {
        self.attempts
            .iter()
            .find(|a| a.offer == offer)
            .map(|a| &a.result)
    }
}
