//! The `mirage-hvt` tender end to end: small SSE-free assembly guests
//! (built by `tests/support`) run under the binary, one per hypercall, the
//! boot info as the guest sees it, and every kind of hostile port access
//! or pointer. Each test that needs KVM prints "SKIPPED: <reason>" and
//! returns when `/dev/kvm` is missing or unusable.

/// Reports a skip on the process's stderr, which the test harness does not
/// capture, so it shows in every run.
macro_rules! skipped {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED: {}", format_args!($($arg)*));
    }};
}

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{AbiTarget, DeviceKind, build_guest};

/// Macros every guest uses: `HYPERCALL nr, args` and `HALT status`.
const PRELUDE: &str = r#"
    .macro HYPERCALL nr, args
    mov $\args, %eax
    mov $(0x500 + \nr), %dx
    outl %eax, (%dx)
    .endm
    .macro HALT status
    movl $\status, halt_args+8
    HYPERCALL 8, halt_args
    .endm
    .text
"#;

/// The HALT argument struct (cookie 0).
const EPILOGUE: &str = r#"
    .data
    .p2align 3
halt_args: .quad 0, 0
"#;

fn tender() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mirage-hvt"))
}

/// Whether KVM can run a guest here; prints SKIPPED with the reason if not.
fn kvm_usable(test: &str) -> bool {
    if !std::path::Path::new("/dev/kvm").exists() {
        skipped!("{test}: /dev/kvm does not exist");
        return false;
    }
    match mirage_tender::hvt::Vm::new(2 << 20) {
        Ok(_) => true,
        Err(e) => {
            skipped!("{test}: KVM is not usable here: {e}");
            false
        }
    }
}

fn guest(name: &str, body: &str, devices: &[(&str, DeviceKind)]) -> PathBuf {
    build_guest(
        name,
        &format!("{PRELUDE}{body}{EPILOGUE}"),
        AbiTarget::Hvt,
        devices,
    )
}

fn run(args: &[&str], kernel: &PathBuf, guest_args: &[&str]) -> Output {
    tender()
        .args(args)
        .arg(kernel)
        .args(guest_args)
        .stdin(Stdio::null())
        .output()
        .expect("run mirage-hvt")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let o = tender().arg("--version").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert!(e.contains("mirage-hvt tender, version "), "{e}");
    assert!(e.contains("ABI version 2"), "{e}");
    let o = tender().arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("usage: mirage-hvt"), "{}", stderr(&o));
}

