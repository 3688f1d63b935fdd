//! RFC 9293's requirements (appendix B) that other files do not already
//! cover: urgent data, the zero window, the MSS option, keep-alive; and
//! the reading of what arrived before a reset (a deliberate deviation).

use super::harness::*;
use crate::net::tcp::{Config, State, TcpEngine, TcpError};
use crate::net::wire::checksum::PseudoHeader;
use crate::net::wire::tcp::{Flags, Options, Packet, SeqNumber};
use alloc::vec::Vec;

/// Deliver `seg` to `p` with the URG bit and urgent pointer `up` set.
fn deliver_urgent(p: &mut Peer, seg: &Seg, up: u16) -> Vec<Seg> {
    let mut b = seg.bytes();
    {
        let mut pk = Packet::new_unchecked(&mut b[..]);
        pk.set_flags(seg.flags | Flags::URG);
        pk.set_urgent_at(up);
        pk.fill_checksum(&PseudoHeader::new(seg.src, seg.dst).unwrap());
    }
    let mut cap = Capture::new();
    p.us.process(p.now, &seg.src, &seg.dst, &b, &mut cap);
    p.us.dispatch(p.now, &mut cap);
    cap.take()
}

/// Urgent data is delivered in line, in order, as with `SO_OOBINLINE`
/// (RFC 6093 section 6 recommends it), nothing lost, added or reordered,
/// whatever the pointers; only the pointer is tracked (MUST-30 to 33 and
/// 62: `tests::urgent`).
#[test]
fn urgent_data_is_delivered_in_line_and_in_order() {
    let mut p = Peer::passive(Config::default());
    p.send(Flags::ACK | Flags::PSH, b"abc");
    let s = p.seg(Flags::ACK | Flags::PSH, b"URGENT");
    p.seq += 6;
    deliver_urgent(&mut p, &s, 6);
    // An urgent pointer beyond the segment, and one of zero.
    let s = p.seg(Flags::ACK, b"xy");
    p.seq += 2;
    deliver_urgent(&mut p, &s, 60_000);
    let s = p.seg(Flags::ACK, b"z");
    p.seq += 1;
    deliver_urgent(&mut p, &s, 0);
    let mut buf = [0u8; 64];
    let n = p.us.recv(p.id, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"abcURGENTxyz");
    assert_eq!(p.us.state(p.id), Ok(State::Established));
}

/// MUST-66: RST and URG are processed even with a zero receive window; a
/// RST carrying data (SHLD-2) at RCV.NXT resets.
#[test]
fn rst_with_data_resets_at_a_zero_window() {
    let config = Config {
        recv_buffer: 4096,
        ..Config::default()
    };
    let mut p = Peer::passive(config);
    let full = alloc::vec![1u8; 4096];
    let mut out = Vec::new();
    for chunk in full.chunks(1024) {
        out.extend(p.send(Flags::ACK, chunk));
    }
    out.extend(p.wait(0));
    assert_eq!(out.last().map(|s| s.window), Some(0), "{out:?}");
    // An urgent segment at the zero window: its ACK is processed, its
    // data not taken, and the connection unharmed.
    let s = p.seg(Flags::ACK | Flags::PSH, b"late");
    deliver_urgent(&mut p, &s, 4);
    assert_eq!(p.us.info(p.id).unwrap().recv_queue, 4096);
    let rst = p.seg(Flags::RST | Flags::ACK, b"diagnostic text");
    p.deliver(&rst);
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
}

