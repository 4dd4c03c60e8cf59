//! Bodies: directory listings and their entries, mailbox-looking entries, Git HEAD files and
//! status pages (`core::http`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::http;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    if let Some(l) = http::detect_listing(&body) {
        assert!(l.entries.len() <= http::MAX_ENTRIES);
        for e in http::mailbox_entries(&l) {
            let _ = http::percent_decode(&e);
        }
    }
    let _ = (http::is_git_head(&body), http::status_page(&body));
});
