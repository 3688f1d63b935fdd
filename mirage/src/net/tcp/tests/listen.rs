//! Connection management: listeners and their backlogs, SYN cookies,
//! TIME-WAIT records and their reuse (RFC 9293 section 3.6.1, RFC 6191),
//! initial sequence numbers and ephemeral ports.

use super::harness::*;
use crate::net::ip::ECN_CE;
use crate::net::tcp::{Config, ListenerId, State, TcpEngine};
use crate::net::wire::tcp::{Flags, Options, SeqNumber};
use alloc::vec::Vec;

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

/// A retransmitted FIN restarts a TIME-WAIT record's 2 MSL, but not one
/// that fails PAWS (an old duplicate, RFC 7323 section 5.3) or has no ACK
/// (RFC 9293's fifth check): those are only answered.
#[test]
fn only_a_current_fin_with_ack_restarts_a_time_wait_record() {
    let expires_at = |fin: fn(&mut Peer) -> Seg| {
        let (mut p, _) = time_wait_record(Config::default(), 0);
        let start = p.now;
        p.wait(50_000 * MS);
        p.seq = p.seq - 1;
        let s = fin(&mut p);
        assert_eq!(p.deliver(&s).len(), 1, "answered");
        while p.us.occupancy().time_wait > 0 {
            let d = p.us.next_deadline().expect("the record's expiry");
            p.wait(d - p.now);
        }
        p.now - start
    };
    // The record ends 2 MSL (60 s) after it began ...
    let untouched = expires_at(|p| {
        let mut s = p.seg(Flags::ACK, b"");
        s.seq = s.seq - 1;
        s
    });
    assert_eq!(untouched, 60_000 * MS);
    // ... or after the peer's FIN again, 50 s later.
    assert_eq!(
        expires_at(|p| p.seg(Flags::FIN | Flags::ACK, b"")),
        110_000 * MS
    );
    let old_timestamp = |p: &mut Peer| {
        let mut s = p.seg(Flags::FIN | Flags::ACK, b"");
        s.options.timestamp = Some((p.ts.wrapping_sub(1_000), p.ts_echo));
        s
    };
    assert_eq!(expires_at(old_timestamp), 60_000 * MS);
    assert_eq!(expires_at(|p| p.seg(Flags::FIN, b"")), 60_000 * MS);
    // The same on a connection the application still holds.
    let held_expires_at = |fin: fn(&mut Peer) -> Seg| {
        let mut p = Peer::passive(Config::default());
        p.close_to_time_wait();
        let start = p.now;
        p.wait(50_000 * MS);
        p.seq = p.seq - 1;
        let s = fin(&mut p);
        assert_eq!(p.deliver(&s).len(), 1, "answered");
        while p.us.state(p.id) == Ok(State::TimeWait) {
            let d = p.us.next_deadline().expect("the expiry");
            p.wait(d - p.now);
        }
        p.now - start
    };
    assert_eq!(
        held_expires_at(|p| p.seg(Flags::FIN | Flags::ACK, b"")),
        110_000 * MS
    );
    assert_eq!(held_expires_at(old_timestamp), 60_000 * MS);
    assert_eq!(held_expires_at(|p| p.seg(Flags::FIN, b"")), 60_000 * MS);
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

/// RFC 9293 section 3.6.1 (and RFC 6191): a SYN that reopens a 4-tuple in
/// TIME-WAIT gets an initial sequence number above every number the old
/// incarnation used, so that none of its old segments falls in the new
/// connection's window.
#[test]
fn a_connection_reopened_from_time_wait_starts_above_the_old_sequence() {
    // (A megabyte sent in 10 ms: far more than the 4-microsecond clock of
    // RFC 6528 moved the initial sequence number meanwhile.)
    let (mut p, old_nxt) = time_wait_record(Config::default(), 1 << 20);
    p.now += 10 * MS;
    let syn = newer_syn(&p);
    let out = p.deliver(&syn);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, Flags::SYN | Flags::ACK);
    assert_eq!(p.us.stats().time_wait_reused, 1);
    assert!(
        out[0].seq > old_nxt,
        "new ISS {:?} not above the old SND.NXT {:?}",
        out[0].seq,
        old_nxt
    );
}

