//! Stacks over the in-memory link on virtual time, for the network tests.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mirage::Mclock;
use mirage::args::{Ipv4Prefix, Ipv6Prefix};
use mirage::net::arp::Arp;
use mirage::net::device::Network;
use mirage::net::device::memory::{Endpoint, Link, LinkConfig};
use mirage::net::ethernet::Ethif;
use mirage::net::ipv4::{Ipv4, Ipv4Config};
use mirage::net::ipv6::{Ipv6, Ipv6Config};
use mirage::net::stack::{DirectStack, Stackv4v6, TcpOf};
use mirage::net::tcp::{Flow as _, Tcp, TcpListener};
use mirage::random::Rng;
use mirage::rt::{Executor, VirtualPlatform, leak};

/// A second.
pub const SEC: u64 = 1_000_000_000;

/// The monotonic clock of a simulation.
pub struct Clock(pub VirtualPlatform);

impl Mclock for Clock {
    fn elapsed_ns(&self) -> u64 {
        self.0.now()
    }
}

/// A stack over an endpoint of the in-memory link.
pub type Stack = DirectStack<Endpoint, Clock>;

/// A TCP connection of a [`Stack`].
pub type Flow = <TcpOf<Endpoint, Clock> as Tcp>::Flow;

/// A connection from `a` to `b`'s `port` at `dst`: A's end and B's.
pub async fn connected(
    a: &'static Stack,
    b: &'static Stack,
    dst: IpAddr,
    port: u16,
) -> (Flow, Flow) {
    let listener = b.tcp().bind(port).unwrap();
    let flow = a.tcp().connect(dst, port).await.unwrap();
    (flow, listener.accept().await.unwrap())
}

/// An echo server on `stack`'s `port`, a handler per connection (the
/// seed's `listen`): echoes until the client's end of stream, then closes
/// its side.
pub async fn serve_echo(stack: &'static Stack, port: u16) {
    use embedded_io_async::{Read, Write};
    stack
        .tcp()
        .listen(port, |mut flow| async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let n = flow.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                flow.write_all(&buf[..n]).await.unwrap();
            }
            flow.close().await.unwrap();
        })
        .await
        .unwrap();
}

/// How a simulated host is addressed.
#[derive(Clone, Copy)]
pub struct Addressing {
    /// `None`: DHCP.
    pub ipv4: Option<(Ipv4Prefix, Option<Ipv4Addr>)>,
    /// A static IPv6 address, and SLAAC.
    pub ipv6: Option<Ipv6Prefix>,
    /// Whether to autoconfigure from router advertisements.
    pub slaac: bool,
    /// Switch IPv6 off.
    pub ipv4_only: bool,
    /// Switch IPv4 off.
    pub ipv6_only: bool,
}

impl Addressing {
    /// A static IPv4 address (`/24`) and a static IPv6 one (`/64`).
    pub fn both(v4: &str, v6: &str) -> Self {
        Addressing {
            ipv4: Some((format!("{v4}/24").parse().unwrap(), None)),
            ipv6: Some(format!("{v6}/64").parse().unwrap()),
            slaac: false,
            ipv4_only: false,
            ipv6_only: false,
        }
    }
}

/// A simulation: an executor on virtual time and its clock.
pub struct Sim {
    /// The executor.
    pub ex: Executor<VirtualPlatform>,
    /// Its clock, as an `Mclock`.
    pub clock: &'static Clock,
}

impl Sim {
    /// A simulation at time 0.
    pub fn new() -> Self {
        let platform = VirtualPlatform::new();
        let clock: &'static Clock = leak(Clock(platform.clone()));
        Sim {
            ex: Executor::new(platform),
            clock,
        }
    }
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

/// Connects a stack over `net` (an endpoint of the in-memory link, or a
/// device wrapping one) with `addressing`, timed by `clock` (the
/// simulation's [`Clock`] in the tests, a real clock in the benchmarks);
/// `seed` seeds its RNG.
pub async fn stack<C: Mclock, N: Network + 'static>(
    clock: &'static C,
    net: N,
    addressing: Addressing,
    seed: u8,
) -> &'static DirectStack<N, C> {
    try_stack(clock, net, addressing, seed).await.unwrap()
}

/// [`stack`], with the error of `DirectStack::connect`.
pub async fn try_stack<C: Mclock, N: Network + 'static>(
    clock: &'static C,
    net: N,
    addressing: Addressing,
    seed: u8,
) -> Result<&'static DirectStack<N, C>, mirage::net::device::NetError> {
    try_stack_with(
        clock,
        net,
        addressing,
        seed,
        mirage::net::tcp::Config::default(),
    )
    .await
}

