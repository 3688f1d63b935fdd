//! Unit tests of the KVM path with raw machine code placed at 0x100000
//! (no ELF): each hypercall, the boot info, and hostile port accesses and
//! pointers. Each test prints "SKIPPED: <reason>" and returns when KVM is
//! unusable here.

/// Reports a skip on the process's stderr, which the test harness does not
/// capture, so it shows in every run.
macro_rules! skipped {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED: {}", format_args!($($arg)*));
    }};
}

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::error::HvtError;
use super::hypercall::Hypercalls;
use super::run::run;
use super::vcpu::Vm;
use super::{boot_info, probe_sse};
use crate::devices::{Attached, BlockDevice};

const CODE: u64 = 0x10_0000;
/// A scratch page for argument structs.
const ARGS: u32 = 0x10_1000;
/// A scratch page for data.
const DATA: u32 = 0x10_2000;

/// A tiny x86-64 assembler for the few instructions the tests need.
#[derive(Default)]
struct Asm(Vec<u8>);

impl Asm {
    /// `movq $imm32, abs32` (sign-extended).
    fn store64(mut self, addr: u32, imm: i32) -> Self {
        self.0.extend([0x48, 0xc7, 0x04, 0x25]);
        self.0.extend(addr.to_le_bytes());
        self.0.extend(imm.to_le_bytes());
        self
    }
    /// `movl $imm32, abs32`.
    fn store32(mut self, addr: u32, imm: u32) -> Self {
        self.0.extend([0xc7, 0x04, 0x25]);
        self.0.extend(addr.to_le_bytes());
        self.0.extend(imm.to_le_bytes());
        self
    }
    /// `mov $imm32, %eax`.
    fn eax(mut self, imm: u32) -> Self {
        self.0.push(0xb8);
        self.0.extend(imm.to_le_bytes());
        self
    }
    /// `mov $imm16, %dx`.
    fn dx(mut self, port: u16) -> Self {
        self.0.extend([0x66, 0xba]);
        self.0.extend(port.to_le_bytes());
        self
    }
    /// `out %eax, (%dx)`.
    fn outl(mut self) -> Self {
        self.0.push(0xef);
        self
    }
    /// `out %al, (%dx)`.
    fn outb(mut self) -> Self {
        self.0.push(0xee);
        self
    }
    /// `in (%dx), %eax`.
    fn inl(mut self) -> Self {
        self.0.push(0xed);
        self
    }
    /// `hypercall nr` with its struct at `gpa`.
    fn hypercall(self, nr: u16, gpa: u32) -> Self {
        self.eax(gpa).dx(0x500 + nr).outl()
    }
    /// `mov (%rdi), %rax; shr $20, %rax; mov %eax, abs32`.
    fn mem_mib_to(mut self, addr: u32) -> Self {
        self.0
            .extend([0x48, 0x8b, 0x07, 0x48, 0xc1, 0xe8, 0x14, 0x89, 0x04, 0x25]);
        self.0.extend(addr.to_le_bytes());
        self
    }
    /// HALT with `status` (struct at ARGS + 0x800, cookie 0).
    fn halt(self, status: i32) -> Self {
        let at = ARGS + 0x800;
        self.store64(at, 0)
            .store32(at + 8, status as u32)
            .hypercall(8, at)
    }
}

/// A VM running `code`; `None` (after printing SKIPPED) if KVM is unusable.
fn vm(code: &Asm, mem: u64) -> Option<Vm> {
    if !std::path::Path::new("/dev/kvm").exists() {
        skipped!("/dev/kvm does not exist");
        return None;
    }
    let mut vm = match Vm::new(mem) {
        Ok(vm) => vm,
        Err(e) => {
            skipped!("KVM is not usable here: {e}");
            return None;
        }
    };
    let mem_bytes = vm.memory_mut().as_mut_slice();
    mem_bytes[CODE as usize..CODE as usize + code.0.len()].copy_from_slice(&code.0);
    vm.setup_vcpu(CODE).unwrap();
    Some(vm)
}

fn no_devices() -> Attached {
    Attached {
        manifest: Vec::new(),
        nets: Vec::new(),
        blocks: Vec::new(),
    }
}

