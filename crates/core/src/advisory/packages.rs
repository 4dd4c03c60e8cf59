//! How products are named by the vulnerability sources (`crates/core/data/packages.toml`): CPE 2.3 names
//! for NVD, and distribution package versions for OSV's Debian and Ubuntu records.

use crate::fingerprint::Software;
use serde::Deserialize;
use std::sync::OnceLock;

/// The shipped table.
pub const BUILTIN: &str = include_str!("../../data/packages.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    product: Vec<Product>,
    os: Vec<Os>,
}

/// One product's names.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// mxray's product key.
    pub key: String,
    /// CPE `vendor:product` pairs, the first being the name mxray gives it.
    pub cpe: Vec<String>,
    /// The version's trailing `p1` / `-P2` is CPE's `update` field.
    #[serde(default)]
    pub update: bool,
    /// Debian source package.
    pub debian: Option<String>,
    /// Ubuntu source package.
    pub ubuntu: Option<String>,
    /// Epoch of the package versions.
    #[serde(default)]
    pub epoch: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Os {
    name: String,
    cpe: String,
}

fn table() -> &'static File {
    static T: OnceLock<File> = OnceLock::new();
    // Checked by the tests below; a broken shipped file is a build defect.
    T.get_or_init(|| {
        toml::from_str(BUILTIN).unwrap_or_else(|e| panic!("crates/core/data/packages.toml: {e}"))
    })
}

/// The table entry of a product key.
pub fn product(key: &str) -> Option<&'static Product> {
    table().product.iter().find(|p| p.key == key)
}

/// The product key a CPE `vendor:product` pair names.
pub fn product_for_cpe(vendor: &str, product: &str) -> Option<&'static str> {
    let pair = format!(
        "{}:{}",
        vendor.to_ascii_lowercase(),
        product.to_ascii_lowercase()
    );
    table()
        .product
        .iter()
        .find(|p| p.cpe.contains(&pair))
        .map(|p| p.key.as_str())
}

/// The product key of a Debian or Ubuntu source package.
pub fn product_for_package(package: &str) -> Option<&'static str> {
    table()
        .product
        .iter()
        .find(|p| p.debian.as_deref() == Some(package) || p.ubuntu.as_deref() == Some(package))
        .map(|p| p.key.as_str())
}

/// Escapes a value for a CPE 2.3 formatted string (§6.2 of NISTIR 7695): every character but
/// letters, digits and `_` is quoted with `\`, except the `.` and `-` NVD leaves bare.
fn cpe_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            out.push('\\');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Splits `9.2p1` into `("9.2", "p1")` and `9.11.4-P2` into `("9.11.4", "p2")`.
fn split_update(version: &str) -> (&str, Option<String>) {
    let bytes = version.as_bytes();
    // The last run of letters that follows a digit (optionally after `-`), then digits.
    let Some(start) = version.rfind(|c: char| c.is_ascii_alphabetic()) else {
        return (version, None);
    };
    let mut letters = start;
    while letters > 0 && bytes[letters - 1].is_ascii_alphabetic() {
        letters -= 1;
    }
    let tail = &version[letters..];
    let base_end = if letters > 0 && bytes[letters - 1] == b'-' {
        letters - 1
    } else {
        letters
    };
    let base = &version[..base_end];
    let well_formed = !base.is_empty()
        && base.ends_with(|c: char| c.is_ascii_digit())
        && tail
            .trim_start_matches(|c: char| c.is_ascii_alphabetic())
            .bytes()
            .all(|b| b.is_ascii_digit());
    if well_formed {
        (base, Some(tail.to_ascii_lowercase()))
    } else {
        (version, None)
    }
}

