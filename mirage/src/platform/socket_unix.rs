//! The socket stack of the unix target (the seed's `socket_stackv4v6`,
//! `socket_udpv4v6`, `socket_tcpv4v6`): the same device traits as the
//! direct stack, over the host's sockets, driven by the `ppoll` reactor of
//! the executor.
//!
//! Sockets are dual-stack IPv6 sockets (`[::]`) when the stack speaks both
//! families on the unspecified addresses; bound to a configured address,
//! a socket per family, each on its address (as the seed's); one of a
//! single family when the other is off. Addresses the kernel reports as
//! IPv4-mapped (`::ffff:a.b.c.d`) are handed to applications as IPv4
//! addresses.

extern crate std;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::io::{self, Read as _, Write as _};
use std::os::fd::AsRawFd;

use mirage_unix::reactor::{self, Interest};
use mirage_unix::socket as sys_socket;

use crate::net::ip::IcmpErrorKind;
use crate::net::stack::Stackv4v6;
use crate::net::tcp::{Flow, KeepAlive, Tcp, TcpError, TcpListener, WRITE_WITH_ROOM};
use crate::net::udp::{Meta, SendError, Udp, UdpError, UdpSocket};

/// The host's address for an application's one (IPv4 addresses become
/// IPv4-mapped on a dual-stack socket).
fn host_addr(dual: bool, ip: IpAddr, port: u16) -> SocketAddr {
    match (dual, ip) {
        (true, IpAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port),
        _ => SocketAddr::new(ip, port),
    }
}

/// The application's address for a host's one.
fn app_addr(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Where a stack's sockets bind (the seed's `interface`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interface {
    /// Both families through one dual-stack socket on `[::]`.
    Any,
    /// IPv4 only, on this address.
    V4Only(Ipv4Addr),
    /// IPv6 only (`IPV6_V6ONLY`), on this address.
    V6Only(Ipv6Addr),
    /// Both families, each through a socket of its own bound to its
    /// address (one of them at least not the unspecified one): a
    /// dual-stack socket bound to `[::]` would ignore the IPv4 address,
    /// and one bound to an IPv6 address takes no IPv4.
    Both(Ipv4Addr, Ipv6Addr),
}

impl Interface {
    /// The interface for the addresses `ipv4` / `ipv6` (the unspecified
    /// ones when `None`): IPv4 only if `ipv6` is `None` and `ipv4` given,
    /// IPv6 only if `ipv6_only`, else both families.
    fn new(ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>, ipv6_only: bool) -> Self {
        let v6 = ipv6.unwrap_or(Ipv6Addr::UNSPECIFIED);
        match (ipv4, ipv6) {
            _ if ipv6_only => Interface::V6Only(v6),
            (Some(v4), None) => Interface::V4Only(v4),
            (v4, _) => {
                let v4 = v4.unwrap_or(Ipv4Addr::UNSPECIFIED);
                if v4.is_unspecified() && v6.is_unspecified() {
                    Interface::Any
                } else {
                    Interface::Both(v4, v6)
                }
            }
        }
    }

    /// Whether `dst`'s family is switched off.
    fn family_off(self, dst: IpAddr) -> bool {
        matches!(
            (app_addr(dst), self),
            (IpAddr::V4(_), Interface::V6Only(_)) | (IpAddr::V6(_), Interface::V4Only(_))
        )
    }

    /// The source address of connections to `dst` (an application
    /// address, see [`app_addr`]): the configured address of its family,
    /// unless that is the unspecified one (the kernel then chooses).
    fn source(self, dst: IpAddr) -> Option<IpAddr> {
        let ip: IpAddr = match (dst, self) {
            (IpAddr::V4(_), Interface::V4Only(v4) | Interface::Both(v4, _)) => v4.into(),
            (IpAddr::V6(_), Interface::V6Only(v6) | Interface::Both(_, v6)) => v6.into(),
            _ => return None,
        };
        (!ip.is_unspecified()).then_some(ip)
    }

    /// The address its first socket binds on `port`, and whether that
    /// socket is IPv6 only; the IPv6 socket's of `Both`.
    fn addresses(self, port: u16) -> ((SocketAddr, bool), Option<SocketAddr>) {
        let v6 = |ip: Ipv6Addr| SocketAddr::new(IpAddr::V6(ip), port);
        match self {
            Interface::Any => ((v6(Ipv6Addr::UNSPECIFIED), false), None),
            Interface::V4Only(ip) => ((SocketAddr::new(IpAddr::V4(ip), port), false), None),
            Interface::V6Only(ip) => ((v6(ip), true), None),
            Interface::Both(v4, ip) => {
                ((SocketAddr::new(IpAddr::V4(v4), port), false), Some(v6(ip)))
            }
        }
    }
}

/// How many times [`bind_both`] tries ephemeral ports free on both
/// sockets.
const BIND_BOTH_TRIES: usize = 64;

/// Binds the sockets of `iface` on `port` with `open(address, ipv6_only)`,
/// and `port_of` tells a socket's port: for [`Interface::Both`], the IPv4
/// socket first, then the IPv6 one on the same port (for port 0, the one
/// the kernel chose, trying again with another when the IPv6 side of it is
/// taken). The error names the address that failed.
fn bind_both<S>(
    iface: Interface,
    port: u16,
    open: impl Fn(SocketAddr, bool) -> io::Result<S>,
    port_of: impl Fn(&S) -> io::Result<u16>,
) -> Result<(S, Option<S>, u16), (SocketAddr, io::Error)> {
    let mut tries = 0;
    loop {
        let ((first_addr, v6_only), second) = iface.addresses(port);
        let first = open(first_addr, v6_only).map_err(|e| (first_addr, e))?;
        let chosen = port_of(&first).map_err(|e| (first_addr, e))?;
        let Some(second) = second else {
            return Ok((first, None, chosen));
        };
        let second = SocketAddr::new(second.ip(), chosen);
        match open(second, true) {
            Ok(v6) => return Ok((first, Some(v6), chosen)),
            Err(e) if port == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                tries += 1;
                if tries == BIND_BOTH_TRIES {
                    return Err((second, e));
                }
            }
            Err(e) => return Err((second, e)),
        }
    }
}

fn io_error(what: &str, e: &io::Error) -> UdpError {
    UdpError::Ip(crate::net::ip::IpError::Net(
        crate::net::device::NetError::Device(format!("{what}: {e}")),
    ))
}

/// What an error of `sendto(2)` of `len` bytes to `dst` means: the
/// direct stack's error for the same event (Linux's numbers), else the
/// kernel's, as a device error.
fn send_error(dst: IpAddr, len: usize, e: &io::Error) -> UdpError {
    use crate::net::ip::IpError;
    let dst = app_addr(dst);
    match e.raw_os_error() {
        // EMSGSIZE: longer than the path takes unfragmented.
        Some(90) => UdpError::TooBig(len),
        // ENETUNREACH: no route.
        Some(101) => UdpError::Ip(IpError::NoRoute(dst)),
        // EHOSTUNREACH: the neighbour did not answer resolution.
        Some(113) => UdpError::Ip(IpError::HostUnreachable(dst)),
        // EADDRNOTAVAIL: no source address toward it.
        Some(99) => UdpError::Ip(IpError::NoAddress(dst)),
        _ => io_error(&format!("send to {dst}"), e),
    }
}

/// UDP over the host's sockets.
#[derive(Debug)]
pub struct SocketUdp {
    /// Where sockets bind.
    iface: Interface,
    /// The sockets writes from an ephemeral port go through.
    sender: UdpSockets,
    /// The sockets bound by [`Udp::bind`], by port: writes from their
    /// ports go through them.
    bound: RefCell<BTreeMap<u16, Weak<UdpSockets>>>,
}

/// The sockets of one port: one, or for [`Interface::Both`] an IPv4 and
/// an IPv6 one.
#[derive(Debug)]
struct UdpSockets {
    /// The socket, or the IPv4 one of [`Interface::Both`], and the address
    /// it is bound to.
    main: (std::net::UdpSocket, IpAddr),
    /// The IPv6 socket of [`Interface::Both`], and its address.
    v6: Option<(std::net::UdpSocket, IpAddr)>,
    /// Which socket a receive tries first (in turn: neither is starved).
    v6_first: Cell<bool>,
    /// The last ICMP error the kernel queued about a datagram sent from
    /// them ([`UdpSockets::report_errors`]), for [`UdpSocket::take_error`].
    error: Cell<Option<SendError>>,
}

impl UdpSockets {
    /// Makes the kernel queue the ICMP errors about the datagrams sent
    /// from these sockets (`IP_RECVERR`, `IPV6_RECVERR`), as the direct
    /// stack passes them to the socket that sent the datagram (RFC 1122
    /// section 4.1.3.3). (Bound sockets only: nothing would take the
    /// errors of the ephemeral sender's.)
    fn report_errors(&self) -> io::Result<()> {
        sys_socket::recv_errors(&self.main.0)?;
        if let Some((v6, _)) = &self.v6 {
            sys_socket::recv_errors(v6)?;
        }
        Ok(())
    }

    /// Takes the errors queued on `socket` into [`UdpSockets::error`] (the
    /// last one stays) and clears the error its next receive would fail
    /// with; whether there were any. Errors that are not an ICMP report
    /// of a known meaning are dropped.
    fn collect_errors(&self, socket: &std::net::UdpSocket) -> bool {
        let mut any = false;
        while let Ok(Some(e)) = sys_socket::take_queued_error(socket) {
            any = true;
            if let Some(kind) = icmp_error_kind(&e) {
                let dst = e.dst.map(|a| (app_addr(a.ip()), a.port()));
                self.error.set(Some(SendError { kind, dst }));
            }
        }
        if any {
            // (`SO_ERROR`: the error the kernel also set for the next
            // receive, told by the queue already.)
            let _ = socket.take_error();
        }
        any
    }

    /// [`UdpSockets::collect_errors`] of both sockets.
    fn collect_all_errors(&self) {
        self.collect_errors(&self.main.0);
        if let Some((v6, _)) = &self.v6 {
            self.collect_errors(v6);
        }
    }

    /// The socket datagrams to `dst` leave from.
    fn for_dst(&self, dst: IpAddr) -> &std::net::UdpSocket {
        match (&self.v6, app_addr(dst)) {
            (Some((v6, _)), IpAddr::V6(_)) => v6,
            _ => &self.main.0,
        }
    }

    /// The sockets and their addresses, the one whose turn it is first.
    fn in_turn(&self) -> impl Iterator<Item = &(std::net::UdpSocket, IpAddr)> {
        let first = self.v6_first.get();
        self.v6_first.set(!first);
        let (a, b) = match &self.v6 {
            Some(v6) if first => (v6, Some(&self.main)),
            Some(v6) => (&self.main, Some(v6)),
            None => (&self.main, None),
        };
        core::iter::once(a).chain(b)
    }

    /// Waits until a socket is readable.
    async fn readable(&self) {
        let first = reactor::wait(self.main.0.as_raw_fd(), Interest::Readable);
        match &self.v6 {
            Some((v6, _)) => {
                let second = reactor::wait(v6.as_raw_fd(), Interest::Readable);
                crate::rt::select(first, second).await;
            }
            None => first.await,
        }
    }

    /// Removes the sockets' registrations with the reactor.
    fn deregister(&self) {
        reactor::deregister(self.main.0.as_raw_fd());
        if let Some((v6, _)) = &self.v6 {
            reactor::deregister(v6.as_raw_fd());
        }
    }
}

impl SocketUdp {
    /// UDP on the host's sockets bound to `ipv4` / `ipv6` (the seed's
    /// `socket_udpv4v6 ipv4 ipv6`; the unspecified addresses when `None`):
    /// IPv4 only if `ipv6` is `None` and `ipv4` given; else both families,
    /// through a dual-stack socket if both addresses are unspecified, else
    /// through a socket bound to each address (as the seed binds).
    pub fn connect(ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) -> Result<Self, UdpError> {
        Self::new(ipv4, ipv6, false)
    }

    /// [`SocketUdp::connect`], with IPv4 off if `ipv6_only`.
    fn new(
        ipv4: Option<Ipv4Addr>,
        ipv6: Option<Ipv6Addr>,
        ipv6_only: bool,
    ) -> Result<Self, UdpError> {
        let iface = Interface::new(ipv4, ipv6, ipv6_only);
        let sender = Self::open(iface, 0)?;
        Ok(SocketUdp {
            iface,
            sender,
            bound: RefCell::new(BTreeMap::new()),
        })
    }

    /// A non-blocking socket bound to `addr` (for `[::]` a dual-stack
    /// one unless `ipv6_only`, whatever the host's default), allowed to
    /// send to broadcast addresses, and telling each datagram's
    /// destination.
    fn open_one(addr: SocketAddr, ipv6_only: bool) -> io::Result<std::net::UdpSocket> {
        let socket = match addr {
            SocketAddr::V6(v6) => sys_socket::bind_udp_ipv6(v6, ipv6_only),
            _ => std::net::UdpSocket::bind(addr),
        }?;
        socket.set_nonblocking(true)?;
        // (The direct stack sends to broadcast addresses unasked.)
        socket.set_broadcast(true)?;
        sys_socket::recv_destination(&socket)?;
        Ok(socket)
    }

    /// The sockets of `iface` bound to `port` (0: an ephemeral port).
    fn open(iface: Interface, port: u16) -> Result<UdpSockets, UdpError> {
        let port_of = |s: &std::net::UdpSocket| s.local_addr().map(|a| a.port());
        let (main, v6, _) =
            bind_both(iface, port, Self::open_one, port_of).map_err(|(addr, e)| {
                if e.kind() == io::ErrorKind::AddrInUse {
                    UdpError::PortInUse(port)
                } else {
                    io_error(&format!("bind {addr}"), &e)
                }
            })?;
        let ((first, _), second) = iface.addresses(port);
        Ok(UdpSockets {
            main: (main, first.ip()),
            v6: v6.zip(second.map(|a| a.ip())),
            v6_first: Cell::new(false),
            error: Cell::new(None),
        })
    }