/// A pipe as the console: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for both ends.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh fds owned here.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn read_all(fd: OwnedFd) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn halt_status_comes_back() {
    let Some(mut vm) = vm(&Asm::default().halt(42), 2 << 20) else {
        return;
    };
    let d = no_devices();
    assert_eq!(run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap(), 42);
}

#[test]
fn puts_writes_the_guest_bytes() {
    let code = Asm::default()
        .store32(DATA, u32::from_le_bytes(*b"Hell"))
        .store32(DATA + 4, u32::from(b'o'))
        .store64(ARGS, DATA as i32)
        .store64(ARGS + 8, 5)
        .hypercall(2, ARGS)
        .halt(0);
    let Some(mut vm) = vm(&code, 2 << 20) else {
        return;
    };
    let d = no_devices();
    let (r, w) = pipe();
    let mut h = Hypercalls::new(&d).unwrap();
    h.set_console(w.as_raw_fd());
    assert_eq!(run(&mut vm, &h).unwrap(), 0);
    drop(w);
    assert_eq!(read_all(r), b"Hello");
}

#[test]
fn walltime_is_the_hosts() {
    let code = Asm::default().hypercall(1, ARGS).halt(0);
    let Some(mut vm) = vm(&code, 2 << 20) else {
        return;
    };
    let d = no_devices();
    assert_eq!(run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap(), 0);
    let guest = vm.memory().read_u64(u64::from(ARGS)).unwrap();
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(
        host >= guest && host - guest < 30_000_000_000,
        "{guest} {host}"
    );
}

#[test]
fn poll_times_out_with_nothing_ready() {
    let code = Asm::default()
        .store64(ARGS, 10_000_000)
        .store64(ARGS + 8, -1)
        .store32(ARGS + 16, 7)
        .hypercall(3, ARGS)
        .halt(0);
    let Some(mut vm) = vm(&code, 2 << 20) else {
        return;
    };
    let d = no_devices();
    assert_eq!(run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap(), 0);
    let m = vm.memory();
    assert_eq!(m.read_u64(u64::from(ARGS) + 8).unwrap(), 0);
    assert_eq!(m.read_i32(u64::from(ARGS) + 16).unwrap(), 0);
}

fn block_device(bytes: &[u8]) -> (BlockDevice, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!(
        "mirage-hvt-unit-{}-{:?}.img",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, bytes).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    (
        BlockDevice {
            file,
            capacity: bytes.len() as u64,
            block_size: 512,
        },
        path,
    )
}

#[test]
fn block_read_write_and_einval_beyond_capacity() {
    // Write block 1 from DATA (filled with 'W'), read block 0 into DATA+0x200,
    // then a read at the capacity (EINVAL) and with an unknown handle.
    let mut code = Asm::default();
    for i in 0..128 {
        code = code.store32(DATA + i * 4, u32::from_le_bytes(*b"WWWW"));
    }
    let blk = |c: Asm, nr: u16, at: u32, handle: i32, offset: i32, data: u32| {
        c.store64(at, handle)
            .store64(at + 8, offset)
            .store64(at + 16, data as i32)
            .store64(at + 24, 512)
            .store32(at + 32, 99)
            .hypercall(nr, at)
    };
    code = blk(code, 4, ARGS, 1, 512, DATA);
    code = blk(code, 5, ARGS + 0x40, 1, 0, DATA + 0x200);
    code = blk(code, 5, ARGS + 0x80, 1, 1024, DATA + 0x400);
    code = blk(code, 4, ARGS + 0xc0, 1, 1023, DATA);
    code = blk(code, 5, ARGS + 0x100, 2, 0, DATA + 0x400);
    let code = code.halt(0);
    let Some(mut vm) = vm(&code, 2 << 20) else {
        return;
    };
    let mut image = vec![b'R'; 512];
    image.extend([0u8; 512]);
    let (dev, path) = block_device(&image);
    let d = Attached {
        manifest: Vec::new(),
        nets: Vec::new(),
        blocks: vec![(1, dev)],
    };
    assert_eq!(run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap(), 0);
    let on_disk = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(&on_disk[512..], &[b'W'; 512][..]);
    let m = vm.memory();
    let ret = |at: u32| m.read_i32(u64::from(at) + 32).unwrap();
    assert_eq!(ret(ARGS), 0);
    assert_eq!(ret(ARGS + 0x40), 0);
    assert_eq!(
        m.slice(u64::from(DATA) + 0x200, 512).unwrap(),
        &[b'R'; 512][..]
    );
    assert_eq!(ret(ARGS + 0x80), 2, "read at the capacity is EINVAL");
    assert_eq!(ret(ARGS + 0xc0), 2, "write across the capacity is EINVAL");
    assert_eq!(ret(ARGS + 0x100), 2, "unknown handle is EINVAL");
}

