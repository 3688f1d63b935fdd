//! The unikernels built for hvt and spt: their Solo5 notes, manifest,
//! segments, and the absence of any C library.

mod common;

use std::process::Command;

use solo5_abi::manifest::{DeviceKind, Manifest};
use solo5_abi::note::{
    ABI1_NOTE_ALIGN, ABI1_NOTE_MAX_SIZE, ABI1_NOTE_TYPE, MFT1_NOTE_ALIGN, MFT1_NOTE_MAX_SIZE,
    MFT1_NOTE_TYPE, read_solo5_note,
};

/// The PT_NOTE segments of an ELF64 file, as (offset, size).
fn note_segments(elf: &[u8]) -> Vec<(usize, usize)> {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        .filter(|&ph| u32::from_le_bytes(elf[ph..ph + 4].try_into().unwrap()) == 4)
        .map(|ph| (u64_at(ph + 8), u64_at(ph + 32)))
        .collect()
}

fn notes(elf: &[u8]) -> ((u32, u32), Vec<(String, DeviceKind)>) {
    let mut abi = None;
    let mut devices = None;
    for (offset, size) in note_segments(elf) {
        let segment = &elf[offset..offset + size];
        if let Some(desc) =
            read_solo5_note(segment, ABI1_NOTE_TYPE, ABI1_NOTE_ALIGN, ABI1_NOTE_MAX_SIZE).unwrap()
        {
            abi = solo5_abi::note::parse_abi(desc);
        }
        if let Some(desc) =
            read_solo5_note(segment, MFT1_NOTE_TYPE, MFT1_NOTE_ALIGN, MFT1_NOTE_MAX_SIZE).unwrap()
        {
            let manifest = Manifest::validate(desc).expect("the manifest validates");
            devices = Some(
                manifest
                    .iter()
                    .skip(1)
                    .map(|e| (e.name().to_string(), e.kind().expect("a device kind")))
                    .collect(),
            );
        }
    }
    (abi.expect("an ABI note"), devices.expect("a manifest note"))
}

fn check_image(example: &str, target: &str, abi: (u32, u32), devices: &[(&str, DeviceKind)]) {
    let path = common::build_example(example, target);
    let elf = std::fs::read(&path).unwrap();
    let (found_abi, found_devices) = notes(&elf);
    assert_eq!(found_abi, abi, "{example} for {target}: ABI note");
    let expected: Vec<(String, DeviceKind)> =
        devices.iter().map(|(n, k)| (n.to_string(), *k)).collect();
    assert_eq!(found_devices, expected, "{example} for {target}: manifest");

    // readelf agrees: the ABI note is a Solo5 note with this target and version.
    let notes_text = common::readelf("-n", &path);
    let desc = format!(
        "description data: {:02x} 00 00 00 {:02x} 00 00 00",
        abi.0, abi.1
    );
    assert!(
        notes_text.contains("Solo5") && notes_text.contains("0x31494241"),
        "{notes_text}"
    );
    assert!(notes_text.contains(&desc), "{notes_text}");

    // Segments: a static executable at 0x100000, W^X, one PT_NOTE per
    // note with the OpenBSD one first, PT_INTERP, no dynamic section.
    let headers = common::readelf("-l", &path);
    assert!(headers.contains("Elf file type is EXEC"), "{headers}");
    assert!(
        headers.contains("Requesting program interpreter: /nonexistent/solo5/"),
        "{headers}"
    );
    assert!(!headers.contains("DYNAMIC"), "{headers}");
    let loads: Vec<&str> = headers
        .lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .collect();
    assert!(
        loads
            .iter()
            .all(|l| !(l.contains(" RWE ") || l.contains("WE "))),
        "W+X segment: {headers}"
    );
    let text_flags = if target == "hvt" {
        "  E 0x1000"
    } else {
        "R E 0x1000"
    };
    assert!(
        loads[0].contains("0x0000000000100000") && loads[0].ends_with(text_flags),
        "{}",
        loads[0]
    );
    // The first PT_NOTE holds the OpenBSD note; each note has its own.
    let kinds: Vec<&str> = headers
        .split("Program Headers:")
        .nth(1)
        .unwrap()
        .split("Section to Segment mapping")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| {
            w.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !w.is_empty() && *w != "TYPE"
        })
        .filter(|w| *w != "Type")
        .collect();
    let mapping: Vec<&str> = headers
        .split("Segment Sections...")
        .nth(1)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let note_sections: Vec<String> = kinds
        .iter()
        .zip(&mapping)
        .filter(|(k, _)| **k == "NOTE")
        .map(|(_, m)| m.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        note_sections,
        [
            ".note.solo5.not_openbsd",
            ".note.solo5.abi",
            ".note.solo5.manifest"
        ],
        "{headers}"
    );

    // Nothing undefined is left: no C library supplies anything.
    let undefined = Command::new("nm")
        .arg("-u")
        .arg(&path)
        .output()
        .expect("nm runs");
    assert!(
        undefined.stdout.is_empty(),
        "undefined symbols: {}",
        String::from_utf8_lossy(&undefined.stdout)
    );
    let symbols = Command::new("nm").arg(&path).output().expect("nm runs");
    let symbols = String::from_utf8_lossy(&symbols.stdout);
    for glibc in [
        "__libc_start_main",
        "__libc_csu_init",
        "_IO_stdin_used",
        "GLIBC",
    ] {
        assert!(
            !symbols.contains(glibc),
            "{example} for {target} links glibc ({glibc})"
        );
    }
}

#[test]
fn hello_images_carry_the_abi_note_and_an_empty_manifest() {
    check_image("hello", "hvt", (1, 2), &[]);
    check_image("hello", "spt", (2, 2), &[]);
}

#[test]
fn block_images_declare_exactly_their_block_device() {
    // kv-rw keeps its chamelon store on the block device `storage` too.
    for example in ["block", "kv-rw"] {
        check_image(example, "hvt", (1, 2), &[("storage", DeviceKind::Block)]);
        check_image(example, "spt", (2, 2), &[("storage", DeviceKind::Block)]);
    }
}

#[test]
fn network_images_declare_the_service_net_device() {
    for example in ["ping", "udp-echo", "tcp-echo", "tcp-sink", "tcp-urgent"] {
        check_image(example, "hvt", (1, 2), &[("service", DeviceKind::Net)]);
        check_image(example, "spt", (2, 2), &[("service", DeviceKind::Net)]);
    }
}

#[test]
fn the_other_unikernels_have_notes_and_no_c_library() {
    // kv-ro serves its files compiled in (crunch) on Solo5; crash has no
    // device: both declare none.
    for example in ["kv-ro", "crash"] {
        check_image(example, "hvt", (1, 2), &[]);
        check_image(example, "spt", (2, 2), &[]);
    }
}

#[test]
fn no_c_library_in_any_unikernel_dependency_tree() {
    for example in [
        "hello",
        "block",
        "kv-ro",
        "kv-rw",
        "crash",
        "ping",
        "udp-echo",
        "tcp-echo",
        "tcp-sink",
        "tcp-urgent",
    ] {
        for target in ["hvt", "spt"] {
            let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(common::workspace())
                .args([
                    "tree",
                    "-e",
                    "normal",
                    "-p",
                    example,
                    "--no-default-features",
                    "--features",
                ])
                .arg(format!("target-{target}"))
                .output()
                .expect("cargo tree runs");
            let tree = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && tree.contains("mirage-solo5"),
                "{tree}"
            );
            assert!(
                !tree.contains("libc "),
                "{example}/{target} depends on libc:\n{tree}"
            );
        }
    }
}