#[test]
fn arguments_that_are_not_utf8_do_not_crash_the_tender() {
    use std::os::unix::ffi::OsStringExt;
    let raw = |b: &[u8]| std::ffi::OsString::from_vec(b.to_vec());
    // A guest argument is passed on as bytes: here the kernel is missing.
    let o = tender()
        .arg("--mem=2")
        .arg("/nonexistent/k.hvt")
        .arg(raw(b"--hello=\xff"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent/k.hvt: Could not open"),
        "{}",
        stderr(&o)
    );
    // A tender option must be UTF-8.
    let o = tender()
        .arg(raw(b"--mem=\xff"))
        .arg("/nonexistent/k.hvt")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Invalid option: `--mem=\u{fffd}'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn puts_hello() {
    if !kvm_usable("puts_hello") {
        return;
    }
    let g = guest(
        "hvt-hello",
        r#"
    .globl _start
_start:
    HYPERCALL 2, puts_args
    HALT 0
    .data
msg: .ascii "Hello\n"
    .p2align 3
puts_args: .quad msg, 6
"#,
        &[],
    );
    let o = run(&["--mem=2"], &g, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b"Hello\n");
}

#[test]
fn halt_status_becomes_the_exit_status() {
    if !kvm_usable("halt_status") {
        return;
    }
    let g = guest("hvt-halt42", ".globl _start\n_start:\n    HALT 42\n", &[]);
    let o = run(&["--mem=2"], &g, &[]);
    assert_eq!(o.status.code(), Some(42), "{}", stderr(&o));
}

#[test]
fn the_cargo_runner_boots_an_hvt_unikernel_under_mirage_hvt() {
    // mirage-run (the workspace's cargo runner) reads the ABI note and
    // execs mirage-hvt beside it; leading tender options go to the tender,
    // the rest to the guest; other programs run as they are.
    let runner = env!("CARGO_BIN_EXE_mirage-run");
    let o = Command::new(runner)
        .args(["/bin/sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7));
    if !kvm_usable("cargo runner") {
        return;
    }
    let g = guest(
        "hvt-runner",
        r#"
    .globl _start
_start:
    mov 24(%rdi), %rbx
    mov %rbx, puts_args
    HYPERCALL 2, puts_args
    mov (%rdi), %rax
    shr $20, %rax
    mov %eax, halt_args+8
    HYPERCALL 8, halt_args
    .data
    .p2align 3
puts_args: .quad 0, 5
"#,
        &[],
    );
    let o = Command::new(runner)
        .arg(&g)
        .args(["--mem=4", "abcd"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(o.stdout, b"abcd\0");
}

#[test]
fn walltime_is_the_hosts_realtime_clock() {
    if !kvm_usable("walltime") {
        return;
    }
    let g = guest(
        "hvt-walltime",
        r#"
    .globl _start
_start:
    HYPERCALL 1, wt_args
    HYPERCALL 2, puts_args
    HALT 0
    .data
    .p2align 3
wt_args: .quad 0
puts_args: .quad wt_args, 8
"#,
        &[],
    );
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    };
    let before = now();
    let o = run(&["--mem=2"], &g, &[]);
    let after = now();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t = u64::from_le_bytes(o.stdout[..8].try_into().unwrap());
    assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
}

#[test]
fn poll_without_devices_times_out() {
    if !kvm_usable("poll") {
        return;
    }
    let g = guest(
        "hvt-poll",
        r#"
    .globl _start
_start:
    HYPERCALL 3, poll_args
    cmpl $0, poll_args+16
    jne bad
    cmpq $0, poll_args+8
    jne bad
    HALT 0
bad:
    HALT 3
    .data
    .p2align 3
poll_args: .quad 50000000, 0xff
    .long 7, 0
"#,
        &[],
    );
    let t = Instant::now();
    let o = run(&["--mem=2"], &g, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(t.elapsed() >= Duration::from_millis(50));
}

#[test]
fn block_read_write_and_einval() {
    if !kvm_usable("block") {
        return;
    }
    let g = guest(
        "hvt-block",
        r#"
    .globl _start
_start:
    HYPERCALL 4, bw_args
    cmpl $0, bw_args+32
    jne bad
    HYPERCALL 5, br_args
    cmpl $0, br_args+32
    jne bad
    HYPERCALL 2, puts_args
    HYPERCALL 5, beyond_args
    cmpl $2, beyond_args+32
    jne bad
    HYPERCALL 4, across_args
    cmpl $2, across_args+32
    jne bad
    HALT 0
bad:
    HALT 3
    .data
    .p2align 3
bw_args: .quad 1, 512, wbuf, 512
    .long 99, 0
br_args: .quad 1, 0, rbuf, 512
    .long 99, 0
beyond_args: .quad 1, 1024, rbuf, 512
    .long 99, 0
across_args: .quad 1, 1023, wbuf, 512
    .long 99, 0
puts_args: .quad rbuf, 512
wbuf: .fill 512, 1, 0x57
rbuf: .fill 512, 1, 0
"#,
        &[("storage", DeviceKind::Block)],
    );
    let path = std::env::temp_dir().join(format!("mirage-hvt-block-{}.img", std::process::id()));
    let mut image = vec![b'R'; 512];
    image.extend([0u8; 512]);
    std::fs::write(&path, &image).unwrap();
    let o = run(
        &["--mem=2", &format!("--block:storage={}", path.display())],
        &g,
        &[],
    );
    let disk = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, vec![b'R'; 512]);
    assert_eq!(&disk[..512], &[b'R'; 512][..]);
    assert_eq!(&disk[512..], &[b'W'; 512][..]);
}

/// A tap interface for one test, removed on drop even on failure.
struct Tap(String);

impl Tap {
    fn new() -> Result<Self, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root, cannot create a tap interface".into());
        }
        let name = format!("mht{}", std::process::id() % 100_000_000);
        let ip = |args: &[&str]| -> Result<(), String> {
            let o = Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| format!("cannot run ip: {e}"))?;
            if o.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
        };
        ip(&["tuntap", "add", &name, "mode", "tap"])?;
        let tap = Tap(name);
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", tap.0),
            "1",
        );
        ip(&["link", "set", "dev", &tap.0, "up"])?;
        Ok(tap)
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", "dev", &self.0])
            .output();
    }
}

#[test]
fn net_write_and_read_over_a_tap() {
    if !kvm_usable("net") {
        return;
    }
    let tap = match Tap::new() {
        Ok(t) => t,
        Err(reason) => {
            skipped!("net: {reason}");
            return;
        }
    };
    // Exit status: NET_WRITE's ret + 16 * NET_READ's ret (AGAIN = 1), and
    // the MTU the guest finds in its manifest copy must be the tap's.
    let g = guest(
        "hvt-net",
        r#"
    .globl _start
_start:
    mov 32(%rdi), %rbx
    movzwl 8+104+78(%rbx), %ecx
    cmpl $1500, %ecx
    jne bad
    HYPERCALL 6, nw_args
    HYPERCALL 7, nr_args
    mov nr_args+24, %eax
    shl $4, %eax
    add nw_args+24, %eax
    mov %eax, halt_args+8
    HYPERCALL 8, halt_args
bad:
    HALT 3
    .data
    .p2align 3
nw_args: .quad 1, frame, 60
    .long 99, 0
nr_args: .quad 1, rbuf, 2048
    .long 99, 0
frame: .byte 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb6
    .fill 46, 1, 0x67
rbuf: .fill 2048, 1, 0
"#,
        &[("service0", DeviceKind::Net)],
    );
    let o = run(&["--mem=2", &format!("--net:service0={}", tap.0)], &g, &[]);
    assert_eq!(o.status.code(), Some(16), "{}", stderr(&o));
}

#[test]
fn the_guest_sees_its_boot_info() {
    if !kvm_usable("boot_info") {
        return;
    }
    // RDI = 0x10000; RSP = mem_size - 8; kernel_end page aligned and above
    // the image; cmdline "abc"; exit status = mem_size in MiB.
    let g = guest(
        "hvt-bootinfo",
        r#"
    .globl _start
_start:
    cmp $0x10000, %rdi
    jne bad
    lea 8(%rsp), %rcx
    cmp (%rdi), %rcx
    jne bad
    mov 8(%rdi), %rcx
    test $0xfff, %rcx
    jne bad
    cmp $_start, %rcx
    jbe bad
    cmpq $0, 40(%rdi)
    jne bad
    cmpq $0, 48(%rdi)
    jne bad
    mov 24(%rdi), %rbx
    mov %rbx, puts_args
    HYPERCALL 2, puts_args
    mov (%rdi), %rax
    shr $20, %rax
    mov %eax, halt_args+8
    HYPERCALL 8, halt_args
bad:
    HALT 3
    .data
    .p2align 3
puts_args: .quad 0, 4
"#,
        &[],
    );
    // 7 MiB is rounded down to 6.
    let o = run(&["--mem=7"], &g, &["abc"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert_eq!(o.stdout, b"abc\0");
}

/// Runs a hostile guest: exit status 1 and `message` on stderr.
fn hostile(name: &str, body: &str, message: &str) {
    if !kvm_usable(name) {
        return;
    }
    let g = guest(name, &format!(".globl _start\n_start:\n{body}"), &[]);
    let o = run(&["--mem=2"], &g, &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{name}: {e}");
    assert!(e.contains(message), "{name}: expected {message:?} in {e:?}");
}

#[test]
fn puts_data_beyond_memory() {
    hostile(
        "hvt-puts-beyond",
        "    HYPERCALL 2, puts_args\n    HALT 0\n    .data\n    .p2align 3\nputs_args: .quad 0x1ffff0, 0x100\n",
        "Invalid guest access: PUTS: data gpa=0x1ffff0 len=0x100",
    );
}

#[test]
fn puts_length_wrapping_around() {
    hostile(
        "hvt-puts-wrap",
        "    HYPERCALL 2, puts_args\n    HALT 0\n    .data\n    .p2align 3\nputs_args: .quad puts_args, 0xfffffffffffff000\n",
        "Invalid guest access: PUTS: data",
    );
}

#[test]
fn argument_struct_beyond_memory() {
    hostile(
        "hvt-args-beyond",
        "    HYPERCALL 2, 0xfffffff0\n",
        "Invalid guest access: PUTS: argument struct gpa=0xfffffff0",
    );
}

#[test]
fn unknown_port() {
    hostile(
        "hvt-port-50f",
        "    mov $0x50f, %dx\n    outl %eax, (%dx)\n",
        "Invalid guest port access: port=0x50f",
    );
}

#[test]
fn in_from_a_hypercall_port() {
    hostile(
        "hvt-inl",
        "    mov $0x501, %dx\n    inl (%dx), %eax\n",
        "Invalid guest port access: port=0x501 direction=in",
    );
}

#[test]
fn one_byte_out() {
    hostile(
        "hvt-outb",
        "    mov $0x508, %dx\n    outb %al, (%dx)\n",
        "Invalid guest port access: port=0x508 direction=out size=1",
    );
}

#[test]
fn hypercall_zero() {
    hostile(
        "hvt-hc0",
        "    HYPERCALL 0, halt_args\n",
        "Invalid guest hypercall: num=0",
    );
}

#[test]
fn halt_cookie_beyond_memory() {
    hostile(
        "hvt-cookie",
        "    movq $0x1fff00, halt_args\n    HYPERCALL 8, halt_args\n",
        "Invalid guest access: HALT: cookie",
    );
}

#[test]
fn writing_the_text_segment_stops_the_guest() {
    hostile(
        "hvt-write-text",
        "    movl $0, _start\n    HALT 0\n",
        "which is not writable guest memory",
    );
}

#[test]
fn an_spt_unikernel_is_refused() {
    let g = build_guest(
        "hvt-wrong-target",
        ".globl _start\n_start:\n    hlt\n",
        AbiTarget::Spt,
        &[],
    );
    let o = run(&["--mem=2"], &g, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("mirage-hvt: "), "{}", stderr(&o));
}

/// Exit status 1 with `needle` on stderr, and no panic.
#[track_caller]
fn refused(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains(needle), "expected {needle:?} in {e:?}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn malformed_kernels_and_options_are_refused() {
    use support::*;
    let g = guest(
        "hvt-disk",
        ".globl _start\n_start:\n    HALT 0\n",
        &[("disk", DeviceKind::Block)],
    );
    let img = std::env::temp_dir().join(format!("mirage-hvt-opts-{}.img", std::process::id()));
    std::fs::write(&img, vec![0u8; 1536]).unwrap();
    let block = format!("--block:disk={}", img.display());
    // Checked before KVM is touched: the notes, the manifest, the options.
    let bad = |name: &str, f: &dyn Fn(&mut Vec<u8>), needle: &str| {
        let p = patched(&g, name, f);
        refused(&run(&["--mem=2", &block], &p, &[]), needle);
        std::fs::remove_file(p).unwrap();
    };
    bad("class", &|b| b[4] = 1, "EI_CLASS 1 is not ELFCLASS64");
    use solo5_abi::note::ABI1_NOTE_TYPE as ABI;
    // (name, what to patch: the ABI note's word at this offset, or the
    // manifest's, the value, the message)
    for (name, abi_note, at, value, needle) in [
        (
            "noabi",
            true,
            8,
            0x1234,
            "No Solo5 ABI information found in executable",
        ),
        (
            "abiversion",
            true,
            24,
            1,
            "Executable requests unsupported ABI version 1",
        ),
        (
            "mftversion",
            false,
            0,
            2,
            "Solo5 manifest is invalid: manifest version 2",
        ),
    ] {
        let patch = |b: &mut Vec<u8>| {
            let base = if abi_note {
                note_phdr(b, ABI).offset as usize
            } else {
                manifest_offset(b)
            };
            set_u32(b, base + at, value);
        };
        bad(name, &patch, needle);
    }
    let opts = |args: &[&str], needle: &str| refused(&run(args, &g, &[]), needle);
    opts(&["--mem=4097", &block], "out of range");
    opts(&["--mem=1", &block], "out of range");
    opts(&["--mem=two", &block], "Malformed argument to --mem");
    opts(
        &["--mem=2"],
        "Device 'disk' of type BLOCK_BASIC declared but not attached.",
    );
    opts(
        &["--mem=2", "--block:disk=/nonexistent/disk.img"],
        "Could not open block device: /nonexistent/disk.img",
    );
    opts(
        &["--mem=2", &block, "--block-sector-size:disk=768"],
        "Block size must be a power of 2",
    );
    opts(
        &["--mem=2", &block, "--block-sector-size:disk=256"],
        "Block size must be a power of 2",
    );
    opts(
        &["--mem=2", "--net:disk=tap0"],
        "Resource not declared in manifest: 'disk' (no device of type NET_BASIC",
    );
    opts(
        &["--mem=2", &block, "--net:service=mirage-nope0"],
        "Resource not declared in manifest: 'service'",
    );
    // Segment checks need guest memory, so KVM.
    if kvm_usable("malformed segments") {
        bad(
            "wx",
            &|b| {
                let text = loads(b)[0];
                set_u32(b, text.at + phdr::FLAGS, PF_R | PF_W | PF_X);
            },
            "both writable and executable",
        );
        bad("entry", &|b| set_u64(b, 24, 0x1000), "entry point 0x1000");
    }
    std::fs::remove_file(img).unwrap();
}

#[test]
fn undeclared_but_unattached_device() {
    if !kvm_usable("unattached") {
        return;
    }
    let g = guest(
        "hvt-unattached",
        ".globl _start\n_start:\n    HALT 0\n",
        &[("storage", DeviceKind::Block)],
    );
    let o = run(&["--mem=2"], &g, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("storage"), "{}", stderr(&o));
}

#[test]
fn sigterm_ends_a_running_guest_under_seccomp() {
    if !kvm_usable("sigterm") {
        return;
    }
    let g = guest("hvt-spin", ".globl _start\n_start:\n    jmp _start\n", &[]);
    let child = tender()
        .arg("--mem=2")
        .arg(&g)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the filter is in place (the guest is then running).
    let status_file = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seccomp = String::new();
    while Instant::now() < deadline {
        let s = std::fs::read_to_string(&status_file).unwrap_or_default();
        if let Some(line) = s.lines().find(|l| l.starts_with("Seccomp:")) {
            seccomp = line.to_string();
            if line.ends_with('2') {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signals our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert!(seccomp.ends_with('2'), "no seccomp filter: {seccomp:?}");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Exiting on signal 15"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn sse_probe() {
    if !kvm_usable("sse_probe") {
        return;
    }
    match mirage_tender::hvt::probe_sse() {
        Ok(true) => println!("this host's KVM runs SSE guests"),
        Ok(false) => println!("{}", mirage_tender::hvt::probe::SSE_SKIP_MESSAGE),
        Err(e) => panic!("SSE probe: {e}"),
    }
}

#[test]
fn the_cargo_runner_refuses_a_fifo_instead_of_hanging() {
    // A FIFO with no writer used to block mirage-run forever in open().
    let fifo = std::env::temp_dir().join(format!("mirage-run-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let o = Command::new(env!("CARGO_BIN_EXE_mirage-run"))
        .arg(&fifo)
        .output()
        .unwrap();
    std::fs::remove_file(&fifo).unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("mirage-run:"), "{}", stderr(&o));
}