    /// The socket of `iface` bound to `port` that datagrams to `dst` leave
    /// from (for [`Interface::Both`], that of `dst`'s family alone).
    fn open_for(iface: Interface, port: u16, dst: IpAddr) -> Result<UdpSockets, UdpError> {
        match (iface, app_addr(dst)) {
            (Interface::Both(_, v6), IpAddr::V6(_)) => Self::open(Interface::V6Only(v6), port),
            (Interface::Both(v4, _), IpAddr::V4(_)) => Self::open(Interface::V4Only(v4), port),
            _ => Self::open(iface, port),
        }
    }

    /// Refuses a datagram as the direct stack does: of a family switched
    /// off (as its IP layer says), or longer than UDP allows over IPv4
    /// (the kernel takes up to 65,527 bytes over IPv6).
    fn check_send(&self, dst: IpAddr, len: usize) -> Result<(), UdpError> {
        if self.iface.family_off(dst) {
            return Err(UdpError::Ip(crate::net::ip::IpError::NoAddress(dst)));
        }
        if len > crate::net::udp::MAX_PAYLOAD {
            return Err(UdpError::TooBig(len));
        }
        Ok(())
    }

    /// Sends `data` to `dst:dst_port` through one of `sockets`, with the
    /// DiffServ codepoint `dscp` (0: the socket's, 0 too).
    async fn send_from(
        &self,
        sockets: &UdpSockets,
        data: &[u8],
        dst: IpAddr,
        dst_port: u16,
        dscp: u8,
    ) -> Result<(), UdpError> {
        self.check_send(dst, data.len())?;
        let socket = sockets.for_dst(dst);
        // (IPv4 addresses go IPv4-mapped through a dual-stack socket only.)
        let to = host_addr(self.iface == Interface::Any, app_addr(dst), dst_port);
        loop {
            let sent = if dscp == 0 {
                socket.send_to(data, to)
            } else {
                sys_socket::send_to_tos(socket, data, to, dscp << 2)
            };
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    reactor::wait(socket.as_raw_fd(), Interest::Writable).await
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(send_error(dst, data.len(), &e)),
            }
        }
    }
}

impl Udp for SocketUdp {
    type Socket = SocketUdpSocket;

    fn bind(&'static self, port: u16) -> Result<SocketUdpSocket, UdpError> {
        let sockets = Self::open(self.iface, port)?;
        sockets
            .report_errors()
            .map_err(|e| io_error("IP_RECVERR", &e))?;
        let port = sockets
            .main
            .0
            .local_addr()
            .map_err(|e| io_error("local_addr", &e))?
            .port();
        let sockets = Rc::new(sockets);
        self.bound
            .borrow_mut()
            .insert(port, Rc::downgrade(&sockets));
        Ok(SocketUdpSocket {
            udp: self,
            sockets,
            port,
        })
    }

    async fn write(
        &self,
        src_port: Option<u16>,
        dst: IpAddr,
        dst_port: u16,
        data: &[u8],
    ) -> Result<(), UdpError> {
        self.write_dscp(src_port, dst, dst_port, 0, data).await
    }

    /// The codepoint goes in a control message of the datagram's
    /// `sendmsg(2)` (`IP_TOS` or `IPV6_TCLASS`, by the destination's
    /// family).
    async fn write_dscp(
        &self,
        src_port: Option<u16>,
        dst: IpAddr,
        dst_port: u16,
        dscp: u8,
        data: &[u8],
    ) -> Result<(), UdpError> {
        // (Told before any system call: the kernel's `EINVAL` for port 0.)
        crate::net::udp::check_write(dscp, dst_port)?;
        match src_port {
            None | Some(0) => {
                self.send_from(&self.sender, data, dst, dst_port, dscp)
                    .await
            }
            Some(port) => {
                // From a port a socket of ours bound: through it (as the
                // direct stack writes from any port; kept open until the
                // write is done).
                let bound = self.bound.borrow().get(&port).and_then(Weak::upgrade);
                if let Some(sockets) = bound {
                    return self.send_from(&sockets, data, dst, dst_port, dscp).await;
                }
                self.check_send(dst, data.len())?;
                // From another: a socket of its own for the write.
                let sockets = Self::open_for(self.iface, port, dst)?;
                let r = self.send_from(&sockets, data, dst, dst_port, dscp).await;
                sockets.deregister();
                r
            }
        }
    }
}

/// A bound socket of [`SocketUdp`] (two host sockets, IPv4 and IPv6, when
/// the stack binds an address of each family).
#[derive(Debug)]
pub struct SocketUdpSocket {
    udp: &'static SocketUdp,
    /// (Shared with writes from its port in flight: [`SocketUdp::bound`].)
    sockets: Rc<UdpSockets>,
    port: u16,
}

impl Drop for SocketUdpSocket {
    fn drop(&mut self) {
        self.udp.bound.borrow_mut().remove(&self.port);
        // (A write in flight keeps the socket open, and its registration,
        // which it removes itself: deregistering would not wake it.)
        if Rc::strong_count(&self.sockets) == 1 {
            self.sockets.deregister();
        }
    }
}

impl SocketUdpSocket {
    fn receive(&self, buf: &mut [u8]) -> Result<Option<(usize, Meta)>, UdpError> {
        for (socket, bound_ip) in self.sockets.in_turn() {
            loop {
                match sys_socket::recv_from_to(socket, buf) {
                    Ok((n, from, to, tos)) => {
                        // (The kernel tells them: `recv_destination`.)
                        let dst = to.map_or(*bound_ip, app_addr);
                        return Ok(Some((
                            n,
                            Meta {
                                src: app_addr(from.ip()),
                                src_port: from.port(),
                                dst,
                                dst_port: self.port,
                                tos: tos.unwrap_or(0),
                            },
                        )));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // An ICMP error about an earlier send, which the kernel
                    // queued too: kept for `take_error`, not this
                    // receive's.
                    Err(e)
                        if self.sockets.collect_errors(socket) || sys_socket::is_icmp_error(&e) => {
                    }
                    Err(e) => return Err(io_error("recv_from", &e)),
                }
            }
        }
        Ok(None)
    }
}

impl UdpSocket for SocketUdpSocket {
    fn local_port(&self) -> u16 {
        self.port
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, Meta), UdpError> {
        let mut woken = false;
        loop {
            if let Some(got) = self.receive(buf)? {
                return Ok(got);
            }
            if woken {
                // Woken with nothing to read: a socket with errors queued
                // polls as in error, which wakes a wait for reading. They
                // are taken (`receive` takes them too when the kernel also
                // failed it), or the wait would not sleep again. (Not at
                // every wake: a datagram's costs no extra system call.)
                self.sockets.collect_all_errors();
            }
            self.sockets.readable().await;
            woken = true;
        }
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, Meta)>, UdpError> {
        self.receive(buf)
    }

    async fn send_to(&self, data: &[u8], dst: IpAddr, dst_port: u16) -> Result<(), UdpError> {
        crate::net::udp::check_write(0, dst_port)?;
        self.udp
            .send_from(&self.sockets, data, dst, dst_port, 0)
            .await
    }

    /// The last of the ICMP errors the kernel queued about the socket's
    /// datagrams (`IP_RECVERR`), with the datagram's destination, as on
    /// the direct stack.
    fn take_error(&self) -> Option<SendError> {
        self.sockets.collect_all_errors();
        self.sockets.error.take()
    }
}

/// What an error the kernel queued about a sent datagram says
/// ([`sys_socket::take_queued_error`]), as the direct stack's ICMP layers
/// tell it; `None` for this host's own errors and ICMP messages of
/// unknown meaning.
fn icmp_error_kind(e: &sys_socket::QueuedError) -> Option<IcmpErrorKind> {
    match (e.origin, e.icmp_type) {
        (sys_socket::ORIGIN_ICMP, 3) => {
            IcmpErrorKind::from_icmpv4_unreachable(e.code, u16::try_from(e.info).unwrap_or(0))
        }
        (sys_socket::ORIGIN_ICMP, 11) | (sys_socket::ORIGIN_ICMP6, 3) => {
            Some(IcmpErrorKind::TimeExceeded)
        }
        (sys_socket::ORIGIN_ICMP, 12) | (sys_socket::ORIGIN_ICMP6, 4) => {
            Some(IcmpErrorKind::ParameterProblem)
        }
        (sys_socket::ORIGIN_ICMP6, 1) => IcmpErrorKind::from_icmpv6_unreachable(e.code),
        (sys_socket::ORIGIN_ICMP6, 2) => Some(IcmpErrorKind::TooBig { mtu: e.info }),
        (sys_socket::ORIGIN_ICMP6, t) if t < 128 => Some(IcmpErrorKind::Unknown {
            icmp_type: t,
            code: e.code,
        }),
        _ => None,
    }
}

/// What an I/O error of a TCP socket means for the application.
fn tcp_error(what: &str, e: &io::Error) -> TcpError {
    // No descriptor left for a socket (EMFILE, ENFILE): the host's limit
    // on connections, as `max_connections` is the direct stack's.
    if matches!(e.raw_os_error(), Some(24 | 23)) {
        return TcpError::TooManyConnections;
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => TcpError::Refused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => TcpError::Reset,
        // (Writing after our own shutdown, or once the connection ended.)
        io::ErrorKind::BrokenPipe => TcpError::Closed,
        io::ErrorKind::TimedOut => TcpError::TimedOut,
        io::ErrorKind::AddrInUse => TcpError::AddrInUse,
        // (No route: the direct stack finds no source address for it.)
        io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::NetworkUnreachable => TcpError::Unaddressable,
        // (An ICMP host unreachable, or no neighbour answering: what the
        // direct stack's connect reports for the ICMP error.)
        io::ErrorKind::HostUnreachable => TcpError::HostUnreachable,
        // (A privileged port, or a firewall's refusal: said as it is,
        // rather than as a closed connection.)
        io::ErrorKind::PermissionDenied => TcpError::PermissionDenied,
        _ => {
            log::warn!(target: "tcp", "{what}: {e}");
            TcpError::Closed
        }
    }
}

/// What an error the network sent means (a connect's `SO_ERROR`, a
/// flow's I/O error): as [`tcp_error`], but `ENETUNREACH` is an ICMP
/// network unreachable, the direct stack's `NetworkUnreachable`, not a
/// missing route (which a connect is told at once, as `Unaddressable`).
fn network_error(what: &str, e: &io::Error) -> TcpError {
    match e.kind() {
        io::ErrorKind::NetworkUnreachable => TcpError::NetworkUnreachable,
        _ => tcp_error(what, e),
    }
}

/// What an error of `connect(2)` itself means: as [`tcp_error`], but
/// `EADDRNOTAVAIL` (the destination was checked before) is the kernel
/// finding no free ephemeral port, the direct stack's `NoPortAvailable`.
fn connect_error(what: &str, e: &io::Error) -> TcpError {
    match e.kind() {
        io::ErrorKind::AddrNotAvailable => TcpError::NoPortAvailable,
        _ => tcp_error(what, e),
    }
}

/// TCP over the host's sockets (the seed's `socket_tcpv4v6`).
#[derive(Debug)]
pub struct SocketTcp {
    /// Where listeners bind.
    iface: Interface,
}

impl SocketTcp {
    /// TCP on the host's sockets, listening on `ipv4` / `ipv6` (the
    /// unspecified addresses when `None`): IPv4 only if `ipv6` is `None`
    /// and `ipv4` given; else both families, through a dual-stack socket
    /// if both addresses are unspecified, else through a socket bound to
    /// each address (as the seed listens).
    pub fn connect(ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) -> Result<Self, TcpError> {
        Ok(Self::new(ipv4, ipv6, false))
    }

    /// [`SocketTcp::connect`], with IPv4 off if `ipv6_only`.
    fn new(ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>, ipv6_only: bool) -> Self {
        SocketTcp {
            iface: Interface::new(ipv4, ipv6, ipv6_only),
        }
    }
}

impl Tcp for SocketTcp {
    type Flow = SocketFlow;
    type Listener = SocketListener;

    /// As on the direct stack, `dst` must be a unicast address of a
    /// family the stack speaks and `port` not 0 (`Unaddressable`; the
    /// kernel would take the unspecified address for this host).
    async fn connect(&'static self, dst: IpAddr, port: u16) -> Result<SocketFlow, TcpError> {
        let unicast = match app_addr(dst) {
            IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
            IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
        };
        // (Nor one of a family switched off.)
        if !unicast || port == 0 || self.iface.family_off(dst) {
            return Err(TcpError::Unaddressable);
        }
        // (From the configured address, as the seed's socket stack binds
        // before connecting; an IPv4-mapped destination is the IPv4
        // host, as on the direct stack.)
        let dst = app_addr(dst);
        let to = SocketAddr::new(dst, port);
        let stream = mirage_unix::socket::connect_nonblocking(to, self.iface.source(dst))
            .map_err(|e| connect_error(&format!("connect to {to}"), &e))?;
        reactor::wait(stream.as_raw_fd(), Interest::Writable).await;
        if let Some(e) = stream.take_error().map_err(|e| tcp_error("SO_ERROR", &e))? {
            reactor::deregister(stream.as_raw_fd());
            return Err(network_error(&format!("connect to {to}"), &e));
        }
        SocketFlow::new(stream, to)
    }

    fn bind(&'static self, port: u16) -> Result<SocketListener, TcpError> {
        let open = |addr: SocketAddr, v6_only: bool| {
            let listener = match addr {
                SocketAddr::V6(v6) => sys_socket::listen_ipv6(v6, v6_only),
                _ => std::net::TcpListener::bind(addr),
            }?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        };
        let port_of = |l: &std::net::TcpListener| l.local_addr().map(|a| a.port());
        let (listener, v6, port) = bind_both(self.iface, port, open, port_of)
            .map_err(|(addr, e)| tcp_error(&format!("listen on {addr}"), &e))?;
        Ok(SocketListener {
            listener,
            v6,
            port,
            v6_first: Cell::new(false),
        })
    }
}

/// How long [`SocketListener::accept`] waits before trying again when
/// the process is out of descriptors or memory.
const ACCEPT_RETRY_NS: u64 = 100_000_000;

/// A listening socket of [`SocketTcp`] (two, IPv4 and IPv6, when the
/// stack binds an address of each family).
#[derive(Debug)]
pub struct SocketListener {
    listener: std::net::TcpListener,
    /// The IPv6 socket of [`Interface::Both`].
    v6: Option<std::net::TcpListener>,
    port: u16,
    /// Which socket `accept` tries first (in turn: neither waits for ever
    /// while the other is busy).
    v6_first: Cell<bool>,
}

impl Drop for SocketListener {
    fn drop(&mut self) {
        reactor::deregister(self.listener.as_raw_fd());
        if let Some(v6) = &self.v6 {
            reactor::deregister(v6.as_raw_fd());
        }
    }
}

impl SocketListener {
    /// The listening sockets, the one whose turn it is first.
    fn sockets(&self) -> impl Iterator<Item = &std::net::TcpListener> {
        let first = self.v6_first.get();
        self.v6_first.set(!first);
        let (a, b) = match &self.v6 {
            Some(v6) if first => (v6, Some(&self.listener)),
            Some(v6) => (&self.listener, Some(v6)),
            None => (&self.listener, None),
        };
        core::iter::once(a).chain(b)
    }

