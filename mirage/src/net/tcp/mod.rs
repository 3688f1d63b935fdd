//! TCP (RFC 9293 and the RFCs it points to), as a state machine without
//! I/O: the IP layer hands it segments and gives it a way to send them; it
//! never touches a device, a clock or an executor.
//!
//! `RFC9293.md`, next to this module's source, lists every requirement of
//! RFC 9293's appendix B and of the RFCs it points to, with where the
//! engine meets it, or that it does not.
//!
//! # The interface with the stack
//!
//! A [`TcpEngine`] holds every connection and listener. The stack's runner
//! calls, all with `&mut self` and the current time in nanoseconds:
//!
//! - [`TcpEngine::process`]`(now, src, dst, segment, tx)` for each TCP segment
//!   the IP layer received (`src` the sender's address, `dst` ours;
//!   `segment` the whole TCP segment). The checksum is verified here;
//!   malformed segments are dropped and counted in [`Stats`]. Replies that
//!   need no connection state (RST to a closed port, SYN cookies, TIME-WAIT
//!   ACKs) go out through `tx` at once; everything a connection sends waits
//!   for `dispatch`, so that the ACKs of a batch of received segments
//!   coalesce.
//! - [`TcpEngine::dispatch`]`(now, tx)` after each batch of received segments,
//!   after application calls, and when [`TcpEngine::next_deadline`] is reached:
//!   it handles due timers and sends everything pending (SYNs, data within
//!   the congestion and peer windows, retransmissions, FINs, ACKs, probes,
//!   RSTs of aborted connections). It stops when `tx` refuses a segment;
//!   nothing is lost, the rest goes on the next call.
//! - [`TcpEngine::icmp_error`]`(now, error)` for each ICMP destination
//!   unreachable or packet too big the ICMP layers received (the quoted
//!   segment checked against a connection's numbers, RFC 5927): a smaller
//!   path MTU lowers the segment size and resends the flight; an
//!   unreachable destination fails a connect at once, or is remembered as
//!   a soft error (RFC 1122 section 4.2.3.9). A resend waits for
//!   `dispatch`.
//! - [`TcpEngine::next_deadline`] tells when `dispatch` must run next at the
//!   latest (`None`: only when something happens; `Some(0)`: segments are
//!   waiting to be sent now, e.g. after `dispatch` returned `false` because
//!   `tx` refused one: wait for the device to have room first).
//!
//! [`Transmit`] is the IP layer as TCP sees it: `mss_hint(dst)` is the MSS
//! to announce toward `dst` (the path MTU less the IP and TCP fixed
//! headers: 1460 for a 1500-byte Ethernet MTU over IPv4), and
//! `send(src, dst, len, fill)` asks for room for a segment of exactly
//! `len` bytes inside the device's frame; `fill` writes the whole segment
//! (header, options, payload copied straight from the send buffer,
//! checksum). It returns `false`, without calling `fill`, if the device
//! cannot take the frame now.
//!
//! # The application's interface
//!
//! Shapes, where they differ from a plain reading of the names: `listen`
//! binds the port on every local address; `accept` returns
//! `Result<Option<ConnId>, TcpError>` (`Err(InvalidHandle)` for a closed
//! listener); `recv_with` and `send_with` closures return `(bytes
//! consumed or written, a value handed back)`, as smoltcp's do; `dispatch`
//! returns whether everything pending went out.
//!
//! By handle, as smoltcp's sockets: [`TcpEngine::listen`] (an ephemeral port for
//! port 0, [`TcpEngine::listener_port`]) and [`TcpEngine::accept`],
//! [`TcpEngine::connect`] (an ephemeral port when the local port is 0, RFC 6056
//! algorithm 3), [`TcpEngine::recv`] / [`TcpEngine::recv_with`] (zero-copy peek and
//! consume), [`TcpEngine::send`] / [`TcpEngine::send_with`], [`TcpEngine::shutdown_write`],
//! [`TcpEngine::close`] (orderly; the connection finishes in the background and
//! the handle is released), [`TcpEngine::abort`] (RST), queries
//! ([`TcpEngine::state`], [`TcpEngine::info`]), options ([`TcpEngine::set_nodelay`],
//! [`TcpEngine::set_keepalive`], [`TcpEngine::set_congestion`]) and wakers ([`TcpEngine::register_recv_waker`],
//! [`TcpEngine::register_send_waker`], [`TcpEngine::register_state_waker`],
//! [`TcpEngine::register_accept_waker`]), woken from `process` and `dispatch`.
//! Handles carry a generation: a handle to a reclaimed connection is
//! refused (`InvalidHandle`) even if its slot was reused.
//!
//! # Bounds
//!
//! Memory is bounded whatever peers do: at most `max_connections`
//! connections, each with fixed send and receive rings (out-of-order data
//! lives in the receive ring, its ranges bounded); listener backlogs
//! bounded, SYN cookies beyond; TIME-WAIT records small and bounded; ICMP
//! soft errors kept for at most 64 connections; challenge ACKs
//! rate-limited (per connection; TIME-WAIT records' ACKs share one
//! budget); orphaned connections time out, and give their slots up to
//! new connections at `max_connections`.
//!
//! # Modules
//!
//! `state` (states, segment arrival), `output` (segment generation),
//! `congestion` (NewReno, CUBIC), `hystart` (HyStart++), `prr`
//! (Proportional Rate Reduction in recovery), `ecn`, `sack` (scoreboard,
//! SACK blocks), `timers` (RTO estimator, timer queue, timer handling),
//! `ring` and `assembler` (buffers), `listener`, `timewait`, `secret` (ISNs,
//! cookies), `conn` (the control block and application operations),
//! `config`.

mod assembler;
mod config;
mod congestion;
mod conn;
mod device;
mod ecn;
mod hystart;
mod listener;
mod output;
mod prr;
mod ring;
mod sack;
mod secret;
mod state;
mod timers;
mod timewait;

#[cfg(test)]
mod tests;

pub use config::{Config, CongestionAlgorithm, Ecn, KeepAlive};
pub use device::{
    DEFAULT_BACKLOG, DirectFlow, DirectListener, DirectReader, DirectTcp, DirectWriter, Flow, Tcp,
    TcpListener, WRITE_WITH_ROOM,
};
pub use state::State;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use conn::{Conn, Owner};
use core::fmt;
use core::hint::cold_path;
use core::net::IpAddr;
use core::task::{Poll, Waker};
use hashbrown::HashTable;
use listener::{COOKIE_ACCEPT_NS, Listener};
use secret::{COOKIE_MSS, FourTuple, Secrets, cookie_mss_index};
use state::{Ctx, RateLimit};
use timers::TimerQueue;
use timewait::{TimeWaitTable, TwEntry};

use crate::net::ip::{ECT_0, IcmpError, IcmpErrorKind, MAX_DSCP};
use crate::net::wire::checksum::{self, PseudoHeader};
use crate::net::wire::tcp as wire_tcp;
use crate::net::wire::tcp::{Flags, Options, Packet, Quoted, Repr, SeqNumber};

/// The IP layer as TCP sees it (see the module documentation).
pub trait Transmit {
    /// The MSS to announce toward `dst`: the MTU of the link it is reached
    /// through less the IP and TCP fixed headers (what we can receive;
    /// RFC 9293 section 3.7.1).
    fn mss_hint(&self, dst: IpAddr) -> usize;

    /// [`Transmit::mss_hint`] for the path to `dst` as the IP layer knows
    /// it (lower while a router's report of a smaller path MTU lasts):
    /// what we may send. Default: the link's.
    fn path_mss_hint(&self, dst: IpAddr) -> usize {
        self.mss_hint(dst)
    }

    /// Send a segment of exactly `segment_len` bytes from `src` to `dst`;
    /// `fill` writes it (checksum included) into the device's frame.
    /// Returns `false`, without calling `fill`, if the device cannot take
    /// it now.
    fn send(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        segment_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool;

    /// [`Transmit::send`] with `tos` as the IP header's type of service
    /// (IPv4) or traffic class (IPv6) byte: the DiffServ codepoint in the
    /// high 6 bits (`dscp << 2`, RFC 2474), the ECN field in the low 2
    /// (RFC 3168: [`crate::net::ip::ECT_0`] on the data segments of a
    /// connection that negotiated ECN, else 0). The engine sends every
    /// segment through this. The default ignores it (for transmitters
    /// without an IP header: tests, benchmarks);
    /// [`crate::net::tcp::DirectTcp`]'s sends it.
    #[inline(always)]
    fn send_tos(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        tos: u8,
        segment_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        let _ = tos;
        self.send(src, dst, segment_len, fill)
    }

    /// The longest segment (TCP header included) that
    /// [`Transmit::send_segmented`] takes towards `dst` now, through the
    /// device's segmentation offload
    /// ([`crate::net::ip::Ip::segmentation_offload`]); 0 (the default):
    /// none, every segment fits the MSS. Asked once per connection at
    /// every dispatch turn.
    fn segmentation_offload(&self, dst: IpAddr) -> usize {
        let _ = dst;
        0
    }

    /// [`Transmit::send_tos`] for a segment of several MSS of payload,
    /// which the device's segmentation offload sends as segments of `mss`
    /// payload bytes. Sent only towards a `dst` whose
    /// [`Transmit::segmentation_offload`] took its length in this dispatch
    /// turn. The default sends it as it is (for transmitters without a
    /// device: tests, benchmarks).
    fn send_segmented(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        tos: u8,
        segment_len: usize,
        mss: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        let _ = mss;
        self.send_tos(src, dst, tos, segment_len, fill)
    }

    /// Whether `addr` is one of this host's own unicast addresses. The IP
    /// layer also delivers datagrams sent to broadcast addresses it alone
    /// knows (a subnet's); a segment for no connection sent to anything
    /// else is silently discarded: no connection is opened from it and no
    /// RST answers it (RFC 9293 section 3.9.1.1, MUST-57). Asked only for
    /// segments that match no connection. The default takes every address
    /// (the limited broadcast and multicast addresses are refused anyway).
    fn is_local_unicast(&self, addr: IpAddr) -> bool {
        let _ = addr;
        true
    }

    /// Retransmissions to `dst`, or probes it left unanswered, reached R1
    /// ([`Config::r1_retries`]): the
    /// IP layer's negative advice ([`crate::net::ip::Ip::negative_advice`],
    /// RFC 9293 section 3.8.3). The default ignores it.
    fn negative_advice(&mut self, dst: IpAddr) {
        let _ = dst;
    }
}

/// An address and port.
pub type Endpoint = (IpAddr, u16);

/// A connection handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// A listener handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId {
    index: u32,
    generation: u32,
}

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpError {
    /// The handle is unknown, stale, or was given up by `close`.
    InvalidHandle,
    /// `recv`: the peer closed its direction and everything was read.
    Eof,
    /// `send` after `shutdown_write`/`close`, or on a finished connection;
    /// `recv` on a connection that closed without error or FIN.
    Closed,
    /// The peer reset the connection.
    Reset,
    /// The peer refused the connection (RST in reply to our SYN).
    Refused,
    /// Retransmissions or keep-alive probes went unanswered.
    TimedOut,
    /// The local port (or 4-tuple) is in use.
    AddrInUse,
    /// No ephemeral port is free toward that destination.
    NoPortAvailable,
    /// `max_connections` reached.
    TooManyConnections,
    /// Addresses of different families, unspecified or multicast, or a
    /// zero port.
    Unaddressable,
    /// An ICMP destination unreachable (host, or administratively
    /// prohibited) answered our SYN, or was the last one received before
    /// the connection timed out (RFC 1122 section 4.2.3.9). (Like
    /// `EHOSTUNREACH`: `TimedOut` would hide what the network said.)
    HostUnreachable,
    /// An ICMP network unreachable answered our SYN, or was the last one
    /// received before the connection timed out (`ENETUNREACH`).
    NetworkUnreachable,
    /// The host refused the operation (`EACCES`, `EPERM`: on the socket
    /// stack, a port below 1024 without the privilege to bind it, or a
    /// firewall rule refusing a connect).
    PermissionDenied,
    /// An argument out of its range (`EINVAL`): a DiffServ codepoint
    /// above 63 ([`Flow::set_dscp`]).
    InvalidArgument,
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpError::InvalidHandle => "invalid connection handle",
            TcpError::Eof => "end of stream",
            TcpError::Closed => "connection closed",
            TcpError::Reset => "connection reset by peer",
            TcpError::Refused => "connection refused",
            TcpError::TimedOut => "connection timed out",
            TcpError::AddrInUse => "address in use",
            TcpError::NoPortAvailable => "no ephemeral port available",
            TcpError::TooManyConnections => "too many connections",
            TcpError::Unaddressable => "unaddressable endpoint",
            TcpError::HostUnreachable => "host unreachable",
            TcpError::NetworkUnreachable => "network unreachable",
            TcpError::PermissionDenied => "permission denied",
            TcpError::InvalidArgument => "invalid argument",
        })
    }
}

