//! Every transition of RFC 9293's state diagram, driven by crafted
//! segments or by two TCPs on the simulated wire, plus the timers that
//! cause transitions (retransmission, TIME-WAIT, keep-alive, persist).

use super::harness::*;
use crate::net::tcp::{Config, KeepAlive, State, TcpEngine, TcpError};
use crate::net::wire::tcp::{Flags, Options, SeqNumber};
use alloc::vec::Vec;

fn cfg() -> Config {
    Config::default()
}

#[test]
fn listen_syn_received_established() {
    let p = Peer::passive(cfg());
    let i = p.us.info(p.id).unwrap();
    assert_eq!(i.state, State::Established);
    assert_eq!(i.window_scale, Some((2, 7)));
    assert!(i.sack && i.timestamps);
    assert_eq!(i.mss, 1460 - 12);
    assert_eq!(i.remote, (B, 5000));
}

#[test]
fn syn_ack_mirrors_only_offered_options() {
    let mut us = TcpEngine::new(cfg(), [1; 32]);
    us.listen(80, 4).unwrap();
    let syn = Seg {
        src: B,
        dst: A,
        src_port: 4000,
        dst_port: 80,
        seq: SeqNumber(7),
        ack: SeqNumber(0),
        flags: Flags::SYN,
        window: 1000,
        urgent: 0,
        options: Options {
            mss: Some(536),
            ..Default::default()
        },
        payload: Vec::new(),
    };
    let out = feed(&mut us, 0, &syn);
    let o = out[0].options;
    assert_eq!(o.mss, Some(1460));
    assert_eq!(
        (o.window_scale, o.sack_permitted, o.timestamp),
        (None, false, None)
    );
}

#[test]
fn active_open_syn_sent_to_established() {
    let mut us = TcpEngine::new(cfg(), [1; 32]);
    let id = us.connect(0, (A, 0), (B, 80)).unwrap();
    assert_eq!(us.state(id), Ok(State::SynSent));
    let out = flush(&mut us, 0);
    assert_eq!(out.len(), 1);
    let syn = &out[0];
    assert_eq!(syn.flags, Flags::SYN);
    assert!(syn.src_port >= 49152);
    assert_eq!(syn.options.mss, Some(1460));
    assert_eq!(syn.options.window_scale, Some(2));
    assert!(syn.options.sack_permitted && syn.options.timestamp.is_some());
    let mut synack = syn.reply(SeqNumber(5000), syn.seq + 1, Flags::SYN | Flags::ACK);
    synack.options = Options {
        mss: Some(1000),
        window_scale: Some(3),
        sack_permitted: true,
        timestamp: Some((77, syn.options.timestamp.unwrap().0)),
        ..Default::default()
    };
    let out = feed(&mut us, 10 * MS, &synack);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, Flags::ACK);
    assert_eq!(out[0].ack, SeqNumber(5001));
    assert_eq!(out[0].options.timestamp.unwrap().1, 77);
    let i = us.info(id).unwrap();
    assert_eq!(i.state, State::Established);
    assert_eq!(i.mss, 1000 - 12);
    assert_eq!(i.window_scale, Some((2, 3)));
    assert!(i.srtt_ns > 0, "the SYN was timed");
}

