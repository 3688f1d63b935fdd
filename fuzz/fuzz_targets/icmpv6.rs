//! ICMPv6 and NDP: parse arbitrary bytes (the first 32 are the pseudo-header
//! addresses), as they are and with the checksum fixed up; a parsed message
//! emits and parses back to the same `Repr`. The quote of a destination
//! unreachable or packet too big goes through what TCP reads of it.
#![no_main]

use core::net::Ipv6Addr;
use libfuzzer_sys::fuzz_target;
use mirage::net::ip::IcmpErrorKind;
use mirage::net::wire::icmpv6::{NdiscOptions, Packet, Repr};
use mirage::net::wire::tcp::Quoted;

fn check(data: &[u8], src: Ipv6Addr, dst: Ipv6Addr) {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let _ = (p.target_addr(), p.retrans_time(), p.router_lifetime());
    for o in NdiscOptions::new(p.data()) {
        let _ = o;
    }
    let Ok(r) = Repr::parse(&p, src, dst) else {
        return;
    };
    match r {
        Repr::DstUnreachable { code, data } => {
            let _ = (
                IcmpErrorKind::from_icmpv6_unreachable(code),
                Quoted::parse(data),
            );
        }
        Repr::PktTooBig { data, .. } => {
            let _ = Quoted::parse(data);
        }
        _ => {}
    }
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]), src, dst);
    let p2 = Packet::new_checked(&buf[..]).expect("emitted message is checked");
    assert_eq!(Repr::parse(&p2, src, dst), Ok(r));
}

fuzz_target!(|data: &[u8]| {
    let Some((addrs, msg)) = data.split_at_checked(32) else {
        return;
    };
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&addrs[..16]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&addrs[16..]).unwrap());
    check(msg, src, dst);
    let mut fixed = msg.to_vec();
    if let Ok(mut p) = Packet::new_checked(&mut fixed[..]) {
        p.fill_checksum(src, dst);
        check(&fixed, src, dst);
    }
});
