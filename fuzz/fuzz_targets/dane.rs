//! TLSA records against a certificate chain (`core::dane`): fields and data from the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::dane::{self, Tlsa};
use mxray_core::model::CertInfo;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let text = String::from_utf8_lossy(&data[3..]).into_owned();
    let t = Tlsa {
        usage: data[0],
        selector: data[1],
        matching: data[2],
        data: text.clone(),
        data_sha256: text.chars().rev().collect(),
    };
    let _ = (t.render(), t.usable());
    let cert: CertInfo = match serde_json::from_value(serde_json::json!({
        "subject": "", "issuer": "", "sans": [], "not_before": 0, "not_after": 0,
        "self_signed": false, "serial": "", "key": "",
        "sha256": text, "sha512": text, "spki_sha256": text, "spki_sha512": text,
    })) {
        Ok(c) => c,
        Err(_) => return,
    };
    let _ = t.matches_cert(&cert);
    let _ = dane::matches_chain(&t, &[cert.clone(), cert]);
});
