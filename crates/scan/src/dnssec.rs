//! mxray's own DNSSEC validation (RFC 4035 §5), for answers the configured resolver did not
//! validate (no AD bit, a resolver off loopback, or SERVFAIL from a validating resolver).
//!
//! Every question is asked of the configured resolver with DO=1 and CD=1, so it returns the
//! records and their RRSIGs whether or not it validates; the signatures are checked here with
//! hickory-proto's primitives over ring (`DNSKEY::verify_rrsig`, `DS::covers`). The chain
//! logic is ours: starting at the trust anchor (the IANA root keys, or `--trust-anchor`), for
//! each label down to the name asked, the DS RRset must be signed by the enclosing zone's keys
//! and match a DNSKEY that signs the child's DNSKEY RRset; a DS denied by a signed NSEC/NSEC3
//! at a zone cut ends the chain as insecure. Zone states are cached per scan, so the root and
//! the TLDs are validated once.
//!
//! Not done: NSEC3 hash matching (a signed NSEC3 denial is accepted, and the cut is then
//! asked with SOA), wildcard proofs, CNAME chains in the validated answer, RSA key sizes.

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::dnssec::{PublicKey, Verifier};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use mxray_core::dnssec::{ChainProblem, DnssecStatus, ValidatedBy, Validation};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

/// How long an indeterminate state is remembered before the chain is asked again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(30);
/// At most this many zone states are cached per scan.
const CACHE: usize = 65_536;
/// At most this many evidence lines are kept per validation.
const MAX_EVIDENCE: usize = 24;
/// Names deeper than this are not validated (indeterminate).
const MAX_LABELS: u8 = 24;

/// A trust anchor: a DS or a DNSKEY at a name (usually the root).
#[derive(Clone, Debug)]
enum Anchor {
    Ds(Name, DS),
    Key(Name, DNSKEY),
}

impl Anchor {
    fn name(&self) -> &Name {
        match self {
            Self::Ds(n, _) | Self::Key(n, _) => n,
        }
    }
}

/// The keys validation starts from.
#[derive(Clone, Debug)]
pub struct TrustAnchors(Vec<Anchor>);

impl Default for TrustAnchors {
    /// The IANA root key-signing keys (KSK-2017, tag 20326, and KSK-2024, tag 38696) as
    /// hickory-proto compiles them in.
    fn default() -> Self {
        let keys = hickory_proto::dnssec::TrustAnchors::default();
        Self(
            (0..keys.len())
                .filter_map(|i| keys.get(i))
                .map(|k| Anchor::Key(Name::root(), DNSKEY::with_flags(257, k.clone())))
                .collect(),
        )
    }
}

impl TrustAnchors {
    /// DS or DNSKEY records in zone-file format, one a line (`. IN DS 20326 8 2 E06D…`,
    /// `. 3600 IN DNSKEY 257 3 8 AwEAAa…`), owner names absolute or relative to the root;
    /// `;` comments and other record types are ignored.
    pub fn parse(text: &str) -> Result<Self, String> {
        let is_key = |l: &str| {
            l.split_whitespace()
                .any(|t| t.eq_ignore_ascii_case("DNSKEY"))
        };
        let lines = text.lines().map(|l| l.split(';').next().unwrap_or(""));
        let (keys, rest): (Vec<&str>, Vec<&str>) = lines.partition(|l| is_key(l));
        let mut out = Vec::new();
        let zone = format!("$TTL 3600\n{}\n", rest.join("\n"));
        let (_, sets) = hickory_proto::serialize::txt::Parser::new(zone, None, Some(Name::root()))
            .parse()
            .map_err(|e| e.to_string())?;
        for set in sets.values() {
            for r in set.records_without_rrsigs() {
                if let RData::DNSSEC(DNSSECRData::DS(ds)) = &r.data {
                    out.push(Anchor::Ds(absolute(&r.name), ds.clone()));
                }
            }
        }
        if !keys.is_empty() {
            let entries =
                hickory_proto::serialize::txt::trust_anchor::Parser::new(keys.join("\n") + "\n")
                    .parse()
                    .map_err(|e| e.to_string())?;
            for e in entries {
                if let hickory_proto::serialize::txt::trust_anchor::Entry::DNSKEY(r) = e
                    && r.data().zone_key()
                {
                    out.push(Anchor::Key(absolute(r.name()), r.data().clone()));
                }
            }
        }
        if out.is_empty() {
            return Err("no DS or DNSKEY record".into());
        }
        Ok(Self(out))
    }

