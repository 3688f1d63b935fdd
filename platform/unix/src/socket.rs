//! Non-blocking TCP sockets the standard library cannot make: a connect
//! that returns at once (`EINPROGRESS`), whose outcome the caller learns by
//! waiting for writability and reading `SO_ERROR`
//! (`TcpStream::take_error`); and the keep-alive options, which it cannot
//! set either.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Starts a connection to `addr` on a new non-blocking socket, from the
/// address `from` if given (bound first, on an ephemeral port; otherwise
/// the kernel chooses), and returns the socket at once: connected, or
/// connecting (wait until it is writable, then check `take_error`).
///
/// # Errors
///
/// The error of `socket(2)`, `bind(2)` (`EADDRNOTAVAIL`: `from` is not
/// this host's) or `connect(2)`.
pub fn connect_nonblocking(addr: SocketAddr, from: Option<IpAddr>) -> io::Result<TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let raw = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if let Some(from) = from {
        let (storage, len) = sockaddr(&SocketAddr::new(from, 0));
        // SAFETY: `storage` holds a valid socket address of `len` bytes;
        // the descriptor is open.
        let rc = unsafe { libc::bind(raw, (&raw const storage).cast::<libc::sockaddr>(), len) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let stream = TcpStream::from(fd);
    let (storage, len) = sockaddr(&addr);
    // SAFETY: `storage` holds a valid socket address of `len` bytes for
    // the socket's family; the descriptor is open.
    let rc = unsafe {
        libc::connect(
            std::os::fd::AsRawFd::as_raw_fd(&stream),
            (&raw const storage).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc == 0 {
        return Ok(stream);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINPROGRESS) {
        Ok(stream)
    } else {
        Err(err)
    }
}

/// A TCP socket listening on the IPv6 `addr`, for IPv6 connections only
/// if `v6_only` (`IPV6_V6ONLY`: a dual-stack host's IPv4 ones are not
/// taken) and for both families otherwise, whatever the host's default
/// (`net.ipv6.bindv6only`, which the standard library's `bind` follows);
/// with `SO_REUSEADDR` and the backlog the standard library's listeners
/// have (128).
///
/// # Errors
///
/// The error of `socket(2)`, `setsockopt(2)`, `bind(2)` (`AddrInUse`) or
/// `listen(2)`.
pub fn listen_ipv6(addr: SocketAddrV6, v6_only: bool) -> io::Result<TcpListener> {
    let fd = bind_ipv6(addr, libc::SOCK_STREAM, v6_only)?;
    // SAFETY: listen(2) on the open descriptor `fd` owns.
    if unsafe { libc::listen(fd.as_raw_fd(), 128) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}

/// A UDP socket bound to the IPv6 `addr`, for IPv6 datagrams only if
/// `v6_only` and for both families otherwise, as [`listen_ipv6`].
///
/// # Errors
///
/// The error of `socket(2)`, `setsockopt(2)` or `bind(2)` (`AddrInUse`).
pub fn bind_udp_ipv6(addr: SocketAddrV6, v6_only: bool) -> io::Result<UdpSocket> {
    bind_ipv6(addr, libc::SOCK_DGRAM, v6_only).map(UdpSocket::from)
}

/// A new IPv6 socket of `kind` with `IPV6_V6ONLY` set to `v6_only`, bound
/// to `addr` (stream sockets with `SO_REUSEADDR`, as the standard library
/// binds them).
fn bind_ipv6(addr: SocketAddrV6, kind: libc::c_int, v6_only: bool) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET6, kind | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    setsockopt(
        raw,
        libc::IPPROTO_IPV6,
        libc::IPV6_V6ONLY,
        u32::from(v6_only),
    )?;
    if kind == libc::SOCK_STREAM {
        setsockopt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    }
    let (storage, len) = sockaddr(&SocketAddr::V6(addr));
    // SAFETY: `storage` holds a valid IPv6 socket address of `len` bytes;
    // the descriptor is open.
    let rc = unsafe { libc::bind(raw, (&raw const storage).cast::<libc::sockaddr>(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// `addr` as a `sockaddr_storage` and its length.
fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and
            // suitably aligned for it.
            unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in>(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and
            // suitably aligned for it.
            unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in6>(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Makes closing `stream` reset the connection (`SO_LINGER` with a zero
/// time): the peer gets an RST instead of a FIN, and unsent data is
/// dropped.
///
/// # Errors
///
/// The error of `setsockopt(2)`.
pub fn reset_on_close(stream: &TcpStream) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a live `struct linger` for the whole call, and
    // the length passed is its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the kernel tell the destination address and the type of service
/// (traffic class) byte of each datagram `socket` receives (`IP_PKTINFO`
/// and `IP_RECVTOS`; on an IPv6 socket `IPV6_RECVPKTINFO`, which gives
/// IPv4 datagrams' as IPv4-mapped addresses, and `IPV6_RECVTCLASS`, with
/// `IP_RECVTOS` for the IPv4 datagrams of a dual-stack one), for
/// [`recv_from_to`].
///
/// # Errors
///
/// The error of `getsockname(2)` or `setsockopt(2)`.
pub fn recv_destination(socket: &UdpSocket) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    match socket.local_addr()? {
        SocketAddr::V4(_) => {
            setsockopt(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
            setsockopt(fd, libc::IPPROTO_IP, libc::IP_RECVTOS, 1)
        }
        SocketAddr::V6(_) => {
            setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
            setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, 1)?;
            setsockopt(fd, libc::IPPROTO_IP, libc::IP_RECVTOS, 1)
        }
    }
}

/// The header of a `recvmsg(2)` into `iov`, with the sender's (or, from
/// the error queue, the destination's) address into `name` and control
/// messages into `control`. It points to all three: they must outlive its
/// use.
fn receive_header(
    name: &mut libc::sockaddr_storage,
    iov: &mut libc::iovec,
    control: &mut [u64],
) -> libc::msghdr {
    // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = std::ptr::from_mut(name).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(control) as _;
    msg
}

/// Makes the kernel queue the ICMP errors about the datagrams `socket`
/// sends, with the datagram's destination, for [`take_queued_error`]
/// (`IP_RECVERR`; on an IPv6 socket `IPV6_RECVERR`, and `IP_RECVERR` for
/// the IPv4 datagrams of a dual-stack one). Without it Linux tells an
/// unconnected UDP socket of none. With it, an error also makes the next
/// receive fail once with the error's `errno` (`ECONNREFUSED` for a port
/// unreachable, ...), and the socket polls as in error (`POLLERR`) while
/// errors are queued: a reader takes them off.
///
/// # Errors
///
/// The error of `getsockname(2)` or `setsockopt(2)`.
pub fn recv_errors(socket: &UdpSocket) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    if socket.local_addr()?.is_ipv6() {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)?;
    }
    setsockopt(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1)
}

/// [`QueuedError::origin`] of an ICMP (IPv4) message.
pub const ORIGIN_ICMP: u8 = libc::SO_EE_ORIGIN_ICMP;

/// [`QueuedError::origin`] of an ICMPv6 message.
pub const ORIGIN_ICMP6: u8 = libc::SO_EE_ORIGIN_ICMP6;

/// Whether a UDP receive's error is one Linux makes of an ICMP error
/// (its `icmp_err_convert` and `icmpv6_err_convert`): a report about an
/// earlier send, not a failure of the receive.
pub fn is_icmp_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENETUNREACH
                | libc::EHOSTUNREACH
                | libc::ENOPROTOOPT
                | libc::ECONNREFUSED
                | libc::EMSGSIZE
                | libc::EOPNOTSUPP
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EACCES
                | libc::EPROTO
        )
    )
}

/// An error the kernel queued about a datagram a socket sent
/// ([`recv_errors`]): Linux's `sock_extended_err`, and the datagram's
/// destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedError {
    /// Where it came from: [`ORIGIN_ICMP`], [`ORIGIN_ICMP6`], or another
    /// of Linux's `SO_EE_ORIGIN_*` (`SO_EE_ORIGIN_LOCAL`: this host's own
    /// stack).
    pub origin: u8,
    /// The ICMP message's type (for the ICMP origins).
    pub icmp_type: u8,
    /// The ICMP message's code (for the ICMP origins).
    pub code: u8,
    /// The MTU of a fragmentation needed or packet too big (else 0).
    pub info: u32,
    /// The destination of the datagram the error is about.
    pub dst: Option<SocketAddr>,
}

/// Takes the oldest error queued on the non-blocking `socket`
/// ([`recv_errors`]), if any: `recvmsg(2)` with `MSG_ERRQUEUE`.
///
/// # Errors
///
/// The error of `recvmsg(2)` but `WouldBlock` (nothing queued: `Ok(None)`).
pub fn take_queued_error(socket: &UdpSocket) -> io::Result<Option<QueuedError>> {
    // (An entry without an extended error, which the kernel does not
    // queue for UDP, is skipped: the queue must empty for `POLLERR` to
    // clear.)
    loop {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut dst: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        // (The quoted payload is not wanted: a little room, cut short.)
        let mut payload = [0u8; 8];
        let mut iov = libc::iovec {
            iov_base: payload.as_mut_ptr().cast(),
            iov_len: payload.len(),
        };
        // (Room for the extended error and the offender's address; u64s
        // align it for cmsghdr.)
        let mut control = [0u64; 16];
        let mut msg = receive_header(&mut dst, &mut iov, &mut control);
        // SAFETY: `msg` points to `dst`, `iov` (over `payload`) and `control`,
        // all live and writable for the whole call, with their sizes; the
        // kernel writes within them and updates the lengths.
        let n = unsafe {
            libc::recvmsg(
                socket.as_raw_fd(),
                &raw mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(e);
        }
        let dst = if msg.msg_namelen > 0 {
            socket_addr(&dst).ok()
        } else {
            None
        };
        // SAFETY: `msg` is the header `recvmsg` filled: its control pointer
        // and (updated) length describe the messages the kernel wrote into
        // `control`, which the CMSG_* macros walk within those bounds.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
        while !cmsg.is_null() {
            // SAFETY: `cmsg` is non-null and points to a header within
            // `control` (see above); an extended error's data begins with a
            // `sock_extended_err`, read unaligned.
            unsafe {
                let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
                if (level == libc::IPPROTO_IP && kind == libc::IP_RECVERR)
                    || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_RECVERR)
                {
                    let ee = std::ptr::read_unaligned(
                        libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>(),
                    );
                    return Ok(Some(QueuedError {
                        origin: ee.ee_origin,
                        icmp_type: ee.ee_type,
                        code: ee.ee_code,
                        info: ee.ee_info,
                        dst,
                    }));
                }
                cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
            }
        }
    }
}

/// Receives a datagram into `buf` (cut to its length, as `recv_from`):
/// its length as copied, its sender, the address it was sent to and its
/// type of service (IPv4) or traffic class (IPv6) byte when the kernel
/// tells them ([`recv_destination`]).
///
/// # Errors
///
/// The error of `recvmsg(2)` (`WouldBlock` on a non-blocking socket with
/// nothing queued).
pub fn recv_from_to(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>, Option<u8>)> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // (Room for either packet-info message; u64s align it for cmsghdr.)
    let mut control = [0u64; 16];
    let mut msg = receive_header(&mut from, &mut iov, &mut control);
    // SAFETY: `msg` points to `from`, `iov` (over `buf`) and `control`,
    // all live and writable for the whole call, with their sizes; the
    // kernel writes within them and updates the lengths.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &raw mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let from = socket_addr(&from)?;
    let mut to = None;
    let mut tos = None;
    // SAFETY: `msg` is the header `recvmsg` filled: its control pointer
    // and (updated) length describe the messages the kernel wrote into
    // `control`, which the CMSG_* macros walk within those bounds.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and points to a header within
        // `control` (see above); its data holds the message of its level
        // and type, read unaligned.
        unsafe {
            let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
            let data = libc::CMSG_DATA(cmsg);
            if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
                let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                to = Some(IpAddr::V4(Ipv4Addr::from(
                    info.ipi_addr.s_addr.to_ne_bytes(),
                )));
            } else if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO {
                let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                to = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            } else if level == libc::IPPROTO_IP && kind == libc::IP_TOS {
                // (One byte, as Linux writes it.)
                tos = Some(*data);
            } else if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_TCLASS {
                let tclass = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                tos = Some(tclass as u8);
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    Ok((n as usize, from, to, tos))
}

/// Sends `data` to `to` from `socket` with the type of service (IPv4) or
/// traffic class (IPv6) byte `tos` (an `IP_TOS` or `IPV6_TCLASS` control
/// message of `sendmsg(2)`, by `to`'s family: an IPv4-mapped address is
/// IPv4), for this datagram only; its length as sent.
///
/// # Errors
///
/// The error of `sendmsg(2)` (`WouldBlock` on a non-blocking socket whose
/// buffer is full).
pub fn send_to_tos(socket: &UdpSocket, data: &[u8], to: SocketAddr, tos: u8) -> io::Result<usize> {
    let v4 = match to {
        SocketAddr::V4(_) => true,
        SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
    };
    let (level, kind) = if v4 {
        (libc::IPPROTO_IP, libc::IP_TOS)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS)
    };
    let (mut storage, len) = sockaddr(&to);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // (Room for one message of an int; u64s align it for cmsghdr.)
    let mut control = [0u64; 4];
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut storage).cast();
    msg.msg_namelen = len;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) } as _;
    debug_assert!(msg.msg_controllen as usize <= size_of_val(&control));
    // SAFETY: `msg` describes `control`, large enough for one message of
    // an int (checked above), so the first header lies within it and its
    // data holds an int, written unaligned.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(
            libc::CMSG_DATA(cmsg).cast::<libc::c_int>(),
            libc::c_int::from(tos),
        );
    }
    // SAFETY: `msg` points to `storage`, `iov` (over `data`, which the
    // kernel only reads) and `control`, all live for the whole call, with
    // their sizes.
    let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &raw const msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Sets the type of service (`IP_TOS`) of the IPv4 packets `socket`
