//! The user timeout (RFC 9293 section 3.8.3: an application MUST be able
//! to set R2 for a connection; Linux's `TCP_USER_TIMEOUT`): giving up is a
//! matter of time without progress rather than of a count of tries, for
//! retransmissions, the opening handshake, zero-window probes and
//! keep-alive probes.

use super::harness::*;
use crate::net::tcp::{Config, KeepAlive, State, TcpEngine, TcpError};
use crate::net::wire::tcp::Flags;
use alloc::vec::Vec;

const S: u64 = 1_000 * MS;

/// Runs the peer's clock, timer by timer, until the connection is closed
/// or `limit` passed; returns the time it closed.
fn closes_at(p: &mut Peer, limit: u64) -> Option<u64> {
    while p.now < limit {
        let Some(d) = p.us.next_deadline() else {
            break;
        };
        p.wait(d.min(limit).saturating_sub(p.now));
        if p.us.state(p.id) == Ok(State::Closed) {
            return Some(p.now);
        }
    }
    None
}

#[test]
fn retransmissions_give_up_at_the_user_timeout() {
    let mut p = Peer::passive(Config::default());
    p.us.set_user_timeout(p.id, Some(30 * S)).unwrap();
    let sent = p.now;
    p.us.send(p.id, b"unanswered").unwrap();
    assert_eq!(p.wait(0)[0].payload, b"unanswered");
    // (The default count, 15 tries, would take some 9 minutes.)
    assert_eq!(closes_at(&mut p, sent + 3_600 * S), Some(sent + 30 * S));
    assert_eq!(p.us.send(p.id, b"x"), Err(TcpError::TimedOut));
    assert_eq!(p.us.stats().timeouts, 8, "7 resends, then the end");
}

#[test]
fn a_long_user_timeout_outlives_the_retry_count() {
    // An application that must ride out a long outage: the retry count
    // (15 by default, some 9 minutes) no longer ends the connection.
    let mut p = Peer::passive(Config::default());
    p.us.set_user_timeout(p.id, Some(7_200 * S)).unwrap();
    let sent = p.now;
    p.us.send(p.id, b"unanswered").unwrap();
    p.wait(0);
    p.wait(3_600 * S);
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    assert!(p.us.stats().timeouts > 16, "{:?}", p.us.stats());
    assert_eq!(closes_at(&mut p, sent + 9_000 * S), Some(sent + 7_200 * S));
    assert_eq!(p.us.send(p.id, b"x"), Err(TcpError::TimedOut));
}

#[test]
fn progress_restarts_the_user_timeout() {
    // The peer acknowledges a segment every 4 s (while resends go out):
    // the connection lives on with a user timeout of 5 s, and gives up 5 s
    // after the last progress.
    let (mut p, out) = sending(8);
    p.us.set_user_timeout(p.id, Some(5 * S)).unwrap();
    assert_eq!(out.len(), 8);
    let mut last = p.now;
    for s in &out[..6] {
        p.wait(4 * S);
        assert_eq!(p.us.state(p.id), Ok(State::Established));
        p.ack = s.seq + s.payload.len();
        p.send(Flags::ACK, b"");
        last = p.now;
    }
    assert_eq!(closes_at(&mut p, last + 60 * S), Some(last + 5 * S));
}

#[test]
fn unanswered_zero_window_probes_give_up_at_the_user_timeout() {
    let mut p = Peer::passive(Config::default());
    p.us.set_user_timeout(p.id, Some(10 * S)).unwrap();
    let mut s = p.seg(Flags::ACK, b"");
    s.window = 0;
    p.deliver(&s);
    p.us.send(p.id, b"waiting").unwrap();
    assert!(p.wait(0).is_empty());
    // Answered probes, longer than the user timeout in all: the window may
    // stay shut as long as the peer answers (RFC 1122 4.2.2.17).
    let start = p.now;
    while p.now < start + 120 * S {
        let d = p.us.next_deadline().expect("the persist timer");
        for _ in p.wait(d - p.now) {
            let mut r = p.seg(Flags::ACK, b"");
            r.window = 0;
            p.deliver(&r);
        }
    }
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    // Then the peer goes silent: the first unanswered probe, and 10 s.
    let d = p.us.next_deadline().expect("the persist timer");
    assert_eq!(p.wait(d - p.now).len(), 1, "a probe");
    let first = p.now;
    assert_eq!(closes_at(&mut p, first + 600 * S), Some(first + 10 * S));
    assert_eq!(p.us.send(p.id, b"x"), Err(TcpError::TimedOut));
}

