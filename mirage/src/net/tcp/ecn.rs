//! Explicit Congestion Notification (RFC 3168 section 6.1) of one
//! connection:
//!
//! - negotiation (6.1.1): with [`Ecn::On`] our SYN carries ECE and CWR (an
//!   ECN-setup SYN; a SYN resent after a timeout does not, 6.1.1.1, as
//!   Linux: a middlebox may drop such SYNs); ECN is in use only if the
//!   SYN-ACK carries ECE without CWR. A listener that is not [`Ecn::Off`]
//!   accepts an ECN-setup SYN with a SYN-ACK carrying ECE alone, and the
//!   connection uses ECN from then on; so does a SYN cookie's SYN-ACK,
//!   whose timestamp records the agreement for the ACK that opens the
//!   connection (as Linux; without timestamps a cookie carries none, and
//!   the SYN-ACK declines). A simultaneous open does not use it;
//! - sending (6.1.2, 6.1.4 to 6.1.6): the new data segments of an ECN
//!   connection are sent ECT(0); SYNs, pure ACKs, window probes, FINs
//!   without data, RSTs and retransmissions are not ECN-capable;
//! - receiving (6.1.3): a Congestion Experienced mark makes every segment
//!   we send carry ECE until a segment with CWR arrives (one that carries
//!   CWR and a new mark keeps it set); a marked data segment is
//!   acknowledged at once (as Linux's quick ACK), so that the sender
//!   learns of it a delayed-ACK time sooner;
//! - the congestion response (6.1.2): an acknowledgment with ECE reduces
//!   the window as a fast retransmit does (`Congestion::on_loss`:
//!   NewReno's half of the flight, CUBIC's β times the window), without
//!   resending anything and without growing the window for that ACK, at
//!   most once per window of data: ECE is ignored until something sent
//!   after the reduction is acknowledged (Linux's CWR state, held until
//!   an ACK above `snd_max` at the reduction, which the CWR segment
//!   reaches), and during loss recovery or after a timeout, which reduced
//!   the window already; a loss in the window of data an ECE reduction
//!   concerns starts recovery without reducing it again (as Linux from
//!   its CWR state). Every reduction (for ECE, a fast retransmit or a
//!   timeout) sets CWR on the next new data segment. The window is not cut
//!   below two segments (the floor of `on_loss`; RFC 3168 would go down
//!   to one and then hold new data for a timeout).

use super::config::{Config, Ecn};
use super::conn::Conn;
use super::output::Kind;
use super::state::{Ctx, State};
use crate::net::ip::{ECN_CE, ECN_MASK};
use crate::net::wire::tcp::{Flags, Repr, SeqNumber};

/// ECN negotiated: data goes ECT(0), marks are echoed and answered.
const OK: u8 = 1;
/// Our SYN asks for ECN (SYN-SENT with [`Ecn::On`]).
const ASK: u8 = 2;
/// A congestion mark was received: our segments carry ECE until CWR
/// arrives.
const ECHO: u8 = 4;
/// The window was reduced: the next new data segment carries CWR.
const CWR_DUE: u8 = 8;
/// The window was reduced for ECE, and the window of data it concerns is
/// not yet acknowledged: a loss in it reduces no further (Linux's CWR
/// state, from which recovery starts without a second reduction).
const REDUCED: u8 = 16;

/// A connection's ECN state (all zero: no ECN, the common case, which the
/// data path tests with one comparison).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EcnState {
    bits: u8,
    /// The `snd_max` of the last window reduction: ECE is ignored until an
    /// acknowledgment above it (the window of data that the congestion
    /// signals of that reduction concern).
    recover: Option<SeqNumber>,
}

impl EcnState {
    /// The state of a new connection: asking for ECN on an active open
    /// with [`Ecn::On`] (an accepted connection's is set by
    /// [`Conn::ecn_syn_received`]).
    pub(crate) fn new(config: &Config) -> EcnState {
        EcnState {
            bits: if config.ecn == Ecn::On { ASK } else { 0 },
            recover: None,
        }
    }

    /// Anything to do (ECN asked for or in use).
    #[inline(always)]
    pub(crate) fn any(&self) -> bool {
        self.bits != 0
    }

    /// ECN negotiated.
    #[inline(always)]
    pub(crate) fn ok(&self) -> bool {
        self.bits & OK != 0
    }
}

impl Conn {
    /// A listener's connection got the peer's SYN: ECN is in use if the
    /// SYN asks for it (ECE and CWR, RFC 3168 section 6.1.1) and the
    /// configuration accepts it; the SYN-ACK then carries ECE.
    pub(crate) fn ecn_syn_received(&mut self, config: &Config, flags: Flags) {
        self.ecn_accept(config, flags.ece() && flags.cwr());
    }

    /// A passive connection's ECN: in use if the peer `asked` (its SYN; or
    /// for a connection opened by a SYN cookie's ACK, the cookie SYN-ACK's
    /// timestamp, which the ACK echoes, says its SYN did and the SYN-ACK
    /// accepted) and the configuration accepts it.
    pub(crate) fn ecn_accept(&mut self, config: &Config, asked: bool) {
        self.ecn = EcnState {
            bits: if asked && config.ecn != Ecn::Off {
                OK
            } else {
                0
            },
            recover: None,
        };
    }

