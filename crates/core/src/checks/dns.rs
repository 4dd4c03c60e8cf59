//! Findings from discovery: how a domain routes its mail, and the hosts' reverse DNS.

use crate::addr::AddressClass;
use crate::finding::{Finding, Severity, Subject};
use crate::model::{DomainObservation, HostObservation, Lookup, MxMode, SkipReason};

/// `dns.mx_cname`: an MX target that is an alias (the CNAME answers mail-auth gathering
/// recorded for each MX host name).
fn mx_cname(obs: &DomainObservation) -> Vec<Finding> {
    let Some(ma) = &obs.mail_auth else {
        return Vec::new();
    };
    if obs.mx_mode != MxMode::Explicit {
        return Vec::new();
    }
    let mut out = Vec::new();
    for h in obs.hosts.iter().filter(|h| !h.excluded) {
        let Lookup::Found(targets) = ma.answer(&h.name.to_ascii_lowercase(), "CNAME") else {
            continue;
        };
        let Some(target) = targets.first() else {
            continue;
        };
        out.push(
            Finding::new(
                "dns.mx_cname",
                Severity::Low,
                Subject::Domain(obs.domain.clone()),
                format!("MX host {} is an alias (CNAME) for {target}", h.name),
                format!("Point the MX record at the canonical name {target} instead of the alias {}: an MX must name a host that has its own address records (RFC 2181 §10.3, RFC 5321 §5.1); some senders refuse or mishandle aliases.", h.name),
            )
            .with_evidence([
                format!("MX {} {}", h.preference, h.name),
                format!("{} CNAME {target}", h.name),
                format!("{} A/AAAA: {}", h.name, h.addresses.describe()),
            ]),
        );
    }
    out
}

