//! A simulated wire between two `TcpEngine`s on virtual time: seeded loss,
//! duplication, reordering (extra delay for some segments) and delay; and
//! helpers to craft and inspect single segments.

use crate::net::tcp::{Config, ConnId, TcpEngine, TcpError, Transmit};
use crate::net::wire::checksum::PseudoHeader;
use crate::net::wire::tcp::{Flags, Options, Packet, Repr, SeqNumber};
use alloc::collections::{BTreeMap, BinaryHeap};
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::net::{IpAddr, Ipv4Addr};

pub(crate) const MS: u64 = 1_000_000;
pub(crate) const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub(crate) const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// Segments a `TcpEngine` sent, as (src, dst, bytes, type of service
/// byte: 255 for one sent through plain [`Transmit::send`], which the
/// engine does not use).
#[derive(Debug, Default)]
pub(crate) struct Capture {
    pub(crate) out: Vec<(IpAddr, IpAddr, Vec<u8>, u8)>,
    /// Segments accepted before refusing (`usize::MAX`: never refuse).
    pub(crate) room: usize,
    pub(crate) mss: usize,
    /// The path's MSS hint, if the path takes less than the link.
    pub(crate) path_mss: Option<usize>,
    /// The destinations of the negative advice passed on.
    pub(crate) advised: Vec<IpAddr>,
    /// The segmentation offload offered (0: none).
    pub(crate) offload: usize,
    /// Per segment sent through the offload, in order: its length and
    /// the MSS it is to be cut by.
    pub(crate) segmented: Vec<(usize, usize)>,
}

impl Capture {
    pub(crate) fn new() -> Capture {
        Capture {
            out: Vec::new(),
            room: usize::MAX,
            mss: 1460,
            path_mss: None,
            advised: Vec::new(),
            offload: 0,
            segmented: Vec::new(),
        }
    }

    /// The parsed segments sent, draining them.
    pub(crate) fn take(&mut self) -> Vec<Seg> {
        self.take_tos().into_iter().map(|(s, _)| s).collect()
    }

    /// The parsed segments sent with their type of service byte, draining
    /// them.
    pub(crate) fn take_tos(&mut self) -> Vec<(Seg, u8)> {
        self.out
            .drain(..)
            .map(|(s, d, b, tos)| (Seg::parse(s, d, &b), tos))
            .collect()
    }
}

impl Transmit for Capture {
    fn mss_hint(&self, _dst: IpAddr) -> usize {
        self.mss
    }

    fn path_mss_hint(&self, _dst: IpAddr) -> usize {
        self.path_mss.unwrap_or(self.mss)
    }

    fn send(&mut self, src: IpAddr, dst: IpAddr, len: usize, fill: impl FnOnce(&mut [u8])) -> bool {
        if self.room == 0 {
            return false;
        }
        self.room = self.room.saturating_sub(1);
        let mut b = vec![0u8; len];
        fill(&mut b);
        self.out.push((src, dst, b, 255));
        true
    }

    fn send_tos(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        tos: u8,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        if !self.send(src, dst, len, fill) {
            return false;
        }
        if let Some(sent) = self.out.last_mut() {
            sent.3 = tos;
        }
        true
    }

    fn negative_advice(&mut self, dst: IpAddr) {
        self.advised.push(dst);
    }

    fn segmentation_offload(&self, _dst: IpAddr) -> usize {
        self.offload
    }

    fn send_segmented(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        tos: u8,
        len: usize,
        mss: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        assert!(
            len <= self.offload,
            "{len} through an offload of {}",
            self.offload
        );
        if !self.send_tos(src, dst, tos, len, fill) {
            return false;
        }
        self.segmented.push((len, mss));
        true
    }
}

/// An owned, parsed segment (checksum verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seg {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) seq: SeqNumber,
    pub(crate) ack: SeqNumber,
    pub(crate) flags: Flags,
    pub(crate) window: u16,
    /// The urgent pointer field (meaningful with URG).
    pub(crate) urgent: u16,
    pub(crate) options: Options,
    pub(crate) payload: Vec<u8>,
}