    /// Waits until a listening socket is readable.
    async fn readable(&self) {
        let first = reactor::wait(self.listener.as_raw_fd(), Interest::Readable);
        match &self.v6 {
            Some(v6) => {
                let second = reactor::wait(v6.as_raw_fd(), Interest::Readable);
                crate::rt::select(first, second).await;
            }
            None => first.await,
        }
    }
}

impl TcpListener for SocketListener {
    type Flow = SocketFlow;

    fn local_port(&self) -> u16 {
        self.port
    }

    /// Errors of one connection are skipped, and a shortage of
    /// descriptors or memory is waited out: neither is the listener's.
    async fn accept(&self) -> Result<SocketFlow, TcpError> {
        loop {
            let mut failed = None;
            for listener in self.sockets() {
                match listener.accept() {
                    Ok((stream, remote)) => return SocketFlow::new(stream, remote),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let Some(e) = failed else {
                self.readable().await;
                continue;
            };
            match accept_error(&e) {
                AcceptError::Next => {}
                AcceptError::Wait => {
                    log::warn!(target: "tcp", "accept on port {}: {e}; retrying", self.port);
                    crate::rt::sleep_ns(ACCEPT_RETRY_NS).await;
                }
                AcceptError::Fail => return Err(tcp_error("accept", &e)),
            }
        }
    }
}

/// What [`SocketListener::accept`] does after an error of `accept(2)`.
#[derive(Debug, PartialEq, Eq)]
enum AcceptError {
    /// The error was one connection's (or an interrupted call): the next.
    Next,
    /// Out of descriptors or memory: wait, then try again.
    Wait,
    /// The listener's: fail (which ends `Tcp::listen`'s loop for good).
    Fail,
}

/// Sorts an error of `accept(2)` (Linux's numbers).
fn accept_error(e: &io::Error) -> AcceptError {
    match e.raw_os_error() {
        // Interrupted, or a connection reset before it was accepted, or
        // (as accept(2) says Linux does) the network error of a new
        // connection (ENETDOWN, EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET,
        // EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH), or what accept(2) says
        // various kernels return for one (ENOSR, ESOCKTNOSUPPORT,
        // EPROTONOSUPPORT, ETIMEDOUT), or a connection the firewall
        // refuses (EPERM): the next.
        Some(
            4 | 103 | 104 | 100 | 71 | 92 | 112 | 64 | 113 | 95 | 101 | 63 | 94 | 93 | 110 | 1,
        ) => AcceptError::Next,
        // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM):
        // the connection waits in the backlog, and the listener, readable
        // meanwhile, is tried again later.
        Some(24 | 23 | 105 | 12) => AcceptError::Wait,
        _ => AcceptError::Fail,
    }
}

/// The most bytes one [`Flow::read_with`] of a [`SocketFlow`] sees.
const PEEK_BUFFER: usize = 64 * 1024;

// (The same buffer lends [`Flow::write_with`] its room.)
const _: () = assert!(WRITE_WITH_ROOM <= PEEK_BUFFER);

/// A connection of [`SocketTcp`].
#[derive(Debug)]
pub struct SocketFlow {
    stream: std::net::TcpStream,
    /// [`Flow::read_with`]'s view of the received bytes, and
    /// [`Flow::write_with`]'s room (allocated at the first use).
    buffer: Vec<u8>,
    local: (IpAddr, u16),
    remote: (IpAddr, u16),
    /// The connection's lasting error, shared with the halves.
    failed: Failed,
    /// The bytes read so far (by the flow and its reading half): where in
    /// the stream the kernel's urgent mark is.
    read: Cell<u64>,
    /// The stream offset of the last urgent byte [`Flow::urgent_arrived`]
    /// told of.
    told: Cell<Option<u64>>,
    /// [`Flow::urgent_arrived`]'s watch (made at its first use).
    urgent_watch: std::cell::OnceCell<sys_socket::UrgentWatch>,
}

impl SocketFlow {
    /// The flow over `stream`, connected to `remote` (as `connect` was
    /// given it or `accept` returned it: `getpeername(2)` fails once the
    /// connection was reset, which must not fail the accept).
    fn new(stream: std::net::TcpStream, remote: SocketAddr) -> Result<SocketFlow, TcpError> {
        stream
            .set_nonblocking(true)
            .map_err(|e| tcp_error("set_nonblocking", &e))?;
        let local = stream
            .local_addr()
            .map_err(|e| tcp_error("local_addr", &e))?;
        // Urgent data stays in the stream, as on the direct stack.
        sys_socket::set_oob_inline(&stream).map_err(|e| tcp_error("SO_OOBINLINE", &e))?;
        Ok(SocketFlow {
            stream,
            buffer: Vec::new(),
            failed: Cell::new(None),
            read: Cell::new(0),
            told: Cell::new(None),
            urgent_watch: std::cell::OnceCell::new(),
            local: (app_addr(local.ip()), local.port()),
            remote: (app_addr(remote.ip()), remote.port()),
        })
    }
}

impl SocketFlow {
    /// Resets the connection (as [`crate::net::tcp::DirectFlow::abort`]):
    /// the peer gets an RST, and what was not sent is dropped.
    pub fn abort(self) -> Result<(), TcpError> {
        sys_socket::reset_on_close(&self.stream).map_err(|e| tcp_error("SO_LINGER", &e))
    }
}

impl Drop for SocketFlow {
    fn drop(&mut self) {
        if let Some(w) = self.urgent_watch.get() {
            reactor::deregister(w.fd());
        }
        reactor::deregister(self.stream.as_raw_fd());
    }
}

/// A flow's lasting error. The kernel tells the error that ended the
/// connection once (a reset; a timeout, or the ICMP error before it, as
/// `EHOSTUNREACH`), then reads see the end of the stream and writes
/// `EPIPE`; the flow keeps it for every later read and write, as the
/// direct stack's connection does.
type Failed = Cell<Option<TcpError>>;

/// `Err` with the flow's lasting error, if it has one.
fn check(failed: &Failed) -> Result<(), TcpError> {
    failed.get().map_or(Ok(()), Err)
}

/// The error `e` of an I/O call on a connected flow (`what`), kept by the
/// flow if it ended the connection: every error but `Closed` (a write
/// after our own shutdown, or an error the flow does not know).
fn fail(failed: &Failed, what: &str, e: &io::Error) -> TcpError {
    let e = network_error(what, e);
    if e != TcpError::Closed {
        failed.set(Some(e));
    }
    e
}

/// Reads from the non-blocking `stream`, waiting on the reactor while it
/// has nothing, and counts what it read in `read`. An empty `buf` is
/// `Ok(0)` at once, as the trait wants (the kernel's `recv` would wait for
/// a byte) and as on the direct stack.
async fn read_stream(
    mut stream: &std::net::TcpStream,
    failed: &Failed,
    read: &Cell<u64>,
    buf: &mut [u8],
) -> Result<usize, TcpError> {
    if buf.is_empty() {
        return Ok(0);
    }
    check(failed)?;
    loop {
        match stream.read(buf) {
            Ok(n) => {
                read.set(read.get() + n as u64);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                reactor::wait(stream.as_raw_fd(), Interest::Readable).await
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(failed, "read", &e)),
        }
    }
}

/// Writes to the non-blocking `stream`, waiting on the reactor while it
/// has no room. No `data` is `Ok(0)` at once, as on the direct stack.
async fn write_stream(
    mut stream: &std::net::TcpStream,
    failed: &Failed,
    data: &[u8],
) -> Result<usize, TcpError> {
    if data.is_empty() {
        return Ok(0);
    }
    check(failed)?;
    loop {
        match stream.write(data) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                reactor::wait(stream.as_raw_fd(), Interest::Writable).await
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(failed, "write", &e)),
        }
    }
}

/// Writes every buffer of `bufs` to the non-blocking `stream`, in order,
/// waiting on the reactor while it has no room: all of them in one
/// vectored write (`writev(2)`) when the kernel takes them, so that small
/// buffers leave in one segment (written one by one, the first would go
/// alone and Nagle's algorithm hold the rest until the peer's
/// acknowledgment), as on the direct stack; after a partial write, the
/// rest, from where it stopped. More buffers than the kernel takes in one
/// call (`IOV_MAX`, 1024) go in several calls. Empty buffers are skipped,
/// and no bytes at all is `Ok` at once, as on the direct stack.
async fn writev_stream(
    mut stream: &std::net::TcpStream,
    failed: &Failed,
    bufs: &[&[u8]],
) -> Result<(), TcpError> {
    let mut slices: Vec<io::IoSlice<'_>> = bufs
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| io::IoSlice::new(b))
        .collect();
    let mut rest = &mut slices[..];
    if rest.is_empty() {
        return Ok(());
    }
    check(failed)?;
    while !rest.is_empty() {
        let at_most = rest.len().min(IOV_MAX);
        match stream.write_vectored(&rest[..at_most]) {
            // (Never for non-empty buffers: rather than loop for ever.)
            Ok(0) => return Err(TcpError::Closed),
            Ok(n) => io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                reactor::wait(stream.as_raw_fd(), Interest::Writable).await
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(failed, "writev", &e)),
        }
    }
    Ok(())
}

/// The most buffers one `writev(2)` takes (Linux's `UIO_MAXIOV`).
const IOV_MAX: usize = 1024;

/// Whether `stream` is ready for `interest` now.
fn stream_ready(stream: &std::net::TcpStream, interest: Interest) -> Result<bool, TcpError> {
    reactor::ready_now(stream.as_raw_fd(), interest).map_err(|e| tcp_error("poll", &e))
}

/// The reading and writing traits of a socket flow or a half of one, over
/// its `stream`.
macro_rules! socket_io {
    (read $t:ty) => {
        impl embedded_io::ErrorType for $t {
            type Error = TcpError;
        }

        impl embedded_io_async::Read for $t {
            async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
                read_stream(&self.stream, &self.failed, &self.read, buf).await
            }
        }

        /// The socket is readable now (bytes, end of stream or an error).
        impl embedded_io_async::ReadReady for $t {
            fn read_ready(&mut self) -> Result<bool, TcpError> {
                stream_ready(&self.stream, Interest::Readable)
            }
        }
    };
    (write $t:ty) => {
        impl embedded_io_async::Write for $t {
            async fn write(&mut self, data: &[u8]) -> Result<usize, TcpError> {
                write_stream(&self.stream, &self.failed, data).await
            }

            async fn flush(&mut self) -> Result<(), TcpError> {
                Ok(())
            }
        }

        /// The socket is writable now (room, or an error).
        impl embedded_io_async::WriteReady for $t {
            fn write_ready(&mut self) -> Result<bool, TcpError> {
                stream_ready(&self.stream, Interest::Writable)
            }
        }
    };
}

socket_io!(read SocketFlow);
socket_io!(write SocketFlow);
socket_io!(read SocketReader<'_>);
socket_io!(write SocketWriter<'_>);

/// The reading half of a [`SocketFlow`] ([`Flow::split`]).
#[derive(Debug)]
pub struct SocketReader<'a> {
    stream: &'a std::net::TcpStream,
    failed: &'a Failed,
    read: &'a Cell<u64>,
}

/// The writing half of a [`SocketFlow`] ([`Flow::split`]).
#[derive(Debug)]
pub struct SocketWriter<'a> {
    stream: &'a std::net::TcpStream,
    failed: &'a Failed,
}

impl embedded_io::ErrorType for SocketWriter<'_> {
    type Error = TcpError;
}

impl Flow for SocketFlow {
    type Reader<'a> = SocketReader<'a>;
    type Writer<'a> = SocketWriter<'a>;

    fn split(&mut self) -> (SocketReader<'_>, SocketWriter<'_>) {
        let (stream, failed, read) = (&self.stream, &self.failed, &self.read);
        (
            SocketReader {
                stream,
                failed,
                read,
            },
            SocketWriter { stream, failed },
        )
    }

    fn local(&self) -> (IpAddr, u16) {
        self.local
    }

    fn remote(&self) -> (IpAddr, u16) {
        self.remote
    }

    fn set_nodelay(&self, nodelay: bool) -> Result<(), TcpError> {
        self.stream
            .set_nodelay(nodelay)
            .map_err(|e| tcp_error("TCP_NODELAY", &e))
    }

    /// Seconds, rounded up and clamped to Linux's ranges (see the trait).
    fn set_keepalive(&self, keepalive: Option<KeepAlive>) -> Result<(), TcpError> {
        let secs = |ns: u64| ns.div_ceil(1_000_000_000).clamp(1, 32_767) as u32;
        let times = keepalive.map(|k| sys_socket::KeepAliveSecs {
            idle: secs(k.idle_ns),
            interval: secs(k.interval_ns),
            count: k.count.clamp(1, 127),
        });
        sys_socket::set_keepalive(&self.stream, times).map_err(|e| tcp_error("SO_KEEPALIVE", &e))
    }

    fn set_user_timeout(&self, timeout_ns: Option<u64>) -> Result<(), TcpError> {
        // (0 turns the kernel's off: a zero timeout is its least, 1 ms.)
        let ms = timeout_ns.map_or(0, |ns| {
            ns.div_ceil(1_000_000).clamp(1, i32::MAX as u64) as u32
        });
        sys_socket::set_user_timeout(&self.stream, ms)
            .map_err(|e| tcp_error("TCP_USER_TIMEOUT", &e))
    }