#[test]
fn unanswered_keepalive_probes_give_up_at_the_user_timeout() {
    // Probes every second after 10 s idle, 3 of them by count; the user
    // timeout of 5 s replaces the count: 5 probes, the end 5 s after the
    // first.
    let mut p = Peer::passive(Config::default());
    let start = p.now;
    p.us.set_keepalive(
        p.id,
        Some(KeepAlive {
            idle_ns: 10 * S,
            interval_ns: S,
            count: 3,
        }),
    )
    .unwrap();
    p.us.set_user_timeout(p.id, Some(5 * S)).unwrap();
    p.wait(0);
    assert_eq!(closes_at(&mut p, start + 100 * S), Some(start + 15 * S));
    assert_eq!(p.us.stats().keepalive_probes, 5);
    assert_eq!(p.us.send(p.id, b"x"), Err(TcpError::TimedOut));
}

/// A connection opened by `us` at time 0 whose SYNs all get lost; returns
/// the times of the SYNs and when the connection gave up.
fn unanswered_connect(config: Config) -> (Vec<u64>, u64) {
    let mut us = TcpEngine::new(config, [1; 32]);
    let id = us.connect(0, (A, 0), (B, 80)).unwrap();
    let mut now = 0;
    let mut syns = Vec::new();
    loop {
        for s in flush(&mut us, now) {
            assert_eq!(s.flags, Flags::SYN);
            syns.push(now);
        }
        if us.state(id) == Ok(State::Closed) {
            assert_eq!(us.send(id, b"x"), Err(TcpError::TimedOut));
            return (syns, now);
        }
        now = us.next_deadline().expect("a timer while opening");
        assert!(now < 3_600 * S, "still opening after an hour");
    }
}

#[test]
fn the_configured_user_timeout_covers_the_opening_handshake() {
    // By count: 7 resends, given up after 183 s (RFC 9293 section 3.8.3:
    // at least 3 minutes; the timeout is at most 60 s).
    let (syns, end) = unanswered_connect(Config::default());
    assert_eq!((syns.len(), end), (8, 183 * S));
    // RFC 9293 section 3.8.3: R2 for a SYN of at least 3 minutes.
    let three_minutes = Config {
        user_timeout_ns: Some(180 * S),
        ..Config::default()
    };
    let (syns, end) = unanswered_connect(three_minutes);
    assert_eq!((syns.len(), end), (8, 180 * S));
    let short = Config {
        user_timeout_ns: Some(10 * S),
        ..Config::default()
    };
    let (syns, end) = unanswered_connect(short);
    assert_eq!(syns, [0, S, 3 * S, 7 * S]);
    assert_eq!(end, 10 * S);
}

#[test]
fn a_user_timeout_set_during_a_stall_counts_from_its_start() {
    let mut p = Peer::passive(Config::default());
    let sent = p.now;
    p.us.send(p.id, b"unanswered").unwrap();
    p.wait(0);
    // 10 s of resends; the next is due at 12.6 s, then 25.4 s.
    p.wait(10 * S);
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    // 20 s from the first send: the timer comes forward to then.
    p.us.set_user_timeout(p.id, Some(20 * S)).unwrap();
    assert_eq!(closes_at(&mut p, sent + 600 * S), Some(sent + 20 * S));
    // Already past: the connection gives up at once.
    let mut p = Peer::passive(Config::default());
    p.us.send(p.id, b"unanswered").unwrap();
    p.wait(0);
    p.wait(10 * S);
    p.us.set_user_timeout(p.id, Some(5 * S)).unwrap();
    let now = p.now;
    assert_eq!(closes_at(&mut p, now + 600 * S), Some(now));
    // And cleared: the count decides again.
    let mut p = Peer::passive(Config::default());
    p.us.set_user_timeout(p.id, Some(5 * S)).unwrap();
    p.us.send(p.id, b"unanswered").unwrap();
    p.wait(0);
    p.wait(S);
    p.us.set_user_timeout(p.id, None).unwrap();
    p.wait(60 * S);
    assert_eq!(p.us.state(p.id), Ok(State::Established));
}
