//! Timers against a scripted peer in the states and situations where they
//! are easy to miss: keep-alive out of ESTABLISHED and with data
//! outstanding, zero-window probing of a peer that went silent.

use super::harness::*;
use crate::net::tcp::{Config, KeepAlive, State, TcpEngine, TcpError};
use crate::net::wire::tcp::{Flags, SeqNumber};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;

fn keepalive() -> KeepAlive {
    KeepAlive {
        idle_ns: 10_000 * MS,
        interval_ns: 1_000 * MS,
        count: 3,
    }
}

/// A keep-alive probe: no payload, one below what the peer acknowledged.
fn is_probe(p: &Peer, s: &Seg) -> bool {
    s.payload.is_empty() && !s.flags.fin() && s.seq == p.ack - 1
}

#[test]
fn keepalive_set_in_close_wait_probes_and_times_out() {
    // The peer half-closed; we hold the connection without writing (a
    // server still computing its answer). Linux probes in CLOSE-WAIT: a
    // peer that vanished must not hold the connection forever.
    let mut p = Peer::passive(Config::default());
    p.send(Flags::FIN | Flags::ACK, b"");
    assert_eq!(p.us.state(p.id), Ok(State::CloseWait));
    p.us.set_keepalive(p.id, Some(keepalive())).unwrap();
    let out = p.wait(10_001 * MS);
    assert_eq!(out.len(), 1, "a keep-alive probe after the idle time");
    assert!(is_probe(&p, &out[0]), "{out:?}");
    let out = p.wait(10_000 * MS);
    assert_eq!(out.iter().filter(|s| is_probe(&p, s)).count(), 2);
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.send(p.id, b"x"), Err(TcpError::TimedOut));
}

#[test]
fn keepalive_giving_up_resets_the_connection() {
    // The probes' answers may be what was lost: the peer may still hold
    // the connection. A reset tells it the connection is gone (as Linux's
    // keep-alive timer does), from our highest sequence number, with the
    // acknowledgment it expects (RFC 5961).
    let mut p = Peer::passive(Config::default());
    p.send(Flags::ACK, b"hello");
    p.us.set_keepalive(p.id, Some(keepalive())).unwrap();
    // Probes at 10, 11 and 12 s of silence; the end at 13 s.
    let out = p.wait(12_500 * MS);
    assert_eq!(out.iter().filter(|s| is_probe(&p, s)).count(), 3, "{out:?}");
    assert!(out.iter().all(|s| !s.flags.rst()), "{out:?}");
    let out = p.wait(1_000 * MS);
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].flags.rst(), "{out:?}");
    assert_eq!((out[0].seq, out[0].ack), (p.ack, p.seq), "{out:?}");
    assert_eq!(p.us.send(p.id, b"x"), Err(TcpError::TimedOut));
    assert_eq!(p.us.stats().aborted_on_timeout, 1);
}

#[test]
fn keepalive_set_in_fin_wait_2_probes() {
    // We half-closed and still read: the peer's silence in FIN-WAIT-2 is
    // what keep-alive is for.
    let mut p = Peer::passive(Config::default());
    p.us.shutdown_write(p.id).unwrap();
    let fin = p.wait(0).remove(0);
    assert!(fin.flags.fin());
    p.ack = fin.seq + 1;
    p.send(Flags::ACK, b"");
    assert_eq!(p.us.state(p.id), Ok(State::FinWait2));
    p.us.set_keepalive(p.id, Some(keepalive())).unwrap();
    let out = p.wait(10_001 * MS);
    assert_eq!(out.len(), 1, "a keep-alive probe after the idle time");
    assert!(is_probe(&p, &out[0]), "{out:?}");
}

#[test]
fn keepalive_waits_while_data_is_outstanding() {
    // RFC 9293 section 3.8.4 (MUST-26): keep-alive probes only when no
    // sent data is outstanding; the retransmission timer decides when an
    // unanswered peer is gone (Linux reschedules keep-alive then).
    let mut p = Peer::passive(Config::default());
    p.us.set_keepalive(p.id, Some(keepalive())).unwrap();
    p.wait(0);
    p.us.send(p.id, b"unanswered").unwrap();
    let out = p.wait(0);
    assert_eq!(out[0].payload, b"unanswered");
    // The peer is silent for 30 s: idle time plus three probe intervals,
    // twice over.
    let out = p.wait(30_000 * MS);
    assert!(!out.is_empty(), "retransmissions");
    assert!(
        out.iter().all(|s| s.payload == b"unanswered"),
        "only retransmissions, no keep-alive probe: {out:?}"
    );
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    // The retransmission timer gives up in the end.
    assert_eq!(p.us.stats().aborted_on_timeout, 0);
    p.wait(3_600_000 * MS);
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.send(p.id, b"x"), Err(TcpError::TimedOut));
    assert_eq!(p.us.stats().aborted_on_timeout, 1);
}

