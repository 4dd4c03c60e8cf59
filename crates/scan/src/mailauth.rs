//! Gathers what the mail-authentication checks need: the SPF record, its includes and
//! redirects and what evaluating it for each mail-host address asks; DMARC (and the
//! authorisation records of outside report destinations, RFC 7489 §7.1); DKIM keys at the
//! configured selectors; MTA-STS and TLS-RPT records and the MTA-STS policy over HTTPS
//! (RFC 8461 §3.3); CAA; DNSSEC (DNSKEY and DS with the resolver's AD bit, and the chain of
//! trust validated by mxray when the resolver's AD bit is not trusted or not set).
//! Every answer is recorded verbatim in a [`MailAuthObservation`] so the checks re-run it
//! without the network. Excluded names are never asked (recorded as unknown), excluded or
//! non-public addresses never contacted.

use crate::net::{Limits, Policy};
use crate::probe::ProbeContext;
use crate::resolve::{Dns, SecureLookup};
use crate::tls::TlsClient;
use hickory_resolver::proto::rr::{RData, RecordType};
use mxray_core::dnssec::{DnssecStatus, ValidatedBy, Validation};
use mxray_core::mailauth::{DnsAnswer, DnssecObservation, MailAuthObservation, SecureAnswer};
use mxray_core::model::{DomainObservation, Lookup};
use mxray_core::mta_sts::{FetchStatus, MAX_POLICY, PolicyFetch};
use mxray_core::sanitize;
use mxray_core::spf::{self, SpfDns, SpfQuery};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

/// Upper bound on recorded answers per domain (a hostile record cannot make us ask more).
const MAX_ANSWERS: usize = 200;

/// What gathering needs besides the resolver and the policy.
#[derive(Clone, Debug)]
pub struct MailAuthContext {
    /// DKIM selectors asked (empty: the default list, `crates/core/data/dkim-selectors.txt`).
    pub dkim_selectors: Vec<String>,
    /// HTTPS port of the MTA-STS policy host (443; tests use another).
    pub https_port: u16,
    /// Connection bounds for the policy fetch.
    pub limits: Limits,
    /// Everything of one policy fetch ends by this.
    pub deadline: std::time::Duration,
    /// TLS client (Mozilla roots plus `--ca-file`).
    pub tls: TlsClient,
    /// Names the scanner in the User-Agent.
    pub ehlo_name: String,
}

impl Default for MailAuthContext {
    fn default() -> Self {
        Self {
            dkim_selectors: Vec::new(),
            https_port: 443,
            limits: Limits::default(),
            deadline: std::time::Duration::from_secs(30),
            tls: TlsClient::new(),
            ehlo_name: "mxray-scanner.invalid".into(),
        }
    }
}

/// A [`SpfDns`] over the real resolver that records (and caches) every answer.
struct Recorder<'a> {
    dns: &'a Dns,
    policy: &'a Policy,
    log: Mutex<Vec<DnsAnswer>>,
}

fn conv<T>(l: Lookup<Vec<T>>, f: impl Fn(&T) -> String) -> Lookup<Vec<String>> {
    l.map(|v| v.iter().map(f).collect())
}