/// The same for our own connect to a 4-tuple held in TIME-WAIT.
#[test]
fn a_connect_reusing_a_time_wait_tuple_starts_above_the_old_sequence() {
    let mut us = TcpEngine::new(Config::default(), [3; 32]);
    let id = us.connect(0, (A, 4000), (B, 80)).unwrap();
    let syn = flush(&mut us, 0).remove(0);
    let mut synack = syn.reply(SeqNumber(5000), syn.seq + 1, Flags::SYN | Flags::ACK);
    synack.options.timestamp = Some((10, syn.options.timestamp.unwrap().0));
    feed(&mut us, MS, &synack);
    assert_eq!(us.state(id), Ok(State::Established));
    // A megabyte sent and acknowledged.
    let mut left = 1usize << 20;
    let mut peer_ack = syn.seq + 1;
    while left > 0 {
        left -= us.send(id, &[7u8; 8192][..left.min(8192)]).unwrap();
        for s in flush(&mut us, MS) {
            peer_ack = peer_ack.max(s.seq + s.payload.len());
        }
        let mut ack = syn.reply(SeqNumber(5001), peer_ack, Flags::ACK);
        ack.options.timestamp = Some((10, 0));
        feed(&mut us, MS, &ack);
    }
    us.close(id).unwrap();
    let fin = flush(&mut us, MS).remove(0);
    assert!(fin.flags.fin());
    let mut finack = fin.reply(SeqNumber(5001), fin.seq + 1, Flags::FIN | Flags::ACK);
    finack.options.timestamp = Some((11, fin.options.timestamp.unwrap().0));
    feed(&mut us, 2 * MS, &finack);
    assert_eq!(us.occupancy().time_wait, 1);
    let old_nxt = fin.seq + 1;
    us.connect(3 * MS, (A, 4000), (B, 80)).unwrap();
    let syn = flush(&mut us, 3 * MS).remove(0);
    assert_eq!(syn.flags, Flags::SYN);
    assert!(
        syn.seq > old_nxt,
        "new ISS {:?} not above the old SND.NXT {:?}",
        syn.seq,
        old_nxt
    );
}

/// A connect takes over a 4-tuple in TIME-WAIT only if the old connection
/// used timestamps (RFC 6191, Linux's `tcp_tw_reuse`): PAWS then keeps the
/// old incarnation's duplicates out. Without them, an explicit 4-tuple is
/// in use and the last ephemeral port is not taken.
#[test]
fn a_connect_takes_over_time_wait_only_with_timestamps() {
    for timestamps in [true, false] {
        let cfg = Config {
            ephemeral_min: 4000,
            ephemeral_max: 4000,
            ..Config::default()
        };
        let mut us = TcpEngine::new(cfg, [3; 32]);
        let id = us.connect(0, (A, 4000), (B, 80)).unwrap();
        let syn = flush(&mut us, 0).remove(0);
        let mut synack = syn.reply(SeqNumber(5000), syn.seq + 1, Flags::SYN | Flags::ACK);
        if timestamps {
            synack.options.timestamp = Some((10, syn.options.timestamp.unwrap().0));
        }
        feed(&mut us, MS, &synack);
        assert_eq!(us.info(id).unwrap().timestamps, timestamps);
        us.close(id).unwrap();
        let fin = flush(&mut us, MS).remove(0);
        assert!(fin.flags.fin());
        let mut finack = fin.reply(SeqNumber(5001), fin.seq + 1, Flags::FIN | Flags::ACK);
        finack.options.timestamp = fin.options.timestamp.map(|(v, _)| (11, v));
        feed(&mut us, 2 * MS, &finack);
        assert_eq!(us.occupancy().time_wait, 1);
        if timestamps {
            // The last ephemeral port, then the same 4-tuple explicitly.
            let id = us.connect(3 * MS, (A, 0), (B, 80)).unwrap();
            assert_eq!(us.endpoints(id).unwrap().0.1, 4000);
            assert_eq!(us.stats().time_wait_reused, 1);
            us.abort(id).unwrap();
            flush(&mut us, 3 * MS);
            assert_eq!(us.occupancy().time_wait, 0);
        } else {
            let explicit = us.connect(3 * MS, (A, 4000), (B, 80)).map(|_| ());
            let ephemeral = us.connect(3 * MS, (A, 0), (B, 80)).map(|_| ());
            assert_eq!(explicit, Err(crate::net::tcp::TcpError::AddrInUse));
            assert_eq!(ephemeral, Err(crate::net::tcp::TcpError::NoPortAvailable));
            assert_eq!(us.stats().time_wait_reused, 0);
            assert_eq!(us.occupancy().time_wait, 1);
        }
    }
}

