//! A tiny MaxMind DB writer for tests (IPv4 trees, 32-bit records, ASN records only), so the
//! `--asn-db` tests need no downloaded database and no Python tool.
//!
//! Format (MaxMind DB spec 2.0): a binary search tree of `node_count` nodes, each two records
//! (left = bit 0, right = bit 1); a record `< node_count` is a node, `== node_count` means no
//! data, `> node_count` points into the data section at `record - node_count - 16`. Then 16
//! zero bytes, the data section, the marker `\xAB\xCD\xEFMaxMind.com` and the metadata map.

#[derive(Clone, Copy)]
enum Rec {
    Node(usize),
    Empty,
    Data(usize),
}

/// One network: `(first address, prefix length, AS number, organisation)`.
pub type Net<'a> = (std::net::Ipv4Addr, u8, u32, &'a str);

/// The bytes of an mmdb file mapping each network to its AS.
pub fn asn_db(nets: &[Net<'_>]) -> Vec<u8> {
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for (i, (addr, prefix, asn, org)) in nets.iter().enumerate() {
        assert!((1..=32).contains(prefix), "prefix 1..=32");
        offsets.push(data.len());
        map(&mut data, 2);
        string(&mut data, "autonomous_system_number");
        uint(&mut data, 6, u64::from(*asn));
        string(&mut data, "autonomous_system_organization");
        string(&mut data, org);
        let bits = u32::from(*addr);
        let mut node = 0;
        for depth in 0..*prefix {
            let bit = ((bits >> (31 - depth)) & 1) as usize;
            if depth + 1 == *prefix {
                nodes[node][bit] = Rec::Data(i);
            } else {
                node = match nodes[node][bit] {
                    Rec::Node(n) => n,
                    _ => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(n);
                        n
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for n in &nodes {
        for r in n {
            let v = match *r {
                Rec::Node(i) => i,
                Rec::Empty => count,
                Rec::Data(d) => count + 16 + offsets[d],
            };
            out.extend_from_slice(&u32::try_from(v).expect("small tree").to_be_bytes());
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let mut m = Vec::new();
    map(&mut m, 9);
    string(&mut m, "binary_format_major_version");
    uint(&mut m, 5, 2);
    string(&mut m, "binary_format_minor_version");
    uint(&mut m, 5, 0);
    string(&mut m, "build_epoch");
    uint(&mut m, 9, 1_700_000_000);
    string(&mut m, "database_type");
    string(&mut m, "mxray-test-ASN");
    string(&mut m, "description");
    map(&mut m, 1);
    string(&mut m, "en");
    string(&mut m, "mxray test ASN database");
    string(&mut m, "ip_version");
    uint(&mut m, 5, 4);
    string(&mut m, "languages");
    control(&mut m, 11, 1);
    string(&mut m, "en");
    string(&mut m, "node_count");
    uint(&mut m, 6, count as u64);
    string(&mut m, "record_size");
    uint(&mut m, 5, 32);
    out.extend_from_slice(&m);
    out
}

/// Type and size (< 285); types above 7 use the extended form.
fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (first, ext) = if ty <= 7 {
        (ty << 5, None)
    } else {
        (0, Some(ty - 7))
    };
    if size < 29 {
        out.push(first | size as u8);
        out.extend(ext);
    } else {
        assert!(size < 29 + 256, "test strings are short");
        out.push(first | 29);
        out.extend(ext);
        out.push((size - 29) as u8);
    }
}

fn map(out: &mut Vec<u8>, pairs: usize) {
    control(out, 7, pairs);
}

fn string(out: &mut Vec<u8>, s: &str) {
    control(out, 2, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Unsigned integer of type 5 (16 bits), 6 (32) or 9 (64), minimal big-endian bytes.
fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, ty, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

#[test]
fn the_writer_produces_what_maxminddb_reads() {
    let bytes = asn_db(&[
        ("192.0.2.0".parse().unwrap(), 24, 64500, "Example Hosting"),
        (
            "198.51.100.128".parse().unwrap(),
            25,
            4_200_000_001,
            "Other Net",
        ),
    ]);
    let r = maxminddb::Reader::from_source(bytes).expect("valid mmdb");
    let asn = |ip: &str| {
        r.lookup(ip.parse().unwrap())
            .unwrap()
            .decode::<maxminddb::geoip2::Asn<'_>>()
            .unwrap()
            .map(|a| {
                (
                    a.autonomous_system_number,
                    a.autonomous_system_organization.map(str::to_owned),
                )
            })
    };
    assert_eq!(
        asn("192.0.2.77"),
        Some((Some(64500), Some("Example Hosting".into())))
    );
    assert_eq!(
        asn("198.51.100.200"),
        Some((Some(4_200_000_001), Some("Other Net".into())))
    );
    assert_eq!(asn("198.51.100.1"), None);
    assert_eq!(asn("203.0.113.1"), None);
}
