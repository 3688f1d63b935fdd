//! DHCPv4: parse arbitrary bytes and walk the options; a parsed message
//! emits and parses back to the same `Repr`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirage::net::wire::dhcpv4::{Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let _ = (
        p.transaction_id(),
        p.client_hardware_addr(),
        p.magic_number(),
    );
    for o in p.options() {
        let _ = o;
    }
    let Ok(r) = Repr::parse(&p) else { return };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]));
    let p2 = Packet::new_checked(&buf[..]).expect("emitted message is checked");
    assert_eq!(Repr::parse(&p2), Ok(r));
});
