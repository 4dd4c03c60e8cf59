//! DMARC records, their report destinations and organisational domains (`core::dmarc`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::dmarc;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = dmarc::is_dmarc_record(&text);
    if let Ok(r) = dmarc::parse(&text) {
        let _ = (r.policy(), r.subdomain_policy(), r.pct());
        let _ = dmarc::strength(r.policy());
        let _ = dmarc::external_report_names("fuzz.example.jp", &r);
    }
    let _ = dmarc::org_domain(&text);
});
