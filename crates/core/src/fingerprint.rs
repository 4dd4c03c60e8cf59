//! Software fingerprints: which product and version answered on each port, and what OS the
//! host probably runs, from the text servers send (banners, EHLO lines, `Server` headers,
//! CHAOS `version.bind`, SSH identification strings).
//!
//! The signatures are data (`data/fingerprints.toml`, compiled in; `--signatures FILE`
//! replaces it). Each pattern is a `regex` (linear-time matching: a hostile banner cannot make
//! it backtrack), compiled once when the file is loaded, and run only on the first
//! [`MAX_EVIDENCE_LEN`] bytes of a text.
//!
//! Evidence is a flat list of `(source kind, port, text)` items so that every probe adds its
//! texts the same way: see [`EXTRACTORS`].

use crate::model::HostObservation;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The signature file shipped with mxray.
pub const BUILTIN_SIGNATURES: &str = include_str!("../../../data/fingerprints.toml");

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
    /// An HTTP `Server` header value.
    HttpServer,
    /// A CHAOS TXT `version.bind` answer.
    DnsVersion,
    /// An SSH identification string (`SSH-2.0-…`).
    SshIdent,
}

impl Source {
    /// Every source kind.
    pub const ALL: [Self; 8] = [
        Self::SmtpGreeting,
        Self::SmtpEhlo,
        Self::SmtpHelp,
        Self::Pop3Greeting,
        Self::ImapGreeting,
        Self::HttpServer,
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
            Self::HttpServer => "http-server",
            Self::DnsVersion => "dns-version",
            Self::SshIdent => "ssh-ident",
        }
    }

    /// The service the text came from; texts of one service on one port identify one program.
    pub fn service(self) -> &'static str {
        match self {
            Self::SmtpGreeting | Self::SmtpEhlo | Self::SmtpHelp => "smtp",
            Self::Pop3Greeting => "pop3",
            Self::ImapGreeting => "imap",
            Self::HttpServer => "http",
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

/// Every evidence extractor, in order.
pub const EXTRACTORS: &[Extractor] = &[smtp_evidence];

/// Every text of a host observation that can identify software.
pub fn evidence(obs: &HostObservation) -> Vec<Evidence> {
    let mut out = Vec::new();
    for x in EXTRACTORS {
        x(obs, &mut out);
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
        Self::parse(BUILTIN_SIGNATURES).expect("data/fingerprints.toml is valid")
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
            // are one program; keep the one that told the most.
            match software
                .iter_mut()
                .find(|s| s.product == sw.product && s.port == sw.port)
            {
                Some(prev) => {
                    if prev.version.is_none() && sw.version.is_some() {
                        *prev = sw;
                    }
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
    if s.len() <= MAX_EVIDENCE_LEN {
        return s;
    }
    let mut end = MAX_EVIDENCE_LEN;
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
