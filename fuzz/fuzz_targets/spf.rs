//! SPF: the record parser, and `check_host` over a DNS the input invents (`core::spf`).
//!
//! Input: the first line is the domain's record; every further line `name TYPE value` is a DNS
//! answer (TXT, A, AAAA, MX, PTR, or `name FAIL` for a timeout). Names not given are NXDOMAIN.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::model::Lookup;
use mxray_core::spf::{self, SpfDns, SpfQuery};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

struct FuzzDns(Vec<(String, String, String)>);

impl FuzzDns {
    fn get(&self, name: &str, rtype: &str) -> Lookup<Vec<String>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if self.0.iter().any(|(n, t, _)| *n == name && t == "FAIL") {
            return Lookup::Unknown("timeout".into());
        }
        let v: Vec<String> = self
            .0
            .iter()
            .filter(|(n, t, _)| *n == name && t == rtype)
            .map(|(_, _, v)| v.clone())
            .collect();
        if !v.is_empty() {
            Lookup::Found(v)
        } else if self.0.iter().any(|(n, _, _)| *n == name) {
            Lookup::NoData
        } else {
            Lookup::NxDomain
        }
    }
}

fn map<T>(l: Lookup<Vec<String>>, f: impl Fn(&str) -> Option<T>) -> Lookup<Vec<T>> {
    match l {
        Lookup::Found(v) => Lookup::Found(v.iter().filter_map(|s| f(s)).collect()),
        Lookup::NxDomain => Lookup::NxDomain,
        Lookup::NoData => Lookup::NoData,
        Lookup::Unknown(r) => Lookup::Unknown(r),
    }
}

impl SpfDns for FuzzDns {
    async fn txt(&self, name: &str) -> Lookup<Vec<Vec<u8>>> {
        map(self.get(name, "TXT"), |s| Some(s.as_bytes().to_vec()))
    }
    async fn a(&self, name: &str) -> Lookup<Vec<Ipv4Addr>> {
        map(self.get(name, "A"), |s| s.parse().ok())
    }
    async fn aaaa(&self, name: &str) -> Lookup<Vec<Ipv6Addr>> {
        map(self.get(name, "AAAA"), |s| s.parse().ok())
    }
    async fn mx(&self, name: &str) -> Lookup<Vec<String>> {
        self.get(name, "MX")
    }
    async fn ptr(&self, ip: IpAddr) -> Lookup<Vec<String>> {
        self.get(&ip.to_string(), "PTR")
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let record = lines.next().unwrap_or("");
    let _ = spf::is_spf_record(record.as_bytes());
    if let Ok(r) = spf::parse(record) {
        let _ = format!("{r:?}");
    }
    let mut answers = vec![("fuzz.example".to_owned(), "TXT".to_owned(), record.to_owned())];
    for l in lines.take(64) {
        let mut w = l.splitn(3, ' ');
        let (Some(n), Some(t)) = (w.next(), w.next()) else {
            continue;
        };
        answers.push((
            n.trim_end_matches('.').to_ascii_lowercase(),
            t.to_ascii_uppercase(),
            w.next().unwrap_or("").to_owned(),
        ));
    }
    let dns = FuzzDns(answers);
    for ip in ["192.0.2.1", "2001:db8::1"] {
        let q = SpfQuery::mail_from(ip.parse().unwrap(), "helo.fuzz.example", "a@fuzz.example");
        let _ = futures::executor::block_on(spf::check_host(&dns, &q));
    }
});
