//! Ethernet: parse arbitrary bytes; a parsed header emits and parses back
//! to the same `Repr`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirage::net::wire::ethernet::{Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let _ = (p.dst_addr(), p.src_addr(), p.ethertype(), p.payload());
    let Ok(r) = Repr::parse(&p) else { return };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]));
    let p2 = Packet::new_checked(&buf[..]).expect("emitted header is checked");
    assert_eq!(Repr::parse(&p2), Ok(r));
});
