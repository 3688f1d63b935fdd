//! Hostile segments: blind RST, SYN and data injection (RFC 5961), bad
//! flag combinations, out-of-window and malformed segments, floods. None
//! may disturb an established connection beyond what the RFCs allow, and
//! memory stays bounded.

use super::harness::*;
use crate::net::tcp::{Config, State, TcpEngine, TcpError};
use crate::net::wire::tcp::{Flags, Options, SeqNumber};
use alloc::vec;
use alloc::vec::Vec;

fn established() -> Peer {
    Peer::passive(Config::default())
}

#[test]
fn rst_outside_the_window_is_ignored() {
    let mut p = established();
    let mut rst = p.seg(Flags::RST, b"");
    rst.seq = p.seq + 10_000_000;
    assert!(p.deliver(&rst).is_empty());
    rst.seq = p.seq - 1;
    assert!(p.deliver(&rst).is_empty());
    assert_eq!(p.us.state(p.id), Ok(State::Established));
}

#[test]
fn rst_in_window_but_not_exact_draws_a_challenge_ack() {
    let mut p = established();
    let mut rst = p.seg(Flags::RST, b"");
    rst.seq = p.seq + 100;
    let out = p.deliver(&rst);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, Flags::ACK);
    assert_eq!(
        out[0].ack, p.seq,
        "the challenge ACK names the exact number"
    );
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    assert_eq!(p.us.stats().challenge_acks, 1);
    // The genuine peer answers the challenge with an exact RST.
    let rst = p.seg(Flags::RST, b"");
    assert!(p.deliver(&rst).is_empty());
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.recv(p.id, &mut [0; 1]), Err(TcpError::Reset));
}

#[test]
fn syn_on_an_established_connection_draws_a_challenge_ack() {
    let mut p = established();
    for seq in [p.seq, p.seq + 5000, p.seq - 5000, SeqNumber(1)] {
        let mut syn = p.seg(Flags::SYN, b"");
        syn.seq = seq;
        let out = p.deliver(&syn);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flags, Flags::ACK);
        assert_eq!(p.us.state(p.id), Ok(State::Established));
    }
}

#[test]
fn blind_data_injection_with_a_wrong_ack_is_dropped() {
    let mut p = established();
    p.us.send(p.id, b"hello").unwrap();
    p.wait(0);
    // In-window sequence number, acknowledgment beyond what we sent.
    let mut bad = p.seg(Flags::ACK | Flags::PSH, b"INJECTED");
    bad.ack = p.ack + 1_000_000;
    let out = p.deliver(&bad);
    assert_eq!(out.len(), 1, "challenge ACK");
    // ... and one far in the past (more than the peer's window back).
    let mut old = p.seg(Flags::ACK | Flags::PSH, b"INJECTED");
    old.ack = p.ack - 2_000_000_000;
    p.deliver(&old);
    assert_eq!(p.us.recv(p.id, &mut [0; 16]), Ok(0), "nothing delivered");
    assert_eq!(p.us.stats().dropped_bad_ack, 2);
    // Without the ACK bit data is dropped too.
    let noack = p.seg(Flags::PSH, b"INJECTED");
    p.deliver(&noack);
    assert_eq!(p.us.recv(p.id, &mut [0; 16]), Ok(0));
    // The genuine peer's data still flows.
    p.send(Flags::ACK | Flags::PSH, b"genuine");
    let mut buf = [0u8; 16];
    assert_eq!(p.us.recv(p.id, &mut buf), Ok(7));
    assert_eq!(&buf[..7], b"genuine");
}

#[test]
fn out_of_window_data_is_dropped_and_acknowledged() {
    let mut p = established();
    let mut far = p.seg(Flags::ACK, b"far away");
    far.seq = p.seq + 10_000_000;
    let out = p.deliver(&far);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, p.seq);
    assert_eq!(p.us.stats().dropped_out_of_window, 1);
    assert_eq!(p.us.info(p.id).unwrap().recv_queue, 0);
}

#[test]
fn bad_flag_combinations() {
    let mut p = established();
    for flags in [
        Flags::SYN | Flags::FIN,
        Flags::SYN | Flags::RST,
        Flags::SYN | Flags::FIN | Flags::RST | Flags::PSH | Flags::URG,
    ] {
        let s = p.seg(flags, b"");
        assert!(p.deliver(&s).is_empty());
    }
    assert_eq!(p.us.stats().dropped_bad_flags, 3);
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    // A segment with no flags at all is dropped (no ACK bit).
    let null = p.seg(Flags(0), b"data");
    assert!(p.deliver(&null).is_empty());
    assert_eq!(p.us.info(p.id).unwrap().recv_queue, 0);
    // To a closed port: RST for a segment without RST, none for a RST.
    let mut to_closed = p.seg(Flags(0), b"");
    to_closed.dst_port = 9;
    let out = p.deliver(&to_closed);
    assert_eq!(out[0].flags, Flags::RST | Flags::ACK);
    to_closed.flags = Flags::RST;
    assert!(p.deliver(&to_closed).is_empty());
    // A listener answers a stray ACK with a RST and ignores a stray RST.
    let mut us = TcpEngine::new(Config::default(), [0; 32]);
    us.listen(80, 4).unwrap();
    let mut stray = p.seg(Flags::ACK, b"");
    stray.src_port = 7777;
    let out = feed(&mut us, 0, &stray);
    assert_eq!((out[0].flags, out[0].seq), (Flags::RST, stray.ack));
    stray.flags = Flags::RST;
    assert!(feed(&mut us, 0, &stray).is_empty());
    assert_eq!(us.occupancy().connections, 0);
}

