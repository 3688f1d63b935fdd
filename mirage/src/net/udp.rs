//! UDP (the seed's `udp` device type; `direct_udp` over an IP layer):
//! sockets bound to a port with a bounded receive queue, a callback
//! listener on top of them, and sending from any local port, with
//! checksums over both families' pseudo-headers.
//!
//! Received datagrams are copied once, from the device's frame into the
//! socket's queue (a full queue drops and counts); sending writes the
//! header and the payload straight into the device's frame.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::future::poll_fn;
use core::net::IpAddr;
use core::task::Poll;

use crate::net::ip::{
    Datagram, IcmpError, IcmpErrorKind, Ip, IpError, MAX_DSCP, SendOptions, protocol,
};
use crate::net::wire::checksum::PseudoHeader;
use crate::net::wire::udp::{self as wire, HEADER_LEN};
use crate::rt::Waiters;

/// The addresses and ports of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The sender.
    pub src: IpAddr,
    /// The sender's port.
    pub src_port: u16,
    /// The address it was sent to (ours, or a broadcast/multicast one).
    pub dst: IpAddr,
    /// The port it was sent to.
    pub dst_port: u16,
    /// The type of service (IPv4) or traffic class (IPv6) byte it arrived
    /// with (RFC 1122 section 3.2.1.6): the DiffServ codepoint in the high
    /// 6 bits (`tos >> 2`), the ECN bits in the low 2. (0 on the socket
    /// stack when the kernel does not tell it.)
    pub tos: u8,
}

/// An ICMP error about a datagram a socket sent (RFC 1122 section
/// 4.1.3.3: UDP MUST pass every ICMP error it receives to the
/// application), as [`UdpSocket::take_error`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendError {
    /// What the network said (port unreachable: nobody listens there).
    pub kind: IcmpErrorKind,
    /// The datagram's destination address and port, when known (always
    /// on the direct stack; on the socket stack when the kernel says,
    /// which Linux does).
    pub dst: Option<(IpAddr, u16)>,
}

/// Why a UDP operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpError {
    /// The port is bound already.
    PortInUse(u16),
    /// No ephemeral port is free.
    NoPortLeft,
    /// The datagram is longer than UDP allows (65507 bytes of payload).
    TooBig(usize),
    /// The IP layer could not send it.
    Ip(IpError),
    /// The socket's stack is gone.
    Closed,
    /// An argument out of its range: a DiffServ codepoint above 63
    /// ([`Udp::write_dscp`]), or destination port 0 (reserved; no
    /// listener can have it: Linux's `EINVAL`).
    InvalidArgument,
}

impl fmt::Display for UdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdpError::PortInUse(p) => write!(f, "UDP port {p} is in use"),
            UdpError::NoPortLeft => f.write_str("no ephemeral UDP port is free"),
            UdpError::TooBig(len) => write!(f, "UDP payload of {len} bytes is too big"),
            UdpError::Ip(e) => write!(f, "UDP: {e}"),
            UdpError::Closed => f.write_str("UDP socket closed"),
            UdpError::InvalidArgument => f.write_str("UDP: invalid argument"),
        }
    }
}

impl From<IpError> for UdpError {
    fn from(e: IpError) -> Self {
        UdpError::Ip(e)
    }
}

/// Refuses what no datagram may carry, on both stacks:
/// [`UdpError::InvalidArgument`] for a DiffServ codepoint above 63 or
/// destination port 0 (reserved: no listener can have it; Linux's
/// `EINVAL`).
#[inline(always)]
pub fn check_write(dscp: u8, dst_port: u16) -> Result<(), UdpError> {
    if dscp > MAX_DSCP || dst_port == 0 {
        return Err(UdpError::InvalidArgument);
    }
    Ok(())
}

/// The largest UDP payload (over IPv4: 65535 - 20 - 8).
pub const MAX_PAYLOAD: usize = 65507;

