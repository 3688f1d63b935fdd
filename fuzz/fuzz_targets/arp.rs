//! ARP: parse arbitrary bytes; a parsed packet emits and parses back to
//! the same `Repr`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirage::net::wire::arp::{Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let _ = (
        p.operation(),
        p.source_hardware_addr(),
        p.source_protocol_addr(),
        p.target_hardware_addr(),
        p.target_protocol_addr(),
    );
    let Ok(r) = Repr::parse(&p) else { return };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]));
    let p2 = Packet::new_checked(&buf[..]).expect("emitted packet is checked");
    assert_eq!(Repr::parse(&p2), Ok(r));
});
