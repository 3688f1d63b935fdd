//! Congestion control, loss detection and the retransmission timer
//! against the RFCs, with crafted ACKs: what counts as a duplicate
//! acknowledgment (RFC 6675 sections 2 and 5), growth of the window only
//! while it is used (RFC 9438 section 5.8, RFC 7661), the restart after
//! idle (RFC 5681 section 4.1), the threshold without Limited Transmit's
//! segments (RFC 5681 section 3.2), the resends after a timeout (RFC 6675
//! section 5.1, RFC 6582, RFC 8985 section 7.2), and Karn's algorithm
//! with and without timestamps (RFC 6298 section 5, RFC 7323 section 4).

use super::harness::*;
use crate::net::wire::tcp::{Flags, SeqNumber};
use alloc::vec::Vec;

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
        let out = sack(&mut p, una, &[]);
        assert!(out.iter().all(|s| s.seq != una), "resent");
    }
    assert_eq!(p.us.stats().fast_retransmits, 0);
    assert_eq!(p.us.info(p.id).unwrap().cwnd, cwnd);
}

#[test]
fn the_window_does_not_grow_while_the_application_leaves_it_unused() {
    // Request/response: one small segment in flight at a time. The window
    // is never used, so its acknowledgments do not validate growth (RFC
    // 9438 section 5.8, RFC 7661; Linux's `tcp_is_cwnd_limited`): a window
    // grown this way would later let a burst leave at once that the path
    // never carried.
    let mut p = Peer::passive(crate::net::tcp::Config::default());
    let initial = p.us.info(p.id).unwrap().cwnd;
    for _ in 0..200 {
        p.us.send(p.id, &[7u8; 64]).unwrap();
        let out = p.wait(0);
        assert_eq!(out.len(), 1);
        p.ack = out[0].seq + out[0].payload.len();
        p.send(Flags::ACK, b"");
    }
    assert_eq!(p.us.info(p.id).unwrap().cwnd, initial);
}

#[test]
fn the_window_does_not_grow_past_twice_what_the_peer_lets_fly() {
    // A bulk sender held back by the peer's window of four segments: the
    // congestion window is not what limits it and must not grow without
    // bound (with CUBIC, far from the last loss, it would grow by half
    // per round trip until it overflowed).
    let (mut p, first) = sending(80);
    let more = alloc::vec![0x42u8; 80 * SEG];
    let mut una = first[0].seq;
    let mut last = first.last().unwrap().seq + SEG;
    let window = ((4 * SEG) >> 7) as u16;
    let mut max_cwnd = 0;
    for _ in 0..300 {
        // Everything in flight acknowledged, with a window of four
        // segments.
        let mut s = p.seg(Flags::ACK, b"");
        s.ack = last;
        s.window = window;
        let mut out = p.deliver(&s);
        una = una.max(last);
        // The application keeps the send buffer full.
        p.us.send(p.id, &more).unwrap();
        out.extend(p.wait(0));
        if let Some(l) = out.last() {
            last = l.seq + l.payload.len();
        }
        max_cwnd = max_cwnd.max(p.us.info(p.id).unwrap().cwnd);
    }
    assert!(una > first[0].seq + 200 * SEG, "the transfer went on");
    // (The first flight filled the initial window: its ACK grew it once.)
    assert!(max_cwnd <= 12 * SEG, "cwnd grew to {max_cwnd}");
}

/// Acknowledges everything in flight, round after round, until `segments`
/// full segments queued by the application are acknowledged; `first` is
/// the first round.
fn ack_rounds(p: &mut Peer, first: Vec<Seg>) {
    let mut out = first;
    while let Some(l) = out.last() {
        p.ack = l.seq + l.payload.len();
        out = p.send(Flags::ACK, b"");
    }
}

