//! The Solo5 network device (`netif "service"`): a net device of the
//! manifest, read when the tender reports it ready.
//!
//! The MAC address is the one the tender assigned to the unikernel.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::future::poll_fn;
use core::task::{Context, Poll};

use mirage_solo5 as solo5;
use mirage_solo5::Solo5Error;

use super::wait_readable;
use crate::net::MacAddr;
use crate::net::device::{
    NetError, Network, Stats, StatsCell, check_len, check_used, max_frame_len,
};

/// A network interface over a Solo5 net device.
pub struct Netif {
    device: solo5::NetDevice,
    /// The receive buffer (MTU + 14 bytes), lent to readers; taken out
    /// while lent, so a nested use allocates another.
    rx: Cell<Option<Vec<u8>>>,
    /// The transmit buffer (MTU + 14 bytes), filled by writers.
    tx: Cell<Option<Vec<u8>>>,
    stats: StatsCell,
}

impl core::fmt::Debug for Netif {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Netif")
            .field("device", &self.device)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Netif {
    /// Acquires the net device `name`, declared in the manifest.
    pub fn connect(name: &str) -> Result<Netif, NetError> {
        let device = solo5::net_acquire(name)
            .map_err(|e| NetError::Device(format!("net device {name}: {e}")))?;
        let len = max_frame_len(device.info.mtu);
        Ok(Netif {
            device,
            rx: Cell::new(Some(vec![0; len])),
            tx: Cell::new(Some(vec![0; len])),
            stats: StatsCell::new(),
        })
    }

    /// The device's handle (its bit in the ready set of `solo5_yield`).
    pub fn handle(&self) -> u64 {
        self.device.handle
    }

    fn buffer(&self, cell: &Cell<Option<Vec<u8>>>) -> Vec<u8> {
        cell.take()
            .unwrap_or_else(|| vec![0; max_frame_len(self.device.info.mtu)])
    }

    /// One non-blocking receive: `Ok(None)` when no frame is waiting.
    fn receive<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, NetError> {
        let mut buf = self.buffer(&self.rx);
        let result = match self.device.read(&mut buf) {
            Ok(n) => {
                self.stats.received(n);
                Ok(Some(handle(&buf[..n])))
            }
            Err(Solo5Error::Again) => Ok(None),
            Err(e) => Err(NetError::Device(format!("read: {e}"))),
        };
        self.rx.set(Some(buf));
        result
    }

    /// Sends `frame`: `Ok(false)` if the tender asks to try again.
    fn send(&self, frame: &[u8]) -> Result<bool, NetError> {
        match self.device.write(frame) {
            Ok(()) => {
                self.stats.sent(frame.len());
                Ok(true)
            }
            Err(Solo5Error::Again) => Ok(false),
            Err(e) => {
                self.stats.tx_drop();
                Err(NetError::Device(format!("write: {e}")))
            }
        }
    }
}

impl Network for Netif {
    fn mac(&self) -> MacAddr {
        MacAddr(self.device.info.mac_address)
    }

    fn mtu(&self) -> usize {
        self.device.info.mtu
    }

    fn stats(&self) -> Stats {
        self.stats.get()
    }

    fn reset_stats(&self) {
        self.stats.reset();
    }

    async fn write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), NetError> {
        check_len(len, self.mtu())?;
        let mut buf = self.buffer(&self.tx);
        let result = match check_used(fill(&mut buf[..len]), len) {
            Ok(used) => loop {
                match self.send(&buf[..used]) {
                    Ok(true) => break Ok(()),
                    // Solo5 has no writability event: let others run.
                    Ok(false) => crate::rt::yield_now().await,
                    Err(e) => break Err(e),
                }
            },
            Err(e) => Err(e),
        };
        self.tx.set(Some(buf));
        result
    }

    fn try_write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError> {
        check_len(len, self.mtu())?;
        let mut buf = self.buffer(&self.tx);
        let result = check_used(fill(&mut buf[..len]), len).and_then(|used| {
            let sent = self.send(&buf[..used]);
            if sent == Ok(false) {
                self.stats.tx_drop();
            }
            sent
        });
        self.tx.set(Some(buf));
        result
    }

    async fn read<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<R, NetError> {
        let mut handle = Some(handle);
        poll_fn(|cx| {
            let mut out = None;
            match self.receive(|frame| {
                if let Some(handle) = handle.take() {
                    out = Some(handle(frame));
                }
            }) {
                Err(e) => Poll::Ready(Err(e)),
                Ok(Some(())) => match out.take() {
                    Some(out) => Poll::Ready(Ok(out)),
                    // Polled again after completing: cannot happen.
                    None => Poll::Pending,
                },
                Ok(None) => {
                    // Nothing ran since the read: the idle step wakes us
                    // once the tender reports the device ready.
                    wait_readable(self.device.handle, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    fn try_read<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, NetError> {
        self.receive(handle)
    }

    fn poll_read<R>(
        &self,
        cx: &mut Context<'_>,
        handle: impl FnOnce(&[u8]) -> R,
    ) -> Poll<Result<R, NetError>> {
        match self.receive(handle) {
            Ok(Some(out)) => Poll::Ready(Ok(out)),
            // The idle step wakes the task once the tender reports the
            // device ready.
            Ok(None) => {
                wait_readable(self.device.handle, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
