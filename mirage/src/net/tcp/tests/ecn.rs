//! Explicit Congestion Notification (RFC 3168 section 6.1; RFC 9293
//! SHLD-8): the negotiation both ways, which segments go ECN-capable (the
//! type of service byte handed to [`Transmit::send_tos`]), the echo of a
//! congestion mark until CWR, and the sender's once-a-window reduction.

use super::harness::{A, B, Capture, MS, SEG, Seg};
use crate::net::ip::{ECN_CE, ECT_0};
use crate::net::tcp::{Config, CongestionAlgorithm, ConnId, Ecn, TcpEngine};
use crate::net::wire::tcp::{Flags, Options, SeqNumber};
use alloc::vec;
use alloc::vec::Vec;

/// The SYN flags that ask for ECN (an ECN-setup SYN).
const ECN_SYN: Flags = Flags(Flags::SYN.0 | Flags::ECE.0 | Flags::CWR.0);

/// A scripted peer (B:5000) and our engine (A:80, or A:40000 on an active
/// open), every segment with its type of service byte.
struct Ep {
    us: TcpEngine,
    id: ConnId,
    now: u64,
    /// The peer's next sequence number.
    seq: SeqNumber,
    /// What the peer acknowledges.
    ack: SeqNumber,
    ts: u32,
    ts_echo: u32,
    /// Our port.
    port: u16,
}

fn config(ecn: Ecn) -> Config {
    Config {
        ecn,
        ..Config::default()
    }
}

fn syn_options() -> Options {
    Options {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some((100, 0)),
        ..Default::default()
    }
}

impl Ep {
    /// The peer's SYN with `flags` to our listener; returns the connection
    /// (after the peer's ACK) and our SYN-ACK with its byte.
    fn passive(config: Config, flags: Flags) -> (Ep, (Seg, u8)) {
        Self::passive_acked(config, flags, Flags(0))
    }

    /// [`Ep::passive`], the handshake's ACK with `ack_flags` too.
    fn passive_acked(config: Config, flags: Flags, ack_flags: Flags) -> (Ep, (Seg, u8)) {
        let mut us = TcpEngine::new(config, [9; 32]);
        let l = us.listen(80, 8).unwrap();
        let mut syn = Seg::peer_syn(syn_options());
        syn.flags = flags;
        let mut ep = Ep {
            us,
            id: ConnId {
                index: 0,
                generation: 0,
            },
            now: 1_000 * MS,
            seq: SeqNumber(1001),
            ack: SeqNumber(0),
            ts: 101,
            ts_echo: 0,
            port: 80,
        };
        let mut out = ep.deliver(&syn, 0);
        assert_eq!(out.len(), 1, "one SYN-ACK: {out:?}");
        let synack = out.remove(0);
        assert!(synack.0.flags.syn() && synack.0.flags.ack());
        ep.ack = synack.0.seq + 1;
        let out = ep.send(Flags::ACK | ack_flags, b"", 0);
        assert!(out.is_empty(), "{out:?}");
        ep.id = ep.us.accept(l).unwrap().expect("accepted");
        (ep, synack)
    }

    /// We connect to the peer; it answers our SYN with a SYN-ACK with
    /// `flags` (besides SYN and ACK). Returns the connection and our SYN.
    fn active(config: Config, flags: Flags) -> (Ep, (Seg, u8)) {
        let mut us = TcpEngine::new(config, [9; 32]);
        let now = 1_000 * MS;
        let id = us.connect(now, (A, 40000), (B, 5000)).unwrap();
        let mut ep = Ep {
            us,
            id,
            now,
            seq: SeqNumber(7000),
            ack: SeqNumber(0),
            ts: 101,
            ts_echo: 0,
            port: 40000,
        };
        let mut out = ep.flush();
        assert_eq!(out.len(), 1, "one SYN: {out:?}");
        let syn = out.remove(0);
        ep.ack = syn.0.seq + 1;
        let mut synack = ep.seg(Flags::SYN | Flags::ACK | flags, b"");
        synack.options = syn_options();
        synack.options.timestamp = Some((100, ep.ts_echo));
        ep.seq += 1;
        let out = ep.deliver(&synack, 0);
        assert!(out.iter().any(|s| s.0.flags == Flags::ACK), "{out:?}");
        (ep, syn)
    }

