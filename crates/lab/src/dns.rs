//! The lab's authoritative DNS server (UDP and TCP) for the lab zones.
//!
//! Written on hickory-proto's message codec rather than hickory-server's catalogue because the
//! lab must also misbehave on purpose (SERVFAIL, silence) and log every question, so tests can
//! prove that an excluded domain was never looked up.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// How a name misbehaves.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Fault {
    /// Answer SERVFAIL.
    ServFail,
    /// Never answer.
    Silent,
}

/// Zone data: records by (lowercase name without dot, type).
#[derive(Clone, Debug, Default)]
pub struct Zone {
    records: HashMap<(String, RecordType), Vec<RData>>,
    names: HashSet<String>,
    faults: HashMap<String, Fault>,
    /// Names at or under these answer with AD=1 when the query sets AD or DO.
    secure: Vec<String>,
    /// Names at or under these answer SERVFAIL unless the query sets CD (DS excepted).
    bogus: Vec<String>,
    /// Records changed while the server runs (shared by every clone of the zone).
    live: Live,
}

/// Records a test adds or removes while the lab runs (a listing added to a block list
/// mid-watch); they take precedence over the zone's fixed records of the same name and type.
#[derive(Clone, Debug, Default)]
pub struct Live(Arc<Mutex<Records>>);

type Records = HashMap<(String, RecordType), Vec<RData>>;

impl Live {
    /// Answers `owner`'s A (or AAAA) questions with `ip` from now on.
    pub fn set_addr(&self, owner: &str, ip: IpAddr) {
        let (t, d) = match ip {
            IpAddr::V4(v4) => (RecordType::A, RData::A(A(v4))),
            IpAddr::V6(v6) => (RecordType::AAAA, RData::AAAA(AAAA(v6))),
        };
        if let Ok(mut m) = self.0.lock() {
            m.insert((key(owner), t), vec![d]);
        }
    }

    /// Answers `owner`'s TXT questions with `text` from now on (a record edited mid-watch).
    pub fn set_txt(&self, owner: &str, text: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(
                (key(owner), RecordType::TXT),
                vec![RData::TXT(TXT::new(vec![text.to_owned()]))],
            );
        }
    }

    /// Removes what [`Live::set_addr`] added for `owner`.
    pub fn clear(&self, owner: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.retain(|(o, _), _| *o != key(owner));
        }
    }

    fn get(&self, k: &str, t: RecordType) -> Option<Vec<RData>> {
        self.0.lock().ok()?.get(&(k.to_owned(), t)).cloned()
    }
}

