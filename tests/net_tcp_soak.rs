//! Randomised soak of the whole stack, through the application API: two
//! `DirectStack`s over the in-memory link on virtual time, each with a
//! drawn TCP configuration (buffers from 512 bytes to 1 MiB, window
//! scaling, timestamps, SACK, Nagle, delayed ACKs, congestion control,
//! ECN), over a link with a drawn MTU (576 bytes, with IPv4 alone, to
//! 9,000) and drawn faults (loss up to 15 %, duplication, reordering, bit
//! flips, delay), carry one to four connections at once (up to eight in
//! one run in a hundred), each way, over IPv4 or IPv6, accepted by
//! `accept` or by a `listen` handler. In one run in four a router on the
//! path narrows it for a while (or for good) to a drawn MTU below the
//! link's, from the start or mid-transfer: it drops larger packets and
//! reports them (fragmentation needed, with the MTU or, as routers older
//! than RFC 1191, without; packet too big), and loses up to half of its
//! reports, or in one such run in four all of them (a black hole, which
//! both stacks then cross with black-hole detection; one stack in four
//! has it in other runs). In one run in four the link's endpoints offer
//! TCP segmentation offload: segments of up to 64 KiB go over the link
//! whole (and the faults apply to them whole), and those a narrowing
//! router looks at are cut to the MSS first, as the device would.
//!
//! Each end of each connection is an application drawn from what users
//! write:
//! - *duplex*: the flow `split` into halves, reading and writing at once
//!   (`write_all` in chunks, small writes at intervals, or `write`s given up
//!   after a while; `read`, `read_exact`, reads that pause, or reads given
//!   up after a while);
//! - *alternating*: one loop of short waits on the flow itself, `write` or
//!   `write_with` (in place) then `read` or `read_with` (in place,
//!   consuming part), each given up when it does not finish at once (all
//!   four promise that a future dropped before it finished did nothing);
//! - *write then read*: the whole stream first (`write_all`, `writev`, or
//!   `write_urgent` pieces among plain ones), then the peer's (the peer is
//!   never one of these too, or both would wait on full windows);
//!
//! then, once both streams are through, an ending: `shutdown_write` and
//! the peer's end of stream, then `close`; the peer's end of stream first
//! (only when the peer does not wait for it too), then `close`; `close` at
//! once; or dropping the flow. Nagle is switched off mid-way on some
//! connections. Pauses between small reads or writes are shortened where
//! they would make a run last more than ten minutes of virtual time.
//! Connects that fail (every SYN lost) are tried again, as applications
//! do; one client in five first connects to a decoy port both stacks
//! listen on and gives that connect up after a drawn time (the handshake
//! dropped midway, or a flow that came quicker dropped at once).
//!
//! Some ends set a user timeout (ten or twenty minutes, longer than the
//! retries it replaces take: only a vanished peer meets it) or a DiffServ
//! codepoint when their connection opens. In one run in five both stacks
//! also listen on a backlog port that never accepts, and drop that
//! listener after a drawn time with what its backlog holds; half the
//! clients connect there first and must then be refused or reset (or
//! time out through keep-alive when its probes or their answers are
//! lost), never see an end of stream or wait for ever, and the
//! connections left in the backlog must leave nothing behind.
//!
//! One run in eight has one end abort at a drawn moment (`abort`, or in
//! three of ten `close` with received bytes unread, a RST by RFC 2525, or
//! a FIN when none are); its peer (with keep-alive switched on, as an
//! application that must notice a vanished peer does) must then fail with
//! `Reset`, `Eof`, or `TimedOut` should every RST be lost, instead of
//! waiting for ever. In one of five such runs the other end aborts too.
//!
//! Every byte read is checked against the stream the other end wrote, at
//! once (a fault names the connection, the direction and the offset). The
//! run must end within two hours of virtual time, or be stranded: ends
//! that only read, left waiting by a peer that finished and whose
//! connection then gave up on the path (as any TCP leaves them), counted,
//! and accepted only when a connection of that peer's stack did give up.
//! Then, after the closes, TIME-WAIT and any orphan's retries, both
//! stacks must hold no connection, no TIME-WAIT record and no table
//! entry, and the executor no task but those it had before the
//! connections.
//!
//! 16 seeds by default (their plans include an abort and connects given
//! up); `MIRAGE_TCP_STACK_SOAK=<n>` runs `n` (and
//! `MIRAGE_TCP_STACK_SOAK_FIRST=<seed>` starts elsewhere);
//! `MIRAGE_TCP_STACK_SOAK_SHOW=1` prints each run's plan; a tally of the
//! runs (connections, bytes, endings, aborts, the router's reports, the
//! backlog port's outcomes) is printed at the end.

#[path = "common/netsim.rs"]
mod netsim;

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;

use embedded_io_async::{Read, Write};
use mirage::net::device::memory::{Faults, LinkConfig};
use mirage::net::stack::Stackv4v6;
use mirage::net::tcp::{
    Config, CongestionAlgorithm, Ecn, Flow as _, KeepAlive, Tcp, TcpError, TcpListener,
};
use mirage::rt::{Either, Spawner, join, leak, select, sleep_ns, timeout};

use netsim::{Addressing, RouterError, SEC, Sim, link, stack_with, v4, v6};

/// A stack of the soak: over one host's view of the path.
type Stack = mirage::net::stack::DirectStack<Path, netsim::Clock>;

/// A TCP connection of a [`Stack`].
type Flow = <mirage::net::stack::TcpOf<Path, netsim::Clock> as Tcp>::Flow;

const MS: u64 = 1_000_000;

/// The keep-alive of an end whose peer may vanish (an end whose peer
/// aborts, the decoy port's handler): it notices within half a minute.
const WATCHFUL: KeepAlive = KeepAlive {
    idle_ns: 5 * SEC,
    interval_ns: 2 * SEC,
    count: 6,
};

/// The longest a run may take, in virtual time, before it counts as hung.
const RUN_LIMIT_NS: u64 = 2 * 3600 * SEC;

/// The IPv4 and IPv6 addresses of host A, then of host B.
const HOSTS: [(&str, &str); 2] = [("10.0.0.1", "fd00::1"), ("10.0.0.2", "fd00::2")];

/// SplitMix64: the draws of a run, from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<T: Copy>(&mut self, of: &[T]) -> T {
        of[self.below(of.len() as u64) as usize]
    }
}

/// The byte at `offset` of stream `stream`.
fn stream_byte(stream: u64, offset: u64) -> u8 {
    (offset
        .wrapping_add(stream.wrapping_mul(0x2545_f491_4f6c_dd1d))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        >> 56) as u8
}