    fn seg(&mut self, flags: Flags, payload: &[u8]) -> Seg {
        self.ts += 1;
        Seg {
            src: B,
            dst: A,
            src_port: 5000,
            dst_port: self.port,
            seq: self.seq,
            ack: self.ack,
            flags,
            window: 65535,
            urgent: 0,
            options: Options {
                timestamp: Some((self.ts, self.ts_echo)),
                ..Default::default()
            },
            payload: payload.to_vec(),
        }
    }

    fn note(&mut self, out: &[(Seg, u8)]) {
        for (s, _) in out {
            if let Some((v, _)) = s.options.timestamp {
                self.ts_echo = v;
            }
        }
    }

    /// Delivers `seg` as received with `tos`; what we sent then.
    fn deliver(&mut self, seg: &Seg, tos: u8) -> Vec<(Seg, u8)> {
        let mut t = Capture::new();
        self.us
            .process_tos(self.now, &seg.src, &seg.dst, tos, &seg.bytes(), &mut t);
        self.us.dispatch(self.now, &mut t);
        let out = t.take_tos();
        self.note(&out);
        out
    }

    /// Sends from the peer with its numbers, received with `tos`.
    fn send(&mut self, flags: Flags, payload: &[u8], tos: u8) -> Vec<(Seg, u8)> {
        let s = self.seg(flags, payload);
        self.seq += payload.len() + usize::from(flags.fin());
        self.deliver(&s, tos)
    }

    /// The peer acknowledges up to `ack`, with `flags` besides ACK.
    fn ack_to(&mut self, ack: SeqNumber, flags: Flags) -> Vec<(Seg, u8)> {
        self.ack = ack;
        self.send(Flags::ACK | flags, b"", 0)
    }

    fn flush(&mut self) -> Vec<(Seg, u8)> {
        let mut t = Capture::new();
        self.us.dispatch(self.now, &mut t);
        let out = t.take_tos();
        self.note(&out);
        out
    }

    /// Lets time run to the next deadline and dispatches.
    fn wait_next(&mut self) -> Vec<(Seg, u8)> {
        if let Some(d) = self.us.next_deadline() {
            self.now = self.now.max(d);
        }
        self.flush()
    }

    fn ecn(&self) -> bool {
        self.us.info(self.id).unwrap().ecn
    }
}

/// The ECN field of a type of service byte.
fn field(tos: u8) -> u8 {
    tos & 3
}

#[test]
fn a_listener_accepts_an_ecn_setup_syn_unless_off() {
    for ecn in [Ecn::Passive, Ecn::On] {
        let (ep, (synack, tos)) = Ep::passive(config(ecn), ECN_SYN);
        // An ECN-setup SYN-ACK: ECE without CWR, not ECN-capable itself.
        assert_eq!(synack.flags, Flags::SYN | Flags::ACK | Flags::ECE);
        assert_eq!(field(tos), 0);
        assert!(ep.ecn(), "{ecn:?}");
    }
    let (ep, (synack, _)) = Ep::passive(config(Ecn::Off), ECN_SYN);
    assert_eq!(synack.flags, Flags::SYN | Flags::ACK);
    assert!(!ep.ecn());
    // A SYN with ECE alone (or CWR alone) is no ECN-setup SYN.
    for flags in [Flags::SYN | Flags::ECE, Flags::SYN | Flags::CWR, Flags::SYN] {
        let (ep, (synack, _)) = Ep::passive(config(Ecn::On), flags);
        assert_eq!(synack.flags, Flags::SYN | Flags::ACK, "{flags:?}");
        assert!(!ep.ecn());
    }
}

