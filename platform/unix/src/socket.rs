//! Non-blocking TCP sockets the standard library cannot make: a connect
//! that returns at once (`EINPROGRESS`), whose outcome the caller learns by
//! waiting for writability and reading `SO_ERROR`
//! (`TcpStream::take_error`); and the keep-alive options, which it cannot
//! set either.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Starts a connection to `addr` on a new non-blocking socket and returns
/// the socket at once: connected, or connecting (wait until it is
/// writable, then check `take_error`).
pub fn connect_nonblocking(addr: SocketAddr) -> io::Result<TcpStream> {
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
        let mut stream = connect_nonblocking(addr).unwrap();
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
        let stream = connect_nonblocking(addr).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let err = stream.take_error().unwrap().expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
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