impl Recorder<'_> {
    fn cached(&self, name: &str, rtype: &str) -> Option<Lookup<Vec<String>>> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter()
            .find(|a| a.name == name && a.rtype == rtype)
            .map(|a| a.answer.clone())
    }

    async fn ask(&self, name: &str, rtype: &'static str) -> Lookup<Vec<String>> {
        self.ask_as(name, rtype, false).await
    }

    /// As [`Recorder::ask`], for a name many domains ask about: its TXT records through the
    /// scan's cache (`Dns::txt_shared`).
    async fn ask_shared(&self, name: &str, rtype: &'static str) -> Lookup<Vec<String>> {
        self.ask_as(name, rtype, true).await
    }

    async fn ask_as(&self, name: &str, rtype: &'static str, shared: bool) -> Lookup<Vec<String>> {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(a) = self.cached(&key, rtype) {
            return a;
        }
        let full = self.log.lock().unwrap_or_else(|e| e.into_inner()).len() >= MAX_ANSWERS;
        let answer = if full {
            Lookup::Unknown("answer budget exhausted".into())
        } else if rtype != "PTR" && self.policy.exclusions.excludes_name(&key) {
            Lookup::Unknown("excluded".into())
        } else {
            match rtype {
                "TXT" if shared => conv(self.dns.txt_shared(&key).await, |t| sanitize::lossy(t)),
                "TXT" => conv(self.dns.txt(&key).await, |t| sanitize::lossy(t)),
                "A" => conv(self.dns.a(&key).await, Ipv4Addr::to_string),
                "AAAA" => conv(self.dns.aaaa(&key).await, Ipv6Addr::to_string),
                "MX" => conv(self.dns.mx(&key).await, |m| m.exchange.clone()),
                "CAA" => self.dns.caa(&key).await,
                "CNAME" => self.dns.cname(&key).await,
                _ => match key.parse::<IpAddr>() {
                    Ok(ip) => self.dns.ptr(ip).await,
                    Err(_) => Lookup::Unknown("not an address".into()),
                },
            }
        };
        if !full {
            self.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(DnsAnswer {
                    name: key,
                    rtype: rtype.to_owned(),
                    answer: answer.clone(),
                });
        }
        answer
    }
}

fn parse_all<T: std::str::FromStr>(l: Lookup<Vec<String>>) -> Lookup<Vec<T>> {
    l.map(|v| v.iter().filter_map(|s| s.parse().ok()).collect())
}

impl SpfDns for Recorder<'_> {
    async fn txt(&self, name: &str) -> Lookup<Vec<Vec<u8>>> {
        self.ask(name, "TXT")
            .await
            .map(|v| v.into_iter().map(String::into_bytes).collect())
    }
    async fn a(&self, name: &str) -> Lookup<Vec<Ipv4Addr>> {
        parse_all(self.ask(name, "A").await)
    }
    async fn aaaa(&self, name: &str) -> Lookup<Vec<Ipv6Addr>> {
        parse_all(self.ask(name, "AAAA").await)
    }
    async fn mx(&self, name: &str) -> Lookup<Vec<String>> {
        self.ask(name, "MX").await
    }
    async fn ptr(&self, ip: IpAddr) -> Lookup<Vec<String>> {
        self.ask(&ip.to_string(), "PTR").await
    }
}