/// A SYN to port 80 from `port` with timestamps.
fn syn_from(port: u16) -> Seg {
    Seg {
        src_port: port,
        seq: SeqNumber(u32::from(port) * 1000),
        ..Seg::peer_syn(Options {
            mss: Some(1460),
            timestamp: Some((5, 0)),
            ..Default::default()
        })
    }
}

/// An engine with `config` but a backlog of one, listening on port 80,
/// whose backlog a SYN from port 999 fills: it answers the next SYNs with
/// cookies.
fn cookie_listener(config: Config) -> (TcpEngine, ListenerId) {
    let mut us = TcpEngine::new(
        Config {
            max_backlog: 1,
            ..config
        },
        [4; 32],
    );
    let l = us.listen(80, 1).unwrap();
    feed(&mut us, 0, &syn_from(999));
    (us, l)
}

/// A port is listened on once; closing the listener resets its half-open
/// and unaccepted connections, leaves nothing, and frees the port for a
/// new listener.
#[test]
fn closing_a_listener_resets_its_connections_and_frees_the_port() {
    let mut us = TcpEngine::new(Config::default(), [3; 32]);
    let l = us.listen(80, 8).unwrap();
    assert_eq!(us.listen(80, 8), Err(crate::net::tcp::TcpError::AddrInUse));
    // one half-open, one queued
    let sa = feed(&mut us, 0, &syn_from(1000)).remove(0);
    feed(&mut us, 0, &syn_from(1001));
    let mut ack = sa.reply(sa.ack, sa.seq + 1, Flags::ACK);
    ack.options.timestamp = Some((6, sa.options.timestamp.unwrap().0));
    assert!(feed(&mut us, MS, &ack).is_empty());
    assert_eq!(us.occupancy().connections, 2);
    us.close_listener(l).unwrap();
    let out = flush(&mut us, 2 * MS);

    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|s| s.flags.rst()));
    assert_eq!(us.accept(l), Err(crate::net::tcp::TcpError::InvalidHandle));
    assert_empty(&us);
    let l2 = us.listen(80, 8).unwrap();
    let sa = feed(&mut us, 3 * MS, &syn_from(1000)).remove(0);
    let mut ack = sa.reply(sa.ack, sa.seq + 1, Flags::ACK);
    ack.options.timestamp = Some((7, sa.options.timestamp.unwrap().0));
    feed(&mut us, 3 * MS, &ack);
    assert!(us.accept(l2).unwrap().is_some());
}

/// RFC 6056: ephemeral ports per destination; when none is left the
/// connect fails at once (and leaves nothing), while another destination
/// still gets one; an explicit 4-tuple in use is refused.
#[test]
fn ephemeral_ports_run_out_per_destination_with_an_error() {
    let cfg = Config {
        ephemeral_min: 60000,
        ephemeral_max: 60002,
        ..Config::default()
    };
    let mut us = TcpEngine::new(cfg, [3; 32]);
    let mut ports = alloc::vec::Vec::new();
    for _ in 0..3 {
        let id = us.connect(0, (A, 0), (B, 80)).unwrap();
        ports.push(us.endpoints(id).unwrap().0.1);
    }
    ports.sort();
    assert_eq!(ports, [60000, 60001, 60002]);
    assert_eq!(
        us.connect(0, (A, 0), (B, 80)),
        Err(crate::net::tcp::TcpError::NoPortAvailable)
    );
    assert_eq!(us.occupancy().connections, 3);
    assert_eq!(us.occupancy().table, 3);
    // Another destination has its own ports.
    us.connect(0, (A, 0), (B, 81)).unwrap();
    assert_eq!(
        us.connect(0, (A, 60000), (B, 80)),
        Err(crate::net::tcp::TcpError::AddrInUse)
    );
}

