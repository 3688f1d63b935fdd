//! The states of RFC 9293 (section 3.3.2) and what a connection does when
//! a segment arrives (section 3.10.7), hardened as RFC 5961 asks:
//!
//! - a RST is honoured only if its sequence number is exactly `RCV.NXT`;
//!   one elsewhere in the window draws a challenge ACK (section 3);
//! - a SYN in a synchronized state draws a challenge ACK and is otherwise
//!   ignored (section 4);
//! - a segment whose acknowledgment number lies outside
//!   `[SND.UNA - MAX.SND.WND, SND.NXT]` is dropped with a challenge ACK
//!   (section 5), so blind data injection needs both numbers right;
//! - challenge ACKs are rate-limited (section 7), per connection: with
//!   one budget for the whole TCP, an off-path attacker counting its own
//!   connection's challenge ACKs learns whether spoofed segments hit
//!   another connection (CVE-2016-5696), as Linux found.
//!
//! Timestamps (RFC 7323) add PAWS: a segment with an older timestamp than
//! the last one accepted is dropped. Window scale, SACK and timestamps are
//! negotiated on the SYN exchange.

use super::Stats;
use super::TcpError;
use super::config::Config;
use super::congestion::AckedRound;
use super::conn::{Conn, DUP_SYN_INTERVAL_NS, Owner, Undo};
use super::prr::Prr;
use crate::net::wire::tcp::{Options, Repr, SeqNumber};
use core::hint::cold_path;

/// A connection's state (RFC 9293 section 3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection (finished, reset or timed out).
    Closed,
    /// Waiting for a connection request (listeners only).
    Listen,
    /// Our SYN sent, waiting for the peer's.
    SynSent,
    /// SYN received and answered, waiting for the handshake's ACK.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed; our FIN is not yet acknowledged.
    FinWait1,
    /// We closed, our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; waiting out old duplicates (2 MSL).
    TimeWait,
}

impl State {
    /// Whether the handshake is over (sequence numbers are synchronized).
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::Listen | State::SynSent)
            && self != State::SynReceived
    }

    /// Whether data may still arrive from the peer.
    pub(crate) fn receives_data(self) -> bool {
        matches!(self, State::Established | State::FinWait1 | State::FinWait2)
    }
}

/// Where delivery stood before an acknowledgment in (or starting) SACK
/// recovery: what [`Conn::prr_ack`] compares with after it.
struct DeliveryMark {
    /// `SND.UNA`.
    una: SeqNumber,
    /// The bytes above it SACKed.
    sacked: usize,
    /// The point below which every unSACKed byte was deemed lost or had
    /// been retransmitted.
    lost_to: SeqNumber,
    /// The acknowledgment showed a retransmission lost.
    lost_retransmission: bool,
}

/// A RST to send in reply (the connection layer has no buffer of its own
/// for it; the `TcpEngine` sends it at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RstReply {
    pub(crate) seq: SeqNumber,
    /// With the ACK bit and this acknowledgment number.
    pub(crate) ack: Option<SeqNumber>,
}

/// A per-second budget (RFC 5961 section 7's challenge ACK limit).
#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    limit: u32,
    window_start: u64,
    used: u32,
}

impl RateLimit {
    pub(crate) fn new(limit: u32) -> RateLimit {
        RateLimit {
            limit,
            window_start: 0,
            used: 0,
        }
    }

    /// Take one from the budget of the second around `now`.
    pub(crate) fn allow(&mut self, now: u64) -> bool {
        if now.saturating_sub(self.window_start) >= 1_000_000_000 {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < self.limit {
            self.used += 1;
            true
        } else {
            false
        }
    }
}

/// What the connection needs from the `TcpEngine` while processing.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) stats: &'a mut Stats,
    /// The type of service / traffic class byte the segment arrived with
    /// (its ECN field for `ecn`).
    pub(crate) tos: u8,
}

/// In-order segments acknowledged at once after out-of-order data (as
/// Linux's `TCP_MAX_QUICKACKS`).
const QUICKACKS: u8 = 16;

/// Timestamps older than this (24 days, RFC 7323 section 5.5) no longer
/// count for PAWS.
const PAWS_IDLE_NS: u64 = 24 * 24 * 3600 * 1_000_000_000;

impl Conn {
    /// Negotiate options from the peer's SYN (or SYN-ACK).
    pub(crate) fn negotiate(&mut self, config: &Config, o: &Options, now: u64) {
        self.wscale_ok = config.window_scaling && o.window_scale.is_some();
        if self.wscale_ok {
            self.snd_wscale = o.window_scale.unwrap_or(0).min(14);
        } else {
            self.snd_wscale = 0;
            self.rcv_wscale = 0;
        }
        self.sack_ok = config.sack && o.sack_permitted;
        match o.timestamp {
            Some((val, _)) if config.timestamps => {
                self.ts_ok = true;
                self.ts_recent = val;
                self.ts_recent_ns = now;
            }
            _ => self.ts_ok = false,
        }
        self.set_send_mss(o.mss);
        // The path may take less than the link (a router's report still
        // kept by the IP layer): looked at before the first segment of
        // data goes.
        self.pmtu_recheck_at = Some(0);
    }

    /// The handshake completed.
    fn established(&mut self) {
        self.set_state(State::Established);
        if self.fin_queued {
            self.set_state(State::FinWait1);
        }
        self.probes_out = 0;
    }

    /// Send a challenge ACK if the budget allows.
    #[cold]
    fn challenge(&mut self, ctx: &mut Ctx, now: u64) {
        if self.challenges.allow(now) {
            ctx.stats.challenge_acks += 1;
            self.ack_now = true;
        } else {
            ctx.stats.challenge_acks_suppressed += 1;
        }
    }

    /// A segment for this connection arrived (checksum verified, 4-tuple
    /// matched). Returns a RST to send, if any.
    pub(crate) fn process(&mut self, now: u64, seg: &Repr, ctx: &mut Ctx) -> Option<RstReply> {
        self.segs_in += 1;
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent => return self.process_syn_sent(now, seg, ctx),
            _ => {}
        }
        let flags = seg.flags;