    /// How many anchors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where answers come from: the configured resolver, asked with DO=1 and CD=1 (tests: an
/// in-memory zone).
pub trait Ask: Sync {
    /// One question; the whole response (answer and authority sections with their RRSIGs).
    fn ask(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> impl Future<Output = Result<Message, crate::resolve::DnsError>> + Send;
}

/// The state of the chain after a name: inside a validated zone, or ended.
#[derive(Clone, Debug)]
enum Step {
    Secure {
        zone: Name,
        keys: Vec<DNSKEY>,
        evidence: Vec<String>,
    },
    End(Validation),
}

/// The validator: trust anchors and the per-scan cache of zone states.
#[derive(Debug)]
pub struct Validator {
    anchors: TrustAnchors,
    /// Each name's state, and until when it holds (indeterminate states: [`RETRY`]).
    cache: Mutex<HashMap<Name, (Step, Option<Instant>)>>,
}

impl Validator {
    /// A validator starting from `anchors`.
    pub fn new(anchors: TrustAnchors) -> Self {
        Self {
            anchors,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict on the chain of trust down to `name` (a zone apex, usually): secure when
    /// the chain reaches it (the last zone's DNSKEY validated), insecure at an unsigned
    /// delegation, bogus where it fails.
    pub async fn zone(&self, ask: &impl Ask, name: &Name, now: u32) -> Validation {
        match self.chain(ask, name, now).await {
            Step::Secure { zone, evidence, .. } => Validation {
                status: DnssecStatus::Secure,
                by: ValidatedBy::Mxray,
                problem: None,
                at: trim(&zone),
                evidence,
            },
            Step::End(v) => v,
        }
    }

    /// The verdict on one RRset, and the response it came in (`None` when none was had).
    pub async fn rrset(
        &self,
        ask: &impl Ask,
        name: &Name,
        rtype: RecordType,
        now: u32,
    ) -> (Validation, Option<Message>) {
        let step = self.chain(ask, name, now).await;
        let resp = ask.ask(name, rtype).await;
        let (zone, keys, mut evidence) = match step {
            Step::Secure {
                zone,
                keys,
                evidence,
            } => (zone, keys, evidence),
            Step::End(v) => return (v, resp.ok()),
        };
        let m = match resp {
            Ok(m)
                if matches!(
                    m.metadata.response_code,
                    ResponseCode::NoError | ResponseCode::NXDomain
                ) =>
            {
                m
            }
            Ok(m) => {
                evidence.push(format!(
                    "{rtype} {}: {}",
                    trim(name),
                    m.metadata.response_code
                ));
                return (no_answer(name, evidence), Some(m));
            }
            Err(e) => {
                evidence.push(format!("{rtype} {}: {e}", trim(name)));
                return (no_answer(name, evidence), None);
            }
        };
        if m.answers
            .iter()
            .any(|r| r.record_type() == RecordType::CNAME && r.name.eq_ignore_root(name))
        {
            // CNAME chains are not followed: no verdict rather than a wrong one.
            evidence.push(format!("{rtype} {}: a CNAME (not validated)", trim(name)));
            return (no_answer(name, evidence), Some(m));
        }
        let has = m
            .answers
            .iter()
            .any(|r| r.record_type() == rtype && r.name.eq_ignore_root(name));
        let checked = if has {
            verify_rrset(&m.answers, name, rtype, &zone, &keys, now)
        } else {
            verify_denial(&m, &zone, &keys, now).map(|(line, _)| line)
        };
        let v = match checked {
            Ok(line) => {
                push(&mut evidence, format!("{rtype} {}: {line}", trim(name)));
                Validation {
                    status: DnssecStatus::Secure,
                    by: ValidatedBy::Mxray,
                    problem: None,
                    at: trim(&zone),
                    evidence,
                }
            }
            Err((p, line)) => {
                push(&mut evidence, format!("{rtype} {}: {line}", trim(name)));
                end(DnssecStatus::Bogus, p, &zone, evidence)
            }
        };
        (v, Some(m))
    }

    async fn chain(&self, ask: &impl Ask, name: &Name, now: u32) -> Step {
        let mut name = name.to_lowercase();
        name.set_fqdn(true);
        if name.num_labels() > MAX_LABELS {
            return Step::End(end(
                DnssecStatus::Indeterminate,
                ChainProblem::NoAnswer,
                &name,
                vec![format!("{}: too many labels", trim(&name))],
            ));
        }
        let Some(anchor_name) = self
            .anchors
            .0
            .iter()
            .map(Anchor::name)
            .filter(|a| a.zone_of(&name))
            .max_by_key(|a| a.num_labels())
            .cloned()
        else {
            return Step::End(end(
                DnssecStatus::Indeterminate,
                ChainProblem::NoTrustAnchor,
                &name,
                vec![format!("no trust anchor for {}", trim(&name))],
            ));
        };
        let top = usize::from(anchor_name.num_labels());
        let bottom = usize::from(name.num_labels());
        let mut state = None;
        let mut next = top;
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            for d in (top..=bottom).rev() {
                if let Some((s, until)) = cache.get(&at_depth(&name, d))
                    && until.is_none_or(|t| Instant::now() < t)
                {
                    state = Some(s.clone());
                    next = d + 1;
                    break;
                }
            }
        }
        let mut state = match state {
            Some(s) => s,
            None => {
                let s = self.anchor_step(ask, &anchor_name, now).await;
                self.remember(&anchor_name, &s);
                next = top + 1;
                s
            }
        };
        for d in next..=bottom {
            let Step::Secure {
                zone,
                keys,
                evidence,
            } = state
            else {
                break;
            };
            let a = at_depth(&name, d);
            state = descend(ask, zone, keys, evidence, &a, now).await;
            self.remember(&a, &state);
        }
        state
    }

    fn remember(&self, name: &Name, s: &Step) {
        // An indeterminate state may be transient (a timeout): asked again after a while,
        // but not for every domain of a survey whose resolver has no root keys at all.
        let until = matches!(s, Step::End(v) if v.status == DnssecStatus::Indeterminate)
            .then(|| Instant::now() + RETRY);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() < CACHE || cache.contains_key(name) {
            cache.insert(name.clone(), (s.clone(), until));
        }
    }

    /// The anchor zone's DNSKEY RRset, validated against the anchors at that name.
    async fn anchor_step(&self, ask: &impl Ask, zone: &Name, now: u32) -> Step {
        let mut evidence = Vec::new();
        let keys = match dnskeys(ask, zone, &mut evidence).await {
            Ok(k) => k,
            Err(p) => return Step::End(end(DnssecStatus::Indeterminate, p, zone, evidence)),
        };
        let sep: Vec<DNSKEY> = keys
            .iter()
            .filter(|k| {
                self.anchors.0.iter().any(|a| match a {
                    Anchor::Ds(n, ds) => n == zone && ds_matches(ds, zone, k),
                    Anchor::Key(n, t) => {
                        n == zone
                            && t.public_key().public_bytes() == k.public_key().public_bytes()
                            && t.algorithm() == k.algorithm()
                    }
                })
            })
            .cloned()
            .collect();
        if sep.is_empty() {
            push(
                &mut evidence,
                format!(
                    "DNSKEY {}: no key is a trust anchor ({} anchors)",
                    trim(zone),
                    self.anchors.len()
                ),
            );
            return Step::End(end(
                DnssecStatus::Bogus,
                ChainProblem::DsMismatch,
                zone,
                evidence,
            ));
        }
        self.keyset(ask, zone, &sep, evidence, now).await
    }

    async fn keyset(
        &self,
        ask: &impl Ask,
        zone: &Name,
        sep: &[DNSKEY],
        evidence: Vec<String>,
        now: u32,
    ) -> Step {
        keyset(ask, zone, sep, evidence, now).await
    }
}

/// The DNSKEY RRset of `zone` must be signed by one of `sep`; then its zone keys are trusted.
async fn keyset(
    ask: &impl Ask,
    zone: &Name,
    sep: &[DNSKEY],
    mut evidence: Vec<String>,
    now: u32,
) -> Step {
    let m = match ask.ask(zone, RecordType::DNSKEY).await {
        Ok(m) => m,
        Err(e) => {
            push(&mut evidence, format!("DNSKEY {}: {e}", trim(zone)));
            return Step::End(no_answer(zone, evidence));
        }
    };
    let all = keys_in(&m, zone);
    match verify_rrset(&m.answers, zone, RecordType::DNSKEY, zone, sep, now) {
        Ok(line) => {
            push(
                &mut evidence,
                format!("DNSKEY {}: {}; {line}", trim(zone), describe_keys(&all)),
            );
            Step::Secure {
                zone: zone.clone(),
                keys: all
                    .into_iter()
                    .filter(|k| k.zone_key() && !k.revoke())
                    .collect(),
                evidence,
            }
        }
        Err((p, line)) => {
            push(
                &mut evidence,
                format!("DNSKEY {}: {}; {line}", trim(zone), describe_keys(&all)),
            );
            Step::End(end(DnssecStatus::Bogus, p, zone, evidence))
        }
    }
}

/// One label down from a secure zone: a signed DS and a DNSKEY matching it (secure), a
/// signed denial at a zone cut (insecure), a signed denial inside the zone (same zone).
async fn descend(
    ask: &impl Ask,
    zone: Name,
    keys: Vec<DNSKEY>,
    mut evidence: Vec<String>,
    a: &Name,
    now: u32,
) -> Step {
    let m = match ask.ask(a, RecordType::DS).await {
        Ok(m) => m,
        Err(e) => {
            push(&mut evidence, format!("DS {}: {e}", trim(a)));
            return Step::End(no_answer(a, evidence));
        }
    };
    if !matches!(
        m.metadata.response_code,
        ResponseCode::NoError | ResponseCode::NXDomain
    ) {
        push(
            &mut evidence,
            format!("DS {}: {}", trim(a), m.metadata.response_code),
        );
        return Step::End(no_answer(a, evidence));
    }
    let ds: Vec<DS> = m
        .answers
        .iter()
        .filter(|r| r.name.eq_ignore_root(a))
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(d)) => Some(d.clone()),
            _ => None,
        })
        .collect();
    if !ds.is_empty() {
        let shown = ds.iter().map(describe_ds).collect::<Vec<_>>().join(", ");
        if let Err((p, line)) = verify_rrset(&m.answers, a, RecordType::DS, &zone, &keys, now) {
            push(
                &mut evidence,
                format!("DS {} in {}: {shown}; {line}", trim(a), trim(&zone)),
            );
            return Step::End(end(DnssecStatus::Bogus, p, a, evidence));
        }
        push(
            &mut evidence,
            format!(
                "DS {} in {}: {shown}; signature verified",
                trim(a),
                trim(&zone)
            ),
        );
        let usable: Vec<&DS> = ds
            .iter()
            .filter(|d| d.algorithm().is_supported() && d.digest_type().is_supported())
            .collect();
        if usable.is_empty() {
            return Step::End(end(
                DnssecStatus::Insecure,
                ChainProblem::UnsupportedAlgorithm,
                a,
                evidence,
            ));
        }
        let all = match dnskeys(ask, a, &mut evidence).await {
            Ok(k) => k,
            Err(ChainProblem::NoDnskey) => {
                return Step::End(end(
                    DnssecStatus::Bogus,
                    ChainProblem::NoDnskey,
                    a,
                    evidence,
                ));
            }
            Err(p) => return Step::End(end(DnssecStatus::Indeterminate, p, a, evidence)),
        };
        let sep: Vec<DNSKEY> = all
            .iter()
            .filter(|k| usable.iter().any(|d| ds_matches(d, a, k)))
            .cloned()
            .collect();
        if sep.is_empty() {
            push(
                &mut evidence,
                format!(
                    "DNSKEY {}: {}; none matches a DS",
                    trim(a),
                    describe_keys(&all)
                ),
            );
            return Step::End(end(
                DnssecStatus::Bogus,
                ChainProblem::DsMismatch,
                a,
                evidence,
            ));
        }
        return keyset(ask, a, &sep, evidence, now).await;
    }
    // No DS: the denial must be signed by the enclosing zone.
    let (line, cut) = match verify_denial(&m, &zone, &keys, now) {
        Ok(x) => x,
        Err((p, line)) => {
            push(
                &mut evidence,
                format!("DS {} in {}: none; {line}", trim(a), trim(&zone)),
            );
            return Step::End(end(DnssecStatus::Bogus, p, a, evidence));
        }
    };
    if m.metadata.response_code == ResponseCode::NXDomain {
        // The name does not exist; neither does anything below it: the zone stays.
        return Step::Secure {
            zone,
            keys,
            evidence,
        };
    }
    let cut = match cut {
        Some(c) => c,
        None => match ask.ask(a, RecordType::SOA).await {
            Ok(s) => s
                .answers
                .iter()
                .any(|r| r.record_type() == RecordType::SOA && r.name.eq_ignore_root(a)),
            Err(e) => {
                push(&mut evidence, format!("SOA {}: {e}", trim(a)));
                return Step::End(no_answer(a, evidence));
            }
        },
    };
    if cut {
        push(
            &mut evidence,
            format!(
                "DS {} in {}: none at this delegation; {line}",
                trim(a),
                trim(&zone)
            ),
        );
        return Step::End(end(DnssecStatus::Insecure, ChainProblem::NoDs, a, evidence));
    }
    Step::Secure {
        zone,
        keys,
        evidence,
    }
}