impl core::error::Error for TcpError {}

/// Counters over the whole TCP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Segments handed to `process` (one the peer's device passed whole
    /// through a receive offload counts once).
    pub segments_in: u64,
    /// Segments sent (one through the device's segmentation offload
    /// counts once, whatever the pieces it is cut into).
    pub segments_out: u64,
    /// Segments resent (timeouts, fast retransmits, recovery).
    pub retransmitted: u64,
    /// Dropped: too short, bad lengths or options, zero ports, bad
    /// addresses.
    pub dropped_malformed: u64,
    /// Dropped: bad checksum.
    pub dropped_checksum: u64,
    /// Dropped: SYN with FIN or RST.
    pub dropped_bad_flags: u64,
    /// Dropped: outside the receive window (answered with an ACK).
    pub dropped_out_of_window: u64,
    /// Dropped: PAWS (old timestamp) or a missing timestamp.
    pub dropped_paws: u64,
    /// Dropped: a SYN in a synchronized state.
    pub dropped_syn_in_window: u64,
    /// Dropped: no ACK bit in a synchronized state.
    pub dropped_no_ack: u64,
    /// Dropped: acknowledgment number outside what was sent (RFC 5961).
    pub dropped_bad_ack: u64,
    /// Dropped: data after the peer's FIN.
    pub dropped_after_fin: u64,
    /// Out-of-order segments refused for lack of assembler ranges.
    pub dropped_assembler_full: u64,
    /// Bytes cut off segments beyond the receive window.
    pub bytes_trimmed: u64,
    /// Segments received out of order.
    pub out_of_order: u64,
    /// Segments for no connection and no listener (answered with RST).
    pub no_connection: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limit.
    pub challenge_acks_suppressed: u64,
    /// Duplicate SYNs in SYN-RECEIVED left unanswered: our SYN-ACK went
    /// again less than half a second before (a SYN flood's spoofed
    /// copies would each draw one).
    pub dup_syns_unanswered: u64,
    /// RSTs accepted.
    pub resets_received: u64,
    /// RSTs sent.
    pub resets_sent: u64,
    /// SYN cookies sent.
    pub syn_cookies_sent: u64,
    /// Connections opened from a valid SYN cookie.
    pub syn_cookies_accepted: u64,
    /// SYNs dropped because a backlog was full (cookies off).
    pub listen_overflows: u64,
    /// Fast retransmits (entries into loss recovery).
    pub fast_retransmits: u64,
    /// Of those, recoveries driven by the SACK scoreboard.
    pub sack_recoveries: u64,
    /// ACKs whose SACK blocks added to a scoreboard.
    pub sack_blocks_used: u64,
    /// Duplicate data received and reported to the peer in a D-SACK block
    /// (RFC 2883; with SACK only).
    pub dsacks_sent: u64,
    /// Retransmission timeouts found spurious, by Eifel (RFC 3522: the
    /// first acknowledgment after one echoed an older timestamp) or by
    /// D-SACK (RFC 3708: the peer reported every retransmission since as a
    /// duplicate): the congestion state was restored (RFC 4015).
    pub spurious_timeouts: u64,
    /// Fast retransmits found spurious, by Eifel or D-SACK as above (the
    /// segment was late, not lost: reordering): the congestion state was
    /// restored and recovery ended.
    pub spurious_fast_retransmits: u64,
    /// Tail loss probes that repaired a loss (RFC 8985 section 7.4: the
    /// acknowledgment passed the probe's episode without a D-SACK or
    /// duplicate showing the original arrived): the window was cut.
    pub tlp_repairs: u64,
    /// D-SACK blocks received: the peer reports data it received twice
    /// (RFC 2883 section 4: the first block below the cumulative
    /// acknowledgment, or within the second block).
    pub dsacks_received: u64,
    /// Retransmissions found lost in SACK recovery (and sent again).
    pub lost_retransmissions: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Connections given up because the peer stopped answering (RFC 9293's
    /// R2: retransmissions, window probes or keep-alive probes ran out, or
    /// the user timeout passed), orphans included; as Linux's
    /// `TCPAbortOnTimeout`. Only keep-alive's end sends a reset (as
    /// Linux's); otherwise the peer learns of it when it next sends, from
    /// the reset that answers.
    pub aborted_on_timeout: u64,
    /// Negative advice passed to the IP layer (retransmission timeouts in
    /// a row, or probes left unanswered, at or past
    /// [`Config::r1_retries`]).
    pub negative_advice: u64,
    /// Zero-window probes.
    pub window_probes: u64,
    /// Tail loss probes (RFC 8985).
    pub tail_loss_probes: u64,
    /// Recovery probes: resends from the first hole after a probe timeout
    /// of silence in recovery.
    pub recovery_probes: u64,
    /// Keep-alive probes.
    pub keepalive_probes: u64,
    /// Connections established.
    pub established: u64,
    /// TIME-WAIT records dropped early for room.
    pub time_wait_evicted: u64,
    /// Orphans (connections closed by the application and still
    /// closing) reset to make room for a new connection when
    /// `max_connections` was reached.
    pub orphans_evicted: u64,
    /// 4-tuples in TIME-WAIT (records, or connections still held) reused:
    /// by a new SYN (RFC 6191), or by a connect that takes a record over.
    pub time_wait_reused: u64,
    /// ICMP errors about one of our connections' segments that passed the
    /// checks of [`TcpEngine::icmp_error`] (acted on, or an MTU report
    /// that did not lower the segment size).
    pub icmp_errors: u64,
    /// ICMP errors ignored: a quote that does not parse, no connection of
    /// that 4-tuple, or a quoted sequence number outside what is in flight
    /// (RFC 5927 section 4.1).
    pub icmp_errors_ignored: u64,
    /// Segment sizes lowered by ICMP fragmentation-needed or packet-too-big
    /// reports (RFC 1191, RFC 8201).
    pub pmtu_decreases: u64,
    /// Segment sizes raised again when the path MTU that lowered them
    /// was looked at again, ten minutes on, and had grown (after a report
    /// or black-hole detection).
    pub pmtu_increases: u64,
    /// Segment sizes lowered by black-hole detection: a retransmission
    /// timeout from R1 on ([`Config::black_hole_detection`]).
    pub black_hole_decreases: u64,
    /// First slow starts that HyStart++ ended (RFC 9406,
    /// [`Config::hystart`]): the round trip rose, and after its
    /// conservative rounds congestion avoidance took over, before any loss.
    pub hystart_exits: u64,
    /// Segments received marked Congestion Experienced on connections
    /// that negotiated ECN (RFC 3168).
    pub ecn_ce_received: u64,
    /// Congestion windows reduced for an ECN echo (ECE) from the peer,
    /// without a loss (RFC 3168 section 6.1.2).
    pub ecn_reductions: u64,
}

/// A snapshot of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// The state.
    pub state: State,
    /// Our address and port.
    pub local: (IpAddr, u16),
    /// The peer's address and port.
    pub remote: (IpAddr, u16),
    /// Bytes sent and not yet acknowledged.
    pub bytes_in_flight: usize,
    /// Bytes queued and not yet acknowledged (sent or not).
    pub send_queue: usize,
    /// Bytes received and not yet read.
    pub recv_queue: usize,
    /// Congestion window, bytes.
    pub cwnd: usize,
    /// Slow-start threshold, bytes (`usize::MAX` before the first loss).
    pub ssthresh: usize,
    /// Smoothed round-trip time, ns (0 before a sample).
    pub srtt_ns: u64,
    /// Current retransmission timeout, ns.
    pub rto_ns: u64,
    /// The user timeout, ns, if set ([`Flow::set_user_timeout`]).
    pub user_timeout_ns: Option<u64>,
    /// Payload bytes per full segment.
    pub mss: usize,
    /// The peer's window, bytes.
    pub peer_window: usize,
    /// Window scale shifts (ours, the peer's) if negotiated.
    pub window_scale: Option<(u8, u8)>,
    /// Timestamps negotiated.
    pub timestamps: bool,
    /// SACK negotiated.
    pub sack: bool,
    /// The congestion control algorithm.
    pub congestion: CongestionAlgorithm,
    /// Segments this connection resent.
    pub retransmits: u64,
    /// Retransmission timeouts in a row of the oldest unacknowledged data
    /// (or SYN): 0 while acknowledgments come; at [`Config::r1_retries`]
    /// or more, a delivery problem (RFC 9293's R1), before the connection
    /// gives up at R2 (see [`Flow::consecutive_timeouts`]).
    pub consecutive_timeouts: u32,
    /// Segments sent.
    pub segments_out: u64,
    /// Segments received.
    pub segments_in: u64,
    /// The DiffServ codepoint of the segments sent ([`Config::dscp`], or
    /// what [`Flow::set_dscp`] set).
    pub dscp: u8,
    /// Explicit Congestion Notification (RFC 3168) negotiated in the
    /// handshake ([`Config::ecn`]): the data segments sent are
    /// ECN-capable, congestion marks are echoed and answered.
    pub ecn: bool,
}

/// Sizes of the internal tables (for leak checks and monitoring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occupancy {
    /// Connections held (any state but TIME-WAIT records).
    pub connections: usize,
    /// Entries in the 4-tuple table.
    pub table: usize,
    /// TIME-WAIT records.
    pub time_wait: usize,
    /// Registered timers.
    pub timers: usize,
    /// Listeners.
    pub listeners: usize,
    /// Buffers kept for reuse (two per pooled control block).
    pub pooled_buffers: usize,
    /// Connection slots allocated (high-water mark).
    pub slots: usize,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    conn: Option<Box<Conn>>,
}

#[derive(Debug)]
struct ListenerSlot {
    generation: u32,
    listener: Option<Listener>,
}

/// A RST waiting for `dispatch` (aborted connections).
#[derive(Debug, Clone, Copy)]
struct PendingRst {
    tuple: FourTuple,
    seq: SeqNumber,
    ack: Option<SeqNumber>,
    /// The connection's DiffServ codepoint.
    dscp: u8,
}

impl PendingRst {
    /// The RST that aborts `c`: at the highest sequence number sent
    /// (RFC 9293's SND.NXT, which a retransmission timeout does not move
    /// back, ours does: the peer may hold all that was sent, and takes a
    /// RST only at exactly its RCV.NXT, RFC 5961).
    fn abort(c: &Conn) -> PendingRst {
        PendingRst {
            tuple: c.tuple,
            seq: c.snd_max,
            ack: Some(c.rcv_nxt),
            dscp: c.dscp,
        }
    }
}

/// The most RSTs of aborted connections queued; beyond, the oldest are
/// dropped (the peer's next segment draws a RST anyway).
const MAX_PENDING_RST: usize = 256;
/// Segments one connection sends per turn in `dispatch` before others get
/// theirs.
const BURST: usize = 64;

/// The last ICMP soft error of a connection (RFC 1122 section 4.2.3.9),
/// with `SND.UNA` when it came: if the connection then times out with
/// nothing more acknowledged, it ends with this error rather than
/// `TimedOut` (Linux's `sk_err_soft`). Kept by the engine, not in the
/// control block: the data path never looks at it.
#[derive(Debug, Clone, Copy)]
struct SoftError {
    index: u32,
    generation: u32,
    error: TcpError,
    snd_una: SeqNumber,
}

/// The most soft errors kept (one per connection); beyond, the oldest are
/// forgotten.
const MAX_SOFT_ERRORS: usize = 64;

/// A connection that a timer just closed: if it timed out, and a soft error
/// of `soft_errors` is its own with nothing acknowledged since, it ends
/// with that error. The connection's entry goes either way.
fn take_soft_error(soft_errors: &mut Vec<SoftError>, idx: u32, generation: u32, c: &mut Conn) {
    let Some(i) = soft_errors
        .iter()
        .position(|s| s.index == idx && s.generation == generation)
    else {
        return;
    };
    let s = soft_errors.swap_remove(i);
    if c.error == Some(TcpError::TimedOut) && s.snd_una == c.snd_una {
        c.error = Some(s.error);
    }
}