#[test]
fn syn_sent_refused_or_ignoring_bad_segments() {
    let mut us = TcpEngine::new(cfg(), [1; 32]);
    let id = us.connect(0, (A, 0), (B, 80)).unwrap();
    let syn = flush(&mut us, 0).remove(0);
    // An ACK for something we never sent draws a RST and changes nothing.
    let bad = syn.reply(SeqNumber(1), syn.seq + 100, Flags::ACK);
    let out = feed(&mut us, 0, &bad);
    assert_eq!(out[0].flags, Flags::RST);
    assert_eq!(out[0].seq, syn.seq + 100);
    // A RST without ACK is ignored.
    assert!(
        feed(
            &mut us,
            0,
            &syn.reply(SeqNumber(1), SeqNumber(0), Flags::RST)
        )
        .is_empty()
    );
    assert_eq!(us.state(id), Ok(State::SynSent));
    // A RST acknowledging our SYN: refused.
    let rst = syn.reply(SeqNumber(0), syn.seq + 1, Flags::RST | Flags::ACK);
    assert!(feed(&mut us, 0, &rst).is_empty());
    assert_eq!(us.state(id), Ok(State::Closed));
    let mut b = [0u8; 4];
    assert_eq!(us.recv(id, &mut b), Err(TcpError::Refused));
    assert_eq!(us.send(id, b"x"), Err(TcpError::Refused));
    us.close(id).unwrap();
    assert_eq!(us.state(id), Err(TcpError::InvalidHandle));
    assert_eq!(us.occupancy().connections, 0);
}

#[test]
fn syn_retransmitted_with_backoff_then_timed_out() {
    let mut us = TcpEngine::new(cfg(), [1; 32]);
    let id = us.connect(0, (A, 0), (B, 80)).unwrap();
    let mut now = 0;
    let mut times = Vec::new();
    loop {
        let out = flush(&mut us, now);
        if !out.is_empty() {
            assert!(out.iter().all(|s| s.flags == Flags::SYN));
            times.push(now);
        }
        match us.next_deadline() {
            Some(d) => now = d,
            None => break,
        }
    }
    // The first SYN and seven retransmissions: 1, 2, 4, 8, 16, 32 s
    // apart, then the most, 60 s; the end 60 s later, 183 s after the
    // first SYN (RFC 9293 section 3.8.3: at least 3 minutes).
    assert_eq!(times.len(), 8, "{times:?}");
    for (k, w) in times.windows(2).enumerate() {
        assert_eq!(w[1] - w[0], ((1000 << k) * MS).min(60_000 * MS));
    }
    assert_eq!(now, 183_000 * MS);
    assert_eq!(us.state(id), Ok(State::Closed));
    assert_eq!(us.recv(id, &mut [0; 1]), Err(TcpError::TimedOut));
}

