//! SMB negotiation without I/O: the requests the probe sends (a NetBIOS session request for
//! port 139, an SMB2 NEGOTIATE offering 2.0.2 to 3.1.1, an SMB1 NEGOTIATE offering only
//! `NT LM 0.12`) and the parsing of the answers ([MS-SMB2] §2.2.3-2.2.4, [MS-CIFS] §2.2.4.52,
//! RFC 1002 §4.3). No session is set up and no authentication is attempted.
//!
//! Hand-written: the SMB crates are full clients (sessions, authentication) and the probe
//! needs exactly two frames and every answer, including malformed ones, classified.

use serde::{Deserialize, Serialize};

/// Largest NetBIOS frame the probe reads (a negotiate response with its security blob is a
/// few hundred bytes).
pub const MAX_FRAME: usize = 64 * 1024;

/// The answer to a NetBIOS session request (port 139).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetbiosAnswer {
    /// Positive session response (0x82).
    Accepted,
    /// Negative session response (0x83), with its error code.
    Refused(u8),
    /// Retarget (0x84) or anything else.
    Other(u8),
}

/// The answer to an SMB1-only negotiate.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Smb1Answer {
    /// An SMB1 negotiate response choosing `NT LM 0.12`: SMB1 is enabled.
    Accepted,
    /// An SMB1 response choosing none of the dialects (0xFFFF) or an error status.
    Refused,
    /// The server closed the connection or answered in SMB2 only: SMB1 is off.
    Closed,
}

/// Why a frame is not the expected answer.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum SmbError {
    /// Shorter than its header says or than the structure needs.
    #[error("truncated SMB frame")]
    Truncated,
    /// Not an SMB1/SMB2 protocol id, or not a negotiate response.
    #[error("not an SMB negotiate response")]
    NotSmb,
    /// NetBIOS frame type other than a session message.
    #[error("unexpected NetBIOS frame type {0:#04x}")]
    Frame(u8),
}

/// The SMB2 dialects offered, in the request's order.
pub const DIALECTS: [u16; 5] = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];

/// `2.0.2`, `3.1.1`, …; `0x02FF` (the SMB2 wildcard) as `2.???`.
pub fn dialect_name(d: u16) -> String {
    match d {
        0x0202 => "2.0.2".into(),
        0x0210 => "2.1".into(),
        0x0300 => "3.0".into(),
        0x0302 => "3.0.2".into(),
        0x0311 => "3.1.1".into(),
        0x02FF => "2.???".into(),
        d => format!("{d:#06x}"),
    }
}

