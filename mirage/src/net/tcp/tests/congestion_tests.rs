//! Congestion control and loss detection against the RFCs, with crafted
//! ACKs: what counts as a duplicate acknowledgment with SACK (RFC 6675
//! section 2), growth of the window only while it is used (RFC 9438
//! section 5.8, RFC 7661), and the restart after idle (RFC 5681 section
//! 4.1).

use super::harness::*;
use crate::net::wire::tcp::{Flags, SeqNumber};
use alloc::vec::Vec;

/// An ACK from the peer for `ack` that SACKs `blocks`.
fn ack_sack(p: &mut Peer, ack: SeqNumber, blocks: &[(SeqNumber, SeqNumber)]) -> Vec<Seg> {
    let mut s = p.seg(Flags::ACK, b"");
    s.ack = ack;
    for (i, &b) in blocks.iter().enumerate() {
        s.options.sack[i] = b;
    }
    s.options.sack_len = blocks.len() as u8;
    p.deliver(&s)
}

#[test]
fn plain_duplicate_acks_do_not_start_sack_recovery() {
    // With SACK, a duplicate acknowledgment is one that SACKs new data
    // (RFC 6675 section 2). A receiver that holds no out-of-order data
    // repeats its ACK without SACK blocks only for a segment it already
    // had (the network duplicated it, or a timeout resent it): nothing
    // was lost, and three of them must not halve the window.
    let (mut p, first) = sending(40);
    let una = first[0].seq;
    let cwnd = p.us.info(p.id).unwrap().cwnd;
    for _ in 0..4 {
        let out = ack_sack(&mut p, una, &[]);
        assert!(out.iter().all(|s| s.seq != una), "resent");
    }
    assert_eq!(p.us.stats().fast_retransmits, 0);
    assert_eq!(p.us.info(p.id).unwrap().cwnd, cwnd);
}
