//! The scan engine: targets stream through discovery, newly seen addresses through the host
//! probes; each address is probed once per scan however many domains share it.
//!
//! ```text
//! domains ──► discovery (dns_concurrency) ──► Event::Domain ──────────────┐
//!                 │ new admitted IPs                                       ├─► sink
//!                 └──► host queue ──► probes (concurrency) ──► Event::Host ┘
//! ```
//!
//! The two stages run concurrently, so a tarpitting shared host never stalls discovery of
//! other domains. Memory is bounded by the set of distinct addresses (a hash set), not by the
//! number of domains. Each host probe runs in its own task: a panic becomes an
//! `internal-error` record, not a crashed survey.

use crate::discovery;
use crate::net::{Limits, Policy};
use crate::probe::dnsserver;
use crate::probe::mailbox::MailboxProbe;
use crate::probe::relay::RelayProbe;
use crate::probe::smtp::SmtpProbe;
use crate::probe::ssh::SshProbe;
use crate::probe::web::WebProbe;
use crate::probe::{Probe, ProbeContext, ProbeOutput};
use crate::resolve::Dns;
use crate::tls::TlsClient;
use futures::{Stream, StreamExt};
use mxray_core::addr;
use mxray_core::model::{
    DomainObservation, HostObservation, Lookup, MailboxProtocol, ProbeStatus, SmtpObservation,
};
use mxray_core::relay::RelayParams;
use mxray_core::target::Domain;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One SMTP port to probe.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct SmtpPort {
    /// Port number.
    pub port: u16,
    /// TLS from the first byte (465).
    pub implicit_tls: bool,
}

/// One POP3 or IMAP port to probe.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct MailboxPort {
    /// POP3 or IMAP.
    pub protocol: MailboxProtocol,
    /// Port number.
    pub port: u16,
    /// TLS from the first byte (995, 993).
    pub implicit_tls: bool,
}

/// One HTTP or HTTPS port to probe.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct WebPort {
    /// Port number.
    pub port: u16,
    /// HTTPS.
    pub https: bool,
}

/// Why an address is probed; decides which probes run on it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Role {
    /// A mail host (MX or implicit MX): SMTP, relay, POP3/IMAP, web, SSH.
    Mail,
    /// The domain's web host: web.
    Web,
    /// One of the domain's name servers: the DNS-server probe.
    Dns,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Mail => "mail",
            Self::Web => "web",
            Self::Dns => "dns",
        }
    }
}

/// Validated scan settings.
#[derive(Clone, Debug)]
pub struct ScanConfig {
    /// Hosts probed at once.
    pub concurrency: usize,
    /// Domains in discovery at once.
    pub dns_concurrency: usize,
    /// Per-connection bounds.
    pub limits: Limits,
    /// Everything done to one host (all its ports, the relay test) ends by this.
    pub host_deadline: Duration,
    /// EHLO name.
    pub ehlo_name: String,
    /// SMTP ports, in order; the first non-TLS one also gets the relay battery.
    pub smtp_ports: Vec<SmtpPort>,
    /// The relay battery, when enabled.
    pub relay: Option<RelayParams>,
    /// Who may be contacted, and how fast.
    pub policy: Policy,
    /// At most this many hosts of one /24 (IPv6: /48) probed at once (0: no cap).
    pub per_net_cap: usize,
    /// DNSBL lists asked and the ASN database (default: none).
    pub reputation: crate::reputation::Reputation,
    /// POP3 and IMAP ports probed on mail hosts, in order.
    pub mailbox_ports: Vec<MailboxPort>,
    /// HTTP and HTTPS ports probed on mail hosts and web hosts, in order.
    pub web_ports: Vec<WebPort>,
    /// Paths requested besides `/`, `/.git/HEAD` and the status pages.
    pub web_paths: Vec<String>,
    /// DNS port of name servers; `None`: no name-server probes.
    pub dns_port: Option<u16>,
    /// The name asked recursively to test for open recursion.
    pub recursion_name: String,
    /// SSH port probed on mail hosts; `None`: not probed.
    pub ssh_port: Option<u16>,
    /// TLS client for every probe and the MTA-STS fetch (Mozilla roots plus `--ca-file`).
    pub tls: TlsClient,
    /// DKIM selectors asked (empty: the default list).
    pub dkim_selectors: Vec<String>,
    /// HTTPS port of MTA-STS policy hosts (443).
    pub mta_sts_port: u16,
    /// Ask TLSA at `_25._tcp.<MX name>` for each mail host (DANE).
    pub dane: bool,
    /// Where mxray's own DNSSEC validation starts (`--trust-anchor`; `None`: the IANA root
    /// keys). Applied to the resolver when it is made (`Dns::with_trust_anchors`).
    pub trust_anchors: Option<crate::dnssec::TrustAnchors>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            dns_concurrency: 256,
            limits: Limits::default(),
            host_deadline: Duration::from_secs(120),
            ehlo_name: "mxray-scanner.invalid".into(),
            smtp_ports: vec![SmtpPort {
                port: 25,
                implicit_tls: false,
            }],
            relay: Some(RelayParams::default()),
            policy: Policy::default(),
            per_net_cap: 16,
            reputation: Default::default(),
            mailbox_ports: vec![
                MailboxPort {
                    protocol: MailboxProtocol::Pop3,
                    port: 110,
                    implicit_tls: false,
                },
                MailboxPort {
                    protocol: MailboxProtocol::Imap,
                    port: 143,
                    implicit_tls: false,
                },
                MailboxPort {
                    protocol: MailboxProtocol::Pop3,
                    port: 995,
                    implicit_tls: true,
                },
                MailboxPort {
                    protocol: MailboxProtocol::Imap,
                    port: 993,
                    implicit_tls: true,
                },
            ],
            web_ports: vec![
                WebPort {
                    port: 80,
                    https: false,
                },
                WebPort {
                    port: 443,
                    https: true,
                },
            ],
            web_paths: crate::probe::web::default_paths(),
            dns_port: Some(53),
            recursion_name: "example.com".into(),
            ssh_port: Some(22),
            tls: TlsClient::new(),
            dkim_selectors: Vec::new(),
            mta_sts_port: 443,
            dane: true,
            trust_anchors: None,
        }
    }
}

