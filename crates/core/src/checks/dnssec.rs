//! DNSSEC (RFC 4033–4035): is the zone's chain of trust secure, insecure (unsigned, or
//! signed without a DS at the parent) or bogus (validating resolvers refuse its answers).
//! The verdict recorded at scan time decides: the AD bit of a resolver on loopback, else
//! mxray's own validation (`scan::dnssec`). Scans without a verdict (older ones, or no
//! trust anchor for the zone) are read from the answers and the AD bit: SERVFAIL that
//! disappears with CD=1 is a broken chain.

use crate::dnssec::DnssecStatus;
use crate::finding::{Finding, Severity, Subject};
use crate::mailauth::SecureAnswer;
use crate::model::{DomainObservation, Lookup};

/// DNSSEC findings about the domain's zone.
pub fn check(obs: &DomainObservation) -> Vec<Finding> {
    let Some(s) = obs.mail_auth.as_ref().and_then(|m| m.dnssec.as_ref()) else {
        return Vec::new();
    };
    let z = &s.zone;
    let subject = || Subject::Domain(obs.domain.clone());
    let line = |t: &str, a: &SecureAnswer| {
        format!(
            "{t} {z}: {} (AD {})",
            a.answer.describe(),
            if a.authenticated { "set" } else { "not set" }
        )
    };
    let mut ev = vec![line("DNSKEY", &s.dnskey), line("DS", &s.ds)];
    // The recorded verdict (the trusted resolver's AD bit, or mxray's own validation)
    // decides; without one (older scans, no trust anchor for the zone, answers missing) the
    // answers and the AD bit are read as before.
    if let Some(v) = &s.validation
        && v.status != DnssecStatus::Indeterminate
    {
        ev.push(format!("verdict: {}", v.describe()));
        ev.extend(v.evidence.iter().cloned());
        return match v.status {
            DnssecStatus::Bogus => vec![
                Finding::new(
                    "dnssec.bogus",
                    Severity::High,
                    subject(),
                    format!("DNSSEC validation of {z} fails at {} ({}): validating resolvers answer SERVFAIL, so mail to the domain fails for their users", v.at, v.problem.map_or("bogus", |p| p.describe())),
                    format!("Fix the chain of trust of {z}: re-sign the zone (expired signatures?) or replace the DS at the registrar with one matching the current KSK."),
                )
                .with_evidence(ev),
            ],
            DnssecStatus::Insecure if s.dnskey.answer.found().is_some() || s.dnskey_unchecked.as_ref().is_some_and(|u| u.answer.found().is_some()) => vec![
                Finding::new(
                    "dnssec.no_ds",
                    Severity::Medium,
                    subject(),
                    format!("{z} is signed but the chain of trust ends at {} (no DS): no resolver can validate it, so DANE and DNSSEC protect nothing", v.at),
                    format!("Publish the DS record of {z}'s key-signing key at the registrar."),
                )
                .with_evidence(ev),
            ],
            DnssecStatus::Insecure => vec![
                Finding::new(
                    "dnssec.unsigned",
                    Severity::Info,
                    subject(),
                    format!("The zone {z} is not signed with DNSSEC: answers can be forged, and DANE cannot protect its mail"),
                    format!("Sign {z} at its DNS provider and publish the DS record at the registrar."),
                )
                .with_evidence(ev),
            ],
            _ => Vec::new(),
        };
    }
    match &s.dnskey.answer {
        Lookup::Unknown(_) => {
            let Some(u) = &s.dnskey_unchecked else {
                return Vec::new();
            };
            if u.answer.found().is_none() {
                return Vec::new();
            }
            ev.push(line("DNSKEY (CD=1, checking disabled)", u));
            vec![
                Finding::new(
                    "dnssec.bogus",
                    Severity::High,
                    subject(),
                    format!("DNSSEC validation of {z} fails: validating resolvers answer SERVFAIL, so mail to the domain fails for their users"),
                    format!("Fix the chain of trust of {z}: re-sign the zone (expired signatures?) or replace the DS at the registrar with one matching the current KSK."),
                )
                .with_evidence(ev),
            ]
        }
        Lookup::NxDomain | Lookup::NoData => vec![
            Finding::new(
                "dnssec.unsigned",
                Severity::Info,
                subject(),
                format!("The zone {z} is not signed with DNSSEC: answers can be forged, and DANE cannot protect its mail"),
                format!("Sign {z} at its DNS provider and publish the DS record at the registrar."),
            )
            .with_evidence(ev),
        ],
        Lookup::Found(_) => match &s.ds.answer {
            Lookup::NxDomain | Lookup::NoData => vec![
                Finding::new(
                    "dnssec.no_ds",
                    Severity::Medium,
                    subject(),
                    format!("{z} is signed but its parent has no DS record: no resolver can validate it, so DANE and DNSSEC protect nothing"),
                    format!("Publish the DS record of {z}'s key-signing key at the registrar."),
                )
                .with_evidence(ev),
            ],
            Lookup::Found(_) if !s.dnskey.authenticated => vec![
                Finding::new(
                    "dnssec.not_validated",
                    Severity::Info,
                    subject(),
                    format!("{z} is signed, but the resolver used did not validate it (no AD bit): DANE results depend on a validating resolver"),
                    "Scan through a validating resolver (e.g. a local Unbound or BIND with DNSSEC validation on) to check DANE and the chain of trust.",
                )
                .with_evidence(ev),
            ],
            _ => Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::domain;
    use crate::mailauth::DnssecObservation;

    fn sa(a: Lookup<Vec<String>>, ad: bool) -> SecureAnswer {
        SecureAnswer {
            answer: a,
            authenticated: ad,
        }
    }

    #[test]
    fn dnssec_table() {
        let key = || Lookup::Found(vec!["257 3 13 (32 key bytes)".to_owned()]);
        let ds = || Lookup::Found(vec!["2371 13 2 abcd".to_owned()]);
        let fail = || Lookup::Unknown("SERVFAIL".to_owned());
        for (dnskey, dsa, unchecked, want) in [
            (
                sa(Lookup::NoData, false),
                sa(Lookup::NoData, false),
                None,
                vec!["dnssec.unsigned"],
            ),
            (sa(key(), true), sa(ds(), true), None, vec![]),
            (
                sa(key(), false),
                sa(ds(), false),
                None,
                vec!["dnssec.not_validated"],
            ),
            (
                sa(key(), false),
                sa(Lookup::NoData, false),
                None,
                vec!["dnssec.no_ds"],
            ),
            (
                sa(fail(), false),
                sa(ds(), true),
                Some(sa(key(), false)),
                vec!["dnssec.bogus"],
            ),
            (
                sa(fail(), false),
                sa(ds(), true),
                Some(sa(fail(), false)),
                vec![],
            ),
            (sa(fail(), false), sa(ds(), true), None, vec![]),
        ] {
            let mut obs = domain(vec![]);
            if let Some(m) = obs.mail_auth.as_mut() {
                m.dnssec = Some(DnssecObservation {
                    zone: "ex.test".into(),
                    dnskey: dnskey.clone(),
                    ds: dsa.clone(),
                    dnskey_unchecked: unchecked.clone(),
                    validation: None,
                });
            }
            let ids: Vec<String> = check(&obs).into_iter().map(|f| f.id).collect();
            assert_eq!(ids, want, "{dnskey:?} {dsa:?} {unchecked:?}");
        }
        assert!(check(&domain(vec![])).is_empty(), "not asked: nothing");
    }

    #[test]
    fn recorded_verdict_decides() {
        use crate::dnssec::{ChainProblem, DnssecStatus, ValidatedBy, Validation};
        let key = || Lookup::Found(vec!["257 3 13 (32 key bytes)".to_owned()]);
        let ds = || Lookup::Found(vec!["2371 13 2 abcd".to_owned()]);
        let v = |status, problem| Validation {
            status,
            by: ValidatedBy::Mxray,
            problem,
            at: "ex.test".into(),
            evidence: vec!["DS ex.test in test: 2371 13 2 abcd…; signature verified".into()],
        };
        // (DNSKEY, DS, verdict, ids): no AD bit anywhere, so the old reading would say
        // "not validated" for every signed case; the verdict says more.
        for (dnskey, dsa, verdict, want) in [
            (key(), ds(), v(DnssecStatus::Secure, None), vec![]),
            (
                key(),
                ds(),
                v(DnssecStatus::Bogus, Some(ChainProblem::DsMismatch)),
                vec!["dnssec.bogus"],
            ),
            (
                key(),
                ds(),
                v(DnssecStatus::Bogus, Some(ChainProblem::SignatureExpired)),
                vec!["dnssec.bogus"],
            ),
            (
                key(),
                Lookup::NoData,
                v(DnssecStatus::Insecure, Some(ChainProblem::NoDs)),
                vec!["dnssec.no_ds"],
            ),
            (
                Lookup::NoData,
                Lookup::NoData,
                v(DnssecStatus::Insecure, Some(ChainProblem::NoDs)),
                vec!["dnssec.unsigned"],
            ),
            (
                key(),
                ds(),
                v(
                    DnssecStatus::Indeterminate,
                    Some(ChainProblem::NoTrustAnchor),
                ),
                vec!["dnssec.not_validated"],
            ),
        ] {
            let mut obs = domain(vec![]);
            if let Some(m) = obs.mail_auth.as_mut() {
                m.dnssec = Some(DnssecObservation {
                    zone: "ex.test".into(),
                    dnskey: sa(dnskey.clone(), false),
                    ds: sa(dsa.clone(), false),
                    dnskey_unchecked: None,
                    validation: Some(verdict.clone()),
                });
            }
            let f = check(&obs);
            let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
            assert_eq!(ids, want, "{verdict:?}");
            if verdict.status == DnssecStatus::Bogus {
                assert_eq!(f[0].severity, Severity::High);
                assert!(
                    f[0].evidence
                        .iter()
                        .any(|e| e.contains("signature verified")),
                    "the chain's evidence is shown: {:?}",
                    f[0].evidence
                );
            }
        }
    }
}