/// Gathers the mail-authentication answers for `obs.domain` (see the module docs).
pub async fn gather(
    dns: &Dns,
    policy: &Policy,
    cx: &MailAuthContext,
    obs: &DomainObservation,
) -> MailAuthObservation {
    let rec = Recorder {
        dns,
        policy,
        log: Mutex::new(Vec::new()),
    };
    let _ = spf::lint(&rec, &obs.domain).await;
    for h in &obs.hosts {
        for ip in h.addresses.found().into_iter().flatten().take(10) {
            let q = SpfQuery::mail_from(*ip, &h.name, &format!("postmaster@{}", obs.domain));
            let _ = spf::check_host(&rec, &q).await;
        }
    }
    // DMARC at the domain and at its organisational domain (RFC 7489 §6.6.3).
    let mut dmarc_at = obs.domain.clone();
    let mut dmarc = rec.ask(&format!("_dmarc.{}", obs.domain), "TXT").await;
    let org = mxray_core::dmarc::org_domain(&obs.domain);
    let has_record = |l: &Lookup<Vec<String>>| {
        l.found()
            .into_iter()
            .flatten()
            .any(|t| mxray_core::dmarc::is_dmarc_record(t))
    };
    if org != obs.domain && !has_record(&dmarc) {
        // Asked for every subdomain of `org` without a record of its own: cached.
        let at_org = rec.ask_shared(&format!("_dmarc.{org}"), "TXT").await;
        if !dmarc.is_unknown() {
            dmarc_at = org;
            dmarc = at_org;
        }
    }
    // Outside report destinations must authorise the reports (RFC 7489 §7.1).
    if let Some(records) = dmarc.found() {
        let recs: Vec<&String> = records
            .iter()
            .filter(|t| mxray_core::dmarc::is_dmarc_record(t))
            .collect();
        if let [one] = recs.as_slice()
            && let Ok(parsed) = mxray_core::dmarc::parse(one)
        {
            for (_, _, name) in mxray_core::dmarc::external_report_names(&dmarc_at, &parsed) {
                let _ = rec.ask(&name, "TXT").await;
            }
        }
    }
    // MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3) records.
    let sts = rec.ask(&format!("_mta-sts.{}", obs.domain), "TXT").await;
    let _ = rec.txt(&format!("_smtp._tls.{}", obs.domain)).await;
    // DKIM keys at the configured (or the common) selectors.
    let selectors: Vec<String> = if cx.dkim_selectors.is_empty() {
        mxray_core::dkim::selectors(mxray_core::dkim::DEFAULT_SELECTORS)
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        cx.dkim_selectors.clone()
    };
    for sel in &selectors {
        let _ = rec.txt(&format!("{sel}._domainkey.{}", obs.domain)).await;
    }
    // Whether an MX target is an alias (RFC 2181 §10.3, RFC 5321 §5.1).
    if obs.mx_mode == mxray_core::model::MxMode::Explicit {
        for h in obs.hosts.iter().filter(|h| !h.excluded).take(4) {
            let _ = rec.ask(&h.name, "CNAME").await;
        }
    }
    // CAA at the domain (RFC 8659; the tree climb to parents is not done yet).
    let _ = rec.ask(&obs.domain, "CAA").await;
    let dnssec = dnssec(dns, policy, &obs.domain).await;
    // Senders fetch the policy only when there is exactly one valid record (RFC 8461 §3.1).
    let sts_records: Vec<&String> = sts
        .found()
        .into_iter()
        .flatten()
        .filter(|t| t.starts_with("v=STSv1"))
        .collect();
    let has_sts = matches!(sts_records.as_slice(), [one] if one.replace(' ', "").contains("id="));
    let mta_sts_policy = if has_sts {
        Some(fetch_policy(dns, policy, cx, &obs.domain).await)
    } else {
        None
    };
    MailAuthObservation {
        dns: rec.log.into_inner().unwrap_or_else(|e| e.into_inner()),
        dkim_selectors: if cx.dkim_selectors.is_empty() {
            Vec::new()
        } else {
            selectors
        },
        dnssec,
        mta_sts_policy,
    }
}

/// Short presentation of DNSSEC records (key flags, tag and size; DS digests shortened).
fn render_secure(data: &RData) -> String {
    use hickory_resolver::proto::dnssec::rdata::DNSSECRData;
    use hickory_resolver::proto::dnssec::{PublicKey, Verifier};
    let raw = match data {
        RData::Unknown { rdata, .. } => rdata.anything.as_slice(),
        RData::DNSSEC(DNSSECRData::DNSKEY(k)) => {
            return format!(
                "flags {} protocol 3 algorithm {} tag {} ({} key bytes)",
                k.flags(),
                u8::from(k.algorithm()),
                k.calculate_key_tag().unwrap_or(0),
                k.public_key().public_bytes().len()
            );
        }
        RData::DNSSEC(DNSSECRData::DS(d)) => {
            return format!(
                "key tag {} algorithm {} digest type {} digest {}",
                d.key_tag(),
                u8::from(d.algorithm()),
                u8::from(d.digest_type()),
                crate::tls::hex(&d.digest()[..d.digest().len().min(64)])
            );
        }
        other => return other.to_string(),
    };
    match data.record_type() {
        RecordType::DNSKEY if raw.len() >= 4 => format!(
            "flags {} protocol {} algorithm {} ({} key bytes)",
            u16::from_be_bytes([raw[0], raw[1]]),
            raw[2],
            raw[3],
            raw.len() - 4
        ),
        RecordType::DS if raw.len() >= 4 => format!(
            "key tag {} algorithm {} digest type {} digest {}",
            u16::from_be_bytes([raw[0], raw[1]]),
            raw[2],
            raw[3],
            crate::tls::hex(&raw[4..raw.len().min(4 + 64)])
        ),
        t => format!("{t} ({} bytes)", raw.len()),
    }
}