/// [`stack`] whose TCP has the configuration `tcp_config`.
pub async fn stack_with<C: Mclock, N: Network + 'static>(
    clock: &'static C,
    net: N,
    addressing: Addressing,
    seed: u8,
    tcp_config: mirage::net::tcp::Config,
) -> &'static DirectStack<N, C> {
    try_stack_with(clock, net, addressing, seed, tcp_config)
        .await
        .unwrap()
}

/// [`try_stack`] whose TCP has the configuration `tcp_config`.
pub async fn try_stack_with<C: Mclock, N: Network + 'static>(
    clock: &'static C,
    net: N,
    addressing: Addressing,
    seed: u8,
    tcp_config: mirage::net::tcp::Config,
) -> Result<&'static DirectStack<N, C>, mirage::net::device::NetError> {
    let net = leak(net);
    let eth = leak(Ethif::connect(net));
    let arp = leak(Arp::connect(eth, clock));
    let ipv4 = match addressing.ipv4 {
        Some((address, gateway)) => leak(
            Ipv4::connect(
                eth,
                arp,
                clock,
                Ipv4Config { address, gateway },
                u32::from(seed),
            )
            .unwrap(),
        ),
        None => {
            let ip = leak(Ipv4::connect_dhcp(eth, arp, clock, u32::from(seed) * 7919));
            ip.acquire(eth).await.unwrap();
            ip
        }
    };
    let ipv6 = leak(Ipv6::connect(
        eth,
        clock,
        Ipv6Config {
            address: addressing.ipv6,
            gateway: None,
            slaac: addressing.slaac,
        },
        u32::from(seed),
    ));
    let random = Rng::from_seed(&[seed; 32]);
    DirectStack::connect_with(
        net,
        eth,
        arp,
        ipv4,
        ipv6,
        clock,
        &random,
        addressing.ipv4_only,
        addressing.ipv6_only,
        tcp_config,
    )
    .await
}

/// Runs `body` on two stacks, A (`ha`, seed 1) and B (`hb`, seed 2), over
/// a link made with `config`, on virtual time from 0.
pub fn pair<F, Fut>(config: LinkConfig, ha: Addressing, hb: Addressing, body: F)
where
    F: FnOnce(&'static Stack, &'static Stack, &'static Clock) -> Fut + 'static,
    Fut: core::future::Future<Output = ()> + 'static,
{
    let sim = Sim::new();
    let clock = sim.clock;
    let (na, nb) = link(config);
    sim.ex
        .block_on(async move {
            let a = stack(clock, na, ha, 1).await;
            let b = stack(clock, nb, hb, 2).await;
            body(a, b, clock).await
        })
        .unwrap();
}

/// A link with `config`.
pub fn link(config: LinkConfig) -> (Endpoint, Endpoint) {
    Link::pair(config)
}

/// An IPv4 address.
pub fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse().unwrap())
}

/// An IPv6 address.
pub fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

/// A deterministic payload of `len` bytes, different per `seed`.
pub fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The header of an unfragmented IPv4 datagram (DF set, TTL 64,
/// identification 1) of `protocol` from `src` to `dst` with
/// `payload_len` bytes of payload.
pub fn v4_whole(
    src: &str,
    dst: &str,
    protocol: mirage::net::wire::ipv4::Protocol,
    payload_len: usize,
) -> mirage::net::wire::ipv4::Repr {
    mirage::net::wire::ipv4::Repr {
        src_addr: src.parse().unwrap(),
        dst_addr: dst.parse().unwrap(),
        protocol,
        ttl: 64,
        dscp_ecn: 0,
        payload_len,
        ident: 1,
        dont_fragment: true,
        more_fragments: false,
        frag_offset: 0,
    }
}

/// The IPv4 address of the router the tests put on a path: the source of
/// its ICMP errors.
pub const ROUTER_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
/// The IPv6 address of that router.
pub const ROUTER_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xfe);

/// An ICMP error a router on the path answers a packet with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterError {
    /// The packet was too big for the next hop, whose MTU this is:
    /// fragmentation needed (RFC 1191; an MTU of 0 is left out, as routers
    /// older than it do) or packet too big (RFC 8201).
    TooBig { mtu: usize },
    /// Destination unreachable: port (IPv4), administratively prohibited
    /// (IPv6), as a firewall's REJECT.
    Unreachable,
    /// Time exceeded in transit.
    TimeExceeded,
    /// Parameter problem.
    ParameterProblem,
}