/// `max_connections` holds for passive opens too: beyond it a SYN gets a
/// cookie, and the cookie's ACK opens nothing while the bound holds.
#[test]
fn the_bound_on_connections_holds_for_listeners_and_cookies() {
    let cfg = Config {
        max_connections: 2,
        ..Config::default()
    };
    let mut us = TcpEngine::new(cfg, [3; 32]);
    let l = us.listen(80, 8).unwrap();
    us.connect(0, (A, 0), (B, 80)).unwrap();
    feed(&mut us, 0, &syn_from(1000));
    assert_eq!(us.occupancy().connections, 2);
    let c = feed(&mut us, 0, &syn_from(1001)).remove(0);
    assert_eq!(us.stats().syn_cookies_sent, 1);
    let mut ack = c.reply(c.ack, c.seq + 1, Flags::ACK);
    ack.options.timestamp = Some((6, c.options.timestamp.unwrap().0));
    let out = feed(&mut us, MS, &ack);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(us.occupancy().connections, 2);
    assert_eq!(us.accept(l), Ok(None));
}

/// At `max_connections`, connections the application closed and that are
/// still closing (orphans: here FIN-WAIT-1, the peer silent) give their
/// slots up, oldest first and with a RST to their peer, to a connection
/// the application makes or a SYN cookie completes; connections the
/// application holds are never taken.
#[test]
fn orphans_make_room_for_new_connections_at_the_bound() {
    let cfg = Config {
        max_connections: 2,
        ..Config::default()
    };
    let mut us = TcpEngine::new(cfg, [3; 32]);
    let l = us.listen(80, 8).unwrap();
    let first = us.connect(0, (A, 0), (B, 80)).unwrap();
    let second = us.connect(0, (A, 0), (B, 81)).unwrap();
    let syns = flush(&mut us, 0);
    assert_eq!(syns.len(), 2);
    let refused = us.connect(0, (A, 0), (B, 82));
    assert_eq!(refused, Err(crate::net::tcp::TcpError::TooManyConnections));
    // Both established, then closed by the application: FIN-WAIT-1,
    // and the peer never answers.
    for syn in &syns {
        let mut synack = syn.reply(SeqNumber(5000), syn.seq + 1, Flags::SYN | Flags::ACK);
        synack.options.mss = Some(1460);
        feed(&mut us, MS, &synack);
    }
    assert_eq!(us.state(first), Ok(State::Established));
    us.close(first).unwrap();
    us.close(second).unwrap();
    let fins = flush(&mut us, 2 * MS);
    assert_eq!(fins.len(), 2, "{fins:?}");
    assert_eq!(us.occupancy().connections, 2);

    // A new connection of the application's: the oldest orphan is reset.
    let third = us.connect(3 * MS, (A, 0), (B, 82)).unwrap();
    assert_eq!(us.stats().orphans_evicted, 1);
    let out = flush(&mut us, 3 * MS);
    let rst = out.iter().find(|s| s.flags.rst()).expect("a RST");
    assert_eq!(rst.dst_port, syns[0].dst_port, "the oldest orphan");
    assert!(
        out.iter()
            .any(|s| s.flags == Flags::SYN && s.dst_port == 82)
    );
    assert_eq!(us.occupancy().connections, 2);

    // A SYN cookie's ACK takes the other orphan's slot.
    let c = feed(&mut us, 4 * MS, &syn_from(1000)).remove(0);
    assert_eq!(us.stats().syn_cookies_sent, 1);
    let mut ack = c.reply(c.ack, c.seq + 1, Flags::ACK);
    ack.options.timestamp = Some((6, c.options.timestamp.unwrap().0));
    let out = feed(&mut us, 5 * MS, &ack);
    assert_eq!(us.stats().orphans_evicted, 2);
    assert!(
        out.iter()
            .any(|s| s.flags.rst() && s.dst_port == syns[1].dst_port)
    );
    let accepted = us.accept(l).unwrap().expect("the cookie connection");
    assert_eq!(us.occupancy().connections, 2);

    // Held connections only: the bound holds.
    assert_eq!(
        us.connect(6 * MS, (A, 0), (B, 83)),
        Err(crate::net::tcp::TcpError::TooManyConnections)
    );
    assert_eq!(us.stats().orphans_evicted, 2);
    assert_eq!(us.state(third), Ok(State::SynSent));
    assert_eq!(us.state(accepted), Ok(State::Established));
}

