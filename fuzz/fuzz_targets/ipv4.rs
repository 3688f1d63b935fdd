//! IPv4: parse arbitrary bytes, as they are and with the header checksum
//! fixed up (so the fuzzer gets past it); a parsed header emits and parses
//! back to the same `Repr`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirage::net::wire::ipv4::{Packet, Repr};

fn check(data: &[u8]) {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let _ = (
        p.options(),
        p.payload(),
        p.frag_offset(),
        p.verify_checksum(),
    );
    let Ok(r) = Repr::parse(&p) else { return };
    assert_eq!(r.payload_len, p.payload().len());
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]));
    let p2 = Packet::new_checked(&buf[..]).expect("emitted header is checked");
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