/// The DNSKEY records at `zone` (not yet validated).
async fn dnskeys(
    ask: &impl Ask,
    zone: &Name,
    evidence: &mut Vec<String>,
) -> Result<Vec<DNSKEY>, ChainProblem> {
    match ask.ask(zone, RecordType::DNSKEY).await {
        Ok(m) if m.metadata.response_code == ResponseCode::NoError => {
            let k = keys_in(&m, zone);
            if k.is_empty() {
                push(evidence, format!("DNSKEY {}: none", trim(zone)));
                Err(ChainProblem::NoDnskey)
            } else {
                Ok(k)
            }
        }
        Ok(m) => {
            push(
                evidence,
                format!("DNSKEY {}: {}", trim(zone), m.metadata.response_code),
            );
            Err(if m.metadata.response_code == ResponseCode::NXDomain {
                ChainProblem::NoDnskey
            } else {
                ChainProblem::NoAnswer
            })
        }
        Err(e) => {
            push(evidence, format!("DNSKEY {}: {e}", trim(zone)));
            Err(ChainProblem::NoAnswer)
        }
    }
}

fn keys_in(m: &Message, zone: &Name) -> Vec<DNSKEY> {
    m.answers
        .iter()
        .filter(|r| r.name.eq_ignore_root(zone))
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn ds_matches(ds: &DS, name: &Name, key: &DNSKEY) -> bool {
    ds.algorithm() == key.algorithm()
        && key.calculate_key_tag().ok() == Some(ds.key_tag())
        && ds.covers(name, key).unwrap_or(false)
}

/// The RRset `(owner, rtype)` in `records` must carry an RRSIG by `signer` that verifies
/// with one of `keys` and is valid at `now`. Ok: an evidence phrase; Err: the problem.
fn verify_rrset(
    records: &[Record],
    owner: &Name,
    rtype: RecordType,
    signer: &Name,
    keys: &[DNSKEY],
    now: u32,
) -> Result<String, (ChainProblem, String)> {
    let rrset: Vec<&Record> = records
        .iter()
        .filter(|r| r.record_type() == rtype && r.name.eq_ignore_root(owner))
        .collect();
    let sigs: Vec<&RRSIG> = records
        .iter()
        .filter(|r| r.name.eq_ignore_root(owner))
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(s)) if s.input().type_covered == rtype => Some(s),
            _ => None,
        })
        .collect();
    if sigs.is_empty() {
        return Err((ChainProblem::MissingSignature, "no RRSIG".into()));
    }
    let mut problem = ChainProblem::MissingSignature;
    let mut said = format!("no RRSIG by {}", trim(signer));
    for sig in sigs {
        let input = sig.input();
        if !input.signer_name.eq_ignore_root(signer) {
            continue;
        }
        let (inception, expiration) = (input.sig_inception.get(), input.sig_expiration.get());
        let period = format!(
            "RRSIG by {} key {} valid {} to {}",
            trim(signer),
            input.key_tag,
            mxray_core::date::unix_datetime(i64::from(inception)),
            mxray_core::date::unix_datetime(i64::from(expiration))
        );
        // RFC 4034 §3.1.5: serial-number arithmetic; these are within 68 years of now.
        if (now.wrapping_sub(expiration) as i32) > 0 {
            if problem != ChainProblem::BadSignature {
                problem = ChainProblem::SignatureExpired;
                said = format!("{period}: expired");
            }
            continue;
        }
        if (inception.wrapping_sub(now) as i32) > 0 {
            if problem != ChainProblem::BadSignature {
                problem = ChainProblem::SignatureNotYetValid;
                said = format!("{period}: not valid yet");
            }
            continue;
        }
        for key in keys.iter().filter(|k| {
            k.algorithm() == input.algorithm && k.calculate_key_tag().ok() == Some(input.key_tag)
        }) {
            if key
                .verify_rrsig(owner, DNSClass::IN, sig, rrset.iter().copied())
                .is_ok()
            {
                return Ok(format!("{period}: verified"));
            }
            problem = ChainProblem::BadSignature;
            said = format!("{period}: signature does not verify");
        }
        if problem == ChainProblem::MissingSignature {
            said = format!("{period}: no such key in {}", trim(signer));
        }
    }
    Err((problem, said))
}

