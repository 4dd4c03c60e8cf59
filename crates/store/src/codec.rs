//! Compressed observations: a domain's observation JSON is a few kilobytes of the same keys,
//! enum words and DNS record shapes as every other domain's, so each one is deflated against
//! a fixed dictionary of those (`obs-dict-1.txt`, compiled in) instead of on its own.
//!
//! Format of a stored value: one format byte, the JSON's length (LEB128), then the data.
//! - `1`: raw deflate (miniz_oxide, pure Rust) primed with dictionary 1: the compressor reads
//!   the dictionary, flushes to a byte boundary, and only what follows is stored; the
//!   decompressor starts with the dictionary already in its window.
//!
//! A format, once written, is read forever: a better dictionary is a new format byte and a
//! new file, never an edit of `obs-dict-1.txt`. Decompressed, the value is byte for byte the
//! JSON that was compressed.

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

/// Dictionary of format 1. Never edit: stored values depend on every byte of it.
const DICT_1: &[u8] = include_bytes!("obs-dict-1.txt");
/// The format new values are written in.
const FORMAT_DEFLATE_DICT_1: u8 = 1;
/// Largest JSON accepted back (a stored value claiming more is corrupt).
const MAX_LEN: usize = 64 << 20;
/// Deflate level: 6 is zlib's default; measured in docs/BENCHMARKS.md.
const LEVEL: i32 = 6;

/// Why a stored value could not be read back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CodecError {
    /// Empty, or cut short.
    Truncated,
    /// A format byte this version does not know (written by a newer mxray).
    UnknownFormat(u8),
    /// The deflate data is damaged or does not give the recorded length.
    Corrupt,
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated => f.write_str("compressed observation is cut short"),
            Self::UnknownFormat(b) => write!(
                f,
                "compressed observation in format {b}, unknown to this mxray (written by a newer version?)"
            ),
            Self::Corrupt => f.write_str("compressed observation is damaged"),
        }
    }
}

fn push_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn read_len(b: &[u8]) -> Result<(usize, usize), CodecError> {
    let mut n = 0usize;
    for (i, byte) in b.iter().enumerate().take(5) {
        n |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((n, i + 1));
        }
    }
    Err(CodecError::Truncated)
}

/// Runs the compressor over `input` with `flush`, appending what it writes to `out`.
fn feed(d: &mut CompressorOxide, mut input: &[u8], flush: TDEFLFlush, out: &mut Vec<u8>) {
    let mut buf = [0u8; 8192];
    loop {
        let (status, read, written) = compress(d, input, &mut buf, flush);
        out.extend_from_slice(&buf[..written]);
        input = &input[read..];
        match status {
            TDEFLStatus::Done => return,
            TDEFLStatus::Okay if input.is_empty() && written < buf.len() => return,
            TDEFLStatus::Okay => {}
            // Only on bad parameters or a callback failure, neither of which exists here.
            TDEFLStatus::BadParam | TDEFLStatus::PutBufFailed => return,
        }
    }
}

/// A compressor that has read dictionary 1 (what it wrote for it is not kept).
fn primed() -> CompressorOxide {
    let flags = create_comp_flags_from_zip_params(LEVEL, -15, 0); // raw deflate
    let mut d = CompressorOxide::new(flags);
    let mut discarded = Vec::new();
    feed(&mut d, DICT_1, TDEFLFlush::Sync, &mut discarded);
    d
}

/// Compresses an observation's JSON.
pub(crate) fn encode(json: &str) -> Vec<u8> {
    // Priming is the same work for every value (deflating the 6.7 KB dictionary: more than
    // the value itself), so it is done once and the primed state copied: the output is byte
    // for byte the same (tested), measured in docs/BENCHMARKS.md (issue 14).
    static PRIMED: std::sync::OnceLock<CompressorOxide> = std::sync::OnceLock::new();
    let mut d = PRIMED.get_or_init(primed).clone();
    let mut out = Vec::with_capacity(json.len() / 4 + 16);
    out.push(FORMAT_DEFLATE_DICT_1);
    push_len(&mut out, json.len());
    feed(&mut d, json.as_bytes(), TDEFLFlush::Finish, &mut out);
    out
}