#[test]
fn zero_window_probes_unanswered_time_out() {
    // RFC 1122 4.2.2.17: the window may stay shut as long as the peer
    // answers the probes; a peer that stopped answering them is gone, and
    // the connection must end (Linux: `tcp_retries2` unanswered probes).
    let mut p = Peer::behind_a_shut_window(b"waiting");
    // More answered probes than `max_retries`: the connection lives.
    assert!(p.answer_probes(20) >= 20, "the persist timer");
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    // Then the peer goes silent.
    p.wait(3_600_000 * MS);
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.send(p.id, b"x"), Err(TcpError::TimedOut));
    assert_eq!(p.us.stats().aborted_on_timeout, 1);
}

/// A probe of a shut window and an ACK owed for the peer's data fall due
/// together: the ACK goes on its own, numbered where the peer accepts it,
/// then the probe; a delayed ACK still goes when its time comes. The
/// probe's old sequence number makes the peer drop it (on purpose, to draw
/// its ACK) with the acknowledgment it carries: merged into the probe, or
/// taken as sent by it, the acknowledgment was lost. A peer whose
/// retransmissions back off as our probes do, from the same round trip,
/// arrived as each probe fell due and never learnt that its data had come
/// (found by the stack's soak: the peer's connection timed out).
#[test]
fn an_ack_owed_as_a_probe_falls_due_goes_on_its_own() {
    let mut p = Peer::behind_a_shut_window(b"waiting");
    // New data as the probe falls due: the probe, and the ACK delayed.
    p.now = p.us.next_deadline().expect("the persist timer");
    let mut data = p.seg(Flags::ACK | Flags::PSH, b"data");
    data.window = 0;
    p.seq += 4;
    let out = p.deliver(&data);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].seq, p.ack - 1, "the probe: {out:?}");
    let out = p.wait(Config::default().delayed_ack_ns);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].seq, out[0].ack), (p.ack, p.seq), "the ACK: {out:?}");
    // A duplicate as the next probe falls due (its ACK was lost): the ACK
    // it draws at once, then the probe.
    p.now = p.us.next_deadline().expect("the persist timer");
    let mut again = p.seg(Flags::ACK | Flags::PSH, b"data");
    again.seq = again.seq - 4;
    again.window = 0;
    let out = p.deliver(&again);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!((out[0].seq, out[0].ack), (p.ack, p.seq), "the ACK: {out:?}");
    assert_eq!(out[1].seq, p.ack - 1, "the probe: {out:?}");
    assert_eq!(p.us.stats().window_probes, 2);
}

#[test]
fn window_shut_with_data_in_flight_is_probed_after_the_timeout() {
    // The peer takes part of a flight, shuts its window (its reader is
    // slow) and drops the rest; its later window update is lost. The
    // retransmission timeout then finds nothing it may send: something
    // must still probe the window (RFC 9293 section 3.8.6.1), or the
    // connection waits forever.
    let mut p = Peer::passive(Config::default());
    let data = alloc::vec![5u8; 2 * 1448];
    p.us.send(p.id, &data).unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 2, "{out:?}");
    // The first segment acknowledged, the window shut.
    p.ack = out[0].seq + out[0].payload.len();
    let mut s = p.seg(Flags::ACK, b"");
    s.window = 0;
    assert!(p.deliver(&s).is_empty());
    // Silence: the timers must probe the shut window.
    let out = p.wait(10_000 * MS);
    // (The tail loss probe resends the last segment; the timeout then
    // finds the window shut.)
    assert!(!out.is_empty());
    assert_eq!(p.us.stats().timeouts, 1);
    assert!(
        p.us.stats().window_probes > 0,
        "no probe of the shut window"
    );
    // The window opens (the peer's update was lost; a probe's answer says
    // so): the rest of the data goes.
    let mut s = p.seg(Flags::ACK, b"");
    s.window = 1024;
    let out = p.deliver(&s);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].payload, &data[1448..]);
}

