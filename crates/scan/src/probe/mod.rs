//! Probes: one trait, one module per dialogue (zgrab2's module shape), one registry.
//!
//! A probe never fails: whatever happens on the wire becomes a status plus whatever data was
//! gathered up to that point, with the transcript as evidence. The engine knows probes only
//! through [`Probe`]: [`ProbePlan::new`] turns a scan configuration into the probes to run per
//! host role, the engine runs them one after another on each address (one connection per
//! address at a time), skips those whose dependency is not met ([`Probe::ready`], given what
//! the earlier probes recorded), and folds each output into the host record
//! ([`ProbeOutput::fold`]). A panic inside a probe becomes the host's
//! [`HostStatus::InternalError`] (naming the probe), never a made-up service record.
//!
//! Adding a probe (CONTRIBUTING.md lists the files): a [`ProbeKind`], a [`ProbeOutput`]
//! variant (both matched exhaustively: the compiler points at every place to extend), its
//! module here implementing [`Probe`], and its registration in [`ProbePlan::new`] (the
//! `every_kind_is_planned` test fails until it is there).

pub mod dnsserver;
pub mod ftp;
pub mod mailbox;
pub mod proxy;
pub mod relay;
pub mod smb;
pub mod smtp;
pub mod ssh;
pub mod telnet;
pub mod tlsaudit;
pub mod web;

use crate::engine::ScanConfig;
use crate::net::{self, Limits, LineConn, NetError, Policy};
use crate::tls::TlsClient;
use mxray_core::model::{
    Dir, DnsServerObservation, FtpObservation, HostObservation, HostStatus, MailboxObservation,
    ProbeStatus, ProxyObservation, SmbObservation, SmtpObservation, SshObservation,
    TelnetObservation, TlsAuditObservation, TranscriptLine, WebObservation,
};
use mxray_core::relay::RelayObservation;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use tokio::time::Instant;

/// A boxed future, so probes can live in one list.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = ProbeOutput> + Send + 'a>>;

/// Every kind of probe, with its stable name (used in the host status and the docs).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub enum ProbeKind {
    /// SMTP dialogue on one port.
    Smtp,
    /// The open-relay battery (depends on SMTP's greeting).
    Relay,
    /// POP3 or IMAP on one port.
    Mailbox,
    /// HTTP or HTTPS on one port.
    Web,
    /// SSH identification.
    Ssh,
    /// The DNS server on the address.
    DnsServer,
    /// Telnet banner (`--exposure-extra`).
    Telnet,
    /// SMB negotiation (`--exposure-extra`).
    Smb,
    /// Open HTTP/SOCKS proxy (`--exposure-extra`; depends on SMTP's greeting).
    Proxy,
    /// FTP greeting and anonymous login (`--exposure-extra`).
    Ftp,
    /// The TLS version and cipher audit of one TLS-capable mail port (depends on the SMTP,
    /// POP3 or IMAP probe of that port having found TLS).
    TlsAudit,
}

impl ProbeKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ProbeKind; 11] = [
        Self::Smtp,
        Self::Relay,
        Self::Mailbox,
        Self::Web,
        Self::Ssh,
        Self::DnsServer,
        Self::Telnet,
        Self::Smb,
        Self::Proxy,
        Self::Ftp,
        Self::TlsAudit,
    ];

    /// The stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Relay => "smtp-relay",
            Self::Mailbox => "mailbox",
            Self::Web => "web",
            Self::Ssh => "ssh",
            Self::DnsServer => "dns-server",
            Self::Telnet => "telnet",
            Self::Smb => "smb",
            Self::Proxy => "proxy",
            Self::Ftp => "ftp",
            Self::TlsAudit => "tls-audit",
        }
    }
}

