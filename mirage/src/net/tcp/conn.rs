//! One connection's state (the transmission control block of RFC 9293
//! section 3.3.1), its construction for active and passive opens, and the
//! application's operations on it. Segment arrival is in `state.rs`,
//! segment generation in `output.rs`, timers in `timers.rs`.

use super::assembler::{Assembler, ranges_for};
use super::config::{Config, KeepAlive};
use super::congestion::Congestion;
use super::ecn::EcnState;
use super::prr::Prr;
use super::ring::Ring;
use super::sack::{OwedSacks, Scoreboard};
use super::secret::FourTuple;
use super::state::{RateLimit, State};
use super::timers::Rtt;
use super::{ListenerId, TcpError};
use crate::net::wire::checksum::PseudoHeader;
use crate::net::wire::tcp::{SackBlock, SeqNumber};
use alloc::vec::Vec;
use core::net::IpAddr;
use core::task::Waker;

/// What a spurious retransmission undoes, and what tells that it was (see
/// `Conn::undo`).
#[derive(Debug, Clone)]
pub(crate) struct Undo {
    /// Our timestamp clock at the retransmission (a timeout's, or a fast
    /// retransmit's), until Eifel's test has been made (RFC 3522: at the
    /// first acknowledgment of new data): the retransmissions carry it or
    /// later, so an acknowledgment that echoes an earlier one answers a
    /// segment sent before. `None` without timestamps.
    pub(crate) tsval: Option<u32>,
    /// The ranges retransmitted since the loss response (one per segment,
    /// a range resent twice twice) that no D-SACK block has reported as
    /// duplicates yet (RFC 3708): once they all are, the peer had every
    /// original, and no retransmission was needed. At most
    /// [`MAX_UNDO_RANGES`]; `None` once more were resent (D-SACK then
    /// tells nothing, as without SACK).
    pub(crate) resent: Option<Vec<(SeqNumber, SeqNumber)>>,
    /// The highest sequence number retransmitted before the loss response
    /// (`Conn::rxt_max` then): a range below it resent now may have been
    /// resent in an earlier episode, whose copy arriving with this one's
    /// draws a D-SACK that says nothing of the original, and the
    /// acknowledgment that repairs it may echo the earlier copy's
    /// timestamp. Such a resend gives D-SACK and Eifel up for the episode
    /// (RFC 3708 section 5 and RFC 3522 section 3.2: both tell a spurious
    /// retransmission only against a segment's first one), lest an undo
    /// end recovery with the holes still there and the next recovery resend
    /// them all again (a retransmission storm: see
    /// `tests::bulk::an_undo_does_not_turn_a_burst_loss_into_a_retransmission_storm`).
    pub(crate) floor: Option<SeqNumber>,
    /// Once the loss response is over (recovery ended, the flight a
    /// timeout took back acknowledged): `SND.MAX` then. The record goes
    /// when data after it is acknowledged: the D-SACKs of the episode's
    /// retransmissions come before the acknowledgment of what followed
    /// them.
    pub(crate) until: Option<SeqNumber>,
    /// The loss response was a retransmission timeout's (else a fast
    /// retransmit's).
    pub(crate) timeout: bool,
    /// The congestion state before the loss response cut it.
    pub(crate) cc: Congestion,
}

/// The most retransmitted ranges an undo record follows.
pub(crate) const MAX_UNDO_RANGES: usize = 64;

impl Undo {
    /// `[start, end)` was retransmitted.
    pub(crate) fn resent(&mut self, start: SeqNumber, end: SeqNumber) {
        if self.floor.is_some_and(|f| start < f) {
            self.resent = None;
            self.tsval = None;
        }
        if let Some(ranges) = &mut self.resent {
            if ranges.len() < MAX_UNDO_RANGES {
                ranges.push((start, end));
            } else {
                self.resent = None;
            }
        }
    }

    /// A D-SACK block reported `[l, r)` as received twice: the
    /// retransmissions inside it (one per distinct range) are accounted
    /// for. Whether every retransmission now is, so that none was needed.
    pub(crate) fn reported_twice(&mut self, l: SeqNumber, r: SeqNumber) -> bool {
        let Some(ranges) = &mut self.resent else {
            return false;
        };
        if l >= r {
            return false;
        }
        // (A bit per range: at most MAX_UNDO_RANGES = 64 of them.)
        let mut gone = 0u64;
        for i in 0..ranges.len() {
            let (s, e) = ranges[i];
            let twin = (0..i).any(|j| gone & (1 << j) != 0 && ranges[j] == (s, e));
            if l <= s && e <= r && !twin {
                gone |= 1 << i;
            }
        }
        if gone == 0 {
            return false;
        }
        let mut i = 0;
        ranges.retain(|_| {
            let keep = gone & (1 << i) == 0;
            i += 1;
            keep
        });
        ranges.is_empty()
    }
}

/// Who holds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The application, through a `ConnId`.
    User,
    /// A listener, while half-open (SYN-RECEIVED).
    Listener(ListenerId),
    /// A listener's accept queue: established, not yet accepted.
    Queued(ListenerId),
    /// Nobody: closed by the application, finishing in the background.
    Orphan,
}

/// What the probe timeout adds to two round trips (Linux's
/// `TCP_TIMEOUT_MIN`, two ticks).
pub(crate) const PTO_SLACK_NS: u64 = 2_000_000;
/// What the probe timeout adds when one segment is in flight: the longest
/// a receiver may delay its ACK of it (RFC 8985's `WCDelAckT`, 200 ms;
/// Linux adds `TCP_RTO_MIN`, the same). Not our own delayed-ACK setting:
/// peers delay up to 200 ms (Windows, Linux's adaptive `ato`), and a probe
/// sent before their ACK is needless and, without timestamps, leaves the
/// segment with no RTT sample (Karn).
pub(crate) const PTO_DELAYED_ACK_NS: u64 = 200_000_000;
/// The smallest payload per segment we accept to send (a peer announcing
/// a tiny MSS cannot make us send floods of tiny segments).
pub(crate) const MIN_MSS: usize = 64;

/// How long after a path MTU report lowered the segment size it is
/// looked at again (RFC 1191 section 6.3's 10 minutes, the IP layers'
/// lifetime of a report).
pub(crate) const PMTU_RECHECK_NS: u64 = 600_000_000_000;

/// The segment size black-hole detection falls back to first
/// ([`crate::net::tcp::Config::black_hole_detection`]): Linux's
/// `tcp_base_mss`, which RFC 4821 section 7.2 suggests as the search's
/// starting point for IPv4 (1,024 bytes of payload).
pub(crate) const BLACK_HOLE_BASE_MSS: usize = 1024;

/// The least time between two SYN-ACKs sent again for duplicate SYNs in
/// SYN-RECEIVED (Linux's `tcp_invalid_ratelimit`): a peer that missed
/// our SYN-ACK resends its SYN after a second or more, while SYNs spoofed
/// at a high rate would otherwise each draw a SYN-ACK towards their
/// victim.
pub(crate) const DUP_SYN_INTERVAL_NS: u64 = 500_000_000;

/// The smallest IPv4 path MTU a fragmentation-needed report can set: the
/// IP layer's floor ([`crate::net::ipv4::MIN_PATH_MTU`], Linux's
/// `min_pmtu`), so that a forged report cannot make a connection crawl in
/// tiny segments. (Old routers' reports without an MTU reach TCP with the
/// ICMP layer's estimate.)
pub(crate) const MIN_PMTU_V4: usize = crate::net::ipv4::MIN_PATH_MTU;
/// The smallest IPv6 path MTU (RFC 8200 section 5, RFC 8201 section 4: a
/// packet-too-big report below it is taken as this).
pub(crate) const MIN_PMTU_V6: usize = crate::net::ipv6::MIN_MTU;

