//! Guest memory: its size (section 2.3) and the one host mapping behind
//! KVM memslot 0, with every access bounds-checked.

use std::io;
use std::ptr::NonNull;

use solo5_abi::hvt::{DEFAULT_MEM_SIZE, MAX_MEM_SIZE, MEM_ALIGN};

use super::error::{HvtError, Result};

/// The guest memory size for a request in bytes (`None`: the 512 MiB
/// default): rounded down to 2 MiB, at least 2 MiB, at most 4 GiB.
pub fn mem_size(requested: Option<u64>) -> Result<u64> {
    let requested = requested.unwrap_or(DEFAULT_MEM_SIZE);
    let size = requested - requested % MEM_ALIGN;
    if size > MAX_MEM_SIZE {
        return Err(HvtError::MemTooLarge(requested));
    }
    if size < MEM_ALIGN {
        return Err(HvtError::MemTooSmall(requested));
    }
    Ok(size)
}

/// Host protection of a guest range (section 2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// `PROT_READ`: text (PF_X is never host-executable) and read-only data.
    ReadOnly,
    /// `PROT_READ | PROT_WRITE`.
    ReadWrite,
}

/// Why a guest range was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessError {
    /// Not inside guest memory (or the end overflows).
    OutOfRange,
    /// Inside a range mapped read-only on the host.
    ReadOnly,
}

/// Guest memory: `mmap(MAP_SHARED|MAP_ANONYMOUS)`, zero-filled, GPA 0 at
/// its start. Every access goes through [`GuestMemory::check`]: a range is
/// valid when `gpa < size` and `gpa + len < size` without overflow
/// (Solo5's `HVT_CHECKED_GPA_P`, strict on the end); writes must also miss
/// the ranges [`GuestMemory::protect`] made read-only, so a hostile guest
/// can neither make the tender touch host memory outside the mapping nor
/// fault on a read-only page.
#[derive(Debug)]
pub struct GuestMemory {
    ptr: NonNull<u8>,
    size: u64,
    read_only: Vec<(u64, u64)>,
}

// SAFETY: the mapping is owned by this value and only reached through
// `&self`/`&mut self`; the guest's concurrent use is through KVM, which
// never runs while the tender handles an exit (one vCPU, same thread).
unsafe impl Send for GuestMemory {}

impl GuestMemory {
    /// Maps `size` bytes of zeroed guest memory.
    pub fn new(size: u64) -> Result<Self> {
        let len = usize::try_from(size).map_err(|_| HvtError::MemTooLarge(size))?;
        if len == 0 {
            return Err(HvtError::MemTooSmall(0));
        }
        // SAFETY: an anonymous mapping at an address of the kernel's choice
        // touches no existing memory; the result is checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(HvtError::MmapGuestMemory(io::Error::last_os_error()));
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| HvtError::MmapGuestMemory(io::Error::other("mmap returned NULL")))?;
        Ok(GuestMemory {
            ptr,
            size,
            read_only: Vec::new(),
        })
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The host address of GPA 0 (for `KVM_SET_USER_MEMORY_REGION`).
    pub fn host_address(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// Checks the guest range `[gpa, gpa + len)` as Solo5's
    /// `HVT_CHECKED_GPA_P` does and returns it as host offsets.
    pub fn check(&self, gpa: u64, len: u64) -> std::result::Result<(usize, usize), AccessError> {
        let end = gpa.checked_add(len).ok_or(AccessError::OutOfRange)?;
        if gpa >= self.size || end >= self.size {
            return Err(AccessError::OutOfRange);
        }
        // Both are below `size`, which fits `usize` (checked in `new`).
        Ok((gpa as usize, end as usize))
    }

    /// Like [`GuestMemory::check`], and the range must be writable.
    pub fn check_writable(
        &self,
        gpa: u64,
        len: u64,
    ) -> std::result::Result<(usize, usize), AccessError> {
        let range = self.check(gpa, len)?;
        let end = gpa + len;
        if len > 0
            && self
                .read_only
                .iter()
                .any(|&(start, stop)| gpa < stop && start < end)
        {
            return Err(AccessError::ReadOnly);
        }
        Ok(range)
    }

    /// The whole memory, for loading and set-up before any protection.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is `size` bytes (fits `usize`, checked in
        // `new`), readable everywhere (protections only drop PROT_WRITE),
        // and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.size as usize) }
    }

