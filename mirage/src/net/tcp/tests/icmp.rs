//! ICMP errors handed to the engine (`TcpEngine::icmp_error`): path MTU
//! reports (RFC 1191, RFC 8201), hard errors in SYN-SENT, soft errors in
//! synchronized states (RFC 1122 section 4.2.3.9, RFC 5927), and the
//! validation of the quoted segment (RFC 5927 section 4.1).

use super::harness::*;
use crate::net::ip::{IcmpError, IcmpErrorKind};
use crate::net::tcp::{Config, State, TcpEngine, TcpError};
use crate::net::wire::tcp::{Flags, SeqNumber};
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv6Addr};

/// The start of a packet an ICMP error quotes: the IP header of a segment
/// from `src`:`sport` to `dst`:`dport` and the first 8 bytes of its TCP
/// header.
fn quote(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, seq: SeqNumber) -> Vec<u8> {
    let mut q = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0x05, 0xdc, 0, 0, 0x40, 0, 64, 6, 0, 0];
            h.extend(s.octets());
            h.extend(d.octets());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0, 0x05, 0xb4, 6, 64];
            h.extend(s.octets());
            h.extend(d.octets());
            h
        }
        _ => unreachable!(),
    };
    q.extend(sport.to_be_bytes());
    q.extend(dport.to_be_bytes());
    q.extend(seq.0.to_be_bytes());
    q
}

/// What an ICMP error about our segment `s` (of the `Peer`'s connection)
/// quotes.
fn quote_seg(s: &Seg) -> Vec<u8> {
    quote(s.src, s.src_port, s.dst, s.dst_port, s.seq)
}

fn icmp(p: &mut Peer, kind: IcmpErrorKind, quoted: &[u8]) -> Vec<Seg> {
    p.us.icmp_error(p.now, &IcmpError { kind, quoted });
    flush(&mut p.us, p.now)
}

#[test]
fn frag_needed_lowers_the_segment_size_and_resends_the_flight_at_once() {
    let (mut p, first) = sending(8);
    let flight = first.len();
    assert!(flight >= 4, "{flight}");
    let una = first[0].seq;
    let cwnd = p.us.info(p.id).unwrap().cwnd;
    // 1000 bytes less 20 of IPv4, 20 of TCP and 12 of timestamps.
    let out = icmp(
        &mut p,
        IcmpErrorKind::TooBig { mtu: 1000 },
        &quote_seg(&first[1]),
    );
    let new = 1000 - 20 - 20 - 12;
    assert_eq!(p.us.info(p.id).unwrap().mss, new);
    assert_eq!(p.us.stats().pmtu_decreases, 1);
    assert_eq!(p.us.stats().icmp_errors, 1);
    // At once: no timeout, the flight again from SND.UNA in the new size,
    // as much of it as the (unchanged) window allows.
    assert_eq!(p.us.stats().timeouts, 0);
    assert_eq!(p.us.info(p.id).unwrap().cwnd, cwnd);
    assert!(!out.is_empty());
    assert_eq!(out[0].seq, una, "{out:?}");
    let mut next = una;
    for s in &out {
        assert_eq!(s.seq, next);
        assert!(s.payload.len() <= new, "{}", s.payload.len());
        next += s.payload.len();
    }
    assert_eq!(out[0].payload.len(), new);
    assert!(
        next.since(una) >= (flight - 1) * SEG,
        "resent {}",
        next.since(una)
    );
    // The peer acknowledges the small segments: new data goes in the new
    // size too.
    p.ack = next;
    let out = p.send(Flags::ACK, b"");
    assert!(out.iter().all(|s| s.payload.len() <= new), "{out:?}");
}

/// Four segments sent, then a report of a 1,000-byte path MTU about the
/// first (without Nagle: the short last segment of a write goes too).
fn reduced_to_1000() -> (Peer, Vec<Seg>) {
    let (mut p, first) = sending_with(
        Config {
            nodelay: true,
            ..Config::default()
        },
        4,
    );
    icmp(
        &mut p,
        IcmpErrorKind::TooBig { mtu: 1000 },
        &quote_seg(&first[0]),
    );
    (p, first)
}