#[test]
fn abort_after_a_timeout_resets_from_the_highest_sequence_sent() {
    // RFC 9293's ABORT sends <SEQ=SND.NXT><CTL=RST>, SND.NXT being the
    // next new sequence number: a retransmission timeout moves our
    // `snd_nxt` back, not RFC 9293's. A peer that holds the whole flight
    // (its ACKs were lost) accepts a RST only at exactly its RCV.NXT (RFC
    // 5961 section 3.2): one from a lower number only draws a challenge ACK.
    let mut p = Peer::passive(Config::default());
    let data = alloc::vec![1u8; 3 * 1448];
    p.us.send(p.id, &data).unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 3);
    let end = out[2].seq + out[2].payload.len();
    // No ACK comes: the tail loss probe, then the timeout's resend of the
    // first segment.
    while p.us.stats().timeouts == 0 {
        let d = p.us.next_deadline().unwrap();
        p.wait(d - p.now);
    }
    p.us.abort(p.id).unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 1);
    assert!(out[0].flags.rst());
    assert_eq!(out[0].seq, end, "the RST's sequence number");
}

#[test]
fn time_wait_record_of_a_late_close_expires_in_time() {
    // A connection of the application's reaches TIME-WAIT (2 MSL from
    // then); before the application lets it go, another connection's
    // record starts its 2 MSL. The late close keeps the first deadline:
    // its record must go at that deadline, not when the later one's does.
    let mut p = Peer::passive(Config::default());
    p.close_to_time_wait();
    let t0 = p.now;
    p.wait(30_000 * MS);
    // Another connection (active, to B:6000) closes first: an orphan in
    // TIME-WAIT until t0 + 90 s.
    let c = p.us.connect(p.now, (A, 0), (B, 6000)).unwrap();
    let syn = p.wait(0).remove(0);
    let mut synack = syn.reply(SeqNumber(7000), syn.seq + 1, Flags::SYN | Flags::ACK);
    synack.options.mss = Some(1460);
    p.deliver(&synack);
    p.us.close(c).unwrap();
    let fin = p.wait(0).into_iter().find(|s| s.flags.fin()).unwrap();
    let finack = fin.reply(SeqNumber(7001), fin.seq + 1, Flags::FIN | Flags::ACK);
    p.deliver(&finack);
    assert_eq!(p.us.occupancy().time_wait, 1);
    // The first connection let go at t0 + 40 s.
    p.wait(10_000 * MS);
    p.us.close(p.id).unwrap();
    assert_eq!(p.us.occupancy().time_wait, 2);
    // Just past t0 + 60 s: the first record is gone.
    p.wait(t0 + 60_001 * MS - p.now);
    assert_eq!(p.us.occupancy().time_wait, 1, "2 MSL after TIME-WAIT began");
    p.wait(30_000 * MS);
    assert_empty(&p.us);
}

/// An active open whose SYN was lost once (resent at 1 s) and whose
/// SYN-ACK then came (at 1.01 s, or with `lost` false at 10 ms, after the
/// first SYN): the engine, the connection and the time.
fn opened_actively(lost: bool) -> (crate::net::tcp::TcpEngine, crate::net::tcp::ConnId, u64) {
    let mut us = crate::net::tcp::TcpEngine::new(Config::default(), [1; 32]);
    let id = us.connect(0, (A, 0), (B, 80)).unwrap();
    let syn = flush(&mut us, 0).remove(0);
    let mut now = 10 * MS;
    if lost {
        let again = flush(&mut us, 1_000 * MS);
        assert_eq!(again.len(), 1, "the SYN again");
        assert_eq!(again[0].flags, Flags::SYN);
        now = 1_010 * MS;
    }
    let mut synack = syn.reply(SeqNumber(5000), syn.seq + 1, Flags::SYN | Flags::ACK);
    synack.options.mss = Some(1460);
    feed(&mut us, now, &synack);
    assert_eq!(us.info(id).unwrap().state, State::Established);
    (us, id, now)
}