pub(super) fn check(obs: &DomainObservation) -> Vec<Finding> {
    let subject = || Subject::Domain(obs.domain.clone());
    let mut out = Vec::new();
    match obs.mx_mode {
        MxMode::Unknown => out.push(
            Finding::new(
                "dns.lookup_failed",
                Severity::Info,
                subject(),
                "The domain's mail routing could not be determined (DNS gave no reliable answer)",
                "Check that the domain's authoritative name servers answer; rerun the scan.",
            )
            .with_evidence([format!("MX: {}", obs.mx.describe())]),
        ),
        MxMode::None => {
            let why = match obs.mx {
                Lookup::NxDomain => "the domain does not exist (NXDOMAIN)",
                _ => "the domain has neither MX nor address records",
            };
            out.push(
                Finding::new(
                    "dns.no_mail_host",
                    Severity::Info,
                    subject(),
                    format!("No mail host: {why}"),
                    "If the domain should not receive mail, publish a null MX (`MX 0 .`, RFC 7505); otherwise add MX records.",
                )
                .with_evidence([format!("MX: {}", obs.mx.describe())]),
            );
        }
        MxMode::NullMx => out.push(
            Finding::new(
                "dns.null_mx",
                Severity::Info,
                subject(),
                "The domain publishes a null MX: it accepts no mail (RFC 7505)",
                "Nothing to fix if the domain sends and receives no mail.",
            )
            .with_evidence(["MX: 0 ."]),
        ),
        MxMode::Implicit => out.push(
            Finding::new(
                "dns.implicit_mx",
                Severity::Low,
                subject(),
                "No MX record: mail goes to the domain's own address (implicit MX, RFC 5321 §5.1)",
                "Publish an explicit MX record for the host that should receive mail, or a null MX if none should.",
            )
            .with_evidence([format!("MX: {}", obs.mx.describe())]),
        ),
        MxMode::Explicit => {}
    }
    out.extend(mx_cname(obs));
    for h in obs.hosts.iter().filter(|h| !h.excluded) {
        match &h.addresses {
            Lookup::NxDomain | Lookup::NoData if obs.mx_mode == MxMode::Explicit => out.push(
                Finding::new(
                    "dns.mx_unresolvable",
                    Severity::Medium,
                    subject(),
                    format!("MX host {} has no address", h.name),
                    format!("Give {} an A/AAAA record or remove it from the MX set; senders retry and then bounce.", h.name),
                )
                .with_evidence([format!("MX {} {}: A/AAAA {}", h.preference, h.name, h.addresses.describe())]),
            ),
            Lookup::Unknown(why) => out.push(
                Finding::new(
                    "dns.lookup_failed",
                    Severity::Info,
                    subject(),
                    format!("Addresses of mail host {} could not be determined", h.name),
                    "Check that the host's authoritative name servers answer; rerun the scan.",
                )
                .with_evidence([format!("{} A/AAAA: unknown ({why})", h.name)]),
            ),
            _ => {}
        }
        if h.name.parse::<std::net::IpAddr>().is_ok() {
            out.push(
                Finding::new(
                    "dns.mx_is_address",
                    Severity::Low,
                    subject(),
                    format!("MX record names an IP address ({}) instead of a host name", h.name),
                    "An MX must name a host (RFC 5321 §5.1); create an A record for it and use that name.",
                )
                .with_evidence([format!("MX {} {}", h.preference, h.name)]),
            );
        }
    }
    for s in obs
        .skipped
        .iter()
        .filter(|s| s.reason == SkipReason::NotPublic)
    {
        out.push(
            Finding::new(
                "dns.mx_not_public",
                if s.class == AddressClass::Reserved { Severity::Medium } else { Severity::High },
                subject(),
                format!("Mail host {} resolves to a {} address ({})", s.via, s.class.as_str(), s.ip),
                "Publish only public addresses for mail hosts; internal addresses leak your network layout and make senders connect to their own networks.",
            )
            .with_evidence([format!("{} → {} ({}); not contacted", s.via, s.ip, s.class.as_str())]),
        );
    }
    if !obs.capped.is_empty() {
        out.push(
            Finding::new(
                "dns.too_many_addresses",
                Severity::Low,
                subject(),
                "Mail or web host names list more addresses than mxray contacts; only the first were probed",
                "Publish only the addresses that really serve mail or the web site; a name with hundreds of addresses makes every sender and scanner connect to all of them.",
            )
            .with_evidence(obs.capped.iter().map(|c| {
                format!("{}: {} addresses, {} kept", c.name, c.found, c.kept)
            })),
        );
    }
    out
}

