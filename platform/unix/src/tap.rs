//! Tap interfaces: Ethernet frames exchanged with the host kernel through
//! `/dev/net/tun`.
//!
//! [`open_tap`] attaches to the tap interface of a name (creating a
//! non-persistent one if it does not exist and the process may), with
//! `IFF_TAP | IFF_NO_PI` (plain Ethernet frames, no packet-information
//! header), non-blocking and close-on-exec, and reads the interface's MTU.
//! The interface's own MAC address belongs to the host side: the unikernel
//! picks its own (see [`random_local_mac`]).
//!
//! [`open_tap_with_offload`] also asks for TCP segmentation offload: each
//! frame read or written is then preceded by a `virtio_net_hdr`
//! ([`VNET_HDR_LEN`] bytes, `IFF_VNET_HDR`), and the kernel takes TCP
//! segments longer than the MTU (it cuts them itself, or hands them whole
//! to its own stack) and sends such segments, with checksums left partial
//! (`TUNSETOFFLOAD` with `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`).
//!
//! The interface must be up for writes to succeed (`EIO` otherwise); as in
//! MirageOS, configuring it (`ip link set tap0 up`, addresses, bridges) is
//! the host's business.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The interface MirageOS attaches to by default.
pub const DEFAULT_TAP: &str = "tap0";

/// An open tap interface.
#[derive(Debug)]
pub struct Tap {
    /// The non-blocking, close-on-exec descriptor of the interface.
    pub fd: OwnedFd,
    /// The interface's MTU (Ethernet header excluded).
    pub mtu: usize,
    /// The interface's name, as the kernel reports it.
    pub name: String,
    /// Frames cross the descriptor behind a `virtio_net_hdr`, with TCP
    /// segmentation offload ([`open_tap_with_offload`]).
    pub offload: bool,
}

/// The length of the `virtio_net_hdr` before every frame of a tap opened
/// with offload (no mergeable buffers: 10 bytes).
pub const VNET_HDR_LEN: usize = 10;

/// An `ifreq` with `name` in it, or `InvalidInput` if the name does not
/// fit (`IFNAMSIZ` - 1 bytes) or contains a NUL.
fn ifreq_of(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}"),
        ));
    }
    // SAFETY: `ifreq` is plain old data (a name array and a union of
    // integers, addresses and a pointer), for which all zeroes is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}

/// The name in an `ifreq`, as the kernel filled it.
fn name_of(ifr: &libc::ifreq) -> String {
    let bytes: Vec<u8> = ifr
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Opens the tap interface `name` (see the module documentation).
pub fn open_tap(name: &str) -> io::Result<Tap> {
    open(name, false)
}

/// [`open_tap`] with TCP segmentation offload (see the module
/// documentation); fails if the kernel refuses it.
pub fn open_tap_with_offload(name: &str) -> io::Result<Tap> {
    open(name, true)
}

fn open(name: &str, offload: bool) -> io::Result<Tap> {
    let mut ifr = ifreq_of(name)?;
    let path: &CStr = c"/dev/net/tun";
    // SAFETY: `path` is a NUL-terminated string alive for the call.
    let raw = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(err.kind(), format!("/dev/net/tun: {err}")));
    }
    // SAFETY: `raw` was just opened and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let vnet = if offload { libc::IFF_VNET_HDR } else { 0 };
    ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI | vnet) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes the `ifreq` that `ifr` is, alive
    // and exclusively borrowed for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &mut ifr) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("tap interface {name}: {err}"),
        ));
    }
    let name = name_of(&ifr);
    if offload {
        set_offload(&fd, &name)?;
    }
    let mtu = interface_mtu(&name)?;
    Ok(Tap {
        fd,
        mtu,
        name,
        offload,
    })
}

/// Sets the `virtio_net_hdr`'s length and the offloads on the tap `fd`.
fn set_offload(fd: &OwnedFd, name: &str) -> io::Result<()> {
    let len = VNET_HDR_LEN as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads the `int` `len` points to, alive for
    // the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ as _, &len) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("{name}: header size: {err}"),
        ));
    }
    let features = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
    // SAFETY: TUNSETOFFLOAD takes its argument by value and touches no
    // memory of ours.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD as _,
            libc::c_ulong::from(features),
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("{name}: offload: {err}"),
        ));
    }
    Ok(())
}

/// The MTU of the interface `name` (`SIOCGIFMTU`).
pub fn interface_mtu(name: &str) -> io::Result<usize> {
    // SAFETY: plain socket(2) call; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just opened and is owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut ifr = ifreq_of(name)?;
    // SAFETY: SIOCGIFMTU reads the name and writes the MTU of the `ifreq`
    // that `ifr` is, alive and exclusively borrowed for the call.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU as _, &mut ifr) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(err.kind(), format!("MTU of {name}: {err}")));
    }
    // SAFETY: SIOCGIFMTU succeeded, so the union holds the MTU.
    let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).map_err(|_| io::Error::other(format!("MTU of {name}: {mtu}")))
}