impl Seg {
    /// The SYN the peer (B, port 5000, ISN 1000) sends to our port 80,
    /// with `options`.
    pub(crate) fn peer_syn(options: Options) -> Seg {
        Seg {
            src: B,
            dst: A,
            src_port: 5000,
            dst_port: 80,
            seq: SeqNumber(1000),
            ack: SeqNumber(0),
            flags: Flags::SYN,
            window: 65535,
            urgent: 0,
            options,
            payload: Vec::new(),
        }
    }

    pub(crate) fn parse(src: IpAddr, dst: IpAddr, b: &[u8]) -> Seg {
        let ph = PseudoHeader::new(src, dst).unwrap();
        let p = Packet::new_checked(b).expect("emitted segment parses");
        let r = Repr::parse(&p, &ph).expect("emitted segment has a good checksum");
        Seg {
            src,
            dst,
            src_port: r.src_port,
            dst_port: r.dst_port,
            seq: r.seq,
            ack: r.ack,
            flags: r.flags,
            window: r.window,
            urgent: r.urgent,
            options: r.options,
            payload: r.payload.to_vec(),
        }
    }

    /// The bytes of this segment, checksummed.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let r = Repr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload: &self.payload,
        };
        let ph = PseudoHeader::new(self.src, self.dst).unwrap();
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &ph);
        b
    }

    /// A reply skeleton: addresses and ports swapped.
    pub(crate) fn reply(&self, seq: SeqNumber, ack: SeqNumber, flags: Flags) -> Seg {
        Seg {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            seq,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            options: Options::default(),
            payload: Vec::new(),
        }
    }
}

/// Feed a segment to `tcp` and return what it sent at once and on the
/// following dispatch.
pub(crate) fn feed(tcp: &mut TcpEngine, now: u64, seg: &Seg) -> Vec<Seg> {
    let mut cap = Capture::new();
    tcp.process(now, &seg.src, &seg.dst, &seg.bytes(), &mut cap);
    tcp.dispatch(now, &mut cap);
    cap.take()
}

/// Run `dispatch` and return what was sent.
pub(crate) fn flush(tcp: &mut TcpEngine, now: u64) -> Vec<Seg> {
    let mut cap = Capture::new();
    tcp.dispatch(now, &mut cap);
    cap.take()
}

/// A deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && (self.next() % 1000) < u64::from(per_mille)
    }
}

/// Impairments of the simulated wire.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Impair {
    pub(crate) loss_per_mille: u32,
    pub(crate) dup_per_mille: u32,
    /// Segments delayed by `reorder_ns` extra (so later ones overtake).
    pub(crate) reorder_per_mille: u32,
    pub(crate) reorder_ns: u64,
    pub(crate) delay_ns: u64,
}

/// A bottleneck on the way from A to B: segments leave it one after the
/// other at `bytes_per_sec`, queueing behind each other (their wait adds to
/// the round trip), and one that finds `queue_bytes` already waiting is
/// dropped (a router's tail drop).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bottleneck {
    pub(crate) bytes_per_sec: u64,
    pub(crate) queue_bytes: u64,
}

impl Bottleneck {
    /// 12.5 MB/s (100 Mbit/s) with a queue of `queue` bytes.
    pub(crate) fn at_100_mbit(queue: u64) -> Bottleneck {
        Bottleneck {
            bytes_per_sec: 12_500_000,
            queue_bytes: queue,
        }
    }
}

/// A segment on the wire: (delivery time, order, to B?, bytes).
type InFlight = (u64, u64, bool, Vec<u8>);