/// The CPE 2.3 name of a fingerprinted product (`cpe:2.3:a:isc:bind:9.18.19:*:*:*:*:*:*:*`);
/// the version is `*` when the banner disclosed none. `None` for products NVD does not name
/// in the table.
pub fn software_cpe(sw: &Software) -> Option<String> {
    let p = product(&sw.product)?;
    let vendor_product = p.cpe.first()?;
    let (version, update) = match sw.version.as_deref() {
        None => ("*".to_owned(), "*".to_owned()),
        Some(v) if p.update => {
            let (base, update) = split_update(v);
            (
                cpe_escape(base),
                update.map_or("*".to_owned(), |u| cpe_escape(&u)),
            )
        }
        Some(v) => (cpe_escape(v), "*".to_owned()),
    };
    Some(format!(
        "cpe:2.3:a:{vendor_product}:{version}:{update}:*:*:*:*:*:*"
    ))
}

/// The CPE 2.3 name of an OS guess (`Debian 12` → `cpe:2.3:o:debian:debian_linux:12:…`);
/// `None` for guesses without a release or outside the table.
pub fn os_cpe(os: &str) -> Option<String> {
    let entry = table().os.iter().find(|o| {
        os.strip_prefix(o.name.as_str())
            .is_some_and(|r| r.starts_with(' '))
    })?;
    let release = os[entry.name.len()..].trim();
    let valid = !release.is_empty() && release.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    valid.then(|| format!("cpe:2.3:o:{}:{release}:*:*:*:*:*:*:*", entry.cpe))
}

/// A distribution whose package versions are ordered by dpkg's rules.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Distro {
    /// Debian (`Debian:12`).
    Debian,
    /// Ubuntu (`Ubuntu:22.04:LTS`, `Ubuntu:Pro:18.04:LTS`).
    Ubuntu,
}

impl Distro {
    /// `Debian` / `Ubuntu`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debian => "Debian",
            Self::Ubuntu => "Ubuntu",
        }
    }
}

/// What an advisory's OSV ecosystem says about how to match it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum EcosystemKind {
    /// No ecosystem, or one whose versions are the upstream ones: matched on the banner's
    /// version.
    Upstream,
    /// A Debian or Ubuntu release: matched on the package version.
    Dpkg {
        /// The distribution.
        distro: Distro,
        /// `12`, `22.04`; `None` when the record names no release.
        release: Option<String>,
        /// Ubuntu Pro (ESM) packages.
        pro: bool,
    },
    /// Another distribution (AlmaLinux, Rocky Linux, Red Hat, SUSE, Alpine, …): its version
    /// ordering is not implemented, so the record is stored but never matched.
    Unsupported,
}

/// Classifies an OSV ecosystem string.
pub fn ecosystem_kind(ecosystem: Option<&str>) -> EcosystemKind {
    let Some(e) = ecosystem else {
        return EcosystemKind::Upstream;
    };
    let mut parts = e.split(':');
    let family = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let release = rest
        .iter()
        .find(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .map(|s| (*s).to_owned());
    let pro = rest.iter().any(|p| p.eq_ignore_ascii_case("pro"));
    match family.to_ascii_lowercase().as_str() {
        "debian" => EcosystemKind::Dpkg {
            distro: Distro::Debian,
            release,
            pro,
        },
        "ubuntu" => EcosystemKind::Dpkg {
            distro: Distro::Ubuntu,
            release,
            pro,
        },
        "almalinux"
        | "alpine"
        | "rocky linux"
        | "red hat"
        | "redhat"
        | "suse"
        | "opensuse"
        | "mageia"
        | "photon os"
        | "wolfi"
        | "chainguard"
        | "openeuler"
        | "azure linux"
        | "mariner"
        | "alpaquita"
        | "bellsoft hardened containers"
        | "minimos"
        | "echo"
        | "debian-lts"
        | "openwrt"
        | "android"
        | "linux" => EcosystemKind::Unsupported,
        _ => EcosystemKind::Upstream,
    }
}

/// A banner's distribution build mapped to that distribution's package.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PackageVersion {
    /// The distribution.
    pub distro: Distro,
    /// Its release (`12`, `22.04`).
    pub release: String,
    /// The source package (`bind9`).
    pub package: String,
    /// The package version (`1:9.18.19-1~deb12u1`).
    pub version: String,
    /// Built for Ubuntu Pro (ESM): `+esm` in the revision.
    pub pro: bool,
}

