//! Advisory feeds in their published schemas (`tests/feeds/`: NVD CVE API 2.0, OSV records of
//! Debian's and Ubuntu's security data, CISA's KEV catalogue) matched against banners.

use mxray_core::Severity;
use mxray_core::advisory::{self, Advisory, Match, MatchStatus, kev, nvd};
use mxray_core::checks::software::check_with;
use mxray_core::fingerprint::{Evidence, HostFingerprint, Signatures, Source};
use std::collections::HashSet;
use std::path::PathBuf;

fn feed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/feeds")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(feed(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn nvd_excerpt() -> Vec<Advisory> {
    let mut out = Vec::new();
    let file = std::fs::File::open(feed("nvd-excerpt.json")).expect("nvd excerpt");
    let stats = nvd::stream(std::io::BufReader::new(file), 2, &mut |list| {
        out.extend(list);
        Ok(())
    })
    .expect("NVD 2.0 stream");
    assert_eq!(stats.cves, 6);
    out
}

fn osv() -> Vec<Advisory> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(feed("osv"))
        .expect("osv dir")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|p| {
            advisory::parse_any(&std::fs::read_to_string(p).expect("read"))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

fn host(items: &[(Source, u16, &str)]) -> HostFingerprint {
    Signatures::builtin().fingerprint(
        &items
            .iter()
            .map(|(source, port, text)| Evidence {
                source: *source,
                port: *port,
                text: (*text).into(),
            })
            .collect::<Vec<_>>(),
    )
}

fn matches(adv: &[Advisory], fp: &HostFingerprint) -> Vec<Match> {
    advisory::matches_on(adv, &fp.software, fp.os.as_ref().map(|o| o.name.as_str()))
}

fn status_of(m: &[Match], id: &str) -> Option<MatchStatus> {
    m.iter().find(|m| m.advisory == id).map(|m| m.status)
}

#[test]
fn nvd_excerpt_makes_one_advisory_per_fingerprinted_product() {
    let adv = nvd_excerpt();
    let mut got: Vec<(String, String)> = adv
        .iter()
        .map(|a| (a.id.clone(), a.product.clone()))
        .collect();
    got.sort();
    // The rejected CVE and the one about a product mxray never fingerprints are skipped; the
    // platform criteria (o:sgi:irix, o:debian:debian_linux) make no advisory.
    assert_eq!(
        got,
        [
            ("CVE-2003-0694", "sendmail"),
            ("CVE-2019-10149", "exim"),
            ("CVE-2023-50387", "bind"),
            ("CVE-2023-50387", "powerdns"),
            ("CVE-2023-50387", "unbound"),
            ("CVE-2024-6387", "openssh"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let prescan = adv.iter().find(|a| a.id == "CVE-2003-0694").unwrap();
    // CVSS v2 only: 10.0 on v2's scale is "high".
    assert_eq!(prescan.severity, Severity::High);
    let cvss = prescan.cvss.as_ref().expect("cvss");
    assert_eq!((cvss.version.as_str(), cvss.score), ("2.0", Some(10.0)));
    assert_eq!(
        prescan.published.as_deref(),
        Some("2003-10-06T04:00:00.000")
    );
    assert!(
        prescan
            .summary
            .starts_with("The prescan function in Sendmail 8.12.9")
    );
    assert_eq!(prescan.affected.len(), 24);
    let keytrap = adv
        .iter()
        .find(|a| a.id == "CVE-2023-50387" && a.product == "bind")
        .unwrap();
    assert_eq!(keytrap.severity, Severity::High);
    let exim = adv.iter().find(|a| a.id == "CVE-2019-10149").unwrap();
    // v3.1 preferred over the v2 metric also present.
    assert_eq!(exim.severity, Severity::Critical);
}

#[test]
fn sendmail_8_12_9_is_affected_by_the_2003_prescan_hole_through_cpe() {
    let adv = nvd_excerpt();
    let banner = |v: &str| {
        host(&[(
            Source::SmtpGreeting,
            25,
            &format!(
                "220 mail.example.co.jp ESMTP Sendmail {v}/{v}; Mon, 1 Sep 2003 10:00:00 +0900"
            ),
        )])
    };
    let m = matches(&adv, &banner("8.12.9"));
    assert_eq!(status_of(&m, "CVE-2003-0694"), Some(MatchStatus::Affected));
    assert_eq!(m[0].severity, Severity::High);
    assert_eq!(
        status_of(&matches(&adv, &banner("8.12.8")), "CVE-2003-0694"),
        Some(MatchStatus::Affected)
    );
    assert_eq!(
        status_of(&matches(&adv, &banner("8.12.10")), "CVE-2003-0694"),
        None
    );
    assert_eq!(
        status_of(&matches(&adv, &banner("8.13.0")), "CVE-2003-0694"),
        None
    );
    // Together with the starter set, the finding names it at its severity.
    let mut all = advisory::builtin();
    all.extend(adv);
    let findings = check_with(
        "192.0.2.25".parse().unwrap(),
        &banner("8.12.9"),
        &all,
        &HashSet::new(),
    );
    let vuln = findings
        .iter()
        .find(|f| f.id == "software.vulnerable")
        .expect("vulnerable");
    assert!(vuln.title.contains("CVE-2003-0694"), "{}", vuln.title);
    assert!(vuln.severity >= Severity::High);
}

#[test]
fn ranges_with_start_and_end_bounds_and_cpe_update_fields() {
    let adv = nvd_excerpt();
    let ssh = |v: &str| host(&[(Source::SshIdent, 22, &format!("SSH-2.0-OpenSSH_{v}"))]);
    for (v, hit) in [
        ("4.3p2", true),
        ("4.4p1", false),
        ("8.4p1", false),
        ("8.5p1", true),
        ("9.7p1", true),
        ("9.8p1", false),
    ] {
        assert_eq!(
            status_of(&matches(&adv, &ssh(v)), "CVE-2024-6387").is_some(),
            hit,
            "OpenSSH {v}"
        );
    }
    let exim = |v: &str| {
        host(&[(
            Source::SmtpGreeting,
            25,
            &format!("220 mx ESMTP Exim {v} Tue, 24 Nov 2026"),
        )])
    };
    for (v, hit) in [
        ("4.86", false),
        ("4.87", true),
        ("4.91", true),
        ("4.92", false),
    ] {
        assert_eq!(
            status_of(&matches(&adv, &exim(v)), "CVE-2019-10149").is_some(),
            hit,
            "Exim {v}"
        );
    }
    // `cpe:2.3:a:isc:bind:9.16.8:s1:…` is BIND 9.16.8-S1.
    let bind = |v: &str| host(&[(Source::DnsVersion, 53, v)]);
    assert!(status_of(&matches(&adv, &bind("9.16.8-S1")), "CVE-2023-50387").is_some());
    assert!(status_of(&matches(&adv, &bind("9.18.23")), "CVE-2023-50387").is_some());
    assert!(status_of(&matches(&adv, &bind("9.18.24")), "CVE-2023-50387").is_none());
}

#[test]
fn debian_bind_build_is_exactly_affected_or_fixed() {
    let mut adv = advisory::builtin();
    adv.extend(osv());
    let fp = host(&[(Source::DnsVersion, 53, "9.18.19-1~deb12u1-Debian")]);
    let m = matches(&adv, &fp);
    // KeyTrap: Debian fixed it in 1:9.18.24-1; 1:9.18.19-1~deb12u1 is older: affected.
    let keytrap = m
        .iter()
        .find(|m| m.advisory == "DEBIAN-CVE-2023-50387")
        .expect("Debian's KeyTrap record");
    assert_eq!(keytrap.status, MatchStatus::Affected);
    assert_eq!(
        keytrap.package.as_deref(),
        Some("Debian:12 bind9 1:9.18.19-1~deb12u1")
    );
    // The upstream record of the same CVE (starter set) is settled by Debian's: no
    // "possibly affected" beside the exact answer.
    assert_eq!(status_of(&m, "CVE-2023-50387"), None);
    // CVE-2023-3341: fixed in exactly this build (1:9.18.19-1~deb12u1): fixed.
    assert_eq!(
        status_of(&m, "DEBIAN-CVE-2023-3341"),
        Some(MatchStatus::Fixed)
    );
    // A CVE Debian published nothing about stays possibly affected.
    assert_eq!(
        status_of(&m, "CVE-2023-50868"),
        Some(MatchStatus::PossiblyAffected)
    );
    // A newer build: KeyTrap fixed, and since 9.18.28 is not an affected upstream version
    // either, not even mentioned.
    let newer = matches(
        &adv,
        &host(&[(Source::DnsVersion, 53, "9.18.28-1~deb12u2-Debian")]),
    );
    assert_eq!(status_of(&newer, "DEBIAN-CVE-2023-50387"), None);
    assert_eq!(status_of(&newer, "CVE-2023-50387"), None);
    // Only Debian 12's record applies to a Debian 12 build; AlmaLinux's never to anything.
    assert!(m.iter().all(|m| !m.advisory.starts_with("ALSA")));
    // The findings: vulnerable (exact), not possibly vulnerable for KeyTrap.
    let findings = check_with("192.0.2.53".parse().unwrap(), &fp, &adv, &HashSet::new());
    let vuln = findings
        .iter()
        .find(|f| f.id == "software.vulnerable")
        .expect("exactly vulnerable");
    assert!(
        vuln.title.contains("DEBIAN-CVE-2023-50387"),
        "{}",
        vuln.title
    );
    assert!(!vuln.title.contains("3341"), "{}", vuln.title);
    assert!(
        vuln.evidence
            .iter()
            .any(|e| e.contains("Debian:12 bind9 1:9.18.19-1~deb12u1")),
        "{:?}",
        vuln.evidence
    );
    let possibly = findings
        .iter()
        .find(|f| f.id == "software.possibly_vulnerable")
        .expect("the others");
    assert!(
        !possibly.title.contains("CVE-2023-50387"),
        "{}",
        possibly.title
    );
}

#[test]
fn openssh_debian_and_ubuntu_builds_against_regresshion() {
    let mut adv = nvd_excerpt();
    adv.extend(osv());
    let ssh = |banner: &str| host(&[(Source::SshIdent, 22, banner)]);
    // Debian fixed regreSSHion in 1:9.2p1-2+deb12u3: that build is fixed, the one before not.
    let fixed = matches(&adv, &ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"));
    assert_eq!(
        status_of(&fixed, "DEBIAN-CVE-2024-6387"),
        Some(MatchStatus::Fixed)
    );
    assert_eq!(status_of(&fixed, "CVE-2024-6387"), None);
    let before = matches(&adv, &ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2"));
    assert_eq!(
        status_of(&before, "DEBIAN-CVE-2024-6387"),
        Some(MatchStatus::Affected)
    );
    // Ubuntu's build names no release; the OS guess (8.9p1 is 22.04's) does.
    let jammy = ssh("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6");
    assert_eq!(
        jammy.os.as_ref().map(|o| o.name.as_str()),
        Some("Ubuntu 22.04")
    );
    let m = matches(&adv, &jammy);
    let u = m
        .iter()
        .find(|m| m.advisory == "UBUNTU-CVE-2024-6387")
        .expect("Ubuntu's record");
    assert_eq!(u.status, MatchStatus::Affected);
    // The record's CVSS vector, scored here: 8.1 → high.
    assert_eq!(u.severity, Severity::High);
    assert_eq!(
        u.package.as_deref(),
        Some("Ubuntu:22.04 openssh 1:8.9p1-3ubuntu0.6")
    );
    let patched = matches(&adv, &ssh("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"));
    assert_eq!(
        status_of(&patched, "UBUNTU-CVE-2024-6387"),
        Some(MatchStatus::Fixed)
    );
    // Without the distributions' data the same builds are only possibly affected.
    let nvd_only = nvd_excerpt();
    assert_eq!(
        status_of(&matches(&nvd_only, &jammy), "CVE-2024-6387"),
        Some(MatchStatus::PossiblyAffected)
    );
    // An upstream build is plainly affected.
    assert_eq!(
        status_of(
            &matches(&adv, &ssh("SSH-2.0-OpenSSH_9.6p1")),
            "CVE-2024-6387"
        ),
        Some(MatchStatus::Affected)
    );
}

#[test]
fn kev_entries_flag_matches_and_make_a_critical_finding() {
    let (version, entries) =
        kev::parse(&read("known_exploited_vulnerabilities.json")).expect("kev");
    assert_eq!(version.as_deref(), Some("2026.12.01"));
    let known: HashSet<String> = entries.into_iter().map(|e| e.cve_id).collect();
    let adv = nvd_excerpt();
    let fp = host(&[(
        Source::SmtpGreeting,
        25,
        "220 mx.example.com ESMTP Exim 4.89 Tue, 24 Nov 2026",
    )]);
    let mut m = matches(&adv, &fp);
    advisory::flag_known_exploited(&mut m, &adv, &known);
    let wizard = m
        .iter()
        .find(|m| m.advisory == "CVE-2019-10149")
        .expect("match");
    assert!(wizard.known_exploited);
    let findings = check_with("192.0.2.9".parse().unwrap(), &fp, &adv, &known);
    let kev_finding = findings
        .iter()
        .find(|f| f.id == "software.known_exploited")
        .expect("known exploited finding");
    assert_eq!(kev_finding.severity, Severity::Critical);
    assert!(kev_finding.title.contains("CVE-2019-10149"));
    // Not flagged: a version outside the range, or an empty catalogue.
    let newer = host(&[(
        Source::SmtpGreeting,
        25,
        "220 mx ESMTP Exim 4.92 Tue, 24 Nov 2026",
    )]);
    assert!(
        check_with("192.0.2.9".parse().unwrap(), &newer, &adv, &known)
            .iter()
            .all(|f| f.id != "software.known_exploited")
    );
    assert!(
        check_with("192.0.2.9".parse().unwrap(), &fp, &adv, &HashSet::new())
            .iter()
            .all(|f| f.id != "software.known_exploited")
    );
}

#[test]
fn osv_distribution_records_parse_with_ecosystem_package_and_upstream_alias() {
    let adv = osv();
    let d = adv
        .iter()
        .find(|a| a.id == "DEBIAN-CVE-2023-50387" && a.ecosystem.as_deref() == Some("Debian:12"))
        .expect("Debian 12 entry");
    assert_eq!(d.product, "bind");
    assert_eq!(d.package.as_deref(), Some("bind9"));
    assert_eq!(d.aliases, ["CVE-2023-50387"]);
    // One advisory per affected package entry (Debian 11, 12, 13).
    assert_eq!(
        adv.iter()
            .filter(|a| a.id == "DEBIAN-CVE-2023-50387")
            .count(),
        3
    );
    let alma = adv.iter().find(|a| a.id == "ALSA-2024:1781").expect("alma");
    assert_eq!(alma.kind(), advisory::packages::EcosystemKind::Unsupported);
}