/// The seed's `udp` device type (`Tcpip.Udp.S`): what applications use,
/// over this stack or the host's sockets.
pub trait Udp {
    /// A bound socket.
    type Socket: UdpSocket;

    /// Binds `port` (0: an ephemeral port) for receiving.
    fn bind(&'static self, port: u16) -> Result<Self::Socket, UdpError>;

    /// Sends `data` to `dst:dst_port` from `src_port` (an ephemeral port
    /// when `None` or 0). An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the
    /// IPv4 host, on both stacks. Destination port 0 is
    /// [`UdpError::InvalidArgument`] (nothing is sent).
    async fn write(
        &self,
        src_port: Option<u16>,
        dst: IpAddr,
        dst_port: u16,
        data: &[u8],
    ) -> Result<(), UdpError>;

    /// [`Udp::write`] with the DiffServ codepoint `dscp` (RFC 2474; 0 to
    /// 63) in the IP header: the type of service or traffic class byte is
    /// `dscp << 2`, the ECN bits 0 (not ECN-capable), as MirageOS's
    /// `Udp.write` takes an optional `?ttl`. A value above 63 is
    /// [`UdpError::InvalidArgument`] (nothing is sent). A socket writes
    /// with its own port as `src_port`.
    async fn write_dscp(
        &self,
        src_port: Option<u16>,
        dst: IpAddr,
        dst_port: u16,
        dscp: u8,
        data: &[u8],
    ) -> Result<(), UdpError>;

    /// Runs `handler` for every datagram received on `port` (the seed's
    /// `listen`), in a task of its own, until the unikernel stops (the
    /// task keeps the port bound) or receiving fails (the socket stack's
    /// I/O errors). The handler sees at most [`MAX_PAYLOAD`] bytes of a
    /// datagram.
    async fn listen<F>(&'static self, port: u16, mut handler: F) -> Result<(), UdpError>
    where
        F: AsyncFnMut(Meta, &[u8]) + 'static,
        Self::Socket: 'static,
    {
        let socket = self.bind(port)?;
        let spawner = crate::rt::Spawner::for_current_executor().await;
        spawner.spawn(async move {
            let mut buf = alloc::vec![0u8; MAX_PAYLOAD];
            while let Ok((n, meta)) = socket.recv_from(&mut buf).await {
                handler(meta, &buf[..n]).await;
            }
        });
        Ok(())
    }
}

/// A bound UDP socket.
pub trait UdpSocket {
    /// The local port.
    fn local_port(&self) -> u16;

    /// Waits for the next datagram and copies it into `buf` (cut to
    /// `buf`'s length); its length as copied and its addresses.
    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, Meta), UdpError>;

    /// [`UdpSocket::recv_from`] without waiting: `None` when no datagram
    /// is queued.
    fn try_recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, Meta)>, UdpError>;

    /// Sends `data` from this socket's port to `dst:dst_port`.
    async fn send_to(&self, data: &[u8], dst: IpAddr, dst_port: u16) -> Result<(), UdpError>;

    /// Takes the last ICMP error received about a datagram this socket
    /// sent, if one came since the last call (as `SO_ERROR`, std's
    /// `UdpSocket::take_error`): on the direct stack, every destination
    /// unreachable, packet too big, time exceeded and parameter problem
    /// quoting one of its datagrams (RFC 1122 section 4.1.3.3). The socket
    /// stack asks Linux for the same (`IP_RECVERR`, `IPV6_RECVERR` on its
    /// bound sockets: Linux tells an unconnected socket of none without
    /// them) and gives them alike, with the datagram's destination; the
    /// errors never fail a receive there either.
    fn take_error(&self) -> Option<SendError>;
}

/// How a received datagram was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued on the socket bound to its port.
    Delivered,
    /// No socket is bound to its port (ICMP may say so).
    NoListener,
    /// The socket's queue was full: dropped.
    QueueFull,
    /// It did not parse (length, checksum): dropped.
    Malformed,
}