/// The JSON of a compressed observation, exactly as it was given to [`encode`].
pub(crate) fn decode(stored: &[u8]) -> Result<String, CodecError> {
    let (&format, rest) = stored.split_first().ok_or(CodecError::Truncated)?;
    if format != FORMAT_DEFLATE_DICT_1 {
        return Err(CodecError::UnknownFormat(format));
    }
    let (len, used) = read_len(rest)?;
    if len > MAX_LEN {
        return Err(CodecError::Corrupt);
    }
    let data = &rest[used..];
    let mut out = Vec::with_capacity(DICT_1.len() + len);
    out.extend_from_slice(DICT_1);
    out.resize(DICT_1.len() + len, 0);
    let mut r = DecompressorOxide::new();
    let (status, _, written) = decompress(
        &mut r,
        data,
        &mut out,
        DICT_1.len(),
        inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    );
    if status != TINFLStatus::Done || written != len {
        return Err(CodecError::Corrupt);
    }
    out.drain(..DICT_1.len());
    String::from_utf8(out).map_err(|_| CodecError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copied primed state writes exactly what a freshly primed compressor writes, for
    /// one value after another (no state leaks from one value into the next).
    #[test]
    fn copied_priming_gives_the_same_bytes_as_fresh_priming() {
        let fresh = |json: &str| {
            let mut d = primed();
            let mut out = vec![FORMAT_DEFLATE_DICT_1];
            push_len(&mut out, json.len());
            feed(&mut d, json.as_bytes(), TDEFLFlush::Finish, &mut out);
            out
        };
        let values = [
            r#"{"domain":"a.example","mx":{"found":[]}}"#.to_owned(),
            "x".repeat(20_000),
            String::new(),
            r#"{"domain":"b.example","mx":{"found":[{"preference":10}]}}"#.to_owned(),
        ];
        for v in &values {
            let e = encode(v);
            assert_eq!(e, fresh(v));
            assert_eq!(decode(&e).as_deref(), Ok(v.as_str()));
        }
    }

    /// Stored values need every byte of the dictionary: an edit would make them unreadable.
    #[test]
    fn dictionary_1_is_unchanged() {
        let d = ring::digest::digest(&ring::digest::SHA256, DICT_1);
        let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "602b30a8010c15329bd099045fd3e03bf311b0bbd2bdda6f9acee8281b328c14"
        );
    }

    #[test]
    fn round_trips_byte_for_byte() {
        for json in [
            String::new(),
            r#"{"domain":"example.org","mx":{"status":"found","value":[]}}"#.to_owned(),
            // Longer than the window, with text the dictionary has never seen.
            format!(
                "{{\"txt\":\"{}\"}}",
                (0..20_000)
                    .map(|i| (i * 7919 % 95 + 32) as u8 as char)
                    .filter(|c| *c != '"' && *c != '\\')
                    .collect::<String>()
            ),
            "日本語のバナー \u{1F600}".repeat(300),
        ] {
            let z = encode(&json);
            assert_eq!(decode(&z).as_deref(), Ok(json.as_str()));
        }
    }

    #[test]
    fn the_dictionary_pays_on_a_small_observation() {
        let json = r#"{"domain":"shop.example.net","mx":{"status":"found","value":[{"preference":10,"exchange":"mx1.example.net."}]},"mx_mode":"explicit","hosts":[{"name":"mx1.example.net.","preference":10,"addresses":{"status":"found","value":["192.0.2.7"]},"excluded":false}],"skipped":[]}"#;
        let z = encode(json);
        assert!(z.len() * 3 < json.len(), "{} of {}", z.len(), json.len());
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let z = encode(r#"{"domain":"example.org"}"#);
        assert_eq!(decode(&[]), Err(CodecError::Truncated));
        assert_eq!(decode(&[9, 1, 2]), Err(CodecError::UnknownFormat(9)));
        let mut cut = z.clone();
        cut.truncate(z.len() - 2);
        assert!(decode(&cut).is_err());
        let mut long = z.clone();
        long[1] = 0x7f; // claims 127 bytes
        assert!(decode(&long).is_err());
        let mut flipped = z;
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        let _ = decode(&flipped); // any outcome but a panic
    }
}