pub(super) fn check_host(obs: &HostObservation) -> Vec<Finding> {
    let subject = || Subject::Host(obs.ip.to_string());
    let reached = obs.smtp.iter().any(|s| s.status.reached());
    if !reached {
        return Vec::new();
    }
    match (&obs.ptr, obs.fcrdns) {
        (Lookup::NxDomain | Lookup::NoData, _) => vec![
            Finding::new(
                "dns.ptr_missing",
                Severity::Low,
                subject(),
                format!("Mail server {} has no reverse DNS (PTR) record", obs.ip),
                "Ask the address's owner (your hosting provider) for a PTR record naming the server; many receivers refuse mail from addresses without one.",
            )
            .with_evidence([format!("PTR {}: {}", obs.ip, obs.ptr.describe())]),
        ],
        (Lookup::Found(names), Some(false)) => vec![
            Finding::new(
                "dns.fcrdns_mismatch",
                Severity::Low,
                subject(),
                format!("Reverse DNS of {} does not resolve back to it (not forward-confirmed)", obs.ip),
                "Make the PTR name's A/AAAA record point back to this address, or change the PTR.",
            )
            .with_evidence([format!("PTR {}: {}", obs.ip, names.join(", "))]),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MailHost, Mx, SkippedAddress};

    fn obs(mode: MxMode, mx: Lookup<Vec<Mx>>, hosts: Vec<MailHost>) -> DomainObservation {
        DomainObservation {
            domain: "example.jp".into(),
            mx,
            mx_mode: mode,
            hosts,
            skipped: vec![],
            dnsbl: vec![],
            web_host: None,
            nameservers: None,
            mail_auth: None,
            capped: vec![],
        }
    }
    /// Issue 15 (2): a capped address set is a finding naming the host and the counts.
    #[test]
    fn capped_addresses_are_a_finding() {
        let mut o = obs(MxMode::Explicit, Lookup::NoData, vec![]);
        assert!(!ids(&check(&o)).contains(&"dns.too_many_addresses"));
        o.capped.push(crate::model::AddressCap {
            name: "mx.example.jp".into(),
            found: 4000,
            kept: 8,
        });
        let f = check(&o);
        let hit = f
            .iter()
            .find(|f| f.id == "dns.too_many_addresses")
            .expect("finding");
        assert_eq!(hit.evidence, vec!["mx.example.jp: 4000 addresses, 8 kept"]);
    }

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn mail_routing_findings() {
        assert!(check(&obs(MxMode::Explicit, Lookup::Found(vec![]), vec![])).is_empty());
        assert_eq!(
            ids(&check(&obs(MxMode::NullMx, Lookup::Found(vec![]), vec![]))),
            ["dns.null_mx"]
        );
        assert_eq!(
            ids(&check(&obs(MxMode::Implicit, Lookup::NoData, vec![]))),
            ["dns.implicit_mx"]
        );
        let nx = check(&obs(MxMode::None, Lookup::NxDomain, vec![]));
        assert_eq!(ids(&nx), ["dns.no_mail_host"]);
        assert!(nx[0].title.contains("NXDOMAIN"));
        let unk = check(&obs(
            MxMode::Unknown,
            Lookup::Unknown("timeout".into()),
            vec![],
        ));
        assert_eq!(ids(&unk), ["dns.lookup_failed"]);
        assert_eq!(unk[0].evidence, ["MX: unknown (timeout)"]);
    }

    #[test]
    fn mx_pointing_at_an_alias() {
        use crate::checks::test_support::domain;
        let alias = domain(vec![(
            "mx.ex.test",
            "CNAME",
            Lookup::Found(vec!["host.provider.test".into()]),
        )]);
        let f = check(&alias);
        assert_eq!(ids(&f), ["dns.mx_cname"]);
        assert_eq!(f[0].severity, Severity::Low);
        assert!(f[0].fix.contains("host.provider.test"), "{}", f[0].fix);
        assert_eq!(f[0].evidence[1], "mx.ex.test CNAME host.provider.test");
        for not in [Lookup::NoData, Lookup::Unknown("not recorded".into())] {
            assert!(check(&domain(vec![("mx.ex.test", "CNAME", not)])).is_empty());
        }
    }

    #[test]
    fn unresolvable_and_private_mx() {
        let host = |name: &str, a| MailHost {
            name: name.into(),
            preference: 10,
            addresses: a,
            excluded: false,
        };
        let mut o = obs(
            MxMode::Explicit,
            Lookup::Found(vec![]),
            vec![
                host("gone.example.jp", Lookup::NxDomain),
                host("slow.example.jp", Lookup::Unknown("SERVFAIL".into())),
            ],
        );
        o.skipped.push(SkippedAddress {
            ip: "10.0.0.5".parse().unwrap(),
            via: "internal.example.jp".into(),
            class: AddressClass::Private,
            reason: SkipReason::NotPublic,
        });
        o.skipped.push(SkippedAddress {
            ip: "203.0.113.9".parse().unwrap(),
            via: "x.example.jp".into(),
            class: AddressClass::Public,
            reason: SkipReason::Excluded,
        });
        let f = check(&o);
        assert_eq!(
            ids(&f),
            [
                "dns.mx_unresolvable",
                "dns.lookup_failed",
                "dns.mx_not_public"
            ]
        );
        assert_eq!(f[2].severity, Severity::High);
        assert!(f[2].evidence[0].contains("10.0.0.5"));
    }
}
