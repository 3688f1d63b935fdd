//! The receive path against RFC 7323, RFC 5961 and RFC 9293's
//! segment-arrival rules: what a segment that is dropped may still change,
//! and SYN cookies under hostile numbers.

use super::harness::*;
use crate::net::tcp::{Config, State};
use crate::net::wire::tcp::{Flags, Options, SeqNumber};
use alloc::vec::Vec;

/// RFC 7323 section 4.3 / RFC 5961 section 5: a segment dropped for its
/// unacceptable acknowledgment must not move TS.Recent, or a blind
/// attacker with an in-window sequence number and a far-future TSval makes
/// PAWS drop every later segment of the genuine peer.
#[test]
fn a_segment_with_a_bad_ack_does_not_update_ts_recent() {
    let mut p = Peer::passive(Config::default());
    p.us.send(p.id, b"hello").unwrap();
    p.wait(0);
    let mut bad = p.seg(Flags::ACK, b"");
    bad.ack = p.ack + 1_000_000;
    bad.options.timestamp = Some((p.ts.wrapping_add(0x4000_0000), p.ts_echo));
    assert_eq!(p.deliver(&bad).len(), 1, "challenge ACK");
    assert_eq!(p.us.stats().dropped_bad_ack, 1);
    // The same for an in-window RST that is not exact, a SYN, and a
    // segment without ACK.
    for flags in [Flags::RST, Flags::SYN, Flags::PSH] {
        let mut s = p.seg(flags, b"");
        if flags == Flags::RST {
            s.seq = p.seq + 1;
        }
        s.options.timestamp = Some((p.ts.wrapping_add(0x4000_0000), p.ts_echo));
        p.deliver(&s);
    }
    // The genuine peer goes on with its own clock.
    p.send(Flags::ACK | Flags::PSH, b"genuine");
    assert_eq!(p.us.stats().dropped_paws, 0);
    let mut buf = [0u8; 16];
    assert_eq!(p.us.recv(p.id, &mut buf), Ok(7));
    assert_eq!(p.us.state(p.id), Ok(State::Established));
}

/// A cookie ACK in the first cookie period after the clock's start whose
/// acknowledgment names the last counter value (31) must be refused, not
/// overflow the counter's arithmetic.
#[test]
fn cookie_ack_in_the_first_period_is_checked_without_overflow() {
    let config = Config {
        max_backlog: 1,
        ..Config::default()
    };
    let mut us = crate::net::tcp::TcpEngine::new(config, [4; 32]);
    let l = us.listen(80, 1).unwrap();
    let syn = |port: u16| Seg {
        src_port: port,
        seq: SeqNumber(u32::from(port) * 1000),
        ..Seg::peer_syn(Options {
            mss: Some(1400),
            ..Default::default()
        })
    };
    assert_eq!(feed(&mut us, 0, &syn(1000)).len(), 1);
    // Beyond the backlog: a cookie.
    let out = feed(&mut us, 0, &syn(2000));
    assert_eq!(us.stats().syn_cookies_sent, 1);
    let c = &out[0];
    let mut ack = c.reply(c.ack, SeqNumber(0xf800_0000 | 0x1234), Flags::ACK);
    ack.options = Options::default();
    let out = feed(&mut us, 5 * MS, &ack);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, Flags::RST);
    assert_eq!(us.stats().syn_cookies_accepted, 0);
    assert!(us.accept(l).unwrap().is_none());
}

