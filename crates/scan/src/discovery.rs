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
pub async fn discover(
    dns: &Dns,
    policy: &Policy,
    mail_auth: &crate::mailauth::MailAuthContext,
    domain: &Domain,
) -> DomainObservation {
    let mx = dns.mx(domain.as_str()).await;
    let mut obs = DomainObservation {
        domain: domain.to_string(),
        mx: mx.clone(),
        mx_mode: MxMode::Explicit,
        hosts: Vec::new(),
        skipped: Vec::new(),
        dnsbl: Vec::new(),
        web_host: None,
        nameservers: None,
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
        obs.mail_auth = Some(crate::mailauth::gather(dns, policy, mail_auth, &obs).await);
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
            let addresses = dns.addresses(&name).await;
            if addresses.found().is_some() {
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
