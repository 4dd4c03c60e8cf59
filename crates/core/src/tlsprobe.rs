//! A crafted TLS ClientHello and a parser of the server's first answer (ServerHello or alert),
//! without I/O: the TLS protocol-version and cipher-suite audit.
//!
//! Hand-written on purpose: rustls (the TLS client everywhere else in mxray) refuses to speak
//! TLS 1.0/1.1 or offer export, NULL, anonymous, RC4, DES or 3DES suites, and OpenSSL bindings
//! would bring a C library whose build changes what it can offer. The audit needs neither a
//! finished handshake nor any cryptography: a ClientHello with the versions and suites we
//! choose, and the server's ServerHello (the version and suite it picked) or its alert, are
//! enough to know what it accepts. So this is a byte builder and a bounded record parser.
//!
//! References: RFC 5246 §7.4 (TLS 1.2 hello messages), RFC 8446 §4.1 (TLS 1.3 ClientHello,
//! `supported_versions`, `key_share`, HelloRetryRequest), RFC 2246/4346 (TLS 1.0/1.1),
//! the IANA TLS cipher-suite registry.

use serde::{Deserialize, Serialize};

/// A TLS protocol version (`tls1.0` etc. in stored observations).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Serialize, Deserialize)]
pub enum TlsVersion {
    /// SSL 3.0 (0x0300).
    #[serde(rename = "ssl3.0")]
    Ssl3,
    /// TLS 1.0 (0x0301).
    #[serde(rename = "tls1.0")]
    Tls10,
    /// TLS 1.1 (0x0302).
    #[serde(rename = "tls1.1")]
    Tls11,
    /// TLS 1.2 (0x0303).
    #[serde(rename = "tls1.2")]
    Tls12,
    /// TLS 1.3 (0x0304).
    #[serde(rename = "tls1.3")]
    Tls13,
}

impl TlsVersion {
    /// The version on the wire.
    pub fn wire(self) -> u16 {
        match self {
            Self::Ssl3 => 0x0300,
            Self::Tls10 => 0x0301,
            Self::Tls11 => 0x0302,
            Self::Tls12 => 0x0303,
            Self::Tls13 => 0x0304,
        }
    }

    /// The version a wire value names, if any.
    pub fn from_wire(v: u16) -> Option<Self> {
        Some(match v {
            0x0300 => Self::Ssl3,
            0x0301 => Self::Tls10,
            0x0302 => Self::Tls11,
            0x0303 => Self::Tls12,
            0x0304 => Self::Tls13,
            _ => return None,
        })
    }

    /// `TLS 1.0` etc.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ssl3 => "SSL 3.0",
            Self::Tls10 => "TLS 1.0",
            Self::Tls11 => "TLS 1.1",
            Self::Tls12 => "TLS 1.2",
            Self::Tls13 => "TLS 1.3",
        }
    }
}

/// Why a cipher suite is weak, or that it is not.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuiteClass {
    /// Export-grade (40/56-bit keys, FREAK/Logjam).
    Export,
    /// No encryption at all.
    Null,
    /// No server authentication (anonymous Diffie-Hellman).
    Anonymous,
    /// RC4 (RFC 7465 forbids it).
    Rc4,
    /// Single DES (56-bit).
    Des,
    /// Triple DES (64-bit blocks, SWEET32).
    TripleDes,
    /// A CBC-mode suite (fine with TLS 1.2 and encrypt-then-MAC; BEAST with TLS 1.0).
    Cbc,
    /// An AEAD suite (GCM, ChaCha20-Poly1305): modern.
    Aead,
    /// A suite this table does not know (the server picked something we did not offer).
    Unknown,
}

impl SuiteClass {
    /// Whether a server accepting this suite is accepting a weak cipher, whatever the version.
    pub fn is_weak(self) -> bool {
        matches!(
            self,
            Self::Export | Self::Null | Self::Anonymous | Self::Rc4 | Self::Des | Self::TripleDes
        )
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Null => "null",
            Self::Anonymous => "anonymous",
            Self::Rc4 => "rc4",
            Self::Des => "des",
            Self::TripleDes => "3des",
            Self::Cbc => "cbc",
            Self::Aead => "aead",
            Self::Unknown => "unknown",
        }
    }
}

