//! mxray's built-in lab: an authoritative DNS server for the `mxray.test` zone and emulated
//! SMTP servers, all on loopback addresses (127.77.0.0/24 by default) and unprivileged ports,
//! so `mxray demo` and the tests run without root and without touching any other network.
//!
//! Each lab domain shows one behaviour: `closed.mxray.test`, `open-relay.mxray.test`,
//! `accept-all.mxray.test`, `greylist.mxray.test`, `tarpit.mxray.test`, … (see [`Lab::domains`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dns;
mod mailauth;
pub mod sim;
pub mod smtp;
pub mod truth;
pub mod web;

pub use dns::{DnsServer, Fault, Live, Zone};
pub use mailauth::LAB_CERT_SPKI_SHA256;
pub use smtp::{Behaviour, SmtpServer};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
pub use web::{LAB_CA_PEM, PolicyServer};

/// Lab settings.
#[derive(Clone, Debug)]
pub struct LabOptions {
    /// First three octets of the lab addresses (must be in 127.0.0.0/8).
    pub net: [u8; 3],
    /// DNS port (0: any free port).
    pub dns_port: u16,
    /// SMTP port shared by all emulated servers (0: any free port).
    pub smtp_port: u16,
    /// HTTPS port of the MTA-STS policy hosts (0: any free port).
    pub https_port: u16,
    /// Greeting delay of the tarpit server.
    pub tarpit_delay: Duration,
    /// Extra domains whose MX points at an outside server (e.g. a real Postfix on loopback):
    /// `(domain, mx host name, address)`.
    pub extra: Vec<(String, String, IpAddr)>,
    /// Extra domains `bulk-N.mxray.test`, spread over the closed, open-relay, greylist and
    /// accept-all servers (resume and politeness tests).
    pub bulk: usize,
    /// Delay added to every DNS answer (a slow network).
    pub dns_delay: Duration,
    /// Extra delegations to outside name servers (e.g. a real BIND on loopback):
    /// `(domain, NS host name, address)`.
    pub extra_ns: Vec<(String, String, IpAddr)>,
    /// Extra addresses (e.g. `www.` names pointing at a real nginx): `(name, address)`.
    pub extra_addr: Vec<(String, IpAddr)>,
    /// `many-a.mxray.test`, whose one MX host `many-a-mx.mxray.test` has this many A records
    /// in the /16 given (`127.X.0.1`, `127.X.0.2`, … 250 per /24); the first
    /// [`MANY_LISTENERS`] of them run a closed SMTP server ([`Lab::many`]), the rest refuse.
    pub many_addresses: Option<([u8; 2], usize)>,
    /// Extra domains whose MX names an alias: `(domain, alias, canonical name, address)`
    /// gives `domain MX 10 alias`, `alias CNAME canonical`, `canonical A address`.
    pub extra_mx_cname: Vec<(String, String, String, IpAddr)>,
}

/// How many of the `many-a` addresses have a listening SMTP server.
pub const MANY_LISTENERS: usize = 64;

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            net: [127, 77, 0],
            dns_port: 0,
            smtp_port: 0,
            https_port: 0,
            tarpit_delay: Duration::from_secs(4),
            extra: Vec::new(),
            bulk: 0,
            dns_delay: Duration::ZERO,
            extra_ns: Vec::new(),
            extra_addr: Vec::new(),
            many_addresses: None,
            extra_mx_cname: Vec::new(),
        }
    }
}

/// A lab domain and what a scan should conclude about it.
#[derive(Clone, Debug)]
pub struct LabDomain {
    /// The domain.
    pub domain: String,
    /// What it demonstrates, in words.
    pub shows: &'static str,
}

