//! Discovery: from a domain to the addresses of its mail hosts.
//!
//! MX first; with no MX, the domain's own address (implicit MX, RFC 5321 §5.1); a lone
//! `MX 0 .` is a null MX (RFC 7505). Excluded host names are not looked up; addresses the
//! policy refuses are recorded as skipped and never contacted.

use crate::net::Policy;
use crate::resolve::Dns;
use mxray_core::addr;
use mxray_core::model::{DomainObservation, Lookup, MailHost, MxMode, SkippedAddress};
use mxray_core::target::Domain;

/// At most this many MX hosts are followed per domain (a hostile zone can list hundreds).
pub const MAX_MX: usize = 10;

/// Discovers one domain's mail hosts.
pub async fn discover(dns: &Dns, policy: &Policy, domain: &Domain) -> DomainObservation {
    let mx = dns.mx(domain.as_str()).await;
    let mut obs = DomainObservation {
        domain: domain.to_string(),
        mx: mx.clone(),
        mx_mode: MxMode::Explicit,
        hosts: Vec::new(),
        skipped: Vec::new(),
        mail_auth: None,
    };
    match &mx {
        Lookup::Found(records) => {
            let real: Vec<_> = records.iter().filter(|m| !m.exchange.is_empty()).collect();
            if real.is_empty() {
                obs.mx_mode = MxMode::NullMx;
                return obs;
            }
            let lookups = real.iter().take(MAX_MX).map(|m| async move {
                let excluded = policy.exclusions.excludes_name(&m.exchange);
                let addresses = if excluded {
                    Lookup::NoData
                } else {
                    dns.addresses(&m.exchange).await
                };
                MailHost {
                    name: m.exchange.clone(),
                    preference: m.preference,
                    addresses,
                    excluded,
                }
            });
            obs.hosts = futures::future::join_all(lookups).await;
        }
        Lookup::NoData => {
            let addresses = dns.addresses(domain.as_str()).await;
            obs.mx_mode = match &addresses {
                Lookup::Found(_) => MxMode::Implicit,
                Lookup::Unknown(_) => MxMode::Unknown,
                _ => MxMode::None,
            };
            if obs.mx_mode == MxMode::Implicit {
                obs.hosts.push(MailHost {
                    name: domain.to_string(),
                    preference: 0,
                    addresses,
                    excluded: false,
                });
            }
        }
        Lookup::NxDomain => obs.mx_mode = MxMode::None,
        Lookup::Unknown(_) => obs.mx_mode = MxMode::Unknown,
    }
    if !matches!(obs.mx, Lookup::NxDomain) {
        obs.mail_auth = Some(crate::mailauth::gather(dns, policy, &obs).await);
    }
    for h in &obs.hosts {
        for ip in h.addresses.found().into_iter().flatten() {
            if let Err(reason) = policy.admit(*ip) {
                obs.skipped.push(SkippedAddress {
                    ip: *ip,
                    via: h.name.clone(),
                    class: addr::classify(*ip),
                    reason,
                });
            }
        }
    }
    obs
}
