//! Black-hole detection (`Config::black_hole_detection`): a path that
//! drops our full segments without an ICMP report (RFC 2923 section 2.1)
//! is met by smaller segments from the R1-th retransmission timeout in a
//! row on, as Linux's `tcp_mtu_probing = 1` does.

use super::harness::*;
use crate::net::tcp::Config;
use crate::net::wire::tcp::Options;
use crate::net::wire::tcp::{Flags, SeqNumber};
use alloc::vec::Vec;

/// What an IPv4 path of 552 bytes, the floor, carries per segment: less 20
/// bytes of IPv4, 20 of TCP and 12 of timestamps.
const FLOOR: usize = 552 - 52;

fn detecting() -> Config {
    Config {
        black_hole_detection: true,
        ..Config::default()
    }
}

/// Lets `timeouts` more retransmission timeouts pass with every segment
/// lost; the payload sizes and first sequence numbers of what each timeout
/// sent.
fn lose_until(p: &mut Peer, timeouts: u64) -> Vec<(usize, SeqNumber)> {
    let mut resent = Vec::new();
    let goal = p.us.stats().timeouts + timeouts;
    while p.us.stats().timeouts < goal {
        let before = p.us.stats().timeouts;
        let d = p.us.next_deadline().expect("a timer runs");
        let out = p.wait(d - p.now);
        if p.us.stats().timeouts > before {
            let first = out.first().expect("a timeout resends");
            resent.push((first.payload.len(), first.seq));
        }
    }
    resent
}

/// The first two timeouts resend full segments; the third (R1) falls to
/// 1,024 bytes, the fourth to half of that, the fifth to the floor, and
/// the size stays there. Each resends from SND.UNA.
#[test]
fn from_r1_on_each_timeout_lowers_the_segment_size_to_the_floor() {
    let (mut p, first) = sending_with(detecting(), 4);
    let una = first[0].seq;
    let resent = lose_until(&mut p, 6);
    let sizes: Vec<usize> = resent.iter().map(|r| r.0).collect();
    assert_eq!(sizes, [SEG, SEG, 1024, 512, FLOOR, FLOOR]);
    assert!(resent.iter().all(|r| r.1 == una), "{resent:?}");
    assert_eq!(p.us.stats().black_hole_decreases, 3);
    assert_eq!(p.us.info(p.id).unwrap().mss, FLOOR);
    assert_eq!(p.us.stats().pmtu_decreases, 0, "no report came");
    // The small segments get through: the rest follows in their size.
    p.ack = una + FLOOR;
    let out = p.send(Flags::ACK, b"");
    assert!(!out.is_empty());
    assert!(out.iter().all(|s| s.payload.len() <= FLOOR), "{out:?}");
}

/// Ten minutes after the size fell, full segments are tried again (the
/// path may have been repaired, or the timeouts had another cause).
#[test]
fn full_segments_are_tried_again_ten_minutes_later() {
    let (mut p, first) = sending_with(detecting(), 2);
    lose_until(&mut p, 3);
    assert_eq!(p.us.info(p.id).unwrap().mss, 1024);
    // The whole flight gets through (in small segments).
    p.ack = first[0].seq + 2 * SEG;
    assert!(p.send(Flags::ACK, b"").is_empty());
    // The largest segment of what is sent after `wait`, all of it
    // acknowledged as it comes.
    let largest = |p: &mut Peer, wait: u64| {
        let mut out = p.wait(wait);
        p.us.send(p.id, &[7u8; 2 * SEG]).unwrap();
        out.extend(p.wait(0));
        let mut largest = 0;
        while let Some(last) = out.last() {
            largest = out
                .iter()
                .map(|s| s.payload.len())
                .max()
                .unwrap()
                .max(largest);
            p.ack = last.seq + last.payload.len();
            out = p.send(Flags::ACK, b"");
        }
        largest
    };
    assert_eq!(largest(&mut p, 0), 1024);
    assert_eq!(largest(&mut p, 300_000 * MS), 1024);
    assert_eq!(largest(&mut p, 300_000 * MS), SEG);
    assert_eq!(p.us.stats().pmtu_increases, 1);
    assert_eq!(p.us.stats().black_hole_decreases, 1);
}

