//! Lab domains for the mail-authentication checks: one per SPF lint case. Each uses the
//! closed server as its MX, so the MX cross-check has an address to evaluate.

use crate::LabDomain;
use crate::dns::Zone;
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::TXT;
use std::net::IpAddr;

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
            Some(hickory_proto::rr::Name::from_ascii("ca.mxray.test").expect("name")),
            vec![],
        )),
    );
    let key = include_str!("dkim-1024.b64").trim();
    zone.txt(
        "default._domainkey.spf-good.mxray.test",
        &format!("v=DKIM1; k=rsa; p={key}"),
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