#[test]
fn simultaneous_open_and_simultaneous_close() {
    let mut sim = Sim::new(cfg(), cfg(), Impair::default(), 3);
    let a = sim.a.connect(sim.now, (A, 1111), (B, 2222)).unwrap();
    let b = sim.b.connect(sim.now, (B, 2222), (A, 1111)).unwrap();
    sim.run_until(10_000 * MS, |s| {
        s.a.state(a) == Ok(State::Established) && s.b.state(b) == Ok(State::Established)
    });
    assert_eq!(sim.a.send(a, b"from a"), Ok(6));
    assert_eq!(sim.b.send(b, b"from b"), Ok(6));
    sim.advance(100 * MS);
    let mut buf = [0u8; 16];
    assert_eq!(sim.a.recv(a, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b"from b");
    assert_eq!(sim.b.recv(b, &mut buf), Ok(6));
    // Both shut down in the same instant: FIN-WAIT-1, CLOSING, TIME-WAIT.
    sim.a.shutdown_write(a).unwrap();
    sim.b.shutdown_write(b).unwrap();
    assert_eq!(sim.a.state(a), Ok(State::FinWait1));
    sim.dispatch();
    sim.run_until(10_000 * MS, |s| {
        s.a.state(a) == Ok(State::TimeWait) && s.b.state(b) == Ok(State::TimeWait)
    });
    assert_eq!(sim.a.recv(a, &mut buf), Err(TcpError::Eof));
    // 2 MSL later, CLOSED.
    sim.advance(60_000 * MS + 1);
    assert_eq!(sim.a.state(a), Ok(State::Closed));
    assert_eq!(sim.b.state(b), Ok(State::Closed));
    sim.a.close(a).unwrap();
    sim.b.close(b).unwrap();
    assert_eq!(sim.a.occupancy().connections, 0);
}

#[test]
fn half_close_keeps_the_other_direction() {
    let mut sim = Sim::new(cfg(), cfg(), Impair::default(), 4);
    let (a, b) = open(&mut sim, 80);
    sim.a.shutdown_write(a).unwrap();
    sim.advance(100 * MS);
    assert_eq!(sim.a.state(a), Ok(State::FinWait2));
    assert_eq!(sim.b.state(b), Ok(State::CloseWait));
    assert_eq!(sim.b.recv(b, &mut [0; 4]), Err(TcpError::Eof));
    assert_eq!(sim.a.send(a, b"late"), Err(TcpError::Closed));
    // B still sends; A still receives.
    let mut t = Transfer::new(300_000, 5);
    sim.run_until(60_000 * MS, |s| {
        t.pump_send(&mut s.b, b);
        t.pump_recv(&mut s.a, a);
        t.done()
    });
    assert!(matches!(sim.b.state(b), Ok(State::LastAck | State::Closed)));
    sim.advance(100 * MS);
    assert_eq!(sim.b.state(b), Ok(State::Closed));
    assert_eq!(sim.a.state(a), Ok(State::TimeWait));
}

#[test]
fn passive_close_close_wait_last_ack_closed() {
    let mut p = Peer::passive(cfg());
    let out = p.send(Flags::FIN | Flags::ACK, b"");
    assert_eq!(p.us.state(p.id), Ok(State::CloseWait));
    assert_eq!(out.len(), 1, "the FIN is acknowledged at once");
    assert_eq!(out[0].ack, p.seq);
    p.us.shutdown_write(p.id).unwrap();
    assert_eq!(p.us.state(p.id), Ok(State::LastAck));
    let out = p.wait(0);
    assert_eq!(out.len(), 1);
    assert!(out[0].flags.fin());
    p.ack = out[0].seq + 1;
    p.send(Flags::ACK, b"");
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.recv(p.id, &mut [0; 1]), Err(TcpError::Eof));
    p.us.close(p.id).unwrap();
    assert_eq!(p.us.occupancy().connections, 0);
}

#[test]
fn time_wait_record_acks_retransmitted_fin_and_expires() {
    let config = Config {
        msl_ns: 1_000 * MS,
        ..cfg()
    };
    let mut p = Peer::passive(config);
    // We close first: FIN-WAIT-1.
    p.us.close(p.id).unwrap();
    let out = p.wait(0);
    assert!(out[0].flags.fin());
    let our_fin = out[0].seq;
    // The peer acknowledges our FIN and sends its own.
    p.ack = our_fin + 1;
    let out = p.send(Flags::FIN | Flags::ACK, b"");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, p.seq);
    let o = p.us.occupancy();
    assert_eq!((o.connections, o.time_wait), (0, 1), "a small record only");
    // The peer's FIN again (our ACK was lost): acknowledged again.
    p.seq = p.seq - 1;
    let out = p.send(Flags::FIN | Flags::ACK, b"");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags, out[0].ack), (Flags::ACK, p.seq));
    // A RST does not end TIME-WAIT (RFC 1337).
    let rst = p.seg(Flags::RST, b"");
    p.deliver(&rst);
    assert_eq!(p.us.occupancy().time_wait, 1);
    // 2 MSL (2 s here) later it is gone.
    p.wait(2_001 * MS);
    assert_eq!(p.us.occupancy().time_wait, 0);
    // Afterwards the 4-tuple gets a RST like any unknown one.
    let out = p.send(Flags::ACK, b"");
    assert_eq!(out[0].flags, Flags::RST);
}

#[test]
fn fin_wait_2_of_an_orphan_times_out() {
    let mut p = Peer::passive(cfg());
    p.us.close(p.id).unwrap();
    let fin = p.wait(0).remove(0);
    p.ack = fin.seq + 1;
    p.send(Flags::ACK, b"");
    assert_eq!(p.us.occupancy().connections, 1);
    p.wait(61_000 * MS);
    assert_eq!(p.us.occupancy().connections, 0);
}

