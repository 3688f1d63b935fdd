//! The IPv6 addresses neighbour discovery works with: link-local addresses
//! and interface identifiers from a MAC address (modified EUI-64, RFC 4291
//! appendix A), solicited-node groups (RFC 4291 section 2.7.1), the
//! Ethernet address of a multicast group (RFC 2464 section 7), prefix
//! matching.

use core::net::Ipv6Addr;

use crate::net::MacAddr;

/// All nodes on the link (`ff02::1`).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// All routers on the link (`ff02::2`).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// The modified EUI-64 interface identifier of `mac`.
pub fn interface_id(mac: MacAddr) -> [u8; 8] {
    let m = mac.0;
    [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]
}

/// The address made of the first 64 bits of `prefix` and `mac`'s
/// interface identifier.
pub fn with_interface_id(prefix: Ipv6Addr, mac: MacAddr) -> Ipv6Addr {
    let mut o = prefix.octets();
    o[8..].copy_from_slice(&interface_id(mac));
    Ipv6Addr::from(o)
}

/// The link-local address of `mac` (`fe80::/64` and its interface id).
pub fn link_local(mac: MacAddr) -> Ipv6Addr {
    with_interface_id(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), mac)
}

/// The solicited-node multicast group of `addr` (`ff02::1:ffXX:XXXX`).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet address frames to the multicast group `group` go to.
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// Whether `addr` is link-local unicast (`fe80::/10`).
pub fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// Whether the first `len` bits of `a` and `b` agree.
pub fn same_prefix(a: Ipv6Addr, b: Ipv6Addr, len: u8) -> bool {
    let len = u32::from(len.min(128));
    if len == 0 {
        return true;
    }
    let (a, b) = (u128::from(a), u128::from(b));
    (a ^ b) >> (128 - len) == 0
}

/// The first `len` bits of `addr`, the rest zero.
pub fn prefix_of(addr: Ipv6Addr, len: u8) -> Ipv6Addr {
    let len = u32::from(len.min(128));
    if len == 0 {
        return Ipv6Addr::UNSPECIFIED;
    }
    let mask = u128::MAX << (128 - len);
    Ipv6Addr::from(u128::from(addr) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    #[test]
    fn link_local_and_groups_of_a_mac() {
        let ll = link_local(MAC);
        assert_eq!(ll, "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap());
        assert!(is_link_local(ll));
        assert_eq!(
            solicited_node(ll),
            "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            multicast_mac(solicited_node(ll)),
            MacAddr([0x33, 0x33, 0xff, 0x12, 0x34, 0x56])
        );
        assert_eq!(multicast_mac(ALL_NODES), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    }

    #[test]
    fn prefixes() {
        let a: Ipv6Addr = "2001:db8:1:2::5".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:3::5".parse().unwrap();
        assert!(same_prefix(a, b, 47));
        assert!(!same_prefix(a, b, 64));
        assert!(same_prefix(a, b, 0));
        assert_eq!(
            prefix_of(a, 64),
            "2001:db8:1:2::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(prefix_of(a, 128), a);
        assert_eq!(
            with_interface_id(prefix_of(a, 64), MAC),
            "2001:db8:1:2:5054:ff:fe12:3456"
                .parse::<Ipv6Addr>()
                .unwrap()
        );
        assert!(!is_link_local(a));
    }
}
