//! Connection management: listeners and their backlogs, SYN cookies,
//! TIME-WAIT records and their reuse (RFC 9293 section 3.6.1, RFC 6191),
//! initial sequence numbers and ephemeral ports.

use super::harness::*;
use crate::net::tcp::Config;
use crate::net::wire::tcp::{Flags, SeqNumber};

/// A passive connection that we closed first and the peer acknowledged
/// with its own FIN: released, it is a TIME-WAIT record. Returns the
/// peer and our `SND.NXT` when it ended (after our FIN).
fn time_wait_record(config: Config, data: usize) -> (Peer, SeqNumber) {
    let mut p = Peer::passive(config);
    let mut left = data;
    while left > 0 {
        left -= p.us.send(p.id, &[7u8; 8192][..left.min(8192)]).unwrap();
        for s in p.wait(0) {
            p.ack = p.ack.max(s.seq + s.payload.len());
        }
        p.send(Flags::ACK, b"");
    }
    p.us.close(p.id).unwrap();
    let fin = p.wait(0).remove(0);
    assert!(fin.flags.fin(), "{fin:?}");
    p.ack = fin.seq + 1;
    let out = p.send(Flags::FIN | Flags::ACK, b"");
    assert_eq!(out.len(), 1, "the ACK of the peer's FIN: {out:?}");
    let o = p.us.occupancy();
    assert_eq!((o.connections, o.time_wait), (0, 1), "{o:?}");
    (p, fin.seq + 1)
}

/// RFC 9293 section 3.10.7.4: in TIME-WAIT only a retransmitted FIN (or an
/// unacceptable segment) is acknowledged. A bare ACK at RCV.NXT draws no
/// reply, or two ends in TIME-WAIT (after a simultaneous close), one
/// duplicated ACK between them, acknowledge each other's ACKs for 2 MSL.
#[test]
fn a_time_wait_record_does_not_answer_an_acceptable_bare_ack() {
    let (mut p, _) = time_wait_record(Config::default(), 0);
    let out = p.send(Flags::ACK, b"");
    assert!(out.is_empty(), "an ACK of an ACK: {out:?}");
    // An unacceptable segment is still answered (a keep-alive probe,
    // below RCV.NXT) ...
    let mut probe = p.seg(Flags::ACK, b"");
    probe.seq = p.seq - 1;
    assert_eq!(p.deliver(&probe).len(), 1);
    // ... and so is a retransmitted FIN.
    p.seq = p.seq - 1;
    let out = p.send(Flags::FIN | Flags::ACK, b"");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, p.seq);
}

/// Both ends released in a simultaneous close are TIME-WAIT records; a
/// duplicated ACK on the wire must not start an exchange of ACKs (which
/// only the shared challenge-ACK budget would stop, after a thousand).
#[test]
fn two_time_wait_records_do_not_ack_each_other() {
    let mut sim = Sim::new(Config::default(), Config::default(), Impair::default(), 5);
    let (a, b) = open(&mut sim, 80);
    sim.impair = Impair {
        dup_per_mille: 1000,
        delay_ns: MS,
        ..Impair::default()
    };
    let before = sim.a.stats().segments_out + sim.b.stats().segments_out;
    sim.a.close(a).unwrap();
    sim.b.close(b).unwrap();
    sim.advance(2_000 * MS);
    for t in [&sim.a, &sim.b] {
        let o = t.occupancy();
        assert_eq!((o.connections, o.time_wait), (0, 1), "{o:?}");
    }
    // Each end: its FIN, its ACK of the other's, that again for the
    // duplicated FIN.
    let sent = sim.a.stats().segments_out + sim.b.stats().segments_out - before;
    assert!(sent <= 6, "{sent} segments in the close");
}