/// The oldest echo of a cookie SYN-ACK's timestamp that a cookie's ACK
/// can carry, in ms of our timestamp clock: a cookie lives two periods
/// (128 s), and the SYN-ACK's timestamp is up to 63 ms behind the clock.
const COOKIE_ECHO_MAX_AGE_MS: u32 = (COOKIE_ACCEPT_NS / 1_000_000) as u32 + 64;

/// The initial sequence number of a connection: RFC 6528's `isn`, or, for
/// a 4-tuple reused from TIME-WAIT, a number above everything its old
/// incarnation sent (`old_snd_nxt`; RFC 9293 section 3.6.1, RFC 6191), so
/// that none of the old segments falls in the new connection's window.
/// The clock-driven `isn` is ahead only as long as the old connection
/// sent less than 250 KB/s on average; otherwise, as Linux does, the old
/// `SND.NXT` plus the largest unscaled window and two.
fn iss_after(isn: SeqNumber, old_snd_nxt: Option<SeqNumber>) -> SeqNumber {
    match old_snd_nxt {
        Some(old) if isn.diff(old + 65537) < 0 => old + 65537,
        _ => isn,
    }
}

/// Whether a SYN (without ACK) for a 4-tuple in TIME-WAIT is clearly
/// new (RFC 6191 section 2): a timestamp above the last one seen
/// (`ts_recent`, when the old connection used timestamps and the SYN has
/// one), or else a sequence number beyond `RCV.NXT`.
fn syn_is_new(ts_recent: Option<u32>, rcv_nxt: SeqNumber, seg: &Repr) -> bool {
    match (ts_recent, seg.options.timestamp) {
        (Some(recent), Some((val, _))) => (val.wrapping_sub(recent) as i32) > 0,
        _ => seg.seq > rcv_nxt,
    }
}

/// All TCP connections and listeners of a stack.
pub struct TcpEngine {
    config: Config,
    secrets: Secrets,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    /// The 4-tuple table: (keyed hash, tuple, slot). The hash (the time
    /// wait table's hasher) is computed once per segment or connection
    /// and kept, for the other table's look-ups and for growth.
    table: HashTable<(u64, FourTuple, u32)>,
    /// The last 4-tuple looked up (bulk flows skip the hash).
    last: Option<(FourTuple, u32)>,
    listeners: Vec<ListenerSlot>,
    ports: BTreeMap<u16, u32>,
    tw: TimeWaitTable,
    timers: TimerQueue,
    queue: VecDeque<u32>,
    rsts: VecDeque<PendingRst>,
    /// ICMP soft errors of open connections (few: usually none).
    soft_errors: Vec<SoftError>,
    /// Connections the application gave up (`close`) that were still
    /// closing, oldest first; ids of those done since are stale and
    /// skipped. When `Config::max_connections` is reached, a new
    /// connection the application makes, or one a SYN cookie completes,
    /// takes the oldest orphan's slot ([`TcpEngine::evict_orphan`]).
    /// Compacted when longer than twice `max_connections`.
    orphans: VecDeque<ConnId>,
    /// Control blocks of reclaimed connections, with their buffers'
    /// storage (without wakers), reused rather than allocated again: at
    /// most `Config::buffer_pool`. (Boxes, as the slots hold them: reusing
    /// one is the point.)
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Conn>>,
    /// The budget of the ACKs of TIME-WAIT records (connections have
    /// their own).
    limiter: RateLimit,
    stats: Stats,
    port_counter: u32,
    /// The last destination's RFC 6056 port offset.
    port_offset: Option<((IpAddr, IpAddr, u16), u32)>,
}

impl fmt::Debug for TcpEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpEngine")
            .field("occupancy", &self.occupancy())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn valid_unicast(a: IpAddr) -> bool {
    !a.is_unspecified()
        && !a.is_multicast()
        && match a {
            IpAddr::V4(v4) => !v4.is_broadcast(),
            IpAddr::V6(_) => true,
        }
}

