//! DKIM keys at common selectors (the list in `crates/core/data/dkim-selectors.txt`).

use crate::dkim::{self, DEFAULT_SELECTORS};
use crate::finding::{Finding, Severity, Subject};
use crate::model::{DomainObservation, MxMode};

/// DKIM key findings. Absence at common selectors proves nothing (selectors are free-form),
/// so it is only `info`.
pub fn check(obs: &DomainObservation) -> Vec<Finding> {
    let Some(ma) = &obs.mail_auth else {
        return Vec::new();
    };
    if obs.mx_mode == MxMode::NullMx {
        return Vec::new();
    }
    let d = &obs.domain;
    let subject = || Subject::Domain(d.clone());
    let mut out = Vec::new();
    let mut found = 0;
    let mut unknown = false;
    let configured: Vec<&str> = ma.dkim_selectors.iter().map(String::as_str).collect();
    let list = if configured.is_empty() {
        dkim::selectors(DEFAULT_SELECTORS)
    } else {
        configured
    };
    for &sel in &list {
        let name = format!("{sel}._domainkey.{d}");
        let answer = ma.answer(&name, "TXT");
        unknown |= answer.is_unknown();
        for rec in answer.found().into_iter().flatten() {
            let Some(key) = dkim::parse_key(rec) else {
                continue;
            };
            found += 1;
            let ev = format!("TXT {name}: {rec}");
            if key.revoked {
                out.push(
                    Finding::new(
                        "dkim.key_revoked",
                        Severity::Info,
                        subject(),
                        format!("DKIM selector {sel} is revoked (empty p=)"),
                        format!("Remove {name} once no mail is signed with it."),
                    )
                    .with_evidence([ev.clone()]),
                );
            }
            match key.rsa_bits {
                Some(b) if b < 1024 => out.push(
                    Finding::new("dkim.weak_key", Severity::High, subject(), format!("DKIM key {sel} is RSA-{b}: weak enough to be factored and signatures forged"), format!("Publish a 2048-bit RSA (or Ed25519) key at a new selector, sign with it, then revoke {name}."))
                        .with_evidence([ev.clone()]),
                ),
                Some(b) if b < 2048 => out.push(
                    Finding::new("dkim.short_key", Severity::Low, subject(), format!("DKIM key {sel} is RSA-{b}; 2048 bits is the current recommendation (RFC 8301)"), format!("Publish a 2048-bit RSA key at a new selector, sign with it, then revoke {name}."))
                        .with_evidence([ev.clone()]),
                ),
                _ => {}
            }
            if key.testing {
                out.push(
                    Finding::new(
                        "dkim.testing",
                        Severity::Low,
                        subject(),
                        format!(
                            "DKIM key {sel} is in testing mode (t=y): verifiers may ignore failures"
                        ),
                        format!("Remove t=y from {name}."),
                    )
                    .with_evidence([ev]),
                );
            }
        }
    }
    if found == 0 && !unknown {
        out.push(
            Finding::new(
                "dkim.none_found",
                Severity::Info,
                subject(),
                "No DKIM key at any common selector (the domain may use another selector)",
                format!(
                    "Sign outgoing mail with DKIM and publish the key at <selector>._domainkey.{d}."
                ),
            )
            .with_evidence([format!("selectors tried: {}", list.join(", "))]),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::domain;
    use crate::model::Lookup;

    #[test]
    fn configured_selectors_replace_the_default_list() {
        let mut obs = domain(vec![
            (
                "mine._domainkey.ex.test",
                "TXT",
                Lookup::Found(vec!["v=DKIM1; k=rsa; p=".to_owned()]),
            ),
            ("other._domainkey.ex.test", "TXT", Lookup::NxDomain),
        ]);
        // Default list: "mine" is not asked, and the answers are not recorded.
        let ids: Vec<String> = check(&obs).into_iter().map(|f| f.id).collect();
        assert!(ids.is_empty(), "{ids:?}");
        if let Some(m) = obs.mail_auth.as_mut() {
            m.dkim_selectors = vec!["mine".into()];
        }
        let ids: Vec<String> = check(&obs).into_iter().map(|f| f.id).collect();
        assert_eq!(ids, ["dkim.key_revoked"]);
        if let Some(m) = obs.mail_auth.as_mut() {
            m.dkim_selectors = vec!["other".into()];
        }
        let f = check(&obs);
        assert_eq!(f[0].id, "dkim.none_found");
        assert_eq!(f[0].evidence, ["selectors tried: other"]);
    }
}