/// Fills `buf` with the bytes of `stream` from `offset`.
fn fill(stream: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = stream_byte(stream, offset + i as u64);
    }
}

/// How one end moves the bytes of both streams.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Io {
    /// Split halves, joined.
    Duplex { write: Writing, read: Reading },
    /// Short waits on the flow, writing then reading, again and again.
    Alternating {
        in_place_write: bool,
        in_place_read: bool,
        size: usize,
        wait_ns: u64,
    },
    /// The whole stream written first, then the peer's read.
    WriteThenRead { write: Bulk, read: Reading },
}

/// How the writing half writes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Writing {
    /// `write_all` of `size` bytes, then a pause (none: all it can).
    Pieces { size: usize, gap_ns: u64 },
    /// `write`, given up after `wait_ns` (and tried again).
    GivenUp { size: usize, wait_ns: u64 },
}

/// How a stream is written before anything is read.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bulk {
    /// `write_all` of chunks of this size.
    All { chunk: usize },
    /// `writev` of `parts` slices of `size` bytes.
    Vectored { parts: usize, size: usize },
    /// Every other chunk of `size` bytes with `write_urgent`.
    Urgent { size: usize },
}

/// How the reading half reads.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reading {
    /// `read` into a buffer of `size`, then a pause.
    Buffer { size: usize, pause_ns: u64 },
    /// `read_exact` of `size` bytes (fewer at the end).
    Exact { size: usize },
    /// `read`, given up after `wait_ns` (and tried again).
    GivenUp { size: usize, wait_ns: u64 },
}

/// What an end does once both streams are through.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    /// `shutdown_write`, the peer's end of stream, `close`.
    ShutdownFirst,
    /// The peer's end of stream, then `close`.
    CloseAfterEof,
    /// `close` at once.
    Close,
    /// Drops the flow.
    Drop,
}

/// One end of a connection.
#[derive(Clone, Copy, Debug)]
struct EndPlan {
    /// The length of the stream it writes.
    send: u64,
    io: Io,
    ending: Ending,
    /// Switches Nagle off half-way through its stream (at the start when
    /// it writes through a split half).
    toggle_nodelay: bool,
    /// Aborts at this virtual time after the connection opened.
    abort_after_ns: Option<u64>,
    /// Aborts by closing with received bytes unread (a RST, RFC 2525
    /// section 2.17), or with a FIN when there are none.
    abort_by_close: bool,
    /// Its user timeout (`Flow::set_user_timeout`), set when the
    /// connection opens: longer than the retries it replaces take, so
    /// that only a peer gone quiet meets it.
    user_timeout_ns: Option<u64>,
    /// Its DiffServ codepoint (`Flow::set_dscp`), set when the connection
    /// opens.
    dscp: Option<u8>,
}

/// A connection: which host connects, over which family, accepted how.
#[derive(Clone, Debug)]
struct ConnPlan {
    a_connects: bool,
    v6: bool,
    by_listen: bool,
    /// The client's end, then the server's.
    ends: [EndPlan; 2],
    /// The client first connects to the decoy port and gives the connect
    /// up after this long (dropping the flow if it was quicker).
    cancelled_connect_ns: Option<u64>,
    /// The client first connects to the backlog port (see
    /// [`Plan::backlog_drop_ns`]).
    to_backlog: bool,
}

impl ConnPlan {
    /// The server's host: 0 for A, 1 for B.
    fn server(&self) -> usize {
        usize::from(self.a_connects)
    }
}

/// A run's draws.
#[derive(Clone, Debug)]
struct Plan {
    configs: [Config; 2],
    mtu: usize,
    faults: Faults,
    /// A router on the path whose next hop's MTU is smaller than the
    /// link's for a while.
    narrowing: Option<Narrowing>,
    conns: Vec<ConnPlan>,
    /// Both stacks have a listener on the backlog port that never
    /// accepts, dropped this long after the connections start with what
    /// its backlog holds.
    backlog_drop_ns: Option<u64>,
    /// The link's endpoints offer TCP segmentation offload.
    segmentation_offload: bool,
}

/// A router between the hosts whose next hop carries at most `mtu` bytes
/// from `from_ns` (virtual time) until `until_ns` (for ever if `None`):
/// a larger packet (IPv4 with DF) is dropped and answered with
/// fragmentation needed or packet too big (RFC 1191, RFC 8201), a share
/// of which is lost. IPv6's MTU stays at least 1,280 bytes.
#[derive(Clone, Copy, Debug)]
struct Narrowing {
    mtu: usize,
    from_ns: u64,
    until_ns: Option<u64>,
    /// IPv4 reports leave the MTU out (routers older than RFC 1191).
    old_style: bool,
    /// Reports lost, per mille ([`BLACK_HOLE`]: all of them).
    lost: u64,
}

/// [`Narrowing::lost`] of a black hole: a path that reports nothing.
const BLACK_HOLE: u64 = 1000;

/// The path between the hosts, which both hosts' devices share.
struct PathState {
    narrowing: Option<Narrowing>,
    clock: &'static netsim::Clock,
    rng: RefCell<Rng>,
    /// Reports sent back, and reports lost.
    reports: Cell<(u64, u64)>,
}

impl PathState {
    /// The largest IPv4 and IPv6 packets the path carries now, when it is
    /// narrower than the link.
    fn limits(&self) -> Option<(usize, usize)> {
        let n = self.narrowing?;
        let now = self.clock.0.now();
        (n.from_ns <= now && n.until_ns.is_none_or(|until| now < until))
            .then_some((n.mtu, n.mtu.max(1280)))
    }
}

/// One host's device: its endpoint of the link, behind the path's router.
type Path = netsim::Routed<Rc<PathState>>;

impl netsim::Route for Rc<PathState> {
    fn inspects(&self, len: usize) -> bool {
        self.limits()
            .is_some_and(|(v4, v6)| len.saturating_sub(14) > v4.min(v6))
    }