#[test]
fn a_resent_syn_ack_still_accepts_ecn() {
    let mut us = TcpEngine::new(Config::default(), [9; 32]);
    us.listen(80, 8).unwrap();
    let mut syn = Seg::peer_syn(syn_options());
    syn.flags = ECN_SYN;
    let mut t = Capture::new();
    us.process_tos(1_000 * MS, &syn.src, &syn.dst, 0, &syn.bytes(), &mut t);
    us.dispatch(1_000 * MS, &mut t);
    let d = us.next_deadline().unwrap();
    us.dispatch(d, &mut t);
    let out = t.take_tos();
    assert_eq!(out.len(), 2, "{out:?}");
    for (s, tos) in &out {
        assert_eq!(s.flags, Flags::SYN | Flags::ACK | Flags::ECE);
        assert_eq!(field(*tos), 0);
    }
}

#[test]
fn on_asks_in_the_syn_and_uses_ecn_after_an_ecn_setup_syn_ack() {
    let (ep, (syn, tos)) = Ep::active(config(Ecn::On), Flags::ECE);
    assert_eq!(syn.flags, ECN_SYN);
    assert_eq!(field(tos), 0, "a SYN is not ECN-capable");
    assert!(ep.ecn());
    // A SYN-ACK without ECE, or with ECE and CWR (a reflection of the
    // SYN's flags), declines.
    for flags in [Flags(0), Flags::ECE | Flags::CWR, Flags::CWR] {
        let (ep, _) = Ep::active(config(Ecn::On), flags);
        assert!(!ep.ecn(), "{flags:?}");
    }
}

#[test]
fn passive_and_off_do_not_ask_and_ignore_an_unasked_ece_syn_ack() {
    for ecn in [Ecn::Passive, Ecn::Off] {
        let (mut ep, (syn, _)) = Ep::active(config(ecn), Flags::ECE);
        assert_eq!(syn.flags, Flags::SYN, "{ecn:?}");
        assert!(!ep.ecn());
        // Data goes not ECN-capable, and an ECE from the peer changes
        // nothing.
        ep.us.send(ep.id, &[1; 100]).unwrap();
        let out = ep.flush();
        assert_eq!(out.len(), 1);
        assert_eq!(field(out[0].1), 0);
        let before = ep.us.info(ep.id).unwrap();
        let end = out[0].0.seq + 100;
        ep.ack_to(end, Flags::ECE);
        let after = ep.us.info(ep.id).unwrap();
        assert_eq!(after.ssthresh, before.ssthresh);
        assert_eq!(ep.us.stats().ecn_reductions, 0);
    }
}

#[test]
fn a_resent_syn_does_not_ask_for_ecn() {
    let mut us = TcpEngine::new(config(Ecn::On), [9; 32]);
    us.connect(1_000 * MS, (A, 40000), (B, 5000)).unwrap();
    let mut t = Capture::new();
    us.dispatch(1_000 * MS, &mut t);
    let d = us.next_deadline().unwrap();
    us.dispatch(d, &mut t);
    let flags: Vec<Flags> = t.take_tos().iter().map(|s| s.0.flags).collect();
    assert_eq!(flags, [ECN_SYN, Flags::SYN]);
}

