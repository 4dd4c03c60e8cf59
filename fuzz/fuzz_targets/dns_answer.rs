//! DNS-server answers as the DNS-server probe reads them: any message (a CHAOS `version.bind`
//! / `hostname.bind` answer, an AXFR message) decoded, its TXT text joined and its records
//! rendered as the AXFR sample is (`scan::probe::dnsserver`).
#![no_main]
use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use mxray_scan::probe::dnsserver;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::from_vec(data) else {
        return;
    };
    let _ = dnsserver::txt_answer(&m);
    let _ = dnsserver::rcode(m.metadata.response_code).mnemonic();
    for r in m.answers.iter().take(64) {
        let _ = r.to_string();
    }
});