/// A passive open whose SYN-ACK was lost once (resent at 1 s) and whose
/// ACK then came (at 1.01 s): the engine and the accepted connection.
fn opened_passively_after_a_lost_syn_ack() -> (crate::net::tcp::TcpEngine, crate::net::tcp::ConnId)
{
    let mut us = crate::net::tcp::TcpEngine::new(Config::default(), [1; 32]);
    let l = us.listen(80, 8).unwrap();
    let syn = Seg::peer_syn(crate::net::wire::tcp::Options {
        mss: Some(1460),
        ..Default::default()
    });
    let synack = feed(&mut us, 0, &syn).remove(0);
    assert_eq!(flush(&mut us, 1_000 * MS).len(), 1, "the SYN-ACK again");
    let ack = synack.reply(SeqNumber(1001), synack.seq + 1, Flags::ACK);
    feed(&mut us, 1_010 * MS, &ack);
    let id = us.accept(l).unwrap().expect("established");
    (us, id)
}

#[test]
fn rto_is_three_seconds_after_a_syn_timed_out() {
    // RFC 6298 (5.7): when the timer expired awaiting the ACK of a SYN
    // and the RTO is below 3 s, it MUST be 3 s once data transmission
    // begins (until a round-trip sample, which the retransmitted SYN could
    // not give).
    let (us, id, _) = opened_actively(true);
    assert_eq!(us.info(id).unwrap().rto_ns, 3_000 * MS);
}

#[test]
fn rto_is_three_seconds_after_a_syn_ack_timed_out() {
    // RFC 6298 (5.7) on the passive side: the SYN-ACK timed out.
    let (us, id) = opened_passively_after_a_lost_syn_ack();
    assert_eq!(us.info(id).unwrap().rto_ns, 3_000 * MS);
}

#[test]
fn the_initial_window_is_one_segment_after_a_syn_or_syn_ack_timed_out() {
    // RFC 5681 section 3.1 (and RFC 6928 section 2): if the SYN or
    // SYN-ACK is lost, the initial window after a correctly transmitted
    // SYN MUST be one segment. Active side: our SYN was resent.
    let (mut us, id, now) = opened_actively(true);
    let i = us.info(id).unwrap();
    assert_eq!(i.cwnd, i.mss, "{i:?}");
    us.send(id, &[7u8; 10_000]).unwrap();
    let out = flush(&mut us, now + 10 * MS);
    assert_eq!(out.len(), 1, "one segment: {out:?}");
    // Passive side: our SYN-ACK was resent.
    let (us, id) = opened_passively_after_a_lost_syn_ack();
    let i = us.info(id).unwrap();
    assert_eq!(i.cwnd, i.mss, "{i:?}");
    // Without a loss the initial window is the usual one.
    let (us, id, _) = opened_actively(false);
    let i = us.info(id).unwrap();
    assert_eq!(i.cwnd, 10 * i.mss, "{i:?}");
}

/// R1 (RFC 9293 section 3.8.3): from the third retransmission timeout in a
/// row of the same data on, each one passes negative advice about the peer
/// to IP, and the count is the application's
/// (`ConnInfo::consecutive_timeouts`); an ACK of the data ends it, and the
/// next stall counts from zero. The SYN's timeouts count as well;
/// `r1_retries` 0 turns the advice off.
#[test]
fn negative_advice_from_the_third_timeout_in_a_row_until_an_ack() {
    /// Dispatches at every deadline for `ns`; returns the advice passed
    /// and, after each timeout, (timeouts so far, the connection's count).
    fn run(p: &mut Peer, ns: u64) -> (Vec<IpAddr>, Vec<(u64, u32)>) {
        let (mut advised, mut counts) = (Vec::new(), Vec::new());
        let end = p.now + ns;
        while let Some(d) = p.us.next_deadline().filter(|&d| d <= end) {
            p.now = p.now.max(d);
            let before = p.us.stats().timeouts;
            let mut cap = Capture::new();
            p.us.dispatch(p.now, &mut cap);
            advised.append(&mut cap.advised);
            let timeouts = p.us.stats().timeouts;
            if timeouts > before {
                counts.push((timeouts, p.us.info(p.id).unwrap().consecutive_timeouts));
            }
        }
        p.now = end;
        (advised, counts)
    }
    let (mut p, out) = sending(1);
    assert_eq!(out.len(), 1);
    let (advised, counts) = run(&mut p, 30_000 * MS);
    // About 0.2, 0.6, 1.4, 3, 6.2, 12.6 and 25.4 s.
    assert_eq!(counts.len(), 7, "{counts:?}");
    for &(timeouts, count) in &counts {
        assert_eq!(u64::from(count), timeouts);
    }
    assert_eq!(advised, [B; 5], "advice from the third timeout on");
    assert_eq!(p.us.stats().negative_advice, 5);

    // Acknowledged: back to zero; a new stall starts over.
    p.ack += SEG;
    p.send(Flags::ACK, b"");
    assert_eq!(p.us.info(p.id).unwrap().consecutive_timeouts, 0);
    p.us.send(p.id, &[7; 100]).unwrap();
    p.wait(0);
    // (The timeout stays backed off without a sample: Karn.)
    let (advised, counts) = run(&mut p, 200_000 * MS);
    assert!(counts.len() >= 3, "{counts:?}");
    let counted: Vec<u32> = counts.iter().map(|c| c.1).collect();
    assert_eq!(counted, (1..=counts.len() as u32).collect::<Vec<_>>());
    assert_eq!(advised.len(), counts.len() - 2, "{advised:?}");

    // The SYN of connect: the advice passed and the timeouts in `ns`.
    let connecting = |config: Config, ns: u64| {
        let mut us = TcpEngine::new(config, [1; 32]);
        us.connect(0, (A, 0), (B, 80)).unwrap();
        let mut cap = Capture::new();
        let mut now = 0;
        while now < ns {
            us.dispatch(now, &mut cap);
            now = us.next_deadline().unwrap();
        }
        (cap.advised, us.stats().timeouts)
    };
    // Timeouts at 1, 3 and 7 s: advice at the third.
    assert_eq!(connecting(Config::default(), 10_000 * MS), (vec![B], 3));
    // Turned off.
    let off = Config {
        r1_retries: 0,
        ..Config::default()
    };
    let (advised, timeouts) = connecting(off, 60_000 * MS);
    assert!(timeouts >= 5);
    assert!(advised.is_empty());
}