/// What a probe produced.
#[derive(Clone, Debug)]
pub enum ProbeOutput {
    /// An SMTP service observation.
    Smtp(SmtpObservation),
    /// An open-relay battery.
    Relay(RelayObservation),
    /// A POP3 or IMAP service.
    Mailbox(MailboxObservation),
    /// An HTTP or HTTPS service.
    Web(WebObservation),
    /// An SSH identification.
    Ssh(SshObservation),
    /// A DNS server.
    DnsServer(DnsServerObservation),
    /// A telnet banner.
    Telnet(TelnetObservation),
    /// An SMB negotiation.
    Smb(SmbObservation),
    /// Open-proxy tests on one port (SOCKS5 then SOCKS4 give two).
    Proxy(Vec<ProxyObservation>),
    /// An FTP greeting and the anonymous-login question.
    Ftp(FtpObservation),
    /// A TLS version and cipher audit.
    TlsAudit(TlsAuditObservation),
}

impl ProbeOutput {
    /// The kind of probe that made it.
    pub fn kind(&self) -> ProbeKind {
        match self {
            Self::Smtp(_) => ProbeKind::Smtp,
            Self::Relay(_) => ProbeKind::Relay,
            Self::Mailbox(_) => ProbeKind::Mailbox,
            Self::Web(_) => ProbeKind::Web,
            Self::Ssh(_) => ProbeKind::Ssh,
            Self::DnsServer(_) => ProbeKind::DnsServer,
            Self::Telnet(_) => ProbeKind::Telnet,
            Self::Smb(_) => ProbeKind::Smb,
            Self::Proxy(_) => ProbeKind::Proxy,
            Self::Ftp(_) => ProbeKind::Ftp,
            Self::TlsAudit(_) => ProbeKind::TlsAudit,
        }
    }

    /// Puts the output into the host record (the one place each kind lands).
    pub fn fold(self, obs: &mut HostObservation) {
        match self {
            Self::Smtp(o) => obs.smtp.push(o),
            Self::Relay(r) => obs.relay = Some(r),
            Self::Mailbox(m) => obs.mailbox.push(m),
            Self::Web(w) => obs.web.push(w),
            Self::Ssh(s) => obs.ssh = Some(s),
            Self::DnsServer(d) => obs.dns_server = Some(d),
            Self::Telnet(t) => obs.extra.telnet.push(t),
            Self::Smb(m) => obs.extra.smb.push(m),
            Self::Proxy(p) => obs.extra.proxy.extend(p),
            Self::Ftp(f) => obs.extra.ftp.push(f),
            Self::TlsAudit(a) => obs.tls_audit.push(a),
        }
    }
}

/// Everything a probe may use: the target, the bounds, the network policy, and the per-host
/// state some probes share.
#[derive(Clone, Debug)]
pub struct ProbeContext {
    /// The address probed.
    pub ip: IpAddr,
    /// Host names that led here (MX names), used for TLS name checks and relay forms.
    pub names: Vec<String>,
    /// A domain this host receives mail for (relay control recipient).
    pub local_domain: Option<String>,
    /// Our EHLO name: identifies the scanner to the operator reading their logs.
    pub ehlo_name: String,
    /// Who may be contacted.
    pub policy: Policy,
    /// Per-connection bounds.
    pub limits: Limits,
    /// The host's deadline.
    pub deadline: Instant,
    /// TLS client.
    pub tls: TlsClient,
    /// The host's web request budget, shared by its web probes.
    pub web_budget: web::HostBudget,
    /// Zones that led here as a name server (the DNS-server probe's zone transfers).
    pub zones: dnsserver::ServerZones,
}

impl ProbeContext {
    /// Opens the dialogue with `port` on the probed address: a TCP connection through the
    /// network policy (scope, pacing), within the connect timeout and the host deadline,
    /// wrapped in a line connection bounded by the context's limits and keeping a transcript.
    pub(crate) async fn open(&self, port: u16) -> Result<LineConn, NetError> {
        self.open_with(port, self.limits).await
    }

    /// [`Self::open`] with other bounds for the line connection (the connection itself is
    /// still made under the context's limits).
    pub(crate) async fn open_with(&self, port: u16, limits: Limits) -> Result<LineConn, NetError> {
        let addr = SocketAddr::new(self.ip, port);
        let tcp = net::connect(&self.policy, addr, &self.limits, self.deadline).await?;
        Ok(LineConn::new(Box::new(tcp), limits, self.deadline))
    }
}