/// The frame carrying the router's `error` about `frame` (an Ethernet
/// frame with an IPv4 or IPv6 packet), back to its sender: from
/// [`ROUTER_V4`] or [`ROUTER_V6`], quoting what RFC 792 and RFC 4443 ask.
/// `None` if `frame` is neither.
pub fn router_error(frame: &[u8], error: RouterError) -> Option<Vec<u8>> {
    use mirage::net::wire::ethernet::EtherType;
    use mirage::net::wire::{ethernet, icmpv4, icmpv6, ipv4, ipv6};
    let eth = ethernet::Packet::new_checked(frame).ok()?;
    let ip = eth.payload();
    let mut out = vec![0u8; 14];
    ethernet::Repr {
        src_addr: eth.dst_addr(),
        dst_addr: eth.src_addr(),
        ethertype: eth.ethertype(),
    }
    .emit(&mut ethernet::Packet::new_unchecked(&mut out[..]));
    match eth.ethertype() {
        EtherType::Ipv4 => {
            let p = ipv4::Packet::new_checked(ip).ok()?;
            let quoted = &ip[..usize::from(p.header_len()) + 8];
            let message = match error {
                RouterError::TooBig { mtu } => icmpv4::Repr::DstUnreachable {
                    code: icmpv4::CODE_FRAG_NEEDED,
                    mtu: mtu as u16,
                    quoted,
                },
                RouterError::Unreachable => icmpv4::Repr::DstUnreachable {
                    code: 3,
                    mtu: 0,
                    quoted,
                },
                RouterError::TimeExceeded => icmpv4::Repr::TimeExceeded { code: 0, quoted },
                RouterError::ParameterProblem => icmpv4::Repr::ParamProblem {
                    code: 0,
                    pointer: 1,
                    quoted,
                },
            };
            let header = ipv4::Repr {
                src_addr: ROUTER_V4,
                dst_addr: p.src_addr(),
                protocol: ipv4::Protocol::Icmp,
                ttl: 64,
                dscp_ecn: 0,
                payload_len: message.buffer_len(),
                ident: 0,
                dont_fragment: false,
                more_fragments: false,
                frag_offset: 0,
            };
            out.resize(14 + header.buffer_len(), 0);
            header.emit(&mut ipv4::Packet::new_unchecked(&mut out[14..]));
            message.emit(&mut icmpv4::Packet::new_unchecked(&mut out[34..]));
        }
        EtherType::Ipv6 => {
            let p = ipv6::Packet::new_checked(ip).ok()?;
            let ip_len = 40 + usize::from(p.payload_len());
            let data = &ip[..ip_len.min(ip.len()).min(1280 - 48)];
            let message = match error {
                RouterError::TooBig { mtu } => icmpv6::Repr::PktTooBig {
                    mtu: mtu as u32,
                    data,
                },
                RouterError::Unreachable => icmpv6::Repr::DstUnreachable { code: 1, data },
                RouterError::TimeExceeded => icmpv6::Repr::TimeExceeded { code: 0, data },
                RouterError::ParameterProblem => icmpv6::Repr::ParamProblem {
                    code: 0,
                    pointer: 1,
                    data,
                },
            };
            let dst = p.src_addr();
            let header = ipv6::Repr {
                src_addr: ROUTER_V6,
                dst_addr: dst,
                next_header: ipv6::NextHeader::Icmpv6,
                hop_limit: 64,
                payload_len: message.buffer_len(),
                traffic_class: 0,
                flow_label: 0,
            };
            out.resize(14 + 40 + message.buffer_len(), 0);
            header.emit(&mut ipv6::Packet::new_unchecked(&mut out[14..]));
            message.emit(
                &mut icmpv6::Packet::new_unchecked(&mut out[54..]),
                ROUTER_V6,
                dst,
            );
        }
        _ => return None,
    }
    Some(out)
}

/// What a router in front of a host's endpoint does with the frames the
/// host sends (see [`Routed`]).
pub trait Route {
    /// Whether a frame of `len` bytes needs a look; others go as they
    /// are, without a copy.
    fn inspects(&self, len: usize) -> bool;

    /// Looks at `frame` on its way (and may change it): `Err` drops it,
    /// with the report to send back to the host if there is one.
    fn route(&self, frame: &mut [u8]) -> Result<(), Option<Vec<u8>>>;
}

/// A host's endpoint of the link behind a router `R`: the frames it sends
/// pass through `R`, and `R`'s reports reach it before the link's frames.
/// Dereferences to `R`.
pub struct Routed<R> {
    inner: Endpoint,
    router: R,
    /// Reports for the host, read before the link's frames.
    reports: std::cell::RefCell<std::collections::VecDeque<Vec<u8>>>,
    /// The task reading the device, woken by a report.
    reader: std::cell::RefCell<Option<std::task::Waker>>,
}

