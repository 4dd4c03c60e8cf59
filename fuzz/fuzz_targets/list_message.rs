//! What the mailing-list canary reads back from a subscriber's mailbox (`core::listmail`):
//! received messages (header fields, folding, RFC 2047 words, Reply-To addresses, the body)
//! and the IMAP/POP3 answers of the mailbox reader (UIDNEXT, SEARCH, FETCH literals, STAT).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::listmail::{self, Message};

fuzz_target!(|data: &[u8]| {
    let m = Message::parse(data);
    assert!(m.fields.len() <= listmail::MAX_FIELDS);
    assert!(m.body.len() <= listmail::MAX_BODY);
    let _ = m.carries("mxray-canary-00");
    let _ = m.reply_to_list("open@lists.lab");
    let _ = m.is_roster("lists.lab", "sub1@members.lab");
    let _ = m.subject();
    let text = String::from_utf8_lossy(data);
    let _ = listmail::decode_words(&text);
    let _ = listmail::addresses(&text);
    for l in text.split('\n') {
        let l = l.trim_end_matches('\r');
        let _ = listmail::imap_uidnext(l);
        let _ = listmail::imap_search(l);
        let _ = listmail::imap_literal(l);
        let _ = listmail::imap_fetch_uid(l);
        let _ = listmail::pop3_stat(l);
    }
});
