//! The DNS-server probe: raw hickory-proto messages over UDP (and TCP for AXFR), not the
//! resolver, which always asks class IN, caches, retries and hides the header bits.
//!
//! Per server (once per IP): `version.bind. CH TXT`, `hostname.bind. CH TXT`, and one
//! recursive `A` query (RD=1) for a name outside the server's zones (`--recursion-name`), then
//! the SOA (RD=0) of the first zone that led here (authoritative?) — all over one
//! [`net::UdpConn`] (address policy, pacing, transcript) — and one `AXFR` over TCP for each of
//! up to `--axfr-per-server` of the zones that led here (records counted, a sample kept,
//! capped). Per domain (from discovery): `<domain> SOA` with RD=0 ([`check_ns`]).
//! Every exchange is bounded: one UDP datagram each way of at most 4 KiB, the step timeout,
//! the deadline; truncated (TC) and malformed answers are recorded as "no answer", never
//! retried over TCP. AXFR stops at [`MAX_AXFR_RECORDS`] records or [`MAX_AXFR_BYTES`].
//! Statuses: `success` (some answer came back), `io-timeout`/`deadline` (nothing did),
//! `internal-error` (the policy refused the address: the engine never plans that).

use super::{Probe, ProbeContext, ProbeFuture, ProbeKind, ProbeOutput};
use crate::net::{self, Datagram, Limits, LineConn, NetError, Pacing, Policy, UdpConn};
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use mxray_core::model::{
    AuthoritySection, AxfrOutcome, ChaosAnswer, Dir, DnsResponse, DnsServerObservation,
    HostObservation, NsCheck, OwnZoneAnswer, ProbeStatus, QueryFailure, Rcode, RecursionTest,
    ReferralDirection, ZoneTransfer,
};
use std::net::SocketAddr;
use tokio::time::Instant;

/// Records counted in one AXFR before stopping.
pub const MAX_AXFR_RECORDS: usize = 10_000;
/// Bytes read in one AXFR before stopping.
pub const MAX_AXFR_BYTES: usize = 4 * 1024 * 1024;
/// Records kept as evidence.
const SAMPLE: usize = 8;

/// Probes the DNS server on one port of the address (name servers).
#[derive(Clone, Debug)]
pub struct DnsServerProbe {
    /// Port (53 unless overridden).
    pub port: u16,
    /// The name asked recursively (`--recursion-name`).
    pub recursion_name: String,
}

impl Probe for DnsServerProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::DnsServer
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn run<'a>(&'a self, cx: &'a ProbeContext, _: &'a HostObservation) -> ProbeFuture<'a> {
        Box::pin(async move {
            ProbeOutput::DnsServer(
                probe_server(
                    &cx.policy,
                    SocketAddr::new(cx.ip, self.port),
                    &self.recursion_name,
                    &cx.zones,
                    &cx.limits,
                    cx.deadline,
                )
                .await,
            )
        })
    }
}

/// What a failed exchange means for the question.
fn failure(e: &NetError, unusable: QueryFailure) -> QueryFailure {
    match e {
        NetError::Blocked => QueryFailure::Blocked,
        NetError::Deadline => QueryFailure::Deadline,
        NetError::StepTimeout(_) | NetError::ConnectTimeout => QueryFailure::Timeout,
        NetError::Protocol(_) | NetError::LineTooLong(_) | NetError::SessionTooLong(_) => unusable,
        NetError::Refused | NetError::Closed | NetError::Io(_) | NetError::Tls(_) => {
            QueryFailure::Io
        }
    }
}

/// One UDP question over `conn`, one answer back (or why not). No retries.
pub async fn udp_query(
    conn: &mut UdpConn,
    name: &Name,
    rtype: RecordType,
    class: DNSClass,
    recursion_desired: bool,
) -> Result<Message, QueryFailure> {
    let mut q = Message::query();
    q.metadata.id = rand_id(name);
    q.metadata.message_type = MessageType::Query;
    q.metadata.recursion_desired = recursion_desired;
    let mut query = Query::query(name.clone(), rtype);
    query.set_query_class(class);
    q.add_query(query);
    let bytes = q.to_vec().map_err(|_| QueryFailure::InvalidName)?;
    conn.note(
        Dir::Client,
        format!(
            "{} {class} {rtype} RD={}",
            name.to_ascii(),
            u8::from(recursion_desired)
        ),
    );
    let id = q.metadata.id;
    // Typed here, from the datagram itself: the error's words are never looked at.
    let mut unusable = QueryFailure::Malformed;
    let r = conn
        .exchange(&bytes, |b| match Message::from_vec(b) {
            Ok(m) if m.metadata.id == id && m.metadata.message_type == MessageType::Response => {
                if m.metadata.truncation {
                    unusable = QueryFailure::Truncated;
                    Datagram::Unusable("truncated answer (TC)".into())
                } else {
                    Datagram::Answer(m)
                }
            }
            Ok(_) => Datagram::Ignore("answer to another question"),
            Err(_) => Datagram::Ignore("malformed answer"),
        })
        .await;
    match r {
        Ok(m) => {
            conn.note(
                Dir::Server,
                format!(
                    "{}, AA={} RA={}, {} answer(s)",
                    rcode(m.metadata.response_code).mnemonic(),
                    u8::from(m.metadata.authoritative),
                    u8::from(m.metadata.recursion_available),
                    m.answers.len()
                ),
            );
            Ok(m)
        }
        Err(e) => Err(failure(&e, unusable)),
    }
}