    /// Drops a packet too big for the path, and reports it unless the
    /// report is lost.
    fn route(&self, frame: &mut [u8]) -> Result<(), Option<Vec<u8>>> {
        use mirage::net::wire::ethernet::EtherType;
        use mirage::net::wire::{ethernet, ipv4, ipv6};
        let (Some((mtu_v4, mtu_v6)), Ok(eth)) =
            (self.limits(), ethernet::Packet::new_checked(&*frame))
        else {
            return Ok(());
        };
        let old_style = self.narrowing.is_some_and(|n| n.old_style);
        let too_big = match eth.ethertype() {
            EtherType::Ipv4 => ipv4::Packet::new_checked(eth.payload())
                .ok()
                .filter(|p| p.dont_frag() && usize::from(p.total_len()) > mtu_v4)
                .map(|_| if old_style { 0 } else { mtu_v4 }),
            EtherType::Ipv6 => ipv6::Packet::new_checked(eth.payload())
                .ok()
                .filter(|p| 40 + usize::from(p.payload_len()) > mtu_v6)
                .map(|_| mtu_v6),
            _ => None,
        };
        let Some(mtu) = too_big else {
            return Ok(());
        };
        let (sent, lost) = self.reports.get();
        if self
            .rng
            .borrow_mut()
            .chance(self.narrowing.map_or(0, |n| n.lost))
        {
            self.reports.set((sent, lost + 1));
            return Err(None);
        }
        self.reports.set((sent + 1, lost));
        Err(netsim::router_error(frame, RouterError::TooBig { mtu }))
    }
}

fn config(rng: &mut Rng) -> Config {
    Config {
        send_buffer: rng.pick(&[512, 4096, 16 * 1024, 128 * 1024, 1 << 20]),
        recv_buffer: rng.pick(&[512, 4096, 16 * 1024, 128 * 1024, 1 << 20]),
        window_scaling: rng.chance(800),
        timestamps: rng.chance(700),
        sack: rng.chance(700),
        nodelay: rng.chance(300),
        delayed_ack_ns: rng.pick(&[0, 10 * MS, 40 * MS, 200 * MS]),
        congestion: rng.pick(&[CongestionAlgorithm::Cubic, CongestionAlgorithm::NewReno]),
        ecn: rng.pick(&[Ecn::Off, Ecn::Passive, Ecn::On]),
        // A handshake whose every ACK is lost leaves the client connected
        // and the server without the connection (as in any TCP: a client
        // with nothing to send never learns it); at 15 % loss that
        // happens once in a few thousand runs with the default six
        // retries of the SYN-ACK (seed 240), and practically never with
        // twelve.
        syn_retries: 12,
        synack_retries: 12,
        ..Config::default()
    }
}

fn size(rng: &mut Rng) -> usize {
    rng.pick(&[1, 10, 100, 1000, 1460, 5000, 65536])
}

fn reading(rng: &mut Rng) -> Reading {
    match rng.below(3) {
        0 => Reading::Buffer {
            size: size(rng),
            pause_ns: rng.pick(&[0, 0, MS, 50 * MS, 300 * MS]),
        },
        1 => Reading::Exact { size: size(rng) },
        _ => Reading::GivenUp {
            size: size(rng),
            wait_ns: rng.pick(&[MS, 20 * MS, 300 * MS]),
        },
    }
}

/// How an end moves `send` bytes and the peer's: small writes at intervals
/// take at most ten minutes of virtual time.
fn io(rng: &mut Rng, write_first_allowed: bool, send: u64) -> Io {
    match rng.below(if write_first_allowed { 3 } else { 2 }) {
        0 => Io::Duplex {
            write: match rng.below(3) {
                0 => Writing::Pieces {
                    size: size(rng),
                    gap_ns: 0,
                },
                1 => {
                    let size = size(rng);
                    let pieces = send.div_ceil(size as u64).max(1);
                    Writing::Pieces {
                        size,
                        gap_ns: rng.pick(&[MS, 20 * MS, 200 * MS]).min(600 * SEC / pieces),
                    }
                }
                _ => Writing::GivenUp {
                    size: size(rng),
                    wait_ns: rng.pick(&[MS, 20 * MS, 300 * MS]),
                },
            },
            read: reading(rng),
        },
        1 => Io::Alternating {
            in_place_write: rng.chance(500),
            in_place_read: rng.chance(500),
            size: size(rng),
            wait_ns: rng.pick(&[MS, 10 * MS, 100 * MS]),
        },
        _ => Io::WriteThenRead {
            write: match rng.below(3) {
                0 => Bulk::All { chunk: size(rng) },
                1 => Bulk::Vectored {
                    parts: rng.pick(&[2, 3, 17]),
                    size: rng.pick(&[1, 100, 1000, 5000]),
                },
                _ => Bulk::Urgent { size: size(rng) },
            },
            read: reading(rng),
        },
    }
}

fn end(rng: &mut Rng, write_first_allowed: bool) -> EndPlan {
    let send = rng.pick(&[0, 1, 1000, 20_000, 100_000, 300_000]);
    EndPlan {
        send,
        io: io(rng, write_first_allowed, send),
        ending: rng.pick(&[Ending::ShutdownFirst, Ending::Close, Ending::Drop]),
        toggle_nodelay: rng.chance(200),
        abort_after_ns: None,
        abort_by_close: false,
        user_timeout_ns: None,
        dscp: None,
    }
}

/// Waits between small reads or writes are shortened where they would
/// make a run take more than ten minutes of virtual time.
fn pace(ends: &mut [EndPlan; 2]) {
    const BUDGET_NS: u64 = 600 * SEC;
    let sends = [ends[0].send, ends[1].send];
    for (side, end) in ends.iter_mut().enumerate() {
        let (own, peer) = (sends[side], sends[1 - side]);
        let steps = |len: u64, size: usize| len.div_ceil(size as u64).max(1);
        match &mut end.io {
            Io::Duplex {
                read: Reading::Buffer { size, pause_ns },
                ..
            }
            | Io::WriteThenRead {
                read: Reading::Buffer { size, pause_ns },
                ..
            } => *pause_ns = (*pause_ns).min(BUDGET_NS / steps(peer, *size)),
            Io::Alternating { size, wait_ns, .. } => {
                *wait_ns = (*wait_ns)
                    .min(BUDGET_NS / steps(own.max(peer), *size))
                    .max(100_000);
            }
            _ => {}
        }
    }
}