/// RFC 1191 section 6.3: ten minutes after a report lowered the segment
/// size, the path MTU is asked for again (here the IP layer gives the
/// link's again: its estimate expired), and full segments go again; not
/// before.
#[test]
fn the_segment_size_goes_back_up_when_the_path_mtu_report_expires() {
    let (mut p, first) = reduced_to_1000();
    let small = 1000 - 20 - 20 - 12;
    assert_eq!(p.us.info(p.id).unwrap().mss, small);
    // Everything acknowledged, then `wait`: the largest segment of new data.
    let mut queued = 4 * SEG;
    let mut sizes = |p: &mut Peer, wait: u64| {
        p.ack = first[0].seq + queued;
        p.send(Flags::ACK, b"");
        p.wait(wait);
        p.us.send(p.id, &[3u8; 2 * SEG]).unwrap();
        queued += 2 * SEG;
        p.wait(0).iter().map(|s| s.payload.len()).max().unwrap()
    };
    // Five minutes on, new data is still small; ten, full-sized.
    assert_eq!(sizes(&mut p, 300_000 * MS), small);
    assert_eq!(p.us.stats().pmtu_increases, 0);
    assert_eq!(sizes(&mut p, 300_000 * MS), SEG);
    assert_eq!(p.us.info(p.id).unwrap().mss, SEG);
    assert_eq!(p.us.stats().pmtu_increases, 1);
}

/// The segment size goes back up over a congestion window smaller than
/// the new size (one small segment, as after a timeout): the window grows
/// to one segment of the new size, and data goes. (It stayed in bytes:
/// no full segment fit, sender SWS avoidance held the data back, and with
/// nothing in flight and no timer the connection stalled for good; found
/// by the stack's soak.)
#[test]
fn a_larger_segment_size_over_a_one_segment_window_still_sends() {
    let (mut p, first) = reduced_to_1000();
    let small = 1000 - 20 - 20 - 12;
    p.ack = first[0].seq + 4 * SEG;
    p.send(Flags::ACK, b"");
    p.us.conn_mut(p.id).unwrap().cc.cwnd = small;
    p.wait(600_000 * MS);
    p.us.send(p.id, &[3u8; 2 * SEG]).unwrap();
    let out = p.wait(0);
    assert_eq!(
        out.iter().map(|s| s.payload.len()).collect::<Vec<_>>(),
        [SEG],
        "one full segment"
    );
    assert_eq!(p.us.info(p.id).unwrap().mss, SEG);
    assert_eq!(p.us.info(p.id).unwrap().cwnd, SEG);
}

/// Ten minutes after a report, the IP layer's path MTU is lower still (a
/// report about another connection to the peer): the size drops to it and
/// the flight in the old size, lost on the path, goes again at once in
/// the new size, as after a report of its own.
#[test]
fn a_recheck_that_finds_the_path_smaller_still_resends_the_flight() {
    let (mut p, first) = reduced_to_1000();
    p.ack = first[0].seq + 4 * SEG;
    p.send(Flags::ACK, b"");
    // New data in the reduced size, in flight when the recheck is due.
    p.wait(600_000 * MS - MS);
    p.us.send(p.id, &[3u8; 3 * SEG]).unwrap();
    let flight = p.wait(0);
    let sizes = |out: &[Seg]| out.iter().map(|s| s.payload.len()).collect::<Vec<_>>();
    assert_eq!(sizes(&flight)[..4], [1000 - 52; 4]);
    p.now += 2 * MS;
    let mut tx = Capture::new();
    tx.path_mss = Some(800 - 20 - 20);
    p.us.dispatch(p.now, &mut tx);
    let out = tx.take();
    let small = 800 - 52;
    assert_eq!(p.us.info(p.id).unwrap().mss, small);
    assert_eq!(
        out.first().map(|s| s.seq),
        Some(flight[0].seq),
        "{:?}",
        sizes(&out)
    );
    assert!(sizes(&out).iter().all(|&n| n <= small), "{:?}", sizes(&out));
}

#[test]
fn mtu_reports_that_would_raise_the_size_are_ignored_and_low_ones_floored() {
    let (mut p, first) = sending(4);
    let q = quote_seg(&first[0]);
    // No smaller than what we send now: nothing changes, nothing is sent.
    let out = icmp(&mut p, IcmpErrorKind::TooBig { mtu: 1500 }, &q);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(p.us.info(p.id).unwrap().mss, SEG);
    assert_eq!(p.us.stats().pmtu_decreases, 0);
    // Below the floor (552 for IPv4), or unknown (0, an old router): the
    // floor.
    for mtu in [68, 0] {
        icmp(&mut p, IcmpErrorKind::TooBig { mtu }, &q);
        assert_eq!(p.us.info(p.id).unwrap().mss, 552 - 52);
    }
    assert_eq!(p.us.stats().pmtu_decreases, 1);
}