/// RFC 9293 section 3.10.7.4 (fifth check): the send window is updated
/// only from a segment with SND.UNA =< SEG.ACK. An older acknowledgment
/// (still inside RFC 5961's acceptable range, so the segment's data is
/// taken) with a newer sequence number must not shrink the window: its
/// window is relative to an older left edge.
#[test]
fn an_old_acknowledgment_does_not_update_the_send_window() {
    let mut p = Peer::passive(Config::default());
    p.us.send(p.id, &[1u8; 3000]).unwrap();
    assert!(!p.wait(0).is_empty());
    p.ack += 2000;
    p.send(Flags::ACK, b"");
    let wnd = p.us.info(p.id).unwrap().peer_window;
    assert!(wnd > 0);
    p.send(Flags::ACK, b"y");
    let mut old = p.seg(Flags::ACK, b"x");
    old.ack = old.ack - 1000;
    old.window = 0;
    p.deliver(&old);
    p.seq += 1;
    // The data is taken (the acknowledgment is acceptable) ...
    assert_eq!(p.us.recv(p.id, &mut [0u8; 4]), Ok(2));
    // ... but not its window.
    assert_eq!(p.us.info(p.id).unwrap().peer_window, wnd);
}

/// A peer resending after a timeout acknowledges on segments numbered
/// below its last (its SND.NXT went back): one that acknowledges new data
/// updates the send window, though its SEG.SEQ is below SND.WL1 (as
/// Linux's `tcp_may_update_window`). By RFC 9293's test alone its window
/// was refused while SND.UNA moved, which carried the old window's right
/// edge forward, past what the peer offered: we sent beyond its window, it
/// dropped those segments, and then our ACKs, numbered past its window
/// (found by the stack's soak: a connection timed out).
#[test]
fn an_ack_of_new_data_on_a_resent_segment_updates_the_send_window() {
    let mut p = Peer::passive(Config::default());
    // The peer's segment after one that was lost sets SND.WL1 past the
    // lost one; its window: 12 units of 128 bytes.
    let mut later = p.seg(Flags::ACK | Flags::PSH, &[7u8; 100]);
    later.seq = p.seq + 100;
    later.window = 12;
    p.deliver(&later);
    assert_eq!(p.us.info(p.id).unwrap().peer_window, 1536);
    p.us.send(p.id, &[1u8; 10_000]).unwrap();
    let out = p.wait(0);
    let edge = p.ack + 1536;
    let end = out.last().map(|s| s.seq + s.payload.len()).unwrap();
    assert!(end <= edge, "{out:?}");
    // The peer resends the lost segment: it acknowledges all we sent, and
    // its application read nothing, so its window is shut.
    let mut resent = p.seg(Flags::ACK | Flags::PSH, &[6u8; 100]);
    resent.ack = end;
    resent.window = 0;
    p.deliver(&resent);
    p.ack = end;
    assert_eq!(p.us.info(p.id).unwrap().peer_window, 0);
    // Nothing goes past the peer's right edge: a probe at most.
    for s in p.wait(10 * MS) {
        assert!(s.seq + s.payload.len() <= edge + 1, "{s:?}");
    }
}

/// Simultaneous open (RFC 9293 figure 8) against a peer that, like Linux,
/// goes to ESTABLISHED on our SYN-ACK without acknowledging it: its own
/// SYN-ACK, crossing ours, acknowledges our SYN and must complete our
/// handshake at once (its window unscaled, as on every SYN), not leave us
/// in SYN-RECEIVED until our SYN-ACK's retransmission draws an ACK.
#[test]
fn simultaneous_open_completes_on_the_peers_syn_ack() {
    let mut us = crate::net::tcp::TcpEngine::new(Config::default(), [1; 32]);
    let id = us.connect(0, (A, 1111), (B, 2222)).unwrap();
    let syn = flush(&mut us, 0).remove(0);
    assert_eq!(syn.flags, Flags::SYN);
    let options = Options {
        mss: Some(1000),
        window_scale: Some(3),
        sack_permitted: true,
        timestamp: Some((77, 0)),
        ..Default::default()
    };
    // The peer's SYN, crossing ours.
    let mut peer_syn = syn.reply(SeqNumber(5000), SeqNumber(0), Flags::SYN);
    peer_syn.options = options;
    peer_syn.window = 4000;
    let out = feed(&mut us, MS, &peer_syn);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, Flags::SYN | Flags::ACK);
    assert_eq!(us.state(id), Ok(State::SynReceived));
    // The peer's SYN-ACK (it got our SYN): same ISN, acknowledges ours.
    let mut synack = syn.reply(SeqNumber(5000), syn.seq + 1, Flags::SYN | Flags::ACK);
    synack.options = Options {
        timestamp: Some((78, syn.options.timestamp.unwrap().0)),
        ..options
    };
    synack.window = 3000;
    let out = feed(&mut us, 2 * MS, &synack);
    assert_eq!(us.state(id), Ok(State::Established));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, Flags::ACK);
    assert_eq!(out[0].seq, syn.seq + 1);
    assert_eq!(out[0].ack, SeqNumber(5001));
    assert_eq!(out[0].options.timestamp.unwrap().1, 78);
    assert_eq!(us.info(id).unwrap().peer_window, 3000);
    // Data flows at once.
    us.send(id, b"hello").unwrap();
    let out = flush(&mut us, 3 * MS);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload, b"hello");
}

