//! The unix network device: a tap interface (`netif "tap0"`), its
//! descriptor non-blocking and waited on through the `ppoll` reactor.
//!
//! The tap's own MAC address is the host's end of the link; the unikernel
//! has its own, random (locally administered unicast) unless given.

extern crate std;

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::task::{Context, Poll};
use std::io;

use mirage_unix as sys;
use mirage_unix::reactor::{self, Interest};

use crate::net::MacAddr;
use crate::net::device::{
    NetError, Network, Stats, StatsCell, check_len, check_used, max_frame_len,
};

/// A network interface over a host tap interface.
pub struct Netif {
    tap: sys::Tap,
    mac: MacAddr,
    /// The receive buffer (MTU + 14 bytes), lent to readers; taken out
    /// while lent, so a nested use allocates another.
    rx: Cell<Option<Vec<u8>>>,
    /// The transmit buffer (MTU + 14 bytes), filled by writers.
    tx: Cell<Option<Vec<u8>>>,
    stats: StatsCell,
}

/// What an I/O error means for the device.
fn net_error(what: &str, name: &str, err: &io::Error) -> NetError {
    match err.raw_os_error() {
        Some(EBADFD) => NetError::Disconnected,
        _ => NetError::Device(format!("{what} on {name}: {err}")),
    }
}

/// `EBADFD`: the tap interface behind the descriptor was removed.
const EBADFD: i32 = 77;

