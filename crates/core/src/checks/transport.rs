//! Transport-security DNS records: MTA-STS (RFC 8461 §3.1, the `_mta-sts` TXT record only)
//! and TLS-RPT (RFC 8460 §3, `_smtp._tls`).

use crate::finding::{Finding, Severity, Subject};
use crate::model::{DomainObservation, Lookup, MxMode};

/// MTA-STS and TLS-RPT record findings.
pub fn check(obs: &DomainObservation) -> Vec<Finding> {
    let Some(ma) = &obs.mail_auth else {
        return Vec::new();
    };
    if obs.mx_mode == MxMode::NullMx {
        return Vec::new();
    }
    let d = &obs.domain;
    let mut out = Vec::new();
    let specs = [
        (
            format!("_mta-sts.{d}"),
            "v=STSv1",
            "id=",
            "mta_sts",
            "No MTA-STS record: senders cannot insist on authenticated TLS to this domain's MX",
            format!(
                "Publish \"v=STSv1; id=1\" at _mta-sts.{d} and a policy at https://mta-sts.{d}/.well-known/mta-sts.txt (RFC 8461)."
            ),
        ),
        (
            format!("_smtp._tls.{d}"),
            "v=TLSRPTv1",
            "rua=",
            "tlsrpt",
            "No TLS-RPT record: nobody reports TLS failures delivering to this domain",
            format!(
                "Publish \"v=TLSRPTv1; rua=mailto:tls-reports@{d}\" at _smtp._tls.{d} (RFC 8460)."
            ),
        ),
    ];
    for (name, version, required, area, title, fix) in specs {
        let answer = ma.answer(&name, "TXT");
        if answer.is_unknown() {
            continue;
        }
        let recs: Vec<&String> = answer
            .found()
            .into_iter()
            .flatten()
            .filter(|t| t.starts_with(version))
            .collect();
        match recs.as_slice() {
            [] => out.push(
                Finding::new(
                    &format!("{area}.missing"),
                    Severity::Info,
                    Subject::Domain(d.clone()),
                    title,
                    fix,
                )
                .with_evidence([format!("TXT {name}: {}", describe(&answer))]),
            ),
            [one] if !one.replace(' ', "").contains(required) => out.push(
                Finding::new(
                    &format!("{area}.invalid"),
                    Severity::Low,
                    Subject::Domain(d.clone()),
                    format!("The {version} record lacks the required {required} tag"),
                    fix,
                )
                .with_evidence([format!("TXT {name}: {one}")]),
            ),
            [_] => {}
            many => out.push(
                Finding::new(
                    &format!("{area}.invalid"),
                    Severity::Low,
                    Subject::Domain(d.clone()),
                    format!("{} {version} records: the set-up is ignored", many.len()),
                    format!("Keep exactly one {version} record at {name}."),
                )
                .with_evidence(many.iter().map(|r| format!("TXT {name}: {r}"))),
            ),
        }
    }
    let caa = ma.answer(d, "CAA");
    if matches!(caa, Lookup::NxDomain | Lookup::NoData) {
        out.push(
            Finding::new(
                "caa.missing",
                Severity::Info,
                Subject::Domain(d.clone()),
                "No CAA record: any certificate authority may issue certificates for the domain",
                format!("Publish CAA records at {d} naming the CAs you use, e.g. {d} CAA 0 issue \"letsencrypt.org\"."),
            )
            .with_evidence([format!("CAA {d}: {}", caa.describe())]),
        );
    }
    out
}

fn describe(l: &Lookup<Vec<String>>) -> String {
    match l {
        Lookup::Found(v) => format!("{} TXT record(s), none of this kind", v.len()),
        other => other.describe(),
    }
}
