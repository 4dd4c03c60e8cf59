//! The DNS-server probe: raw hickory-proto messages over UDP (and TCP for AXFR), not the
//! resolver, which always asks class IN, caches, retries and hides the header bits.
//!
//! Per server (once per IP): `version.bind. CH TXT`, `hostname.bind. CH TXT`, and one
//! recursive `A` query (RD=1) for a name outside the server's zones (`--recursion-name`).
//! Per domain (from discovery): `<domain> SOA` with RD=0 (authoritative answer or lame
//! delegation) and one `AXFR` over TCP (records counted, a sample kept, capped).
//! Every exchange is bounded: one UDP datagram each way of at most 4 KiB, the step timeout,
//! the deadline; truncated (TC) and malformed answers are recorded as "no answer", never
//! retried over TCP. AXFR stops at [`MAX_AXFR_RECORDS`] records or [`MAX_AXFR_BYTES`].
//! Statuses: `success` (some answer came back), `io-timeout`/`deadline` (nothing did).

use crate::net::{self, Limits, LineConn, Policy};
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use mxray_core::model::{
    AuthoritySection, AxfrOutcome, ChaosAnswer, DnsResponse, DnsServerObservation, NsCheck,
    OwnZoneAnswer, ProbeStatus, Rcode, RecursionTest, ReferralDirection, ZoneTransfer,
};
use std::net::SocketAddr;
use tokio::time::Instant;

/// Records counted in one AXFR before stopping.
pub const MAX_AXFR_RECORDS: usize = 10_000;
/// Bytes read in one AXFR before stopping.
pub const MAX_AXFR_BYTES: usize = 4 * 1024 * 1024;
/// Records kept as evidence.
const SAMPLE: usize = 8;