        // PAWS (RFC 7323 section 5.3); a non-RST segment without a
        // timestamp on a connection that uses them is dropped (3.2).
        if self.ts_ok && !flags.rst() {
            match seg.options.timestamp {
                None => {
                    cold_path();
                    ctx.stats.dropped_paws += 1;
                    return None;
                }
                Some((val, _)) => {
                    let older = (val.wrapping_sub(self.ts_recent) as i32) < 0;
                    if older && now.saturating_sub(self.ts_recent_ns) < PAWS_IDLE_NS {
                        cold_path();
                        ctx.stats.dropped_paws += 1;
                        if seg.segment_len() > 0 {
                            self.ack_now = true;
                        }
                        return None;
                    }
                }
            }
        }

        if self.state == State::SynReceived
            && flags.syn()
            && !flags.rst()
            && self.syn_in_syn_received(now, seg, ctx)
        {
            return None;
        }

        // Sequence number check (RFC 9293 section 3.10.7.4, first).
        let wnd = self.rx.free();
        let seq = seg.seq;
        let len = seg.segment_len();
        let acceptable = match (len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            // (The right edge included but for a RST, as Linux's
            // `tcp_sequence` and FreeBSD's trimming do, where RFC 9293
            // excludes it: a peer that filled our window and lost that
            // data sends its ACKs of our data at the edge until it
            // resends; refused, they would leave us resending what it
            // already has. A RST there stays outside, silently dropped by
            // RFC 5961 section 3.2.)
            (0, _) => self.in_window(seq, wnd) || (seq == self.rcv_nxt + wnd && !flags.rst()),
            (_, 0) => seq == self.rcv_nxt, // ACK, RST, URG processing only
            (_, _) => self.in_window(seq, wnd) || self.in_window(seq + (len - 1), wnd),
        };
        if !acceptable {
            self.unacceptable(now, seg, ctx);
            return None;
        }

        // RST (second check), RFC 5961 section 3.2.
        if flags.rst() {
            self.process_rst(now, seq, ctx);
            return None;
        }

        // SYN in a synchronized state (fourth check), RFC 5961 section 4.
        if flags.syn() {
            cold_path();
            ctx.stats.dropped_syn_in_window += 1;
            self.challenge(ctx, now);
            return None;
        }

        // ACK (fifth check).
        if !flags.ack() {
            cold_path();
            ctx.stats.dropped_no_ack += 1;
            return None;
        }
        let ack = seg.ack;
        if self.state == State::SynReceived {
            if self.snd_una < ack && ack <= self.snd_max {
                self.snd_wnd = usize::from(seg.window) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                if self.retries > 0 {
                    self.rtt.syn_timed_out();
                    self.cc.syn_timed_out();
                }
                self.rtt.clear_backoff();
                self.established();
            } else {
                cold_path();
                return Some(RstReply {
                    seq: ack,
                    ack: None,
                });
            }
        }
        // RFC 5961 section 5.2: the acknowledgment must be plausible.
        let lowest = self.snd_una - self.max_snd_wnd.max(1);
        if ack > self.snd_max || ack < lowest {
            cold_path();
            ctx.stats.dropped_bad_ack += 1;
            self.challenge(ctx, now);
            return None;
        }

        // Record the timestamp to echo (RFC 7323 section 4.3), only now
        // that the segment passed every check that drops it: one dropped
        // for its RST, SYN or acknowledgment must not move TS.Recent, or a
        // blind in-window segment with a far-future TSval makes PAWS drop
        // the genuine peer's segments (as Linux, since 2013).
        if self.ts_ok
            && let Some((val, _)) = seg.options.timestamp
            && (val.wrapping_sub(self.ts_recent) as i32) >= 0
            && seq <= self.last_ack_sent
        {
            self.ts_recent = val;
            self.ts_recent_ns = now;
        }
        if self.ecn.any() {
            self.ecn_received(seg, ctx);
        }
        self.process_ack(now, seg, ctx);
        if self.state == State::Closed {
            return None;
        }

        // The peer is alive: its probes were answered; keep-alive waits
        // again.
        self.probes_out = 0;
        if let Some(k) = self.keepalive {
            self.keepalive_at = Some(now + k.idle_ns);
        }

        // URG (sixth check), out of line.
        // (One branch: most segments have neither.)
        if flags.urg() | self.rcv_up.is_some() {
            self.urgent_check(seg);
        }

        // Text (seventh check).
        if !seg.payload.is_empty() {
            if self.state.receives_data() {
                if self.owner == Owner::Orphan && seq + seg.payload.len() > self.rcv_nxt {
                    cold_path();
                    // Nobody will read it (RFC 9293 section 3.10.7.4 allows
                    // the reset; Linux does the same).
                    let rst = RstReply {
                        // (As `abort`'s: the highest sent.)
                        seq: self.snd_max,
                        ack: Some(self.rcv_nxt),
                    };
                    self.terminate(Some(TcpError::Reset));
                    return Some(rst);
                }
                self.receive_text(now, seq, seg.payload, ctx);
            } else {
                cold_path();
                ctx.stats.dropped_after_fin += 1;
            }
        }