impl PackageVersion {
    /// `Debian:12 bind9 1:9.18.19-1~deb12u1`, as stored with a match.
    pub fn describe(&self) -> String {
        format!(
            "{}:{} {} {}",
            self.distro.as_str(),
            self.release,
            self.package,
            self.version
        )
    }
}

/// The Debian release a revision names: `+deb12u3` / `~deb12u1` → 12, `~bpo12+1` → 12.
fn debian_release(revision: &str) -> Option<String> {
    for marker in ["deb", "bpo"] {
        let mut rest = revision;
        while let Some(i) = rest.find(marker) {
            let after = &rest[i + marker.len()..];
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() && i > 0 && matches!(rest.as_bytes()[i - 1], b'+' | b'~') {
                return Some(digits);
            }
            rest = after;
        }
    }
    None
}

/// The Ubuntu release a revision names: `0ubuntu0.22.04.2` → 22.04.
fn ubuntu_release(revision: &str) -> Option<String> {
    let i = revision.find("ubuntu")?;
    let after = &revision[i + "ubuntu".len()..];
    let mut fields = after.split(['.', '+', '~']);
    let _ubuntu_rev = fields.next()?;
    let (yy, mm) = (fields.next()?, fields.next()?);
    let ok = yy.len() == 2
        && mm.len() == 2
        && yy.bytes().all(|b| b.is_ascii_digit())
        && matches!(mm, "04" | "10");
    ok.then(|| format!("{yy}.{mm}"))
}

/// The release of an OS guess naming that distribution (`Debian 12` → `12`).
fn release_from_os(os: Option<&str>, distro: Distro) -> Option<String> {
    let rest = os?.strip_prefix(distro.as_str())?.strip_prefix(' ')?;
    let valid = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    valid.then(|| rest.to_owned())
}