/// A FIN below out-of-order data already held (a broken or hostile peer:
/// its stream ends before bytes it sent) ends the stream at the FIN: the
/// bytes past it are dropped, not delivered, and the end of the stream is
/// reached (it waited forever for the held range to become in order).
#[test]
fn a_fin_below_held_out_of_order_data_ends_the_stream() {
    for (fin_at, held) in [(50usize, 100usize), (150, 100)] {
        let mut p = Peer::passive(Config::default());
        let base = p.seq;
        let mut ooo = p.seg(Flags::ACK, &[2u8; 100]);
        ooo.seq = base + held;
        p.deliver(&ooo);
        let mut fin = p.seg(Flags::ACK | Flags::FIN, b"");
        fin.seq = base + fin_at;
        p.deliver(&fin);
        p.send(Flags::ACK, &[1u8; 100][..fin_at.min(held)]);
        let mut buf = [0u8; 400];
        let mut got = 0;
        loop {
            match p.us.recv(p.id, &mut buf) {
                Ok(n) => {
                    assert!(n > 0, "the end of the stream never came (FIN at {fin_at})");
                    got += n;
                }
                Err(e) => {
                    assert_eq!(e, crate::net::tcp::TcpError::Eof);
                    break;
                }
            }
        }
        assert_eq!(got, fin_at, "bytes before the FIN only");
        assert_eq!(p.us.state(p.id), Ok(State::CloseWait));
    }
}

/// The challenge ACK budget is per connection: segments that draw
/// challenges on one connection do not silence another's. With one budget
/// for the whole TCP, an off-path attacker could count the challenge ACKs
/// of its own connection to learn whether its spoofed segments hit another
/// connection's 4-tuple and window (CVE-2016-5696), and exhausting it
/// left every other connection's out-of-window segments (keep-alive
/// probes among them) unanswered.
#[test]
fn challenge_acks_of_one_connection_do_not_use_another_ones_budget() {
    let config = Config {
        challenge_ack_limit: 10,
        ..Config::default()
    };
    let mut p = Peer::passive(config);
    // A second connection from another port of the peer.
    let syn = Seg {
        src: B,
        dst: A,
        src_port: 5001,
        dst_port: 80,
        seq: SeqNumber(9000),
        ack: SeqNumber(0),
        flags: Flags::SYN,
        window: 65535,
        urgent: 0,
        options: Options::default(),
        payload: Vec::new(),
    };
    let out = feed(&mut p.us, p.now, &syn);
    let sa = &out[0];
    let ack = sa.reply(SeqNumber(9001), sa.seq + 1, Flags::ACK);
    assert!(feed(&mut p.us, p.now, &ack).is_empty());
    // Spoofed in-window RSTs on the second connection exhaust its budget.
    let mut answered = 0;
    for i in 0..100usize {
        let mut rst = ack.clone();
        rst.flags = Flags::RST;
        rst.seq = SeqNumber(9001) + (1 + i);
        answered += feed(&mut p.us, p.now, &rst).len();
    }
    assert_eq!(answered, 10);
    // The first connection still answers its own challenge.
    let mut rst = p.seg(Flags::RST, b"");
    rst.seq = p.seq + 1;
    assert_eq!(p.deliver(&rst).len(), 1);
}

