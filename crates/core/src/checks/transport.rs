//! Transport-security records: MTA-STS (RFC 8461: the `_mta-sts` TXT record and the fetched
//! policy), TLS-RPT (RFC 8460 §3, `_smtp._tls`) and CAA.

use crate::finding::{Finding, Severity, Subject};
use crate::model::{DomainObservation, Lookup, MxMode};
use crate::mta_sts::{self, FetchStatus, PolicyFetch};

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
            ("mta_sts.missing", "mta_sts.invalid"),
            "No MTA-STS record: senders cannot insist on authenticated TLS to this domain's MX",
            format!(
                "Publish \"v=STSv1; id=1\" at _mta-sts.{d} and a policy at https://mta-sts.{d}/.well-known/mta-sts.txt (RFC 8461)."
            ),
        ),
        (
            format!("_smtp._tls.{d}"),
            "v=TLSRPTv1",
            "rua=",
            ("tlsrpt.missing", "tlsrpt.invalid"),
            "No TLS-RPT record: nobody reports TLS failures delivering to this domain",
            format!(
                "Publish \"v=TLSRPTv1; rua=mailto:tls-reports@{d}\" at _smtp._tls.{d} (RFC 8460)."
            ),
        ),
    ];
    // The ids are literals so that the catalogue's test finds every id in the sources.
    for (name, version, required, (missing, invalid), title, fix) in specs {
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
                    missing,
                    Severity::Info,
                    Subject::Domain(d.clone()),
                    title,
                    fix,
                )
                .with_evidence([format!("TXT {name}: {}", describe(&answer))]),
            ),
            [one] if !one.replace(' ', "").contains(required) => out.push(
                Finding::new(
                    invalid,
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
                    invalid,
                    Severity::Low,
                    Subject::Domain(d.clone()),
                    format!("{} {version} records: the set-up is ignored", many.len()),
                    format!("Keep exactly one {version} record at {name}."),
                )
                .with_evidence(many.iter().map(|r| format!("TXT {name}: {r}"))),
            ),
        }
    }
    if let Some(fetch) = &ma.mta_sts_policy {
        out.extend(policy(obs, fetch));
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

/// Findings about the fetched MTA-STS policy (RFC 8461 §3.3, §4.1).
fn policy(obs: &DomainObservation, fetch: &PolicyFetch) -> Vec<Finding> {
    let d = &obs.domain;
    let subject = || Subject::Domain(d.clone());
    let url = &fetch.url;
    let mut ev = vec![format!("GET {url}: {}", fetch_summary(fetch))];
    let unreachable = |why: String, ev: Vec<String>| {
        vec![
            Finding::new(
                "mta_sts.policy_unreachable",
                Severity::Medium,
                subject(),
                format!("The MTA-STS record exists but the policy cannot be fetched ({why}): senders apply no policy"),
                format!("Serve the policy at {url} over HTTPS with a valid certificate for mta-sts.{d} (RFC 8461 §3.3)."),
            )
            .with_evidence(ev),
        ]
    };
    if fetch.status != FetchStatus::Fetched {
        let why = fetch.detail.clone().unwrap_or_else(|| "no answer".into());
        return unreachable(why, ev);
    }
    if let Some(tls) = &fetch.tls
        && let Some(problem) = tls.problem
    {
        if let Some(c) = tls.chain.first() {
            ev.push(format!("certificate: {} issued by {}", c.subject, c.issuer));
        }
        ev.push(format!(
            "verification: {}",
            tls.problem_detail.as_deref().unwrap_or("failed")
        ));
        return vec![
            Finding::new(
                "mta_sts.policy_cert_invalid",
                Severity::Medium,
                subject(),
                format!("The MTA-STS policy host's certificate does not validate ({problem:?}): senders discard the policy"),
                format!("Install a certificate for mta-sts.{d} from a public CA (RFC 8461 §3.3)."),
            )
            .with_evidence(ev),
        ];
    }
    if fetch.http_status != Some(200) {
        let why = match (fetch.http_status, &fetch.location) {
            (Some(code @ 300..=399), Some(l)) => {
                format!("HTTP {code} redirect to {}, never followed", cap(l))
            }
            (Some(code), _) => format!("HTTP {code}"),
            (None, _) => "no HTTP status".into(),
        };
        return unreachable(why, ev);
    }
    let body = fetch.body.as_deref().unwrap_or("");
    let parsed = if fetch.truncated {
        Err(mta_sts::PolicyError::too_long())
    } else {
        mta_sts::parse(body)
    };
    let p = match parsed {
        Ok(p) => p,
        Err(e) => {
            ev.push(format!("error: {e}"));
            return vec![
                Finding::new(
                    "mta_sts.policy_invalid",
                    Severity::Medium,
                    subject(),
                    format!("The MTA-STS policy is invalid: {e}"),
                    format!("Serve \"version: STSv1\", \"mode: enforce\", one \"mx:\" line per MX host and \"max_age: 604800\" at {url}."),
                )
                .with_evidence(ev),
            ];
        }
    };
    ev.extend(body.lines().take(12).map(|l| format!("policy: {}", cap(l))));
    let mut out = Vec::new();
    match p.mode {
        mta_sts::Mode::Testing => out.push(
            Finding::new(
                "mta_sts.testing",
                Severity::Low,
                subject(),
                "MTA-STS mode: testing — senders report failures but still deliver without TLS",
                format!("Once TLS-RPT reports are clean, set \"mode: enforce\" at {url} and change the id of the _mta-sts record."),
            )
            .with_evidence(ev.clone()),
        ),
        mta_sts::Mode::None => out.push(
            Finding::new(
                "mta_sts.mode_none",
                Severity::Info,
                subject(),
                "MTA-STS mode: none — the policy is withdrawn, senders do not enforce TLS",
                format!("Set \"mode: enforce\" at {url} (or remove the _mta-sts record if MTA-STS is abandoned)."),
            )
            .with_evidence(ev.clone()),
        ),
        mta_sts::Mode::Enforce => {}
    }
    if p.max_age < 86_400 {
        out.push(
            Finding::new(
                "mta_sts.max_age_short",
                Severity::Low,
                subject(),
                format!("MTA-STS max_age is {} s (under a day): a downgrade attack only has to wait for the cache to expire", p.max_age),
                format!("Set \"max_age: 604800\" (a week) or more at {url}."),
            )
            .with_evidence(ev.clone()),
        );
    }
    if p.mode != mta_sts::Mode::None {
        for h in &obs.hosts {
            if p.mx.iter().any(|pat| mta_sts::mx_matches(pat, &h.name)) {
                continue;
            }
            let (sev, what) = if p.mode == mta_sts::Mode::Enforce {
                (
                    Severity::High,
                    "compliant senders will refuse to deliver to it",
                )
            } else {
                (
                    Severity::Medium,
                    "senders in testing mode report every delivery to it as a failure",
                )
            };
            let mut e = ev.clone();
            e.push(format!("MX {} {}", h.preference, h.name));
            out.push(
                Finding::new(
                    "mta_sts.mx_mismatch",
                    sev,
                    subject(),
                    format!("MX host {} matches no mx: pattern of the MTA-STS policy: {what}", h.name),
                    format!("Add \"mx: {}\" to the policy at {url} and change the id of the _mta-sts record.", h.name),
                )
                .with_evidence(e),
            );
        }
    }
    out
}

/// Server text in titles and evidence: at most 200 characters (the body itself stays whole
/// in the observation).
fn cap(s: &str) -> String {
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn fetch_summary(f: &PolicyFetch) -> String {
    let mut s = match f.address {
        Some(ip) => format!("{ip}, "),
        None => format!("mta-sts.<domain> {}, ", f.addresses.describe()),
    };
    s.push_str(match f.status {
        FetchStatus::Fetched => "fetched",
        FetchStatus::NoAddress => "no address",
        FetchStatus::NotAdmitted => "address not contacted",
        FetchStatus::ConnectFailed => "connection failed",
        FetchStatus::TlsFailed => "TLS handshake failed",
        FetchStatus::HttpError => "HTTP exchange failed",
    });
    if let Some(code) = f.http_status {
        s.push_str(&format!(", HTTP {code}"));
    }
    if let Some(t) = &f.content_type {
        s.push_str(&format!(", {}", cap(t)));
    }
    if let Some(d) = &f.detail {
        s.push_str(&format!(" ({d})"));
    }
    s
}

fn describe(l: &Lookup<Vec<String>>) -> String {
    match l {
        Lookup::Found(v) => format!("{} TXT record(s), none of this kind", v.len()),
        other => other.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::domain;

    fn fetch(code: Option<u16>, body: &str) -> PolicyFetch {
        PolicyFetch {
            url: "https://mta-sts.ex.test/.well-known/mta-sts.txt".into(),
            addresses: Lookup::Found(vec!["192.0.2.80".parse().unwrap()]),
            address: Some("192.0.2.80".parse().unwrap()),
            status: FetchStatus::Fetched,
            detail: None,
            tls: None,
            http_status: code,
            content_type: Some("text/plain".into()),
            location: None,
            body: Some(body.into()),
            truncated: false,
        }
    }

    fn ids(f: PolicyFetch) -> Vec<String> {
        let mut obs = domain(vec![]);
        if let Some(m) = obs.mail_auth.as_mut() {
            m.mta_sts_policy = Some(f);
        }
        policy(
            &obs,
            obs.mail_auth
                .as_ref()
                .unwrap()
                .mta_sts_policy
                .as_ref()
                .unwrap(),
        )
        .into_iter()
        .map(|f| f.id)
        .collect()
    }

    #[test]
    fn policy_table() {
        let good = "version: STSv1\nmode: enforce\nmx: mx.ex.test\nmax_age: 604800\n";
        assert_eq!(ids(fetch(Some(200), good)), Vec::<String>::new());
        let wild = "version: STSv1\nmode: enforce\nmx: *.ex.test\nmax_age: 604800\n";
        assert_eq!(ids(fetch(Some(200), wild)), Vec::<String>::new());
        for (f, want) in [
            (fetch(Some(404), good), vec!["mta_sts.policy_unreachable"]),
            (fetch(Some(200), "<html>"), vec!["mta_sts.policy_invalid"]),
            (
                fetch(
                    Some(200),
                    "version: STSv1\nmode: testing\nmx: mx.ex.test\nmax_age: 3600\n",
                ),
                vec!["mta_sts.testing", "mta_sts.max_age_short"],
            ),
            (
                fetch(Some(200), "version: STSv1\nmode: none\nmax_age: 86400\n"),
                vec!["mta_sts.mode_none"],
            ),
            (
                fetch(
                    Some(200),
                    "version: STSv1\nmode: enforce\nmx: other.ex.test\nmax_age: 86400\n",
                ),
                vec!["mta_sts.mx_mismatch"],
            ),
        ] {
            assert_eq!(ids(f.clone()), want, "{f:?}");
        }
        let mut big = fetch(Some(200), good);
        big.truncated = true;
        assert_eq!(ids(big), ["mta_sts.policy_invalid"]);
        let mut gone = fetch(None, "");
        gone.status = FetchStatus::NoAddress;
        assert_eq!(ids(gone), ["mta_sts.policy_unreachable"]);
        let mut bad_cert = fetch(Some(200), good);
        bad_cert.tls = Some(crate::model::TlsInfo {
            version: "TLSv1_3".into(),
            cipher: String::new(),
            verified_name: Some("mta-sts.ex.test".into()),
            chain: vec![],
            problem: Some(crate::model::CertProblem::UnknownIssuer),
            problem_detail: Some("invalid peer certificate: UnknownIssuer".into()),
        });
        assert_eq!(ids(bad_cert), ["mta_sts.policy_cert_invalid"]);
    }

    #[test]
    fn server_text_in_evidence_is_capped() {
        let long = format!(
            "version: STSv1\nmode: testing\nmx: mx.ex.test\nmax_age: 604800\nx: {}\n",
            "a".repeat(60_000)
        );
        let mut obs = domain(vec![]);
        let f = fetch(Some(200), &long);
        if let Some(m) = obs.mail_auth.as_mut() {
            m.mta_sts_policy = Some(f.clone());
        }
        let found = policy(&obs, &f);
        assert_eq!(found[0].id, "mta_sts.testing");
        assert!(found[0].evidence.iter().all(|e| e.chars().count() < 300));
    }
}
