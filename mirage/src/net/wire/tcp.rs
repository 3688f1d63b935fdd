//! TCP segments (RFC 9293 section 3.1) and the options this stack speaks:
//! end of list, no-operation, maximum segment size (RFC 9293), window scale
//! and timestamps (RFC 7323), SACK-permitted and SACK blocks (RFC 2018).
//! Unknown options with a well-formed length are skipped; an option whose
//! length is below two, runs past the header, or is wrong for its kind is
//! `Malformed`.
//!
//! The checksum covers the IPv4 or IPv6 pseudo-header ([`PseudoHeader`]).
//! For the zero-copy send path, [`Repr::emit_header`] writes the header and
//! options only; the caller copies the payload straight after them (from
//! its send buffer into the device's frame) and then calls
//! [`Packet::fill_checksum`].

use super::checksum::{self, PseudoHeader};
use super::{Error, Field, get_u16, get_u32, set_u16, set_u32, sub, sub_mut};
use core::cmp::Ordering;
use core::fmt;
use core::net::IpAddr;
use core::ops;

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ: Field = 4..8;
    pub const ACK: Field = 8..12;
    pub const FLAGS: Field = 12..14;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// The length of a header without options.
pub const HEADER_LEN: usize = field::URGENT.end;
/// The longest header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;
/// The most option bytes a header can hold.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;
/// The IP protocol number of TCP.
pub const PROTOCOL: u8 = 6;
/// The most SACK blocks an option can carry (4 without timestamps, 3 with).
pub const MAX_SACK_BLOCKS: usize = 4;

/// The header length of a segment whose only options are the timestamps
/// ([`Repr::emit_timestamped_v4`]).
const TIMESTAMPED_HEADER_LEN: usize = HEADER_LEN + 12;
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WSCALE: u8 = 3;
const OPT_SACK_PERMITTED: u8 = 4;
const OPT_SACK: u8 = 5;
const OPT_TIMESTAMP: u8 = 8;

/// A TCP sequence number: arithmetic and comparisons are modulo 2^32
/// (RFC 9293 section 3.4), so `a < b` means "`b` is less than 2^31 ahead
/// of `a`". The order is not transitive over the whole space; compare
/// numbers that lie within a window of each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The signed distance from `other` to `self`.
    pub const fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self - other` as a byte count, or 0 if `self` is before `other`.
    pub const fn since(self, other: SeqNumber) -> usize {
        let d = self.diff(other);
        if d < 0 { 0 } else { d as usize }
    }

    /// The later of two numbers.
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self.diff(other) >= 0 { self } else { other }
    }

    /// The earlier of two numbers.
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self.diff(other) <= 0 { self } else { other }
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl ops::Add<usize> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs as u32))
    }
}

impl ops::AddAssign<usize> for SeqNumber {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl ops::Sub<usize> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, rhs: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs as u32))
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The control bits of a segment (and the two ECN bits, carried but not
/// interpreted).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// No more data from sender.
    pub const FIN: Flags = Flags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x02);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x04);
    /// Push function.
    pub const PSH: Flags = Flags(0x08);
    /// The acknowledgment field is significant.
    pub const ACK: Flags = Flags(0x10);
    /// The urgent pointer is significant.
    pub const URG: Flags = Flags(0x20);
    /// ECN echo (RFC 3168).
    pub const ECE: Flags = Flags(0x40);
    /// Congestion window reduced (RFC 3168).
    pub const CWR: Flags = Flags(0x80);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// FIN set.
    pub const fn fin(self) -> bool {
        self.0 & Self::FIN.0 != 0
    }
    /// SYN set.
    pub const fn syn(self) -> bool {
        self.0 & Self::SYN.0 != 0
    }
    /// RST set.
    pub const fn rst(self) -> bool {
        self.0 & Self::RST.0 != 0
    }
    /// PSH set.
    pub const fn psh(self) -> bool {
        self.0 & Self::PSH.0 != 0
    }
    /// ACK set.
    pub const fn ack(self) -> bool {
        self.0 & Self::ACK.0 != 0
    }
    /// URG set.
    pub const fn urg(self) -> bool {
        self.0 & Self::URG.0 != 0
    }
    /// ECE (ECN echo) set.
    pub const fn ece(self) -> bool {
        self.0 & Self::ECE.0 != 0
    }
    /// CWR (congestion window reduced) set.
    pub const fn cwr(self) -> bool {
        self.0 & Self::CWR.0 != 0
    }
}

impl ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        let mut first = true;
        for (i, n) in names.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// A view over a TCP segment.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer, checking its lengths (see [`Packet::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check that the buffer holds the fixed header, that the data offset is
    /// at least 5 words and that the header it declares fits. The segment is
    /// the whole buffer (TCP has no length field: the IP layer delimits it).
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            Err(Error::Malformed)
        } else if hl > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port.
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The sequence number.
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(get_u32(self.buffer.as_ref(), field::SEQ))
    }

    /// The acknowledgment number (meaningful when ACK is set).
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(get_u32(self.buffer.as_ref(), field::ACK))
    }

    /// The header length in bytes (data offset times four).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }

    /// The control bits.
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS.start + 1])
    }

    /// The window field (unscaled).
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The option bytes (empty if the header does not fit).
    pub fn options(&self) -> &[u8] {
        sub(self.buffer.as_ref(), HEADER_LEN..self.header_len())
    }

    /// The payload (empty if the header does not fit).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(self.header_len()..).unwrap_or(&[])
    }

    /// Whether the checksum (with the pseudo-header) is right.
    pub fn verify_checksum(&self, ph: &PseudoHeader) -> bool {
        let d = self.buffer.as_ref();
        checksum::combine(&[ph.sum(PROTOCOL, d.len() as u32), checksum::data(d)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the source port.
    pub fn set_src_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    /// Set the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    /// Set the sequence number.
    pub fn set_seq_number(&mut self, v: SeqNumber) {
        set_u32(self.buffer.as_mut(), field::SEQ, v.0);
    }

    /// Set the acknowledgment number.
    pub fn set_ack_number(&mut self, v: SeqNumber) {
        set_u32(self.buffer.as_mut(), field::ACK, v.0);
    }

    /// Set the header length in bytes (a multiple of 4, 20 to 60).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::FLAGS.start] = ((len / 4) as u8) << 4;
    }

    /// Set the control bits.
    pub fn set_flags(&mut self, f: Flags) {
        self.buffer.as_mut()[field::FLAGS.start + 1] = f.0;
    }

    /// Set the window field.
    pub fn set_window_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::WINDOW, v);
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Set the urgent pointer.
    pub fn set_urgent_at(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::URGENT, v);
    }

    /// The option bytes, mutably.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        sub_mut(self.buffer.as_mut(), HEADER_LEN..hl)
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer.as_mut().get_mut(hl..).unwrap_or(&mut [])
    }

    /// Compute and write the checksum over the pseudo-header and the whole
    /// buffer (header, options and payload).
    pub fn fill_checksum(&mut self, ph: &PseudoHeader) {
        self.set_checksum(0);
        let d = self.buffer.as_ref();
        let sum = !checksum::combine(&[ph.sum(PROTOCOL, d.len() as u32), checksum::data(d)]);
        self.set_checksum(sum);
    }

    /// Write the checksum from the sums of the header
    /// ([`Repr::emit_header_and_sum`]) and of the payload
    /// ([`checksum::copy_and_sum`]): nothing is read from the buffer but
    /// its length.
    #[inline(always)]
    pub fn fill_checksum_from_sums(
        &mut self,
        ph: &PseudoHeader,
        header_sum: u16,
        payload_sum: u16,
    ) {
        let len = self.buffer.as_ref().len() as u32;
        let sum = !checksum::combine(&[ph.sum(PROTOCOL, len), header_sum, payload_sum]);
        self.set_checksum(sum);
    }
}

