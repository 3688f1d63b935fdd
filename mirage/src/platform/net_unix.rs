//! The unix network device: a tap interface (`netif "tap0"`), its
//! descriptor non-blocking and waited on through the `ppoll` reactor.
//!
//! The tap's own MAC address is the host's end of the link; the unikernel
//! has its own, random (locally administered unicast) unless given.
//!
//! With offload ([`Netif::connect_with_offload`]), the device offers TCP
//! segmentation offload ([`Network::segmentation_offload`]) through the
//! kernel's: every frame crosses the descriptor behind a `virtio_net_hdr`;
//! a segment longer than the MTU goes with the header's GSO fields (the
//! kernel cuts it by the MSS, or hands it whole to its own stack) and its
//! checksum left partial, as the kernel expects; and the kernel may send
//! such segments (receive offload), whose checksums, left partial, are
//! completed here before the stack sees them.

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
    MAX_SEGMENTED_FRAME_LEN, NetError, Network, Stats, StatsCell, check_len, check_segmented,
    check_used, max_frame_len, segmentation,
};
use crate::net::wire::checksum;

/// A network interface over a host tap interface.
pub struct Netif {
    tap: sys::Tap,
    mac: MacAddr,
    /// The receive buffer (MTU + 14 bytes, or with offload the header and
    /// the longest segment), lent to readers; taken out while lent, so a
    /// nested use allocates another.
    rx: Cell<Option<Vec<u8>>>,
    /// The transmit buffer (as `rx`), filled by writers.
    tx: Cell<Option<Vec<u8>>>,
    /// The bytes before a frame in the buffers: the `virtio_net_hdr`'s with
    /// offload, else none.
    head: usize,
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
        Self::connect_with_offload(name, false)
    }

    /// Attaches to the tap interface `name` with the MAC address `mac`.
    pub fn connect_with_mac(name: &str, mac: MacAddr) -> Result<Netif, NetError> {
        Self::open(name, mac, false)
    }

    /// [`Netif::connect`], with the kernel's TCP segmentation offload when
    /// `offload` (see the module documentation; an error if the kernel
    /// refuses it).
    pub fn connect_with_offload(name: &str, offload: bool) -> Result<Netif, NetError> {
        let mac = sys::random_local_mac()
            .map_err(|e| NetError::Device(format!("random MAC address: {e}")))?;
        Self::open(name, MacAddr(mac), offload)
    }

    fn open(name: &str, mac: MacAddr, offload: bool) -> Result<Netif, NetError> {
        let tap = if offload {
            sys::open_tap_with_offload(name)
        } else {
            sys::open_tap(name)
        }
        .map_err(|e| NetError::Device(format!("{e}")))?;
        let head = if tap.offload { sys::VNET_HDR_LEN } else { 0 };
        let netif = Netif {
            tap,
            mac,
            rx: Cell::new(None),
            tx: Cell::new(None),
            head,
            stats: StatsCell::new(),
        };
        netif.rx.set(Some(netif.new_buffer()));
        netif.tx.set(Some(netif.new_buffer()));
        Ok(netif)
    }

    /// A buffer for the longest frame, behind the header.
    fn new_buffer(&self) -> Vec<u8> {
        let frame = if self.tap.offload {
            MAX_SEGMENTED_FRAME_LEN
        } else {
            max_frame_len(self.tap.mtu)
        };
        vec![0; self.head + frame]
    }

    /// The host's name of the interface.
    pub fn name(&self) -> &str {
        &self.tap.name
    }

    fn buffer(&self, cell: &Cell<Option<Vec<u8>>>) -> Vec<u8> {
        cell.take().unwrap_or_else(|| self.new_buffer())
    }

    /// One non-blocking receive: `Ok(None)` on `EAGAIN`.
    fn receive<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, NetError> {
        let mut buf = self.buffer(&self.rx);
        let result = loop {
            match self.tap.read(&mut buf) {
                Ok(n) if self.head > 0 => {
                    if let Some(frame) = complete_checksum(&mut buf[..n]) {
                        self.stats.received(frame.len());
                        break Ok(Some(handle(frame)));
                    }
                    // A header we cannot follow: the frame is dropped.
                    self.stats.rx_drop();
                }
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

    /// Sends `buf`, a frame behind the header's room: `Ok(false)` on
    /// `EAGAIN`.
    fn send(&self, buf: &[u8]) -> Result<bool, NetError> {
        loop {
            match self.tap.write(buf) {
                Ok(_) => {
                    self.stats.sent(buf.len() - self.head);
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

impl Netif {
    /// Fills a frame of at most `len` bytes behind the header's room, has
    /// `header` write the header for it (or refuse it), and sends it
    /// without waiting. A tap write never blocks for long: the kernel
    /// queues the frame or drops it (counted by the interface), so filling
    /// first is fine unless `EAGAIN`, which a tap reports only when its
    /// queue is full (the frame is then dropped, counted).
    fn try_send(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
        header: impl FnOnce(&mut [u8], &mut [u8]) -> Result<(), NetError>,
    ) -> Result<bool, NetError> {
        let mut buf = self.buffer(&self.tx);
        let head = self.head;
        let result = check_used(fill(&mut buf[head..head + len]), len).and_then(|used| {
            let (h, frame) = buf.split_at_mut(head);
            header(h, &mut frame[..used])?;
            let sent = self.send(&buf[..head + used]);
            if sent == Ok(false) {
                self.stats.tx_drop();
            }
            sent
        });
        self.tx.set(Some(buf));
        result
    }
}

/// `virtio_net_hdr`'s flag: the checksum is left partial (the sum of the
/// pseudo-header), to be completed over the bytes from `csum_start`.
const NEEDS_CSUM: u8 = 1;

/// `virtio_net_hdr`'s GSO types.
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
/// The segment carries CWR (the kernel keeps it on the first piece only).
const GSO_ECN: u8 = 0x80;

/// The frame behind the `virtio_net_hdr` at the start of `buf` (as read
/// from the tap), its checksum completed if the kernel left it partial
/// (`NEEDS_CSUM`: the one's complement of the sum from `csum_start` to the
/// end goes at `csum_start + csum_offset`); `None` if the header does not
/// fit the frame.
fn complete_checksum(buf: &mut [u8]) -> Option<&[u8]> {
    let (header, frame) = buf.split_at_mut_checked(sys::VNET_HDR_LEN)?;
    if header[0] & NEEDS_CSUM != 0 {
        let start = usize::from(u16::from_ne_bytes([header[6], header[7]]));
        let offset = usize::from(u16::from_ne_bytes([header[8], header[9]]));
        let at = start + offset;
        if start > frame.len() || at + 2 > frame.len() {
            return None;
        }
        let mut sum = !checksum::data(&frame[start..]);
        // (UDP sends a sum of zero as all ones, RFC 768.)
        if sum == 0 && offset == 6 {
            sum = 0xffff;
        }
        frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    }
    Some(frame)
}

/// The `virtio_net_hdr` of `frame`, one TCP segment the kernel is to cut
/// into pieces of `segment_size` payload bytes, and the segment's TCP
/// checksum (complete, from the stack) replaced with the pseudo-header's
/// sum, left partial as the kernel expects of a segment it cuts. `None`
/// if `frame` is not one TCP segment whose lengths agree with it.
fn gso_header(frame: &mut [u8], segment_size: usize) -> Option<[u8; sys::VNET_HDR_LEN]> {
    let size = u16::try_from(segment_size).ok().filter(|&s| s > 0)?;
    let l = segmentation::layout(frame)
        .ok()
        .filter(|l| l.end == frame.len())?;
    let tcp = l.tcp_at();
    let headers = tcp + l.tcp_len;
    let pseudo = segmentation::pseudo_header(frame, l.v6, frame.len() - tcp);
    let cwr = frame[tcp + 13] & 0x80 != 0;
    frame[tcp + 16..tcp + 18].copy_from_slice(&pseudo.to_be_bytes());
    let gso = if l.v6 { GSO_TCPV6 } else { GSO_TCPV4 } | if cwr { GSO_ECN } else { 0 };
    let mut h = [0u8; sys::VNET_HDR_LEN];
    h[0] = NEEDS_CSUM;
    h[1] = gso;
    h[2..4].copy_from_slice(&(headers as u16).to_ne_bytes());
    h[4..6].copy_from_slice(&size.to_ne_bytes());
    h[6..8].copy_from_slice(&(tcp as u16).to_ne_bytes());
    h[8..10].copy_from_slice(&16u16.to_ne_bytes());
    Some(h)
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
        // (A frame that needs nothing of the kernel: a header of zeros.)
        let head = self.head;
        buf[..head].fill(0);
        let result = match check_used(fill(&mut buf[head..head + len]), len) {
            Ok(used) => loop {
                match self.send(&buf[..head + used]) {
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
        self.try_send(len, fill, |header, _| {
            header.fill(0);
            Ok(())
        })
    }

    fn segmentation_offload(&self) -> usize {
        if self.tap.offload {
            MAX_SEGMENTED_FRAME_LEN
        } else {
            0
        }
    }

    fn try_write_segmented(
        &self,
        len: usize,
        segment_size: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError> {
        check_segmented(len, segment_size, self.segmentation_offload())?;
        self.try_send(len, fill, |header, frame| {
            let Some(h) = gso_header(frame, segment_size) else {
                self.stats.tx_drop();
                return Err(NetError::TooLarge);
            };
            header.copy_from_slice(&h);
            Ok(())
        })
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

    use crate::net::device::segmentation::tests::{A4, A6, B4, B6, frame};
    use crate::net::wire::checksum::PseudoHeader;
    use crate::net::wire::tcp::{Flags, Packet};
    use core::net::IpAddr;

    /// Whether the TCP checksum of `frame` (IPv4 or IPv6, from A to B)
    /// verifies.
    fn tcp_checksum_ok(frame: &[u8], v6: bool) -> bool {
        let (ip_len, ph) = if v6 {
            (40, PseudoHeader::new(IpAddr::V6(A6), IpAddr::V6(B6)))
        } else {
            (20, PseudoHeader::new(IpAddr::V4(A4), IpAddr::V4(B4)))
        };
        Packet::new_checked(&frame[14 + ip_len..])
            .unwrap()
            .verify_checksum(&ph.unwrap())
    }

    #[test]
    fn a_segment_for_the_kernels_offload_gets_its_header_and_a_partial_checksum() {
        for v6 in [false, true] {
            let ip_len = if v6 { 40 } else { 20 };
            let mut f = frame(v6, &[9; 10_000], Flags::ACK | Flags::CWR, 0);
            let h = gso_header(&mut f, 1448).unwrap();
            let ne = |at: usize| u16::from_ne_bytes([h[at], h[at + 1]]);
            assert_eq!(h[0], NEEDS_CSUM);
            let gso = if v6 { GSO_TCPV6 } else { GSO_TCPV4 };
            assert_eq!(h[1], gso | GSO_ECN);
            // Headers: Ethernet, IP, TCP with timestamps (32 bytes).
            assert_eq!(usize::from(ne(2)), 14 + ip_len + 32);
            assert_eq!((ne(4), usize::from(ne(6)), ne(8)), (1448, 14 + ip_len, 16));
            // The checksum field holds the pseudo-header's sum: completing
            // it as the kernel does gives a checksum that verifies.
            assert!(!tcp_checksum_ok(&f, v6));
            let mut read = h.to_vec();
            read.extend_from_slice(&f);
            let completed = complete_checksum(&mut read).unwrap().to_vec();
            assert!(tcp_checksum_ok(&completed, v6));
        }
        // Without CWR, no ECN flag.
        let mut f = frame(false, &[9; 3000], Flags::ACK, 0);
        assert_eq!(gso_header(&mut f, 1448).unwrap()[1], GSO_TCPV4);
        // Not a TCP segment, lengths that disagree, no segment size.
        let mut udp = frame(false, &[9; 3000], Flags::ACK, 0);
        udp[14 + 9] = 17;
        assert_eq!(gso_header(&mut udp, 1448), None);
        let mut padded = frame(false, &[9; 3000], Flags::ACK, 0);
        padded.push(0);
        assert_eq!(gso_header(&mut padded, 1448), None);
        assert_eq!(gso_header(&mut f, 0), None);
        assert_eq!(gso_header(&mut f, 70_000), None);
    }

    #[test]
    fn a_frame_from_the_kernel_gets_its_partial_checksum_completed() {
        let f = frame(false, &[3; 5000], Flags::ACK | Flags::PSH, 0);
        // The kernel's view: a header without flags leaves the frame as
        // it is.
        let mut plain = vec![0u8; sys::VNET_HDR_LEN];
        plain.extend_from_slice(&f);
        assert_eq!(complete_checksum(&mut plain).unwrap(), &f[..]);
        // Partial: the field holds the pseudo-header's sum.
        let mut partial = f.clone();
        let h = gso_header(&mut partial, 1448).unwrap();
        let mut read = h.to_vec();
        read.extend_from_slice(&partial);
        assert_eq!(complete_checksum(&mut read).unwrap(), &f[..]);
        // A checksum offset past the frame, or a buffer shorter than the
        // header: refused.
        let mut bad = read.clone();
        bad[8..10].copy_from_slice(&60_000u16.to_ne_bytes());
        assert_eq!(complete_checksum(&mut bad), None);
        assert_eq!(complete_checksum(&mut [1, 2, 3]), None);
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
