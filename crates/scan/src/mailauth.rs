//! Gathers the DNS answers mail-authentication checks need (SPF today): the domain's record,
//! its includes and redirects, and what evaluating it for each mail-host address asks.
//! Every answer is recorded verbatim in a [`MailAuthObservation`] so the checks re-run it
//! without the network. Excluded names are never asked (recorded as unknown).

use crate::net::Policy;
use crate::resolve::Dns;
use mxray_core::mailauth::{DnsAnswer, MailAuthObservation};
use mxray_core::model::{DomainObservation, Lookup};
use mxray_core::sanitize;
use mxray_core::spf::{self, SpfDns, SpfQuery};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

/// Upper bound on recorded answers per domain (a hostile record cannot make us ask more).
const MAX_ANSWERS: usize = 200;

/// A [`SpfDns`] over the real resolver that records (and caches) every answer.
struct Recorder<'a> {
    dns: &'a Dns,
    policy: &'a Policy,
    log: Mutex<Vec<DnsAnswer>>,
}

fn conv<T>(l: Lookup<Vec<T>>, f: impl Fn(&T) -> String) -> Lookup<Vec<String>> {
    match l {
        Lookup::Found(v) => Lookup::Found(v.iter().map(f).collect()),
        Lookup::NxDomain => Lookup::NxDomain,
        Lookup::NoData => Lookup::NoData,
        Lookup::Unknown(r) => Lookup::Unknown(r),
    }
}

impl Recorder<'_> {
    fn cached(&self, name: &str, rtype: &str) -> Option<Lookup<Vec<String>>> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter()
            .find(|a| a.name == name && a.rtype == rtype)
            .map(|a| a.answer.clone())
    }

    async fn ask(&self, name: &str, rtype: &'static str) -> Lookup<Vec<String>> {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(a) = self.cached(&key, rtype) {
            return a;
        }
        let full = self.log.lock().unwrap_or_else(|e| e.into_inner()).len() >= MAX_ANSWERS;
        let answer = if full {
            Lookup::Unknown("answer budget exhausted".into())
        } else if rtype != "PTR" && self.policy.exclusions.excludes_name(&key) {
            Lookup::Unknown("excluded".into())
        } else {
            match rtype {
                "TXT" => conv(self.dns.txt(&key).await, |t| sanitize::lossy(t)),
                "A" => conv(self.dns.a(&key).await, Ipv4Addr::to_string),
                "AAAA" => conv(self.dns.aaaa(&key).await, Ipv6Addr::to_string),
                "MX" => conv(self.dns.mx(&key).await, |m| m.exchange.clone()),
                "CAA" => self.dns.caa(&key).await,
                _ => match key.parse::<IpAddr>() {
                    Ok(ip) => self.dns.ptr(ip).await,
                    Err(_) => Lookup::Unknown("not an address".into()),
                },
            }
        };
        if !full {
            self.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(DnsAnswer {
                    name: key,
                    rtype: rtype.to_owned(),
                    answer: answer.clone(),
                });
        }
        answer
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

impl SpfDns for Recorder<'_> {
    async fn txt(&self, name: &str) -> Lookup<Vec<Vec<u8>>> {
        match self.ask(name, "TXT").await {
            Lookup::Found(v) => Lookup::Found(v.into_iter().map(String::into_bytes).collect()),
            Lookup::NxDomain => Lookup::NxDomain,
            Lookup::NoData => Lookup::NoData,
            Lookup::Unknown(r) => Lookup::Unknown(r),
        }
    }
    async fn a(&self, name: &str) -> Lookup<Vec<Ipv4Addr>> {
        parse_all(self.ask(name, "A").await)
    }
    async fn aaaa(&self, name: &str) -> Lookup<Vec<Ipv6Addr>> {
        parse_all(self.ask(name, "AAAA").await)
    }
    async fn mx(&self, name: &str) -> Lookup<Vec<String>> {
        self.ask(name, "MX").await
    }
    async fn ptr(&self, ip: IpAddr) -> Lookup<Vec<String>> {
        self.ask(&ip.to_string(), "PTR").await
    }
}

/// Gathers the SPF answers for `obs.domain`: the lint walk and one `check_host()` per
/// mail-host address (as `checks::spf` will replay them).
pub async fn gather(dns: &Dns, policy: &Policy, obs: &DomainObservation) -> MailAuthObservation {
    let rec = Recorder {
        dns,
        policy,
        log: Mutex::new(Vec::new()),
    };
    let _ = spf::lint(&rec, &obs.domain).await;
    for h in &obs.hosts {
        for ip in h.addresses.found().into_iter().flatten().take(10) {
            let q = SpfQuery::mail_from(*ip, &h.name, &format!("postmaster@{}", obs.domain));
            let _ = spf::check_host(&rec, &q).await;
        }
    }
    // DMARC at the domain and at its organisational domain (RFC 7489 §6.6.3).
    let _ = rec.txt(&format!("_dmarc.{}", obs.domain)).await;
    let org = mxray_core::dmarc::org_domain(&obs.domain);
    if org != obs.domain {
        let _ = rec.txt(&format!("_dmarc.{org}")).await;
    }
    // MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3) records.
    let _ = rec.txt(&format!("_mta-sts.{}", obs.domain)).await;
    let _ = rec.txt(&format!("_smtp._tls.{}", obs.domain)).await;
    // DKIM keys at the common selectors.
    for sel in mxray_core::dkim::selectors(mxray_core::dkim::DEFAULT_SELECTORS) {
        let _ = rec.txt(&format!("{sel}._domainkey.{}", obs.domain)).await;
    }
    // CAA at the domain (RFC 8659; the tree climb to parents is not done yet).
    let _ = rec.ask(&obs.domain, "CAA").await;
    MailAuthObservation {
        dns: rec.log.into_inner().unwrap_or_else(|e| e.into_inner()),
    }
}
