//! DNS questions, answered by hickory's resolver and mapped to [`Lookup`] outcomes.
//!
//! A timeout, SERVFAIL or REFUSED is `Unknown`, retried once, never "no record". Answers are
//! cached for the run by hickory's cache, so shared MX hosts are resolved once.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::{
    DnsError as HDnsError, NetError as HNetError, runtime::TokioRuntimeProvider,
};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use mxray_core::model::{Lookup, Mx};
use mxray_core::target::Exclusions;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The scanner's resolver.
#[derive(Clone, Debug)]
pub struct Dns {
    inner: TokioResolver,
    /// Every name server asked (`--resolver` given more than once): questions are spread
    /// over them, least in flight first, and one that timed out is avoided for a while.
    upstreams: std::sync::Arc<Upstreams>,
    timeout: Duration,
    /// Answers to [`Dns::secure`] questions, so each (name, type) is asked once per scan.
    secure_cache: std::sync::Arc<std::sync::Mutex<SecureCache>>,
    /// Names never asked about, nor followed to through a CNAME (`--exclude`).
    exclusions: std::sync::Arc<Exclusions>,
    /// Answers worth keeping for the scan (MX targets' addresses, NS, PTR), by (name, type).
    cache: std::sync::Arc<std::sync::Mutex<AnswerCache>>,
    /// While `Some` ([`Dns::noting`]): every answer this view took from, or put into, the
    /// cache, to hand to the rest of a domain's discovery ([`Dns::noted`]).
    noting: Option<std::sync::Arc<std::sync::Mutex<Vec<std::sync::Arc<Kept>>>>>,
    /// Answers this view gives before its cache ([`Dns::knowing`]).
    known: std::sync::Arc<Answers>,
    /// mxray's own DNSSEC validation (trust anchors and the zone states of this scan).
    validator: std::sync::Arc<crate::dnssec::Validator>,
}

type AnswerKey = (String, RecordType);

type AnswerCache = Generations<AnswerKey, std::sync::Arc<Kept>>;

/// One answer kept for the scan, with the question it answers: shared by the cache and by
/// the [`Answers`] handed along with a domain.
#[derive(Debug)]
struct Kept {
    key: AnswerKey,
    answer: Result<Lookup<Vec<RData>>, Excluded>,
}

/// The cached answers one part of a domain's discovery got ([`Dns::noting`]), handed to the
/// rest of it ([`Dns::knowing`]) so that they are not asked again. With MX first the rest
/// of a domain's discovery comes up to `MAIL_LOOKAHEAD` (131,072) domains after its MX
/// (`engine.rs`), by when the cache (bounded, `ANSWER_CACHE`) has forgotten the answers
/// asked for that domain alone: its MX (asked again by SPF's `mx`), its own MX host's or
/// implicit MX's addresses (SPF's `mx` and `a`, the web host). Holding them here costs one
/// pointer each, and the answers themselves only while the domain waits.
#[derive(Clone, Debug, Default)]
pub struct Answers(Vec<std::sync::Arc<Kept>>);

impl Answers {
    fn get(&self, key: &AnswerKey) -> Option<&Kept> {
        self.0.iter().find(|k| k.key == *key).map(AsRef::as_ref)
    }
}

/// At most this many answers are kept in [`Dns`]'s cache (the least recently used are
/// forgotten first, half at a time).
const ANSWER_CACHE: usize = 65_536;

/// A bounded map that forgets its least recently used entries, half of its capacity at a
/// time: new entries go into `young`; when `young` is full it becomes `old` and the previous
/// `old` is dropped; a hit in `old` moves back into `young`. So an answer asked for again and
/// again (a shared MX host's addresses, a provider's name server) stays however many
/// once-asked answers (each domain's MX, its `www` host) pass through.
///
/// Hand-written (two maps) rather than an LRU crate: this is all the policy needed, and the
/// cache it replaces stopped taking entries once full, so that after ~9,000 domains of a
/// survey every shared answer was asked again (measured: docs/BENCHMARKS.md, issue 14).
#[derive(Debug)]
struct Generations<K, V> {
    young: std::collections::HashMap<K, V>,
    old: std::collections::HashMap<K, V>,
    half: usize,
}

impl<K, V> Default for Generations<K, V> {
    fn default() -> Self {
        Self::new(ANSWER_CACHE)
    }
}

