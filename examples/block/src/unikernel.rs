//! The application: generic over the `Block` device it is given.

use mirage::Block;
use mirage::block::BlockError;
use mirage::export::{Vec, format, vec};

/// The byte a test pattern has at `offset` of sector `sector`: differs per
/// sector and per position, so a misplaced or stale sector is caught.
fn pattern(sector: u64, offset: usize) -> u8 {
    (sector.wrapping_mul(131) as usize ^ offset.wrapping_mul(7)) as u8
}

/// The sectors to test: `count` of them spread evenly over the device,
/// always including the first and the last.
fn chosen(size: u64, count: u64) -> Vec<u64> {
    let count = count.clamp(1, size);
    let mut list: Vec<u64> = (0..count)
        .map(|i| {
            if count == 1 {
                0
            } else {
                i * (size - 1) / (count - 1)
            }
        })
        .collect();
    list.dedup();
    list
}

/// Writes a pattern to `sectors` sectors of `storage`, reads each back,
/// verifies it, and checks that an access beyond the end is refused.
pub async fn start<B: Block>(storage: &'static B, sectors: u64) -> Result<(), BlockError> {
    let info = storage.info();
    log::info!(
        target: "application",
        "storage: {} sectors of {} bytes, {}",
        info.size_sectors,
        info.sector_size,
        if info.read_write { "read-write" } else { "read-only" }
    );
    let size = info.sector_size as usize;
    let list = chosen(info.size_sectors, sectors);
    for &sector in &list {
        let data: Vec<u8> = (0..size).map(|i| pattern(sector, i)).collect();
        storage.write(sector, &data).await?;
    }
    let mut buf = vec![0u8; size];
    for &sector in &list {
        storage.read(sector, &mut buf).await?;
        if let Some(i) = (0..size).find(|&i| buf[i] != pattern(sector, i)) {
            return Err(BlockError::Device(format!(
                "sector {sector} read back differs from what was written at byte {i}"
            )));
        }
    }
    match storage.read(info.size_sectors, &mut buf).await {
        Err(BlockError::OutOfBounds { .. }) => {}
        other => {
            return Err(BlockError::Device(mirage::export::String::from(
                if other.is_ok() {
                    "a read beyond the last sector succeeded"
                } else {
                    "a read beyond the last sector failed with the wrong error"
                },
            )));
        }
    }
    log::info!(
        target: "application",
        "SUCCESS: {} sectors written, read back and verified",
        list.len()
    );
    Ok(())
}
