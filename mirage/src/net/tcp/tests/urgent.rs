//! Urgent data (RFC 9293 section 3.8.5; MUST-30, 31, 32, 33, 62): the
//! receive urgent pointer (`RCV.UP`) and its notification, the send urgent
//! pointer (`SND.UP`) on every segment until the urgent data is
//! acknowledged, the bytes kept in line in the stream; hostile pointers.

use super::harness::*;
use crate::net::tcp::{Config, State, TcpError};
use crate::net::wire::tcp::{Flags, SeqNumber};
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Poll, Waker};

/// Counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn counter() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count::default());
    (c.clone(), Waker::from(c))
}

/// Sends `payload` from the peer with URG and the urgent field `up`.
fn send_urg(p: &mut Peer, payload: &[u8], up: u16) -> Vec<Seg> {
    let mut s = p.seg(Flags::ACK | Flags::URG, payload);
    s.urgent = up;
    p.seq += payload.len();
    p.deliver(&s)
}

/// Reads `n` bytes (exactly: the test knows they are there).
fn read(p: &mut Peer, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    assert_eq!(p.us.recv(p.id, &mut buf), Ok(n));
    buf
}

fn poll(p: &mut Peer) -> Poll<Result<usize, TcpError>> {
    p.us.poll_urgent(p.id, Waker::noop())
}

/// MUST-62, MUST-33: the pointer is `SEG.SEQ` plus the field, the byte
/// after the urgent data; the application learns how much remains to be
/// read up to the last urgent byte, which falls as it reads, and the bytes
/// stay in line.
#[test]
fn the_urgent_pointer_tells_how_much_remains_to_read() {
    let mut p = Peer::passive(Config::default());
    p.send(Flags::ACK, b"abc");
    assert_eq!(p.us.urgent(p.id), Ok(None));
    send_urg(&mut p, b"URGENTxy", 6);
    // "abc" and "URGENT": 9 bytes up to the last urgent byte.
    assert_eq!(p.us.urgent(p.id), Ok(Some(9)));
    assert_eq!(read(&mut p, 4), b"abcU");
    assert_eq!(p.us.urgent(p.id), Ok(Some(5)));
    assert_eq!(read(&mut p, 5), b"RGENT");
    assert_eq!(p.us.urgent(p.id), Ok(None));
    assert_eq!(read(&mut p, 2), b"xy");
    assert_eq!(p.us.state(p.id), Ok(State::Established));
}

/// MUST-32: the application is told when a pointer arrives with no urgent
/// data pending and when it advances; not again for the same pointer, nor
/// for one whose urgent data it already read.
#[test]
fn the_application_is_told_when_the_pointer_arrives_or_advances() {
    let mut p = Peer::passive(Config::default());
    let (count, waker) = counter();
    assert!(p.us.poll_urgent(p.id, &waker).is_pending());
    send_urg(&mut p, b"12345", 3);
    assert_eq!(count.0.load(Ordering::Relaxed), 1, "woken");
    assert_eq!(poll(&mut p), Poll::Ready(Ok(3)));
    assert!(poll(&mut p).is_pending(), "told once");
    // The same pointer again, from a segment that overlaps the last one
    // (as a retransmission with more data would): no news.
    let mut s = p.seg(Flags::ACK | Flags::URG, b"45xy");
    s.urgent = 0;
    s.seq = p.seq - 2;
    p.seq += 2;
    p.deliver(&s);
    assert_eq!(p.us.urgent(p.id), Ok(Some(3)));
    assert!(poll(&mut p).is_pending());
    // Advanced: told again, with what now remains.
    send_urg(&mut p, b"678", 2);
    assert_eq!(p.us.urgent(p.id), Ok(Some(9)));
    assert_eq!(poll(&mut p), Poll::Ready(Ok(9)));
    // Advanced, then all read before the application looked: nothing to
    // tell.
    send_urg(&mut p, b"9", 1);
    assert_eq!(read(&mut p, 11), b"12345xy6789");
    assert_eq!(p.us.urgent(p.id), Ok(None));
    assert!(poll(&mut p).is_pending());
}