/// A SACK block: the left edge and the right edge (one past the last byte).
pub type SackBlock = (SeqNumber, SeqNumber);

/// The options of a segment, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Options {
    /// Maximum segment size.
    pub mss: Option<u16>,
    /// Window scale shift count, as received (RFC 7323 says to use 14 for
    /// anything above; the state machine clamps).
    pub window_scale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
    /// Timestamps: (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
    /// SACK blocks, the first `sack_len` of them meaningful.
    pub sack: [SackBlock; MAX_SACK_BLOCKS],
    /// How many SACK blocks there are.
    pub sack_len: u8,
}

impl Options {
    /// The SACK blocks.
    pub fn sack_blocks(&self) -> &[SackBlock] {
        &self.sack[..usize::from(self.sack_len).min(MAX_SACK_BLOCKS)]
    }

    /// Parse option bytes.
    #[inline]
    pub fn parse(data: &[u8]) -> Result<Options, Error> {
        let mut o = Options::default();
        o.parse_into(data)?;
        Ok(o)
    }

    /// [`Options::parse`] into `self`, which holds the defaults: the
    /// parsed segment is built where it is kept, not copied (a copy
    /// right after the fields' narrow stores stalls on store forwarding).
    #[inline]
    fn parse_into(&mut self, data: &[u8]) -> Result<(), Error> {
        // Every segment of a connection with timestamps and without SACK
        // blocks to send carries exactly this layout (RFC 7323 appendix
        // A): no-operation, no-operation, timestamps.
        if let [OPT_NOP, OPT_NOP, OPT_TIMESTAMP, 10, ts @ ..] = data
            && ts.len() == 8
        {
            self.timestamp = Some((get_u32(ts, 0..4), get_u32(ts, 4..8)));
            return Ok(());
        }
        self.parse_any_into(data)
    }