#[test]
fn the_window_restarts_after_an_idle_time_longer_than_the_rto() {
    // RFC 5681 section 4.1: after no data was sent for longer than the
    // retransmission timeout, the ACK clock is lost; the window is at
    // most the initial one (as Linux's tcp_slow_start_after_idle).
    let (mut p, first) = sending(60);
    let initial = first.len();
    ack_rounds(&mut p, first);
    let grown = p.us.info(p.id).unwrap().cwnd;
    assert!(grown > 15 * SEG, "the window grew: {grown}");
    let rto = p.us.info(p.id).unwrap().rto_ns;
    let out = p.wait(2 * rto);
    assert!(out.is_empty(), "{out:?}");
    p.us.send(p.id, &alloc::vec![1u8; 40 * SEG]).unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), initial, "a burst after idle");
    // Sending on without a pause keeps the window.
    ack_rounds(&mut p, out);
    p.us.send(p.id, &alloc::vec![1u8; 40 * SEG]).unwrap();
    let cwnd = p.us.info(p.id).unwrap().cwnd;
    let out = p.wait(0);
    assert!(
        out.len() * SEG >= cwnd.min(40 * SEG) - SEG,
        "{} segments for {cwnd}",
        out.len()
    );
}

#[test]
fn after_a_timeout_sacked_segments_are_not_sent_again() {
    // The first and the sixth segments of the flight are lost, and every ACK of the rest too: the
    // retransmission timeout resends the first. The peer's ACK of it then
    // reports the rest held but the sixth: only the sixth goes again, not
    // the segments the peer holds (RFC 6675 section 5.1: the SACK
    // information after a timeout SHOULD be used; Linux keeps it).
    let (mut p, first) = sending(10);
    assert_eq!(first.len(), 10);
    let una = first[0].seq;
    let k = |i: usize| una + i * SEG;
    let mut out = Vec::new();
    while p.us.stats().timeouts == 0 {
        out = p.wait(MS);
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq, una);
    let out = sack(&mut p, k(5), &[(k(6), k(10))]);
    let seqs: Vec<_> = out.iter().map(|s| s.seq).collect();
    assert_eq!(seqs.first(), Some(&k(5)), "{seqs:?}");
    assert!(
        seqs.iter().all(|&s| s < k(6) || s >= k(10)),
        "resent what the peer holds: {seqs:?}"
    );
    // The same ACK again (duplicated by the network, or late): the sixth
    // is resent already; its SACK blocks start no recovery before what
    // was in flight at the timeout is acknowledged (RFC 6675 section 5.1,
    // RFC 6582's `recover`).
    let out = sack(&mut p, k(5), &[(k(6), k(10))]);
    assert!(out.is_empty(), "{} segments", out.len());
    assert_eq!(p.us.stats().fast_retransmits, 0);
    // The ACK of the sixth covers everything: nothing more to resend.
    let out = sack(&mut p, k(10), &[]);
    assert!(out.is_empty(), "{} segments", out.len());
    assert_eq!(p.us.info(p.id).unwrap().bytes_in_flight, 0);
}

/// A connection (with `config`) that sent one small segment and whose
/// retransmission timeout resent it once, the peer silent; returns it
/// with the segment as first sent.
fn timed_out_once(config: crate::net::tcp::Config) -> (Peer, Seg) {
    let mut p = Peer::passive(config);
    p.us.send(p.id, b"request").unwrap();
    let first = p.wait(0).remove(0);
    while p.us.stats().timeouts == 0 {
        p.wait(MS);
    }
    (p, first)
}

#[test]
fn with_timestamps_the_ack_after_a_timeout_measures_the_round_trip() {
    // The round trip grew from nothing to 300 ms, past the RTO of 200 ms:
    // the timeout resent the segment, and the ACK of the original came
    // 300 ms after it left. Its timestamp echo tells which one it
    // acknowledges (RFC 7323 section 4): the sample must be taken, or
    // the timer, no longer backed off, fires early for every segment
    // from then on, never to measure the round trip again.
    let (mut p, first) = timed_out_once(crate::net::tcp::Config::default());
    let tsval = first.options.timestamp.unwrap().0;
    // (The handshake, and the segment, at 1 s of the peer's clock.)
    p.now = 1_300 * MS;
    let mut ack = p.seg(Flags::ACK, b"");
    ack.ack = first.seq + first.payload.len();
    ack.options.timestamp = Some((p.ts, tsval));
    p.deliver(&ack);
    let rto = p.us.info(p.id).unwrap().rto_ns;
    assert!(rto > 300 * MS, "RTO {} ms", rto / MS);
    // The next request's reply, 300 ms later too, is waited for (a tail
    // loss probe may go: it is not a timeout).
    p.us.send(p.id, b"request").unwrap();
    p.wait(300 * MS);
    assert_eq!(p.us.stats().timeouts, 1, "timed out early");
}