/// The UDP counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpStats {
    /// Datagrams queued on a socket.
    pub delivered: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams for a port nobody listens on.
    pub no_listener: u64,
    /// Datagrams dropped because the socket's queue was full.
    pub queue_full: u64,
    /// Datagrams that did not parse.
    pub malformed: u64,
    /// ICMP errors about a datagram of a bound socket, kept for
    /// [`UdpSocket::take_error`].
    pub icmp_errors: u64,
    /// ICMP errors about a datagram of no bound socket (a listener's, or
    /// one sent by [`Udp::write`] from an ephemeral port), or that did not
    /// parse.
    pub icmp_errors_ignored: u64,
}

/// The bounds of each socket's receive queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Datagrams queued per socket.
    pub queue_datagrams: usize,
    /// Payload bytes queued per socket.
    pub queue_bytes: usize,
}

impl Default for Config {
    /// 256 datagrams and 256 KiB per socket.
    fn default() -> Self {
        Config {
            queue_datagrams: 256,
            queue_bytes: 256 * 1024,
        }
    }
}

struct Socket {
    queue: VecDeque<(Meta, Vec<u8>)>,
    bytes: usize,
    /// The receives waiting: several tasks may receive on one socket, and
    /// each is woken by the next datagram; a receive dropped while waiting
    /// takes its waker out.
    waiters: Waiters,
}

struct State {
    sockets: BTreeMap<u16, Socket>,
    /// Emptied buffers of delivered datagrams, reused for new ones.
    free: Vec<Vec<u8>>,
    next_ephemeral: u16,
    stats: UdpStats,
    /// The last ICMP error about a datagram of each bound socket that had
    /// one, not yet taken (at most one per bound port).
    errors: Vec<(u16, SendError)>,
}

/// The first ephemeral port (RFC 6335).
const EPHEMERAL_FIRST: u16 = 49152;

/// UDP over the IP layer `I` (MirageOS's `Udp.Make`).
pub struct DirectUdp<I: 'static> {
    ip: &'static I,
    config: Config,
    state: RefCell<State>,
}

impl<I> fmt::Debug for DirectUdp<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("DirectUdp")
            .field("ports", &state.sockets.keys().collect::<Vec<_>>())
            .field("stats", &state.stats)
            .finish_non_exhaustive()
    }
}

impl<I: Ip> DirectUdp<I> {
    /// UDP over `ip`; `seed` (from the random device) picks where the
    /// ephemeral ports start.
    pub fn connect(ip: &'static I, seed: u32) -> Self {
        Self::connect_with(ip, seed, Config::default())
    }

    /// UDP over `ip` with the queue bounds of `config`.
    pub fn connect_with(ip: &'static I, seed: u32, config: Config) -> Self {
        let span = u32::from(u16::MAX - EPHEMERAL_FIRST) + 1;
        DirectUdp {
            ip,
            config,
            state: RefCell::new(State {
                sockets: BTreeMap::new(),
                free: Vec::new(),
                errors: Vec::new(),
                next_ephemeral: EPHEMERAL_FIRST + (seed % span) as u16,
                stats: UdpStats::default(),
            }),
        }
    }

    /// The counters.
    pub fn stats(&self) -> UdpStats {
        self.state.borrow().stats
    }

