//! Software findings: versions disclosed in banners and advisories that apply to them.
//!
//! - `software.version_disclosed` (info): a banner names the product's version, which tells
//!   an attacker which exploits to try and lets mxray match advisories.
//! - `software.product_disclosed` (info): a banner names the product but not its version
//!   (`ESMTP Postfix (Debian/GNU)`, `Server: nginx`); the survey's software table counts it.
//! - `software.vulnerable` (the advisory's severity): the upstream version is in an affected
//!   range and no distribution build was seen.
//! - `software.possibly_vulnerable` (low): in range, but a distribution build
//!   (`Debian-2+deb12u3`) that may carry a backported fix and that no record of the
//!   distribution settles. A build the distribution's record says is fixed gives no finding;
//!   one it says is affected is `software.vulnerable`.
//! - `software.known_exploited` (critical): an advisory that applies (affected or possibly)
//!   is in CISA's Known Exploited Vulnerabilities catalogue.

use crate::Severity;
use crate::advisory::{Advisory, MatchStatus, flag_known_exploited, matches_on};
use crate::finding::Finding;
use crate::fingerprint::{HostFingerprint, Software, Source};
use std::collections::HashSet;
use std::net::IpAddr;

fn shown(sw: &Software) -> String {
    let mut s = sw.name.clone();
    if let Some(v) = &sw.version {
        s.push(' ');
        s.push_str(v);
    }
    if let Some(b) = &sw.build {
        s.push_str(&format!(" ({b})"));
    }
    s
}

/// Findings about the software on one host.
pub fn check(ip: IpAddr, fp: &HostFingerprint, advisories: &[Advisory]) -> Vec<Finding> {
    check_with(ip, fp, advisories, &HashSet::new())
}