/// Two TCPs, A at 10.0.0.1 and B at 10.0.0.2, on one wire.
pub(crate) struct Sim {
    /// A's and B's addresses (10.0.0.1 and 10.0.0.2 unless changed).
    pub(crate) addr_a: IpAddr,
    pub(crate) addr_b: IpAddr,
    pub(crate) a: TcpEngine,
    pub(crate) b: TcpEngine,
    pub(crate) now: u64,
    pub(crate) impair: Impair,
    rng: Rng,
    /// (delivery time, order, to B?, bytes).
    wire: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    pub(crate) cap: Capture,
    pub(crate) sent: u64,
    pub(crate) lost: u64,
    /// When set, every segment put on the wire is checked against the
    /// right edge of the window its sender announced before, which must
    /// not move back (RFC 9293 section 3.8.6.2.2), but for less than the
    /// window scale's granularity where the buffer cannot hold the window
    /// rounded up (RFC 7323 section 2.4).
    pub(crate) edges: Option<Edges>,
    /// The bottleneck towards B, if any (`Impair`'s faults apply before
    /// it, its delay after it).
    pub(crate) bottleneck: Option<Bottleneck>,
    /// When the bottleneck has sent what waits in it.
    busy_until: u64,
    /// Segments the bottleneck dropped.
    pub(crate) bottleneck_drops: u64,
}

/// Per direction of a connection (to B?, source port, destination port):
/// the window scale its SYN offered, and the furthest right edge it
/// announced.
#[derive(Debug, Default)]
pub(crate) struct Edges {
    scale: BTreeMap<(bool, u16, u16), u8>,
    edge: BTreeMap<(bool, u16, u16), SeqNumber>,
    /// Segments checked.
    pub(crate) checked: u64,
    /// Segments whose edge moved back (by less than the granularity).
    pub(crate) retracted: u64,
}

impl Edges {
    fn check(&mut self, to_b: bool, s: &Seg) {
        let key = (to_b, s.src_port, s.dst_port);
        let back = (!to_b, s.dst_port, s.src_port);
        if s.flags.syn() {
            if let Some(w) = s.options.window_scale {
                self.scale.insert(key, w);
            }
            return;
        }
        if !s.flags.ack() || s.flags.rst() {
            return;
        }
        let scale = match (self.scale.get(&key), self.scale.get(&back)) {
            (Some(&w), Some(_)) => w,
            _ => 0,
        };
        let e = s.ack + (usize::from(s.window) << scale);
        if let Some(&last) = self.edge.get(&key)
            && e < last
        {
            let (seq, ack, window) = (s.seq, s.ack, s.window);
            assert!(
                e + (1 << scale) > last,
                "right edge moved back from {last:?} to {e:?}: seq {seq:?} ack {ack:?} window {window}"
            );
            self.retracted += 1;
        }
        if self.edge.get(&key).is_none_or(|&l| e > l) {
            self.edge.insert(key, e);
        }
        self.checked += 1;
    }
}

impl Sim {
    pub(crate) fn new(ca: Config, cb: Config, impair: Impair, seed: u64) -> Sim {
        Sim {
            addr_a: A,
            addr_b: B,
            a: TcpEngine::new(ca, [1; 32]),
            b: TcpEngine::new(cb, [2; 32]),
            now: 1_000 * MS,
            impair,
            rng: Rng(seed | 1),
            wire: BinaryHeap::new(),
            order: 0,
            cap: Capture::new(),
            sent: 0,
            lost: 0,
            edges: None,
            bottleneck: None,
            busy_until: 0,
            bottleneck_drops: 0,
        }
    }

