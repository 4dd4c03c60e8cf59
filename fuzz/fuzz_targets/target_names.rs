//! Names from the network and from operators: domain parsing, the DNS form exclusions compare
//! and the exclusion check itself, domain-list lines and their counter (`core::target`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::target::{self, Domain, DomainList, Exclusions, LineCounter};
use std::sync::OnceLock;

fn exclusions() -> &'static Exclusions {
    static E: OnceLock<Exclusions> = OnceLock::new();
    E.get_or_init(|| Exclusions::parse("excluded.example\nmil\n192.0.2.0/24\n").unwrap())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(d) = Domain::parse(&text) {
        // A parsed domain is in DNS form already, and both checks agree on it.
        assert_eq!(target::dns_name(d.as_str()).as_deref(), Some(d.as_str()));
        assert_eq!(exclusions().excludes_domain(&d), exclusions().excludes_name(d.as_str()));
    }
    let _ = exclusions().excludes_name(&text);
    let _ = Exclusions::parse(&text);
    let mut list = DomainList::new();
    let mut counter = LineCounter::default();
    counter.feed(data);
    let mut content = 0;
    for l in text.split('\n') {
        if !matches!(list.push(l), target::Line::Nothing) {
            content += 1;
        }
    }
    let _ = (counter.finish(), content);
});
