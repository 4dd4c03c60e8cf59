//! Banners → software and OS guesses: every evidence kind (SMTP greeting and EHLO, POP3/IMAP
//! greetings, IMAP ID, HTTP Server / X-Powered-By, version.bind, SSH identification) through
//! the built-in signatures, and version comparison (`core::fingerprint`, `core::version`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::fingerprint::{self, Evidence, Signatures, Source};
use std::sync::OnceLock;

fn signatures() -> &'static Signatures {
    static S: OnceLock<Signatures> = OnceLock::new();
    S.get_or_init(Signatures::builtin)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let evidence: Vec<Evidence> = Source::ALL
        .iter()
        .map(|s| Evidence {
            source: *s,
            port: 25,
            text: text.clone(),
        })
        .collect();
    for e in &evidence {
        if let Some(sw) = signatures().identify(e) {
            if let Some(v) = &sw.version {
                let _ = mxray_core::version::compare(v, &text);
            }
        }
    }
    let fp = signatures().fingerprint(&evidence);
    let _ = format!("{fp:?}");
    let _ = fingerprint::normalise_os(&text);
    if let Some((a, b)) = text.split_once('\n') {
        let _ = mxray_core::version::compare(a, b);
    }
});
