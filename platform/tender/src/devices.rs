//! The host side of the guest's devices: tap interfaces for `NET_BASIC`,
//! files or block devices for `BLOCK_BASIC`, and attaching them to the
//! manifest copy the guest reads (SOLO5-ABI.md 1.8, 1.9, 2.5, 2.6).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use solo5_abi::manifest::{self, DeviceKind, MFT_RESERVED_FIRST, Manifest};

use crate::error::{Result, TenderError};
use crate::options::{MAX_BLOCK_SIZE, Options};

/// An attached tap interface.
#[derive(Debug)]
pub struct Tap {
    /// The `/dev/net/tun` file descriptor (non-blocking, close-on-exec).
    pub fd: OwnedFd,
    /// The interface's MTU (`SIOCGIFMTU`), Ethernet header excluded.
    pub mtu: u16,
    /// The guest's MAC address on it (filled by [`attach`]; zero from
    /// [`open_tap`]).
    pub mac: [u8; 6],
}

fn ifreq_for(iface: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data (arrays, integers, a union of those
    // and a pointer); all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = iface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid interface name",
        ));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(req)
}

/// Opens the tap interface `iface` as Solo5's `tap_attach`: it must exist
/// and be UP; `/dev/net/tun` is opened `O_RDWR|O_NONBLOCK|O_CLOEXEC` and
/// bound with `TUNSETIFF IFF_TAP|IFF_NO_PI`; the MTU comes from
/// `SIOCGIFMTU`.
pub fn open_tap(iface: &str) -> Result<Tap> {
    let fail = |source| TenderError::TapAttach {
        iface: iface.to_string(),
        source,
    };
    let mut req = ifreq_for(iface).map_err(fail)?;
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: sock is a fresh descriptor owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: SIOCGIFFLAGS reads and writes the ifreq we pass, which lives
    // across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: SIOCGIFFLAGS filled ifru_flags.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if i32::from(flags) & libc::IFF_UP == 0 {
        return Err(TenderError::TapNotUp {
            iface: iface.to_string(),
        });
    }
    let mut mtu_req = ifreq_for(iface).map_err(fail)?;
    // SAFETY: SIOCGIFMTU reads and writes the ifreq we pass.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU, &mut mtu_req) } < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: SIOCGIFMTU filled ifru_mtu.
    let mtu = unsafe { mtu_req.ifr_ifru.ifru_mtu };
    let mtu = u16::try_from(mtu).map_err(|_| {
        fail(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("MTU {mtu} out of range"),
        ))
    })?;
    // SAFETY: open(2) of a constant NUL-terminated path; result checked.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut set = ifreq_for(iface).map_err(fail)?;
    set.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads the ifreq we pass, which lives across the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut set) } < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    Ok(Tap {
        fd,
        mtu,
        mac: [0; 6],
    })
}

/// A random MAC address, locally administered and unicast, from the
/// kernel's random source (`getrandom`).
pub fn random_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    let mut filled = 0;
    while filled < mac.len() {
        // SAFETY: writes at most mac.len()-filled bytes into mac[filled..].
        let n =
            unsafe { libc::getrandom(mac[filled..].as_mut_ptr().cast(), mac.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        } else if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // No kernel randomness: fall back to time and pid (still
            // locally administered, so it cannot clash with real NICs).
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
                ^ u64::from(std::process::id()) << 24;
            mac.copy_from_slice(&t.to_le_bytes()[..6]);
            break;
        }
    }
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// An attached block device.
#[derive(Debug)]
pub struct BlockDevice {
    /// The backing file, opened read-write.
    pub file: File,
    /// Capacity in bytes (a non-zero multiple of `block_size`).
    pub capacity: u64,
    /// Block size in bytes (a power of 2, 512 to 32768).
    pub block_size: u64,
}

/// Opens `path` read-write as a block device of `block_size`-byte blocks;
/// the capacity is its size, which must be a non-zero multiple of
/// `block_size`.
pub fn open_block(path: &Path, block_size: u64) -> Result<BlockDevice> {
    if !block_size.is_power_of_two() || !(512..=MAX_BLOCK_SIZE).contains(&block_size) {
        return Err(TenderError::BlockSize {
            path: path.to_path_buf(),
            block_size,
        });
    }
    let file = File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| TenderError::BlockOpen {
            path: path.to_path_buf(),
            source,
        })?;
    // lseek(SEEK_END) as Solo5, which also sizes block devices.
    let capacity = {
        use std::io::Seek;
        let mut f = &file;
        f.seek(io::SeekFrom::End(0))
            .map_err(|source| TenderError::BlockCapacity {
                path: path.to_path_buf(),
                source,
            })?
    };
    if !capacity.is_multiple_of(block_size) {
        return Err(TenderError::BlockNotAligned {
            path: path.to_path_buf(),
            block_size,
        });
    }
    if capacity < block_size {
        return Err(TenderError::BlockTooSmall {
            path: path.to_path_buf(),
            block_size,
        });
    }
    Ok(BlockDevice {
        file,
        capacity,
        block_size,
    })
}