/// Maps a product's distribution build to the package version of its distribution:
/// `9.18.19-1~deb12u1-Debian` (BIND) → Debian 12 `bind9 1:9.18.19-1~deb12u1`,
/// `OpenSSH_9.2p1 Debian-2+deb12u3` → Debian 12 `openssh 1:9.2p1-2+deb12u3`,
/// `OpenSSH_8.9p1 Ubuntu-3ubuntu0.6` → Ubuntu (release from `os`, the host's OS guess)
/// `openssh 1:8.9p1-3ubuntu0.6`. `None` when the build names no Debian or Ubuntu revision,
/// the release cannot be told, or the product has no package in `crates/core/data/packages.toml`.
pub fn package_version(sw: &Software, os: Option<&str>) -> Option<PackageVersion> {
    let upstream = sw.version.as_deref()?;
    let build = sw.build.as_deref()?;
    let named = |s: &str| match s.to_ascii_lowercase().as_str() {
        "debian" => Some(Distro::Debian),
        "ubuntu" => Some(Distro::Ubuntu),
        _ => None,
    };
    // `Debian-2+deb12u3` (OpenSSH, Sendmail), `1~deb12u1-Debian` (BIND), `4ubuntu2.19` (PHP).
    let (revision, mut distro) = match (build.split_once('-'), build.rsplit_once('-')) {
        (Some((head, rest)), _) if named(head).is_some() => (rest, named(head)),
        (_, Some((rest, tail))) if named(tail).is_some() => (rest, named(tail)),
        _ => (build, None),
    };
    let valid = revision.starts_with(|c: char| c.is_ascii_digit())
        && revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~'));
    if !valid {
        return None;
    }
    if revision.contains("ubuntu") {
        distro = Some(Distro::Ubuntu);
    }
    let distro = distro
        .or_else(|| debian_release(revision).map(|_| Distro::Debian))
        .or_else(|| {
            let hint = sw.os_hint.as_deref().or(os)?;
            named(hint.split(' ').next()?)
        })?;
    let release = match distro {
        Distro::Debian => debian_release(revision),
        Distro::Ubuntu => ubuntu_release(revision),
    }
    .or_else(|| release_from_os(os, distro))?;
    let p = product(&sw.product)?;
    let package = match distro {
        Distro::Debian => p.debian.clone(),
        Distro::Ubuntu => p.ubuntu.clone(),
    }?;
    let epoch = if p.epoch > 0 {
        format!("{}:", p.epoch)
    } else {
        String::new()
    };
    Some(PackageVersion {
        distro,
        release,
        package,
        version: format!("{epoch}{upstream}-{revision}"),
        pro: revision.contains("esm"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Evidence, Signatures, Source};

    fn sw(source: Source, text: &str) -> Software {
        Signatures::builtin()
            .identify(&Evidence {
                source,
                port: 1,
                text: text.into(),
            })
            .expect("identified")
    }

    #[test]
    fn shipped_table_is_valid() {
        let t = table();
        assert!(t.product.len() >= 10);
        for p in &t.product {
            assert!(!p.cpe.is_empty(), "{}", p.key);
            for c in &p.cpe {
                assert_eq!(c.split(':').count(), 2, "{c}");
            }
        }
        // Every product key names a product of the signatures.
        let sigs = Signatures::builtin();
        for p in &t.product {
            assert!(
                sigs.signatures.iter().any(|s| s.product == p.key),
                "{} is no fingerprint product",
                p.key
            );
        }
    }

    #[test]
    fn cpe_names() {
        let cases = [
            (
                Source::DnsVersion,
                "9.18.19-1~deb12u1-Debian",
                "cpe:2.3:a:isc:bind:9.18.19:*:*:*:*:*:*:*",
            ),
            (
                Source::DnsVersion,
                "9.11.4-P2-RedHat-9.11.4-26.P2.el7_9.16",
                "cpe:2.3:a:isc:bind:9.11.4:p2:*:*:*:*:*:*",
            ),
            (
                Source::SmtpGreeting,
                "220 mx.example.com ESMTP Sendmail 8.12.9/8.12.9; Tue, 1 Jul 2003",
                "cpe:2.3:a:sendmail:sendmail:8.12.9:*:*:*:*:*:*:*",
            ),
            (
                Source::SshIdent,
                "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
                "cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*",
            ),
            (
                Source::SshIdent,
                "SSH-2.0-OpenSSH_7.4",
                "cpe:2.3:a:openbsd:openssh:7.4:*:*:*:*:*:*:*",
            ),
            (
                Source::HttpServer,
                "Apache/2.4.62 (Debian)",
                "cpe:2.3:a:apache:http_server:2.4.62:*:*:*:*:*:*:*",
            ),
            (
                Source::HttpServer,
                "nginx",
                "cpe:2.3:a:f5:nginx:*:*:*:*:*:*:*:*",
            ),
            (
                Source::SmtpGreeting,
                "220 mail.example.org ESMTP Exim 4.96 Tue, 24 Nov 2026",
                "cpe:2.3:a:exim:exim:4.96:*:*:*:*:*:*:*",
            ),
        ];
        for (source, text, want) in cases {
            assert_eq!(
                software_cpe(&sw(source, text)).as_deref(),
                Some(want),
                "{text}"
            );
        }
        assert_eq!(
            software_cpe(&sw(Source::SmtpGreeting, "220 x ESMTP Postfix 3.7.11")).as_deref(),
            Some("cpe:2.3:a:postfix:postfix:3.7.11:*:*:*:*:*:*:*")
        );
        assert_eq!(
            os_cpe("Debian 12").as_deref(),
            Some("cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*")
        );
        assert_eq!(
            os_cpe("Ubuntu 22.04").as_deref(),
            Some("cpe:2.3:o:canonical:ubuntu_linux:22.04:*:*:*:*:*:*:*")
        );
        assert_eq!(os_cpe("Debian"), None);
        assert_eq!(os_cpe("Windows"), None);
        assert_eq!(os_cpe("Debianish 12"), None);
        assert_eq!(cpe_escape("1.0:beta*"), "1.0\\:beta\\*");
    }

    #[test]
    fn distribution_builds_map_to_package_versions() {
        let pv = |source, text: &str, os: Option<&str>| {
            package_version(&sw(source, text), os).map(|p| p.describe())
        };
        assert_eq!(
            pv(Source::DnsVersion, "9.18.19-1~deb12u1-Debian", None).as_deref(),
            Some("Debian:12 bind9 1:9.18.19-1~deb12u1")
        );
        assert_eq!(
            pv(
                Source::SshIdent,
                "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
                None
            )
            .as_deref(),
            Some("Debian:12 openssh 1:9.2p1-2+deb12u3")
        );
        assert_eq!(
            pv(Source::DnsVersion, "9.18.18-0ubuntu0.22.04.2-Ubuntu", None).as_deref(),
            Some("Ubuntu:22.04 bind9 1:9.18.18-0ubuntu0.22.04.2")
        );
        // The revision names no release: the host's OS guess does, or nothing maps.
        let ubuntu_ssh = "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6";
        assert_eq!(
            pv(Source::SshIdent, ubuntu_ssh, Some("Ubuntu 22.04")).as_deref(),
            Some("Ubuntu:22.04 openssh 1:8.9p1-3ubuntu0.6")
        );
        assert_eq!(pv(Source::SshIdent, ubuntu_ssh, None), None);
        assert_eq!(pv(Source::SshIdent, ubuntu_ssh, Some("Debian 12")), None);
        let sendmail = "220 m.example ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; Tue, 24 Nov 2026";
        assert_eq!(
            pv(Source::SmtpGreeting, sendmail, Some("Debian 12")).as_deref(),
            Some("Debian:12 sendmail 8.17.1.9-2")
        );
        // Red Hat builds, and banners without a build, do not map.
        assert_eq!(
            pv(
                Source::DnsVersion,
                "9.11.4-P2-RedHat-9.11.4-26.P2.el7_9.16",
                Some("Red Hat Enterprise Linux 7")
            ),
            None
        );
        assert_eq!(pv(Source::DnsVersion, "9.18.24", Some("Debian 12")), None);
    }

    #[test]
    fn ecosystems() {
        assert_eq!(ecosystem_kind(None), EcosystemKind::Upstream);
        assert_eq!(
            ecosystem_kind(Some("Debian:12")),
            EcosystemKind::Dpkg {
                distro: Distro::Debian,
                release: Some("12".into()),
                pro: false
            }
        );
        assert_eq!(
            ecosystem_kind(Some("Ubuntu:22.04:LTS")),
            EcosystemKind::Dpkg {
                distro: Distro::Ubuntu,
                release: Some("22.04".into()),
                pro: false
            }
        );
        assert_eq!(
            ecosystem_kind(Some("Ubuntu:Pro:18.04:LTS")),
            EcosystemKind::Dpkg {
                distro: Distro::Ubuntu,
                release: Some("18.04".into()),
                pro: true
            }
        );
        assert_eq!(
            ecosystem_kind(Some("AlmaLinux:9")),
            EcosystemKind::Unsupported
        );
        assert_eq!(
            ecosystem_kind(Some("Rocky Linux:8")),
            EcosystemKind::Unsupported
        );
        assert_eq!(ecosystem_kind(Some("OSS-Fuzz")), EcosystemKind::Upstream);
        assert_eq!(split_update("9.2p1"), ("9.2", Some("p1".into())));
        assert_eq!(split_update("9.11.4-P2"), ("9.11.4", Some("p2".into())));
        assert_eq!(split_update("9.18.19"), ("9.18.19", None));
        assert_eq!(split_update("p1"), ("p1", None));
    }
}