/// The transcript's note of a connection that could not be made.
pub(crate) fn connect_failed(addr: SocketAddr, e: &NetError) -> TranscriptLine {
    TranscriptLine {
        ms: 0,
        dir: Dir::Note,
        text: format!("connect {addr}: {e}"),
    }
}

/// Why a dialogue stopped before its end: the transport, or an answer not in the protocol.
pub(crate) enum Stop {
    Net(NetError),
    Mismatch(String),
}

impl From<NetError> for Stop {
    fn from(e: NetError) -> Self {
        Self::Net(e)
    }
}

impl Stop {
    /// The status and the detail an observation records.
    pub(crate) fn outcome(self) -> (ProbeStatus, Option<String>) {
        match self {
            Self::Net(e) => e.outcome(),
            Self::Mismatch(why) => (ProbeStatus::ProtocolMismatch, Some(why)),
        }
    }
}

/// `impl Probe` for a probe that is one port and an `async fn(&ProbeContext, u16)` whose
/// observation is the [`ProbeOutput`] variant named like its [`ProbeKind`].
macro_rules! port_probe {
    ($probe:ty, $kind:ident, $run:path) => {
        impl $crate::probe::Probe for $probe {
            fn kind(&self) -> $crate::probe::ProbeKind {
                $crate::probe::ProbeKind::$kind
            }
            fn port(&self) -> u16 {
                self.port
            }
            fn run<'a>(
                &'a self,
                cx: &'a $crate::probe::ProbeContext,
                _: &'a mxray_core::model::HostObservation,
            ) -> $crate::probe::ProbeFuture<'a> {
                Box::pin(
                    async move { $crate::probe::ProbeOutput::$kind($run(cx, self.port).await) },
                )
            }
        }
    };
}
pub(crate) use port_probe;

/// One dialogue with one service.
pub trait Probe: Send + Sync + std::fmt::Debug {
    /// Which kind of probe this is.
    fn kind(&self) -> ProbeKind;
    /// The port this instance talks to.
    fn port(&self) -> u16;
    /// Whether it runs, given what the earlier probes of the host recorded (a dependent
    /// probe, such as the relay battery after SMTP's greeting, says no when its dependency
    /// is not met; it is then skipped and records nothing).
    fn ready(&self, _so_far: &HostObservation) -> bool {
        true
    }
    /// Runs against `cx.ip`. Never fails; never exceeds `cx.deadline`. `so_far` is the host
    /// record with the outputs of the probes that ran before this one.
    fn run<'a>(&'a self, cx: &'a ProbeContext, so_far: &'a HostObservation) -> ProbeFuture<'a>;
}

/// The probes run on an address, per host role, in order. Built once per scan from the
/// configuration (the registry: every probe is created here and nowhere else).
#[derive(Debug, Default)]
pub struct ProbePlan {
    /// Mail hosts (MX and implicit MX): SMTP, the relay battery, POP3/IMAP, SSH.
    pub mail: Vec<Box<dyn Probe>>,
    /// Web hosts, and mail hosts after `mail`: HTTP and HTTPS.
    pub web: Vec<Box<dyn Probe>>,
    /// Name servers: the DNS-server probe.
    pub ns: Vec<Box<dyn Probe>>,
}