    /// [`Options::parse`] of any layout, into `self` (which holds the
    /// defaults; on an error it holds what was parsed before it). In
    /// place: a returned `Options` copied in whole right after its fields'
    /// narrow stores stalls on store forwarding.
    fn parse_any_into(&mut self, mut data: &[u8]) -> Result<(), Error> {
        let o = self;
        while let Some((&kind, rest)) = data.split_first() {
            match kind {
                OPT_EOL => break,
                OPT_NOP => {
                    data = rest;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*rest.first().ok_or(Error::Malformed)?);
            if len < 2 || len > data.len() {
                return Err(Error::Malformed);
            }
            let body = &data[2..len];
            match kind {
                OPT_MSS => {
                    let b: [u8; 2] = body.try_into().map_err(|_| Error::Malformed)?;
                    o.mss = Some(u16::from_be_bytes(b));
                }
                OPT_WSCALE => {
                    let [s] = body else {
                        return Err(Error::Malformed);
                    };
                    o.window_scale = Some(*s);
                }
                OPT_SACK_PERMITTED => {
                    if !body.is_empty() {
                        return Err(Error::Malformed);
                    }
                    o.sack_permitted = true;
                }
                OPT_TIMESTAMP => {
                    if body.len() != 8 {
                        return Err(Error::Malformed);
                    }
                    o.timestamp = Some((get_u32(body, 0..4), get_u32(body, 4..8)));
                }
                OPT_SACK => {
                    let n = body.len() / 8;
                    if !body.len().is_multiple_of(8) || n == 0 || n > MAX_SACK_BLOCKS {
                        return Err(Error::Malformed);
                    }
                    for (i, b) in body.chunks_exact(8).enumerate() {
                        o.sack[i] = (SeqNumber(get_u32(b, 0..4)), SeqNumber(get_u32(b, 4..8)));
                    }
                    for s in &mut o.sack[n..] {
                        *s = Default::default();
                    }
                    o.sack_len = n as u8;
                }
                _ => {}
            }
            data = &data[len..];
        }
        Ok(())
    }

    /// The length of the options as laid out with alignment padding
    /// (no-operations so that four-byte fields are aligned, as common
    /// stacks send them).
    fn aligned_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamp.is_some() || self.sack_permitted {
            // SACK-permitted + timestamps share 12 bytes; alone each is
            // padded to 4 or 12.
            n += if self.timestamp.is_some() { 12 } else { 4 };
        }
        if self.window_scale.is_some() {
            n += 4;
        }
        if self.sack_len > 0 {
            n += 4 + 8 * usize::from(self.sack_len).min(MAX_SACK_BLOCKS);
        }
        n
    }

    /// The length without any padding.
    fn compact_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.sack_permitted {
            n += 2;
        }
        if self.timestamp.is_some() {
            n += 10;
        }
        if self.window_scale.is_some() {
            n += 3;
        }
        if self.sack_len > 0 {
            n += 2 + 8 * usize::from(self.sack_len).min(MAX_SACK_BLOCKS);
        }
        n
    }

    /// The length `emit` writes: a multiple of four.
    pub fn buffer_len(&self) -> usize {
        let a = self.aligned_len();
        if a <= MAX_OPTIONS_LEN {
            a
        } else {
            self.compact_len().div_ceil(4) * 4
        }
    }

    /// Write the options into `buf` (exactly `buffer_len()` bytes).
    ///
    /// # Panics
    /// If `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) {
        // The options of most segments of a connection: timestamps alone,
        // after two NOPs, written as words (see `Repr::emit_header`).
        if let (None, false, Some((val, ecr)), None, 0) = (
            self.mss,
            self.sack_permitted,
            self.timestamp,
            self.window_scale,
            self.sack_len,
        ) {
            let head = u32::from_be_bytes([OPT_NOP, OPT_NOP, OPT_TIMESTAMP, 10]);
            buf[..4].copy_from_slice(&head.to_be_bytes());
            buf[4..12].copy_from_slice(&((u64::from(val) << 32) | u64::from(ecr)).to_be_bytes());
            return;
        }
        let aligned = self.aligned_len() <= MAX_OPTIONS_LEN;
        let mut w = Writer { buf, at: 0 };
        if let Some(mss) = self.mss {
            w.put(&[OPT_MSS, 4]);
            w.put(&mss.to_be_bytes());
        }
        match (self.sack_permitted, self.timestamp) {
            (true, Some(_)) => w.put(&[OPT_SACK_PERMITTED, 2]),
            (true, None) => {
                if aligned {
                    w.put(&[OPT_NOP, OPT_NOP]);
                }
                w.put(&[OPT_SACK_PERMITTED, 2]);
            }
            (false, Some(_)) if aligned => w.put(&[OPT_NOP, OPT_NOP]),
            _ => {}
        }
        if let Some((val, ecr)) = self.timestamp {
            w.put(&[OPT_TIMESTAMP, 10]);
            w.put(&val.to_be_bytes());
            w.put(&ecr.to_be_bytes());
        }
        if let Some(s) = self.window_scale {
            if aligned {
                w.put(&[OPT_NOP]);
            }
            w.put(&[OPT_WSCALE, 3, s]);
        }
        let blocks = self.sack_blocks();
        if !blocks.is_empty() {
            if aligned {
                w.put(&[OPT_NOP, OPT_NOP]);
            }
            w.put(&[OPT_SACK, (2 + 8 * blocks.len()) as u8]);
            for (l, r) in blocks {
                w.put(&l.0.to_be_bytes());
                w.put(&r.0.to_be_bytes());
            }
        }
        let end = self.buffer_len();
        if w.at < end {
            w.buf[w.at..end].fill(OPT_EOL);
        }
    }
}

struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

/// A parsed TCP segment. The control bits are kept as they came (the state
/// machine judges combinations such as SYN with FIN); the acknowledgment
/// number is the field's value whether or not ACK is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgment number.
    pub ack: SeqNumber,
    /// Control bits.
    pub flags: Flags,
    /// Window field (unscaled).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options.
    pub options: Options,
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parse a segment received between the pseudo-header's addresses:
    /// checks lengths, options and the checksum.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        ph: &PseudoHeader,
    ) -> Result<Repr<'a>, Error> {
        packet.check_len()?;
        if !packet.verify_checksum(ph) {
            return Err(Error::Checksum);
        }
        Self::parse_unverified(packet)
    }

    /// Parse without checking the checksum (for a caller that verified it,
    /// or a device that did).
    // Inlined into the caller (see `udp::Repr::parse`): the parsed
    // fields stay in registers.
    #[inline(always)]
    pub fn parse_unverified<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
    ) -> Result<Repr<'a>, Error> {
        packet.check_len()?;
        let buf: &'a [u8] = packet.buffer.as_ref();
        let hl = packet.header_len();
        let mut repr = Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options: Options::default(),
            payload: buf.get(hl..).unwrap_or(&[]),
        };
        repr.options.parse_into(sub(buf, HEADER_LEN..hl))?;
        Ok(repr)
    }

    /// [`Repr::parse_unverified`] written into `out` where the caller
    /// keeps it: the fixed fields, then the options parsed in place. On a
    /// malformed option the error is returned and `out` holds the fixed
    /// fields and the options parsed before it (on a truncated header,
    /// `out` is left as it was): a caller drops such a segment.
    ///
    /// A returned `Repr` is copied into the caller's variable as whole
    /// words right after the option fields' narrow stores, and such a
    /// load cannot be served from the store buffer (a store-forwarding
    /// stall, ~3 % of a bulk receiver's time); built in place, nothing is
    /// copied.
    #[inline(always)]
    pub fn parse_checked_into<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        out: &mut Repr<'a>,
    ) -> Result<(), Error> {
        // (Cheap, and a packet made with `new_unchecked` gets an error,
        // not a panic.)
        packet.check_len()?;
        let buf: &'a [u8] = packet.buffer.as_ref();
        let hl = packet.header_len();
        out.src_port = packet.src_port();
        out.dst_port = packet.dst_port();
        out.seq = packet.seq_number();
        out.ack = packet.ack_number();
        out.flags = packet.flags();
        out.window = packet.window_len();
        out.urgent = packet.urgent_at();
        out.options = Options::default();
        out.payload = buf.get(hl..).unwrap_or(&[]);
        out.options.parse_into(sub(buf, HEADER_LEN..hl))
    }

    /// The length of the header with options.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.buffer_len()
    }

    /// The length of the segment `emit` writes.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// The sequence space the segment occupies: payload, plus one for each
    /// of SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// Write the header and options (not the payload, not the checksum) at
    /// the start of `packet`'s buffer, which must be at least
    /// `header_len()` long. The caller writes the payload after it and then
    /// calls [`Packet::fill_checksum`].
    #[inline(always)]
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        // Whole words: the checksum reads the header back at once, and
        // loads that span several narrower stores stall (store forwarding).
        let hl = self.header_len();
        let ports_seq = (u64::from(self.src_port) << 48)
            | (u64::from(self.dst_port) << 32)
            | u64::from(self.seq.0);
        let offset = u64::from(((hl / 4) as u8) << 4);
        let ack_flags_window = (u64::from(self.ack.0) << 32)
            | (offset << 24)
            | (u64::from(self.flags.0) << 16)
            | u64::from(self.window);
        // The checksum (zero until filled) and the urgent pointer.
        let checksum_urgent = u32::from(self.urgent);
        let buf = packet.buffer.as_mut();
        buf[..8].copy_from_slice(&ports_seq.to_be_bytes());
        buf[8..16].copy_from_slice(&ack_flags_window.to_be_bytes());
        buf[16..HEADER_LEN].copy_from_slice(&checksum_urgent.to_be_bytes());
        self.options.emit(&mut buf[HEADER_LEN..hl]);
    }

    /// [`Repr::emit_header`], returning the folded one's-complement sum of
    /// the header bytes (checksum field zero) as [`checksum::data`] gives
    /// it. The sum is computed from the fields, not read back from the
    /// buffer: reading bytes just written in other widths stalls the
    /// processor (failed store-to-load forwarding). Options other than the
    /// timestamps-only layout are read back.
    #[inline(always)]
    pub fn emit_header_and_sum<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> u16 {
        self.emit_header(packet);
        let hl = self.header_len();
        let mut sum = u64::from(self.src_port)
            + u64::from(self.dst_port)
            + u64::from(self.seq.0)
            + u64::from(self.ack.0)
            + u64::from((((hl / 4) as u16) << 12) | u16::from(self.flags.0))
            + u64::from(self.window)
            + u64::from(self.urgent);
        let o = &self.options;
        if let Some((val, ecr)) = o.timestamp
            && o.mss.is_none()
            && o.window_scale.is_none()
            && !o.sack_permitted
            && o.sack_len == 0
        {
            sum += u64::from(u16::from_be_bytes([OPT_NOP, OPT_NOP]))
                + u64::from(u16::from_be_bytes([OPT_TIMESTAMP, 10]))
                + u64::from(val)
                + u64::from(ecr);
        } else {
            let opts = sub(packet.buffer.as_ref(), HEADER_LEN..hl);
            sum += u64::from(checksum::data(opts));
        }
        checksum::combine(&[
            (sum & 0xffff) as u16,
            ((sum >> 16) & 0xffff) as u16,
            ((sum >> 32) & 0xffff) as u16,
        ])
    }

    /// The header of the most common segment, checksum included, in one
    /// step: IPv4, and the timestamps as the only options (after two
    /// NOPs), as on nearly every segment of an established connection.
    /// `header` is the segment's first 32 bytes; `segment_len` the whole
    /// segment's length (header and payload); `payload_sum` the folded sum
    /// of the payload already in place ([`checksum::copy_and_sum`]). The
    /// checksum covers the header, the pseudo-header of `src` and `dst`,
    /// and the payload, as [`Repr::emit_header_and_sum`] and
    /// [`Packet::fill_checksum_from_sums`] compute it, summed from the
    /// fields and folded once; every byte is written once, as whole words.
    ///
    /// Returns `false`, and writes nothing, for other options (or a
    /// `header` not 32 bytes long).
    #[inline]
    pub fn emit_timestamped_v4(
        &self,
        header: &mut [u8],
        src: core::net::Ipv4Addr,
        dst: core::net::Ipv4Addr,
        segment_len: usize,
        payload_sum: u16,
    ) -> bool {
        let o = &self.options;
        let (Some((val, ecr)), None, None, false, 0) = (
            o.timestamp,
            o.mss,
            o.window_scale,
            o.sack_permitted,
            o.sack_len,
        ) else {
            return false;
        };
        let Ok(header) = <&mut [u8; TIMESTAMPED_HEADER_LEN]>::try_from(header) else {
            return false;
        };
        let offset_flags = (((TIMESTAMPED_HEADER_LEN / 4) as u16) << 12) | u16::from(self.flags.0);
        let opts_head = u32::from_be_bytes([OPT_NOP, OPT_NOP, OPT_TIMESTAMP, 10]);
        // (Each 32-bit number counts as its two 16-bit words: 2^16 is 1
        // modulo 0xffff. Below 2^36: one fold of three parts.)
        let sum = u64::from(self.src_port)
            + u64::from(self.dst_port)
            + u64::from(self.seq.0)
            + u64::from(self.ack.0)
            + u64::from(offset_flags)
            + u64::from(self.window)
            + u64::from(self.urgent)
            + u64::from(opts_head)
            + u64::from(val)
            + u64::from(ecr)
            + u64::from(src.to_bits())
            + u64::from(dst.to_bits())
            + u64::from(PROTOCOL)
            + segment_len as u64
            + u64::from(payload_sum);
        let sum = !checksum::combine(&[
            (sum & 0xffff) as u16,
            ((sum >> 16) & 0xffff) as u16,
            ((sum >> 32) & 0xffff) as u16,
        ]);
        let ports_seq = (u64::from(self.src_port) << 48)
            | (u64::from(self.dst_port) << 32)
            | u64::from(self.seq.0);
        let ack_flags_window = (u64::from(self.ack.0) << 32)
            | (u64::from(offset_flags) << 16)
            | u64::from(self.window);
        let checksum_urgent = (u32::from(sum) << 16) | u32::from(self.urgent);
        header[..8].copy_from_slice(&ports_seq.to_be_bytes());
        header[8..16].copy_from_slice(&ack_flags_window.to_be_bytes());
        header[16..20].copy_from_slice(&checksum_urgent.to_be_bytes());
        header[20..24].copy_from_slice(&opts_head.to_be_bytes());
        header[24..].copy_from_slice(&((u64::from(val) << 32) | u64::from(ecr)).to_be_bytes());
        true
    }

    /// Write the whole segment, payload and checksum included, into a
    /// buffer of exactly `buffer_len()` bytes (the segment's length is the
    /// buffer's).
    ///
    /// # Panics
    /// If the buffer is shorter than `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, ph: &PseudoHeader) {
        self.emit_header(packet);
        let hl = self.header_len();
        packet.buffer.as_mut()[hl..hl + self.payload.len()].copy_from_slice(self.payload);
        packet.fill_checksum(ph);
    }
}