#[test]
fn close_with_unread_data_resets() {
    let mut p = Peer::passive(cfg());
    p.send(Flags::ACK | Flags::PSH, b"unread");
    p.us.close(p.id).unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 1);
    assert!(out[0].flags.rst());
    assert_eq!(p.us.occupancy().connections, 0);
}

#[test]
fn data_retransmission_backs_off_and_times_out() {
    let mut p = Peer::passive(cfg());
    p.us.send(p.id, b"hello").unwrap();
    let first = p.wait(0);
    assert_eq!(first[0].payload, b"hello");
    let mut gaps = Vec::new();
    let mut last = p.now;
    for _ in 0..20 {
        let d = match p.us.next_deadline() {
            Some(d) => d,
            None => break,
        };
        let out = p.wait(d - p.now);
        if out.iter().any(|s| s.payload == b"hello") {
            gaps.push(p.now - last);
            last = p.now;
        }
        if p.us.state(p.id) == Ok(State::Closed) {
            break;
        }
    }
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.recv(p.id, &mut [0; 1]), Err(TcpError::TimedOut));
    // A tail loss probe first (the handshake gave a round-trip sample),
    // then the retransmission timeouts, backed off, up to the limit.
    assert_eq!(p.us.stats().tail_loss_probes, 1);
    assert_eq!(gaps.len(), 1 + 15);
    assert!(
        gaps[1..].windows(2).all(|w| w[1] >= w[0]),
        "backed off: {gaps:?}"
    );
    assert_eq!(
        *gaps.last().unwrap(),
        60_000 * MS,
        "capped at the maximum RTO"
    );
}

#[test]
fn delayed_ack_and_ack_every_second_segment() {
    let mut p = Peer::passive(cfg());
    // One small segment: no ACK at once; one after 40 ms.
    assert!(p.send(Flags::ACK, b"x").is_empty());
    let out = p.wait(39 * MS);
    assert!(out.is_empty());
    let out = p.wait(2 * MS);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, p.seq);
    // Two full segments: an ACK at once.
    let full = alloc::vec![7u8; 1448];
    assert!(p.send(Flags::ACK, &full).is_empty());
    let out = p.send(Flags::ACK, &full);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, p.seq);
}

#[test]
fn nagle_coalesces_small_writes_unless_nodelay() {
    let mut p = Peer::passive(cfg());
    p.us.send(p.id, b"a").unwrap();
    assert_eq!(p.wait(0).len(), 1, "nothing in flight: sent at once");
    p.us.send(p.id, b"b").unwrap();
    p.us.send(p.id, b"c").unwrap();
    assert!(p.wait(0).is_empty(), "held while 'a' is unacknowledged");
    p.ack += 1;
    let out = p.send(Flags::ACK, b"");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload, b"bc");
    p.ack += 2;
    p.send(Flags::ACK, b"");
    p.us.set_nodelay(p.id, true).unwrap();
    p.us.send(p.id, b"d").unwrap();
    p.us.send(p.id, b"e").unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 1, "d goes at once");
    p.us.send(p.id, b"f").unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 1, "f too, with d unacknowledged");
}