/// MUST-31: urgent data of any length: the pointer ahead of the data
/// received so far (here 5000 bytes, over four segments, each carrying the
/// same pointer); the notification comes once, at the first segment.
#[test]
fn urgent_data_longer_than_a_segment() {
    let mut p = Peer::passive(Config::default());
    let start = p.seq;
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let mut told = 0;
    for chunk in data.chunks(1400) {
        let up = (start + 5000).since(p.seq) as u16;
        send_urg(&mut p, chunk, up);
        assert_eq!(p.us.urgent(p.id), Ok(Some(5000)));
        if poll(&mut p).is_ready() {
            told += 1;
        }
    }
    assert_eq!(told, 1);
    let got = read(&mut p, 5000);
    assert_eq!(got, data);
    assert_eq!(p.us.urgent(p.id), Ok(None));
}

/// URG on a segment without data is legal; its pointer may point past what
/// arrived (the urgent bytes follow); so may a segment's own.
#[test]
fn urgent_without_data_and_ahead_of_the_data() {
    let mut p = Peer::passive(Config::default());
    let out = send_urg(&mut p, b"", 4);
    assert!(out.is_empty(), "a pure ACK draws nothing: {out:?}");
    assert_eq!(p.us.urgent(p.id), Ok(Some(4)));
    assert_eq!(poll(&mut p), Poll::Ready(Ok(4)));
    p.send(Flags::ACK, b"ab");
    assert_eq!(read(&mut p, 2), b"ab");
    assert_eq!(p.us.urgent(p.id), Ok(Some(2)));
    p.send(Flags::ACK, b"cdef");
    assert_eq!(read(&mut p, 2), b"cd");
    assert_eq!(p.us.urgent(p.id), Ok(None));
    assert_eq!(read(&mut p, 2), b"ef");
}

/// The sequence numbers wrap through the urgent data.
#[test]
fn the_urgent_pointer_wraps_with_the_sequence_numbers() {
    let mut p = Peer::passive_from(Config::default(), SeqNumber(u32::MAX - 3));
    p.send(Flags::ACK, b"ab");
    assert!(p.seq.0 > u32::MAX - 3);
    send_urg(&mut p, b"cdefgh", 5);
    assert!(p.seq.0 < 10, "wrapped: {:?}", p.seq);
    assert_eq!(p.us.urgent(p.id), Ok(Some(7)));
    assert_eq!(poll(&mut p), Poll::Ready(Ok(7)));
    assert_eq!(read(&mut p, 6), b"abcdef");
    assert_eq!(p.us.urgent(p.id), Ok(Some(1)));
    assert_eq!(read(&mut p, 2), b"gh");
    assert_eq!(p.us.urgent(p.id), Ok(None));
    // A pointer behind what was read, across the wrap: ignored.
    let mut s = p.seg(Flags::ACK | Flags::URG, b"");
    s.seq = SeqNumber(u32::MAX - 1);
    s.urgent = 1;
    p.deliver(&s);
    assert_eq!(p.us.urgent(p.id), Ok(None));
}

/// Hostile pointers: the largest field, pointers on segments outside the
/// window or before what was read, a pointer past the FIN, URG after the
/// FIN: nothing panics, the stream is intact, and nothing urgent is made
/// up from segments that are not acceptable.
#[test]
fn hostile_urgent_pointers() {
    let mut p = Peer::passive(Config::default());
    // Out of the window, far ahead and far behind: dropped.
    for off in [200_000usize, 1 << 31, (1 << 31) + 1, usize::MAX >> 33] {
        let mut s = p.seg(Flags::ACK | Flags::URG, b"zz");
        s.seq = p.seq + off;
        s.urgent = 0xffff;
        p.deliver(&s);
    }
    for back in [1usize, 70_000, 1 << 31] {
        let mut s = p.seg(Flags::ACK | Flags::URG, b"");
        s.seq = p.seq - back;
        s.urgent = 0xffff;
        p.deliver(&s);
    }
    assert_eq!(p.us.urgent(p.id), Ok(None));
    assert!(poll(&mut p).is_pending());
    // The largest field: 65535 bytes ahead, most not yet come.
    send_urg(&mut p, b"abc", 0xffff);
    assert_eq!(p.us.urgent(p.id), Ok(Some(0xffff)));
    // Zero: the byte after the urgent data is this segment's first: no
    // urgent data in it (and the pointer does not go back).
    send_urg(&mut p, b"d", 0);
    assert_eq!(p.us.urgent(p.id), Ok(Some(0xffff)));
    // A FIN: the urgent data cannot extend past it.
    let mut fin = p.seg(Flags::ACK | Flags::FIN | Flags::URG, b"e");
    fin.urgent = 0xffff;
    p.seq += 2;
    p.deliver(&fin);
    assert_eq!(p.us.state(p.id), Ok(State::CloseWait));
    assert_eq!(p.us.urgent(p.id), Ok(Some(5)));
    // URG after the FIN: ignored.
    send_urg(&mut p, b"", 9);
    assert_eq!(read(&mut p, 5), b"abcde");
    assert_eq!(p.us.urgent(p.id), Ok(None));
    // (The notification not taken: the urgent data was all read, and the
    // stream ended.)
    assert_eq!(poll(&mut p), Poll::Ready(Err(TcpError::Eof)));
}

