//! What a domain has adopted of mail authentication and transport security, read from its
//! stored observation (sans I/O): SPF and the qualifier of its `all` term, the DMARC policy,
//! MTA-STS, TLS-RPT and DNSSEC. The survey report counts these per domain; a domain whose
//! answers were not recorded is "not measured", never "missing".
//!
//! DANE is per mail host (TLSA at `_25._tcp.<MX>`), so the survey counts it from the
//! `dane.*` findings of a domain's hosts ([`dane_state`]).

use crate::dmarc;
use crate::model::{DomainObservation, Lookup, MxMode};
use crate::spf::{self, Mechanism, Qualifier};

/// SPF of a domain.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Ord, PartialOrd)]
pub enum SpfState {
    /// The TXT answer was not recorded or the lookup failed.
    NotMeasured,
    /// No `v=spf1` record.
    Missing,
    /// Several records, or one that does not parse: receivers treat it as permerror.
    Invalid,
    /// One valid record ending in `all` with this qualifier.
    All(QualifierKind),
    /// One valid record without an `all` term (default neutral, or a `redirect=`).
    NoAll,
}

/// The `all` qualifier, orderable for tables.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Ord, PartialOrd)]
pub enum QualifierKind {
    /// `-all`.
    Fail,
    /// `~all`.
    SoftFail,
    /// `?all`.
    Neutral,
    /// `+all` (anyone may send).
    Pass,
}

/// DMARC of a domain (its own record, else the organisational domain's, as receivers look).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Ord, PartialOrd)]
pub enum DmarcState {
    /// Not recorded, or the lookup failed.
    NotMeasured,
    /// No `v=DMARC1` record.
    Missing,
    /// Several records, or a record that does not parse.
    Invalid,
    /// `p=reject`.
    Reject,
    /// `p=quarantine`.
    Quarantine,
    /// `p=none`.
    None,
}

/// A DNS record that is published or not (MTA-STS, TLS-RPT).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Ord, PartialOrd)]
pub enum Published {
    /// Not recorded, lookup failed, or not applicable (null MX).
    NotMeasured,
    /// No record with the version tag.
    Missing,
    /// A record with the version tag.
    Yes,
}

/// DNSSEC of the domain's zone, from the verdict recorded at scan time.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Ord, PartialOrd)]
pub enum DnssecState {
    /// Not asked, or no verdict.
    NotMeasured,
    /// Validated chain of trust.
    Secure,
    /// Unsigned, or signed without a DS.
    Insecure,
    /// Validation fails.
    Bogus,
}

/// DANE of a domain's mail hosts.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Ord, PartialOrd)]
pub enum DaneState {
    /// No `dane.*` finding: not looked up.
    NotMeasured,
    /// `dane.missing` only.
    Missing,
    /// TLSA records published (matching or not).
    Published,
}

/// Everything [`of`] reads from one observation.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Adoption {
    /// SPF.
    pub spf: SpfState,
    /// DMARC.
    pub dmarc: DmarcState,
    /// `_mta-sts` TXT.
    pub mta_sts: Published,
    /// `_smtp._tls` TXT.
    pub tls_rpt: Published,
    /// DNSSEC verdict.
    pub dnssec: DnssecState,
}

/// Reads a domain's adoption from its observation.
pub fn of(obs: &DomainObservation) -> Adoption {
    let Some(ma) = &obs.mail_auth else {
        return Adoption {
            spf: SpfState::NotMeasured,
            dmarc: DmarcState::NotMeasured,
            mta_sts: Published::NotMeasured,
            tls_rpt: Published::NotMeasured,
            dnssec: DnssecState::NotMeasured,
        };
    };
    let d = obs.domain.trim_end_matches('.').to_ascii_lowercase();
    let spf = match ma.answer(&d, "TXT") {
        Lookup::Unknown(_) => SpfState::NotMeasured,
        l => {
            let recs: Vec<String> = l
                .found()
                .into_iter()
                .flatten()
                .filter(|t| spf::is_spf_record(t.as_bytes()))
                .cloned()
                .collect();
            match recs.as_slice() {
                [] => SpfState::Missing,
                [one] => match spf::parse(one) {
                    Err(_) => SpfState::Invalid,
                    Ok(r) => r
                        .directives
                        .iter()
                        .find(|x| x.mechanism == Mechanism::All)
                        .map_or(SpfState::NoAll, |x| {
                            SpfState::All(match x.qualifier {
                                Qualifier::Fail => QualifierKind::Fail,
                                Qualifier::SoftFail => QualifierKind::SoftFail,
                                Qualifier::Neutral => QualifierKind::Neutral,
                                Qualifier::Pass => QualifierKind::Pass,
                            })
                        }),
                },
                _ => SpfState::Invalid,
            }
        }
    };
    let dmarc_records = |l: &Lookup<Vec<String>>| -> Vec<String> {
        l.found()
            .into_iter()
            .flatten()
            .filter(|t| dmarc::is_dmarc_record(t))
            .cloned()
            .collect()
    };
    // As the DMARC check (and receivers, RFC 7489 §6.6.3) look: the domain's own record,
    // else the organisational domain's.
    let mut answer = ma.answer(&format!("_dmarc.{d}"), "TXT");
    let org = dmarc::org_domain(&d);
    if dmarc_records(&answer).is_empty() && org != d && !answer.is_unknown() {
        answer = ma.answer(&format!("_dmarc.{org}"), "TXT");
    }
    let dmarc = if answer.is_unknown() {
        DmarcState::NotMeasured
    } else {
        match dmarc_records(&answer).as_slice() {
            [] => DmarcState::Missing,
            [one] => match dmarc::parse(one) {
                Err(_) => DmarcState::Invalid,
                Ok(r) => match r.policy() {
                    "reject" => DmarcState::Reject,
                    "quarantine" => DmarcState::Quarantine,
                    _ => DmarcState::None,
                },
            },
            _ => DmarcState::Invalid,
        }
    };
    let published = |name: String, version: &str| {
        if obs.mx_mode == MxMode::NullMx {
            return Published::NotMeasured;
        }
        match ma.answer(&name, "TXT") {
            Lookup::Unknown(_) => Published::NotMeasured,
            l if l
                .found()
                .into_iter()
                .flatten()
                .any(|t| t.starts_with(version)) =>
            {
                Published::Yes
            }
            _ => Published::Missing,
        }
    };
    let dnssec = match ma
        .dnssec
        .as_ref()
        .and_then(|s| s.validation.as_ref())
        .map(|v| v.status)
    {
        Some(crate::dnssec::DnssecStatus::Secure) => DnssecState::Secure,
        Some(crate::dnssec::DnssecStatus::Insecure) => DnssecState::Insecure,
        Some(crate::dnssec::DnssecStatus::Bogus) => DnssecState::Bogus,
        Some(crate::dnssec::DnssecStatus::Indeterminate) | None => DnssecState::NotMeasured,
    };
    Adoption {
        spf,
        dmarc,
        mta_sts: published(format!("_mta-sts.{d}"), "v=STSv1"),
        tls_rpt: published(format!("_smtp._tls.{d}"), "v=TLSRPTv1"),
        dnssec,
    }
}

