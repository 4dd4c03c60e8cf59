//! Scope files (`core::scope`): operator input rather than network input, but it decides
//! what may be attacked, so any input must parse or be refused without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::scope::Scope;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(s) = Scope::parse(&text) {
        for srv in &s.servers {
            let _ = s.authorise(srv, false, Some(&[text.to_string()]));
            let _ = s.authorise(srv, true, None);
        }
        let _ = s.record();
    }
});
