//! Configuration of a [`super::TcpEngine`], with documented defaults.

pub use super::congestion::CongestionAlgorithm;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// The longest an ACK may be delayed (RFC 1122 section 4.2.3.2).
pub(crate) const MAX_DELAYED_ACK_NS: u64 = 500 * MS;

/// Keep-alive probing (RFC 9293 section 3.8.4; off unless asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Idle time before the first probe.
    pub idle_ns: u64,
    /// Time between unanswered probes.
    pub interval_ns: u64,
    /// Unanswered probes before the connection is dropped.
    pub count: u32,
}

impl Default for KeepAlive {
    /// Linux's defaults: 2 hours idle, 75 s between probes, 9 probes.
    fn default() -> Self {
        KeepAlive {
            idle_ns: 7200 * S,
            interval_ns: 75 * S,
            count: 9,
        }
    }
}

/// Explicit Congestion Notification (RFC 3168) of new connections: what
/// [`Config::ecn`] allows. A connection uses ECN only if both ends agree
/// in the handshake ([`crate::net::tcp::ConnInfo::ecn`] tells); then its
/// new data segments are sent ECN-capable (ECT(0)), a router may mark them
/// Congestion Experienced instead of dropping them, the receiver echoes
/// the mark (ECE) and the sender reduces its window as for a loss, without
/// a retransmission, at most once a round trip, answering with CWR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ecn {
    /// Never: SYNs do not ask for it, and a peer's request is declined.
    Off,
    /// Accept it when the peer's SYN asks for it, without asking on our
    /// own SYNs (Linux's default, `net.ipv4.tcp_ecn = 2`).
    #[default]
    Passive,
    /// Ask for it on our SYNs too (`net.ipv4.tcp_ecn = 1`).
    On,
}