        // FIN (eighth check).
        if flags.fin() {
            let fin_seq = seq + seg.payload.len();
            if self.rx_fin.is_none() && !self.fin_received && fin_seq >= self.rcv_nxt {
                let at = fin_seq.since(self.rcv_nxt);
                if at <= self.rx.free() {
                    self.rx_fin = Some(fin_seq);
                    // Out-of-order bytes a broken peer sent past its FIN
                    // would never let the FIN be reached.
                    self.asm.truncate(at as u32);
                    self.owed_sacks.clear();
                }
            } else if self.fin_received {
                cold_path();
                // A retransmitted FIN: acknowledge it again.
                self.ack_now = true;
                if self.state == State::TimeWait {
                    self.close_at = Some(now + 2 * ctx.config.msl_ns);
                }
            }
        }
        self.reach_fin(now, ctx.config);
        if flags.fin() && self.rx_fin.is_some() {
            // A FIN beyond a hole is out of order: a duplicate ACK at once
            // (RFC 5681 section 4.2), as for out-of-order data; without
            // data it would otherwise draw none.
            self.ack_now = true;
        }
        None
    }

    /// A segment with SYN (and no RST) in SYN-RECEIVED: our SYN-ACK was
    /// lost, or a simultaneous open. `true` when it was handled (the
    /// segment goes no further). (Out of line: once per handshake at
    /// most.)
    #[cold]
    fn syn_in_syn_received(&mut self, now: u64, seg: &Repr, ctx: &mut Ctx) -> bool {
        let flags = seg.flags;
        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost.
        // It is sent again at once, but at most once per
        // `DUP_SYN_INTERVAL_NS` (SYNs spoofed in a flood would make
        // this a reflector); the retransmission timer keeps its
        // deadline, so that the give-up after `synack_retries` timeouts
        // holds however often the SYN comes (a SYN resent faster than
        // the timeout, spoofed or not, would otherwise hold the
        // backlog's slot for ever).
        if !flags.ack() {
            if seg.seq == self.irs {
                let due = self
                    .dup_syn_answered_ns
                    .is_none_or(|t| now.saturating_sub(t) >= DUP_SYN_INTERVAL_NS);
                if due {
                    self.dup_syn_answered_ns = Some(now);
                    self.snd_nxt = self.iss;
                } else {
                    ctx.stats.dup_syns_unanswered += 1;
                }
            }
            return true;
        }
        // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK,
        // which crossed ours, acknowledges our SYN. The sequence check
        // would refuse it (its SYN is below RCV.NXT) and wait for an
        // ACK that a peer already ESTABLISHED by our SYN-ACK (Linux)
        // does not send: it completes the handshake, as in Linux.
        if !self.passive && seg.seq == self.irs && self.snd_una < seg.ack && seg.ack <= self.snd_max
        {
            if self.ts_ok
                && let Some((val, _)) = seg.options.timestamp
                && (val.wrapping_sub(self.ts_recent) as i32) >= 0
            {
                self.ts_recent = val;
                self.ts_recent_ns = now;
            }
            self.syn_acked(now, seg);
            return true;
        }
        false
    }

    /// A segment outside the receive window (RFC 9293 section 3.10.7.4,
    /// first check): dropped, and answered unless it is a RST. (Out of
    /// line: rare.)
    #[cold]
    fn unacceptable(&mut self, now: u64, seg: &Repr, ctx: &mut Ctx) {
        let (flags, seq) = (seg.flags, seg.seq);
        ctx.stats.dropped_out_of_window += 1;
        if !flags.rst() {
            // The peer's FIN again, our ACK of it lost: 2 MSL again
            // (not for one without ACK, which RFC 9293's fifth check
            // drops once answered here).
            if self.state == State::TimeWait && flags.fin() && flags.ack() {
                self.close_at = Some(now + 2 * ctx.config.msl_ns);
            }
            if seg.payload.is_empty() {
                // Pure ACKs and SYNs: rate-limited, against ACK wars
                // and RFC 5961's SYN challenge.
                self.challenge(ctx, now);
            } else {
                // A duplicate: the ACK tells the sender what we have,
                // and what it sent twice (RFC 2883).
                self.ack_now = true;
                if seq < self.rcv_nxt {
                    let end = (seq + seg.payload.len()).min(self.rcv_nxt);
                    self.report_duplicate(seq, end, ctx);
                }
            }
        }
    }

    /// An acceptable RST (RFC 9293 section 3.10.7.4, second check, as
    /// RFC 5961 section 3.2 hardens it). (Out of line: at most once per
    /// connection.)
    #[cold]
    fn process_rst(&mut self, now: u64, seq: SeqNumber, ctx: &mut Ctx) {
        if self.state == State::TimeWait {
            // RFC 1337: an old duplicate RST must not end TIME-WAIT
            // early (as the records of released connections ignore it).
            return;
        }
        if seq != self.rcv_nxt {
            self.challenge(ctx, now);
            return;
        }
        ctx.stats.resets_received += 1;
        match self.state {
            State::SynReceived if self.passive => self.terminate(Some(TcpError::Reset)),
            State::SynReceived => self.terminate(Some(TcpError::Refused)),
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                self.terminate(Some(TcpError::Reset))
            }
            _ => self.terminate(None),
        }
    }

    fn in_window(&self, seq: SeqNumber, wnd: usize) -> bool {
        self.rcv_nxt <= seq && seq < self.rcv_nxt + wnd
    }

    /// The ACK field of an acceptable segment: advance `SND.UNA`, time the
    /// round trip, grow or cut the window, detect loss, update the send
    /// window, and move through the closing states.
    fn process_ack(&mut self, now: u64, seg: &Repr, ctx: &mut Ctx) {
        let ack = seg.ack;
        let advanced = ack > self.snd_una;
        let window = usize::from(seg.window) << self.snd_wscale;
        let mut sacked_more = false;
        let mut dsack = None;
        // Where delivery stood before this acknowledgment, for PRR: in SACK
        // recovery, or when its blocks may start one.
        let mut before = None;
        if self.sack_ok {
            let blocks = seg.options.sack_blocks();
            // (With holes on the scoreboard, an acknowledgment without
            // blocks may start recovery too.)
            if self.in_recovery() || !blocks.is_empty() || !self.sb.ranges().is_empty() {
                before = Some(self.delivery_mark());
            }
            if let [(l, r), rest @ ..] = blocks
                && (*r <= ack || rest.first().is_some_and(|&(l2, r2)| l2 <= *l && *r <= r2))
            {
                cold_path();
                ctx.stats.dsacks_received += 1;
                dsack = Some((*l, *r));
            }
            if !blocks.is_empty() && self.sb.update(blocks, self.snd_una.max(ack), self.snd_max) {
                cold_path();
                ctx.stats.sack_blocks_used += 1;
                sacked_more = true;
                if self.detect_lost_retransmission(ack, ctx)
                    && let Some(b) = &mut before
                {
                    b.lost_retransmission = true;
                }
                if self.in_recovery() {
                    // The peer is heard: the recovery probe waits again.
                    self.arm_tlp(now);
                }
            }
        }
        if self.tlp_episode.is_some() {
            self.tlp_episode_ack(seg, dsack, sacked_more, ctx);
        }
        if let Some(u) = self.undo.as_deref() {
            cold_path();
            if ack > self.snd_una && u.tsval.is_some() {
                self.eifel(seg, ctx);
            }
            if let Some((l, r)) = dsack {
                self.dsack_undo(l, r, ctx);
            }
        }
        if ack > self.snd_una {
            let acked = ack.since(self.snd_una);
            // The window grows only while it is used: with at least half
            // of it in flight (RFC 7661's validated window, Linux's
            // `tcp_is_cwnd_limited` in slow start). An application that
            // leaves it unused, or a peer's window that holds the flight
            // back, validates no growth (RFC 9438 section 5.8): the window
            // would otherwise grow without bound, and one day let a burst
            // go that the path never carried.
            let used = self.cc.cwnd < 2 * self.flight();
            // Data bytes acknowledged (the SYN and FIN occupy sequence
            // numbers that are not in the buffer).
            if ack > self.tx_seq {
                let n = ack.since(self.tx_seq).min(self.tx.len());
                self.tx.consume(n);
                if self.tx.is_empty() {
                    self.tx.clear();
                }
                self.tx_seq += n;
                if n > 0 {
                    self.wake_send();
                }
            }
            self.snd_una = ack;
            if self.snd_up.is_some_and(|up| ack >= up) {
                cold_path();
                // The urgent data is all acknowledged: urgent mode ends.
                self.snd_up = None;
            }
            if self.snd_nxt < ack {
                self.snd_nxt = ack;
            }
            if self.high_rxt < ack {
                self.high_rxt = ack;
            }
            // (Forgotten once acknowledged: sequence numbers far below
            // SND.UNA no longer compare.)
            if self.rxt_max.is_some_and(|m| m <= ack) {
                self.rxt_max = None;
            }
            if let Some(p) = self.rto_recover
                && ack >= p
                && (self.sack_ok || ack > p || acked <= 4 * self.mss)
            {
                cold_path();
                // The flight of the timeout is acknowledged. Without SACK,
                // an ACK of exactly that much leaves the resends of
                // segments the peer held to draw duplicates of it, which
                // are no loss: RFC 6582 waits for an ACK covering more,
                // unless (its section 4.1's heuristic) this one advanced
                // by at most four segments, too little for such resends.
                self.rto_recover = None;
            }
            self.sb.ack(ack);
            self.retries = 0;
            // (The timer stays backed off until a sample: Karn's
            // algorithm, RFC 6298 section 5.)
            self.sample_rtt(now, seg);
            match self.recovery {
                Some(recover) if ack >= recover => {
                    cold_path();
                    self.recovery = None;
                    self.dupacks = 0;
                    self.cc.on_recovery_exit();
                }
                Some(_) => {
                    cold_path();
                    // A partial acknowledgment (RFC 6582 section 3.2 step
                    // 5): the next hole is lost too. With SACK the
                    // scoreboard picks what to resend.
                    if !self.sack_ok {
                        self.rexmit_now = true;
                        self.dupacks = 0;
                    }
                }
                None => {
                    // A cumulative ACK resets the count; one that also
                    // SACKs new data is the first duplicate (RFC 6675
                    // section 5, "regardless of its status as a cumulative
                    // acknowledgment").
                    self.dupacks = u32::from(sacked_more);
                    if used && !self.ecn_holds_growth(seg) {
                        let segment = self.largest_segment();
                        let round = self.cc.wants_round_trips().then(|| AckedRound {
                            ack,
                            snd_max: self.snd_max,
                            rtt_ns: self.echo_sample(now, seg),
                        });
                        if self.cc.on_ack(acked, segment, now, self.rtt.srtt(), round) {
                            cold_path();
                            ctx.stats.hystart_exits += 1;
                        }
                    } else {
                        self.cc.on_ack_unused();
                    }
                }
            }
            // RFC 6298 5.2 and 5.3.
            self.rto_at = if self.snd_una == self.snd_max {
                None
            } else {
                Some(now + self.rtt.rto())
            };
            self.stalled_since = now;
            self.tlp_out = false;
            self.tlp_now = false;
            self.arm_tlp(now);
            if self.persist_at.is_some() {
                cold_path();
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        } else if ack == self.snd_una && self.snd_max > self.snd_una {
            cold_path();
            // A duplicate acknowledgment: without SACK, RFC 5681 section
            // 2's; with SACK, an acknowledgment that reports more data held
            // (RFC 6675 section 2: data-carrying ACKs count too, so a
            // bidirectional transfer still detects loss early), and only
            // such: a SACK receiver repeats its ACK without new SACK
            // blocks for a segment it already had (duplicated by the
            // network, or resent after a timeout), which is no loss.
            let dup = if self.sack_ok {
                sacked_more
            } else {
                seg.payload.is_empty() && !seg.flags.fin() && window == self.snd_wnd
            };
            if dup {
                self.dupacks = self.dupacks.saturating_add(1);
            }
        }
        if self.snd_nxt < self.snd_max {
            // Resending after a timeout: not what the peer holds.
            self.skip_sacked();
        }
        // Loss detection, outside recovery and not before the flight of a
        // timeout is acknowledged (RFC 6582's `recover`, RFC 6675 section
        // 5.1): three duplicates, or the scoreboard deems the first
        // unacknowledged byte lost.
        if self.recovery.is_none()
            && self.rto_recover.is_none()
            && self.snd_nxt == self.snd_max
            && self.snd_max > self.snd_una
        {
            let lost = self.sack_ok
                && self
                    .sb
                    .lost_edge(self.mss)
                    .is_some_and(|edge| self.snd_una < edge);
            if lost || self.dupacks as usize >= self.dupack_threshold() {
                let recover_fs = match &before {
                    Some(b) => self.snd_max.since(b.una).saturating_sub(b.sacked),
                    None => self.flight(),
                };
                self.enter_recovery(now, recover_fs, ctx);
            }
        }
        if let Some(b) = before
            && self.in_recovery()
        {
            self.prr_ack(&b);
        }

        // The send window (RFC 9293 section 3.10.7.4, fifth check): only
        // from a segment with SND.UNA =< SEG.ACK (an older one's window is
        // relative to an older left edge), and one no older than the last
        // that set it (SND.WL1, SND.WL2), or one that acknowledged new
        // data (as Linux's `tcp_may_update_window`): the window is kept
        // relative to SND.UNA, and an ACK that moves SND.UNA while its
        // window was refused would carry the old window's right edge
        // forward, past what the peer offered. (A peer resending after a
        // timeout acknowledges on segments with older sequence numbers
        // than its last; a window from a segment that acknowledged new
        // data is the newest the peer sent, its ACKs only moving forward.)
        if ack >= self.snd_una
            && (advanced
                || self.snd_wl1 < seg.seq
                || (self.snd_wl1 == seg.seq && self.snd_wl2 <= ack))
        {
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            if window > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }

        if self.undo.is_some() {
            self.age_undo(ack);
        }

        if self.fin_acked() {
            match self.state {
                State::FinWait1 => {
                    self.set_state(State::FinWait2);
                    if self.owner == Owner::Orphan {
                        self.close_at = Some(now + ctx.config.fin_wait2_timeout_ns);
                    }
                }
                State::Closing => self.enter_time_wait(now, ctx.config),
                State::LastAck => self.terminate(None),
                _ => {}
            }
        }
    }

    /// In SACK recovery, data sent after the latest retransmission was
    /// SACKed while a retransmitted hole still was not: the retransmission
    /// was lost too (links do not reorder much; Linux's lost-retransmit
    /// detection reasons alike). RFC 6675's `NextSeg` never resends below
    /// `HighRxt`, which would leave only the retransmission timeout:
    /// `HighRxt` goes back so that the holes deemed lost are resent;
    /// `true` when it found a lost retransmission.
    #[cold]
    fn detect_lost_retransmission(&mut self, ack: SeqNumber, ctx: &mut Ctx) -> bool {
        let una = self.snd_una.max(ack);
        if self.recovery.is_none() || self.high_rxt <= una {
            return false;
        }
        let (Some(mark), Some(highest)) = (self.rxt_mark, self.sb.highest()) else {
            return false;
        };
        if highest > mark && self.sb.unsacked(una, self.high_rxt) > 0 {
            ctx.stats.lost_retransmissions += 1;
            self.high_rxt = una;
            self.rxt_mark = None;
            return true;
        }
        false
    }

    /// Where delivery stands, before an acknowledgment is processed (see
    /// [`Self::prr_ack`]).
    #[cold]
    fn delivery_mark(&self) -> DeliveryMark {
        DeliveryMark {
            una: self.snd_una,
            sacked: self.sacked_above_una(),
            lost_to: self
                .lost_edge_in_flight()
                .max(self.high_rxt.min(self.snd_max)),
            lost_retransmission: false,
        }
    }

    /// The point below which every unSACKed byte of the flight is deemed
    /// lost (`SND.UNA` when none is).
    fn lost_edge_in_flight(&self) -> SeqNumber {
        let edge = self.sb.lost_edge(self.mss).unwrap_or(self.snd_una);
        edge.min(self.snd_max)
    }

    /// The bytes above `SND.UNA` the peer has SACKed.
    fn sacked_above_una(&self) -> usize {
        let outstanding = self.snd_max.since(self.snd_una);
        outstanding - self.sb.unsacked(self.snd_una, self.snd_max)
    }

    /// An acknowledgment in SACK recovery (the one that started it
    /// included), processed: Proportional Rate Reduction (RFC 9937) sets
    /// the window for the sends it allows, from what it delivered since
    /// `before` (the advance of `SND.UNA` and the bytes newly SACKed) and
    /// whether it was safe (it advanced `SND.UNA` and showed no new loss:
    /// no new hole deemed lost, no lost retransmission).
    #[cold]
    fn prr_ack(&mut self, before: &DeliveryMark) {
        let delivered = (self.snd_una.since(before.una) + self.sacked_above_una())
            .saturating_sub(before.sacked);
        let edge = self.lost_edge_in_flight();
        let from = before.lost_to.max(self.snd_una);
        let new_loss =
            before.lost_retransmission || (edge > from && self.sb.unsacked(from, edge) > 0);
        let safe = self.snd_una > before.una && !new_loss;
        let pipe = self.pipe();
        if let Some(cwnd) = self
            .prr
            .on_ack(delivered, pipe, self.cc.ssthresh, safe, self.mss)
        {
            self.cc.cwnd = cwnd;
        }
    }

    /// The duplicate ACKs that start fast retransmit: DupThresh, or fewer
    /// (RFC 5827's Early Retransmit) when fewer than four segments are
    /// outstanding and no new segment may go out, so that a loss in a small
    /// window does not wait for the retransmission timeout.
    fn dupack_threshold(&self) -> usize {
        let dup_thresh = super::sack::DUP_THRESH;
        let mss = self.mss.max(1);
        let outstanding = self.snd_max.since(self.snd_una).div_ceil(mss);
        if outstanding > dup_thresh || outstanding == 0 {
            return dup_thresh;
        }
        let extra = (self.dupacks as usize).min(dup_thresh - 1) * mss;
        let cwnd_room = (self.cc.cwnd + extra).saturating_sub(self.flight());
        let wnd_room = (self.snd_una + self.snd_wnd).since(self.snd_nxt);
        let unsent = self.data_end().since(self.snd_nxt);
        if unsent > 0 && cwnd_room.min(wnd_room) >= unsent.min(mss) {
            // New data can still draw duplicates.
            return dup_thresh;
        }
        (outstanding - 1).max(1)
    }

    /// An acknowledgment during a tail loss probe episode (RFC 8985
    /// section 7.4.2; Linux's `tcp_process_tlp_ack`), before `SND.UNA`
    /// moves: `dsack` is its D-SACK block, if any. A D-SACK of the probe,
    /// or a plain duplicate at the episode's end, shows that the original
    /// arrived as well: no loss. An acknowledgment past the end without
    /// either shows that the probe repaired a loss, which the window
    /// answers as any loss (a MUST of section 7.4.2), unless ECN already
    /// reduced it for this window.
    #[cold]
    fn tlp_episode_ack(
        &mut self,
        seg: &Repr,
        dsack: Option<(SeqNumber, SeqNumber)>,
        sacked_more: bool,
        ctx: &mut Ctx,
    ) {
        let Some((left, right, high)) = self.tlp_episode else {
            return;
        };
        let ack = seg.ack;
        if let Some((l, r)) = dsack
            && l < right
            && left < r
        {
            self.tlp_episode = None;
            self.rtt.probe_was_needless();
        } else if ack > high {
            self.tlp_episode = None;
            ctx.stats.tlp_repairs += 1;
            // (A response no undo of an earlier one may erase.)
            self.undo = None;
            if self.ecn_loss_reduces() {
                self.cc.on_loss(self.flight().min(self.cc.cwnd));
            }
            self.ecn_window_reduced();
        } else if ack == high && ack == self.snd_una && !sacked_more && seg.payload.is_empty() {
            self.tlp_episode = None;
            self.rtt.probe_was_needless();
        }
    }

    /// What is restored if the retransmissions about to follow (a
    /// timeout's when `timeout`) prove spurious: with timestamps (Eifel)
    /// or SACK (D-SACK), which tell it; none without either.
    #[cold]
    pub(crate) fn undo_point(&self, now: u64, timeout: bool) -> Option<alloc::boxed::Box<Undo>> {
        (self.ts_ok || self.sack_ok).then(|| {
            alloc::boxed::Box::new(Undo {
                tsval: self.ts_ok.then(|| self.ts_now(now)),
                resent: self.sack_ok.then(alloc::vec::Vec::new),
                floor: self.rxt_max,
                until: None,
                timeout,
                cc: self.cc.clone(),
            })
        })
    }

    /// The first acknowledgment of new data after a fast retransmit or a
    /// retransmission timeout (with timestamps): Eifel detection (RFC
    /// 3522). If it echoes a timestamp older than the retransmission, it
    /// answers the original transmission: the retransmission was spurious
    /// (a reordering or a delay, not a loss), and is undone. Otherwise the
    /// retransmission arrived first, which does not prove the original
    /// lost: with SACK, D-SACK may still show it was not
    /// ([`Self::dsack_undo`]).
    #[cold]
    fn eifel(&mut self, seg: &Repr, ctx: &mut Ctx) {
        let Some(tsval) = self.undo.as_deref_mut().and_then(|u| u.tsval.take()) else {
            return;
        };
        let spurious = seg
            .options
            .timestamp
            .is_some_and(|(_, ecr)| (ecr.wrapping_sub(tsval) as i32) < 0);
        if spurious {
            self.undo_loss_response(ctx);
        } else if self.undo.as_ref().is_some_and(|u| u.resent.is_none()) {
            self.undo = None;
        }
    }

    /// A D-SACK block `[l, r)`: if it reports duplicates of the current
    /// episode's retransmissions, they are accounted for, and once all
    /// are, every retransmission was needless (RFC 3708's detection;
    /// Linux's `undo_retrans`), so the loss response is undone: how
    /// connections without timestamps (those of Windows peers, by
    /// default) learn of a reordering. Duplicates of data that was not
    /// retransmitted (the network's copies) account for nothing.
    #[cold]
    fn dsack_undo(&mut self, l: SeqNumber, r: SeqNumber, ctx: &mut Ctx) {
        if self
            .undo
            .as_deref_mut()
            .is_some_and(|u| u.reported_twice(l, r))
        {
            self.undo_loss_response(ctx);
        }
    }

    /// After an acknowledgment, with an undo record: once the loss
    /// response is over, the record is kept until data sent after that is
    /// acknowledged (see [`Undo::until`]: the peer's D-SACKs of the
    /// episode, one per acknowledgment, come before), then forgotten, so
    /// that a late or stray D-SACK cannot undo an old episode's response.
    #[cold]
    fn age_undo(&mut self, ack: SeqNumber) {
        let over = !self.in_recovery() && self.rto_recover.is_none();
        let snd_max = self.snd_max;
        let Some(u) = self.undo.as_deref_mut() else {
            return;
        };
        match u.until {
            None if over => u.until = Some(snd_max),
            Some(until) if ack > until => self.undo = None,
            _ => {}
        }
    }

    /// The retransmissions were spurious: the congestion state goes back
    /// to what it was before the loss response (RFC 4015, as Linux's
    /// undo), recovery ends, and after a timeout sending resumes with new
    /// data rather than the rest of the flight, which the peer holds.
    #[cold]
    fn undo_loss_response(&mut self, ctx: &mut Ctx) {
        let Some(undo) = self.undo.take() else {
            return;
        };
        if undo.timeout {
            ctx.stats.spurious_timeouts += 1;
        } else {
            ctx.stats.spurious_fast_retransmits += 1;
        }
        self.cc.undo(&undo.cc);
        if self.rto_recover.take().is_some() {
            self.snd_nxt = self.snd_max;
            self.high_rxt = self.snd_max;
        }
        if self.recovery.take().is_some() {
            self.dupacks = 0;
            self.rexmit_now = false;
        }
    }

    /// Fast retransmit and the start of recovery (RFC 6582 / RFC 6675).
    /// `recover_fs`: the bytes outstanding and not SACKed before the
    /// acknowledgment that showed the loss (PRR's `RecoverFS`).
    #[cold]
    fn enter_recovery(&mut self, now: u64, recover_fs: usize, ctx: &mut Ctx) {
        ctx.stats.fast_retransmits += 1;
        self.prr = Prr::new(recover_fs);
        self.tlp_at = None;
        self.tlp_now = false;
        // (Recovery answers the loss: the probe's episode needs no cut.)
        self.tlp_episode = None;
        if self.sack_ok {
            ctx.stats.sack_recoveries += 1;
        }
        self.recovery = Some(self.snd_max);
        // RFC 6675 section 5 sets HighRxt to HighACK here; but holes that
        // the recovery which just ended resent above the new SND.UNA (its
        // `NextSeg` resends any hole deemed lost, also beyond its recovery
        // point) are in flight, not lost again, and would all be sent a
        // third time. They stay counted as resent (and in the pipe), as
        // Linux keeps each segment's retransmitted mark; if one of them is
        // lost, the lost-retransmission detection (`rxt_mark`) finds it.
        // Such an episode cannot be undone: its repairs are the earlier
        // episode's retransmissions, whose acknowledgments would make
        // Eifel call it spurious (see `Undo::floor`).
        let resent_before = self.high_rxt > self.snd_una;
        self.undo = if resent_before {
            None
        } else {
            self.undo_point(now, false)
        };
        // The flight without what Limited Transmit sent beyond the window
        // (RFC 5681 section 3.2 step 2: it MUST NOT count).
        if self.ecn_loss_reduces() {
            self.cc.on_loss(self.flight().min(self.cc.cwnd));
        }
        self.ecn_window_reduced();
        if !resent_before {
            self.high_rxt = self.snd_una;
            self.rxt_mark = None;
            self.rexmit_now = true;
        } else {
            // The fast retransmit is of the first hole deemed lost above
            // them (`plan_repair`), if there is one; else what follows is
            // `NextSeg`'s.
            self.rexmit_now = self.lost_hole(self.high_rxt).is_some();
        }
        if self.sack_ok {
            // PRR (`prr_ack`, next) sets the window from what this
            // acknowledgment delivered; one that delivered nothing allows
            // no send but the fast retransmit, not the burst up to the new
            // threshold that the cut would leave room for.
            self.cc.cwnd = self.pipe().max(self.mss).min(self.cc.cwnd);
        }
        // Karn: the retransmission makes the timed segment ambiguous.
        if !self.ts_ok {
            self.rtt_seq = None;
        }
    }

    fn sample_rtt(&mut self, now: u64, seg: &Repr) {
        if self.rtt_seq.is_none() && self.rtt.backed_off() {
            // The timer expired, and cleared the timed segment: with
            // timestamps, the echo of an ACK of new data tells when what it
            // acknowledges was sent (RFC 7323 section 4), resent or not.
            // Without this sample the timer, if the round trip grew past
            // it, would expire again for every segment and never measure.
            if let Some(s) = self.echo_sample(now, seg) {
                self.rtt.sample(s);
            }
            return;
        }
        if let Some((end, sent)) = self.rtt_seq
            && seg.ack >= end
        {
            let sample = if self.rtt_clean || !self.ts_ok {
                Some(now.saturating_sub(sent))
            } else {
                self.echo_sample(now, seg)
            };
            if let Some(s) = sample {
                self.rtt.sample(s);
            }
            self.rtt_seq = None;
        }
    }

    /// The round trip the timestamp echo of `seg` (an ACK of new data)
    /// tells (RFC 7323 section 4), if it can be trusted: not when the echo
    /// is older than our last retransmission. Such an ACK may have been
    /// sent only when that retransmission arrived, as a duplicate, after
    /// the ACK of the original was lost: the receiver echoes the
    /// original's TSval then (RFC 7323 section 5.3 drops a duplicate
    /// before it updates TS.Recent), and the sample would hold the whole
    /// retransmission timeout. Taken, such samples raised the smoothed RTT
    /// of a lossy path to several times its round trip and the timeout
    /// with it.
    fn echo_sample(&self, now: u64, seg: &Repr) -> Option<u64> {
        if !self.ts_ok {
            return None;
        }
        let (_, ecr) = seg.options.timestamp.filter(|&(_, ecr)| ecr != 0)?;
        if self
            .rexmit_ts
            .is_some_and(|r| (ecr.wrapping_sub(r) as i32) < 0)
        {
            return None;
        }
        let ms = self.ts_now(now).wrapping_sub(ecr);
        (ms < 60_000).then_some(u64::from(ms) * 1_000_000)
    }

    /// Our timestamp clock: milliseconds plus the connection's offset.
    pub(crate) fn ts_now(&self, now: u64) -> u32 {
        ((now / 1_000_000) as u32).wrapping_add(self.ts_offset)
    }

    fn enter_time_wait(&mut self, now: u64, config: &Config) {
        self.set_state(State::TimeWait);
        self.rto_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.close_at = Some(now + 2 * config.msl_ns);
    }

    /// A payload of `len` bytes, shorter than the peer's segment size as
    /// known: two in a row of one size, not below RFC 9293's default MSS
    /// (536), say the peer's segments shrank (its path MTU dropped), and
    /// that size becomes the one ACKs count by (as Linux's
    /// `tcp_measure_rcv_mss`): otherwise "every second full-sized segment"
    /// would wait for a third.
    fn smaller_segment(&mut self, len: usize) {
        if len >= super::conn::DEFAULT_MSS_V4 && len == self.rcv_seg_last {
            self.rcv_seg_max = len;
        }
        self.rcv_seg_last = len;
    }

    /// Payload of an acceptable segment in a state that receives data.
    fn receive_text(&mut self, now: u64, seq: SeqNumber, payload: &[u8], ctx: &mut Ctx) {
        // Trim what we already have (retransmitted head).
        let skip = self.rcv_nxt.since(seq).min(payload.len());
        let data = &payload[skip..];
        let start = seq + skip;
        if skip > 0 {
            self.report_duplicate(seq, start, ctx);
        }
        let offset = start.since(self.rcv_nxt);
        let room = self.rx.free().saturating_sub(offset);
        // Nothing past a FIN the peer already sent.
        let room = match self.rx_fin {
            Some(f) => room.min(f.since(start)),
            None => room,
        };
        let n = data.len().min(room);
        if n < data.len() {
            cold_path();
            ctx.stats.bytes_trimmed += (data.len() - n) as u64;
        }
        if n == 0 {
            cold_path();
            self.ack_now = true;
            return;
        }
        let had_holes = !self.asm.is_empty();
        if payload.len() >= self.rcv_seg_max {
            self.rcv_seg_max = payload.len();
            self.rcv_seg_last = 0;
        } else {
            self.smaller_segment(payload.len());
        }
        // Out-of-order bytes held already: reported (the first such run).
        if offset > 0
            && self.sack_ok
            && let Some((l, r)) = self.asm.overlap(offset as u32, n as u32)
        {
            let at = |o: u32| self.rcv_nxt + o as usize;
            self.report_duplicate(at(l), at(r), ctx);
        }
        // In-order bytes need no range (so a full assembler never blocks
        // them); out-of-order ones must get one.
        if offset > 0 && self.asm.add(offset as u32, n as u32).is_err() {
            cold_path();
            ctx.stats.dropped_assembler_full += 1;
            self.ack_now = true;
            return;
        }
        if offset > 0 || !self.take_placed(start, n) {
            self.rx.write_at(self.rx.len() + offset, &data[..n]);
        }
        if offset == 0 {
            self.asm.shift(n as u32);
            let in_order = n + self.asm.take_front() as usize;
            self.rx.commit(in_order);
            self.rcv_nxt += in_order;
            self.unacked += in_order;
            self.wake_recv();
            let full = self.rcv_seg_max.clamp(
                super::conn::MIN_MSS,
                usize::from(self.rcv_mss).max(super::conn::MIN_MSS),
            );
            if had_holes || self.unacked >= 2 * full || self.quickacks > 0 {
                if had_holes {
                    // The owed duplicate ACKs' blocks may lie below the
                    // new cumulative acknowledgment.
                    self.owed_sacks.clear();
                }
                self.ack_now = true;
                self.quickacks = self.quickacks.saturating_sub(1);
            } else if self.delack_at.is_none() {
                self.delack_at = Some(now + ctx.config.delayed_ack_ns);
            }
        } else {
            // Out of order: an immediate duplicate ACK, one per segment
            // even within a batch (RFC 5681 section 4.2), so that the
            // sender can count them; with SACK, each with the blocks as
            // they were after its segment.
            cold_path();
            ctx.stats.out_of_order += 1;

            self.ack_now = true;
            self.quickacks = QUICKACKS;
            if self.dupacks_owed < 3 {
                if self.sack_ok {
                    self.owe_sack();
                }
                self.dupacks_owed += 1;
            }
        }
    }

    /// Bytes `[left, right)` arrived twice: with SACK, the next segment
    /// reports them in a D-SACK block (RFC 2883: the duplicate run of the
    /// last segment that held one; the sender learns that a retransmission
    /// was needless, which Linux uses to undo a window reduction).
    #[cold]
    fn report_duplicate(&mut self, left: SeqNumber, right: SeqNumber, ctx: &mut Ctx) {
        if self.sack_ok && left < right {
            self.dsack = Some((left, right));
            ctx.stats.dsacks_sent += 1;
        }
    }

    /// Record the SACK blocks of the duplicate ACK owed for the
    /// out-of-order segment just added (out of line: rare).
    #[inline(never)]
    fn owe_sack(&mut self) {
        if self.dupacks_owed == 0 {
            self.owed_sacks.clear();
        }
        let max = if self.ts_ok { 3 } else { 4 };
        let blocks = super::sack::blocks_from(&self.asm, self.rcv_nxt, max);
        self.owed_sacks.push(blocks);
    }

    /// If the peer's FIN is next in sequence, take it.
    fn reach_fin(&mut self, now: u64, config: &Config) {
        let Some(f) = self.rx_fin else { return };
        if f != self.rcv_nxt || !self.asm.is_empty() {
            return;
        }
        self.rx_fin = None;
        self.fin_received = true;
        self.rcv_nxt += 1;
        self.ack_now = true;
        self.wake_recv();
        self.wake_urgent();
        match self.state {
            State::SynReceived | State::Established => self.set_state(State::CloseWait),
            State::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(now, config);
                } else {
                    self.set_state(State::Closing);
                }
            }
            State::FinWait2 => self.enter_time_wait(now, config),
            _ => {}
        }
    }

    /// A SYN-ACK acknowledged our SYN (in SYN-SENT, or crossing ours in a
    /// simultaneous open): the handshake is over. Its window is not scaled
    /// (RFC 7323 section 2.2).
    fn syn_acked(&mut self, now: u64, seg: &Repr) {
        self.snd_una = seg.ack;
        self.high_rxt = seg.ack;
        if self.snd_nxt < seg.ack {
            self.snd_nxt = seg.ack;
        }
        self.snd_wnd = usize::from(seg.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        self.sample_rtt(now, seg);
        if self.retries > 0 {
            self.rtt.syn_timed_out();
            self.cc.syn_timed_out();
        }
        self.retries = 0;
        self.rtt.clear_backoff();
        self.rto_at = None;
        self.ack_now = true;
        self.established();
        if let Some(k) = self.keepalive {
            self.keepalive_at = Some(now + k.idle_ns);
        }
    }

    /// SYN-SENT (RFC 9293 section 3.10.7.3).
    fn process_syn_sent(&mut self, now: u64, seg: &Repr, ctx: &mut Ctx) -> Option<RstReply> {
        let flags = seg.flags;
        let ack_ok = flags.ack() && seg.ack > self.iss && seg.ack <= self.snd_max;
        if flags.ack() && !ack_ok {
            ctx.stats.dropped_bad_ack += 1;
            return (!flags.rst()).then_some(RstReply {
                seq: seg.ack,
                ack: None,
            });
        }
        if flags.rst() {
            if ack_ok {
                ctx.stats.resets_received += 1;
                self.terminate(Some(TcpError::Refused));
            }
            return None;
        }
        if !flags.syn() || flags.fin() {
            return None;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.rcv_adv = self.rcv_nxt;
        self.last_ack_sent = self.rcv_nxt;
        self.negotiate(ctx.config, &seg.options, now);
        self.ecn_syn_ack(flags, ack_ok);
        if ack_ok {
            self.syn_acked(now, seg);
        } else {
            // Simultaneous open: answer with SYN-ACK from our ISN.
            self.snd_wnd = usize::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_nxt = self.iss;
            self.rto_at = None;
            self.rtt_seq = None;
            self.set_state(State::SynReceived);
        }
        None
    }
}
