//! Lab domains for the mail-authentication checks: one per SPF lint case, and one per DMARC
//! report-authorisation, MTA-STS policy, DNSSEC and DANE case. Most use the closed server
//! as their MX, so the MX cross-check has an address to evaluate; the DANE domains have MX
//! hosts of their own (closed servers with STARTTLS at `.60`–`.62`), because an address is
//! probed once per scan with the MX names of the first domain that led to it. The MTA-STS
//! policy hosts are `.70` (lab-CA certificate) and `.71` (self-signed).

use crate::LabDomain;
use crate::dns::Zone;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector, TLSA};
use hickory_proto::rr::{RData, RecordType};
use std::collections::HashMap;
use std::net::IpAddr;

/// SHA-256 of the SubjectPublicKeyInfo of `certs/lab-cert.pem` (the STARTTLS certificate),
/// as a `3 1 1` TLSA record carries it (see `certs/README.md`).
pub const LAB_CERT_SPKI_SHA256: &str =
    "36f54a2683851d27395ebc377d469a87ea770554d481bdbb556fb2459fd7b0ee";

/// The DANE lab servers: (last octet, label). Each is a closed server with STARTTLS.
pub(crate) const DANE_SERVERS: [(u8, &str); 3] =
    [(60, "dane-ok"), (61, "dane-bad"), (62, "dane-insecure")];

/// Last octet of the MTA-STS policy host with a lab-CA certificate.
pub(crate) const POLICY_HOST: u8 = 70;
/// Last octet of the MTA-STS policy host with the self-signed certificate.
pub(crate) const POLICY_HOST_BAD_CERT: u8 = 71;

/// Policies served by the two policy hosts: (lab-CA host's, self-signed host's).
pub(crate) type Policies = (HashMap<String, String>, HashMap<String, String>);

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        // Invariant: called only on the even-length hex constants of this file.
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A DNSKEY (KSK flags 257, protocol 3, ECDSA P-256) and a DS (SHA-256) as raw data: the
/// lab signs nothing; whether the "resolver" validates is the AD behaviour of the zone.
fn signed(zone: &mut Zone, apex: &str, with_ds: bool) {
    let mut key = vec![0x01, 0x01, 3, 13];
    key.extend((0..64u8).map(|b| b.wrapping_mul(7)));
    zone.raw(apex, RecordType::DNSKEY, key);
    if with_ds {
        let mut ds = vec![0x5c, 0x43, 13, 2];
        ds.extend((0..32u8).map(|b| b.wrapping_mul(11)));
        zone.raw(apex, RecordType::DS, ds);
    }
}

