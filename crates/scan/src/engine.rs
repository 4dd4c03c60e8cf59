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
use crate::probe::web::WebProbe;
use crate::probe::{ProbeContext, ProbePlan, dnsserver};
use crate::resolve::Dns;
use crate::tls::TlsClient;
use futures::{Stream, StreamExt};
use mxray_core::addr;
use mxray_core::model::{DomainObservation, HostObservation, HostStatus, Lookup, MailboxProtocol};
use mxray_core::model::{HostRole, role_mask};
use mxray_core::relay::RelayParams;
use mxray_core::target::Domain;
use std::collections::{HashMap, HashSet};
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

/// Ports of the telnet, SMB, open-proxy and FTP probes.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ExtraPorts {
    /// Telnet (23).
    pub telnet: Vec<u16>,
    /// SMB: 445 direct, 139 through a NetBIOS session (139 is recognised by number).
    pub smb: Vec<u16>,
    /// HTTP proxies asked to CONNECT (3128, 8080).
    pub http_proxy: Vec<u16>,
    /// SOCKS proxies (1080; SOCKS5, then SOCKS4).
    pub socks: Vec<u16>,
    /// FTP (21).
    pub ftp: Vec<u16>,
}

impl Default for ExtraPorts {
    fn default() -> Self {
        Self {
            telnet: vec![23],
            smb: vec![445, 139],
            http_proxy: vec![3128, 8080],
            socks: vec![1080],
            ftp: vec![21],
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
    /// Zone-transfer policy: AXFR tried on at most this many of the zones that lead to one
    /// name-server address (`None`: every zone, as `check` does).
    pub axfr_per_server: Option<u32>,
    /// Per-zone SOA questions in flight to one name-server address at most.
    pub ns_queries_per_server: usize,
    /// Ask every domain's MX (and its hosts' addresses) ahead of the rest of its discovery
    /// and queue its mail hosts at once (issue 14). On by default; `MXRAY_MAIL_FIRST=0` in
    /// the environment turns it off (the benchmark's "before").
    pub mail_first: bool,
    /// SSH port probed on mail hosts; `None`: not probed.
    pub ssh_port: Option<u16>,
    /// Run the telnet, SMB, open-proxy and FTP probes on mail hosts (`--exposure-extra` in
    /// surveys; always in `check`).
    pub extra: bool,
    /// Their ports.
    pub extra_ports: ExtraPorts,
    /// Audit TLS versions and cipher suites on the mail ports where TLS was found (a few
    /// connections per port).
    pub tls_audit: bool,
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
            concurrency: 128,
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
            axfr_per_server: None,
            ns_queries_per_server: 4,
            mail_first: std::env::var_os("MXRAY_MAIL_FIRST").is_none_or(|v| v != "0"),
            ssh_port: Some(22),
            extra: false,
            extra_ports: ExtraPorts::default(),
            tls_audit: true,
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
    /// A domain was discovered (with its per-zone name-server answers). `probed` are the
    /// addresses queued or already probed for it.
    Domain {
        /// What discovery saw.
        obs: DomainObservation,
        /// Addresses whose host records belong to this domain.
        probed: Vec<IpAddr>,
    },
    /// A domain on the exclusion list: nothing was sent about it.
    Excluded(Domain),
    /// A host was probed. An address reached again in a new role after its record was sent
    /// is probed again with all its roles: the later record replaces the earlier one.
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
    plan: Arc<ProbePlan>,
    dns: Dns,
    tls: TlsClient,
    mail_auth: Arc<crate::mailauth::MailAuthContext>,
    nets: Arc<crate::pace::NetCap>,
    slots: Arc<tokio::sync::Semaphore>,
}

/// State carried over from an interrupted scan, or shared with other workers of a survey.
#[derive(Debug, Default)]
pub struct Seed {
    /// Addresses already probed and stored, with the roles ([`role_mask`] bits) their records
    /// cover (0: a record made before roles, which covers every role).
    pub probed: HashMap<IpAddr, u8>,
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
    /// The roles ([`role_mask`] bits) its links ask for.
    pub roles: u8,
}

/// Domains whose mail hosts are known ahead of the rest of their discovery, at most (memory:
/// a [`MailPart`] each, a few hundred bytes).
const MAIL_LOOKAHEAD: usize = 131_072;
/// Domains waiting for their per-zone name-server answers at most (then discovery waits).
const ZONE_STAGE_DEPTH: usize = 4096;
/// Names kept per address (host names that led to it).
const MAX_NAMES: usize = 8;
/// Zones kept per name-server address when every zone is tried (`check`).
const MAX_ZONES: usize = 64;

/// What the mail-hosts-first stage hands to the rest of a domain's discovery.
#[allow(clippy::large_enum_variant)]
enum Ahead {
    /// On the exclusion list: nothing is asked.
    Excluded,
    /// Its MX and mail hosts ([`discovery::mail_hosts`]).
    Found(MailPart),
    /// [`discovery::mail_hosts`] reached the discovery deadline.
    OutOfTime,
    /// Not asked ahead (`mail_first` off): the whole discovery comes later.
    NotAsked,
}

/// What [`discovery::mail_hosts`] found, without the observation's other (empty) fields: up
/// to [`MAIL_LOOKAHEAD`] of these wait for the rest of their discovery (measured at 200,000
/// domains: the whole observation made the lookahead cost 180 MB).
struct MailPart {
    mx: Lookup<Vec<mxray_core::model::Mx>>,
    mx_mode: mxray_core::model::MxMode,
    hosts: Vec<mxray_core::model::MailHost>,
    skipped: Vec<mxray_core::model::SkippedAddress>,
    capped: Vec<mxray_core::model::AddressCap>,
    /// The answers it was found from: the rest of the domain's discovery comes long after
    /// (up to [`MAIL_LOOKAHEAD`] domains), when the scan's cache may have forgotten them, and
    /// must not ask them again (SPF's `mx` and `a`, the web host).
    answers: crate::resolve::Answers,
}

impl MailPart {
    fn new(o: DomainObservation, answers: crate::resolve::Answers) -> Self {
        Self {
            mx: o.mx,
            mx_mode: o.mx_mode,
            hosts: o.hosts,
            skipped: o.skipped,
            capped: o.capped,
            answers,
        }
    }

    fn into_parts(self, domain: &Domain) -> (DomainObservation, crate::resolve::Answers) {
        let obs = DomainObservation {
            hosts: self.hosts,
            skipped: self.skipped,
            capped: self.capped,
            ..DomainObservation::bare(domain.to_string(), self.mx, self.mx_mode)
        };
        (obs, self.answers)
    }
}

/// Where an address's probing stands.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Phase {
    /// In the host queue: roles that arrive are added to the job.
    Queued,
    /// Being probed: roles that arrive are probed before the record is sent.
    Running,
    /// Its record was sent: a new role queues it again.
    Done,
    /// Another worker of the survey probes it.
    Foreign,
}

/// Everything known about one address the scan reached: the roles asked of it and what led
/// there. One per distinct address (memory grows with addresses, not domains).
#[derive(Debug)]
struct HostState {
    /// Roles asked for ([`role_mask`] bits).
    wanted: u8,
    /// Roles covered by the record last sent.
    done: u8,
    phase: Phase,
    names: Vec<String>,
    /// The MX (or implicit-MX) names among `names`: their TLSA records are asked.
    mx_names: Vec<String>,
    /// A domain this address serves: one that uses it as a mail host once one did (the relay
    /// battery's own domain).
    local_domain: String,
    local_is_mail: bool,
    /// Zones that led here as a name server (the first `axfr_per_server` get an AXFR).
    zones: Vec<String>,
    /// Zones beyond those.
    zones_untried: u32,
}

type Hosts = Arc<Mutex<HashMap<IpAddr, HostState>>>;

/// Lets a name server's probe wait for the zones it is to try AXFR on: woken when a zone is
/// added to any name server and when discovery ends.
#[derive(Debug, Default)]
struct ZoneWait {
    notify: tokio::sync::Notify,
    discovery_done: std::sync::atomic::AtomicBool,
    /// Name servers waiting now: at most `concurrency` wait, the others go with the zones
    /// they have (the host stage must not fill up with waiting jobs).
    waiting: std::sync::atomic::AtomicUsize,
}

/// What one domain asks of one address.
struct Want {
    ip: IpAddr,
    bits: u8,
    name: String,
    mx: bool,
    zone: Option<String>,
}

enum Act {
    New,
    Requeue,
    Nothing,
}

impl HostState {
    fn new(local_domain: String) -> Self {
        Self {
            wanted: 0,
            done: 0,
            phase: Phase::Queued,
            names: Vec::new(),
            mx_names: Vec::new(),
            local_domain,
            local_is_mail: false,
            zones: Vec::new(),
            zones_untried: 0,
        }
    }