#[test]
fn without_timestamps_the_timer_stays_backed_off_until_a_clean_sample() {
    // Karn's algorithm (RFC 6298 section 5, after rule 5.7): the ACK of a
    // resent segment gives no sample without timestamps, and the backed
    // off timer stays until a segment sent once is acknowledged. Taken
    // back at once, it fires before the 300 ms round trip again (the tail
    // loss probe may go: it is not a timeout).
    let config = crate::net::tcp::Config {
        timestamps: false,
        ..Default::default()
    };
    let (mut p, first) = timed_out_once(config);
    p.now = 1_300 * MS;
    let mut ack = p.seg(Flags::ACK, b"");
    ack.ack = first.seq + first.payload.len();
    ack.options.timestamp = None;
    p.deliver(&ack);
    p.us.send(p.id, b"request").unwrap();
    p.wait(300 * MS);
    assert_eq!(p.us.stats().timeouts, 1, "timed out early");
}

#[test]
fn limited_transmit_segments_do_not_count_in_the_threshold() {
    // RFC 5681 section 3.2 step 2: the data sent by Limited Transmit
    // (RFC 3042) MUST NOT be included in the FlightSize that sets
    // ssthresh on the third duplicate ACK.
    let mut p = Peer::passive(crate::net::tcp::Config {
        congestion: crate::net::tcp::CongestionAlgorithm::NewReno,
        ..Default::default()
    });
    p.us.send(p.id, &alloc::vec![1u8; 40 * SEG]).unwrap();
    let first = p.wait(0);
    let cwnd = p.us.info(p.id).unwrap().cwnd;
    assert_eq!(first.len() * SEG, cwnd, "a full window");
    let una = first[0].seq;
    let mut sent = 0;
    for k in 2..=4 {
        sent += sack(&mut p, una, &[(una + SEG, una + k * SEG)]).len();
    }
    assert_eq!(p.us.stats().fast_retransmits, 1);
    assert_eq!(sent, 3, "two by Limited Transmit, then the retransmission");
    assert_eq!(p.us.info(p.id).unwrap().ssthresh, cwnd / 2);
}

#[test]
fn without_sack_duplicates_of_needless_resends_after_a_timeout_start_no_recovery() {
    // RFC 6582 section 3.2 step 1 (the "bugfix"): after a timeout, the
    // resends from SND.UNA include segments the peer held; each draws a
    // duplicate ACK of what was in flight at the timeout. They must not
    // start a fast retransmit (and a second cut of the window) unless
    // the ACK covers more than that, or (section 4.1's heuristic) the
    // ACK that reached it advanced by at most four segments.
    let mut p = Peer::passive(crate::net::tcp::Config {
        sack: false,
        ..Default::default()
    });
    p.us.send(p.id, &alloc::vec![1u8; 40 * SEG]).unwrap();
    let first = p.wait(0);
    assert_eq!(first.len(), 10);
    let k = |i: usize| first[0].seq + i * SEG;
    // Segments 0, 2 and 5 are lost, and every ACK of the others.
    while p.us.stats().timeouts == 0 {
        p.wait(MS);
    }
    let ack = |p: &mut Peer, a: SeqNumber| {
        p.ack = a;
        p.send(Flags::ACK, b"")
    };
    let out = ack(&mut p, k(2));
    assert_eq!(out.first().map(|s| s.seq), Some(k(2)));
    let out = ack(&mut p, k(5));
    assert_eq!(out.first().map(|s| s.seq), Some(k(5)));
    // The resent 3 and 4: duplicates of 5. Then 5 arrives: all of the
    // flight of the timeout is acknowledged, five segments at once.
    ack(&mut p, k(5));
    ack(&mut p, k(5));
    ack(&mut p, k(10));
    // The resent 6 to 9, which the peer held: four duplicates of 10.
    let mut resent = Vec::new();
    for _ in 0..4 {
        resent.extend(ack(&mut p, k(10)).into_iter().filter(|s| s.seq == k(10)));
    }
    assert!(resent.is_empty(), "{} resent", resent.len());
    assert_eq!(p.us.stats().fast_retransmits, 0);
}

