//! DKIM key records (`v=DKIM1; k=rsa; p=…`, revoked, testing) and selector lists
//! (`core::dkim`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::dkim;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = dkim::parse_key(&text);
    let _ = dkim::selectors(&text);
});