    /// The whole memory, writable: only valid before [`GuestMemory::protect`]
    /// made any range read-only (the loader and boot info use it then).
    ///
    /// # Panics
    /// If a range is already read-only (a tender bug, not a guest input).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        assert!(
            self.read_only.is_empty(),
            "guest memory is already partly read-only"
        );
        // SAFETY: as in `as_slice`, and every page is still writable since
        // no range was protected; `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.size as usize) }
    }

    /// The bytes at `[gpa, gpa + len)`, bounds-checked.
    pub fn slice(&self, gpa: u64, len: u64) -> std::result::Result<&[u8], AccessError> {
        let (start, end) = self.check(gpa, len)?;
        Ok(&self.as_slice()[start..end])
    }

    /// The bytes at `[gpa, gpa + len)` for writing, bounds-checked and
    /// refused in read-only ranges.
    pub fn slice_mut(&mut self, gpa: u64, len: u64) -> std::result::Result<&mut [u8], AccessError> {
        let (start, end) = self.check_writable(gpa, len)?;
        // SAFETY: `[start, end)` is inside the mapping (checked) and not
        // read-only (checked), and `&mut self` makes the borrow unique.
        let slice =
            unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(start), end - start) };
        Ok(slice)
    }

    /// Reads a little-endian `u64` at `gpa`.
    pub fn read_u64(&self, gpa: u64) -> std::result::Result<u64, AccessError> {
        let b = self.slice(gpa, 8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }

    /// Reads a little-endian `i32` at `gpa`.
    pub fn read_i32(&self, gpa: u64) -> std::result::Result<i32, AccessError> {
        let b = self.slice(gpa, 4)?;
        Ok(i32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
    }

    /// Writes a little-endian `u64` at `gpa`.
    pub fn write_u64(&mut self, gpa: u64, value: u64) -> std::result::Result<(), AccessError> {
        self.slice_mut(gpa, 8)?
            .copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    /// Writes a little-endian `i32` at `gpa`.
    pub fn write_i32(&mut self, gpa: u64, value: i32) -> std::result::Result<(), AccessError> {
        self.slice_mut(gpa, 4)?
            .copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    /// `mprotect`s the page-aligned guest range `[gpa, gpa + len)` on the
    /// host (KVM maps it into the guest with the same rights) and records
    /// read-only ranges so the tender never writes there.
    pub fn protect(&mut self, gpa: u64, len: u64, prot: Protection) -> Result<()> {
        let fail = |err| HvtError::Mprotect { gpa, len, err };
        let end = gpa
            .checked_add(len)
            .filter(|&end| end <= self.size)
            .ok_or_else(|| fail(io::Error::from_raw_os_error(libc::EINVAL)))?;
        if !gpa.is_multiple_of(4096) || !len.is_multiple_of(4096) {
            return Err(fail(io::Error::from_raw_os_error(libc::EINVAL)));
        }
        if len == 0 {
            return Ok(());
        }
        let flags = match prot {
            Protection::ReadOnly => libc::PROT_READ,
            Protection::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        };
        // SAFETY: the range is page-aligned and inside our own mapping
        // (checked above); changing its protection affects no other
        // memory, and no Rust reference into it outlives `&mut self`.
        let rc = unsafe {
            libc::mprotect(
                self.ptr.as_ptr().add(gpa as usize).cast(),
                len as usize,
                flags,
            )
        };
        if rc != 0 {
            return Err(fail(io::Error::last_os_error()));
        }
        self.read_only
            .retain(|&(start, stop)| !(start >= gpa && stop <= end));
        if prot == Protection::ReadOnly {
            self.read_only.push((gpa, end));
        }
        Ok(())
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` created; nothing borrows
        // it any more (`&mut self`). KVM holds its own reference to the
        // pages while the VM exists.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.size as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn sizes_round_down_to_2_mib_within_limits() {
        assert_eq!(mem_size(None).unwrap(), 512 * MIB);
        assert_eq!(mem_size(Some(2 * MIB)).unwrap(), 2 * MIB);
        assert_eq!(mem_size(Some(3 * MIB)).unwrap(), 2 * MIB);
        assert_eq!(mem_size(Some(5 * MIB - 1)).unwrap(), 4 * MIB);
        assert_eq!(mem_size(Some(4096 * MIB)).unwrap(), 4096 * MIB);
        assert_eq!(mem_size(Some(4097 * MIB)).unwrap(), 4096 * MIB);
        assert!(matches!(mem_size(Some(MIB)), Err(HvtError::MemTooSmall(_))));
        assert!(matches!(mem_size(Some(0)), Err(HvtError::MemTooSmall(_))));
        assert!(matches!(
            mem_size(Some(4098 * MIB)),
            Err(HvtError::MemTooLarge(_))
        ));
        assert!(matches!(
            mem_size(Some(u64::MAX)),
            Err(HvtError::MemTooLarge(_))
        ));
    }

    #[test]
    fn accesses_are_bounds_checked_like_solo5() {
        let mut m = GuestMemory::new(2 * MIB).unwrap();
        assert!(m.as_slice().iter().all(|&b| b == 0));
        assert!(m.slice(0, 16).is_ok());
        assert!(m.slice(2 * MIB - 17, 16).is_ok());
        // Solo5 refuses an end equal to the size.
        assert_eq!(m.slice(2 * MIB - 16, 16), Err(AccessError::OutOfRange));
        assert_eq!(m.slice(2 * MIB, 0), Err(AccessError::OutOfRange));
        assert_eq!(m.slice(u64::MAX, 2), Err(AccessError::OutOfRange));
        assert_eq!(m.slice(16, u64::MAX - 8), Err(AccessError::OutOfRange));
        m.write_u64(0x1000, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(m.read_u64(0x1000).unwrap(), 0x1122_3344_5566_7788);
        m.write_i32(0x2000, -5).unwrap();
        assert_eq!(m.read_i32(0x2000).unwrap(), -5);
    }

    #[test]
    fn read_only_ranges_refuse_writes_but_allow_reads() {
        let mut m = GuestMemory::new(2 * MIB).unwrap();
        m.as_mut_slice()[0x10_0000] = 7;
        m.protect(0x10_0000, 0x1000, Protection::ReadOnly).unwrap();
        assert_eq!(m.slice(0x10_0000, 1).unwrap(), &[7]);
        assert_eq!(m.write_u64(0x10_0ff8, 1), Err(AccessError::ReadOnly));
        assert_eq!(m.write_u64(0xf_fffc, 1), Err(AccessError::ReadOnly));
        assert!(m.write_u64(0x10_1000, 1).is_ok());
        assert!(m.write_u64(0xf_fff8, 1).is_ok());
        assert!(m.protect(0x10_0001, 0x1000, Protection::ReadOnly).is_err());
        assert!(m.protect(2 * MIB, 0x1000, Protection::ReadOnly).is_err());
        m.protect(0x10_0000, 0x1000, Protection::ReadWrite).unwrap();
        assert!(m.write_u64(0x10_0000, 1).is_ok());
    }
}
