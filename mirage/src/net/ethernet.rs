//! Ethernet (the seed's `ethernet` device type, `etif`): frames out with
//! our source address, frames in checked and handed up by EtherType;
//! frames for another station's unicast address, and frames too short to
//! hold a header, are dropped and counted.
//!
//! The layer is synchronous underneath ([`Ethif::send`] hands a frame to
//! the device without waiting, [`Ethif::parse`] classifies a received
//! frame): the stack's runner reads frames and calls the layers above
//! directly, and replies go out from inside that call. [`Ethif::write`] is
//! the waiting variant for applications that use the layer alone.

use core::cell::Cell;

use crate::net::MacAddr;
use crate::net::device::{NetError, Network};
use crate::net::wire::ethernet::{self, EtherType, HEADER_LEN};

/// The seed's `ethernet` device type (`Ethernet.S`): sends payloads of a
/// given EtherType to a MAC address.
pub trait Ethernet {
    /// Our address.
    fn mac(&self) -> MacAddr;

    /// The largest payload of a frame.
    fn mtu(&self) -> usize;

    /// Sends a frame to `dst` without waiting: `fill` writes at most `len`
    /// payload bytes in place (zero-copy) and returns how many it wrote.
    /// `Ok(false)` when the device could not take the frame now.
    fn send(
        &self,
        dst: MacAddr,
        ethertype: EtherType,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError>;

    /// The longest payload the device's TCP segmentation offload takes
    /// ([`Network::segmentation_offload`] less the header); 0 (the
    /// default): none.
    fn segmentation_offload(&self) -> usize {
        0
    }

    /// [`Ethernet::send`] of one TCP segment longer than the MTU, through
    /// the device's segmentation offload, which sends its payload in
    /// pieces of `segment_size` bytes ([`Network::try_write_segmented`]).
    /// The default has no offload: [`NetError::TooLarge`], `fill` not
    /// called.
    fn send_segmented(
        &self,
        dst: MacAddr,
        ethertype: EtherType,
        len: usize,
        segment_size: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError> {
        let _ = (dst, ethertype, len, segment_size, fill);
        Err(NetError::TooLarge)
    }

    /// [`Ethernet::send`], waiting while the device's transmit queue is
    /// full.
    async fn write(
        &self,
        dst: MacAddr,
        ethertype: EtherType,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), NetError>;
}

/// The Ethernet layer over the network device `N` (MirageOS's
/// `Ethernet.Make`).
pub struct Ethif<N: 'static> {
    net: &'static N,
    /// Frames dropped on input: too short, or for another station.
    dropped: Cell<u64>,
}

impl<N: Network> core::fmt::Debug for Ethif<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ethif")
            .field("mac", &self.net.mac())
            .field("dropped", &self.dropped.get())
            .finish_non_exhaustive()
    }
}

/// A received frame, borrowed from the device.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The sender.
    pub src: MacAddr,
    /// The destination (ours, broadcast or multicast).
    pub dst: MacAddr,
    /// What the payload is.
    pub ethertype: EtherType,
    /// The payload.
    pub payload: &'a [u8],
}

/// Writes the header of a frame from `src` to `dst` at the start of
/// `frame` and lets `fill` write the payload after it; the frame's length.
#[inline]
fn emit(
    frame: &mut [u8],
    src: MacAddr,
    dst: MacAddr,
    ethertype: EtherType,
    fill: impl FnOnce(&mut [u8]) -> usize,
) -> usize {
    ethernet::Repr {
        src_addr: src,
        dst_addr: dst,
        ethertype,
    }
    .emit(&mut ethernet::Packet::new_unchecked(&mut frame[..]));
    HEADER_LEN + fill(&mut frame[HEADER_LEN..])
}

impl<N: Network> Ethif<N> {
    /// The layer over `net`.
    pub fn connect(net: &'static N) -> Self {
        Ethif {
            net,
            dropped: Cell::new(0),
        }
    }

    /// The device below.
    pub fn device(&self) -> &'static N {
        self.net
    }

    /// Frames dropped on input.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Classifies the received `frame`: `None` (counted) when it is too
    /// short or addressed to another station's unicast address.
    // Inlined into the caller: the parsed fields stay in registers
    // (returned through memory, they were stored narrowly and loaded
    // wide: store-forwarding stalls on every packet).
    #[inline(always)]
    pub fn parse<'a>(&self, frame: &'a [u8]) -> Option<Frame<'a>> {
        let parsed = ethernet::Packet::new_checked(frame)
            .ok()
            .and_then(|p| ethernet::Repr::parse(&p).ok());
        match parsed {
            Some(repr) if repr.dst_addr == self.net.mac() || repr.dst_addr.is_multicast() => {
                Some(Frame {
                    src: repr.src_addr,
                    dst: repr.dst_addr,
                    ethertype: repr.ethertype,
                    payload: frame.get(HEADER_LEN..).unwrap_or(&[]),
                })
            }
            _ => {
                self.dropped.set(self.dropped.get() + 1);
                None
            }
        }
    }

    /// Waits for the next frame for us and hands it to `handle`; `None` for
    /// a frame dropped (malformed, or for another station).
    pub async fn read<R>(
        &self,
        handle: impl FnOnce(Option<Frame<'_>>) -> R,
    ) -> Result<R, NetError> {
        self.net.read(|bytes| handle(self.parse(bytes))).await
    }
}

impl<N: Network> Ethernet for Ethif<N> {
    fn mac(&self) -> MacAddr {
        self.net.mac()
    }

    fn mtu(&self) -> usize {
        self.net.mtu()
    }

    // (A wrapper on every frame's path: inlined into its caller.)
    #[inline(always)]
    fn send(
        &self,
        dst: MacAddr,
        ethertype: EtherType,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError> {
        let src = self.net.mac();
        self.net.try_write(HEADER_LEN + len, |frame| {
            emit(frame, src, dst, ethertype, fill)
        })
    }

    #[inline]
    fn segmentation_offload(&self) -> usize {
        self.net.segmentation_offload().saturating_sub(HEADER_LEN)
    }

    fn send_segmented(
        &self,
        dst: MacAddr,
        ethertype: EtherType,
        len: usize,
        segment_size: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError> {
        let src = self.net.mac();
        self.net
            .try_write_segmented(HEADER_LEN + len, segment_size, |frame| {
                emit(frame, src, dst, ethertype, fill)
            })
    }

    async fn write(
        &self,
        dst: MacAddr,
        ethertype: EtherType,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), NetError> {
        let src = self.net.mac();
        self.net
            .write(HEADER_LEN + len, |frame| {
                emit(frame, src, dst, ethertype, fill)
            })
            .await
    }
}