    /// The IP layer below.
    pub fn ip(&self) -> &'static I {
        self.ip
    }

    fn ephemeral(state: &mut State) -> Result<u16, UdpError> {
        for _ in EPHEMERAL_FIRST..=u16::MAX {
            let port = state.next_ephemeral;
            state.next_ephemeral = if port == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                port + 1
            };
            if !state.sockets.contains_key(&port) {
                return Ok(port);
            }
        }
        Err(UdpError::NoPortLeft)
    }

    /// Sends a datagram of `len` payload bytes without waiting: `fill`
    /// writes the payload in place (zero-copy), from `src_port` (an
    /// ephemeral port when `None` or 0). `Ok(false)` when the device could
    /// not take it now.
    pub fn send_with(
        &self,
        src: Option<IpAddr>,
        src_port: Option<u16>,
        dst: IpAddr,
        dst_port: u16,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<bool, UdpError> {
        self.send_with_dscp(src, src_port, dst, dst_port, 0, len, fill)
    }

    /// [`DirectUdp::send_with`] with the DiffServ codepoint `dscp` (0 to
    /// 63; [`UdpError::InvalidArgument`] above): see [`Udp::write_dscp`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn send_with_dscp(
        &self,
        src: Option<IpAddr>,
        src_port: Option<u16>,
        dst: IpAddr,
        dst_port: u16,
        dscp: u8,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<bool, UdpError> {
        check_write(dscp, dst_port)?;
        if len > MAX_PAYLOAD {
            return Err(UdpError::TooBig(len));
        }
        let src_port = match src_port {
            Some(p) if p != 0 => p,
            _ => Self::ephemeral(&mut self.state.borrow_mut())?,
        };
        let total = HEADER_LEN + len;
        let sent = self.ip.send(
            src,
            dst,
            protocol::UDP,
            SendOptions {
                dscp,
                ..SendOptions::default()
            },
            total,
            Self::datagram(src_port, dst, dst_port, total, fill),
        )?;
        self.count_sent(sent);
        Ok(sent)
    }

    /// Writes a datagram into the buffer the IP layer lends: the payload
    /// first, then the header with its checksum.
    fn datagram(
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
        total: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> impl FnOnce(IpAddr, &mut [u8]) {
        move |src, buf| {
            let buf = &mut buf[..total];
            fill(&mut buf[HEADER_LEN..]);
            let ph = PseudoHeader::new(src, dst);
            wire::Packet::new_unchecked(buf).emit_header(src_port, dst_port, ph.as_ref());
        }
    }

    fn count_sent(&self, sent: bool) {
        if sent {
            self.state.borrow_mut().stats.sent += 1;
        }
    }

    /// [`DirectUdp::send`] from `src_port` if the destination's neighbour is
    /// resolved already: `None` (nothing sent) when it is not.
    // (Inlined: `write`'s codepoint, 0, is then a constant.)
    #[inline(always)]
    fn send_resolved(
        &self,
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
        dscp: u8,
        data: &[u8],
    ) -> Option<Result<bool, UdpError>> {
        if data.len() > MAX_PAYLOAD {
            return Some(Err(UdpError::TooBig(data.len())));
        }
        let total = HEADER_LEN + data.len();
        let sent = self.ip.send_resolved(
            None,
            dst,
            protocol::UDP,
            SendOptions {
                dscp,
                ..SendOptions::default()
            },
            total,
            Self::datagram(src_port, dst, dst_port, total, |buf| {
                buf.copy_from_slice(data)
            }),
        )?;
        Some(match sent {
            Ok(sent) => {
                self.count_sent(sent);
                Ok(sent)
            }
            Err(e) => Err(e.into()),
        })
    }

    /// Sends `data` without waiting (see [`DirectUdp::send_with`]).
    pub fn send(
        &self,
        src_port: Option<u16>,
        dst: IpAddr,
        dst_port: u16,
        data: &[u8],
    ) -> Result<bool, UdpError> {
        self.send_with(None, src_port, dst, dst_port, data.len(), |buf| {
            buf.copy_from_slice(data)
        })
    }

    /// Handles a received UDP datagram: checks it and queues it on the
    /// socket bound to its port.
    // Inlined into the caller: the parsed fields stay in registers
    // (returned through memory, they were stored narrowly and loaded
    // wide: store-forwarding stalls on every packet).
    #[inline(always)]
    pub fn input(&self, datagram: &Datagram<'_>) -> Delivery {
        let Some(ph) = PseudoHeader::new(datagram.src, datagram.dst) else {
            return Delivery::Malformed;
        };
        let parsed =
            wire::Packet::new_checked(&*datagram.payload).and_then(|p| wire::Repr::parse(&p, &ph));
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let Ok(repr) = parsed else {
            state.stats.malformed += 1;
            return Delivery::Malformed;
        };
        let Some(socket) = state.sockets.get_mut(&repr.dst_port) else {
            state.stats.no_listener += 1;
            return Delivery::NoListener;
        };
        let len = repr.payload.len();
        if socket.queue.len() >= self.config.queue_datagrams
            || socket.bytes + len > self.config.queue_bytes
        {
            state.stats.queue_full += 1;
            return Delivery::QueueFull;
        }
        let mut buf = state.free.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(repr.payload);
        socket.bytes += len;
        socket.queue.push_back((
            Meta {
                src: datagram.src,
                src_port: repr.src_port,
                dst: datagram.dst,
                dst_port: repr.dst_port,
                tos: datagram.tos,
            },
            buf,
        ));
        socket.waiters.wake_all();
        state.stats.delivered += 1;
        Delivery::Delivered
    }

    /// Takes an ICMP error the IP layer passed up (RFC 1122 section
    /// 4.1.3.3): if it quotes a datagram sent from a bound socket's port,
    /// the socket keeps it for [`UdpSocket::take_error`] (the last one
    /// wins, as `SO_ERROR`); otherwise it is counted.
    pub fn icmp_error(&self, error: &IcmpError<'_>) {
        let mut state = self.state.borrow_mut();
        let quoted = wire::Quoted::parse(error.quoted);
        let bound = quoted
            .ok()
            .filter(|q| self.ip.has_address(q.src) && state.sockets.contains_key(&q.src_port));
        match bound {
            Some(q) => {
                let e = SendError {
                    kind: error.kind,
                    dst: Some((q.dst, q.dst_port)),
                };
                // (Kept apart from the sockets, off the receive path.)
                match state.errors.iter_mut().find(|(p, _)| *p == q.src_port) {
                    Some((_, kept)) => *kept = e,
                    None => state.errors.push((q.src_port, e)),
                }
                state.stats.icmp_errors += 1;
            }
            None => state.stats.icmp_errors_ignored += 1,
        }
    }

    /// Takes the next datagram of `port` into `buf`.
    fn take(&self, port: u16, buf: &mut [u8]) -> Result<Option<(usize, Meta)>, UdpError> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let socket = state.sockets.get_mut(&port).ok_or(UdpError::Closed)?;
        let Some((meta, data)) = socket.queue.pop_front() else {
            return Ok(None);
        };
        socket.bytes -= data.len();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        if state.free.len() < self.config.queue_datagrams {
            state.free.push(data);
        }
        Ok(Some((n, meta)))
    }
}

