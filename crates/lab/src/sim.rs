//! A simulated Internet for benchmarks: N domains spread Zipf-like over M mail-server
//! addresses on loopback (the busiest address serving tens of thousands of domains, as shared
//! hosting does), ~2% of listed domains nonexistent, SPF/DMARC records on a share of them, and
//! per-address behaviour and round-trip latency (median ~60 ms, tail to 300 ms).
//!
//! Deterministic: the same options give the same network (a small xorshift generator, so no
//! random-number dependency).

use crate::dns::{DnsServer, Mode, ProviderNs, Zone};
use crate::smtp::{Behaviour, SmtpServer};
use crate::truth::Truth;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The simulation's IP block-list zone (Spamhaus ZEN codes).
pub const DNSBL_IP_ZONE: &str = "zen.dnsbl.bench.test";
/// The simulation's domain block-list zone (Spamhaus DBL codes).
pub const DNSBL_DOMAIN_ZONE: &str = "dbl.dnsbl.bench.test";
/// `--dnsbl` value for scanning the simulation: its two mirror zones.
pub fn dnsbl_arg() -> String {
    format!("{DNSBL_IP_ZONE}=spamhaus-zen,{DNSBL_DOMAIN_ZONE}=spamhaus-dbl")
}

/// Simulation size and shape.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Domains in the list.
    pub domains: usize,
    /// Mail-server addresses.
    pub ips: usize,
    /// First two octets of the server addresses (127.x.0.0/16).
    pub net: [u8; 2],
    /// Third octet of the first address (0: the /16 from its start; a test in a shared /16
    /// starts at its own /24).
    pub first_block: u8,
    /// DNS port (0: any).
    pub dns_port: u16,
    /// SMTP port of every server (0: any).
    pub smtp_port: u16,
    /// Zipf exponent of domains over addresses.
    pub zipf: f64,
    /// Median round-trip latency.
    pub latency_median: Duration,
    /// Name-server addresses of the hosting providers the domains' NS records share
    /// (Zipf-like, as real DNS hosting is; 0, the default: no NS records). They serve DNS
    /// only, on the port of the simulation's resolver (scan with `--port dns=<that port>`).
    pub ns_ips: usize,
    /// Web-only addresses: the `www.` hosts of a third of the domains (nothing listens;
    /// default 0).
    pub web_ips: usize,
    /// Seed.
    pub seed: u64,
    /// Share of the open relays (4.5% of addresses) that relay everything, the nonexistent
    /// users at their own domains too (their own domain is not local to them); the others
    /// refuse unknown local users. Default one half.
    pub relay_everything: f64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            domains: 200_000,
            ips: 2_000,
            net: [127, 80],
            first_block: 0,
            dns_port: 0,
            smtp_port: 0,
            zipf: 1.0,
            latency_median: Duration::from_millis(60),
            ns_ips: 0,
            web_ips: 0,
            seed: 1,
            relay_everything: 0.5,
        }
    }
}

/// A running simulation.
#[derive(Debug)]
pub struct Simulation {
    /// The DNS server.
    pub dns: DnsServer,
    /// Mail servers (addresses that refuse connections have none).
    pub servers: Vec<SmtpServer>,
    /// SMTP port.
    pub smtp_port: u16,
    /// The domain list, as `mxray scan` reads it.
    pub list: String,
    /// Domains per address, busiest first (for the record).
    pub busiest: usize,
    /// The findings a correct scan reports (addresses that serve no domain are left out:
    /// nothing leads a scan to them). Write it with [`crate::truth::write`].
    pub truth: Vec<Truth>,
    /// The providers' name servers (shared DNS hosting), one per address.
    pub name_servers: Vec<NameServer>,
}

/// One provider name server of the simulation.
#[derive(Debug)]
pub struct NameServer {
    /// Its host name.
    pub name: String,
    /// How it answers.
    pub behaviour: ProviderNs,
    /// Zones it serves.
    pub zones: usize,
    /// The server (its counters: `server.stats`).
    pub server: DnsServer,
}

/// The simulation's shared DNS hosting: which provider name server each domain uses.
struct DnsHosting {
    /// Cumulative Zipf weights over the name-server addresses.
    cum: Vec<f64>,
    zones: Vec<usize>,
}

/// Name-server address `k` (127.x.240.k+1 …): a /24 of their own, apart from the mail hosts.
fn ns_ip(net: [u8; 2], k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        net[0],
        net[1],
        240 + (k / 250) as u8,
        (k % 250 + 1) as u8,
    ))
}

