//! Making attacker-controlled text harmless for each medium it is written to.
//!
//! Banners, EHLO lines, certificate fields and DNS answers come from the scanned servers.
//! They are stored verbatim (they are evidence) and neutralised at output time.

/// Text safe to print on a terminal: control characters (C0, DEL, C1 — which includes ESC and
/// CSI, so no colour, cursor or title sequence survives) and Unicode bidirectional overrides
/// are shown as `\xNN` / `\u{NNNN}` escapes instead of being interpreted.
pub fn for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let cp = c as u32;
        if cp < 0x20 && c != '\t' || (0x7f..=0x9f).contains(&cp) {
            out.push_str(&format!("\\x{cp:02x}"));
        } else if matches!(cp, 0x202a..=0x202e | 0x2066..=0x2069 | 0x200e | 0x200f | 0x061c) {
            out.push_str(&format!("\\u{{{cp:04x}}}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Bytes from the wire as text: invalid UTF-8 becomes U+FFFD, and the result is then safe to
/// store and to pass to [`for_terminal`].
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A cell safe for spreadsheet programs: a value starting with `=`, `+`, `-`, `@`, TAB or CR
/// would be evaluated as a formula (CSV injection, OWASP); it gets a leading apostrophe.
/// Control characters other than TAB are escaped as on a terminal.
pub fn for_csv_cell(s: &str) -> String {
    let clean = for_terminal(s);
    if clean.starts_with(['=', '+', '-', '@', '\t', '\r']) || clean.starts_with("\\x0d") {
        format!("'{clean}")
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_controls() {
        assert_eq!(for_terminal("220 ok\u{1b}[2J\u{7}"), "220 ok\\x1b[2J\\x07");
        assert_eq!(for_terminal("a\r\nb"), "a\\x0d\\x0ab");
        assert_eq!(for_terminal("\u{9b}31m"), "\\x9b31m");
        assert_eq!(for_terminal("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(for_terminal("日本語 ok\t"), "日本語 ok\t");
    }

    #[test]
    fn csv_neutralises_formulas() {
        assert_eq!(for_csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(for_csv_cell("+1"), "'+1");
        assert_eq!(for_csv_cell("-2"), "'-2");
        assert_eq!(for_csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(for_csv_cell("220 mail ESMTP"), "220 mail ESMTP");
        assert_eq!(for_csv_cell("\r=1"), "'\\x0d=1");
    }
}