/// 3.10.7.4 (dev): what arrived in order before a reset stays readable,
/// and reads report the reset after it (as Linux and FreeBSD, and the
/// socket stack, their kernel's; the RFC flushes it); sends fail at once,
/// and reading sends nothing (no window update to a connection that is
/// gone).
#[test]
fn what_arrived_before_a_reset_is_read_before_the_reset() {
    let mut p = Peer::passive(Config::default());
    p.send(Flags::ACK | Flags::PSH, b"hello");
    p.wait(0);
    let rst = p.seg(Flags::RST | Flags::ACK, b"");
    assert!(p.deliver(&rst).is_empty());
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.send(p.id, b"x"), Err(TcpError::Reset));
    let mut buf = [0u8; 16];
    assert_eq!(p.us.recv(p.id, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(p.us.recv(p.id, &mut buf), Err(TcpError::Reset));
    assert!(p.wait(1_000 * MS).is_empty());
    // Closing it then sends nothing either (no reset for unread data: it
    // was read, and the connection is gone).
    p.us.close(p.id).unwrap();
    assert!(p.wait(1_000 * MS).is_empty());
}

/// The same when the peer goes silent: our retransmissions run out, and
/// what it had sent is read before `TimedOut`; out-of-order bytes, never
/// acknowledged, are not.
#[test]
fn what_arrived_before_a_timeout_is_read_before_it() {
    let mut p = Peer::passive(Config::default());
    p.send(Flags::ACK | Flags::PSH, b"hello");
    let mut gap = p.seg(Flags::ACK, b"later");
    gap.seq = p.seq + 100;
    p.deliver(&gap);
    p.us.send(p.id, b"unanswered").unwrap();
    p.wait(3_600_000 * MS);
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.stats().aborted_on_timeout, 1);
    let mut buf = [0u8; 16];
    assert_eq!(p.us.recv(p.id, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(p.us.recv(p.id, &mut buf), Err(TcpError::TimedOut));
}

/// MUST-37: a window that stays shut does not time the connection out as
/// long as the peer answers the probes, however many.
#[test]
fn a_window_kept_shut_by_a_live_peer_does_not_time_out() {
    let config = Config {
        max_retries: 3,
        ..Config::default()
    };
    let mut p = Peer::passive(config);
    let mut s = p.seg(Flags::ACK, b"");
    s.window = 0;
    p.deliver(&s);
    p.us.send(p.id, b"waiting").unwrap();
    p.wait(0);
    let mut probes = 0;
    while probes < 12 {
        let d = p.us.next_deadline().unwrap();
        for _ in p.wait(d - p.now) {
            probes += 1;
            let mut r = p.seg(Flags::ACK, b"");
            r.window = 0;
            p.deliver(&r);
        }
        assert_eq!(p.us.state(p.id), Ok(State::Established), "{probes}");
    }
    let out = p.send(Flags::ACK, b"");
    assert_eq!(out[0].payload, b"waiting");
}

/// MUST-15 and MUST-16: without an MSS option the send MSS is 536
/// (IPv4), less the timestamps; MUST-14/67: ours is sent, from the path.
#[test]
fn without_an_mss_option_segments_hold_536_bytes_less_options() {
    let mut us = TcpEngine::new(Config::default(), [3; 32]);
    let l = us.listen(80, 8).unwrap();
    let syn = Seg::peer_syn(Options {
        timestamp: Some((7, 0)),
        ..Default::default()
    });
    let mut cap = Capture::new();
    cap.mss = 1400;
    us.process(0, &syn.src, &syn.dst, &syn.bytes(), &mut cap);
    us.dispatch(0, &mut cap);
    let synack = cap.take().remove(0);
    assert_eq!(synack.options.mss, Some(1400));
    let mut ack = synack.reply(SeqNumber(1001), synack.seq + 1, Flags::ACK);
    ack.options.timestamp = Some((8, synack.options.timestamp.unwrap().0));
    feed(&mut us, MS, &ack);
    let id = us.accept(l).unwrap().unwrap();
    us.send(id, &[5u8; 5000]).unwrap();
    let out = flush(&mut us, 2 * MS);
    assert!(!out.is_empty());
    for s in &out {
        assert!(s.payload.len() <= 536 - 12, "{}", s.payload.len());
    }
}

/// MUST-25: keep-alive is off by default: an idle connection sends
/// nothing for hours.
#[test]
fn keepalive_is_off_by_default() {
    let mut p = Peer::passive(Config::default());
    let out = p.wait(5 * 3600 * 1_000 * MS);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(p.us.state(p.id), Ok(State::Established));
}

/// MUST-61 and SHLD-27: the last segment of what the application queued
/// carries PSH, the others not.
#[test]
fn psh_marks_the_last_segment_of_the_queued_data() {
    let (p, out) = sending(3);
    let _ = p;
    let flags: Vec<bool> = out.iter().map(|s| s.flags.psh()).collect();
    assert_eq!(flags, [false, false, true]);
}

/// MUST-34 and SHLD-17: a peer that shrinks its window under data in
/// flight (and keeps answering) does not time the connection out; the
/// data goes once the window opens again.
#[test]
fn a_window_shrunk_under_data_in_flight_is_survived() {
    let config = Config {
        max_retries: 3,
        ..Config::default()
    };
    let mut p = Peer::passive(config);
    p.us.send(p.id, &[9u8; 3000]).unwrap();
    let out = p.wait(0);
    assert!(!out.is_empty());
    // The peer takes nothing and shuts its window.
    let mut s = p.seg(Flags::ACK, b"");
    s.window = 0;
    p.deliver(&s);
    let mut answered = 0;
    while answered < 12 {
        let d = p.us.next_deadline().unwrap();
        for seg in p.wait(d - p.now) {
            // (Probes, or resends of what was sent before the window
            // shrank: MAY-7 allows them.)
            assert!(
                seg.payload.is_empty() || seg.seq + seg.payload.len() <= p.ack + 3000,
                "{seg:?}"
            );
            answered += 1;
            let mut r = p.seg(Flags::ACK, b"");
            r.window = 0;
            p.deliver(&r);
        }
        assert_eq!(p.us.state(p.id), Ok(State::Established), "{answered}");
    }
    // The window opens: everything arrives.
    let out = p.send(Flags::ACK, b"");
    let sent: usize = out.iter().map(|s| s.payload.len()).sum();
    assert!(sent > 0, "{out:?}");
    assert_eq!(out[0].seq, p.ack);
}