impl Plan {
    fn draw(seed: u64) -> Plan {
        let mut rng = Rng(seed);
        let mut configs = [config(&mut rng), config(&mut rng)];
        // (Below IPv6's 1,280 bytes the stacks run IPv4 alone.)
        let mtu = rng.pick(&[576, 1280, 1500, 9000]);
        let faults = Faults {
            seed,
            drop: rng.pick(&[0.0, 0.002, 0.01, 0.05, 0.15]),
            duplicate: rng.pick(&[0.0, 0.005, 0.03]),
            reorder: rng.pick(&[0.0, 0.02, 0.1]),
            corrupt: rng.pick(&[0.0, 0.0, 0.001, 0.01]),
            delay_ns: rng.pick(&[0, MS, 20 * MS, 100 * MS]),
        };
        let most = if rng.chance(100) { 8 } else { 4 };
        let count = 1 + rng.below(most) as usize;
        // (With `both`, the other end of that connection aborts too.)
        let aborting = if rng.chance(125) {
            Some((
                rng.below(count as u64) as usize,
                rng.below(2) as usize,
                rng.chance(200),
            ))
        } else {
            None
        };
        let mut conns: Vec<ConnPlan> = (0..count)
            .map(|i| {
                let first = end(&mut rng, true);
                let second = end(&mut rng, !matches!(first.io, Io::WriteThenRead { .. }));
                let mut ends = [first, second];
                pace(&mut ends);
                // One end may wait for the other's end of stream before
                // closing, not both.
                if rng.chance(300) {
                    ends[rng.below(2) as usize].ending = Ending::CloseAfterEof;
                }
                if let Some((conn, side, both)) = aborting
                    && conn == i
                {
                    for side in if both { vec![0, 1] } else { vec![side] } {
                        ends[side].abort_after_ns =
                            Some(rng.pick(&[0, 10 * MS, 200 * MS, 2 * SEC]));
                        ends[side].abort_by_close = rng.chance(300);
                    }
                }
                ConnPlan {
                    a_connects: rng.chance(500),
                    v6: mtu >= 1280 && rng.chance(400),
                    by_listen: rng.chance(400),
                    ends,
                    cancelled_connect_ns: rng
                        .chance(200)
                        .then(|| rng.pick(&[MS, 20 * MS, 150 * MS, 400 * MS])),
                    to_backlog: false,
                }
            })
            .collect();
        // (Drawn last, so that a seed's other draws stay those of the
        // soak's versions before it.)
        let narrower: Vec<usize> = [552, 576, 1006, 1280, 1400, 1492, 4352, 8000]
            .into_iter()
            .filter(|&m| m < mtu)
            .collect();
        let mut narrowing = (rng.chance(250) && !narrower.is_empty()).then(|| {
            let from_ns = rng.pick(&[0, 3 * SEC, 4 * SEC, 10 * SEC, 60 * SEC]);
            Narrowing {
                mtu: rng.pick(&narrower),
                from_ns,
                until_ns: rng
                    .chance(300)
                    .then(|| from_ns + rng.pick(&[SEC, 30 * SEC, 700 * SEC])),
                old_style: rng.chance(250),
                lost: rng.pick(&[0, 0, 100, 500]),
            }
        });
        // Then (later still) the options set on a flow and the backlog
        // port.
        for e in conns.iter_mut().flat_map(|c| c.ends.iter_mut()) {
            if rng.chance(125) {
                e.user_timeout_ns = Some(rng.pick(&[600 * SEC, 1200 * SEC]));
            }
            if rng.chance(100) {
                e.dscp = Some(rng.pick(&[10, 46, 63]));
            }
        }
        let backlog_drop_ns = rng
            .chance(200)
            .then(|| rng.pick(&[SEC, 5 * SEC, 30 * SEC, 120 * SEC]));
        if backlog_drop_ns.is_some() {
            for c in &mut conns {
                c.to_backlog = rng.chance(500);
            }
        }
        // Then black-hole detection, and black holes: a narrowing path
        // that reports nothing (a firewall that filters ICMP), which a
        // stack crosses only with detection (both have it then, as users
        // who know their path would set it).
        for c in &mut configs {
            c.black_hole_detection = rng.chance(250);
        }
        if let Some(n) = &mut narrowing
            && rng.chance(250)
        {
            n.lost = BLACK_HOLE;
            for c in &mut configs {
                c.black_hole_detection = true;
            }
        }
        // Then the segmentation offload.
        let segmentation_offload = rng.chance(250);
        Plan {
            configs,
            mtu,
            faults,
            narrowing,
            conns,
            backlog_drop_ns,
            segmentation_offload,
        }
    }
}

/// What became of an end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// Both streams through and the ending done.
    Done,
    /// It aborted.
    Aborted,
    /// Its peer aborted, and it learnt so with this error.
    PeerAborted(TcpError),
}

/// Where each end of each connection stands, for the report of a hung run.
#[derive(Clone, Debug, Default)]
struct Progress {
    written: u64,
    read: u64,
    phase: &'static str,
    outcome: Option<Outcome>,
}

type Board = Rc<RefCell<Vec<[Progress; 2]>>>;

/// An end of connection `conn`: `side` 0 is the client.
struct End {
    seed: u64,
    conn: usize,
    side: usize,
    plan: EndPlan,
    /// The length of the peer's stream.
    expect: u64,
    board: Board,
}

/// The stream an end writes.
fn stream_id(conn: usize, side: usize) -> u64 {
    (conn as u64) * 2 + side as u64 + 1
}

impl End {
    fn out(&self) -> u64 {
        stream_id(self.conn, self.side)
    }

    fn inbound(&self) -> u64 {
        stream_id(self.conn, 1 - self.side)
    }

    /// The end, for failure messages.
    fn who(&self) -> String {
        format!("seed {} conn {} side {}", self.seed, self.conn, self.side)
    }

    fn progress<R>(&self, f: impl FnOnce(&mut Progress) -> R) -> R {
        f(&mut self.board.borrow_mut()[self.conn][self.side])
    }

    fn phase(&self, phase: &'static str) {
        self.progress(|p| p.phase = phase);
    }

