//! The network devices: the `network` device type of the seed
//! (`Mirage_net.S`) as the [`Network`] trait, the platform-independent
//! backends (the in-memory [`memory`] link), and TCP segmentation in
//! software ([`segmentation`]) for devices that offer the offload without
//! hardware that does it. The target backends (a tap
//! interface on unix, a Solo5 net device) live in `crate::platform`.
//!
//! # Contract
//!
//! * A frame is a whole Ethernet frame: the 14-byte Ethernet header
//!   (destination, source, EtherType) followed by at most [`Network::mtu`]
//!   bytes of payload, so at most `mtu() + ETHERNET_HEADER_LEN` bytes; no
//!   preamble, no frame check sequence. The device does not parse frames.
//! * Writing is zero-copy: the caller fills a buffer owned by the device
//!   ([`Network::write`]'s `fill` closure gets `len` bytes and returns how
//!   many it used). A write never blocks longer than the device's transmit
//!   queue allows: it completes once the frame is handed to the device (or
//!   dropped because the device's queue is full, which is counted).
//! * Reading is zero-copy: [`Network::read`] waits for the next frame and
//!   lends it to the `handle` closure from the device's own buffer; the
//!   frame is gone once `handle` returns. Waiting is done through wakers,
//!   never by polling in a loop.
//! * Every frame sent and received is counted in [`Stats`], and so is every
//!   frame the device dropped (queue full, malformed), in either direction.
//! * The operations are used from the single-threaded executor of
//!   [`crate::rt`]; concurrent readers of one device each get different
//!   frames, in arrival order of their waits.
//! * A device may offer TCP segmentation offload
//!   ([`Network::segmentation_offload`]): it then also takes, through
//!   [`Network::try_write_segmented`], a frame longer than the MTU that
//!   carries one TCP segment, and sends its payload in pieces of a given
//!   size (a NIC's TSO, virtio-net's `VIRTIO_NET_HDR_GSO_TCPV4` and
//!   `_TCPV6`). Such a device may also hand its reader frames of up to
//!   that length, each one TCP segment (receive offload, as a NIC's LRO or
//!   a veth pair passing a segment whole): a reader of a device that
//!   offers the offload takes them.

use alloc::string::String;
use core::cell::Cell;
use core::fmt;
use core::task::{Context, Poll};

use super::MacAddr;

pub mod memory;
pub mod segmentation;

/// The length of an Ethernet header (two addresses and the EtherType).
pub const ETHERNET_HEADER_LEN: usize = 14;

/// The largest frame a device of MTU `mtu` sends or receives.
pub const fn max_frame_len(mtu: usize) -> usize {
    mtu + ETHERNET_HEADER_LEN
}

/// The longest frame of a device with segmentation offload: the Ethernet
/// header and the longest IP packet (an IPv6 header and 65,535 bytes of
/// payload; an IPv4 packet is at most 65,535 bytes in all).
pub const MAX_SEGMENTED_FRAME_LEN: usize = ETHERNET_HEADER_LEN + 40 + 0xffff;

/// Why a network operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The device is gone (its peer hung up, the interface was removed).
    Disconnected,
    /// The frame is longer than the MTU plus the Ethernet header allows
    /// (or `fill` claimed more bytes than it was given).
    TooLarge,
    /// The backend failed (I/O error...).
    Device(String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Disconnected => f.write_str("the network device is disconnected"),
            NetError::TooLarge => f.write_str("frame exceeds the MTU plus the Ethernet header"),
            NetError::Device(message) => write!(f, "network device error: {message}"),
        }
    }
}

/// The counters of a network device (`Mirage_net.stats`, plus drops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames received (handed to a reader).
    pub rx_frames: u64,
    /// Bytes of the frames received, Ethernet headers included.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Bytes of the frames sent, Ethernet headers included.
    pub tx_bytes: u64,
    /// Frames that arrived but were dropped (receive queue full, ...).
    pub rx_dropped: u64,
    /// Frames that were written but dropped before they left (transmit
    /// queue full, ...).
    pub tx_dropped: u64,
}

/// Counters a backend keeps behind `&self` (single-threaded: `Cell`s).
#[derive(Debug, Default)]
pub struct StatsCell {
    stats: Cell<Stats>,
}

impl StatsCell {
    /// Zeroed counters.
    pub const fn new() -> Self {
        StatsCell {
            stats: Cell::new(Stats {
                rx_frames: 0,
                rx_bytes: 0,
                tx_frames: 0,
                tx_bytes: 0,
                rx_dropped: 0,
                tx_dropped: 0,
            }),
        }
    }