/// R1 counts probes too: a probe of a shut window, or a keep-alive probe,
/// that goes out after R1 of them went unanswered passes negative advice,
/// as a retransmission does. While the window is shut nothing else is
/// sent: a first hop whose link address changed (or an ARP entry
/// poisoned by a corrupted reply, found by the stack's soak) would
/// otherwise be checked only when its entry expires, after the connection
/// gave up. An answered probe starts the count over.
#[test]
fn negative_advice_from_the_fourth_unanswered_probe() {
    /// Runs the timers until `probes` more probes went (`count` reads the
    /// stat); the advice passed meanwhile.
    fn probe(p: &mut Peer, count: fn(&Peer) -> u64, probes: u64) -> Vec<IpAddr> {
        let (mut advised, target) = (Vec::new(), count(p) + probes);
        while count(p) < target {
            p.now = p.us.next_deadline().expect("a probe timer");
            let mut cap = Capture::new();
            p.us.dispatch(p.now, &mut cap);
            advised.append(&mut cap.advised);
        }
        advised
    }
    let window_probes = |p: &Peer| p.us.stats().window_probes;
    let mut p = Peer::behind_a_shut_window(b"waiting");
    assert!(probe(&mut p, window_probes, 3).is_empty());
    assert_eq!(probe(&mut p, window_probes, 2), [B; 2], "the fourth on");
    // The next (advice with it too) answered, the window still shut: the
    // count starts over.
    assert_eq!(p.answer_probes(1), 1);
    assert_eq!(p.us.stats().negative_advice, 3);
    assert!(probe(&mut p, window_probes, 3).is_empty());
    assert_eq!(probe(&mut p, window_probes, 1), [B]);
    assert_eq!(p.us.stats().negative_advice, 4);
    assert_eq!(p.us.stats().timeouts, 0);

    // Keep-alive, six probes allowed: advice with the fourth, fifth and
    // sixth; then the connection gives up.
    let keepalive_probes = |p: &Peer| p.us.stats().keepalive_probes;
    let mut p = Peer::passive(Config::default());
    p.send(Flags::ACK, b"hello");
    let six = KeepAlive {
        count: 6,
        ..keepalive()
    };
    p.us.set_keepalive(p.id, Some(six)).unwrap();
    assert!(probe(&mut p, keepalive_probes, 3).is_empty());
    assert_eq!(probe(&mut p, keepalive_probes, 3), [B; 3]);
    p.wait(2 * six.interval_ns);
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.stats().negative_advice, 3);

    // Turned off with the rest of R1's advice.
    let off = Config {
        r1_retries: 0,
        ..Config::default()
    };
    let mut p = Peer::behind_a_shut_window_with(off, b"waiting");
    assert!(probe(&mut p, window_probes, 8).is_empty());
}