    fn absorb(&mut self, w: &Want, domain: &str, zone_cap: usize) -> u8 {
        if w.mx && !self.local_is_mail {
            self.local_domain = domain.to_owned();
            self.local_is_mail = true;
        }
        let new = w.bits & !self.wanted;
        self.wanted |= w.bits;
        if self.names.len() < MAX_NAMES && !self.names.contains(&w.name) {
            self.names.push(w.name.clone());
        }
        if w.mx && self.mx_names.len() < 4 && !self.mx_names.contains(&w.name) {
            self.mx_names.push(w.name.clone());
        }
        if let Some(z) = &w.zone
            && !self.zones.iter().any(|x| x == z)
        {
            if self.zones.len() < zone_cap {
                self.zones.push(z.clone());
            } else {
                self.zones_untried = self.zones_untried.saturating_add(1);
            }
        }
        new
    }
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
            plan: Arc::new(ProbePlan::new(&cfg)),
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
        let (host_tx, host_rx) = futures::channel::mpsc::unbounded::<IpAddr>();
        let mut known: HashMap<IpAddr, HostState> = HashMap::new();
        for (ip, roles) in seed.probed {
            let covered = if roles == 0 { role_mask::ALL } else { roles };
            let mut st = HostState::new(String::new());
            st.wanted = covered;
            st.done = covered;
            st.phase = Phase::Done;
            known.insert(ip, st);
        }
        let mut requeue: Vec<IpAddr> = Vec::new();
        for p in seed.pending {
            let st = known
                .entry(p.ip)
                .or_insert_with(|| HostState::new(p.domain.clone()));
            if st.local_domain.is_empty() {
                st.local_domain = p.domain.clone();
            }
            // Links stored before roles existed were mail links.
            let bits = if p.roles == 0 { role_mask::MX } else { p.roles };
            for n in &p.names {
                st.absorb(
                    &Want {
                        ip: p.ip,
                        bits,
                        name: n.clone(),
                        mx: bits & role_mask::MAIL != 0,
                        zone: (bits & role_mask::NS != 0).then(|| p.domain.clone()),
                    },
                    &p.domain,
                    self.zone_cap(),
                );
            }
            st.wanted |= bits;
            if st.wanted & !st.done != 0 && !requeue.contains(&p.ip) {
                st.phase = Phase::Queued;
                requeue.push(p.ip);
            }
        }
        for ip in requeue {
            progress.hosts_queued.fetch_add(1, Ordering::Relaxed);
            let _ = host_tx.unbounded_send(ip);
        }
        let hosts: Hosts = Arc::new(Mutex::new(known));
        let zone_wait = Arc::new(ZoneWait::default());
        let gate = seed.gate;
        let zone_checks = self.cfg.dns_port.map(|port| {
            discovery::ZoneChecks::new(
                port,
                self.cfg.limits,
                self.cfg.host_deadline,
                self.cfg.ns_queries_per_server,
            )
        });
        // Domains in flight in discovery, over both of its stages (`--dns-concurrency`).
        let dns_slots = Arc::new(tokio::sync::Semaphore::new(self.cfg.dns_concurrency.max(1)));
        // Mail hosts first (issue 14): every domain's MX and its hosts' addresses are asked
        // ahead of the rest of its discovery (SPF, DMARC, DKIM, MTA-STS, …, web host, name
        // servers), and its mail hosts queued at once. The host stage then starts on every
        // mail host within the first seconds of a survey and runs alongside discovery,
        // instead of starting the hosts first seen late in the list after discovery ends.
        let (ahead_tx, ahead_rx) =
            futures::channel::mpsc::channel::<(Domain, Ahead)>(MAIL_LOOKAHEAD);
        let mail_first = self.cfg.mail_first;
        let lookahead = {
            let hosts = hosts.clone();
            let host_tx = host_tx.clone();
            let progress = progress.clone();
            let gate = gate.clone();
            let dns_slots = dns_slots.clone();
            async move {
                let mut ahead_tx = ahead_tx;
                let found = domains
                    .map(|d| {
                        let this = self.clone();
                        let hosts = hosts.clone();
                        let host_tx = host_tx.clone();
                        let progress = progress.clone();
                        let gate = gate.clone();
                        let dns_slots = dns_slots.clone();
                        async move {
                            if this.cfg.policy.exclusions.excludes_domain(&d) {
                                return (d, Ahead::Excluded);
                            }
                            if !mail_first {
                                return (d, Ahead::NotAsked);
                            }
                            let _slot = dns_slots.acquire_owned().await.ok();
                            let dns = this.dns.noting();
                            let obs = discovery::mail_hosts_by(
                                &dns,
                                &this.cfg.policy,
                                &d,
                                this.cfg.host_deadline,
                            )
                            .await;
                            match obs {
                                Some(obs) => {
                                    this.queue_hosts(&obs, &[], &hosts, &host_tx, &gate, &progress)
                                        .await;
                                    (d, Ahead::Found(MailPart::new(obs, dns.noted())))
                                }
                                None => (d, Ahead::OutOfTime),
                            }
                        }
                    })
                    .buffer_unordered((self.cfg.dns_concurrency / 4).max(1));
                let mut found = std::pin::pin!(found);
                while let Some(item) = found.next().await {
                    if futures::SinkExt::send(&mut ahead_tx, item).await.is_err() {
                        break;
                    }
                }
            }
        };
        let discovery = {
            let sink = sink.clone();
            let progress = progress.clone();
            let hosts = hosts.clone();
            let zone_wait = zone_wait.clone();
            async move {
                ahead_rx
                    .map(|(d, mail)| {
                        let this = self.clone();
                        let hosts = hosts.clone();
                        let host_tx = host_tx.clone();
                        let progress = progress.clone();
                        let gate = gate.clone();
                        let zone_wait = zone_wait.clone();
                        let dns_slots = dns_slots.clone();
                        async move {
                            let _slot = match mail {
                                Ahead::Excluded => return (Event::Excluded(d), Vec::new()),
                                _ => dns_slots.acquire_owned().await.ok(),
                            };
                            let deadline = this.cfg.host_deadline;
                            // With MX first, the rest of the domain's discovery is given the
                            // answers its MX stage got (`MailPart::answers`).
                            let (dns, mut obs) = match mail {
                                Ahead::Found(part) => {
                                    let (obs, answers) = part.into_parts(&d);
                                    let dns = this.dns.knowing(answers);
                                    let obs = discovery::complete_by(
                                        &dns,
                                        &this.cfg.policy,
                                        &this.mail_auth,
                                        obs,
                                        deadline,
                                    )
                                    .await;
                                    (dns, obs)
                                }
                                Ahead::NotAsked => {
                                    let obs = discovery::discover_by(
                                        &this.dns,
                                        &this.cfg.policy,
                                        &this.mail_auth,
                                        &d,
                                        deadline,
                                    )
                                    .await;
                                    (this.dns.clone(), obs)
                                }
                                Ahead::OutOfTime | Ahead::Excluded => (
                                    this.dns.clone(),
                                    discovery::out_of_time(d.as_str(), deadline),
                                ),
                            };
                            tracing::debug!(domain = %obs.domain, "domain discovered");
                            obs.dnsbl = this
                                .cfg
                                .reputation
                                .domain(&dns, &this.cfg.policy, &obs)
                                .await;
                            let exposure = discovery::ExposureDiscovery {
                                web: !this.cfg.web_ports.is_empty(),
                                dns_port: this.cfg.dns_port,
                            };
                            let ns_targets = discovery::discover_exposure(
                                &dns,
                                &this.cfg.policy,
                                &exposure,
                                &mut obs,
                            )
                            .await;
                            let probed = this
                                .queue_hosts(&obs, &ns_targets, &hosts, &host_tx, &gate, &progress)
                                .await;
                            if !ns_targets.is_empty() {
                                zone_wait.notify.notify_waiters();
                            }
                            (Event::Domain { obs, probed }, ns_targets)
                        }
                    })
                    .buffer_unordered(self.cfg.dns_concurrency.max(1))
                    // The per-zone name-server questions: a stage of their own, so a domain
                    // waiting for its turn at a busy shared name server holds no discovery
                    // slot. Its record is sent once they are answered (so a stored domain is
                    // always complete, and --resume stays exact).
                    .map(|(ev, ns_targets)| {
                        let this = self.clone();
                        let zone_checks = zone_checks.clone();
                        async move {
                            match (ev, zone_checks) {
                                (Event::Domain { mut obs, probed }, Some(z))
                                    if !ns_targets.is_empty() =>
                                {
                                    let checks =
                                        z.run(&this.cfg.policy, &obs.domain, &ns_targets).await;
                                    if let Some(ns) = obs.nameservers.as_mut() {
                                        ns.checks = checks;
                                    }
                                    Event::Domain { obs, probed }
                                }
                                (ev, _) => ev,
                            }
                        }
                    })
                    .buffer_unordered(ZONE_STAGE_DEPTH)
                    .for_each(|ev| {
                        progress.domains_done.fetch_add(1, Ordering::Relaxed);
                        let sink = sink.clone();
                        async move {
                            let _ = sink.send(ev).await;
                        }
                    })
                    .await;
                drop(host_tx);
                zone_wait.discovery_done.store(true, Ordering::SeqCst);
                zone_wait.notify.notify_waiters();
                progress
                    .discovery_ms
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
        };
        let host_stage = host_rx
            .map(|ip| {
                let this = self.clone();
                let hosts = hosts.clone();
                let zone_wait = zone_wait.clone();
                async move {
                    match tokio::spawn(async move { this.probe_host(ip, &hosts, &zone_wait).await })
                        .await
                    {
                        Ok(obs) => obs,
                        Err(e) => internal_error(ip, e.to_string()),
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
        tokio::join!(lookahead, discovery, host_stage);
        progress
            .hosts_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn zone_cap(&self) -> usize {
        self.cfg
            .axfr_per_server
            .map_or(MAX_ZONES, |n| (n as usize).max(1))
    }

    /// Records what this domain asks of each of its admitted addresses (roles, names, zones)
    /// and queues the addresses that need probing: new ones (claimed through the survey gate),
    /// and ones whose record was already sent but lacks a role now asked. Returns the
    /// addresses linked to the domain.
    async fn queue_hosts(
        &self,
        obs: &DomainObservation,
        ns_targets: &[(String, IpAddr)],
        hosts: &Hosts,
        host_tx: &futures::channel::mpsc::UnboundedSender<IpAddr>,
        gate: &Option<Arc<dyn HostGate>>,
        progress: &Progress,
    ) -> Vec<IpAddr> {
        for s in &obs.skipped {
            tracing::debug!(domain = %obs.domain, ip = %s.ip, via = %s.via, reason = ?s.reason, "host skipped");
        }
        let skipped: HashSet<IpAddr> = obs.skipped.iter().map(|s| s.ip).collect();
        let mut wants: Vec<Want> = Vec::new();
        let mail = if obs.mx_mode == mxray_core::model::MxMode::Implicit {
            role_mask::IMPLICIT_MX
        } else {
            role_mask::MX
        };
        for h in &obs.hosts {
            for ip in h.addresses.found().into_iter().flatten() {
                wants.push(Want {
                    ip: *ip,
                    bits: mail,
                    name: h.name.clone(),
                    mx: true,
                    zone: None,
                });
            }
        }
        if let Some(w) = &obs.web_host {
            for ip in w.addresses.found().into_iter().flatten() {
                wants.push(Want {
                    ip: *ip,
                    bits: role_mask::WEB,
                    name: w.name.clone(),
                    mx: false,
                    zone: None,
                });
            }
        }
        for (name, ip) in ns_targets {
            wants.push(Want {
                ip: *ip,
                bits: role_mask::NS,
                name: name.clone(),
                mx: false,
                zone: Some(obs.domain.clone()),
            });
        }
        let zone_cap = self.zone_cap();
        let mut probed: Vec<IpAddr> = Vec::new();
        let mut new: Vec<IpAddr> = Vec::new();
        for w in wants.iter().filter(|w| !skipped.contains(&w.ip)) {
            if !probed.contains(&w.ip) {
                probed.push(w.ip);
            }
            let act = hosts
                .lock()
                .map(|mut m| match m.get_mut(&w.ip) {
                    None => {
                        let mut st = HostState::new(obs.domain.clone());
                        st.absorb(w, &obs.domain, zone_cap);
                        m.insert(w.ip, st);
                        Act::New
                    }
                    Some(st) => {
                        let added = st.absorb(w, &obs.domain, zone_cap);
                        if st.phase == Phase::Done && added != 0 {
                            st.phase = Phase::Queued;
                            Act::Requeue
                        } else {
                            Act::Nothing
                        }
                    }
                })
                .unwrap_or(Act::Nothing);
            match act {
                Act::New if !new.contains(&w.ip) => new.push(w.ip),
                Act::Requeue => {
                    progress.hosts_queued.fetch_add(1, Ordering::Relaxed);
                    let _ = host_tx.unbounded_send(w.ip);
                }
                _ => {}
            }
        }
        for ip in new {
            let ours = match gate {
                Some(g) => g.claim(ip).await,
                None => true,
            };
            if ours {
                tracing::debug!(%ip, domain = %obs.domain, "host first seen");
                progress.hosts_queued.fetch_add(1, Ordering::Relaxed);
                let _ = host_tx.unbounded_send(ip);
            } else if let Ok(mut m) = hosts.lock()
                && let Some(st) = m.get_mut(&ip)
            {
                tracing::debug!(%ip, "host skipped: another worker of the survey probes it");
                st.phase = Phase::Foreign;
            }
        }
        probed
    }

    /// Probes one address for every role asked of it: the common part (PTR, forward
    /// confirmation, block lists), then each role's probes. Roles that arrive while it runs
    /// are probed before the record is sent.
    async fn probe_host(&self, ip: IpAddr, hosts: &Hosts, zone_wait: &ZoneWait) -> HostObservation {
        // A name server and nothing else waits (holding no slot) until it has as many zones
        // as it may try AXFR on, or discovery has ended: then its zone transfers are tried on
        // up to `--axfr-per-server` zones, not only on the first one that led to it.
        let cap = self.zone_cap();
        let waiter = zone_wait.waiting.fetch_add(1, Ordering::SeqCst) < self.cfg.concurrency.max(1);
        if waiter {
            loop {
                let notified = zone_wait.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let ready = zone_wait.discovery_done.load(Ordering::SeqCst)
                    || hosts.lock().map_or(true, |m| {
                        m.get(&ip)
                            .is_none_or(|st| st.wanted != role_mask::NS || st.zones.len() >= cap)
                    });
                if ready {
                    break;
                }
                notified.await;
            }
        }
        zone_wait.waiting.fetch_sub(1, Ordering::SeqCst);
        // Held for the whole host: caps concurrent connections into one network.
        let _net_slot = self.nets.acquire(ip).await;
        let _probe_slot = self.slots.acquire().await;
        let started = Instant::now();
        let deadline = started + self.cfg.host_deadline;
        let snapshot = |hosts: &Hosts| {
            hosts.lock().ok().and_then(|mut m| {
                m.get_mut(&ip).map(|st| {
                    st.phase = Phase::Running;
                    (
                        st.wanted,
                        st.names.clone(),
                        st.mx_names.clone(),
                        st.local_domain.clone(),
                        dnsserver::ServerZones {
                            zones: st.zones.clone(),
                            axfr_cap: self.cfg.axfr_per_server,
                            untried: st.zones_untried,
                        },
                    )
                })
            })
        };
        let Some((wanted, names, _, _, _)) = snapshot(hosts) else {
            return internal_error(ip, "address not registered".into());
        };
        tracing::debug!(%ip, roles = ?HostRole::from_mask(wanted), ?names, "host probes started");
        let ptr = tokio::time::timeout_at(deadline, self.dns.ptr(ip))
            .await
            .unwrap_or_else(|_| Lookup::Unknown("host deadline".into()));
        let fcrdns = match &ptr {
            Lookup::Found(names) => Some(self.forward_confirms(ip, names, deadline).await),
            _ => None,
        };
        let reputation = (self.cfg.reputation)
            .host(&self.dns, &self.cfg.policy, ip, &ptr, &names, deadline)
            .await;
        let mut obs = HostObservation {
            ip,
            class: addr::classify(ip),
            ptr,
            fcrdns,
            smtp: Vec::new(),
            relay: None,
            elapsed_ms: 0,
            reputation: Box::new(reputation),
            roles: Vec::new(),
            mailbox: Vec::new(),
            web: Vec::new(),
            dns_server: None,
            ssh: None,
            tlsa: Vec::new(),
            status: HostStatus::Complete,
            extra: Default::default(),
            tls_audit: Vec::new(),
        };
        let mut done = 0u8;
        while let Some((w, names, mx_names, local_domain, zones)) = snapshot(hosts) {
            let wanted = w;
            if wanted & !done == 0 {
                break;
            }
            let web_budget = crate::probe::web::HostBudget::new(
                crate::probe::web::MAX_HOST_REQUESTS,
                self.cfg.web_ports.len() * WebProbe::fixed_requests(&self.cfg.web_paths),
            );
            let cx = ProbeContext {
                ip,
                names,
                // An address from a --hosts list serves no known domain.
                local_domain: (!local_domain.is_empty()).then_some(local_domain),
                ehlo_name: self.cfg.ehlo_name.clone(),
                policy: self.cfg.policy.clone(),
                limits: self.cfg.limits,
                deadline,
                tls: self.tls.clone(),
                web_budget,
                zones,
            };
            self.probe_roles(&cx, wanted, done, &mx_names, &mut obs)
                .await;
            done |= wanted;
            // Sent as done under the lock: a role added after this queues the address again.
            let finished = hosts
                .lock()
                .map(|mut m| match m.get_mut(&ip) {
                    Some(st) if st.wanted & !done == 0 => {
                        st.phase = Phase::Done;
                        st.done = done;
                        true
                    }
                    Some(_) => false,
                    None => true,
                })
                .unwrap_or(true);
            if finished {
                break;
            }
        }
        obs.roles = HostRole::from_mask(done);
        obs.elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(
            %ip,
            elapsed_ms = obs.elapsed_ms,
            smtp = obs.smtp.len(),
            mailbox = obs.mailbox.len(),
            web = obs.web.len(),
            "host probes finished"
        );
        obs
    }

    /// Runs the plan's probes for the roles in `wanted` not yet covered by `done`, into
    /// `obs`: mail hosts get DANE's TLSA answers and the mail probes (SMTP, the relay
    /// battery, POP3/IMAP, SSH), mail and web hosts the web probes (once), name servers the
    /// DNS-server probe. A name-server-only or web-only address is never sent SMTP. One
    /// probe at a time: at most one connection to the address, whatever the roles.
    async fn probe_roles(
        &self,
        cx: &ProbeContext,
        wanted: u8,
        done: u8,
        mx_names: &[String],
        obs: &mut HostObservation,
    ) {
        let mail = wanted & role_mask::MAIL != 0 && done & role_mask::MAIL == 0;
        let web_covered = done & (role_mask::MAIL | role_mask::WEB) != 0;
        let web = !web_covered && (mail || wanted & role_mask::WEB != 0);
        let ns = wanted & role_mask::NS != 0 && done & role_mask::NS == 0;
        if mail && self.cfg.dane {
            obs.tlsa = tokio::time::timeout_at(cx.deadline, self.tlsa(mx_names))
                .await
                .unwrap_or_default();
        }
        let plan = &*self.plan;
        let lists = [(mail, &plan.mail), (web, &plan.web), (ns, &plan.ns)];
        for (_, list) in lists.into_iter().filter(|(on, _)| *on) {
            for p in list {
                crate::probe::run_into(p.as_ref(), cx, obs).await;
            }
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
            let answer = records.map(|v| {
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
                                ring::digest::digest(&ring::digest::SHA256, &t.cert_data).as_ref(),
                            ),
                        }),
                        _ => None,
                    })
                    .take(16)
                    .collect()
            });
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

/// The record of a host whose task failed inside the scanner (a panic outside any probe):
/// its status says so; nothing else is claimed about the host.
fn internal_error(ip: IpAddr, detail: String) -> HostObservation {
    HostObservation {
        ip,
        class: addr::classify(ip),
        ptr: Lookup::Unknown("not asked".into()),
        fcrdns: None,
        smtp: Vec::new(),
        relay: None,
        elapsed_ms: 0,
        reputation: Default::default(),
        roles: Vec::new(),
        mailbox: Vec::new(),
        web: Vec::new(),
        dns_server: None,
        ssh: None,
        tlsa: Vec::new(),
        tls_audit: Vec::new(),
        status: HostStatus::InternalError {
            probe: None,
            port: None,
            detail,
        },
        extra: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::RecordType;

    /// Every question one domain's survey sends to a lab name server that logs them, through
    /// a resolver whose cache keeps 2 answers: it forgets the domain's MX while its mail
    /// hosts' addresses are asked, as a survey's cache (65,536 answers) does when MX first
    /// runs up to 131,072 domains ahead of the rest of discovery.
    async fn questions(mail_first: bool) -> Vec<(String, u16)> {
        let mut zone = mxray_lab::Zone::default();
        zone.mx("d.test", 10, "mx.d.test")
            .addr("mx.d.test", IpAddr::from([127, 0, 0, 25]))
            .txt("d.test", "v=spf1 mx -all");
        let server = mxray_lab::DnsServer::start(([127, 0, 0, 1], 0).into(), zone)
            .await
            .unwrap();
        let dns = Dns::new(Some(server.addr), Duration::from_secs(5))
            .unwrap()
            .with_cache_capacity(2);
        let cfg = ScanConfig {
            mail_first,
            dns_port: None,
            ..ScanConfig::default()
        };
        let (tx, mut rx) = mpsc::channel(16);
        let domains = futures::stream::iter([Domain::parse("d.test").unwrap()]);
        Engine::new(cfg, dns)
            .run(domains, tx, Arc::new(Progress::default()))
            .await;
        // The survey saw the domain's mail host (a loopback address: skipped, never
        // contacted), and SPF's `mx` got the domain's MX.
        let Some(Event::Domain { obs, .. }) = rx.recv().await else {
            panic!("no domain record");
        };
        assert_eq!(obs.hosts.len(), 1);
        assert_eq!(obs.skipped.len(), 1);
        let spf_mx = obs.mail_auth.as_ref().is_some_and(|m| {
            m.dns
                .iter()
                .any(|a| a.name == "d.test" && a.rtype == "MX" && a.answer.found().is_some())
        });
        assert!(spf_mx, "{:?}", obs.mail_auth);
        assert!(rx.recv().await.is_none(), "no host may be probed");
        let mut log: Vec<(String, u16)> = server
            .queries()
            .into_iter()
            .map(|(n, t)| (n, u16::from(t)))
            .collect();
        log.sort();
        log
    }

    /// Issue 14: MX first asked 2.9% more questions than without it, because the rest of a
    /// domain's discovery (SPF's `mx`) asked again what the MX stage had asked and the cache
    /// had forgotten since. Each of those questions is asked once, either way, and MX first
    /// asks exactly what discovery without it asks.
    #[tokio::test]
    async fn mx_stage_answers_are_not_asked_again_by_the_rest_of_discovery() {
        let on = questions(true).await;
        let off = questions(false).await;
        let count = |log: &[(String, u16)], name: &str, t: RecordType| {
            log.iter()
                .filter(|(n, r)| n == name && *r == u16::from(t))
                .count()
        };
        for (mode, log) in [("MX first", &on), ("without", &off)] {
            assert_eq!(count(log, "d.test", RecordType::MX), 1, "{mode}: {log:?}");
            assert_eq!(count(log, "mx.d.test", RecordType::A), 1, "{mode}: {log:?}");
            assert_eq!(
                count(log, "mx.d.test", RecordType::AAAA),
                1,
                "{mode}: {log:?}"
            );
        }
        assert_eq!(on, off);
    }
}