/// RFC 9293's default MSS when the peer sends none (IPv4; IPv6 uses 1220).
pub(crate) const DEFAULT_MSS_V4: usize = 536;
const DEFAULT_MSS_V6: usize = 1220;

/// The transmission control block.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) tuple: FourTuple,
    pub(crate) ph: PseudoHeader,
    pub(crate) state: State,
    pub(crate) owner: Owner,
    /// Why the connection ended abnormally, once it has.
    pub(crate) error: Option<TcpError>,
    /// Opened by a listener (a RST in SYN-RECEIVED drops it silently).
    pub(crate) passive: bool,

    // Send sequence space.
    pub(crate) iss: SeqNumber,
    pub(crate) snd_una: SeqNumber,
    pub(crate) snd_nxt: SeqNumber,
    /// The highest sequence number sent (plus one); `snd_nxt` goes back
    /// below it after a retransmission timeout.
    pub(crate) snd_max: SeqNumber,
    pub(crate) snd_wnd: usize,
    pub(crate) max_snd_wnd: usize,
    pub(crate) snd_wl1: SeqNumber,
    pub(crate) snd_wl2: SeqNumber,
    /// The sequence number of the first byte of `tx`.
    pub(crate) tx_seq: SeqNumber,
    /// The application has shut down writing: a FIN follows the data.
    pub(crate) fin_queued: bool,

    // Receive sequence space.
    pub(crate) irs: SeqNumber,
    pub(crate) rcv_nxt: SeqNumber,
    /// The right edge of the window last advertised.
    pub(crate) rcv_adv: SeqNumber,
    /// A FIN seen at this sequence number, not yet reached.
    pub(crate) rx_fin: Option<SeqNumber>,
    /// The peer's FIN has been reached (no more data will come).
    pub(crate) fin_received: bool,

    // Negotiated options.
    /// Payload bytes per full-sized segment: the MSS less the timestamps'
    /// room (SACK blocks are taken off per segment, `Conn::seg_mss`).
    pub(crate) mss: usize,
    /// `mss` as the handshake settled it: what a smaller path MTU lowered
    /// may come back up to this.
    pub(crate) mss_cap: usize,
    /// While `mss` is below `mss_cap` for a path MTU report (or a local MTU
    /// that shrank): when to ask the IP layer for the path MTU again
    /// ([`PMTU_RECHECK_NS`] after the report).
    pub(crate) pmtu_recheck_at: Option<u64>,
    /// The longest segment (header included) the device's segmentation
    /// offload takes towards the peer, 0 without one: new data goes in
    /// segments of several `mss` then (`Conn::offloaded_len`). Asked of
    /// the IP layer at every dispatch turn (the offload needs the next
    /// hop's link address known).
    pub(crate) offload: usize,
    /// The MSS we announce.
    pub(crate) rcv_mss: u16,
    pub(crate) snd_wscale: u8,
    pub(crate) rcv_wscale: u8,
    /// Window scaling in use (both sides sent the option).
    pub(crate) wscale_ok: bool,
    pub(crate) ts_ok: bool,
    pub(crate) ts_recent: u32,
    pub(crate) ts_recent_ns: u64,
    pub(crate) ts_offset: u32,
    pub(crate) last_ack_sent: SeqNumber,
    pub(crate) sack_ok: bool,

    // Buffers.
    pub(crate) tx: Ring,
    pub(crate) rx: Ring,
    pub(crate) asm: Assembler,
    /// The payload of the segment being processed, already copied into
    /// the receive ring (where the next in-order byte goes) while its
    /// checksum was verified: its first sequence number, length, and the
    /// ring's length then ([`Conn::place`]).
    pub(crate) rx_placed: Option<(SeqNumber, usize, usize)>,

    // Round-trip time and loss recovery.
    pub(crate) rtt: Rtt,
    /// A timed segment: its end and when it was sent (Karn: cleared when
    /// anything is retransmitted, unless timestamps tell the samples
    /// apart).
    pub(crate) rtt_seq: Option<(SeqNumber, u64)>,
    /// Nothing was retransmitted since the timed segment left: its send
    /// time gives a sample to the nanosecond (timestamps tick in
    /// milliseconds, coarser than a fast link's round trip).
    pub(crate) rtt_clean: bool,
    /// Our timestamp clock when we last retransmitted: an echo older than
    /// this may come from an ACK that waited for that retransmission (see
    /// `Conn::echo_sample`).
    pub(crate) rexmit_ts: Option<u32>,
    pub(crate) cc: Congestion,
    pub(crate) dupacks: u32,
    /// In loss recovery until this is acknowledged.
    pub(crate) recovery: Option<SeqNumber>,
    /// Proportional Rate Reduction's accounting of the current SACK
    /// recovery (stale outside one; see `prr`).
    pub(crate) prr: Prr,
    /// The highest byte retransmitted in this recovery (plus one).
    pub(crate) high_rxt: SeqNumber,
    /// Retransmit the segment at `snd_una` now (fast retransmit, NewReno
    /// partial acknowledgment).
    pub(crate) rexmit_now: bool,
    pub(crate) sb: Scoreboard,
    /// `SND.MAX` when the latest retransmission of this recovery left:
    /// once the peer SACKs data beyond it, a hole retransmitted before
    /// and still not SACKed was lost again.
    pub(crate) rxt_mark: Option<SeqNumber>,
    /// RFC 6675's `RescueRxt`: the recovery point of the recovery that
    /// made its one rescue retransmission ([`Conn::plan`]'s rule 4).
    pub(crate) rescue_rxt: Option<SeqNumber>,
    /// `SND.MAX` when a timeout (or a smaller path MTU) took the flight
    /// back, until it is acknowledged: no loss recovery starts before
    /// (RFC 6675 section 5.1's `RecoveryPoint`, RFC 6582's `recover`).
    pub(crate) rto_recover: Option<SeqNumber>,
    /// After a fast retransmit or the first retransmission timeout of a
    /// stall, with timestamps or SACK: what is restored if the
    /// retransmissions prove spurious (by their timestamps, Eifel: RFC
    /// 3522, RFC 4015; or by D-SACK: RFC 3708), until the next loss
    /// response or the undo. Boxed: rare, and the control block stays
    /// small.
    pub(crate) undo: Option<alloc::boxed::Box<Undo>>,
    /// The end of the highest range retransmitted and not yet acknowledged
    /// whole, for [`Undo::floor`]: `None` once `SND.UNA` passed it.
    pub(crate) rxt_max: Option<SeqNumber>,

    // Timers (absolute deadlines, ns).
    pub(crate) rto_at: Option<u64>,
    pub(crate) delack_at: Option<u64>,
    pub(crate) persist_at: Option<u64>,
    pub(crate) persist_backoff: u32,
    pub(crate) keepalive_at: Option<u64>,
    /// Keep-alive or zero-window probes sent since the peer was last
    /// heard (Linux's `icsk_probes_out`).
    pub(crate) probes_out: u32,
    /// End of TIME-WAIT, FIN-WAIT-2 give-up for orphans.
    pub(crate) close_at: Option<u64>,
    /// Tail loss probe timeout (RFC 8985 section 7).
    pub(crate) tlp_at: Option<u64>,
    /// A tail loss probe is due.
    pub(crate) tlp_now: bool,
    /// A probe was sent and not yet answered by new acknowledgments.
    pub(crate) tlp_out: bool,
    /// A tail loss probe episode (RFC 8985 section 7.4): the probe, a
    /// retransmission, covered `[.0, .1)`; `.2` was `SND.NXT` then. Ends
    /// without a window cut when a D-SACK of the probe or a plain
    /// duplicate at `.2` shows that the original arrived too, with one
    /// when an acknowledgment above `.2` comes first (the probe repaired a
    /// loss).
    pub(crate) tlp_episode: Option<(SeqNumber, SeqNumber, SeqNumber)>,
    /// Consecutive retransmission timeouts.
    pub(crate) retries: u32,
    /// The user timeout (RFC 9293 section 3.8.3's R2 as a time, Linux's
    /// `TCP_USER_TIMEOUT`): with it, giving up is a matter of time without
    /// progress, not of a count of tries.
    pub(crate) user_timeout: Option<u64>,
    /// Since when the peer has acknowledged nothing new: the first send
    /// into an empty flight, or the last acknowledgment of new data
    /// (meaningful while `retries > 0`).
    pub(crate) stalled_since: u64,
    /// When the first of the unanswered probes went out (meaningful while
    /// `probes_out > 0`).
    pub(crate) probes_since: u64,
    /// When data (new or resent) last left: the window restarts after an
    /// idle time longer than the retransmission timeout (RFC 5681 section
    /// 4.1).
    pub(crate) last_data_ns: u64,

    // What to send.
    pub(crate) ack_now: bool,
    /// In-order bytes received since the last ACK we sent.
    pub(crate) unacked: usize,
    /// The peer's segment size, for "ACK every second full-sized segment":
    /// the largest payload received, lowered when the peer's segments
    /// shrink (see `Conn::smaller_segment`).
    pub(crate) rcv_seg_max: usize,
    /// The length of the last payload if it was shorter than
    /// `rcv_seg_max` (0 after a full one).
    pub(crate) rcv_seg_last: usize,
    /// Duplicate ACKs still owed for out-of-order segments that arrived in
    /// one batch (without SACK the sender counts them; capped at 3).
    pub(crate) dupacks_owed: u8,
    /// With SACK, the blocks of those duplicate ACKs.
    pub(crate) owed_sacks: OwedSacks,
    /// With SACK, the duplicate bytes of the last segment that held any,
    /// to report once as a D-SACK block (RFC 2883) in the next segment.
    pub(crate) dsack: Option<SackBlock>,
    /// In-order segments still to acknowledge at once rather than after
    /// two full segments or the delayed-ACK timer: set when out-of-order
    /// data shows the peer recovering from a loss, whose reduced window
    /// then waits for every ACK (Linux's quick-ACK mode).
    pub(crate) quickacks: u8,
    /// A zero-window or keep-alive probe is due.
    pub(crate) probe_now: bool,
    pub(crate) nodelay: bool,
    /// The DiffServ codepoint of every segment sent (0 to 63:
    /// [`Config::dscp`], or what [`crate::net::tcp::Flow::set_dscp`] set).
    pub(crate) dscp: u8,
    pub(crate) keepalive: Option<KeepAlive>,
    /// This connection's challenge ACK budget (RFC 5961 section 7; per
    /// connection, so that no connection can observe or use up another's).
    pub(crate) challenges: RateLimit,
    /// When a duplicate SYN in SYN-RECEIVED last drew our SYN-ACK again:
    /// the next is answered [`DUP_SYN_INTERVAL_NS`] later at the soonest.
    pub(crate) dup_syn_answered_ns: Option<u64>,

    // Urgent data (RFC 9293 section 3.8.5), kept in line in the stream.
    /// `SND.UP`, the sequence number after the last urgent byte queued,
    /// while urgent data is not all acknowledged (segments before it carry
    /// URG).
    pub(crate) snd_up: Option<SeqNumber>,
    /// `RCV.UP`, the peer's urgent pointer (the sequence number after its
    /// last urgent byte), while it is ahead of what the application read.
    pub(crate) rcv_up: Option<SeqNumber>,
    /// The urgent pointer arrived or advanced, and the application was not
    /// yet told ([`Conn::poll_urgent`]).
    pub(crate) urg_signal: bool,

    // Wakers.
    pub(crate) recv_waker: Option<Waker>,
    pub(crate) send_waker: Option<Waker>,
    pub(crate) state_waker: Option<Waker>,
    /// Woken when `urg_signal` is set or nothing more can arrive.
    pub(crate) urg_waker: Option<Waker>,

    // Bookkeeping of the `TcpEngine`.
    /// In the dispatch queue.
    pub(crate) queued: bool,
    /// The deadline registered in the timer queue.
    pub(crate) registered: Option<u64>,
    /// In the 4-tuple table.
    pub(crate) in_table: bool,
    /// The 4-tuple's keyed hash (set when it enters the table).
    pub(crate) hash: u64,

    // Counters.
    pub(crate) retransmits: u64,
    pub(crate) segs_out: u64,
    pub(crate) segs_in: u64,
    /// Explicit Congestion Notification (see `ecn`).
    pub(crate) ecn: EcnState,
}