impl TcpEngine {
    /// A TCP with `config`, keyed by 32 secret random bytes (initial
    /// sequence numbers, SYN cookies, port selection and table hashing
    /// derive from them: take them from the `Random` device).
    pub fn new(mut config: Config, secret: [u8; 32]) -> TcpEngine {
        config.delayed_ack_ns = config.delayed_ack_ns.min(config::MAX_DELAYED_ACK_NS);
        config.dscp &= MAX_DSCP;
        let secrets = Secrets::new(&secret);
        let hasher = secrets.table_hasher();
        TcpEngine {
            limiter: RateLimit::new(config.challenge_ack_limit),
            tw: TimeWaitTable::new(config.max_time_wait, hasher),
            table: HashTable::new(),
            config,
            secrets,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            last: None,
            listeners: Vec::new(),
            ports: BTreeMap::new(),
            timers: TimerQueue::default(),
            queue: VecDeque::new(),
            rsts: VecDeque::new(),
            soft_errors: Vec::new(),
            orphans: VecDeque::new(),
            spare: Vec::new(),
            stats: Stats::default(),
            port_counter: 0,
            port_offset: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Table sizes.
    pub fn occupancy(&self) -> Occupancy {
        Occupancy {
            connections: self.live,
            table: self.table.len(),
            time_wait: self.tw.len(),
            timers: self.timers.len(),
            listeners: self.ports.len(),
            pooled_buffers: 2 * self.spare.len(),
            slots: self.slots.len(),
        }
    }

    // Slots and handles.

    fn conn(&self, id: ConnId) -> Result<&Conn, TcpError> {
        match self.slots.get(id.index as usize) {
            Some(Slot {
                generation,
                conn: Some(c),
            }) if *generation == id.generation && c.owner == Owner::User => Ok(c),
            _ => Err(TcpError::InvalidHandle),
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Result<&mut Conn, TcpError> {
        match self.slots.get_mut(id.index as usize) {
            Some(Slot {
                generation,
                conn: Some(c),
            }) if *generation == id.generation && c.owner == Owner::User => Ok(c),
            _ => Err(TcpError::InvalidHandle),
        }
    }

    fn slot_conn(&mut self, idx: u32) -> Option<&mut Conn> {
        self.slots.get_mut(idx as usize)?.conn.as_deref_mut()
    }

    fn id_of(&self, idx: u32) -> ConnId {
        ConnId {
            index: idx,
            generation: self.slots[idx as usize].generation,
        }
    }

    /// Make a connection and put it in a slot and the table. `reuse`:
    /// the 4-tuple's TIME-WAIT record just ended, whose incarnation sent
    /// up to this `SND.NXT`.
    fn insert(
        &mut self,
        tuple: FourTuple,
        h: u64,
        state: State,
        owner: Owner,
        now: u64,
        reuse: Option<SeqNumber>,
    ) -> u32 {
        let (iss, ts_offset) = self.secrets.isn_and_ts_offset(&tuple, now);
        let iss = iss_after(SeqNumber(iss), reuse);
        let config = &self.config;
        // (Reset field by field in a reused box, its buffers kept: no copy
        // of the control block, no buffer moved.)
        let mut c = match self.spare.pop() {
            Some(mut c) => {
                c.reset(config, tuple, iss, ts_offset, owner, state);
                c
            }
            None => {
                let tx = alloc::vec![0u8; config.send_buffer];
                let rx = alloc::vec![0u8; config.recv_buffer];
                Box::new(Conn::new(
                    config, tuple, iss, ts_offset, owner, tx, rx, state,
                ))
            }
        };
        c.in_table = true;
        c.hash = h;
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].conn = Some(c);
                i
            }
            None => {
                self.slots.push(Slot {
                    generation: 1,
                    conn: Some(c),
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.table.insert_unique(h, (h, tuple, idx), |e| e.0);
        // The peer's next segment is most likely for the new connection
        // (the SYN-ACK, the handshake's ACK): found without hashing.
        self.last = Some((tuple, idx));
        self.live += 1;
        idx
    }

    /// The slot of `t` (whose hash is `h`) in the 4-tuple table.
    #[inline]
    fn table_get(&self, h: u64, t: &FourTuple) -> Option<u32> {
        self.table.find(h, |e| e.1 == *t).map(|e| e.2)
    }

    /// Take `t` (whose hash is `h`) out of the 4-tuple table.
    fn table_remove(&mut self, h: u64, t: &FourTuple) {
        if let Ok(o) = self.table.find_entry(h, |e| e.1 == *t) {
            o.remove();
        }
    }

    /// Free a slot: out of the table and timers, buffers to the pool.
    fn reclaim(&mut self, idx: u32) {
        let Some(slot) = self.slots.get_mut(idx as usize) else {
            return;
        };
        let Some(c) = slot.conn.take() else { return };
        slot.generation = slot.generation.wrapping_add(1);
        if !self.soft_errors.is_empty() {
            self.soft_errors.retain(|s| s.index != idx);
        }
        if c.in_table
            && let Ok(o) = self.table.find_entry(c.hash, |e| e.1 == c.tuple)
        {
            o.remove();
        }
        if self.last.is_some_and(|(_, i)| i == idx) {
            self.last = None;
        }
        self.timers.set(idx, c.registered, None);
        match c.owner {
            Owner::Listener(l) => {
                if let Some(li) = self.listener_mut(l) {
                    li.half_open = li.half_open.saturating_sub(1);
                }
            }
            Owner::Queued(l) => {
                let id = ConnId {
                    index: idx,
                    generation: slot.generation.wrapping_sub(1),
                };
                if let Some(li) = self.listener_mut(l) {
                    li.queue.retain(|q| *q != id);
                }
            }
            _ => {}
        }
        let mut c = c;
        // (The configuration is fixed: the buffers fit the next connection.)
        debug_assert_eq!(
            c.buffer_sizes(),
            (self.config.send_buffer, self.config.recv_buffer)
        );
        if self.spare.len() < self.config.buffer_pool {
            c.release();
            self.spare.push(c);
        }
        self.free.push(idx);
        self.live -= 1;
    }

    fn listener_mut(&mut self, id: ListenerId) -> Option<&mut Listener> {
        match self.listeners.get_mut(id.index as usize) {
            Some(ListenerSlot {
                generation,
                listener: Some(l),
            }) if *generation == id.generation => Some(l),
            _ => None,
        }
    }

    fn listener_on(&self, port: u16) -> Option<ListenerId> {
        let &i = self.ports.get(&port)?;
        Some(ListenerId {
            index: i,
            generation: self.listeners[i as usize].generation,
        })
    }

    /// After anything happened to a connection: listener bookkeeping,
    /// reclaiming, TIME-WAIT hand-over, timers, and the dispatch queue.
    fn after_event(&mut self, idx: u32, now: u64, requeue: bool) {
        let (max_rto, fw2) = (self.config.max_rto_ns, self.config.fin_wait2_timeout_ns);
        let Some(c) = self.slot_conn(idx) else { return };
        c.arm_timers(now, max_rto);
        if c.state == State::FinWait2 && c.owner == Owner::Orphan && c.close_at.is_none() {
            cold_path();
            c.close_at = Some(now + fw2);
        }
        let (state, owner) = (c.state, c.owner);
        // (Most events leave an open connection of the application's: no
        // second look-up of the slot.)
        let c = if matches!(owner, Owner::Listener(_))
            || matches!(state, State::Closed | State::TimeWait)
        {
            if !self.after_event_lifecycle(idx, now, state, owner) {
                return;
            }
            let Some(c) = self.slot_conn(idx) else { return };
            c
        } else {
            c
        };
        // Lazy timer registration (see `timers`): only a deadline earlier
        // than the registered one (or the first) is registered.
        let d = c.next_deadline_or_never();
        let reg = c.registered;
        let change = d < timers::never(reg);
        if change {
            c.registered = Some(d);
        }
        let queue = requeue && c.mark_queued_if_output();
        if change {
            self.timers.set(idx, reg, Some(d));
        }
        if queue {
            self.queue.push_back(idx);
        }
    }

    /// [`Self::after_event`]'s rarer part: a half-open connection that
    /// completed goes to its listener's accept queue; a closed one leaves
    /// the table (and is reclaimed if nobody holds it); an orphan in
    /// TIME-WAIT is retired. `false`: the slot is gone (or retired).
    fn after_event_lifecycle(&mut self, idx: u32, now: u64, state: State, owner: Owner) -> bool {
        // A half-open connection completed: to the accept queue.
        if let Owner::Listener(l) = owner
            && state.is_synchronized()
        {
            let id = self.id_of(idx);
            if let Some(c) = self.slot_conn(idx) {
                c.owner = Owner::Queued(l);
            }
            self.stats.established += 1;
            match self.listener_mut(l) {
                Some(li) => {
                    li.half_open = li.half_open.saturating_sub(1);
                    li.queue.push_back(id);
                    li.wake();
                }
                None => {
                    self.abort_idx(idx);
                    return false;
                }
            }
        }
        let Some(c) = self.slot_conn(idx) else {
            return false;
        };
        if state == State::Closed {
            let (in_table, tuple, h, owner) = (c.in_table, c.tuple, c.hash, c.owner);
            c.in_table = false;
            if in_table {
                self.table_remove(h, &tuple);
                if self.last.is_some_and(|(_, i)| i == idx) {
                    self.last = None;
                }
            }
            if matches!(owner, Owner::Orphan | Owner::Listener(_)) {
                self.reclaim(idx);
                return false;
            }
        } else if state == State::TimeWait && c.owner == Owner::Orphan && !c.ack_now {
            // (With an ACK still due, after `dispatch` has sent it.)
            self.retire_to_time_wait(idx, now);
            return false;
        }
        true
    }

    /// An orphan reached TIME-WAIT: keep a small record, free the rest.
    fn retire_to_time_wait(&mut self, idx: u32, now: u64) {
        let msl = self.config.msl_ns;
        let Some(c) = self.slot_conn(idx) else { return };
        let (tuple, h) = (c.tuple, c.hash);
        let entry = TwEntry {
            snd_nxt: c.snd_max,
            rcv_nxt: c.rcv_nxt,
            ts: c.ts_ok.then_some((c.ts_recent, c.ts_offset)),
            window: (c.rx.capacity() >> c.rcv_wscale).min(0xffff) as u16,
            deadline: c.close_at.unwrap_or(now + 2 * msl),
            dscp: c.dscp,
        };
        c.owner = Owner::Orphan;
        c.state = State::Closed;
        self.reclaim(idx);
        if self.tw.insert_hashed(h, tuple, entry) {
            self.stats.time_wait_evicted += 1;
        }
    }

    // Segment arrival.

    /// Process a TCP segment received from `src` to `dst` (one of our
    /// addresses). See the module documentation. The segment is taken as
    /// received without an ECN mark: [`TcpEngine::process_tos`] with 0.
    #[inline(always)]
    pub fn process<T: Transmit>(
        &mut self,
        now: u64,
        src: &IpAddr,
        dst: &IpAddr,
        segment: &[u8],
        tx: &mut T,
    ) {
        self.process_tos(now, src, dst, 0, segment, tx);
    }

    /// [`TcpEngine::process`] with the type of service (IPv4) or traffic
    /// class (IPv6) byte the segment arrived with
    /// ([`crate::net::ip::Datagram::tos`]): its ECN field tells a
    /// congestion mark (Congestion Experienced, RFC 3168) to a connection
    /// that negotiated ECN.
    pub fn process_tos<T: Transmit>(
        &mut self,
        now: u64,
        src: &IpAddr,
        dst: &IpAddr,
        tos: u8,
        segment: &[u8],
        tx: &mut T,
    ) {
        self.stats.segments_in += 1;
        let Some(ph) = PseudoHeader::new(*src, *dst) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let Ok(packet) = Packet::new_checked(segment) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        // (The ports are the packet's fields: `new_checked` saw the fixed
        // header. The addresses are compared through the references: the
        // caller's datagram was just written field by field, and copying
        // it whole into a tuple right away stalls on store forwarding; the
        // tuple is only built when the last connection does not match.)
        let (local_port, remote_port) = (packet.dst_port(), packet.src_port());
        let tuple = || FourTuple {
            local: *dst,
            local_port,
            remote: *src,
            remote_port,
        };
        // The last connection's tuple is compared in place (ports first)
        // and not stored again when it matches.
        // (The hash is computed only when the last tuple does not match:
        // then both tables and a new connection use it.)
        let mut h = 0;
        let found: Option<(u32, bool)> = match &self.last {
            Some((t, i))
                if t.local_port == local_port
                    && t.remote_port == remote_port
                    && t.remote == *src
                    && t.local == *dst =>
            {
                Some((*i, true))
            }
            _ => {
                let tuple = tuple();
                h = self.tw.hash(&tuple);
                self.table_get(h, &tuple).map(|i| (i, false))
            }
        };
        // (Parsed where it stays: see `Repr::parse_checked_into`.)
        let mut seg = Repr::default();
        let parsed = Repr::parse_checked_into(&packet, &mut seg);
        // The data path: a segment of a known connection whose payload is
        // the next in-order data is copied into the receive ring while its
        // checksum is computed (the payload is read once); its processing
        // then skips the copy. Nothing else is looked at before the
        // checksum is verified.
        let placed = match (parsed, found) {
            (Ok(()), Some((idx, _))) if !seg.payload.is_empty() => self
                .slots
                .get_mut(idx as usize)
                .and_then(|slot| slot.conn.as_deref_mut())
                .and_then(|c| Some((c.place(seg.seq, seg.payload)?, c))),
            _ => None,
        };
        let verified = match placed {
            Some((payload_sum, c)) => {
                let hl = packet.header_len();
                let sum = checksum::combine(&[
                    ph.sum(wire_tcp::PROTOCOL, segment.len() as u32),
                    checksum::data(&segment[..hl]),
                    payload_sum,
                ]);
                if sum != 0xffff {
                    c.rx_placed = None;
                }
                sum == 0xffff
            }
            None => packet.verify_checksum(&ph),
        };
        if !verified {
            self.stats.dropped_checksum += 1;
            return;
        }
        if parsed.is_err() {
            self.stats.dropped_malformed += 1;
            return;
        }
        let seg = &seg;
        // A connection's ports and addresses are valid (it was made from
        // checked segments or by `connect`): only others need the checks.
        if found.is_none()
            && (seg.src_port == 0
                || seg.dst_port == 0
                || !valid_unicast(*src)
                || !valid_unicast(*dst)
                || !tx.is_local_unicast(*dst))
        {
            self.stats.dropped_malformed += 1;
            return;
        }
        let f = seg.flags;
        if f.syn() && (f.fin() || f.rst()) {
            self.stats.dropped_bad_flags += 1;
            return;
        }
        if let Some((idx, cached)) = found {
            if !cached {
                self.last = Some((tuple(), idx));
            }
            // (A SYN without ACK: a retransmitted one in SYN-RECEIVED, or
            // a new one for TIME-WAIT.)
            if f.syn() && !f.ack() && self.reopen_time_wait(idx, now, seg, tx) {
                return;
            }
            self.process_conn(idx, now, seg, tos, tx);
            return;
        }
        let tuple = tuple();
        if self.tw.contains_hashed(h, &tuple) {
            self.process_time_wait(now, tuple, h, seg, tx);
            return;
        }
        if let Some(l) = self.listener_on(tuple.local_port) {
            self.process_listen(now, l, tuple, h, seg, tos, tx, None);
            return;
        }
        self.stats.no_connection += 1;
        self.reply_closed(tuple, seg, tx);
    }

    fn process_conn<T: Transmit>(&mut self, idx: u32, now: u64, seg: &Repr, tos: u8, tx: &mut T) {
        let Some(slot) = self.slots.get_mut(idx as usize) else {
            return;
        };
        let Some(c) = slot.conn.as_deref_mut() else {
            return;
        };
        let mut ctx = Ctx {
            config: &self.config,
            stats: &mut self.stats,
            tos,
        };
        let reply = c.process(now, seg, &mut ctx);
        // A placement the processing did not use is forgotten.
        c.rx_placed = None;
        let counted = c.state == State::Established && c.segs_in == 1 && c.owner == Owner::User;
        // (The tuple is copied only for a reply.)
        let rst = reply.map(|r| (c.tuple, r, c.dscp));
        if counted {
            self.stats.established += 1;
        }
        if let Some((tuple, r, dscp)) = rst {
            self.send_rst(tx, tuple, r.seq, r.ack, dscp);
        }
        self.after_event(idx, now, true);
    }

    /// RFC 9293 section 3.10.7.1: a segment for no connection.
    fn reply_closed<T: Transmit>(&mut self, tuple: FourTuple, seg: &Repr, tx: &mut T) {
        if seg.flags.rst() {
            return;
        }
        let dscp = self.config.dscp;
        if seg.flags.ack() {
            self.send_rst(tx, tuple, seg.ack, None, dscp);
        } else {
            self.send_rst(
                tx,
                tuple,
                SeqNumber(0),
                Some(seg.seq + seg.segment_len()),
                dscp,
            );
        }
    }

    fn send_bare<T: Transmit>(
        &mut self,
        tx: &mut T,
        tuple: FourTuple,
        repr: &Repr,
        dscp: u8,
    ) -> bool {
        let Some(ph) = PseudoHeader::new(tuple.local, tuple.remote) else {
            return false;
        };
        let ok = tx.send_tos(
            tuple.local,
            tuple.remote,
            dscp << 2,
            repr.buffer_len(),
            |buf| repr.emit(&mut Packet::new_unchecked(buf), &ph),
        );
        if ok {
            self.stats.segments_out += 1;
        }
        ok
    }

    fn send_rst<T: Transmit>(
        &mut self,
        tx: &mut T,
        tuple: FourTuple,
        seq: SeqNumber,
        ack: Option<SeqNumber>,
        dscp: u8,
    ) -> bool {
        let mut flags = Flags::RST;
        if ack.is_some() {
            flags |= Flags::ACK;
        }
        let repr = Repr {
            src_port: tuple.local_port,
            dst_port: tuple.remote_port,
            seq,
            ack: ack.unwrap_or(SeqNumber(0)),
            flags,
            window: 0,
            urgent: 0,
            options: Options::default(),
            payload: &[],
        };
        let ok = self.send_bare(tx, tuple, &repr, dscp);
        if ok {
            self.stats.resets_sent += 1;
        }
        ok
    }

    /// A segment for a 4-tuple in TIME-WAIT (RFC 9293 and RFC 1337: a RST
    /// is ignored; RFC 6191: a clearly new SYN reopens).
    fn process_time_wait<T: Transmit>(
        &mut self,
        now: u64,
        tuple: FourTuple,
        h: u64,
        seg: &Repr,
        tx: &mut T,
    ) {
        let f = seg.flags;
        if f.rst() {
            return;
        }
        let Some(e) = self.tw.get(h, &tuple).copied() else {
            return;
        };
        if f.syn() && !f.ack() {
            let newer = syn_is_new(e.ts.map(|t| t.0), e.rcv_nxt, seg);
            if newer && let Some(l) = self.listener_on(tuple.local_port) {
                if self.reopen_refused(l) {
                    return;
                }
                self.tw.remove_hashed(h, &tuple);
                self.stats.time_wait_reused += 1;
                // (A SYN: never ECN-capable, its TOS's ECN field is 0.)
                self.process_listen(now, l, tuple, h, seg, 0, tx, Some(e.snd_nxt));
                return;
            }
        }
        // RFC 7323 section 5.3 (PAWS), as for a connection: a timestamp
        // older than TS.Recent marks an old duplicate, which is answered
        // and changes nothing.
        let old = matches!(
            (e.ts, seg.options.timestamp),
            (Some((recent, _)), Some((val, _))) if (val.wrapping_sub(recent) as i32) < 0
        );
        if old {
        } else if f.fin() {
            // The peer's FIN again: our ACK of it was lost; 2 MSL start
            // again (RFC 9293 section 3.10.7.4). A FIN without ACK is only
            // answered: RFC 9293's fifth check drops any segment without
            // ACK, after the first check answered it if it was a
            // duplicate.
            if f.ack() {
                self.tw.restart(h, &tuple, now + 2 * self.config.msl_ns);
            }
        } else if !f.syn() && seg.seq == e.rcv_nxt && seg.payload.is_empty() {
            // An acceptable bare ACK (RFC 9293 section 3.10.7.4: in
            // TIME-WAIT only a retransmitted FIN is acknowledged, and
            // unacceptable segments): answering it would start an
            // exchange of ACKs with a peer also in TIME-WAIT, one
            // duplicated ACK between them. (As Linux's
            // `tcp_timewait_state_process`.)
            return;
        }
        if self.limiter.allow(now) {
            self.send_tw_ack(tx, tuple, e, now);
        }
    }

    /// A SYN for a connection still in the table (the application's, or
    /// an orphan whose last ACK is due) in TIME-WAIT: if it is clearly new
    /// (RFC 6191, as for a record: see [`syn_is_new`]) and a listener has
    /// the port, the old connection ends (its reader sees the end of the
    /// stream it already had) and the SYN opens a new one, as RFC 9293
    /// section 3.10.7.4 allows in TIME-WAIT (or, without room for it, the
    /// SYN is dropped: see `reopen_refused`). `false`: the connection
    /// processes the SYN (a challenge ACK). (`seg` is a SYN without ACK.)
    #[cold]
    fn reopen_time_wait<T: Transmit>(
        &mut self,
        idx: u32,
        now: u64,
        seg: &Repr,
        tx: &mut T,
    ) -> bool {
        let Some(c) = self.slot_conn(idx) else {
            return false;
        };
        if c.state != State::TimeWait || !syn_is_new(c.ts_ok.then_some(c.ts_recent), c.rcv_nxt, seg)
        {
            return false;
        }
        let (tuple, h, old) = (c.tuple, c.hash, c.snd_max);
        let Some(l) = self.listener_on(tuple.local_port) else {
            return false;
        };
        if self.reopen_refused(l) {
            return true;
        }
        if let Some(c) = self.slot_conn(idx) {
            c.terminate(None);
        }
        // (Out of the table, reclaimed if nobody holds it.)
        self.after_event(idx, now, false);
        self.stats.time_wait_reused += 1;
        self.process_listen(now, l, tuple, h, seg, 0, tx, Some(old));
        true
    }

    fn tw_ack_repr(tuple: FourTuple, e: TwEntry, now: u64) -> Repr<'static> {
        let mut options = Options::default();
        if let Some((recent, offset)) = e.ts {
            let val = ((now / 1_000_000) as u32).wrapping_add(offset);
            options.timestamp = Some((val, recent));
        }
        Repr {
            src_port: tuple.local_port,
            dst_port: tuple.remote_port,
            seq: e.snd_nxt,
            ack: e.rcv_nxt,
            flags: Flags::ACK,
            window: e.window,
            urgent: 0,
            options,
            payload: &[],
        }
    }

    fn send_tw_ack<T: Transmit>(&mut self, tx: &mut T, tuple: FourTuple, e: TwEntry, now: u64) {
        let repr = Self::tw_ack_repr(tuple, e, now);
        self.send_bare(tx, tuple, &repr, e.dscp);
    }

    /// Act on an ICMP error about a segment we sent (RFC 1122 section
    /// 4.2.3.9, RFC 9293 section 3.9.2.2), passed up by the ICMP layer.
    ///
    /// The quoted segment must belong to a connection (our address and
    /// port are the quoted source) and carry a sequence number in
    /// `[SND.UNA, SND.MAX)` (RFC 5927 section 4.1); anything else is
    /// ignored and counted in [`Stats::icmp_errors_ignored`]. Then:
    ///
    /// - fragmentation needed / packet too big, in a synchronized state:
    ///   the segment size drops to fit the reported MTU (taken as at least
    ///   552 bytes for IPv4, Linux's `min_pmtu`, and 1280 for IPv6, RFC
    ///   8201; a report that would raise it is ignored), and what is in
    ///   flight is sent again at once in the new size (RFC 1191 section
    ///   6.5, RFC 8201, as Linux's `tcp_simple_retransmit`), without a
    ///   congestion response (in SYN-SENT and SYN-RECEIVED such a report
    ///   changes nothing: the handshake's segments are small);
    /// - any other destination unreachable in SYN-SENT is a hard error: the
    ///   connection fails at once ([`TcpError::Refused`] for port and
    ///   protocol unreachable, [`TcpError::NetworkUnreachable`] or
    ///   [`TcpError::HostUnreachable`] for the others, as Linux does);
    /// - in the other states it is a soft error (RFC 5927 section 4.3: an
    ///   established connection is not aborted): it is remembered, and if
    ///   the connection then times out with nothing acknowledged since, it
    ///   ends with that error rather than [`TcpError::TimedOut`] (Linux's
    ///   `sk_err_soft`);
    /// - time exceeded is a soft error in every state, SYN-SENT included
    ///   (RFC 1122 section 4.2.3.9: tell the application, do not abort),
    ///   told as [`TcpError::HostUnreachable`] (Linux's `EHOSTUNREACH`);
    /// - parameter problem is only counted (RFC 1122 section 3.2.2.5: it
    ///   MAY be reported; no [`TcpError`] says it, and Linux's abort on it
    ///   is what section 4.2.3.9 forbids).
    ///
    /// A resend is queued for the next [`TcpEngine::dispatch`]. Returns
    /// the peer and the MTU of a genuine path MTU report (about a segment
    /// in the window of a synchronized connection), for the IP layer to
    /// keep ([`crate::net::ip::Ip::learn_path_mtu`]; a report that did not
    /// pass these checks must not lower the path MTU of every connection
    /// to the destination).
    pub fn icmp_error(&mut self, now: u64, error: &IcmpError<'_>) -> Option<(IpAddr, u32)> {
        let Ok(q) = Quoted::parse(error.quoted) else {
            self.stats.icmp_errors_ignored += 1;
            return None;
        };
        let tuple = FourTuple {
            local: q.src,
            local_port: q.src_port,
            remote: q.dst,
            remote_port: q.dst_port,
        };
        let h = self.tw.hash(&tuple);
        let Some(idx) = self.table_get(h, &tuple) else {
            self.stats.icmp_errors_ignored += 1;
            return None;
        };
        // (The slot's field, not `slot_conn`: the counters stay borrowable.)
        let slot = self.slots.get_mut(idx as usize)?;
        let generation = slot.generation;
        let c = slot.conn.as_deref_mut()?;
        if !(c.snd_una <= q.seq && q.seq < c.snd_max) {
            self.stats.icmp_errors_ignored += 1;
            return None;
        }
        let mut path_mtu = None;
        // (The error told, and whether it fails a connect.)
        let (told, hard) = match error.kind {
            IcmpErrorKind::TooBig { mtu } => {
                // (A SYN or SYN-ACK is far below any MTU: until the
                // segment size is fixed there is nothing to lower.)
                if c.state.is_synchronized() {
                    path_mtu = Some((c.tuple.remote, mtu));
                    if c.pmtu_reduced(mtu, now) {
                        self.stats.pmtu_decreases += 1;
                    }
                }
                (None, false)
            }
            IcmpErrorKind::PortUnreachable | IcmpErrorKind::ProtocolUnreachable => {
                (Some(TcpError::Refused), true)
            }
            IcmpErrorKind::NetUnreachable => (Some(TcpError::NetworkUnreachable), true),
            IcmpErrorKind::HostUnreachable | IcmpErrorKind::Prohibited => {
                (Some(TcpError::HostUnreachable), true)
            }
            IcmpErrorKind::TimeExceeded => (Some(TcpError::HostUnreachable), false),
            // (Counted only: no `TcpError` says them, and RFC 1122
            // section 4.2.3.9 forbids aborting on them.)
            IcmpErrorKind::ParameterProblem | IcmpErrorKind::Unknown { .. } => (None, false),
        };
        if let Some(e) = told {
            if hard && c.state == State::SynSent {
                c.terminate(Some(e));
            } else {
                let snd_una = c.snd_una;
                self.remember_soft_error(idx, generation, e, snd_una);
            }
        }
        self.stats.icmp_errors += 1;
        self.after_event(idx, now, true);
        path_mtu
    }

    /// Keep `error` as connection `idx`'s soft error (replacing an earlier
    /// one), forgetting the entries of connections gone since; at most
    /// [`MAX_SOFT_ERRORS`], the oldest dropped.
    fn remember_soft_error(
        &mut self,
        idx: u32,
        generation: u32,
        error: TcpError,
        snd_una: SeqNumber,
    ) {
        let slots = &self.slots;
        self.soft_errors.retain(|s| {
            s.index != idx
                && slots.get(s.index as usize).is_some_and(|slot| {
                    slot.generation == s.generation
                        && slot.conn.as_ref().is_some_and(|c| c.state != State::Closed)
                })
        });
        if self.soft_errors.len() >= MAX_SOFT_ERRORS {
            self.soft_errors.remove(0);
        }
        self.soft_errors.push(SoftError {
            index: idx,
            generation,
            error,
            snd_una,
        });
    }

    fn push_pending(&mut self, r: PendingRst) {
        if self.rsts.len() >= MAX_PENDING_RST {
            self.rsts.pop_front();
        }
        self.rsts.push_back(r);
    }
}

/// Whether a connect may take over the 4-tuple of TIME-WAIT record `e`:
/// only if the old connection used timestamps, so that PAWS keeps the old
/// incarnation's duplicates out of the new one (RFC 6191's condition, and
/// Linux's `tcp_tw_reuse`); without them only the 2 MSL keeps them out.
fn takes_over(e: &TwEntry) -> bool {
    e.ts.is_some()
}

// Listening and SYN cookies.
impl TcpEngine {
    /// A segment for a listening port and no connection (RFC 9293 section
    /// 3.10.7.2), with SYN cookies beyond the backlog.
    /// `reuse`: the 4-tuple's TIME-WAIT record just ended (see `insert`).
    #[allow(clippy::too_many_arguments)]
    fn process_listen<T: Transmit>(
        &mut self,
        now: u64,
        l: ListenerId,
        tuple: FourTuple,
        h: u64,
        seg: &Repr,
        tos: u8,
        tx: &mut T,
        reuse: Option<SeqNumber>,
    ) {
        let f = seg.flags;
        if f.rst() {
            return;
        }
        if f.ack() {
            if !f.syn() && self.try_cookie(now, l, tuple, h, seg, tos, tx) {
                return;
            }
            self.send_rst(tx, tuple, seg.ack, None, self.config.dscp);
            return;
        }
        if !f.syn() {
            self.stats.dropped_no_ack += 1;
            return;
        }
        if !self.room_for_syn(l) {
            if self.config.syn_cookies {
                self.send_cookie(now, l, tuple, seg, tx);
            } else {
                self.stats.listen_overflows += 1;
            }
            return;
        }
        let idx = self.insert(tuple, h, State::SynReceived, Owner::Listener(l), now, reuse);
        if let Some(li) = self.listener_mut(l) {
            li.half_open += 1;
        }
        let mss_hint = tx.mss_hint(tuple.remote);
        let config = &self.config;
        if let Some(c) = self.slots[idx as usize].conn.as_deref_mut() {
            c.passive = true;
            c.irs = seg.seq;
            c.rcv_nxt = seg.seq + 1;
            c.rcv_adv = c.rcv_nxt;
            c.last_ack_sent = c.rcv_nxt;
            c.set_rcv_mss(mss_hint);
            c.negotiate(config, &seg.options, now);
            c.ecn_syn_received(config, seg.flags);
            c.snd_wnd = usize::from(seg.window);
            c.max_snd_wnd = c.snd_wnd;
            c.snd_wl1 = seg.seq;
        }
        self.after_event(idx, now, true);
    }

    /// Whether listener `l` can take a SYN as a half-open connection
    /// (its backlog, and `Config::max_connections`).
    fn room_for_syn(&mut self, l: ListenerId) -> bool {
        self.listener_mut(l).is_some_and(|li| li.has_room())
            && self.live < self.config.max_connections
    }

    /// A SYN that would reopen a 4-tuple in TIME-WAIT for listener `l`
    /// finds no room and no SYN cookie to answer it: it is dropped as
    /// `process_listen` would, and the TIME-WAIT stays (it still answers
    /// old duplicates; the SYN's retransmission reopens it once there is
    /// room). With cookies the TIME-WAIT ends, the cookie's ISS being
    /// what it is (as Linux).
    fn reopen_refused(&mut self, l: ListenerId) -> bool {
        if self.config.syn_cookies || self.room_for_syn(l) {
            return false;
        }
        self.stats.listen_overflows += 1;
        true
    }

    /// The timestamp value of a cookie SYN-ACK: our clock with its low six
    /// bits replaced by the peer's window scale (4 bits, 15 for none),
    /// SACK-permitted and ECN (bits 4 and 5; Linux's layout), never ahead
    /// of the clock.
    fn cookie_tsval(clock: u32, bits: u32) -> u32 {
        let v = (clock & !63) | bits;
        if (v.wrapping_sub(clock) as i32) > 0 {
            v.wrapping_sub(64)
        } else {
            v
        }
    }

    fn send_cookie<T: Transmit>(
        &mut self,
        now: u64,
        l: ListenerId,
        tuple: FourTuple,
        seg: &Repr,
        tx: &mut T,
    ) {
        let ours = tx.mss_hint(tuple.remote).clamp(conn::MIN_MSS, 0xffff) as u16;
        // (Without the option: RFC 9293's default, 536 or 1220 by family.)
        let peer = seg
            .options
            .mss
            .unwrap_or(conn::default_mss(tuple.remote) as u16);
        let idx = cookie_mss_index(peer.min(ours));
        let cookie = self.secrets.cookie(&tuple, seg.seq.0, now, idx);
        let mut options = Options {
            mss: Some(ours),
            ..Default::default()
        };
        let mut flags = Flags::SYN | Flags::ACK;
        if let (Some((peer_val, _)), true) = (seg.options.timestamp, self.config.timestamps) {
            let ws = match seg.options.window_scale {
                Some(w) if self.config.window_scaling => {
                    options.window_scale = Some(conn::wscale_for(self.config.recv_buffer));
                    u32::from(w.min(14))
                }
                _ => 15,
            };
            let sack = seg.options.sack_permitted && self.config.sack;
            options.sack_permitted = sack;
            // An ECN-setup SYN (RFC 3168 section 6.1.1) is accepted as by
            // a half-open connection: the SYN-ACK carries ECE.
            let ecn = seg.flags.ece() && seg.flags.cwr() && self.config.ecn != Ecn::Off;
            if ecn {
                flags |= Flags::ECE;
            }
            let bits = ws | (u32::from(sack) << 4) | (u32::from(ecn) << 5);
            let clock = ((now / 1_000_000) as u32).wrapping_add(self.secrets.ts_offset(&tuple));
            options.timestamp = Some((Self::cookie_tsval(clock, bits), peer_val));
        }
        let repr = Repr {
            src_port: tuple.local_port,
            dst_port: tuple.remote_port,
            seq: SeqNumber(cookie),
            ack: seg.seq + 1,
            flags,
            window: self.config.recv_buffer.min(0xffff) as u16,
            urgent: 0,
            options,
            payload: &[],
        };
        if self.send_bare(tx, tuple, &repr, self.config.dscp) {
            self.stats.syn_cookies_sent += 1;
            if let Some(li) = self.listener_mut(l) {
                li.cookies_until = Some(now + COOKIE_ACCEPT_NS);
            }
        }
    }

    /// An ACK for a listening port: a connection if it returns a valid
    /// cookie (and cookies were sent lately, and there is room).
    #[allow(clippy::too_many_arguments)]
    fn try_cookie<T: Transmit>(
        &mut self,
        now: u64,
        l: ListenerId,
        tuple: FourTuple,
        h: u64,
        seg: &Repr,
        tos: u8,
        tx: &mut T,
    ) -> bool {
        if !self.config.syn_cookies {
            return false;
        }
        let Some(li) = self.listener_mut(l) else {
            return false;
        };
        if li.cookies_until.is_none_or(|t| now > t) {
            return false;
        }
        let room = li.queue.len() < li.backlog;
        let peer_isn = seg.seq - 1;
        let iss = seg.ack - 1;
        let Some(mss_idx) = self.secrets.check_cookie(&tuple, peer_isn.0, iss.0, now) else {
            return false;
        };
        if !room || (self.live >= self.config.max_connections && !self.evict_orphan()) {
            // Valid but no room: drop; the peer retransmits.
            self.stats.listen_overflows += 1;
            return true;
        }
        self.stats.syn_cookies_accepted += 1;
        let mut options = Options {
            mss: Some(COOKIE_MSS[usize::from(mss_idx)]),
            ..Default::default()
        };
        // (Options are encoded only in a cookie SYN-ACK's timestamp, which
        // it carries only with timestamps on: see `send_cookie`. An echo
        // that cannot be that timestamp, ahead of our clock or older than
        // a cookie lives, is not ours: it encodes nothing, and the
        // connection goes without options, as for a SYN that had none.)
        let mut ecn = false;
        let clock = ((now / 1_000_000) as u32).wrapping_add(self.secrets.ts_offset(&tuple));
        if let Some((val, ecr)) = seg.options.timestamp
            && self.config.timestamps
            && clock.wrapping_sub(ecr) <= COOKIE_ECHO_MAX_AGE_MS
        {
            options.timestamp = Some((val, 0));
            let ws = ecr & 15;
            if ws != 15 {
                options.window_scale = Some(ws as u8);
            }
            options.sack_permitted = ecr & 16 != 0;
            ecn = ecr & 32 != 0;
        }
        let idx = self.insert(tuple, h, State::Established, Owner::Queued(l), now, None);
        let mss_hint = tx.mss_hint(tuple.remote);
        let config = &self.config;
        if let Some(c) = self.slots[idx as usize].conn.as_deref_mut() {
            c.passive = true;
            c.iss = iss;
            c.snd_una = iss + 1;
            c.snd_nxt = iss + 1;
            c.snd_max = iss + 1;
            c.high_rxt = iss + 1;
            c.tx_seq = iss + 1;
            c.irs = peer_isn;
            c.rcv_nxt = seg.seq;
            // The cookie SYN-ACK's window (unscaled, as `send_cookie`'s):
            // the peer knows it, no window update is owed.
            c.rcv_adv = seg.seq + config.recv_buffer.min(c.rx.free()).min(0xffff);
            c.last_ack_sent = seg.seq;
            c.set_rcv_mss(mss_hint);
            c.negotiate(config, &options, now);
            c.ecn_accept(config, ecn);
            c.snd_wnd = usize::from(seg.window) << c.snd_wscale;
            c.max_snd_wnd = c.snd_wnd;
            c.snd_wl1 = seg.seq;
            c.snd_wl2 = seg.ack;
        }
        let id = self.id_of(idx);
        self.stats.established += 1;
        if let Some(li) = self.listener_mut(l) {
            li.queue.push_back(id);
            li.wake();
        }
        // The ACK may carry data (a congestion mark on it counts if the
        // connection uses ECN).
        self.process_conn(idx, now, seg, tos, tx);
        true
    }
}

// Dispatch.
impl TcpEngine {
    /// A connection's timer fell due: what it does, then the negative
    /// advice and MSS hints its retries give. (Out of line: timers fall
    /// due far less often than `dispatch` runs, and their handling would
    /// otherwise sit inside the hot code of every dispatch.)
    #[inline(never)]
    fn fire_timer<T: Transmit>(&mut self, idx: u32, now: u64, tx: &mut T) {
        let Some(slot) = self.slots.get_mut(idx as usize) else {
            return;
        };
        let generation = slot.generation;
        let Some(c) = slot.conn.as_deref_mut() else {
            return;
        };
        c.registered = None;
        let (retries, probes) = (c.retries, c.probes_out);
        if c.on_timer(now, &self.config, &mut self.stats) {
            let r = PendingRst::abort(c);
            self.push_pending(r);
        }
        let Some(c) = self
            .slots
            .get_mut(idx as usize)
            .and_then(|s| s.conn.as_deref_mut())
        else {
            return;
        };
        let r1 = self.config.r1_retries;
        // R1 (RFC 9293 section 3.8.3): the path may be broken. A probe
        // (of a shut window, or keep-alive) is a transmission too:
        // one going out after R1 went unanswered says the same, and
        // while the window is shut nothing else would (a first hop
        // whose link address changed is otherwise checked only when
        // the cache entry expires, long after the connection gave up).
        let timed_out = c.retries > retries && c.retries >= r1;
        let unanswered = c.probes_out > probes && probes >= r1;
        if r1 > 0 && (timed_out || unanswered) && c.state != State::Closed {
            self.stats.negative_advice += 1;
            tx.negative_advice(c.tuple.remote);
        }
        if c.retries > 0 && c.state.is_synchronized() {
            // Segments lost to a timeout: they may have been too big
            // for a local MTU that shrank.
            c.local_mss_hint(tx.mss_hint(c.tuple.remote), now);
            // Or for a path that drops them without a report.
            if r1 > 0 && timed_out && self.config.black_hole_detection && c.black_hole_fallback(now)
            {
                self.stats.black_hole_decreases += 1;
            }
        }
        if c.state == State::Closed && !self.soft_errors.is_empty() {
            take_soft_error(&mut self.soft_errors, idx, generation, c);
        }
        self.after_event(idx, now, true);
    }

    /// Handle due timers and send everything pending (see the module
    /// documentation). Returns `false` if `tx` refused a segment (call
    /// again when the device has room).
    pub fn dispatch<T: Transmit>(&mut self, now: u64, tx: &mut T) -> bool {
        self.tw.expire(now);
        while let Some((_, idx)) = self.timers.pop_due(now) {
            self.fire_timer(idx, now, tx);
        }
        // (After the timers, which may give up with a reset.)
        while let Some(r) = self.rsts.front().copied() {
            cold_path();
            if !self.send_rst(tx, r.tuple, r.seq, r.ack, r.dscp) {
                return false;
            }
            self.rsts.pop_front();
        }
        let mut turns = self.queue.len();
        while turns > 0 {
            turns -= 1;
            let Some(idx) = self.queue.pop_front() else {
                break;
            };
            let Some(slot) = self.slots.get_mut(idx as usize) else {
                continue;
            };
            let Some(c) = slot.conn.as_deref_mut() else {
                continue;
            };
            if !c.queued {
                continue;
            }
            c.queued = false;
            if c.rcv_mss == 0 {
                cold_path();
                c.set_rcv_mss(tx.mss_hint(c.tuple.remote));
                c.set_send_mss(None);
            }
            if c.pmtu_recheck_at.is_some_and(|t| now >= t)
                && c.pmtu_recheck(tx.path_mss_hint(c.tuple.remote), now)
            {
                cold_path();
                self.stats.pmtu_increases += 1;
            }
            let (src, dst, dscp) = (c.tuple.local, c.tuple.remote, c.dscp);
            c.offload = tx.segmentation_offload(dst);
            let mut sent = 0;
            let mut more = false;
            loop {
                // (The plan is used where `plan` returned it, a fresh
                // binding per segment: moving it out of the option, or into
                // a variable that outlives the iteration, copies it right
                // after its fields were written, which stalls on store
                // forwarding.)
                let next = c.plan(now);
                let Some(plan) = &next else { break };
                if sent == BURST {
                    cold_path();
                    more = true;
                    break;
                }
                // The MSS a segment of several goes through the offload
                // by (only a connection with the offload has such
                // segments: the others skip the MSS's look-up).
                let offloaded = (c.offload > 0)
                    .then(|| c.seg_mss())
                    .filter(|&mss| plan.len > mss);
                let conn: &Conn = c;
                let tos = (dscp << 2) | if plan.ect { ECT_0 } else { 0 };
                let fill = |buf: &mut [u8]| conn.emit(plan, buf);
                let went = match offloaded {
                    Some(mss) => tx.send_segmented(src, dst, tos, plan.segment_len(), mss, fill),
                    None => tx.send_tos(src, dst, tos, plan.segment_len(), fill),
                };
                if !went {
                    cold_path();
                    c.queued = true;
                    self.queue.push_front(idx);
                    self.after_event(idx, now, false);
                    return false;
                }
                c.commit(now, plan);
                self.stats.segments_out += 1;
                if plan.retransmit {
                    cold_path();
                    self.stats.retransmitted += 1;
                }
                sent += 1;
                // Most sends leave nothing more: the cheap test saves
                // planning again (`plan` finds nothing when it is false).
                if !c.wants_output() {
                    break;
                }
            }
            if more {
                cold_path();
                c.queued = true;
                self.queue.push_back(idx);
                turns += 1;
            }
            self.after_event(idx, now, false);
        }
        true
    }

    /// Whether `dispatch` has segments to send now (RSTs, or connections
    /// with output).
    #[inline]
    pub fn has_pending_output(&self) -> bool {
        !self.queue.is_empty() || !self.rsts.is_empty()
    }

    /// When `dispatch` must run next at the latest.
    pub fn next_deadline(&self) -> Option<u64> {
        let mut d = timers::earliest(self.timers.next(), self.tw.next_deadline());
        if !self.queue.is_empty() || !self.rsts.is_empty() {
            // Work is pending now.
            d = Some(0);
        }
        d
    }
}

// The application's interface.
impl TcpEngine {
    /// Listen on `port` (any of our addresses; 0: a port of the ephemeral
    /// range no listener has, which [`TcpEngine::listener_port`] tells)
    /// with a backlog (capped at `Config::max_backlog`).
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenerId, TcpError> {
        let port = match port {
            0 => self.ephemeral_listen_port()?,
            p if self.ports.contains_key(&p) => return Err(TcpError::AddrInUse),
            p => p,
        };
        let listener = Listener::new(port, backlog.min(self.config.max_backlog));
        let index = match self.listeners.iter().position(|s| s.listener.is_none()) {
            Some(i) => {
                self.listeners[i].listener = Some(listener);
                i as u32
            }
            None => {
                self.listeners.push(ListenerSlot {
                    generation: 1,
                    listener: Some(listener),
                });
                (self.listeners.len() - 1) as u32
            }
        };
        self.ports.insert(port, index);
        Ok(ListenerId {
            index,
            generation: self.listeners[index as usize].generation,
        })
    }

    /// The port the listener `l` listens on.
    pub fn listener_port(&self, l: ListenerId) -> Result<u16, TcpError> {
        match self.listeners.get(l.index as usize) {
            Some(ListenerSlot {
                generation,
                listener: Some(li),
            }) if *generation == l.generation => Ok(li.port),
            _ => Err(TcpError::InvalidHandle),
        }
    }

    /// The first ephemeral port and how many there are (at least one;
    /// port 0 is never one).
    fn ephemeral_range(&self) -> (u32, u32) {
        let min = u32::from(self.config.ephemeral_min.max(1));
        let max = u32::from(self.config.ephemeral_max).max(min);
        (min, max - min + 1)
    }

    /// A port of the ephemeral range for a listener: the next one, in turn
    /// with connections' ephemeral ports, that no listener has.
    fn ephemeral_listen_port(&mut self) -> Result<u16, TcpError> {
        let (min, n) = self.ephemeral_range();
        for i in 0..n {
            let port = (min + self.port_counter.wrapping_add(i) % n) as u16;
            if !self.ports.contains_key(&port) {
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Ok(port);
            }
        }
        Err(TcpError::NoPortAvailable)
    }

    /// Take an established connection from the listener's queue.
    pub fn accept(&mut self, l: ListenerId) -> Result<Option<ConnId>, TcpError> {
        let li = self.listener_mut(l).ok_or(TcpError::InvalidHandle)?;
        let Some(id) = li.queue.pop_front() else {
            return Ok(None);
        };
        if let Some(c) = self.slot_conn(id.index) {
            c.owner = Owner::User;
        }
        Ok(Some(id))
    }

    /// Stop listening: connections not yet accepted are reset.
    pub fn close_listener(&mut self, l: ListenerId) -> Result<(), TcpError> {
        let li = self.listener_mut(l).ok_or(TcpError::InvalidHandle)?;
        let port = li.port;
        self.ports.remove(&port);
        let owned: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let c = s.conn.as_ref()?;
                matches!(c.owner, Owner::Listener(x) | Owner::Queued(x) if x == l)
                    .then_some(i as u32)
            })
            .collect();
        for idx in owned {
            self.abort_idx(idx);
        }
        let slot = &mut self.listeners[l.index as usize];
        slot.listener = None;
        slot.generation = slot.generation.wrapping_add(1);
        Ok(())
    }

    /// Register the waker woken when a connection is ready to accept
    /// (each of several tasks accepting on the listener is woken).
    pub fn register_accept_waker(&mut self, l: ListenerId, w: &Waker) -> Result<(), TcpError> {
        let li = self.listener_mut(l).ok_or(TcpError::InvalidHandle)?;
        li.register(w);
        Ok(())
    }

    /// Open a connection from `local` (port 0: an ephemeral port) to
    /// `remote`. The SYN leaves on the next `dispatch`.
    ///
    /// A 4-tuple whose connection is in TIME-WAIT and released (a record)
    /// is taken over, with an initial sequence number above everything the
    /// old connection sent (an ephemeral port is only chosen so when no
    /// other is free). Errors: [`TcpError::AddrInUse`] for a 4-tuple held
    /// by a connection, [`TcpError::NoPortAvailable`] when every ephemeral
    /// port toward `remote` is, [`TcpError::TooManyConnections`] at
    /// `Config::max_connections`, [`TcpError::Unaddressable`] for bad
    /// addresses or a zero remote port; none leaves anything behind.
    pub fn connect(
        &mut self,
        now: u64,
        local: (IpAddr, u16),
        remote: (IpAddr, u16),
    ) -> Result<ConnId, TcpError> {
        if PseudoHeader::new(local.0, remote.0).is_none()
            || !valid_unicast(local.0)
            || !valid_unicast(remote.0)
            || remote.1 == 0
        {
            return Err(TcpError::Unaddressable);
        }
        if self.live >= self.config.max_connections && !self.evict_orphan() {
            return Err(TcpError::TooManyConnections);
        }
        let (port, h, reuse) = if local.1 == 0 {
            self.ephemeral_port(local.0, remote)?
        } else {
            let t = FourTuple {
                local: local.0,
                local_port: local.1,
                remote: remote.0,
                remote_port: remote.1,
            };
            let h = self.tw.hash(&t);
            if self.table_get(h, &t).is_some() {
                return Err(TcpError::AddrInUse);
            }
            // An explicit reuse of a TIME-WAIT 4-tuple: our new ISN is
            // above what the old incarnation sent; only with timestamps
            // (see `takes_over`).
            let reuse = match self.tw.get(h, &t) {
                Some(e) if !takes_over(e) => return Err(TcpError::AddrInUse),
                e => e.map(|e| e.snd_nxt),
            };
            if reuse.is_some() {
                self.tw.remove_hashed(h, &t);
                self.stats.time_wait_reused += 1;
            }
            (local.1, h, reuse)
        };
        let tuple = FourTuple {
            local: local.0,
            local_port: port,
            remote: remote.0,
            remote_port: remote.1,
        };
        let idx = self.insert(tuple, h, State::SynSent, Owner::User, now, reuse);
        self.after_event(idx, now, true);
        Ok(self.id_of(idx))
    }

    /// RFC 6056 algorithm 3: a per-destination offset plus a counter;
    /// the first port whose 4-tuple is free. If none is, a 4-tuple only
    /// held in TIME-WAIT is taken over, if its record allows it
    /// (`takes_over`).
    /// Returns the port, the 4-tuple's hash, and for a 4-tuple taken over
    /// the `SND.NXT` of its TIME-WAIT record.
    fn ephemeral_port(
        &mut self,
        local: IpAddr,
        remote: (IpAddr, u16),
    ) -> Result<(u16, u64, Option<SeqNumber>), TcpError> {
        let (min, n) = self.ephemeral_range();
        // (Connections to one destination follow each other: its offset
        // is kept rather than hashed again.)
        let key = (local, remote.0, remote.1);
        let offset = match self.port_offset {
            Some((k, o)) if k == key => o,
            _ => {
                let o = self.secrets.port_offset(local, remote.0, remote.1);
                self.port_offset = Some((key, o));
                o
            }
        };
        let tuple = |p: u32| FourTuple {
            local,
            local_port: (min + p % n) as u16,
            remote: remote.0,
            remote_port: remote.1,
        };
        let mut in_tw = None;
        for i in 0..n {
            let t = tuple(offset.wrapping_add(self.port_counter).wrapping_add(i));
            if self.ports.contains_key(&t.local_port) {
                continue;
            }
            let h = self.tw.hash(&t);
            if self.table_get(h, &t).is_some() {
                continue;
            }
            if let Some(e) = self.tw.get(h, &t) {
                if in_tw.is_none() && takes_over(e) {
                    in_tw = Some((t, h));
                }
                continue;
            }
            self.port_counter = self.port_counter.wrapping_add(i + 1);
            return Ok((t.local_port, h, None));
        }
        let (t, h) = in_tw.ok_or(TcpError::NoPortAvailable)?;
        let reuse = self.tw.get(h, &t).map(|e| e.snd_nxt);
        self.tw.remove_hashed(h, &t);
        self.stats.time_wait_reused += 1;
        self.port_counter = self.port_counter.wrapping_add(1);
        Ok((t.local_port, h, reuse))
    }

    /// Queue the connection for `dispatch` if it has something to send.
    fn touch(&mut self, id: ConnId) {
        if let Some(c) = self.slot_conn(id.index)
            && c.mark_queued_if_output()
        {
            self.queue.push_back(id.index);
        }
    }

    /// Read received bytes: `Ok(0)` if none yet; `Err(Eof)` once the peer
    /// closed and all was read; other errors as the connection ended.
    pub fn recv(&mut self, id: ConnId, buf: &mut [u8]) -> Result<usize, TcpError> {
        let n = self.conn_mut(id)?.recv(buf)?;
        if n > 0 {
            self.touch(id);
        }
        Ok(n)
    }

    /// [`TcpEngine::recv`], registering `w` as the receive waker
    /// ([`TcpEngine::register_recv_waker`]) when it returns `Ok(0)`: one
    /// look-up of the connection for an async read's poll.
    pub fn recv_or_register(
        &mut self,
        id: ConnId,
        buf: &mut [u8],
        w: &Waker,
    ) -> Result<usize, TcpError> {
        self.io_or_register(id, w, |c| c.recv(buf), |n| *n > 0, |c| &mut c.recv_waker)
    }

    /// `io` on the connection `id`; when it `moved` nothing, `w` is
    /// registered as the waker `waker` picks, else the connection is
    /// queued if it now has output (as `touch`, with one look-up).
    #[inline(always)]
    fn io_or_register<T>(
        &mut self,
        id: ConnId,
        w: &Waker,
        io: impl FnOnce(&mut Conn) -> Result<T, TcpError>,
        moved: impl FnOnce(&T) -> bool,
        waker: impl FnOnce(&mut Conn) -> &mut Option<Waker>,
    ) -> Result<T, TcpError> {
        let c = self.conn_mut(id)?;
        let r = io(c)?;
        if !moved(&r) {
            set_waker(waker(c), w);
        } else if c.mark_queued_if_output() {
            self.queue.push_back(id.index);
        }
        Ok(r)
    }

    /// Zero-copy read: `f` sees the first contiguous received bytes and
    /// returns how many it consumed (and a value passed back).
    pub fn recv_with<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&[u8]) -> (usize, R),
    ) -> Result<R, TcpError> {
        let r = self.conn_mut(id)?.recv_with(f)?;
        self.touch(id);
        Ok(r)
    }