    /// The current values.
    pub fn get(&self) -> Stats {
        self.stats.get()
    }

    /// Sets every counter to zero.
    pub fn reset(&self) {
        self.stats.set(Stats::default());
    }

    fn update(&self, f: impl FnOnce(&mut Stats)) {
        let mut stats = self.stats.get();
        f(&mut stats);
        self.stats.set(stats);
    }

    /// Counts a frame of `len` bytes received.
    pub fn received(&self, len: usize) {
        self.update(|s| {
            s.rx_frames += 1;
            s.rx_bytes += len as u64;
        });
    }

    /// Counts a frame of `len` bytes sent.
    pub fn sent(&self, len: usize) {
        self.update(|s| {
            s.tx_frames += 1;
            s.tx_bytes += len as u64;
        });
    }

    /// Counts a received frame dropped.
    pub fn rx_drop(&self) {
        self.update(|s| s.rx_dropped += 1);
    }

    /// Counts a frame to send dropped.
    pub fn tx_drop(&self) {
        self.update(|s| s.tx_dropped += 1);
    }
}

/// A network interface (the seed's `network` device type,
/// `Mirage_net.S`): sends and receives Ethernet frames. See the module
/// documentation for the contract.
pub trait Network {
    /// The unikernel's MAC address on this interface.
    fn mac(&self) -> MacAddr;

    /// The MTU: the largest payload of a frame, the Ethernet header
    /// excluded (1500 on a usual Ethernet).
    fn mtu(&self) -> usize;

    /// The counters since the device connected or [`Network::reset_stats`].
    fn stats(&self) -> Stats;

    /// Sets every counter to zero.
    fn reset_stats(&self);

    /// Sends one frame: `fill` gets a buffer of `len` bytes owned by the
    /// device, writes the frame (Ethernet header included) at its start
    /// and returns how many bytes it used. Waits only while the device's
    /// transmit queue is full.
    ///
    /// Fails with [`NetError::TooLarge`] (without calling `fill`) if `len`
    /// exceeds `mtu() + 14`, or (sending nothing) if `fill` returns more
    /// than `len`.
    async fn write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), NetError>;

    /// TCP segmentation offload: the longest frame this device takes
    /// through [`Network::try_write_segmented`] (at most
    /// [`MAX_SEGMENTED_FRAME_LEN`]), and hands its reader; 0 (the default)
    /// when it has none.
    fn segmentation_offload(&self) -> usize {
        0
    }

    /// [`Network::try_write`] for a frame longer than the MTU allows that
    /// carries one TCP segment (in IPv4 or IPv6, not a fragment, its
    /// checksum complete): the device sends the segment's payload in pieces
    /// of `segment_size` bytes (the last with what is left), each with the
    /// segment's headers, its sequence number, lengths and checksums
    /// adjusted; or hands the segment whole to a peer that takes it so
    /// (see the module documentation).
    ///
    /// Fails with [`NetError::TooLarge`] without calling `fill` when the
    /// device has no offload, `len` exceeds [`Network::segmentation_offload`]
    /// or `segment_size` is 0 (the default refuses every frame so); sends
    /// nothing, counting the frame in `tx_dropped`, and fails so too, when
    /// `fill` wrote something else than one TCP segment.
    fn try_write_segmented(
        &self,
        len: usize,
        segment_size: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError> {
        let _ = (len, segment_size, fill);
        Err(NetError::TooLarge)
    }

    /// [`Network::write`] without waiting: `Ok(false)` when the frame could
    /// not be queued without waiting. Nothing was sent then; `fill` may
    /// have been called (a backend may only learn that its queue is full by
    /// trying), in which case the frame is counted in `tx_dropped`.
    fn try_write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError>;

    /// Waits for the next frame and returns what `handle` makes of it; the
    /// frame is lent from the device's buffer for the call only.
    async fn read<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<R, NetError>;

    /// [`Network::read`] without waiting: `Ok(None)` (and `handle` not
    /// called) when no frame is waiting.
    fn try_read<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, NetError>;

    /// [`Network::read`] as a poll, for a hand-written future: `Ready` with
    /// what `handle` made of the next frame (or the error), or `Pending`
    /// (`handle` not called) with the task of `cx` registered to be woken
    /// when a frame may be waiting. A reader that takes every frame until
    /// `Pending` so needs no separate wait, and no future per frame.
    fn poll_read<R>(
        &self,
        cx: &mut Context<'_>,
        handle: impl FnOnce(&[u8]) -> R,
    ) -> Poll<Result<R, NetError>>;
}

/// Checks a write of a `len`-byte buffer against the MTU.
pub fn check_len(len: usize, mtu: usize) -> Result<(), NetError> {
    if len > max_frame_len(mtu) {
        return Err(NetError::TooLarge);
    }
    Ok(())
}