#[test]
fn zero_window_probes_back_off_and_transfer_resumes() {
    let mut p = Peer::passive(cfg());
    // The peer advertises a zero window.
    let mut s = p.seg(Flags::ACK, b"");
    s.window = 0;
    p.deliver(&s);
    p.us.send(p.id, b"waiting").unwrap();
    assert!(p.wait(0).is_empty());
    let mut probes = Vec::new();
    for _ in 0..4 {
        let d = p.us.next_deadline().unwrap();
        let out = p.wait(d - p.now);
        for seg in out {
            assert!(seg.payload.is_empty());
            assert_eq!(seg.seq, p.ack - 1, "a probe with an old sequence number");
            probes.push(p.now);
            // The peer answers with its (still zero) window.
            let mut r = p.seg(Flags::ACK, b"");
            r.window = 0;
            p.deliver(&r);
        }
    }
    assert_eq!(probes.len(), 4);
    assert!(
        probes.windows(3).all(|w| w[2] - w[1] > w[1] - w[0]),
        "{probes:?}"
    );
    assert_eq!(p.us.info(p.id).unwrap().state, State::Established);
    // The window opens: the data goes.
    let out = p.send(Flags::ACK, b"");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload, b"waiting");
}

#[test]
fn keepalive_probes_then_times_out() {
    let mut p = Peer::passive(cfg());
    let k = KeepAlive {
        idle_ns: 10_000 * MS,
        interval_ns: 1_000 * MS,
        count: 3,
    };
    p.us.set_keepalive(p.id, Some(k)).unwrap();
    p.send(Flags::ACK, b"");
    // Idle 10 s: a probe; answered, so the connection lives.
    let out = p.wait(10_001 * MS);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq, p.ack - 1);
    p.send(Flags::ACK, b"");
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    // Then silence: after 10 s idle, three probes a second apart, then
    // dropped, with a reset.
    let out = p.wait(20_000 * MS);
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(
        out[..3]
            .iter()
            .all(|s| s.payload.is_empty() && !s.flags.rst())
    );
    assert!(out[3].flags.rst(), "{out:?}");
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(p.us.recv(p.id, &mut [0; 1]), Err(TcpError::TimedOut));
}

#[test]
fn refused_device_loses_nothing() {
    let mut p = Peer::passive(cfg());
    p.us.send(p.id, &[1u8; 5000]).unwrap();
    p.us.set_nodelay(p.id, true).unwrap();
    let mut cap = Capture::new();
    cap.room = 1;
    assert!(!p.us.dispatch(p.now, &mut cap));
    assert_eq!(cap.out.len(), 1);
    cap.room = usize::MAX;
    assert!(p.us.dispatch(p.now, &mut cap));
    let segs = cap.take();
    let total: usize = segs.iter().map(|s| s.payload.len()).sum();
    assert_eq!(total, 5000);
    for w in segs.windows(2) {
        assert_eq!(w[0].seq + w[0].payload.len(), w[1].seq);
    }
}

#[test]
fn stale_handles_are_refused_after_reuse() {
    let mut us = TcpEngine::new(cfg(), [1; 32]);
    let a = us.connect(0, (A, 0), (B, 80)).unwrap();
    us.abort(a).unwrap();
    let b = us.connect(0, (A, 0), (B, 80)).unwrap();
    assert_eq!(a.index, b.index, "the slot is reused");
    assert_eq!(us.state(a), Err(TcpError::InvalidHandle));
    assert_eq!(us.send(a, b"x"), Err(TcpError::InvalidHandle));
    assert_eq!(us.state(b), Ok(State::SynSent));
}