    fn consecutive_timeouts(&self) -> Result<u32, TcpError> {
        sys_socket::tcp_info(&self.stream)
            .map(|i| u32::from(i.tcpi_retransmits))
            .map_err(|e| tcp_error("TCP_INFO", &e))
    }

    /// `IP_TOS`, and on an IPv6 socket `IPV6_TCLASS` too (a dual-stack
    /// socket's IPv4 connection takes the former), set to `dscp << 2`.
    /// (ECN is the kernel's: negotiated by its `net.ipv4.tcp_ecn` sysctl,
    /// which covers IPv6 too; the kernel sets the ECN bits of a TCP
    /// socket's packets itself.)
    fn set_dscp(&self, dscp: u8) -> Result<(), TcpError> {
        if dscp > crate::net::ip::MAX_DSCP {
            return Err(TcpError::InvalidArgument);
        }
        let ipv6 = self
            .stream
            .local_addr()
            .map_err(|e| tcp_error("local_addr", &e))?
            .is_ipv6();
        sys_socket::set_tos(&self.stream, ipv6, dscp << 2).map_err(|e| tcp_error("IP_TOS", &e))
    }

    /// The bytes are peeked into a buffer of the flow's (the kernel keeps
    /// them: one copy of up to 64 KiB per call, so a reader that consumes
    /// a little at a time is better served by `read`), and those `f`
    /// consumed are then taken off the socket without a copy (`recv(2)`
    /// with `MSG_TRUNC`). Should that fail (it takes bytes the kernel
    /// holds), the error is returned although `f` ran.
    async fn read_with<R>(&mut self, f: impl FnOnce(&[u8]) -> (usize, R)) -> Result<R, TcpError> {
        check(&self.failed)?;
        self.buffer.resize(PEEK_BUFFER, 0);
        let n = loop {
            match self.stream.peek(&mut self.buffer) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    reactor::wait(self.stream.as_raw_fd(), Interest::Readable).await
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fail(&self.failed, "peek", &e)),
            }
        };
        let (used, r) = f(&self.buffer[..n]);
        // The peeked bytes are in the socket: taking them does not block.
        let mut left = used.min(n);
        while left > 0 {
            match sys_socket::discard(&self.stream, left) {
                Ok(0) => break,
                Ok(k) => {
                    left -= k;
                    self.read.set(self.read.get() + k as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fail(&self.failed, "read", &e)),
            }
        }
        Ok(r)
    }

    /// Waits until the socket can take bytes, then `f` writes into a room
    /// of the flow's ([`WRITE_WITH_ROOM`] zeroed bytes), which is written
    /// out whole. A connection shut down or failed fails first, without
    /// calling `f` (a zero-length write asks the kernel). The kernel said
    /// it has room, so writing rarely waits, but it may: a future dropped
    /// then may have written part of what `f` wrote.
    async fn write_with<R>(
        &mut self,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<R, TcpError> {
        check(&self.failed)?;
        loop {
            match (&self.stream).write(&[]) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fail(&self.failed, "write", &e)),
            }
        }
        while !stream_ready(&self.stream, Interest::Writable)? {
            reactor::wait(self.stream.as_raw_fd(), Interest::Writable).await;
        }
        self.buffer.resize(PEEK_BUFFER, 0);
        let room = &mut self.buffer[..WRITE_WITH_ROOM];
        room.fill(0);
        let (n, r) = f(room);
        let mut rest = &self.buffer[..n.min(WRITE_WITH_ROOM)];
        while !rest.is_empty() {
            let k = write_stream(&self.stream, &self.failed, rest).await?;
            rest = &rest[k..];
        }
        Ok(r)
    }

    /// One vectored write (`writev(2)`) of all the buffers, so that small
    /// ones leave in one segment; after a partial write, the rest.
    async fn writev(&mut self, bufs: &[&[u8]]) -> Result<(), TcpError> {
        writev_stream(&self.stream, &self.failed, bufs).await
    }

    /// The kernel's `ENOTCONN` (the connection ended) is `Ok` if it ended
    /// in order, as on the direct stack, and the connection's error
    /// (`SO_ERROR`) if it failed.
    async fn shutdown_write(&mut self) -> Result<(), TcpError> {
        check(&self.failed)?;
        match self.stream.shutdown(std::net::Shutdown::Write) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => match self.stream.take_error() {
                Ok(None) => Ok(()),
                Ok(Some(e)) | Err(e) => Err(fail(&self.failed, "shutdown", &e)),
            },
            Err(e) => Err(fail(&self.failed, "shutdown", &e)),
        }
    }

    async fn close(self) -> Result<(), TcpError> {
        Ok(())
    }

    /// `send(2)` with `MSG_OOB`, waiting on the reactor while the socket
    /// has no room.
    async fn write_urgent(&mut self, data: &[u8]) -> Result<(), TcpError> {
        check(&self.failed)?;
        let mut rest = data;
        while !rest.is_empty() {
            match sys_socket::send_urgent(&self.stream, rest) {
                // (Never for non-empty data: rather than loop for ever.)
                Ok(0) => return Err(TcpError::Closed),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    reactor::wait(self.stream.as_raw_fd(), Interest::Writable).await
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fail(&self.failed, "send", &e)),
            }
        }
        Ok(())
    }

    /// `POLLPRI`, `SIOCATMARK` and a counting peek (see the trait).
    fn urgent(&self) -> Result<Option<usize>, TcpError> {
        check(&self.failed)?;
        let state =
            sys_socket::urgent_state(&self.stream).map_err(|e| tcp_error("urgent data", &e))?;
        Ok(state.before_mark.map(|n| n + 1))
    }

    /// Waits on an edge-triggered `epoll(7)` watch of the socket's
    /// `POLLPRI` (a descriptor of the flow's, made at the first call), and
    /// tells a last urgent byte once, by its offset in the stream.
    async fn urgent_arrived(&self) -> Result<usize, TcpError> {
        check(&self.failed)?;
        let watch = match self.urgent_watch.get() {
            Some(w) => w,
            None => {
                let w = sys_socket::UrgentWatch::new(&self.stream)
                    .map_err(|e| tcp_error("epoll", &e))?;
                self.urgent_watch.get_or_init(|| w)
            }
        };
        loop {
            // (The events first: a change after the look below makes the
            // watch readable again.)
            watch.drain();
            let state =
                sys_socket::urgent_state(&self.stream).map_err(|e| tcp_error("urgent data", &e))?;
            if let Some(n) = state.before_mark {
                let mark = self.read.get() + n as u64;
                if self.told.get() != Some(mark) {
                    self.told.set(Some(mark));
                    return Ok(n + 1);
                }
            }
            if state.ended {
                return Err(match self.stream.take_error() {
                    Ok(Some(e)) => fail(&self.failed, "urgent data", &e),
                    _ => TcpError::Eof,
                });
            }
            reactor::wait(watch.fd(), Interest::Readable).await;
        }
    }
}

/// The stack over the host's sockets (the seed's `socket_stackv4v6`).
#[derive(Debug)]
pub struct SocketStack {
    udp: &'static SocketUdp,
    tcp: &'static SocketTcp,
    addresses: Vec<IpAddr>,
}

impl SocketStack {
    /// The stack bound to `ipv4` / `ipv6` (the configured addresses, or the
    /// unspecified ones), with a family switched off by `ipv4_only` /
    /// `ipv6_only`.
    pub fn connect(
        ipv4: Option<Ipv4Addr>,
        ipv6: Option<Ipv6Addr>,
        ipv4_only: bool,
        ipv6_only: bool,
    ) -> Result<&'static Self, UdpError> {
        crate::net::stack::check_families(ipv4_only, ipv6_only)
            .map_err(|e| UdpError::Ip(crate::net::ip::IpError::Net(e)))?;
        let v4 = (!ipv6_only).then_some(ipv4.unwrap_or(Ipv4Addr::UNSPECIFIED));
        let v6 = (!ipv4_only).then_some(ipv6.unwrap_or(Ipv6Addr::UNSPECIFIED));
        // (`None` is the unspecified address to `connect`: IPv4 off is
        // said apart.)
        let v6_only = v4.is_none() && v6.is_some();
        let udp = crate::rt::leak(SocketUdp::new(v4, v6, v6_only)?);
        let tcp = crate::rt::leak(SocketTcp::new(v4, v6, v6_only));
        let addresses = v4
            .map(IpAddr::V4)
            .into_iter()
            .chain(v6.map(IpAddr::V6))
            .collect();
        Ok(crate::rt::leak(SocketStack {
            udp,
            tcp,
            addresses,
        }))
    }
}

impl Stackv4v6 for SocketStack {
    type Udp = SocketUdp;
    type Tcp = SocketTcp;

