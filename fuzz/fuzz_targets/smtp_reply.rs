//! SMTP replies (multi-line, bad codes, endless continuations), EHLO capabilities and the
//! greeting's server name (`core::smtp`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::smtp::{Capabilities, ReplyParser, greeting_name};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut p = ReplyParser::new();
    for line in text.split('\n') {
        match p.push(line.trim_end_matches('\r')) {
            Ok(Some(reply)) => {
                let _ = (reply.is_positive(), reply.first_text(), reply.to_wire_text());
                let _ = greeting_name(&reply);
                let caps = Capabilities::from_ehlo(&reply);
                let _ = (caps.has("STARTTLS"), caps.auth_mechanisms());
                p = ReplyParser::new();
            }
            Ok(None) => {}
            Err(_) => p = ReplyParser::new(),
        }
    }
});
