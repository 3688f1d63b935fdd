//! ICMPv4: parse arbitrary bytes, as they are and with the checksum fixed
//! up; a parsed message emits and parses back to the same `Repr`. The
//! quote of a destination unreachable goes through what TCP reads of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirage::net::ip::IcmpErrorKind;
use mirage::net::wire::icmpv4::{Packet, Repr};
use mirage::net::wire::tcp::Quoted;

fn check(data: &[u8]) {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let _ = (p.echo_ident(), p.next_hop_mtu(), p.data());
    let Ok(r) = Repr::parse(&p) else { return };
    if let Repr::DstUnreachable { code, mtu, quoted } = r {
        let _ = (
            IcmpErrorKind::from_icmpv4_unreachable(code, mtu),
            Quoted::parse(quoted),
        );
    }
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]));
    let p2 = Packet::new_checked(&buf[..]).expect("emitted message is checked");
    assert_eq!(Repr::parse(&p2), Ok(r));
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut fixed = data.to_vec();
    if let Ok(mut p) = Packet::new_checked(&mut fixed[..]) {
        p.fill_checksum();
        check(&fixed);
    }
});
