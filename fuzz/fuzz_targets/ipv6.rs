//! IPv6: parse arbitrary bytes and walk the extension headers; a parsed
//! header (and fragment header) emits and parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirage::net::wire::ipv6::{FragmentHeader, Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let _ = (p.traffic_class(), p.flow_label(), p.payload());
    for h in p.ext_headers() {
        let _ = h.map(|h| h.fragment());
    }
    if let Ok(up) = p.ext_headers().upper_layer() {
        assert!(up.offset + up.payload.len() == p.payload().len());
        if let Some(f) = up.fragment {
            let mut b = [0u8; 8];
            f.emit(&mut b);
            assert_eq!(FragmentHeader::parse(&b), Ok(f));
        }
    }
    let Ok(r) = Repr::parse(&p) else { return };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]));
    let p2 = Packet::new_checked(&buf[..]).expect("emitted header is checked");
    assert_eq!(Repr::parse(&p2), Ok(r));
});
