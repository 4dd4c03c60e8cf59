//! Software fingerprints: which product and version answered on each port, and what OS the
//! host probably runs, from the text servers send (banners, EHLO lines, `Server` headers,
//! CHAOS `version.bind`, SSH identification strings).
//!
//! The signatures are data (`crates/core/data/fingerprints.toml`, compiled in; `--signatures FILE`
//! replaces it). Each pattern is a `regex` (linear-time matching: a hostile banner cannot make
//! it backtrack), compiled once when the file is loaded, and run only on the first
//! [`MAX_EVIDENCE_LEN`] bytes of a text.
//!
//! Evidence is a flat list of `(source kind, port, text)` items so that every probe adds its
//! texts the same way: see [`EXTRACTORS`].

use crate::mailbox;
use crate::model::{ChaosAnswer, HostObservation, MailboxProtocol};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The signature file shipped with mxray.
pub const BUILTIN_SIGNATURES: &str = include_str!("../data/fingerprints.toml");

/// Evidence longer than this is cut (on a character boundary) before matching.
pub const MAX_EVIDENCE_LEN: usize = 512;

/// What kind of text an evidence item is.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Ord, PartialOrd, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// An SMTP greeting line (`220 …`).
    SmtpGreeting,
    /// The first line of an EHLO reply.
    SmtpEhlo,
    /// A reply to `HELP`.
    SmtpHelp,
    /// A POP3 greeting (`+OK …`).
    Pop3Greeting,
    /// An IMAP greeting (`* OK …`).
    ImapGreeting,
    /// An IMAP `ID` response (RFC 2971), rendered `name "Dovecot" version "2.3.19.1" …`.
    ImapId,
    /// An HTTP `Server` header value.
    HttpServer,
    /// An HTTP `X-Powered-By` header value (the application runtime behind the server).
    HttpPoweredBy,
    /// A CHAOS TXT `version.bind` answer.
    DnsVersion,
    /// An SSH identification string (`SSH-2.0-…`).
    SshIdent,
}

impl Source {
    /// Every source kind.
    pub const ALL: [Self; 10] = [
        Self::SmtpGreeting,
        Self::SmtpEhlo,
        Self::SmtpHelp,
        Self::Pop3Greeting,
        Self::ImapGreeting,
        Self::ImapId,
        Self::HttpServer,
        Self::HttpPoweredBy,
        Self::DnsVersion,
        Self::SshIdent,
    ];

    /// The kebab-case name used in the signature file, the database and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SmtpGreeting => "smtp-greeting",
            Self::SmtpEhlo => "smtp-ehlo",
            Self::SmtpHelp => "smtp-help",
            Self::Pop3Greeting => "pop3-greeting",
            Self::ImapGreeting => "imap-greeting",
            Self::ImapId => "imap-id",
            Self::HttpServer => "http-server",
            Self::HttpPoweredBy => "http-powered-by",
            Self::DnsVersion => "dns-version",
            Self::SshIdent => "ssh-ident",
        }
    }

    /// The service the text came from; texts of one service on one port identify one program.
    /// `X-Powered-By` names the application runtime behind the web server, another program
    /// than the one `Server` names: a known PHP must not hide an unknown `Server`.
    pub fn service(self) -> &'static str {
        match self {
            Self::SmtpGreeting | Self::SmtpEhlo | Self::SmtpHelp => "smtp",
            Self::Pop3Greeting => "pop3",
            Self::ImapGreeting | Self::ImapId => "imap",
            Self::HttpServer => "http",
            Self::HttpPoweredBy => "http-app",
            Self::DnsVersion => "dns",
            Self::SshIdent => "ssh",
        }
    }

    /// Parses the kebab-case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One text a server sent, with where it came from. The text is verbatim (escape it on output).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What kind of text.
    pub source: Source,
    /// The port it came from.
    pub port: u16,
    /// The text, verbatim.
    pub text: String,
}

/// Adds the evidence one kind of observation holds. Adding a probe means adding one function
/// to [`EXTRACTORS`].
pub type Extractor = fn(&HostObservation, &mut Vec<Evidence>);

/// Every evidence extractor, in order: one per kind of observation in [`HostObservation`].
pub const EXTRACTORS: &[Extractor] = &[
    smtp_evidence,
    mailbox_evidence,
    web_evidence,
    dns_evidence,
    ssh_evidence,
];

/// Evidence texts are kept (and stored) up to this many bytes; the probes' line caps already
/// bound them at 4 KiB, this keeps the software tables small whatever a server sends.
pub const MAX_STORED_EVIDENCE: usize = 1024;

/// Distinct `Server` / `X-Powered-By` values kept per port (a proxy may route paths to
/// different back ends; a hostile server may vary the header on every request).
const MAX_HEADER_VALUES: usize = 3;

/// Every text of a host observation that can identify software.
pub fn evidence(obs: &HostObservation) -> Vec<Evidence> {
    let mut out = Vec::new();
    for x in EXTRACTORS {
        x(obs, &mut out);
    }
    for e in &mut out {
        let end = cut(&e.text, MAX_STORED_EVIDENCE).len();
        e.text.truncate(end);
    }
    out
}