fn under(name: &str, suffixes: &[String]) -> bool {
    suffixes.iter().any(|s| {
        name == s
            || name
                .strip_suffix(s.as_str())
                .is_some_and(|p| p.ends_with('.'))
    })
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn name(s: &str) -> Name {
    // Invariant: the lab builds its names from fixed ASCII labels (lab only, never scanner input).
    let mut n = Name::from_ascii(s).expect("lab names are valid");
    n.set_fqdn(true);
    n
}

impl Zone {
    /// The handle to change this zone's records while a server answers from it.
    pub fn live(&self) -> Live {
        self.live.clone()
    }

    /// Adds a record.
    pub fn add(&mut self, owner: &str, data: RData) -> &mut Self {
        let k = key(owner);
        let mut cur = k.as_str();
        // Every ancestor exists too (empty non-terminals answer NODATA, not NXDOMAIN).
        loop {
            self.names.insert(cur.to_owned());
            match cur.split_once('.') {
                Some((_, rest)) => cur = rest,
                None => break,
            }
        }
        self.records
            .entry((k, data.record_type()))
            .or_default()
            .push(data);
        self
    }
    /// `owner A/AAAA ip`.
    pub fn addr(&mut self, owner: &str, ip: IpAddr) -> &mut Self {
        match ip {
            IpAddr::V4(v4) => self.add(owner, RData::A(A(v4))),
            IpAddr::V6(v6) => self.add(owner, RData::AAAA(AAAA(v6))),
        }
    }
    /// `owner MX pref exchange` (`"."` for a null MX).
    pub fn mx(&mut self, owner: &str, pref: u16, exchange: &str) -> &mut Self {
        let ex = if exchange == "." {
            Name::root()
        } else {
            name(exchange)
        };
        self.add(owner, RData::MX(MX::new(pref, ex)))
    }
    /// `owner NS target`.
    pub fn ns(&mut self, owner: &str, target: &str) -> &mut Self {
        self.add(owner, RData::NS(NS(name(target))))
    }
    /// `owner CNAME target`: a question for another type at `owner` is answered with the
    /// CNAME alone (as a server not authoritative for the target would), so the client must
    /// follow it.
    pub fn cname(&mut self, owner: &str, target: &str) -> &mut Self {
        self.add(owner, RData::CNAME(CNAME(name(target))))
    }
    /// `owner TXT text`.
    pub fn txt(&mut self, owner: &str, text: &str) -> &mut Self {
        self.add(owner, RData::TXT(TXT::new(vec![text.to_owned()])))
    }
    /// PTR for an address.
    pub fn ptr(&mut self, ip: IpAddr, target: &str) -> &mut Self {
        let owner = Name::from(ip).to_ascii();
        self.add(&owner, RData::PTR(PTR(name(target))))
    }
    /// Answers for `suffix` and the names under it as a validating resolver would for a
    /// signed zone with a chain of trust: AD=1 when the query asks (AD or DO set). The lab
    /// signs nothing: DNSKEY, DS and RRSIG are served as data, the AD bit is the behaviour.
    pub fn secure(&mut self, suffix: &str) -> &mut Self {
        self.secure.push(key(suffix));
        self
    }
    /// Answers for `suffix` and the names under it as a validating resolver does for a zone
    /// whose validation fails (bogus): SERVFAIL, unless the query sets CD (checking
    /// disabled). DS questions, answered by the parent zone, are not affected.
    pub fn bogus(&mut self, suffix: &str) -> &mut Self {
        self.bogus.push(key(suffix));
        self
    }
    /// Adds a record of a type the lab has no typed data for (DNSKEY, DS), as raw RDATA.
    pub fn raw(&mut self, owner: &str, rtype: RecordType, rdata: Vec<u8>) -> &mut Self {
        self.add(
            owner,
            RData::Unknown {
                code: rtype,
                rdata: hickory_proto::rr::rdata::NULL::with(rdata),
            },
        )
    }
    /// Makes a name misbehave.
    pub fn fault(&mut self, owner: &str, fault: Fault) -> &mut Self {
        self.faults.insert(key(owner), fault);
        self
    }

    /// The answer of a provider's name server (`mode`): names outside the zone data are
    /// refused, or resolved as an open resolver would (NXDOMAIN, AA=0, RA=1, the root's SOA);
    /// AXFR of a zone apex is refused unless allowed.
    fn answer_as(&self, req: &Message, mode: Mode) -> Option<Message> {
        let Mode::Provider(p) = mode else {
            return self.answer(req);
        };
        let q = req.queries.first()?;
        let k = key(&q.name().to_ascii());
        let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
        resp.metadata.message_type = MessageType::Response;
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        resp.add_query(q.clone());
        if q.query_type() == RecordType::AXFR {
            if !p.axfr || !self.records.contains_key(&(k.clone(), RecordType::NS)) {
                resp.metadata.response_code = ResponseCode::Refused;
                return Some(resp);
            }
            resp.metadata.authoritative = true;
            let soa = Record::from_rdata(q.name().clone(), 60, RData::SOA(apex_soa(&k)));
            resp.add_answer(soa.clone());
            let suffix = format!(".{k}");
            for ((owner, _), data) in &self.records {
                if owner == &k || owner.ends_with(&suffix) {
                    for d in data.iter().take(16) {
                        resp.add_answer(Record::from_rdata(name(owner), 60, d.clone()));
                    }
                }
            }
            resp.add_answer(soa);
            return Some(resp);
        }
        if self.names.contains(&k) || q.query_class() != hickory_proto::rr::DNSClass::IN {
            if q.query_class() == hickory_proto::rr::DNSClass::IN {
                return self.answer(req);
            }
            resp.metadata.response_code = ResponseCode::Refused;
            return Some(resp);
        }
        if p.open_resolver && req.metadata.recursion_desired {
            resp.metadata.recursion_available = true;
            resp.metadata.response_code = ResponseCode::NXDomain;
            let soa = SOA::new(
                name("a.root-servers.net"),
                name("nstld.verisign-grs.com"),
                1,
                1800,
                900,
                604800,
                86400,
            );
            resp.add_authority(Record::from_rdata(Name::root(), 60, RData::SOA(soa)));
        } else {
            resp.metadata.response_code = ResponseCode::Refused;
        }
        Some(resp)
    }

    fn answer(&self, req: &Message) -> Option<Message> {
        let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
        resp.metadata.message_type = MessageType::Response;
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        resp.metadata.authoritative = true;
        let Some(q) = req.queries.first() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return Some(resp);
        };
        resp.add_query(q.clone());
        let k = key(&q.name().to_ascii());
        match self.faults.get(&k) {
            Some(Fault::Silent) => return None,
            Some(Fault::ServFail) => {
                resp.metadata.response_code = ResponseCode::ServFail;
                resp.metadata.authoritative = false;
                return Some(resp);
            }
            None => {}
        }
        if under(&k, &self.bogus)
            && q.query_type() != RecordType::DS
            && !req.metadata.checking_disabled
        {
            resp.metadata.response_code = ResponseCode::ServFail;
            resp.metadata.authoritative = false;
            return Some(resp);
        }
        let dnssec_ok = req.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        if under(&k, &self.secure) && (req.metadata.authentic_data || dnssec_ok) {
            resp.metadata.authentic_data = true;
        }
        let live = self.live.get(&k, q.query_type());
        let data = live
            .as_ref()
            .or_else(|| self.records.get(&(k.clone(), q.query_type())))
            .or_else(|| self.records.get(&(k.clone(), RecordType::CNAME)));
        if let Some(data) = data {
            for d in data {
                resp.add_answer(Record::from_rdata(q.name().clone(), 60, d.clone()));
            }
        } else if q.query_type() == RecordType::SOA
            && self.records.contains_key(&(k.clone(), RecordType::NS))
        {
            // A delegated zone's apex: its SOA, made up (the lab serves the zone too).
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::SOA(apex_soa(&k)),
            ));
        } else {
            if !self.names.contains(&k) {
                resp.metadata.response_code = ResponseCode::NXDomain;
            }
            let soa = SOA::new(
                name("mxray.test"),
                name("hostmaster.mxray.test"),
                1,
                3600,
                600,
                86400,
                60,
            );
            resp.add_authority(Record::from_rdata(name("mxray.test"), 60, RData::SOA(soa)));
        }
        Some(resp)
    }
}