/// What the engine reports, in the order it happens.
// Events move once through a channel; boxing the host record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    /// A domain was discovered. `probed` are the addresses queued or already probed for it.
    Domain {
        /// What discovery saw.
        obs: DomainObservation,
        /// Addresses whose host records belong to this domain.
        probed: Vec<IpAddr>,
    },
    /// A domain on the exclusion list: nothing was sent about it.
    Excluded(Domain),
    /// A host was probed.
    Host(HostObservation),
}

/// Live counters for progress displays.
#[derive(Debug, Default)]
pub struct Progress {
    /// Domains through discovery.
    pub domains_done: AtomicU64,
    /// Distinct hosts queued for probing.
    pub hosts_queued: AtomicU64,
    /// Hosts probed.
    pub hosts_done: AtomicU64,
    /// Milliseconds from the start until discovery finished (0 while running).
    pub discovery_ms: AtomicU64,
    /// Milliseconds from the start until the last host finished (0 while running).
    pub hosts_ms: AtomicU64,
}

/// Runs scans.
#[derive(Clone, Debug)]
pub struct Engine {
    cfg: Arc<ScanConfig>,
    dns: Dns,
    tls: TlsClient,
    mail_auth: Arc<crate::mailauth::MailAuthContext>,
    nets: Arc<crate::pace::NetCap>,
    slots: Arc<tokio::sync::Semaphore>,
}

/// State carried over from an interrupted scan, or shared with other workers of a survey.
#[derive(Debug, Default)]
pub struct Seed {
    /// Addresses already probed and stored.
    pub probed: HashSet<IpAddr>,
    /// Addresses linked to stored domains but not probed yet.
    pub pending: Vec<PendingHost>,
    /// Asked before an address is queued for the first time: false means another worker of
    /// the survey probes it (the domain still links to it).
    pub gate: Option<Arc<dyn HostGate>>,
}

/// Decides which of several survey workers probes an address, so that each address is probed
/// once and only one worker ever connects to it (the per-IP caps then hold across workers).
pub trait HostGate: Send + Sync + std::fmt::Debug {
    /// True if this worker may probe `ip`.
    fn claim(&self, ip: IpAddr) -> futures::future::BoxFuture<'_, bool>;
}

/// A host to probe on resume.
#[derive(Debug)]
pub struct PendingHost {
    /// The address.
    pub ip: IpAddr,
    /// Host names that led to it.
    pub names: Vec<String>,
    /// A domain it serves.
    pub domain: String,
}

