//! Test support shared by the hvt and spt tender tests: small SSE-free
//! guests assembled from x86-64 assembly (GNU as syntax, defining
//! `_start`), with the Solo5 ABI and manifest notes, linked as SOLO5-ABI.md
//! section 4 says; and helpers to patch ELF files into malformed ones.
#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use solo5_abi::manifest::DeviceKind;
pub use solo5_abi::note::AbiTarget;

/// `PT_LOAD`.
pub const PT_LOAD: u32 = 1;
/// `PT_NOTE`.
pub const PT_NOTE: u32 = 4;
/// `PF_X`.
pub const PF_X: u32 = 1;
/// `PF_W`.
pub const PF_W: u32 = 2;
/// `PF_R`.
pub const PF_R: u32 = 4;
/// Offsets inside a program header.
pub mod phdr {
    /// `p_flags`.
    pub const FLAGS: usize = 4;
    /// `p_offset`.
    pub const OFFSET: usize = 8;
    /// `p_vaddr`.
    pub const VADDR: usize = 16;
    /// `p_filesz`.
    pub const FILESZ: usize = 32;
    /// `p_memsz`.
    pub const MEMSZ: usize = 40;
    /// `p_align`.
    pub const ALIGN: usize = 48;
}

/// The directory where guests are built and cached.
pub fn guest_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tender-guests");
    std::fs::create_dir_all(&dir).expect("create the guest directory");
    dir
}

/// The linker script (SOLO5-ABI.md section 4): text at 0x100000 (X only
/// for hvt, R+X for spt), PHDRS in Solo5's order with each note in its own
/// PT_NOTE, `.interp`, GNU notes discarded.
pub fn linker_script(target: AbiTarget) -> String {
    let text_flags = if target == AbiTarget::Hvt { 1 } else { 5 };
    format!(
        r#"ENTRY(_start)
PHDRS {{
    interp PT_INTERP;
    text PT_LOAD FLAGS({text_flags});
    rodata PT_LOAD FLAGS(4);
    data PT_LOAD;
    tdata PT_LOAD FLAGS(4);
    tbss PT_TLS FLAGS(0);
    bss PT_LOAD;
    note.not_openbsd PT_NOTE;
    note.abi PT_NOTE;
    note.manifest PT_NOTE;
}}
SECTIONS {{
    . = 0x100000;
    _stext = .;
    .interp : {{ *(.interp) }} :interp :text
    .text : {{ *(.text) *(.text.*) }} :text
    . = ALIGN(0x1000);
    _etext = .;
    .note.solo5.manifest : {{ *(.note.solo5.manifest*) }} :rodata :note.manifest
    .note.solo5.abi : {{ *(.note.solo5.abi*) }} :rodata :note.abi
    .note.solo5.not_openbsd : {{ *(.note.solo5.not_openbsd*) }} :rodata :note.not_openbsd
    .rodata : {{ *(.rodata) *(.rodata.*) *(.eh_frame) }} :rodata
    . = ALIGN(0x1000);
    _erodata = .;
    .data : {{ *(.got.plt) *(.got) *(.data) *(.data.*) }} :data
    . = ALIGN(0x1000);
    .tdata : {{ _stdata = .; *(.tdata) . = ALIGN(0x1000); }} :tdata
    _edata = .;
    .tbss : {{ *(.tbss) }} :tbss
    .bss : {{ *(.bss) *(.bss.*) *(COMMON) }} :bss
    . = ALIGN(0x1000);
    _ebss = .;
    _end = .;
    /DISCARD/ : {{ *(.note.gnu.*) *(.comment) }}
}}
_ltdata = _edata - _stdata;
_ltbss = SIZEOF(.tbss);
"#
    )
}

fn bytes_directive(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(16) {
        let line: Vec<String> = chunk.iter().map(|b| format!("{b:#04x}")).collect();
        out.push_str("    .byte ");
        out.push_str(&line.join(", "));
        out.push('\n');
    }
    out
}