impl core::fmt::Debug for Netif {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Netif")
            .field("tap", &self.tap)
            .field("mac", &self.mac)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Netif {
    /// Attaches to the tap interface `name` with a random MAC address.
    pub fn connect(name: &str) -> Result<Netif, NetError> {
        let mac = sys::random_local_mac()
            .map_err(|e| NetError::Device(format!("random MAC address: {e}")))?;
        Self::connect_with_mac(name, MacAddr(mac))
    }

    /// Attaches to the tap interface `name` with the MAC address `mac`.
    pub fn connect_with_mac(name: &str, mac: MacAddr) -> Result<Netif, NetError> {
        let tap = sys::open_tap(name).map_err(|e| NetError::Device(format!("{e}")))?;
        let len = max_frame_len(tap.mtu);
        Ok(Netif {
            tap,
            mac,
            rx: Cell::new(Some(vec![0; len])),
            tx: Cell::new(Some(vec![0; len])),
            stats: StatsCell::new(),
        })
    }

    /// The host's name of the interface.
    pub fn name(&self) -> &str {
        &self.tap.name
    }

    fn buffer(&self, cell: &Cell<Option<Vec<u8>>>) -> Vec<u8> {
        cell.take()
            .unwrap_or_else(|| vec![0; max_frame_len(self.tap.mtu)])
    }

    /// One non-blocking receive: `Ok(None)` on `EAGAIN`.
    fn receive<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, NetError> {
        let mut buf = self.buffer(&self.rx);
        let result = loop {
            match self.tap.read(&mut buf) {
                Ok(n) => {
                    self.stats.received(n);
                    break Ok(Some(handle(&buf[..n])));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(None),
                Err(e) => break Err(net_error("read", &self.tap.name, &e)),
            }
        };
        self.rx.set(Some(buf));
        result
    }

    /// Sends `frame`: `Ok(false)` on `EAGAIN`.
    fn send(&self, frame: &[u8]) -> Result<bool, NetError> {
        loop {
            match self.tap.write(frame) {
                Ok(_) => {
                    self.stats.sent(frame.len());
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => {
                    self.stats.tx_drop();
                    return Err(net_error("write", &self.tap.name, &e));
                }
            }
        }
    }
}

impl Drop for Netif {
    fn drop(&mut self) {
        // The descriptor closes next: no registration may outlive it.
        reactor::deregister(self.tap.raw_fd());
    }
}

impl Network for Netif {
    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn mtu(&self) -> usize {
        self.tap.mtu
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
        check_len(len, self.tap.mtu)?;
        let mut buf = self.buffer(&self.tx);
        let result = match check_used(fill(&mut buf[..len]), len) {
            Ok(used) => loop {
                match self.send(&buf[..used]) {
                    Ok(true) => break Ok(()),
                    Ok(false) => reactor::wait(self.tap.raw_fd(), Interest::Writable).await,
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
        check_len(len, self.tap.mtu)?;
        // A tap write never blocks for long: the kernel queues the frame or
        // drops it (counted by the interface), so filling first is fine
        // unless `EAGAIN`, which a tap reports only when its queue is full.
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
        loop {
            let mut out = None;
            self.receive(|frame| {
                if let Some(handle) = handle.take() {
                    out = Some(handle(frame));
                }
            })?;
            if let Some(out) = out {
                return Ok(out);
            }
            reactor::wait(self.tap.raw_fd(), Interest::Readable).await;
        }
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
            // Readiness is level-triggered: a frame that arrived since the
            // read wakes the task at the next idle step.
            Ok(None) => {
                reactor::register(self.tap.raw_fd(), Interest::Readable, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::Executor;
    use alloc::string::{String, ToString};
    use std::io::Write;
    use std::process::Command;

    fn skip(reason: &str) {
        let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
    }

    fn ip(args: &[&str]) -> Result<(), String> {
        let status = Command::new("ip")
            .args(args)
            .status()
            .map_err(|e| format!("ip: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("ip {args:?}: {status}"))
        }
    }

    /// A persistent tap interface, up, with an IPv4 address of the
    /// benchmarking range; deleted on drop.
    struct TestTap {
        name: String,
        peer: std::net::Ipv4Addr,
    }

    impl TestTap {
        fn create() -> Result<TestTap, String> {
            if !std::path::Path::new("/dev/net/tun").exists() {
                return Err("no /dev/net/tun".into());
            }
            let pid = std::process::id();
            let name = format!("mtn{pid}");
            ip(&["tuntap", "add", "name", &name, "mode", "tap"])
                .map_err(|e| format!("cannot create a tap (not root?): {e}"))?;
            // 198.18.0.0/15 is reserved for benchmarks: a /30 per process.
            let base = (pid % 32768) * 4;
            let octets = |n: u32| format!("198.{}.{}.{}", 18 + (n >> 16), (n >> 8) & 255, n & 255);
            let tap = TestTap {
                name,
                peer: octets(base + 2).parse().unwrap(),
            };
            ip(&[
                "addr",
                "add",
                &format!("{}/30", octets(base + 1)),
                "dev",
                &tap.name,
            ])?;
            ip(&["link", "set", &tap.name, "up"])?;
            Ok(tap)
        }
    }

    impl Drop for TestTap {
        fn drop(&mut self) {
            // Works even while a descriptor is still attached.
            let _ = ip(&["link", "delete", &self.name]);
        }
    }

    fn rx_packets(name: &str) -> u64 {
        std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/rx_packets"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn a_netif_over_a_real_tap() {
        let guard = match TestTap::create() {
            Ok(guard) => guard,
            Err(reason) => return skip(&reason),
        };
        let netif = alloc::rc::Rc::new(Netif::connect(&guard.name).unwrap());
        assert_eq!(netif.mtu(), 1500);
        assert!(netif.mac().is_local() && netif.mac().is_unicast());
        assert_eq!(netif.name(), guard.name);
        assert_eq!(
            netif.try_write(1515, |_| 0),
            Err(NetError::TooLarge),
            "the MTU is enforced"
        );
        // The host sends to the peer address, resolved to our MAC.
        ip(&[
            "neigh",
            "replace",
            &guard.peer.to_string(),
            "lladdr",
            &netif.mac().to_string(),
            "dev",
            &guard.name,
            "nud",
            "permanent",
        ])
        .unwrap();
        let executor = Executor::new(crate::platform::UnixPlatform);
        let before = rx_packets(&guard.name);
        let peer = guard.peer;
        let mac = netif.mac();
        let device = netif.clone();
        let payload = executor
            .block_on(async move {
                // Unikernel -> host: a broadcast of an experimental type.
                device
                    .write(60, |buf| {
                        buf[..6].fill(0xff);
                        buf[6..12].copy_from_slice(&mac.0);
                        buf[12..14].copy_from_slice(&[0x88, 0xb5]);
                        buf[14..60].fill(0);
                        60
                    })
                    .await
                    .unwrap();
                // Host -> unikernel: a UDP datagram to the peer address.
                // The kernel activates the interface's queue asynchronously
                // once the carrier is on and drops what is sent until then:
                // send again every 100 ms.
                let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
                loop {
                    socket.send_to(b"hello tap", (peer, 9)).unwrap();
                    let Ok(frame) =
                        crate::rt::timeout(100_000_000, device.read(|f| f.to_vec())).await
                    else {
                        continue;
                    };
                    let frame = frame.unwrap();
                    // IPv4 to our MAC carrying the payload at its end
                    // (14 Ethernet + 20 IP + 8 UDP bytes before it).
                    if frame[..6] == mac.0 && frame[12..14] == [0x08, 0x00] {
                        return frame[42..].to_vec();
                    }
                }
            })
            .unwrap();
        assert_eq!(payload, b"hello tap");
        assert!(rx_packets(&guard.name) > before);
        let stats = netif.stats();
        assert_eq!(stats.tx_frames, 1);
        assert_eq!(stats.tx_bytes, 60);
        assert!(stats.rx_frames >= 1);
        assert_eq!(netif.try_write(60, |_| 61), Err(NetError::TooLarge));
        drop(executor);
        assert_eq!(alloc::rc::Rc::strong_count(&netif), 1);
    }
}