#[test]
fn listener_backlog_overflows_into_syn_cookies() {
    let config = Config {
        max_backlog: 2,
        ..cfg()
    };
    let mut us = TcpEngine::new(config, [4; 32]);
    let l = us.listen(80, 100).unwrap();
    let syn = |port: u16, ts: Option<(u32, u32)>| Seg {
        src: B,
        dst: A,
        src_port: port,
        dst_port: 80,
        seq: SeqNumber(u32::from(port) * 1000),
        ack: SeqNumber(0),
        flags: Flags::SYN,
        window: 65535,
        urgent: 0,
        options: Options {
            mss: Some(1400),
            window_scale: Some(5),
            sack_permitted: true,
            timestamp: ts,
            ..Default::default()
        },
        payload: Vec::new(),
    };
    // Two half-open connections fill the backlog; a flood of 1000 more
    // SYNs costs no connection.
    for port in 1000..1002 {
        assert_eq!(feed(&mut us, 0, &syn(port, Some((5, 0)))).len(), 1);
    }
    let mut cookie = None;
    for port in 2000..3000 {
        let out = feed(&mut us, 0, &syn(port, Some((5, 0))));
        assert_eq!(out.len(), 1);
        if port == 2500 {
            cookie = Some(out[0].clone());
        }
    }
    assert_eq!(us.occupancy().connections, 2);
    assert_eq!(us.stats().syn_cookies_sent, 1000);
    // The cookie's ACK opens a connection with the options it encoded.
    let c = cookie.unwrap();
    let mut ack = c.reply(c.ack, c.seq + 1, Flags::ACK);
    ack.payload = b"GET".to_vec();
    ack.options.timestamp = Some((6, c.options.timestamp.unwrap().0));
    feed(&mut us, 5 * MS, &ack);
    assert_eq!(us.stats().syn_cookies_accepted, 1);
    let id = us.accept(l).unwrap().expect("cookie connection accepted");
    let i = us.info(id).unwrap();
    assert_eq!(i.state, State::Established);
    assert_eq!(i.window_scale, Some((2, 5)));
    assert!(i.sack && i.timestamps);
    assert_eq!(i.mss, 1360 - 12);
    let mut buf = [0u8; 8];
    assert_eq!(us.recv(id, &mut buf), Ok(3));
    // A forged cookie is refused with a RST.
    let mut forged = ack.clone();
    forged.src_port = 2501;
    forged.payload.clear();
    let out = feed(&mut us, 5 * MS, &forged);
    assert_eq!(out[0].flags, Flags::RST);
    assert_eq!(us.stats().syn_cookies_accepted, 1);
}

#[test]
fn bound_on_connections() {
    let config = Config {
        max_connections: 3,
        ..cfg()
    };
    let mut us = TcpEngine::new(config, [1; 32]);
    for _ in 0..3 {
        us.connect(0, (A, 0), (B, 80)).unwrap();
    }
    assert_eq!(
        us.connect(0, (A, 0), (B, 80)),
        Err(TcpError::TooManyConnections)
    );
}

/// A SYN to the listener, from `port`.
fn syn_from(port: u16) -> Seg {
    Seg {
        src: B,
        dst: A,
        src_port: port,
        dst_port: 80,
        seq: SeqNumber(500),
        ack: SeqNumber(0),
        flags: Flags::SYN,
        window: 65535,
        urgent: 0,
        options: Options::default(),
        payload: Vec::new(),
    }
}

#[test]
fn syn_received_answers_a_retransmitted_syn_and_gives_up_in_time() {
    let mut us = TcpEngine::new(cfg(), [1; 32]);
    let l = us.listen(80, 4).unwrap();
    let syn = syn_from(6000);
    let first = feed(&mut us, 0, &syn).remove(0);
    // The peer did not get our SYN-ACK and sends its SYN again.
    let again = feed(&mut us, 10 * MS, &syn);
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].flags, again[0].seq), (first.flags, first.seq));
    // Unanswered: SYN-ACKs back off, then the half-open connection goes.
    let mut synacks = 0;
    while let Some(d) = us.next_deadline() {
        synacks += flush(&mut us, d).len();
    }
    assert_eq!(synacks, 6);
    assert_eq!(us.occupancy().connections, 0);
    assert_eq!(us.accept(l), Ok(None));
}

/// Duplicate SYNs in SYN-RECEIVED, 5 ms apart (spoofed copies in a flood,
/// towards a victim that never asked): the SYN-ACK goes again at most
/// every half second, not once per SYN.
#[test]
fn duplicate_syns_draw_at_most_a_syn_ack_per_half_second() {
    let mut us = TcpEngine::new(cfg(), [1; 32]);
    us.listen(80, 4).unwrap();
    let syn = syn_from(6002);
    let first = feed(&mut us, 0, &syn).remove(0);
    let mut answers = Vec::new();
    for i in 1..=101u64 {
        for s in feed(&mut us, i * 5 * MS, &syn) {
            assert_eq!((s.flags, s.seq), (first.flags, first.seq));
            answers.push(i * 5);
        }
    }
    assert_eq!(answers, [5, 505]);
    assert_eq!(us.stats().dup_syns_unanswered, 99);
}