impl ProbePlan {
    /// The probes `cfg` asks for.
    pub fn new(cfg: &ScanConfig) -> Self {
        let mut plan = Self::default();
        for p in &cfg.smtp_ports {
            plan.mail.push(Box::new(smtp::SmtpProbe {
                port: p.port,
                implicit_tls: p.implicit_tls,
            }));
        }
        // The battery runs on the first plain SMTP port, once its greeting was 220.
        if let (Some(params), Some(port)) =
            (&cfg.relay, cfg.smtp_ports.iter().find(|p| !p.implicit_tls))
        {
            plan.mail.push(Box::new(relay::RelayProbe {
                port: port.port,
                params: params.clone(),
            }));
        }
        for p in &cfg.mailbox_ports {
            plan.mail.push(Box::new(mailbox::MailboxProbe {
                protocol: p.protocol,
                port: p.port,
                implicit_tls: p.implicit_tls,
            }));
        }
        // After the services: each audit runs only where its port's probe found TLS.
        if cfg.tls_audit {
            plan.mail.extend(tlsaudit::TlsAuditProbe::planned(cfg));
        }
        if let Some(port) = cfg.ssh_port {
            plan.mail.push(Box::new(ssh::SshProbe { port }));
        }
        if cfg.extra {
            let e = &cfg.extra_ports;
            for &port in &e.telnet {
                plan.mail.push(Box::new(telnet::TelnetProbe { port }));
            }
            for &port in &e.smb {
                plan.mail.push(Box::new(smb::SmbProbe { port }));
            }
            for &port in &e.ftp {
                plan.mail.push(Box::new(ftp::FtpProbe { port }));
            }
            // Aimed at the host's own plain SMTP ports (its greeting comes through the tunnel).
            let smtp_ports: Vec<u16> = (cfg.smtp_ports.iter())
                .filter(|p| !p.implicit_tls)
                .map(|p| p.port)
                .collect();
            let kinds = [
                (&e.http_proxy, mxray_core::proxy::ProxyKind::HttpConnect),
                (&e.socks, mxray_core::proxy::ProxyKind::Socks5),
            ];
            for (ports, kind) in kinds {
                for &port in ports {
                    plan.mail.push(Box::new(proxy::ProxyProbe {
                        port,
                        kind,
                        smtp_ports: smtp_ports.clone(),
                    }));
                }
            }
        }
        for p in &cfg.web_ports {
            plan.web.push(Box::new(web::WebProbe {
                port: p.port,
                https: p.https,
                paths: cfg.web_paths.clone(),
            }));
        }
        if let Some(port) = cfg.dns_port {
            plan.ns.push(Box::new(dnsserver::DnsServerProbe {
                port,
                recursion_name: cfg.recursion_name.clone(),
            }));
        }
        plan
    }

    /// Every probe of the plan.
    pub fn all(&self) -> impl Iterator<Item = &dyn Probe> {
        self.mail
            .iter()
            .chain(&self.web)
            .chain(&self.ns)
            .map(|p| p.as_ref())
    }
}

/// Runs `probe` and folds its output into `obs`; a panic becomes the host's internal-error
/// status (the earlier probes' records are kept).
pub async fn run_into(probe: &dyn Probe, cx: &ProbeContext, obs: &mut HostObservation) {
    use futures::FutureExt;
    if !probe.ready(obs) {
        return;
    }
    let out = std::panic::AssertUnwindSafe(probe.run(cx, obs))
        .catch_unwind()
        .await;
    match out {
        Ok(o) => o.fold(obs),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            // The first failure is kept: it is the one to fix.
            if obs.status.is_complete() {
                obs.status = HostStatus::InternalError {
                    probe: Some(probe.kind().name().to_owned()),
                    port: Some(probe.port()),
                    detail,
                };
            }
        }
    }
}

/// A context for probing a test server on loopback (unit tests of the probes).
#[cfg(test)]
pub(crate) fn test_context(ip: std::net::IpAddr, name: &str) -> ProbeContext {
    ProbeContext {
        ip,
        names: vec![name.into()],
        local_domain: None,
        ehlo_name: "mxray-test.invalid".into(),
        policy: crate::net::Policy {
            allowed_classes: vec![mxray_core::addr::AddressClass::Loopback],
            ..crate::net::Policy::default()
        },
        limits: crate::net::Limits {
            step_timeout: std::time::Duration::from_secs(5),
            ..crate::net::Limits::default()
        },
        deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(60),
        tls: crate::tls::TlsClient::new(),
        web_budget: web::HostBudget::default(),
        zones: dnsserver::ServerZones::default(),
    }
}

