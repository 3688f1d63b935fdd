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