fn smtp_evidence(obs: &HostObservation, out: &mut Vec<Evidence>) {
    for s in &obs.smtp {
        if let Some(g) = &s.greeting {
            for l in &g.lines {
                out.push(Evidence {
                    source: Source::SmtpGreeting,
                    port: s.port,
                    text: format!("{} {l}", g.code),
                });
            }
        }
        // The first EHLO line (`250-name greeting text`): Exchange and Exim identify there.
        let ehlo = s.transcript.iter().find(|t| {
            t.dir == crate::model::Dir::Server
                && (t.text.starts_with("250-") || t.text.starts_with("250 "))
        });
        if let Some(t) = ehlo {
            out.push(Evidence {
                source: Source::SmtpEhlo,
                port: s.port,
                text: t.text.clone(),
            });
        }
    }
}

/// POP3 and IMAP greetings (`+OK Dovecot (Debian) ready.`, `* OK [CAPABILITY …] … ready`),
/// clear and implicit-TLS ports alike, then the IMAP `ID` response when the server gave
/// one with at least one pair (rendered by [`mailbox::imap_id_text`]: `name "Dovecot"
/// version "2.3.19.1"`), which names the version where the greeting does not. The
/// CAPABILITY items name no product.
fn mailbox_evidence(obs: &HostObservation, out: &mut Vec<Evidence>) {
    for m in &obs.mailbox {
        if let Some(g) = m.greeting.as_deref().filter(|g| !g.trim().is_empty()) {
            let source = match m.protocol {
                MailboxProtocol::Pop3 => Source::Pop3Greeting,
                MailboxProtocol::Imap => Source::ImapGreeting,
            };
            out.push(Evidence {
                source,
                port: m.port,
                text: g.to_owned(),
            });
        }
        if m.protocol == MailboxProtocol::Imap
            && let Some(id) = m.imap_id.as_ref().filter(|id| !id.fields.is_empty())
        {
            out.push(Evidence {
                source: Source::ImapId,
                port: m.port,
                text: mailbox::imap_id_text(&id.fields),
            });
        }
    }
}

/// `Server` and `X-Powered-By` of every HTTP and HTTPS port, each distinct value once per
/// port (at most [`MAX_HEADER_VALUES`]), in the order the requests were made.
fn web_evidence(obs: &HostObservation, out: &mut Vec<Evidence>) {
    for w in &obs.web {
        let servers = w.exchanges.iter().filter_map(|x| x.server.as_deref());
        push_distinct(out, Source::HttpServer, w.port, servers);
        let powered = w.exchanges.iter().filter_map(|x| x.powered_by.as_deref());
        push_distinct(out, Source::HttpPoweredBy, w.port, powered);
    }
}

fn push_distinct<'a>(
    out: &mut Vec<Evidence>,
    source: Source,
    port: u16,
    values: impl Iterator<Item = &'a str>,
) {
    let mut seen: Vec<&str> = Vec::new();
    for v in values.map(str::trim).filter(|v| !v.is_empty()) {
        if seen.contains(&v) {
            continue;
        }
        if seen.len() == MAX_HEADER_VALUES {
            break;
        }
        seen.push(v);
        out.push(Evidence {
            source,
            port,
            text: v.to_owned(),
        });
    }
}

/// The `version.bind` CHAOS TXT answer, when it is text. `hostname.bind` names a host, not
/// software: it is left out, so it never counts as an unknown banner either.
fn dns_evidence(obs: &HostObservation, out: &mut Vec<Evidence>) {
    if let Some(d) = &obs.dns_server
        && let ChaosAnswer::Text(t) = &d.version_bind
        && !t.trim().is_empty()
    {
        out.push(Evidence {
            source: Source::DnsVersion,
            port: d.port,
            text: t.clone(),
        });
    }
}

/// The SSH identification line (`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`); the lines a
/// server may send before it are free text and left out.
fn ssh_evidence(obs: &HostObservation, out: &mut Vec<Evidence>) {
    if let Some(s) = &obs.ssh
        && let Some(id) = s.identification.as_deref().filter(|t| !t.trim().is_empty())
    {
        out.push(Evidence {
            source: Source::SshIdent,
            port: s.port,
            text: id.to_owned(),
        });
    }
}

/// Errors in a signature file. Each names the offending entry.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// Not valid TOML or not the expected shape.
    #[error("signature file: {0}")]
    Syntax(String),
    /// A pattern does not compile.
    #[error("signature {product:?}: pattern does not compile: {reason}")]
    Pattern {
        /// The product (or `os_rule`).
        product: String,
        /// The regex error.
        reason: String,
    },
    /// An unknown source kind.
    #[error("signature {product:?}: unknown source {source_name:?}")]
    Source {
        /// The product.
        product: String,
        /// The name given.
        source_name: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    signature: Vec<RawSignature>,
    #[serde(default)]
    os_rule: Vec<RawOsRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    product: String,
    name: String,
    sources: Vec<String>,
    pattern: String,
    os: Option<String>,
    #[serde(default)]
    test: Vec<SignatureTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOsRule {
    product: Option<String>,
    pattern: String,
    os: String,
    #[serde(default = "one")]
    weight: u32,
}

fn one() -> u32 {
    1
}

/// A test banner of a signature and what it must fingerprint as.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureTest {
    /// The text.
    pub banner: String,
    /// Expected version (`""` or absent: none).
    pub version: Option<String>,
    /// Expected distribution build.
    pub build: Option<String>,
    /// Expected (normalised) OS hint.
    pub os: Option<String>,
}

