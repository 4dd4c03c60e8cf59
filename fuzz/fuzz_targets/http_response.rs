//! HTTP framing: status line, headers, `Content-Length` / chunked / read-to-close bodies under
//! a cap (`core::http::parse_response`, the framing the web probe applies to a stream).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::http;

fuzz_target!(|data: &[u8]| {
    let cap = 4096;
    if let Ok((code, head, body)) = http::parse_response(data, cap) {
        assert!((100..600).contains(&code));
        assert!(body.len() <= cap, "body over the cap");
        let _ = head.length;
    }
    for line in String::from_utf8_lossy(data).lines() {
        let _ = (http::status_code(line), http::header(line), http::chunk_size(line));
    }
});
