//! The survey's own pages, as a CSIRT would publish them (the 2002 co.jp survey's tables):
//! prevalence of each finding with the info findings folded into one "hardening" line, the
//! providers behind each finding (top ten, with both shares), a software census per service,
//! adoption of mail authentication and transport security, and DNSBL listing rates.
//!
//! The caller aggregates (streaming over the store); this module only turns the numbers into
//! tables, each with an inline SVG chart when a chart helps, and every chart has its numbers
//! in the table beside it.

use crate::charts::Chart;
use crate::i18n::Lang;
use mxray_core::Severity;
use mxray_core::adoption::{
    DaneState, DmarcState, DnssecState, Published, QualifierKind, SpfState,
};
use std::collections::BTreeMap;

/// The survey's numbers, aggregated by the caller over the whole scan.
#[derive(Clone, Debug, Default)]
pub struct Survey {
    /// Domains scanned (excluded ones are not surveyed).
    pub surveyed: u64,
    /// Domains on the exclusion list.
    pub excluded: u64,
    /// Hosts probed.
    pub hosts: u64,
    /// Distinct providers (of primary mail hosts).
    pub providers: u64,
    /// Domains by their worst finding (`None`: no finding).
    pub worst: BTreeMap<Option<Severity>, u64>,
    /// Domains with at least one info (hardening) finding.
    pub hardening_domains: u64,
    /// Every finding id seen.
    pub checks: Vec<CheckStat>,
    /// Per finding (low and above), the providers.
    pub by_provider: Vec<FindingProviders>,
    /// Per service.
    pub census: Vec<ServiceCensus>,
    /// Advisories matching stored versions.
    pub advisories: Vec<AdvisoryStat>,
    /// Adoption counters (domains).
    pub adoption: AdoptionCounts,
    /// Per block list.
    pub dnsbl: Vec<DnsblStat>,
    /// Providers by domains with a high or critical finding, most first (top ten).
    pub problem_providers: Vec<(String, u64)>,
    /// Hosts per product (each host once per product).
    pub products: Vec<(String, u64)>,
    /// Hosts per product and version (a version-less product counts once per host that
    /// disclosed no version of it), most first.
    pub product_versions: Vec<(String, Option<String>, u64)>,
    /// Relative file name of the full domain table (CSV), when written.
    pub domains_file: Option<String>,
    /// Relative file name of the full host table (CSV), when written.
    pub hosts_file: Option<String>,
}

/// One finding id's prevalence.
#[derive(Clone, Debug)]
pub struct CheckStat {
    /// Finding id.
    pub id: String,
    /// Its worst severity seen.
    pub severity: Severity,
    /// Domains with it (their own, or a host's through a concerned role).
    pub domains: u64,
    /// Hosts with it.
    pub hosts: u64,
}

/// The providers behind one finding.
#[derive(Clone, Debug)]
pub struct FindingProviders {
    /// Finding id.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// Domains with it.
    pub affected: u64,
    /// Top ten providers by affected domains.
    pub top: Vec<ProviderShare>,
}

/// One provider's row.
#[derive(Clone, Debug)]
pub struct ProviderShare {
    /// Provider label (AS, or heuristic name).
    pub provider: String,
    /// Its affected domains.
    pub domains: u64,
    /// All its surveyed domains.
    pub provider_domains: u64,
}

/// One service of the software census.
#[derive(Clone, Debug)]
pub struct ServiceCensus {
    /// `smtp`, `pop3`, `imap`, `http`, `dns`, `ssh`.
    pub service: String,
    /// Hosts where the service was probed and answered.
    pub probed: u64,
    /// Hosts whose product was identified.
    pub identified: u64,
    /// Hosts with a version disclosed.
    pub versioned: u64,
    /// Hosts on a version an advisory names.
    pub advisory_hosts: u64,
    /// `(product, version, hosts)`, most hosts first (capped by the caller).
    pub versions: Vec<(String, Option<String>, u64)>,
}

/// An advisory and the hosts on versions it names.
#[derive(Clone, Debug)]
pub struct AdvisoryStat {
    /// Advisory id.
    pub id: String,
    /// Products and versions seen (`Exim 4.87`).
    pub software: String,
    /// Its severity.
    pub severity: Severity,
    /// In CISA's Known Exploited Vulnerabilities catalogue.
    pub known_exploited: bool,
    /// Hosts.
    pub hosts: u64,
}