fn netbios(payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![0, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    out.extend_from_slice(payload);
    out
}

/// A NetBIOS name in RFC 1001 §14.1 first-level encoding (padded to 16 with spaces).
fn encoded_name(name: &str) -> Vec<u8> {
    let mut raw = [b' '; 16];
    for (d, s) in raw.iter_mut().zip(name.bytes()) {
        *d = s.to_ascii_uppercase();
    }
    let mut out = vec![32];
    for b in raw {
        out.push(b'A' + (b >> 4));
        out.push(b'A' + (b & 0x0f));
    }
    out.push(0);
    out
}

/// The NetBIOS session request for port 139: called name `*SMBSERVER` (accepted by Samba and
/// Windows whatever their name), calling name `MXRAY`.
pub fn session_request() -> Vec<u8> {
    let mut payload = encoded_name("*SMBSERVER");
    payload.extend(encoded_name("MXRAY"));
    let len = payload.len();
    let mut out = vec![0x81, 0, (len >> 8) as u8, len as u8];
    out.extend(payload);
    out
}

/// Parses the answer to [`session_request`] (4 bytes, or 5 for a negative answer).
pub fn parse_session_answer(data: &[u8]) -> Result<NetbiosAnswer, SmbError> {
    match data {
        [0x82, ..] => Ok(NetbiosAnswer::Accepted),
        [0x83, _, _, _, code, ..] => Ok(NetbiosAnswer::Refused(*code)),
        [0x83, ..] => Err(SmbError::Truncated),
        [t, ..] => Ok(NetbiosAnswer::Other(*t)),
        [] => Err(SmbError::Truncated),
    }
}

/// The length of the NetBIOS frame whose 4-byte header is `h` (type 0, session message), or
/// `Err` for other frame types.
pub fn frame_len(h: [u8; 4]) -> Result<usize, SmbError> {
    if h[0] != 0 {
        return Err(SmbError::Frame(h[0]));
    }
    Ok(((h[1] as usize) << 16) | ((h[2] as usize) << 8) | h[3] as usize)
}

/// An SMB2 NEGOTIATE request (NetBIOS-framed) offering [`DIALECTS`], with the pre-auth
/// integrity context 3.1.1 requires (SHA-512, a fixed salt: nothing follows the negotiate).
pub fn smb2_negotiate() -> Vec<u8> {
    let mut m = Vec::with_capacity(160);
    // Header (64 bytes).
    m.extend_from_slice(b"\xfeSMB");
    m.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    m.extend_from_slice(&0u16.to_le_bytes()); // CreditCharge
    m.extend_from_slice(&0u32.to_le_bytes()); // Status
    m.extend_from_slice(&0u16.to_le_bytes()); // Command: NEGOTIATE
    m.extend_from_slice(&1u16.to_le_bytes()); // CreditRequest
    m.extend_from_slice(&0u32.to_le_bytes()); // Flags
    m.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    m.extend_from_slice(&0u64.to_le_bytes()); // MessageId
    m.extend_from_slice(&0xFEFFu32.to_le_bytes()); // Reserved (process id)
    m.extend_from_slice(&0u32.to_le_bytes()); // TreeId
    m.extend_from_slice(&0u64.to_le_bytes()); // SessionId
    m.extend_from_slice(&[0; 16]); // Signature
    // NEGOTIATE request (36 bytes + dialects).
    let ctx_offset = 64 + 36 + DIALECTS.len() * 2;
    let ctx_offset = ctx_offset.div_ceil(8) * 8;
    m.extend_from_slice(&36u16.to_le_bytes());
    m.extend_from_slice(&(DIALECTS.len() as u16).to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes()); // Capabilities
    m.extend_from_slice(b"mxray-scanner-id"); // ClientGuid (16 bytes)
    m.extend_from_slice(&(ctx_offset as u32).to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes()); // NegotiateContextCount
    m.extend_from_slice(&0u16.to_le_bytes());
    for d in DIALECTS {
        m.extend_from_slice(&d.to_le_bytes());
    }
    m.resize(ctx_offset, 0);
    // SMB2_PREAUTH_INTEGRITY_CAPABILITIES: one hash (SHA-512), a 32-byte salt.
    m.extend_from_slice(&1u16.to_le_bytes());
    m.extend_from_slice(&38u16.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes());
    m.extend_from_slice(&32u16.to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes());
    m.extend_from_slice(&[0x5a; 32]);
    netbios(&m)
}

/// What an SMB2 negotiate response says.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Smb2Negotiated {
    /// The NT status in the header (0: success).
    pub status: u32,
    /// The dialect chosen.
    pub dialect: u16,
    /// SecurityMode bit 2: signing required.
    pub signing_required: bool,
}

/// Parses an SMB2 negotiate response (the NetBIOS frame's payload, without its header).
pub fn parse_smb2_negotiate(msg: &[u8]) -> Result<Smb2Negotiated, SmbError> {
    if msg.len() < 4 || &msg[..4] != b"\xfeSMB" {
        return Err(SmbError::NotSmb);
    }
    if msg.len() < 64 + 6 {
        return Err(SmbError::Truncated);
    }
    let u16le = |o: usize| u16::from_le_bytes([msg[o], msg[o + 1]]);
    let status = u32::from_le_bytes([msg[8], msg[9], msg[10], msg[11]]);
    if u16le(12) != 0 || (u16le(64) != 65 && status == 0) {
        return Err(SmbError::NotSmb);
    }
    Ok(Smb2Negotiated {
        status,
        dialect: u16le(68),
        signing_required: u16le(66) & 2 != 0,
    })
}

/// An SMB1 NEGOTIATE request (NetBIOS-framed) offering only `NT LM 0.12`: a server that
/// answers it in SMB1 has SMB1 enabled.
pub fn smb1_negotiate() -> Vec<u8> {
    let mut m = Vec::with_capacity(48);
    m.extend_from_slice(b"\xffSMB");
    m.push(0x72); // SMB_COM_NEGOTIATE
    m.extend_from_slice(&0u32.to_le_bytes()); // Status
    m.push(0x18); // Flags: canonical paths, case-insensitive
    m.extend_from_slice(&0xC801u16.to_le_bytes()); // Flags2: unicode, NT status, long names
    m.extend_from_slice(&[0; 12]); // PIDHigh, SecurityFeatures, Reserved
    m.extend_from_slice(&0u16.to_le_bytes()); // TID
    m.extend_from_slice(&0xFEFFu16.to_le_bytes()); // PIDLow
    m.extend_from_slice(&0u16.to_le_bytes()); // UID
    m.extend_from_slice(&0u16.to_le_bytes()); // MID
    m.push(0); // WordCount
    let dialects = b"\x02NT LM 0.12\x00";
    m.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
    m.extend_from_slice(dialects);
    netbios(&m)
}