/// A connection of the application's reached TIME-WAIT by the peer's FIN,
/// whose ACK waits for `dispatch`; the application closes it before that
/// `dispatch` (or after one the device refused): the ACK still goes out,
/// or the peer in LAST-ACK waits a retransmission timeout for it.
#[test]
fn closing_in_time_wait_still_acknowledges_the_peers_fin() {
    let mut p = Peer::passive(Config::default());
    p.us.shutdown_write(p.id).unwrap();
    let fin = p.wait(0).remove(0);
    assert!(fin.flags.fin());
    p.ack = fin.seq + 1;
    let s = p.seg(Flags::FIN | Flags::ACK, b"");
    p.seq += 1;
    let mut cap = Capture::new();
    p.us.process(p.now, &s.src, &s.dst, &s.bytes(), &mut cap);
    assert!(cap.out.is_empty());
    assert_eq!(p.us.state(p.id), Ok(State::TimeWait));
    p.us.close(p.id).unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 1, "the ACK of the peer's FIN: {out:?}");
    assert_eq!((out[0].flags, out[0].ack), (Flags::ACK, p.seq));
    let o = p.us.occupancy();
    assert_eq!((o.connections, o.time_wait), (0, 1), "{o:?}");
}

/// RFC 9293 section 3.10.7.4 (fourth check) and RFC 6191: a new SYN with a
/// newer timestamp reopens a 4-tuple in TIME-WAIT, whether the application
/// still holds the old connection or has released it (a record).
#[test]
fn a_new_syn_reopens_time_wait_of_a_connection_still_held() {
    let mut p = Peer::passive(Config::default());
    p.us.send(p.id, b"response").unwrap();
    let data = p.wait(0).remove(0);
    p.ack = data.seq + data.payload.len();
    p.close_to_time_wait();
    let old_nxt = p.ack;
    p.now += 10 * MS;
    let syn = newer_syn(&p);
    let out = p.deliver(&syn);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, Flags::SYN | Flags::ACK);
    assert_eq!(out[0].ack, syn.seq + 1);
    assert!(out[0].seq > old_nxt, "{:?} {:?}", out[0].seq, old_nxt);
    assert_eq!(p.us.stats().time_wait_reused, 1);
    // The old connection is over: its reader sees the end of the stream.
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    assert_eq!(
        p.us.recv(p.id, &mut [0; 4]),
        Err(crate::net::tcp::TcpError::Eof)
    );
    p.us.close(p.id).unwrap();
    // An old SYN (older timestamp) on a held TIME-WAIT is only
    // acknowledged.
    let mut q = Peer::passive(Config::default());
    q.close_to_time_wait();
    let old = Seg {
        seq: q.seq + 100_000,
        ..Seg::peer_syn(Options {
            timestamp: Some((q.ts - 50, 0)),
            ..Default::default()
        })
    };
    let out = q.deliver(&old);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, Flags::ACK);
    assert_eq!(q.us.state(q.id), Ok(State::TimeWait));
}

