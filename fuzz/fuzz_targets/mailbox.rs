//! POP3 and IMAP greetings, capabilities (CAPA / CAPABILITY, SASL, STLS / STARTTLS, login
//! methods), tagged lines and the IMAP `ID` response with its literals (`core::mailbox`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::mailbox;
use mxray_core::model::MailboxProtocol;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<String> = text.split('\n').map(|l| l.trim_end_matches('\r').to_owned()).collect();
    for l in &lines {
        let _ = mailbox::pop3_ok(l);
        let _ = mailbox::imap_line(l, "a1");
        let _ = mailbox::imap_greeting_ok(l);
        let _ = mailbox::imap_capabilities(l);
        if let Some(id) = mailbox::imap_id(l) {
            let _ = mailbox::imap_id_text(&id.fields);
        }
    }
    for p in [MailboxProtocol::Pop3, MailboxProtocol::Imap] {
        let _ = mailbox::sasl_mechanisms(p, &lines);
        let _ = mailbox::offers_tls(p, &lines);
        let _ = mailbox::plaintext_login_methods(p, &lines);
    }
});
