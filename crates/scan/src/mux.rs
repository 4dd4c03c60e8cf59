//! The bulk of a survey's DNS questions (TXT, A, AAAA, CAA, DNSKEY, DS: each asked once per
//! domain, so a cache cannot help) over a few long-lived UDP sockets, answers matched to
//! questions by ID and question section.
//!
//! Written by hand because hickory's resolver opens a socket per question and runs each
//! through its cache and retry layers: profiled at 200,000 domains, that was most of the
//! scanner's CPU (docs/BENCHMARKS.md). hickory still encodes and decodes every message, and
//! still answers the questions worth caching (MX targets' addresses, PTR, NS).
//!
//! Safety against spoofed answers: each question gets a random ID on one of several sockets
//! with OS-chosen ports; an answer counts only if it comes from the server, carries a pending
//! ID and repeats the question asked.

use hickory_resolver::proto::op::{Edns, Message, Query};
use hickory_resolver::proto::rr::{Name, RecordType};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

/// Sockets in the pool.
const SOCKETS: usize = 4;
/// Questions waiting on one socket at most (then a question waits for a free ID by failing
/// over to the next socket, and finally gives up as `Unknown`).
const MAX_PENDING: usize = 16_384;

struct Waiting {
    question: (Name, RecordType),
    reply: oneshot::Sender<Message>,
}

type Pending = Arc<Mutex<HashMap<u16, Waiting>>>;

/// A pool of UDP sockets talking to one name server.
#[derive(Debug)]
pub(crate) struct Mux {
    server: SocketAddr,
    socks: Vec<(Arc<UdpSocket>, PendingDebug)>,
    counter: AtomicU64,
    keys: std::collections::hash_map::RandomState,
}

/// `Pending` with a Debug that does not print the map.
#[derive(Clone)]
struct PendingDebug(Pending);

impl std::fmt::Debug for PendingDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Mux {
    /// Binds the sockets and starts one reader task per socket (needs a tokio runtime).
    pub(crate) async fn new(server: SocketAddr) -> std::io::Result<Self> {
        let bind: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let mut socks = Vec::with_capacity(SOCKETS);
        for _ in 0..SOCKETS {
            let sock = Arc::new(UdpSocket::bind(bind).await?);
            let pending: Pending = Arc::default();
            tokio::spawn(read_loop(sock.clone(), Arc::downgrade(&pending), server));
            socks.push((sock, PendingDebug(pending)));
        }
        Ok(Self {
            server,
            socks,
            counter: AtomicU64::new(0),
            keys: std::collections::hash_map::RandomState::new(),
        })
    }

    /// Asks one question (RD=1, EDNS 1232, AD, CD and DO as given) and waits for its answer
    /// until `deadline`. A truncated answer is returned as it is (the caller retries over TCP).
    pub(crate) async fn ask(
        &self,
        name: &Name,
        rtype: RecordType,
        ad: bool,
        cd: bool,
        dnssec_ok: bool,
        deadline: tokio::time::Instant,
    ) -> Result<(Message, Vec<u8>), crate::resolve::DnsError> {
        use crate::resolve::DnsError;
        // One line per question sent (`RUST_LOG=mxray_scan::mux=trace`): which (name, type)
        // a survey asks more than once is counted from these (docs/BENCHMARKS.md, issue 14).
        tracing::trace!(%name, %rtype, "question");
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let (sock, pending) = &self.socks[(n as usize) % SOCKETS];
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut map = pending
                .0
                .lock()
                .map_err(|_| DnsError::Local("resolver state poisoned".into()))?;
            if map.len() >= MAX_PENDING {
                return Err(DnsError::Busy);
            }
            let mut h = self.keys.build_hasher();
            h.write_u64(n);
            let mut id = h.finish() as u16;
            while map.contains_key(&id) {
                id = id.wrapping_add(1);
            }
            map.insert(
                id,
                Waiting {
                    question: (name.clone(), rtype),
                    reply: tx,
                },
            );
            id
        };
        let forget = || {
            if let Ok(mut map) = pending.0.lock() {
                map.remove(&id);
            }
        };
        let mut q = Message::query();
        q.metadata.id = id;
        q.metadata.recursion_desired = true;
        q.metadata.authentic_data = ad;
        q.metadata.checking_disabled = cd;
        q.add_query(Query::query(name.clone(), rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(dnssec_ok);
        q.set_edns(edns);
        let bytes = match q.to_vec() {
            Ok(b) => b,
            Err(e) => {
                forget();
                return Err(DnsError::Local(format!("cannot encode query: {e}")));
            }
        };
        if let Err(e) = sock.send_to(&bytes, self.server).await {
            forget();
            return Err(DnsError::Local(format!("send: {e}")));
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(m)) => Ok((m, bytes)),
            _ => {
                forget();
                Err(DnsError::Timeout)
            }
        }
    }
}