    fn put_on_wire(&mut self, to_b: bool) {
        let out: Vec<_> = self.cap.out.drain(..).collect();
        for (_, mss) in self.cap.segmented.drain(..) {
            assert!(
                mss <= self.cap.mss,
                "cut by {mss} over an MSS of {}",
                self.cap.mss
            );
        }
        for (src, dst, bytes, _) in out {
            self.sent += 1;
            if let Some(e) = &mut self.edges {
                e.check(to_b, &Seg::parse(src, dst, &bytes));
            }
            // Both ends announce the device's MSS: no segment, options
            // included, is larger (RFC 6691), or the IP layer would refuse
            // it; but through the segmentation offload, which
            // `Capture::send_segmented` checked (its pieces are cut by the
            // MSS: it goes whole over this wire).
            assert!(
                bytes.len() <= crate::net::wire::tcp::HEADER_LEN + self.cap.mss
                    || bytes.len() <= self.cap.offload,
                "a segment of {} bytes over an MSS of {}",
                bytes.len(),
                self.cap.mss
            );
            let imp = self.impair;
            if self.rng.chance(imp.loss_per_mille) {
                self.lost += 1;
                continue;
            }
            let copies = if self.rng.chance(imp.dup_per_mille) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let mut at = self.now + imp.delay_ns;
                if let Some(b) = self.bottleneck.filter(|_| to_b) {
                    let start = self.busy_until.max(self.now);
                    let queued =
                        u128::from(start - self.now) * u128::from(b.bytes_per_sec) / 1_000_000_000;
                    if queued + bytes.len() as u128 > u128::from(b.queue_bytes) {
                        self.bottleneck_drops += 1;
                        continue;
                    }
                    let took = bytes.len() as u64 * 1_000_000_000 / b.bytes_per_sec;
                    self.busy_until = start + took;
                    at = self.busy_until + imp.delay_ns;
                }
                if self.rng.chance(imp.reorder_per_mille) {
                    at += imp.reorder_ns;
                }
                self.order += 1;
                self.wire
                    .push(Reverse((at, self.order, to_b, bytes.clone())));
            }
        }
    }

    /// Dispatch both sides onto the wire.
    pub(crate) fn dispatch(&mut self) {
        self.a.dispatch(self.now, &mut self.cap);
        self.put_on_wire(true);
        self.b.dispatch(self.now, &mut self.cap);
        self.put_on_wire(false);
    }

    /// Deliver what is due, then dispatch; then move the clock to the next
    /// event. Returns false if nothing at all is pending.
    pub(crate) fn step(&mut self) -> bool {
        self.step_within(u64::MAX)
    }

    /// [`Sim::step`], moving the clock no further than `limit` (an event
    /// of the test's own, such as an application's next read).
    pub(crate) fn step_within(&mut self, limit: u64) -> bool {
        while let Some(Reverse((at, _, _, _))) = self.wire.peek() {
            if *at > self.now {
                break;
            }
            let Some(Reverse((_, _, to_b, bytes))) = self.wire.pop() else {
                break;
            };
            if to_b {
                self.b
                    .process(self.now, &self.addr_a, &self.addr_b, &bytes, &mut self.cap);
                self.put_on_wire(false);
            } else {
                self.a
                    .process(self.now, &self.addr_b, &self.addr_a, &bytes, &mut self.cap);
                self.put_on_wire(true);
            }
        }
        self.dispatch();
        let next = [
            self.wire.peek().map(|Reverse(e)| e.0),
            self.a.next_deadline(),
            self.b.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) => {
                self.now = self.now.max(t.min(limit));
                true
            }
            None => false,
        }
    }

    /// Step until `done` holds (checked between steps) or `limit_ns` of
    /// virtual time passed; panics on the limit.
    pub(crate) fn run_until(&mut self, limit_ns: u64, mut done: impl FnMut(&mut Sim) -> bool) {
        let end = self.now + limit_ns;
        loop {
            if done(self) {
                return;
            }
            assert!(
                self.now <= end,
                "simulation limit reached at {} ns",
                self.now
            );
            if !self.step() {
                assert!(done(self), "simulation went idle before finishing");
                return;
            }
        }
    }

    /// Let virtual time pass (delivering and dispatching as it goes).
    pub(crate) fn advance(&mut self, ns: u64) {
        let end = self.now + ns;
        while self.now < end {
            if !self.step() {
                self.now = end;
                self.dispatch();
                break;
            }
            if self.now > end {
                break;
            }
        }
    }
}

/// Connect A to B's `port` and return (A's handle, B's accepted handle).
pub(crate) fn open(sim: &mut Sim, port: u16) -> (ConnId, ConnId) {
    let l = sim.b.listen(port, 16).expect("listen");
    let a = sim
        .a
        .connect(sim.now, (sim.addr_a, 0), (sim.addr_b, port))
        .expect("connect");
    let mut b = None;
    sim.run_until(60_000 * MS, |s| {
        if b.is_none() {
            b = s.b.accept(l).unwrap();
        }
        b.is_some() && s.a.state(a) == Ok(crate::net::tcp::State::Established)
    });
    sim.b.close_listener(l).unwrap();
    (a, b.unwrap())
}

