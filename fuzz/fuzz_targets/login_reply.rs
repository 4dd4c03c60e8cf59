//! Answers to logins (`core::login`): SMTP AUTH reply codes and text, IMAP tagged `LOGIN`
//! completions, POP3 `PASS` replies, and the protection verdict over a series of them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::login::{self, Attempt};
use mxray_core::mailbox::{ImapLine, imap_line};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut attempts = Vec::new();
    for (i, l) in text.split('\n').enumerate() {
        let l = l.trim_end_matches('\r');
        let code = l.get(..3).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0);
        let mut replies = vec![login::smtp_auth(code, l.get(4..).unwrap_or("")), login::pop3_pass(l)];
        if let ImapLine::Tagged(status, rest) = imap_line(l, "a1") {
            replies.push(login::imap_login(&status, rest));
        }
        for reply in replies {
            attempts.push(Attempt {
                n: u32::try_from(attempts.len() + 1).unwrap_or(u32::MAX),
                ms: (i as u64).wrapping_mul(997) % 20_000,
                reply,
                text: l.to_owned(),
            });
        }
    }
    let _ = login::protection(&attempts);
    let _ = login::should_stop(&attempts);
    let _ = login::curve(&attempts);
});