impl<K, V> Generations<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            young: std::collections::HashMap::new(),
            old: std::collections::HashMap::new(),
            half: (capacity / 2).max(1),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Generations<K, V> {
    fn get(&mut self, key: &K) -> Option<V> {
        if let Some(v) = self.young.get(key) {
            return Some(v.clone());
        }
        let (k, v) = self.old.remove_entry(key)?;
        self.insert(k, v.clone());
        Some(v)
    }

    fn insert(&mut self, key: K, value: V) {
        if self.young.len() >= self.half && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// At most this many CNAMEs are followed from one question (RFC 1034 §3.6.2 chains are
/// short; a loop ends here).
pub const MAX_CNAME_HOPS: usize = 8;

/// Why a question got no reliable answer. Checks never see it: at the edge of this module
/// it becomes [`Lookup::Unknown`] with its words (evidence for a human); code that must
/// decide something matches this type, never those words.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum DnsError {
    /// No answer within the timeout (asked twice where the caller retries).
    #[error("timeout")]
    Timeout,
    /// The server answered with an error code (SERVFAIL, REFUSED, …).
    #[error("{0}")]
    Rcode(ResponseCode),
    /// The name (or one a CNAME leads to) is on the exclusion list: not asked.
    #[error("excluded: {0}")]
    Excluded(String),
    /// Not a valid DNS name.
    #[error("invalid name")]
    InvalidName,
    /// More CNAMEs than [`MAX_CNAME_HOPS`].
    #[error("CNAME chain too long")]
    CnameChain,
    /// The UDP answer was truncated and the TCP retry failed.
    #[error("truncated UDP answer; TCP: {0}")]
    TruncatedThenTcp(Box<DnsError>),
    /// An answer to another question (ID or question section differs).
    #[error("answer to another query")]
    Mismatch,
    /// Bytes that are not a DNS message.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The socket pool has too many questions waiting.
    #[error("too many questions in flight")]
    Busy,
    /// No resolver address is known (no `--resolver`, no system resolver).
    #[error("no resolver address to ask")]
    NoServer,
    /// A local error: the query could not be encoded, a socket failed, state was poisoned.
    #[error("{0}")]
    Local(String),
    /// Any other failure reported by hickory's resolver, in its words.
    #[error("{0}")]
    Resolver(String),
}

impl DnsError {
    /// The outcome recorded for it.
    pub fn lookup<T>(&self) -> Lookup<T> {
        Lookup::Unknown(self.to_string())
    }
}

/// A question that was not asked, or an answer that was not used, because it names (or leads
/// through a CNAME to) a name on the exclusion list.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Excluded {
    /// The excluded name.
    pub name: String,
}

impl Excluded {
    fn error(&self) -> DnsError {
        DnsError::Excluded(self.name.clone())
    }

    fn lookup<T>(&self) -> Lookup<T> {
        self.error().lookup()
    }
}

type SecureCache = Generations<(String, RecordType, bool), SecureLookup>;

/// An answer with the response's AD bit.
#[derive(Clone, Debug)]
pub struct SecureLookup {
    /// The records of the asked type.
    pub answer: Lookup<Vec<RData>>,
    /// AD (authenticated data) was set: the resolver validated the answer with DNSSEC.
    pub authenticated: bool,
}

/// The resolver could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver: {0}")]
pub struct DnsSetupError(String);

/// How long a resolver that let a question time out is passed over (while another one is
/// usable).
const AVOID_AFTER_TIMEOUT: Duration = Duration::from_secs(30);

/// One name server of the pool, with its socket pool and counters.
#[derive(Debug)]
struct Upstream {
    addr: SocketAddr,
    /// Long-lived sockets for the per-domain questions (`mux.rs`), made on first use.
    mux: tokio::sync::OnceCell<Option<crate::mux::Mux>>,
    asked: std::sync::atomic::AtomicU64,
    timeouts: std::sync::atomic::AtomicU64,
    in_flight: std::sync::atomic::AtomicUsize,
    /// Milliseconds since the pool's start before which it is avoided.
    avoid_until: std::sync::atomic::AtomicU64,
}

/// The name servers a scan asks.
#[derive(Debug)]
struct Upstreams {
    list: Vec<Upstream>,
    next: std::sync::atomic::AtomicUsize,
    epoch: std::time::Instant,
}

/// What one resolver of the pool was asked during a scan.
#[derive(Clone, Copy, Debug, Eq, PartialEq, serde::Serialize)]
pub struct ResolverCount {
    /// The resolver.
    pub addr: SocketAddr,
    /// Questions sent to it through the socket pool (retries included).
    pub questions: u64,
    /// Of those, how many got no answer in time.
    pub timeouts: u64,
}

/// A question in flight at one upstream; counts it down when dropped.
struct InFlight<'a>(&'a Upstream);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Upstreams {
    fn new(addrs: &[SocketAddr]) -> Self {
        Self {
            list: addrs
                .iter()
                .map(|&addr| Upstream {
                    addr,
                    mux: tokio::sync::OnceCell::new(),
                    asked: Default::default(),
                    timeouts: Default::default(),
                    in_flight: Default::default(),
                    avoid_until: Default::default(),
                })
                .collect(),
            next: Default::default(),
            epoch: std::time::Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The upstream for the next question: not `not` (the one that just failed) when there
    /// is another, not one being avoided when there is another, then the fewest questions in
    /// flight, ties taken in turn (round robin).
    fn pick(&self, not: Option<usize>) -> Option<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.list.len();
        if n == 0 {
            return None;
        }
        let now = self.now_ms();
        let start = self.next.fetch_add(1, Relaxed);
        let order = (0..n).map(|k| (start + k) % n);
        let usable = |i: &usize| Some(*i) != not || n == 1;
        let healthy = |i: &usize| self.list[*i].avoid_until.load(Relaxed) <= now;
        let best = |it: &mut dyn Iterator<Item = usize>| {
            it.min_by_key(|i| self.list[*i].in_flight.load(Relaxed))
        };
        best(&mut order.clone().filter(usable).filter(healthy))
            .or_else(|| best(&mut order.clone().filter(usable)))
    }

    fn begin(&self, i: usize) -> InFlight<'_> {
        use std::sync::atomic::Ordering::Relaxed;
        let u = &self.list[i];
        u.asked.fetch_add(1, Relaxed);
        u.in_flight.fetch_add(1, Relaxed);
        InFlight(u)
    }