/// The window-scale shift that lets a 16-bit window cover `buf` bytes.
pub(crate) fn wscale_for(buf: usize) -> u8 {
    let mut s = 0u8;
    while s < 14 && (buf >> s) > 0xffff {
        s += 1;
    }
    s
}

impl Conn {
    /// A fresh control block; `iss` from RFC 6528, storage from the pool.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn new(
        config: &Config,
        tuple: FourTuple,
        iss: SeqNumber,
        ts_offset: u32,
        owner: Owner,
        tx_storage: Vec<u8>,
        rx_storage: Vec<u8>,
        state: State,
    ) -> Conn {
        let ph = pseudo_header(&tuple);
        let mss = default_mss(tuple.remote);
        Conn {
            tuple,
            ph,
            state,
            owner,
            error: None,
            passive: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            tx_seq: iss + 1,
            fin_queued: false,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            rx_fin: None,
            fin_received: false,
            mss,
            mss_cap: mss,
            pmtu_recheck_at: None,
            offload: 0,
            rcv_mss: 0,
            snd_wscale: 0,
            rcv_wscale: initial_rcv_wscale(config),
            // What we offer on an active open; negotiation settles them.
            wscale_ok: config.window_scaling,
            ts_ok: config.timestamps,
            ts_recent: 0,
            ts_recent_ns: 0,
            ts_offset,
            last_ack_sent: SeqNumber(0),
            sack_ok: config.sack,
            asm: Assembler::with_limit(ranges_for(rx_storage.len())),
            sb: Scoreboard::with_limit(ranges_for(tx_storage.len())),
            tx: Ring::from_storage(tx_storage),
            rx: Ring::from_storage(rx_storage),
            rx_placed: None,
            rtt: Rtt::new(config.initial_rto_ns, config.min_rto_ns, config.max_rto_ns),
            rtt_seq: None,
            rtt_clean: false,
            rexmit_ts: None,
            cc: Congestion::new(config.congestion, mss, config.hystart),
            dupacks: 0,
            recovery: None,
            prr: Prr::default(),
            high_rxt: iss,
            rexmit_now: false,
            rxt_mark: None,
            rescue_rxt: None,
            rto_recover: None,
            undo: None,
            rxt_max: None,
            rto_at: None,
            delack_at: None,
            persist_at: None,
            persist_backoff: 0,
            keepalive_at: None,
            probes_out: 0,
            close_at: None,
            tlp_at: None,
            tlp_now: false,
            tlp_out: false,
            tlp_episode: None,
            retries: 0,
            user_timeout: config.user_timeout_ns,
            stalled_since: 0,
            probes_since: 0,
            last_data_ns: 0,
            ack_now: false,
            unacked: 0,
            rcv_seg_max: 0,
            rcv_seg_last: 0,
            dupacks_owed: 0,
            owed_sacks: OwedSacks::default(),
            dsack: None,
            quickacks: 0,
            probe_now: false,
            nodelay: config.nodelay,
            dscp: config.dscp,
            keepalive: config.keepalive,
            challenges: RateLimit::new(config.challenge_ack_limit),
            dup_syn_answered_ns: None,
            snd_up: None,
            rcv_up: None,
            urg_signal: false,
            recv_waker: None,
            send_waker: None,
            state_waker: None,
            urg_waker: None,
            queued: false,
            registered: None,
            in_table: false,
            hash: 0,
            retransmits: 0,
            segs_out: 0,
            segs_in: 0,
            ecn: EcnState::new(config),
        }
    }

    /// Make a reclaimed control block ([`Conn::release`] was called) a
    /// fresh one, as [`Conn::new`] would with its buffers' storage, field
    /// by field in place: no control block is built aside and copied
    /// over, the buffers stay (emptied: their stale bytes are never
    /// exposed before being overwritten), and the scoreboard's and
    /// assembler's arrays are only emptied (their stale entries are never
    /// read). The destructuring names every field, so that a field added
    /// to `Conn` and not reset here does not compile.
    #[inline(always)]
    pub(crate) fn reset(
        &mut self,
        config: &Config,
        tuple: FourTuple,
        iss: SeqNumber,
        ts_offset: u32,
        owner: Owner,
        state: State,
    ) {
        let mss = default_mss(tuple.remote);
        let Conn {
            tuple: c_tuple,
            ph,
            state: c_state,
            owner: c_owner,
            error,
            passive,
            iss: c_iss,
            snd_una,
            snd_nxt,
            snd_max,
            snd_wnd,
            max_snd_wnd,
            snd_wl1,
            snd_wl2,
            tx_seq,
            fin_queued,
            irs,
            rcv_nxt,
            rcv_adv,
            rx_fin,
            fin_received,
            mss: c_mss,
            mss_cap,
            pmtu_recheck_at,
            offload,
            rcv_mss,
            snd_wscale,
            rcv_wscale,
            wscale_ok,
            ts_ok,
            ts_recent,
            ts_recent_ns,
            ts_offset: c_ts_offset,
            last_ack_sent,
            sack_ok,
            tx,
            rx,
            asm,
            rx_placed,
            rtt,
            rtt_seq,
            rtt_clean,
            rexmit_ts,
            cc,
            dupacks,
            recovery,
            prr,
            high_rxt,
            rexmit_now,
            sb,
            rxt_mark,
            rescue_rxt,
            rto_recover,
            undo,
            rxt_max,
            rto_at,
            delack_at,
            persist_at,
            persist_backoff,
            keepalive_at,
            probes_out,
            close_at,
            tlp_at,
            tlp_now,
            tlp_out,
            tlp_episode,
            retries,
            user_timeout,
            stalled_since,
            probes_since,
            last_data_ns,
            ack_now,
            unacked,
            rcv_seg_max,
            rcv_seg_last,
            dupacks_owed,
            owed_sacks,
            dsack,
            quickacks,
            probe_now,
            nodelay,
            dscp,
            keepalive,
            challenges,
            dup_syn_answered_ns,
            snd_up,
            rcv_up,
            urg_signal,
            recv_waker,
            send_waker,
            state_waker,
            urg_waker,
            queued,
            registered,
            in_table,
            hash,
            retransmits,
            segs_out,
            segs_in,
            ecn,
        } = self;
        *ph = pseudo_header(&tuple);
        *c_tuple = tuple;
        *c_state = state;
        *c_owner = owner;
        *error = None;
        *passive = false;
        *c_iss = iss;
        *snd_una = iss;
        *snd_nxt = iss;
        *snd_max = iss;
        *snd_wnd = 0;
        *max_snd_wnd = 0;
        *snd_wl1 = SeqNumber(0);
        *snd_wl2 = iss;
        *tx_seq = iss + 1;
        *fin_queued = false;
        *irs = SeqNumber(0);
        *rcv_nxt = SeqNumber(0);
        *rcv_adv = SeqNumber(0);
        *rx_fin = None;
        *fin_received = false;
        *c_mss = mss;
        *mss_cap = mss;
        *pmtu_recheck_at = None;
        *offload = 0;
        *rcv_mss = 0;
        *snd_wscale = 0;
        *rcv_wscale = initial_rcv_wscale(config);
        *wscale_ok = config.window_scaling;
        *ts_ok = config.timestamps;
        *ts_recent = 0;
        *ts_recent_ns = 0;
        *c_ts_offset = ts_offset;
        *last_ack_sent = SeqNumber(0);
        *sack_ok = config.sack;
        tx.renew();
        rx.renew();
        asm.reset(ranges_for(rx.capacity()));
        *rx_placed = None;
        *rtt = Rtt::new(config.initial_rto_ns, config.min_rto_ns, config.max_rto_ns);
        *rtt_seq = None;
        *rtt_clean = false;
        *rexmit_ts = None;
        *cc = Congestion::new(config.congestion, mss, config.hystart);
        *dupacks = 0;
        *recovery = None;
        *prr = Prr::default();
        *high_rxt = iss;
        *rexmit_now = false;
        sb.reset(ranges_for(tx.capacity()));
        *rxt_mark = None;
        *rescue_rxt = None;
        *rto_recover = None;
        *undo = None;
        *rxt_max = None;
        *rto_at = None;
        *delack_at = None;
        *persist_at = None;
        *persist_backoff = 0;
        *keepalive_at = None;
        *probes_out = 0;
        *close_at = None;
        *tlp_at = None;
        *tlp_now = false;
        *tlp_out = false;
        *tlp_episode = None;
        *retries = 0;
        *user_timeout = config.user_timeout_ns;
        *stalled_since = 0;
        *probes_since = 0;
        *last_data_ns = 0;
        *ack_now = false;
        *unacked = 0;
        *rcv_seg_max = 0;
        *rcv_seg_last = 0;
        *dupacks_owed = 0;
        owed_sacks.clear();
        *dsack = None;
        *quickacks = 0;
        *probe_now = false;
        *nodelay = config.nodelay;
        *dscp = config.dscp;
        *keepalive = config.keepalive;
        *challenges = RateLimit::new(config.challenge_ack_limit);
        *dup_syn_answered_ns = None;
        *snd_up = None;
        *rcv_up = None;
        *urg_signal = false;
        // (`release` dropped the wakers.)
        debug_assert!(recv_waker.is_none() && send_waker.is_none() && state_waker.is_none());
        debug_assert!(urg_waker.is_none());
        *recv_waker = None;
        *send_waker = None;
        *state_waker = None;
        *urg_waker = None;
        *queued = false;
        *registered = None;
        *in_table = false;
        *hash = 0;
        *retransmits = 0;
        *segs_out = 0;
        *segs_in = 0;
        *ecn = EcnState::new(config);
    }

    /// Drop the wakers, keeping the control block's allocation and its
    /// buffers' storage for another connection ([`Conn::reset`]).
    pub(crate) fn release(&mut self) {
        self.recv_waker = None;
        self.send_waker = None;
        self.state_waker = None;
        self.urg_waker = None;
    }

    /// The capacities of the buffers (what [`Conn::reset`] keeps).
    pub(crate) fn buffer_sizes(&self) -> (usize, usize) {
        (self.tx.capacity(), self.rx.capacity())
    }

    /// The MSS we announce, from the path's hint (MTU less IP and TCP
    /// headers).
    pub(crate) fn set_rcv_mss(&mut self, hint: usize) {
        self.rcv_mss = hint.clamp(MIN_MSS, 0xffff) as u16;
    }

    /// Fix the payload size per segment once the peer's MSS is known:
    /// the smaller of the peer's MSS and ours, less timestamp option room.
    pub(crate) fn set_send_mss(&mut self, peer_mss: Option<u16>) {
        let peer = peer_mss
            .map(usize::from)
            .unwrap_or_else(|| default_mss(self.tuple.remote));
        let ours = usize::from(self.rcv_mss).max(MIN_MSS);
        self.mss = (peer.min(ours).saturating_sub(self.option_room())).max(MIN_MSS);
        self.mss_cap = self.mss;
        self.cc.set_mss(self.mss);
    }

    /// An ICMP fragmentation-needed or packet-too-big report says the path
    /// takes packets of `mtu` bytes at most (RFC 1191, RFC 8201): lower the
    /// segment size to fit (the MTU taken as at least [`MIN_PMTU_V4`] or
    /// [`MIN_PMTU_V6`]) and send what is in flight again in that size at
    /// once (RFC 1191 section 6.5: the segments were dropped, and waiting
    /// for the retransmission timeout would stall the connection; as
    /// Linux's `tcp_simple_retransmit`). The path did not signal
    /// congestion: the congestion window and the timer are left alone
    /// (the window counts bytes: it lets as many bytes go in more, smaller
    /// segments). Returns `false`, doing nothing, for a report that would
    /// not lower the segment size. The path MTU is asked for again
    /// [`PMTU_RECHECK_NS`] later ([`Conn::pmtu_recheck`]).
    pub(crate) fn pmtu_reduced(&mut self, mtu: u32, now: u64) -> bool {
        let mtu = usize::try_from(mtu)
            .unwrap_or(usize::MAX)
            .max(self.min_pmtu());
        let mss = self.mss_for_mtu(mtu).max(MIN_MSS);
        if mss >= self.mss {
            return false;
        }
        self.lower_mss(mss, now);
        true
    }

    /// The smallest path MTU of the connection's family that the segment
    /// size follows ([`MIN_PMTU_V4`], [`MIN_PMTU_V6`]).
    fn min_pmtu(&self) -> usize {
        match self.tuple.remote {
            IpAddr::V4(_) => MIN_PMTU_V4,
            IpAddr::V6(_) => MIN_PMTU_V6,
        }
    }

    /// Black-hole detection ([`crate::net::tcp::Config::black_hole_detection`]),
    /// at a retransmission timeout from R1 on: the path may drop our
    /// packets for their size without telling (RFC 2923 section 2.1, RFC
    /// 4821 section 1: a router or firewall that filters the ICMP reports
    /// of path MTU discovery). As Linux's `tcp_mtu_probing = 1`, the
    /// segment size falls below that of the segment resent (the first of
    /// the flight, with its SACK blocks): to [`BLACK_HOLE_BASE_MSS`] if it
    /// was larger, else to half of it, never below what the family's
    /// smallest path MTU carries (a segment already that small was not
    /// lost for its size).
    /// The flight goes again in the new size, and the path is tried in
    /// full again ten minutes later, as after a report
    /// ([`Conn::pmtu_reduced`]). Whether the size fell.
    pub(crate) fn black_hole_fallback(&mut self, now: u64) -> bool {
        // The segment resent with the SACK blocks it carries, which
        // `seg_mss` leaves room for within the MSS: a payload cut short by
        // the peer's window still carries them (found by the stack's soak:
        // 512 bytes and one block over a path of 552, the floor, resent
        // for ever since the payload alone fitted the floor).
        let seg_mss = self.seg_mss();
        let resent = seg_mss.min(self.snd_max.since(self.snd_una)) + (self.mss - seg_mss);
        let smaller = if resent > BLACK_HOLE_BASE_MSS {
            BLACK_HOLE_BASE_MSS
        } else {
            resent / 2
        };
        let mss = smaller.max(self.mss_for_mtu(self.min_pmtu()).max(MIN_MSS));
        if mss >= resent {
            return false;
        }
        self.lower_mss(mss, now);
        true
    }

    /// The segment size drops to `mss` for the path: what is in flight is
    /// sent again in that size at once (see [`Conn::pmtu_reduced`]), and
    /// the path is looked at again [`PMTU_RECHECK_NS`] later.
    fn lower_mss(&mut self, mss: usize, now: u64) {
        self.mss = mss;
        self.cc.set_path_mss(mss);
        self.pmtu_recheck_at = Some(now.saturating_add(PMTU_RECHECK_NS));
        if self.snd_una < self.snd_max {
            // Everything in flight was too big (or follows what was): back
            // to the first unacknowledged byte, as after a timeout but for
            // the congestion response and the backoff. The SACKed bits go
            // (RFC 2018 section 8 allows it): the scoreboard's segments
            // were of the old size.
            if self.in_recovery() {
                self.cc.on_recovery_exit();
            }
            self.rewind_flight();
        }
    }

    /// The device's MSS hint for the peer ([`super::Transmit::mss_hint`]),
    /// looked at again after a retransmission timeout. A local MTU that
    /// shrank under the connection (an IPv6 router advertisement's MTU
    /// option) makes the IP layer refuse full segments, which are lost as
    /// on a wire, and resending them in the same size would go on until
    /// the connection timed out: the segment size follows the device's MTU
    /// as it follows a path MTU report.
    pub(crate) fn local_mss_hint(&mut self, hint: usize, now: u64) {
        let mtu = self.mtu_of_hint(hint);
        self.pmtu_reduced(u32::try_from(mtu).unwrap_or(u32::MAX), now);
    }

    /// The packet size the device's MSS hint (IP payload less the TCP
    /// header) stands for.
    fn mtu_of_hint(&self, hint: usize) -> usize {
        hint.saturating_add(self.ip_header_len() + crate::net::wire::tcp::HEADER_LEN)
    }

    /// The fixed IP header of the connection's family.
    fn ip_header_len(&self) -> usize {
        match self.tuple.remote {
            IpAddr::V4(_) => 20,
            IpAddr::V6(_) => 40,
        }
    }

    /// The payload of a full segment in a packet of `mtu` bytes.
    fn mss_for_mtu(&self, mtu: usize) -> usize {
        mtu.saturating_sub(
            self.ip_header_len() + crate::net::wire::tcp::HEADER_LEN + self.option_room(),
        )
    }

    /// The options every segment carries (the timestamps', 12 bytes with
    /// padding), which the segment size leaves room for.
    fn option_room(&self) -> usize {
        if self.ts_ok { 12 } else { 0 }
    }

    /// The segment size follows the IP layer's path MTU for the peer
    /// (`hint`, as [`super::Transmit::path_mss_hint`] gives it), never
    /// above what the handshake settled: looked at before the first
    /// segment (a router's report that the IP layer keeps lowers the size
    /// of new connections too), and [`PMTU_RECHECK_NS`] after the size was
    /// lowered. The IP layers keep a report ten minutes (RFC 1191 section
    /// 6.3, RFC 8201 section 5.3), after which a path that takes large
    /// packets again is used in full (as Linux's `tcp_current_mss` follows
    /// its route's MTU); one that still does not draws a new report, which
    /// lowers the size again. Still below, it is looked at again as much
    /// later. Whether the size rose.
    pub(crate) fn pmtu_recheck(&mut self, hint: usize, now: u64) -> bool {
        let mss = hint
            .saturating_sub(self.option_room())
            .min(self.mss_cap)
            .max(MIN_MSS);
        if mss < self.mss {
            // (Another connection's report, or the link: what is in flight
            // in the old size is lost on the path.)
            self.lower_mss(mss, now);
            return false;
        }
        let raised = mss > self.mss;
        if raised {
            self.mss = mss;
            self.cc.set_path_mss(mss);
        }
        self.pmtu_recheck_at =
            (self.mss < self.mss_cap).then(|| now.saturating_add(PMTU_RECHECK_NS));
        raised
    }

    /// The end of the data queued to send (the FIN's sequence number).
    pub(crate) fn data_end(&self) -> SeqNumber {
        self.tx_seq + self.tx.len()
    }

    /// The FIN's sequence number if one is queued.
    pub(crate) fn fin_seq(&self) -> Option<SeqNumber> {
        self.fin_queued.then(|| self.data_end())
    }

    /// Whether our FIN has been acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_una > f)
    }

    /// Bytes sent and not acknowledged.
    pub(crate) fn flight(&self) -> usize {
        self.snd_nxt.since(self.snd_una)
    }

    /// RFC 8985's probe timeout: two smoothed RTTs, plus the peer's
    /// delayed-ACK allowance ([`PTO_DELAYED_ACK_NS`]) when one segment is
    /// in flight, plus [`PTO_SLACK_NS`] (as Linux, for timer and clock
    /// granularity); never later than the retransmission timeout. `None`
    /// without an RTT sample (a sample of 0, below the clock's tick, is
    /// one).
    pub(crate) fn pto(&self) -> Option<u64> {
        let srtt = self.rtt.sampled()?;
        let mut pto = 2 * srtt + PTO_SLACK_NS;
        if self.snd_max.since(self.snd_una) <= self.mss {
            pto += PTO_DELAYED_ACK_NS;
        }
        Some(pto.min(self.rtt.rto()))
    }

    /// Arm the tail loss probe (in recovery: the recovery probe) after
    /// sending or acknowledgments; none while [`Rtt::probes_held`] (the
    /// retransmission timeout, backed off, waits long enough for an ACK
    /// that measures the round trip again).
    pub(crate) fn arm_tlp(&mut self, now: u64) {
        self.tlp_at = if self.snd_una < self.snd_max && !self.tlp_out && !self.rtt.probes_held() {
            self.pto().map(|p| now + p)
        } else {
            None
        };
    }

    pub(crate) fn in_recovery(&self) -> bool {
        self.recovery.is_some()
    }

    /// The estimate of bytes in the network that the congestion window
    /// limits: RFC 6675's pipe in SACK recovery, the flight less the
    /// segments that left (one per duplicate ACK) in NewReno recovery, the
    /// flight otherwise.
    pub(crate) fn pipe(&self) -> usize {
        match self.recovery {
            Some(_) if self.sack_ok => {
                self.sb
                    .pipe(self.snd_una, self.snd_max, self.high_rxt, self.mss)
            }
            Some(_) => self
                .flight()
                .saturating_sub(self.dupacks as usize * self.mss),
            None => self.flight(),
        }
    }

    /// With SACK, the first hole at or after `from` that the scoreboard
    /// deems lost (RFC 6675 `IsLost`), at most a segment of it.
    pub(crate) fn lost_hole(&self, from: SeqNumber) -> Option<(SeqNumber, usize)> {
        let edge = self.sb.lost_edge(self.mss)?;
        self.sb.next_hole(from, edge.min(self.snd_max), self.mss)
    }

    pub(crate) fn wake_recv(&mut self) {
        if let Some(w) = &self.recv_waker {
            w.wake_by_ref();
        }
    }

    pub(crate) fn wake_send(&mut self) {
        if let Some(w) = &self.send_waker {
            w.wake_by_ref();
        }
    }

    /// Move to `state`, waking the state waker, and the reader and writer
    /// whose operations the change answers differently: the reader when
    /// the connection closed (a `recv` looks at no other state; the end of
    /// the stream wakes it in `reach_fin`, errors come with `Closed`), the
    /// writer when the state stops taking data (`send` fails from now
    /// on). A waker left registered by an operation that completed would
    /// otherwise get a spurious poll at every step of a close.
    pub(crate) fn set_state(&mut self, state: State) {
        let old = core::mem::replace(&mut self.state, state);
        if old == state {
            return;
        }
        if let Some(w) = &self.state_waker {
            w.wake_by_ref();
        }
        if state == State::Closed {
            self.wake_recv();
            self.wake_urgent();
        }
        let takes_data = |s: State| {
            matches!(
                s,
                State::SynSent | State::SynReceived | State::Established | State::CloseWait
            )
        };
        if takes_data(old) && !takes_data(state) {
            self.wake_send();
        }
    }

    /// End the connection with `error` (or none, for an orderly end):
    /// queues are flushed and every timer stops, but for the bytes the
    /// peer got through in order before it reset the connection or went
    /// silent: those stay readable, and reads report `error` after them
    /// (RFC 9293 3.10.7.4 flushes them too; Linux and FreeBSD deliver
    /// them first, and so does the socket stack, their kernel's: an
    /// application reads the same on both stacks, and a slow reader whose
    /// peer is gone keeps what had arrived).
    // (Out of line: its many stores would sit inside the hot code of each
    // caller, most of which reach it once per connection at most.)
    #[inline(never)]
    pub(crate) fn terminate(&mut self, error: Option<TcpError>) {
        if let Some(e) = error {
            self.error = error;
            self.tx.clear();
            self.tx_seq = self.snd_una;
            if !matches!(e, TcpError::Reset | TcpError::TimedOut) {
                self.rx.clear();
            }
            self.asm.clear();
            self.snd_up = None;
            self.rcv_up = None;
            self.urg_signal = false;
        }
        self.rto_at = None;
        self.delack_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.close_at = None;
        self.tlp_at = None;
        self.tlp_now = false;
        self.ack_now = false;
        self.probe_now = false;
        self.rexmit_now = false;
        self.set_state(State::Closed);
    }

    // The application's operations.

    /// Queue bytes to send.
    pub(crate) fn send(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        self.check_writable()?;
        Ok(self.tx.enqueue(data))
    }

    /// Let `f` write into the free part of the send buffer (contiguous);
    /// it returns how much it wrote.
    pub(crate) fn send_with<R>(
        &mut self,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<R, TcpError> {
        self.check_writable()?;
        let space = self.tx.free_front_mut();
        let cap = space.len();
        let (n, r) = f(space);
        self.tx.commit(n.min(cap));
        Ok(r)
    }

    fn check_writable(&self) -> Result<(), TcpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_queued {
            return Err(TcpError::Closed);
        }
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => Ok(()),
            _ => Err(TcpError::Closed),
        }
    }

    /// Whether `send` would return something other than `Ok(0)`.
    pub(crate) fn writable(&self) -> bool {
        self.tx.free() > 0 || self.check_writable().is_err()
    }

    /// Whether `recv` would return something other than `Ok(0)`.
    pub(crate) fn readable(&self) -> bool {
        !self.rx.is_empty() || self.fin_received || self.error.is_some()
    }

    fn check_readable(&self) -> Result<bool, TcpError> {
        if !self.rx.is_empty() {
            return Ok(true);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_received {
            return Err(TcpError::Eof);
        }
        if self.state == State::Closed {
            return Err(TcpError::Closed);
        }
        Ok(false)
    }

    /// Read received bytes.
    #[inline]
    pub(crate) fn recv(&mut self, out: &mut [u8]) -> Result<usize, TcpError> {
        if !self.check_readable()? {
            return Ok(0);
        }
        let n = self.rx.dequeue(out);
        self.rewind_rx();
        Ok(n)
    }

    /// Before a segment's checksum is verified: if its payload (starting
    /// at `seq`) is the next in-order data and fits, copy it into the
    /// receive ring's free part and return its sum, so that the payload
    /// is read once for the copy and the checksum. Nothing becomes held:
    /// [`Conn::take_placed`] lets the segment's processing skip the copy;
    /// a segment that fails the checksum (or is not accepted) leaves only
    /// free space written. Not with out-of-order bytes held ahead (they
    /// live in the free part) or a FIN seen.
    pub(crate) fn place(&mut self, seq: SeqNumber, payload: &[u8]) -> Option<u16> {
        self.rx_placed = None;
        if payload.is_empty()
            || seq != self.rcv_nxt
            || !self.asm.is_empty()
            || self.rx_fin.is_some()
            || payload.len() > self.rx.free()
            || !self.state.receives_data()
        {
            return None;
        }
        let at = self.rx.len();
        let sum = self.rx.write_at_and_sum(at, payload);
        self.rx_placed = Some((seq, payload.len(), at));
        Some(sum)
    }

    /// Whether the `n` bytes at `seq` are already in the ring where they
    /// go ([`Conn::place`]); forgets the placement.
    pub(crate) fn take_placed(&mut self, seq: SeqNumber, n: usize) -> bool {
        self.rx_placed.take() == Some((seq, n, self.rx.len()))
    }

    /// Keep the receive ring's runs long: rewind it when it is empty and
    /// holds no out-of-order bytes.
    fn rewind_rx(&mut self) {
        if self.rx.is_empty() && self.asm.is_empty() {
            self.rx.clear();
        }
    }

    /// Let `f` look at the first contiguous received bytes and consume
    /// what it returns.
    pub(crate) fn recv_with<R>(
        &mut self,
        f: impl FnOnce(&[u8]) -> (usize, R),
    ) -> Result<R, TcpError> {
        self.check_readable()?;
        let front = self.rx.front();
        let len = front.len();
        let (n, r) = f(front);
        self.rx.consume(n.min(len));
        self.rewind_rx();
        Ok(r)
    }

    /// In-place read for an asynchronous reader: `None` while nothing is
    /// ready (no byte held, no end of stream, no error); else `f`, taken
    /// out of its option, sees the first contiguous run of held bytes
    /// (empty at the end of the stream) and returns how many it consumed
    /// (at most that run counts) and a value. An `f` already taken reads
    /// as not ready.
    pub(crate) fn recv_in_place<R, F: FnOnce(&[u8]) -> (usize, R)>(
        &mut self,
        f: &mut Option<F>,
    ) -> Result<Option<R>, TcpError> {
        match self.check_readable() {
            Ok(false) => return Ok(None),
            Ok(true) | Err(TcpError::Eof) => {}
            Err(e) => return Err(e),
        }
        let Some(f) = f.take() else { return Ok(None) };
        let front = self.rx.front();
        let len = front.len();
        let (n, r) = f(front);
        self.rx.consume(n.min(len));
        self.rewind_rx();
        Ok(Some(r))
    }

    /// In-place write for an asynchronous writer: `None` while the send
    /// buffer is full; else `f`, taken out of its option, fills the start
    /// of the first contiguous free run of the buffer (never empty; its
    /// old bytes are unspecified) and returns how many bytes it wrote
    /// there (at most that run counts) and a value.
    pub(crate) fn send_in_place<R, F: FnOnce(&mut [u8]) -> (usize, R)>(
        &mut self,
        f: &mut Option<F>,
    ) -> Result<Option<R>, TcpError> {
        self.check_writable()?;
        if self.tx.free() == 0 {
            return Ok(None);
        }
        let Some(f) = f.take() else { return Ok(None) };
        let space = self.tx.free_front_mut();
        let cap = space.len();
        let (n, r) = f(space);
        self.tx.commit(n.min(cap));
        Ok(Some(r))
    }

    /// After the application read: whether the window grew enough to tell
    /// the peer now (receiver silly-window avoidance, RFC 9293 section
    /// 3.8.6.2.2: only by a full segment or half the buffer; and only if
    /// the window the peer knows has shrunk below that).
    #[inline]
    pub(crate) fn window_update_due(&self) -> bool {
        if !self.state.is_synchronized() || self.fin_received {
            return false;
        }
        let threshold = (self.rx.capacity() / 2).min(usize::from(self.rcv_mss).max(1));
        let known = self.rcv_adv.since(self.rcv_nxt);
        let now = self.rx.free();
        known < threshold && now >= known + threshold
    }

    // Urgent data (RFC 9293 section 3.8.5): kept in line in the stream;
    // only the pointer to its end is tracked.

    /// The sequence number of the next byte the application reads.
    fn read_seq(&self) -> SeqNumber {
        self.rcv_nxt - (self.rx.len() + usize::from(self.fin_received))
    }

    /// The URG check of an acceptable segment `seg` (RFC 9293 section
    /// 3.10.7.4, sixth), while urgent data is pending or the segment has
    /// URG (out of line: rare). First the pointer goes if every urgent byte
    /// was read, and with it a notification not yet taken, which has
    /// nothing left to tell: a pointer left behind would, 2^31 bytes
    /// later, compare as ahead again. (Here rather than after each read,
    /// which is the data path: between two segments that reach this check
    /// the application reads no more than the receive buffer held, so the
    /// pointer is never more than that behind when it is looked at.)
    #[cold]
    #[inline(never)]
    pub(crate) fn urgent_check(&mut self, seg: &crate::net::wire::tcp::Repr) {
        if self.rcv_up.is_some_and(|up| up <= self.read_seq()) {
            self.rcv_up = None;
            self.urg_signal = false;
        }
        if seg.flags.urg() {
            self.urgent_pointer(seg.seq + usize::from(seg.urgent));
        }
    }

    /// A segment's urgent pointer `up` (`SEG.SEQ` plus its urgent field:
    /// the sequence number after the peer's last urgent byte) arrived
    /// (RFC 9293 section 3.10.7.4, sixth check): `RCV.UP` becomes the
    /// later of the two, and the application is told when it was none or
    /// moved (MUST-32). Only in a state that still receives data; a
    /// pointer into what the application already read, or past a FIN
    /// seen, means nothing and is ignored. (`up` is within 64 KiB of an
    /// acceptable sequence number: every comparison is within the window.)
    fn urgent_pointer(&mut self, up: SeqNumber) {
        if !self.state.receives_data() || up <= self.read_seq() {
            return;
        }
        if self.rx_fin.is_some_and(|f| up > f) || self.rcv_up.is_some_and(|old| up <= old) {
            return;
        }
        self.rcv_up = Some(up);
        self.urg_signal = true;
        self.wake_urgent();
    }

    /// How many bytes from the next one the application reads up to and
    /// including the last urgent byte (some may not have arrived yet);
    /// `None` when no urgent data remains to be read (a pointer read past
    /// and not yet forgotten, [`Conn::urgent_check`], is less than the
    /// receive buffer behind: `since` says 0). After the peer's FIN (seen
    /// or reached), no more than the bytes that precede it.
    pub(crate) fn urgent(&self) -> Option<usize> {
        let up = self.rcv_up?;
        let read = self.read_seq();
        let mut n = up.since(read);
        if let Some(f) = self.rx_fin {
            n = n.min(f.since(read));
        }
        if self.fin_received {
            n = n.min(self.rx.len());
        }
        (n > 0).then_some(n)
    }

    /// Queue bytes to send and mark the end of what was queued as the end
    /// of urgent data (`SND.UP`, RFC 9293 section 3.9's SEND with the
    /// urgent flag).
    pub(crate) fn send_urgent(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        let n = self.send(data)?;
        if n > 0 {
            self.snd_up = Some(self.data_end());
        }
        Ok(n)
    }

    /// The urgent notification's poll: `Ready(Ok(n))`, `n` as
    /// [`Conn::urgent`], once the peer's urgent pointer arrived or moved
    /// since the last `Ready` (and urgent data remains to be read);
    /// `Ready(Err)` once none can come (the end of the stream: `Eof`; the
    /// connection's error; `Closed`); else `Pending` with `w` registered.
    pub(crate) fn poll_urgent(&mut self, w: &Waker) -> core::task::Poll<Result<usize, TcpError>> {
        use core::task::Poll;
        if self.urg_signal {
            self.urg_signal = false;
            if let Some(n) = self.urgent() {
                self.urg_waker = None;
                return Poll::Ready(Ok(n));
            }
        }
        if let Some(e) = self.error {
            return Poll::Ready(Err(e));
        }
        if self.fin_received {
            return Poll::Ready(Err(TcpError::Eof));
        }
        if self.state == State::Closed {
            return Poll::Ready(Err(TcpError::Closed));
        }
        match &self.urg_waker {
            Some(old) if old.will_wake(w) => {}
            _ => self.urg_waker = Some(w.clone()),
        }
        Poll::Pending
    }

    pub(crate) fn wake_urgent(&mut self) {
        if let Some(w) = &self.urg_waker {
            w.wake_by_ref();
        }
    }

    /// The urgent pointer and bit of a segment from `seq` (`len` bytes)
    /// while urgent data is not all acknowledged (RFC 9293 section 3.8.5,
    /// MUST-62: the pointer is the offset from `seq` of the byte after the
    /// last urgent byte). A pointer further than the field holds is sent
    /// as 0xffff, as Linux does, only while that still points past every
    /// byte sent, so that the peer never takes a byte sent as the end of
    /// the urgent data; otherwise without URG. (Out of line: rare.)
    #[cold]
    #[inline(never)]
    pub(crate) fn urgent_field(&self, seq: SeqNumber, len: usize) -> Option<u16> {
        let up = self.snd_up?;
        if up <= seq {
            return None;
        }
        let d = up.since(seq);
        if d <= 0xffff {
            Some(d as u16)
        } else {
            (seq + 0xffff > self.snd_max.max(seq + len)).then_some(0xffff)
        }
    }

    /// Shut down writing: a FIN follows the queued data.
    pub(crate) fn shutdown_write(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck);
            }
            // Sent once the handshake completes (see `established`).
            State::SynSent | State::SynReceived => self.fin_queued = true,
            _ => {}
        }
    }
}

