//! TCP: parse arbitrary bytes (the first byte picks IPv4 or IPv6 fixed
//! addresses), as they are and with the checksum fixed up; a parsed segment
//! emits and parses back to the same `Repr`, and the zero-copy path
//! (`emit_header`, payload by hand, `fill_checksum`) gives the same bytes.
#![no_main]

use core::net::{Ipv4Addr, Ipv6Addr};
use libfuzzer_sys::fuzz_target;
use mirage::net::wire::checksum::PseudoHeader;
use mirage::net::wire::tcp::{Packet, Repr};

fn check(data: &[u8], ph: &PseudoHeader) {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let _ = (
        p.seq_number(),
        p.flags(),
        p.options(),
        p.payload(),
        p.verify_checksum(ph),
    );
    let Ok(r) = Repr::parse(&p, ph) else { return };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]), ph);
    let p2 = Packet::new_checked(&buf[..]).expect("emitted segment is checked");
    assert_eq!(Repr::parse(&p2, ph), Ok(r));
    let mut zc = vec![0u8; r.buffer_len()];
    let mut p3 = Packet::new_unchecked(&mut zc[..]);
    r.emit_header(&mut p3);
    p3.payload_mut().copy_from_slice(r.payload);
    p3.fill_checksum(ph);
    assert_eq!(zc, buf);
}

fuzz_target!(|data: &[u8]| {
    let Some((&family, seg)) = data.split_first() else {
        return;
    };
    let ph = if family & 1 == 0 {
        PseudoHeader::V4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
    } else {
        PseudoHeader::V6(
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        )
    };
    check(seg, &ph);
    let mut fixed = seg.to_vec();
    if let Ok(mut p) = Packet::new_checked(&mut fixed[..]) {
        p.fill_checksum(&ph);
        check(&fixed, &ph);
    }
});