    /// Checks bytes read at offset `at` of the peer's stream.
    fn check(&self, at: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let offset = at + i as u64;
            assert!(
                offset < self.expect,
                "{}: byte {offset} past the stream's {} bytes",
                self.who(),
                self.expect
            );
            let want = stream_byte(self.inbound(), offset);
            assert_eq!(
                b,
                want,
                "{}: byte {offset} of the peer's stream",
                self.who()
            );
        }
        self.progress(|p| p.read = at + data.len() as u64);
    }

    fn wrote(&self, total: u64) {
        self.progress(|p| p.written = total);
    }

    /// Whether the peer's stream is through.
    fn read_all(&self) -> bool {
        self.progress(|p| p.read) >= self.expect
    }

    /// The bytes of our stream from `sent`, at most `max`.
    fn next_chunk(&self, sent: u64, max: usize) -> Vec<u8> {
        let n = (self.plan.send - sent).min(max as u64) as usize;
        let mut buf = vec![0; n];
        fill(self.out(), sent, &mut buf);
        buf
    }

    fn maybe_toggle(&self, flow: &Flow, sent: u64, toggled: &mut bool) {
        if self.plan.toggle_nodelay && !*toggled && sent * 2 >= self.plan.send {
            *toggled = true;
            flow.set_nodelay(true).unwrap();
        }
    }

    /// Reads the peer's stream with `reading` until it is through.
    async fn read_stream(
        &self,
        r: &mut impl Read<Error = TcpError>,
        reading: Reading,
    ) -> Result<(), TcpError> {
        let mut got = 0;
        while got < self.expect {
            let want = (self.expect - got) as usize;
            let n = match reading {
                Reading::Buffer { size, pause_ns } => {
                    let mut buf = vec![0; size];
                    let n = r.read(&mut buf).await?;
                    self.check(got, &buf[..n]);
                    if pause_ns > 0 {
                        sleep_ns(pause_ns).await;
                    }
                    n
                }
                Reading::Exact { size } => {
                    let mut buf = vec![0; size.min(want)];
                    r.read_exact(&mut buf).await.map_err(|e| match e {
                        embedded_io_async::ReadExactError::UnexpectedEof => TcpError::Eof,
                        embedded_io_async::ReadExactError::Other(e) => e,
                    })?;
                    self.check(got, &buf);
                    buf.len()
                }
                Reading::GivenUp { size, wait_ns } => {
                    let mut buf = vec![0; size];
                    match select(r.read(&mut buf), sleep_ns(wait_ns)).await {
                        Either::Left(n) => {
                            let n = n?;
                            self.check(got, &buf[..n]);
                            n
                        }
                        Either::Right(()) => continue,
                    }
                }
            };
            if n == 0 {
                return Err(TcpError::Eof);
            }
            got += n as u64;
        }
        Ok(())
    }

    /// Writes our stream through a writing half.
    async fn write_stream(
        &self,
        w: &mut impl Write<Error = TcpError>,
        writing: Writing,
    ) -> Result<(), TcpError> {
        let mut sent = 0;
        while sent < self.plan.send {
            match writing {
                Writing::Pieces { size, gap_ns } => {
                    let buf = self.next_chunk(sent, size);
                    w.write_all(&buf).await?;
                    sent += buf.len() as u64;
                    if gap_ns > 0 {
                        sleep_ns(gap_ns).await;
                    }
                }
                Writing::GivenUp { size, wait_ns } => {
                    let buf = self.next_chunk(sent, size);
                    if let Either::Left(n) = select(w.write(&buf), sleep_ns(wait_ns)).await {
                        sent += n? as u64;
                    }
                }
            }
            self.wrote(sent);
        }
        Ok(())
    }

    /// Both streams, as the plan's `io` says.
    async fn transfer(&self, flow: &mut Flow) -> Result<(), TcpError> {
        match self.plan.io {
            Io::Duplex { write, read } => {
                if self.plan.toggle_nodelay {
                    flow.set_nodelay(true).unwrap();
                }
                let (mut r, mut w) = flow.split();
                let (a, b) = join(
                    self.read_stream(&mut r, read),
                    self.write_stream(&mut w, write),
                )
                .await;
                a.and(b)
            }
            Io::Alternating {
                in_place_write,
                in_place_read,
                size,
                wait_ns,
            } => {
                self.alternate(flow, in_place_write, in_place_read, size, wait_ns)
                    .await
            }
            Io::WriteThenRead { write, read } => {
                self.write_first(flow, write).await?;
                self.read_stream(flow, read).await
            }
        }
    }

    async fn alternate(
        &self,
        flow: &mut Flow,
        in_place_write: bool,
        in_place_read: bool,
        size: usize,
        wait_ns: u64,
    ) -> Result<(), TcpError> {
        let (mut sent, mut got) = (0u64, 0u64);
        let mut toggled = false;
        while sent < self.plan.send || got < self.expect {
            if sent < self.plan.send {
                self.maybe_toggle(flow, sent, &mut toggled);
                let n = if in_place_write {
                    let (out, total) = (self.out(), self.plan.send);
                    timeout(
                        wait_ns,
                        flow.write_with(|room| {
                            let n = room.len().min(size).min((total - sent) as usize);
                            fill(out, sent, &mut room[..n]);
                            (n, n)
                        }),
                    )
                    .await
                } else {
                    let buf = self.next_chunk(sent, size);
                    timeout(wait_ns, flow.write(&buf)).await
                };
                if let Ok(n) = n {
                    sent += n? as u64;
                    self.wrote(sent);
                }
            }
            if got < self.expect {
                let read = if in_place_read {
                    let take = |run: &[u8]| {
                        let n = run.len().min(size);
                        (n, run[..n].to_vec())
                    };
                    timeout(wait_ns, flow.read_with(take)).await
                } else {
                    let mut buf = vec![0; size];
                    let read = timeout(wait_ns, flow.read(&mut buf)).await;
                    read.map(|r| {
                        r.map(|n| {
                            buf.truncate(n);
                            buf
                        })
                    })
                };
                if let Ok(data) = read {
                    let data = data?;
                    if data.is_empty() {
                        return Err(TcpError::Eof);
                    }
                    self.check(got, &data);
                    got += data.len() as u64;
                }
            }
        }
        Ok(())
    }

    async fn write_first(&self, flow: &mut Flow, bulk: Bulk) -> Result<(), TcpError> {
        let mut sent = 0;
        let mut toggled = false;
        let mut urgent = false;
        while sent < self.plan.send {
            self.maybe_toggle(flow, sent, &mut toggled);
            match bulk {
                Bulk::All { chunk } => {
                    let buf = self.next_chunk(sent, chunk);
                    flow.write_all(&buf).await?;
                    sent += buf.len() as u64;
                }
                Bulk::Vectored { parts, size } => {
                    let mut bufs = Vec::new();
                    let mut at = sent;
                    for _ in 0..parts {
                        let buf = self.next_chunk(at, size);
                        at += buf.len() as u64;
                        bufs.push(buf);
                    }
                    let slices: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
                    flow.writev(&slices).await?;
                    sent = at;
                }
                Bulk::Urgent { size } => {
                    let buf = self.next_chunk(sent, size);
                    if urgent {
                        flow.write_urgent(&buf).await?;
                    } else {
                        flow.write_all(&buf).await?;
                    }
                    urgent = !urgent;
                    sent += buf.len() as u64;
                }
            }
            self.wrote(sent);
        }
        Ok(())
    }

    /// Waits for the peer's end of stream.
    async fn eof(&self, flow: &mut Flow) -> Result<(), TcpError> {
        let mut byte = [0u8; 1];
        match flow.read(&mut byte).await? {
            0 => Ok(()),
            _ => panic!("{}: a byte past the peer's stream", self.who()),
        }
    }

    async fn finish(&self, mut flow: Flow) -> Result<(), TcpError> {
        match self.plan.ending {
            Ending::ShutdownFirst => {
                flow.shutdown_write().await?;
                self.phase("shut down, awaiting the end of stream");
                self.eof(&mut flow).await?;
                flow.close().await
            }
            Ending::CloseAfterEof => {
                self.phase("awaiting the end of stream");
                self.eof(&mut flow).await?;
                flow.close().await
            }
            Ending::Close => flow.close().await,
            Ending::Drop => {
                drop(flow);
                Ok(())
            }
        }
    }

    /// An operation failed with `e`: its peer's abort told, if the peer
    /// aborts (a peer that closed without reading all, and had nothing
    /// unread, ended its stream early: `Eof`); a fault otherwise.
    fn learnt(&self, e: TcpError, peer_aborts: bool) -> Outcome {
        match e {
            TcpError::Reset | TcpError::TimedOut | TcpError::Eof if peer_aborts => {
                Outcome::PeerAborted(e)
            }
            _ => panic!(
                "{}: {e:?} ({:?})",
                self.who(),
                self.board.borrow()[self.conn][self.side]
            ),
        }
    }

    /// The whole life of the end, from an open flow.
    async fn run(self, mut flow: Flow, peer_aborts: bool) {
        if peer_aborts {
            flow.set_keepalive(Some(WATCHFUL)).unwrap();
        }
        if let Some(ns) = self.plan.user_timeout_ns {
            flow.set_user_timeout(Some(ns)).unwrap();
        }
        if let Some(dscp) = self.plan.dscp {
            flow.set_dscp(dscp).unwrap();
        }
        self.phase("transfer");
        let outcome = match self.plan.abort_after_ns {
            Some(after) => {
                let transfer = self.transfer(&mut flow);
                let early = match select(transfer, sleep_ns(after)).await {
                    Either::Left(Err(e)) => Some(e),
                    _ => None,
                };
                match early {
                    // Its peer aborted first.
                    Some(e) => self.learnt(e, peer_aborts),
                    None => {
                        // (A peer that aborted first may have reset the
                        // connection meanwhile.)
                        let r = if self.plan.abort_by_close {
                            flow.close().await
                        } else {
                            flow.abort()
                        };
                        match r {
                            Ok(()) => Outcome::Aborted,
                            Err(e) if peer_aborts => Outcome::PeerAborted(e),
                            Err(e) => panic!("{}: {e:?}", self.who()),
                        }
                    }
                }
            }
            None => {
                let r = match self.transfer(&mut flow).await {
                    Ok(()) => {
                        assert!(self.read_all());
                        self.phase("ending");
                        self.finish(flow).await
                    }
                    Err(e) => Err(e),
                };
                match r {
                    Ok(()) => Outcome::Done,
                    Err(e) => self.learnt(e, peer_aborts),
                }
            }
        };
        self.progress(|p| {
            p.phase = "over";
            p.outcome = Some(outcome);
        });
    }
}

