//! The workloads on two smoltcp interfaces over the in-memory link, driven
//! by calling `Interface::poll` in a loop.

use std::time::{Duration, Instant};

use mirage::net::device::Network;
use mirage::net::device::max_frame_len;
use mirage::net::device::memory::Endpoint;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::{icmp, udp};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, IpEndpoint,
};

use super::{
    ADDR_A, ADDR_B, BURST, PING_DATA, PING_IDENT, PORT_A, PORT_B, PREFIX_LEN, RealClock, link,
};

/// How long a burst or an echo may take before the benchmark gives up
/// (smoltcp re-resolves a neighbour after a second of silence, so a
/// neighbour-cache expiry in the middle of a run costs about that much).
const STALL: Duration = Duration::from_secs(5);

/// Panics when a workload loop stops making progress for longer than a
/// limit. It reads the clock once per [`Watchdog::TURNS`] turns without
/// progress only: our stack's workloads read no clock of their own besides
/// the stack's, so a read per turn here would charge smoltcp's figures
/// with time ours does not spend.
pub struct Watchdog {
    limit: Duration,
    turns: u32,
    since: Option<Instant>,
}

impl Watchdog {
    /// Turns between two looks at the clock.
    const TURNS: u32 = 1024;

    /// A watchdog that allows `limit` without progress.
    pub fn new(limit: Duration) -> Self {
        Watchdog {
            limit,
            turns: 0,
            since: None,
        }
    }

    /// The workload progressed: the time without progress starts again.
    pub fn progress(&mut self) {
        self.turns = 0;
        self.since = None;
    }

    /// One turn without progress (yet); panics with `what()` once turns
    /// without progress have gone on for longer than the limit.
    pub fn check(&mut self, what: impl FnOnce() -> String) {
        self.turns += 1;
        if self.turns.is_multiple_of(Self::TURNS) {
            let now = Instant::now();
            match self.since {
                None => self.since = Some(now),
                Some(since) => assert!(now - since < self.limit, "{}", what()),
            }
        }
    }
}

/// smoltcp's time, from the same clock as ours.
pub fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros((RealClock::now_ns() / 1000) as i64)
}

/// An endpoint of the link as a smoltcp device. Its tokens lend the
/// link's own buffers (zero-copy), as our stack's device calls do.
pub struct LinkDevice(pub Endpoint);

/// Lends the next queued frame.
pub struct RxToken<'a>(&'a Endpoint);

/// Lends a frame buffer of the link to fill.
pub struct TxToken<'a>(&'a Endpoint);

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        self.0
            .try_read(f)
            .expect("the link is up")
            .expect("a frame is queued (checked by receive)")
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut out = None;
        let sent = self
            .0
            .try_write(len, |buf| {
                out = Some(f(buf));
                len
            })
            .expect("the link is up");
        assert!(sent, "the in-memory link takes every frame");
        out.expect("the link called the fill closure")
    }
}

impl phy::Device for LinkDevice {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(
        &mut self,
        _timestamp: smoltcp::time::Instant,
    ) -> Option<(RxToken<'_>, TxToken<'_>)> {
        (self.0.queued() > 0).then_some((RxToken(&self.0), TxToken(&self.0)))
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&self.0))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // smoltcp's MTU of an Ethernet device counts the Ethernet header.
        caps.max_transmission_unit = max_frame_len(self.0.mtu());
        caps
    }
}

/// One smoltcp host: its interface, device and sockets.
pub struct Host {
    /// The interface.
    pub iface: Interface,
    /// Its device.
    pub dev: LinkDevice,
    /// Its sockets.
    pub sockets: SocketSet<'static>,
}

impl Host {
    /// A host with address `addr` on `net`; `seed` seeds its interface.
    pub fn new(net: Endpoint, addr: std::net::Ipv4Addr, seed: u64) -> Self {
        let mut dev = LinkDevice(net);
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(dev.0.mac().0)));
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, now());
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv4(addr), PREFIX_LEN))
                .expect("room for an address")
        });
        Host {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    /// Lets the interface receive and send what it can.
    pub fn poll(&mut self) {
        self.iface.poll(now(), &mut self.dev, &mut self.sockets);
    }
}