/// RFC 9293 section 3.10.7.4 per state: in FIN-WAIT-2 (our FIN
/// acknowledged, the handle kept) data, with URG ignored, and the FIN are
/// still taken; a FIN on the ACK that completes the handshake takes
/// SYN-RECEIVED to CLOSE-WAIT, with its data, and the connection is
/// accepted. (These held already.)
#[test]
fn fin_wait_2_takes_data_and_syn_received_takes_a_fin() {
    // FIN-WAIT-2 (our FIN acknowledged): data and FIN still taken.
    let mut p = Peer::passive(Config::default());
    p.us.shutdown_write(p.id).unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 1);
    p.ack += 1;
    p.send(Flags::ACK, b"");
    assert_eq!(p.us.state(p.id), Ok(State::FinWait2));
    let urg = p.seg(Flags::ACK | Flags::URG, b"urgent");
    p.deliver(&urg);
    p.seq += 6;
    p.send(Flags::ACK | Flags::FIN, b"late");
    let mut buf = [0u8; 32];
    assert_eq!(p.us.recv(p.id, &mut buf), Ok(10));
    assert_eq!(&buf[..10], b"urgentlate");
    assert_eq!(p.us.state(p.id), Ok(State::TimeWait));
    // FIN with the handshake's ACK in SYN-RECEIVED.
    let mut us = crate::net::tcp::TcpEngine::new(Config::default(), [9; 32]);
    let l = us.listen(80, 8).unwrap();
    let syn = Seg::peer_syn(Options::default());
    let out = feed(&mut us, 0, &syn);
    let sa = &out[0];
    let mut ack = sa.reply(SeqNumber(1001), sa.seq + 1, Flags::ACK | Flags::FIN);
    ack.payload = b"bye".to_vec();
    let out = feed(&mut us, MS, &ack);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, SeqNumber(1005));
    let id = us.accept(l).unwrap().unwrap();
    assert_eq!(us.state(id), Ok(State::CloseWait));
    assert_eq!(us.recv(id, &mut buf), Ok(3));
    assert_eq!(us.recv(id, &mut buf), Err(crate::net::tcp::TcpError::Eof));
}

/// RFC 1337: a RST in TIME-WAIT is ignored, so that an old duplicate RST
/// cannot end TIME-WAIT early. The records of released connections did so
/// already; a connection whose handle the application still holds must
/// too (it closed on an exact RST).
#[test]
fn a_rst_does_not_end_time_wait_of_a_held_connection() {
    let mut p = Peer::passive(Config::default());
    p.close_to_time_wait();
    p.send(Flags::RST, b"");
    assert_eq!(p.us.state(p.id), Ok(State::TimeWait));
}

/// Delivers the peer's 100-byte segments number `ks` (counted from `base`)
/// in one batch, then dispatches: what we sent.
fn batch(p: &mut Peer, base: SeqNumber, ks: &[usize]) -> Vec<Seg> {
    let mut cap = Capture::new();
    for &k in ks {
        let mut s = p.seg(Flags::ACK, &[7u8; 100]);
        s.seq = base + k * 100;
        p.us.process(p.now, &B, &A, &s.bytes(), &mut cap);
    }
    p.us.dispatch(p.now, &mut cap);
    cap.take()
}