/// The port both stacks listen on for connects that are given up.
const DECOY_PORT: u16 = 9000;

/// The decoy port's handler: reads to the end of the stream (or an error:
/// a connect given up may be reset), then closes. Keep-alive ends it if
/// the client's end vanished without a word reaching it.
async fn decoy(mut flow: Flow) {
    flow.set_keepalive(Some(WATCHFUL)).unwrap();
    let mut buf = [0u8; 64];
    if let Ok(n) = flow.read(&mut buf).await {
        assert_eq!(n, 0, "no client writes to the decoy");
    }
    let _ = flow.close().await;
}

/// The port whose listeners never accept (see [`Plan::backlog_drop_ns`]).
const BACKLOG_PORT: u16 = 9001;

/// What became of a connect to the backlog port.
#[derive(Clone, Copy, Debug)]
enum Backlogged {
    /// Refused: the listener was gone, or dropped with the connection
    /// half-open.
    Refused,
    /// Connected into the backlog, then reset when the listener went
    /// (or, that RST lost, when keep-alive reached the peer).
    Reset,
    /// Connected into the backlog, then timed out: the keep-alive's six
    /// probes in a row went unanswered (all lost, or their answers),
    /// before the listener went or after (its RST lost too).
    TimedOut,
    /// The connect failed (every SYN lost, or the neighbour unresolved).
    Failed,
}

/// Connects to the backlog port and waits for what must follow: a
/// connection queued for a listener that is dropped without accepting it
/// must end with a reset, never with an end of stream or data, nor wait
/// for ever.
async fn backlog_connect(stack: &'static Stack, dst: IpAddr) -> Backlogged {
    match stack.tcp().connect(dst, BACKLOG_PORT).await {
        Ok(mut flow) => {
            flow.set_keepalive(Some(WATCHFUL)).unwrap();
            let mut buf = [0u8; 16];
            match flow.read(&mut buf).await {
                Err(TcpError::Reset) => Backlogged::Reset,
                Err(TcpError::TimedOut) => Backlogged::TimedOut,
                other => panic!("a connection in a dropped backlog read {other:?}"),
            }
        }
        Err(TcpError::Refused | TcpError::Reset) => Backlogged::Refused,
        Err(TcpError::TimedOut | TcpError::HostUnreachable) => Backlogged::Failed,
        Err(e) => panic!("connect to the backlog port: {e:?}"),
    }
}

/// Connects, trying again when a connect fails (every SYN or SYN-ACK
/// lost, or the neighbour not resolved over a lossy link), as applications
/// do.
async fn connect(stack: &'static Stack, dst: IpAddr, port: u16) -> Flow {
    let mut last = None;
    for _ in 0..5 {
        match stack.tcp().connect(dst, port).await {
            Ok(flow) => return flow,
            Err(e @ (TcpError::TimedOut | TcpError::HostUnreachable)) => last = Some(e),
            Err(e) => panic!("connect to {dst} port {port}: {e:?}"),
        }
    }
    panic!("connect to {dst} port {port}: {last:?} five times")
}