/// DANE of a domain from the finding ids of its mail hosts.
pub fn dane_state<'a>(ids: impl IntoIterator<Item = &'a str>) -> DaneState {
    let mut state = DaneState::NotMeasured;
    for id in ids {
        match id {
            "dane.missing" if state == DaneState::NotMeasured => state = DaneState::Missing,
            "dane.ok" | "dane.mismatch" | "dane.bogus" | "dane.unsigned" | "dane.unusable" => {
                return DaneState::Published;
            }
            _ => {}
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailauth::{DnsAnswer, MailAuthObservation};

    fn obs(txt: &[(&str, Lookup<Vec<&str>>)]) -> DomainObservation {
        let mut o = DomainObservation {
            domain: "ex.test".into(),
            mx: Lookup::NoData,
            mx_mode: MxMode::Explicit,
            hosts: vec![],
            skipped: vec![],
            dnsbl: vec![],
            web_host: None,
            nameservers: None,
            mail_auth: None,
            capped: vec![],
        };
        o.mail_auth = Some(MailAuthObservation {
            dns: txt
                .iter()
                .map(|(n, l)| DnsAnswer {
                    name: (*n).to_owned(),
                    rtype: "TXT".into(),
                    answer: match l {
                        Lookup::Found(v) => {
                            Lookup::Found(v.iter().map(|s| (*s).to_owned()).collect())
                        }
                        Lookup::NxDomain => Lookup::NxDomain,
                        Lookup::NoData => Lookup::NoData,
                        Lookup::Unknown(r) => Lookup::Unknown(r.clone()),
                    },
                })
                .collect(),
            ..Default::default()
        });
        o
    }

    #[test]
    fn adoption_table() {
        let a = of(&obs(&[
            ("ex.test", Lookup::Found(vec!["v=spf1 mx ~all", "other"])),
            (
                "_dmarc.ex.test",
                Lookup::Found(vec!["v=DMARC1; p=quarantine"]),
            ),
            ("_mta-sts.ex.test", Lookup::Found(vec!["v=STSv1; id=1"])),
            ("_smtp._tls.ex.test", Lookup::NxDomain),
        ]));
        assert_eq!(a.spf, SpfState::All(QualifierKind::SoftFail));
        assert_eq!(a.dmarc, DmarcState::Quarantine);
        assert_eq!(a.mta_sts, Published::Yes);
        assert_eq!(a.tls_rpt, Published::Missing);
        assert_eq!(a.dnssec, DnssecState::NotMeasured);
        let b = of(&obs(&[
            ("ex.test", Lookup::Found(vec!["v=spf1 +all", "v=spf1 -all"])),
            ("_dmarc.ex.test", Lookup::NxDomain),
            ("_dmarc.ex.test", Lookup::NxDomain),
        ]));
        assert_eq!(b.spf, SpfState::Invalid);
        assert_eq!(b.dmarc, DmarcState::Missing);
        assert_eq!(
            b.mta_sts,
            Published::NotMeasured,
            "not recorded is not missing"
        );
        let c = of(&obs(&[
            ("ex.test", Lookup::Found(vec!["v=spf1 +all"])),
            ("_dmarc.ex.test", Lookup::Found(vec!["v=DMARC1; p=none"])),
        ]));
        assert_eq!(c.spf, SpfState::All(QualifierKind::Pass));
        assert_eq!(c.dmarc, DmarcState::None);
        assert_eq!(
            of(&obs(&[("ex.test", Lookup::Found(vec!["v=spf1 mx"]))])).spf,
            SpfState::NoAll
        );
        assert_eq!(of(&obs(&[])).spf, SpfState::NotMeasured);
        assert_eq!(dane_state(["x", "dane.missing"]), DaneState::Missing);
        assert_eq!(
            dane_state(["dane.missing", "dane.ok"]),
            DaneState::Published
        );
        assert_eq!(dane_state(["smtp.open_relay"]), DaneState::NotMeasured);
    }
}
