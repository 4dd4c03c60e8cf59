//! The catalogue of findings: per finding id, its names and generic fix in English and
//! Japanese, the severities it can have, its reference and the observation it needs.
//!
//! The data is `catalogue.toml` beside this file, compiled in. Checks give each finding its
//! specific English title, evidence and fix; everything that shows a finding in another
//! language, lists the ids (`docs/schema.md`, SARIF rules), or asks whether a check ran
//! ([`crate::coverage`]) reads the catalogue. The tests below tie it to the checks' sources and
//! to `docs/schema.md`.

use crate::finding::Severity;
use serde::Deserialize;
use std::sync::OnceLock;

/// The observation a check reads: what must be present in a scan for the check to have run.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Needs {
    /// The domain's own discovery (MX, addresses).
    Domain,
    /// The mail-authentication answers (SPF, DMARC, DKIM, MTA-STS, CAA, DNSSEC).
    MailAuth,
    /// The domain block lists.
    DomainDnsbl,
    /// The per-zone questions to the domain's name servers.
    Nameservers,
    /// The host's own records (PTR, forward confirmation).
    Host,
    /// The IP block lists about the host.
    HostDnsbl,
    /// The block lists about the finding's subject, domain or host.
    Dnsbl,
    /// An attempt to connect to the SMTP port (its failure is the result).
    SmtpConnect,
    /// An SMTP dialogue that answered.
    Smtp,
    /// A relay battery that reached a conclusion.
    Relay,
    /// A POP3/IMAP dialogue that answered.
    Mailbox,
    /// An HTTP(S) exchange that answered.
    Web,
    /// A DNS server that answered the per-address questions.
    DnsServer,
    /// An SSH identification.
    Ssh,
    /// A telnet, SMB, proxy or FTP probe that answered (`--exposure-extra`).
    ExposureExtra,
    /// Whichever service answered on the finding's port (TLS, DANE, software).
    Service,
    /// The TLS version and cipher audit of the finding's port, every offer answered.
    TlsAudit,
    /// An `mxray audit` run (scope-authorised logins, canaries) on the finding's service.
    Audit,
}

/// One finding id.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// `area.what`.
    pub id: String,
    /// Every severity the id can have.
    pub severity: Vec<Severity>,
    /// How the check picks among several severities.
    #[serde(default)]
    pub rule: Option<String>,
    /// The observation the check reads.
    pub needs: Needs,
    /// The RFC or other reference.
    pub reference: String,
    /// Short English name.
    pub en: String,
    /// Short Japanese name.
    pub ja: String,
    /// Generic fix, English.
    pub fix_en: String,
    /// Generic fix, Japanese.
    pub fix_ja: String,
}

impl Entry {
    /// The highest severity the id can have.
    pub fn worst(&self) -> Severity {
        self.severity
            .iter()
            .copied()
            .max()
            .unwrap_or(Severity::Info)
    }
}

#[derive(Deserialize)]
struct File {
    finding: Vec<Entry>,
}

/// Every entry, in the catalogue's order (by area).
pub fn all() -> &'static [Entry] {
    static CATALOGUE: OnceLock<Vec<Entry>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        // Invariant: the file is compiled in and parsed by the `catalogue_parses` test, so it
        // cannot fail at run time in a build whose tests passed.
        toml::from_str::<File>(include_str!("catalogue.toml"))
            .expect("catalogue.toml parses")
            .finding
    })
}

/// The entry of one id.
pub fn get(id: &str) -> Option<&'static Entry> {
    all().iter().find(|e| e.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every `"area.what"` string literal in the checks' sources outside their test modules.
    fn emitted_ids() -> BTreeSet<String> {
        let areas: BTreeSet<&str> = all()
            .iter()
            .filter_map(|e| e.id.split('.').next())
            .collect();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/checks");
        let mut out = BTreeSet::new();
        for f in std::fs::read_dir(dir).expect("checks dir") {
            let path = f.expect("entry").path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).expect("read");
            let code = src.split("#[cfg(test)]").next().unwrap_or("");
            for lit in code.split('"').skip(1).step_by(2) {
                let Some((area, what)) = lit.split_once('.') else {
                    continue;
                };
                if areas.contains(area)
                    && !what.is_empty()
                    && what
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    out.insert(lit.to_owned());
                }
            }
        }
        out
    }

    #[test]
    fn catalogue_parses_with_unique_ids() {
        let ids: Vec<&str> = all().iter().map(|e| e.id.as_str()).collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "duplicate ids");
        assert!(ids.len() >= 90, "{}", ids.len());
    }

    #[test]
    fn every_id_a_check_emits_is_catalogued_and_every_catalogued_id_is_emitted() {
        let emitted = emitted_ids();
        let catalogued: BTreeSet<String> = all().iter().map(|e| e.id.clone()).collect();
        let missing: Vec<_> = emitted.difference(&catalogued).collect();
        assert!(
            missing.is_empty(),
            "emitted but not catalogued: {missing:?}"
        );
        let unused: Vec<_> = catalogued.difference(&emitted).collect();
        assert!(
            unused.is_empty(),
            "catalogued but emitted by no check: {unused:?}"
        );
    }

    #[test]
    fn every_id_has_japanese_text_and_a_severity() {
        let is_ja = |s: &str| {
            s.chars().any(|c| {
                ('\u{3040}'..='\u{30ff}').contains(&c) || ('\u{4e00}'..='\u{9fff}').contains(&c)
            })
        };
        for e in all() {
            assert!(is_ja(&e.ja), "{}: Japanese name {:?}", e.id, e.ja);
            assert!(is_ja(&e.fix_ja), "{}: Japanese fix {:?}", e.id, e.fix_ja);
            assert!(!e.en.is_empty() && !e.fix_en.is_empty(), "{}", e.id);
            assert!(!e.severity.is_empty(), "{}", e.id);
            assert!(
                e.severity.len() == 1 || e.rule.is_some(),
                "{}: several severities need a rule",
                e.id
            );
            assert!(!e.reference.is_empty(), "{}", e.id);
        }
    }

    /// `MXRAY_BLESS=1 cargo test -p mxray-core catalogue` rewrites the table in
    /// `docs/schema.md` from the catalogue.
    #[test]
    fn docs_schema_lists_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/schema.md");
        let doc = std::fs::read_to_string(path).expect("docs/schema.md");
        let (open, close) = ("<!-- catalogue:start -->\n", "<!-- catalogue:end -->");
        let start = doc
            .find(open)
            .expect("docs/schema.md has the catalogue table")
            + open.len();
        let end = doc.find(close).expect("table end");
        let want = schema_table();
        if std::env::var_os("MXRAY_BLESS").is_some() {
            let new = format!("{}{want}{}", &doc[..start], &doc[end..]);
            std::fs::write(path, new).expect("write docs/schema.md");
            return;
        }
        assert_eq!(
            &doc[start..end],
            want,
            "docs/schema.md's finding table differs from the catalogue; run \
             `MXRAY_BLESS=1 cargo test -p mxray-core catalogue`"
        );
    }

    /// The Markdown table of `docs/schema.md`, made from the catalogue.
    fn schema_table() -> String {
        let mut s =
            String::from("| id | severity | needs | reference | name |\n|---|---|---|---|---|\n");
        for e in all() {
            let sev: Vec<&str> = e.severity.iter().map(|v| v.as_str()).collect();
            s.push_str(&format!(
                "| `{}` | {} | {:?} | {} | {} |\n",
                e.id,
                sev.join(", "),
                e.needs,
                e.reference,
                e.en
            ));
        }
        s
    }
}