fn run(seed: u64, show: bool) -> Tally {
    let plan = Plan::draw(seed);
    if show {
        eprintln!("seed {seed}: {plan:#?}");
    }
    let sim: &'static Sim = leak(Sim::new());
    let clock = sim.clock;
    let config = LinkConfig {
        mtu: plan.mtu,
        segmentation_offload: plan.segmentation_offload,
        ..LinkConfig::default()
    }
    .with_faults(plan.faults);
    let (na, nb) = link(config);
    let path = Rc::new(PathState {
        narrowing: plan.narrowing,
        clock,
        rng: RefCell::new(Rng(seed ^ 0x9a7e)),
        reports: Cell::new((0, 0)),
    });
    let body_path = path.clone();
    let board: Board = Rc::new(RefCell::new(vec![Default::default(); plan.conns.len()]));
    let body_plan = plan.clone();
    let body_board = board.clone();
    // Decoy connects given up, and those that were quicker.
    let given_up = Rc::new(Cell::new((0u64, 0u64)));
    let body_given_up = given_up.clone();
    // What became of connects to the backlog port.
    let backlogged: Rc<RefCell<Vec<Backlogged>>> = Rc::default();
    let body_backlogged = backlogged.clone();
    // Segment sizes lowered by black-hole detection, both stacks.
    let decreases = Rc::new(Cell::new(0u64));
    let body_decreases = decreases.clone();
    let stranded = Rc::new(Cell::new(false));
    let body_stranded = stranded.clone();
    let result = sim.ex.block_on(async move {
        let (plan, board, given_up, backlogged) =
            (body_plan, body_board, body_given_up, body_backlogged);
        let mut stacks = Vec::new();
        for (i, inner) in [na, nb].into_iter().enumerate() {
            let net = Path::new(inner, body_path.clone());
            let addressing = Addressing {
                ipv4_only: plan.mtu < 1280,
                ..Addressing::both(HOSTS[i].0, HOSTS[i].1)
            };
            let config = plan.configs[i].clone();
            stacks.push(stack_with(clock, net, addressing, i as u8 + 1, config).await);
        }
        let [a, b] = [stacks[0], stacks[1]];
        // Addresses settle (duplicate address detection) first.
        sleep_ns(3 * SEC).await;
        let spawner = Spawner::for_current_executor().await;
        let ends_of = |i: usize, side: usize| {
            let c = &plan.conns[i];
            End {
                seed,
                conn: i,
                side,
                plan: c.ends[side],
                expect: c.ends[1 - side].send,
                board: board.clone(),
            }
        };
        let peer_aborts =
            |i: usize, side: usize| plan.conns[i].ends[1 - side].abort_after_ns.is_some();
        // Servers first: `listen` handlers and listeners.
        let mut listeners = Vec::new();
        let mut listening = [0usize; 2];
        for (i, c) in plan.conns.iter().enumerate() {
            let server = c.server();
            let port = 7000 + i as u16;
            if c.by_listen {
                listening[server] += 1;
                let end = Rc::new(RefCell::new(Some(ends_of(i, 1))));
                let aborts = peer_aborts(i, 1);
                stacks[server]
                    .tcp()
                    .listen(port, move |flow| {
                        let end = end.borrow_mut().take().expect("one connection per port");
                        end.run(flow, aborts)
                    })
                    .await
                    .unwrap();
            } else {
                listeners.push((i, stacks[server].tcp().bind(port).unwrap()));
            }
        }
        // The decoy port of both stacks, for the connects given up.
        for (stack, count) in stacks.iter().zip(&mut listening) {
            stack.tcp().listen(DECOY_PORT, decoy).await.unwrap();
            *count += 1;
        }
        let backlog_listeners: Vec<_> = match plan.backlog_drop_ns {
            Some(_) => stacks
                .iter()
                .map(|s| s.tcp().bind(BACKLOG_PORT).unwrap())
                .collect(),
            None => Vec::new(),
        };
        let baseline = sim.ex.live_tasks();
        if let Some(ns) = plan.backlog_drop_ns {
            spawner.spawn(async move {
                sleep_ns(ns).await;
                drop(backlog_listeners);
            });
        }
        for (i, listener) in listeners {
            let end = ends_of(i, 1);
            let aborts = peer_aborts(i, 1);
            spawner.spawn(async move {
                // A client that aborted may have done so before this
                // server had the connection: then no `accept` returns it,
                // and the server gives up ten minutes later.
                let client_aborted = async {
                    while end.board.borrow()[i][0].outcome != Some(Outcome::Aborted) {
                        sleep_ns(100 * MS).await;
                    }
                    sleep_ns(600 * SEC).await;
                };
                let accepted = select(listener.accept(), client_aborted).await;
                drop(listener);
                if let Either::Left(flow) = accepted {
                    end.run(flow.unwrap(), aborts).await;
                }
            });
        }
        for (i, c) in plan.conns.iter().enumerate() {
            let client = stacks[1 - c.server()];
            let (addr4, addr6) = HOSTS[c.server()];
            let dst = if c.v6 { v6(addr6) } else { v4(addr4) };
            let end = ends_of(i, 0);
            let aborts = peer_aborts(i, 0);
            let cancelled = c.cancelled_connect_ns;
            let given_up = given_up.clone();
            let to_backlog = c.to_backlog;
            let backlogged = backlogged.clone();
            spawner.spawn(async move {
                if to_backlog {
                    let outcome = backlog_connect(client, dst).await;
                    backlogged.borrow_mut().push(outcome);
                }
                if let Some(ns) = cancelled {
                    // Quicker than its time: the flow is dropped at once.
                    let quick = timeout(ns, client.tcp().connect(dst, DECOY_PORT)).await;
                    let (up, quicker) = given_up.get();
                    given_up.set(match quick {
                        Ok(_) => (up, quicker + 1),
                        Err(_) => (up + 1, quicker),
                    });
                }
                let flow = connect(client, dst, 7000 + i as u16).await;
                end.run(flow, aborts).await;
            });
        }
        let over = || {
            board
                .borrow()
                .iter()
                .all(|[client, server]| client.outcome.is_some() && settled(client, server))
        };
        let finished = timeout(RUN_LIMIT_NS, async {
            while !over() {
                sleep_ns(100 * MS).await;
            }
        })
        .await;
        // On the worst paths a connection's retransmissions can run out
        // (an orphan's tell nobody); its peer, if it only reads, then
        // waits for ever, as with any TCP. Such a run is stranded, not
        // hung: every end still waiting has a peer that finished, on a
        // stack where a connection gave up (`aborted_on_timeout`). Nothing
        // more is checked of it.
        let gave_up = [a, b].map(|s| s.direct_tcp().stats().aborted_on_timeout > 0);
        let waiting_on_one_gone = |(i, ends): (usize, &[Progress; 2])| {
            let [client, server] = ends;
            let host = [1 - plan.conns[i].server(), plan.conns[i].server()];
            let stranded = |end: usize| {
                ends[1 - end].outcome == Some(Outcome::Done)
                    && ends[end].outcome.is_none()
                    && gave_up[host[1 - end]]
            };
            (client.outcome.is_some() && settled(client, server)) || stranded(0) || stranded(1)
        };
        if finished.is_err() && board.borrow().iter().enumerate().all(waiting_on_one_gone) {
            body_stranded.set(true);
            return;
        }
        assert!(
            finished.is_ok(),
            "seed {seed}: hung: {:#?}\nA: {:?}\n{:?}\nB: {:?}\n{:?}",
            board.borrow(),
            a.direct_tcp().stats(),
            a.direct_tcp().occupancy(),
            b.direct_tcp().stats(),
            b.direct_tcp().occupancy(),
        );
        // Closes, TIME-WAIT (2 MSL) and orphans' retries run out.
        let quiet = timeout(RUN_LIMIT_NS, async {
            loop {
                let empty = [a, b].iter().all(|s| {
                    let o = s.direct_tcp().occupancy();
                    o.connections == 0 && o.time_wait == 0 && o.table == 0
                });
                if empty && sim.ex.live_tasks() <= baseline {
                    break;
                }
                sleep_ns(SEC).await;
            }
        })
        .await;
        let occupancy = [a.direct_tcp().occupancy(), b.direct_tcp().occupancy()];
        assert!(
            quiet.is_ok(),
            "seed {seed}: left behind: {occupancy:#?}, {} tasks (had {baseline})",
            sim.ex.live_tasks()
        );
        // The `listen` loops go on; listeners of `accept` are gone.
        assert_eq!(occupancy[0].listeners, listening[0], "seed {seed}");
        assert_eq!(occupancy[1].listeners, listening[1], "seed {seed}");
        assert_eq!(sim.ex.live_tasks(), baseline, "seed {seed}");
        body_decreases.set(
            a.direct_tcp().stats().black_hole_decreases
                + b.direct_tcp().stats().black_hole_decreases,
        );
    });
    assert!(result.is_ok(), "seed {seed}: the executor stopped");
    let mut tally = Tally {
        runs: 1,
        connects_given_up: given_up.get().0,
        connects_quicker: given_up.get().1,
        narrowed: u64::from(plan.narrowing.is_some()),
        offloaded: u64::from(plan.segmentation_offload),
        black_holes: u64::from(plan.narrowing.is_some_and(|n| n.lost == BLACK_HOLE)),
        black_hole_decreases: decreases.get(),
        reports: path.reports.get().0,
        reports_lost: path.reports.get().1,
        backlog_runs: u64::from(plan.backlog_drop_ns.is_some()),
        ..Tally::default()
    };
    assert_eq!(
        backlogged.borrow().len(),
        plan.conns.iter().filter(|c| c.to_backlog).count(),
        "seed {seed}"
    );
    for b in backlogged.borrow().iter() {
        tally.backlogged[*b as usize] += 1;
    }
    for (i, ends) in board.borrow().iter().enumerate() {
        let aborted = plan.conns[i]
            .ends
            .iter()
            .any(|e| e.abort_after_ns.is_some());
        tally.connections += 1;
        for (side, e) in ends.iter().enumerate() {
            tally.bytes += e.read;
            match e.outcome {
                Some(Outcome::Done) => tally.done += 1,
                Some(Outcome::Aborted) => tally.aborted += 1,
                Some(Outcome::PeerAborted(_)) => {
                    assert!(aborted);
                    tally.peers_told += 1;
                }
                None if side == 1 && settled(&ends[0], e) => tally.never_accepted += 1,
                None if stranded.get() => tally.stranded += 1,
                None => panic!("seed {seed}: conn {i} side {side} never ended"),
            }
        }
    }
    if show {
        eprintln!("seed {seed}: {:?}", board.borrow());
    }
    tally
}