/// A sends `size` bytes to B, which sends nothing back, both with `config`,
/// over a wire of `one_way_ns` each way through `bottleneck` (towards B):
/// the simulation once B has read everything, A's connection, and the
/// virtual time the transfer took.
pub(crate) fn one_way_through(
    config: Config,
    bottleneck: Bottleneck,
    one_way_ns: u64,
    size: usize,
) -> (Sim, ConnId, u64) {
    let impair = Impair {
        delay_ns: one_way_ns,
        ..Impair::default()
    };
    let mut sim = Sim::new(config.clone(), config, impair, 7);
    sim.bottleneck = Some(bottleneck);
    let (a, b) = open(&mut sim, 80);
    let start = sim.now;
    let mut ab = Transfer::new(size, 11);
    let mut ba = Transfer::new(0, 12);
    sim.run_until(600_000 * MS, |s| {
        ab.pump_send(&mut s.a, a);
        ba.pump_send(&mut s.b, b);
        ab.pump_recv(&mut s.b, b);
        ba.pump_recv(&mut s.a, a);
        ab.done() && ba.done()
    });
    let took = sim.now - start;
    (sim, a, took)
}

/// A byte stream both ends can generate to check data end to end.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    rng: Rng,
    buf: [u8; 8],
    used: usize,
}

impl Stream {
    pub(crate) fn new(seed: u64) -> Stream {
        Stream {
            rng: Rng(seed | 1),
            buf: [0; 8],
            used: 8,
        }
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            if self.used == 8 {
                self.buf = self.rng.next().to_le_bytes();
                self.used = 0;
            }
            *b = self.buf[self.used];
            self.used += 1;
        }
    }
}

/// One direction of a bulk transfer: the sender's progress and the
/// receiver's check.
#[derive(Debug)]
pub(crate) struct Transfer {
    pub(crate) total: usize,
    pub(crate) sent: usize,
    pub(crate) received: usize,
    tx: Stream,
    rx: Stream,
    pub(crate) eof: bool,
    scratch: Vec<u8>,
}

impl Transfer {
    pub(crate) fn new(total: usize, seed: u64) -> Transfer {
        Transfer {
            total,
            sent: 0,
            received: 0,
            tx: Stream::new(seed),
            rx: Stream::new(seed),
            eof: false,
            scratch: vec![0; 65536],
        }
    }

    /// Push what fits, zero-copy, then shut down writing once all is sent.
    pub(crate) fn pump_send(&mut self, tcp: &mut TcpEngine, id: ConnId) {
        while self.sent < self.total && self.write(tcp, id, usize::MAX) > 0 {}
        self.shut_down_when_sent(tcp, id);
    }

    /// One write of at most `max` bytes (an application writing in small
    /// pieces); shuts down writing once all is sent.
    pub(crate) fn send_once(&mut self, tcp: &mut TcpEngine, id: ConnId, max: usize) {
        self.write(tcp, id, max);
        self.shut_down_when_sent(tcp, id);
    }

    /// Writes up to `max` more bytes of the stream in place; how many.
    fn write(&mut self, tcp: &mut TcpEngine, id: ConnId, max: usize) -> usize {
        let want = (self.total - self.sent).min(max);
        if want == 0 {
            return 0;
        }
        let stream = &mut self.tx;
        let n = tcp
            .send_with(id, |buf| {
                let n = buf.len().min(want);
                stream.fill(&mut buf[..n]);
                (n, n)
            })
            .expect("send");
        self.sent += n;
        n
    }

    fn shut_down_when_sent(&self, tcp: &mut TcpEngine, id: ConnId) {
        if self.sent == self.total {
            let _ = tcp.shutdown_write(id);
        }
    }