/// A denial (NODATA or NXDOMAIN) must come with NSEC or NSEC3 records signed by the zone.
/// Ok: an evidence phrase and, when an NSEC at the name itself says so, whether the name is
/// a zone cut (NS without SOA); `None` when it cannot tell.
fn verify_denial(
    m: &Message,
    zone: &Name,
    keys: &[DNSKEY],
    now: u32,
) -> Result<(String, Option<bool>), (ChainProblem, String)> {
    let asked = m.queries.first().map(|q| q.name().clone());
    let mut sets: Vec<(Name, RecordType)> = Vec::new();
    let mut cut = None;
    let mut nsec_only = true;
    for r in &m.authorities {
        let t = r.record_type();
        match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(n)) => {
                if asked.as_ref().is_some_and(|q| q.eq_ignore_root(&r.name)) {
                    let types = n.type_set();
                    cut = Some(types.contains(RecordType::NS) && !types.contains(RecordType::SOA));
                }
            }
            RData::DNSSEC(DNSSECRData::NSEC3(_)) => nsec_only = false,
            _ => continue,
        }
        if !sets
            .iter()
            .any(|(n, ty)| n.eq_ignore_root(&r.name) && *ty == t)
        {
            sets.push((r.name.clone(), t));
        }
    }
    if sets.is_empty() {
        return Err((
            ChainProblem::UnprovenDenial,
            format!("no NSEC/NSEC3 from {}", trim(zone)),
        ));
    }
    for (owner, t) in &sets {
        if let Err((p, line)) = verify_rrset(&m.authorities, owner, *t, zone, keys, now) {
            let p = if p == ChainProblem::MissingSignature {
                ChainProblem::UnprovenDenial
            } else {
                p
            };
            return Err((p, format!("{t} {}: {line}", trim(owner))));
        }
    }
    if cut.is_none() && nsec_only {
        // Only covering NSECs: the name owns no records (an empty non-terminal), no cut.
        cut = Some(false);
    }
    Ok((
        format!(
            "denial by {} {} signed by {}",
            sets.len(),
            if nsec_only { "NSEC" } else { "NSEC3" },
            trim(zone)
        ),
        cut,
    ))
}

