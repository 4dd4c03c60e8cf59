//! DMARC lint (RFC 7489) over the `_dmarc` TXT answers discovery recorded.

use crate::dmarc::{self, strength};
use crate::finding::{Finding, Severity, Subject};
use crate::model::{DomainObservation, Lookup};

/// Every DMARC finding about the domain.
pub fn check(obs: &DomainObservation) -> Vec<Finding> {
    let Some(ma) = &obs.mail_auth else {
        return Vec::new();
    };
    let d = &obs.domain;
    let subject = || Subject::Domain(d.clone());
    let org = dmarc::org_domain(d);
    let mut at = format!("_dmarc.{d}");
    let mut answer = ma.answer(&at, "TXT");
    let records = |a: &Lookup<Vec<String>>| -> Vec<String> {
        a.found()
            .into_iter()
            .flatten()
            .filter(|t| dmarc::is_dmarc_record(t))
            .cloned()
            .collect()
    };
    // TXT records at `_dmarc` meant as DMARC that receivers ignore (`V=dmarc1`, `p=reject;
    // v=DMARC1`): their owner believes the domain has a policy.
    let mut lookalikes: Vec<(String, String)> = Vec::new();
    let mut look = |at: &str, a: &Lookup<Vec<String>>| {
        for t in a.found().into_iter().flatten() {
            if !dmarc::is_dmarc_record(t) && dmarc::looks_like_dmarc(t) && lookalikes.len() < 4 {
                lookalikes.push((at.to_owned(), t.clone()));
            }
        }
    };
    look(&at, &answer);
    if records(&answer).is_empty() && org != *d && !answer.is_unknown() {
        at = format!("_dmarc.{org}");
        answer = ma.answer(&at, "TXT");
        look(&at, &answer);
    }
    if let Lookup::Unknown(r) = &answer {
        return vec![
            Finding::new(
                "dmarc.lookup_failed",
                Severity::Low,
                subject(),
                "DMARC could not be checked: the TXT lookup gave no reliable answer",
                "Make the domain's name servers answer TXT queries for _dmarc.",
            )
            .with_evidence([format!("TXT {at}: unknown ({r})")]),
        ];
    }
    let recs = records(&answer);
    let rec = match recs.as_slice() {
        [] if !lookalikes.is_empty() => {
            return vec![
                Finding::new(
                    "dmarc.invalid_record",
                    Severity::High,
                    subject(),
                    "The DMARC record does not begin with v=DMARC1: receivers ignore it, so the domain has no DMARC policy",
                    format!("Rewrite the TXT record at _dmarc.{d} so that it begins with exactly \"v=DMARC1;\" (upper-case DMARC1, first tag), e.g. \"v=DMARC1; p=none; rua=mailto:dmarc-reports@{d}\" (RFC 7489 §6.3: receivers discard records that do not begin with v=DMARC1)."),
                )
                .with_evidence(lookalikes.iter().map(|(at, r)| format!("TXT {at}: {r}")).chain([
                    "receivers discard a TXT record at _dmarc that does not begin with v=DMARC1 (RFC 7489 §6.6.3) and apply no DMARC policy".to_owned(),
                ])),
            ];
        }
        [] => {
            return vec![
                Finding::new(
                    "dmarc.missing",
                    Severity::Medium,
                    subject(),
                    "No DMARC record: receivers have no policy for mail that fails SPF and DKIM",
                    format!("Publish a TXT record at _dmarc.{d}: \"v=DMARC1; p=none; rua=mailto:dmarc-reports@{d}\", then move to p=quarantine or p=reject."),
                )
                .with_evidence([format!("TXT _dmarc.{d}: no record starting with v=DMARC1")]),
            ];
        }
        [one] => one.clone(),
        many => {
            return vec![
                Finding::new(
                    "dmarc.multiple_records",
                    Severity::High,
                    subject(),
                    "More than one DMARC record: receivers ignore DMARC for the domain",
                    format!("Keep exactly one TXT record at {at}."),
                )
                .with_evidence(many.iter().map(|r| format!("TXT {at}: {r}"))),
            ];
        }
    };
    let ev = format!("TXT {at}: {rec}");
    let parsed = match dmarc::parse(&rec) {
        Ok(p) => p,
        Err(e) => {
            return vec![
                Finding::new(
                    "dmarc.syntax_error",
                    Severity::High,
                    subject(),
                    format!("DMARC record is invalid: {e}"),
                    format!("Correct the record at {at} (RFC 7489 §6.3)."),
                )
                .with_evidence([ev, format!("error: {e}")]),
            ];
        }
    };
    let mut out = Vec::new();
    if parsed.policy() == "none" {
        out.push(
            Finding::new(
                "dmarc.policy_none",
                Severity::Medium,
                subject(),
                "DMARC p=none: monitoring only, forged mail is still delivered",
                format!("Once reports show legitimate mail passes, set p=quarantine, then p=reject, at {at}."),
            )
            .with_evidence([ev.clone()]),
        );
    }
    if strength(parsed.subdomain_policy()) < strength(parsed.policy()) {
        out.push(
            Finding::new(
                "dmarc.subdomain_weaker",
                Severity::Low,
                subject(),
                format!(
                    "DMARC sp={} is weaker than p={}: subdomains can be forged more easily",
                    parsed.subdomain_policy(),
                    parsed.policy()
                ),
                format!("Set sp={} (or remove sp) at {at}.", parsed.policy()),
            )
            .with_evidence([ev.clone()]),
        );
    }
    if let Some(p) = parsed.pct()
        && p < 100
    {
        out.push(
            Finding::new(
                "dmarc.pct_partial",
                Severity::Low,
                subject(),
                format!("DMARC pct={p}: the policy applies to only {p}% of failing mail"),
                format!("Remove pct= (default 100) at {at}."),
            )
            .with_evidence([ev.clone()]),
        );
    }
    // RFC 7489 §7.1: a report destination in another domain must agree to receive them.
    let policy_domain = at.strip_prefix("_dmarc.").unwrap_or(d);
    for (tag, addr, name) in dmarc::external_report_names(policy_domain, &parsed) {
        let answer = ma.answer(&name, "TXT");
        let authorised = answer
            .found()
            .into_iter()
            .flatten()
            .any(|t| dmarc::is_dmarc_record(t));
        if authorised || answer.is_unknown() {
            continue;
        }
        let target = name.split("._report._dmarc.").nth(1).unwrap_or("");
        let addr: String = if addr.chars().count() > 100 {
            format!("{}…", addr.chars().take(100).collect::<String>())
        } else {
            addr
        };
        out.push(
            Finding::new(
                "dmarc.report_unauthorised",
                Severity::Low,
                subject(),
                format!("DMARC {tag} sends reports to {addr}, but {target} has not authorised them: receivers drop those reports"),
                format!("Ask the operator of {target} to publish \"v=DMARC1\" at {name}, or send {tag} reports to an address in {policy_domain}."),
            )
            .with_evidence([ev.clone(), format!("TXT {name}: {}", describe(&answer))]),
        );
    }
    out
}