/// Checks a write of a `len`-byte buffer through the segmentation offload
/// of a device that offers `offload` ([`Network::segmentation_offload`]):
/// the device has it, `len` is within it, and a segment size is given.
pub fn check_segmented(len: usize, segment_size: usize, offload: usize) -> Result<(), NetError> {
    if offload == 0 || len > offload || segment_size == 0 {
        return Err(NetError::TooLarge);
    }
    Ok(())
}

/// Whether `frame` is one whole TCP segment in IPv4 or IPv6 (what
/// [`Network::try_write_segmented`] takes): the EtherType, the IP version
/// and protocol (IPv6: the first next header) are TCP's, and an IPv4
/// packet is not a fragment. Lengths and checksums are the sender's.
pub fn is_tcp_segment(frame: &[u8]) -> bool {
    let Some(ip) = frame.get(ETHERNET_HEADER_LEN..) else {
        return false;
    };
    match (frame[12], frame[13]) {
        (0x08, 0x00) => {
            ip.len() >= 20 && ip[0] >> 4 == 4 && ip[9] == 6 && ip[6] & 0x3f == 0 && ip[7] == 0
        }
        (0x86, 0xdd) => ip.len() >= 40 && ip[0] >> 4 == 6 && ip[6] == 6,
        _ => false,
    }
}

/// Checks what a `fill` closure returned against the `len` it was given.
pub fn check_used(used: usize, len: usize) -> Result<usize, NetError> {
    if used > len {
        return Err(NetError::TooLarge);
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn lengths_are_checked_against_the_mtu() {
        assert_eq!(max_frame_len(1500), 1514);
        assert_eq!(check_len(1514, 1500), Ok(()));
        assert_eq!(check_len(1515, 1500), Err(NetError::TooLarge));
        assert_eq!(check_used(60, 60), Ok(60));
        assert_eq!(check_used(61, 60), Err(NetError::TooLarge));
        assert_eq!(check_segmented(9000, 1448, 9000), Ok(()));
        for (len, size, offload) in [(9001, 1448, 9000), (100, 0, 9000), (100, 1448, 0)] {
            assert_eq!(check_segmented(len, size, offload), Err(NetError::TooLarge));
        }
    }

    #[test]
    fn a_tcp_segment_is_told_from_other_frames() {
        let mut v4 = [0u8; 14 + 20];
        v4[12..14].copy_from_slice(&[0x08, 0x00]);
        v4[14] = 0x45;
        v4[14 + 9] = 6;
        assert!(is_tcp_segment(&v4));
        // Don't-fragment set: still one segment; more fragments or an
        // offset: a fragment.
        v4[14 + 6] = 0x40;
        assert!(is_tcp_segment(&v4));
        for (at, value) in [(6, 0x20), (7, 1), (6, 0x41)] {
            let mut f = v4;
            f[14 + at] = value;
            assert!(!is_tcp_segment(&f), "{at} {value}");
        }
        let mut udp = v4;
        udp[14 + 9] = 17;
        assert!(!is_tcp_segment(&udp));
        assert!(!is_tcp_segment(&v4[..14 + 19]));
        let mut v6 = [0u8; 14 + 40];
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        v6[14] = 0x60;
        v6[14 + 6] = 6;
        assert!(is_tcp_segment(&v6));
        // An extension header first (hop-by-hop), the wrong version, or
        // the wrong EtherType.
        for (at, value) in [(14 + 6, 0), (14, 0x40), (12, 0x08)] {
            let mut f = v6;
            f[at] = value;
            assert!(!is_tcp_segment(&f), "{at} {value}");
        }
        assert!(!is_tcp_segment(&v6[..13]));
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            NetError::Disconnected.to_string(),
            "the network device is disconnected"
        );
        assert!(NetError::TooLarge.to_string().contains("MTU"));
        assert_eq!(
            NetError::Device("boom".into()).to_string(),
            "network device error: boom"
        );
    }

    #[test]
    fn stats_cell_counts_and_resets() {
        let stats = StatsCell::new();
        stats.sent(60);
        stats.sent(40);
        stats.received(1514);
        stats.rx_drop();
        stats.tx_drop();
        stats.tx_drop();
        assert_eq!(
            stats.get(),
            Stats {
                rx_frames: 1,
                rx_bytes: 1514,
                tx_frames: 2,
                tx_bytes: 100,
                rx_dropped: 1,
                tx_dropped: 2,
            }
        );
        stats.reset();
        assert_eq!(stats.get(), Stats::default());
    }
}
