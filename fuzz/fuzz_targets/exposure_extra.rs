//! The exposure-extra parsers on one input: telnet negotiation and text (`core::telnet`), SMB
//! negotiate answers and NetBIOS frames (`core::smb`), HTTP CONNECT and SOCKS answers
//! (`core::proxy`), FTP replies and the anonymous verdict (`core::ftp`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::{ftp, proxy, smb, telnet};

fuzz_target!(|data: &[u8]| {
    let s = telnet::split(data);
    let _ = telnet::refusals(&s.negotiation);
    let _ = telnet::lines(&s.text);
    let _: Vec<String> = s.negotiation.iter().map(|n| n.render()).collect();

    let _ = smb::parse_session_answer(data);
    if data.len() >= 4 {
        let _ = smb::frame_len([data[0], data[1], data[2], data[3]]);
    }
    if let Ok(n) = smb::parse_smb2_negotiate(data) {
        let _ = smb::dialect_name(n.dialect);
    }
    let _ = smb::parse_smb1_negotiate(data);

    let _ = proxy::socks5_method(data);
    let _ = proxy::socks5_reply_len(data);
    let _ = proxy::socks5_verdict(data);
    let _ = proxy::socks4_verdict(data);

    let text = String::from_utf8_lossy(data);
    let mut p = ftp::FtpReplyParser::new();
    let mut replies = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        let _ = mxray_core::http::status_code(line);
        let _ = proxy::is_smtp_greeting(line);
        match p.push(line) {
            Ok(Some(r)) => replies.push(r),
            Ok(None) => {}
            Err(_) => p = ftp::FtpReplyParser::new(),
        }
    }
    if let Some(a) = replies.first() {
        let _ = ftp::judge(a, replies.get(1));
    }
});