/// Domains per adoption state.
#[derive(Clone, Debug, Default)]
pub struct AdoptionCounts {
    /// SPF.
    pub spf: BTreeMap<SpfState, u64>,
    /// DMARC.
    pub dmarc: BTreeMap<DmarcState, u64>,
    /// MTA-STS.
    pub mta_sts: BTreeMap<Published, u64>,
    /// TLS-RPT.
    pub tls_rpt: BTreeMap<Published, u64>,
    /// DNSSEC.
    pub dnssec: BTreeMap<DnssecState, u64>,
    /// DANE.
    pub dane: BTreeMap<DaneState, u64>,
}

/// One block list.
#[derive(Clone, Debug)]
pub struct DnsblStat {
    /// List (`Spamhaus ZEN (zen.spamhaus.org)`).
    pub list: String,
    /// Hosts asked about.
    pub hosts_queried: u64,
    /// Hosts listed.
    pub hosts_listed: u64,
    /// Domains listed themselves or through one of their hosts.
    pub domains_listed: u64,
}

/// A table with an optional chart beside it (the template draws both).
pub(crate) struct DataTable {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) note: String,
    pub(crate) headers: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
    pub(crate) chart: Option<Chart>,
}

/// A heading and its tables.
pub(crate) struct Section {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) intro: String,
    pub(crate) tables: Vec<DataTable>,
}

/// Words of the survey pages.
struct Words {
    summary: &'static str,
    summary_intro: &'static str,
    finding: &'static str,
    severity: &'static str,
    domains: &'static str,
    pct_surveyed: &'static str,
    pct_identified: &'static str,
    hosts: &'static str,
    hardening: &'static str,
    hardening_note: &'static str,
    worst: &'static str,
    none: &'static str,
    providers: &'static str,
    providers_intro: &'static str,
    provider: &'static str,
    share_affected: &'static str,
    share_own: &'static str,
    top10: &'static str,
    census: &'static str,
    census_intro: &'static str,
    service: &'static str,
    probed: &'static str,
    identified: &'static str,
    versioned: &'static str,
    on_advisory: &'static str,
    product: &'static str,
    version: &'static str,
    hidden: &'static str,
    advisories: &'static str,
    advisory: &'static str,
    software: &'static str,
    kev: &'static str,
    adoption: &'static str,
    adoption_intro: &'static str,
    state: &'static str,
    pct_measured: &'static str,
    not_measured: &'static str,
    dnsbl: &'static str,
    dnsbl_intro: &'static str,
    list: &'static str,
    hosts_queried: &'static str,
    hosts_listed: &'static str,
    rate: &'static str,
    domains_listed: &'static str,
    no_rows: &'static str,
}

const EN: Words = Words {
    summary: "Survey summary",
    summary_intro: "Domains surveyed, and how many have each finding (their own, or one of a host they use through a role it concerns), worst first.",
    finding: "Finding",
    severity: "Severity",
    domains: "Domains",
    pct_surveyed: "% of surveyed",
    pct_identified: "% of identified",
    hosts: "Hosts",
    hardening: "Hardening not in place (info findings)",
    hardening_note: "domains with at least one",
    worst: "Domains by their worst finding",
    none: "no finding",
    providers: "Findings by provider",
    providers_intro: "For each finding, the ten providers (of the domain's primary mail host) with the most affected domains: their share of all affected domains, and the share of the provider's own surveyed domains. The same numbers as `mxray stats --by provider --finding ID`.",
    provider: "Provider",
    share_affected: "Share of affected",
    share_own: "Share of its own domains",
    top10: "Top ten providers together",
    census: "Software census",
    census_intro: "Per service: hosts probed that answered, hosts whose product was identified from banners, products and versions, and hosts running a version an advisory names.",
    service: "Service",
    probed: "Answered",
    identified: "Identified",
    versioned: "Version disclosed",
    on_advisory: "On an advisory-named version",
    product: "Product",
    version: "Version",
    hidden: "(version not disclosed)",
    advisories: "Hosts on versions named by advisories (known exploited first)",
    advisory: "Advisory",
    software: "Software",
    kev: "Known exploited (CISA KEV)",
    adoption: "Adoption",
    adoption_intro: "Domains by state; \"not measured\" means the answer was not recorded or the lookup failed (never counted as missing). Percentages are of the measured domains.",
    state: "State",
    pct_measured: "% of measured",
    not_measured: "not measured",
    dnsbl: "DNSBL listing rates",
    dnsbl_intro: "Per block list: hosts asked about and listed, and domains listed themselves or through one of their hosts.",
    list: "List",
    hosts_queried: "Hosts asked",
    hosts_listed: "Hosts listed",
    rate: "Rate",
    domains_listed: "Domains listed",
    no_rows: "none",
};

