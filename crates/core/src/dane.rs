//! DANE for SMTP (RFC 7672, RFC 6698, RFC 7671): the TLSA records published at
//! `_25._tcp.<MX host>` and whether they match the certificate chain a server presented.
//!
//! Only the records' fields and digests are kept, so matching needs no cryptography here:
//! the scanner records SHA-256 and SHA-512 of each certificate and of its
//! SubjectPublicKeyInfo ([`crate::model::CertInfo`]); a matching-type-0 record (the full
//! DER) is compared through the SHA-256 of its data, recorded when the answer was read.

use crate::model::{CertInfo, Lookup};
use serde::{Deserialize, Serialize};

/// Longest certificate association data kept (bytes); longer data is cut and cannot match.
pub const MAX_TLSA_DATA: usize = 4096;

/// One TLSA record (RFC 6698 §2.1).
///
/// ```text
/// TLSA = usage selector matching-type certificate-association-data
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Tlsa {
    /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// 0 the full certificate, 1 the SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 exact data, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// The association data, lowercase hex (at most [`MAX_TLSA_DATA`] bytes).
    pub data: String,
    /// SHA-256 of the association data, hex (how a matching-type-0 record is compared).
    #[serde(default)]
    pub data_sha256: String,
}

impl Tlsa {
    /// Presentation form, `3 1 1 ab12…` (data shortened to 64 hex digits).
    pub fn render(&self) -> String {
        // `data` is hex when the scanner read it, but a stored scan is text from a file:
        // cut by characters, never inside one (found by fuzz/fuzz_targets/dane.rs).
        let d = match self.data.char_indices().nth(64) {
            Some((i, _)) => format!("{}…", &self.data[..i]),
            None => self.data.clone(),
        };
        format!("{} {} {} {d}", self.usage, self.selector, self.matching)
    }

    /// Whether SMTP clients use this record: RFC 7672 §3.1.3 makes PKIX-TA(0) and PKIX-EE(1)
    /// unusable for SMTP, and only selectors 0/1 and matching types 0/1/2 are defined.
    pub fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2
    }

    /// Whether the record matches one certificate (the usage decides which certificates of
    /// the chain are tried; see [`matches_chain`]).
    pub fn matches_cert(&self, c: &CertInfo) -> bool {
        let (full, spki) = match self.matching {
            0 => (&c.sha256, &c.spki_sha256),
            1 => (&c.sha256, &c.spki_sha256),
            2 => (&c.sha512, &c.spki_sha512),
            _ => return false,
        };
        let want = if self.matching == 0 {
            &self.data_sha256
        } else {
            &self.data
        };
        let have = match self.selector {
            0 => full,
            1 => spki,
            _ => return false,
        };
        !have.is_empty() && have.eq_ignore_ascii_case(want)
    }
}

/// Whether a usable record matches the chain as sent (leaf first): DANE-EE(3) the leaf only,
/// DANE-TA(2) any certificate the server sent (RFC 7671 §5.2.2: the trust anchor must be in
/// the chain; the signature path from it to the leaf is not re-verified here).
pub fn matches_chain(t: &Tlsa, chain: &[CertInfo]) -> bool {
    if !t.usable() {
        return false;
    }
    match t.usage {
        3 => chain.first().is_some_and(|c| t.matches_cert(c)),
        2 => chain.iter().any(|c| t.matches_cert(c)),
        _ => false,
    }
}

/// The TLSA answer for one MX host, with the resolver's AD bit.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct TlsaLookup {
    /// The MX host name.
    pub host: String,
    /// The name asked, `_25._tcp.<host>`.
    pub name: String,
    /// The records.
    pub answer: Lookup<Vec<Tlsa>>,
    /// The resolver set AD (RFC 4035 §3.2.3): it validated the answer with DNSSEC.
    pub authenticated: bool,
    /// The DNSSEC verdict on the answer (the resolver's AD bit when it is trusted, else
    /// mxray's own validation); `None` in scans made before mxray validated, where the AD bit
    /// alone decides.
    #[serde(default)]
    pub validation: Option<crate::dnssec::Validation>,
}

impl TlsaLookup {
    /// Whether the answer may be used for DANE (RFC 7672 §2.2: only a secure answer).
    pub fn trusted(&self) -> bool {
        match &self.validation {
            Some(v) => v.is_secure(),
            None => self.authenticated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(tag: &str) -> CertInfo {
        CertInfo {
            subject: format!("CN={tag}"),
            issuer: String::new(),
            sans: vec![],
            not_before: 0,
            not_after: 0,
            self_signed: false,
            serial: String::new(),
            key: String::new(),
            sha256: format!("{tag}-full256"),
            sha512: format!("{tag}-full512"),
            spki_sha256: format!("{tag}-spki256"),
            spki_sha512: format!("{tag}-spki512"),
        }
    }

    fn rec(usage: u8, selector: u8, matching: u8, data: &str) -> Tlsa {
        Tlsa {
            usage,
            selector,
            matching,
            data: data.into(),
            data_sha256: if matching == 0 {
                data.replace("raw", "full256")
            } else {
                String::new()
            },
        }
    }

    /// Fuzz crash (dane target): `render` sliced the data at byte 64 inside a character.
    #[test]
    fn render_cuts_non_hex_data_at_a_character_boundary() {
        let mut t = rec(3, 1, 1, "");
        t.data = format!("{}\u{fffd}tail", "a".repeat(62));
        assert_eq!(t.render(), format!("3 1 1 {}\u{fffd}t…", "a".repeat(62)));
        t.data = "ab".repeat(40);
        assert_eq!(t.render(), format!("3 1 1 {}…", "ab".repeat(32)));
        t.data = "é".repeat(10);
        assert_eq!(t.render(), format!("3 1 1 {}", "é".repeat(10)));
    }

    #[test]
    fn matching_table() {
        let chain = [cert("leaf"), cert("ca")];
        for (t, want) in [
            (rec(3, 1, 1, "leaf-spki256"), true),
            (rec(3, 1, 2, "leaf-spki512"), true),
            (rec(3, 0, 1, "leaf-full256"), true),
            (rec(3, 0, 2, "LEAF-FULL512"), true),
            (rec(3, 0, 0, "leaf-raw"), true),
            (rec(3, 1, 1, "ca-spki256"), false),
            (rec(2, 1, 1, "ca-spki256"), true),
            (rec(2, 0, 1, "ca-full256"), true),
            (rec(2, 0, 1, "other-full256"), false),
            (rec(1, 1, 1, "leaf-spki256"), false),
            (rec(0, 1, 1, "ca-spki256"), false),
            (rec(3, 2, 1, "leaf-spki256"), false),
            (rec(3, 1, 3, "leaf-spki256"), false),
        ] {
            assert_eq!(matches_chain(&t, &chain), want, "{t:?}");
        }
        assert!(!matches_chain(&rec(3, 1, 1, "leaf-spki256"), &[]));
        let mut empty = cert("x");
        empty.spki_sha256.clear();
        assert!(
            !rec(3, 1, 1, "").matches_cert(&empty),
            "old scans never match"
        );
    }
}