#[derive(Debug)]
struct HostJob {
    ip: IpAddr,
    names: Vec<String>,
    /// The MX (or implicit-MX) names among `names`: their TLSA records are asked.
    mx_names: Vec<String>,
    local_domain: String,
    roles: Vec<Role>,
}

impl Engine {
    /// An engine with its resolver.
    pub fn new(cfg: ScanConfig, dns: Dns) -> Self {
        let nets = Arc::new(crate::pace::NetCap::new(cfg.per_net_cap));
        let slots = Arc::new(tokio::sync::Semaphore::new(cfg.concurrency.max(1)));
        let mail_auth = Arc::new(crate::mailauth::MailAuthContext {
            dkim_selectors: cfg.dkim_selectors.clone(),
            https_port: cfg.mta_sts_port,
            limits: cfg.limits,
            deadline: cfg.host_deadline,
            tls: cfg.tls.clone(),
            ehlo_name: cfg.ehlo_name.clone(),
        });
        Self {
            tls: cfg.tls.clone(),
            cfg: Arc::new(cfg),
            dns,
            mail_auth,
            nets,
            slots,
        }
    }

    /// Scans every domain of the stream, sending events to `sink`. Returns when all domains
    /// and all hosts are done, or early if the sink is closed.
    pub async fn run<S>(&self, domains: S, sink: mpsc::Sender<Event>, progress: Arc<Progress>)
    where
        S: Stream<Item = Domain> + Send,
    {
        self.resume(domains, sink, progress, Seed::default()).await;
    }