const JA: Words = Words {
    summary: "調査の概要",
    summary_intro: "調査したドメイン数と、各検出項目に該当するドメイン数(ドメイン自身、または関係する役割で使うホストの検出)。深刻度の高い順。",
    finding: "検出項目",
    severity: "深刻度",
    domains: "ドメイン数",
    pct_surveyed: "調査対象に占める割合",
    pct_identified: "特定できたホストに占める割合",
    hosts: "ホスト数",
    hardening: "未実施の強化策(情報レベルの検出)",
    hardening_note: "1 件以上該当するドメイン",
    worst: "最も深刻な検出別のドメイン数",
    none: "検出なし",
    providers: "プロバイダ別の検出",
    providers_intro: "検出項目ごとに、該当ドメインが多い上位 10 プロバイダ(ドメインの主メールホストの運用者)と、該当ドメイン全体に占める割合、そのプロバイダ自身の調査対象ドメインに占める割合。`mxray stats --by provider --finding ID` と同じ数値です。",
    provider: "プロバイダ",
    share_affected: "該当ドメイン全体に占める割合",
    share_own: "自社ドメインに占める割合",
    top10: "上位 10 プロバイダの合計",
    census: "ソフトウェアの調査",
    census_intro: "サービスごとに、応答したホスト数、バナーから製品を特定できたホスト数、製品とバージョン、脆弱性情報の対象バージョンを動かしているホスト数。",
    service: "サービス",
    probed: "応答あり",
    identified: "製品を特定",
    versioned: "バージョン判明",
    on_advisory: "脆弱性情報の対象バージョン",
    product: "製品",
    version: "バージョン",
    hidden: "(バージョン非公開)",
    advisories: "脆弱性情報の対象バージョンを動かすホスト(悪用確認済みを先に)",
    advisory: "脆弱性情報",
    software: "ソフトウェア",
    kev: "悪用が確認された脆弱性(CISA KEV)",
    adoption: "導入状況",
    adoption_intro: "状態別のドメイン数。「未測定」は応答が記録されていないか問い合わせに失敗したもので、未導入には数えません。割合は測定できたドメインに対するものです。",
    state: "状態",
    pct_measured: "測定できたドメインに占める割合",
    not_measured: "未測定",
    dnsbl: "DNSBL 掲載率",
    dnsbl_intro: "ブロックリストごとに、問い合わせたホスト数と掲載ホスト数、ドメイン自身または使うホストが掲載されているドメイン数。",
    list: "リスト",
    hosts_queried: "問い合わせたホスト",
    hosts_listed: "掲載ホスト",
    rate: "掲載率",
    domains_listed: "掲載ドメイン",
    no_rows: "なし",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Ja => &JA,
    }
}

/// `12.3%` of `n / of` (`-` when `of` is 0).
pub(crate) fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.1}%", n as f64 * 100.0 / of as f64)
    }
}

fn spf_label(s: SpfState, lang: Lang) -> String {
    let ja = lang == Lang::Ja;
    match s {
        SpfState::NotMeasured => words(lang).not_measured.into(),
        SpfState::Missing => if ja { "SPF なし" } else { "no SPF record" }.into(),
        SpfState::Invalid => if ja {
            "無効(複数・構文誤り)"
        } else {
            "invalid (several records, or a syntax error)"
        }
        .into(),
        SpfState::NoAll => if ja {
            "all なし(既定は ?all)"
        } else {
            "no all term (neutral by default)"
        }
        .into(),
        SpfState::All(q) => {
            let (c, en, j) = match q {
                QualifierKind::Fail => ("-all", "fail", "拒否"),
                QualifierKind::SoftFail => ("~all", "softfail", "ソフトフェイル"),
                QualifierKind::Neutral => ("?all", "neutral", "中立"),
                QualifierKind::Pass => ("+all", "anyone may send", "誰でも送信可"),
            };
            format!("{c} ({})", if ja { j } else { en })
        }
    }
}

