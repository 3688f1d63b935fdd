//! The network devices: the `network` device type of the seed
//! (`Mirage_net.S`) as the [`Network`] trait, and the platform-independent
//! backends (the in-memory [`memory`] link). The target backends (a tap
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

use alloc::string::String;
use core::cell::Cell;
use core::fmt;
use core::task::{Context, Poll};

use super::MacAddr;

pub mod memory;

/// The length of an Ethernet header (two addresses and the EtherType).
pub const ETHERNET_HEADER_LEN: usize = 14;

/// The largest frame a device of MTU `mtu` sends or receives.
pub const fn max_frame_len(mtu: usize) -> usize {
    mtu + ETHERNET_HEADER_LEN
}

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
