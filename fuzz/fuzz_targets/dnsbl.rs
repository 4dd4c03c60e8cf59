//! DNSBL answers decoded per list (return codes, refusals), query names for addresses and
//! names, `--dnsbl` values and list files, provider guesses from names (`core::reputation`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::reputation::{DnsblList, DnsblSet, ListKind, Provider};
use std::net::{IpAddr, Ipv4Addr};

fuzz_target!(|data: &[u8]| {
    let set = DnsblSet::builtin();
    for chunk in data.chunks_exact(4) {
        let a = Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3]);
        for l in &set.lists {
            let _ = l.decode(a);
            let _ = l.ip_query(IpAddr::V4(a));
        }
        let _ = DnsblList::generic("fuzz.example", ListKind::Ip).decode(a);
    }
    let text = String::from_utf8_lossy(data);
    for l in &set.lists {
        let _ = l.name_query(&text);
    }
    let _ = DnsblSet::from_arg(&text);
    let _ = DnsblSet::parse(&text);
    let names: Vec<String> = text.lines().map(str::to_owned).collect();
    let _ = Provider::from_names(&names, &names).map(|p| p.label());
});
