//! mxray's reports, rendered from stored data without I/O: a self-contained offline HTML
//! report (inline CSS, inline SVG charts, one small inline script, no external resource of any
//! kind) in English or Japanese, and the diff between two scans.
//!
//! Everything that came from a scanned server (banners, replies, certificate fields, DNS
//! names) is attacker-controlled. The HTML goes through askama's auto-escaping only — no
//! `|safe` on data — and a Content-Security-Policy allows just the report's own script (by
//! hash), so even a bug in escaping could not run an injected one.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod charts;
pub mod diff;
mod html;
mod i18n;
pub mod notice;
pub mod survey;

pub use html::{DomainEntry, HostEntry, OsEntry, ReportInput, SoftwareEntry, render};
pub use i18n::Lang;

/// The organisation a host name belongs to, by registrable domain (Public Suffix List):
/// `mx1.mail.example.co.jp` → `example.co.jp`. Heuristic attribution until an ASN database
/// is given.
pub fn registrable(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&host).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #[test]
    fn registrable_domains() {
        assert_eq!(
            super::registrable("mx1.mail.example.co.jp").as_deref(),
            Some("example.co.jp")
        );
        assert_eq!(
            super::registrable("ASPMX.L.GOOGLE.COM.").as_deref(),
            Some("google.com")
        );
        assert_eq!(super::registrable("com"), None);
    }
}
