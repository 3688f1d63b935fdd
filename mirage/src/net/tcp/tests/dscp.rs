//! The DiffServ codepoint of the segments a connection sends (RFC 9293
//! section 3.9.1, MUST-48, SHLD-21, SHLD-22; RFC 2474): every segment of
//! a connection, from the handshake to TIME-WAIT, carries its codepoint
//! ([`Config::dscp`], then what `set_dscp` set), and the engine hands it to
//! the IP layer through [`Transmit::send_tos`] (`dscp << 2`; the ECN bits
//! 0: these connections do not negotiate ECN, see `tests::ecn`).

use super::harness::{A, B, Capture, MS, Seg};
use crate::net::tcp::{Config, ConnId, State, TcpEngine, TcpError};
use crate::net::wire::tcp::Flags;
use alloc::vec::Vec;

/// The codepoint of a type of service byte a [`Capture`] recorded (255,
/// for a segment sent through plain [`crate::net::tcp::Transmit::send`],
/// stays 255: the engine must not use it); the ECN bits must be 0.
fn dscp_of(tos: u8) -> u8 {
    if tos == 255 {
        return 255;
    }
    assert_eq!(tos & 3, 0, "ECN bits without ECN");
    tos >> 2
}

/// Two engines, A (10.0.0.1) and B (10.0.0.2), on a lossless wire; every
/// segment put on it is logged with its sender and codepoint.
struct Pair {
    a: TcpEngine,
    b: TcpEngine,
    now: u64,
    /// (from A?, segment, codepoint).
    log: Vec<(bool, Seg, u8)>,
}

impl Pair {
    fn new(dscp_a: u8, dscp_b: u8) -> Pair {
        let config = |dscp| Config {
            dscp,
            ..Config::default()
        };
        Pair {
            a: TcpEngine::new(config(dscp_a), [1; 32]),
            b: TcpEngine::new(config(dscp_b), [2; 32]),
            now: 1_000 * MS,
            log: Vec::new(),
        }
    }