/// The lab's block lists, as a `--dnsbl` value: each lab zone decoded with the codes of the
/// real list it imitates. Listings (the last octet is the lab server's):
///
/// | zone | name asked | answer | meaning |
/// |---|---|---|---|
/// | `zen.dnsbl.mxray.test` (Spamhaus ZEN codes) | open-relay `.11` | 127.0.0.2 + TXT | SBL |
/// | | accept-all `.12` | 127.0.0.4 + TXT | XBL |
/// | | auth-before-tls `.16` | 127.0.0.10 | PBL |
/// | | hostile `.20` | 127.0.0.3 + TXT with terminal escapes | SBL CSS |
/// | | greylist `.13` | 127.255.255.254 | refused (public resolver) |
/// | | 127.0.0.2 | 127.0.0.2 | the conventional test entry |
/// | `bl.dnsbl.mxray.test` (generic codes) | open-relay `.11` | 127.0.0.2 | listed |
/// | `dbl.dnsbl.mxray.test` (Spamhaus DBL codes) | `open-relay.mxray.test` | 127.0.1.2 + TXT | spam domain |
/// | | `accept-all-mx.mxray.test` | 127.0.1.4 | phishing domain |
/// | | `greylist.mxray.test` | 127.255.255.255 | refused (over quota) |
/// | `multi.dnsbl.mxray.test` (SURBL codes) | `closed.mxray.test` | 127.0.0.1 | refused (SURBL's own code) |
pub const DNSBL_ZONES: &str = "zen.dnsbl.mxray.test=spamhaus-zen,bl.dnsbl.mxray.test,dbl.dnsbl.mxray.test=spamhaus-dbl,multi.dnsbl.mxray.test=surbl";

fn dnsbl_zones(zone: &mut Zone, ip: impl Fn(u8) -> IpAddr) {
    let reversed = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}")
        }
        IpAddr::V6(_) => unreachable!("lab addresses are IPv4"),
    };
    // Invariant: every code passed below is an address literal written in this file.
    let code = |s: &str| -> IpAddr { s.parse().expect("code") };
    let mut list = |owner: String, answer: &str, txt: Option<&str>| {
        zone.addr(&owner, code(answer));
        if let Some(t) = txt {
            zone.txt(&owner, t);
        }
    };
    let zen = |octet: u8| format!("{}.zen.dnsbl.mxray.test", reversed(ip(octet)));
    list(
        zen(11),
        "127.0.0.2",
        Some("Listed by SBL, see https://check.spamhaus.org/sbl/query/SBL-LAB-11"),
    );
    list(
        zen(12),
        "127.0.0.4",
        Some("Listed by XBL, see https://check.spamhaus.org/query/ip/lab-12"),
    );
    list(zen(16), "127.0.0.10", None);
    list(
        zen(20),
        "127.0.0.3",
        Some("\u{1b}]0;pwned\u{7}\u{1b}[2J<script>alert(1)</script>"),
    );
    list(zen(13), "127.255.255.254", None);
    list("2.0.0.127.zen.dnsbl.mxray.test".into(), "127.0.0.2", None);
    list(
        format!("{}.bl.dnsbl.mxray.test", reversed(ip(11))),
        "127.0.0.2",
        None,
    );
    list(
        "open-relay.mxray.test.dbl.dnsbl.mxray.test".into(),
        "127.0.1.2",
        Some("https://check.spamhaus.org/dbl/lab"),
    );
    list(
        "accept-all-mx.mxray.test.dbl.dnsbl.mxray.test".into(),
        "127.0.1.4",
        None,
    );
    list(
        "greylist.mxray.test.dbl.dnsbl.mxray.test".into(),
        "127.255.255.255",
        None,
    );
    list(
        "closed.mxray.test.multi.dnsbl.mxray.test".into(),
        "127.0.0.1",
        None,
    );
}

/// A running lab.
#[derive(Debug)]
pub struct Lab {
    /// The DNS server (`--resolver` for the scanner).
    pub dns: DnsServer,
    /// The SMTP port of every emulated server (`--port smtp=` for the scanner).
    pub smtp_port: u16,
    /// The emulated servers.
    pub servers: Vec<SmtpServer>,
    /// The lab's domains, in a sensible scanning order.
    pub domains: Vec<LabDomain>,
    /// Counters over all emulated servers together (they share one /24).
    pub network: Arc<smtp::Stats>,
    /// The MTA-STS policy hosts (lab-CA certificate first, then the self-signed one).
    pub policy_hosts: Vec<PolicyServer>,
    /// Their HTTPS port (`--port https=` for the scanner, with `--ca-file` [`LAB_CA_PEM`]).
    pub https_port: u16,
    /// The listening servers among `many-a-mx.mxray.test`'s addresses
    /// ([`LabOptions::many_addresses`]).
    pub many: Vec<SmtpServer>,
    /// Changes the lab's DNS answers while it runs (see [`Lab::list_on_dnsbl`]).
    pub live: Live,
}

