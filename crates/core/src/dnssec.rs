//! The outcome of DNSSEC validation (RFC 4033 §5, RFC 4035 §4.3) as recorded by the scanner,
//! and who reached it: the configured resolver (its AD bit, trusted only on loopback) or
//! mxray's own validation of the chain of trust (`scan::dnssec`), with the records it checked
//! as evidence. The checks (`checks::dnssec`, `checks::dane`) read only this.

use serde::{Deserialize, Serialize};

/// RFC 4035 §4.3's four outcomes.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnssecStatus {
    /// A chain of signed DNSKEY and DS records leads from a trust anchor to the answer.
    Secure,
    /// Provably unsigned: a signed denial shows there is no DS at a delegation above the name
    /// (or the DS uses only algorithms no validator supports).
    Insecure,
    /// A chain should exist but fails: a signature that does not verify or has expired, a DS
    /// no DNSKEY matches, records missing their signatures.
    Bogus,
    /// No verdict: no trust anchor for the name, or the answers needed could not be had.
    Indeterminate,
}

/// Who reached the verdict.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValidatedBy {
    /// The configured resolver set AD, and it is on loopback (the path to it cannot be
    /// spoofed), so its validation is trusted.
    Resolver,
    /// mxray verified the signatures itself (RRSIG over each RRset, DNSKEY against the
    /// parent's DS, up to the trust anchor).
    Mxray,
}

/// Why a chain is bogus, insecure or indeterminate (typed; the evidence has the details).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainProblem {
    /// No DNSKEY of the zone matches the DS records at the parent (or the trust anchor).
    DsMismatch,
    /// An RRSIG does not verify with the zone's keys.
    BadSignature,
    /// Every RRSIG over the RRset has expired.
    SignatureExpired,
    /// Every RRSIG over the RRset is not valid yet (inception in the future).
    SignatureNotYetValid,
    /// Records of a signed zone come without any RRSIG by the zone's keys.
    MissingSignature,
    /// The parent has DS records but the zone answers no DNSKEY.
    NoDnskey,
    /// The parent denies the DS without a signed NSEC/NSEC3 (the denial cannot be proven).
    UnprovenDenial,
    /// The DS records use only algorithms or digests mxray cannot check (treated as insecure,
    /// RFC 4035 §5.2).
    UnsupportedAlgorithm,
    /// There is no DS at a delegation above the name (the insecure case).
    NoDs,
    /// No trust anchor covers the name.
    NoTrustAnchor,
    /// An answer needed for the chain was missing (timeout, SERVFAIL even with CD=1).
    NoAnswer,
}

/// The recorded outcome of validating one answer (the zone's DNSKEY, or a TLSA RRset).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// The verdict.
    pub status: DnssecStatus,
    /// Who reached it.
    pub by: ValidatedBy,
    /// What went wrong, or why the chain ends (`None` for a secure chain).
    #[serde(default)]
    pub problem: Option<ChainProblem>,
    /// The zone where the chain ended or failed (the insecure delegation, the zone whose
    /// signature failed); for a secure answer, the zone that signed it.
    #[serde(default)]
    pub at: String,
    /// The records checked, one line per step: DS, DNSKEY and RRSIG (key tag, signer,
    /// validity period) and what the check found, verbatim from the answers.
    #[serde(default)]
    pub evidence: Vec<String>,
}

impl Validation {
    /// Whether the answer may be relied on (RFC 7672 §2.2: only secure TLSA is usable).
    pub fn is_secure(&self) -> bool {
        self.status == DnssecStatus::Secure
    }

    /// A short phrase for evidence lines: `secure (validated by mxray)`.
    pub fn describe(&self) -> String {
        let status = match self.status {
            DnssecStatus::Secure => "secure",
            DnssecStatus::Insecure => "insecure",
            DnssecStatus::Bogus => "bogus",
            DnssecStatus::Indeterminate => "indeterminate",
        };
        let by = match self.by {
            ValidatedBy::Resolver => "the resolver's AD bit",
            ValidatedBy::Mxray => "mxray's own validation",
        };
        match self.problem {
            Some(p) => format!("{status} at {} ({}; {by})", self.at, p.describe()),
            None => format!("{status} ({by})"),
        }
    }
}

impl ChainProblem {
    /// A few words for titles and evidence.
    pub fn describe(self) -> &'static str {
        match self {
            Self::DsMismatch => "no DNSKEY matches the parent's DS",
            Self::BadSignature => "a signature does not verify",
            Self::SignatureExpired => "the signatures have expired",
            Self::SignatureNotYetValid => "the signatures are not valid yet",
            Self::MissingSignature => "records are not signed",
            Self::NoDnskey => "the parent has a DS but the zone has no DNSKEY",
            Self::UnprovenDenial => "the parent's denial of a DS is not signed",
            Self::UnsupportedAlgorithm => "unsupported algorithm",
            Self::NoDs => "no DS record at the parent",
            Self::NoTrustAnchor => "no trust anchor covers the name",
            Self::NoAnswer => "an answer needed for the chain is missing",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_new_json() {
        let v = Validation {
            status: DnssecStatus::Bogus,
            by: ValidatedBy::Mxray,
            problem: Some(ChainProblem::DsMismatch),
            at: "broken.test".into(),
            evidence: vec!["DS broken.test: 4540 13 2 …".into()],
        };
        let s = serde_json::to_string(&v).expect("json");
        assert!(s.contains("\"ds-mismatch\""), "{s}");
        let back: Validation = serde_json::from_str(&s).expect("back");
        assert_eq!(back, v);
        let minimal: Validation =
            serde_json::from_str(r#"{"status":"secure","by":"resolver"}"#).expect("minimal");
        assert!(minimal.is_secure());
        assert!(minimal.problem.is_none() && minimal.evidence.is_empty());
        assert!(
            v.describe().starts_with("bogus at broken.test"),
            "{}",
            v.describe()
        );
    }
}