#[test]
fn rst_in_syn_received_drops_the_half_open_connection() {
    let mut us = TcpEngine::new(cfg(), [1; 32]);
    let l = us.listen(80, 4).unwrap();
    let syn = syn_from(6001);
    let synack = feed(&mut us, 0, &syn).remove(0);
    assert_eq!(us.occupancy().connections, 1);
    let rst = synack.reply(SeqNumber(501), SeqNumber(0), Flags::RST);
    assert!(feed(&mut us, 0, &rst).is_empty());
    assert_eq!(us.occupancy().connections, 0);
    assert_eq!(us.accept(l), Ok(None));
    // A bad ACK in SYN-RECEIVED draws a RST and leaves it half-open.
    let synack = feed(&mut us, 0, &syn_from(6002)).remove(0);
    let bad = synack.reply(SeqNumber(501), synack.seq + 5, Flags::ACK);
    let out = feed(&mut us, 0, &bad);
    assert_eq!((out[0].flags, out[0].seq), (Flags::RST, synack.seq + 5));
    assert_eq!(us.occupancy().connections, 1);
}

#[test]
fn close_in_syn_sent_and_shutdown_before_established() {
    let mut us = TcpEngine::new(cfg(), [1; 32]);
    let id = us.connect(0, (A, 0), (B, 80)).unwrap();
    us.close(id).unwrap();
    assert_eq!(us.occupancy().connections, 0);
    // Shut down before the handshake completes: the FIN follows it.
    let id = us.connect(0, (A, 0), (B, 80)).unwrap();
    us.send(id, b"early").unwrap();
    us.shutdown_write(id).unwrap();
    let syn = flush(&mut us, 0).remove(0);
    let mut synack = syn.reply(SeqNumber(9), syn.seq + 1, Flags::SYN | Flags::ACK);
    synack.options.mss = Some(1460);
    let out = feed(&mut us, MS, &synack);
    assert_eq!(us.state(id), Ok(State::FinWait1));
    assert!(out.iter().any(|s| s.payload == b"early" && s.flags.fin()));
}

#[test]
fn congestion_control_can_be_chosen_per_connection() {
    let mut p = Peer::passive(cfg());
    use crate::net::tcp::CongestionAlgorithm;
    assert_eq!(
        p.us.info(p.id).unwrap().congestion,
        CongestionAlgorithm::Cubic
    );
    p.us.set_congestion(p.id, CongestionAlgorithm::NewReno)
        .unwrap();
    assert_eq!(
        p.us.info(p.id).unwrap().congestion,
        CongestionAlgorithm::NewReno
    );
}

#[test]
fn receiver_silly_window_avoidance() {
    let mut p = Peer::passive(cfg());
    let cap = Config::default().recv_buffer;
    let chunk = alloc::vec![1u8; 1024];
    for _ in 0..cap / 1024 {
        p.send(Flags::ACK, &chunk);
    }
    let probe = |p: &mut Peer| {
        let mut s = p.seg(Flags::ACK, b"");
        s.seq = p.seq - 1;
        let out = p.deliver(&s);
        assert_eq!(out.len(), 1);
        usize::from(out[0].window) << 2
    };
    assert_eq!(probe(&mut p), 0, "the window is full");
    // Reading a little opens no window (and sends no update).
    let mut buf = alloc::vec![0u8; 4096];
    assert_eq!(p.us.recv(p.id, &mut buf[..100]), Ok(100));
    assert!(p.wait(0).is_empty());
    assert_eq!(probe(&mut p), 0, "not by less than a segment");
    // A segment's worth: a window update, unprompted.
    assert_eq!(p.us.recv(p.id, &mut buf[..2000]), Ok(2000));
    let out = p.wait(0);
    assert_eq!(out.len(), 1);
    assert_eq!(usize::from(out[0].window) << 2, 2100);
}