    /// In-place read for an asynchronous reader: when received bytes are
    /// held, or the stream ended, `f` (taken out of its option) sees the
    /// first contiguous run of them, empty at the end of the stream, and
    /// returns how many it consumed and a value, which this returns;
    /// otherwise `w` is registered as the receive waker and this returns
    /// `Ok(None)`. Errors as [`TcpEngine::recv`]'s, but for the end of
    /// the stream, which is `f`'s empty slice here.
    pub fn recv_with_or_register<R, F: FnOnce(&[u8]) -> (usize, R)>(
        &mut self,
        id: ConnId,
        f: &mut Option<F>,
        w: &Waker,
    ) -> Result<Option<R>, TcpError> {
        self.io_or_register(
            id,
            w,
            |c| c.recv_in_place(f),
            Option::is_some,
            |c| &mut c.recv_waker,
        )
    }

    /// In-place write for an asynchronous writer: when the send buffer has
    /// room, `f` (taken out of its option) writes into the start of its
    /// first contiguous free run (never empty; the old bytes there are
    /// unspecified) and returns how many bytes it wrote and a value, which
    /// this returns; otherwise `w` is registered as the send waker and
    /// this returns `Ok(None)`. Errors as [`TcpEngine::send`].
    pub fn send_with_or_register<R, F: FnOnce(&mut [u8]) -> (usize, R)>(
        &mut self,
        id: ConnId,
        f: &mut Option<F>,
        w: &Waker,
    ) -> Result<Option<R>, TcpError> {
        self.io_or_register(
            id,
            w,
            |c| c.send_in_place(f),
            Option::is_some,
            |c| &mut c.send_waker,
        )
    }