/// Adds the DMARC-authorisation, MTA-STS, DNSSEC and DANE lab domains; returns the policies
/// the two MTA-STS policy hosts serve.
pub(crate) fn add_transport(
    zone: &mut Zone,
    ip: impl Fn(u8) -> IpAddr,
    domains: &mut Vec<LabDomain>,
) -> Policies {
    let mx = "closed-mx.mxray.test";
    let mut push = |zone: &mut Zone, label: &str, shows: &'static str| {
        let domain = format!("{label}.mxray.test");
        zone.txt(&domain, &format!("v=spf1 ip4:{} -all", ip(10)));
        domains.push(LabDomain { domain, shows });
    };
    // DMARC reports to another domain (RFC 7489 §7.1).
    zone.mx("dmarc-rua-ext.mxray.test", 10, mx);
    zone.txt(
        "_dmarc.dmarc-rua-ext.mxray.test",
        "v=DMARC1; p=reject; rua=mailto:agg@reports.elsewhere.test",
    );
    push(
        zone,
        "dmarc-rua-ext",
        "DMARC reports to another domain that has not authorised them",
    );
    zone.mx("dmarc-rua-ok.mxray.test", 10, mx);
    zone.txt(
        "_dmarc.dmarc-rua-ok.mxray.test",
        "v=DMARC1; p=reject; rua=mailto:agg@reports.partner.test",
    );
    zone.txt(
        "dmarc-rua-ok.mxray.test._report._dmarc.reports.partner.test",
        "v=DMARC1",
    );
    push(
        zone,
        "dmarc-rua-ok",
        "DMARC reports to another domain that authorised them",
    );

    // MTA-STS policies (RFC 8461 §3.2) on the lab's HTTPS policy hosts.
    let policy = |mode: &str, mx: &str, max_age: u32| {
        format!(
            "version: STSv1
mode: {mode}
mx: {mx}
max_age: {max_age}
"
        )
    };
    let mut good: HashMap<String, String> = HashMap::new();
    let mut bad_cert: HashMap<String, String> = HashMap::new();
    good.insert(
        "mta-sts.spf-good.mxray.test".into(),
        policy("enforce", mx, 604_800),
    );
    zone.addr("mta-sts.spf-good.mxray.test", ip(POLICY_HOST));
    let cases: [(&str, Option<String>, &'static str); 6] = [
        (
            "sts-testing",
            Some(policy("testing", mx, 3600)),
            "MTA-STS policy in testing mode with a one-hour max_age",
        ),
        (
            "sts-mismatch",
            Some(policy("enforce", "mx.elsewhere.test", 604_800)),
            "MTA-STS policy whose mx: patterns miss the domain's MX",
        ),
        (
            "sts-invalid",
            Some(
                "<html><body>Welcome to nginx!</body></html>
"
                .into(),
            ),
            "MTA-STS policy URL serving something that is not a policy",
        ),
        (
            "sts-none",
            Some(
                "version: STSv1
mode: none
max_age: 86400
"
                .into(),
            ),
            "MTA-STS policy withdrawn (mode: none)",
        ),
        (
            "sts-unreachable",
            None,
            "MTA-STS record, but no policy host",
        ),
        (
            "sts-badcert",
            Some(policy("enforce", mx, 604_800)),
            "MTA-STS policy host with a certificate no CA vouches for",
        ),
    ];
    for (label, body, shows) in cases {
        let domain = format!("{label}.mxray.test");
        zone.mx(&domain, 10, mx);
        zone.txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=20261130");
        let host = format!("mta-sts.{domain}");
        if let Some(body) = body {
            if label == "sts-badcert" {
                zone.addr(&host, ip(POLICY_HOST_BAD_CERT));
                bad_cert.insert(host, body);
            } else {
                zone.addr(&host, ip(POLICY_HOST));
                good.insert(host, body);
            }
        }
        push(zone, label, shows);
    }

    // DNSSEC: an island of security (no DS) and a zone whose validation fails.
    zone.mx("dnssec-island.mxray.test", 10, mx);
    signed(zone, "dnssec-island.mxray.test", false);
    // Four more RSA-3072-sized keys: the DNSKEY answer (~1.8 KB) no longer fits the 1232-byte
    // UDP limit, so the scanner must retry over TCP.
    for n in 0..4u8 {
        let mut key = vec![0x01, 0x00, 3, 8];
        key.extend((0..400u16).map(|b| (b as u8).wrapping_add(n)));
        zone.raw("dnssec-island.mxray.test", RecordType::DNSKEY, key);
    }
    push(
        zone,
        "dnssec-island",
        "DNSSEC-signed zone without a DS at the parent (DNSKEY answer too big for UDP)",
    );
    zone.mx("dnssec-bogus.mxray.test", 10, mx);
    signed(zone, "dnssec-bogus.mxray.test", true);
    zone.bogus("dnssec-bogus.mxray.test");
    push(
        zone,
        "dnssec-bogus",
        "DNSSEC validation fails (SERVFAIL unless checking is disabled)",
    );

    // DANE: TLSA at _25._tcp.<MX host> (RFC 7672).
    let spki = unhex(LAB_CERT_SPKI_SHA256);
    for (octet, label) in DANE_SERVERS {
        let domain = format!("{label}.mxray.test");
        let mx_host = format!("mx.{domain}");
        zone.mx(&domain, 10, &mx_host).addr(&mx_host, ip(octet));
        zone.ptr(ip(octet), &mx_host);
        let data = if label == "dane-bad" {
            vec![0xd0; 32]
        } else {
            spki.clone()
        };
        zone.add(
            &format!("_25._tcp.{mx_host}"),
            RData::TLSA(TLSA::new(
                CertUsage::DaneEe,
                Selector::Spki,
                Matching::Sha256,
                data,
            )),
        );
        signed(zone, &domain, true);
        if label != "dane-insecure" {
            zone.secure(&domain);
        }
        let shows = match label {
            "dane-ok" => "DANE: validated TLSA matching the MX certificate",
            "dane-bad" => "DANE: validated TLSA matching no certificate the MX presents",
            _ => "DANE: TLSA in a zone the resolver does not validate",
        };
        domains.push(LabDomain { domain, shows });
    }
    (good, bad_cert)
}