/// Web-only address `k` (127.x.248.k+1 …).
fn web_ip(net: [u8; 2], k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        net[0],
        net[1],
        248 + (k / 250) as u8,
        (k % 250 + 1) as u8,
    ))
}

/// How provider name server `k` behaves: authoritative and refusing recursion and AXFR,
/// except one in 25 (the 8th, 33rd, …) that is also an open resolver and one in 16 (the 4th,
/// 20th, 36th, …) that hands out its zones.
pub fn provider_behaviour(k: usize) -> ProviderNs {
    ProviderNs {
        open_resolver: k % 25 == 7,
        axfr: k % 16 == 3,
    }
}

impl DnsHosting {
    fn new(n: usize) -> Self {
        let weights: Vec<f64> = (0..n).map(|i| 1.0 / (i + 1) as f64).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cum = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Self {
            cum,
            zones: vec![0; n],
        }
    }

    /// Gives `domain` an NS record at one provider's name server (and, for a third of the
    /// domains, a `www.` host on a web-only address).
    fn delegate(&mut self, o: &SimOptions, zone: &mut Zone, rng: &mut Rng, domain: &str) {
        if !self.cum.is_empty() {
            let u = rng.unit();
            let k = self.cum.partition_point(|c| *c < u).min(self.cum.len() - 1);
            self.zones[k] += 1;
            zone.ns(domain, &format!("ns{k}.hosting.bench.test"));
        }
        if o.web_ips > 0 && rng.unit() < 0.33 {
            let k = (rng.next() % o.web_ips as u64) as usize;
            zone.addr(&format!("www.{domain}"), web_ip(o.net, k));
        }
    }

    /// The name servers' own records.
    fn publish(&self, o: &SimOptions, zone: &mut Zone) {
        for k in 0..self.cum.len() {
            let name = format!("ns{k}.hosting.bench.test");
            zone.addr(&name, ns_ip(o.net, k))
                .ptr(ns_ip(o.net, k), &name);
        }
    }

    /// Starts one authoritative server per name-server address over the shared zone data,
    /// with a small delay per answer so that questions in flight can be counted.
    async fn start(
        &self,
        o: &SimOptions,
        zone: &Arc<Zone>,
        port: u16,
    ) -> std::io::Result<Vec<NameServer>> {
        let mut out = Vec::new();
        for (k, zones) in self.zones.iter().enumerate() {
            let behaviour = provider_behaviour(k);
            let server = DnsServer::start_shared(
                SocketAddr::new(ns_ip(o.net, k), port),
                zone.clone(),
                Duration::from_millis(2),
                false,
                Mode::Provider(behaviour),
            )
            .await?;
            out.push(NameServer {
                name: format!("ns{k}.hosting.bench.test"),
                behaviour,
                zones: *zones,
                server,
            });
        }
        Ok(out)
    }
}