    /// Read everything available and check it against the stream.
    pub(crate) fn pump_recv(&mut self, tcp: &mut TcpEngine, id: ConnId) {
        loop {
            match tcp.recv(id, &mut self.scratch) {
                Ok(0) => return,
                Ok(n) => {
                    let mut expect = vec![0u8; n];
                    self.rx.fill(&mut expect);
                    assert!(
                        self.scratch[..n] == expect[..],
                        "corrupted data at offset {}",
                        self.received
                    );
                    self.received += n;
                    assert!(self.received <= self.total, "more data than sent");
                }
                Err(TcpError::Eof) => {
                    self.eof = true;
                    return;
                }
                Err(e) => panic!("recv failed: {e}"),
            }
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.eof && self.received == self.total
    }
}

/// A scripted peer (10.0.0.2:5000) talking to a `TcpEngine` at 10.0.0.1:80
/// with crafted segments.
pub(crate) struct Peer {
    pub(crate) us: TcpEngine,
    pub(crate) id: ConnId,
    pub(crate) now: u64,
    /// The peer's next sequence number.
    pub(crate) seq: SeqNumber,
    /// What the peer acknowledges (our next sequence number).
    pub(crate) ack: SeqNumber,
    /// The peer's timestamp clock.
    pub(crate) ts: u32,
    /// Our last TSval seen.
    pub(crate) ts_echo: u32,
}

/// Payload bytes per full segment of a [`Peer`] connection (MSS 1460
/// less the timestamps).
pub(crate) const SEG: usize = 1448;

/// An ACK from the peer `p` for `ack` that SACKs `blocks` (at most four),
/// delivered; what the engine sent back.
pub(crate) fn sack(p: &mut Peer, ack: SeqNumber, blocks: &[(SeqNumber, SeqNumber)]) -> Vec<Seg> {
    let mut s = p.seg(Flags::ACK, b"");
    s.ack = ack;
    for (i, &b) in blocks.iter().enumerate() {
        s.options.sack[i] = b;
    }
    s.options.sack_len = blocks.len() as u8;
    p.deliver(&s)
}

/// A passive connection whose application queued `segments` full
/// segments; returns it with what the first dispatch sent.
pub(crate) fn sending(segments: usize) -> (Peer, Vec<Seg>) {
    sending_with(Config::default(), segments)
}

/// [`sending`] with our end configured by `config`.
pub(crate) fn sending_with(config: Config, segments: usize) -> (Peer, Vec<Seg>) {
    let mut p = Peer::passive(config);
    let data = vec![0x42u8; segments * SEG];
    assert_eq!(p.us.send(p.id, &data).unwrap(), data.len());
    let out = p.wait(0);
    (p, out)
}

impl Peer {
    /// A connection whose peer shut its window before our application
    /// wrote `data`: the data waits, and the persist timer runs.
    pub(crate) fn behind_a_shut_window(data: &[u8]) -> Peer {
        Peer::behind_a_shut_window_with(Config::default(), data)
    }

    /// [`Peer::behind_a_shut_window`] with our end configured by `config`.
    pub(crate) fn behind_a_shut_window_with(config: Config, data: &[u8]) -> Peer {
        let mut p = Peer::passive(config);
        let mut s = p.seg(Flags::ACK, b"");
        s.window = 0;
        p.deliver(&s);
        p.us.send(p.id, data).unwrap();
        assert!(p.wait(0).is_empty());
        p
    }

    /// The peer answers at least `n` probes of its shut window, its window
    /// still zero, or fewer if we stop probing; how many it answered.
    pub(crate) fn answer_probes(&mut self, n: usize) -> usize {
        let mut answered = 0;
        while answered < n {
            let Some(d) = self.us.next_deadline() else {
                break;
            };
            for _ in self.wait(d.saturating_sub(self.now)) {
                let mut r = self.seg(Flags::ACK, b"");
                r.window = 0;
                self.deliver(&r);
                answered += 1;
            }
        }
        answered
    }

    /// We close first (our FIN, which the peer acknowledges with its own):
    /// the connection, still held, is in TIME-WAIT.
    pub(crate) fn close_to_time_wait(&mut self) {
        self.us.shutdown_write(self.id).unwrap();
        let fin = self.wait(0).remove(0);
        assert!(fin.flags.fin(), "{fin:?}");
        self.ack = fin.seq + 1;
        self.send(Flags::FIN | Flags::ACK, b"");
        assert_eq!(self.us.state(self.id), Ok(crate::net::tcp::State::TimeWait));
    }