/// Counts its wake-ups.
struct CountWaker(core::sync::atomic::AtomicUsize);

impl alloc::task::Wake for CountWaker {
    fn wake(self: alloc::sync::Arc<Self>) {
        self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    }
}

fn count_waker() -> (alloc::sync::Arc<CountWaker>, core::task::Waker) {
    let c = alloc::sync::Arc::new(CountWaker(core::sync::atomic::AtomicUsize::new(0)));
    (c.clone(), core::task::Waker::from(c))
}

fn wakes(c: &CountWaker) -> usize {
    c.0.load(core::sync::atomic::Ordering::Relaxed)
}

/// A state change wakes the state waker, the writer when writing ends,
/// the reader when the stream ends or the connection closes: not a reader
/// whose `recv` it does not change (a waker left from a finished read
/// would re-poll its task at each step of a close). A finished connect
/// drops its state waker.
#[test]
fn state_changes_wake_only_whom_they_concern() {
    let mut sim = Sim::new(cfg(), cfg(), Impair::default(), 3);
    let l = sim.b.listen(80, 4).unwrap();
    let a = sim
        .a
        .connect(sim.now, (sim.addr_a, 0), (sim.addr_b, 80))
        .unwrap();
    let (connect, connect_w) = count_waker();
    assert!(sim.a.poll_connected(a, &connect_w).is_pending());
    let mut b = None;
    sim.run_until(1000 * MS, |s| {
        if b.is_none() {
            b = s.b.accept(l).unwrap();
        }
        b.is_some() && s.a.state(a) == Ok(State::Established)
    });
    let b = b.unwrap();
    assert_eq!(wakes(&connect), 1, "the handshake's end");
    assert!(sim.a.poll_connected(a, &connect_w).is_ready());

    let (recv, recv_w) = count_waker();
    let (send, send_w) = count_waker();
    assert_eq!(sim.a.recv_or_register(a, &mut [0; 4], &recv_w), Ok(0));
    sim.a.register_send_waker(a, &send_w).unwrap();
    // Our FIN: FIN-WAIT-1, then FIN-WAIT-2 once acknowledged.
    sim.a.shutdown_write(a).unwrap();
    sim.run_until(1000 * MS, |s| s.a.state(a) == Ok(State::FinWait2));
    assert_eq!(wakes(&send), 1, "writing ended");
    assert_eq!(wakes(&recv), 0, "nothing to read changed");
    assert_eq!(wakes(&connect), 1, "the connect's waker was dropped");
    // The peer's FIN: the end of the stream, TIME-WAIT.
    sim.b.shutdown_write(b).unwrap();
    sim.run_until(1000 * MS, |s| s.a.state(a) == Ok(State::TimeWait));
    assert!(wakes(&recv) >= 1, "the end of the stream");
    assert_eq!(sim.a.recv(a, &mut [0; 4]), Err(TcpError::Eof));
}

#[test]
fn keepalive_set_on_an_idle_connection_probes_after_the_idle_time() {
    let mut p = Peer::passive(cfg());
    // Nothing happens on the connection after the option is set: the
    // option alone must arm the idle timer.
    p.us.set_keepalive(
        p.id,
        Some(KeepAlive {
            idle_ns: 10_000 * MS,
            interval_ns: 1_000 * MS,
            count: 3,
        }),
    )
    .unwrap();
    let out = p.wait(10_001 * MS);
    assert_eq!(out.len(), 1, "no keep-alive probe after the idle time");
    assert_eq!(out[0].seq, p.ack - 1);
}