/// RFC 4987 section 3.6: what a SYN cookie cannot carry is dropped on both
/// sides alike. Without timestamps the cookie SYN-ACK offers no window
/// scaling or SACK, and the connection uses neither; with timestamps but
/// no window scale from the peer, SACK only.
#[test]
fn a_cookie_connection_uses_exactly_the_options_its_syn_ack_offered() {
    let (mut us, l) = cookie_listener(Config::default());
    for (port, ts, ws) in [(1000u16, false, true), (1001, true, false)] {
        let syn = Seg {
            src_port: port,
            seq: SeqNumber(u32::from(port) * 1000),
            ..Seg::peer_syn(Options {
                mss: Some(1400),
                window_scale: ws.then_some(6),
                sack_permitted: true,
                timestamp: ts.then_some((5, 0)),
                ..Default::default()
            })
        };
        let c = feed(&mut us, 0, &syn).remove(0);
        assert_eq!(c.flags, Flags::SYN | Flags::ACK);
        let o = c.options;
        assert_eq!(o.window_scale, None, "{o:?}");
        assert_eq!(o.sack_permitted, ts, "{o:?}");
        assert_eq!(o.timestamp.is_some(), ts, "{o:?}");
        let mut ack = c.reply(c.ack, c.seq + 1, Flags::ACK);
        ack.options.timestamp = o.timestamp.map(|(v, _)| (6, v));
        feed(&mut us, MS, &ack);
        let id = us.accept(l).unwrap().expect("cookie connection");
        let i = us.info(id).unwrap();
        assert_eq!(i.window_scale, None);
        assert_eq!((i.sack, i.timestamps), (ts, ts));
        assert_eq!(i.mss, if ts { 1360 - 12 } else { 1360 });
    }
    assert_eq!(us.stats().syn_cookies_accepted, 2);
}

/// A cookie SYN-ACK that carried no timestamp (the SYN had none) encodes
/// no options: an ACK that comes with a timestamp anyway, whose echo can
/// only be made up, switches none on (its zero echo once read as window
/// scale 0, which made us scale a window the peer would not).
#[test]
fn a_cookie_ack_with_an_echo_not_ours_switches_no_option_on() {
    let (mut us, l) = cookie_listener(Config::default());
    let syn = Seg {
        options: Options {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            ..Default::default()
        },
        ..syn_from(1000)
    };
    let c = feed(&mut us, 0, &syn).remove(0);
    assert_eq!(us.stats().syn_cookies_sent, 1);
    assert_eq!(c.options.timestamp, None);
    let mut ack = c.reply(c.ack, c.seq + 1, Flags::ACK);
    ack.options.timestamp = Some((6, 0));
    feed(&mut us, MS, &ack);
    let id = us.accept(l).unwrap().expect("cookie connection");
    let i = us.info(id).unwrap();
    assert_eq!(
        (i.window_scale, i.sack, i.timestamps, i.ecn),
        (None, false, false, false)
    );
}

/// ECN on a connection opened by a SYN cookie (RFC 3168 section 6.1.1, as
/// Linux): the cookie SYN-ACK answers an ECN-setup SYN with ECE, and its
/// timestamp records the agreement for the ACK; a SYN that did not ask
/// gets neither. With ECN off, no ECE and no ECN whatever the ACK echoes.
#[test]
fn a_cookie_connection_negotiates_ecn_as_a_half_open_one_does() {
    for (ecn, asks, uses) in [
        (crate::net::tcp::Ecn::Passive, true, true),
        (crate::net::tcp::Ecn::Passive, false, false),
        (crate::net::tcp::Ecn::Off, true, false),
    ] {
        let (mut us, l) = cookie_listener(Config {
            ecn,
            ..Config::default()
        });
        let mut syn = Seg::peer_syn(Options {
            mss: Some(1400),
            window_scale: Some(6),
            sack_permitted: true,
            timestamp: Some((5, 0)),
            ..Default::default()
        });
        if asks {
            syn.flags |= Flags::ECE | Flags::CWR;
        }
        let c = feed(&mut us, 0, &syn).remove(0);
        assert_eq!(us.stats().syn_cookies_sent, 1, "a cookie SYN-ACK");
        assert_eq!(c.flags.ece(), uses, "{ecn:?} {asks}");
        assert!(!c.flags.cwr());
        let mut ack = c.reply(c.ack, c.seq + 1, Flags::ACK);
        ack.options.timestamp = c.options.timestamp.map(|(v, _)| (6, v));
        feed(&mut us, MS, &ack);
        let id = us.accept(l).unwrap().expect("cookie connection");
        let i = us.info(id).unwrap();
        assert_eq!(i.ecn, uses, "{ecn:?} {asks}");
        assert_eq!(
            (i.window_scale.is_some(), i.sack, i.timestamps),
            (true, true, true)
        );
    }
}

