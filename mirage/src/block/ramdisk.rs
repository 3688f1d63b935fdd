//! `ramdisk`: a block device in memory.

use alloc::vec;
use alloc::vec::Vec;

use spin::Mutex;

use super::{Block, BlockError, BlockInfo, check_access};

/// A block device held in memory (the seed's `ramdisk`): zeroed at
/// creation, gone when the unikernel stops.
#[derive(Debug)]
pub struct Ramdisk {
    info: BlockInfo,
    data: Mutex<Vec<u8>>,
}

impl Ramdisk {
    /// The default size of a named ramdisk: 32768 sectors of 512 bytes
    /// (16 MiB), as MirageOS's ramdisk.
    pub const DEFAULT_SECTORS: u64 = 32768;

    /// A ramdisk of `size_sectors` sectors of `sector_size` bytes.
    pub fn new(size_sectors: u64, sector_size: u32) -> Self {
        Ramdisk {
            info: BlockInfo {
                sector_size,
                size_sectors,
                read_write: true,
            },
            data: Mutex::new(vec![0; (size_sectors * u64::from(sector_size)) as usize]),
        }
    }

    /// The ramdisk named `name` with the default size (the name only labels
    /// it: every call makes a new one).
    pub fn connect(_name: &str) -> Self {
        Self::new(Self::DEFAULT_SECTORS, 512)
    }

    /// A copy of the whole contents (for tests and images).
    pub fn contents(&self) -> Vec<u8> {
        self.data.lock().clone()
    }

    /// A ramdisk holding `image` (padded with zeros to whole sectors).
    pub fn from_image(image: &[u8], sector_size: u32) -> Self {
        let sectors = (image.len() as u64).div_ceil(u64::from(sector_size));
        let disk = Self::new(sectors, sector_size);
        disk.data.lock()[..image.len()].copy_from_slice(image);
        disk
    }

    /// A read-only ramdisk holding `image` (padded with zeros to whole
    /// sectors): every write is refused with [`BlockError::ReadOnly`], as a
    /// read-only image file's would be.
    pub fn read_only(image: &[u8], sector_size: u32) -> Self {
        let mut disk = Self::from_image(image, sector_size);
        disk.info.read_write = false;
        disk
    }

    /// Puts `image` back as the whole contents (for tests that replay a
    /// workload from the same start); an image of another size is refused
    /// with [`BlockError::OutOfBounds`].
    pub fn restore(&self, image: &[u8]) -> Result<(), BlockError> {
        let mut data = self.data.lock();
        if data.len() != image.len() {
            return Err(BlockError::OutOfBounds {
                sector: 0,
                count: (image.len() as u64).div_ceil(u64::from(self.info.sector_size)),
                size: self.info.size_sectors,
            });
        }
        data.copy_from_slice(image);
        Ok(())
    }
}

impl Block for Ramdisk {
    fn info(&self) -> BlockInfo {
        self.info
    }

    async fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_access(&self.info, sector, buf.len(), false)?;
        let start = (sector * u64::from(self.info.sector_size)) as usize;
        buf.copy_from_slice(&self.data.lock()[start..start + buf.len()]);
        Ok(())
    }

    async fn write(&self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        check_access(&self.info, sector, data.len(), true)?;
        let start = (sector * u64::from(self.info.sector_size)) as usize;
        self.data.lock()[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: core::future::Future>(f: F) -> F::Output {
        crate::rt::now_or_never(f).expect("the device waited")
    }

    #[test]
    fn bounds_and_alignment_are_checked() {
        let disk = Ramdisk::new(8, 4096);
        run(async {
            let mut buf = vec![0u8; 8192];
            disk.write(6, &[9u8; 8192]).await.unwrap();
            disk.read(6, &mut buf).await.unwrap();
            assert_eq!(buf, [9u8; 8192]);
            assert!(matches!(
                disk.read(7, &mut buf).await,
                Err(BlockError::OutOfBounds { .. })
            ));
            assert!(matches!(
                disk.write(8, &buf[..4096]).await,
                Err(BlockError::OutOfBounds { .. })
            ));
            assert!(matches!(
                disk.write(u64::MAX, &buf[..4096]).await,
                Err(BlockError::OutOfBounds { .. })
            ));
            assert!(matches!(
                disk.read(0, &mut buf[..512]).await,
                Err(BlockError::Misaligned { .. })
            ));
            assert!(matches!(
                disk.write(0, &buf[..4097]).await,
                Err(BlockError::Misaligned { .. })
            ));
        });
        // Only the accepted write changed the disk.
        let image = disk.contents();
        assert!(image[..6 * 4096].iter().all(|&b| b == 0));
        assert!(image[6 * 4096..].iter().all(|&b| b == 9));
        let from = Ramdisk::from_image(&[1, 2, 3], 512);
        assert_eq!(from.info().size_sectors, 1);
        assert_eq!(&from.contents()[..4], &[1, 2, 3, 0]);
        from.restore(&[4u8; 512]).unwrap();
        assert_eq!(from.contents(), [4u8; 512]);
        assert!(from.restore(&[4u8; 1024]).is_err());
        assert_eq!(from.contents(), [4u8; 512]);
    }

    #[test]
    fn a_read_only_ramdisk_refuses_writes() {
        let disk = Ramdisk::read_only(&[7u8; 700], 512);
        assert!(!disk.info().read_write);
        assert_eq!(disk.info().size_sectors, 2);
        run(async {
            let mut buf = vec![0u8; 1024];
            disk.read(0, &mut buf).await.unwrap();
            assert!(buf[..700].iter().all(|&b| b == 7) && buf[700..].iter().all(|&b| b == 0));
            assert_eq!(disk.write(0, &buf[..512]).await, Err(BlockError::ReadOnly));
        });
        assert!(disk.contents()[..700].iter().all(|&b| b == 7));
    }
}