/// RFC 5681 section 4.2: an immediate duplicate ACK for every out-of-order
/// segment, also when a batch of them is processed before anything is
/// sent. With SACK each reports the blocks as they were after its segment
/// (its segment's range first, RFC 2018 section 4), so that each tells the
/// sender more, as ACKs sent one at a time would: the sender counts an ACK
/// that SACKs nothing new as no duplicate.
#[test]
fn a_batch_of_out_of_order_segments_draws_a_sack_per_segment() {
    let mut p = Peer::passive(Config::default());
    let base = p.seq;
    let r = |k: usize| (base + k * 100, base + (k + 1) * 100);
    // Segments 1, 3 and 5 arrive together; 0, 2 and 4 are missing.
    let out = batch(&mut p, base, &[1, 3, 5]);
    let acks: Vec<_> = out
        .iter()
        .map(|s| (s.ack, s.options.sack_blocks().to_vec()))
        .collect();
    assert_eq!(
        acks,
        alloc::vec![
            (base, alloc::vec![r(1)]),
            (base, alloc::vec![r(3), r(1)]),
            (base, alloc::vec![r(5), r(3), r(1)]),
        ]
    );
    // Segment 7, then the first hole in the same batch: the ACKs owed no
    // longer report blocks below the new cumulative acknowledgment.
    let out = batch(&mut p, base, &[7, 0]);
    assert!(!out.is_empty());
    for s in &out {
        assert_eq!(s.ack, base + 200);
        assert_eq!(s.options.sack_blocks(), &[r(7), r(5), r(3)]);
    }
}

/// RFC 5681 section 2: an ACK that carries data is no duplicate ACK to
/// its sender. With data of ours ready to go (an exchange both ways, as an
/// echo), the duplicate ACKs owed for out-of-order segments still go as
/// pure ACKs, before the data, with or without SACK; a sender without SACK
/// otherwise never counts three and waits for its retransmission timeout
/// (as Linux did against `tcp-echo`: every loss of its segments cost a
/// timeout, 0.4 to 0.8 s each).
#[test]
fn duplicate_acks_go_on_their_own_before_data_ready_to_send() {
    for sack in [false, true] {
        let mut p = Peer::passive(Config {
            sack,
            ..Config::default()
        });
        let base = p.seq;
        p.us.send(p.id, &[9u8; 300]).unwrap();
        // Segment 0 is lost; 1, 2 and 3 arrive together.
        let out = batch(&mut p, base, &[1, 2, 3]);
        let shape: Vec<_> = out.iter().map(|s| (s.ack, s.payload.len())).collect();
        assert_eq!(
            shape,
            alloc::vec![(base, 0), (base, 0), (base, 0), (base, 300)],
            "SACK {sack}"
        );
        assert_eq!(
            out[2].options.sack_blocks().len(),
            usize::from(sack),
            "SACK {sack}"
        );
    }
}

/// The first SACK block of the segment we send next, if any.
fn first_block(out: &[Seg]) -> Option<(SeqNumber, SeqNumber)> {
    out.last()?.options.sack_blocks().first().copied()
}

/// The peer sends 100 bytes, then the same again: where they start, and
/// what we answered the second time.
fn twice(p: &mut Peer) -> (SeqNumber, Vec<Seg>) {
    let first = p.seq;
    p.send(Flags::ACK | Flags::PSH, &[1u8; 100]);
    p.wait(0);
    let mut again = p.seg(Flags::ACK | Flags::PSH, &[1u8; 100]);
    again.seq = first;
    (first, p.deliver(&again))
}

/// RFC 2883: data received twice is reported once, in a D-SACK block that
/// comes first in the next segment's SACK option. A whole segment below
/// `RCV.NXT` (a needless retransmission: the peer lost our ACK), then the
/// old head of a segment that also brings new data.
#[test]
fn data_received_twice_is_reported_once_in_a_dsack_block() {
    let mut p = Peer::passive(Config::default());
    // The same 100 bytes again: an immediate ACK with the D-SACK block.
    let (first, out) = twice(&mut p);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].ack, first + 100);
    assert_eq!(out[0].options.sack_blocks(), &[(first, first + 100)]);
    assert_eq!(p.us.stats().dsacks_sent, 1);
    // Reported once: the next ACK has no block.
    p.send(Flags::ACK | Flags::PSH, &[2u8; 100]);
    let out = p.wait(1_000 * MS);
    assert!(!out.is_empty());
    assert!(
        out.iter().all(|s| s.options.sack_blocks().is_empty()),
        "{out:?}"
    );
    // 50 old bytes and 100 new: the old 50 are reported, the new taken.
    let mut overlap = p.seg(Flags::ACK | Flags::PSH, &[3u8; 150]);
    overlap.seq = p.seq - 50;
    p.seq += 100;
    let out = p.deliver(&overlap);
    let out = [out, p.wait(1_000 * MS)].concat();
    assert_eq!(out.last().unwrap().ack, p.seq);
    assert_eq!(first_block(&out), Some((p.seq - 150, p.seq - 100)));
    let mut buf = [0u8; 512];
    assert_eq!(p.us.recv(p.id, &mut buf), Ok(300));
    assert_eq!(&buf[200..300], &[3u8; 100]);
}