#[test]
fn only_new_data_goes_ecn_capable() {
    let (mut ep, _) = Ep::passive(config(Ecn::Passive), ECN_SYN);
    ep.us.send(ep.id, &vec![7u8; 3 * SEG]).unwrap();
    let out = ep.flush();
    assert_eq!(out.len(), 3, "{out:?}");
    for (s, tos) in &out {
        assert_eq!(s.payload.len(), SEG);
        assert_eq!(field(*tos), ECT_0, "{s:?}");
        assert!(!s.flags.cwr() && !s.flags.ece());
    }
    let first = out[0].0.seq;
    let end = first + 3 * SEG;
    // The resends of a tail loss probe or a timeout are not ECN-capable
    // (RFC 3168 6.1.5).
    let out = ep.wait_next();
    assert!(!out.is_empty());
    for (s, tos) in &out {
        assert!(s.seq < end && !s.payload.is_empty(), "{s:?}");
        assert_eq!(field(*tos), 0, "a retransmission: {s:?}");
    }
    // All acknowledged; the peer's data draws a pure ACK: not ECN-capable.
    ep.ack_to(end, Flags(0));
    let mut out = ep.send(Flags::ACK | Flags::PSH, &[1; 10], 0);
    out.extend(ep.wait_next());
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].0.payload.is_empty());
    assert_eq!(field(out[0].1), 0, "a pure ACK: {out:?}");
    // A zero-window probe is not either (RFC 3168 6.1.6).
    let mut z = ep.seg(Flags::ACK, b"");
    z.window = 0;
    ep.deliver(&z, 0);
    ep.us.send(ep.id, &[2; 10]).unwrap();
    assert!(ep.flush().is_empty(), "the window is shut");
    let out = ep.wait_next();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0.seq, end - 1, "a probe: {out:?}");
    assert_eq!(field(out[0].1), 0, "a window probe: {out:?}");
    // The FIN alone, and RSTs, are not either.
    let (mut ep, _) = Ep::passive(config(Ecn::Passive), ECN_SYN);
    ep.us.shutdown_write(ep.id).unwrap();
    let out = ep.flush();
    assert_eq!(out.len(), 1);
    assert!(out[0].0.flags.fin());
    assert_eq!(field(out[0].1), 0);
    ep.us.abort(ep.id).unwrap();
    let out = ep.flush();
    assert!(
        out.iter().all(|s| s.0.flags.rst() && field(s.1) == 0),
        "{out:?}"
    );
    assert!(!out.is_empty());
}

#[test]
fn the_ecn_field_of_a_connection_without_ecn_stays_zero() {
    let (mut ep, _) = Ep::passive(config(Ecn::Passive), Flags::SYN);
    ep.us.send(ep.id, &vec![7u8; 3 * SEG]).unwrap();
    let out = ep.flush();
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|s| field(s.1) == 0), "{out:?}");
    // A CE mark on it is not echoed.
    let out = ep.send(Flags::ACK, &[1; 100], ECN_CE);
    assert!(out.iter().all(|s| !s.0.flags.ece()), "{out:?}");
    assert_eq!(ep.us.stats().ecn_ce_received, 0);
}

#[test]
fn a_congestion_mark_is_echoed_until_cwr() {
    let (mut ep, _) = Ep::passive(config(Ecn::Passive), ECN_SYN);
    // Unmarked data: a delayed ACK, without ECE.
    let out = ep.send(Flags::ACK, &[1; 100], ECT_0);
    assert!(out.is_empty(), "delayed: {out:?}");
    let out = ep.wait_next();
    assert_eq!(out.len(), 1);
    assert!(!out[0].0.flags.ece());
    // Marked data: acknowledged at once, with ECE.
    let out = ep.send(Flags::ACK, &[2; 100], ECN_CE);
    assert_eq!(out.len(), 1, "an ACK at once: {out:?}");
    assert_eq!(out[0].0.flags, Flags::ACK | Flags::ECE);
    assert_eq!(field(out[0].1), 0);
    assert_eq!(ep.us.stats().ecn_ce_received, 1);
    // Unmarked data after it: its ACKs still carry ECE, and so does our
    // data (ECN-capable, without CWR).
    ep.send(Flags::ACK, &[3; 100], ECT_0);
    let out = ep.wait_next();
    assert_eq!(out.len(), 1);
    assert!(out[0].0.flags.ece(), "{out:?}");
    ep.us.send(ep.id, &[4; 50]).unwrap();
    let out = ep.flush();
    assert_eq!(out.len(), 1);
    assert!(out[0].0.flags.ece() && !out[0].0.flags.cwr());
    assert_eq!(field(out[0].1), ECT_0);
    let ours = out[0].0.seq + 50;
    // CWR from the peer ends the echo.
    ep.ack = ours;
    ep.send(Flags::ACK | Flags::CWR, &[5; 100], ECT_0);
    let out = ep.wait_next();
    assert_eq!(out.len(), 1);
    assert!(!out[0].0.flags.ece(), "{out:?}");
    // A segment with CWR that is marked itself starts it again.
    let out = ep.send(Flags::ACK | Flags::CWR, &[6; 100], ECN_CE);
    assert_eq!(out.len(), 1);
    assert!(out[0].0.flags.ece(), "{out:?}");
}

