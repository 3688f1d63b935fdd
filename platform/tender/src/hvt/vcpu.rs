//! The KVM side of the hvt tender: the VM with its one memslot at GPA 0
//! and one vCPU, the guest page tables and boot GDT, and the initial
//! register state of section 2.4.

use std::io;

use kvm_bindings::{KVM_MAX_CPUID_ENTRIES, kvm_segment, kvm_userspace_memory_region};
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};
use solo5_abi::GUEST_MIN_BASE;
use solo5_abi::hvt::{cpu, layout};

use super::error::{HvtError, Result};
use super::memory::GuestMemory;

/// The KVM API version the tender requires.
pub const KVM_API_VERSION: i32 = 12;

/// `X86_GDTR_LIMIT`: three 8-byte entries.
const GDT_LIMIT: u16 = 3 * 8 - 1;

/// 2 MiB, the size of one large page and of PT0's reach.
const LARGE_PAGE: u64 = 0x20_0000;

/// Converts a `kvm-ioctls` error into an `io::Error`.
pub(crate) fn os_error(e: kvm_ioctls::Error) -> io::Error {
    io::Error::from_raw_os_error(e.errno())
}

/// A KVM virtual machine with its guest memory and single vCPU.
#[derive(Debug)]
pub struct Vm {
    pub(crate) vcpu: VcpuFd,
    _vm: VmFd,
    kvm: Kvm,
    memory: GuestMemory,
    tsc_hz: u64,
}

impl Vm {
    /// Opens `/dev/kvm`, checks the API version (12) and the required
    /// capabilities (`KVM_CAP_USER_MEMORY`, `KVM_CAP_GET_TSC_KHZ`), creates
    /// the VM, maps `mem_size` bytes of zeroed guest memory as memslot 0 at
    /// GPA 0, creates vCPU 0 and reads its TSC frequency (`EIO`, an
    /// unstable TSC, is fatal as in Solo5).
    pub fn new(mem_size: u64) -> Result<Self> {
        let kvm = Kvm::new().map_err(|e| HvtError::OpenKvm(os_error(e)))?;
        let version = kvm.get_api_version();
        if version != KVM_API_VERSION {
            return Err(HvtError::ApiVersion(version));
        }
        if !kvm.check_extension(Cap::UserMemory) {
            return Err(HvtError::MissingCapability("KVM_CAP_USER_MEMORY"));
        }
        if !kvm.check_extension(Cap::GetTscKhz) {
            return Err(HvtError::MissingCapability("KVM_CAP_GET_TSC_KHZ"));
        }
        let vm = kvm
            .create_vm()
            .map_err(|e| HvtError::CreateVm(os_error(e)))?;
        let memory = GuestMemory::new(mem_size)?;
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: memory.size(),
            userspace_addr: memory.host_address(),
        };
        // SAFETY: `region` describes exactly the mapping owned by `memory`,
        // which is stored in the returned `Vm` next to the VM fd and so
        // lives at least as long as the VM can touch it (fields drop in
        // declaration order: the vCPU and VM fds before the memory).
        unsafe { vm.set_user_memory_region(region) }
            .map_err(|e| HvtError::SetUserMemoryRegion(os_error(e)))?;
        let vcpu = vm
            .create_vcpu(0)
            .map_err(|e| HvtError::CreateVcpu(os_error(e)))?;
        let tsc_khz = vcpu
            .get_tsc_khz()
            .map_err(|e| HvtError::GetTscKhz(os_error(e)))?;
        Ok(Vm {
            vcpu,
            _vm: vm,
            kvm,
            memory,
            tsc_hz: u64::from(tsc_khz) * 1000,
        })
    }

    /// Guest memory.
    pub fn memory(&self) -> &GuestMemory {
        &self.memory
    }

    /// Guest memory, mutable (loading, boot info, protection).
    pub fn memory_mut(&mut self) -> &mut GuestMemory {
        &mut self.memory
    }

    /// The guest memory size in bytes.
    pub fn mem_size(&self) -> u64 {
        self.memory.size()
    }

    /// The TSC frequency in Hz (`KVM_GET_TSC_KHZ * 1000`), the boot info's
    /// `cpu_cycle_freq`.
    pub fn tsc_hz(&self) -> u64 {
        self.tsc_hz
    }

    /// Writes the page tables and the boot GDT into guest memory and sets
    /// the vCPU's initial state: CPUID as KVM supports it, the control
    /// registers, segments, GDTR, and RIP = `entry`, RSP = `mem_size - 8`,
    /// RDI = 0x10000, RFLAGS = 0x2. Must run before any range of guest
    /// memory is made read-only.
    pub fn setup_vcpu(&mut self, entry: u64) -> Result<()> {
        let mem_size = self.memory.size();
        if entry < GUEST_MIN_BASE || entry >= mem_size {
            return Err(HvtError::BadEntry { entry, mem_size });
        }
        write_page_tables(self.memory.as_mut_slice(), mem_size);
        write_gdt(self.memory.as_mut_slice());

        let cpuid = self
            .kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(|e| HvtError::GetSupportedCpuid(os_error(e)))?;
        self.vcpu
            .set_cpuid2(&cpuid)
            .map_err(|e| HvtError::SetCpuid(os_error(e)))?;

        let mut sregs = self
            .vcpu
            .get_sregs()
            .map_err(|e| HvtError::GetSregs(os_error(e)))?;
        sregs.cr0 = cpu::CR0;
        sregs.cr3 = layout::PML4_BASE;
        sregs.cr4 = cpu::CR4;
        sregs.efer = cpu::EFER;
        let code = code_segment();
        let data = data_segment();
        sregs.cs = code;
        sregs.ds = data;
        sregs.es = data;
        sregs.fs = data;
        sregs.gs = data;
        sregs.ss = data;
        sregs.gdt.base = layout::GDT_BASE;
        sregs.gdt.limit = GDT_LIMIT;
        sregs.tr = kvm_segment {
            base: 0,
            limit: 0,
            selector: 0,
            type_: 11, // busy 64-bit TSS
            present: 1,
            dpl: 0,
            db: 0,
            s: 0,
            l: 0,
            g: 0,
            avl: 0,
            unusable: 0,
            padding: 0,
        };
        sregs.ldt = kvm_segment {
            base: 0,
            limit: 0,
            selector: 0,
            type_: 2, // LDT
            present: 0,
            dpl: 0,
            db: 0,
            s: 0,
            l: 0,
            g: 0,
            avl: 0,
            unusable: 1,
            padding: 0,
        };
        self.vcpu
            .set_sregs(&sregs)
            .map_err(|e| HvtError::SetSregs(os_error(e)))?;

        let regs = kvm_bindings::kvm_regs {
            rip: entry,
            rsp: mem_size - 8,
            rdi: layout::BOOT_INFO_BASE,
            rflags: cpu::RFLAGS,
            ..Default::default()
        };
        self.vcpu
            .set_regs(&regs)
            .map_err(|e| HvtError::SetRegs(os_error(e)))?;
        Ok(())
    }
}