/// sends and, when `ipv6` (an IPv6 socket), the traffic class
/// (`IPV6_TCLASS`) of its IPv6 ones: a dual-stack socket's IPv4-mapped
/// traffic takes the former. (On a TCP socket the kernel keeps the ECN
/// bits its own.)
///
/// # Errors
///
/// The error of `setsockopt(2)`.
pub fn set_tos(socket: &impl AsRawFd, ipv6: bool, tos: u8) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    setsockopt(fd, libc::IPPROTO_IP, libc::IP_TOS, u32::from(tos))?;
    if ipv6 {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, u32::from(tos))?;
    }
    Ok(())
}

/// The type of service (`IP_TOS`) of `socket`'s IPv4 packets, or with
/// `ipv6` the traffic class (`IPV6_TCLASS`) of an IPv6 socket's IPv6
/// ones.
///
/// # Errors
///
/// The error of `getsockopt(2)`.
pub fn tos(socket: &impl AsRawFd, ipv6: bool) -> io::Result<u8> {
    let fd = socket.as_raw_fd();
    let v = if ipv6 {
        getsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS)?
    } else {
        getsockopt(fd, libc::IPPROTO_IP, libc::IP_TOS)?
    };
    Ok(v as u8)
}

/// The address in `storage`, as the kernel wrote it.
fn socket_addr(storage: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in,
            // which it is large and aligned enough for.
            let sin = unsafe { &*(&raw const *storage).cast::<libc::sockaddr_in>() };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6,
            // which it is large and aligned enough for.
            let sin6 = unsafe { &*(&raw const *storage).cast::<libc::sockaddr_in6>() };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        family => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("address of family {family}"),
        )),
    }
}