/// What an ICMP error message quotes of a TCP segment (RFC 792 and RFC
/// 4443: the invoking packet's IP header and at least the first 8 bytes of
/// its payload): the addresses, ports and sequence number. The segment is
/// ours: `src` and `src_port` are our end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quoted {
    /// The quoted source address (ours).
    pub src: IpAddr,
    /// The quoted destination address (the peer's).
    pub dst: IpAddr,
    /// The quoted source port (ours).
    pub src_port: u16,
    /// The quoted destination port (the peer's).
    pub dst_port: u16,
    /// The quoted sequence number.
    pub seq: SeqNumber,
}

impl Quoted {
    /// Parse the packet an ICMP error quotes: its IP header (see
    /// `wire::quoted_ip`), then at least 8 bytes of TCP header.
    /// `Unsupported` if the packet does not carry TCP or is not a first
    /// fragment; `Truncated` if the quote stops before the sequence
    /// number; `Malformed` for a bad version or IPv4 header length.
    pub fn parse(quoted: &[u8]) -> Result<Quoted, Error> {
        let (src, dst, protocol, tcp_at) = super::quoted_ip(quoted)?;
        if protocol != PROTOCOL {
            return Err(Error::Unsupported);
        }
        let tcp = quoted.get(tcp_at..tcp_at + 8).ok_or(Error::Truncated)?;
        Ok(Quoted {
            src,
            dst,
            src_port: get_u16(tcp, field::SRC_PORT),
            dst_port: get_u16(tcp, field::DST_PORT),
            seq: SeqNumber(get_u32(tcp, field::SEQ)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::testutil::prefixes;
    use alloc::vec;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const V4: PseudoHeader =
        PseudoHeader::V4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    const V6: PseudoHeader = PseudoHeader::V6(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
    );

    // A SYN as Linux sends it: 40000 -> 80, seq 1, MSS 1460, SACK-permitted,
    // timestamps (0x11223344, 0), window scale 7, window 64240.
    const SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x00, 0x00, 0x00, 0x00, // checksum filled by the test
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    fn syn_bytes(ph: &PseudoHeader) -> vec::Vec<u8> {
        let mut b = SYN.to_vec();
        Packet::new_unchecked(&mut b[..]).fill_checksum(ph);
        b
    }

    fn syn_repr() -> Repr<'static> {
        Repr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNumber(1),
            ack: SeqNumber(0),
            flags: Flags::SYN,
            window: 64240,
            urgent: 0,
            options: Options {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamp: Some((0x1122_3344, 0)),
                ..Default::default()
            },
            payload: &[],
        }
    }

    #[test]
    fn parse_and_emit_linux_syn() {
        for ph in [V4, V6] {
            let b = syn_bytes(&ph);
            let p = Packet::new_checked(&b[..]).unwrap();
            assert_eq!(p.header_len(), 40);
            assert_eq!(Repr::parse(&p, &ph).unwrap(), syn_repr());
            // Our layout is Linux's for this option set: byte identical.
            let r = syn_repr();
            assert_eq!(r.buffer_len(), 40);
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut out[..]), &ph);
            assert_eq!(out, b);
        }
        // The wrong family's pseudo-header fails the checksum.
        let b = syn_bytes(&V4);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap(), &V6),
            Err(Error::Checksum)
        );
    }

    #[test]
    fn data_segment_with_sack_round_trips() {
        let payload = [7u8; 333];
        let mut options = Options {
            timestamp: Some((5, 6)),
            ..Default::default()
        };
        options.sack[0] = (SeqNumber(100), SeqNumber(200));
        options.sack[1] = (SeqNumber(300), SeqNumber(400));
        options.sack[2] = (SeqNumber(u32::MAX - 5), SeqNumber(10));
        options.sack_len = 3;
        let r = Repr {
            src_port: 1,
            dst_port: 2,
            seq: SeqNumber(0xffff_fff0),
            ack: SeqNumber(77),
            flags: Flags::ACK | Flags::PSH,
            window: 1000,
            urgent: 0,
            options,
            payload: &payload,
        };
        assert_eq!(r.header_len(), 60);
        // Header first, then the payload by hand, then the checksum: the
        // zero-copy path gives the same bytes as `emit`.
        let mut a = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut a[..]), &V6);
        let mut b = vec![0u8; r.buffer_len()];
        let mut p = Packet::new_unchecked(&mut b[..]);
        r.emit_header(&mut p);
        p.payload_mut().copy_from_slice(&payload);
        p.fill_checksum(&V6);
        assert_eq!(a, b);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&a[..]).unwrap(), &V6),
            Ok(r)
        );
        assert_eq!(r.segment_len(), 333);
    }

    #[test]
    fn four_sack_blocks_without_timestamps() {
        let mut options = Options::default();
        for i in 0..4 {
            options.sack[i] = (SeqNumber(i as u32 * 10), SeqNumber(i as u32 * 10 + 5));
        }
        options.sack_len = 4;
        let r = Repr {
            src_port: 1,
            dst_port: 2,
            seq: SeqNumber(0),
            ack: SeqNumber(0),
            flags: Flags::ACK,
            window: 0,
            urgent: 0,
            options,
            payload: &[],
        };
        let mut a = vec![0u8; r.buffer_len()];
        assert_eq!(a.len(), 56);
        r.emit(&mut Packet::new_unchecked(&mut a[..]), &V4);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&a[..]).unwrap(), &V4),
            Ok(r)
        );
    }

    #[test]
    fn compact_layout_when_aligned_does_not_fit() {
        // MSS + timestamps + 3 SACK blocks fit only without padding.
        let mut opts = vec![2, 4, 0x05, 0xb4, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 26];
        for i in 0..24u8 {
            opts.push(i);
        }
        assert_eq!(opts.len(), 40);
        let o = Options::parse(&opts).unwrap();
        assert_eq!(o.sack_len, 3);
        assert_eq!(o.buffer_len(), 40);
        let mut out = [0u8; 40];
        o.emit(&mut out);
        assert_eq!(Options::parse(&out), Ok(o));
    }

    #[test]
    fn header_sum_from_fields_matches_the_bytes() {
        let mut sack = Options {
            timestamp: Some((0xffff_fff0, 0x8000_0001)),
            ..Default::default()
        };
        sack.sack[0] = (SeqNumber(0xdead_beef), SeqNumber(0xffff_ffff));
        sack.sack_len = 1;
        let ts_only = Options {
            timestamp: Some((0xffff_ffff, 0xfffe_ffff)),
            ..Default::default()
        };
        for (options, flags) in [
            (syn_repr().options, Flags::SYN),
            (sack, Flags::ACK),
            (ts_only, Flags::ACK | Flags::PSH | Flags::FIN),
            (Options::default(), Flags::RST),
        ] {
            let r = Repr {
                src_port: 0xffff,
                dst_port: 0xfffe,
                seq: SeqNumber(0xffff_8001),
                ack: SeqNumber(0xfffe_ffff),
                flags,
                window: 0xffff,
                urgent: 0xff00,
                options,
                payload: &[],
            };
            let mut b = vec![0x77u8; r.header_len()];
            let sum = r.emit_header_and_sum(&mut Packet::new_unchecked(&mut b[..]));
            assert_eq!(sum, checksum::data(&b), "{r:?}");
            // The checksum from the sums is the one computed over the bytes.
            let mut p = Packet::new_unchecked(&mut b[..]);
            p.fill_checksum_from_sums(&V4, sum, 0);
            assert!(p.verify_checksum(&V4));
        }
    }

    /// The one-step header of timestamped IPv4 segments writes the bytes
    /// the general path writes (checksum included, verified over the
    /// whole segment), with payloads of every length up to 70 and fields
    /// near the carries; other options are left to the general path.
    #[test]
    fn timestamped_v4_header_matches_the_general_path() {
        let (src, dst) = match V4 {
            PseudoHeader::V4(s, d) => (s, d),
            PseudoHeader::V6(..) => unreachable!(),
        };
        let mut x: u32 = 0x9e37_79b9;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for len in 0..70usize {
            let payload: vec::Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let edge = len % 3 == 0;
            let r = Repr {
                src_port: if edge { 0xffff } else { next() as u16 },
                dst_port: if edge { 0xfffe } else { next() as u16 },
                seq: SeqNumber(if edge { 0xffff_ffff } else { next() }),
                ack: SeqNumber(if edge { 0xfffe_ffff } else { next() }),
                flags: Flags::ACK | Flags::PSH,
                window: if edge { 0xffff } else { next() as u16 },
                urgent: 0,
                options: Options {
                    timestamp: Some((next(), if edge { 0xffff_ffff } else { next() })),
                    ..Default::default()
                },
                payload: &payload,
            };
            let seg_len = r.buffer_len();
            let mut want = vec![0u8; seg_len];
            r.emit(&mut Packet::new_unchecked(&mut want[..]), &V4);
            let mut got = vec![0x55u8; seg_len];
            got[32..].copy_from_slice(&payload);
            let payload_sum = checksum::data(&payload);
            assert!(r.emit_timestamped_v4(&mut got[..32], src, dst, seg_len, payload_sum));
            assert_eq!(got, want, "len {len}");
            assert!(Packet::new_unchecked(&got[..]).verify_checksum(&V4));
        }
        let syn = syn_repr();
        let mut b = [0u8; 32];
        assert!(!syn.emit_timestamped_v4(&mut b, src, dst, 40, 0));
        assert_eq!(b, [0u8; 32], "nothing written");
    }

    #[test]
    fn timestamps_only_layout_round_trips() {
        let o = Options {
            timestamp: Some((0x0102_0304, 0xa0b0_c0d0)),
            ..Default::default()
        };
        assert_eq!(o.buffer_len(), 12);
        let mut out = [0xeeu8; 12];
        o.emit(&mut out);
        assert_eq!(out, [1, 1, 8, 10, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0]);
        assert_eq!(Options::parse(&out), Ok(o));
        // The same option in another layout parses the same; with other
        // options after it, or a wrong length, the general path judges.
        assert_eq!(
            Options::parse(&[8, 10, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0, 0, 0]),
            Ok(o)
        );
        let mut more = out.to_vec();
        more.extend([1, 3, 3, 7]);
        let parsed = Options::parse(&more).unwrap();
        assert_eq!(
            (parsed.timestamp, parsed.window_scale),
            (o.timestamp, Some(7))
        );
        assert_eq!(Options::parse(&[1, 1, 8, 10, 0, 0]), Err(Error::Malformed));
    }

    #[test]
    fn unknown_options_skipped_and_eol_stops() {
        // Unknown kind 30 (MPTCP) with length 4, then MSS, EOL, garbage.
        let opts = [30, 4, 0xaa, 0xbb, 2, 4, 0x02, 0x18, 0, 0xff, 0xff, 0xff];
        let o = Options::parse(&opts).unwrap();
        assert_eq!(o.mss, Some(536));
        assert_eq!(o.window_scale, None);
    }

    #[test]
    fn malformed_options_rejected() {
        let bad: &[&[u8]] = &[
            &[2],                         // no length byte
            &[2, 4, 5],                   // runs past the end
            &[30, 0],                     // length below 2
            &[30, 1, 0],                  // length below 2
            &[2, 3, 5],                   // MSS of wrong length
            &[3, 4, 7, 0],                // window scale of wrong length
            &[4, 3, 0],                   // SACK-permitted with a body
            &[8, 9, 0, 0, 0, 0, 0, 0, 0], // timestamps of wrong length
            &[5, 2],                      // SACK without blocks
            &[5, 6, 0, 0, 0, 0],          // SACK not a multiple of 8
        ];
        for b in bad {
            assert_eq!(Options::parse(b), Err(Error::Malformed), "{b:?}");
        }
        let mut five = vec![5u8, 42];
        five.extend([0u8; 40]);
        assert_eq!(Options::parse(&five), Err(Error::Malformed));
    }

    #[test]
    fn header_lengths_checked() {
        let b = syn_bytes(&V4);
        for pre in prefixes(&b, 0) {
            assert!(Packet::new_checked(pre).is_err());
            let p = Packet::new_unchecked(pre);
            if pre.len() >= HEADER_LEN {
                let _ = (p.options(), p.payload(), p.verify_checksum(&V4));
            }
        }
        for off in 0..5u8 {
            let mut b = b.clone();
            b[12] = off << 4;
            assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        }
        let mut b2 = b.clone();
        b2[12] = 0xf0;
        assert_eq!(Packet::new_checked(&b2[..]).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn corrupted_checksum_rejected() {
        let mut b = syn_bytes(&V4);
        b[30] ^= 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V4), Err(Error::Checksum));
    }

    #[test]
    fn sequence_arithmetic_wraps() {
        let a = SeqNumber(u32::MAX - 1);
        let b = a + 10;
        assert_eq!(b, SeqNumber(8));
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b.since(a), 10);
        assert_eq!(a.since(b), 0);
        assert_eq!(b.diff(a), 10);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
        assert_eq!(b - 10, a);
        assert_eq!(alloc::format!("{:?}", Flags::SYN | Flags::ACK), "SYN|ACK");
    }

    #[test]
    fn quoted_segments_parse_and_bad_quotes_are_refused() {
        // IPv4, with 4 bytes of IP options, then 8 bytes of TCP.
        let mut v4 = vec![0x46, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0];
        v4.extend([10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 0, 0]);
        v4.extend([0x13, 0x88, 0, 80, 0, 0, 0x10, 0]);
        let q = Quoted::parse(&v4).unwrap();
        assert_eq!(
            q,
            Quoted {
                src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                src_port: 5000,
                dst_port: 80,
                seq: SeqNumber(0x1000),
            }
        );
        for n in 0..v4.len() {
            assert_eq!(Quoted::parse(&v4[..n]), Err(Error::Truncated), "{n}");
        }
        let mut udp = v4.clone();
        udp[9] = 17;
        assert_eq!(Quoted::parse(&udp), Err(Error::Unsupported));
        let mut later = v4.clone();
        later[7] = 1;
        assert_eq!(Quoted::parse(&later), Err(Error::Unsupported));
        let mut short_ihl = v4.clone();
        short_ihl[0] = 0x44;
        assert_eq!(Quoted::parse(&short_ihl), Err(Error::Malformed));
        // IPv6.
        let mut v6 = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        v6.extend(Ipv6Addr::LOCALHOST.octets());
        v6.extend(Ipv6Addr::UNSPECIFIED.octets());
        v6.extend([0, 1, 0, 2, 0xff, 0xff, 0xff, 0xff]);
        let q = Quoted::parse(&v6).unwrap();
        assert_eq!((q.src_port, q.dst_port, q.seq), (1, 2, SeqNumber(u32::MAX)));
        assert_eq!(q.src, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(Quoted::parse(&v6[..47]), Err(Error::Truncated));
        v6[6] = 0;
        assert_eq!(Quoted::parse(&v6), Err(Error::Unsupported));
        assert_eq!(Quoted::parse(&[0x50; 60]), Err(Error::Malformed));
    }
}