impl Tap {
    /// The raw descriptor, for the reactor.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads one frame into `buf` (at least MTU + 14 bytes, or the frame is
    /// truncated); `WouldBlock` when none is waiting.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Writes one frame; `WouldBlock` when the interface's queue is full.
    pub fn write(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: `frame` is valid for reads of `frame.len()` bytes.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// A random locally administered unicast MAC address (from
/// `getrandom(2)`), for the unikernel's side of a tap.
pub fn random_local_mac() -> io::Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    crate::entropy::fill_entropy(&mut mac)?;
    mac[0] = (mac[0] & 0xfe) | 0x02;
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// Prints a `SKIPPED:` line where the harness does not capture it.
    fn skip(reason: &str) {
        let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
    }

    fn ip(args: &[&str]) -> io::Result<()> {
        let status = Command::new("ip").args(args).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("ip {args:?}: {status}")))
        }
    }

    /// A persistent tap interface, up, deleted on drop.
    struct TestTap(String);

    impl TestTap {
        /// `Err(reason)` when the test cannot run here.
        fn create(tag: &str) -> Result<TestTap, String> {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                return Err("not root".into());
            }
            if !std::path::Path::new("/dev/net/tun").exists() {
                return Err("no /dev/net/tun".into());
            }
            let name = format!("mt{tag}{}", std::process::id());
            ip(&["tuntap", "add", "name", &name, "mode", "tap"])
                .map_err(|e| format!("cannot create a tap: {e}"))?;
            let tap = TestTap(name);
            ip(&["link", "set", &tap.0, "up"]).map_err(|e| format!("cannot set up: {e}"))?;
            Ok(tap)
        }

        fn counter(&self, which: &str) -> u64 {
            std::fs::read_to_string(format!("/sys/class/net/{}/statistics/{which}", self.0))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        }
    }

    impl Drop for TestTap {
        fn drop(&mut self) {
            // Works even while a descriptor is still attached.
            let _ = ip(&["link", "delete", &self.0]);
        }
    }

    /// A frame to `dst` from `src` of the experimental EtherType 0x88b5
    /// carrying `marker`.
    fn frame(dst: [u8; 6], src: [u8; 6], marker: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.extend_from_slice(marker);
        f.resize(60, 0);
        f
    }

    /// Sends `frame` out of interface `name` through an `AF_PACKET` socket,
    /// so the tap's reader receives it.
    fn send_from_host(name: &str, frame: &[u8]) -> io::Result<()> {
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just opened and is owned by nothing else.
        let socket = unsafe { OwnedFd::from_raw_fd(raw) };
        let cname = std::ffi::CString::new(name).unwrap();
        // SAFETY: `cname` is a NUL-terminated string alive for the call.
        let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: all zeroes is a valid `sockaddr_ll`.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = index as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` is valid for its length and `addr` is a
        // `sockaddr_ll` of the given size, both alive for the call.
        let n = unsafe {
            libc::sendto(
                socket.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(open_tap("").is_err());
        assert!(open_tap("a-name-longer-than-ifnamsiz").is_err());
    }

    #[test]
    fn random_macs_are_local_unicast() {
        for _ in 0..32 {
            let mac = random_local_mac().unwrap();
            assert_eq!(mac[0] & 0x03, 0x02);
        }
    }

    #[test]
    fn a_real_tap_passes_frames_both_ways() {
        passes_frames_both_ways(false);
    }

    /// With offload, frames cross behind a `virtio_net_hdr`: one of zeros
    /// (nothing asked of the kernel) on the way out, the kernel's on the
    /// way in.
    #[test]
    fn a_real_tap_with_offload_passes_frames_behind_their_header() {
        passes_frames_both_ways(true);
    }

    fn passes_frames_both_ways(offload: bool) {
        let guard = match TestTap::create(if offload { "o" } else { "r" }) {
            Ok(guard) => guard,
            Err(reason) => return skip(&reason),
        };
        let tap = if offload {
            open_tap_with_offload(&guard.0).unwrap()
        } else {
            open_tap(&guard.0).unwrap()
        };
        assert_eq!(
            (tap.name.as_str(), tap.offload),
            (guard.0.as_str(), offload)
        );
        assert_eq!(tap.mtu, 1500);
        let head = if offload { VNET_HDR_LEN } else { 0 };
        let mut buf = vec![0u8; head + 65_535 + 54];
        // Nothing waiting (or only the host's own chatter): never blocks.
        while tap.read(&mut buf).is_ok() {}
        assert_eq!(
            tap.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );

        // Unikernel -> host: the interface receives it.
        let mac = random_local_mac().unwrap();
        let before = guard.counter("rx_packets");
        let mut out = vec![0u8; head];
        out.extend_from_slice(&frame([0xff; 6], mac, b"to the host"));
        assert_eq!(tap.write(&out).unwrap(), out.len());
        let deadline = Instant::now() + Duration::from_secs(5);
        while guard.counter("rx_packets") <= before {
            assert!(Instant::now() < deadline, "rx_packets did not increase");
            std::thread::sleep(Duration::from_millis(10));
        }

        // Host -> unikernel: a frame sent out of the interface arrives.
        let marker = b"from the host";
        let incoming = frame(mac, [0x02, 1, 2, 3, 4, 5], marker);
        // The kernel activates the interface's queue asynchronously once
        // the carrier is on (link watch); until then it drops what the
        // host sends, so send again every 100 ms.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut next_send = Instant::now();
        loop {
            if Instant::now() >= next_send {
                send_from_host(&guard.0, &incoming).unwrap();
                next_send = Instant::now() + Duration::from_millis(100);
            }
            match tap.read(&mut buf) {
                // Skip the host's own traffic (IPv6 solicitations...).
                Ok(n) if buf[head..n] == incoming[..] => {
                    // (The kernel asks nothing of a frame it made whole.)
                    assert!(buf[..head].iter().all(|&b| b == 0), "{:?}", &buf[..head]);
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the frame never arrived");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}