/// A scripted line server on 127.0.0.1:0 for one connection (unit tests of the probes and
/// of the canaries' mailbox sessions): `greeting`, then `answer(line)` (raw bytes, sent as
/// they are) after each line received. Returns its address and the lines it received.
#[cfg(test)]
pub(crate) async fn scripted_server(
    greeting: &'static str,
    answer: impl Fn(&str) -> Vec<u8> + Send + 'static,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = got.clone();
    tokio::spawn(async move {
        let Ok((s, _)) = listener.accept().await else {
            return;
        };
        let (r, mut w) = s.into_split();
        let mut lines = BufReader::new(r).lines();
        let _ = w.write_all(format!("{greeting}\r\n").as_bytes()).await;
        while let Ok(Some(l)) = lines.next_line().await {
            log.lock().unwrap().push(l.clone());
            if w.write_all(&answer(&l)).await.is_err() {
                return;
            }
        }
    });
    (addr, got)
}

/// A host record with nothing probed yet (unit tests of the probes).
#[cfg(test)]
pub(crate) fn empty_host(ip: std::net::IpAddr) -> HostObservation {
    HostObservation {
        ip,
        class: mxray_core::addr::classify(ip),
        ptr: mxray_core::model::Lookup::NoData,
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
        status: HostStatus::Complete,
        extra: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry test: every kind of probe is created by [`ProbePlan::new`] for the
    /// default configuration (a probe that is off by default turns its switch on here).
    #[test]
    fn every_kind_is_planned() {
        // Every switch on (`--exposure-extra` is off by default in surveys).
        let cfg = ScanConfig {
            extra: true,
            ..ScanConfig::default()
        };
        let plan = ProbePlan::new(&cfg);
        for kind in ProbeKind::ALL {
            assert!(
                plan.all().any(|p| p.kind() == kind),
                "{} is not created by ProbePlan::new",
                kind.name()
            );
        }
        let schema = include_str!("../../../../docs/schema.md");
        for kind in ProbeKind::ALL {
            assert!(
                schema.contains(&format!("`{}`", kind.name())),
                "docs/schema.md does not name the probe `{}`",
                kind.name()
            );
        }
    }

    /// A probe that panics: the host gets the internal-error status naming it, and what the
    /// probes before it recorded stays.
    #[derive(Debug)]
    struct Panics;
    impl Probe for Panics {
        fn kind(&self) -> ProbeKind {
            ProbeKind::Ssh
        }
        fn port(&self) -> u16 {
            2222
        }
        fn run<'a>(&'a self, _: &'a ProbeContext, _: &'a HostObservation) -> ProbeFuture<'a> {
            Box::pin(async { panic!("probe bug") })
        }
    }

    #[tokio::test]
    async fn a_panicking_probe_is_an_internal_error_not_a_record() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let cx = test_context(ip, "x.test");
        let mut obs = empty_host(ip);
        obs.ssh = Some(SshObservation {
            port: 22,
            status: mxray_core::model::ProbeStatus::Success,
            detail: None,
            identification: Some("SSH-2.0-x".into()),
            pre_banner: vec![],
        });
        run_into(&Panics, &cx, &mut obs).await;
        assert_eq!(
            obs.status,
            HostStatus::InternalError {
                probe: Some("ssh".into()),
                port: Some(2222),
                detail: "probe bug".into()
            }
        );
        assert!(obs.smtp.is_empty());
        assert_eq!(obs.ssh.as_ref().unwrap().port, 22, "earlier record kept");
    }

    #[test]
    fn relay_waits_for_a_220_greeting() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let r = relay::RelayProbe {
            port: 25,
            params: Default::default(),
        };
        let mut obs = empty_host(ip);
        assert!(!r.ready(&obs), "no SMTP record: no battery");
        let smtp = |code| SmtpObservation {
            port: 25,
            implicit_tls: false,
            status: mxray_core::model::ProbeStatus::Success,
            detail: None,
            greeting: Some(mxray_core::smtp::Reply {
                code,
                lines: vec!["mx".into()],
            }),
            helo_fallback: false,
            capabilities: None,
            starttls: mxray_core::model::StartTls::NotTried,
            tls: None,
            capabilities_tls: None,
            vrfy: None,
            expn: None,
            transcript: vec![],
            elapsed_ms: 0,
        };
        obs.smtp.push(smtp(554));
        assert!(!r.ready(&obs), "554 greeting: no battery");
        obs.smtp[0] = smtp(220);
        assert!(r.ready(&obs));
    }
}