/// Why a query got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// The policy refused the address.
    Blocked,
    /// No (valid) answer in time.
    Timeout,
    /// The deadline passed.
    Deadline,
    /// Only malformed packets came back.
    Malformed(String),
    /// The answer had the TC bit set.
    Truncated,
    /// Local socket error.
    Io(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Blocked => f.write_str("address not allowed by policy"),
            Self::Timeout => f.write_str("timeout"),
            Self::Deadline => f.write_str("host deadline reached"),
            Self::Malformed(e) => write!(f, "malformed answer ({e})"),
            Self::Truncated => f.write_str("truncated answer (TC)"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// One UDP question to `server`, one answer back (or an error). No retries.
// The question's parts and the bounds are all needed; a struct for one call site adds nothing.
#[allow(clippy::too_many_arguments)]
pub async fn udp_query(
    policy: &Policy,
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    class: DNSClass,
    recursion_desired: bool,
    limits: &Limits,
    deadline: Instant,
) -> Result<Message, QueryError> {
    if policy.admit(server.ip()).is_err() {
        return Err(QueryError::Blocked);
    }
    let mut q = Message::query();
    q.metadata.id = rand_id(name);
    q.metadata.message_type = MessageType::Query;
    q.metadata.recursion_desired = recursion_desired;
    let mut query = Query::query(name.clone(), rtype);
    query.set_query_class(class);
    q.add_query(query);
    let bytes = q.to_vec().map_err(|e| QueryError::Io(e.to_string()))?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| QueryError::Io(e.to_string()))?;
    sock.send_to(&bytes, server)
        .await
        .map_err(|e| QueryError::Io(e.to_string()))?;
    let step = Instant::now() + limits.step_timeout;
    let by = step.min(deadline);
    let mut buf = vec![0u8; 4096];
    let mut last = QueryError::Timeout;
    // At most 16 datagrams are looked at: a flood of junk cannot keep us here.
    for _ in 0..16 {
        let Ok(r) = tokio::time::timeout_at(by, sock.recv_from(&mut buf)).await else {
            return Err(if by == deadline && step > deadline {
                QueryError::Deadline
            } else {
                last
            });
        };
        let (n, from) = r.map_err(|e| QueryError::Io(e.to_string()))?;
        if from != server {
            continue;
        }
        match Message::from_vec(&buf[..n]) {
            Ok(m)
                if m.metadata.id == q.metadata.id
                    && m.metadata.message_type == MessageType::Response =>
            {
                if m.metadata.truncation {
                    return Err(QueryError::Truncated);
                }
                return Ok(m);
            }
            Ok(_) => last = QueryError::Malformed("wrong id or not a response".into()),
            Err(e) => last = QueryError::Malformed(e.to_string()),
        }
    }
    Err(last)
}

/// The mnemonic of a response code as written in RFC 1035 and dig output (`NOERROR`, …).
pub fn rcode_name(rc: hickory_proto::op::ResponseCode) -> String {
    use hickory_proto::op::ResponseCode as R;
    match rc {
        R::NoError => "NOERROR".into(),
        R::FormErr => "FORMERR".into(),
        R::ServFail => "SERVFAIL".into(),
        R::NXDomain => "NXDOMAIN".into(),
        R::NotImp => "NOTIMP".into(),
        R::Refused => "REFUSED".into(),
        R::NotAuth => "NOTAUTH".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// The typed response code.
pub fn rcode(rc: hickory_proto::op::ResponseCode) -> Rcode {
    use hickory_proto::op::ResponseCode as R;
    match rc {
        R::NoError => Rcode::NoError,
        R::FormErr => Rcode::FormErr,
        R::ServFail => Rcode::ServFail,
        R::NXDomain => Rcode::NxDomain,
        R::NotImp => Rcode::NotImp,
        R::Refused => Rcode::Refused,
        other => Rcode::Other(u16::from(other)),
    }
}

/// Code, header bits and sections of an answer to a question about `asked`.
pub fn summarize(m: &Message, asked: &Name) -> DnsResponse {
    let auth = &m.authorities;
    let soa = auth.iter().find(|r| r.record_type() == RecordType::SOA);
    let ns = auth.iter().find(|r| r.record_type() == RecordType::NS);
    let authority = match (soa, ns) {
        _ if auth.is_empty() => AuthoritySection::Empty,
        (Some(r), _) => AuthoritySection::Soa {
            zone: r.name.to_ascii(),
        },
        (None, Some(r)) => {
            let zone = &r.name;
            let direction = if zone.is_root() {
                ReferralDirection::Upward
            } else if zone.zone_of(asked) {
                ReferralDirection::Downward
            } else {
                ReferralDirection::Sideways
            };
            AuthoritySection::Referral {
                zone: zone.to_ascii(),
                direction,
            }
        }
        (None, None) => {
            let mut types: Vec<String> = auth.iter().map(|r| r.record_type().to_string()).collect();
            types.dedup();
            AuthoritySection::Other { types }
        }
    };
    DnsResponse {
        rcode: rcode(m.metadata.response_code),
        aa: m.metadata.authoritative,
        ra: m.metadata.recursion_available,
        rd: m.metadata.recursion_desired,
        answers: m.answers.len(),
        authority,
        authority_text: auth.iter().take(4).map(|r| r.to_string()).collect(),
    }
}

/// A query id that differs per name and call (not security-relevant: we only want the
/// answer to our own question).
fn rand_id(name: &Name) -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(name.to_ascii().as_bytes());
    h.finish() as u16
}

/// The TXT text of an answer (a CHAOS `version.bind` / `hostname.bind` reply): each record's
/// strings joined, at most four records. Sans-I/O, fuzzed (`fuzz/fuzz_targets/dns_answer.rs`).
pub fn txt_answer(m: &Message) -> Option<String> {
    let parts: Vec<String> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect::<Vec<_>>()
                    .join(""),
            ),
            _ => None,
        })
        .take(4)
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

async fn chaos(
    policy: &Policy,
    server: SocketAddr,
    what: &str,
    limits: &Limits,
    deadline: Instant,
) -> ChaosAnswer {
    // Invariant: `what` is one of the fixed CHAOS names (`version.bind`, `hostname.bind`).
    let name = Name::from_ascii(what).expect("static name");
    match udp_query(
        policy,
        server,
        &name,
        RecordType::TXT,
        DNSClass::CH,
        false,
        limits,
        deadline,
    )
    .await
    {
        Ok(m) => match txt_answer(&m) {
            Some(t) => ChaosAnswer::Text(t),
            None => ChaosAnswer::Refused(rcode_name(m.metadata.response_code)),
        },
        Err(e) => ChaosAnswer::NoAnswer(e.to_string()),
    }
}

/// What the DNS-server probe asks beyond the per-server questions.
#[derive(Clone, Debug, Default)]
pub struct ServerZones {
    /// Zones that led to this server (domains listing it as NS), in the order seen: the first
    /// is asked for its SOA (authoritative?), the first `axfr_cap` get an AXFR.
    pub zones: Vec<String>,
    /// At most this many AXFR attempts (`None`: every zone in `zones`).
    pub axfr_cap: Option<u32>,
    /// Zones that led here beyond the ones listed (not tried).
    pub untried: u32,
}