/// One compiled signature.
#[derive(Clone, Debug)]
pub struct Signature {
    /// Product key (advisories refer to it).
    pub product: String,
    /// Display name.
    pub name: String,
    /// Evidence kinds it applies to.
    pub sources: Vec<Source>,
    /// The pattern.
    pub pattern: Regex,
    /// A fixed OS hint.
    pub os: Option<String>,
    /// Its test banners.
    pub tests: Vec<SignatureTest>,
}

/// One compiled OS rule.
#[derive(Clone, Debug)]
pub struct OsRule {
    /// Only for evidence fingerprinted as this product.
    pub product: Option<String>,
    /// Matched against the evidence text.
    pub pattern: Regex,
    /// The OS it indicates.
    pub os: String,
    /// How much it counts.
    pub weight: u32,
}

/// A loaded signature file.
#[derive(Clone, Debug)]
pub struct Signatures {
    /// Signatures, tried in order.
    pub signatures: Vec<Signature>,
    /// OS rules.
    pub os_rules: Vec<OsRule>,
}

fn compile(product: &str, pattern: &str) -> Result<Regex, SignatureError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| SignatureError::Pattern {
            product: product.to_owned(),
            reason: e.to_string(),
        })
}

impl Signatures {
    /// The signatures shipped with mxray.
    pub fn builtin() -> Self {
        // The shipped file is checked by the tests below; failing here is a build defect.
        // Invariant: the compiled-in signature file parses (every fingerprint test loads it).
        Self::parse(BUILTIN_SIGNATURES).expect("crates/core/data/fingerprints.toml is valid")
    }

    /// Parses and compiles a signature file.
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| SignatureError::Syntax(e.to_string()))?;
        let mut signatures = Vec::new();
        for s in raw.signature {
            let mut sources = Vec::new();
            for name in &s.sources {
                sources.push(Source::parse(name).ok_or_else(|| SignatureError::Source {
                    product: s.product.clone(),
                    source_name: name.clone(),
                })?);
            }
            signatures.push(Signature {
                pattern: compile(&s.product, &s.pattern)?,
                product: s.product,
                name: s.name,
                sources,
                os: s.os,
                tests: s.test,
            });
        }
        let mut os_rules = Vec::new();
        for r in raw.os_rule {
            os_rules.push(OsRule {
                pattern: compile(&format!("os_rule {}", r.os), &r.pattern)?,
                product: r.product,
                os: r.os,
                weight: r.weight,
            });
        }
        Ok(Self {
            signatures,
            os_rules,
        })
    }

    /// Identifies the software behind one text, if a signature matches.
    pub fn identify(&self, ev: &Evidence) -> Option<Software> {
        let text = capped(&ev.text);
        self.signatures
            .iter()
            .filter(|s| s.sources.contains(&ev.source))
            .find_map(|s| {
                let c = s.pattern.captures(text)?;
                let get = |n: &str| {
                    c.name(n)
                        .map(|m| m.as_str().trim().to_owned())
                        .filter(|v| !v.is_empty())
                };
                let os = get("os")
                    .and_then(|o| normalise_os(&o))
                    .or_else(|| s.os.clone());
                Some(Software {
                    product: s.product.clone(),
                    name: s.name.clone(),
                    version: get("version"),
                    build: get("build"),
                    os_hint: os,
                    source: ev.source,
                    port: ev.port,
                    evidence: ev.text.clone(),
                })
            })
    }

    /// Fingerprints a host from its evidence.
    pub fn fingerprint(&self, evidence: &[Evidence]) -> HostFingerprint {
        let mut software: Vec<Software> = Vec::new();
        let mut hints: Vec<(String, u32, String)> = Vec::new();
        for ev in evidence {
            let Some(sw) = self.identify(ev) else {
                continue;
            };
            if let Some(os) = &sw.os_hint {
                hints.push((os.clone(), 1, ev.text.clone()));
            }
            for r in &self.os_rules {
                if r.product.as_ref().is_none_or(|p| *p == sw.product)
                    && r.pattern.is_match(capped(&ev.text))
                {
                    hints.push((r.os.clone(), r.weight, ev.text.clone()));
                }
            }
            // One entry per (product, port): the greeting and the EHLO line of one Postfix
            // are one program; keep the one that told the most, and the OS hint of the
            // other if it has none (Dovecot's greeting names the OS, its ID the version).
            match software
                .iter_mut()
                .find(|s| s.product == sw.product && s.port == sw.port)
            {
                Some(prev) => {
                    let os_hint = if prev.version.is_none() && sw.version.is_some() {
                        let earlier = std::mem::replace(prev, sw);
                        earlier.os_hint
                    } else {
                        sw.os_hint
                    };
                    prev.os_hint = prev.os_hint.take().or(os_hint);
                }
                None => software.push(sw),
            }
        }
        let mut unknown: Vec<Evidence> = Vec::new();
        for ev in evidence {
            let known = software
                .iter()
                .any(|s| s.port == ev.port && s.source.service() == ev.source.service());
            let seen = unknown
                .iter()
                .any(|u| u.port == ev.port && u.source.service() == ev.source.service());
            if !known && !seen && !ev.text.trim().is_empty() {
                unknown.push(ev.clone());
            }
        }
        HostFingerprint {
            software,
            os: guess_os(&hints),
            unknown,
        }
    }
}

