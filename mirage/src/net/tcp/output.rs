//! What a connection sends next, in three steps so that a device that
//! refuses a segment loses nothing:
//!
//! 1. [`Conn::plan`] (no mutation) picks the next segment: the SYN or
//!    SYN-ACK; a retransmission (fast retransmit, NewReno partial ACK, or
//!    RFC 6675's `NextSeg` over the SACK scoreboard); new data within the
//!    congestion and peer windows, held back by Nagle's algorithm and
//!    sender silly-window avoidance (RFC 9293 section 3.8.6.2.1), in
//!    segments whose payload leaves room for the options (RFC 6691); the
//!    FIN (a FIN alone waits for a shut window to open);
//!    a zero-window or keep-alive probe; or a pure ACK (due now, after two
//!    full segments, when the delayed-ACK timer fired, or when the window
//!    opened enough to tell the peer).
//! 2. [`Conn::emit`] writes it, zero-copy from the send ring into the
//!    device's buffer, checksum included.
//! 3. [`Conn::commit`] records that it left (sequence numbers, timers,
//!    round-trip timing) once the device took it.
//!
//! Every segment after the SYN carries the ACK, the window (scaled), the
//! timestamps and the SACK blocks when those are in use.

use super::conn::Conn;
use super::sack::blocks_from;
use super::state::State;
use crate::net::wire::checksum::{self, PseudoHeader};
use crate::net::wire::tcp::{Flags, HEADER_LEN, MAX_OPTIONS_LEN, Options, Packet, Repr, SeqNumber};
use core::hint::cold_path;

/// The kind of segment planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// SYN or SYN-ACK.
    Syn,
    /// Data and/or FIN.
    Data,
    /// A probe with an old sequence number (zero window or keep-alive).
    Probe,
    /// A pure ACK.
    Ack,
}

/// A segment chosen but not yet sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) kind: Kind,
    pub(crate) seq: SeqNumber,
    pub(crate) len: usize,
    pub(crate) flags: Flags,
    pub(crate) window: u16,
    /// When it was planned: its options (the timestamp) are those of this
    /// time. They are written by `emit`, not kept here: a plan with its
    /// options is moved (returned, wrapped in an option) right after their
    /// narrow stores, and the whole-word copy stalls on store forwarding.
    pub(crate) now: u64,
    /// The length of its options.
    pub(crate) options_len: u8,
    /// It resends bytes sent before.
    pub(crate) retransmit: bool,
    /// It is the retransmission `rexmit_now` asked for.
    pub(crate) rexmit: bool,
    /// It is a tail loss probe.
    pub(crate) tlp: bool,
    /// It is the rescue retransmission of a SACK recovery.
    pub(crate) rescue: bool,
    /// It goes ECN-capable, ECT(0) (new data of an ECN connection).
    pub(crate) ect: bool,
}

impl Plan {
    /// The whole segment's length.
    pub(crate) fn segment_len(&self) -> usize {
        HEADER_LEN + usize::from(self.options_len) + self.len
    }
}

impl Conn {
    /// The window to advertise and its right edge: the free receive space,
    /// except that the right edge does not move forward by less than
    /// min(half the buffer, one MSS) (receiver silly-window avoidance), and
    /// never moves back.
    fn advertised(&self, syn: bool) -> u16 {
        let free = self.rx.free();
        if syn {
            return free.min(0xffff) as u16;
        }
        let edge = self.rcv_nxt + free;
        let threshold = (self.rx.capacity() / 2).min(usize::from(self.rcv_mss).max(1));
        let known = self.rcv_adv.max(self.rcv_nxt);
        let adv = if edge.since(known) >= threshold {
            edge
        } else {
            known
        };
        // Do not advertise below what the peer already knows (a window
        // may not shrink) unless the space truly shrank.
        let wnd = adv
            .since(self.rcv_nxt)
            .min(free.max(self.rcv_adv.since(self.rcv_nxt)));
        // Scaled, the window is a multiple of 2^s: rounded down, an edge
        // kept where `RCV.NXT` moved by other than a multiple of 2^s moves
        // back (RFC 7323 section 2.4). Rounded up instead when the buffer
        // holds what that announces.
        let s = self.rcv_wscale;
        let up = (wnd + (1 << s) - 1) >> s;
        let field = if up << s <= free { up } else { wnd >> s };
        field.min(0xffff) as u16
    }

