//! SPF lint (RFC 7208) over the DNS answers discovery recorded, and the cross-check: do the
//! domain's own mail hosts pass its SPF?

use crate::finding::{Finding, Severity, Subject};
use crate::mailauth::{MailAuthObservation, ready};
use crate::model::{DomainObservation, MxMode};
use crate::spf::{self, MAX_DNS_TERMS, MAX_VOID_LOOKUPS, Qualifier, SpfQuery, SpfResult};

/// At most this many mail-host addresses are checked against the SPF record.
pub const MAX_CROSS_CHECK: usize = 10;

/// Every SPF finding about the domain.
pub fn check(obs: &DomainObservation) -> Vec<Finding> {
    let Some(ma) = &obs.mail_auth else {
        return Vec::new();
    };
    let d = &obs.domain;
    let subject = || Subject::Domain(d.clone());
    let lint = ready(spf::lint(ma, d));
    let mut out = Vec::new();
    let suggested = if obs.mx_mode == MxMode::NullMx {
        "v=spf1 -all".to_owned()
    } else {
        "v=spf1 mx -all".to_owned()
    };
    if let Some(r) = &lint.lookup_error {
        out.push(
            Finding::new(
                "spf.lookup_failed",
                Severity::Low,
                subject(),
                "SPF could not be checked: the TXT lookup gave no reliable answer",
                "Make the domain's name servers answer TXT queries (this is not \"no record\").",
            )
            .with_evidence([format!("TXT {d}: unknown ({r})")]),
        );
        return out;
    }
    let record = match lint.spf_records.as_slice() {
        [] => {
            out.push(Finding::new(
                "spf.missing",
                Severity::Medium,
                subject(),
                "No SPF record: anyone can send mail as this domain",
                format!("Publish a TXT record at {d}: \"{suggested}\" (list every host that sends as {d})."),
            )
            .with_evidence([format!("TXT {d}: no record starting with v=spf1")]));
            return out;
        }
        [one] => one.clone(),
        many => {
            out.push(
                Finding::new(
                    "spf.multiple_records",
                    Severity::High,
                    subject(),
                    format!(
                        "{} SPF records: receivers treat this as a permanent error (no SPF at all)",
                        many.len()
                    ),
                    format!("Merge them into one TXT record at {d} starting with v=spf1."),
                )
                .with_evidence(many.iter().map(|r| format!("TXT {d}: {r}"))),
            );
            return out;
        }
    };
    let ev = format!("TXT {d}: {record}");
    if let Some(e) = &lint.error {
        out.push(
            Finding::new(
                "spf.syntax_error",
                Severity::High,
                subject(),
                format!("SPF syntax error in term {:?} (byte {}): receivers treat the record as a permanent error", e.term, e.offset),
                format!("Correct or remove the term {:?} in the SPF record of {d}.", e.term),
            )
            .with_evidence([ev, format!("error: {e}")]),
        );
        return out;
    }
    let fixed = spf::with_fail_all(&record);
    match lint.all {
        Some(Qualifier::Pass) => out.push(
            Finding::new(
                "spf.pass_all",
                Severity::Critical,
                subject(),
                "SPF ends in +all: every host on the Internet may send as this domain",
                format!("Replace the record with: \"{fixed}\""),
            )
            .with_evidence([ev.clone()]),
        ),
        Some(Qualifier::Neutral) => out.push(
            Finding::new(
                "spf.neutral_all",
                Severity::Medium,
                subject(),
                "SPF ends in ?all: mail from any host is \"neutral\", so SPF protects nothing",
                format!("Replace the record with: \"{fixed}\""),
            )
            .with_evidence([ev.clone()]),
        ),
        Some(Qualifier::SoftFail) => out.push(
            Finding::new(
                "spf.softfail_all",
                Severity::Low,
                subject(),
                "SPF ends in ~all (soft fail) rather than -all: forged mail is marked, not refused",
                format!("Once every sending host is listed, replace the record with: \"{fixed}\""),
            )
            .with_evidence([ev.clone()]),
        ),
        Some(Qualifier::Fail) => {}
        None if !lint.redirect => out.push(
            Finding::new(
                "spf.no_all",
                Severity::Medium,
                subject(),
                "SPF has no all term: mail from unlisted hosts is \"neutral\"",
                format!("Replace the record with: \"{fixed}\""),
            )
            .with_evidence([ev.clone()]),
        ),
        None => {}
    }
    if lint.dns_terms > MAX_DNS_TERMS {
        out.push(
            Finding::new(
                "spf.too_many_lookups",
                Severity::High,
                subject(),
                format!(
                    "SPF needs {} DNS-querying terms (include, a, mx, ptr, exists, redirect) counted through includes; more than {MAX_DNS_TERMS} is a permanent error (RFC 7208 §4.6.4)",
                    lint.dns_terms
                ),
                "Replace includes and a/mx terms by ip4:/ip6: ranges or drop unused includes until at most 10 remain.",
            )
            .with_evidence([ev.clone(), format!("DNS-querying terms: {}", lint.dns_terms)]),
        );
    }
    if lint.void_lookups > MAX_VOID_LOOKUPS {
        out.push(
            Finding::new(
                "spf.too_many_void_lookups",
                Severity::Medium,
                subject(),
                format!(
                    "SPF leads to {} void lookups (names with no records); more than {MAX_VOID_LOOKUPS} is a permanent error (RFC 7208 §4.6.4)",
                    lint.void_lookups
                ),
                "Remove the terms that name hosts or domains that no longer exist.",
            )
            .with_evidence(std::iter::once(ev.clone()).chain(lint.void_names.iter().map(|n| format!("void: {n}")))),
        );
    }
    if !lint.ptr_in.is_empty() {
        out.push(
            Finding::new(
                "spf.ptr",
                Severity::Low,
                subject(),
                "SPF uses the ptr mechanism, which RFC 7208 §5.5 says not to use (slow, unreliable)",
                "Replace ptr by the ip4:/ip6: ranges or a: names of the sending hosts.",
            )
            .with_evidence(lint.ptr_in.iter().map(|n| format!("ptr used in the SPF record of {n}"))),
        );
    }
    for (target, why) in &lint.broken {
        out.push(
            Finding::new(
                "spf.include_unresolvable",
                Severity::High,
                subject(),
                format!("SPF include or redirect {target} does not resolve to one valid SPF record: a permanent error"),
                format!("Remove the include of {target} or ask its owner to publish an SPF record."),
            )
            .with_evidence([ev.clone(), format!("{target}: {why}")]),
        );
    }
    if lint.txt_wire_bytes > 512 - 12 - (d.len() + 2 + 4) {
        out.push(
            Finding::new(
                "spf.record_too_long",
                Severity::Low,
                subject(),
                format!("The TXT answer for {d} is about {} bytes and does not fit one 512-byte UDP answer: some receivers must retry over TCP or fail", lint.txt_wire_bytes + 12 + d.len() + 6),
                "Shorten the SPF record (ranges instead of single addresses, fewer TXT records at the name).",
            )
            .with_evidence([ev.clone()]),
        );
    }
    out.extend(cross_check(obs, ma, &ev));
    out
}