/// An ECN connection (we are the sender, the window in congestion
/// avoidance) with `n` segments in flight.
fn sending(algo: CongestionAlgorithm, n: usize) -> (Ep, Vec<(Seg, u8)>) {
    let mut c = config(Ecn::Passive);
    c.congestion = algo;
    let (mut ep, _) = Ep::passive(c, ECN_SYN);
    ep.us.send(ep.id, &vec![7u8; n * SEG]).unwrap();
    let out = ep.flush();
    assert_eq!(out.len(), n, "{out:?}");
    (ep, out)
}

#[test]
fn ece_reduces_the_window_once_per_window_then_cwr_goes_on_new_data() {
    for algo in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
        let (mut ep, out) = sending(algo, 8);
        let first = out[0].0.seq;
        let before = ep.us.info(ep.id).unwrap();
        assert_eq!(before.ssthresh, usize::MAX);
        // The first two segments acknowledged, with ECE.
        let out = ep.ack_to(first + 2 * SEG, Flags::ECE);
        let after = ep.us.info(ep.id).unwrap();
        let flight = 8 * SEG; // before this ACK
        let expect = match algo {
            CongestionAlgorithm::NewReno => flight / 2,
            CongestionAlgorithm::Cubic => (before.cwnd as f64 * 0.7) as usize,
        };
        assert_eq!(after.ssthresh, expect, "{algo:?}");
        assert_eq!(after.cwnd, after.ssthresh, "{algo:?}");
        assert_eq!(ep.us.stats().ecn_reductions, 1);
        // Nothing resent, nothing new (6 segments in flight, more than the
        // reduced window for NewReno).
        assert!(out.iter().all(|s| s.0.seq >= first + 8 * SEG), "{out:?}");
        assert_eq!(after.retransmits, 0);
        // More ECE for the same window: no second reduction, no growth.
        for k in 3..=8 {
            ep.ack_to(first + k * SEG, Flags::ECE);
            let i = ep.us.info(ep.id).unwrap();
            assert_eq!(
                (i.ssthresh, i.cwnd),
                (after.ssthresh, after.cwnd),
                "{algo:?} {k}"
            );
        }
        assert_eq!(ep.us.stats().ecn_reductions, 1);
        // The next new data segment carries CWR, ECN-capable; the one after
        // it does not.
        ep.us.send(ep.id, &vec![8u8; 2 * SEG]).unwrap();
        let out = ep.flush();
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].0.seq, first + 8 * SEG);
        assert!(out[0].0.flags.cwr(), "{out:?}");
        assert!(!out[1].0.flags.cwr(), "{out:?}");
        assert!(out.iter().all(|s| field(s.1) == ECT_0));
        // The peer still echoes until it sees CWR: an ACK of exactly the
        // old window (not above it) with ECE is still ignored.
        ep.ack_to(first + 8 * SEG, Flags::ECE);
        assert_eq!(ep.us.stats().ecn_reductions, 1);
        // A new mark on data sent after the reduction: a new reduction.
        ep.ack_to(first + 9 * SEG, Flags::ECE);
        assert_eq!(ep.us.stats().ecn_reductions, 2, "{algo:?}");
        let i = ep.us.info(ep.id).unwrap();
        assert!(i.ssthresh < after.ssthresh, "{algo:?} {i:?}");
        assert_eq!(i.retransmits, 0);
    }
}

