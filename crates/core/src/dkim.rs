//! DKIM key records (RFC 6376 §3.6.1) at common selectors: key type, RSA size, revoked,
//! testing. The default selector list is `crates/core/data/dkim-selectors.txt`, compiled in.

/// The default selector list (one per line, `#` comments).
pub const DEFAULT_SELECTORS: &str = include_str!("../data/dkim-selectors.txt");

/// The shorter list surveys ask by default (`scan`, `worker`): the most common selectors.
pub const SURVEY_SELECTORS: &str = include_str!("../data/dkim-selectors-survey.txt");

/// The selectors of a list in the `dkim-selectors.txt` format.
pub fn selectors(list: &str) -> Vec<&str> {
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// What a DKIM key record says.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DkimKey {
    /// `k=` (default `rsa`).
    pub key_type: String,
    /// `p=` is empty: the key is revoked.
    pub revoked: bool,
    /// `t=y`: testing mode.
    pub testing: bool,
    /// RSA modulus size in bits, when it could be read.
    pub rsa_bits: Option<usize>,
}

/// Parses a DKIM key record (tag=value; list). `None` if it is not one (no `p=`).
pub fn parse_key(record: &str) -> Option<DkimKey> {
    let mut key_type = "rsa".to_owned();
    let mut p = None;
    let mut testing = false;
    for part in record.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        match k.trim() {
            "k" => key_type = v.to_ascii_lowercase(),
            "p" => p = Some(v),
            "t" => testing = v.split(':').any(|f| f == "y"),
            _ => {}
        }
    }
    let p = p?;
    let rsa_bits = if key_type == "rsa" {
        crate::base64_decode(&p).and_then(|der| rsa_modulus_bits(&der))
    } else {
        None
    };
    Some(DkimKey {
        key_type,
        revoked: p.is_empty(),
        testing,
        rsa_bits,
    })
}

/// One DER TLV: (tag, contents, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&l0, mut b) = b.split_first()?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n]
            .iter()
            .fold(0usize, |a, x| (a << 8) | usize::from(*x));
        b = &b[n..];
        len
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

/// Modulus size of an RSA key given as SubjectPublicKeyInfo or bare RSAPublicKey.
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    let (t, spki, _) = tlv(der)?;
    if t != 0x30 {
        return None;
    }
    let (t1, _, rest) = tlv(spki)?;
    let rsa_key = if t1 == 0x30 {
        let (t, bits, _) = tlv(rest)?;
        if t != 0x03 {
            return None;
        }
        let (t, k, _) = tlv(bits.get(1..)?)?;
        if t != 0x30 {
            return None;
        }
        k
    } else {
        spki
    };
    let (t, n, _) = tlv(rsa_key)?;
    if t != 0x02 {
        return None;
    }
    let n: &[u8] = &n[n.iter().take_while(|b| **b == 0).count()..];
    let first = *n.first()?;
    Some(n.len() * 8 - first.leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1024-bit RSA public key (SubjectPublicKeyInfo, base64), made for this test.
    pub(crate) const KEY_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCTKBqv44Jr9nfI78P9nuUOUsPcxriLVfYvWB5N+y+22Lv0ifB1gAzmWMtjRSCJkS1CgHpcRQyvcBNSvAjjWy8CIgeTo3O0bBykXoeWThOJPrDgiWRq85xzFStUYv2qCdYoye5n4Xr6wd1pRCcf4hlQlrzdGOpewx1Etm97+NpkNwIDAQAB";

    #[test]
    fn reads_rsa_size_revoked_and_testing() {
        let key = parse_key(&format!("v=DKIM1; k=rsa; t=y; p={KEY_1024}")).unwrap();
        assert!(key.testing && !key.revoked);
        assert_eq!(key.rsa_bits, Some(1024));
        assert!(parse_key("v=DKIM1; p=").unwrap().revoked);
        assert!(parse_key("v=spf1 -all").is_none());
        assert!(selectors(DEFAULT_SELECTORS).contains(&"selector1"));
        // The survey list is a subset of the full one.
        let survey = selectors(SURVEY_SELECTORS);
        assert_eq!(survey.len(), 5);
        assert!(
            survey
                .iter()
                .all(|s| selectors(DEFAULT_SELECTORS).contains(s))
        );
    }
}
