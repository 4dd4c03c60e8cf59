//! mxray's pure core: no sockets, no runtime, no database.
//!
//! The pipeline reads left to right:
//!
//! ```text
//! targets ─► discovery ─► probes ─► observations ─► checks ─► findings ─► store ─► reports
//!  (target)                          (model)        (checks)   (finding)
//! ```
//!
//! This crate owns the data that flows through it (targets, observations, findings), the
//! sans-I/O protocol parsers (`smtp`), and the checks, which are pure functions from
//! observations to findings. Because checks never touch the network, a stored scan can be
//! re-checked later, and every check is tested with plain values.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod addr;
pub mod adoption;
pub mod advisory;
pub mod catalogue;
pub mod checks;
pub mod coverage;
pub mod cvss;
pub mod dane;
pub mod date;
pub mod dkim;
pub mod dmarc;
pub mod dnssec;
pub mod finding;
pub mod fingerprint;
pub mod ftp;
pub mod http;
pub mod inputs;
pub mod listing;
pub mod listmail;
pub mod login;
pub mod mailauth;
pub mod mailbox;
pub mod model;
pub mod mta_sts;
pub mod proxy;
pub mod relay;
pub mod reputation;
pub mod sanitize;
pub mod scope;
pub mod smb;
pub mod smtp;
pub mod spf;
pub mod target;
pub mod telnet;
pub mod tlsprobe;
pub mod version;
pub mod watch;

pub use finding::{Finding, Severity};

/// Standard base64 (RFC 4648) as DKIM keys and RFC 2047 "B" encoded words carry it: padding
/// optional, trailing bits tolerated; `None` for any other character.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    base64::Engine::decode(&LENIENT, s).ok()
}