/// A FIN seen out of order bounds the urgent data; one past it is ignored.
#[test]
fn a_pointer_past_a_fin_seen_is_ignored() {
    let mut p = Peer::passive(Config::default());
    // The FIN after a hole of 3 bytes.
    let mut fin = p.seg(Flags::ACK | Flags::FIN, b"def");
    fin.seq = p.seq + 3;
    p.deliver(&fin);
    let mut s = p.seg(Flags::ACK | Flags::URG, b"");
    s.urgent = 7; // past the FIN at +6
    p.deliver(&s);
    assert_eq!(p.us.urgent(p.id), Ok(None));
    send_urg(&mut p, b"abc", 5);
    assert_eq!(p.us.urgent(p.id), Ok(Some(5)));
    assert_eq!(p.us.state(p.id), Ok(State::CloseWait));
    assert_eq!(read(&mut p, 6), b"abcdef");
    assert_eq!(p.us.urgent(p.id), Ok(None));
}

/// A reset ends the urgent data and its wait with the connection's error.
#[test]
fn a_reset_ends_the_urgent_wait() {
    let mut p = Peer::passive(Config::default());
    let (count, waker) = counter();
    assert!(p.us.poll_urgent(p.id, &waker).is_pending());
    let rst = p.seg(Flags::RST | Flags::ACK, b"");
    p.deliver(&rst);
    assert!(count.0.load(Ordering::Relaxed) > 0, "woken");
    assert_eq!(poll(&mut p), Poll::Ready(Err(TcpError::Reset)));
    assert_eq!(p.us.urgent(p.id), Ok(None));
}

/// Our segments' urgent fields (with URG) as `(seq, len, urgent)`; `None`
/// for a segment without URG.
fn urgents(out: &[Seg]) -> Vec<Option<(SeqNumber, usize, u16)>> {
    out.iter()
        .map(|s| s.flags.urg().then_some((s.seq, s.payload.len(), s.urgent)))
        .collect()
}

/// MUST-30, MUST-62 on the send side: every segment sent before the end of
/// the urgent data carries URG and the offset of the byte after it, over
/// several segments (one write larger than the MSS), in its
/// retransmission, and until it is acknowledged; then segments carry none.
#[test]
fn segments_carry_urg_until_the_urgent_data_is_acknowledged() {
    let mut p = Peer::passive(Config::default());
    let data = vec![7u8; 3 * SEG + 100];
    assert_eq!(p.us.send_urgent(p.id, &data), Ok(data.len()));
    let out = p.wait(0);
    assert_eq!(out.len(), 4, "{out:?}");
    let end = p.ack + data.len();
    for s in &out {
        assert!(s.flags.urg(), "{s:?}");
        assert_eq!(s.seq + usize::from(s.urgent), end, "{s:?}");
    }
    // The first two acknowledged; the rest resent after a timeout, still
    // urgent.
    let mut a = p.seg(Flags::ACK, b"");
    a.ack = p.ack + 2 * SEG;
    p.deliver(&a);
    let d = p.us.next_deadline().unwrap();
    let again = p.wait(d - p.now);
    assert!(!again.is_empty());
    for s in &again {
        assert!(s.flags.urg(), "{s:?}");
        assert_eq!(s.seq + usize::from(s.urgent), end, "{s:?}");
    }
    // All acknowledged: urgent mode is over.
    let mut a = p.seg(Flags::ACK, b"");
    a.ack = end;
    p.deliver(&a);
    p.ack = end;
    p.us.send(p.id, b"plain").unwrap();
    let out = p.wait(0);
    assert_eq!(urgents(&out), [None], "{out:?}");
}