/// Parses the answer to [`smb1_negotiate`] (the NetBIOS payload). An SMB2 answer (a server
/// that speaks only SMB2 may answer an SMB1 negotiate in SMB2) means SMB1 is off.
pub fn parse_smb1_negotiate(msg: &[u8]) -> Result<Smb1Answer, SmbError> {
    if msg.len() >= 4 && &msg[..4] == b"\xfeSMB" {
        return Ok(Smb1Answer::Closed);
    }
    if msg.len() < 4 || &msg[..4] != b"\xffSMB" {
        return Err(SmbError::NotSmb);
    }
    if msg.len() < 35 {
        return Err(SmbError::Truncated);
    }
    if msg[4] != 0x72 {
        return Err(SmbError::NotSmb);
    }
    let status = u32::from_le_bytes([msg[5], msg[6], msg[7], msg[8]]);
    let words = msg[32];
    let index = u16::from_le_bytes([msg[33], msg[34]]);
    Ok(if status == 0 && words > 0 && index == 0 {
        Smb1Answer::Accepted
    } else {
        Smb1Answer::Refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smb2_response(status: u32, dialect: u16, mode: u16) -> Vec<u8> {
        let mut m = b"\xfeSMB".to_vec();
        m.extend_from_slice(&64u16.to_le_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&status.to_le_bytes());
        m.extend_from_slice(&[0, 0]); // NEGOTIATE
        m.resize(64, 0);
        m.extend_from_slice(&65u16.to_le_bytes());
        m.extend_from_slice(&mode.to_le_bytes());
        m.extend_from_slice(&dialect.to_le_bytes());
        m.resize(64 + 65, 0);
        m
    }

    #[test]
    fn requests_are_well_framed() {
        for req in [smb2_negotiate(), smb1_negotiate()] {
            let len = frame_len([req[0], req[1], req[2], req[3]]).unwrap();
            assert_eq!(len, req.len() - 4);
        }
        let n = smb2_negotiate();
        // The context offset points at an 8-byte boundary inside the message.
        let off = u32::from_le_bytes([
            n[4 + 64 + 28],
            n[4 + 64 + 29],
            n[4 + 64 + 30],
            n[4 + 64 + 31],
        ]);
        assert_eq!(off % 8, 0);
        assert_eq!(n.len() - 4, off as usize + 8 + 38);
        let s = session_request();
        assert_eq!(s[0], 0x81);
        assert_eq!(s.len(), 4 + 68);
        assert_eq!(&s[4..6], &[32, b'C']); // '*' = 0x2a → "CK"
    }

    #[test]
    fn smb2_answers() {
        let r = parse_smb2_negotiate(&smb2_response(0, 0x0311, 3)).unwrap();
        assert_eq!((r.dialect, r.signing_required), (0x0311, true));
        let r = parse_smb2_negotiate(&smb2_response(0, 0x0210, 1)).unwrap();
        assert_eq!(
            (dialect_name(r.dialect), r.signing_required),
            ("2.1".into(), false)
        );
        assert_eq!(parse_smb2_negotiate(b"HTTP/1.1 400"), Err(SmbError::NotSmb));
        assert_eq!(
            parse_smb2_negotiate(b"\xfeSMB\0\0"),
            Err(SmbError::Truncated)
        );
    }

    #[test]
    fn smb1_answers() {
        let mut m = b"\xffSMB\x72".to_vec();
        m.resize(32, 0);
        m.push(17);
        m.extend_from_slice(&0u16.to_le_bytes());
        m.resize(80, 0);
        assert_eq!(parse_smb1_negotiate(&m), Ok(Smb1Answer::Accepted));
        m[33] = 0xff;
        m[34] = 0xff;
        assert_eq!(parse_smb1_negotiate(&m), Ok(Smb1Answer::Refused));
        assert_eq!(
            parse_smb1_negotiate(&smb2_response(0, 0x02ff, 1)),
            Ok(Smb1Answer::Closed)
        );
        assert_eq!(
            parse_smb1_negotiate(b"\xffSMB\x72"),
            Err(SmbError::Truncated)
        );
    }

    #[test]
    fn session_answers() {
        assert_eq!(
            parse_session_answer(&[0x82, 0, 0, 0]),
            Ok(NetbiosAnswer::Accepted)
        );
        assert_eq!(
            parse_session_answer(&[0x83, 0, 0, 1, 0x82]),
            Ok(NetbiosAnswer::Refused(0x82))
        );
        assert_eq!(parse_session_answer(&[]), Err(SmbError::Truncated));
        assert_eq!(frame_len([0x85, 0, 0, 0]), Err(SmbError::Frame(0x85)));
    }
}