/// Probes the DNS server at `server`: CHAOS disclosure, open recursion, whether it is
/// authoritative for a zone that led to it, and AXFR of up to `axfr_cap` of those zones (one
/// TCP connection at a time, through the policy's pacing).
pub async fn probe_server(
    policy: &Policy,
    server: SocketAddr,
    recursion_name: &str,
    zones: &ServerZones,
    limits: &Limits,
    deadline: Instant,
) -> DnsServerObservation {
    let version_bind = chaos(policy, server, "version.bind.", limits, deadline).await;
    let hostname_bind = chaos(policy, server, "hostname.bind.", limits, deadline).await;
    let recursion = match Name::from_ascii(recursion_name) {
        Ok(mut name) => {
            name.set_fqdn(true);
            let r = udp_query(
                policy,
                server,
                &name,
                RecordType::A,
                DNSClass::IN,
                true,
                limits,
                deadline,
            )
            .await;
            Some(match r {
                Ok(m) => RecursionTest {
                    response: Some(summarize(&m, &name)),
                    name: name.to_ascii(),
                    rcode: Some(rcode_name(m.metadata.response_code)),
                    recursion_available: m.metadata.recursion_available,
                    answers: m.answers.len(),
                    answer_text: m
                        .answers
                        .iter()
                        .take(SAMPLE)
                        .map(|r| r.to_string())
                        .collect(),
                    error: None,
                },
                Err(e) => RecursionTest {
                    name: name.to_ascii(),
                    rcode: None,
                    recursion_available: false,
                    answers: 0,
                    answer_text: Vec::new(),
                    error: Some(e.to_string()),
                    response: None,
                },
            })
        }
        Err(_) => None,
    };
    let answered = !matches!(version_bind, ChaosAnswer::NoAnswer(_))
        || !matches!(hostname_bind, ChaosAnswer::NoAnswer(_))
        || recursion.as_ref().is_some_and(|r| r.rcode.is_some());
    let status = if answered {
        ProbeStatus::Success
    } else if Instant::now() >= deadline {
        ProbeStatus::Deadline
    } else {
        ProbeStatus::IoTimeout
    };
    let own_zone = match zones.zones.first().map(|z| Name::from_ascii(z.as_str())) {
        Some(Ok(mut zone)) => {
            zone.set_fqdn(true);
            let r = udp_query(
                policy,
                server,
                &zone,
                RecordType::SOA,
                DNSClass::IN,
                false,
                limits,
                deadline,
            )
            .await;
            Some(OwnZoneAnswer {
                zone: zones.zones[0].clone(),
                response: r.ok().map(|m| summarize(&m, &zone)),
            })
        }
        _ => None,
    };
    let cap = zones
        .axfr_cap
        .map_or(zones.zones.len(), |c| c as usize)
        .min(zones.zones.len());
    let mut zone_transfers = Vec::new();
    for z in zones.zones.iter().take(cap) {
        if Instant::now() >= deadline {
            break;
        }
        zone_transfers.push(transfer(policy, server, z, limits, deadline).await);
    }
    let untried = zones.untried + (zones.zones.len() - zone_transfers.len()) as u32;
    DnsServerObservation {
        port: server.port(),
        status,
        version_bind,
        hostname_bind,
        recursion,
        own_zone,
        zone_transfers,
        axfr_cap: zones.axfr_cap,
        axfr_untried: untried,
    }
}

/// One AXFR of `zone` from `server`, typed.
pub async fn transfer(
    policy: &Policy,
    server: SocketAddr,
    zone: &str,
    limits: &Limits,
    deadline: Instant,
) -> ZoneTransfer {
    let mut t = ZoneTransfer {
        zone: zone.to_owned(),
        outcome: AxfrOutcome::NoConnection,
        rcode: None,
        records: 0,
        sample: Vec::new(),
        detail: None,
    };
    let Ok(mut name) = Name::from_ascii(zone) else {
        t.outcome = AxfrOutcome::Malformed;
        t.detail = Some("invalid zone name".into());
        return t;
    };
    name.set_fqdn(true);
    let mut c = NsCheck {
        name: String::new(),
        ip: server.ip(),
        soa_rcode: None,
        authoritative: false,
        soa_answers: 0,
        soa_error: None,
        axfr_records: 0,
        axfr_sample: Vec::new(),
        axfr_result: String::new(),
        soa_serial: None,
    };
    let (outcome, rc) = axfr(policy, server, &name, limits, deadline, &mut c).await;
    t.outcome = outcome;
    t.rcode = rc;
    t.records = c.axfr_records;
    t.sample = c.axfr_sample;
    t.detail = Some(c.axfr_result);
    t
}

