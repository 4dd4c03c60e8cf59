//! TLS client for probes: completes handshakes with any certificate, so the certificate can be
//! inspected, while recording whether strict verification (Mozilla roots, host name) would
//! have accepted it. Whether that matters is decided by a check, not here.
//!
//! rustls speaks TLS 1.2 and 1.3 only; a server limited to older versions fails the handshake,
//! which is reported as such.

use crate::net::{Io, LineConn, NetError};
use mxray_core::model::{CertInfo, CertProblem, TlsInfo};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// The outcome of strict verification, per handshake.
type Verdict = Arc<Mutex<Option<Result<(), rustls::Error>>>>;

#[derive(Debug)]
struct RecordingVerifier {
    strict: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    verdict: Verdict,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let r = self
            .strict
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map(|_| ());
        if let Ok(mut v) = self.verdict.lock() {
            *v = Some(r);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Builds client configurations; one per scan, cheap to clone.
#[derive(Clone, Debug)]
pub struct TlsClient {
    provider: Arc<CryptoProvider>,
    strict: Arc<WebPkiServerVerifier>,
}

impl Default for TlsClient {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsClient {
    /// Mozilla's roots (webpki-roots), ring as the only crypto provider.
    pub fn new() -> Self {
        // Invariant: with no extra roots only Mozilla's bundled roots are added, which are valid.
        Self::with_extra_roots(&[]).expect("webpki roots alone are valid")
    }

    /// Mozilla's roots plus the operator's own trust anchors (`--ca-file`, DER), e.g. a
    /// private CA or the lab's. Fails when an extra certificate is not a usable anchor.
    pub fn with_extra_roots(extra: &[Vec<u8>]) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for der in extra {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| format!("not a usable trust anchor: {e}"))?;
        }
        let strict = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { provider, strict })
    }

    /// Mozilla's roots plus every certificate of a PEM file's text (`--ca-file`).
    pub fn with_pem_roots(pem: &[u8]) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        let mut extra = Vec::new();
        for c in CertificateDer::pem_slice_iter(pem) {
            extra.push(
                c.map_err(|e| format!("not a PEM certificate: {e}"))?
                    .to_vec(),
            );
        }
        if extra.is_empty() {
            return Err("no PEM certificate in it".into());
        }
        Self::with_extra_roots(&extra)
    }

    /// Turns a line conversation into TLS in place (implicit TLS at connect, or after a
    /// STARTTLS/STLS reply): plaintext the server sent ahead is discarded and noted, the
    /// outcome is noted in the transcript, and on failure the connection is unusable.
    pub async fn upgrade(
        &self,
        conn: &mut LineConn,
        name: Option<&str>,
    ) -> Result<TlsInfo, NetError> {
        if conn.pending() > 0 {
            conn.note("server sent data before the TLS handshake");
        }
        let io = conn.take_io().ok_or(NetError::Closed)?;
        match self.handshake(io, name, conn.deadline()).await {
            Ok((io, info)) => {
                conn.note(format!("TLS {} {}", info.version, info.cipher));
                conn.put_io(io);
                Ok(info)
            }
            Err(e) => {
                conn.note(format!("TLS handshake failed: {e}"));
                Err(e)
            }
        }
    }

    /// Runs a handshake over `io`, verifying against `name` (the MX host name) when given.
    pub async fn handshake(
        &self,
        io: Box<dyn Io>,
        name: Option<&str>,
        deadline: Instant,
    ) -> Result<(Box<dyn Io>, TlsInfo), NetError> {
        let verdict: Verdict = Arc::default();
        let verifier = RecordingVerifier {
            strict: self.strict.clone(),
            provider: self.provider.clone(),
            verdict: verdict.clone(),
        };
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| NetError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // SNI and name check use the host name; with none (a bare IP), verify against a
        // placeholder so the chain is still checked, and ignore the name result.
        let sni = name.and_then(|n| ServerName::try_from(n.to_owned()).ok());
        let server_name = sni
            .clone()
            // Invariant: `invalid.invalid` is a valid DNS name.
            .unwrap_or_else(|| ServerName::try_from("invalid.invalid").expect("valid name"));
        let connector = TlsConnector::from(Arc::new(config));
        let tls = match tokio::time::timeout_at(deadline, connector.connect(server_name, io)).await
        {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Err(NetError::Tls(e.to_string())),
            Err(_) => return Err(NetError::Deadline),
        };
        let (_, conn) = tls.get_ref();
        let version = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_default();
        let chain: Vec<CertInfo> = conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| cert_info(c))
            .collect();
        let result = verdict.lock().ok().and_then(|mut v| v.take());
        let (problem, problem_detail) = match result {
            Some(Ok(())) | None => (None, None),
            Some(Err(e)) => {
                let p = classify(&e);
                if p == Some(CertProblem::NameMismatch) && sni.is_none() {
                    (None, None)
                } else {
                    (p, Some(e.to_string()))
                }
            }
        };
        let info = TlsInfo {
            version,
            cipher,
            verified_name: sni.map(|_| name.unwrap_or_default().to_owned()),
            chain,
            problem,
            problem_detail,
        };
        Ok((Box::new(tls), info))
    }
}