    /// Open passively: SYN from the peer, our SYN-ACK, the peer's ACK.
    pub(crate) fn passive(config: Config) -> Peer {
        Peer::passive_from(config, SeqNumber(1000))
    }

    /// [`Peer::passive`] with the peer's initial sequence number `isn`.
    pub(crate) fn passive_from(config: Config, isn: SeqNumber) -> Peer {
        let options = Options {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((100, 0)),
            ..Default::default()
        };
        let mut syn = Seg::peer_syn(options);
        syn.seq = isn;
        Peer::passive_with(config, &syn)
    }

    /// [`Peer::passive`] opened by the peer's `syn`.
    pub(crate) fn passive_with(config: Config, syn: &Seg) -> Peer {
        let mut us = TcpEngine::new(config, [9; 32]);
        let l = us.listen(80, 8).unwrap();
        let now = 1_000 * MS;
        let isn = syn.seq;
        let out = feed(&mut us, now, syn);
        assert_eq!(out.len(), 1, "one SYN-ACK: {out:?}");
        let synack = &out[0];
        assert_eq!(synack.flags, Flags::SYN | Flags::ACK);
        assert_eq!(synack.ack, isn + 1);
        let mut p = Peer {
            us,
            id: ConnId {
                index: 0,
                generation: 0,
            },
            now,
            seq: isn + 1,
            ack: synack.seq + 1,
            ts: 101,
            ts_echo: synack.options.timestamp.map_or(0, |t| t.0),
        };
        let out = p.send(Flags::ACK, b"");
        assert!(out.is_empty(), "nothing to say yet: {out:?}");
        p.id = p.us.accept(l).unwrap().expect("accepted");
        p
    }

    /// A segment from the peer with its current numbers (window 65535 at
    /// scale 7).
    pub(crate) fn seg(&mut self, flags: Flags, payload: &[u8]) -> Seg {
        self.ts += 1;
        Seg {
            src: B,
            dst: A,
            src_port: 5000,
            dst_port: 80,
            seq: self.seq,
            ack: self.ack,
            flags,
            window: 1024,
            urgent: 0,
            options: Options {
                timestamp: Some((self.ts, self.ts_echo)),
                ..Default::default()
            },
            payload: payload.to_vec(),
        }
    }

    /// Deliver a crafted segment; returns what we sent in reply (after a
    /// dispatch) and notes our timestamp.
    pub(crate) fn deliver(&mut self, seg: &Seg) -> Vec<Seg> {
        let out = feed(&mut self.us, self.now, seg);
        for s in &out {
            if let Some((v, _)) = s.options.timestamp {
                self.ts_echo = v;
            }
        }
        out
    }

    /// Send from the peer with its numbers, advancing its sequence.
    pub(crate) fn send(&mut self, flags: Flags, payload: &[u8]) -> Vec<Seg> {
        let s = self.seg(flags, payload);
        self.seq += payload.len() + usize::from(flags.fin()) + usize::from(flags.syn());
        self.deliver(&s)
    }

    /// Let time pass and dispatch.
    pub(crate) fn wait(&mut self, ns: u64) -> Vec<Seg> {
        let mut all = Vec::new();
        let end = self.now + ns;
        loop {
            let next = self.us.next_deadline().filter(|&d| d <= end);
            match next {
                Some(d) => {
                    self.now = self.now.max(d);
                    let out = flush(&mut self.us, self.now);
                    all.extend(out);
                    if self.us.next_deadline() == Some(d) {
                        // Nothing due moved: avoid spinning.
                        self.now += 1;
                    }
                }
                None => {
                    self.now = end;
                    all.extend(flush(&mut self.us, self.now));
                    break;
                }
            }
        }
        for s in &all {
            if let Some((v, _)) = s.options.timestamp {
                self.ts_echo = v;
            }
        }
        all
    }
}

/// Nothing left: no connection, table entry, TIME-WAIT record or timer.
pub(crate) fn assert_empty(t: &TcpEngine) {
    let o = t.occupancy();
    assert_eq!(
        (o.connections, o.table, o.time_wait, o.timers),
        (0, 0, 0, 0),
        "{o:?}"
    );
}
