//! Reputation questions: DNSBL lookups about probed addresses, domains and MX host names, and
//! who runs an address (an ASN database, or a guess from names).
//!
//! Sends: for each IP list, one A question `reversed-ip.zone` per probed address (IPv6 as
//! nibbles where the list supports it); for each domain list, one A question `name.zone` per
//! domain and MX host name; a TXT question at the same name when the A question found a code.
//! Each distinct question is asked once per scan: addresses are probed once by the engine and
//! domains come once from the input, so only MX host names (shared by many domains) go through
//! a cache, which therefore grows with distinct mail-host names, not with domains. Each list
//! is paced by its own rate, and nothing is asked about an excluded address or name.
//! Records: [`DnsblQuery`] (raw answers; `core::checks` decodes them) and a [`Provider`].

use crate::net::Policy;
use crate::resolve::Dns;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use mxray_core::model::{DomainObservation, Lookup};
use mxray_core::reputation::{DnsblList, DnsblQuery, DnsblSet, HostReputation, ListKind, Provider};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// At most this many names per domain are asked about on domain lists (the domain and its
/// first MX hosts).
const MAX_NAMES: usize = 11;

/// Longest wait for a domain's block-list answers, pacing included (a slow list makes them
/// `unknown`, never "not listed").
const DOMAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Reputation settings and state for one scan. Cheap to clone; `Default` asks nothing.
#[derive(Clone, Debug, Default)]
pub struct Reputation {
    dnsbl: Option<Arc<DnsblClient>>,
    asn: Option<Arc<AsnDb>>,
}

impl Reputation {
    /// Asks the lists of `set` (none when `None` or empty) and attributes providers with `asn`
    /// when given (by names otherwise).
    pub fn new(set: Option<DnsblSet>, asn: Option<AsnDb>) -> Self {
        Self {
            dnsbl: set
                .filter(|s| !s.lists.is_empty())
                .map(|s| Arc::new(DnsblClient::new(s))),
            asn: asn.map(Arc::new),
        }
    }

    /// DNSBL answers about `ip` and its provider. `ptr` and `mx_names` feed the name
    /// heuristic when there is no ASN database (or it does not know the address).
    pub async fn host(
        &self,
        dns: &Dns,
        policy: &Policy,
        ip: IpAddr,
        ptr: &Lookup<Vec<String>>,
        mx_names: &[String],
        deadline: Instant,
    ) -> HostReputation {
        let mut out = HostReputation::default();
        if let Some(c) = &self.dnsbl
            && asks_about(policy, ip)
        {
            let lists = c.lists.iter().filter(|l| l.list.kind == ListKind::Ip);
            let asks = lists.filter_map(|l| {
                let query = l.list.ip_query(ip)?;
                Some(c.ask(dns, l, ip.to_string(), query, deadline, false))
            });
            out.dnsbl = futures::future::join_all(asks).await;
        }
        let ptr_names = ptr.found().map(Vec::as_slice).unwrap_or_default();
        out.provider = self
            .asn
            .as_ref()
            .and_then(|db| db.lookup(ip))
            .or_else(|| Provider::from_names(ptr_names, mx_names));
        out
    }

    /// Domain-list answers about a domain and its (not excluded) MX host names.
    pub async fn domain(
        &self,
        dns: &Dns,
        policy: &Policy,
        obs: &DomainObservation,
    ) -> Vec<DnsblQuery> {
        let Some(c) = &self.dnsbl else {
            return Vec::new();
        };
        let mut names = vec![obs.domain.clone()];
        for h in obs.hosts.iter().filter(|h| !h.excluded) {
            if !h.name.is_empty() && !names.contains(&h.name) {
                names.push(h.name.clone());
            }
        }
        names.retain(|n| !policy.exclusions.excludes_name(n));
        names.truncate(MAX_NAMES);
        let deadline = Instant::now() + DOMAIN_DEADLINE;
        let asks = c
            .lists
            .iter()
            .filter(|l| l.list.kind == ListKind::Domain)
            .flat_map(|l| {
                names.iter().enumerate().map(move |(i, n)| {
                    let query = l.list.name_query(n);
                    // names[0] is the domain itself, asked once per scan anyway.
                    c.ask(dns, l, n.clone(), query, deadline, i > 0)
                })
            });
        futures::future::join_all(asks).await
    }
}