/// RFC 2883 section 4, rule 4: a duplicate of out-of-order data is
/// reported first, and the range holding it comes second.
#[test]
fn a_duplicate_of_out_of_order_data_is_reported_before_its_range() {
    let mut p = Peer::passive(Config::default());
    let base = p.seq;
    let r = |a: usize, b: usize| (base + a * 100, base + b * 100);
    // Segments 1 and 2 arrive (0 is missing): one range 100..300.
    batch(&mut p, base, &[1, 2]);
    // Segment 2 again.
    let out = batch(&mut p, base, &[2]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].ack, base);
    assert_eq!(out[0].options.sack_blocks(), &[r(2, 3), r(1, 3)]);
    assert_eq!(p.us.stats().dsacks_sent, 1);
}

/// Without SACK negotiated there is no D-SACK either.
#[test]
fn without_sack_a_duplicate_draws_a_plain_ack() {
    let mut p = Peer::passive(Config {
        sack: false,
        ..Config::default()
    });
    let (_, out) = twice(&mut p);
    assert_eq!(out.len(), 1);
    assert!(out[0].options.sack_blocks().is_empty());
    assert_eq!(p.us.stats().dsacks_sent, 0);
}

/// The sender side: an ACK whose first SACK block lies below its
/// cumulative acknowledgment, or within its second block, is a D-SACK
/// (counted; the scoreboard ignores what lies below `SND.UNA`).
#[test]
fn dsack_blocks_from_the_peer_are_counted() {
    let mut p = Peer::passive(Config::default());
    p.us.send(p.id, &[5u8; 3000]).unwrap();
    p.wait(0);
    let una = p.ack;
    // Below the cumulative acknowledgment: 0..100 received twice.
    sack(&mut p, una + 1000, &[(una, una + 100)]);
    assert_eq!(p.us.stats().dsacks_received, 1);
    // Within the second block (a duplicate of SACKed data).
    sack(
        &mut p,
        una + 1000,
        &[(una + 2000, una + 2100), (una + 2000, una + 2500)],
    );
    assert_eq!(p.us.stats().dsacks_received, 2);
    // A plain SACK is none.
    sack(&mut p, una + 1000, &[(una + 2600, una + 2800)]);
    assert_eq!(p.us.stats().dsacks_received, 2);
}

/// "ACK every second full-sized segment" follows the peer's segment size
/// down: after segments of 1,448 bytes, the peer's path MTU drops and its
/// segments are 1,000 bytes long; from the second of those, every second
/// one is acknowledged at once (not every third, by the old size).
#[test]
fn every_second_segment_is_acknowledged_when_the_peers_segments_shrink() {
    let mut p = Peer::passive(Config::default());
    let acks = |out: &[Seg]| out.iter().filter(|s| s.flags.ack()).count();
    assert_eq!(acks(&p.send(Flags::ACK, &[1u8; SEG])), 0);
    assert_eq!(acks(&p.send(Flags::ACK, &[1u8; SEG])), 1, "the second");
    let sent: Vec<usize> = (0..6)
        .map(|_| acks(&p.send(Flags::ACK, &[2u8; 1000])))
        .collect();
    assert_eq!(sent, [0, 1, 0, 1, 0, 1]);
}