#[test]
fn paws_drops_old_timestamps() {
    let mut p = established();
    p.send(Flags::ACK, b"one");
    let mut old = p.seg(Flags::ACK, b"two");
    old.options.timestamp = Some((1, 0));
    p.deliver(&old);
    assert_eq!(p.us.stats().dropped_paws, 1);
    // And a segment without timestamps on a connection using them.
    let mut none = p.seg(Flags::ACK, b"two");
    none.options = Options::default();
    p.deliver(&none);
    assert_eq!(p.us.stats().dropped_paws, 2);
    assert_eq!(p.us.info(p.id).unwrap().recv_queue, 3);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let config = Config {
        challenge_ack_limit: 10,
        ..Config::default()
    };
    let mut p = Peer::passive(config);
    let mut sent = 0;
    for i in 0..1000u32 {
        let mut rst = p.seg(Flags::RST, b"");
        rst.seq = p.seq + (1 + i as usize);
        sent += p.deliver(&rst).len();
    }
    assert_eq!(sent, 10);
    assert_eq!(p.us.stats().challenge_acks_suppressed, 990);
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    // A second later the budget is back.
    p.now += 1_000 * MS;
    let mut rst = p.seg(Flags::RST, b"");
    rst.seq = p.seq + 1;
    assert_eq!(p.deliver(&rst).len(), 1);
}

#[test]
fn malformed_segments_are_counted_not_fatal() {
    let mut p = established();
    let good = p.seg(Flags::ACK, b"ok").bytes();
    let mut cap = Capture::new();
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        good[..10].to_vec(),
        {
            let mut b = good.clone();
            b[12] = 0x40; // data offset 4
            b
        },
        {
            let mut b = good.clone();
            b[12] = 0xf0; // data offset past the end
            b
        },
        {
            let mut b = good.clone();
            b[25] ^= 0xff; // checksum broken
            b
        },
    ];
    for c in &cases {
        p.us.process(p.now, &B, &A, c, &mut cap);
    }
    // A bad option length with a correct checksum.
    let mut bad = p.seg(Flags::ACK, b"");
    bad.options = Options::default();
    let mut b = bad.bytes();
    b[12] = 0x60;
    b.extend([2, 9, 0, 0]); // MSS with length 9
    let mut pkt = crate::net::wire::tcp::Packet::new_unchecked(&mut b[..]);
    pkt.fill_checksum(&crate::net::wire::checksum::PseudoHeader::new(B, A).unwrap());
    p.us.process(p.now, &B, &A, &b, &mut cap);
    // Zero ports, multicast source.
    let mut z = p.seg(Flags::ACK, b"");
    z.src_port = 0;
    p.us.process(p.now, &B, &A, &z.bytes(), &mut cap);
    let mc = core::net::IpAddr::V4(core::net::Ipv4Addr::new(224, 0, 0, 1));
    let mut m = p.seg(Flags::SYN, b"");
    m.src = mc;
    p.us.process(p.now, &mc, &A, &m.bytes(), &mut cap);
    assert!(cap.out.is_empty());
    let s = p.us.stats();
    assert_eq!(s.dropped_malformed + s.dropped_checksum, 8, "{s:?}");
    assert_eq!(p.us.state(p.id), Ok(State::Established));
}

#[test]
fn corrupted_in_order_data_is_not_delivered() {
    // In-order payloads are copied into the receive ring while their
    // checksum is computed: a corrupted one must leave nothing readable,
    // and the good copy of the same bytes is what the application reads.
    let mut p = established();
    let mut cap = Capture::new();
    for round in 0..3u8 {
        let data = [b'a' + round; 300];
        let mut bad = p.seg(Flags::ACK, &data).bytes();
        let last = bad.len() - 1;
        bad[last] ^= 0x55;
        p.us.process(p.now, &B, &A, &bad, &mut cap);
        assert_eq!(p.us.stats().dropped_checksum, u64::from(round) + 1);
        let mut buf = [0u8; 400];
        assert_eq!(p.us.recv(p.id, &mut buf), Ok(0));
        p.send(Flags::ACK, &data);
        assert_eq!(p.us.recv(p.id, &mut buf), Ok(300));
        assert_eq!(&buf[..300], &data[..]);
    }
}

