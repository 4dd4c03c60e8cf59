//! Bodies: directory listings (`core::listing`: nginx, Apache, lighttpd, python, IIS, generic)
//! with their entries, the mail-store proofs, the links the descent would follow, the masking
//! of addresses, Git HEAD files and status pages (`core::http`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::{http, listing};

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    if let Some(l) = listing::parse(&body) {
        assert!(l.entries.len() <= listing::MAX_ENTRIES);
        let items = listing::items(&l);
        for e in &items {
            let _ = listing::percent_decode(&e.name);
            let _ = listing::child_dir("/a/b/", &e.name);
            let _ = listing::mask_addresses(&e.name);
        }
        let _ = listing::mail_proofs([("/", &l)]);
    }
    let _ = (http::is_git_head(&body), http::status_page(&body));
});
