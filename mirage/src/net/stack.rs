//! The network stack (the seed's `stackv4v6` device type;
//! `direct_stackv4v6` and the constructors built on it): the layers over
//! one network device, and the runner task that drives them.
//!
//! The runner is the only reader of the device. It waits for a frame or
//! the earliest protocol timer, then handles every frame that is waiting
//! (a batch) by calling the layers synchronously: Ethernet classifies,
//! ARP answers, IPv4 and IPv6 check and reassemble, ICMP answers echoes,
//! ICMP errors about TCP segments go to TCP (path MTU reports, unreachable
//! destinations), UDP queues datagrams on sockets and wakes their readers. Replies leave
//! from inside those calls. When the earliest deadline of the layers
//! comes, it runs their timers (ARP and neighbour retries, DAD, router
//! solicitation, DHCP, reassembly timeouts); a deadline is looked up after
//! every batch, so one that a batch moved (or that a send from another task
//! added) is seen at the runner's next turn.

use core::future::{Future, poll_fn};
use core::net::IpAddr;
use core::pin::Pin;
use core::task::Poll;

use crate::Mclock;
use crate::Random;
use crate::net::arp::Arp;
use crate::net::device::{NetError, Network};
use crate::net::ethernet::{Ethif, Frame};
use crate::net::icmpv4::Icmpv4;
use crate::net::ip::{Datagram, IcmpError, Ip, protocol};
use crate::net::ipv4::Ipv4;
use crate::net::ipv4v6::Ipv4v6;
use crate::net::ipv6::Ipv6;
use crate::net::tcp::{self, DirectTcp, Tcp};
use crate::net::udp::{Delivery, DirectUdp, Udp};
use crate::net::wire::ethernet::EtherType;
use crate::rt::{Sleep, Spawner, deadline, leak, sleep_until};

/// How long the runner waits before retrying when the device refused a
/// TCP segment (its transmit queue was full).
const DEVICE_FULL_RETRY_NS: u64 = 100_000;

/// Frames handled back to back before the timers get their turn.
const BATCH: usize = 64;

/// How long the runner stops reading after the device's first read error
/// in a row (other than [`NetError::Disconnected`]); the pause doubles
/// with every further error in a row, up to [`READ_RETRY_MAX_NS`].
const READ_RETRY_MIN_NS: u64 = 1_000_000;

/// The longest pause in reading after errors in a row.
const READ_RETRY_MAX_NS: u64 = 1_000_000_000;

/// The seed's `stackv4v6` device type (`Tcpip.Stack.V4V6`): what
/// applications use, over this stack or the host's sockets.
pub trait Stackv4v6 {
    /// UDP.
    type Udp: Udp;
    /// TCP.
    type Tcp: Tcp;

    /// UDP.
    fn udp(&self) -> &'static Self::Udp;

    /// TCP.
    fn tcp(&self) -> &'static Self::Tcp;

    /// The addresses the stack has (configured, leased or formed).
    fn addresses(&self) -> alloc::vec::Vec<IpAddr>;
}

/// The Ethernet layer of a stack over `N`.
pub type EthOf<N> = Ethif<N>;
/// The ARP layer of a stack over `N`, timed by `C`.
pub type ArpOf<N, C> = Arp<Ethif<N>, C>;
/// The IPv4 layer of a stack over `N`, timed by `C`.
pub type Ipv4Of<N, C> = Ipv4<Ethif<N>, C>;
/// The IPv6 layer of a stack over `N`, timed by `C`.
pub type Ipv6Of<N, C> = Ipv6<Ethif<N>, C>;
/// The dual IP layer of a stack over `N`, timed by `C`.
pub type IpOf<N, C> = Ipv4v6<Ipv4Of<N, C>, Ipv6Of<N, C>>;
/// The UDP layer of a stack over `N`, timed by `C`.
pub type UdpOf<N, C> = DirectUdp<IpOf<N, C>>;
/// The TCP layer of a stack over `N`, timed by `C`.
pub type TcpOf<N, C> = DirectTcp<IpOf<N, C>, C>;