/// The flat 64-bit code segment (GDT entry 1, `GDT_CODE`).
fn code_segment() -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector: cpu::CS,
        type_: 9, // execute-only, accessed
        present: 1,
        dpl: 0,
        db: 0,
        s: 1,
        l: 1,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// The flat data segment (GDT entry 2, `GDT_DATA`).
fn data_segment() -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector: cpu::DS,
        type_: 3, // read/write, accessed
        present: 1,
        dpl: 0,
        db: 1,
        s: 1,
        l: 0,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

fn put_u64(mem: &mut [u8], gpa: u64, value: u64) {
    let at = gpa as usize;
    mem[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Writes the identity-mapped page tables of section 2.3 for `mem_size`
/// bytes: PML4\[0\] → PDPT, PDPT\[0..4\] → PD0..PD3, PD0\[0\] → PT0 (pages below
/// 0x10000 absent, 0x10000..0x100000 read-only, the rest of the first
/// 2 MiB read-write), then one 2 MiB read-write page per further 2 MiB.
/// No NX bit: everything is executable.
pub fn write_page_tables(mem: &mut [u8], mem_size: u64) {
    use cpu::{PTE_P, PTE_PS, PTE_RW};
    mem[layout::PML4_BASE as usize..layout::PT0_BASE as usize + 4096].fill(0);
    put_u64(mem, layout::PML4_BASE, layout::PDPT_BASE | PTE_P | PTE_RW);
    for i in 0..4 {
        put_u64(
            mem,
            layout::PDPT_BASE + i * 8,
            (layout::PDE_BASE + i * 4096) | PTE_P | PTE_RW,
        );
    }
    put_u64(mem, layout::PDE_BASE, layout::PT0_BASE | PTE_P | PTE_RW);
    let mut page = layout::BOOT_INFO_BASE;
    while page < GUEST_MIN_BASE {
        put_u64(mem, layout::PT0_BASE + (page / 4096) * 8, page | PTE_P);
        page += 4096;
    }
    while page < LARGE_PAGE {
        put_u64(
            mem,
            layout::PT0_BASE + (page / 4096) * 8,
            page | PTE_P | PTE_RW,
        );
        page += 4096;
    }
    let mut addr = LARGE_PAGE;
    while addr < mem_size {
        put_u64(
            mem,
            layout::PDE_BASE + (addr / LARGE_PAGE) * 8,
            addr | PTE_P | PTE_RW | PTE_PS,
        );
        addr += LARGE_PAGE;
    }
}

/// Writes the three-entry boot GDT at 0x1000: null, code, data.
pub fn write_gdt(mem: &mut [u8]) {
    put_u64(mem, layout::GDT_BASE, 0);
    put_u64(mem, layout::GDT_BASE + 8, cpu::GDT_CODE);
    put_u64(mem, layout::GDT_BASE + 16, cpu::GDT_DATA);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(mem: &[u8], gpa: u64) -> u64 {
        u64::from_le_bytes(mem[gpa as usize..gpa as usize + 8].try_into().unwrap())
    }

    #[test]
    fn page_tables_follow_section_2_3() {
        let size = 6 << 20;
        let mut mem = vec![0xffu8; 0x9000];
        mem.resize(size, 0);
        write_page_tables(&mut mem, size as u64);
        assert_eq!(get(&mem, 0x2000), 0x3003);
        assert_eq!(get(&mem, 0x2008), 0);
        for i in 0..4 {
            assert_eq!(get(&mem, 0x3000 + i * 8), (0x4000 + i * 0x1000) | 3);
        }
        assert_eq!(get(&mem, 0x3020), 0);
        assert_eq!(get(&mem, 0x4000), 0x8003);
        assert_eq!(get(&mem, 0x4008), 0x20_0083);
        assert_eq!(get(&mem, 0x4010), 0x40_0083);
        assert_eq!(get(&mem, 0x4018), 0);
        assert_eq!(get(&mem, 0x8000), 0);
        assert_eq!(get(&mem, 0x8000 + 0xf * 8), 0);
        assert_eq!(get(&mem, 0x8000 + 0x10 * 8), 0x1_0001);
        assert_eq!(get(&mem, 0x8000 + 0xff * 8), 0xf_f001);
        assert_eq!(get(&mem, 0x8000 + 0x100 * 8), 0x10_0003);
        assert_eq!(get(&mem, 0x8000 + 0x1ff * 8), 0x1f_f003);
        // The GDT page is untouched (it is written separately).
        assert_eq!(mem[0x1000], 0xff);
    }

    #[test]
    fn four_gib_fills_all_four_page_directories() {
        // Only the first 0x9000 bytes are touched: use a sparse check.
        let mut mem = vec![0u8; 0x9000];
        write_page_tables(&mut mem, 4 << 30);
        assert_eq!(get(&mem, 0x4000 + 2047 * 8), 0xffe0_0083);
        assert_eq!(get(&mem, 0x7ff8), 0xffe0_0083);
    }

    #[test]
    fn the_vcpu_starts_as_section_2_4_says() {
        let mut vm = match Vm::new(6 << 20) {
            Ok(vm) => vm,
            Err(e) => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "SKIPPED: KVM is not usable here: {e}");
                return;
            }
        };
        assert!(matches!(
            vm.setup_vcpu(0xF_FFFF),
            Err(HvtError::BadEntry { .. })
        ));
        vm.setup_vcpu(0x10_0020).unwrap();
        let s = vm.vcpu.get_sregs().unwrap();
        assert_eq!(
            (s.cr0, s.cr3, s.cr4, s.efer),
            (0x8001_0021, 0x2000, 0x620, 0x500)
        );
        assert_eq!((s.gdt.base, s.gdt.limit), (0x1000, 23));
        assert_eq!((s.cs.selector, s.cs.l, s.cs.db, s.cs.base), (0x08, 1, 0, 0));
        assert_eq!(s.cs.limit, 0xFFFF_FFFF);
        for seg in [s.ds, s.es, s.fs, s.gs, s.ss] {
            assert_eq!((seg.selector, seg.base, seg.present), (0x10, 0, 1));
        }
        assert_eq!((s.tr.type_, s.tr.present), (11, 1));
        assert_eq!(s.ldt.unusable, 1);
        let r = vm.vcpu.get_regs().unwrap();
        assert_eq!(
            (r.rip, r.rsp, r.rdi, r.rflags),
            (0x10_0020, (6 << 20) - 8, 0x1_0000, 0x2)
        );
        assert_eq!((r.rsp + 8) % 16, 0);
        let mem = vm.memory().as_slice();
        assert_eq!(get(mem, 0x2000), 0x3003);
        assert_eq!(get(mem, 0x1008), 0x00AF_9900_0000_FFFF);
    }

    #[test]
    fn gdt_has_null_code_data() {
        let mut mem = vec![0xffu8; 0x2000];
        write_gdt(&mut mem);
        assert_eq!(get(&mem, 0x1000), 0);
        assert_eq!(get(&mem, 0x1008), 0x00AF_9900_0000_FFFF);
        assert_eq!(get(&mem, 0x1010), 0x00CF_9300_0000_FFFF);
    }
}