/// Do the domain's own mail hosts pass its SPF? (Many domains send from their MX.)
fn cross_check(obs: &DomainObservation, ma: &MailAuthObservation, ev: &str) -> Option<Finding> {
    let d = &obs.domain;
    let mut failing = Vec::new();
    for h in &obs.hosts {
        for ip in h
            .addresses
            .found()
            .into_iter()
            .flatten()
            .take(MAX_CROSS_CHECK)
        {
            let q = SpfQuery::mail_from(*ip, &h.name, &format!("postmaster@{d}"));
            let r = ready(spf::check_host(ma, &q));
            if !matches!(r.result, SpfResult::Pass | SpfResult::TempError) {
                failing.push(format!("{ip} ({}): {} — {}", h.name, r.result, r.reason));
            }
        }
    }
    if failing.is_empty() {
        return None;
    }
    Some(
        Finding::new(
            "spf.mx_not_authorised",
            Severity::Medium,
            Subject::Domain(d.clone()),
            "The domain's own mail hosts do not pass its SPF: mail they send as the domain may be refused",
            format!("Add mx (or the hosts' ip4:/ip6: addresses) to the SPF record of {d} if they send mail."),
        )
        .with_evidence(std::iter::once(ev.to_owned()).chain(failing)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailauth::DnsAnswer;
    use crate::model::{Lookup, MailHost};

    fn obs(records: &[(&str, &str, Lookup<Vec<&str>>)]) -> DomainObservation {
        let dns = records
            .iter()
            .map(|(n, t, a)| DnsAnswer {
                name: (*n).into(),
                rtype: (*t).into(),
                answer: a
                    .as_ref()
                    .map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
            })
            .collect();
        DomainObservation {
            domain: "ex.test".into(),
            mx: Lookup::NoData,
            mx_mode: MxMode::Explicit,
            hosts: vec![MailHost {
                name: "mx.ex.test".into(),
                preference: 10,
                addresses: Lookup::Found(vec!["192.0.2.1".parse().unwrap()]),
                excluded: false,
            }],
            skipped: vec![],
            dnsbl: vec![],
            web_host: None,
            nameservers: None,
            mail_auth: Some(MailAuthObservation {
                dns,
                ..Default::default()
            }),
            capped: vec![],
        }
    }

    fn ids(o: &DomainObservation) -> Vec<String> {
        check(o).into_iter().map(|f| f.id).collect()
    }

    #[test]
    fn lint_table() {
        let cases: Vec<(Lookup<Vec<&str>>, &[&str])> = vec![
            (Lookup::Found(vec!["v=spf1 ip4:192.0.2.1 -all"]), &[]),
            (Lookup::NoData, &["spf.missing"]),
            (Lookup::Unknown("timeout".into()), &["spf.lookup_failed"]),
            (
                Lookup::Found(vec!["v=spf1 -all", "v=spf1 +all"]),
                &["spf.multiple_records"],
            ),
            (
                Lookup::Found(vec!["v=spf1 ip4:192.0.2.1/33 -all"]),
                &["spf.syntax_error"],
            ),
            (Lookup::Found(vec!["v=spf1 +all"]), &["spf.pass_all"]),
            (
                Lookup::Found(vec!["v=spf1 ip4:192.0.2.1 ?all"]),
                &["spf.neutral_all"],
            ),
            (
                Lookup::Found(vec!["v=spf1 ip4:192.0.2.1 ~all"]),
                &["spf.softfail_all"],
            ),
            (Lookup::Found(vec!["v=spf1 ip4:192.0.2.1"]), &["spf.no_all"]),
            (
                Lookup::Found(vec!["v=spf1 ip4:192.0.2.9 -all"]),
                &["spf.mx_not_authorised"],
            ),
        ];
        for (answer, want) in cases {
            let o = obs(&[("ex.test", "TXT", answer.clone())]);
            assert_eq!(
                ids(&o),
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn fix_is_the_corrected_record() {
        let o = obs(&[(
            "ex.test",
            "TXT",
            Lookup::Found(vec!["v=spf1 ip4:192.0.2.1 ~all"]),
        )]);
        assert_eq!(
            check(&o)[0].fix,
            "Once every sending host is listed, replace the record with: \"v=spf1 ip4:192.0.2.1 -all\""
        );
    }

    #[test]
    fn includes_are_counted_and_followed() {
        let inc = "v=spf1 ip4:192.0.2.1 include:a.test include:b.test include:c.test include:d.test include:e.test include:f.test include:g.test include:h.test include:i.test include:j.test include:gone.test -all";
        let mut recs = vec![("ex.test", "TXT", Lookup::Found(vec![inc]))];
        for n in [
            "a.test", "b.test", "c.test", "d.test", "e.test", "f.test", "g.test", "h.test",
            "i.test", "j.test",
        ] {
            recs.push((n, "TXT", Lookup::Found(vec!["v=spf1 -all"])));
        }
        recs.push(("gone.test", "TXT", Lookup::NxDomain));
        let got = ids(&obs(&recs));
        for want in ["spf.too_many_lookups", "spf.include_unresolvable"] {
            assert!(got.iter().any(|g| g == want), "{want} in {got:?}");
        }
    }
}