/// A congestion mark on the data that comes with a cookie's ACK counts as
/// on any segment of the connection: the ACK of that data goes at once,
/// with ECE (RFC 3168 section 6.1.3).
#[test]
fn a_congestion_mark_on_the_data_of_a_cookie_ack_is_echoed() {
    let (mut us, l) = cookie_listener(Config::default());
    let mut syn = Seg::peer_syn(Options {
        timestamp: Some((5, 0)),
        ..Default::default()
    });
    syn.flags |= Flags::ECE | Flags::CWR;
    let c = feed(&mut us, 0, &syn).remove(0);
    assert_eq!(us.stats().syn_cookies_sent, 1, "a cookie SYN-ACK");
    assert!(c.flags.ece(), "{c:?}");
    let mut ack = c.reply(c.ack, c.seq + 1, Flags::ACK);
    ack.options.timestamp = c.options.timestamp.map(|(v, _)| (6, v));
    ack.payload = alloc::vec![1; 100];
    let mut t = Capture::new();
    us.process_tos(MS, &ack.src, &ack.dst, ECN_CE, &ack.bytes(), &mut t);
    us.dispatch(MS, &mut t);
    let out = t.take_tos();
    assert_eq!(out.len(), 1, "an ACK at once: {out:?}");
    assert_eq!(out[0].0.flags, Flags::ACK | Flags::ECE);
    assert_eq!(out[0].0.ack, ack.seq + 100);
    assert_eq!(us.stats().ecn_ce_received, 1);
    let id = us.accept(l).unwrap().expect("cookie connection");
    assert!(us.info(id).unwrap().ecn);
}

/// A cookie's ACK opens one connection: a replay of it reaches that
/// connection (no second one), and once the listener is closed a cookie
/// ACK draws a RST and opens nothing.
#[test]
fn a_cookie_ack_opens_once_and_not_after_its_listener_closed() {
    let (mut us, l) = cookie_listener(Config::default());
    let cookie_ack = |us: &mut TcpEngine, port: u16| {
        let c = feed(us, 0, &syn_from(port)).remove(0);
        let mut ack = c.reply(c.ack, c.seq + 1, Flags::ACK);
        ack.options.timestamp = Some((6, c.options.timestamp.unwrap().0));
        ack
    };
    let ack = cookie_ack(&mut us, 1000);
    feed(&mut us, MS, &ack);
    assert!(feed(&mut us, 2 * MS, &ack).is_empty(), "a duplicate ACK");
    assert_eq!(us.stats().syn_cookies_accepted, 1);
    assert_eq!(us.occupancy().connections, 2);
    let id = us.accept(l).unwrap().expect("cookie connection");
    assert_eq!(us.accept(l), Ok(None));
    let late = cookie_ack(&mut us, 1001);
    us.close_listener(l).unwrap();
    flush(&mut us, 3 * MS);
    let out = feed(&mut us, 3 * MS, &late);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags, out[0].seq), (Flags::RST, late.ack));
    assert_eq!(us.stats().syn_cookies_accepted, 1);
    // Only the accepted connection is left.
    assert_eq!(us.occupancy().connections, 1);
    assert_eq!(us.state(id), Ok(State::Established));
}

/// A SYN that would reopen a TIME-WAIT 4-tuple but finds no room (a full
/// backlog, no SYN cookies) is dropped like any other: the TIME-WAIT
/// record stays (it still answers old duplicates, and the SYN's
/// retransmission reopens it once there is room).
#[test]
fn a_reopening_syn_refused_for_lack_of_room_leaves_time_wait_alone() {
    let config = Config {
        syn_cookies: false,
        max_backlog: 1,
        ..Config::default()
    };
    let (mut p, _) = time_wait_record(config, 0);
    // (The peer's first connection was accepted: the backlog is free.)
    let half_open = feed(&mut p.us, p.now, &syn_from(999)).remove(0);
    assert_eq!(half_open.flags, Flags::SYN | Flags::ACK);
    p.now += 10 * MS;
    let syn = Seg {
        seq: p.seq + 100_000,
        ..Seg::peer_syn(Options {
            timestamp: Some((p.ts + 10, 0)),
            ..Default::default()
        })
    };
    assert!(p.deliver(&syn).is_empty());
    let s = p.us.stats();
    assert_eq!((s.listen_overflows, s.time_wait_reused), (1, 0), "{s:?}");
    assert_eq!(p.us.occupancy().time_wait, 1);
    // An old duplicate is still answered from TIME-WAIT.
    let mut old = p.seg(Flags::ACK, b"old");
    old.seq = p.seq - 10;
    assert_eq!(p.deliver(&old).len(), 1);
    // The same for a connection in TIME-WAIT still held.
    let config = Config {
        syn_cookies: false,
        max_backlog: 1,
        ..Config::default()
    };
    let mut q = Peer::passive(config);
    q.close_to_time_wait();
    feed(&mut q.us, q.now, &syn_from(999));
    let syn = Seg {
        seq: q.seq + 100_000,
        ..Seg::peer_syn(Options {
            timestamp: Some((q.ts + 10, 0)),
            ..Default::default()
        })
    };
    assert!(q.deliver(&syn).is_empty());
    assert_eq!(q.us.state(q.id), Ok(State::TimeWait));
    assert_eq!(q.us.stats().listen_overflows, 1);
}

