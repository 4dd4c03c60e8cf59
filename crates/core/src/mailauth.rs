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
    match l {
        Lookup::Found(v) => Lookup::Found(v.iter().filter_map(|s| s.parse().ok()).collect()),
        Lookup::NxDomain => Lookup::NxDomain,
        Lookup::NoData => Lookup::NoData,
        Lookup::Unknown(r) => Lookup::Unknown(r),
    }
}

impl SpfDns for MailAuthObservation {
    async fn txt(&self, name: &str) -> Lookup<Vec<Vec<u8>>> {
        match self.answer(name, "TXT") {
            Lookup::Found(v) => Lookup::Found(v.into_iter().map(String::into_bytes).collect()),
            Lookup::NxDomain => Lookup::NxDomain,
            Lookup::NoData => Lookup::NoData,
            Lookup::Unknown(r) => Lookup::Unknown(r),
        }
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
