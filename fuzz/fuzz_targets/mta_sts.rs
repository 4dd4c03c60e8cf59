//! MTA-STS policy files and `mx:` pattern matching (`core::mta_sts`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::mta_sts;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = mta_sts::parse(&text) {
        let _ = format!("{p:?}");
    }
    if let Some((pattern, host)) = text.split_once('\n') {
        let _ = mta_sts::mx_matches(pattern, host);
    }
});