fn apex_soa(zone: &str) -> SOA {
    SOA::new(
        name(&format!("ns.{zone}")),
        name(&format!("hostmaster.{zone}")),
        1,
        3600,
        600,
        86400,
        60,
    )
}

/// How a server answers.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum Mode {
    /// The lab's server: every name, authoritatively (see [`Zone`]).
    #[default]
    Lab,
    /// A hosting provider's name server over the same data.
    Provider(ProviderNs),
}

/// A hosting provider's name server (the simulation's shared DNS hosting).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct ProviderNs {
    /// Resolves names outside its zones for anyone (answers NXDOMAIN with RA=1).
    pub open_resolver: bool,
    /// Hands out zones by AXFR.
    pub axfr: bool,
}

/// What one server saw: questions and connections, for politeness checks.
#[derive(Debug)]
pub struct DnsStats {
    /// UDP questions.
    pub udp_queries: AtomicU64,
    /// UDP questions being answered right now (with a delay) and the most at once.
    pub udp_in_flight: std::sync::atomic::AtomicUsize,
    /// The most UDP questions in flight at once.
    pub udp_max_in_flight: std::sync::atomic::AtomicUsize,
    /// TCP connections accepted.
    pub tcp_connections: AtomicU64,
    /// TCP connections open right now.
    pub tcp_open: std::sync::atomic::AtomicUsize,
    /// The most TCP connections open at once.
    pub tcp_max_open: std::sync::atomic::AtomicUsize,
    /// Shortest time between two TCP connections, microseconds (`u64::MAX`: fewer than two).
    pub tcp_min_interval_us: AtomicU64,
    /// AXFR questions.
    pub axfr: AtomicU64,
    last_tcp: Mutex<Option<std::time::Instant>>,
}

impl Default for DnsStats {
    fn default() -> Self {
        Self {
            udp_queries: AtomicU64::new(0),
            udp_in_flight: Default::default(),
            udp_max_in_flight: Default::default(),
            tcp_connections: AtomicU64::new(0),
            tcp_open: Default::default(),
            tcp_max_open: Default::default(),
            tcp_min_interval_us: AtomicU64::new(u64::MAX),
            axfr: AtomicU64::new(0),
            last_tcp: Mutex::new(None),
        }
    }
}

impl DnsStats {
    fn tcp_opened(&self) {
        self.tcp_connections.fetch_add(1, Ordering::Relaxed);
        let open = self.tcp_open.fetch_add(1, Ordering::SeqCst) + 1;
        self.tcp_max_open.fetch_max(open, Ordering::SeqCst);
        let now = std::time::Instant::now();
        if let Ok(mut last) = self.last_tcp.lock() {
            if let Some(prev) = *last {
                let us = now.duration_since(prev).as_micros() as u64;
                self.tcp_min_interval_us.fetch_min(us, Ordering::Relaxed);
            }
            *last = Some(now);
        }
    }
}

/// A running lab DNS server.
#[derive(Debug)]
pub struct DnsServer {
    /// Where it listens (UDP and TCP, same port).
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<(String, RecordType)>>>,
    served: Arc<AtomicU64>,
    /// Questions and connections, for politeness checks.
    pub stats: Arc<DnsStats>,
}