#[test]
fn spoofed_and_malformed_icmp_errors_are_ignored() {
    let (mut p, first) = sending(4);
    let una = first[0].seq;
    let max = first.last().map(|s| s.seq + s.payload.len()).unwrap();
    let too_big = IcmpErrorKind::TooBig { mtu: 600 };
    let mut bad: Vec<Vec<u8>> = vec![
        // Outside [SND.UNA, SND.MAX) (RFC 5927 section 4.1).
        quote(A, 80, B, 5000, una - 1),
        quote(A, 80, B, 5000, max),
        quote(A, 80, B, 5000, una + (1 << 30)),
        // Another connection: ports or addresses.
        quote(A, 81, B, 5000, una),
        quote(A, 80, B, 5001, una),
        quote(B, 80, A, 5000, una),
        quote(A, 5000, B, 80, una),
    ];
    // Every truncation of a good quote.
    let good = quote_seg(&first[0]);
    bad.extend((0..good.len()).map(|n| good[..n].to_vec()));
    // Not TCP.
    let mut udp = good.clone();
    udp[9] = 17;
    bad.push(udp);
    for (i, q) in bad.iter().enumerate() {
        for kind in [too_big, IcmpErrorKind::PortUnreachable] {
            let out = icmp(&mut p, kind, q);
            assert!(out.is_empty(), "{i}: {out:?}");
        }
    }
    let n = 2 * bad.len() as u64;
    assert_eq!(p.us.stats().icmp_errors_ignored, n);
    assert_eq!(p.us.stats().icmp_errors, 0);
    assert_eq!(p.us.info(p.id).unwrap().mss, SEG);
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    // Data on the connection still flows.
    p.send(Flags::ACK | Flags::PSH, b"hello");
    let mut b = [0u8; 8];
    assert_eq!(p.us.recv(p.id, &mut b), Ok(5));
}

/// A connection from 10.0.0.1 to 10.0.0.2:80, its SYN sent.
fn syn_sent() -> (TcpEngine, crate::net::tcp::ConnId, Seg) {
    let mut us = TcpEngine::new(Config::default(), [3; 32]);
    let id = us.connect(0, (A, 0), (B, 80)).unwrap();
    let syn = flush(&mut us, 0).remove(0);
    assert_eq!(syn.flags, Flags::SYN);
    (us, id, syn)
}

#[test]
fn destination_unreachable_answering_a_syn_fails_the_connect_at_once() {
    for (kind, error) in [
        (IcmpErrorKind::PortUnreachable, TcpError::Refused),
        (IcmpErrorKind::ProtocolUnreachable, TcpError::Refused),
        (IcmpErrorKind::HostUnreachable, TcpError::HostUnreachable),
        (IcmpErrorKind::Prohibited, TcpError::HostUnreachable),
        (IcmpErrorKind::NetUnreachable, TcpError::NetworkUnreachable),
    ] {
        let (mut us, id, syn) = syn_sent();
        // A quote with another sequence number is not about our SYN.
        let q = quote(syn.src, syn.src_port, syn.dst, syn.dst_port, syn.seq + 1);
        us.icmp_error(1, &IcmpError { kind, quoted: &q });
        assert_eq!(us.state(id), Ok(State::SynSent));
        let q = quote_seg(&syn);
        us.icmp_error(1, &IcmpError { kind, quoted: &q });
        assert_eq!(us.state(id), Ok(State::Closed), "{kind:?}");
        let mut b = [0u8; 4];
        assert_eq!(us.recv(id, &mut b), Err(error));
        assert!(flush(&mut us, 2).is_empty());
        assert_eq!(us.stats().timeouts, 0);
        us.close(id).unwrap();
        assert_empty(&us);
    }
    // A fragmentation-needed report for a SYN changes nothing.
    let (mut us, id, syn) = syn_sent();
    let q = quote_seg(&syn);
    let kind = IcmpErrorKind::TooBig { mtu: 576 };
    us.icmp_error(1, &IcmpError { kind, quoted: &q });
    assert_eq!(us.state(id), Ok(State::SynSent));
}

#[test]
fn unreachable_in_established_is_soft_and_reported_if_the_connection_times_out() {
    let (mut p, first) = sending(2);
    let q = quote_seg(&first[0]);
    let out = icmp(&mut p, IcmpErrorKind::HostUnreachable, &q);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(p.us.state(p.id), Ok(State::Established));
    assert_eq!(p.us.stats().icmp_errors, 1);
    // Nothing is answered any more: the retransmissions time out, with the
    // network's word rather than `TimedOut`.
    p.wait(3_600_000 * MS);
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    let mut b = [0u8; 4];
    assert_eq!(p.us.recv(p.id, &mut b), Err(TcpError::HostUnreachable));
}

