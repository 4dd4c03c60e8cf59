//! Discovery: from a domain to the addresses of its mail hosts.
//!
//! MX first; with no MX, the domain's own address (implicit MX, RFC 5321 §5.1); a lone
//! `MX 0 .` is a null MX (RFC 7505). Excluded host names are not looked up; addresses the
//! policy refuses are recorded as skipped and never contacted.

use crate::net::Policy;
use crate::resolve::Dns;
use mxray_core::addr;
use mxray_core::model::{AddressCap, DomainObservation, Lookup, MailHost, MxMode, SkippedAddress};
use mxray_core::target::Domain;
use std::net::IpAddr;

/// At most this many MX hosts are followed per domain (a hostile zone can list hundreds).
pub const MAX_MX: usize = 10;

/// At most this many addresses of one host name (MX host or web host) are kept and
/// contacted: one name with thousands of A records must not turn a survey into a scan of
/// someone else's network. The cut is recorded (`DomainObservation::capped`, finding
/// `dns.too_many_addresses`).
pub const MAX_ADDRS_PER_NAME: usize = 8;

/// At most this many addresses per domain, over its MX hosts (in preference order) and its
/// web host together.
pub const MAX_ADDRS_PER_DOMAIN: usize = 32;

/// Keeps at most the per-name cap and what is left of the domain's `budget` of `lookup`'s
/// addresses, recording the cut in `obs.capped`.
fn cap(
    obs: &mut DomainObservation,
    name: &str,
    lookup: &mut Lookup<Vec<IpAddr>>,
    budget: &mut usize,
) {
    let Lookup::Found(ips) = lookup else { return };
    let found = ips.len();
    let kept = found.min(MAX_ADDRS_PER_NAME).min(*budget);
    if kept < found {
        ips.truncate(kept);
        obs.capped.push(AddressCap {
            name: name.to_owned(),
            found,
            kept,
        });
    }
    *budget -= kept;
}

/// What is recorded of a domain whose discovery ran out of time: unknown, never "no mail
/// host".
pub fn out_of_time(domain: &str, deadline: std::time::Duration) -> DomainObservation {
    DomainObservation::bare(
        domain,
        Lookup::Unknown(format!(
            "discovery deadline ({} s) reached",
            deadline.as_secs()
        )),
        MxMode::Unknown,
    )
}

/// [`discover`] bounded by `deadline`: a domain whose DNS never answers costs at most that
/// (not one timeout per question asked), and is recorded as unknown, never as having no mail
/// host.
pub async fn discover_by(
    dns: &Dns,
    policy: &Policy,
    mail_auth: &crate::mailauth::MailAuthContext,
    domain: &Domain,
    deadline: std::time::Duration,
) -> DomainObservation {
    match tokio::time::timeout(deadline, discover(dns, policy, mail_auth, domain)).await {
        Ok(obs) => obs,
        Err(_) => out_of_time(domain.as_str(), deadline),
    }
}

/// [`mail_hosts`] bounded by `deadline`; `None` when it ran out of time (the domain is then
/// recorded as [`out_of_time`], as by [`discover_by`]).
pub async fn mail_hosts_by(
    dns: &Dns,
    policy: &Policy,
    domain: &Domain,
    deadline: std::time::Duration,
) -> Option<DomainObservation> {
    tokio::time::timeout(deadline, mail_hosts(dns, policy, domain))
        .await
        .ok()
}

/// [`complete`] bounded by `deadline` (as [`discover_by`]: out of time, the whole domain is
/// recorded as unknown).
pub async fn complete_by(
    dns: &Dns,
    policy: &Policy,
    mail_auth: &crate::mailauth::MailAuthContext,
    obs: DomainObservation,
    deadline: std::time::Duration,
) -> DomainObservation {
    let domain = obs.domain.clone();
    match tokio::time::timeout(deadline, async move {
        let mut obs = obs;
        complete(dns, policy, mail_auth, &mut obs).await;
        obs
    })
    .await
    {
        Ok(obs) => obs,
        Err(_) => out_of_time(&domain, deadline),
    }
}

/// Discovers one domain's mail hosts and its mail-authentication records: [`mail_hosts`],
/// then [`complete`].
pub async fn discover(
    dns: &Dns,
    policy: &Policy,
    mail_auth: &crate::mailauth::MailAuthContext,
    domain: &Domain,
) -> DomainObservation {
    // As with MX first (`engine.rs`): the rest of discovery is given what `mail_hosts` got,
    // whatever the scan's cache has forgotten since.
    let noting = dns.noting();
    let mut obs = mail_hosts(&noting, policy, domain).await;
    complete(&dns.knowing(noting.noted()), policy, mail_auth, &mut obs).await;
    obs
}