    /// Records how a question to upstream `i` ended.
    fn outcome(&self, i: usize, timed_out: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        let u = &self.list[i];
        if timed_out {
            u.timeouts.fetch_add(1, Relaxed);
            let until = self.now_ms() + AVOID_AFTER_TIMEOUT.as_millis() as u64;
            u.avoid_until.store(until, Relaxed);
            tracing::debug!(resolver = %u.addr, "resolver timed out; avoided for a while");
        } else {
            u.avoid_until.store(0, Relaxed);
        }
    }

    async fn mux(&self, i: usize) -> Option<&crate::mux::Mux> {
        let u = &self.list[i];
        u.mux
            .get_or_init(|| async { crate::mux::Mux::new(u.addr).await.ok() })
            .await
            .as_ref()
    }
}

impl Dns {
    /// A resolver that asks `server` (UDP, TCP on truncation), or the system's resolvers.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self, DnsSetupError> {
        Self::with_servers(server.as_slice(), timeout)
    }

    /// A resolver that spreads its questions over `servers` (none: the system's resolvers).
    pub fn with_servers(servers: &[SocketAddr], timeout: Duration) -> Result<Self, DnsSetupError> {
        let server = servers.first().copied();
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.ndots = 0;
        opts.cache_size = 65_536;
        opts.num_concurrent_reqs = 1;
        // CNAMEs stay in the answer so that a chain through an excluded name is seen.
        opts.preserve_intermediates = true;
        // Scanned names are answered by DNS only: /etc/hosts would turn 127.x into 'localhost'.
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        opts.edns_payload_len = 1232;
        let first = server.or_else(|| {
            hickory_resolver::system_conf::read_system_conf()
                .ok()
                .and_then(|(c, _)| c.name_servers.first().map(|ns| SocketAddr::new(ns.ip, 53)))
        });
        let builder = match server {
            Some(_) => {
                let name_servers = servers
                    .iter()
                    .map(|addr| {
                        let mut udp = ConnectionConfig::udp();
                        udp.port = addr.port();
                        let mut tcp = ConnectionConfig::tcp();
                        tcp.port = addr.port();
                        let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                        ns.connections = vec![udp, tcp];
                        ns
                    })
                    .collect();
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(name_servers),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|e| DnsSetupError(e.to_string()))?,
        };
        let inner = builder
            .with_options(opts)
            .build()
            .map_err(|e| DnsSetupError(e.to_string()))?;
        Ok(Self {
            inner,
            upstreams: std::sync::Arc::new(Upstreams::new(
                first
                    .as_slice()
                    .iter()
                    .chain(servers.iter().skip(1))
                    .copied()
                    .collect::<Vec<_>>()
                    .as_slice(),
            )),
            timeout,
            secure_cache: Default::default(),
            exclusions: Default::default(),
            cache: Default::default(),
            noting: None,
            known: Default::default(),
            validator: std::sync::Arc::new(crate::dnssec::Validator::new(
                crate::dnssec::TrustAnchors::default(),
            )),
        })
    }

    /// The same resolver, refusing to ask about excluded names or to follow a CNAME into
    /// one (the answer is then [`Excluded`], never used).
    pub fn with_exclusions(mut self, exclusions: std::sync::Arc<Exclusions>) -> Self {
        self.exclusions = exclusions;
        self
    }

    /// This resolver, noting every answer it takes from or puts into the scan's cache, so
    /// that [`Dns::noted`] can hand them to the rest of a domain's discovery.
    pub fn noting(&self) -> Self {
        Self {
            noting: Some(Default::default()),
            ..self.clone()
        }
    }

    /// The answers noted so far by this view ([`Dns::noting`]; none otherwise).
    pub fn noted(&self) -> Answers {
        Answers(
            self.noting
                .as_ref()
                .and_then(|n| n.lock().ok().map(|n| n.clone()))
                .unwrap_or_default(),
        )
    }

    /// This resolver, giving `answers` (another part of the same domain's discovery got them)
    /// before asking its cache or the network.
    pub fn knowing(&self, answers: Answers) -> Self {
        Self {
            noting: None,
            known: std::sync::Arc::new(answers),
            ..self.clone()
        }
    }

    fn note(&self, kept: &std::sync::Arc<Kept>) {
        if let Some(Ok(mut n)) = self.noting.as_ref().map(|n| n.lock())
            && !n.iter().any(|k| k.key == kept.key)
        {
            n.push(kept.clone());
        }
    }

    /// A cache of at most `capacity` answers instead of [`ANSWER_CACHE`]: tests make it
    /// forget.
    #[cfg(test)]
    pub(crate) fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = std::sync::Arc::new(std::sync::Mutex::new(Generations::new(capacity)));
        self
    }

    /// `Err` when the name is excluded.
    fn check(&self, name: &Name) -> Result<(), Excluded> {
        let ascii = trim_dot(&name.to_ascii());
        if self.exclusions.excludes_name(&ascii) {
            Err(Excluded { name: ascii })
        } else {
            Ok(())
        }
    }

    /// `Err` when a CNAME of the answer section starts or ends at an excluded name: the
    /// records it led to belong to an excluded domain.
    fn check_chain(&self, resp: &hickory_resolver::proto::op::Message) -> Result<(), Excluded> {
        for r in &resp.answers {
            if let RData::CNAME(c) = &r.data {
                self.check(&r.name)?;
                self.check(&c.0)?;
            }
        }
        Ok(())
    }

    /// Validates DNSSEC from `anchors` instead of the IANA root keys (`--trust-anchor`).
    pub fn with_trust_anchors(mut self, anchors: crate::dnssec::TrustAnchors) -> Self {
        self.validator = std::sync::Arc::new(crate::dnssec::Validator::new(anchors));
        self
    }

    /// Whether the resolver's AD bit is trusted: only when it is on loopback, where the path
    /// to it cannot be spoofed (RFC 4035 §4.9.3, RFC 6698 §4.1). Otherwise mxray validates.
    pub fn trusts_ad(&self) -> bool {
        !self.upstreams.list.is_empty()
            && self
                .upstreams
                .list
                .iter()
                .all(|u| u.addr.ip().is_loopback())
    }

    /// The questions each resolver of the pool was sent so far (for the summary and the
    /// debug log).
    pub fn resolver_counts(&self) -> Vec<ResolverCount> {
        use std::sync::atomic::Ordering::Relaxed;
        self.upstreams
            .list
            .iter()
            .map(|u| ResolverCount {
                addr: u.addr,
                questions: u.asked.load(Relaxed),
                timeouts: u.timeouts.load(Relaxed),
            })
            .collect()
    }

    /// mxray's own verdict on the chain of trust down to `zone` (see `dnssec.rs`).
    pub async fn validate_zone(&self, zone: &str) -> mxray_core::dnssec::Validation {
        match fqdn(zone) {
            Ok(n) => self.validator.zone(self, &n, crate::dnssec::now()).await,
            Err(()) => invalid_name(zone),
        }
    }

    /// mxray's own verdict on one RRset, with the response (asked with DO=1, CD=1).
    pub async fn validate_rrset(
        &self,
        name: &str,
        rtype: RecordType,
    ) -> (
        mxray_core::dnssec::Validation,
        Option<hickory_resolver::proto::op::Message>,
    ) {
        match fqdn(name) {
            Ok(n) => {
                self.validator
                    .rrset(self, &n, rtype, crate::dnssec::now())
                    .await
            }
            Err(()) => (invalid_name(name), None),
        }
    }

    /// A question asked once per domain (no cache helps), or one hickory would answer itself
    /// (loopback PTR): straight to the first name server through the socket pool, TCP when
    /// the answer is truncated, asked twice when there is no reliable answer. CNAMEs are
    /// followed, never into an excluded name.
    async fn ask_bulk(&self, name: &Name, rtype: RecordType) -> Lookup<Vec<RData>> {
        self.ask_checked(name, rtype, false)
            .await
            .unwrap_or_else(|e| e.lookup())
    }

    /// One message from the first name server through the socket pool (TCP when truncated),
    /// asked twice when there is no reliable answer; `None` when there is no socket pool.
    async fn ask_message(
        &self,
        name: &Name,
        rtype: RecordType,
        ad: bool,
        cd: bool,
    ) -> Option<Result<hickory_resolver::proto::op::Message, DnsError>> {
        let mut last = Err(DnsError::Timeout);
        let mut failed = None;
        for _ in 0..2 {
            let i = self.upstreams.pick(failed)?;
            let mux = self.upstreams.mux(i).await?;
            let server = self.upstreams.list[i].addr;
            let _flight = self.upstreams.begin(i);
            let deadline = tokio::time::Instant::now() + self.timeout;
            last = match mux.ask(name, rtype, ad, cd, false, deadline).await {
                Ok((m, bytes)) if m.metadata.truncation => {
                    match self
                        .tcp_exchange(server, &bytes, m.metadata.id, name, rtype)
                        .await
                    {
                        Ok(full) => Ok(full),
                        Err(why) => Err(DnsError::TruncatedThenTcp(Box::new(why))),
                    }
                }
                Ok((m, _)) => Ok(m),
                Err(why) => Err(why),
            };
            self.upstreams
                .outcome(i, matches!(last, Err(DnsError::Timeout)));
            if last
                .as_ref()
                .is_ok_and(|m| !interpret(m, rtype).answer.is_unknown())
            {
                break;
            }
            // The retry goes to another resolver when there is one.
            failed = Some(i);
        }
        Some(last)
    }

    async fn ask_pooled(&self, name: &Name, rtype: RecordType, ad: bool, cd: bool) -> SecureLookup {
        let unknown = |why: DnsError| SecureLookup {
            answer: why.lookup(),
            authenticated: false,
        };
        if let Err(e) = self.check(name) {
            return unknown(e.error());
        }
        match self.ask_message(name, rtype, ad, cd).await {
            None => SecureLookup {
                answer: self.ask(name, rtype).await,
                authenticated: false,
            },
            Some(Ok(m)) => match self.check_chain(&m) {
                Ok(()) => interpret(&m, rtype),
                Err(e) => unknown(e.error()),
            },
            Some(Err(why)) => unknown(why),
        }
    }

    async fn ask(&self, name: &Name, rtype: RecordType) -> Lookup<Vec<RData>> {
        self.ask_checked(name, rtype, true)
            .await
            .unwrap_or_else(|e| e.lookup())
    }

    /// The records of `rtype` at `name`, following CNAMEs (at most [`MAX_CNAME_HOPS`]);
    /// `Err` when `name` or any name on the way is excluded, before anything is asked about
    /// it. With `cache`, reliable answers are kept for the scan.
    async fn ask_checked(
        &self,
        name: &Name,
        rtype: RecordType,
        cache: bool,
    ) -> Result<Lookup<Vec<RData>>, Excluded> {
        self.check(name)?;
        let key = (trim_dot(&name.to_ascii()), rtype);
        if cache {
            if let Some(k) = self.known.get(&key) {
                return k.answer.clone();
            }
            if let Some(hit) = self.cache.lock().ok().and_then(|mut c| c.get(&key)) {
                self.note(&hit);
                return hit.answer.clone();
            }
        }
        let answer = self.chase(name, rtype).await;
        if cache && !answer.as_ref().is_ok_and(Lookup::is_unknown) {
            let kept = std::sync::Arc::new(Kept {
                key: key.clone(),
                answer: answer.clone(),
            });
            self.note(&kept);
            if let Ok(mut c) = self.cache.lock() {
                c.insert(key, kept);
            }
        }
        answer
    }

    async fn chase(&self, name: &Name, rtype: RecordType) -> Result<Lookup<Vec<RData>>, Excluded> {
        let mut current = name.clone();
        for _ in 0..=MAX_CNAME_HOPS {
            let m = match self.ask_message(&current, rtype, false, false).await {
                None => return self.ask_hickory(&current, rtype).await,
                Some(Err(why)) => return Ok(why.lookup()),
                Some(Ok(m)) => m,
            };
            self.check_chain(&m)?;
            let answer = interpret(&m, rtype).answer;
            if !matches!(answer, Lookup::NoData) {
                return Ok(answer);
            }
            // No record of the type: follow the chain the answer holds from `current`.
            let mut next = None;
            let mut at = current.clone();
            for _ in 0..=MAX_CNAME_HOPS {
                let Some(target) = m.answers.iter().find_map(|r| match &r.data {
                    RData::CNAME(c) if r.name == at => Some(c.0.clone()),
                    _ => None,
                }) else {
                    break;
                };
                at = target.clone();
                next = Some(target);
            }
            match next {
                Some(n) => {
                    self.check(&n)?;
                    current = n;
                }
                None => return Ok(Lookup::NoData),
            }
        }
        Ok(DnsError::CnameChain.lookup())
    }

    /// hickory's resolver (no socket pool): it follows CNAMEs itself, so the chain is checked
    /// in its answer (intermediates preserved) and refused when it went through an excluded
    /// name.
    async fn ask_hickory(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Lookup<Vec<RData>>, Excluded> {
        let mut last = DnsError::Timeout.lookup();
        for _ in 0..2 {
            last = match self.inner.lookup(name.clone(), rtype).await {
                Ok(l) => {
                    for r in l.answers() {
                        self.check(&r.name)?;
                        if let RData::CNAME(c) = &r.data {
                            self.check(&c.0)?;
                        }
                    }
                    let data: Vec<RData> = l
                        .answers()
                        .iter()
                        .filter(|r| r.record_type() == rtype)
                        .map(|r| r.data.clone())
                        .collect();
                    if data.is_empty() {
                        Lookup::NoData
                    } else {
                        Lookup::Found(data)
                    }
                }
                Err(e) => map_error(&e),
            };
            if !last.is_unknown() {
                break;
            }
        }
        Ok(last)
    }

    /// Checks that the resolver answers at all (any answer, even NXDOMAIN or SERVFAIL, will
    /// do); a timeout or a refused connection is an operator error worth stopping for.
    pub async fn preflight(&self) -> Result<(), String> {
        match self.inner.lookup(Name::root(), RecordType::NS).await {
            Ok(_) => Ok(()),
            Err(HNetError::Dns(_)) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// MX records of `domain`, sorted by preference.
    pub async fn mx(&self, domain: &str) -> Lookup<Vec<Mx>> {
        let Ok(name) = fqdn(domain) else {
            return DnsError::InvalidName.lookup();
        };
        self.ask(&name, RecordType::MX).await.map(|data| {
            let mut v: Vec<Mx> = data
                .into_iter()
                .filter_map(|d| match d {
                    RData::MX(mx) => Some(Mx {
                        preference: mx.preference,
                        exchange: trim_dot(&mx.exchange.to_ascii()),
                    }),
                    _ => None,
                })
                .collect();
            v.sort_by(|a, b| {
                a.preference
                    .cmp(&b.preference)
                    .then_with(|| a.exchange.cmp(&b.exchange))
            });
            v
        })
    }

    /// A and AAAA together. Found if either has records; Unknown if either failed and none
    /// was found; NxDomain if the name does not exist.
    pub async fn addresses(&self, host: &str) -> Lookup<Vec<IpAddr>> {
        self.host_addresses(host)
            .await
            .unwrap_or_else(|e| e.lookup())
    }

    /// [`Dns::addresses`], telling apart a name that is (or leads through a CNAME into) an
    /// excluded name: nothing was asked about the excluded name and no address is returned.
    pub async fn host_addresses(&self, host: &str) -> Result<Lookup<Vec<IpAddr>>, Excluded> {
        let Ok(name) = fqdn(host) else {
            if self.exclusions.excludes_name(host) {
                return Err(Excluded {
                    name: host.to_owned(),
                });
            }
            return Ok(DnsError::InvalidName.lookup());
        };
        let (a, aaaa) = tokio::join!(
            self.ask_checked(&name, RecordType::A, true),
            self.ask_checked(&name, RecordType::AAAA, true)
        );
        let (a, aaaa) = (a?, aaaa?);
        let ips = |l: &Lookup<Vec<RData>>| -> Vec<IpAddr> {
            l.found()
                .into_iter()
                .flatten()
                .filter_map(|d| match d {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect()
        };
        let mut all = ips(&a);
        all.extend(ips(&aaaa));
        if !all.is_empty() {
            return Ok(Lookup::Found(all));
        }
        Ok(match (&a, &aaaa) {
            (Lookup::Unknown(r), _) | (_, Lookup::Unknown(r)) => Lookup::Unknown(r.clone()),
            (Lookup::NxDomain, _) | (_, Lookup::NxDomain) => Lookup::NxDomain,
            _ => Lookup::NoData,
        })
    }

    /// NS names of `domain` (lowercase, no trailing dot).
    pub async fn ns(&self, domain: &str) -> Lookup<Vec<String>> {
        let Ok(name) = fqdn(domain) else {
            return DnsError::InvalidName.lookup();
        };
        self.ask(&name, RecordType::NS).await.map(|data| {
            data.into_iter()
                .filter_map(|d| match d {
                    RData::NS(ns) => Some(trim_dot(&ns.0.to_ascii())),
                    _ => None,
                })
                .take(16)
                .collect()
        })
    }

    /// PTR names of an address.
    pub async fn ptr(&self, ip: IpAddr) -> Lookup<Vec<String>> {
        if self.exclusions.excludes_ip(ip) {
            return DnsError::Excluded(ip.to_string()).lookup();
        }
        let name = Name::from(ip);
        // hickory answers 127.in-addr.arpa and ::1 with "localhost" itself (RFC 6761); the
        // lab and operators scanning their own loopback services need the real answer.
        let answer = if ip.is_loopback() {
            self.ask_bulk(&name, RecordType::PTR).await
        } else {
            self.ask(&name, RecordType::PTR).await
        };
        answer.map(|data| {
            data.into_iter()
                .filter_map(|d| match d {
                    RData::PTR(p) => Some(trim_dot(&p.0.to_ascii())),
                    _ => None,
                })
                .take(16)
                .collect()
        })
    }
}

impl Dns {
    /// A question with AD=1 (RFC 6840 §5.7: "tell me whether you validated it") and, when
    /// `cd`, CD=1 (checking disabled: answer even if validation fails), straight to the first
    /// name server; the response's AD bit is kept. Cached per scan by (name, type, cd).
    pub async fn secure(&self, name: &str, rtype: RecordType, cd: bool) -> SecureLookup {
        let Ok(n) = fqdn(name) else {
            return SecureLookup {
                answer: DnsError::InvalidName.lookup(),
                authenticated: false,
            };
        };
        let key = (n.to_ascii().to_ascii_lowercase(), rtype, cd);
        if let Some(hit) = self.secure_cache.lock().ok().and_then(|mut c| c.get(&key)) {
            return hit;
        }
        let answer = self.ask_pooled(&n, rtype, true, cd).await;
        if let Ok(mut c) = self.secure_cache.lock() {
            c.insert(key, answer.clone());
        }
        answer
    }

    /// One query over TCP (RFC 7766), bounded by the timeout; the answer is at most 65535
    /// bytes by its length prefix.
    async fn tcp_exchange(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
        name: &Name,
        rtype: RecordType,
    ) -> Result<hickory_resolver::proto::op::Message, DnsError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let io = |e: std::io::Error| DnsError::Local(e.to_string());
        let work = async {
            let mut s = tokio::net::TcpStream::connect(server).await.map_err(io)?;
            let len = u16::try_from(query.len())
                .map_err(|_| DnsError::Local("query too long".to_owned()))?;
            let mut out = len.to_be_bytes().to_vec();
            out.extend_from_slice(query);
            s.write_all(&out).await.map_err(io)?;
            let n = s.read_u16().await.map_err(io)?;
            let mut buf = vec![0u8; usize::from(n)];
            s.read_exact(&mut buf).await.map_err(io)?;
            let m = hickory_resolver::proto::op::Message::from_vec(&buf)
                .map_err(|e| DnsError::Malformed(e.to_string()))?;
            // Rejected as over UDP (mux.rs): another ID, or an answer to another question.
            let same_question = m
                .queries
                .first()
                .is_some_and(|q| q.query_type() == rtype && q.name() == name);
            if m.metadata.id == id && same_question {
                Ok(m)
            } else {
                Err(DnsError::Mismatch)
            }
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| DnsError::Timeout)?
    }
}

/// The records of the asked type and the AD bit of a response.
fn interpret(resp: &hickory_resolver::proto::op::Message, rtype: RecordType) -> SecureLookup {
    let answer = match resp.metadata.response_code {
        ResponseCode::NXDomain => Lookup::NxDomain,
        ResponseCode::NoError => {
            let data: Vec<RData> = resp
                .answers
                .iter()
                .filter(|r| r.record_type() == rtype)
                .map(|r| r.data.clone())
                .collect();
            if data.is_empty() {
                Lookup::NoData
            } else {
                Lookup::Found(data)
            }
        }
        other => DnsError::Rcode(other).lookup(),
    };
    SecureLookup {
        answer,
        authenticated: resp.metadata.authentic_data,
    }
}

fn map_error(e: &HNetError) -> Lookup<Vec<RData>> {
    match e {
        HNetError::Dns(HDnsError::NoRecordsFound(nr)) => match nr.response_code {
            ResponseCode::NXDomain => Lookup::NxDomain,
            ResponseCode::NoError => Lookup::NoData,
            other => DnsError::Rcode(other).lookup(),
        },
        HNetError::Dns(HDnsError::ResponseCode(code)) => DnsError::Rcode(*code).lookup(),
        HNetError::Timeout => DnsError::Timeout.lookup(),
        other => DnsError::Resolver(other.to_string()).lookup(),
    }
}

fn fqdn(s: &str) -> Result<Name, ()> {
    let mut n = Name::from_ascii(s).map_err(|_| ())?;
    n.set_fqdn(true);
    Ok(n)
}

fn trim_dot(s: &str) -> String {
    s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase()
}

impl Dns {
    /// The A answer at one name and, when there is one, the TXT answer too: a DNSBL question
    /// (`scan::reputation`). TXT strings are verbatim list text, at most 8 kept.
    pub async fn a_and_txt(&self, name: &str) -> (Lookup<Vec<std::net::Ipv4Addr>>, Vec<String>) {
        let Ok(n) = fqdn(name) else {
            return (DnsError::InvalidName.lookup(), Vec::new());
        };
        let a = self.ask_bulk(&n, RecordType::A).await.map(|data| {
            data.into_iter()
                .filter_map(|d| match d {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .take(16)
                .collect::<Vec<_>>()
        });
        let txt = match &a {
            Lookup::Found(_) => match self.ask_bulk(&n, RecordType::TXT).await {
                Lookup::Found(data) => data
                    .into_iter()
                    .filter_map(|d| match d {
                        RData::TXT(t) => Some(
                            t.txt_data
                                .iter()
                                .map(|s| String::from_utf8_lossy(s).into_owned())
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .take(8)
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        (a, txt)
    }
}

/// Each TXT record's character-strings joined (RFC 7208 §3.3).
fn txt_strings(data: Vec<RData>) -> Vec<Vec<u8>> {
    data.into_iter()
        .filter_map(|d| match d {
            RData::TXT(t) => Some(t.txt_data.iter().flat_map(|s| s.iter().copied()).collect()),
            _ => None,
        })
        .collect()
}

/// Questions for mail authentication (SPF and friends).
impl Dns {
    /// TXT records of `name`, each the concatenation of its character-strings (RFC 7208 §3.3).
    pub async fn txt(&self, name: &str) -> Lookup<Vec<Vec<u8>>> {
        let Ok(n) = fqdn(name) else {
            return DnsError::InvalidName.lookup();
        };
        self.ask_bulk(&n, RecordType::TXT).await.map(txt_strings)
    }

    /// TXT records of a name many domains ask about (an organisational domain's DMARC record,
    /// asked for each of its subdomains without one), through the scan's cache (as [`Dns::a`]).
    pub async fn txt_shared(&self, name: &str) -> Lookup<Vec<Vec<u8>>> {
        let Ok(n) = fqdn(name) else {
            return DnsError::InvalidName.lookup();
        };
        self.ask(&n, RecordType::TXT).await.map(txt_strings)
    }

    /// A records of `name`, through the scan's cache: SPF's `a` and `mx` mechanisms ask for
    /// the addresses of MX hosts that thousands of domains share (discovery asked them first).
    pub async fn a(&self, name: &str) -> Lookup<Vec<std::net::Ipv4Addr>> {
        let Ok(n) = fqdn(name) else {
            return DnsError::InvalidName.lookup();
        };
        self.ask(&n, RecordType::A).await.map(|data| {
            data.into_iter()
                .filter_map(|d| match d {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect()
        })
    }

    /// AAAA records of `name`, through the scan's cache (as [`Dns::a`]).
    pub async fn aaaa(&self, name: &str) -> Lookup<Vec<std::net::Ipv6Addr>> {
        let Ok(n) = fqdn(name) else {
            return DnsError::InvalidName.lookup();
        };
        self.ask(&n, RecordType::AAAA).await.map(|data| {
            data.into_iter()
                .filter_map(|d| match d {
                    RData::AAAA(a) => Some(a.0),
                    _ => None,
                })
                .collect()
        })
    }
}

impl Dns {
    /// The CNAME at `name` (its target), asked as such: an MX target must not be an alias
    /// (RFC 2181 §10.3, RFC 5321 §5.1). Through the scan's cache: the MX hosts it is asked of
    /// are shared by thousands of domains (uncached, 5 % of a survey's questions).
    pub async fn cname(&self, name: &str) -> Lookup<Vec<String>> {
        let Ok(n) = fqdn(name) else {
            return DnsError::InvalidName.lookup();
        };
        self.ask(&n, RecordType::CNAME).await.map(|data| {
            data.into_iter()
                .filter_map(|d| match d {
                    RData::CNAME(c) => Some(c.0.to_ascii().trim_end_matches('.').to_owned()),
                    _ => None,
                })
                .collect()
        })
    }

    /// CAA records of `name` (RFC 8659), in presentation form (`0 issue "ca.example"`).
    pub async fn caa(&self, name: &str) -> Lookup<Vec<String>> {
        let Ok(n) = fqdn(name) else {
            return DnsError::InvalidName.lookup();
        };
        self.ask_bulk(&n, RecordType::CAA).await.map(|data| {
            data.into_iter()
                .filter_map(|d| match d {
                    RData::CAA(c) => Some(c.to_string()),
                    _ => None,
                })
                .collect()
        })
    }
}

fn invalid_name(name: &str) -> mxray_core::dnssec::Validation {
    mxray_core::dnssec::Validation {
        status: mxray_core::dnssec::DnssecStatus::Indeterminate,
        by: mxray_core::dnssec::ValidatedBy::Mxray,
        problem: Some(mxray_core::dnssec::ChainProblem::NoAnswer),
        at: name.to_owned(),
        evidence: vec![format!("{name}: not a valid name")],
    }
}

impl crate::dnssec::Ask for Dns {
    /// DO=1 and CD=1 (the records and their RRSIGs, validated or not), AD=1; through the
    /// socket pool, TCP when truncated, asked twice when there is no answer.
    async fn ask(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> Result<hickory_resolver::proto::op::Message, DnsError> {
        let mut last = Err(DnsError::NoServer);
        let mut failed = None;
        for _ in 0..2 {
            let Some(i) = self.upstreams.pick(failed) else {
                return Err(DnsError::NoServer);
            };
            let Some(mux) = self.upstreams.mux(i).await else {
                return Err(DnsError::NoServer);
            };
            let server = self.upstreams.list[i].addr;
            let _flight = self.upstreams.begin(i);
            let deadline = tokio::time::Instant::now() + self.timeout;
            last = match mux.ask(name, rtype, true, true, true, deadline).await {
                Ok((m, bytes)) if m.metadata.truncation => {
                    self.tcp_exchange(server, &bytes, m.metadata.id, name, rtype)
                        .await
                }
                Ok((m, _)) => Ok(m),
                Err(why) => Err(why),
            };
            self.upstreams
                .outcome(i, matches!(last, Err(DnsError::Timeout)));
            if last.is_ok() {
                break;
            }
            failed = Some(i);
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::{Generations, Upstreams};

    /// Questions alternate over idle resolvers; one that timed out is passed over while the
    /// other is usable, and is the only choice when it is alone.
    #[test]
    fn upstreams_spread_and_fail_over() {
        let a: std::net::SocketAddr = "127.0.0.1:53".parse().unwrap();
        let b: std::net::SocketAddr = "127.0.0.2:53".parse().unwrap();
        let pool = Upstreams::new(&[a, b]);
        let picks: Vec<usize> = (0..4).filter_map(|_| pool.pick(None)).collect();
        assert_eq!(picks, [0, 1, 0, 1]);
        // Least in flight first.
        let _busy = pool.begin(0);
        assert_eq!(pool.pick(None), Some(1));
        assert_eq!(pool.pick(None), Some(1));
        drop(_busy);
        pool.outcome(1, true);
        assert!((0..5).all(|_| pool.pick(None) == Some(0)));
        // A retry goes elsewhere, even to an avoided one.
        assert_eq!(pool.pick(Some(0)), Some(1));
        pool.outcome(1, false);
        assert!((0..4).any(|_| pool.pick(None) == Some(1)));
        let alone = Upstreams::new(&[a]);
        alone.outcome(0, true);
        assert_eq!(alone.pick(Some(0)), Some(0));
        assert_eq!(Upstreams::new(&[]).pick(None), None);
    }

    /// An entry asked for again and again stays while a stream of once-asked entries many
    /// times the capacity passes through; the map never holds more than its capacity.
    #[test]
    fn generations_keep_what_is_asked_again_and_stay_bounded() {
        let mut c: Generations<u32, u32> = Generations::new(100);
        c.insert(0, 7);
        for i in 1..10_000 {
            c.insert(i, i);
            if i % 10 == 0 {
                assert_eq!(c.get(&0), Some(7), "the shared entry was forgotten at {i}");
            }
            assert!(c.len() <= 100, "{} entries", c.len());
        }
        // Once-asked entries from long ago are gone, recent ones are there.
        assert_eq!(c.get(&5), None);
        assert_eq!(c.get(&9_999), Some(9_999));
    }
}
