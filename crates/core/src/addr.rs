//! Address classes. A scanned domain's DNS is attacker-controlled: an MX that resolves to
//! 127.0.0.1 or 10.0.0.5 would aim the scanner at the network it runs in. Such addresses are
//! recorded as findings and only contacted when the operator allows it.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where an address lives.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressClass {
    /// Globally routable.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918, RFC 4193 (fc00::/7), 100.64.0.0/10 shared address space.
    Private,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// Unspecified, multicast, broadcast, documentation, benchmarking, 0/8, 240/4 and other
    /// special-purpose blocks (RFC 6890).
    Reserved,
}

impl AddressClass {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Reserved => "reserved",
        }
    }
}

/// Maps IPv4-mapped IPv6 (`::ffff:a.b.c.d`) to IPv4, so that policies see one form.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Classifies an address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        AddressClass::Private
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if a == 0
        || a >= 224
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || (a == 192 && b == 88 && c == 99)
    {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

/// The IPv4 address a 6to4 address (`2002:AABB:CCDD::/48`, RFC 3056) routes to.
pub fn six_to_four(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    (seg[0] == 0x2002).then(|| {
        let [a, b] = seg[1].to_be_bytes();
        let [c, d] = seg[2].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    })
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let seg = ip.segments();
    if let Some(v4) = six_to_four(ip) {
        // A 6to4 address reaches the IPv4 address it embeds: it is what that address is
        // (2002:0a00:0001:: is 10.0.0.1, private).
        return classify_v4(v4);
    }
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_unspecified() || ip.is_multicast() {
        AddressClass::Reserved
    } else if seg[0] & 0xfe00 == 0xfc00 {
        AddressClass::Private
    } else if seg[0] & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if (seg[0] == 0x2001 && seg[1] == 0x0db8)
        || seg[0] & 0xe000 != 0x2000
        || (seg[0] == 0x2001 && seg[1] < 0x0200)
    {
        // Documentation, everything outside 2000::/3 (global unicast), and the 2001::/23
        // IETF protocol assignments (Teredo, ORCHID, benchmarking).
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let c = |s: &str| classify(s.parse().unwrap());
        assert_eq!(c("8.8.8.8"), AddressClass::Public);
        assert_eq!(c("127.0.25.1"), AddressClass::Loopback);
        assert_eq!(c("10.1.2.3"), AddressClass::Private);
        assert_eq!(c("172.16.0.1"), AddressClass::Private);
        assert_eq!(c("192.168.1.1"), AddressClass::Private);
        assert_eq!(c("100.64.0.1"), AddressClass::Private);
        assert_eq!(c("169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(c("0.0.0.0"), AddressClass::Reserved);
        assert_eq!(c("255.255.255.255"), AddressClass::Reserved);
        assert_eq!(c("192.0.2.1"), AddressClass::Reserved);
        assert_eq!(c("224.0.0.1"), AddressClass::Reserved);
        assert_eq!(c("::1"), AddressClass::Loopback);
        assert_eq!(c("::ffff:127.0.0.1"), AddressClass::Loopback);
        assert_eq!(c("::ffff:10.0.0.1"), AddressClass::Private);
        assert_eq!(c("fd00::1"), AddressClass::Private);
        assert_eq!(c("fe80::1"), AddressClass::LinkLocal);
        assert_eq!(c("2001:db8::1"), AddressClass::Reserved);
        assert_eq!(c("2a00:1450:4001:80b::200e"), AddressClass::Public);
        assert_eq!(c("::"), AddressClass::Reserved);
        // Issue 15 (8): 6to4 is the IPv4 address it embeds.
        assert_eq!(c("2002:0a00:0001::1"), AddressClass::Private);
        assert_eq!(c("2002:7f00:0001::"), AddressClass::Loopback);
        assert_eq!(c("2002:a9fe:a9fe::1"), AddressClass::LinkLocal);
        assert_eq!(c("2002:c000:0201::1"), AddressClass::Reserved);
        assert_eq!(c("2002:0808:0808::1"), AddressClass::Public);
    }
}