    /// Like [`Engine::run`], continuing an interrupted scan: addresses in `seed.probed` are
    /// not probed again, `seed.pending` (linked to stored domains, never probed) are probed
    /// first.
    pub async fn resume<S>(
        &self,
        domains: S,
        sink: mpsc::Sender<Event>,
        progress: Arc<Progress>,
        seed: Seed,
    ) where
        S: Stream<Item = Domain> + Send,
    {
        let started = Instant::now();
        let (host_tx, host_rx) = futures::channel::mpsc::unbounded::<HostJob>();
        let mut known = seed.probed;
        for p in seed.pending {
            if known.insert(p.ip) {
                progress.hosts_queued.fetch_add(1, Ordering::Relaxed);
                let _ = host_tx.unbounded_send(HostJob {
                    ip: p.ip,
                    mx_names: p.names.clone(),
                    names: p.names,
                    local_domain: p.domain,
                    // Resume re-queues hosts linked as mail hosts (domain_hosts).
                    roles: vec![Role::Mail],
                });
            }
        }
        let seen: Arc<Mutex<HashSet<IpAddr>>> = Arc::new(Mutex::new(known));
        let gate = seed.gate;
        let ns_locks = discovery::NsLocks::default();
        let discovery = {
            let sink = sink.clone();
            let progress = progress.clone();
            async move {
                domains
                    .map(|d| {
                        let this = self.clone();
                        let seen = seen.clone();
                        let ns_locks = ns_locks.clone();
                        let host_tx = host_tx.clone();
                        let progress = progress.clone();
                        let gate = gate.clone();
                        async move {
                            if this.cfg.policy.exclusions.excludes_domain(&d) {
                                return Event::Excluded(d);
                            }
                            let mut obs = discovery::discover_by(
                                &this.dns,
                                &this.cfg.policy,
                                &this.mail_auth,
                                &d,
                                this.cfg.host_deadline,
                            )
                            .await;
                            obs.dnsbl = this
                                .cfg
                                .reputation
                                .domain(&this.dns, &this.cfg.policy, &obs)
                                .await;
                            let exposure = discovery::ExposureDiscovery {
                                web: !this.cfg.web_ports.is_empty(),
                                dns_port: this.cfg.dns_port,
                                limits: this.cfg.limits,
                                deadline: this.cfg.host_deadline,
                                ns_locks,
                            };
                            discovery::discover_exposure(
                                &this.dns,
                                &this.cfg.policy,
                                &exposure,
                                &mut obs,
                            )
                            .await;
                            let skipped: HashSet<IpAddr> =
                                obs.skipped.iter().map(|s| s.ip).collect();
                            // Every admitted address of this domain with its roles and names.
                            let mut jobs: Vec<HostJob> = Vec::new();
                            let mut add = |ip: IpAddr, name: &str, role: Role| {
                                if skipped.contains(&ip) {
                                    return;
                                }
                                let j = match jobs.iter_mut().position(|j| j.ip == ip) {
                                    Some(i) => &mut jobs[i],
                                    None => {
                                        jobs.push(HostJob {
                                            ip,
                                            names: Vec::new(),
                                            mx_names: Vec::new(),
                                            local_domain: obs.domain.clone(),
                                            roles: Vec::new(),
                                        });
                                        // Invariant: the branch above pushed an element when `jobs` had none for this address.
                                        jobs.last_mut().expect("just pushed")
                                    }
                                };
                                if !j.roles.contains(&role) {
                                    j.roles.push(role);
                                }
                                if !j.names.iter().any(|n| n == name) {
                                    j.names.push(name.to_owned());
                                }
                                if role == Role::Mail && !j.mx_names.iter().any(|n| n == name) {
                                    j.mx_names.push(name.to_owned());
                                }
                            };
                            for h in &obs.hosts {
                                for ip in h.addresses.found().into_iter().flatten() {
                                    add(*ip, &h.name, Role::Mail);
                                }
                            }
                            if let Some(w) = &obs.web_host {
                                for ip in w.addresses.found().into_iter().flatten() {
                                    add(*ip, &w.name, Role::Web);
                                }
                            }
                            if let Some(ns) = &obs.nameservers {
                                for c in &ns.checks {
                                    add(c.ip, &c.name, Role::Dns);
                                }
                            }
                            let mut probed = Vec::new();
                            for job in jobs {
                                probed.push(job.ip);
                                // An address is probed once per scan, with the roles of the
                                // first domain that led to it.
                                let fresh =
                                    seen.lock().map(|mut s| s.insert(job.ip)).unwrap_or(false);
                                let ours = match (&gate, fresh) {
                                    (Some(g), true) => g.claim(job.ip).await,
                                    _ => fresh,
                                };
                                if ours {
                                    progress.hosts_queued.fetch_add(1, Ordering::Relaxed);
                                    let _ = host_tx.unbounded_send(job);
                                }
                            }
                            Event::Domain { obs, probed }
                        }
                    })
                    .buffer_unordered(self.cfg.dns_concurrency.max(1))
                    .for_each(|ev| {
                        progress.domains_done.fetch_add(1, Ordering::Relaxed);
                        let sink = sink.clone();
                        async move {
                            let _ = sink.send(ev).await;
                        }
                    })
                    .await;
                drop(host_tx);
                progress
                    .discovery_ms
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
        };
        let hosts = host_rx
            .map(|job| {
                let this = self.clone();
                async move {
                    let ip = job.ip;
                    match tokio::spawn(async move { this.probe_host(job).await }).await {
                        Ok(obs) => obs,
                        Err(e) => internal_error(ip, &e.to_string()),
                    }
                }
            })
            // More jobs in flight than probe slots: a job waiting for its network's cap must
            // not hold a slot that a host in another network could use (measured: with the
            // slot taken first, hosts of one busy /24 blocked the rest of the survey).
            .buffer_unordered(self.cfg.concurrency.max(1) * 8)
            .for_each(|obs| {
                progress.hosts_done.fetch_add(1, Ordering::Relaxed);
                let sink = sink.clone();
                async move {
                    let _ = sink.send(Event::Host(obs)).await;
                }
            });
        tokio::join!(discovery, hosts);
        progress
            .hosts_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    async fn probe_host(&self, job: HostJob) -> HostObservation {
        // Held for the whole host: caps concurrent connections into one network.
        let _net_slot = self.nets.acquire(job.ip).await;
        let _probe_slot = self.slots.acquire().await;
        let started = Instant::now();
        let deadline = started + self.cfg.host_deadline;
        let ptr = tokio::time::timeout_at(deadline, self.dns.ptr(job.ip))
            .await
            .unwrap_or_else(|_| Lookup::Unknown("host deadline".into()));
        let fcrdns = match &ptr {
            Lookup::Found(names) => Some(self.forward_confirms(job.ip, names, deadline).await),
            _ => None,
        };
        let reputation = (self.cfg.reputation)
            .host(
                &self.dns,
                &self.cfg.policy,
                job.ip,
                &ptr,
                &job.names,
                deadline,
            )
            .await;
        // Every address gets the mail, web and SSH probes whatever role first led to it: an
        // address is probed once per scan, and a web host or name server that a later domain
        // uses as its MX must not lose its SMTP and relay results. Connections to closed ports
        // are refused at once. Only the DNS-server probe (UDP, which costs a full timeout per
        // question where nothing listens) depends on the role.
        let (mail, web) = (true, true);
        let roles: Vec<String> = job.roles.iter().map(|r| r.as_str().to_owned()).collect();
        let dns_role = job.roles.contains(&Role::Dns);
        let tlsa = if self.cfg.dane {
            tokio::time::timeout_at(deadline, self.tlsa(&job.mx_names))
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let cx = ProbeContext {
            ip: job.ip,
            names: job.names,
            local_domain: Some(job.local_domain),
            ehlo_name: self.cfg.ehlo_name.clone(),
            policy: self.cfg.policy.clone(),
            limits: self.cfg.limits,
            deadline,
            tls: self.tls.clone(),
        };
        // Ports one after another: at most one connection per IP at any time.
        let mut smtp: Vec<SmtpObservation> = Vec::new();
        let smtp_ports: &[SmtpPort] = if mail { &self.cfg.smtp_ports } else { &[] };
        for p in smtp_ports {
            if let ProbeOutput::Smtp(o) = (SmtpProbe {
                port: p.port,
                implicit_tls: p.implicit_tls,
            })
            .run(&cx)
            .await
            {
                smtp.push(o);
            }
        }
        let relay_port = self
            .cfg
            .smtp_ports
            .iter()
            .find(|p| !p.implicit_tls)
            .map(|p| p.port);
        let greeted = |port| {
            smtp.iter()
                .any(|o| o.port == port && o.greeting.as_ref().is_some_and(|g| g.code == 220))
        };
        let relay = match (&self.cfg.relay, relay_port) {
            (Some(params), Some(port)) if mail && greeted(port) => {
                match (RelayProbe {
                    port,
                    params: params.clone(),
                })
                .run(&cx)
                .await
                {
                    ProbeOutput::Relay(r) => Some(r),
                    _ => None,
                }
            }
            _ => None,
        };
        let mut mailbox = Vec::new();
        let mut web_obs = Vec::new();
        let mut ssh = None;
        let mut probes: Vec<Box<dyn Probe>> = Vec::new();
        if mail {
            for p in &self.cfg.mailbox_ports {
                probes.push(Box::new(MailboxProbe {
                    protocol: p.protocol,
                    port: p.port,
                    implicit_tls: p.implicit_tls,
                }));
            }
        }
        if web {
            let budget = crate::probe::web::HostBudget::new(
                crate::probe::web::MAX_HOST_REQUESTS,
                self.cfg.web_ports.len() * WebProbe::fixed_requests(&self.cfg.web_paths),
            );
            for p in &self.cfg.web_ports {
                probes.push(Box::new(WebProbe {
                    port: p.port,
                    https: p.https,
                    paths: self.cfg.web_paths.clone(),
                    budget: budget.clone(),
                }));
            }
        }
        if let (true, Some(port)) = (mail, self.cfg.ssh_port) {
            probes.push(Box::new(SshProbe { port }));
        }
        // Still one after another: one connection per IP at a time.
        for p in probes {
            match p.run(&cx).await {
                ProbeOutput::Mailbox(m) => mailbox.push(m),
                ProbeOutput::Web(w) => web_obs.push(w),
                ProbeOutput::Ssh(s) => ssh = Some(s),
                ProbeOutput::Smtp(_) | ProbeOutput::Relay(_) => {}
            }
        }
        let dns_server = match (dns_role, self.cfg.dns_port) {
            (true, Some(port)) => Some(
                dnsserver::probe_server(
                    &self.cfg.policy,
                    std::net::SocketAddr::new(job.ip, port),
                    &self.cfg.recursion_name,
                    &self.cfg.limits,
                    deadline,
                )
                .await,
            ),
            _ => None,
        };
        HostObservation {
            ip: job.ip,
            class: addr::classify(job.ip),
            ptr,
            fcrdns,
            smtp,
            relay,
            elapsed_ms: started.elapsed().as_millis() as u64,
            reputation: Box::new(reputation),
            roles,
            mailbox,
            web: web_obs,
            dns_server,
            ssh,
            tlsa,
        }
    }

    /// TLSA at `_25._tcp.<name>` for each MX name (at most four), with the AD bit; each
    /// name is asked once per scan (the resolver's secure cache), excluded names never.
    async fn tlsa(&self, names: &[String]) -> Vec<mxray_core::dane::TlsaLookup> {
        use hickory_resolver::proto::rr::{RData, RecordType};
        use mxray_core::dane::{MAX_TLSA_DATA, Tlsa, TlsaLookup};
        let mut out = Vec::new();
        for host in names.iter().take(4) {
            let name = format!("_25._tcp.{host}");
            if self.cfg.policy.exclusions.excludes_name(host) {
                continue;
            }
            let l = self.dns.secure(&name, RecordType::TLSA, false).await;
            // RFC 7672 §2.2: TLSA counts only when its answer is secure. The resolver's AD
            // bit is trusted on loopback; otherwise mxray validates the RRset itself, and
            // when a validating resolver failed (SERVFAIL) the records come from that
            // validation's CD=1 answer.
            let (records, validation) = if matches!(l.answer, Lookup::NoData | Lookup::NxDomain) {
                // No TLSA: nothing to trust or distrust (`dane.missing` either way).
                (l.answer, None)
            } else if l.authenticated && self.dns.trusts_ad() {
                let v = mxray_core::dnssec::Validation {
                    status: mxray_core::dnssec::DnssecStatus::Secure,
                    by: mxray_core::dnssec::ValidatedBy::Resolver,
                    problem: None,
                    at: name.clone(),
                    evidence: vec![format!("TLSA {name}: AD set by the resolver (on loopback)")],
                };
                (l.answer, Some(v))
            } else {
                let (v, m) = self.dns.validate_rrset(&name, RecordType::TLSA).await;
                let records = match (&l.answer, m) {
                    (Lookup::Unknown(_), Some(m))
                        if m.metadata.response_code
                            == hickory_resolver::proto::op::ResponseCode::NoError =>
                    {
                        let data: Vec<RData> = m
                            .answers
                            .iter()
                            .filter(|r| r.record_type() == RecordType::TLSA)
                            .map(|r| r.data.clone())
                            .collect();
                        if data.is_empty() {
                            Lookup::NoData
                        } else {
                            Lookup::Found(data)
                        }
                    }
                    _ => l.answer,
                };
                (records, Some(v))
            };
            let answer = match records {
                Lookup::Found(v) => Lookup::Found(
                    v.iter()
                        .filter_map(|d| match d {
                            RData::TLSA(t) => Some(Tlsa {
                                usage: t.cert_usage.into(),
                                selector: t.selector.into(),
                                matching: t.matching.into(),
                                data: crate::tls::hex(
                                    &t.cert_data[..t.cert_data.len().min(MAX_TLSA_DATA)],
                                ),
                                data_sha256: crate::tls::hex(
                                    ring::digest::digest(&ring::digest::SHA256, &t.cert_data)
                                        .as_ref(),
                                ),
                            }),
                            _ => None,
                        })
                        .take(16)
                        .collect(),
                ),
                Lookup::NxDomain => Lookup::NxDomain,
                Lookup::NoData => Lookup::NoData,
                Lookup::Unknown(r) => Lookup::Unknown(r),
            };
            out.push(TlsaLookup {
                host: host.clone(),
                name,
                answer,
                authenticated: l.authenticated,
                validation,
            });
        }
        out
    }

    async fn forward_confirms(&self, ip: IpAddr, names: &[String], deadline: Instant) -> bool {
        for name in names.iter().take(3) {
            if self.cfg.policy.exclusions.excludes_name(name) {
                continue;
            }
            if let Ok(Lookup::Found(ips)) =
                tokio::time::timeout_at(deadline, self.dns.addresses(name)).await
                && ips
                    .iter()
                    .any(|a| addr::canonical(*a) == addr::canonical(ip))
            {
                return true;
            }
        }
        false
    }
}

fn internal_error(ip: IpAddr, why: &str) -> HostObservation {
    HostObservation {
        ip,
        class: addr::classify(ip),
        ptr: Lookup::Unknown("not asked".into()),
        fcrdns: None,
        smtp: vec![SmtpObservation {
            port: 0,
            implicit_tls: false,
            status: ProbeStatus::InternalError,
            detail: Some(format!("probe task failed: {why}")),
            greeting: None,
            helo_fallback: false,
            capabilities: None,
            starttls: mxray_core::model::StartTls::NotTried,
            tls: None,
            capabilities_tls: None,
            vrfy: None,
            expn: None,
            transcript: Vec::new(),
            elapsed_ms: 0,
        }],
        relay: None,
        elapsed_ms: 0,
        reputation: Default::default(),
        roles: Vec::new(),
        mailbox: Vec::new(),
        web: Vec::new(),
        dns_server: None,
        ssh: None,
        tlsa: Vec::new(),
    }
}