    /// Queue bytes to send; returns how many fit (0 if the buffer is full).
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> Result<usize, TcpError> {
        let n = self.conn_mut(id)?.send(data)?;
        if n > 0 {
            self.touch(id);
        }
        Ok(n)
    }

    /// [`TcpEngine::send`], registering `w` as the send waker
    /// ([`TcpEngine::register_send_waker`]) when it returns `Ok(0)`.
    pub fn send_or_register(
        &mut self,
        id: ConnId,
        data: &[u8],
        w: &Waker,
    ) -> Result<usize, TcpError> {
        self.io_or_register(id, w, |c| c.send(data), |n| *n > 0, |c| &mut c.send_waker)
    }

    /// Zero-copy write: `f` fills the first contiguous free part of the
    /// send buffer and returns how many bytes it wrote (and a value).
    pub fn send_with<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<R, TcpError> {
        let r = self.conn_mut(id)?.send_with(f)?;
        self.touch(id);
        Ok(r)
    }

    /// Queue bytes to send as urgent data (RFC 9293 section 3.9's SEND
    /// with the urgent flag): as [`TcpEngine::send`], and the byte after
    /// the last one queued becomes the send urgent pointer (`SND.UP`, which
    /// only moves forward). Every segment sent before it (data,
    /// retransmissions, probes, ACKs) carries URG and the pointer until
    /// the urgent data is acknowledged, and Nagle's algorithm holds none
    /// of it back. The bytes stay in the stream, in order.
    pub fn send_urgent(&mut self, id: ConnId, data: &[u8]) -> Result<usize, TcpError> {
        let n = self.conn_mut(id)?.send_urgent(data)?;
        if n > 0 {
            self.touch(id);
        }
        Ok(n)
    }

