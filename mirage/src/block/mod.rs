//! The `block` device (`Mirage_block.S`): a disk of fixed-size sectors.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub mod ccm;
pub mod faulty;
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

/// Reads `len` bytes at byte `offset` of `block`, whatever their
/// alignment: the whole sectors holding them are read and the requested
/// part kept. A range past the device's end, or too large to address, is
/// an [`BlockError::OutOfBounds`] error.
pub async fn read_bytes<B: Block>(
    block: &B,
    info: &BlockInfo,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, BlockError> {
    let sector_size = u64::from(info.sector_size);
    if sector_size == 0 {
        return Err(BlockError::Misaligned {
            len: len as usize,
            sector_size: 0,
        });
    }
    if len == 0 {
        return Ok(Vec::new());
    }
    let first = offset / sector_size;
    let out_of_bounds = || BlockError::OutOfBounds {
        sector: first,
        count: len.div_ceil(sector_size),
        size: info.size_sectors,
    };
    let end = offset.checked_add(len).ok_or_else(out_of_bounds)?;
    let last = end.div_ceil(sector_size);
    let span = (last - first)
        .checked_mul(sector_size)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or_else(out_of_bounds)?;
    if last > info.size_sectors {
        return Err(out_of_bounds());
    }
    let mut buf = alloc::vec![0u8; span];
    block.read(first, &mut buf).await?;
    let skip = (offset - first * sector_size) as usize;
    buf.copy_within(skip..skip + len as usize, 0);
    buf.truncate(len as usize);
    Ok(buf)
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