#[test]
fn without_sack_a_loss_right_after_a_timeout_is_still_fast_retransmitted() {
    // The other side of RFC 6582 section 4.1's heuristic: the ACK that
    // reached the flight of the timeout advanced by few segments, so
    // duplicates of it tell of a loss, not of needless resends.
    let mut p = Peer::passive(crate::net::tcp::Config {
        sack: false,
        ..Default::default()
    });
    p.us.send(p.id, &alloc::vec![1u8; 3 * SEG]).unwrap();
    let first = p.wait(0);
    assert_eq!(first.len(), 3);
    let k = |i: usize| first[0].seq + i * SEG;
    while p.us.stats().timeouts == 0 {
        p.wait(MS);
    }
    p.us.send(p.id, &alloc::vec![1u8; 20 * SEG]).unwrap();
    p.ack = k(3);
    let out = p.send(Flags::ACK, b"");
    assert_eq!(out.first().map(|s| s.seq), Some(k(3)));
    // Segment 3 is lost; the others draw duplicates of 3.
    let mut resent = false;
    for _ in 0..6 {
        resent |= p.send(Flags::ACK, b"").iter().any(|s| s.seq == k(3));
    }
    assert!(resent);
    assert_eq!(p.us.stats().fast_retransmits, 1);
    assert_eq!(p.us.stats().timeouts, 1);
}

#[test]
fn no_tail_loss_probe_while_resending_after_a_timeout() {
    // RFC 8985 section 7.2: a probe timeout is scheduled only outside loss
    // recovery. After a timeout the last segment of the flight taken back
    // was likely received (here it is SACKed): probing it again only
    // draws a duplicate, and no recovery may start from it anyway.
    let (mut p, first) = sending(10);
    let una = first[0].seq;
    let k = |i: usize| una + i * SEG;
    while p.us.stats().timeouts == 0 {
        p.wait(MS);
    }
    let probes = p.us.stats().tail_loss_probes;
    let out = sack(&mut p, k(5), &[(k(6), k(10))]);
    assert_eq!(out.len(), 1);
    // Silence, shorter than the (backed off) retransmission timeout.
    let out = p.wait(100 * MS);
    assert!(out.is_empty(), "{} segments", out.len());
    assert_eq!(p.us.stats().tail_loss_probes, probes);
}

#[test]
fn an_ack_that_advances_and_sacks_new_data_counts_as_a_duplicate() {
    // RFC 6675 section 5: an ACK that SACKs new data is a duplicate
    // "regardless of its status as a cumulative acknowledgment". The
    // last three segments: the first arrives, the second is lost, the
    // third arrives; the peer acknowledges the first and SACKs the third
    // in one ACK. With one segment outstanding beyond the hole and nothing
    // more to send, that one duplicate is Early Retransmit's threshold
    // (RFC 5827): the hole goes again at once, not after a probe and a
    // timeout.
    let (mut p, first) = sending(3);
    assert_eq!(first.len(), 3);
    let k = |i: usize| first[0].seq + i * SEG;
    let out = sack(&mut p, k(1), &[(k(2), k(3))]);
    assert_eq!(
        out.first().map(|s| s.seq),
        Some(k(1)),
        "{} segments",
        out.len()
    );
    assert_eq!(p.us.stats().fast_retransmits, 1);
}