impl DnsServer {
    /// Starts serving `zone` on `addr` (port 0 picks one).
    pub async fn start(addr: SocketAddr, zone: Zone) -> std::io::Result<Self> {
        Self::start_with(addr, zone, Duration::ZERO, true).await
    }

    /// Starts serving with every UDP answer delayed by `delay` (a slow network) and with or
    /// without the question log (a benchmark does not want it growing).
    pub async fn start_with(
        addr: SocketAddr,
        zone: Zone,
        delay: Duration,
        log_queries: bool,
    ) -> std::io::Result<Self> {
        Self::start_shared(addr, Arc::new(zone), delay, log_queries, Mode::Lab).await
    }

    /// Starts a server over zone data shared with other servers, answering as `mode` says.
    pub async fn start_shared(
        addr: SocketAddr,
        zone: Arc<Zone>,
        delay: Duration,
        log_queries: bool,
        mode: Mode,
    ) -> std::io::Result<Self> {
        let udp = Arc::new(UdpSocket::bind(addr).await?);
        let addr = udp.local_addr()?;
        let tcp = TcpListener::bind(addr).await?;
        let stats = Arc::new(DnsStats::default());
        let log: Arc<Mutex<Vec<(String, RecordType)>>> = Arc::default();
        let served = Arc::new(AtomicU64::new(0));
        let (z, l, c, st) = (
            zone.clone(),
            log_queries.then(|| log.clone()),
            served.clone(),
            stats.clone(),
        );
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                c.fetch_add(1, Ordering::Relaxed);
                st.udp_queries.fetch_add(1, Ordering::Relaxed);
                if let Some(bytes) = handle(&z, l.as_deref(), &buf[..n], mode, &st) {
                    let out = if bytes.len() > 1232 {
                        truncated(&buf[..n]).unwrap_or(bytes)
                    } else {
                        bytes
                    };
                    if delay.is_zero() {
                        let _ = udp.send_to(&out, peer).await;
                    } else {
                        let udp = udp.clone();
                        let st = st.clone();
                        let now = st.udp_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        st.udp_max_in_flight.fetch_max(now, Ordering::SeqCst);
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = udp.send_to(&out, peer).await;
                            st.udp_in_flight.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                }
            }
        });
        let (z, l, st) = (zone, log_queries.then(|| log.clone()), stats.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else {
                    continue;
                };
                st.tcp_opened();
                let (z, l, st) = (z.clone(), l.clone(), st.clone());
                tokio::spawn(async move {
                    struct Open(Arc<DnsStats>);
                    impl Drop for Open {
                        fn drop(&mut self) {
                            self.0.tcp_open.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _open = Open(st.clone());
                    loop {
                        let Ok(len) = s.read_u16().await else { return };
                        let mut msg = vec![0u8; usize::from(len)];
                        if s.read_exact(&mut msg).await.is_err() {
                            return;
                        }
                        let Some(out) = handle(&z, l.as_deref(), &msg, mode, &st) else {
                            return;
                        };
                        let Ok(len) = u16::try_from(out.len()) else {
                            return;
                        };
                        if s.write_u16(len).await.is_err() || s.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(Self {
            addr,
            log,
            served,
            stats,
        })
    }

    /// UDP questions received so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Every question asked so far, as (name without dot, type).
    pub fn queries(&self) -> Vec<(String, RecordType)> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Whether any question mentioned `needle` (a name or a part of one).
    pub fn was_asked_about(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        self.queries().iter().any(|(n, _)| n.contains(&needle))
    }
}

fn handle(
    zone: &Zone,
    log: Option<&Mutex<Vec<(String, RecordType)>>>,
    bytes: &[u8],
    mode: Mode,
    stats: &DnsStats,
) -> Option<Vec<u8>> {
    let req = Message::from_vec(bytes).ok()?;
    if let (Some(q), Some(Ok(mut l))) = (req.queries.first(), log.map(Mutex::lock)) {
        l.push((key(&q.name().to_ascii()), q.query_type()));
    }
    if req
        .queries
        .first()
        .is_some_and(|q| q.query_type() == RecordType::AXFR)
    {
        stats.axfr.fetch_add(1, Ordering::Relaxed);
    }
    zone.answer_as(&req, mode)?.to_vec().ok()
}

fn truncated(req: &[u8]) -> Option<Vec<u8>> {
    let req = Message::from_vec(req).ok()?;
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.truncation = true;
    resp.metadata.authoritative = true;
    if let Some(q) = req.queries.first() {
        resp.add_query(q.clone());
    }
    resp.to_vec().ok()
}
