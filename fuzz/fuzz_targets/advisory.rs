//! Advisories: OSV JSON and mxray's TOML (`core::advisory`), matched against the software the
//! built-in signatures find in the same text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::advisory;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = advisory::parse_native(&text);
    let _ = advisory::parse_osv(&text);
    if let Ok(list) = advisory::parse_any(&text) {
        for a in &list {
            let _ = a.affects(&text);
        }
        let _ = advisory::matches(&list, &[]);
    }
});