fn secure_answer(l: SecureLookup) -> SecureAnswer {
    SecureAnswer {
        answer: l
            .answer
            .map(|v| v.iter().take(16).map(render_secure).collect()),
        authenticated: l.authenticated,
    }
}

/// DNSKEY at the zone (the domain, else its organisational domain), DS at the parent,
/// DNSKEY again with CD=1 when the first answer failed, and the verdict on the chain of
/// trust: the resolver's AD bit when it is trusted, else mxray's own validation.
async fn dnssec(dns: &Dns, policy: &Policy, domain: &str) -> Option<DnssecObservation> {
    let mut zone = domain.to_owned();
    let mut dnskey = secure_answer(dns.secure(&zone, RecordType::DNSKEY, false).await);
    let org = mxray_core::dmarc::org_domain(domain);
    if matches!(dnskey.answer, Lookup::NoData)
        && org != zone
        && !policy.exclusions.excludes_name(&org)
    {
        zone = org;
        dnskey = secure_answer(dns.secure(&zone, RecordType::DNSKEY, false).await);
    }
    let ds = secure_answer(dns.secure(&zone, RecordType::DS, false).await);
    let dnskey_unchecked = if dnskey.answer.is_unknown() {
        Some(secure_answer(
            dns.secure(&zone, RecordType::DNSKEY, true).await,
        ))
    } else {
        None
    };
    // The resolver's AD bit is trusted on loopback only; otherwise (and when it did not
    // validate, or failed) mxray validates the chain itself.
    let validation = if dnskey.authenticated && dns.trusts_ad() {
        Validation {
            status: DnssecStatus::Secure,
            by: ValidatedBy::Resolver,
            problem: None,
            at: zone.clone(),
            evidence: vec![format!(
                "DNSKEY {zone}: AD set by the resolver (on loopback)"
            )],
        }
    } else {
        dns.validate_zone(&zone).await
    };
    Some(DnssecObservation {
        zone,
        dnskey,
        ds,
        dnskey_unchecked,
        validation: Some(validation),
    })
}

/// Fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3): one GET to
/// the first admitted address, at most [`MAX_POLICY`] bytes, no redirect followed; the
/// certificate is checked strictly by the check (`tls.problem`), never trusted here.
async fn fetch_policy(
    dns: &Dns,
    policy: &Policy,
    cx: &MailAuthContext,
    domain: &str,
) -> PolicyFetch {
    let host = format!("mta-sts.{domain}");
    let port = if cx.https_port == 443 {
        String::new()
    } else {
        format!(":{}", cx.https_port)
    };
    let path = "/.well-known/mta-sts.txt";
    let mut out = PolicyFetch {
        url: format!("https://{host}{port}{path}"),
        addresses: Lookup::Unknown("not asked".into()),
        address: None,
        status: FetchStatus::NoAddress,
        detail: None,
        tls: None,
        http_status: None,
        content_type: None,
        location: None,
        body: None,
        truncated: false,
    };
    if policy.exclusions.excludes_name(&host) {
        out.status = FetchStatus::NotAdmitted;
        out.detail = Some("excluded".into());
        return out;
    }
    out.addresses = dns.addresses(&host).await;
    let Some(found) = out.addresses.found() else {
        out.detail = Some(format!("{host}: {}", out.addresses.describe()));
        return out;
    };
    let Some(ip) = found.iter().copied().find(|ip| policy.admit(*ip).is_ok()) else {
        out.status = FetchStatus::NotAdmitted;
        out.detail =
            Some("no address of the policy host may be contacted (excluded or not public)".into());
        return out;
    };
    out.address = Some(ip);
    let pcx = ProbeContext {
        ip,
        names: vec![host.clone()],
        local_domain: None,
        ehlo_name: cx.ehlo_name.clone(),
        policy: policy.clone(),
        limits: cx.limits,
        deadline: tokio::time::Instant::now() + cx.deadline,
        tls: cx.tls.clone(),
        web_budget: Default::default(),
        zones: Default::default(),
    };
    let (ex, tls, err, body) =
        crate::probe::web::get(&pcx, cx.https_port, true, Some(&host), path, MAX_POLICY + 1).await;
    out.tls = tls;
    out.http_status = ex.status_code;
    out.content_type = ex.content_type;
    out.location = ex.location;
    if ex.status_code.is_some() {
        out.status = FetchStatus::Fetched;
        out.truncated = body.len() > MAX_POLICY;
        let keep = &body[..body.len().min(MAX_POLICY)];
        out.body = Some(String::from_utf8_lossy(keep).into_owned());
    } else {
        out.status = match (&err, &out.tls) {
            (Some(crate::net::NetError::Blocked), _) => FetchStatus::NotAdmitted,
            (_, Some(_)) => FetchStatus::HttpError,
            (Some(crate::net::NetError::Tls(_)), None) => FetchStatus::TlsFailed,
            (Some(crate::net::NetError::Refused | crate::net::NetError::ConnectTimeout), None) => {
                FetchStatus::ConnectFailed
            }
            _ => FetchStatus::HttpError,
        };
    }
    if let Some(e) = err {
        out.detail = Some(e.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::RecordType;
    use mxray_core::model::{MailHost, MxMode};

    /// Issue 14: two names every subdomain of an organisation asks about — the organisational
    /// domain's DMARC record (for a subdomain without its own) and whether the shared MX host
    /// is an alias — are asked of the name server once for the whole scan, not once per
    /// domain; each domain's own names are still asked for each.
    #[tokio::test]
    async fn names_shared_by_many_domains_are_asked_once() {
        let mut zone = mxray_lab::Zone::default();
        zone.txt("_dmarc.org.test", "v=DMARC1; p=reject")
            .addr("mx.org.test", IpAddr::from([127, 0, 0, 25]));
        for d in ["a.org.test", "b.org.test"] {
            zone.mx(d, 10, "mx.org.test");
        }
        let server = mxray_lab::DnsServer::start(([127, 0, 0, 1], 0).into(), zone)
            .await
            .unwrap();
        let dns = Dns::new(Some(server.addr), std::time::Duration::from_secs(5)).unwrap();
        let cx = MailAuthContext {
            dkim_selectors: vec!["s1".into()],
            ..MailAuthContext::default()
        };
        for d in ["a.org.test", "b.org.test"] {
            let mut obs = DomainObservation::bare(d, Lookup::NoData, MxMode::Explicit);
            obs.hosts.push(MailHost {
                name: "mx.org.test".into(),
                preference: 10,
                addresses: Lookup::NoData,
                excluded: false,
            });
            let got = gather(&dns, &Policy::default(), &cx, &obs).await;
            // The organisational domain's policy is the one that applies, for both.
            assert!(
                got.dns.iter().any(|a| a.name == "_dmarc.org.test"
                    && a.answer
                        .found()
                        .is_some_and(|t| t.iter().any(|t| t.contains("p=reject")))),
                "{d}: {:?}",
                got.dns
            );
        }
        let log = server.queries();
        let count = |name: &str, t: RecordType| {
            log.iter()
                .filter(|(n, r)| n.trim_end_matches('.') == name && *r == t)
                .count()
        };
        assert_eq!(count("_dmarc.org.test", RecordType::TXT), 1, "{log:?}");
        assert_eq!(count("mx.org.test", RecordType::CNAME), 1, "{log:?}");
        for d in ["a.org.test", "b.org.test"] {
            assert_eq!(count(&format!("_dmarc.{d}"), RecordType::TXT), 1, "{log:?}");
        }
    }
}