/// A failed question as a CHAOS answer, or a failed open as the probe's status.
fn open_status(e: &NetError) -> ProbeStatus {
    match e {
        NetError::Blocked => ProbeStatus::InternalError,
        other => other.status(),
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

async fn chaos(conn: &mut UdpConn, what: &str) -> ChaosAnswer {
    // Invariant: `what` is one of the fixed CHAOS names (`version.bind`, `hostname.bind`).
    let name = Name::from_ascii(what).expect("static name");
    match udp_query(conn, &name, RecordType::TXT, DNSClass::CH, false).await {
        Ok(m) => match txt_answer(&m) {
            Some(t) => ChaosAnswer::Text(t),
            None => ChaosAnswer::Refused(rcode(m.metadata.response_code).mnemonic()),
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
    let mut obs = DnsServerObservation {
        port: server.port(),
        status: ProbeStatus::Success,
        version_bind: ChaosAnswer::NoAnswer(String::new()),
        hostname_bind: ChaosAnswer::NoAnswer(String::new()),
        recursion: None,
        own_zone: None,
        zone_transfers: Vec::new(),
        axfr_cap: zones.axfr_cap,
        axfr_untried: zones.untried + zones.zones.len() as u32,
        transcript: Vec::new(),
    };
    let mut conn = match UdpConn::open(policy, server, limits, deadline, Pacing::Paced).await {
        Ok(c) => c,
        Err(e) => {
            let why = failure(&e, QueryFailure::Io).to_string();
            obs.status = open_status(&e);
            obs.version_bind = ChaosAnswer::NoAnswer(why.clone());
            obs.hostname_bind = ChaosAnswer::NoAnswer(why);
            return obs;
        }
    };
    obs.version_bind = chaos(&mut conn, "version.bind.").await;
    obs.hostname_bind = chaos(&mut conn, "hostname.bind.").await;
    obs.recursion = match Name::from_ascii(recursion_name) {
        Ok(mut name) => {
            name.set_fqdn(true);
            let r = udp_query(&mut conn, &name, RecordType::A, DNSClass::IN, true).await;
            Some(match r {
                Ok(m) => RecursionTest {
                    response: Some(summarize(&m, &name)),
                    name: name.to_ascii(),
                    rcode: Some(rcode(m.metadata.response_code)),
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
                    error: Some(e),
                    response: None,
                },
            })
        }
        Err(_) => None,
    };
    let answered = !matches!(obs.version_bind, ChaosAnswer::NoAnswer(_))
        || !matches!(obs.hostname_bind, ChaosAnswer::NoAnswer(_))
        || obs.recursion.as_ref().is_some_and(|r| r.rcode.is_some());
    obs.status = if answered {
        ProbeStatus::Success
    } else if Instant::now() >= deadline {
        ProbeStatus::Deadline
    } else {
        ProbeStatus::IoTimeout
    };
    obs.own_zone = match zones.zones.first().map(|z| Name::from_ascii(z.as_str())) {
        Some(Ok(mut zone)) => {
            zone.set_fqdn(true);
            let r = udp_query(&mut conn, &zone, RecordType::SOA, DNSClass::IN, false).await;
            Some(OwnZoneAnswer {
                zone: zones.zones[0].clone(),
                response: r.ok().map(|m| summarize(&m, &zone)),
            })
        }
        _ => None,
    };
    obs.transcript = conn.into_transcript();
    let cap = zones
        .axfr_cap
        .map_or(zones.zones.len(), |c| c as usize)
        .min(zones.zones.len());
    for z in zones.zones.iter().take(cap) {
        if Instant::now() >= deadline {
            break;
        }
        let (t, transcript) = transfer(policy, server, z, limits, deadline).await;
        obs.transcript.extend(transcript);
        obs.zone_transfers.push(t);
    }
    obs.axfr_untried = zones.untried + (zones.zones.len() - obs.zone_transfers.len()) as u32;
    obs
}

/// One AXFR of `zone` from `server`, typed, with its transcript.
pub async fn transfer(
    policy: &Policy,
    server: SocketAddr,
    zone: &str,
    limits: &Limits,
    deadline: Instant,
) -> (ZoneTransfer, Vec<mxray_core::model::TranscriptLine>) {
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
        return (t, Vec::new());
    };
    name.set_fqdn(true);
    let transcript = axfr(policy, server, &name, limits, deadline, &mut t).await;
    (t, transcript)
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
        c.soa_error = Some(QueryFailure::InvalidName);
        return c;
    };
    zone.set_fqdn(true);
    let mut conn = match UdpConn::open(policy, server, limits, deadline, Pacing::ZoneQuestion).await
    {
        Ok(conn) => conn,
        Err(e) => {
            c.soa_error = Some(failure(&e, QueryFailure::Io));
            return c;
        }
    };
    match udp_query(&mut conn, &zone, RecordType::SOA, DNSClass::IN, false).await {
        Ok(m) => {
            c.soa_rcode = Some(rcode(m.metadata.response_code));
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
        Err(e) => c.soa_error = Some(e),
    }
    c
}

async fn axfr(
    policy: &Policy,
    server: SocketAddr,
    zone: &Name,
    limits: &Limits,
    deadline: Instant,
    t: &mut ZoneTransfer,
) -> Vec<mxray_core::model::TranscriptLine> {
    let tcp = match net::connect(policy, server, limits, deadline).await {
        Ok(s) => s,
        Err(e) => {
            t.outcome = AxfrOutcome::NoConnection;
            t.detail = Some(format!("not tried: {e}"));
            return Vec::new();
        }
    };
    let lim = Limits {
        max_session: MAX_AXFR_BYTES,
        ..*limits
    };
    let mut conn = LineConn::new(Box::new(tcp), lim, deadline);
    conn.note(format!("AXFR {}", zone.to_ascii()));
    let mut q = Message::query();
    q.metadata.id = rand_id(zone);
    q.add_query(Query::query(zone.clone(), RecordType::AXFR));
    let Ok(bytes) = q.to_vec() else {
        t.outcome = AxfrOutcome::Malformed;
        t.detail = Some("cannot encode query".into());
        return conn.close().await;
    };
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    if let Err(e) = conn.send_raw(&framed).await {
        t.outcome = AxfrOutcome::NoTransfer;
        t.detail = Some(e.to_string());
        return conn.close().await;
    }
    let mut soas = 0;
    let (outcome, detail) = loop {
        let len = match conn.read_exact_raw(2).await {
            Ok(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
            Err(e) if t.records == 0 => {
                break (AxfrOutcome::NoTransfer, format!("no transfer: {e}"));
            }
            Err(e) => break (AxfrOutcome::EndedEarly, format!("ended early: {e}")),
        };
        let msg = match conn
            .read_exact_raw(len)
            .await
            .map(|b| Message::from_vec(&b))
        {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                let o = if t.records > 0 {
                    AxfrOutcome::EndedEarly
                } else {
                    AxfrOutcome::Malformed
                };
                break (o, format!("malformed message: {e}"));
            }
            Err(e) => {
                let o = if t.records > 0 {
                    AxfrOutcome::EndedEarly
                } else {
                    AxfrOutcome::NoTransfer
                };
                break (o, format!("ended early: {e}"));
            }
        };
        let rc = rcode(msg.metadata.response_code);
        t.rcode = Some(rc);
        if rc != Rcode::NoError {
            let o = if t.records > 0 {
                AxfrOutcome::EndedEarly
            } else {
                AxfrOutcome::Refused
            };
            break (o, format!("refused ({})", rc.mnemonic()));
        }
        if msg.answers.is_empty() {
            let o = if t.records > 0 {
                AxfrOutcome::EndedEarly
            } else {
                AxfrOutcome::EmptyAnswer
            };
            break (o, "refused (empty answer)".to_owned());
        }
        for r in &msg.answers {
            if r.record_type() == RecordType::SOA {
                soas += 1;
            }
            if t.sample.len() < SAMPLE {
                t.sample.push(r.to_string());
            }
        }
        t.records += msg.answers.len();
        if soas >= 2 {
            break (AxfrOutcome::Transferred, "transferred".to_owned());
        }
        if t.records >= MAX_AXFR_RECORDS {
            break (
                AxfrOutcome::StoppedAtCap,
                format!("stopped after {} records", t.records),
            );
        }
    };
    t.outcome = outcome;
    conn.note(format!("{detail} ({} records)", t.records));
    t.detail = Some(detail);
    conn.close().await
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
        assert_eq!(
            d.version_bind,
            ChaosAnswer::NoAnswer(QueryFailure::Malformed.to_string()),
            "{d:?}"
        );
        assert_eq!(
            d.recursion.as_ref().unwrap().error,
            Some(QueryFailure::Malformed)
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
            d.recursion.as_ref().unwrap().error,
            Some(QueryFailure::Truncated)
        );
        assert!(
            d.transcript
                .iter()
                .any(|l| l.dir == Dir::Client && l.text == "version.bind. CH TXT RD=0"),
            "the questions are in the transcript: {:?}",
            d.transcript
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
    fn rcodes() {
        use hickory_proto::op::ResponseCode as R;
        assert_eq!(rcode(R::NoError), Rcode::NoError);
        assert_eq!(rcode(R::Refused).mnemonic(), "REFUSED");
        assert_eq!(rcode(R::Unknown(23)), Rcode::Other(23));
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
            ChaosAnswer::NoAnswer(QueryFailure::Blocked.to_string())
        );
        assert_eq!(d.status, ProbeStatus::InternalError);
        assert!(d.recursion.is_none(), "nothing sent");
    }
}