    /// [`TcpEngine::send_urgent`], registering `w` as the send waker
    /// ([`TcpEngine::register_send_waker`]) when it returns `Ok(0)`.
    pub fn send_urgent_or_register(
        &mut self,
        id: ConnId,
        data: &[u8],
        w: &Waker,
    ) -> Result<usize, TcpError> {
        self.io_or_register(
            id,
            w,
            |c| c.send_urgent(data),
            |n| *n > 0,
            |c| &mut c.send_waker,
        )
    }

    /// The urgent data the application has yet to read (RFC 9293 MUST-33):
    /// the number of bytes from the next one `recv` returns up to and
    /// including the peer's last urgent byte (some of which may not have
    /// arrived yet), or `None` when no urgent data remains to be read. The
    /// urgent bytes are in the stream as any other (in line: `recv` returns
    /// them in order and does not stop at them).
    pub fn urgent(&self, id: ConnId) -> Result<Option<usize>, TcpError> {
        Ok(self.conn(id)?.urgent())
    }

    /// The urgent notification (RFC 9293 MUST-32): `Ready(Ok(n))`, `n` as
    /// [`TcpEngine::urgent`] returns it, once the peer's urgent pointer
    /// arrived while no urgent data was pending, or advanced, since the
    /// last `Ready` (a pointer whose urgent data was all read before this
    /// poll is not reported: nothing urgent remains); `Ready(Err)` once
    /// none can come any more (`Eof` after the peer's FIN, the
    /// connection's error, or `Closed`); else `Pending`, with `w`
    /// registered to be woken when that changes.
    pub fn poll_urgent(&mut self, id: ConnId, w: &Waker) -> Poll<Result<usize, TcpError>> {
        match self.conn_mut(id) {
            Ok(c) => c.poll_urgent(w),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Room in the send buffer.
    pub fn send_capacity(&self, id: ConnId) -> Result<usize, TcpError> {
        Ok(self.conn(id)?.tx.free())
    }

    /// Whether `recv` would return data, end of stream or an error.
    pub fn can_recv(&self, id: ConnId) -> Result<bool, TcpError> {
        Ok(self.conn(id)?.readable())
    }

    /// Whether `send` would take bytes or return an error (rather than
    /// `Ok(0)` for a full send buffer).
    pub fn can_send(&self, id: ConnId) -> Result<bool, TcpError> {
        Ok(self.conn(id)?.writable())
    }

    /// Shut down writing: a FIN follows what is queued. Again, or once
    /// the connection ended in order, nothing more to do: `Ok`. On a
    /// connection that failed (reset, timed out), its error: the peer will
    /// not read the end of the stream.
    pub fn shutdown_write(&mut self, id: ConnId) -> Result<(), TcpError> {
        let c = self.conn_mut(id)?;
        if let Some(e) = c.error {
            return Err(e);
        }
        c.shutdown_write();
        self.touch(id);
        Ok(())
    }

    /// Give up the handle. The connection closes in an orderly way in the
    /// background (or with a RST if received data was left unread, as RFC
    /// 2525 section 2.17 recommends) and is reclaimed when done.
    pub fn close(&mut self, id: ConnId) -> Result<(), TcpError> {
        let c = self.conn_mut(id)?;
        if !c.rx.is_empty() && c.state.is_synchronized() {
            return self.abort(id);
        }
        c.owner = Owner::Orphan;
        // An orphan gives up after `max_retries` probes of a shut window
        // (`Conn::on_timer`), counted from here: those of the window shut
        // while the application still held the connection were answered,
        // and a peer about to open it must get what was written. (Linux
        // counts them all, and gives up at the orphan's first probe.)
        c.persist_backoff = 0;
        match c.state {
            State::Closed | State::SynSent => {
                c.terminate(None);
                self.reclaim(id.index);
                return Ok(());
            }
            State::TimeWait if !c.ack_now => {
                let at = c.close_at.unwrap_or(0);
                self.retire_to_time_wait(id.index, at);
                return Ok(());
            }
            // With the ACK of the peer's FIN still due, the connection
            // waits for `dispatch` to send it, then is retired (see
            // `after_event_lifecycle`). FIN-WAIT-2 gets its give-up timer
            // from `arm_timers` on the next dispatch.
            State::TimeWait | State::FinWait2 => {}
            _ => c.shutdown_write(),
        }
        c.recv_waker = None;
        c.send_waker = None;
        c.state_waker = None;
        c.urg_waker = None;
        self.queue_for_timers(id.index);
        self.orphans.push_back(id);
        if self.orphans.len() > 2 * self.config.max_connections {
            let slots = &self.slots;
            self.orphans.retain(|o| {
                slots.get(o.index as usize).is_some_and(|s| {
                    s.generation == o.generation
                        && s.conn.as_ref().is_some_and(|c| c.owner == Owner::Orphan)
                })
            });
        }
        Ok(())
    }

    /// Makes room for one more connection at `max_connections` by
    /// resetting the oldest orphan still closing (Linux resets orphans
    /// too, past `tcp_max_orphans`): connections the application gave up
    /// must not keep out those it makes or accepts (a peer that never
    /// acknowledges a FIN would otherwise hold a slot for minutes).
    /// Connections the application holds, and half-open ones, are never
    /// taken. Whether a slot was freed.
    fn evict_orphan(&mut self) -> bool {
        while let Some(id) = self.orphans.pop_front() {
            let live = self
                .slots
                .get(id.index as usize)
                .filter(|s| s.generation == id.generation)
                .and_then(|s| s.conn.as_deref())
                .is_some_and(|c| c.owner == Owner::Orphan && c.state != State::Closed);
            if live {
                self.abort_idx(id.index);
                self.stats.orphans_evicted += 1;
                return true;
            }
        }
        false
    }

    /// Queues the connection for the next dispatch even with nothing to
    /// send: dispatch arms its timers (a changed option, a close).
    fn queue_for_timers(&mut self, idx: u32) {
        if let Some(c) = self.slot_conn(idx)
            && !c.queued
        {
            c.queued = true;
            self.queue.push_back(idx);
        }
    }

    /// Reset the connection (RST to the peer on the next `dispatch`) and
    /// reclaim it at once.
    pub fn abort(&mut self, id: ConnId) -> Result<(), TcpError> {
        self.conn(id)?;
        self.abort_idx(id.index);
        Ok(())
    }

    fn abort_idx(&mut self, idx: u32) {
        let Some(c) = self.slot_conn(idx) else { return };
        if c.state.is_synchronized() || c.state == State::SynReceived {
            let r = PendingRst::abort(c);
            self.push_pending(r);
        }
        if let Some(c) = self.slot_conn(idx) {
            c.terminate(Some(TcpError::Reset));
        }
        self.reclaim(idx);
    }

    /// The connection's state.
    pub fn state(&self, id: ConnId) -> Result<State, TcpError> {
        Ok(self.conn(id)?.state)
    }

    /// Our and the peer's endpoints.
    pub fn endpoints(&self, id: ConnId) -> Result<(Endpoint, Endpoint), TcpError> {
        let c = self.conn(id)?;
        Ok((
            (c.tuple.local, c.tuple.local_port),
            (c.tuple.remote, c.tuple.remote_port),
        ))
    }

    /// A snapshot of the connection.
    pub fn info(&self, id: ConnId) -> Result<ConnInfo, TcpError> {
        let c = self.conn(id)?;
        Ok(ConnInfo {
            state: c.state,
            local: (c.tuple.local, c.tuple.local_port),
            remote: (c.tuple.remote, c.tuple.remote_port),
            bytes_in_flight: c.snd_max.since(c.snd_una),
            send_queue: c.tx.len(),
            recv_queue: c.rx.len(),
            cwnd: c.cc.cwnd,
            ssthresh: c.cc.ssthresh,
            srtt_ns: c.rtt.srtt(),
            rto_ns: c.rtt.rto(),
            user_timeout_ns: c.user_timeout,
            mss: c.mss,
            peer_window: c.snd_wnd,
            window_scale: c.wscale_ok.then_some((c.rcv_wscale, c.snd_wscale)),
            timestamps: c.ts_ok,
            sack: c.sack_ok,
            congestion: c.cc.algorithm(),
            retransmits: c.retransmits,
            consecutive_timeouts: c.retries,
            segments_out: c.segs_out,
            segments_in: c.segs_in,
            dscp: c.dscp,
            ecn: c.ecn.ok(),
        })
    }

    /// Turn Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&mut self, id: ConnId, nodelay: bool) -> Result<(), TcpError> {
        self.conn_mut(id)?.nodelay = nodelay;
        self.touch(id);
        Ok(())
    }

    /// Choose the congestion control of this connection (the window and
    /// threshold carry over).
    pub fn set_congestion(
        &mut self,
        id: ConnId,
        algo: CongestionAlgorithm,
    ) -> Result<(), TcpError> {
        self.conn_mut(id)?.cc.set_algorithm(algo);
        Ok(())
    }

    /// Turn keep-alive on with these parameters, or off. The idle time
    /// counts from the next dispatch, which arms the timer even if nothing
    /// else happens on the connection.
    pub fn set_keepalive(&mut self, id: ConnId, k: Option<KeepAlive>) -> Result<(), TcpError> {
        let c = self.conn_mut(id)?;
        c.keepalive = k;
        c.keepalive_at = None;
        c.probes_out = 0;
        self.queue_for_timers(id.index);
        Ok(())
    }

    /// Set the connection's user timeout, or clear it (`None`: the counts
    /// of [`Config`] decide); see [`Flow::set_user_timeout`]. A timer due
    /// after the end of a wait already under way is brought forward.
    pub fn set_user_timeout(
        &mut self,
        id: ConnId,
        timeout_ns: Option<u64>,
    ) -> Result<(), TcpError> {
        self.conn_mut(id)?.set_user_timeout(timeout_ns);
        self.queue_for_timers(id.index);
        Ok(())
    }

    /// Set the DiffServ codepoint of the connection's segments from now on
    /// (see [`Flow::set_dscp`]); [`TcpError::InvalidArgument`] above 63.
    pub fn set_dscp(&mut self, id: ConnId, dscp: u8) -> Result<(), TcpError> {
        if dscp > MAX_DSCP {
            return Err(TcpError::InvalidArgument);
        }
        self.conn_mut(id)?.dscp = dscp;
        Ok(())
    }

    /// Register the waker woken when data (or end of stream, or an error)
    /// arrives.
    pub fn register_recv_waker(&mut self, id: ConnId, w: &Waker) -> Result<(), TcpError> {
        set_waker(&mut self.conn_mut(id)?.recv_waker, w);
        Ok(())
    }

    /// Register the waker woken when send buffer space frees (or an error).
    pub fn register_send_waker(&mut self, id: ConnId, w: &Waker) -> Result<(), TcpError> {
        set_waker(&mut self.conn_mut(id)?.send_waker, w);
        Ok(())
    }

    /// The connect future's poll: `Ready(Ok)` once the handshake is over,
    /// `Ready(Err)` if it failed, else `Pending` with `w` registered as
    /// the state waker. Once ready, the state waker is dropped: nobody
    /// waits for the connection's later state changes.
    pub(crate) fn poll_connected(&mut self, id: ConnId, w: &Waker) -> Poll<Result<(), TcpError>> {
        let c = match self.conn_mut(id) {
            Ok(c) => c,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let r = match c.state {
            State::SynSent | State::SynReceived => {
                set_waker(&mut c.state_waker, w);
                return Poll::Pending;
            }
            State::Closed => Err(c.recv(&mut []).err().unwrap_or(TcpError::Closed)),
            _ => Ok(()),
        };
        c.state_waker = None;
        Poll::Ready(r)
    }

    /// Register the waker woken on every state change.
    pub fn register_state_waker(&mut self, id: ConnId, w: &Waker) -> Result<(), TcpError> {
        set_waker(&mut self.conn_mut(id)?.state_waker, w);
        Ok(())
    }
}

fn set_waker(slot: &mut Option<Waker>, w: &Waker) {
    match slot {
        Some(old) if old.will_wake(w) => {}
        _ => *slot = Some(w.clone()),
    }
}