    /// Delivers segments both ways until neither side has anything to
    /// send; then, if `timers`, lets time run to the next deadline (once).
    fn run(&mut self, timers: bool) {
        loop {
            let mut from_a = Capture::new();
            let mut from_b = Capture::new();
            self.a.dispatch(self.now, &mut from_a);
            self.b.dispatch(self.now, &mut from_b);
            if from_a.out.is_empty() && from_b.out.is_empty() {
                break;
            }
            // (Replies go out at the next turn.)
            let mut replies = Capture::new();
            for (src, dst, bytes, tos) in from_a.out {
                self.log
                    .push((true, Seg::parse(src, dst, &bytes), dscp_of(tos)));
                self.b.process(self.now, &src, &dst, &bytes, &mut replies);
            }
            for (src, dst, bytes, tos) in replies.out.drain(..) {
                self.log
                    .push((false, Seg::parse(src, dst, &bytes), dscp_of(tos)));
                self.a
                    .process(self.now, &src, &dst, &bytes, &mut Capture::new());
            }
            for (src, dst, bytes, tos) in from_b.out {
                self.log
                    .push((false, Seg::parse(src, dst, &bytes), dscp_of(tos)));
                self.a.process(self.now, &src, &dst, &bytes, &mut replies);
            }
            for (src, dst, bytes, tos) in replies.out {
                self.log
                    .push((true, Seg::parse(src, dst, &bytes), dscp_of(tos)));
                self.b
                    .process(self.now, &src, &dst, &bytes, &mut Capture::new());
            }
        }
        if timers {
            let next = [self.a.next_deadline(), self.b.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            if let Some(t) = next {
                self.now = self.now.max(t);
                self.run(false);
            }
        }
    }

    /// The codepoints of the logged segments A (or B) sent, and their
    /// flags, taking the log.
    fn sent(&mut self, by_a: bool) -> Vec<(Flags, u8)> {
        let log = core::mem::take(&mut self.log);
        let (mine, theirs): (Vec<_>, Vec<_>) = log.into_iter().partition(|l| l.0 == by_a);
        self.log = theirs;
        mine.into_iter().map(|(_, s, d)| (s.flags, d)).collect()
    }
}

/// Opens a connection from A to B's port 80; (A's, B's) handles.
fn open(p: &mut Pair) -> (ConnId, ConnId) {
    let l = p.b.listen(80, 8).unwrap_or_else(|_| {
        // (Listening already.)
        p.b.listen(0, 8).unwrap()
    });
    let a = p.a.connect(p.now, (A, 0), (B, 80)).unwrap();
    p.run(false);
    let b = p.b.accept(l).unwrap().expect("accepted");
    assert_eq!(p.a.state(a), Ok(State::Established));
    (a, b)
}

/// Asserts that every segment in `sent` carries `dscp`, and that it has
/// segments with each of `flags`.
fn all_carry(sent: &[(Flags, u8)], dscp: u8, flags: &[Flags]) {
    assert!(sent.iter().all(|&(_, d)| d == dscp), "{sent:?}");
    for &f in flags {
        assert!(
            sent.iter().any(|&(g, _)| g.contains(f)),
            "no {f:?}: {sent:?}"
        );
    }
}

/// Every segment of a connection carries its end's codepoint, from the SYN
/// to the ACK that TIME-WAIT sends; each direction its own (SHLD-23): an
/// accepted connection takes the listening engine's [`Config::dscp`], not
/// the codepoint of the SYN. `set_dscp` changes it for what follows
/// (SHLD-21), and refuses a value above 63.
#[test]
fn every_segment_of_a_connection_carries_its_dscp() {
    let mut p = Pair::new(10, 20);
    let (a, b) = open(&mut p);
    assert_eq!(p.a.info(a).unwrap().dscp, 10);
    assert_eq!(p.b.info(b).unwrap().dscp, 20);
    p.a.send(a, b"hello").unwrap();
    p.run(true);
    let mut buf = [0u8; 16];
    assert_eq!(p.b.recv(b, &mut buf), Ok(5));
    p.b.send(b, b"world").unwrap();
    p.run(true);
    assert_eq!(p.a.recv(a, &mut buf), Ok(5));
    p.run(true);
    all_carry(&p.sent(true), 10, &[Flags::SYN, Flags::PSH, Flags::ACK]);
    all_carry(&p.sent(false), 20, &[Flags::SYN | Flags::ACK, Flags::PSH]);
    // Changed: A's data, ACKs and FIN, and its ACK of B's FIN.
    assert_eq!(p.a.set_dscp(a, 64), Err(TcpError::InvalidArgument));
    assert_eq!(p.a.info(a).unwrap().dscp, 10);
    p.a.set_dscp(a, 46).unwrap();
    assert_eq!(p.a.info(a).unwrap().dscp, 46);
    p.a.send(a, b"more").unwrap();
    p.run(true);
    assert_eq!(p.b.recv(b, &mut buf), Ok(4));
    p.a.close(a).unwrap();
    p.run(true);
    p.b.close(b).unwrap();
    p.run(false);
    all_carry(&p.sent(true), 46, &[Flags::PSH, Flags::FIN]);
    let b_fin = p
        .log
        .iter()
        .find(|(from_a, s, _)| !from_a && s.flags.fin())
        .map(|(_, s, _)| s.clone())
        .expect("B's FIN");
    all_carry(&p.sent(false), 20, &[Flags::FIN]);
    // A's TIME-WAIT record answers B's FIN, again, with its codepoint.
    assert_eq!(p.a.occupancy().time_wait, 1);
    let mut out = Capture::new();
    p.now += MS;
    p.a.process(p.now, &b_fin.src, &b_fin.dst, &b_fin.bytes(), &mut out);
    p.a.dispatch(p.now, &mut out);
    let acks: Vec<u8> = out.out.iter().map(|o| dscp_of(o.3)).collect();
    assert_eq!(acks, [46]);
}

/// A RST a connection sends carries its codepoint: the one an abort
/// queues, and the one that answers an unacceptable segment; RSTs for no
/// connection carry [`Config::dscp`].
#[test]
fn resets_carry_the_connections_dscp_or_the_configured_one() {
    let mut p = Pair::new(10, 20);
    let (a, _b) = open(&mut p);
    p.a.set_dscp(a, 12).unwrap();
    p.sent(true);
    p.sent(false);
    p.a.abort(a).unwrap();
    p.run(false);
    assert_eq!(p.sent(true), [(Flags::RST | Flags::ACK, 12)]);
    // A segment for a port nobody listens on: B's RST carries B's
    // configured codepoint.
    let a2 = p.a.connect(p.now, (A, 0), (B, 81)).unwrap();
    p.run(false);
    assert_eq!(p.a.state(a2), Ok(State::Closed));
    let from_b = p.sent(false);
    assert_eq!(from_b, [(Flags::RST | Flags::ACK, 20)]);
    // A SYN-SENT connection answered by an ACK for something else: its
    // RST carries its codepoint.
    let a3 = p.a.connect(p.now, (A, 0), (B, 80)).unwrap();
    p.a.set_dscp(a3, 33).unwrap();
    let mut out = Capture::new();
    p.a.dispatch(p.now, &mut out);
    let (src, dst, syn, _) = out.out.remove(0);
    let syn = Seg::parse(src, dst, &syn);
    let bogus = syn.reply(
        crate::net::wire::tcp::SeqNumber(5),
        syn.seq + 1000,
        Flags::ACK,
    );
    p.a.process(p.now, &bogus.src, &bogus.dst, &bogus.bytes(), &mut out);
    p.a.dispatch(p.now, &mut out);
    let rsts: Vec<(Flags, u8)> = out
        .out
        .iter()
        .map(|(s, d, b, m)| (Seg::parse(*s, *d, b).flags, dscp_of(*m)))
        .collect();
    assert_eq!(rsts, [(Flags::RST, 33)]);
}

/// A SYN-ACK carrying a SYN cookie (the backlog full) carries the
/// configured codepoint, as does the connection the cookie opens.
#[test]
fn a_syn_cookie_connection_carries_the_configured_dscp() {
    let mut p = Pair::new(10, 20);
    let config = Config {
        dscp: 20,
        max_backlog: 1,
        ..Config::default()
    };
    p.b = TcpEngine::new(config, [2; 32]);
    let l = p.b.listen(80, 1).unwrap();
    // The first connection fills the backlog (not accepted); the second
    // is answered with a cookie.
    let _first = p.a.connect(p.now, (A, 0), (B, 80)).unwrap();
    p.run(false);
    let second = p.a.connect(p.now, (A, 0), (B, 80)).unwrap();
    p.run(false);
    assert!(p.b.stats().syn_cookies_sent > 0, "{:?}", p.b.stats());
    assert_eq!(p.a.state(second), Ok(State::Established));
    all_carry(&p.sent(false), 20, &[Flags::SYN | Flags::ACK]);
    let _ = p.b.accept(l);
}