/// Keep-alive times as Linux takes them: whole seconds and a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAliveSecs {
    /// Idle time before the first probe (`TCP_KEEPIDLE`), 1..=32,767.
    pub idle: u32,
    /// Time between unanswered probes (`TCP_KEEPINTVL`), 1..=32,767.
    pub interval: u32,
    /// Unanswered probes before the connection is dropped
    /// (`TCP_KEEPCNT`), 1..=127.
    pub count: u32,
}

/// Turns `SO_KEEPALIVE` on with `times`, or off (`None`).
///
/// # Errors
///
/// The error of `setsockopt(2)`: `EINVAL` for times out of the ranges of
/// [`KeepAliveSecs`].
pub fn set_keepalive(stream: &TcpStream, times: Option<KeepAliveSecs>) -> io::Result<()> {
    let fd = stream.as_raw_fd();
    if let Some(t) = times {
        setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, t.idle)?;
        setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, t.interval)?;
        setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, t.count)?;
    }
    setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_KEEPALIVE,
        u32::from(times.is_some()),
    )
}

/// Sets `stream`'s user timeout (`TCP_USER_TIMEOUT`) to `ms`
/// milliseconds; 0 turns it off.
///
/// # Errors
///
/// The error of `setsockopt(2)`: `EINVAL` for `ms` above `i32::MAX`.
pub fn set_user_timeout(stream: &TcpStream, ms: u32) -> io::Result<()> {
    setsockopt(
        stream.as_raw_fd(),
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        ms,
    )
}