/// The first part of discovery: MX, the MX hosts' addresses (capped) or the implicit MX, and
/// the addresses the policy refuses (`skipped`). Enough to queue the domain's mail hosts: the
/// engine asks it of every domain ahead of the rest (issue 14, "MX first"), so each mail host
/// is known, and probed, early in a survey.
pub async fn mail_hosts(dns: &Dns, policy: &Policy, domain: &Domain) -> DomainObservation {
    let mx = dns.mx(domain.as_str()).await;
    let mut obs = DomainObservation::bare(domain.to_string(), mx.clone(), MxMode::Explicit);
    match &mx {
        Lookup::Found(records) => {
            let real: Vec<_> = records.iter().filter(|m| !m.exchange.is_empty()).collect();
            if real.is_empty() {
                obs.mx_mode = MxMode::NullMx;
                return obs;
            }
            let lookups = real.iter().take(MAX_MX).map(|m| async move {
                let mut excluded = policy.exclusions.excludes_name(&m.exchange);
                let addresses = if excluded {
                    Lookup::NoData
                } else {
                    // A CNAME into an excluded domain excludes the host: nothing was asked
                    // about the excluded name, no address of it is used.
                    dns.host_addresses(&m.exchange).await.unwrap_or_else(|_| {
                        excluded = true;
                        Lookup::NoData
                    })
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
    let mut budget = MAX_ADDRS_PER_DOMAIN;
    let mut hosts = std::mem::take(&mut obs.hosts);
    for h in &mut hosts {
        cap(&mut obs, &h.name, &mut h.addresses, &mut budget);
    }
    obs.hosts = hosts;
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

/// The rest of discovery after [`mail_hosts`]: the mail-authentication records (SPF, DMARC,
/// DKIM, MTA-STS, TLS-RPT, …) of a domain that exists and has no null MX.
pub async fn complete(
    dns: &Dns,
    policy: &Policy,
    mail_auth: &crate::mailauth::MailAuthContext,
    obs: &mut DomainObservation,
) {
    if obs.mx_mode == MxMode::NullMx || matches!(obs.mx, Lookup::NxDomain) {
        return;
    }
    obs.mail_auth = Some(crate::mailauth::gather(dns, policy, mail_auth, obs).await);
}

/// At most this many name servers per domain are asked the per-domain questions.
pub const MAX_NS: usize = 4;

/// Settings of the exposure part of discovery.
#[derive(Clone, Debug)]
pub struct ExposureDiscovery {
    /// Look up the web host (`www.<domain>`, else the domain's own address).
    pub web: bool,
    /// Look up NS (and their addresses); `None`: no name-server work.
    pub dns_port: Option<u16>,
}

/// The per-zone questions to name servers (SOA with RD=0: lame delegation, serial), queued
/// per name-server address: at most `per_ns` of them in flight to one address, however many
/// domains share it, and never inside discovery (the engine runs them in a stage of their
/// own, so a provider's name server shared by thousands of domains never slows the discovery
/// of the others). Zone transfers are not here: they are the DNS-server probe's, per address,
/// capped (`--axfr-per-server`).
#[derive(Clone, Debug)]
pub struct ZoneChecks {
    /// DNS port of the name servers.
    pub port: u16,
    /// Bounds of each exchange.
    pub limits: crate::net::Limits,
    /// The questions about one domain end by this long after its turn came.
    pub deadline: std::time::Duration,
    /// Questions in flight to one name-server address at most.
    pub per_ns: usize,
    gates: std::sync::Arc<
        std::sync::Mutex<
            std::collections::HashMap<std::net::IpAddr, std::sync::Arc<tokio::sync::Semaphore>>,
        >,
    >,
}

impl ZoneChecks {
    /// Per-zone questions on `port`, at most `per_ns` in flight per address.
    pub fn new(
        port: u16,
        limits: crate::net::Limits,
        deadline: std::time::Duration,
        per_ns: usize,
    ) -> Self {
        Self {
            port,
            limits,
            deadline,
            per_ns: per_ns.max(1),
            gates: Default::default(),
        }
    }

    fn gate(&self, ip: std::net::IpAddr) -> std::sync::Arc<tokio::sync::Semaphore> {
        self.gates
            .lock()
            .map(|mut m| {
                m.entry(ip)
                    .or_insert_with(|| {
                        std::sync::Arc::new(tokio::sync::Semaphore::new(self.per_ns))
                    })
                    .clone()
            })
            .unwrap_or_else(|_| std::sync::Arc::new(tokio::sync::Semaphore::new(self.per_ns)))
    }

    /// Asks each of the domain's name-server addresses (from [`discover_exposure`]) for the
    /// domain's SOA, one question per address, in parallel across addresses.
    pub async fn run(
        &self,
        policy: &Policy,
        domain: &str,
        targets: &[(String, std::net::IpAddr)],
    ) -> Vec<mxray_core::model::NsCheck> {
        let asks = targets.iter().map(|(name, ip)| async move {
            let gate = self.gate(*ip);
            let _turn = gate.acquire().await;
            let deadline = tokio::time::Instant::now() + self.deadline;
            crate::probe::dnsserver::check_ns(
                policy,
                name,
                std::net::SocketAddr::new(*ip, self.port),
                domain,
                &self.limits,
                deadline,
            )
            .await
        });
        futures::future::join_all(asks).await
    }
}

/// Adds the web host and the name servers (names and admitted addresses; the per-zone
/// questions come later, from [`ZoneChecks`]) to a domain's observation, and returns the
/// `(NS name, address)` pairs to ask. Excluded names are not looked up; refused addresses are
/// skipped.
pub async fn discover_exposure(
    dns: &Dns,
    policy: &Policy,
    cfg: &ExposureDiscovery,
    obs: &mut DomainObservation,
) -> Vec<(String, std::net::IpAddr)> {
    if cfg.web {
        for name in [format!("www.{}", obs.domain), obs.domain.clone()] {
            if policy.exclusions.excludes_name(&name) {
                continue;
            }
            let Ok(mut addresses) = dns.host_addresses(&name).await else {
                // A CNAME into an excluded domain: not followed, not used.
                continue;
            };
            if addresses.found().is_some() {
                let mut budget = MAX_ADDRS_PER_DOMAIN.saturating_sub(
                    obs.hosts
                        .iter()
                        .filter_map(|h| h.addresses.found())
                        .map(Vec::len)
                        .sum(),
                );
                cap(obs, &name, &mut addresses, &mut budget);
                for ip in addresses.found().into_iter().flatten() {
                    if let Err(reason) = policy.admit(*ip)
                        && !obs.skipped.iter().any(|s| s.ip == *ip)
                    {
                        {
                            obs.skipped.push(SkippedAddress {
                                ip: *ip,
                                via: name.clone(),
                                class: addr::classify(*ip),
                                reason,
                            });
                        }
                    }
                }
                obs.web_host = Some(MailHost {
                    name,
                    preference: 0,
                    addresses,
                    excluded: false,
                });
                break;
            }
        }
    }
    let mut targets = Vec::new();
    if cfg.dns_port.is_none() {
        return targets;
    }
    let ns = dns.ns(&obs.domain).await;
    for name in ns.found().into_iter().flatten().take(MAX_NS) {
        if policy.exclusions.excludes_name(name) {
            continue;
        }
        for ip in dns
            .addresses(name)
            .await
            .found()
            .into_iter()
            .flatten()
            .take(2)
        {
            if let Err(reason) = policy.admit(*ip) {
                if !obs.skipped.iter().any(|s| s.ip == *ip) {
                    obs.skipped.push(SkippedAddress {
                        ip: *ip,
                        via: name.clone(),
                        class: addr::classify(*ip),
                        reason,
                    });
                }
                continue;
            }
            targets.push((name.clone(), *ip));
        }
    }
    obs.nameservers = Some(mxray_core::model::NsObservation {
        ns,
        checks: Vec::new(),
    });
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15 (8): a domain whose DNS never answers costs the discovery deadline, not a
    /// timeout per question, and is unknown rather than "no mail host".
    #[tokio::test(start_paused = true)]
    async fn silent_dns_costs_at_most_the_discovery_deadline() {
        // A name server that reads every question and never answers.
        let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let dns = Dns::new(Some(addr), std::time::Duration::from_secs(3)).unwrap();
        let policy = Policy::default();
        let cx = crate::mailauth::MailAuthContext::default();
        let domain = Domain::parse("silent.example").unwrap();
        let started = tokio::time::Instant::now();
        let deadline = std::time::Duration::from_secs(10);
        let obs = discover_by(&dns, &policy, &cx, &domain, deadline).await;
        assert!(started.elapsed() <= deadline + std::time::Duration::from_secs(1));
        assert_eq!(obs.mx_mode, MxMode::Unknown);
        assert!(obs.mx.is_unknown());
        drop(silent);
    }
}