/// The connection's pseudo-header (unspecified addresses for a tuple of
/// mixed families, which `connect` and `process` refuse anyway).
fn pseudo_header(tuple: &FourTuple) -> PseudoHeader {
    PseudoHeader::new(tuple.local, tuple.remote).unwrap_or(PseudoHeader::V4(
        core::net::Ipv4Addr::UNSPECIFIED,
        core::net::Ipv4Addr::UNSPECIFIED,
    ))
}

/// The window scale we offer (before negotiation).
fn initial_rcv_wscale(config: &Config) -> u8 {
    if config.window_scaling {
        wscale_for(config.recv_buffer)
    } else {
        0
    }
}

/// RFC 9293's send MSS for a peer that announces none (section 3.7.1;
/// RFC 8200 section 8.3 for IPv6).
pub(crate) fn default_mss(remote: IpAddr) -> usize {
    match remote {
        IpAddr::V4(_) => DEFAULT_MSS_V4,
        IpAddr::V6(_) => DEFAULT_MSS_V6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tcp::secret::tests::tuple;

    /// The undo record accounts for exactly what was retransmitted: a
    /// D-SACK of data between two retransmissions counts nothing, a range
    /// resent twice needs two reports, an empty block none, and past
    /// [`MAX_UNDO_RANGES`] the record gives D-SACK up.
    #[test]
    fn an_undo_record_counts_only_what_was_retransmitted() {
        let s = SeqNumber;
        let mut u = Undo {
            tsval: None,
            resent: Some(Vec::new()),
            floor: None,
            until: None,
            timeout: false,
            cc: Congestion::new(crate::net::tcp::CongestionAlgorithm::Cubic, 1000, false),
        };
        assert!(!u.reported_twice(s(0), s(100)), "nothing resent yet");
        u.resent(s(10), s(20));
        u.resent(s(30), s(40));
        u.resent(s(30), s(40));
        assert!(!u.reported_twice(s(20), s(30)), "data not resent");
        assert!(!u.reported_twice(s(40), s(40)), "an empty block");
        assert!(!u.reported_twice(s(10), s(20)));
        assert!(!u.reported_twice(s(30), s(40)), "resent twice: one left");
        assert!(u.reported_twice(s(30), s(40)));
        for i in 0..=MAX_UNDO_RANGES as u32 {
            u.resent(s(i * 10), s(i * 10 + 10));
        }
        assert!(u.resent.is_none());
        assert!(!u.reported_twice(s(0), s(1_000_000)));
        // A resend below the floor (resent in an earlier episode): D-SACK
        // tells nothing of this one.
        let mut u = Undo {
            floor: Some(s(100)),
            resent: Some(Vec::new()),
            ..u
        };
        u.resent(s(200), s(300));
        u.resent(s(50), s(150));
        assert!(u.resent.is_none());
        assert!(!u.reported_twice(s(0), s(1_000)));
    }

    /// A reset control block is the one `new` makes.
    #[test]
    fn reset_matches_new() {
        let config = Config::default();
        let storage = || alloc::vec![0u8; 4096];
        let mut c = Conn::new(
            &config,
            tuple(1),
            SeqNumber(7),
            3,
            Owner::User,
            storage(),
            storage(),
            State::SynSent,
        );
        // A used connection: every kind of field changed.
        c.state = State::TimeWait;
        c.owner = Owner::Orphan;
        c.error = Some(TcpError::Reset);
        c.passive = true;
        c.snd_nxt = SeqNumber(1000);
        c.snd_wnd = 5;
        c.fin_queued = true;
        c.rx_fin = Some(SeqNumber(9));
        c.mss = 1000;
        c.rcv_mss = 1460;
        c.snd_wscale = 7;
        c.ts_recent = 77;
        c.tx.enqueue(b"abc");
        // (Lent and written in place: its bytes are the old owner's.)
        c.tx.free_front_mut().fill(0xee);
        c.rx.enqueue(b"de");
        assert!(c.asm.add(10, 5).is_ok());
        c.sb.update(&[(SeqNumber(1), SeqNumber(2))], SeqNumber(0), SeqNumber(5));
        c.rtt.sample(5_000_000);
        c.cc.cwnd = 1;
        c.recovery = Some(SeqNumber(3));
        c.rto_at = Some(1);
        c.close_at = Some(2);
        c.retries = 4;
        c.user_timeout = Some(7);
        c.stalled_since = 8;
        c.probes_since = 9;
        c.ack_now = true;
        c.quickacks = 2;
        c.nodelay = true;
        c.dscp = 46;
        c.queued = true;
        c.registered = Some(5);
        c.in_table = true;
        c.hash = 99;
        c.segs_in = 3;
        c.recv_waker = Some(core::task::Waker::noop().clone());
        c.release();
        let owner = Owner::Listener(ListenerId {
            index: 1,
            generation: 2,
        });
        c.reset(
            &config,
            tuple(2),
            SeqNumber(11),
            4,
            owner,
            State::SynReceived,
        );
        assert!(c.tx.is_empty() && c.rx.is_empty());
        assert_eq!(c.buffer_sizes(), (4096, 4096));
        // The new owner's in-place writer does not see the old one's bytes.
        assert!(c.tx.free_front_mut().iter().all(|&b| b == 0));
        // (The storage's stale bytes aside: they are never exposed, which
        // `ring::tests` checks.)
        let (tx2, rx2) = (c.tx.take_storage(), c.rx.take_storage());
        c.tx = Ring::from_storage(tx2.clone());
        c.rx = Ring::from_storage(rx2.clone());
        assert!(c.asm.is_empty());
        assert!(c.sb.ranges().is_empty());
        let fresh = Conn::new(
            &config,
            tuple(2),
            SeqNumber(11),
            4,
            owner,
            tx2,
            rx2,
            State::SynReceived,
        );
        assert_eq!(alloc::format!("{c:?}"), alloc::format!("{fresh:?}"));
    }
}