/// The user timeout of `stream` in milliseconds (`TCP_USER_TIMEOUT`; 0:
/// off).
///
/// # Errors
///
/// The error of `getsockopt(2)`.
pub fn user_timeout(stream: &TcpStream) -> io::Result<u32> {
    getsockopt(
        stream.as_raw_fd(),
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
    )
}

/// The keep-alive setting of `stream`: `None` when off.
///
/// # Errors
///
/// The error of `getsockopt(2)`.
pub fn keepalive(stream: &TcpStream) -> io::Result<Option<KeepAliveSecs>> {
    let fd = stream.as_raw_fd();
    if getsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE)? == 0 {
        return Ok(None);
    }
    Ok(Some(KeepAliveSecs {
        idle: getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE)?,
        interval: getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL)?,
        count: getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT)?,
    }))
}

/// Keeps urgent data in line (`SO_OOBINLINE`): without it, Linux takes
/// the last urgent byte a peer sends out of the stream (for
/// `recv(MSG_OOB)`), and a reader of the stream loses it.
///
/// # Errors
///
/// The error of `setsockopt(2)`.
pub fn set_oob_inline(stream: &TcpStream) -> io::Result<()> {
    setsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_OOBINLINE, 1)
}

/// Whether `stream` keeps urgent data in line (`SO_OOBINLINE`).
///
/// # Errors
///
/// The error of `getsockopt(2)`.
pub fn oob_inline(stream: &TcpStream) -> io::Result<bool> {
    Ok(getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_OOBINLINE)? != 0)
}