fn capped(s: &str) -> &str {
    cut(s, MAX_EVIDENCE_LEN)
}

/// The first `max` bytes of `s`, cut on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Maps the free-text OS part of a banner (`Debian/GNU`, `Ubuntu`, `Red Hat Enterprise Linux`)
/// to an OS family name; `None` when it names no OS.
pub fn normalise_os(hint: &str) -> Option<String> {
    let h = hint.to_ascii_lowercase();
    let table = [
        ("debian", "Debian"),
        ("ubuntu", "Ubuntu"),
        ("red hat", "Red Hat Enterprise Linux"),
        ("redhat", "Red Hat Enterprise Linux"),
        ("centos", "CentOS"),
        ("fedora", "Fedora"),
        ("freebsd", "FreeBSD"),
        ("win", "Windows"),
    ];
    table
        .iter()
        .find(|(k, _)| h.contains(k))
        .map(|(_, v)| (*v).to_owned())
}

/// A product found on a port.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Software {
    /// Product key (`postfix`, `bind`, `openssh`, …).
    pub product: String,
    /// Display name.
    pub name: String,
    /// Upstream version, when disclosed.
    pub version: Option<String>,
    /// Distribution revision (`Debian-2+deb12u3`): fixes may be backported.
    pub build: Option<String>,
    /// OS the text names.
    pub os_hint: Option<String>,
    /// Which text told.
    pub source: Source,
    /// Which port.
    pub port: u16,
    /// The text, verbatim.
    pub evidence: String,
}

/// The host's likely operating system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OsGuess {
    /// `Ubuntu 22.04`, `Debian`, `Windows`, …
    pub name: String,
    /// 0.0 ..= 1.0: the share of OS evidence that agrees, reduced when little evidence exists.
    pub confidence: f64,
    /// The texts that support it.
    pub basis: Vec<String>,
}

/// Everything fingerprinting concluded about one host.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFingerprint {
    /// Products found, one per (product, port).
    pub software: Vec<Software>,
    /// The OS guess.
    pub os: Option<OsGuess>,
    /// Texts no signature matched (one per service and port), kept to write new signatures.
    pub unknown: Vec<Evidence>,
}

/// `candidate` refines (or is) `hint`: `Debian 12` refines `Debian`, not `Debian 1`.
fn refines(candidate: &str, hint: &str) -> bool {
    candidate == hint
        || candidate
            .strip_prefix(hint)
            .is_some_and(|rest| rest.starts_with(' '))
}