/// Adds the SPF lab domains to `zone` and `domains`; `mx_ip` is the closed server's address.
pub(crate) fn add(zone: &mut Zone, mx_ip: IpAddr, domains: &mut Vec<LabDomain>) {
    let mx = "closed-mx.mxray.test";
    let ip4 = |ip: IpAddr| format!("ip4:{ip}");
    let cases: Vec<(&str, Vec<String>, &'static str)> = vec![
        (
            "spf-good",
            vec![format!("v=spf1 {} -all", ip4(mx_ip))],
            "SPF done right: -all, MX listed",
        ),
        ("spf-none", vec![], "no SPF record"),
        (
            "spf-multi",
            vec!["v=spf1 mx -all".into(), "v=spf1 -all".into()],
            "two SPF records (permerror)",
        ),
        (
            "spf-syntax",
            vec!["v=spf1 mx ip4:192.0.2.1/33 -all".into()],
            "SPF syntax error (bad CIDR length)",
        ),
        (
            "spf-pass-all",
            vec!["v=spf1 mx +all".into()],
            "SPF +all: anyone may send",
        ),
        ("spf-neutral-all", vec!["v=spf1 mx ?all".into()], "SPF ?all"),
        (
            "spf-softfail",
            vec!["v=spf1 mx ~all".into()],
            "SPF ~all instead of -all",
        ),
        (
            "spf-lookups",
            vec![format!(
                "v=spf1 mx {} -all",
                (1..=10)
                    .map(|n| format!("include:inc{n}.spf-lookups.mxray.test"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )],
            "SPF with 11 DNS-querying terms",
        ),
        (
            "spf-void",
            vec!["v=spf1 mx a:gone1.mxray.test a:gone2.mxray.test a:gone3.mxray.test -all".into()],
            "SPF with 3 void lookups",
        ),
        ("spf-ptr", vec!["v=spf1 mx ptr -all".into()], "SPF uses ptr"),
        (
            "spf-include-gone",
            vec!["v=spf1 mx include:spf.gone.mxray.test -all".into()],
            "SPF includes a name with no SPF record",
        ),
        (
            "spf-long",
            vec![format!(
                "v=spf1 mx {} -all",
                (1..=40)
                    .map(|n| format!("ip4:192.0.2.{n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )],
            "SPF record too long for one 512-byte UDP answer",
        ),
        (
            "spf-mx-fail",
            vec!["v=spf1 ip4:192.0.2.1 -all".into()],
            "SPF that does not list the domain's own MX",
        ),
    ];
    zone.txt(
        "_dmarc.spf-good.mxray.test",
        "v=DMARC1; p=reject; rua=mailto:dmarc@spf-good.mxray.test",
    );
    zone.txt(
        "_dmarc.spf-softfail.mxray.test",
        "v=DMARC1; p=none; sp=none",
    );
    zone.txt(
        "_dmarc.spf-pass-all.mxray.test",
        "v=DMARC1; p=reject; sp=none; pct=50",
    );
    zone.txt("_dmarc.spf-ptr.mxray.test", "v=DMARC1; p=block");
    // Meant as DMARC, but v=DMARC1 is not first: receivers ignore it.
    zone.txt("_dmarc.spf-neutral-all.mxray.test", "p=reject; v=DMARC1");
    zone.txt("_mta-sts.spf-good.mxray.test", "v=STSv1; id=20261124");
    zone.txt(
        "_smtp._tls.spf-good.mxray.test",
        "v=TLSRPTv1; rua=mailto:tls@spf-good.mxray.test",
    );
    zone.txt("_mta-sts.spf-softfail.mxray.test", "v=STSv1;");
    zone.add(
        "spf-good.mxray.test",
        RData::CAA(hickory_proto::rr::rdata::CAA::new_issue(
            false,
            // Invariant: a fixed valid name.
            Some(hickory_proto::rr::Name::from_ascii("ca.mxray.test").expect("name")),
            vec![],
        )),
    );
    let key = include_str!("dkim-1024.b64").trim();
    zone.txt(
        "default._domainkey.spf-good.mxray.test",
        &format!("v=DKIM1; k=rsa; p={key}"),
    );
    // Only found with --dkim-selectors lab2026 (not in the default list).
    zone.txt(
        "lab2026._domainkey.spf-good.mxray.test",
        &format!("v=DKIM1; k=rsa; t=y; p={key}"),
    );
    for n in 1..=10 {
        zone.txt(&format!("inc{n}.spf-lookups.mxray.test"), "v=spf1 -all");
    }
    for (label, records, shows) in cases {
        let domain = format!("{label}.mxray.test");
        zone.mx(&domain, 10, mx);
        for r in records {
            // Split into 255-byte character-strings, as a zone file would.
            let chunks = r
                .as_bytes()
                .chunks(255)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            zone.add(&domain, RData::TXT(TXT::new(chunks)));
        }
        domains.push(LabDomain { domain, shows });
    }
}