/// The note sections for `target` and `devices`, as assembly.
pub fn notes_asm(target: AbiTarget, devices: &[(&str, DeviceKind)]) -> String {
    let abi = solo5_abi::note::abi_note(target, target.version());
    let mut mft = vec![0u8; solo5_abi::manifest::manifest_size(devices.len())];
    let n = solo5_abi::manifest::write_manifest(devices, &mut mft).expect("a valid manifest");
    let mut mnote = vec![0u8; solo5_abi::note::manifest_note_size(n)];
    let m = solo5_abi::note::write_manifest_note(&mft[..n], &mut mnote).expect("manifest note");
    format!(
        ".section .note.solo5.manifest,\"a\",@note\n    .p2align 3\n{}\
         .section .note.solo5.abi,\"a\",@note\n    .p2align 2\n{}\
         .section .note.solo5.not_openbsd,\"a\",@note\n    .p2align 2\n{}\
         .section .interp,\"a\",@progbits\n    .asciz \"/nonexistent/solo5/\"\n\
         .section .note.GNU-stack,\"\",@progbits\n",
        bytes_directive(&mnote[..m]),
        bytes_directive(&abi),
        bytes_directive(&solo5_abi::note::openbsd_note()),
    )
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    dir.join(format!(
        ".{stem}.{}.{}{ext}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Assembles `asm` (which defines `_start`) into a guest for `target`
/// declaring `devices`, linked with gcc as Solo5's toolchain links; the
/// result is cached under the target directory by content.
pub fn build_guest(
    name: &str,
    asm: &str,
    target: AbiTarget,
    devices: &[(&str, DeviceKind)],
) -> PathBuf {
    let script = linker_script(target);
    let source = format!("    .text\n{asm}\n{}", notes_asm(target, devices));
    let mut h = DefaultHasher::new();
    (&source, &script).hash(&mut h);
    let dir = guest_dir();
    let out = dir.join(format!("{name}-{:016x}.{}", h.finish(), target.name()));
    if out.exists() {
        return out;
    }
    let s_file = unique(&dir, name, ".S");
    let ld_file = unique(&dir, name, ".ld");
    let tmp_out = unique(&dir, name, "");
    std::fs::write(&s_file, &source).unwrap();
    std::fs::write(&ld_file, &script).unwrap();
    let result = Command::new("gcc")
        .args([
            "-nostdlib",
            "-static",
            "-no-pie",
            "-Wl,--build-id=none",
            "-z",
            "max-page-size=0x1000",
            "-z",
            "noexecstack",
        ])
        .arg(format!("-Wl,-T,{}", ld_file.display()))
        .arg("-o")
        .arg(&tmp_out)
        .arg(&s_file)
        .output()
        .expect("run gcc");
    let _ = std::fs::remove_file(&s_file);
    let _ = std::fs::remove_file(&ld_file);
    assert!(
        result.status.success(),
        "building guest {name} failed:\n{}\n--- source ---\n{source}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::rename(&tmp_out, &out).unwrap();
    out
}

/// A copy of the ELF at `base`, patched by `f`, written as `name` beside
/// the cached guests.
pub fn patched(base: &Path, name: &str, f: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(base).expect("read the base guest");
    f(&mut bytes);
    let out = guest_dir().join(format!("patched-{name}-{}", std::process::id()));
    let tmp = unique(&guest_dir(), name, "");
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// A program header as found in a file.
#[derive(Debug, Clone, Copy)]
pub struct Phdr {
    /// Its index.
    pub index: usize,
    /// Where the header itself is in the file (patch at `at + phdr::X`).
    pub at: usize,
    /// `p_type`.
    pub p_type: u32,
    /// `p_flags`.
    pub flags: u32,
    /// `p_offset`.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_align`.
    pub align: u64,
}

/// Reads a little-endian u16.
pub fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
/// Reads a little-endian u32.
pub fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
/// Reads a little-endian u64.
pub fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
/// Writes a little-endian u16.
pub fn set_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
/// Writes a little-endian u32.
pub fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
/// Writes a little-endian u64.
pub fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// The program headers of a (well-formed) ELF file.
pub fn phdrs(b: &[u8]) -> Vec<Phdr> {
    let phoff = get_u64(b, 32) as usize;
    let phnum = get_u16(b, 56) as usize;
    (0..phnum)
        .map(|index| {
            let at = phoff + index * 56;
            Phdr {
                index,
                at,
                p_type: get_u32(b, at),
                flags: get_u32(b, at + 4),
                offset: get_u64(b, at + 8),
                vaddr: get_u64(b, at + 16),
                filesz: get_u64(b, at + 32),
                memsz: get_u64(b, at + 40),
                align: get_u64(b, at + 48),
            }
        })
        .collect()
}

/// The non-empty PT_LOAD headers, in order.
pub fn loads(b: &[u8]) -> Vec<Phdr> {
    phdrs(b)
        .into_iter()
        .filter(|p| p.p_type == PT_LOAD && p.filesz != 0)
        .collect()
}

/// The PT_NOTE header whose first note has type `note_type`
/// (`solo5_abi::note::ABI1_NOTE_TYPE` or `MFT1_NOTE_TYPE`).
pub fn note_phdr(b: &[u8], note_type: u32) -> Phdr {
    phdrs(b)
        .into_iter()
        .find(|p| {
            p.p_type == PT_NOTE && p.filesz >= 12 && get_u32(b, p.offset as usize + 8) == note_type
        })
        .expect("the note is there")
}

/// Where the manifest (`struct mft`) starts in the file.
pub fn manifest_offset(b: &[u8]) -> usize {
    note_phdr(b, solo5_abi::note::MFT1_NOTE_TYPE).offset as usize + 24
}