/// Findings about the software on one host; `known_exploited` holds the CVE ids of CISA's
/// catalogue.
pub fn check_with(
    ip: IpAddr,
    fp: &HostFingerprint,
    advisories: &[Advisory],
    known_exploited: &HashSet<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let os = fp.os.as_ref().map(|o| o.name.as_str());
    for sw in &fp.software {
        let subject = super::service(ip, sw.port);
        let banner = format!("{}: {}", sw.source, sw.evidence);
        if sw.version.is_some() {
            // The IMAP ID answer is configured apart from the greeting.
            let fix = if sw.source == Source::ImapId {
                "Answer IMAP ID without the version (Dovecot: imap_id_send = name *; Cyrus: imapidresponse: no; Courier: IMAP_ID_FIELDS=0); keep the software current."
            } else {
                "Remove the version from the banner (e.g. smtpd_banner, server_tokens off, ServerTokens Prod, version \"none\" in BIND); keep the software current."
            };
            out.push(
                Finding::new(
                    "software.version_disclosed",
                    Severity::Info,
                    subject.clone(),
                    format!("{} discloses its version", shown(sw)),
                    fix,
                )
                .with_evidence([banner.clone()]),
            );
        }
        if sw.version.is_none() {
            out.push(
                Finding::new(
                    "software.product_disclosed",
                    Severity::Info,
                    subject.clone(),
                    format!("{} names itself (version not disclosed)", shown(sw)),
                    "Nothing urgent: the version is hidden. To name no product at all, set a neutral banner (Postfix: smtpd_banner = $myhostname ESMTP; Dovecot: login_greeting; Apache: ServerTokens Prod still names Apache) and keep the software current.",
                )
                .with_evidence([banner.clone()]),
            );
        }
        let mut found = matches_on(advisories, std::slice::from_ref(sw), os);
        flag_known_exploited(&mut found, advisories, known_exploited);
        let exploited: Vec<_> = found
            .iter()
            .filter(|m| m.known_exploited && m.status != MatchStatus::Fixed)
            .collect();
        if !exploited.is_empty() {
            let ids: Vec<&str> = exploited.iter().map(|m| m.advisory.as_str()).collect();
            let mut ev = vec![banner.clone()];
            ev.extend(exploited.iter().map(|m| {
                format!(
                    "{} ({}) is in CISA's Known Exploited Vulnerabilities catalogue",
                    m.advisory,
                    m.status.describe()
                )
            }));
            out.push(
                Finding::new(
                    "software.known_exploited",
                    Severity::Critical,
                    subject.clone(),
                    format!("{} runs a version with known exploited {}", shown(sw), ids.join(", ")),
                    "Patch now: these vulnerabilities are exploited in the wild (CISA KEV); upgrade or install the distribution's security update, and check the host for compromise.",
                )
                .with_evidence(ev),
            );
        }
        for status in [MatchStatus::Affected, MatchStatus::PossiblyAffected] {
            let these: Vec<_> = found.iter().filter(|m| m.status == status).collect();
            if these.is_empty() {
                continue;
            }
            let mut ev = vec![banner.clone()];
            ev.extend(these.iter().map(|m| {
                let a = advisories.iter().find(|a| a.id == m.advisory);
                format!(
                    "{} ({}): {}{}{}",
                    m.advisory,
                    m.severity,
                    a.map_or("", |a| a.summary.as_str()),
                    a.and_then(|a| a.references.first())
                        .map(|u| format!(" <{u}>"))
                        .unwrap_or_default(),
                    m.package
                        .as_deref()
                        .map(|p| format!(" [package {p} in the distribution's affected range]"))
                        .unwrap_or_default()
                )
            }));
            let ids: Vec<&str> = these.iter().map(|m| m.advisory.as_str()).collect();
            let f = match status {
                MatchStatus::Affected => Finding::new(
                    "software.vulnerable",
                    these
                        .iter()
                        .map(|m| m.severity)
                        .max()
                        .unwrap_or(Severity::Medium),
                    subject.clone(),
                    format!("{} is affected by {}", shown(sw), ids.join(", ")),
                    if these.iter().all(|m| m.package.is_some()) {
                        "Install the distribution's security updates for this package (apt upgrade); the advisories name the fixed package version."
                    } else {
                        "Upgrade to a fixed release (see the advisories); until then apply the advisories' workarounds."
                    },
                ),
                MatchStatus::PossiblyAffected => Finding::new(
                    "software.possibly_vulnerable",
                    Severity::Low,
                    subject.clone(),
                    format!(
                        "{} is possibly affected (distribution build) by {}",
                        shown(sw),
                        ids.join(", ")
                    ),
                    "Check the distribution's security tracker for this package revision; install the distribution's security updates.",
                ),
                MatchStatus::Fixed => continue,
            };
            out.push(f.with_evidence(ev));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Evidence, Signatures, Source};

    fn fp(items: &[(Source, u16, &str)]) -> HostFingerprint {
        Signatures::builtin().fingerprint(
            &items
                .iter()
                .map(|(s, p, t)| Evidence {
                    source: *s,
                    port: *p,
                    text: (*t).into(),
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn findings_per_status() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let adv = crate::advisory::builtin();
        let ids = |f: &[Finding]| -> Vec<(String, Severity)> {
            f.iter().map(|f| (f.id.clone(), f.severity)).collect()
        };
        let vuln = check(
            ip,
            &fp(&[(Source::SmtpGreeting, 25, "220 mx ESMTP Exim 4.96 Tue")]),
            &adv,
        );
        assert_eq!(
            ids(&vuln),
            [
                ("software.version_disclosed".into(), Severity::Info),
                ("software.vulnerable".into(), Severity::Critical)
            ]
        );
        assert!(
            vuln[1].title.contains("CVE-2023-42115"),
            "{}",
            vuln[1].title
        );
        assert!(vuln[1].evidence[0].contains("Exim 4.96"));
        let distro = check(
            ip,
            &fp(&[(
                Source::SshIdent,
                22,
                "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
            )]),
            &adv,
        );
        assert_eq!(
            ids(&distro),
            [
                ("software.version_disclosed".into(), Severity::Info),
                ("software.possibly_vulnerable".into(), Severity::Low)
            ]
        );
        assert!(
            distro[1]
                .title
                .contains("possibly affected (distribution build)")
        );
        let fixed = check(
            ip,
            &fp(&[(Source::SmtpGreeting, 25, "220 mx ESMTP Exim 4.98 Tue")]),
            &adv,
        );
        assert_eq!(
            ids(&fixed),
            [("software.version_disclosed".into(), Severity::Info)]
        );
        let hidden = check(
            ip,
            &fp(&[(
                Source::SmtpGreeting,
                25,
                "220 mx ESMTP Postfix (Debian/GNU)",
            )]),
            &adv,
        );
        // Product named, version hidden: a product disclosure (the survey counts the host).
        assert_eq!(
            ids(&hidden),
            [("software.product_disclosed".into(), Severity::Info)]
        );
        assert!(
            hidden[0].title.starts_with("Postfix names itself"),
            "{}",
            hidden[0].title
        );
        for (source, banner, name) in [
            (
                Source::Pop3Greeting,
                "+OK Dovecot (Debian) ready.",
                "Dovecot",
            ),
            (Source::HttpServer, "nginx", "nginx"),
            (Source::HttpServer, "Apache", "Apache"),
        ] {
            let f = check(ip, &fp(&[(source, 80, banner)]), &adv);
            assert_eq!(
                ids(&f),
                [("software.product_disclosed".into(), Severity::Info)],
                "{banner}"
            );
            assert!(f[0].title.contains(name), "{}", f[0].title);
        }
        assert!(vuln[0].fix.contains("smtpd_banner"), "{}", vuln[0].fix);
        // A version told by IMAP ID: the fix names the ID settings, the evidence the pairs.
        let id = check(
            ip,
            &fp(&[(Source::ImapId, 143, r#"name "Dovecot" version "2.3.19.1""#)]),
            &adv,
        );
        assert_eq!(id[0].id, "software.version_disclosed");
        assert!(id[0].fix.contains("imap_id_send"), "{}", id[0].fix);
        assert_eq!(
            id[0].evidence,
            [r#"imap-id: name "Dovecot" version "2.3.19.1""#]
        );
    }
}