#[test]
fn the_guest_sees_its_boot_info() {
    let code = Asm::default()
        .mem_mib_to(ARGS + 0x808)
        .store64(ARGS + 0x800, 0)
        .hypercall(8, ARGS + 0x800);
    let Some(mut vm) = vm(&code, 6 << 20) else {
        return;
    };
    let tsc = vm.tsc_hz();
    boot_info::write(vm.memory_mut(), 0x10_3000, tsc, &[0; 112], b"x\0").unwrap();
    let d = no_devices();
    assert_eq!(run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap(), 6);
}

/// Runs `code` and returns the error it ends with.
fn fails(code: Asm) -> Option<HvtError> {
    let mut vm = vm(&code, 2 << 20)?;
    let d = no_devices();
    Some(run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap_err())
}

#[test]
fn puts_beyond_memory_is_fatal() {
    let code = Asm::default()
        .store64(ARGS, 0x1f_fff0)
        .store64(ARGS + 8, 0x100)
        .hypercall(2, ARGS);
    let Some(e) = fails(code) else { return };
    assert!(
        matches!(e, HvtError::InvalidGuestAccess { what: "data", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("PUTS"), "{e}");
}

#[test]
fn puts_with_a_wrapping_length_is_fatal() {
    let code = Asm::default()
        .store64(ARGS, DATA as i32)
        .store64(ARGS + 8, -0x1000)
        .hypercall(2, ARGS);
    let Some(e) = fails(code) else { return };
    assert!(
        matches!(e, HvtError::InvalidGuestAccess { what: "data", .. }),
        "{e}"
    );
}

#[test]
fn an_argument_struct_beyond_memory_is_fatal() {
    let Some(e) = fails(Asm::default().hypercall(2, 0xffff_fff0)) else {
        return;
    };
    assert!(
        matches!(
            e,
            HvtError::InvalidGuestAccess {
                what: "argument struct",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn an_unknown_port_is_fatal() {
    let Some(e) = fails(Asm::default().eax(ARGS).dx(0x50f).outl()) else {
        return;
    };
    assert!(
        matches!(e, HvtError::InvalidPortAccess { port: 0x50f, .. }),
        "{e}"
    );
}

#[test]
fn an_in_is_fatal() {
    let Some(e) = fails(Asm::default().dx(0x501).inl()) else {
        return;
    };
    assert!(
        matches!(e, HvtError::InvalidPortAccess { port: 0x501, .. }),
        "{e}"
    );
}

#[test]
fn a_one_byte_out_is_fatal() {
    let Some(e) = fails(Asm::default().eax(ARGS).dx(0x508).outb()) else {
        return;
    };
    assert!(
        matches!(
            e,
            HvtError::InvalidPortAccess {
                port: 0x508,
                size: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn hypercall_zero_is_fatal() {
    let Some(e) = fails(Asm::default().hypercall(0, ARGS)) else {
        return;
    };
    assert!(matches!(e, HvtError::InvalidHypercall(0)), "{e}");
}

#[test]
fn a_halt_cookie_beyond_memory_is_fatal() {
    let code = Asm::default().store64(ARGS, 0x1f_ff00).hypercall(8, ARGS);
    let Some(e) = fails(code) else { return };
    assert!(
        matches!(e, HvtError::InvalidGuestAccess { what: "cookie", .. }),
        "{e}"
    );
}

#[test]
fn a_block_read_into_a_read_only_segment_is_fatal() {
    let code = Asm::default()
        .store64(ARGS, 1)
        .store64(ARGS + 8, 0)
        .store64(ARGS + 16, CODE as i32)
        .store64(ARGS + 24, 512)
        .hypercall(5, ARGS);
    let Some(mut vm) = vm(&code, 2 << 20) else {
        return;
    };
    boot_info::protect_segments(
        vm.memory_mut(),
        &[boot_info::SegmentRights {
            start: CODE,
            end: CODE + 0x1000,
            writable: false,
        }],
    )
    .unwrap();
    let (dev, path) = block_device(&[0u8; 512]);
    let d = Attached {
        manifest: Vec::new(),
        nets: Vec::new(),
        blocks: vec![(1, dev)],
    };
    let e = run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap_err();
    std::fs::remove_file(path).unwrap();
    assert!(matches!(e, HvtError::ReadOnlyGuestBuffer { .. }), "{e}");
}

#[test]
fn a_triple_fault_is_reported() {
    // `ud2` with no IDT: #UD, then #DF, then shutdown.
    let mut code = Asm::default();
    code.0.extend([0x0f, 0x0b]);
    let Some(e) = fails(code) else { return };
    println!("ud2 without an IDT ends with: {e}");
    assert!(
        matches!(e, HvtError::Shutdown | HvtError::InternalError { .. }),
        "{e}"
    );
}

#[test]
fn the_sse_probe_answers() {
    if !std::path::Path::new("/dev/kvm").exists() {
        skipped!("/dev/kvm does not exist");
        return;
    }
    match probe_sse() {
        Ok(true) => println!("this host's KVM runs SSE guests"),
        Ok(false) => println!("this host's KVM cannot run SSE guests (emulating KVM)"),
        Err(e @ (HvtError::OpenKvm(_) | HvtError::CreateVm(_))) => {
            skipped!("KVM is not usable here: {e}")
        }
        Err(e) => panic!("SSE probe failed: {e}"),
    }
}

/// A tap interface made for one test and removed on drop, even on failure.
struct TapGuard {
    name: String,
}

impl TapGuard {
    /// Creates and brings up a uniquely named tap, IPv6 off so the kernel
    /// sends nothing of its own; `Err(reason)` to skip.
    fn new() -> Result<Self, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root, cannot create a tap interface".into());
        }
        if !std::path::Path::new("/dev/net/tun").exists() {
            return Err("/dev/net/tun does not exist".into());
        }
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("mhu{}x{n}", std::process::id() % 1_000_000);
        let ip = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| format!("cannot run ip: {e}"))
                .and_then(|o| {
                    if o.status.success() {
                        Ok(())
                    } else {
                        Err(format!(
                            "ip {}: {}",
                            args.join(" "),
                            String::from_utf8_lossy(&o.stderr).trim()
                        ))
                    }
                })
        };
        ip(&["tuntap", "add", &name, "mode", "tap"])?;
        let guard = TapGuard { name };
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", guard.name),
            "1",
        );
        ip(&["link", "set", "dev", &guard.name, "up"])?;
        Ok(guard)
    }

    /// Opens the tap as Solo5 does: O_RDWR|O_NONBLOCK, IFF_TAP|IFF_NO_PI.
    fn open(&self) -> OwnedFd {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/net/tun")
            .unwrap();
        let mut ifr = [0u8; 40];
        ifr[..self.name.len()].copy_from_slice(self.name.as_bytes());
        let flags = (libc::IFF_TAP | libc::IFF_NO_PI) as u16;
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: TUNSETIFF reads a `struct ifreq` (40 bytes) from `ifr`.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) };
        assert_eq!(rc, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
        file.into()
    }

    fn index(&self) -> i32 {
        let name = std::ffi::CString::new(self.name.clone()).unwrap();
        // SAFETY: `name` is a valid C string.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert_ne!(index, 0);
        index as i32
    }
}

impl Drop for TapGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", "dev", &self.name])
            .output();
    }
}

/// A raw packet socket on interface `index` for ethertype `proto`.
fn packet_socket(index: i32, proto: u16) -> (OwnedFd, libc::sockaddr_ll) {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK,
            i32::from(proto.to_be()),
        )
    };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh fd owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto.to_be();
    addr.sll_ifindex = index;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: `addr` is a valid sockaddr_ll of the given size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    (fd, addr)
}