fn classify(e: &rustls::Error) -> Option<CertProblem> {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => Some(match c {
            C::Expired | C::ExpiredContext { .. } => CertProblem::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => CertProblem::NotYetValid,
            C::UnknownIssuer => CertProblem::UnknownIssuer,
            C::NotValidForName | C::NotValidForNameContext { .. } => CertProblem::NameMismatch,
            _ => CertProblem::Other,
        }),
        _ => Some(CertProblem::Other),
    }
}

/// Extracts what a survey needs from a DER certificate. Unparseable certificates still get
/// an entry (with the hash) so that "the server sent garbage" is visible.
pub fn cert_info(der: &CertificateDer<'_>) -> CertInfo {
    let digest = |alg, bytes: &[u8]| hex(ring::digest::digest(alg, bytes).as_ref());
    let sha256 = digest(&ring::digest::SHA256, der.as_ref());
    let sha512 = digest(&ring::digest::SHA512, der.as_ref());
    match x509_parser::parse_x509_certificate(der.as_ref()) {
        Ok((_, c)) => {
            // DANE selector 1: the DER SubjectPublicKeyInfo as it appears in the certificate.
            let spki = c.public_key().raw;
            let spki_sha256 = digest(&ring::digest::SHA256, spki);
            let spki_sha512 = digest(&ring::digest::SHA512, spki);
            let sans = c
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|ext| {
                    ext.value
                        .general_names
                        .iter()
                        .filter_map(|g| match g {
                            x509_parser::extensions::GeneralName::DNSName(d) => {
                                Some((*d).to_owned())
                            }
                            x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                                4 => Some(
                                    std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                                ),
                                16 => <[u8; 16]>::try_from(*ip)
                                    .ok()
                                    .map(|b| std::net::Ipv6Addr::from(b).to_string()),
                                _ => None,
                            },
                            _ => None,
                        })
                        .take(100)
                        .collect()
                })
                .unwrap_or_default();
            let same_name = c.subject().as_raw() == c.issuer().as_raw();
            let self_signed = same_name && c.verify_signature(None).is_ok();
            let key = match c.public_key().parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(k)) => format!("RSA {}", k.key_size()),
                Ok(x509_parser::public_key::PublicKey::EC(k)) => format!("EC {}", k.key_size()),
                Ok(other) => format!("{} bits", other.key_size()),
                Err(_) => "unknown".into(),
            };
            CertInfo {
                subject: c.subject().to_string(),
                issuer: c.issuer().to_string(),
                sans,
                not_before: c.validity().not_before.timestamp(),
                not_after: c.validity().not_after.timestamp(),
                self_signed,
                serial: c.raw_serial_as_string(),
                key,
                sha256,
                sha512,
                spki_sha256,
                spki_sha512,
            }
        }
        Err(e) => CertInfo {
            subject: format!("(unparseable certificate: {e})"),
            issuer: String::new(),
            sans: Vec::new(),
            not_before: 0,
            not_after: 0,
            self_signed: false,
            serial: String::new(),
            key: String::new(),
            sha256,
            sha512,
            spki_sha256: String::new(),
            spki_sha512: String::new(),
        },
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