/// The stack over the network device `N`, timed by the monotonic clock `C`
/// (MirageOS's `Tcpip_stack_direct.MakeV4V6`).
pub struct DirectStack<N: 'static, C: 'static> {
    net: &'static N,
    eth: &'static EthOf<N>,
    arp: &'static ArpOf<N, C>,
    ipv4: &'static Ipv4Of<N, C>,
    ipv6: &'static Ipv6Of<N, C>,
    ip: &'static IpOf<N, C>,
    icmpv4: &'static Icmpv4<Ipv4Of<N, C>, C>,
    udp: &'static UdpOf<N, C>,
    tcp: &'static TcpOf<N, C>,
    clock: &'static C,
}

impl<N, C> core::fmt::Debug for DirectStack<N, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectStack").finish_non_exhaustive()
    }
}

/// What a stack says when `--ipv4-only` and `--ipv6-only` are both set.
pub const NO_FAMILY_LEFT: &str = "--ipv4-only and --ipv6-only are both set: no IP family is left";

/// Refuses `--ipv4-only` together with `--ipv6-only`, as MirageOS does: a
/// stack with no family could neither send nor receive.
pub(crate) fn check_families(ipv4_only: bool, ipv6_only: bool) -> Result<(), NetError> {
    if ipv4_only && ipv6_only {
        return Err(NetError::Device(NO_FAMILY_LEFT.into()));
    }
    Ok(())
}

