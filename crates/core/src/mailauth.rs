//! Mail-authentication observations (SPF today): the raw DNS answers discovery saw, kept so
//! that checks can re-evaluate them without the network, and a [`SpfDns`] over them.

use crate::model::Lookup;
use crate::spf::SpfDns;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What discovery gathered for a domain's mail authentication.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct MailAuthObservation {
    /// Every DNS answer SPF evaluation asked for (the domain's TXT, includes, redirects, and
    /// what `a`, `mx`, `ptr` and `exists` terms needed), verbatim.
    #[serde(default)]
    pub dns: Vec<DnsAnswer>,
    /// The DKIM selectors asked (empty in scans made before the list was configurable: the
    /// default list, `crates/core/data/dkim-selectors.txt`).
    #[serde(default)]
    pub dkim_selectors: Vec<String>,
    /// Whether the zone is signed and the resolver validates it (`None`: not asked).
    #[serde(default)]
    pub dnssec: Option<DnssecObservation>,
    /// The MTA-STS policy fetch, when the `_mta-sts` record exists (`None`: not fetched).
    #[serde(default)]
    pub mta_sts_policy: Option<crate::mta_sts::PolicyFetch>,
}

/// A DNS answer with the resolver's AD bit (RFC 4035 §3.2.3, asked for with AD=1 in the
/// query as RFC 6840 §5.7 allows).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct SecureAnswer {
    /// The records, in a short presentation form.
    pub answer: Lookup<Vec<String>>,
    /// AD was set: the resolver validated the answer.
    pub authenticated: bool,
}

/// DNSSEC as seen through the configured resolver.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct DnssecObservation {
    /// The zone asked: the domain, or its organisational domain when the domain has no
    /// DNSKEY of its own.
    pub zone: String,
    /// DNSKEY at the zone apex.
    pub dnskey: SecureAnswer,
    /// DS for the zone (answered by the parent).
    pub ds: SecureAnswer,
    /// DNSKEY asked again with CD=1 (checking disabled), only when the first answer failed:
    /// data now means a validating resolver rejected the zone (a broken chain).
    #[serde(default)]
    pub dnskey_unchecked: Option<SecureAnswer>,
    /// The verdict on the zone's chain of trust: the resolver's AD bit when it is trusted,
    /// else mxray's own validation (`None` in scans made before mxray validated).
    #[serde(default)]
    pub validation: Option<crate::dnssec::Validation>,
}

/// One DNS question and its answer.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct DnsAnswer {
    /// The name asked, lowercase, without trailing dot (for PTR: the address).
    pub name: String,
    /// `TXT`, `A`, `AAAA`, `MX` or `PTR`.
    pub rtype: String,
    /// The answer; TXT values are the joined character-strings, verbatim (lossy UTF-8).
    pub answer: Lookup<Vec<String>>,
}

impl MailAuthObservation {
    /// The recorded answer, `Unknown("not recorded")` when discovery never asked.
    pub fn answer(&self, name: &str, rtype: &str) -> Lookup<Vec<String>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.dns
            .iter()
            .find(|a| a.name == name && a.rtype == rtype)
            .map_or_else(
                || Lookup::Unknown("not recorded".into()),
                |a| a.answer.clone(),
            )
    }
}

fn parse_all<T: std::str::FromStr>(l: Lookup<Vec<String>>) -> Lookup<Vec<T>> {
    l.map(|v| v.iter().filter_map(|s| s.parse().ok()).collect())
}

impl SpfDns for MailAuthObservation {
    async fn txt(&self, name: &str) -> Lookup<Vec<Vec<u8>>> {
        self.answer(name, "TXT")
            .map(|v| v.into_iter().map(String::into_bytes).collect())
    }
    async fn a(&self, name: &str) -> Lookup<Vec<Ipv4Addr>> {
        parse_all(self.answer(name, "A"))
    }
    async fn aaaa(&self, name: &str) -> Lookup<Vec<Ipv6Addr>> {
        parse_all(self.answer(name, "AAAA"))
    }
    async fn mx(&self, name: &str) -> Lookup<Vec<String>> {
        self.answer(name, "MX")
    }
    async fn ptr(&self, ip: IpAddr) -> Lookup<Vec<String>> {
        self.answer(&ip.to_string(), "PTR")
    }
}

/// Drives a future that never waits (evaluation over recorded answers) to completion.
pub fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