fn dmarc_label(s: DmarcState, lang: Lang) -> String {
    let ja = lang == Lang::Ja;
    match s {
        DmarcState::NotMeasured => words(lang).not_measured.into(),
        DmarcState::Missing => if ja {
            "DMARC なし"
        } else {
            "no DMARC record"
        }
        .into(),
        DmarcState::Invalid => if ja {
            "無効なレコード"
        } else {
            "invalid record"
        }
        .into(),
        DmarcState::Reject => "p=reject".into(),
        DmarcState::Quarantine => "p=quarantine".into(),
        DmarcState::None => "p=none".into(),
    }
}

fn published_label(s: Published, lang: Lang) -> String {
    let ja = lang == Lang::Ja;
    match s {
        Published::NotMeasured => words(lang).not_measured.into(),
        Published::Missing => if ja { "未公開" } else { "not published" }.into(),
        Published::Yes => if ja { "公開" } else { "published" }.into(),
    }
}

fn dnssec_label(s: DnssecState, lang: Lang) -> String {
    let ja = lang == Lang::Ja;
    match s {
        DnssecState::NotMeasured => words(lang).not_measured.into(),
        DnssecState::Secure => if ja {
            "署名・検証成功"
        } else {
            "signed and validated"
        }
        .into(),
        DnssecState::Insecure => if ja {
            "未署名(または DS なし)"
        } else {
            "unsigned (or no DS)"
        }
        .into(),
        DnssecState::Bogus => if ja {
            "検証失敗(bogus)"
        } else {
            "validation fails (bogus)"
        }
        .into(),
    }
}

fn dane_label(s: DaneState, lang: Lang) -> String {
    let ja = lang == Lang::Ja;
    match s {
        DaneState::NotMeasured => words(lang).not_measured.into(),
        DaneState::Missing => if ja { "TLSA なし" } else { "no TLSA record" }.into(),
        DaneState::Published => if ja { "TLSA 公開" } else { "TLSA published" }.into(),
    }
}

fn finding_label(id: &str, lang: Lang) -> String {
    match (lang, mxray_core::catalogue::get(id)) {
        (Lang::Ja, Some(e)) => format!("{} ({id})", e.ja),
        (Lang::En, Some(e)) => format!("{} ({id})", e.en),
        (_, None) => id.to_owned(),
    }
}

fn sev_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#8b0000",
        Severity::High => "#d9480f",
        Severity::Medium => "#e8a33d",
        Severity::Low => "#3b7dd8",
        Severity::Info => "#8a8f98",
    }
}

/// One adoption table from counts, in the states' order; "not measured" last and outside
/// the percentages.
fn adoption_table<K: Ord + Copy>(
    id: &str,
    title: &str,
    counts: &BTreeMap<K, u64>,
    not_measured: K,
    label: impl Fn(K) -> String,
    w: &Words,
) -> DataTable {
    let measured: u64 = counts
        .iter()
        .filter(|(k, _)| **k != not_measured)
        .map(|(_, n)| n)
        .sum();
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for (k, n) in counts.iter().filter(|(k, _)| **k != not_measured) {
        rows.push(vec![label(*k), n.to_string(), pct(*n, measured)]);
        items.push((label(*k), *n, "#3b7dd8"));
    }
    let nm = counts.get(&not_measured).copied().unwrap_or(0);
    rows.push(vec![label(not_measured), nm.to_string(), String::new()]);
    DataTable {
        id: id.to_owned(),
        title: title.to_owned(),
        note: String::new(),
        headers: vec![w.state.into(), w.domains.into(), w.pct_measured.into()],
        rows,
        chart: Some(Chart::new(id, title, "", items)),
    }
}