/// Paths from a domain into `banned.mxray.test` (scanned with `banned.mxray.test` excluded;
/// not in the lab's domain list): `cname-mx.mxray.test`'s MX host, `www.` and MTA-STS policy
/// host are CNAMEs into it and its SPF record includes `_spf.banned.mxray.test`;
/// `cname-sts.mxray.test`'s `_mta-sts` record is a CNAME into it. Every name inside
/// `banned.mxray.test` points at the open relay and the MTA-STS policy host.
fn exclusion_cases(zone: &mut Zone, ip: impl Fn(u8) -> IpAddr) {
    let relay = ip(11);
    let policy = ip(mailauth::POLICY_HOST);
    zone.mx("cname-mx.mxray.test", 10, "mx.cname-mx.mxray.test")
        .cname("mx.cname-mx.mxray.test", "mx.banned.mxray.test")
        .addr("mx.banned.mxray.test", relay)
        .txt(
            "cname-mx.mxray.test",
            "v=spf1 include:_spf.banned.mxray.test -all",
        )
        .txt("_spf.banned.mxray.test", "v=spf1 ip4:192.0.2.1 -all")
        .cname("www.cname-mx.mxray.test", "www.banned.mxray.test")
        .addr("www.banned.mxray.test", policy)
        .txt("_mta-sts.cname-mx.mxray.test", "v=STSv1; id=1")
        .cname("mta-sts.cname-mx.mxray.test", "mta-sts.banned.mxray.test")
        .addr("mta-sts.banned.mxray.test", policy);
    zone.mx("cname-sts.mxray.test", 10, "closed-mx.mxray.test")
        .cname(
            "_mta-sts.cname-sts.mxray.test",
            "_mta-sts.banned.mxray.test",
        )
        .txt("_mta-sts.banned.mxray.test", "v=STSv1; id=2")
        .addr("mta-sts.cname-sts.mxray.test", policy);
    zone.addr("banned.mxray.test", relay);
}

/// The emulated mail servers: (behaviour, last octet, label).
fn layout(tarpit: Duration) -> Vec<(Behaviour, u8, &'static str, &'static str)> {
    vec![
        (
            Behaviour::Closed,
            10,
            "closed",
            "a closed relay with STARTTLS (self-signed certificate)",
        ),
        (
            Behaviour::OpenRelay,
            11,
            "open-relay",
            "an open relay that also confirms users with VRFY",
        ),
        (
            Behaviour::AcceptAll,
            12,
            "accept-all",
            "accepts any user at its domains, bounces later (not a relay); reverse DNS not forward-confirmed",
        ),
        (
            Behaviour::Greylist,
            13,
            "greylist",
            "greylists every recipient (inconclusive); no reverse DNS",
        ),
        (
            Behaviour::Tarpit(tarpit),
            14,
            "tarpit",
            "greets only after a long delay (not testable)",
        ),
        (
            Behaviour::Garbage,
            15,
            "garbage",
            "answers with something that is not SMTP",
        ),
        (
            Behaviour::AuthBeforeTls,
            16,
            "auth-before-tls",
            "offers AUTH PLAIN/LOGIN in clear text, no STARTTLS",
        ),
        (
            Behaviour::Refuse,
            17,
            "refuse",
            "answers 421 at connect (not testable)",
        ),
        (
            Behaviour::Silent,
            18,
            "silent",
            "accepts the connection and never speaks (costs the deadline)",
        ),
        (
            Behaviour::EndlessLine,
            19,
            "endless",
            "sends one line that never ends (cut at the line cap)",
        ),
        (
            Behaviour::HostileBanner,
            20,
            "hostile",
            "a banner with terminal escapes and HTML",
        ),
    ]
}