#[test]
fn out_of_order_flood_is_bounded() {
    let mut p = established();
    // Thousands of one-byte segments, each leaving a hole: the assembler
    // keeps a bounded number of ranges and the receive ring its size.
    for i in 0..5000usize {
        let mut s = p.seg(Flags::ACK, b"z");
        s.seq = p.seq + (2 + 2 * i);
        p.deliver(&s);
    }
    assert!(p.us.stats().dropped_assembler_full > 0);
    // In-order data still goes through (it needs no range), and joins the
    // out-of-order byte after it.
    p.send(Flags::ACK, b"a");
    let i = p.us.info(p.id).unwrap();
    assert_eq!(i.recv_queue, 1);
    p.send(Flags::ACK, b"b");
    let i = p.us.info(p.id).unwrap();
    assert_eq!(i.recv_queue, 3);
    assert_eq!(p.us.occupancy().connections, 1);
}

#[test]
fn random_segments_never_panic() {
    let mut p = established();
    let mut rng = Rng(0x1234_5678);
    let mut cap = Capture::new();
    for _ in 0..20_000 {
        let mut s = p.seg(Flags((rng.next() as u8) & 0x3f), b"");
        let r = rng.next();
        s.seq = if r & 1 == 0 {
            p.seq + (r as usize >> 40)
        } else {
            SeqNumber(r as u32)
        };
        s.ack = if r & 2 == 0 {
            p.ack + (r as usize >> 48)
        } else {
            SeqNumber((r >> 32) as u32)
        };
        s.window = (r >> 16) as u16;
        let len = (r >> 56) as usize;
        s.payload = vec![0xee; len];
        p.us.process(p.now, &B, &A, &s.bytes(), &mut cap);
        if r.is_multiple_of(7) {
            p.now += MS;
            p.us.dispatch(p.now, &mut cap);
        }
        cap.out.clear();
    }
    // Memory stays bounded: at most the one connection and its listener's
    // backlog of half-open ones.
    let o = p.us.occupancy();
    assert!(o.connections <= 1 + 8, "{o:?}");
}

/// An orphan's probes of a shut window count from the close: a connection
/// whose peer kept its window shut, answering every probe, for more than
/// `max_retries` probes before the application closed still delivers
/// what it wrote when the window opens a few probes later. (Counted from
/// the first probe, the orphan gave up at its first: a server that wrote a
/// response and closed lost it to a client that had been busy sending for
/// a while, as the stack's soak found. Linux gives up there too; the
/// orphan's own budget stays bounded, as the next test checks.)
#[test]
fn an_orphan_probes_a_window_shut_before_the_close_anew() {
    let mut p = Peer::behind_a_shut_window(&[1u8; 1000]);
    p.answer_probes(20);
    assert_eq!(p.us.stats().window_probes, 20);
    p.us.close(p.id).unwrap();
    p.answer_probes(3);
    assert_eq!(p.us.stats().window_probes, 23, "the orphan probes");
    // The window opens: the data and the FIN go.
    let mut open = p.seg(Flags::ACK, b"");
    open.window = 1024;
    let out = p.deliver(&open);
    assert_eq!(
        out.iter().map(|s| s.payload.len()).sum::<usize>(),
        1000,
        "{out:?}"
    );
    assert!(out.last().unwrap().flags.fin(), "{out:?}");
}

#[test]
fn an_orphan_behind_a_window_kept_shut_is_reclaimed() {
    let mut p = Peer::behind_a_shut_window(&[1u8; 1000]);
    p.us.close(p.id).unwrap();
    // The peer answers every probe, window still zero.
    p.answer_probes(100);
    assert_empty(&p.us);
}

/// A pure ACK numbered at the right edge of our window (its sender filled
/// the window and that data was lost) is accepted and its acknowledgment
/// taken, as Linux and FreeBSD do; one beyond it, or a RST at the edge,
/// is not.
#[test]
fn a_pure_ack_at_the_right_edge_of_the_window_is_taken() {
    let (mut p, first) = sending(2);
    let edge = p.seq + Config::default().recv_buffer;
    p.ack = first[0].seq + SEG;
    let mut beyond = p.seg(Flags::ACK, b"");
    beyond.seq = edge + 1;
    p.deliver(&beyond);
    assert_eq!(p.us.stats().dropped_out_of_window, 1);
    assert_eq!(p.us.info(p.id).unwrap().bytes_in_flight, 2 * SEG);
    let mut rst = p.seg(Flags::RST, b"");
    rst.seq = edge;
    assert!(p.deliver(&rst).is_empty(), "dropped silently");
    assert_eq!(p.us.stats().dropped_out_of_window, 2);
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    let mut at_edge = p.seg(Flags::ACK, b"");
    at_edge.seq = edge;
    p.deliver(&at_edge);
    assert_eq!(p.us.stats().dropped_out_of_window, 2);
    assert_eq!(p.us.info(p.id).unwrap().bytes_in_flight, SEG);
}