impl BlockDevice {
    /// Whether a transfer of `len` bytes at `offset` is allowed: the
    /// tender's EINVAL rule (`len <= SSIZE_MAX`, `offset < capacity`,
    /// `offset + len <= capacity`, overflow-checked) plus the bindings'
    /// (offset and len multiples of the block size).
    pub fn check_access(&self, offset: u64, len: u64) -> bool {
        len <= isize::MAX as u64
            && offset < self.capacity
            && offset
                .checked_add(len)
                .is_some_and(|end| end <= self.capacity)
            && offset.is_multiple_of(self.block_size)
            && len.is_multiple_of(self.block_size)
    }

    fn checked(&self, op: &'static str, offset: u64, len: usize) -> Result<()> {
        if self.check_access(offset, len as u64) {
            Ok(())
        } else {
            Err(TenderError::BlockIo {
                op,
                offset,
                len,
                source: io::Error::from_raw_os_error(libc::EINVAL),
            })
        }
    }

    /// Reads `buf.len()` bytes at `offset`; a short read is an error.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.checked("read", offset, buf.len())?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|source| TenderError::BlockIo {
                op: "read",
                offset,
                len: buf.len(),
                source,
            })
    }

    /// Writes all of `buf` at `offset`; a short write is an error.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        self.checked("write", offset, buf.len())?;
        self.file
            .write_all_at(buf, offset)
            .map_err(|source| TenderError::BlockIo {
                op: "write",
                offset,
                len: buf.len(),
                source,
            })
    }
}

/// The devices opened for a guest, and the manifest copy describing them.
#[derive(Debug)]
pub struct Attached {
    /// The filled-in manifest copy to place in guest memory.
    pub manifest: Vec<u8>,
    /// Net devices: (manifest index, tap).
    pub nets: Vec<(usize, Tap)>,
    /// Block devices: (manifest index, device).
    pub blocks: Vec<(usize, BlockDevice)>,
}

fn set_attached(copy: &mut [u8], index: usize, hostfd: i32) {
    let base = manifest::HEADER_SIZE + index * manifest::ENTRY_SIZE;
    solo5_abi::write_u64(copy, base + manifest::entry::HOSTFD, 0);
    solo5_abi::write_u32(copy, base + manifest::entry::HOSTFD, hostfd as u32);
    if let Some(b) = copy.get_mut(base + manifest::entry::ATTACHED) {
        *b = 1;
    }
}