/// Reads answers and hands each to the question waiting for it; ends when the pool is gone.
async fn read_loop(
    sock: Arc<UdpSocket>,
    pending: std::sync::Weak<Mutex<HashMap<u16, Waiting>>>,
    server: SocketAddr,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            // (An unconnected UDP socket rarely fails; never spin on it.)
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        };
        let Some(pending) = pending.upgrade() else {
            return;
        };
        if from != server {
            continue;
        }
        let Ok(msg) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let Ok(mut map) = pending.lock() else {
            return;
        };
        // hickory's Name compares case-insensitively, as DNS names do.
        let matches = map.get(&msg.metadata.id).is_some_and(|w| {
            msg.queries
                .first()
                .is_some_and(|q| q.query_type() == w.question.1 && *q.name() == w.question.0)
        });
        if matches && let Some(w) = map.remove(&msg.metadata.id) {
            let _ = w.reply.send(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::op::MessageType;
    use hickory_resolver::proto::rr::{RData, Record, rdata::TXT};
    use std::time::Duration;

    /// A server that first answers with the right ID but another question (a spoof), then
    /// with the right answer; and never answers `silent.test`.
    async fn server() -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (n, from) = sock.recv_from(&mut buf).await.unwrap();
                let q = Message::from_vec(&buf[..n]).unwrap();
                let name = q.queries[0].name().clone();
                if name.to_ascii().starts_with("silent") {
                    continue;
                }
                let mut spoof = Message::response(q.metadata.id, q.metadata.op_code);
                spoof.metadata.message_type = MessageType::Response;
                spoof.add_query(Query::query(
                    Name::from_ascii("other.test.").unwrap(),
                    RecordType::TXT,
                ));
                sock.send_to(&spoof.to_vec().unwrap(), from).await.unwrap();
                let mut ok = Message::response(q.metadata.id, q.metadata.op_code);
                ok.add_query(q.queries[0].clone());
                ok.add_answer(Record::from_rdata(
                    name,
                    60,
                    RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
                ));
                sock.send_to(&ok.to_vec().unwrap(), from).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn answers_match_their_question_and_silence_times_out() {
        let mux = Mux::new(server().await).await.unwrap();
        let soon = || tokio::time::Instant::now() + Duration::from_millis(500);
        // Many questions at once, each gets its own answer (not the spoof, not another's).
        let names: Vec<Name> = (0..50)
            .map(|i| Name::from_ascii(format!("d{i}.example.")).unwrap())
            .collect();
        let answers = futures::future::join_all(
            names
                .iter()
                .map(|n| mux.ask(n, RecordType::TXT, false, false, false, soon())),
        )
        .await;
        for (n, a) in names.iter().zip(answers) {
            let (m, _) = a.expect("answered");
            assert_eq!(m.queries[0].name(), n);
            assert_eq!(m.answers.len(), 1);
        }
        let silent = Name::from_ascii("silent.example.").unwrap();
        let err = mux
            .ask(&silent, RecordType::TXT, false, false, false, soon())
            .await
            .unwrap_err();
        assert_eq!(err, crate::resolve::DnsError::Timeout);
        assert!(
            mux.socks
                .iter()
                .all(|(_, p)| p.0.lock().unwrap().is_empty())
        );
    }
}