    /// The options of a segment of `kind` into `o` (which holds the
    /// defaults).
    #[inline(always)]
    fn options_into(&self, now: u64, kind: Kind, o: &mut Options) {
        if kind == Kind::Syn {
            o.mss = Some(self.rcv_mss);
            if self.wscale_ok {
                o.window_scale = Some(self.rcv_wscale);
            }
            o.sack_permitted = self.sack_ok;
            if self.ts_ok {
                let ecr = if self.state == State::SynSent {
                    0
                } else {
                    self.ts_recent
                };
                o.timestamp = Some((self.ts_now(now), ecr));
            }
            return;
        }
        if self.ts_ok {
            o.timestamp = Some((self.ts_now(now), self.ts_recent));
        }
        if self.sack_ok && (!self.asm.is_empty() || self.dsack.is_some()) {
            self.sack_into(kind, o);
        }
    }

    /// The SACK blocks of [`Self::options_into`] (out of line: the common
    /// segment has none, and its options are then written in place).
    /// A duplicate ACK owed for an out-of-order segment of a batch reports
    /// the blocks as they were after that segment.
    /// A D-SACK block (RFC 2883), when duplicate bytes arrived, comes
    /// first, the usual blocks after it.
    #[inline(never)]
    fn sack_into(&self, kind: Kind, o: &mut Options) {
        let max = if self.ts_ok { 3 } else { 4 };
        let owed = (kind == Kind::Ack && self.dupacks_owed > 0)
            .then(|| self.owed_sacks.next())
            .flatten();
        let first = usize::from(self.dsack.is_some());
        let (blocks, n) = match owed {
            Some(&b) => b,
            None => blocks_from(&self.asm, self.rcv_nxt, max - first),
        };
        let n = usize::from(n).min(max - first);
        o.sack[first..first + n].copy_from_slice(&blocks[..n]);
        if let Some(d) = self.dsack {
            o.sack[0] = d;
        }
        o.sack_len = (first + n) as u8;
    }

    /// The payload of a full-sized segment now: the MSS less the room
    /// the SACK blocks take while out-of-order data is held (RFC 6691
    /// section 2: options reduce the payload; the segment with its options
    /// stays within the peer's MSS and the path MTU).
    #[inline(always)]
    pub(crate) fn seg_mss(&self) -> usize {
        if self.sack_ok && (!self.asm.is_empty() || self.dsack.is_some()) {
            self.sack_seg_mss()
        } else {
            self.mss
        }
    }

    /// [`Self::seg_mss`] with SACK blocks (out of line: rare).
    #[inline(never)]
    fn sack_seg_mss(&self) -> usize {
        let mut o = Options::default();
        self.sack_into(Kind::Data, &mut o);
        // (`mss` already leaves room for the timestamps; SACK blocks with
        // them never need the compact layout: at most 3 blocks then.)
        self.mss.saturating_sub(o.buffer_len()).max(1)
    }

    #[inline(always)]
    fn make(&self, now: u64, kind: Kind, seq: SeqNumber, len: usize, flags: Flags) -> Plan {
        let (flags, ect) = if self.ecn.any() {
            self.ecn_flags(kind, seq, len, flags)
        } else {
            (flags, false)
        };
        let mut options = Options::default();
        self.options_into(now, kind, &mut options);
        Plan {
            kind,
            seq,
            len,
            flags,
            window: self.advertised(kind == Kind::Syn),
            now,
            options_len: options.buffer_len() as u8,
            retransmit: kind == Kind::Data && seq < self.snd_max,
            rexmit: false,
            tlp: false,
            rescue: false,
            ect,
        }
    }

