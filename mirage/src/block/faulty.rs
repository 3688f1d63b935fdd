//! Fault injection: a block device that loses power.
//!
//! [`Faulty`] wraps another device and passes every access through until
//! it is armed; from the armed sector write on, every write fails with
//! [`BlockError::Device`]`("power lost")` and changes nothing, as if the
//! power went between two sector writes. Writes are counted sector by
//! sector, and the sectors of a multi-sector write before the failing one
//! land, so every point of a workload at which power can go is reachable.
//! Reads always pass. This is how the stores' power-loss tests interrupt a
//! workload after every single sector write.

use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{Block, BlockError, BlockInfo, check_access};

/// The message of the error a failing write returns.
pub const POWER_LOST: &str = "power lost";

/// A device over `B` whose sector writes fail from an armed point on.
#[derive(Debug)]
pub struct Faulty<'a, B> {
    inner: &'a B,
    written: AtomicU64,
    fail_from: AtomicU64,
}

impl<'a, B: Block> Faulty<'a, B> {
    /// A wrapper over `inner` that does not fail until [`Faulty::arm`]ed.
    pub fn new(inner: &'a B) -> Self {
        Faulty {
            inner,
            written: AtomicU64::new(0),
            fail_from: AtomicU64::new(u64::MAX),
        }
    }

    /// A wrapper over `inner` armed at once with [`Faulty::arm`]`(n)`.
    pub fn failing_from(inner: &'a B, n: u64) -> Self {
        let faulty = Self::new(inner);
        faulty.arm(n);
        faulty
    }

    /// Restarts the count of sector writes and makes the `n`th from now
    /// (counting from 0) and every later one fail: `arm(0)` fails the next
    /// write.
    pub fn arm(&self, n: u64) {
        self.written.store(0, Ordering::SeqCst);
        self.fail_from.store(n, Ordering::SeqCst);
    }

    /// Power is back: writes pass again (the count goes on).
    pub fn power_on(&self) {
        self.fail_from.store(u64::MAX, Ordering::SeqCst);
    }

    /// The sector writes attempted since the last [`Faulty::arm`] (or
    /// since creation), failed ones included.
    pub fn sector_writes(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// The wrapped device.
    pub fn inner(&self) -> &'a B {
        self.inner
    }
}

impl<B: Block> Block for Faulty<'_, B> {
    fn info(&self) -> BlockInfo {
        self.inner.info()
    }

    async fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.inner.read(sector, buf).await
    }

    async fn write(&self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        let info = self.inner.info();
        check_access(&info, sector, data.len(), true)?;
        let size = info.sector_size as usize;
        for (i, chunk) in data.chunks(size).enumerate() {
            if self.written.fetch_add(1, Ordering::SeqCst) >= self.fail_from.load(Ordering::SeqCst)
            {
                return Err(BlockError::Device(String::from(POWER_LOST)));
            }
            self.inner.write(sector + i as u64, chunk).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::ramdisk::Ramdisk;

    fn run<F: core::future::Future>(f: F) -> F::Output {
        crate::rt::now_or_never(f).expect("the device waited")
    }

    #[test]
    fn writes_fail_from_the_armed_sector_on() {
        let disk = Ramdisk::new(8, 512);
        let faulty = Faulty::new(&disk);
        run(faulty.write(0, &[1u8; 1024])).unwrap();
        assert_eq!(faulty.sector_writes(), 2);
        // The third sector of this write fails: the first two land.
        faulty.arm(2);
        let e = run(faulty.write(4, &[2u8; 2048])).unwrap_err();
        assert_eq!(e, BlockError::Device(String::from(POWER_LOST)));
        assert!(run(faulty.write(0, &[3u8; 512])).is_err(), "still off");
        let image = disk.contents();
        assert!(image[..1024].iter().all(|&b| b == 1));
        assert!(image[4 * 512..6 * 512].iter().all(|&b| b == 2));
        assert!(image[6 * 512..].iter().all(|&b| b == 0));
        // Reads pass while writes fail; power back, writes pass.
        let mut buf = [0u8; 512];
        run(faulty.read(4, &mut buf)).unwrap();
        assert_eq!(buf, [2u8; 512]);
        faulty.power_on();
        run(faulty.write(7, &[4u8; 512])).unwrap();
        assert_eq!(disk.contents()[7 * 512], 4);
        // Bad accesses are refused before anything is counted or written.
        faulty.arm(0);
        assert!(matches!(
            run(faulty.write(7, &[0u8; 1024])),
            Err(BlockError::OutOfBounds { .. })
        ));
        assert_eq!(faulty.sector_writes(), 0);
        let armed = Faulty::failing_from(&disk, 1);
        assert!(run(armed.write(0, &[5u8; 1024])).is_err());
        assert_eq!(disk.contents()[0], 5);
        assert_eq!(disk.contents()[512], 1);
    }
}