/// Whether the server's end is over: it has an outcome, or its client
/// aborted before the server had the connection (the handshake's last ACK
/// lost, the connection reset in SYN-RECEIVED: no `accept` returns it, as
/// in any TCP).
fn settled(client: &Progress, server: &Progress) -> bool {
    server.outcome.is_some()
        || (server.phase.is_empty() && client.outcome == Some(Outcome::Aborted))
}

/// What a number of runs did.
#[derive(Debug, Default)]
struct Tally {
    runs: u64,
    connections: u64,
    /// Bytes read, both directions.
    bytes: u64,
    /// Ends that finished both streams and their ending.
    done: u64,
    aborted: u64,
    /// Ends whose peer aborted that failed with `Reset` or `TimedOut`.
    peers_told: u64,
    /// Servers whose client aborted before they had the connection.
    never_accepted: u64,
    /// Ends left waiting for ever by a peer whose connection gave up (the
    /// run stranded: see the check after the run).
    stranded: u64,
    /// Connects to the decoy port given up before they completed.
    connects_given_up: u64,
    /// Connects to the decoy port that completed before their time.
    connects_quicker: u64,
    /// Runs whose path narrowed.
    narrowed: u64,
    /// Runs whose link offered segmentation offload.
    offloaded: u64,
    /// The router's reports of packets too big, sent and lost.
    reports: u64,
    reports_lost: u64,
    /// Runs whose narrowed path reported nothing.
    black_holes: u64,
    /// Segment sizes lowered by black-hole detection, both stacks.
    black_hole_decreases: u64,
    /// Runs with a backlog port.
    backlog_runs: u64,
    /// Connects to the backlog port refused, reset, timed out, failed
    /// ([`Backlogged`]'s order).
    backlogged: [u64; 4],
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.runs += other.runs;
        self.connections += other.connections;
        self.bytes += other.bytes;
        self.done += other.done;
        self.aborted += other.aborted;
        self.peers_told += other.peers_told;
        self.never_accepted += other.never_accepted;
        self.stranded += other.stranded;
        self.connects_given_up += other.connects_given_up;
        self.connects_quicker += other.connects_quicker;
        self.narrowed += other.narrowed;
        self.offloaded += other.offloaded;
        self.reports += other.reports;
        self.reports_lost += other.reports_lost;
        self.black_holes += other.black_holes;
        self.black_hole_decreases += other.black_hole_decreases;
        self.backlog_runs += other.backlog_runs;
        for (n, m) in self.backlogged.iter_mut().zip(other.backlogged) {
            *n += m;
        }
    }
}

#[test]
fn drawn_applications_over_drawn_wires_deliver_intact_and_leave_nothing() {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let count = var("MIRAGE_TCP_STACK_SOAK", 16);
    let first = var("MIRAGE_TCP_STACK_SOAK_FIRST", 1);
    let show = std::env::var_os("MIRAGE_TCP_STACK_SOAK_SHOW").is_some();
    let mut tally = Tally::default();
    for seed in first..first + count {
        tally.add(run(seed, show));
    }
    eprintln!("seeds {first} to {}: {tally:?}", first + count - 1);
    assert_eq!(tally.runs, count);
}
