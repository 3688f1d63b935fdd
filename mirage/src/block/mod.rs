//! The `block` device (`Mirage_block.S`): a disk of fixed-size sectors.

use alloc::string::String;
use core::fmt;

pub mod ccm;
pub mod ramdisk;

/// What a block device is: sector size, size, writability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Bytes per sector (a power of two, at least 512).
    pub sector_size: u32,
    /// Number of sectors.
    pub size_sectors: u64,
    /// Whether writes are allowed.
    pub read_write: bool,
}

/// Why a block operation failed; the device is unchanged after an access
/// error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockError {
    /// The access reaches beyond the last sector.
    OutOfBounds {
        /// First sector accessed.
        sector: u64,
        /// Sectors accessed.
        count: u64,
        /// Sectors the device has.
        size: u64,
    },
    /// The buffer is not a whole number of sectors.
    Misaligned {
        /// The buffer's length.
        len: usize,
        /// The sector size.
        sector_size: u32,
    },
    /// A write to a read-only device.
    ReadOnly,
    /// The backend failed (I/O error...).
    Device(String),
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::OutOfBounds {
                sector,
                count,
                size,
            } => write!(
                f,
                "access to sectors {sector}..{} beyond the device's {size} sectors",
                sector.saturating_add(*count)
            ),
            BlockError::Misaligned { len, sector_size } => {
                write!(
                    f,
                    "buffer of {len} bytes is not a multiple of the sector size {sector_size}"
                )
            }
            BlockError::ReadOnly => f.write_str("the device is read-only"),
            BlockError::Device(message) => write!(f, "device error: {message}"),
        }
    }
}

/// A block device (the seed's `block` device type).
pub trait Block {
    /// Sector size, size and writability.
    fn info(&self) -> BlockInfo;

    /// Reads `buf.len()` bytes (whole sectors) from `sector` on.
    async fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError>;

    /// Writes `data` (whole sectors) from `sector` on.
    async fn write(&self, sector: u64, data: &[u8]) -> Result<(), BlockError>;
}

/// Checks an access of `len` bytes at `sector` against `info`: whole
/// sectors, within bounds (overflow-checked), writable if `write`.
pub fn check_access(
    info: &BlockInfo,
    sector: u64,
    len: usize,
    write: bool,
) -> Result<(), BlockError> {
    if write && !info.read_write {
        return Err(BlockError::ReadOnly);
    }
    let size = u64::from(info.sector_size);
    if size == 0 || !(len as u64).is_multiple_of(size) {
        return Err(BlockError::Misaligned {
            len,
            sector_size: info.sector_size,
        });
    }
    let count = len as u64 / size;
    match sector.checked_add(count) {
        Some(end) if end <= info.size_sectors => Ok(()),
        _ => Err(BlockError::OutOfBounds {
            sector,
            count,
            size: info.size_sectors,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: BlockInfo = BlockInfo {
        sector_size: 512,
        size_sectors: 8,
        read_write: true,
    };

    #[test]
    fn accesses_are_checked() {
        assert!(check_access(&INFO, 0, 4096, true).is_ok());
        assert!(check_access(&INFO, 7, 512, false).is_ok());
        assert!(matches!(
            check_access(&INFO, 7, 1024, false),
            Err(BlockError::OutOfBounds { .. })
        ));
        assert!(matches!(
            check_access(&INFO, u64::MAX, 512, false),
            Err(BlockError::OutOfBounds { .. })
        ));
        assert!(matches!(
            check_access(&INFO, 0, 100, false),
            Err(BlockError::Misaligned { .. })
        ));
        let ro = BlockInfo {
            read_write: false,
            ..INFO
        };
        assert_eq!(check_access(&ro, 0, 512, true), Err(BlockError::ReadOnly));
        assert!(check_access(&ro, 0, 512, false).is_ok());
    }
}