fn absolute(name: &Name) -> Name {
    let mut n = name.to_lowercase();
    n.set_fqdn(true);
    n
}

fn at_depth(name: &Name, labels: usize) -> Name {
    let mut n = name.trim_to(labels);
    n.set_fqdn(true);
    n
}

fn end(
    status: DnssecStatus,
    problem: ChainProblem,
    at: &Name,
    evidence: Vec<String>,
) -> Validation {
    Validation {
        status,
        by: ValidatedBy::Mxray,
        problem: Some(problem),
        at: trim(at),
        evidence,
    }
}

/// No conclusion at `at`: a question about it went unanswered (or answered with a CNAME).
fn no_answer(at: &Name, evidence: Vec<String>) -> Validation {
    end(
        DnssecStatus::Indeterminate,
        ChainProblem::NoAnswer,
        at,
        evidence,
    )
}

fn push(evidence: &mut Vec<String>, line: String) {
    if evidence.len() < MAX_EVIDENCE {
        evidence.push(line);
    }
}

fn trim(n: &Name) -> String {
    if n.is_root() {
        return ".".into();
    }
    let s = n.to_ascii().to_ascii_lowercase();
    s.strip_suffix('.').unwrap_or(&s).to_owned()
}

fn describe_ds(d: &DS) -> String {
    let hex: String = d
        .digest()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{} {} {} {hex}…",
        d.key_tag(),
        u8::from(d.algorithm()),
        u8::from(d.digest_type())
    )
}