#[test]
fn a_soft_error_is_forgotten_once_the_peer_acknowledges_more() {
    let (mut p, first) = sending(2);
    let q = quote_seg(&first[0]);
    icmp(&mut p, IcmpErrorKind::NetUnreachable, &q);
    // The path works after all: the flight is acknowledged.
    p.ack = first[1].seq + first[1].payload.len();
    p.send(Flags::ACK, b"");
    // New data then goes unanswered: a plain timeout.
    p.us.send(p.id, b"more").unwrap();
    p.wait(3_600_000 * MS);
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    let mut b = [0u8; 4];
    assert_eq!(p.us.recv(p.id, &mut b), Err(TcpError::TimedOut));
}

#[test]
fn packet_too_big_over_ipv6_floors_at_1280_and_the_transfer_completes() {
    let mut sim = Sim::new(Config::default(), Config::default(), Impair::default(), 5);
    sim.addr_a = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
    sim.addr_b = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
    let (a, b) = open(&mut sim, 443);
    let mut ab = Transfer::new(256 << 10, 5);
    ab.pump_send(&mut sim.a, a);
    sim.dispatch();
    assert!(sim.a.info(a).unwrap().bytes_in_flight > 0);
    let (local, remote) = sim.a.endpoints(a).unwrap();
    // SND.UNA (the tests see the engine's insides): in flight.
    let una = sim.a.slots[a.index as usize].conn.as_ref().unwrap().snd_una;
    let q = quote(local.0, local.1, remote.0, remote.1, una);
    sim.a.icmp_error(
        sim.now,
        &IcmpError {
            kind: IcmpErrorKind::TooBig { mtu: 1000 },
            quoted: &q,
        },
    );
    // 1280 (the IPv6 minimum) less 40, 20 and 12.
    assert_eq!(sim.a.info(a).unwrap().mss, 1280 - 72);
    assert_eq!(sim.a.stats().pmtu_decreases, 1);
    sim.run_until(600_000 * MS, |s| {
        ab.pump_send(&mut s.a, a);
        ab.pump_recv(&mut s.b, b);
        ab.done()
    });
    assert_eq!(sim.a.stats().timeouts, 0);
}

#[test]
fn a_soft_error_does_not_outlive_its_connection() {
    let (mut p, first) = sending(2);
    let q = quote_seg(&first[0]);
    icmp(&mut p, IcmpErrorKind::HostUnreachable, &q);
    // The peer resets the connection; the application lets it go.
    p.send(Flags::RST, b"");
    assert_eq!(p.us.state(p.id), Ok(State::Closed));
    p.us.close(p.id).unwrap();
    // A new connection (in the same slot) that times out says so.
    let id = p.us.connect(p.now, (A, 0), (B, 80)).unwrap();
    p.wait(3_600_000 * MS);
    let mut b = [0u8; 4];
    assert_eq!(p.us.recv(id, &mut b), Err(TcpError::TimedOut));
    assert_eq!(p.us.soft_errors.len(), 0);
}

/// RFC 1122 section 4.2.3.9: time exceeded and parameter problem do not
/// abort a connection, not even in SYN-SENT. Time exceeded is a soft
/// error (the connect that then times out fails with `HostUnreachable`,
/// Linux's `EHOSTUNREACH`); parameter problem, and an ICMPv6 error of a
/// type unknown here (RFC 4443 section 2.4 (d)), are only counted.
#[test]
fn time_exceeded_and_parameter_problem_never_abort() {
    let unknown = IcmpErrorKind::Unknown {
        icmp_type: 100,
        code: 0,
    };
    for kind in [
        IcmpErrorKind::TimeExceeded,
        IcmpErrorKind::ParameterProblem,
        unknown,
    ] {
        let (mut us, id, syn) = syn_sent();
        let q = quote_seg(&syn);
        us.icmp_error(1, &IcmpError { kind, quoted: &q });
        assert_eq!(us.state(id), Ok(State::SynSent), "{kind:?}");
        assert_eq!(us.stats().icmp_errors, 1);
        while let Some(d) = us.next_deadline() {
            flush(&mut us, d);
        }
        assert_eq!(us.state(id), Ok(State::Closed));
        let expected = match kind {
            IcmpErrorKind::TimeExceeded => TcpError::HostUnreachable,
            _ => TcpError::TimedOut,
        };
        assert_eq!(us.recv(id, &mut [0u8; 4]), Err(expected), "{kind:?}");

        let (mut p, first) = sending(2);
        let q = quote_seg(&first[0]);
        assert!(icmp(&mut p, kind, &q).is_empty());
        assert_eq!(p.us.state(p.id), Ok(State::Established));
        p.wait(3_600_000 * MS);
        assert_eq!(p.us.recv(p.id, &mut [0u8; 4]), Err(expected), "{kind:?}");
    }
}
