//! The server's answer to a crafted ClientHello: TLS records, ServerHello (split over records,
//! extensions, supported_versions, HelloRetryRequest) and alerts (`core::tlsprobe`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::tlsprobe::{self, Answer, Parsed};

fuzz_target!(|data: &[u8]| {
    // Every prefix as the probe sees it while reading: never a panic, and once an answer is
    // known, more bytes never change it.
    let mut done: Option<Answer> = None;
    for end in [data.len() / 3, data.len() / 2, data.len()] {
        match tlsprobe::parse_answer(&data[..end]) {
            Parsed::Done(a) => {
                if let Some(d) = &done {
                    assert_eq!(d, &a);
                }
                if let Answer::Hello(h) = &a {
                    let _ = tlsprobe::classify(h.suite);
                    let _ = tlsprobe::suite_name(h.suite);
                    let _ = tlsprobe::TlsVersion::from_wire(h.version);
                }
                if let Answer::Alert { description, .. } = &a {
                    let _ = tlsprobe::alert_name(*description);
                }
                done = Some(a);
            }
            Parsed::Incomplete(n) => assert!(n > 0),
            Parsed::Invalid(w) => {
                let _ = w.as_str();
            }
        }
    }
});