/// Asks one of a domain's name servers for the domain's SOA (authoritative? which serial?).
/// The zone transfer is the DNS-server probe's (`probe_server`), per server, capped.
pub async fn check_ns(
    policy: &Policy,
    ns_name: &str,
    server: SocketAddr,
    domain: &str,
    limits: &Limits,
    deadline: Instant,
) -> NsCheck {
    let mut c = NsCheck {
        name: ns_name.to_owned(),
        ip: server.ip(),
        soa_rcode: None,
        authoritative: false,
        soa_answers: 0,
        soa_error: None,
        axfr_records: 0,
        axfr_sample: Vec::new(),
        axfr_result: String::new(),
        soa_serial: None,
    };
    let Ok(mut zone) = Name::from_ascii(domain) else {
        c.soa_error = Some("invalid name".into());
        return c;
    };
    zone.set_fqdn(true);
    match udp_query(
        policy,
        server,
        &zone,
        RecordType::SOA,
        DNSClass::IN,
        false,
        limits,
        deadline,
    )
    .await
    {
        Ok(m) => {
            c.soa_rcode = Some(rcode_name(m.metadata.response_code));
            c.authoritative = m.metadata.authoritative;
            c.soa_answers = m
                .answers
                .iter()
                .filter(|r| r.record_type() == RecordType::SOA)
                .count();
            c.soa_serial = m.answers.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.serial),
                _ => None,
            });
        }
        Err(e) => c.soa_error = Some(e.to_string()),
    }
    c
}