/// Opens every device given in `options` and fills its entry in a copy of
/// `manifest` (attached, host fd, MAC and MTU for net, capacity and block
/// size for block); then every device the manifest declares must be
/// attached ("Device '%s' of type %s declared but not attached.").
pub fn attach(manifest: &[u8], options: &Options) -> Result<Attached> {
    let mft = Manifest::validate(manifest).map_err(TenderError::AttachManifest)?;
    let find = |name: &str, kind: DeviceKind| {
        mft.find(name, kind)
            .map(|e| e.index)
            .ok_or_else(|| TenderError::NotDeclared {
                name: name.to_string(),
                kind: kind.name(),
            })
    };
    let mut copy = manifest.to_vec();
    let mut nets = Vec::new();
    for net in &options.nets {
        let index = find(&net.name, DeviceKind::Net)?;
        let mut tap = open_tap(&net.iface)?;
        tap.mac = net.mac.unwrap_or_else(random_mac);
        let base = manifest::HEADER_SIZE + index * manifest::ENTRY_SIZE;
        let at = base + manifest::entry::NET_MAC;
        copy[at..at + 6].copy_from_slice(&tap.mac);
        let at = base + manifest::entry::NET_MTU;
        copy[at..at + 2].copy_from_slice(&tap.mtu.to_le_bytes());
        set_attached(&mut copy, index, tap.fd.as_raw_fd());
        nets.push((index, tap));
    }
    let mut blocks = Vec::new();
    for block in &options.blocks {
        let index = find(&block.name, DeviceKind::Block)?;
        let dev = open_block(&block.path, block.sector_size)?;
        let base = manifest::HEADER_SIZE + index * manifest::ENTRY_SIZE;
        solo5_abi::write_u64(
            &mut copy,
            base + manifest::entry::BLOCK_CAPACITY,
            dev.capacity,
        );
        let at = base + manifest::entry::BLOCK_SIZE;
        copy[at..at + 2].copy_from_slice(&(dev.block_size as u16).to_le_bytes());
        set_attached(&mut copy, index, dev.file.as_raw_fd());
        blocks.push((index, dev));
    }
    let filled = Manifest::read_attached(&copy).map_err(TenderError::AttachManifest)?;
    let missing: Vec<(String, &'static str)> = filled
        .iter()
        .filter(|e| e.type_code() < MFT_RESERVED_FIRST && !e.attached())
        .map(|e| {
            let kind = e.kind().map(DeviceKind::name).unwrap_or("UNKNOWN");
            (String::from_utf8_lossy(e.name_bytes()).into_owned(), kind)
        })
        .collect();
    if !missing.is_empty() {
        return Err(TenderError::NotAttached(missing));
    }
    Ok(Attached {
        manifest: copy,
        nets,
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::BlockOption;
    use solo5_abi::manifest::write_manifest;

    fn temp(name: &str, size: usize) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("mirage-tender-{}-{name}", std::process::id()));
        std::fs::write(&p, vec![0u8; size]).unwrap();
        p
    }

    #[test]
    fn macs_are_local_unicast() {
        for _ in 0..32 {
            let m = random_mac();
            assert_eq!(m[0] & 3, 2);
        }
        assert_ne!(random_mac(), random_mac());
    }

    #[test]
    fn block_devices_are_checked() {
        let p = temp("blk", 4096);
        let b = open_block(&p, 512).unwrap();
        assert_eq!(b.capacity, 4096);
        assert!(b.check_access(0, 512));
        assert!(b.check_access(3584, 512));
        assert!(!b.check_access(4096, 512));
        assert!(!b.check_access(3584, 1024));
        assert!(!b.check_access(100, 512));
        assert!(!b.check_access(0, 100));
        assert!(!b.check_access(512, u64::MAX - 511));
        b.write_at(512, &[7u8; 512]).unwrap();
        let mut buf = [0u8; 512];
        b.read_at(512, &mut buf).unwrap();
        assert_eq!(buf, [7u8; 512]);
        assert!(b.read_at(4096, &mut buf).is_err());
        assert!(matches!(
            open_block(&p, 8192),
            Err(TenderError::BlockNotAligned { .. })
        ));
        assert!(matches!(
            open_block(&p, 1000),
            Err(TenderError::BlockSize { .. })
        ));
        let q = temp("odd", 1000);
        assert!(matches!(
            open_block(&q, 512),
            Err(TenderError::BlockNotAligned { .. })
        ));
        let e = temp("empty", 0);
        assert!(matches!(
            open_block(&e, 512),
            Err(TenderError::BlockTooSmall { .. })
        ));
        assert!(matches!(
            open_block(Path::new("/nonexistent/x"), 512),
            Err(TenderError::BlockOpen { .. })
        ));
        for f in [p, q, e] {
            std::fs::remove_file(f).unwrap();
        }
    }

    #[test]
    fn attach_fills_the_copy_and_requires_every_device() {
        let mut buf = [0u8; 1024];
        let n = write_manifest(
            &[("disk", DeviceKind::Block), ("net0", DeviceKind::Net)],
            &mut buf,
        )
        .unwrap();
        let p = temp("attach", 8192);
        let mut options = Options::default();
        options.blocks.push(BlockOption {
            name: "disk".into(),
            path: p.clone(),
            sector_size: 4096,
        });
        let e = attach(&buf[..n], &options).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Device 'net0' of type NET_BASIC declared but not attached.\n\
             All declared devices must be attached. See --help for syntax."
        );
        let n2 = write_manifest(&[("disk", DeviceKind::Block)], &mut buf).unwrap();
        let a = attach(&buf[..n2], &options).unwrap();
        let m = Manifest::read_attached(&a.manifest).unwrap();
        let d = m.entry(1).unwrap();
        assert!(d.attached());
        assert_eq!(d.block_capacity(), 8192);
        assert_eq!(d.block_size(), 4096);
        assert_eq!(d.hostfd(), a.blocks[0].1.file.as_raw_fd());
        assert!(!m.entry(0).unwrap().attached());
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn missing_taps_are_errors() {
        assert!(matches!(
            open_tap("mirage-no-such"),
            Err(TenderError::TapAttach { .. })
        ));
        assert!(matches!(
            open_tap("this-name-is-far-too-long"),
            Err(TenderError::TapAttach { .. })
        ));
    }
}