impl<I: Ip> Udp for DirectUdp<I> {
    type Socket = DirectSocket<I>;

    fn bind(&'static self, port: u16) -> Result<DirectSocket<I>, UdpError> {
        let mut state = self.state.borrow_mut();
        let port = match port {
            0 => Self::ephemeral(&mut state)?,
            p if state.sockets.contains_key(&p) => return Err(UdpError::PortInUse(p)),
            p => p,
        };
        state.sockets.insert(
            port,
            Socket {
                queue: VecDeque::new(),
                bytes: 0,
                waiters: Waiters::default(),
            },
        );
        Ok(DirectSocket { udp: self, port })
    }

    async fn write(
        &self,
        src_port: Option<u16>,
        dst: IpAddr,
        dst_port: u16,
        data: &[u8],
    ) -> Result<(), UdpError> {
        check_write(0, dst_port)?;
        // (An IPv4-mapped address is the IPv4 host, as to the socket
        // stack's dual-stack sockets: it must not go on the wire.)
        let dst = dst.to_canonical();
        // (Port 0: an ephemeral port, as the socket stack's kernel binds
        // it; no reply could reach port 0.)
        let src_port = src_port.filter(|&p| p != 0);
        // Without waiting when the neighbour is known (the common case):
        // no resolution to await.
        if let Some(port) = src_port
            && let Some(sent) = self.send_resolved(port, dst, dst_port, 0, data)
        {
            return sent.map(drop);
        }
        self.ip.resolve(dst).await?;
        self.send(src_port, dst, dst_port, data).map(drop)
    }