/// The survey pages' sections.
pub(crate) fn sections(s: &Survey, lang: Lang) -> Vec<Section> {
    let w = words(lang);
    let mut out = Vec::new();

    // Summary: prevalence, info folded into one hardening line.
    let mut checks: Vec<&CheckStat> = s.checks.iter().collect();
    checks.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| b.domains.cmp(&a.domains))
            .then_with(|| a.id.cmp(&b.id))
    });
    let (info, real): (Vec<&CheckStat>, Vec<&CheckStat>) = checks
        .into_iter()
        .partition(|c| c.severity == Severity::Info);
    let mut rows: Vec<Vec<String>> = real
        .iter()
        .map(|c| {
            vec![
                finding_label(&c.id, lang),
                lang.severity(c.severity).to_owned(),
                c.domains.to_string(),
                pct(c.domains, s.surveyed),
                c.hosts.to_string(),
            ]
        })
        .collect();
    if !info.is_empty() {
        let ids: Vec<&str> = info.iter().map(|c| c.id.as_str()).collect();
        rows.push(vec![
            format!("{} — {}", w.hardening, ids.join(", ")),
            lang.severity(Severity::Info).to_owned(),
            format!("{} ({})", s.hardening_domains, w.hardening_note),
            pct(s.hardening_domains, s.surveyed),
            String::new(),
        ]);
    }
    let items = real
        .iter()
        .take(12)
        .map(|c| (finding_label(&c.id, lang), c.domains, sev_color(c.severity)))
        .collect();
    let prevalence = DataTable {
        id: "survey-prevalence".into(),
        title: w.summary.into(),
        note: String::new(),
        headers: vec![
            w.finding.into(),
            w.severity.into(),
            w.domains.into(),
            w.pct_surveyed.into(),
            w.hosts.into(),
        ],
        rows,
        chart: Some(Chart::new("chart-prevalence", w.summary, "", items)),
    };
    let worst_items: Vec<(String, u64, &'static str)> = s
        .worst
        .iter()
        .rev()
        .map(|(k, n)| {
            (
                k.map_or_else(|| w.none.to_owned(), |x| lang.severity(x).to_owned()),
                *n,
                k.map_or("#2f8f4e", sev_color),
            )
        })
        .collect();
    let worst = DataTable {
        id: "survey-worst".into(),
        title: w.worst.into(),
        note: String::new(),
        headers: vec![w.severity.into(), w.domains.into(), w.pct_surveyed.into()],
        rows: worst_items
            .iter()
            .map(|(l, n, _)| vec![l.clone(), n.to_string(), pct(*n, s.surveyed)])
            .collect(),
        chart: Some(Chart::new("chart-worst", w.worst, "", worst_items)),
    };
    out.push(Section {
        id: "survey-summary",
        title: w.summary,
        intro: w.summary_intro.into(),
        tables: vec![prevalence, worst],
    });

    // Providers per finding.
    let tables = s
        .by_provider
        .iter()
        .map(|f| {
            let top10: u64 = f.top.iter().map(|p| p.domains).sum();
            let mut rows: Vec<Vec<String>> = f
                .top
                .iter()
                .map(|p| {
                    vec![
                        p.provider.clone(),
                        p.domains.to_string(),
                        pct(p.domains, f.affected),
                        format!(
                            "{} ({}/{})",
                            pct(p.domains, p.provider_domains),
                            p.domains,
                            p.provider_domains
                        ),
                    ]
                })
                .collect();
            rows.push(vec![
                w.top10.into(),
                top10.to_string(),
                pct(top10, f.affected),
                String::new(),
            ]);
            let title = format!(
                "{} — {} {} {}",
                finding_label(&f.id, lang),
                f.affected,
                w.domains,
                lang.severity(f.severity)
            );
            DataTable {
                id: format!("prov-{}", f.id),
                chart: Some(Chart::new(
                    format!("chart-prov-{}", f.id),
                    &title,
                    "",
                    f.top
                        .iter()
                        .map(|p| (p.provider.clone(), p.domains, sev_color(f.severity)))
                        .collect(),
                )),
                title,
                note: String::new(),
                headers: vec![
                    w.provider.into(),
                    w.domains.into(),
                    w.share_affected.into(),
                    w.share_own.into(),
                ],
                rows,
            }
        })
        .collect();
    out.push(Section {
        id: "survey-providers",
        title: w.providers,
        intro: w.providers_intro.into(),
        tables,
    });

    // Software census.
    let mut tables = vec![DataTable {
        id: "census-services".into(),
        title: w.census.into(),
        note: String::new(),
        headers: vec![
            w.service.into(),
            w.probed.into(),
            w.identified.into(),
            w.versioned.into(),
            w.on_advisory.into(),
        ],
        rows: s
            .census
            .iter()
            .map(|c| {
                vec![
                    c.service.to_uppercase(),
                    c.probed.to_string(),
                    format!("{} ({})", c.identified, pct(c.identified, c.probed)),
                    format!("{} ({})", c.versioned, pct(c.versioned, c.probed)),
                    c.advisory_hosts.to_string(),
                ]
            })
            .collect(),
        chart: Some(Chart::new(
            "chart-census",
            w.census,
            "",
            s.census
                .iter()
                .map(|c| {
                    (
                        format!("{} {}", c.service.to_uppercase(), w.identified),
                        c.identified,
                        "#3b7dd8",
                    )
                })
                .collect(),
        )),
    }];
    for c in s.census.iter().filter(|c| !c.versions.is_empty()) {
        tables.push(DataTable {
            id: format!("census-{}", c.service),
            title: format!("{} — {}", c.service.to_uppercase(), w.product),
            note: String::new(),
            headers: vec![
                w.product.into(),
                w.version.into(),
                w.hosts.into(),
                w.pct_identified.into(),
            ],
            rows: c
                .versions
                .iter()
                .map(|(p, v, n)| {
                    vec![
                        p.clone(),
                        v.clone().unwrap_or_else(|| w.hidden.into()),
                        n.to_string(),
                        pct(*n, c.identified),
                    ]
                })
                .collect(),
            chart: None,
        });
    }
    tables.push(DataTable {
        id: "census-advisories".into(),
        title: w.advisories.into(),
        note: String::new(),
        headers: vec![
            w.advisory.into(),
            w.software.into(),
            w.severity.into(),
            w.kev.into(),
            w.hosts.into(),
        ],
        rows: s
            .advisories
            .iter()
            .map(|a| {
                vec![
                    a.id.clone(),
                    a.software.clone(),
                    lang.severity(a.severity).to_owned(),
                    if a.known_exploited {
                        "KEV".into()
                    } else {
                        String::new()
                    },
                    a.hosts.to_string(),
                ]
            })
            .collect(),
        chart: None,
    });
    out.push(Section {
        id: "survey-census",
        title: w.census,
        intro: w.census_intro.into(),
        tables,
    });

    // Adoption.
    let a = &s.adoption;
    out.push(Section {
        id: "survey-adoption",
        title: w.adoption,
        intro: w.adoption_intro.into(),
        tables: vec![
            adoption_table(
                "adoption-spf",
                "SPF",
                &a.spf,
                SpfState::NotMeasured,
                |k| spf_label(k, lang),
                w,
            ),
            adoption_table(
                "adoption-dmarc",
                "DMARC",
                &a.dmarc,
                DmarcState::NotMeasured,
                |k| dmarc_label(k, lang),
                w,
            ),
            adoption_table(
                "adoption-mta-sts",
                "MTA-STS",
                &a.mta_sts,
                Published::NotMeasured,
                |k| published_label(k, lang),
                w,
            ),
            adoption_table(
                "adoption-tls-rpt",
                "TLS-RPT",
                &a.tls_rpt,
                Published::NotMeasured,
                |k| published_label(k, lang),
                w,
            ),
            adoption_table(
                "adoption-dane",
                "DANE",
                &a.dane,
                DaneState::NotMeasured,
                |k| dane_label(k, lang),
                w,
            ),
            adoption_table(
                "adoption-dnssec",
                "DNSSEC",
                &a.dnssec,
                DnssecState::NotMeasured,
                |k| dnssec_label(k, lang),
                w,
            ),
        ],
    });

    // DNSBL.
    out.push(Section {
        id: "survey-dnsbl",
        title: w.dnsbl,
        intro: w.dnsbl_intro.into(),
        tables: vec![DataTable {
            id: "dnsbl-rates".into(),
            title: w.dnsbl.into(),
            note: if s.dnsbl.is_empty() {
                w.no_rows.into()
            } else {
                String::new()
            },
            headers: vec![
                w.list.into(),
                w.hosts_queried.into(),
                w.hosts_listed.into(),
                w.rate.into(),
                w.domains_listed.into(),
                w.pct_surveyed.into(),
            ],
            rows: s
                .dnsbl
                .iter()
                .map(|d| {
                    vec![
                        d.list.clone(),
                        d.hosts_queried.to_string(),
                        d.hosts_listed.to_string(),
                        pct(d.hosts_listed, d.hosts_queried),
                        d.domains_listed.to_string(),
                        pct(d.domains_listed, s.surveyed),
                    ]
                })
                .collect(),
            chart: (!s.dnsbl.is_empty()).then(|| {
                Chart::new(
                    "chart-dnsbl",
                    w.dnsbl,
                    "",
                    s.dnsbl
                        .iter()
                        .map(|d| (d.list.clone(), d.hosts_listed, "#8b0000"))
                        .collect(),
                )
            }),
        }],
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Lang, ReportInput, render};

    fn survey() -> Survey {
        let mut adoption = AdoptionCounts::default();
        adoption.spf.insert(SpfState::All(QualifierKind::Pass), 3);
        adoption.spf.insert(SpfState::Missing, 5);
        adoption.spf.insert(SpfState::NotMeasured, 2);
        adoption.dmarc.insert(DmarcState::Reject, 1);
        Survey {
            surveyed: 10,
            hosts: 4,
            providers: 2,
            worst: [
                (Some(Severity::Critical), 4),
                (Some(Severity::Info), 5),
                (None, 1),
            ]
            .into(),
            hardening_domains: 9,
            checks: vec![
                CheckStat {
                    id: "smtp.open_relay".into(),
                    severity: Severity::Critical,
                    domains: 4,
                    hosts: 1,
                },
                CheckStat {
                    id: "dane.missing".into(),
                    severity: Severity::Info,
                    domains: 9,
                    hosts: 4,
                },
                CheckStat {
                    id: "caa.missing".into(),
                    severity: Severity::Info,
                    domains: 8,
                    hosts: 0,
                },
            ],
            by_provider: vec![FindingProviders {
                id: "smtp.open_relay".into(),
                severity: Severity::Critical,
                affected: 4,
                top: vec![ProviderShare {
                    provider: "AS64500 <Evil>".into(),
                    domains: 3,
                    provider_domains: 4,
                }],
            }],
            adoption,
            dnsbl: vec![DnsblStat {
                list: "zen".into(),
                hosts_queried: 4,
                hosts_listed: 1,
                domains_listed: 2,
            }],
            domains_file: Some("r-domains.csv".into()),
            ..Survey::default()
        }
    }

    #[test]
    fn survey_tables_fold_info_and_give_both_shares() {
        let input = ReportInput {
            survey: Some(survey()),
            domains_total: 10,
            hosts_total: 4,
            ..ReportInput::default()
        };
        for lang in [Lang::En, Lang::Ja] {
            let html = render(&input, lang);
            assert!(
                !html.contains("not measured in this scan") && !html.contains("調べていません")
            );
            // Info findings folded into one line, after the real ones.
            let relay = html.find("smtp.open_relay)</td>").expect("relay row");
            let hardening = html
                .find("dane.missing, caa.missing")
                .expect("one hardening line");
            assert!(relay < hardening);
            assert!(!html.contains("<td>DANE") && !html.contains("caa.missing)</td>"));
            // Provider: 3 of 4 affected (75.0%), 3 of its own 4 (75.0% (3/4)); escaped.
            assert!(
                html.contains(
                    "<td>AS64500 &#60;Evil&#62;</td><td>3</td><td>75.0%</td><td>75.0% (3/4)</td>"
                ),
                "{lang:?}"
            );
            // Adoption percentages are of the measured domains (8), not of all 10.
            assert!(html.contains("<td>3</td><td>37.5%</td>"));
            // Every chart has its numbers in a table: as many SVGs as tables with charts.
            assert!(html.matches("<svg").count() >= 5);
            assert!(html.contains("href=\"r-domains.csv\""));
        }
        assert!(render(&input, Lang::Ja).contains("自社ドメインに占める割合"));
    }
}