/// Sends what the non-blocking `stream` takes of `data` as urgent data
/// (`send(2)` with `MSG_OOB`): the bytes go in the stream, and the kernel
/// moves its urgent pointer past the last one taken. Returns how many it
/// took.
///
/// # Errors
///
/// The error of `send(2)`: `WouldBlock` when the send buffer is full.
pub fn send_urgent(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is a live, readable buffer of `data.len()` bytes for
    // the whole call; the kernel only reads it.
    let rc = unsafe {
        libc::send(
            stream.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_OOB | libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// Takes up to `len` bytes off the non-blocking `stream` without copying
/// them anywhere (`recv(2)` with `MSG_TRUNC`, which Linux's TCP reads as
/// "discard", since 2.4): for bytes already looked at with a peek. Returns
/// how many it took (0 at the end of the stream).
///
/// # Errors
///
/// The error of `recv(2)`: `WouldBlock` when nothing is held.
pub fn discard(stream: &TcpStream, len: usize) -> io::Result<usize> {
    // SAFETY: with `MSG_TRUNC` the kernel copies nothing into the buffer (a
    // null one: no memory is named), it only takes the bytes off;
    // `MSG_DONTWAIT` returns at once.
    let rc = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::MSG_TRUNC | libc::MSG_DONTWAIT,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// `SIOCATMARK` (asm-generic's `sockios.h`; the `libc` crate has it for
/// Apple systems only).
const SIOCATMARK: libc::c_ulong = 0x8905;

/// What the kernel tells of the urgent data `stream` (with
/// [`set_oob_inline`]) received: Linux keeps one urgent mark, its last
/// urgent byte, from the moment that byte arrived until it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrgentState {
    /// The bytes to read before the last urgent byte, while it is held and
    /// unread (0: it is the next byte).
    pub before_mark: Option<usize>,
    /// The peer shut its direction down, or the connection ended (no
    /// urgent data can come any more).
    pub ended: bool,
}

/// The urgent data `stream` holds, without waiting: `poll(2)`'s `POLLPRI`
/// (the last urgent byte is held, unread), `SIOCATMARK` (it is the next
/// byte), else a peek that counts, without copying (`MSG_PEEK |
/// MSG_TRUNC`), the bytes before it: Linux's reads stop at the mark.
///
/// # Errors
///
/// The error of `poll(2)`, `ioctl(2)` or `recv(2)`.
pub fn urgent_state(stream: &TcpStream) -> io::Result<UrgentState> {
    let fd = stream.as_raw_fd();
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLPRI | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: `pfd` is one live, writable `pollfd` for the whole call.
    if unsafe { libc::poll(&raw mut pfd, 1, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let ended = pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0;
    if pfd.revents & libc::POLLPRI == 0 {
        return Ok(UrgentState {
            before_mark: None,
            ended,
        });
    }
    let mut at_mark: libc::c_int = 0;
    // SAFETY: SIOCATMARK writes one `int` into the live `at_mark`.
    if unsafe { libc::ioctl(fd, SIOCATMARK, &raw mut at_mark) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if at_mark != 0 {
        return Ok(UrgentState {
            before_mark: Some(0),
            ended,
        });
    }
    // SAFETY: with `MSG_TRUNC` the kernel copies nothing into the buffer
    // (a null one: no memory is named), it only counts; `MSG_PEEK` leaves
    // the bytes in the socket, `MSG_DONTWAIT` returns at once.
    let rc = unsafe {
        libc::recv(
            fd,
            std::ptr::null_mut(),
            i32::MAX as usize,
            libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(UrgentState {
                before_mark: None,
                ended,
            });
        }
        return Err(e);
    }
    Ok(UrgentState {
        before_mark: Some(rc as usize),
        ended,
    })
}

/// An edge-triggered watch of a stream's urgent data: an `epoll(7)`
/// descriptor, readable (for a reactor's `poll`) when the stream's state
/// changed while its last urgent byte was held (a segment arrived: a new
/// mark, perhaps), or when it ended. [`UrgentWatch::drain`] takes the
/// events, before looking at [`urgent_state`], so that none is missed.
#[derive(Debug)]
pub struct UrgentWatch {
    epoll: OwnedFd,
}

impl UrgentWatch {
    /// A watch of `stream`.
    ///
    /// # Errors
    ///
    /// The error of `epoll_create1(2)` or `epoll_ctl(2)`.
    pub fn new(stream: &TcpStream) -> io::Result<UrgentWatch> {
        // SAFETY: epoll_create1(2) with a constant flag; checked.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nothing else.
        let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut event = libc::epoll_event {
            events: (libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: 0,
        };
        // SAFETY: both descriptors are open; `event` is live for the call
        // and only read.
        let rc = unsafe {
            libc::epoll_ctl(raw, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &raw mut event)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(UrgentWatch { epoll })
    }

    /// The descriptor to wait on for readability.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.epoll.as_raw_fd()
    }

    /// Takes the events reported so far (the descriptor is not readable
    /// again until the next change).
    pub fn drain(&self) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        loop {
            // SAFETY: `events` is live and writable, and its length is the
            // most the kernel writes; a zero timeout returns at once.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), 4, 0) };
            if n < 4 {
                // (0, an error, or fewer than asked: nothing more.)
                return;
            }
        }
    }
}

/// Sets an integer socket option.
fn setsockopt(fd: i32, level: i32, name: i32, value: u32) -> io::Result<()> {
    let value = value as libc::c_int;
    // SAFETY: `value` is a live `c_int` for the whole call, and the length
    // passed is its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's view of `stream`'s connection (`TCP_INFO`).
///
/// # Errors
///
/// The error of `getsockopt(2)`.
pub fn tcp_info(stream: &TcpStream) -> io::Result<libc::tcp_info> {
    // SAFETY: `tcp_info` is plain integers, for which zeros are valid.
    let mut info: libc::tcp_info = unsafe { core::mem::zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are live and writable for the whole call;
    // `len` holds the size of `info`, which bounds what the kernel writes.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &raw mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

/// Reads an integer socket option.
fn getsockopt(fd: i32, level: i32, name: i32) -> io::Result<u32> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and writable for the whole call;
    // `len` holds the size of `value`, which bounds what the kernel writes.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &raw mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn connects_without_blocking_and_reports_refusal_through_so_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut stream = connect_nonblocking(addr, None).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        // Connected by now (the peer accepted): wait for writability.
        let mut tries = 0;
        while stream.write(b"x").is_err() {
            std::thread::sleep(std::time::Duration::from_millis(1));
            tries += 1;
            assert!(tries < 1000);
        }
        let mut b = [0u8; 1];
        peer.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"x");
        // A closed port: refusal shows up as the socket's error.
        drop(listener);
        let stream = connect_nonblocking(addr, None).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let err = stream.take_error().unwrap().expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    /// Both families' packet information: the address a datagram was
    /// sent to, IPv4 ones IPv4-mapped on an IPv6 socket; without
    /// `recv_destination`, none. A datagram longer than the buffer is
    /// cut to it.
    #[test]
    fn recv_from_to_tells_the_destination_address() {
        let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let v6 = UdpSocket::bind("[::]:0").unwrap();
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        recv_destination(&v4).unwrap();
        recv_destination(&v6).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let local: IpAddr = Ipv4Addr::LOCALHOST.into();
        for (socket, to) in [(&v4, Some(local)), (&v6, Some(mapped)), (&plain, None)] {
            let port = socket.local_addr().unwrap().port();
            sender.send_to(b"hello", ("127.0.0.1", port)).unwrap();
            let mut buf = [0u8; 4];
            let (n, from, dst, _) = recv_from_to(socket, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"hell");
            assert_eq!(from.ip().to_canonical(), local);
            assert_eq!(from.port(), sender.local_addr().unwrap().port());
            assert_eq!(dst, to);
        }
    }

    /// IPv6-only sockets take IPv6 only, where a dual-stack one would
    /// take IPv4 too.
    #[test]
    fn ipv6_only_sockets_take_no_ipv4() {
        let any = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0);
        let listener = listen_ipv6(any, true).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
        let v6 = TcpStream::connect((Ipv6Addr::LOCALHOST, port)).unwrap();
        let (_, from) = listener.accept().unwrap();
        assert_eq!(from, v6.local_addr().unwrap());
        let taken = listen_ipv6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0), true);
        assert_eq!(taken.unwrap_err().kind(), io::ErrorKind::AddrInUse);
        let udp = bind_udp_ipv6(any, true).unwrap();
        udp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let port = udp.local_addr().unwrap().port();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"v4", (Ipv4Addr::LOCALHOST, port)).unwrap();
        let sender = UdpSocket::bind("[::1]:0").unwrap();
        sender.send_to(b"v6", (Ipv6Addr::LOCALHOST, port)).unwrap();
        let mut buf = [0u8; 4];
        let (n, _) = udp.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"v6");
    }

    /// A dual-stack socket takes IPv4 even on a host whose default is
    /// IPv6 only (`net.ipv6.bindv6only=1`, where the standard library's
    /// `bind` of `[::]` takes no IPv4): tried in a network namespace of
    /// the test's own thread with that default. Needs root (to make the
    /// namespace); says SKIPPED otherwise.
    #[test]
    fn dual_stack_sockets_take_ipv4_whatever_the_host_default() {
        let outcome = std::thread::spawn(|| {
            // SAFETY: unshare(2) with a constant flag; it changes only this
            // thread's network namespace, which ends with the thread.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(format!("unshare: {}", io::Error::last_os_error()));
            }
            // (`ip`, forked from this thread, is in its namespace; so is
            // what this thread opens under /proc/sys/net.)
            let lo_up = std::process::Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .map_err(|e| format!("ip: {e}"))?;
            if !lo_up.success() {
                return Err(format!("ip link set lo up: {lo_up}"));
            }
            std::fs::write("/proc/sys/net/ipv6/bindv6only", "1")
                .map_err(|e| format!("bindv6only: {e}"))?;
            let any = |port| SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0);
            // The host default in force: std's [::] takes no IPv4.
            let std_any = TcpListener::bind(SocketAddr::V6(any(0))).unwrap();
            let port = std_any.local_addr().unwrap().port();
            assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
            // Ours takes both.
            let listener = listen_ipv6(any(0), false).unwrap();
            let port = listener.local_addr().unwrap().port();
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            TcpStream::connect((Ipv6Addr::LOCALHOST, port)).unwrap();
            let udp = bind_udp_ipv6(any(0), false).unwrap();
            udp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let port = udp.local_addr().unwrap().port();
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            sender.send_to(b"v4", (Ipv4Addr::LOCALHOST, port)).unwrap();
            let mut buf = [0u8; 4];
            let (n, _) = udp.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"v4");
            Ok(())
        })
        .join()
        .unwrap();
        if let Err(why) = outcome {
            eprintln!("SKIPPED dual_stack_sockets_take_ipv4_whatever_the_host_default: {why}");
        }
    }

    /// `send_to_tos` marks the datagram it sends with the type of service
    /// (traffic class) byte, for this datagram only, and `recv_from_to`
    /// tells the byte received: over IPv4, over IPv6, and IPv4 through a
    /// dual-stack socket (sent IPv4-mapped, received by an IPv4 socket and
    /// by a dual-stack one). Without `recv_destination`, no byte is told.
    #[test]
    fn datagrams_carry_the_tos_sent_and_tell_the_tos_received() {
        let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let v6 = UdpSocket::bind("[::1]:0").unwrap();
        let dual = bind_udp_ipv6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0), false).unwrap();
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&v4, &v6, &dual] {
            recv_destination(s).unwrap();
        }
        let send4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let send6 = UdpSocket::bind("[::1]:0").unwrap();
        let send_dual =
            bind_udp_ipv6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0), false).unwrap();
        let port = |s: &UdpSocket| s.local_addr().unwrap().port();
        let mapped =
            |s: &UdpSocket| SocketAddr::new(Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(), port(s));
        let cases: [(&UdpSocket, SocketAddr, &UdpSocket, Option<u8>); 6] = [
            (
                &send4,
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port(&v4)),
                &v4,
                Some(0xb8),
            ),
            (
                &send6,
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port(&v6)),
                &v6,
                Some(0xb8),
            ),
            (
                &send6,
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port(&dual)),
                &dual,
                Some(0xb8),
            ),
            (
                &send4,
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port(&dual)),
                &dual,
                Some(0xb8),
            ),
            (&send_dual, mapped(&v4), &v4, Some(0xb8)),
            (
                &send4,
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port(&plain)),
                &plain,
                None,
            ),
        ];
        for (i, (sender, to, receiver, tos)) in cases.into_iter().enumerate() {
            receiver
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            assert_eq!(send_to_tos(sender, b"marked", to, 0xb8).unwrap(), 6);
            // The next datagram is not marked: the mark was this one's.
            sender.send_to(b"plain", to).unwrap();
            let mut buf = [0u8; 8];
            let (n, _, _, got) = recv_from_to(receiver, &mut buf).unwrap();
            assert_eq!((&buf[..n], got), (&b"marked"[..], tos), "case {i}");
            let (n, _, _, got) = recv_from_to(receiver, &mut buf).unwrap();
            assert_eq!(
                (&buf[..n], got),
                (&b"plain"[..], tos.map(|_| 0)),
                "case {i}"
            );
        }
    }

    /// `set_tos` reaches the kernel (read back by `tos`): `IP_TOS` on an
    /// IPv4 socket; on an IPv6 one `IPV6_TCLASS` and `IP_TOS` both (its
    /// IPv4-mapped traffic takes the latter). TCP keeps the ECN bits.
    #[test]
    fn the_tos_of_tcp_sockets_is_set_and_read_back() {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let listener = TcpListener::bind(addr).unwrap();
            let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let ipv6 = addr.starts_with('[');
            assert_eq!(tos(&stream, ipv6).unwrap(), 0);
            set_tos(&stream, ipv6, 0xb8).unwrap();
            assert_eq!(tos(&stream, ipv6).unwrap(), 0xb8, "{addr}");
            assert_eq!(tos(&stream, false).unwrap(), 0xb8, "{addr}");
            // (The ECN bits are TCP's own: not taken from the option.)
            set_tos(&stream, ipv6, 0x2b).unwrap();
            assert_eq!(tos(&stream, ipv6).unwrap(), 0x28, "{addr}");
        }
    }

    /// The TCP segments a socket sends carry its type of service or traffic
    /// class, seen on the loopback interface by a packet socket (both
    /// directions, each end's own byte): needs root (the packet socket);
    /// says SKIPPED otherwise.
    #[test]
    fn tcp_segments_carry_the_tos_on_the_wire() {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                i32::from((libc::ETH_P_ALL as u16).to_be()),
            )
        };
        if raw < 0 {
            let why = io::Error::last_os_error();
            eprintln!("SKIPPED tcp_segments_carry_the_tos_on_the_wire: packet socket: {why}");
            return;
        }
        // (Held as a std datagram socket for its `recv` and read timeout,
        // which are plain `recv(2)` and `SO_RCVTIMEO` on any socket.)
        // SAFETY: `raw` is a fresh descriptor owned by nothing else.
        let sniffer = UdpSocket::from(unsafe { OwnedFd::from_raw_fd(raw) });
        sniffer
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let listener = TcpListener::bind(addr).unwrap();
            let port = listener.local_addr().unwrap().port();
            let ipv6 = addr.starts_with('[');
            let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (mut server, _) = listener.accept().unwrap();
            set_tos(&client, ipv6, 46 << 2).unwrap();
            set_tos(&server, ipv6, 10 << 2).unwrap();
            client.write_all(b"ping").unwrap();
            let mut buf = [0u8; 4];
            server.read_exact(&mut buf).unwrap();
            server.write_all(b"pong").unwrap();
            client.read_exact(&mut buf).unwrap();
            drop(client);
            drop(server);
            // (to the server's port?, byte) of each TCP segment of the
            // connection seen; other traffic on the host is skipped.
            let mut seen = Vec::new();
            let mut frame = [0u8; 2048];
            while let Ok(n) = sniffer.recv(&mut frame) {
                let f = &frame[..n];
                let (tos, tcp) = match f.first().map(|b| b >> 4) {
                    Some(4) if n >= 40 && f[9] == 6 => (f[1], &f[usize::from(f[0] & 15) * 4..]),
                    Some(6) if n >= 60 && f[6] == 6 => ((f[0] << 4) | (f[1] >> 4), &f[40..]),
                    _ => continue,
                };
                let (src, dst) = (
                    u16::from_be_bytes([tcp[0], tcp[1]]),
                    u16::from_be_bytes([tcp[2], tcp[3]]),
                );
                if src == port || dst == port {
                    seen.push((dst == port, tos));
                }
            }
            assert!(seen.len() >= 6, "{addr}: {seen:?}");
            // Once set (after the handshake), each end's byte.
            let after: Vec<_> = seen.iter().filter(|&&(_, t)| t != 0).collect();
            assert!(
                after.iter().any(|&&(to_server, _)| to_server)
                    && after.iter().any(|&&(to_server, _)| !to_server),
                "{addr}: {seen:?}"
            );
            // In each direction: unmarked segments (the handshake), then
            // only marked ones, the FINs included.
            for (dir, mark) in [(true, 46 << 2), (false, 10 << 2)] {
                let tos: Vec<u8> = seen.iter().filter(|s| s.0 == dir).map(|s| s.1).collect();
                let first = tos.iter().position(|&t| t != 0).unwrap_or(tos.len());
                assert!(tos[..first].iter().all(|&t| t == 0), "{addr}: {seen:?}");
                assert!(tos[first..].iter().all(|&t| t == mark), "{addr}: {seen:?}");
            }
        }
    }

    #[test]
    fn keepalive_is_set_read_back_and_turned_off() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert_eq!(keepalive(&stream).unwrap(), None);
        let times = KeepAliveSecs {
            idle: 30,
            interval: 5,
            count: 4,
        };
        set_keepalive(&stream, Some(times)).unwrap();
        assert_eq!(keepalive(&stream).unwrap(), Some(times));
        set_keepalive(&stream, None).unwrap();
        assert_eq!(keepalive(&stream).unwrap(), None);
        // Out of Linux's range: refused, and the setting is unchanged.
        let bad = KeepAliveSecs {
            count: 128,
            ..times
        };
        assert!(set_keepalive(&stream, Some(bad)).is_err());
        assert_eq!(keepalive(&stream).unwrap(), None);
    }
}