fn describe(l: &Lookup<Vec<String>>) -> String {
    match l {
        Lookup::Found(v) => format!("{} TXT record(s), none starting with v=DMARC1", v.len()),
        other => other.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::domain;

    /// A TXT at `_dmarc` meant as DMARC but not beginning with `v=DMARC1` is an invalid
    /// record receivers ignore, not "no DMARC record"; `V=DMARC1` is valid (ABNF literals
    /// are case-insensitive, the version is not).
    #[test]
    fn lookalike_records_are_invalid_not_missing() {
        let ids = |txt: &[&str]| -> Vec<String> {
            let obs = domain(vec![(
                "_dmarc.ex.test",
                "TXT",
                Lookup::Found(txt.iter().map(|t| (*t).to_owned()).collect()),
            )]);
            check(&obs).into_iter().map(|f| f.id).collect()
        };
        for bad in [
            "p=reject; v=DMARC1",
            "V=dmarc1; p=reject",
            "v = DMARC 1; p=none",
            "p=quarantine; rua=mailto:d@ex.test",
        ] {
            assert_eq!(ids(&[bad]), ["dmarc.invalid_record"], "{bad}");
        }
        assert_eq!(ids(&["V=DMARC1; p=reject"]), Vec::<String>::new());
        assert_eq!(ids(&["google-site-verification=abc"]), ["dmarc.missing"]);
        assert_eq!(ids(&[]), ["dmarc.missing"]);
        let obs = domain(vec![(
            "_dmarc.ex.test",
            "TXT",
            Lookup::Found(vec!["p=reject; v=DMARC1".to_owned()]),
        )]);
        let f = &check(&obs)[0];
        assert_eq!(f.severity, Severity::High);
        assert!(f.title.contains("receivers ignore it"), "{}", f.title);
        assert!(
            f.fix.contains("begins with exactly \"v=DMARC1;\""),
            "{}",
            f.fix
        );
        assert_eq!(f.evidence[0], "TXT _dmarc.ex.test: p=reject; v=DMARC1");
    }

    #[test]
    fn report_authorisation_table() {
        let rec = "v=DMARC1; p=reject; rua=mailto:d@ex.test,mailto:r@vendor.test; ruf=mailto:f@other.test";
        for (vendor, other, want) in [
            (Lookup::NoData, Lookup::NxDomain, 2),
            (
                Lookup::Found(vec!["v=DMARC1".to_owned()]),
                Lookup::NxDomain,
                1,
            ),
            (
                Lookup::Found(vec!["v=DMARC1;".to_owned()]),
                Lookup::Found(vec!["v=DMARC1".to_owned()]),
                0,
            ),
            (
                Lookup::Found(vec!["hello".to_owned()]),
                Lookup::Unknown("timeout".into()),
                1,
            ),
        ] {
            let obs = domain(vec![
                ("_dmarc.ex.test", "TXT", Lookup::Found(vec![rec.to_owned()])),
                ("ex.test._report._dmarc.vendor.test", "TXT", vendor.clone()),
                ("ex.test._report._dmarc.other.test", "TXT", other.clone()),
            ]);
            let f: Vec<Finding> = check(&obs)
                .into_iter()
                .filter(|f| f.id == "dmarc.report_unauthorised")
                .collect();
            assert_eq!(f.len(), want, "{vendor:?} {other:?}: {f:?}");
        }
        // Not recorded (an old scan): nothing concluded.
        let obs = domain(vec![(
            "_dmarc.ex.test",
            "TXT",
            Lookup::Found(vec![rec.to_owned()]),
        )]);
        assert!(
            check(&obs)
                .iter()
                .all(|f| f.id != "dmarc.report_unauthorised")
        );
    }
}