    async fn write_dscp(
        &self,
        src_port: Option<u16>,
        dst: IpAddr,
        dst_port: u16,
        dscp: u8,
        data: &[u8],
    ) -> Result<(), UdpError> {
        // (As `write`.)
        check_write(dscp, dst_port)?;
        let dst = dst.to_canonical();
        let src_port = src_port.filter(|&p| p != 0);
        if let Some(port) = src_port
            && let Some(sent) = self.send_resolved(port, dst, dst_port, dscp, data)
        {
            return sent.map(drop);
        }
        self.ip.resolve(dst).await?;
        self.send_with_dscp(None, src_port, dst, dst_port, dscp, data.len(), |buf| {
            buf.copy_from_slice(data)
        })
        .map(drop)
    }
}

/// A socket of [`DirectUdp`]: unbinds its port when dropped.
pub struct DirectSocket<I: 'static> {
    udp: &'static DirectUdp<I>,
    port: u16,
}

impl<I> fmt::Debug for DirectSocket<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectSocket")
            .field("port", &self.port)
            .finish()
    }
}

impl<I> Drop for DirectSocket<I> {
    fn drop(&mut self) {
        let mut state = self.udp.state.borrow_mut();
        state.sockets.remove(&self.port);
        let port = self.port;
        state.errors.retain(|(p, _)| *p != port);
    }
}

/// The registration of a [`DirectSocket::recv_from`] future's waker,
/// taken out when the future is dropped or done.
struct RecvWaiter<I: 'static> {
    udp: &'static DirectUdp<I>,
    port: u16,
    /// (0: none yet.)
    token: u64,
}

impl<I> Drop for RecvWaiter<I> {
    fn drop(&mut self) {
        if self.token == 0 {
            return;
        }
        if let Ok(mut state) = self.udp.state.try_borrow_mut()
            && let Some(socket) = state.sockets.get_mut(&self.port)
        {
            socket.waiters.cancel(self.token);
        }
    }
}

impl<I: Ip> UdpSocket for DirectSocket<I> {
    fn local_port(&self) -> u16 {
        self.port
    }

    /// Several tasks may wait on one socket: each is woken by the next
    /// datagram. A receive dropped while waiting leaves no waker behind.
    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, Meta), UdpError> {
        let mut waiter = RecvWaiter {
            udp: self.udp,
            port: self.port,
            token: 0,
        };
        let token = &mut waiter.token;
        poll_fn(|cx| match self.udp.take(self.port, buf) {
            Ok(Some(got)) => {
                // (A datagram queued after this registered: `input` took
                // every waker out. Nothing for the drop to do.)
                *token = 0;
                Poll::Ready(Ok(got))
            }
            Ok(None) => {
                let mut state = self.udp.state.borrow_mut();
                if let Some(socket) = state.sockets.get_mut(&self.port) {
                    socket.waiters.register(token, cx.waker());
                }
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        })
        .await
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, Meta)>, UdpError> {
        self.udp.take(self.port, buf)
    }

    async fn send_to(&self, data: &[u8], dst: IpAddr, dst_port: u16) -> Result<(), UdpError> {
        self.udp.write(Some(self.port), dst, dst_port, data).await
    }

    fn take_error(&self) -> Option<SendError> {
        let mut state = self.udp.state.borrow_mut();
        let i = state.errors.iter().position(|(p, _)| *p == self.port)?;
        Some(state.errors.swap_remove(i).1)
    }
}