/// Urgent data a shut window holds back: the pure ACKs carry URG and the
/// pointer, so the peer learns of it before it can take the bytes (which
/// is why RFC 9293 has URG processed at a zero window, MUST-66).
#[test]
fn pure_acks_tell_of_urgent_data_a_shut_window_holds() {
    let mut p = Peer::passive(Config::default());
    let mut s = p.seg(Flags::ACK, b"");
    s.window = 0;
    p.deliver(&s);
    assert_eq!(p.us.send_urgent(p.id, b"stop"), Ok(4));
    assert!(p.wait(0).is_empty(), "the window is shut");
    let mut d = p.seg(Flags::ACK | Flags::PSH, b"hi");
    d.window = 0;
    p.seq += 2;
    p.deliver(&d);
    let acks = p.wait(p.us.config().delayed_ack_ns);
    assert!(!acks.is_empty());
    for s in &acks {
        assert!(s.payload.is_empty() && s.flags.urg(), "{s:?}");
        assert_eq!((s.seq, s.urgent), (p.ack, 4), "{s:?}");
    }
}

/// A pointer more than 65535 bytes ahead is sent as 0xffff while that still
/// points past every byte sent (as Linux); from 65535 bytes before the end
/// on, exactly.
#[test]
fn a_pointer_beyond_the_field_is_sent_as_its_largest_value() {
    let mut p = Peer::passive(Config::default());
    let data = vec![1u8; 100_000];
    assert_eq!(p.us.send_urgent(p.id, &data), Ok(data.len()));
    let end = p.ack + data.len();
    let mut all = Vec::new();
    let mut out = p.wait(0);
    while let Some(last) = out.last() {
        let mut a = p.seg(Flags::ACK, b"");
        a.ack = last.seq + last.payload.len();
        all.append(&mut out);
        out = p.deliver(&a);
    }
    assert_eq!(
        all.iter().map(|s| s.payload.len()).sum::<usize>(),
        data.len()
    );
    let first = &all[0];
    assert!(first.flags.urg());
    assert_eq!(first.urgent, 0xffff, "{first:?}");
    for s in &all {
        let d = end.since(s.seq);
        if d <= 0xffff {
            assert!(s.flags.urg(), "{s:?}");
            assert_eq!(usize::from(s.urgent), d, "{s:?}");
        } else if s.flags.urg() {
            assert_eq!(s.urgent, 0xffff);
        }
    }
    assert!(all.iter().any(|s| end.since(s.seq) <= 0xffff));
}

/// Nagle's algorithm does not hold urgent data back (as Linux): with a
/// segment in flight, a small urgent write leaves at once, where a plain
/// one waits for the acknowledgment.
#[test]
fn urgent_data_is_not_held_by_nagle() {
    let mut p = Peer::passive(Config::default());
    p.us.send(p.id, b"first").unwrap();
    assert_eq!(p.wait(0).len(), 1);
    p.us.send(p.id, b"held").unwrap();
    assert!(p.wait(0).is_empty(), "Nagle holds it");
    p.us.send_urgent(p.id, b"!").unwrap();
    let out = p.wait(0);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].payload, b"held!");
    assert!(out[0].flags.urg());
    assert_eq!(out[0].urgent, 5);
}

/// The urgent data's stream, two engines over the simulated wire with
/// loss: B reads the bytes in order and intact, is told of the urgent
/// data, and learns where it ends.
#[test]
fn urgent_data_between_two_engines() {
    let impair = Impair {
        loss_per_mille: 50,
        delay_ns: 2 * MS,
        ..Impair::default()
    };
    let mut sim = Sim::new(Config::default(), Config::default(), impair, 7);
    let (a, b) = open(&mut sim, 80);
    let plain = vec![b'p'; 10_000];
    let urgent: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(sim.a.send(a, &plain), Ok(plain.len()));
    assert_eq!(sim.a.send_urgent(a, &urgent), Ok(urgent.len()));
    let total = plain.len() + urgent.len();
    let mut got = Vec::new();
    let mut told = None;
    sim.run_until(60_000 * MS, |s| {
        if told.is_none()
            && let Poll::Ready(r) = s.b.poll_urgent(b, Waker::noop())
        {
            told = Some(r);
        }
        if told.is_some() {
            let mut buf = vec![0u8; 4096];
            if let Ok(n) = s.b.recv(b, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        got.len() == total
    });
    // Told before reading: the whole of both writes is urgent data to
    // read, or what had arrived of the pointer then.
    let Some(Ok(n)) = told else {
        panic!("{told:?}")
    };
    assert!(n > plain.len() && n <= total, "{n}");
    let mut expect = plain.clone();
    expect.extend_from_slice(&urgent);
    assert!(got == expect, "the stream is intact");
    assert_eq!(sim.b.urgent(b), Ok(None));
}