/// Whether block lists may be asked about `ip`: an address the scan may contact, and not a
/// private, link-local or reserved one (no list can list those, and asking would tell the
/// list operator about the scanned network's insides). Loopback stays askable when allowed,
/// for the lab.
fn asks_about(policy: &Policy, ip: IpAddr) -> bool {
    use mxray_core::addr::{AddressClass, classify};
    policy.admit(ip).is_ok()
        && matches!(classify(ip), AddressClass::Public | AddressClass::Loopback)
}

struct PacedList {
    list: DnsblList,
    /// None: unlimited (a mirror the operator runs).
    rate: Option<DefaultDirectRateLimiter>,
}

struct DnsblClient {
    lists: Vec<PacedList>,
    /// One cell per shared name asked: concurrent askers wait for the first answer.
    cache: Mutex<HashMap<String, Arc<OnceCell<DnsblQuery>>>>,
}

impl std::fmt::Debug for DnsblClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let zones: Vec<&str> = self.lists.iter().map(|l| l.list.zone.as_str()).collect();
        f.debug_struct("DnsblClient")
            .field("zones", &zones)
            .finish()
    }
}

impl DnsblClient {
    fn new(set: DnsblSet) -> Self {
        let lists = set
            .lists
            .into_iter()
            .map(|list| {
                let rate =
                    NonZeroU32::new(list.rate).map(|r| RateLimiter::direct(Quota::per_second(r)));
                PacedList { list, rate }
            })
            .collect();
        Self {
            lists,
            cache: Mutex::default(),
        }
    }

    async fn ask(
        &self,
        dns: &Dns,
        l: &PacedList,
        subject: String,
        query: String,
        deadline: Instant,
        cached: bool,
    ) -> DnsblQuery {
        if !cached {
            return Self::lookup(dns, l, subject, query, deadline).await;
        }
        let cell = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.entry(query.clone()).or_default().clone()
        };
        cell.get_or_init(|| Self::lookup(dns, l, subject, query, deadline))
            .await
            .clone()
    }

    async fn lookup(
        dns: &Dns,
        l: &PacedList,
        subject: String,
        query: String,
        deadline: Instant,
    ) -> DnsblQuery {
        let (answer, txt) = match tokio::time::timeout_at(deadline, async {
            if let Some(r) = &l.rate {
                r.until_ready().await;
            }
            dns.a_and_txt(&query).await
        })
        .await
        {
            Ok(r) => r,
            Err(_) => (Lookup::Unknown("deadline".into()), Vec::new()),
        };
        DnsblQuery {
            list: l.list.id.clone(),
            zone: l.list.zone.clone(),
            kind: l.list.kind,
            subject,
            query,
            answer,
            txt,
        }
    }
}

/// An IP → AS number and organisation database in the MaxMind DB format (MaxMind GeoLite2-ASN,
/// DB-IP ASN Lite: `autonomous_system_number`, `autonomous_system_organization`).
pub struct AsnDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for AsnDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsnDb")
            .field("type", &self.reader.metadata().database_type)
            .finish()
    }
}

impl AsnDb {
    /// Opens an mmdb file.
    pub fn open(path: &Path) -> Result<Self, String> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| e.to_string())?;
        Ok(Self { reader })
    }

    /// The AS of an address, if the database knows it.
    pub fn lookup(&self, ip: IpAddr) -> Option<Provider> {
        let ip = mxray_core::addr::canonical(ip);
        if self.reader.metadata().ip_version == 4 && ip.is_ipv6() {
            return None;
        }
        let found = self.reader.lookup(ip).ok()?;
        let asn = found.decode::<maxminddb::geoip2::Asn<'_>>().ok()??;
        Some(Provider::from_asn(
            asn.autonomous_system_number?,
            asn.autonomous_system_organization,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxray_core::addr::AddressClass;
    use mxray_core::target::Exclusions;

    #[test]
    fn never_asks_about_excluded_or_inside_addresses() {
        let policy = Policy {
            exclusions: Arc::new(Exclusions::parse("93.184.216.0/24\n").unwrap()),
            allowed_classes: vec![AddressClass::Loopback, AddressClass::Private],
            ..Policy::default()
        };
        let cases = [
            ("151.101.1.1", true),
            ("93.184.216.7", false),
            ("10.1.2.3", false),
            ("127.77.0.11", true),
            ("169.254.1.1", false),
        ];
        for (ip, want) in cases {
            assert_eq!(asks_about(&policy, ip.parse().unwrap()), want, "{ip}");
        }
        let strict = Policy::default();
        assert!(!asks_about(&strict, "127.77.0.11".parse().unwrap()));
    }
}