/// One cipher suite of the table: its code, IANA name and class.
#[derive(Clone, Copy, Debug)]
pub struct Suite {
    /// The code point.
    pub code: u16,
    /// The IANA name.
    pub name: &'static str,
    /// Weak or not, and why.
    pub class: SuiteClass,
}

const fn s(code: u16, name: &'static str, class: SuiteClass) -> Suite {
    Suite { code, name, class }
}

use SuiteClass::{Aead, Anonymous, Cbc, Des, Export, Null, Rc4, TripleDes};

/// TLS 1.3 suites (offered with `supported_versions` = TLS 1.3 only).
pub const TLS13_SUITES: &[Suite] = &[
    s(0x1301, "TLS_AES_128_GCM_SHA256", Aead),
    s(0x1302, "TLS_AES_256_GCM_SHA384", Aead),
    s(0x1303, "TLS_CHACHA20_POLY1305_SHA256", Aead),
];

/// Good TLS 1.2 suites: AEAD first, then the CBC suites a TLS 1.0/1.1 server can pick.
pub const MODERN_SUITES: &[Suite] = &[
    s(0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Aead),
    s(0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Aead),
    s(0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Aead),
    s(0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", Aead),
    s(
        0xcca9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        Aead,
    ),
    s(0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Aead),
    s(0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", Aead),
    s(0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", Aead),
    s(0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", Aead),
    s(0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", Aead),
    s(0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", Cbc),
    s(0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", Cbc),
    s(0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", Cbc),
    s(0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", Cbc),
    s(0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", Cbc),
    s(0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", Cbc),
    s(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", Cbc),
    s(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", Cbc),
    s(0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", Cbc),
    s(0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", Cbc),
    s(0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", Cbc),
    s(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", Cbc),
];

/// Weak suites, offered alone: a server that picks one of them accepts a weak cipher.
pub const WEAK_SUITES: &[Suite] = &[
    s(0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", Export),
    s(0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", Export),
    s(0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", Export),
    s(0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA", Export),
    s(0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA", Export),
    s(0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA", Export),
    s(0x0001, "TLS_RSA_WITH_NULL_MD5", Null),
    s(0x0002, "TLS_RSA_WITH_NULL_SHA", Null),
    s(0x003b, "TLS_RSA_WITH_NULL_SHA256", Null),
    s(0xc006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA", Null),
    s(0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA", Null),
    s(0x0018, "TLS_DH_anon_WITH_RC4_128_MD5", Anonymous),
    s(0x001b, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA", Anonymous),
    s(0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA", Anonymous),
    s(0x003a, "TLS_DH_anon_WITH_AES_256_CBC_SHA", Anonymous),
    s(0x00a6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256", Anonymous),
    s(0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", Anonymous),
    s(0xc019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA", Anonymous),
    s(0x0004, "TLS_RSA_WITH_RC4_128_MD5", Rc4),
    s(0x0005, "TLS_RSA_WITH_RC4_128_SHA", Rc4),
    s(0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", Rc4),
    s(0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", Rc4),
    s(0x0009, "TLS_RSA_WITH_DES_CBC_SHA", Des),
    s(0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA", Des),
    s(0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", TripleDes),
    s(0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", TripleDes),
    s(0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", TripleDes),
    s(0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", TripleDes),
];

/// The suite a code names in the tables above (`None`: not one we offer).
pub fn suite(code: u16) -> Option<Suite> {
    TLS13_SUITES
        .iter()
        .chain(MODERN_SUITES)
        .chain(WEAK_SUITES)
        .find(|s| s.code == code)
        .copied()
}

/// The class of a suite code (`Unknown` when not in the tables).
pub fn classify(code: u16) -> SuiteClass {
    suite(code).map_or(SuiteClass::Unknown, |s| s.class)
}

/// The IANA name of a suite code, or `0xXXXX`.
pub fn suite_name(code: u16) -> String {
    suite(code).map_or_else(|| format!("0x{code:04x}"), |s| s.name.to_owned())
}

/// What one ClientHello offers (named as [`Offer::as_str`] in stored observations).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub enum Offer {
    /// TLS 1.3 only (`supported_versions` = 1.3), the TLS 1.3 suites.
    #[serde(rename = "tls1.3")]
    Tls13,
    /// Up to TLS 1.2, the modern suites.
    #[serde(rename = "tls1.2")]
    Tls12,
    /// Up to TLS 1.1, the CBC suites (TLS 1.1 has no AEAD suites) and 3DES as a last resort.
    #[serde(rename = "tls1.1")]
    Tls11,
    /// Up to TLS 1.0, like TLS 1.1.
    #[serde(rename = "tls1.0")]
    Tls10,
    /// Up to TLS 1.2, weak suites only (minus those already seen accepted).
    #[serde(rename = "weak-suites")]
    Weak,
}

impl Offer {
    /// The version offered as the maximum.
    pub fn max_version(self) -> TlsVersion {
        match self {
            Self::Tls13 => TlsVersion::Tls13,
            Self::Tls12 | Self::Weak => TlsVersion::Tls12,
            Self::Tls11 => TlsVersion::Tls11,
            Self::Tls10 => TlsVersion::Tls10,
        }
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls13 => "tls1.3",
            Self::Tls12 => "tls1.2",
            Self::Tls11 => "tls1.1",
            Self::Tls10 => "tls1.0",
            Self::Weak => "weak-suites",
        }
    }

    /// The suites offered (for `Weak`: every weak suite; see [`client_hello_with`]).
    pub fn suites(self) -> Vec<u16> {
        match self {
            Self::Tls13 => TLS13_SUITES.iter().map(|s| s.code).collect(),
            Self::Tls12 => MODERN_SUITES.iter().map(|s| s.code).collect(),
            Self::Tls11 | Self::Tls10 => MODERN_SUITES
                .iter()
                .filter(|s| s.class == SuiteClass::Cbc)
                .map(|s| s.code)
                .chain([0xc012, 0x000a])
                .collect(),
            Self::Weak => WEAK_SUITES.iter().map(|s| s.code).collect(),
        }
    }
}

/// The caller's randomness for one hello (sans-I/O: this module has no random source).
#[derive(Clone, Copy, Debug)]
pub struct HelloRandom {
    /// ClientHello.random.
    pub random: [u8; 32],
    /// The X25519 key share sent with a TLS 1.3 offer (any 32 bytes: the handshake is never
    /// finished, so no private key is kept).
    pub key_share: [u8; 32],
}

/// Extension code points used.
mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub const KEY_SHARE: u16 = 51;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// x25519, secp256r1, secp384r1, secp521r1, ffdhe2048.
const GROUPS: [u16; 5] = [0x001d, 0x0017, 0x0018, 0x0019, 0x0100];
/// ECDSA and RSA-PSS/PKCS#1 with SHA-2, Ed25519, then SHA-1 variants (old servers).
const SIG_ALGS: [u16; 12] = [
    0x0403, 0x0503, 0x0603, 0x0807, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
];

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends `body` prefixed by its length in `width` bytes (1, 2 or 3).
fn push_vec(out: &mut Vec<u8>, width: usize, body: &[u8]) {
    let len = body.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[4 - width..]);
    out.extend_from_slice(body);
}

fn push_ext(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    push_u16(out, kind);
    push_vec(out, 2, body);
}

/// Whether `name` can go in SNI: a DNS host name, not an address literal (RFC 6066 §3).
fn sni_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.parse::<std::net::IpAddr>().is_err()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The ClientHello for `offer`, as one TLS record, with SNI `name` when it is a host name.
pub fn client_hello(offer: Offer, name: Option<&str>, rnd: &HelloRandom) -> Vec<u8> {
    client_hello_with(offer, &offer.suites(), name, rnd)
}

/// The ClientHello for `offer` with the given suites (the weak-suite enumeration offers the
/// weak suites minus those already seen accepted).
pub fn client_hello_with(
    offer: Offer,
    suites: &[u16],
    name: Option<&str>,
    rnd: &HelloRandom,
) -> Vec<u8> {
    let max = offer.max_version();
    let mut body = Vec::with_capacity(512);
    // legacy_version: TLS 1.3 is negotiated through supported_versions only.
    push_u16(&mut body, max.wire().min(0x0303));
    body.extend_from_slice(&rnd.random);
    body.push(0); // no session id
    let mut cs = Vec::with_capacity(suites.len() * 2 + 2);
    for c in suites {
        push_u16(&mut cs, *c);
    }
    // TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746) below TLS 1.3.
    if max != TlsVersion::Tls13 {
        push_u16(&mut cs, 0x00ff);
    }
    push_vec(&mut body, 2, &cs);
    push_vec(&mut body, 1, &[0]); // null compression only
    let mut exts = Vec::with_capacity(256);
    if let Some(n) = name.filter(|n| sni_ok(n)) {
        let n = n.trim_end_matches('.');
        let mut entry = vec![0u8]; // host_name
        push_vec(&mut entry, 2, n.as_bytes());
        let mut list = Vec::new();
        push_vec(&mut list, 2, &entry);
        push_ext(&mut exts, ext::SERVER_NAME, &list);
    }
    let mut groups = Vec::new();
    for g in GROUPS {
        push_u16(&mut groups, g);
    }
    let mut gl = Vec::new();
    push_vec(&mut gl, 2, &groups);
    push_ext(&mut exts, ext::SUPPORTED_GROUPS, &gl);
    push_ext(&mut exts, ext::EC_POINT_FORMATS, &[1, 0]); // uncompressed
    if max >= TlsVersion::Tls12 {
        let mut algs = Vec::new();
        for a in SIG_ALGS {
            push_u16(&mut algs, a);
        }
        let mut al = Vec::new();
        push_vec(&mut al, 2, &algs);
        push_ext(&mut exts, ext::SIGNATURE_ALGORITHMS, &al);
    }
    push_ext(&mut exts, ext::EXTENDED_MASTER_SECRET, &[]);
    if max == TlsVersion::Tls13 {
        push_ext(&mut exts, ext::SUPPORTED_VERSIONS, &[2, 0x03, 0x04]);
        push_ext(&mut exts, ext::PSK_KEY_EXCHANGE_MODES, &[1, 1]); // psk_dhe_ke
        let mut share = Vec::new();
        push_u16(&mut share, 0x001d);
        push_vec(&mut share, 2, &rnd.key_share);
        let mut shares = Vec::new();
        push_vec(&mut shares, 2, &share);
        push_ext(&mut exts, ext::KEY_SHARE, &shares);
    } else {
        push_ext(&mut exts, ext::RENEGOTIATION_INFO, &[0]);
    }
    push_vec(&mut body, 2, &exts);
    let mut hs = Vec::with_capacity(body.len() + 4);
    hs.push(1); // client_hello
    push_vec(&mut hs, 3, &body);
    let mut rec = Vec::with_capacity(hs.len() + 5);
    rec.push(CONTENT_HANDSHAKE);
    // The record version of a first ClientHello: TLS 1.0 for the widest compatibility
    // (RFC 8446 §5.1 allows 0x0301 here, and old servers reject higher record versions).
    push_u16(&mut rec, 0x0301);
    push_vec(&mut rec, 2, &hs);
    rec
}

const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
/// Longest record accepted (RFC 5246 §6.2.3: 2^14 + 2048).
pub const MAX_RECORD: usize = 16384 + 2048;
/// Longest ServerHello accepted (real ones are under 200 bytes; a few extensions more).
pub const MAX_SERVER_HELLO: usize = 4096;
/// Bytes read at most before the answer must be known.
pub const MAX_RESPONSE: usize = 2 * (MAX_RECORD + 5);

/// SHA-256("HelloRetryRequest"): the ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The server's first answer.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Answer {
    /// A ServerHello: the server accepts this version and suite.
    Hello(ServerHello),
    /// An alert (e.g. 70 protocol_version, 40 handshake_failure): the offer is refused.
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// The alert description code.
        description: u8,
    },
}

/// The fields of a ServerHello the audit needs.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ServerHello {
    /// `legacy_version` (the negotiated version below TLS 1.3).
    pub legacy_version: u16,
    /// The negotiated version: `supported_versions` when present, else `legacy_version`.
    pub version: u16,
    /// The suite picked.
    pub suite: u16,
    /// The compression method picked (0: none).
    pub compression: u8,
    /// A HelloRetryRequest (TLS 1.3 asks for another key share: it still accepts TLS 1.3).
    pub retry_request: bool,
}

/// Why the bytes are not a TLS answer.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Malformed {
    /// The first byte is not a TLS content type, or the record version is not 3.x (a
    /// plaintext reply, an HTTP server, SSLv2).
    NotTls,
    /// A record longer than TLS allows.
    RecordTooLong,
    /// A handshake message other than ServerHello came first.
    UnexpectedMessage,
    /// A ServerHello longer than [`MAX_SERVER_HELLO`].
    HelloTooLong,
    /// Lengths inside the ServerHello do not add up.
    BadHello,
    /// An alert record of the wrong length.
    BadAlert,
    /// A record of another content type before the answer.
    UnexpectedRecord,
    /// The connection ended in the middle of the answer.
    Truncated,
}

impl Malformed {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotTls => "not-tls",
            Self::RecordTooLong => "record-too-long",
            Self::UnexpectedMessage => "unexpected-message",
            Self::HelloTooLong => "hello-too-long",
            Self::BadHello => "bad-hello",
            Self::BadAlert => "bad-alert",
            Self::UnexpectedRecord => "unexpected-record",
            Self::Truncated => "truncated",
        }
    }
}

/// The result of parsing the bytes received so far.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Parsed {
    /// More bytes are needed (at least this many more).
    Incomplete(usize),
    /// The answer.
    Done(Answer),
    /// Not a valid TLS answer.
    Invalid(Malformed),
}

/// Parses the server's answer to a ClientHello from all the bytes received so far (call again
/// with more bytes on `Incomplete`). Handshake messages may be split over several records;
/// records after the ServerHello (certificate, …) are not looked at.
pub fn parse_answer(data: &[u8]) -> Parsed {
    let mut hs: Vec<u8> = Vec::new();
    let mut rest = data;
    loop {
        if rest.len() < 5 {
            // A plaintext reply is recognisable from its first byte.
            if let Some(&t) = rest.first()
                && t != CONTENT_ALERT
                && t != CONTENT_HANDSHAKE
            {
                return Parsed::Invalid(Malformed::NotTls);
            }
            if rest.len() >= 2 && rest[1] != 3 {
                return Parsed::Invalid(Malformed::NotTls);
            }
            return Parsed::Incomplete(5 - rest.len());
        }
        let kind = rest[0];
        if (kind != CONTENT_ALERT && kind != CONTENT_HANDSHAKE) || rest[1] != 3 {
            return Parsed::Invalid(if kind == 20 || kind == 23 {
                if rest[1] == 3 {
                    Malformed::UnexpectedRecord
                } else {
                    Malformed::NotTls
                }
            } else {
                Malformed::NotTls
            });
        }
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if len > MAX_RECORD {
            return Parsed::Invalid(Malformed::RecordTooLong);
        }
        if rest.len() < 5 + len {
            return Parsed::Incomplete(5 + len - rest.len());
        }
        let frag = &rest[5..5 + len];
        rest = &rest[5 + len..];
        if kind == CONTENT_ALERT {
            if !hs.is_empty() {
                return Parsed::Invalid(Malformed::UnexpectedRecord);
            }
            // An alert record holds one or more 2-byte alerts; the first one counts.
            if frag.len() < 2 || !frag.len().is_multiple_of(2) {
                return Parsed::Invalid(Malformed::BadAlert);
            }
            return Parsed::Done(Answer::Alert {
                level: frag[0],
                description: frag[1],
            });
        }
        hs.extend_from_slice(frag);
        if hs.len() >= 4 {
            if hs[0] != 2 {
                return Parsed::Invalid(Malformed::UnexpectedMessage);
            }
            let mlen = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
            if mlen > MAX_SERVER_HELLO {
                return Parsed::Invalid(Malformed::HelloTooLong);
            }
            if hs.len() >= 4 + mlen {
                return match server_hello(&hs[4..4 + mlen]) {
                    Some(h) => Parsed::Done(Answer::Hello(h)),
                    None => Parsed::Invalid(Malformed::BadHello),
                };
            }
        }
        if rest.is_empty() {
            // The rest of the message comes in the next record: its header at least.
            return Parsed::Incomplete(5);
        }
    }
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader(body);
    let legacy_version = r.u16()?;
    let random = r.take(32)?;
    let sid_len = usize::from(r.u8()?);
    if sid_len > 32 {
        return None;
    }
    r.take(sid_len)?;
    let suite = r.u16()?;
    let compression = r.u8()?;
    let mut version = legacy_version;
    if !r.0.is_empty() {
        let total = usize::from(r.u16()?);
        let mut exts = Reader(r.take(total)?);
        while !exts.0.is_empty() {
            let kind = exts.u16()?;
            let len = usize::from(exts.u16()?);
            let data = exts.take(len)?;
            if kind == ext::SUPPORTED_VERSIONS {
                if data.len() != 2 {
                    return None;
                }
                version = u16::from_be_bytes([data[0], data[1]]);
            }
        }
        if !r.0.is_empty() {
            return None;
        }
    }
    Some(ServerHello {
        legacy_version,
        version,
        suite,
        compression,
        retry_request: random == HRR_RANDOM,
    })
}

/// The name of an alert description (RFC 8446 §6, RFC 5246 §7.2).
pub fn alert_name(description: u8) -> &'static str {
    match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        47 => "illegal_parameter",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RND: HelloRandom = HelloRandom {
        random: [7; 32],
        key_share: [9; 32],
    };

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// Extensions as (code, data).
    type Extensions = Vec<(u16, Vec<u8>)>;

    /// Walks a ClientHello record back into its parts: (legacy_version, suites, extensions).
    fn parse_hello(rec: &[u8]) -> (u16, Vec<u16>, Extensions) {
        assert_eq!(rec[0], 22);
        assert_eq!(&rec[1..3], &[3, 1]);
        let len = usize::from(u16::from_be_bytes([rec[3], rec[4]]));
        assert_eq!(len, rec.len() - 5, "record length");
        let hs = &rec[5..];
        assert_eq!(hs[0], 1);
        let mlen = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
        assert_eq!(mlen, hs.len() - 4, "handshake length");
        let mut r = Reader(&hs[4..]);
        let v = r.u16().unwrap();
        r.take(32).unwrap();
        let sid = r.u8().unwrap();
        r.take(usize::from(sid)).unwrap();
        let n = usize::from(r.u16().unwrap());
        let mut cs = Reader(r.take(n).unwrap());
        let mut suites = Vec::new();
        while !cs.0.is_empty() {
            suites.push(cs.u16().unwrap());
        }
        let c = usize::from(r.u8().unwrap());
        assert_eq!(r.take(c).unwrap(), &[0]);
        let n = usize::from(r.u16().unwrap());
        let mut e = Reader(r.take(n).unwrap());
        assert!(r.0.is_empty());
        let mut exts = Vec::new();
        while !e.0.is_empty() {
            let k = e.u16().unwrap();
            let l = usize::from(e.u16().unwrap());
            exts.push((k, e.take(l).unwrap().to_vec()));
        }
        (v, suites, exts)
    }

    #[test]
    fn hellos_are_well_formed_and_offer_what_they_say() {
        for offer in [
            Offer::Tls13,
            Offer::Tls12,
            Offer::Tls11,
            Offer::Tls10,
            Offer::Weak,
        ] {
            let rec = client_hello(offer, Some("mx.example.test."), &RND);
            let (v, suites, exts) = parse_hello(&rec);
            assert_eq!(v, offer.max_version().wire().min(0x0303), "{offer:?}");
            let kinds: Vec<u16> = exts.iter().map(|e| e.0).collect();
            assert_eq!(
                kinds.contains(&ext::SUPPORTED_VERSIONS),
                offer == Offer::Tls13
            );
            assert_eq!(kinds.contains(&ext::KEY_SHARE), offer == Offer::Tls13);
            assert_eq!(
                kinds.contains(&ext::SIGNATURE_ALGORITHMS),
                matches!(offer, Offer::Tls13 | Offer::Tls12 | Offer::Weak)
            );
            let sni = &exts.iter().find(|e| e.0 == 0).expect("SNI").1;
            assert!(sni.ends_with(b"mx.example.test"), "{sni:?}");
            let offered: Vec<u16> = suites.into_iter().filter(|c| *c != 0x00ff).collect();
            assert_eq!(offered, offer.suites(), "{offer:?}");
            for c in &offered {
                let class = classify(*c);
                match offer {
                    Offer::Weak => assert!(class.is_weak(), "{c:04x}"),
                    Offer::Tls13 | Offer::Tls12 => assert!(!class.is_weak(), "{c:04x}"),
                    Offer::Tls11 | Offer::Tls10 => assert!(
                        class == SuiteClass::Cbc || class == SuiteClass::TripleDes,
                        "{c:04x}"
                    ),
                }
            }
        }
        let (_, _, exts) = parse_hello(&client_hello(Offer::Tls12, Some("192.0.2.1"), &RND));
        assert!(exts.iter().all(|e| e.0 != 0), "no SNI for an address");
    }

    #[test]
    fn stored_names() {
        for o in [
            Offer::Tls13,
            Offer::Tls12,
            Offer::Tls11,
            Offer::Tls10,
            Offer::Weak,
        ] {
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                serde_json::json!(o.as_str())
            );
        }
        assert_eq!(
            serde_json::to_value(TlsVersion::Tls10).unwrap(),
            serde_json::json!("tls1.0")
        );
    }

    #[test]
    fn the_tables_have_no_duplicate_codes() {
        let mut all: Vec<u16> = TLS13_SUITES
            .iter()
            .chain(MODERN_SUITES)
            .chain(WEAK_SUITES)
            .map(|s| s.code)
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    /// Answers of Postfix 3.7 with OpenSSL 3.0 (Debian 12; `.ci/tlsaudit.sh`) to crafted
    /// hellos, captured on loopback. The weak listener, offered up to TLS 1.0 with CBC suites:
    /// ServerHello TLS 1.0, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA (its random ends in the TLS 1.3
    /// downgrade sentinel "DOWNGRD\0"), then the start of the Certificate record (cut).
    const TLS10_HELLO: &str = "16030100590200005503019a99c0ea324e4e8af2df8cb8f27f26eec0b4646147 \
        98baf2444f574e4752440020b80b959cdb369e7bd10fc88b6b3616c7482ab786 \
        d4cc0ef319aecba7c4c66c4fc01300000dff01000100000b0004030001021603 \
        0103210b";
    /// The modern listener, offered TLS 1.3 only: ServerHello (legacy_version 1.2,
    /// supported_versions 1.3, key_share), ChangeCipherSpec, the start of encrypted records.
    const TLS13_HELLO: &str = "160303005a020000560303c10240072f8a56b2d880e7ece651ce2f0da270ea82 \
        67e5a787266008c55dc8ac00130100002e002b0002030400330024001d002025 \
        6bebc0e01383716b6f07ad9fe43133f8c36848c01a850ee68230a747d3fa2514 \
        03030001011703030017c648129b9ecce22d00e89212c3b5";
    /// The weak listener after STARTTLS, offered NULL suites only: TLS 1.2, TLS_RSA_WITH_NULL_SHA.
    const NULL_HELLO: &str = "16030300510200004d030305246a5b99652b30443dc3fc18c4d7d671796fca73 \
        c4e350444f574e475244012053143c54a7ba04671828a50b4884e203a2f187c3 \
        672ff365f4040148f5f4b6c00002000005ff0100010016030303210b";

    fn hello_of(captured: &str) -> ServerHello {
        match parse_answer(&hex(captured)) {
            Parsed::Done(Answer::Hello(h)) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn captured_server_hellos() {
        let h = hello_of(TLS10_HELLO);
        assert_eq!(TlsVersion::from_wire(h.version), Some(TlsVersion::Tls10));
        assert_eq!(h.suite, 0xc013);
        assert_eq!(classify(h.suite), SuiteClass::Cbc);
        assert!(!h.retry_request);
        let h = hello_of(TLS13_HELLO);
        assert_eq!((h.legacy_version, h.version), (0x0303, 0x0304));
        assert_eq!(classify(h.suite), SuiteClass::Aead, "{:04x}", h.suite);
        let h = hello_of(NULL_HELLO);
        assert_eq!((h.version, h.suite), (0x0303, 0x0002));
        assert_eq!(classify(h.suite), SuiteClass::Null);
        // Every prefix of a hello is incomplete, never wrong.
        let bytes = hex(TLS10_HELLO);
        for i in 0..5 + 0x59 {
            assert!(
                matches!(parse_answer(&bytes[..i]), Parsed::Incomplete(_)),
                "prefix {i}: {:?}",
                parse_answer(&bytes[..i])
            );
        }
    }

    /// A HelloRetryRequest: the captured TLS 1.3 hello with the HRR random.
    #[test]
    fn a_retry_request_still_accepts_tls13() {
        let mut rec = hex(TLS13_HELLO);
        rec[11..43].copy_from_slice(&HRR_RANDOM);
        let h = match parse_answer(&rec) {
            Parsed::Done(Answer::Hello(h)) => h,
            other => panic!("{other:?}"),
        };
        assert!(h.retry_request);
        assert_eq!(h.version, 0x0304);
    }

    #[test]
    fn a_hello_split_over_two_records() {
        let bytes = hex(TLS10_HELLO);
        let hs = &bytes[5..5 + 0x59];
        let mut rec = Vec::new();
        for part in [&hs[..10], &hs[10..]] {
            rec.extend_from_slice(&[22, 3, 1]);
            push_vec(&mut rec, 2, part);
        }
        assert_eq!(parse_answer(&rec[..15]), Parsed::Incomplete(5));
        assert!(matches!(
            parse_answer(&rec),
            Parsed::Done(Answer::Hello(ServerHello { suite: 0xc013, .. }))
        ));
    }

    /// OpenSSL's refusal of a TLS 1.0 offer when its minimum is TLS 1.2 (the modern listener,
    /// captured), and a handshake_failure.
    #[test]
    fn alerts() {
        assert_eq!(
            parse_answer(&hex("15030100020246")),
            Parsed::Done(Answer::Alert {
                level: 2,
                description: 70
            })
        );
        assert_eq!(alert_name(70), "protocol_version");
        assert_eq!(
            parse_answer(&hex("15030300020228")),
            Parsed::Done(Answer::Alert {
                level: 2,
                description: 40
            })
        );
        assert_eq!(
            parse_answer(&hex("150303000102")),
            Parsed::Invalid(Malformed::BadAlert)
        );
    }

    #[test]
    fn garbage_is_not_tls() {
        assert_eq!(
            parse_answer(b"454 4.7.0 TLS not available\r\n"),
            Parsed::Invalid(Malformed::NotTls)
        );
        assert_eq!(parse_answer(b"H"), Parsed::Invalid(Malformed::NotTls));
        assert_eq!(
            parse_answer(&hex("1602")),
            Parsed::Invalid(Malformed::NotTls)
        );
        assert_eq!(parse_answer(&[]), Parsed::Incomplete(5));
        assert_eq!(
            parse_answer(&hex("1603034801")),
            Parsed::Invalid(Malformed::RecordTooLong)
        );
        // A certificate before any ServerHello.
        assert_eq!(
            parse_answer(&hex("16030300040b000000")),
            Parsed::Invalid(Malformed::UnexpectedMessage)
        );
        // A ServerHello whose session id claims more than it has.
        assert_eq!(
            parse_answer(&hex("160303000602000002 0303")),
            Parsed::Invalid(Malformed::BadHello)
        );
        assert_eq!(
            parse_answer(&hex("1603030004020fffff")),
            Parsed::Invalid(Malformed::HelloTooLong)
        );
    }
}