impl<N: Network, C: Mclock> DirectStack<N, C> {
    /// The stack over the connected layers (the seed's `direct_stackv4v6`):
    /// builds the dual IP layer, ICMP and UDP over them, and spawns the
    /// runner on the current executor. `ipv4_only` / `ipv6_only` switch a
    /// family off (`--ipv4-only`, `--ipv6-only`). TCP has the engine's
    /// default configuration ([`DirectStack::connect_with`] takes one).
    #[allow(clippy::too_many_arguments)]
    pub async fn connect(
        net: &'static N,
        eth: &'static EthOf<N>,
        arp: &'static ArpOf<N, C>,
        ipv4: &'static Ipv4Of<N, C>,
        ipv6: &'static Ipv6Of<N, C>,
        clock: &'static C,
        random: &impl Random,
        ipv4_only: bool,
        ipv6_only: bool,
    ) -> Result<&'static Self, NetError> {
        Self::connect_with(
            net,
            eth,
            arp,
            ipv4,
            ipv6,
            clock,
            random,
            ipv4_only,
            ipv6_only,
            tcp::Config::default(),
        )
        .await
    }

    /// [`DirectStack::connect`] with the TCP configuration `tcp_config`.
    #[allow(clippy::too_many_arguments)]
    pub async fn connect_with(
        net: &'static N,
        eth: &'static EthOf<N>,
        arp: &'static ArpOf<N, C>,
        ipv4: &'static Ipv4Of<N, C>,
        ipv6: &'static Ipv6Of<N, C>,
        clock: &'static C,
        random: &impl Random,
        ipv4_only: bool,
        ipv6_only: bool,
        tcp_config: tcp::Config,
    ) -> Result<&'static Self, NetError> {
        check_families(ipv4_only, ipv6_only)?;
        let ip = leak(Ipv4v6::connect(ipv4, ipv6, ipv4_only, ipv6_only));
        let tcp = leak(DirectTcp::connect(ip, clock, random, tcp_config));
        Self::start(net, eth, arp, ip, clock, random, tcp).await
    }

    /// [`DirectStack::connect`] feeding the given TCP (the seed's
    /// `direct_stackv4v6 ~tcp`), built over a dual IP layer of `ipv4` and
    /// `ipv6`.
    #[allow(clippy::too_many_arguments)]
    pub async fn connect_with_tcp(
        net: &'static N,
        eth: &'static EthOf<N>,
        arp: &'static ArpOf<N, C>,
        ipv4: &'static Ipv4Of<N, C>,
        ipv6: &'static Ipv6Of<N, C>,
        clock: &'static C,
        random: &impl Random,
        ipv4_only: bool,
        ipv6_only: bool,
        tcp: &'static TcpOf<N, C>,
    ) -> Result<&'static Self, NetError> {
        check_families(ipv4_only, ipv6_only)?;
        let ip = leak(Ipv4v6::connect(ipv4, ipv6, ipv4_only, ipv6_only));
        Self::start(net, eth, arp, ip, clock, random, tcp).await
    }

    /// Builds ICMP and UDP over `ip`, and spawns the runner.
    async fn start(
        net: &'static N,
        eth: &'static EthOf<N>,
        arp: &'static ArpOf<N, C>,
        ip: &'static IpOf<N, C>,
        clock: &'static C,
        random: &impl Random,
        tcp: &'static TcpOf<N, C>,
    ) -> Result<&'static Self, NetError> {
        let stack = leak(DirectStack {
            net,
            eth,
            arp,
            ipv4: ip.ipv4(),
            ipv6: ip.ipv6(),
            ip,
            icmpv4: leak(Icmpv4::connect(ip.ipv4(), clock)),
            udp: leak(DirectUdp::connect(ip, crate::net::seed(random))),
            tcp,
            clock,
        });
        let spawner = Spawner::for_current_executor().await;
        spawner.spawn(async move {
            if let Err(e) = stack.run().await {
                log::error!(target: "stack", "the network stack stopped: {e}");
            }
        });
        Ok(stack)
    }

    /// The network device.
    pub fn net(&self) -> &'static N {
        self.net
    }

    /// The Ethernet layer.
    pub fn ethernet(&self) -> &'static EthOf<N> {
        self.eth
    }

    /// The ARP layer.
    pub fn arp(&self) -> &'static ArpOf<N, C> {
        self.arp
    }

    /// The IPv4 layer.
    pub fn ipv4(&self) -> &'static Ipv4Of<N, C> {
        self.ipv4
    }

    /// The IPv6 layer.
    pub fn ipv6(&self) -> &'static Ipv6Of<N, C> {
        self.ipv6
    }

    /// The dual IP layer.
    pub fn ip(&self) -> &'static IpOf<N, C> {
        self.ip
    }

    /// TCP, with the engine's queries.
    pub fn direct_tcp(&self) -> &'static TcpOf<N, C> {
        self.tcp
    }

    /// ICMP for IPv4.
    pub fn icmpv4(&self) -> &'static Icmpv4<Ipv4Of<N, C>, C> {
        self.icmpv4
    }

    /// The runner: reads frames and runs timers until the device is gone.
    ///
    /// Only [`NetError::Disconnected`] stops it. Any other read error (a
    /// backend's transient I/O failure) is logged, and reading pauses for a
    /// while that grows with the errors in a row (see [`Self::read_failed`]),
    /// while timers and applications go on: a flaky device neither stops
    /// the stack nor makes the runner spin.
    async fn run(&'static self) -> Result<(), NetError> {
        // The timer of the earliest protocol deadline. It is kept from one
        // turn to the next, and re-armed only when the deadline moves
        // earlier: arming a timer (a clock read and a timer-queue update)
        // on every batch of frames cost more than the batch. A deadline
        // that moved later (a connection closed, a timer was pushed back)
        // lets the armed timer fire early: the runner finds nothing due and
        // arms the next one then.
        let mut armed = None;
        let mut timer = deadline(None);
        // Read errors in a row, and while reading pauses after the last,
        // the timer of its end.
        let mut failures = 0u32;
        let mut paused: Option<Sleep> = None;
        self.poll_timers();
        // One hand-written future for the runner's whole life: a wake-up
        // (a frame, a kick, a timer) costs one poll, which takes every
        // waiting frame until the device reports none (that registers the
        // task for the next), not a future per frame and a select per turn.
        poll_fn(move |cx| {
            loop {
                // Frames, at most a batch per turn.
                let mut more = false;
                if let Some(pause) = &mut paused
                    && Pin::new(pause).poll(cx).is_ready()
                {
                    paused = None;
                }
                if paused.is_none() {
                    more = true;
                    for _ in 0..BATCH {
                        match self
                            .net
                            .poll_read(cx, |bytes| self.handle(self.eth.parse(bytes)))
                        {
                            Poll::Ready(Ok(())) => failures = 0,
                            Poll::Ready(Err(e)) => {
                                let resume = match self.read_failed(e, &mut failures) {
                                    Ok(resume) => resume,
                                    Err(e) => return Poll::Ready(Err(e)),
                                };
                                let mut pause = sleep_until(resume);
                                // (Registers the timer; it is in the future.)
                                let _ = Pin::new(&mut pause).poll(cx);
                                paused = Some(pause);
                                more = false;
                                break;
                            }
                            Poll::Pending => {
                                more = false;
                                break;
                            }
                        }
                    }
                }
                // An application gave TCP (or a resolution) work: it is done
                // below with the rest. (Lowered here, before the work, so a
                // kick during it wakes the task again; raised or not, the
                // poll leaves this task registered for the next kick.)
                let _ = self.tcp.kicked().poll_wait(cx);
                // TCP sends what the turn (frames, timers, applications)
                // left it to send: the ACKs of a whole batch coalesce.
                let device_full = !self.tcp.dispatch();
                let mut next = self.next_deadline();
                if device_full {
                    let retry = self.clock.elapsed_ns().saturating_add(DEVICE_FULL_RETRY_NS);
                    next = Some(next.map_or(retry, |n| n.max(retry)));
                }
                let earlier = match (next, armed) {
                    (Some(n), Some(a)) => n < a,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if earlier {
                    armed = next;
                    timer = deadline(next);
                }
                self.tcp.set_runner_deadline(armed);
                // The timer is polled at every turn, so that a steady stream
                // of frames cannot starve the protocol timers.
                if Pin::new(&mut timer).poll(cx).is_ready() {
                    armed = None;
                    timer = deadline(None);
                    self.poll_timers();
                    continue;
                }
                if !more {
                    return Poll::Pending;
                }
            }
        })
        .await
    }

    /// What a read error means for the runner: `Err` (stop) if the device
    /// is gone; otherwise the error is logged (the first of a run of errors
    /// as a warning, the others at debug level) and the result is when to
    /// read again: [`READ_RETRY_MIN_NS`] from now, doubled for each error
    /// of the run so far, at most [`READ_RETRY_MAX_NS`].
    fn read_failed(&self, e: NetError, failures: &mut u32) -> Result<u64, NetError> {
        if e == NetError::Disconnected {
            return Err(e);
        }
        let pause = READ_RETRY_MIN_NS
            .saturating_mul(1 << (*failures).min(20))
            .min(READ_RETRY_MAX_NS);
        if *failures == 0 {
            log::warn!(target: "stack", "{e}; reading again in {} ms", pause / 1_000_000);
        } else {
            log::debug!(target: "stack", "{e} ({} in a row)", *failures + 1);
        }
        *failures = failures.saturating_add(1);
        Ok(self.clock.elapsed_ns().saturating_add(pause))
    }

    /// Runs the timers that are due.
    fn poll_timers(&self) {
        if let Err(e) = self.arp.poll() {
            log::debug!(target: "arp", "{e}");
        }
        self.ipv4.poll();
        for first in self.ipv4.take_timed_out() {
            if let Err(e) = self.icmpv4.reassembly_timed_out(&first) {
                log::debug!(target: "icmpv4", "time exceeded: {e}");
            }
        }
        for (first, pointer) in self.ipv4.take_bad_options() {
            if let Err(e) = self.icmpv4.parameter_problem(&first, pointer) {
                log::debug!(target: "icmpv4", "parameter problem: {e}");
            }
        }
        if self.ip.ipv6_enabled()
            && let Err(e) = self.ipv6.poll()
        {
            log::debug!(target: "ipv6", "{e}");
        }
    }

    /// The earliest timer of the layers.
    #[inline]
    fn next_deadline(&self) -> Option<u64> {
        let v6 = if self.ip.ipv6_enabled() {
            self.ipv6.next_deadline()
        } else {
            None
        };
        // (At every turn: plain comparisons, no iterator chain.)
        let earliest = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let d = earliest(self.arp.next_deadline(), self.ipv4.next_deadline());
        earliest(earliest(d, v6), self.tcp.next_deadline())
    }

    /// Handles one received frame.
    // Inlined into the caller: the parsed fields stay in registers
    // (returned through memory, they were stored narrowly and loaded
    // wide: store-forwarding stalls on every packet).
    #[inline(always)]
    fn handle(&self, frame: Option<Frame<'_>>) {
        let Some(frame) = frame else {
            return;
        };
        match frame.ethertype {
            EtherType::Arp if self.ip.ipv4_enabled() => {
                if let Err(e) = self.arp.input(frame.payload) {
                    log::debug!(target: "arp", "{e}");
                }
            }
            EtherType::Ipv4 if self.ip.ipv4_enabled() => {
                if let Some(d) = self
                    .ipv4
                    .input_link(frame.payload, frame.dst.is_multicast())
                {
                    self.deliver(&d);
                }
            }
            EtherType::Ipv6 if self.ip.ipv6_enabled() => {
                if let Some(d) = self
                    .ipv6
                    .input_link(frame.payload, frame.dst.is_multicast())
                {
                    self.deliver(&d);
                }
            }
            _ => {}
        }
    }

    /// Hands an ICMP error to the transport whose datagram it quotes (RFC
    /// 1122 sections 4.1.3.3 and 4.2.3.9).
    #[cold]
    fn icmp_error(&self, error: &IcmpError<'_>) {
        match error.quoted_protocol() {
            Some(protocol::UDP) => self.udp.icmp_error(error),
            _ => self.tcp.icmp_error(error),
        }
    }

    /// Hands a datagram to its protocol.
    // Inlined into the caller: the parsed fields stay in registers
    // (returned through memory, they were stored narrowly and loaded
    // wide: store-forwarding stalls on every packet).
    #[inline(always)]
    fn deliver(&self, d: &Datagram<'_>) {
        let result = match d.protocol {
            protocol::TCP => {
                self.tcp.process(d);
                Ok(())
            }
            protocol::ICMP if matches!(d.src, IpAddr::V4(_)) => match self.icmpv4.input(d) {
                Ok(Some(error)) => {
                    self.icmp_error(&error);
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
            // (Only the errors for the transports come up from IPv6.)
            protocol::ICMPV6 if matches!(d.src, IpAddr::V6(_)) => {
                if let Some(error) = self.ipv6.icmp_error(d) {
                    self.icmp_error(&error);
                }
                Ok(())
            }
            protocol::UDP => match self.udp.input(d) {
                Delivery::NoListener => match d.src {
                    IpAddr::V4(_) => self.icmpv4.port_unreachable(d),
                    IpAddr::V6(_) => self.ipv6.port_unreachable(d),
                },
                _ => Ok(()),
            },
            // A protocol no layer here takes (RFC 1122 section 3.2.2.1,
            // RFC 8200 section 4).
            _ => match d.src {
                IpAddr::V4(_) => self.icmpv4.protocol_unreachable(d),
                IpAddr::V6(_) => self.ipv6.unknown_next_header(d),
            },
        };
        if let Err(e) = result {
            log::debug!(target: "stack", "reply to {}: {e}", d.src);
        }
    }
}

impl<N: Network, C: Mclock> Stackv4v6 for DirectStack<N, C> {
    type Udp = UdpOf<N, C>;
    type Tcp = TcpOf<N, C>;

    fn udp(&self) -> &'static Self::Udp {
        self.udp
    }

    fn tcp(&self) -> &'static Self::Tcp {
        self.tcp
    }

    fn addresses(&self) -> alloc::vec::Vec<IpAddr> {
        self.ip.addresses()
    }
}
