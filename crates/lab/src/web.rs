//! The lab's HTTPS server for MTA-STS policies (RFC 8461 §3.3): answers
//! `GET /.well-known/mta-sts.txt` with the policy of the `Host` asked, `404` otherwise.
//!
//! Two certificates: [`Cert::LabCa`], a leaf signed by the lab's own CA ([`LAB_CA_PEM`],
//! which scans of the lab trust with `--ca-file`), so the scanner's strict verification
//! really runs; and [`Cert::SelfSigned`], the STARTTLS servers' self-signed certificate, for
//! the policy host whose certificate must fail.

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The lab's certificate authority (PEM), the trust anchor for `--ca-file`.
pub const LAB_CA_PEM: &str = include_str!("../certs/lab-ca.pem");

/// Which certificate a policy server presents.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Cert {
    /// Signed by the lab CA, for `mta-sts.<lab domain>` names.
    LabCa,
    /// The self-signed STARTTLS certificate (`*.mxray.test`): no CA vouches for it, and it
    /// does not cover `mta-sts.<domain>.mxray.test` either.
    SelfSigned,
}

fn config(cert: Cert) -> Arc<ServerConfig> {
    let (c, k): (&[u8], &[u8]) = match cert {
        Cert::LabCa => (
            include_bytes!("../certs/mta-sts-cert.pem"),
            include_bytes!("../certs/mta-sts-key.pem"),
        ),
        Cert::SelfSigned => (
            include_bytes!("../certs/lab-cert.pem"),
            include_bytes!("../certs/lab-key.pem"),
        ),
    };
    // Invariant: the compiled-in lab PEM pair (loaded by every lab test that uses HTTPS).
    let certs = vec![CertificateDer::from_pem_slice(c).expect("lab certificate")];
    let key = PrivateKeyDer::from_pem_slice(k).expect("lab key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            // Invariant: ring supports the default protocol versions; the key matches its certificate.
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("lab certificate and key match"),
    )
}

/// A running policy server.
#[derive(Debug)]
pub struct PolicyServer {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
}

impl PolicyServer {
    /// Serves `policies` (host name → body) on `addr` with `cert`.
    pub async fn start(
        addr: SocketAddr,
        cert: Cert,
        policies: HashMap<String, String>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config(cert));
        let policies = Arc::new(policies);
        let requests = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        let accepted = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                accepted.fetch_add(1, Ordering::Relaxed);
                let (acceptor, policies, counter) =
                    (acceptor.clone(), policies.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split(' ').nth(1).unwrap_or("");
                    let host = head
                        .lines()
                        .find_map(|l| {
                            l.split_once(':')
                                .filter(|(k, _)| k.eq_ignore_ascii_case("host"))
                                .map(|(_, v)| v.trim())
                        })
                        .unwrap_or("");
                    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
                    let resp = match policies.get(&host) {
                        Some(body) if path == "/.well-known/mta-sts.txt" => format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        _ => "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n".to_owned(),
                    };
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Ok(Self {
            addr,
            requests,
            connections,
        })
    }

    /// TCP connections accepted so far (a TLS ClientHello counts even without a request).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