    /// The next segment to send, if any.
    pub(crate) fn plan(&self, now: u64) -> Option<Plan> {
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent | State::SynReceived if self.snd_nxt == self.iss => {
                let flags = if self.state == State::SynSent {
                    Flags::SYN
                } else {
                    Flags::SYN | Flags::ACK
                };
                return Some(self.make(now, Kind::Syn, self.iss, 0, flags));
            }
            State::SynSent => return None,
            State::SynReceived | State::TimeWait => {
                return self
                    .ack_now
                    .then(|| self.make(now, Kind::Ack, self.snd_max, 0, Flags::ACK));
            }
            _ => {}
        }
        if self.dupacks_owed > 0 {
            cold_path();
            // The duplicate ACKs owed for out-of-order segments go on their
            // own, before any data: an ACK that carries data is no
            // duplicate to the sender (RFC 5681 section 2, condition (b)),
            // so riding on the data that an exchange both ways has ready
            // they would leave a sender without SACK to wait for its
            // retransmission timeout instead of retransmitting fast (as
            // Linux does, which sends its duplicate ACKs at once, apart
            // from its data).
            return Some(self.make(now, Kind::Ack, self.snd_max, 0, Flags::ACK));
        }
        if let Some(p) = self.plan_data(now) {
            return Some(p);
        }
        if self.probe_now {
            cold_path();
            // The persist timer fired. If the peer's window has room for
            // less than a segment, send what fits (RFC 9293 3.8.6.2.1's
            // override timeout, lest silly-window avoidance on both sides
            // stall the connection); if none, probe it.
            let wnd_room = (self.snd_una + self.snd_wnd).since(self.snd_nxt);
            let n = self
                .data_end()
                .since(self.snd_nxt)
                .min(wnd_room)
                .min(self.seg_mss());
            if n > 0 && self.state.is_synchronized() && self.snd_nxt == self.snd_max {
                return Some(self.make(now, Kind::Data, self.snd_nxt, n, Flags::ACK | Flags::PSH));
            }
            if !(self.ack_now || self.window_update_due()) {
                return Some(self.make(now, Kind::Probe, self.snd_una - 1, 0, Flags::ACK));
            }
            // An ACK is owed too: it goes first, on its own, and the probe
            // after it. The probe's old sequence number is outside the
            // peer's window on purpose (to draw its ACK), so the peer
            // drops the segment with the acknowledgment and the window it
            // carries (RFC 9293 section 3.10.7.4): an ACK merged into it
            // would never arrive, nor does a probe count as one (see
            // `commit`). (The peer's timers and ours back off alike: its
            // retransmission can arrive as our probe falls due, every
            // time.)
        }
        if self.ack_now || self.window_update_due() {
            // The highest sequence number sent, not `SND.NXT`, which a
            // timeout moves back: the peer may hold everything up to
            // `snd_max` and would find an older number outside its window
            // (and ignore the ACK with the segment).
            return Some(self.make(now, Kind::Ack, self.snd_max, 0, Flags::ACK));
        }
        None
    }

    /// Whether our FIN may be sent in this state.
    fn fin_allowed(&self) -> Option<SeqNumber> {
        match self.state {
            State::FinWait1 | State::Closing | State::LastAck => self.fin_seq(),
            _ => None,
        }
    }

    /// A segment resending `[seq, seq + max)` (or less), with the FIN if it
    /// reaches it.
    fn resend(&self, now: u64, seq: SeqNumber, max: usize) -> Option<Plan> {
        let data_len = self.data_end().since(seq).min(max).min(self.seg_mss());
        let mut flags = Flags::ACK;
        if let Some(f) = self.fin_allowed()
            && seq + data_len == f
            && self.snd_max > f
            && max > data_len
        {
            flags |= Flags::FIN;
        }
        if data_len == 0 && !flags.fin() {
            return None;
        }
        if data_len > 0 && seq + data_len == self.data_end() {
            flags |= Flags::PSH;
        }
        let mut p = self.make(now, Kind::Data, seq, data_len, flags);
        p.retransmit = true;
        p.ect = false;
        Some(p)
    }

    fn plan_data(&self, now: u64) -> Option<Plan> {
        // (One test for the common case: no probe, no loss, no recovery.)
        if self.tlp_now | self.rexmit_now | (self.dupacks > 0) | self.in_recovery() {
            return self.plan_repair(now);
        }
        self.plan_new(now, self.cc.cwnd, self.pipe())
    }

    /// [`Self::plan_data`] with a probe, a retransmission or a recovery
    /// under way. (Out of line: its code would otherwise sit inside the
    /// hot path of every segment.)
    #[inline(never)]
    fn plan_repair(&self, now: u64) -> Option<Plan> {
        // A tail loss probe (RFC 8985 section 7.3): the last segment again.

        // RFC 8985 prefers new data when there is some, but a receiver
        // delays its ACK of one new in-order segment (by its delayed-ACK
        // timer, tens of milliseconds) while it acknowledges a duplicate
        // at once: when the probe is needed only because the ACK of a whole
        // flight was lost, the duplicate costs a segment, new data the
        // peer's delayed-ACK time. Either way the ACK (with SACK) starts
        // fast recovery if something was lost.
        if self.tlp_now && self.snd_una < self.snd_max {
            let last = self.snd_max.since(self.snd_una).min(self.seg_mss());
            let fin = usize::from(self.fin_seq().is_some_and(|f| self.snd_max > f));
            let start = self.snd_max - last.max(fin);
            let mut p = self.resend(now, start, last.max(fin));
            if let Some(p) = &mut p {
                p.tlp = true;
                return Some(*p);
            }
        }
        // What recovery has not resent yet (RFC 6675's `HighRxt`).
        let from = self.high_rxt.max(self.snd_una);
        // Fast retransmit / partial ACK: the first unacknowledged segment
        // (with SACK, the first hole not resent yet: see `enter_recovery`).
        if self.rexmit_now && self.snd_una < self.snd_max {
            let from = if self.sack_ok { from } else { self.snd_una };
            let (seq, len) = self
                .sb
                .next_hole(from, self.snd_max, self.mss)
                .unwrap_or((self.snd_una, self.mss));
            if let Some(mut p) = self.resend(now, seq, len) {
                p.rexmit = true;
                return Some(p);
            }
        }
        let cwnd = self.cc.cwnd;
        let pipe = self.pipe();
        if !self.in_recovery() && self.dupacks > 0 {
            // Limited Transmit (RFC 3042): a new segment for each of the
            // first two duplicate ACKs, beyond the congestion window, so
            // that a small window still draws the duplicates (or SACK
            // blocks) that trigger fast retransmit instead of a timeout.
            let extra = (self.dupacks as usize).min(super::sack::DUP_THRESH - 1) * self.mss;
            return self.plan_new(now, cwnd + extra, pipe);
        }
        if self.in_recovery() && self.sack_ok {
            if cwnd <= pipe {
                return None;
            }
            // RFC 6675 NextSeg rule 1: a lost hole not yet retransmitted.
            let lost_hole = self.lost_hole(from);
            if cwnd < pipe + self.mss {
                // Less room than a segment (PRR allows in bytes what was
                // delivered, and a peer SACKing small segments delivers
                // little): a lost hole that fits, or else a small segment
                // of new data that fits (`plan_new` cuts none from a longer
                // queue); a longer lost hole waits for its room.
                let room = cwnd - pipe;
                return match lost_hole {
                    Some((s, l)) if l <= room => self.resend(now, s, l),
                    Some(_) => None,
                    None => self.plan_new(now, cwnd, pipe),
                };
            }
            if let Some((s, l)) = lost_hole
                && let Some(p) = self.resend(now, s, l)
            {
                return Some(p);
            }
            // Rule 2: new data.
            if let Some(p) = self.plan_new(now, cwnd, pipe) {
                return Some(p);
            }
            // Rule 3: an unSACKed hole not yet deemed lost, below the
            // highest SACKed byte (its rule 1.b: not what was just sent
            // beyond all the peer reported, or an application writing
            // little at a time would have each new segment sent twice).
            // (The scoreboard holds nothing beyond `SND.MAX`.)
            let sacked = self.sb.highest().unwrap_or(self.snd_una);
            if let Some((s, l)) = self.sb.next_hole(from, sacked, self.mss) {
                return self.resend(now, s, l);
            }
            // Rule 4: once per recovery, the rescue retransmission of the
            // last unSACKed segment, so that a loss at the end of the
            // flight with nothing new to send does not wait for a timeout.
            // Only of data sent before the recovery began and not resent
            // yet: what went since feeds the ACKs already.
            if let Some(point) = self.recovery
                && self.rescue_rxt.is_none_or(|r| self.snd_una > r)
                && let Some((s, l)) = self.sb.last_hole(from, point, self.mss)
                && let Some(mut p) = self.resend(now, s, l)
            {
                p.rescue = true;
                return Some(p);
            }
            return None;
        }
        self.plan_new(now, cwnd, pipe)
    }

    /// Whether the FIN goes after the `n` bytes from `nxt`, with
    /// `wnd_room` left in the peer's window (out of line: most segments
    /// have no FIN queued). A FIN alone is not sent into a shut window
    /// (RFC 9293 3.10.7.4: the receiver need not take it), nor sent again
    /// there after a timeout: it waits, with the persist timer's probes,
    /// as data does.
    #[inline(never)]
    fn fin_goes(&self, nxt: SeqNumber, n: usize, wnd_room: usize) -> bool {
        self.fin_allowed()
            .is_some_and(|f| nxt + n == f && nxt <= f && (n > 0 || wnd_room > 0))
    }

    /// New data from `SND.NXT` (or data resent after a timeout moved
    /// `SND.NXT` back), and the FIN.
    fn plan_new(&self, now: u64, cwnd: usize, in_flight: usize) -> Option<Plan> {
        let nxt = self.snd_nxt;
        let end = self.data_end();
        let avail = end.since(nxt);
        let cwnd_room = cwnd.saturating_sub(in_flight);
        let wnd_room = (self.snd_una + self.snd_wnd).since(nxt);
        let mss = self.seg_mss();
        let retransmit = nxt < self.snd_max;
        let mut n = avail.min(cwnd_room).min(wnd_room);
        // (Not for a segment that carries the urgent pointer: the offload
        // copies the header, URG and pointer included, into each piece,
        // whose pointer would then count from its own sequence number and
        // name a later byte. Linux sends urgent data in segments of one MSS
        // too.)
        if self.offload > 0 && !retransmit && n > mss && !self.snd_up.is_some_and(|up| nxt < up) {
            n = self.offloaded_len(n, avail, mss);
        } else {
            n = n.min(mss);
        }
        let fin_here = self.fin_queued && self.fin_goes(nxt, n, wnd_room);
        if n == 0 && !fin_here {
            return None;
        }
        if n > 0 && !retransmit && n < mss && !fin_here {
            // Nagle (RFC 9293 3.7.4) and sender SWS avoidance; urgent
            // data is not held back (as in Linux).
            let nagle_ok = self.nodelay || nxt == self.snd_una || self.snd_up.is_some();
            let big = self.max_snd_wnd > 0 && n >= self.max_snd_wnd / 2;
            if !(nagle_ok && (n == avail || big)) {
                return None;
            }
        }
        let mut flags = Flags::ACK;
        if fin_here {
            flags |= Flags::FIN;
        }
        if n > 0 && nxt + n == end {
            flags |= Flags::PSH;
        }
        Some(self.make(now, Kind::Data, nxt, n, flags))
    }

    /// The payload of a segment of new data through the device's
    /// segmentation offload, when `n` bytes (more than one `mss`) may go
    /// and `avail` are waiting: as many bytes as the offload takes, in
    /// whole segments of `mss` bytes (the pieces the device cuts it into),
    /// and the last, shorter piece only when it would go on its own at this
    /// point (`n` is all there is, and Nagle does not hold it back: no
    /// delay asked, or the FIN follows), as Linux's TSO defers it. (Never
    /// for a segment that carries the urgent pointer: see `plan_new`.)
    // (Out of line: the offload is off on most devices.)
    #[inline(never)]
    fn offloaded_len(&self, n: usize, avail: usize, mss: usize) -> usize {
        let n = n.min(self.offload_payload(mss));
        let tail = n % mss;
        let tail_goes = n == avail && (self.nodelay || self.fin_queued);
        if tail > 0 && !tail_goes { n - tail } else { n }
    }

    /// The most payload a segment through the offload carries: whole
    /// segments of `mss` bytes, as many as fit with the most options.
    fn offload_payload(&self, mss: usize) -> usize {
        let room = self.offload.saturating_sub(HEADER_LEN + MAX_OPTIONS_LEN);
        (room / mss).max(1) * mss
    }

    /// The payload of the largest segment new data goes in: the MSS, or
    /// more through a device's segmentation offload.
    pub(crate) fn largest_segment(&self) -> usize {
        if self.offload == 0 {
            self.mss
        } else {
            self.offload_payload(self.mss)
        }
    }

    /// Write the planned segment into `buf` (exactly `plan.segment_len()`
    /// bytes): header, options, payload from the send ring, checksum.
    pub(crate) fn emit(&self, plan: &Plan, buf: &mut [u8]) {
        let ack = if plan.flags.ack() {
            self.rcv_nxt
        } else {
            SeqNumber(0)
        };
        let mut repr = Repr {
            src_port: self.tuple.local_port,
            dst_port: self.tuple.remote_port,
            seq: plan.seq,
            ack,
            flags: plan.flags,
            window: plan.window,
            urgent: 0,
            options: Options::default(),
            payload: &[],
        };
        if self.snd_up.is_some()
            && plan.kind != Kind::Syn
            && let Some(up) = self.urgent_field(plan.seq, plan.len)
        {
            cold_path();
            repr.flags |= Flags::URG;
            repr.urgent = up;
        }
        // The options as planned: the same time, the same state.
        self.options_into(plan.now, plan.kind, &mut repr.options);
        let hl = repr.header_len();
        debug_assert_eq!(hl + plan.len, plan.segment_len());
        // The payload is summed while it is copied from the send ring, so
        // that it is read once; the header follows.
        let mut payload_sum = 0;
        if plan.len > 0 {
            let off = plan.seq.since(self.tx_seq);
            let (a, b) = self.tx.slices(off, plan.len);
            let (to_a, rest) = buf[hl..hl + plan.len].split_at_mut(a.len());
            let sum_a = checksum::copy_and_sum(to_a, a);
            payload_sum = sum_a;
            if !rest.is_empty() {
                cold_path();
                let (to_b, unheld) = rest.split_at_mut(b.len());
                let sum_b = checksum::copy_and_sum(to_b, b);
                // (The plan never reaches past the held bytes; were it to,
                // zeros keep the checksum right.)
                unheld.fill(0);
                payload_sum = checksum::combine(&[sum_a, checksum::at_offset(sum_b, a.len())]);
            }
        }
        // Most segments: IPv4 and the timestamps alone, in one step.
        if let PseudoHeader::V4(src, dst) = self.ph {
            let len = buf.len();
            if repr.emit_timestamped_v4(&mut buf[..hl], src, dst, len, payload_sum) {
                return;
            }
        }
        let mut p = Packet::new_unchecked(&mut *buf);
        let header_sum = repr.emit_header_and_sum(&mut p);
        p.fill_checksum_from_sums(&self.ph, header_sum, payload_sum);
    }

    /// The planned segment left: update the state.
    pub(crate) fn commit(&mut self, now: u64, plan: &Plan) {
        self.segs_out += 1;
        // (A D-SACK block is reported once: RFC 2883 section 4, rule 2.)
        if plan.kind != Kind::Syn {
            self.dsack = None;
        }
        // (A probe's acknowledgment does not count: its old sequence
        // number is outside the peer's window, which drops it.)
        if plan.flags.ack() && plan.kind != Kind::Probe {
            self.ack_now = false;
            self.unacked = 0;
            self.delack_at = None;
            self.last_ack_sent = self.rcv_nxt;
            let scale = if plan.kind == Kind::Syn {
                0
            } else {
                self.rcv_wscale
            };
            let edge = self.rcv_nxt + (usize::from(plan.window) << scale);
            if edge > self.rcv_adv {
                self.rcv_adv = edge;
            }
        }
        if plan.kind == Kind::Ack && self.dupacks_owed > 0 {
            cold_path();
            self.dupacks_owed -= 1;
            self.owed_sacks.sent();
            self.ack_now = self.dupacks_owed > 0;
        } else {
            self.dupacks_owed = 0;
        }
        match plan.kind {
            Kind::Syn => {
                let end = self.iss + 1;
                if self.snd_max < end {
                    self.snd_max = end;
                    self.rtt_seq = Some((end, now));
                    self.rtt_clean = true;
                } else {
                    self.retransmits += 1;
                    self.rtt_seq = None;
                }
                self.snd_nxt = end;
                if self.rto_at.is_none() {
                    self.start_rto(now);
                }
            }
            Kind::Data => {
                let end = plan.seq + (plan.len + usize::from(plan.flags.fin()));
                // RFC 5681 section 4.1: nothing in flight and no data sent
                // for longer than the retransmission timeout, the ACK clock
                // is lost: the window restarts (this first segment was
                // planned with the old one; those after it are not).
                if self.snd_una == self.snd_max
                    && now.saturating_sub(self.last_data_ns) > self.rtt.rto()
                {
                    cold_path();
                    self.cc.restart_after_idle();
                }
                self.last_data_ns = now;
                if plan.retransmit {
                    cold_path();
                    self.retransmits += 1;
                    if let Some(u) = self.undo.as_deref_mut() {
                        u.resent(plan.seq, end);
                    }
                    // (Not a tail loss probe's: the last segment again, whose
                    // episode tells of itself.)
                    if !plan.tlp && self.rxt_max.is_none_or(|m| m < end) {
                        self.rxt_max = Some(end);
                    }
                    // Karn's algorithm.
                    self.rtt_clean = false;
                    self.rexmit_ts = Some(self.ts_now(now));
                    if !self.ts_ok {
                        self.rtt_seq = None;
                    }
                    if plan.rescue {
                        // (`HighRxt` stays: the holes below are resent
                        // as they are found lost.)
                        self.rescue_rxt = self.recovery;
                    } else if self.in_recovery() {
                        if self.high_rxt < end {
                            self.high_rxt = end;
                        }
                        self.rxt_mark = Some(self.snd_max);
                    }
                } else if self.rtt_seq.is_none() {
                    // A segment through the offload leaves as pieces of an
                    // MSS at once: the acknowledgment of its first piece
                    // times it (as Linux samples the acknowledged part of
                    // a TSO segment), lest a piece lost further on cost
                    // the sample (without samples, a backed-off timer
                    // stays backed off).
                    let timed = if plan.len > self.mss {
                        plan.seq + self.mss
                    } else {
                        end
                    };
                    self.rtt_seq = Some((timed, now));
                    self.rtt_clean = true;
                }
                if plan.rexmit {
                    cold_path();
                    self.rexmit_now = false;
                }
                if plan.flags.cwr() {
                    cold_path();
                    self.ecn_cwr_sent();
                }
                self.probe_now = false;
                if plan.tlp {
                    cold_path();

                    self.tlp_now = false;
                    self.tlp_out = true;
                    self.tlp_at = None;
                    if end <= self.snd_max {
                        self.tlp_episode = Some((plan.seq, end, self.snd_nxt.max(end)));
                    }
                    // RFC 8985 7.3: the RTO runs from the probe.
                    self.rto_at = Some(self.rto_deadline(now));
                }
                if plan.seq == self.snd_nxt {
                    self.snd_nxt = end;
                    if plan.retransmit {
                        // Resending after a timeout: not what the peer
                        // holds.
                        self.skip_sacked();
                    }
                }
                let new_data = self.snd_max < end;
                if new_data {
                    self.snd_max = end;
                }
                if self.recovery.is_some() && self.sack_ok {
                    cold_path();
                    // (PRR's `prr_out`: data new or resent, the probes'
                    // too; what a FIN occupies counts as a byte.)
                    self.prr.sent(end.since(plan.seq));
                }
                if self.rto_at.is_none() {
                    self.start_rto(now);
                }
                if (new_data || self.in_recovery()) && !plan.tlp {
                    self.arm_tlp(now);
                }
            }
            Kind::Probe => self.probe_now = false,
            Kind::Ack => {}
        }
    }

    /// Marks the connection queued for dispatch if it is not yet and
    /// [`Conn::wants_output`]; `true` when it was marked, and the caller
    /// must then put it on the dispatch queue.
    #[inline]
    pub(crate) fn mark_queued_if_output(&mut self) -> bool {
        let mark = !self.queued && self.wants_output();
        if mark {
            self.queued = true;
        }
        mark
    }

    /// Whether `plan` may find something (cheap; used to queue the
    /// connection for dispatch).
    #[inline]
    pub(crate) fn wants_output(&self) -> bool {
        match self.state {
            State::Closed | State::Listen => false,
            State::SynSent | State::SynReceived if self.snd_nxt == self.iss => true,
            _ => {
                // (The flags without branches: most calls find none set.)
                (self.ack_now | self.probe_now | self.rexmit_now | self.tlp_now)
                    || self.snd_nxt < self.data_end()
                    || (self.fin_queued && self.snd_nxt <= self.data_end())
                    || (self.in_recovery() && self.sack_ok)
                    || self.window_update_due()
            }
        }
    }

    /// Arms the persist timer: the timeout backed off by the probes so
    /// far, or the end of the user timeout of unanswered probes if that
    /// comes first. (Out of line: rare, and `arm_timers` runs after every
    /// event.)
    #[inline(never)]
    fn arm_persist(&mut self, now: u64, max_rto: u64) {
        let shift = self.persist_backoff.min(16);
        let t = self.rtt.rto().saturating_mul(1 << shift).min(max_rto);
        self.persist_at = Some(if self.probes_out > 0 {
            self.by_user_timeout(now + t, self.probes_since)
        } else {
            now + t
        });
    }

    /// Arm the persist timer when the peer's window stops us with nothing
    /// in flight (RFC 9293 section 3.8.6.1), and keep-alive when idle in a
    /// state that can wait on the peer indefinitely: ESTABLISHED, and the
    /// half-closed CLOSE-WAIT and FIN-WAIT-2 (as Linux; the closing states
    /// with our FIN unacknowledged have the retransmission timer).
    #[inline]
    pub(crate) fn arm_timers(&mut self, now: u64, max_rto: u64) {
        if !self.state.is_synchronized() {
            return;
        }
        let unsent = self.data_end().since(self.snd_nxt);
        let wnd_room = (self.snd_una + self.snd_wnd).since(self.snd_nxt);
        // Nothing in flight and the window too small for what waits (zero,
        // or less than a segment that silly-window avoidance holds back).
        // Nothing in flight includes a flight the retransmission timeout
        // took back (`SND.NXT` back at `SND.UNA`) and that the window then
        // kept from being resent: without the persist timer then, nothing
        // would ever send again if the peer's window update was lost.
        // (Or the FIN alone, not yet sent, that a shut window holds back:
        // see `plan_new`.)
        let held = (unsent > 0 && wnd_room < unsent.min(self.mss))
            || (self.fin_queued && unsent == 0 && wnd_room == 0 && self.snd_nxt <= self.data_end());
        if held
            && self.snd_nxt == self.snd_una
            && self.rto_at.is_none()
            && self.persist_at.is_none()
        {
            self.arm_persist(now, max_rto);
        }
        if let Some(k) = self.keepalive
            && self.keepalive_at.is_none()
            && matches!(
                self.state,
                State::Established | State::CloseWait | State::FinWait2
            )
        {
            self.keepalive_at = Some(now + k.idle_ns);
        }
    }
}