async fn axfr(
    policy: &Policy,
    server: SocketAddr,
    zone: &Name,
    limits: &Limits,
    deadline: Instant,
    c: &mut NsCheck,
) -> (AxfrOutcome, Option<Rcode>) {
    let tcp = match net::connect(policy, server, limits, deadline).await {
        Ok(s) => s,
        Err(e) => {
            c.axfr_result = format!("not tried: {e}");
            return (AxfrOutcome::NoConnection, None);
        }
    };
    let lim = Limits {
        max_session: MAX_AXFR_BYTES,
        ..*limits
    };
    let mut conn = LineConn::new(Box::new(tcp), lim, deadline);
    let mut q = Message::query();
    q.metadata.id = rand_id(zone);
    q.add_query(Query::query(zone.clone(), RecordType::AXFR));
    let Ok(bytes) = q.to_vec() else {
        c.axfr_result = "cannot encode query".into();
        return (AxfrOutcome::Malformed, None);
    };
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    if let Err(e) = conn.send_raw(&framed).await {
        c.axfr_result = e.to_string();
        return (AxfrOutcome::NoTransfer, None);
    }
    let mut soas = 0;
    let mut rc = None;
    let outcome;
    c.axfr_result = loop {
        let len = match conn.read_exact_raw(2).await {
            Ok(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
            Err(e) if c.axfr_records == 0 => {
                outcome = AxfrOutcome::NoTransfer;
                break format!("no transfer: {e}");
            }
            Err(e) => {
                outcome = AxfrOutcome::EndedEarly;
                break format!("ended early: {e}");
            }
        };
        let msg = match conn
            .read_exact_raw(len)
            .await
            .map(|b| Message::from_vec(&b))
        {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                outcome = if c.axfr_records > 0 {
                    AxfrOutcome::EndedEarly
                } else {
                    AxfrOutcome::Malformed
                };
                break format!("malformed message: {e}");
            }
            Err(e) => {
                outcome = if c.axfr_records > 0 {
                    AxfrOutcome::EndedEarly
                } else {
                    AxfrOutcome::NoTransfer
                };
                break format!("ended early: {e}");
            }
        };
        rc = Some(rcode(msg.metadata.response_code));
        if msg.metadata.response_code != hickory_proto::op::ResponseCode::NoError {
            outcome = if c.axfr_records > 0 {
                AxfrOutcome::EndedEarly
            } else {
                AxfrOutcome::Refused
            };
            break format!("refused ({})", rcode_name(msg.metadata.response_code));
        }
        if msg.answers.is_empty() {
            outcome = if c.axfr_records > 0 {
                AxfrOutcome::EndedEarly
            } else {
                AxfrOutcome::EmptyAnswer
            };
            break "refused (empty answer)".to_owned();
        }
        for r in &msg.answers {
            if r.record_type() == RecordType::SOA {
                soas += 1;
            }
            if c.axfr_sample.len() < SAMPLE {
                c.axfr_sample.push(r.to_string());
            }
        }
        c.axfr_records += msg.answers.len();
        if soas >= 2 {
            outcome = AxfrOutcome::Transferred;
            break "transferred".to_owned();
        }
        if c.axfr_records >= MAX_AXFR_RECORDS {
            outcome = AxfrOutcome::StoppedAtCap;
            break format!("stopped after {} records", c.axfr_records);
        }
    };
    let _ = conn.close().await;
    (outcome, rc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxray_core::addr::AddressClass;
    use std::time::Duration;

    fn policy() -> Policy {
        Policy {
            allowed_classes: vec![AddressClass::Loopback],
            ..Policy::default()
        }
    }
    fn limits() -> Limits {
        Limits {
            step_timeout: Duration::from_secs(3),
            ..Limits::default()
        }
    }

    /// A UDP server answering every query with `f(query bytes)`.
    async fn server(f: fn(&[u8]) -> Vec<Vec<u8>>) -> SocketAddr {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                for out in f(&buf[..n]) {
                    let _ = sock.send_to(&out, peer).await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn malformed_and_truncated_answers_are_no_answer() {
        let junk = server(|q| vec![vec![q[0], q[1], 0x81], vec![0xff; 3000]]).await;
        let fast = Limits {
            step_timeout: Duration::from_millis(500),
            ..limits()
        };
        let d = probe_server(
            &policy(),
            junk,
            "example.com",
            &ServerZones::default(),
            &fast,
            Instant::now() + Duration::from_secs(30),
        )
        .await;
        assert!(
            matches!(&d.version_bind, ChaosAnswer::NoAnswer(e) if e.contains("malformed")),
            "{d:?}"
        );
        assert_eq!(d.status, ProbeStatus::IoTimeout);
        let tc = server(|q| {
            let req = Message::from_vec(q).unwrap();
            let mut r = Message::response(req.metadata.id, req.metadata.op_code);
            r.metadata.truncation = true;
            r.metadata.recursion_available = true;
            vec![r.to_vec().unwrap()]
        })
        .await;
        let d = probe_server(
            &policy(),
            tc,
            "example.com",
            &ServerZones::default(),
            &limits(),
            Instant::now() + Duration::from_secs(30),
        )
        .await;
        assert_eq!(
            d.version_bind,
            ChaosAnswer::NoAnswer("truncated answer (TC)".into())
        );
        assert_eq!(
            d.recursion.as_ref().unwrap().error.as_deref(),
            Some("truncated answer (TC)")
        );
        assert!(!d.recursion.unwrap().recursion_available);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_costs_the_step_timeout_per_question() {
        let silent = server(|_| vec![]).await;
        let start = Instant::now();
        let d = probe_server(
            &policy(),
            silent,
            "example.com",
            &ServerZones::default(),
            &limits(),
            start + Duration::from_secs(60),
        )
        .await;
        assert_eq!(d.version_bind, ChaosAnswer::NoAnswer("timeout".into()));
        assert_eq!(d.status, ProbeStatus::IoTimeout);
        // Three questions, three step timeouts (virtual clock).
        assert_eq!(Instant::now() - start, Duration::from_secs(9));
    }

    #[test]
    fn rcode_names() {
        use hickory_proto::op::ResponseCode as R;
        assert_eq!(rcode_name(R::NoError), "NOERROR");
        assert_eq!(rcode_name(R::Refused), "REFUSED");
        assert_eq!(rcode_name(R::Unknown(23)), "RCODE23");
    }

    #[tokio::test]
    async fn blocked_addresses_get_nothing() {
        let d = probe_server(
            &Policy::default(),
            "127.0.0.1:53".parse().unwrap(),
            "example.com",
            &ServerZones::default(),
            &limits(),
            Instant::now() + Duration::from_secs(5),
        )
        .await;
        assert_eq!(
            d.version_bind,
            ChaosAnswer::NoAnswer("address not allowed by policy".into())
        );
    }
}