/// With timestamps off, a cookie SYN-ACK carries no timestamp, so no
/// options are encoded in one: an ACK that comes with a timestamp anyway
/// (whose echo looks like an encoding) must not switch window scaling or
/// SACK on, which the SYN-ACK never offered.
#[test]
fn without_timestamps_a_cookie_ack_cannot_switch_options_on() {
    let (mut us, l) = cookie_listener(Config {
        timestamps: false,
        ..Config::default()
    });
    let syn = Seg {
        urgent: 0,
        options: Options {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((5, 0)),
            ..Default::default()
        },
        ..syn_from(1000)
    };
    let c = feed(&mut us, 0, &syn).remove(0);
    let o = c.options;
    assert_eq!(
        (o.window_scale, o.sack_permitted, o.timestamp),
        (None, false, None)
    );
    let mut ack = c.reply(c.ack, c.seq + 1, Flags::ACK);
    ack.options.timestamp = Some((6, 32 | 16 | 7));
    feed(&mut us, MS, &ack);
    let id = us.accept(l).unwrap().expect("cookie connection");
    let i = us.info(id).unwrap();
    assert_eq!((i.window_scale, i.sack, i.timestamps), (None, false, false));
}

/// A half-open connection gives up after `synack_retries` timeouts of its
/// SYN-ACK even if the SYN keeps coming (a peer that never gets our
/// SYN-ACKs, or a spoofed SYN resent more often than the timeout): each
/// duplicate SYN is answered, but does not restart the give-up, or a SYN
/// every half second would hold the half-open connection for ever. (The
/// SYN that comes after the give-up opens a new one, with a new ISS.)
#[test]
fn duplicate_syns_do_not_keep_a_half_open_connection_for_ever() {
    let mut us = TcpEngine::new(Config::default(), [4; 32]);
    us.listen(80, 4).unwrap();
    let syn = syn_from(1000);
    let iss = feed(&mut us, 0, &syn).remove(0).seq;
    let mut now = 0;
    let mut renewed = None;
    while now < 400_000 * MS && renewed.is_none() {
        now += 500 * MS;
        let mut out = Vec::new();
        while let Some(d) = us.next_deadline().filter(|&d| d <= now) {
            out.extend(flush(&mut us, d));
        }
        out.extend(feed(&mut us, now, &syn));
        if out.iter().any(|s| s.seq != iss) {
            renewed = Some(now);
        }
    }
    let at = renewed.expect("the first half-open connection never gave up");
    // 1 + 2 + 4 + ... + 32 + 60 (the largest timeout) s: seven timeouts,
    // six SYN-ACKs sent again; then the next SYN.
    assert!(at <= 124_000 * MS, "gave up at {at} ns");
    assert!(at >= 123_000 * MS, "gave up at {at} ns");
}

/// A SYN from the peer of `p` for its 4-tuple, clearly newer than the
/// connection in TIME-WAIT (sequence number and timestamp above the old
/// ones: RFC 6191), with an MSS option.
fn newer_syn(p: &Peer) -> Seg {
    Seg {
        seq: p.seq + 100_000,
        ..Seg::peer_syn(Options {
            mss: Some(1460),
            timestamp: Some((p.ts + 10, 0)),
            ..Default::default()
        })
    }
}
