//! End-to-end tests of `mirage-spt` on small assembly guests.
/// Reports a skip on the process's stderr, which the test harness does not
/// capture, so it shows in every run.
macro_rules! skipped {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED: {}", format_args!($($arg)*));
    }};
}

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

const SPT: &str = env!("CARGO_BIN_EXE_mirage-spt");

const EXIT: &str = "    mov $231, %eax\n    syscall\n";

fn hello() -> PathBuf {
    build_guest(
        "hello",
        &format!(
            ".globl _start\n_start:\n\
             mov $1, %eax\n mov $1, %edi\n lea msg(%rip), %rsi\n mov $6, %edx\n syscall\n\
             xor %edi, %edi\n{EXIT}\
             .section .rodata\nmsg: .ascii \"Hello\\n\"\n.text\n"
        ),
        AbiTarget::Spt,
        &[],
    )
}

fn run(args: &[&str], kernel: &Path, guest_args: &[&str]) -> Output {
    Command::new(SPT)
        .args(args)
        .arg(kernel)
        .args(guest_args)
        .output()
        .expect("run mirage-spt")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit status 1 with `needle` in stderr.
#[track_caller]
fn fails_with(o: &Output, needle: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1, got {:?}; stderr: {}",
        o.status,
        stderr(o)
    );
    assert!(
        stderr(o).contains(needle),
        "stderr lacks {needle:?}: {}",
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

#[track_caller]
fn killed_by(o: &Output, signal: i32) {
    assert_eq!(
        o.status.signal(),
        Some(signal),
        "expected signal {signal}, got {:?}; stdout: {} stderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

#[test]
fn hello_writes_and_exits_0() {
    let o = run(&["--mem=2"], &hello(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Hello\n");
    // Default memory (512 MiB) too.
    let o = run(&[], &hello(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn exit_status_passes_through() {
    let g = build_guest(
        "exit7",
        &format!(".globl _start\n_start:\n mov $7, %edi\n{EXIT}"),
        AbiTarget::Spt,
        &[],
    );
    assert_eq!(run(&["--mem=2"], &g, &[]).status.code(), Some(7));
}

#[test]
fn boot_info_and_cmdline() {
    // Checks mem_size and the initial rsp, then prints the cmdline.
    let g = build_guest(
        "cmdline",
        &format!(
            ".globl _start\n_start:\n\
             cmpq $0x400000, (%rdi)\n jne 9f\n\
             lea 8(%rsp), %rax\n cmp %rax, (%rdi)\n jne 9f\n\
             cmpq $0x11000, %rdi\n jne 9f\n\
             mov 16(%rdi), %rsi\n mov %rsi, %rcx\n\
             1: cmpb $0, (%rcx)\n je 2f\n inc %rcx\n jmp 1b\n\
             2: mov %rcx, %rdx\n sub %rsi, %rdx\n mov $1, %edi\n mov $1, %eax\n syscall\n\
             xor %edi, %edi\n{EXIT}\
             9: mov $3, %edi\n{EXIT}"
        ),
        AbiTarget::Spt,
        &[],
    );
    let o = run(&["--mem=4", "--"], &g, &["--solo5:quiet", "a", "b  c", ""]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "--solo5:quiet a b  c ");
}

#[test]
fn guest_arguments_are_passed_as_bytes() {
    use std::os::unix::ffi::OsStringExt;
    // The guest prints its command line: the bytes arrive unchanged.
    let g = build_guest(
        "cmdline-bytes",
        &format!(
            ".globl _start\n_start:\n\
             mov 16(%rdi), %rsi\n mov %rsi, %rcx\n\
             1: cmpb $0, (%rcx)\n je 2f\n inc %rcx\n jmp 1b\n\
             2: mov %rcx, %rdx\n sub %rsi, %rdx\n mov $1, %edi\n mov $1, %eax\n syscall\n\
             xor %edi, %edi\n{EXIT}"
        ),
        AbiTarget::Spt,
        &[],
    );
    let o = Command::new(SPT)
        .arg("--mem=2")
        .arg(&g)
        .arg("a")
        .arg(std::ffi::OsString::from_vec(b"b\xffc".to_vec()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b"a b\xffc");
    let o = Command::new(SPT)
        .arg(std::ffi::OsString::from_vec(b"--mem=\xff".to_vec()))
        .arg(&g)
        .output()
        .unwrap();
    fails_with(&o, "Invalid option: `--mem=\u{fffd}'");
}

#[test]
fn clocks_work() {
    let g = build_guest(
        "clock",
        &format!(
            ".globl _start\n_start:\n sub $16, %rsp\n\
             mov $228, %eax\n mov $1, %edi\n mov %rsp, %rsi\n syscall\n test %rax, %rax\n jnz 9f\n\
             mov $228, %eax\n xor %edi, %edi\n mov %rsp, %rsi\n syscall\n test %rax, %rax\n jnz 9f\n\
             cmpq $1600000000, (%rsp)\n jl 9f\n\
             xor %edi, %edi\n{EXIT}\
             9: mov $3, %edi\n{EXIT}"
        ),
        AbiTarget::Spt,
        &[],
    );
    let o = run(&["--mem=2"], &g, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn writing_text_faults() {
    let g = build_guest(
        "wtext",
        &format!(".globl _start\n_start:\n movb $0x90, _start(%rip)\n xor %edi, %edi\n{EXIT}"),
        AbiTarget::Spt,
        &[],
    );
    killed_by(&run(&["--mem=2"], &g, &[]), libc::SIGSEGV);
}

#[test]
fn forbidden_syscalls_are_killed() {
    let getpid = build_guest(
        "getpid",
        &format!(".globl _start\n_start:\n mov $39, %eax\n syscall\n xor %edi, %edi\n{EXIT}"),
        AbiTarget::Spt,
        &[],
    );
    killed_by(&run(&["--mem=2"], &getpid, &[]), libc::SIGSYS);
    let stderr_write = build_guest(
        "write2",
        &format!(
            ".globl _start\n_start:\n mov $1, %eax\n mov $2, %edi\n lea _start(%rip), %rsi\n\
             mov $1, %edx\n syscall\n xor %edi, %edi\n{EXIT}"
        ),
        AbiTarget::Spt,
        &[],
    );
    killed_by(&run(&["--mem=2"], &stderr_write, &[]), libc::SIGSYS);
    let bad_clock = build_guest(
        "badclock",
        &format!(
            ".globl _start\n_start:\n sub $16, %rsp\n mov $228, %eax\n mov $2, %edi\n\
             mov %rsp, %rsi\n syscall\n xor %edi, %edi\n{EXIT}"
        ),
        AbiTarget::Spt,
        &[],
    );
    killed_by(&run(&["--mem=2"], &bad_clock, &[]), libc::SIGSYS);
}

/// Block guest: `op` is the assembly run with r12 = hostfd, rbx = the
/// manifest, rsp = a 1024-byte buffer.
fn block_guest(name: &str, op: &str) -> PathBuf {
    build_guest(
        name,
        &format!(
            ".globl _start\n_start:\n mov 24(%rdi), %rbx\n movslq 200(%rbx), %r12\n\
             sub $1024, %rsp\n{op}\n xor %edi, %edi\n{EXIT}\
             9: mov $3, %edi\n{EXIT}"
        ),
        AbiTarget::Spt,
        &[("disk", DeviceKind::Block)],
    )
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = guest_dir().join(format!("{name}-{}.img", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn block_reads_and_writes_within_capacity() {
    // Checks capacity and block size in the manifest, writes 'B's to the
    // last block, reads block 0 back and prints its first 4 bytes.
    let g = block_guest(
        "blockrw",
        "cmpq $1024, 184(%rbx)\n jne 9f\n cmpw $512, 192(%rbx)\n jne 9f\n cmpb $1, 208(%rbx)\n jne 9f\n\
         mov %rsp, %rdi\n mov $0x42, %al\n mov $512, %ecx\n rep stosb\n\
         mov $18, %eax\n mov %r12, %rdi\n mov %rsp, %rsi\n mov $512, %edx\n mov $512, %r10d\n syscall\n\
         cmp $512, %rax\n jne 9f\n\
         mov $17, %eax\n mov %r12, %rdi\n mov %rsp, %rsi\n mov $512, %edx\n xor %r10d, %r10d\n syscall\n\
         cmp $512, %rax\n jne 9f\n\
         mov $1, %eax\n mov $1, %edi\n mov %rsp, %rsi\n mov $4, %edx\n syscall",
    );
    let img = temp_file("blockrw", &[b'A'; 1024]);
    let arg = format!("--block:disk={}", img.display());
    let o = run(&["--mem=2", &arg], &g, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "AAAA");
    let data = std::fs::read(&img).unwrap();
    assert_eq!(data.len(), 1024);
    assert!(data[..512].iter().all(|&b| b == b'A'));
    assert!(data[512..].iter().all(|&b| b == b'B'));
    std::fs::remove_file(img).unwrap();
}

#[test]
fn block_access_beyond_capacity_is_killed() {
    let beyond = block_guest(
        "blockbeyond",
        "mov $17, %eax\n mov %r12, %rdi\n mov %rsp, %rsi\n mov $512, %edx\n mov $1024, %r10d\n syscall",
    );
    let two_blocks = block_guest(
        "blocktwo",
        "mov $18, %eax\n mov %r12, %rdi\n mov %rsp, %rsi\n mov $1024, %edx\n xor %r10d, %r10d\n syscall",
    );
    let img = temp_file("blockbeyond", &[0; 1024]);
    let arg = format!("--block:disk={}", img.display());
    killed_by(&run(&["--mem=2", &arg], &beyond, &[]), libc::SIGSYS);
    killed_by(&run(&["--mem=2", &arg], &two_blocks, &[]), libc::SIGSYS);
    assert_eq!(std::fs::read(&img).unwrap(), vec![0; 1024]);
    std::fs::remove_file(img).unwrap();
}

#[test]
fn block_option_errors() {
    let g = block_guest("blockrw0", "");
    fails_with(
        &run(&["--mem=2"], &g, &[]),
        "Device 'disk' of type BLOCK_BASIC declared but not attached.",
    );
    fails_with(
        &run(&["--mem=2", "--block:disk=/nonexistent/disk.img"], &g, &[]),
        "Could not open block device: /nonexistent/disk.img",
    );
    let img = temp_file("blockopts", &[0; 1536]);
    let arg = format!("--block:disk={}", img.display());
    for size in ["1000", "256"] {
        let s = format!("--block-sector-size:disk={size}");
        fails_with(
            &run(&["--mem=2", &arg, &s], &g, &[]),
            "Block size must be a power of 2",
        );
    }
    let s = "--block-sector-size:disk=1024".to_string();
    fails_with(
        &run(&["--mem=2", &arg, &s], &g, &[]),
        "Backing storage size must be block aligned (1024 bytes)",
    );
    fails_with(
        &run(&["--mem=2", "--block:other=/tmp/x"], &g, &[]),
        "Resource not declared in manifest: 'other'",
    );
    std::fs::remove_file(img).unwrap();
}

#[test]
fn command_line_errors() {
    let g = hello();
    fails_with(&run(&["--mem=0"], &g, &[]), "--mem");
    fails_with(&run(&["--mem=abc"], &g, &[]), "Malformed argument to --mem");
    fails_with(&run(&["--mem=1"], &g, &[]), "out of range");
    fails_with(&run(&["--mem=99999999999"], &g, &[]), "out of range");
    let o = run(&["--frobnicate"], &g, &[]);
    fails_with(&o, "Invalid option: `--frobnicate'");
    assert!(stderr(&o).contains("usage: mirage-spt"));
    let o = Command::new(SPT).output().unwrap();
    fails_with(&o, "Missing KERNEL operand");
    let o = Command::new(SPT).arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("usage: mirage-spt"));
    let o = Command::new(SPT).arg("--version").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("mirage-spt tender, version"));
    assert!(stderr(&o).contains("ABI version 2"));
    fails_with(
        &run(&[], Path::new("/nonexistent/k.spt"), &[]),
        "/nonexistent/k.spt: Could not open",
    );
}

fn malformed(name: &str, f: impl FnOnce(&mut Vec<u8>), needle: &str) {
    let p = patched(&hello(), name, f);
    fails_with(&run(&["--mem=2"], &p, &[]), needle);
    std::fs::remove_file(p).unwrap();
}

#[test]
fn malformed_elfs_are_refused() {
    malformed("class", |b| b[4] = 1, "EI_CLASS 1 is not ELFCLASS64");
    malformed(
        "machine",
        |b| set_u16(b, 18, 3),
        "e_machine 3 is not EM_X86_64",
    );
    malformed("type", |b| set_u16(b, 16, 3), "e_type 3 is not ET_EXEC");
    malformed("notelf", |b| b[1] = b'X', "not an ELF file");
    malformed(
        "truncated",
        |b| b.truncate(40),
        "too small for an ELF header",
    );
    malformed(
        "wx",
        |b| {
            let text = loads(b)[0];
            set_u32(b, text.at + phdr::FLAGS, PF_R | PF_W | PF_X);
        },
        "both writable and executable",
    );
    malformed(
        "overlap",
        |b| {
            let ro = loads(b)[1];
            set_u64(b, ro.at + phdr::VADDR, 0x100800);
        },
        "overlaps the previous one",
    );
    malformed(
        "misaligned",
        |b| {
            let ro = loads(b)[1];
            set_u64(b, ro.at + phdr::VADDR, ro.vaddr + 0x10);
            set_u64(b, ro.at + phdr::ALIGN, 0x10);
        },
        "is not 4 KiB aligned",
    );
    malformed(
        "beyondfile",
        |b| {
            let ro = loads(b)[1];
            set_u64(b, ro.at + phdr::FILESZ, 0x8_0000);
            set_u64(b, ro.at + phdr::MEMSZ, 0x8_0000);
        },
        "is not inside the file",
    );
    malformed("entrylow", |b| set_u64(b, 24, 0x1000), "entry point 0x1000");
    malformed(
        "entryhigh",
        |b| set_u64(b, 24, 0x200000),
        "entry point 0x200000",
    );
}

#[test]
fn malformed_notes_are_refused() {
    use solo5_abi::note::{ABI1_NOTE_TYPE, MFT1_NOTE_TYPE};
    malformed(
        "abitruncated",
        |b| {
            let n = note_phdr(b, ABI1_NOTE_TYPE);
            set_u64(b, n.at + phdr::FILESZ, 30);
        },
        "note needs 36 bytes but its segment has 30",
    );
    malformed(
        "abioversized",
        |b| {
            let n = note_phdr(b, ABI1_NOTE_TYPE);
            set_u32(b, n.offset as usize + 4, 33);
        },
        "note descriptor size 33",
    );
    malformed(
        "notetiny",
        |b| {
            let n = note_phdr(b, ABI1_NOTE_TYPE);
            set_u64(b, n.at + phdr::FILESZ, 8);
        },
        "PT_NOTE segment of 8 bytes is too small",
    );
    malformed(
        "noabi",
        |b| {
            let n = note_phdr(b, ABI1_NOTE_TYPE);
            set_u32(b, n.offset as usize + 8, 0x1234);
        },
        "No Solo5 ABI information found in executable",
    );
    malformed(
        "nomft",
        |b| {
            let n = note_phdr(b, MFT1_NOTE_TYPE);
            set_u32(b, n.offset as usize + 8, 0x1234);
        },
        "No Solo5 manifest found in executable",
    );
    malformed(
        "abiversion",
        |b| {
            let n = note_phdr(b, ABI1_NOTE_TYPE);
            set_u32(b, n.offset as usize + 24, 3);
        },
        "Executable requests unsupported ABI version 3",
    );
    malformed(
        "mftversion",
        |b| {
            let m = manifest_offset(b);
            set_u32(b, m, 2);
        },
        "Solo5 manifest is invalid: manifest version 2",
    );
    malformed(
        "mftentries",
        |b| {
            let m = manifest_offset(b);
            set_u32(b, m + 4, 2);
        },
        "Solo5 manifest is invalid",
    );
    malformed(
        "mftname",
        |b| {
            let m = manifest_offset(b);
            b[m + 8] = b'x';
        },
        "Solo5 manifest is invalid: manifest entry 0 is not the reserved entry",
    );
    let disk = block_guest("blockrw0", "");
    let p = patched(&disk, "mftname1", |b| {
        let m = manifest_offset(b);
        b[m + 8 + 104 + 67] = b'x';
    });
    fails_with(
        &run(&["--mem=2"], &p, &[]),
        "manifest entry 1 has an unterminated name",
    );
    // An hvt unikernel.
    let hvt = build_guest(
        "hello",
        &format!(".globl _start\n_start:\n xor %edi, %edi\n{EXIT}"),
        AbiTarget::Hvt,
        &[],
    );
    fails_with(
        &run(&["--mem=2"], &hvt, &[]),
        "Executable is not for the solo5-spt target",
    );
}

/// A tap interface made for one test and removed when dropped.
struct TapGuard(String);

impl TapGuard {
    fn new() -> Result<TapGuard, String> {
        let name = format!("mt{}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip")
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
                            String::from_utf8_lossy(&o.stderr)
                        ))
                    }
                })
        };
        ok(&["tuntap", "add", &name, "mode", "tap"])?;
        let guard = TapGuard(name);
        ok(&["link", "set", &guard.0, "up"])?;
        Ok(guard)
    }
}

impl Drop for TapGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

#[test]
fn net_guest_writes_a_frame() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/net/tun").exists() {
        skipped!("net_guest_writes_a_frame needs root and /dev/net/tun");
        return;
    }
    let tap = match TapGuard::new() {
        Ok(t) => t,
        Err(e) => {
            skipped!("net_guest_writes_a_frame: cannot create a tap: {e}");
            return;
        }
    };
    // Checks the MTU (1500) and the attached flag, then writes a 60-byte
    // broadcast frame from its MAC with EtherType 0x88b5.
    let g = build_guest(
        "netwrite",
        &format!(
            ".globl _start\n_start:\n mov 24(%rdi), %rbx\n movslq 200(%rbx), %r12\n\
             cmpw $1500, 190(%rbx)\n jne 9f\n cmpb $1, 208(%rbx)\n jne 9f\n\
             sub $64, %rsp\n mov %rsp, %rdi\n xor %eax, %eax\n mov $64, %ecx\n rep stosb\n\
             movl $0xffffffff, (%rsp)\n movw $0xffff, 4(%rsp)\n\
             mov 184(%rbx), %eax\n mov %eax, 6(%rsp)\n mov 188(%rbx), %ax\n mov %ax, 10(%rsp)\n\
             movw $0xb588, 12(%rsp)\n\
             mov $1, %eax\n mov %r12, %rdi\n mov %rsp, %rsi\n mov $60, %edx\n syscall\n\
             cmp $60, %rax\n jne 8f\n\
             mov $6, %edx\n lea 6(%rsp), %rsi\n mov $1, %edi\n mov $1, %eax\n syscall\n\
             xor %edi, %edi\n{EXIT}\
             8: mov $4, %edi\n{EXIT}\
             9: mov $3, %edi\n{EXIT}"
        ),
        AbiTarget::Spt,
        &[("service0", DeviceKind::Net)],
    );
    let stats = format!("/sys/class/net/{}/statistics/rx_packets", tap.0);
    let before: u64 = std::fs::read_to_string(&stats)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let net = format!("--net:service0={}", tap.0);
    let mac = "--net-mac:service0=02:aa:bb:cc:dd:ee";
    let o = run(&["--mem=2", &net, mac], &g, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
    let after: u64 = std::fs::read_to_string(&stats)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(after > before, "rx_packets {before} -> {after}");
    // A random MAC is locally administered and unicast.
    let o = run(&["--mem=2", &net], &g, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout[0] & 3, 2);
    // Declared but not attached; a missing interface.
    fails_with(
        &run(&["--mem=2"], &g, &[]),
        "Device 'service0' of type NET_BASIC declared but not attached.",
    );
    fails_with(
        &run(&["--mem=2", "--net:service0=mirage-nope0"], &g, &[]),
        "Could not attach interface: mirage-nope0",
    );
}

#[test]
fn yield_timer_and_tls_syscalls_work() {
    // timerfd_settime(timerfd, 1 ms), epoll_pwait(epollfd) returns the
    // timer (data.u64 = ~1U), arch_prctl(ARCH_SET_FS, 0) is allowed.
    let g = build_guest(
        "yield",
        &format!(
            ".globl _start\n_start:\n mov 32(%rdi), %r12d\n mov 36(%rdi), %r13d\n sub $128, %rsp\n\
             movq $0, (%rsp)\n movq $0, 8(%rsp)\n movq $0, 16(%rsp)\n movq $1000000, 24(%rsp)\n\
             mov $286, %eax\n mov %r13, %rdi\n xor %esi, %esi\n mov %rsp, %rdx\n xor %r10d, %r10d\n syscall\n\
             test %rax, %rax\n jnz 9f\n\
             mov $281, %eax\n mov %r12, %rdi\n lea 32(%rsp), %rsi\n mov $8, %edx\n mov $-1, %r10\n\
             xor %r8d, %r8d\n mov $8, %r9d\n syscall\n\
             cmp $1, %rax\n jne 9f\n\
             mov 36(%rsp), %rax\n mov $0xfffffffe, %ecx\n cmp %rcx, %rax\n jne 9f\n\
             mov $158, %eax\n mov $0x1002, %edi\n xor %esi, %esi\n syscall\n test %rax, %rax\n jnz 9f\n\
             xor %edi, %edi\n{EXIT}\
             9: mov $3, %edi\n{EXIT}"
        ),
        AbiTarget::Spt,
        &[],
    );
    let o = run(&["--mem=2"], &g, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn x_exec_heap_is_accepted_with_a_warning() {
    let o = run(&["--mem=2", "--x-exec-heap"], &hello(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("--x-exec-heap is dangerous"));
}

#[test]
fn the_heap_is_not_executable_unless_asked() {
    // Writes `xor %edi,%edi; mov $231,%eax; syscall` to the stack and
    // jumps there.
    let g = build_guest(
        "execstack",
        ".globl _start\n_start:\n sub $64, %rsp\n\
         movl $0x00b8ff31, (%rsp)\n movl $0x0f000000, 4(%rsp)\n movb $0x05, 8(%rsp)\n\
         movb $0xe7, 3(%rsp)\n jmp *%rsp\n",
        AbiTarget::Spt,
        &[],
    );
    killed_by(&run(&["--mem=2"], &g, &[]), libc::SIGSEGV);
    let o = run(&["--mem=2", "--x-exec-heap"], &g, &[]);
    assert_eq!(o.status.code(), Some(0), "{:?} {}", o.status, stderr(&o));
}

#[test]
fn a_kernel_file_with_a_huge_sparse_tail_boots_without_reading_it() {
    // The file is read by ranges (headers, notes, loadable segments), as
    // Solo5 does: 64 GiB of hole after the image cost nothing. It used to
    // be read whole, until memory ran out.
    let path = std::env::temp_dir().join(format!("mirage-spt-sparse-{}", std::process::id()));
    std::fs::copy(hello(), &path).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(64 << 30).unwrap();
    drop(file);
    let o = run(&["--mem=2"], &path, &[]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(o.status.code(), Some(0), "{:?} {}", o.status, stderr(&o));
    assert_eq!(stdout(&o), "Hello\n");
}

#[test]
fn a_kernel_that_is_not_a_regular_file_is_refused() {
    // A FIFO with no writer used to block the tender forever in open(),
    // and /dev/zero made it read until memory ran out: both are refused.
    let fifo = std::env::temp_dir().join(format!("mirage-spt-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let o = run(&[], &fifo, &[]);
    std::fs::remove_file(&fifo).unwrap();
    fails_with(&o, "not a regular file");
    fails_with(&run(&[], Path::new("/dev/zero"), &[]), "not a regular file");
}