impl<R> std::ops::Deref for Routed<R> {
    type Target = R;

    fn deref(&self) -> &R {
        &self.router
    }
}

impl<R: Route> Routed<R> {
    /// `inner` behind `router`.
    pub fn new(inner: Endpoint, router: R) -> Self {
        Routed {
            inner,
            router,
            reports: Default::default(),
            reader: Default::default(),
        }
    }

    /// Hands `frame` to the host as if it came from the router.
    pub fn report(&self, frame: Vec<u8>) {
        self.reports.borrow_mut().push_back(frame);
        if let Some(w) = self.reader.borrow_mut().take() {
            w.wake();
        }
    }

    /// The frame filled by `fill` if the router passes it (its length), or
    /// `None` once it dropped it.
    fn inspect(&self, len: usize, fill: impl FnOnce(&mut [u8]) -> usize) -> Option<Vec<u8>> {
        let mut frame = vec![0u8; len];
        let n = fill(&mut frame).min(len);
        frame.truncate(n);
        match self.router.route(&mut frame) {
            Ok(()) => Some(frame),
            Err(report) => {
                if let Some(report) = report {
                    self.report(report);
                }
                None
            }
        }
    }
}

impl<R: Route> Network for Routed<R> {
    fn mac(&self) -> mirage::net::MacAddr {
        self.inner.mac()
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn stats(&self) -> mirage::net::device::Stats {
        self.inner.stats()
    }

    fn reset_stats(&self) {
        self.inner.reset_stats()
    }

    async fn write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), mirage::net::device::NetError> {
        if !self.router.inspects(len) {
            return self.inner.write(len, fill).await;
        }
        match self.inspect(len, fill) {
            Some(frame) => self.inner.write(frame.len(), |b| copy(&frame, b)).await,
            None => Ok(()),
        }
    }

    fn try_write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, mirage::net::device::NetError> {
        if !self.router.inspects(len) {
            return self.inner.try_write(len, fill);
        }
        match self.inspect(len, fill) {
            Some(frame) => self.inner.try_write(frame.len(), |b| copy(&frame, b)),
            None => Ok(true),
        }
    }

    fn segmentation_offload(&self) -> usize {
        self.inner.segmentation_offload()
    }

    /// A segment the router looks at is cut first, as a device's TSO cuts
    /// it before the wire, and its pieces go through the router one by
    /// one; else it goes whole.
    fn try_write_segmented(
        &self,
        len: usize,
        segment_size: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, mirage::net::device::NetError> {
        use mirage::net::device::{NetError, check_segmented, segmentation};
        if !self.router.inspects(len) {
            return self.inner.try_write_segmented(len, segment_size, fill);
        }
        check_segmented(len, segment_size, self.inner.segmentation_offload())?;
        let mut frame = vec![0u8; len];
        let n = fill(&mut frame).min(len);
        let mut sent = Ok(true);
        segmentation::segment(&frame[..n], segment_size, |piece| {
            if let Some(piece) = self.inspect(piece.len(), |b| copy(piece, b))
                && sent.is_ok()
            {
                sent = self.inner.try_write(piece.len(), |b| copy(&piece, b));
            }
        })
        .map_err(|_| NetError::TooLarge)?;
        sent
    }

    async fn read<T>(
        &self,
        handle: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, mirage::net::device::NetError> {
        let mut handle = Some(handle);
        std::future::poll_fn(|cx| self.poll_read(cx, |f| handle.take().expect("read once")(f)))
            .await
    }

    fn try_read<T>(
        &self,
        handle: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, mirage::net::device::NetError> {
        let report = self.reports.borrow_mut().pop_front();
        match report {
            Some(f) => Ok(Some(handle(&f))),
            None => self.inner.try_read(handle),
        }
    }

    fn poll_read<T>(
        &self,
        cx: &mut std::task::Context<'_>,
        handle: impl FnOnce(&[u8]) -> T,
    ) -> std::task::Poll<Result<T, mirage::net::device::NetError>> {
        let report = self.reports.borrow_mut().pop_front();
        if let Some(f) = report {
            return std::task::Poll::Ready(Ok(handle(&f)));
        }
        *self.reader.borrow_mut() = Some(cx.waker().clone());
        self.inner.poll_read(cx, handle)
    }
}

/// Copies `frame` into `buf`: its length.
fn copy(frame: &[u8], buf: &mut [u8]) -> usize {
    buf[..frame.len()].copy_from_slice(frame);
    frame.len()
}