/// The devices of a guest with one net device, handle 1, on `fd` (MTU
/// 1500, MAC 02:00:00:00:00:01).
fn one_tap(fd: OwnedFd) -> Attached {
    Attached {
        manifest: Vec::new(),
        nets: vec![(
            1,
            crate::devices::Tap {
                fd,
                mtu: 1500,
                mac: [2, 0, 0, 0, 0, 1],
            },
        )],
        blocks: Vec::new(),
    }
}

#[test]
fn net_write_poll_read_over_a_tap() {
    let tap = match TapGuard::new() {
        Ok(tap) => tap,
        Err(reason) => {
            skipped!("{reason}");
            return;
        }
    };
    // The guest's frame: broadcast, from 02:00:00:00:00:01, type 0x88b6.
    let mut frame = vec![0xffu8; 6];
    frame.extend([2, 0, 0, 0, 0, 1, 0x88, 0xb6]);
    frame.resize(60, b'g');
    let mut code = Asm::default();
    for (i, chunk) in frame.chunks(4).enumerate() {
        code = code.store32(
            DATA + 4 * i as u32,
            u32::from_le_bytes(chunk.try_into().unwrap()),
        );
    }
    let net = |c: Asm, nr: u16, at: u32, handle: i32, data: u32, len: i32| {
        c.store64(at, handle)
            .store64(at + 8, data as i32)
            .store64(at + 16, len)
            .store32(at + 24, 99)
            .hypercall(nr, at)
    };
    code = net(code, 6, ARGS, 1, DATA, 60);
    code = code
        .store64(ARGS + 0x40, 2_000_000_000)
        .hypercall(3, ARGS + 0x40);
    code = net(code, 7, ARGS + 0x80, 1, DATA + 0x800, 2048);
    code = net(code, 7, ARGS + 0xc0, 1, DATA + 0x1000, 2048);
    code = net(code, 6, ARGS + 0x100, 5, DATA, 60);
    let code = code.halt(0);
    let Some(mut vm) = vm(&code, 2 << 20) else {
        return;
    };
    let tap_fd = tap.open();
    let (rx, _) = packet_socket(tap.index(), 0x88b6);
    let (tx, to) = packet_socket(tap.index(), 0x88b5);
    let mut host_frame = vec![0xffu8; 6];
    host_frame.extend([2, 0, 0, 0, 0, 2, 0x88, 0xb5]);
    host_frame.resize(64, b'h');
    // SAFETY: `host_frame` and `to` are valid for the call.
    let sent = unsafe {
        libc::sendto(
            tx.as_raw_fd(),
            host_frame.as_ptr().cast(),
            host_frame.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(sent, 64, "sendto: {}", std::io::Error::last_os_error());
    let d = one_tap(tap_fd);
    assert_eq!(run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap(), 0);
    let m = vm.memory();
    let at = |a: u32| u64::from(a);
    assert_eq!(m.read_i32(at(ARGS) + 24).unwrap(), 0, "NET_WRITE ret");
    assert_eq!(
        m.read_u64(at(ARGS + 0x40) + 8).unwrap(),
        1 << 1,
        "POLL ready_set"
    );
    assert_eq!(m.read_i32(at(ARGS + 0x40) + 16).unwrap(), 1, "POLL ret");
    assert_eq!(m.read_i32(at(ARGS + 0x80) + 24).unwrap(), 0, "NET_READ ret");
    assert_eq!(
        m.read_u64(at(ARGS + 0x80) + 16).unwrap(),
        64,
        "NET_READ len"
    );
    assert_eq!(m.slice(at(DATA + 0x800), 64).unwrap(), &host_frame[..]);
    assert_eq!(
        m.read_i32(at(ARGS + 0xc0) + 24).unwrap(),
        1,
        "second NET_READ is AGAIN"
    );
    assert_eq!(
        m.read_i32(at(ARGS + 0x100) + 24).unwrap(),
        2,
        "unknown handle: EINVAL"
    );
    let mut buf = [0u8; 2048];
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { libc::recv(rx.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    assert_eq!(n, 60, "the host sees the guest's frame");
    assert_eq!(&buf[..60], &frame[..]);
}

/// A NET_WRITE the tap refuses (the interface set down: EIO) is told to
/// the guest (EUNSPEC), and one longer than the MTU plus the Ethernet
/// header is refused (EINVAL); the guest goes on and halts normally
/// (before, either ended the run with an error).
#[test]
fn net_write_failures_are_the_guests_to_handle() {
    let tap = match TapGuard::new() {
        Ok(tap) => tap,
        Err(reason) => {
            skipped!("{reason}");
            return;
        }
    };
    let net = |c: Asm, at: u32, len: i32| {
        c.store64(at, 1)
            .store64(at + 8, DATA as i32)
            .store64(at + 16, len)
            .store32(at + 24, 99)
            .hypercall(6, at)
    };
    let code = net(Asm::default(), ARGS, 60);
    let code = net(code, ARGS + 0x40, 1515).halt(0);
    let Some(mut vm) = vm(&code, 2 << 20) else {
        return;
    };
    let tap_fd = tap.open();
    let down = std::process::Command::new("ip")
        .args(["link", "set", "dev", &tap.name, "down"])
        .status()
        .unwrap();
    assert!(down.success());
    let d = one_tap(tap_fd);
    assert_eq!(run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap(), 0);
    let m = vm.memory();
    let ret = |a: u32| m.read_i32(u64::from(a) + 24).unwrap();
    assert_eq!(ret(ARGS), 3, "a down tap: EUNSPEC");
    assert_eq!(ret(ARGS + 0x40), 2, "1515 bytes: EINVAL");
}

#[test]
fn writing_a_read_only_segment_stops_the_guest() {
    // movl $0, 0x100000 (its own first bytes), after protecting the page.
    let code = Asm::default().store32(CODE as u32, 0).halt(0);
    let Some(mut vm) = vm(&code, 2 << 20) else {
        return;
    };
    boot_info::protect_segments(
        vm.memory_mut(),
        &[boot_info::SegmentRights {
            start: CODE,
            end: CODE + 0x1000,
            writable: false,
        }],
    )
    .unwrap();
    let d = no_devices();
    let e = run(&mut vm, &Hypercalls::new(&d).unwrap()).unwrap_err();
    println!("a write to text ends with: {e}");
    assert!(
        matches!(
            e,
            HvtError::Mmio {
                gpa: CODE,
                write: true,
                ..
            } | HvtError::TranslationFault
        ),
        "{e}"
    );
}

#[test]
fn an_unaligned_block_access_is_einval_not_fatal() {
    // In range but not a multiple of the 512-byte sector: the guest gets
    // EINVAL (the API's answer), the tender goes on, the disk is untouched.
    // No KVM needed: the hypercall handler runs on a plain guest memory.
    use super::memory::GuestMemory;
    use solo5_abi::hvt::hypercall as nr;
    let (dev, path) = block_device(&[b'R'; 1024]);
    let d = Attached {
        manifest: Vec::new(),
        nets: Vec::new(),
        blocks: vec![(1, dev)],
    };
    let h = Hypercalls::new(&d).unwrap();
    let mut mem = GuestMemory::new(2 << 20).unwrap();
    let args = u64::from(ARGS);
    for (i, (hc, offset, len)) in [
        (nr::BLOCK_WRITE, 1u64, 512u64),
        (nr::BLOCK_WRITE, 0, 100),
        (nr::BLOCK_READ, 3, 512),
        (nr::BLOCK_READ, 512, 511),
    ]
    .into_iter()
    .enumerate()
    {
        mem.write_u64(args, 1).unwrap();
        mem.write_u64(args + 8, offset).unwrap();
        mem.write_u64(args + 16, u64::from(DATA)).unwrap();
        mem.write_u64(args + 24, len).unwrap();
        mem.write_i32(args + 32, 99).unwrap();
        let outcome = h.handle(&mut mem, hc, args);
        assert!(
            matches!(outcome, Ok(super::hypercall::Outcome::Continue)),
            "case {i}: {outcome:?}"
        );
        assert_eq!(mem.read_i32(args + 32).unwrap(), 2, "case {i}: EINVAL");
    }
    let on_disk = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(on_disk, vec![b'R'; 1024]);
}
