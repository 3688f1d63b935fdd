//! Checks that the test guest builder produces what SOLO5-ABI.md section 4
//! describes, and that the tender library reads it.
mod support;
use support::*;

#[test]
fn built_guests_have_solo5s_layout() {
    let g = build_guest(
        "layout",
        ".globl _start\n_start:\n    hlt\n",
        AbiTarget::Spt,
        &[("net0", DeviceKind::Net)],
    );
    let bytes = std::fs::read(&g).unwrap();
    let notes = mirage_tender::elf::read_notes(&bytes).unwrap();
    assert_eq!((notes.abi_target, notes.abi_version), (2, 2));
    mirage_tender::elf::check_abi(&notes, AbiTarget::Spt).unwrap();
    let plan = mirage_tender::elf::plan(&bytes, 2 << 20).unwrap();
    assert_eq!(plan.segments[0].vaddr, 0x100000);
    assert!(plan.segments[0].executable && !plan.segments[0].writable);
    assert!(plan.entry > 0x100000 && plan.entry < 0x101000);
    let n_notes = phdrs(&bytes).iter().filter(|p| p.p_type == PT_NOTE).count();
    assert_eq!(n_notes, 3);
    assert_eq!(get_u32(&bytes, manifest_offset(&bytes) + 4), 2);
    // Cached: the same input gives the same file.
    let again = build_guest(
        "layout",
        ".globl _start\n_start:\n    hlt\n",
        AbiTarget::Spt,
        &[("net0", DeviceKind::Net)],
    );
    assert_eq!(g, again);
    let hvt = build_guest(
        "layout",
        ".globl _start\n_start:\n    hlt\n",
        AbiTarget::Hvt,
        &[],
    );
    let hb = std::fs::read(&hvt).unwrap();
    let hn = mirage_tender::elf::read_notes(&hb).unwrap();
    assert_eq!(hn.abi_target, 1);
    assert_eq!(loads(&hb)[0].flags, PF_X);
}