impl Simulation {
    /// Ground truth for the name servers, one JSON object per line (the format of
    /// `<list>.truth.jsonl`): each open resolver (`dns.open_recursion`) and each server that
    /// hands out zones to whoever asks (`dns.axfr_allowed`), by address.
    pub fn dns_truth(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ns in self.name_servers.iter().filter(|n| n.zones > 0) {
            let ip = ns.server.addr.ip();
            if ns.behaviour.open_resolver {
                out.push(format!(r#"{{"finding":"dns.open_recursion","ip":"{ip}"}}"#));
            }
            if ns.behaviour.axfr {
                out.push(format!(r#"{{"finding":"dns.axfr_allowed","ip":"{ip}"}}"#));
            }
        }
        out
    }

    /// What the name servers saw: `(UDP questions, most UDP questions in flight at one
    /// address, TCP connections, most TCP connections open at one address, shortest
    /// interval between two TCP connections to one address in ms (None: never two), most
    /// AXFR questions at one address, AXFR questions in all, busiest server's zones)`.
    pub fn name_server_load(&self) -> NameServerLoad {
        let mut l = NameServerLoad::default();
        use std::sync::atomic::Ordering::Relaxed;
        for ns in &self.name_servers {
            let s = &ns.server.stats;
            l.udp_queries += s.udp_queries.load(Relaxed);
            l.max_udp_in_flight = l.max_udp_in_flight.max(s.udp_max_in_flight.load(Relaxed));
            l.tcp_connections += s.tcp_connections.load(Relaxed);
            l.max_tcp_open = l.max_tcp_open.max(s.tcp_max_open.load(Relaxed));
            let iv = s.tcp_min_interval_us.load(Relaxed);
            if iv != u64::MAX {
                l.min_tcp_interval_ms = Some(
                    l.min_tcp_interval_ms
                        .map_or(iv as f64 / 1000.0, |m: f64| m.min(iv as f64 / 1000.0)),
                );
            }
            let axfr = s.axfr.load(Relaxed);
            l.axfr += axfr;
            l.max_axfr = l.max_axfr.max(axfr);
            l.busiest_zones = l.busiest_zones.max(ns.zones);
        }
        l
    }
}

/// The providers' name servers' counters, summed or maximised over addresses.
#[derive(Clone, Debug, Default)]
pub struct NameServerLoad {
    /// UDP questions in all.
    pub udp_queries: u64,
    /// Most UDP questions in flight at one address.
    pub max_udp_in_flight: usize,
    /// TCP connections in all.
    pub tcp_connections: u64,
    /// Most TCP connections open at once at one address.
    pub max_tcp_open: usize,
    /// Shortest interval between two TCP connections to one address, ms.
    pub min_tcp_interval_ms: Option<f64>,
    /// AXFR questions in all.
    pub axfr: u64,
    /// Most AXFR questions at one address.
    pub max_axfr: u64,
    /// Zones of the busiest name server.
    pub busiest_zones: usize,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Behaviour by share of addresses: open relays ~4.5% (the 2002 survey; `relay_everything` of
/// them relay every recipient, the rest refuse unknown local users), relays reachable only
/// through an address trick 1% (half the percent hack, half a quoted local part), servers that
/// accept any user at their own domains but relay nothing 3%, greylisting 5%, tarpits
/// (greeting after 5–20 s) 2%, silent 1%, refused connections 2%, the rest closed, half of them
/// with STARTTLS.
fn behaviour(r: f64, relay_everything: f64, rng: &mut Rng) -> Option<Behaviour> {
    Some(match r {
        r if r < 0.045 => {
            if rng.unit() < relay_everything {
                Behaviour::RelayEverything
            } else {
                Behaviour::OpenRelay
            }
        }
        r if r < 0.050 => Behaviour::PercentHackRelay,
        r if r < 0.055 => Behaviour::QuotedRelay,
        r if r < 0.085 => Behaviour::AcceptAll,
        r if r < 0.135 => Behaviour::Greylist,
        r if r < 0.155 => Behaviour::Tarpit(Duration::from_millis(5_000 + rng.next() % 15_000)),
        r if r < 0.165 => Behaviour::Silent,
        r if r < 0.185 => return None,
        r if r < 0.59 => Behaviour::Closed,
        _ => Behaviour::ClosedPlain,
    })
}

/// The host findings a correct scan reports on a server of this behaviour.
fn expected(b: &Behaviour) -> &'static [&'static str] {
    const RELAY: &str = "smtp.open_relay";
    const BACKSCATTER: &str = "smtp.accepts_nonexistent_recipients";
    match b {
        Behaviour::RelayEverything => &[RELAY, BACKSCATTER],
        Behaviour::OpenRelay | Behaviour::PercentHackRelay | Behaviour::QuotedRelay => &[RELAY],
        Behaviour::AcceptAll => &[BACKSCATTER],
        _ => &[],
    }
}

impl Simulation {
    /// Builds and starts the network. Binding 2,000 loopback addresses needs no privilege.
    pub async fn start(o: SimOptions) -> std::io::Result<Self> {
        let mut rng = Rng(o.seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let ip = |i: usize| {
            IpAddr::V4(Ipv4Addr::new(
                o.net[0],
                o.net[1],
                o.first_block.wrapping_add((i / 250) as u8),
                (i % 250 + 1) as u8,
            ))
        };
        let smtp_port = if o.smtp_port == 0 {
            std::net::TcpListener::bind(SocketAddr::new(ip(0), 0))?
                .local_addr()?
                .port()
        } else {
            o.smtp_port
        };
        let mut zone = Zone::default();
        let mut servers = Vec::new();
        let mut expect: Vec<(usize, &'static [&'static str])> = Vec::new();
        for i in 0..o.ips {
            let name = format!("mx{i}.bench.test");
            zone.addr(&name, ip(i)).ptr(ip(i), &name);
            // A block-list mirror (Spamhaus ZEN's conventions): ~5% of addresses listed.
            if rng.unit() < 0.05 {
                let IpAddr::V4(v4) = ip(i) else {
                    unreachable!("the simulation is IPv4")
                };
                let [a, b, c, d] = v4.octets();
                let q = format!("{d}.{c}.{b}.{a}.{DNSBL_IP_ZONE}");
                zone.addr(&q, IpAddr::from([127, 0, 0, 2]))
                    .txt(&q, "listed by the bench simulation");
            }
            let Some(b) = behaviour(rng.unit(), o.relay_everything, &mut rng) else {
                continue;
            };
            expect.push((i, expected(&b)));
            // Log-normal-ish latency: median as given, clipped to [10 ms, 300 ms].
            let z = (rng.unit() + rng.unit() + rng.unit() - 1.5) * 2.0;
            let ms = (o.latency_median.as_millis() as f64 * (0.6 * z).exp()).clamp(10.0, 300.0);
            let latency = Duration::from_millis(ms as u64);
            servers.push(
                SmtpServer::start_with_latency(
                    SocketAddr::new(ip(i), smtp_port),
                    b,
                    &name,
                    vec!["bench.test".into()],
                    latency,
                )
                .await?,
            );
        }
        // Zipf weights: cumulative table, then binary search per domain.
        let weights: Vec<f64> = (0..o.ips)
            .map(|i| 1.0 / ((i + 1) as f64).powf(o.zipf))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut cum = Vec::with_capacity(o.ips);
        let mut acc = 0.0;
        for w in &weights {
            acc += w / total;
            cum.push(acc);
        }
        let mut list = String::with_capacity(o.domains * 20);
        let mut per_ip = vec![0usize; o.ips];
        let mut hosting = DnsHosting::new(o.ns_ips);
        hosting.publish(&o, &mut zone);
        // What the SPF and DMARC checks must say about each existing domain (scored against
        // peers too: bench/peers.sh).
        let mut domain_truth = Vec::new();
        for d in 0..o.domains {
            let domain = format!("d{d}.bench.test");
            list.push_str(&domain);
            list.push('\n');
            if rng.unit() < 0.02 {
                continue; // NXDOMAIN
            }
            let u = rng.unit();
            let i = cum.partition_point(|c| *c < u).min(o.ips - 1);
            per_ip[i] += 1;
            zone.mx(&domain, 10, &format!("mx{i}.bench.test"));
            hosting.delegate(&o, &mut zone, &mut rng, &domain);
            let r = rng.unit();
            if r < 0.55 {
                zone.txt(&domain, "v=spf1 mx -all");
            } else if r < 0.65 {
                zone.txt(&domain, "v=spf1 mx ~all");
                domain_truth.push(Truth::domain("spf.softfail_all", &domain));
            } else if r < 0.68 {
                zone.txt(&domain, "v=spf1 +all");
                domain_truth.push(Truth::domain("spf.pass_all", &domain));
            } else {
                domain_truth.push(Truth::domain("spf.missing", &domain));
            }
            if rng.unit() < 0.01 {
                let q = format!("{domain}.{DNSBL_DOMAIN_ZONE}");
                zone.addr(&q, IpAddr::from([127, 0, 1, 2]))
                    .txt(&q, "spam domain (bench simulation)");
            }
            if rng.unit() < 0.35 {
                zone.txt(
                    &format!("_dmarc.{domain}"),
                    "v=DMARC1; p=none; rua=mailto:dmarc@bench.test",
                );
                domain_truth.push(Truth::domain("dmarc.policy_none", &domain));
            } else {
                domain_truth.push(Truth::domain("dmarc.missing", &domain));
            }
        }
        let zone = Arc::new(zone);
        let dns = DnsServer::start_shared(
            SocketAddr::new(ip(0), o.dns_port),
            zone.clone(),
            Duration::ZERO,
            false,
            Mode::Lab,
        )
        .await?;
        let truth = expect
            .into_iter()
            .filter(|(i, _)| per_ip[*i] > 0)
            .flat_map(|(i, ids)| ids.iter().map(move |id| Truth::ip(id, ip(i))))
            .chain(domain_truth)
            .collect();
        let name_servers = hosting.start(&o, &zone, dns.addr.port()).await?;
        Ok(Self {
            dns,
            servers,
            smtp_port,
            list,
            busiest: per_ip.iter().copied().max().unwrap_or(0),
            truth,
            name_servers,
        })
    }
}