/// Limits, timeouts and behaviour of the TCP. Times are in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Send buffer per connection, bytes (default 128 KiB).
    pub send_buffer: usize,
    /// Receive buffer per connection, bytes; the largest window advertised
    /// (default 128 KiB).
    pub recv_buffer: usize,
    /// Connections held at once: open, opening, closing or orphaned, but
    /// not TIME-WAIT (default 1024). With the buffers this bounds memory:
    /// `max_connections * (send_buffer + recv_buffer)`. At the bound, a
    /// connection the application makes (or a SYN cookie completes) takes
    /// the slot of the oldest orphan still closing, which is reset
    /// (`Stats::orphans_evicted`); otherwise it is refused.
    pub max_connections: usize,
    /// TIME-WAIT records kept (small: no buffers); when full the oldest is
    /// dropped early (default 4096).
    pub max_time_wait: usize,
    /// Upper bound on a listener's backlog (half-open plus not yet
    /// accepted connections); beyond it SYNs are answered with SYN cookies
    /// (default 128).
    pub max_backlog: usize,
    /// Use SYN cookies when a backlog is full or `max_connections` is
    /// reached (default true); otherwise such SYNs are dropped (a cookie's
    /// ACK opens a connection only once there is room again).
    pub syn_cookies: bool,
    /// Congestion control of new connections (default CUBIC).
    pub congestion: CongestionAlgorithm,
    /// CUBIC's first slow start follows HyStart++ (RFC 9406, which RFC
    /// 9438 section 4.10 asks of CUBIC; default true): once the least round
    /// trip of a round (timed by the timestamp echoes, so only with
    /// timestamps: a round trip timed once a flight gives too few samples)
    /// exceeds the last round's by an eighth of it (between 4 and 16 ms),
    /// the window grows a quarter as fast for five rounds, then congestion
    /// avoidance takes over without waiting for the loss that a queue
    /// overflowing at the bottleneck would cause (`Stats::hystart_exits`).
    /// A loss or congestion mark before that ends slow start as without
    /// it; later slow starts (after a timeout) are the standard one.
    /// NewReno's slow start is always RFC 5681's.
    pub hystart: bool,
    /// Offer window scaling (default true).
    pub window_scaling: bool,
    /// Offer timestamps (default true).
    pub timestamps: bool,
    /// Offer selective acknowledgments (default true).
    pub sack: bool,
    /// Nagle's algorithm off for new connections (default false: Nagle on).
    pub nodelay: bool,
    /// The time to live (IPv4) or hop limit (IPv6) of the segments sent
    /// (RFC 9293 section 3.9.1.1, MUST-49: configurable); `None` (the
    /// default) leaves it to the IP layer: 64, or over IPv6 the hop limit a
    /// router advertised.
    pub ttl: Option<u8>,
    /// Delayed-ACK timer (default 40 ms; at most 500 ms, RFC 1122 section
    /// 4.2.3.2: a larger value counts as 500 ms); an ACK is also sent for
    /// every second full-sized segment.
    pub delayed_ack_ns: u64,
    /// Initial retransmission timeout (default 1 s, RFC 6298).
    pub initial_rto_ns: u64,
    /// The least margin of the retransmission timeout over the smoothed
    /// round trip, and so its lower bound (default 200 ms): the timeout is
    /// `SRTT + max(4 * RTTVAR, min_rto_ns)`, as Linux's, where RFC 6298
    /// says `SRTT + 4 * RTTVAR` and at least 1 s.
    pub min_rto_ns: u64,
    /// Upper bound of the retransmission timeout (default 60 s).
    pub max_rto_ns: u64,
    /// Retransmissions of the SYN of `connect` before giving up (default
    /// 7: the attempt ends 183 s after the first SYN with the default
    /// timeouts, as RFC 9293 section 3.8.3 requires at least 3 minutes;
    /// Linux's 6 give 127 s). An application gives up sooner by dropping
    /// the `connect` future.
    pub syn_retries: u32,
    /// Retransmissions of the SYN-ACK answering a peer's SYN before the
    /// half-open connection gives up and frees its backlog slot (default
    /// 6: 123 s).
    pub synack_retries: u32,
    /// Retransmissions of data or FIN, or zero-window probes the peer
    /// leaves unanswered, before giving up (default 15).
    pub max_retries: u32,
    /// R1 of RFC 9293 section 3.8.3 (default 3, its least): from this
    /// many retransmission timeouts in a row of the same data (or SYN, or
    /// SYN-ACK) on, each further one passes negative advice to the IP
    /// layer ([`crate::net::ip::Ip::negative_advice`]: the first hop's
    /// link address is checked, a redirect forgotten), and the
    /// application sees a delivery problem
    /// ([`crate::net::tcp::Flow::consecutive_timeouts`]). Zero-window and
    /// keep-alive probes count alike: each probe sent after this many
    /// went unanswered passes the advice too. 0 turns the advice off.
    pub r1_retries: u32,
    /// Black-hole detection (default false, as Linux's
    /// `net.ipv4.tcp_mtu_probing = 0`). A path that drops packets as large
    /// as ours without reporting it (a router or firewall that filters the
    /// ICMP reports path MTU discovery relies on, RFC 2923 section 2.1)
    /// stalls a connection until it times out. With detection, every
    /// retransmission timeout in a row from `r1_retries` on (RFC 9293's
    /// "the path may be broken"; none with `r1_retries` 0) lowers the
    /// segment size below that of the segment it resends, as Linux's
    /// `tcp_mtu_probing = 1` does: to 1,024 bytes if it was larger, else to
    /// half of it, never below what the smallest path MTU carries (552
    /// bytes over IPv4, 1,280 over IPv6). What is in flight goes again in
    /// the new size; full segments are tried again ten minutes later, as
    /// after an ICMP report (`Stats::black_hole_decreases` and
    /// `Stats::pmtu_increases` count). The cost on a path that only lost
    /// many packets in a row is smaller segments for ten minutes.
    pub black_hole_detection: bool,
    /// The user timeout of new connections (default none): when set, a
    /// connection gives up after this long without progress rather than
    /// after `syn_retries`, `synack_retries`, `max_retries` or a
    /// keep-alive probe count. See
    /// [`crate::net::tcp::Flow::set_user_timeout`], which sets it for one
    /// connection; this also covers the opening handshake.
    pub user_timeout_ns: Option<u64>,
    /// Maximum segment lifetime; TIME-WAIT lasts twice this (default 30 s).
    pub msl_ns: u64,
    /// How long a connection closed by the application waits in
    /// FIN-WAIT-2 for the peer's FIN (default 60 s).
    pub fin_wait2_timeout_ns: u64,
    /// Keep-alive for new connections (default none).
    pub keepalive: Option<KeepAlive>,
    /// Challenge ACKs (RFC 5961) sent per second at most by each
    /// connection, and by all TIME-WAIT records together (default 1000).
    pub challenge_ack_limit: u32,
    /// First ephemeral port (default 49152, RFC 6335).
    pub ephemeral_min: u16,
    /// Last ephemeral port (default 65535).
    pub ephemeral_max: u16,
    /// Buffers kept for reuse by new connections, saving allocation and
    /// zeroing on connection churn (default 64).
    pub buffer_pool: usize,
    /// The DiffServ codepoint (RFC 2474, 0 to 63; only the low 6 bits
    /// count) of the segments of new connections (default 0, best effort;
    /// RFC 9293 section 3.9.1, MUST-48), as the type of service or traffic
    /// class byte `dscp << 2` (the ECN bits are the TCP's: see
    /// [`Config::ecn`]). Accepted connections
    /// take it too, not the DSCP of the peer's SYN (RFC 9293 leaves the
    /// choice; Linux's default, which gives them the listening socket's).
    /// Segments for no connection (RSTs, SYN-ACKs with a SYN cookie) carry
    /// it as well. [`crate::net::tcp::Flow::set_dscp`] changes it for one
    /// connection.
    pub dscp: u8,
    /// Explicit Congestion Notification (RFC 3168; RFC 9293 section 3.8.2,
    /// SHLD-8) of new connections (default [`Ecn::Passive`], as Linux:
    /// accepted when a peer asks, not asked for). A connection opened by
    /// a SYN cookie never uses it (the cookie has no room to remember the
    /// request: the cookie's SYN-ACK declines it).
    pub ecn: Ecn,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            send_buffer: 128 * 1024,
            recv_buffer: 128 * 1024,
            max_connections: 1024,
            max_time_wait: 4096,
            max_backlog: 128,
            syn_cookies: true,
            congestion: CongestionAlgorithm::Cubic,
            hystart: true,
            window_scaling: true,
            timestamps: true,
            sack: true,
            nodelay: false,
            ttl: None,
            delayed_ack_ns: 40 * MS,
            initial_rto_ns: S,
            min_rto_ns: 200 * MS,
            max_rto_ns: 60 * S,
            syn_retries: 7,
            synack_retries: 6,
            max_retries: 15,
            r1_retries: 3,
            black_hole_detection: false,
            user_timeout_ns: None,
            msl_ns: 30 * S,
            fin_wait2_timeout_ns: 60 * S,
            keepalive: None,
            challenge_ack_limit: 1000,
            ephemeral_min: 49152,
            ephemeral_max: 65535,
            buffer_pool: 64,
            dscp: 0,
            ecn: Ecn::Passive,
        }
    }
}