/// A short flight lost again and again: the size falls below it (here
/// to the floor, above half of it), since a path narrower than a full
/// segment may be narrower than this one too.
#[test]
fn a_short_flight_lowers_the_size_below_itself() {
    let mut p = Peer::passive(detecting());
    p.us.send(p.id, &[1u8; 900]).unwrap();
    assert_eq!(p.wait(0).len(), 1);
    let resent = lose_until(&mut p, 4);
    let sizes: Vec<usize> = resent.iter().map(|r| r.0).collect();
    assert_eq!(sizes, [900, 900, FLOOR, FLOOR]);
    assert_eq!(p.us.info(p.id).unwrap().mss, FLOOR);
    assert_eq!(p.us.stats().black_hole_decreases, 1);
}

/// A segment no larger than the floor was not lost for its size: the
/// size stays.
#[test]
fn a_flight_within_the_floor_keeps_the_size() {
    let mut p = Peer::passive(detecting());
    p.us.send(p.id, &[1u8; FLOOR]).unwrap();
    assert_eq!(p.wait(0).len(), 1);
    let resent = lose_until(&mut p, 5);
    assert!(resent.iter().all(|r| r.0 == FLOOR), "{resent:?}");
    assert_eq!(p.us.info(p.id).unwrap().mss, SEG);
    assert_eq!(p.us.stats().black_hole_decreases, 0);
}

/// Off (the default, as Linux) the segments keep their size whatever the
/// timeouts; so with R1 at 0 (negative advice off).
#[test]
fn off_by_default_and_without_r1() {
    for config in [
        Config::default(),
        Config {
            r1_retries: 0,
            ..detecting()
        },
    ] {
        let (mut p, _) = sending_with(config, 4);
        let resent = lose_until(&mut p, 6);
        assert!(resent.iter().all(|r| r.0 == SEG), "{resent:?}");
        assert_eq!(p.us.stats().black_hole_decreases, 0);
        assert_eq!(p.us.info(p.id).unwrap().mss, SEG);
    }
}

/// A segment cut short by the peer's window still carries its SACK
/// blocks: the packet, not the payload alone, must fit the smaller size.
/// Here (no timestamps: the floor is 512 bytes) 512 bytes of payload and a
/// SACK block of 12 bytes are 12 bytes over the floor's packet, and the
/// third timeout sends 500. (Found by the stack's soak: the payload alone
/// fitted the floor, and the segment went again for ever.)
#[test]
fn a_window_limited_segment_with_sack_blocks_falls_to_fit_the_packet() {
    // (A small window from the start, so that sender SWS avoidance lets
    // half of it go.)
    let mut syn = Seg::peer_syn(Options {
        mss: Some(1460),
        sack_permitted: true,
        ..Default::default()
    });
    syn.window = 1024;
    let mut p = Peer::passive_with(detecting(), &syn);
    let mut shut = p.seg(Flags::ACK, b"");
    shut.window = 512;
    p.deliver(&shut);
    // Out-of-order bytes from the peer: our segments carry a SACK block.
    let mut ahead = p.seg(Flags::ACK, &[9u8; 10]);
    ahead.seq = p.seq + 100;
    ahead.window = 512;
    p.deliver(&ahead);
    p.us.send(p.id, &[1u8; 2000]).unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].payload.len(), out[0].options.sack_len), (512, 1));
    let resent = lose_until(&mut p, 3);
    let sizes: Vec<usize> = resent.iter().map(|r| r.0).collect();
    assert_eq!(sizes, [512, 512, 500]);
    assert_eq!(p.us.stats().black_hole_decreases, 1);
    assert_eq!(p.us.info(p.id).unwrap().mss, 512);
}