/// The segment at `una` is lost and the next three arrive: three
/// duplicate ACKs, each SACKing one segment more.
fn three_duplicates(ep: &mut Ep, una: SeqNumber) {
    for k in 2..=4 {
        let mut s = ep.seg(Flags::ACK, b"");
        s.ack = una;
        s.options.sack[0] = (una + SEG, una + k * SEG);
        s.options.sack_len = 1;
        ep.deliver(&s, 0);
    }
}

#[test]
fn ece_is_ignored_during_loss_recovery_and_a_fast_retransmit_sets_cwr() {
    let (mut ep, out) = sending(CongestionAlgorithm::NewReno, 8);
    let first = out[0].0.seq;
    // The first segment lost: three duplicate ACKs (with SACK blocks).
    three_duplicates(&mut ep, first);
    assert_eq!(ep.us.stats().fast_retransmits, 1);
    let i = ep.us.info(ep.id).unwrap();
    // ECE during recovery: no further reduction.
    let mut s = ep.seg(Flags::ACK | Flags::ECE, b"");
    s.ack = first;
    s.options.sack[0] = (first + SEG, first + 5 * SEG);
    s.options.sack_len = 1;
    ep.deliver(&s, 0);
    assert_eq!(ep.us.stats().ecn_reductions, 0);
    assert_eq!(ep.us.info(ep.id).unwrap().ssthresh, i.ssthresh);
    // Everything acknowledged: recovery over; new data carries CWR.
    ep.ack_to(first + 8 * SEG, Flags(0));
    ep.us.send(ep.id, &[9; 100]).unwrap();
    let out = ep.flush();
    let new: Vec<_> = out.iter().filter(|s| s.0.seq >= first + 8 * SEG).collect();
    assert_eq!(new.len(), 1, "{out:?}");
    assert!(new[0].0.flags.cwr(), "{new:?}");
}

#[test]
fn ece_on_the_handshakes_ack_reduces_nothing() {
    let (ep, _) = Ep::passive_acked(config(Ecn::Passive), ECN_SYN, Flags::ECE);
    assert!(ep.ecn());
    let i = ep.us.info(ep.id).unwrap();
    assert_eq!(i.ssthresh, usize::MAX, "{i:?}");
    assert_eq!(ep.us.stats().ecn_reductions, 0);
}

#[test]
fn a_loss_in_the_window_an_ece_reduced_reduces_no_further() {
    let (mut ep, out) = sending(CongestionAlgorithm::NewReno, 8);
    let first = out[0].0.seq;
    ep.ack_to(first + SEG, Flags::ECE);
    let reduced = ep.us.info(ep.id).unwrap();
    assert_eq!(ep.us.stats().ecn_reductions, 1);
    // The second segment lost: duplicate ACKs with SACK blocks (and ECE,
    // the peer has not seen CWR yet).
    for k in 3..=5 {
        let mut s = ep.seg(Flags::ACK | Flags::ECE, b"");
        s.ack = first + SEG;
        s.options.sack[0] = (first + 2 * SEG, first + k * SEG);
        s.options.sack_len = 1;
        ep.deliver(&s, 0);
    }
    assert_eq!(ep.us.stats().fast_retransmits, 1);
    let i = ep.us.info(ep.id).unwrap();
    assert_eq!(i.ssthresh, reduced.ssthresh, "{i:?}");
    assert_eq!(ep.us.stats().ecn_reductions, 1);
    // Recovered; a loss in a later window reduces again.
    ep.ack_to(first + 8 * SEG, Flags(0));
    ep.us.send(ep.id, &vec![3u8; 6 * SEG]).unwrap();
    let out = ep.flush();
    assert!(out.len() >= 4, "{out:?}");
    let second = first + 8 * SEG;
    three_duplicates(&mut ep, second);
    assert_eq!(ep.us.stats().fast_retransmits, 2);
    let j = ep.us.info(ep.id).unwrap();
    assert!(j.ssthresh < reduced.ssthresh, "{j:?}");
}