/// Combines OS hints `(os, weight, text)`: each candidate scores the weight of every hint it
/// refines; the best score wins, the most specific name on a tie. Confidence is the winner's
/// share of all weight, scaled down when the total evidence is thin.
fn guess_os(hints: &[(String, u32, String)]) -> Option<OsGuess> {
    let total: u32 = hints.iter().map(|h| h.1).sum();
    if total == 0 {
        return None;
    }
    let mut best: Option<(u32, &str)> = None;
    for (cand, _, _) in hints {
        let score: u32 = hints
            .iter()
            .filter(|(h, _, _)| refines(cand, h))
            .map(|h| h.1)
            .sum();
        let better = match best {
            None => true,
            Some((s, name)) => score > s || (score == s && cand.len() > name.len()),
        };
        if better {
            best = Some((score, cand));
        }
    }
    let (score, name) = best?;
    let share = f64::from(score) / f64::from(total);
    let amount = (f64::from(total) / 4.0).min(1.0);
    let confidence = (share * (0.5 + 0.5 * amount) * 100.0).round() / 100.0;
    let mut basis: Vec<String> = Vec::new();
    for (h, _, text) in hints {
        if refines(name, h) && !basis.contains(text) {
            basis.push(text.clone());
        }
    }
    Some(OsGuess {
        name: name.to_owned(),
        confidence,
        basis,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(source: Source, text: &str) -> Evidence {
        Evidence {
            source,
            port: 1,
            text: text.into(),
        }
    }

    /// A host observation as the store holds it: the required fields plus `extra`.
    fn host(extra: serde_json::Value) -> HostObservation {
        let mut v = serde_json::json!({
            "ip": "192.0.2.25", "class": "public",
            "ptr": {"status": "nx-domain"}, "fcrdns": null,
            "smtp": [], "relay": null, "elapsed_ms": 0,
        });
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        serde_json::from_value(v).expect("a valid host observation")
    }

    fn kinds(evs: &[Evidence]) -> Vec<(Source, u16, &str)> {
        evs.iter()
            .map(|e| (e.source, e.port, e.text.as_str()))
            .collect()
    }

    #[test]
    fn mailbox_greetings_are_evidence_per_protocol_and_port() {
        let obs = host(serde_json::json!({"mailbox": [
            {"protocol": "pop3", "port": 110, "implicit_tls": false, "status": "success",
             "greeting": "+OK Dovecot (Debian) ready.", "capabilities": ["USER", "STLS"]},
            {"protocol": "imap", "port": 143, "implicit_tls": false, "status": "success",
             "greeting": "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.",
             "capabilities": ["IMAP4rev1", "STARTTLS"]},
            {"protocol": "imap", "port": 993, "implicit_tls": true, "status": "success",
             "greeting": "* OK [CAPABILITY IMAP4rev1 ACL] imap.example.org Cyrus IMAP v3.6.1-Debian-3.6.1-4 server ready"},
            {"protocol": "pop3", "port": 995, "implicit_tls": true, "status": "tls-failed"},
            {"protocol": "pop3", "port": 1110, "implicit_tls": false, "status": "success",
             "greeting": "  "}
        ]}));
        let evs = evidence(&obs);
        assert_eq!(
            kinds(&evs),
            [
                (Source::Pop3Greeting, 110, "+OK Dovecot (Debian) ready."),
                (
                    Source::ImapGreeting,
                    143,
                    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready."
                ),
                (
                    Source::ImapGreeting,
                    993,
                    "* OK [CAPABILITY IMAP4rev1 ACL] imap.example.org Cyrus IMAP v3.6.1-Debian-3.6.1-4 server ready"
                ),
            ]
        );
        let fp = Signatures::builtin().fingerprint(&evs);
        let got: Vec<(&str, u16, Option<&str>)> = fp
            .software
            .iter()
            .map(|s| (s.product.as_str(), s.port, s.version.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("dovecot", 110, None),
                ("dovecot", 143, None),
                ("cyrus", 993, Some("3.6.1"))
            ]
        );
        assert_eq!(fp.os.expect("os").name, "Debian");
    }

    /// The IMAP ID response is evidence of its own (`imap-id`), and the version it names
    /// joins the OS hint of the greeting on one entry per port. See: issue 5.
    #[test]
    fn imap_id_gives_the_version_the_greeting_hides() {
        let id = |pairs: serde_json::Value| {
            serde_json::json!({"protocol": "imap", "port": 143, "implicit_tls": false,
                "status": "success", "greeting": "* OK [CAPABILITY IMAP4rev1 ID] Dovecot (Debian) ready.",
                "imap_id": {"fields": pairs}})
        };
        let obs = host(serde_json::json!({"mailbox": [
            id(serde_json::json!([{"key": "name", "value": "Dovecot"},
                                  {"key": "os", "value": null},
                                  {"key": "version", "value": "2.3.19.1"}])),
            {"protocol": "pop3", "port": 110, "implicit_tls": false, "status": "success",
             "greeting": "+OK Dovecot (Debian) ready.",
             "imap_id": {"fields": [{"key": "name", "value": "ignored: not IMAP"}]}},
            {"protocol": "imap", "port": 993, "implicit_tls": true, "status": "success",
             "greeting": "* OK ready", "imap_id": {"fields": [], "error": "no ID response"}}
        ]}));
        let evs = evidence(&obs);
        assert_eq!(
            kinds(&evs),
            [
                (
                    Source::ImapGreeting,
                    143,
                    "* OK [CAPABILITY IMAP4rev1 ID] Dovecot (Debian) ready."
                ),
                (
                    Source::ImapId,
                    143,
                    r#"name "Dovecot" version "2.3.19.1" os NIL"#
                ),
                (Source::Pop3Greeting, 110, "+OK Dovecot (Debian) ready."),
                (Source::ImapGreeting, 993, "* OK ready"),
            ]
        );
        let fp = Signatures::builtin().fingerprint(&evs);
        let got: Vec<_> = fp
            .software
            .iter()
            .map(|s| {
                (
                    s.product.as_str(),
                    s.port,
                    s.source,
                    s.version.as_deref(),
                    s.os_hint.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "dovecot",
                    143,
                    Source::ImapId,
                    Some("2.3.19.1"),
                    Some("Debian")
                ),
                ("dovecot", 110, Source::Pop3Greeting, None, Some("Debian")),
            ]
        );
        assert_eq!(
            kinds(&fp.unknown),
            [(Source::ImapGreeting, 993, "* OK ready")]
        );
        // An ID naming nothing known leaves the greeting's product alone, and is not an
        // unknown banner of its own (one service, one port).
        let obs = host(serde_json::json!({"mailbox": [id(serde_json::json!([
            {"key": "name", "value": "Frobnicator \u{1b}[2J"}]))]}));
        let fp = Signatures::builtin().fingerprint(&evidence(&obs));
        assert_eq!(fp.software.len(), 1);
        assert_eq!(fp.software[0].version, None);
        assert!(fp.unknown.is_empty(), "{:?}", fp.unknown);
        // Cyrus: product, version and Debian build from the ID alone.
        let obs = host(
            serde_json::json!({"mailbox": [{"protocol": "imap", "port": 143,
            "implicit_tls": false, "status": "success", "greeting": "* OK server ready",
            "imap_id": {"fields": [{"key": "name", "value": "Cyrus IMAPD"},
                                   {"key": "version", "value": "3.6.1-Debian-3.6.1-4"},
                                   {"key": "vendor", "value": "Project Cyrus"}]}}]}),
        );
        let fp = Signatures::builtin().fingerprint(&evidence(&obs));
        let sw = &fp.software[0];
        assert_eq!(
            (
                sw.product.as_str(),
                sw.version.as_deref(),
                sw.build.as_deref()
            ),
            ("cyrus", Some("3.6.1"), Some("Debian-3.6.1-4"))
        );
        assert_eq!(fp.os.expect("os").name, "Debian");
    }

    #[test]
    fn web_headers_are_evidence_once_per_value_and_port() {
        let exchange = |path: &str, server: Option<&str>, powered: Option<&str>| {
            serde_json::json!({"path": path, "status_code": 200, "server": server,
                               "powered_by": powered})
        };
        let obs = host(serde_json::json!({"web": [
            {"port": 80, "https": false, "status": "success", "exchanges": [
                exchange("/", Some("Apache/2.4.52 (Ubuntu)"), Some("PHP/8.1.2-1ubuntu2.14")),
                exchange("/.git/HEAD", Some("Apache/2.4.52 (Ubuntu)"), None),
                exchange("/server-status", Some(" Apache/2.4.52 (Ubuntu) "), None),
            ]},
            {"port": 443, "https": true, "status": "success", "exchanges": [
                exchange("/", Some("nginx/1.22.1"), None),
                exchange("/a", Some("a"), None),
                exchange("/b", Some("b"), None),
                exchange("/c", Some("c"), None),
            ]},
            {"port": 8080, "https": false, "status": "connect-refused", "exchanges": []}
        ]}));
        let evs = evidence(&obs);
        assert_eq!(
            kinds(&evs),
            [
                (Source::HttpServer, 80, "Apache/2.4.52 (Ubuntu)"),
                (Source::HttpPoweredBy, 80, "PHP/8.1.2-1ubuntu2.14"),
                (Source::HttpServer, 443, "nginx/1.22.1"),
                (Source::HttpServer, 443, "a"),
                (Source::HttpServer, 443, "b"),
            ],
            "distinct values, at most {MAX_HEADER_VALUES} per port"
        );
        let fp = Signatures::builtin().fingerprint(&evs);
        let php = fp
            .software
            .iter()
            .find(|s| s.product == "php")
            .expect("php");
        assert_eq!(
            (php.version.as_deref(), php.build.as_deref(), php.port),
            (Some("8.1.2"), Some("1ubuntu2.14"), 80)
        );
        assert!(
            fp.software
                .iter()
                .any(|s| s.product == "nginx" && s.port == 443)
        );
        assert_eq!(fp.os.expect("os").name, "Ubuntu 22.04");
    }

    /// `Server` and `X-Powered-By` name different programs: each is unknown on its own.
    #[test]
    fn server_and_powered_by_are_identified_apart() {
        let sigs = Signatures::builtin();
        let on80 = |source, text: &str| Evidence {
            source,
            port: 80,
            text: text.into(),
        };
        let fp = sigs.fingerprint(&[
            on80(Source::HttpServer, "cloudflare"),
            on80(Source::HttpPoweredBy, "PHP/8.2.26"),
        ]);
        assert_eq!(fp.software.len(), 1);
        assert_eq!(fp.software[0].product, "php");
        assert_eq!(kinds(&fp.unknown), [(Source::HttpServer, 80, "cloudflare")]);
        let fp = sigs.fingerprint(&[
            on80(Source::HttpServer, "nginx/1.22.1"),
            on80(Source::HttpPoweredBy, "Express"),
        ]);
        assert_eq!(fp.software[0].product, "nginx");
        assert_eq!(kinds(&fp.unknown), [(Source::HttpPoweredBy, 80, "Express")]);
    }

    #[test]
    fn version_bind_is_evidence_and_hostname_bind_is_not() {
        let dns = |version: serde_json::Value| {
            host(serde_json::json!({"roles": ["dns"], "dns_server": {
                "port": 53, "status": "success", "version_bind": version,
                "hostname_bind": {"result": "text", "value": "ns1.example.org"},
                "recursion": null}}))
        };
        let evs = evidence(&dns(
            serde_json::json!({"result": "text", "value": "9.18.33-1~deb12u2-Debian"}),
        ));
        assert_eq!(
            kinds(&evs),
            [(Source::DnsVersion, 53, "9.18.33-1~deb12u2-Debian")]
        );
        let fp = Signatures::builtin().fingerprint(&evs);
        assert_eq!(fp.software[0].product, "bind");
        assert_eq!(fp.software[0].version.as_deref(), Some("9.18.33"));
        assert_eq!(fp.os.expect("os").name, "Debian 12");
        // Hidden (`version none;`), refused, or no answer: nothing, and the host name is
        // never taken for an unknown banner.
        for v in [
            serde_json::json!({"result": "refused", "value": "REFUSED"}),
            serde_json::json!({"result": "no-answer", "value": "timeout"}),
            serde_json::json!({"result": "text", "value": ""}),
        ] {
            let evs = evidence(&dns(v));
            assert!(evs.is_empty(), "{evs:?}");
        }
        // A custom string is kept as an unknown banner.
        let fp = Signatures::builtin().fingerprint(&evidence(&dns(
            serde_json::json!({"result": "text", "value": "go away"}),
        )));
        assert!(fp.software.is_empty());
        assert_eq!(kinds(&fp.unknown), [(Source::DnsVersion, 53, "go away")]);
    }

    #[test]
    fn ssh_identification_is_evidence_and_pre_banner_lines_are_not() {
        let obs = host(serde_json::json!({"ssh": {
            "port": 22, "status": "success",
            "identification": "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
            "pre_banner": ["Welcome to Apache/2.4.1 land"]}}));
        let evs = evidence(&obs);
        assert_eq!(
            kinds(&evs),
            [(
                Source::SshIdent,
                22,
                "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"
            )]
        );
        let fp = Signatures::builtin().fingerprint(&evs);
        assert_eq!(fp.software[0].product, "openssh");
        assert_eq!(fp.software[0].build.as_deref(), Some("Ubuntu-3ubuntu0.6"));
        assert_eq!(fp.os.expect("os").name, "Ubuntu 22.04");
        let none = host(serde_json::json!({"ssh": {"port": 22, "status": "connect-refused"}}));
        assert!(evidence(&none).is_empty());
    }

    /// Every service of one host feeds one fingerprint and one OS guess.
    #[test]
    fn all_services_of_a_host_combine() {
        let obs = host(serde_json::json!({
            "smtp": [{"port": 25, "implicit_tls": false, "status": "success", "detail": null,
                      "greeting": {"code": 220, "lines": ["mx.example.org ESMTP Postfix (Debian/GNU)"]},
                      "helo_fallback": false, "capabilities": null,
                      "starttls": {"result": "not-offered"}, "tls": null,
                      "capabilities_tls": null, "vrfy": null, "expn": null,
                      "transcript": [], "elapsed_ms": 1}],
            "mailbox": [{"protocol": "imap", "port": 143, "implicit_tls": false,
                         "status": "success", "greeting": "* OK Dovecot (Debian) ready."}],
            "web": [{"port": 80, "https": false, "status": "success",
                     "exchanges": [{"path": "/", "server": "nginx/1.22.1"}]}],
            "ssh": {"port": 22, "status": "success",
                    "identification": "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"}
        }));
        let fp = Signatures::builtin().fingerprint(&evidence(&obs));
        let mut products: Vec<&str> = fp.software.iter().map(|s| s.product.as_str()).collect();
        products.sort_unstable();
        assert_eq!(products, ["dovecot", "nginx", "openssh", "postfix"]);
        let os = fp.os.expect("os");
        assert_eq!(os.name, "Debian 12");
        assert!(os.basis.len() >= 3, "{os:?}");
        assert!(fp.unknown.is_empty(), "{:?}", fp.unknown);
    }

    #[test]
    fn evidence_is_bounded_and_verbatim() {
        let long = format!("nginx/1.22.1 \u{1b}[2J{}", "é".repeat(4000));
        let obs = host(serde_json::json!({"web": [{"port": 80, "https": false,
            "status": "success", "exchanges": [{"path": "/", "server": long}]}]}));
        let evs = evidence(&obs);
        assert_eq!(evs.len(), 1);
        assert!(
            evs[0].text.len() <= MAX_STORED_EVIDENCE,
            "{}",
            evs[0].text.len()
        );
        assert!(evs[0].text.len() > MAX_STORED_EVIDENCE - 4);
        assert!(
            evs[0].text.starts_with("nginx/1.22.1 \u{1b}[2J"),
            "escape kept verbatim"
        );
        let sw = Signatures::builtin().identify(&evs[0]).expect("nginx");
        assert_eq!(sw.version.as_deref(), Some("1.22.1"));
    }

    /// Every test banner in the shipped file fingerprints as declared.
    #[test]
    fn shipped_signature_tests_pass() {
        let sigs = Signatures::builtin();
        let mut n = 0;
        for s in &sigs.signatures {
            assert!(!s.tests.is_empty(), "{} has no test banner", s.product);
            for t in &s.tests {
                let got = s
                    .sources
                    .iter()
                    .find_map(|src| sigs.identify(&ev(*src, &t.banner)))
                    .unwrap_or_else(|| panic!("{}: {:?} not identified", s.product, t.banner));
                assert_eq!(got.product, s.product, "{:?}", t.banner);
                let want = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
                assert_eq!(got.version, want(&t.version), "version of {:?}", t.banner);
                assert_eq!(got.build, want(&t.build), "build of {:?}", t.banner);
                assert_eq!(got.os_hint, want(&t.os), "os of {:?}", t.banner);
                n += 1;
            }
        }
        assert!(n >= 40, "only {n} test banners");
    }

    #[test]
    fn required_products_are_covered() {
        let sigs = Signatures::builtin();
        for p in [
            "postfix",
            "sendmail",
            "exim",
            "exchange",
            "qmail",
            "courier",
            "dovecot",
            "cyrus",
            "nginx",
            "apache",
            "iis",
            "lighttpd",
            "bind",
            "unbound",
            "powerdns",
            "knot",
            "microsoft-dns",
            "openssh",
            "dropbear",
        ] {
            assert!(
                sigs.signatures.iter().any(|s| s.product == p),
                "no signature for {p}"
            );
        }
    }

    #[test]
    fn debian_12_banners() {
        let sigs = Signatures::builtin();
        let cases = [
            (
                Source::SshIdent,
                "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
                "openssh",
                Some("9.2p1"),
            ),
            (Source::HttpServer, "nginx/1.22.1", "nginx", Some("1.22.1")),
            (
                Source::DnsVersion,
                "9.18.33-1~deb12u2-Debian",
                "bind",
                Some("9.18.33"),
            ),
            (
                Source::ImapGreeting,
                "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.",
                "dovecot",
                None,
            ),
            (
                Source::SmtpGreeting,
                "220 mx.example.org ESMTP Postfix (Debian/GNU)",
                "postfix",
                None,
            ),
        ];
        let evs: Vec<Evidence> = cases.iter().map(|(s, t, _, _)| ev(*s, t)).collect();
        for (e, (_, _, product, version)) in evs.iter().zip(cases) {
            let sw = sigs.identify(e).expect("identified");
            assert_eq!(sw.product, product);
            assert_eq!(sw.version.as_deref(), version);
        }
        // All five on one host (distinct ports) agree on Debian 12.
        let evs: Vec<Evidence> = evs
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e.port = i as u16;
                e
            })
            .collect();
        let fp = sigs.fingerprint(&evs);
        assert_eq!(fp.software.len(), 5);
        let os = fp.os.expect("os guess");
        assert_eq!(os.name, "Debian 12");
        assert!(os.confidence > 0.8, "{os:?}");
    }

    #[test]
    fn os_guess_combines_evidence() {
        let sigs = Signatures::builtin();
        let fp = sigs.fingerprint(&[
            Evidence {
                source: Source::SshIdent,
                port: 22,
                text: "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6".into(),
            },
            Evidence {
                source: Source::HttpServer,
                port: 80,
                text: "Apache/2.4.52 (Ubuntu)".into(),
            },
        ]);
        let os = fp.os.expect("os");
        assert_eq!(os.name, "Ubuntu 22.04");
        assert_eq!(os.basis.len(), 2);
        // One family hint alone: the family, with low confidence.
        let one = sigs
            .fingerprint(&[ev(Source::SmtpGreeting, "220 mx ESMTP Postfix (Ubuntu)")])
            .os
            .expect("os");
        assert_eq!(one.name, "Ubuntu");
        assert!(one.confidence < os.confidence);
        // Disagreeing evidence lowers confidence.
        let mixed = sigs
            .fingerprint(&[
                Evidence {
                    source: Source::SshIdent,
                    port: 22,
                    text: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".into(),
                },
                Evidence {
                    source: Source::HttpServer,
                    port: 80,
                    text: "Microsoft-IIS/10.0".into(),
                },
            ])
            .os
            .expect("os");
        assert_eq!(mixed.name, "Debian 12");
        assert!(mixed.confidence < 0.8, "{mixed:?}");
        assert!(
            sigs.fingerprint(&[ev(Source::HttpServer, "nginx")])
                .os
                .is_none()
        );
    }

    #[test]
    fn unknown_banners_are_kept_once_per_service() {
        let sigs = Signatures::builtin();
        let fp = sigs.fingerprint(&[
            Evidence {
                source: Source::SmtpGreeting,
                port: 25,
                text: "220 mx.example.jp ESMTP mxray-lab".into(),
            },
            Evidence {
                source: Source::SmtpEhlo,
                port: 25,
                text: "250-mx.example.jp".into(),
            },
            Evidence {
                source: Source::SmtpGreeting,
                port: 587,
                text: "220 mx.example.jp ESMTP Exim 4.96".into(),
            },
            Evidence {
                source: Source::SmtpEhlo,
                port: 587,
                text: "250-mx.example.jp Hello".into(),
            },
        ]);
        assert_eq!(fp.software.len(), 1);
        assert_eq!(fp.unknown.len(), 1);
        assert_eq!(fp.unknown[0].text, "220 mx.example.jp ESMTP mxray-lab");
    }

    #[test]
    fn hostile_and_huge_banners_are_harmless() {
        let sigs = Signatures::builtin();
        let long = format!("220 {} ESMTP Postfix", "a".repeat(100_000));
        assert!(sigs.identify(&ev(Source::SmtpGreeting, &long)).is_none());
        let multibyte = "é".repeat(1000);
        assert!(
            sigs.identify(&ev(Source::SmtpGreeting, &multibyte))
                .is_none()
        );
        let esc = "220 x ESMTP Exim 4.96\x1b[31m";
        let sw = sigs.identify(&ev(Source::SmtpGreeting, esc)).expect("exim");
        assert_eq!(sw.evidence, esc, "kept verbatim");
    }

    /// Every prefix of every test banner, and each with junk appended, is handled without a
    /// panic; a prefix that still names a product never names another one.
    #[test]
    fn truncated_and_padded_banners() {
        let sigs = Signatures::builtin();
        let mut checked = 0;
        for s in &sigs.signatures {
            for t in &s.tests {
                for (end, _) in t.banner.char_indices() {
                    for src in &s.sources {
                        for text in [
                            &t.banner[..end],
                            &format!("{}\u{0}\u{202e}\r\n{}", &t.banner[..end], "x".repeat(600)),
                        ] {
                            if let Some(sw) = sigs.identify(&ev(*src, text)) {
                                assert_eq!(sw.product, s.product, "{text:?}");
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn bad_signature_files_name_the_problem() {
        let e = Signatures::parse(
            "[[signature]]\nproduct='x'\nname='X'\nsources=['smtp-greeting']\npattern='('\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"x\""), "{e}");
        let e = Signatures::parse(
            "[[signature]]\nproduct='y'\nname='Y'\nsources=['gopher']\npattern='a'\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("gopher"), "{e}");
        assert!(Signatures::parse("nonsense = [").is_err());
    }
}