    fn udp(&self) -> &'static SocketUdp {
        self.udp
    }

    fn tcp(&self) -> &'static SocketTcp {
        self.tcp
    }

    fn addresses(&self) -> Vec<IpAddr> {
        self.addresses.clone()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;
    use core::net::Ipv4Addr;

    use embedded_io_async::{Read as _, ReadReady, Write as _, WriteReady};

    use super::std;
    use super::{SocketFlow, SocketReader, SocketTcp};
    use crate::net::tcp::{Flow, Tcp, TcpError, TcpListener};
    use crate::platform::UnixPlatform;
    use crate::rt::{Executor, join, leak, sleep_ns};

    /// `ReadReady` and `WriteReady` of the socket stack's flows ask the kernel
    /// without waiting: nothing to read before the peer writes, then ready;
    /// room to write until the socket's buffers are full (the peer reading
    /// nothing), and again once the peer read; ready at the end of the stream.
    /// And `read_with` keeps what it did not consume, and clamps a claim
    /// past the run to the run; `write_with` writes what `f` wrote; and
    /// after our own shutdown, `write` and `write_with` (without calling
    /// `f`) are `Closed`, as on the direct stack.
    #[test]
    fn socket_flows_tell_readiness_and_read_in_place() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let (mut flow, mut peer) = connected().await;
            assert_eq!(flow.read_ready(), Ok(false));
            assert_eq!(flow.write_ready(), Ok(true));
            peer.write_all(b"ping").await.unwrap();
            let mut waited = 0;
            while flow.read_ready() != Ok(true) {
                waited += 1;
                assert!(waited < 1000, "the bytes never became readable");
                sleep_ns(1_000_000).await;
            }
            let mut buf = [0u8; 4];
            flow.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
            // In place: what was not consumed comes again; a claim past the
            // run takes the run only.
            peer.write_all(b"hello world").await.unwrap();
            let first = flow.read_with(|run| (5, run.to_vec())).await.unwrap();
            assert!(first.starts_with(b"hello"), "{first:?}");
            let mut rest = vec![];
            while rest.len() < 6 {
                let run = flow
                    .read_with(|run| (usize::MAX, run.to_vec()))
                    .await
                    .unwrap();
                rest.extend_from_slice(&run);
            }
            assert_eq!(rest, b" world");
            assert_eq!(flow.read_ready(), Ok(false));
            // The peer reads nothing: the kernel's buffers fill.
            let chunk = vec![0x5a; 64 * 1024];
            let mut written = 0usize;
            while flow.write_ready() == Ok(true) {
                written += flow.write(&chunk).await.unwrap();
                assert!(written < 1 << 30, "the socket never filled");
            }
            let mut drained = 0usize;
            let mut big = vec![0u8; 256 * 1024];
            while drained < written {
                drained += peer.read(&mut big).await.unwrap();
            }
            let mut waited = 0;
            while flow.write_ready() != Ok(true) {
                waited += 1;
                assert!(waited < 1000, "the socket never had room again");
                sleep_ns(1_000_000).await;
            }
            peer.shutdown_write().await.unwrap();
            let mut waited = 0;
            while flow.read_ready() != Ok(true) {
                waited += 1;
                assert!(waited < 1000, "the end of stream never became readable");
                sleep_ns(1_000_000).await;
            }
            assert_eq!(flow.read(&mut buf).await, Ok(0));
            // Writing in place: the peer gets what `f` wrote, no more.
            let told = flow
                .write_with(|room| {
                    assert!(room.len() >= 5 && room.iter().all(|&b| b == 0));
                    room[..5].copy_from_slice(b"howdy");
                    (5, "done")
                })
                .await;
            assert_eq!(told, Ok("done"));
            let mut got = [0u8; 5];
            peer.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"howdy");
            // After our own shutdown, writing fails as on the direct stack,
            // in place without calling `f`.
            flow.shutdown_write().await.unwrap();
            assert_eq!(flow.write(b"late").await, Err(TcpError::Closed));
            let late = flow
                .write_with(|_| -> (usize, ()) { panic!("f called after shutdown") })
                .await;
            assert_eq!(late, Err(TcpError::Closed));
        })
        .unwrap();
    }

    /// Waits (a bounded while) until `flow` is readable: bytes, the end of
    /// the stream or an error reached it.
    async fn until_readable(flow: &mut SocketFlow) {
        let mut waited = 0;
        while flow.read_ready() != Ok(true) {
            waited += 1;
            assert!(waited < 1000, "the flow never became readable");
            sleep_ns(1_000_000).await;
        }
    }

    /// Two ends of a connection over loopback: ours, and the one accepted.
    async fn connected() -> (SocketFlow, SocketFlow) {
        let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let listener = tcp.bind(port).unwrap();
        let flow = tcp.connect(Ipv4Addr::LOCALHOST.into(), port).await.unwrap();
        (flow, listener.accept().await.unwrap())
    }

    /// The socket stack's `set_keepalive`, `set_user_timeout` and
    /// `set_nodelay` reach the kernel: keep-alive times in whole seconds,
    /// the user timeout in milliseconds, rounded up and clamped to Linux's
    /// ranges; off again with `None`.
    #[test]
    fn socket_flow_options_reach_the_kernel() {
        use crate::net::tcp::KeepAlive;
        use mirage_unix::socket::{KeepAliveSecs, keepalive, user_timeout};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let (flow, _peer) = connected().await;
            assert_eq!(keepalive(&flow.stream).unwrap(), None);
            let keep = KeepAlive {
                idle_ns: 1_500_000_000,
                interval_ns: 0,
                count: 500,
            };
            flow.set_keepalive(Some(keep)).unwrap();
            let set = KeepAliveSecs {
                idle: 2,
                interval: 1,
                count: 127,
            };
            assert_eq!(keepalive(&flow.stream).unwrap(), Some(set));
            flow.set_keepalive(None).unwrap();
            assert_eq!(keepalive(&flow.stream).unwrap(), None);
            flow.set_nodelay(true).unwrap();
            assert!(flow.stream.nodelay().unwrap());
            flow.set_nodelay(false).unwrap();
            assert!(!flow.stream.nodelay().unwrap());
            assert_eq!(user_timeout(&flow.stream).unwrap(), 0);
            for (ns, ms) in [
                (30_000_000_000, 30_000),
                (1_500_001, 2),
                (0, 1),
                (u64::MAX, i32::MAX as u32),
            ] {
                flow.set_user_timeout(Some(ns)).unwrap();
                assert_eq!(user_timeout(&flow.stream).unwrap(), ms, "{ns} ns");
            }
            flow.set_user_timeout(None).unwrap();
            assert_eq!(user_timeout(&flow.stream).unwrap(), 0);
        })
        .unwrap();
    }

    /// A connection the client resets before the server accepts it does
    /// not fail `accept` (whose error would end `Tcp::listen`'s loop): the
    /// flow is accepted, with its peer's address, and reading it tells
    /// the reset; the listener accepts the next connection.
    #[test]
    fn a_connection_reset_before_accept_does_not_fail_the_listener() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let listener = tcp.bind(0).unwrap();
            let port = listener.local_port();
            let client = tcp.connect(Ipv4Addr::LOCALHOST.into(), port).await.unwrap();
            let client_port = client.local().1;
            client.abort().unwrap();
            // (Time for the RST to reach the queued connection.)
            sleep_ns(50_000_000).await;
            let mut reset = listener.accept().await.expect("accept failed");
            assert_eq!(reset.remote(), (Ipv4Addr::LOCALHOST.into(), client_port));
            let mut buf = [0u8; 8];
            assert_eq!(reset.read(&mut buf).await, Err(TcpError::Reset));
            let next = tcp.connect(Ipv4Addr::LOCALHOST.into(), port).await.unwrap();
            let accepted = listener.accept().await.unwrap();
            assert_eq!(accepted.remote(), next.local());
        })
        .unwrap();
    }

    /// Connecting to what is not a unicast endpoint is `Unaddressable`,
    /// as on the direct stack (`TcpEngine::connect`): the unspecified
    /// address (which the kernel would take for this host), port 0, a
    /// multicast or the broadcast address (which the kernel refuses with
    /// `ENETUNREACH`).
    #[test]
    fn connecting_to_no_unicast_endpoint_is_unaddressable() {
        use core::net::{IpAddr, Ipv6Addr};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let listener = tcp.bind(0).unwrap();
            let port = listener.local_port();
            let bad: [(IpAddr, u16); 6] = [
                (Ipv4Addr::UNSPECIFIED.into(), port),
                (Ipv6Addr::UNSPECIFIED.into(), port),
                (Ipv4Addr::LOCALHOST.into(), 0),
                (Ipv4Addr::new(224, 0, 0, 1).into(), port),
                (Ipv4Addr::BROADCAST.into(), port),
                ("ff02::1".parse::<Ipv6Addr>().unwrap().into(), port),
            ];
            for (dst, port) in bad {
                let r = tcp.connect(dst, port).await.map(|f| f.remote());
                assert_eq!(r, Err(TcpError::Unaddressable), "{dst} port {port}");
            }
        })
        .unwrap();
    }

    /// Once the peer reset the connection, every read and write of the
    /// flow (and of its halves) fails with `Reset`, as on the direct stack,
    /// whose connection keeps its error. The kernel tells `ECONNRESET`
    /// once only: then reads see a clean end of stream and writes `EPIPE`.
    #[test]
    fn a_reset_stays_the_flows_error() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let mut buf = [0u8; 8];
            // Written to first: the write tells the reset.
            let (mut flow, peer) = connected().await;
            peer.abort().unwrap();
            until_readable(&mut flow).await;
            assert_eq!(flow.write(b"x").await, Err(TcpError::Reset));
            assert_eq!(flow.read(&mut buf).await, Err(TcpError::Reset));
            let run = flow.read_with(|run| (run.len(), run.len())).await;
            assert_eq!(run, Err(TcpError::Reset));
            assert_eq!(flow.write(b"x").await, Err(TcpError::Reset));
            let (mut r, mut w) = flow.split();
            assert_eq!(r.read(&mut buf).await, Err(TcpError::Reset));
            assert_eq!(w.write(b"x").await, Err(TcpError::Reset));
            // Read from first: the read tells the reset.
            let (mut flow, peer) = connected().await;
            peer.abort().unwrap();
            until_readable(&mut flow).await;
            assert_eq!(flow.read(&mut buf).await, Err(TcpError::Reset));
            assert_eq!(flow.read(&mut buf).await, Err(TcpError::Reset));
            let late = flow.write_with(|_| -> (usize, ()) { panic!("f called after a reset") });
            assert_eq!(late.await, Err(TcpError::Reset));
            assert_eq!(flow.write(b"x").await, Err(TcpError::Reset));
        })
        .unwrap();
    }

    /// What arrived before the peer reset the connection is read first,
    /// then the reset (the kernel's order, and the direct stack's, whose
    /// connection keeps what arrived in order).
    #[test]
    fn what_arrived_before_a_reset_is_read_first() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let (mut flow, mut peer) = connected().await;
            peer.write_all(b"hello").await.unwrap();
            until_readable(&mut flow).await;
            peer.abort().unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(flow.read(&mut buf).await, Ok(5));
            assert_eq!(&buf[..5], b"hello");
            assert_eq!(flow.read(&mut buf).await, Err(TcpError::Reset));
            assert_eq!(flow.read(&mut buf).await, Err(TcpError::Reset));
        })
        .unwrap();
    }

    /// Linux ends a connection that timed out after an ICMP error with that
    /// error (`tcp_write_err`: the soft error, else `ETIMEDOUT`), told
    /// once as for a reset: the flow keeps every error that ended the
    /// connection, as the direct stack does (whose timeout after an ICMP
    /// error is `HostUnreachable` too), so that the next read is not a
    /// clean end of stream. `Closed` (a write after our own shutdown)
    /// ends nothing: reading goes on.
    #[test]
    fn an_error_that_ended_the_connection_stays_the_flows() {
        use super::{Failed, check, fail};
        use std::io::Error;
        // (Linux's numbers: EHOSTUNREACH, ENETUNREACH, ECONNREFUSED,
        // ETIMEDOUT, ECONNRESET.)
        for (errno, expected) in [
            (113, TcpError::HostUnreachable),
            (101, TcpError::NetworkUnreachable),
            (111, TcpError::Refused),
            (110, TcpError::TimedOut),
            (104, TcpError::Reset),
        ] {
            let failed: Failed = Default::default();
            let e = fail(&failed, "read", &Error::from_raw_os_error(errno));
            assert_eq!(e, expected, "errno {errno}");
            assert_eq!(check(&failed), Err(e), "errno {errno}");
        }
        let failed: Failed = Default::default();
        fail(&failed, "write", &Error::from_raw_os_error(32));
        assert_eq!(check(&failed), Ok(()));
    }

    /// A datagram's metadata on the (dual-stack) socket stack names the
    /// address it was sent to, as the direct stack's does, not the
    /// socket's unspecified address; IPv4 addresses as IPv4.
    #[test]
    fn udp_metadata_names_the_address_a_datagram_was_sent_to() {
        use super::SocketUdp;
        use crate::net::udp::{Udp, UdpSocket};
        use core::net::{IpAddr, Ipv6Addr};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let udp: &'static SocketUdp = leak(SocketUdp::connect(None, None).unwrap());
            let socket = udp.bind(0).unwrap();
            let port = socket.local_port();
            let cases: [(&str, IpAddr); 2] = [
                ("127.0.0.1:0", Ipv4Addr::LOCALHOST.into()),
                ("[::1]:0", Ipv6Addr::LOCALHOST.into()),
            ];
            for (client, to) in cases {
                let sender = std::net::UdpSocket::bind(client).unwrap();
                sender.send_to(b"where", (to, port)).unwrap();
                let mut buf = [0u8; 16];
                let (n, meta) = socket.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], b"where");
                let from = sender.local_addr().unwrap();
                assert_eq!((meta.src, meta.src_port), (from.ip(), from.port()));
                assert_eq!((meta.dst, meta.dst_port), (to, port));
            }
        })
        .unwrap();
    }

    /// RFC 1122 section 4.1.3.3 on the socket stack as on the direct one:
    /// a datagram to a closed port draws Linux's port unreachable, which
    /// `take_error` gives with the datagram's destination, over both
    /// families; receiving is not disturbed by it (a datagram sent after
    /// the error arrives, and a receive waiting when the error came keeps
    /// waiting for a datagram: the error neither fails nor spins it).
    #[test]
    fn udp_take_error_tells_the_icmp_errors_about_a_sockets_datagrams() {
        use super::SocketUdp;
        use crate::net::ip::IcmpErrorKind;
        use crate::net::udp::{SendError, Udp, UdpSocket};
        use core::net::{IpAddr, Ipv6Addr};
        use std::time::{Duration, Instant};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let udp: &'static SocketUdp = leak(SocketUdp::connect(None, None).unwrap());
            let socket = leak(udp.bind(0).unwrap());
            let port = socket.local_port();
            for to in [
                IpAddr::from(Ipv4Addr::LOCALHOST),
                IpAddr::from(Ipv6Addr::LOCALHOST),
            ] {
                assert_eq!(socket.take_error(), None);
                // A port nobody listens on (bound, then closed).
                let closed = std::net::UdpSocket::bind((to, 0))
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                // A receive waits meanwhile: the error must not end it.
                let spawner = crate::rt::Spawner::for_current_executor().await;
                let waiting = spawner.spawn(async move {
                    let mut buf = [0u8; 16];
                    let (n, meta) = socket.recv_from(&mut buf).await.unwrap();
                    (buf[..n].to_vec(), meta.src_port)
                });
                crate::rt::yield_now().await;
                socket.send_to(b"anyone?", to, closed).await.unwrap();
                // The error comes while the receive waits: woken by it, the
                // receive takes it aside and sleeps again. 50 ms cost this
                // thread (the executor's) little CPU time, which a receive
                // woken again and again would use up. (The thread's time
                // on a CPU, in ns: `schedstat`'s first field.)
                let cpu = || -> u64 {
                    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
                    stat.split_whitespace().next().unwrap().parse().unwrap()
                };
                let before = cpu();
                crate::rt::sleep_ns(50_000_000).await;
                let spent = cpu() - before;
                assert!(spent < 25_000_000, "the receive spun: {spent} ns of CPU");
                let started = Instant::now();
                let error = loop {
                    if let Some(e) = socket.take_error() {
                        break e;
                    }
                    assert!(started.elapsed() < Duration::from_secs(5), "no error");
                    crate::rt::sleep_ns(1_000_000).await;
                };
                assert_eq!(
                    error,
                    SendError {
                        kind: IcmpErrorKind::PortUnreachable,
                        dst: Some((to, closed)),
                    }
                );
                assert!(!waiting.is_finished(), "the receive ended with the error");
                let sender = std::net::UdpSocket::bind((to, 0)).unwrap();
                sender.send_to(b"here", (to, port)).unwrap();
                let (got, from) = waiting.await;
                assert_eq!(
                    (got.as_slice(), from),
                    (&b"here"[..], sender.local_addr().unwrap().port())
                );
                assert_eq!(socket.take_error(), None);
            }
        })
        .unwrap();
    }

    /// In the parent: runs the test `name` (of this module) again in a
    /// child process whose descriptor limit `ulimit` lowers to 64, asserts
    /// that it passed, and returns `false`. In the child: `true`, and the
    /// caller runs the test's body.
    fn in_child_with_few_descriptors(name: &str) -> bool {
        const CHILD: &str = "MIRAGE_TEST_FEW_DESCRIPTORS";
        if std::env::var_os(CHILD).is_some() {
            return true;
        }
        let name = std::format!("platform::unix::socket_unix::tests::{name}");
        let out = std::process::Command::new("sh")
            .args(["-c", "ulimit -n 64 && exec \"$0\" \"$@\""])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = std::string::String::from_utf8_lossy(&out.stdout);
        let stderr = std::string::String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{stderr}"
        );
        false
    }

    /// Opens files until the process has no descriptor left (`EMFILE`).
    fn use_up_descriptors() -> Vec<std::fs::File> {
        let mut files = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(file) => files.push(file),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(24), "{e}"); // EMFILE
                    return files;
                }
            }
            assert!(files.len() < 64, "the limit was not lowered");
        }
    }

    /// A process out of descriptors (`EMFILE`) does not fail `accept`
    /// (whose error would end `Tcp::listen`'s loop) nor spin on the
    /// listener, which stays readable: it waits, and accepts the pending
    /// connection once a descriptor is free. Run in a child process of
    /// its own, whose descriptor limit is lowered.
    #[test]
    fn accept_waits_out_a_shortage_of_descriptors() {
        use crate::rt::{Either, select};
        if !in_child_with_few_descriptors("accept_waits_out_a_shortage_of_descriptors") {
            return;
        }
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let listener = tcp.bind(0).unwrap();
            let port = listener.local_port();
            // (The kernel completes the handshake before `accept`.)
            let client = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            let mut files = use_up_descriptors();
            let free_one = async {
                sleep_ns(100_000_000).await;
                files.pop();
            };
            let bounded = select(join(listener.accept(), free_one), sleep_ns(10_000_000_000));
            let Either::Left((accepted, ())) = bounded.await else {
                panic!("accept did not return once a descriptor was free");
            };
            let remote = (
                Ipv4Addr::LOCALHOST.into(),
                client.local_addr().unwrap().port(),
            );
            assert_eq!(accepted.map(|flow| flow.remote()), Ok(remote));
        })
        .unwrap();
    }

    /// A connect with no descriptor left is `TooManyConnections`, as the
    /// direct stack's at its `max_connections`, not `Closed` (which says
    /// a finished connection).
    #[test]
    fn connect_without_descriptors_is_too_many_connections() {
        if !in_child_with_few_descriptors("connect_without_descriptors_is_too_many_connections") {
            return;
        }
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let listener = tcp.bind(0).unwrap();
            let files = use_up_descriptors();
            let flow = tcp.connect(Ipv4Addr::LOCALHOST.into(), listener.local_port());
            let r = flow.await.map(|f| f.remote());
            assert_eq!(r, Err(TcpError::TooManyConnections));
            drop(files);
        })
        .unwrap();
    }

    /// Sending to a broadcast address works, as on the direct stack, which
    /// sends to the limited and the subnet's broadcast address without
    /// being asked (the kernel refuses them without `SO_BROADCAST`), from
    /// an ephemeral port and from a bound socket; a dual-stack socket on
    /// the port receives them.
    #[test]
    fn udp_sends_to_a_broadcast_address() {
        use super::SocketUdp;
        use crate::net::udp::{Udp, UdpSocket};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let udp: &'static SocketUdp = leak(SocketUdp::connect(None, None).unwrap());
            let socket = udp.bind(0).unwrap();
            let port = socket.local_port();
            // (Loopback's broadcast address: the datagram stays here.)
            let all = Ipv4Addr::new(127, 255, 255, 255).into();
            udp.write(None, all, port, b"one").await.unwrap();
            socket.send_to(b"two", all, port).await.unwrap();
            for expected in [b"one", b"two"] {
                let mut buf = [0u8; 8];
                let (n, meta) = socket.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], expected);
                assert_eq!(meta.dst, all);
            }
        })
        .unwrap();
    }

    /// An IPv4-only socket stack (`--ipv4-only`, no address configured)
    /// has IPv6 switched off, as `SocketStack::connect` says: its
    /// listeners take IPv4 connections only, its UDP sockets IPv4
    /// datagrams only, and connecting to an IPv6 address is
    /// `Unaddressable` as on a direct stack without IPv6.
    #[test]
    fn an_ipv4_only_socket_stack_speaks_no_ipv6() {
        use super::SocketStack;
        use crate::net::ip::IpError;
        use crate::net::stack::Stackv4v6;
        use crate::net::udp::{Udp, UdpError, UdpSocket};
        use core::net::{IpAddr, Ipv6Addr};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let stack = SocketStack::connect(None, None, true, false).unwrap();
            let listener = stack.tcp().bind(0).unwrap();
            let port = listener.local_port();
            let v6 = std::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port));
            assert!(v6.is_err(), "an IPv6 connection was accepted");
            let v4 = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            let flow = listener.accept().await.unwrap();
            assert_eq!(flow.remote().1, v4.local_addr().unwrap().port());
            let to_v6 = stack.tcp().connect(Ipv6Addr::LOCALHOST.into(), port).await;
            assert_eq!(to_v6.map(|f| f.remote()), Err(TcpError::Unaddressable));
            let socket = stack.udp().bind(0).unwrap();
            let sender = std::net::UdpSocket::bind("[::1]:0").unwrap();
            let sent = sender.send_to(b"v6", (Ipv6Addr::LOCALHOST, socket.local_port()));
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sender
                .send_to(b"v4", (Ipv4Addr::LOCALHOST, socket.local_port()))
                .unwrap();
            let mut buf = [0u8; 8];
            // (Sent first, the IPv6 datagram must not be received.)
            let _ = sent;
            let (n, _) = socket.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"v4");
            let local: IpAddr = Ipv6Addr::LOCALHOST.into();
            let no_v6 = Err(UdpError::Ip(IpError::NoAddress(local)));
            assert_eq!(stack.udp().write(None, local, 9, b"x").await, no_v6);
            assert_eq!(socket.send_to(b"x", local, 9).await, no_v6);
        })
        .unwrap();
    }

    /// An IPv6-only socket stack (`--ipv6-only`) has IPv4 switched off, as
    /// `SocketStack::connect` says: its listeners take IPv6 connections
    /// only, its UDP sockets IPv6 datagrams only, and connecting or
    /// writing to an IPv4 address fails as on a direct stack without IPv4
    /// (`Unaddressable`, `NoAddress`).
    #[test]
    fn an_ipv6_only_socket_stack_speaks_no_ipv4() {
        use super::SocketStack;
        use crate::net::ip::IpError;
        use crate::net::stack::Stackv4v6;
        use crate::net::udp::{Udp, UdpError, UdpSocket};
        use core::net::{IpAddr, Ipv6Addr};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let stack = SocketStack::connect(None, None, false, true).unwrap();
            let listener = stack.tcp().bind(0).unwrap();
            let port = listener.local_port();
            let v4 = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port));
            assert!(v4.is_err(), "an IPv4 connection was accepted");
            let v6 = std::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port)).unwrap();
            let flow = listener.accept().await.unwrap();
            assert_eq!(flow.remote().1, v6.local_addr().unwrap().port());
            let to_v4 = stack.tcp().connect(Ipv4Addr::LOCALHOST.into(), port).await;
            assert_eq!(to_v4.map(|f| f.remote()), Err(TcpError::Unaddressable));
            let socket = stack.udp().bind(0).unwrap();
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sender
                .send_to(b"v4", (Ipv4Addr::LOCALHOST, socket.local_port()))
                .unwrap();
            let sender = std::net::UdpSocket::bind("[::1]:0").unwrap();
            sender
                .send_to(b"v6", (Ipv6Addr::LOCALHOST, socket.local_port()))
                .unwrap();
            let mut buf = [0u8; 8];
            let (n, _) = socket.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"v6");
            let local: IpAddr = Ipv4Addr::LOCALHOST.into();
            let no_v4 = Err(UdpError::Ip(IpError::NoAddress(local)));
            assert_eq!(stack.udp().write(None, local, 9, b"x").await, no_v4);
            assert_eq!(socket.send_to(b"x", local, 9).await, no_v4);
        })
        .unwrap();
    }

    /// `Udp::write` from a port a socket of the stack has bound goes out
    /// through that socket, as on the direct stack (the seed's idiom: a
    /// `listen` handler replies with `write ~src_port`), instead of
    /// failing with `PortInUse`; from a free port, through a socket of
    /// its own as before.
    #[test]
    fn udp_writes_from_a_bound_port() {
        use super::SocketUdp;
        use crate::net::udp::{Udp, UdpSocket};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let udp: &'static SocketUdp = leak(SocketUdp::connect(None, None).unwrap());
            let socket = udp.bind(0).unwrap();
            let port = socket.local_port();
            let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            peer.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let to = Ipv4Addr::LOCALHOST.into();
            let peer_port = peer.local_addr().unwrap().port();
            udp.write(Some(port), to, peer_port, b"reply")
                .await
                .unwrap();
            let mut buf = [0u8; 8];
            let (n, from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from.port()), (&b"reply"[..], port));
            // Once the socket is gone, from a socket of the write's own.
            drop(socket);
            udp.write(Some(port), to, peer_port, b"again")
                .await
                .unwrap();
            let (n, from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from.port()), (&b"again"[..], port));
        })
        .unwrap();
    }

    /// The socket stack's `set_dscp` reaches the kernel: `IP_TOS` (and on
    /// an IPv6 socket `IPV6_TCLASS`, both) `dscp << 2`, read back, over
    /// IPv4 (our IPv4 socket; the accepted one IPv4-mapped on a dual-stack
    /// socket) and over IPv6; a value above 63 is refused and changes
    /// nothing. (The segments sent carry it: mirage-unix's
    /// `tcp_segments_carry_the_tos_on_the_wire`.)
    #[test]
    fn set_dscp_reaches_the_kernel_over_both_families() {
        use mirage_unix::socket::tos;
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let listener = tcp.bind(0).unwrap();
            let port = listener.local_port();
            for dst in [
                core::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
                core::net::IpAddr::V6(core::net::Ipv6Addr::LOCALHOST),
            ] {
                let flow = tcp.connect(dst, port).await.unwrap();
                let peer = listener.accept().await.unwrap();
                for (f, dscp) in [(&flow, 46), (&peer, 10)] {
                    let ipv6 = f.stream.local_addr().unwrap().is_ipv6();
                    assert_eq!(tos(&f.stream, ipv6).unwrap(), 0);
                    f.set_dscp(dscp).unwrap();
                    assert_eq!(tos(&f.stream, ipv6).unwrap(), dscp << 2, "{dst}");
                    assert_eq!(tos(&f.stream, false).unwrap(), dscp << 2, "{dst}");
                    assert_eq!(f.set_dscp(64), Err(TcpError::InvalidArgument));
                    assert_eq!(tos(&f.stream, ipv6).unwrap(), dscp << 2, "{dst}");
                }
            }
        })
        .unwrap();
    }

    /// The socket stack's UDP: `write_dscp` marks the datagram it sends
    /// (`dscp << 2`, ECN bits 0), `write` does not, and the receiving
    /// socket's metadata tells the byte the kernel received (RFC 1122
    /// section 3.2.1.6): over IPv4 and IPv6, through the stack's
    /// dual-stack sockets; a value above 63 is refused.
    #[test]
    fn socket_udp_writes_carry_the_dscp_and_receives_tell_the_tos() {
        use super::SocketUdp;
        use crate::net::udp::{Udp, UdpError, UdpSocket};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let udp: &'static SocketUdp = leak(SocketUdp::connect(None, None).unwrap());
            let socket = udp.bind(0).unwrap();
            let port = socket.local_port();
            let mut buf = [0u8; 8];
            for dst in [
                core::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
                core::net::IpAddr::V6(core::net::Ipv6Addr::LOCALHOST),
            ] {
                udp.write_dscp(None, dst, port, 46, b"ef").await.unwrap();
                udp.write(None, dst, port, b"be").await.unwrap();
                // From the socket's own port, through it.
                udp.write_dscp(Some(port), dst, port, 10, b"af11")
                    .await
                    .unwrap();
                let r = udp.write_dscp(None, dst, port, 64, b"no").await;
                assert_eq!(r, Err(UdpError::InvalidArgument));
                // Port 0, on every path (Linux's EINVAL, told first).
                let r = udp.write(None, dst, 0, b"no").await;
                assert_eq!(r, Err(UdpError::InvalidArgument));
                let r = udp.write(Some(port), dst, 0, b"no").await;
                assert_eq!(r, Err(UdpError::InvalidArgument));
                let r = socket.send_to(b"no", dst, 0).await;
                assert_eq!(r, Err(UdpError::InvalidArgument));
                for (data, tos) in [(&b"ef"[..], 0xb8), (b"be", 0), (b"af11", 0x28)] {
                    let (n, meta) = socket.recv_from(&mut buf).await.unwrap();
                    assert_eq!((&buf[..n], meta.tos), (data, tos), "{dst}");
                }
            }
        })
        .unwrap();
    }

    /// Two tasks accepting on one listener both get a connection: the
    /// second task's wait on the listening socket does not drop the
    /// first's (which then waited for good).
    #[test]
    fn two_tasks_accepting_on_one_listener_both_get_a_connection() {
        use crate::rt::{Either, Spawner, select};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let listener = leak(tcp.bind(0).unwrap());
            let port = listener.local_port();
            let spawner = Spawner::for_current_executor().await;
            let first = spawner.spawn(async { listener.accept().await.map(|f| f.remote()) });
            let second = spawner.spawn(async { listener.accept().await.map(|f| f.remote()) });
            // (Both tasks wait on the listener before the connections.)
            sleep_ns(20_000_000).await;
            let a = tcp.connect(Ipv4Addr::LOCALHOST.into(), port).await.unwrap();
            let b = tcp.connect(Ipv4Addr::LOCALHOST.into(), port).await.unwrap();
            let both = select(join(first, second), sleep_ns(10_000_000_000));
            let Either::Left((first, second)) = both.await else {
                panic!("an accepting task was never woken");
            };
            let mut got = [first.unwrap(), second.unwrap()];
            got.sort();
            let mut expected = [a.local(), b.local()];
            expected.sort();
            assert_eq!(got, expected);
        })
        .unwrap();
    }

    /// The errors `accept(2)` reports for one connection, including those
    /// its manual says various kernels return (`ETIMEDOUT`, `ENOSR`, ...)
    /// and a connection the firewall refuses (`EPERM`), skip to the next
    /// connection rather than fail the listener, which would end
    /// `Tcp::listen`'s loop for good; a shortage is waited out; `EBADF`,
    /// `EINVAL` (not listening) fail.
    #[test]
    fn accept_errors_of_one_connection_do_not_fail_the_listener() {
        use super::{AcceptError, accept_error};
        use std::io::Error;
        let sorted = |errno| accept_error(&Error::from_raw_os_error(errno));
        for errno in [
            4, 103, 104, 100, 71, 92, 112, 64, 113, 95, 101, 63, 94, 93, 110, 1,
        ] {
            assert_eq!(sorted(errno), AcceptError::Next, "errno {errno}");
        }
        for errno in [24, 23, 105, 12] {
            assert_eq!(sorted(errno), AcceptError::Wait, "errno {errno}");
        }
        for errno in [9, 22, 14] {
            assert_eq!(sorted(errno), AcceptError::Fail, "errno {errno}");
        }
    }

    /// A read into an empty buffer and a write of no bytes return `Ok(0)`
    /// at once, as on the direct stack, whatever the connection's state:
    /// after our shutdown, after a reset (the trait allows an error too;
    /// the stacks agree).
    #[test]
    fn empty_reads_and_writes_are_ok_zero_as_on_the_direct_stack() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let (mut flow, peer) = connected().await;
            assert_eq!(flow.read(&mut []).await, Ok(0));
            assert_eq!(flow.write(&[]).await, Ok(0));
            flow.shutdown_write().await.unwrap();
            assert_eq!(flow.write(&[]).await, Ok(0));
            assert_eq!(flow.write(b"late").await, Err(TcpError::Closed));
            peer.abort().unwrap();
            until_readable(&mut flow).await;
            assert_eq!(flow.read(&mut [0u8; 4]).await, Err(TcpError::Reset));
            assert_eq!(flow.read(&mut []).await, Ok(0));
            assert_eq!(flow.write(&[]).await, Ok(0));
            let (mut r, mut w) = flow.split();
            assert_eq!(r.read(&mut []).await, Ok(0));
            assert_eq!(w.write(&[]).await, Ok(0));
        })
        .unwrap();
    }

    /// `Tcp::listen` on port 0 is refused, as on the direct stack: the
    /// kernel would pick a port nobody could know (`bind(0)` tells it).
    #[test]
    fn listening_on_port_zero_is_unaddressable() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let refused = tcp.listen(0, |_| async {}).await;
            assert_eq!(refused, Err(TcpError::Unaddressable));
            assert_ne!(tcp.bind(0).unwrap().local_port(), 0);
        })
        .unwrap();
    }

    /// `shutdown_write` as on the direct stack: twice is fine, also once
    /// the connection ended in order (the kernel's `ENOTCONN`); on a
    /// connection the peer reset it fails with the reset, as `write` does.
    #[test]
    fn shutdown_write_twice_after_the_end_and_after_a_reset() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let (mut flow, mut peer) = connected().await;
            flow.shutdown_write().await.unwrap();
            flow.shutdown_write().await.unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(peer.read(&mut buf).await, Ok(0));
            peer.write_all(b"after").await.unwrap();
            peer.shutdown_write().await.unwrap();
            flow.read_exact(&mut buf[..5]).await.unwrap();
            assert_eq!(&buf[..5], b"after");
            for _ in 0..3 {
                assert_eq!(flow.read(&mut buf).await, Ok(0));
            }
            assert_eq!(flow.shutdown_write().await, Ok(()));
            assert_eq!(flow.write(b"late").await, Err(TcpError::Closed));
            flow.close().await.unwrap();

            let (mut flow, peer) = connected().await;
            peer.abort().unwrap();
            until_readable(&mut flow).await;
            assert_eq!(flow.shutdown_write().await, Err(TcpError::Reset));
            assert_eq!(flow.read(&mut buf).await, Err(TcpError::Reset));
            assert_eq!(flow.shutdown_write().await, Err(TcpError::Reset));
        })
        .unwrap();
    }

    /// Closing (or dropping) a flow with received bytes unread resets the
    /// connection, as the direct stack does (RFC 2525 2.17): the peer
    /// reads `Reset`. Closed with everything read, the peer reads the end
    /// of the stream.
    #[test]
    fn closing_with_unread_bytes_resets_the_connection() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let mut buf = [0u8; 8];
            for drop_it in [false, true] {
                let (mut flow, mut peer) = connected().await;
                peer.write_all(b"unread").await.unwrap();
                until_readable(&mut flow).await;
                if drop_it {
                    drop(flow);
                } else {
                    flow.close().await.unwrap();
                }
                assert_eq!(peer.read(&mut buf).await, Err(TcpError::Reset));
            }
            let (mut flow, mut peer) = connected().await;
            peer.write_all(b"read").await.unwrap();
            flow.read_exact(&mut buf[..4]).await.unwrap();
            flow.close().await.unwrap();
            assert_eq!(peer.read(&mut buf).await, Ok(0));
        })
        .unwrap();
    }

    /// A socket stack given an IPv4 address and IPv6 on listens on that
    /// IPv4 address only, as the seed's does (`--ipv4=127.0.0.1/8`: "only
    /// listen on 127.0.0.1"), with IPv6 on a socket of its own: not on
    /// every address through one dual-stack socket on `[::]`, which
    /// ignored the IPv4 address. Given an IPv6 address, it listens on it
    /// and on IPv4's unspecified address: a dual-stack socket bound to an
    /// IPv6 address took no IPv4 at all.
    #[test]
    fn a_socket_stack_listens_on_its_configured_addresses() {
        use super::SocketStack;
        use crate::net::stack::Stackv4v6;
        use core::net::Ipv6Addr;
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let other_v4 = Ipv4Addr::new(127, 0, 0, 2);
            let stack = SocketStack::connect(Some(Ipv4Addr::LOCALHOST), None, false, false);
            let tcp = stack.unwrap().tcp();
            let listener = tcp.bind(0).unwrap();
            let port = listener.local_port();
            let refused = std::net::TcpStream::connect((other_v4, port));
            assert!(refused.is_err(), "a connection to 127.0.0.2 was accepted");
            for to in [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()] {
                let client = std::net::TcpStream::connect((to, port)).unwrap();
                let flow = listener.accept().await.unwrap();
                assert_eq!(flow.remote().1, client.local_addr().unwrap().port());
                assert_eq!(flow.local(), (to, port));
            }
            // Bound twice: the port is in use, whichever socket says so.
            assert_eq!(tcp.bind(port).err(), Some(TcpError::AddrInUse));
            drop(listener);
            assert_eq!(tcp.bind(port).unwrap().local_port(), port);

            let stack = SocketStack::connect(None, Some(Ipv6Addr::LOCALHOST), false, false);
            let listener = stack.unwrap().tcp().bind(0).unwrap();
            let port = listener.local_port();
            for to in [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()] {
                let client = std::net::TcpStream::connect((to, port)).unwrap();
                let flow = listener.accept().await.unwrap();
                assert_eq!(flow.remote().1, client.local_addr().unwrap().port());
                assert_eq!(flow.local(), (to, port));
            }
        })
        .unwrap();
    }

    /// A connect to a subnet's broadcast address is `Unaddressable`, as on
    /// the direct stack (RFC 9293 MUST-46; Linux: `ENETUNREACH`).
    #[test]
    fn a_socket_stack_connect_to_a_broadcast_address_is_unaddressable() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let r = tcp
                .connect(Ipv4Addr::new(127, 255, 255, 255).into(), 80)
                .await;
            assert_eq!(r.err(), Some(TcpError::Unaddressable));
        })
        .unwrap();
    }

    /// Connections leave from the configured address of their family, as
    /// the seed's socket stack binds before connecting (the kernel would
    /// choose by route: 127.0.0.1 toward 127.0.0.1); without one, the
    /// kernel chooses.
    #[test]
    fn a_socket_stack_connects_from_its_configured_address() {
        use super::SocketStack;
        use crate::net::stack::Stackv4v6;
        use core::net::{IpAddr, Ipv6Addr};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let ours = Ipv4Addr::new(127, 0, 0, 2);
            let tcp = SocketStack::connect(Some(ours), None, false, false)
                .unwrap()
                .tcp();
            let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = peer.local_addr().unwrap().port();
            let flow = tcp.connect(Ipv4Addr::LOCALHOST.into(), port).await.unwrap();
            let (_, from) = peer.accept().unwrap();
            assert_eq!(from.ip(), IpAddr::V4(ours));
            assert_eq!(flow.local(), (IpAddr::V4(ours), from.port()));
            // (An IPv4-mapped destination likewise.)
            let mapped = Ipv4Addr::LOCALHOST.to_ipv6_mapped();
            let flow = tcp.connect(mapped.into(), port).await.unwrap();
            let (_, from) = peer.accept().unwrap();
            assert_eq!(from.ip(), IpAddr::V4(ours));
            assert_eq!(flow.remote(), (Ipv4Addr::LOCALHOST.into(), port));
            // IPv6 has no configured address here: the kernel's choice.
            let peer6 = std::net::TcpListener::bind("[::1]:0").unwrap();
            let port6 = peer6.local_addr().unwrap().port();
            tcp.connect(Ipv6Addr::LOCALHOST.into(), port6)
                .await
                .unwrap();
            let (_, from) = peer6.accept().unwrap();
            assert_eq!(from.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        })
        .unwrap();
    }

    /// UDP as TCP (`a_socket_stack_listens_on_its_configured_addresses`):
    /// given an IPv4 address, with IPv6 on, the stack's sockets receive
    /// datagrams to that address (and IPv6 ones) only, and reply from it;
    /// given an IPv6 address, IPv4 datagrams too.
    #[test]
    fn a_socket_stacks_udp_binds_its_configured_addresses() {
        use super::SocketStack;
        use crate::net::stack::Stackv4v6;
        use crate::net::udp::{Udp, UdpError, UdpSocket};
        use core::net::{IpAddr, Ipv6Addr};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let v4: IpAddr = Ipv4Addr::LOCALHOST.into();
            let v6: IpAddr = Ipv6Addr::LOCALHOST.into();
            let configured = [
                (Some(Ipv4Addr::LOCALHOST), None),
                (None, Some(Ipv6Addr::LOCALHOST)),
            ];
            for (ipv4, ipv6) in configured {
                let udp = SocketStack::connect(ipv4, ipv6, false, false)
                    .unwrap()
                    .udp();
                let socket = udp.bind(0).unwrap();
                let port = socket.local_port();
                let v4_peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                let v6_peer = std::net::UdpSocket::bind("[::1]:0").unwrap();
                for peer in [&v4_peer, &v6_peer] {
                    let timeout = Some(std::time::Duration::from_secs(10));
                    peer.set_read_timeout(timeout).unwrap();
                }
                // (Sent first, to an address not configured: not received.)
                if ipv4.is_some() {
                    v4_peer.send_to(b"other", ("127.0.0.2", port)).unwrap();
                }
                let mut buf = [0u8; 8];
                for (peer, to) in [(&v4_peer, v4), (&v6_peer, v6)] {
                    peer.send_to(b"hello", (to, port)).unwrap();
                    let (n, meta) = socket.recv_from(&mut buf).await.unwrap();
                    assert_eq!(&buf[..n], b"hello", "{ipv4:?} {ipv6:?} {to}");
                    assert_eq!((meta.dst, meta.dst_port), (to, port));
                    let from = peer.local_addr().unwrap();
                    assert_eq!((meta.src, meta.src_port), (from.ip(), from.port()));
                    socket
                        .send_to(b"back", meta.src, meta.src_port)
                        .await
                        .unwrap();
                    udp.write(Some(port), meta.src, meta.src_port, b"again")
                        .await
                        .unwrap();
                    for expected in [&b"back"[..], b"again"] {
                        let (n, back) = peer.recv_from(&mut buf).unwrap();
                        assert_eq!((&buf[..n], back), (expected, (to, port).into()));
                    }
                }
                assert_eq!(udp.bind(port).err(), Some(UdpError::PortInUse(port)));
            }
        })
        .unwrap();
    }

    /// A datagram longer than UDP allows (`MAX_PAYLOAD`, 65,507 bytes) is
    /// `TooBig` to both families, as on the direct stack: the kernel took
    /// up to 65,527 bytes over IPv6.
    #[test]
    fn udp_datagrams_longer_than_max_payload_are_too_big_to_both_families() {
        use super::SocketUdp;
        use crate::net::udp::{MAX_PAYLOAD, Udp, UdpError, UdpSocket};
        use core::net::{IpAddr, Ipv6Addr};
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let udp: &'static SocketUdp = leak(SocketUdp::connect(None, None).unwrap());
            let socket = udp.bind(0).unwrap();
            let port = socket.local_port();
            let big = vec![7u8; MAX_PAYLOAD + 1];
            let dsts: [IpAddr; 2] = [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
            for dst in dsts {
                let too_big = Err(UdpError::TooBig(big.len()));
                assert_eq!(udp.write(None, dst, port, &big).await, too_big, "{dst}");
                assert_eq!(socket.send_to(&big, dst, port).await, too_big, "{dst}");
                let other_port = Some(port.wrapping_add(1).max(1));
                assert_eq!(udp.write(other_port, dst, port, &big).await, too_big);
                // The largest goes.
                socket
                    .send_to(&big[..MAX_PAYLOAD], dst, port)
                    .await
                    .unwrap();
                let mut buf = vec![0u8; 70_000];
                let (n, _) = socket.recv_from(&mut buf).await.unwrap();
                assert_eq!(n, MAX_PAYLOAD);
            }
        })
        .unwrap();
    }

    /// The kernel's errors for a datagram map to the direct stack's for
    /// the same event (its IP layer's `NoRoute`, `HostUnreachable`,
    /// `NoAddress`), not to a device error only a message tells apart.
    /// (This host has routes for both families: the mapping is tested.)
    #[test]
    fn udp_send_errors_map_to_the_direct_stacks() {
        use super::send_error;
        use crate::net::ip::IpError;
        use crate::net::udp::UdpError;
        use core::net::IpAddr;
        use std::io::Error;
        let dst: IpAddr = Ipv4Addr::new(192, 0, 2, 9).into();
        let mapped: IpAddr = Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped().into();
        for (errno, expected) in [
            (101, UdpError::Ip(IpError::NoRoute(dst))),
            (113, UdpError::Ip(IpError::HostUnreachable(dst))),
            (99, UdpError::Ip(IpError::NoAddress(dst))),
            (90, UdpError::TooBig(3)),
        ] {
            let e = Error::from_raw_os_error(errno);
            assert_eq!(send_error(mapped, 3, &e), expected, "errno {errno}");
        }
    }

    /// A write after our own shutdown fails with the error kind std's
    /// `TcpStream` gives for it (`EPIPE`: `BrokenPipe`), to code generic
    /// over `embedded-io`, not `NotConnected` (a socket never connected).
    #[test]
    fn a_write_after_shutdown_is_a_broken_pipe_as_in_std() {
        use embedded_io::Error as _;
        use std::io::Write as _;
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let (mut flow, _peer) = connected().await;
            flow.shutdown_write().await.unwrap();
            let ours = flow.write(b"late").await.unwrap_err().kind();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut std_flow =
                std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            std_flow.shutdown(std::net::Shutdown::Write).unwrap();
            let std_kind = std_flow.write(b"late").unwrap_err().kind();
            assert_eq!(std_kind, std::io::ErrorKind::BrokenPipe);
            assert_eq!(ours, embedded_io::ErrorKind::BrokenPipe);
        })
        .unwrap();
    }

    /// `--ipv4-only` with `--ipv6-only`: the socket stack refuses to start,
    /// as the direct stack does.
    #[test]
    fn a_socket_stack_with_both_families_switched_off_refuses_to_start() {
        let refused = super::SocketStack::connect(None, None, true, true).err();
        let expected =
            crate::net::device::NetError::Device(crate::net::stack::NO_FAMILY_LEFT.into());
        assert_eq!(
            refused,
            Some(crate::net::udp::UdpError::Ip(crate::net::ip::IpError::Net(
                expected
            )))
        );
    }

    /// `connect(2)`'s own `EADDRNOTAVAIL` is the kernel out of ephemeral
    /// ports: `NoPortAvailable`, as the direct stack says; from `bind`, it
    /// is an address not ours (`Unaddressable`). (Loopback's ports cannot
    /// be exhausted in a test: the mapping is tested.)
    #[test]
    fn a_connect_with_no_port_left_is_no_port_available() {
        use super::{connect_error, tcp_error};
        let e = std::io::Error::from_raw_os_error(99);
        assert_eq!(connect_error("connect", &e), TcpError::NoPortAvailable);
        assert_eq!(tcp_error("bind", &e), TcpError::Unaddressable);
        let refused = std::io::Error::from_raw_os_error(111);
        assert_eq!(connect_error("connect", &refused), TcpError::Refused);
    }

    /// An `ENETUNREACH` the network sent (an ICMP network unreachable
    /// for a connect's SYN, as `SO_ERROR`, or ending a flow) is
    /// `NetworkUnreachable`, as the direct stack says for that ICMP error;
    /// a connect's missing route, told at once, stays `Unaddressable`.
    #[test]
    fn a_network_unreachable_from_the_network_is_the_direct_stacks() {
        use super::{network_error, tcp_error};
        use std::io::Error;
        let e = Error::from_raw_os_error(101);
        assert_eq!(network_error("connect", &e), TcpError::NetworkUnreachable);
        assert_eq!(tcp_error("connect", &e), TcpError::Unaddressable);
        let e = Error::from_raw_os_error(113);
        assert_eq!(network_error("connect", &e), TcpError::HostUnreachable);
    }

    /// The kernel's errors map to the direct stack's for the same events.
    #[test]
    fn kernel_errors_map_to_the_direct_stacks() {
        use super::tcp_error;
        use std::io::Error;
        // (Linux's numbers: EHOSTUNREACH, ECONNREFUSED, ETIMEDOUT, EPIPE,
        // ECONNRESET, EMFILE, EACCES and EPERM. The last two, a privileged
        // port or a firewall's refusal, were a closed connection before;
        // tests run as root, which may bind any port, hence the mapping.)
        for (errno, expected) in [
            (113, TcpError::HostUnreachable),
            (111, TcpError::Refused),
            (110, TcpError::TimedOut),
            (32, TcpError::Closed),
            (104, TcpError::Reset),
            (24, TcpError::TooManyConnections),
            (13, TcpError::PermissionDenied),
            (1, TcpError::PermissionDenied),
        ] {
            assert_eq!(
                tcp_error("test", &Error::from_raw_os_error(errno)),
                expected,
                "errno {errno}"
            );
        }
    }

    /// `consecutive_timeouts` is the kernel's count of retransmission
    /// timeouts in a row (`tcpi_retransmits`): 0 on a live connection; with
    /// loopback down, in a network namespace of the test thread's own, it
    /// climbs as the kernel's resends go nowhere, and it is 0 again once
    /// loopback is back and the data acknowledged. Without the namespace
    /// (not root) it says SKIPPED.
    #[test]
    #[allow(unsafe_code)]
    fn consecutive_timeouts_are_the_kernels_count() {
        use std::string::String;
        use std::time::{Duration, Instant};
        use std::{eprintln, format};
        let lo = |state: &str| -> Result<(), String> {
            let status = std::process::Command::new("ip")
                .args(["link", "set", "lo", state])
                .status()
                .map_err(|e| format!("ip: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("ip link set lo {state}: {status}"))
            }
        };
        // Waits (up to 60 s) until `flow`'s count satisfies `done`.
        let wait = |flow: &SocketFlow, done: &dyn Fn(u32) -> bool| {
            let start = Instant::now();
            loop {
                let n = flow.consecutive_timeouts().unwrap();
                if done(n) {
                    return n;
                }
                assert!(start.elapsed() < Duration::from_secs(60), "stuck at {n}");
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let outcome = std::thread::spawn(move || {
            // SAFETY: unshare(2) with a constant flag; it changes only this
            // thread's network namespace, which ends with the thread.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(format!("unshare: {}", std::io::Error::last_os_error()));
            }
            lo("up")?;
            let ex = Executor::new(UnixPlatform);
            ex.block_on(async move {
                let (mut flow, mut peer) = connected().await;
                assert_eq!(flow.consecutive_timeouts(), Ok(0));
                lo("down").unwrap();
                flow.write_all(&[7; 100]).await.unwrap();
                // (Timeouts at about 0.2, 0.6 and 1.4 s.)
                assert!(wait(&flow, &|n| n >= 3) >= 3);
                lo("up").unwrap();
                assert_eq!(wait(&flow, &|n| n == 0), 0);
                let mut got = [0u8; 100];
                peer.read_exact(&mut got).await.unwrap();
                assert_eq!(got, [7; 100]);
            })
            .unwrap();
            Ok(())
        })
        .join()
        .unwrap();
        if let Err(why) = outcome {
            eprintln!("SKIPPED consecutive_timeouts_are_the_kernels_count: {why}");
        }
    }

    /// The data segments `stream` sent (`TCP_INFO`'s `tcpi_data_segs_out`,
    /// retransmissions included).
    fn data_segs_out(stream: &std::net::TcpStream) -> u32 {
        super::sys_socket::tcp_info(stream)
            .expect("TCP_INFO")
            .tcpi_data_segs_out
    }

    /// `writev` hands every buffer to the kernel in one vectored write, as
    /// the direct stack queues them together: small buffers leave in one
    /// segment with Nagle's algorithm on (written one by one, the first
    /// went alone and the rest in another segment). More buffers than one
    /// `writev(2)` takes (1,024), and more bytes than the socket's buffers
    /// hold (partial writes), carry the stream intact and in order; empty
    /// buffers are skipped; after our shutdown and after a reset, the
    /// errors are `write`'s, and no bytes at all is `Ok`.
    #[test]
    fn writev_sends_its_buffers_together() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let (mut flow, mut peer) = connected().await;
            let before = data_segs_out(&flow.stream);
            flow.writev(&[b"GET / HTTP/1.1\r\n", b"", b"Host: b\r\n\r\n"])
                .await
                .unwrap();
            let mut got = [0u8; 27];
            peer.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"GET / HTTP/1.1\r\nHost: b\r\n\r\n");
            assert_eq!(data_segs_out(&flow.stream) - before, 1);
            // 2,500 buffers of up to 6,700 bytes, some empty: about 8 MiB.
            let lens: Vec<usize> = (0..2500).map(|i| (i * 37) % 6701).collect();
            let total: usize = lens.iter().sum();
            let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
            let mut bufs = Vec::new();
            let mut at = 0;
            for len in lens {
                bufs.push(&data[at..at + len]);
                at += len;
            }
            let (mut r, _) = peer.split();
            let (sent, back) = join(flow.writev(&bufs), receive(&mut r, total)).await;
            sent.unwrap();
            assert!(back.unwrap() == data, "the stream was not carried intact");
            flow.writev(&[]).await.unwrap();
            flow.shutdown_write().await.unwrap();
            assert_eq!(flow.writev(&[b"late"]).await, Err(TcpError::Closed));
            assert_eq!(flow.writev(&[b""]).await, Ok(()));

            let (mut flow, peer) = connected().await;
            peer.abort().unwrap();
            until_readable(&mut flow).await;
            assert_eq!(flow.writev(&[b"a", b"b"]).await, Err(TcpError::Reset));
            assert_eq!(flow.write(b"x").await, Err(TcpError::Reset));
        })
        .unwrap();
    }

    /// Reads `len` bytes from `r`.
    async fn receive(r: &mut SocketReader<'_>, len: usize) -> Result<Vec<u8>, TcpError> {
        let mut got = Vec::with_capacity(len);
        let mut buf = vec![0u8; 65536];
        while got.len() < len {
            let n = r.read(&mut buf).await?;
            assert!(n > 0, "the stream ended early");
            got.extend_from_slice(&buf[..n]);
        }
        Ok(got)
    }

    /// A socket flow's halves move both directions at once, in one task:
    /// each side writes more than the kernel's buffers hold while reading
    /// what the other writes (one reader-writer doing it in turn would
    /// block on its write for good).
    #[test]
    fn socket_flow_halves_carry_both_directions_at_once() {
        const LEN: usize = 8 << 20;
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let (mut a, mut b) = connected().await;
            let (mut ra, mut wa) = a.split();
            let (mut rb, mut wb) = b.split();
            let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
            let ((sa, sb), (ga, gb)) = join(
                join(wa.write_all(&data), wb.write_all(&data)),
                join(receive(&mut ra, LEN), receive(&mut rb, LEN)),
            )
            .await;
            sa.unwrap();
            sb.unwrap();
            assert!(ga.unwrap() == data);
            assert!(gb.unwrap() == data);
        })
        .unwrap();
    }

    /// `urgent_arrived`, or a panic after ten seconds (a hang otherwise).
    async fn told(flow: &SocketFlow) -> Result<usize, TcpError> {
        use crate::rt::{Either, select};
        match select(flow.urgent_arrived(), sleep_ns(10_000_000_000)).await {
            Either::Left(r) => r,
            Either::Right(()) => panic!("never told of the urgent data"),
        }
    }

    /// A peer's urgent data (`send(2)` with `MSG_OOB`, from a std
    /// `TcpStream`) reaches a socket flow in line, nothing lost (without
    /// `SO_OOBINLINE` Linux takes the last urgent byte out of the stream),
    /// and the flow is told of it and learns where it ends: once per last
    /// urgent byte, exactly, as the reads go past it; at the end of the
    /// stream the wait fails with `Eof`.
    #[test]
    #[allow(unsafe_code)]
    fn a_socket_flow_keeps_urgent_data_in_line_and_tells_of_it() {
        use std::os::fd::AsRawFd;
        fn send_oob(s: &std::net::TcpStream, data: &[u8]) {
            // SAFETY: `data` is live and readable for the call.
            let n = unsafe {
                libc::send(
                    s.as_raw_fd(),
                    data.as_ptr().cast(),
                    data.len(),
                    libc::MSG_OOB,
                )
            };
            assert_eq!(n, data.len() as isize);
        }
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let listener = tcp.bind(0).unwrap();
            let mut peer =
                std::net::TcpStream::connect(("127.0.0.1", listener.local_port())).unwrap();
            let mut flow = listener.accept().await.unwrap();
            assert_eq!(flow.urgent(), Ok(None));
            std::io::Write::write_all(&mut peer, b"abc").unwrap();
            send_oob(&peer, b"URGENT");
            std::io::Write::write_all(&mut peer, b"xyz").unwrap();
            // "abc" and "URGENT": 9 bytes to the last urgent byte.
            assert_eq!(told(&flow).await, Ok(9));
            assert_eq!(flow.urgent(), Ok(Some(9)));
            let mut buf = [0u8; 4];
            flow.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"abcU");
            assert_eq!(flow.urgent(), Ok(Some(5)));
            // A second mark: told again (the first is not told twice).
            send_oob(&peer, b"!");
            assert_eq!(told(&flow).await, Ok(9));
            peer.shutdown(std::net::Shutdown::Write).unwrap();
            let mut got = Vec::new();
            loop {
                let mut b = [0u8; 64];
                let n = flow.read(&mut b).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&b[..n]);
            }
            assert_eq!(got, b"RGENTxyz!");
            assert_eq!(flow.urgent(), Ok(None));
            assert_eq!(told(&flow).await, Err(TcpError::Eof));
        })
        .unwrap();
    }

    /// `write_urgent` sends with `MSG_OOB`: a std `TcpStream` peer (urgent
    /// data out of line, Linux's default) reads the bytes before the last
    /// one in the stream and the last one with `recv(MSG_OOB)`, so the
    /// urgent pointer was after the last byte written; and between two
    /// socket flows, the bytes come in line and the reader is told.
    #[test]
    #[allow(unsafe_code)]
    fn a_socket_flows_urgent_write_marks_its_last_byte() {
        use std::os::fd::AsRawFd;
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = probe.local_addr().unwrap().port();
            let tcp: &'static SocketTcp = leak(SocketTcp::connect(None, None).unwrap());
            let mut flow = tcp.connect(Ipv4Addr::LOCALHOST.into(), port).await.unwrap();
            let (mut peer, _) = probe.accept().unwrap();
            flow.write_all(b"plain").await.unwrap();
            flow.write_urgent(b"urgent!").await.unwrap();
            assert_eq!(flow.write_urgent(b"").await, Ok(()));
            let mut buf = [0u8; 11];
            std::io::Read::read_exact(&mut peer, &mut buf).unwrap();
            assert_eq!(&buf, b"plainurgent");
            let mut oob = [0u8; 8];
            // SAFETY: `oob` is live and writable for its length.
            let n = unsafe {
                libc::recv(
                    peer.as_raw_fd(),
                    oob.as_mut_ptr().cast(),
                    oob.len(),
                    libc::MSG_OOB,
                )
            };
            assert_eq!(n, 1, "{}", std::io::Error::last_os_error());
            assert_eq!(oob[0], b'!');
            // Between two socket flows.
            // Longer than the kernel's buffers take at once: each part is
            // marked as it goes, the last at the end; the reader (which
            // Linux tells of a mark only once its byte arrived) sees urgent
            // data ahead as it reads, never past the end.
            let (mut a, mut b) = connected().await;
            let long: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
            let (w, (got, seen)) = join(a.write_urgent(&long), async {
                let mut got = Vec::new();
                let mut seen = 0;
                let mut buf = vec![0u8; 64 * 1024];
                while got.len() < long.len() {
                    let n = b.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                    if let Some(u) = b.urgent().unwrap() {
                        assert!(got.len() + u <= long.len(), "{u} after {}", got.len());
                        seen += 1;
                    }
                }
                (got, seen)
            })
            .await;
            w.unwrap();
            assert!(got == long);
            assert!(seen > 0);
            assert_eq!(b.urgent(), Ok(None));
            a.write_urgent(b"x").await.unwrap();
            assert_eq!(told(&b).await, Ok(1));
        })
        .unwrap();
    }

    /// A reset ends a socket flow's urgent wait with `Reset`, and the
    /// flow keeps the error.
    #[test]
    fn a_reset_ends_a_socket_flows_urgent_wait() {
        let ex = Executor::new(UnixPlatform);
        ex.block_on(async {
            let (mut flow, peer) = connected().await;
            peer.abort().unwrap();
            assert_eq!(told(&flow).await, Err(TcpError::Reset));
            assert_eq!(flow.urgent(), Err(TcpError::Reset));
            assert_eq!(flow.write_urgent(b"x").await, Err(TcpError::Reset));
            assert_eq!(flow.read(&mut [0u8; 4]).await, Err(TcpError::Reset));
        })
        .unwrap();
    }
}