    /// In SYN-SENT, the peer's SYN arrived (`ack_ok`: a SYN-ACK
    /// acknowledging ours): ECN is in use if we asked and the SYN-ACK has
    /// ECE without CWR (a SYN-ACK with both is a broken reflection of our
    /// flags). A SYN crossing ours (simultaneous open) settles no ECN.
    pub(crate) fn ecn_syn_ack(&mut self, flags: Flags, ack_ok: bool) {
        let ok = self.ecn.bits & ASK != 0 && ack_ok && flags.ece() && !flags.cwr();
        self.ecn.bits = if ok { OK } else { 0 };
    }

    /// The flags of a segment of `kind` planned at `seq` with `len` bytes
    /// of data, and whether it goes ECN-capable (ECT(0)). Called only when
    /// [`EcnState::any`].
    #[inline(never)]
    pub(crate) fn ecn_flags(
        &self,
        kind: Kind,
        seq: SeqNumber,
        len: usize,
        mut flags: Flags,
    ) -> (Flags, bool) {
        let bits = self.ecn.bits;
        if kind == Kind::Syn {
            if self.state == State::SynSent {
                if bits & ASK != 0 && self.retries == 0 {
                    flags |= Flags::ECE | Flags::CWR;
                }
            } else if bits & OK != 0 {
                flags |= Flags::ECE;
            }
            return (flags, false);
        }
        if bits & OK == 0 {
            return (flags, false);
        }
        if bits & ECHO != 0 {
            flags |= Flags::ECE;
        }
        // New data only: not a retransmission, a probe, a pure ACK or a
        // FIN alone.
        let new_data = kind == Kind::Data && len > 0 && seq >= self.snd_max;
        if new_data && bits & CWR_DUE != 0 {
            flags |= Flags::CWR;
        }
        (flags, new_data)
    }

    /// A data segment with CWR left.
    #[inline(always)]
    pub(crate) fn ecn_cwr_sent(&mut self) {
        self.ecn.bits &= !CWR_DUE;
    }

    /// Whether a loss detected now reduces the window: not when ECE
    /// reduced it for the same window of data (RFC 3168 section 6.1.2:
    /// once per window for losses and marks together).
    #[inline(always)]
    pub(crate) fn ecn_loss_reduces(&self) -> bool {
        self.ecn.bits & REDUCED == 0
    }

    /// The window was reduced (a fast retransmit, a timeout): the next
    /// new data segment carries CWR, and ECE is ignored for the data sent
    /// so far.
    #[inline(always)]
    pub(crate) fn ecn_window_reduced(&mut self) {
        if self.ecn.ok() {
            self.ecn_reduced_now();
            self.ecn.bits &= !REDUCED;
        }
    }

    #[inline(never)]
    fn ecn_reduced_now(&mut self) {
        self.ecn.bits |= CWR_DUE;
        self.ecn.recover = Some(self.snd_max);
    }

    /// Whether the window must not grow for this acknowledgment: it
    /// carries ECE on an ECN connection (RFC 3168 section 6.1.2).
    #[inline(always)]
    pub(crate) fn ecn_holds_growth(&self, seg: &Repr) -> bool {
        seg.flags.ece() && self.ecn.ok()
    }

    /// An acceptable segment arrived (before its acknowledgment is
    /// processed), received with the ECN field of `ctx.tos`. Called only
    /// when [`EcnState::any`].
    #[inline(never)]
    pub(crate) fn ecn_received(&mut self, seg: &Repr, ctx: &mut Ctx) {
        if !self.ecn.ok() {
            return;
        }
        // The receiver (RFC 3168 section 6.1.3): CWR ends the echo, a mark
        // (on this segment too) starts it again.
        if seg.flags.cwr() {
            self.ecn.bits &= !ECHO;
        }
        if ctx.tos & ECN_MASK == ECN_CE {
            ctx.stats.ecn_ce_received += 1;
            self.ecn.bits |= ECHO;
            if !seg.payload.is_empty() {
                self.ack_now = true;
            }
        }
        // The sender (section 6.1.2).
        if let Some(r) = self.ecn.recover
            && seg.ack > r
        {
            self.ecn.recover = None;
            self.ecn.bits &= !REDUCED;
        }
        // (Not for the SYN: the handshake's ACK echoes no mark of ours.)
        if seg.flags.ece()
            && self.snd_una != self.iss
            && self.ecn.recover.is_none()
            && self.recovery.is_none()
            && self.rto_recover.is_none()
            && self.snd_max > self.snd_una
            && seg.ack >= self.snd_una
        {
            ctx.stats.ecn_reductions += 1;
            // (A response no undo of an earlier one may erase, as Linux's
            // `tcp_enter_cwr`.)
            self.undo = None;
            self.cc.on_loss(self.flight().min(self.cc.cwnd));
            self.ecn_reduced_now();
            self.ecn.bits |= REDUCED;
        }
    }
}