/// A UDP socket whose queues hold a burst of the largest datagrams.
fn udp_socket(port: u16) -> udp::Socket<'static> {
    let buffer = || {
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; BURST as usize],
            vec![0u8; BURST as usize * 2048],
        )
    };
    let mut socket = udp::Socket::new(buffer(), buffer());
    socket.bind(port).expect("bind");
    socket
}

/// Hosts A and B with a UDP socket each, and an ICMP socket on A.
pub struct SmoltcpHosts {
    a: Host,
    b: Host,
    tx: SocketHandle,
    rx: SocketHandle,
    ping: SocketHandle,
}

impl SmoltcpHosts {
    /// Both interfaces, warmed up (neighbours resolved both ways).
    pub fn new() -> Self {
        let (na, nb) = link();
        let mut a = Host::new(na, ADDR_A, 1);
        let mut b = Host::new(nb, ADDR_B, 2);
        let tx = a.sockets.add(udp_socket(PORT_A));
        let rx = b.sockets.add(udp_socket(PORT_B));
        let buffer =
            || icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
        let mut socket = icmp::Socket::new(buffer(), buffer());
        socket
            .bind(icmp::Endpoint::Ident(PING_IDENT))
            .expect("bind");
        let ping = a.sockets.add(socket);
        let mut hosts = SmoltcpHosts { a, b, tx, rx, ping };
        hosts.udp(BURST, &[0; 8]);
        hosts.ping(1);
        hosts
    }

    /// Sends `n` datagrams of `payload` from A to B in bursts; the time
    /// until B's socket has given up the last one.
    pub fn udp(&mut self, n: u64, payload: &[u8]) -> Duration {
        let dst = IpEndpoint::new(IpAddress::Ipv4(ADDR_B), PORT_B);
        let mut buf = vec![0u8; 2048];
        let started = Instant::now();
        let mut left = n;
        while left > 0 {
            let burst = left.min(BURST);
            let tx = self.a.sockets.get_mut::<udp::Socket>(self.tx);
            for _ in 0..burst {
                tx.send_slice(payload, dst).expect("send");
            }
            let mut got = 0;
            let mut dog = Watchdog::new(STALL);
            while got < burst {
                self.a.poll();
                self.b.poll();
                let rx = self.b.sockets.get_mut::<udp::Socket>(self.rx);
                while let Ok((len, meta)) = rx.recv_slice(&mut buf) {
                    assert_eq!((len, meta.endpoint.port), (payload.len(), PORT_A));
                    got += 1;
                }
                dog.check(|| "UDP burst stalled".into());
            }
            left -= burst;
        }
        started.elapsed()
    }

    /// `n` echo round trips from A to B, one after the other.
    pub fn ping(&mut self, n: u64) -> Duration {
        let checksums = ChecksumCapabilities::default();
        let started = Instant::now();
        for i in 0..n {
            let seq_no = i as u16;
            let request = Icmpv4Repr::EchoRequest {
                ident: PING_IDENT,
                seq_no,
                data: PING_DATA,
            };
            let socket = self.a.sockets.get_mut::<icmp::Socket>(self.ping);
            let buf = socket
                .send(request.buffer_len(), IpAddress::Ipv4(ADDR_B))
                .expect("send");
            request.emit(&mut Icmpv4Packet::new_unchecked(buf), &checksums);
            let mut dog = Watchdog::new(STALL);
            loop {
                // The request goes out, B answers, A takes the answer.
                self.a.poll();
                self.b.poll();
                self.a.poll();
                let socket = self.a.sockets.get_mut::<icmp::Socket>(self.ping);
                if let Ok((bytes, _)) = socket.recv() {
                    let packet = Icmpv4Packet::new_checked(bytes).expect("an ICMP packet");
                    match Icmpv4Repr::parse(&packet, &checksums).expect("a valid reply") {
                        Icmpv4Repr::EchoReply {
                            seq_no: got, data, ..
                        } => assert_eq!((got, data.len()), (seq_no, PING_DATA.len())),
                        other => panic!("not an echo reply: {other:?}"),
                    }
                    break;
                }
                dog.check(|| {
                    format!(
                        "echo stalled: {:?} {:?}",
                        self.a.dev.0.stats(),
                        self.b.dev.0.stats()
                    )
                });
            }
        }
        started.elapsed()
    }
}