impl Lab {
    /// Starts the lab.
    pub async fn start(opts: LabOptions) -> std::io::Result<Self> {
        let [a, b, c] = opts.net;
        let ip = |d: u8| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        let smtp_port = if opts.smtp_port == 0 {
            std::net::TcpListener::bind(SocketAddr::new(ip(10), 0))?
                .local_addr()?
                .port()
        } else {
            opts.smtp_port
        };
        let mut zone = Zone::default();
        let mut servers = Vec::new();
        let network: Arc<smtp::Stats> = Arc::default();
        let mut domains = Vec::new();
        for (behaviour, octet, label, shows) in layout(opts.tarpit_delay) {
            let domain = format!("{label}.mxray.test");
            let mx = format!("{label}-mx.mxray.test");
            zone.mx(&domain, 10, &mx).addr(&mx, ip(octet));
            match behaviour {
                Behaviour::Greylist => {}
                Behaviour::AcceptAll => {
                    zone.ptr(ip(octet), "elsewhere.mxray.test");
                }
                _ => {
                    zone.ptr(ip(octet), &mx);
                }
            }
            servers.push(
                SmtpServer::start_in_group(
                    SocketAddr::new(ip(octet), smtp_port),
                    behaviour,
                    &mx,
                    vec!["mxray.test".to_owned()],
                    Duration::ZERO,
                    network.clone(),
                )
                .await?,
            );
            domains.push(LabDomain { domain, shows });
        }
        for n in 1..=3 {
            let d = format!("shared-{n}.mxray.test");
            zone.mx(&d, 10, "closed-mx.mxray.test");
            domains.push(LabDomain {
                domain: d,
                shows: "shares closed-mx with other domains (probed once)",
            });
        }
        zone.addr("implicit.mxray.test", ip(10));
        domains.push(LabDomain {
            domain: "implicit.mxray.test".into(),
            shows: "no MX: mail goes to the domain's A record",
        });
        zone.mx("null-mx.mxray.test", 0, ".");
        domains.push(LabDomain {
            domain: "null-mx.mxray.test".into(),
            shows: "a null MX: accepts no mail",
        });
        zone.mx("private-mx.mxray.test", 10, "internal-mx.mxray.test")
            // Invariant: an address literal.
            .addr("internal-mx.mxray.test", "10.0.0.25".parse().expect("ip"));
        domains.push(LabDomain {
            domain: "private-mx.mxray.test".into(),
            shows: "MX in a private range (never contacted)",
        });
        zone.mx("dangling-mx.mxray.test", 10, "gone-mx.mxray.test");
        domains.push(LabDomain {
            domain: "dangling-mx.mxray.test".into(),
            shows: "MX host without an address",
        });
        zone.fault("servfail.mxray.test", Fault::ServFail);
        domains.push(LabDomain {
            domain: "servfail.mxray.test".into(),
            shows: "SERVFAIL: unknown, never \"no record\"",
        });
        domains.push(LabDomain {
            domain: "no-such-domain.mxray.test".into(),
            shows: "NXDOMAIN",
        });
        for n in 0..opts.bulk {
            let d = format!("bulk-{n}.mxray.test");
            let target = ["closed", "open-relay", "greylist", "accept-all"][n % 4];
            zone.mx(&d, 10, &format!("{target}-mx.mxray.test"));
            domains.push(LabDomain {
                domain: d,
                shows: "a bulk domain on a shared server",
            });
        }
        dnsbl_zones(&mut zone, ip);
        mailauth::add(&mut zone, ip(10), &mut domains);
        let (good, bad_cert) = mailauth::add_transport(&mut zone, ip, &mut domains);
        for (octet, label) in mailauth::DANE_SERVERS {
            servers.push(
                SmtpServer::start_in_group(
                    SocketAddr::new(ip(octet), smtp_port),
                    Behaviour::Closed,
                    &format!("mx.{label}.mxray.test"),
                    vec!["mxray.test".to_owned()],
                    Duration::ZERO,
                    network.clone(),
                )
                .await?,
            );
        }
        let first = PolicyServer::start(
            SocketAddr::new(ip(mailauth::POLICY_HOST), opts.https_port),
            web::Cert::LabCa,
            good,
        )
        .await?;
        let https_port = first.addr.port();
        let second = PolicyServer::start(
            SocketAddr::new(ip(mailauth::POLICY_HOST_BAD_CERT), https_port),
            web::Cert::SelfSigned,
            bad_cert,
        )
        .await?;
        for (domain, mx, addr) in &opts.extra {
            zone.mx(domain, 10, mx).addr(mx, *addr).ptr(*addr, mx);
        }
        for (domain, ns, addr) in &opts.extra_ns {
            zone.ns(domain, ns).addr(ns, *addr);
        }
        for (name, addr) in &opts.extra_addr {
            zone.addr(name, *addr);
        }
        let mut many = Vec::new();
        if let Some(([a, b], count)) = opts.many_addresses {
            zone.mx("many-a.mxray.test", 10, "many-a-mx.mxray.test");
            for i in 0..count {
                // 250 addresses per /24; `count` beyond 64,000 wraps (not useful anyway).
                let ip = IpAddr::V4(Ipv4Addr::new(a, b, (i / 250) as u8, (i % 250) as u8 + 1));
                zone.addr("many-a-mx.mxray.test", ip);
                if i < MANY_LISTENERS {
                    many.push(
                        SmtpServer::start_in_group(
                            SocketAddr::new(ip, smtp_port),
                            Behaviour::Closed,
                            "many-a-mx.mxray.test",
                            vec!["mxray.test".to_owned()],
                            Duration::ZERO,
                            Arc::default(),
                        )
                        .await?,
                    );
                }
            }
        }
        exclusion_cases(&mut zone, ip);
        for (domain, alias, canonical, addr) in &opts.extra_mx_cname {
            zone.mx(domain, 10, alias)
                .cname(alias, canonical)
                .addr(canonical, *addr);
        }
        let live = zone.live();
        let dns = DnsServer::start_with(
            SocketAddr::new(ip(53), opts.dns_port),
            zone,
            opts.dns_delay,
            true,
        )
        .await?;
        Ok(Self {
            dns,
            smtp_port,
            servers,
            domains,
            network,
            policy_hosts: vec![first, second],
            https_port,
            many,
            live,
        })
    }

