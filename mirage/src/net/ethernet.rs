//! Ethernet (the seed's `ethernet`, `etif`): frames out with our source
//! address, frames in checked and handed up by EtherType; frames for
//! another station's unicast address are dropped and counted.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::net::MacAddr;
use crate::net::device::{NetError, Network};
use crate::net::wire::ethernet::{self, EtherType, HEADER_LEN};

/// An Ethernet layer over the network device `N`.
pub struct Ethernet<N: 'static> {
    net: &'static N,
    /// Frames dropped on input: too short, or for another station.
    dropped: AtomicU64,
}

impl<N: Network> core::fmt::Debug for Ethernet<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ethernet")
            .field("mac", &self.net.mac())
            .finish_non_exhaustive()
    }
}

/// A received frame, borrowed from the device.
#[derive(Debug)]
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

impl<N: Network> Ethernet<N> {
    /// The layer over `net`.
    pub fn connect(net: &'static N) -> Self {
        Ethernet {
            net,
            dropped: AtomicU64::new(0),
        }
    }

    /// Our address.
    pub fn mac(&self) -> MacAddr {
        self.net.mac()
    }

    /// The largest payload.
    pub fn mtu(&self) -> usize {
        self.net.mtu()
    }

    /// The device below.
    pub fn device(&self) -> &'static N {
        self.net
    }

    /// Frames dropped on input.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sends a frame to `dst`: `fill` writes at most `len` payload bytes in
    /// place (zero-copy) and returns how many it wrote.
    pub async fn write(
        &self,
        dst: MacAddr,
        ethertype: EtherType,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), NetError> {
        let src = self.net.mac();
        self.net
            .write(HEADER_LEN + len, |frame| {
                let mut packet = ethernet::Packet::new_unchecked(&mut frame[..]);
                ethernet::Repr {
                    src_addr: src,
                    dst_addr: dst,
                    ethertype,
                }
                .emit(&mut packet);
                HEADER_LEN + fill(&mut frame[HEADER_LEN..])
            })
            .await
    }

    /// Waits for the next frame for us and hands it to `handle`; `None` for
    /// a frame dropped (malformed, or for another station).
    pub async fn read<R>(
        &self,
        handle: impl FnOnce(Option<Frame<'_>>) -> R,
    ) -> Result<R, NetError> {
        let mac = self.net.mac();
        let dropped = &self.dropped;
        self.net
            .read(|bytes| {
                let parsed = ethernet::Packet::new_checked(bytes)
                    .ok()
                    .and_then(|p| ethernet::Repr::parse(&p).ok().map(|r| (r, p)));
                match parsed {
                    Some((repr, packet))
                        if repr.dst_addr == mac || repr.dst_addr.is_multicast() =>
                    {
                        handle(Some(Frame {
                            src: repr.src_addr,
                            dst: repr.dst_addr,
                            ethertype: repr.ethertype,
                            payload: packet.into_inner().get(HEADER_LEN..).unwrap_or(&[]),
                        }))
                    }
                    _ => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        handle(None)
                    }
                }
            })
            .await
    }
}