fn describe_keys(keys: &[DNSKEY]) -> String {
    keys.iter()
        .take(6)
        .map(|k| {
            format!(
                "{} tag {} alg {}",
                k.flags(),
                k.calculate_key_tag().unwrap_or(0),
                u8::from(k.algorithm())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds since 1970 as DNSSEC's 32-bit time (RFC 4034 §3.1.5).
pub fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

#[cfg(test)]
mod tests {
    //! A tiny signed tree built in memory with ring (through hickory's signing key): a root,
    //! child zones with a matching DS, a DS of another key, no DS, expired signatures, a
    //! tampered signature, records without signatures, and an unsigned denial.
    use super::*;
    use hickory_proto::dnssec::crypto::EcdsaSigningKey;
    use hickory_proto::dnssec::rdata::{NSEC, SigInput};
    use hickory_proto::dnssec::{Algorithm, DigestType, SigningKey, TBS};
    use hickory_proto::op::Query;
    use hickory_proto::rr::SerialNumber;
    use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
    use hickory_proto::rr::rdata::{A, TLSA};
    use std::str::FromStr;

    const NOW: u32 = 1_800_000_000;

    struct Key {
        signer: EcdsaSigningKey,
        dnskey: DNSKEY,
    }

    fn key() -> Key {
        let pkcs8 = EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256).expect("gen");
        let signer = EcdsaSigningKey::from_pkcs8(&pkcs8, Algorithm::ECDSAP256SHA256).expect("key");
        let dnskey = DNSKEY::from_key(&signer.to_public_key().expect("public"));
        Key { signer, dnskey }
    }

    fn n(s: &str) -> Name {
        Name::from_str(s).expect("name")
    }

    fn rec(owner: &str, data: RData) -> Record {
        Record::from_rdata(n(owner), 60, data)
    }

    /// An RRSIG over `records` (one RRset) by `zone`'s `k`, valid from `from` to `until`.
    fn sign(records: &[Record], zone: &str, k: &Key, from: u32, until: u32) -> Record {
        let first = &records[0];
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: Algorithm::ECDSAP256SHA256,
            num_labels: first.name.num_labels(),
            original_ttl: 60,
            sig_expiration: SerialNumber::new(until),
            sig_inception: SerialNumber::new(from),
            key_tag: k.dnskey.calculate_key_tag().expect("tag"),
            signer_name: n(zone),
        };
        let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, records.iter()).expect("tbs");
        let sig = k.signer.sign(&tbs).expect("sign");
        Record::from_rdata(
            first.name.clone(),
            60,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        )
    }

    fn signed(records: Vec<Record>, zone: &str, k: &Key) -> Vec<Record> {
        let sig = sign(&records, zone, k, NOW - 3600, NOW + 86_400);
        records.into_iter().chain([sig]).collect()
    }

    fn dnskey_rec(zone: &str, k: &Key) -> Record {
        rec(zone, RData::DNSSEC(DNSSECRData::DNSKEY(k.dnskey.clone())))
    }

    fn ds_rec(zone: &str, k: &Key) -> Record {
        let ds = DS::from_key(
            &k.signer.to_public_key().expect("pk"),
            &n(zone),
            DigestType::SHA256,
        )
        .expect("ds");
        rec(zone, RData::DNSSEC(DNSSECRData::DS(ds)))
    }

    fn nsec(owner: &str, next: &str, types: Vec<RecordType>) -> Record {
        rec(
            owner,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(n(next), types))),
        )
    }

    fn tlsa(owner: &str) -> Record {
        rec(
            owner,
            RData::TLSA(TLSA::new(
                CertUsage::DaneEe,
                Selector::Spki,
                Matching::Sha256,
                vec![0xd0; 32],
            )),
        )
    }

    /// A response code, the answer section and the authority section.
    type Canned = (ResponseCode, Vec<Record>, Vec<Record>);

    /// Canned responses by (name, type); anything else is NXDOMAIN without proof.
    #[derive(Default)]
    struct Mem {
        answers: HashMap<(Name, RecordType), Canned>,
        asked: Mutex<Vec<(Name, RecordType)>>,
    }

    impl Mem {
        fn data(&mut self, name: &str, t: RecordType, answer: Vec<Record>) {
            self.answers
                .insert((n(name), t), (ResponseCode::NoError, answer, vec![]));
        }
        fn nodata(&mut self, name: &str, t: RecordType, authority: Vec<Record>) {
            self.answers
                .insert((n(name), t), (ResponseCode::NoError, vec![], authority));
        }
    }

    impl Ask for Mem {
        async fn ask(
            &self,
            name: &Name,
            rtype: RecordType,
        ) -> Result<Message, crate::resolve::DnsError> {
            self.asked.lock().expect("lock").push((name.clone(), rtype));
            let mut m = Message::query();
            m.add_query(Query::query(name.clone(), rtype));
            match self.answers.get(&(name.to_lowercase(), rtype)) {
                Some((code, ans, auth)) => {
                    m.metadata.response_code = *code;
                    m.answers = ans.clone();
                    m.authorities = auth.clone();
                }
                None => m.metadata.response_code = ResponseCode::NXDomain,
            }
            Ok(m)
        }
    }

    struct Tree {
        mem: Mem,
        root: Key,
    }

    /// The root signs DS records for its children; each child is given as (name, key in
    /// the zone, key the root's DS names, how the zone signs its DNSKEY RRset).
    fn tree() -> Tree {
        let root = key();
        let mut mem = Mem::default();
        mem.data(
            ".",
            RecordType::DNSKEY,
            signed(vec![dnskey_rec(".", &root)], ".", &root),
        );
        // test. is an empty non-terminal of the root zone: a covering NSEC.
        mem.nodata(
            "test.",
            RecordType::DS,
            signed(
                vec![nsec(".", "a.test.", vec![RecordType::NS, RecordType::SOA])],
                ".",
                &root,
            ),
        );
        let child =
            |mem: &mut Mem, zone: &str, k: &Key, ds_of: &Key, dnskey_sig: Option<(u32, u32)>| {
                mem.data(
                    zone,
                    RecordType::DS,
                    signed(vec![ds_rec(zone, ds_of)], ".", &root),
                );
                let keys = vec![dnskey_rec(zone, k)];
                let keys = match dnskey_sig {
                    Some((from, until)) => {
                        let sig = sign(&keys, zone, k, from, until);
                        keys.into_iter().chain([sig]).collect()
                    }
                    None => keys,
                };
                mem.data(zone, RecordType::DNSKEY, keys);
            };
        let good = (NOW - 3600, NOW + 86_400);
        // signed.test: all good; a TLSA two labels down (empty non-terminal _tcp).
        let s = key();
        child(&mut mem, "signed.test.", &s, &s, Some(good));
        let mx = "mx.signed.test.";
        mem.nodata(
            mx,
            RecordType::DS,
            signed(
                vec![nsec(mx, "z.signed.test.", vec![RecordType::A])],
                "signed.test.",
                &s,
            ),
        );
        mem.nodata(
            "_tcp.mx.signed.test.",
            RecordType::DS,
            signed(
                vec![nsec(mx, "z.signed.test.", vec![RecordType::A])],
                "signed.test.",
                &s,
            ),
        );
        let t = "_25._tcp.mx.signed.test.";
        mem.nodata(
            t,
            RecordType::DS,
            signed(
                vec![nsec(t, mx, vec![RecordType::TLSA])],
                "signed.test.",
                &s,
            ),
        );
        mem.data(
            t,
            RecordType::TLSA,
            signed(vec![tlsa(t)], "signed.test.", &s),
        );
        mem.data(
            mx,
            RecordType::A,
            signed(
                vec![rec(mx, RData::A(A::new(127, 0, 0, 1)))],
                "signed.test.",
                &s,
            ),
        );
        // tampered.test: the TLSA's signature is altered.
        let tk = key();
        child(&mut mem, "tampered.test.", &tk, &tk, Some(good));
        let tt = "tampered.test.";
        let mut recs = signed(vec![tlsa(tt)], tt, &tk);
        if let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &recs[1].data {
            let mut bytes = sig.sig().to_vec();
            bytes[10] ^= 0x55;
            recs[1].data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                sig.input().clone(),
                bytes,
            )));
        }
        mem.data(tt, RecordType::TLSA, recs);
        // broken.test: the root's DS is of another key.
        let (b, decoy) = (key(), key());
        child(&mut mem, "broken.test.", &b, &decoy, Some(good));
        // expired.test and early.test: signatures out of their validity period.
        let e = key();
        child(
            &mut mem,
            "expired.test.",
            &e,
            &e,
            Some((NOW - 90_000, NOW - 3600)),
        );
        let y = key();
        child(
            &mut mem,
            "early.test.",
            &y,
            &y,
            Some((NOW + 3600, NOW + 90_000)),
        );
        // stripped.test: DS at the root, but the DNSKEY RRset comes without a signature.
        let st = key();
        child(&mut mem, "stripped.test.", &st, &st, None);
        // unsigned.test: the root's signed NSEC at the delegation has NS, no DS.
        mem.nodata(
            "unsigned.test.",
            RecordType::DS,
            signed(
                vec![nsec("unsigned.test.", "z.test.", vec![RecordType::NS])],
                ".",
                &root,
            ),
        );
        // forged.test: "no DS" without any proof.
        mem.nodata("forged.test.", RecordType::DS, vec![]);
        Tree { mem, root }
    }

    fn anchors(root: &Key) -> TrustAnchors {
        let ds = DS::from_key(
            &root.signer.to_public_key().expect("pk"),
            &Name::root(),
            DigestType::SHA256,
        )
        .expect("ds");
        TrustAnchors(vec![Anchor::Ds(Name::root(), ds)])
    }

    async fn zone(t: &Tree, name: &str) -> Validation {
        Validator::new(anchors(&t.root))
            .zone(&t.mem, &n(name), NOW)
            .await
    }

    #[tokio::test]
    async fn chain_verdicts() {
        let t = tree();
        use ChainProblem::*;
        use DnssecStatus::*;
        for (name, status, problem, at) in [
            ("signed.test.", Secure, None, "signed.test"),
            ("broken.test.", Bogus, Some(DsMismatch), "broken.test"),
            (
                "expired.test.",
                Bogus,
                Some(SignatureExpired),
                "expired.test",
            ),
            (
                "early.test.",
                Bogus,
                Some(SignatureNotYetValid),
                "early.test",
            ),
            (
                "stripped.test.",
                Bogus,
                Some(MissingSignature),
                "stripped.test",
            ),
            ("unsigned.test.", Insecure, Some(NoDs), "unsigned.test"),
            ("forged.test.", Bogus, Some(UnprovenDenial), "forged.test"),
        ] {
            let v = zone(&t, name).await;
            assert_eq!(
                (v.status, v.problem, v.at.as_str()),
                (status, problem, at),
                "{name}: {:#?}",
                v.evidence
            );
            assert_eq!(v.by, ValidatedBy::Mxray);
            assert!(!v.evidence.is_empty(), "{name}: evidence recorded");
        }
        // The secure chain's evidence names each signature checked.
        let v = zone(&t, "signed.test.").await;
        assert!(
            v.evidence
                .iter()
                .any(|e| e.starts_with("DS signed.test in .:") && e.contains("verified")),
            "{:#?}",
            v.evidence
        );
        assert!(
            v.evidence
                .iter()
                .any(|e| e.starts_with("DNSKEY signed.test:") && e.contains("verified")),
            "{:#?}",
            v.evidence
        );
    }

    #[tokio::test]
    async fn anchors_decide() {
        let t = tree();
        // Another root key: nothing under it is secure.
        let v = Validator::new(anchors(&key()))
            .zone(&t.mem, &n("signed.test."), NOW)
            .await;
        assert_eq!(
            (v.status, v.problem),
            (DnssecStatus::Bogus, Some(ChainProblem::DsMismatch))
        );
        // An anchor elsewhere: no verdict for names outside it.
        let other = TrustAnchors(vec![Anchor::Key(n("example."), key().dnskey)]);
        let v = Validator::new(other)
            .zone(&t.mem, &n("signed.test."), NOW)
            .await;
        assert_eq!(
            (v.status, v.problem),
            (
                DnssecStatus::Indeterminate,
                Some(ChainProblem::NoTrustAnchor)
            )
        );
        // The root key itself as a DNSKEY anchor works like its DS.
        let by_key = TrustAnchors(vec![Anchor::Key(Name::root(), t.root.dnskey.clone())]);
        let v = Validator::new(by_key)
            .zone(&t.mem, &n("signed.test."), NOW)
            .await;
        assert_eq!(v.status, DnssecStatus::Secure);
        // The compiled-in IANA keys do not sign this test root.
        let v = Validator::new(TrustAnchors::default())
            .zone(&t.mem, &n("signed.test."), NOW)
            .await;
        assert_eq!(v.status, DnssecStatus::Bogus);
        assert!(TrustAnchors::default().len() >= 2);
    }

    #[tokio::test]
    async fn rrsets_and_the_cache() {
        let t = tree();
        let val = Validator::new(anchors(&t.root));
        let (v, m) = val
            .rrset(
                &t.mem,
                &n("_25._tcp.mx.signed.test."),
                RecordType::TLSA,
                NOW,
            )
            .await;
        assert_eq!(v.status, DnssecStatus::Secure, "{:#?}", v.evidence);
        assert!(m.is_some_and(|m| {
            m.answers
                .iter()
                .any(|r| r.record_type() == RecordType::TLSA)
        }));
        let (v, _) = val
            .rrset(&t.mem, &n("tampered.test."), RecordType::TLSA, NOW)
            .await;
        assert_eq!(
            (v.status, v.problem),
            (DnssecStatus::Bogus, Some(ChainProblem::BadSignature)),
            "{:#?}",
            v.evidence
        );
        // The same zone again: the chain comes from the cache, only the RRset is asked.
        let before = t.mem.asked.lock().expect("lock").len();
        let (v, _) = val
            .rrset(&t.mem, &n("mx.signed.test."), RecordType::A, NOW)
            .await;
        assert_eq!(v.status, DnssecStatus::Secure, "{:#?}", v.evidence);
        let asked: Vec<_> = t.mem.asked.lock().expect("lock")[before..].to_vec();
        assert_eq!(asked, vec![(n("mx.signed.test."), RecordType::A)]);
        // No keys at the anchor: indeterminate, and not asked again for every name.
        let lost = Mem::default();
        let fresh = Validator::new(anchors(&t.root));
        let v = fresh.zone(&lost, &n("a.example."), NOW).await;
        assert_eq!(
            (v.status, v.problem),
            (DnssecStatus::Indeterminate, Some(ChainProblem::NoDnskey))
        );
        let v = fresh.zone(&lost, &n("b.example."), NOW).await;
        assert_eq!(v.status, DnssecStatus::Indeterminate);
        let root_asked = lost
            .asked
            .lock()
            .expect("lock")
            .iter()
            .filter(|q| q.0.is_root())
            .count();
        assert_eq!(
            root_asked, 1,
            "the anchor's failure is remembered for a while"
        );
        // Under an insecure delegation every RRset is insecure, whatever it carries.
        let (v, _) = val
            .rrset(&t.mem, &n("mx.unsigned.test."), RecordType::TLSA, NOW)
            .await;
        assert_eq!(v.status, DnssecStatus::Insecure);
    }

    #[test]
    fn trust_anchor_files() {
        let a = TrustAnchors::parse(
            ". IN DS 38650 13 2 DB0BEEC74FBAF331036D885FC8FBD33AE8151B8A12874ABD9127A71E0D520701\n; a comment\n",
        )
        .expect("DS anchor");
        assert_eq!(a.len(), 1);
        let k = TrustAnchors::parse(
            ". 3600 IN DNSKEY 257 3 13 M9Tj06sLdD2fsZ+fG65C88opuYCigHcNzn6fz6Iwq5ddMF/DSfk/ZjrU k7oKZ1jtgrGipfmVet5nTZ5GZeznNg==",
        )
        .expect("DNSKEY anchor");
        assert_eq!(k.len(), 1);
        assert!(TrustAnchors::parse("example. IN A 192.0.2.1").is_err());
        assert!(TrustAnchors::parse("not a zone file ((").is_err());
    }
}