    /// Lists `ip` on the lab's `zen.dnsbl.mxray.test` from now on (code 127.0.0.2, SBL), as
    /// a block list does between two checks of `mxray watch`.
    pub fn list_on_dnsbl(&self, ip: IpAddr) {
        let IpAddr::V4(v4) = ip else { return };
        let [a, b, c, d] = v4.octets();
        self.live.set_addr(
            &format!("{d}.{c}.{b}.{a}.zen.dnsbl.mxray.test"),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        );
    }

    /// Publishes `text` as `owner`'s only TXT record from now on, as an administrator editing
    /// SPF or DMARC between two checks of `mxray watch`.
    pub fn set_txt(&self, owner: &str, text: &str) {
        self.live.set_txt(owner, text);
    }

    /// The domain list, one per line, as `mxray scan` reads it.
    pub fn domain_list(&self) -> String {
        let mut s = String::from("# mxray lab domains\n");
        for d in &self.domains {
            s.push_str(&d.domain);
            s.push('\n');
        }
        s
    }

    /// The `--dnsbl` value that asks the lab's block lists (see [`DNSBL_ZONES`]).
    pub fn dnsbl_arg(&self) -> String {
        DNSBL_ZONES.to_owned()
    }

    /// The server with a behaviour name (`closed`, `open-relay`, …).
    pub fn server(&self, name: &str) -> Option<&SmtpServer> {
        self.servers.iter().find(|s| s.behaviour.name() == name)
    }
}
