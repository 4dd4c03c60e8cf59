//! Property tests: the parsers of network and input text never panic, and the output
//! neutralisers never let a control character through, whatever the bytes.

use mxray_core::sanitize::{for_csv_cell, for_terminal};
use mxray_core::smtp::{Capabilities, Reply, ReplyParser, greeting_name};
use mxray_core::target::{Domain, DomainList, Exclusions};
use proptest::prelude::*;

fn wire_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[2-5][0-9][0-9][ -]?[ -~]{0,80}",
        any::<String>(),
        proptest::collection::vec(any::<u8>(), 0..120)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn reply_parser_never_panics_and_keeps_codes(lines in proptest::collection::vec(wire_line(), 0..40)) {
        let mut p = ReplyParser::new();
        for l in &lines {
            match p.push(l) {
                Ok(Some(r)) => {
                    prop_assert!((200..600).contains(&r.code));
                    prop_assert!(!r.lines.is_empty());
                    let caps = Capabilities::from_ehlo(&r);
                    let _ = caps.auth_mechanisms();
                    let _ = greeting_name(&r);
                    let _ = r.to_wire_text();
                }
                Ok(None) => {}
                Err(_) => p = ReplyParser::new(),
            }
        }
    }

    #[test]
    fn domain_parsing_never_panics(s in any::<String>()) {
        if let Ok(d) = Domain::parse(&s) {
            prop_assert!(d.as_str().is_ascii());
            prop_assert!(d.as_str().len() <= 253);
            prop_assert!(!d.as_str().ends_with('.'));
            prop_assert_eq!(Domain::parse(d.as_str()).ok(), Some(d), "normalisation is idempotent");
        }
        let mut list = DomainList::new();
        let _ = list.push(&s);
        let _ = Exclusions::parse(&s);
    }

    #[test]
    fn neutralised_text_has_no_control_characters(s in any::<String>()) {
        let t = for_terminal(&s);
        let bidi = |c: char| ('\u{202a}'..='\u{202e}').contains(&c);
        let bad = t.chars().any(|c| (c.is_control() && c != '\t') || bidi(c));
        prop_assert!(!bad, "control character left in {:?}", t);
        let c = for_csv_cell(&s);
        prop_assert!(!c.starts_with(['=', '+', '-', '@', '\t', '\r']));
    }

    #[test]
    fn greeting_names_are_plausible_host_names(text in "[ -~]{0,60}") {
        let r = Reply { code: 220, lines: vec![text] };
        if let Some(n) = greeting_name(&r) {
            prop_assert!(n.contains('.'));
            prop_assert!(n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
        }
    }
}
